//! The connection's shared data level: what the subflows of one MPTCP connection share,
//! in atomics only (no lock, no `RefCell`, no `Rc`), so subflows owned by different
//! worker cores can use it at once. It is `Arc`-owned by the connection's home worker
//! and by every worker that owns one of its subflows.
//!
//! | field | who writes | how |
//! | --- | --- | --- |
//! | `snd_nxt` (next DSN to assign) | any sending subflow | [`SharedData::claim`] (one `fetch_add`) or [`SharedData::claim_within`] (CAS loop, limited by window and queued data) |
//! | `write_seq` (end of the data the application queued) | home worker | [`SharedData::publish_write_seq`] (monotonic) |
//! | `snd_una` (highest DATA_ACK received) | any subflow that received a DSS | [`SharedData::handle_data_ack`] (`fetch_max`, monotonic) |
//! | `snd_wnd_end` (peer's receive-window right edge) | any subflow | [`SharedData::handle_data_ack`] (`fetch_max`: RFC 8684 §3.3.4-3.3.5, never shrinks) |
//! | `ack_seq` (our DATA_ACK: next DSN we expect) | home worker (reassembly) | [`SharedData::publish_ack`] (monotonic) |
//! | `rcv_wnd_end` (our receive-window right edge) | home worker | [`SharedData::publish_rcv_wnd_end`] (monotonic) |
//! | DATA_FIN flags and positions | both sides | [`SharedData::queue_data_fin`], [`SharedData::claim_data_fin`], [`SharedData::handle_rcv_data_fin`] |
//! | subflow snapshots (up to [`MAX_SUBFLOWS`]) | the owning worker | [`SharedData::publish`] (a seqlock made of atomics) |
//!
//! Every 64-bit DSN is kept whole (`AtomicU64`), never as two halves. Monotonic values
//! use `fetch_max`, so concurrent writers can only move an edge forward: a late, stale
//! update loses against a newer one instead of overwriting it.
//!
//! The snapshot slots are seqlocks whose words are all atomics: the writer makes the
//! sequence odd, stores the words, makes it even again; a reader retries while the
//! sequence is odd or changed while it read. There is one writer per slot (the worker
//! owning that subflow), readers are any scheduler on any core. No torn snapshot is ever
//! returned, and no `unsafe` is needed because no plain memory is shared.

use core::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::seq::DataSeq;

/// How many subflows one connection can publish snapshots for (and the scheduler sees).
pub const MAX_SUBFLOWS: usize = 8;

/// Flags of a published subflow snapshot (also the scheduler's subflow flags).
pub mod sf_flags {
    /// The subflow is a backup (MP_PRIO / MP_JOIN B bit, ours or the peer's request).
    pub const BACKUP: u32 = 1 << 0;
    /// The subflow may send: TCP ESTABLISHED or CLOSE_WAIT, and (for a join) fully
    /// established (Linux `__mptcp_subflow_active`).
    pub const ACTIVE: u32 = 1 << 1;
    /// The MPTCP handshake of this subflow completed (Linux `fully_established`).
    pub const ESTABLISHED: u32 = 1 << 2;
    /// No progress for `stale_loss_cnt` RTOs: not used until it hears from the peer
    /// again (Linux `subflow->stale`).
    pub const STALE: u32 = 1 << 3;
}

/// DATA_FIN and connection-state flags in [`SharedData::flags`].
pub mod conn_flags {
    /// The application closed its sending side; the DATA_FIN's DSN is `write_seq`.
    pub const SND_DATA_FIN_QUEUED: u32 = 1 << 0;
    /// Some subflow claimed the DATA_FIN (it has been sent at least once).
    pub const SND_DATA_FIN_SENT: u32 = 1 << 1;
    /// The peer DATA_ACKed our DATA_FIN.
    pub const SND_DATA_FIN_ACKED: u32 = 1 << 2;
    /// A DATA_FIN was received; its DSN is in `rcv_data_fin_seq`.
    pub const RCV_DATA_FIN: u32 = 1 << 3;
    /// The connection fell back to plain TCP (RFC 8684 §3.7).
    pub const FALLBACK: u32 = 1 << 4;
    /// DSS checksums are in use (negotiated with MP_CAPABLE).
    pub const CSUM_ENABLED: u32 = 1 << 5;
}

/// One subflow's state as its owner publishes it for schedulers and coupled congestion
/// control. Plain `Copy` data; `srtt_us == 0` means "not measured yet".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubflowSnapshot {
    /// Subflow id (local, as in Linux's `subflow_id`).
    pub id: u8,
    /// [`sf_flags`].
    pub flags: u32,
    /// Smoothed RTT in microseconds (0: unknown).
    pub srtt_us: u32,
    /// RTT variance in microseconds.
    pub rttvar_us: u32,
    /// Congestion window in bytes.
    pub cwnd: u32,
    /// Bytes in flight.
    pub in_flight: u32,
    /// Bytes queued in the subflow and not sent yet (Linux's `sk_wmem_queued` minus in
    /// flight).
    pub queued: u32,
    /// Sender MSS in bytes.
    pub mss: u16,
    /// Consecutive RTOs without progress (Linux `stale_count`).
    pub stale_count: u8,
    /// Pacing rate in bytes per second (0: unknown).
    pub pacing_rate: u64,
}

impl SubflowSnapshot {
    fn pack(&self) -> [u64; 4] {
        [
            u64::from(self.srtt_us) | u64::from(self.rttvar_us) << 32,
            u64::from(self.cwnd) | u64::from(self.in_flight) << 32,
            u64::from(self.queued)
                | u64::from(self.mss) << 32
                | u64::from(self.stale_count) << 48
                | u64::from(self.id) << 56,
            self.pacing_rate,
        ]
    }
    fn unpack(w: [u64; 4], flags: u32) -> Self {
        SubflowSnapshot {
            srtt_us: w[0] as u32,
            rttvar_us: (w[0] >> 32) as u32,
            cwnd: w[1] as u32,
            in_flight: (w[1] >> 32) as u32,
            queued: w[2] as u32,
            mss: (w[2] >> 32) as u16,
            stale_count: (w[2] >> 48) as u8,
            id: (w[2] >> 56) as u8,
            flags,
            pacing_rate: w[3],
        }
    }
}

/// A seqlock slot made of atomics (see the module docs).
#[derive(Debug, Default)]
struct Slot {
    seq: AtomicU32,
    flags: AtomicU32,
    words: [AtomicU64; 4],
}

impl Slot {
    fn write(&self, snap: &SubflowSnapshot) {
        // Single writer per slot: a relaxed load of our own last value is exact.
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // The odd sequence must be visible before any word changes.
        fence(Ordering::Release);
        self.flags.store(snap.flags, Ordering::Relaxed);
        for (w, v) in self.words.iter().zip(snap.pack()) {
            w.store(v, Ordering::Relaxed);
        }
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    fn read(&self) -> SubflowSnapshot {
        let mut spins = 0u32;
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 != 0 {
                // A write is in progress (a few stores long). If the writer was
                // preempted mid-write (more threads than cores), let it run.
                spins += 1;
                if spins & 63 == 0 {
                    std::thread::yield_now();
                } else {
                    core::hint::spin_loop();
                }
                continue;
            }
            let flags = self.flags.load(Ordering::Relaxed);
            let mut w = [0u64; 4];
            for (v, a) in w.iter_mut().zip(&self.words) {
                *v = a.load(Ordering::Relaxed);
            }
            // The word loads must complete before the sequence is read again.
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return SubflowSnapshot::unpack(w, flags);
            }
        }
    }
}

/// The data level shared by all subflows of one MPTCP connection. See the module docs.
#[derive(Debug)]
pub struct SharedData {
    snd_nxt: AtomicU64,
    write_seq: AtomicU64,
    snd_una: AtomicU64,
    snd_wnd_end: AtomicU64,
    ack_seq: AtomicU64,
    rcv_wnd_end: AtomicU64,
    snd_data_fin_seq: AtomicU64,
    rcv_data_fin_seq: AtomicU64,
    flags: AtomicU32,
    /// Bit i: slot i is taken by a subflow.
    slots_used: AtomicU8,
    slots: [Slot; MAX_SUBFLOWS],
}

/// The result of a DATA_ACK update ([`SharedData::handle_data_ack`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckUpdate {
    /// `snd_una` after the update (the highest DATA_ACK seen so far).
    pub snd_una: DataSeq,
    /// Whether this call moved `snd_una` forward.
    pub advanced: bool,
    /// `snd_wnd_end` after the update.
    pub snd_wnd_end: DataSeq,
}

impl SharedData {
    /// A connection whose first DSN to send is `snd_start` (our IDSN + 1) and first DSN
    /// to receive `rcv_start` (the peer's IDSN + 1; RFC 8684 §3.3: the IDSN itself
    /// stands for the SYN). The peer's window edge starts at `snd_start`: nothing may be
    /// claimed until the first DATA_ACK (or the implicit one of MP_CAPABLE) with a
    /// window goes through [`handle_data_ack`](Self::handle_data_ack). Our receive edge
    /// starts at `rcv_start + rcv_wnd`.
    pub fn new(snd_start: DataSeq, rcv_start: DataSeq, rcv_wnd: u64) -> Self {
        SharedData {
            snd_nxt: AtomicU64::new(snd_start.0),
            write_seq: AtomicU64::new(snd_start.0),
            snd_una: AtomicU64::new(snd_start.0),
            snd_wnd_end: AtomicU64::new(snd_start.0),
            ack_seq: AtomicU64::new(rcv_start.0),
            rcv_wnd_end: AtomicU64::new(rcv_start.0.wrapping_add(rcv_wnd)),
            snd_data_fin_seq: AtomicU64::new(0),
            rcv_data_fin_seq: AtomicU64::new(0),
            flags: AtomicU32::new(0),
            slots_used: AtomicU8::new(0),
            slots: Default::default(),
        }
    }

    // ---- send side: DSN claims ----

    /// The next DSN no subflow has claimed yet.
    pub fn snd_nxt(&self) -> DataSeq {
        DataSeq(self.snd_nxt.load(Ordering::Acquire))
    }

    /// The end of the data the application queued (claims never pass it with
    /// [`claim_within`](Self::claim_within)).
    pub fn write_seq(&self) -> DataSeq {
        DataSeq(self.write_seq.load(Ordering::Acquire))
    }

    /// The home worker publishes how far the application's data reaches (monotonic).
    pub fn publish_write_seq(&self, end: DataSeq) {
        self.write_seq.fetch_max(end.0, Ordering::AcqRel);
    }

    /// Claims `len` fresh DSNs unconditionally with one `fetch_add`: the caller (a
    /// subflow) now owns `[start, start + len)` and no other claim overlaps it. Use when
    /// the caller already knows the data and window are there (a single sender, or a
    /// budget handed out by the scheduler); otherwise use `claim_within`.
    pub fn claim(&self, len: u64) -> DataSeq {
        DataSeq(self.snd_nxt.fetch_add(len, Ordering::AcqRel))
    }

    /// Claims up to `max_len` fresh DSNs, limited by the queued data (`write_seq`) and the
    /// peer's window (`snd_wnd_end`), with a CAS loop. Returns the start and the length
    /// claimed, or `None` when nothing may be sent.
    pub fn claim_within(&self, max_len: u64) -> Option<(DataSeq, u64)> {
        let mut cur = self.snd_nxt.load(Ordering::Acquire);
        loop {
            let wnd = self.snd_wnd_end.load(Ordering::Acquire);
            let queued = self.write_seq.load(Ordering::Acquire);
            // Both limits are ahead of `cur` or equal in a well-formed connection; a
            // limit behind it (a window that was never opened) allows nothing.
            let limit_wnd = wnd.saturating_sub(cur);
            let limit_data = queued.saturating_sub(cur);
            let n = max_len.min(limit_wnd).min(limit_data);
            if n == 0 {
                return None;
            }
            match self.snd_nxt.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some((DataSeq(cur), n)),
                Err(now) => cur = now,
            }
        }
    }

    /// How many DSNs could be claimed now (queued data within the peer's window).
    pub fn sendable(&self) -> u64 {
        let cur = self.snd_nxt.load(Ordering::Acquire);
        let wnd = self.snd_wnd_end.load(Ordering::Acquire);
        let queued = self.write_seq.load(Ordering::Acquire);
        wnd.saturating_sub(cur).min(queued.saturating_sub(cur))
    }

    // ---- send side: DATA_ACK and the peer's window ----

    /// The highest DATA_ACK received (everything before it is acknowledged).
    pub fn snd_una(&self) -> DataSeq {
        DataSeq(self.snd_una.load(Ordering::Acquire))
    }

    /// The peer's receive-window right edge.
    pub fn snd_wnd_end(&self) -> DataSeq {
        DataSeq(self.snd_wnd_end.load(Ordering::Acquire))
    }

    /// A DATA_ACK (already expanded to 64 bits) with the TCP window `wnd` (already
    /// scaled) arrived on some subflow.
    ///
    /// An ACK beyond what was ever claimed (`snd_nxt`, plus the DATA_FIN once sent) does
    /// not move `snd_una`, as Linux's `ack_update_msk` treats acks of unsent data.
    /// RFC 8684 §3.3.4: the receive window is relative to the DATA_ACK, shared by all
    /// subflows; §3.3.5: the right edge (DATA_ACK + window) is never moved backwards by
    /// a sender, so both values only grow (`fetch_max`).
    pub fn handle_data_ack(&self, data_ack: DataSeq, wnd: u64) -> AckUpdate {
        let mut max_ack = self.snd_nxt.load(Ordering::Acquire);
        let f = self.flags.load(Ordering::Acquire);
        if f & conn_flags::SND_DATA_FIN_SENT != 0 {
            max_ack = max_ack.max(self.snd_data_fin_seq.load(Ordering::Acquire) + 1);
        }
        // An ACK of data never sent counts as the old DATA_ACK (Linux `ack_update_msk`),
        // whose window still applies.
        let data_ack = if data_ack.0 > max_ack {
            self.snd_una()
        } else {
            data_ack
        };
        let old = self.snd_una.fetch_max(data_ack.0, Ordering::AcqRel);
        let edge = data_ack.0.saturating_add(wnd);
        let old_edge = self.snd_wnd_end.fetch_max(edge, Ordering::AcqRel);
        if f & conn_flags::SND_DATA_FIN_SENT != 0
            && data_ack.0 > self.snd_data_fin_seq.load(Ordering::Acquire)
        {
            self.flags
                .fetch_or(conn_flags::SND_DATA_FIN_ACKED, Ordering::AcqRel);
        }
        AckUpdate {
            snd_una: DataSeq(old.max(data_ack.0)),
            advanced: data_ack.0 > old,
            snd_wnd_end: DataSeq(old_edge.max(edge)),
        }
    }

    // ---- receive side ----

    /// Our DATA_ACK: the next DSN the reassembly expects.
    pub fn ack_seq(&self) -> DataSeq {
        DataSeq(self.ack_seq.load(Ordering::Acquire))
    }

    /// The home worker publishes a new DATA_ACK (monotonic).
    pub fn publish_ack(&self, ack: DataSeq) {
        self.ack_seq.fetch_max(ack.0, Ordering::AcqRel);
    }

    /// Our receive-window right edge (DATA_ACK + window as last advertised).
    pub fn rcv_wnd_end(&self) -> DataSeq {
        DataSeq(self.rcv_wnd_end.load(Ordering::Acquire))
    }

    /// The home worker publishes a new receive-window right edge. RFC 8684 §3.3.5 (and
    /// RFC 9293 §3.8.6, a window is not shrunk): never moves backwards.
    pub fn publish_rcv_wnd_end(&self, edge: DataSeq) -> DataSeq {
        DataSeq(
            self.rcv_wnd_end
                .fetch_max(edge.0, Ordering::AcqRel)
                .max(edge.0),
        )
    }

    /// The window to advertise in a TCP header now: our edge minus our DATA_ACK.
    pub fn rcv_wnd(&self) -> u64 {
        self.rcv_wnd_end().0.saturating_sub(self.ack_seq().0)
    }

    // ---- DATA_FIN ----

    /// Connection flags ([`conn_flags`]).
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    /// Sets connection flags (e.g. [`conn_flags::FALLBACK`]); returns the old flags.
    pub fn set_flags(&self, f: u32) -> u32 {
        self.flags.fetch_or(f, Ordering::AcqRel)
    }

    /// The application closed: the DATA_FIN takes the DSN `write_seq` (RFC 8684 §3.3.3:
    /// the DATA_FIN occupies one octet of data sequence space after the last data
    /// byte). Idempotent; returns the DATA_FIN's DSN.
    pub fn queue_data_fin(&self) -> DataSeq {
        let f = self.flags.load(Ordering::Acquire);
        if f & conn_flags::SND_DATA_FIN_QUEUED != 0 {
            return DataSeq(self.snd_data_fin_seq.load(Ordering::Acquire));
        }
        let at = self.write_seq.load(Ordering::Acquire);
        self.snd_data_fin_seq.store(at, Ordering::Release);
        self.flags
            .fetch_or(conn_flags::SND_DATA_FIN_QUEUED, Ordering::AcqRel);
        DataSeq(at)
    }

    /// The DSN of our DATA_FIN, once queued.
    pub fn snd_data_fin_seq(&self) -> Option<DataSeq> {
        (self.flags() & conn_flags::SND_DATA_FIN_QUEUED != 0)
            .then(|| DataSeq(self.snd_data_fin_seq.load(Ordering::Acquire)))
    }

    /// Claims the DATA_FIN for sending: succeeds (once) when it is queued and every data
    /// DSN before it has been claimed. The winner sends the DATA_FIN with this DSN; a
    /// retransmission later reuses [`snd_data_fin_seq`](Self::snd_data_fin_seq).
    pub fn claim_data_fin(&self) -> Option<DataSeq> {
        let fin = self.snd_data_fin_seq()?;
        // The DATA_FIN consumes one DSN, claimed like data.
        self.snd_nxt
            .compare_exchange(fin.0, fin.0 + 1, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        self.flags
            .fetch_or(conn_flags::SND_DATA_FIN_SENT, Ordering::AcqRel);
        Some(fin)
    }

    /// A DATA_FIN for DSN `seq` was received. The first one wins; a later one at another
    /// position is ignored (as Linux's `mptcp_update_rcv_data_fin`). Returns whether
    /// this call recorded it.
    pub fn handle_rcv_data_fin(&self, seq: DataSeq) -> bool {
        let f = self.flags.load(Ordering::Acquire);
        if f & conn_flags::RCV_DATA_FIN != 0 {
            return false;
        }
        self.rcv_data_fin_seq.store(seq.0, Ordering::Release);
        let old = self
            .flags
            .fetch_or(conn_flags::RCV_DATA_FIN, Ordering::AcqRel);
        old & conn_flags::RCV_DATA_FIN == 0
    }

    /// The DSN of the received DATA_FIN, once seen.
    pub fn rcv_data_fin_seq(&self) -> Option<DataSeq> {
        (self.flags() & conn_flags::RCV_DATA_FIN != 0)
            .then(|| DataSeq(self.rcv_data_fin_seq.load(Ordering::Acquire)))
    }

    // ---- subflow snapshots ----

    /// Takes a free snapshot slot for a new subflow; `None` when all
    /// [`MAX_SUBFLOWS`] are taken.
    pub fn alloc_slot(&self) -> Option<usize> {
        let mut cur = self.slots_used.load(Ordering::Acquire);
        loop {
            let free = (!cur).trailing_zeros() as usize;
            if free >= MAX_SUBFLOWS {
                return None;
            }
            match self.slots_used.compare_exchange_weak(
                cur,
                cur | 1 << free,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // A reused slot starts inactive.
                    self.slots[free].write(&SubflowSnapshot::default());
                    return Some(free);
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Gives a slot back (the subflow closed). Its snapshot is cleared first so readers
    /// never see the old subflow as active.
    pub fn free_slot(&self, slot: usize) {
        if slot < MAX_SUBFLOWS {
            self.slots[slot].write(&SubflowSnapshot::default());
            self.slots_used.fetch_and(!(1 << slot), Ordering::AcqRel);
        }
    }

    /// Bit i set: slot i is in use.
    pub fn slots_used(&self) -> u8 {
        self.slots_used.load(Ordering::Acquire)
    }

    /// The owning worker publishes its subflow's state. Only the owner of `slot` may
    /// call this (one writer per slot); out-of-range slots are ignored.
    pub fn publish(&self, slot: usize, snap: &SubflowSnapshot) {
        if let Some(s) = self.slots.get(slot) {
            s.write(snap);
        }
    }

    /// A consistent copy of the snapshot in `slot` (default when out of range).
    pub fn snapshot(&self, slot: usize) -> SubflowSnapshot {
        self.slots.get(slot).map(Slot::read).unwrap_or_default()
    }

    /// Copies every used slot's snapshot into `out` (slot order); returns how many, and
    /// for each written entry its slot index in `slot_of`.
    pub fn snapshots(
        &self,
        out: &mut [SubflowSnapshot; MAX_SUBFLOWS],
        slot_of: &mut [u8; MAX_SUBFLOWS],
    ) -> usize {
        let used = self.slots_used();
        let mut n = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            if used & 1 << i != 0 {
                out[n] = slot.read();
                slot_of[n] = i as u8;
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests;
