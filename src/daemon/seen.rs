//! Detection's memory of broadcasts already handled, backed by the database: every broadcast
//! the daemon acts on gets a row in `broadcasts`, so after a restart the watcher does not
//! report it again (recovery takes care of unfinished ones).

use std::collections::HashSet;
use std::sync::Mutex;

use crate::store::{Catalog, StoreError};
use crate::watch::SeenStore;

/// Known broadcast ids, preloaded from the database at start.
#[derive(Debug, Default)]
pub struct DbSeenStore {
    ids: Mutex<HashSet<String>>,
}

impl DbSeenStore {
    pub async fn load(store: &Catalog) -> Result<DbSeenStore, StoreError> {
        let ids: HashSet<String> = store.broadcast_ids().await?;
        Ok(DbSeenStore {
            ids: Mutex::new(ids),
        })
    }
}

impl SeenStore for DbSeenStore {
    fn insert_if_new(&self, broadcast_id: &str) -> bool {
        self.ids
            .lock()
            .map(|mut s| s.insert(broadcast_id.to_string()))
            .unwrap_or(false)
    }

    fn contains(&self, broadcast_id: &str) -> bool {
        self.ids
            .lock()
            .map(|s| s.contains(broadcast_id))
            .unwrap_or(false)
    }
}
