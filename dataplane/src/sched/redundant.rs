//! Redundant: every chunk of new data goes out on all usable subflows at once (the
//! kernel's BPF `bpf_red` scheduler), trading bandwidth for latency and loss
//! resilience. The receiver keeps the first copy of each DSN and drops the others. If
//! no regular subflow is usable, all usable backups are used.

use super::{SchedCtx, SchedDecision, Scheduler, SEND_BURST_SIZE};

/// Send on all subflows.
#[derive(Debug, Clone, Default)]
pub struct Redundant;

impl Redundant {
    /// The redundant scheduler (stateless).
    pub fn new() -> Self {
        Redundant
    }
}

impl Scheduler for Redundant {
    fn name(&self) -> &'static str {
        "redundant"
    }

    fn get_send(&mut self, ctx: &SchedCtx) -> SchedDecision {
        let sfs = ctx.subflows();
        let any_regular = sfs.iter().any(|s| s.is_usable() && !s.is_backup());
        let mut mask = 0u32;
        let mut room = u64::MAX;
        for (i, sf) in sfs.iter().enumerate() {
            if sf.is_usable() && sf.is_backup() != any_regular && sf.cwnd_space() > 0 {
                mask |= 1 << i;
                room = room.min(sf.cwnd_space());
            }
        }
        if mask == 0 {
            return SchedDecision::NONE;
        }
        // Every copy must fit: the budget is the smallest free window among them, so
        // the slowest subflow does not build a backlog of duplicates.
        SchedDecision {
            mask,
            flags: 0,
            bytes: SEND_BURST_SIZE.min(ctx.sendable()).min(room),
        }
    }

    /// Reinjected data also goes out on every usable subflow with nothing outstanding.
    fn get_retrans(&mut self, ctx: &SchedCtx) -> SchedDecision {
        if ctx.reinject_queued == 0 {
            return SchedDecision::NONE;
        }
        let mut mask = 0u32;
        for (i, sf) in ctx.subflows().iter().enumerate() {
            if sf.is_usable() && sf.cwnd_space() > 0 {
                mask |= 1 << i;
            }
        }
        SchedDecision {
            mask,
            flags: 0,
            bytes: if mask == 0 {
                0
            } else {
                ctx.reinject_queued.min(SEND_BURST_SIZE)
            },
        }
    }
}
