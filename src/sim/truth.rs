//! What the simulator has published so far, for tests to compare a capture against
//! (`GET /truth` and `SimHandle::truth`).

use serde::{Deserialize, Serialize};

use super::world::{BroadcastWorld, Phase};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    /// Simulated seconds since start.
    pub now: f64,
    /// The simulated unix time (`published_time`, `created_at` use this clock).
    pub unix_now: f64,
    pub broadcasts: Vec<BroadcastTruth>,
    /// What the FBNS broker saw and sent; `None` without a broker.
    #[serde(default)]
    pub fbns: Option<FbnsTruth>,
    /// Each session's standing against the scenario's `[throttle]` (by `sessionid`).
    #[serde(default, skip_deserializing)]
    pub sessions: std::collections::BTreeMap<String, super::throttle::SessionTruth>,
}

/// The FBNS broker's record (scenario `[fbns]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FbnsTruth {
    /// `127.0.0.1:PORT` of the MQTToT-over-TLS listener.
    pub address: String,
    pub connections: Vec<FbnsConnectionTruth>,
    /// `push/register/` calls received.
    pub registrations: Vec<PushRegistrationTruth>,
    /// Every planned push, sent or not yet.
    pub pushes: Vec<FbnsPushTruth>,
}

/// One MQTToT connection as the broker saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FbnsConnectionTruth {
    /// Simulated time of the CONNECT.
    pub at: f64,
    pub client_id: String,
    pub keep_alive: u16,
    pub user_agent: String,
    /// The CONNECT presented no device auth.
    pub fresh: bool,
    /// The device (`di`) the connection was accepted for.
    pub device_id: Option<String>,
    /// CONNACK return code; `None`: none was sent.
    pub return_code: Option<u8>,
    /// ClientInfo.subscribeTopics of the CONNECT.
    pub connect_topics: Vec<i32>,
    /// Topics of SUBSCRIBE packets.
    pub subscribed: Vec<String>,
    /// The token given on `/fbns_reg_resp`.
    pub token: Option<String>,
    pub pings: u64,
}

/// One `push/register/` call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRegistrationTruth {
    pub at: f64,
    pub device_token: String,
    pub users: String,
    /// The token named a device of this broker (opaque or `fbns-b64`).
    pub known_device: bool,
}

/// One planned push.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FbnsPushTruth {
    /// Simulated time it is due (event time + delay).
    pub due: f64,
    pub collapse_key: String,
    pub broadcast_id: Option<String>,
    pub reel_id: String,
    pub nid: String,
    /// Never sent (`loss_probability`).
    pub lost: bool,
    /// Queued twice (`duplicate_probability`).
    pub duplicated: bool,
    /// When it was queued for the registered devices; `None`: not yet due.
    pub sent_at: Option<f64>,
    /// Devices it was queued for.
    pub devices: Vec<String>,
    /// Complete PUBLISH packets written (repeats included).
    pub writes: u64,
    /// PUBACKs received for it.
    pub acks: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastTruth {
    pub id: String,
    pub owner_pk: u64,
    pub owner_username: String,
    /// `loapStreamId`.
    pub stream_id: String,
    /// Path of the live manifest (`dash_playback_url` without the origin).
    pub manifest_path: String,
    pub start: f64,
    pub end: f64,
    /// `publishFrameTime`: the first segment's `t`.
    pub publish_frame_time: u64,
    /// Current `broadcast_status`; `None` before the start.
    pub status: Option<String>,
    /// Status changes that have happened.
    pub statuses: Vec<StatusChange>,
    /// The host has ended the broadcast.
    pub ended: bool,
    pub representations: Vec<RepresentationTruth>,
    /// Published segments, oldest first (the same `t`/`d` for every representation).
    pub segments: Vec<SegmentTruth>,
    pub comments: Vec<CommentTruth>,
    /// Cumulative likes, sampled each simulated second.
    pub likes: Vec<ValueAt>,
    /// Viewer count, sampled each simulated second.
    pub viewers: Vec<ValueAt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusChange {
    pub at: f64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepresentationTruth {
    pub id: String,
    pub codecs: String,
    /// Track timescale (1000 for video, the sample rate for audio).
    pub timescale: u32,
    pub width: u32,
    pub height: u32,
    /// Path of the init segment.
    pub init_path: String,
    pub init_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentTruth {
    pub t: u64,
    pub d: u64,
    pub published_at: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommentTruth {
    pub pk: String,
    pub created_at: f64,
    pub text: String,
    pub user_pk: u64,
    pub username: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValueAt {
    pub at: f64,
    pub value: f64,
}

impl BroadcastTruth {
    pub fn of(b: &BroadcastWorld, now: f64) -> BroadcastTruth {
        let started = b.phase(now) != Phase::NotStarted;
        let last = now.min(b.end());
        let samples = |f: &dyn Fn(f64) -> f64| -> Vec<ValueAt> {
            let mut out = Vec::new();
            let mut at = b.spec.start;
            while at <= last && out.len() < 200_000 {
                out.push(ValueAt { at, value: f(at) });
                at += 1.0;
            }
            out
        };
        BroadcastTruth {
            id: b.spec.id.to_string(),
            owner_pk: b.owner.pk,
            owner_username: b.owner.username.clone(),
            stream_id: b.stream_id.clone(),
            manifest_path: super::origin::manifest_path(b),
            start: b.spec.start,
            end: b.end(),
            publish_frame_time: b.spec.segments.first_t,
            status: started.then(|| b.status(now).to_string()),
            statuses: b
                .statuses
                .iter()
                .filter(|(at, _)| *at <= now)
                .map(|(at, s)| StatusChange {
                    at: *at,
                    status: s.to_string(),
                })
                .collect(),
            ended: now >= b.end(),
            representations: super::origin::tracks(b)
                .map(|tr| RepresentationTruth {
                    id: super::origin::public_id(b, tr),
                    codecs: tr.codecs.clone(),
                    timescale: tr.timescale,
                    width: tr.width,
                    height: tr.height,
                    init_path: super::origin::init_path(b, tr),
                    init_bytes: tr.init.len(),
                })
                .collect(),
            segments: b.segments[..b.published(now)]
                .iter()
                .map(|s| SegmentTruth {
                    t: s.t,
                    d: s.d,
                    published_at: s.published_at,
                })
                .collect(),
            comments: b.comments[..b.visible_comments(now)]
                .iter()
                .map(|c| CommentTruth {
                    pk: c.pk.clone(),
                    created_at: c.created_at,
                    text: c.text.clone(),
                    user_pk: c.user.pk,
                    username: c.user.username.clone(),
                })
                .collect(),
            likes: if started {
                samples(&|at| b.likes(at).floor())
            } else {
                vec![]
            },
            viewers: if started {
                samples(&|at| b.viewers(at))
            } else {
                vec![]
            },
        }
    }
}
