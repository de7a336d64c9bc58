//! The default scheduler: Linux's `mptcp_subflow_get_send` and
//! `mptcp_subflow_get_retrans` (net/mptcp/protocol.c).
//!
//! **Send.** Among the usable subflows (active, not stale) that have room in their
//! congestion window, pick the one that would flush what it already holds soonest: the
//! lowest *linger time* `wmem << 32 / pace`, where `wmem` is what the subflow holds
//! unacknowledged (in flight + queued) and `pace` a running average of its pacing rate
//! (Linux's BLEST-inspired choice: a slow subflow is only used when the fast one would
//! need longer to drain its backlog). Equal linger times (idle subflows) go to the
//! lowest smoothed RTT. Backup subflows are considered only when no regular subflow is
//! active at all. The budget is one burst ([`SEND_BURST_SIZE`]), bounded by the data
//! queued and the peer's window; after a choice, the chosen subflow's average pace
//! moves toward its current pacing rate, weighted by burst against backlog, as Linux
//! updates `avg_pacing_rate`.
//!
//! **Retransmit.** The first usable regular subflow with nothing outstanding at subflow
//! level; else a backup with nothing outstanding, but only if every busy subflow is
//! making no progress (minimum stale count above 1).

use super::{SchedCtx, SchedDecision, Scheduler, MAX_SUBFLOWS, SEND_BURST_SIZE};

/// Linux's default scheduler. State: each entry's average pacing rate, keyed by subflow
/// id so it survives subflows coming and going.
#[derive(Debug, Clone, Default)]
pub struct DefaultScheduler {
    /// (subflow id, average pace in bytes/s); id `u32::MAX` marks a free entry.
    avg_pace: [(u32, u64); MAX_SUBFLOWS],
}

impl DefaultScheduler {
    /// A scheduler with no history.
    pub fn new() -> Self {
        DefaultScheduler {
            avg_pace: [(u32::MAX, 0); MAX_SUBFLOWS],
        }
    }

    /// The average pace remembered for subflow `id`, seeding it from `pace` the first
    /// time (Linux initialises `avg_pacing_rate` from `sk_pacing_rate`).
    fn avg_pace(&mut self, id: u32, pace: u64, ctx: &SchedCtx) -> u64 {
        if let Some(e) = self.avg_pace.iter_mut().find(|e| e.0 == id) {
            if e.1 == 0 {
                e.1 = pace;
            }
            return e.1;
        }
        // Reuse the entry of a subflow that is gone, or a free one.
        let gone = |e: &(u32, u64)| e.0 == u32::MAX || !ctx.subflows().iter().any(|s| s.id == e.0);
        if let Some(e) = self.avg_pace.iter_mut().find(|e| gone(e)) {
            *e = (id, pace);
        }
        pace
    }

    fn set_avg_pace(&mut self, id: u32, pace: u64) {
        if let Some(e) = self.avg_pace.iter_mut().find(|e| e.0 == id) {
            e.1 = pace;
        }
    }
}

impl Scheduler for DefaultScheduler {
    fn name(&self) -> &'static str {
        "default"
    }

    fn get_send(&mut self, ctx: &SchedCtx) -> SchedDecision {
        // Best (linger, srtt, index) per mode: [regular, backup].
        let mut best: [Option<(u64, u32, usize)>; 2] = [None, None];
        let mut nr_active = 0;
        for (i, sf) in ctx.subflows().iter().enumerate() {
            if !sf.is_usable() {
                continue;
            }
            let backup = usize::from(sf.is_backup());
            nr_active += usize::from(backup == 0);
            if sf.cwnd_space() == 0 {
                continue;
            }
            let pace = self.avg_pace(sf.id, sf.pace(), ctx);
            // wmem << 32 can exceed 64 bits (two u32 counters): compute in 128.
            let linger = match (u128::from(sf.wmem()) << 32).checked_div(u128::from(pace)) {
                Some(l) => u64::try_from(l).unwrap_or(u64::MAX),
                // Nothing known about its speed yet: only a free subflow is a candidate,
                // and it competes on RTT alone.
                None if sf.wmem() == 0 => 0,
                None => continue,
            };
            let srtt = if sf.srtt_us == 0 {
                u32::MAX
            } else {
                sf.srtt_us
            };
            let key = (linger, srtt, i);
            let better = match best[backup] {
                None => true,
                Some(b) => (key.0, key.1) < (b.0, b.1),
            };
            if better {
                best[backup] = Some(key);
            }
        }
        // Backups only when no regular subflow is active at all.
        let pick = if nr_active == 0 { best[1] } else { best[0] };
        let Some((_, _, i)) = pick else {
            return SchedDecision::NONE;
        };
        let burst = SEND_BURST_SIZE.min(ctx.sendable());
        if burst > 0 {
            let sf = &ctx.subflows[i];
            let wmem = sf.wmem();
            let avg = self.avg_pace(sf.id, sf.pace(), ctx);
            let cur = sf.pace();
            let new = (u128::from(avg) * u128::from(wmem) + u128::from(cur) * u128::from(burst))
                / u128::from(burst + wmem);
            self.set_avg_pace(sf.id, new as u64);
        }
        SchedDecision::single(i, burst)
    }
}

/// Linux's `mptcp_subflow_get_retrans` over a context: the subflow that carries
/// reinjected data (see the module docs).
pub fn get_retrans(ctx: &SchedCtx) -> SchedDecision {
    if ctx.reinject_queued == 0 {
        return SchedDecision::NONE;
    }
    let mut pick = None;
    let mut backup = None;
    let mut min_stale = u32::MAX;
    for (i, sf) in ctx.subflows().iter().enumerate() {
        if !sf.is_active() {
            continue;
        }
        // Still data outstanding at subflow level: not a good carrier.
        if !sf.is_idle() {
            min_stale = min_stale.min(sf.stale_count);
            continue;
        }
        if sf.is_backup() {
            backup = backup.or(Some(i));
            continue;
        }
        pick = pick.or(Some(i));
    }
    // A backup only when there is no progress anywhere.
    let chosen = pick.or(if min_stale > 1 { backup } else { None });
    match chosen {
        Some(i) => SchedDecision::single(i, ctx.reinject_queued.min(SEND_BURST_SIZE)),
        None => SchedDecision::NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::{sf_flags, SchedSubflow};

    #[test]
    fn average_pace_moves_toward_the_current_rate() {
        let mut s = DefaultScheduler::new();
        let mut ctx = SchedCtx::new(0);
        ctx.write_seq = 1 << 20;
        ctx.snd_wnd_end = 1 << 20;
        ctx.push(SchedSubflow {
            id: 4,
            flags: sf_flags::ACTIVE,
            cwnd: 1 << 20,
            in_flight: 30_000,
            pacing_rate: 1_000_000,
            ..Default::default()
        });
        s.get_send(&ctx);
        // Seeded from the pacing rate, then updated with the same rate: unchanged.
        assert_eq!(s.avg_pace.iter().find(|e| e.0 == 4).unwrap().1, 1_000_000);
        ctx.subflows[0].pacing_rate = 3_000_000;
        s.get_send(&ctx);
        let avg = s.avg_pace.iter().find(|e| e.0 == 4).unwrap().1;
        // (1e6 * 30000 + 3e6 * burst) / (burst + 30000), burst = SEND_BURST_SIZE.
        let b = SEND_BURST_SIZE;
        assert_eq!(avg, (1_000_000 * 30_000 + 3_000_000 * b) / (b + 30_000));
        assert!(avg > 1_000_000 && avg < 3_000_000);
    }
}
