//! Running the detector against the in-process simulator on an accelerated clock: every
//! duration the client and the scheduler use is expressed in simulated seconds and divided by
//! the clock speed, so a minute of simulated polling takes a few real seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iglive::sim::{self, RecordedRequest, SimHandle};
use iglive::{
    Accounts, Detector, DetectorOptions, LiveEvent, SchedulerConfig, SeenStore, TrayOptions,
};
use iglive::{Client, ClientOptions, GovernorOptions, Session};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest real time any wait in these tests may take.
pub const REAL_LIMIT: Duration = Duration::from_secs(60);

/// A simulator plus the clock conversion.
pub struct World {
    pub sim: SimHandle,
    pub speed: f64,
}

impl World {
    pub async fn start(toml: &str, speed: f64) -> World {
        let sim = super::sim::start(toml, speed).await;
        World { sim, speed }
    }

    /// Real duration of `secs` simulated seconds.
    pub fn real(&self, secs: f64) -> Duration {
        Duration::from_secs_f64(secs / self.speed)
    }

    pub fn session() -> Session {
        Session::parse(&sim::session_json()).expect("the simulator's session parses")
    }

    /// Client options with every delay in simulated seconds.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_retries: 2,
            retry_base: self.real(0.5),
            retry_max: self.real(2.0),
            governor: GovernorOptions {
                throttle_pause: self.real(5.0),
                max_pause: self.real(120.0),
                max_slowdown: 8.0,
                quiet_period: self.real(20.0),
            },
            // These tests are about the detector's own pacing: the session budget stays out
            // of its way (its own tests are in `instagram::budget`).
            max_requests_per_minute: 100_000,
            budget_window: self.real(60.0),
            ..ClientOptions::default()
        }
    }

    pub fn client(&self) -> Client {
        Client::new(
            self.sim.api_base_url(),
            World::session(),
            self.client_options(),
        )
        .expect("client builds")
    }

    /// Detector options: `poll` simulated seconds per account, `rpm` per simulated minute.
    pub fn detector_options(
        &self,
        poll: f64,
        rpm: u32,
        jitter: f64,
        tray: Option<(f64, Option<f64>)>,
    ) -> DetectorOptions {
        DetectorOptions {
            scheduler: SchedulerConfig {
                poll_interval: self.real(poll),
                max_requests_per_minute: rpm,
                jitter,
                window: self.real(60.0),
            },
            tray: tray.map(|(interval, covered)| TrayOptions {
                interval: self.real(interval),
                covered_poll_interval: covered.map(|c| self.real(c)),
            }),
            seed: Some(11),
            budget: None,
        }
    }

    /// Polls `cond` until it holds; fails the test after `REAL_LIMIT`.
    pub async fn wait_for(&self, what: &str, mut cond: impl FnMut(&World) -> bool) {
        let deadline = Instant::now() + REAL_LIMIT;
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the simulated clock reaches `t`.
    pub async fn wait_sim(&self, t: f64) {
        self.wait_for(&format!("simulated t={t}"), |w| w.sim.now() >= t)
            .await;
    }

    /// API requests (under `/api/v1/`) received so far.
    pub fn api_requests(&self) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/api/v1/"))
            .collect()
    }
}

/// A detector running in a task, with its event stream.
pub struct Running {
    pub events: mpsc::Receiver<LiveEvent>,
    pub cancel: CancellationToken,
    pub task: JoinHandle<Result<(), iglive::ApiError>>,
}

pub fn spawn(
    client: Client,
    accounts: Accounts,
    options: DetectorOptions,
    seen: Arc<dyn SeenStore>,
) -> Running {
    let (tx, events) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let detector = Detector::new(options, seen);
    let c = cancel.clone();
    let task = tokio::spawn(async move { detector.run(client, accounts, tx, c).await });
    Running {
        events,
        cancel,
        task,
    }
}

impl Running {
    /// The next event, with the simulated time it arrived at.
    pub async fn next_event(&mut self, world: &World) -> (LiveEvent, f64) {
        let event = tokio::time::timeout(REAL_LIMIT, self.events.recv())
            .await
            .expect("an event before the deadline")
            .expect("the detector is still running");
        (event, world.sim.now())
    }

    /// Cancels and returns what `run` returned.
    pub async fn stop(self) -> Result<(), iglive::ApiError> {
        self.cancel.cancel();
        tokio::time::timeout(REAL_LIMIT, self.task)
            .await
            .expect("the detector stops when cancelled")
            .expect("the detector task does not panic")
    }
}

/// One simulated account as scenario TOML.
pub fn account(pk: u64, followed: bool) -> String {
    format!("[[accounts]]\npk = {pk}\nusername = \"user{pk}\"\nfollowed = {followed}\n")
}

/// One broadcast as scenario TOML. Segments are long, unjittered and share one base clip, so
/// every broadcast of every test reuses the same (cached) encode.
pub fn broadcast(id: u64, owner: u64, start: f64, duration: f64) -> String {
    format!(
        "[[broadcasts]]\nid = {id}\nowner = {owner}\nstart = {start}\nduration = {duration}\n\
         [broadcasts.segments]\nduration_ms = 10000\njitter_ms = 0\noutlier_probability = 0.0\n\
         base_segments = 1\n"
    )
}

/// `story` feed requests for one account.
pub fn story_path(pk: u64) -> String {
    format!("/api/v1/feed/user/{pk}/story/")
}

/// Requests whose simulated arrival time is in `[from, to)`.
pub fn between(reqs: &[RecordedRequest], from: f64, to: f64) -> usize {
    reqs.iter().filter(|r| r.at >= from && r.at < to).count()
}
