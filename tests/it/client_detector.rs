//! The detection loop against a stub server: one event per broadcast across the tray and the
//! story feed, the session's identity on every poll, throttling slowing the loop, an expired
//! session stopping it, and run-time changes to the watched set.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::support::client::{cookie_session, Recorded, Reply, Stub};
use iglive::{
    Accounts, DetectionSource, Detector, DetectorOptions, LiveEvent, MemorySeenStore,
    SchedulerConfig, SeenStore, TrayOptions, WatchedAccount,
};
use iglive::{ApiErrorKind, Client, ClientOptions, GovernorOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn live_feed(id: &str, owner: &str) -> String {
    format!(
        r#"{{"broadcast":{{"id":{id},"broadcast_status":"active","broadcast_owner":{{"pk":{owner},"username":"u{owner}"}},"dash_playback_url":"https://cdn.example/{id}.mpd","viewer_count":3.0}},"post_live_item":null,"status":"ok"}}"#
    )
}

const NOT_LIVE: &str = r#"{"broadcast":null,"reel":null,"post_live_item":null,"status":"ok"}"#;

/// Answers story feeds for 100 (live 5001), 200 (live 5002), 400 (live 5003), others not
/// live; the tray lists 5002 (owner 200), 5003 (owner 400), an ended 5009 (owner 100) and
/// 5010 hosted by 700 with 600 as a guest.
fn instagram(r: &Recorded, _n: usize) -> Reply {
    match r.path.as_str() {
        "/api/v1/feed/user/100/story/" => Reply::json(live_feed("5001", "100")),
        "/api/v1/feed/user/200/story/" => Reply::json(live_feed("5002", "200")),
        "/api/v1/feed/user/400/story/" => Reply::json(live_feed("5003", "400")),
        "/api/v1/feed/user/999/story/" => {
            Reply::status(404, r#"{"message":"User not found","status":"fail"}"#)
        }
        "/api/v1/feed/reels_tray/" => Reply::json(
            r#"{"tray":[],"broadcasts":[
                {"id":"5002","broadcast_status":"active","broadcast_owner":{"pk":"200"}},
                {"id":5003,"broadcast_status":"active","broadcast_owner":{"pk":400}},
                {"id":5009,"broadcast_status":"stopped","broadcast_owner":{"pk":100}},
                {"id":5010,"broadcast_status":"active","broadcast_owner":{"pk":700},"cobroadcasters":[{"pk":"600"}]}],
              "post_live":{"post_live_items":[]},"status":"ok"}"#,
        ),
        p if p.starts_with("/api/v1/feed/user/") => Reply::json(NOT_LIVE),
        _ => Reply::status(404, "Not Found"),
    }
}

fn options(poll_ms: u64, tray: Option<TrayOptions>) -> DetectorOptions {
    DetectorOptions {
        scheduler: SchedulerConfig {
            poll_interval: Duration::from_millis(poll_ms),
            max_requests_per_minute: 6000,
            jitter: 0.1,
            ..SchedulerConfig::default()
        },
        tray,
        seed: Some(7),
        budget: None,
    }
}

fn client(stub: &Stub) -> Client {
    Client::new(
        stub.base.clone(),
        cookie_session(),
        ClientOptions {
            timeout: Duration::from_secs(2),
            retry_base: Duration::from_millis(5),
            retry_max: Duration::from_millis(20),
            governor: GovernorOptions {
                throttle_pause: Duration::from_millis(500),
                ..GovernorOptions::default()
            },
            // The detector's pacing is under test, not the session budget.
            max_requests_per_minute: 100_000,
            ..ClientOptions::default()
        },
    )
    .expect("client builds")
}

fn count_path(reqs: &[Recorded], path: &str) -> usize {
    reqs.iter().filter(|r| r.path == path).count()
}

fn drain(rx: &mut mpsc::Receiver<LiveEvent>) -> Vec<LiveEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn one_event_per_broadcast_across_tray_and_feed() {
    let stub = Stub::start(instagram).await;
    let c = client(&stub);
    let accounts = Accounts::new([
        WatchedAccount::new("100"),
        WatchedAccount {
            user_id: "200".into(),
            username: Some("two".into()),
            in_tray: true,
        },
        WatchedAccount::new("300"),
    ]);
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let detector = Detector::new(
        options(
            60,
            Some(TrayOptions {
                interval: Duration::from_millis(60),
                covered_poll_interval: Some(Duration::from_millis(90)),
            }),
        ),
        Arc::new(MemorySeenStore::default()),
    );
    let task = tokio::spawn({
        let (c, accounts, cancel) = (c.clone(), accounts.clone(), cancel.clone());
        async move { detector.run(c, accounts, tx, cancel).await }
    });
    let enough = stub
        .wait_until(Duration::from_secs(10), |reqs| {
            count_path(reqs, "/api/v1/feed/user/100/story/") >= 4
                && count_path(reqs, "/api/v1/feed/user/200/story/") >= 3
                && count_path(reqs, "/api/v1/feed/user/300/story/") >= 3
                && count_path(reqs, "/api/v1/feed/reels_tray/") >= 4
        })
        .await;
    assert!(
        enough,
        "polls: {:?}",
        stub.requests()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("detector stops on cancel")
        .expect("task joins");
    assert!(result.is_ok(), "{result:?}");

    let events = drain(&mut rx);
    let ids: Vec<&str> = events.iter().map(|e| e.broadcast.id.as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "duplicate events: {ids:?}");
    assert_eq!(
        unique,
        BTreeSet::from(["5001", "5002"]),
        "400 is not watched, 5009 ended"
    );
    let e200 = events
        .iter()
        .find(|e| e.user_id == "200")
        .expect("event for 200");
    assert_eq!(e200.username.as_deref(), Some("two"));
    let e100 = events
        .iter()
        .find(|e| e.user_id == "100")
        .expect("event for 100");
    assert_eq!(e100.source, DetectionSource::StoryFeed);
    assert_eq!(
        e100.broadcast.mpd_url(),
        Some("https://cdn.example/5001.mpd")
    );

    // Every poll carried the session's identity.
    for r in stub.requests() {
        assert_eq!(r.method, "GET");
        assert_eq!(r.header("x-ig-app-id").as_deref(), Some("567067343352427"));
        assert_eq!(r.header("x-ig-device-id").as_deref(), Some("uuid-1234"));
        assert!(r
            .header("user-agent")
            .is_some_and(|u| u.starts_with("Instagram ")));
        assert!(r.header("cookie").is_some_and(|c| c.contains("sessionid=")));
    }
}

#[tokio::test]
async fn tray_alone_covers_followed_accounts_when_configured() {
    let stub = Stub::start(instagram).await;
    let accounts = Accounts::new([
        WatchedAccount {
            user_id: "200".into(),
            username: None,
            in_tray: true,
        },
        WatchedAccount::new("300"),
    ]);
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let detector = Detector::new(
        options(
            50,
            Some(TrayOptions {
                interval: Duration::from_millis(50),
                covered_poll_interval: None,
            }),
        ),
        Arc::new(MemorySeenStore::default()),
    );
    let task = tokio::spawn({
        let (c, cancel) = (client(&stub), cancel.clone());
        async move { detector.run(c, accounts, tx, cancel).await }
    });
    let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("event in time")
        .expect("event");
    assert_eq!(event.broadcast.id, "5002");
    assert_eq!(event.source, DetectionSource::ReelsTray);
    assert!(
        stub.wait_until(Duration::from_secs(5), |r| count_path(
            r,
            "/api/v1/feed/user/300/story/"
        ) >= 3)
            .await
    );
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .expect("joins")
        .expect("ok");
    assert_eq!(
        count_path(&stub.requests(), "/api/v1/feed/user/200/story/"),
        0
    );
}

#[tokio::test]
async fn a_watched_guest_is_found_through_the_hosts_tray_entry() {
    let stub = Stub::start(instagram).await;
    let accounts = Accounts::new([WatchedAccount {
        user_id: "600".into(),
        username: None,
        in_tray: true,
    }]);
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let tray = TrayOptions {
        interval: Duration::from_millis(50),
        covered_poll_interval: None,
    };
    let detector = Detector::new(
        options(50, Some(tray)),
        Arc::new(MemorySeenStore::default()),
    );
    let task = tokio::spawn({
        let (c, cancel) = (client(&stub), cancel.clone());
        async move { detector.run(c, accounts, tx, cancel).await }
    });
    let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("event in time")
        .expect("event");
    assert_eq!(event.broadcast.id, "5010");
    assert_eq!(event.user_id, "600");
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .expect("joins")
        .expect("ok");
}

#[tokio::test]
async fn throttling_pauses_and_slows_the_loop() {
    let stub = Stub::start(|r, n| {
        if n == 3 {
            Reply::Respond {
                status: 429,
                headers: vec![("retry-after", "1".into())],
                body: r#"{"message":"Please wait a few minutes before you try again.","status":"fail"}"#.into(),
            }
        } else {
            instagram(r, n)
        }
    })
    .await;
    let c = client(&stub);
    let accounts = Accounts::new([WatchedAccount::new("300")]);
    let (tx, _rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let detector = Detector::new(options(60, None), Arc::new(MemorySeenStore::default()));
    let task = tokio::spawn({
        let (c, cancel) = (c.clone(), cancel.clone());
        async move { detector.run(c, accounts, tx, cancel).await }
    });
    assert!(
        stub.wait_until(Duration::from_secs(10), |r| r.len() >= 9)
            .await
    );
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .expect("joins")
        .expect("throttling does not stop detection");
    let at: Vec<_> = stub.requests().iter().map(|r| r.at).collect();
    let pause = at[4] - at[3];
    assert!(
        pause >= Duration::from_millis(950),
        "Retry-After honoured: {pause:?}"
    );
    // Slowdown 2: 60 ms × 2 × (1 − 10 % jitter) at least between later polls.
    for w in at[4..9].windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(105),
            "gap after throttling {gap:?}"
        );
    }
    assert_eq!(c.health().slowdown, 2.0);
    assert_eq!(c.health().throttle_events, 1);
}

#[tokio::test]
async fn login_required_stops_polling_and_surfaces_the_session() {
    let stub =
        Stub::start(|_, _| Reply::status(403, r#"{"message":"login_required","status":"fail"}"#))
            .await;
    let c = client(&stub);
    let accounts = Accounts::new([WatchedAccount::new("100"), WatchedAccount::new("300")]);
    let (tx, _rx) = mpsc::channel(16);
    let detector = Detector::new(options(20, None), Arc::new(MemorySeenStore::default()));
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        detector.run(c.clone(), accounts, tx, CancellationToken::new()),
    )
    .await
    .expect("the detector stops by itself");
    let err = result.expect_err("session expired");
    assert_eq!(err.kind(), ApiErrorKind::LoginRequired);
    assert_eq!(stub.count(), 1, "no poll after the 403");
    assert!(c.health().is_expired());
}

#[tokio::test]
async fn accounts_change_at_run_time_and_seen_ids_are_not_reported() {
    let stub = Stub::start(instagram).await;
    let accounts = Accounts::default();
    let seen = Arc::new(MemorySeenStore::default());
    assert!(seen.insert_if_new("5002"), "reported before a restart");
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let detector = Detector::new(options(40, None), seen.clone());
    let task = tokio::spawn({
        let (c, accounts, cancel) = (client(&stub), accounts.clone(), cancel.clone());
        async move { detector.run(c, accounts, tx, cancel).await }
    });
    accounts.add(WatchedAccount::new("200"));
    accounts.add(WatchedAccount::new("100"));
    let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("event in time")
        .expect("event");
    assert_eq!(event.broadcast.id, "5001");
    assert!(seen.contains("5001"));

    // Recording 100 pauses its polls; 300 keeps being polled.
    accounts.pause("100");
    accounts.remove("200");
    let mark = stub.count();
    accounts.add(WatchedAccount::new("300"));
    assert!(
        stub.wait_until(Duration::from_secs(5), |r| {
            count_path(&r[mark..], "/api/v1/feed/user/300/story/") >= 5
        })
        .await
    );
    let after = &stub.requests()[mark..];
    // At most one poll of 100 or 200 was already in flight when the set changed.
    assert!(count_path(after, "/api/v1/feed/user/100/story/") <= 1);
    assert!(count_path(after, "/api/v1/feed/user/200/story/") <= 1);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .expect("joins")
        .expect("ok");
    assert!(
        drain(&mut rx).is_empty(),
        "5002 was seen before, 5001 reported once"
    );
}

#[tokio::test]
async fn unknown_accounts_are_polled_rarely() {
    let stub = Stub::start(instagram).await;
    let accounts = Accounts::new([WatchedAccount::new("999"), WatchedAccount::new("300")]);
    let (tx, _rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let detector = Detector::new(options(30, None), Arc::new(MemorySeenStore::default()));
    let task = tokio::spawn({
        let (c, cancel) = (client(&stub), cancel.clone());
        async move { detector.run(c, accounts, tx, cancel).await }
    });
    assert!(
        stub.wait_until(Duration::from_secs(5), |r| {
            count_path(r, "/api/v1/feed/user/300/story/") >= 8
        })
        .await
    );
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .expect("joins")
        .expect("a 404 does not stop detection");
    let reqs = stub.requests();
    let n = count_path(&reqs, "/api/v1/feed/user/999/story/");
    let others = count_path(&reqs, "/api/v1/feed/user/300/story/");
    // Deferred by 9 extra intervals after each 404: about one poll per ten of the other's.
    assert!(
        n >= 1 && n <= 1 + others / 5,
        "999 polled {n} times, 300 {others} times"
    );
}
