//! UDP sockets (RFC 768, RFC 1122 §4.1): the socket table, demux by local port (and the
//! connected peer), bounded receive queues, and the socket calls on the [`Stack`].
//!
//! - in: [`Stack::handle_packet`] hands each checked datagram to [`UdpLayer::deliver`]: the
//!   socket bound to its destination port takes it unless it is connected to another peer;
//!   a datagram nobody takes is answered with ICMP port unreachable by the caller (RFC 1122
//!   §4.1.3.1). A full receive queue drops the datagram (`udp-queue-full`, counted).
//! - ICMP errors quoting a datagram of a *connected* socket are kept on it and returned by
//!   its next `send` or `recv` (RFC 1122 §4.1.3.3: UDP passes ICMP errors to the
//!   application; like Linux, only connected sockets get them, since an unconnected one
//!   cannot tell which exchange the error is about).
//! - out: [`Stack::udp_send_to`] writes the header and checksum and queues the datagram on
//!   the link queue, fragmented to the MTU (IPv4: RFC 791; IPv6: RFC 8200 §4.5). A datagram
//!   that would not fit in the link queue is refused with `WouldBlock`, so a sender waits
//!   for the loop to drain the queue rather than losing datagrams to it.
//! - events: [`UdpEvent::Readable`] when a socket's empty queue gets a datagram,
//!   [`UdpEvent::Error`] when an ICMP error is recorded, each routed to the socket's
//!   [`Owner`] as a [`StackEvent`].

use super::events::{StackEvent, TcpEvent};
use super::sockets::Owner;
use super::{DropReason, Stack};
use crate::tcp::IcmpError;
use crate::wire::icmp::Quote;
use crate::wire::udp::{HEADER_LEN, UdpView};
use etherparse::{IpNumber, UdpHeader};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

/// RFC 6335 §6: the dynamic ports, where `bind(0)` picks one.
const EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;
/// Largest UDP payload over IPv4: 65,535 minus the IPv4 (20) and UDP (8) headers.
pub const MAX_PAYLOAD_V4: usize = 65_507;
/// Largest UDP payload over IPv6 without jumbograms: 65,535 minus the UDP header.
pub const MAX_PAYLOAD_V6: usize = 65_527;

/// Names one UDP socket (slot index and generation: a closed socket's handle goes stale).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UdpHandle {
    index: u32,
    generation: u32,
}

impl fmt::Display for UdpHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "udp#{}.{}", self.index, self.generation)
    }
}

/// What a UDP socket tells its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpEvent {
    /// A datagram arrived in an empty receive queue.
    Readable,
    /// An ICMP error was recorded; the next `send` or `recv` returns it.
    Error,
}

/// Limits of UDP sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpConfig {
    /// Datagrams a socket's receive queue holds at most; more are dropped (counted).
    pub recv_queue_datagrams: usize,
    /// Payload octets a socket's receive queue holds at most (like Linux's `rmem`).
    pub recv_queue_bytes: usize,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            recv_queue_datagrams: 256,
            recv_queue_bytes: 256 * 1024,
        }
    }
}

/// Errors of the UDP socket calls. Converts into `io::Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// `bind` to a port that has a socket (`AddrInUse`).
    #[error("UDP port {0} already has a socket")]
    PortInUse(u16),
    /// `bind(0)`: every dynamic port is taken (`AddrNotAvailable`).
    #[error("no UDP ephemeral port free")]
    NoEphemeralPorts,
    /// A destination we cannot send to: broadcast, multicast, unspecified, port 0, or a
    /// family we have no address in (`InvalidInput`).
    #[error("{0} is not a unicast UDP destination we can reach")]
    InvalidRemote(SocketAddr),
    /// More than one IP datagram can carry (`InvalidInput`, Linux's EMSGSIZE).
    #[error("datagram of {0} octets is too large")]
    TooLarge(usize),
    /// `send` on a socket that is not connected (`NotConnected`).
    #[error("UDP socket not connected")]
    NoPeer,
    /// The handle names no socket (closed) (`NotConnected`).
    #[error("no such UDP socket (closed)")]
    Closed,
    /// Nothing to receive, or no room in the link queue now (`WouldBlock`).
    #[error("operation would block")]
    WouldBlock,
    /// The peer answered with ICMP port unreachable (`ConnectionRefused`).
    #[error("connection refused (ICMP port unreachable)")]
    Refused,
    /// Another ICMP error about our datagrams to the peer (`HostUnreachable`).
    #[error("ICMP error from the path: {0:?}")]
    Unreachable(IcmpError),
}

impl From<UdpError> for io::Error {
    fn from(e: UdpError) -> io::Error {
        use io::ErrorKind as K;
        let kind = match e {
            UdpError::PortInUse(_) => K::AddrInUse,
            UdpError::NoEphemeralPorts => K::AddrNotAvailable,
            UdpError::InvalidRemote(_) | UdpError::TooLarge(_) => K::InvalidInput,
            UdpError::NoPeer | UdpError::Closed => K::NotConnected,
            UdpError::WouldBlock => K::WouldBlock,
            UdpError::Refused => K::ConnectionRefused,
            UdpError::Unreachable(_) => K::HostUnreachable,
        };
        io::Error::new(kind, e)
    }
}

/// What the UDP layer has counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpCounters {
    /// Datagrams delivered to a socket's receive queue.
    pub datagrams_in: u64,
    /// Datagrams sent (each counted once, however many fragments it took).
    pub datagrams_out: u64,
    /// Datagrams dropped because their socket's receive queue was full.
    pub queue_full_drops: u64,
    /// ICMP errors recorded on connected sockets.
    pub icmp_errors_delivered: u64,
}

struct UdpSocket {
    generation: u32,
    owner: Owner,
    port: u16,
    /// Set by `connect`: the only source accepted, and the destination of `send`.
    peer: Option<SocketAddr>,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    queued_bytes: usize,
    /// An ICMP error waiting to be returned by the next call.
    error: Option<UdpError>,
}

/// The UDP sockets: slots, the port table, events and counters.
pub struct UdpLayer {
    config: UdpConfig,
    slots: Vec<Option<UdpSocket>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    ports: HashMap<u16, UdpHandle>,
    next_ephemeral: u16,
    events: VecDeque<StackEvent>,
    counters: UdpCounters,
}

impl UdpLayer {
    pub(super) fn new(config: UdpConfig, seed: u16) -> UdpLayer {
        let span = EPHEMERAL.end() - EPHEMERAL.start() + 1;
        UdpLayer {
            config,
            slots: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            ports: HashMap::new(),
            next_ephemeral: EPHEMERAL.start() + seed % span,
            events: VecDeque::new(),
            counters: UdpCounters::default(),
        }
    }

    /// What the UDP layer has counted so far.
    pub fn counters(&self) -> &UdpCounters {
        &self.counters
    }

    /// Sockets open now.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// No socket open.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    /// The local port of `h`.
    pub fn local_port(&self, h: UdpHandle) -> Option<u16> {
        self.get(h).map(|s| s.port)
    }

    /// The peer `h` is connected to, if any.
    pub fn peer(&self, h: UdpHandle) -> Option<SocketAddr> {
        self.get(h).and_then(|s| s.peer)
    }

    /// Every socket, for `ss`: (local port, connected peer, datagrams and octets queued),
    /// by port.
    pub fn sockets(&self) -> Vec<(u16, Option<SocketAddr>, usize, usize)> {
        let mut v: Vec<_> = self
            .slots
            .iter()
            .flatten()
            .map(|s| (s.port, s.peer, s.queue.len(), s.queued_bytes))
            .collect();
        v.sort_unstable_by_key(|s| s.0);
        v
    }

    /// Datagrams waiting in `h`'s receive queue.
    pub fn queued(&self, h: UdpHandle) -> usize {
        self.get(h).map_or(0, |s| s.queue.len())
    }

    fn get(&self, h: UdpHandle) -> Option<&UdpSocket> {
        self.slots
            .get(h.index as usize)?
            .as_ref()
            .filter(|s| s.generation == h.generation)
    }

    fn get_mut(&mut self, h: UdpHandle) -> Option<&mut UdpSocket> {
        self.slots
            .get_mut(h.index as usize)?
            .as_mut()
            .filter(|s| s.generation == h.generation)
    }

    /// Opens a socket on `port` (0: a free dynamic port) for `owner`.
    pub(super) fn bind(&mut self, port: u16, owner: Owner) -> Result<UdpHandle, UdpError> {
        let port = match port {
            0 => self.ephemeral()?,
            p if self.ports.contains_key(&p) => return Err(UdpError::PortInUse(p)),
            p => p,
        };
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.generations.push(0);
            (self.slots.len() - 1) as u32
        });
        let generation = self.generations[index as usize];
        self.slots[index as usize] = Some(UdpSocket {
            generation,
            owner,
            port,
            peer: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            error: None,
        });
        let h = UdpHandle { index, generation };
        self.ports.insert(port, h);
        log::debug!("UDP socket {h} bound to port {port}");
        Ok(h)
    }

    fn ephemeral(&mut self) -> Result<u16, UdpError> {
        for _ in EPHEMERAL {
            let p = self.next_ephemeral;
            self.next_ephemeral = if p == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                p + 1
            };
            if !self.ports.contains_key(&p) {
                return Ok(p);
            }
        }
        Err(UdpError::NoEphemeralPorts)
    }

    /// Closes `h`: its port is free again, its queue is dropped.
    pub(super) fn close(&mut self, h: UdpHandle) {
        if self.get(h).is_none() {
            return;
        }
        let socket = self.slots[h.index as usize].take().expect("checked above");
        self.generations[h.index as usize] = socket.generation.wrapping_add(1);
        self.free.push(h.index);
        self.ports.remove(&socket.port);
    }

    /// Sets (or clears) the peer of `h`: only its datagrams are received, `send` goes to it.
    pub(super) fn connect(
        &mut self,
        h: UdpHandle,
        peer: Option<SocketAddr>,
    ) -> Result<(), UdpError> {
        let socket = self.get_mut(h).ok_or(UdpError::Closed)?;
        socket.peer = peer;
        socket.error = None;
        Ok(())
    }

    /// The next datagram of `h` into `buf` (cut to its size, like `recvfrom(2)`): the octets
    /// copied and the sender. A pending ICMP error comes first, and only once.
    pub(super) fn recv_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr), UdpError> {
        let socket = self.get_mut(h).ok_or(UdpError::Closed)?;
        if let Some(e) = socket.error.take() {
            return Err(e);
        }
        let (from, data) = socket.queue.pop_front().ok_or(UdpError::WouldBlock)?;
        socket.queued_bytes -= data.len();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, from))
    }

    /// Takes the pending ICMP error of `h`, if any (for `send`).
    fn take_error(&mut self, h: UdpHandle) -> Result<&UdpSocket, UdpError> {
        let socket = self.get_mut(h).ok_or(UdpError::Closed)?;
        if let Some(e) = socket.error.take() {
            return Err(e);
        }
        Ok(socket)
    }

    /// A checked datagram from `src` to our `dst`: queued on the socket that takes it.
    /// Returns false when no socket does (the caller answers with port unreachable).
    pub(super) fn deliver(&mut self, src: IpAddr, view: &UdpView<'_>) -> bool {
        let Some(&h) = self.ports.get(&view.dst_port) else {
            return false;
        };
        let from = SocketAddr::new(src, view.src_port);
        let limits = self.config;
        let socket = self.get_mut(h).expect("the port table names live sockets");
        if socket.peer.is_some_and(|p| p != from) {
            return false; // connected elsewhere: as if nobody listened (as Linux)
        }
        if socket.queue.len() >= limits.recv_queue_datagrams
            || socket.queued_bytes + view.payload.len() > limits.recv_queue_bytes
        {
            self.counters.queue_full_drops += 1;
            log::debug!("{from} -> port {}: receive queue full", view.dst_port);
            return true; // taken, and dropped: the caller counts it
        }
        let was_empty = socket.queue.is_empty();
        socket.queued_bytes += view.payload.len();
        socket.queue.push_back((from, view.payload.to_vec()));
        let owner = socket.owner;
        self.counters.datagrams_in += 1;
        if was_empty {
            self.push_event(owner, h, UdpEvent::Readable);
        }
        true
    }

    fn push_event(&mut self, owner: Owner, handle: UdpHandle, event: UdpEvent) {
        self.events.push_back(StackEvent {
            owner,
            event: TcpEvent::Udp { handle, event },
        });
    }

    /// An ICMP error quoting one of our datagrams: kept on the connected socket it is about.
    pub(super) fn handle_icmp_error(&mut self, error: IcmpError, quote: &Quote) {
        if quote.protocol != IpNumber::UDP {
            return;
        }
        let Some(&h) = self.ports.get(&quote.src.port()) else {
            return;
        };
        let socket = self.get_mut(h).expect("the port table names live sockets");
        if socket.peer != Some(quote.dst) {
            return;
        }
        // RFC 1122 §4.1.3.3 / RFC 792 and RFC 4443 §3.1: port unreachable is code 3 on
        // IPv4, code 4 on IPv6.
        let port_code = if quote.dst.is_ipv4() { 3 } else { 4 };
        socket.error = Some(match error {
            IcmpError::DestinationUnreachable { code } if code == port_code => UdpError::Refused,
            other => UdpError::Unreachable(other),
        });
        let owner = socket.owner;
        self.counters.icmp_errors_delivered += 1;
        log::debug!(
            "{} -> {}: ICMP {error:?} kept for the next call",
            quote.src,
            quote.dst
        );
        self.push_event(owner, h, UdpEvent::Error);
    }

    pub(super) fn poll_event(&mut self) -> Option<StackEvent> {
        self.events.pop_front()
    }
}

impl Stack {
    /// The UDP sockets: counters, ports, peers.
    pub fn udp(&self) -> &UdpLayer {
        &self.udp
    }

    /// Opens a UDP socket on `port` (0: a free dynamic port) whose events go to `owner`.
    pub fn udp_bind(&mut self, port: u16, owner: Owner) -> Result<UdpHandle, UdpError> {
        self.udp.bind(port, owner)
    }

    /// Connects `h` to `peer` (`None`: disconnects): only `peer`'s datagrams are received,
    /// `udp_send` sends to it, and ICMP errors about it are reported.
    pub fn udp_connect(&mut self, h: UdpHandle, peer: Option<SocketAddr>) -> Result<(), UdpError> {
        if let Some(peer) = peer {
            self.udp_check_remote(peer)?;
        }
        self.udp.connect(h, peer)
    }

    /// Closes `h`.
    pub fn udp_close(&mut self, h: UdpHandle) {
        self.udp.close(h);
    }

    /// The next datagram of `h`: octets copied into `buf` (the rest of a longer datagram is
    /// discarded) and its sender; `WouldBlock` when none waits.
    pub fn udp_recv_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr), UdpError> {
        self.udp.recv_from(h, buf)
    }

    /// Sends `data` to the connected peer of `h`.
    pub fn udp_send(&mut self, h: UdpHandle, data: &[u8]) -> Result<usize, UdpError> {
        let peer = self.udp.peer(h).ok_or(UdpError::NoPeer)?;
        self.udp_send_to(h, peer, data)
    }

    fn udp_check_remote(&self, to: SocketAddr) -> Result<(), UdpError> {
        let ip = to.ip();
        let ours = match ip {
            IpAddr::V4(v4) => !v4.is_broadcast(),
            IpAddr::V6(_) => self.config.addr6.is_some(),
        };
        if !ours || ip.is_multicast() || ip.is_unspecified() || to.port() == 0 {
            return Err(UdpError::InvalidRemote(to));
        }
        Ok(())
    }

    /// Sends `data` as one datagram from `h` to `to`, fragmented when larger than the MTU.
    /// Returns `data.len()`; `WouldBlock` while the link queue has no room for all of its
    /// fragments; a pending ICMP error of the socket instead, once.
    pub fn udp_send_to(
        &mut self,
        h: UdpHandle,
        to: SocketAddr,
        data: &[u8],
    ) -> Result<usize, UdpError> {
        self.udp_check_remote(to)?;
        let max = if to.is_ipv4() {
            MAX_PAYLOAD_V4
        } else {
            MAX_PAYLOAD_V6
        };
        if data.len() > max {
            return Err(UdpError::TooLarge(data.len()));
        }
        // Room for every fragment (8-octet units of at most MTU - 48 octets each: IPv6
        // with its Fragment header, the larger of the two families' overhead).
        let per_fragment = ((self.config.mtu - 48) / 8 * 8).max(8);
        let fragments = (HEADER_LEN + data.len()).div_ceil(per_fragment);
        if self.queue.len() + fragments > self.config.max_queued {
            return Err(UdpError::WouldBlock);
        }
        let port = self.udp.take_error(h)?.port;
        let header = UdpHeader::without_ipv4_checksum(port, to.port(), data.len())
            .map_err(|_| UdpError::TooLarge(data.len()))?;
        let mut datagram = std::mem::take(&mut self.scratch);
        datagram.clear();
        match to.ip() {
            IpAddr::V4(dst) => {
                let mut header = header;
                header.checksum = header
                    .calc_checksum_ipv4_raw(self.config.addr.octets(), dst.octets(), data)
                    .expect("length checked");
                datagram.extend_from_slice(&header.to_bytes());
                datagram.extend_from_slice(data);
                self.send_datagram(dst, IpNumber::UDP, &datagram);
            }
            IpAddr::V6(dst) => {
                let src = self.config.addr6.expect("checked by udp_check_remote");
                let mut header = header;
                header.checksum = header
                    .calc_checksum_ipv6_raw(src.octets(), dst.octets(), data)
                    .expect("length checked");
                datagram.extend_from_slice(&header.to_bytes());
                datagram.extend_from_slice(data);
                self.send_packet6(dst, IpNumber::UDP, &datagram);
            }
        }
        self.scratch = datagram;
        self.udp.counters.datagrams_out += 1;
        self.counters.udp = self.udp.counters.clone();
        Ok(data.len())
    }

    /// A UDP datagram that passed its checks, from `src`: to its socket. Returns false when
    /// no socket takes it (the caller answers with port unreachable, RFC 1122 §4.1.3.1).
    pub(super) fn deliver_udp(&mut self, src: IpAddr, view: &UdpView<'_>) -> bool {
        let full_before = self.udp.counters.queue_full_drops;
        let taken = self.udp.deliver(src, view);
        if self.udp.counters.queue_full_drops > full_before {
            self.drop_packet(DropReason::UdpQueueFull, Some(src));
        }
        self.counters.udp = self.udp.counters.clone();
        taken
    }

    /// An ICMP error quoting one of our datagrams, for the UDP socket it is about.
    pub(super) fn udp_icmp_error(&mut self, error: IcmpError, quote: &Quote) {
        self.udp.handle_icmp_error(error, quote);
        self.counters.udp = self.udp.counters.clone();
    }
}
