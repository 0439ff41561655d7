//! TCP inside the stack: demultiplexing by 4-tuple (a hash map, never a scan), listeners with
//! bounded SYN and accept queues, ephemeral ports for active opens, the connection timers,
//! ICMP errors routed to their connection, and RSTs for segments that match nothing.
//!
//! Connections are named by [`SocketHandle`]s (slot + generation, so a stale handle can never
//! reach a newer connection that reuses the slot). Each connection and listener has an
//! [`Owner`], a tag the runtime uses to route [`StackEvent`]s to the application that opened
//! it.
//!
//! Timers: a binary heap of (deadline, slot, generation). A connection's entry is replaced
//! only when its deadline moves earlier; an entry that fires early is a harmless spurious
//! `handle_timeout` after which the real deadline is pushed. Stale entries are dropped when
//! they surface or when the heap outgrows the table (compaction), so memory stays bounded.

use crate::tcp::{
    self, CloseReason, Connection, ConnectionError, Event, FourTuple, IcmpError, IsnGenerator,
    Segment, SegmentRef, State, Stats, reset_for,
};
use crate::time::Instant;
use crate::wire::icmp::Quote;
use crate::wire::{DropReason, PseudoHeader};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

/// Names one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    index: u32,
    generation: u32,
}

impl fmt::Display for SocketHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

/// Which application a connection or listener belongs to (the runtime's routing tag).
pub type Owner = u32;

/// Something an application should act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpEvent {
    /// A connection finished its handshake on the listener at `port`: call `accept`.
    Incoming { port: u16 },
    /// An event of an accepted or actively opened connection.
    Connection { handle: SocketHandle, event: Event },
}

/// A [`TcpEvent`] with the owner it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackEvent {
    pub owner: Owner,
    pub event: TcpEvent,
}

/// Errors of the socket calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TcpError {
    #[error("port {0} already has a listener")]
    PortInUse(u16),
    #[error("no ephemeral port free for {0}")]
    NoEphemeralPorts(SocketAddr),
    /// MUST-46: an OPEN to a broadcast or multicast address is refused (and one to an
    /// address family we have no address in).
    #[error("{0} is not a unicast address we can reach")]
    InvalidRemote(IpAddr),
    #[error("no such connection (closed)")]
    NotConnected,
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
            TcpError::NotConnected => io::Error::new(io::ErrorKind::NotConnected, e),
        }
    }
}

/// Totals over the stack's life (closed connections' statistics are added on removal).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    pub active_opens: u64,
    pub passive_opens: u64,
    /// SYNs dropped because a listener's queues were full.
    pub syn_backlog_drops: u64,
    pub resets_sent_for_strays: u64,
    /// TIME-WAIT connections ended early because `max_time_wait` were waiting.
    pub time_wait_recycled: u64,
    pub closed: HashMap<&'static str, u64>,
    pub segments_in: u64,
    pub segments_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub retransmits: u64,
    pub rtos: u64,
    pub fast_retransmits: u64,
    pub dup_acks: u64,
    pub challenge_acks: u64,
}

impl TcpCounters {
    fn add(&mut self, s: &Stats) {
        self.segments_in += s.segments_in;
        self.segments_out += s.segments_out;
        self.bytes_in += s.bytes_in;
        self.bytes_out += s.bytes_out;
        self.retransmits += s.retransmits;
        self.rtos += s.rtos;
        self.fast_retransmits += s.fast_retransmits;
        self.dup_acks += s.dup_acks;
        self.challenge_acks += s.challenge_acks;
    }
}

fn close_reason_name(r: CloseReason) -> &'static str {
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

struct Slot {
    conn: Connection,
    generation: u32,
    owner: Owner,
    /// Set while the connection belongs to a listener (SYN-RECEIVED or not yet accepted).
    listener: Option<u16>,
    /// Events held for a connection not yet accepted; handed over by `accept`.
    held: Vec<Event>,
    /// The deadline this connection has in the timer heap.
    timer_at: Option<Instant>,
    /// In the active list (has output or events to collect).
    active: bool,
    ttl: u8,
    dscp: u8,
    /// Counted in `TcpLayer::time_wait` (and queued in `time_wait_order`).
    in_time_wait: bool,
}

struct Listener {
    owner: Owner,
    backlog: usize,
    config: tcp::Config,
    syn_received: usize,
    accept_queue: VecDeque<SocketHandle>,
}

/// A listener as shown by `ss`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerInfo {
    pub port: u16,
    pub backlog: usize,
    pub syn_received: usize,
    pub accept_queue: usize,
}

/// The TCP part of the stack.
pub struct TcpLayer {
    addr: IpAddr,
    config: tcp::Config,
    ttl: u8,
    dscp: u8,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    generations: Vec<u32>,
    demux: HashMap<FourTuple, SocketHandle>,
    /// The connection the last segment went to: a bulk flow skips hashing its 4-tuple
    /// (SipHash, kept for the map itself because peers choose the tuples). Checked against
    /// the slot's own tuple and generation, so it is never stale.
    last_demux: Option<(FourTuple, SocketHandle)>,
    listeners: HashMap<u16, Listener>,
    isn: IsnGenerator,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    active: Vec<SocketHandle>,
    events: VecDeque<StackEvent>,
    /// RSTs for strays: (tuple from our side, segment).
    control: VecDeque<(FourTuple, Segment)>,
    next_ephemeral: u16,
    counters: TcpCounters,
    max_time_wait: usize,
    /// Connections in TIME-WAIT, and the order they entered it (stale entries, of ones
    /// gone since, are skipped and compacted away).
    time_wait: usize,
    time_wait_order: VecDeque<SocketHandle>,
}

/// RFC 6335 dynamic ports, as Linux uses by default (32768..60999 there; the IANA range here).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;

/// Linux bounds TIME-WAIT sockets too (`tcp_max_tw_buckets`, 262144 on big machines): a
/// TIME-WAIT connection costs us about 1 KB, so 65,536 of them about 64 MB.
pub const DEFAULT_MAX_TIME_WAIT: usize = 65_536;

impl TcpLayer {
    /// `config` is the default for new connections (its MSS should follow the MTU).
    pub fn new(addr: IpAddr, config: tcp::Config, isn_secret: [u8; 16], ttl: u8, dscp: u8) -> Self {
        TcpLayer {
            addr,
            config,
            ttl,
            dscp,
            slots: Vec::new(),
            free: Vec::new(),
            generations: Vec::new(),
            demux: HashMap::new(),
            last_demux: None,
            listeners: HashMap::new(),
            isn: IsnGenerator::new(isn_secret),
            timers: BinaryHeap::new(),
            active: Vec::new(),
            events: VecDeque::new(),
            control: VecDeque::new(),
            next_ephemeral: *EPHEMERAL.start()
                + (u16::from_be_bytes([isn_secret[0], isn_secret[1]]) % 16384),
            counters: TcpCounters::default(),
            max_time_wait: DEFAULT_MAX_TIME_WAIT,
            time_wait: 0,
            time_wait_order: VecDeque::new(),
        }
    }

    /// At most this many connections wait in TIME-WAIT; beyond it the oldest ends early.
    pub fn set_max_time_wait(&mut self, max: usize) {
        self.max_time_wait = max;
    }

    /// Connections in TIME-WAIT now.
    pub fn time_wait_count(&self) -> usize {
        self.time_wait
    }

    pub fn config(&self) -> &tcp::Config {
        &self.config
    }

    pub fn counters(&self) -> &TcpCounters {
        &self.counters
    }

    /// Connections in the table.
    pub fn len(&self) -> usize {
        self.demux.len()
    }

    pub fn is_empty(&self) -> bool {
        self.demux.is_empty()
    }

    // ---- sockets -------------------------------------------------------------------------

    /// Passive OPEN on `port` (RFC 9293 §3.9.1.1). Existing connections on the port are
    /// untouched (MUST-41, MUST-42). `config` overrides the stack default for accepted
    /// connections (e.g. a service's keepalive).
    pub fn listen(
        &mut self,
        port: u16,
        backlog: usize,
        config: Option<tcp::Config>,
        owner: Owner,
    ) -> Result<(), TcpError> {
        if self.listeners.contains_key(&port) {
            return Err(TcpError::PortInUse(port));
        }
        let config = config.unwrap_or_else(|| self.config.clone());
        self.listeners.insert(
            port,
            Listener {
                owner,
                backlog: backlog.max(1),
                config,
                syn_received: 0,
                accept_queue: VecDeque::new(),
            },
        );
        log::info!("listening on {}", SocketAddr::new(self.addr, port));
        Ok(())
    }

    /// Closes a listener; connections it had not handed over yet are reset.
    pub fn unlisten(&mut self, port: u16) {
        if self.listeners.remove(&port).is_none() {
            return;
        }
        let pending: Vec<SocketHandle> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .filter(|s| s.listener == Some(port))
                    .map(|s| SocketHandle {
                        index: i as u32,
                        generation: s.generation,
                    })
            })
            .collect();
        for h in pending {
            if let Some(slot) = self.slot_mut(h) {
                slot.conn.abort();
                slot.listener = None;
            }
            self.mark_active(h);
        }
    }

    /// The next connection that completed its handshake on `port`.
    pub fn accept(&mut self, port: u16) -> Option<SocketHandle> {
        loop {
            let h = self.listeners.get_mut(&port)?.accept_queue.pop_front()?;
            let Some(slot) = self.slot_mut(h) else {
                continue;
            };
            slot.listener = None;
            let held = std::mem::take(&mut slot.held);
            let owner = slot.owner;
            for event in held {
                self.events.push_back(StackEvent {
                    owner,
                    event: TcpEvent::Connection { handle: h, event },
                });
            }
            return Some(h);
        }
    }

    /// Active OPEN to `remote` from an ephemeral port (RFC 9293 §3.9.1.1; our address is the
    /// local one, MUST-44/45).
    pub fn connect(
        &mut self,
        now: Instant,
        remote: impl Into<SocketAddr>,
        config: Option<tcp::Config>,
        owner: Owner,
    ) -> Result<SocketHandle, TcpError> {
        let remote = remote.into();
        let ip = remote.ip();
        let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        if broadcast
            || ip.is_multicast()
            || ip.is_unspecified()
            || remote.port() == 0
            || ip.is_ipv4() != self.addr.is_ipv4()
        {
            return Err(TcpError::InvalidRemote(ip));
        }
        let span = EPHEMERAL.end() - EPHEMERAL.start() + 1;
        let mut tuple = None;
        for _ in 0..span {
            let port = self.next_ephemeral;
            self.next_ephemeral = if port == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                port + 1
            };
            let t = FourTuple {
                local: SocketAddr::new(self.addr, port),
                remote,
            };
            if !self.demux.contains_key(&t) && !self.listeners.contains_key(&port) {
                tuple = Some(t);
                break;
            }
        }
        let tuple = tuple.ok_or(TcpError::NoEphemeralPorts(remote))?;
        let iss = self.isn.isn(now, tuple.local, tuple.remote);
        let conn = Connection::connect(
            now,
            tuple,
            iss,
            config.unwrap_or_else(|| self.config.clone()),
        );
        self.counters.active_opens += 1;
        Ok(self.insert(conn, owner, None))
    }

    fn insert(&mut self, conn: Connection, owner: Owner, listener: Option<u16>) -> SocketHandle {
        let tuple = conn.tuple();
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.generations.push(0);
            (self.slots.len() - 1) as u32
        });
        let generation = self.generations[index as usize];
        self.slots[index as usize] = Some(Slot {
            conn,
            generation,
            owner,
            listener,
            held: Vec::new(),
            timer_at: None,
            active: false,
            ttl: self.ttl,
            dscp: self.dscp,
            in_time_wait: false,
        });
        let h = SocketHandle { index, generation };
        self.demux.insert(tuple, h);
        self.mark_active(h);
        h
    }

    fn slot(&self, h: SocketHandle) -> Option<&Slot> {
        self.slots
            .get(h.index as usize)?
            .as_ref()
            .filter(|s| s.generation == h.generation)
    }

    fn slot_mut(&mut self, h: SocketHandle) -> Option<&mut Slot> {
        self.slots
            .get_mut(h.index as usize)?
            .as_mut()
            .filter(|s| s.generation == h.generation)
    }

    fn mark_active(&mut self, h: SocketHandle) {
        if let Some(slot) = self.slot_mut(h)
            && !slot.active
        {
            slot.active = true;
            self.active.push(h);
        }
    }

    /// The connection, to read its state or statistics.
    pub fn connection(&self, h: SocketHandle) -> Option<&Connection> {
        self.slot(h).map(|s| &s.conn)
    }

    /// The connection, for user calls (`send`, `recv`, `close`, `set_keepalive`, ...). The
    /// stack collects whatever output the call causes at the next `poll_transmit`.
    pub fn connection_mut(&mut self, h: SocketHandle) -> Result<&mut Connection, TcpError> {
        self.mark_active(h);
        self.slot_mut(h)
            .map(|s| &mut s.conn)
            .ok_or(TcpError::NotConnected)
    }

    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, TcpError> {
        Ok(self.connection_mut(h)?.send(data)?)
    }

    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, TcpError> {
        Ok(self.connection_mut(h)?.recv(buf)?)
    }

    pub fn close(&mut self, h: SocketHandle) -> Result<(), TcpError> {
        self.connection_mut(h)?.close();
        Ok(())
    }

    /// The application is done with `h` (it will neither send nor read): close it and let
    /// FIN-WAIT-2 time out. See `Connection::release`.
    pub fn release(&mut self, now: Instant, h: SocketHandle) -> Result<(), TcpError> {
        self.connection_mut(h)?.release(now);
        Ok(())
    }

    pub fn abort(&mut self, h: SocketHandle) -> Result<(), TcpError> {
        self.connection_mut(h)?.abort();
        Ok(())
    }

    /// MUST-48/49: DiffServ code point and TTL for this connection's datagrams.
    pub fn set_ip_options(&mut self, h: SocketHandle, ttl: u8, dscp: u8) -> Result<(), TcpError> {
        let slot = self.slot_mut(h).ok_or(TcpError::NotConnected)?;
        slot.ttl = ttl;
        slot.dscp = dscp & 0x3f;
        Ok(())
    }

    /// (ttl, dscp) for the datagrams of `h`.
    pub fn ip_options(&self, h: SocketHandle) -> Option<(u8, u8)> {
        self.slot(h).map(|s| (s.ttl, s.dscp))
    }

    /// Every connection, for `ss`.
    pub fn connections(&self) -> impl Iterator<Item = (SocketHandle, &Connection)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.as_ref().map(|s| {
                (
                    SocketHandle {
                        index: i as u32,
                        generation: s.generation,
                    },
                    &s.conn,
                )
            })
        })
    }

    pub fn listeners(&self) -> Vec<ListenerInfo> {
        let mut v: Vec<_> = self
            .listeners
            .iter()
            .map(|(&port, l)| ListenerInfo {
                port,
                backlog: l.backlog,
                syn_received: l.syn_received,
                accept_queue: l.accept_queue.len(),
            })
            .collect();
        v.sort_by_key(|l| l.port);
        v
    }

    // ---- input ---------------------------------------------------------------------------

    /// One TCP segment addressed to us (`tcp` is the IP payload), from `src` to `dst`.
    pub fn handle_segment(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        tcp: &[u8],
    ) -> Result<(), DropReason> {
        let (sport, dport, seg) = SegmentRef::parse_ref(PseudoHeader::tcp(src, dst), tcp)?;
        let tuple = FourTuple {
            local: SocketAddr::new(dst, dport),
            remote: SocketAddr::new(src, sport),
        };
        let cached = self
            .last_demux
            .filter(|(t, h)| *t == tuple && self.slot(*h).is_some_and(|s| s.conn.tuple() == tuple))
            .map(|(_, h)| h);
        let found = cached.or_else(|| self.demux.get(&tuple).copied());
        if let Some(h) = found {
            self.last_demux = Some((tuple, h));
            let slot = self.slots[h.index as usize]
                .as_mut()
                .expect("demux points at a live slot");
            let state = slot.conn.state();
            // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN may reopen a connection in TIME-WAIT.
            let reopen =
                state == State::TimeWait && seg.syn() && slot.conn.time_wait_accepts_syn(&seg);
            if state != State::Closed && !reopen {
                slot.conn.handle_segment(now, &seg);
                self.mark_active(h);
                return Ok(());
            }
            // A connection that just reached CLOSED is gone for this segment, and a SYN may
            // reopen one in TIME-WAIT: either way the old one goes first.
            log::debug!("{tuple} {state}: removed before {seg}");
            self.retire(now, h);
        }
        if seg.syn()
            && !seg.has_ack()
            && !seg.rst()
            && sport != 0
            && let Some(listener) = self.listeners.get_mut(&dport)
        {
            // The stack has already refused broadcast/multicast destinations and impossible
            // sources (MUST-57, MUST-63).
            if listener.syn_received + listener.accept_queue.len() >= listener.backlog {
                self.counters.syn_backlog_drops += 1;
                return Err(DropReason::TcpQueueFull);
            }
            listener.syn_received += 1;
            let (owner, config) = (listener.owner, listener.config.clone());
            let iss = self.isn.isn(now, tuple.local, tuple.remote);
            let conn = Connection::accept(now, tuple, iss, &seg, config);
            self.counters.passive_opens += 1;
            self.insert(conn, owner, Some(dport));
            return Ok(());
        }
        // RFC 9293 §3.10.7.1: no connection (CLOSED): answer with a RST unless it is one.
        if let Some(rst) = reset_for(&seg) {
            log::debug!("{tuple} no connection for {seg}: sending {rst}");
            self.counters.resets_sent_for_strays += 1;
            self.control.push_back((tuple, rst));
        }
        Err(DropReason::TcpNoConnection)
    }

    /// ICMP "fragmentation needed" (RFC 1191) for one of our datagrams: the path MTU.
    pub fn handle_path_mtu(&mut self, now: Instant, mtu: u16, quote: &Quote) {
        if let Some(h) = self.quoted_connection(quote)
            && let Some(slot) = self.slot_mut(h)
        {
            slot.conn.handle_path_mtu(now, mtu);
            self.mark_active(h);
        }
    }

    /// The connection an ICMP error's quoted datagram belongs to.
    fn quoted_connection(&self, quote: &Quote) -> Option<SocketHandle> {
        if quote.protocol != etherparse::IpNumber::TCP || quote.src.ip() != self.addr {
            return None;
        }
        let tuple = FourTuple {
            local: quote.src,
            remote: quote.dst,
        };
        self.demux.get(&tuple).copied()
    }

    /// An ICMP error quoting one of our datagrams (the endpoints read from its quote).
    /// RFC 9293 §3.9.2.2, MUST-54.
    pub fn handle_icmp_error(&mut self, now: Instant, error: IcmpError, quote: &Quote) {
        if let Some(h) = self.quoted_connection(quote)
            && let Some(slot) = self.slot_mut(h)
        {
            slot.conn.handle_icmp_error(now, error);
            self.mark_active(h);
        }
    }

    // ---- timers --------------------------------------------------------------------------

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let h = SocketHandle { index, generation };
            let Some(slot) = self.slot_mut(h) else {
                continue;
            };
            if slot.timer_at != Some(at) {
                continue; // superseded by an earlier deadline
            }
            slot.timer_at = None;
            slot.conn.handle_timeout(now);
            self.mark_active(h);
        }
    }

    // ---- output --------------------------------------------------------------------------

    /// The next segment to send, handed to `emit` with its 4-tuple, its payload in place (see
    /// [`Connection::poll_transmit_with`]) and IP options (ttl, dscp). Connections are
    /// drained one by one; when one has nothing more to send, its events are queued, its
    /// timer updated, and it is removed if CLOSED.
    pub fn poll_transmit_with<R>(
        &mut self,
        now: Instant,
        emit: &mut impl FnMut(FourTuple, &Segment, [&[u8]; 2], u8, u8) -> R,
    ) -> Option<R> {
        if let Some((tuple, seg)) = self.control.pop_front() {
            let header = seg.with_payload(bytes::Bytes::new());
            return Some(emit(
                tuple,
                &header,
                [&seg.payload, &[]],
                self.ttl,
                self.dscp,
            ));
        }
        while let Some(&h) = self.active.last() {
            let Some(slot) = self.slot_mut(h) else {
                self.active.pop();
                continue;
            };
            let (tuple, ttl, dscp) = (slot.conn.tuple(), slot.ttl, slot.dscp);
            let sent = slot
                .conn
                .poll_transmit_with(now, &mut |seg, parts| emit(tuple, seg, parts, ttl, dscp));
            if sent.is_some() {
                return sent;
            }
            self.active.pop();
            self.settle(h);
        }
        None
    }

    /// After a connection's output is drained: its events, timer, and removal when CLOSED.
    fn settle(&mut self, h: SocketHandle) {
        let Some(slot) = self.slots[h.index as usize]
            .as_mut()
            .filter(|s| s.generation == h.generation)
        else {
            return;
        };
        slot.active = false;
        let mut closed = None;
        while let Some(event) = slot.conn.poll_event() {
            if let Event::Closed(reason) = event {
                closed = Some(reason);
            }
            match slot.listener {
                None => self.events.push_back(StackEvent {
                    owner: slot.owner,
                    event: TcpEvent::Connection { handle: h, event },
                }),
                Some(port) => {
                    let listener = self.listeners.get_mut(&port);
                    match (event, listener) {
                        (Event::Connected, Some(l)) => {
                            l.syn_received = l.syn_received.saturating_sub(1);
                            l.accept_queue.push_back(h);
                            self.events.push_back(StackEvent {
                                owner: l.owner,
                                event: TcpEvent::Incoming { port },
                            });
                        }
                        (Event::Closed(_), Some(l)) => {
                            if slot.conn.state() == State::Closed && !l.accept_queue.contains(&h) {
                                l.syn_received = l.syn_received.saturating_sub(1);
                            }
                        }
                        _ => {
                            if !slot.held.contains(&event) {
                                slot.held.push(event);
                            }
                        }
                    }
                }
            }
        }
        let deadline = slot.conn.poll_timeout();
        if let Some(at) = deadline
            && slot.timer_at.is_none_or(|t| at < t)
        {
            slot.timer_at = Some(at);
            self.timers.push(Reverse((at, h.index, h.generation)));
        }
        let entered_time_wait = slot.conn.state() == State::TimeWait && !slot.in_time_wait;
        slot.in_time_wait |= entered_time_wait;
        if slot.conn.state() == State::Closed {
            let reason = closed
                .or(slot.conn.close_reason())
                .unwrap_or(CloseReason::Normal);
            self.remove(h, reason);
        }
        if entered_time_wait {
            self.time_wait += 1;
            self.time_wait_order.push_back(h);
            self.bound_time_wait();
        }
        if self.timers.len() > 2 * self.demux.len() + 1024 {
            self.compact_timers();
        }
    }

    /// Ends the oldest TIME-WAITs while more than `max_time_wait` connections wait.
    fn bound_time_wait(&mut self) {
        while self.time_wait > self.max_time_wait {
            let Some(h) = self.time_wait_order.pop_front() else {
                break;
            };
            let waiting = self.time_wait;
            let Some(slot) = self.slot_mut(h).filter(|s| s.in_time_wait) else {
                continue; // gone already
            };
            slot.conn.end_time_wait();
            log::debug!(
                "{} TIME-WAIT ended early: {waiting} waiting",
                slot.conn.tuple()
            );
            self.counters.time_wait_recycled += 1;
            self.settle(h);
        }
        if self.time_wait_order.len() > 2 * self.time_wait + 1024 {
            let slots = &self.slots;
            self.time_wait_order.retain(|h| {
                slots[h.index as usize]
                    .as_ref()
                    .is_some_and(|s| s.generation == h.generation && s.in_time_wait)
            });
        }
    }

    /// Collects a connection's last output and events now, then removes it.
    fn retire(&mut self, now: Instant, h: SocketHandle) {
        if let Some(slot) = self.slot_mut(h) {
            let tuple = slot.conn.tuple();
            let mut last = Vec::new();
            while let Some(seg) = slot.conn.poll_transmit(now) {
                last.push((tuple, seg));
            }
            self.control.extend(last);
        }
        self.settle(h);
        if let Some(slot) = self.slot(h) {
            let reason = slot.conn.close_reason().unwrap_or(CloseReason::Normal);
            self.remove(h, reason);
        }
    }

    fn remove(&mut self, h: SocketHandle, reason: CloseReason) {
        let Some(slot) = self.slots[h.index as usize].take() else {
            return;
        };
        let tuple = slot.conn.tuple();
        log::debug!("{tuple} removed ({})", close_reason_name(reason));
        if let Some(port) = slot.listener
            && let Some(l) = self.listeners.get_mut(&port)
        {
            l.accept_queue.retain(|&x| x != h);
        }
        self.demux.remove(&tuple);
        if slot.in_time_wait {
            self.time_wait -= 1;
        }
        self.counters.add(&slot.conn.stats());
        *self
            .counters
            .closed
            .entry(close_reason_name(reason))
            .or_default() += 1;
        self.generations[h.index as usize] = slot.generation.wrapping_add(1);
        self.free.push(h.index);
    }

    fn compact_timers(&mut self) {
        let slots = &self.slots;
        self.timers.retain(|Reverse((at, index, generation))| {
            slots[*index as usize]
                .as_ref()
                .is_some_and(|s| s.generation == *generation && s.timer_at == Some(*at))
        });
    }

    /// The next event for an application.
    pub fn poll_event(&mut self) -> Option<StackEvent> {
        self.events.pop_front()
    }

    /// True when connections have output or events still to be collected.
    pub fn has_pending(&self) -> bool {
        !self.active.is_empty() || !self.control.is_empty() || !self.events.is_empty()
    }
}
