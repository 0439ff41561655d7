//! The types around a [`Connection`](super::Connection): its 4-tuple, configuration,
//! events, close reasons, errors and statistics.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use thiserror::Error;

use super::congestion::Algorithm;
use super::seq::SeqNum;
use crate::time::Duration;

/// The connection's addresses, from our side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple {
    /// Our address and port (the source of what we send).
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

impl fmt::Display for FourTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.local, self.remote)
    }
}

/// Keepalive parameters (RFC 9293 §3.8.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (MUST-28: default ≥ 2 hours).
    pub idle: Duration,
    /// Time between unanswered probes (MUST-27).
    pub interval: Duration,
    /// Unanswered probes before the connection is declared dead (MUST-29: more than one).
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Keepalive {
        Keepalive {
            idle: Duration::from_secs(2 * 3600),
            interval: Duration::from_secs(75),
            count: 9,
        }
    }
}

/// Per-connection configuration. `Config::default()` is what the daemon uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The MSS we advertise, in octets: the local MTU minus the IP and TCP headers (MUST-67);
    /// also our cap on the send MSS (MUST-16).
    pub mss: u16,
    /// Send buffer in octets: queued plus unacknowledged data (RFC 9293 §3.8.6.2.1).
    pub send_buffer: usize,
    /// The receive buffer a connection starts with, in octets (bounds RCV.WND).
    pub recv_buffer: usize,
    /// Receive-buffer auto-tuning grows the buffer up to this while the window limits the
    /// sender (not above `recv_buffer`: no auto-tuning). The window scale is chosen for it.
    pub recv_buffer_max: usize,
    /// Disable Nagle (MUST-17).
    pub nodelay: bool,
    /// The longest payload one outgoing segment may carry when the link splits segments
    /// itself (TCP segmentation offload): new data then leaves as super-segments of whole
    /// send-MSS pieces up to this many octets, which the device cuts at the MSS. At most the
    /// MSS (0, the default): every segment is one MSS, as on any plain link. The stack sets it
    /// from `StackConfig::tso` (65535 less the largest IP and TCP headers).
    pub max_burst: u32,
    /// Off by default (MUST-25).
    pub keepalive: Option<Keepalive>,
    /// Maximum segment lifetime; TIME-WAIT lasts 2×MSL (MUST-13).
    pub msl: Duration,
    /// RTO before the first RTT sample (RFC 6298 (2.1): 1 s).
    pub rto_initial: Duration,
    /// Lower bound of the RTO (RFC 6298 (2.4); the default, 200 ms, is Linux's).
    pub rto_min: Duration,
    /// Upper bound of the RTO, also of its backoff (RFC 6298 (2.5): at least 60 s).
    pub rto_max: Duration,
    /// Retransmissions after which negative advice goes to IP (RFC 9293 §3.8.3 R1).
    pub r1: u32,
    /// Give up on data after this long without progress (R2, SHLD-11: ≥ 100 s).
    pub r2: Duration,
    /// Give up on a SYN after this long (MUST-23: ≥ 3 minutes).
    pub r2_syn: Duration,
    /// A passive SYN-RECEIVED gives up after this many SYN-ACK retransmissions (Linux's
    /// `tcp_synack_retries`, 5: about 63 s with a 1 s initial RTO), so that half-open
    /// connections from spoofed SYNs leave the SYN queue (RFC 4987 §3.4). MUST-23's 3
    /// minutes bind an active SYN.
    pub synack_retries: u32,
    /// RFC 9293 §3.9.1 user timeout; replaces R2 for data when set (MUST-21).
    pub user_timeout: Option<Duration>,
    /// Idle time after which a FIN-WAIT-2 connection is closed.
    pub fin_wait_2_timeout: Duration,
    /// RFC 5961 §7: challenge ACKs per second per connection.
    pub challenge_ack_limit: u32,
    /// Delayed ACK (MUST-40: < 0.5 s; we use 40 ms).
    pub delayed_ack: Duration,
    /// Offer/accept RFC 7323 window scaling.
    pub window_scale: bool,
    /// Offer/accept RFC 2018 SACK.
    pub sack: bool,
    /// Offer/accept RFC 7323 timestamps.
    pub timestamps: bool,
    /// Congestion window growth (RFC 5681 with CUBIC or NewReno).
    pub congestion: Algorithm,
    /// RFC 5682 F-RTO: after a retransmission timeout, send new data before going back N,
    /// and undo the reduction if the timeout proves spurious.
    pub frto: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mss: 1460,
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            recv_buffer_max: 4 * 1024 * 1024,
            nodelay: false,
            max_burst: 0,
            keepalive: None,
            msl: Duration::from_secs(30),
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(60),
            r1: 3,
            r2: Duration::from_secs(100),
            r2_syn: Duration::from_secs(180),
            synack_retries: 5,
            user_timeout: None,
            fin_wait_2_timeout: Duration::from_secs(60),
            challenge_ack_limit: 10,
            delayed_ack: Duration::from_millis(40),
            window_scale: true,
            sack: true,
            timestamps: true,
            congestion: Algorithm::default(),
            frto: true,
        }
    }
}

impl Config {
    /// The largest receive buffer auto-tuning may reach.
    pub(crate) fn recv_buffer_cap(&self) -> usize {
        self.recv_buffer_max.max(self.recv_buffer)
    }
}

/// Why a connection reached CLOSED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Both FINs exchanged and acknowledged (or the user closed before anything was sent).
    Normal,
    /// The peer sent an acceptable RST (MUST-12: told apart from a FIN).
    Reset,
    /// The peer answered our SYN with RST.
    Refused,
    /// R2, user timeout, keepalive or unanswered zero-window probes.
    TimedOut,
    /// The user called `abort`.
    Aborted,
    /// A passive SYN-RECEIVED was reset or re-SYNed: the stack drops it silently (MUST-11).
    ResetInListen,
    /// FIN-WAIT-2 lasted longer than `Config::fin_wait_2_timeout` without input.
    FinWait2Timeout,
    /// A hard ICMP error arrived while opening (destination unreachable codes 2-4).
    Unreachable,
}

/// ICMP errors the stack passes up for this connection (RFC 9293 §3.9.2.2, MUST-54).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpError {
    /// Silently discarded (MUST-55).
    SourceQuench,
    /// Destination unreachable (RFC 792 type 3, RFC 4443 type 1): soft, except protocol and
    /// port unreachable while opening (SHLD-26).
    DestinationUnreachable {
        /// The code, in the connection's family. ICMP (RFC 792): 0 net, 1 host, 2 protocol,
        /// 3 port unreachable, 4 fragmentation needed, ... ICMPv6 (RFC 4443 §3.1): 0 no
        /// route, 1 administratively prohibited, 2 beyond scope of source, 3 address
        /// unreachable, 4 port unreachable, 5 source address failed policy, 6 reject route.
        code: u8,
    },
    /// Time exceeded (RFC 792 type 11): soft (MUST-56).
    TimeExceeded,
    /// Parameter problem (RFC 792 type 12): soft (MUST-56).
    ParameterProblem,
}

/// What happened, for the application (drained with `poll_event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// The handshake completed (ESTABLISHED).
    Connected,
    /// New data can be read.
    Readable,
    /// Send buffer space freed after `send` accepted less than it was given.
    Writable,
    /// The peer's FIN arrived: `recv` returns 0 once the buffer is drained (MUST-12).
    PeerClosed,
    /// The urgent pointer advanced (MUST-32); see `urgent_remaining`.
    Urgent,
    /// A soft error was recorded (MUST-47); see `soft_error`.
    SoftError(IcmpError),
    /// R1 retransmissions reached: the stack may give negative advice to IP (MUST-20).
    RetransmitThreshold,
    /// The connection reached CLOSED, for this reason; the last event it reports.
    Closed(CloseReason),
}

/// Errors from user calls. Converts into `io::Error`.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ConnectionError {
    /// Nothing to read yet (`recv`); `io::ErrorKind::WouldBlock`.
    #[error("operation would block")]
    WouldBlock,
    /// `send` after `close`: our FIN is queued (RFC 9293 §3.9.1.2 "connection closing").
    #[error("connection closing")]
    Closing,
    /// The connection is CLOSED, for this reason.
    #[error("connection closed: {0:?}")]
    Closed(CloseReason),
}

impl From<ConnectionError> for io::Error {
    fn from(e: ConnectionError) -> io::Error {
        let kind = match e {
            ConnectionError::WouldBlock => io::ErrorKind::WouldBlock,
            ConnectionError::Closing => io::ErrorKind::BrokenPipe,
            ConnectionError::Closed(CloseReason::Reset) => io::ErrorKind::ConnectionReset,
            ConnectionError::Closed(CloseReason::Refused) => io::ErrorKind::ConnectionRefused,
            ConnectionError::Closed(CloseReason::TimedOut) => io::ErrorKind::TimedOut,
            ConnectionError::Closed(CloseReason::Aborted) => io::ErrorKind::ConnectionAborted,
            ConnectionError::Closed(_) => io::ErrorKind::NotConnected,
        };
        io::Error::new(kind, e)
    }
}

/// Counters and the current values of the main variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Segments received for this connection, acceptable or not.
    pub segments_in: u64,
    /// Segments sent, retransmissions included; a super-segment (`Config::max_burst`)
    /// counts as the wire segments the device cuts it into.
    pub segments_out: u64,
    /// Payload octets received (SEG.LEN without SYN and FIN), duplicates included.
    pub bytes_in: u64,
    /// Payload octets sent, retransmissions included.
    pub bytes_out: u64,
    /// Segments that resent sequence space already sent (SYN, data or FIN): after an RTO,
    /// by fast retransmit or SACK recovery, or as a loss probe.
    pub retransmits: u64,
    /// Retransmission timeouts fired (RFC 6298 (5.4)-(5.6)).
    pub rtos: u64,
    /// Fast retransmits after duplicate ACKs (RFC 5681 §3.2, RFC 6675 §5).
    pub fast_retransmits: u64,
    /// Duplicate ACKs received (RFC 5681 §2 definition).
    pub dup_acks: u64,
    /// Challenge ACKs sent for a suspicious RST, SYN or ACK (RFC 5961).
    pub challenge_acks: u64,
    /// RFC 8985 tail loss probes sent.
    pub loss_probes: u64,
    /// Segments marked lost (RFC 8985 RACK, or all outstanding at a timeout).
    pub lost: u64,
    /// Reductions undone as spurious (RFC 2883 DSACK, RFC 3522 timestamps, RFC 5682 F-RTO).
    pub undos: u64,
    /// ACKs received whose first SACK block was a DSACK (RFC 2883 §4).
    pub dsacks_received: u64,
    /// DSACK blocks we sent for duplicate data (RFC 2883 §4).
    pub dsacks_sent: u64,
    /// RACK.reo_wnd as last computed (RFC 8985 §6.2 step 4).
    pub reo_wnd: Duration,
    /// In loss recovery: RFC 6937 (prr_delivered, prr_out) in octets.
    pub prr: Option<(u32, u32)>,
    /// State changes taken (the arcs of RFC 9293 Figure 5).
    pub transitions: u64,
    /// SRTT, the smoothed round-trip time; `None` before the first sample (RFC 6298 §2).
    pub srtt: Option<Duration>,
    /// RTTVAR, the round-trip time variation (RFC 6298 §2).
    pub rttvar: Duration,
    /// The current retransmission timeout, backoff included (RFC 6298 §2, (5.5)).
    pub rto: Duration,
    /// Congestion window in octets (RFC 5681 §3.1).
    pub cwnd: u32,
    /// Slow start threshold in octets (RFC 5681 §3.1).
    pub ssthresh: u32,
    /// SND.UNA: oldest unacknowledged sequence number (RFC 9293 §3.3.1).
    pub snd_una: SeqNum,
    /// SND.NXT: next sequence number to send (RFC 9293 §3.3.1).
    pub snd_nxt: SeqNum,
    /// SND.WND: the peer's window in octets, scaled (RFC 9293 §3.3.1, RFC 7323 §2.3).
    pub snd_wnd: u32,
    /// RCV.NXT: next sequence number expected (RFC 9293 §3.3.1).
    pub rcv_nxt: SeqNum,
    /// RCV.WND in octets: from RCV.NXT to the right edge we last advertised (RFC 9293
    /// §3.3.1).
    pub rcv_wnd: u32,
    /// Octets in the send buffer: unsent plus unacknowledged.
    pub send_queue: usize,
    /// Octets received in order and not yet read by the user.
    pub recv_queue: usize,
}

impl Stats {
    /// Adds `other`'s counters (segments, bytes, retransmits, RTOs, ...) to these, for
    /// totals over many connections; the current values (srtt, cwnd, sequence numbers,
    /// windows, queues) are left as they are.
    pub(crate) fn accumulate(&mut self, other: &Stats) {
        self.segments_in += other.segments_in;
        self.segments_out += other.segments_out;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.retransmits += other.retransmits;
        self.rtos += other.rtos;
        self.fast_retransmits += other.fast_retransmits;
        self.dup_acks += other.dup_acks;
        self.challenge_acks += other.challenge_acks;
        self.loss_probes += other.loss_probes;
        self.lost += other.lost;
        self.undos += other.undos;
        self.dsacks_received += other.dsacks_received;
        self.dsacks_sent += other.dsacks_sent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_tuple_displays_local_then_remote() {
        let t = FourTuple {
            local: "198.18.0.2:80".parse().unwrap(),
            remote: "[2001:2::1]:40000".parse().unwrap(),
        };
        assert_eq!(t.to_string(), "198.18.0.2:80-[2001:2::1]:40000");
    }

    #[test]
    fn totals_add_every_counter_and_keep_current_values() {
        let counters = |k: u64| Stats {
            segments_in: k,
            segments_out: 2 * k,
            bytes_in: 3 * k,
            bytes_out: 4 * k,
            retransmits: 5 * k,
            rtos: 6 * k,
            fast_retransmits: 7 * k,
            dup_acks: 8 * k,
            challenge_acks: 9 * k,
            loss_probes: 10 * k,
            lost: 11 * k,
            undos: 12 * k,
            dsacks_received: 13 * k,
            dsacks_sent: 14 * k,
            cwnd: k as u32,
            ..Stats::default()
        };
        let mut total = counters(3);
        total.accumulate(&counters(5));
        let want = Stats {
            cwnd: 3, // a current value, not a counter: left as it was
            ..counters(8)
        };
        assert_eq!(total, want);
    }
}
