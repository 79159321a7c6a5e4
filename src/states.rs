//! The two state machines every layer talks about: Instagram's status of a broadcast, and
//! iglive's state of its recording. They cross the client, the pollers, the supervisor and the
//! database as these types, never as strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `broadcast_status` as Instagram reports it (docs/instagram.md §2 "`broadcast_status` values").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BroadcastStatus {
    Active,
    /// The host's connection is struggling: keep recording.
    Interrupted,
    Stopped,
    HardStop,
    /// A replay exists (legacy, docs/instagram.md §8).
    PostLive,
    /// A value this crate does not know yet, kept verbatim.
    Other(String),
}

impl BroadcastStatus {
    pub fn parse(s: &str) -> BroadcastStatus {
        match s {
            "active" => BroadcastStatus::Active,
            "interrupted" => BroadcastStatus::Interrupted,
            "stopped" => BroadcastStatus::Stopped,
            "hard_stop" => BroadcastStatus::HardStop,
            "post_live" => BroadcastStatus::PostLive,
            other => BroadcastStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            BroadcastStatus::Active => "active",
            BroadcastStatus::Interrupted => "interrupted",
            BroadcastStatus::Stopped => "stopped",
            BroadcastStatus::HardStop => "hard_stop",
            BroadcastStatus::PostLive => "post_live",
            BroadcastStatus::Other(s) => s,
        }
    }

    /// Live means "keep recording": `active` or `interrupted`, as PyInstaLive and taengstagram
    /// decide (docs/instagram.md §2); anything else ends the recording.
    pub fn is_live(&self) -> bool {
        matches!(self, BroadcastStatus::Active | BroadcastStatus::Interrupted)
    }
}

impl std::fmt::Display for BroadcastStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BroadcastStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(BroadcastStatus::parse(&s))
    }
}

impl Serialize for BroadcastStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The recording's state machine, persisted in `recordings.state`:
/// detected → (waiting →) recording ⇄ interrupted → finalizing → finished | failed.
/// `waiting`: no recording slot was free (`recording.max_concurrent`) or too little disk space;
/// it is recorded from the CDN, from its first segment, once one frees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    #[default]
    Detected,
    Waiting,
    Recording,
    Interrupted,
    Finalizing,
    Finished,
    Failed,
}

impl RecordingState {
    pub const ALL: [RecordingState; 7] = [
        RecordingState::Detected,
        RecordingState::Waiting,
        RecordingState::Recording,
        RecordingState::Interrupted,
        RecordingState::Finalizing,
        RecordingState::Finished,
        RecordingState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Detected => "detected",
            RecordingState::Waiting => "waiting",
            RecordingState::Recording => "recording",
            RecordingState::Interrupted => "interrupted",
            RecordingState::Finalizing => "finalizing",
            RecordingState::Finished => "finished",
            RecordingState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<RecordingState> {
        RecordingState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Finished or failed: nothing more happens to it unless a person asks.
    pub fn is_final(self) -> bool {
        matches!(self, RecordingState::Finished | RecordingState::Failed)
    }
}

impl std::fmt::Display for RecordingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the engagement merge after the end stands (`recordings.merge_state`): the final
/// status, the post-live comments and likes, asked for in the background once the folder is
/// finalized. `None` in the database: no merge was wanted (a shutdown cut, a video-only
/// footprint, `iglive record` from a bare MPD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeState {
    /// Waiting for the API; the folder is re-rendered when it lands.
    Pending,
    /// Merged (or the API said there is nothing more: 404).
    Done,
    /// The API did not answer within `recording.merge_timeout`; the chat holds what the live
    /// polls read.
    GaveUp,
}

impl MergeState {
    pub const ALL: [MergeState; 3] = [MergeState::Pending, MergeState::Done, MergeState::GaveUp];

    pub fn as_str(self) -> &'static str {
        match self {
            MergeState::Pending => "pending",
            MergeState::Done => "done",
            MergeState::GaveUp => "gave_up",
        }
    }

    pub fn parse(s: &str) -> Option<MergeState> {
        MergeState::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl std::fmt::Display for MergeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a finished recording's upload to object storage stands (`recordings.upload_state`,
/// `storage.object_store`). `None` in the database: no object store is configured, or the
/// recording is not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Queued or being uploaded (retried through outages; resumed at the next start).
    Pending,
    /// Every file of the folder is in the bucket, verified (size and ETag).
    Done,
    /// Retries ran out; the local folder is kept and the next start tries again.
    Failed,
}

impl UploadState {
    pub const ALL: [UploadState; 3] =
        [UploadState::Pending, UploadState::Done, UploadState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Pending => "pending",
            UploadState::Done => "done",
            UploadState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<UploadState> {
        UploadState::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

impl std::fmt::Display for UploadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_kept() {
        for s in [
            "active",
            "interrupted",
            "stopped",
            "hard_stop",
            "post_live",
            "new_one",
        ] {
            assert_eq!(BroadcastStatus::parse(s).as_str(), s);
        }
        assert!(BroadcastStatus::Interrupted.is_live());
        assert!(!BroadcastStatus::parse("new_one").is_live());
        for st in RecordingState::ALL {
            assert_eq!(RecordingState::parse(st.as_str()), Some(st));
        }
        assert_eq!(RecordingState::parse("bogus"), None);
        for m in MergeState::ALL {
            assert_eq!(MergeState::parse(m.as_str()), Some(m));
        }
        assert_eq!(MergeState::parse("bogus"), None);
        for u in UploadState::ALL {
            assert_eq!(UploadState::parse(u.as_str()), Some(u));
        }
    }
}
