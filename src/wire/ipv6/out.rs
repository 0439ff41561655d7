//! IPv6 output (RFC 8200 §3, §4.5): the fixed header of a packet we originate and, when it
//! exceeds the MTU, its fragments.

use super::{FRAGMENT_HEADER_LEN, HEADER_LEN, MAX_PAYLOAD};
use etherparse::{IpFragOffset, IpNumber, Ipv6FlowLabel, Ipv6FragmentHeader, Ipv6Header};
use std::net::Ipv6Addr;

/// The fields of a packet we originate (no extension headers but a Fragment header when
/// fragmenting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Out {
    /// RFC 8200 §3: Source Address (ours).
    pub src: Ipv6Addr,
    /// RFC 8200 §3: Destination Address.
    pub dst: Ipv6Addr,
    /// RFC 8200 §3: Next Header, the upper-layer protocol of the payload.
    pub next_header: IpNumber,
    /// RFC 8200 §3: Hop Limit.
    pub hop_limit: u8,
    /// DiffServ code point (RFC 2474), 0..=63: the high six bits of the Traffic Class (ECN
    /// left zero).
    pub dscp: u8,
    /// RFC 6437: Flow Label, 20 bits (0 when we do not label flows).
    pub flow_label: u32,
}

impl Ipv6Out {
    fn header(&self, next_header: IpNumber, payload_len: usize) -> Ipv6Header {
        assert!(payload_len <= MAX_PAYLOAD, "IPv6 payload too large");
        Ipv6Header {
            traffic_class: (self.dscp & 0x3f) << 2,
            flow_label: Ipv6FlowLabel::try_new(self.flow_label & Ipv6FlowLabel::MAX_U32)
                .expect("masked to 20 bits"),
            payload_length: payload_len as u16,
            next_header,
            hop_limit: self.hop_limit,
            source: self.src.octets(),
            destination: self.dst.octets(),
        }
    }

    /// Writes the 40-octet header of a packet carrying `payload_len` bytes unfragmented;
    /// returns the octets written.
    pub fn emit_header(&self, payload_len: usize, buf: &mut [u8]) -> usize {
        let bytes = self.header(self.next_header, payload_len).to_bytes();
        buf[..HEADER_LEN].copy_from_slice(&bytes);
        HEADER_LEN
    }

    /// Writes the fixed header and a Fragment header (48 octets) for one fragment carrying
    /// `data_len` bytes of the fragmentable part at byte `offset` (a multiple of 8), `more`
    /// the M flag, `ident` the Identification; returns the octets written.
    pub fn emit_fragment_headers(
        &self,
        data_len: usize,
        offset: usize,
        more: bool,
        ident: u32,
        buf: &mut [u8],
    ) -> usize {
        debug_assert!(
            offset.is_multiple_of(8),
            "fragment offsets are in 8-octet units"
        );
        let fixed = self
            .header(
                IpNumber::IPV6_FRAGMENTATION_HEADER,
                FRAGMENT_HEADER_LEN + data_len,
            )
            .to_bytes();
        let fragment = Ipv6FragmentHeader::new(
            self.next_header,
            IpFragOffset::try_new((offset / 8) as u16).expect("offset below 65536"),
            more,
            ident,
        )
        .to_bytes();
        buf[..HEADER_LEN].copy_from_slice(&fixed);
        buf[HEADER_LEN..HEADER_LEN + FRAGMENT_HEADER_LEN].copy_from_slice(&fragment);
        HEADER_LEN + FRAGMENT_HEADER_LEN
    }

    /// Sends `payload` in packets of at most `mtu` octets (RFC 8200 §4.5 fragmentation),
    /// calling `out` with each complete packet, built in `scratch`. A payload that fits goes
    /// out whole without a Fragment header; otherwise every fragment carries a Fragment header
    /// with `ident` (the caller's, unpredictable per RFC 7739) and all but the last carry a
    /// multiple of 8 octets. Returns the number of packets produced.
    pub fn fragment(
        &self,
        payload: &[u8],
        mtu: usize,
        ident: u32,
        scratch: &mut Vec<u8>,
        mut out: impl FnMut(&[u8]),
    ) -> usize {
        assert!(payload.len() <= MAX_PAYLOAD, "packet too large");
        if HEADER_LEN + payload.len() <= mtu {
            scratch.clear();
            scratch.resize(HEADER_LEN + payload.len(), 0);
            self.emit_header(payload.len(), scratch);
            scratch[HEADER_LEN..].copy_from_slice(payload);
            out(scratch);
            return 1;
        }
        let prefix = HEADER_LEN + FRAGMENT_HEADER_LEN;
        let per_fragment = (mtu.saturating_sub(prefix) / 8 * 8).max(8);
        let mut offset = 0;
        let mut count = 0;
        loop {
            let end = (offset + per_fragment).min(payload.len());
            let more = end < payload.len();
            scratch.clear();
            scratch.resize(prefix + end - offset, 0);
            self.emit_fragment_headers(end - offset, offset, more, ident, scratch);
            scratch[prefix..].copy_from_slice(&payload[offset..end]);
            out(scratch);
            count += 1;
            offset = end;
            if !more {
                return count;
            }
        }
    }
}
