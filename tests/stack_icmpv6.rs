//! The IPv6/ICMPv6 host in memory: what comes back for each kind of packet (RFC 8200,
//! RFC 4443), reassembly and fragmentation, the rules about when an error may be sent at
//! all, and rate limiting. One stack at 2001:2::2, packets from 2001:2::1 crafted by hand.

use etherparse::IpNumber;
use std::net::Ipv6Addr;
use tunstack::stack::{Stack, StackConfig};
use tunstack::time::{Duration, Instant};
use tunstack::wire::icmpv6::{self, Icmpv6In};
use tunstack::wire::ipv6::{self, Ipv6Out};
use tunstack::wire::{DropReason, PseudoHeader};

const KERNEL: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const US: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

/// ICMPv6 types (RFC 4443).
const DEST_UNREACHABLE: u8 = 1;
const TIME_EXCEEDED: u8 = 3;
const ECHO_REQUEST: u8 = 128;
const ECHO_REPLY: u8 = 129;

fn out(dst: Ipv6Addr, next_header: IpNumber) -> Ipv6Out {
    Ipv6Out {
        src: KERNEL,
        dst,
        next_header,
        hop_limit: 64,
        dscp: 0,
        flow_label: 0,
    }
}

/// A packet from the kernel side to `dst` whose fixed header names `next_header`.
fn packet_to(dst: Ipv6Addr, next_header: IpNumber, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0; ipv6::HEADER_LEN + payload.len()];
    out(dst, next_header).emit_header(payload.len(), &mut p);
    p[ipv6::HEADER_LEN..].copy_from_slice(payload);
    p
}

fn packet(next_header: IpNumber, payload: &[u8]) -> Vec<u8> {
    packet_to(US, next_header, payload)
}

/// An echo request to `dst`, checksummed over the pseudo-header.
fn echo_request(dst: Ipv6Addr, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![ECHO_REQUEST, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let sum = PseudoHeader::icmpv6(KERNEL, dst).checksum(&[&m]);
    m[2..4].copy_from_slice(&sum);
    m
}

/// A UDP datagram to `dst`:`dport`, with the checksum IPv6 makes mandatory (RFC 8200 §8.1).
fn udp(dst: Ipv6Addr, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&5555u16.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    let sum = PseudoHeader::udp(KERNEL, dst).checksum(&[&u]);
    u[6..8].copy_from_slice(&sum);
    u
}

/// A Destination Options header naming `next`, holding one option of `option_type` with
/// four octets of data (8 octets in all).
fn destination_options(next: IpNumber, option_type: u8) -> Vec<u8> {
    vec![next.0, 0, option_type, 4, 0, 0, 0, 0]
}

fn sent(stack: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0; 65_535];
    let mut out = Vec::new();
    while let Some(n) = stack.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// The ICMPv6 message of a packet from us to the kernel side, its checksum verified.
#[track_caller]
fn icmpv6_of(p: &[u8]) -> Icmpv6In<'_> {
    let ip = ipv6::parse(p).expect("an IPv6 packet");
    assert_eq!((ip.src(), ip.dst()), (US, KERNEL));
    assert_eq!(ip.next_header(), IpNumber::IPV6_ICMP);
    icmpv6::parse(PseudoHeader::icmpv6(US, KERNEL), ip.payload()).expect("a valid ICMPv6 message")
}

/// The (type, code) of an ICMPv6 message we sent.
fn type_code(p: &[u8]) -> (u8, u8) {
    (p[ipv6::HEADER_LEN], p[ipv6::HEADER_LEN + 1])
}

#[test]
fn echo_reply_preserves_identifier_sequence_and_payload() {
    let mut stack = Stack::new(StackConfig::default());
    let data: Vec<u8> = (0..56).collect();
    let request = echo_request(US, 0x1234, 9, &data);
    stack.handle_packet(Instant::ZERO, &packet(IpNumber::IPV6_ICMP, &request));
    let out = sent(&mut stack, Instant::ZERO);
    assert_eq!(out.len(), 1);
    assert_eq!(ipv6::parse(&out[0]).unwrap().hop_limit(), 64);
    assert_eq!(type_code(&out[0]), (ECHO_REPLY, 0));
    // Our parser decodes requests only: read the reply's fields by hand.
    let reply = &out[0][ipv6::HEADER_LEN..];
    assert!(PseudoHeader::icmpv6(US, KERNEL).checksum_ok(&[reply]));
    assert_eq!(&reply[4..6], &0x1234u16.to_be_bytes());
    assert_eq!(&reply[6..8], &9u16.to_be_bytes());
    assert_eq!(&reply[8..], &data[..]);
    let c = stack.counters();
    assert_eq!(
        (c.echo_requests, c.echo_replies, c.ipv6_packets_in),
        (1, 1, 1)
    );
}

/// RFC 8200 §4.5: a 4000-octet echo request in three fragments, delivered last first, is
/// reassembled and answered; the 4008-octet reply leaves in fragments of at most the MTU,
/// each with a Fragment header, that rebuild into the echo reply.
#[test]
fn large_echo_is_reassembled_and_answered_in_fragments() {
    let mut stack = Stack::new(StackConfig::default());
    let data: Vec<u8> = (0..4000).map(|i| (i % 251) as u8).collect();
    let request = echo_request(US, 7, 7, &data);
    let mut frags = Vec::new();
    let n = out(US, IpNumber::IPV6_ICMP).fragment(&request, 1500, 0xabcd, &mut Vec::new(), |p| {
        frags.push(p.to_vec())
    });
    assert_eq!(n, 3);
    for i in [2, 0, 1] {
        stack.handle_packet(Instant::ZERO, &frags[i]);
    }
    let replies = sent(&mut stack, Instant::ZERO);
    assert_eq!(replies.len(), 3, "a 4008-octet reply in 1448-octet pieces");
    let mut rebuilt = Vec::new();
    let mut ident = None;
    for (i, p) in replies.iter().enumerate() {
        assert!(p.len() <= 1500);
        let ip = ipv6::parse(p).unwrap();
        assert_eq!((ip.src(), ip.dst()), (US, KERNEL));
        assert_eq!(ip.next_header(), IpNumber::IPV6_FRAGMENTATION_HEADER);
        let f = &p[ipv6::HEADER_LEN..ipv6::HEADER_LEN + ipv6::FRAGMENT_HEADER_LEN];
        assert_eq!(
            f[0],
            IpNumber::IPV6_ICMP.0,
            "the Fragment header names ICMPv6"
        );
        let offset = usize::from(u16::from_be_bytes([f[2], f[3]]) & 0xfff8);
        let more = f[3] & 1 == 1;
        assert_eq!(offset, rebuilt.len());
        assert_eq!(more, i < 2);
        let id = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
        assert_eq!(*ident.get_or_insert(id), id, "one identification");
        rebuilt.extend_from_slice(&p[ipv6::HEADER_LEN + ipv6::FRAGMENT_HEADER_LEN..]);
    }
    assert_eq!(rebuilt.len(), 4008);
    assert_eq!(rebuilt[0], ECHO_REPLY);
    assert!(PseudoHeader::icmpv6(US, KERNEL).checksum_ok(&[&rebuilt]));
    assert_eq!(&rebuilt[4..8], &[0, 7, 0, 7]);
    assert_eq!(&rebuilt[8..], &data[..]);
    let c = stack.counters();
    assert_eq!(
        (
            c.fragments6_in,
            c.datagrams6_reassembled,
            c.fragments6_out,
            c.echo_replies
        ),
        (3, 1, 3, 1)
    );
}

/// RFC 4443 §3.1: UDP to a port with no service gets a Destination Unreachable, code 4
/// (port unreachable), quoting the whole (small) packet.
#[test]
fn udp_to_a_closed_port_gets_destination_unreachable_code_4() {
    let mut stack = Stack::new(StackConfig::default());
    let p = packet(IpNumber::UDP, &udp(US, 53, b"query"));
    stack.handle_packet(Instant::ZERO, &p);
    let out = sent(&mut stack, Instant::ZERO);
    assert_eq!(out.len(), 1);
    assert_eq!(
        icmpv6_of(&out[0]),
        Icmpv6In::DestUnreachable {
            code: 4,
            original: &p[..]
        }
    );
    assert_eq!(stack.counters().port_unreachable_sent, 1);
    // Over IPv6 a zero UDP checksum is invalid (RFC 8200 §8.1): dropped, not answered.
    let mut zero = udp(US, 53, b"query");
    zero[6..8].copy_from_slice(&[0, 0]);
    stack.handle_packet(Instant::ZERO, &packet(IpNumber::UDP, &zero));
    assert!(sent(&mut stack, Instant::ZERO).is_empty());
    assert_eq!(stack.counters().drops.get(DropReason::UdpBadChecksum), 1);
}

/// RFC 8200 §4: an unrecognized Next Header gets a Parameter Problem, code 1, whose pointer
/// is the octet of the field that names it: 6 in the fixed header, 40 in a Destination
/// Options header after it.
#[test]
fn unknown_next_header_gets_parameter_problem_code_1_pointing_at_it() {
    let mut stack = Stack::new(StackConfig::default());
    let bare = packet(IpNumber(253), b"experimental");
    let mut behind = destination_options(IpNumber(253), 1);
    behind.extend_from_slice(b"experimental");
    let behind = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &behind);
    for (p, pointer) in [(&bare, 6), (&behind, 40)] {
        stack.handle_packet(Instant::ZERO, p);
        let out = sent(&mut stack, Instant::ZERO);
        assert_eq!(out.len(), 1);
        assert_eq!(
            icmpv6_of(&out[0]),
            Icmpv6In::ParameterProblem {
                code: 1,
                pointer,
                original: &p[..]
            }
        );
    }
    let c = stack.counters();
    assert_eq!(c.parameter_problems_sent, 2);
    assert_eq!(c.drops.get(DropReason::Ipv6UnknownNextHeader), 2);
}

/// RFC 4443 §2.4(e.3): no error about a packet sent to a multicast group (here all-nodes,
/// which we are in): UDP there is not answered with port unreachable, an unknown Next
/// Header there draws no Parameter Problem. The exception: an unrecognized option whose
/// type has the high bits 10 is reported even then (RFC 8200 §4.2). An echo request to the
/// group is answered, from our unicast address (§4.2).
#[test]
fn no_error_about_a_packet_sent_to_a_multicast_group() {
    let mut stack = Stack::new(StackConfig::default());
    let group = ipv6::ALL_NODES;
    stack.handle_packet(
        Instant::ZERO,
        &packet_to(group, IpNumber::UDP, &udp(group, 53, b"query")),
    );
    stack.handle_packet(Instant::ZERO, &packet_to(group, IpNumber(253), b"x"));
    let mut payload = destination_options(IpNumber::IPV6_ICMP, 0xc2);
    payload.extend_from_slice(&echo_request(group, 1, 1, b""));
    stack.handle_packet(
        Instant::ZERO,
        &packet_to(group, IpNumber::IPV6_DESTINATION_OPTIONS, &payload),
    );
    assert!(sent(&mut stack, Instant::ZERO).is_empty(), "no errors");
    let c = stack.counters();
    assert_eq!(c.drops.get(DropReason::UdpToMulticast), 1);
    assert_eq!(c.drops.get(DropReason::Ipv6UnknownNextHeader), 1);
    assert_eq!(c.drops.get(DropReason::Ipv6UnknownOption), 1);
    assert_eq!((c.port_unreachable_sent, c.parameter_problems_sent), (0, 0));
    // Option type 0x82: high bits 10, "discard and send a Parameter Problem, code 2, even
    // if the destination was a multicast address".
    let mut payload = destination_options(IpNumber::IPV6_ICMP, 0x82);
    payload.extend_from_slice(&echo_request(group, 1, 1, b""));
    let p = packet_to(group, IpNumber::IPV6_DESTINATION_OPTIONS, &payload);
    stack.handle_packet(Instant::ZERO, &p);
    let out = sent(&mut stack, Instant::ZERO);
    assert_eq!(out.len(), 1);
    assert_eq!(
        icmpv6_of(&out[0]),
        Icmpv6In::ParameterProblem {
            code: 2,
            pointer: 42,
            original: &p[..]
        }
    );
    // An echo request to the group: answered from our unicast address.
    let request = echo_request(group, 3, 4, b"ping");
    stack.handle_packet(
        Instant::ZERO,
        &packet_to(group, IpNumber::IPV6_ICMP, &request),
    );
    let out = sent(&mut stack, Instant::ZERO);
    assert_eq!(out.len(), 1);
    assert_eq!(type_code(&out[0]), (ECHO_REPLY, 0));
    assert_eq!(ipv6::parse(&out[0]).unwrap().src(), US);
}

/// RFC 4443 §2.4(e.1): no error about an ICMPv6 error message, even one that would draw a
/// Parameter Problem code 2 were it an echo request.
#[test]
fn no_error_about_an_icmpv6_error() {
    let mut stack = Stack::new(StackConfig::default());
    let mut unreachable = vec![DEST_UNREACHABLE, 0, 0, 0, 0, 0, 0, 0];
    unreachable.extend_from_slice(&packet(IpNumber::UDP, &udp(US, 9, b"")));
    let sum = PseudoHeader::icmpv6(KERNEL, US).checksum(&[&unreachable]);
    unreachable[2..4].copy_from_slice(&sum);
    for message in [unreachable, echo_request(US, 1, 1, b"")] {
        let mut payload = destination_options(IpNumber::IPV6_ICMP, 0x82);
        payload.extend_from_slice(&message);
        stack.handle_packet(
            Instant::ZERO,
            &packet(IpNumber::IPV6_DESTINATION_OPTIONS, &payload),
        );
    }
    let out = sent(&mut stack, Instant::ZERO);
    assert_eq!(
        out.len(),
        1,
        "one Parameter Problem, about the echo request"
    );
    let Icmpv6In::ParameterProblem { original, .. } = icmpv6_of(&out[0]) else {
        panic!("not a Parameter Problem")
    };
    assert_eq!(original[48], ECHO_REQUEST);
    assert_eq!(stack.counters().drops.get(DropReason::Ipv6UnknownOption), 2);
}

/// RFC 4443 §2.4(f): ICMPv6 errors are rate-limited (a burst of 10, then 100 a second, as
/// for IPv4, one bucket for both); echo replies are not errors and are not limited.
#[test]
fn icmpv6_errors_are_rate_limited_but_echo_is_not() {
    let mut stack = Stack::new(StackConfig::default());
    let t = Instant::from_secs(5);
    let closed = packet(IpNumber::UDP, &udp(US, 9999, b"x"));
    let ping = packet(IpNumber::IPV6_ICMP, &echo_request(US, 1, 1, b"p"));
    for _ in 0..100 {
        stack.handle_packet(t, &closed);
        stack.handle_packet(t, &ping);
    }
    let out = sent(&mut stack, t);
    let c = stack.counters();
    assert_eq!(c.port_unreachable_sent, 10, "the burst");
    assert_eq!(c.icmp_errors_rate_limited, 90);
    assert_eq!(c.echo_replies, 100);
    assert_eq!(out.len(), 110);
    let later = t + Duration::from_millis(50);
    for _ in 0..20 {
        stack.handle_packet(later, &closed);
    }
    assert_eq!(stack.counters().port_unreachable_sent, 15);
}

/// RFC 8200 §4.5: when reassembly times out (60 s) and the first fragment had arrived, its
/// source gets a Time Exceeded, code 1, quoting that fragment; without the first fragment,
/// or when the packet went to a multicast group (RFC 4443 §2.4(e.3)), nothing is sent. Each
/// expired packet is counted.
#[test]
fn reassembly_timeout_sends_time_exceeded_only_when_the_first_fragment_arrived() {
    let mut stack = Stack::new(StackConfig::default());
    let request = echo_request(US, 1, 1, &[9u8; 3000]);
    let to_group = echo_request(ipv6::ALL_NODES, 1, 1, &[9u8; 3000]);
    let fragments = |dst, message: &[u8], ident| {
        let mut frags = Vec::new();
        out(dst, IpNumber::IPV6_ICMP).fragment(message, 1500, ident, &mut Vec::new(), |p| {
            frags.push(p.to_vec())
        });
        frags
    };
    let with_first = fragments(US, &request, 1);
    let without_first = fragments(US, &request, 2);
    let multicast = fragments(ipv6::ALL_NODES, &to_group, 3);
    let t = Instant::from_secs(1);
    stack.handle_packet(t, &with_first[0]);
    stack.handle_packet(t, &without_first[1]);
    stack.handle_packet(t, &multicast[0]);
    assert!(sent(&mut stack, t).is_empty());
    assert_eq!(stack.poll_timeout(), Some(Instant::from_secs(61)));
    stack.handle_timeout(Instant::from_secs(61));
    let out = sent(&mut stack, Instant::from_secs(61));
    assert_eq!(out.len(), 1, "one Time Exceeded");
    let Icmpv6In::TimeExceeded { code, original } = icmpv6_of(&out[0]) else {
        panic!("not a Time Exceeded")
    };
    assert_eq!(type_code(&out[0]), (TIME_EXCEEDED, 1));
    assert_eq!(code, 1, "fragment reassembly time exceeded");
    assert_eq!(
        original,
        &with_first[0][..icmpv6::MAX_QUOTE],
        "the first fragment, as much as fits in 1280 octets"
    );
    assert!(out[0].len() <= ipv6::MIN_MTU);
    let c = stack.counters();
    assert_eq!(c.time_exceeded_sent, 1);
    assert_eq!(c.drops.get(DropReason::FragmentTimeout), 3);
    assert_eq!(stack.poll_timeout(), None);
}
