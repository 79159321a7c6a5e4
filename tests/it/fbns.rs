//! FBNS push: the client against the simulator's broker over real TLS on loopback: device auth persisted and reused, return code 4, a broker
//! that never answers CONNACK or cuts a packet in half, duplicates, live pushes for an owner
//! and a guest, and the pushes that must be ignored.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use iglive::sim::{self, SimHandle};
use iglive::{
    spawn_fbns, Client, ClientOptions, DeviceAuthStore, FbnsError, FbnsHealth, FbnsIdentity,
    FbnsOptions, FbnsState, FbnsStatus, FbnsTrust, Push, PushKind, Session, FBNS_AUTH_FILE,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::support::sim::start;

/// Longest wait for any one expected event.
const WAIT: Duration = Duration::from_secs(10);

/// One push client against a simulator.
struct Pusher {
    rx: mpsc::Receiver<Push>,
    health: FbnsHealth,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

fn options(sim: &SimHandle, state_dir: &Path) -> FbnsOptions {
    let addr = sim.fbns_addr().expect("the scenario has a broker");
    let mut o = FbnsOptions::new(
        state_dir.to_path_buf(),
        FbnsIdentity {
            phone_id: "0123456789abcdef0123456789".into(),
            user_agent: "[FBAN/MQTT;FBAV/449.0.0.52.84;]".into(),
        },
    );
    o.host = "127.0.0.1".into();
    o.port = addr.port();
    o.trust = FbnsTrust::Pem(sim.fbns_cert_pem().expect("certificate"));
    o.connect_timeout = Duration::from_secs(2);
    o.connack_timeout = Duration::from_secs(2);
    o.register_timeout = Duration::from_secs(3);
    o.backoff_base = Duration::from_millis(20);
    o.backoff_max = Duration::from_millis(100);
    o
}

fn api(sim: &SimHandle) -> Client {
    let session = Session::parse(&sim::session_json()).expect("sim session");
    let options = ClientOptions {
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    };
    Client::new(sim.api_base_url(), session, options).expect("client")
}

impl Pusher {
    fn start(sim: &SimHandle, options: FbnsOptions) -> Pusher {
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        let (rx, health) =
            spawn_fbns(options, api(sim), &tracker, cancel.clone()).expect("push starts");
        Pusher {
            rx,
            health,
            cancel,
            tracker,
        }
    }

    async fn until(&self, what: &str, f: impl FnMut(&FbnsStatus) -> bool) -> FbnsStatus {
        tokio::time::timeout(WAIT, self.health.wait_for(f))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", self.health.status()))
            .expect("push task running")
    }

    async fn registered(&self) -> FbnsStatus {
        self.until("registration", |s| {
            matches!(
                s.state,
                FbnsState::Connected {
                    registered: true,
                    ..
                }
            )
        })
        .await
    }

    async fn next_push(&mut self) -> Push {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no push: {:?}", self.health.status()))
            .expect("push channel open")
    }

    /// Cancels and waits for the task to end.
    async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .expect("push task stops");
        assert_eq!(self.health.status().state, FbnsState::Stopped);
    }
}

fn scenario(fbns: &str) -> String {
    format!(
        r#"seed = 3
[[accounts]]
pk = 1001
username = "host.one"
[[accounts]]
pk = 1002
username = "guest.two"
[fbns]
{fbns}
"#
    )
}

/// Polls the simulator's truth until `f` holds.
async fn truth_until(
    sim: &SimHandle,
    what: &str,
    f: impl Fn(&sim::FbnsTruth) -> bool,
) -> sim::FbnsTruth {
    let deadline = Instant::now() + WAIT;
    loop {
        let t = sim.truth().fbns.expect("fbns truth");
        if f(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A simulator running `toml` and a push client against it, its state in a fresh directory;
/// `tune` adjusts the client's options before it starts.
async fn launch(
    toml: &str,
    tune: impl FnOnce(&mut FbnsOptions),
) -> (SimHandle, tempfile::TempDir, Pusher) {
    let sim = start(toml, 1.0).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut o = options(&sim, dir.path());
    tune(&mut o);
    let pusher = Pusher::start(&sim, o);
    (sim, dir, pusher)
}

/// The last error of a status, or "".
fn last_error(s: &FbnsStatus) -> &str {
    s.last_error.as_deref().unwrap_or("")
}

#[tokio::test]
async fn connects_over_tls_registers_and_keeps_auth_private() {
    let (sim, dir, pusher) = launch(&scenario(""), |o| {
        o.state_dir = o.state_dir.join("push");
        o.keep_alive = Duration::from_secs(1);
    })
    .await;
    let state = dir.path().join("push");
    pusher.registered().await;
    pusher.until("a PINGRESP", |s| s.counters.pongs >= 1).await;

    let t = sim.truth().fbns.expect("fbns truth");
    let c = &t.connections[0];
    assert!(c.fresh);
    assert_eq!(c.client_id, "0123456789abcdef0123");
    assert_eq!(c.return_code, Some(0));
    assert_eq!(c.keep_alive, 1);
    assert_eq!(c.connect_topics, [76, 80, 231]);
    assert_eq!(c.subscribed, ["76"]);
    assert!(c.pings >= 1);
    let token = c.token.clone().expect("token issued");
    let reg = &t.registrations[0];
    assert_eq!(
        (reg.device_token.as_str(), reg.users.as_str()),
        (token.as_str(), "1000001")
    );
    assert!(reg.known_device);
    let form = sim
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/push/register/")
        .expect("push/register sent");
    assert_eq!(form.form_value("device_type"), Some("android_mqtt"));
    assert_eq!(form.form_value("is_main_push_channel"), Some("true"));
    assert_eq!(form.form_value("device_sub_type"), Some("2"));

    let file = state.join(FBNS_AUTH_FILE);
    let mode = std::fs::metadata(&file)
        .expect("auth file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let auth = DeviceAuthStore::new(&state)
        .load()
        .expect("loads")
        .expect("saved");
    assert_eq!(Some(auth.di.as_str()), c.device_id.as_deref());
    pusher.stop().await;
}

#[tokio::test]
async fn reconnects_with_the_stored_auth_after_the_broker_drops_the_connection() {
    let (sim, _dir, pusher) = launch(&scenario("drop_connection_after = 0.5"), |_| {}).await;
    pusher
        .until("a second connection", |s| s.counters.connects >= 2)
        .await;
    let t = truth_until(&sim, "two accepted connections", |t| {
        t.connections
            .iter()
            .filter(|c| c.return_code == Some(0))
            .count()
            >= 2
    })
    .await;
    let (first, second) = (&t.connections[0], &t.connections[1]);
    assert!(first.fresh && !second.fresh, "{t:?}");
    assert_eq!(first.device_id, second.device_id, "same device");
    assert_eq!(
        second.client_id,
        first.device_id.as_deref().expect("di")[..20],
        "the client id becomes di[:20]"
    );
    let status = pusher.health.status();
    assert!(status.counters.failures >= 1);
    assert!(last_error(&status).contains("closed"), "{status:?}");
    pusher.stop().await;
}

#[tokio::test]
async fn return_code_4_drops_the_auth_and_registers_afresh() {
    // Auth from another broker: this one has never seen the device.
    let stale = r#"{"ck":111111111111111,"cs":"old","di":"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee","ds":"old"}"#;
    let (sim, dir, pusher) = launch(&scenario(""), |o| {
        std::fs::write(o.state_dir.join(FBNS_AUTH_FILE), stale).expect("stale auth");
    })
    .await;
    let status = pusher.registered().await;
    assert!(last_error(&status).contains("return code 4"), "{status:?}");
    let t = sim.truth().fbns.expect("fbns truth");
    assert_eq!(
        (t.connections[0].fresh, t.connections[0].return_code),
        (false, Some(4))
    );
    assert_eq!(t.connections[0].client_id, "aaaaaaaa-bbbb-4ccc-8");
    assert_eq!(
        (t.connections[1].fresh, t.connections[1].return_code),
        (true, Some(0))
    );
    let auth = DeviceAuthStore::new(dir.path())
        .load()
        .expect("loads")
        .expect("new auth");
    assert_eq!(
        Some(auth.di.as_str()),
        t.connections[1].device_id.as_deref()
    );
    pusher.stop().await;
}

#[tokio::test]
async fn a_broker_that_never_answers_connack_times_out_and_is_retried() {
    let started = Instant::now();
    let (sim, _dir, pusher) = launch(&scenario("never_connack = 1"), |o| {
        o.connack_timeout = Duration::from_millis(300);
    })
    .await;
    let status = pusher.registered().await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status.counters.failures, 1);
    assert!(
        last_error(&status).contains("CONNACK did not complete"),
        "{status:?}"
    );
    let t = sim.truth().fbns.expect("fbns truth");
    assert_eq!(t.connections[0].return_code, None);
    assert_eq!(t.connections[1].return_code, Some(0));
    assert!(
        t.connections[1].fresh,
        "nothing was stored by the silent broker"
    );
    pusher.stop().await;
}

#[tokio::test]
async fn an_unanswered_ping_ends_the_connection() {
    let (sim, _dir, pusher) = launch(&scenario("ignore_pings = true"), |o| {
        o.keep_alive = Duration::from_secs(1);
        o.ping_timeout = Duration::from_millis(300);
    })
    .await;
    let status = pusher
        .until("a ping timeout", |s| s.counters.failures >= 1)
        .await;
    assert!(
        last_error(&status).contains("no answer to PINGREQ within 300 ms"),
        "{status:?}"
    );
    pusher
        .until("the reconnect", |s| s.counters.connects >= 2)
        .await;
    let t = sim.truth().fbns.expect("fbns truth");
    assert!(t.connections[0].pings >= 1);
    assert!(!t.connections[1].fresh, "the stored auth is reused");
    pusher.stop().await;
}

/// A scripted live push at `at`, for broadcast 17900000000000101 of 1001.
fn live_push(at: f64, key: &str) -> String {
    format!("[[fbns.pushes]]\nat = {at}\ncollapse_key = \"{key}\"\nuser = 1001\nbroadcast = 17900000000000101\n")
}

/// `scenario(fbns)` with a `live_broadcast` push at 1.5 s.
fn with_live_push(fbns: &str) -> String {
    scenario(&format!("{fbns}\n{}", live_push(1.5, "live_broadcast")))
}

#[tokio::test]
async fn a_push_cut_mid_packet_is_delivered_after_the_reconnect() {
    let (sim, _dir, mut pusher) = launch(&with_live_push("drop_mid_packet = 1"), |_| {}).await;
    pusher.registered().await;
    let push = pusher.next_push().await;
    assert_eq!(push.kind, PushKind::LiveBroadcast);
    assert_eq!(push.broadcast_id.as_deref(), Some("17900000000000101"));
    let status = pusher.health.status();
    assert_eq!(status.counters.connects, 2, "{status:?}");
    assert!(
        last_error(&status).contains("middle of a packet"),
        "{status:?}"
    );
    let t = truth_until(&sim, "the PUBACK", |t| t.pushes[0].acks == 1).await;
    assert_eq!(
        t.pushes[0].writes, 1,
        "one complete write, after the cut one"
    );
    assert!(!t.connections[1].fresh);
    pusher.stop().await;
}

#[tokio::test]
async fn a_repeated_notification_is_delivered_once() {
    let (sim, _dir, mut pusher) =
        launch(&with_live_push("duplicate_probability = 1.0"), |_| {}).await;
    pusher.registered().await;
    let push = pusher.next_push().await;
    pusher
        .until("the repeat", |s| s.counters.duplicates == 1)
        .await;
    assert!(
        pusher.rx.try_recv().is_err(),
        "the repeat was not delivered"
    );
    let t = truth_until(&sim, "both PUBACKs", |t| t.pushes[0].acks == 2).await;
    assert!(t.pushes[0].duplicated);
    assert_eq!(t.pushes[0].writes, 2);
    assert_eq!(push.nid.as_deref(), Some(t.pushes[0].nid.as_str()));
    assert_eq!(pusher.health.status().counters.delivered, 1);
    pusher.stop().await;
}

#[tokio::test]
async fn silent_and_non_live_pushes_are_ignored() {
    let fbns = format!(
        "[[fbns.pushes]]\nat = 1.5\ncollapse_key = \"post\"\nuser = 1002\n\
         [[fbns.pushes]]\nat = 1.5\ncollapse_key = \"reachability_silent_push\"\nuser = 1002\n{}",
        live_push(1.6, "live_broadcast_revoke")
    );
    let (_sim, _dir, mut pusher) = launch(&scenario(&fbns), |_| {}).await;
    pusher.registered().await;
    let push = pusher.next_push().await;
    assert_eq!(push.kind, PushKind::LiveBroadcastRevoke);
    assert!(!push.kind.is_start());
    let status = pusher.health.status();
    assert_eq!((status.counters.ignored, status.counters.delivered), (2, 1));
    pusher.stop().await;
}

#[tokio::test]
async fn lives_of_an_owner_and_a_guest_come_out_as_typed_pushes() {
    let toml = scenario(
        "delay = [0.0, 0.1]
[[broadcasts]]
id = 17900000000000101
owner = 1001
start = 1.5
duration = 1.0
cobroadcasters = [1002]",
    );
    let (sim, _dir, mut pusher) = launch(&toml, |_| {}).await;
    pusher.registered().await;
    let mut pushes = Vec::new();
    for _ in 0..3 {
        pushes.push(pusher.next_push().await);
    }
    let kind = |k: PushKind| pushes.iter().find(|p| p.kind == k).cloned().expect("kind");
    let owner = kind(PushKind::LiveBroadcast);
    let guest = kind(PushKind::LiveWithBroadcast);
    let end = kind(PushKind::LiveBroadcastRevoke);
    let published = sim.unix_time(1.5).floor() as i64;
    for p in [&owner, &guest, &end] {
        assert_eq!(p.broadcast_id.as_deref(), Some("17900000000000101"));
        assert_eq!(p.published_time, Some(published));
        assert_eq!(p.recipient_pk.as_deref(), Some("1000001"));
        assert!(!p.silent);
    }
    assert_eq!(owner.owner_pk.as_deref(), Some("1001"));
    assert_eq!(
        guest.owner_pk.as_deref(),
        Some("1002"),
        "reel_id names the guest"
    );
    assert_eq!(guest.source_pk.as_deref(), Some("1001"));
    assert_eq!(end.owner_pk.as_deref(), Some("1001"));
    let t = sim.truth().fbns.expect("fbns truth");
    let mut sent: Vec<_> = t.pushes.iter().map(|p| p.nid.clone()).collect();
    let mut got: Vec<_> = pushes.iter().filter_map(|p| p.nid.clone()).collect();
    sent.sort();
    got.sort();
    assert_eq!(sent, got, "every planned push arrived, once");
    pusher.stop().await;
}

#[tokio::test]
async fn an_untrusted_broker_certificate_is_refused() {
    let other =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    let (sim, dir, pusher) = launch(&scenario(""), |o| {
        o.trust = FbnsTrust::Pem(other.cert.pem())
    })
    .await;
    let status = pusher
        .until("a failure", |s| s.counters.failures >= 2)
        .await;
    assert!(last_error(&status).contains("TLS"), "{status:?}");
    assert!(sim.truth().fbns.expect("truth").connections.is_empty());
    pusher.stop().await;
    let bad = spawn_fbns(
        FbnsOptions {
            trust: FbnsTrust::Pem("not a certificate".into()),
            ..options(&sim, dir.path())
        },
        api(&sim),
        &TaskTracker::new(),
        CancellationToken::new(),
    );
    assert!(matches!(bad, Err(FbnsError::Setup(_))));
}
