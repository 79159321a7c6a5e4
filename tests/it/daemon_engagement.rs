//! Engagement: the daemon against the simulator, the database compared with what the
//! simulator published — every comment exactly once (a 200-comment burst sharing one second,
//! comments published while the daemon was down), samples at the configured cadence, cursors
//! surviving a restart.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::daemon::{wait_until, Harness};

const ID: &str = "17900000000000777";

fn scenario(duration: f64) -> String {
    format!(
        r#"
seed = 7
comment_page_cap = 50

[[accounts]]
pk = 5001
username = "chatty.host"
full_name = "Chatty Host"
followed = true

[[broadcasts]]
id = {ID}
owner = 5001
start = 1.0
duration = {duration}
end_status = "stopped"
post_live_after = 2.0
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 6 }}
likes = [[0.0, 0.0], [{duration}, 3000.0]]
viewers = [[0.0, 5.0], [{duration}, 500.0]]

[[broadcasts.comments]]
at = 20.0
count = 200
text = "burst {{n}} 🔥"

[[broadcasts.comments]]
at = 25.0
text = "<script>alert(1)</script> --> مرحبا"

[[broadcasts.comment_streams]]
from = 2.0
to = {end}
per_second = 1.0
texts = ["nice", "❤️", "hello"]
"#,
        end = duration - 2.0
    )
}

const CONFIG: &str = r#"
[recording]
heartbeat_interval = "500ms"
comments_interval = "300ms"
likes_interval = "500ms"
interrupted_grace = "5s"

[[accounts]]
user_id = "5001"
"#;

fn stored_pks(h: &Harness) -> Vec<String> {
    h.stored_comment_pks(ID)
}

fn truth_pks(h: &Harness) -> BTreeSet<String> {
    h.truth_comment_pks(ID)
}

fn done(h: &Harness) -> bool {
    matches!(h.state(ID).as_deref(), Some("finished") | Some("failed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_comment_once_and_samples_at_cadence() {
    let h = Harness::start(&scenario(90.0), 10.0, CONFIG).await;
    let d = h.run_daemon();
    wait_until("the recording ends", Duration::from_secs(90), || done(&h)).await;
    d.stop().await;

    let stored = stored_pks(&h);
    let unique: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), unique.len(), "no comment stored twice");
    let truth = truth_pks(&h);
    assert!(
        truth.len() > 250,
        "scenario published {} comments",
        truth.len()
    );
    let missing: Vec<_> = truth.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "{} comments missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    // Nine real seconds of broadcast, a heartbeat every 0.5 s and likes every 0.5 s.
    let viewers = h.count(
        "SELECT count(*) FROM viewer_samples WHERE broadcast_id = ?1",
        ID,
    );
    let likes = h.count(
        "SELECT count(*) FROM like_samples WHERE broadcast_id = ?1 AND source = 'live'",
        ID,
    );
    assert!(viewers >= 8, "only {viewers} viewer samples");
    assert!(likes >= 8, "only {likes} like samples");
    let max_viewers = h.count(
        "SELECT CAST(max(viewer_count) AS INTEGER) FROM viewer_samples WHERE broadcast_id = ?1",
        ID,
    );
    assert!(
        max_viewers > 100,
        "viewer counts follow the curve: max {max_viewers}"
    );
    // The raw JSON of every comment is kept.
    let raw_ok = h.count(
        "SELECT count(*) FROM comments WHERE broadcast_id = ?1 AND json_valid(raw_json) AND json_extract(raw_json, '$.pk') = pk",
        ID,
    );
    assert_eq!(raw_ok as usize, stored.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_cursors_and_recovers_missed_comments() {
    let h = Harness::start(&scenario(120.0), 10.0, CONFIG).await;
    let d = h.run_daemon();
    wait_until("some comments stored", Duration::from_secs(60), || {
        h.count("SELECT count(*) FROM comments WHERE broadcast_id = ?1", ID) > 50
    })
    .await;
    // A crash mid-broadcast, like kill -9: nothing is finalized.
    d.crash().await;
    let cursor: f64 = {
        let conn = h.store().connect().expect("connect");
        iglive::query::cursor(&conn, ID, "last_comment_ts")
            .expect("query")
            .expect("cursor persisted")
            .parse()
            .expect("number")
    };
    assert!(cursor > 0.0);
    let before = h.sim.requests().len();

    // Back while still live: the comments poller continues from its cursor.
    let d = h.run_daemon();
    wait_until(
        "the comments poller resumed",
        Duration::from_secs(30),
        || {
            h.sim.requests()[before..]
                .iter()
                .any(|r| r.path.ends_with("/get_comment/"))
        },
    )
    .await;
    let first = h.sim.requests()[before..]
        .iter()
        .find(|r| r.path.ends_with("/get_comment/"))
        .and_then(|r| r.query.clone())
        .expect("a get_comment request");
    let sent: f64 = first
        .split('&')
        .find_map(|kv| kv.strip_prefix("last_comment_ts="))
        .and_then(|v| v.parse().ok())
        .expect("last_comment_ts sent");
    assert!(
        sent >= cursor,
        "resumed at {sent}, persisted cursor {cursor}"
    );
    // Down again for a while, back only after the broadcast ended: the post-live data fills in.
    d.crash().await;
    let end_sim = 1.0 + 120.0 + 3.0;
    wait_until(
        "the broadcast ended in the simulator",
        Duration::from_secs(60),
        || h.sim.now() > end_sim,
    )
    .await;
    let d = h.run_daemon();
    wait_until("recovery finalizes", Duration::from_secs(60), || done(&h)).await;
    // The post-live merge runs after finalizing, in the background.
    wait_until("the post-live merge lands", Duration::from_secs(60), || {
        h.count(
            "SELECT count(*) FROM recordings WHERE broadcast_id = ?1 AND merge_state = 'done'",
            ID,
        ) == 1
    })
    .await;
    d.stop().await;
    let stored = stored_pks(&h);
    let unique: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), unique.len(), "no comment stored twice");
    let truth = truth_pks(&h);
    let missing: Vec<_> = truth.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "{} comments missing after recovery",
        missing.len()
    );
    let post_live = h.count(
        "SELECT count(*) FROM comments WHERE broadcast_id = ?1 AND source = 'post_live'",
        ID,
    );
    assert!(
        post_live > 0,
        "comments published while down came from post-live data"
    );
}
