//! Passive opens: the listener calls (`listen`, `unlisten`, `accept`), and under load what a SYN or an ACK for a listening port with no connection
//! does, after the listener's queues ([`Admission`]), the memory budget and the connection
//! limits have had their say.
//!
//! - Room in the SYN queue: a connection in SYN-RECEIVED (RFC 9293 §3.10.7.2).
//! - SYN queue full (counted as an overflow): the oldest half-open connection that already
//!   retransmitted its SYN-ACK is evicted (so under pressure a half-open connection gets one
//!   retransmission, not `synack_retries`), and the SYN takes its place; if none is that old,
//!   the SYN is answered with a SYN cookie and no state (RFC 4987 §3.6).
//! - An ACK to a listener that sent cookies in the last 128 s is checked as a cookie: a
//!   valid one creates the connection in ESTABLISHED, straight to the accept queue; an
//!   invalid one is counted and answered with a RST as any ACK to a listener (RFC 9293
//!   §3.10.7.2), creating nothing.

use super::events::{StackEvent, TcpError, TcpEvent};
use super::listeners::Admission;
use super::sockets::{Owner, SocketHandle};
use super::tcp::TcpLayer;
use crate::tcp::{self, Connection, CookieOptions, FourTuple, SegmentRef, State, cookie_decode_ts};
use crate::time::Instant;
use crate::wire::DropReason;
use std::net::SocketAddr;

/// A half-open connection is evicted for a new SYN once it retransmitted its SYN-ACK this
/// many times.
const EVICT_AFTER_RETRANSMITS: u64 = 1;

impl TcpLayer {
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
        if self.listeners.contains(port) {
            return Err(TcpError::PortInUse(port));
        }
        let config = config.unwrap_or_else(|| self.config.clone());
        self.listeners.insert(port, backlog, config, owner);
        let on: Vec<String> = self
            .addrs
            .iter()
            .map(|a| SocketAddr::new(*a, port).to_string())
            .collect();
        log::info!("listening on {}", on.join(" and "));
        Ok(())
    }

    /// Closes a listener; connections it had not handed over yet are reset.
    pub(crate) fn unlisten(&mut self, port: u16) {
        if !self.listeners.remove(port) {
            return;
        }
        let pending: Vec<SocketHandle> = self
            .sockets
            .iter()
            .filter(|(_, s)| s.listener == Some(port))
            .map(|(h, _)| h)
            .collect();
        for h in pending {
            if let Some(slot) = self.sockets.get_mut(h) {
                slot.conn.abort();
                slot.listener = None;
            }
            self.mark_active(h);
        }
    }

    /// The next connection that completed its handshake on `port`.
    pub fn accept(&mut self, port: u16) -> Option<SocketHandle> {
        loop {
            let h = self.listeners.pop_accepted(port)?;
            let Some(slot) = self.sockets.get_mut(h) else {
                continue;
            };
            slot.listener = None;
            let owner = slot.owner;
            for event in slot.held.drain(..) {
                self.events.push_back(StackEvent {
                    owner,
                    event: TcpEvent::Connection { handle: h, event },
                });
            }
            return Some(h);
        }
    }

    /// A SYN (ACK and RST clear) for `tuple`, which has no connection. `None` if nothing
    /// listens on its port.
    pub(super) fn on_listener_syn(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &SegmentRef<'_>,
    ) -> Option<Result<(), DropReason>> {
        let port = tuple.local.port();
        let mut admission = self.listeners.admit_syn(port)?;
        if let Err(refused) = self.admits_new(tuple.remote.ip()) {
            return Some(Err(refused));
        }
        if let Admission::SynQueueFull(oldest) = admission {
            self.counters.syn_queue_overflows += 1;
            match oldest.filter(|&h| self.evictable(h)) {
                Some(h) => {
                    self.evict(h);
                    admission = self.listeners.admit_syn(port)?;
                }
                None => return Some(self.send_cookie(now, tuple, seg)),
            }
        }
        if admission != Admission::Room {
            self.counters.syn_backlog_drops += 1;
            return Some(Err(DropReason::TcpQueueFull));
        }
        let (owner, config) = self.listeners.owner_config(port)?;
        let iss = self.isn.isn(now, tuple.local, tuple.remote);
        let config = self.for_family(self.pressure_config(config), tuple.local.ip());
        let conn = Connection::accept(now, tuple, iss, seg, config);
        self.counters.passive_opens += 1;
        let h = self.insert(conn, owner, Some(port));
        self.listeners.add_half_open(port, h);
        Some(Ok(()))
    }

    fn evictable(&self, h: SocketHandle) -> bool {
        self.sockets.get(h).is_some_and(|s| {
            s.conn.state() == State::SynReceived
                && s.conn.stats().retransmits >= EVICT_AFTER_RETRANSMITS
        })
    }

    fn evict(&mut self, h: SocketHandle) {
        if let Some(slot) = self.sockets.get_mut(h) {
            log::debug!("{} half-open: evicted for a new SYN", slot.conn.tuple());
            slot.conn.drop_half_open();
            self.counters.half_open_evicted += 1;
            self.settle(h);
        }
    }

    /// RFC 4987 §3.6: answer the SYN with a cookie SYN-ACK, keeping nothing.
    fn send_cookie(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &SegmentRef<'_>,
    ) -> Result<(), DropReason> {
        let port = tuple.local.port();
        let (_, config) = self
            .listeners
            .owner_config(port)
            .ok_or(DropReason::TcpNoConnection)?;
        let config = self.for_family(self.pressure_config(config), tuple.local.ip());
        let peer_mss = seg.options.mss.unwrap_or(536); // MUST-15
        let (iss, mss) = self.cookies.encode(now, tuple, seg.seq, peer_mss);
        let syn_ack = Connection::cookie_syn_ack(now, tuple, iss, mss, seg, config)
            .ok_or(DropReason::TcpQueueFull)?;
        log::debug!("{tuple} SYN queue full: cookie {syn_ack}");
        self.control.push_back((tuple, syn_ack));
        self.counters.syn_cookies_sent += 1;
        self.listeners.cookie_sent(port, now);
        Ok(())
    }

    /// An ACK (SYN and RST clear) for `tuple`, which has no connection: a cookie, if its
    /// listener sent cookies lately. `None` when it is not one (the caller answers with a
    /// RST).
    pub(super) fn on_cookie_ack(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &SegmentRef<'_>,
    ) -> Option<Result<(), DropReason>> {
        let port = tuple.local.port();
        if !self.listeners.cookies_recent(port, now) {
            return None;
        }
        let Some(mss) = self.cookies.decode(now, tuple, seg.seq, seg.ack) else {
            log::debug!("{tuple} not a valid cookie: {seg}");
            self.counters.syn_cookies_failed += 1;
            return None;
        };
        if !self.listeners.accept_queue_has_room(port)? {
            self.counters.syn_backlog_drops += 1;
            return Some(Err(DropReason::TcpQueueFull));
        }
        if let Err(refused) = self.admits_new(tuple.remote.ip()) {
            return Some(Err(refused));
        }
        let (window_scale, sack_permitted) = seg
            .options
            .timestamps
            .map_or((None, false), |(_, ecr)| cookie_decode_ts(ecr));
        let opts = CookieOptions {
            mss,
            window_scale,
            sack_permitted,
            timestamps: seg.options.timestamps.is_some(),
        };
        let (owner, config) = self.listeners.owner_config(port)?;
        let config = self.for_family(self.pressure_config(config), tuple.local.ip());
        let Some(conn) = Connection::accept_cookie(now, tuple, seg.ack - 1u32, opts, seg, config)
        else {
            self.counters.syn_cookies_failed += 1;
            return None;
        };
        log::debug!("{tuple} valid cookie: established, mss {mss}");
        self.counters.syn_cookies_validated += 1;
        self.counters.passive_opens += 1;
        self.insert(conn, owner, Some(port));
        Some(Ok(()))
    }
}
