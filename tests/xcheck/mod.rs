//! The cross-check harness: our `Stack` (198.18.0.2) and a smoltcp `Interface` (198.18.0.1,
//! `Medium::Ip`) joined by one `link::Memory` wire whose stack end is wrapped in
//! `link::Faults` (its `rx` side shapes smoltcp → us, its `tx` side us → smoltcp, so both
//! stacks see the same faulty wire), on one simulated clock that jumps to the next event:
//! our `poll_timeout`, smoltcp's `poll_at`, or the next held packet (`Faults::poll_at`).
//!
//! Every run is seeded (faults, our ISN secret, smoltcp's random seed) and bounded in steps.
//! Every packet handed to either stack (after the faults) is recorded in a pcap held in
//! memory; if the test panics, the capture is written to `target/xcheck/<test>.pcap` and the
//! last segments are printed in RFC notation. `docs/xcheck.md` is generated from the
//! `/// xcheck:` lines above each test (see `tests/xcheck_table.rs`).

#![allow(dead_code)]

pub mod script;

use std::cell::RefCell;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle as SmolHandle, SocketSet};
use smoltcp::socket::tcp as stcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use tunstack::link::{DirectionFaults, FaultSpec, Faults, Link, Memory, PcapWriter};
use tunstack::stack::{SocketHandle, Stack, StackConfig, StackEvent, TcpEvent};
use tunstack::tcp::{self, CloseReason, Event, Segment};
use tunstack::time::{Duration, Instant};
use tunstack::wire::PseudoHeader;

#[path = "../support/mod.rs"]
pub mod support;

pub use support::smoltcp_device::s_now;
use support::clock::{self, Endpoint, Schedule, World};
use support::endpoints::{SmolEnd, StackEnd, Way};
use support::smoltcp_device::SmolPipe;

/// smoltcp's address (the "kernel side").
pub const SMOL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Our stack's address.
pub const OURS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
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

/// A run's direction of travel, for the wire record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// smoltcp → us
    ToOurs,
    /// us → smoltcp
    ToSmol,
}

/// One packet as delivered to a stack (after the faults).
#[derive(Clone, Debug)]
pub struct Record {
    pub at: Instant,
    pub dir: Dir,
    /// `None`: the packet did not parse as IPv4+TCP with a good checksum (corrupted).
    pub seg: Option<Segment>,
    pub payload_len: usize,
}

impl Record {
    pub fn line(&self) -> String {
        let arrow = match self.dir {
            Dir::ToOurs => "smoltcp -> ours",
            Dir::ToSmol => "ours -> smoltcp",
        };
        match &self.seg {
            // The record keeps no payload: print its length as `Display` would.
            Some(s) if self.payload_len > 0 => {
                format!("{} {arrow} {s}<DATA={}>", self.at, self.payload_len)
            }
            Some(s) => format!("{} {arrow} {s}", self.at),
            None => format!("{} {arrow} (corrupt, {} bytes)", self.at, self.payload_len),
        }
    }
}

/// Parses an IPv4+TCP packet into (src port, dst port, segment).
pub fn parse_packet(packet: &[u8]) -> Option<(Ipv4Addr, u16, u16, Segment)> {
    let ip = tunstack::wire::ipv4::parse(packet).ok()?;
    if ip.protocol() != etherparse::IpNumber::TCP {
        return None;
    }
    let (sp, dp, seg) = Segment::parse(PseudoHeader::tcp(ip.src(), ip.dst()), ip.payload()).ok()?;
    Some((ip.src(), sp, dp, seg))
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The capture and the record of the wire, shared by both delivery points.
pub struct Tap {
    pcap: PcapWriter,
    sink: Sink,
    pub records: Vec<Record>,
}

impl Tap {
    fn new() -> Tap {
        let sink = Sink::default();
        let pcap = PcapWriter::new(Box::new(sink.clone()), 0).expect("pcap header");
        Tap {
            pcap,
            sink,
            records: Vec::new(),
        }
    }

    fn record(&mut self, at: Instant, dir: Dir, packet: &[u8]) {
        self.pcap.write_packet(at, packet);
        let parsed = parse_packet(packet);
        let payload_len = parsed
            .as_ref()
            .map_or(packet.len(), |(_, _, _, s)| s.payload.len());
        let seg = parsed.map(|(_, _, _, mut s)| {
            s.payload = bytes::Bytes::new();
            s
        });
        self.records.push(Record {
            at,
            dir,
            seg,
            payload_len,
        });
    }
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
            a.push(IpCidr::new(IpAddress::Ipv4(SMOL), 24)).unwrap();
        });
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&setup.seed.to_le_bytes());
        secret[8] = 0x42;
        let ours = Stack::new(StackConfig {
            addr: OURS,
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

    /// smoltcp connects from `SMOL_PORT` to us at `port`.
    pub fn smol_connect(&mut self, h: SmolHandle, port: u16) {
        let cx = self.iface.context();
        self.sockets
            .get_mut::<stcp::Socket>(h)
            .connect(cx, (IpAddress::Ipv4(OURS), port), SMOL_PORT)
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
        let smol = self.smol_socket();
        let ours = match role {
            Role::OursClient => {
                self.smol(smol).listen(port).expect("smoltcp listen");
                let now = self.now;
                self.ours
                    .tcp_mut()
                    .connect(now, SocketAddrV4::new(SMOL, port), config, 0)
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
        let ok = self.run_until(Duration::from_secs(300), |x| {
            x.ours_state(ours) == "ESTABLISHED" && x.smol_state(smol) == "ESTABLISHED"
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
        while let Some(n) = self.smol_link.recv(now, &mut self.buf).expect("memory link") {
            self.tap
                .borrow_mut()
                .record(now, Dir::ToSmol, &self.buf[..n]);
            self.wire.send(&self.buf[..n]);
        }
        let moved = self.smol_end().poll(now);
        let link = &mut self.smol_link;
        while let Some(sent) = self.wire.recv(|packet| link.send(now, packet)) {
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

/// Deterministic test data.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

/// A transfer in both directions over one connection, driven step by step.
pub struct Transfer {
    pub to_smol: Vec<u8>,
    pub to_ours: Vec<u8>,
    pub ours_sent: usize,
    pub smol_sent: usize,
    pub ours_got: Vec<u8>,
    pub smol_got: Vec<u8>,
    /// Each side closes once everything it has to send is queued.
    pub ours_close: bool,
    pub smol_close: bool,
    /// Whether each application reads (a receiver that stops reading makes a zero window).
    pub ours_reads: bool,
    pub smol_reads: bool,
    pub ours_eof: bool,
    pub smol_eof: bool,
    ours_closed: bool,
    smol_closed: bool,
    buf: Vec<u8>,
}

impl Transfer {
    pub fn new(to_smol: Vec<u8>, to_ours: Vec<u8>) -> Transfer {
        Transfer {
            to_smol,
            to_ours,
            ours_sent: 0,
            smol_sent: 0,
            ours_got: Vec::new(),
            smol_got: Vec::new(),
            ours_close: true,
            smol_close: true,
            ours_reads: true,
            smol_reads: true,
            ours_eof: false,
            smol_eof: false,
            ours_closed: false,
            smol_closed: false,
            buf: vec![0; 64 * 1024],
        }
    }

    /// One round of both applications: send what fits, read what is there, close when done.
    pub fn pump(&mut self, x: &mut Xcheck, c: Conn) {
        // Ours.
        if self.ours_sent < self.to_smol.len()
            && let Ok(n) = x
                .ours
                .tcp_mut()
                .send(c.ours, &self.to_smol[self.ours_sent..])
        {
            self.ours_sent += n;
        }
        if self.ours_close && !self.ours_closed && self.ours_sent == self.to_smol.len() {
            self.ours_closed = true;
            let _ = x.ours.tcp_mut().close(c.ours);
        }
        while self.ours_reads && !self.ours_eof {
            match x.ours.tcp_mut().recv(c.ours, &mut self.buf) {
                Ok(0) => self.ours_eof = true,
                Ok(n) => self.ours_got.extend_from_slice(&self.buf[..n]),
                Err(_) => break,
            }
        }
        // smoltcp.
        let s = x.sockets.get_mut::<stcp::Socket>(c.smol);
        if self.smol_sent < self.to_ours.len()
            && s.can_send()
            && let Ok(n) = s.send_slice(&self.to_ours[self.smol_sent..])
        {
            self.smol_sent += n;
        }
        if self.smol_close && !self.smol_closed && self.smol_sent == self.to_ours.len() {
            self.smol_closed = true;
            s.close();
        }
        while self.smol_reads && !self.smol_eof {
            match s.recv_slice(&mut self.buf) {
                Ok(0) | Err(stcp::RecvError::InvalidState) => break,
                Ok(n) => self.smol_got.extend_from_slice(&self.buf[..n]),
                Err(stcp::RecvError::Finished) => self.smol_eof = true,
            }
        }
    }

    /// Everything delivered both ways.
    pub fn delivered(&self) -> bool {
        self.ours_got.len() == self.to_ours.len() && self.smol_got.len() == self.to_smol.len()
    }

    /// Byte-exact both ways.
    #[track_caller]
    pub fn assert_exact(&self, name: &str) {
        assert_eq!(
            self.smol_got.len(),
            self.to_smol.len(),
            "{name}: smoltcp received {} of {} bytes",
            self.smol_got.len(),
            self.to_smol.len()
        );
        assert_eq!(
            self.ours_got.len(),
            self.to_ours.len(),
            "{name}: we received {} of {} bytes",
            self.ours_got.len(),
            self.to_ours.len()
        );
        assert!(
            self.smol_got == self.to_smol,
            "{name}: ours → smoltcp differs"
        );
        assert!(
            self.ours_got == self.to_ours,
            "{name}: smoltcp → ours differs"
        );
    }
}

impl Xcheck {
    /// Runs `t` to completion: everything delivered, both FINs seen by both applications,
    /// and both sides CLOSED (TIME-WAIT waited out). Returns the simulated time taken.
    #[track_caller]
    pub fn transfer(&mut self, c: Conn, t: &mut Transfer, limit: Duration) -> Duration {
        let start = self.now;
        let done = self.run_until(limit, |x| {
            t.pump(x, c);
            t.delivered()
                && t.ours_eof
                && t.smol_eof
                && x.ours_state(c.ours) == "CLOSED"
                && x.smol_state(c.smol) == "CLOSED"
        });
        assert!(
            done,
            "{}: transfer unfinished after {:?}: ours {} sent {}/{} got {}/{} eof {}; smoltcp {} \
             sent {}/{} got {}/{} eof {}; faults {:?}",
            self.name,
            self.now - start,
            self.ours_state(c.ours),
            t.ours_sent,
            t.to_smol.len(),
            t.ours_got.len(),
            t.to_ours.len(),
            t.ours_eof,
            self.smol_state(c.smol),
            t.smol_sent,
            t.to_ours.len(),
            t.smol_got.len(),
            t.to_smol.len(),
            t.smol_eof,
            self.link.stats(),
        );
        t.assert_exact(&self.name);
        self.now - start
    }
}
