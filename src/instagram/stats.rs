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

    /// Total requests sent to one endpoint, whatever their outcome.
    pub fn total(&self, endpoint: Endpoint) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((e, _), _)| *e == endpoint)
            .map(|(_, n)| n)
            .sum()
    }
}
