//! Push at the daemon level: a session with `push = true` holds an FBNS connection to the
//! simulator's broker (real TLS on loopback); a `live_broadcast` about a watched host, or a
//! `live_with_broadcast` naming a watched guest, is confirmed with `live/{id}/info/` and
//! recorded long before polling could have found it; a push about an account nobody watches
//! is dropped without a request.

use std::time::Duration;

use crate::support::daemon::{wait_until, Harness};

const SPEED: f64 = 10.0;
const HOST_LIVE: &str = "17900000000000501";
const GUEST_LIVE: &str = "17900000000000502";
const STRANGER_LIVE: &str = "17900000000000503";
/// Simulated start of the lives: after the push connection is up, long before the next poll.
const START: f64 = 40.0;
/// The guest's live starts later, once the detectors have restarted with push's slowdown
/// after the first live (a restart polls one account at once).
const GUEST_START: f64 = 70.0;

fn scenario() -> String {
    let live = |id: &str, owner: u64, start: f64, guests: &str| {
        format!(
            "\n[[broadcasts]]\nid = {id}\nowner = {owner}\nstart = {start}\nduration = 600.0\n\
             end_status = \"stopped\"\ncobroadcasters = [{guests}]\n\
             segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 6 }}\n"
        )
    };
    let mut s = String::from(
        r#"seed = 21
[fbns]
delay = 0.5

[[accounts]]
pk = 9001
username = "watched.host"
followed = false
[[accounts]]
pk = 9002
username = "unwatched.host"
followed = false
[[accounts]]
pk = 9003
username = "watched.guest"
followed = false
[[accounts]]
pk = 9004
username = "stranger"
followed = false
"#,
    );
    s.push_str(&live(HOST_LIVE, 9001, START, ""));
    s.push_str(&live(GUEST_LIVE, 9002, GUEST_START, "9003"));
    s.push_str(&live(STRANGER_LIVE, 9004, START, ""));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_starts_the_recording_before_polling_could_and_a_stranger_s_push_is_ignored() {
    let h = Harness::start(
        &scenario(),
        SPEED,
        "[[accounts]]\nuser_id = \"9001\"\n[[accounts]]\nuser_id = \"9003\"\n",
    )
    .await;
    h.with_sessions(&["pushed"], "push = true");
    let push = h.push_config();
    // Polling once an hour (ten simulated hours), no tray: the first polls at start-up are
    // the only ones, so only a push can explain a recording that starts at 40 s.
    h.edit_config(|t| {
        t.replace(
            "poll_interval = \"300ms\"",
            "poll_interval = \"1h\"\nuse_reels_tray = false",
        ) + &push
    });
    let run = h.run_daemon();
    wait_until("both lives are recorded", Duration::from_secs(30), || {
        h.state(HOST_LIVE).as_deref() == Some("recording")
            && h.state(GUEST_LIVE).as_deref() == Some("recording")
    })
    .await;
    let recorded_at = h.sim.now();
    // The stranger's push was delivered and acknowledged, yet nothing was asked about it.
    wait_until(
        "the stranger's push is delivered",
        Duration::from_secs(20),
        || {
            h.sim.truth().fbns.is_some_and(|f| {
                f.pushes
                    .iter()
                    .any(|p| p.broadcast_id.as_deref() == Some(STRANGER_LIVE) && p.acks > 0)
            })
        },
    )
    .await;
    let requests = h.sim.requests();
    run.crash().await;

    assert!(
        recorded_at < GUEST_START + 15.0,
        "push-started recordings within seconds of the start, not at {recorded_at:.1} s"
    );
    let info_of = |id: &str| {
        requests
            .iter()
            .filter(|r| r.path == format!("/api/v1/live/{id}/info/"))
            .map(|r| r.at)
            .fold(f64::INFINITY, f64::min)
    };
    for (id, pk, start) in [(HOST_LIVE, 9001, START), (GUEST_LIVE, 9003, GUEST_START)] {
        let at = info_of(id);
        assert!(
            (start..start + 10.0).contains(&at),
            "{id}: confirmed with live/{{id}}/info/ right after the push, at {at}"
        );
        let polled = requests
            .iter()
            .filter(|r| r.at >= start && r.at <= at)
            .filter(|r| r.path == format!("/api/v1/feed/user/{pk}/story/"))
            .count();
        assert_eq!(polled, 0, "{id}: no poll could have found it first");
    }
    assert!(
        info_of(STRANGER_LIVE).is_infinite(),
        "a push about an unwatched account costs no request"
    );
    assert_eq!(h.state(STRANGER_LIVE), None, "and records nothing");
    let conn = h.store().connect().expect("connect");
    let (owner, via): (String, String) = conn
        .query_row(
            "SELECT user_id, via FROM broadcasts WHERE broadcast_id = ?1",
            [GUEST_LIVE],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the guest's recording");
    assert_eq!(owner, "9002", "recorded under the broadcast's owner");
    assert!(
        via.contains("\"9003\""),
        "found through the watched guest the push named: {via}"
    );
}
