//! What each timer of a [`Connection`] does: arming them (RTO within R2, the loss probe,
//! keepalive) and the handlers behind `handle_timeout`. The deadlines themselves live in
//! `timers.rs`.
//!
//! Each handler re-checks its condition, so a handler that finds nothing to do is a no-op and
//! `handle_timeout` may be called early or twice.

use log::debug;

use super::config::{CloseReason, Event};
use super::connection::Connection;
use super::segment::Segment;
use super::state::{Phase, State};
use super::timers::TimerKind;
use crate::time::{Duration, Instant};

impl Connection {
    /// Timer expiries. Each handler re-checks its condition, so an early or repeated call
    /// does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(kind) = self.timers.take_expired(now) {
            match kind {
                TimerKind::Retransmit => self.on_retransmit_timeout(now),
                TimerKind::LossProbe => self.on_loss_probe_timeout(now),
                TimerKind::Reorder => self.on_reorder_timeout(now),
                TimerKind::Persist => self.on_persist_timeout(now),
                TimerKind::DelayedAck => {
                    if self.ack.unacked_bytes > 0 {
                        self.ack.pending = true;
                    }
                }
                TimerKind::Keepalive => self.on_keepalive_timeout(now),
                TimerKind::TimeWait => {
                    if self.state() == State::TimeWait {
                        self.enter_closed(CloseReason::Normal);
                    }
                }
                TimerKind::FinWait2 => {
                    // Armed only once the user released the connection: nobody reads any
                    // more, so silence from the peer for the whole timeout ends it.
                    if self.state() == State::FinWait2 {
                        self.enter_closed(CloseReason::FinWait2Timeout);
                    }
                }
            }
        }
    }

    /// R2 in force for what is outstanding (MUST-22/23: SYN uses its own, longer R2).
    pub(super) fn r2(&self) -> Duration {
        if !self.snd.syn_acked() || self.state() == State::SynReceived {
            self.config
                .r2_syn
                .max(self.config.user_timeout.unwrap_or_default())
        } else {
            self.config.user_timeout.unwrap_or(self.config.r2)
        }
    }

    /// Where R2 is counted from: when the oldest outstanding sequence space was first sent,
    /// or, while the peer holds its window at zero, when it last answered (MUST-37: a zero
    /// window answered by the peer is not a dead peer). The deadline and the check use the
    /// same start, so a deadline is never armed in the past.
    fn r2_start(&mut self, now: Instant) -> Instant {
        let start = *self.retx.start.get_or_insert(now);
        if self.snd.snd_wnd == 0 && self.state().is_synchronized() {
            start.max(self.probes.last_recv_at)
        } else {
            start
        }
    }

    /// Arm the retransmission timer at RTO, but never past the R2 deadline.
    pub(super) fn arm_retransmit(&mut self, now: Instant) {
        let start = self.r2_start(now);
        let at = (now + self.rtt.rto()).min(start + self.r2());
        self.timers.set(TimerKind::Retransmit, at);
        // The probe is re-armed once the burst that follows is out (`poll_transmit`).
        self.timers.stop(TimerKind::LossProbe);
    }

    /// RFC 8985 §7.2, after a burst: PTO = 2·SRTT + 2 ms (Linux's TCP_TIMEOUT_MIN, two
    /// jiffies at HZ=1000: a timer margin, not a floor of 10 ms that a path of 50 µs would
    /// spend 200 round trips waiting out), plus the
    /// peer's worst-case delayed ACK when a single segment is in flight; only when it beats
    /// the RTO, and one probe per tail (also in recovery: see `on_loss_probe_timeout`).
    pub(super) fn arm_loss_probe(&mut self, now: Instant) {
        let Some(rto_at) = self.timers.get(TimerKind::Retransmit) else {
            return;
        };
        // Not during RTO recovery (backed off until new data is acknowledged).
        if !self.state().is_synchronized()
            || self.recovery.tlp_out
            || self.snd.outstanding() == 0
            || self.rtt.backoffs() > 0
            || self.timers.is_running(TimerKind::LossProbe)
        {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else { return };
        let mut pto = srtt * 2 + Duration::from_millis(2);
        if self.snd.outstanding() <= self.snd.mss {
            pto += Duration::from_millis(200); // RFC 8985 WCDelAckT
        }
        if now + pto < rto_at {
            self.timers.set(TimerKind::LossProbe, now + pto);
        }
    }

    /// RFC 9293 §3.8.4: the keepalive timer runs in the synchronized states before
    /// TIME-WAIT when keepalives are on (MUST-24).
    pub(super) fn arm_keepalive(&mut self, now: Instant) {
        let state = self.state();
        match self.config.keepalive {
            Some(k) if state.is_synchronized() && state != State::TimeWait => {
                self.timers.set(TimerKind::Keepalive, now + k.idle);
            }
            _ => self.timers.stop(TimerKind::Keepalive),
        }
    }

    /// RFC 6298 §5 (5.4)-(5.6) and RFC 9293 §3.8.3 (R1/R2).
    fn on_retransmit_timeout(&mut self, now: Instant) {
        let syn_out = matches!(
            self.phase,
            Phase::SynSent { .. } | Phase::SynReceived { .. }
        );
        if self.state() == State::Closed || (self.snd.outstanding() == 0 && !syn_out) {
            return;
        }
        if self.is_passive() && self.retx.count >= self.config.synack_retries {
            debug!(
                "{} no ACK after {} SYN-ACK retransmissions",
                self.tuple, self.retx.count
            );
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        let start = self.r2_start(now);
        if now - start >= self.r2() {
            debug!(
                "{} R2 reached after {:?}: giving up",
                self.tuple,
                now - start
            );
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        self.stats.rtos += 1;
        self.retx.count += 1;
        debug!(
            "{} RTO fired ({:?}, retransmission {})",
            self.tuple,
            self.rtt.rto(),
            self.retx.count
        );
        if self.retx.count == self.config.r1 {
            debug!("{} R1 reached: negative advice to IP", self.tuple);
            self.user.events.push_back(Event::RetransmitThreshold);
        }
        self.cc
            .on_timeout(self.snd.outstanding(), self.retx.count > 1);
        self.snd.clear_sack(); // RFC 2018 §8: the receiver may have reneged
        self.on_timeout_loss();
        self.rtt.back_off();
        self.rtt.on_retransmit();
        // Go back to SND.UNA and send again from there (SYN and FIN included).
        self.snd.snd_nxt = self.snd.snd_una;
        // The window shrank to zero under data in flight (MUST-34): the segment at SND.UNA
        // goes anyway and is the probe (RFC 9293 §3.8.6.1: "retransmit to the receiving TCP
        // peer even if the send window is zero"; Linux's tcp_retransmit_timer does the same).
        // Not a zero-length probe below the window: a peer that rewound its own SND.NXT
        // answers that with ACKs below our RCV.NXT, which we must drop (§3.10.7.4), window
        // update and all, while it drops our ACKs at the right edge of its full window; the
        // data at its RCV.NXT is the one segment both sides accept (xcheck_props regression).
        self.recovery.resend_una = self.snd.snd_wnd == 0 && self.state().is_synchronized();
        if syn_out {
            self.phase.set_syn_pending(true);
        }
        self.arm_retransmit(now);
    }

    /// RFC 8985 §7.3: the probe timeout fired with data outstanding and no ACK progress
    /// since: send one probe segment (see `output.rs`), at most one per tail, and let the
    /// RTO run on. With SACK the probe also goes out in recovery, a deliberate departure
    /// from §7.2 ("not in loss recovery"; Linux neither): when a retransmission is lost and
    /// nothing sent after it is delivered, RACK has nothing to measure by, and the probe's
    /// SACK gives it that instead of an RTO (in `tests/tcp_loss_compare.rs`, NewReno at 5%:
    /// median 1196 ms with it, 1887 ms without). Without SACK, in recovery, the probe
    /// resends the hole at SND.UNA.
    fn on_loss_probe_timeout(&mut self, _now: Instant) {
        if !self.state().is_synchronized() || self.snd.outstanding() == 0 || self.recovery.tlp_out {
            return;
        }
        self.recovery.tlp_out = true;
        self.stats.loss_probes += 1;
        if self.cc.in_recovery() && !self.opts.sack {
            debug!(
                "{} loss probe: retransmission at {} presumed lost",
                self.tuple, self.snd.snd_una
            );
            self.recovery.resend_una = true;
        } else {
            debug!("{} tail loss probe", self.tuple);
            self.recovery.loss_probe = true;
        }
    }

    /// RFC 9293 §3.8.6.1: zero-window probe (MUST-35, MUST-36), or the SWS override
    /// timeout of §3.8.6.2.1 when the window is open but too small to use.
    fn on_persist_timeout(&mut self, now: Instant) {
        if !self.state().is_synchronized() || !self.snd.has_unsent() || self.snd.outstanding() > 0 {
            return;
        }
        // MUST-37: keep probing while the peer answers; give up only on R2 of silence.
        if now - self.probes.last_recv_at >= self.r2() {
            debug!(
                "{} zero-window probes unanswered for R2: giving up",
                self.tuple
            );
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        if self.snd.snd_wnd == 0 {
            // A segment just below the window elicits an ACK carrying the current window.
            debug!("{} zero-window probe", self.tuple);
            let probe = Segment {
                seq: self.snd.snd_una - 1,
                ..Segment::default()
            };
            self.control.push_back(probe);
            self.probes.persist_backoff = (self.probes.persist_backoff + 1).min(16);
        } else {
            self.probes.force_send = true;
        }
    }

    /// RFC 9293 §3.8.4: keepalive (MUST-26, MUST-29).
    fn on_keepalive_timeout(&mut self, now: Instant) {
        let Some(k) = self.config.keepalive else {
            return;
        };
        if !self.state().is_synchronized() || self.state() == State::TimeWait {
            return;
        }
        if self.snd.outstanding() > 0 || self.snd.has_unsent() {
            self.timers.set(TimerKind::Keepalive, now + k.idle);
            return;
        }
        if self.probes.keepalives >= k.count {
            debug!("{} {} keepalive probes unanswered", self.tuple, k.count);
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        self.probes.keepalives += 1;
        debug!("{} keepalive probe {}", self.tuple, self.probes.keepalives);
        // SEG.SEQ = SND.NXT − 1 with no data: the peer must answer with an ACK.
        let probe = Segment {
            seq: self.snd.snd_nxt - 1,
            ..Segment::default()
        };
        self.control.push_back(probe);
        self.timers.set(TimerKind::Keepalive, now + k.interval);
    }
}

#[cfg(test)]
mod tests {
    use crate::tcp::{Config, Connection, Ctl, FourTuple, Segment, SeqNum, State};
    use crate::time::{Duration, Instant};

    /// MUST-37 with data outstanding under a zero window: while the peer answers, the R2
    /// clock follows its answers, and the retransmission deadline follows that clock. It
    /// used to be armed at the first send + R2 while the check counted from the last answer,
    /// so at that deadline `handle_timeout` re-armed the timer at `now` forever.
    #[test]
    fn must_37_zero_window_r2_deadline_follows_the_answers() {
        let tuple = FourTuple {
            local: "198.18.0.2:80".parse().unwrap(),
            remote: "198.18.0.1:40000".parse().unwrap(),
        };
        let config = Config {
            window_scale: false,
            sack: false,
            timestamps: false,
            ..Config::default()
        };
        let (iss, irs) = (SeqNum(u32::MAX - 9), SeqNum(u32::MAX - 4));
        let mut now = Instant::from_secs(1000);
        let mut c = Connection::connect(now, tuple, iss, config);
        while c.poll_transmit(now).is_some() {}
        let seg = |seq, ack, ctl, wnd| -> Segment {
            Segment {
                seq,
                ack,
                ctl,
                wnd,
                ..Segment::default()
            }
        };
        c.handle_segment(now, &seg(irs, iss + 1, Ctl::SYN | Ctl::ACK, 8192));
        assert_eq!(c.state(), State::Established);
        assert_eq!(c.send(b"0123456789"), Ok(10));
        while c.poll_transmit(now).is_some() {}
        // The peer acknowledges nothing and shrinks its window to zero, then answers every
        // retransmission and probe the same way, for three times R2.
        let zero = seg(irs + 1, iss + 1, Ctl::ACK, 0);
        c.handle_segment(now, &zero);
        let (r2, mut answered) = (Duration::from_secs(100), now);
        while now < Instant::from_secs(1300) {
            now = c.poll_timeout().expect("the retransmission timer runs");
            c.handle_timeout(now);
            while c.poll_transmit(now).is_some() {}
            // RTO, but never past R2 counted from the last answer; checked before it fires
            // (the old deadline, first send + R2, would make `handle_timeout` spin).
            let expected = (now + c.stats().rto).min(answered + r2);
            assert_eq!(c.poll_timeout(), Some(expected), "armed at {now:?}");
            c.handle_segment(now, &zero);
            answered = now;
        }
        assert_eq!(c.state(), State::Established);
        // Silence for R2 ends it.
        let end = now + Duration::from_secs(101);
        while let Some(at) = c.poll_timeout().filter(|&at| at <= end) {
            now = at;
            c.handle_timeout(now);
            while c.poll_transmit(now).is_some() {}
        }
        assert_eq!(c.state(), State::Closed);
    }
}
