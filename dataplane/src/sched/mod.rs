//! Packet schedulers: which subflow sends next. The [`Scheduler`] trait, its
//! `#[repr(C)]` versioned context [`SchedCtx`], and the native schedulers.
//!
//! Like Linux's pluggable `mptcp_sched_ops`, a scheduler answers two questions:
//! [`Scheduler::get_send`] (who sends new data, and how much) and
//! [`Scheduler::get_retrans`] (who carries reinjected data). It sees only a
//! [`SchedCtx`]: a plain, fixed-size, `#[repr(C)]` copy of the connection's data-level
//! state and of up to [`MAX_SUBFLOWS`] subflow snapshots (built from the shared atomics
//! with [`SchedCtx::from_shared`]), plus an application hint. Its answer is a
//! [`SchedDecision`], also plain `#[repr(C)]`: a bitmask of subflow entries and a byte
//! budget. Because both sides are flat C structs with a version field, a program in an
//! eBPF-style VM can read the same context and write the same decision later; the
//! native schedulers here are the reference behaviour such programs are tested against.
//!
//! Native schedulers: [`default::DefaultScheduler`] (Linux's `mptcp_subflow_get_send`
//! and `mptcp_subflow_get_retrans`), [`round_robin::RoundRobin`],
//! [`redundant::Redundant`] (send on all subflows). [`by_name`] builds one from its
//! name (what `sched set NAME` uses).
//!
//! How the connection uses a decision: for each set bit `i` of `mask`, the subflow in
//! `ctx.subflows[i]` (its snapshot `slot`) sends up to `bytes` bytes. A single-subflow
//! decision claims the DSNs (`SharedData::claim_within`); a redundant one claims them
//! once and sends the same DSN range on every subflow of the mask.

pub mod default;
pub mod redundant;
pub mod round_robin;

use core::fmt;

pub use crate::mptcp::shared::sf_flags;
use crate::mptcp::shared::{SharedData, SubflowSnapshot, MAX_SUBFLOWS as SHARED_MAX};

/// Subflow entries in a [`SchedCtx`].
pub const MAX_SUBFLOWS: usize = SHARED_MAX;

/// The layout version of [`SchedCtx`] and [`SchedDecision`]. Bump on any change, so a
/// loaded program built for another layout is refused.
pub const SCHED_CTX_VERSION: u32 = 1;

/// Largest amount of new data one decision hands to one subflow (about Linux's
/// `MPTCP_SEND_BURST_SIZE`, 64 KiB less its fragment header).
pub const SEND_BURST_SIZE: u64 = 65_536 - 128;

/// One subflow as the scheduler sees it. 48 bytes, no implicit padding.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedSubflow {
    /// Subflow id (Linux `subflow_id`).
    pub id: u32,
    /// [`sf_flags`]: BACKUP, ACTIVE, ESTABLISHED, STALE.
    pub flags: u32,
    /// Smoothed RTT in microseconds (0: not measured yet).
    pub srtt_us: u32,
    /// RTT variance in microseconds.
    pub rttvar_us: u32,
    /// Congestion window in bytes.
    pub cwnd: u32,
    /// Bytes in flight.
    pub in_flight: u32,
    /// Bytes queued in the subflow, not sent yet.
    pub queued: u32,
    /// Sender MSS in bytes.
    pub mss: u32,
    /// Consecutive RTOs without progress.
    pub stale_count: u32,
    /// Snapshot slot in the connection's shared state (how the caller finds it).
    pub slot: u32,
    /// Pacing rate in bytes per second (0: unknown).
    pub pacing_rate: u64,
}

impl SchedSubflow {
    /// From a published snapshot.
    pub fn from_snapshot(s: &SubflowSnapshot, slot: usize) -> Self {
        SchedSubflow {
            id: u32::from(s.id),
            flags: s.flags,
            srtt_us: s.srtt_us,
            rttvar_us: s.rttvar_us,
            cwnd: s.cwnd,
            in_flight: s.in_flight,
            queued: s.queued,
            mss: u32::from(s.mss),
            stale_count: u32::from(s.stale_count),
            slot: slot as u32,
            pacing_rate: s.pacing_rate,
        }
    }

    /// A backup subflow (ours or the peer's request).
    pub fn is_backup(&self) -> bool {
        self.flags & sf_flags::BACKUP != 0
    }

    /// May send at all (Linux `__mptcp_subflow_active`: established, and a join fully
    /// established), whether stale or not.
    pub fn is_active(&self) -> bool {
        self.flags & sf_flags::ACTIVE != 0
    }

    /// May take new data: active and not stale (Linux `mptcp_subflow_active`).
    pub fn is_usable(&self) -> bool {
        self.is_active() && self.flags & sf_flags::STALE == 0
    }

    /// Bytes sent or queued and not acknowledged at subflow level (Linux's
    /// `sk_wmem_queued`).
    pub fn wmem(&self) -> u64 {
        u64::from(self.in_flight) + u64::from(self.queued)
    }

    /// Room left in the congestion window for new data.
    pub fn cwnd_space(&self) -> u64 {
        u64::from(self.cwnd).saturating_sub(self.wmem())
    }

    /// Nothing outstanding at subflow level (Linux `tcp_rtx_and_write_queues_empty`).
    pub fn is_idle(&self) -> bool {
        self.wmem() == 0
    }

    /// The pacing rate, or `cwnd / srtt` when none is published (0 when neither is
    /// known).
    pub fn pace(&self) -> u64 {
        if self.pacing_rate != 0 {
            self.pacing_rate
        } else if self.srtt_us != 0 {
            u64::from(self.cwnd) * 1_000_000 / u64::from(self.srtt_us)
        } else {
            0
        }
    }
}

/// The scheduler's input. Fixed size (448 bytes), `#[repr(C)]`, no pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedCtx {
    /// [`SCHED_CTX_VERSION`].
    pub version: u32,
    /// Valid entries at the front of `subflows`.
    pub nr_subflows: u32,
    pub subflows: [SchedSubflow; MAX_SUBFLOWS],
    /// Oldest DSN not DATA_ACKed.
    pub snd_una: u64,
    /// Next DSN not claimed by any subflow.
    pub snd_nxt: u64,
    /// End of the data the application queued.
    pub write_seq: u64,
    /// The peer's receive-window right edge.
    pub snd_wnd_end: u64,
    /// Bytes waiting for reinjection.
    pub reinject_queued: u64,
    /// The application's hint (`set_sched_hint`), opaque to the stack.
    pub hint: u64,
    /// Now, in microseconds (the caller's clock; schedulers never read one).
    pub now_us: u64,
}

/// The scheduler's answer. `#[repr(C)]`, 16 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedDecision {
    /// Bit i: `ctx.subflows[i]` sends. 0: nobody sends now.
    pub mask: u32,
    /// Reserved (0).
    pub flags: u32,
    /// How many bytes each chosen subflow sends (new data, or reinjected data for
    /// `get_retrans`).
    pub bytes: u64,
}

impl SchedDecision {
    /// Nobody sends.
    pub const NONE: SchedDecision = SchedDecision {
        mask: 0,
        flags: 0,
        bytes: 0,
    };

    /// Subflow entry `i` sends `bytes`.
    pub fn single(i: usize, bytes: u64) -> Self {
        SchedDecision {
            mask: 1 << i,
            flags: 0,
            bytes,
        }
    }

    /// The lowest chosen entry.
    pub fn first(&self) -> Option<usize> {
        (self.mask != 0).then(|| self.mask.trailing_zeros() as usize)
    }

    /// The chosen entries.
    pub fn entries(&self) -> impl Iterator<Item = usize> {
        let mask = self.mask;
        (0..MAX_SUBFLOWS).filter(move |i| mask & 1 << i != 0)
    }
}

/// Size in bytes of a [`SchedCtx`] as a VM sees it.
pub const SCHED_CTX_SIZE: usize = core::mem::size_of::<SchedCtx>();
/// Size in bytes of a [`SchedDecision`] as a VM sees it.
pub const SCHED_DECISION_SIZE: usize = core::mem::size_of::<SchedDecision>();

/// Little-endian field writer/reader over a byte image (no `unsafe`: the VM gets a
/// copy of the context laid out exactly as the `#[repr(C)]` struct).
struct Image<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Image<'_> {
    fn u32(&mut self, v: u32) {
        self.buf[self.at..self.at + 4].copy_from_slice(&v.to_le_bytes());
        self.at += 4;
    }
    fn u64(&mut self, v: u64) {
        self.buf[self.at..self.at + 8].copy_from_slice(&v.to_le_bytes());
        self.at += 8;
    }
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

impl SchedCtx {
    /// The context's bytes as a VM program reads them: the `#[repr(C)]` layout,
    /// little-endian (eBPF's byte order on the hosts DPDK runs on).
    pub fn to_bytes(&self) -> [u8; SCHED_CTX_SIZE] {
        let mut out = [0u8; SCHED_CTX_SIZE];
        let mut w = Image {
            buf: &mut out,
            at: 0,
        };
        w.u32(self.version);
        w.u32(self.nr_subflows);
        for s in &self.subflows {
            for v in [
                s.id,
                s.flags,
                s.srtt_us,
                s.rttvar_us,
                s.cwnd,
                s.in_flight,
                s.queued,
                s.mss,
                s.stale_count,
                s.slot,
            ] {
                w.u32(v);
            }
            w.u64(s.pacing_rate);
        }
        for v in [
            self.snd_una,
            self.snd_nxt,
            self.write_seq,
            self.snd_wnd_end,
            self.reinject_queued,
            self.hint,
            self.now_us,
        ] {
            w.u64(v);
        }
        out
    }
}

impl SchedDecision {
    /// Reads a decision a VM program wrote (layout of [`SchedDecision`], little-endian).
    pub fn from_bytes(b: &[u8; SCHED_DECISION_SIZE]) -> Self {
        SchedDecision {
            mask: get_u32(b, 0),
            flags: get_u32(b, 4),
            bytes: get_u64(b, 8),
        }
    }

    /// The decision's bytes (layout of [`SchedDecision`], little-endian).
    pub fn to_bytes(&self) -> [u8; SCHED_DECISION_SIZE] {
        let mut out = [0u8; SCHED_DECISION_SIZE];
        let mut w = Image {
            buf: &mut out,
            at: 0,
        };
        w.u32(self.mask);
        w.u32(self.flags);
        w.u64(self.bytes);
        out
    }

    /// Keeps only bits of existing entries (a VM program's answer is untrusted).
    pub fn sanitized(self, ctx: &SchedCtx) -> Self {
        let n = (ctx.nr_subflows as usize).min(MAX_SUBFLOWS);
        let valid = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        SchedDecision {
            mask: self.mask & valid,
            ..self
        }
    }
}

// The layouts are part of the VM contract.
const _: () = assert!(core::mem::size_of::<SchedSubflow>() == 48);
const _: () = assert!(core::mem::size_of::<SchedCtx>() == 8 + 48 * MAX_SUBFLOWS + 7 * 8);
const _: () = assert!(core::mem::size_of::<SchedDecision>() == 16);

impl SchedCtx {
    /// An empty context: no subflows, everything at `start`.
    pub fn new(start: u64) -> Self {
        SchedCtx {
            version: SCHED_CTX_VERSION,
            nr_subflows: 0,
            subflows: [SchedSubflow::default(); MAX_SUBFLOWS],
            snd_una: start,
            snd_nxt: start,
            write_seq: start,
            snd_wnd_end: start,
            reinject_queued: 0,
            hint: 0,
            now_us: 0,
        }
    }

    /// Reads the connection's shared data level and every published subflow snapshot.
    pub fn from_shared(shared: &SharedData, reinject_queued: u64, hint: u64, now_us: u64) -> Self {
        let mut snaps = [SubflowSnapshot::default(); MAX_SUBFLOWS];
        let mut slot_of = [0u8; MAX_SUBFLOWS];
        let n = shared.snapshots(&mut snaps, &mut slot_of);
        let mut ctx = SchedCtx::new(0);
        ctx.nr_subflows = n as u32;
        for i in 0..n {
            ctx.subflows[i] = SchedSubflow::from_snapshot(&snaps[i], usize::from(slot_of[i]));
        }
        ctx.snd_una = shared.snd_una().0;
        ctx.snd_nxt = shared.snd_nxt().0;
        ctx.write_seq = shared.write_seq().0;
        ctx.snd_wnd_end = shared.snd_wnd_end().0;
        ctx.reinject_queued = reinject_queued;
        ctx.hint = hint;
        ctx.now_us = now_us;
        ctx
    }

    /// Adds a subflow entry; returns its index, or `None` when full.
    pub fn push(&mut self, sf: SchedSubflow) -> Option<usize> {
        let i = self.nr_subflows as usize;
        let e = self.subflows.get_mut(i)?;
        *e = sf;
        self.nr_subflows += 1;
        Some(i)
    }

    /// The valid subflow entries.
    pub fn subflows(&self) -> &[SchedSubflow] {
        let n = (self.nr_subflows as usize).min(MAX_SUBFLOWS);
        &self.subflows[..n]
    }

    /// New data the application queued that no subflow claimed yet.
    pub fn bytes_queued(&self) -> u64 {
        self.write_seq.saturating_sub(self.snd_nxt)
    }

    /// Room in the peer's receive window beyond `snd_nxt`.
    pub fn wnd_space(&self) -> u64 {
        self.snd_wnd_end.saturating_sub(self.snd_nxt)
    }

    /// New data that may be sent now: queued and within the peer's window.
    pub fn sendable(&self) -> u64 {
        self.bytes_queued().min(self.wnd_space())
    }
}

/// A packet scheduler (Linux `struct mptcp_sched_ops`). Implementations keep their own
/// state in `self` (e.g. a round-robin position) and never allocate in the calls.
pub trait Scheduler: fmt::Debug + Send {
    /// The name `sched set` knows it by.
    fn name(&self) -> &'static str;

    /// Who sends new data now, and how much.
    fn get_send(&mut self, ctx: &SchedCtx) -> SchedDecision;

    /// Who carries reinjected data ([`SchedCtx::reinject_queued`]). The default is
    /// Linux's `mptcp_subflow_get_retrans`.
    fn get_retrans(&mut self, ctx: &SchedCtx) -> SchedDecision {
        default::get_retrans(ctx)
    }
}

/// The native scheduler called `name` ("default", "roundrobin", "redundant"), as Linux's
/// `net.mptcp.scheduler` names them; `None` for an unknown name. Allocates: for
/// configuration time, not the fast path.
pub fn by_name(name: &str) -> Option<Box<dyn Scheduler>> {
    match name {
        "default" => Some(Box::new(default::DefaultScheduler::new())),
        "roundrobin" | "round_robin" | "rr" => Some(Box::new(round_robin::RoundRobin::new())),
        "redundant" | "red" => Some(Box::new(redundant::Redundant::new())),
        _ => None,
    }
}

/// The names [`by_name`] knows.
pub const NATIVE: &[&str] = &["default", "roundrobin", "redundant"];

#[cfg(test)]
mod tests;
