//! Typed views of the private-API responses the recorder reads (docs/instagram.md §2). Every field but
//! the ids is optional and decoded leniently (see `flex`), unknown fields are ignored, and
//! comments keep their raw JSON so whatever Instagram adds later still reaches the chat log.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::flex;
pub use crate::states::BroadcastStatus;

fn opt_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BroadcastStatus>, D::Error> {
    Ok(flex::opt_string(d)?.map(|s| BroadcastStatus::parse(&s)))
}

/// A user as embedded in broadcasts, comments and tray items.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct User {
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub pk: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub full_name: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub is_private: Option<bool>,
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub is_verified: Option<bool>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub profile_pic_url: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_object")]
    pub friendship_status: Option<FriendshipStatus>,
}

/// `users/{pk}/info/` and `users/{username}/usernameinfo/`: `{"user": {…}, "status": "ok"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserInfo {
    pub user: User,
}

/// The viewer's relation to a user; `following` tells whether the reels tray can show them.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct FriendshipStatus {
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub following: Option<bool>,
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub is_private: Option<bool>,
}

/// A live broadcast or a replay (`post_live`), from `live/{id}/info/`, the story feed or the tray.
#[derive(Debug, Clone, Deserialize)]
pub struct Broadcast {
    #[serde(deserialize_with = "flex::string")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_status")]
    pub broadcast_status: Option<BroadcastStatus>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub published_time: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_f64")]
    pub viewer_count: Option<f64>,
    /// `"<broadcast id>_<owner pk>"`.
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub media_id: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub broadcast_message: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub cover_frame_url: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub dash_playback_url: Option<String>,
    /// Can be `null` (ping, dilame) even while live.
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub dash_abr_playback_url: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub dash_live_predictive_playback_url: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub rtmp_playback_url: Option<String>,
    /// Replays only: an inline static MPD.
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub dash_manifest: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub expire_at: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub encoding_tag: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub number_of_qualities: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_object")]
    pub broadcast_owner: Option<User>,
    #[serde(default, deserialize_with = "flex::list")]
    pub cobroadcasters: Vec<User>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub organic_tracking_token: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub internal_only: Option<bool>,
}

impl Broadcast {
    /// The host and the guests (`cobroadcasters`) by pk, host first.
    pub fn participant_pks(&self) -> Vec<String> {
        let mut pks: Vec<String> = self.owner_pk().into_iter().collect();
        for pk in self.cobroadcasters.iter().filter_map(|u| u.pk.clone()) {
            if !pks.contains(&pk) {
                pks.push(pk);
            }
        }
        pks
    }

    /// The owner's pk, from `broadcast_owner.pk` or else the suffix of `media_id`.
    pub fn owner_pk(&self) -> Option<String> {
        self.broadcast_owner
            .as_ref()
            .and_then(|o| o.pk.clone())
            .or_else(|| {
                self.media_id
                    .as_deref()
                    .and_then(|m| m.split_once('_'))
                    .map(|(_, pk)| pk.to_string())
                    .filter(|pk| !pk.is_empty())
            })
    }

    /// Whether the broadcast is live now. A story-feed `broadcast` without a status is taken
    /// as live: the feed only carries one while the user is live (docs/instagram.md §2).
    pub fn is_live(&self) -> bool {
        self.broadcast_status
            .as_ref()
            .map(BroadcastStatus::is_live)
            .unwrap_or(true)
    }

    /// The live MPD to record: `dash_abr_playback_url` when present (instarec), otherwise
    /// `dash_playback_url` (docs/instagram.md §2 "Playback URLs").
    pub fn mpd_url(&self) -> Option<&str> {
        self.dash_abr_playback_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .or(self.dash_playback_url.as_deref().filter(|u| !u.is_empty()))
    }
}

/// `post_live_item` in the story feed and the tray: a user's recent replays.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct PostLiveItem {
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub pk: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_object")]
    pub user: Option<User>,
    #[serde(default, deserialize_with = "flex::list")]
    pub broadcasts: Vec<Broadcast>,
    #[serde(default, deserialize_with = "flex::opt_f64")]
    pub peak_viewer_count: Option<f64>,
}

/// `feed/user/{pk}/story/`: `broadcast` is `null` unless the user is live.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct StoryFeed {
    #[serde(default, deserialize_with = "flex::opt_object")]
    pub broadcast: Option<Broadcast>,
    #[serde(default, deserialize_with = "flex::opt_object")]
    pub post_live_item: Option<PostLiveItem>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub status: Option<String>,
}

/// `post_live` of the reels tray.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct TrayPostLive {
    #[serde(default, deserialize_with = "flex::list")]
    pub post_live_items: Vec<PostLiveItem>,
}

/// `feed/reels_tray/`: one call lists the live broadcasts of every followed account.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ReelsTray {
    #[serde(default, deserialize_with = "flex::list")]
    pub broadcasts: Vec<Broadcast>,
    #[serde(default, deserialize_with = "flex::opt_object")]
    pub post_live: Option<TrayPostLive>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub status: Option<String>,
}

/// `live/{id}/heartbeat_and_get_viewer_count/`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Heartbeat {
    #[serde(default, deserialize_with = "flex::opt_f64")]
    pub viewer_count: Option<f64>,
    #[serde(default, deserialize_with = "opt_status")]
    pub broadcast_status: Option<BroadcastStatus>,
    #[serde(default, deserialize_with = "flex::id_list")]
    pub cobroadcaster_ids: Vec<String>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub offset_to_video_start: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub total_unique_viewer_count: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub is_top_live_eligible: Option<bool>,
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub is_policy_violation: Option<bool>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub policy_violation_reason: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub status: Option<String>,
}

/// The typed part of a comment; `Comment` adds the raw JSON.
#[derive(Deserialize)]
struct CommentFields {
    #[serde(deserialize_with = "flex::string")]
    pk: String,
    #[serde(default, deserialize_with = "flex::opt_string")]
    user_id: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    text: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_f64")]
    created_at: Option<f64>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    content_type: Option<String>,
    #[serde(default, deserialize_with = "flex::opt_object")]
    user: Option<User>,
}

/// One chat comment. `created_at` is the timestamp to trust; `created_at_utc` was once 8 h
/// off and is not exposed (docs/instagram.md §2 "Comment object"). `raw` is the comment as received.
#[derive(Debug, Clone)]
pub struct Comment {
    pub pk: String,
    pub user_id: Option<String>,
    pub text: String,
    /// Unix seconds, possibly fractional.
    pub created_at: Option<f64>,
    pub content_type: Option<String>,
    pub user: Option<User>,
    pub raw: Value,
}

impl<'de> Deserialize<'de> for Comment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        let f: CommentFields =
            serde_json::from_value(raw.clone()).map_err(serde::de::Error::custom)?;
        Ok(Comment {
            pk: f.pk,
            user_id: f
                .user_id
                .or_else(|| f.user.as_ref().and_then(|u| u.pk.clone())),
            text: f.text.unwrap_or_default(),
            created_at: f.created_at,
            content_type: f.content_type,
            user: f.user,
            raw,
        })
    }
}

/// `live/{id}/get_comment/`. `comments` are newest first; `comment_count` is not their number.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct CommentsPage {
    #[serde(default, deserialize_with = "flex::list")]
    pub comments: Vec<Comment>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub comment_count: Option<i64>,
    /// `"True"`/`"False"` on the wire.
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub is_first_fetch: Option<bool>,
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub has_more_comments: Option<bool>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub live_seconds_per_comment: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_bool")]
    pub comment_muted: Option<bool>,
    /// Join notices and the like, kept raw (`null` in most samples).
    #[serde(default, deserialize_with = "flex::list")]
    pub system_comments: Vec<Value>,
    #[serde(default, deserialize_with = "flex::opt_object")]
    pub pinned_comment: Option<Comment>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub status: Option<String>,
}

impl CommentsPage {
    /// The next `last_comment_ts` cursor: the newest `created_at` seen (docs/instagram.md §2: key the
    /// cursor on `created_at`, not `created_at_utc`).
    pub fn newest_created_at(&self) -> Option<f64> {
        self.comments
            .iter()
            .filter_map(|c| c.created_at)
            .fold(None, |acc: Option<f64>, t| {
                Some(acc.map_or(t, |a| a.max(t)))
            })
    }
}

/// `live/{id}/get_like_count/`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct LikeCount {
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub likes: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub burst_likes: Option<i64>,
    /// Pass back as the next `like_ts`.
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub like_ts: Option<i64>,
    #[serde(default, deserialize_with = "flex::list")]
    pub likers: Vec<Value>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub status: Option<String>,
}

/// One replay comment with its offset (seconds into the replay).
#[derive(Debug, Clone, Deserialize)]
pub struct PostLiveComment {
    pub comment: Comment,
    #[serde(default, deserialize_with = "flex::opt_f64")]
    pub offset: Option<f64>,
    #[serde(default)]
    pub event: Option<Value>,
}

/// `live/{id}/get_post_live_comments/`; page forward from `ending_offset`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct PostLiveComments {
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub starting_offset: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub ending_offset: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub next_fetch_offset: Option<i64>,
    #[serde(default, deserialize_with = "flex::list")]
    pub comments: Vec<PostLiveComment>,
    #[serde(default)]
    pub pinned_comments: Option<Value>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub status: Option<String>,
}

/// `live/{id}/get_post_live_likes/`; `time_series` is kept raw (its shape is undocumented).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct PostLiveLikes {
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub starting_offset: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub ending_offset: Option<i64>,
    #[serde(default, deserialize_with = "flex::opt_i64")]
    pub next_fetch_offset: Option<i64>,
    #[serde(default)]
    pub time_series: Option<Value>,
    #[serde(default, deserialize_with = "flex::opt_string")]
    pub status: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_scalars() {
        let b: Broadcast = serde_json::from_str(
            r#"{"id":"17","viewer_count":"12","published_time":1.5e9,"broadcast_status":"interrupted",
                "broadcast_owner":{"pk":"42"},"cobroadcasters":null,"dash_abr_playback_url":null}"#,
        )
        .expect("parses");
        assert_eq!(b.id, "17");
        assert_eq!(b.viewer_count, Some(12.0));
        assert_eq!(b.published_time, Some(1_500_000_000));
        assert!(b.is_live());
        assert_eq!(b.owner_pk().as_deref(), Some("42"));
        let h: Heartbeat = serde_json::from_str(
            r#"{"viewer_count":3,"broadcast_status":"hard_stop","cobroadcaster_ids":[1,"2"],"is_top_live_eligible":0}"#,
        )
        .expect("parses");
        assert_eq!(h.cobroadcaster_ids, vec!["1", "2"]);
        assert_eq!(h.is_top_live_eligible, Some(false));
        assert!(!h.broadcast_status.expect("status").is_live());
    }

    #[test]
    fn owner_from_media_id() {
        let b: Broadcast = serde_json::from_str(r#"{"id":1,"media_id":"1_99"}"#).expect("parses");
        assert_eq!(b.owner_pk().as_deref(), Some("99"));
    }

    #[test]
    fn broadcast_without_id_is_an_error_not_a_panic() {
        assert!(serde_json::from_str::<Broadcast>(r#"{"viewer_count":1}"#).is_err());
        assert!(serde_json::from_str::<Broadcast>(r#""x""#).is_err());
        assert!(serde_json::from_str::<Broadcast>(r#"{"id":{"a":1}}"#).is_err());
    }
}
