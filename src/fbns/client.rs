//! The FBNS connection task (docs/instagram.md §9 "Sequence", "Keep-alive and reconnect"):
//! TLS to the broker, CONNECT with the stored device auth (or none), CONNACK within a
//! deadline, the auth persisted, SUBSCRIBE, the token request and `push/register/`, then
//! notifications until the connection fails, with PINGREQ at the keep-alive and a deadline on
//! the answer. Any failure ends the connection and the next attempt follows a jittered,
//! capped exponential backoff that resets after a healthy connection. Live pushes come out
//! of an `mpsc` channel, de-duplicated; silent and non-live ones are counted and dropped.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::instagram::{ApiError, Client};
use crate::mqttot::{
    self, topic, MqttotCodec, Packet, Publish, Qos, RegisterError, Subscribe, MAX_INFLATED,
};

use super::auth::{DeviceAuth, DeviceAuthStore};
use super::dedup::RecentKeys;
use super::error::FbnsError;
use super::health::{FbnsHealth, FbnsState, HealthWriter};
use super::identity::FbnsIdentity;
use super::message::Push;

/// The broker (docs/instagram.md §9 "Transport").
pub const FBNS_HOST: &str = "mqtt-mini.facebook.com";
pub const FBNS_PORT: u16 = 443;

/// Which certificates the broker's TLS certificate must chain to.
#[derive(Debug, Clone)]
pub enum FbnsTrust {
    /// The Mozilla roots bundled by `webpki-roots` (the real broker).
    WebPkiRoots,
    /// PEM certificates (e.g. the simulator's self-signed one).
    Pem(String),
}

/// How to run the FBNS task. `new` gives the documented defaults for the real broker.
#[derive(Debug, Clone)]
pub struct FbnsOptions {
    pub host: String,
    pub port: u16,
    pub trust: FbnsTrust,
    /// Where the device auth is kept (`fbns_auth.json`, mode 0600); one per session.
    pub state_dir: PathBuf,
    pub identity: FbnsIdentity,
    /// Announced in CONNECT (whole seconds); PINGREQ goes out at 11/12 of it.
    pub keep_alive: Duration,
    /// Longest wait for any packet after a PINGREQ.
    pub ping_timeout: Duration,
    /// TCP connect and TLS handshake, each; also the bound on one packet write.
    pub connect_timeout: Duration,
    pub connack_timeout: Duration,
    /// From CONNACK to the `/fbns_reg_resp` token.
    pub register_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A connection that lasted this long resets the backoff.
    pub healthy_after: Duration,
    /// Notification keys remembered for de-duplication.
    pub dedup_capacity: usize,
    /// Pushes buffered for a slow receiver before new ones are dropped.
    pub queue: usize,
}

impl FbnsOptions {
    pub fn new(state_dir: PathBuf, identity: FbnsIdentity) -> FbnsOptions {
        FbnsOptions {
            host: FBNS_HOST.into(),
            port: FBNS_PORT,
            trust: FbnsTrust::WebPkiRoots,
            state_dir,
            identity,
            keep_alive: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(15),
            connack_timeout: Duration::from_secs(15),
            register_timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(600),
            healthy_after: Duration::from_secs(60),
            dedup_capacity: 1000,
            queue: 64,
        }
    }
}

/// Starts the FBNS task for `api`'s session on `tracker`; it runs until `cancel` fires or the
/// receiver is dropped. Fails only on options that can never work (bad PEM, bad host name).
pub fn spawn(
    options: FbnsOptions,
    api: Client,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> Result<(mpsc::Receiver<Push>, FbnsHealth), FbnsError> {
    let connector = TlsConnector::from(tls_config(&options.trust)?);
    let server_name = ServerName::try_from(options.host.clone()).map_err(|_| {
        FbnsError::Setup(format!(
            "push host {:?} is not a valid TLS server name",
            options.host
        ))
    })?;
    let (tx, rx) = mpsc::channel(options.queue.clamp(1, 10_000));
    let (writer, health) = HealthWriter::new();
    let account = api.session().ds_user_id.clone().unwrap_or_default();
    let task = Task {
        store: DeviceAuthStore::new(&options.state_dir),
        recent: RecentKeys::new(options.dedup_capacity),
        options,
        api,
        connector,
        server_name,
        tx,
        health: writer,
        cancel,
    };
    tracker.spawn(
        task.run()
            .instrument(tracing::info_span!("push", account = %account)),
    );
    Ok((rx, health))
}

fn tls_config(trust: &FbnsTrust) -> Result<Arc<rustls::ClientConfig>, FbnsError> {
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        FbnsTrust::WebPkiRoots => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        FbnsTrust::Pem(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| {
                    FbnsError::Setup(format!("the push CA certificate is not valid PEM: {e}"))
                })?;
                roots.add(cert).map_err(|e| {
                    FbnsError::Setup(format!("the push CA certificate is unusable: {e}"))
                })?;
            }
            if roots.is_empty() {
                return Err(FbnsError::Setup(
                    "the push CA PEM holds no certificate".into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FbnsError::Setup(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

type Conn = Framed<TlsStream<TcpStream>, MqttotCodec>;
type Registration = Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>>;

/// Packet ids of the SUBSCRIBE and the token request; later ones count up from 3.
const SUBSCRIBE_ID: u16 = 1;
const REG_REQ_ID: u16 = 2;

struct Task {
    options: FbnsOptions,
    api: Client,
    connector: TlsConnector,
    server_name: ServerName<'static>,
    store: DeviceAuthStore,
    recent: RecentKeys,
    tx: mpsc::Sender<Push>,
    health: HealthWriter,
    cancel: CancellationToken,
}

/// The token's way to Instagram: waiting for `/fbns_reg_resp` until `deadline`, then the
/// `push/register/` call in flight.
struct Registering {
    deadline: Option<Instant>,
    call: Option<Registration>,
}

/// Why a connection ended without an error.
enum Stop {
    Cancelled,
    ReceiverGone,
}

async fn at(deadline: Option<Instant>) {
    match deadline {
        Some(d) => sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.options.backoff_base, self.options.backoff_max);
        let mut last_bad_auth = false;
        loop {
            self.health.update(|s| {
                s.state = FbnsState::Connecting {
                    since: SystemTime::now(),
                }
            });
            let mut connected_at = None;
            let err = match self.connection(&mut connected_at).await {
                Ok(stop) => {
                    match stop {
                        Stop::Cancelled => tracing::debug!("push stopped"),
                        Stop::ReceiverGone => tracing::debug!("push receiver dropped; stopping"),
                    }
                    break;
                }
                Err(e) => e,
            };
            if connected_at.is_some_and(|t: Instant| t.elapsed() >= self.options.healthy_after) {
                backoff.reset();
                self.health.update(|s| s.consecutive_failures = 0);
            }
            let bad_auth = matches!(err, FbnsError::BadAuth);
            // The first return code 4 reconnects at once with fresh auth; a repeat backs off.
            let delay = if bad_auth && !last_bad_auth {
                Duration::ZERO
            } else {
                backoff.next_delay()
            };
            last_bad_auth = bad_auth;
            tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "push connection failed");
            let message = err.to_string();
            self.health.update(|s| {
                s.state = FbnsState::Down {
                    since: SystemTime::now(),
                    retry_in: delay,
                };
                s.last_error = Some(message);
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                s.counters.failures += 1;
            });
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        self.health.update(|s| s.state = FbnsState::Stopped);
    }

    async fn send(&self, conn: &mut Conn, packet: Packet) -> Result<(), FbnsError> {
        let after = self.options.connect_timeout;
        timeout(after, conn.send(packet))
            .await
            .map_err(|_| FbnsError::Timeout {
                what: "sending a packet",
                after,
            })?
            .map_err(FbnsError::from)
    }

    async fn open(&self) -> Result<Conn, FbnsError> {
        let o = &self.options;
        let addr = format!("{}:{}", o.host, o.port);
        let tcp = timeout(
            o.connect_timeout,
            TcpStream::connect((o.host.as_str(), o.port)),
        )
        .await
        .map_err(|_| FbnsError::Timeout {
            what: "TCP connect",
            after: o.connect_timeout,
        })?
        .map_err(|source| FbnsError::Connect { addr, source })?;
        let _ = tcp.set_nodelay(true);
        let tls = timeout(
            o.connect_timeout,
            self.connector.connect(self.server_name.clone(), tcp),
        )
        .await
        .map_err(|_| FbnsError::Timeout {
            what: "TLS handshake",
            after: o.connect_timeout,
        })?
        .map_err(|source| FbnsError::Tls {
            host: o.host.clone(),
            source,
        })?;
        Ok(Framed::new(tls, MqttotCodec))
    }

    /// CONNECT and CONNACK; returns the device auth in force.
    async fn handshake(&self, conn: &mut Conn) -> Result<(DeviceAuth, bool), FbnsError> {
        let stored = self.store.load().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring the stored device auth");
            None
        });
        let session_id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| (d.as_millis() & 0xffff_ffff) as i64);
        let payload = self
            .options
            .identity
            .connect_payload(stored.as_ref(), session_id);
        let keep_alive =
            u16::try_from(self.options.keep_alive.as_secs().clamp(1, 65_535)).unwrap_or(u16::MAX);
        self.send(conn, payload.to_packet(keep_alive)?).await?;
        let after = self.options.connack_timeout;
        let ack = match timeout(after, conn.next()).await {
            Err(_) => {
                return Err(FbnsError::Timeout {
                    what: "CONNACK",
                    after,
                })
            }
            Ok(None) => {
                return Err(FbnsError::Closed {
                    during: "before CONNACK",
                })
            }
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(Some(Ok(Packet::ConnAck(ack)))) => ack,
            Ok(Some(Ok(other))) => {
                return Err(FbnsError::Unexpected {
                    expected: "CONNACK",
                    got: other.name(),
                })
            }
        };
        match ack.return_code {
            0 => {}
            4 => {
                if let Err(e) = self.store.clear() {
                    tracing::warn!(error = %e, "cannot drop the rejected device auth");
                }
                return Err(FbnsError::BadAuth);
            }
            code => return Err(FbnsError::Refused { code }),
        }
        let received = ack
            .payload
            .filter(|p| !p.is_empty())
            .map(|p| DeviceAuth::parse(&p))
            .transpose();
        let auth = match (received, stored) {
            (Ok(Some(new)), old) => {
                if old.as_ref() != Some(&new) {
                    let (store, copy) = (self.store.clone(), new.clone());
                    tokio::task::spawn_blocking(move || store.save(&copy))
                        .await
                        .map_err(|e| FbnsError::Setup(format!("auth writer failed: {e}")))??;
                }
                new
            }
            (Ok(None), Some(old)) => old,
            (Ok(None), None) => return Err(FbnsError::NoAuth),
            (Err(e), Some(old)) => {
                tracing::warn!(error = %e, "keeping the stored device auth");
                old
            }
            (Err(e), None) => return Err(e.into()),
        };
        Ok((auth, payload.is_fresh()))
    }

    /// One connection, from TCP connect to its end.
    async fn connection(&mut self, connected_at: &mut Option<Instant>) -> Result<Stop, FbnsError> {
        let mut conn = tokio::select! {
            _ = self.cancel.cancelled() => return Ok(Stop::Cancelled),
            c = self.open() => c?,
        };
        let (auth, fresh) = tokio::select! {
            _ = self.cancel.cancelled() => return Ok(Stop::Cancelled),
            r = self.handshake(&mut conn) => r?,
        };
        *connected_at = Some(Instant::now());
        tracing::info!(device = %auth.di, fresh, "push connected");
        self.health.update(|s| {
            s.state = FbnsState::Connected {
                since: SystemTime::now(),
                registered: false,
            };
            s.counters.connects += 1;
        });
        self.subscribe_and_request_token(&mut conn).await?;
        self.serve(&mut conn).await
    }

    /// SUBSCRIBE to the notifications and PUBLISH the token request (docs/instagram.md §9
    /// "Sequence").
    async fn subscribe_and_request_token(&self, conn: &mut Conn) -> Result<(), FbnsError> {
        let subscribe = Packet::Subscribe(Subscribe {
            packet_id: SUBSCRIBE_ID,
            topics: vec![(topic::MESSAGE.into(), Qos::AtLeastOnce)],
        });
        self.send(conn, subscribe).await?;
        let request = mqttot::compress(&mqttot::request_json())
            .map_err(|e| FbnsError::Setup(format!("cannot compress: {e}")))?;
        let request = Packet::Publish(Publish {
            topic: topic::REG_REQ.into(),
            qos: Qos::AtLeastOnce,
            dup: false,
            retain: false,
            packet_id: Some(REG_REQ_ID),
            payload: Bytes::from(request),
        });
        self.send(conn, request).await
    }

    /// The connected loop: packets, the pending `push/register/`, pings and their deadline,
    /// the registration deadline.
    async fn serve(&mut self, conn: &mut Conn) -> Result<Stop, FbnsError> {
        let ping_every = self
            .options
            .keep_alive
            .mul_f64(11.0 / 12.0)
            .max(Duration::from_millis(50));
        let mut next_ping = Instant::now() + ping_every;
        let mut ping_deadline: Option<Instant> = None;
        let mut reg = Registering {
            deadline: Some(Instant::now() + self.options.register_timeout),
            call: None,
        };
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => {
                    let _ = timeout(Duration::from_secs(1), conn.send(Packet::Disconnect)).await;
                    return Ok(Stop::Cancelled);
                }
                r = async {
                    match reg.call.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                }, if reg.call.is_some() => {
                    reg.call = None;
                    r?;
                    tracing::info!("push registered with Instagram");
                    self.health.update(|s| {
                        if let FbnsState::Connected { registered, .. } = &mut s.state {
                            *registered = true;
                        }
                    });
                }
                item = conn.next() => {
                    ping_deadline = None;
                    let packet = match item {
                        None => return Err(FbnsError::Closed { during: "while connected" }),
                        Some(Err(e)) => return Err(e.into()),
                        Some(Ok(p)) => p,
                    };
                    if let Some(stop) = self.on_packet(conn, packet, &mut reg).await? {
                        return Ok(stop);
                    }
                }
                _ = sleep_until(next_ping) => {
                    self.send(conn, Packet::PingReq).await?;
                    let now = Instant::now();
                    ping_deadline.get_or_insert(now + self.options.ping_timeout);
                    next_ping = now + ping_every;
                }
                _ = at(ping_deadline) => {
                    return Err(FbnsError::PingTimeout(self.options.ping_timeout));
                }
                _ = at(reg.deadline) => {
                    return Err(FbnsError::Timeout {
                        what: "registration (/fbns_reg_resp)",
                        after: self.options.register_timeout,
                    });
                }
            }
        }
    }

    /// One packet of a connected session; `Some` ends the task.
    async fn on_packet(
        &mut self,
        conn: &mut Conn,
        packet: Packet,
        reg: &mut Registering,
    ) -> Result<Option<Stop>, FbnsError> {
        match packet {
            Packet::Publish(p) => {
                if let (Qos::AtLeastOnce, Some(id)) = (p.qos, p.packet_id) {
                    self.send(conn, Packet::PubAck { packet_id: id }).await?;
                }
                match topic::id(&p.topic) {
                    topic::REG_RESP => {
                        let json = mqttot::payload(&p.payload, MAX_INFLATED)
                            .map_err(|_| RegisterError::NotJson)?;
                        let token = mqttot::parse_response(&json)?;
                        reg.deadline = None;
                        if reg.call.is_none() {
                            let api = self.api.clone();
                            reg.call =
                                Some(Box::pin(async move { api.push_register(&token).await }));
                        }
                    }
                    topic::MESSAGE | topic::MESSAGE_HP => {
                        if !self.on_notification(&p.payload) {
                            return Ok(Some(Stop::ReceiverGone));
                        }
                    }
                    other => tracing::debug!(topic = other, "ignoring a PUBLISH"),
                }
            }
            Packet::PingResp => self.health.count(|c| c.pongs += 1),
            Packet::PingReq => self.send(conn, Packet::PingResp).await?,
            Packet::PubAck { .. } | Packet::SubAck(_) | Packet::Unhandled { .. } => {}
            Packet::Disconnect => {
                return Err(FbnsError::Closed {
                    during: "with DISCONNECT",
                })
            }
            other => {
                return Err(FbnsError::Unexpected {
                    expected: "PUBLISH, PUBACK, SUBACK or PINGRESP",
                    got: other.name(),
                })
            }
        }
        Ok(None)
    }

    /// Handles one `/fbns_msg` payload; false once nobody receives pushes any more.
    fn on_notification(&mut self, payload: &[u8]) -> bool {
        let push = match mqttot::payload(payload, MAX_INFLATED)
            .map_err(|e| e.to_string())
            .and_then(|json| Push::parse(&json, SystemTime::now()).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable notification dropped");
                self.health.count(|c| c.malformed += 1);
                return true;
            }
        };
        if !self.recent.first_sighting(&push.dedup_keys()) {
            tracing::debug!(
                nid = push.nid.as_deref().unwrap_or(""),
                "repeated notification dropped"
            );
            self.health.count(|c| c.duplicates += 1);
            return true;
        }
        if push.silent || !push.kind.is_live() {
            tracing::debug!(
                kind = push.kind.as_str(),
                "notification ignored (not a live)"
            );
            self.health.count(|c| c.ignored += 1);
            return true;
        }
        tracing::info!(
            kind = push.kind.as_str(),
            broadcast = push.broadcast_id.as_deref().unwrap_or(""),
            owner = push.owner_pk.as_deref().unwrap_or(""),
            "live push"
        );
        match self.tx.try_send(push) {
            Ok(()) => {
                self.health.count(|c| c.delivered += 1);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("push queue full; live push dropped (polling still covers it)");
                self.health.count(|c| c.overflowed += 1);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}
