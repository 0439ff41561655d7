//! Out-of-order data waiting for a gap to fill (RFC 9293 §3.10.7.4 seventh: "segments with
//! higher beginning sequence numbers ... may be held for later processing").
//!
//! Bounded twice: the caller only inserts data inside the receive window (which never exceeds
//! the free receive buffer), and at most [`MAX_RANGES`] disjoint ranges are kept. It also
//! remembers which range changed last, to report SACK blocks in RFC 2018 §4 order.

use super::segment::SackBlocks;
use super::seq::SeqNum;

/// Disjoint ranges kept at most; data that would need more is dropped (the peer resends it).
pub(super) const MAX_RANGES: usize = 32;

#[derive(Clone, Debug, Default)]
pub(super) struct Reassembly {
    /// Sorted, disjoint, non-adjacent ranges: (first sequence number, data).
    ranges: Vec<(SeqNum, Vec<u8>)>,
    /// Start of the range that most recently received data (RFC 2018 §4: first SACK block).
    last: Option<SeqNum>,
    bytes: usize,
}

impl Reassembly {
    pub(super) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Octets held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub(super) fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// Octets allocated for the held data.
    pub(super) fn allocated(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<(SeqNum, Vec<u8>)>()
            + self.ranges.iter().map(|(_, d)| d.capacity()).sum::<usize>()
    }

    /// Whether [seq, end) is held already (RFC 2883 §4: a duplicate to report in a DSACK).
    pub(super) fn holds(&self, seq: SeqNum, end: SeqNum) -> bool {
        self.ranges
            .iter()
            .any(|(s, d)| s.before_eq(seq) && end.before_eq(*s + d.len() as u32))
    }

    /// Hold `data` starting at `seq` (which must be after RCV.NXT). Returns false if dropped.
    pub(super) fn insert(&mut self, seq: SeqNum, data: &[u8]) -> bool {
        if data.is_empty() {
            return true;
        }
        let end = seq + data.len() as u32;
        // Ranges that overlap or touch [seq, end).
        let first = self
            .ranges
            .iter()
            .position(|(s, d)| (*s + d.len() as u32).after_eq(seq));
        let Some(first) = first else {
            return self.push_new(self.ranges.len(), seq, data);
        };
        if self.ranges[first].0.after(end) {
            return self.push_new(first, seq, data);
        }
        let mut last = first;
        while last + 1 < self.ranges.len() && self.ranges[last + 1].0.before_eq(end) {
            last += 1;
        }
        // The common case, data continuing one range: append in place (amortised O(new)).
        if first == last && self.ranges[first].0.before_eq(seq) {
            let (s, d) = &mut self.ranges[first];
            let have_end = *s + d.len() as u32;
            if end.after(have_end) {
                let skip = (have_end - seq) as usize;
                d.extend_from_slice(&data[skip..]);
                self.bytes += data.len() - skip;
            }
            self.last = Some(*s);
            return true;
        }
        // Otherwise merge the touched ranges and the data into one, reusing the buffer of
        // the lowest range when it starts first, so only new octets are copied.
        let merged: Vec<(SeqNum, Vec<u8>)> = self.ranges.drain(first..=last).collect();
        self.bytes -= merged.iter().map(|(_, d)| d.len()).sum::<usize>();
        let start = merged[0].0.min(seq);
        let mut rest = merged.into_iter();
        let (mut out, mut cursor, mut pending) = if seq == start {
            // `data` starts the merged range.
            (data.to_vec(), end, None)
        } else {
            let (s, d) = rest.next().expect("at least one range");
            let e = s + d.len() as u32;
            (d, e, Some((seq, data)))
        };
        let append = |s: SeqNum, d: &[u8], out: &mut Vec<u8>, cursor: &mut SeqNum| {
            let e = s + d.len() as u32;
            if e.after(*cursor) {
                let skip = if s.before(*cursor) {
                    (*cursor - s) as usize
                } else {
                    0
                };
                out.extend_from_slice(&d[skip..]);
                *cursor = e;
            }
        };
        for (s, d) in rest {
            // The new data goes in order among the ranges (they touch, so no gap opens).
            if let Some((ps, pd)) = pending
                && ps.before(s)
            {
                append(ps, pd, &mut out, &mut cursor);
                pending = None;
            }
            append(s, &d, &mut out, &mut cursor);
        }
        if let Some((ps, pd)) = pending {
            append(ps, pd, &mut out, &mut cursor);
        }
        self.bytes += out.len();
        self.ranges.insert(first, (start, out));
        self.last = Some(start);
        true
    }

    fn push_new(&mut self, at: usize, seq: SeqNum, data: &[u8]) -> bool {
        if self.ranges.len() >= MAX_RANGES {
            return false;
        }
        self.ranges.insert(at, (seq, data.to_vec()));
        self.bytes += data.len();
        self.last = Some(seq);
        true
    }

    /// Remove and return the data that now continues at `rcv_nxt`, discarding anything
    /// older (already received).
    pub(super) fn pop_ready(&mut self, rcv_nxt: SeqNum) -> Option<Vec<u8>> {
        loop {
            let (s, _) = self.ranges.first()?;
            if s.after(rcv_nxt) {
                return None;
            }
            let (s, mut d) = self.ranges.remove(0);
            self.bytes -= d.len();
            let skip = (rcv_nxt - s) as usize;
            if skip < d.len() {
                d.drain(..skip);
                return Some(d);
            }
        }
    }

    /// SACK blocks (RFC 2018 §4): the most recently changed range first, then the others
    /// in sequence order; at most four.
    pub(super) fn sack_blocks(&self) -> SackBlocks {
        let mut b = SackBlocks::default();
        let block = |(s, d): &(SeqNum, Vec<u8>)| (*s, *s + d.len() as u32);
        if let Some(last) = self.last
            && let Some(r) = self.ranges.iter().find(|(s, _)| *s == last)
        {
            let (l, r) = block(r);
            b.push(l, r);
        }
        for r in &self.ranges {
            if Some(r.0) != self.last {
                let (l, r) = block(r);
                b.push(l, r);
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merges_and_pops() {
        let base = SeqNum(u32::MAX - 5);
        let mut r = Reassembly::default();
        assert!(r.insert(base + 10, b"klm"));
        assert!(r.insert(base + 4, b"ef"));
        assert_eq!(
            r.sack_blocks().as_slice(),
            &[(base + 4, base + 6), (base + 10, base + 13)]
        );
        assert!(r.insert(base + 5, b"fghij"));
        assert_eq!(r.range_count(), 1);
        assert_eq!(r.len(), 9);
        assert_eq!(r.pop_ready(base + 2), None);
        assert_eq!(r.pop_ready(base + 6).unwrap(), b"ghijklm");
        assert!(r.is_empty());
        assert_eq!(r.len(), 0);
    }

    proptest! {
        #[test]
        fn reassembles_any_order(cuts in proptest::collection::vec((0usize..200, 1usize..40), 1..40)) {
            let data: Vec<u8> = (0..240u32).map(|i| i as u8).collect();
            let base = SeqNum(u32::MAX - 100);
            let mut r = Reassembly::default();
            for (off, len) in &cuts {
                let off = off + 1; // never at rcv_nxt itself
                let end = (off + len).min(data.len());
                r.insert(base + off as u32, &data[off..end]);
            }
            let held = r.len();
            r.insert(base, &data[..1]);
            let got = r.pop_ready(base).unwrap();
            prop_assert!(got.len() <= data.len());
            prop_assert_eq!(&got[..], &data[..got.len()]);
            prop_assert!(r.len() + got.len() <= held + 1);
        }

        /// Against a model (a map of which octets arrived): the ranges hold exactly the
        /// octets inserted, at their offsets, disjoint and sorted; `len` counts them once.
        #[test]
        fn ranges_match_a_model(cuts in proptest::collection::vec((1usize..400, 1usize..60), 1..60)) {
            let data: Vec<u8> = (0..480u32).map(|i| (i * 7) as u8).collect();
            let base = SeqNum(u32::MAX - 200);
            let mut r = Reassembly::default();
            let mut have = vec![false; data.len()];
            for (off, len) in &cuts {
                let end = (off + len).min(data.len());
                if r.insert(base + *off as u32, &data[*off..end]) {
                    have[*off..end].iter_mut().for_each(|h| *h = true);
                }
            }
            prop_assert_eq!(r.len(), have.iter().filter(|h| **h).count());
            let mut prev_end: Option<SeqNum> = None;
            for (s, d) in &r.ranges {
                let off = (*s - base) as usize;
                prop_assert_eq!(&d[..], &data[off..off + d.len()]);
                prop_assert!(have[off..off + d.len()].iter().all(|h| *h));
                if let Some(p) = prev_end {
                    prop_assert!(s.after(p), "ranges disjoint and not adjacent");
                }
                prev_end = Some(*s + d.len() as u32);
            }
        }
    }
}
