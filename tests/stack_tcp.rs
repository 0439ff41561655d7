//! TCP in the stack (issue 4 in memory): demux, listeners and their queues, active opens,
//! IP options, ICMP errors to connections, and the RFC 9293 MUSTs that belong to the stack
//! rather than the connection. Two of our stacks talk through the simulator (tests/sim).

mod sim;

use etherparse::IpNumber;
use sim::{A, B, Sim};
use std::net::{Ipv4Addr, SocketAddrV4};
use tunstack::link::{DirectionFaults, FaultSpec};
use tunstack::stack::{SocketHandle, StackConfig, TcpError, TcpEvent};
use tunstack::tcp::{CloseReason, Event, Segment, State};
use tunstack::time::Duration;
use tunstack::wire::PseudoHeader;
use tunstack::wire::ipv4::{self, Ipv4Out};
use tunstack::wire::{DropReason, internet_checksum};

fn accepted(sim: &mut Sim, port: u16) -> SocketHandle {
    sim.b
        .stack
        .tcp_mut()
        .accept(port)
        .expect("a connection to accept")
}

/// A connected pair: A (client) → B:port (server). Returns (client, server) handles.
fn connected(sim: &mut Sim, port: u16) -> (SocketHandle, SocketHandle) {
    sim.connect(B, port)
}

#[test]
fn must_13_demux_delivers_each_connection_its_own_bytes_and_closes_cleanly() {
    let mut sim = Sim::clean();
    let pairs: Vec<_> = (0..20).map(|_| connected(&mut sim, 7)).collect();
    assert_eq!(sim.b.stack.tcp().len(), 20);
    for (i, &(c, _)) in pairs.iter().enumerate() {
        sim.a
            .stack
            .tcp_mut()
            .send(c, format!("conn {i}").as_bytes())
            .unwrap();
    }
    sim.advance(Duration::from_millis(100));
    let mut buf = [0u8; 64];
    for (i, &(_, s)) in pairs.iter().enumerate() {
        let n = sim.b.stack.tcp_mut().recv(s, &mut buf).unwrap();
        assert_eq!(&buf[..n], format!("conn {i}").as_bytes());
    }
    // A closes first; B closes once A's FIN has arrived (not simultaneously, which would put
    // both sides in TIME-WAIT).
    for &(c, _) in &pairs {
        sim.a.stack.tcp_mut().close(c).unwrap();
    }
    sim.advance(Duration::from_millis(10));
    for &(_, s) in &pairs {
        assert_eq!(
            sim.b.stack.tcp().connection(s).unwrap().state(),
            State::CloseWait
        );
        sim.b.stack.tcp_mut().close(s).unwrap();
    }
    // MUST-13: the active closers linger 2×MSL (60 s by default), then everything is gone.
    sim.advance(Duration::from_secs(59));
    assert_eq!(sim.a.stack.tcp().len(), 20, "TIME-WAIT");
    assert_eq!(sim.b.stack.tcp().len(), 0);
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.a.stack.tcp().len(), 0);
    assert_eq!(sim.a.stack.tcp().counters().closed.get("normal"), Some(&20));
}

#[test]
fn must_41_42_listen_on_a_port_with_an_opening_connection() {
    let mut sim = Sim::clean();
    sim.a.stack.tcp_mut().listen(9, 4, None, 0).unwrap();
    let now = sim.now;
    // B's active open from an ephemeral port, still in SYN-SENT...
    let c = sim
        .b
        .stack
        .tcp_mut()
        .connect(now, SocketAddrV4::new(A, 9), None, 0)
        .unwrap();
    let port = sim
        .b
        .stack
        .tcp()
        .connection(c)
        .unwrap()
        .tuple()
        .local
        .port();
    assert_eq!(
        sim.b.stack.tcp().connection(c).unwrap().state(),
        State::SynSent
    );
    // ...and a LISTEN on that same port (MUST-42) that leaves it alone (MUST-41).
    sim.b.stack.tcp_mut().listen(port, 4, None, 0).unwrap();
    assert_eq!(
        sim.b.stack.tcp_mut().listen(port, 4, None, 0),
        Err(TcpError::PortInUse(port))
    );
    sim.advance(Duration::from_millis(10));
    assert_eq!(
        sim.b.stack.tcp().connection(c).unwrap().state(),
        State::Established
    );
    // A connects to the listener: a second connection on the port, demuxed by 4-tuple.
    let now = sim.now;
    let c2 = sim
        .a
        .stack
        .tcp_mut()
        .connect(now, SocketAddrV4::new(B, port), None, 0)
        .unwrap();
    sim.advance(Duration::from_millis(10));
    let s2 = sim
        .b
        .stack
        .tcp_mut()
        .accept(port)
        .expect("accepted on the shared port");
    assert_eq!(
        sim.a.stack.tcp().connection(c2).unwrap().state(),
        State::Established
    );
    assert_ne!(s2, c);
    assert_eq!(sim.b.stack.tcp().len(), 2);
}

#[test]
fn must_44_45_46_active_open_uses_our_address_and_refuses_broadcast() {
    let mut sim = Sim::clean();
    let now = sim.now;
    for bad in [
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::UNSPECIFIED,
    ] {
        assert_eq!(
            sim.a
                .stack
                .tcp_mut()
                .connect(now, SocketAddrV4::new(bad, 80), None, 0),
            Err(TcpError::InvalidRemote(bad.into())),
            "MUST-46"
        );
    }
    sim.b.stack.tcp_mut().listen(80, 4, None, 0).unwrap();
    sim.a.record = true;
    let c = sim
        .a
        .stack
        .tcp_mut()
        .connect(now, SocketAddrV4::new(B, 80), None, 0)
        .unwrap();
    let tuple = sim.a.stack.tcp().connection(c).unwrap().tuple();
    assert_eq!(tuple.local.ip(), A, "MUST-44: the IP layer's address");
    assert!(
        (49152..=65535).contains(&tuple.local.port()),
        "ephemeral port"
    );
    sim.advance(Duration::from_millis(10));
    sim.a.stack.tcp_mut().send(c, b"x").unwrap();
    sim.advance(Duration::from_millis(10));
    assert!(sim.a.sent.len() >= 2);
    for p in &sim.a.sent {
        assert_eq!(
            ipv4::parse(p).unwrap().src(),
            A,
            "MUST-45: every segment from it"
        );
    }
}

#[test]
fn must_48_49_ttl_and_diffserv_per_connection() {
    let mut sim = Sim::new(
        StackConfig {
            ttl: 33,
            ..sim::config(A)
        },
        sim::config(B),
        FaultSpec::default(),
    );
    let (c, _) = connected(&mut sim, 7);
    sim.a.stack.tcp_mut().set_ip_options(c, 7, 46).unwrap();
    sim.a.record = true;
    sim.a.stack.tcp_mut().send(c, b"marked").unwrap();
    sim.advance(Duration::from_millis(10));
    let p = sim.a.sent.last().unwrap();
    assert_eq!(p[8], 7, "TTL");
    assert_eq!(p[1] >> 2, 46, "DSCP EF");
    // The default TTL comes from the stack's configuration.
    let now = sim.now;
    sim.a.sent.clear();
    sim.a
        .stack
        .tcp_mut()
        .connect(now, SocketAddrV4::new(B, 7), None, 0)
        .unwrap();
    sim.settle();
    assert_eq!(sim.a.sent[0][8], 33);
}

/// A raw TCP segment from `src` to `dst` (any addresses), checksummed.
fn raw_syn(src: Ipv4Addr, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let seg: Segment = Segment {
        seq: tunstack::tcp::SeqNum(1000),
        ctl: tunstack::tcp::Ctl::SYN,
        wnd: 1000,
        ..Segment::default()
    };
    let mut tcp = vec![0u8; seg.wire_len()];
    seg.emit(PseudoHeader::tcp(src, dst), 4321, dport, &mut tcp);
    let out = Ipv4Out {
        src,
        dst,
        protocol: IpNumber::TCP,
        ttl: 64,
        dscp: 0,
        ident: 1,
        dont_fragment: false,
    };
    let mut p = vec![0u8; 20 + tcp.len()];
    out.emit_header(tcp.len(), &mut p);
    p[20..].copy_from_slice(&tcp);
    p
}

#[test]
fn must_57_63_syns_to_broadcast_or_from_invalid_sources_are_ignored() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 4, None, 0).unwrap();
    sim.b.record = true;
    let now = sim.now;
    for (src, dst) in [
        (A, Ipv4Addr::BROADCAST),
        (A, Ipv4Addr::new(198, 18, 0, 255)),
        (A, Ipv4Addr::new(224, 0, 0, 9)),
        (Ipv4Addr::new(224, 0, 0, 9), B),
        (Ipv4Addr::BROADCAST, B),
    ] {
        sim.b.stack.handle_packet(now, &raw_syn(src, dst, 80));
    }
    sim.settle();
    assert!(sim.b.sent.is_empty(), "no SYN-ACK, no RST");
    assert_eq!(sim.b.stack.tcp().len(), 0);
    let d = &sim.b.stack.counters().drops;
    assert_eq!(d.get(DropReason::Ipv4NotForUs), 3, "MUST-57");
    assert_eq!(d.get(DropReason::Ipv4BadSource), 2, "MUST-63");
}

#[test]
fn must_67_mss_follows_the_mtu_and_strays_get_resets() {
    let mut sim = Sim::new(
        sim::config(A),
        StackConfig {
            mtu: 9000,
            ..sim::config(B)
        },
        FaultSpec::default(),
    );
    sim.b.stack.tcp_mut().listen(80, 4, None, 0).unwrap();
    sim.b.record = true;
    let now = sim.now;
    sim.b.stack.handle_packet(now, &raw_syn(A, B, 80));
    sim.b.stack.handle_packet(now, &raw_syn(A, B, 81)); // no listener
    sim.settle();
    let replies: Vec<Segment> = sim
        .b
        .sent
        .iter()
        .map(|p| {
            let ip = ipv4::parse(p).unwrap();
            Segment::parse(PseudoHeader::tcp(ip.src(), ip.dst()), ip.payload())
                .unwrap()
                .2
        })
        .collect();
    assert_eq!(replies.len(), 2);
    let syn_ack = replies
        .iter()
        .find(|r| r.syn())
        .expect("a SYN-ACK for port 80");
    assert!(syn_ack.has_ack());
    assert_eq!(syn_ack.options.mss, Some(8960), "MUST-67: MTU 9000 - 40");
    let rst = replies.iter().find(|r| r.rst()).expect("a RST for port 81");
    assert!(
        rst.has_ack(),
        "RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"
    );
    assert_eq!(rst.ack.0, 1001);
    assert_eq!(sim.b.stack.tcp().counters().resets_sent_for_strays, 1);
}

#[test]
fn backlog_bounds_the_syn_and_accept_queues() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 2, None, 0).unwrap();
    for _ in 0..2 {
        let now = sim.now;
        sim.a
            .stack
            .tcp_mut()
            .connect(now, SocketAddrV4::new(B, 80), None, 0)
            .unwrap();
    }
    sim.advance(Duration::from_millis(50));
    // The accept queue is full: a third SYN is dropped (the SYN queue, which would answer
    // with a cookie when full, is empty).
    let now = sim.now;
    sim.a
        .stack
        .tcp_mut()
        .connect(now, SocketAddrV4::new(B, 80), None, 0)
        .unwrap();
    sim.advance(Duration::from_millis(50));
    let info = &sim.b.stack.tcp().listeners()[0];
    assert_eq!((info.syn_received, info.accept_queue), (0, 2));
    assert_eq!(sim.b.stack.tcp().counters().syn_backlog_drops, 1);
    assert_eq!(
        sim.b.stack.counters().drops.get(DropReason::TcpQueueFull),
        1
    );
    // Accepting makes room; the third client's retransmitted SYN (after 1 s) gets in.
    accepted(&mut sim, 80);
    accepted(&mut sim, 80);
    sim.advance(Duration::from_millis(1100));
    assert!(sim.b.stack.tcp_mut().accept(80).is_some());
}

#[test]
fn must_47_54_55_56_icmp_errors_reach_the_connection_without_aborting_it() {
    let mut sim = Sim::clean();
    let (_, s) = connected(&mut sim, 7);
    sim.b.record = true;
    sim.b.stack.tcp_mut().send(s, b"hello").unwrap();
    sim.settle();
    let quoted = sim.b.sent.last().unwrap().clone();
    // Host unreachable (code 1), a soft error: reported, connection kept (MUST-56).
    let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted[..28]);
    let sum = internet_checksum(&[&icmp]);
    icmp[2..4].copy_from_slice(&sum);
    let out = Ipv4Out {
        src: A,
        dst: B,
        protocol: IpNumber::ICMP,
        ttl: 64,
        dscp: 0,
        ident: 9,
        dont_fragment: false,
    };
    let mut p = vec![0u8; 20 + icmp.len()];
    out.emit_header(icmp.len(), &mut p);
    p[20..].copy_from_slice(&icmp);
    let now = sim.now;
    sim.b.stack.handle_packet(now, &p);
    sim.settle();
    let soft = sim.b.events.iter().any(|e| matches!(e.event, TcpEvent::Connection { handle, event: Event::SoftError(_) } if handle == s));
    assert!(
        soft,
        "MUST-54/47: the soft error reaches its connection: {:?}",
        sim.b.events
    );
    assert_eq!(
        sim.b.stack.tcp().connection(s).unwrap().state(),
        State::Established,
        "MUST-56"
    );
    // Source quench is silently discarded (MUST-55).
    icmp[0] = 4;
    icmp[1] = 0;
    icmp[2..4].copy_from_slice(&[0, 0]);
    let sum = internet_checksum(&[&icmp]);
    icmp[2..4].copy_from_slice(&sum);
    p[20..].copy_from_slice(&icmp);
    let before = sim.b.events.len();
    sim.b.stack.handle_packet(now, &p);
    sim.settle();
    assert_eq!(sim.b.events.len(), before);
}

#[test]
fn must_12_reset_by_peer_is_told_apart_from_a_normal_close() {
    // MUST-12 through the stack's events.
    let mut sim = Sim::clean();
    let (c1, s1) = connected(&mut sim, 7);
    let (c2, s2) = connected(&mut sim, 7);
    sim.a.stack.tcp_mut().close(c1).unwrap();
    sim.a.stack.tcp_mut().abort(c2).unwrap();
    sim.advance(Duration::from_millis(10));
    let ev = |h| {
        sim.b.events.iter().filter_map(move |e| match e.event {
            TcpEvent::Connection { handle, event } if handle == h => Some(event),
            _ => None,
        })
    };
    assert!(ev(s1).any(|e| e == Event::PeerClosed));
    assert!(ev(s2).any(|e| e == Event::Closed(CloseReason::Reset)));
}

/// Two stacks through Memory + Faults: 10% loss, reordering, duplication and corruption
/// each way; 1 MiB each way arrives byte-exact and both sides close.
#[test]
fn transfer_through_faults_is_byte_exact() {
    let faults = DirectionFaults {
        loss: 0.1,
        duplicate: 0.02,
        reorder: 0.05,
        corrupt: 0.01,
        delay: Duration::from_millis(5),
        jitter: Duration::from_millis(1),
        reorder_delay: Duration::from_millis(3),
    };
    for seed in [1, 2, 3] {
        let mut sim = Sim::new(
            sim::config(A),
            sim::config(B),
            FaultSpec::symmetric(faults.clone(), seed),
        );
        let (c, s) = connected(&mut sim, 9);
        sim.transfer(c, s, 1 << 20, Duration::from_secs(600));
        let (rx, tx) = sim.a.link.stats();
        assert!(
            rx.dropped > 0 && tx.corrupted > 0 && rx.reordered > 0,
            "{rx} / {tx}"
        );
        assert!(
            sim.b.stack.counters().drops.get(DropReason::TcpBadChecksum)
                + sim
                    .b
                    .stack
                    .counters()
                    .drops
                    .get(DropReason::Ipv4BadChecksum)
                > 0
        );
    }
}

/// Issue 3's wire: two of our stacks through `link::Memory` wrapped in `link::Faults`, 10 MiB
/// each way, byte-exact and closing cleanly, on a clean wire and at 20% loss each way with
/// reordering, duplication and corruption, within a bounded simulated time.
#[test]
fn ten_mib_each_way_clean_and_at_twenty_percent_loss() {
    let harsh = DirectionFaults {
        loss: 0.2,
        duplicate: 0.02,
        reorder: 0.05,
        corrupt: 0.01,
        delay: Duration::from_millis(1),
        jitter: Duration::from_micros(200),
        reorder_delay: Duration::from_millis(2),
    };
    for (faults, limit) in [
        (DirectionFaults::default(), Duration::from_secs(300)),
        (harsh, Duration::from_secs(3600)),
    ] {
        let mut sim = Sim::new(
            sim::config(A),
            sim::config(B),
            FaultSpec::symmetric(faults, 11),
        );
        let (c, s) = connected(&mut sim, 9);
        let start = sim.now;
        sim.transfer(c, s, 10 << 20, limit);
        assert!(sim.now - start <= limit);
    }
}

/// MUST-50: IP options TCP does not understand are ignored: a SYN in a datagram carrying
/// options (here NOP, NOP, a record-route-shaped option and EOL) still opens a connection.
#[test]
fn must_50_ip_options_are_ignored() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 4, None, 0).unwrap();
    let plain = raw_syn(A, B, 80);
    let options = [1u8, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0];
    let mut p = Vec::new();
    p.push(0x45 + (options.len() / 4) as u8);
    p.extend_from_slice(&plain[1..20]);
    p.extend_from_slice(&options);
    p.extend_from_slice(&plain[20..]);
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[10..12].copy_from_slice(&[0, 0]);
    let sum = internet_checksum(&[&p[..32]]);
    p[10..12].copy_from_slice(&sum);
    let now = sim.now;
    sim.b.stack.handle_packet(now, &p);
    assert_eq!(sim.b.stack.counters().drops.total(), 0);
    assert_eq!(sim.b.stack.tcp().listeners()[0].syn_received, 1);
    let mut out = vec![0u8; 1500];
    let n = sim.b.stack.poll_transmit(now, &mut out).expect("a reply");
    let ip = ipv4::parse(&out[..n]).unwrap();
    let (_, _, reply) =
        Segment::parse(PseudoHeader::tcp(ip.src(), ip.dst()), ip.payload()).unwrap();
    assert!(
        reply.syn() && reply.has_ack(),
        "SYN-ACK despite the IP options"
    );
}

/// TIME-WAIT is bounded like Linux's tcp_max_tw_buckets: with room for three, the fourth
/// and fifth connections to close first end the two oldest TIME-WAITs early (counted,
/// Closed(Normal) to their owner); the three newest wait out their 2×MSL.
#[test]
fn time_wait_is_bounded_oldest_first() {
    let a = StackConfig {
        max_time_wait: 3,
        ..sim::config(A)
    };
    let mut sim = Sim::new(a, sim::config(B), FaultSpec::default());
    let mut clients = Vec::new();
    for _ in 0..5 {
        let (c, s) = connected(&mut sim, 7);
        sim.a.stack.tcp_mut().close(c).unwrap();
        sim.advance(Duration::from_millis(10));
        sim.b.stack.tcp_mut().close(s).unwrap();
        sim.advance(Duration::from_millis(10));
        clients.push(c);
    }
    let tcp = sim.a.stack.tcp();
    assert_eq!(tcp.time_wait_count(), 3);
    assert_eq!(tcp.counters().time_wait_recycled, 2);
    for (i, c) in clients.iter().enumerate() {
        let state = tcp.connection(*c).map(|c| c.state());
        if i < 2 {
            assert_eq!(state, None, "connection {i} ended early");
            assert!(sim.a.events.iter().any(|e| e.event
                == TcpEvent::Connection {
                    handle: *c,
                    event: Event::Closed(CloseReason::Normal)
                }));
        } else {
            assert_eq!(state, Some(State::TimeWait), "connection {i}");
        }
    }
    // The rest wait their 2×MSL (60 s) out.
    sim.advance(Duration::from_secs(61));
    assert_eq!(sim.a.stack.tcp().time_wait_count(), 0);
    assert_eq!(sim.a.stack.tcp().counters().time_wait_recycled, 2);
}
