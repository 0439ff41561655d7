//! Software segmentation of a super-segment, as the kernel's `tcp_gso_segment` and
//! `__udp_gso_segment` cut one: what [`super::Faults`] uses so that loss, duplication,
//! corruption and reordering strike the segments a TCP super-segment stands for, one at a
//! time, as they would on a wire (a super-segment dropped whole would be a burst of up to 44
//! losses at MTU 1500), and what the stack uses to take a UDP super-datagram (USO) as the
//! datagrams it stands for.
//!
//! The descriptor's `header_len` is not trusted: the headers are read from the packet, and
//! anything that is not a plain IPv4 or IPv6 (no extension headers) TCP or UDP super-segment
//! of more than one piece is left whole.

#[cfg(test)]
use super::ChecksumState;
use super::{Gso, PacketDesc};
use crate::wire::{PseudoHeader, internet_checksum};
use etherparse::IpNumber;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TCP flags that only the last piece keeps (FIN, PSH) and only the first (CWR).
const FIN_PSH: u8 = 0x01 | 0x08;
const CWR: u8 = 0x80;

/// Source and destination of an IPv6 (`v6`) or IPv4 header at the start of `packet`.
fn addresses(packet: &[u8], v6: bool) -> Option<(IpAddr, IpAddr)> {
    Some(if v6 {
        let s: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
        let d: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
        (Ipv6Addr::from(s).into(), Ipv6Addr::from(d).into())
    } else {
        let s: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
        let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
        (Ipv4Addr::from(s).into(), Ipv4Addr::from(d).into())
    })
}

/// The segments `packet` stands for, each a complete packet with its IP header and TCP
/// checksum computed (so a plain descriptor); `None` when it is not a TCP super-segment of
/// more than one piece.
#[must_use]
pub(crate) fn segment(packet: &[u8], desc: PacketDesc) -> Option<Vec<Vec<u8>>> {
    let (size, udp) = match desc.gso {
        Gso::None => return None,
        Gso::Tcp { size, .. } => (size, false),
        Gso::Udp { size, .. } => (size, true),
    };
    let size = usize::from(size);
    let v6 = packet.first()? >> 4 == 6;
    let (ihl, proto) = if v6 {
        (40, *packet.get(6)?)
    } else {
        (usize::from(packet.first()? & 0xf) * 4, *packet.get(9)?)
    };
    if proto != if udp { 17 } else { 6 } || ihl < 20 {
        return None;
    }
    let thl = if udp {
        8
    } else {
        usize::from(packet.get(ihl + 12)? >> 4) * 4
    };
    let hl = ihl + thl;
    if thl < 8 || (!udp && thl < 20) || size == 0 || packet.len() <= hl + size {
        return None;
    }
    let (src, dst) = addresses(packet, v6)?;
    let pseudo = PseudoHeader::new(src, dst, if udp { IpNumber::UDP } else { IpNumber::TCP });
    let seq = u32::from_be_bytes(packet[ihl + 4..ihl + 8].try_into().ok()?);
    let ident = u16::from_be_bytes([packet[4], packet[5]]);
    let flags = packet[ihl + 13];
    let payload = &packet[hl..];
    let n = payload.len().div_ceil(size);
    let pieces = payload
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let mut p = Vec::with_capacity(hl + chunk.len());
            p.extend_from_slice(&packet[..hl]);
            p.extend_from_slice(chunk);
            if v6 {
                let plen = (thl + chunk.len()) as u16;
                p[4..6].copy_from_slice(&plen.to_be_bytes());
            } else {
                // RFC 791: total length, a fresh identification per piece, header checksum.
                p[2..4].copy_from_slice(&((hl + chunk.len()) as u16).to_be_bytes());
                p[4..6].copy_from_slice(&ident.wrapping_add(i as u16).to_be_bytes());
                p[10..12].fill(0);
                let sum = internet_checksum(&[&p[..ihl]]);
                p[10..12].copy_from_slice(&sum);
            }
            let l4 = &mut p[ihl..];
            if udp {
                // RFC 768: the length covers header and data; a computed zero is sent as
                // all ones.
                let len = (8 + chunk.len()) as u16;
                l4[4..6].copy_from_slice(&len.to_be_bytes());
                l4[6..8].fill(0);
                let sum = pseudo.checksum(&[l4]);
                let sum = if sum == [0, 0] { [0xff, 0xff] } else { sum };
                l4[6..8].copy_from_slice(&sum);
                return p;
            }
            let piece_seq = seq.wrapping_add((i * size) as u32);
            l4[4..8].copy_from_slice(&piece_seq.to_be_bytes());
            let mut f = flags;
            if i + 1 < n {
                f &= !FIN_PSH;
            }
            if i > 0 {
                f &= !CWR;
            }
            l4[13] = f;
            l4[16..18].fill(0);
            let sum = pseudo.checksum(&[l4]);
            l4[16..18].copy_from_slice(&sum);
            p
        })
        .collect();
    Some(pieces)
}

/// The inverse for a run of consecutive TCP segments that [`segment`] cut (at least two,
/// each but the last `size` octets of payload): one super-segment again, as a sender's TSO
/// would have made it (IP lengths, the first piece's identification and sequence number,
/// FIN and PSH from the last, the partial checksum a device completes), with its
/// descriptor. What a wire loses from a super-segment leaves the rest in at most two runs,
/// which a real network's GRO would merge the same way.
#[must_use]
pub(crate) fn join(pieces: &[&[u8]], size: u16) -> (Vec<u8>, PacketDesc) {
    let first = pieces[0];
    let v6 = first[0] >> 4 == 6;
    let ihl = if v6 {
        40
    } else {
        usize::from(first[0] & 0xf) * 4
    };
    let hl = ihl + usize::from(first[ihl + 12] >> 4) * 4;
    let mut p = first[..hl].to_vec();
    for piece in pieces {
        p.extend_from_slice(&piece[hl..]);
    }
    let (src, dst) = addresses(&p, v6).expect("the first piece's IP header");
    if v6 {
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
    } else {
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[10..12].fill(0);
        let sum = internet_checksum(&[&p[..ihl]]);
        p[10..12].copy_from_slice(&sum);
    }
    let last = pieces[pieces.len() - 1];
    p[ihl + 13] = (first[ihl + 13] & !FIN_PSH) | (last[ihl + 13] & FIN_PSH);
    let partial = PseudoHeader::new(src, dst, IpNumber::TCP).partial_checksum(p.len() - ihl);
    p[ihl + 16..ihl + 18].copy_from_slice(&partial);
    let desc = PacketDesc {
        len: p.len(),
        checksum: super::ChecksumState::Partial {
            start: ihl as u16,
            offset: 16,
        },
        gso: Gso::Tcp {
            size,
            header_len: hl as u16,
        },
    };
    (p, desc)
}

#[cfg(test)]
/// An IPv4 TCP super-segment of `len` payload octets (a counting pattern), FIN and PSH
/// set, partial checksum as a device would hand it over.
pub(crate) fn super_v4(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; 40 + len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&0xfffeu16.to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[198, 18, 0, 1]);
    p[16..20].copy_from_slice(&[198, 18, 0, 2]);
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes());
    p[24..28].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = 0x10 | FIN_PSH | CWR;
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

#[cfg(test)]
/// Its descriptor: a partial checksum, pieces of `size` octets.
pub(crate) fn gso(len: usize, size: u16) -> PacketDesc {
    PacketDesc {
        len,
        checksum: ChecksumState::Partial {
            start: 20,
            offset: 16,
        },
        gso: Gso::Tcp {
            size,
            header_len: 40,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum_ok;

    #[test]
    fn cuts_as_tcp_gso_segment_does() {
        let p = super_v4(2500);
        let pieces = segment(&p, gso(p.len(), 1000)).expect("three pieces");
        assert_eq!(
            pieces.iter().map(Vec::len).collect::<Vec<_>>(),
            [1040, 1040, 540]
        );
        let mut data = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            assert!(checksum_ok(&[&piece[..20]]), "IPv4 header checksum");
            let pseudo = PseudoHeader::new(
                Ipv4Addr::new(198, 18, 0, 1).into(),
                Ipv4Addr::new(198, 18, 0, 2).into(),
                IpNumber::TCP,
            );
            assert!(pseudo.checksum_ok(&[&piece[20..]]), "TCP checksum");
            let len = u16::from_be_bytes([piece[2], piece[3]]);
            assert_eq!(usize::from(len), piece.len());
            let ident = u16::from_be_bytes([piece[4], piece[5]]);
            assert_eq!(
                ident,
                0xfffeu16.wrapping_add(i as u16),
                "identification wraps"
            );
            let seq = u32::from_be_bytes(piece[24..28].try_into().unwrap());
            assert_eq!(seq, 0xffff_fff0u32.wrapping_add(1000 * i as u32));
            let flags = piece[33];
            assert_eq!(flags & FIN_PSH != 0, i == 2, "FIN, PSH on the last only");
            assert_eq!(flags & CWR != 0, i == 0, "CWR on the first only");
            data.extend_from_slice(&piece[40..]);
        }
        assert_eq!(
            data,
            p[40..],
            "the payload, in order, nothing lost or added"
        );
    }

    #[test]
    fn ipv6_pieces_carry_their_payload_length() {
        let v4 = super_v4(3000);
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[6] = 6;
        p[7] = 64;
        p[8..24].copy_from_slice(&Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1).octets());
        p[24..40].copy_from_slice(&Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2).octets());
        p.extend_from_slice(&v4[20..]);
        let pieces = segment(&p, gso(p.len(), 1440)).expect("three pieces");
        assert_eq!(pieces.len(), 3);
        let pseudo = PseudoHeader::new(
            Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1).into(),
            Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2).into(),
            IpNumber::TCP,
        );
        for piece in &pieces {
            let plen = u16::from_be_bytes([piece[4], piece[5]]);
            assert_eq!(usize::from(plen), piece.len() - 40);
            assert!(pseudo.checksum_ok(&[&piece[40..]]));
        }
    }

    /// What is left of a super-segment after a loss goes back together as the sender's
    /// TSO would have made it: the run after the hole (pieces 2..5 of 5) is one
    /// super-segment whose own cut gives those pieces again.
    #[test]
    fn a_run_of_pieces_joins_into_a_super_segment() {
        let p = super_v4(5000);
        let pieces = segment(&p, gso(p.len(), 1000)).expect("five pieces");
        let run: Vec<&[u8]> = pieces[1..].iter().map(Vec::as_slice).collect();
        let (joined, desc) = join(&run, 1000);
        assert_eq!(joined.len(), 40 + 4000);
        assert!(checksum_ok(&[&joined[..20]]), "IPv4 header checksum");
        assert_eq!(
            u32::from_be_bytes(joined[24..28].try_into().unwrap()),
            0xffff_fff0u32.wrapping_add(1000)
        );
        assert_eq!(
            joined[33] & FIN_PSH,
            FIN_PSH,
            "FIN and PSH: the run ends the burst"
        );
        assert_eq!(joined[33] & CWR, 0, "CWR stayed with the first piece");
        assert_eq!(
            desc.checksum,
            ChecksumState::Partial {
                start: 20,
                offset: 16
            }
        );
        let again = segment(&joined, desc).expect("cut again");
        for (a, b) in again.iter().zip(&pieces[1..]) {
            assert_eq!(&a[20..], &b[20..], "the same TCP segments");
        }
        assert_eq!(again.len(), 4);
    }

    /// USO: an IPv4 UDP super-datagram becomes datagrams of `size` octets, each with its
    /// own length, identification and checksum.
    #[test]
    fn cuts_a_udp_super_datagram_into_datagrams() {
        let mut p = super_v4(2500);
        p[9] = 17;
        p.drain(28..40); // a UDP header is 8 octets where TCP's was 20
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        let desc = PacketDesc {
            gso: Gso::Udp {
                size: 1000,
                header_len: 28,
            },
            ..PacketDesc::plain(p.len())
        };
        let pieces = segment(&p, desc).expect("three datagrams");
        let pseudo = PseudoHeader::new(
            Ipv4Addr::new(198, 18, 0, 1).into(),
            Ipv4Addr::new(198, 18, 0, 2).into(),
            IpNumber::UDP,
        );
        let mut data = Vec::new();
        for (i, d) in pieces.iter().enumerate() {
            assert!(checksum_ok(&[&d[..20]]));
            assert_eq!(usize::from(u16::from_be_bytes([d[2], d[3]])), d.len());
            assert_eq!(
                usize::from(u16::from_be_bytes([d[24], d[25]])),
                d.len() - 20
            );
            assert!(
                pseudo.checksum_ok(&[&d[20..]]),
                "UDP checksum of datagram {i}"
            );
            assert_eq!(&d[20..24], &p[20..24], "the same ports");
            data.extend_from_slice(&d[28..]);
        }
        assert_eq!(data, p[28..]);
        assert_eq!(
            pieces.iter().map(Vec::len).collect::<Vec<_>>(),
            [1028, 1028, 528]
        );
    }

    #[test]
    fn what_is_not_a_super_segment_stays_whole() {
        let p = super_v4(2500);
        assert!(segment(&p, PacketDesc::plain(p.len())).is_none(), "no GSO");
        assert!(segment(&p, gso(p.len(), 2500)).is_none(), "one piece");
        assert!(segment(&p, gso(p.len(), 0)).is_none(), "size 0");
        let mut udp = p.clone();
        udp[9] = 17;
        assert!(segment(&udp, gso(p.len(), 1000)).is_none(), "not TCP");
        for cut in [0, 1, 10, 25, 39] {
            assert!(segment(&p[..cut], gso(cut, 1000)).is_none(), "{cut} octets");
        }
        let mut bad = p.clone();
        bad[32] = 15 << 4; // a TCP header of 60 octets
        let n = segment(&bad, gso(bad.len(), 1000)).map(|v| v.len());
        assert_eq!(n, Some(3), "2460 octets after a 60-octet TCP header");
        bad[0] = 0x4f; // IHL 60: the TCP header starts past the packet
        assert!(segment(&bad[..70], gso(70, 1)).is_none());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes under any descriptor (what a device could hand over): `segment`
        /// returns, never panics, and what it cuts holds the payload, in order, in pieces
        /// of at most `size` octets behind the same headers.
        #[test]
        fn segment_never_panics(
            packet in proptest::collection::vec(any::<u8>(), 0..400),
            size in 0u16..120,
            udp in any::<bool>(),
            v in 0u8..3,
        ) {
            let mut packet = packet;
            if let Some(b) = packet.first_mut() {
                // Steer half the cases to plausible versions and protocols.
                *b = match v { 0 => 0x45, 1 => 0x60, _ => *b };
            }
            if v == 0 && packet.len() > 9 { packet[9] = if udp { 17 } else { 6 }; }
            if v == 1 && packet.len() > 6 { packet[6] = if udp { 17 } else { 6 }; }
            let gso = if udp {
                Gso::Udp { size, header_len: 0 }
            } else {
                Gso::Tcp { size, header_len: 0 }
            };
            let desc = PacketDesc { gso, ..PacketDesc::plain(packet.len()) };
            if let Some(pieces) = segment(&packet, desc) {
                prop_assert!(pieces.len() >= 2);
                let hl = pieces[0].len() - pieces[0].len().min(usize::from(size));
                let data: Vec<u8> = pieces.iter().flat_map(|p| p[hl..].to_vec()).collect();
                prop_assert_eq!(&data[..], &packet[hl..]);
                for p in &pieces {
                    prop_assert!(p.len() - hl <= usize::from(size));
                }
            }
        }
    }
}
