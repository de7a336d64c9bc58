//! CUBIC (RFC 9438).
//!
//! In congestion avoidance the window follows `W_cubic(t) = C*(t-K)^3 + W_max`
//! (§4.2, eq. 1), with `K = cbrt((W_max - cwnd_epoch)/C)` (eq. 2), `t` the time since the
//! current congestion avoidance stage began, `C = 0.4` and `beta_cubic = 0.7`; but never
//! slower than the Reno estimate `W_est` (§4.3). Windows in the formulas are in segments
//! and time in seconds; they are computed in `f64` (the dataplane runs in user space, so
//! unlike Linux it can use the FPU).

use core::time::Duration;

use super::hystart::{HyStartPlusPlus, SlowStartAction};
use super::reno::{abc_growth, ABC_LIMIT};
use super::{recovery_exit_cwnd, AckEvent, CcContext, CongestionControl, CongestionEvent};
use crate::tcp::{elapsed, Instant};

/// CUBIC's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CubicConfig {
    /// `C` (RFC 9438 §4.1.1: 0.4).
    pub c: f64,
    /// `beta_cubic` (RFC 9438 §4.1.1: 0.7).
    pub beta: f64,
    /// Fast convergence (RFC 9438 §4.7).
    pub fast_convergence: bool,
    /// The Reno-friendly region (RFC 9438 §4.3).
    pub reno_friendly: bool,
    /// HyStart++ in slow start (RFC 9438 §4.10, RFC 9406).
    pub hystart: bool,
}

impl Default for CubicConfig {
    fn default() -> Self {
        CubicConfig {
            c: 0.4,
            beta: 0.7,
            fast_convergence: true,
            reno_friendly: true,
            hystart: true,
        }
    }
}

/// State saved at a congestion event, to undo it (RFC 9438 §4.9).
#[derive(Debug, Clone, Copy)]
struct Saved {
    cwnd: f64,
    ssthresh: usize,
    w_max: f64,
    cwnd_prior: f64,
}

/// CUBIC's window state.
#[derive(Debug, Clone)]
pub struct Cubic {
    cfg: CubicConfig,
    mss: usize,
    /// Congestion window in bytes (fractional, for the per-ACK increments).
    cwnd: f64,
    ssthresh: usize,
    /// `W_max` in segments; 0 when there is none (no loss yet, or after an RTO).
    w_max: f64,
    /// `cwnd_prior` in segments: cwnd when ssthresh was last set.
    cwnd_prior: f64,
    /// `K` in seconds.
    k: f64,
    /// Start of the current congestion avoidance stage.
    epoch_start: Option<Instant>,
    /// `cwnd_epoch` in segments.
    cwnd_epoch: f64,
    /// `W_est` in segments.
    w_est: f64,
    hystart: HyStartPlusPlus,
    saved: Option<Saved>,
    /// RFC 3465 `L` in segments; `None` for no limit.
    abc_limit: Option<u32>,
}

impl Cubic {
    /// Starts with `initial_cwnd` bytes and an arbitrarily high ssthresh.
    pub fn new(mss: usize, initial_cwnd: usize, cfg: CubicConfig) -> Self {
        let mss = mss.max(1);
        Cubic {
            cfg,
            mss,
            cwnd: initial_cwnd.max(mss) as f64,
            ssthresh: usize::MAX,
            w_max: 0.0,
            cwnd_prior: 0.0,
            k: 0.0,
            epoch_start: None,
            cwnd_epoch: 0.0,
            w_est: 0.0,
            hystart: HyStartPlusPlus::new(),
            saved: None,
            abc_limit: Some(ABC_LIMIT as u32),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CubicConfig {
        &self.cfg
    }

    /// `W_max` in segments (0 when unset).
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// `K` in seconds of the current epoch.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// `W_est` in segments.
    pub fn w_est(&self) -> f64 {
        self.w_est
    }

    /// Sets RFC 3465's `L` for slow start; `None` removes the limit (Linux).
    pub fn set_abc_limit(&mut self, l: Option<u32>) {
        self.abc_limit = l;
    }

    /// Sets ssthresh (e.g. from a cached route metric).
    pub fn set_ssthresh(&mut self, ssthresh: usize) {
        self.ssthresh = ssthresh.max(2 * self.mss);
    }

    /// RFC 9438 §4.2 eq. (1): `W_cubic(t) = C*(t-K)^3 + W_max`, in segments, for `t`
    /// seconds into the current epoch.
    pub fn w_cubic(&self, t: f64) -> f64 {
        let d = t - self.k;
        self.cfg.c * d * d * d + self.w_max
    }

    fn segs(&self) -> f64 {
        self.cwnd / self.mss as f64
    }

    /// `alpha_cubic` of RFC 9438 §4.3: `3*(1-beta)/(1+beta)` until `W_est` reaches
    /// `cwnd_prior`, then 1.
    fn alpha(&self) -> f64 {
        if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            3.0 * (1.0 - self.cfg.beta) / (1.0 + self.cfg.beta)
        }
    }

    fn slow_start(&mut self, ack: &AckEvent) -> usize {
        let mut divisor = 1;
        if self.cfg.hystart {
            match self.hystart.on_ack(ack) {
                SlowStartAction::Grow(d) => divisor = d,
                SlowStartAction::Exit => {
                    self.ssthresh = self.cwnd as usize;
                    return ack.bytes_acked;
                }
            }
        }
        let room = self.ssthresh as f64 - self.cwnd;
        let inc = (abc_growth(ack.bytes_acked, self.abc_limit, self.mss) / divisor) as f64;
        let inc = inc.min(room);
        self.cwnd += inc;
        if self.cwnd < self.ssthresh as f64 {
            0
        } else {
            ack.bytes_acked.saturating_sub(inc as usize)
        }
    }

    fn congestion_avoidance(&mut self, acked: usize, ctx: &CcContext<'_>) {
        let segs_acked = acked as f64 / self.mss as f64;
        let start = match self.epoch_start {
            Some(s) => s,
            None => {
                // RFC 9438 §4.2: a new congestion avoidance stage begins.
                self.epoch_start = Some(ctx.now);
                self.cwnd_epoch = self.segs();
                if self.w_max <= self.cwnd_epoch {
                    // No W_max above us (first stage, or after an RTO, §4.8): K = 0,
                    // W_max = cwnd_epoch; the curve starts convex.
                    self.w_max = self.cwnd_epoch;
                    self.k = 0.0;
                } else {
                    // RFC 9438 §4.2 eq. (2).
                    self.k = ((self.w_max - self.cwnd_epoch) / self.cfg.c).cbrt();
                }
                self.w_est = self.cwnd_epoch;
                ctx.now
            }
        };
        let t = elapsed(ctx.now, start).as_secs_f64();
        let rtt = ctx.srtt.unwrap_or(Duration::ZERO).as_secs_f64();
        let cwnd = self.segs();

        // RFC 9438 §4.3: W_est grows by alpha_cubic * segments_acked / cwnd.
        self.w_est += self.alpha() * segs_acked / cwnd;

        if self.cfg.reno_friendly && self.w_cubic(t) < self.w_est {
            // Reno-friendly region: cwnd SHOULD be set to W_est (never reduced here).
            self.cwnd = self.cwnd.max(self.w_est * self.mss as f64);
            return;
        }
        // RFC 9438 §4.2: target = W_cubic(t + RTT), clamped to [cwnd, 1.5*cwnd]; cwnd
        // MUST grow by (target - cwnd)/cwnd per acknowledged segment.
        let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
        let inc_segs = (target - cwnd) / cwnd * segs_acked;
        self.cwnd += inc_segs * self.mss as f64;
    }

    fn reduce(&mut self, ctx: &CcContext<'_>) {
        self.saved = Some(Saved {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            w_max: self.w_max,
            cwnd_prior: self.cwnd_prior,
        });
        let cwnd = self.segs();
        // RFC 9438 §4.7: fast convergence releases bandwidth when W_max shrinks.
        self.w_max = if self.cfg.fast_convergence && cwnd < self.w_max {
            cwnd * (1.0 + self.cfg.beta) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        // RFC 9438 §4.6: ssthresh = flight_size * beta_cubic, at least 2 segments.
        let ss = (ctx.in_flight as f64 * self.cfg.beta) as usize;
        self.ssthresh = ss.max(2 * self.mss);
        self.epoch_start = None;
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn cwnd(&self) -> usize {
        self.cwnd as usize
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, ack: &AckEvent, ctx: &CcContext<'_>) {
        // RFC 9438 §5.8: no growth while application-limited.
        if ctx.app_limited || ack.bytes_acked == 0 {
            return;
        }
        let mut acked = ack.bytes_acked;
        if self.cwnd < self.ssthresh as f64 {
            acked = self.slow_start(ack);
            if acked == 0 {
                return;
            }
        }
        self.congestion_avoidance(acked, ctx);
    }

    fn on_congestion_event(&mut self, _event: CongestionEvent, ctx: &CcContext<'_>) {
        self.reduce(ctx);
        // RFC 9438 §4.6: cwnd = max(ssthresh, 2) segments, for loss and ECN alike.
        self.cwnd = self.ssthresh as f64;
    }

    fn on_recovery_exit(&mut self, ctx: &CcContext<'_>) {
        self.cwnd = recovery_exit_cwnd(self.ssthresh, ctx.in_flight, self.mss) as f64;
    }

    fn on_rto(&mut self, repeated: bool, ctx: &CcContext<'_>) {
        if !repeated {
            // RFC 9438 §4.8: ssthresh as on a loss (with beta_cubic), cwnd as Reno.
            self.reduce(ctx);
        }
        // RFC 5681 §3.1: the loss window, one segment.
        self.cwnd = self.mss as f64;
        // RFC 9438 §4.8: in the first congestion avoidance stage after a timeout, K = 0
        // and W_max is the cwnd at the beginning of that stage.
        self.w_max = 0.0;
        self.epoch_start = None;
        self.hystart = HyStartPlusPlus::new();
    }

    fn on_idle_restart(&mut self, idle: Duration, restart_window: usize, _ctx: &CcContext<'_>) {
        self.cwnd = self.cwnd.min(restart_window.max(self.mss) as f64);
        // RFC 9438 §5.8: t must not include the idle period; shift the epoch (as Linux
        // does on CA_EVENT_TX_START).
        if let Some(s) = self.epoch_start {
            self.epoch_start = Some(crate::tcp::after(s, idle));
        }
    }

    fn set_mss(&mut self, mss: usize) {
        let mss = mss.max(1);
        // Keep windows in segments.
        let ratio = mss as f64 / self.mss as f64;
        self.cwnd = (self.cwnd * ratio).max(mss as f64);
        self.mss = mss;
    }

    fn on_spurious_congestion(&mut self, _ctx: &CcContext<'_>) {
        // RFC 9438 §4.9: restore the state from before the spurious event.
        if let Some(s) = self.saved.take() {
            self.cwnd = self.cwnd.max(s.cwnd);
            self.ssthresh = s.ssthresh;
            self.w_max = s.w_max;
            self.cwnd_prior = s.cwnd_prior;
            self.epoch_start = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;
    const MS: u64 = 1_000_000;

    fn cfg() -> CubicConfig {
        CubicConfig {
            hystart: false,
            ..CubicConfig::default()
        }
    }

    fn ack(n: usize) -> AckEvent {
        AckEvent {
            bytes_acked: n,
            ..AckEvent::default()
        }
    }

    fn ctx(now: u64, flight: usize, rtt_ms: u64) -> CcContext<'static> {
        CcContext::new(
            Instant::from_nanos(now),
            MSS,
            flight,
            Some(Duration::from_millis(rtt_ms)),
        )
    }

    /// One RTT: one ACK per segment of the current window, all at `now`.
    fn one_rtt(c: &mut Cubic, now: u64, rtt_ms: u64) {
        let n = c.cwnd() / MSS;
        for _ in 0..n {
            c.on_ack(&ack(MSS), &ctx(now, c.cwnd(), rtt_ms));
        }
    }

    /// A CUBIC that just lost at `w` segments with a full flight, at time 0.
    fn after_loss(w: usize, cfg: CubicConfig) -> Cubic {
        let mut c = Cubic::new(MSS, w * MSS, cfg);
        c.on_congestion_event(CongestionEvent::Loss, &ctx(0, w * MSS, 100));
        c
    }

    #[test]
    fn multiplicative_decrease_uses_beta() {
        let c = after_loss(100, cfg());
        assert_eq!(c.cwnd(), 70 * MSS);
        assert_eq!(c.ssthresh(), 70 * MSS);
        assert_eq!(c.w_max(), 100.0);
        // Never below 2 segments.
        let c = after_loss(2, cfg());
        assert_eq!(c.cwnd(), 2 * MSS);
    }

    #[test]
    fn k_follows_equation_2() {
        let mut c = after_loss(100, cfg());
        c.on_ack(&ack(MSS), &ctx(1, 70 * MSS, 100));
        // K = cbrt((100 - 70) / 0.4) = cbrt(75).
        assert!((c.k() - 75f64.cbrt()).abs() < 1e-9, "K = {}", c.k());
        assert!((c.k() - 4.2172).abs() < 1e-3);
    }

    #[test]
    fn w_cubic_matches_equation_1() {
        let mut c = after_loss(100, cfg());
        c.on_ack(&ack(MSS), &ctx(1, 70 * MSS, 100));
        let k = 75f64.cbrt();
        for t in [0.0, 1.0, 2.0, k, 5.0, 8.0] {
            let want = 0.4 * (t - k).powi(3) + 100.0;
            assert!((c.w_cubic(t) - want).abs() < 1e-9);
        }
        // W_cubic(0) = cwnd_epoch, W_cubic(K) = W_max.
        assert!((c.w_cubic(0.0) - 70.0).abs() < 1e-9);
        assert!((c.w_cubic(k) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn window_tracks_the_cubic_curve() {
        // RTT 100 ms, W_max 100: cwnd after each RTT should sit close to W_cubic.
        let cfg = CubicConfig {
            reno_friendly: false,
            ..cfg()
        };
        let mut c = after_loss(100, cfg);
        let rtt = 100;
        let mut checks = 0;
        for r in 0..80u64 {
            let now = 1 + r * rtt * MS;
            one_rtt(&mut c, now, rtt);
            let t = (now as f64) / 1e9;
            let w = c.cwnd() as f64 / MSS as f64;
            // After a round of ACKs at time t, cwnd has moved most of the way toward
            // W_cubic(t + RTT); it lies between W_cubic(t) and W_cubic(t + RTT), give or
            // take a segment.
            let lo = c.w_cubic(t).min(c.w_cubic(t + 0.1)) - 1.0;
            let hi = c.w_cubic(t).max(c.w_cubic(t + 0.1)) + 1.0;
            if [10, 20, 42, 60, 79].contains(&r) {
                assert!(
                    w >= lo && w <= hi,
                    "t={t:.1} cwnd={w:.2} curve=[{lo:.2},{hi:.2}]"
                );
                checks += 1;
            }
        }
        assert_eq!(checks, 5);
        // Concave then plateau at W_max near t = K, convex after: at 8 s, well above.
        assert!(c.cwnd() > 110 * MSS);
    }

    #[test]
    fn growth_per_rtt_is_capped_at_one_and_a_half() {
        // A far-away target (huge C) is clamped at 1.5 * cwnd per RTT.
        let cfg = CubicConfig {
            c: 1000.0,
            reno_friendly: false,
            ..cfg()
        };
        let mut c = Cubic::new(MSS, 20 * MSS, cfg);
        c.set_ssthresh(20 * MSS);
        c.on_ack(&ack(MSS), &ctx(0, 20 * MSS, 100));
        let before = c.cwnd();
        one_rtt(&mut c, 10_000 * MS, 100);
        let after = c.cwnd();
        assert!(
            after as f64 <= before as f64 * 1.5 + MSS as f64,
            "{before} -> {after}"
        );
        assert!(after as f64 >= before as f64 * 1.4, "{before} -> {after}");
    }

    #[test]
    fn reno_friendly_region_follows_w_est() {
        // A tiny C makes the cubic curve flat, so W_est (alpha = 0.529/RTT) wins.
        let cfg = CubicConfig { c: 0.001, ..cfg() };
        let mut c = after_loss(100, cfg);
        let alpha = 3.0 * 0.3 / 1.7;
        for r in 0..20u64 {
            one_rtt(&mut c, 1 + r * 100 * MS, 100);
        }
        let w = c.cwnd() as f64 / MSS as f64;
        // 20 RTTs at ~alpha segments per RTT from 70.
        let want = 70.0 + 20.0 * alpha;
        assert!((w - want).abs() < 1.0, "cwnd {w:.2} vs W_est {want:.2}");
        assert!((c.w_est() - w).abs() < 0.01);
        // Once W_est passes cwnd_prior (100), alpha becomes 1.
        for r in 20..80u64 {
            one_rtt(&mut c, 1 + r * 100 * MS, 100);
        }
        let w0 = c.cwnd();
        one_rtt(&mut c, 81 * 100 * MS, 100);
        let grew = (c.cwnd() - w0) as f64 / MSS as f64;
        assert!(c.w_est() > 100.0);
        assert!(
            (grew - 1.0).abs() < 0.05,
            "grew {grew:.3} segments in one RTT"
        );
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut c = after_loss(100, cfg());
        // Second loss below the previous W_max (at 70 segments).
        c.on_congestion_event(CongestionEvent::Loss, &ctx(0, 70 * MSS, 100));
        assert!((c.w_max() - 70.0 * 1.7 / 2.0).abs() < 1e-9);
        assert_eq!(c.cwnd(), 49 * MSS);
        // Without fast convergence W_max is the cwnd at the loss.
        let mut c = after_loss(
            100,
            CubicConfig {
                fast_convergence: false,
                ..cfg()
            },
        );
        c.on_congestion_event(CongestionEvent::Ecn, &ctx(0, 70 * MSS, 100));
        assert_eq!(c.w_max(), 70.0);
    }

    #[test]
    fn timeout_resets_to_one_segment_and_k_zero() {
        let mut c = Cubic::new(MSS, 100 * MSS, cfg());
        c.on_rto(false, &ctx(0, 100 * MSS, 100));
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), 70 * MSS);
        c.on_rto(true, &ctx(0, MSS, 100));
        assert_eq!(c.ssthresh(), 70 * MSS);
        // Slow start to ssthresh, then the first CA stage has K = 0 and W_max = cwnd.
        let mut now = 0;
        while c.in_slow_start() {
            now += 100 * MS;
            one_rtt(&mut c, now, 100);
        }
        c.on_ack(&ack(MSS), &ctx(now + 1, c.cwnd(), 100));
        assert_eq!(c.k(), 0.0);
        assert!((c.w_max() - 70.0).abs() < 1.0);
    }

    #[test]
    fn slow_start_and_exit_paths() {
        let mut c = Cubic::new(MSS, 10 * MSS, cfg());
        assert!(c.in_slow_start());
        one_rtt(&mut c, MS, 100);
        assert_eq!(c.cwnd(), 20 * MSS);
        let mut c = after_loss(40, cfg());
        c.on_recovery_exit(&ctx(0, 2 * MSS, 100));
        assert_eq!(c.cwnd(), 3 * MSS);
        c.on_spurious_congestion(&ctx(0, 0, 100));
        assert_eq!(c.cwnd(), 40 * MSS);
        assert_eq!(c.ssthresh(), usize::MAX);
    }

    #[test]
    fn app_limited_and_idle_do_not_grow() {
        let mut c = after_loss(100, cfg());
        let mut x = ctx(MS, 10 * MSS, 100);
        x.app_limited = true;
        c.on_ack(&ack(MSS), &x);
        assert_eq!(c.cwnd(), 70 * MSS);
        // Start an epoch, idle 10 s, and check t excludes the idle time.
        c.on_ack(&ack(MSS), &ctx(MS, 70 * MSS, 100));
        c.on_idle_restart(Duration::from_secs(10), 100 * MSS, &ctx(0, 0, 100));
        let before = c.cwnd();
        c.on_ack(&ack(MSS), &ctx(10_000 * MS + 2 * MS, 70 * MSS, 100));
        // Near t = 0 of the curve: growth of a tiny fraction of a segment, not a jump.
        assert!(c.cwnd() - before < MSS / 2);
    }

    #[test]
    fn hystart_exits_slow_start_on_delay_increase() {
        use crate::seq::SubflowSeq;
        let mut c = Cubic::new(MSS, 10 * MSS, CubicConfig::default());
        let mut una = 0u32;
        let mut now = 0;
        for round in 0..12u64 {
            let rtt = if round < 3 { 50 } else { 80 };
            let n = c.cwnd() / MSS;
            let nxt = una + (n as u32) * 1000;
            for _ in 0..n {
                una += 1000;
                let a = AckEvent {
                    bytes_acked: MSS,
                    rtt: Some(Duration::from_millis(rtt)),
                    snd_una: SubflowSeq(una),
                    snd_nxt: SubflowSeq(nxt + 1000 * n as u32),
                };
                c.on_ack(&a, &ctx(now, c.cwnd(), rtt));
            }
            now += rtt * MS;
        }
        assert!(!c.in_slow_start(), "HyStart++ ended slow start");
        assert!(c.ssthresh() < usize::MAX);
    }
}
