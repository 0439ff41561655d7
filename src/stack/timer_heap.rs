//! The connections' timers: one binary heap of (deadline, handle), lazily invalidated.
//!
//! Each connection remembers the deadline it has in the heap (`armed`). A connection's entry
//! is replaced only when its deadline moves earlier; a later deadline leaves the old entry,
//! which then fires early: a harmless spurious `handle_timeout`, after which the real
//! deadline is pushed. Entries of connections gone, or superseded by an earlier one, are
//! stale: dropped when they surface, and by compaction when the heap outgrows the connection
//! table, so memory stays bounded whatever the connections do.

use super::sockets::SocketHandle;
use crate::time::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Stale entries tolerated beyond twice the live connections before compaction.
const COMPACT_SLACK: usize = 1024;

#[derive(Default)]
pub(super) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, SocketHandle)>>,
}

impl TimerHeap {
    /// The earliest deadline in the heap (perhaps a stale one: firing it is harmless).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Arms `h` for `deadline` when that is earlier than the deadline it has (`armed`).
    pub(super) fn arm(
        &mut self,
        h: SocketHandle,
        armed: &mut Option<Instant>,
        deadline: Option<Instant>,
    ) {
        if let Some(at) = deadline
            && armed.is_none_or(|t| at < t)
        {
            *armed = Some(at);
            self.heap.push(Reverse((at, h)));
        }
    }

    /// Takes the earliest entry due at `now`, stale or not: the caller checks it against
    /// the connection's `armed` deadline.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, SocketHandle)> {
        let &Reverse((at, h)) = self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        Some((at, h))
    }

    /// Drops stale entries once the heap holds more than twice `live` (plus some slack);
    /// `current(at, h)` says whether an entry is still `h`'s armed deadline.
    pub(super) fn compact(&mut self, live: usize, current: impl Fn(Instant, SocketHandle) -> bool) {
        if self.heap.len() > 2 * live + COMPACT_SLACK {
            self.heap.retain(|&Reverse((at, h))| current(at, h));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn only_an_earlier_deadline_is_pushed_and_stale_entries_surface() {
        let mut heap = TimerHeap::default();
        let (a, b) = (SocketHandle::for_test(0, 0), SocketHandle::for_test(1, 0));
        let (mut armed_a, mut armed_b) = (None, None);
        heap.arm(a, &mut armed_a, Some(at(30)));
        heap.arm(a, &mut armed_a, Some(at(50)));
        assert_eq!(
            armed_a,
            Some(at(30)),
            "a later deadline waits for the early one"
        );
        heap.arm(a, &mut armed_a, Some(at(10)));
        heap.arm(b, &mut armed_b, Some(at(20)));
        heap.arm(b, &mut armed_b, None);
        assert_eq!(heap.next_deadline(), Some(at(10)));
        assert_eq!(heap.pop_due(at(5)), None);
        assert_eq!(heap.pop_due(at(30)), Some((at(10), a)));
        assert_eq!(heap.pop_due(at(30)), Some((at(20), b)));
        assert_eq!(
            heap.pop_due(at(30)),
            Some((at(30), a)),
            "stale: armed is 10 ms"
        );
        assert_eq!(heap.pop_due(at(30)), None);
    }

    #[test]
    fn compaction_keeps_current_entries_only() {
        let mut heap = TimerHeap::default();
        let h = SocketHandle::for_test(0, 0);
        for ms in (0..2000).rev() {
            let mut armed = None;
            heap.arm(h, &mut armed, Some(at(ms)));
        }
        heap.compact(1000, |_, _| false);
        assert_eq!(heap.heap.len(), 2000, "within the slack");
        heap.compact(1, |t, _| t == at(7));
        assert_eq!(heap.heap.len(), 1);
        assert_eq!(heap.next_deadline(), Some(at(7)));
    }
}
