//! The detector against the simulator (loopback, port 0, accelerated clock).
//! Times in comments and assertions are simulated seconds.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::support;
use crate::support::watch::{account, between, broadcast, spawn, story_path, World};
use iglive::sim::RecordedRequest;
use iglive::{Accounts, DetectionSource, MemorySeenStore, SeenStore, WatchedAccount};
use iglive::{ApiError, ApiErrorKind, BroadcastStatus};

const BROADCAST: u64 = 17_900_000_000_000_101;

fn watched(pks: &[u64], in_tray: bool) -> Accounts {
    Accounts::new(pks.iter().map(|pk| WatchedAccount {
        in_tray,
        ..WatchedAccount::new(pk.to_string())
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_is_detected_within_one_poll_interval() {
    let pks = [101, 102, 103, 104];
    let mut toml: String = pks.iter().map(|pk| account(*pk, false)).collect();
    toml.push_str(&broadcast(BROADCAST, 103, 30.0, 600.0));
    let w = World::start(&toml, 10.0).await;
    // No jitter: the bound is exactly one interval (plus the budget's minimum gap of 2 s).
    let poll = 20.0;
    let mut run = spawn(
        w.client(),
        watched(&pks, false),
        w.detector_options(poll, 30, 0.0, None),
        Arc::new(MemorySeenStore::default()),
    );
    let (event, at) = run.next_event(&w).await;
    assert_eq!(event.user_id, "103");
    assert_eq!(event.broadcast.id, BROADCAST.to_string());
    assert_eq!(event.source, DetectionSource::StoryFeed);
    assert_eq!(event.username.as_deref(), Some("user103"));
    let latency = at - 30.0;
    assert!(
        (0.0..=poll + 2.0 + 2.0).contains(&latency),
        "detected {latency:.1} s after the start"
    );
    // Every account was polled before the broadcast started, each once per interval.
    let reqs = w.api_requests();
    for pk in pks {
        let polls = reqs.iter().filter(|r| r.path == story_path(pk)).count();
        assert!(polls >= 1, "account {pk} polled");
    }
    assert!(run.stop().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_per_broadcast_across_tray_feed_and_restart() {
    let (a, b) = (201u64, 202u64);
    let (ba, bb) = (BROADCAST + 1, BROADCAST + 2);
    let toml = [
        account(a, true),
        account(b, true),
        broadcast(ba, a, 10.0, 900.0),
        broadcast(bb, b, 15.0, 900.0),
    ]
    .concat();
    let w = World::start(&toml, 20.0).await;
    // Tray every 10 s and each covered account every 20 s: both paths see both lives.
    let options = w.detector_options(20.0, 60, 0.1, Some((10.0, Some(20.0))));
    let seen = Arc::new(MemorySeenStore::default());
    let mut run = spawn(
        w.client(),
        watched(&[a, b], true),
        options.clone(),
        seen.clone(),
    );
    let mut ids = BTreeMap::new();
    for _ in 0..2 {
        let (e, _) = run.next_event(&w).await;
        *ids.entry(e.broadcast.id.clone()).or_insert(0) += 1;
    }
    let live_since = 15.0;
    w.wait_for("tray and story polls of both live accounts", |w| {
        let reqs = w.api_requests();
        let after = |p: &str| {
            reqs.iter()
                .filter(|r| r.path == p && r.at > live_since && r.status == 200)
                .count()
        };
        after("/api/v1/feed/reels_tray/") >= 3
            && after(&story_path(a)) >= 2
            && after(&story_path(b)) >= 2
    })
    .await;
    assert!(run.events.try_recv().is_err(), "no second event");
    assert!(run.stop().await.is_ok());
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.values().all(|n| *n == 1));

    // Restart: the daemon's store remembers what it reported. Once with the same store, once
    // with a fresh one preloaded from "the broadcasts table".
    let preloaded = Arc::new(MemorySeenStore::default());
    preloaded.insert_if_new(&ba.to_string());
    preloaded.insert_if_new(&bb.to_string());
    for store in [seen as Arc<dyn SeenStore>, preloaded] {
        let restart_at = w.sim.now();
        let mut run = spawn(w.client(), watched(&[a, b], true), options.clone(), store);
        w.wait_for("polls after the restart", |w| {
            let reqs = w.api_requests();
            let after = |p: &str| {
                reqs.iter()
                    .filter(|r| r.path == p && r.at > restart_at && r.status == 200)
                    .count()
            };
            after("/api/v1/feed/reels_tray/") >= 2
                && after(&story_path(a)) >= 1
                && after(&story_path(b)) >= 1
        })
        .await;
        assert!(
            run.events.try_recv().is_err(),
            "a restart reports nothing already reported"
        );
        assert!(run.stop().await.is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_the_app_headers_cookies_and_forms() {
    let toml = [
        account(301, true),
        account(302, false),
        broadcast(BROADCAST + 3, 301, 0.0, 900.0),
    ]
    .concat();
    let w = World::start(&toml, 20.0).await;
    let client = w.client();
    let accounts = Accounts::new([
        WatchedAccount {
            in_tray: true,
            ..WatchedAccount::new("301")
        },
        WatchedAccount::new("302"),
    ]);
    let mut run = spawn(
        client.clone(),
        accounts,
        w.detector_options(10.0, 60, 0.1, Some((10.0, None))),
        Arc::new(MemorySeenStore::default()),
    );
    let (event, _) = run.next_event(&w).await;
    assert_eq!(event.source, DetectionSource::ReelsTray);
    w.wait_for("a story poll of the uncovered account", |w| {
        w.api_requests().iter().any(|r| r.path == story_path(302))
    })
    .await;
    assert!(run.stop().await.is_ok());
    let hb = client
        .heartbeat_and_viewer_count(&event.broadcast.id)
        .await
        .expect("heartbeat accepted");
    assert_eq!(hb.broadcast_status, Some(BroadcastStatus::Active));

    let session = World::session();
    let reqs = w.api_requests();
    assert!(reqs.len() >= 3);
    for r in &reqs {
        let h = |name: &str| r.header(name).unwrap_or_default().to_string();
        assert_eq!(r.status, 200, "{} answered {}", r.path, r.status);
        assert_eq!(h("user-agent"), session.user_agent, "{}", r.path);
        assert!(h("user-agent").starts_with("Instagram "), "app user agent");
        assert_eq!(h("x-ig-app-id"), "567067343352427");
        assert_eq!(h("x-ig-capabilities"), "3brTv10=");
        assert_eq!(h("x-ig-connection-type"), "WIFI");
        assert_eq!(h("x-ig-device-id"), session.uuid);
        assert!(!h("accept-language").is_empty());
        let cookie = h("cookie");
        for kv in [
            "sessionid=1000001%3Asimsession%3A1",
            "ds_user_id=1000001",
            "csrftoken=simcsrftoken",
            "mid=sim-mid",
        ] {
            assert!(
                cookie.split("; ").any(|c| c == kv),
                "{kv} missing in {cookie}"
            );
        }
        assert!(r.header("authorization").is_none(), "cookie sessions only");
    }
    let heartbeat: Vec<&RecordedRequest> = reqs.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(heartbeat.len(), 1);
    assert!(heartbeat[0]
        .path
        .ends_with("/heartbeat_and_get_viewer_count/"));
    assert_eq!(heartbeat[0].form_value("_csrftoken"), Some("simcsrftoken"));
    assert_eq!(
        heartbeat[0].form_value("_uuid"),
        Some(session.uuid.as_str())
    );
    assert_eq!(heartbeat[0].form_value("offset_to_video_start"), Some("0"));
    assert!(reqs
        .iter()
        .filter(|r| r.method == "GET")
        .all(|r| r.form.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_window_slows_polling_which_recovers_afterwards() {
    let pks: Vec<u64> = (401..411).collect();
    let mut toml: String = pks.iter().map(|pk| account(*pk, false)).collect();
    toml.push_str("[[faults]]\nkind = \"throttle\"\nfrom = 60.0\nto = 120.0\npath = \"api\"\n");
    let w = World::start(&toml, 40.0).await;
    let client = w.client();
    // 10 accounts every 10 s want 60/min: the budget of 30/min is the limit.
    let run = spawn(
        client.clone(),
        watched(&pks, false),
        w.detector_options(10.0, 30, 0.1, None),
        Arc::new(MemorySeenStore::default()),
    );
    w.wait_sim(220.0).await;
    let reqs = w.api_requests();
    assert!(
        !run.task.is_finished(),
        "throttling does not stop detection"
    );
    let health = client.health();
    assert!(run.stop().await.is_ok());
    let before = between(&reqs, 0.0, 60.0);
    let during = between(&reqs, 60.0, 120.0);
    let after = between(&reqs, 160.0, 220.0);
    let throttled = reqs.iter().filter(|r| r.status == 429).count();
    assert!(
        (24..=30).contains(&before),
        "before: {before} requests in 60 s"
    );
    assert!(
        (1..=4).contains(&during),
        "during the 429 window: {during} requests"
    );
    assert_eq!(throttled, during, "every request in the window was refused");
    assert!(
        (24..=30).contains(&after),
        "after recovery: {after} requests in 60 s"
    );
    assert!(health.throttle_events >= 1);
    assert!(health.expired.is_none(), "throttling is not expiry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_required_stops_polling_and_expires_the_session() {
    let pks = [501u64, 502, 503];
    let mut toml = String::from("session_expires_at = 30.0\n");
    toml.extend(pks.iter().map(|pk| account(*pk, false)));
    let w = World::start(&toml, 20.0).await;
    let client = w.client();
    let run = spawn(
        client.clone(),
        watched(&pks, false),
        w.detector_options(5.0, 60, 0.1, None),
        Arc::new(MemorySeenStore::default()),
    );
    let result = tokio::time::timeout(support::watch::REAL_LIMIT, run.task)
        .await
        .expect("the detector stops by itself")
        .expect("no panic");
    let err = result.expect_err("the session expired");
    assert_eq!(err.kind(), ApiErrorKind::LoginRequired, "{err}");
    let expired = client.health().expired.expect("health reports the expiry");
    assert_eq!(expired.kind, ApiErrorKind::LoginRequired);
    let reqs = w.api_requests();
    let refused: Vec<&RecordedRequest> = reqs.iter().filter(|r| r.status == 403).collect();
    assert_eq!(refused.len(), 1, "a 403 is neither retried nor repeated");
    assert!(reqs.iter().filter(|r| r.at < 30.0).all(|r| r.status == 200));
    // Every other user of the session is refused without a request.
    let err = client.user_story_feed("501").await.expect_err("expired");
    assert_eq!(err.kind(), ApiErrorKind::LoginRequired);
    assert_eq!(w.api_requests().len(), reqs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_required_stops_polling_and_carries_its_url() {
    let pks = [601u64, 602];
    let url = "https://i.instagram.com/challenge/4242/TestCode/";
    let mut toml: String = pks.iter().map(|pk| account(*pk, false)).collect();
    toml.push_str(&format!(
        "[[faults]]\nkind = \"challenge_required\"\nfrom = 20.0\nto = 10000.0\nchallenge_url = \"{url}\"\n"
    ));
    let w = World::start(&toml, 20.0).await;
    let client = w.client();
    let run = spawn(
        client.clone(),
        watched(&pks, false),
        w.detector_options(5.0, 60, 0.1, None),
        Arc::new(MemorySeenStore::default()),
    );
    let result = tokio::time::timeout(support::watch::REAL_LIMIT, run.task)
        .await
        .expect("the detector stops by itself")
        .expect("no panic");
    match result {
        Err(ApiError::Challenge {
            url: Some(u),
            suspended,
            ..
        }) => {
            assert_eq!(u, url);
            assert!(!suspended);
        }
        other => panic!("expected a challenge with its URL, got {other:?}"),
    }
    let expired = client
        .health()
        .expired
        .expect("health reports the challenge");
    assert_eq!(expired.kind, ApiErrorKind::Challenge);
    assert_eq!(expired.challenge_url.as_deref(), Some(url));
    let reqs = w.api_requests();
    assert_eq!(reqs.iter().filter(|r| r.status == 400).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_malformed_json_and_resets_are_retried_boundedly() {
    let pks = [701u64, 702, 703];
    let mut toml: String = pks.iter().map(|pk| account(*pk, false)).collect();
    toml.push_str(&broadcast(BROADCAST + 7, 702, 45.0, 600.0));
    for (kind, from, to) in [
        ("server_error", 10.0, 20.0),
        ("malformed_json", 20.0, 30.0),
        ("reset", 30.0, 40.0),
    ] {
        toml.push_str(&format!(
            "[[faults]]\nkind = \"{kind}\"\nfrom = {from}\nto = {to}\npath = \"story\"\nstatus = 502\n"
        ));
    }
    let w = World::start(&toml, 20.0).await;
    let client = w.client();
    let mut run = spawn(
        client.clone(),
        watched(&pks, false),
        w.detector_options(5.0, 60, 0.1, None),
        Arc::new(MemorySeenStore::default()),
    );
    // Polling goes on through the faults and finds the live that starts after them.
    let (event, at) = run.next_event(&w).await;
    assert_eq!(event.user_id, "702");
    assert!(at >= 45.0);
    assert!(!run.task.is_finished());
    assert!(run.stop().await.is_ok());
    assert!(client.health().expired.is_none());

    let reqs = w.api_requests();
    let in_window = |from: f64, to: f64, status: u16| {
        reqs.iter()
            .filter(|r| r.at >= from && r.at < to && r.status == status)
            .count()
    };
    assert!(in_window(10.0, 20.0, 502) >= 2, "server errors served");
    assert!(in_window(20.0, 30.0, 200) >= 2, "malformed bodies served");
    assert!(in_window(30.0, 40.0, 0) >= 2, "connections reset");
    // Each failing poll is tried 1 + max_retries (2) times, within a few seconds (retry
    // delays are at most 2 s); the account's next poll comes an interval (~5 s) later.
    let mut largest = 0;
    for pk in pks {
        let times: Vec<f64> = reqs
            .iter()
            .filter(|r| r.path == story_path(pk) && r.at >= 10.0 && r.at < 40.0)
            .map(|r| r.at)
            .collect();
        let mut i = 0;
        while i < times.len() {
            let attempts = times[i..]
                .iter()
                .take_while(|t| **t < times[i] + 3.0)
                .count();
            assert!(
                attempts <= 3,
                "account {pk}: {attempts} attempts at {}",
                times[i]
            );
            largest = largest.max(attempts);
            i += attempts;
        }
    }
    assert_eq!(largest, 3, "failed polls are retried");
    let stats = client.stats();
    let transient: u64 = stats
        .iter()
        .filter(|((_, outcome), _)| *outcome == "transient")
        .map(|(_, n)| *n)
        .sum();
    assert!(transient >= 6, "transient failures counted: {stats:?}");
}
