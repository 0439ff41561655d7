//! Wire formats: IPv4, IPv6, ICMP, ICMPv6, UDP and TCP parsing and emitting on top of
//! etherparse.
//!
//! The transport codecs (`tcp`, `udp`) never see an IP address: they take a
//! [`PseudoHeader`], the addresses and protocol already summed, so they are the same code for
//! IPv4 and IPv6 (RFC 9293 §3.1, RFC 8200 §8.1).
//!
//! Parsers check everything a hostile sender could get wrong and return an error whose
//! [`DropReason`] is the counter it lands in. Emitters write into a caller's buffer and return
//! the number of bytes written; they never allocate.

pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
pub mod vnet;

mod drop_reason;
pub use drop_reason::{DropCounters, DropReason};

use etherparse::IpNumber;
use etherparse::checksum::Sum16BitWords;
use std::net::IpAddr;

/// The Internet checksum (RFC 1071) of the concatenated `parts`, as the two bytes to store in
/// a header whose checksum field is zero in `parts`. Every part but the last must have an
/// even length.
pub fn internet_checksum(parts: &[&[u8]]) -> [u8; 2] {
    let sum = parts
        .iter()
        .fold(Sum16BitWords::new(), |s, p| add_words(s, p));
    // etherparse sums in native byte order; its result's native bytes are network order.
    sum.ones_complement().to_ne_bytes()
}

/// Add `data` to a ones'-complement sum with etherparse's arithmetic, in four independent
/// lanes of 8-byte words: one chain of add-with-carry per word was the bottleneck (a quarter
/// of the CPU of a bulk transfer in memory); four chains overlap in the pipeline. The lanes'
/// folded sums are added back as 16-bit words (RFC 1071 §2: the sum is associative and
/// commutative, so any grouping at even offsets gives the same result).
fn add_words(sum: Sum16BitWords, data: &[u8]) -> Sum16BitWords {
    let mut chunks = data.chunks_exact(32);
    let mut lanes = [
        Sum16BitWords::new(),
        Sum16BitWords::new(),
        Sum16BitWords::new(),
        Sum16BitWords::new(),
    ];
    for chunk in &mut chunks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let word: [u8; 8] = chunk[8 * i..8 * i + 8].try_into().expect("8 bytes");
            *lane = lane.add_8bytes(word);
        }
    }
    let sum = lanes.iter().fold(sum, |s, lane| {
        s.add_2bytes((!lane.ones_complement()).to_ne_bytes())
    });
    sum.add_slice(chunks.remainder())
}

/// Length of the fixed IP header in front of a transport segment to or from `addr`: 20
/// octets for IPv4 (RFC 791, no options), 40 for IPv6 (RFC 8200 §3, no extension headers).
/// TCP derives its MSS from the MTU with it (RFC 9293 §3.7.1, MUST-67).
#[must_use]
pub fn ip_header_len(addr: IpAddr) -> usize {
    match addr {
        IpAddr::V4(_) => 20,
        IpAddr::V6(_) => 40,
    }
}

/// The part of a transport checksum's pseudo-header that does not depend on the segment:
/// source and destination address and the protocol number, already summed (RFC 9293 §3.1
/// for IPv4, RFC 8200 §8.1 for IPv6). The length is added per segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PseudoHeader {
    /// The folded ones'-complement sum, in etherparse's native-order words.
    folded: u16,
    ipv6: bool,
    /// The device verified the checksum or will never compute it (see
    /// [`PseudoHeader::done_by_device`]).
    done_by_device: bool,
}

impl PseudoHeader {
    /// The pseudo-header of `protocol` between `src` and `dst` (both of one family).
    #[must_use]
    pub fn new(src: IpAddr, dst: IpAddr, protocol: IpNumber) -> PseudoHeader {
        let mut sum = Sum16BitWords::new();
        for addr in [src, dst] {
            sum = match addr {
                IpAddr::V4(a) => sum.add_4bytes(a.octets()),
                IpAddr::V6(a) => sum.add_16bytes(a.octets()),
            };
        }
        PseudoHeader {
            folded: !sum.add_2bytes([0, protocol.0]).ones_complement(),
            ipv6: src.is_ipv6(),
            done_by_device: false,
        }
    }

    /// The TCP pseudo-header between `src` and `dst`.
    #[must_use]
    pub fn tcp(src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> PseudoHeader {
        PseudoHeader::new(src.into(), dst.into(), IpNumber::TCP)
    }

    /// The UDP pseudo-header between `src` and `dst`.
    #[must_use]
    pub fn udp(src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> PseudoHeader {
        PseudoHeader::new(src.into(), dst.into(), IpNumber::UDP)
    }

    /// The ICMPv6 pseudo-header between `src` and `dst` (RFC 4443 §2.3: the checksum covers
    /// it, unlike ICMPv4's).
    #[must_use]
    pub fn icmpv6(src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr) -> PseudoHeader {
        PseudoHeader::new(src.into(), dst.into(), IpNumber::IPV6_ICMP)
    }

    /// The same pseudo-header for a received packet whose checksum an offload device took
    /// care of (`done`): virtio `DATA_VALID` (verified) or `NEEDS_CSUM` (made by the local
    /// kernel, only the pseudo-header sum in place). [`checksum_ok`](Self::checksum_ok)
    /// then holds without summing: the device, not the wire, is where MUST-3 is met.
    #[must_use]
    pub fn done_by_device(self, done: bool) -> PseudoHeader {
        PseudoHeader {
            done_by_device: done,
            ..self
        }
    }

    /// Whether [`done_by_device`](Self::done_by_device) marked it.
    pub fn is_done_by_device(&self) -> bool {
        self.done_by_device
    }

    /// Whether the addresses are IPv6 (where a zero UDP checksum is not allowed).
    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// The sum with the upper-layer length added (16 bits on IPv4; on IPv6 a 32-bit field,
    /// whose high half is zero for anything that fits a packet without a jumbogram).
    fn with_len(&self, len: usize) -> Sum16BitWords {
        Sum16BitWords::new()
            .add_2bytes(self.folded.to_ne_bytes())
            .add_4bytes((len as u32).to_be_bytes())
    }

    /// The checksum to store for a transport segment made of `parts` (checksum field zero in
    /// them); every part but the last must have an even length.
    pub fn checksum(&self, parts: &[&[u8]]) -> [u8; 2] {
        let len = parts.iter().map(|p| p.len()).sum();
        let sum = parts
            .iter()
            .fold(self.with_len(len), |s, p| add_words(s, p));
        sum.ones_complement().to_ne_bytes()
    }

    /// The partial checksum a device completes (virtio `NEEDS_CSUM`, Linux's
    /// `CHECKSUM_PARTIAL`): the pseudo-header sum over a transport segment of `len` octets,
    /// folded and not complemented. Summing the segment with it in the checksum field and
    /// complementing gives [`checksum`](Self::checksum)'s value.
    pub fn partial_checksum(&self, len: usize) -> [u8; 2] {
        (!self.with_len(len).ones_complement()).to_ne_bytes()
    }

    /// True when a received segment made of `parts` (checksum field included) verifies.
    pub fn checksum_ok(&self, parts: &[&[u8]]) -> bool {
        self.done_by_device || self.checksum(parts) == [0, 0]
    }
}

/// True when `parts` (checksum field included) sum to the all-ones pattern (RFC 1071).
pub fn checksum_ok(parts: &[&[u8]]) -> bool {
    internet_checksum(parts) == [0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The four-lane sum equals etherparse's own slice sum for any data and split.
        #[test]
        fn lanes_match_etherparse(data in proptest::collection::vec(any::<u8>(), 0..3000), cut in 0usize..3000) {
            let cut = (cut.min(data.len())) & !1;
            let ours = internet_checksum(&[&data[..cut], &data[cut..]]);
            let theirs = Sum16BitWords::new().add_slice(&data).ones_complement().to_ne_bytes();
            prop_assert_eq!(ours, theirs);
        }

        /// The pseudo-header sum matches etherparse's TCP checksum over IPv4 and IPv6.
        #[test]
        fn pseudo_header_matches_etherparse(payload in proptest::collection::vec(any::<u8>(), 0..1500),
                                            a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
            use etherparse::TcpHeader;
            let h = TcpHeader::new(1000, 80, 7, 512);
            let mut seg = h.to_bytes().to_vec();
            seg.extend_from_slice(&payload);
            let (a4, b4) = ([a[0], a[1], a[2], a[3]], [b[0], b[1], b[2], b[3]]);
            let v4 = PseudoHeader::tcp(std::net::Ipv4Addr::from(a4), std::net::Ipv4Addr::from(b4));
            let theirs = h.calc_checksum_ipv4_raw(a4, b4, &payload).unwrap();
            prop_assert_eq!(v4.checksum(&[&seg]), theirs.to_be_bytes());
            let v6 = PseudoHeader::tcp(std::net::Ipv6Addr::from(a), std::net::Ipv6Addr::from(b));
            let theirs = h.calc_checksum_ipv6_raw(a, b, &payload).unwrap();
            prop_assert_eq!(v6.checksum(&[&seg]), theirs.to_be_bytes());
        }
    }
}
