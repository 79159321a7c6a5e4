//! The live-segment spool: segment files the capture stored, waiting for their upload, in
//! arrival order, bounded by their total size (`storage.spool_max_bytes`). The files
//! themselves stay in the capture's segment store, so the spool never copies or deletes
//! anything: when it is full (the bucket unreachable for long), further segments are simply
//! not offered for live upload — the recording goes on untouched, and the finished folder's
//! upload carries everything. It takes segments again once it has drained below half.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

/// One segment file waiting for upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Spooled {
    pub(super) path: PathBuf,
    pub(super) bytes: u64,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Spooled>,
    bytes: u64,
    /// Refusing offers until the spool drains below half.
    full: bool,
    refused: u64,
}

/// Byte-bounded FIFO of segment files.
#[derive(Debug)]
pub(super) struct Spool {
    max: u64,
    state: Mutex<State>,
}

/// What `offer` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offer {
    Queued,
    /// Refused, and this is the first refusal since the spool last had room.
    BecameFull,
    Refused,
}

impl Spool {
    pub(super) fn new(max: u64) -> Spool {
        Spool {
            max,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a segment unless that would pass the bound (or the spool is draining after it
    /// was full).
    pub(super) fn offer(&self, s: Spooled) -> Offer {
        let mut st = self.lock();
        if st.full && st.bytes > self.max / 2 {
            st.refused += 1;
            return Offer::Refused;
        }
        st.full = false;
        if st.bytes.saturating_add(s.bytes) > self.max {
            st.full = true;
            st.refused += 1;
            return Offer::BecameFull;
        }
        st.bytes += s.bytes;
        st.queue.push_back(s);
        Offer::Queued
    }

    /// The oldest segment, left in place until [`Spool::done`].
    pub(super) fn front(&self) -> Option<Spooled> {
        self.lock().queue.front().cloned()
    }

    /// The oldest segment is uploaded (or gone): its bytes are free again.
    pub(super) fn done(&self) {
        let mut st = self.lock();
        if let Some(s) = st.queue.pop_front() {
            st.bytes = st.bytes.saturating_sub(s.bytes);
        }
    }

    /// (segments waiting, their bytes, segments refused so far).
    pub(super) fn figures(&self) -> (usize, u64, u64) {
        let st = self.lock();
        (st.queue.len(), st.bytes, st.refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: u64) -> Spooled {
        Spooled {
            path: PathBuf::from(format!("{n}.m4s")),
            bytes: 40,
        }
    }

    #[test]
    fn full_spool_refuses_until_it_drains_below_half() {
        let s = Spool::new(100);
        assert_eq!(s.offer(seg(1)), Offer::Queued);
        assert_eq!(s.offer(seg(2)), Offer::Queued);
        assert_eq!(s.offer(seg(3)), Offer::BecameFull);
        assert_eq!(s.offer(seg(4)), Offer::Refused);
        assert_eq!(s.front(), Some(seg(1)));
        s.done();
        // 40 bytes left: below half, so it takes segments again.
        assert_eq!(s.offer(seg(5)), Offer::Queued);
        assert_eq!(s.figures(), (2, 80, 2));
        s.done();
        assert_eq!(s.front(), Some(seg(5)));
    }
}
