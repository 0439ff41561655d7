//! What an ACK (or a timer) means for loss, for a [`Connection`]: RACK marks (RFC 8985 §6),
//! entering recovery, the window during it (PRR, RFC 6937), DSACKs (RFC 2883 §4) and undoing
//! a reduction that proved spurious (RFC 3708 detection by DSACK, RFC 3522 Eifel detection
//! by timestamps, RFC 5682 F-RTO after a timeout; the RFC 4015 Eifel response: restore).
//!
//! With SACK, RACK is the loss detector: RFC 6675's DupThresh is kept for peers without
//! SACK (`input.rs`, `congestion.rs`).

use log::debug;

use super::connection::Connection;
use super::segment::SegmentRef;
use super::seq::SeqNum;
use super::tcb::Frto;
use super::timers::TimerKind;
use crate::time::{Duration, Instant};

impl Connection {
    /// Record a transmission of [seq, end) (new data or a retransmission) on the
    /// scoreboard, for PRR, and for undo.
    pub(super) fn on_transmit(&mut self, now: Instant, seq: SeqNum, end: SeqNum, rexmit: bool) {
        self.recovery.rack.on_sent(now, seq, end);
        self.recovery.prr.on_sent(end - seq);
        if rexmit && self.opts.timestamps {
            self.recovery.rexmit_tsval = Some(Self::ts_val(now));
        }
        if rexmit && self.cc.can_undo() {
            self.recovery.undo_retrans += 1;
            if self.recovery.undo_tsval.is_none() && self.opts.timestamps {
                self.recovery.undo_tsval = Some(Self::ts_val(now));
            }
        }
    }

    /// A congestion event reduced the window (RACK, DupThresh without SACK, a timeout): a
    /// later undo is judged against this episode's retransmissions only (RFC 4015 §2).
    pub(super) fn on_reduction(&mut self) {
        self.recovery.undo_retrans = 0;
        self.recovery.undo_tsval = None;
    }

    /// An ACK, after its cumulative part was processed: `cum` octets newly acknowledged
    /// cumulatively (not SACKed before); `before` what held before it (in recovery, after a
    /// timeout).
    pub(super) fn on_ack_loss(
        &mut self,
        now: Instant,
        seg: &SegmentRef<'_>,
        cum: u32,
        before: (bool, bool),
    ) {
        let blocks = seg.options.sack.as_slice();
        let snd_max = self.snd.snd_max;
        let valid: Vec<(SeqNum, SeqNum)> = blocks
            .iter()
            .copied()
            .filter(|&(l, r)| r.after(l) && r.before_eq(snd_max))
            .collect();
        let sacked = self.recovery.rack.on_sack(now, &valid);
        if let Some(&(l, r)) = blocks.first()
            && is_dsack(blocks, seg.ack)
        {
            self.on_dsack(l, r);
        }
        let (was_in_recovery, after_timeout) = before;
        let recovery_ended = was_in_recovery && !self.cc.in_recovery();
        if cum > 0 && (recovery_ended || after_timeout) {
            self.eifel_check(seg);
        }
        self.frto_on_ack(seg, cum);
        self.recovery
            .rack
            .on_round(self.snd.snd_una, recovery_ended);
        self.rack_detect(now);
        if self.cc.in_sack_recovery() {
            let pipe = self.recovery.rack.pipe();
            let cwnd =
                self.recovery
                    .prr
                    .on_ack(cum + sacked, pipe, self.cc.ssthresh(), self.snd.mss);
            self.cc.set_recovery_cwnd(cwnd);
        } else {
            self.recovery.prr.stop();
        }
    }

    /// RFC 8985 §6.2 step 5: mark losses, enter recovery on the first, and arm the
    /// reordering timer for segments whose window is still open.
    pub(super) fn rack_detect(&mut self, now: Instant) {
        if !self.opts.sack || self.recovery.frto.is_some() {
            return;
        }
        let srtt = self.rtt.srtt().unwrap_or(Duration::from_millis(1));
        let in_recovery = self.cc.in_recovery() || self.rtt.backoffs() > 0;
        let (lost, timer) = self
            .recovery
            .rack
            .detect_loss(now, in_recovery, srtt, self.snd.mss);
        match timer {
            Some(at) => self.timers.set(TimerKind::Reorder, at),
            None => self.timers.stop(TimerKind::Reorder),
        }
        if lost > 0 && !self.cc.in_recovery() {
            // RFC 8985 §6.2 / RFC 6675 §5: loss detected; RFC 6937 starts with the flight.
            debug!(
                "{} RACK: {lost} octets lost, recovery at {}",
                self.tuple, self.snd.snd_una
            );
            let flight = self.snd.outstanding();
            self.cc.enter_recovery(self.snd.snd_max, flight);
            self.on_reduction();
            self.recovery.prr.start(flight);
            self.stats.fast_retransmits += 1;
            self.timers.stop(TimerKind::LossProbe); // RFC 8985 §7.2: none in recovery
            // Room for the fast retransmit now, also when a timer (no ACK) found the loss.
            let pipe = self.recovery.rack.pipe();
            let cwnd = self
                .recovery
                .prr
                .on_ack(0, pipe, self.cc.ssthresh(), self.snd.mss);
            self.cc.set_recovery_cwnd(cwnd);
        }
    }

    /// RFC 8985 §6.2 step 5, the reordering timer fired.
    pub(super) fn on_reorder_timeout(&mut self, now: Instant) {
        if self.state().is_synchronized() && self.snd.outstanding() > 0 {
            self.rack_detect(now);
        }
    }

    /// RFC 2883 §4 / RFC 3708 §3: a DSACK for [l, r): the peer got that range twice. If the
    /// reduction's retransmissions are all shown duplicates, it was spurious: undo it.
    fn on_dsack(&mut self, l: SeqNum, r: SeqNum) {
        self.stats.dsacks_received += 1;
        self.recovery.rack.on_dsack(self.snd.snd_nxt);
        if !self.cc.can_undo() || self.recovery.undo_retrans == 0 {
            return;
        }
        let segs = (r - l).div_ceil(self.snd.mss.max(1));
        self.recovery.undo_retrans = self.recovery.undo_retrans.saturating_sub(segs);
        if self.recovery.undo_retrans == 0 {
            self.undo("DSACK: every retransmission was a duplicate");
        }
    }

    /// RFC 3522 Eifel detection: the ACK that ends recovery (or the first after a timeout)
    /// echoes a timestamp older than the first retransmission, so it answers an original:
    /// nothing was lost.
    fn eifel_check(&mut self, seg: &SegmentRef<'_>) {
        let Some(tsval) = self.recovery.undo_tsval else {
            return;
        };
        if let Some((_, ecr)) = seg.options.timestamps
            && ecr != 0
            && (tsval.wrapping_sub(ecr) as i32) > 0
        {
            self.undo("timestamps (Eifel): the original was delivered");
        }
    }

    /// RFC 5682 §2 F-RTO, steps 2 and 3 (SND.UNA already advanced by `cum` octets).
    fn frto_on_ack(&mut self, seg: &SegmentRef<'_>, cum: u32) {
        let Some((step, recover)) = self.recovery.frto else {
            return;
        };
        if cum == 0 && !seg.payload.is_empty() {
            return; // not a duplicate ACK: data from the peer
        }
        if cum == 0 || seg.ack.after_eq(recover) {
            // 2a/3a: a duplicate ACK (a segment above a hole arrived), or everything
            // acknowledged: conventional recovery.
            self.recovery.frto = None;
            if cum == 0 && step == Frto::SecondAck {
                // 3a: go back N after all, from at most three segments.
                self.snd.snd_nxt = self.snd.snd_una;
                self.recovery.rack.on_timeout();
                self.cc.set_cwnd_for_probe(3 * self.snd.mss);
            }
            return;
        }
        match step {
            Frto::FirstAck if self.snd.has_unsent() => {
                // 2b: send new data (two segments) instead of going back N.
                self.snd.snd_nxt = self.snd.snd_max;
                self.recovery.rack.unmark_lost();
                self.cc
                    .set_cwnd_for_probe(self.snd.in_flight() + 2 * self.snd.mss);
                self.recovery.frto = Some((Frto::SecondAck, recover));
            }
            Frto::FirstAck => self.recovery.frto = None,
            Frto::SecondAck => {
                // 3b: an ACK for data not retransmitted: the timeout was spurious.
                self.recovery.frto = None;
                self.undo("F-RTO: ACK for data sent before the timeout");
            }
        }
    }

    /// Restore the window from before the reduction (RFC 4015 §3.2): what was retransmitted
    /// is not lost, and nothing is resent because of the timeout.
    fn undo(&mut self, why: &str) {
        if self.cc.undo() {
            debug!("{} spurious reduction undone: {why}", self.tuple);
            self.stats.undos += 1;
            self.recovery.prr.stop();
            self.recovery.rack.unmark_lost();
            self.recovery.undo_tsval = None;
            self.snd.snd_nxt = self.snd.snd_max;
            self.timers.stop(TimerKind::Reorder);
        }
    }

    /// After a retransmission timeout: the scoreboard's marks, and F-RTO's first step
    /// (RFC 5682 §2 step 1) on the first timeout for a segment.
    pub(super) fn on_timeout_loss(&mut self) {
        self.recovery.rack.on_timeout();
        self.recovery.prr.stop();
        self.timers.stop(TimerKind::Reorder);
        if self.retx.count == 1 {
            self.on_reduction();
        }
        self.recovery.frto = (self.retx.count == 1
            && self.config.frto
            && self.snd.syn_acked()
            && self.state().is_synchronized())
        .then_some((Frto::FirstAck, self.snd.snd_max));
    }
}

/// RFC 2883 §4: the first SACK block reports a duplicate when it lies below SEG.ACK or
/// inside the second block.
fn is_dsack(blocks: &[(SeqNum, SeqNum)], ack: SeqNum) -> bool {
    match blocks {
        [] => false,
        [(l, r), rest @ ..] => {
            r.before_eq(ack)
                || rest
                    .first()
                    .is_some_and(|(l2, r2)| l2.before_eq(*l) && r.before_eq(*r2))
        }
    }
}
