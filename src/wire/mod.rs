//! Wire formats: IPv4 and ICMP parsing and emitting on top of etherparse.
//!
//! Parsers check everything a hostile sender could get wrong and return an error whose
//! [`DropReason`] is the counter it lands in. Emitters write into a caller's buffer and return
//! the number of bytes written; they never allocate.

pub mod icmp;
pub mod ipv4;

mod drop_reason;
pub use drop_reason::{DropCounters, DropReason};

use etherparse::checksum::Sum16BitWords;
use std::net::Ipv4Addr;

/// The Internet checksum (RFC 1071) of the concatenated `parts`, as the two bytes to store in
/// a header whose checksum field is zero in `parts`. Every part but the last must have an
/// even length.
pub fn internet_checksum(parts: &[&[u8]]) -> [u8; 2] {
    let sum = parts
        .iter()
        .fold(Sum16BitWords::new(), |s, p| add_words(s, p));
    // etherparse sums in native byte order; its result's native bytes are network order.
    sum.ones_complement().to_ne_bytes()
}

/// Add `data` to a ones'-complement sum with etherparse's arithmetic, in four independent
/// lanes of 8-byte words: one chain of add-with-carry per word was the bottleneck (a quarter
/// of the CPU of a bulk transfer in memory); four chains overlap in the pipeline. The lanes'
/// folded sums are added back as 16-bit words (RFC 1071 §2: the sum is associative and
/// commutative, so any grouping at even offsets gives the same result).
fn add_words(sum: Sum16BitWords, data: &[u8]) -> Sum16BitWords {
    let mut chunks = data.chunks_exact(32);
    let mut lanes = [
        Sum16BitWords::new(),
        Sum16BitWords::new(),
        Sum16BitWords::new(),
        Sum16BitWords::new(),
    ];
    for chunk in &mut chunks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let word: [u8; 8] = chunk[8 * i..8 * i + 8].try_into().expect("8 bytes");
            *lane = lane.add_8bytes(word);
        }
    }
    let sum = lanes.iter().fold(sum, |s, lane| {
        s.add_2bytes((!lane.ones_complement()).to_ne_bytes())
    });
    sum.add_slice(chunks.remainder())
}

/// The RFC 9293 §3.1 pseudo-header of a TCP segment of `len` bytes over IPv4.
pub fn tcp_pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = 6; // TCP
    p[10..].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// True when `bytes` (checksum field included) sums to the all-ones pattern.
pub fn checksum_ok(parts: &[&[u8]]) -> bool {
    internet_checksum(parts) == [0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The four-lane sum equals etherparse's own slice sum for any data and split.
        #[test]
        fn lanes_match_etherparse(data in proptest::collection::vec(any::<u8>(), 0..3000), cut in 0usize..3000) {
            let cut = (cut.min(data.len())) & !1;
            let ours = internet_checksum(&[&data[..cut], &data[cut..]]);
            let theirs = Sum16BitWords::new().add_slice(&data).ones_complement().to_ne_bytes();
            prop_assert_eq!(ours, theirs);
        }
    }
}
