//! Onboarding without Python: the legacy username/password login with two-factor and
//! challenges (docs/instagram.md §6), and the import of a session made elsewhere. Both end in
//! a session file of instagrapi's shape, mode 0600, that `Session::load` reads.
//!
//! * `password`: `enc_password` and `jazoest`; `Password` never prints.
//! * `device`: the device identity, made once and reused.
//! * `answer`: Instagram's answers read into the next step or a typed refusal.
//! * `client`: the requests; `flow`: the conversation through a `Prompter`.
//! * `settings`: the session file; `import`: cookies.txt and settings files.

mod answer;
mod client;
mod device;
mod error;
mod flow;
mod import;
mod password;
mod settings;

pub use client::LoginClient;
pub use device::Device;
pub use error::LoginError;
pub use flow::{login, Prompter};
pub use import::{import, ImportedFrom};
pub use password::{jazoest, Password};
pub use settings::{settings_json, write_session};
