//! Our engine against smoltcp (an independent implementation) in simulated time: both as
//! server and as client, data both ways, clean close. IPv4 framing is done here with
//! etherparse; no link or stack code is involved.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use etherparse::{IpNumber, Ipv4Header, Ipv4HeaderSlice};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp as stcp;
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use tunstack::tcp::{CloseReason, Config, Connection, Event, FourTuple, Segment, SeqNum, State};
use tunstack::time::{Duration, Instant};
use tunstack::wire::PseudoHeader;

const THEM: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// smoltcp's side of the wire: IPv4 packets in and out.
#[derive(Default)]
struct Wire {
    to_them: VecDeque<Vec<u8>>,
    from_them: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for Wire {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _t: SInstant) -> Option<(Rx, Tx<'_>)> {
        let p = self.to_them.pop_front()?;
        Some((Rx(p), Tx(&mut self.from_them)))
    }

    fn transmit(&mut self, _t: SInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.from_them))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c
    }
}

struct Sim {
    now: Instant,
    wire: Wire,
    iface: Interface,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
    us: Option<Connection>,
    events: Vec<Event>,
    /// Drop every n-th packet in each direction (0: none).
    drop_every: usize,
    counts: [usize; 2],
    rounds: u64,
}

fn s_now(t: Instant) -> SInstant {
    SInstant::from_micros(t.as_micros() as i64)
}

impl Sim {
    fn new() -> Sim {
        let now = Instant::from_secs(1);
        let mut wire = Wire::default();
        let mut iface =
            Interface::new(IfaceConfig::new(HardwareAddress::Ip), &mut wire, s_now(now));
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
            wire,
            iface,
            sockets,
            handle,
            us: None,
            events: Vec::new(),
            drop_every: 0,
            counts: [0; 2],
            rounds: 0,
        }
    }

    fn them(&mut self) -> &mut stcp::Socket<'static> {
        self.sockets.get_mut::<stcp::Socket>(self.handle)
    }

    fn lose(&mut self, dir: usize) -> bool {
        self.counts[dir] += 1;
        self.drop_every > 0 && self.counts[dir].is_multiple_of(self.drop_every)
    }

    /// Deliver our segment to smoltcp inside an IPv4 header.
    fn put(&mut self, seg: &Segment, our_port: u16, their_port: u16) {
        if self.lose(0) {
            return;
        }
        let mut tcp = vec![0u8; seg.wire_len()];
        seg.emit(PseudoHeader::tcp(US, THEM), our_port, their_port, &mut tcp);
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
        self.wire.to_them.push_back(pkt);
    }

    /// One round: smoltcp polls, its packets reach us, ours reach it. Returns whether
    /// anything moved.
    fn round(&mut self, listen_port: Option<u16>) -> bool {
        self.rounds += 1;
        assert!(
            self.rounds < 1_000_000,
            "no progress in simulated time (ACK war?)"
        );
        let t = s_now(self.now);
        self.iface.poll(t, &mut self.wire, &mut self.sockets);
        let mut moved = false;
        while let Some(pkt) = self.wire.from_them.pop_front() {
            moved = true;
            if self.lose(1) {
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
                Some(c) => c.handle_segment(self.now, &seg),
                None if Some(dp) == listen_port && seg.syn() && !seg.has_ack() => {
                    let cfg = Config::default();
                    self.us = Some(Connection::accept(
                        self.now,
                        tuple,
                        SeqNum(u32::MAX - 7),
                        &seg,
                        cfg,
                    ));
                }
                None => panic!("segment for nobody: {seg}"),
            }
        }
        if let Some(c) = &mut self.us {
            let (lp, rp) = (c.tuple().local.port(), c.tuple().remote.port());
            let mut out = Vec::new();
            while let Some(seg) = c.poll_transmit(self.now) {
                out.push(seg);
            }
            while let Some(e) = c.poll_event() {
                self.events.push(e);
            }
            for seg in out {
                moved = true;
                self.put(&seg, lp, rp);
            }
        }
        moved
    }

    /// Advance time to the next deadline of either side.
    fn wait(&mut self) {
        let ours = self.us.as_ref().and_then(|c| c.poll_timeout());
        let theirs = self
            .iface
            .poll_at(s_now(self.now), &self.sockets)
            .map(|t| Instant::from_micros(t.total_micros().max(0) as u64));
        let next = Instant::min_opt(ours, theirs).unwrap_or(self.now + Duration::from_millis(10));
        self.now = self.now.max(next).max(self.now + Duration::from_micros(1));
        if let Some(c) = &mut self.us {
            c.handle_timeout(self.now);
            while let Some(e) = c.poll_event() {
                self.events.push(e);
            }
        }
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
    let end = sim.now + Duration::from_secs(300);
    while sim.now < end {
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
        if !sim.round(Some(80)) {
            if sim.us.as_ref().is_some_and(|c| c.state() == State::Closed) {
                break;
            }
            sim.wait();
        }
    }
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
    let end = sim.now + Duration::from_secs(600);
    while sim.now < end {
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
        if !sim.round(None) {
            if sim.us.as_ref().unwrap().state() == State::Closed {
                break;
            }
            sim.wait();
        }
    }
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
