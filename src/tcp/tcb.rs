//! The parts of the TCB (RFC 9293 §3.3.1) beside the send and receive sequence spaces: what
//! the handshake negotiated, the ACK we owe, loss recovery, the retransmission clock,
//! probes, challenge ACKs and what the user is told. [`Connection`](super::Connection)
//! holds one of each.

use std::collections::VecDeque;

use super::config::{Event, IcmpError};
use super::prr::Prr;
use super::rack::Rack;
use super::seq::SeqNum;
use crate::time::Instant;

/// Options both sides offered in the handshake (RFC 7323, RFC 2018): each is on only when
/// the peer's SYN carried it and our configuration allows it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Negotiated {
    /// RFC 7323 §2 window scaling (the shifts live in `snd` and `rcv`).
    pub(super) window_scale: bool,
    /// RFC 2018 SACK.
    pub(super) sack: bool,
    /// RFC 7323 §3 timestamps, on every segment.
    pub(super) timestamps: bool,
    /// RFC 7323 §4.3 TS.Recent: the TSval to echo, and PAWS's reference.
    pub(super) ts_recent: u32,
}

/// The ACK we owe (RFC 9293 §3.8.6.3): owed now, or delayed while in-order data trickles in.
#[derive(Clone, Copy, Debug)]
pub(super) struct AckDebt {
    /// An ACK is owed now (the next segment out pays it).
    pub(super) pending: bool,
    /// Octets received in order since we last sent an ACK.
    pub(super) unacked_bytes: u32,
    /// Largest payload seen from the peer (for "every second full-sized segment").
    pub(super) rcv_mss: u32,
    /// RFC 2883 §4: a duplicate range received, reported once as the first SACK block.
    pub(super) dsack: Option<(SeqNum, SeqNum)>,
}

/// Repairing loss before the RTO does: fast retransmit (RFC 5681, RFC 6582), RACK-TLP
/// (RFC 8985) with PRR (RFC 6937) when the peer SACKs, and undoing reductions that DSACK
/// (RFC 2883, RFC 3708), timestamps (RFC 3522 Eifel) or F-RTO (RFC 5682) show spurious.
#[derive(Clone, Debug)]
pub(super) struct LossRecovery {
    /// Resend at SND.UNA next, whatever the windows (fast retransmit, partial ACK, a lost
    /// retransmission, a timeout under a zero window).
    pub(super) resend_una: bool,
    /// RFC 6675 HighRxt: one past the highest octet retransmitted in this recovery.
    pub(super) high_rxt: SeqNum,
    /// RFC 8985 TLPRxtOut: a loss probe is out for the current tail.
    pub(super) tlp_out: bool,
    /// The next segment is a loss probe.
    pub(super) loss_probe: bool,
    /// RFC 8985 loss detection and the per-segment scoreboard.
    pub(super) rack: Rack,
    /// RFC 6937 state of the current recovery.
    pub(super) prr: Prr,
    /// Retransmissions of the current reduction not yet shown spurious by a DSACK
    /// (Linux's undo_retrans); the reduction is undone when it reaches zero.
    pub(super) undo_retrans: u32,
    /// RFC 3522: TSval of the first retransmission since the last reduction.
    pub(super) undo_tsval: Option<u32>,
    /// RFC 5682 F-RTO after a timeout: the step reached, with SND.MAX at the timeout.
    pub(super) frto: Option<(Frto, SeqNum)>,
    /// TSval of the latest retransmission: a TSecr older than it echoes an earlier copy.
    pub(super) rexmit_tsval: Option<u32>,
}

/// RFC 5682 §2 F-RTO steps after the retransmission timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Frto {
    /// Step 2: waiting for the first ACK after the timeout's retransmission.
    FirstAck,
    /// Step 3: two new segments were sent; waiting for the ACK that tells.
    SecondAck,
}

impl LossRecovery {
    pub(super) fn new(iss: SeqNum) -> LossRecovery {
        LossRecovery {
            resend_una: false,
            high_rxt: iss,
            tlp_out: false,
            loss_probe: false,
            rack: Rack::default(),
            prr: Prr::default(),
            undo_retrans: 0,
            undo_tsval: None,
            frto: None,
            rexmit_tsval: None,
        }
    }
}

/// RFC 9293 §3.8.3: the clock R1 and R2 run on for what is outstanding.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RetransmitClock {
    /// When the oldest outstanding sequence space was first sent (R2 clock).
    pub(super) start: Option<Instant>,
    /// Retransmission timeouts since the last new ACK (R1).
    pub(super) count: u32,
}

/// Probing a closed window (RFC 9293 §3.8.6.1) and an idle peer (§3.8.4).
#[derive(Clone, Copy, Debug)]
pub(super) struct Probes {
    /// When the last acceptable segment arrived (MUST-37: a peer that answers probes is
    /// alive).
    pub(super) last_recv_at: Instant,
    /// Zero-window probes sent without the window opening: the persist backoff exponent.
    pub(super) persist_backoff: u32,
    /// The persist timer fired with an open window: send one segment ignoring Nagle/SWS.
    pub(super) force_send: bool,
    /// Keepalive probes sent without an answer.
    pub(super) keepalives: u32,
}

/// RFC 5961 §7: challenge ACKs sent in the current one-second window.
#[derive(Clone, Copy, Debug)]
pub(super) struct ChallengeAcks {
    pub(super) window_start: Instant,
    pub(super) count: u32,
}

/// What the user learns besides data.
#[derive(Debug, Default)]
pub(super) struct UserSide {
    /// Drained by `poll_event`.
    pub(super) events: VecDeque<Event>,
    /// `send` took less than it was given: an `Event::Writable` is owed once space frees.
    pub(super) want_writable: bool,
    /// MUST-47: the last soft error reported by IP.
    pub(super) soft_error: Option<IcmpError>,
}
