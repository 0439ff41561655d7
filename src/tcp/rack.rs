//! RACK-TLP loss detection (RFC 8985 §6) over a per-segment record of what is outstanding.
//!
//! Every transmission of sequence space [start, end) is recorded with its send time. The
//! record is the SACK scoreboard the sender acts on (RFC 6675 §3 done per segment, as
//! Linux does): a segment is SACKed, lost, or presumed in the network, and
//! `pipe` (RFC 6675 §4 SetPipe) counts the octets in the network.
//!
//! RACK's rule (RFC 8985 §3.3): a segment is lost when a segment sent *after* it has been
//! delivered and it is still unacknowledged a reordering window after that (RACK.xmit_ts
//! later than Segment.xmit_ts + RACK.reo_wnd). Because a retransmission carries its own send time,
//! a lost retransmission is detected the same way as a lost original, without an RTO.
//!
//! Time is passed in; nothing here reads a clock.

use std::collections::VecDeque;

use super::seq::SeqNum;
use crate::time::{Duration, Instant};

/// Records kept at most. Hostile or tiny segments (1-octet writes with Nagle off, SACK
/// blocks at odd boundaries) cannot grow the record past this: new data then extends the
/// last record, and a SACK block that would need a split marks nothing (its segment stays
/// unSACKed: retransmitted at worst, never forgotten).
const MAX_SEGS: usize = 8192;

/// One transmission of [start, end).
#[derive(Clone, Copy, Debug)]
struct Sent {
    start: SeqNum,
    end: SeqNum,
    /// RFC 8985 Segment.xmit_ts: the last time this range was (re)sent.
    xmit_ts: Instant,
    /// Sent more than once (RFC 8985 §6.2 step 2, Karn-like ambiguity).
    retransmitted: bool,
    /// RFC 8985 §6.2 step 5: marked lost and not yet retransmitted since.
    lost: bool,
    /// Covered by a SACK block.
    sacked: bool,
}

/// The per-connection RACK state (RFC 8985 §5.2) and the record it works on.
#[derive(Clone, Debug, Default)]
pub(super) struct Rack {
    segs: VecDeque<Sent>,
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent segment delivered so far.
    xmit_ts: Option<Instant>,
    end_seq: SeqNum,
    /// RACK.rtt: the RTT of that segment.
    rtt: Duration,
    /// RACK.min_RTT (a plain minimum; RFC 8985 §6.2 allows any min filter).
    min_rtt: Option<Duration>,
    /// RACK.fack: the highest SACKed sequence number.
    fack: SeqNum,
    /// RACK.reordering_seen (§6.2 step 3).
    reordering_seen: bool,
    /// RACK.reo_wnd_mult, RACK.reo_wnd_persist and RACK.dsack_round (§6.2 step 4).
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    dsack_round: Option<SeqNum>,
    /// The reordering window last computed, for `ss`.
    reo_wnd: Duration,
    /// Segments marked lost, over the connection's life.
    pub(super) lost_total: u64,
}

impl Rack {
    /// Octets the record has allocated (charged to the memory budget with the buffers).
    pub(super) fn allocated(&self) -> usize {
        self.segs.capacity() * std::mem::size_of::<Sent>()
    }

    /// Give back the record's spare capacity (in TIME-WAIT nothing is outstanding).
    pub(super) fn release_memory(&mut self) {
        self.segs.shrink_to_fit();
    }

    /// Record a transmission of [start, end) at `now` (new data or a retransmission).
    pub(super) fn on_sent(&mut self, now: Instant, start: SeqNum, end: SeqNum) {
        if !end.after(start) {
            return;
        }
        let tail = self.segs.back().map(|s| s.end);
        if tail == Some(start)
            && self.segs.len() >= MAX_SEGS
            && let Some(last) = self.segs.back_mut()
        {
            last.end = end;
            last.xmit_ts = now;
            return;
        }
        if tail.is_none_or(|t| t == start) {
            self.segs.push_back(Sent {
                start,
                end,
                xmit_ts: now,
                retransmitted: false,
                lost: false,
                sacked: false,
            });
            return;
        }
        self.split_at(start);
        self.split_at(end);
        for s in self.segs.iter_mut() {
            if s.start.after_eq(start) && s.end.before_eq(end) {
                s.xmit_ts = now;
                s.retransmitted = true;
                s.lost = false;
            }
        }
        if let Some(t) = self.segs.back().map(|s| s.end)
            && end.after(t)
            && start.before_eq(t)
        {
            self.on_sent(now, t, end);
        }
    }

    /// Split the record so that a segment starts at `seq` (when it lies inside one).
    fn split_at(&mut self, seq: SeqNum) {
        if self.segs.len() >= MAX_SEGS {
            return;
        }
        let Some(i) = self
            .segs
            .iter()
            .position(|s| s.start.before(seq) && s.end.after(seq))
        else {
            return;
        };
        let mut right = self.segs[i];
        right.start = seq;
        self.segs[i].end = seq;
        self.segs.insert(i + 1, right);
    }

    /// A new cumulative ACK: everything below `ack` is delivered (RFC 8985 §6.2 step 1).
    /// Returns the octets delivered that were not SACKed before.
    pub(super) fn on_cum_ack(&mut self, now: Instant, ack: SeqNum) -> u32 {
        let mut newly = 0;
        while let Some(s) = self.segs.front().copied() {
            if s.end.before_eq(ack) {
                self.segs.pop_front();
                if !s.sacked {
                    newly += s.end - s.start;
                    self.update(now, &s);
                }
            } else {
                if s.start.before(ack) {
                    if !s.sacked {
                        newly += ack - s.start;
                    }
                    if let Some(f) = self.segs.front_mut() {
                        f.start = ack;
                    }
                }
                break;
            }
        }
        newly
    }

    /// SACK blocks from one ACK (already clipped to (SND.UNA, SND.MAX]): mark what they
    /// cover, update RACK from each newly SACKed segment and detect reordering. Returns
    /// the octets newly SACKed.
    pub(super) fn on_sack(&mut self, now: Instant, blocks: &[(SeqNum, SeqNum)]) -> u32 {
        let mut d = 0;
        for &(l, r) in blocks {
            self.split_at(l);
            self.split_at(r);
            for i in 0..self.segs.len() {
                let s = self.segs[i];
                if s.sacked || s.start.before(l) || s.end.after(r) {
                    continue;
                }
                self.segs[i].sacked = true;
                self.segs[i].lost = false;
                d += s.end - s.start;
                // RFC 8985 §6.2 step 3: delivered below RACK.fack without having been
                // retransmitted: the network reordered it.
                if !s.retransmitted && s.end.before(self.fack) {
                    self.reordering_seen = true;
                }
                self.update(now, &s);
            }
            if r.after(self.fack) {
                self.fack = r;
            }
        }
        d
    }

    /// RFC 8985 §6.2 step 2: RACK.xmit_ts, RACK.end_seq and RACK.rtt from a delivered
    /// segment, unless it was retransmitted and the ACK may be for the original (an RTT
    /// below min_RTT).
    fn update(&mut self, now: Instant, s: &Sent) {
        let rtt = now - s.xmit_ts;
        if s.retransmitted && self.min_rtt.is_some_and(|m| rtt < m) {
            return;
        }
        if !s.retransmitted {
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        }
        self.rtt = rtt;
        let newer = match self.xmit_ts {
            None => true,
            Some(t) => s.xmit_ts > t || (s.xmit_ts == t && s.end.after(self.end_seq)),
        };
        if newer {
            self.xmit_ts = Some(s.xmit_ts);
            self.end_seq = s.end;
        }
    }

    /// RFC 8985 §6.2 step 4 (DSACK part): a DSACK widens the reordering window by
    /// min_RTT/4 once per round trip, for the next 16 recoveries.
    pub(super) fn on_dsack(&mut self, snd_nxt: SeqNum) {
        if self.dsack_round.is_none() {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult += 1;
            self.reo_wnd_persist = 16;
        }
        self.reordering_seen = true;
    }

    /// RFC 8985 §6.2 step 4: the end of a DSACK round, and the decay at each recovery's end.
    pub(super) fn on_round(&mut self, snd_una: SeqNum, recovery_ended: bool) {
        if self.dsack_round.is_some_and(|r| snd_una.after_eq(r)) {
            self.dsack_round = None;
        }
        if recovery_ended && self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// RFC 8985 §6.2 step 4: RACK.reo_wnd. Zero while no reordering was seen and the
    /// sender is in recovery or has DupThresh segments SACKed (RFC 6675 compatibility);
    /// otherwise min_RTT/4 times the DSACK multiplier, at most SRTT.
    fn reo_wnd(&self, in_recovery: bool, srtt: Duration, smss: u32) -> Duration {
        if !self.reordering_seen && (in_recovery || self.sacked_bytes() >= 3 * smss) {
            return Duration::ZERO;
        }
        let min_rtt = self.min_rtt.unwrap_or(srtt);
        (min_rtt / 4 * self.reo_wnd_mult.max(1)).min(srtt)
    }

    /// RFC 8985 §6.2 step 5, RACK_detect_loss(): mark lost every unSACKed segment sent
    /// before RACK.xmit_ts (or at the same time, ending before RACK.end_seq) whose
    /// deadline, xmit_ts + RACK.rtt + reo_wnd, has passed. Returns the octets newly marked
    /// and, if some segment will pass its deadline later, when (the reordering timer).
    pub(super) fn detect_loss(
        &mut self,
        now: Instant,
        in_recovery: bool,
        srtt: Duration,
        smss: u32,
    ) -> (u32, Option<Instant>) {
        let Some(rack_ts) = self.xmit_ts else {
            return (0, None);
        };
        self.reo_wnd = self.reo_wnd(in_recovery, srtt, smss);
        let (rtt, reo, end_seq) = (self.rtt, self.reo_wnd, self.end_seq);
        let (mut lost, mut timer) = (0u32, None::<Instant>);
        for s in self.segs.iter_mut() {
            if s.sacked || s.lost {
                continue;
            }
            let before = s.xmit_ts < rack_ts || (s.xmit_ts == rack_ts && s.end.before(end_seq));
            if !before {
                continue;
            }
            let deadline = s.xmit_ts + rtt + reo;
            if deadline <= now {
                s.lost = true;
                lost += s.end - s.start;
                self.lost_total += 1;
            } else {
                timer = Some(timer.map_or(deadline, |t: Instant| t.max(deadline)));
            }
        }
        (lost, timer)
    }

    /// After a retransmission timeout (RFC 8985 §6.3, RFC 2018 §8): the SACK information
    /// is dropped and everything outstanding is lost.
    pub(super) fn on_timeout(&mut self) {
        for s in self.segs.iter_mut() {
            if !s.lost {
                self.lost_total += 1;
            }
            s.lost = true;
            s.sacked = false;
        }
        self.fack = self.segs.front().map_or(self.fack, |s| s.start);
    }

    /// An undone reduction: what was marked lost is presumed in the network after all.
    pub(super) fn unmark_lost(&mut self) {
        for s in self.segs.iter_mut() {
            s.lost = false;
        }
    }

    /// RFC 6675 §4 SetPipe(): octets presumed in the network (neither SACKed nor lost; a
    /// lost segment counts again once retransmitted).
    pub(super) fn pipe(&self) -> u32 {
        self.segs
            .iter()
            .filter(|s| !s.sacked && !s.lost)
            .map(|s| s.end - s.start)
            .sum()
    }

    /// Octets SACKed above SND.UNA.
    pub(super) fn sacked_bytes(&self) -> u32 {
        self.segs
            .iter()
            .filter(|s| s.sacked)
            .map(|s| s.end - s.start)
            .sum()
    }

    /// RFC 6675 §4 NextSeg() rule 1 with RACK's marks: the first lost range, at most
    /// `limit` octets of consecutive lost segments.
    pub(super) fn next_lost(&self, limit: u32) -> Option<(SeqNum, u32)> {
        let mut it = self.segs.iter().skip_while(|s| !s.lost);
        let first = it.next()?;
        let mut end = first.end;
        for s in it {
            if !s.lost || s.start != end || (s.end - first.start) > limit {
                break;
            }
            end = s.end;
        }
        Some((first.start, (end - first.start).min(limit)))
    }

    /// RACK.reo_wnd as last computed (for `ss`).
    pub(super) fn reo_wnd_now(&self) -> Duration {
        self.reo_wnd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn t(ms: u64) -> Instant {
        Instant::from_secs(1) + MS * ms as u32
    }

    /// RFC 8985 §3.3.1 example: segments 1..4 sent; 2 and 3 SACKed, so 1 is lost once
    /// the reordering window has passed; the timer says when.
    #[test]
    fn marks_lost_after_reordering_window() {
        let mut r = Rack::default();
        let s = |n: u32| SeqNum(1000 * n);
        for n in 0..4 {
            r.on_sent(t(u64::from(n)), s(n), s(n + 1));
        }
        r.on_sack(t(10), &[(s(1), s(2))]);
        let (lost, timer) = r.detect_loss(t(10), false, 10 * MS, 1000);
        assert_eq!(lost, 0);
        // RACK.rtt = 9 ms, reo_wnd = min_RTT/4 = 2.25 ms: segment 0's deadline 11.25 ms.
        assert_eq!(timer, Some(t(0) + 9 * MS + MS * 9 / 4));
        let (lost, _) = r.detect_loss(t(12), false, 10 * MS, 1000);
        assert_eq!(lost, 1000);
        assert_eq!(r.next_lost(1448), Some((s(0), 1000)));
        assert_eq!(r.pipe(), 2000);
        // The retransmission is in flight again; a later SACK of 3 does not mark it lost.
        r.on_sent(t(12), s(0), s(1));
        assert_eq!(r.pipe(), 3000);
        r.on_sack(t(13), &[(s(2), s(4))]);
        assert_eq!(r.detect_loss(t(13), true, 10 * MS, 1000).0, 0);
    }

    /// Hostile input: a record per octet is refused; the record stays bounded.
    #[test]
    fn record_is_bounded() {
        let mut r = Rack::default();
        for n in 0..3 * MAX_SEGS as u32 {
            r.on_sent(t(0), SeqNum(n), SeqNum(n + 1));
        }
        assert!(r.segs.len() <= MAX_SEGS);
        let blocks: Vec<_> = (0..1000u32)
            .map(|n| (SeqNum(3 * n + 1), SeqNum(3 * n + 2)))
            .collect();
        r.on_sack(t(1), &blocks);
        assert!(r.segs.len() <= MAX_SEGS);
        assert_eq!(
            r.segs.back().map(|s| s.end),
            Some(SeqNum(3 * MAX_SEGS as u32))
        );
    }

    #[test]
    fn lost_retransmission_detected_by_later_delivery() {
        let mut r = Rack::default();
        let s = |n: u32| SeqNum(1000 * n);
        for n in 0..3 {
            r.on_sent(t(0), s(n), s(n + 1));
        }
        r.on_sack(t(10), &[(s(1), s(2))]);
        assert_eq!(r.detect_loss(t(20), true, 10 * MS, 1000).0, 1000);
        r.on_sent(t(20), s(0), s(1)); // retransmission, lost again
        r.on_sent(t(21), s(3), s(4)); // new data after it
        r.on_sack(t(31), &[(s(2), s(4))]);
        assert_eq!(r.detect_loss(t(31), true, 10 * MS, 1000).0, 1000);
    }
}
