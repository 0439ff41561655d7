//! The IPv4/ICMP host in memory: what comes back for each kind of datagram (RFC 792,
//! RFC 1122 §3.2.2), fragmentation on the way out, rate limiting and drop accounting.

use etherparse::IpNumber;
use std::net::Ipv4Addr;
use tunstack::stack::{Stack, StackConfig};
use tunstack::time::{Duration, Instant};
use tunstack::wire::icmp::{self, IcmpIn};
use tunstack::wire::ipv4::{self, Ipv4Out};
use tunstack::wire::{DropReason, internet_checksum};

const KERNEL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// A datagram from the kernel side to us.
fn datagram(protocol: IpNumber, payload: &[u8]) -> Vec<u8> {
    let out = Ipv4Out {
        src: KERNEL,
        dst: US,
        protocol,
        ttl: 64,
        dscp: 0,
        ident: 77,
        dont_fragment: false,
    };
    let mut p = vec![0; 20 + payload.len()];
    out.emit_header(payload.len(), &mut p);
    p[20..].copy_from_slice(payload);
    p
}

fn echo_request(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let sum = internet_checksum(&[&m]);
    m[2..4].copy_from_slice(&sum);
    m
}

fn udp(dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&5555u16.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]); // no checksum (RFC 768 allows it)
    u.extend_from_slice(data);
    u
}

fn sent(stack: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0; 65_535];
    let mut out = Vec::new();
    while let Some(n) = stack.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn echo_reply_preserves_identifier_sequence_and_payload() {
    let mut stack = Stack::new(StackConfig::default());
    let data: Vec<u8> = (0..56).collect();
    stack.handle_packet(
        Instant::ZERO,
        &datagram(IpNumber::ICMP, &echo_request(0x1234, 9, &data)),
    );
    let out = sent(&mut stack, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let ip = ipv4::parse(&out[0]).unwrap();
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (US, KERNEL, IpNumber::ICMP)
    );
    assert_eq!(ip.ttl(), 64);
    let reply = ip.payload();
    assert_eq!(reply[0], 0, "echo reply");
    assert!(tunstack::wire::checksum_ok(&[reply]));
    assert_eq!(&reply[4..6], &0x1234u16.to_be_bytes());
    assert_eq!(&reply[6..8], &9u16.to_be_bytes());
    assert_eq!(&reply[8..], &data[..]);
}

#[test]
fn large_echo_reply_is_fragmented_to_the_mtu() {
    let mut stack = Stack::new(StackConfig {
        mtu: 576,
        ..StackConfig::default()
    });
    let data = vec![0xab; 2000];
    stack.handle_packet(
        Instant::ZERO,
        &datagram(IpNumber::ICMP, &echo_request(1, 1, &data)),
    );
    let out = sent(&mut stack, Instant::ZERO);
    assert_eq!(out.len(), 4, "2008 bytes of ICMP in 552-byte pieces");
    let mut rebuilt = Vec::new();
    for p in &out {
        assert!(p.len() <= 576);
        let ip = ipv4::parse(p).unwrap();
        assert_eq!(ip.fragment_offset(), rebuilt.len());
        rebuilt.extend_from_slice(ip.payload());
    }
    assert_eq!(rebuilt.len(), 2008);
    assert_eq!(&rebuilt[8..], &data[..]);
    assert_eq!(stack.counters().fragments_out, 4);
}

#[test]
fn udp_gets_port_unreachable_quoting_the_datagram() {
    let mut stack = Stack::new(StackConfig::default());
    let d = datagram(IpNumber::UDP, &udp(53, b"query"));
    stack.handle_packet(Instant::ZERO, &d);
    let out = sent(&mut stack, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let ip = ipv4::parse(&out[0]).unwrap();
    match icmp::parse(ip.payload()).unwrap() {
        IcmpIn::DestUnreachable { code, original, .. } => {
            assert_eq!(code, 3, "port unreachable");
            assert_eq!(original, &d[..], "the whole (small) datagram is quoted");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stack.counters().port_unreachable_sent, 1);
}

#[test]
fn unknown_protocol_gets_protocol_unreachable() {
    let mut stack = Stack::new(StackConfig::default());
    stack.handle_packet(Instant::ZERO, &datagram(IpNumber(253), b"experimental"));
    let out = sent(&mut stack, Instant::ZERO);
    let ip = ipv4::parse(&out[0]).unwrap();
    assert!(matches!(
        icmp::parse(ip.payload()).unwrap(),
        IcmpIn::DestUnreachable { code: 2, .. }
    ));
    assert_eq!(stack.counters().protocol_unreachable_sent, 1);
}

#[test]
fn icmp_errors_are_rate_limited_but_echo_is_not() {
    let mut stack = Stack::new(StackConfig::default());
    let t = Instant::from_secs(5);
    for _ in 0..100 {
        stack.handle_packet(t, &datagram(IpNumber::UDP, &udp(9999, b"x")));
        stack.handle_packet(t, &datagram(IpNumber::ICMP, &echo_request(1, 1, b"p")));
    }
    let out = sent(&mut stack, t);
    let c = stack.counters();
    assert_eq!(c.port_unreachable_sent, 10, "the burst");
    assert_eq!(c.icmp_errors_rate_limited, 90);
    assert_eq!(c.echo_replies, 100);
    assert_eq!(out.len(), 110);
    // 100 per second afterwards: 50 ms later, five more.
    let later = t + Duration::from_millis(50);
    for _ in 0..20 {
        stack.handle_packet(later, &datagram(IpNumber::UDP, &udp(9999, b"x")));
    }
    assert_eq!(stack.counters().port_unreachable_sent, 15);
}

#[test]
fn datagrams_not_for_us_or_from_impossible_sources_are_dropped_silently() {
    let mut stack = Stack::new(StackConfig::default());
    let mut other = datagram(IpNumber::ICMP, &echo_request(1, 1, b""));
    other[19] = 3; // to 198.18.0.3
    other[10..12].copy_from_slice(&[0, 0]);
    let sum = internet_checksum(&[&other[..20]]);
    other[10..12].copy_from_slice(&sum);
    stack.handle_packet(Instant::ZERO, &other);
    for src in [
        [127, 0, 0, 1],
        [224, 0, 0, 1],
        [255, 255, 255, 255],
        [0, 0, 0, 0],
        US.octets(),
    ] {
        let mut p = datagram(IpNumber::ICMP, &echo_request(1, 1, b""));
        p[12..16].copy_from_slice(&src);
        p[10..12].copy_from_slice(&[0, 0]);
        let sum = internet_checksum(&[&p[..20]]);
        p[10..12].copy_from_slice(&sum);
        stack.handle_packet(Instant::ZERO, &p);
    }
    assert!(sent(&mut stack, Instant::ZERO).is_empty());
    let d = &stack.counters().drops;
    assert_eq!(d.get(DropReason::Ipv4NotForUs), 1);
    assert_eq!(d.get(DropReason::Ipv4BadSource), 5);
}

#[test]
fn fragmented_ping_is_reassembled_and_answered_and_stale_fragments_expire() {
    let mut stack = Stack::new(StackConfig::default());
    let msg = echo_request(7, 7, &vec![1u8; 3992]);
    let out = Ipv4Out {
        src: KERNEL,
        dst: US,
        protocol: IpNumber::ICMP,
        ttl: 64,
        dscp: 0,
        ident: 500,
        dont_fragment: false,
    };
    let mut frags = Vec::new();
    out.fragment(&msg, 1500, &mut Vec::new(), |p| frags.push(p.to_vec()));
    assert_eq!(frags.len(), 3);
    // Last first, then the others: still one whole reply.
    for i in [2, 0, 1] {
        stack.handle_packet(Instant::ZERO, &frags[i]);
    }
    assert_eq!(
        sent(&mut stack, Instant::ZERO).len(),
        3,
        "a 4028-byte reply in 3 fragments"
    );
    assert_eq!(stack.counters().echo_replies, 1);
    // A lone fragment is dropped after 30 s, counted as a timeout.
    stack.handle_packet(Instant::from_secs(1), &frags[0]);
    assert_eq!(stack.poll_timeout(), Some(Instant::from_secs(31)));
    stack.handle_timeout(Instant::from_secs(31));
    assert_eq!(stack.counters().drops.get(DropReason::FragmentTimeout), 1);
    assert_eq!(stack.poll_timeout(), None);
}
