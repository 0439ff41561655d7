//! What the TCP layer hands the network layer for each segment to send: a [`Transmit`].
//!
//! The TCP layer names the endpoints and the segment, and passes the payload where it lies
//! (the one or two slices of the send buffer it spans, see
//! [`Connection::poll_transmit_with`](crate::tcp::Connection::poll_transmit_with)), so the
//! emitter writes it straight into the output packet without a copy. The IP-level fields
//! ([`IpOptions`]) belong to the network layer; the TCP layer only carries them per socket.
//! One emitter per address family writes the datagram: IPv4 here, IPv6 beside it.

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
}

impl Transmit<'_> {
    /// Bytes of TCP header, options and payload.
    pub(crate) fn tcp_len(&self) -> usize {
        self.segment.wire_len() + self.payload[0].len() + self.payload[1].len()
    }

    /// Writes the segment as one IPv4 datagram from `src` to `dst` into `buf` (which must
    /// hold it) and returns its length.
    pub(crate) fn emit_ipv4(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ident: u16,
        buf: &mut [u8],
    ) -> usize {
        let out = Ipv4Out {
            src,
            dst,
            protocol: IpNumber::TCP,
            ttl: self.ip.ttl,
            dscp: self.ip.dscp,
            ident,
            // TCP sizes its segments to the MTU; DF as Linux does (RFC 1191).
            dont_fragment: true,
        };
        let h = out.emit_header(self.tcp_len(), buf);
        h + self.segment.emit_parts(
            PseudoHeader::tcp(src, dst),
            self.tuple.local.port(),
            self.tuple.remote.port(),
            self.payload,
            &mut buf[h..],
        )
    }

    /// Writes the segment as one IPv6 packet from `src` to `dst` into `buf` (which must hold
    /// it) and returns its length (RFC 8200 §3: no extension headers; the hop limit and the
    /// traffic class's DSCP bits come from the socket's [`IpOptions`]).
    pub(crate) fn emit_ipv6(&self, src: Ipv6Addr, dst: Ipv6Addr, buf: &mut [u8]) -> usize {
        let out = crate::wire::ipv6::Ipv6Out {
            src,
            dst,
            next_header: IpNumber::TCP,
            hop_limit: self.ip.ttl,
            dscp: self.ip.dscp,
            flow_label: 0,
        };
        let h = out.emit_header(self.tcp_len(), buf);
        h + self.segment.emit_parts(
            PseudoHeader::tcp(src, dst),
            self.tuple.local.port(),
            self.tuple.remote.port(),
            self.payload,
            &mut buf[h..],
        )
    }
}
