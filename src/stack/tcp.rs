//! TCP inside the stack: the layer that composes the connection slots ([`sockets`]), the
//! demux ([`demux`]), the listeners ([`listeners`]; passive opens and SYN cookies in
//! [`passive_open`]), the timer heap ([`timer_heap`]), the TIME-WAIT cap ([`time_wait`])
//! and the memory budget with the connection limits ([`memory`]); it routes segments, ICMP errors and timeouts to their
//! connection, answers segments that match nothing with RSTs, routes each connection's
//! events to its [`Owner`] as [`StackEvent`]s, and hands each segment to send to the network
//! layer as a [`Transmit`].
//!
//! Connections are named by [`SocketHandle`]s; each connection and listener has an
//! [`Owner`], a tag the runtime uses to route [`StackEvent`]s to the application that opened
//! it.
//!
//! [`sockets`]: super::sockets
//! [`demux`]: super::demux
//! [`listeners`]: super::listeners
//! [`passive_open`]: super::passive_open
//! [`memory`]: super::memory
//! [`timer_heap`]: super::timer_heap
//! [`time_wait`]: super::time_wait

use super::demux::Demux;
use super::events::close_reason_name;
pub use super::events::{StackEvent, TcpCounters, TcpError, TcpEvent};
use super::listeners::{ListenerInfo, Listeners};
use super::memory::{MemoryBudget, TcpLimits};
use super::sockets::{Owner, SocketHandle, Sockets};
use super::time_wait::{DEFAULT_MAX_TIME_WAIT, TimeWaitCap};
use super::timer_heap::TimerHeap;
use super::transmit::{IpOptions, Transmit};
use crate::tcp::{
    self, CloseReason, Connection, Event, FourTuple, IcmpError, IsnGenerator, Segment, SegmentRef,
    State, SynCookies, reset_for,
};
use crate::time::Instant;
use crate::wire::icmp::Quote;
use crate::wire::{DropReason, PseudoHeader};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// The TCP part of the stack: listeners, connections named by [`SocketHandle`], and the
/// socket calls on them. Reached through [`Stack::tcp`](super::Stack::tcp) and
/// [`Stack::tcp_mut`](super::Stack::tcp_mut); the [`Stack`](super::Stack) drives it.
pub struct TcpLayer {
    /// Our addresses, at most one per family.
    pub(super) addrs: Vec<IpAddr>,
    /// The link MTU: a connection's MSS is at most this minus its IP and TCP headers.
    mtu: usize,
    pub(super) config: tcp::Config,
    /// For datagrams of new connections and of RSTs to strays.
    ip: IpOptions,
    pub(super) sockets: Sockets,
    pub(super) demux: Demux,
    pub(super) listeners: Listeners,
    pub(super) isn: IsnGenerator,
    timers: TimerHeap,
    pub(super) time_wait: TimeWaitCap,
    /// Connections with output or events to collect (each marked `active` in its slot).
    active: Vec<SocketHandle>,
    pub(super) events: VecDeque<StackEvent>,
    /// RSTs for strays, cookie SYN-ACKs, and the last output of connections removed early:
    /// (tuple from our side, segment).
    pub(super) control: VecDeque<(FourTuple, Segment)>,
    pub(super) counters: TcpCounters,
    /// RFC 4987 SYN cookies, keyed with the ISN secret.
    pub(super) cookies: SynCookies,
    pub(super) memory: MemoryBudget,
    pub(super) limits: TcpLimits,
    /// Connections (TIME-WAIT aside) by peer address, for `max_conns_per_peer`.
    pub(super) per_peer: HashMap<IpAddr, usize>,
    /// The next pass of pressure relief, while under pressure.
    pub(super) relief_at: Instant,
}

impl TcpLayer {
    /// `addrs` are ours (at most one per family); `config` is the default for new
    /// connections, whose MSS is at most `mtu` minus the IP and TCP headers of the
    /// connection's family (MUST-67); `ip` the default IP options of their datagrams.
    pub(crate) fn new(
        addrs: &[IpAddr],
        mtu: usize,
        config: tcp::Config,
        isn_secret: [u8; 16],
        ip: IpOptions,
    ) -> Self {
        TcpLayer {
            addrs: addrs.to_vec(),
            mtu,
            config,
            ip,
            sockets: Sockets::default(),
            demux: Demux::new(u16::from_be_bytes([isn_secret[0], isn_secret[1]])),
            listeners: Listeners::default(),
            isn: IsnGenerator::new(isn_secret),
            timers: TimerHeap::default(),
            time_wait: TimeWaitCap::new(DEFAULT_MAX_TIME_WAIT),
            active: Vec::new(),
            events: VecDeque::new(),
            control: VecDeque::new(),
            counters: TcpCounters::default(),
            cookies: SynCookies::new(isn_secret),
            memory: MemoryBudget::new(TcpLimits::default().mem_max),
            limits: TcpLimits::default(),
            per_peer: HashMap::new(),
            relief_at: Instant::ZERO,
        }
    }

    /// The memory budget and the connection limits.
    pub(crate) fn set_limits(&mut self, limits: TcpLimits) {
        self.limits = limits;
        self.memory = MemoryBudget::new(limits.mem_max);
    }

    /// TCP's memory: the budget, what is held now, the peak.
    pub fn memory(&self) -> &MemoryBudget {
        &self.memory
    }

    /// At most this many connections wait in TIME-WAIT; beyond it the oldest ends early.
    pub(crate) fn set_max_time_wait(&mut self, max: usize) {
        self.time_wait.set_max(max);
    }

    /// Connections in TIME-WAIT now.
    pub fn time_wait_count(&self) -> usize {
        self.time_wait.waiting()
    }

    /// The default configuration of new connections (its MSS follows the stack's MTU).
    pub fn config(&self) -> &tcp::Config {
        &self.config
    }

    /// What the TCP layer has counted so far.
    pub fn counters(&self) -> &TcpCounters {
        &self.counters
    }

    /// Connections in the table.
    pub fn len(&self) -> usize {
        self.demux.len()
    }

    /// The slot table: slots (live or free) and its allocated capacity, in slots.
    pub fn slot_table(&self) -> (usize, usize) {
        self.sockets.table_size()
    }

    /// No connection in the table.
    pub fn is_empty(&self) -> bool {
        self.demux.len() == 0
    }

    // ---- sockets -------------------------------------------------------------------------

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
        let local = self.local_for(ip);
        let Some(local) = local.filter(|_| {
            !broadcast && !ip.is_multicast() && !ip.is_unspecified() && remote.port() != 0
        }) else {
            return Err(TcpError::InvalidRemote(ip));
        };
        // As for passive opens: no connection is admitted at the hard mark, or TCP would
        // hold more than its budget (found by fuzz/ target `stack`).
        if self.memory().pressure() == tcp::Pressure::Hard {
            self.counters.mem_refused += 1;
            return Err(TcpError::NoMemory);
        }
        let listeners = &self.listeners;
        let tuple = self
            .demux
            .ephemeral(local, remote, |port| listeners.contains(port))
            .ok_or(TcpError::NoEphemeralPorts(remote))?;
        let iss = self.isn.isn(now, tuple.local, tuple.remote);
        let config = self.for_family(config.unwrap_or_else(|| self.config.clone()), local);
        let conn = Connection::connect(now, tuple, iss, config);
        self.counters.active_opens += 1;
        Ok(self.insert(conn, owner, None))
    }

    /// Our address in the family of `remote`, if we have one (MUST-44/45: an active OPEN's
    /// local address is the IP layer's).
    fn local_for(&self, remote: IpAddr) -> Option<IpAddr> {
        self.addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == remote.is_ipv4())
    }

    /// A connection's configuration for a local address of `local`'s family: the MSS it
    /// advertises is at most the MTU minus that family's IP header and TCP's (MUST-67:
    /// 40 octets on IPv4, 60 on IPv6); its super-segments are as long as the link takes
    /// (`StackConfig::tso`, whatever the caller's configuration says), within 65535 octets.
    pub(super) fn for_family(&self, mut config: tcp::Config, local: IpAddr) -> tcp::Config {
        let overhead = crate::wire::ip_header_len(local) + crate::wire::tcp::HEADER_LEN;
        let cap = self.mtu.saturating_sub(overhead).min(usize::from(u16::MAX)) as u16;
        config.mss = config.mss.min(cap);
        config.max_burst = self.config.max_burst.min(super::max_burst(local));
        config
    }

    pub(super) fn insert(
        &mut self,
        conn: Connection,
        owner: Owner,
        listener: Option<u16>,
    ) -> SocketHandle {
        let tuple = conn.tuple();
        let h = self.sockets.insert(conn, owner, listener, self.ip);
        self.demux.insert(tuple, h);
        self.count_peer(tuple.remote.ip(), 1);
        self.account(h);
        self.mark_active(h);
        h
    }

    pub(super) fn mark_active(&mut self, h: SocketHandle) {
        if let Some(slot) = self.sockets.get_mut(h)
            && !slot.active
        {
            slot.active = true;
            self.active.push(h);
        }
    }

    /// The connection, to read its state or statistics.
    pub fn connection(&self, h: SocketHandle) -> Option<&Connection> {
        self.sockets.get(h).map(|s| &*s.conn)
    }

    /// The connection, for user calls (`send`, `recv`, `close`, `set_keepalive`, ...). The
    /// stack collects whatever output the call causes at the next `poll_transmit`.
    pub fn connection_mut(&mut self, h: SocketHandle) -> Result<&mut Connection, TcpError> {
        self.mark_active(h);
        self.sockets
            .get_mut(h)
            .map(|s| &mut *s.conn)
            .ok_or(TcpError::NotConnected)
    }

    /// SEND on `h`: how much of `data` fit in its send buffer (see [`Connection::send`]).
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, TcpError> {
        let grant = self.grant();
        let conn = self.connection_mut(h)?;
        conn.set_memory(grant);
        let n = conn.send(data)?;
        self.account(h);
        Ok(n)
    }

    /// RECEIVE on `h`: in-order data into `buf`; `Ok(0)` after the peer's FIN (see
    /// [`Connection::recv`]).
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, TcpError> {
        let grant = self.grant();
        let conn = self.connection_mut(h)?;
        conn.set_memory(grant);
        let n = conn.recv(buf)?;
        self.account(h);
        Ok(n)
    }

    /// CLOSE on `h`: a half-close, our FIN follows the queued data (see
    /// [`Connection::close`]).
    pub fn close(&mut self, h: SocketHandle) -> Result<(), TcpError> {
        self.connection_mut(h)?.close();
        Ok(())
    }

    /// The application is done with `h` (it will neither send nor read): close it and let
    /// FIN-WAIT-2 time out. See `Connection::release`.
    pub(crate) fn release(&mut self, now: Instant, h: SocketHandle) -> Result<(), TcpError> {
        self.connection_mut(h)?.release(now);
        Ok(())
    }

    /// ABORT on `h`: a RST where the peer knows us, and the connection is gone (see
    /// [`Connection::abort`]).
    pub fn abort(&mut self, h: SocketHandle) -> Result<(), TcpError> {
        self.connection_mut(h)?.abort();
        Ok(())
    }

    /// MUST-48/49: DiffServ code point and TTL for this connection's datagrams.
    pub fn set_ip_options(&mut self, h: SocketHandle, ttl: u8, dscp: u8) -> Result<(), TcpError> {
        let slot = self.sockets.get_mut(h).ok_or(TcpError::NotConnected)?;
        slot.ip = IpOptions {
            ttl,
            dscp: dscp & 0x3f,
        };
        Ok(())
    }

    /// Every connection, for `ss`.
    pub fn connections(&self) -> impl Iterator<Item = (SocketHandle, &Connection)> {
        self.sockets.iter().map(|(h, s)| (h, &*s.conn))
    }

    /// Every listener, for `ss`.
    pub fn listeners(&self) -> Vec<ListenerInfo> {
        self.listeners.info()
    }

    // ---- input ---------------------------------------------------------------------------

    /// One TCP segment addressed to us (`tcp` is the IP payload), from `src` to `dst`.
    pub(crate) fn handle_segment(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        pseudo: PseudoHeader,
        tcp: &[u8],
    ) -> Result<(), DropReason> {
        let (sport, dport, seg) = SegmentRef::parse_ref(pseudo, tcp)?;
        let tuple = FourTuple {
            local: SocketAddr::new(dst, dport),
            remote: SocketAddr::new(src, sport),
        };
        if let Some(h) = self.demux.lookup(tuple) {
            let slot = self
                .sockets
                .get_mut(h)
                .expect("demux points at a live slot");
            let state = slot.conn.state();
            // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN may reopen a connection in TIME-WAIT.
            let reopen =
                state == State::TimeWait && seg.syn() && slot.conn.time_wait_accepts_syn(&seg);
            if state != State::Closed && !reopen {
                slot.conn.set_memory(self.memory.grant());
                slot.conn.handle_segment(now, &seg);
                self.account(h);
                self.mark_active(h);
                self.relieve_pressure(now);
                return Ok(());
            }
            // A connection that just reached CLOSED is gone for this segment, and a SYN may
            // reopen one in TIME-WAIT: either way the old one goes first.
            log::debug!("{tuple} {state}: removed before {seg}");
            self.retire(now, h);
        }
        // The stack has already refused broadcast/multicast destinations and impossible
        // sources (MUST-57, MUST-63). See `passive_open` for listeners and cookies.
        let opened = match (seg.syn(), seg.has_ack(), seg.rst()) {
            _ if sport == 0 => None,
            (true, false, false) => self.on_listener_syn(now, tuple, &seg),
            (false, true, false) => self.on_cookie_ack(now, tuple, &seg),
            _ => None,
        };
        if let Some(result) = opened {
            self.relieve_pressure(now);
            return result;
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
    pub(crate) fn handle_path_mtu(&mut self, now: Instant, mtu: u16, quote: &Quote) {
        if let Some(h) = self.quoted_connection(quote)
            && let Some(slot) = self.sockets.get_mut(h)
        {
            slot.conn.handle_path_mtu(now, mtu);
            self.mark_active(h);
        }
    }

    /// An ICMP error quoting one of our datagrams (the endpoints read from its quote).
    /// RFC 9293 §3.9.2.2, MUST-54.
    pub(crate) fn handle_icmp_error(&mut self, now: Instant, error: IcmpError, quote: &Quote) {
        if let Some(h) = self.quoted_connection(quote)
            && let Some(slot) = self.sockets.get_mut(h)
        {
            slot.conn.handle_icmp_error(now, error);
            self.mark_active(h);
        }
    }

    /// The connection an ICMP error's quoted datagram belongs to.
    fn quoted_connection(&self, quote: &Quote) -> Option<SocketHandle> {
        if quote.protocol != etherparse::IpNumber::TCP || !self.addrs.contains(&quote.src.ip()) {
            return None;
        }
        self.demux.get(&FourTuple {
            local: quote.src,
            remote: quote.dst,
        })
    }

    // ---- timers --------------------------------------------------------------------------

    /// The earliest connection deadline.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        Instant::min_opt(self.timers.next_deadline(), self.relief_deadline())
    }

    /// Runs the timers of every connection whose deadline is at or before `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, h)) = self.timers.pop_due(now) {
            let Some(slot) = self.sockets.get_mut(h) else {
                continue;
            };
            if slot.timer_at != Some(at) {
                continue; // superseded by an earlier deadline
            }
            slot.timer_at = None;
            slot.conn.set_memory(self.memory.grant());
            slot.conn.handle_timeout(now);
            self.mark_active(h);
        }
        self.relieve_pressure(now);
    }

    // ---- output --------------------------------------------------------------------------

    /// The next segment to send, handed to `emit` as a [`Transmit`] (its payload in place,
    /// see [`Connection::poll_transmit_with`]). Connections are drained one by one; when one
    /// has nothing more to send, its events are queued, its timer updated, and it is removed
    /// if CLOSED.
    #[must_use]
    pub(crate) fn poll_transmit_with<R>(
        &mut self,
        now: Instant,
        emit: &mut impl FnMut(Transmit<'_>) -> R,
    ) -> Option<R> {
        if let Some((tuple, seg)) = self.control.pop_front() {
            let header = seg.with_payload(bytes::Bytes::new());
            return Some(emit(Transmit {
                tuple,
                segment: &header,
                payload: [&seg.payload, &[]],
                ip: self.ip,
                gso_size: None,
            }));
        }
        while let Some(&h) = self.active.last() {
            let Some(slot) = self.sockets.get_mut(h) else {
                self.active.pop();
                continue;
            };
            let (tuple, ip) = (slot.conn.tuple(), slot.ip);
            let sent = slot.conn.poll_transmit_with(now, &mut |out| {
                emit(Transmit {
                    tuple,
                    segment: out.segment,
                    payload: out.payload,
                    ip,
                    gso_size: out.gso_size,
                })
            });
            if sent.is_some() {
                return sent;
            }
            self.active.pop();
            self.settle(h);
        }
        None
    }

    /// After a connection's output is drained: its events, timer, TIME-WAIT accounting, and
    /// removal when CLOSED.
    pub(super) fn settle(&mut self, h: SocketHandle) {
        self.account(h);
        let Some(slot) = self.sockets.get_mut(h) else {
            return;
        };
        slot.active = false;
        let mut closed = None;
        while let Some(event) = slot.conn.poll_event() {
            if let Event::Closed(reason) = event {
                closed = Some(reason);
            }
            let (owner, event) = match slot.listener {
                None => (slot.owner, TcpEvent::Connection { handle: h, event }),
                Some(port) => {
                    let state = slot.conn.state();
                    match self
                        .listeners
                        .on_event(port, h, event, state, &mut slot.held)
                    {
                        Some(owner) => (owner, TcpEvent::Incoming { port }),
                        None => continue,
                    }
                }
            };
            self.events.push_back(StackEvent { owner, event });
        }
        self.timers
            .arm(h, &mut slot.timer_at, slot.conn.poll_timeout());
        let state = slot.conn.state();
        let entered_time_wait = state == State::TimeWait && !slot.in_time_wait;
        slot.in_time_wait |= entered_time_wait;
        let peer = slot.conn.tuple().remote.ip();
        if state == State::Closed {
            let reason = closed
                .or(slot.conn.close_reason())
                .unwrap_or(CloseReason::Normal);
            self.remove(h, reason);
        }
        if entered_time_wait {
            self.count_peer(peer, -1); // TIME-WAIT does not count against the limits
            self.time_wait.enter(h);
            self.bound_time_wait();
        }
        let sockets = &self.sockets;
        self.timers.compact(self.demux.len(), |at, h| {
            sockets.get(h).is_some_and(|s| s.timer_at == Some(at))
        });
    }

    /// Ends the oldest TIME-WAITs while more than the cap wait.
    fn bound_time_wait(&mut self) {
        while let Some(h) = self.time_wait.next_over_cap() {
            let waiting = self.time_wait.waiting();
            let Some(slot) = self.sockets.get_mut(h).filter(|s| s.in_time_wait) else {
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
        let sockets = &self.sockets;
        self.time_wait
            .compact(|h| sockets.get(h).is_some_and(|s| s.in_time_wait));
    }

    /// Collects a connection's last output and events now, then removes it.
    fn retire(&mut self, now: Instant, h: SocketHandle) {
        if let Some(slot) = self.sockets.get_mut(h) {
            let tuple = slot.conn.tuple();
            while let Some(seg) = slot.conn.poll_transmit(now) {
                self.control.push_back((tuple, seg));
            }
        }
        self.settle(h);
        if let Some(slot) = self.sockets.get(h) {
            let reason = slot.conn.close_reason().unwrap_or(CloseReason::Normal);
            self.remove(h, reason);
        }
    }

    fn remove(&mut self, h: SocketHandle, reason: CloseReason) {
        let Some(slot) = self.sockets.remove(h) else {
            return;
        };
        let tuple = slot.conn.tuple();
        log::debug!("{tuple} removed ({})", close_reason_name(reason));
        if let Some(port) = slot.listener {
            self.listeners.forget(port, h);
        }
        self.demux.remove(&tuple);
        self.memory.charge(slot.mem, 0);
        if slot.in_time_wait {
            self.time_wait.leave();
        } else {
            self.count_peer(tuple.remote.ip(), -1);
        }
        self.counters.count_closed(&slot.conn.stats(), reason);
    }

    /// The next event for an application.
    #[must_use]
    pub(crate) fn poll_event(&mut self) -> Option<StackEvent> {
        self.events.pop_front()
    }

    /// True when connections have output or events still to be collected.
    pub fn has_pending(&self) -> bool {
        !self.active.is_empty() || !self.control.is_empty() || !self.events.is_empty()
    }
}
