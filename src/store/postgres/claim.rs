//! One daemon per PostgreSQL catalog, until nodes coordinate through it.
//!
//! Every daemon recovers the unfinished recordings it finds in its catalog at start, and
//! remembers every broadcast there as already seen. Two daemons sharing one catalog would
//! therefore record and resume each other's broadcasts. A session-level advisory lock, held on
//! a connection of its own for the daemon's life, makes a second daemon refuse to start with
//! an error that says so (docs: README "Running several nodes").

use super::PgCatalog;
use crate::store::StoreError;

/// The advisory lock key: "iglive-node" as ASCII bytes, so it cannot collide with a small
/// integer key an operator's own application might use.
const NODE_KEY: i64 = 0x6967_6c69_7665_6e6f;

/// Held while the daemon runs; dropping it (or the connection ending) releases the catalog.
#[derive(Debug)]
pub struct NodeClaim {
    _client: tokio_postgres::Client,
}

impl PgCatalog {
    /// Claims the catalog for this daemon, or says which daemon to stop.
    pub async fn claim_node(&self) -> Result<NodeClaim, StoreError> {
        let client = self.connect_raw().await?;
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&NODE_KEY])
            .await
            .map_err(|e| StoreError::Postgres(self.describe(&e)))?;
        let claimed: bool = row
            .try_get(0)
            .map_err(|e| StoreError::Postgres(self.describe(&e)))?;
        if !claimed {
            return Err(StoreError::Postgres(format!(
                "{}: another iglive daemon is already running on this catalog; several daemons on \
                 one catalog would record and recover the same broadcasts, which iglive does not \
                 coordinate yet: stop the other one, or give this one its own database",
                self.url()
            )));
        }
        Ok(NodeClaim { _client: client })
    }
}
