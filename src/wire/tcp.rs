//! A TCP segment apart from its wire bytes, and its conversion to and from the wire.
//!
//! [`Segment`] holds what RFC 9293 §3.3.1 calls the segment variables (SEG.SEQ, SEG.ACK,
//! SEG.WND, SEG.UP, the control bits), the options we understand, and the payload. Ports
//! and addresses are not part of it: the stack demultiplexes on them.
//!
//! # Notation
//! `Display` prints a segment the way RFC 9293 figures do, then the extras in a fixed order:
//!
//! ```text
//! <SEQ=100><ACK=301><CTL=SYN,ACK><WND=65535><MSS=1460><WS=7><SACKOK><TS=5,0><SACK=a-b,..><UP=3><DATA=5>
//! ```
//!
//! `<ACK=..>` appears only with the ACK bit, `<CTL=..>` only when some bit is set, options
//! only when present, `<UP=..>` only with URG, `<DATA=n>` only with a payload (n octets).
//!
//! # Parsing choices
//! - The checksum is always verified (MUST-3); the header is parsed by etherparse.
//! - Options are walked byte by byte by our own loop (etherparse's iterator stops at the
//!   first unknown kind, and MUST-6 wants those skipped): any alignment is accepted (MUST-64),
//!   everything after EOL is ignored (MUST-69), a known option whose length is wrong for its
//!   kind is skipped like an unknown one, and an option whose length is 0, 1 or runs past the
//!   end of the header makes the whole segment a [`DropReason::TcpBadOption`] drop (MUST-7:
//!   we drop and count rather than reset, so a forged segment cannot kill a connection).
//! - MSS is honoured only in SYN segments (MUST-65).

use std::fmt;

use bytes::Bytes;
use etherparse::{TcpHeader, TcpHeaderSlice, TcpOptions};

use super::{DropReason, PseudoHeader};

/// Length of a TCP header without options (RFC 9293 §3.1).
pub const HEADER_LEN: usize = 20;
use crate::tcp::seq::SeqNum;

/// The control bits of a segment (RFC 9293 §3.1), combined with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ctl(u8);

impl Ctl {
    /// No bit set.
    pub const NONE: Ctl = Ctl(0);
    /// RFC 9293 §3.1 FIN: no more data from the sender.
    pub const FIN: Ctl = Ctl(0x01);
    /// RFC 9293 §3.1 SYN: synchronize sequence numbers.
    pub const SYN: Ctl = Ctl(0x02);
    /// RFC 9293 §3.1 RST: reset the connection.
    pub const RST: Ctl = Ctl(0x04);
    /// RFC 9293 §3.1 PSH: push function.
    pub const PSH: Ctl = Ctl(0x08);
    /// RFC 9293 §3.1 ACK: the acknowledgment field is significant.
    pub const ACK: Ctl = Ctl(0x10);
    /// RFC 9293 §3.1 URG: the urgent pointer field is significant.
    pub const URG: Ctl = Ctl(0x20);

    /// Whether every bit of `other` is set in `self`.
    pub fn contains(self, other: Ctl) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets (`on`) or clears every bit of `other`.
    pub fn set(&mut self, other: Ctl, on: bool) {
        if on {
            self.0 |= other.0;
        } else {
            self.0 &= !other.0;
        }
    }

    /// The bits as they sit in the header's flags octet (FIN = 0x01 ... URG = 0x20).
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The bits of a header's flags octet; bits above URG (ECE, CWR) are dropped.
    pub fn from_bits(bits: u8) -> Ctl {
        Ctl(bits & 0x3f)
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parse one flag name as printed by `Display` (`SYN`, `ACK`, ...).
    pub fn from_name(name: &str) -> Option<Ctl> {
        Ctl::NAMES.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    const NAMES: [(Ctl, &'static str); 6] = [
        (Ctl::SYN, "SYN"),
        (Ctl::FIN, "FIN"),
        (Ctl::RST, "RST"),
        (Ctl::ACK, "ACK"),
        (Ctl::PSH, "PSH"),
        (Ctl::URG, "URG"),
    ];
}

impl std::ops::BitOr for Ctl {
    type Output = Ctl;
    fn bitor(self, rhs: Ctl) -> Ctl {
        Ctl(self.0 | rhs.0)
    }
}

impl fmt::Display for Ctl {
    /// RFC order: `SYN,ACK`, `FIN,ACK`, `RST,ACK`, then PSH and URG.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (c, name) in Ctl::NAMES {
            if self.contains(c) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Up to four SACK blocks `[left, right)` (RFC 2018 §3), without allocating.
#[derive(Clone, Copy, Debug, Default)]
pub struct SackBlocks {
    blocks: [(SeqNum, SeqNum); 4],
    len: u8,
}

/// Equal when the blocks held are: slots past `len` (left by `truncate`) do not count.
impl PartialEq for SackBlocks {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl SackBlocks {
    /// Appends the block `[left, right)`; `false` (and nothing added) when four are held.
    pub fn push(&mut self, left: SeqNum, right: SeqNum) -> bool {
        if usize::from(self.len) == self.blocks.len() {
            return false;
        }
        self.blocks[usize::from(self.len)] = (left, right);
        self.len += 1;
        true
    }

    /// The blocks in the order pushed; RFC 2018 §4 wants the most recent one first.
    pub fn as_slice(&self) -> &[(SeqNum, SeqNum)] {
        &self.blocks[..usize::from(self.len)]
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of blocks held, 0..=4.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Keep only the first `n` blocks.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n as u8);
    }
}

/// The TCP options we understand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Maximum segment size (RFC 9293 §3.7.1); only meaningful in a SYN.
    pub mss: Option<u16>,
    /// Window scale shift (RFC 7323 §2); only meaningful in a SYN.
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 §2); only meaningful in a SYN.
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018 §3).
    pub sack: SackBlocks,
    /// Timestamps (TSval, TSecr) (RFC 7323 §3).
    pub timestamps: Option<(u32, u32)>,
}

impl Options {
    /// Length of the encoded options, padded to a multiple of 4 (at most 40: SACK blocks
    /// that do not fit are left out).
    pub fn wire_len(&self) -> usize {
        let base = self.base_len();
        base + 4 * usize::from(self.sack_blocks_fitting(base) > 0)
            + 8 * self.sack_blocks_fitting(base)
    }

    fn base_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4; // NOP + 3
        }
        n + match (self.sack_permitted, self.timestamps.is_some()) {
            (_, true) => 12, // NOP NOP (or SACK-permitted) + 10
            (true, false) => 4,
            (false, false) => 0,
        }
    }

    fn sack_blocks_fitting(&self, base: usize) -> usize {
        self.sack.len().min(40usize.saturating_sub(base + 4) / 8)
    }

    /// Encode into `out` (at least `wire_len()` bytes), returning the length written.
    fn encode(&self, out: &mut [u8; 40]) -> usize {
        let mut i = 0;
        let mut put = |bytes: &[u8]| {
            out[i..i + bytes.len()].copy_from_slice(bytes);
            i += bytes.len();
        };
        if let Some(mss) = self.mss {
            let b = mss.to_be_bytes();
            put(&[2, 4, b[0], b[1]]);
        }
        if let Some(ws) = self.window_scale {
            put(&[1, 3, 3, ws]);
        }
        match (self.sack_permitted, self.timestamps) {
            (true, Some((val, ecr))) => {
                put(&[4, 2, 8, 10]);
                put(&val.to_be_bytes());
                put(&ecr.to_be_bytes());
            }
            (true, None) => put(&[1, 1, 4, 2]),
            (false, Some((val, ecr))) => {
                put(&[1, 1, 8, 10]);
                put(&val.to_be_bytes());
                put(&ecr.to_be_bytes());
            }
            (false, None) => {}
        }
        let n = self.sack_blocks_fitting(self.base_len());
        if n > 0 {
            put(&[1, 1, 5, 2 + 8 * n as u8]);
            for (l, r) in &self.sack.as_slice()[..n] {
                put(&l.0.to_be_bytes());
                put(&r.0.to_be_bytes());
            }
        }
        i
    }

    /// RFC 9293 §3.1/§3.2 option processing; see the module doc for the choices.
    fn decode(bytes: &[u8], syn: bool) -> Result<Options, DropReason> {
        let mut o = Options::default();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                0 => break, // EOL: the rest is padding (MUST-69)
                1 => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            // MUST-68: every other option has a length byte. MUST-7: illegal ones drop.
            let Some(&len) = bytes.get(i + 1) else {
                return Err(DropReason::TcpBadOption);
            };
            let len = usize::from(len);
            if len < 2 || i + len > bytes.len() {
                return Err(DropReason::TcpBadOption);
            }
            let body = &bytes[i + 2..i + len];
            match (bytes[i], len) {
                // MUST-65: MSS only in SYN segments.
                (2, 4) if syn => o.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                (3, 3) if syn => o.window_scale = Some(body[0]),
                (4, 2) if syn => o.sack_permitted = true,
                (5, n) if n >= 10 && (n - 2) % 8 == 0 => {
                    for b in body.chunks_exact(8) {
                        let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                        let r = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                        o.sack.push(SeqNum(l), SeqNum(r));
                    }
                }
                (8, 10) => {
                    let val = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    let ecr = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                    o.timestamps = Some((val, ecr));
                }
                _ => {} // MUST-6: unknown (or misplaced) options with a length are skipped
            }
            i += len;
        }
        Ok(o)
    }
}

/// A TCP segment apart from ports and wire encoding. The payload is owned ([`Bytes`]) by
/// default; input borrows it from the packet buffer instead ([`SegmentRef`]), so no
/// received segment is copied before the receive buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Segment<P = Bytes> {
    /// SEG.SEQ: the sequence number of the first octet (or of the SYN).
    pub seq: SeqNum,
    /// SEG.ACK: the next sequence number the sender expects (meaningful only with
    /// `Ctl::ACK`).
    pub ack: SeqNum,
    /// SEG.WND as carried on the wire (unscaled).
    pub wnd: u16,
    /// The control bits (URG, ACK, PSH, RST, SYN, FIN).
    pub ctl: Ctl,
    /// SEG.UP: the urgent pointer, an offset from SEG.SEQ (meaningful only with `Ctl::URG`).
    pub urgent: u16,
    /// The options we understand; others were skipped when parsing (MUST-6).
    pub options: Options,
    /// The data octets (SEG.LEN counts them, plus SYN and FIN).
    pub payload: P,
}

/// A segment whose payload borrows the packet it arrived in.
pub type SegmentRef<'a> = Segment<&'a [u8]>;

impl<P> Segment<P> {
    /// The same header fields and options with another payload.
    #[must_use]
    pub fn with_payload<Q>(&self, payload: Q) -> Segment<Q> {
        Segment {
            seq: self.seq,
            ack: self.ack,
            wnd: self.wnd,
            ctl: self.ctl,
            urgent: self.urgent,
            options: self.options,
            payload,
        }
    }
}

impl<P: AsRef<[u8]>> Segment<P> {
    /// The same segment with its payload borrowed.
    #[must_use]
    pub fn borrowed(&self) -> SegmentRef<'_> {
        self.with_payload(self.payload.as_ref())
    }

    /// Whether SYN is set.
    pub fn syn(&self) -> bool {
        self.ctl.contains(Ctl::SYN)
    }
    /// Whether FIN is set.
    pub fn fin(&self) -> bool {
        self.ctl.contains(Ctl::FIN)
    }
    /// Whether RST is set.
    pub fn rst(&self) -> bool {
        self.ctl.contains(Ctl::RST)
    }
    /// Whether ACK is set (SEG.ACK is meaningful).
    pub fn has_ack(&self) -> bool {
        self.ctl.contains(Ctl::ACK)
    }

    /// SEG.LEN: payload octets plus one each for SYN and FIN (RFC 9293 §3.4).
    pub fn seg_len(&self) -> u32 {
        self.payload.as_ref().len() as u32 + u32::from(self.syn()) + u32::from(self.fin())
    }

    /// Header (with options) plus payload length in bytes.
    pub fn wire_len(&self) -> usize {
        TcpHeader::MIN_LEN + self.options.wire_len() + self.payload.as_ref().len()
    }

    /// Write header, options and payload with the checksum (MUST-2) into `buf`, returning
    /// the number of bytes written.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Segment::wire_len`] or the segment exceeds 65535 bytes.
    pub fn emit(
        &self,
        pseudo: PseudoHeader,
        src_port: u16,
        dst_port: u16,
        buf: &mut [u8],
    ) -> usize {
        self.with_payload(&[][..]).emit_parts(
            pseudo,
            src_port,
            dst_port,
            [self.payload.as_ref(), &[]],
            buf,
        )
    }

    /// Like [`emit`](Self::emit) with the payload given as two parts (the segment's own
    /// payload must be empty): they are copied into `buf` behind the header and the
    /// checksum is computed there, so a payload split across a ring buffer is copied once.
    pub fn emit_parts(
        &self,
        pseudo: PseudoHeader,
        src_port: u16,
        dst_port: u16,
        parts: [&[u8]; 2],
        buf: &mut [u8],
    ) -> usize {
        self.write_parts(pseudo, src_port, dst_port, parts, buf, false)
    }

    /// Like [`emit_parts`](Self::emit_parts) for a device that completes the checksum
    /// (virtio `NEEDS_CSUM`): the checksum field holds only the pseudo-header sum over the
    /// whole segment's length, which is what the device (or the kernel's
    /// `tcp_gso_segment`, per piece) starts from. The data is not summed here.
    pub fn emit_parts_partial(
        &self,
        pseudo: PseudoHeader,
        src_port: u16,
        dst_port: u16,
        parts: [&[u8]; 2],
        buf: &mut [u8],
    ) -> usize {
        self.write_parts(pseudo, src_port, dst_port, parts, buf, true)
    }

    fn write_parts(
        &self,
        pseudo: PseudoHeader,
        src_port: u16,
        dst_port: u16,
        parts: [&[u8]; 2],
        buf: &mut [u8],
        partial: bool,
    ) -> usize {
        debug_assert!(self.payload.as_ref().is_empty());
        let mut opts = [0u8; 40];
        let olen = self.options.encode(&mut opts);
        let mut h = TcpHeader::new(src_port, dst_port, self.seq.0, self.wnd);
        h.acknowledgment_number = self.ack.0;
        h.fin = self.fin();
        h.syn = self.syn();
        h.rst = self.rst();
        h.psh = self.ctl.contains(Ctl::PSH);
        h.ack = self.has_ack();
        h.urg = self.ctl.contains(Ctl::URG);
        h.urgent_pointer = self.urgent;
        h.options = TcpOptions::try_from_slice(&opts[..olen]).expect("options fit in 40 bytes");
        let hlen = h.header_len();
        let [a, b] = parts;
        let total = hlen + a.len() + b.len();
        assert!(
            total <= usize::from(u16::MAX),
            "segment fits in 65535 bytes"
        );
        h.write(&mut &mut buf[..hlen])
            .expect("the header fits its own length");
        buf[hlen..hlen + a.len()].copy_from_slice(a);
        buf[hlen + a.len()..total].copy_from_slice(b);
        // MUST-2: the checksum over pseudo-header and segment, computed where it lies.
        let sum = if partial {
            pseudo.partial_checksum(total)
        } else {
            pseudo.checksum(&[&buf[..total]])
        };
        buf[16..18].copy_from_slice(&sum);
        total
    }
}

impl Segment {
    /// Parse and verify a TCP segment (`tcp` is the IPv4 payload) into an owned segment.
    /// Returns the source and destination ports and the segment.
    pub fn parse(pseudo: PseudoHeader, tcp: &[u8]) -> Result<(u16, u16, Segment), DropReason> {
        let (sport, dport, seg) = SegmentRef::parse_ref(pseudo, tcp)?;
        Ok((sport, dport, seg.to_owned_segment()))
    }
}

impl<'a> SegmentRef<'a> {
    /// Parse and verify a TCP segment (`tcp` is the IPv4 payload), borrowing the payload.
    pub fn parse_ref(
        pseudo: PseudoHeader,
        tcp: &'a [u8],
    ) -> Result<(u16, u16, SegmentRef<'a>), DropReason> {
        let header = TcpHeaderSlice::from_slice(tcp).map_err(|_| DropReason::TcpMalformed)?;
        let header_len = header.slice().len();
        let payload = &tcp[header_len..];
        // RFC 9293 §3.1: the receiver checks the checksum (MUST-3): pseudo-header and
        // segment, checksum field included, sum to all ones.
        if tcp.len() > usize::from(u16::MAX) {
            return Err(DropReason::TcpMalformed);
        }
        if !pseudo.checksum_ok(&[tcp]) {
            return Err(DropReason::TcpBadChecksum);
        }
        let mut ctl = Ctl::NONE;
        ctl.set(Ctl::FIN, header.fin());
        ctl.set(Ctl::SYN, header.syn());
        ctl.set(Ctl::RST, header.rst());
        ctl.set(Ctl::PSH, header.psh());
        ctl.set(Ctl::ACK, header.ack());
        ctl.set(Ctl::URG, header.urg());
        let options = Options::decode(header.options(), header.syn())?;
        let seg = Segment {
            seq: SeqNum(header.sequence_number()),
            ack: SeqNum(header.acknowledgment_number()),
            wnd: header.window_size(),
            ctl,
            urgent: header.urgent_pointer(),
            options,
            payload,
        };
        Ok((header.source_port(), header.destination_port(), seg))
    }

    /// The same segment owning a copy of its payload.
    #[must_use]
    pub fn to_owned_segment(&self) -> Segment {
        self.with_payload(Bytes::copy_from_slice(self.payload))
    }
}

impl<P: AsRef<[u8]>> fmt::Display for Segment<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<SEQ={}>", self.seq)?;
        if self.has_ack() {
            write!(f, "<ACK={}>", self.ack)?;
        }
        if !self.ctl.is_empty() {
            write!(f, "<CTL={}>", self.ctl)?;
        }
        write!(f, "<WND={}>", self.wnd)?;
        let o = &self.options;
        if let Some(m) = o.mss {
            write!(f, "<MSS={m}>")?;
        }
        if let Some(w) = o.window_scale {
            write!(f, "<WS={w}>")?;
        }
        if o.sack_permitted {
            f.write_str("<SACKOK>")?;
        }
        if let Some((v, e)) = o.timestamps {
            write!(f, "<TS={v},{e}>")?;
        }
        if !o.sack.is_empty() {
            f.write_str("<SACK=")?;
            for (i, (l, r)) in o.sack.as_slice().iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{l}-{r}")?;
            }
            f.write_str(">")?;
        }
        if self.ctl.contains(Ctl::URG) {
            write!(f, "<UP={}>", self.urgent)?;
        }
        if !self.payload.as_ref().is_empty() {
            write!(f, "<DATA={}>", self.payload.as_ref().len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    fn pseudo() -> PseudoHeader {
        PseudoHeader::tcp(A, B)
    }

    fn roundtrip(seg: &Segment) -> Segment {
        let mut buf = [0u8; 2000];
        let n = seg.emit(pseudo(), 1000, 80, &mut buf);
        assert_eq!(n, seg.wire_len());
        let (sp, dp, back) = Segment::parse(pseudo(), &buf[..n]).unwrap();
        assert_eq!((sp, dp), (1000, 80));
        back
    }

    /// The codec is the same for IPv6: only the pseudo-header differs (RFC 8200 §8.1).
    #[test]
    fn must_2_must_3_ipv6_pseudo_header() {
        let a6 = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
        let b6 = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
        let seg = Segment {
            seq: SeqNum(7),
            ctl: Ctl::SYN,
            payload: Bytes::from_static(b"six"),
            ..Segment::default()
        };
        let mut buf = [0u8; 100];
        let n = seg.emit(PseudoHeader::tcp(a6, b6), 1000, 80, &mut buf);
        let (_, _, back) = Segment::parse(PseudoHeader::tcp(a6, b6), &buf[..n]).unwrap();
        assert_eq!(back, seg);
        // The same bytes under the IPv4 pseudo-header, or another IPv6 source, fail.
        assert_eq!(
            Segment::parse(pseudo(), &buf[..n]).unwrap_err(),
            DropReason::TcpBadChecksum
        );
        assert_eq!(
            Segment::parse(PseudoHeader::tcp(b6, b6), &buf[..n]).unwrap_err(),
            DropReason::TcpBadChecksum
        );
    }

    #[test]
    fn must_2_must_3_checksum_roundtrip_and_corruption() {
        let mut seg = Segment {
            seq: SeqNum(u32::MAX - 3),
            ack: SeqNum(7),
            wnd: 1234,
            ctl: Ctl::SYN | Ctl::ACK,
            options: Options {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((1, 2)),
                ..Options::default()
            },
            payload: Bytes::from_static(b"hello"),
            ..Segment::default()
        };
        seg.options.sack.push(SeqNum(5), SeqNum(9));
        assert_eq!(roundtrip(&seg), seg);
        let mut buf = [0u8; 2000];
        let n = seg.emit(pseudo(), 1000, 80, &mut buf);
        for i in 0..n {
            let mut bad = buf;
            bad[i] ^= 0x10;
            assert!(
                Segment::parse(pseudo(), &bad[..n]).is_err(),
                "flip at {i} undetected"
            );
        }
    }

    fn with_options(opts: &[u8], syn: bool) -> Result<Segment, DropReason> {
        let mut h = TcpHeader::new(1, 2, 100, 10);
        h.syn = syn;
        let mut padded = opts.to_vec();
        while !padded.len().is_multiple_of(4) {
            padded.push(0);
        }
        h.options = TcpOptions::try_from_slice(&padded).unwrap();
        h.checksum = h
            .calc_checksum_ipv4_raw(A.octets(), B.octets(), &[])
            .unwrap();
        let bytes = h.to_bytes();
        Segment::parse(pseudo(), &bytes).map(|(_, _, s)| s)
    }

    #[test]
    fn must_64_must_6_unaligned_and_unknown_options() {
        // NOP, unknown kind 30 len 3, MSS unaligned, EOL then garbage (MUST-69)
        let s = with_options(&[1, 30, 3, 9, 2, 4, 5, 0xb4, 0, 2, 4, 0, 0], true).unwrap();
        assert_eq!(s.options.mss, Some(1460));
    }

    /// MUST-69: what follows the End-of-Option-List option is zero padding. We align every
    /// option with NOPs, so each header we emit (every combination of our options) is a
    /// walk of whole options to its last octet, with nothing but zeros after an EOL if one
    /// appears. Receiving, the octets after an EOL are padding, never options: here they
    /// would read as MSS = 16.
    #[test]
    fn must_69_only_zero_padding_after_eol() {
        for mask in 0..32u32 {
            let mut options = Options {
                mss: (mask & 1 != 0).then_some(1460),
                window_scale: (mask & 2 != 0).then_some(7),
                sack_permitted: mask & 4 != 0,
                timestamps: (mask & 8 != 0).then_some((1, 2)),
                ..Options::default()
            };
            if mask & 16 != 0 {
                options.sack.push(SeqNum(5), SeqNum(9));
            }
            let seg = Segment {
                ctl: Ctl::SYN,
                options,
                ..Segment::default()
            };
            let mut buf = [0u8; 100];
            let n = seg.emit(pseudo(), 1000, 80, &mut buf);
            let hlen = usize::from(buf[12] >> 4) * 4;
            assert_eq!(n, hlen);
            let opts = &buf[20..hlen];
            let mut i = 0;
            while i < opts.len() {
                match opts[i] {
                    0 => {
                        assert!(opts[i..].iter().all(|&b| b == 0), "{mask}: {opts:?}");
                        break;
                    }
                    1 => i += 1,
                    _ => {
                        let len = usize::from(opts[i + 1]);
                        assert!(len >= 2 && i + len <= opts.len(), "{mask}: {opts:?}");
                        i += len;
                    }
                }
            }
            assert_eq!(roundtrip(&seg), seg);
        }
        let s = with_options(&[2, 4, 5, 0xb4, 0, 2, 4, 0, 0x10], true).unwrap();
        assert_eq!(s.options.mss, Some(1460));
    }

    #[test]
    fn must_5_options_received_in_any_segment() {
        // timestamps and a SACK block on a plain ACK
        let opts = [
            1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2,
        ];
        let s = with_options(&opts, false).unwrap();
        assert_eq!(s.options.timestamps, Some((5, 6)));
        assert_eq!(s.options.sack.as_slice(), &[(SeqNum(1), SeqNum(2))]);
    }

    #[test]
    fn must_65_mss_ignored_outside_syn() {
        let s = with_options(&[2, 4, 5, 0xb4], false).unwrap();
        assert_eq!(s.options.mss, None);
    }

    #[test]
    fn must_7_must_68_illegal_option_length_is_a_drop() {
        for opts in [&[30u8, 0][..], &[30, 1], &[2, 8, 0, 0], &[1, 1, 1, 30]] {
            let e = with_options(opts, true).unwrap_err();
            assert_eq!(e, DropReason::TcpBadOption);
        }
    }

    #[test]
    fn must_4_eol_nop_mss_supported() {
        let s = with_options(&[1, 1, 2, 4, 0x02, 0x18, 0], true).unwrap();
        assert_eq!(s.options.mss, Some(536));
    }

    /// RFC 2018 §3: with other options present fewer than four SACK blocks fit in 40
    /// octets; emit keeps the first (most recent) ones and says so in `wire_len`.
    #[test]
    fn sack_blocks_that_do_not_fit_are_left_out() {
        let mut seg = Segment {
            options: Options {
                window_scale: Some(7),
                sack_permitted: true,
                ..Options::default()
            },
            ..Segment::default()
        };
        for i in 0..4 {
            seg.options.sack.push(SeqNum(100 * i), SeqNum(100 * i + 50));
        }
        // NOP+WS (4) + SACK-permitted (4) + NOP NOP kind len (4) leave room for 3 blocks.
        assert_eq!(seg.options.wire_len(), 36);
        let back = roundtrip(&seg);
        let mut expected = seg.options.sack;
        expected.truncate(3);
        assert_eq!(back.options.sack, expected);
        // Without the SYN-only options all four fit (RFC 2018 §3: 2 + 8n + padding).
        seg.options = Options {
            sack: seg.options.sack,
            ..Options::default()
        };
        assert_eq!(seg.options.wire_len(), 36);
        assert_eq!(roundtrip(&seg).options.sack.len(), 4);
    }

    #[test]
    fn display_in_rfc_notation() {
        let seg: Segment = Segment {
            seq: SeqNum(100),
            ack: SeqNum(301),
            ctl: Ctl::SYN | Ctl::ACK,
            wnd: 10,
            ..Segment::default()
        };
        assert_eq!(seg.to_string(), "<SEQ=100><ACK=301><CTL=SYN,ACK><WND=10>");
    }
}
