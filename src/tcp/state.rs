//! The eleven connection states of RFC 9293 §3.3.2: [`State`], their public names, and
//! [`Phase`], the state a [`Connection`](super::Connection) is in together with the data
//! that only that state needs.

use std::fmt;

use super::config::CloseReason;

/// A connection state (RFC 9293 §3.3.2, Figure 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection; a fresh `Connection` never starts here, it ends here.
    Closed,
    /// Waiting for a SYN. Listeners live in the stack; a `Connection` reports
    /// `CloseReason::ResetInListen` instead of returning here.
    Listen,
    /// Our SYN is sent, waiting for the peer's SYN (and its ACK of ours).
    SynSent,
    /// Both SYNs seen, waiting for the ACK of ours.
    SynReceived,
    /// The handshake completed; data flows both ways.
    Established,
    /// We closed; our FIN is queued or sent and not yet acknowledged.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer's FIN arrived; waiting for the user to close.
    CloseWait,
    /// Both closed at once: our FIN crossed the peer's and is not yet acknowledged.
    Closing,
    /// The peer closed first, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs exchanged and ours acknowledged; waiting 2×MSL so that our last ACK can be
    /// repeated and old duplicates die out (MUST-13).
    TimeWait,
}

impl State {
    /// All states, in the order of RFC 9293 §3.3.2.
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
    ];

    /// The states after the handshake completed (RFC 9293 §3.10.7.4 "synchronized").
    pub(crate) fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// States in which received data is delivered (RFC 9293 §3.10.7.4, seventh).
    pub(crate) fn can_receive_data(self) -> bool {
        matches!(self, State::Established | State::FinWait1 | State::FinWait2)
    }

    /// States in which the user may still queue data (RFC 9293 §3.9.1.2).
    pub(crate) fn can_send_data(self) -> bool {
        matches!(
            self,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        )
    }
}

/// A connection's state (RFC 9293 §3.3.2) with the data only that state needs; its
/// [`State`] is the name. A `Connection` never listens (listeners live in the stack), so
/// there is no LISTEN here. Only `Connection::transition` replaces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Active OPEN: our SYN is out (RFC 9293 §3.10.1).
    SynSent {
        /// (Re)send our SYN.
        syn_pending: bool,
    },
    /// The peer's SYN arrived; our SYN-ACK is out.
    SynReceived {
        /// MUST-11: reached from a passive OPEN (a listener): a RST or a new SYN means
        /// "return to LISTEN". False after a simultaneous open (MUST-10).
        passive: bool,
        /// (Re)send our SYN-ACK.
        syn_pending: bool,
        /// The user closed before ESTABLISHED: the FIN is queued once there (RFC 9293
        /// §3.10.4: "queue for processing after entering ESTABLISHED state").
        deferred_close: Option<UserClose>,
    },
    Established,
    /// Our FIN is queued or out, not yet acknowledged.
    FinWait1 {
        /// The user let go (`release`): FIN-WAIT-2 will be bounded.
        released: bool,
    },
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2 {
        /// The user let go (`release`): nobody will read any more, so silence for
        /// `Config::fin_wait_2_timeout` ends the connection (as Linux does for orphans).
        released: bool,
    },
    CloseWait,
    Closing,
    LastAck,
    /// 2×MSL after both FINs (MUST-13); the deadline is the `TimerKind::TimeWait` timer.
    TimeWait,
    /// The end, and why.
    Closed {
        reason: CloseReason,
    },
}

/// How the user closed a connection before it was ESTABLISHED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum UserClose {
    /// `close`: a half-close; the user may go on reading.
    Close,
    /// `release`: the user let go of the connection altogether.
    Release,
}

impl Phase {
    /// The state's name.
    pub(super) fn state(self) -> State {
        match self {
            Phase::SynSent { .. } => State::SynSent,
            Phase::SynReceived { .. } => State::SynReceived,
            Phase::Established => State::Established,
            Phase::FinWait1 { .. } => State::FinWait1,
            Phase::FinWait2 { .. } => State::FinWait2,
            Phase::CloseWait => State::CloseWait,
            Phase::Closing => State::Closing,
            Phase::LastAck => State::LastAck,
            Phase::TimeWait => State::TimeWait,
            Phase::Closed { .. } => State::Closed,
        }
    }

    /// Owe (or stop owing) our SYN or SYN-ACK; nothing outside SYN-SENT and SYN-RECEIVED.
    pub(super) fn set_syn_pending(&mut self, pending: bool) {
        if let Phase::SynSent { syn_pending } | Phase::SynReceived { syn_pending, .. } = self {
            *syn_pending = pending;
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_the_rfc() {
        let names: Vec<String> = State::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names.join(" "),
            "CLOSED LISTEN SYN-SENT SYN-RECEIVED ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 CLOSE-WAIT \
             CLOSING LAST-ACK TIME-WAIT"
        );
    }
}
