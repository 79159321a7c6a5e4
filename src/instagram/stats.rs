//! Request counters by endpoint and outcome, so metrics can show how close the session runs
//! to Instagram's tolerance (docs/instagram.md §5 "Blocks from polling").

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::endpoint::Endpoint;

/// `"ok"` or an `ApiErrorKind::as_str()`.
pub type Outcome = &'static str;

/// Counts of requests sent (each retry counts) by endpoint and outcome.
#[derive(Debug, Default)]
pub struct RequestStats {
    counts: Mutex<BTreeMap<(Endpoint, Outcome), u64>>,
}

impl RequestStats {
    pub fn record(&self, endpoint: Endpoint, outcome: Outcome) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((endpoint, outcome)).or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<(Endpoint, Outcome), u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts one request about to be sent: its outcome when [`Sending::answered`] is called,
    /// `"cancelled"` when the caller drops it first (a poll stopped mid-request still reached,
    /// or may have reached, Instagram and must not vanish from the counts).
    pub fn sending(&self, endpoint: Endpoint) -> Sending<'_> {
        Sending {
            stats: self,
            endpoint,
            outcome: None,
        }
    }

    /// Total requests sent to one endpoint, whatever their outcome.
    pub fn total(&self, endpoint: Endpoint) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((e, _), _)| *e == endpoint)
            .map(|(_, n)| n)
            .sum()
    }
}

/// One request in flight; see [`RequestStats::sending`].
#[derive(Debug)]
pub struct Sending<'a> {
    stats: &'a RequestStats,
    endpoint: Endpoint,
    outcome: Option<Outcome>,
}

impl Sending<'_> {
    pub fn answered(mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.stats
            .record(self.endpoint, self.outcome.unwrap_or("cancelled"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_dropped_before_its_answer_counts_as_cancelled() {
        let stats = RequestStats::default();
        stats.sending(Endpoint::BroadcastInfo).answered("ok");
        drop(stats.sending(Endpoint::BroadcastInfo));
        let counts = stats.snapshot();
        assert_eq!(counts.get(&(Endpoint::BroadcastInfo, "ok")), Some(&1));
        assert_eq!(
            counts.get(&(Endpoint::BroadcastInfo, "cancelled")),
            Some(&1)
        );
        assert_eq!(stats.total(Endpoint::BroadcastInfo), 2);
    }
}
