//! The set of watched accounts, shared between whoever changes it (configuration reload, the
//! recording supervisor pausing an account while it records) and the `Detector` that reads
//! it. A `tokio::sync::watch` channel: the detector always sees the latest set, never a queue
//! of stale edits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// One account to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedAccount {
    /// Numeric user id (pk), as a string.
    pub user_id: String,
    pub username: Option<String>,
    /// The session's account follows this one, so its lives show in the reels tray and the
    /// tray fast path covers it (per-account polling then only runs as a slow safety net).
    pub in_tray: bool,
}

impl WatchedAccount {
    pub fn new(user_id: impl Into<String>) -> Self {
        WatchedAccount {
            user_id: user_id.into(),
            username: None,
            in_tray: false,
        }
    }
}

/// Snapshot of the watched set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountsState {
    pub watched: BTreeMap<String, WatchedAccount>,
    /// Accounts not polled for now (being recorded).
    pub paused: BTreeSet<String>,
}

/// Handle to the watched set; clones share it.
#[derive(Debug, Clone)]
pub struct Accounts {
    tx: watch::Sender<AccountsState>,
    /// Which accounts each broadcast being recorded (or waiting) holds paused.
    holds: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::new(Vec::new())
    }
}

impl Accounts {
    pub fn new(accounts: impl IntoIterator<Item = WatchedAccount>) -> Self {
        let state = AccountsState {
            watched: accounts
                .into_iter()
                .map(|a| (a.user_id.clone(), a))
                .collect(),
            paused: BTreeSet::new(),
        };
        Accounts {
            tx: watch::Sender::new(state),
            holds: Arc::default(),
        }
    }

    /// Replaces the watched set (configuration reload); pauses of kept accounts survive.
    pub fn replace(&self, accounts: impl IntoIterator<Item = WatchedAccount>) {
        let watched: BTreeMap<String, WatchedAccount> = accounts
            .into_iter()
            .map(|a| (a.user_id.clone(), a))
            .collect();
        self.tx.send_modify(|s| {
            s.paused.retain(|id| watched.contains_key(id));
            s.watched = watched;
        });
    }

    pub fn add(&self, account: WatchedAccount) {
        self.tx.send_if_modified(|s| {
            let changed = s.watched.get(&account.user_id) != Some(&account);
            s.watched.insert(account.user_id.clone(), account);
            changed
        });
    }

    pub fn remove(&self, user_id: &str) {
        self.tx.send_if_modified(|s| {
            s.paused.remove(user_id);
            s.watched.remove(user_id).is_some()
        });
    }

    /// Stops detection polls for an account (it is being recorded).
    pub fn pause(&self, user_id: &str) {
        self.tx.send_if_modified(|s| {
            s.watched.contains_key(user_id) && s.paused.insert(user_id.to_string())
        });
    }

    pub fn resume(&self, user_id: &str) {
        self.tx.send_if_modified(|s| s.paused.remove(user_id));
    }

    /// Pauses each of `user_ids` for broadcast `broadcast_id` (found through them: its owner,
    /// its watched guests) until [`Accounts::resume_for`] that broadcast.
    pub fn pause_for(&self, broadcast_id: &str, user_ids: &[String]) {
        if let Ok(mut holds) = self.holds.lock() {
            holds.insert(broadcast_id.to_string(), user_ids.to_vec());
        }
        for id in user_ids {
            self.pause(id);
        }
    }

    /// Resumes what `broadcast_id` paused, except accounts another broadcast still holds
    /// (a guest on two lives); `fallback` when that broadcast paused nothing through here.
    pub fn resume_for(&self, broadcast_id: &str, fallback: &str) {
        let freed = self.holds.lock().ok().map(|mut holds| {
            let mine = holds.remove(broadcast_id)?;
            let still: BTreeSet<&String> = holds.values().flatten().collect();
            Some(
                mine.iter()
                    .filter(|id| !still.contains(id))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        });
        match freed.flatten() {
            Some(ids) => ids.iter().for_each(|id| self.resume(id)),
            None => self.resume(fallback),
        }
    }

    pub fn snapshot(&self) -> AccountsState {
        self.tx.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<AccountsState> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_survives_reload_only_for_kept_accounts() {
        let a = Accounts::new([WatchedAccount::new("1"), WatchedAccount::new("2")]);
        let mut rx = a.subscribe();
        a.pause("1");
        a.pause("2");
        a.pause("3"); // unknown: ignored
        assert!(rx.has_changed().expect("sender alive"));
        rx.borrow_and_update();
        a.replace([WatchedAccount::new("1"), WatchedAccount::new("4")]);
        let s = a.snapshot();
        assert_eq!(s.paused.iter().collect::<Vec<_>>(), vec!["1"]);
        assert_eq!(s.watched.keys().collect::<Vec<_>>(), vec!["1", "4"]);
        a.resume("1");
        assert!(a.snapshot().paused.is_empty());
    }

    #[test]
    fn a_guest_on_two_lives_stays_paused_until_both_end() {
        let a = Accounts::new([WatchedAccount::new("1"), WatchedAccount::new("2")]);
        a.pause_for("b1", &["1".into(), "2".into()]);
        a.pause_for("b2", &["2".into()]);
        a.resume_for("b1", "1");
        assert_eq!(a.snapshot().paused.iter().collect::<Vec<_>>(), vec!["2"]);
        a.resume_for("b2", "2");
        assert!(a.snapshot().paused.is_empty());
        // A broadcast paused the old way falls back to its account.
        a.pause("1");
        a.resume_for("b3", "1");
        assert!(a.snapshot().paused.is_empty());
    }
}
