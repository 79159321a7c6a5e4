//! The private-API endpoints iglive calls (docs/instagram.md §1), named so errors, logs and request
//! counters say which call failed without ever carrying URLs with ids or tokens in them.

use std::fmt;

use super::budget::Priority;

/// One private-API endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    StoryFeed,
    BroadcastInfo,
    Heartbeat,
    Comments,
    LikeCount,
    PostLiveComments,
    PostLiveLikes,
    ReelsTray,
    /// `users/{pk}/info/` (`iglive accounts add`).
    UserInfo,
    /// `users/{username}/usernameinfo/` (`iglive accounts add`).
    UsernameInfo,
    /// `push/register/`: hands Instagram an FBNS token (docs/instagram.md §9).
    PushRegister,
}

impl Endpoint {
    pub const ALL: [Endpoint; 11] = [
        Endpoint::StoryFeed,
        Endpoint::BroadcastInfo,
        Endpoint::Heartbeat,
        Endpoint::Comments,
        Endpoint::LikeCount,
        Endpoint::PostLiveComments,
        Endpoint::PostLiveLikes,
        Endpoint::ReelsTray,
        Endpoint::UserInfo,
        Endpoint::UsernameInfo,
        Endpoint::PushRegister,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::StoryFeed => "story_feed",
            Endpoint::BroadcastInfo => "broadcast_info",
            Endpoint::Heartbeat => "heartbeat",
            Endpoint::Comments => "comments",
            Endpoint::LikeCount => "like_count",
            Endpoint::PostLiveComments => "post_live_comments",
            Endpoint::PostLiveLikes => "post_live_likes",
            Endpoint::ReelsTray => "reels_tray",
            Endpoint::UserInfo => "user_info",
            Endpoint::UsernameInfo => "username_info",
            Endpoint::PushRegister => "push_register",
        }
    }

    /// Which requests go first when the session's budget is tight (docs/instagram.md §8
    /// "Blocks"): the end-of-broadcast status and the live chat, then detection, then
    /// viewer-side extras.
    pub fn priority(self) -> Priority {
        match self {
            // Registering for push replaces polls: worth its slot whenever it is needed.
            Endpoint::BroadcastInfo
            | Endpoint::Heartbeat
            | Endpoint::Comments
            | Endpoint::PushRegister => Priority::Critical,
            // Resolving an account for `iglive accounts add` is detection's kind of request.
            Endpoint::StoryFeed
            | Endpoint::ReelsTray
            | Endpoint::UserInfo
            | Endpoint::UsernameInfo => Priority::Detection,
            Endpoint::LikeCount | Endpoint::PostLiveComments | Endpoint::PostLiveLikes => {
                Priority::Low
            }
        }
    }

    /// `live/{id}/…` endpoints: there a 404 means the broadcast is gone. Elsewhere a 404 whose
    /// body is the bare text `Not Found` is instagrapi's "hidden challenge" (docs/instagram.md §2 Errors).
    pub fn is_live(self) -> bool {
        !matches!(
            self,
            Endpoint::StoryFeed
                | Endpoint::ReelsTray
                | Endpoint::UserInfo
                | Endpoint::UsernameInfo
                | Endpoint::PushRegister
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
