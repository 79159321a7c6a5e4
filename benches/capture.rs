//! Capture benchmark: iglive's native engine against streamlink and plain ffmpeg on the same
//! simulated broadcast, each started 30 s after the broadcast began, clean and under faults;
//! then iglive alone with 1 and 20 concurrent broadcasts, and the finalization time of a
//! one-hour broadcast. Prints a markdown table.
//!
//! Run: `scripts/bench-capture` (or `cargo bench --bench capture`; `QUICK=1` shortens
//! everything to check the machinery). Each tool runs as its own process under
//! `/usr/bin/time -v` for CPU seconds and peak RSS; the simulator runs in this process.
//! Completeness is the ffprobe duration of each tool's output over the published duration.

#[path = "support/common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iglive::probe;
use iglive::sim::{self, Scenario, SimHandle, SimOptions};
use iglive::{finalize_capture, MuxTags};
use iglive::{run_native_capture, CaptureOptions};
use iglive::{CaptureControl, CaptureProgress, CaptureRequest};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = common::runtime();
    // `cargo bench` passes `--bench`; the worker mode is `capture-worker <dir> <url>…`.
    if let Some(i) = args.iter().position(|a| a == "capture-worker") {
        let dir = PathBuf::from(&args[i + 1]);
        let urls: Vec<String> = args[i + 2..].to_vec();
        rt.block_on(worker(&dir, &urls));
        return;
    }
    // `serve-sim`: one clean broadcast for trying a tool by hand.
    if args.iter().any(|a| a == "serve-sim") {
        rt.block_on(async {
            let h = start(scenario(1, -30.0, 600.0, "", 6.0), 1.0).await;
            println!("{}", urls(&h).remove(0));
            tokio::time::sleep(Duration::from_secs(600)).await;
        });
        return;
    }
    rt.block_on(orchestrate());
}

/// Captures every URL concurrently with the engine's default options until each ends.
async fn worker(dir: &Path, urls: &[String]) {
    let mut tasks = Vec::new();
    for (i, u) in urls.iter().enumerate() {
        let req = CaptureRequest {
            broadcast_id: format!("bench-{i}"),
            mpd_url: url::Url::parse(u).expect("url"),
            segments_dir: dir.join(format!("b{i}")),
            rewind: true,
            max_height: None,
            on_segment: None,
        };
        let (tx, _rx) = tokio::sync::watch::channel(CaptureProgress::default());
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        tasks.push(tokio::spawn(run_native_capture(
            req,
            http,
            CaptureControl::default(),
            tx,
            CaptureOptions::default(),
        )));
    }
    for t in tasks {
        let exit = t.await.expect("capture task");
        eprintln!("capture exit: {exit:?}");
    }
}

struct Settings {
    /// Broadcast length in seconds (the tools start 30 s in).
    duration: f64,
    concurrent: usize,
    long: f64,
}

fn settings() -> Settings {
    if std::env::var_os("QUICK").is_some() {
        Settings {
            duration: 50.0,
            concurrent: 5,
            long: 300.0,
        }
    } else {
        Settings {
            duration: 120.0,
            concurrent: 20,
            long: 3600.0,
        }
    }
}

fn scenario(n: usize, start: f64, duration: f64, faults: &str, removed_after: f64) -> Scenario {
    let mut toml = String::from("seed = 9\n[[accounts]]\npk = 1001\nusername = \"host\"\n");
    for i in 0..n {
        toml.push_str(&format!(
            "[[broadcasts]]\nid = {}\nowner = 1001\nstart = {start}\nduration = {duration}\nperiod_removed_after = {removed_after}\ngone_after = 100000.0\n",
            17_900_000_000_001_000u64 + i as u64
        ));
    }
    toml.push_str(faults);
    Scenario::from_toml_str(&toml).expect("bench scenario")
}

const FAULTS: &str = r#"
[[faults]]
kind = "server_error"
from = 35.0
to = 55.0
path = "segments"
probability = 0.3
[[faults]]
kind = "reset"
from = 40.0
to = 50.0
probability = 0.2
[[faults]]
kind = "manifest_outage"
from = 60.0
to = 80.0
"#;

async fn start(s: Scenario, speed: f64) -> SimHandle {
    sim::start(
        s,
        SimOptions {
            speed,
            ..SimOptions::default()
        },
    )
    .await
    .expect("simulator")
}

fn urls(h: &SimHandle) -> Vec<String> {
    h.truth()
        .broadcasts
        .iter()
        .map(|b| {
            h.base_url()
                .join(b.manifest_path.trim_start_matches('/'))
                .expect("url")
                .to_string()
        })
        .collect()
}

/// Published seconds of broadcast `i`.
fn published(h: &SimHandle, i: usize) -> f64 {
    h.truth().broadcasts[i]
        .segments
        .iter()
        .map(|s| s.d as f64 / 1000.0)
        .sum()
}

/// A process under `/usr/bin/time -v`.
struct Timed {
    name: String,
    child: Child,
    time_file: PathBuf,
    output: PathBuf,
}

fn timed(name: &str, work: &Path, output: PathBuf, cmd: &[String]) -> Timed {
    let time_file = work.join(format!("{name}.time"));
    let log = std::fs::File::create(work.join(format!("{name}.log"))).expect("log file");
    let child = Command::new("/usr/bin/time")
        .arg("-v")
        .arg("-o")
        .arg(&time_file)
        .args(cmd)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("/usr/bin/time runs");
    Timed {
        name: name.into(),
        child,
        time_file,
        output,
    }
}

/// Waits for the process until `deadline`, then stops it (SIGINT, then kill). True when
/// it ended by itself.
async fn finish(t: &mut Timed, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if let Ok(Some(_)) = t.child.try_wait() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // GNU time does not forward signals: stop the tool it runs (its own child) by pid.
    signal_children(t.child.id(), nix::sys::signal::Signal::SIGINT);
    let grace = Instant::now() + Duration::from_secs(10);
    while Instant::now() < grace {
        if let Ok(Some(_)) = t.child.try_wait() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    signal_children(t.child.id(), nix::sys::signal::Signal::SIGKILL);
    let _ = t.child.wait();
    false
}

/// Signals the direct children of `pid` (a process this bench started), found in `/proc`.
fn signal_children(pid: u32, sig: nix::sys::signal::Signal) {
    let list =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for c in list
        .split_whitespace()
        .filter_map(|c| c.parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c), sig);
    }
}

/// `(cpu seconds, peak RSS MiB)` from `/usr/bin/time -v`.
fn usage(time_file: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(time_file).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = field("User time (seconds):") + field("System time (seconds):");
    let rss = field("Maximum resident set size (kbytes):") / 1024.0;
    (cpu, rss)
}

/// Duration of a third-party output as a user would get it: remuxed to MP4 (a stopped
/// streamlink leaves a Matroska file without a duration header).
async fn duration_of(path: &Path) -> f64 {
    let mp4 = path.with_extension("remux.mp4");
    let ok = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(path)
        .args(["-c", "copy", "-f", "mp4"])
        .arg(&mp4)
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !ok {
        return 0.0;
    }
    probe(&mp4, Duration::from_secs(60))
        .await
        .map(|p| p.duration_s)
        .unwrap_or(0.0)
}

struct Row {
    case: String,
    tool: String,
    complete: String,
    cpu: f64,
    rss: f64,
    note: String,
}

/// The three tools on one broadcast started 30 s after its beginning.
async fn compare(label: &str, faults: &str, s: &Settings, work: &Path, rows: &mut Vec<Row>) {
    let h = start(scenario(1, -30.0, s.duration, faults, 6.0), 1.0).await;
    let url = urls(&h).remove(0);
    let me = std::env::current_exe().expect("own path");
    let dir = work.join(label);
    std::fs::create_dir_all(&dir).expect("work dir");
    let iglive_dir = dir.join("iglive");
    let mut procs = vec![
        timed(
            "iglive",
            &dir,
            iglive_dir.clone(),
            &[
                me.display().to_string(),
                "capture-worker".into(),
                iglive_dir.display().to_string(),
                url.clone(),
            ],
        ),
        timed(
            "streamlink",
            &dir,
            dir.join("streamlink.ts"),
            &[
                "streamlink".into(),
                "--force".into(),
                "-o".into(),
                dir.join("streamlink.ts").display().to_string(),
                format!("dash://{url}"),
                "best".into(),
            ],
        ),
        timed(
            "ffmpeg",
            &dir,
            dir.join("ffmpeg.ts"),
            &[
                "ffmpeg".into(),
                "-nostdin".into(),
                "-y".into(),
                "-i".into(),
                url.clone(),
                "-c".into(),
                "copy".into(),
                "-f".into(),
                "mpegts".into(),
                dir.join("ffmpeg.ts").display().to_string(),
            ],
        ),
    ];
    // The broadcast has `duration - 30` s left; allow a minute after its end.
    let deadline = Instant::now() + Duration::from_secs_f64(s.duration - 30.0 + 60.0);
    let mut ended_alone = Vec::new();
    for p in &mut procs {
        ended_alone.push(finish(p, deadline).await);
    }
    let published = published(&h, 0);
    for (p, alone) in procs.iter().zip(ended_alone) {
        let (cpu, rss) = usage(&p.time_file);
        let stop = if alone { "" } else { "had to be stopped" };
        let (got, note) = if p.name == "iglive" {
            let out = dir.join("iglive-out");
            let seg = p.output.join("b0");
            match finalize_capture(&seg, &out, &MuxTags::default(), true).await {
                Ok(r) => (r.duration_s, stop.to_string()),
                Err(e) => (0.0, format!("{stop} {e}").trim().to_string()),
            }
        } else {
            (duration_of(&p.output).await, stop.to_string())
        };
        rows.push(Row {
            case: label.into(),
            tool: p.name.clone(),
            complete: format!(
                "{:.1}% ({got:.0}/{published:.0} s)",
                100.0 * got / published
            ),
            cpu,
            rss,
            note,
        });
    }
    h.shutdown().await;
}

async fn concurrent(n: usize, s: &Settings, work: &Path, rows: &mut Vec<Row>) {
    let h = start(scenario(n, -10.0, s.duration.min(90.0), "", 6.0), 1.0).await;
    let dir = work.join(format!("concurrent-{n}"));
    std::fs::create_dir_all(&dir).expect("work dir");
    let me = std::env::current_exe().expect("own path");
    let mut cmd = vec![
        me.display().to_string(),
        "capture-worker".into(),
        dir.join("cap").display().to_string(),
    ];
    cmd.extend(urls(&h));
    let mut p = timed("iglive", &dir, dir.join("cap"), &cmd);
    let deadline = Instant::now() + Duration::from_secs_f64(s.duration.min(90.0) + 60.0);
    finish(&mut p, deadline).await;
    let (cpu, rss) = usage(&p.time_file);
    let mut got = 0.0;
    let mut want = 0.0;
    for i in 0..n {
        want += published(&h, i);
        let seg = dir.join("cap").join(format!("b{i}"));
        if let Ok(r) = finalize_capture(
            &seg,
            &dir.join(format!("out{i}")),
            &MuxTags::default(),
            true,
        )
        .await
        {
            got += r.duration_s;
        }
    }
    rows.push(Row {
        case: format!("{n} concurrent"),
        tool: "iglive".into(),
        complete: format!("{:.1}% ({got:.0}/{want:.0} s)", 100.0 * got / want),
        cpu,
        rss,
        note: format!(
            "{:.2} CPU s per broadcast; {:.1} CPU s per stream-hour of media; {:.1} MiB RSS per stream",
            cpu / n as f64,
            cpu / (want / 3600.0).max(1e-9),
            rss / n as f64
        ),
    });
    h.shutdown().await;
}

/// Captures an ended one-hour broadcast by rewind, then times its finalization.
async fn long_finalize(s: &Settings, work: &Path, rows: &mut Vec<Row>) {
    let h = start(scenario(1, -(s.long + 5.0), s.long, "", 100_000.0), 1.0).await;
    let dir = work.join("long");
    let me = std::env::current_exe().expect("own path");
    let url = urls(&h).remove(0);
    let cmd = vec![
        me.display().to_string(),
        "capture-worker".into(),
        dir.join("cap").display().to_string(),
        url,
    ];
    std::fs::create_dir_all(&dir).expect("work dir");
    let mut p = timed("iglive", &dir, dir.join("cap"), &cmd);
    finish(&mut p, Instant::now() + Duration::from_secs(900)).await;
    let (cpu, rss) = usage(&p.time_file);
    let started = Instant::now();
    let result = finalize_capture(
        &dir.join("cap/b0"),
        &dir.join("out"),
        &MuxTags::default(),
        true,
    )
    .await;
    let took = started.elapsed().as_secs_f64();
    let want = published(&h, 0);
    let (got, note) = match result {
        Ok(r) => (
            r.duration_s,
            format!("finalize {took:.1} s ({:.0} MB)", r.bytes as f64 / 1e6),
        ),
        Err(e) => (0.0, format!("finalize failed after {took:.1} s: {e}")),
    };
    rows.push(Row {
        case: format!("{:.0} min ended, rewind", s.long / 60.0),
        tool: "iglive".into(),
        complete: format!("{:.1}% ({got:.0}/{want:.0} s)", 100.0 * got / want),
        cpu,
        rss,
        note,
    });
    h.shutdown().await;
}

async fn orchestrate() {
    let s = settings();
    let work = tempfile::tempdir().expect("tempdir");
    let mut rows = Vec::new();
    // Make sure the simulator's media cache is warm before anything is timed.
    drop(start(scenario(1, 0.0, 10.0, "", 6.0), 1.0).await);
    let (clean, faulty) = tokio::join!(
        async {
            let mut r = Vec::new();
            compare("clean", "", &s, work.path(), &mut r).await;
            r
        },
        async {
            let mut r = Vec::new();
            compare("faults", FAULTS, &s, work.path(), &mut r).await;
            r
        }
    );
    rows.extend(clean);
    rows.extend(faulty);
    concurrent(1, &s, work.path(), &mut rows).await;
    concurrent(s.concurrent, &s, work.path(), &mut rows).await;
    long_finalize(&s, work.path(), &mut rows).await;

    println!("| case | tool | completeness (captured/published) | CPU s | peak RSS MiB | notes |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.1} | {} |",
            r.case, r.tool, r.complete, r.cpu, r.rss, r.note
        );
    }
}
