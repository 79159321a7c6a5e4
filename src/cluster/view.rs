//! What a node knows of the others, and the pure rules it acts on: which watched accounts it
//! polls (rendezvous hashing over the living nodes, so a node joining or leaving moves only
//! its own share), which orphaned recordings it adopts, and when it may adopt at all.

use std::time::{Duration, Instant};

use crate::pool::owner_of;

/// The living nodes as the last heartbeat saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub me: String,
    /// Sorted; this node among them once its first heartbeat has landed.
    pub nodes: Vec<String>,
}

impl View {
    /// A node that has not heard from the catalog yet: alone.
    #[cfg(test)]
    pub fn alone(me: &str) -> View {
        View {
            me: me.to_string(),
            nodes: vec![me.to_string()],
        }
    }

    /// The nodes accounts are spread over: the living ones, and always this one (it polls
    /// its share while the catalog is unreachable rather than nothing).
    fn members(&self) -> Vec<String> {
        let mut m = self.nodes.clone();
        if !m.contains(&self.me) {
            m.push(self.me.clone());
            m.sort();
        }
        m
    }

    /// Whether this node polls `account` (or adopts a recording of it).
    pub fn mine(&self, account: &str) -> bool {
        owner_of(account, &self.members()).is_some_and(|n| *n == self.me)
    }

    /// Whether this node adopts an orphaned recording of `account`, expired `expired_for`: its
    /// account's node does, and anyone once that node has had a heartbeat period to do it.
    pub fn adopts(&self, account: &str, expired_for: Duration, ttl: Duration) -> bool {
        self.mine(account) || expired_for > ttl / 3 * 2
    }
}

/// Since when the catalog has answered without a break. A node adopts nothing until it has
/// been reachable for a whole TTL: after an outage every heartbeat in the catalog is stale,
/// and the living holders must get the time to renew their leases first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reach {
    since: Option<Instant>,
}

impl Reach {
    /// A heartbeat landed at `now`; whether the catalog was unreachable before it.
    pub fn answered(&mut self, now: Instant) -> bool {
        let back = self.since.is_none();
        self.since.get_or_insert(now);
        back
    }

    /// A heartbeat failed; whether the catalog was reachable before it.
    pub fn failed(&mut self) -> bool {
        self.since.take().is_some()
    }

    pub fn settled(&self, now: Instant, ttl: Duration) -> bool {
        self.since
            .is_some_and(|s| now.saturating_duration_since(s) >= ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(me: &str, nodes: &[&str]) -> View {
        View {
            me: me.into(),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn every_account_has_exactly_one_node_and_a_leaving_node_moves_only_its_own() {
        let nodes = ["a", "b", "c"];
        let accounts: Vec<String> = (0..300).map(|i| format!("{}", 5_000_000 + i)).collect();
        let mut shares = Vec::new();
        for me in nodes {
            let v = view(me, &nodes);
            shares.push(accounts.iter().filter(|a| v.mine(a)).count());
        }
        assert_eq!(shares.iter().sum::<usize>(), 300);
        assert!(shares.iter().all(|s| (70..=130).contains(s)), "{shares:?}");
        // c leaves: a and b keep what they had and split c's.
        let (before_a, after_a) = (view("a", &nodes), view("a", &["a", "b"]));
        for acc in &accounts {
            if before_a.mine(acc) {
                assert!(after_a.mine(acc), "{acc} moved away from a");
            }
        }
    }

    #[test]
    fn a_node_missing_from_the_view_still_counts_itself() {
        let v = view("b", &["a"]);
        let with_me = view("b", &["a", "b"]);
        for acc in ["1", "2", "3", "4", "5", "6"] {
            assert_eq!(v.mine(acc), with_me.mine(acc), "{acc}");
        }
        assert!(View::alone("x").mine("anything"));
    }

    #[test]
    fn orphans_go_to_their_account_s_node_then_to_anyone() {
        let ttl = Duration::from_secs(30);
        let a = view("a", &["a", "b"]);
        let b = view("b", &["a", "b"]);
        let acc = (0..100)
            .map(|i| i.to_string())
            .find(|x| a.mine(x))
            .expect("an account of a");
        assert!(a.adopts(&acc, Duration::ZERO, ttl));
        assert!(!b.adopts(&acc, Duration::from_secs(5), ttl));
        assert!(b.adopts(&acc, Duration::from_secs(25), ttl));
    }

    #[test]
    fn nothing_is_adopted_until_the_catalog_has_answered_for_a_whole_ttl() {
        let ttl = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut r = Reach::default();
        assert!(!r.settled(t0, ttl));
        assert!(r.answered(t0));
        assert!(!r.answered(t0 + Duration::from_secs(3)));
        assert!(!r.settled(t0 + Duration::from_secs(9), ttl));
        assert!(r.settled(t0 + Duration::from_secs(10), ttl));
        assert!(r.failed());
        assert!(!r.failed());
        assert!(!r.settled(t0 + Duration::from_secs(30), ttl));
        r.answered(t0 + Duration::from_secs(31));
        assert!(!r.settled(t0 + Duration::from_secs(40), ttl));
    }
}
