//! Detection benchmark (issue 4): the detector against the in-process simulator at high clock
//! speed, with 10, 100 and 1,000 watched accounts that each go live once at a random (seeded)
//! time, under a budget of R = 20 requests per minute. For each N and each path (per-account
//! story polling; reels tray with a slow per-account safety net) it prints the highest number
//! of requests the simulator received in any 60 s of simulated time, and the mean and p95
//! detection latency (simulated time from the broadcast's start to the `LiveEvent`).
//!
//! Run: `cargo bench --bench watch` or `scripts/bench-watch`. Targets: never above R; with
//! per-account polling, mean latency within 10 % of the round-robin optimum N/(2R) minutes
//! once N/R exceeds the poll interval (below that, half the poll interval); with the tray,
//! latency independent of N.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iglive::instagram::{Client, ClientOptions, Session};
use iglive::sim::{self, Scenario, SimOptions};
use iglive::watch::{
    Accounts, Detector, DetectorOptions, MemorySeenStore, SchedulerConfig, TrayOptions,
    WatchedAccount,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The request budget, per simulated minute.
const BUDGET: u32 = 20;
/// Wanted interval between two polls of one account, simulated seconds.
const POLL: f64 = 60.0;
/// Reels tray interval, simulated seconds (4 of the 20 requests per minute).
const TRAY: f64 = 15.0;
/// Safety-net interval for accounts the tray covers, simulated seconds (stretched to fit).
const SAFETY_NET: f64 = 600.0;
const SEED: u64 = 20_261_125;
const FIRST_PK: u64 = 3_000_000;

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Feed,
    Tray,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Feed => "story feed",
            Path::Tray => "reels tray",
        }
    }
}

/// One measured run.
struct Outcome {
    n: usize,
    path: Path,
    speed: f64,
    max_per_minute: usize,
    mean_per_minute: f64,
    latencies: Vec<f64>,
    optimum: f64,
    real: Duration,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Most requests with arrival times in any window `[t, t + 60)`.
fn max_in_window(times: &mut [f64]) -> usize {
    times.sort_by(f64::total_cmp);
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= 60.0 {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Accounts, their start times and the scenario, built from the seed.
fn scenario(n: usize, path: Path, spread: f64, duration: f64) -> (String, HashMap<String, f64>) {
    let mut rng = StdRng::seed_from_u64(SEED ^ n as u64 ^ (path == Path::Tray) as u64);
    let mut toml = format!("seed = {SEED}\n");
    let mut starts = HashMap::new();
    for i in 0..n as u64 {
        let pk = FIRST_PK + i;
        toml.push_str(&format!(
            "[[accounts]]\npk = {pk}\nusername = \"bench{i}\"\nfollowed = {}\n",
            path == Path::Tray
        ));
    }
    for i in 0..n as u64 {
        let pk = FIRST_PK + i;
        let start = (rng.gen::<f64>() * spread * 10.0).round() / 10.0;
        starts.insert(pk.to_string(), start);
        // Long, unjittered segments sharing one base clip: one tiny encode for every broadcast.
        toml.push_str(&format!(
            "[[broadcasts]]\nid = {}\nowner = {pk}\nstart = {start}\nduration = {duration}\n\
             [broadcasts.segments]\nduration_ms = 10000\njitter_ms = 0\noutlier_probability = 0.0\n\
             base_segments = 1\n",
            17_950_000_000_000_000 + i
        ));
    }
    (toml, starts)
}

async fn run(n: usize, path: Path) -> Outcome {
    let budget = f64::from(BUDGET);
    // Per-account polling: a full round takes max(POLL, N/R minutes); lives start over one
    // round and last two, so every one is found while live.
    let round = POLL.max(60.0 * n as f64 / budget);
    let (spread, duration, optimum, speed) = match path {
        Path::Feed => (
            round,
            2.0 * round + 120.0,
            round / 2.0,
            // Fast enough for a short run, slow enough that a few ms of real scheduling noise
            // stays well below the 3 s between two requests.
            match n {
                0..=10 => 20.0,
                11..=100 => 50.0,
                _ => 250.0,
            },
        ),
        Path::Tray => (600.0, 120.0, TRAY / 2.0, 60.0),
    };
    let (toml, starts) = scenario(n, path, spread, duration);
    let scenario = Scenario::from_toml_str(&toml).expect("scenario");
    let handle = sim::start(
        scenario,
        SimOptions {
            speed,
            ..SimOptions::default()
        },
    )
    .await
    .expect("simulator starts");
    let real = |secs: f64| Duration::from_secs_f64(secs / speed);
    let session = Session::parse(&sim::session_json()).expect("session");
    let client = Client::new(
        handle.api_base_url(),
        session,
        ClientOptions {
            retry_base: real(1.0),
            retry_max: real(8.0),
            ..ClientOptions::default()
        },
    )
    .expect("client");
    let accounts = Accounts::new(starts.keys().map(|pk| WatchedAccount {
        in_tray: path == Path::Tray,
        ..WatchedAccount::new(pk.clone())
    }));
    let options = DetectorOptions {
        scheduler: SchedulerConfig {
            poll_interval: real(POLL),
            max_requests_per_minute: BUDGET,
            jitter: 0.1,
            window: real(60.0),
        },
        tray: (path == Path::Tray).then(|| TrayOptions {
            interval: real(TRAY),
            covered_poll_interval: Some(real(SAFETY_NET)),
        }),
        seed: Some(SEED),
    };
    let (tx, mut rx) = mpsc::channel(4096);
    let cancel = CancellationToken::new();
    let detector = Detector::new(options, Arc::new(MemorySeenStore::default()));
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move { detector.run(client, accounts, tx, cancel).await })
    };
    let started = Instant::now();
    // Every live is over by `spread + duration`: stop then at the latest.
    let end = spread + duration;
    let deadline = started + real(end) + Duration::from_secs(30);
    let mut latencies = Vec::with_capacity(n);
    while latencies.len() < n && handle.now() < end {
        let wait = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(event)) = tokio::time::timeout(wait, rx.recv()).await else {
            break;
        };
        let at = handle.now();
        if let Some(start) = starts.get(&event.user_id) {
            latencies.push(at - start);
        }
    }
    let elapsed_sim = handle.now();
    cancel.cancel();
    match task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("detector stopped: {e}"),
        Err(e) => eprintln!("detector task failed: {e}"),
    }
    let mut times: Vec<f64> = handle
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
        .map(|r| r.at)
        .collect();
    let mean_per_minute = times.len() as f64 / (elapsed_sim / 60.0);
    let max_per_minute = max_in_window(&mut times);
    handle.shutdown().await;
    latencies.sort_by(f64::total_cmp);
    Outcome {
        n,
        path,
        speed,
        max_per_minute,
        mean_per_minute,
        latencies,
        optimum,
        real: started.elapsed(),
    }
}

fn fmt_secs(s: f64) -> String {
    if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let total = Instant::now();
    let mut rows = Vec::new();
    for path in [Path::Feed, Path::Tray] {
        for n in [10usize, 100, 1000] {
            let o = rt.block_on(run(n, path));
            eprintln!(
                "{} N={}: {} of {} lives detected in {:.1} s real (clock ×{})",
                o.path.name(),
                o.n,
                o.latencies.len(),
                o.n,
                o.real.as_secs_f64(),
                o.speed
            );
            rows.push(o);
        }
    }
    println!("\nDetection benchmark: budget R = {BUDGET} requests/min, poll interval {POLL} s, tray every {TRAY} s (safety net {SAFETY_NET} s), seed {SEED}.");
    println!("Times are simulated; the simulator runs at the clock speed shown.\n");
    println!("| N | path | detected | max req/min (any 60 s) | mean req/min | mean latency | p95 latency | optimum mean | mean / optimum | clock | real time |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for o in &rows {
        let mean = o.latencies.iter().sum::<f64>() / o.latencies.len().max(1) as f64;
        println!(
            "| {} | {} | {}/{} | {}{} | {:.1} | {} | {} | {} | {:.3} | ×{} | {:.1} s |",
            o.n,
            o.path.name(),
            o.latencies.len(),
            o.n,
            o.max_per_minute,
            if o.max_per_minute > BUDGET as usize {
                " (OVER)"
            } else {
                ""
            },
            o.mean_per_minute,
            fmt_secs(mean),
            fmt_secs(percentile(&o.latencies, 0.95)),
            fmt_secs(o.optimum),
            mean / o.optimum,
            o.speed,
            o.real.as_secs_f64(),
        );
    }
    println!(
        "\nOptimum: story feed max(poll interval, N/R min) / 2 (round-robin); reels tray: tray interval / 2."
    );
    println!("Command: cargo bench --bench watch   (or scripts/bench-watch)");
    println!("Total run time: {:.0} s", total.elapsed().as_secs_f64());
}
