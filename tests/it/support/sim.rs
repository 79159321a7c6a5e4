//! Helpers shared by the simulator's integration tests.

use std::time::{Duration, Instant};

use iglive::sim::{self, Scenario, SimHandle, SimOptions};
use serde_json::Value;

pub const COOKIE: &str = "sessionid=1000001%3Asim%3A1; ds_user_id=1000001; csrftoken=tok";

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

pub async fn start(toml: &str, speed: f64) -> SimHandle {
    let scenario = Scenario::from_toml_str(toml).expect("scenario parses");
    sim::start(
        scenario,
        SimOptions {
            speed,
            ..SimOptions::default()
        },
    )
    .await
    .expect("simulator starts")
}

/// Polls the simulated clock until it reaches `t` (sim seconds); fails after 60 real seconds.
pub async fn wait_sim(h: &SimHandle, t: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.now() < t {
        assert!(
            Instant::now() < deadline,
            "simulated clock never reached {t}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// GET with the session cookie; returns status, headers and the body parsed as JSON (Null if
/// it is not JSON).
pub async fn get(h: &SimHandle, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = h.base_url().join(path).expect("url");
    let resp = client()
        .get(url)
        .header("cookie", COOKIE)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

pub async fn get_bytes(h: &SimHandle, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let url = h.base_url().join(path).expect("url");
    let resp = client().get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.expect("body").to_vec())
}
