//! The data-level send buffer, indexed by DSN, with reinjection.
//!
//! The application appends data ([`SendBuf::append`], one `Bytes` chunk per call, the
//! only place that may allocate); a subflow reads `[dsn, dsn + len)` as zero-copy
//! `Bytes` slices ([`SendBuf::peek`], [`SendBuf::read`]); the bytes stay immutable until
//! the peer DATA_ACKs them ([`SendBuf::release`]). `Bytes` is `Send + Sync` and
//! reference-counted, so a slice read on the home worker can be handed to a subflow on
//! another core with no copy and no lock: the buffer itself belongs to one worker (the
//! connection's home) and the other cores only ever see immutable slices of it.
//!
//! The buffer also remembers which DSN ranges went out on which subflow
//! ([`SendBuf::record_sent`]). When a subflow fails or stalls, its DATA-unacknowledged
//! ranges are queued for **reinjection** ([`SendBuf::reinject_subflow`]) and sent again
//! on other subflows under their original DSNs ([`SendBuf::poll_reinject`]): the
//! receiver reassembles by DSN, so a range that arrives twice is delivered once
//! (RFC 8684 §3.3.6: data may be retransmitted on any subflow; the receiver discards
//! duplicates).
//!
//! [`StaleDetector`] says when a subflow has stalled: more than `stale_loss_cnt`
//! consecutive RTOs without progress while another subflow works (Linux's
//! `mptcp_pm_subflow_chk_stale` and `net.mptcp.stale_loss_cnt`, default 4).

use std::collections::VecDeque;

use bytes::Bytes;

use super::shared::MAX_SUBFLOWS;
use crate::seq::DataSeq;

/// DSN ranges that went out on one subflow (half-open `[start, end)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentRange {
    /// The subflow (snapshot slot) it was sent on.
    pub subflow: u8,
    pub start: DataSeq,
    pub end: DataSeq,
    /// Already queued for reinjection (not queued twice).
    pub reinjected: bool,
}

/// A range to send again on another subflow, under its original DSNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reinject {
    pub dsn: DataSeq,
    pub len: u64,
    /// The subflow it was first sent on (the one that failed or stalled); `u8::MAX` when
    /// queued by [`SendBuf::reinject_range`].
    pub from: u8,
}

/// Counters of the send buffer (Linux MIB names where they exist).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendBufStats {
    /// Bytes queued for reinjection.
    pub reinjected_bytes: u64,
    /// Ranges queued for reinjection.
    pub reinjections: u64,
}

/// The send buffer. See the module docs.
#[derive(Debug)]
pub struct SendBuf {
    /// Contiguous chunks: `(first DSN, bytes)`; the first starts at `head`.
    chunks: VecDeque<(u64, Bytes)>,
    /// DSN of the first byte still held (everything before is DATA_ACKed).
    head: u64,
    /// DSN after the last byte appended (`write_seq`).
    tail: u64,
    capacity: usize,
    sent: VecDeque<SentRange>,
    reinject: VecDeque<Reinject>,
    stats: SendBufStats,
}

impl SendBuf {
    /// An empty buffer whose first byte will have DSN `start` (the IDSN + 1), holding at
    /// most `capacity` bytes not yet DATA_ACKed. Its rings are preallocated.
    pub fn new(start: DataSeq, capacity: usize) -> Self {
        SendBuf {
            chunks: VecDeque::with_capacity(64),
            head: start.0,
            tail: start.0,
            capacity,
            sent: VecDeque::with_capacity(64),
            reinject: VecDeque::with_capacity(16),
            stats: SendBufStats::default(),
        }
    }

    /// DSN of the oldest byte still held (= the DATA_ACK released so far).
    pub fn head(&self) -> DataSeq {
        DataSeq(self.head)
    }

    /// DSN after the last byte appended (what `SharedData::publish_write_seq` publishes).
    pub fn write_seq(&self) -> DataSeq {
        DataSeq(self.tail)
    }

    /// Bytes held (appended, not yet DATA_ACKed).
    pub fn len(&self) -> usize {
        (self.tail - self.head) as usize
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.tail == self.head
    }

    /// Bytes the application may still append.
    pub fn free_space(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }

    /// Counters.
    pub fn stats(&self) -> SendBufStats {
        self.stats
    }

    /// Appends as much of `data` as fits (a zero-copy slice of it when not all fits);
    /// returns how many bytes were taken.
    pub fn append(&mut self, mut data: Bytes) -> usize {
        let n = data.len().min(self.free_space());
        if n == 0 {
            return 0;
        }
        data.truncate(n);
        self.chunks.push_back((self.tail, data));
        self.tail += n as u64;
        n
    }

    /// Appends a copy of `data` (as much as fits); returns how many bytes were taken.
    pub fn append_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free_space());
        if n == 0 {
            return 0;
        }
        self.append(Bytes::copy_from_slice(&data[..n]))
    }

    /// Index of the chunk holding `dsn`, which must be in `[head, tail)`.
    fn chunk_index(&self, dsn: u64) -> usize {
        self.chunks.partition_point(|c| c.0 <= dsn) - 1
    }

    /// The longest contiguous slice starting at `dsn`, at most `max_len` bytes, from one
    /// chunk (no copy). `None` when `dsn` is not held (acknowledged or not appended).
    pub fn peek(&self, dsn: DataSeq, max_len: usize) -> Option<Bytes> {
        let dsn = dsn.0;
        if dsn < self.head || dsn >= self.tail || max_len == 0 {
            return None;
        }
        let (start, bytes) = &self.chunks[self.chunk_index(dsn)];
        let off = (dsn - start) as usize;
        let end = bytes.len().min(off + max_len);
        Some(bytes.slice(off..end))
    }

    /// The held part of `[dsn, dsn + len)` as zero-copy slices, in order.
    pub fn read(&self, dsn: DataSeq, len: usize) -> Read<'_> {
        Read {
            buf: self,
            at: dsn.0.max(self.head),
            end: dsn.0.saturating_add(len as u64).min(self.tail),
        }
    }

    /// Copies the held part of `[dsn, dsn + out.len())` into `out`; returns the count.
    pub fn copy_to(&self, dsn: DataSeq, out: &mut [u8]) -> usize {
        if dsn.0 < self.head {
            return 0;
        }
        let mut n = 0;
        for piece in self.read(dsn, out.len()) {
            out[n..n + piece.len()].copy_from_slice(&piece);
            n += piece.len();
        }
        n
    }

    /// The peer DATA_ACKed everything before `ack`: drop it, and forget sent and
    /// reinjection ranges below it. Returns how many bytes were released. An ACK past
    /// the data (the DATA_FIN's extra DSN) releases everything.
    pub fn release(&mut self, ack: DataSeq) -> usize {
        let ack = ack.0.min(self.tail);
        if ack <= self.head {
            return 0;
        }
        let freed = (ack - self.head) as usize;
        while let Some((start, bytes)) = self.chunks.front_mut() {
            let end = *start + bytes.len() as u64;
            if end <= ack {
                self.chunks.pop_front();
            } else {
                if *start < ack {
                    // Slicing keeps the same allocation; no copy.
                    *bytes = bytes.slice((ack - *start) as usize..);
                    *start = ack;
                }
                break;
            }
        }
        self.head = ack;
        self.sent.retain_mut(|r| {
            r.start.0 = r.start.0.max(ack);
            r.end.0 > ack
        });
        self.reinject.retain_mut(|r| {
            let end = r.dsn.0 + r.len;
            if end <= ack {
                return false;
            }
            if r.dsn.0 < ack {
                r.len = end - ack;
                r.dsn.0 = ack;
            }
            true
        });
        freed
    }

    // ---- which subflow carried what ----

    /// `[dsn, dsn + len)` went out on `subflow` (first transmission or reinjection).
    /// Contiguous sends on the same subflow are merged into one range.
    pub fn record_sent(&mut self, subflow: u8, dsn: DataSeq, len: u64) {
        if len == 0 || dsn.0 + len <= self.head {
            return;
        }
        let start = dsn.0.max(self.head);
        let end = dsn.0 + len;
        if let Some(last) = self.sent.back_mut() {
            if last.subflow == subflow && last.end.0 == start && !last.reinjected {
                last.end.0 = end;
                return;
            }
        }
        self.sent.push_back(SentRange {
            subflow,
            start: DataSeq(start),
            end: DataSeq(end),
            reinjected: false,
        });
    }

    /// The ranges sent and not DATA_ACKed yet, oldest send first.
    pub fn sent_ranges(&self) -> impl Iterator<Item = &SentRange> {
        self.sent.iter()
    }

    /// Bytes sent on `subflow` and not DATA_ACKed yet.
    pub fn outstanding_on(&self, subflow: u8) -> u64 {
        self.sent
            .iter()
            .filter(|r| r.subflow == subflow)
            .map(|r| r.end - r.start)
            .sum()
    }

    /// Queues every not-yet-DATA_ACKed range sent on `subflow` for reinjection on the
    /// others (the subflow failed, was closed, or went stale). A range is queued once.
    /// Returns the bytes queued by this call.
    pub fn reinject_subflow(&mut self, subflow: u8) -> u64 {
        let mut queued = 0;
        for r in self.sent.iter_mut() {
            if r.subflow == subflow && !r.reinjected && r.end > r.start {
                r.reinjected = true;
                let len = r.end - r.start;
                self.reinject.push_back(Reinject {
                    dsn: r.start,
                    len,
                    from: subflow,
                });
                queued += len;
                self.stats.reinjections += 1;
            }
        }
        self.stats.reinjected_bytes += queued;
        queued
    }

    /// Queues `[dsn, dsn + len)` (its held part) for reinjection regardless of where it
    /// went, e.g. the head of the buffer on a data-level retransmission timeout (Linux's
    /// `__mptcp_retrans`). Returns the bytes queued.
    pub fn reinject_range(&mut self, dsn: DataSeq, len: u64) -> u64 {
        let start = dsn.0.max(self.head);
        let end = dsn.0.saturating_add(len).min(self.tail);
        if end <= start {
            return 0;
        }
        self.reinject.push_back(Reinject {
            dsn: DataSeq(start),
            len: end - start,
            from: u8::MAX,
        });
        self.stats.reinjections += 1;
        self.stats.reinjected_bytes += end - start;
        end - start
    }

    /// Bytes waiting in the reinjection queue.
    pub fn reinject_queued(&self) -> u64 {
        self.reinject.iter().map(|r| r.len).sum()
    }

    /// The next range to reinject, at most `max_len` bytes (ranges DATA_ACKed meanwhile
    /// are already gone). The caller sends it on another subflow, with a DSS mapping at
    /// the original DSN, and then calls [`record_sent`](Self::record_sent).
    pub fn poll_reinject(&mut self, max_len: u64) -> Option<Reinject> {
        if max_len == 0 {
            return None;
        }
        let front = self.reinject.front_mut()?;
        let n = front.len.min(max_len);
        let out = Reinject {
            dsn: front.dsn,
            len: n,
            from: front.from,
        };
        if n == front.len {
            self.reinject.pop_front();
        } else {
            front.dsn.0 += n;
            front.len -= n;
        }
        Some(out)
    }
}

/// Iterator over the zero-copy slices of a range ([`SendBuf::read`]).
#[derive(Debug)]
pub struct Read<'a> {
    buf: &'a SendBuf,
    at: u64,
    end: u64,
}

impl Iterator for Read<'_> {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        if self.at >= self.end {
            return None;
        }
        let piece = self
            .buf
            .peek(DataSeq(self.at), (self.end - self.at) as usize)?;
        self.at += piece.len() as u64;
        Some(piece)
    }
}

/// Stale-subflow detection (Linux `stale_count` / `stale_loss_cnt`): a subflow whose
/// retransmission timer fired more than `stale_loss_cnt` times in a row without
/// progress, while another active subflow is doing fine, is marked stale: the
/// scheduler skips it and its outstanding data is reinjected elsewhere. It becomes
/// usable again as soon as it makes progress.
#[derive(Debug, Clone, Copy)]
pub struct StaleDetector {
    counts: [u8; MAX_SUBFLOWS],
    stale: u8,
    stale_loss_cnt: u8,
}

impl StaleDetector {
    /// Linux's default `net.mptcp.stale_loss_cnt`.
    pub const DEFAULT_LOSS_CNT: u8 = 4;

    /// A detector with the given threshold; 0 disables detection (as in Linux).
    pub fn new(stale_loss_cnt: u8) -> Self {
        StaleDetector {
            counts: [0; MAX_SUBFLOWS],
            stale: 0,
            stale_loss_cnt,
        }
    }

    /// Consecutive RTOs without progress of `slot`.
    pub fn count(&self, slot: usize) -> u8 {
        self.counts.get(slot).copied().unwrap_or(0)
    }

    /// Whether `slot` is marked stale.
    pub fn is_stale(&self, slot: usize) -> bool {
        slot < MAX_SUBFLOWS && self.stale & 1 << slot != 0
    }

    /// Bit i set: slot i is stale.
    pub fn stale_mask(&self) -> u8 {
        self.stale
    }

    /// The retransmission timer of `slot` fired.
    pub fn on_rto(&mut self, slot: usize) {
        if let Some(c) = self.counts.get_mut(slot) {
            *c = c.saturating_add(1);
        }
    }

    /// `slot` made progress (new data acknowledged or anything heard from the peer): its
    /// count resets and it is no longer stale. Returns whether it was stale.
    pub fn on_progress(&mut self, slot: usize) -> bool {
        if slot >= MAX_SUBFLOWS {
            return false;
        }
        self.counts[slot] = 0;
        let was = self.stale & 1 << slot != 0;
        self.stale &= !(1 << slot);
        was
    }

    /// The subflow in `slot` closed: forget it.
    pub fn reset(&mut self, slot: usize) {
        self.on_progress(slot);
    }

    /// Checks `slot` after an RTO. It becomes stale when its count exceeds the threshold,
    /// it still has data outstanding, and some other subflow in `active` (bit i: slot i
    /// may send) has fewer than `max(stale_loss_cnt - 1, 1)` RTOs in a row. Returns true
    /// when it has just become stale: the caller marks it in its snapshot and calls
    /// [`SendBuf::reinject_subflow`].
    pub fn check(&mut self, slot: usize, active: u8, has_outstanding: bool) -> bool {
        if slot >= MAX_SUBFLOWS
            || self.stale_loss_cnt == 0
            || self.is_stale(slot)
            || self.counts[slot] <= self.stale_loss_cnt
            || !has_outstanding
        {
            return false;
        }
        let active_max = self.stale_loss_cnt.saturating_sub(1).max(1);
        let alternative = (0..MAX_SUBFLOWS).any(|i| {
            i != slot
                && active & 1 << i != 0
                && self.stale & 1 << i == 0
                && self.counts[i] < active_max
        });
        if alternative {
            self.stale |= 1 << slot;
        }
        alternative
    }
}

/// The stale check of one subflow from the connection's published snapshots, for a
/// worker that owns only that subflow (the others live on other cores): the same rule
/// as [`StaleDetector::check`], with the other subflows' RTO counts read from their
/// snapshots (`stale_count`, flags ACTIVE/STALE). `count`: this subflow's consecutive
/// RTOs without progress. Returns true when the subflow should be marked stale.
pub fn should_mark_stale(
    slot: usize,
    count: u8,
    stale_loss_cnt: u8,
    has_outstanding: bool,
    shared: &super::shared::SharedData,
) -> bool {
    use super::shared::sf_flags;
    if stale_loss_cnt == 0 || count <= stale_loss_cnt || !has_outstanding {
        return false;
    }
    let me = shared.snapshot(slot);
    if me.flags & sf_flags::STALE != 0 {
        return false;
    }
    let active_max = stale_loss_cnt.saturating_sub(1).max(1);
    let used = shared.slots_used();
    (0..MAX_SUBFLOWS).any(|i| {
        if i == slot || used & 1 << i == 0 {
            return false;
        }
        let s = shared.snapshot(i);
        s.flags & sf_flags::ACTIVE != 0
            && s.flags & sf_flags::STALE == 0
            && s.stale_count < active_max
    })
}

impl Default for StaleDetector {
    fn default() -> Self {
        StaleDetector::new(Self::DEFAULT_LOSS_CNT)
    }
}

#[cfg(test)]
mod tests;
