//! Test scaffolding: a tiny stand-in for Instagram's API on 127.0.0.1:0 that records every
//! request and answers with whatever the test's handler decides. Not the simulator.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use iglive::Session;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One request as the stub received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn query_map(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }
}

/// The stub's answer to one request.
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Never answer (timeout tests).
    Hang,
}

impl Reply {
    pub fn json(body: impl Into<String>) -> Reply {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: impl Into<String>) -> Reply {
        Reply::Respond {
            status,
            headers: vec![],
            body: body.into(),
        }
    }
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

#[derive(Clone)]
struct StubState {
    log: Arc<Mutex<Vec<Recorded>>>,
    notify: Arc<Notify>,
    handler: Arc<Handler>,
}

/// A running stub server.
pub struct Stub {
    pub base: url::Url,
    log: Arc<Mutex<Vec<Recorded>>>,
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

async fn handle(
    axum::extract::State(st): axum::extract::State<StubState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    let n = {
        let mut log = st.log.lock().expect("log lock");
        log.push(rec.clone());
        log.len() - 1
    };
    st.notify.notify_waiters();
    match (st.handler)(&rec, n) {
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let mut resp =
                (StatusCode::from_u16(status).expect("valid status"), body).into_response();
            for (k, v) in headers {
                resp.headers_mut()
                    .insert(k, v.parse().expect("valid header value"));
            }
            resp
        }
        Reply::Hang => std::future::pending().await,
    }
}

impl Stub {
    pub async fn start(
        handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Stub {
        let log = Arc::new(Mutex::new(Vec::new()));
        let notify = Arc::new(Notify::new());
        let state = StubState {
            log: log.clone(),
            notify: notify.clone(),
            handler: Arc::new(handler),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Stub {
            base: format!("http://{addr}/api/v1/").parse().expect("base url"),
            log,
            notify,
            task,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().expect("log lock").clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().expect("log lock").len()
    }

    /// Waits until `pred` holds over the request log, or `limit` passes (returns false).
    pub async fn wait_until(&self, limit: Duration, pred: impl Fn(&[Recorded]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if pred(&self.requests()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return pred(&self.requests());
            }
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A cookie session like ping's.
pub fn cookie_session() -> Session {
    let mut s = Session {
        uuid: "uuid-1234".into(),
        user_agent: "Instagram 449.0.0.52.84 Android (test)".into(),
        android_device_id: Some("android-0123456789abcdef".into()),
        ds_user_id: Some("42".into()),
        ..Session::default()
    };
    for (k, v) in [
        ("sessionid", "42%3Asecret"),
        ("csrftoken", "csrf-xyz"),
        ("ds_user_id", "42"),
        ("mid", "mid-1"),
    ] {
        s.cookies.insert(k.into(), v.into());
    }
    s
}

/// A bearer session like instagrapi's.
pub fn bearer_session() -> Session {
    let mut s = cookie_session();
    s.cookies.retain(|k, _| k == "mid");
    s.authorization = Some("Bearer IGT:2:eyJzZXNzaW9uaWQiOiJ4In0=".into());
    s
}

pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/instagram/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).expect("fixture readable")
}
