//! The async API's waker table: which task waits for what, woken by the packet loop.
//!
//! A task registers its waker under the stack's lock, right after a call found nothing to do
//! (no data, no room, no connection), so no event can slip in between the try and the
//! registration: the loop holds the same lock for its whole turn. The loop's [`ApiApp`]
//! hands every event of the API's sockets to [`Wakers::on_event`], which wakes the one task
//! waiting for that kind of progress on that socket and forgets its waker (a task is woken
//! once per registration, never for an event that is not its own).
//!
//! [`ApiApp`]: super::ApiApp

#![cfg_attr(not(feature = "tokio"), allow(dead_code))]

use crate::stack::{SocketHandle, TcpEvent, UdpEvent, UdpHandle};
use crate::tcp::Event;
use std::collections::HashMap;
use std::task::Waker;

/// Who waits for what.
#[derive(Default)]
pub(crate) struct Wakers {
    /// Reading a stream: data, the peer's FIN, or the end of the connection.
    read: HashMap<SocketHandle, Waker>,
    /// Writing a stream or waiting for its handshake: room in the send buffer (the peer's
    /// window opened and ACKs freed it), ESTABLISHED, or the end of the connection.
    write: HashMap<SocketHandle, Waker>,
    /// Accepting on a port: a connection completed its handshake.
    accept: HashMap<u16, Waker>,
    /// Receiving on a UDP socket: a datagram or an ICMP error.
    udp_recv: HashMap<UdpHandle, Waker>,
    /// Sending UDP while the link queue was full: the next turn drains it.
    udp_send: Vec<Waker>,
    /// Wakes so far (for tests and the summary).
    woken: u64,
}

impl Wakers {
    pub(crate) fn register_read(&mut self, h: SocketHandle, waker: &Waker) {
        set(self.read.entry(h).or_insert_with(|| waker.clone()), waker);
    }

    pub(crate) fn register_write(&mut self, h: SocketHandle, waker: &Waker) {
        set(self.write.entry(h).or_insert_with(|| waker.clone()), waker);
    }

    pub(crate) fn register_accept(&mut self, port: u16, waker: &Waker) {
        set(
            self.accept.entry(port).or_insert_with(|| waker.clone()),
            waker,
        );
    }

    pub(crate) fn register_udp_recv(&mut self, h: UdpHandle, waker: &Waker) {
        set(
            self.udp_recv.entry(h).or_insert_with(|| waker.clone()),
            waker,
        );
    }

    pub(crate) fn register_udp_send(&mut self, waker: &Waker) {
        if !self.udp_send.iter().any(|w| w.will_wake(waker)) {
            self.udp_send.push(waker.clone());
        }
    }

    /// Forgets the wakers of a stream that is dropped.
    pub(crate) fn forget_stream(&mut self, h: SocketHandle) {
        self.read.remove(&h);
        self.write.remove(&h);
    }

    /// Forgets the waker of a listener that is dropped.
    pub(crate) fn forget_accept(&mut self, port: u16) {
        self.accept.remove(&port);
    }

    /// Forgets the waker of a UDP socket that is dropped.
    pub(crate) fn forget_udp(&mut self, h: UdpHandle) {
        self.udp_recv.remove(&h);
    }

    /// Wakes so far.
    pub(crate) fn woken(&self) -> u64 {
        self.woken
    }

    fn wake(&mut self, waker: Option<Waker>) {
        if let Some(w) = waker {
            self.woken += 1;
            w.wake();
        }
    }

    /// One event of the API's sockets: wakes the task waiting for it, if any.
    pub(crate) fn on_event(&mut self, event: TcpEvent) {
        match event {
            TcpEvent::Incoming { port } => {
                let w = self.accept.remove(&port);
                self.wake(w);
            }
            TcpEvent::Connection { handle, event } => match event {
                Event::Readable | Event::PeerClosed | Event::Urgent => {
                    let w = self.read.remove(&handle);
                    self.wake(w);
                }
                Event::Writable | Event::Connected => {
                    let w = self.write.remove(&handle);
                    self.wake(w);
                }
                Event::Closed(_) => {
                    let (r, w) = (self.read.remove(&handle), self.write.remove(&handle));
                    self.wake(r);
                    self.wake(w);
                }
                Event::SoftError(_) | Event::RetransmitThreshold => {}
            },
            TcpEvent::Udp {
                handle,
                event: UdpEvent::Readable | UdpEvent::Error,
            } => {
                let w = self.udp_recv.remove(&handle);
                self.wake(w);
            }
        }
    }

    /// End of a loop turn: the link queue has been drained, so UDP senders that found it
    /// full can go on.
    pub(crate) fn on_turn(&mut self) {
        for w in std::mem::take(&mut self.udp_send) {
            self.woken += 1;
            w.wake();
        }
    }

    /// The loop stopped: every waiting task learns it on its next poll.
    pub(crate) fn wake_all(&mut self) {
        let all: Vec<Waker> = self
            .read
            .drain()
            .chain(self.write.drain())
            .map(|(_, w)| w)
            .chain(self.accept.drain().map(|(_, w)| w))
            .chain(self.udp_recv.drain().map(|(_, w)| w))
            .chain(self.udp_send.drain(..))
            .collect();
        for w in all {
            self.woken += 1;
            w.wake();
        }
    }
}

/// Keeps the newest waker of a task (a task may move between threads).
fn set(slot: &mut Waker, waker: &Waker) {
    if !slot.will_wake(waker) {
        slot.clone_from(waker);
    }
}
