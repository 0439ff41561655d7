//! The `virtio_net_hdr` (virtio 1.x §5.1.6, Linux `include/uapi/linux/virtio_net.h`): the
//! 10 octets a TUN device opened with `IFF_VNET_HDR` puts in front of every packet, both
//! ways. It says what the kernel left undone or already did:
//!
//! ```text
//!  0        1          2          4          6            8             10
//!  +--------+----------+----------+----------+------------+-------------+
//!  | flags  | gso_type | hdr_len  | gso_size | csum_start | csum_offset |
//!  +--------+----------+----------+----------+------------+-------------+
//! ```
//!
//! - `flags`: `NEEDS_CSUM` (1): the transport checksum holds only the pseudo-header sum; the
//!   sum over the octets from `csum_start` is to be added and stored at `csum_start +
//!   csum_offset`. `DATA_VALID` (2): the checksum was verified.
//! - `gso_type`: `NONE` (0), `TCPV4` (1), `UDP` (3, UFO), `TCPV6` (4), `UDP_L4` (5), and the
//!   `ECN` bit (0x80, the sender used CWR). A GSO packet is a super-segment: one IP and TCP
//!   header in front of up to 64 KB of payload, cut (or merged) at `gso_size` octets.
//! - `hdr_len`: a hint of the header length. Linux fills it with the length of the skb's
//!   linear part (`skb_headlen`, `virtio_net_hdr_from_skb`), which need not be the headers'
//!   length, so it is never trusted: we compute the header length from the packet.
//!
//! The 16-bit fields are little-endian: a legacy TUN header is in the host's byte order
//! unless `TUNSETVNETLE`/`TUNSETVNETBE` says otherwise (`tun_is_little_endian` in
//! `drivers/net/tun.c`); the device sets `TUNSETVNETLE` where the kernel allows it, and on
//! x86 and arm64 the host order is little-endian anyway.
//!
//! Every field from the kernel is checked before it is believed ([`decode`]): a header that
//! does not make sense is a counted drop (`virtio-*` in [`DropReason`]), never a panic.

use super::DropReason;

/// Octets of the header (`struct virtio_net_hdr`, without the `num_buffers` of the
/// mergeable-buffers variant, which a TUN device does not use by default).
pub const HEADER_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: only the pseudo-header sum is in the checksum field.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was verified.
pub const F_DATA_VALID: u8 = 2;

/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_UDP` (UDP fragmentation offload, obsolete).
pub const GSO_UDP: u8 = 3;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4` (UDP segmentation offload).
pub const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN`: ORed into a TCP type when the segments carry ECN (CWR).
pub const GSO_ECN: u8 = 0x80;

/// The header as it is on the wire, fields in host order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtioNetHdr {
    /// `NEEDS_CSUM` / `DATA_VALID` bits.
    pub flags: u8,
    /// One of the `GSO_*` types, possibly with [`GSO_ECN`].
    pub gso_type: u8,
    /// The sender's idea of the header length (a hint, never trusted on receive).
    pub hdr_len: u16,
    /// Payload octets per segment of a super-segment.
    pub gso_size: u16,
    /// Where the checksummed data starts (from the start of the packet).
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
}

impl VirtioNetHdr {
    /// The all-zero header: an ordinary packet, checksum complete, nothing to split.
    pub const PLAIN: VirtioNetHdr = VirtioNetHdr {
        flags: 0,
        gso_type: GSO_NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
    };

    /// Reads the header from its 10 octets (little-endian fields).
    #[must_use]
    pub fn from_bytes(b: &[u8; HEADER_LEN]) -> VirtioNetHdr {
        let le = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        VirtioNetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: le(2),
            gso_size: le(4),
            csum_start: le(6),
            csum_offset: le(8),
        }
    }

    /// The header's 10 octets (little-endian fields).
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }
}

/// What a received header says about its packet, once checked against the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxOffload {
    /// How far the transport checksum is done.
    pub checksum: RxChecksum,
    /// `Some` for a TCP super-segment or a UDP super-datagram.
    pub gso: Option<RxGso>,
}

/// The checksum state a received header reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxChecksum {
    /// Nothing said: the receiver verifies.
    Unverified,
    /// `DATA_VALID`: the kernel verified it.
    Verified,
    /// `NEEDS_CSUM`: only the pseudo-header sum is in place (a packet the local kernel
    /// made; nothing between it and us could have corrupted it).
    Partial {
        /// Where the checksummed data starts.
        start: u16,
        /// Where the checksum goes, from `start`.
        offset: u16,
    },
}

/// A super-segment's shape (TCP, or UDP with USO), computed from the packet (not from
/// `hdr_len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxGso {
    /// `UDP_L4`: a UDP super-datagram of datagrams carrying `size` octets each.
    pub udp: bool,
    /// Payload octets per segment (`gso_size`).
    pub size: u16,
    /// IP header plus TCP (UDP) header, from the packet.
    pub header_len: u16,
    /// The `ECN` bit was set.
    pub ecn: bool,
}

/// Checks a received header against its `packet` (the octets after the header) and says
/// what it means. Rules (each failure a counted [`DropReason`]):
/// - flags: only `NEEDS_CSUM` or `DATA_VALID`, not both;
/// - `NEEDS_CSUM`: `csum_start` at or past a minimal IP header, and the 2-octet checksum at
///   `csum_start + csum_offset` inside the packet; without it both offsets are zero;
/// - gso_type: `NONE` with `gso_size` zero; `TCPV4`/`TCPV6` (ECN allowed) with `gso_size`
///   non-zero, an IPv4 (IPv6) packet carrying TCP directly, and whole IP and TCP headers;
///   `UDP_L4` (USO) the same for UDP over either family, without ECN; `UDP` (UFO) refused;
/// - `hdr_len` is not used (see the module comment).
pub fn decode(hdr: &VirtioNetHdr, packet: &[u8]) -> Result<RxOffload, DropReason> {
    if packet.is_empty() {
        return Err(DropReason::VirtioTruncated);
    }
    let checksum = match hdr.flags {
        0 => RxChecksum::Unverified,
        F_DATA_VALID => RxChecksum::Verified,
        F_NEEDS_CSUM => RxChecksum::Partial {
            start: hdr.csum_start,
            offset: hdr.csum_offset,
        },
        _ => return Err(DropReason::VirtioBadFlags),
    };
    match checksum {
        RxChecksum::Partial { start, offset } => {
            let end = usize::from(start) + usize::from(offset) + 2;
            if usize::from(start) < 20 || end > packet.len() {
                return Err(DropReason::VirtioBadChecksumOffsets);
            }
        }
        _ if hdr.csum_start != 0 || hdr.csum_offset != 0 => {
            return Err(DropReason::VirtioBadChecksumOffsets);
        }
        _ => {}
    }
    let ecn = hdr.gso_type & GSO_ECN != 0;
    let gso = match hdr.gso_type & !GSO_ECN {
        GSO_NONE if ecn => return Err(DropReason::VirtioBadGsoType),
        GSO_NONE if hdr.gso_size != 0 => return Err(DropReason::VirtioBadGso),
        GSO_NONE => None,
        t @ (GSO_TCPV4 | GSO_TCPV6) => {
            if hdr.gso_size == 0 {
                return Err(DropReason::VirtioBadGso);
            }
            let header_len = transport_headers_len(packet, Some(t == GSO_TCPV6))?;
            Some(RxGso {
                udp: false,
                size: hdr.gso_size,
                header_len,
                ecn,
            })
        }
        // USO (TUN_F_USO4/6): the family is the packet's own; ECN is a TCP matter.
        GSO_UDP_L4 if !ecn => {
            if hdr.gso_size == 0 {
                return Err(DropReason::VirtioBadGso);
            }
            let header_len = transport_headers_len(packet, None)?;
            Some(RxGso {
                udp: true,
                size: hdr.gso_size,
                header_len,
                ecn,
            })
        }
        GSO_UDP => return Err(DropReason::VirtioGsoUnsupported),
        _ => return Err(DropReason::VirtioBadGsoType),
    };
    Ok(RxOffload { checksum, gso })
}

/// IP + transport header length of a super-segment: TCP over IPv6 (`Some(true)`) or IPv4
/// (`Some(false)`) as a TCP GSO type names, or UDP over either (`None`, USO). `VirtioBadGso`
/// when the packet is not of that family, does not carry the protocol right after the IP
/// header, or is too short for the headers it claims.
fn transport_headers_len(packet: &[u8], tcp_v6: Option<bool>) -> Result<u16, DropReason> {
    let bad = DropReason::VirtioBadGso;
    let version = packet[0] >> 4;
    let proto = if tcp_v6.is_some() { 6 } else { 17 };
    let ipv6 = tcp_v6.unwrap_or(version == 6);
    let ip_len = if ipv6 {
        // RFC 8200 §3: Next Header at octet 6; the kernel adds no extension headers.
        if version != 6 || packet.len() < 40 || packet[6] != proto {
            return Err(bad);
        }
        40
    } else {
        // RFC 791: IHL in 32-bit words, protocol at octet 9.
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        if version != 4 || ihl < 20 || packet.len() < ihl || packet[9] != proto {
            return Err(bad);
        }
        ihl
    };
    let transport_len = if proto == 17 {
        8 // RFC 768
    } else {
        // RFC 9293 §3.1: Data Offset, the high nibble of octet 12 of the TCP header.
        let offset = packet.get(ip_len + 12).ok_or(bad)?;
        usize::from(offset >> 4) * 4
    };
    if transport_len < 8 || packet.len() < ip_len + transport_len {
        return Err(bad);
    }
    if proto == 6 && transport_len < 20 {
        return Err(bad);
    }
    Ok((ip_len + transport_len) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 (or IPv6) + TCP packet with `payload` octets of data (headers only as far as
    /// decode reads them).
    fn packet(ipv6: bool, payload: usize) -> Vec<u8> {
        let ip = if ipv6 { 40 } else { 20 };
        let mut p = vec![0u8; ip + 20 + payload];
        if ipv6 {
            p[0] = 0x60;
            p[6] = 6;
        } else {
            p[0] = 0x45;
            p[9] = 6;
        }
        p[ip + 12] = 5 << 4;
        p
    }

    fn tso(gso_type: u8, size: u16, start: u16) -> VirtioNetHdr {
        VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            gso_type,
            hdr_len: 9999, // whatever the kernel says, it is not used
            gso_size: size,
            csum_start: start,
            csum_offset: 16,
        }
    }

    #[test]
    fn bytes_roundtrip_little_endian() {
        let h = VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV6 | GSO_ECN,
            hdr_len: 0x1234,
            gso_size: 1428,
            csum_start: 40,
            csum_offset: 16,
        };
        let b = h.to_bytes();
        assert_eq!(b, [1, 0x84, 0x34, 0x12, 0x94, 0x05, 40, 0, 16, 0]);
        assert_eq!(VirtioNetHdr::from_bytes(&b), h);
        assert_eq!(VirtioNetHdr::PLAIN.to_bytes(), [0; HEADER_LEN]);
    }

    #[test]
    fn plain_verified_and_partial_packets() {
        let p = packet(false, 100);
        let plain = decode(&VirtioNetHdr::PLAIN, &p).unwrap();
        assert_eq!(plain.checksum, RxChecksum::Unverified);
        assert_eq!(plain.gso, None);
        let valid = VirtioNetHdr {
            flags: F_DATA_VALID,
            ..VirtioNetHdr::PLAIN
        };
        assert_eq!(decode(&valid, &p).unwrap().checksum, RxChecksum::Verified);
        let partial = VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 16,
            ..VirtioNetHdr::PLAIN
        };
        assert_eq!(
            decode(&partial, &p).unwrap().checksum,
            RxChecksum::Partial {
                start: 20,
                offset: 16
            }
        );
    }

    #[test]
    fn tcp_super_segments_get_their_header_length_from_the_packet() {
        let mut p4 = packet(false, 64_000);
        p4[20 + 12] = 8 << 4; // 32-octet TCP header (timestamps)
        let got = decode(&tso(GSO_TCPV4, 1448, 20), &p4).unwrap();
        assert_eq!(
            got.gso,
            Some(RxGso {
                udp: false,
                size: 1448,
                header_len: 52,
                ecn: false
            })
        );
        let p6 = packet(true, 64_000);
        let got = decode(&tso(GSO_TCPV6 | GSO_ECN, 1440, 40), &p6).unwrap();
        assert_eq!(
            got.gso,
            Some(RxGso {
                udp: false,
                size: 1440,
                header_len: 60,
                ecn: true
            })
        );
    }

    #[test]
    fn uso_super_datagrams_over_both_families() {
        let mut p4 = packet(false, 20_000);
        p4[9] = 17;
        let got = decode(&tso(GSO_UDP_L4, 1472, 20), &p4).unwrap();
        let udp = |size, header_len| RxGso {
            udp: true,
            size,
            header_len,
            ecn: false,
        };
        assert_eq!(got.gso, Some(udp(1472, 28)));
        let mut p6 = packet(true, 20_000);
        p6[6] = 17;
        let got = decode(&tso(GSO_UDP_L4, 1452, 40), &p6).unwrap();
        assert_eq!(got.gso, Some(udp(1452, 48)));
        let no_csum = VirtioNetHdr {
            gso_type: GSO_UDP_L4,
            gso_size: 1452,
            ..VirtioNetHdr::PLAIN
        };
        assert_eq!(
            decode(&no_csum, &p6[..44]),
            Err(DropReason::VirtioBadGso),
            "the UDP header cut short"
        );
    }

    #[test]
    fn hostile_headers_are_counted_drops() {
        let p4 = packet(false, 3000);
        let p6 = packet(true, 3000);
        let cases: Vec<(VirtioNetHdr, &[u8], DropReason)> = vec![
            (VirtioNetHdr::PLAIN, &[], DropReason::VirtioTruncated),
            (
                VirtioNetHdr {
                    flags: F_NEEDS_CSUM | F_DATA_VALID,
                    ..tso(GSO_NONE, 0, 20)
                },
                &p4,
                DropReason::VirtioBadFlags,
            ),
            (
                VirtioNetHdr {
                    flags: 4, // RSC_INFO: not from a TUN device
                    ..VirtioNetHdr::PLAIN
                },
                &p4,
                DropReason::VirtioBadFlags,
            ),
            // The checksum would land past the end, or csum_start inside the IP header.
            (
                tso(GSO_NONE, 0, 3100),
                &p4,
                DropReason::VirtioBadChecksumOffsets,
            ),
            (
                tso(GSO_NONE, 0, u16::MAX),
                &p4,
                DropReason::VirtioBadChecksumOffsets,
            ),
            (
                tso(GSO_NONE, 0, 4),
                &p4,
                DropReason::VirtioBadChecksumOffsets,
            ),
            (
                VirtioNetHdr {
                    csum_offset: 16,
                    ..VirtioNetHdr::PLAIN
                },
                &p4,
                DropReason::VirtioBadChecksumOffsets,
            ),
            (tso(GSO_TCPV4, 0, 20), &p4, DropReason::VirtioBadGso),
            (tso(GSO_NONE, 1448, 20), &p4, DropReason::VirtioBadGso),
            (tso(GSO_TCPV4, 1448, 40), &p6, DropReason::VirtioBadGso),
            (tso(GSO_TCPV6, 1448, 20), &p4, DropReason::VirtioBadGso),
            (
                tso(GSO_NONE | GSO_ECN, 0, 20),
                &p4,
                DropReason::VirtioBadGsoType,
            ),
            (tso(2, 1448, 20), &p4, DropReason::VirtioBadGsoType),
            (tso(0x7f, 1448, 20), &p4, DropReason::VirtioBadGsoType),
            (
                tso(GSO_UDP, 1448, 20),
                &p4,
                DropReason::VirtioGsoUnsupported,
            ),
            // USO over a TCP packet, without a size, or with ECN.
            (tso(GSO_UDP_L4, 1448, 20), &p4, DropReason::VirtioBadGso),
            (tso(GSO_UDP_L4, 0, 20), &p4, DropReason::VirtioBadGso),
            (
                tso(GSO_UDP_L4 | GSO_ECN, 1448, 20),
                &p4,
                DropReason::VirtioBadGsoType,
            ),
        ];
        for (hdr, p, want) in cases {
            assert_eq!(decode(&hdr, p), Err(want), "{hdr:?}");
        }
    }

    #[test]
    fn gso_packets_whose_headers_do_not_fit_are_dropped() {
        let mut udp = packet(false, 100);
        udp[9] = 17;
        assert_eq!(
            decode(&tso(GSO_TCPV4, 1448, 20), &udp),
            Err(DropReason::VirtioBadGso)
        );
        let mut ext = packet(true, 100);
        ext[6] = 0; // a Hop-by-Hop header before TCP
        assert_eq!(
            decode(&tso(GSO_TCPV6, 1448, 40), &ext),
            Err(DropReason::VirtioBadGso)
        );
        let mut long_tcp = packet(false, 0);
        long_tcp[32] = 15 << 4; // 60-octet TCP header in a 40-octet packet
        assert_eq!(
            decode(&tso(GSO_TCPV4, 1448, 20), &long_tcp),
            Err(DropReason::VirtioBadGso)
        );
        let mut short_ihl = packet(false, 100);
        short_ihl[0] = 0x44;
        assert_eq!(
            decode(&tso(GSO_TCPV4, 1448, 20), &short_ihl),
            Err(DropReason::VirtioBadGso)
        );
        // Too short for the TCP data offset octet itself.
        assert_eq!(
            decode(&tso(GSO_TCPV4, 1448, 20), &packet(false, 0)[..30]),
            Err(DropReason::VirtioBadChecksumOffsets)
        );
        let mut p = packet(false, 0);
        p.truncate(32);
        let h = VirtioNetHdr {
            flags: 0,
            csum_offset: 0,
            csum_start: 0,
            ..tso(GSO_TCPV4, 1448, 0)
        };
        assert_eq!(decode(&h, &p), Err(DropReason::VirtioBadGso));
    }

    proptest::proptest! {
        /// Any 10 octets and any packet: decode returns, never panics, and what it accepts
        /// is consistent with the packet.
        #[test]
        fn decode_never_panics(hdr in proptest::array::uniform10(proptest::prelude::any::<u8>()),
                               packet in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let h = VirtioNetHdr::from_bytes(&hdr);
            if let Ok(rx) = decode(&h, &packet) {
                if let Some(g) = rx.gso {
                    proptest::prop_assert!(usize::from(g.header_len) <= packet.len());
                    proptest::prop_assert!(g.size > 0);
                }
                if let RxChecksum::Partial { start, offset } = rx.checksum {
                    proptest::prop_assert!(usize::from(start) + usize::from(offset) + 2 <= packet.len());
                }
            }
        }
    }
}
