//! LIA, the Linked Increases Algorithm (RFC 6356): MPTCP's coupled congestion control,
//! and the reference user of [`CcContext::siblings`].
//!
//! Slow start and every decrease are NewReno's; only the congestion-avoidance increase
//! is coupled (RFC 6356 §3). For each ACK of `bytes_acked` on subflow `i`:
//!
//! ```text
//! cwnd_i += min(alpha * bytes_acked * MSS_i / cwnd_total, bytes_acked * MSS_i / cwnd_i)
//! alpha   = cwnd_total * max_k(cwnd_k / rtt_k^2) / (sum_k cwnd_k / rtt_k)^2
//! ```
//!
//! where `k` ranges over this subflow and its siblings. Siblings without an RTT
//! estimate are left out of the sums (RFC 6356 §4 computes alpha over subflows with a
//! measured RTT). With no siblings `alpha = 1` and LIA is NewReno.

use core::time::Duration;

use super::reno::NewReno;
use super::{AckEvent, CcContext, CongestionControl, CongestionEvent};

/// LIA's state: a NewReno whose increase is coupled.
#[derive(Debug, Clone)]
pub struct Lia {
    reno: NewReno,
    /// Fractional bytes of increase not yet added to cwnd.
    acc: f64,
}

impl Lia {
    /// Starts like NewReno with `initial_cwnd` bytes.
    pub fn new(mss: usize, initial_cwnd: usize) -> Self {
        Lia {
            reno: NewReno::new(mss, initial_cwnd),
            acc: 0.0,
        }
    }

    /// Sets RFC 3465's `L` for slow start (see [`NewReno::set_abc_limit`]).
    pub fn set_abc_limit(&mut self, l: Option<u32>) {
        self.reno.set_abc_limit(l);
    }

    /// RFC 6356 §3 `alpha` and `cwnd_total` (bytes) for this subflow (`cwnd`, `srtt`)
    /// and its siblings; `None` when this subflow has no RTT estimate.
    pub fn alpha(cwnd: usize, srtt: Option<Duration>, ctx: &CcContext<'_>) -> Option<(f64, f64)> {
        let own = srtt.filter(|r| !r.is_zero())?.as_secs_f64();
        let own_w = cwnd as f64;
        let mut total = own_w;
        let mut best = own_w / (own * own);
        let mut sum = own_w / own;
        for s in ctx.siblings {
            let Some(r) = s.srtt.filter(|r| !r.is_zero()) else {
                continue;
            };
            let r = r.as_secs_f64();
            let w = s.cwnd as f64;
            total += w;
            best = best.max(w / (r * r));
            sum += w / r;
        }
        Some((total * best / (sum * sum), total))
    }
}

impl CongestionControl for Lia {
    fn name(&self) -> &'static str {
        "lia"
    }

    fn cwnd(&self) -> usize {
        self.reno.cwnd()
    }

    fn ssthresh(&self) -> usize {
        self.reno.ssthresh()
    }

    fn on_ack(&mut self, ack: &AckEvent, ctx: &CcContext<'_>) {
        if ctx.app_limited {
            return;
        }
        let cwnd = self.reno.cwnd();
        let alpha = Lia::alpha(cwnd, ctx.srtt, ctx);
        let (alpha, total) = match alpha {
            Some(a) if !self.reno.in_slow_start() => a,
            // Slow start, or no RTT yet: uncoupled NewReno.
            _ => return self.reno.on_ack(ack, ctx),
        };
        let b = ack.bytes_acked as f64;
        let mss = self.reno.mss() as f64;
        // RFC 6356 §3: the coupled increase, capped by the uncoupled one.
        let inc = (alpha * b * mss / total).min(b * mss / cwnd as f64);
        self.acc += inc;
        let whole = self.acc.floor();
        self.acc -= whole;
        self.reno.set_cwnd(cwnd + whole as usize);
    }

    fn on_congestion_event(&mut self, event: CongestionEvent, ctx: &CcContext<'_>) {
        self.acc = 0.0;
        self.reno.on_congestion_event(event, ctx);
    }

    fn on_recovery_exit(&mut self, ctx: &CcContext<'_>) {
        self.reno.on_recovery_exit(ctx);
    }

    fn on_rto(&mut self, repeated: bool, ctx: &CcContext<'_>) {
        self.acc = 0.0;
        self.reno.on_rto(repeated, ctx);
    }

    fn on_idle_restart(&mut self, idle: Duration, restart_window: usize, ctx: &CcContext<'_>) {
        self.reno.on_idle_restart(idle, restart_window, ctx);
    }

    fn set_mss(&mut self, mss: usize) {
        self.reno.set_mss(mss);
    }

    fn on_spurious_congestion(&mut self, ctx: &CcContext<'_>) {
        self.reno.on_spurious_congestion(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::super::SubflowView;
    use super::*;

    const MSS: usize = 1000;

    fn ca(cwnd: usize) -> Lia {
        let mut l = Lia::new(MSS, cwnd);
        l.reno.set_ssthresh(cwnd);
        l
    }

    fn view(cwnd: usize, rtt_ms: u64) -> SubflowView {
        SubflowView {
            cwnd,
            mss: MSS,
            srtt: Some(Duration::from_millis(rtt_ms)),
            ..SubflowView::default()
        }
    }

    fn window_of_acks(l: &mut Lia, ctx: &CcContext<'_>) {
        for _ in 0..l.cwnd() / MSS {
            l.on_ack(
                &AckEvent {
                    bytes_acked: MSS,
                    ..AckEvent::default()
                },
                ctx,
            );
        }
    }

    #[test]
    fn alone_it_is_reno() {
        let mut l = ca(10 * MSS);
        let ctx = CcContext::new(
            crate::tcp::Instant::ZERO,
            MSS,
            10 * MSS,
            Some(Duration::from_millis(50)),
        );
        let (alpha, total) = Lia::alpha(l.cwnd(), ctx.srtt, &ctx).unwrap();
        assert!((alpha - 1.0).abs() < 1e-12);
        assert_eq!(total, 10_000.0);
        // Per-ACK MSS*MSS/cwnd (RFC 5681 eq. 3): just under one MSS per window, as
        // cwnd grows within the window.
        window_of_acks(&mut l, &ctx);
        assert!((10_950..=11_000).contains(&l.cwnd()), "{}", l.cwnd());
    }

    #[test]
    fn two_equal_paths_each_grow_a_quarter() {
        let sib = [view(20 * MSS, 50)];
        let mut ctx = CcContext::new(
            crate::tcp::Instant::ZERO,
            MSS,
            20 * MSS,
            Some(Duration::from_millis(50)),
        );
        ctx.siblings = &sib;
        let mut l = ca(20 * MSS);
        let (alpha, _) = Lia::alpha(l.cwnd(), ctx.srtt, &ctx).unwrap();
        assert!((alpha - 0.5).abs() < 1e-12);
        // Per window: alpha * cwnd * MSS / total = 0.5 * 20k * 1k / 40k = 250 bytes
        // (a quarter of Reno's MSS per window; alpha is taken with the window before
        // the ACKs, the sibling's cwnd fixed).
        window_of_acks(&mut l, &ctx);
        assert!(
            (20 * MSS + 240..=20 * MSS + 250).contains(&l.cwnd()),
            "{}",
            l.cwnd()
        );
    }

    #[test]
    fn increase_never_exceeds_reno_on_the_best_path() {
        // A sibling with a much better path: alpha is large, but the cap holds.
        let sib = [view(100 * MSS, 5)];
        let mut ctx = CcContext::new(
            crate::tcp::Instant::ZERO,
            MSS,
            10 * MSS,
            Some(Duration::from_millis(200)),
        );
        ctx.siblings = &sib;
        let mut l = ca(10 * MSS);
        window_of_acks(&mut l, &ctx);
        assert!(l.cwnd() <= 11 * MSS);
        assert!(l.cwnd() > 10 * MSS);
    }

    #[test]
    fn siblings_without_rtt_are_skipped_and_decrease_is_reno() {
        let sib = [SubflowView {
            cwnd: 50 * MSS,
            ..SubflowView::default()
        }];
        let mut ctx = CcContext::new(
            crate::tcp::Instant::ZERO,
            MSS,
            10 * MSS,
            Some(Duration::from_millis(50)),
        );
        ctx.siblings = &sib;
        let mut l = ca(10 * MSS);
        let (alpha, total) = Lia::alpha(l.cwnd(), ctx.srtt, &ctx).unwrap();
        assert!((alpha - 1.0).abs() < 1e-12);
        assert_eq!(total, 10_000.0);
        l.on_congestion_event(CongestionEvent::Loss, &ctx);
        assert_eq!(l.cwnd(), 5 * MSS);
        assert_eq!(l.name(), "lia");
        // Without its own RTT, LIA falls back to NewReno's increase.
        let mut l = Lia::new(MSS, 10 * MSS);
        let ctx = CcContext::new(crate::tcp::Instant::ZERO, MSS, 10 * MSS, None);
        l.on_ack(
            &AckEvent {
                bytes_acked: MSS,
                ..AckEvent::default()
            },
            &ctx,
        );
        assert_eq!(l.cwnd(), 11 * MSS);
    }
}
