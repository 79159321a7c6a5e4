//! Pool benchmark: the whole daemon (`iglive::run_daemon`, in-process, on its own runtime)
//! against the in-process simulator on a fast clock. Every interval of the config is divided
//! by the clock speed and `instagram.budget_window` is 60 s of simulated time, so a session's
//! budget of B is B requests per simulated minute; all figures below are simulated time.
//!
//! 1. **Budget** — 1, 8 and 20 concurrent recordings in each footprint (full, chat, video) on
//!    two sessions of 120/min: the most API requests in any 60 s (all sessions together)
//!    against the sum of the budgets, and the requests per recording-minute of each footprint.
//! 2. **Detection** — K = 1, 2, 4 sessions of 60/min (R = 54/min each for detection, the
//!    plan's 90 %), N = 100 and 1,000 watched accounts: mean latency against N / (2·K·R).
//! 3. **Push** — one session, 100 accounts: polling alone, push healthy (p95 ≤ 3 s, detection
//!    polls cut by ≥ 90 %) and half of the pushes lost (mean no worse than polling alone).
//! 4. **Challenge** — three sessions, one challenged mid-run: every live still detected and
//!    recorded, and how long until its accounts and its recordings' chat are served by others.
//!
//! Run: `cargo bench --bench pool` or `scripts/bench-pool` (a few minutes on 2 cores); pass
//! `budget`, `detection`, `push` or `challenge` to run only those parts.

#[path = "support/common.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iglive::sim::{self, RecordedRequest, Scenario, SimHandle, SimOptions};
use iglive::{Config, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

const SEED: u64 = 20_261_201;
const FIRST_PK: u64 = 4_000_000;
/// The plan keeps 10 % of a session's budget as headroom; detection gets the rest when no
/// recording asks for it.
const DETECTION_SHARE: f64 = 0.9;

/// One live: the account (index), start and duration, simulated seconds.
#[derive(Clone, Copy)]
struct Live {
    account: usize,
    start: f64,
    duration: f64,
}

/// One run of the daemon.
struct Setup {
    speed: f64,
    /// (name, budget per simulated minute, push)
    sessions: Vec<(String, u32, bool)>,
    accounts: usize,
    lives: Vec<Live>,
    engagement: &'static str,
    max_concurrent: usize,
    /// Wanted interval between two polls of one account, simulated seconds.
    poll: f64,
    /// A chat on every live (comments per second).
    chat: f64,
    /// The `[fbns]` table of the scenario, if push is on.
    fbns: Option<String>,
}

fn broadcast_id(i: usize) -> String {
    (17_960_000_000_000_000u64 + i as u64).to_string()
}

fn pk(account: usize) -> u64 {
    FIRST_PK + account as u64
}

impl Setup {
    fn scenario(&self) -> String {
        let mut t = format!("seed = {SEED}\ncomment_page_cap = 50\n");
        if let Some(f) = &self.fbns {
            t.push_str(&format!("[fbns]\n{f}\n"));
        }
        for i in 0..self.accounts {
            t.push_str(&format!(
                "[[accounts]]\npk = {}\nusername = \"bench{i}\"\nfollowed = false\n",
                pk(i)
            ));
        }
        for (i, l) in self.lives.iter().enumerate() {
            // Long, unjittered segments sharing one base clip: one tiny encode for all.
            t.push_str(&format!(
                "[[broadcasts]]\nid = {}\nowner = {}\nstart = {}\nduration = {}\nend_status = \"stopped\"\n\
                 [broadcasts.segments]\nduration_ms = 10000\njitter_ms = 0\noutlier_probability = 0.0\nbase_segments = 1\n",
                broadcast_id(i),
                pk(l.account),
                l.start,
                l.duration
            ));
            if self.chat > 0.0 {
                t.push_str(&format!(
                    "[[broadcasts.comment_streams]]\nfrom = {}\nto = {}\nper_second = {}\ntexts = [\"hi\"]\n",
                    l.start.max(0.0),
                    l.start + l.duration,
                    self.chat
                ));
            }
        }
        t
    }

    /// The daemon's config, every interval on the simulated clock.
    fn config(&self, sim: &SimHandle, dir: &Path) -> String {
        let ms = |sim_secs: f64| {
            format!(
                "\"{}ms\"",
                ((sim_secs / self.speed) * 1000.0).max(1.0).round()
            )
        };
        let mut t = format!(
            "[instagram]\napi_base_url = \"{}\"\nrequest_timeout = \"10s\"\nbudget_window = {}\n\
             session_retry = {}\nthrottle_pause = {}\n\
             [watch]\npoll_interval = {}\nuse_reels_tray = false\n\
             [recording]\nheartbeat_interval = {}\ncomments_interval = {}\nlikes_interval = {}\n\
             interrupted_grace = {}\nmax_concurrent = {}\nengagement = \"{}\"\n\
             [storage]\nrecordings_dir = \"recordings\"\nmin_free_space = \"10MB\"\n\
             [status]\nlisten = \"off\"\n",
            sim.api_base_url(),
            ms(60.0),
            ms(1800.0),
            ms(60.0),
            ms(self.poll),
            ms(7.0),
            ms(3.0),
            ms(5.0),
            ms(120.0),
            self.max_concurrent,
            self.engagement,
        );
        if let (Some(addr), Some(pem)) = (sim.fbns_addr(), sim.fbns_cert_pem()) {
            std::fs::write(dir.join("fbns.pem"), pem).expect("pem");
            t.push_str(&format!(
                "[push]\nenabled = true\nhost = \"127.0.0.1\"\nport = {}\nca_file = \"fbns.pem\"\n",
                addr.port()
            ));
        }
        for i in 0..self.accounts {
            t.push_str(&format!("[[accounts]]\nuser_id = \"{}\"\n", pk(i)));
        }
        for (name, budget, push) in &self.sessions {
            let file = dir.join(format!("session-{name}.json"));
            let mut json: serde_json::Value =
                serde_json::from_str(&sim::session_json()).expect("session json");
            json["cookies"]["sessionid"] = format!("sid-{name}").into();
            std::fs::write(&file, json.to_string()).expect("session file");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            t.push_str(&format!(
                "[[sessions]]\nname = \"{name}\"\nsession_file = \"session-{name}.json\"\n\
                 max_requests_per_minute = {budget}\npush = {push}\n"
            ));
        }
        t
    }
}

/// A daemon and its simulator.
struct Run {
    sim: SimHandle,
    dir: tempfile::TempDir,
    cfg: Config,
    crash: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Wall clock and simulated clock at one instant, to map `detected_at` to sim time.
    origin: (f64, f64),
    speed: f64,
    real_start: Instant,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Run {
    async fn start(setup: &Setup) -> Run {
        let scenario = Scenario::from_toml_str(&setup.scenario()).expect("scenario");
        let sim = sim::start(
            scenario,
            SimOptions {
                speed: setup.speed,
                ..SimOptions::default()
            },
        )
        .await
        .expect("simulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("iglive.toml");
        std::fs::write(&path, setup.config(&sim, dir.path())).expect("config");
        let cfg = Config::load(&path).expect("config loads");
        let crash = CancellationToken::new();
        let (c, daemon_cfg) = (crash.clone(), cfg.clone());
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                tokio::select! {
                    r = iglive::run_daemon(daemon_cfg, CancellationToken::new()) => {
                        if let Err(e) = r { eprintln!("daemon: {e:#}"); }
                    }
                    _ = c.cancelled() => {}
                }
            });
            rt.shutdown_background();
        });
        let origin = (unix_now(), sim.now());
        Run {
            sim,
            dir,
            cfg,
            crash,
            thread: Some(thread),
            origin,
            speed: setup.speed,
            real_start: Instant::now(),
        }
    }

    fn store(&self) -> Option<Store> {
        Store::open(&self.cfg.storage.database).ok()
    }

    /// Broadcast id → simulated time of its detection (`broadcasts.detected_at`).
    fn detected(&self) -> BTreeMap<String, f64> {
        let Some(conn) = self.store().and_then(|s| s.connect().ok()) else {
            return BTreeMap::new();
        };
        let Ok(mut stmt) = conn.prepare("SELECT broadcast_id, detected_at FROM broadcasts") else {
            return BTreeMap::new();
        };
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?)));
        rows.map(|rows| {
            rows.flatten()
                .map(|(id, at)| (id, self.origin.1 + (at - self.origin.0) * self.speed))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Broadcast id → recording state.
    fn states(&self) -> BTreeMap<String, String> {
        let Some(conn) = self.store().and_then(|s| s.connect().ok()) else {
            return BTreeMap::new();
        };
        let Ok(mut stmt) = conn.prepare("SELECT broadcast_id, state FROM recordings") else {
            return BTreeMap::new();
        };
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)));
        rows.map(|rows| rows.flatten().collect())
            .unwrap_or_default()
    }

    /// Waits (real time, bounded) until `cond` or the simulated clock passes `until`.
    async fn until(&self, until: f64, limit: Duration, mut cond: impl FnMut(&Run) -> bool) {
        let deadline = Instant::now() + limit;
        while self.sim.now() < until && Instant::now() < deadline && !cond(self) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn force(&self, session: &str, stage: &str) {
        let url = self
            .sim
            .base_url()
            .join(&format!("control/sessions/sid-{session}/{stage}"))
            .expect("url");
        if let Err(e) = reqwest::Client::new().post(url).send().await {
            eprintln!("control: {e}");
        }
    }

    /// Drops the daemon mid-flight (no finalization: the benchmark has what it measures).
    async fn stop(mut self) -> (Vec<RecordedRequest>, Duration) {
        let log = self.sim.requests();
        self.crash.cancel();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        let real = self.real_start.elapsed();
        self.sim.shutdown().await;
        drop(self.dir);
        (log, real)
    }
}

fn session_of(r: &RecordedRequest) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "sessionid")
        .and_then(|(_, v)| v.strip_prefix("sid-").map(str::to_string))
}

fn api(log: &[RecordedRequest]) -> impl Iterator<Item = &RecordedRequest> {
    log.iter().filter(|r| r.path.starts_with("/api/v1/"))
}

/// Most requests with arrival times in any window `[t, t + 60)`.
fn max_in_window(times: Vec<f64>) -> usize {
    max_in_span(times, 60.0)
}

/// Most requests with arrival times in any window `[t, t + span)`.
fn max_in_span(mut times: Vec<f64>, span: f64) -> usize {
    times.sort_by(f64::total_cmp);
    let (mut best, mut lo) = (0, 0);
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= span {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Latencies (sorted) of the lives detected, from their start.
fn latencies(setup: &Setup, detected: &BTreeMap<String, f64>) -> Vec<f64> {
    let mut l: Vec<f64> = setup
        .lives
        .iter()
        .enumerate()
        .filter_map(|(i, live)| {
            detected
                .get(&broadcast_id(i))
                .map(|at| (at - live.start).max(0.0))
        })
        .collect();
    l.sort_by(f64::total_cmp);
    l
}

fn sessions(k: usize, budget: u32, push: bool) -> Vec<(String, u32, bool)> {
    ["a", "b", "c", "d"][..k]
        .iter()
        .map(|n| (n.to_string(), budget, push))
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. Budget and footprints

struct BudgetRow {
    mode: &'static str,
    recordings: usize,
    recording: usize,
    max_window: usize,
    /// The same over 59 s: arrival times carry the loopback's latency, which the fast clock
    /// stretches (1 ms real is 20 ms simulated), while the budget counts send times.
    max_59: usize,
    /// The busiest session's most requests in any 60 s (its budget is 120).
    max_session: usize,
    limit: usize,
    per_recording_minute: f64,
    by_kind: BTreeMap<&'static str, f64>,
    real: Duration,
}

fn kind(path: &str) -> &'static str {
    [
        ("/heartbeat_and_get_viewer_count/", "heartbeat"),
        ("/get_comment/", "chat"),
        ("/get_like_count/", "likes"),
        ("/info/", "info"),
        ("/story/", "detection"),
    ]
    .iter()
    .find(|(p, _)| path.contains(p))
    .map_or("other", |(_, k)| k)
}

async fn budget_case(mode: &'static str, n: usize) -> BudgetRow {
    const SPEED: f64 = 20.0;
    const BUDGET: u32 = 120;
    const MEASURE: f64 = 180.0;
    let setup = Setup {
        speed: SPEED,
        sessions: sessions(2, BUDGET, false),
        accounts: n + 10,
        lives: (0..n)
            .map(|account| Live {
                account,
                start: -30.0,
                duration: 3600.0,
            })
            .collect(),
        engagement: mode,
        max_concurrent: 25,
        poll: 30.0,
        chat: 0.5,
        fbns: None,
    };
    let run = Run::start(&setup).await;
    run.until(120.0, Duration::from_secs(30), |r| {
        r.states().values().filter(|s| *s == "recording").count() >= n
    })
    .await;
    let from = run.sim.now();
    let recording = run.states().values().filter(|s| *s == "recording").count();
    run.until(from + MEASURE, Duration::from_secs(60), |_| false)
        .await;
    let to = run.sim.now();
    let (log, real) = run.stop().await;
    let times: Vec<f64> = api(&log).map(|r| r.at).collect();
    let in_window: Vec<&RecordedRequest> = api(&log)
        .filter(|r| r.at >= from && r.at < to && r.path.contains("/live/"))
        .collect();
    let minutes = recording.max(1) as f64 * (to - from) / 60.0;
    let mut by_kind: BTreeMap<&'static str, f64> = BTreeMap::new();
    for r in &in_window {
        *by_kind.entry(kind(&r.path)).or_default() += 1.0 / minutes;
    }
    let mut per_session: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in api(&log) {
        if let Some(s) = session_of(r) {
            per_session.entry(s).or_default().push(r.at);
        }
    }
    BudgetRow {
        mode,
        recordings: n,
        recording,
        max_59: max_in_span(times.clone(), 59.0),
        max_session: per_session
            .into_values()
            .map(max_in_window)
            .max()
            .unwrap_or(0),
        max_window: max_in_window(times),
        limit: 2 * BUDGET as usize,
        per_recording_minute: in_window.len() as f64 / minutes,
        by_kind,
        real,
    }
}

// ---------------------------------------------------------------------------------------
// 2. Detection latency

struct DetectionRow {
    label: String,
    k: usize,
    n: usize,
    lives: usize,
    detected: usize,
    latencies: Vec<f64>,
    optimum: f64,
    /// Detection polls per minute per session, measured.
    polls_per_session: f64,
    max_session_window: usize,
    budget: u32,
    speed: f64,
    real: Duration,
}

/// `lives` lives on distinct accounts, starting once detection is under way and lasting
/// longer than any wait.
fn lives_for(
    n: usize,
    count: usize,
    from: f64,
    spread: f64,
    duration: f64,
    seed: u64,
) -> Vec<Live> {
    let mut rng = StdRng::seed_from_u64(seed);
    let step = (n / count).max(1);
    (0..count)
        .map(|i| Live {
            account: (i * step + rng.gen_range(0..step)) % n,
            start: (from + rng.gen::<f64>() * spread).round(),
            duration,
        })
        .collect()
}

async fn detection_case(
    label: &str,
    k: usize,
    n: usize,
    speed: f64,
    fbns: Option<String>,
    lives: Vec<Live>,
    end: f64,
) -> DetectionRow {
    const BUDGET: u32 = 60;
    let r = (f64::from(BUDGET) * DETECTION_SHARE).floor();
    let round = 60.0 * n as f64 / (k as f64 * r);
    let setup = Setup {
        speed,
        sessions: sessions(k, BUDGET, fbns.is_some()),
        accounts: n,
        lives,
        // One recording at a time, only a status check a minute: detection keeps the budget.
        engagement: "video",
        max_concurrent: 1,
        poll: 1.0,
        chat: 0.0,
        fbns,
    };
    let run = Run::start(&setup).await;
    let total = setup.lives.len();
    let limit = Duration::from_secs_f64(end / speed + 20.0);
    run.until(end, limit, |r| r.detected().len() >= total).await;
    let detected = run.detected();
    let now = run.sim.now();
    let (log, real) = run.stop().await;
    let lat = latencies(&setup, &detected);
    // Polls in the second half of the run: push's slowdown has settled by then.
    let half = now / 2.0;
    let polls = api(&log)
        .filter(|r| r.at >= half && r.path.contains("/story/"))
        .count() as f64;
    let mut per_session: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in api(&log) {
        if let Some(s) = session_of(r) {
            per_session.entry(s).or_default().push(r.at);
        }
    }
    // Detection polls per simulated minute over the run, to see when the pace changes.
    let mut minutes = vec![0usize; (now / 60.0).ceil().max(1.0) as usize];
    for r in api(&log).filter(|r| r.path.contains("/story/")) {
        if let Some(m) = minutes.get_mut((r.at / 60.0) as usize) {
            *m += 1;
        }
    }
    eprintln!("{label} K={k} N={n}: detection polls per minute {minutes:?}");
    DetectionRow {
        label: label.to_string(),
        k,
        n,
        lives: total,
        detected: lat.len(),
        latencies: lat,
        optimum: round / 2.0,
        polls_per_session: polls / k as f64 / ((now - half) / 60.0),
        max_session_window: per_session
            .into_values()
            .map(max_in_window)
            .max()
            .unwrap_or(0),
        budget: BUDGET,
        speed,
        real,
    }
}

// ---------------------------------------------------------------------------------------
// 4. One session challenged

struct ChallengeRow {
    lives: usize,
    detected: usize,
    recorded: usize,
    late_on_challenged: usize,
    accounts_moved: usize,
    accounts_reassigned_first: f64,
    accounts_reassigned_all: f64,
    chats_moved: usize,
    chat_reassigned: f64,
    real: Duration,
}

async fn challenge_case() -> ChallengeRow {
    const SPEED: f64 = 10.0;
    const CHALLENGE_AT: f64 = 150.0;
    let n = 30;
    let mut lives = lives_for(n, 6, 5.0, 30.0, 500.0, SEED);
    // Later lives, some of them on the challenged session's share.
    let late: Vec<Live> = lives_for(n, 6, CHALLENGE_AT + 20.0, 60.0, 400.0, SEED + 1)
        .into_iter()
        .filter(|l| !lives.iter().any(|e| e.account == l.account))
        .collect();
    lives.extend(late);
    let setup = Setup {
        speed: SPEED,
        sessions: sessions(3, 120, false),
        accounts: n,
        lives,
        engagement: "full",
        max_concurrent: 20,
        poll: 30.0,
        chat: 0.5,
        fbns: None,
    };
    let run = Run::start(&setup).await;
    run.until(CHALLENGE_AT, Duration::from_secs(60), |_| false)
        .await;
    // The session serving the most recordings' chat is challenged.
    let before = run.sim.requests();
    let mut chat_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in api(&before).filter(|r| r.at > CHALLENGE_AT - 10.0 && r.path.contains("/get_comment/"))
    {
        if let Some(s) = session_of(r) {
            chat_by.entry(s).or_default().insert(r.path.clone());
        }
    }
    let victim = chat_by
        .iter()
        .max_by_key(|(_, p)| p.len())
        .map_or_else(|| "b".to_string(), |(s, _)| s.clone());
    let owned_accounts: BTreeSet<String> = api(&before)
        .filter(|r| r.path.contains("/story/") && session_of(r).as_deref() == Some(&victim))
        .filter(|r| r.at > CHALLENGE_AT - 60.0)
        .map(|r| r.path.clone())
        .collect();
    let owned_chats = chat_by.get(&victim).cloned().unwrap_or_default();
    run.force(&victim, "challenged").await;
    let challenged = run.sim.now();
    let total = setup.lives.len();
    run.until(challenged + 150.0, Duration::from_secs(40), |r| {
        r.states()
            .values()
            .filter(|s| *s == "recording" || *s == "finished")
            .count()
            >= total
    })
    .await;
    // Some more time so that every moved account is polled by another session.
    let settle = run.sim.now() + 60.0;
    run.until(settle, Duration::from_secs(20), |_| false).await;
    let detected = run.detected();
    let recorded = run
        .states()
        .values()
        .filter(|s| *s == "recording" || *s == "finished")
        .count();
    let (log, real) = run.stop().await;
    let first_by_other = |paths: &BTreeSet<String>| -> Vec<f64> {
        paths
            .iter()
            .filter_map(|p| {
                api(&log)
                    .filter(|r| r.at > challenged && &r.path == p)
                    .filter(|r| session_of(r).as_deref() != Some(&victim))
                    .map(|r| r.at - challenged)
                    .reduce(f64::min)
            })
            .collect()
    };
    let accounts = first_by_other(&owned_accounts);
    let chats = first_by_other(&owned_chats);
    let late_on_challenged = setup
        .lives
        .iter()
        .filter(|l| l.start > challenged)
        .filter(|l| {
            owned_accounts
                .iter()
                .any(|p| p.contains(&format!("/{}/", pk(l.account))))
        })
        .count();
    ChallengeRow {
        lives: total,
        detected: detected.len(),
        recorded,
        late_on_challenged,
        accounts_moved: owned_accounts.len(),
        accounts_reassigned_first: accounts.iter().cloned().fold(f64::NAN, f64::min),
        accounts_reassigned_all: if accounts.len() == owned_accounts.len() {
            accounts.iter().cloned().fold(0.0, f64::max)
        } else {
            f64::INFINITY
        },
        chats_moved: owned_chats.len(),
        chat_reassigned: if chats.len() == owned_chats.len() {
            chats.iter().cloned().fold(0.0, f64::max)
        } else {
            f64::INFINITY
        },
        real,
    }
}

// ---------------------------------------------------------------------------------------

fn secs(s: f64) -> String {
    if !s.is_finite() {
        "never".into()
    } else if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

fn print_detection(rows: &[DetectionRow]) {
    println!("| case | K | N | lives detected | mean latency | p95 latency | target N/(2KR) | mean / target | polls/min/session (2nd half) | max req/min one session (budget) | clock | real |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for d in rows {
        let m = mean(&d.latencies);
        println!(
            "| {} | {} | {} | {}/{} | {} | {} | {} | {:.2} | {:.1} | {} ({}) | ×{} | {:.0} s |",
            d.label,
            d.k,
            d.n,
            d.detected,
            d.lives,
            secs(m),
            secs(percentile(&d.latencies, 0.95)),
            secs(d.optimum),
            m / d.optimum,
            d.polls_per_session,
            d.max_session_window,
            d.budget,
            d.speed,
            d.real.as_secs_f64()
        );
    }
}

fn main() {
    let rt = common::runtime();
    let total = Instant::now();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let parts = ["budget", "detection", "push", "challenge"];
    let wanted =
        |p: &str| !args.iter().any(|a| parts.contains(&a.as_str())) || args.iter().any(|a| a == p);

    if wanted("budget") {
        let mut rows = Vec::new();
        for mode in ["full", "chat", "video"] {
            for n in [1usize, 8, 20] {
                let row = rt.block_on(budget_case(mode, n));
                eprintln!("budget {mode} ×{n}: {:.0} s real", row.real.as_secs_f64());
                rows.push(row);
            }
        }
        println!("\n### 1. Budget: two sessions of 120 requests/min (sum 240), clock ×20\n");
        println!("| footprint | recordings | recording | max API req in any 60 s (all sessions) | any 59 s | busiest session, any 60 s (120) | sum of budgets | per recording-minute | heartbeat | chat | likes | info | real |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &rows {
            let k = |n: &str| r.by_kind.get(n).copied().unwrap_or(0.0);
            println!(
                "| {} | {} | {} | {}{} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} s |",
                r.mode,
                r.recordings,
                r.recording,
                r.max_window,
                if r.max_window > r.limit {
                    " (OVER)"
                } else {
                    ""
                },
                r.max_59,
                r.max_session,
                r.limit,
                r.per_recording_minute,
                k("heartbeat"),
                k("chat"),
                k("likes"),
                k("info"),
                r.real.as_secs_f64()
            );
        }
    }

    if wanted("detection") {
        let mut rows = Vec::new();
        for n in [100usize, 1000] {
            for k in [1usize, 2, 4] {
                let r = 60.0 * DETECTION_SHARE;
                let round = 60.0 * n as f64 / (k as f64 * r);
                // K·R·speed ≈ 5,400 requests per real minute whatever K.
                let speed = 100.0 / k as f64;
                let count = n.min(100);
                let lives = lives_for(
                    n,
                    count,
                    round * 0.5 + 10.0,
                    round * 1.5,
                    round * 2.5 + 120.0,
                    SEED + n as u64,
                );
                let end = round * 3.5 + 60.0;
                let row = rt.block_on(detection_case("polling", k, n, speed, None, lives, end));
                eprintln!(
                    "detection K={k} N={n}: {:.0} s real",
                    row.real.as_secs_f64()
                );
                rows.push(row);
            }
        }
        println!(
            "\n### 2. Detection: K sessions of 60 requests/min, R = 54/min each for detection\n"
        );
        print_detection(&rows);
    }

    if wanted("push") {
        let n = 100;
        let speed = 20.0;
        let round = 60.0 * n as f64 / 54.0;
        let lives = lives_for(n, 40, 30.0, 600.0, 900.0, SEED + 7);
        let end = 690.0;
        let mut rows = Vec::new();
        for (label, fbns) in [
            ("polling alone", None),
            ("push healthy", Some("delay = [0.2, 1.0]".to_string())),
            (
                "push, half lost",
                Some("delay = [0.2, 1.0]\nloss_probability = 0.5".to_string()),
            ),
        ] {
            let row = rt.block_on(detection_case(label, 1, n, speed, fbns, lives.clone(), end));
            eprintln!("push {label}: {:.0} s real", row.real.as_secs_f64());
            rows.push(row);
        }
        println!("\n### 3. Push: one session of 60 requests/min, 100 accounts, 40 lives, clock ×{speed} (round {round:.0} s)\n");
        print_detection(&rows);
        if let [base, healthy, half] = &rows[..] {
            let cut = 1.0 - healthy.polls_per_session / base.polls_per_session.max(1e-9);
            println!(
                "\nPush healthy: p95 {} (target ≤ 3 s), detection polls cut by {:.0} % (target ≥ 90 %). Half lost: mean {} vs {} polling alone.",
                secs(percentile(&healthy.latencies, 0.95)),
                cut * 100.0,
                secs(mean(&half.latencies)),
                secs(mean(&base.latencies)),
            );
        }
    }

    if wanted("challenge") {
        let c = rt.block_on(challenge_case());
        println!("\n### 4. One of three sessions (120/min each) challenged at 150 s, 30 accounts, full footprint, clock ×10\n");
        println!("| lives | detected | recorded | later lives on its share | its accounts | first polled by another | all polled by others | its chats | all chats moved | real |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} s |",
            c.lives,
            c.detected,
            c.recorded,
            c.late_on_challenged,
            c.accounts_moved,
            secs(c.accounts_reassigned_first),
            secs(c.accounts_reassigned_all),
            c.chats_moved,
            secs(c.chat_reassigned),
            c.real.as_secs_f64()
        );
    }
    println!("\nTimes are simulated (budget_window = 60 s simulated). Command: cargo bench --bench pool (or scripts/bench-pool).");
    println!("Total run time: {:.0} s", total.elapsed().as_secs_f64());
}
