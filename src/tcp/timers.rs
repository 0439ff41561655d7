//! The connection's timers: one optional deadline per [`TimerKind`], nothing more. What
//! each timer does when it fires is in `timeouts.rs`.
//!
//! A timer that fires is cleared before its handler runs ([`Timers::take_expired`]).

use crate::time::Instant;

/// Every timer a connection can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TimerKind {
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
    /// RFC 8985 §6.2 step 5 reordering timer: when an outstanding segment's reordering
    /// window ends, RACK marks it lost unless it was delivered meanwhile.
    Reorder,
}

impl TimerKind {
    /// Every timer, in the order `Timers::take_expired` serves timers due together.
    pub(crate) const ALL: [TimerKind; 8] = [
        TimerKind::Retransmit,
        TimerKind::Persist,
        TimerKind::DelayedAck,
        TimerKind::Keepalive,
        TimerKind::TimeWait,
        TimerKind::FinWait2,
        TimerKind::LossProbe,
        TimerKind::Reorder,
    ];
}

/// A table of deadlines indexed by [`TimerKind`].
#[derive(Clone, Debug, Default)]
pub(super) struct Timers {
    deadlines: [Option<Instant>; 8],
}

impl Timers {
    pub(super) fn set(&mut self, kind: TimerKind, at: Instant) {
        self.deadlines[kind as usize] = Some(at);
    }

    /// Set unless already running.
    pub(super) fn set_if_idle(&mut self, kind: TimerKind, at: Instant) {
        if self.deadlines[kind as usize].is_none() {
            self.set(kind, at);
        }
    }

    pub(super) fn stop(&mut self, kind: TimerKind) {
        self.deadlines[kind as usize] = None;
    }

    pub(super) fn get(&self, kind: TimerKind) -> Option<Instant> {
        self.deadlines[kind as usize]
    }

    pub(super) fn is_running(&self, kind: TimerKind) -> bool {
        self.get(kind).is_some()
    }

    pub(super) fn stop_all(&mut self) {
        self.deadlines = Default::default();
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Clear and return the first timer due at `now`, in `TimerKind::ALL` order.
    pub(super) fn take_expired(&mut self, now: Instant) -> Option<TimerKind> {
        let kind = TimerKind::ALL
            .into_iter()
            .find(|k| self.deadlines[*k as usize].is_some_and(|at| at <= now))?;
        self.deadlines[kind as usize] = None;
        Some(kind)
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
