//! IPv4 fragment reassembly (RFC 791 §3.2, RFC 815) with bounded memory.
//!
//! Fragments are kept per (source, destination, protocol, identification) as a sorted list
//! of byte ranges. Memory is bounded three ways: the number of datagrams in flight, the bytes
//! held (each fragment is charged its length plus a fixed overhead, so a flood of tiny
//! fragments hits the bound as fast as big ones), and a timeout after which a partial
//! datagram is discarded.
//!
//! Overlaps: an exact duplicate of a fragment already held is ignored; any other overlap
//! discards the whole datagram, as Linux does since 2018 (and as RFC 5722 requires for IPv6),
//! because overlapping fragments are only ever sent to evade filters.

use crate::time::{Duration, Instant};
use crate::wire::DropReason;
use crate::wire::ipv4::{self, HEADER_LEN, Ipv4View, MAX_DATAGRAM};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Limits on reassembly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Partial datagrams held at once.
    pub max_datagrams: usize,
    /// Bytes held across all partial datagrams (fragment bytes plus per-fragment overhead).
    pub max_bytes: usize,
    /// RFC 791 suggests 15 s as a lower bound; Linux and we use 30 s.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
}

struct Partial {
    /// Header of the first fragment (offset 0), once it has arrived.
    header: Option<Vec<u8>>,
    /// (offset, bytes), sorted by offset, never overlapping.
    fragments: Vec<(usize, Vec<u8>)>,
    /// Payload length, known once the last fragment (MF = 0) has arrived.
    total: Option<usize>,
    charged: usize,
    expires_at: Instant,
}

impl Partial {
    fn received(&self) -> usize {
        self.fragments.iter().map(|(_, b)| b.len()).sum()
    }

    fn highest_end(&self) -> usize {
        self.fragments.last().map_or(0, |(o, b)| o + b.len())
    }
}

/// What happened to a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembled {
    /// Held; the datagram is not complete yet.
    Pending,
    /// The datagram is complete: a whole IPv4 packet, unfragmented.
    Complete(Vec<u8>),
    /// The fragment (and possibly its datagram) was dropped.
    Dropped(DropReason),
}

/// The reassembly buffer.
pub struct Reassembler {
    config: ReassemblyConfig,
    partials: HashMap<Key, Partial>,
    bytes: usize,
}

impl Reassembler {
    pub fn new(config: ReassemblyConfig) -> Reassembler {
        Reassembler {
            config,
            partials: HashMap::new(),
            bytes: 0,
        }
    }

    /// Datagrams being reassembled.
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

    /// Discards partial datagrams whose timeout has passed; returns how many.
    pub fn handle_timeout(&mut self, now: Instant) -> usize {
        let before = self.partials.len();
        let bytes = &mut self.bytes;
        self.partials.retain(|_, p| {
            let keep = p.expires_at > now;
            if !keep {
                *bytes -= p.charged;
            }
            keep
        });
        before - self.partials.len()
    }

    fn discard(&mut self, key: &Key) {
        if let Some(p) = self.partials.remove(key) {
            self.bytes -= p.charged;
        }
    }

    /// Adds one fragment (a datagram with MF set or a non-zero offset).
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
        let key = Key {
            src: frag.src(),
            dst: frag.dst(),
            protocol: frag.protocol().0,
            ident: frag.ident(),
        };
        let cost = data.len() + FRAGMENT_OVERHEAD;
        let is_new = !self.partials.contains_key(&key);
        if (is_new && self.partials.len() >= self.config.max_datagrams)
            || self.bytes + cost > self.config.max_bytes
        {
            return Reassembled::Dropped(DropReason::FragmentNoMemory);
        }
        let timeout = self.config.timeout;
        let partial = self.partials.entry(key).or_insert_with(|| Partial {
            header: None,
            fragments: Vec::new(),
            total: None,
            charged: 0,
            expires_at: now + timeout,
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
            self.discard(&key);
            return Reassembled::Dropped(reason);
        }

        partial.fragments.insert(i, (offset, data.to_vec()));
        partial.charged += cost;
        self.bytes += cost;
        if offset == 0 {
            partial.header = Some(frag.header_bytes().to_vec());
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
