//! ICMPv6 (RFC 4443): echo, the errors we send and receive, and the rules about when an
//! error may be sent at all.
//!
//! Unlike ICMPv4, the checksum covers an IPv6 pseudo-header (RFC 4443 §2.3), so parsing and
//! emitting take a [`PseudoHeader`] (see [`PseudoHeader::icmpv6`]). Emitters write the ICMPv6
//! message only; the caller puts an [`crate::wire::ipv6::Ipv6Out`] header in front.

use super::icmp::Quote;
use super::ipv6;
use super::{DropReason, PseudoHeader};
use etherparse::IpNumber;
use etherparse::icmpv6::{
    DestUnreachableCode, ParameterProblemCode, ParameterProblemHeader, TYPE_DST_UNREACH,
    TYPE_ECHO_REPLY, TYPE_ECHO_REQUEST, TYPE_PACKET_TOO_BIG, TYPE_PARAMETER_PROBLEM,
    TYPE_REDIRECT_MESSAGE, TYPE_TIME_EXCEEDED, TimeExceededCode,
};
use std::net::{Ipv6Addr, SocketAddr};

/// RFC 4443 §2.1: type, code and checksum.
pub const HEADER_LEN: usize = 4;
/// Type, code, checksum and the 32-bit field every message we decode or send has next
/// (identifier and sequence, MTU, pointer, or unused).
pub const FIXED_LEN: usize = 8;
/// RFC 4443 §2.4(c): an error carries as much of the offending packet as fits without the
/// error packet, IPv6 header included, exceeding the minimum IPv6 MTU.
pub const ERROR_MAX_LEN: usize = ipv6::MIN_MTU;
/// The most of the offending packet an error quotes (1232 octets).
pub const MAX_QUOTE: usize = ERROR_MAX_LEN - ipv6::HEADER_LEN - FIXED_LEN;

/// An incoming ICMPv6 message, as far as the stack cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv6In<'a> {
    /// RFC 4443 §4.1, type 128: answered with an echo reply carrying the same three fields.
    EchoRequest {
        /// Identifier, echoed in the reply.
        id: u16,
        /// Sequence Number, echoed in the reply.
        seq: u16,
        /// The data after the header, echoed in the reply.
        data: &'a [u8],
    },
    /// RFC 4443 §3.1, type 1: a packet we sent could not be delivered.
    DestUnreachable {
        /// 0 no route, 1 administratively prohibited, 2 beyond scope of source, 3 address
        /// unreachable, 4 port unreachable, 5 source address failed policy, 6 reject route.
        code: u8,
        /// The quoted packet: as much of it as fit.
        original: &'a [u8],
    },
    /// RFC 4443 §3.2, type 2: a packet we sent was larger than a link on its path.
    PacketTooBig {
        /// The MTU of that link (RFC 8201: never take it below 1280).
        mtu: u32,
        /// The quoted packet: as much of it as fit.
        original: &'a [u8],
    },
    /// RFC 4443 §3.3, type 3: a packet we sent ran out of hops or of reassembly time.
    TimeExceeded {
        /// 0 hop limit exceeded in transit, 1 fragment reassembly time exceeded.
        code: u8,
        /// The quoted packet: as much of it as fit.
        original: &'a [u8],
    },
    /// RFC 4443 §3.4, type 4: a field of a packet we sent was refused.
    ParameterProblem {
        /// 0 erroneous header field, 1 unrecognized Next Header, 2 unrecognized option, 3
        /// incomplete header chain in a first fragment (RFC 7112), ...
        code: u8,
        /// The octet of the quoted packet where the error was found.
        pointer: u32,
        /// The quoted packet: as much of it as fit.
        original: &'a [u8],
    },
    /// Anything else: echo replies, router and neighbor discovery, MLD, redirects, unknown
    /// types and codes. Counted, never answered (RFC 4443 §2.4(b)).
    Other {
        /// The message's type field.
        icmp_type: u8,
        /// The message's code field.
        code: u8,
    },
}

/// Checks the checksum over `pseudo` and the whole message (`message` is the upper-layer
/// payload of the IPv6 packet) and decodes it.
pub fn parse(pseudo: PseudoHeader, message: &[u8]) -> Result<Icmpv6In<'_>, DropReason> {
    debug_assert!(pseudo.is_ipv6(), "ICMPv6 over an IPv4 pseudo-header");
    if message.len() < HEADER_LEN {
        return Err(DropReason::Icmpv6Truncated);
    }
    // RFC 4443 §2.3: the checksum is mandatory.
    if !pseudo.checksum_ok(&[message]) {
        return Err(DropReason::Icmpv6BadChecksum);
    }
    let (icmp_type, code) = (message[0], message[1]);
    let decoded = matches!(
        icmp_type,
        TYPE_ECHO_REQUEST
            | TYPE_DST_UNREACH
            | TYPE_PACKET_TOO_BIG
            | TYPE_TIME_EXCEEDED
            | TYPE_PARAMETER_PROBLEM
    );
    if decoded && message.len() < FIXED_LEN {
        return Err(DropReason::Icmpv6Truncated);
    }
    let word = || u32::from_be_bytes([message[4], message[5], message[6], message[7]]);
    let body = message.get(FIXED_LEN..).unwrap_or_default();
    Ok(match icmp_type {
        TYPE_ECHO_REQUEST if code == 0 => Icmpv6In::EchoRequest {
            id: u16::from_be_bytes([message[4], message[5]]),
            seq: u16::from_be_bytes([message[6], message[7]]),
            data: body,
        },
        TYPE_DST_UNREACH => Icmpv6In::DestUnreachable {
            code,
            original: body,
        },
        TYPE_PACKET_TOO_BIG => Icmpv6In::PacketTooBig {
            mtu: word(),
            original: body,
        },
        TYPE_TIME_EXCEEDED => Icmpv6In::TimeExceeded {
            code,
            original: body,
        },
        TYPE_PARAMETER_PROBLEM => Icmpv6In::ParameterProblem {
            code,
            pointer: word(),
            original: body,
        },
        _ => Icmpv6In::Other { icmp_type, code },
    })
}

/// Reads the endpoints out of an ICMPv6 error's quoted packet, through its extension
/// headers to the first 8 octets of its upper-layer header; `None` when the quote is too
/// short or not of a first fragment, so nothing can be told about it.
pub fn parse_quote(original: &[u8]) -> Option<Quote> {
    let (protocol, at) = ipv6::upper_layer(original)?;
    let ports = original.get(at..at + 8)?;
    let port = |i: usize| u16::from_be_bytes([ports[i], ports[i + 1]]);
    let addr =
        |i: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&original[i..i + 16]).expect("16 octets"));
    Some(Quote {
        protocol,
        src: SocketAddr::new(addr(8).into(), port(0)),
        dst: SocketAddr::new(addr(24).into(), port(2)),
    })
}

/// An ICMPv6 error message we may send about a packet we received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorMessage {
    /// RFC 4443 §3.1, type 1; code 4 (port unreachable) for UDP to a closed port.
    DestUnreachable(DestUnreachableCode),
    /// RFC 4443 §3.2, type 2 (a router's message; here for completeness of the rules).
    PacketTooBig {
        /// The MTU of the next-hop link.
        mtu: u32,
    },
    /// RFC 4443 §3.3, type 3; code 1 when reassembly timed out (RFC 8200 §4.5).
    TimeExceeded(TimeExceededCode),
    /// RFC 4443 §3.4, type 4: the code and pointer an [`ipv6::Ipv6Error`] asks for.
    ParameterProblem(ParameterProblemHeader),
}

impl ErrorMessage {
    fn type_code_word(&self) -> (u8, u8, u32) {
        match *self {
            ErrorMessage::DestUnreachable(code) => (TYPE_DST_UNREACH, code as u8, 0),
            ErrorMessage::PacketTooBig { mtu } => (TYPE_PACKET_TOO_BIG, 0, mtu),
            ErrorMessage::TimeExceeded(code) => (TYPE_TIME_EXCEEDED, code as u8, 0),
            ErrorMessage::ParameterProblem(p) => {
                (TYPE_PARAMETER_PROBLEM, p.code.code_u8(), p.pointer)
            }
        }
    }
}

/// RFC 4443 §2.4(e): whether an error may be sent about `original` (the packet as received,
/// fixed header first) at all. Never about an ICMPv6 error message or a redirect (e.1, e.2),
/// never from a source that does not name one node, unspecified or multicast (e.5), and never
/// about a packet to a multicast destination (e.3), except a Packet Too Big and a Parameter
/// Problem code 2 about an option whose type has the high bits 10 (RFC 8200 §4.2). A rate
/// limit (§2.4(f)) is the caller's, on top.
pub fn may_send_error(original: &[u8], error: &ErrorMessage) -> bool {
    let Ok(header) = etherparse::Ipv6HeaderSlice::from_slice(original) else {
        return false;
    };
    let src = header.source_addr();
    if src.is_unspecified() || src.is_multicast() {
        return false;
    }
    if header.destination_addr().is_multicast() {
        let allowed = match error {
            ErrorMessage::PacketTooBig { .. } => true,
            ErrorMessage::ParameterProblem(ParameterProblemHeader {
                code: ParameterProblemCode::UnrecognizedIpv6Option,
                pointer,
            }) => original
                .get(*pointer as usize)
                .is_some_and(|option_type| option_type >> 6 == 0b10),
            _ => false,
        };
        if !allowed {
            return false;
        }
    }
    // An error about an ICMPv6 error (type below 128) or a redirect could loop or multiply.
    // When the chain cannot be followed (cut short, a later fragment) it is not known to be
    // one.
    match ipv6::upper_layer(original) {
        Some((IpNumber::IPV6_ICMP, at)) => original
            .get(at)
            .is_none_or(|&t| t >= 128 && t != TYPE_REDIRECT_MESSAGE),
        _ => true,
    }
}

/// Writes an echo reply (RFC 4443 §4.2, type 129) carrying the request's identifier,
/// sequence number and data into `buf`; returns the octets written. `pseudo` is from us to
/// the requester.
pub fn emit_echo_reply(
    pseudo: PseudoHeader,
    id: u16,
    seq: u16,
    data: &[u8],
    buf: &mut [u8],
) -> usize {
    let mut header = [TYPE_ECHO_REPLY, 0, 0, 0, 0, 0, 0, 0];
    header[4..6].copy_from_slice(&id.to_be_bytes());
    header[6..8].copy_from_slice(&seq.to_be_bytes());
    write(pseudo, header, data, buf)
}

/// Writes the error `error` quoting `original` (the packet we received, fixed header first)
/// trimmed to [`MAX_QUOTE`] octets, so that the error packet with its 40-octet IPv6 header
/// stays within 1280 octets (RFC 4443 §2.4(c)); returns the octets written. `pseudo` is from
/// us to the offending packet's source. Ask [`may_send_error`] first.
pub fn emit_error(
    pseudo: PseudoHeader,
    error: ErrorMessage,
    original: &[u8],
    buf: &mut [u8],
) -> usize {
    let (icmp_type, code, word) = error.type_code_word();
    let mut header = [icmp_type, code, 0, 0, 0, 0, 0, 0];
    header[4..8].copy_from_slice(&word.to_be_bytes());
    let quoted = &original[..original.len().min(MAX_QUOTE)];
    write(pseudo, header, quoted, buf)
}

fn write(pseudo: PseudoHeader, header: [u8; FIXED_LEN], body: &[u8], buf: &mut [u8]) -> usize {
    let sum = pseudo.checksum(&[&header, body]);
    buf[..FIXED_LEN].copy_from_slice(&header);
    buf[2..4].copy_from_slice(&sum);
    buf[FIXED_LEN..FIXED_LEN + body.len()].copy_from_slice(body);
    FIXED_LEN + body.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::tests::{OURS, PEER, fragment_header, options, packet};
    use proptest::prelude::*;

    /// The pseudo-header of a message from PEER to OURS (as received).
    fn inbound() -> PseudoHeader {
        PseudoHeader::icmpv6(PEER, OURS)
    }

    /// An echo request from PEER, built as a reply and retyped.
    fn echo_request(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
        let mut m = vec![0; FIXED_LEN + data.len()];
        emit_echo_reply(inbound(), id, seq, data, &mut m);
        m[0] = TYPE_ECHO_REQUEST;
        m[2..4].copy_from_slice(&[0, 0]);
        let sum = inbound().checksum(&[&m]);
        m[2..4].copy_from_slice(&sum);
        m
    }

    #[test]
    fn echo_reply_round_trips_id_seq_and_data() {
        let request = echo_request(0xbeef, 7, b"payload");
        let Icmpv6In::EchoRequest { id, seq, data } = parse(inbound(), &request).unwrap() else {
            panic!("not an echo request")
        };
        assert_eq!((id, seq, data), (0xbeef, 7, &b"payload"[..]));
        // The reply goes from OURS to PEER.
        let outbound = PseudoHeader::icmpv6(OURS, PEER);
        let mut buf = [0u8; 64];
        let n = emit_echo_reply(outbound, id, seq, data, &mut buf);
        assert_eq!(n, 15);
        assert_eq!(buf[0], TYPE_ECHO_REPLY);
        assert!(outbound.checksum_ok(&[&buf[..n]]));
        assert_eq!(
            parse(outbound, &buf[..n]).unwrap(),
            Icmpv6In::Other {
                icmp_type: TYPE_ECHO_REPLY,
                code: 0
            },
            "an echo reply is not answered"
        );
        assert_eq!(&buf[4..8], &[0xbe, 0xef, 0, 7]);
        assert_eq!(&buf[8..n], b"payload");
        // etherparse agrees on the checksum.
        let h = etherparse::Icmpv6Header::with_checksum(
            etherparse::Icmpv6Type::EchoReply(etherparse::IcmpEchoHeader { id, seq }),
            OURS.octets(),
            PEER.octets(),
            data,
        )
        .unwrap();
        assert_eq!(h.checksum.to_be_bytes(), [buf[2], buf[3]]);
    }

    #[test]
    fn bad_messages_are_refused() {
        assert_eq!(
            parse(inbound(), &[128, 0, 0]).unwrap_err(),
            DropReason::Icmpv6Truncated
        );
        let mut m = echo_request(1, 2, b"12345678");
        // The pseudo-header counts: the same message from another source fails.
        let elsewhere: Ipv6Addr = "2001:2::7".parse().unwrap();
        assert_eq!(
            parse(PseudoHeader::icmpv6(elsewhere, OURS), &m).unwrap_err(),
            DropReason::Icmpv6BadChecksum
        );
        m[9] ^= 0xff;
        assert_eq!(
            parse(inbound(), &m).unwrap_err(),
            DropReason::Icmpv6BadChecksum
        );
        // A zero checksum is not "no checksum" (RFC 4443 §2.3: mandatory).
        let mut m = echo_request(1, 2, b"x");
        m[2..4].copy_from_slice(&[0, 0]);
        assert_eq!(
            parse(inbound(), &m).unwrap_err(),
            DropReason::Icmpv6BadChecksum
        );
        // A decoded type shorter than its fixed part.
        let mut short = [TYPE_PARAMETER_PROBLEM, 0, 0, 0, 0, 0];
        let sum = inbound().checksum(&[&short]);
        short[2..4].copy_from_slice(&sum);
        assert_eq!(
            parse(inbound(), &short).unwrap_err(),
            DropReason::Icmpv6Truncated
        );
    }

    #[test]
    fn errors_and_informational_messages_decode() {
        let original = packet(IpNumber::UDP, &[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
        let message = |t: u8, code: u8, word: u32| {
            let mut m = vec![t, code, 0, 0];
            m.extend_from_slice(&word.to_be_bytes());
            m.extend_from_slice(&original);
            let sum = inbound().checksum(&[&m]);
            m[2..4].copy_from_slice(&sum);
            m
        };
        let o = &original[..];
        let m = message(1, 4, 0);
        assert_eq!(
            parse(inbound(), &m),
            Ok(Icmpv6In::DestUnreachable {
                code: 4,
                original: o
            })
        );
        let m = message(2, 0, 1400);
        assert_eq!(
            parse(inbound(), &m),
            Ok(Icmpv6In::PacketTooBig {
                mtu: 1400,
                original: o
            })
        );
        let m = message(3, 1, 0);
        assert_eq!(
            parse(inbound(), &m),
            Ok(Icmpv6In::TimeExceeded {
                code: 1,
                original: o
            })
        );
        let m = message(4, 2, 42);
        assert_eq!(
            parse(inbound(), &m),
            Ok(Icmpv6In::ParameterProblem {
                code: 2,
                pointer: 42,
                original: o
            })
        );
        // Informational messages we must not answer, and an echo request with a code.
        for (t, code) in [
            (129, 0),
            (130, 0),
            (131, 0),
            (132, 0),
            (133, 0),
            (134, 0),
            (135, 0),
            (136, 0),
            (137, 0),
            (143, 0),
            (128, 1),
            (200, 0),
            (100, 0),
        ] {
            let m = message(t, code, 0);
            assert_eq!(
                parse(inbound(), &m),
                Ok(Icmpv6In::Other { icmp_type: t, code })
            );
        }
        // A 4-octet message of a type we do not decode is not truncated.
        let mut m = [133, 0, 0, 0];
        let sum = inbound().checksum(&[&m]);
        m[2..4].copy_from_slice(&sum);
        assert_eq!(
            parse(inbound(), &m),
            Ok(Icmpv6In::Other {
                icmp_type: 133,
                code: 0
            })
        );
    }

    #[test]
    fn errors_quote_at_most_1232_octets() {
        let big = packet(IpNumber::UDP, &vec![0xab; 3000]);
        let outbound = PseudoHeader::icmpv6(OURS, PEER);
        let mut buf = vec![0u8; 2000];
        for error in [
            ErrorMessage::DestUnreachable(DestUnreachableCode::Port),
            ErrorMessage::TimeExceeded(TimeExceededCode::FragmentReassemblyTimeExceeded),
            ErrorMessage::ParameterProblem(ParameterProblemHeader {
                code: ParameterProblemCode::UnrecognizedNextHeader,
                pointer: 6,
            }),
        ] {
            let n = emit_error(outbound, error, &big, &mut buf);
            assert_eq!(
                n + ipv6::HEADER_LEN,
                ERROR_MAX_LEN,
                "{error:?}: the packet is 1280"
            );
            assert!(outbound.checksum_ok(&[&buf[..n]]));
            let decoded = parse(outbound, &buf[..n]).unwrap();
            let (t, code, word) = error.type_code_word();
            assert_eq!((buf[0], buf[1]), (t, code));
            assert_eq!(&buf[4..8], &word.to_be_bytes());
            match decoded {
                Icmpv6In::DestUnreachable { code: 4, original }
                | Icmpv6In::TimeExceeded { code: 1, original }
                | Icmpv6In::ParameterProblem {
                    code: 1,
                    pointer: 6,
                    original,
                } => {
                    assert_eq!(original, &big[..MAX_QUOTE]);
                }
                other => panic!("{other:?}"),
            }
        }
        // A small packet is quoted whole.
        let small = packet(IpNumber::UDP, &[1; 8]);
        let e = ErrorMessage::DestUnreachable(DestUnreachableCode::Port);
        let n = emit_error(outbound, e, &small, &mut buf);
        assert_eq!(n, FIXED_LEN + 48);
        assert_eq!(&buf[8..n], &small[..]);
    }

    #[test]
    fn may_send_rules() {
        let port = ErrorMessage::DestUnreachable(DestUnreachableCode::Port);
        let udp = packet(IpNumber::UDP, &[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
        assert!(may_send_error(&udp, &port));
        let with_src = |p: &[u8], src: &str| {
            let mut p = p.to_vec();
            p[8..24].copy_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
            p
        };
        let with_dst = |p: &[u8], dst: &str| {
            let mut p = p.to_vec();
            p[24..40].copy_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
            p
        };
        // (e.5) a source that names no single node.
        assert!(!may_send_error(&with_src(&udp, "::"), &port));
        assert!(!may_send_error(&with_src(&udp, "ff02::1"), &port));
        // (e.3) a multicast destination.
        assert!(!may_send_error(&with_dst(&udp, "ff02::1"), &port));
        // ... except Packet Too Big and PP code 2 about an option of type 10xxxxxx.
        assert!(may_send_error(
            &with_dst(&udp, "ff02::1"),
            &ErrorMessage::PacketTooBig { mtu: 1280 }
        ));
        let option = |option_type: u8| {
            let d = options(IpNumber::UDP, &[option_type, 0]);
            with_dst(
                &packet(
                    IpNumber::IPV6_DESTINATION_OPTIONS,
                    &[&d[..], &[0; 8]].concat(),
                ),
                "ff02::1",
            )
        };
        let pp2 = ErrorMessage::ParameterProblem(ParameterProblemHeader {
            code: ParameterProblemCode::UnrecognizedIpv6Option,
            pointer: 42,
        });
        assert!(may_send_error(&option(0x9e), &pp2));
        assert!(
            !may_send_error(&option(0xde), &pp2),
            "11xxxxxx: not to multicast"
        );
        let pp0 = ErrorMessage::ParameterProblem(ParameterProblemHeader {
            code: ParameterProblemCode::ErroneousHeaderField,
            pointer: 42,
        });
        assert!(!may_send_error(&option(0x9e), &pp0));
        // (e.1) never about an ICMPv6 error, even behind extension headers; (e.2) nor a
        // redirect; informational messages are fine.
        for (t, allowed) in [
            (1, false),
            (4, false),
            (127, false),
            (137, false),
            (128, true),
            (129, true),
        ] {
            let d = options(IpNumber::IPV6_ICMP, &[]);
            let p = packet(
                IpNumber::IPV6_DESTINATION_OPTIONS,
                &[&d[..], &[t, 0, 0, 0, 0, 0, 0, 0]].concat(),
            );
            assert_eq!(may_send_error(&p, &port), allowed, "type {t}");
        }
        // A packet too short to hold a fixed header: nothing to answer.
        assert!(!may_send_error(&udp[..30], &port));
    }

    #[test]
    fn quote_endpoints_through_extension_headers() {
        let tcp = [0, 80, 0x9c, 0x40, 1, 2, 3, 4];
        let d = options(IpNumber::IPV6_FRAGMENTATION_HEADER, &[]);
        let f = fragment_header(IpNumber::TCP, 0, true, 9);
        let mut ours_to_peer = packet(
            IpNumber::IPV6_DESTINATION_OPTIONS,
            &[&d[..], &f, &tcp, &[0; 12]].concat(),
        );
        // The quote is of a packet we sent: swap the addresses.
        ours_to_peer[8..24].copy_from_slice(&OURS.octets());
        ours_to_peer[24..40].copy_from_slice(&PEER.octets());
        let q = parse_quote(&ours_to_peer).unwrap();
        assert_eq!(q.protocol, IpNumber::TCP);
        assert_eq!(q.src.to_string(), "[2001:2::2]:80");
        assert_eq!(q.dst.to_string(), "[2001:2::1]:40000");
        // Cut after the 8 octets of the TCP header: still enough; one octet less is not.
        assert!(parse_quote(&ours_to_peer[..64]).is_some());
        assert_eq!(parse_quote(&ours_to_peer[..63]), None);
        // Not the first fragment.
        let f = fragment_header(IpNumber::TCP, 8, true, 9);
        let later = packet(
            IpNumber::IPV6_FRAGMENTATION_HEADER,
            &[&f[..], &tcp].concat(),
        );
        assert_eq!(parse_quote(&later), None);
        // Plain UDP, and an IPv4 datagram quoted by mistake.
        let udp = packet(IpNumber::UDP, &[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
        assert_eq!(parse_quote(&udp).unwrap().dst.port(), 53);
        let v4 =
            etherparse::Ipv4Header::new(8, 64, IpNumber::UDP, [1, 2, 3, 4], [5, 6, 7, 8]).unwrap();
        assert_eq!(parse_quote(&[&v4.to_bytes()[..], &[0; 28]].concat()), None);
    }

    proptest! {
        /// Arbitrary messages and quotes: no panic; a decoded message's slices lie within it.
        #[test]
        fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..1400),
                                       fix_checksum in any::<bool>()) {
            let pseudo = inbound();
            if fix_checksum && bytes.len() >= HEADER_LEN {
                bytes[2..4].copy_from_slice(&[0, 0]);
                let sum = pseudo.checksum(&[&bytes]);
                bytes[2..4].copy_from_slice(&sum);
            }
            match parse(pseudo, &bytes) {
                Ok(Icmpv6In::DestUnreachable { original, .. }
                    | Icmpv6In::PacketTooBig { original, .. }
                    | Icmpv6In::TimeExceeded { original, .. }
                    | Icmpv6In::ParameterProblem { original, .. }) => {
                    prop_assert_eq!(original.len(), bytes.len() - FIXED_LEN);
                    let _ = parse_quote(original);
                }
                Ok(_) => {}
                Err(_) => prop_assert!(!fix_checksum || bytes.len() < FIXED_LEN),
            }
            let _ = parse_quote(&bytes);
            let pp = ErrorMessage::ParameterProblem(ParameterProblemHeader {
                code: ParameterProblemCode::UnrecognizedIpv6Option,
                pointer: u32::from(bytes.first().copied().unwrap_or(0)) * 300,
            });
            let _ = may_send_error(&bytes, &pp);
        }
    }
}
