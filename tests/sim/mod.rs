//! A deterministic two-host simulator: two of our `Stack`s (198.18.0.1 "kernel side" and
//! 198.18.0.2) joined by `link::Memory`, each end wrapped in `link::Faults`, on one simulated
//! clock that jumps to the next event (a delivery or a deadline). Bounded in steps.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use tunstack::link::{FaultSpec, Faults, Memory};
use tunstack::stack::{Stack, StackConfig, StackEvent};
use tunstack::time::{Duration, Instant};

#[path = "../support/mod.rs"]
pub mod support;

use support::clock::{self, AtLimit, Endpoint, Schedule, World};
use support::endpoints::{StackEnd, Way};

pub const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

pub struct Host {
    pub stack: Stack,
    pub link: Faults<Memory>,
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
            buf: vec![0; 65_535],
        };
        Sim {
            a: host(a, Faults::new(la, faults)),
            b: host(b, Faults::new(lb, FaultSpec::default())),
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

impl Host {
    fn end(&mut self) -> StackEnd<'_, Faults<Memory>, impl FnMut(Way, Instant, &[u8])> {
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
