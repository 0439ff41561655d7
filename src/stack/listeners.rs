//! Listeners (passive OPENs, RFC 9293 §3.9.1.1) with their SYN and accept queues.
//!
//! A SYN to a listening port is admitted while the listener's SYN-RECEIVED connections and
//! the accept queue together stay under its backlog; beyond it the SYN is dropped and
//! counted (the peer retransmits). A connection that completes its handshake joins the
//! accept queue and the listener's owner is told; until `accept` takes it, its other events
//! are held in its slot.

use super::sockets::{Owner, SocketHandle};
use crate::tcp::{self, Event, State};
use crate::wire::DropReason;
use std::collections::{HashMap, VecDeque};

struct Listener {
    owner: Owner,
    backlog: usize,
    /// For accepted connections (the stack default unless the service gave its own).
    config: tcp::Config,
    /// Connections in SYN-RECEIVED: the SYN queue.
    syn_received: usize,
    /// Connections established and not yet accepted, oldest first.
    accept_queue: VecDeque<SocketHandle>,
}

/// A listener as shown by `ss`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerInfo {
    /// The listening port.
    pub port: u16,
    /// Connections in SYN-RECEIVED plus those waiting for `accept`, at most.
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
            syn_received: 0,
            accept_queue: VecDeque::new(),
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

    /// A SYN for `port`: `None` if nothing listens there; else the owner and configuration
    /// of the new connection, which takes a place in the SYN queue, or a drop when the
    /// queues are full.
    pub(super) fn admit_syn(
        &mut self,
        port: u16,
    ) -> Option<Result<(Owner, tcp::Config), DropReason>> {
        let l = self.by_port.get_mut(&port)?;
        if l.syn_received + l.accept_queue.len() >= l.backlog {
            return Some(Err(DropReason::TcpQueueFull));
        }
        l.syn_received += 1;
        Some(Ok((l.owner, l.config.clone())))
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
                l.syn_received = l.syn_received.saturating_sub(1);
                l.accept_queue.push_back(h);
                return Some(l.owner);
            }
            (Event::Closed(_), Some(l)) => {
                if state == State::Closed && !l.accept_queue.contains(&h) {
                    l.syn_received = l.syn_received.saturating_sub(1);
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

    /// `h`, removed, leaves `port`'s accept queue.
    pub(super) fn forget(&mut self, port: u16, h: SocketHandle) {
        if let Some(l) = self.by_port.get_mut(&port) {
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
                syn_received: l.syn_received,
                accept_queue: l.accept_queue.len(),
            })
            .collect();
        v.sort_by_key(|l| l.port);
        v
    }
}
