//! Round robin (after the kernel's BPF `bpf_rr` scheduler): each decision goes to the
//! next usable subflow after the previous one, in entry order, for one MSS at a time
//! (or `segs` MSS with [`RoundRobin::with_segments`]). A subflow without room in its
//! congestion window is skipped. Backup subflows take turns only while no regular
//! subflow is active.

use super::{SchedCtx, SchedDecision, Scheduler};

/// Round robin over the usable subflows.
#[derive(Debug, Clone)]
pub struct RoundRobin {
    /// Subflow id of the previous choice (`u32::MAX`: none yet).
    last_id: u32,
    segs: u64,
}

impl RoundRobin {
    /// One MSS per turn.
    pub fn new() -> Self {
        Self::with_segments(1)
    }

    /// `segs` MSS per turn (at least 1).
    pub fn with_segments(segs: u32) -> Self {
        RoundRobin {
            last_id: u32::MAX,
            segs: u64::from(segs.max(1)),
        }
    }
}

impl Default for RoundRobin {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn get_send(&mut self, ctx: &SchedCtx) -> SchedDecision {
        let sfs = ctx.subflows();
        let n = sfs.len();
        if n == 0 {
            return SchedDecision::NONE;
        }
        let any_regular = sfs.iter().any(|s| s.is_usable() && !s.is_backup());
        // Start after the previous choice (by id; entries may have moved).
        let start = sfs
            .iter()
            .position(|s| s.id == self.last_id)
            .map_or(0, |p| p + 1);
        for k in 0..n {
            let i = (start + k) % n;
            let sf = &sfs[i];
            if !sf.is_usable() || sf.is_backup() == any_regular || sf.cwnd_space() == 0 {
                continue;
            }
            self.last_id = sf.id;
            let mss = u64::from(sf.mss.max(1));
            let bytes = (mss * self.segs).min(ctx.sendable());
            return SchedDecision::single(i, bytes);
        }
        SchedDecision::NONE
    }
}
