//! The send sequence space and the send buffer (RFC 9293 §3.3.1).
//!
//! ```text
//!                    1         2          3          4
//!               ----------|----------|----------|----------
//!                      SND.UNA    SND.NXT    SND.UNA
//!                                           +SND.WND
//!
//!         1 - old sequence numbers that have been acknowledged
//!         2 - sequence numbers of unacknowledged data
//!         3 - sequence numbers allowed for new data transmission
//!         4 - future sequence numbers that are not yet allowed
//! ```
//!
//! Besides the RFC variables we keep SND.MAX (one past the highest sequence number ever
//! sent): after a retransmission timeout SND.NXT is pulled back to SND.UNA (go-back-N) while
//! SND.MAX still bounds what an acceptable ACK may acknowledge. Always
//! SND.UNA ≤ SND.NXT ≤ SND.MAX.
//!
//! Sequence space layout: the SYN is ISS, data starts at ISS+1, the FIN (once the user
//! closed) follows the last octet. The buffer holds every octet from the oldest
//! unacknowledged one (`buf_seq`) to the last one the user wrote; it is bounded by the
//! configured capacity, so `send` may accept only part of what it is given.

use std::collections::VecDeque;

use bytes::Bytes;

use super::seq::SeqNum;

#[derive(Clone, Debug)]
pub(super) struct SendSpace {
    /// ISS: initial send sequence number.
    pub(super) iss: SeqNum,
    /// SND.UNA: oldest unacknowledged sequence number.
    pub(super) snd_una: SeqNum,
    /// SND.NXT: next sequence number to be sent.
    pub(super) snd_nxt: SeqNum,
    /// SND.MAX: one past the highest sequence number sent so far.
    pub(super) snd_max: SeqNum,
    /// SND.WND: the peer's window, already scaled (REC-1: 32 bits, MUST-1: unsigned).
    pub(super) snd_wnd: u32,
    /// SND.WL1: segment sequence number used for the last window update.
    pub(super) snd_wl1: SeqNum,
    /// SND.WL2: segment acknowledgment number used for the last window update.
    pub(super) snd_wl2: SeqNum,
    /// The largest window the peer ever offered (RFC 9293 §3.8.6.2.1 Max(SND.WND)).
    pub(super) max_snd_wnd: u32,
    /// SND.UP: the octet after the last urgent octet (MUST-62), while unacknowledged.
    pub(super) snd_up: Option<SeqNum>,
    /// RFC 7323 §2.3: shift applied to SEG.WND of non-SYN segments from the peer.
    pub(super) wscale: u8,
    /// Effective send MSS: payload octets per segment (MUST-16).
    pub(super) mss: u32,
    /// SND.SML (Minshall's Nagle, as Linux's `snd_sml`): one past the last octet of the
    /// most recent new-data segment shorter than the MSS.
    pub(super) snd_sml: SeqNum,
    buf: VecDeque<u8>,
    /// Sequence number of `buf[0]`.
    buf_seq: SeqNum,
    capacity: usize,
    fin_queued: bool,
    /// RFC 2018 scoreboard: disjoint ranges above SND.UNA the peer reported in SACK blocks.
    sacked: Vec<(SeqNum, SeqNum)>,
}

/// Scoreboard ranges kept at most.
const MAX_SACKED: usize = 16;

impl SendSpace {
    pub(super) fn new(iss: SeqNum, capacity: usize, mss: u32) -> SendSpace {
        SendSpace {
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: SeqNum(0),
            max_snd_wnd: 0,
            snd_up: None,
            wscale: 0,
            mss,
            snd_sml: iss,
            buf: VecDeque::new(),
            buf_seq: iss + 1,
            capacity,
            fin_queued: false,
            sacked: Vec::new(),
        }
    }

    /// Append user data; returns how many octets fit.
    pub(super) fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.buf.extend(&data[..n]);
        n
    }

    /// Free space in the send buffer.
    pub(super) fn free(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    /// Octets in the buffer (unacknowledged plus unsent).
    pub(super) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// One past the last data octet written by the user.
    pub(super) fn data_end(&self) -> SeqNum {
        self.buf_seq + self.buf.len() as u32
    }

    pub(super) fn queue_fin(&mut self) {
        self.fin_queued = true;
    }

    /// The FIN's sequence number, once queued.
    pub(super) fn fin_seq(&self) -> Option<SeqNum> {
        self.fin_queued.then(|| self.data_end())
    }

    pub(super) fn syn_acked(&self) -> bool {
        self.snd_una.after(self.iss)
    }

    pub(super) fn fin_sent(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_max.after(f))
    }

    pub(super) fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_una.after(f))
    }

    /// Sequence space sent and not yet acknowledged (SND.MAX − SND.UNA).
    pub(super) fn outstanding(&self) -> u32 {
        self.snd_max - self.snd_una
    }

    /// Nagle's test with Minshall's refinement (draft-minshall-nagle; Linux
    /// `tcp_minshall_check`): a short segment may go when no *short* segment is
    /// unacknowledged, so at most one is in flight per round trip (RFC 896's aim, and
    /// RFC 9293 §3.7.4's SHLD-7 coalescing), while the short tail of a bulk write no longer
    /// waits for the ACK of the full segments before it, which a delayed ACK (up to 40 ms
    /// here, 200 ms elsewhere) would hold back.
    /// A short segment is outstanding when SND.UNA < SND.SML ≤ SND.MAX; asked this way, a
    /// SND.SML left 2^31 octets behind by a long bulk transfer cannot wrap into "ahead".
    pub(super) fn short_segment_allowed(&self) -> bool {
        !(self.snd_una.before(self.snd_sml) && self.snd_sml.before_eq(self.snd_max))
    }

    /// Sequence space between SND.UNA and SND.NXT (what counts against the windows).
    pub(super) fn in_flight(&self) -> u32 {
        self.snd_nxt - self.snd_una
    }

    /// Data octets (plus an unsent FIN) not yet sent.
    #[cfg(test)]
    pub(super) fn unsent(&self) -> u32 {
        let end = self.data_end() + u32::from(self.fin_queued);
        if end.after(self.snd_nxt) {
            end - self.snd_nxt
        } else {
            0
        }
    }

    /// Whether there is data or a FIN that has never been sent.
    pub(super) fn has_unsent(&self) -> bool {
        let end = self.data_end() + u32::from(self.fin_queued);
        end.after(self.snd_max)
    }

    /// The `len` octets starting at `seq` (which must lie in the buffer), as the one or two
    /// slices of the ring they occupy.
    pub(super) fn slices(&self, seq: SeqNum, len: usize) -> [&[u8]; 2] {
        if len == 0 {
            return [&[], &[]];
        }
        let off = (seq - self.buf_seq) as usize;
        let (a, b) = self.buf.as_slices();
        if off < a.len() {
            let take = len.min(a.len() - off);
            [&a[off..off + take], &b[..len - take]]
        } else {
            [&b[off - a.len()..off - a.len() + len], &[]]
        }
    }

    /// Copy `len` octets starting at `seq` (which must lie in the buffer).
    pub(super) fn read(&self, seq: SeqNum, len: usize) -> Bytes {
        let [a, b] = self.slices(seq, len);
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        Bytes::from(v)
    }

    /// Data octets available from `seq` to the end of the buffer.
    pub(super) fn available_from(&self, seq: SeqNum) -> u32 {
        let end = self.data_end();
        if end.after(seq) && seq.after_eq(self.buf_seq) {
            end - seq
        } else {
            0
        }
    }

    /// Process an acceptable new cumulative ACK (SND.UNA < ack ≤ SND.MAX). Returns the
    /// number of data octets freed from the buffer.
    pub(super) fn on_ack(&mut self, ack: SeqNum) -> usize {
        self.snd_una = ack;
        if self.snd_nxt.before(ack) {
            self.snd_nxt = ack;
        }
        if self.snd_up.is_some_and(|up| ack.after_eq(up)) {
            self.snd_up = None;
        }
        self.sacked.retain(|&(_, b)| b.after(ack));
        if let Some(first) = self.sacked.first_mut()
            && first.0.before(ack)
        {
            first.0 = ack;
        }
        if ack.after(self.buf_seq) {
            let n = ((ack - self.buf_seq) as usize).min(self.buf.len());
            self.buf.drain(..n);
            self.buf_seq += n as u32;
            n
        } else {
            0
        }
    }

    /// RFC 2018 §4: merge SACK blocks into the scoreboard (only blocks inside
    /// (SND.UNA, SND.MAX] count). Returns whether any octet was newly SACKed.
    pub(super) fn on_sack(&mut self, blocks: &[(SeqNum, SeqNum)]) -> bool {
        let mut progress = false;
        for &(l, r) in blocks {
            let l = l.max(self.snd_una);
            if !r.after(l) || r.after(self.snd_max) {
                continue;
            }
            let covered = self
                .sacked
                .iter()
                .any(|&(a, b)| a.before_eq(l) && b.after_eq(r));
            if covered {
                continue;
            }
            progress = true;
            let (mut nl, mut nr) = (l, r);
            self.sacked.retain(|&(a, b)| {
                let overlaps = a.before_eq(nr) && b.after_eq(nl);
                if overlaps {
                    nl = nl.min(a);
                    nr = nr.max(b);
                }
                !overlaps
            });
            if self.sacked.len() < MAX_SACKED {
                let at = self.sacked.iter().position(|&(a, _)| a.after(nl));
                self.sacked
                    .insert(at.unwrap_or(self.sacked.len()), (nl, nr));
            }
        }
        progress
    }

    /// RFC 2018 §8: forget SACK information after a retransmission timeout.
    pub(super) fn clear_sack(&mut self) {
        self.sacked.clear();
    }

    /// The start of the first SACKed range after `seq`, if any (where a retransmission
    /// starting at `seq` should stop).
    pub(super) fn next_sacked(&self, seq: SeqNum) -> Option<SeqNum> {
        self.sacked.iter().map(|&(a, _)| a).find(|a| a.after(seq))
    }

    /// Octets SACKed above SND.UNA.
    pub(super) fn sacked_bytes(&self) -> u32 {
        self.sacked.iter().map(|&(a, b)| b - a).sum()
    }

    /// RFC 9293 §3.10.7.4 fifth: whether a segment may update the window, "If SND.WL1 <
    /// SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)", so that an old, reordered
    /// segment never does (an ACK of new data also may: see `Connection::on_ack`). The
    /// update itself is `Connection::update_window`.
    pub(super) fn window_update_acceptable(&self, seq: SeqNum, ack: SeqNum) -> bool {
        self.snd_wl1.before(seq) || (self.snd_wl1 == seq && self.snd_wl2.before_eq(ack))
    }

    /// Record that the sequence space up to `end` has been sent.
    pub(super) fn on_sent(&mut self, end: SeqNum) {
        if end.after(self.snd_nxt) {
            self.snd_nxt = end;
        }
        if end.after(self.snd_max) {
            self.snd_max = end;
        }
    }

    /// RFC 9293 §3.8.6.1 / MUST-34: the usable window may be negative; saturate at zero.
    pub(super) fn usable_window(&self, cwnd: u32) -> u32 {
        let edge = self.snd_wnd.min(cwnd);
        edge.saturating_sub(self.in_flight())
    }

    /// Octets the buffer has allocated (what it holds and its spare capacity).
    pub(super) fn allocated_buffer(&self) -> usize {
        self.buf.capacity()
    }

    /// Octets allocated for the buffer and the scoreboard.
    pub(super) fn allocated(&self) -> usize {
        self.buf.capacity() + self.sacked.capacity() * std::mem::size_of::<(SeqNum, SeqNum)>()
    }

    /// Give back the buffer's spare capacity (its contents stay).
    pub(super) fn release_memory(&mut self) {
        self.buf.shrink_to_fit();
        self.sacked.shrink_to_fit();
    }

    /// Drop everything (reset).
    pub(super) fn clear(&mut self) {
        self.sacked.clear();
        self.buf.clear();
        self.buf_seq = self.snd_una + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_tracks_sequence_space_across_wrap() {
        let iss = SeqNum(u32::MAX - 2);
        let mut s = SendSpace::new(iss, 8, 4);
        assert_eq!(s.write(b"0123456789"), 8);
        assert_eq!(s.free(), 0);
        s.on_sent(iss + 1); // SYN
        assert_eq!(s.on_ack(iss + 1), 0);
        assert!(s.syn_acked());
        assert_eq!(&s.read(iss + 1, 4)[..], b"0123");
        s.on_sent(iss + 5);
        assert_eq!(s.on_ack(iss + 4), 3);
        assert_eq!(&s.read(iss + 4, 2)[..], b"34");
        s.queue_fin();
        assert_eq!(s.fin_seq(), Some(iss + 9));
        assert_eq!(s.unsent(), 5);
        s.on_sent(iss + 10);
        assert!(s.fin_sent() && !s.fin_acked());
        s.on_ack(iss + 10);
        assert!(s.fin_acked());
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn scoreboard_merges_and_prunes() {
        let iss = SeqNum(u32::MAX - 2);
        let mut s = SendSpace::new(iss, 100, 10);
        s.write(&[0; 100]);
        s.on_sent(iss + 101);
        s.on_ack(iss + 1);
        assert!(s.on_sack(&[(iss + 21, iss + 31)]));
        assert!(!s.on_sack(&[(iss + 21, iss + 31)]));
        assert!(s.on_sack(&[(iss + 51, iss + 61), (iss + 31, iss + 41)]));
        assert!(!s.on_sack(&[(iss + 90, iss + 200)])); // beyond SND.MAX: ignored
        assert_eq!(s.sacked_bytes(), 30);
        assert_eq!(s.next_sacked(iss + 1), Some(iss + 21));
        s.on_ack(iss + 35);
        assert_eq!(s.sacked_bytes(), 16);
        assert_eq!(s.next_sacked(iss + 35), Some(iss + 51));
    }
}
