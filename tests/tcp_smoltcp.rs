//! Our engine against smoltcp (an independent implementation) in simulated time: both as
//! server and as client, data both ways, clean close. IPv4 framing is done here with
//! etherparse; no link or stack code is involved.

use std::net::{Ipv4Addr, SocketAddrV4};

use etherparse::{IpNumber, Ipv4Header, Ipv4HeaderSlice};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp as stcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use tunstack::tcp::{CloseReason, Config, Connection, Event, FourTuple, Segment, SeqNum, State};
use tunstack::time::{Duration, Instant};
use tunstack::wire::PseudoHeader;

mod support;

use support::clock::{self, Endpoint, Schedule, World};
use support::endpoints::{ConnectionEnd, SmolEnd};
use support::smoltcp_device::{SmolPipe, s_now};

const THEM: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

struct Sim {
    now: Instant,
    steps: u64,
    /// Our side of the wire, and smoltcp's device at its other end.
    wire: SmolPipe,
    dev: SmolPipe,
    iface: Interface,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
    us: Option<Connection>,
    /// The port where a SYN from smoltcp makes `us` (as a listener would).
    listen: Option<u16>,
    events: Vec<Event>,
    /// Drop every n-th packet in each direction (0: none).
    drop_every: usize,
    counts: [usize; 2],
}

impl Sim {
    fn new() -> Sim {
        let now = Instant::from_secs(1);
        let (wire, mut dev) = SmolPipe::pair(1500);
        let mut iface = Interface::new(IfaceConfig::new(HardwareAddress::Ip), &mut dev, s_now(now));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::v4(198, 18, 0, 1), 24))
                .unwrap();
        });
        let mut sockets = SocketSet::new(vec![]);
        let sock = stcp::Socket::new(
            stcp::SocketBuffer::new(vec![0; 64 * 1024]),
            stcp::SocketBuffer::new(vec![0; 64 * 1024]),
        );
        let handle = sockets.add(sock);
        Sim {
            now,
            steps: 0,
            wire,
            dev,
            iface,
            sockets,
            handle,
            us: None,
            listen: None,
            events: Vec::new(),
            drop_every: 0,
            counts: [0; 2],
        }
    }

    fn them(&mut self) -> &mut stcp::Socket<'static> {
        self.sockets.get_mut::<stcp::Socket>(self.handle)
    }

    fn run_until(&mut self, limit: Duration, done: impl FnMut(&mut Sim) -> bool) -> bool {
        clock::run_until(self, limit, done)
    }

    /// smoltcp's packets to us: the n-th lost, the rest parsed and handed to our connection
    /// (made from a SYN on the listening port).
    fn receive(&mut self, now: Instant) -> bool {
        let mut moved = false;
        while let Some(pkt) = self.wire.recv(|p| p.to_vec()) {
            moved = true;
            if lose(self.drop_every, &mut self.counts[1]) {
                continue;
            }
            let ip = Ipv4HeaderSlice::from_slice(&pkt).unwrap();
            assert_eq!(ip.protocol(), IpNumber::TCP);
            let tcp = &pkt[ip.slice().len()..usize::from(ip.total_len())];
            let (sp, dp, seg) = Segment::parse(
                PseudoHeader::tcp(ip.source_addr(), ip.destination_addr()),
                tcp,
            )
            .unwrap();
            let tuple = FourTuple {
                local: SocketAddrV4::new(US, dp).into(),
                remote: SocketAddrV4::new(THEM, sp).into(),
            };
            match &mut self.us {
                Some(c) => c.handle_segment(now, &seg),
                None if Some(dp) == self.listen && seg.syn() && !seg.has_ack() => {
                    let cfg = Config::default();
                    self.us = Some(Connection::accept(
                        now,
                        tuple,
                        SeqNum(u32::MAX - 7),
                        &seg,
                        cfg,
                    ));
                }
                None => panic!("segment for nobody: {seg}"),
            }
        }
        moved
    }
}

/// Whether the packet just counted is the n-th (lost).
fn lose(drop_every: usize, count: &mut usize) -> bool {
    *count += 1;
    drop_every > 0 && count.is_multiple_of(drop_every)
}

/// Our segment to smoltcp inside an IPv4 header (unless it is the n-th).
fn put(wire: &mut SmolPipe, seg: &Segment, ports: (u16, u16), lost: bool) {
    if lost {
        return;
    }
    let mut tcp = vec![0u8; seg.wire_len()];
    seg.emit(PseudoHeader::tcp(US, THEM), ports.0, ports.1, &mut tcp);
    let mut ip = Ipv4Header::new(
        tcp.len() as u16,
        64,
        IpNumber::TCP,
        US.octets(),
        THEM.octets(),
    )
    .unwrap();
    ip.header_checksum = ip.calc_header_checksum();
    let mut pkt = ip.to_bytes().to_vec();
    pkt.extend_from_slice(&tcp);
    wire.send(&pkt);
}

/// smoltcp polls, its packets reach us, ours reach it.
impl World for Sim {
    fn now(&mut self) -> &mut Instant {
        &mut self.now
    }

    fn steps(&mut self) -> &mut u64 {
        &mut self.steps
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            max_steps: 1_000_000,
            ..Schedule::default()
        }
    }

    fn name(&self) -> String {
        "smoltcp interop".to_string()
    }

    fn round(&mut self, now: Instant) -> bool {
        let smol = SmolEnd {
            iface: &mut self.iface,
            sockets: &mut self.sockets,
            dev: &mut self.dev,
            min_wait: Duration::from_micros(1),
        }
        .poll(now);
        let received = self.receive(now);
        let Some(conn) = &mut self.us else {
            return smol || received;
        };
        let ports = (conn.tuple().local.port(), conn.tuple().remote.port());
        let (wire, drop_every, count) = (&mut self.wire, self.drop_every, &mut self.counts[0]);
        let ours = ConnectionEnd {
            conn,
            events: &mut self.events,
            out: |_, seg: Segment| put(wire, &seg, ports, lose(drop_every, count)),
        }
        .poll(now);
        smol || received || ours
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let ours = self.us.as_ref().and_then(|c| c.poll_timeout());
        let theirs = SmolEnd {
            iface: &mut self.iface,
            sockets: &mut self.sockets,
            dev: &mut self.dev,
            min_wait: Duration::from_micros(1),
        }
        .poll_at(now);
        Instant::min_opt(ours, theirs)
    }
}

fn pattern(len: usize, k: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(k).wrapping_add(i as u8 >> 3))
        .collect()
}

/// smoltcp connects to us (a listener in the stack would call `accept`), sends a request,
/// we answer with a large reply and close; both sides end cleanly.
#[test]
fn smoltcp_client_our_server() {
    smoltcp_client_our_server_with(0);
}

/// The same with every 11th packet lost in each direction: retransmission interoperates.
#[test]
fn smoltcp_client_our_server_with_loss() {
    smoltcp_client_our_server_with(11);
}

fn smoltcp_client_our_server_with(drop_every: usize) {
    let mut sim = Sim::new();
    sim.drop_every = drop_every;
    let cx = sim.iface.context();
    let handle = sim.handle;
    sim.sockets
        .get_mut::<stcp::Socket>(handle)
        .connect(cx, (IpAddress::v4(198, 18, 0, 2), 80), 49152)
        .unwrap();
    let request = pattern(100_000, 3);
    let reply = pattern(300_000, 7);
    let (mut req_sent, mut req_got) = (0, Vec::new());
    let (mut rep_sent, mut rep_got) = (0, Vec::new());
    let mut buf = vec![0u8; 65536];
    sim.listen = Some(80);
    sim.run_until(Duration::from_secs(300), |sim| {
        // smoltcp application: send the request, read the reply, close after EOF.
        let s = sim.them();
        if s.can_send() && req_sent < request.len() {
            req_sent += s.send_slice(&request[req_sent..]).unwrap();
        }
        while s.can_recv() {
            let n = s.recv_slice(&mut buf).unwrap();
            rep_got.extend_from_slice(&buf[..n]);
        }
        if rep_got.len() == reply.len() && s.state() == stcp::State::CloseWait {
            s.close();
        }
        // Our application: read the request, then send the reply and close.
        if let Some(c) = &mut sim.us {
            while let Ok(n) = c.recv(&mut buf) {
                if n == 0 {
                    break;
                }
                req_got.extend_from_slice(&buf[..n]);
            }
            if req_got.len() == request.len() && rep_sent < reply.len() {
                rep_sent += c.send(&reply[rep_sent..]).unwrap();
                if rep_sent == reply.len() {
                    c.close();
                }
            }
        }
        sim.us.as_ref().is_some_and(|c| c.state() == State::Closed)
    });
    assert!(
        req_got == request,
        "request: got {} of {}",
        req_got.len(),
        request.len()
    );
    assert!(
        rep_got == reply,
        "reply: got {} of {}",
        rep_got.len(),
        reply.len()
    );
    let us = sim.us.as_ref().unwrap();
    assert_eq!(us.state(), State::Closed);
    assert!(
        sim.events.contains(&Event::Closed(CloseReason::Normal)),
        "{:?}",
        sim.events
    );
    if drop_every == 0 {
        assert_eq!(us.stats().retransmits, 0);
    } else {
        assert!(us.stats().retransmits > 0);
    }
}

/// We connect to a smoltcp listener, send, receive its answer, and close first
/// (TIME-WAIT on our side).
#[test]
fn our_client_smoltcp_server() {
    our_client_smoltcp_server_with(0);
}

#[test]
fn our_client_smoltcp_server_with_loss() {
    our_client_smoltcp_server_with(7);
}

fn our_client_smoltcp_server_with(drop_every: usize) {
    let mut sim = Sim::new();
    sim.drop_every = drop_every;
    let handle = sim.handle;
    sim.sockets
        .get_mut::<stcp::Socket>(handle)
        .listen(7)
        .unwrap();
    let tuple = FourTuple {
        local: SocketAddrV4::new(US, 40000).into(),
        remote: SocketAddrV4::new(THEM, 7).into(),
    };
    sim.us = Some(Connection::connect(
        sim.now,
        tuple,
        SeqNum(u32::MAX - 3),
        Config::default(),
    ));
    let data = pattern(200_000, 5);
    let mut sent = 0;
    let mut echoed = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut closed = false;
    sim.run_until(Duration::from_secs(600), |sim| {
        // smoltcp application: echo, never taking more than it can send back.
        let s = sim.them();
        while s.can_recv() {
            let room = (s.send_capacity() - s.send_queue()).min(buf.len());
            if room == 0 {
                break;
            }
            let n = s.recv_slice(&mut buf[..room]).unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(s.send_slice(&buf[..n]).unwrap(), n);
        }
        if s.state() == stcp::State::CloseWait && s.send_queue() == 0 {
            s.close();
        }
        let c = sim.us.as_mut().unwrap();
        if c.state() == State::Established && sent < data.len() {
            sent += c.send(&data[sent..]).unwrap();
        }
        while let Ok(n) = c.recv(&mut buf) {
            if n == 0 {
                break;
            }
            echoed.extend_from_slice(&buf[..n]);
        }
        if echoed.len() == data.len() && !closed {
            c.close();
            closed = true;
        }
        c.state() == State::Closed
    });
    assert!(
        echoed == data,
        "echo: got {} of {}",
        echoed.len(),
        data.len()
    );
    assert!(sim.events.contains(&Event::Connected));
    assert!(
        sim.events.contains(&Event::Closed(CloseReason::Normal)),
        "{:?}",
        sim.events
    );
}
