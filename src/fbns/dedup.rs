//! A bounded memory of recently seen notification keys: FBNS repeats notifications (the app
//! itself de-duplicates on the last 100 `nid`s, docs/instagram.md §9), and so does a broker
//! re-sending what was not acknowledged before a reconnect.

use std::collections::{HashSet, VecDeque};

/// The last `capacity` keys, oldest forgotten first.
#[derive(Debug)]
pub struct RecentKeys {
    capacity: usize,
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentKeys {
    pub fn new(capacity: usize) -> RecentKeys {
        let capacity = capacity.clamp(1, 1 << 20);
        RecentKeys {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// Records `keys`; true when none of them was seen before (the item is new).
    pub fn first_sighting(&mut self, keys: &[String]) -> bool {
        let new = !keys.iter().any(|k| self.set.contains(k));
        for k in keys {
            if self.set.insert(k.clone()) {
                self.order.push_back(k.clone());
            }
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_bounded_number_of_keys() {
        let mut r = RecentKeys::new(3);
        let k = |s: &str| vec![s.to_string()];
        assert!(r.first_sighting(&k("a")));
        assert!(!r.first_sighting(&k("a")));
        assert!(r.first_sighting(&["b".into(), "c".into()]));
        assert!(
            !r.first_sighting(&["x".into(), "c".into()]),
            "any known key"
        );
        assert!(r.first_sighting(&k("d")));
        assert_eq!(r.order.len(), 3);
        assert!(r.first_sighting(&k("a")), "forgotten after capacity");
        assert!(r.first_sighting(&[]));
    }
}
