//! What a hook receives: one JSON document (webhook body, command stdin) and the same facts as
//! `IGLIVE_*` environment variables. Field names are a contract documented in
//! docs/notifications.md: add fields, never rename them.

use std::path::PathBuf;

use serde_json::json;

use crate::config::NotifyEvent;
use crate::output::facts::rfc3339;

/// Version of the payload's shape, sent as `format`.
pub const FORMAT: &str = "iglive-event/1";

/// One event with the facts known when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub event: NotifyEvent,
    /// Unix time of the event.
    pub at: f64,
    pub broadcast_id: Option<String>,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub folder: Option<PathBuf>,
    /// A sentence for people: why a recording ended or failed, why the session expired.
    pub message: Option<String>,
    /// The session of the pool the event is about (`session_expired`, `session_challenged`).
    pub session: Option<String>,
    /// The recording's `broadcast.json` document, when the database has it.
    pub recording: Option<serde_json::Value>,
}

impl Notification {
    pub fn new(event: NotifyEvent) -> Notification {
        Notification {
            event,
            at: crate::store::now_unix(),
            broadcast_id: None,
            user_id: None,
            username: None,
            folder: None,
            message: None,
            session: None,
            recording: None,
        }
    }

    /// The video's path, when the recording has one on disk.
    pub fn video(&self) -> Option<PathBuf> {
        let folder = self.folder.as_ref()?;
        let has_video = self
            .recording
            .as_ref()
            .and_then(|r| r.pointer("/recording/video"))
            .is_some_and(|v| !v.is_null());
        has_video.then(|| folder.join(crate::output::VIDEO))
    }

    /// The JSON document POSTed to webhooks and written to a command's stdin.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "format": FORMAT,
            "event": self.event.as_str(),
            "at": rfc3339(self.at),
            "iglive_version": env!("CARGO_PKG_VERSION"),
            "broadcast_id": self.broadcast_id,
            "user_id": self.user_id,
            "username": self.username,
            "folder": self.folder.as_ref().map(|f| f.display().to_string()),
            "video": self.video().map(|v| v.display().to_string()),
            "message": self.message,
            "session": self.session,
            "recording": self.recording,
        })
    }

    /// `IGLIVE_*` variables for a command; unknown facts are set to the empty string so a
    /// script can rely on every variable existing. NUL cannot be passed in the environment and
    /// is dropped.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let clean = |s: Option<String>| s.unwrap_or_default().replace('\0', "");
        let recording = |ptr: &str| {
            self.recording
                .as_ref()
                .and_then(|r| r.pointer(ptr))
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    v => v.to_string(),
                })
        };
        vec![
            ("IGLIVE_EVENT", self.event.as_str().to_string()),
            ("IGLIVE_AT", rfc3339(self.at)),
            ("IGLIVE_BROADCAST_ID", clean(self.broadcast_id.clone())),
            ("IGLIVE_USER_ID", clean(self.user_id.clone())),
            ("IGLIVE_USERNAME", clean(self.username.clone())),
            (
                "IGLIVE_FOLDER",
                clean(self.folder.as_ref().map(|f| f.display().to_string())),
            ),
            (
                "IGLIVE_VIDEO",
                clean(self.video().map(|v| v.display().to_string())),
            ),
            ("IGLIVE_MESSAGE", clean(self.message.clone())),
            ("IGLIVE_SESSION", clean(self.session.clone())),
            ("IGLIVE_STATE", clean(recording("/recording/state"))),
            ("IGLIVE_DURATION_S", clean(recording("/duration_s"))),
            ("IGLIVE_COMMENTS", clean(recording("/engagement/comments"))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_and_env_carry_the_same_facts() {
        let n = Notification {
            event: NotifyEvent::RecordingFinished,
            at: 1_700_000_000.0,
            broadcast_id: Some("1789".into()),
            user_id: Some("42".into()),
            username: Some("a;b $(x)\0".into()),
            folder: Some(PathBuf::from("/r/a/2023_1789")),
            message: Some("done".into()),
            session: None,
            recording: Some(
                json!({"recording": {"state": "finished", "video": "video.mp4"},
                                   "duration_s": 12.5, "engagement": {"comments": 3}}),
            ),
        };
        let j = n.to_json();
        assert_eq!(j["event"], "recording_finished");
        assert_eq!(j["at"], "2023-11-14T22:13:20Z");
        assert_eq!(j["video"], "/r/a/2023_1789/video.mp4");
        assert_eq!(j["recording"]["duration_s"], 12.5);
        let env: std::collections::HashMap<_, _> = n.env().into_iter().collect();
        assert_eq!(env["IGLIVE_USERNAME"], "a;b $(x)");
        assert_eq!(env["IGLIVE_STATE"], "finished");
        assert_eq!(env["IGLIVE_DURATION_S"], "12.5");
        assert_eq!(env["IGLIVE_COMMENTS"], "3");
        assert_eq!(env["IGLIVE_VIDEO"], "/r/a/2023_1789/video.mp4");
        let bare = Notification::new(NotifyEvent::SessionExpired);
        assert!(bare.to_json()["video"].is_null());
        assert_eq!(bare.env().len(), env.len());
    }
}
