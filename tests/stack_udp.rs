//! UDP sockets in memory (RFC 768, RFC 1122 §4.1): demux by local port and connected peer,
//! bounded receive queues, port unreachable for closed ports, ICMP errors returned to
//! connected sockets, and datagrams larger than the MTU fragmented, over IPv4 and IPv6.
//! Two of our stacks face each other (198.18.0.2 and 198.18.0.1), so what one sends the
//! other checks, reassembles and delivers.

use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tunstack::stack::{Stack, StackConfig, TcpEvent, UdpConfig, UdpError, UdpEvent};
use tunstack::time::Instant;
use tunstack::wire::DropReason;

const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const KERNEL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const KERNEL6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const NOW: Instant = Instant::ZERO;

fn us() -> Stack {
    Stack::new(StackConfig::default())
}

/// A second stack on the kernel's addresses.
fn peer(mtu: usize) -> Stack {
    Stack::new(StackConfig {
        addr: KERNEL,
        addr6: Some(KERNEL6),
        mtu,
        ..StackConfig::default()
    })
}

fn sent(stack: &mut Stack) -> Vec<Vec<u8>> {
    let mut buf = vec![0; 65_535];
    let mut out = Vec::new();
    while let Some(n) = stack.poll_transmit(NOW, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// Moves everything `from` has queued into `to`; returns how many packets went.
fn carry(from: &mut Stack, to: &mut Stack) -> usize {
    let packets = sent(from);
    for p in &packets {
        to.handle_packet(NOW, p);
    }
    packets.len()
}

fn udp4(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(KERNEL.octets(), US.octets(), 64).udp(sport, dport);
    let mut p = Vec::new();
    b.write(&mut p, data).unwrap();
    p
}

fn udp6(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv6(KERNEL6.octets(), US6.octets(), 64).udp(sport, dport);
    let mut p = Vec::new();
    b.write(&mut p, data).unwrap();
    p
}

fn events(stack: &mut Stack) -> Vec<TcpEvent> {
    std::iter::from_fn(|| stack.poll_event())
        .map(|e| e.event)
        .collect()
}

fn is_port_unreachable(p: &[u8]) -> bool {
    match SlicedPacket::from_ip(p).unwrap().transport {
        Some(TransportSlice::Icmpv4(i)) => (i.type_u8(), i.code_u8()) == (3, 3),
        Some(TransportSlice::Icmpv6(i)) => (i.type_u8(), i.code_u8()) == (1, 4),
        _ => false,
    }
}

#[test]
fn demux_by_local_port_with_sender_and_readable_event() {
    let mut s = us();
    let h = s.udp_bind(5353, 7).unwrap();
    assert_eq!(s.udp_bind(5353, 7), Err(UdpError::PortInUse(5353)));
    s.handle_packet(NOW, &udp4(40000, 5353, b"query one"));
    s.handle_packet(NOW, &udp6(40001, 5353, b"query two"));
    assert!(sent(&mut s).is_empty(), "delivered, nothing answered");
    let ev = events(&mut s);
    assert_eq!(
        ev,
        [TcpEvent::Udp {
            handle: h,
            event: UdpEvent::Readable
        }],
        "one Readable when the empty queue gets a datagram"
    );
    let mut buf = [0; 64];
    let (n, from) = s.udp_recv_from(h, &mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"query one"[..], (KERNEL, 40000).into())
    );
    let (n, from) = s.udp_recv_from(h, &mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"query two"[..], (KERNEL6, 40001).into())
    );
    assert_eq!(s.udp_recv_from(h, &mut buf), Err(UdpError::WouldBlock));
    // A buffer shorter than the datagram gets its start; the rest is discarded.
    s.handle_packet(NOW, &udp4(40000, 5353, b"0123456789"));
    let mut short = [0; 4];
    assert_eq!(s.udp_recv_from(h, &mut short).unwrap().0, 4);
    assert_eq!(&short, b"0123");
    assert_eq!(s.udp_recv_from(h, &mut buf), Err(UdpError::WouldBlock));
    assert_eq!(s.counters().udp.datagrams_in, 3);
}

#[test]
fn closed_port_still_gets_port_unreachable_on_both_families() {
    let mut s = us();
    let h = s.udp_bind(5353, 0).unwrap();
    s.handle_packet(NOW, &udp4(40000, 5354, b"x"));
    s.handle_packet(NOW, &udp6(40000, 5354, b"x"));
    let out = sent(&mut s);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|p| is_port_unreachable(p)));
    // Closed again: the port answers with port unreachable too.
    s.udp_close(h);
    s.handle_packet(NOW, &udp4(40000, 5353, b"x"));
    assert!(is_port_unreachable(&sent(&mut s)[0]));
    assert_eq!(s.counters().port_unreachable_sent, 3);
    let mut buf = [0; 8];
    assert_eq!(s.udp_recv_from(h, &mut buf), Err(UdpError::Closed));
}

#[test]
fn a_connected_socket_takes_only_its_peers_datagrams() {
    let mut s = us();
    let h = s.udp_bind(6000, 0).unwrap();
    s.udp_connect(h, Some((KERNEL, 53).into())).unwrap();
    s.handle_packet(NOW, &udp4(54, 6000, b"stranger"));
    assert!(
        is_port_unreachable(&sent(&mut s)[0]),
        "as if nobody listened"
    );
    s.handle_packet(NOW, &udp4(53, 6000, b"answer"));
    let mut buf = [0; 16];
    let (n, from) = s.udp_recv_from(h, &mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"answer"[..], (KERNEL, 53).into()));
}

#[test]
fn zero_checksum_is_accepted_over_ipv4_only() {
    let mut s = us();
    let h = s.udp_bind(7777, 0).unwrap();
    let mut p = udp4(1000, 7777, b"no sum");
    p[26..28].copy_from_slice(&[0, 0]);
    s.handle_packet(NOW, &p);
    let mut p6 = udp6(1000, 7777, b"no sum");
    p6[46..48].copy_from_slice(&[0, 0]);
    s.handle_packet(NOW, &p6);
    assert_eq!(
        s.udp().queued(h),
        1,
        "IPv4's zero checksum taken, IPv6's refused"
    );
    assert_eq!(s.counters().drops.get(DropReason::UdpBadChecksum), 1);
    // A broken checksum and a length past the packet: counted drops, never delivered.
    let mut bad = udp4(1000, 7777, b"bad sum");
    bad[30] ^= 0xff;
    s.handle_packet(NOW, &bad);
    let mut long = udp4(1000, 7777, b"short");
    long[24..26].copy_from_slice(&200u16.to_be_bytes());
    s.handle_packet(NOW, &long);
    assert_eq!(s.counters().drops.get(DropReason::UdpBadChecksum), 2);
    assert_eq!(s.counters().drops.get(DropReason::UdpTruncated), 1);
    assert_eq!(s.udp().queued(h), 1);
}

#[test]
fn a_full_receive_queue_drops_and_counts() {
    let mut s = Stack::new(StackConfig {
        udp: UdpConfig {
            recv_queue_datagrams: 3,
            recv_queue_bytes: 1000,
        },
        ..StackConfig::default()
    });
    let h = s.udp_bind(9999, 0).unwrap();
    for _ in 0..5 {
        s.handle_packet(NOW, &udp4(1, 9999, b"datagram"));
    }
    assert_eq!(s.udp().queued(h), 3);
    assert_eq!(s.counters().drops.get(DropReason::UdpQueueFull), 2);
    assert_eq!(s.counters().udp.queue_full_drops, 2);
    assert!(sent(&mut s).is_empty(), "a full queue is no closed port");
    // The octet bound: 3 datagrams fit by count once drained, but not 1001 octets.
    let mut buf = [0; 16];
    while s.udp_recv_from(h, &mut buf).is_ok() {}
    s.handle_packet(NOW, &udp4(1, 9999, &[0; 600]));
    s.handle_packet(NOW, &udp4(1, 9999, &[0; 600]));
    assert_eq!(s.udp().queued(h), 1);
    assert_eq!(s.counters().drops.get(DropReason::UdpQueueFull), 3);
}

/// One datagram each way between two stacks: what we send has a valid checksum (the peer
/// verifies it) and the reply comes back to our socket.
#[test]
fn send_to_and_back_over_both_families() {
    let (mut a, mut b) = (us(), peer(1500));
    let ha = a.udp_bind(0, 0).unwrap();
    let port = a.udp().local_port(ha).unwrap();
    assert!(
        (49152..=65535).contains(&port),
        "bind(0) picks a dynamic port"
    );
    let hb = b.udp_bind(53, 0).unwrap();
    for to in [
        SocketAddr::from((KERNEL, 53)),
        SocketAddr::from((KERNEL6, 53)),
    ] {
        assert_eq!(a.udp_send_to(ha, to, b"what is 198.18.0.1?"), Ok(19));
        assert_eq!(carry(&mut a, &mut b), 1);
        let mut buf = [0; 64];
        let (n, from) = b.udp_recv_from(hb, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"what is 198.18.0.1?");
        let us_ip: IpAddr = if to.is_ipv4() { US.into() } else { US6.into() };
        assert_eq!(from, SocketAddr::new(us_ip, port));
        b.udp_send_to(hb, from, b"an answer").unwrap();
        carry(&mut b, &mut a);
        let (n, from) = a.udp_recv_from(ha, &mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"an answer"[..], to));
    }
    assert_eq!(a.counters().udp.datagrams_out, 2);
    assert_eq!(b.counters().drops.total(), 0);
}

/// Datagrams larger than the MTU go out in fragments no larger than it (IPv4: RFC 791;
/// IPv6: RFC 8200 §4.5), and the peer rebuilds them byte-exact, up to the largest datagram.
#[test]
fn datagrams_larger_than_the_mtu_are_fragmented() {
    let (mut a, mut b) = (
        Stack::new(StackConfig {
            mtu: 1280,
            ..StackConfig::default()
        }),
        peer(1280),
    );
    let ha = a.udp_bind(0, 0).unwrap();
    let hb = b.udp_bind(9000, 0).unwrap();
    let big: Vec<u8> = (0..tunstack::stack::MAX_PAYLOAD_V4)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let mut buf = vec![0; 70_000];
    for (to, len) in [
        (SocketAddr::from((KERNEL, 9000)), 4000),
        (
            SocketAddr::from((KERNEL, 9000)),
            tunstack::stack::MAX_PAYLOAD_V4,
        ),
        (SocketAddr::from((KERNEL6, 9000)), 4000),
        (SocketAddr::from((KERNEL6, 9000)), 60_000),
    ] {
        a.udp_send_to(ha, to, &big[..len]).unwrap();
        let packets = sent(&mut a);
        assert!(packets.len() > len / 1280, "{} fragments", packets.len());
        assert!(packets.iter().all(|p| p.len() <= 1280));
        for p in &packets {
            b.handle_packet(NOW, p);
        }
        let (n, _) = b.udp_recv_from(hb, &mut buf).unwrap();
        assert_eq!(n, len);
        assert!(buf[..n] == big[..len], "byte-exact after reassembly");
    }
    assert!(a.counters().fragments_out > 0 && a.counters().fragments6_out > 0);
    let too_big = vec![0; tunstack::stack::MAX_PAYLOAD_V4 + 1];
    let to = SocketAddr::from((KERNEL, 9000));
    assert_eq!(
        a.udp_send_to(ha, to, &too_big),
        Err(UdpError::TooLarge(65_508))
    );
    let to6 = SocketAddr::from((KERNEL6, 9000));
    assert!(
        a.udp_send_to(ha, to6, &too_big).is_ok(),
        "IPv6 carries 20 more"
    );
}

/// RFC 1122 §4.1.3.3: ICMP errors reach the application. A connected socket gets port
/// unreachable as `Refused` on its next call, once; an unconnected one is not told.
#[test]
fn icmp_port_unreachable_is_returned_by_the_next_call_of_a_connected_socket() {
    for kernel in [IpAddr::from(KERNEL), IpAddr::from(KERNEL6)] {
        let (mut a, mut b) = (us(), peer(1500));
        let h = a.udp_bind(0, 0).unwrap();
        let closed = SocketAddr::new(kernel, 4444);
        a.udp_connect(h, Some(closed)).unwrap();
        a.udp_send(h, b"anyone?").unwrap();
        carry(&mut a, &mut b);
        assert_eq!(carry(&mut b, &mut a), 1, "port unreachable back");
        assert_eq!(
            events(&mut a),
            [TcpEvent::Udp {
                handle: h,
                event: UdpEvent::Error
            }]
        );
        let mut buf = [0; 8];
        assert_eq!(a.udp_recv_from(h, &mut buf), Err(UdpError::Refused));
        assert_eq!(a.udp_recv_from(h, &mut buf), Err(UdpError::WouldBlock));
        // The same through send: the error comes instead of the datagram, once.
        a.udp_send(h, b"again").unwrap();
        carry(&mut a, &mut b);
        carry(&mut b, &mut a);
        assert_eq!(a.udp_send(h, b"third"), Err(UdpError::Refused));
        assert_eq!(a.udp_send(h, b"third"), Ok(5));
        carry(&mut a, &mut b);
        carry(&mut b, &mut a);
        assert_eq!(a.counters().udp.icmp_errors_delivered, 3);
        let err: std::io::Error = UdpError::Refused.into();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

        // Unconnected: the error has no exchange to belong to (as Linux).
        let u = a.udp_bind(0, 0).unwrap();
        a.udp_send_to(u, closed, b"anyone?").unwrap();
        carry(&mut a, &mut b);
        assert_eq!(carry(&mut b, &mut a), 1);
        assert_eq!(a.udp_recv_from(u, &mut buf), Err(UdpError::WouldBlock));
    }
}

#[test]
fn invalid_destinations_are_refused() {
    let mut s = Stack::new(StackConfig {
        addr6: None,
        ..StackConfig::default()
    });
    let h = s.udp_bind(0, 0).unwrap();
    for to in [
        "255.255.255.255:53",
        "224.0.0.1:53",
        "0.0.0.0:53",
        "198.18.0.1:0",
        "[2001:2::1]:53",
    ] {
        let to: SocketAddr = to.parse().unwrap();
        assert_eq!(s.udp_send_to(h, to, b"x"), Err(UdpError::InvalidRemote(to)));
    }
    assert_eq!(s.udp_send(h, b"x"), Err(UdpError::NoPeer));
}

/// A datagram that does not fit in the link queue is refused with WouldBlock (the caller
/// waits for the loop to drain it), never half-queued.
#[test]
fn a_full_link_queue_refuses_whole_datagrams() {
    let mut s = Stack::new(StackConfig {
        max_queued: 10,
        ..StackConfig::default()
    });
    let h = s.udp_bind(0, 0).unwrap();
    let to = SocketAddr::from((KERNEL, 9));
    for _ in 0..8 {
        s.udp_send_to(h, to, b"small").unwrap();
    }
    assert_eq!(
        s.udp_send_to(h, to, &[0; 4000]),
        Err(UdpError::WouldBlock),
        "3 fragments, 2 places left"
    );
    assert_eq!(sent(&mut s).len(), 8);
    assert_eq!(s.udp_send_to(h, to, &[0; 4000]), Ok(4000));
    assert_eq!(sent(&mut s).len(), 3);
    assert_eq!(s.counters().tx_queue_drops, 0);
}

/// USO: from an offload device a UDP super-datagram (virtio `GSO_UDP_L4`, what a local
/// sender's `UDP_SEGMENT` burst becomes) carries datagrams of `size` octets behind one
/// header; the stack takes it as those datagrams, each delivered on its own, over both
/// families. The checksum arrives partial (`NEEDS_CSUM`); every datagram's is computed.
#[test]
fn a_uso_super_datagram_is_taken_as_its_datagrams() {
    use tunstack::link::{ChecksumState, Gso, PacketDesc};
    let mut s = us();
    let h = s.udp_bind(4500, 0).unwrap();
    let data: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
    for (packet, ip) in [
        (udp4(40000, 4500, &data), 20u16),
        (udp6(40000, 4500, &data), 40),
    ] {
        let desc = PacketDesc {
            len: packet.len(),
            checksum: ChecksumState::Partial {
                start: ip,
                offset: 6,
            },
            gso: Gso::Udp {
                size: 1000,
                header_len: ip + 8,
            },
        };
        let mut partial = packet.clone();
        let at = usize::from(ip) + 6;
        partial[at..at + 2].copy_from_slice(&[0x12, 0x34]); // only the pseudo-header sum
        s.handle_packet_desc(NOW, &partial, desc);
        let mut got = Vec::new();
        let mut buf = [0; 2048];
        while let Ok((n, _)) = s.udp_recv_from(h, &mut buf) {
            got.push(buf[..n].to_vec());
        }
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 500],
            "three datagrams (IP header {ip})"
        );
        assert_eq!(got.concat(), data);
    }
    let c = s.counters();
    assert_eq!((c.rx_super_datagrams, c.rx_uso_datagrams), (2, 6));
    assert_eq!(c.rx_packets, 2, "one packet each from the device");
    assert_eq!(c.udp.datagrams_in, 6);
    assert_eq!(c.drops.total(), 0);
}
