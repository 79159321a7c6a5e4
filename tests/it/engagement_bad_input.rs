//! Bad engagement input: hostile comment pages through the real comments poller into a real
//! SQLite file. The simulator only publishes well-formed comments, so these pages come from a
//! small stub server on loopback that replays hand-written JSON.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use iglive::{comments, Ctx, Pool};
use iglive::{Client, ClientOptions, Session};
use iglive::{Store, Writer};
use tokio_util::sync::CancellationToken;

fn hostile_page() -> String {
    let mut items = vec![
        r#"{"pk":"1","user_id":1,"text":"","created_at":1700000000.5,"user":{"pk":1,"username":"empty"}}"#.to_string(),
        format!(r#"{{"pk":"2","user_id":"2","text":"{}","created_at":"1700000001","user":{{"pk":"2","username":"long"}}}}"#, "x".repeat(10_240)),
        r#"{"pk":"3","user_id":3,"text":"🔥🇧🇷 مرحبا بالعالم","created_at":1700000002,"user":{"pk":3,"username":"rtl"}}"#.to_string(),
        r#"{"pk":"4","user_id":4,"text":"bell\u0007 nul\u0000 esc\u001b[31m","created_at":1700000003}"#.to_string(),
        r#"{"pk":"5","user_id":5,"text":"half \udc80 surrogate","created_at":1700000004,"user":null}"#.to_string(),
        r#"{"pk":"6","text":"negative time","created_at":-5}"#.to_string(),
        r#"{"pk":"7","text":"far future","created_at":4102444800}"#.to_string(),
        r#"{"pk":"8","text":"no time at all"}"#.to_string(),
        r#"{"text":"no pk"}"#.to_string(),
        r#""not an object""#.to_string(),
    ];
    for i in 0..10_000u64 {
        items.push(format!(
            r#"{{"pk":"{}","user_id":{},"text":"bulk {i}","created_at":{},"user":{{"pk":{},"username":"u{}"}}}}"#,
            100_000 + i,
            i % 97,
            1_700_000_100.0 + (i as f64) / 1000.0,
            i % 97,
            i % 97
        ));
    }
    items.reverse();
    format!(
        r#"{{"comments":[{}],"comment_count":"10010","is_first_fetch":"True","has_more_comments":false,"status":"ok"}}"#,
        items.join(",")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_comments_are_stored_or_rejected_one_by_one() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cursors = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let page = Arc::new(hostile_page());
    let app = {
        let (calls, page, cursors) = (calls.clone(), page.clone(), cursors.clone());
        axum::Router::new().route(
            "/api/v1/live/{id}/get_comment/",
            get(
                move |q: axum::extract::Query<std::collections::HashMap<String, String>>| {
                    if let Some(c) = q.get("last_comment_ts").and_then(|v| v.parse().ok()) {
                        cursors.lock().expect("lock").push(c);
                    }
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    let body = if n == 0 {
                        page.as_str().to_string()
                    } else {
                        r#"{"comments":[],"status":"ok"}"#.to_string()
                    };
                    async move { ([("content-type", "application/json")], body) }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("db.sqlite3")).expect("store");
    let (writer, thread) = Writer::spawn(&store).expect("writer");
    let session = Session::parse(r#"{"cookies":{"sessionid":"s","csrftoken":"c"},"uuid":"u"}"#)
        .expect("session");
    let client = Client::new(
        format!("http://{addr}/api/v1/").parse().expect("url"),
        session,
        ClientOptions::default(),
    )
    .expect("client");
    let (signals, _rx) = tokio::sync::mpsc::channel(8);
    let cancel = CancellationToken::new();
    let pool = Pool::single("stub", client);
    let ctx = Ctx {
        broadcast_id: "b1".into(),
        user_id: "9".into(),
        published_time: 1_700_000_000.0,
        lease: std::sync::Arc::new(pool.lease("b1", Default::default())),
        writer: writer.clone(),
        signals,
        cancel: cancel.clone(),
    };
    let poller = tokio::spawn(comments::run(ctx, Duration::from_millis(50), 0.0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while calls.load(Ordering::SeqCst) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "poller stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), poller)
        .await
        .expect("poller stops when cancelled")
        .expect("poller did not panic");
    writer.flush().await.expect("flush");
    drop(writer);
    thread.join();

    let conn = store.connect().expect("connect");
    let text = |pk: &str| -> Option<String> {
        conn.query_row("SELECT text FROM comments WHERE pk = ?1", [pk], |r| {
            r.get(0)
        })
        .ok()
    };
    assert_eq!(text("1").as_deref(), Some(""));
    assert_eq!(text("2").map(|t| t.len()), Some(10_240));
    assert_eq!(text("3").as_deref(), Some("🔥🇧🇷 مرحبا بالعالم"));
    let t4 = text("4").expect("control characters kept (NUL dropped)");
    assert!(t4.contains('\u{7}') && !t4.contains('\0'), "{t4:?}");
    assert_eq!(text("5").as_deref(), Some("half \u{fffd} surrogate"));
    assert!(
        text("6").is_some() && text("7").is_some(),
        "odd times are stored as given"
    );
    assert!(text("8").is_none(), "a comment without a time is rejected");
    let bulk: i64 = conn
        .query_row(
            "SELECT count(*) FROM comments WHERE pk >= '100000' AND length(pk) = 6",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(bulk, 10_000, "the 10,000-comment page is stored whole");
    let raw_user: Option<String> = conn
        .query_row("SELECT username FROM comments WHERE pk = '5'", [], |r| {
            r.get(0)
        })
        .expect("row");
    assert_eq!(raw_user, None, "missing user is fine");
    let sent = cursors.lock().expect("lock").clone();
    assert!(sent.len() >= 2);
    assert!(
        sent.iter().all(|c| *c < 1_800_000_000.0),
        "a far-future comment must not move the cursor: {sent:?}"
    );
    assert!(
        sent[1] >= 1_700_000_109.0,
        "the cursor advanced past the bulk page: {sent:?}"
    );
}
