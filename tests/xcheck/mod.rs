//! The cross-check harness: our `Stack` (198.18.0.2) and a smoltcp `Interface` (198.18.0.1,
//! `Medium::Ip`), or over IPv6 ([`Family::V6`]) ours at 2001:2::2 and smoltcp at
//! 2001:2::1/64, joined by one `link::Memory` wire whose stack end is wrapped in
//! `link::Faults` (its `rx` side shapes smoltcp → us, its `tx` side us → smoltcp, so both
//! stacks see the same faulty wire), on one simulated clock that jumps to the next event:
//! our `poll_timeout`, smoltcp's `poll_at`, or the next held packet (`Faults::poll_at`).
//!
//! Every run is seeded (faults, our ISN secret, smoltcp's random seed) and bounded in steps.
//! Every packet handed to either stack (after the faults) is recorded in a pcap held in
//! memory; if the test panics, the capture is written to `target/xcheck/<test>.pcap` and the
//! last segments are printed in RFC notation. `docs/xcheck.md` is generated from the
//! `/// xcheck:` lines above each test and the outcomes they record (`outcome.rs`; see
//! `tests/xcheck_table.rs`).

#![allow(dead_code, unused_imports)]

mod outcome;
pub mod script;
mod tap;
mod transfer;

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle as SmolHandle, SocketSet};
use smoltcp::socket::tcp as stcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use tunstack::link::{DirectionFaults, FaultSpec, Faults, Link, Memory};
use tunstack::stack::{SocketHandle, Stack, StackConfig, StackEvent, TcpEvent};
use tunstack::tcp::{self, CloseReason, Event, Segment};
use tunstack::time::{Duration, Instant};

#[path = "../support/mod.rs"]
pub mod support;

pub use outcome::{Outcome, outcome};
use support::clock::{self, Endpoint, Schedule, World};
use support::endpoints::{SmolEnd, StackEnd, Way};
use support::smoltcp_device::SmolPipe;
pub use support::smoltcp_device::s_now;
pub use tap::{Dir, Record, Tap, parse_packet};
pub use transfer::{Transfer, pattern};

/// smoltcp's address (the "kernel side").
pub const SMOL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Our stack's address.
pub const OURS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// smoltcp's IPv6 address (2001:2::/48 is RFC 5180's benchmarking prefix).
pub const SMOL6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
/// Our stack's IPv6 address.
pub const OURS6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
/// The port smoltcp connects from.
pub const SMOL_PORT: u16 = 49_500;

/// Hard bound on clock jumps per run (an ACK war or a livelock fails instead of hanging).
const MAX_STEPS: u64 = 3_000_000;

/// smoltcp's congestion control for every socket the harness creates (the dev-dependency
/// enables smoltcp's `socket-tcp-reno` and `socket-tcp-cubic` features).
pub const SMOL_CONGESTION: stcp::CongestionControl = stcp::CongestionControl::Reno;

thread_local! {
    /// The simulated clock in milliseconds, for smoltcp's TSval generator (a plain `fn`).
    static CLOCK_MS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// smoltcp's TSval: the simulated clock in milliseconds.
fn smol_tsval() -> u32 {
    CLOCK_MS.with(|c| c.get())
}

/// Which side opens the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We connect, smoltcp listens.
    OursClient,
    /// smoltcp connects, we listen.
    SmolClient,
}

impl Role {
    pub const BOTH: [Role; 2] = [Role::OursClient, Role::SmolClient];
}

/// The network the two stacks talk over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// smoltcp at 198.18.0.1/24, ours at 198.18.0.2.
    V4,
    /// smoltcp at 2001:2::1/64, ours at 2001:2::2.
    V6,
}

impl Family {
    /// smoltcp's address.
    pub fn smol(self) -> IpAddr {
        match self {
            Family::V4 => SMOL.into(),
            Family::V6 => SMOL6.into(),
        }
    }

    /// Our address.
    pub fn ours(self) -> IpAddr {
        match self {
            Family::V4 => OURS.into(),
            Family::V6 => OURS6.into(),
        }
    }
}

/// One connection between the two stacks.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    pub ours: SocketHandle,
    pub smol: SmolHandle,
}

/// Harness settings.
#[derive(Clone, Debug)]
pub struct Setup {
    pub seed: u64,
    pub faults: FaultSpec,
    pub ours_mtu: usize,
    pub smol_mtu: usize,
    /// Our TCP defaults (MSL 1 s so TIME-WAIT is short).
    pub tcp: tcp::Config,
    /// smoltcp socket buffers (rx, tx).
    pub smol_buffers: (usize, usize),
    /// Give smoltcp a TSval generator (RFC 7323 timestamps; off by default in smoltcp).
    pub smol_timestamps: bool,
    /// IPv4 or IPv6 between the two.
    pub family: Family,
}

/// One-way delay of the wire (a 2 ms round trip), so that windows and ACK clocking matter.
pub const DELAY: Duration = Duration::from_millis(1);

/// Faults with the wire's delay and nothing else.
pub fn wire() -> DirectionFaults {
    DirectionFaults {
        delay: DELAY,
        ..DirectionFaults::default()
    }
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            seed: 1,
            faults: FaultSpec::symmetric(wire(), 1),
            ours_mtu: 1500,
            smol_mtu: 1500,
            tcp: tcp::Config {
                msl: Duration::from_secs(1),
                ..tcp::Config::default()
            },
            smol_buffers: (256 * 1024, 256 * 1024),
            smol_timestamps: false,
            family: Family::V4,
        }
    }
}

impl Setup {
    /// Symmetric faults at the given seed (add `..wire()` for the usual delay).
    pub fn faulty(faults: DirectionFaults, seed: u64) -> Setup {
        Setup {
            seed,
            faults: FaultSpec::symmetric(faults, seed),
            ..Setup::default()
        }
    }

    /// The same setup over IPv6.
    pub fn v6(self) -> Setup {
        Setup {
            family: Family::V6,
            ..self
        }
    }
}

/// The two stacks, the wire and the clock.
pub struct Xcheck {
    pub name: String,
    pub now: Instant,
    pub start: Instant,
    pub ours: Stack,
    /// Our end of the wire (the faults for both directions live here).
    pub link: Faults<Memory>,
    /// smoltcp's end of the wire, whose packets are handed to and taken from `wire`.
    smol_link: Memory,
    /// The harness's end of smoltcp's device.
    wire: SmolPipe,
    /// smoltcp's device.
    pub dev: SmolPipe,
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    pub events: Vec<StackEvent>,
    pub tap: Rc<RefCell<Tap>>,
    pub steps: u64,
    pub setup: Setup,
    buf: Vec<u8>,
}

impl Xcheck {
    /// A harness named after the running test (libtest names the thread after it).
    pub fn new(setup: Setup) -> Xcheck {
        let name = std::thread::current()
            .name()
            .unwrap_or("xcheck")
            .rsplit("::")
            .next()
            .unwrap_or("xcheck")
            .to_string();
        Xcheck::named(&name, setup)
    }

    pub fn named(name: &str, setup: Setup) -> Xcheck {
        let now = Instant::from_secs(1);
        let (ours_end, smol_end) = Memory::pair();
        let tap = Rc::new(RefCell::new(Tap::new()));
        let (mut dev, wire) = SmolPipe::pair(setup.smol_mtu);
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = setup.seed;
        let mut iface = Interface::new(config, &mut dev, s_now(now));
        iface.update_ip_addrs(|a| {
            let cidr = match setup.family {
                Family::V4 => IpCidr::new(IpAddress::Ipv4(SMOL), 24),
                Family::V6 => IpCidr::new(IpAddress::Ipv6(SMOL6), 64),
            };
            a.push(cidr).unwrap();
        });
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&setup.seed.to_le_bytes());
        secret[8] = 0x42;
        let ours = Stack::new(StackConfig {
            addr: OURS,
            addr6: Some(OURS6),
            mtu: setup.ours_mtu,
            tcp: setup.tcp.clone(),
            isn_secret: secret,
            ..StackConfig::default()
        });
        Xcheck {
            name: name.to_string(),
            now,
            start: now,
            ours,
            link: Faults::new(ours_end, setup.faults.clone()),
            smol_link: smol_end,
            wire,
            dev,
            iface,
            sockets: SocketSet::new(vec![]),
            events: Vec::new(),
            tap,
            steps: 0,
            setup,
            buf: vec![0; 65_536],
        }
    }

    pub fn clean() -> Xcheck {
        Xcheck::new(Setup::default())
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    // ---- smoltcp sockets ------------------------------------------------------------------

    /// A new smoltcp TCP socket with the setup's buffers and congestion control.
    pub fn smol_socket(&mut self) -> SmolHandle {
        let (rx, tx) = self.setup.smol_buffers;
        let mut s = stcp::Socket::new(
            stcp::SocketBuffer::new(vec![0; rx]),
            stcp::SocketBuffer::new(vec![0; tx]),
        );
        s.set_congestion_control(SMOL_CONGESTION);
        if self.setup.smol_timestamps {
            s.set_tsval_generator(Some(smol_tsval));
        }
        self.sockets.add(s)
    }

    pub fn smol(&mut self, h: SmolHandle) -> &mut stcp::Socket<'static> {
        self.sockets.get_mut::<stcp::Socket>(h)
    }

    pub fn smol_ref(&self, h: SmolHandle) -> &stcp::Socket<'static> {
        self.sockets.get::<stcp::Socket>(h)
    }

    /// smoltcp's state, as RFC 9293 spells it.
    pub fn smol_state(&self, h: SmolHandle) -> String {
        self.smol_ref(h).state().to_string()
    }

    /// smoltcp's address in the setup's family.
    pub fn smol_ip(&self) -> IpAddr {
        self.setup.family.smol()
    }

    /// Our address in the setup's family.
    pub fn ours_ip(&self) -> IpAddr {
        self.setup.family.ours()
    }

    /// smoltcp connects from `SMOL_PORT` to us at `port`.
    pub fn smol_connect(&mut self, h: SmolHandle, port: u16) {
        let ours = match self.ours_ip() {
            IpAddr::V4(a) => IpAddress::Ipv4(a),
            IpAddr::V6(a) => IpAddress::Ipv6(a),
        };
        let cx = self.iface.context();
        self.sockets
            .get_mut::<stcp::Socket>(h)
            .connect(cx, (ours, port), SMOL_PORT)
            .expect("smoltcp connect");
    }

    // ---- our sockets ----------------------------------------------------------------------

    /// Our connection's state; `CLOSED` once the stack has removed it.
    pub fn ours_state(&self, h: SocketHandle) -> String {
        self.ours
            .tcp()
            .connection(h)
            .map_or("CLOSED".to_string(), |c| c.state().to_string())
    }

    /// The events of our connection `h`, in order.
    pub fn ours_events(&self, h: SocketHandle) -> Vec<Event> {
        self.events
            .iter()
            .filter_map(|e| match e.event {
                TcpEvent::Connection { handle, event } if handle == h => Some(event),
                _ => None,
            })
            .collect()
    }

    pub fn ours_closed(&self, h: SocketHandle) -> Option<CloseReason> {
        self.ours_events(h).into_iter().find_map(|e| match e {
            Event::Closed(r) => Some(r),
            _ => None,
        })
    }

    /// A connection opened by `role` on `port`, both sides ESTABLISHED.
    pub fn connect(&mut self, role: Role, port: u16) -> Conn {
        self.connect_with(role, port, None)
    }

    pub fn connect_with(&mut self, role: Role, port: u16, config: Option<tcp::Config>) -> Conn {
        self.connect_running(role, port, config, &mut |_, _| {})
    }

    /// As `connect_with`, with the smoltcp application `smol_app` running while the
    /// handshake completes, as a real client does: it writes (or closes) as soon as its side
    /// is ESTABLISHED. Its segments then complete a handshake whose final ACK was lost, so
    /// the server's SYN-ACK retries are not the handshake's only chance (a lone ACK lost six
    /// times over on a 10% loss wire makes the server give up, as Linux's would).
    pub fn connect_running(
        &mut self,
        role: Role,
        port: u16,
        config: Option<tcp::Config>,
        smol_app: &mut dyn FnMut(&mut Xcheck, SmolHandle),
    ) -> Conn {
        let smol = self.smol_socket();
        let ours = match role {
            Role::OursClient => {
                self.smol(smol).listen(port).expect("smoltcp listen");
                let (now, smol_ip) = (self.now, self.smol_ip());
                self.ours
                    .tcp_mut()
                    .connect(now, SocketAddr::new(smol_ip, port), config, 0)
                    .expect("connect")
            }
            Role::SmolClient => {
                if self.ours.tcp().listeners().iter().all(|l| l.port != port) {
                    self.ours
                        .tcp_mut()
                        .listen(port, 16, config, 0)
                        .expect("listen");
                }
                self.smol_connect(smol, port);
                let ok = self.run_until(Duration::from_secs(300), |x| {
                    x.run_smol_app(smol, smol_app);
                    x.events
                        .iter()
                        .any(|e| e.event == TcpEvent::Incoming { port })
                });
                assert!(ok, "{}: no incoming connection on {port}", self.name);
                self.ours.tcp_mut().accept(port).expect("accept")
            }
        };
        let conn = Conn { ours, smol };
        // Generous: SYNs lost on a 20% loss wire back off 1 s, 2 s, 4 s, ...
        // Both synchronized: ESTABLISHED, or past it already when smoltcp's application
        // sent everything and closed during the handshake.
        let ok = self.run_until(Duration::from_secs(300), |x| {
            x.run_smol_app(smol, smol_app);
            synchronized(&x.ours_state(ours)) && synchronized(&x.smol_state(smol))
        });
        assert!(
            ok,
            "{}: handshake ({role:?}) did not complete: ours {}, smoltcp {}",
            self.name,
            self.ours_state(ours),
            self.smol_state(smol)
        );
        conn
    }

    /// The smoltcp application runs once its side is synchronized (a client that closed in
    /// SYN-SENT would abort the connection it is meant to open).
    fn run_smol_app(&mut self, smol: SmolHandle, app: &mut dyn FnMut(&mut Xcheck, SmolHandle)) {
        if synchronized(&self.smol_state(smol)) {
            app(self, smol);
        }
    }

    // ---- the clock ------------------------------------------------------------------------

    /// Moves packets and fires due timers at the current time until nothing moves.
    pub fn settle(&mut self) -> bool {
        clock::settle(self)
    }

    /// The next time anything is due (never earlier than a millisecond from now once
    /// settled: smoltcp may report "now" for work it then declines to do).
    pub fn next_event(&mut self) -> Option<Instant> {
        let now = self.now;
        self.poll_at(now)
    }

    /// Settles, calls `step` (the applications), and jumps to the next event, until `step`
    /// returns true or `limit` of simulated time has passed (then false).
    pub fn run_until(&mut self, limit: Duration, step: impl FnMut(&mut Xcheck) -> bool) -> bool {
        clock::run_until(self, limit, step)
    }

    /// Advances the clock by `d`, processing everything on the way.
    pub fn advance(&mut self, d: Duration) {
        clock::advance(self, d);
    }

    /// Cuts the wire in both directions from now on.
    pub fn cut(&mut self) {
        let all = DirectionFaults {
            loss: 1.0,
            ..DirectionFaults::default()
        };
        self.link.set_spec(all.clone(), all);
    }

    /// The wire record, in RFC notation.
    pub fn trace(&self) -> Vec<String> {
        self.tap.borrow().records.iter().map(Record::line).collect()
    }

    /// Segments delivered in one direction (corrupted ones left out).
    pub fn segments(&self, dir: Dir) -> Vec<(Segment, usize)> {
        self.tap
            .borrow()
            .records
            .iter()
            .filter(|r| r.dir == dir)
            .filter_map(|r| r.seg.clone().map(|s| (s, r.payload_len)))
            .collect()
    }

    /// Segments delivered in one direction at or after `since`.
    pub fn segments_since(&self, dir: Dir, since: Instant) -> Vec<(Segment, usize)> {
        self.tap
            .borrow()
            .records
            .iter()
            .filter(|r| r.dir == dir && r.at >= since)
            .filter_map(|r| r.seg.clone().map(|s| (s, r.payload_len)))
            .collect()
    }

    fn pcap_path(&self) -> PathBuf {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        target.join("xcheck").join(format!("{}.pcap", self.name))
    }
}

impl Xcheck {
    /// Our stack's turn: the tap records what reaches it.
    fn ours_round(&mut self, now: Instant) -> bool {
        let tap = &self.tap;
        StackEnd {
            stack: &mut self.ours,
            link: &mut self.link,
            buf: &mut self.buf,
            events: &mut self.events,
            tap: |way, at, packet: &[u8]| {
                if way == Way::In {
                    tap.borrow_mut().record(at, Dir::ToOurs, packet);
                }
            },
        }
        .poll(now)
    }

    fn smol_end(&mut self) -> SmolEnd<'_> {
        SmolEnd {
            iface: &mut self.iface,
            sockets: &mut self.sockets,
            dev: &mut self.dev,
            min_wait: Duration::from_millis(1),
        }
    }

    /// smoltcp's turn: what the wire delivers (recorded by the tap) goes into its device,
    /// it polls, and what it sent goes onto the wire.
    fn smol_round(&mut self, now: Instant) -> bool {
        CLOCK_MS.with(|c| c.set((now.as_micros() / 1000) as u32));
        while let Some(n) = self
            .smol_link
            .recv(now, &mut self.buf)
            .expect("memory link")
            .map(|d| d.len)
        {
            self.tap
                .borrow_mut()
                .record(now, Dir::ToSmol, &self.buf[..n]);
            self.wire.send(&self.buf[..n]);
        }
        let moved = self.smol_end().poll(now);
        let link = &mut self.smol_link;
        while let Some(sent) = self.wire.recv(|packet| link.send_plain(now, packet)) {
            sent.expect("memory link");
        }
        moved
    }
}

/// Our stack's turn, then smoltcp's, at every instant; the applications' output (queued
/// from `done`) leaves at the same instant.
impl World for Xcheck {
    fn now(&mut self) -> &mut Instant {
        &mut self.now
    }

    fn steps(&mut self) -> &mut u64 {
        &mut self.steps
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            max_steps: MAX_STEPS,
            ..Schedule::default()
        }
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn round(&mut self, now: Instant) -> bool {
        let ours = self.ours_round(now);
        let smol = self.smol_round(now);
        ours || smol
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let smol = self.smol_end().poll_at(now);
        [self.ours.poll_timeout(), self.link.poll_at(), smol]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.max(now))
    }
}

impl Drop for Xcheck {
    /// On failure: the capture to `target/xcheck/<test>.pcap`, the last segments to stderr.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let path = self.pcap_path();
        let tap = self.tap.borrow();
        let bytes = tap.sink.0.lock().map(|b| b.clone()).unwrap_or_default();
        let written = path
            .parent()
            .map(std::fs::create_dir_all)
            .unwrap_or(Ok(()))
            .and_then(|()| std::fs::write(&path, bytes));
        let lines: Vec<String> = tap.records.iter().map(Record::line).collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        eprintln!(
            "{}: failed at {} after {} steps; capture {} ({:?}); last segments:\n  {}",
            self.name,
            self.now,
            self.steps,
            path.display(),
            written.err(),
            tail.join("\n  ")
        );
    }
}

/// Past the handshake (RFC 9293 §3.3.2's synchronized states), in either stack's naming.
fn synchronized(state: &str) -> bool {
    !["CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED"].contains(&state)
}
