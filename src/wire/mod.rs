//! Wire formats: IPv4 and ICMP parsing and emitting on top of etherparse.
//!
//! Parsers check everything a hostile sender could get wrong and return an error whose
//! [`DropReason`] is the counter it lands in. Emitters write into a caller's buffer and return
//! the number of bytes written; they never allocate.

pub mod icmp;
pub mod ipv4;

mod drop_reason;
pub use drop_reason::{DropCounters, DropReason};

/// The Internet checksum (RFC 1071) of the concatenated `parts`, as the two bytes to store in
/// a header whose checksum field is zero in `parts`. Every part but the last must have an
/// even length.
pub fn internet_checksum(parts: &[&[u8]]) -> [u8; 2] {
    let sum = parts
        .iter()
        .fold(etherparse::checksum::Sum16BitWords::new(), |s, p| {
            s.add_slice(p)
        });
    // etherparse sums in native byte order; its result's native bytes are network order.
    sum.ones_complement().to_ne_bytes()
}

/// True when `bytes` (checksum field included) sums to the all-ones pattern.
pub fn checksum_ok(parts: &[&[u8]]) -> bool {
    internet_checksum(parts) == [0, 0]
}
