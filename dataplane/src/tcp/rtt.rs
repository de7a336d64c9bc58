//! Round-trip time estimation and the retransmission timeout (RFC 6298), with RTT samples
//! from timestamps (RFC 7323 §4).
//!
//! [`RttEstimator`] keeps SRTT, RTTVAR and the RTO with its exponential backoff. It can
//! time one segment at a time the classic way ([`RttEstimator::start_timing`] /
//! [`RttEstimator::on_ack`]), which applies Karn's rule, or take samples computed
//! elsewhere ([`RttEstimator::on_sample`]), e.g. from an echoed timestamp through
//! [`TsClock::rtt_from_tsecr`], which RFC 7323 §4 allows even for retransmitted segments.

use core::time::Duration;

use super::{elapsed, Instant, RtoFloor, TcpConfig};
use crate::seq::SubflowSeq;

/// RFC 6298 §5.7: the RTO used once data transmission begins after a SYN timed out.
pub const SYN_TIMEOUT_FALLBACK_RTO: Duration = Duration::from_secs(3);

/// The parameters of an [`RttEstimator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttConfig {
    /// RTO before the first sample (RFC 6298 §2.1: 1 s).
    pub initial_rto: Duration,
    /// Lower bound (RFC 6298 §2.4: 1 s; Linux 200 ms).
    pub min_rto: Duration,
    /// Upper bound, also of the backed-off RTO (RFC 6298 §2.5: at least 60 s).
    pub max_rto: Duration,
    /// Clock granularity `G` (RFC 6298 §2).
    pub granularity: Duration,
    /// How the lower bound applies.
    pub floor: RtoFloor,
}

impl Default for RttConfig {
    fn default() -> Self {
        RttConfig::from(&TcpConfig::default())
    }
}

impl From<&TcpConfig> for RttConfig {
    fn from(c: &TcpConfig) -> Self {
        RttConfig {
            initial_rto: c.initial_rto,
            min_rto: c.min_rto,
            max_rto: c.max_rto,
            granularity: c.clock_granularity,
            floor: c.rto_floor,
        }
    }
}

/// SRTT, RTTVAR and RTO of one connection (RFC 6298).
#[derive(Debug, Clone)]
pub struct RttEstimator {
    cfg: RttConfig,
    /// Smoothed RTT in ns; `None` before the first sample.
    srtt: Option<u64>,
    /// RTT variation in ns.
    rttvar: u64,
    /// Latest sample.
    latest: Option<Duration>,
    /// Smallest sample seen.
    min_rtt: Option<Duration>,
    /// RTO before backoff.
    base_rto: Duration,
    /// Number of doublings applied (Linux `icsk_backoff`).
    backoff: u32,
    /// The segment being timed: the sequence number just after it, and when it was sent.
    timed: Option<(SubflowSeq, Instant)>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl RttEstimator {
    /// A new estimator with RTO = `initial_rto` (RFC 6298 §2.1).
    pub fn new(cfg: RttConfig) -> Self {
        RttEstimator {
            cfg,
            srtt: None,
            rttvar: 0,
            latest: None,
            min_rtt: None,
            base_rto: cfg.initial_rto.min(cfg.max_rto),
            backoff: 0,
            timed: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RttConfig {
        &self.cfg
    }

    /// Smoothed RTT, `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.map(Duration::from_nanos)
    }

    /// RTT variation (zero before the first sample).
    pub fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar)
    }

    /// The most recent sample.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
    }

    /// The smallest sample seen on this connection.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// How many times the RTO has been doubled since the last reset.
    pub fn backoff(&self) -> u32 {
        self.backoff
    }

    /// The RTO without backoff.
    pub fn base_rto(&self) -> Duration {
        self.base_rto
    }

    /// The current RTO: the base value doubled once per backoff, at most `max_rto`.
    pub fn rto(&self) -> Duration {
        let shifted = 1u32
            .checked_shl(self.backoff)
            .and_then(|m| self.base_rto.checked_mul(m))
            .unwrap_or(self.cfg.max_rto);
        shifted.min(self.cfg.max_rto)
    }

    /// Takes one RTT measurement (RFC 6298 §2.2 and §2.3) and recomputes the RTO.
    ///
    /// As RFC 6298 §5 notes, a new measurement "collapses" a backed-off RTO: the backoff
    /// is reset.
    pub fn on_sample(&mut self, rtt: Duration) {
        self.on_sample_weighted(rtt, 1);
    }

    /// Like [`on_sample`](Self::on_sample) when several samples arrive per RTT (with
    /// timestamps): RFC 7323 Appendix G divides the gains by
    /// `ExpectedSamples = ceil(FlightSize / (2*SMSS))` so SRTT keeps about the same
    /// memory as with one sample per RTT. `expected_samples` of 0 is taken as 1.
    pub fn on_sample_weighted(&mut self, rtt: Duration, expected_samples: u32) {
        let r = nanos(rtt);
        let es = u128::from(expected_samples.max(1));
        match self.srtt {
            None => {
                // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2.
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // RFC 6298 §2.3, alpha = 1/8, beta = 1/4; RTTVAR is updated first, with
                // the SRTT from before this sample.
                let diff = u128::from(srtt.abs_diff(r));
                let var = (u128::from(self.rttvar) * (4 * es - 1) + diff) / (4 * es);
                let s = (u128::from(srtt) * (8 * es - 1) + u128::from(r)) / (8 * es);
                self.rttvar = u64::try_from(var).unwrap_or(u64::MAX);
                self.srtt = Some(u64::try_from(s).unwrap_or(u64::MAX));
            }
        }
        self.latest = Some(rtt);
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        self.base_rto = self.compute_rto();
        self.backoff = 0;
    }

    fn compute_rto(&self) -> Duration {
        let srtt = Duration::from_nanos(self.srtt.unwrap_or(0));
        let var4 = Duration::from_nanos(self.rttvar.saturating_mul(4));
        let rto = match self.cfg.floor {
            // RFC 6298 §2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4; §2.4: rounded up to
            // the minimum.
            RtoFloor::Rfc6298 => srtt
                .saturating_add(var4.max(self.cfg.granularity))
                .max(self.cfg.min_rto),
            RtoFloor::Linux => {
                srtt.saturating_add(var4.max(self.cfg.min_rto).max(self.cfg.granularity))
            }
        };
        // RFC 6298 §2.5: a maximum value MAY be placed on RTO.
        rto.min(self.cfg.max_rto)
    }

    /// The retransmission timer expired: double the RTO (RFC 6298 §5.5), up to `max_rto`,
    /// and stop timing (the timed segment is about to be retransmitted; Karn).
    pub fn on_timeout(&mut self) {
        if self.rto() < self.cfg.max_rto {
            self.backoff = self.backoff.saturating_add(1);
        }
        self.timed = None;
    }

    /// Forgets the backoff, e.g. when an ACK for new data arrives without a sample
    /// (Linux resets `icsk_backoff` on such ACKs).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// The three-way handshake completed. RFC 6298 §5.7: if the SYN (or SYN-ACK) timed
    /// out and no RTT was measured, the RTO MUST be re-initialized to 3 s when data
    /// transmission begins.
    pub fn on_handshake_complete(&mut self, syn_retransmitted: bool) {
        if syn_retransmitted && self.srtt.is_none() && self.base_rto < SYN_TIMEOUT_FALLBACK_RTO {
            self.base_rto = SYN_TIMEOUT_FALLBACK_RTO.min(self.cfg.max_rto);
        }
        self.backoff = 0;
    }

    /// Starts timing the segment that ends just before `end`, sent at `now`, if no
    /// segment is being timed. Call it only for first transmissions of new data.
    pub fn start_timing(&mut self, end: SubflowSeq, now: Instant) {
        if self.timed.is_none() {
            self.timed = Some((end, now));
        }
    }

    /// Whether a segment is being timed.
    pub fn is_timing(&self) -> bool {
        self.timed.is_some()
    }

    /// Data was retransmitted. Karn's algorithm (RFC 6298 §3): "RTT samples MUST NOT be
    /// made using segments that were retransmitted", so the timed segment, which may be
    /// among them, is abandoned.
    pub fn on_retransmit(&mut self) {
        self.timed = None;
    }

    /// An ACK for `ack` arrived at `now`. If it covers the timed segment, that yields a
    /// sample, which is applied and returned.
    pub fn on_ack(&mut self, ack: SubflowSeq, now: Instant) -> Option<Duration> {
        let (end, sent) = self.timed?;
        if ack < end {
            return None;
        }
        self.timed = None;
        let rtt = elapsed(now, sent);
        self.on_sample(rtt);
        Some(rtt)
    }
}

/// The clock behind our TSval (RFC 7323 §5.4): a per-connection offset plus time in
/// ticks of `tick` (Linux: 1 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsClock {
    offset: u32,
    tick: Duration,
}

impl TsClock {
    /// A clock with the given random offset (RFC 7323 §7.1 recommends a random offset
    /// per connection) and tick. A zero tick is taken as 1 ms.
    pub fn new(offset: u32, tick: Duration) -> Self {
        let tick = if tick.is_zero() {
            Duration::from_millis(1)
        } else {
            tick
        };
        TsClock { offset, tick }
    }

    /// The tick length.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// TSval to send at `now`.
    pub fn tsval(&self, now: Instant) -> u32 {
        let ticks = u128::from(now.as_nanos()) / self.tick.as_nanos().max(1);
        (ticks as u32).wrapping_add(self.offset)
    }

    /// RTT sample from the TSecr of an ACK received at `now` (RFC 7323 §4.1): the time
    /// since we sent the TSval it echoes. `None` for a zero TSecr (Linux treats 0 as "no
    /// echo") or one from the future. The caller takes samples only from ACKs that
    /// advance the left edge of the window (RFC 7323 §4.2).
    pub fn rtt_from_tsecr(&self, now: Instant, tsecr: u32) -> Option<Duration> {
        if tsecr == 0 {
            return None;
        }
        let delta = self.tsval(now).wrapping_sub(tsecr);
        if (delta as i32) < 0 {
            return None;
        }
        self.tick.checked_mul(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn t(ns: u64) -> Instant {
        Instant::from_nanos(ns)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn rfc() -> RttConfig {
        RttConfig {
            initial_rto: ms(1000),
            min_rto: ms(1000),
            max_rto: Duration::from_secs(60),
            granularity: ms(1),
            floor: RtoFloor::Rfc6298,
        }
    }

    fn linux() -> RttConfig {
        RttConfig {
            min_rto: ms(200),
            max_rto: Duration::from_secs(120),
            floor: RtoFloor::Linux,
            ..rfc()
        }
    }

    #[test]
    fn initial_rto_is_one_second() {
        let e = RttEstimator::new(rfc());
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.srtt(), None);
    }

    #[test]
    fn first_sample_sets_srtt_and_half_rttvar() {
        let mut e = RttEstimator::new(linux());
        e.on_sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        // Linux floor: 100 + max(200, 200) = 300 ms.
        assert_eq!(e.rto(), ms(300));
        let mut e = RttEstimator::new(rfc());
        e.on_sample(ms(100));
        // RFC: max(100 + 200, 1000) = 1 s.
        assert_eq!(e.rto(), ms(1000));
        let mut e = RttEstimator::new(RttConfig {
            min_rto: ms(10),
            ..rfc()
        });
        e.on_sample(ms(100));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn subsequent_samples_follow_rfc_6298_2_3() {
        let mut e = RttEstimator::new(RttConfig {
            min_rto: Duration::ZERO,
            ..rfc()
        });
        e.on_sample(ms(100)); // srtt 100, var 50
        e.on_sample(ms(200));
        // var = 3/4*50 + 1/4*|100-200| = 37.5 + 25 = 62.5; srtt = 7/8*100 + 1/8*200 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(112_500 + 250_000));
        assert_eq!(e.latest(), Some(ms(200)));
        assert_eq!(e.min_rtt(), Some(ms(100)));
    }

    #[test]
    fn converges_and_granularity_floor_applies() {
        let mut e = RttEstimator::new(RttConfig {
            min_rto: Duration::ZERO,
            granularity: ms(5),
            ..rfc()
        });
        for _ in 0..200 {
            e.on_sample(ms(10));
        }
        assert_eq!(e.srtt(), Some(ms(10)));
        // RTTVAR decays to ~0; G = 5 ms takes over.
        assert!(e.rttvar() < Duration::from_micros(1));
        assert_eq!(e.rto(), ms(15));
    }

    #[test]
    fn weighted_samples_move_srtt_less() {
        let mut a = RttEstimator::new(rfc());
        let mut b = RttEstimator::new(rfc());
        a.on_sample(ms(100));
        b.on_sample(ms(100));
        a.on_sample(ms(180));
        b.on_sample_weighted(ms(180), 10);
        assert_eq!(a.srtt(), Some(ms(110)));
        // alpha' = 1/80: 100 + 80/80 = 101 ms.
        assert_eq!(b.srtt(), Some(ms(101)));
    }

    #[test]
    fn backoff_doubles_caps_and_collapses() {
        let mut e = RttEstimator::new(linux());
        e.on_sample(ms(100)); // rto 300 ms
        e.on_timeout();
        assert_eq!(e.rto(), ms(600));
        e.on_timeout();
        assert_eq!(e.rto(), ms(1200));
        for _ in 0..40 {
            e.on_timeout();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
        assert!(e.backoff() < 40, "backoff stops growing at the cap");
        // RFC 6298 §5: a new sample collapses the backoff.
        e.on_sample(ms(100));
        assert_eq!(e.backoff(), 0);
        assert!(e.rto() < ms(400));
        e.on_timeout();
        e.reset_backoff();
        assert_eq!(e.rto(), e.base_rto());
    }

    #[test]
    fn rto_never_exceeds_max_even_from_huge_samples() {
        let mut e = RttEstimator::new(rfc());
        e.on_sample(Duration::from_secs(500));
        assert_eq!(e.rto(), Duration::from_secs(60));
        e.on_sample(Duration::MAX);
        assert_eq!(e.rto(), Duration::from_secs(60));
    }

    #[test]
    fn karn_rule_discards_timed_segment_on_retransmit() {
        let mut e = RttEstimator::new(linux());
        e.start_timing(SubflowSeq(1000), t(0));
        // A second start does not replace the first.
        e.start_timing(SubflowSeq(2000), t(5 * MS));
        assert!(e.is_timing());
        // A partial ACK does not complete the sample.
        assert_eq!(e.on_ack(SubflowSeq(500), t(10 * MS)), None);
        e.on_retransmit();
        assert!(!e.is_timing());
        assert_eq!(e.on_ack(SubflowSeq(1000), t(50 * MS)), None);
        assert_eq!(e.srtt(), None);
        // A fresh segment can be timed again.
        e.start_timing(SubflowSeq(3000), t(60 * MS));
        assert_eq!(e.on_ack(SubflowSeq(3500), t(90 * MS)), Some(ms(30)));
        assert_eq!(e.srtt(), Some(ms(30)));
        assert!(!e.is_timing());
    }

    #[test]
    fn timing_across_sequence_wrap() {
        let mut e = RttEstimator::new(linux());
        e.start_timing(SubflowSeq(5), t(0));
        assert_eq!(e.on_ack(SubflowSeq(u32::MAX), t(7 * MS)), None);
        assert_eq!(e.on_ack(SubflowSeq(5), t(7 * MS)), Some(ms(7)));
    }

    #[test]
    fn timeout_abandons_timing() {
        let mut e = RttEstimator::new(linux());
        e.start_timing(SubflowSeq(10), t(0));
        e.on_timeout();
        assert_eq!(e.on_ack(SubflowSeq(10), t(5 * MS)), None);
    }

    #[test]
    fn syn_timeout_falls_back_to_three_seconds() {
        let mut e = RttEstimator::new(linux());
        e.on_timeout();
        e.on_handshake_complete(true);
        assert_eq!(e.rto(), ms(3000));
        // With a measured RTT the sample wins.
        let mut e = RttEstimator::new(linux());
        e.on_sample(ms(10));
        e.on_handshake_complete(true);
        assert_eq!(e.rto(), ms(210));
        // Without a retransmitted SYN nothing changes.
        let mut e = RttEstimator::new(linux());
        e.on_handshake_complete(false);
        assert_eq!(e.rto(), ms(1000));
    }

    #[test]
    fn timestamp_clock_and_samples() {
        let c = TsClock::new(1000, ms(1));
        assert_eq!(c.tsval(t(0)), 1000);
        assert_eq!(c.tsval(t(5 * MS + 999_999)), 1005);
        let sent = c.tsval(t(100 * MS));
        assert_eq!(c.rtt_from_tsecr(t(142 * MS), sent), Some(ms(42)));
        // An echo from the future, or zero, gives nothing.
        assert_eq!(c.rtt_from_tsecr(t(100 * MS), sent + 5), None);
        assert_eq!(c.rtt_from_tsecr(t(100 * MS), 0), None);
        // Wrap of the 32-bit timestamp.
        let c = TsClock::new(u32::MAX - 1, ms(1));
        let sent = c.tsval(t(0));
        assert_eq!(c.tsval(t(3 * MS)), 1);
        assert_eq!(c.rtt_from_tsecr(t(3 * MS), sent), Some(ms(3)));
        // Microsecond ticks.
        let c = TsClock::new(7, Duration::from_micros(1));
        let sent = c.tsval(t(1_000_000));
        assert_eq!(
            c.rtt_from_tsecr(t(1_250_000), sent),
            Some(Duration::from_micros(250))
        );
        assert_eq!(TsClock::new(0, Duration::ZERO).tick(), ms(1));
    }

    #[test]
    fn timestamp_samples_feed_estimator_even_after_retransmit() {
        // RFC 7323 §4: the echoed TSval identifies the transmission, so Karn's ambiguity
        // does not arise; the estimator accepts the sample directly.
        let c = TsClock::new(0, ms(1));
        let mut e = RttEstimator::new(linux());
        e.start_timing(SubflowSeq(100), t(0));
        e.on_retransmit();
        let tsval_of_retransmission = c.tsval(t(1000 * MS));
        let rtt = c
            .rtt_from_tsecr(t(1020 * MS), tsval_of_retransmission)
            .unwrap();
        e.on_sample(rtt);
        assert_eq!(e.srtt(), Some(ms(20)));
    }
}
