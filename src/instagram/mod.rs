//! Instagram's private API as the recorder uses it (reference §1–2).
pub mod backoff;
pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod flex;
pub mod login;
pub mod session;
pub mod stats;
pub mod types;
pub mod user_ref;

pub use backoff::{GovernorOptions, SessionExpiry, SessionGovernor, SessionHealth};
pub use client::{Client, ClientOptions};
pub use endpoint::Endpoint;
pub use error::{ApiError, ApiErrorKind};
pub use session::Session;
pub use types::{
    Broadcast, BroadcastStatus, Comment, CommentsPage, Heartbeat, LikeCount, PostLiveComments,
    PostLiveLikes, ReelsTray, StoryFeed, User,
};
