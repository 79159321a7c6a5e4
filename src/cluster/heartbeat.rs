//! The heartbeat loop of one node.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::view::{Reach, View};
use super::{ClusterEvent, Node};
use crate::recording::Registry;
use crate::store::postgres::Holder;

/// Most orphans looked at per heartbeat (the rest wait for the next one).
const ADOPT_BATCH: i64 = 32;

pub(super) async fn run(
    node: Arc<Node>,
    registry: Registry,
    events: mpsc::Sender<ClusterEvent>,
    cancel: CancellationToken,
) {
    let period = node.ttl / 3;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reach = Reach::default();
    let mut outage = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let held = held(&node, &registry);
        let beat = tokio::time::timeout(
            period.max(Duration::from_secs(1)),
            node.pg.heartbeat(&node.name, node.ttl, &held),
        )
        .await;
        let beat = match beat {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                outage = true;
                node.settled.store(false, Ordering::Relaxed);
                if reach.failed() {
                    tracing::warn!(error = %e, "the catalog does not answer: leases are not renewed; recordings go on from the CDN and their rows wait in the writer");
                }
                continue;
            }
            Err(_) => {
                outage = true;
                node.settled.store(false, Ordering::Relaxed);
                if reach.failed() {
                    tracing::warn!("the catalog did not answer a heartbeat within {period:?}: leases are not renewed; recordings go on");
                }
                continue;
            }
        };
        let now = Instant::now();
        if reach.answered(now) && outage {
            outage = false;
            tracing::info!(nodes = ?beat.nodes, "the catalog answers again: leases renewed; adopting nothing for a TTL, so that every living holder renews first");
        }
        let lost: Vec<String> = held
            .iter()
            .filter(|id| !beat.held.contains(*id) && registry.contains(id))
            .cloned()
            .collect();
        if !lost.is_empty() && events.send(ClusterEvent::Lost(lost)).await.is_err() {
            return;
        }
        let settled = reach.settled(now, node.ttl);
        node.settled.store(settled, Ordering::Relaxed);
        // Until the catalog has answered for a TTL, a node whose heartbeat is stale may only
        // not have had the chance to renew it: nodes join the view, none leaves it yet.
        let mut nodes = beat.nodes;
        if !settled {
            nodes.extend(node.view.borrow().nodes.iter().cloned());
            nodes.sort();
            nodes.dedup();
        }
        let view = View {
            me: node.name.clone(),
            nodes: nodes.clone(),
        };
        if node.view.send_if_modified(|v| {
            let changed = *v != view;
            *v = view.clone();
            changed
        }) && events.send(ClusterEvent::Nodes(nodes)).await.is_err()
        {
            return;
        }
        if settled {
            let adopted = adopt(&node, &view, &beat.held).await;
            if !adopted.is_empty() && events.send(ClusterEvent::Adopt(adopted)).await.is_err() {
                return;
            }
        }
    }
}

/// What this node holds: everything in its registry (recording, finalizing or waiting) and
/// what it adopted and has not started yet.
fn held(node: &Node, registry: &Registry) -> Vec<String> {
    let mut ids: BTreeSet<String> = registry
        .snapshot()
        .into_iter()
        .map(|r| r.broadcast_id)
        .collect();
    if let Ok(mut adopting) = node.adopting.lock() {
        // Kept until the recording shows in the registry, or for two TTLs at most.
        adopting.retain(|id, at| !ids.contains(id) && at.elapsed() < node.ttl * 2);
        ids.extend(adopting.keys().cloned());
    }
    if let Ok(kept) = node.kept.lock() {
        ids.extend(kept.keys().cloned());
    }
    ids.into_iter().collect()
}

/// Takes the leases of orphaned recordings this node should continue.
async fn adopt(node: &Node, view: &View, held: &BTreeSet<String>) -> Vec<String> {
    let orphans = match node.pg.orphans(&node.name, node.ttl, ADOPT_BATCH).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for recordings of nodes that stopped");
            return Vec::new();
        }
    };
    let mut adopted = Vec::new();
    for o in orphans {
        let expired = Duration::from_secs_f64(o.expired_for_s.max(0.0));
        if held.contains(&o.broadcast_id) || !view.adopts(&o.user_id, expired, node.ttl) {
            continue;
        }
        match node
            .pg
            .acquire(&node.name, node.ttl, &o.broadcast_id, true)
            .await
        {
            Ok(Holder::This) => {
                tracing::warn!(
                    broadcast_id = %o.broadcast_id,
                    from = o.holder.as_deref().unwrap_or("-"),
                    expired_s = o.expired_for_s,
                    "adopting the recording of a node that stopped"
                );
                if let Ok(mut a) = node.adopting.lock() {
                    a.insert(o.broadcast_id.clone(), Instant::now());
                }
                adopted.push(o.broadcast_id);
            }
            Ok(Holder::Other(_)) => {}
            Err(e) => {
                tracing::warn!(broadcast_id = %o.broadcast_id, error = %e, "cannot take the lease")
            }
        }
    }
    adopted
}
