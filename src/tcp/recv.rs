//! The receive sequence space, the receive buffer and window selection (RFC 9293 §3.3.1,
//! §3.8.6.2.2).
//!
//! ```text
//!                        1          2          3
//!                    ----------|----------|----------
//!                           RCV.NXT    RCV.NXT
//!                                     +RCV.WND
//!
//!         1 - old sequence numbers that have been acknowledged
//!         2 - sequence numbers allowed for new reception
//!         3 - future sequence numbers that are not yet allowed
//! ```
//!
//! We keep the right edge we last advertised (`rcv_adv` = RCV.NXT + RCV.WND) rather than
//! RCV.WND itself: the edge never moves left (no window shrinking), and it moves right only
//! by at least min(buffer/2, MSS) at a time (receiver SWS avoidance, MUST-39). Data inside
//! the window but beyond RCV.NXT waits in [`Reassembly`]; in-order data waits in the buffer
//! for the user. Both together never exceed the buffer capacity, because the edge never
//! passes `read_seq + capacity`.
//!
//! Receive-buffer auto-tuning (the dynamic right-sizing Linux does): the capacity starts at
//! the configured buffer and, once per round trip, doubles up to a cap when the user read
//! more than half of it in that round trip, that is when the window and not the reader
//! limited the sender. It never shrinks; memory is taken only as data actually waits.

use std::collections::VecDeque;

use super::reassembly::Reassembly;
use super::seq::SeqNum;
use crate::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub(super) struct RecvSpace {
    /// IRS: initial receive sequence number (part of the TCB, shown by `Debug`; nothing
    /// computes with it once RCV.NXT is set).
    #[allow(dead_code)]
    pub(super) irs: SeqNum,
    /// RCV.NXT: next sequence number expected.
    pub(super) rcv_nxt: SeqNum,
    /// RCV.NXT + RCV.WND as last advertised.
    pub(super) rcv_adv: SeqNum,
    /// RFC 7323: our window scale shift (0 when not negotiated).
    pub(super) wscale: u8,
    /// RCV.UP: the octet after the last urgent octet the peer signalled.
    pub(super) rcv_up: Option<SeqNum>,
    /// Sequence number of a FIN that arrived ahead of missing data.
    pub(super) pending_fin: Option<SeqNum>,
    pub(super) fin_received: bool,
    pub(super) reassembly: Reassembly,
    buf: VecDeque<u8>,
    /// Sequence number of the next octet the user will read.
    read_seq: SeqNum,
    capacity: usize,
    /// Auto-tuning's limit for `capacity`.
    max_capacity: usize,
    /// Auto-tuning's round: when it started and `read_seq` then.
    tune_epoch: Option<(Instant, SeqNum)>,
    /// The largest window we can express (65535 << wscale).
    max_wnd: u32,
}

impl RecvSpace {
    /// A receive space for a peer whose SYN carried `irs`.
    /// `capacity` grows by auto-tuning up to `max_capacity` (no growth when not larger).
    pub(super) fn new(irs: SeqNum, capacity: usize, max_capacity: usize, wscale: u8) -> RecvSpace {
        let max_wnd = 65535u32 << wscale;
        let rcv_nxt = irs + 1;
        RecvSpace {
            irs,
            rcv_nxt,
            rcv_adv: rcv_nxt + max_wnd.min(capacity as u32),
            wscale,
            rcv_up: None,
            pending_fin: None,
            fin_received: false,
            reassembly: Reassembly::default(),
            buf: VecDeque::new(),
            read_seq: rcv_nxt,
            capacity,
            max_capacity: max_capacity.max(capacity),
            tune_epoch: None,
            max_wnd,
        }
    }

    /// Auto-tuning, called as data arrives with the current RTT estimate: at the end of each
    /// round trip, double the capacity (up to the cap) if the user read more than half of it
    /// during the round. Returns whether it grew.
    pub(super) fn autotune(&mut self, now: Instant, rtt: Duration) -> bool {
        if self.capacity >= self.max_capacity {
            return false;
        }
        let Some((start, read_from)) = self.tune_epoch else {
            self.tune_epoch = Some((now, self.read_seq));
            return false;
        };
        if now - start < rtt {
            return false;
        }
        let copied = (self.read_seq - read_from) as usize;
        self.tune_epoch = Some((now, self.read_seq));
        if copied <= self.capacity / 2 {
            return false;
        }
        self.capacity = (2 * copied).max(self.capacity).min(self.max_capacity);
        true
    }

    /// RCV.WND: what remains of the advertised window.
    pub(super) fn rcv_wnd(&self) -> u32 {
        if self.rcv_adv.after(self.rcv_nxt) {
            self.rcv_adv - self.rcv_nxt
        } else {
            0
        }
    }

    /// Octets waiting for the user.
    pub(super) fn buffered(&self) -> usize {
        self.buf.len()
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The right edge we could advertise now.
    fn potential_edge(&self) -> SeqNum {
        let edge = self.read_seq + self.capacity as u32;
        let cap = self.rcv_nxt + self.max_wnd.min(self.capacity as u32);
        edge.min(cap)
    }

    /// RFC 9293 §3.8.6.2.2 (MUST-39): move the right edge only by at least
    /// min(Fr × buffer, MSS), Fr = 1/2. Returns whether it moved.
    pub(super) fn update_window(&mut self, mss: u32) -> bool {
        let edge = self.potential_edge();
        let threshold = (self.capacity as u32 / 2).min(mss).max(1);
        if edge.after(self.rcv_adv) && edge - self.rcv_adv >= threshold {
            self.rcv_adv = edge;
            true
        } else {
            false
        }
    }

    /// Whether a window update is worth an ACK of its own: the advertised window is below
    /// half the buffer and would grow by the SWS threshold.
    pub(super) fn window_update_due(&self, mss: u32) -> bool {
        let edge = self.potential_edge();
        let threshold = (self.capacity as u32 / 2).min(mss).max(1);
        self.rcv_wnd() < (self.capacity as u32 / 2).max(1)
            && edge.after(self.rcv_adv)
            && edge - self.rcv_adv >= threshold
    }

    /// SEG.WND for an outgoing non-SYN segment (scaled, RFC 7323 §2.3). The window is
    /// rounded up to the scale's granularity and the edge moved to match, as Linux does: the
    /// peer's view and ours stay the same, so a window we show as zero is zero (a one-octet
    /// probe into an invisible remainder would otherwise be taken and reset the peer's probe
    /// backoff). It can let in up to 2^wscale − 1 octets beyond the buffer's capacity.
    pub(super) fn wnd_field(&mut self) -> u16 {
        let unit = 1u32 << self.wscale;
        let field = self.rcv_wnd().div_ceil(unit).min(65535);
        let edge = self.rcv_nxt + (field << self.wscale);
        if edge.after(self.rcv_adv) {
            self.rcv_adv = edge;
        }
        field as u16
    }

    /// SEG.WND for a SYN or SYN-ACK: never scaled (RFC 7323 §2.2).
    pub(super) fn syn_wnd_field(&self) -> u16 {
        self.rcv_wnd().min(65535) as u16
    }

    /// Append in-order data at RCV.NXT, then pull whatever reassembly now continues.
    /// Returns the number of octets delivered to the buffer.
    pub(super) fn push_in_order(&mut self, data: &[u8]) -> usize {
        self.buf.extend(data);
        self.rcv_nxt += data.len() as u32;
        let mut n = data.len();
        while let Some(more) = self.reassembly.pop_ready(self.rcv_nxt) {
            self.rcv_nxt += more.len() as u32;
            n += more.len();
            self.buf.extend(more);
        }
        n
    }

    /// Copy buffered data to the user.
    pub(super) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buf.len());
        let (a, b) = self.buf.as_slices();
        let first = n.min(a.len());
        out[..first].copy_from_slice(&a[..first]);
        out[first..n].copy_from_slice(&b[..n - first]);
        self.buf.drain(..n);
        self.read_seq += n as u32;
        n
    }

    /// MUST-33: how many octets of urgent data remain to be read.
    pub(super) fn urgent_remaining(&self) -> usize {
        match self.rcv_up {
            Some(up) if up.after(self.read_seq) => (up - self.read_seq) as usize,
            _ => 0,
        }
    }

    /// Octets allocated for the buffer and the out-of-order queue.
    pub(super) fn allocated(&self) -> usize {
        self.buf.capacity() + self.reassembly.allocated()
    }

    /// Octets the buffer's allocation would grow by to take `n` more (a ring doubles).
    pub(super) fn growth_for(&self, n: usize) -> usize {
        let need = self.buf.len() + n;
        if need <= self.buf.capacity() {
            0
        } else {
            need.max(2 * self.buf.capacity()) - self.buf.capacity()
        }
    }

    /// Memory pressure: the capacity shrinks toward `min` as the user reads (never below
    /// what the advertised edge promises), and the ring gives back what it no longer needs.
    pub(super) fn shrink_toward(&mut self, min: usize) {
        let promised = (self.rcv_adv - self.read_seq) as usize;
        self.capacity = self.capacity.min(promised.max(min));
        if self.buf.capacity() > 2 * self.capacity.max(self.buf.len()) {
            self.buf.shrink_to(self.capacity.max(self.buf.len()));
        }
    }

    /// Drops the out-of-order queue; returns the octets it had allocated.
    pub(super) fn prune_out_of_order(&mut self) -> usize {
        let freed = self.reassembly.allocated();
        self.reassembly = Reassembly::default();
        self.pending_fin = None;
        freed
    }

    /// Give back the buffer's spare capacity (unread data stays).
    pub(super) fn release_memory(&mut self) {
        self.buf.shrink_to_fit();
        if self.reassembly.is_empty() {
            self.reassembly = Reassembly::default();
        }
    }

    /// Drop everything (reset).
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.reassembly = Reassembly::default();
    }
}

/// Our window scale shift: the smallest that lets the buffer be advertised (at most 14).
pub(super) fn our_wscale(buffer: usize) -> u8 {
    let mut s = 0u8;
    while s < 14 && (buffer >> s) > 65535 {
        s += 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn must_39_window_grows_in_big_steps_and_never_shrinks() {
        let irs = SeqNum(u32::MAX - 1);
        let mut r = RecvSpace::new(irs, 4000, 4000, 0);
        assert_eq!(r.rcv_wnd(), 4000);
        assert_eq!(r.push_in_order(&[7; 3000]), 3000);
        assert_eq!(r.rcv_wnd(), 1000);
        let mut out = [0; 100];
        assert_eq!(r.read(&mut out), 100);
        assert!(!r.update_window(1000)); // 100 < min(2000, 1000)
        assert_eq!(r.rcv_wnd(), 1000);
        let mut out = [0; 1000];
        r.read(&mut out);
        assert!(r.window_update_due(1000));
        assert!(r.update_window(1000));
        assert_eq!(r.rcv_wnd(), 2100);
    }

    #[test]
    fn autotune_doubles_when_the_window_limits_and_stops_at_the_cap() {
        let mut r = RecvSpace::new(SeqNum(0), 1000, 4000, 0);
        let rtt = Duration::from_millis(10);
        let mut out = [0; 1000];
        let mut now = Instant::from_secs(1);
        assert!(!r.autotune(now, rtt)); // the first round starts
        // A slow reader (300 octets per round) never grows the buffer.
        for _ in 0..5 {
            r.push_in_order(&[1; 300]);
            r.read(&mut out[..300]);
            r.update_window(100);
            now += rtt;
            assert!(!r.autotune(now, rtt));
        }
        // A reader that drains the whole window every round doubles it each round.
        let mut caps = Vec::new();
        for _ in 0..4 {
            let w = r.rcv_wnd() as usize;
            let mut left = w;
            while left > 0 {
                let n = left.min(1000);
                r.push_in_order(&out[..n]);
                r.read(&mut out[..n]);
                left -= n;
            }
            r.update_window(100);
            now += rtt;
            r.autotune(now, rtt);
            r.update_window(100);
            caps.push(r.capacity());
        }
        assert_eq!(caps, [2000, 4000, 4000, 4000]);
        assert_eq!(r.rcv_wnd(), 4000);
    }

    #[test]
    fn reassembly_pulled_in_order() {
        let irs = SeqNum(10);
        let mut r = RecvSpace::new(irs, 100, 100, 0);
        assert!(r.reassembly.insert(irs + 4, b"def"));
        assert_eq!(r.push_in_order(b"abc"), 6);
        let mut out = [0; 10];
        assert_eq!(r.read(&mut out), 6);
        assert_eq!(&out[..6], b"abcdef");
    }
}
