//! Coordination of several nodes through the catalog, with nothing but rows and the server's
//! clock: each node heartbeats its row in `nodes`; each broadcast a node records (or keeps
//! waiting for a slot) is held through a row in `leases` that the holder renews with its
//! heartbeat. A lease can be taken over only when it has expired *and* its holder's heartbeat
//! is stale (or it expired long ago), so a node that is alive but slow keeps its recordings,
//! and one statement decides each take-over (an upsert whose condition reads the row it
//! replaces), so two nodes never both win one.

use std::collections::BTreeSet;
use std::time::Duration;

use super::PgCatalog;
use crate::store::StoreError;

/// An expired lease whose holder still heartbeats is taken over after this many TTLs anyway
/// (a holder that lost track of it must not keep a broadcast unrecorded forever).
const ABANDONED_AFTER_TTLS: f64 = 3.0;

/// Takes or renews leases for `$1` (an array of broadcast ids) for node `$2`, `$3` seconds;
/// returns the ids now held.
const TAKE: &str = "
INSERT INTO leases (broadcast_id, node, acquired_at, expires_at)
SELECT id, $2::text, now(), now() + make_interval(secs => $3::float8) FROM unnest($1::text[]) AS id
ON CONFLICT (broadcast_id) DO UPDATE
   SET node = EXCLUDED.node,
       expires_at = EXCLUDED.expires_at,
       acquired_at = CASE WHEN leases.node = EXCLUDED.node THEN leases.acquired_at ELSE now() END,
       takeovers = leases.takeovers + CASE WHEN leases.node = EXCLUDED.node THEN 0 ELSE 1 END
 WHERE leases.node = EXCLUDED.node
    OR leases.expires_at < now() - make_interval(secs => $3::float8 * $4::float8)
    OR (leases.expires_at < now() AND NOT EXISTS (
          SELECT 1 FROM nodes n
           WHERE n.name = leases.node AND n.heartbeat_at > now() - make_interval(secs => $3::float8)))
RETURNING broadcast_id";

/// Like [`TAKE`], but only a new lease or this node's own: no take-over.
const TAKE_OWN: &str = "
INSERT INTO leases (broadcast_id, node, acquired_at, expires_at)
SELECT id, $2::text, now(), now() + make_interval(secs => $3::float8) FROM unnest($1::text[]) AS id
ON CONFLICT (broadcast_id) DO UPDATE
   SET expires_at = EXCLUDED.expires_at
 WHERE leases.node = EXCLUDED.node
RETURNING broadcast_id";

/// What one heartbeat learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    /// The nodes whose heartbeat is fresh (this one among them), by name.
    pub nodes: Vec<String>,
    /// Of the broadcasts this node asked to hold, those it holds now.
    pub held: BTreeSet<String>,
}

/// A lease another node may take over: its broadcast, the account it belongs to, and for how
/// long it has been expired.
#[derive(Debug, Clone, PartialEq)]
pub struct Orphan {
    pub broadcast_id: String,
    pub user_id: String,
    pub holder: Option<String>,
    pub expired_for_s: f64,
}

/// One row of `leases`, for status pages and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRow {
    pub broadcast_id: String,
    pub node: String,
    pub takeovers: i32,
    pub expires_in_s: f64,
}

/// Who holds a broadcast after an attempt to take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// This node: record it.
    This,
    /// Another node, alive: leave it.
    Other(String),
}

impl PgCatalog {
    /// Registers the node at its start (a node of the same name that stopped is replaced).
    pub async fn register_node(&self, node: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO nodes (name, version, started_at, heartbeat_at)
             VALUES ($1, $2, now(), now())
             ON CONFLICT (name) DO UPDATE
                SET version = EXCLUDED.version, started_at = now(), heartbeat_at = now()",
            &[&node, &env!("CARGO_PKG_VERSION")],
        )
        .await
        .map_err(|e| self.query_error(e))?;
        Ok(())
    }

    /// One heartbeat, in one transaction: the node's row, its leases on `held` renewed (or
    /// taken, for those it recorded while the catalog was unreachable), and who is alive.
    pub async fn heartbeat(
        &self,
        node: &str,
        ttl: Duration,
        held: &[String],
    ) -> Result<Beat, StoreError> {
        let ttl_s = ttl.as_secs_f64();
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(|e| self.query_error(e))?;
        tx.execute(
            "INSERT INTO nodes (name, version, started_at, heartbeat_at)
             VALUES ($1, $2, now(), now())
             ON CONFLICT (name) DO UPDATE SET heartbeat_at = now()",
            &[&node, &env!("CARGO_PKG_VERSION")],
        )
        .await
        .map_err(|e| self.query_error(e))?;
        let renewed = tx
            .query(TAKE, &[&held, &node, &ttl_s, &ABANDONED_AFTER_TTLS])
            .await
            .map_err(|e| self.query_error(e))?;
        let alive = tx
            .query(
                "SELECT name FROM nodes
                  WHERE heartbeat_at > now() - make_interval(secs => $1::float8) ORDER BY name",
                &[&ttl_s],
            )
            .await
            .map_err(|e| self.query_error(e))?;
        tx.commit().await.map_err(|e| self.query_error(e))?;
        let held = renewed
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(|e| self.query_error(e))?;
        let nodes = alive
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(|e| self.query_error(e))?;
        Ok(Beat { nodes, held })
    }

    /// Takes the lease of one broadcast for `node`, unless another node alive holds it; with
    /// `takeover` false, only a new lease or this node's own (another node's expired lease is
    /// left alone).
    pub async fn acquire(
        &self,
        node: &str,
        ttl: Duration,
        broadcast_id: &str,
        takeover: bool,
    ) -> Result<Holder, StoreError> {
        let c = self.client().await?;
        let ids = [broadcast_id.to_string()];
        let ttl_s = ttl.as_secs_f64();
        let taken = if takeover {
            c.query(TAKE, &[&&ids[..], &node, &ttl_s, &ABANDONED_AFTER_TTLS])
                .await
        } else {
            c.query(TAKE_OWN, &[&&ids[..], &node, &ttl_s]).await
        }
        .map_err(|e| self.query_error(e))?;
        if !taken.is_empty() {
            return Ok(Holder::This);
        }
        let holder = c
            .query_opt(
                "SELECT node FROM leases WHERE broadcast_id = $1",
                &[&broadcast_id],
            )
            .await
            .map_err(|e| self.query_error(e))?;
        match holder {
            Some(r) => Ok(Holder::Other(
                r.try_get(0).map_err(|e| self.query_error(e))?,
            )),
            // Released between the two statements: its recording ended.
            None => Ok(Holder::Other(String::new())),
        }
    }

    /// Gives a lease up (its recording ended here).
    pub async fn release(&self, node: &str, broadcast_id: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM leases WHERE broadcast_id = $1 AND node = $2",
            &[&broadcast_id, &node],
        )
        .await
        .map_err(|e| self.query_error(e))?;
        Ok(())
    }

    /// Unfinished recordings no living node holds: their lease expired with its holder's
    /// heartbeat (or long ago), or they never had one and were detected more than three TTLs
    /// ago. Oldest expiry first, at most `limit`.
    pub async fn orphans(
        &self,
        node: &str,
        ttl: Duration,
        limit: i64,
    ) -> Result<Vec<Orphan>, StoreError> {
        let rows = self
            .rows(
                "SELECT r.broadcast_id, b.user_id, l.node,
                        extract(epoch FROM now() - coalesce(l.expires_at, now()))::float8
                   FROM recordings r
                   JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
                   LEFT JOIN leases l ON l.broadcast_id = r.broadcast_id
                  WHERE r.state NOT IN ('finished', 'failed')
                    AND CASE WHEN l.broadcast_id IS NULL THEN
                             coalesce(b.detected_at, b.published_time, 0)
                               < extract(epoch FROM now())::float8 - $2::float8 * $3::float8
                        ELSE l.node <> $1::text AND (
                             l.expires_at < now() - make_interval(secs => $2::float8 * $3::float8)
                          OR (l.expires_at < now() AND NOT EXISTS (
                                SELECT 1 FROM nodes n WHERE n.name = l.node
                                   AND n.heartbeat_at > now() - make_interval(secs => $2::float8))))
                        END
                  ORDER BY l.expires_at NULLS LAST, r.broadcast_id
                  LIMIT $4::bigint",
                &[&node, &ttl.as_secs_f64(), &ABANDONED_AFTER_TTLS, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Orphan {
                    broadcast_id: r.try_get(0)?,
                    user_id: r.try_get(1)?,
                    holder: r.try_get(2)?,
                    expired_for_s: r.try_get(3)?,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(|e| self.query_error(e))
    }

    /// A clean stop: the node's row goes and its leases expire now, so the others take its
    /// accounts and the recordings it handed over at their next heartbeat, not a TTL later.
    pub async fn leave(&self, node: &str) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(|e| self.query_error(e))?;
        tx.execute(
            "UPDATE leases SET expires_at = now() WHERE node = $1",
            &[&node],
        )
        .await
        .map_err(|e| self.query_error(e))?;
        tx.execute("DELETE FROM nodes WHERE name = $1", &[&node])
            .await
            .map_err(|e| self.query_error(e))?;
        tx.commit().await.map_err(|e| self.query_error(e))?;
        Ok(())
    }

    /// Every lease, by broadcast.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let rows = self
            .rows(
                "SELECT broadcast_id, node, takeovers,
                        extract(epoch FROM expires_at - now())::float8
                   FROM leases ORDER BY broadcast_id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRow {
                    broadcast_id: r.try_get(0)?,
                    node: r.try_get(1)?,
                    takeovers: r.try_get(2)?,
                    expires_in_s: r.try_get(3)?,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(|e| self.query_error(e))
    }
}
