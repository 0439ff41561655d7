//! SEGMENT ARRIVES (RFC 9293 §3.10.7.3 and §3.10.7.4) for a [`Connection`].
//!
//! The steps are the RFC's, in its order: sequence number check, RST, SYN, ACK, URG, text,
//! FIN. Replies are never sent from here: this code only sets what is owed (an ACK, a RST
//! in the control queue) and `poll_transmit` builds the segments, so that every ACK owed by
//! a batch of input goes out as one (MUST-58, MUST-59).

use log::{debug, trace};

use super::congestion::DupAckAction;
use super::connection::{CloseReason, Connection, Event};
use super::segment::{Ctl, Segment, SegmentRef};
use super::seq::SeqNum;
use super::state::State;
use super::timers::TimerKind;
use crate::time::{Duration, Instant};

impl Connection {
    /// Process one incoming segment for this connection.
    pub fn handle_segment<P: AsRef<[u8]>>(&mut self, now: Instant, seg: &Segment<P>) {
        self.handle(now, &seg.borrowed());
    }

    fn handle(&mut self, now: Instant, seg: &SegmentRef<'_>) {
        trace!("{} < {seg}", self.tuple);
        self.stats.segments_in += 1;
        self.stats.bytes_in += seg.payload.len() as u64;
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.on_segment_syn_sent(now, seg),
            _ => self.on_segment_synchronized(now, seg),
        }
    }

    /// RFC 9293 §3.10.7.3: SYN-SENT.
    fn on_segment_syn_sent(&mut self, now: Instant, seg: &SegmentRef<'_>) {
        // First: the ACK must acknowledge our SYN.
        if seg.has_ack() && (seg.ack.before_eq(self.snd.iss) || seg.ack.after(self.snd.snd_max)) {
            if !seg.rst() {
                debug!("{} unacceptable ACK in SYN-SENT: RST", self.tuple);
                self.control.push_back(Segment {
                    seq: seg.ack,
                    ctl: Ctl::RST,
                    ..Segment::default()
                });
            }
            return;
        }
        // Second: RST. Acceptable only with an acceptable ACK (RFC 5961 §3.2 for SYN-SENT).
        if seg.rst() {
            if seg.has_ack() {
                debug!("{} connection refused (RST in SYN-SENT)", self.tuple);
                self.enter_closed(CloseReason::Refused);
            }
            return;
        }
        // Fourth: SYN.
        if !seg.syn() {
            return;
        }
        self.last_recv_at = now;
        self.on_peer_syn(seg);
        if seg.has_ack() {
            self.snd.on_ack(seg.ack);
            self.rtt.on_ack(now, seg.ack);
            self.timers.stop(TimerKind::Retransmit);
            self.retx_start = None;
            self.retx_count = 0;
            self.syn_pending = false;
            self.ack_pending = true;
            self.enter_established(now);
            // Data or FIN riding on the SYN-ACK: continue at the sixth step.
            self.on_text_and_fin(now, seg, seg.seq + 1);
        } else {
            // RFC 9293 §3.5 simultaneous open (MUST-10): SYN-RECEIVED from an active OPEN.
            self.passive = false;
            self.set_state(State::SynReceived);
            self.syn_pending = true;
        }
    }

    /// RFC 9293 §3.10.7.4: SYN-RECEIVED and the synchronized states.
    fn on_segment_synchronized(&mut self, now: Instant, seg: &SegmentRef<'_>) {
        if self.state == State::FinWait2 && self.released {
            // Any segment, even an unacceptable probe, shows the peer is alive.
            self.timers
                .set(TimerKind::FinWait2, now + self.config.fin_wait_2_timeout);
        }
        // RFC 9293 §3.5 Figure 7 line 6: in a simultaneous open the peer's SYN-ACK (its SYN
        // again, now acknowledging ours) completes the handshake. Taken literally the
        // acceptability test would reject it (SEG.SEQ = RCV.NXT-1); like Linux we accept it.
        if self.state == State::SynReceived
            && !self.passive
            && seg.syn()
            && seg.has_ack()
            && !seg.rst()
            && seg.seq + 1 == self.rcv.rcv_nxt
            && seg.ack == self.snd.snd_max
        {
            self.last_recv_at = now;
            self.syn_pending = false;
            self.snd.snd_wnd = u32::from(seg.wnd);
            self.enter_established(now);
            self.on_ack(now, seg);
            return;
        }
        // RFC 7323 §5.3: PAWS, before the window check.
        if self.ts_enabled
            && !seg.rst()
            && let Some((val, _)) = seg.options.timestamps
            && (val.wrapping_sub(self.ts_recent) as i32) < 0
        {
            debug!(
                "{} PAWS: old timestamp {val} < {}",
                self.tuple, self.ts_recent
            );
            self.ack_pending = true;
            return;
        }

        // First: sequence number check (the acceptability table).
        let rcv_nxt = self.rcv.rcv_nxt;
        let rcv_wnd = self.rcv.rcv_wnd();
        let len = seg.seg_len();
        let acceptable = match (len, rcv_wnd) {
            (0, 0) => seg.seq == rcv_nxt,
            (0, w) => seg.seq.in_window(rcv_nxt, w),
            (_, 0) => false,
            (l, w) => seg.seq.in_window(rcv_nxt, w) || (seg.seq + l - 1).in_window(rcv_nxt, w),
        };
        // MUST-66: with a zero window, still take the RST/ACK/URG of a segment at RCV.NXT.
        let acceptable = acceptable || (rcv_wnd == 0 && seg.seq == rcv_nxt);
        if !acceptable {
            if !seg.rst() {
                if self.state == State::TimeWait && seg.fin() {
                    // A retransmitted FIN: ACK it and restart the 2 MSL timeout.
                    self.enter_time_wait(now);
                }
                self.ack_pending = true;
            }
            return;
        }
        self.last_recv_at = now;
        self.keepalive_probes = 0;
        self.arm_keepalive(now);
        if self.ts_enabled
            && let Some((val, _)) = seg.options.timestamps
            && seg.seq.before_eq(rcv_nxt)
        {
            self.ts_recent = val; // RFC 7323 §4.3
        }

        // Second: RST (RFC 5961 §3.2: only an exact match resets).
        if seg.rst() {
            if seg.seq != rcv_nxt {
                self.challenge_ack(now, "RST in window but not at RCV.NXT");
                return;
            }
            debug!("{} RST received in {}", self.tuple, self.state);
            let reason = match self.state {
                State::SynReceived if self.passive => CloseReason::ResetInListen,
                State::SynReceived => CloseReason::Refused,
                State::TimeWait => CloseReason::Normal,
                _ => CloseReason::Reset,
            };
            self.enter_closed(reason);
            return;
        }

        // Fourth: SYN (RFC 5961 §4: challenge ACK; a passive SYN-RECEIVED returns to LISTEN).
        if seg.syn() {
            if self.state == State::SynReceived && self.passive {
                debug!("{} SYN in passive SYN-RECEIVED: back to LISTEN", self.tuple);
                self.enter_closed(CloseReason::ResetInListen);
            } else {
                self.challenge_ack(now, "SYN in synchronized state");
            }
            return;
        }

        // Fifth: ACK.
        if !seg.has_ack() {
            return;
        }
        if self.state == State::SynReceived {
            if seg.ack.after(self.snd.snd_una) && seg.ack.before_eq(self.snd.snd_max) {
                self.syn_pending = false;
                self.snd.snd_wnd = u32::from(seg.wnd) << self.snd.wscale;
                self.snd.max_snd_wnd = self.snd.max_snd_wnd.max(self.snd.snd_wnd);
                self.snd.snd_wl1 = seg.seq;
                self.snd.snd_wl2 = seg.ack;
                self.enter_established(now);
            } else {
                debug!("{} unacceptable ACK in SYN-RECEIVED: RST", self.tuple);
                self.control.push_back(Segment {
                    seq: seg.ack,
                    ctl: Ctl::RST,
                    ..Segment::default()
                });
                return;
            }
        }
        if !self.on_ack(now, seg) {
            return;
        }
        match self.state {
            State::FinWait1 if self.snd.fin_acked() => {
                self.set_state(State::FinWait2);
                if self.released {
                    self.timers
                        .set(TimerKind::FinWait2, now + self.config.fin_wait_2_timeout);
                }
            }
            State::Closing if self.snd.fin_acked() => self.enter_time_wait(now),
            State::LastAck if self.snd.fin_acked() => {
                self.enter_closed(CloseReason::Normal);
                return;
            }
            _ => {}
        }

        self.on_text_and_fin(now, seg, seg.seq);
    }

    /// RFC 9293 §3.10.7.4 fifth (ESTABLISHED and later): the ACK field, SND.WL1/WL2 window
    /// updates, RFC 5961 §5 ACK range check, duplicate ACKs. Returns false to drop.
    fn on_ack(&mut self, now: Instant, seg: &SegmentRef<'_>) -> bool {
        let ack = seg.ack;
        let snd_una = self.snd.snd_una;
        if ack.after(self.snd.snd_max) {
            // Acknowledges something not yet sent: ACK and drop.
            self.ack_pending = true;
            return false;
        }
        if ack.before(snd_una - self.snd.max_snd_wnd.max(1)) {
            self.challenge_ack(now, "ACK below SND.UNA - MAX.SND.WND");
            return false;
        }
        let wnd = u32::from(seg.wnd) << self.snd.wscale;
        if ack.after(snd_una) {
            let acked = ack - snd_una;
            let freed = self.snd.on_ack(ack);
            // RFC 7323 §4.1 RTTM: while Karn's rule leaves no segment timed (after a
            // retransmission), TSecr still gives an unambiguous sample: it echoes the TSval
            // of the segment that caused this ACK.
            if !self.rtt.is_timing()
                && self.ts_enabled
                && let Some((_, ecr)) = seg.options.timestamps
                && ecr != 0
            {
                let ms = Self::ts_val(now).wrapping_sub(ecr);
                if (ms as i32) >= 0 && ms < 3_600_000 {
                    self.rtt.sample(Duration::from_millis(u64::from(ms)));
                }
            }
            self.rtt.on_ack(now, ack);
            let outstanding = self.snd.outstanding();
            let srtt = self.rtt.srtt();
            if self.cc.on_ack(now, srtt, ack, acked, outstanding) && outstanding > 0 {
                self.fast_retransmit = true; // RFC 6582 partial ACK
                self.stats.fast_retransmits += 1;
            }
            self.retx_count = 0;
            self.tlp_out = false;
            if outstanding == 0 {
                self.timers.stop(TimerKind::Retransmit);
                self.timers.stop(TimerKind::LossProbe);
                self.retx_start = None;
            } else {
                // RFC 6298 (5.3): restart the timer on new data acknowledged.
                self.retx_start = Some(now);
                self.arm_retransmit(now);
            }
            if freed > 0 && self.want_writable {
                self.want_writable = false;
                self.push_event(Event::Writable);
            }
        }
        // RFC 2018: SACK blocks update the scoreboard. An ACK that SACKs new data counts as
        // a duplicate even when it carries data (with data flowing both ways, the RFC 5681
        // definition alone would never see one).
        let sack_progress = self.sack_enabled && self.snd.on_sack(seg.options.sack.as_slice());
        if ack == snd_una
            && self.snd.outstanding() > 0
            && (sack_progress || (seg.payload.is_empty() && !seg.fin() && wnd == self.snd.snd_wnd))
        {
            // RFC 5681 §2 duplicate ACK.
            self.stats.dup_acks += 1;
            let action = self.cc.on_dup_ack(
                self.snd.snd_max,
                self.snd.outstanding(),
                self.snd.sacked_bytes(),
            );
            if action == DupAckAction::FastRetransmit {
                debug!("{} fast retransmit at {}", self.tuple, snd_una);
                self.high_rxt = snd_una;
                self.fast_retransmit = true;
                self.stats.fast_retransmits += 1;
            } else if self.tlp_out && sack_progress && !self.cc.in_recovery() {
                // RFC 8985 §7.4: the loss probe's ACK SACKs data beyond a hole that is
                // still there: the hole is lost. Recover now rather than at the RTO.
                debug!("{} loss probe revealed a hole at {}", self.tuple, snd_una);
                self.cc
                    .enter_recovery(self.snd.snd_max, self.snd.outstanding());
                self.high_rxt = snd_una;
                self.fast_retransmit = true;
                self.stats.fast_retransmits += 1;
            }
        }
        // Window update (SND.WL1/WL2 rule).
        if !ack.before(snd_una)
            && (self.snd.snd_wl1.before(seg.seq)
                || (self.snd.snd_wl1 == seg.seq && self.snd.snd_wl2.before_eq(ack)))
        {
            self.snd.snd_wnd = wnd;
            self.snd.snd_wl1 = seg.seq;
            self.snd.snd_wl2 = ack;
            self.snd.max_snd_wnd = self.snd.max_snd_wnd.max(wnd);
            if wnd > 0 {
                self.persist_backoff = 0;
                self.timers.stop(TimerKind::Persist);
            }
        }
        true
    }

    /// Sixth to eighth steps: URG, segment text, FIN. `start` is the sequence number of the
    /// first data octet (SEG.SEQ, or SEG.SEQ+1 on a SYN).
    fn on_text_and_fin(&mut self, now: Instant, seg: &SegmentRef<'_>, start: SeqNum) {
        if !self.state.can_receive_data() {
            return; // CLOSE-WAIT and later: the peer's FIN was already processed
        }
        // Sixth: URG (MUST-30, MUST-32).
        if seg.ctl.contains(Ctl::URG) && seg.urgent > 0 {
            let up = start + u32::from(seg.urgent);
            if self.rcv.rcv_up.is_none_or(|old| up.after(old)) {
                self.rcv.rcv_up = Some(up);
                self.push_event(Event::Urgent);
            }
        }
        // Seventh: segment text, trimmed to the window.
        let mut seq = start;
        let mut data = seg.payload;
        let rcv_nxt = self.rcv.rcv_nxt;
        if seq.before(rcv_nxt) {
            let skip = ((rcv_nxt - seq) as usize).min(data.len());
            data = &data[skip..];
            seq = rcv_nxt;
        }
        let room = if self.rcv.rcv_adv.after(seq) {
            (self.rcv.rcv_adv - seq) as usize
        } else {
            0
        };
        let trimmed_tail = data.len() > room;
        if trimmed_tail {
            data = &data[..room];
            self.ack_pending = true;
        }
        if !seg.payload.is_empty() {
            self.rcv_mss = self.rcv_mss.max(seg.payload.len() as u32);
            if data.is_empty() {
                self.ack_pending = true; // duplicate data: tell the peer where we are
            } else if seq == rcv_nxt {
                let had_gap = !self.rcv.reassembly.is_empty();
                self.rcv.push_in_order(data);
                if let Some(srtt) = self.rtt.srtt() {
                    self.rcv.autotune(now, srtt);
                }
                self.push_event(Event::Readable);
                self.unacked_bytes += data.len() as u32;
                if had_gap || self.unacked_bytes >= 2 * self.rcv_mss {
                    // MUST-40/SHLD-19: ACK every second full segment; gap fills at once.
                    self.ack_pending = true;
                } else {
                    self.timers
                        .set_if_idle(TimerKind::DelayedAck, now + self.config.delayed_ack);
                }
            } else {
                // Out of order: hold it and send an immediate duplicate ACK (RFC 5681 §4.2).
                if !self.rcv.reassembly.insert(seq, data) {
                    debug!(
                        "{} reassembly full: dropping {} octets",
                        self.tuple,
                        data.len()
                    );
                }
                self.ack_pending = true;
            }
        }
        // Eighth: FIN, processed once every octet before it arrived.
        if seg.fin() && !trimmed_tail {
            let fin_seq = start + seg.payload.len() as u32;
            self.rcv.pending_fin = Some(fin_seq);
            self.ack_pending = true;
        }
        if let Some(fin_seq) = self.rcv.pending_fin
            && fin_seq == self.rcv.rcv_nxt
        {
            self.on_fin(now);
        }
    }

    /// RFC 9293 §3.10.7.4 eighth: the peer's FIN is in order.
    fn on_fin(&mut self, now: Instant) {
        self.rcv.pending_fin = None;
        self.rcv.fin_received = true;
        self.rcv.rcv_nxt += 1;
        self.ack_pending = true;
        debug!("{} FIN received in {}", self.tuple, self.state);
        self.push_event(Event::PeerClosed);
        match self.state {
            State::SynReceived | State::Established => self.set_state(State::CloseWait),
            State::FinWait1 if self.snd.fin_acked() => self.enter_time_wait(now),
            State::FinWait1 => self.set_state(State::Closing),
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }
}
