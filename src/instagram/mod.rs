//! Instagram's private API as the recorder uses it (docs/instagram.md §1–2).
pub(crate) mod budget;
pub(crate) mod client;
pub(crate) mod credentials;
pub(crate) mod endpoint;
pub(crate) mod error;
pub(crate) mod flex;
pub(crate) mod governor;
pub(crate) mod login;
pub(crate) mod session;
pub(crate) mod session_source;
pub(crate) mod stats;
pub(crate) mod types;
pub(crate) mod user_ref;

pub use budget::Priority;
pub use client::{Client, ClientOptions};
pub use endpoint::Endpoint;
pub use error::{ApiError, ApiErrorKind};
pub use governor::GovernorOptions;
pub use session::Session;
pub use session_source::{Reloaded, Saver, SessionOrigin, SessionSource, SourceError};
pub use types::{Broadcast, CommentsPage, PostLiveItem};
