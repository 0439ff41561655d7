//! TCP over IPv6 in memory: two of our stacks through the simulator (tests/sim), addressed by
//! IPv6 (A = 2001:2::1, B = 2001:2::2). The handshake with IPv6 tuples and an MSS of the MTU
//! less 60, bulk through seeded faults, Packet Too Big mid-transfer (RFC 8201), one listener
//! for both families at once, and the RFC 9293 MUSTs the stack keeps for IPv6: no answer to
//! a SYN sent to a multicast group, RSTs to strays, ICMPv6 errors to the quoted connection.

mod sim;

use etherparse::IpNumber;
use etherparse::icmpv6::TimeExceededCode;
use etherparse::icmpv6::{DestUnreachableCode, ParameterProblemCode, ParameterProblemHeader};
use sim::{A, A6, B, B6, Sim};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use tunstack::link::{DirectionFaults, FaultSpec};
use tunstack::stack::{SocketHandle, StackConfig, TcpEvent};
use tunstack::tcp::{CloseReason, Ctl, Event, IcmpError, Segment, SeqNum, State};
use tunstack::time::Duration;
use tunstack::wire::icmpv6::{self, ErrorMessage};
use tunstack::wire::ipv6::{self, Ipv6Out};
use tunstack::wire::{DropReason, PseudoHeader};

/// A router on the path between A and B: the source of the ICMPv6 errors the tests craft.
const ROUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0xfe);

/// An IPv6 packet from `src` to `dst` carrying `payload` as `next_header`.
fn packet6(src: Ipv6Addr, dst: Ipv6Addr, next_header: IpNumber, payload: &[u8]) -> Vec<u8> {
    let out = Ipv6Out {
        src,
        dst,
        next_header,
        hop_limit: 64,
        dscp: 0,
        flow_label: 0,
    };
    let mut p = vec![0; ipv6::HEADER_LEN + payload.len()];
    out.emit_header(payload.len(), &mut p);
    p[ipv6::HEADER_LEN..].copy_from_slice(payload);
    p
}

/// `seg` from `src`:`sport` to `dst`:`dport` over IPv6, checksummed over the IPv6
/// pseudo-header.
fn tcp6(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, seg: &Segment) -> Vec<u8> {
    let mut tcp = vec![0u8; seg.wire_len()];
    seg.emit(PseudoHeader::tcp(src, dst), sport, dport, &mut tcp);
    packet6(src, dst, IpNumber::TCP, &tcp)
}

fn syn(seq: u32) -> Segment {
    Segment {
        seq: SeqNum(seq),
        ctl: Ctl::SYN,
        wnd: 1000,
        ..Segment::default()
    }
}

/// A TCP-over-IPv6 packet: (source, destination, source port, destination port, segment).
fn parse_tcp6(p: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr, u16, u16, Segment)> {
    let ip = ipv6::parse(p).ok()?;
    if ip.next_header() != IpNumber::TCP {
        return None;
    }
    let pseudo = PseudoHeader::tcp(ip.src(), ip.dst());
    let (sport, dport, seg) = Segment::parse(pseudo, ip.payload()).ok()?;
    Some((ip.src(), ip.dst(), sport, dport, seg))
}

/// The ICMPv6 error `error` from `from` to `to`, quoting `quoted` (as much as fits in 1280
/// octets), with its checksum over the IPv6 pseudo-header (the stack's own emitter).
fn icmpv6_error(from: Ipv6Addr, to: Ipv6Addr, error: ErrorMessage, quoted: &[u8]) -> Vec<u8> {
    let mut message = vec![0; icmpv6::ERROR_MAX_LEN];
    let n = icmpv6::emit_error(PseudoHeader::icmpv6(from, to), error, quoted, &mut message);
    packet6(from, to, IpNumber::IPV6_ICMP, &message[..n])
}

fn events_of(events: &[tunstack::stack::StackEvent], h: SocketHandle) -> Vec<Event> {
    events
        .iter()
        .filter_map(|e| match e.event {
            TcpEvent::Connection { handle, event } if handle == h => Some(event),
            _ => None,
        })
        .collect()
}

// ---- handshake and bulk -------------------------------------------------------------------

/// MUST-44/45 and MUST-67 over IPv6: an active open to B's IPv6 address takes A's IPv6
/// address as its own; both ends' tuples are IPv6; each SYN advertises the MTU less 60 (40
/// octets of IPv6 header, 20 of TCP); every segment is an IPv6 packet between the two.
#[test]
fn must_44_45_67_handshake_over_ipv6_has_ipv6_tuples_and_mss_mtu_minus_60() {
    let mut sim = Sim::new(
        sim::config(A),
        StackConfig {
            mtu: 9000,
            ..sim::config(B)
        },
        FaultSpec::default(),
    );
    sim.a.record = true;
    sim.b.record = true;
    let (c, s) = sim.connect(B6, 80);
    let client = sim.a.stack.tcp().connection(c).unwrap().tuple();
    let server = sim.b.stack.tcp().connection(s).unwrap().tuple();
    assert_eq!(
        client.local.ip(),
        IpAddr::V6(A6),
        "MUST-44: the IP layer's address"
    );
    assert_eq!(client.remote, SocketAddr::new(B6.into(), 80));
    assert_eq!((server.local, server.remote), (client.remote, client.local));
    for (conn, stack) in [(c, &sim.a.stack), (s, &sim.b.stack)] {
        assert_eq!(
            stack.tcp().connection(conn).unwrap().state(),
            State::Established
        );
    }
    // SYN, ACK from A; SYN-ACK from B; nothing else.
    assert_eq!((sim.a.sent.len(), sim.b.sent.len()), (2, 1));
    let (_, _, _, _, a_syn) = parse_tcp6(&sim.a.sent[0]).expect("A's SYN over IPv6");
    let (_, _, _, _, b_syn) = parse_tcp6(&sim.b.sent[0]).expect("B's SYN-ACK over IPv6");
    assert!(a_syn.syn() && !a_syn.has_ack() && b_syn.syn() && b_syn.has_ack());
    assert_eq!(a_syn.options.mss, Some(1500 - 60), "MUST-67: A's MTU 1500");
    assert_eq!(b_syn.options.mss, Some(9000 - 60), "MUST-67: B's MTU 9000");
    // Data both ways; B sends no segment larger than A's MSS allows.
    sim.a.stack.tcp_mut().send(c, b"over ipv6").unwrap();
    sim.b.stack.tcp_mut().send(s, &[0x5a; 100_000]).unwrap();
    sim.advance(Duration::from_millis(100));
    let mut buf = [0u8; 32];
    let n = sim.b.stack.tcp_mut().recv(s, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"over ipv6");
    assert_eq!(
        sim.a.stack.tcp().connection(c).unwrap().stats().recv_queue,
        100_000,
        "A received all of B's data"
    );
    for (sent, from, to) in [(&sim.a.sent, A6, B6), (&sim.b.sent, B6, A6)] {
        for p in sent {
            let (src, dst, _, _, _) = parse_tcp6(p).expect("a TCP segment over IPv6");
            assert_eq!((src, dst), (from, to), "MUST-45: every segment from it");
        }
    }
    let largest = sim.b.sent.iter().map(Vec::len).max().unwrap();
    assert_eq!(largest, 1500, "B's segments fill A's MTU and no more");
}

/// Two stacks over IPv6 through Memory + Faults: 10% loss, reordering, duplication and
/// corruption each way (seeded); 4 MiB each way arrives byte-exact and both sides close.
/// IPv6 has no header checksum: corruption is caught by the TCP checksum over the IPv6
/// pseudo-header, or by the address checks when it hits an address.
#[test]
fn four_mib_each_way_over_ipv6_through_faults_is_byte_exact() {
    let faults = DirectionFaults {
        loss: 0.1,
        duplicate: 0.02,
        reorder: 0.05,
        corrupt: 0.01,
        delay: Duration::from_millis(5),
        jitter: Duration::from_millis(1),
        reorder_delay: Duration::from_millis(3),
    };
    for seed in [1, 2] {
        let mut sim = Sim::new(
            sim::config(A),
            sim::config(B),
            FaultSpec::symmetric(faults.clone(), seed),
        );
        let (c, s) = sim.connect(B6, 9);
        let tuple = sim.a.stack.tcp().connection(c).unwrap().tuple();
        assert!(tuple.local.is_ipv6() && tuple.remote.is_ipv6());
        sim.transfer(c, s, 4 << 20, Duration::from_secs(900));
        let (rx, tx) = sim.a.link.stats();
        assert!(
            rx.dropped > 0
                && tx.dropped > 0
                && rx.duplicated > 0
                && rx.reordered > 0
                && tx.corrupted > 0,
            "{rx} / {tx}"
        );
        let b = sim.b.stack.counters();
        assert!(b.drops.get(DropReason::TcpBadChecksum) > 0, "{b}");
    }
}

// ---- Packet Too Big (RFC 8201) -------------------------------------------------------------

/// What happened around a Packet Too Big in the middle of a transfer from A.
struct TooBig {
    /// A's packets sent after the Packet Too Big reached it.
    after: Vec<Vec<u8>>,
    /// A's packets the narrow link dropped: the large ones still on the wire.
    dropped: Vec<Vec<u8>>,
    /// SND.UNA and SND.MAX of A's connection when the Packet Too Big arrived.
    una: SeqNum,
    max: SeqNum,
    /// ICMP errors A took in.
    icmp_errors_in: u64,
}

/// 4 MiB each way over IPv6 between A and B, 5 ms each way. Once A has had 1 MiB
/// acknowledged, the path from A to B narrows to 1280 octets (larger packets, also those
/// still on the wire, are lost from then on) and a router's Packet Too Big claiming an MTU
/// of `claimed`, quoting A's latest segment in flight, reaches A. The transfer must still
/// complete byte-exact (`Sim::transfer` asserts it).
fn packet_too_big_mid_transfer(claimed: u32) -> TooBig {
    let wire = DirectionFaults {
        delay: Duration::from_millis(5),
        ..DirectionFaults::default()
    };
    let mut sim = Sim::new(
        sim::config(A),
        sim::config(B),
        FaultSpec::symmetric(wire, 1),
    );
    let (c, s) = sim.connect(B6, 9);
    let start = sim.a.stack.tcp().connection(c).unwrap().stats().snd_una;
    sim.a.record = true;
    let mut at = None;
    sim.transfer_with(c, s, 4 << 20, Duration::from_secs(120), |sim| {
        let Some(conn) = sim.a.stack.tcp().connection(c) else {
            return;
        };
        let (una, max) = (conn.stats().snd_una, conn.snd_max());
        if at.is_some() || una.distance(start) < 1 << 20 || max == una {
            return;
        }
        let quoted = sim
            .a
            .sent
            .iter()
            .rev()
            .find(|p| {
                parse_tcp6(p)
                    .is_some_and(|(.., seg)| !seg.payload.is_empty() && seg.seq.after_eq(una))
            })
            .expect("a segment in flight")
            .clone();
        sim.a.link.inner_mut().mtu = Some(ipv6::MIN_MTU);
        let ptb = icmpv6_error(
            ROUTER,
            A6,
            ErrorMessage::PacketTooBig { mtu: claimed },
            &quoted,
        );
        let now = sim.now;
        sim.a.stack.handle_packet(now, &ptb);
        at = Some((sim.a.sent.len(), una, max));
    });
    let (from, una, max) = at.expect("the Packet Too Big was sent mid-transfer");
    TooBig {
        after: sim.a.sent.split_off(from),
        dropped: std::mem::take(&mut sim.a.link.inner_mut().dropped),
        una,
        max,
        icmp_errors_in: sim.a.stack.counters().icmp_errors_in,
    }
}

/// Data segments of `packets`: (SEG.SEQ, payload length).
fn data_segments(packets: &[Vec<u8>]) -> Vec<(SeqNum, usize)> {
    packets
        .iter()
        .filter_map(|p| parse_tcp6(p))
        .filter(|(.., seg)| !seg.payload.is_empty())
        .map(|(.., seg)| (seg.seq, seg.payload.len()))
        .collect()
}

/// The checks both Packet Too Big tests share: after it, every packet of A's fits 1280 octets
/// and the largest fills them (40 octets of IPv6, 20 of TCP, 12 of timestamps, 1208 of
/// data); A went back to SND.UNA; what the narrow link dropped was in flight and is resent
/// in the smaller size.
#[track_caller]
fn assert_resent_in_1280(run: &TooBig) {
    assert_eq!(run.icmp_errors_in, 1);
    let largest = run.after.iter().map(Vec::len).max().unwrap();
    assert_eq!(largest, ipv6::MIN_MTU, "the largest packet after it");
    let resent = data_segments(&run.after);
    assert_eq!(
        resent[0].0, run.una,
        "the first segment after it resends from SND.UNA"
    );
    assert!(
        resent.iter().all(|&(_, len)| len <= 1208),
        "40 + 20 + 12 + data fits 1280"
    );
    let lost = data_segments(&run.dropped);
    assert!(!lost.is_empty(), "large segments were on the wire");
    let span = run.max.distance(run.una) as usize;
    let mut covered = vec![false; span];
    for &(seq, len) in &resent {
        let from = seq.distance(run.una);
        for i in 0..len as i32 {
            if let Some(b) = usize::try_from(from + i)
                .ok()
                .and_then(|i| covered.get_mut(i))
            {
                *b = true;
            }
        }
    }
    for &(seq, len) in &lost {
        let from = seq.distance(run.una);
        assert!(
            from >= 0 && from as usize + len <= span,
            "a dropped segment at {seq} was in flight ({}..{})",
            run.una,
            run.max
        );
        assert!(
            covered[from as usize..from as usize + len]
                .iter()
                .all(|&b| b),
            "the {len} octets at {seq} dropped on the narrow link are resent in 1280-octet packets"
        );
    }
}

/// RFC 8201 §4-5: a Packet Too Big (MTU 1280) quoting one of A's segments in flight lowers
/// the connection's segment size to the path MTU; A resends what was in flight in the
/// smaller size (the large copies are lost on the narrow link) and the 4 MiB each way
/// complete byte-exact.
#[test]
fn packet_too_big_mid_transfer_resends_in_flight_data_in_1280_octet_packets() {
    let run = packet_too_big_mid_transfer(1280);
    assert_resent_in_1280(&run);
}

/// RFC 8201 §4: "a node MUST NOT reduce its estimate of the Path MTU below the IPv6 minimum
/// link MTU" — a Packet Too Big claiming 500 is taken as 1280: A's packets after it fill
/// 1280 octets, not 500.
#[test]
fn packet_too_big_below_1280_is_clamped_to_1280() {
    let run = packet_too_big_mid_transfer(500);
    assert_resent_in_1280(&run);
}

// ---- listeners ------------------------------------------------------------------------------

/// Listeners are family-neutral: one LISTEN on port 8080 accepts connections to B's IPv4 and
/// IPv6 addresses at once; each keeps its family, and 256 KiB each way over two of each, all
/// at the same time, arrive byte-exact on the connection they were sent on.
#[test]
fn one_listener_accepts_ipv4_and_ipv6_connections_at_once() {
    let mut sim = Sim::clean();
    let servers: [IpAddr; 4] = [B.into(), B6.into(), B.into(), B6.into()];
    let pairs: Vec<_> = servers.iter().map(|&b| sim.connect(b, 8080)).collect();
    assert_eq!(sim.b.stack.tcp().listeners().len(), 1);
    for (&server, &(c, s)) in servers.iter().zip(&pairs) {
        let client = sim.a.stack.tcp().connection(c).unwrap().tuple();
        let accepted = sim.b.stack.tcp().connection(s).unwrap().tuple();
        assert_eq!(client.remote, SocketAddr::new(server, 8080));
        assert_eq!(
            (accepted.local, accepted.remote),
            (client.remote, client.local)
        );
        assert_eq!(client.local.is_ipv6(), server.is_ipv6());
    }
    let len = 256 << 10;
    let pattern = |seed: usize| -> Vec<u8> { (0..len).map(|i| (i * seed % 251) as u8).collect() };
    let to_b: Vec<Vec<u8>> = (0..4).map(|i| pattern(3 + 2 * i)).collect();
    let to_a: Vec<Vec<u8>> = (0..4).map(|i| pattern(11 + 2 * i)).collect();
    let mut sent = [(0usize, 0usize); 4];
    let mut got: Vec<(Vec<u8>, Vec<u8>)> = vec![(Vec::new(), Vec::new()); 4];
    let mut buf = vec![0u8; 65536];
    let done = sim.run_until(Duration::from_secs(60), |sim| {
        for (i, &(c, s)) in pairs.iter().enumerate() {
            let (a_sent, b_sent) = &mut sent[i];
            if *a_sent < len {
                *a_sent += sim.a.stack.tcp_mut().send(c, &to_b[i][*a_sent..]).unwrap();
                if *a_sent == len {
                    sim.a.stack.tcp_mut().close(c).unwrap();
                }
            }
            if *b_sent < len {
                *b_sent += sim.b.stack.tcp_mut().send(s, &to_a[i][*b_sent..]).unwrap();
                if *b_sent == len {
                    sim.b.stack.tcp_mut().close(s).unwrap();
                }
            }
            while let Ok(n @ 1..) = sim.a.stack.tcp_mut().recv(c, &mut buf) {
                got[i].0.extend_from_slice(&buf[..n]);
            }
            while let Ok(n @ 1..) = sim.b.stack.tcp_mut().recv(s, &mut buf) {
                got[i].1.extend_from_slice(&buf[..n]);
            }
        }
        sim.settle();
        got.iter().all(|(a, b)| a.len() == len && b.len() == len)
            && pairs
                .iter()
                .all(|&(_, s)| sim.b.stack.tcp().connection(s).is_none())
    });
    assert!(done, "transfers unfinished");
    for i in 0..4 {
        assert!(
            got[i].0 == to_a[i],
            "connection {i}: A received B's bytes exactly"
        );
        assert!(
            got[i].1 == to_b[i],
            "connection {i}: B received A's bytes exactly"
        );
    }
    assert_eq!(sim.b.stack.tcp().counters().closed.get("normal"), Some(&4));
}

// ---- the stack's MUSTs over IPv6 --------------------------------------------------------------

/// MUST-57 over IPv6: a SYN sent to a multicast group B belongs to (all-nodes ff02::1, B's
/// solicited-node group) is silently dropped as tcp-to-multicast: no SYN-ACK where B
/// listens, no RST where it does not. MUST-63: a SYN from a source that cannot be a host
/// (multicast, unspecified, loopback, B's own address) is dropped too. The same SYN to B's
/// unicast address is answered.
#[test]
fn must_57_63_syns_to_ipv6_multicast_or_from_invalid_sources_get_no_answer() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 4, None, 0).unwrap();
    sim.b.record = true;
    let now = sim.now;
    let group = ipv6::solicited_node(B6);
    for dst in [ipv6::ALL_NODES, group] {
        for port in [80, 81] {
            sim.b
                .stack
                .handle_packet(now, &tcp6(A6, 4321, dst, port, &syn(1000)));
        }
    }
    for src in [
        ipv6::ALL_NODES,
        Ipv6Addr::UNSPECIFIED,
        Ipv6Addr::LOCALHOST,
        B6,
    ] {
        sim.b
            .stack
            .handle_packet(now, &tcp6(src, 4321, B6, 80, &syn(1000)));
    }
    sim.settle();
    assert!(
        sim.b.sent.is_empty(),
        "no SYN-ACK, no RST: {:?}",
        sim.b.sent
    );
    assert_eq!(sim.b.stack.tcp().len(), 0);
    assert_eq!(sim.b.stack.tcp().listeners()[0].syn_received, 0);
    let d = &sim.b.stack.counters().drops;
    assert_eq!(d.get(DropReason::TcpToMulticast), 4, "MUST-57");
    assert_eq!(d.get(DropReason::Ipv6BadSource), 4, "MUST-63");
    assert_eq!(sim.b.stack.tcp().counters().resets_sent_for_strays, 0);
    sim.b
        .stack
        .handle_packet(now, &tcp6(A6, 4321, B6, 80, &syn(1000)));
    sim.settle();
    let (src, dst, sport, dport, reply) = parse_tcp6(&sim.b.sent[0]).expect("a SYN-ACK");
    assert_eq!((src, dst, sport, dport), (B6, A6, 80, 4321));
    assert!(reply.syn() && reply.has_ack() && reply.ack == SeqNum(1001));
}

/// RFC 9293 §3.10.7.1 over IPv6: a segment for no connection gets a RST from B's IPv6
/// address, `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>` when it has no ACK and
/// `<SEQ=SEG.ACK><CTL=RST>` when it has one; a RST gets nothing.
#[test]
fn stray_segments_over_ipv6_get_resets() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 4, None, 0).unwrap();
    sim.b.record = true;
    let now = sim.now;
    let stray_ack = Segment {
        seq: SeqNum(5),
        ack: SeqNum(777),
        ctl: Ctl::ACK,
        wnd: 1000,
        payload: bytes::Bytes::from_static(b"xy"),
        ..Segment::default()
    };
    let stray_rst = Segment {
        seq: SeqNum(9),
        ctl: Ctl::RST,
        ..Segment::default()
    };
    sim.b
        .stack
        .handle_packet(now, &tcp6(A6, 4321, B6, 81, &syn(1000)));
    sim.b
        .stack
        .handle_packet(now, &tcp6(A6, 4322, B6, 80, &stray_ack));
    sim.b
        .stack
        .handle_packet(now, &tcp6(A6, 4323, B6, 82, &stray_rst));
    sim.settle();
    let replies: Vec<_> = sim.b.sent.iter().map(|p| parse_tcp6(p).unwrap()).collect();
    assert_eq!(replies.len(), 2, "two RSTs, none for the RST");
    let (src, dst, sport, dport, rst) = &replies[0];
    assert_eq!((*src, *dst, *sport, *dport), (B6, A6, 81, 4321));
    assert_eq!(
        (rst.seq, rst.ack, rst.ctl),
        (SeqNum(0), SeqNum(1001), Ctl::RST | Ctl::ACK)
    );
    let (src, dst, sport, dport, rst) = &replies[1];
    assert_eq!((*src, *dst, *sport, *dport), (B6, A6, 80, 4322));
    assert_eq!((rst.seq, rst.ctl), (SeqNum(777), Ctl::RST));
    assert_eq!(sim.b.stack.tcp().counters().resets_sent_for_strays, 2);
}

/// MUST-54 (and MUST-47) over IPv6: ICMPv6 errors quoting one of B's segments reach that
/// connection and are reported to its application as soft errors — RFC 9293 §3.9.2.2's soft
/// errors for ICMPv6: Destination Unreachable no route (0) and address unreachable (3), Time
/// Exceeded, Parameter Problem; MUST-56: the connection is not aborted and data still flows.
/// A second connection on the same port hears nothing, nor does anyone of an error quoting
/// ports nobody uses.
#[test]
fn must_47_54_56_icmpv6_errors_reach_the_quoted_connection_as_soft_errors() {
    let mut sim = Sim::clean();
    let (c, s) = sim.connect(B6, 7);
    let (_, other) = sim.connect(B6, 7);
    sim.b.record = true;
    sim.b.stack.tcp_mut().send(s, b"hello").unwrap();
    sim.settle();
    let quoted = sim.b.sent.last().unwrap().clone();
    let errors = [
        (
            ErrorMessage::DestUnreachable(DestUnreachableCode::NoRoute),
            IcmpError::DestinationUnreachable { code: 0 },
        ),
        (
            ErrorMessage::DestUnreachable(DestUnreachableCode::Address),
            IcmpError::DestinationUnreachable { code: 3 },
        ),
        (
            ErrorMessage::TimeExceeded(TimeExceededCode::HopLimitExceeded),
            IcmpError::TimeExceeded,
        ),
        (
            ErrorMessage::ParameterProblem(ParameterProblemHeader {
                code: ParameterProblemCode::ErroneousHeaderField,
                pointer: 7,
            }),
            IcmpError::ParameterProblem,
        ),
    ];
    let now = sim.now;
    for (error, _) in errors {
        sim.b
            .stack
            .handle_packet(now, &icmpv6_error(ROUTER, B6, error, &quoted));
        sim.settle();
    }
    // Quoting a port pair nobody uses: the destination port is at 40 + 2.
    let mut nobody = quoted.clone();
    nobody[42..44].copy_from_slice(&9999u16.to_be_bytes());
    let error = ErrorMessage::DestUnreachable(DestUnreachableCode::NoRoute);
    sim.b
        .stack
        .handle_packet(now, &icmpv6_error(ROUTER, B6, error, &nobody));
    sim.settle();
    let soft: Vec<IcmpError> = events_of(&sim.b.events, s)
        .into_iter()
        .filter_map(|e| match e {
            Event::SoftError(error) => Some(error),
            _ => None,
        })
        .collect();
    let expected: Vec<IcmpError> = errors.iter().map(|&(_, e)| e).collect();
    assert_eq!(
        soft, expected,
        "MUST-54/47: each reached the connection, in order"
    );
    let conn = sim.b.stack.tcp().connection(s).unwrap();
    assert_eq!(conn.state(), State::Established, "MUST-56");
    assert_eq!(conn.soft_error(), Some(IcmpError::ParameterProblem));
    assert!(
        !events_of(&sim.b.events, other)
            .iter()
            .any(|e| matches!(e, Event::SoftError(_))),
        "the other connection heard nothing"
    );
    assert_eq!(sim.b.stack.counters().icmp_errors_in, 5);
    // Data still flows both ways.
    sim.b.stack.tcp_mut().send(s, b" world").unwrap();
    sim.a.stack.tcp_mut().send(c, b"back").unwrap();
    sim.advance(Duration::from_millis(100));
    let mut buf = [0u8; 32];
    let n = sim.a.stack.tcp_mut().recv(c, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello world");
    let n = sim.b.stack.tcp_mut().recv(s, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"back");
}

/// MUST-56 while opening over IPv6: Destination Unreachable codes 0 (no route) and 3
/// (address unreachable) are soft errors for ICMPv6 (RFC 9293 §3.9.2.2): a connection in
/// SYN-SENT that hears them is not aborted, reports them, and completes its handshake once
/// the path works again. Port unreachable (4), ICMPv6's counterpart of ICMP's port
/// unreachable, is a hard error while opening (SHLD-26): the connection closes as
/// Unreachable.
#[test]
fn must_56_icmpv6_soft_errors_do_not_abort_an_opening_connection() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 4, None, 0).unwrap();
    let cut = DirectionFaults {
        loss: 1.0,
        ..DirectionFaults::default()
    };
    sim.a.link.set_spec(DirectionFaults::default(), cut.clone());
    sim.a.record = true;
    let now = sim.now;
    let c = sim
        .a
        .stack
        .tcp_mut()
        .connect(now, SocketAddr::new(B6.into(), 80), None, 0)
        .unwrap();
    sim.settle();
    let syn = sim.a.sent[0].clone();
    for code in [DestUnreachableCode::NoRoute, DestUnreachableCode::Address] {
        let error = ErrorMessage::DestUnreachable(code);
        sim.a
            .stack
            .handle_packet(now, &icmpv6_error(ROUTER, A6, error, &syn));
        sim.settle();
        assert_eq!(
            sim.a.stack.tcp().connection(c).map(|c| c.state()),
            Some(State::SynSent),
            "MUST-56: {code:?} is soft"
        );
    }
    assert_eq!(
        events_of(&sim.a.events, c),
        vec![
            Event::SoftError(IcmpError::DestinationUnreachable { code: 0 }),
            Event::SoftError(IcmpError::DestinationUnreachable { code: 3 }),
        ]
    );
    sim.a
        .link
        .set_spec(DirectionFaults::default(), DirectionFaults::default());
    assert!(sim.run_until(Duration::from_secs(5), |sim| {
        sim.a.stack.tcp().connection(c).map(|c| c.state()) == Some(State::Established)
    }));
    // Port unreachable while opening: hard.
    sim.a.link.set_spec(DirectionFaults::default(), cut);
    let now = sim.now;
    let c = sim
        .a
        .stack
        .tcp_mut()
        .connect(now, SocketAddr::new(B6.into(), 81), None, 0)
        .unwrap();
    sim.a.sent.clear();
    sim.settle();
    let syn = sim.a.sent[0].clone();
    let error = ErrorMessage::DestUnreachable(DestUnreachableCode::Port);
    sim.a
        .stack
        .handle_packet(now, &icmpv6_error(ROUTER, A6, error, &syn));
    sim.settle();
    assert!(sim.a.stack.tcp().connection(c).is_none());
    assert_eq!(
        events_of(&sim.a.events, c),
        vec![Event::Closed(CloseReason::Unreachable)]
    );
}
