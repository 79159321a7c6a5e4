//! The Instagram simulator: a loopback-only stand-in for Instagram's private API and live DASH
//! origin, driven by a scenario on an accelerated, seeded clock; what it imitates is
//! described in docs/instagram.md §1–§3.
//!
//! Tests, benchmarks and `iglive sim` / `iglive demo` run the recorder against it. It never
//! shares code paths with the recorder: the recorder only ever sees HTTP.
//!
//! * `scenario`: what happens (accounts, broadcasts, chat, likes, viewers, faults).
//! * `world`: the whole timeline, precomputed from the seed.
//! * `media` / `fmp4`: real H.264/AAC segments encoded once by ffmpeg, cached, looped.
//! * `api` / `origin`: the private API and the DASH origin; `faults`: fault windows.
//! * `server`: the HTTP front (recording, auth, faults); `truth`: what was published.
//! * `fbns` / `fbns_plan`: the FBNS push broker (MQTToT over TLS) and the pushes it sends.
//!
//! Clock: every unix time the simulator shows (`published_time`, `created_at`, manifest times)
//! is `real unix time at start + simulated seconds`. At `speed` 1 that is the wall clock; at
//! higher speeds it runs ahead of it, so clients must take time from the service (as they
//! should with Instagram), not from their own clock.

mod api;
mod error;
mod faults;
mod fbns;
mod fbns_plan;
mod fmp4;
mod login;
mod media;
mod origin;
mod scenario;
mod server;
mod state;
mod throttle;
mod truth;
mod users;
mod world;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use error::SimError;
pub use login::totp_code;
pub use media::{AUDIO_ID, QUALITIES};
pub use scenario::{
    Account, Broadcast, ChallengeScript, CommentScript, CommentStream, EndStatus, Fault, FaultKind,
    FbnsSpec, LiveWithNames, Login, LoginRefusal, PushDelay, ReplayEndpoints, RepresentationIds,
    Scenario, ScriptedPush, SegmentSpec, TwoFactorScript, Window,
};
pub use state::RecordedRequest;
pub use truth::{
    BroadcastTruth, CommentTruth, FbnsConnectionTruth, FbnsPushTruth, FbnsTruth,
    PushRegistrationTruth, RepresentationTruth, SegmentTruth, StatusChange, Truth, ValueAt,
};

use state::{SimClock, SimState};

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Must be a loopback address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Where encoded media is cached; default `$TMPDIR/iglive-sim-media`.
    pub media_dir: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            speed: 1.0,
            media_dir: None,
        }
    }
}

/// A running simulator. Dropping it stops the server (without waiting); `shutdown` also
/// waits until every connection is closed.
pub struct SimHandle {
    state: Arc<SimState>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> url::Url {
        self.state.base_url.clone()
    }

    /// The private API root: base + `api/v1/`.
    pub fn api_base_url(&self) -> url::Url {
        let mut u = self.state.base_url.clone();
        u.set_path("/api/v1/");
        u
    }

    /// `127.0.0.1:PORT` of the FBNS broker (MQTToT over TLS), when the scenario has one.
    pub fn fbns_addr(&self) -> Option<SocketAddr> {
        self.state.fbns.as_ref().map(|b| b.addr())
    }

    /// The PEM certificate of the FBNS broker, for the client's trust store.
    pub fn fbns_cert_pem(&self) -> Option<String> {
        self.state.fbns.as_ref().map(|b| b.cert_pem().to_string())
    }

    /// Simulated seconds since start (speed applied).
    pub fn now(&self) -> f64 {
        self.state.clock.now()
    }

    /// The simulated unix time of simulated second `sim` (what `created_at` etc. use).
    pub fn unix_time(&self, sim: f64) -> f64 {
        self.state.clock.unix(sim)
    }

    /// What has been published so far (same as `GET /truth`).
    pub fn truth(&self) -> Truth {
        truth_of(&self.state)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state
            .requests
            .lock()
            .map(|log| log.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Stops accepting, drops open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// What `iglive sim` prints: first line `iglive sim listening on <base URL>` (a stable
    /// format scripts may parse), then the API root, each broadcast's manifest URL and a
    /// session file the simulator accepts.
    pub fn banner(&self) -> String {
        let mut out = format!(
            "iglive sim listening on {}\napi: {}\n",
            self.base_url(),
            self.api_base_url()
        );
        for b in self.truth().broadcasts {
            out.push_str(&format!(
                "broadcast {} by @{} (pk {}): {}{} live from t={}s to t={}s\n",
                b.id,
                b.owner_username,
                b.owner_pk,
                self.base_url(),
                b.manifest_path.trim_start_matches('/'),
                b.start,
                b.end
            ));
        }
        if let (Some(addr), Some(pem)) = (self.fbns_addr(), self.fbns_cert_pem()) {
            out.push_str(&format!(
                "fbns: {addr} (MQTToT over TLS), certificate:\n{pem}"
            ));
        }
        out.push_str(&format!("session file contents: {}\n", session_json()));
        out
    }
}

/// A session file (iglive's own format) the simulator accepts.
pub fn session_json() -> String {
    serde_json::json!({
        "cookies": {
            "sessionid": login::STATIC_SESSIONID,
            "ds_user_id": "1000001",
            "csrftoken": "simcsrftoken",
            "mid": "sim-mid",
        },
        "uuid": "00000000-0000-4000-8000-000000000001",
    })
    .to_string()
}

fn truth_of(state: &SimState) -> Truth {
    let now = state.clock.now();
    Truth {
        now,
        unix_now: state.clock.unix(now),
        broadcasts: state
            .broadcasts
            .iter()
            .map(|b| truth::BroadcastTruth::of(b, now))
            .collect(),
        fbns: state.fbns.as_ref().map(|f| f.truth()),
        sessions: state.throttle.truth(now),
    }
}

/// Encodes (or loads) the media, computes the world and starts serving on `opts.listen`.
pub async fn start(scenario: Scenario, opts: SimOptions) -> Result<SimHandle, SimError> {
    if !opts.listen.ip().is_loopback() {
        return Err(SimError::NotLoopback(opts.listen));
    }
    if !(opts.speed.is_finite() && opts.speed > 0.0) {
        return Err(SimError::BadSpeed(opts.speed));
    }
    let cache = opts
        .media_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("iglive-sim-media"));
    let mut media = Vec::new();
    for b in &scenario.broadcasts {
        let wanted = world::wanted_durations(scenario.seed, b);
        let (cache, fps) = (cache.clone(), b.segments.fps);
        let set = tokio::task::spawn_blocking(move || media::prepare(&cache, &wanted, fps))
            .await
            .map_err(|e| SimError::Media(format!("media task failed: {e}")))??;
        media.push(set);
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: opts.listen,
        source,
    })?;
    let base_url = url::Url::parse(&format!("http://{addr}/"))
        .map_err(|e| SimError::InvalidScenario(format!("base URL: {e}")))?;
    let login = match scenario.login.clone() {
        Some(script) => Some(Box::new(
            tokio::task::spawn_blocking(move || login::LoginState::new(script))
                .await
                .map_err(|e| SimError::InvalidScenario(format!("key generation task: {e}")))?
                .map_err(SimError::InvalidScenario)?,
        )),
        None => None,
    };
    // The clock starts once the (possibly slow) encode is done, so scenario time 0 is "now".
    let clock = SimClock::new(opts.speed);
    let mut pk_counter = 17_850_000_000_000_000u64;
    let broadcasts: Vec<world::BroadcastWorld> = scenario
        .broadcasts
        .iter()
        .zip(media)
        .map(|(b, m)| world::build(&scenario, b, m, clock.epoch_unix, &mut pk_counter))
        .collect();
    let (fbns, fbns_listener) = match scenario.fbns.as_ref().filter(|f| f.enabled) {
        Some(spec) => {
            let at = SocketAddr::new(opts.listen.ip(), 0);
            let bind = |source| SimError::Bind { addr: at, source };
            let listener = tokio::net::TcpListener::bind(at).await.map_err(bind)?;
            let addr = listener.local_addr().map_err(bind)?;
            let plan = fbns_plan::plan(&scenario, spec, &broadcasts, clock.epoch_unix);
            let broker = fbns::Broker::new(addr, spec.clone(), plan, scenario.seed)?;
            (Some(Arc::new(broker)), Some(listener))
        }
        None => (None, None),
    };
    let state = Arc::new(SimState {
        fault_rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(scenario.seed ^ 0xfa17)),
        scenario,
        broadcasts,
        clock,
        base_url,
        requests: Mutex::new(VecDeque::new()),
        login,
        fbns,
        throttle: throttle::Throttle::default(),
    });
    let stop = CancellationToken::new();
    let http = server::serve(listener, state.clone(), stop.clone());
    let broker = fbns_listener.map(|l| fbns::serve(l, state.clone(), stop.clone()));
    let task = tokio::spawn(async move {
        match broker {
            Some(broker) => {
                tokio::join!(http, broker);
            }
            None => http.await,
        }
    });
    Ok(SimHandle {
        state,
        stop,
        task: Some(task),
    })
}

/// `iglive sim`: prints `iglive sim listening on <base URL>` first, then where the broadcasts
/// are, and serves until Ctrl-C or SIGTERM.
pub async fn run_cli(scenario: &Path, listen: SocketAddr, speed: f64) -> anyhow::Result<()> {
    let scenario = Scenario::from_path(scenario)?;
    let handle = start(
        scenario,
        SimOptions {
            listen,
            speed,
            media_dir: None,
        },
    )
    .await?;
    print!("{}", handle.banner());
    // Scripts wait for the first line; make sure it is out even when stdout is a pipe.
    std::io::Write::flush(&mut std::io::stdout())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
