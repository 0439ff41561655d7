//! The TIME-WAIT cap: how many connections wait out their 2×MSL (RFC 9293 §3.6.1), and in
//! which order they started, so that beyond the cap the oldest can end early.
//!
//! Linux bounds TIME-WAIT sockets the same way (`tcp_max_tw_buckets`). Handles of
//! connections gone since are left in the order and skipped when they surface; the order is
//! compacted when such stale handles outnumber the waiting ones.

use super::sockets::SocketHandle;
use std::collections::VecDeque;

/// Linux bounds TIME-WAIT sockets too (`tcp_max_tw_buckets`, 262144 on big machines): a
/// TIME-WAIT connection costs us about 1 KB, so 65,536 of them about 64 MB.
pub const DEFAULT_MAX_TIME_WAIT: usize = 65_536;

/// Stale handles tolerated beyond twice the waiting connections before compaction.
const COMPACT_SLACK: usize = 1024;

pub(super) struct TimeWaitCap {
    max: usize,
    /// Connections in TIME-WAIT now.
    waiting: usize,
    /// The order they entered it (with stale handles of ones gone since).
    order: VecDeque<SocketHandle>,
}

impl TimeWaitCap {
    pub(super) fn new(max: usize) -> TimeWaitCap {
        TimeWaitCap {
            max,
            waiting: 0,
            order: VecDeque::new(),
        }
    }

    pub(super) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    pub(super) fn waiting(&self) -> usize {
        self.waiting
    }

    /// `h` entered TIME-WAIT.
    pub(super) fn enter(&mut self, h: SocketHandle) {
        self.waiting += 1;
        self.order.push_back(h);
    }

    /// A connection that was in TIME-WAIT is gone.
    pub(super) fn leave(&mut self) {
        self.waiting -= 1;
    }

    /// While more than the cap wait: the oldest handle entered (perhaps of a connection gone
    /// since, for the caller to skip).
    pub(super) fn next_over_cap(&mut self) -> Option<SocketHandle> {
        if self.waiting > self.max {
            self.order.pop_front()
        } else {
            None
        }
    }

    /// Drops stale handles once they outnumber the waiting ones; `waiting(h)` says whether
    /// `h` is still in TIME-WAIT.
    pub(super) fn compact(&mut self, waiting: impl Fn(SocketHandle) -> bool) {
        if self.order.len() > 2 * self.waiting + COMPACT_SLACK {
            self.order.retain(|&h| waiting(h));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_go_first_beyond_the_cap() {
        let mut cap = TimeWaitCap::new(2);
        let h: Vec<_> = (0..4).map(|i| SocketHandle::for_test(i, 0)).collect();
        for &x in &h[..3] {
            cap.enter(x);
        }
        assert_eq!(cap.waiting(), 3);
        assert_eq!(cap.next_over_cap(), Some(h[0]));
        cap.leave();
        assert_eq!(cap.next_over_cap(), None, "at the cap");
        cap.set_max(0);
        assert_eq!(cap.next_over_cap(), Some(h[1]));
    }
}
