//! The daemon's lifecycle through the real binary: SIGTERM mid-broadcast, SIGKILL at random
//! moments followed by a restart, interrupted-then-resumed broadcasts, each end signal
//! finalizing exactly once, and a full disk.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::daemon::{wait_until, Harness};
use iglive::probe;
use nix::sys::signal::Signal;
use rand::{Rng, SeedableRng};

fn scenario(id: &str, start: f64, duration: f64, extra: &str) -> String {
    scenario_ending(id, start, duration, extra, "stopped", 1.0)
}

fn scenario_ending(
    id: &str,
    start: f64,
    duration: f64,
    extra: &str,
    end: &str,
    post_live_after: f64,
) -> String {
    format!(
        r#"
seed = 11
comment_page_cap = 50

[[accounts]]
pk = 6001
username = "life.cycle"
followed = true

[[broadcasts]]
id = {id}
owner = 6001
start = {start}
duration = {duration}
end_status = "{end_status}"
post_live_after = {post_live_after}
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 6 }}
likes = [[0.0, 0.0], [{duration}, 100.0]]
viewers = [[0.0, 5.0], [{duration}, 50.0]]
{extra}

[[broadcasts.comment_streams]]
from = {start}
to = {end}
per_second = 2.0
texts = ["hi", "🔥"]
"#,
        end = start + duration - 1.0,
        end_status = end,
    )
}

const CONFIG: &str = r#"
[recording]
heartbeat_interval = "300ms"
comments_interval = "300ms"
likes_interval = "500ms"
interrupted_grace = "30s"

[[accounts]]
user_id = "6001"
"#;

fn recording_facts(h: &Harness, id: &str) -> Option<(String, Option<String>, Option<String>)> {
    let conn = h.store().connect().ok()?;
    conn.query_row(
        "SELECT state, video, error FROM recordings WHERE broadcast_id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .ok()
}

fn finished(h: &Harness, id: &str) -> bool {
    matches!(recording_facts(h, id), Some((s, _, _)) if s == "finished" || s == "failed")
}

fn published_duration(h: &Harness, id: &str) -> f64 {
    let t = h.sim.truth();
    let b = t.broadcasts.iter().find(|b| b.id == id).expect("truth");
    b.segments.iter().map(|s| s.d).sum::<u64>() as f64 / 1000.0
}

fn comment_pks(h: &Harness, id: &str) -> (usize, usize) {
    let conn = h.store().connect().expect("connect");
    let mut stmt = conn
        .prepare("SELECT pk FROM comments WHERE broadcast_id = ?1")
        .expect("prepare");
    let pks: Vec<String> = stmt
        .query_map([id], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let unique: BTreeSet<_> = pks.iter().collect();
    (pks.len(), unique.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_broadcast_exits_0_with_a_playable_partial_video() {
    let id = "17900000000000901";
    let h = Harness::start(&scenario(id, 1.0, 600.0, ""), 10.0, CONFIG).await;
    let mut p = h.spawn_binary(0);
    wait_until(
        "segments are being captured",
        Duration::from_secs(60),
        || {
            h.count(
            "SELECT coalesce(max(segments_captured), 0) FROM recordings WHERE broadcast_id = ?1",
            id,
        ) >= 5
        },
    )
    .await;
    p.signal(Signal::SIGTERM);
    let status = p
        .wait(Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("iglive did not exit after SIGTERM:\n{}", p.log_text()));
    assert!(status.success(), "exit status {status}:\n{}", p.log_text());
    let (state, video, error) = recording_facts(&h, id).expect("recording row");
    assert_eq!(state, "finished", "error: {error:?}\n{}", p.log_text());
    let video = video.expect("video path");
    let p = probe(std::path::Path::new(&video), Duration::from_secs(30))
        .await
        .expect("ffprobe reads the video");
    let (duration, streams) = (p.duration_s, p.streams());
    assert_eq!(streams, 2);
    assert!(duration > 5.0, "partial video of {duration} s");
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(&video).with_file_name("broadcast.json"))
            .expect("broadcast.json"),
    )
    .expect("json");
    assert_eq!(doc["recording"]["cut_by_shutdown"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_then_restart_gives_complete_recordings() {
    let trials: u64 = std::env::var("IGLIVE_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1611e);
    for trial in 0..trials {
        let id = format!("1790000000001{trial:04}");
        let h = Harness::start(&scenario(&id, 0.5, 40.0, ""), 10.0, CONFIG).await;
        let p = h.spawn_binary(0);
        // Somewhere between detection and well after the end (finalization included).
        let kill_after = Duration::from_millis(rng.gen_range(200..6000));
        tokio::time::sleep(kill_after).await; // the moment of the crash, not synchronization
        let first_log = p.log_text();
        p.kill9();
        let mut p = h.spawn_binary(1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        while !finished(&h, &id) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "trial {trial} (kill after {kill_after:?}): not finished after 90 s\nfirst run:\n{first_log}\nsecond run:\n{}",
                p.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (state, video, error) = recording_facts(&h, &id).expect("row");
        assert_eq!(
            state,
            "finished",
            "trial {trial} (kill after {kill_after:?}): {error:?}\n{}",
            p.log_text()
        );
        let probed = probe(
            std::path::Path::new(&video.expect("video")),
            Duration::from_secs(30),
        )
        .await
        .expect("playable");
        let (duration, streams) = (probed.duration_s, probed.streams());
        assert_eq!(
            streams,
            2,
            "trial {trial} (kill after {kill_after:?})\nfirst run:\n{}\nsecond run:\n{}",
            first_log,
            p.log_text()
        );
        let published = published_duration(&h, &id);
        assert!(
            (duration - published).abs() <= 2.5,
            "trial {trial} (kill after {kill_after:?}): {duration} s recorded of {published} s published"
        );
        let (n, unique) = comment_pks(&h, &id);
        assert_eq!(n, unique, "trial {trial}: duplicated comments");
        p.signal(Signal::SIGTERM);
        assert!(p.wait(Duration::from_secs(30)).await.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_then_resumed_is_one_recording_and_each_end_signal_finalizes_once() {
    let id = "17900000000000902";
    let extra = "interruptions = [{ from = 10.0, to = 30.0 }]";
    let h = Harness::start(&scenario(id, 0.5, 60.0, extra), 10.0, CONFIG).await;
    let mut p = h.spawn_binary(0);
    wait_until("finished", Duration::from_secs(90), || finished(&h, id)).await;
    let (state, video, error) = recording_facts(&h, id).expect("row");
    assert_eq!(state, "finished", "{error:?}\n{}", p.log_text());
    assert_eq!(
        h.count(
            "SELECT count(*) FROM recordings WHERE broadcast_id = ?1",
            id
        ),
        1
    );
    let statuses = h.count(
        "SELECT count(*) FROM broadcast_status WHERE broadcast_id = ?1 AND status = 'interrupted'",
        id,
    );
    assert!(statuses >= 1, "the interruption was seen");
    assert!(probe(
        std::path::Path::new(&video.expect("video")),
        Duration::from_secs(30)
    )
    .await
    .is_ok());
    let log = p.log_text();
    assert_eq!(
        log.lines()
            .filter(
                |l| l.contains(&format!("broadcast_id={id}")) && l.contains("the broadcast ended")
            )
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.lines()
            .filter(|l| l.contains(&format!("broadcast_id={id}")) && l.contains("}: finished:"))
            .count(),
        1,
        "{log}"
    );
    p.signal(Signal::SIGTERM);
    assert!(p
        .wait(Duration::from_secs(30))
        .await
        .is_some_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_stop_finalizes_once() {
    let id = "17900000000000903";
    let h = Harness::start(
        &scenario_ending(id, 0.5, 30.0, "", "hard_stop", 30.0),
        10.0,
        CONFIG,
    )
    .await;
    let mut p = h.spawn_binary(0);
    wait_until("finished", Duration::from_secs(60), || finished(&h, id)).await;
    let (state, _, error) = recording_facts(&h, id).expect("row");
    assert_eq!(state, "finished", "{error:?}");
    let log = p.log_text();
    assert_eq!(
        log.lines()
            .filter(
                |l| l.contains(&format!("broadcast_id={id}")) && l.contains("the broadcast ended")
            )
            .count(),
        1,
        "{log}"
    );
    let conn = h.store().connect().expect("connect");
    let reason: String = conn
        .query_row(
            "SELECT end_reason FROM broadcasts WHERE broadcast_id = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("reason");
    assert!(
        reason.contains("hard_stop") || reason.contains("signalled its end"),
        "{reason}"
    );
    p.signal(Signal::SIGTERM);
    assert!(p
        .wait(Duration::from_secs(30))
        .await
        .is_some_and(|s| s.success()));
}
