//! What the stack's TCP layer tells its users: [`TcpEvent`]s routed to their owner as
//! [`StackEvent`]s, [`TcpError`]s of the socket calls, and the [`TcpCounters`] totals.

use super::sockets::{Owner, SocketHandle};
use crate::tcp::{CloseReason, ConnectionError, Event, Stats};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};

/// Something an application should act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpEvent {
    /// A connection finished its handshake on the listener at `port`: call `accept`.
    Incoming {
        /// The listening port.
        port: u16,
    },
    /// An event of an accepted or actively opened connection.
    Connection {
        /// The connection.
        handle: SocketHandle,
        /// What happened to it.
        event: Event,
    },
    /// An event of a UDP socket (the enum carries UDP too: one event stream per owner).
    Udp {
        /// The socket.
        handle: super::udp::UdpHandle,
        /// What happened to it.
        event: super::udp::UdpEvent,
    },
}

/// A [`TcpEvent`] with the owner it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackEvent {
    /// The application the connection or listener belongs to.
    pub owner: Owner,
    /// What happened.
    pub event: TcpEvent,
}

/// Errors of the socket calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TcpError {
    /// `listen` on a port that has a listener (`io::ErrorKind::AddrInUse`).
    #[error("port {0} already has a listener")]
    PortInUse(u16),
    /// `connect`: every ephemeral port (RFC 6335 dynamic range) is taken towards this remote
    /// socket (`io::ErrorKind::AddrNotAvailable`).
    #[error("no ephemeral port free for {0}")]
    NoEphemeralPorts(SocketAddr),
    /// MUST-46: an OPEN to a broadcast or multicast address is refused (and one to an
    /// address family we have no address in).
    #[error("{0} is not a unicast address we can reach")]
    InvalidRemote(IpAddr),
    /// `connect` while TCP's memory is at the hard mark: no new connection is admitted,
    /// active or passive (`io::ErrorKind::OutOfMemory`).
    #[error("TCP memory at the hard mark: no new connection")]
    NoMemory,
    /// The handle names no connection: it closed and was removed (`io::ErrorKind::NotConnected`).
    #[error("no such connection (closed)")]
    NotConnected,
    /// The connection refused the call.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

impl From<TcpError> for io::Error {
    fn from(e: TcpError) -> io::Error {
        match e {
            TcpError::Connection(c) => c.into(),
            TcpError::PortInUse(_) => io::Error::new(io::ErrorKind::AddrInUse, e),
            TcpError::NoEphemeralPorts(_) => io::Error::new(io::ErrorKind::AddrNotAvailable, e),
            TcpError::InvalidRemote(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
            TcpError::NoMemory => io::Error::new(io::ErrorKind::OutOfMemory, e),
            TcpError::NotConnected => io::Error::new(io::ErrorKind::NotConnected, e),
        }
    }
}

/// What the TCP layer has done over the stack's life.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Active OPENs: `connect` calls that created a connection (RFC 9293 §3.10.1).
    pub active_opens: u64,
    /// Passive OPENs: SYNs a listener admitted (RFC 9293 §3.10.7.2).
    pub passive_opens: u64,
    /// SYNs and cookie ACKs dropped because a listener's accept queue was full.
    pub syn_backlog_drops: u64,
    /// SYNs that found their listener's SYN queue full (RFC 4987 §3).
    pub syn_queue_overflows: u64,
    /// Half-open connections evicted, oldest first, for a new SYN (after one SYN-ACK
    /// retransmission).
    pub half_open_evicted: u64,
    /// SYN-ACKs sent with a SYN cookie (RFC 4987 §3.6).
    pub syn_cookies_sent: u64,
    /// ACKs that carried a valid cookie and made a connection.
    pub syn_cookies_validated: u64,
    /// ACKs to a listener sending cookies that carried none (answered with a RST).
    pub syn_cookies_failed: u64,
    /// New connections refused at the memory budget's hard mark.
    pub mem_refused: u64,
    /// Connections reset to bring TCP memory back under its budget.
    pub mem_resets: u64,
    /// Octets of out-of-order queues pruned under memory pressure.
    pub ooo_pruned_bytes: u64,
    /// New connections refused by `max_conns`.
    pub conn_limit_drops: u64,
    /// New connections refused by `max_conns_per_peer`.
    pub peer_limit_drops: u64,
    /// RSTs sent for segments that matched no connection (RFC 9293 §3.10.7.1).
    pub resets_sent_for_strays: u64,
    /// TIME-WAIT connections ended early because `max_time_wait` were waiting.
    pub time_wait_recycled: u64,
    /// Connections removed, by how they closed.
    pub closed: HashMap<&'static str, u64>,
    /// The counters of closed connections' statistics, summed when each is removed (the
    /// current-value fields, SRTT to the queues, stay at zero).
    pub totals: Stats,
}

impl std::fmt::Display for TcpCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut closed: Vec<_> = self
            .closed
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        closed.sort();
        let t = &self.totals;
        writeln!(
            f,
            "tcp: active opens {}, passive opens {}, SYN backlog drops {}, RSTs for strays {}, \
             TIME-WAITs ended early {}",
            self.active_opens,
            self.passive_opens,
            self.syn_backlog_drops,
            self.resets_sent_for_strays,
            self.time_wait_recycled
        )?;
        writeln!(
            f,
            "tcp: SYN queue overflows {}, half-open evicted {}, cookies sent {}, validated {}, \
             failed {}",
            self.syn_queue_overflows,
            self.half_open_evicted,
            self.syn_cookies_sent,
            self.syn_cookies_validated,
            self.syn_cookies_failed
        )?;
        writeln!(
            f,
            "tcp: memory refusals {}, memory resets {}, out-of-order octets pruned {}, \
             max-conns refusals {}, per-peer refusals {}",
            self.mem_refused,
            self.mem_resets,
            self.ooo_pruned_bytes,
            self.conn_limit_drops,
            self.peer_limit_drops
        )?;
        writeln!(
            f,
            "tcp: segments in {}, out {}, bytes in {}, out {}, retransmits {} (RTO {}, fast {}), \
             dup ACKs {}, challenge ACKs {}",
            t.segments_in,
            t.segments_out,
            t.bytes_in,
            t.bytes_out,
            t.retransmits,
            t.rtos,
            t.fast_retransmits,
            t.dup_acks,
            t.challenge_acks
        )?;
        writeln!(
            f,
            "tcp: lost {}, loss probes {}, spurious reductions undone {}, DSACKs in {}, out {}",
            t.lost, t.loss_probes, t.undos, t.dsacks_received, t.dsacks_sent
        )?;
        let closed = if closed.is_empty() {
            "none".to_string()
        } else {
            closed.join(", ")
        };
        write!(f, "tcp: closed: {closed}")
    }
}

impl TcpCounters {
    pub(super) fn count_closed(&mut self, stats: &Stats, reason: CloseReason) {
        self.totals.accumulate(stats);
        *self.closed.entry(close_reason_name(reason)).or_default() += 1;
    }
}

pub(super) fn close_reason_name(r: CloseReason) -> &'static str {
    match r {
        CloseReason::Normal => "normal",
        CloseReason::Reset => "reset-by-peer",
        CloseReason::Refused => "refused",
        CloseReason::TimedOut => "timed-out",
        CloseReason::Aborted => "aborted",
        CloseReason::ResetInListen => "reset-in-listen",
        CloseReason::FinWait2Timeout => "fin-wait-2-timeout",
        CloseReason::Unreachable => "unreachable",
    }
}
