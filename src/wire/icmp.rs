//! ICMPv4 (RFC 792): echo and the destination-unreachable errors we send and receive.

use super::DropReason;
use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Type, IpNumber};
use std::net::SocketAddr;

/// ICMP header length in octets (type, code, checksum, rest-of-header).
pub const HEADER_LEN: usize = 8;
/// RFC 1812 §4.3.2.3: an ICMP error carries as much of the offending datagram as fits
/// without the error exceeding 576 bytes.
pub const ERROR_MAX_LEN: usize = 576;

/// An incoming ICMP message, as far as the stack cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpIn<'a> {
    /// RFC 792 type 8: answered with an echo reply carrying the same three fields.
    EchoRequest {
        /// RFC 792: identifier, echoed in the reply.
        id: u16,
        /// RFC 792: sequence number, echoed in the reply.
        seq: u16,
        /// The data after the header, echoed in the reply.
        data: &'a [u8],
    },
    /// RFC 792 type 3: an error about a datagram we sent.
    DestUnreachable {
        /// RFC 792 code: 0 net, 1 host, 2 protocol, 3 port unreachable, 4 fragmentation
        /// needed and DF set, 5 source route failed (RFC 1122 §3.2.2.1 adds 6..=12).
        code: u8,
        /// RFC 1191 §4: the next-hop MTU of a code 4 message (zero from older routers).
        next_hop_mtu: u16,
        /// The quoted datagram: its IP header and leading octets (RFC 792: at least 8).
        original: &'a [u8],
    },
    /// RFC 792 type 11: a datagram we sent ran out of TTL or of reassembly time.
    TimeExceeded {
        /// RFC 792 code: 0 TTL exceeded in transit, 1 fragment reassembly time exceeded.
        code: u8,
        /// The quoted datagram: its IP header and leading octets (RFC 792: at least 8).
        original: &'a [u8],
    },
    /// RFC 792 type 12: a header field of a datagram we sent was refused.
    ParameterProblem {
        /// RFC 792: the octet of the quoted datagram where the error was found.
        pointer: u8,
        /// The quoted datagram: its IP header and leading octets (RFC 792: at least 8).
        original: &'a [u8],
    },
    /// RFC 792 type 4, deprecated by RFC 6633: counted and otherwise ignored (MUST-55).
    SourceQuench {
        /// The quoted datagram: its IP header and leading octets (RFC 792: at least 8).
        original: &'a [u8],
    },
    /// Any other type (echo replies, timestamps, ...): counted, not answered.
    Other {
        /// The message's type field.
        icmp_type: u8,
        /// The message's code field.
        code: u8,
    },
}

/// The transport endpoints of the datagram an ICMP error quotes: its IP header and at least
/// the first 8 octets of its payload (RFC 792), which hold both ports for TCP and UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The quoted datagram's protocol field (TCP or UDP for a useful quote).
    pub protocol: IpNumber,
    /// The quoted datagram's source (ours, when it is about something we sent).
    pub src: SocketAddr,
    /// The quoted datagram's destination (the peer, when we sent it).
    pub dst: SocketAddr,
}

/// Reads the endpoints out of an ICMP error's quoted IPv4 datagram; `None` when the quote is
/// too short or not a first fragment, so nothing can be told about it.
pub fn parse_quote(original: &[u8]) -> Option<Quote> {
    let ip = etherparse::Ipv4HeaderSlice::from_slice(original).ok()?;
    let ports = original.get(ip.slice().len()..)?;
    if ports.len() < 8 || ip.fragments_offset().value() != 0 {
        return None;
    }
    let port = |i: usize| u16::from_be_bytes([ports[i], ports[i + 1]]);
    Some(Quote {
        protocol: ip.protocol(),
        src: SocketAddr::new(ip.source_addr().into(), port(0)),
        dst: SocketAddr::new(ip.destination_addr().into(), port(2)),
    })
}

/// Checks the checksum over the whole message (`message` is the IP payload) and decodes it.
pub fn parse(message: &[u8]) -> Result<IcmpIn<'_>, DropReason> {
    if message.len() < HEADER_LEN {
        return Err(DropReason::IcmpTruncated);
    }
    if !super::checksum_ok(&[message]) {
        return Err(DropReason::IcmpBadChecksum);
    }
    let (icmp_type, code) = (message[0], message[1]);
    let rest = &message[4..8];
    let body = &message[HEADER_LEN..];
    Ok(match icmp_type {
        8 if code == 0 => IcmpIn::EchoRequest {
            id: u16::from_be_bytes([rest[0], rest[1]]),
            seq: u16::from_be_bytes([rest[2], rest[3]]),
            data: body,
        },
        3 => IcmpIn::DestUnreachable {
            code,
            next_hop_mtu: u16::from_be_bytes([rest[2], rest[3]]),
            original: body,
        },
        11 => IcmpIn::TimeExceeded {
            code,
            original: body,
        },
        12 => IcmpIn::ParameterProblem {
            pointer: rest[0],
            original: body,
        },
        4 => IcmpIn::SourceQuench { original: body },
        _ => IcmpIn::Other { icmp_type, code },
    })
}

/// Writes an echo reply (RFC 792 type 0) carrying the request's identifier, sequence number
/// and data into `buf`; returns the octets written.
pub fn emit_echo_reply(id: u16, seq: u16, data: &[u8], buf: &mut [u8]) -> usize {
    let header =
        Icmpv4Header::with_checksum(Icmpv4Type::EchoReply(IcmpEchoHeader { id, seq }), data);
    write(&header, data, buf)
}

/// Writes a destination-unreachable error quoting `original` (an IP datagram we received),
/// trimmed so the whole IP packet stays within 576 bytes; returns the octets written.
pub fn emit_dest_unreachable(
    reason: DestUnreachableHeader,
    original: &[u8],
    buf: &mut [u8],
) -> usize {
    let quoted = &original[..original
        .len()
        .min(ERROR_MAX_LEN - super::ipv4::HEADER_LEN - HEADER_LEN)];
    let header = Icmpv4Header::with_checksum(Icmpv4Type::DestinationUnreachable(reason), quoted);
    write(&header, quoted, buf)
}

fn write(header: &Icmpv4Header, body: &[u8], buf: &mut [u8]) -> usize {
    let h = header.to_bytes();
    buf[..h.len()].copy_from_slice(&h);
    buf[h.len()..h.len() + body.len()].copy_from_slice(body);
    h.len() + body.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_gives_the_endpoints_of_a_first_fragment_only() {
        let mut ip =
            etherparse::Ipv4Header::new(8, 64, IpNumber::TCP, [198, 18, 0, 2], [198, 18, 0, 1])
                .unwrap();
        let mut d = ip.to_bytes().to_vec();
        d.extend_from_slice(&[0, 80, 0x9c, 0x40, 1, 2, 3, 4]);
        let q = parse_quote(&d).unwrap();
        assert_eq!(q.protocol, IpNumber::TCP);
        assert_eq!(q.src.to_string(), "198.18.0.2:80");
        assert_eq!(q.dst.to_string(), "198.18.0.1:40000");
        assert_eq!(parse_quote(&d[..27]), None, "fewer than 8 octets quoted");
        ip.fragment_offset = etherparse::IpFragOffset::try_new(2).unwrap();
        let mut later = ip.to_bytes().to_vec();
        later.extend_from_slice(&d[20..]);
        assert_eq!(parse_quote(&later), None, "not the first fragment");
    }

    #[test]
    fn echo_reply_round_trips_id_seq_and_data() {
        let mut buf = [0u8; 64];
        let n = emit_echo_reply(0xbeef, 7, b"payload", &mut buf);
        assert_eq!(n, 15);
        assert_eq!(buf[0], 0, "type 0 = echo reply");
        assert!(crate::wire::checksum_ok(&[&buf[..n]]));
        // Turn it into a request and parse it back.
        buf[0] = 8;
        let sum = crate::wire::internet_checksum(&[&buf[..2], &buf[4..n]]);
        buf[2..4].copy_from_slice(&sum);
        assert_eq!(
            parse(&buf[..n]).unwrap(),
            IcmpIn::EchoRequest {
                id: 0xbeef,
                seq: 7,
                data: b"payload"
            }
        );
    }

    #[test]
    fn bad_messages_are_refused() {
        assert_eq!(parse(&[8, 0, 0]).unwrap_err(), DropReason::IcmpTruncated);
        let mut buf = [0u8; 16];
        let n = emit_echo_reply(1, 2, b"12345678", &mut buf);
        buf[9] ^= 0xff;
        assert_eq!(parse(&buf[..n]).unwrap_err(), DropReason::IcmpBadChecksum);
    }

    #[test]
    fn unreachable_quotes_at_most_548_bytes() {
        let original = vec![0x45u8; 4000];
        let mut buf = vec![0u8; 1000];
        let n = emit_dest_unreachable(DestUnreachableHeader::Port, &original, &mut buf);
        assert_eq!(
            n,
            ERROR_MAX_LEN - 20,
            "ICMP message fits 576 with its IP header"
        );
        match parse(&buf[..n]).unwrap() {
            IcmpIn::DestUnreachable {
                code: 3,
                original: q,
                ..
            } => assert_eq!(q.len(), 548, "quoted bytes"),
            other => panic!("{other:?}"),
        }
    }
}
