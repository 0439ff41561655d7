//! Listeners (passive OPENs, RFC 9293 §3.9.1.1) with their SYN and accept queues.
//!
//! Each queue holds at most the listener's backlog, as in Linux. A SYN finds one of three
//! things (see [`Admission`]): room in the SYN queue (a connection in SYN-RECEIVED takes a
//! place), a full SYN queue (the stack evicts the oldest half-open connection that already
//! had a SYN-ACK retransmitted, or answers with a SYN cookie, RFC 4987 §3.6), or a full
//! accept queue (the SYN is dropped and counted; the peer retransmits). A connection that
//! completes its handshake joins the accept queue and the listener's owner is told; until
//! `accept` takes it, its other events are held in its slot.

use super::sockets::{Owner, SocketHandle};
use crate::tcp::{self, Event, State};
use crate::time::{Duration, Instant};
use std::collections::{HashMap, HashSet, VecDeque};

/// How long after its last cookie a listener checks ACKs as cookies: a cookie stays valid
/// for up to two ticks of the cookie clock (`tcp::SynCookies`).
const COOKIE_WINDOW: Duration = Duration::from_secs(128);

struct Listener {
    owner: Owner,
    backlog: usize,
    /// For accepted connections (the stack default unless the service gave its own).
    config: tcp::Config,
    /// Connections in SYN-RECEIVED: the SYN queue.
    half_open: HashSet<SocketHandle>,
    /// The SYN queue's handles, oldest first; entries that left `half_open` are skipped.
    order: VecDeque<SocketHandle>,
    /// Connections established and not yet accepted, oldest first.
    accept_queue: VecDeque<SocketHandle>,
    /// When this listener last answered a SYN with a cookie.
    cookie_sent_at: Option<Instant>,
}

/// What a SYN for a listening port finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Room in the SYN queue.
    Room,
    /// The SYN queue is full; its oldest entry, if any.
    SynQueueFull(Option<SocketHandle>),
    /// The accept queue is full: drop the SYN.
    AcceptQueueFull,
}

/// A listener as shown by `ss`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerInfo {
    /// The listening port.
    pub port: u16,
    /// The SYN queue and the accept queue hold this many each, at most.
    pub backlog: usize,
    /// Connections in SYN-RECEIVED now (the SYN queue).
    pub syn_received: usize,
    /// Connections established and not yet accepted.
    pub accept_queue: usize,
}

/// Every listener, by port.
#[derive(Default)]
pub(super) struct Listeners {
    by_port: HashMap<u16, Listener>,
}

impl Listeners {
    pub(super) fn contains(&self, port: u16) -> bool {
        self.by_port.contains_key(&port)
    }

    /// Listens on `port`, which has no listener yet.
    pub(super) fn insert(&mut self, port: u16, backlog: usize, config: tcp::Config, owner: Owner) {
        debug_assert!(!self.contains(port), "port {port} has a listener");
        let listener = Listener {
            owner,
            backlog: backlog.max(1),
            config,
            half_open: HashSet::new(),
            order: VecDeque::new(),
            accept_queue: VecDeque::new(),
            cookie_sent_at: None,
        };
        self.by_port.insert(port, listener);
    }

    /// Stops listening on `port` (false if nothing listened there).
    pub(super) fn remove(&mut self, port: u16) -> bool {
        self.by_port.remove(&port).is_some()
    }

    /// The oldest connection in `port`'s accept queue.
    pub(super) fn pop_accepted(&mut self, port: u16) -> Option<SocketHandle> {
        self.by_port.get_mut(&port)?.accept_queue.pop_front()
    }

    /// The owner and configuration of connections accepted on `port`.
    pub(super) fn owner_config(&self, port: u16) -> Option<(Owner, tcp::Config)> {
        let l = self.by_port.get(&port)?;
        Some((l.owner, l.config.clone()))
    }

    /// What a SYN for `port` finds; `None` if nothing listens there.
    pub(super) fn admit_syn(&mut self, port: u16) -> Option<Admission> {
        let l = self.by_port.get_mut(&port)?;
        if l.accept_queue.len() >= l.backlog {
            return Some(Admission::AcceptQueueFull);
        }
        if l.half_open.len() < l.backlog {
            return Some(Admission::Room);
        }
        while let Some(&h) = l.order.front() {
            if l.half_open.contains(&h) {
                return Some(Admission::SynQueueFull(Some(h)));
            }
            l.order.pop_front();
        }
        Some(Admission::SynQueueFull(None))
    }

    /// Whether a completed handshake (a cookie ACK) finds room in `port`'s accept queue;
    /// `None` if nothing listens there.
    pub(super) fn accept_queue_has_room(&self, port: u16) -> Option<bool> {
        let l = self.by_port.get(&port)?;
        Some(l.accept_queue.len() < l.backlog)
    }

    /// `h`, a new connection in SYN-RECEIVED, takes its place in `port`'s SYN queue.
    pub(super) fn add_half_open(&mut self, port: u16, h: SocketHandle) {
        if let Some(l) = self.by_port.get_mut(&port) {
            l.half_open.insert(h);
            l.order.push_back(h);
            if l.order.len() > 2 * l.half_open.len() + 64 {
                let half_open = &l.half_open;
                l.order.retain(|h| half_open.contains(h));
            }
        }
    }

    /// `port` answered a SYN with a cookie at `now`.
    pub(super) fn cookie_sent(&mut self, port: u16, now: Instant) {
        if let Some(l) = self.by_port.get_mut(&port) {
            l.cookie_sent_at = Some(now);
        }
    }

    /// Whether `port` sent cookies recently enough that an ACK may carry one.
    pub(super) fn cookies_recent(&self, port: u16, now: Instant) -> bool {
        self.by_port
            .get(&port)
            .and_then(|l| l.cookie_sent_at)
            .is_some_and(|at| now.saturating_duration_since(at) <= COOKIE_WINDOW)
    }

    /// An event of connection `h`, not yet accepted on `port` (now in `state`). A completed
    /// handshake moves it from the SYN queue to the accept queue and returns the owner to
    /// tell; a connection closed in SYN-RECEIVED leaves the SYN queue; any other event is
    /// held for `accept` in `held` (once).
    pub(super) fn on_event(
        &mut self,
        port: u16,
        h: SocketHandle,
        event: Event,
        state: State,
        held: &mut Vec<Event>,
    ) -> Option<Owner> {
        match (event, self.by_port.get_mut(&port)) {
            (Event::Connected, Some(l)) => {
                l.half_open.remove(&h);
                l.accept_queue.push_back(h);
                return Some(l.owner);
            }
            (Event::Closed(_), Some(l)) => {
                if state == State::Closed {
                    l.half_open.remove(&h);
                }
            }
            _ => {
                if !held.contains(&event) {
                    held.push(event);
                }
            }
        }
        None
    }

    /// `h`, removed, leaves `port`'s queues.
    pub(super) fn forget(&mut self, port: u16, h: SocketHandle) {
        if let Some(l) = self.by_port.get_mut(&port) {
            l.half_open.remove(&h);
            l.accept_queue.retain(|&x| x != h);
        }
    }

    /// Every listener, by port, for `ss`.
    pub(super) fn info(&self) -> Vec<ListenerInfo> {
        let mut v: Vec<_> = self
            .by_port
            .iter()
            .map(|(&port, l)| ListenerInfo {
                port,
                backlog: l.backlog,
                syn_received: l.half_open.len(),
                accept_queue: l.accept_queue.len(),
            })
            .collect();
        v.sort_by_key(|l| l.port);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SYN queue and the accept queue are bounded separately; the oldest half-open
    /// entry still in the queue is the one offered for eviction.
    #[test]
    fn syn_queue_full_names_its_oldest_entry() {
        let mut l = Listeners::default();
        l.insert(80, 2, tcp::Config::default(), 0);
        let (a, b, c) = (
            SocketHandle::for_test(0, 0),
            SocketHandle::for_test(1, 0),
            SocketHandle::for_test(2, 0),
        );
        assert_eq!(l.admit_syn(80), Some(Admission::Room));
        l.add_half_open(80, a);
        l.add_half_open(80, b);
        assert_eq!(l.admit_syn(80), Some(Admission::SynQueueFull(Some(a))));
        let mut held = Vec::new();
        l.on_event(80, a, Event::Connected, State::Established, &mut held);
        assert_eq!(l.admit_syn(80), Some(Admission::Room));
        l.add_half_open(80, c);
        assert_eq!(l.admit_syn(80), Some(Admission::SynQueueFull(Some(b))));
        l.forget(80, b);
        l.on_event(80, c, Event::Connected, State::Established, &mut held);
        assert_eq!(l.admit_syn(80), Some(Admission::AcceptQueueFull));
        assert_eq!(l.accept_queue_has_room(80), Some(false));
        assert_eq!(l.admit_syn(81), None);
    }
}
