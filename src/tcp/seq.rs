//! Sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
//!
//! `SeqNum` deliberately implements no `PartialOrd`: wrapping comparison is not transitive
//! over the whole space, so every comparison is spelled out (`a.before(b)`, `a.after(b)`) and
//! is only meaningful for numbers less than 2^31 apart.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgment) number.
///
/// The field stays public because the integration tests write `SeqNum(x)`; code in the crate
/// may use [`SeqNum::new`] and [`SeqNum::get`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The sequence number `v` (any of the 2^32 values).
    pub const fn new(v: u32) -> SeqNum {
        SeqNum(v)
    }

    /// The raw 32-bit value, as carried in SEG.SEQ or SEG.ACK.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Signed distance `self - other` (positive when `self` is after `other`).
    pub fn distance(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` modulo 2^32.
    pub fn before(self, other: SeqNum) -> bool {
        self.distance(other) < 0
    }

    /// `self <= other` modulo 2^32.
    pub fn before_eq(self, other: SeqNum) -> bool {
        self.distance(other) <= 0
    }

    /// `self > other` modulo 2^32.
    pub fn after(self, other: SeqNum) -> bool {
        self.distance(other) > 0
    }

    /// `self >= other` modulo 2^32.
    pub fn after_eq(self, other: SeqNum) -> bool {
        self.distance(other) >= 0
    }

    /// `start <= self < start + len` modulo 2^32 (an empty window contains nothing).
    pub fn in_window(self, start: SeqNum, len: u32) -> bool {
        self.0.wrapping_sub(start.0) < len
    }

    /// The later of two numbers (wrapping comparison).
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.after(other) { self } else { other }
    }

    /// The earlier of two numbers (wrapping comparison).
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.before(other) { self } else { other }
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

impl Sub<SeqNum> for SeqNum {
    type Output = u32;
    /// Unsigned distance forward from `rhs` to `self` (wrapping). Use only when `rhs` is known
    /// to be before or equal to `self`.
    fn sub(self, rhs: SeqNum) -> u32 {
        self.0.wrapping_sub(rhs.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps_around() {
        let a = SeqNum(u32::MAX - 1);
        let b = a + 3;
        assert_eq!(b, SeqNum(1));
        assert!(a.before(b));
        assert!(b.after(a));
        assert_eq!(b - a, 3);
        assert_eq!(a.distance(b), -3);
        assert!(SeqNum(0).in_window(a, 3));
        assert!(!SeqNum(1).in_window(a, 3));
        assert!(!a.in_window(a, 0));
    }

    proptest! {
        #[test]
        fn add_then_sub_is_identity(a in any::<u32>(), n in any::<u32>()) {
            let s = SeqNum(a);
            prop_assert_eq!((s + n) - s, n);
            prop_assert_eq!((s + n) - n, s);
        }

        #[test]
        fn ordering_within_half_space(a in any::<u32>(), n in 1u32..(1 << 31)) {
            let s = SeqNum(a);
            let t = s + n;
            prop_assert!(s.before(t));
            prop_assert!(s.before_eq(t));
            prop_assert!(t.after(s));
            prop_assert!(t.after_eq(s));
            prop_assert!(!t.before(s));
            prop_assert!(!s.after(t));
            prop_assert_eq!(s.max(t), t);
            prop_assert_eq!(s.min(t), s);
            prop_assert!(s.before_eq(s) && s.after_eq(s) && !s.before(s));
        }

        #[test]
        fn in_window_matches_distance(a in any::<u32>(), start in any::<u32>(), len in 0u32..(1 << 31)) {
            let s = SeqNum(a);
            let st = SeqNum(start);
            let d = s - st;
            prop_assert_eq!(s.in_window(st, len), d < len);
        }
    }
}
