//! The simulator's shared state: the precomputed world, the simulated clock and the request log.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::fbns::Broker;
use super::scenario::Scenario;
use super::world::BroadcastWorld;

/// Simulated time: real time since start multiplied by the speed factor, so a long broadcast
/// plays out quickly in tests. Unix times shown to clients are `epoch_unix + now`.
#[derive(Debug, Clone)]
pub struct SimClock {
    started: Instant,
    speed: f64,
    /// Real unix time at start, whole seconds (keeps ms-rounded timestamps exact).
    pub epoch_unix: f64,
}

impl SimClock {
    pub fn new(speed: f64) -> SimClock {
        let epoch_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs() as f64);
        SimClock {
            started: Instant::now(),
            speed,
            epoch_unix,
        }
    }

    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * self.speed
    }

    pub fn unix(&self, sim: f64) -> f64 {
        self.epoch_unix + sim
    }

    /// The real time `sim` simulated seconds take (bounded, for timers).
    pub fn real(&self, sim: f64) -> Duration {
        Duration::from_secs_f64((sim / self.speed).clamp(0.0, 1e7))
    }

    /// Real time from now until simulated time `sim` (zero if it has passed).
    pub fn real_until(&self, sim: f64) -> Duration {
        self.real(sim - self.now())
    }
}

/// One request as the simulator received it, so tests can assert what a client sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Decoded `application/x-www-form-urlencoded` body fields.
    pub form: Vec<(String, String)>,
    /// Status answered; 0 when the connection was dropped (`reset` fault).
    pub status: u16,
    /// Simulated time of arrival.
    pub at: f64,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Oldest entries are dropped past this many, keeping a long `iglive sim` run bounded.
const MAX_RECORDED: usize = 100_000;

/// Everything handlers share.
pub struct SimState {
    pub scenario: Scenario,
    pub broadcasts: Vec<BroadcastWorld>,
    pub clock: SimClock,
    pub base_url: url::Url,
    pub requests: Mutex<VecDeque<RecordedRequest>>,
    /// Seeded: fault probabilities are reproducible for a given request order.
    pub fault_rng: Mutex<StdRng>,
    /// The login endpoints' key pair and memory, when the scenario has a `[login]`.
    pub login: Option<Box<super::login::LoginState>>,
    /// The FBNS broker, when the scenario has an enabled `[fbns]`.
    pub fbns: Option<Arc<Broker>>,
    /// Every session's load against the scenario's `[throttle]`.
    pub throttle: super::throttle::Throttle,
}

impl SimState {
    pub fn record(&self, r: RecordedRequest) {
        if let Ok(mut log) = self.requests.lock() {
            if log.len() >= MAX_RECORDED {
                log.pop_front();
            }
            log.push_back(r);
        }
    }

    pub fn broadcast(&self, id: &str) -> Option<&BroadcastWorld> {
        self.broadcasts.iter().find(|b| b.spec.id.to_string() == id)
    }
}
