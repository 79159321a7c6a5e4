//! Detection benchmark: the detector against the in-process simulator at high clock
//! speed, with 10, 100 and 1,000 watched accounts that go live at random (seeded) times (each
//! account several times when N is small, so every case measures at least ~200 lives), under
//! a budget of R = 20 requests per minute. For each N and each path (per-account
//! story polling; reels tray with a slow per-account safety net) it prints the highest number
//! of requests the simulator received in any 60 s of simulated time, and the mean and p95
//! detection latency (simulated time from the broadcast's start to the `LiveEvent`).
//!
//! Run: `cargo bench --bench watch` or `scripts/bench-watch`. Targets: never above R; with
//! per-account polling, mean latency within 10 % of the round-robin optimum N/(2R) minutes
//! once N/R exceeds the poll interval (below that, half the poll interval); with the tray,
//! latency independent of N.

#[path = "support/common.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iglive::sim::{self, Scenario, SimOptions};
use iglive::{
    Accounts, DetectionSource, Detector, DetectorOptions, MemorySeenStore, SchedulerConfig,
    TrayOptions, WatchedAccount,
};
use iglive::{Client, ClientOptions, Session};
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
    lives: usize,
    path: Path,
    speed: f64,
    max_per_minute: usize,
    mean_per_minute: f64,
    latencies: Vec<f64>,
    /// Lives first seen in the reels tray (the rest by story polls).
    via_tray: usize,
    /// Mean and largest gap between two tray requests, simulated seconds.
    tray_gaps: Option<(f64, f64)>,
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

/// When lives happen: each account goes live `lives` times; its k-th live starts at
/// `k × period + U(0, window)` and lasts `duration`, so lives of one account never overlap.
struct Plan {
    lives: usize,
    window: f64,
    duration: f64,
    period: f64,
    speed: f64,
    optimum: f64,
}

impl Plan {
    fn new(n: usize, path: Path) -> Plan {
        // At least ~200 lives per case, so the mean is measured to a few percent.
        let lives = (200 / n).max(1);
        match path {
            Path::Feed => {
                // Round robin: every account once per max(poll interval, N/R minutes). A live
                // lasts longer than the longest wait (a jittered round plus queueing).
                let round = POLL.max(60.0 * n as f64 / f64::from(BUDGET));
                let duration = 1.3 * round + 60.0;
                Plan {
                    lives,
                    window: round,
                    duration,
                    period: duration + round + 60.0,
                    // Fast enough for a short run, slow enough that real scheduling noise (a
                    // few ms) stays well below the 3 s between two requests.
                    speed: if n >= 1000 { 250.0 } else { 200.0 },
                    optimum: round / 2.0,
                }
            }
            Path::Tray => Plan {
                lives,
                window: if lives == 1 { 600.0 } else { 150.0 },
                duration: 120.0,
                period: if lives == 1 { 750.0 } else { 300.0 },
                speed: if lives >= 10 { 200.0 } else { 60.0 },
                optimum: TRAY / 2.0,
            },
        }
    }

    fn end(&self) -> f64 {
        (self.lives - 1) as f64 * self.period + self.window + self.duration
    }
}

/// The scenario and each broadcast's start, built from the seed.
fn scenario(n: usize, path: Path, plan: &Plan) -> (String, HashMap<String, f64>) {
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
    let mut id = 17_950_000_000_000_000u64;
    for i in 0..n as u64 {
        let pk = FIRST_PK + i;
        for k in 0..plan.lives {
            let offset = (rng.gen::<f64>() * plan.window * 10.0).round() / 10.0;
            let start = k as f64 * plan.period + offset;
            id += 1;
            starts.insert(id.to_string(), start);
            // Long, unjittered segments sharing one base clip: one tiny encode for all.
            toml.push_str(&format!(
                "[[broadcasts]]\nid = {id}\nowner = {pk}\nstart = {start}\nduration = {}\n\
                 [broadcasts.segments]\nduration_ms = 10000\njitter_ms = 0\n\
                 outlier_probability = 0.0\nbase_segments = 1\n",
                plan.duration
            ));
        }
    }
    (toml, starts)
}

async fn run(n: usize, path: Path) -> Outcome {
    let mut plan = Plan::new(n, path);
    // `IGLIVE_BENCH_SPEED=20` reruns at another clock speed, to tell real-time costs (they
    // grow with the speed) from scheduling (it does not).
    if let Some(speed) = std::env::var("IGLIVE_BENCH_SPEED")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
    {
        plan.speed = speed;
    }
    let (speed, optimum) = (plan.speed, plan.optimum);
    let (toml, starts) = scenario(n, path, &plan);
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
            // The session's budget, on the simulator's clock: detection alone spends it.
            max_requests_per_minute: BUDGET,
            budget_window: real(60.0),
            ..ClientOptions::default()
        },
    )
    .expect("client");
    let accounts = Accounts::new((0..n as u64).map(|i| WatchedAccount {
        in_tray: path == Path::Tray,
        ..WatchedAccount::new((FIRST_PK + i).to_string())
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
        budget: None,
    };
    let (tx, mut rx) = mpsc::channel(4096);
    let cancel = CancellationToken::new();
    let detector = Detector::new(options, Arc::new(MemorySeenStore::default()));
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move { detector.run(client, accounts, tx, cancel).await })
    };
    let started = Instant::now();
    // Every live is over by then: stop at the latest.
    let end = plan.end();
    let total = starts.len();
    let deadline = started + real(end) + Duration::from_secs(30);
    let mut latencies = Vec::with_capacity(total);
    let mut via_tray = 0;
    while latencies.len() < total && handle.now() < end {
        let wait = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(event)) = tokio::time::timeout(wait, rx.recv()).await else {
            break;
        };
        let at = handle.now();
        if let Some(start) = starts.get(&event.broadcast.id) {
            latencies.push(at - start);
            via_tray += usize::from(event.source == DetectionSource::ReelsTray);
        }
    }
    let elapsed_sim = handle.now();
    cancel.cancel();
    match task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("detector stopped: {e}"),
        Err(e) => eprintln!("detector task failed: {e}"),
    }
    let log = handle.requests();
    let tray: Vec<f64> = log
        .iter()
        .filter(|r| r.path.ends_with("/reels_tray/"))
        .map(|r| r.at)
        .collect();
    let gaps: Vec<f64> = tray.windows(2).map(|w| w[1] - w[0]).collect();
    let tray_gaps = (!gaps.is_empty()).then(|| {
        (
            gaps.iter().sum::<f64>() / gaps.len() as f64,
            gaps.iter().cloned().fold(0.0, f64::max),
        )
    });
    let mut times: Vec<f64> = log
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
        lives: total,
        path,
        speed,
        max_per_minute,
        mean_per_minute,
        latencies,
        via_tray,
        tray_gaps,
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
    let rt = common::runtime();
    let total = Instant::now();
    // Optional filters: `cargo bench --bench watch -- feed 1000` runs only those cases.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let ns: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let wanted_path = |p: Path| {
        let names = ["feed", "tray"];
        let any = args.iter().any(|a| names.contains(&a.as_str()));
        !any || args
            .iter()
            .any(|a| a == if p == Path::Feed { "feed" } else { "tray" })
    };
    let mut rows = Vec::new();
    for path in [Path::Feed, Path::Tray] {
        if !wanted_path(path) {
            continue;
        }
        for n in [10usize, 100, 1000] {
            if !ns.is_empty() && !ns.contains(&n) {
                continue;
            }
            let o = rt.block_on(run(n, path));
            eprintln!(
                "{} N={}: {} of {} lives detected ({} via the tray) in {:.1} s real (clock ×{}){}",
                o.path.name(),
                o.n,
                o.latencies.len(),
                o.lives,
                o.via_tray,
                o.real.as_secs_f64(),
                o.speed,
                o.tray_gaps
                    .map(|(mean, max)| format!(
                        "; tray every {mean:.1} s on average, at most {max:.1} s"
                    ))
                    .unwrap_or_default(),
            );
            rows.push(o);
        }
    }
    println!("\nDetection benchmark: budget R = {BUDGET} requests/min, poll interval {POLL} s, tray every {TRAY} s (safety net {SAFETY_NET} s), seed {SEED}.");
    println!("Times are simulated; the simulator runs at the clock speed shown.\n");
    println!("| N | path | lives detected | max req/min (any 60 s) | mean req/min | mean latency | p95 latency | optimum mean | mean / optimum | clock | real time |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for o in &rows {
        let mean = o.latencies.iter().sum::<f64>() / o.latencies.len().max(1) as f64;
        println!(
            "| {} | {} | {}/{} | {}{} | {:.1} | {} | {} | {} | {:.3} | ×{} | {:.1} s |",
            o.n,
            o.path.name(),
            o.latencies.len(),
            o.lives,
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
