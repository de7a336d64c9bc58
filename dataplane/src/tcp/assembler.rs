//! The out-of-order receive assembler.
//!
//! It records which byte ranges beyond the receive point (`RCV.NXT`) have arrived, in at
//! most [`ASSEMBLER_RANGES`] ranges, with offsets relative to the receive point. The
//! payload itself sits in the receive [`RingBuffer`](super::buffer::RingBuffer)'s free
//! space at the same offsets. [`Assembler::add`] returns how many bytes became contiguous
//! at the receive point; the caller commits that many bytes of the ring and advances
//! `RCV.NXT`, and the assembler has already shifted its ranges by the same amount.
//!
//! When a new segment would need a range and none is free, it is refused
//! ([`TooManyHoles`]) and the caller drops it, as if it were lost: nothing is allocated,
//! and nothing already SACKed is forgotten (RFC 2018 §8 discourages reneging).
//!
//! It also keeps, per range, when a segment last landed in it, to build the SACK option
//! in the order RFC 2018 §4 asks for ([`Assembler::sack_blocks`]).

use super::sack::{SackBlock, SackList};
use crate::seq::SubflowSeq;

/// How many out-of-order ranges the assembler tracks. A slow-start overshoot at
/// 1 Gbit/s drops hundreds of segments of one window; with too few ranges those holes are
/// never SACKed and recovery stalls until the RTO (see the regression test
/// `slow_start_overshoot_is_repaired_by_sack_recovery_without_go_back_n` in
/// `tests/tcp_transfer.rs`). 24 KiB per connection.
pub const ASSEMBLER_RANGES: usize = 1024;

/// A segment was refused: it needed a new range and all are in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyHoles;

impl core::fmt::Display for TooManyHoles {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("too many out-of-order ranges")
    }
}

impl std::error::Error for TooManyHoles {}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Range {
    /// Offset of the first byte from the receive point.
    start: usize,
    /// Offset just after the last byte.
    end: usize,
    /// When a segment last landed in this range (a counter, higher is later).
    stamp: u64,
}

/// Out-of-order ranges above the receive point. Ranges are kept sorted, disjoint and not
/// touching, and never start at offset 0 (such data is contiguous and handed out at once).
#[derive(Debug, Clone)]
pub struct Assembler {
    ranges: [Range; ASSEMBLER_RANGES],
    len: usize,
    clock: u64,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new()
    }
}

impl Assembler {
    /// An assembler with nothing out of order.
    pub const fn new() -> Self {
        Assembler {
            ranges: [Range {
                start: 0,
                end: 0,
                stamp: 0,
            }; ASSEMBLER_RANGES],
            len: 0,
            clock: 0,
        }
    }

    /// Whether no out-of-order data is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of out-of-order ranges held.
    pub fn range_count(&self) -> usize {
        self.len
    }

    /// Forgets everything (on reset).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    fn held(&self) -> &[Range] {
        self.ranges.get(..self.len).unwrap_or(&[])
    }

    /// The out-of-order ranges as `(start, end)` offsets from the receive point, lowest
    /// first.
    pub fn ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.held().iter().map(|r| (r.start, r.end))
    }

    /// Offset just after the highest out-of-order byte, or 0.
    pub fn high_end(&self) -> usize {
        self.held().last().map_or(0, |r| r.end)
    }

    /// Out-of-order bytes held.
    pub fn ooo_bytes(&self) -> usize {
        self.held().iter().map(|r| r.end - r.start).sum()
    }

    /// Whether every byte of `[offset, offset+len)` is already held (a duplicate, which
    /// the caller may report with a D-SACK, RFC 2883).
    pub fn contains(&self, offset: usize, len: usize) -> bool {
        let end = offset.saturating_add(len);
        len > 0
            && self
                .held()
                .iter()
                .any(|r| r.start <= offset && end <= r.end)
    }

    /// Records that `len` bytes arrived at `offset` from the receive point. Returns how
    /// many bytes are now contiguous at the receive point (0 for out-of-order data); the
    /// receive point moves by that much and the ranges shift with it.
    ///
    /// Duplicates and overlaps with held ranges are merged. Offset 0 is always accepted.
    pub fn add(&mut self, offset: usize, len: usize) -> Result<usize, TooManyHoles> {
        if len == 0 {
            return Ok(0);
        }
        let end = offset.saturating_add(len);
        self.clock += 1;
        let n = self.len;
        // Ranges i..j overlap or touch [offset, end).
        let i = (0..n).find(|&k| self.ranges[k].end >= offset).unwrap_or(n);
        let j = (i..n).find(|&k| self.ranges[k].start > end).unwrap_or(n);
        if i == j {
            if offset == 0 {
                // In order and touching nothing: contiguous at once, no range needed.
                self.shift(end);
                return Ok(end);
            }
            if n == ASSEMBLER_RANGES {
                return Err(TooManyHoles);
            }
            self.ranges.copy_within(i..n, i + 1);
            self.ranges[i] = Range {
                start: offset,
                end,
                stamp: self.clock,
            };
            self.len += 1;
            return Ok(0);
        }
        let merged = Range {
            start: offset.min(self.ranges[i].start),
            end: end.max(self.ranges[j - 1].end),
            stamp: self.clock,
        };
        self.ranges[i] = merged;
        self.ranges.copy_within(j..n, i + 1);
        self.len = n - (j - i - 1);
        if merged.start == 0 {
            self.ranges.copy_within(1..self.len, 0);
            self.len -= 1;
            self.shift(merged.end);
            return Ok(merged.end);
        }
        Ok(0)
    }

    /// Moves the receive point forward by `by` bytes.
    fn shift(&mut self, by: usize) {
        for r in self.ranges.iter_mut().take(self.len) {
            r.start -= by;
            r.end -= by;
        }
    }

    /// The SACK blocks to send with `RCV.NXT = rcv_nxt`, at most `max` (4, or 3 with
    /// timestamps; capped at [`MAX_SACK_BLOCKS`](super::sack::MAX_SACK_BLOCKS)).
    ///
    /// RFC 2018 §4: the first block MUST be the one containing the most recently received
    /// segment, and the rest SHOULD repeat the most recently reported blocks; here they
    /// are the other ranges from most to least recently extended. With a D-SACK block
    /// (RFC 2883 §4) it comes first, followed by the range that contains it, if any.
    pub fn sack_blocks(
        &self,
        rcv_nxt: SubflowSeq,
        dsack: Option<SackBlock>,
        max: usize,
    ) -> SackList {
        let mut out = SackList::new();
        let max = max.min(super::sack::MAX_SACK_BLOCKS);
        let mut used = [false; ASSEMBLER_RANGES];
        let block = |r: &Range| SackBlock::new(rcv_nxt + r.start, rcv_nxt + r.end);
        if let Some(d) = dsack {
            if max == 0 {
                return out;
            }
            out.push(d);
            for (k, r) in self.held().iter().enumerate() {
                if block(r).contains(&d) {
                    if out.len() < max {
                        out.push(block(r));
                    }
                    used[k] = true;
                    break;
                }
            }
        }
        while out.len() < max {
            let mut best: Option<usize> = None;
            for (k, r) in self.held().iter().enumerate() {
                if !used[k] && best.is_none_or(|b| r.stamp > self.ranges[b].stamp) {
                    best = Some(k);
                }
            }
            let Some(k) = best else { break };
            used[k] = true;
            out.push(block(&self.ranges[k]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ranges(a: &Assembler) -> Vec<(usize, usize)> {
        a.ranges().collect()
    }

    #[test]
    fn in_order_data_is_contiguous_at_once() {
        let mut a = Assembler::new();
        assert_eq!(a.add(0, 100), Ok(100));
        assert!(a.is_empty());
        assert_eq!(a.add(0, 0), Ok(0));
    }

    #[test]
    fn hole_filled_releases_everything() {
        let mut a = Assembler::new();
        assert_eq!(a.add(100, 50), Ok(0));
        assert_eq!(a.add(200, 50), Ok(0));
        assert_eq!(ranges(&a), vec![(100, 150), (200, 250)]);
        assert_eq!(a.ooo_bytes(), 100);
        assert_eq!(a.high_end(), 250);
        // Fill [0,100): 150 bytes contiguous; the second range shifts.
        assert_eq!(a.add(0, 100), Ok(150));
        assert_eq!(ranges(&a), vec![(50, 100)]);
        assert_eq!(a.add(0, 50), Ok(100));
        assert!(a.is_empty());
    }

    #[test]
    fn duplicates_and_overlaps_merge() {
        let mut a = Assembler::new();
        a.add(10, 10).unwrap();
        a.add(30, 10).unwrap();
        a.add(50, 10).unwrap();
        assert!(a.contains(12, 5));
        assert!(!a.contains(15, 10));
        assert!(!a.contains(12, 0));
        // Exact duplicate.
        assert_eq!(a.add(30, 10), Ok(0));
        assert_eq!(a.range_count(), 3);
        // Overlap spanning two ranges.
        assert_eq!(a.add(15, 20), Ok(0));
        assert_eq!(ranges(&a), vec![(10, 40), (50, 60)]);
        // Touching merges.
        assert_eq!(a.add(40, 10), Ok(0));
        assert_eq!(ranges(&a), vec![(10, 60)]);
        // A segment covering the receive point and beyond everything.
        assert_eq!(a.add(0, 100), Ok(100));
        assert!(a.is_empty());
    }

    #[test]
    fn full_assembler_refuses_new_holes_but_accepts_merges_and_in_order() {
        let mut a = Assembler::new();
        for k in 0..ASSEMBLER_RANGES {
            assert_eq!(a.add(10 + k * 10, 5), Ok(0));
        }
        let far = 100 + ASSEMBLER_RANGES * 10;
        assert_eq!(a.add(far, 5), Err(TooManyHoles));
        // Extending a range needs no new slot.
        assert_eq!(a.add(15, 3), Ok(0));
        // Bridging two ranges frees one.
        assert_eq!(a.add(18, 2), Ok(0));
        assert_eq!(a.range_count(), ASSEMBLER_RANGES - 1);
        assert_eq!(a.add(far, 5), Ok(0));
        assert_eq!(a.add(2 * far, 5), Err(TooManyHoles));
        // In-order data is always accepted, even not touching any range.
        assert_eq!(a.add(0, 5), Ok(5));
    }

    #[test]
    fn sack_blocks_most_recent_first() {
        let base = SubflowSeq(1000);
        let mut a = Assembler::new();
        a.add(100, 10).unwrap(); // A
        a.add(300, 10).unwrap(); // B
        a.add(500, 10).unwrap(); // C
        let l = a.sack_blocks(base, None, 4);
        let want = [
            SackBlock::new(base + 500, base + 510),
            SackBlock::new(base + 300, base + 310),
            SackBlock::new(base + 100, base + 110),
        ];
        assert_eq!(l.as_slice(), &want);
        // A segment extending A makes A first.
        a.add(110, 10).unwrap();
        let l = a.sack_blocks(base, None, 2);
        assert_eq!(
            l.as_slice(),
            &[
                SackBlock::new(base + 100, base + 120),
                SackBlock::new(base + 500, base + 510)
            ]
        );
        assert!(a.sack_blocks(base, None, 0).is_empty());
        // At most four, whatever is asked.
        for k in 0..10 {
            a.add(1000 + k * 100, 1).unwrap();
        }
        assert_eq!(a.sack_blocks(base, None, 9).len(), 4);
    }

    #[test]
    fn dsack_first_then_its_containing_block() {
        let base = SubflowSeq(u32::MAX - 50);
        let mut a = Assembler::new();
        a.add(100, 50).unwrap();
        a.add(300, 50).unwrap();
        // Duplicate of data already held in the first range.
        let d = SackBlock::new(base + 110, base + 120);
        assert!(a.contains(110, 10));
        let l = a.sack_blocks(base, Some(d), 3);
        assert_eq!(
            l.as_slice(),
            &[
                d,
                SackBlock::new(base + 100, base + 150),
                SackBlock::new(base + 300, base + 350)
            ]
        );
        // A duplicate below RCV.NXT stands alone before the others.
        let d = SackBlock::new(base - 20, base - 10);
        let l = a.sack_blocks(base, Some(d), 3);
        assert_eq!(l[0], d);
        assert_eq!(l.len(), 3);
        assert_eq!(l[1], SackBlock::new(base + 300, base + 350));
    }

    proptest! {
        /// Against a byte bitmap: the contiguous count and the ranges always agree.
        #[test]
        fn matches_bitmap_model(segs in proptest::collection::vec((0usize..300, 1usize..40), 0..40)) {
            let mut a = Assembler::new();
            let mut have = vec![false; 400];
            let mut rcv = 0usize;
            for (abs, len) in segs {
                if abs + len <= rcv { continue; }
                let start = abs.max(rcv);
                let end = abs + len;
                let got = a.add(start - rcv, end - start);
                let Ok(got) = got else { continue };
                for b in &mut have[start..end] { *b = true; }
                let mut new_rcv = rcv;
                while have[new_rcv] { new_rcv += 1; }
                prop_assert_eq!(got, new_rcv - rcv);
                rcv = new_rcv;
                // Ranges equal the runs of the bitmap above rcv.
                let mut want = vec![];
                let mut k = rcv;
                while k < have.len() {
                    if have[k] {
                        let s = k;
                        while k < have.len() && have[k] { k += 1; }
                        want.push((s - rcv, k - rcv));
                    } else {
                        k += 1;
                    }
                }
                prop_assert_eq!(ranges(&a), want);
            }
        }
    }
}
