//! The replay page in a real browser: headless Chromium opens
//! `index.html` from disk at `#t=30`, the page seeks the video there and shows exactly the
//! comments up to 0:30 (`document.body.dataset.shownComments`); a screenshot is kept as
//! `target/test-artifacts/replay.png`. Skipped, saying so, where no Chromium is installed
//! (`scripts/ensure-chromium` installs it; `.ci/run` calls it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iglive::query::CommentExport;
use iglive::{Point, RecordingFacts, RecordingState};

const SEEK_TO: f64 = 30.0;
const VIDEO_SECONDS: u32 = 60;

fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("IGLIVE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs `cmd` to completion, killing it after `limit`.
fn run_bounded(mut cmd: Command, limit: Duration) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("stdout");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let mut child = cmd
        .stdout(out)
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("start the browser");
    let deadline = Instant::now() + limit;
    let ok = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (ok, std::fs::read_to_string(&out_path).unwrap_or_default())
}

fn chromium(browser: &Path, profile: &Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-file-access-from-files",
        "--virtual-time-budget=15000",
        "--window-size=1280,1000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn attr<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let start = dom.find(&key)? + key.len();
    dom[start..].split('"').next()
}

fn facts() -> RecordingFacts {
    let comments = (0..40)
        .map(|i| {
            let offset = 1.0 + i as f64 * 1.5;
            CommentExport {
                pk: format!("{}", 1000 + i),
                user_id: Some("42".into()),
                username: Some(format!("viewer{i}")),
                text: if i % 5 == 0 {
                    format!("<img src=x onerror=\"document.title='pwned'\"> #{i}")
                } else {
                    format!("comment {i} 🔥")
                },
                created_at: 1_700_000_000.0 + offset,
                offset_s: Some(offset),
            }
        })
        .collect();
    RecordingFacts {
        broadcast_id: "17900000000000123".into(),
        user_id: "42".into(),
        username: Some("browser.test".into()),
        full_name: Some("Browser Test".into()),
        published_time: Some(1_700_000_000.0),
        ended_at: Some(1_700_000_060.0),
        final_status: Some("stopped".into()),
        state: RecordingState::Finished,
        video: Some("video.mp4".into()),
        duration_s: Some(VIDEO_SECONDS as f64),
        comments,
        viewers: (0..=12)
            .map(|i| Point {
                offset_s: i as f64 * 5.0,
                value: 10.0 + i as f64 * 7.0,
            })
            .collect(),
        likes: (0..=12)
            .map(|i| Point {
                offset_s: i as f64 * 5.0,
                value: (i * i * 10) as f64,
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn replay_page_follows_the_video_in_chromium() {
    let Some(browser) = find_browser() else {
        eprintln!(
            "SKIPPED replay_page_follows_the_video_in_chromium: no chromium on PATH \
             (run scripts/ensure-chromium, or set IGLIVE_CHROMIUM)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("replay");
    let f = facts();
    iglive::write_artifacts(&folder, &f).expect("artifacts");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc=size=320x240:rate=10:duration={VIDEO_SECONDS}"
        ))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ])
        .arg(folder.join("video.mp4"))
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made the test video");

    let url = format!("file://{}#t={SEEK_TO}", folder.join("index.html").display());
    let profile = dir.path().join("profile");
    let mut cmd = chromium(&browser, &profile);
    cmd.arg("--dump-dom").arg(&url);
    let (ok, dom) = run_bounded(cmd, Duration::from_secs(120));
    assert!(ok, "chromium --dump-dom failed");
    let expected = f
        .comments
        .iter()
        .filter(|c| c.offset_s.unwrap_or(0.0) <= SEEK_TO)
        .count();
    assert!(expected > 0 && expected < f.comments.len());
    let shown: usize = attr(&dom, "data-shown-comments")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "the page reports shownComments: {}",
                &dom[..dom.len().min(2000)]
            )
        });
    assert_eq!(shown, expected, "comments up to 0:30 are shown");
    assert_eq!(
        attr(&dom, "data-video-ready"),
        Some("true"),
        "the video loaded"
    );
    let at: f64 = attr(&dom, "data-current-time")
        .and_then(|v| v.parse().ok())
        .expect("current time");
    assert!(
        (SEEK_TO - 0.5..SEEK_TO + 15.0).contains(&at),
        "the video was seeked to 0:30 (now at {at})"
    );
    // Hostile comments stay text: the page's DOM holds them escaped, no <img> was created.
    assert!(!dom.contains("<img"), "a comment became markup");
    assert!(
        dom.contains("&lt;img src=x"),
        "the hostile comment is shown as text"
    );
    assert!(!dom.contains("<title>pwned"));

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let shot = artifacts.join("replay.png");
    let _ = std::fs::remove_file(&shot);
    let mut cmd = chromium(&browser, &dir.path().join("profile2"));
    cmd.arg(format!("--screenshot={}", shot.display()))
        .arg(&url);
    let (ok, _) = run_bounded(cmd, Duration::from_secs(120));
    assert!(ok, "chromium --screenshot failed");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
}
