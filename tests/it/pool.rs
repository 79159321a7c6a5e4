//! The pool of sessions against the simulator, which tells sessions apart by `sessionid`: a
//! session challenged mid-recording hands the chat to another with nothing lost or read twice,
//! the throttle model drives a session out of the pool and back, every session challenged at
//! once leaves the video recording and the chat catching up once one is back, one budget
//! covers every request, the footprints ask only what they need, and a proxy carries a
//! session's traffic.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::daemon::{session_of, wait_until, Harness};
use crate::support::proxy::Proxy;

const ID: &str = "17900000000000888";
const SPEED: f64 = 10.0;

/// One host live from 1 s to `1 + duration` s (simulated) with a steady chat, and `quiet`
/// more watched accounts that never go live.
fn scenario(duration: f64, quiet: u64, extra: &str) -> String {
    let mut accounts = String::new();
    for i in 0..quiet {
        accounts.push_str(&format!(
            "\n[[accounts]]\npk = {}\nusername = \"quiet.{i}\"\nfull_name = \"Quiet {i}\"\nfollowed = false\n",
            7100 + i
        ));
    }
    format!(
        r#"
seed = 11
comment_page_cap = 50
{extra}

[[accounts]]
pk = 7001
username = "pool.host"
full_name = "Pool Host"
followed = false
{accounts}

[[broadcasts]]
id = {ID}
owner = 7001
start = 1.0
duration = {duration}
end_status = "stopped"
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 6 }}
likes = [[0.0, 0.0], [{duration}, 900.0]]
viewers = [[0.0, 5.0], [{duration}, 300.0]]

[[broadcasts.comment_streams]]
from = 2.0
to = {end}
per_second = 2.0
texts = ["hi", "❤️", "again"]
"#,
        end = duration - 1.0
    )
}

fn accounts(quiet: u64) -> String {
    let mut s = String::from(
        r#"
[recording]
heartbeat_interval = "500ms"
comments_interval = "300ms"
likes_interval = "500ms"
interrupted_grace = "5s"

[[accounts]]
user_id = "7001"
"#,
    );
    for i in 0..quiet {
        s.push_str(&format!("\n[[accounts]]\nuser_id = \"{}\"\n", 7100 + i));
    }
    s
}

fn stored_pks(h: &Harness) -> Vec<String> {
    let conn = h.store().connect().expect("connect");
    let mut stmt = conn
        .prepare("SELECT pk FROM comments WHERE broadcast_id = ?1 AND kind = 'comment'")
        .expect("prepare");
    stmt.query_map([ID], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn truth_pks(h: &Harness) -> BTreeSet<String> {
    let t = h.sim.truth();
    let b = t.broadcasts.iter().find(|b| b.id == ID).expect("truth");
    b.comments.iter().map(|c| c.pk.clone()).collect()
}

/// The sessions that polled this broadcast's chat, in order of first use.
fn chat_sessions(h: &Harness) -> Vec<(f64, String)> {
    h.sim
        .requests()
        .iter()
        .filter(|r| r.path.contains(&format!("/live/{ID}/get_comment/")))
        .filter_map(|r| session_of(r).map(|s| (r.at, s)))
        .collect()
}

fn finished(h: &Harness) -> bool {
    matches!(h.state(ID).as_deref(), Some("finished" | "failed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenged_session_hands_its_chat_to_another_with_nothing_lost_or_read_twice() {
    let h = Harness::start(&scenario(60.0, 0, ""), SPEED, &accounts(0)).await;
    h.with_sessions(&["a", "b", "c"], "");
    let run = h.run_daemon();
    wait_until("the chat is polled", Duration::from_secs(30), || {
        chat_sessions(&h).len() >= 10
    })
    .await;
    let first = chat_sessions(&h)[0].1.clone();
    h.force_session(&first, "challenged").await;
    let challenged_at = h.sim.now();
    wait_until("the recording finishes", Duration::from_secs(90), || {
        finished(&h)
    })
    .await;
    run.stop().await;
    assert_eq!(h.state(ID).as_deref(), Some("finished"));
    let after: Vec<String> = chat_sessions(&h)
        .into_iter()
        .filter(|(at, _)| *at > challenged_at + 2.0)
        .map(|(_, s)| s)
        .collect();
    assert!(!after.is_empty(), "the chat went on after the challenge");
    assert!(
        after.iter().all(|s| *s != first),
        "the challenged session {first} was taken out, yet polled the chat again"
    );
    let stored = stored_pks(&h);
    let unique: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), unique.len(), "a comment was stored twice");
    assert_eq!(unique, truth_pks(&h), "every published comment, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throttle_model_drives_a_session_out_of_the_pool_and_back() {
    // Session b may send 40 requests a simulated hour; its detection asks for far more, so
    // it stays over its quota however it backs off, until the challenge clears it.
    let throttle = "[throttle]\nhourly_quota = 40\nescalate_after = 1\nrecover_after = 5.0\nchallenge_clears_after = 20.0\nsessions = [\"sid-b\"]";
    let h = Harness::start(&scenario(80.0, 12, throttle), SPEED, &accounts(12)).await;
    h.with_sessions(&["a", "b"], "");
    h.edit_config(|t| {
        t.replace(
            "request_timeout = \"5s\"",
            "request_timeout = \"5s\"\nsession_retry = \"1s\"\nthrottle_pause = \"1s\"",
        )
    });
    let run = h.run_daemon();
    let statuses = |h: &Harness| -> Vec<u16> {
        h.sim
            .requests()
            .iter()
            .filter(|r| session_of(r).as_deref() == Some("b"))
            .map(|r| r.status)
            .collect()
    };
    wait_until("b is challenged", Duration::from_secs(60), || {
        statuses(&h).contains(&400)
    })
    .await;
    let seen = statuses(&h);
    let first_429 = seen
        .iter()
        .position(|s| *s == 429)
        .expect("a 429 came first");
    let first_400 = seen
        .iter()
        .position(|s| *s == 400)
        .expect("then a challenge");
    assert!(first_429 < first_400, "{seen:?}");
    let challenged = seen.len();
    // Out of the pool: once challenged, b sends (almost) nothing until the challenge clears.
    wait_until("b is back and answered", Duration::from_secs(60), || {
        statuses(&h)[challenged..]
            .iter()
            .filter(|s| **s == 200)
            .count()
            >= 3
    })
    .await;
    wait_until("the recording finishes", Duration::from_secs(90), || {
        finished(&h)
    })
    .await;
    run.stop().await;
    assert_eq!(h.state(ID).as_deref(), Some("finished"));
    let b_truth = &h.sim.truth().sessions["sid-b"];
    assert!(b_truth.degraded_answers >= 3, "{b_truth:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_challenged_keeps_the_video_and_the_chat_catches_up_once_one_is_back() {
    let h = Harness::start(&scenario(150.0, 0, ""), SPEED, &accounts(0)).await;
    h.with_sessions(&["a", "b"], "");
    h.edit_config(|t| {
        t.replace(
            "request_timeout = \"5s\"",
            "request_timeout = \"5s\"\nsession_retry = \"5s\"",
        )
    });
    let run = h.run_daemon();
    wait_until("the chat is polled", Duration::from_secs(30), || {
        chat_sessions(&h).len() >= 5
    })
    .await;
    h.force_session("a", "challenged").await;
    h.force_session("b", "challenged").await;
    let outage_from = h.sim.now();
    // 40 simulated seconds (4 real ones) without any usable session: the chat poller, every
    // 300 ms, would ask 13 times; refused sessions are only retried every 5 s.
    let until = outage_from + 40.0;
    wait_until("the outage passes", Duration::from_secs(30), || {
        h.sim.now() >= until
    })
    .await;
    let polled_during = chat_sessions(&h)
        .iter()
        .filter(|(at, _)| *at > outage_from + 1.0 && *at < until)
        .count();
    h.force_session("b", "fine").await;
    wait_until("the recording finishes", Duration::from_secs(90), || {
        finished(&h)
    })
    .await;
    run.stop().await;
    assert_eq!(h.state(ID).as_deref(), Some("finished"));
    assert!(
        polled_during <= 4,
        "{polled_during} chat polls while every session was out"
    );
    let stored: BTreeSet<String> = stored_pks(&h).into_iter().collect();
    assert_eq!(stored, truth_pks(&h), "the chat caught up from its cursor");
    let video = h.count(
        "SELECT segments_missing FROM recordings WHERE broadcast_id = ?1",
        ID,
    );
    assert_eq!(video, 0, "the video went on from the CDN");
}

/// API requests the simulator saw in the first `secs` real seconds of a daemon run.
async fn requests_within(h: &Harness, secs: f64) -> Vec<iglive::sim::RecordedRequest> {
    let t0 = h.sim.now();
    let until = t0 + secs * SPEED;
    wait_until("time passes", Duration::from_secs_f64(secs + 30.0), || {
        h.sim.now() >= until
    })
    .await;
    h.sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/") && r.at >= t0 && r.at < until)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_budget_covers_every_request_and_the_chat_goes_first() {
    let h = Harness::start(&scenario(600.0, 3, ""), SPEED, &accounts(3)).await;
    // Pollers at 300-500 ms would send hundreds of requests in 20 s; the budget is 30 a minute.
    h.edit_config(|t| {
        t.replace(
            "max_requests_per_minute = 600",
            "max_requests_per_minute = 30",
        )
    });
    let run = h.run_daemon();
    wait_until("the recording starts", Duration::from_secs(30), || {
        h.state(ID).as_deref() == Some("recording")
    })
    .await;
    let seen = requests_within(&h, 20.0).await;
    run.crash().await;
    assert!(
        seen.len() <= 31,
        "{} requests in 20 s under a budget of 30/min",
        seen.len()
    );
    let count = |p: &str| seen.iter().filter(|r| r.path.contains(p)).count();
    assert!(
        count("get_comment") >= 5,
        "the chat went on: {}",
        count("get_comment")
    );
    assert!(
        count("get_like_count") < count("get_comment"),
        "likes come last: {} likes, {} chat",
        count("get_like_count"),
        count("get_comment")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn footprints_ask_only_what_they_need() {
    for (mode, chat, likes) in [("video", false, false), ("chat", true, false)] {
        let h = Harness::start(&scenario(600.0, 0, ""), SPEED, &accounts(0)).await;
        h.edit_config(|t| {
            t.replace(
                "interrupted_grace = \"5s\"",
                &format!("interrupted_grace = \"5s\"\nengagement = \"{mode}\""),
            )
        });
        let run = h.run_daemon();
        wait_until("the recording starts", Duration::from_secs(30), || {
            h.state(ID).as_deref() == Some("recording")
        })
        .await;
        let seen = requests_within(&h, 6.0).await;
        run.crash().await;
        let count = |p: &str| seen.iter().filter(|r| r.path.contains(p)).count();
        assert_eq!(
            count("get_comment") > 0,
            chat,
            "{mode}: chat polls {}",
            count("get_comment")
        );
        assert_eq!(count("get_like_count") > 0, likes, "{mode}: like polls");
        let segments = h.count(
            "SELECT segments_captured FROM recordings WHERE broadcast_id = ?1",
            ID,
        );
        assert!(segments > 0, "{mode}: the video is recorded from the CDN");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_carries_the_session_s_traffic_and_a_refusing_one_costs_only_that_session() {
    let proxy = Proxy::start().await;
    let h = Harness::start(&scenario(40.0, 0, ""), SPEED, &accounts(0)).await;
    h.with_sessions(
        &["proxied"],
        &format!("proxy = \"{}\"\nproxy_cdn = true", proxy.url()),
    );
    let run = h.run_daemon();
    wait_until("the recording finishes", Duration::from_secs(90), || {
        finished(&h)
    })
    .await;
    run.stop().await;
    assert_eq!(h.state(ID).as_deref(), Some("finished"));
    let through = proxy.paths();
    assert!(
        through.iter().any(|p| p.contains("/api/v1/")),
        "API traffic went through the proxy"
    );
    assert!(
        through.iter().any(|p| p.contains("/live-dash/")),
        "and, with proxy_cdn, the CDN's"
    );

    // A proxy that refuses everything: its session finds nothing, and once it is found
    // unreachable (two polls failing after their retries, some 8 s) the other one records.
    let refusing = Proxy::refusing().await;
    let h = Harness::start(&scenario(300.0, 0, ""), SPEED, &accounts(0)).await;
    h.with_sessions(&["direct"], "");
    h.edit_config(|t| {
        t + &format!(
            "\n[[sessions]]\nname = \"dead\"\nsession_file = \"session.json\"\nproxy = \"{}\"\n",
            refusing.url()
        )
    });
    let run = h.run_daemon();
    wait_until("the recording finishes", Duration::from_secs(90), || {
        finished(&h)
    })
    .await;
    run.stop().await;
    assert_eq!(h.state(ID).as_deref(), Some("finished"));
    assert!(refusing.refused() > 0, "the dead session tried its proxy");
}
