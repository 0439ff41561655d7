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
    pub local: SocketAddr,
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
    /// The MSS we advertise: local MTU − 40 (MUST-67), also our cap on send MSS (MUST-16).
    pub mss: u16,
    pub send_buffer: usize,
    /// The receive buffer a connection starts with.
    pub recv_buffer: usize,
    /// Receive-buffer auto-tuning grows the buffer up to this while the window limits the
    /// sender (not above `recv_buffer`: no auto-tuning). The window scale is chosen for it.
    pub recv_buffer_max: usize,
    /// Disable Nagle (MUST-17).
    pub nodelay: bool,
    /// Off by default (MUST-25).
    pub keepalive: Option<Keepalive>,
    /// Maximum segment lifetime; TIME-WAIT lasts 2×MSL (MUST-13).
    pub msl: Duration,
    pub rto_initial: Duration,
    pub rto_min: Duration,
    pub rto_max: Duration,
    /// Retransmissions after which negative advice goes to IP (RFC 9293 §3.8.3 R1).
    pub r1: u32,
    /// Give up on data after this long without progress (R2, SHLD-11: ≥ 100 s).
    pub r2: Duration,
    /// Give up on a SYN after this long (MUST-23: ≥ 3 minutes).
    pub r2_syn: Duration,
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
    pub congestion: Algorithm,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mss: 1460,
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            recv_buffer_max: 4 * 1024 * 1024,
            nodelay: false,
            keepalive: None,
            msl: Duration::from_secs(30),
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(60),
            r1: 3,
            r2: Duration::from_secs(100),
            r2_syn: Duration::from_secs(180),
            user_timeout: None,
            fin_wait_2_timeout: Duration::from_secs(60),
            challenge_ack_limit: 10,
            delayed_ack: Duration::from_millis(40),
            window_scale: true,
            sack: true,
            timestamps: true,
            congestion: Algorithm::default(),
        }
    }
}

impl Config {
    /// The largest receive buffer auto-tuning may reach.
    pub fn recv_buffer_cap(&self) -> usize {
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
    DestinationUnreachable {
        code: u8,
    },
    TimeExceeded,
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
    Closed(CloseReason),
}

/// Errors from user calls. Converts into `io::Error`.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ConnectionError {
    #[error("operation would block")]
    WouldBlock,
    #[error("connection closing")]
    Closing,
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
    pub segments_in: u64,
    pub segments_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub retransmits: u64,
    pub rtos: u64,
    pub fast_retransmits: u64,
    pub dup_acks: u64,
    pub challenge_acks: u64,
    /// RFC 8985 tail loss probes sent.
    pub loss_probes: u64,
    /// State changes taken (the arcs of RFC 9293 Figure 5).
    pub transitions: u64,
    pub srtt: Option<Duration>,
    pub rttvar: Duration,
    pub rto: Duration,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    pub snd_wnd: u32,
    pub rcv_nxt: SeqNum,
    pub rcv_wnd: u32,
    pub send_queue: usize,
    pub recv_queue: usize,
}

impl Stats {
    /// Adds `other`'s counters (segments, bytes, retransmits, RTOs, ...) to these, for
    /// totals over many connections; the current values (srtt, cwnd, sequence numbers,
    /// windows, queues) are left as they are.
    pub fn accumulate(&mut self, other: &Stats) {
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
    }
}
