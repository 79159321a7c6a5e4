//! Which session polls which watched account: rendezvous hashing, so that a session joining or
//! leaving moves only the accounts it gains or loses, and the same accounts stay on the same
//! session across restarts (a session's traffic looks like one person's habits, not a
//! shuffle).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// FNV-1a: stable across processes and Rust versions, unlike `DefaultHasher`.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn score(account: &str, session: &str) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    account.hash(&mut h);
    session.hash(&mut h);
    mix(h.finish())
}

/// MurmurHash3's 64-bit finalizer. FNV-1a alone leaves names that differ in their last byte
/// ("a", "b", "c"; "n1", "n2") with correlated scores, so one of them won half the accounts;
/// mixed, every bit of the input moves every bit of the score.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Which of `members` a key (an account, a broadcast's owner) belongs to: the same answer on
/// every node that sees the same members.
pub fn owner_of<'m>(key: &str, members: &'m [String]) -> Option<&'m String> {
    members.iter().max_by_key(|m| score(key, m))
}

/// Each session's accounts (every session named, possibly with none).
pub fn assign_accounts<'a>(
    accounts: impl IntoIterator<Item = &'a str>,
    sessions: &[String],
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> =
        sessions.iter().map(|s| (s.clone(), Vec::new())).collect();
    for account in accounts {
        if let Some(s) = owner_of(account, sessions) {
            out.entry(s.clone()).or_default().push(account.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("s{i}")).collect()
    }

    #[test]
    fn accounts_spread_evenly_and_a_leaving_session_moves_only_its_own() {
        let accounts: Vec<String> = (0..1000).map(|i| format!("{}", 1_000_000 + i)).collect();
        let four = assign_accounts(accounts.iter().map(String::as_str), &names(4));
        for (s, a) in &four {
            assert!((200..=300).contains(&a.len()), "{s}: {}", a.len());
        }
        let three = assign_accounts(accounts.iter().map(String::as_str), &names(3));
        for s in names(3) {
            for a in &four[&s] {
                assert!(
                    three[&s].contains(a),
                    "{a} moved off {s} although {s} stayed"
                );
            }
        }
        let none = assign_accounts(accounts.iter().map(String::as_str), &[]);
        assert!(none.is_empty());
    }
}
