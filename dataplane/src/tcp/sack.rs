//! SACK blocks, the sender's SACK scoreboard, and conservative SACK-based loss recovery
//! (RFC 6675).
//!
//! [`Scoreboard`] remembers which bytes above `SND.UNA` (RFC 6675's HighACK) the peer has
//! SACKed, in at most [`SCOREBOARD_RANGES`] ranges (a block that would need more is
//! ignored and counted: the peer repeats its blocks, and forgetting a SACK only makes us
//! retransmit more, never less). On top of it are RFC 6675's routines: `IsLost`
//! ([`Scoreboard::is_lost`]), `SetPipe` ([`Scoreboard::pipe`]), `NextSeg`
//! ([`Scoreboard::next_seg`]), the DupAcks counting and entry/exit of loss recovery of
//! §5, and the RTO behaviour of §5.1.
//!
//! Conventions: RFC 6675 names octets inclusively ("HighRxt is the highest sequence number
//! retransmitted"); here every edge is exclusive, like SACK blocks on the wire: a range is
//! `[left, right)`, `high_rxt` is the sequence number just after the highest
//! retransmitted byte, `high_data` is `SND.MAX`, and RecoveryPoint is `high_data` at entry,
//! covered when `SND.UNA >= RecoveryPoint`.

use crate::seq::SubflowSeq;

/// How many SACKed ranges the scoreboard keeps: as many as the receiver's assembler
/// can report ([`super::assembler::ASSEMBLER_RANGES`]). 8 KiB per connection.
pub const SCOREBOARD_RANGES: usize = 1024;

/// The most SACK blocks one TCP option can carry (RFC 2018 §3: 40 option bytes).
pub const MAX_SACK_BLOCKS: usize = 4;

/// One SACK block: the bytes `[left, right)` (RFC 2018 §3: the right edge is the sequence
/// number just after the block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SubflowSeq,
    /// Sequence number just after the block.
    pub right: SubflowSeq,
}

impl SackBlock {
    /// A block `[left, right)`.
    pub fn new(left: SubflowSeq, right: SubflowSeq) -> Self {
        SackBlock { left, right }
    }

    /// Its length in bytes (0 for an empty or inverted block).
    pub fn len(&self) -> usize {
        if self.right > self.left {
            self.right - self.left
        } else {
            0
        }
    }

    /// Whether it covers no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `other` lies within this block.
    pub fn contains(&self, other: &SackBlock) -> bool {
        self.left <= other.left && other.right <= self.right
    }
}

/// Up to [`MAX_SACK_BLOCKS`] SACK blocks, in the order they go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SackList {
    blocks: [SackBlock; MAX_SACK_BLOCKS],
    len: usize,
}

impl SackList {
    /// An empty list.
    pub fn new() -> Self {
        SackList::default()
    }

    /// Appends a block; returns false (and drops it) when the list is full.
    pub fn push(&mut self, b: SackBlock) -> bool {
        match self.blocks.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The blocks.
    pub fn as_slice(&self) -> &[SackBlock] {
        self.blocks.get(..self.len).unwrap_or(&[])
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::ops::Deref for SackList {
    type Target = [SackBlock];
    fn deref(&self) -> &[SackBlock] {
        self.as_slice()
    }
}

/// What one ACK did to the scoreboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckSummary {
    /// Bytes newly acknowledged cumulatively (HighACK advanced by this much).
    pub acked: usize,
    /// Bytes newly SACKed (not previously SACKed nor acknowledged).
    pub newly_sacked: usize,
    /// A D-SACK block (RFC 2883 §4) reporting a duplicate the peer received.
    pub dsack: Option<SackBlock>,
    /// Blocks ignored: outside `[HighACK, HighData]`, inverted, or no room.
    pub ignored_blocks: u8,
    /// The ACK counted as a duplicate acknowledgment (RFC 6675 §2).
    pub dup_ack: bool,
    /// RFC 6675 §5 steps (1)/(2) hold: the caller should enter loss recovery
    /// ([`Scoreboard::enter_recovery`] after the congestion controller's reaction).
    pub enter_recovery: bool,
    /// RFC 6675 §5 (A): a cumulative ACK covered RecoveryPoint; recovery ended.
    pub exit_recovery: bool,
    /// The ACK covered the point recorded at the last RTO; the RTO loss phase ended.
    pub exit_loss: bool,
    /// A cumulative ACK during recovery that did not cover RecoveryPoint
    /// (RFC 6582 §3.2 step 5). Without SACK the caller retransmits
    /// [`Scoreboard::first_segment`] on it.
    pub partial_ack: bool,
}

/// What to send next during recovery ([`Scoreboard::next_seg`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextSeg {
    /// Retransmit `len` bytes from `seq`; then call [`Scoreboard::on_retransmit`].
    Retransmit {
        /// First byte.
        seq: SubflowSeq,
        /// Length, at most SMSS.
        len: usize,
    },
    /// Send new data (RFC 6675 §4 NextSeg rule 2).
    NewData,
    /// The rescue retransmission of rule 4; then call
    /// [`Scoreboard::on_rescue_retransmit`].
    Rescue {
        /// First byte.
        seq: SubflowSeq,
        /// Length, at most SMSS.
        len: usize,
    },
}

/// The sender's record of SACKed data and the RFC 6675 loss-recovery state.
#[derive(Debug, Clone)]
pub struct Scoreboard {
    /// SACKed ranges, sorted, disjoint and non-adjacent, all at or above `high_ack`.
    ranges: [SackBlock; SCOREBOARD_RANGES],
    len: usize,
    /// Total SACKed bytes.
    sacked_bytes: usize,
    /// HighACK: `SND.UNA`.
    high_ack: SubflowSeq,
    smss: usize,
    dup_thresh: u32,
    /// DupAcks of RFC 6675 §5.
    dup_acks: u32,
    /// Just after the highest byte retransmitted in this recovery (HighRxt + 1).
    high_rxt: SubflowSeq,
    /// RescueRxt of RFC 6675 §4 rule 4.
    rescue_rxt: Option<SubflowSeq>,
    /// RecoveryPoint while in loss recovery.
    recovery_point: Option<SubflowSeq>,
    /// After an RTO: HighData at the time; everything unSACKed below it counts as lost and
    /// no new recovery starts before HighACK reaches it (RFC 6675 §5.1).
    loss_point: Option<SubflowSeq>,
    /// No new recovery before HighACK reaches this (the last RecoveryPoint).
    recovery_barrier: SubflowSeq,
    /// SACK blocks dropped for lack of room, since creation.
    overflows: u64,
    /// The peer does SACK. Without it, duplicate ACKs stand in for SACKed segments.
    sack: bool,
    /// Without SACK: duplicate ACKs not yet matched by cumulative ACKs, each counted as
    /// one segment that left the network (Linux's `tcp_add_reno_sack`).
    reno_dupacks: u32,
}

impl Scoreboard {
    /// An empty scoreboard for a connection whose `SND.UNA` is `snd_una`, with sender
    /// MSS `smss` and duplicate threshold `dup_thresh` (RFC 6675: 3).
    pub fn new(snd_una: SubflowSeq, smss: usize, dup_thresh: u32) -> Self {
        Scoreboard {
            ranges: [SackBlock::default(); SCOREBOARD_RANGES],
            len: 0,
            sacked_bytes: 0,
            high_ack: snd_una,
            smss: smss.max(1),
            dup_thresh: dup_thresh.max(1),
            dup_acks: 0,
            high_rxt: snd_una,
            rescue_rxt: None,
            recovery_point: None,
            loss_point: None,
            recovery_barrier: snd_una,
            overflows: 0,
            sack: true,
            reno_dupacks: 0,
        }
    }

    /// Changes the sender MSS (after PMTU changes).
    pub fn set_smss(&mut self, smss: usize) {
        self.smss = smss.max(1);
    }

    /// HighACK (`SND.UNA`) as the scoreboard knows it.
    pub fn high_ack(&self) -> SubflowSeq {
        self.high_ack
    }

    /// Total bytes SACKed above HighACK.
    pub fn sacked_bytes(&self) -> usize {
        self.sacked_bytes
    }

    /// The SACKed ranges, lowest first.
    pub fn ranges(&self) -> &[SackBlock] {
        self.ranges.get(..self.len).unwrap_or(&[])
    }

    /// DupAcks (RFC 6675 §5).
    pub fn dup_acks(&self) -> u32 {
        self.dup_acks
    }

    /// Whether loss recovery (RFC 6675 §5) is in progress.
    pub fn in_recovery(&self) -> bool {
        self.recovery_point.is_some()
    }

    /// RecoveryPoint, while in recovery.
    pub fn recovery_point(&self) -> Option<SubflowSeq> {
        self.recovery_point
    }

    /// Whether the loss phase after an RTO is in progress.
    pub fn in_loss(&self) -> bool {
        self.loss_point.is_some()
    }

    /// HighRxt + 1: just after the highest retransmitted byte.
    pub fn high_rxt(&self) -> SubflowSeq {
        self.high_rxt
    }

    /// SACK blocks dropped for lack of room.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// The right edge of the highest SACKed range (RFC 6675's HighSACK + 1).
    pub fn high_sacked(&self) -> Option<SubflowSeq> {
        self.ranges().last().map(|r| r.right)
    }

    /// Whether every byte of `[seq, seq+len)` is SACKed.
    pub fn is_sacked(&self, seq: SubflowSeq, len: usize) -> bool {
        let b = SackBlock::new(seq, seq + len);
        self.ranges().iter().any(|r| r.contains(&b))
    }

    /// Whether the peer does SACK (RFC 2018 §2: SACK-permitted in both SYNs). Without it,
    /// use [`update_no_sack`](Self::update_no_sack) and no rescue retransmission is made.
    pub fn set_sack_enabled(&mut self, on: bool) {
        self.sack = on;
    }

    /// Without SACK: duplicate ACKs counted as segments that left the network.
    pub fn reno_dupacks(&self) -> u32 {
        self.reno_dupacks
    }

    /// Forgets all SACK information (RFC 2018 §8 lets a sender do so after an RTO, since
    /// the receiver may renege).
    pub fn clear_sacks(&mut self) {
        self.len = 0;
        self.sacked_bytes = 0;
    }

    /// The RFC 6675 `Update()` routine plus the DupAcks bookkeeping and recovery
    /// entry/exit checks of §5, for an ACK of `ack` carrying `blocks`, with `high_data`
    /// the highest sequence number sent plus one (`SND.MAX`).
    ///
    /// The caller has already checked that the ACK is acceptable
    /// (`SND.UNA <= ack <= SND.NXT`, RFC 9293 §3.10.7.4); an `ack` outside
    /// `[HighACK, high_data]` is ignored here.
    pub fn update(
        &mut self,
        ack: SubflowSeq,
        blocks: &[SackBlock],
        high_data: SubflowSeq,
    ) -> AckSummary {
        let mut s = AckSummary::default();
        if ack > self.high_ack && ack <= high_data {
            s.acked = ack - self.high_ack;
            self.advance(ack);
        }

        // RFC 2883 §4: the first block reports a duplicate if it lies below the cumulative
        // ACK, or inside the second block.
        let mut rest = blocks;
        if let Some(first) = blocks.first() {
            let below = first.left < ack;
            let inside = blocks.get(1).is_some_and(|second| second.contains(first));
            if (below || inside) && !first.is_empty() {
                s.dsack = Some(*first);
                rest = blocks.get(1..).unwrap_or(&[]);
            }
        }
        for b in rest {
            // RFC 2018 §8 / RFC 6675 §5: only blocks inside [HighACK, HighData] carry
            // information; a block for unsent data or an inverted block is invalid.
            if b.is_empty() || b.right > high_data || b.right <= self.high_ack {
                s.ignored_blocks = s.ignored_blocks.saturating_add(1);
                continue;
            }
            let left = b.left.max(self.high_ack);
            match self.insert(SackBlock::new(left, b.right)) {
                Some(n) => s.newly_sacked += n,
                None => {
                    self.overflows += 1;
                    s.ignored_blocks = s.ignored_blocks.saturating_add(1);
                }
            }
        }

        if s.acked > 0 {
            // RFC 6675 §5: "If the incoming ACK is a cumulative acknowledgment, the TCP
            // MUST reset DupAcks to zero."
            self.dup_acks = 0;
        } else if s.newly_sacked > 0 {
            s.dup_ack = true;
            if !self.in_recovery() {
                self.dup_acks = self.dup_acks.saturating_add(1);
            }
        }

        self.finish(&mut s, high_data);
        s
    }

    /// [`update`](Self::update) for a peer without SACK (RFC 5681 §3.2, RFC 6582).
    /// `dup` says the ACK is a duplicate by RFC 5681 §2's definition (no data, no
    /// SYN/FIN, `ack == SND.UNA`, same window, data outstanding), which the caller
    /// checks. Each duplicate ACK counts as one segment that left the network, which
    /// shrinks the pipe as RFC 5681 §3.2's window inflation would grow cwnd.
    pub fn update_no_sack(
        &mut self,
        ack: SubflowSeq,
        dup: bool,
        high_data: SubflowSeq,
    ) -> AckSummary {
        let mut s = AckSummary::default();
        if ack > self.high_ack && ack <= high_data {
            s.acked = ack - self.high_ack;
            // The first segment acknowledged filled the hole; the others had been
            // counted by duplicate ACKs (Linux's tcp_remove_reno_sacks).
            let segs = s.acked.div_ceil(self.smss);
            let matched = u32::try_from(segs.saturating_sub(1)).unwrap_or(u32::MAX);
            self.reno_dupacks = self.reno_dupacks.saturating_sub(matched);
            self.advance(ack);
            self.dup_acks = 0;
        } else if dup && ack == self.high_ack && high_data > self.high_ack {
            s.dup_ack = true;
            if !self.in_recovery() {
                self.dup_acks = self.dup_acks.saturating_add(1);
            }
            let outstanding = (high_data - self.high_ack).div_ceil(self.smss);
            if (self.reno_dupacks as usize) < outstanding {
                self.reno_dupacks += 1;
            }
        }
        self.finish(&mut s, high_data);
        s
    }

    /// Recovery exit, loss-phase exit and recovery entry checks shared by both updates.
    fn finish(&mut self, s: &mut AckSummary, high_data: SubflowSeq) {
        if let Some(rp) = self.recovery_point {
            // RFC 6675 §5 (A): a cumulative ACK covering RecoveryPoint ends recovery; it
            // MUST be terminated.
            if self.high_ack >= rp {
                self.recovery_point = None;
                self.rescue_rxt = None;
                self.reno_dupacks = 0;
                s.exit_recovery = true;
            } else if s.acked > 0 {
                s.partial_ack = true;
                if !self.sack {
                    // RFC 6582 §3.2 step 5: retransmit the first unacknowledged segment.
                    self.high_rxt = self.high_ack;
                }
            }
        }
        if let Some(lp) = self.loss_point {
            if self.high_ack >= lp {
                self.loss_point = None;
                s.exit_loss = true;
            }
        }
        if !self.in_recovery()
            && !self.in_loss()
            && !s.exit_recovery
            && self.high_ack >= self.recovery_barrier
            && high_data > self.high_ack
        {
            // RFC 6675 §5 (1): DupAcks >= DupThresh; (2): IsLost(HighACK + 1). Without
            // SACK, RFC 6582 §3.2 step 1: three duplicates and the ACK is above the
            // previous recovery's `recover` (the barrier).
            s.enter_recovery = self.dup_acks >= self.dup_thresh || self.is_lost(self.high_ack);
        }
    }

    /// Moves HighACK to `ack`, dropping SACK ranges it covers.
    fn advance(&mut self, ack: SubflowSeq) {
        self.high_ack = ack;
        if self.high_rxt < ack {
            self.high_rxt = ack;
        }
        let mut keep = 0;
        for i in 0..self.len {
            let mut r = self.ranges[i];
            if r.right <= ack {
                self.sacked_bytes -= r.len();
                continue;
            }
            if r.left < ack {
                self.sacked_bytes -= ack - r.left;
                r.left = ack;
            }
            self.ranges[keep] = r;
            keep += 1;
        }
        self.len = keep;
    }

    /// Adds `b` (non-empty, above HighACK) to the ranges; returns the bytes newly
    /// covered, or `None` when it needed a slot and none was free.
    fn insert(&mut self, b: SackBlock) -> Option<usize> {
        let n = self.len;
        // First range that ends at or after b.left (could merge), and first that starts
        // after b.right (cannot).
        let i = (0..n)
            .find(|&k| self.ranges[k].right >= b.left)
            .unwrap_or(n);
        let j = (i..n).find(|&k| self.ranges[k].left > b.right).unwrap_or(n);
        if i == j {
            if n == SCOREBOARD_RANGES {
                return None;
            }
            self.ranges.copy_within(i..n, i + 1);
            self.ranges[i] = b;
            self.len += 1;
            self.sacked_bytes += b.len();
            return Some(b.len());
        }
        let covered: usize = self.ranges[i..j].iter().map(SackBlock::len).sum();
        let merged = SackBlock::new(
            b.left.min(self.ranges[i].left),
            b.right.max(self.ranges[j - 1].right),
        );
        self.ranges[i] = merged;
        self.ranges.copy_within(j..n, i + 1);
        self.len = n - (j - i - 1);
        let new = merged.len() - covered;
        self.sacked_bytes += new;
        Some(new)
    }

    /// SACKed bytes and number of SACKed ranges strictly above `seq`.
    fn sacked_above(&self, seq: SubflowSeq) -> (usize, u32) {
        let mut bytes = 0;
        let mut count = 0;
        for r in self.ranges().iter().rev() {
            if r.right <= seq + 1 {
                break;
            }
            bytes += r.right - r.left.max(seq + 1);
            count += 1;
        }
        (bytes, count)
    }

    fn lost_by_sacks(&self, bytes: usize, count: u32) -> bool {
        // RFC 6675 §4 IsLost: DupThresh discontiguous SACKed sequences above, or more than
        // (DupThresh - 1) * SMSS bytes SACKed above.
        count >= self.dup_thresh || bytes > (self.dup_thresh as usize - 1) * self.smss
    }

    /// RFC 6675 `IsLost(seq)`: whether the byte `seq` is deemed lost. After an RTO every
    /// byte below the RTO's HighData is (RFC 6675 §5.1 leaves the choice to the sender;
    /// this follows Linux's loss state).
    pub fn is_lost(&self, seq: SubflowSeq) -> bool {
        if self.loss_point.is_some_and(|lp| seq < lp) {
            return true;
        }
        let (bytes, count) = self.sacked_above(seq);
        self.lost_by_sacks(bytes, count)
    }

    /// Calls `f(left, right, lost)` for every unSACKed hole in `[HighACK, high_data)`,
    /// highest first. By the SACK rule `lost` is constant over a hole, since no SACKed
    /// byte lies inside; a hole that straddles the RTO loss point is split there.
    fn for_each_hole_rev(
        &self,
        high_data: SubflowSeq,
        mut f: impl FnMut(SubflowSeq, SubflowSeq, bool),
    ) {
        let lp = self.loss_point;
        let mut emit = |left: SubflowSeq, right: SubflowSeq, by_sacks: bool| match lp {
            Some(lp) if left < lp && lp < right => {
                f(lp, right, by_sacks);
                f(left, lp, true);
            }
            Some(lp) if right <= lp => f(left, right, true),
            _ => f(left, right, by_sacks),
        };
        let mut bytes = 0usize;
        let mut count = 0u32;
        let mut top = high_data;
        for r in self.ranges().iter().rev() {
            if r.right < top {
                emit(r.right, top, self.lost_by_sacks(bytes, count));
            }
            bytes += r.len();
            count += 1;
            top = r.left;
        }
        if self.high_ack < top {
            emit(self.high_ack, top, self.lost_by_sacks(bytes, count));
        }
    }

    /// RFC 6675 `SetPipe()`: the bytes estimated in flight. An unSACKed byte counts once
    /// if not deemed lost, and once more if it was retransmitted (below HighRxt).
    pub fn pipe(&self, high_data: SubflowSeq) -> usize {
        let mut pipe = 0;
        let rxt = self.high_rxt;
        self.for_each_hole_rev(high_data, |left, right, lost| {
            let len = right - left;
            if !lost {
                pipe += len;
            }
            if rxt > left {
                pipe += (rxt.min(right)) - left;
            }
        });
        // Without SACK each duplicate ACK means a segment left the network; this is
        // RFC 5681 §3.2's window inflation seen from the pipe's side.
        pipe.saturating_sub(self.reno_dupacks as usize * self.smss)
    }

    /// RFC 6675 `NextSeg()`: what to send next in recovery (or in the loss phase after an
    /// RTO). `can_send_new` is rule 2's condition: unsent data is available and the
    /// receive window allows it. `None` when nothing should be sent.
    pub fn next_seg(&self, high_data: SubflowSeq, can_send_new: bool) -> Option<NextSeg> {
        let from = self.high_rxt.max(self.high_ack);
        // Rule (1.b) bound: below the highest SACKed byte (or the RTO point).
        let bound = match (self.high_sacked(), self.loss_point) {
            (Some(h), Some(l)) => h.max(l),
            (Some(h), None) => h,
            (None, Some(l)) => l,
            (None, None) => self.high_ack,
        }
        .min(high_data);
        let mut lowest_lost: Option<(SubflowSeq, SubflowSeq)> = None;
        let mut lowest_any: Option<(SubflowSeq, SubflowSeq)> = None;
        self.for_each_hole_rev(high_data, |left, right, lost| {
            let start = left.max(from);
            let end = right.min(bound);
            if start >= end {
                return;
            }
            // Holes come highest first; the last one seen is the lowest.
            lowest_any = Some((start, end));
            if lost {
                lowest_lost = Some((start, end));
            }
        });
        let seg = |(s, e): (SubflowSeq, SubflowSeq)| NextSeg::Retransmit {
            seq: s,
            len: (e - s).min(self.smss),
        };
        // Rule 1: the first lost unSACKed byte above HighRxt below HighSACK.
        if let Some(h) = lowest_lost {
            return Some(seg(h));
        }
        // Rule 2: new data.
        if can_send_new {
            return Some(NextSeg::NewData);
        }
        // Rule 3: the first unSACKed byte above HighRxt below HighSACK, lost or not.
        if let Some(h) = lowest_any {
            return Some(seg(h));
        }
        // Rule 4: one rescue retransmission per recovery, of the highest unSACKed byte.
        if !self.sack {
            return None;
        }
        self.recovery_point?;
        if self.rescue_rxt.is_some_and(|r| self.high_ack <= r) {
            return None;
        }
        let mut highest: Option<(SubflowSeq, SubflowSeq)> = None;
        self.for_each_hole_rev(high_data, |left, right, _| {
            if highest.is_none() {
                highest = Some((left, right));
            }
        });
        let (left, right) = highest?;
        let len = (right - left).min(self.smss);
        // RFC 6675 §4 rule 4: the segment MUST include the highest outstanding unSACKed
        // sequence number.
        Some(NextSeg::Rescue {
            seq: right - len,
            len,
        })
    }

    /// Record a retransmission of `[seq, seq+len)` (RFC 6675 §5 (C.3): HighRxt MUST be set
    /// to the highest sequence number of the retransmitted segment).
    pub fn on_retransmit(&mut self, seq: SubflowSeq, len: usize) {
        let end = seq + len;
        if end > self.high_rxt {
            self.high_rxt = end;
        }
    }

    /// Record the rescue retransmission: RescueRxt = RecoveryPoint; HighRxt MUST NOT be
    /// updated (RFC 6675 §4 rule 4).
    pub fn on_rescue_retransmit(&mut self) {
        self.rescue_rxt = self.recovery_point;
    }

    /// Enter loss recovery (RFC 6675 §5 step (4)): RecoveryPoint = HighData. The caller
    /// has let the congestion controller set ssthresh and cwnd (4.2) and next
    /// retransmits the first segment (4.3), which [`first_segment`](Self::first_segment)
    /// gives.
    pub fn enter_recovery(&mut self, high_data: SubflowSeq) {
        self.recovery_point = Some(high_data);
        self.recovery_barrier = high_data;
        self.high_rxt = self.high_ack;
        self.rescue_rxt = None;
    }

    /// The segment starting at HighACK, up to SMSS and not into SACKed data: what
    /// RFC 6675 §5 (4.3) retransmits on entering recovery.
    pub fn first_segment(&self, high_data: SubflowSeq) -> Option<NextSeg> {
        let end = self
            .ranges()
            .first()
            .map_or(high_data, |r| r.left)
            .min(high_data);
        if end <= self.high_ack {
            return None;
        }
        Some(NextSeg::Retransmit {
            seq: self.high_ack,
            len: (end - self.high_ack).min(self.smss),
        })
    }

    /// The retransmission timer expired (RFC 6675 §5.1): recovery is terminated,
    /// RecoveryPoint becomes HighData and no new recovery starts until HighACK reaches
    /// it; retransmission restarts at HighACK and every unSACKed byte below HighData is
    /// deemed lost (SACK information is kept and used to skip SACKed data).
    pub fn on_rto(&mut self, high_data: SubflowSeq) {
        self.recovery_point = None;
        self.rescue_rxt = None;
        self.recovery_barrier = high_data;
        self.loss_point = if high_data > self.high_ack {
            Some(high_data)
        } else {
            None
        };
        self.high_rxt = self.high_ack;
        self.dup_acks = 0;
        self.reno_dupacks = 0;
    }
}

#[cfg(test)]
mod tests;
