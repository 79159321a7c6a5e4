//! How much of a live iglive asks Instagram's API for while it records: the engagement
//! footprint, globally (`recording.engagement`) and per account. The video always comes from
//! the CDN, which is not where accounts get blocked (docs/instagram.md §8 "Blocks").

use serde::Deserialize;

/// The engagement footprint of a recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Footprint {
    /// Heartbeat (viewers, status), chat and likes, then the post-live merge.
    #[default]
    Full,
    /// The chat and a slow status check; no viewer counts beyond it, no likes.
    Chat,
    /// Only what the end of the broadcast needs: a status check a minute and one `info` at
    /// the end. No chat, viewers or likes.
    Video,
}

impl Footprint {
    pub fn as_str(self) -> &'static str {
        match self {
            Footprint::Full => "full",
            Footprint::Chat => "chat",
            Footprint::Video => "video",
        }
    }
}
