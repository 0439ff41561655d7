//! The connection's timers: one optional deadline per [`TimerKind`].
//!
//! A timer that fires is cleared before its handler runs; a handler that finds nothing to do
//! is a no-op, so `handle_timeout` may be called early or twice.

use log::debug;

use super::connection::{CloseReason, Connection, Event};
use super::segment::Segment;
use super::state::State;
use crate::time::Instant;

/// Every timer a connection can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// RFC 6298 retransmission timer (also SYN and FIN retransmission).
    Retransmit,
    /// RFC 9293 §3.8.6.1 zero-window probe, also the SWS override (§3.8.6.2.1).
    Persist,
    /// RFC 9293 §3.8.6.3 delayed ACK.
    DelayedAck,
    /// RFC 9293 §3.8.4 keepalive.
    Keepalive,
    /// RFC 9293 §3.6.1 TIME-WAIT (2×MSL).
    TimeWait,
    /// FIN-WAIT-2 timeout for a connection the user has closed.
    FinWait2,
    /// RFC 8985 §7 tail loss probe: well before the RTO, one segment that makes the peer
    /// reveal a lost tail (or a lost retransmission) with SACK, so fast recovery repairs it
    /// instead of a retransmission timeout.
    LossProbe,
}

impl TimerKind {
    pub const ALL: [TimerKind; 7] = [
        TimerKind::Retransmit,
        TimerKind::Persist,
        TimerKind::DelayedAck,
        TimerKind::Keepalive,
        TimerKind::TimeWait,
        TimerKind::FinWait2,
        TimerKind::LossProbe,
    ];
}

/// A table of deadlines indexed by [`TimerKind`].
#[derive(Clone, Debug, Default)]
pub struct Timers {
    deadlines: [Option<Instant>; 7],
}

impl Timers {
    pub fn set(&mut self, kind: TimerKind, at: Instant) {
        self.deadlines[kind as usize] = Some(at);
    }

    /// Set unless already running.
    pub fn set_if_idle(&mut self, kind: TimerKind, at: Instant) {
        if self.deadlines[kind as usize].is_none() {
            self.set(kind, at);
        }
    }

    pub fn stop(&mut self, kind: TimerKind) {
        self.deadlines[kind as usize] = None;
    }

    pub fn get(&self, kind: TimerKind) -> Option<Instant> {
        self.deadlines[kind as usize]
    }

    pub fn is_running(&self, kind: TimerKind) -> bool {
        self.get(kind).is_some()
    }

    pub fn stop_all(&mut self) {
        self.deadlines = Default::default();
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Clear and return the first timer due at `now`, in `TimerKind::ALL` order.
    pub fn take_expired(&mut self, now: Instant) -> Option<TimerKind> {
        let kind = TimerKind::ALL
            .into_iter()
            .find(|k| self.deadlines[*k as usize].is_some_and(|at| at <= now))?;
        self.deadlines[kind as usize] = None;
        Some(kind)
    }
}

impl Connection {
    /// Timer expiries; see `timers.rs`. Each handler re-checks its condition, so an early
    /// or repeated call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(kind) = self.timers.take_expired(now) {
            match kind {
                TimerKind::Retransmit => self.on_retransmit_timeout(now),
                TimerKind::LossProbe => self.on_loss_probe_timeout(now),
                TimerKind::Persist => self.on_persist_timeout(now),
                TimerKind::DelayedAck => {
                    if self.unacked_bytes > 0 {
                        self.ack_pending = true;
                    }
                }
                TimerKind::Keepalive => self.on_keepalive_timeout(now),
                TimerKind::TimeWait => {
                    if self.state == State::TimeWait {
                        self.enter_closed(CloseReason::Normal);
                    }
                }
                TimerKind::FinWait2 => {
                    // Armed only once the user released the connection: nobody reads any
                    // more, so silence from the peer for the whole timeout ends it.
                    if self.state == State::FinWait2 {
                        self.enter_closed(CloseReason::FinWait2Timeout);
                    }
                }
            }
        }
    }

    /// RFC 6298 §5 (5.4)-(5.6) and RFC 9293 §3.8.3 (R1/R2).
    fn on_retransmit_timeout(&mut self, now: Instant) {
        let syn_out = matches!(self.state, State::SynSent | State::SynReceived);
        if self.state == State::Closed || (self.snd.outstanding() == 0 && !syn_out) {
            return;
        }
        let mut start = *self.retx_start.get_or_insert(now);
        if self.snd.snd_wnd == 0 && self.state.is_synchronized() {
            // MUST-37: a zero window answered by the peer is not a dead peer.
            start = start.max(self.last_recv_at);
        }
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
        self.retx_count += 1;
        debug!(
            "{} RTO fired ({:?}, retransmission {})",
            self.tuple,
            self.rtt.rto(),
            self.retx_count
        );
        if self.retx_count == self.config.r1 {
            debug!("{} R1 reached: negative advice to IP", self.tuple);
            self.events.push_back(Event::RetransmitThreshold);
        }
        self.cc.on_timeout(self.snd.outstanding());
        self.snd.clear_sack(); // RFC 2018 §8: the receiver may have reneged
        self.rtt.back_off();
        self.rtt.on_retransmit();
        self.fast_retransmit = false;
        // Go back to SND.UNA and send again from there (SYN and FIN included).
        self.snd.snd_nxt = self.snd.snd_una;
        if self.snd.snd_wnd == 0 && self.state.is_synchronized() {
            // The window shrank to zero under data in flight (MUST-34): probe it.
            self.control.push_back(Segment {
                seq: self.snd.snd_una - 1,
                ..Segment::default()
            });
        }
        if syn_out {
            self.syn_pending = true;
        }
        self.arm_retransmit(now);
    }

    /// RFC 8985 §7.3: the probe timeout fired with data outstanding and no ACK progress
    /// since: send one probe segment (see `output.rs`), at most one per tail, and let the
    /// RTO run on. In fast recovery the probe resends the hole at SND.UNA instead: its
    /// retransmission was lost, which RACK (RFC 8985 §6) would detect after about the
    /// same time.
    fn on_loss_probe_timeout(&mut self, _now: Instant) {
        if !self.state.is_synchronized() || self.snd.outstanding() == 0 || self.tlp_out {
            return;
        }
        self.tlp_out = true;
        self.stats.loss_probes += 1;
        if self.cc.in_recovery() {
            debug!(
                "{} loss probe: retransmission at {} presumed lost",
                self.tuple, self.snd.snd_una
            );
            self.fast_retransmit = true;
        } else {
            debug!("{} tail loss probe", self.tuple);
            self.loss_probe = true;
        }
    }

    /// RFC 9293 §3.8.6.1: zero-window probe (MUST-35, MUST-36), or the SWS override
    /// timeout of §3.8.6.2.1 when the window is open but too small to use.
    fn on_persist_timeout(&mut self, now: Instant) {
        if !self.state.is_synchronized() || !self.snd.has_unsent() || self.snd.outstanding() > 0 {
            return;
        }
        // MUST-37: keep probing while the peer answers; give up only on R2 of silence.
        if now - self.last_recv_at >= self.r2() {
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
            self.persist_backoff = (self.persist_backoff + 1).min(16);
        } else {
            self.force_send = true;
        }
    }

    /// RFC 9293 §3.8.4: keepalive (MUST-26, MUST-29).
    fn on_keepalive_timeout(&mut self, now: Instant) {
        let Some(k) = self.config.keepalive else {
            return;
        };
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            return;
        }
        if self.snd.outstanding() > 0 || self.snd.has_unsent() {
            self.timers.set(TimerKind::Keepalive, now + k.idle);
            return;
        }
        if self.keepalive_probes >= k.count {
            debug!("{} {} keepalive probes unanswered", self.tuple, k.count);
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        self.keepalive_probes += 1;
        debug!("{} keepalive probe {}", self.tuple, self.keepalive_probes);
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
    use super::*;

    #[test]
    fn earliest_and_expiry() {
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(TimerKind::Keepalive, Instant::from_secs(5));
        t.set(TimerKind::DelayedAck, Instant::from_secs(2));
        assert_eq!(t.next(), Some(Instant::from_secs(2)));
        assert_eq!(t.take_expired(Instant::from_secs(1)), None);
        assert_eq!(
            t.take_expired(Instant::from_secs(9)),
            Some(TimerKind::DelayedAck)
        );
        assert_eq!(
            t.take_expired(Instant::from_secs(9)),
            Some(TimerKind::Keepalive)
        );
        assert_eq!(t.take_expired(Instant::from_secs(9)), None);
    }
}
