//! Sequence-number types.
//!
//! [`SubflowSeq`] is a TCP sequence number: 32 bits, compared modulo 2^32 (RFC 9293 §3.4).
//! [`DataSeq`] is an MPTCP data sequence number: 64 bits (RFC 8684 §3.3). A peer may send
//! only the low 32 bits of a DSN or DATA_ACK; [`DataSeq::expand`] recovers the full value
//! from the closest 64-bit value we know, as Linux's `expand_seq` does.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A 32-bit TCP sequence number with wrapping comparison.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubflowSeq(pub u32);

impl SubflowSeq {
    /// Signed distance `self - other`, correct when the two are within 2^31.
    pub fn diff(self, other: SubflowSeq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// The larger of two sequence numbers in wrapping order.
    pub fn max(self, other: SubflowSeq) -> SubflowSeq {
        if self >= other {
            self
        } else {
            other
        }
    }
    /// The smaller of two sequence numbers in wrapping order.
    pub fn min(self, other: SubflowSeq) -> SubflowSeq {
        if self <= other {
            self
        } else {
            other
        }
    }
}

impl fmt::Debug for SubflowSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SubflowSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl PartialOrd for SubflowSeq {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Wrapping order. Not a total order over all of u32 (no such order exists for serial
/// numbers, RFC 1982), but total over any window smaller than 2^31, which is what TCP uses.
impl Ord for SubflowSeq {
    fn cmp(&self, other: &Self) -> Ordering {
        self.diff(*other).cmp(&0)
    }
}

impl Add<usize> for SubflowSeq {
    type Output = SubflowSeq;
    fn add(self, rhs: usize) -> SubflowSeq {
        SubflowSeq(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<usize> for SubflowSeq {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl Sub<usize> for SubflowSeq {
    type Output = SubflowSeq;
    fn sub(self, rhs: usize) -> SubflowSeq {
        SubflowSeq(self.0.wrapping_sub(rhs as u32))
    }
}

/// Distance in bytes from `rhs` up to `self`. Panics in debug builds only if `rhs` is
/// after `self`; callers compare first.
impl Sub<SubflowSeq> for SubflowSeq {
    type Output = usize;
    fn sub(self, rhs: SubflowSeq) -> usize {
        self.0.wrapping_sub(rhs.0) as usize
    }
}

/// A 64-bit MPTCP data sequence number. 2^64 bytes never wrap in practice, but the
/// arithmetic wraps rather than panics, as the kernel's does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct DataSeq(pub u64);

impl DataSeq {
    /// Expands a 32-bit DSN or DATA_ACK to 64 bits: the 64-bit value whose low 32 bits are
    /// `low` and which is closest to `near` (the last full value we know on that stream).
    /// RFC 8684 §3.3: "the implementation MUST ... infer the higher bits".
    pub fn expand(low: u32, near: DataSeq) -> DataSeq {
        let base = near.0 & !0xffff_ffff;
        let cand = base | u64::from(low);
        let delta = low.wrapping_sub(near.0 as u32) as i32;
        // `delta` says whether `low` is ahead of or behind `near` in 32-bit space.
        let cand = if delta >= 0 && cand < near.0 {
            cand.wrapping_add(1 << 32)
        } else if delta < 0 && cand > near.0 {
            cand.wrapping_sub(1 << 32)
        } else {
            cand
        };
        DataSeq(cand)
    }
    /// The low 32 bits, as sent in a 4-byte DSS field.
    pub fn low32(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Debug for DataSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for DataSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Add<u64> for DataSeq {
    type Output = DataSeq;
    fn add(self, rhs: u64) -> DataSeq {
        DataSeq(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u64> for DataSeq {
    fn add_assign(&mut self, rhs: u64) {
        *self = *self + rhs;
    }
}

impl Sub<DataSeq> for DataSeq {
    type Output = u64;
    fn sub(self, rhs: DataSeq) -> u64 {
        self.0.wrapping_sub(rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wrapping_order() {
        assert!(SubflowSeq(u32::MAX) < SubflowSeq(0));
        assert!(SubflowSeq(5) > SubflowSeq(u32::MAX - 5));
        assert_eq!(SubflowSeq(3) - SubflowSeq(u32::MAX), 4);
        assert_eq!(SubflowSeq(u32::MAX) + 2, SubflowSeq(1));
        assert_eq!(SubflowSeq(1).max(SubflowSeq(u32::MAX)), SubflowSeq(1));
    }

    #[test]
    fn expand_across_the_32_bit_boundary() {
        let near = DataSeq(0x1_ffff_fff0);
        assert_eq!(DataSeq::expand(0x10, near), DataSeq(0x2_0000_0010));
        assert_eq!(DataSeq::expand(0xffff_ff00, near), DataSeq(0x1_ffff_ff00));
        let near = DataSeq(0x2_0000_0010);
        assert_eq!(DataSeq::expand(0xffff_fff0, near), DataSeq(0x1_ffff_fff0));
        assert_eq!(DataSeq::expand(0x20, DataSeq(5)), DataSeq(0x20));
        // Behind zero does not underflow into a huge value's neighbourhood by panic.
        assert_eq!(
            DataSeq::expand(0xffff_fff0, DataSeq(5)).low32(),
            0xffff_fff0
        );
    }

    proptest! {
        #[test]
        fn expand_recovers_values_within_2_31(near in any::<u64>(), off in -(1i64 << 31) + 1..(1i64 << 31)) {
            let near = near % (u64::MAX - (1 << 33)) + (1 << 32);
            let actual = near.wrapping_add(off as u64);
            prop_assert_eq!(DataSeq::expand(actual as u32, DataSeq(near)), DataSeq(actual));
        }
    }
}
