//! Several iglive nodes on one PostgreSQL catalog: membership by heartbeat, watched accounts
//! spread over the living nodes, one lease per broadcast so that exactly one node records it,
//! and adoption of the recordings of a node that died (docs/scaling.md "Coordination").
//! Nothing here is a consensus protocol of its own: every decision is one statement on the
//! catalog, judged by the server's clock (`store/postgres/lease.rs`).
//!
//! With the SQLite catalog there is one node and every call answers as if alone.

mod heartbeat;
mod view;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use view::View;

use crate::config::ClusterConfig;
use crate::recording::Registry;
use crate::store::postgres::Holder;
use crate::store::{Catalog, PgCatalog, StoreError};

/// What the heartbeat tells the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// The living nodes changed: the accounts this node polls change with them.
    Nodes(Vec<String>),
    /// Recordings this node has just taken over from a node that died: resume them.
    Adopt(Vec<String>),
    /// Recordings another node holds now although this one still records them.
    Lost(Vec<String>),
}

/// This node's standing among the others; cheap to clone. `Cluster::single()` for SQLite.
#[derive(Clone, Debug)]
pub struct Cluster(Option<Arc<Node>>);

#[derive(Debug)]
struct Node {
    pg: PgCatalog,
    name: String,
    ttl: Duration,
    view: watch::Sender<View>,
    /// Leases taken by adoption, held until their recording shows in the registry.
    adopting: Mutex<BTreeMap<String, Instant>>,
    /// Leases of work outside the registry (finalizing a recording found ended at start).
    kept: Mutex<BTreeMap<String, usize>>,
    /// The catalog has answered for a whole TTL: other nodes' expired leases may be taken.
    /// Until then a living holder may not have renewed yet (after an outage, or at start).
    settled: AtomicBool,
}

/// Keeps a lease renewed while work outside the registry runs; dropping it stops that.
pub struct Kept {
    node: Option<Arc<Node>>,
    id: String,
}

impl Drop for Kept {
    fn drop(&mut self) {
        if let Some(n) = &self.node {
            if let Ok(mut k) = n.kept.lock() {
                if let Some(c) = k.get_mut(&self.id) {
                    *c -= 1;
                    if *c == 0 {
                        k.remove(&self.id);
                    }
                }
            }
        }
    }
}

impl Cluster {
    /// One node alone (the SQLite catalog).
    pub fn single() -> Cluster {
        Cluster(None)
    }

    /// Registers this node on a PostgreSQL catalog (alone on SQLite).
    pub async fn join(catalog: &Catalog, cfg: &ClusterConfig) -> Result<Cluster, StoreError> {
        let Some(pg) = catalog.postgres() else {
            return Ok(Cluster::single());
        };
        pg.register_node(&cfg.node).await?;
        // The first heartbeat now, so that detection starts with this node's share only.
        let beat = pg.heartbeat(&cfg.node, cfg.lease_ttl, &[]).await?;
        let view = View {
            me: cfg.node.clone(),
            nodes: beat.nodes,
        };
        tracing::info!(node = %cfg.node, nodes = ?view.nodes, ttl = ?cfg.lease_ttl, "joined the nodes sharing the catalog");
        Ok(Cluster(Some(Arc::new(Node {
            pg: pg.clone(),
            name: cfg.node.clone(),
            ttl: cfg.lease_ttl,
            view: watch::Sender::new(view),
            adopting: Mutex::new(BTreeMap::new()),
            kept: Mutex::new(BTreeMap::new()),
            settled: AtomicBool::new(false),
        }))))
    }

    /// This node's last view of the others (none on SQLite).
    pub fn view(&self) -> Option<View> {
        self.0.as_ref().map(|n| n.view.borrow().clone())
    }

    /// Whether other nodes are alive (as the last heartbeat saw them).
    pub fn others_alive(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|n| n.view.borrow().nodes.iter().any(|m| *m != n.name))
    }

    /// Whether this node polls `account`.
    pub fn watches(&self, account: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|n| n.view.borrow().mine(account))
    }

    /// Takes the broadcast's lease; `false` when another living node records it. With the
    /// catalog unreachable it is recorded anyway: the next heartbeat takes the lease (a
    /// broadcast missed is worse than one recorded twice for a while).
    pub async fn acquire(&self, broadcast_id: &str) -> bool {
        let Some(n) = &self.0 else {
            return true;
        };
        let takeover = n.settled.load(Ordering::Relaxed);
        match n.pg.acquire(&n.name, n.ttl, broadcast_id, takeover).await {
            Ok(Holder::This) => true,
            Ok(Holder::Other(holder)) => {
                tracing::info!(%broadcast_id, holder = %holder, "recorded by another node; leaving it to that node");
                false
            }
            Err(e) => {
                tracing::warn!(%broadcast_id, error = %e, "cannot take the broadcast's lease now; recording it anyway, the lease is taken when the catalog answers");
                true
            }
        }
    }

    /// Keeps the broadcast's lease renewed until the guard is dropped.
    pub fn keep(&self, broadcast_id: &str) -> Kept {
        if let Some(n) = &self.0 {
            if let Ok(mut k) = n.kept.lock() {
                *k.entry(broadcast_id.to_string()).or_default() += 1;
            }
        }
        Kept {
            node: self.0.clone(),
            id: broadcast_id.to_string(),
        }
    }

    /// Gives a finished recording's lease up, in the background (an expired lease of a
    /// finished recording is never adopted, so a failure here costs nothing).
    pub fn release(&self, broadcast_id: &str) {
        let Some(n) = self.0.clone() else {
            return;
        };
        let id = broadcast_id.to_string();
        tokio::spawn(async move {
            if let Err(e) = n.pg.release(&n.name, &id).await {
                tracing::debug!(broadcast_id = %id, error = %e, "lease not released; it expires");
            }
        });
    }

    /// Starts the heartbeat: every third of the TTL it renews this node and its leases, tells
    /// of membership changes and lost leases, and adopts orphaned recordings.
    pub fn start(
        &self,
        registry: Registry,
        events: mpsc::Sender<ClusterEvent>,
        cancel: CancellationToken,
        tasks: &TaskTracker,
    ) {
        if let Some(n) = self.0.clone() {
            tasks.spawn(heartbeat::run(n, registry, events, cancel));
        }
    }

    /// A clean stop: this node's row goes and its leases expire, so the others take its
    /// accounts and its handed-over recordings at their next heartbeat.
    pub async fn leave(&self) {
        let Some(n) = &self.0 else {
            return;
        };
        let left = tokio::time::timeout(Duration::from_secs(5), n.pg.leave(&n.name)).await;
        if !matches!(left, Ok(Ok(()))) {
            tracing::warn!("could not tell the catalog this node leaves; the others notice when its heartbeat expires");
        }
    }
}
