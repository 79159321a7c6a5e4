//! Webhook delivery without the daemon: retries with backoff on 5xx until a 2xx, no retry on
//! other 4xx, and the documented payload for a recorder event.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use iglive::Notifier;
use iglive::RecorderEvent;
use iglive::{NotifyConfig, NotifyEvent};

#[derive(Default)]
struct Receiver {
    hits: AtomicUsize,
    /// Answer this status for the first `fail_first` requests, then 200.
    fail_first: usize,
    fail_status: u16,
    bodies: Mutex<Vec<serde_json::Value>>,
}

async fn serve(r: Arc<Receiver>) -> url::Url {
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|State(r): State<Arc<Receiver>>, body: String| async move {
                let n = r.hits.fetch_add(1, Ordering::SeqCst);
                if n < r.fail_first {
                    return StatusCode::from_u16(r.fail_status).unwrap_or(StatusCode::IM_A_TEAPOT);
                }
                if let Ok(v) = serde_json::from_str(&body) {
                    r.bodies.lock().expect("lock").push(v);
                }
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    url::Url::parse(&format!("http://{addr}/hook")).expect("url")
}

fn hook(url: url::Url) -> NotifyConfig {
    NotifyConfig {
        name: "test".into(),
        url: Some(url),
        command: None,
        events: NotifyEvent::ALL.to_vec(),
        timeout: Duration::from_secs(5),
        retries: 3,
        retry_backoff: Duration::from_millis(50),
    }
}

fn finished() -> RecorderEvent {
    RecorderEvent::Finished {
        broadcast_id: "1789".into(),
        user_id: "42".into(),
        username: Some("host".into()),
        folder: "/r/host/2026-11-25_100000_1789".into(),
        ok: false,
        reason: "muxing failed".into(),
    }
}

#[tokio::test]
async fn retries_server_errors_until_delivered() {
    let r = Arc::new(Receiver {
        fail_first: 2,
        fail_status: 503,
        ..Default::default()
    });
    let url = serve(r.clone()).await;
    let n = Notifier::new(vec![hook(url)], None).expect("notifier");
    n.recorder_event(&finished());
    n.drain(Duration::from_secs(10)).await;
    assert_eq!(r.hits.load(Ordering::SeqCst), 3, "two 503s, then delivered");
    let bodies = r.bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 1);
    let b = &bodies[0];
    assert_eq!(b["event"], "recording_failed");
    assert_eq!(b["broadcast_id"], "1789");
    assert_eq!(b["username"], "host");
    assert_eq!(b["message"], "muxing failed");
    assert_eq!(b["folder"], "/r/host/2026-11-25_100000_1789");
    assert!(b["video"].is_null() && b["recording"].is_null());
}

#[tokio::test]
async fn client_errors_are_not_retried_and_unsubscribed_events_not_sent() {
    let r = Arc::new(Receiver {
        fail_first: usize::MAX,
        fail_status: 400,
        ..Default::default()
    });
    let url = serve(r.clone()).await;
    let mut only_live = hook(url.clone());
    only_live.events = vec![NotifyEvent::LiveDetected];
    let n = Notifier::new(vec![hook(url), only_live], None).expect("notifier");
    n.recorder_event(&finished());
    n.drain(Duration::from_secs(10)).await;
    assert_eq!(
        r.hits.load(Ordering::SeqCst),
        1,
        "one attempt, by the hook that wants the event"
    );
}

#[tokio::test]
async fn one_session_expired_for_a_burst_of_them() {
    let r = Arc::new(Receiver::default());
    let url = serve(r.clone()).await;
    let n = Notifier::new(vec![hook(url)], None).expect("notifier");
    for i in 0..5 {
        n.recorder_event(&RecorderEvent::SessionExpired(format!(
            "recording {i}: login_required"
        )));
    }
    n.drain(Duration::from_secs(10)).await;
    assert_eq!(r.hits.load(Ordering::SeqCst), 1);
    let bodies = r.bodies.lock().expect("lock").clone();
    assert_eq!(bodies[0]["event"], "session_expired");
    assert_eq!(bodies[0]["message"], "recording 0: login_required");
}
