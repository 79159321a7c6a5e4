//! Broadcast ids already reported, so one live produces one `LiveEvent` even when both the
//! reels tray and the story feed show it, and (with a persistent store) across restarts.

use std::collections::HashSet;
use std::sync::Mutex;

/// Remembers reported broadcast ids. The lead's SQLite store implements it for persistence.
pub trait SeenStore: Send + Sync {
    /// Marks `broadcast_id` seen; returns `true` if it was not seen before.
    fn insert_if_new(&self, broadcast_id: &str) -> bool;
    fn contains(&self, broadcast_id: &str) -> bool;
}

/// In-memory `SeenStore`, bounded: past `capacity` ids the oldest are forgotten (a broadcast
/// that old has long ended).
#[derive(Debug)]
pub struct MemorySeenStore {
    capacity: usize,
    inner: Mutex<(HashSet<String>, std::collections::VecDeque<String>)>,
}

impl MemorySeenStore {
    pub fn new(capacity: usize) -> Self {
        MemorySeenStore {
            capacity: capacity.max(1),
            inner: Mutex::new(Default::default()),
        }
    }
}

impl Default for MemorySeenStore {
    fn default() -> Self {
        MemorySeenStore::new(100_000)
    }
}

impl SeenStore for MemorySeenStore {
    fn insert_if_new(&self, broadcast_id: &str) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &mut *guard;
        if !set.insert(broadcast_id.to_string()) {
            return false;
        }
        order.push_back(broadcast_id.to_string());
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }

    fn contains(&self, broadcast_id: &str) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.contains(broadcast_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupes_and_stays_bounded() {
        let s = MemorySeenStore::new(2);
        assert!(s.insert_if_new("a"));
        assert!(!s.insert_if_new("a"));
        assert!(s.insert_if_new("b"));
        assert!(s.insert_if_new("c"));
        assert!(!s.contains("a"), "oldest forgotten");
        assert!(s.contains("b") && s.contains("c"));
    }
}
