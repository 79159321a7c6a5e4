//! One daemon per node name on a PostgreSQL catalog.
//!
//! Nodes share the catalog under different names (`cluster.node`); the name is what their
//! heartbeat and leases are kept under, so two daemons running under one name would renew
//! each other's leases and record the same broadcasts. A session-level advisory lock on the
//! name, held on a connection of its own for the daemon's life, makes a second daemon with
//! the same name refuse to start with an error that says so.

use super::PgCatalog;
use crate::store::StoreError;

/// Held while the daemon runs; dropping it (or the connection ending) frees the name.
#[derive(Debug)]
pub struct NodeClaim {
    _client: tokio_postgres::Client,
}

impl PgCatalog {
    /// Claims the node name for this daemon, or says what to change.
    pub async fn claim_node(&self, node: &str) -> Result<NodeClaim, StoreError> {
        let client = self.connect_raw().await?;
        let key = format!("iglive-node:{node}");
        let row = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&key],
            )
            .await
            .map_err(|e| StoreError::Postgres(self.describe(&e)))?;
        let claimed: bool = row
            .try_get(0)
            .map_err(|e| StoreError::Postgres(self.describe(&e)))?;
        if !claimed {
            return Err(StoreError::Postgres(format!(
                "{}: another iglive daemon is already running on this catalog as node {node:?}: \
                 stop it, or give this one a name of its own (cluster.node; the default is the \
                 host name)",
                self.url()
            )));
        }
        Ok(NodeClaim { _client: client })
    }
}
