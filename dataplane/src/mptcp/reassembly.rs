//! The data-level receive side: the out-of-order queue keyed by DSN.
//!
//! Subflows turn their in-order bytes into `(DSN, bytes)` pieces
//! ([`super::mapping::RxMapper`]) and hand them to the connection's home worker, which
//! inserts them here from all subflows in whatever order they arrive
//! ([`Reassembly::insert`]). Pieces may overlap or repeat (reinjections, retransmissions
//! on another subflow); every DSN is delivered once, in order ([`Reassembly::recv`],
//! [`Reassembly::pop`]). The DATA_ACK to send is the next DSN expected
//! ([`Reassembly::ack`]), plus one once the DATA_FIN is reached (RFC 8684 §3.3.3: the
//! DATA_FIN occupies one DSN).
//!
//! The buffer is bounded by the receive window: data is accepted in
//! `[ack, wnd_end)`, where the right edge `wnd_end = ack + capacity - unread` never
//! moves backwards (RFC 8684 §3.3.5); anything beyond is dropped and counted (the peer
//! sends it again). Out-of-order data lives inside the window, so the bytes held never
//! exceed the capacity. Pieces are `Bytes`, kept without copying; the queue is a
//! sorted ring of non-overlapping pieces (preallocated; it grows only if more than its
//! initial slots are needed at once).

use std::collections::VecDeque;

use bytes::Bytes;

use crate::seq::DataSeq;

/// Counters, named after Linux's `MPTcpExt*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// `DuplicateData`: pieces (or parts) that were already received.
    pub duplicate_data: u64,
    /// `OFOQueue`: pieces queued out of order.
    pub ofo_queue: u64,
    /// `RcvPruned`-like: pieces (or parts) dropped beyond the receive window.
    pub rcv_pruned: u64,
    /// Bytes dropped beyond the DATA_FIN.
    pub data_after_fin: u64,
    /// DATA_FINs ignored (a second one at another DSN, or one behind delivered data).
    pub bad_data_fin: u64,
}

/// The data-level out-of-order queue and in-order delivery buffer. See the module docs.
#[derive(Debug)]
pub struct Reassembly {
    /// Next DSN expected (the DATA_ACK before the DATA_FIN).
    rcv_nxt: u64,
    capacity: usize,
    wnd_end: u64,
    /// In-order data not read by the application yet.
    ready: VecDeque<Bytes>,
    ready_len: usize,
    /// Out-of-order pieces: sorted by DSN, non-overlapping, all after `rcv_nxt`.
    ooo: VecDeque<(u64, Bytes)>,
    ooo_len: usize,
    fin: Option<u64>,
    stats: ReassemblyStats,
}

impl Reassembly {
    /// An empty queue expecting DSN `rcv_nxt` first (the peer's IDSN + 1), buffering at
    /// most `capacity` bytes (in order and out of order together).
    pub fn new(rcv_nxt: DataSeq, capacity: usize) -> Self {
        Reassembly {
            rcv_nxt: rcv_nxt.0,
            capacity,
            wnd_end: rcv_nxt.0.saturating_add(capacity as u64),
            ready: VecDeque::with_capacity(64),
            ready_len: 0,
            ooo: VecDeque::with_capacity(64),
            ooo_len: 0,
            fin: None,
            stats: ReassemblyStats::default(),
        }
    }

    /// The DATA_ACK to send: the next DSN expected, counting the DATA_FIN's DSN once
    /// everything before it arrived.
    pub fn ack(&self) -> DataSeq {
        DataSeq(self.rcv_nxt + u64::from(self.fin_received()))
    }

    /// Next data DSN expected (without the DATA_FIN's extra one).
    pub fn rcv_nxt(&self) -> DataSeq {
        DataSeq(self.rcv_nxt)
    }

    /// The receive-window right edge to advertise (monotonic).
    pub fn wnd_end(&self) -> DataSeq {
        DataSeq(self.wnd_end)
    }

    /// The window to advertise: `wnd_end - ack` (never negative).
    pub fn window(&self) -> u64 {
        self.wnd_end.saturating_sub(self.ack().0)
    }

    /// Bytes ready for the application.
    pub fn readable(&self) -> usize {
        self.ready_len
    }

    /// Bytes held out of order.
    pub fn ooo_len(&self) -> usize {
        self.ooo_len
    }

    /// Whether every byte before the DATA_FIN has arrived (the peer closed and the
    /// DATA_FIN may be acknowledged).
    pub fn fin_received(&self) -> bool {
        self.fin == Some(self.rcv_nxt)
    }

    /// The DATA_FIN position, once known.
    pub fn data_fin(&self) -> Option<DataSeq> {
        self.fin.map(DataSeq)
    }

    /// Whether the application has read everything and the peer closed.
    pub fn is_finished(&self) -> bool {
        self.fin_received() && self.ready_len == 0
    }

    /// Counters.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    fn update_wnd(&mut self) {
        let free = self.capacity.saturating_sub(self.ready_len) as u64;
        // RFC 8684 §3.3.5: the right edge is not moved backwards.
        self.wnd_end = self.wnd_end.max(self.rcv_nxt.saturating_add(free));
    }

    /// Inserts the piece `data` carrying DSNs from `dsn`. Parts already received,
    /// beyond the receive window or beyond the DATA_FIN are dropped (and counted).
    /// Returns how many new bytes were taken.
    pub fn insert(&mut self, dsn: DataSeq, mut data: Bytes) -> usize {
        let mut start = dsn.0;
        let Some(mut end) = start.checked_add(data.len() as u64) else {
            self.stats.rcv_pruned += 1;
            return 0;
        };
        if data.is_empty() {
            return 0;
        }
        if end <= self.rcv_nxt {
            self.stats.duplicate_data += 1;
            return 0;
        }
        if start < self.rcv_nxt {
            self.stats.duplicate_data += 1;
            data = data.slice((self.rcv_nxt - start) as usize..);
            start = self.rcv_nxt;
        }
        if let Some(fin) = self.fin {
            if end > fin {
                self.stats.data_after_fin += end - fin.max(start);
                end = fin.max(start);
            }
        }
        if end > self.wnd_end {
            self.stats.rcv_pruned += 1;
            end = self.wnd_end.max(start);
        }
        if end <= start {
            return 0;
        }
        data.truncate((end - start) as usize);

        let added = if start == self.rcv_nxt && self.ooo.is_empty() {
            // In-order fast path.
            self.push_ready(data);
            (end - start) as usize
        } else {
            self.insert_ooo(start, end, data)
        };
        self.drain_ooo();
        self.update_wnd();
        added
    }

    /// Like [`insert`](Self::insert) for a borrowed slice (copies what is taken).
    pub fn insert_slice(&mut self, dsn: DataSeq, data: &[u8]) -> usize {
        self.insert(dsn, Bytes::copy_from_slice(data))
    }

    fn push_ready(&mut self, data: Bytes) {
        self.rcv_nxt += data.len() as u64;
        self.ready_len += data.len();
        self.ready.push_back(data);
    }

    /// Inserts the gaps of `[start, end)` not already queued. Returns the new bytes.
    fn insert_ooo(&mut self, start: u64, end: u64, data: Bytes) -> usize {
        let mut added = 0;
        let mut i = self
            .ooo
            .partition_point(|(s, b)| s + b.len() as u64 <= start);
        let mut cur = start;
        while cur < end {
            if let Some((s, b)) = self.ooo.get(i) {
                if *s <= cur {
                    // Already queued: skip over it.
                    let e = s + b.len() as u64;
                    if e > cur {
                        self.stats.duplicate_data += 1;
                    }
                    cur = cur.max(e);
                    i += 1;
                    continue;
                }
            }
            let gap_end = self.ooo.get(i).map_or(end, |(s, _)| end.min(*s));
            let piece = data.slice((cur - start) as usize..(gap_end - start) as usize);
            added += piece.len();
            self.ooo.insert(i, (cur, piece));
            self.stats.ofo_queue += 1;
            i += 1;
            cur = gap_end;
        }
        self.ooo_len += added;
        added
    }

    /// Moves pieces that became contiguous to the in-order buffer.
    fn drain_ooo(&mut self) {
        while let Some((s, _)) = self.ooo.front() {
            if *s != self.rcv_nxt {
                break;
            }
            if let Some((_, b)) = self.ooo.pop_front() {
                self.ooo_len -= b.len();
                self.push_ready(b);
            }
        }
    }

    /// The peer's DATA_FIN is at `dsn` (the DSN after its last data byte). The first
    /// one counts; one at another position, or behind data already delivered, is
    /// ignored (as Linux's `mptcp_update_rcv_data_fin`). Queued data beyond it is
    /// dropped. Returns whether it was recorded.
    pub fn set_data_fin(&mut self, dsn: DataSeq) -> bool {
        let dsn = dsn.0;
        if self.fin.is_some() || dsn < self.rcv_nxt {
            if self.fin != Some(dsn) {
                self.stats.bad_data_fin += 1;
            }
            return false;
        }
        self.fin = Some(dsn);
        // Drop whatever sits beyond the DATA_FIN.
        while let Some((s, b)) = self.ooo.back_mut() {
            let e = *s + b.len() as u64;
            if e <= dsn {
                break;
            }
            if *s >= dsn {
                self.stats.data_after_fin += b.len() as u64;
                self.ooo_len -= b.len();
                self.ooo.pop_back();
            } else {
                let keep = (dsn - *s) as usize;
                self.stats.data_after_fin += (b.len() - keep) as u64;
                self.ooo_len -= b.len() - keep;
                b.truncate(keep);
                break;
            }
        }
        true
    }

    /// Takes the next in-order piece (zero-copy).
    pub fn pop(&mut self) -> Option<Bytes> {
        let b = self.ready.pop_front()?;
        self.ready_len -= b.len();
        self.update_wnd();
        Some(b)
    }

    /// Copies in-order data into `buf`; returns the count.
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let Some(front) = self.ready.front_mut() else {
                break;
            };
            let k = front.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&front[..k]);
            n += k;
            if k == front.len() {
                self.ready.pop_front();
            } else {
                *front = front.slice(k..);
            }
        }
        self.ready_len -= n;
        self.update_wnd();
        n
    }
}

#[cfg(test)]
mod tests;
