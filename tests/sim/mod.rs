//! A deterministic two-host simulator: two of our `Stack`s (198.18.0.1 "kernel side" and
//! 198.18.0.2) joined by `link::Memory`, each end wrapped in `link::Faults`, on one simulated
//! clock that jumps to the next event (a delivery or a deadline). Bounded in steps.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use tunstack::link::{FaultSpec, Faults, Link, Memory};
use tunstack::stack::{Stack, StackConfig, StackEvent};
use tunstack::time::{Duration, Instant};

pub const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

pub struct Host {
    pub stack: Stack,
    pub link: Faults<Memory>,
    pub events: Vec<StackEvent>,
    /// Every packet this host sent, for assertions.
    pub sent: Vec<Vec<u8>>,
    pub record: bool,
}

pub struct Sim {
    pub a: Host,
    pub b: Host,
    pub now: Instant,
    buf: Vec<u8>,
}

pub fn config(addr: Ipv4Addr) -> StackConfig {
    let mut secret = [7u8; 16];
    secret[0] = addr.octets()[3];
    StackConfig {
        addr,
        isn_secret: secret,
        ..StackConfig::default()
    }
}

impl Sim {
    /// Two hosts; `faults` sits on A's end of the wire: `rx` is the B → A direction, `tx` the
    /// A → B direction (B's end is clean, so each direction sees its faults once).
    pub fn new(a: StackConfig, b: StackConfig, faults: FaultSpec) -> Sim {
        let (la, lb) = Memory::pair();
        let host = |config, link| Host {
            stack: Stack::new(config),
            link,
            events: Vec::new(),
            sent: Vec::new(),
            record: false,
        };
        Sim {
            a: host(a, Faults::new(la, faults)),
            b: host(b, Faults::new(lb, FaultSpec::default())),
            now: Instant::from_secs(1),
            buf: vec![0; 65_535],
        }
    }

    pub fn clean() -> Sim {
        Sim::new(config(A), config(B), FaultSpec::default())
    }

    /// Moves packets and fires due timers at the current time until nothing moves.
    /// Returns whether anything happened.
    pub fn settle(&mut self) -> bool {
        let mut any = false;
        for _ in 0..10_000 {
            let mut moved = false;
            for host in [&mut self.a, &mut self.b] {
                if host.stack.poll_timeout().is_some_and(|t| t <= self.now) {
                    host.stack.handle_timeout(self.now);
                    moved = true;
                }
                while let Some(n) = host
                    .link
                    .recv(self.now, &mut self.buf)
                    .unwrap()
                    .map(|d| d.len)
                {
                    host.stack.handle_packet(self.now, &self.buf[..n]);
                    moved = true;
                }
                while let Some(n) = host.stack.poll_transmit(self.now, &mut self.buf) {
                    if host.record {
                        host.sent.push(self.buf[..n].to_vec());
                    }
                    host.link.send_plain(self.now, &self.buf[..n]).unwrap();
                    moved = true;
                }
                host.link.flush(self.now).unwrap();
                while let Some(e) = host.stack.poll_event() {
                    host.events.push(e);
                    moved = true;
                }
            }
            if !moved {
                return any;
            }
            any = true;
        }
        panic!("simulation did not settle at {}", self.now);
    }

    /// The next time anything is due.
    pub fn next_event(&self) -> Option<Instant> {
        [&self.a, &self.b]
            .iter()
            .flat_map(|h| [h.stack.poll_timeout(), h.link.poll_at()])
            .flatten()
            .min()
    }

    /// Settles, then jumps to the next event, until `done` or `limit` of simulated time.
    /// Returns false if the limit was reached first.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let end = self.now + limit;
        for _ in 0..10_000_000 {
            self.settle();
            if done(self) {
                return true;
            }
            match self.next_event() {
                Some(t) if t <= end => self.now = t.max(self.now),
                _ => return false,
            }
        }
        panic!("simulation exceeded its step bound");
    }

    /// Advances the clock by `d`, processing everything on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(d, |s| s.next_event().is_none_or(|t| t > end));
        self.now = end;
        self.settle();
    }
}
