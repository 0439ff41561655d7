//! IPv4 datagrams (RFC 791): checked parsing, header emitting, fragmentation on output.

use super::DropReason;
use etherparse::{IpDscp, IpEcn, IpFragOffset, IpNumber, Ipv4Header, Ipv4HeaderSlice};
use std::net::Ipv4Addr;

/// Minimum IPv4 header length in octets (IHL 5; the only length we emit).
pub const HEADER_LEN: usize = 20;
/// Largest IPv4 datagram in octets (Total Length is a 16-bit field).
pub const MAX_DATAGRAM: usize = 65_535;
/// Default time to live for datagrams we originate (RFC 1700 / Linux default).
pub const DEFAULT_TTL: u8 = 64;

/// A checked view of one IPv4 datagram.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4View<'a> {
    header: Ipv4HeaderSlice<'a>,
    datagram: &'a [u8],
    payload: &'a [u8],
}

/// Checks an incoming datagram: version, header length, total length against the bytes
/// received, and the header checksum. Bytes past the total length (link padding) are ignored.
pub fn parse(packet: &[u8]) -> Result<Ipv4View<'_>, DropReason> {
    use etherparse::err::ipv4::{HeaderError, HeaderSliceError};
    if packet.is_empty() {
        return Err(DropReason::Ipv4Truncated);
    }
    match packet[0] >> 4 {
        4 => {}
        6 => return Err(DropReason::Ipv6NotSupported),
        _ => return Err(DropReason::Ipv4BadVersion),
    }
    let header = Ipv4HeaderSlice::from_slice(packet).map_err(|e| match e {
        HeaderSliceError::Len(_) => DropReason::Ipv4Truncated,
        HeaderSliceError::Content(HeaderError::UnexpectedVersion { .. }) => {
            DropReason::Ipv4BadVersion
        }
        HeaderSliceError::Content(HeaderError::HeaderLengthSmallerThanHeader { .. }) => {
            DropReason::Ipv4BadHeaderLength
        }
    })?;
    let header_len = header.slice().len();
    let total_len = usize::from(header.total_len());
    if total_len < header_len || total_len > packet.len() {
        return Err(DropReason::Ipv4BadTotalLength);
    }
    if !super::checksum_ok(&[header.slice()]) {
        return Err(DropReason::Ipv4BadChecksum);
    }
    Ok(Ipv4View {
        header,
        datagram: &packet[..total_len],
        payload: &packet[header_len..total_len],
    })
}

impl<'a> Ipv4View<'a> {
    /// RFC 791: Source Address.
    pub fn src(&self) -> Ipv4Addr {
        self.header.source_addr()
    }

    /// RFC 791: Destination Address.
    pub fn dst(&self) -> Ipv4Addr {
        self.header.destination_addr()
    }

    /// RFC 791: Protocol, the payload's upper-layer protocol (1 ICMP, 6 TCP, 17 UDP).
    pub fn protocol(&self) -> IpNumber {
        self.header.protocol()
    }

    /// RFC 791: Time to Live, in hops.
    pub fn ttl(&self) -> u8 {
        self.header.ttl()
    }

    /// RFC 791: Identification, shared by the fragments of one datagram.
    pub fn ident(&self) -> u16 {
        self.header.identification()
    }

    /// RFC 791: the MF flag (more fragments follow this one).
    pub fn more_fragments(&self) -> bool {
        self.header.more_fragments()
    }

    /// RFC 791: the DF flag (the sender forbids fragmentation).
    pub fn dont_fragment(&self) -> bool {
        self.header.dont_fragment()
    }

    /// RFC 791: Fragment Offset, converted from 8-octet units to bytes.
    pub fn fragment_offset(&self) -> usize {
        usize::from(self.header.fragments_offset().byte_offset())
    }

    /// True for any fragment of a larger datagram (offset > 0 or MF set).
    pub fn is_fragment(&self) -> bool {
        self.header.is_fragmenting_payload()
    }

    /// The header bytes, options included.
    pub fn header_bytes(&self) -> &'a [u8] {
        self.header.slice()
    }

    /// The datagram up to its total length (header and payload).
    pub fn datagram(&self) -> &'a [u8] {
        self.datagram
    }

    /// The bytes after the header, up to the total length.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// The fields of a datagram we originate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Out {
    /// RFC 791: Source Address (ours).
    pub src: Ipv4Addr,
    /// RFC 791: Destination Address.
    pub dst: Ipv4Addr,
    /// RFC 791: Protocol of the payload.
    pub protocol: IpNumber,
    /// RFC 791: Time to Live, in hops.
    pub ttl: u8,
    /// DiffServ code point (RFC 2474), 0..=63.
    pub dscp: u8,
    /// RFC 791: Identification; every fragment of the datagram carries it.
    pub ident: u16,
    /// RFC 791: the DF flag; when set, routers drop rather than fragment (RFC 1191).
    pub dont_fragment: bool,
}

impl Ipv4Out {
    fn header(&self, payload_len: usize, offset: usize, more_fragments: bool) -> Ipv4Header {
        let mut h = Ipv4Header::new(
            payload_len as u16,
            self.ttl,
            self.protocol,
            self.src.octets(),
            self.dst.octets(),
        )
        .expect("payload length checked by caller");
        h.identification = self.ident;
        h.dont_fragment = self.dont_fragment;
        h.more_fragments = more_fragments;
        h.fragment_offset = IpFragOffset::try_new((offset / 8) as u16).expect("offset below 65536");
        h.dscp = IpDscp::try_new(self.dscp & 0x3f).expect("masked to 6 bits");
        h.ecn = IpEcn::ZERO;
        h.header_checksum = h.calc_header_checksum();
        h
    }

    /// Writes a 20-byte header for a datagram carrying `payload_len` bytes unfragmented;
    /// returns the octets written.
    pub fn emit_header(&self, payload_len: usize, buf: &mut [u8]) -> usize {
        self.emit_fragment_header(payload_len, 0, false, buf)
    }

    /// Writes a 20-byte header for one fragment: `offset` in bytes (a multiple of 8),
    /// `more_fragments` the MF flag; returns the octets written.
    pub fn emit_fragment_header(
        &self,
        payload_len: usize,
        offset: usize,
        more_fragments: bool,
        buf: &mut [u8],
    ) -> usize {
        let bytes = self.header(payload_len, offset, more_fragments).to_bytes();
        buf[..bytes.len()].copy_from_slice(&bytes);
        bytes.len()
    }

    /// Splits `payload` into datagrams of at most `mtu` bytes (RFC 791 §3.2 fragmentation),
    /// calling `out` with each complete packet, built in `scratch`. Payloads that fit go out
    /// whole. Returns the number of packets produced.
    pub fn fragment(
        &self,
        payload: &[u8],
        mtu: usize,
        scratch: &mut Vec<u8>,
        mut out: impl FnMut(&[u8]),
    ) -> usize {
        assert!(
            payload.len() <= MAX_DATAGRAM - HEADER_LEN,
            "datagram too large"
        );
        let per_fragment = if payload.len() + HEADER_LEN <= mtu {
            payload.len().max(1)
        } else {
            // Every fragment but the last carries a multiple of 8 bytes.
            ((mtu - HEADER_LEN) / 8 * 8).max(8)
        };
        let mut offset = 0;
        let mut count = 0;
        loop {
            let end = (offset + per_fragment).min(payload.len());
            let more = end < payload.len();
            scratch.clear();
            scratch.resize(HEADER_LEN + end - offset, 0);
            self.emit_fragment_header(end - offset, offset, more, scratch);
            scratch[HEADER_LEN..].copy_from_slice(&payload[offset..end]);
            out(scratch);
            count += 1;
            offset = end;
            if !more {
                return count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out() -> Ipv4Out {
        Ipv4Out {
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: Ipv4Addr::new(198, 18, 0, 1),
            protocol: IpNumber::ICMP,
            ttl: DEFAULT_TTL,
            dscp: 0,
            ident: 0x1234,
            dont_fragment: false,
        }
    }

    fn packet(payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0; HEADER_LEN + payload.len()];
        out().emit_header(payload.len(), &mut v);
        v[HEADER_LEN..].copy_from_slice(payload);
        v
    }

    #[test]
    fn emit_then_parse_round_trips() {
        let p = packet(b"hello");
        let v = parse(&p).unwrap();
        assert_eq!(v.src(), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(v.dst(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(v.protocol(), IpNumber::ICMP);
        assert_eq!(v.ttl(), DEFAULT_TTL);
        assert_eq!(v.ident(), 0x1234);
        assert!(!v.is_fragment());
        assert_eq!(v.payload(), b"hello");
        assert_eq!(v.header_bytes().len(), HEADER_LEN);
        // etherparse agrees on the checksum.
        let (h, _) = Ipv4Header::from_slice(&p).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
    }

    #[test]
    fn trailing_padding_is_ignored() {
        let mut p = packet(b"abc");
        p.extend_from_slice(&[0; 10]);
        assert_eq!(parse(&p).unwrap().payload(), b"abc");
    }

    #[test]
    fn each_header_fault_has_its_reason() {
        let good = packet(b"data");
        assert_eq!(parse(&[]).unwrap_err(), DropReason::Ipv4Truncated);
        assert_eq!(parse(&good[..10]).unwrap_err(), DropReason::Ipv4Truncated);
        let mut p = good.clone();
        p[0] = 0x55;
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv4BadVersion);
        p[0] = 0x60;
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv6NotSupported);
        let mut p = good.clone();
        p[0] = 0x44;
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv4BadHeaderLength);
        let mut p = good.clone();
        p[0] = 0x4f; // 60-byte header claimed in a 24-byte packet
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv4Truncated);
        let mut p = good.clone();
        p[3] = 200; // total length past the end
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv4BadTotalLength);
        let mut p = good.clone();
        p[3] = 10; // total length inside the header
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv4BadTotalLength);
        let mut p = good;
        p[8] ^= 0x01; // TTL changed, checksum stale
        assert_eq!(parse(&p).unwrap_err(), DropReason::Ipv4BadChecksum);
    }

    #[test]
    fn fragments_cover_the_payload_in_multiples_of_eight() {
        let payload: Vec<u8> = (0..4008u32).map(|i| i as u8).collect();
        let mut scratch = Vec::new();
        let mut frags = Vec::new();
        let n = out().fragment(&payload, 1500, &mut scratch, |p| frags.push(p.to_vec()));
        assert_eq!(n, 3);
        let mut rebuilt = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 1500);
            let v = parse(f).unwrap();
            assert!(v.is_fragment());
            assert_eq!(v.fragment_offset(), rebuilt.len());
            assert_eq!(v.more_fragments(), i < 2);
            if v.more_fragments() {
                assert_eq!(v.payload().len() % 8, 0);
            }
            rebuilt.extend_from_slice(v.payload());
        }
        assert_eq!(rebuilt, payload);
        // A payload that fits goes out whole.
        let n = out().fragment(&payload[..1480], 1500, &mut scratch, |p| {
            assert!(!parse(p).unwrap().is_fragment())
        });
        assert_eq!(n, 1);
    }
}
