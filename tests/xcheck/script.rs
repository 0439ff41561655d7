//! Differential scripts: a scripted peer (198.18.0.1:40000) crafts raw IPv4+TCP packets
//! (`Segment::emit` + `Ipv4Out`) for a target at 198.18.0.2:80, which is either our `Stack`
//! (fed through `handle_packet`) or a smoltcp `Interface` (fed through its `Device`). The
//! replies are decoded with `Segment::parse` and printed in RFC notation with sequence
//! numbers relative to each side's ISS (`<SEQ=1>` is the target's ISS + 1, `<ACK=1>` the
//! peer's), so the two targets' answers compare as strings.
//!
//! Both targets are given the same receive buffer (16 KiB) and the peer offers no options
//! but MSS, so window fields are comparable too.

use std::net::Ipv4Addr;

use bytes::Bytes;
use etherparse::IpNumber;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle as SmolHandle, SocketSet};
use smoltcp::socket::tcp as stcp;
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use tunstack::link::{Link, Memory};
use tunstack::stack::{SocketHandle, Stack, StackConfig, StackEvent, TcpEvent};
use tunstack::tcp::{self, Ctl, Options, Segment, SeqNum};
use tunstack::time::{Duration, Instant};
use tunstack::wire::ipv4::Ipv4Out;

use super::support::clock::{self, Endpoint, Schedule, World};
use super::support::endpoints::{SmolEnd, StackEnd};
use super::support::smoltcp_device::SmolPipe;
use super::{SMOL_CONGESTION, parse_packet, s_now};
use tunstack::wire::PseudoHeader;

pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const TARGET: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const PEER_PORT: u16 = 40_000;
pub const TARGET_PORT: u16 = 80;
/// Both targets' receive buffer.
pub const RCV_BUF: usize = 16 * 1024;
/// Our MSL in the scripts: TIME-WAIT lasts 2 s.
pub const MSL: Duration = Duration::from_secs(1);

/// A TCP implementation under a script.
pub trait Target {
    fn name(&self) -> &'static str;
    /// Delivers a packet now.
    fn inject(&mut self, now: Instant, packet: &[u8]);
    /// Runs the target's clock from `from` to `to`, returning the packets it sent.
    fn run(&mut self, from: Instant, to: Instant) -> Vec<Vec<u8>>;
    /// The connection's state (RFC spelling; CLOSED when gone).
    fn state(&self) -> String;
    fn app_send(&mut self, data: &[u8]) -> usize;
    fn app_read(&mut self) -> usize;
    fn app_close(&mut self);
}

// ---- ours -----------------------------------------------------------------------------------

pub struct OurTarget {
    stack: Stack,
    conn: Option<SocketHandle>,
    /// The stack's end of the wire, and the peer's (where its packets are collected).
    link: Memory,
    peer: Memory,
    events: Vec<StackEvent>,
    now: Instant,
    steps: u64,
    buf: Vec<u8>,
}

impl OurTarget {
    pub fn new() -> OurTarget {
        let mut stack = Stack::new(StackConfig {
            addr: TARGET,
            tcp: tcp::Config {
                recv_buffer: RCV_BUF,
                msl: MSL,
                ..tcp::Config::default()
            },
            ..StackConfig::default()
        });
        stack
            .tcp_mut()
            .listen(TARGET_PORT, 4, None, 0)
            .expect("listen");
        let (link, peer) = Memory::pair();
        OurTarget {
            stack,
            conn: None,
            link,
            peer,
            events: Vec::new(),
            now: Instant::ZERO,
            steps: 0,
            buf: vec![0; 65_536],
        }
    }
}

/// The stack alone on the clock; it accepts the peer's connection.
impl World for OurTarget {
    fn now(&mut self) -> &mut Instant {
        &mut self.now
    }

    fn steps(&mut self) -> &mut u64 {
        &mut self.steps
    }

    fn schedule(&self) -> Schedule {
        Schedule::default()
    }

    fn round(&mut self, now: Instant) -> bool {
        let moved = StackEnd {
            stack: &mut self.stack,
            link: &mut self.link,
            buf: &mut self.buf,
            events: &mut self.events,
            tap: |_, _, _: &[u8]| {},
        }
        .poll(now);
        for e in self.events.drain(..) {
            if e.event == (TcpEvent::Incoming { port: TARGET_PORT }) {
                self.conn = self.stack.tcp_mut().accept(TARGET_PORT);
            }
        }
        moved
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.stack.poll_timeout()
    }
}

impl Target for OurTarget {
    fn name(&self) -> &'static str {
        "ours"
    }

    fn inject(&mut self, now: Instant, packet: &[u8]) {
        self.stack.handle_packet(now, packet);
    }

    fn run(&mut self, from: Instant, to: Instant) -> Vec<Vec<u8>> {
        self.now = from;
        clock::advance(self, to - from);
        let mut out = Vec::new();
        while let Some(n) = self
            .peer
            .recv(to, &mut self.buf)
            .expect("memory link")
            .map(|d| d.len)
        {
            out.push(self.buf[..n].to_vec());
        }
        out
    }

    /// The connection with the peer (accepted or not); without one, LISTEN until a
    /// connection has been accepted (the listener stays), CLOSED after.
    fn state(&self) -> String {
        let tcp = self.stack.tcp();
        let conn = tcp
            .connections()
            .find(|(_, c)| c.tuple().remote.port() == PEER_PORT)
            .map(|(_, c)| c.state().to_string());
        match (conn, self.conn) {
            (Some(state), _) => state,
            (None, None) => "LISTEN".to_string(),
            (None, Some(_)) => "CLOSED".to_string(),
        }
    }

    fn app_send(&mut self, data: &[u8]) -> usize {
        let h = self.conn.expect("connected");
        self.stack.tcp_mut().send(h, data).unwrap_or(0)
    }

    fn app_read(&mut self) -> usize {
        let h = self.conn.expect("connected");
        let mut total = 0;
        while let Ok(n) = self.stack.tcp_mut().recv(h, &mut self.buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    }

    fn app_close(&mut self) {
        let h = self.conn.expect("connected");
        self.stack.tcp_mut().close(h).expect("close");
    }
}

// ---- smoltcp --------------------------------------------------------------------------------

pub struct SmolTarget {
    dev: SmolPipe,
    /// The peer's end of the device.
    wire: SmolPipe,
    iface: Interface,
    sockets: SocketSet<'static>,
    handle: SmolHandle,
    now: Instant,
    steps: u64,
    buf: Vec<u8>,
}

impl SmolTarget {
    pub fn new() -> SmolTarget {
        let (mut dev, wire) = SmolPipe::pair(1500);
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = 7;
        let mut iface = Interface::new(config, &mut dev, SInstant::from_secs(1));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(TARGET), 24)).unwrap();
        });
        let mut sockets = SocketSet::new(vec![]);
        let mut s = stcp::Socket::new(
            stcp::SocketBuffer::new(vec![0; RCV_BUF]),
            stcp::SocketBuffer::new(vec![0; 64 * 1024]),
        );
        s.set_congestion_control(SMOL_CONGESTION);
        s.listen(TARGET_PORT).expect("listen");
        let handle = sockets.add(s);
        SmolTarget {
            dev,
            wire,
            iface,
            sockets,
            handle,
            now: Instant::ZERO,
            steps: 0,
            buf: vec![0; 65_536],
        }
    }

    fn end(&mut self) -> SmolEnd<'_> {
        SmolEnd {
            iface: &mut self.iface,
            sockets: &mut self.sockets,
            dev: &mut self.dev,
            min_wait: Duration::from_micros(100),
        }
    }

    fn socket(&mut self) -> &mut stcp::Socket<'static> {
        self.sockets.get_mut::<stcp::Socket>(self.handle)
    }
}

/// smoltcp alone on the clock.
impl World for SmolTarget {
    fn now(&mut self) -> &mut Instant {
        &mut self.now
    }

    fn steps(&mut self) -> &mut u64 {
        &mut self.steps
    }

    fn schedule(&self) -> Schedule {
        Schedule::default()
    }

    fn round(&mut self, now: Instant) -> bool {
        self.end().poll(now)
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.end().poll_at(now)
    }
}

impl Target for SmolTarget {
    fn name(&self) -> &'static str {
        "smoltcp"
    }

    fn inject(&mut self, now: Instant, packet: &[u8]) {
        self.wire.send(packet);
        self.iface
            .poll(s_now(now), &mut self.dev, &mut self.sockets);
    }

    fn run(&mut self, from: Instant, to: Instant) -> Vec<Vec<u8>> {
        self.now = from;
        clock::advance(self, to - from);
        let mut out = Vec::new();
        while let Some(packet) = self.wire.recv(|p| p.to_vec()) {
            out.push(packet);
        }
        out
    }

    fn state(&self) -> String {
        self.sockets
            .get::<stcp::Socket>(self.handle)
            .state()
            .to_string()
    }

    fn app_send(&mut self, data: &[u8]) -> usize {
        self.socket().send_slice(data).unwrap_or(0)
    }

    fn app_read(&mut self) -> usize {
        let mut buf = std::mem::take(&mut self.buf);
        let mut total = 0;
        while let Ok(n) = self.socket().recv_slice(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        self.buf = buf;
        total
    }

    fn app_close(&mut self) {
        self.socket().close();
    }
}

// ---- the scripted peer ----------------------------------------------------------------------

/// The peer's ISS (just below 2^32, so scripts cross the wrap).
pub const PEER_ISS: SeqNum = SeqNum(u32::MAX - 50);
/// The window the peer advertises.
pub const PEER_WND: u16 = 8192;

/// A script run against one target: the peer's side of the connection and the clock.
pub struct Script {
    pub target: Box<dyn Target>,
    pub now: Instant,
    /// The target's ISS, learned from its SYN-ACK.
    pub target_iss: SeqNum,
    /// Every reply so far, in relative notation.
    pub log: Vec<String>,
}

impl Script {
    pub fn new(target: Box<dyn Target>) -> Script {
        Script {
            target,
            now: Instant::from_secs(1),
            target_iss: SeqNum(0),
            log: Vec::new(),
        }
    }

    /// A segment from the peer: `seq` relative to the peer's ISS, `ack` to the target's.
    pub fn seg(&self, seq: i64, ack: Option<i64>, ctl: Ctl, len: usize) -> Segment {
        Segment {
            seq: PEER_ISS + seq as u32,
            ack: ack.map_or(SeqNum(0), |a| self.target_iss + a as u32),
            wnd: PEER_WND,
            ctl: if ack.is_some() { ctl | Ctl::ACK } else { ctl },
            payload: Bytes::from(vec![b'x'; len]),
            ..Segment::default()
        }
    }

    /// Sends `seg` and returns the target's replies within `wait`, in relative notation.
    pub fn send(&mut self, seg: &Segment, wait: Duration) -> Vec<String> {
        let mut packet = vec![0u8; 20 + seg.wire_len()];
        let out = Ipv4Out {
            src: PEER,
            dst: TARGET,
            protocol: IpNumber::TCP,
            ttl: 64,
            dscp: 0,
            ident: 0,
            dont_fragment: true,
        };
        let h = out.emit_header(seg.wire_len(), &mut packet);
        seg.emit(
            PseudoHeader::tcp(PEER, TARGET),
            PEER_PORT,
            TARGET_PORT,
            &mut packet[h..],
        );
        self.target.inject(self.now, &packet);
        self.wait(wait)
    }

    /// Lets `d` pass, returning what the target sent meanwhile.
    pub fn wait(&mut self, d: Duration) -> Vec<String> {
        let to = self.now + d;
        let packets = self.target.run(self.now, to);
        self.now = to;
        let replies: Vec<String> = packets.iter().map(|p| self.relative(p)).collect();
        self.log.extend(replies.iter().cloned());
        replies
    }

    /// A reply with sequence numbers relative to the ISSs; the window always shown.
    fn relative(&mut self, packet: &[u8]) -> String {
        let Some((src, sp, dp, seg)) = parse_packet(packet) else {
            return format!("(not TCP: {} bytes)", packet.len());
        };
        assert_eq!((src, sp, dp), (TARGET.into(), TARGET_PORT, PEER_PORT));
        if seg.syn() && seg.has_ack() {
            self.target_iss = seg.seq;
        }
        let mut s = format!("<SEQ={}>", seg.seq.0.wrapping_sub(self.target_iss.0) as i32);
        if seg.has_ack() {
            s += &format!("<ACK={}>", seg.ack.0.wrapping_sub(PEER_ISS.0) as i32);
        }
        s += &format!("<CTL={}><WND={}>", seg.ctl, seg.wnd);
        if !seg.payload.is_empty() {
            s += &format!("<DATA={}>", seg.payload.len());
        }
        s
    }

    /// Handshake with MSS only (no window scale, SACK or timestamps): ESTABLISHED, the
    /// target at `<SEQ=1>`, the peer at `<SEQ=1>`.
    pub fn establish(&mut self) {
        let mut syn = self.seg(0, None, Ctl::SYN, 0);
        syn.options = Options {
            mss: Some(1460),
            ..Options::default()
        };
        let replies = self.send(&syn, Duration::from_millis(1));
        assert_eq!(
            replies.len(),
            1,
            "{}: one SYN-ACK: {replies:?}",
            self.target.name()
        );
        assert!(replies[0].contains("SYN,ACK"), "{replies:?}");
        let ack = self.seg(1, Some(1), Ctl::NONE, 0);
        let replies = self.send(&ack, Duration::from_millis(100));
        assert!(replies.is_empty(), "{}: {replies:?}", self.target.name());
        assert_eq!(self.target.state(), "ESTABLISHED", "{}", self.target.name());
    }
}

/// The same script against both targets: (ours, smoltcp).
pub fn both<R>(script: impl Fn(&mut Script) -> R) -> ((R, Script), (R, Script)) {
    let mut ours = Script::new(Box::new(OurTarget::new()));
    let r_ours = script(&mut ours);
    let mut smol = Script::new(Box::new(SmolTarget::new()));
    let r_smol = script(&mut smol);
    ((r_ours, ours), (r_smol, smol))
}
