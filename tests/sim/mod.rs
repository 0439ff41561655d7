//! A deterministic two-host simulator: two of our `Stack`s, A (198.18.0.1 and 2001:2::1, the
//! "kernel side") and B (198.18.0.2 and 2001:2::2), dual-stack, joined by `link::Memory`, each
//! end wrapped in `link::Faults` over a [`Bottleneck`], on one simulated clock that jumps to
//! the next event (a delivery or a deadline). Bounded in steps.

#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tunstack::link::{FaultSpec, Faults, Link, Memory, PacketDesc};
use tunstack::stack::{SocketHandle, Stack, StackConfig, StackEvent, TcpEvent};
use tunstack::tcp::State;
use tunstack::time::{Duration, Instant};

#[path = "../support/mod.rs"]
pub mod support;

use support::clock::{self, AtLimit, Endpoint, Schedule, World};
use support::endpoints::{StackEnd, Way};

pub const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// A's IPv6 address (2001:2::/48 is RFC 5180's benchmarking prefix, as 198.18.0.0/15 is
/// RFC 2544's).
pub const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
/// B's IPv6 address.
pub const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

/// The IPv6 address of the host whose IPv4 address is `addr`: 198.18.0.x is 2001:2::x.
pub fn ipv6_of(addr: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, u16::from(addr.octets()[3]))
}

/// A narrow link on the path (RFC 8201's router with a smaller MTU): while `mtu` is set,
/// packets this end puts on the wire that are larger are dropped and kept in `dropped`. It
/// sits under `Faults`, so packets held back by a delay meet it when they reach the wire.
/// Off by default: then it is the bare wire.
pub struct Bottleneck<L> {
    inner: L,
    pub mtu: Option<usize>,
    pub dropped: Vec<Vec<u8>>,
}

impl<L: Link> Link for Bottleneck<L> {
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<PacketDesc>> {
        self.inner.recv(now, buf)
    }

    fn send(&mut self, now: Instant, packet: &[u8], desc: PacketDesc) -> io::Result<()> {
        if self.mtu.is_some_and(|mtu| packet.len() > mtu) {
            self.dropped.push(packet.to_vec());
            return Ok(());
        }
        self.inner.send(now, packet, desc)
    }

    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }

    fn flush(&mut self, now: Instant) -> io::Result<()> {
        self.inner.flush(now)
    }
}

/// A host's end of the wire: the faults over the narrow link over the memory wire.
pub type HostLink = Faults<Bottleneck<Memory>>;

pub struct Host {
    pub stack: Stack,
    pub link: HostLink,
    pub events: Vec<StackEvent>,
    /// Every packet this host sent, for assertions.
    pub sent: Vec<Vec<u8>>,
    pub record: bool,
    buf: Vec<u8>,
}

pub struct Sim {
    pub a: Host,
    pub b: Host,
    pub now: Instant,
    steps: u64,
}

/// The configuration of the host at `addr`, with its IPv6 address ([`ipv6_of`]).
pub fn config(addr: Ipv4Addr) -> StackConfig {
    let mut secret = [7u8; 16];
    secret[0] = addr.octets()[3];
    StackConfig {
        addr,
        addr6: Some(ipv6_of(addr)),
        isn_secret: secret,
        ..StackConfig::default()
    }
}

impl Sim {
    /// Two hosts; `faults` sits on A's end of the wire: `rx` is the B → A direction, `tx` the
    /// A → B direction (B's end is clean, so each direction sees its faults once).
    pub fn new(a: StackConfig, b: StackConfig, faults: FaultSpec) -> Sim {
        let (la, lb) = Memory::pair();
        let bottleneck = |inner| Bottleneck {
            inner,
            mtu: None,
            dropped: Vec::new(),
        };
        let host = |config, link| Host {
            stack: Stack::new(config),
            link,
            events: Vec::new(),
            sent: Vec::new(),
            record: false,
            buf: vec![0; 65_535],
        };
        Sim {
            a: host(a, Faults::new(bottleneck(la), faults)),
            b: host(b, Faults::new(bottleneck(lb), FaultSpec::default())),
            now: Instant::from_secs(1),
            steps: 0,
        }
    }

    pub fn clean() -> Sim {
        Sim::new(config(A), config(B), FaultSpec::default())
    }

    /// Moves packets and fires due timers at the current time until nothing moves.
    /// Returns whether anything happened.
    pub fn settle(&mut self) -> bool {
        clock::settle(self)
    }

    /// The next time anything is due.
    pub fn next_event(&mut self) -> Option<Instant> {
        let now = self.now;
        self.poll_at(now)
    }

    /// Settles, then jumps to the next event, until `done` or `limit` of simulated time.
    /// Returns false if the limit was reached first.
    pub fn run_until(&mut self, limit: Duration, done: impl FnMut(&mut Sim) -> bool) -> bool {
        clock::run_until(self, limit, done)
    }

    /// Advances the clock by `d`, processing everything on the way.
    pub fn advance(&mut self, d: Duration) {
        clock::advance(self, d);
    }
}

impl Sim {
    /// A connected pair: A connects to `server` (B's address of either family) at `port`,
    /// where B listens (from the first call on). Returns (client, server) handles.
    pub fn connect(
        &mut self,
        server: impl Into<IpAddr>,
        port: u16,
    ) -> (SocketHandle, SocketHandle) {
        if self
            .b
            .stack
            .tcp()
            .listeners()
            .iter()
            .all(|l| l.port != port)
        {
            self.b.stack.tcp_mut().listen(port, 16, None, 0).unwrap();
        }
        let now = self.now;
        let c = self
            .a
            .stack
            .tcp_mut()
            .connect(now, SocketAddr::new(server.into(), port), None, 0)
            .unwrap();
        assert!(self.run_until(Duration::from_secs(5), |s| {
            s.b.events
                .iter()
                .any(|e| e.event == TcpEvent::Incoming { port })
        }));
        let s = self
            .b
            .stack
            .tcp_mut()
            .accept(port)
            .expect("a connection to accept");
        (c, s)
    }

    /// `len` bytes each way over the pair (c on A, s on B), each side closing once all it
    /// has is queued; asserts that both arrive byte-exact within `limit` and that both
    /// sides close (A in TIME-WAIT or gone, B gone). Returns what (A, B) received.
    pub fn transfer(
        &mut self,
        c: SocketHandle,
        s: SocketHandle,
        len: usize,
        limit: Duration,
    ) -> (Vec<u8>, Vec<u8>) {
        self.transfer_with(c, s, len, limit, |_| {})
    }

    /// [`Sim::transfer`], calling `during` at every step, after the applications' turn
    /// (a test injects packets or narrows the path from there).
    pub fn transfer_with(
        &mut self,
        c: SocketHandle,
        s: SocketHandle,
        len: usize,
        limit: Duration,
        mut during: impl FnMut(&mut Sim),
    ) -> (Vec<u8>, Vec<u8>) {
        let a_data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let b_data: Vec<u8> = (0..len).map(|i| (i * 17 % 253) as u8).collect();
        let (mut a_sent, mut b_sent) = (0, 0);
        let (mut a_got, mut b_got) = (Vec::new(), Vec::new());
        let mut buf = vec![0u8; 65536];
        let ok = self.run_until(limit, |sim| {
            if a_sent < len {
                a_sent += sim
                    .a
                    .stack
                    .tcp_mut()
                    .send(c, &a_data[a_sent..])
                    .unwrap_or(0);
                if a_sent == len {
                    sim.a.stack.tcp_mut().close(c).unwrap();
                }
            }
            if b_sent < len {
                b_sent += sim
                    .b
                    .stack
                    .tcp_mut()
                    .send(s, &b_data[b_sent..])
                    .unwrap_or(0);
                if b_sent == len {
                    sim.b.stack.tcp_mut().close(s).unwrap();
                }
            }
            while let Ok(n) = sim.a.stack.tcp_mut().recv(c, &mut buf) {
                if n == 0 {
                    break;
                }
                a_got.extend_from_slice(&buf[..n]);
            }
            while let Ok(n) = sim.b.stack.tcp_mut().recv(s, &mut buf) {
                if n == 0 {
                    break;
                }
                b_got.extend_from_slice(&buf[..n]);
            }
            during(sim);
            sim.settle();
            a_got.len() == len
                && b_got.len() == len
                && sim
                    .a
                    .stack
                    .tcp()
                    .connection(c)
                    .is_none_or(|x| x.state() == State::TimeWait)
                && sim.b.stack.tcp().connection(s).is_none()
        });
        assert!(
            ok,
            "transfer did not finish: a got {} b got {}\na: {:?}\nb: {:?}",
            a_got.len(),
            b_got.len(),
            self.a.stack.tcp().connection(c).map(|x| x.stats()),
            self.b.stack.tcp().connection(s).map(|x| x.stats()),
        );
        assert!(a_got == b_data, "A received B's bytes exactly");
        assert!(b_got == a_data, "B received A's bytes exactly");
        (a_got, b_got)
    }
}

impl Host {
    fn end(&mut self) -> StackEnd<'_, HostLink, impl FnMut(Way, Instant, &[u8])> {
        let (record, sent) = (self.record, &mut self.sent);
        StackEnd {
            stack: &mut self.stack,
            link: &mut self.link,
            buf: &mut self.buf,
            events: &mut self.events,
            tap: move |way, _, packet: &[u8]| {
                if record && way == Way::Out {
                    sent.push(packet.to_vec());
                }
            },
        }
    }
}

/// Host A's turn, then B's, at every instant; an application's output (queued from `done`)
/// leaves with the next event.
impl World for Sim {
    fn now(&mut self) -> &mut Instant {
        &mut self.now
    }

    fn steps(&mut self) -> &mut u64 {
        &mut self.steps
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            settle_after_done: false,
            at_limit: AtLimit::Stop,
            max_rounds: 10_000,
            ..Schedule::default()
        }
    }

    fn round(&mut self, now: Instant) -> bool {
        let a = self.a.end().poll(now);
        let b = self.b.end().poll(now);
        a || b
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        Instant::min_opt(self.a.end().poll_at(now), self.b.end().poll_at(now))
    }
}
