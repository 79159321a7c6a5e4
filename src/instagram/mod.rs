//! Instagram's private API as the recorder uses it (reference §1–2).
pub mod session;

pub use session::Session;
