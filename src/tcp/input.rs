//! SEGMENT ARRIVES (RFC 9293 §3.10.7.3 and §3.10.7.4) for a [`Connection`].
//!
//! The steps are the RFC's, in its order: sequence number check, RST, SYN, ACK, URG, text,
//! FIN. Replies are never sent from here: this code only sets what is owed (an ACK, a RST
//! in the control queue) and `poll_transmit` builds the segments, so that every ACK owed by
//! a batch of input goes out as one (MUST-58, MUST-59).

use log::{debug, trace};

use super::config::{CloseReason, Event};
use super::congestion::DupAckAction;
use super::connection::Connection;
use super::segment::{Ctl, Segment, SegmentRef};
use super::seq::SeqNum;
use super::state::{Phase, State};
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
        match self.state() {
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
                self.send_rst(seg.ack);
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
        self.probes.last_recv_at = now;
        self.on_peer_syn(seg);
        if seg.has_ack() {
            self.snd.on_ack(seg.ack);
            self.rtt.on_ack(now, seg.ack);
            self.timers.stop(TimerKind::Retransmit);
            self.retx.start = None;
            self.retx.count = 0;
            self.ack.pending = true;
            self.enter_established(now);
            // Data or FIN riding on the SYN-ACK: continue at the sixth step.
            self.on_text_and_fin(now, seg, seg.seq + 1);
        } else {
            // RFC 9293 §3.5 simultaneous open (MUST-10): SYN-RECEIVED from an active OPEN.
            self.transition(Phase::SynReceived {
                passive: false,
                syn_pending: true,
                deferred_close: None,
            });
        }
    }

    /// RFC 9293 §3.10.7.4: SYN-RECEIVED and the synchronized states.
    fn on_segment_synchronized(&mut self, now: Instant, seg: &SegmentRef<'_>) {
        if let Phase::FinWait2 { released: true } = self.phase {
            // Any segment, even an unacceptable probe, shows the peer is alive.
            self.timers
                .set(TimerKind::FinWait2, now + self.config.fin_wait_2_timeout);
        }
        if self.on_simultaneous_syn_ack(now, seg) || self.paws_rejects(seg) {
            return;
        }
        // First: sequence number check.
        if !self.check_sequence(now, seg) {
            return;
        }
        // Second: RST (RFC 5961 §3.2: only an exact match resets).
        if seg.rst() {
            self.on_rst(now, seg);
            return;
        }
        // Fourth: SYN (RFC 5961 §4: challenge ACK; a passive SYN-RECEIVED returns to LISTEN).
        if seg.syn() {
            if let Phase::SynReceived { passive: true, .. } = self.phase {
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
        if self.state() == State::SynReceived && !self.on_ack_syn_received(now, seg) {
            return;
        }
        if !self.on_ack(now, seg) || !self.on_our_fin_acked(now) {
            return;
        }
        self.on_text_and_fin(now, seg, seg.seq);
    }

    /// RFC 9293 §3.5 Figure 7 line 6: in a simultaneous open the peer's SYN-ACK (its SYN
    /// again, now acknowledging ours) completes the handshake. Taken literally the
    /// acceptability test would reject it (SEG.SEQ = RCV.NXT-1); like Linux we accept it.
    /// Returns whether it was that SYN-ACK.
    fn on_simultaneous_syn_ack(&mut self, now: Instant, seg: &SegmentRef<'_>) -> bool {
        let is_it = matches!(self.phase, Phase::SynReceived { passive: false, .. })
            && seg.syn()
            && seg.has_ack()
            && !seg.rst()
            && seg.seq + 1 == self.rcv.rcv_nxt
            && seg.ack == self.snd.snd_max;
        if is_it {
            self.probes.last_recv_at = now;
            // As for any ACK of our SYN in SYN-RECEIVED; a SYN's window is never scaled.
            self.update_window(seg.seq, seg.ack, u32::from(seg.wnd));
            self.enter_established(now);
            self.on_ack(now, seg);
        }
        is_it
    }

    /// RFC 7323 §5.3: PAWS, before the window check. Returns whether the segment is dropped
    /// (with an ACK owed).
    fn paws_rejects(&mut self, seg: &SegmentRef<'_>) -> bool {
        if self.opts.timestamps
            && !seg.rst()
            && let Some((val, _)) = seg.options.timestamps
            && (val.wrapping_sub(self.opts.ts_recent) as i32) < 0
        {
            debug!(
                "{} PAWS: old timestamp {val} < {}",
                self.tuple, self.opts.ts_recent
            );
            self.ack.pending = true;
            return true;
        }
        false
    }

    /// First step: the acceptability table (RFC 9293 §3.10.7.4). An unacceptable segment
    /// is answered with an ACK (unless it is a RST) and dropped: returns false. An
    /// acceptable one shows the peer is alive and may carry a new TS.Recent.
    fn check_sequence(&mut self, now: Instant, seg: &SegmentRef<'_>) -> bool {
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
            if !seg.rst() && seg.seq.before(rcv_nxt) {
                self.note_duplicate(seg.seq, seg.payload.len() as u32);
            }
            if !seg.rst() {
                if self.state() == State::TimeWait && seg.fin() {
                    // A retransmitted FIN: ACK it and restart the 2 MSL timeout.
                    self.enter_time_wait(now);
                }
                self.ack.pending = true;
            }
            return false;
        }
        self.probes.last_recv_at = now;
        self.probes.keepalives = 0;
        self.arm_keepalive(now);
        if self.opts.timestamps
            && let Some((val, _)) = seg.options.timestamps
            && seg.seq.before_eq(rcv_nxt)
        {
            self.opts.ts_recent = val; // RFC 7323 §4.3
        }
        true
    }

    /// Second step: an in-window RST. RFC 5961 §3.2: only one exactly at RCV.NXT resets;
    /// any other draws a challenge ACK.
    fn on_rst(&mut self, now: Instant, seg: &SegmentRef<'_>) {
        if seg.seq != self.rcv.rcv_nxt {
            self.challenge_ack(now, "RST in window but not at RCV.NXT");
            return;
        }
        debug!("{} RST received in {}", self.tuple, self.state());
        let reason = match self.phase {
            Phase::SynReceived { passive: true, .. } => CloseReason::ResetInListen,
            Phase::SynReceived { .. } => CloseReason::Refused,
            Phase::TimeWait => CloseReason::Normal,
            _ => CloseReason::Reset,
        };
        self.enter_closed(reason);
    }

    /// Fifth step in SYN-RECEIVED: an ACK of our SYN completes the handshake and sets the
    /// window ("continue processing with the variables below set to: SND.WND <- SEG.WND,
    /// SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK"); any other ACK is answered with a RST.
    /// Returns whether processing continues.
    fn on_ack_syn_received(&mut self, now: Instant, seg: &SegmentRef<'_>) -> bool {
        if seg.ack.after(self.snd.snd_una) && seg.ack.before_eq(self.snd.snd_max) {
            self.update_window(seg.seq, seg.ack, u32::from(seg.wnd) << self.snd.wscale);
            self.enter_established(now);
            true
        } else {
            debug!("{} unacceptable ACK in SYN-RECEIVED: RST", self.tuple);
            self.send_rst(seg.ack);
            false
        }
    }

    /// Fifth step, the states waiting for our FIN's ACK: FIN-WAIT-1 moves on to FIN-WAIT-2,
    /// CLOSING to TIME-WAIT, LAST-ACK to CLOSED. Returns whether processing continues.
    fn on_our_fin_acked(&mut self, now: Instant) -> bool {
        if !self.snd.fin_acked() {
            return true;
        }
        match self.phase {
            Phase::FinWait1 { released } => {
                self.transition(Phase::FinWait2 { released });
                if released {
                    self.timers
                        .set(TimerKind::FinWait2, now + self.config.fin_wait_2_timeout);
                }
            }
            Phase::Closing => self.enter_time_wait(now),
            Phase::LastAck => {
                self.enter_closed(CloseReason::Normal);
                return false;
            }
            _ => {}
        }
        true
    }

    /// RFC 9293 §3.10.7.4 fifth (ESTABLISHED and later): the ACK field, SND.WL1/WL2 window
    /// updates, RFC 5961 §5 ACK range check, duplicate ACKs. Returns false to drop.
    fn on_ack(&mut self, now: Instant, seg: &SegmentRef<'_>) -> bool {
        let ack = seg.ack;
        let snd_una = self.snd.snd_una;
        if ack.after(self.snd.snd_max) {
            // Acknowledges something not yet sent: ACK and drop.
            self.ack.pending = true;
            return false;
        }
        if ack.before(snd_una - self.snd.max_snd_wnd.max(1)) {
            self.challenge_ack(now, "ACK below SND.UNA - MAX.SND.WND");
            return false;
        }
        // RFC 7323 §2.2: the window of a SYN (here the SYN-ACK of a simultaneous open) is
        // never scaled.
        let wnd = if seg.syn() {
            u32::from(seg.wnd)
        } else {
            u32::from(seg.wnd) << self.snd.wscale
        };
        let before = (self.cc.in_recovery(), self.retx.count > 0);
        let cum = if ack.after(snd_una) {
            self.on_new_ack(now, seg)
        } else {
            0
        };
        // RFC 2018: SACK blocks update the scoreboard. An ACK that SACKs new data counts as
        // a duplicate even when it carries data (with data flowing both ways, the RFC 5681
        // definition alone would never see one).
        let sack_progress = self.opts.sack && self.snd.on_sack(seg.options.sack.as_slice());
        let dup = ack == snd_una
            && self.snd.outstanding() > 0
            && (sack_progress || (seg.payload.is_empty() && !seg.fin() && wnd == self.snd.snd_wnd));
        if self.opts.sack {
            // RFC 8985: with SACK, RACK decides what is lost (`loss.rs`).
            self.stats.dup_acks += u64::from(dup);
        } else if dup {
            self.on_dup_ack(snd_una);
        }
        // Undo (Eifel, F-RTO) with or without SACK; RACK and PRR only with it.
        self.on_ack_loss(now, seg, cum, before);
        // An ACK of new data carries the peer's current window whatever its SEQ (Linux's
        // tcp_may_update_window): ACK numbers only grow. RFC 9293's test alone keeps a stale
        // window when the peer rewound its SND.NXT after a timeout and sends below the SEQ
        // of its earlier segments; the right edge then runs on with SND.UNA past the
        // peer's (xcheck_props regression against smoltcp).
        let newer = ack.after(snd_una) || self.snd.window_update_acceptable(seg.seq, ack);
        if !ack.before(snd_una) && newer {
            self.update_window(seg.seq, ack, wnd);
        }
        true
    }

    /// SND.UNA < SEG.ACK =< SND.MAX: new data acknowledged. RTT sample, congestion
    /// window, the retransmission timer (RFC 6298 (5.2), (5.3)), send buffer space. Returns
    /// the octets delivered by it that were not SACKed before.
    fn on_new_ack(&mut self, now: Instant, seg: &SegmentRef<'_>) -> u32 {
        let ack = seg.ack;
        let acked = ack - self.snd.snd_una;
        let freed = self.snd.on_ack(ack);
        let delivered = self.recovery.rack.on_cum_ack(now, ack);
        // RFC 7323 §4.1 RTTM: while Karn's rule leaves no segment timed (after a
        // retransmission), TSecr gives a sample: it echoes the TSval of the segment that
        // caused this ACK. Not when it is older than the latest retransmission: a receiver
        // that got an earlier copy and lost its ACK answers the retransmission, a duplicate,
        // with that copy's TSval (RFC 7323 §5.3 R2 sends the ACK before R3 records the new
        // one), and the "RTT" would include the RTO that resent it (seconds after backoffs).
        if !self.rtt.is_timing()
            && self.opts.timestamps
            && let Some((_, ecr)) = seg.options.timestamps
            && ecr != 0
            && self
                .recovery
                .rexmit_tsval
                .is_none_or(|r| ecr.wrapping_sub(r) as i32 >= 0)
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
            self.recovery.resend_una = true; // RFC 6582 partial ACK
            self.stats.fast_retransmits += 1;
        }
        self.retx.count = 0;
        self.recovery.tlp_out = false;
        if outstanding == 0 {
            self.timers.stop(TimerKind::Retransmit);
            self.timers.stop(TimerKind::LossProbe);
            self.retx.start = None;
        } else {
            // RFC 6298 (5.3): restart the timer on new data acknowledged.
            self.retx.start = Some(now);
            self.arm_retransmit(now);
        }
        if freed > 0 && self.user.want_writable {
            self.user.want_writable = false;
            self.push_event(Event::Writable);
        }
        delivered
    }

    /// RFC 5681 §2 duplicate ACK from a peer without SACK: maybe fast retransmit (RFC 5681
    /// §3.2, RFC 6582).
    fn on_dup_ack(&mut self, snd_una: SeqNum) {
        self.stats.dup_acks += 1;
        let action = self.cc.on_dup_ack(
            self.snd.snd_max,
            self.snd.outstanding(),
            self.snd.sacked_bytes(),
        );
        if action == DupAckAction::FastRetransmit {
            debug!("{} fast retransmit at {}", self.tuple, snd_una);
            self.recovery.high_rxt = snd_una;
            self.recovery.resend_una = true;
            self.on_reduction();
            self.stats.fast_retransmits += 1;
        }
    }

    /// Sixth to eighth steps: URG, segment text, FIN. `start` is the sequence number of the
    /// first data octet (SEG.SEQ, or SEG.SEQ+1 on a SYN).
    fn on_text_and_fin(&mut self, now: Instant, seg: &SegmentRef<'_>, start: SeqNum) {
        if !self.state().can_receive_data() {
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
            self.ack.pending = true;
        }
        if !seg.payload.is_empty() {
            self.note_duplicate(start, seg.payload.len() as u32);
            // A segment longer than the MSS we announced is a super-segment an offload
            // device merged (receive offload): it counts as that many full-sized segments,
            // so "full-sized" stays our MSS and never grows to 64 KB.
            let announced = u32::from(self.config.mss);
            let super_segment = seg.payload.len() as u32 > announced;
            self.ack.rcv_mss = self
                .ack
                .rcv_mss
                .max((seg.payload.len() as u32).min(announced));
            if data.is_empty() {
                self.ack.pending = true; // duplicate data: tell the peer where we are
            } else if !self.recv_allows(data.len()) {
                debug!(
                    "{} memory budget: dropping {} octets",
                    self.tuple,
                    data.len()
                );
                self.ack.pending = true;
            } else if seq == rcv_nxt {
                let had_gap = !self.rcv.reassembly.is_empty();
                self.rcv.push_in_order(data);
                if let Some(srtt) = self.rtt.srtt()
                    && self.memory.pressure == super::Pressure::Normal
                {
                    self.rcv.autotune(now, srtt);
                }
                self.push_event(Event::Readable);
                self.ack.unacked_bytes += data.len() as u32;
                if had_gap || super_segment || self.ack.unacked_bytes >= 2 * self.ack.rcv_mss {
                    // MUST-40/SHLD-19: ACK every second full segment; gap fills at once;
                    // every super-segment at once (it stands for two or more segments).
                    self.ack.pending = true;
                } else {
                    self.timers
                        .set_if_idle(TimerKind::DelayedAck, now + self.config.delayed_ack);
                }
            } else {
                // Out of order: hold it and send an immediate duplicate ACK (RFC 5681 §4.2);
                // under memory pressure the queue goes first (see `pressure.rs`).
                if self.memory.pressure != super::Pressure::Normal {
                    self.rcv.prune_out_of_order();
                } else if !self.rcv.reassembly.insert(seq, data) {
                    debug!(
                        "{} reassembly full: dropping {} octets",
                        self.tuple,
                        data.len()
                    );
                }
                self.ack.pending = true;
            }
        }
        // Eighth: FIN, processed once every octet before it arrived.
        if seg.fin() && !trimmed_tail {
            let fin_seq = start + seg.payload.len() as u32;
            self.rcv.pending_fin = Some(fin_seq);
            self.ack.pending = true;
        }
        if let Some(fin_seq) = self.rcv.pending_fin
            && fin_seq == self.rcv.rcv_nxt
        {
            self.on_fin(now);
        }
    }

    /// RFC 2883 §4: data at [start, start+len) that we already have (below RCV.NXT, or
    /// held out of order) is reported in the next ACK's first SACK block.
    fn note_duplicate(&mut self, start: SeqNum, len: u32) {
        if !self.opts.sack || len == 0 {
            return;
        }
        let (end, rcv_nxt) = (start + len, self.rcv.rcv_nxt);
        let dup = if start.before(rcv_nxt) {
            Some((start, end.min(rcv_nxt)))
        } else {
            self.rcv
                .reassembly
                .holds(start, end)
                .then_some((start, end))
        };
        if dup.is_some() {
            self.ack.dsack = dup;
            self.ack.pending = true;
        }
    }

    /// RFC 9293 §3.10.7.4 eighth: the peer's FIN is in order.
    fn on_fin(&mut self, now: Instant) {
        self.rcv.pending_fin = None;
        self.rcv.fin_received = true;
        self.rcv.rcv_nxt += 1;
        self.ack.pending = true;
        debug!("{} FIN received in {}", self.tuple, self.state());
        self.push_event(Event::PeerClosed);
        match self.phase {
            Phase::SynReceived { .. } | Phase::Established => {
                self.transition(Phase::CloseWait);
            }
            Phase::FinWait1 { .. } if self.snd.fin_acked() => self.enter_time_wait(now),
            Phase::FinWait1 { .. } => {
                self.transition(Phase::Closing);
            }
            Phase::FinWait2 { .. } => self.enter_time_wait(now),
            _ => {}
        }
    }

    /// Queue `<SEQ=seq><CTL=RST>` (an unacceptable ACK while opening, RFC 9293 §3.10.7.3
    /// and §3.10.7.4).
    fn send_rst(&mut self, seq: SeqNum) {
        self.control.push_back(Segment {
            seq,
            ctl: Ctl::RST,
            ..Segment::default()
        });
    }

    /// RFC 5961 §7: challenge ACKs are rate limited per connection.
    pub(super) fn challenge_ack(&mut self, now: Instant, why: &str) {
        let c = &mut self.challenge;
        if now - c.window_start >= Duration::from_secs(1) {
            c.window_start = now;
            c.count = 0;
        }
        if c.count < self.config.challenge_ack_limit {
            debug!("{} challenge ACK: {why}", self.tuple);
            c.count += 1;
            self.ack.pending = true;
            self.stats.challenge_acks += 1;
        } else {
            debug!(
                "{} challenge ACK suppressed (rate limit): {why}",
                self.tuple
            );
        }
    }
}

impl Connection {
    /// RFC 9293 §3.10.7.4 fifth, the window update: "set SND.WND <- SEG.WND, set SND.WL1 <-
    /// SEG.SEQ, and set SND.WL2 <- SEG.ACK" (`wnd` already scaled where RFC 7323 says so).
    /// The handshake sets these unconditionally; later segments only when they are newer
    /// (`SendSpace::window_update_acceptable`). An open window ends zero-window probing.
    pub(super) fn update_window(&mut self, seq: SeqNum, ack: SeqNum, wnd: u32) {
        self.snd.snd_wnd = wnd;
        self.snd.snd_wl1 = seq;
        self.snd.snd_wl2 = ack;
        self.snd.max_snd_wnd = self.snd.max_snd_wnd.max(wnd);
        if wnd > 0 {
            self.probes.persist_backoff = 0;
            self.timers.stop(TimerKind::Persist);
        }
    }
}
