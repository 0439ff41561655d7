//! IPv6 packets (RFC 8200): checked parsing, the extension-header walk, header emitting and
//! fragmentation on output.
//!
//! Receiving takes three calls, in the order RFC 8200 §4 processes a packet:
//!
//! 1. [`parse`] checks the fixed header (version, payload length, hop limit): an
//!    [`Ipv6View`] or the [`DropReason`] to count;
//! 2. [`check_addresses`] checks source and destination against the stack's address;
//! 3. [`walk`] follows the Next Header chain through the extension headers (§4.1 order, §4.2
//!    options, §4.4 routing, §4.5 fragment) to what there is to deliver: an upper-layer
//!    payload, nothing (No Next Header, §4.7), or a fragment for the reassembler.
//!
//! A walk that fails gives an [`Ipv6Error`]: the reason the packet is counted under and, where
//! RFC 8200 says the source should hear about it, the ICMPv6 Parameter Problem (code and
//! pointer) to send. Whether an error may be sent at all (never about an error, rarely about
//! multicast) is [`crate::wire::icmpv6::may_send_error`]'s decision.

use super::DropReason;
use etherparse::icmpv6::{ParameterProblemCode, ParameterProblemHeader};
use etherparse::{IpNumber, Ipv6FragmentHeader, Ipv6HeaderSlice};
use std::fmt;
use std::net::Ipv6Addr;

mod out;
pub use out::Ipv6Out;

/// RFC 8200 §3: the fixed header is 40 octets.
pub const HEADER_LEN: usize = 40;
/// RFC 8200 §4.5: the Fragment header is 8 octets.
pub const FRAGMENT_HEADER_LEN: usize = 8;
/// Largest Payload Length (a 16-bit field; jumbograms, RFC 2675, are not supported).
pub const MAX_PAYLOAD: usize = 65_535;
/// RFC 8200 §5: every link carries packets of 1280 octets; the smallest MTU IPv6 allows.
pub const MIN_MTU: usize = 1280;
/// Default Hop Limit for packets we originate (as Linux; RFC 8200 §3 leaves it open).
pub const DEFAULT_HOP_LIMIT: u8 = 64;
/// RFC 4291 §2.7.1: the link-local all-nodes multicast address, which every node joins.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Octet offset of the Payload Length field (a Parameter Problem pointer).
const PAYLOAD_LENGTH_AT: usize = 4;
/// Octet offset of the fixed header's Next Header field.
const NEXT_HEADER_AT: usize = 6;
/// RFC 8200 §4.2: the Pad1 option (a single zero octet).
const PAD1: u8 = 0;
/// RFC 8200 §4.2: the PadN option.
const PADN: u8 = 1;

/// Why an IPv6 packet is dropped, and the ICMPv6 Parameter Problem the source should get, if
/// RFC 8200 asks for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Error {
    /// The counter the drop lands in.
    pub reason: DropReason,
    /// RFC 4443 §3.4: the code and the octet offset (pointer) into the packet of the field in
    /// error, when a Parameter Problem is warranted; `None` for a plain drop.
    pub problem: Option<ParameterProblemHeader>,
}

impl Ipv6Error {
    fn problem(reason: DropReason, code: ParameterProblemCode, pointer: usize) -> Ipv6Error {
        Ipv6Error {
            reason,
            problem: Some(ParameterProblemHeader {
                code,
                pointer: pointer as u32,
            }),
        }
    }
}

impl From<DropReason> for Ipv6Error {
    fn from(reason: DropReason) -> Ipv6Error {
        Ipv6Error {
            reason,
            problem: None,
        }
    }
}

impl fmt::Display for Ipv6Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            Some(p) => write!(
                f,
                "{} (parameter problem code {} pointer {})",
                self.reason,
                p.code.code_u8(),
                p.pointer
            ),
            None => write!(f, "{}", self.reason),
        }
    }
}

/// A checked view of one IPv6 packet: the fixed header, and the payload up to its Payload
/// Length (extension headers included; [`walk`] goes through them).
#[derive(Clone, Copy, Debug)]
pub struct Ipv6View<'a> {
    header: Ipv6HeaderSlice<'a>,
    packet: &'a [u8],
}

/// Checks an incoming packet's fixed header: version, length, Payload Length against the
/// bytes received, Hop Limit. Bytes past the Payload Length (link padding) are ignored, as
/// IPv4 ignores bytes past its Total Length.
pub fn parse(packet: &[u8]) -> Result<Ipv6View<'_>, DropReason> {
    match packet.first() {
        None => return Err(DropReason::Ipv6Truncated),
        Some(b) if b >> 4 != 6 => return Err(DropReason::Ipv6BadVersion),
        Some(_) => {}
    }
    // With the version checked, a short slice is the only error left.
    let header = Ipv6HeaderSlice::from_slice(packet).map_err(|_| DropReason::Ipv6Truncated)?;
    let end = HEADER_LEN + usize::from(header.payload_length());
    if end > packet.len() {
        return Err(DropReason::Ipv6BadPayloadLength);
    }
    if header.hop_limit() == 0 {
        return Err(DropReason::Ipv6HopLimitZero);
    }
    Ok(Ipv6View {
        header,
        packet: &packet[..end],
    })
}

impl<'a> Ipv6View<'a> {
    /// RFC 8200 §3: Source Address.
    pub fn src(&self) -> Ipv6Addr {
        self.header.source_addr()
    }

    /// RFC 8200 §3: Destination Address.
    pub fn dst(&self) -> Ipv6Addr {
        self.header.destination_addr()
    }

    /// RFC 8200 §3: Next Header, the type of the header after the fixed one (an extension
    /// header or an upper-layer protocol).
    pub fn next_header(&self) -> IpNumber {
        self.header.next_header()
    }

    /// RFC 8200 §3: Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        self.header.hop_limit()
    }

    /// RFC 8200 §7: Traffic Class (DSCP in the high six bits, ECN in the low two).
    pub fn traffic_class(&self) -> u8 {
        self.header.traffic_class()
    }

    /// RFC 6437: Flow Label, 20 bits.
    pub fn flow_label(&self) -> u32 {
        self.header.flow_label().value()
    }

    /// RFC 8200 §3: Payload Length, the octets after the fixed header.
    pub fn payload_len(&self) -> usize {
        usize::from(self.header.payload_length())
    }

    /// The 40-octet fixed header.
    pub fn header_bytes(&self) -> &'a [u8] {
        self.header.slice()
    }

    /// The packet up to its Payload Length (header, extension headers and payload).
    pub fn packet(&self) -> &'a [u8] {
        self.packet
    }

    /// The bytes after the fixed header, up to the Payload Length.
    pub fn payload(&self) -> &'a [u8] {
        &self.packet[HEADER_LEN..]
    }
}

/// Which of our destinations a packet was sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Our unicast address.
    Unicast,
    /// A multicast group every node belongs to: all-nodes (ff02::1) or our solicited-node
    /// group (RFC 4291 §2.8). Only ICMPv6 has business there: TCP and UDP must not answer,
    /// and no ICMPv6 error may be sent about it (RFC 4443 §2.4(e.3)).
    Multicast,
}

/// RFC 4291 §2.7.1: the solicited-node multicast group of `addr`, ff02::1:ffXX:XXXX with the
/// low 24 bits of the address.
#[must_use]
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// Checks a packet's addresses against ours (`ours` is the stack's one unicast address).
///
/// The destination comes first: ours, or a multicast group a node joins (RFC 4291 §2.8);
/// another unicast address is [`DropReason::Ipv6NotForUs`], another multicast group (MLD
/// reports to ff02::16, router solicitations to ff02::2, interface-local ff01::/16 that must
/// not arrive from outside, RFC 4291 errata 3480) is the quiet
/// [`DropReason::Ipv6MulticastNotOurs`]. Then the source must be able to be a host: not
/// unspecified, multicast (§2.7), loopback (§2.5.3), IPv4-mapped (§2.5.5.2) or ours.
pub fn check_addresses(view: &Ipv6View<'_>, ours: Ipv6Addr) -> Result<Destination, DropReason> {
    let dst = view.dst();
    let destination = if dst == ours {
        Destination::Unicast
    } else if dst == ALL_NODES || dst == solicited_node(ours) {
        Destination::Multicast
    } else if dst.is_multicast() {
        return Err(DropReason::Ipv6MulticastNotOurs);
    } else {
        return Err(DropReason::Ipv6NotForUs);
    };
    let src = view.src();
    if src.is_unspecified()
        || src.is_multicast()
        || src.is_loopback()
        || src.to_ipv4_mapped().is_some()
        || src == ours
    {
        return Err(DropReason::Ipv6BadSource);
    }
    Ok(destination)
}

/// What a packet carries once its extension headers are walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain {
    /// An upper-layer payload (TCP, UDP or ICMPv6) at `packet()[offset..]`. An atomic
    /// fragment (offset 0, M 0) lands here too: RFC 6946 §4 processes it as a whole packet.
    Upper {
        /// The upper-layer protocol.
        protocol: IpNumber,
        /// Where its header starts in [`Ipv6View::packet`]; the upper-layer length for the
        /// pseudo-header is what follows.
        offset: usize,
    },
    /// RFC 8200 §4.7: Next Header 59, nothing follows (nothing to deliver).
    NoNextHeader,
    /// A fragment of a larger packet, for the reassembler. The headers after the Fragment
    /// header are walked only once the packet is whole (RFC 8200 §4.5).
    Fragment(Fragment),
}

/// RFC 8200 §4.5: the Fragment header of a packet, and where it sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Identification, shared by the fragments of one original packet.
    pub ident: u32,
    /// Fragment Offset, converted from 8-octet units to bytes.
    pub offset: usize,
    /// The M flag: more fragments follow.
    pub more: bool,
    /// The Next Header of the Fragment header: the first header of the fragmentable part
    /// (RFC 8200 §4.5: only the offset-zero fragment's value is used in reassembly).
    pub next_header: IpNumber,
    /// Where the Fragment header starts: the per-fragment (unfragmentable) headers are
    /// `packet()[..header_at]` and the fragment's data starts 8 octets later.
    pub header_at: usize,
    /// Where the Next Header field that names the Fragment header is (6 when the fixed
    /// header does); reassembly writes `next_header` there.
    pub next_header_at: usize,
}

/// Walks the extension headers of a packet addressed to us (RFC 8200 §4: in order, each one
/// before deciding to go on to the next) to what it carries.
///
/// - Hop-by-Hop Options only straight after the fixed header (§4.1; elsewhere Parameter
///   Problem code 1 at the Next Header field that names it);
/// - Hop-by-Hop and Destination Options: each option by its two high bits (§4.2);
/// - Routing: ignored when Segments Left is 0, otherwise Parameter Problem code 0 at the
///   Routing Type (§4.4: we recognize no routing type, and type 0 is deprecated, RFC 5095);
/// - Fragment: an atomic fragment is walked through (RFC 6946); any other is checked (§4.5:
///   length, size, RFC 7112 header chain) and returned for reassembly;
/// - TCP, UDP, ICMPv6: delivered; No Next Header: nothing; any other value: Parameter
///   Problem code 1 at the Next Header field that names it (§4).
///
/// A header running past the packet is a plain drop. The walk takes at most one step per
/// 8 octets of packet, whatever the input.
pub fn walk(view: &Ipv6View<'_>) -> Result<Chain, Ipv6Error> {
    let packet = view.packet();
    let mut next = view.next_header();
    let mut next_at = NEXT_HEADER_AT;
    let mut at = HEADER_LEN;
    loop {
        let len = match next {
            IpNumber::IPV6_HEADER_HOP_BY_HOP if at != HEADER_LEN => {
                // RFC 8200 §4: "The same action [Parameter Problem code 1] should be taken if
                // a node encounters a Next Header value of zero in any header other than an
                // IPv6 header."
                return Err(Ipv6Error::problem(
                    DropReason::Ipv6HopByHopNotFirst,
                    ParameterProblemCode::UnrecognizedNextHeader,
                    next_at,
                ));
            }
            IpNumber::IPV6_HEADER_HOP_BY_HOP | IpNumber::IPV6_DESTINATION_OPTIONS => {
                let len = extension_len(packet, at)?;
                check_options(view, at, len)?;
                len
            }
            IpNumber::IPV6_ROUTE_HEADER => {
                let len = extension_len(packet, at)?;
                // RFC 8200 §4.4: with Segments Left 0 the header is ignored; otherwise an
                // unrecognized Routing Type discards the packet with Parameter Problem code 0
                // at the Routing Type. RFC 5095 §3: type 0 is treated as unrecognized.
                if packet[at + 3] != 0 {
                    return Err(Ipv6Error::problem(
                        DropReason::Ipv6RoutingHeader,
                        ParameterProblemCode::ErroneousHeaderField,
                        at + 2,
                    ));
                }
                len
            }
            IpNumber::IPV6_FRAGMENTATION_HEADER => {
                let (header, _) = packet
                    .get(at..)
                    .and_then(|rest| Ipv6FragmentHeader::from_slice(rest).ok())
                    .ok_or(DropReason::Ipv6ExtensionTruncated)?;
                if header.is_fragmenting_payload() {
                    return check_fragment(packet, at, next_at, &header).map(Chain::Fragment);
                }
                // RFC 6946 §4: an atomic fragment (offset 0, M 0) is processed in isolation,
                // as a whole packet, never entered into reassembly.
                FRAGMENT_HEADER_LEN
            }
            IpNumber::IPV6_NO_NEXT_HEADER => return Ok(Chain::NoNextHeader),
            IpNumber::TCP | IpNumber::UDP | IpNumber::IPV6_ICMP => {
                return Ok(Chain::Upper {
                    protocol: next,
                    offset: at,
                });
            }
            _ => {
                // RFC 8200 §4: an unrecognized Next Header: Parameter Problem code 1 "with the
                // ICMP Pointer field containing the offset of the unrecognized value".
                return Err(Ipv6Error::problem(
                    DropReason::Ipv6UnknownNextHeader,
                    ParameterProblemCode::UnrecognizedNextHeader,
                    next_at,
                ));
            }
        };
        next = IpNumber(packet[at]);
        next_at = at;
        at += len;
    }
}

/// RFC 8200 §4.3: the length of an options or routing header at `at` ((Hdr Ext Len + 1) × 8
/// octets), which must lie within the packet.
fn extension_len(packet: &[u8], at: usize) -> Result<usize, Ipv6Error> {
    let units = *packet
        .get(at + 1)
        .ok_or(DropReason::Ipv6ExtensionTruncated)?;
    let len = (usize::from(units) + 1) * 8;
    if at + len > packet.len() {
        return Err(DropReason::Ipv6ExtensionTruncated.into());
    }
    Ok(len)
}

/// RFC 8200 §4.2: the options of a Hop-by-Hop or Destination Options header of `len` octets
/// at `start` (already within the packet).
fn check_options(view: &Ipv6View<'_>, start: usize, len: usize) -> Result<(), Ipv6Error> {
    let packet = view.packet();
    let end = start + len;
    let mut i = start + 2;
    // Octets of padding in a row: RFC 4942 §2.1.9.5 (and Linux) refuse more than 7, which
    // no alignment needs and a covert channel would.
    let mut padding = 0;
    while i < end {
        let option_type = packet[i];
        let option_len = if option_type == PAD1 {
            1
        } else if i + 2 > end {
            return Err(DropReason::Ipv6BadOption.into());
        } else {
            2 + usize::from(packet[i + 1])
        };
        if i + option_len > end {
            return Err(DropReason::Ipv6BadOption.into());
        }
        if option_type == PAD1 || option_type == PADN {
            padding += option_len;
            if padding > 7 {
                return Err(DropReason::Ipv6BadOption.into());
            }
        } else {
            padding = 0;
            // We recognize no option but padding; the two high bits of the type say what to
            // do with an unrecognized one.
            let problem = Ipv6Error::problem(
                DropReason::Ipv6UnknownOption,
                ParameterProblemCode::UnrecognizedIpv6Option,
                i,
            );
            match option_type >> 6 {
                // 00: skip over this option and continue processing the header.
                0b00 => {}
                // 01: discard the packet.
                0b01 => return Err(DropReason::Ipv6UnknownOption.into()),
                // 10: discard and, whatever the destination, send Parameter Problem code 2
                // pointing at the Option Type.
                0b10 => return Err(problem),
                // 11: discard and send it only if the destination was not multicast.
                _ if view.dst().is_multicast() => {
                    return Err(DropReason::Ipv6UnknownOption.into());
                }
                _ => return Err(problem),
            }
        }
        i += option_len;
    }
    Ok(())
}

/// RFC 8200 §4.5: the checks one fragment must pass on its own, before reassembly.
fn check_fragment(
    packet: &[u8],
    header_at: usize,
    next_header_at: usize,
    header: &Ipv6FragmentHeader,
) -> Result<Fragment, Ipv6Error> {
    let data_at = header_at + FRAGMENT_HEADER_LEN;
    let data_len = packet.len() - data_at;
    let offset = usize::from(header.fragment_offset.byte_offset());
    // "If the length of a fragment, as derived from the fragment packet's Payload Length
    // field, is not a multiple of 8 octets and the M flag of that fragment is 1, then that
    // fragment must be discarded and an ICMP Parameter Problem, Code 0, message should be
    // sent to the source of the fragment, pointing to the Payload Length field."
    if header.more_fragments && !data_len.is_multiple_of(8) {
        return Err(Ipv6Error::problem(
            DropReason::FragmentBad,
            ParameterProblemCode::ErroneousHeaderField,
            PAYLOAD_LENGTH_AT,
        ));
    }
    // "If the length and offset of a fragment are such that the Payload Length of the packet
    // reassembled from that fragment would exceed 65,535 octets, then that fragment must be
    // discarded and an ICMP Parameter Problem, Code 0, message should be sent to the source
    // of the fragment, pointing to the Fragment Offset field." The reassembled Payload Length
    // is the per-fragment headers after the fixed one plus offset plus length.
    if header_at - HEADER_LEN + offset + data_len > MAX_PAYLOAD {
        return Err(Ipv6Error::problem(
            DropReason::FragmentOversized,
            ParameterProblemCode::ErroneousHeaderField,
            header_at + 2,
        ));
    }
    // RFC 7112 §5, RFC 8200 §4.5: "If the first fragment does not include all headers
    // through an Upper-Layer header, then that fragment should be discarded and an ICMP
    // Parameter Problem, Code 3, message should be sent to the fragment's source, with the
    // Pointer field set to zero."
    if offset == 0 && !chain_complete(packet, data_at, header.next_header) {
        return Err(Ipv6Error::problem(
            DropReason::Fragment6IncompleteChain,
            ParameterProblemCode::Ipv6FirstFragmentIncompleteHeaderChain,
            0,
        ));
    }
    Ok(Fragment {
        ident: header.identification,
        offset,
        more: header.more_fragments,
        next_header: header.next_header,
        header_at,
        next_header_at,
    })
}

/// RFC 7112 §2.1: whether the header chain starting with `next` at `at` reaches its end
/// within `packet`: through any extension headers to No Next Header or to a whole
/// upper-layer header (TCP 20 octets, UDP 8, ICMPv6 8, any other at least one octet, as
/// Linux counts it).
fn chain_complete(packet: &[u8], mut at: usize, mut next: IpNumber) -> bool {
    loop {
        let len = match next {
            IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_DESTINATION_OPTIONS
            | IpNumber::IPV6_ROUTE_HEADER => match packet.get(at + 1) {
                Some(&units) => (usize::from(units) + 1) * 8,
                None => return false,
            },
            IpNumber::IPV6_FRAGMENTATION_HEADER => FRAGMENT_HEADER_LEN,
            // RFC 4302 §2.2: AH's length is in 4-octet units, minus 2.
            IpNumber::AUTHENTICATION_HEADER => match packet.get(at + 1) {
                Some(&units) => (usize::from(units) + 2) * 4,
                None => return false,
            },
            IpNumber::IPV6_NO_NEXT_HEADER => return true,
            IpNumber::TCP => return at + super::tcp::HEADER_LEN <= packet.len(),
            IpNumber::UDP | IpNumber::IPV6_ICMP => return at + 8 <= packet.len(),
            _ => return at < packet.len(),
        };
        if at + len > packet.len() {
            return false;
        }
        next = IpNumber(packet[at]);
        at += len;
    }
}

/// Follows the extension headers of a packet that may be cut short (an ICMPv6 error's quote,
/// or a packet we are about to answer) to its upper-layer header, judging nothing: the
/// protocol and where its header starts. `None` when the fixed header is not there, a
/// header runs past the bytes, or a fragment other than the first stands in the way.
pub(crate) fn upper_layer(packet: &[u8]) -> Option<(IpNumber, usize)> {
    let header = Ipv6HeaderSlice::from_slice(packet).ok()?;
    let mut next = header.next_header();
    let mut at = HEADER_LEN;
    loop {
        let len = match next {
            IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_DESTINATION_OPTIONS
            | IpNumber::IPV6_ROUTE_HEADER => (usize::from(*packet.get(at + 1)?) + 1) * 8,
            IpNumber::IPV6_FRAGMENTATION_HEADER => {
                let (fragment, _) = Ipv6FragmentHeader::from_slice(packet.get(at..)?).ok()?;
                if fragment.fragment_offset.value() != 0 {
                    return None;
                }
                FRAGMENT_HEADER_LEN
            }
            IpNumber::AUTHENTICATION_HEADER => (usize::from(*packet.get(at + 1)?) + 2) * 4,
            _ => return Some((next, at)),
        };
        if at + len > packet.len() {
            return None;
        }
        next = IpNumber(packet[at]);
        at += len;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::{IpFragOffset, Ipv6Header};
    use proptest::prelude::*;

    pub(crate) const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    pub(crate) const OURS: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

    pub(crate) fn out(next_header: IpNumber) -> Ipv6Out {
        Ipv6Out {
            src: PEER,
            dst: OURS,
            next_header,
            hop_limit: DEFAULT_HOP_LIMIT,
            dscp: 0,
            flow_label: 0,
        }
    }

    /// A packet from PEER to OURS whose fixed header names `first`, carrying `rest`.
    pub(crate) fn packet(first: IpNumber, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0; HEADER_LEN + rest.len()];
        out(first).emit_header(rest.len(), &mut p);
        p[HEADER_LEN..].copy_from_slice(rest);
        p
    }

    /// An options header naming `next`, holding `options`, padded with PadN/Pad1 to a
    /// multiple of 8 octets.
    pub(crate) fn options(next: IpNumber, options: &[u8]) -> Vec<u8> {
        let mut h = vec![next.0, 0];
        h.extend_from_slice(options);
        match (8 - h.len() % 8) % 8 {
            0 => {}
            1 => h.push(PAD1),
            n => {
                h.extend_from_slice(&[PADN, (n - 2) as u8]);
                h.resize(h.len() + n - 2, 0);
            }
        }
        h[1] = (h.len() / 8 - 1) as u8;
        h
    }

    /// An 8-octet Routing header.
    pub(crate) fn routing(next: IpNumber, routing_type: u8, segments_left: u8) -> Vec<u8> {
        vec![next.0, 0, routing_type, segments_left, 0, 0, 0, 0]
    }

    /// A Fragment header.
    pub(crate) fn fragment_header(
        next: IpNumber,
        offset: usize,
        more: bool,
        ident: u32,
    ) -> Vec<u8> {
        let offset = IpFragOffset::try_new((offset / 8) as u16).unwrap();
        Ipv6FragmentHeader::new(next, offset, more, ident)
            .to_bytes()
            .to_vec()
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[track_caller]
    fn walked(p: &[u8]) -> Result<Chain, Ipv6Error> {
        walk(&parse(p).unwrap())
    }

    #[track_caller]
    fn expect_problem(p: &[u8], reason: DropReason, code: ParameterProblemCode, pointer: u32) {
        assert_eq!(
            walked(p).unwrap_err(),
            Ipv6Error {
                reason,
                problem: Some(ParameterProblemHeader { code, pointer })
            }
        );
    }

    #[track_caller]
    fn expect_drop(p: &[u8], reason: DropReason) {
        assert_eq!(walked(p).unwrap_err(), Ipv6Error::from(reason));
    }

    const UDP8: [u8; 8] = [0x9c, 0x40, 0, 7, 0, 8, 0, 0];

    #[test]
    fn emit_then_parse_round_trips() {
        let o = Ipv6Out {
            dscp: 46,
            flow_label: 0x00ff_fff5,
            ..out(IpNumber::IPV6_ICMP)
        };
        let mut p = vec![0; HEADER_LEN + 5];
        assert_eq!(o.emit_header(5, &mut p), HEADER_LEN);
        p[HEADER_LEN..].copy_from_slice(b"hello");
        let v = parse(&p).unwrap();
        assert_eq!((v.src(), v.dst()), (PEER, OURS));
        assert_eq!(v.next_header(), IpNumber::IPV6_ICMP);
        assert_eq!(v.hop_limit(), DEFAULT_HOP_LIMIT);
        assert_eq!(v.traffic_class(), 46 << 2, "DSCP in the high six bits");
        assert_eq!(v.flow_label(), 0xffff5, "masked to 20 bits");
        assert_eq!(v.payload_len(), 5);
        assert_eq!(v.payload(), b"hello");
        assert_eq!(v.header_bytes().len(), HEADER_LEN);
        assert_eq!(
            walk(&v).unwrap(),
            Chain::Upper {
                protocol: IpNumber::IPV6_ICMP,
                offset: HEADER_LEN
            }
        );
        // etherparse reads the same header.
        let (h, _) = Ipv6Header::from_slice(&p).unwrap();
        assert_eq!(h.source_addr(), PEER);
        assert_eq!(h.payload_length, 5);
    }

    #[test]
    fn trailing_bytes_past_the_payload_length_are_ignored() {
        let mut p = packet(IpNumber::UDP, &UDP8);
        p.extend_from_slice(&[0xee; 10]);
        let v = parse(&p).unwrap();
        assert_eq!(v.payload(), UDP8);
        assert_eq!(v.packet().len(), HEADER_LEN + 8);
    }

    #[test]
    fn each_header_fault_has_its_reason() {
        let good = packet(IpNumber::UDP, &UDP8);
        assert_eq!(parse(&[]).unwrap_err(), DropReason::Ipv6Truncated);
        assert_eq!(parse(&good[..39]).unwrap_err(), DropReason::Ipv6Truncated);
        let mut p = good.clone();
        p[0] = 0x45;
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv6BadVersion);
        let mut p = good.clone();
        p[5] = 9; // one octet more than received
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv6BadPayloadLength);
        let mut p = good.clone();
        p[7] = 0;
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv6HopLimitZero);
        // Payload Length 0 with something behind it: an empty payload.
        let mut p = good;
        p[5] = 0;
        assert_eq!(parse(&p).unwrap().payload(), b"");
        assert_eq!(
            walk(&parse(&p).unwrap()),
            Ok(Chain::Upper {
                protocol: IpNumber::UDP,
                offset: 40
            })
        );
    }

    #[test]
    fn addresses_ours_multicast_and_bad_sources() {
        let check = |src: Ipv6Addr, dst: Ipv6Addr| {
            let mut p = packet(IpNumber::UDP, &UDP8);
            p[8..24].copy_from_slice(&src.octets());
            p[24..40].copy_from_slice(&dst.octets());
            check_addresses(&parse(&p).unwrap(), OURS)
        };
        assert_eq!(check(PEER, OURS), Ok(Destination::Unicast));
        assert_eq!(check(PEER, ALL_NODES), Ok(Destination::Multicast));
        let solicited: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
        assert_eq!(solicited_node(OURS), solicited);
        assert_eq!(check(PEER, solicited), Ok(Destination::Multicast));
        for dst in [
            "ff02::16",
            "ff02::2",
            "ff01::1",
            "ff00::1",
            "ff02::1:ff00:3",
        ] {
            assert_eq!(
                check(PEER, dst.parse().unwrap()),
                Err(DropReason::Ipv6MulticastNotOurs),
                "{dst}"
            );
        }
        for dst in ["2001:2::3", "::1", "fe80::2", "::"] {
            assert_eq!(
                check(PEER, dst.parse().unwrap()),
                Err(DropReason::Ipv6NotForUs),
                "{dst}"
            );
        }
        for src in ["::", "::1", "ff02::1", "::ffff:198.18.0.1", "2001:2::2"] {
            assert_eq!(
                check(src.parse().unwrap(), OURS),
                Err(DropReason::Ipv6BadSource),
                "{src}"
            );
        }
        assert_eq!(
            check("fe80::1".parse().unwrap(), OURS),
            Ok(Destination::Unicast)
        );
    }

    #[test]
    fn walks_every_extension_header_kind_to_the_upper_layer() {
        // Hop-by-Hop (Router Alert, type 00: skipped) → Destination Options (Pad1, PadN) →
        // Routing (Segments Left 0: ignored) → Destination Options → atomic Fragment → UDP.
        let hbh = options(IpNumber::IPV6_DESTINATION_OPTIONS, &[5, 2, 0, 0]);
        let dst1 = options(IpNumber::IPV6_ROUTE_HEADER, &[PAD1, PADN, 1, 0]);
        let rh = routing(IpNumber::IPV6_DESTINATION_OPTIONS, 4, 0);
        let dst2 = options(IpNumber::IPV6_FRAGMENTATION_HEADER, &[]);
        let frag = fragment_header(IpNumber::UDP, 0, false, 77);
        let p = packet(
            IpNumber::IPV6_HEADER_HOP_BY_HOP,
            &cat(&[&hbh, &dst1, &rh, &dst2, &frag, &UDP8]),
        );
        assert_eq!(
            walked(&p),
            Ok(Chain::Upper {
                protocol: IpNumber::UDP,
                offset: 40 + 8 + 8 + 8 + 8 + 8
            })
        );
        // A routing header of type 0 with nothing left to route is ignored too (RFC 5095).
        let rh0 = routing(IpNumber::TCP, 0, 0);
        let mut tcp = [0u8; 20];
        tcp[12] = 0x50;
        let p = packet(IpNumber::IPV6_ROUTE_HEADER, &cat(&[&rh0, &tcp]));
        assert_eq!(
            walked(&p),
            Ok(Chain::Upper {
                protocol: IpNumber::TCP,
                offset: 48
            })
        );
        // A longer options header (Hdr Ext Len 1: 16 octets) with a skippable option.
        let long = options(
            IpNumber::IPV6_ICMP,
            &[0x1e, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        );
        assert_eq!(long.len(), 16);
        let p = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &cat(&[&long, &UDP8]));
        assert_eq!(
            walked(&p),
            Ok(Chain::Upper {
                protocol: IpNumber::IPV6_ICMP,
                offset: 56
            })
        );
    }

    #[test]
    fn no_next_header_has_nothing_to_deliver() {
        // RFC 8200 §4.7: octets after it are ignored.
        let p = packet(IpNumber::IPV6_NO_NEXT_HEADER, b"ignored");
        assert_eq!(walked(&p), Ok(Chain::NoNextHeader));
        let d = options(IpNumber::IPV6_NO_NEXT_HEADER, &[]);
        let p = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &d);
        assert_eq!(walked(&p), Ok(Chain::NoNextHeader));
    }

    #[test]
    fn hop_by_hop_only_first() {
        // RFC 8200 §4.1: PP code 1 at the Next Header field that names it (here in the
        // Destination Options header at 40).
        let d = options(IpNumber::IPV6_HEADER_HOP_BY_HOP, &[]);
        let hbh = options(IpNumber::UDP, &[]);
        let p = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &cat(&[&d, &hbh, &UDP8]));
        expect_problem(
            &p,
            DropReason::Ipv6HopByHopNotFirst,
            ParameterProblemCode::UnrecognizedNextHeader,
            40,
        );
        // Two in a row: the second is named by the first, at 40.
        let hbh2 = options(IpNumber::IPV6_HEADER_HOP_BY_HOP, &[]);
        let p = packet(
            IpNumber::IPV6_HEADER_HOP_BY_HOP,
            &cat(&[&hbh2, &hbh, &UDP8]),
        );
        expect_problem(
            &p,
            DropReason::Ipv6HopByHopNotFirst,
            ParameterProblemCode::UnrecognizedNextHeader,
            40,
        );
    }

    #[test]
    fn unknown_next_header_points_at_the_field_that_named_it() {
        // In the fixed header (SCTP, 132): pointer 6.
        let p = packet(IpNumber(132), &UDP8);
        expect_problem(
            &p,
            DropReason::Ipv6UnknownNextHeader,
            ParameterProblemCode::UnrecognizedNextHeader,
            6,
        );
        // After a Hop-by-Hop and a Destination Options header: pointer at the latter (48).
        let hbh = options(IpNumber::IPV6_DESTINATION_OPTIONS, &[]);
        let d = options(IpNumber(253), &[]);
        let p = packet(IpNumber::IPV6_HEADER_HOP_BY_HOP, &cat(&[&hbh, &d, &UDP8]));
        expect_problem(
            &p,
            DropReason::Ipv6UnknownNextHeader,
            ParameterProblemCode::UnrecognizedNextHeader,
            48,
        );
        // ICMPv4 inside IPv6 is as unknown as anything else; so are ESP and AH (no IPsec).
        for unknown in [IpNumber::ICMP, IpNumber(50), IpNumber(51), IpNumber(4)] {
            expect_problem(
                &packet(unknown, &UDP8),
                DropReason::Ipv6UnknownNextHeader,
                ParameterProblemCode::UnrecognizedNextHeader,
                6,
            );
        }
    }

    #[test]
    fn routing_header_with_segments_left_is_refused_at_its_type() {
        // RFC 8200 §4.4, RFC 5095: type 0 (deprecated), 2 (Mobile IPv6), 4 (SRH): none
        // recognized; PP code 0 pointing at the Routing Type (header start + 2).
        for routing_type in [0, 2, 4, 253] {
            let hbh = options(IpNumber::IPV6_ROUTE_HEADER, &[]);
            let rh = routing(IpNumber::UDP, routing_type, 1);
            let p = packet(IpNumber::IPV6_HEADER_HOP_BY_HOP, &cat(&[&hbh, &rh, &UDP8]));
            expect_problem(
                &p,
                DropReason::Ipv6RoutingHeader,
                ParameterProblemCode::ErroneousHeaderField,
                48 + 2,
            );
        }
    }

    #[test]
    fn unknown_options_by_their_two_high_bits() {
        // Option at offset 42: after the options header's Next Header and Hdr Ext Len.
        let with = |option_type: u8| {
            let d = options(IpNumber::UDP, &[option_type, 2, 0xaa, 0xbb]);
            packet(IpNumber::IPV6_DESTINATION_OPTIONS, &cat(&[&d, &UDP8]))
        };
        // 00: skipped.
        assert!(matches!(walked(&with(0x3e)), Ok(Chain::Upper { .. })));
        // 01: discarded silently.
        expect_drop(&with(0x7e), DropReason::Ipv6UnknownOption);
        // 10 and 11: Parameter Problem code 2 pointing at the Option Type.
        for t in [0x9e, 0xde] {
            expect_problem(
                &with(t),
                DropReason::Ipv6UnknownOption,
                ParameterProblemCode::UnrecognizedIpv6Option,
                42,
            );
        }
        // To a multicast destination: 10 still draws the error, 11 does not.
        let to_multicast = |mut p: Vec<u8>| {
            p[24..40].copy_from_slice(&ALL_NODES.octets());
            p
        };
        expect_problem(
            &to_multicast(with(0x9e)),
            DropReason::Ipv6UnknownOption,
            ParameterProblemCode::UnrecognizedIpv6Option,
            42,
        );
        expect_drop(&to_multicast(with(0xde)), DropReason::Ipv6UnknownOption);
        // The Jumbo Payload option (0xc2, RFC 2675) is one we do not recognize, in Hop-by-Hop.
        let hbh = options(IpNumber::UDP, &[0xc2, 4, 0, 1, 0, 0]);
        let p = packet(IpNumber::IPV6_HEADER_HOP_BY_HOP, &cat(&[&hbh, &UDP8]));
        expect_problem(
            &p,
            DropReason::Ipv6UnknownOption,
            ParameterProblemCode::UnrecognizedIpv6Option,
            42,
        );
        // An option after a skipped one is still judged: pointer at the second.
        let d = options(IpNumber::UDP, &[0x1e, 0, 0x80, 0]);
        let p = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &cat(&[&d, &UDP8]));
        expect_problem(
            &p,
            DropReason::Ipv6UnknownOption,
            ParameterProblemCode::UnrecognizedIpv6Option,
            44,
        );
    }

    #[test]
    fn malformed_options_and_truncated_chains_are_plain_drops() {
        // An option whose length runs past its header.
        let mut d = options(IpNumber::UDP, &[0x1e, 2, 0, 0]);
        d[3] = 9;
        let p = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &cat(&[&d, &UDP8]));
        expect_drop(&p, DropReason::Ipv6BadOption);
        // An option type in the last octet, its length missing.
        let d = [IpNumber::UDP.0, 0, PADN, 3, 0, 0, 0, 0x1e];
        let p = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &cat(&[&d, &UDP8]));
        expect_drop(&p, DropReason::Ipv6BadOption);
        // Eight octets of padding in a row (RFC 4942 §2.1.9.5): Pad1 then PadN of 7.
        let d = [
            IpNumber::UDP.0,
            1,
            PAD1,
            PADN,
            5,
            0,
            0,
            0,
            0,
            0,
            PAD1,
            PAD1,
            PAD1,
            PAD1,
            PAD1,
            PAD1,
        ];
        let p = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &cat(&[&d, &UDP8]));
        expect_drop(&p, DropReason::Ipv6BadOption);
        // Seven octets of padding are fine.
        let d = options(IpNumber::UDP, &[PAD1, PADN, 3, 0, 0, 0]);
        assert_eq!(d.len(), 8);
        let p = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &cat(&[&d, &UDP8]));
        assert!(walked(&p).is_ok());
        // Headers running past the packet: no length octet, a length past the end, a
        // Fragment header cut short, a Routing header cut short.
        for (first, rest) in [
            (IpNumber::IPV6_HEADER_HOP_BY_HOP, vec![17]),
            (
                IpNumber::IPV6_DESTINATION_OPTIONS,
                vec![17, 1, 0, 0, 0, 0, 0, 0],
            ),
            (IpNumber::IPV6_FRAGMENTATION_HEADER, vec![17, 0, 0, 1, 0]),
            (IpNumber::IPV6_ROUTE_HEADER, vec![17, 0, 0, 1]),
            (IpNumber::IPV6_HEADER_HOP_BY_HOP, vec![]),
        ] {
            expect_drop(&packet(first, &rest), DropReason::Ipv6ExtensionTruncated);
        }
    }

    #[test]
    fn fragments_are_handed_over_with_their_place() {
        // A later fragment behind a Destination Options header: not walked further.
        let d = options(IpNumber::IPV6_FRAGMENTATION_HEADER, &[]);
        let f = fragment_header(IpNumber::TCP, 1232, true, 0xdead_beef);
        let p = packet(
            IpNumber::IPV6_DESTINATION_OPTIONS,
            &cat(&[&d, &f, &[0xff; 16]]),
        );
        assert_eq!(
            walked(&p),
            Ok(Chain::Fragment(Fragment {
                ident: 0xdead_beef,
                offset: 1232,
                more: true,
                next_header: IpNumber::TCP,
                header_at: 48,
                next_header_at: 40,
            }))
        );
        // The last fragment may have any length.
        let f = fragment_header(IpNumber(200), 8, false, 1);
        let p = packet(IpNumber::IPV6_FRAGMENTATION_HEADER, &cat(&[&f, b"abc"]));
        assert!(matches!(
            walked(&p),
            Ok(Chain::Fragment(Fragment {
                offset: 8,
                more: false,
                header_at: 40,
                next_header_at: 6,
                ..
            }))
        ));
        // A first fragment holding its whole chain (Destination Options + UDP header).
        let inner = options(IpNumber::UDP, &[]);
        let f = fragment_header(IpNumber::IPV6_DESTINATION_OPTIONS, 0, true, 2);
        let p = packet(
            IpNumber::IPV6_FRAGMENTATION_HEADER,
            &cat(&[&f, &inner, &UDP8]),
        );
        assert!(matches!(
            walked(&p),
            Ok(Chain::Fragment(Fragment {
                offset: 0,
                more: true,
                ..
            }))
        ));
    }

    #[test]
    fn fragment_faults_draw_parameter_problems() {
        // RFC 8200 §4.5: M set and a length not a multiple of 8: code 0 at Payload Length.
        let f = fragment_header(IpNumber::UDP, 0, true, 3);
        let p = packet(IpNumber::IPV6_FRAGMENTATION_HEADER, &cat(&[&f, &[0; 12]]));
        expect_problem(
            &p,
            DropReason::FragmentBad,
            ParameterProblemCode::ErroneousHeaderField,
            4,
        );
        // A reassembled Payload Length over 65,535: code 0 at the Fragment Offset (header at
        // 48 behind a Destination Options header: pointer 50).
        let d = options(IpNumber::IPV6_FRAGMENTATION_HEADER, &[]);
        let f = fragment_header(IpNumber::UDP, 65_528, false, 3);
        let p = packet(IpNumber::IPV6_DESTINATION_OPTIONS, &cat(&[&d, &f, &[0; 8]]));
        expect_problem(
            &p,
            DropReason::FragmentOversized,
            ParameterProblemCode::ErroneousHeaderField,
            50,
        );
        // Exactly 65,535 is fine: 65,528 + 7 with no per-fragment headers.
        let f = fragment_header(IpNumber::UDP, 65_528, false, 3);
        let p = packet(IpNumber::IPV6_FRAGMENTATION_HEADER, &cat(&[&f, &[0; 7]]));
        assert!(matches!(walked(&p), Ok(Chain::Fragment(_))));
        let p = packet(IpNumber::IPV6_FRAGMENTATION_HEADER, &cat(&[&f, &[0; 8]]));
        expect_problem(
            &p,
            DropReason::FragmentOversized,
            ParameterProblemCode::ErroneousHeaderField,
            42,
        );
    }

    #[test]
    fn first_fragment_must_hold_the_whole_header_chain() {
        // RFC 7112: code 3, pointer 0.
        let incomplete = |next: IpNumber, data: &[u8]| {
            let f = fragment_header(next, 0, true, 4);
            packet(IpNumber::IPV6_FRAGMENTATION_HEADER, &cat(&[&f, data]))
        };
        let d = options(IpNumber::UDP, &[]);
        let mut long_d = options(IpNumber::UDP, &[0x1e, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        long_d.truncate(8); // says 16 octets, 8 arrive
        for p in [
            // The Destination Options header says more than the fragment holds.
            incomplete(IpNumber::IPV6_DESTINATION_OPTIONS, &long_d),
            // A Destination Options header, then the UDP header in the next fragment.
            incomplete(
                IpNumber::IPV6_DESTINATION_OPTIONS,
                &cat(&[&d, &[0; 8]])[..8],
            ),
            // 16 octets of a 20-octet TCP header.
            incomplete(IpNumber::TCP, &[0; 16]),
        ] {
            expect_problem(
                &p,
                DropReason::Fragment6IncompleteChain,
                ParameterProblemCode::Ipv6FirstFragmentIncompleteHeaderChain,
                0,
            );
        }
        // A whole TCP header is enough; so is No Next Header.
        assert!(walked(&incomplete(IpNumber::TCP, &[0; 24])).is_ok());
        assert!(walked(&incomplete(IpNumber::IPV6_NO_NEXT_HEADER, &[0; 8])).is_ok());
    }

    #[test]
    fn fragmentation_covers_the_payload_in_multiples_of_eight() {
        let payload: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
        let mut scratch = Vec::new();
        let mut frags = Vec::new();
        let n = out(IpNumber::UDP).fragment(&payload, 1280, 0x0102_0304, &mut scratch, |p| {
            frags.push(p.to_vec())
        });
        assert_eq!(n, 4, "1232 octets per fragment");
        let mut rebuilt = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 1280);
            let v = parse(f).unwrap();
            let Chain::Fragment(frag) = walk(&v).unwrap() else {
                panic!("fragment {i} did not walk to its Fragment header")
            };
            assert_eq!(frag.ident, 0x0102_0304);
            assert_eq!(frag.offset, rebuilt.len());
            assert_eq!(frag.more, i < 3);
            assert_eq!(frag.next_header, IpNumber::UDP);
            assert_eq!((frag.header_at, frag.next_header_at), (40, 6));
            let data = &v.packet()[48..];
            if frag.more {
                assert_eq!(data.len() % 8, 0);
            }
            rebuilt.extend_from_slice(data);
        }
        assert_eq!(rebuilt, payload);
        // A payload that fits goes out whole, without a Fragment header.
        let n = out(IpNumber::UDP).fragment(&payload[..1240], 1280, 9, &mut scratch, |p| {
            assert_eq!(p.len(), 1280);
            assert_eq!(parse(p).unwrap().next_header(), IpNumber::UDP);
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn upper_layer_of_a_cut_quote() {
        let d = options(IpNumber::IPV6_FRAGMENTATION_HEADER, &[]);
        let f = fragment_header(IpNumber::TCP, 0, true, 5);
        let mut p = packet(
            IpNumber::IPV6_DESTINATION_OPTIONS,
            &cat(&[&d, &f, &[1; 40]]),
        );
        assert_eq!(upper_layer(&p), Some((IpNumber::TCP, 56)));
        p.truncate(60); // Payload Length now lies; no matter
        assert_eq!(upper_layer(&p), Some((IpNumber::TCP, 56)));
        assert_eq!(
            upper_layer(&p[..50]),
            None,
            "cut inside the Fragment header"
        );
        let f = fragment_header(IpNumber::TCP, 8, true, 5);
        let p = packet(IpNumber::IPV6_FRAGMENTATION_HEADER, &cat(&[&f, &[1; 8]]));
        assert_eq!(upper_layer(&p), None, "not the first fragment");
        assert_eq!(upper_layer(&p[..39]), None);
    }

    proptest! {
        /// Arbitrary bytes: parse, the address check, the walk and the lenient walk never
        /// panic, and the walk's offsets lie within the packet.
        #[test]
        fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                       fix_header in any::<bool>(), first in any::<u8>()) {
            if fix_header && bytes.len() >= HEADER_LEN {
                // Mostly valid fixed headers, so the walk is reached.
                bytes[0] = 0x60;
                let len = (bytes.len() - HEADER_LEN) as u16;
                bytes[4..6].copy_from_slice(&len.to_be_bytes());
                bytes[6] = [0, 43, 44, 60, 59, 6, 17, 58][usize::from(first) % 8];
                bytes[7] = 64;
            }
            let _ = upper_layer(&bytes);
            if let Ok(v) = parse(&bytes) {
                let _ = check_addresses(&v, OURS);
                match walk(&v) {
                    Ok(Chain::Upper { offset, .. }) => prop_assert!(offset <= v.packet().len()),
                    Ok(Chain::Fragment(f)) => prop_assert!(f.header_at + 8 <= v.packet().len()),
                    Ok(Chain::NoNextHeader) => {}
                    Err(e) => if let Some(p) = e.problem {
                        prop_assert!((p.pointer as usize) < v.packet().len());
                    },
                }
            }
        }
    }
}
