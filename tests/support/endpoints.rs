//! The endpoints the clock drives. Each is a view over a world's fields, made for one poll,
//! so that the tests keep reaching `sim.a.stack`, `x.iface` or `p.a` directly.

use smoltcp::iface::{Interface, SocketSet};
use tunstack::link::Link;
use tunstack::stack::{Stack, StackEvent};
use tunstack::tcp::{Connection, Event, Segment};
use tunstack::time::{Duration, Instant};

use super::clock::Endpoint;
use super::smoltcp_device::{SmolPipe, from_s, s_now};

/// Which way a packet went through a tapped endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    In,
    Out,
}

/// Our `Stack` on a link. Each poll: the timers due, every packet in, every packet out,
/// the link's held packets due, every event; `tap` sees each packet in and out.
pub struct StackEnd<'a, L, T> {
    pub stack: &'a mut Stack,
    pub link: &'a mut L,
    pub buf: &'a mut [u8],
    pub events: &'a mut Vec<StackEvent>,
    pub tap: T,
}

impl<L: Link, T: FnMut(Way, Instant, &[u8])> Endpoint for StackEnd<'_, L, T> {
    fn poll(&mut self, now: Instant) -> bool {
        let mut moved = false;
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
            moved = true;
        }
        // Descriptors both ways: plain packets, or (with `StackConfig::tso`) super-segments
        // for a link that splits them as the kernel would.
        while let Some(desc) = self.link.recv(now, self.buf).expect("link") {
            (self.tap)(Way::In, now, &self.buf[..desc.len]);
            self.stack.handle_packet_desc(now, self.buf, desc);
            moved = true;
        }
        while let Some(desc) = self.stack.poll_transmit_desc(now, self.buf) {
            (self.tap)(Way::Out, now, &self.buf[..desc.len]);
            self.link
                .send(now, &self.buf[..desc.len], desc)
                .expect("link");
            moved = true;
        }
        self.link.flush(now).expect("link");
        while let Some(e) = self.stack.poll_event() {
            self.events.push(e);
            moved = true;
        }
        moved
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        Instant::min_opt(self.stack.poll_timeout(), self.link.poll_at())
    }
}

/// Our bare `Connection`; `out` takes each segment it sends (onto a simulated wire, into a
/// list to check).
pub struct ConnectionEnd<'a, F> {
    pub conn: &'a mut Connection,
    pub events: &'a mut Vec<Event>,
    pub out: F,
}

impl<F: FnMut(Instant, Segment)> ConnectionEnd<'_, F> {
    /// Every segment and every event the connection has queued.
    pub fn drain(&mut self, now: Instant) -> bool {
        let mut moved = false;
        while let Some(seg) = self.conn.poll_transmit(now) {
            (self.out)(now, seg);
            moved = true;
        }
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
            moved = true;
        }
        moved
    }
}

impl<F: FnMut(Instant, Segment)> Endpoint for ConnectionEnd<'_, F> {
    fn poll(&mut self, now: Instant) -> bool {
        let mut fired = false;
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
            fired = true;
        }
        self.drain(now) || fired
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.conn.poll_timeout()
    }
}

/// smoltcp's `Interface` and sockets on one end of a [`SmolPipe`]. smoltcp may ask to be
/// polled now for work it then declines to do: its deadline is taken no earlier than
/// `min_wait` from now.
pub struct SmolEnd<'a> {
    pub iface: &'a mut Interface,
    pub sockets: &'a mut SocketSet<'static>,
    pub dev: &'a mut SmolPipe,
    pub min_wait: Duration,
}

impl Endpoint for SmolEnd<'_> {
    fn poll(&mut self, now: Instant) -> bool {
        let before = (self.dev.pending(), self.dev.in_flight());
        self.iface.poll(s_now(now), self.dev, self.sockets);
        (self.dev.pending(), self.dev.in_flight()) != before
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface
            .poll_at(s_now(now), self.sockets)
            .map(|t| from_s(t).max(now + self.min_wait))
    }
}
