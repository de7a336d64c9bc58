//! NewReno: slow start and congestion avoidance (RFC 5681 §3.1) with appropriate byte
//! counting (RFC 3465), the ssthresh reduction of fast retransmit (RFC 5681 §3.2) and the
//! window on leaving fast recovery (RFC 6582 §3.2).

use core::time::Duration;

use super::{
    recovery_exit_cwnd, reno_ssthresh, AckEvent, CcContext, CongestionControl, CongestionEvent,
};

/// RFC 3465 §2.2: in slow start, at most `L * SMSS` bytes of growth per ACK; `L = 2`.
pub const ABC_LIMIT: usize = 2;

/// The slow-start growth allowed for `acked` bytes with limit `l` segments of `mss`.
pub(crate) fn abc_growth(acked: usize, l: Option<u32>, mss: usize) -> usize {
    match l {
        Some(l) => acked.min((l as usize).saturating_mul(mss)),
        None => acked,
    }
}

/// NewReno's window state.
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// RFC 3465 §2.1 `bytes_acked` counter for congestion avoidance.
    bytes_acked: usize,
    /// State before the last reduction, for undo.
    prior: Option<(usize, usize)>,
    /// RFC 3465 `L` in segments; `None` for no limit.
    abc_limit: Option<u32>,
}

impl NewReno {
    /// Starts with `initial_cwnd` bytes and an "arbitrarily high" ssthresh
    /// (RFC 5681 §3.1).
    pub fn new(mss: usize, initial_cwnd: usize) -> Self {
        let mss = mss.max(1);
        NewReno {
            mss,
            cwnd: initial_cwnd.max(mss),
            ssthresh: usize::MAX,
            bytes_acked: 0,
            prior: None,
            abc_limit: Some(ABC_LIMIT as u32),
        }
    }

    /// Sets RFC 3465's `L` (segments of slow-start growth per ACK); `None` removes
    /// the limit.
    pub fn set_abc_limit(&mut self, l: Option<u32>) {
        self.abc_limit = l;
    }

    /// Sets ssthresh (e.g. from a cached route metric).
    pub fn set_ssthresh(&mut self, ssthresh: usize) {
        self.ssthresh = ssthresh.max(2 * self.mss);
    }

    /// Sets cwnd directly (for controllers built on NewReno that change the increase).
    pub(crate) fn set_cwnd(&mut self, cwnd: usize) {
        self.cwnd = cwnd.max(self.mss);
    }

    /// The sender MSS.
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// Slow start and congestion avoidance for `acked` bytes; shared with coupled
    /// controllers that only change the increase.
    pub(crate) fn grow(&mut self, acked: usize) {
        let mut acked = acked;
        if self.cwnd < self.ssthresh {
            // RFC 5681 §3.1 eq. (2) with RFC 3465 §2.2: cwnd += min(N, L*SMSS), and not
            // past ssthresh; what is left counts towards congestion avoidance.
            let inc = abc_growth(acked, self.abc_limit, self.mss).min(self.ssthresh - self.cwnd);
            self.cwnd += inc;
            acked -= inc;
            if self.cwnd < self.ssthresh || acked == 0 {
                return;
            }
        }
        // RFC 3465 §2.1 / RFC 5681 §3.1: one SMSS per cwnd bytes acknowledged.
        self.bytes_acked += acked;
        if self.bytes_acked >= self.cwnd {
            self.bytes_acked -= self.cwnd;
            self.cwnd += self.mss;
        }
    }
}

impl CongestionControl for NewReno {
    fn name(&self) -> &'static str {
        "reno"
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, ack: &AckEvent, ctx: &CcContext<'_>) {
        if ctx.app_limited {
            return;
        }
        self.grow(ack.bytes_acked);
    }

    fn on_congestion_event(&mut self, _event: CongestionEvent, ctx: &CcContext<'_>) {
        self.prior = Some((self.cwnd, self.ssthresh));
        // RFC 5681 §3.2 step 2: ssthresh MUST be set to no more than eq. (4).
        self.ssthresh = reno_ssthresh(ctx.in_flight, self.mss);
        // RFC 6675 §5 (4.2): cwnd = ssthresh; the "+3 SMSS" of RFC 5681 §3.2 step 3 is
        // accounted in the pipe (see the module docs of `congestion`).
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
    }

    fn on_recovery_exit(&mut self, ctx: &CcContext<'_>) {
        self.cwnd = recovery_exit_cwnd(self.ssthresh, ctx.in_flight, self.mss);
        self.bytes_acked = 0;
    }

    fn on_rto(&mut self, repeated: bool, ctx: &CcContext<'_>) {
        if !repeated {
            self.prior = Some((self.cwnd, self.ssthresh));
            // RFC 5681 §3.1 eq. (4); held constant on repeated timeouts of the same
            // segment (RFC 5681 §3.1 implementation note).
            self.ssthresh = reno_ssthresh(ctx.in_flight, self.mss);
        }
        // RFC 5681 §3.1: cwnd MUST be set to no more than the loss window, 1 SMSS.
        self.cwnd = self.mss;
        self.bytes_acked = 0;
    }

    fn on_idle_restart(&mut self, _idle: Duration, restart_window: usize, _ctx: &CcContext<'_>) {
        // RFC 5681 §4.1: cwnd SHOULD be set to no more than RW = min(IW, cwnd).
        self.cwnd = self.cwnd.min(restart_window.max(self.mss));
    }

    fn set_mss(&mut self, mss: usize) {
        self.mss = mss.max(1);
        self.cwnd = self.cwnd.max(self.mss);
    }

    fn on_spurious_congestion(&mut self, _ctx: &CcContext<'_>) {
        if let Some((cwnd, ssthresh)) = self.prior.take() {
            self.cwnd = self.cwnd.max(cwnd);
            self.ssthresh = ssthresh;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ctx(flight: usize) -> CcContext<'static> {
        CcContext::new(
            crate::tcp::Instant::ZERO,
            MSS,
            flight,
            Some(Duration::from_millis(10)),
        )
    }

    fn ack(n: usize) -> AckEvent {
        AckEvent {
            bytes_acked: n,
            ..AckEvent::default()
        }
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut r = NewReno::new(MSS, 10 * MSS);
        assert!(r.in_slow_start());
        // One ACK per segment for a full window.
        for _ in 0..10 {
            r.on_ack(&ack(MSS), &ctx(10 * MSS));
        }
        assert_eq!(r.cwnd(), 20 * MSS);
    }

    #[test]
    fn abc_limits_slow_start_growth_per_ack() {
        let mut r = NewReno::new(MSS, 10 * MSS);
        // A stretch ACK for 5 segments grows by at most L = 2 SMSS (RFC 3465 §2.2).
        r.on_ack(&ack(5 * MSS), &ctx(10 * MSS));
        assert_eq!(r.cwnd(), 12 * MSS);
    }

    #[test]
    fn abc_limit_can_be_lifted_for_stretch_acks() {
        let mut r = NewReno::new(MSS, 10 * MSS);
        r.set_abc_limit(None);
        r.on_ack(&ack(5 * MSS), &ctx(10 * MSS));
        assert_eq!(r.cwnd(), 15 * MSS);
    }

    #[test]
    fn slow_start_stops_at_ssthresh() {
        let mut r = NewReno::new(MSS, 10 * MSS);
        r.set_ssthresh(11 * MSS + 500);
        r.on_ack(&ack(2 * MSS), &ctx(10 * MSS));
        assert_eq!(r.cwnd(), 11 * MSS + 500);
        assert!(!r.in_slow_start());
    }

    #[test]
    fn congestion_avoidance_adds_one_mss_per_window() {
        let mut r = NewReno::new(MSS, 10 * MSS);
        r.set_ssthresh(10 * MSS);
        assert!(!r.in_slow_start());
        for _ in 0..9 {
            r.on_ack(&ack(MSS), &ctx(10 * MSS));
            assert_eq!(r.cwnd(), 10 * MSS);
        }
        r.on_ack(&ack(MSS), &ctx(10 * MSS));
        assert_eq!(r.cwnd(), 11 * MSS);
        // 11 more segments for the next increase.
        for _ in 0..10 {
            r.on_ack(&ack(MSS), &ctx(11 * MSS));
        }
        assert_eq!(r.cwnd(), 11 * MSS);
        r.on_ack(&ack(MSS), &ctx(11 * MSS));
        assert_eq!(r.cwnd(), 12 * MSS);
    }

    #[test]
    fn delayed_acks_grow_the_same_in_congestion_avoidance() {
        // Byte counting: ACKs every other segment give the same growth (RFC 3465 §1).
        let mut r = NewReno::new(MSS, 20 * MSS);
        r.set_ssthresh(20 * MSS);
        for _ in 0..10 {
            r.on_ack(&ack(2 * MSS), &ctx(20 * MSS));
        }
        assert_eq!(r.cwnd(), 21 * MSS);
    }

    #[test]
    fn loss_halves_flight_and_exit_deflates() {
        let mut r = NewReno::new(MSS, 40 * MSS);
        r.on_congestion_event(CongestionEvent::Loss, &ctx(40 * MSS));
        assert_eq!(r.ssthresh(), 20 * MSS);
        assert_eq!(r.cwnd(), 20 * MSS);
        // Full ACK with a large flight: cwnd = ssthresh.
        r.on_recovery_exit(&ctx(30 * MSS));
        assert_eq!(r.cwnd(), 20 * MSS);
        // Full ACK with little in flight: no burst (RFC 6582 §3.2 step 3 option 1).
        r.on_recovery_exit(&ctx(3 * MSS));
        assert_eq!(r.cwnd(), 4 * MSS);
        // Small flights never go below 2 SMSS of ssthresh.
        r.on_congestion_event(CongestionEvent::Ecn, &ctx(MSS));
        assert_eq!(r.ssthresh(), 2 * MSS);
    }

    #[test]
    fn rto_collapses_to_one_segment() {
        let mut r = NewReno::new(MSS, 40 * MSS);
        r.on_rto(false, &ctx(40 * MSS));
        assert_eq!(r.cwnd(), MSS);
        assert_eq!(r.ssthresh(), 20 * MSS);
        // A repeated timeout holds ssthresh even though the flight is now 1 segment.
        r.on_rto(true, &ctx(MSS));
        assert_eq!(r.ssthresh(), 20 * MSS);
        // Slow start again up to ssthresh.
        r.on_ack(&ack(MSS), &ctx(MSS));
        assert_eq!(r.cwnd(), 2 * MSS);
    }

    #[test]
    fn app_limited_does_not_grow() {
        let mut r = NewReno::new(MSS, 10 * MSS);
        let mut c = ctx(2 * MSS);
        c.app_limited = true;
        r.on_ack(&ack(MSS), &c);
        assert_eq!(r.cwnd(), 10 * MSS);
    }

    #[test]
    fn idle_restart_and_undo() {
        let mut r = NewReno::new(MSS, 40 * MSS);
        r.on_idle_restart(Duration::from_secs(5), 10 * MSS, &ctx(0));
        assert_eq!(r.cwnd(), 10 * MSS);
        r.on_congestion_event(CongestionEvent::Loss, &ctx(10 * MSS));
        assert_eq!(r.cwnd(), 5 * MSS);
        r.on_spurious_congestion(&ctx(5 * MSS));
        assert_eq!(r.cwnd(), 10 * MSS);
        assert_eq!(r.ssthresh(), usize::MAX);
        r.set_mss(1460);
        r.on_rto(false, &ctx(0));
        assert_eq!(r.cwnd(), 1460);
    }
}
