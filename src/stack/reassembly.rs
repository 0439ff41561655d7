//! Fragment reassembly with bounded memory: IPv4 (RFC 791 §3.2, RFC 815) and IPv6 (RFC 8200
//! §4.5), one mechanism for both.
//!
//! Fragments are kept per original datagram, keyed by (source, destination, protocol,
//! 16-bit identification) for IPv4 and (source, destination, 32-bit identification) for IPv6,
//! as a sorted list of byte ranges. Memory is bounded three ways, the first two shared by both
//! families: the number of datagrams in flight, the bytes held (each fragment is charged its
//! length plus a fixed overhead, so a flood of tiny fragments hits the bound as fast as big
//! ones; an IPv6 first fragment also its per-fragment headers), and a timeout after which a
//! partial datagram is discarded: the configured one for IPv4, 60 s for IPv6 (RFC 8200 §4.5).
//!
//! Overlaps: an exact duplicate of a fragment already held is ignored; any other overlap
//! discards the whole datagram, as Linux does since 2018 (and as RFC 5722 requires for IPv6),
//! because overlapping fragments are only ever sent to evade filters. RFC 5722 discards the
//! fragments "not yet received" too: an IPv6 datagram is remembered, without its bytes, until
//! its timeout, and later fragments of it are dropped.
//!
//! IPv6 timeouts: when the first fragment of an expired datagram had arrived, the source
//! should get a Time Exceeded code 1 quoting it (RFC 8200 §4.5). [`Reassembler::handle_timeout`]
//! keeps those quotes, a bounded few, for [`Reassembler::poll_time_exceeded`].

use crate::time::{Duration, Instant};
use crate::wire::DropReason;
use crate::wire::icmpv6::MAX_QUOTE;
use crate::wire::ipv4::{self, HEADER_LEN, Ipv4View, MAX_DATAGRAM};
use crate::wire::ipv6::{self, FRAGMENT_HEADER_LEN, Fragment, Ipv6View};
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Limits on reassembly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Partial datagrams held at once, both families together.
    pub max_datagrams: usize,
    /// Bytes held across all partial datagrams (fragment bytes plus per-fragment overhead),
    /// both families together.
    pub max_bytes: usize,
    /// IPv4 reassembly timeout: RFC 791 suggests 15 s as a lower bound; Linux and we use 30 s.
    /// IPv6 always uses 60 s (RFC 8200 §4.5).
    pub timeout: Duration,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_datagrams: 64,
            max_bytes: 4 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Charged per fragment on top of its bytes.
const FRAGMENT_OVERHEAD: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        ident: u16,
    },
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ident: u32,
    },
}

struct Partial {
    /// The first fragment's headers (offset 0), once it has arrived: the IPv4 header, or the
    /// IPv6 per-fragment headers followed by the Fragment header.
    header: Option<Vec<u8>>,
    /// IPv6: where in `header` the Next Header field naming the Fragment header is.
    next_header_at: usize,
    /// (offset, bytes), sorted by offset, never overlapping.
    fragments: Vec<(usize, Vec<u8>)>,
    /// Payload length, known once the last fragment (MF = 0) has arrived.
    total: Option<usize>,
    charged: usize,
    expires_at: Instant,
    /// RFC 5722 (IPv6): discarded for an overlap; kept without bytes until `expires_at` so
    /// that later fragments are dropped too.
    discarded: bool,
}

impl Partial {
    fn received(&self) -> usize {
        self.fragments.iter().map(|(_, b)| b.len()).sum()
    }

    fn highest_end(&self) -> usize {
        self.fragments.last().map_or(0, |(o, b)| o + b.len())
    }
}

/// One fragment, its family aside.
struct Piece<'a> {
    /// Byte offset in the fragmentable part.
    offset: usize,
    data: &'a [u8],
    /// No more fragments follow (MF or M clear).
    last: bool,
    /// The headers to keep when this is the first fragment (see [`Partial::header`]).
    header: &'a [u8],
    /// IPv6: see [`Partial::next_header_at`].
    next_header_at: usize,
}

/// What happened to a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembled {
    /// Held; the datagram is not complete yet.
    Pending,
    /// The datagram is complete: a whole packet of the fragment's family, unfragmented (an
    /// IPv6 packet keeps the first fragment's per-fragment headers, its Fragment header
    /// removed).
    Complete(Vec<u8>),
    /// The fragment (and possibly its datagram) was dropped.
    Dropped(DropReason),
}

/// The first fragment of an IPv6 packet whose reassembly timed out: RFC 8200 §4.5 says `src`
/// should get an ICMPv6 Time Exceeded, code 1 (fragment reassembly time exceeded), quoting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredFirstFragment {
    /// The fragment's source: where the error goes.
    pub src: Ipv6Addr,
    /// The fragment's destination (ours, or a group we joined).
    pub dst: Ipv6Addr,
    /// The first fragment as received (fixed header first), cut to what an error quotes
    /// ([`MAX_QUOTE`] octets).
    pub quote: Vec<u8>,
}

/// The reassembly buffer.
pub struct Reassembler {
    config: ReassemblyConfig,
    partials: HashMap<Key, Partial>,
    bytes: usize,
    time_exceeded: VecDeque<ExpiredFirstFragment>,
}

impl Reassembler {
    /// RFC 8200 §4.5: "If insufficient fragments are received to complete reassembly of a
    /// packet within 60 seconds of the reception of the first-arriving fragment of that
    /// packet, reassembly of that packet must be abandoned".
    pub const IPV6_TIMEOUT: Duration = Duration::from_secs(60);

    /// Time Exceeded quotes kept for [`Reassembler::poll_time_exceeded`]; more expiring at
    /// once are not answered (the stack rate-limits its ICMPv6 errors anyway).
    pub const MAX_TIME_EXCEEDED: usize = 16;

    /// An empty reassembler with the given limits.
    #[must_use]
    pub fn new(config: ReassemblyConfig) -> Reassembler {
        Reassembler {
            config,
            partials: HashMap::new(),
            bytes: 0,
            time_exceeded: VecDeque::new(),
        }
    }

    /// Datagrams being reassembled (IPv6 ones discarded for an overlap included, until they
    /// expire).
    pub fn in_flight(&self) -> usize {
        self.partials.len()
    }

    /// Bytes charged against the memory bound.
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    /// The next partial datagram to expire.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.partials.values().map(|p| p.expires_at).min()
    }

    /// Discards partial datagrams whose timeout has passed; returns how many (not counting
    /// IPv6 datagrams already discarded for an overlap). Expired IPv6 datagrams whose first
    /// fragment had arrived leave a quote for [`Reassembler::poll_time_exceeded`].
    pub fn handle_timeout(&mut self, now: Instant) -> usize {
        let mut expired = 0;
        let mut quotes = Vec::new();
        let bytes = &mut self.bytes;
        self.partials.retain(|key, p| {
            let keep = p.expires_at > now;
            if !keep {
                *bytes -= p.charged;
                if !p.discarded {
                    expired += 1;
                }
                if let (Key::V6 { src, dst, .. }, Some(header)) = (key, &p.header) {
                    quotes.push((
                        p.expires_at,
                        *key,
                        *src,
                        *dst,
                        first_fragment_quote(header, p),
                    ));
                }
            }
            keep
        });
        // The map's order is random; the quotes go out in a replayable one.
        quotes.sort_unstable_by_key(|&(at, key, ..)| (at, key));
        for (_, _, src, dst, quote) in quotes {
            if self.time_exceeded.len() < Self::MAX_TIME_EXCEEDED {
                self.time_exceeded
                    .push_back(ExpiredFirstFragment { src, dst, quote });
            }
        }
        expired
    }

    /// The next IPv6 first fragment whose reassembly timed out, to answer with a Time Exceeded
    /// code 1 (after [`crate::wire::icmpv6::may_send_error`] and the rate limit). At most
    /// [`Self::MAX_TIME_EXCEEDED`] wait; drain them after each [`Reassembler::handle_timeout`].
    pub fn poll_time_exceeded(&mut self) -> Option<ExpiredFirstFragment> {
        self.time_exceeded.pop_front()
    }

    fn discard(&mut self, key: &Key) {
        if let Some(p) = self.partials.remove(key) {
            self.bytes -= p.charged;
        }
    }

    /// RFC 5722: drops what an IPv6 datagram holds but remembers it until it expires.
    fn discard_remembering(&mut self, key: &Key) {
        if let Some(p) = self.partials.get_mut(key) {
            self.bytes -= p.charged;
            *p = Partial {
                header: None,
                next_header_at: 0,
                fragments: Vec::new(),
                total: None,
                charged: 0,
                expires_at: p.expires_at,
                discarded: true,
            };
        }
    }

    /// Adds one IPv4 fragment (a datagram with MF set or a non-zero offset).
    pub fn insert(&mut self, now: Instant, frag: &Ipv4View<'_>) -> Reassembled {
        let offset = frag.fragment_offset();
        let data = frag.payload();
        let end = offset + data.len();
        let last = !frag.more_fragments();
        let header_len = frag.header_bytes().len();
        // RFC 791: every fragment but the last carries a multiple of 8 bytes, and none is
        // empty unless it is the last of a datagram whose length is a multiple of 8.
        if (!last && (data.is_empty() || !data.len().is_multiple_of(8))) || (last && offset == 0) {
            return Reassembled::Dropped(DropReason::FragmentBad);
        }
        if header_len + end > MAX_DATAGRAM {
            return Reassembled::Dropped(DropReason::FragmentOversized);
        }
        let key = Key::V4 {
            src: frag.src(),
            dst: frag.dst(),
            protocol: frag.protocol().0,
            ident: frag.ident(),
        };
        let piece = Piece {
            offset,
            data,
            last,
            header: frag.header_bytes(),
            next_header_at: 0,
        };
        self.add(now, key, self.config.timeout, piece)
    }

    /// Adds one IPv6 fragment: `packet` and the [`Fragment`] that [`ipv6::walk`] found in it
    /// (never an atomic fragment: the walk delivers those whole, RFC 6946). The walk has
    /// already refused, with a Parameter Problem, a bad length, an oversized result and an
    /// incomplete first fragment (RFC 8200 §4.5, RFC 7112).
    pub fn insert_ipv6(
        &mut self,
        now: Instant,
        packet: &Ipv6View<'_>,
        frag: &Fragment,
    ) -> Reassembled {
        let bytes = packet.packet();
        let data_at = frag.header_at + FRAGMENT_HEADER_LEN;
        let (offset, last) = (frag.offset, !frag.more);
        let data = match bytes.get(data_at..) {
            Some(data)
                if frag.header_at >= ipv6::HEADER_LEN && frag.next_header_at < frag.header_at =>
            {
                data
            }
            _ => return Reassembled::Dropped(DropReason::FragmentBad),
        };
        // The walk's checks again, for a caller that did not walk: a non-final fragment is a
        // non-empty multiple of 8 octets, and an atomic fragment is no fragment.
        if (!last && (data.is_empty() || !data.len().is_multiple_of(8))) || (last && offset == 0) {
            return Reassembled::Dropped(DropReason::FragmentBad);
        }
        if frag.header_at - ipv6::HEADER_LEN + offset + data.len() > ipv6::MAX_PAYLOAD {
            return Reassembled::Dropped(DropReason::FragmentOversized);
        }
        let key = Key::V6 {
            src: packet.src(),
            dst: packet.dst(),
            ident: frag.ident,
        };
        let piece = Piece {
            offset,
            data,
            last,
            header: &bytes[..data_at],
            next_header_at: frag.next_header_at,
        };
        self.add(now, key, Self::IPV6_TIMEOUT, piece)
    }

    fn add(&mut self, now: Instant, key: Key, timeout: Duration, piece: Piece<'_>) -> Reassembled {
        let Piece {
            offset, data, last, ..
        } = piece;
        let end = offset + data.len();
        let ipv6 = matches!(key, Key::V6 { .. });
        if self.partials.get(&key).is_some_and(|p| p.discarded) {
            return Reassembled::Dropped(DropReason::Fragment6AfterOverlap);
        }
        // An IPv6 first fragment's per-fragment headers may be long; they are kept, so charged.
        let kept_header = if ipv6 && offset == 0 {
            piece.header.len()
        } else {
            0
        };
        let cost = data.len() + FRAGMENT_OVERHEAD + kept_header;
        let is_new = !self.partials.contains_key(&key);
        if (is_new && self.partials.len() >= self.config.max_datagrams)
            || self.bytes + cost > self.config.max_bytes
        {
            return Reassembled::Dropped(DropReason::FragmentNoMemory);
        }
        let partial = self.partials.entry(key).or_insert_with(|| Partial {
            header: None,
            next_header_at: 0,
            fragments: Vec::new(),
            total: None,
            charged: 0,
            expires_at: now + timeout,
            discarded: false,
        });

        // Where the new range goes, and whether it collides with a neighbour.
        let i = partial.fragments.partition_point(|(o, _)| *o < offset);
        if let Some((o, b)) = partial.fragments.get(i)
            && *o == offset
            && b.as_slice() == data
        {
            return Reassembled::Dropped(DropReason::FragmentDuplicate);
        }
        let overlaps_next = partial.fragments.get(i).is_some_and(|(o, _)| *o < end);
        let overlaps_prev = i > 0 && {
            let (o, b) = &partial.fragments[i - 1];
            o + b.len() > offset
        };
        let beyond_total = partial.total.is_some_and(|t| end > t || (last && end != t));
        let last_too_short = last && end < partial.highest_end();
        if overlaps_next || overlaps_prev || beyond_total || last_too_short {
            let reason = if beyond_total || last_too_short {
                DropReason::FragmentBad
            } else {
                DropReason::FragmentOverlap
            };
            if ipv6 && reason == DropReason::FragmentOverlap {
                // RFC 5722: "the entire datagram (and any constituent fragments, including
                // those not yet received) MUST be silently discarded."
                self.discard_remembering(&key);
            } else {
                self.discard(&key);
            }
            return Reassembled::Dropped(reason);
        }

        partial.fragments.insert(i, (offset, data.to_vec()));
        partial.charged += cost;
        self.bytes += cost;
        if offset == 0 {
            partial.header = Some(piece.header.to_vec());
            partial.next_header_at = piece.next_header_at;
        }
        if last {
            partial.total = Some(end);
        }
        match (partial.total, &partial.header) {
            (Some(total), Some(_)) if partial.received() == total => {}
            _ => return Reassembled::Pending,
        }

        let partial = self.partials.remove(&key).expect("present");
        self.bytes -= partial.charged;
        if ipv6 {
            return match assemble_ipv6(partial) {
                Some(packet) => Reassembled::Complete(packet),
                None => Reassembled::Dropped(DropReason::FragmentOversized),
            };
        }
        let header = partial.header.expect("checked");
        let total = partial.total.expect("checked");
        let mut datagram = Vec::with_capacity(header.len() + total);
        datagram.extend_from_slice(&header);
        for (_, bytes) in &partial.fragments {
            datagram.extend_from_slice(bytes);
        }
        rewrite_unfragmented(&mut datagram);
        Reassembled::Complete(datagram)
    }
}

/// Fixes up the first fragment's header for the whole datagram: total length, no MF, offset
/// zero, fresh checksum.
fn rewrite_unfragmented(datagram: &mut [u8]) {
    let total = datagram.len() as u16;
    datagram[2..4].copy_from_slice(&total.to_be_bytes());
    datagram[6] &= 0x40; // keep DF, clear MF and the offset's high bits
    datagram[7] = 0;
    datagram[10..12].copy_from_slice(&[0, 0]);
    let header_len = usize::from(datagram[0] & 0x0f) * 4;
    let sum = crate::wire::internet_checksum(&[&datagram[..header_len]]);
    datagram[10..12].copy_from_slice(&sum);
    debug_assert!(ipv4::parse(datagram).is_ok() && header_len >= HEADER_LEN);
}

/// RFC 8200 §4.5: the original packet from a complete set of fragments: the first fragment's
/// per-fragment headers, the Fragment header removed, then the fragments' data in order.
/// `None` when the first fragment's headers make it longer than a Payload Length can say.
fn assemble_ipv6(partial: Partial) -> Option<Vec<u8>> {
    let header = partial.header.expect("checked");
    let total = partial.total.expect("checked");
    let fragment_at = header.len() - FRAGMENT_HEADER_LEN;
    // "The Payload Length of the reassembled packet is computed from the length of the
    // Per-Fragment headers and the length and offset of the last fragment."
    let payload_len = fragment_at - ipv6::HEADER_LEN + total;
    if payload_len > ipv6::MAX_PAYLOAD {
        return None;
    }
    let mut packet = Vec::with_capacity(fragment_at + total);
    packet.extend_from_slice(&header[..fragment_at]);
    // "The Next Header field of the last header of the Per-Fragment headers is obtained from
    // the Next Header field of the first fragment's Fragment header."
    packet[partial.next_header_at] = header[fragment_at];
    packet[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    for (_, bytes) in &partial.fragments {
        packet.extend_from_slice(bytes);
    }
    debug_assert!(ipv6::parse(&packet).is_ok());
    Some(packet)
}

/// What a Time Exceeded quotes of an expired IPv6 datagram: its first fragment as received
/// (per-fragment headers, Fragment header, data), cut to [`MAX_QUOTE`].
fn first_fragment_quote(header: &[u8], partial: &Partial) -> Vec<u8> {
    let first = partial
        .fragments
        .first()
        .map_or(&[][..], |(_, b)| b.as_slice());
    let mut quote = Vec::with_capacity(MAX_QUOTE.min(header.len() + first.len()));
    quote.extend_from_slice(&header[..header.len().min(MAX_QUOTE)]);
    quote.extend_from_slice(&first[..first.len().min(MAX_QUOTE - quote.len())]);
    quote
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Out;
    use etherparse::IpNumber;

    fn out(ident: u16) -> Ipv4Out {
        Ipv4Out {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            protocol: IpNumber::ICMP,
            ttl: 64,
            dscp: 0,
            ident,
            dont_fragment: false,
        }
    }

    /// One fragment of `payload[offset..end]`.
    fn frag(ident: u16, payload: &[u8], offset: usize, end: usize) -> Vec<u8> {
        let more = end < payload.len();
        let mut p = vec![0; HEADER_LEN + end - offset];
        out(ident).emit_fragment_header(end - offset, offset, more, &mut p);
        p[HEADER_LEN..].copy_from_slice(&payload[offset..end]);
        p
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn insert(r: &mut Reassembler, now: Instant, p: &[u8]) -> Reassembled {
        r.insert(now, &ipv4::parse(p).unwrap())
    }

    #[track_caller]
    fn expect_complete(result: Reassembled, payload: &[u8]) {
        match result {
            Reassembled::Complete(d) => {
                let v = ipv4::parse(&d).unwrap();
                assert!(!v.is_fragment());
                assert_eq!(v.payload(), payload);
            }
            other => panic!("expected a complete datagram, got {other:?}"),
        }
    }

    #[test]
    fn in_order_and_out_of_order() {
        let data = payload(4000);
        let cuts = [(0, 1480), (1480, 2960), (2960, 4000)];
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]] {
            let mut r = Reassembler::new(ReassemblyConfig::default());
            let now = Instant::ZERO;
            for &i in &order[..2] {
                let (a, b) = cuts[i];
                assert_eq!(
                    insert(&mut r, now, &frag(1, &data, a, b)),
                    Reassembled::Pending
                );
            }
            let (a, b) = cuts[order[2]];
            expect_complete(insert(&mut r, now, &frag(1, &data, a, b)), &data);
            assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));
        }
    }

    #[test]
    fn exact_duplicates_are_ignored() {
        let data = payload(2000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let first = frag(2, &data, 0, 1480);
        assert_eq!(insert(&mut r, Instant::ZERO, &first), Reassembled::Pending);
        assert_eq!(
            insert(&mut r, Instant::ZERO, &first),
            Reassembled::Dropped(DropReason::FragmentDuplicate)
        );
        expect_complete(
            insert(&mut r, Instant::ZERO, &frag(2, &data, 1480, 2000)),
            &data,
        );
    }

    #[test]
    fn overlap_discards_the_datagram() {
        let data = payload(3000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(3, &data, 0, 1480)),
            Reassembled::Pending
        );
        // Starts inside the first fragment.
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(3, &data, 1472, 3000)),
            Reassembled::Dropped(DropReason::FragmentOverlap)
        );
        assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));
        // Overlap with the following fragment.
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(4, &data, 1480, 3000)),
            Reassembled::Pending
        );
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(4, &data, 0, 1488)),
            Reassembled::Dropped(DropReason::FragmentOverlap)
        );
        assert_eq!(r.in_flight(), 0);
    }

    #[test]
    fn bad_and_oversized_fragments() {
        let data = payload(70_000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        // Not a multiple of 8 in a non-final fragment.
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(5, &data, 0, 1001)),
            Reassembled::Dropped(DropReason::FragmentBad)
        );
        // Ends past 65535 bytes.
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(5, &data, 65_000, 66_000)),
            Reassembled::Dropped(DropReason::FragmentOversized)
        );
        // Data beyond the known end.
        let small = payload(1600);
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(6, &small, 1480, 1600)),
            Reassembled::Pending
        );
        let mut beyond = frag(6, &data, 1600, 1608);
        beyond[6] |= 0x20; // MF
        beyond[10..12].copy_from_slice(&[0, 0]);
        let c = crate::wire::internet_checksum(&[&beyond[..20]]);
        beyond[10..12].copy_from_slice(&c);
        assert_eq!(
            insert(&mut r, Instant::ZERO, &beyond),
            Reassembled::Dropped(DropReason::FragmentBad)
        );
        assert_eq!(r.in_flight(), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let config = ReassemblyConfig {
            max_datagrams: 4,
            max_bytes: 8_000,
            timeout: Duration::from_secs(30),
        };
        let data = payload(3000);
        let mut r = Reassembler::new(config);
        for id in 0..4 {
            assert_eq!(
                insert(&mut r, Instant::ZERO, &frag(id, &data, 0, 1480)),
                Reassembled::Pending
            );
        }
        // A fifth datagram does not fit.
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(9, &data, 0, 1480)),
            Reassembled::Dropped(DropReason::FragmentNoMemory)
        );
        // Neither do more bytes for an existing one once the byte bound is reached.
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(0, &data, 1480, 2960)),
            Reassembled::Pending
        );
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(1, &data, 1480, 2960)),
            Reassembled::Dropped(DropReason::FragmentNoMemory)
        );
        assert!(r.bytes_held() <= config.max_bytes);
        // A flood of tiny fragments is charged the overhead and stops at the bound too.
        let mut r = Reassembler::new(config);
        let big = payload(60_000);
        let mut held = 0;
        for i in 0..1000 {
            if insert(&mut r, Instant::ZERO, &frag(7, &big, i * 16, i * 16 + 8))
                == Reassembled::Pending
            {
                held += 1;
            }
        }
        assert_eq!(held, 8_000 / (8 + FRAGMENT_OVERHEAD), "tiny fragments held");
        assert!(r.bytes_held() <= config.max_bytes);
    }

    #[test]
    fn partial_datagrams_time_out_after_30_s() {
        let data = payload(3000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let t0 = Instant::from_secs(100);
        assert_eq!(
            insert(&mut r, t0, &frag(1, &data, 0, 1480)),
            Reassembled::Pending
        );
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        assert_eq!(r.handle_timeout(t0 + Duration::from_secs(29)), 0);
        assert_eq!(r.handle_timeout(t0 + Duration::from_secs(30)), 1);
        assert_eq!(
            (r.in_flight(), r.bytes_held(), r.poll_timeout()),
            (0, 0, None)
        );
        // The rest arriving late starts afresh and never completes on its own.
        assert_eq!(
            insert(
                &mut r,
                t0 + Duration::from_secs(31),
                &frag(1, &data, 1480, 3000)
            ),
            Reassembled::Pending
        );
    }
}

#[cfg(test)]
mod ipv6_tests {
    use super::*;
    use crate::wire::icmpv6::{self, ErrorMessage};
    use crate::wire::ipv4::Ipv4Out;
    use crate::wire::ipv6::tests::{OURS, PEER, fragment_header, out, packet};
    use crate::wire::ipv6::{Chain, walk};
    use etherparse::IpNumber;
    use etherparse::icmpv6::TimeExceededCode;
    use proptest::prelude::*;

    /// One fragment of `payload[offset..end]`, straight behind the fixed header.
    fn frag(ident: u32, payload: &[u8], offset: usize, end: usize) -> Vec<u8> {
        let more = end < payload.len();
        let f = fragment_header(IpNumber::UDP, offset, more, ident);
        packet(
            IpNumber::IPV6_FRAGMENTATION_HEADER,
            &[&f, &payload[offset..end]].concat(),
        )
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Walks `p` to its Fragment header and hands it to the reassembler.
    #[track_caller]
    fn insert(r: &mut Reassembler, now: Instant, p: &[u8]) -> Reassembled {
        let v = ipv6::parse(p).unwrap();
        match walk(&v) {
            Ok(Chain::Fragment(f)) => r.insert_ipv6(now, &v, &f),
            other => panic!("not a fragment: {other:?}"),
        }
    }

    /// The reassembled packet walks to UDP at `offset` and carries `payload` there.
    #[track_caller]
    fn expect_complete(result: Reassembled, offset: usize, payload: &[u8]) -> Vec<u8> {
        match result {
            Reassembled::Complete(p) => {
                let v = ipv6::parse(&p).unwrap();
                assert_eq!(
                    walk(&v),
                    Ok(Chain::Upper {
                        protocol: IpNumber::UDP,
                        offset
                    })
                );
                assert_eq!(&v.packet()[offset..], payload);
                assert_eq!(v.packet().len(), p.len(), "Payload Length is exact");
                p
            }
            other => panic!("expected a complete packet, got {other:?}"),
        }
    }

    #[test]
    fn fragmented_output_reassembles_in_any_order() {
        let data = payload(4000);
        let mut frags = Vec::new();
        out(IpNumber::UDP).fragment(&data, 1280, 7, &mut Vec::new(), |p| frags.push(p.to_vec()));
        assert_eq!(frags.len(), 4);
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            let mut r = Reassembler::new(ReassemblyConfig::default());
            for &i in &order[..3] {
                assert_eq!(
                    insert(&mut r, Instant::ZERO, &frags[i]),
                    Reassembled::Pending
                );
            }
            let whole = insert(&mut r, Instant::ZERO, &frags[order[3]]);
            let p = expect_complete(whole, 40, &data);
            assert_eq!(p[6], IpNumber::UDP.0, "Fragment header removed");
            assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));
        }
    }

    #[test]
    fn per_fragment_headers_of_the_first_fragment_are_kept() {
        // RFC 8200 §4.5: the first fragment's per-fragment headers (here Hop-by-Hop) stay,
        // their last Next Header becomes the first fragment's Fragment header's Next Header;
        // a later fragment's headers and Next Header are not used.
        use crate::wire::ipv6::tests::options;
        let data = payload(30);
        let hbh = options(IpNumber::IPV6_FRAGMENTATION_HEADER, &[5, 2, 0, 0]);
        let f0 = fragment_header(IpNumber::UDP, 0, true, 9);
        let first = packet(
            IpNumber::IPV6_HEADER_HOP_BY_HOP,
            &[&hbh, &f0, &data[..16]].concat(),
        );
        let f1 = fragment_header(IpNumber::TCP, 16, false, 9);
        let last = packet(
            IpNumber::IPV6_FRAGMENTATION_HEADER,
            &[&f1, &data[16..]].concat(),
        );
        let mut r = Reassembler::new(ReassemblyConfig::default());
        assert_eq!(insert(&mut r, Instant::ZERO, &last), Reassembled::Pending);
        let p = expect_complete(insert(&mut r, Instant::ZERO, &first), 48, &data);
        assert_eq!(p[6], IpNumber::IPV6_HEADER_HOP_BY_HOP.0);
        assert_eq!(p[40], IpNumber::UDP.0, "Hop-by-Hop now names UDP");
        assert_eq!(ipv6::parse(&p).unwrap().payload_len(), 8 + 30);
    }

    #[test]
    fn exact_duplicates_are_ignored() {
        let data = payload(2000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let first = frag(2, &data, 0, 1232);
        assert_eq!(insert(&mut r, Instant::ZERO, &first), Reassembled::Pending);
        assert_eq!(
            insert(&mut r, Instant::ZERO, &first),
            Reassembled::Dropped(DropReason::FragmentDuplicate)
        );
        expect_complete(
            insert(&mut r, Instant::ZERO, &frag(2, &data, 1232, 2000)),
            40,
            &data,
        );
    }

    #[test]
    fn overlap_discards_the_packet_and_its_later_fragments() {
        // RFC 5722: the whole packet, fragments not yet received included.
        let data = payload(3000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let t0 = Instant::from_secs(10);
        assert_eq!(
            insert(&mut r, t0, &frag(3, &data, 0, 1232)),
            Reassembled::Pending
        );
        assert_eq!(
            insert(&mut r, t0, &frag(3, &data, 1224, 2456)),
            Reassembled::Dropped(DropReason::FragmentOverlap)
        );
        assert_eq!(
            (r.in_flight(), r.bytes_held()),
            (1, 0),
            "remembered, no bytes"
        );
        for (a, b) in [(1232, 2464), (2464, 3000), (0, 1232)] {
            assert_eq!(
                insert(&mut r, t0, &frag(3, &data, a, b)),
                Reassembled::Dropped(DropReason::Fragment6AfterOverlap)
            );
        }
        // Other packets are untouched.
        assert_eq!(
            insert(&mut r, t0, &frag(4, &data, 0, 1232)),
            Reassembled::Pending
        );
        // Forgotten after 60 s, neither counted as a timeout nor answered.
        assert_eq!(r.poll_timeout(), Some(t0 + Reassembler::IPV6_TIMEOUT));
        assert_eq!(
            r.handle_timeout(t0 + Reassembler::IPV6_TIMEOUT),
            1,
            "only packet 4"
        );
        assert_eq!(
            r.poll_time_exceeded().map(|e| e.quote[44..48].to_vec()),
            Some(vec![0, 0, 0, 4])
        );
        assert_eq!(r.poll_time_exceeded(), None);
        assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));
        // Afterwards the identification starts afresh.
        assert_eq!(
            insert(
                &mut r,
                t0 + Reassembler::IPV6_TIMEOUT,
                &frag(3, &data, 0, 1232)
            ),
            Reassembled::Pending
        );
    }

    #[test]
    fn contradicting_the_known_end_discards_without_remembering() {
        let data = payload(2000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(5, &data, 1232, 2000)),
            Reassembled::Pending
        );
        // A "last" fragment ending elsewhere.
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(5, &data[..1992], 1232, 1992)),
            Reassembled::Dropped(DropReason::FragmentBad)
        );
        assert_eq!(r.in_flight(), 0);
    }

    #[test]
    fn timeout_with_the_first_fragment_leaves_a_time_exceeded_quote() {
        let data = payload(4000);
        let first = frag(6, &data, 0, 1232);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let t0 = Instant::from_secs(100);
        assert_eq!(insert(&mut r, t0, &first), Reassembled::Pending);
        assert_eq!(
            insert(&mut r, t0, &frag(6, &data, 2464, 3696)),
            Reassembled::Pending
        );
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(r.handle_timeout(t0 + Duration::from_secs(59)), 0);
        assert_eq!(r.poll_time_exceeded(), None);
        assert_eq!(r.handle_timeout(t0 + Duration::from_secs(60)), 1);
        let expired = r.poll_time_exceeded().unwrap();
        assert_eq!((expired.src, expired.dst), (PEER, OURS));
        assert_eq!(
            expired.quote,
            first[..icmpv6::MAX_QUOTE],
            "the first fragment, cut"
        );
        assert_eq!(r.poll_time_exceeded(), None);
        assert_eq!(
            (r.in_flight(), r.bytes_held(), r.poll_timeout()),
            (0, 0, None)
        );
        // What the stack then sends: Time Exceeded code 1, 1280 octets with its header.
        let error = ErrorMessage::TimeExceeded(TimeExceededCode::FragmentReassemblyTimeExceeded);
        assert!(icmpv6::may_send_error(&expired.quote, &error));
        let mut buf = [0u8; 1240];
        let pseudo = crate::wire::PseudoHeader::icmpv6(expired.dst, expired.src);
        let n = icmpv6::emit_error(pseudo, error, &expired.quote, &mut buf);
        assert_eq!(n + ipv6::HEADER_LEN, 1280);
        assert_eq!((buf[0], buf[1]), (3, 1));
        // A short first fragment is quoted whole.
        let small = payload(100);
        let first = frag(7, &small, 0, 48);
        assert_eq!(insert(&mut r, t0, &first), Reassembled::Pending);
        assert_eq!(r.handle_timeout(t0 + Reassembler::IPV6_TIMEOUT), 1);
        assert_eq!(r.poll_time_exceeded().unwrap().quote, first);
    }

    #[test]
    fn timeout_without_the_first_fragment_is_not_answered() {
        let data = payload(4000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(8, &data, 1232, 2464)),
            Reassembled::Pending
        );
        assert_eq!(
            r.handle_timeout(Instant::ZERO + Reassembler::IPV6_TIMEOUT),
            1
        );
        assert_eq!(r.poll_time_exceeded(), None);
    }

    #[test]
    fn time_exceeded_quotes_are_bounded_and_in_order() {
        let data = payload(4000);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        for ident in (0..20).rev() {
            assert_eq!(
                insert(&mut r, Instant::ZERO, &frag(ident, &data, 0, 1232)),
                Reassembled::Pending
            );
        }
        assert_eq!(
            r.handle_timeout(Instant::ZERO + Reassembler::IPV6_TIMEOUT),
            20
        );
        let idents: Vec<u32> = std::iter::from_fn(|| r.poll_time_exceeded())
            .map(|e| u32::from_be_bytes(e.quote[44..48].try_into().unwrap()))
            .collect();
        assert_eq!(
            idents,
            (0..Reassembler::MAX_TIME_EXCEEDED as u32).collect::<Vec<_>>()
        );
    }

    #[test]
    fn both_families_share_the_bounds_and_keep_their_timeouts() {
        let config = ReassemblyConfig {
            max_datagrams: 2,
            ..ReassemblyConfig::default()
        };
        let mut r = Reassembler::new(config);
        let data = payload(3000);
        let v4 = Ipv4Out {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            protocol: IpNumber::UDP,
            ttl: 64,
            dscp: 0,
            ident: 1,
            dont_fragment: false,
        };
        let mut p4 = vec![0; HEADER_LEN + 1480];
        v4.emit_fragment_header(1480, 0, true, &mut p4);
        p4[HEADER_LEN..].copy_from_slice(&data[..1480]);
        assert_eq!(
            r.insert(Instant::ZERO, &ipv4::parse(&p4).unwrap()),
            Reassembled::Pending
        );
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(1, &data, 0, 1232)),
            Reassembled::Pending
        );
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(2, &data, 0, 1232)),
            Reassembled::Dropped(DropReason::FragmentNoMemory)
        );
        assert_eq!(r.in_flight(), 2);
        assert_eq!(r.bytes_held(), 1480 + 64 + 1232 + 64 + 48);
        // IPv4 after its configured 30 s, IPv6 after 60 s.
        assert_eq!(r.poll_timeout(), Some(Instant::from_secs(30)));
        assert_eq!(r.handle_timeout(Instant::from_secs(30)), 1);
        assert_eq!(r.poll_time_exceeded(), None, "no ICMPv6 about IPv4");
        assert_eq!(r.poll_timeout(), Some(Instant::from_secs(60)));
        assert_eq!(r.handle_timeout(Instant::from_secs(60)), 1);
        assert!(r.poll_time_exceeded().is_some());
    }

    #[test]
    fn atomic_fragments_never_enter_reassembly() {
        // RFC 6946: offset 0 and M 0 is a whole packet; the walk delivers it.
        let f = fragment_header(IpNumber::UDP, 0, false, 11);
        let p = packet(
            IpNumber::IPV6_FRAGMENTATION_HEADER,
            &[&f[..], &[1; 8]].concat(),
        );
        let v = ipv6::parse(&p).unwrap();
        assert_eq!(
            walk(&v),
            Ok(Chain::Upper {
                protocol: IpNumber::UDP,
                offset: 48
            })
        );
        // Handed in anyway, it is refused and nothing is held.
        let atomic = Fragment {
            ident: 11,
            offset: 0,
            more: false,
            next_header: IpNumber::UDP,
            header_at: 40,
            next_header_at: 6,
        };
        let mut r = Reassembler::new(ReassemblyConfig::default());
        assert_eq!(
            r.insert_ipv6(Instant::ZERO, &v, &atomic),
            Reassembled::Dropped(DropReason::FragmentBad)
        );
        // A fragment whose place lies outside the packet likewise.
        let wild = Fragment {
            header_at: 400,
            more: true,
            ..atomic
        };
        assert_eq!(
            r.insert_ipv6(Instant::ZERO, &v, &wild),
            Reassembled::Dropped(DropReason::FragmentBad)
        );
        assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));
    }

    /// A Destination Options header of `len` octets (a multiple of 8, up to 2048) of
    /// skippable options, naming `next`.
    fn big_options(next: IpNumber, len: usize) -> Vec<u8> {
        let mut h = vec![next.0, (len / 8 - 1) as u8];
        while h.len() < len {
            let room = len - h.len();
            let data = (room - 2).min(255);
            h.extend_from_slice(&[0x1e, data as u8]);
            h.resize(h.len() + data, 0);
        }
        h
    }

    #[test]
    fn long_first_fragment_headers_are_charged_and_can_make_it_oversized() {
        let data = payload(65_535);
        let d = big_options(IpNumber::IPV6_FRAGMENTATION_HEADER, 2048);
        let f0 = fragment_header(IpNumber::UDP, 0, true, 12);
        let first = packet(
            IpNumber::IPV6_DESTINATION_OPTIONS,
            &[&d, &f0, &data[..8]].concat(),
        );
        let mut r = Reassembler::new(ReassemblyConfig::default());
        assert_eq!(insert(&mut r, Instant::ZERO, &first), Reassembled::Pending);
        assert_eq!(r.bytes_held(), 8 + 64 + 40 + 2048 + 8, "headers charged");
        // Each later fragment fits on its own; together with the first's 2048 octets of
        // headers the Payload Length would be 67,583.
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(12, &data, 8, 65_520)),
            Reassembled::Pending
        );
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(12, &data, 65_520, 65_535)),
            Reassembled::Dropped(DropReason::FragmentOversized)
        );
        assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));
        // The largest packet that fits reassembles: 65,535 octets of payload, no headers.
        assert_eq!(
            insert(&mut r, Instant::ZERO, &frag(13, &data, 0, 32_768)),
            Reassembled::Pending
        );
        expect_complete(
            insert(&mut r, Instant::ZERO, &frag(13, &data, 32_768, 65_535)),
            40,
            &data,
        );
    }

    proptest! {
        /// Any payload, any MTU, any order: the fragments reassemble to the packet.
        #[test]
        fn fragments_round_trip(len in 1usize..20_000, mtu in 1280usize..9000, seed in any::<u64>()) {
            let data = payload(len);
            let mut frags = Vec::new();
            out(IpNumber::UDP).fragment(&data, mtu, 99, &mut Vec::new(), |p| frags.push(p.to_vec()));
            if frags.len() == 1 {
                // It fitted: no Fragment header at all.
                prop_assert_eq!(walk(&ipv6::parse(&frags[0]).unwrap()),
                    Ok(Chain::Upper { protocol: IpNumber::UDP, offset: 40 }));
                return Ok(());
            }
            let mut rng = fastrand::Rng::with_seed(seed);
            rng.shuffle(&mut frags);
            let mut r = Reassembler::new(ReassemblyConfig::default());
            let (last, rest) = frags.split_last().unwrap();
            for f in rest {
                prop_assert!(f.len() <= mtu);
                prop_assert_eq!(insert(&mut r, Instant::ZERO, f), Reassembled::Pending);
            }
            expect_complete(insert(&mut r, Instant::ZERO, last), 40, &data);
            prop_assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));
        }

        /// Arbitrary fragments of both families, some of them mangled: the reassembler never
        /// holds more than its bounds, and everything expires.
        #[test]
        fn arbitrary_fragments_stay_bounded(
            steps in proptest::collection::vec((any::<bool>(), 0u32..6, 0usize..9000, 0usize..1500,
                any::<bool>(), any::<bool>(), 0u64..20_000,
                proptest::option::of((any::<usize>(), any::<u8>()))), 1..80),
        ) {
            let config = ReassemblyConfig { max_datagrams: 6, max_bytes: 20_000, timeout: Duration::from_secs(30) };
            let mut r = Reassembler::new(config);
            let body = payload(9000 + 1500);
            let mut now = Instant::ZERO;
            for (v6, ident, offset, len, aligned, more, advance_ms, flip) in steps {
                let offset = offset / 8 * 8;
                // Mostly lengths a non-final fragment may have, so that many are held.
                let len = if aligned { len / 8 * 8 } else { len };
                let chunk = &body[offset..offset + len];
                let mut p = if v6 {
                    let f = fragment_header(IpNumber::UDP, offset, more, ident);
                    packet(IpNumber::IPV6_FRAGMENTATION_HEADER, &[&f, chunk].concat())
                } else {
                    let o = Ipv4Out { src: Ipv4Addr::new(198, 18, 0, 1), dst: Ipv4Addr::new(198, 18, 0, 2),
                        protocol: IpNumber::UDP, ttl: 64, dscp: 0, ident: ident as u16, dont_fragment: false };
                    let mut p = vec![0; HEADER_LEN + len];
                    o.emit_fragment_header(len, offset, more, &mut p);
                    p[HEADER_LEN..].copy_from_slice(chunk);
                    p
                };
                if let Some((at, x)) = flip {
                    let i = at % p.len();
                    p[i] ^= x;
                }
                if let Ok(v) = ipv6::parse(&p) {
                    if let Ok(Chain::Fragment(f)) = walk(&v) {
                        r.insert_ipv6(now, &v, &f);
                    }
                } else if let Ok(v) = ipv4::parse(&p)
                    && v.is_fragment()
                {
                    r.insert(now, &v);
                }
                prop_assert!(r.in_flight() <= config.max_datagrams);
                prop_assert!(r.bytes_held() <= config.max_bytes);
                now += Duration::from_millis(advance_ms);
                r.handle_timeout(now);
                prop_assert!(r.time_exceeded.len() <= Reassembler::MAX_TIME_EXCEEDED);
                if advance_ms % 3 == 0 {
                    while let Some(e) = r.poll_time_exceeded() {
                        prop_assert!(e.quote.len() <= icmpv6::MAX_QUOTE);
                    }
                }
            }
            r.handle_timeout(now + Reassembler::IPV6_TIMEOUT);
            prop_assert_eq!((r.in_flight(), r.bytes_held(), r.poll_timeout()), (0, 0, None));
        }
    }
}
