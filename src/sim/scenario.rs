//! What the simulated Instagram does: accounts, broadcasts, chat, engagement and faults.
//!
//! A scenario is a TOML or JSON document; every field below is documented where it is declared.
//! **All times are simulator seconds relative to simulator start** (negative means "before the
//! recorder started"), on the simulated clock that `SimOptions::speed` accelerates. The `seed`
//! drives every random choice (segment duration jitter, comment timing, fault probability), so
//! one scenario always publishes the same thing. More examples: `tests/scenarios/`.
//!
//! ```toml
//! seed = 42
//! comment_page_cap = 50            # most comments per get_comment call
//! session_expires_at = 600.0       # then every API call answers 403 login_required
//! representation_ids = "dash_lp"   # dash-lp-hd-v … (2024–26, the default) or "live" (live-hd-v …)
//!
//! [[accounts]]
//! pk = 1001
//! username = "host.one"
//! full_name = "Host One"
//! verified = true
//! followed = true                  # listed in feed/reels_tray/ while live
//!
//! [[broadcasts]]
//! id = 17900000000000101
//! owner = 1001
//! start = -30.0                    # live since 30 s before the recorder started
//! duration = 300.0
//! end_status = "hard_stop"         # or "stopped"
//! post_live_after = 5.0            # status post_live 5 s after the end
//! period_removed_after = 6.0       # ended manifest loses its <Period>
//! gone_after = 120.0               # then info and manifest answer 404, published segments 410
//! replay_endpoints = "not_found"   # get_post_live_* answer 404 after the end (default "serve")
//! interruptions = [{ from = 60.0, to = 80.0 }]
//! segments = { duration_ms = 2000, jitter_ms = 150, outlier_probability = 0.1 }
//! likes = [[-30.0, 0.0], [270.0, 5000.0]]           # piecewise linear
//! viewers = [[-30.0, 10.0], [60.0, 1200.0]]
//!
//! [[broadcasts.comments]]          # a burst: 200 comments within one second
//! at = 10.0
//! count = 200
//! text = "burst {n} 🔥"
//!
//! [[broadcasts.comment_streams]]   # ~0.5 comments per second at random times
//! from = 0.0
//! to = 270.0
//! per_second = 0.5
//! texts = ["nice", "مرحبا"]
//!
//! [[faults]]
//! kind = "throttle"                # 429 "Please wait a few minutes…"
//! from = 100.0
//! to = 130.0
//! path = "get_comment"
//! retry_after = 30
//! probability = 0.5
//!
//! [fbns]                           # an FBNS broker (MQTToT over TLS), docs/instagram.md §9
//! delay = [0.5, 2.0]               # push this long after the event (or a fixed number)
//! loss_probability = 0.1           # a push is never sent
//! duplicate_probability = 0.1      # a push is sent twice with the same nid
//! drop_connection_after = 60.0     # the broker closes every connection after this
//! never_connack = 1                # the first connection gets no CONNACK
//! drop_mid_packet = 1              # the first push delivery is cut in the middle
//! reject_stored_auth = 0           # answer return code 4 to this many valid reconnects
//! ignore_pings = false             # never answer PINGREQ
//! live_with_names = "guest"        # whom a live_with_broadcast's reel_id names (or "owner")
//!
//! [[fbns.pushes]]                  # scripted pushes besides the lives' own
//! at = 5.0
//! collapse_key = "post"
//! user = 1001
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::SimError;

/// The whole simulated world.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seed for every random choice; the same seed publishes the same segments and comments.
    #[serde(default)]
    pub seed: u64,
    /// Most comments one `get_comment` (and one post-live comment page) returns.
    #[serde(default = "default_comment_page_cap")]
    pub comment_page_cap: usize,
    /// When the session stops being accepted: afterwards every API call answers 403
    /// `login_required`. `None`: never.
    #[serde(default)]
    pub session_expires_at: Option<f64>,
    /// Known accounts: broadcast owners, co-broadcasters, commenters.
    #[serde(default)]
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub broadcasts: Vec<Broadcast>,
    /// Fault windows (throttling, errors, resets, …).
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// The account `accounts/login/` accepts (docs/instagram.md §6). With it, the simulator
    /// generates an RSA key pair, really decrypts `enc_password`, and accepts only the
    /// sessions it issued (and `session_json()`'s).
    #[serde(default)]
    pub login: Option<Login>,
    /// The FBNS push broker (`[fbns]`); absent: no broker.
    #[serde(default)]
    pub fbns: Option<FbnsSpec>,
    /// How the simulated Instagram treats sessions that ask too much (`[throttle]`).
    #[serde(default)]
    pub throttle: Option<super::throttle::ThrottleSpec>,
    /// Which representation ids the manifests and segment URLs use.
    #[serde(default)]
    pub representation_ids: RepresentationIds,
}

/// The two naming schemes seen on Instagram's CDN (docs/instagram.md §3 and §8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepresentationIds {
    /// `dash-lp-ld-v`, `dash-lp-md-v`, `dash-lp-hd-v`, audio `dash-lp-hd-a` (2024–26).
    #[default]
    DashLp,
    /// `live-ld-v`, `live-md-v`, `live-hd-v`, audio `live-hd-a` (until 2023–24).
    Live,
}

impl RepresentationIds {
    /// The id served for one of the media set's tracks, which are named in the `live-` scheme.
    pub fn public(self, canonical: &str) -> String {
        match self {
            RepresentationIds::Live => canonical.to_string(),
            RepresentationIds::DashLp => match canonical.strip_prefix("live-") {
                Some(rest) => format!("dash-lp-{rest}"),
                None => canonical.to_string(),
            },
        }
    }

    /// The media set's name for a served id; `None` for an id of the other scheme.
    pub fn canonical(self, public: &str) -> Option<String> {
        match self {
            RepresentationIds::Live => public.starts_with("live-").then(|| public.to_string()),
            RepresentationIds::DashLp => public
                .strip_prefix("dash-lp-")
                .map(|rest| format!("live-{rest}")),
        }
    }
}

/// What the replay endpoints (`get_post_live_comments`, `get_post_live_likes`) do once a
/// broadcast has ended. Replays are legacy (docs/instagram.md §8): they may answer 404.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayEndpoints {
    /// Pages of comments and likes, as in the years when replays existed.
    #[default]
    Serve,
    /// 404 for every call.
    NotFound,
}

/// The account that can log in, and what Instagram asks of it.
///
/// ```toml
/// [login]
/// username = "alice"
/// password = "correct horse"
/// pk = 5001
/// two_factor = { totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" }   # or { sms_code = "123456" }
/// challenge = { code = "654321", email = "a****e@e*****.com", phone = "+1 ***-***-12" }
/// refuse = "bad_password"   # also needs_upgrade, native_challenge, rate_limited,
///                           # bloks_two_factor, html, unknown_error
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
    pub pk: u64,
    /// `ig-set-password-encryption-key-id` (one byte).
    #[serde(default = "default_key_id")]
    pub key_id: u8,
    #[serde(default)]
    pub two_factor: Option<TwoFactorScript>,
    /// A legacy challenge after the password (and after two-factor, when both are set).
    #[serde(default)]
    pub challenge: Option<ChallengeScript>,
    /// Refuse the login this way even when the password is right.
    #[serde(default)]
    pub refuse: Option<LoginRefusal>,
}

fn default_key_id() -> u8 {
    229
}

impl Login {
    /// What is wrong with the login script, if anything.
    fn validate(&self) -> Result<(), String> {
        if self.username.trim().is_empty() || self.password.is_empty() {
            return Err("needs a username and a password".into());
        }
        if let Some(tf) = &self.two_factor {
            if tf.totp_secret.is_none() && tf.sms_code.is_none() {
                return Err("two_factor needs totp_secret or sms_code".into());
            }
            if let Some(secret) = &tf.totp_secret {
                if totp_rs::Secret::try_from_base32(secret).is_err() {
                    return Err("two_factor.totp_secret must be base32".into());
                }
            }
        }
        if let Some(ch) = &self.challenge {
            if ch.email.is_none() && ch.phone.is_none() {
                return Err("challenge needs email or phone".into());
            }
        }
        Ok(())
    }
}

/// The second factor: an authenticator secret (base32, as an app's QR code carries it), an
/// SMS code, or both.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorScript {
    #[serde(default)]
    pub totp_secret: Option<String>,
    #[serde(default)]
    pub sms_code: Option<String>,
}

/// A `select_verify_method` → `verify_*` → close challenge; at least one contact point.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeScript {
    pub code: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// Ways Instagram refuses a legacy login (docs/instagram.md §6 "Failures").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginRefusal {
    /// `bad_password` for the right password (a risky device or network).
    BadPassword,
    NeedsUpgrade,
    /// `challenge_required` with `native_flow: true` and an opaque path.
    NativeChallenge,
    /// "Please wait a few minutes before you try again."
    RateLimited,
    /// Two-factor asked, then `Invalid Parameters` on `two_factor_login` (Bloks 2FA).
    BloksTwoFactor,
    /// An HTML page with status 200.
    Html,
    /// A failure with an `error_type` nobody documents, and unknown fields.
    UnknownError,
}

fn default_comment_page_cap() -> usize {
    50
}

/// An Instagram account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Numeric user id (`pk`).
    pub pk: u64,
    pub username: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub verified: bool,
    /// Whether the session's account follows this one (its lives appear in `feed/reels_tray/`).
    #[serde(default)]
    pub followed: bool,
}

/// How a broadcast ends (docs/instagram.md §2 `broadcast_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndStatus {
    Stopped,
    HardStop,
}

/// One live broadcast and everything that happens during it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broadcast {
    /// Broadcast id (digits; serialized as a string like dilame's shape).
    pub id: u64,
    /// Owner's `pk`; must be in `accounts`.
    pub owner: u64,
    /// When the host went live (may be negative).
    pub start: f64,
    /// How long the host stays live, seconds.
    pub duration: f64,
    /// Status after the end: `stopped` or `hard_stop`.
    #[serde(default = "default_end_status")]
    pub end_status: EndStatus,
    /// Seconds after the end at which the status becomes `post_live` (a replay exists).
    /// `None`: never.
    #[serde(default)]
    pub post_live_after: Option<f64>,
    /// Seconds after the end at which the ended manifest loses its `<Period>` (docs/instagram.md §3).
    #[serde(default = "default_period_removed_after")]
    pub period_removed_after: f64,
    /// Seconds after the end at which `info` and the manifest answer 404 and the segments that
    /// were published 410 (docs/instagram.md §8: gone, not "never existed").
    #[serde(default = "default_gone_after")]
    pub gone_after: f64,
    /// Whether the replay endpoints answer after the end.
    #[serde(default)]
    pub replay_endpoints: ReplayEndpoints,
    /// Co-broadcasters' pks (must be in `accounts`).
    #[serde(default)]
    pub cobroadcasters: Vec<u64>,
    /// Windows during which the host's connection struggles: status `interrupted` and no new
    /// segments; `t` jumps over the gap when the host comes back (t counts media time).
    #[serde(default)]
    pub interruptions: Vec<Window>,
    /// Segment timing.
    #[serde(default)]
    pub segments: SegmentSpec,
    /// Scripted comments.
    #[serde(default)]
    pub comments: Vec<CommentScript>,
    /// Generated comment streams ("k comments per second").
    #[serde(default)]
    pub comment_streams: Vec<CommentStream>,
    /// Cumulative like count as `[time, likes]` points, piecewise linear.
    #[serde(default)]
    pub likes: Vec<[f64; 2]>,
    /// Viewer count as `[time, viewers]` points, piecewise linear.
    #[serde(default)]
    pub viewers: Vec<[f64; 2]>,
}

fn default_end_status() -> EndStatus {
    EndStatus::Stopped
}
fn default_period_removed_after() -> f64 {
    6.0
}
fn default_gone_after() -> f64 {
    120.0
}

/// A time window `[from, to)`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from: f64,
    pub to: f64,
}

/// How segments are cut (docs/instagram.md §3 "SegmentTimeline": ~2 s, "usually 2001 or 2002", outliers).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentSpec {
    /// Nominal segment duration, ms.
    pub duration_ms: u32,
    /// Uniform jitter around the nominal duration, ± ms.
    pub jitter_ms: u32,
    /// Probability that a segment is an outlier (1.2 s or 2.9 s, picked at random).
    pub outlier_probability: f64,
    /// Distinct encoded segments; the broadcast loops over them (patched timestamps), so any
    /// broadcast length costs one short encode.
    pub base_segments: usize,
    /// The `t` of the first segment (`publishFrameTime`).
    pub first_t: u64,
    /// Segments listed in the live manifest's SegmentTimeline.
    pub window: usize,
    /// Video frame rate of the encoded media.
    pub fps: u32,
}

impl Default for SegmentSpec {
    fn default() -> Self {
        SegmentSpec {
            duration_ms: 2000,
            jitter_ms: 150,
            outlier_probability: 0.1,
            base_segments: 8,
            first_t: 1,
            window: 10,
            fps: 30,
        }
    }
}

/// `count` comments posted at `at`, spread evenly over `spread` seconds (default one second:
/// a burst sharing one second, each with a distinct sub-second `created_at`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentScript {
    pub at: f64,
    #[serde(default = "one")]
    pub count: usize,
    /// Text; `{n}` is replaced by the comment's index within this script.
    pub text: String,
    /// Repeat the text this many times (multi-kilobyte comments).
    #[serde(default = "one")]
    pub repeat: usize,
    /// Author's pk (must be in `accounts`); `None`: a generated viewer.
    #[serde(default)]
    pub user: Option<u64>,
    #[serde(default = "one_f")]
    pub spread: f64,
}

fn one() -> usize {
    1
}
fn one_f() -> f64 {
    1.0
}

/// Comments arriving at random times at `per_second` on average during `[from, to)`, texts
/// picked from `texts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentStream {
    pub from: f64,
    pub to: f64,
    pub per_second: f64,
    pub texts: Vec<String>,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with Instagram's throttling body; `Retry-After: retry_after` when given.
    Throttle,
    /// `status` (default 500) with a short text body.
    ServerError,
    /// 200 with a truncated JSON body.
    MalformedJson,
    /// The response is held back `delay_ms` real milliseconds, then served normally.
    Delay,
    /// The connection is dropped without any response.
    Reset,
    /// Media segments (and init segments) answer `status` (default 503).
    SegmentError,
    /// Manifests answer `status` (default 503).
    ManifestOutage,
    /// 403 `login_required`.
    LoginRequired,
    /// 400 `challenge_required` with `challenge.url`.
    ChallengeRequired,
    /// 400 `feedback_required` with `feedback_message`.
    FeedbackRequired,
}

/// A fault window: requests in `[from, to)` whose path matches `path` fail as `kind` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    pub from: f64,
    pub to: f64,
    /// Which requests: `"segments"` (media and init segments), `"manifest"` (MPDs), `"api"`
    /// (everything under /api/v1/), or any substring of the request path (`"get_comment"`,
    /// `"story"`). Default: segments for `segment_error`, manifests for `manifest_outage`,
    /// the API for the Instagram error kinds (throttle, malformed_json, login/challenge/feedback),
    /// everything for `server_error`, `delay` and `reset`.
    #[serde(default)]
    pub path: Option<String>,
    /// Chance that a matching request fails (seeded RNG); default 1.
    #[serde(default)]
    pub probability: Option<f64>,
    /// HTTP status for `server_error`, `segment_error`, `manifest_outage`.
    #[serde(default)]
    pub status: Option<u16>,
    /// `Retry-After` seconds for `throttle`.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Delay for `delay`, real milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// `challenge.url` for `challenge_required`.
    #[serde(default)]
    pub challenge_url: Option<String>,
}

/// The simulated FBNS broker. Every live start pushes `live_broadcast` (the owner) and one
/// `live_with_broadcast` per co-broadcaster, every end `live_broadcast_revoke`, to each device
/// whose token was given to `push/register/` by then; a device that is offline gets them when
/// it reconnects, and whatever a connection did not PUBACK is sent again on the next one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbnsSpec {
    /// `false` keeps the section but runs no broker.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Simulated seconds from the event to its push: a number or `[min, max]` (uniform).
    #[serde(default)]
    pub delay: PushDelay,
    /// Chance that a push is never sent.
    #[serde(default)]
    pub loss_probability: f64,
    /// Chance that a push is sent twice (same `nid`).
    #[serde(default)]
    pub duplicate_probability: f64,
    /// Simulated seconds after CONNACK at which the broker closes each connection.
    #[serde(default)]
    pub drop_connection_after: Option<f64>,
    /// The first this many connections get no CONNACK (the broker reads and stays silent).
    #[serde(default)]
    pub never_connack: u32,
    /// The first this many push deliveries stop halfway through the packet and the
    /// connection is closed (the push is delivered again after the reconnect).
    #[serde(default)]
    pub drop_mid_packet: u32,
    /// The first this many reconnects with valid stored auth are answered return code 4,
    /// the device forgotten.
    #[serde(default)]
    pub reject_stored_auth: u32,
    /// PINGREQs get no PINGRESP (a connection that is up but dead).
    #[serde(default)]
    pub ignore_pings: bool,
    /// When set, every `/fbns_reg_resp` carries this `error` and no token.
    #[serde(default)]
    pub registration_error: Option<String>,
    /// Whom the `reel_id` of a `live_with_broadcast` names (unknown on Instagram).
    #[serde(default)]
    pub live_with_names: LiveWithNames,
    /// Scripted pushes besides those of the broadcasts.
    #[serde(default)]
    pub pushes: Vec<ScriptedPush>,
}

fn yes() -> bool {
    true
}

/// A push delay: fixed, or uniform within `[min, max]`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PushDelay {
    Fixed(f64),
    Range([f64; 2]),
}

impl Default for PushDelay {
    fn default() -> Self {
        PushDelay::Fixed(0.0)
    }
}

/// The participant a `live_with_broadcast` push names in `reel_id` (the other one is `s`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveWithNames {
    #[default]
    Guest,
    Owner,
}

/// One scripted push: `collapse_key` about `user` at `at` (e.g. `post`,
/// `reachability_silent_push`, or a live kind with `broadcast`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedPush {
    pub at: f64,
    pub collapse_key: String,
    /// The account it is about (must be in `accounts`).
    pub user: u64,
    /// A broadcast id for a `broadcast?id=…` deep link.
    #[serde(default)]
    pub broadcast: Option<u64>,
}

impl FbnsSpec {
    fn validate(&self, known: &dyn Fn(u64) -> bool) -> Result<(), String> {
        let prob = |p: f64| (0.0..=1.0).contains(&p);
        if !prob(self.loss_probability) || !prob(self.duplicate_probability) {
            return Err("fbns: probabilities must be in [0, 1]".into());
        }
        let ok_time = |t: f64| t.is_finite() && (0.0..=1e6).contains(&t);
        let delay_ok = match self.delay {
            PushDelay::Fixed(d) => ok_time(d),
            PushDelay::Range([a, b]) => ok_time(a) && ok_time(b) && a <= b,
        };
        if !delay_ok {
            return Err("fbns: delay must be a number or [min, max] within [0, 1e6] s".into());
        }
        if self
            .drop_connection_after
            .is_some_and(|t| !(ok_time(t) && t > 0.0))
        {
            return Err("fbns: drop_connection_after must be within (0, 1e6] s".into());
        }
        if self.pushes.len() > 10_000 {
            return Err("fbns: at most 10000 scripted pushes".into());
        }
        for p in &self.pushes {
            if !p.at.is_finite() || p.at.abs() > 1e9 {
                return Err("fbns: a scripted push's `at` must be finite, below 1e9".into());
            }
            if p.collapse_key.is_empty() || p.collapse_key.len() > 100 {
                return Err("fbns: a scripted push needs a collapse_key of 1–100 bytes".into());
            }
            if !known(p.user) {
                return Err(format!(
                    "fbns: scripted push user {} is not in accounts",
                    p.user
                ));
            }
        }
        Ok(())
    }
}

impl Scenario {
    /// Reads a scenario; `.json` files are JSON, anything else TOML.
    pub fn from_path(path: &Path) -> Result<Scenario, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadScenario {
            path: path.to_path_buf(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let scenario = if is_json {
            Scenario::from_json_str(&text)
        } else {
            Scenario::from_toml_str(&text)
        };
        scenario.map_err(|e| match e {
            SimError::InvalidScenario(reason) => {
                SimError::InvalidScenario(format!("{}: {reason}", path.display()))
            }
            other => other,
        })
    }

    pub fn from_toml_str(s: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario =
            toml::from_str(s).map_err(|e| SimError::InvalidScenario(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn from_json_str(s: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario =
            serde_json::from_str(s).map_err(|e| SimError::InvalidScenario(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The built-in demo: one followed account live for ~60 s from simulator start, with chat
    /// (a burst, emoji, right-to-left text, a steady stream), likes and a viewer curve.
    pub fn demo() -> Scenario {
        Scenario {
            seed: 7,
            comment_page_cap: 50,
            session_expires_at: None,
            accounts: vec![
                Account {
                    pk: 1_000_001,
                    username: "demo.host".into(),
                    full_name: "Demo Host".into(),
                    verified: true,
                    followed: true,
                },
                Account {
                    pk: 1_000_002,
                    username: "demo.guest".into(),
                    full_name: "Demo Guest".into(),
                    verified: false,
                    followed: false,
                },
            ],
            broadcasts: vec![Broadcast {
                id: 17_900_000_000_000_001,
                owner: 1_000_001,
                start: -4.0,
                duration: 60.0,
                end_status: EndStatus::Stopped,
                post_live_after: Some(5.0),
                period_removed_after: default_period_removed_after(),
                gone_after: default_gone_after(),
                replay_endpoints: ReplayEndpoints::default(),
                cobroadcasters: vec![],
                interruptions: vec![],
                segments: SegmentSpec::default(),
                comments: vec![
                    CommentScript {
                        at: 2.0,
                        count: 1,
                        text: "hello 👋🔥".into(),
                        repeat: 1,
                        user: Some(1_000_002),
                        spread: 1.0,
                    },
                    CommentScript {
                        at: 10.0,
                        count: 80,
                        text: "burst {n}".into(),
                        repeat: 1,
                        user: None,
                        spread: 1.0,
                    },
                    CommentScript {
                        at: 20.0,
                        count: 1,
                        text: "مرحبا بالجميع".into(),
                        repeat: 1,
                        user: None,
                        spread: 1.0,
                    },
                ],
                comment_streams: vec![CommentStream {
                    from: 0.0,
                    to: 55.0,
                    per_second: 1.0,
                    texts: vec!["nice".into(), "❤️".into(), "where are you?".into()],
                }],
                likes: vec![[-4.0, 0.0], [56.0, 900.0]],
                viewers: vec![[-4.0, 0.0], [20.0, 1500.0], [56.0, 800.0]],
            }],
            faults: vec![],
            login: None,
            fbns: None,
            throttle: None,
            representation_ids: RepresentationIds::default(),
        }
    }

    /// Rejects scenarios the simulator could not serve sensibly.
    fn validate(&self) -> Result<(), SimError> {
        if self.comment_page_cap == 0 {
            return invalid("comment_page_cap must be at least 1".into());
        }
        for b in &self.broadcasts {
            b.validate(&self.accounts)
                .or_else(|m| invalid(format!("broadcast {}: {m}", b.id)))?;
        }
        for (i, b) in self.broadcasts.iter().enumerate() {
            if self.broadcasts[..i].iter().any(|o| o.id == b.id) {
                return invalid(format!("broadcast id {} appears twice", b.id));
            }
        }
        if let Some(l) = &self.login {
            l.validate().or_else(|m| invalid(format!("login: {m}")))?;
        }
        if let Some(fbns) = &self.fbns {
            let known = |pk: u64| self.accounts.iter().any(|a| a.pk == pk);
            fbns.validate(&known).map_err(SimError::InvalidScenario)?;
        }
        self.faults.iter().try_for_each(Fault::validate)
    }
}

fn invalid(message: String) -> Result<(), SimError> {
    Err(SimError::InvalidScenario(message))
}

impl Broadcast {
    /// What is wrong with this broadcast, if anything, in words that follow `broadcast <id>: `.
    fn validate(&self, accounts: &[Account]) -> Result<(), String> {
        self.validate_people(accounts)?;
        self.validate_times()?;
        self.segments.validate()?;
        self.validate_chat()
    }

    /// The owner, co-broadcasters and comment authors must all be known accounts.
    fn validate_people(&self, accounts: &[Account]) -> Result<(), String> {
        let known = |pk: u64| accounts.iter().any(|a| a.pk == pk);
        if !known(self.owner) {
            return Err(format!("owner {} is not in accounts", self.owner));
        }
        if let Some(pk) = self.cobroadcasters.iter().find(|pk| !known(**pk)) {
            return Err(format!("co-broadcaster {pk} is not in accounts"));
        }
        if let Some(pk) = self
            .comments
            .iter()
            .filter_map(|c| c.user)
            .find(|pk| !known(*pk))
        {
            return Err(format!("comment author {pk} is not in accounts"));
        }
        Ok(())
    }

    /// A bounded duration, and every time and curve value a finite number the clock can reach.
    fn validate_times(&self) -> Result<(), String> {
        if !(self.duration.is_finite() && self.duration > 0.0 && self.duration <= 86_400.0) {
            return Err("duration must be in (0, 86400] s".into());
        }
        let mut times = [self.start, self.period_removed_after, self.gone_after]
            .into_iter()
            .chain(self.post_live_after)
            .chain(self.interruptions.iter().flat_map(|w| [w.from, w.to]))
            .chain(self.comments.iter().flat_map(|c| [c.at, c.spread]))
            .chain(
                self.comment_streams
                    .iter()
                    .flat_map(|c| [c.from, c.to, c.per_second]),
            )
            .chain(self.likes.iter().chain(&self.viewers).flatten().copied());
        if times.any(|x| !x.is_finite() || x.abs() > 1e9) {
            return Err("every time and curve value must be a finite number below 1e9".into());
        }
        Ok(())
    }

    /// At most a million comments in all, streams that can produce some, texts of a sane size.
    fn validate_chat(&self) -> Result<(), String> {
        let total: f64 = self
            .comments
            .iter()
            .map(|c| c.count as f64)
            .chain(
                self.comment_streams
                    .iter()
                    .map(|c| c.per_second * (c.to - c.from)),
            )
            .sum();
        if !(total.is_finite() && total <= 1_000_000.0) {
            return Err("at most 1,000,000 comments".into());
        }
        if self
            .comment_streams
            .iter()
            .any(|c| c.texts.is_empty() || c.per_second < 0.0)
        {
            return Err("a comment stream needs texts and a non-negative rate".into());
        }
        if self
            .comments
            .iter()
            .any(|c| c.text.len() * c.repeat > 64 * 1024)
        {
            return Err("comment text above 64 KiB".into());
        }
        Ok(())
    }
}

impl SegmentSpec {
    /// Segment timing the encoder and the manifest window can serve.
    fn validate(&self) -> Result<(), String> {
        if self.first_t > 1_000_000_000_000 {
            return Err("segments.first_t above 1e12".into());
        }
        if !(500..=10_000).contains(&self.duration_ms)
            || u64::from(self.jitter_ms) * 2 >= u64::from(self.duration_ms)
        {
            return Err(
                "segments.duration_ms must be 500..=10000 with jitter_ms below half of it".into(),
            );
        }
        if !(1..=60).contains(&self.base_segments)
            || self.window == 0
            || !(5..=60).contains(&self.fps)
        {
            return Err("segments.base_segments must be 1..=60, window >= 1, fps 5..=60".into());
        }
        if !(0.0..=1.0).contains(&self.outlier_probability) {
            return Err("outlier_probability must be in [0, 1]".into());
        }
        Ok(())
    }
}

impl Fault {
    fn validate(&self) -> Result<(), SimError> {
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return invalid("fault probability must be in [0, 1]".into());
            }
        }
        if self.delay_ms.is_some_and(|d| d > 600_000) {
            return invalid("fault delay_ms above 10 minutes".into());
        }
        Ok(())
    }
}
