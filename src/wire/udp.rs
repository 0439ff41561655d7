//! UDP (RFC 768) header checks, the same for both IP families: the addresses reach the
//! checksum only through the [`PseudoHeader`].

use super::{DropReason, PseudoHeader};

/// UDP header length in octets (RFC 768: ports, length, checksum).
pub const HEADER_LEN: usize = 8;

/// A UDP datagram that passed its checks; `payload` is cut to the header's length field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpView<'a> {
    /// RFC 768: the sender's port (0 when it expects no reply).
    pub src_port: u16,
    /// RFC 768: the port the datagram is addressed to.
    pub dst_port: u16,
    /// The data after the header, up to the length field (link padding cut off).
    pub payload: &'a [u8],
}

/// Checks a UDP datagram (`datagram` is the IP payload): the length field fits what arrived
/// (bytes beyond it are padding and ignored), and the checksum verifies. RFC 768: a zero
/// checksum means the sender computed none, which IPv4 allows; RFC 8200 §8.1: over IPv6 a
/// zero checksum is invalid.
pub fn parse(pseudo: PseudoHeader, datagram: &[u8]) -> Result<UdpView<'_>, DropReason> {
    let header =
        etherparse::UdpHeaderSlice::from_slice(datagram).map_err(|_| DropReason::UdpTruncated)?;
    let len = usize::from(header.length());
    if len < HEADER_LEN || len > datagram.len() {
        return Err(DropReason::UdpTruncated);
    }
    let datagram = &datagram[..len];
    // Offload: a checksum the device verified, or a partial one it left (only the
    // pseudo-header sum, possibly zero), is not checked here.
    let unchecked = pseudo.is_done_by_device() || (header.checksum() == 0 && !pseudo.is_ipv6());
    if !unchecked && (header.checksum() == 0 || !pseudo.checksum_ok(&[datagram])) {
        return Err(DropReason::UdpBadChecksum);
    }
    Ok(UdpView {
        src_port: header.source_port(),
        dst_port: header.destination_port(),
        payload: &datagram[HEADER_LEN..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::UdpHeader;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

    fn datagram(payload: &[u8], checksum: Option<u16>) -> Vec<u8> {
        let mut h = UdpHeader::without_ipv4_checksum(5000, 7, payload.len()).unwrap();
        h.checksum = checksum.unwrap_or_else(|| {
            h.calc_checksum_ipv4_raw(A.octets(), B.octets(), payload)
                .unwrap()
        });
        let mut d = h.to_bytes().to_vec();
        d.extend_from_slice(payload);
        d
    }

    #[test]
    fn valid_datagram_and_padding() {
        let mut d = datagram(b"hello", None);
        d.extend_from_slice(&[0, 0, 0]); // padding beyond the length field
        let v = parse(PseudoHeader::udp(A, B), &d).unwrap();
        assert_eq!(
            (v.src_port, v.dst_port, v.payload),
            (5000, 7, &b"hello"[..])
        );
    }

    #[test]
    fn length_and_checksum_faults() {
        let d = datagram(b"hello", None);
        let p = PseudoHeader::udp(A, B);
        assert_eq!(parse(p, &d[..7]), Err(DropReason::UdpTruncated));
        assert_eq!(parse(p, &d[..12]), Err(DropReason::UdpTruncated)); // length says 13
        let mut short = d.clone();
        short[4..6].copy_from_slice(&7u16.to_be_bytes()); // length below the header
        assert_eq!(parse(p, &short), Err(DropReason::UdpTruncated));
        let mut bad = d.clone();
        bad[9] ^= 1;
        assert_eq!(parse(p, &bad), Err(DropReason::UdpBadChecksum));
        // Another pseudo-header (wrong address) fails too.
        assert_eq!(
            parse(PseudoHeader::udp(A, A), &d),
            Err(DropReason::UdpBadChecksum)
        );
    }

    #[test]
    fn zero_checksum_allowed_on_ipv4_only() {
        let d = datagram(b"x", Some(0));
        assert!(parse(PseudoHeader::udp(A, B), &d).is_ok());
        assert_eq!(
            parse(PseudoHeader::udp(A6, B6), &d),
            Err(DropReason::UdpBadChecksum)
        );
    }

    #[test]
    fn ipv6_checksum_verified() {
        let payload = b"over six";
        let mut h = UdpHeader::without_ipv4_checksum(5000, 7, payload.len()).unwrap();
        h.checksum = h
            .calc_checksum_ipv6_raw(A6.octets(), B6.octets(), payload)
            .unwrap();
        let mut d = h.to_bytes().to_vec();
        d.extend_from_slice(payload);
        let v = parse(PseudoHeader::udp(A6, B6), &d).unwrap();
        assert_eq!(v.payload, payload);
    }
}
