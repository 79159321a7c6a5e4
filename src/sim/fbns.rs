//! The simulated FBNS broker: MQTToT over TLS on a loopback port, with a certificate made at
//! start (`SimHandle::fbns_cert_pem`), following the simulator checklist of docs/instagram.md
//! §9 "What an FBNS simulator must provide": CONNECT decoded (any Thrift field order), fresh
//! device auth for a first connection, return code 4 for auth it does not know, SUBACK,
//! PUBACK and a token for `/fbns_reg_req`, PINGRESP, and the planned pushes (`fbns_plan`)
//! delivered QoS 1 to every device whose token reached `push/register/`, again after a
//! reconnect until PUBACKed. Faults (`FbnsSpec`): no CONNACK, connections closed after a
//! while, a push cut mid-packet, valid auth rejected, unanswered pings, a refused
//! registration.
//!
//! It speaks through `mqttot`, the codec the FBNS client uses too, whose bytes are pinned by
//! the reference's test vectors; the Connect payload is decoded generically (any field order,
//! long headers), not with the client's writer.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::mqttot::{
    self, topic, ConnAck, ConnectPayload, MqttotCodec, Packet, Publish, Qos, SubAck,
};

use super::error::SimError;
use super::fbns_plan::PlannedPush;
use super::scenario::FbnsSpec;
use super::state::SimState;
use super::truth::{FbnsConnectionTruth, FbnsPushTruth, FbnsTruth, PushRegistrationTruth};

/// Real-time bound on the TLS handshake and on the CONNECT after it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Unacknowledged pushes in flight per connection, and queued per offline device.
const MAX_INFLIGHT: usize = 32;
const MAX_OUTBOX: usize = 1000;
/// Connections and registrations kept in the truth.
const MAX_RECORDS: usize = 10_000;
/// The registration `appid`s accepted, as strings or numbers (docs/instagram.md §9).
const APP_IDS: [&str; 2] = [mqttot::APP_ID, "567310203415052"];

type Conn = Framed<TlsStream<TcpStream>, MqttotCodec>;

#[derive(Clone)]
struct Outgoing {
    push: usize,
    payload: Bytes,
}

struct Device {
    ck: i64,
    cs: String,
    ds: String,
    /// The CONNACK JSON, sent again on every accepted reconnect.
    auth_json: String,
    token: Option<String>,
    /// `users` of the `push/register/` call that named the token.
    users: Option<String>,
    outbox: VecDeque<Outgoing>,
    notify: Arc<Notify>,
    /// Bumped by every accepted connection: an older one still open stops serving.
    generation: u64,
}

struct BrokerState {
    rng: StdRng,
    devices: HashMap<String, Device>,
    connections: Vec<FbnsConnectionTruth>,
    registrations: Vec<PushRegistrationTruth>,
    pushes: Vec<FbnsPushTruth>,
    never_connack_left: u32,
    drop_mid_left: u32,
    reject_left: u32,
    tokens: u64,
}

/// The broker's configuration and record.
pub struct Broker {
    addr: SocketAddr,
    cert_pem: String,
    acceptor: TlsAcceptor,
    spec: FbnsSpec,
    plan: Vec<PlannedPush>,
    state: Mutex<BrokerState>,
}

impl Broker {
    /// A broker for `addr` (already bound) with a fresh self-signed certificate for
    /// `localhost` and the listener's IP.
    pub fn new(
        addr: SocketAddr,
        spec: FbnsSpec,
        plan: Vec<PlannedPush>,
        seed: u64,
    ) -> Result<Broker, SimError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| SimError::Fbns(format!("{what}: {e}"));
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            addr.ip().to_string(),
        ])
        .map_err(|e| fail("certificate", &e))?;
        let key =
            rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail("TLS", &e))?
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key.into())
            .map_err(|e| fail("TLS certificate", &e))?;
        let pushes = plan
            .iter()
            .map(|p| FbnsPushTruth {
                due: p.due,
                collapse_key: p.collapse_key.clone(),
                broadcast_id: p.broadcast_id.clone(),
                reel_id: p.reel_id.to_string(),
                nid: p.nid.clone(),
                lost: p.lost,
                duplicated: p.duplicated,
                sent_at: None,
                devices: Vec::new(),
                writes: 0,
                acks: 0,
            })
            .collect();
        Ok(Broker {
            addr,
            cert_pem: certified.cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
            state: Mutex::new(BrokerState {
                rng: StdRng::seed_from_u64(seed ^ 0x00fb_a075),
                devices: HashMap::new(),
                connections: Vec::new(),
                registrations: Vec::new(),
                pushes,
                never_connack_left: spec.never_connack,
                drop_mid_left: spec.drop_mid_packet,
                reject_left: spec.reject_stored_auth,
                tokens: 0,
            }),
            spec,
            plan,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TLS certificate (PEM) clients must trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    fn lock(&self) -> MutexGuard<'_, BrokerState> {
        // A poisoned lock only means a panic mid-update elsewhere; the record stays usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn truth(&self) -> FbnsTruth {
        let st = self.lock();
        FbnsTruth {
            address: self.addr.to_string(),
            connections: st.connections.clone(),
            registrations: st.registrations.clone(),
            pushes: st.pushes.clone(),
        }
    }

    /// `push/register/`: binds `device_token` (opaque, or the app's `fbns-b64` form) to
    /// `users`, so the device gets pushes from now on.
    pub fn register_http(&self, device_token: &str, users: &str, at: f64) {
        let mut st = self.lock();
        let key = st
            .devices
            .iter()
            .find(|(_, d)| d.token.as_deref() == Some(device_token))
            .map(|(di, _)| di.clone())
            .or_else(|| local_token_device(device_token));
        let device = key.and_then(|di| st.devices.get_mut(&di));
        let known_device = device.is_some();
        if let Some(d) = device {
            d.users = Some(users.to_string());
            if d.token.is_none() {
                d.token = Some(device_token.to_string());
            }
        }
        if st.registrations.len() < MAX_RECORDS {
            st.registrations.push(PushRegistrationTruth {
                at,
                device_token: device_token.to_string(),
                users: users.to_string(),
                known_device,
            });
        }
    }

    /// Queues planned push `i` for every registered device (unless it is lost).
    fn release(&self, i: usize, now: f64) {
        let Some(p) = self.plan.get(i) else { return };
        let mut st = self.lock();
        let mut devices = Vec::new();
        if !p.lost {
            for (di, d) in st.devices.iter_mut() {
                let (Some(token), Some(users)) = (&d.token, &d.users) else {
                    continue;
                };
                let Ok(payload) = mqttot::compress(p.json(token, d.ck, Some(users)).as_bytes())
                else {
                    continue;
                };
                let copies = if p.duplicated { 2 } else { 1 };
                for _ in 0..copies {
                    if d.outbox.len() >= MAX_OUTBOX {
                        d.outbox.pop_front();
                    }
                    d.outbox.push_back(Outgoing {
                        push: i,
                        payload: Bytes::from(payload.clone()),
                    });
                }
                d.notify.notify_one();
                devices.push(di.clone());
            }
        }
        if let Some(t) = st.pushes.get_mut(i) {
            t.sent_at = Some(now);
            t.devices = devices;
        }
    }

    /// A fresh device: new `{ck, cs, di, ds, sr}`.
    fn new_device(&self) -> (String, String) {
        let mut st = self.lock();
        let rng = &mut st.rng;
        let secret = |rng: &mut StdRng| {
            let bytes: [u8; 20] = rng.gen();
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        let ck: i64 = rng.gen_range(100_000_000_000_000..999_999_999_999_999);
        let (cs, ds) = (secret(rng), secret(rng));
        let u: [u8; 16] = rng.gen();
        let di = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            u32::from_be_bytes([u[0], u[1], u[2], u[3]]),
            u16::from_be_bytes([u[4], u[5]]),
            u16::from_be_bytes([u[6], u[7]]) & 0x0fff,
            (u16::from_be_bytes([u[8], u[9]]) & 0x3fff) | 0x8000,
            u64::from_be_bytes([0, 0, u[10], u[11], u[12], u[13], u[14], u[15]]),
        );
        let auth_json = json!({"ck": ck, "cs": cs, "di": di, "ds": ds, "sr": 30}).to_string();
        st.devices.insert(
            di.clone(),
            Device {
                ck,
                cs,
                ds,
                auth_json: auth_json.clone(),
                token: None,
                users: None,
                outbox: VecDeque::new(),
                notify: Arc::new(Notify::new()),
                generation: 0,
            },
        );
        (di, auth_json)
    }

    /// The device the stored auth of `c` names, if every secret matches.
    fn known_device(&self, c: &ConnectPayload) -> Option<String> {
        let st = self.lock();
        let d = st.devices.get(&c.device_id)?;
        (d.ck == c.user_id && d.cs == c.password && d.ds == c.device_secret)
            .then(|| c.device_id.clone())
    }

    fn record(&self, conn: Option<usize>, f: impl FnOnce(&mut FbnsConnectionTruth)) {
        if let Some(i) = conn {
            if let Some(t) = self.lock().connections.get_mut(i) {
                f(t);
            }
        }
    }
}

/// The `di` inside an app-built `fbns-b64` token (docs/instagram.md §9 "Local token").
fn local_token_device(token: &str) -> Option<String> {
    let v: Value = serde_json::from_str(token).ok()?;
    if v.get("t")?.as_str()? != "fbns-b64" {
        return None;
    }
    let k = base64::engine::general_purpose::STANDARD
        .decode(v.get("k")?.as_str()?)
        .ok()?;
    let inner: Value = serde_json::from_slice(&k).ok()?;
    Some(inner.get("di")?.as_str()?.to_string())
}

/// Accepts connections and releases the planned pushes until `stop`.
pub async fn serve(listener: TcpListener, state: Arc<SimState>, stop: CancellationToken) {
    let Some(broker) = state.fbns.clone() else {
        return;
    };
    let accept = {
        let (state, broker) = (state.clone(), broker.clone());
        super::server::serve_each(listener, stop.clone(), move |stream| {
            let (state, broker) = (state.clone(), broker.clone());
            async move { connection(&state, &broker, stream).await }
        })
    };
    tokio::join!(schedule(state, broker, stop), accept);
}

async fn schedule(state: Arc<SimState>, broker: Arc<Broker>, stop: CancellationToken) {
    for (i, p) in broker.plan.iter().enumerate() {
        let wait = state.clock.real_until(p.due);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        broker.release(i, state.clock.now());
    }
}

async fn at(deadline: Option<Instant>) {
    match deadline {
        Some(d) => sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One client connection, from the TLS handshake to its end.
async fn connection(state: &SimState, broker: &Broker, stream: TcpStream) {
    let Ok(Ok(tls)) = timeout(HANDSHAKE_TIMEOUT, broker.acceptor.accept(stream)).await else {
        return;
    };
    let mut conn = Framed::new(tls, MqttotCodec);
    let Ok(Some(Ok(Packet::Connect(connect)))) = timeout(HANDSHAKE_TIMEOUT, conn.next()).await
    else {
        return;
    };
    let Ok(payload) = ConnectPayload::from_connect(&connect) else {
        tracing::debug!("sim fbns: CONNECT payload does not decode; closing");
        return;
    };
    let index = {
        let mut st = broker.lock();
        (st.connections.len() < MAX_RECORDS).then(|| {
            st.connections.push(FbnsConnectionTruth {
                at: state.clock.now(),
                client_id: payload.client_identifier.clone(),
                keep_alive: connect.keep_alive,
                user_agent: payload.user_agent.clone(),
                fresh: payload.is_fresh(),
                device_id: None,
                return_code: None,
                connect_topics: payload.subscribe_topics.clone(),
                subscribed: Vec::new(),
                token: None,
                pings: 0,
            });
            st.connections.len() - 1
        })
    };
    let silent = {
        let mut st = broker.lock();
        let silent = st.never_connack_left > 0;
        st.never_connack_left = st.never_connack_left.saturating_sub(1);
        silent
    };
    if silent {
        // Read and ignore until the client gives up.
        while let Some(Ok(_)) = conn.next().await {}
        return;
    }
    let accepted = if payload.is_fresh() {
        Some(broker.new_device())
    } else {
        broker.known_device(&payload).and_then(|di| {
            let mut st = broker.lock();
            if st.reject_left > 0 {
                st.reject_left -= 1;
                st.devices.remove(&di);
                return None;
            }
            let json = st.devices.get(&di).map(|d| d.auth_json.clone())?;
            Some((di, json))
        })
    };
    let Some((di, auth_json)) = accepted else {
        broker.record(index, |t| t.return_code = Some(4));
        let _ = conn
            .send(Packet::ConnAck(ConnAck {
                session_present: false,
                return_code: 4,
                payload: None,
            }))
            .await;
        return;
    };
    let ack = Packet::ConnAck(ConnAck {
        session_present: false,
        return_code: 0,
        payload: Some(Bytes::from(auth_json)),
    });
    if conn.send(ack).await.is_err() {
        return;
    }
    broker.record(index, |t| {
        t.return_code = Some(0);
        t.device_id = Some(di.clone());
    });
    serve_device(state, broker, &mut conn, &di, index).await;
}

/// The accepted connection of device `di`: deliveries, registration, pings.
async fn serve_device(
    state: &SimState,
    broker: &Broker,
    conn: &mut Conn,
    di: &str,
    index: Option<usize>,
) {
    let (notify, generation) = {
        let mut st = broker.lock();
        let Some(d) = st.devices.get_mut(di) else {
            return;
        };
        d.generation += 1;
        (d.notify.clone(), d.generation)
    };
    let drop_at = broker
        .spec
        .drop_connection_after
        .map(|t| Instant::now() + state.clock.real(t));
    let mut session = DeviceSession {
        broker,
        di,
        index,
        generation,
        inflight: Vec::new(),
        last_id: 0,
    };
    'serve: while session.deliver(conn).await {
        let item = tokio::select! {
            _ = at(drop_at) => break,
            _ = notify.notified() => continue,
            item = conn.next() => item,
        };
        let Some(Ok(packet)) = item else { break };
        let Some(replies) = session.reply(packet) else {
            break;
        };
        for p in replies {
            if !matches!(timeout(HANDSHAKE_TIMEOUT, conn.send(p)).await, Ok(Ok(()))) {
                break 'serve;
            }
        }
    }
    session.requeue();
}

/// One accepted connection's delivery state.
struct DeviceSession<'a> {
    broker: &'a Broker,
    di: &'a str,
    index: Option<usize>,
    generation: u64,
    /// Sent, not yet PUBACKed, in sending order.
    inflight: Vec<(u16, Outgoing)>,
    last_id: u16,
}

impl DeviceSession<'_> {
    fn packet_id(&mut self) -> u16 {
        self.last_id = self.last_id.checked_add(1).unwrap_or(1);
        self.last_id
    }

    /// Sends what is queued, up to the in-flight bound; false when the connection is over
    /// (a write failed, a cut was scripted, or a newer connection took the device).
    async fn deliver(&mut self, conn: &mut Conn) -> bool {
        while self.inflight.len() < MAX_INFLIGHT {
            let (msg, cut) = {
                let mut st = self.broker.lock();
                let Some(d) = st
                    .devices
                    .get_mut(self.di)
                    .filter(|d| d.generation == self.generation)
                else {
                    return false;
                };
                let Some(msg) = d.outbox.pop_front() else {
                    return true;
                };
                let cut = st.drop_mid_left > 0;
                st.drop_mid_left = st.drop_mid_left.saturating_sub(1);
                (msg, cut)
            };
            let id = self.packet_id();
            let packet = Packet::Publish(Publish {
                topic: topic::MESSAGE.into(),
                qos: Qos::AtLeastOnce,
                dup: false,
                retain: false,
                packet_id: Some(id),
                payload: msg.payload.clone(),
            });
            self.inflight.push((id, msg.clone()));
            if cut {
                if let Ok(bytes) = packet.to_bytes() {
                    let io = conn.get_mut();
                    let _ = io.write_all(&bytes[..bytes.len() / 2]).await;
                    // A clean TLS close: the client sees the stream end inside the packet.
                    let _ = io.shutdown().await;
                }
                return false;
            }
            if !matches!(
                timeout(HANDSHAKE_TIMEOUT, conn.send(packet)).await,
                Ok(Ok(()))
            ) {
                return false;
            }
            if let Some(t) = self.broker.lock().pushes.get_mut(msg.push) {
                t.writes += 1;
            }
        }
        true
    }

    /// The answer to one packet from the client; `None` ends the connection.
    fn reply(&mut self, packet: Packet) -> Option<Vec<Packet>> {
        let (broker, index) = (self.broker, self.index);
        Some(match packet {
            Packet::Subscribe(s) => {
                let codes = s.topics.iter().map(|(_, q)| *q as u8).collect();
                broker.record(index, |t| {
                    t.subscribed
                        .extend(s.topics.iter().map(|(name, _)| name.clone()))
                });
                vec![Packet::SubAck(SubAck {
                    packet_id: s.packet_id,
                    return_codes: codes,
                })]
            }
            Packet::Publish(p) => {
                let mut out = Vec::new();
                if let (Qos::AtLeastOnce, Some(id)) = (p.qos, p.packet_id) {
                    out.push(Packet::PubAck { packet_id: id });
                }
                if topic::id(&p.topic) == topic::REG_REQ {
                    let answer = registration(broker, self.di, &p.payload, index);
                    if let Ok(payload) = mqttot::compress(answer.as_bytes()) {
                        out.push(Packet::Publish(Publish {
                            topic: topic::REG_RESP.into(),
                            qos: Qos::AtLeastOnce,
                            dup: false,
                            retain: false,
                            packet_id: Some(self.packet_id()),
                            payload: Bytes::from(payload),
                        }));
                    }
                }
                out
            }
            Packet::PubAck { packet_id: id } => {
                if let Some(i) = self.inflight.iter().position(|(p, _)| *p == id) {
                    let (_, msg) = self.inflight.remove(i);
                    if let Some(t) = broker.lock().pushes.get_mut(msg.push) {
                        t.acks += 1;
                    }
                }
                vec![]
            }
            Packet::PingReq => {
                broker.record(index, |t| t.pings += 1);
                if broker.spec.ignore_pings {
                    vec![]
                } else {
                    vec![Packet::PingResp]
                }
            }
            Packet::Disconnect => return None,
            _ => vec![],
        })
    }

    /// Whatever was not acknowledged goes out again on the device's next connection.
    fn requeue(self) {
        if self.inflight.is_empty() {
            return;
        }
        let mut st = self.broker.lock();
        if let Some(d) = st.devices.get_mut(self.di) {
            for (_, msg) in self.inflight.into_iter().rev() {
                d.outbox.push_front(msg);
            }
        }
    }
}

/// The `/fbns_reg_resp` JSON for a `/fbns_reg_req` payload; issues the device's token.
fn registration(broker: &Broker, di: &str, payload: &[u8], index: Option<usize>) -> String {
    let package = mqttot::PACKAGE;
    let request: Option<Value> = mqttot::payload(payload, mqttot::MAX_INFLATED)
        .ok()
        .and_then(|j| serde_json::from_slice(&j).ok());
    let app_id = request
        .as_ref()
        .and_then(|r| r.get("appid"))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    let known_app = app_id.is_some_and(|a| APP_IDS.contains(&a.as_str()));
    let right_package = request
        .as_ref()
        .and_then(|r| r.get("pkg_name"))
        .and_then(Value::as_str)
        == Some(package);
    if let Some(error) = &broker.spec.registration_error {
        return json!({"pkg_name": package, "error": error}).to_string();
    }
    if !(known_app && right_package) {
        return json!({"pkg_name": package, "error": "invalid registration request"}).to_string();
    }
    let mut st = broker.lock();
    st.tokens += 1;
    let token = format!("sim-fbns-token-{}", st.tokens);
    if let Some(d) = st.devices.get_mut(di) {
        d.token = Some(token.clone());
    }
    if let Some(t) = index.and_then(|i| st.connections.get_mut(i)) {
        t.token = Some(token.clone());
    }
    json!({"pkg_name": package, "token": token, "error": ""}).to_string()
}
