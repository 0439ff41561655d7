//! What the TCP layer hands the network layer for each segment to send: a [`Transmit`].
//!
//! The TCP layer names the endpoints and the segment, and passes the payload where it lies
//! (the one or two slices of the send buffer it spans, see
//! [`Connection::poll_transmit_with`](crate::tcp::Connection::poll_transmit_with)), so the
//! emitter writes it straight into the output packet without a copy. The IP-level fields
//! ([`IpOptions`]) belong to the network layer; the TCP layer only carries them per socket.
//! One emitter per address family writes the datagram: IPv4 here, IPv6 beside it.
//!
//! A super-segment (`gso_size` set: new data of several MSS for a device that segments,
//! see `tcp::Config::max_burst`) is written as one datagram longer than the MTU, never
//! fragmented, with the partial checksum and the [`PacketDesc`] the device needs (virtio
//! `NEEDS_CSUM` + `GSO_TCPV4/6`): the kernel's `tcp_gso_segment` then cuts it into the
//! segments the plain path would have sent.

use crate::link::{ChecksumState, Gso, PacketDesc};
use crate::tcp::{FourTuple, Segment};
use crate::wire::PseudoHeader;
use crate::wire::ipv4::Ipv4Out;
use etherparse::IpNumber;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Network-layer fields of a socket's datagrams (RFC 9293 MUST-48/49).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpOptions {
    /// Time to live (IPv4) or hop limit.
    pub(crate) ttl: u8,
    /// DiffServ code point (6 bits).
    pub(crate) dscp: u8,
}

/// One TCP segment ready for the network layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transmit<'a> {
    /// Endpoints, from our side: `local` is the source.
    pub(crate) tuple: FourTuple,
    /// Header fields and options; its own payload is empty.
    pub(crate) segment: &'a Segment,
    /// The payload, in at most two parts (the second often empty).
    pub(crate) payload: [&'a [u8]; 2],
    /// TTL and DSCP of the datagram.
    pub(crate) ip: IpOptions,
    /// A super-segment's payload per wire segment (see the module documentation).
    pub(crate) gso_size: Option<u16>,
}

impl Transmit<'_> {
    /// Bytes of TCP header, options and payload.
    pub(crate) fn tcp_len(&self) -> usize {
        self.segment.wire_len() + self.payload[0].len() + self.payload[1].len()
    }

    /// Wire segments this stands for: 1, or for a super-segment its payload cut into
    /// `gso_size` pieces (IPv4 takes as many identifications, as Linux's
    /// `ip_select_ident_segs` does).
    pub(crate) fn wire_segments(&self) -> u16 {
        let payload = self.payload[0].len() + self.payload[1].len();
        match self.gso_size {
            Some(size) => payload.div_ceil(usize::from(size)) as u16,
            None => 1,
        }
    }

    /// Writes the segment as one IPv4 datagram from `src` to `dst` into `buf` (which must
    /// hold it) and returns its descriptor.
    pub(crate) fn emit_ipv4(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ident: u16,
        buf: &mut [u8],
    ) -> PacketDesc {
        let out = Ipv4Out {
            src,
            dst,
            protocol: IpNumber::TCP,
            ttl: self.ip.ttl,
            dscp: self.ip.dscp,
            ident,
            // TCP sizes its segments to the MTU; DF as Linux does (RFC 1191). A
            // super-segment is split by the device, never fragmented.
            dont_fragment: true,
        };
        let h = out.emit_header(self.tcp_len(), buf);
        self.emit_tcp(PseudoHeader::tcp(src, dst), h, buf)
    }

    /// Writes the segment as one IPv6 packet from `src` to `dst` into `buf` (which must hold
    /// it) and returns its descriptor (RFC 8200 §3: no extension headers; the hop limit and
    /// the traffic class's DSCP bits come from the socket's [`IpOptions`]).
    pub(crate) fn emit_ipv6(&self, src: Ipv6Addr, dst: Ipv6Addr, buf: &mut [u8]) -> PacketDesc {
        let out = crate::wire::ipv6::Ipv6Out {
            src,
            dst,
            next_header: IpNumber::TCP,
            hop_limit: self.ip.ttl,
            dscp: self.ip.dscp,
            flow_label: 0,
        };
        let h = out.emit_header(self.tcp_len(), buf);
        self.emit_tcp(PseudoHeader::tcp(src, dst), h, buf)
    }

    /// The TCP segment behind an IP header of `h` octets: a plain segment with its
    /// checksum, or a super-segment with the partial one (the pseudo-header sum over its
    /// whole TCP length: `tcp_gso_segment` adjusts it per piece) and the GSO descriptor.
    fn emit_tcp(&self, pseudo: PseudoHeader, h: usize, buf: &mut [u8]) -> PacketDesc {
        let (src, dst) = (self.tuple.local.port(), self.tuple.remote.port());
        let Some(size) = self.gso_size else {
            let n = self
                .segment
                .emit_parts(pseudo, src, dst, self.payload, &mut buf[h..]);
            return PacketDesc::plain(h + n);
        };
        let n = self
            .segment
            .emit_parts_partial(pseudo, src, dst, self.payload, &mut buf[h..]);
        PacketDesc {
            len: h + n,
            checksum: ChecksumState::Partial {
                start: h as u16,
                offset: 16,
            },
            gso: Gso::Tcp {
                size,
                header_len: (h + self.segment.wire_len()) as u16,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::{Ctl, Options, SeqNum};
    use crate::wire::ipv4;
    use std::net::SocketAddr;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    fn segment() -> Segment {
        Segment {
            seq: SeqNum(0xffff_fff0),
            ack: SeqNum(7),
            ctl: Ctl::ACK | Ctl::PSH,
            wnd: 1000,
            options: Options {
                timestamps: Some((1, 2)),
                ..Options::default()
            },
            ..Segment::default()
        }
    }

    fn transmit<'a>(
        seg: &'a Segment,
        payload: [&'a [u8]; 2],
        gso_size: Option<u16>,
        v6: bool,
    ) -> Transmit<'a> {
        let (local, remote): (SocketAddr, SocketAddr) = if v6 {
            (
                "[2001:2::2]:9".parse().unwrap(),
                "[2001:2::1]:4000".parse().unwrap(),
            )
        } else {
            ((SRC, 9).into(), (DST, 4000).into())
        };
        Transmit {
            tuple: FourTuple { local, remote },
            segment: seg,
            payload,
            ip: IpOptions { ttl: 64, dscp: 0 },
            gso_size,
        }
    }

    /// A super-segment over IPv4: one datagram with the whole length, DF, its header
    /// checksum over that header, the partial TCP checksum (pseudo-header over the whole TCP
    /// length), and the descriptor the device needs; as many identifications as pieces.
    #[test]
    fn ipv4_super_segment_and_its_descriptor() {
        let seg = segment();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let t = transmit(&seg, [&data[..6000], &data[6000..]], Some(1448), false);
        assert_eq!(t.wire_segments(), 7);
        let mut buf = vec![0u8; 65_535];
        let desc = t.emit_ipv4(SRC, DST, 41, &mut buf);
        let tcp_len = 32 + data.len();
        assert_eq!(desc.len, 20 + tcp_len);
        assert_eq!(
            desc.checksum,
            ChecksumState::Partial {
                start: 20,
                offset: 16
            }
        );
        assert_eq!(
            desc.gso,
            Gso::Tcp {
                size: 1448,
                header_len: 52
            }
        );
        let ip = ipv4::parse(&buf[..desc.len]).expect("a valid IPv4 header");
        assert!(ip.dont_fragment());
        assert_eq!(ip.ident(), 41);
        assert_eq!(ip.payload().len(), tcp_len);
        let pseudo = PseudoHeader::tcp(SRC, DST);
        let partial = pseudo.partial_checksum(tcp_len);
        assert_eq!(buf[36..38], partial);
        assert_eq!(
            !u16::from_be_bytes(partial),
            u16::from_be_bytes(pseudo.checksum(&[&vec![0u8; tcp_len]])),
            "the partial sum is the complement of an all-zero segment's checksum"
        );
        assert_eq!(&buf[52..desc.len], &data[..], "the payload in place");
        // Completed as the device does, it is the checksum the plain path would write.
        let mut done = buf[..desc.len].to_vec();
        crate::link::complete_checksum(&mut done, 20, 16);
        let mut plain = vec![0u8; 65_535];
        let n = transmit(&seg, [&data, &[]], None, false)
            .emit_ipv4(SRC, DST, 41, &mut plain)
            .len;
        assert_eq!(done, plain[..n]);
    }

    /// Over IPv6 the payload length covers the whole super-segment; the checksum starts at
    /// 40.
    #[test]
    fn ipv6_super_segment_and_its_descriptor() {
        let seg = segment();
        let data = vec![0xa5u8; 3000];
        let t = transmit(&seg, [&data, &[]], Some(1428), true);
        let (src, dst) = ("2001:2::2".parse().unwrap(), "2001:2::1".parse().unwrap());
        let mut buf = vec![0u8; 65_535];
        let desc = t.emit_ipv6(src, dst, &mut buf);
        assert_eq!(desc.len, 40 + 32 + 3000);
        assert_eq!(u16::from_be_bytes([buf[4], buf[5]]), 32 + 3000);
        assert_eq!(
            desc.checksum,
            ChecksumState::Partial {
                start: 40,
                offset: 16
            }
        );
        assert_eq!(
            desc.gso,
            Gso::Tcp {
                size: 1428,
                header_len: 72
            }
        );
        assert_eq!(
            buf[56..58],
            PseudoHeader::tcp(src, dst).partial_checksum(32 + 3000)
        );
    }

    /// A plain segment's descriptor is plain, its checksum complete.
    #[test]
    fn plain_segment_has_a_plain_descriptor() {
        let seg = segment();
        let data = vec![1u8; 1448];
        let t = transmit(&seg, [&data, &[]], None, false);
        assert_eq!(t.wire_segments(), 1);
        let mut buf = vec![0u8; 1500];
        let desc = t.emit_ipv4(SRC, DST, 1, &mut buf);
        assert_eq!(desc, PacketDesc::plain(1500));
        assert!(PseudoHeader::tcp(SRC, DST).checksum_ok(&[&buf[20..1500]]));
    }
}
