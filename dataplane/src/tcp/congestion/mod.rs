//! Congestion control: the [`CongestionControl`] trait and its implementations
//! ([`reno::NewReno`], [`cubic::Cubic`], the coupled [`lia::Lia`]), after Linux's
//! `tcp_congestion_ops`.
//!
//! # Division of labour
//!
//! The controller owns `cwnd` and `ssthresh` (both in bytes) and nothing else. Loss
//! *detection* and what to retransmit are the connection's job ([`super::sack`]); the
//! connection tells the controller what happened:
//!
//! | event | call |
//! | --- | --- |
//! | an ACK acknowledged new data, outside recovery | [`CongestionControl::on_ack`] |
//! | fast retransmit / entering recovery, or an ECN echo (once per window, RFC 3168 §6.1.2) | [`CongestionControl::on_congestion_event`] |
//! | a full ACK ended recovery | [`CongestionControl::on_recovery_exit`] |
//! | the retransmission timer fired | [`CongestionControl::on_rto`] |
//! | sending resumes after an idle period longer than the RTO | [`CongestionControl::on_idle_restart`] |
//!
//! During recovery the window does not grow and is not inflated: what may be sent is
//! `cwnd - pipe` (RFC 6675 §5). Without SACK the connection counts each duplicate ACK as
//! one segment that left the network (as Linux's `tcp_add_reno_sack` does), which is the
//! same as RFC 5681 §3.2's `cwnd = ssthresh + 3*SMSS` and "+SMSS per duplicate ACK"
//! inflation, and on a partial ACK retransmits the first unacknowledged segment
//! (RFC 6582 §3.2 step 5); the controller is not involved in either.
//!
//! # Coupled controllers (MPTCP)
//!
//! MPTCP's coupled controllers (LIA, RFC 6356; OLIA; BALIA) differ from uncoupled ones
//! only in the window *increase*, which depends on every subflow of the connection:
//! LIA's `alpha = cwnd_total * max_i(cwnd_i / rtt_i^2) / (sum_i cwnd_i / rtt_i)^2`,
//! BALIA's `x_i = cwnd_i / rtt_i`, OLIA's per-path byte counts between losses. So every
//! call gets a [`CcContext`], whose [`CcContext::siblings`] holds a snapshot
//! ([`SubflowView`]) of each *other* established subflow of the same MPTCP connection:
//! cwnd, MSS, SRTT, bytes in flight, bytes delivered since its last loss, and whether it
//! is a backup. This subflow's own values come from the controller itself and from
//! `ctx.srtt`/`ctx.mss`.
//!
//! Subflows of one connection may run on different cores, so the views are copies of
//! the snapshots each subflow publishes in the connection's shared state (atomics),
//! gathered by the MPTCP layer into a small stack array before the call: the controller
//! never dereferences another subflow, takes no lock, and allocates nothing. A snapshot
//! may be one ACK old; coupled increases are defined per ACK and tolerate that, as in
//! Linux, where `mptcp_ccc` reads siblings' `tcp_sock`s without the owner's lock. Plain
//! TCP passes an empty slice, and coupled controllers then behave like NewReno
//! (RFC 6356 §3 with one path reduces to it).

pub mod cubic;
pub mod hystart;
pub mod lia;
pub mod reno;

use core::fmt;
use core::time::Duration;

use super::{CongestionAlgorithm, Instant, TcpConfig};
use crate::seq::SubflowSeq;

/// A read-only snapshot of a sibling subflow, for coupled controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubflowView {
    /// Congestion window in bytes.
    pub cwnd: usize,
    /// Sender MSS in bytes.
    pub mss: usize,
    /// Smoothed RTT, if measured.
    pub srtt: Option<Duration>,
    /// Bytes in flight.
    pub in_flight: usize,
    /// Bytes delivered since this subflow's last congestion event (OLIA's `l_r`).
    pub delivered_since_loss: u64,
    /// The subflow is a backup (MP_PRIO), not used while others work.
    pub backup: bool,
}

/// What the connection knows when it calls its controller.
#[derive(Debug, Clone, Copy)]
pub struct CcContext<'a> {
    /// Now.
    pub now: Instant,
    /// Sender MSS (SMSS) in bytes.
    pub mss: usize,
    /// Bytes in flight (FlightSize), before this ACK's acknowledged bytes are removed.
    pub in_flight: usize,
    /// Smoothed RTT, if measured.
    pub srtt: Option<Duration>,
    /// Smallest RTT seen.
    pub min_rtt: Option<Duration>,
    /// The sender did not fill the window: the application ran out of data, or the
    /// peer's window was the limit. Windows do not grow then (RFC 7661 §4.1,
    /// RFC 9438 §5.8).
    pub app_limited: bool,
    /// The other subflows of the same MPTCP connection; empty for plain TCP.
    pub siblings: &'a [SubflowView],
}

impl<'a> CcContext<'a> {
    /// A context for a plain TCP connection (no siblings, not app-limited).
    pub fn new(now: Instant, mss: usize, in_flight: usize, srtt: Option<Duration>) -> Self {
        CcContext {
            now,
            mss,
            in_flight,
            srtt,
            min_rtt: srtt,
            app_limited: false,
            siblings: &[],
        }
    }
}

/// One ACK that acknowledged new data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckEvent {
    /// Bytes newly acknowledged, cumulatively or by SACK.
    pub bytes_acked: usize,
    /// RTT sample taken from this ACK, if any.
    pub rtt: Option<Duration>,
    /// `SND.UNA` after this ACK (marks the end of a round for HyStart++).
    pub snd_una: SubflowSeq,
    /// `SND.NXT` when this ACK arrived.
    pub snd_nxt: SubflowSeq,
}

/// The kind of congestion signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CongestionEvent {
    /// Loss detected by duplicate ACKs or SACK: fast retransmit, entering recovery.
    Loss,
    /// An ECN-Echo (RFC 3168 §6.1.2): react as to a loss, at most once per window.
    Ecn,
}

/// A congestion controller of one (sub)flow, in bytes.
pub trait CongestionControl: fmt::Debug + Send {
    /// Short name, as Linux's `tcp_congestion_ops.name` ("reno", "cubic").
    fn name(&self) -> &'static str;

    /// Congestion window in bytes.
    fn cwnd(&self) -> usize;

    /// Slow-start threshold in bytes.
    fn ssthresh(&self) -> usize;

    /// Whether the controller is in slow start.
    fn in_slow_start(&self) -> bool {
        self.cwnd() < self.ssthresh()
    }

    /// New data was acknowledged outside recovery: grow the window
    /// (Linux `cong_avoid`).
    fn on_ack(&mut self, ack: &AckEvent, ctx: &CcContext<'_>);

    /// Loss or ECN: set ssthresh and reduce cwnd (Linux `ssthresh` + entering CWR or
    /// Recovery). Called once per window of data.
    fn on_congestion_event(&mut self, event: CongestionEvent, ctx: &CcContext<'_>);

    /// A full ACK ended fast recovery (RFC 6582 §3.2 step 3). `ctx.in_flight` is the
    /// flight after the ACK.
    fn on_recovery_exit(&mut self, ctx: &CcContext<'_>);

    /// The retransmission timer fired. `repeated` is true when the segment had
    /// already been retransmitted by the timer (RFC 5681 §3.1: ssthresh is then held).
    fn on_rto(&mut self, repeated: bool, ctx: &CcContext<'_>);

    /// Sending resumes after an idle period longer than the RTO (RFC 5681 §4.1):
    /// `cwnd = min(cwnd, restart_window)` where `restart_window = min(IW, cwnd)`.
    fn on_idle_restart(&mut self, idle: Duration, restart_window: usize, ctx: &CcContext<'_>);

    /// The sender MSS changed.
    fn set_mss(&mut self, mss: usize);

    /// The last congestion event turned out spurious (e.g. by D-SACK or F-RTO): undo
    /// its reduction if the controller can. The default does nothing.
    fn on_spurious_congestion(&mut self, _ctx: &CcContext<'_>) {}

    /// Pacing rate hint in bytes per second, or `None` for no pacing. The default is
    /// Linux's: `cwnd / srtt`, times 2 in slow start and 1.2 in congestion avoidance.
    fn pacing_rate(&self, srtt: Option<Duration>) -> Option<u64> {
        let srtt = srtt?.as_nanos();
        if srtt == 0 {
            return None;
        }
        let pct: u128 = if self.in_slow_start() { 200 } else { 120 };
        let rate = self.cwnd() as u128 * 1_000_000_000 * pct / 100 / srtt;
        Some(u64::try_from(rate).unwrap_or(u64::MAX))
    }
}

/// RFC 5681 §3.1 equation (4): `ssthresh = max(FlightSize / 2, 2*SMSS)`.
pub fn reno_ssthresh(flight_size: usize, mss: usize) -> usize {
    (flight_size / 2).max(2 * mss)
}

/// RFC 6582 §3.2 step 3, option (1): on a full ACK,
/// `cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS)`, which avoids a burst when
/// little is in flight.
pub fn recovery_exit_cwnd(ssthresh: usize, flight_size: usize, mss: usize) -> usize {
    ssthresh.min(flight_size.max(mss) + mss)
}

/// A controller chosen at run time, without a heap allocation for the built-in ones.
#[derive(Debug)]
#[non_exhaustive]
pub enum Controller {
    /// NewReno.
    Reno(reno::NewReno),
    /// CUBIC.
    Cubic(cubic::Cubic),
    /// LIA.
    Lia(lia::Lia),
    /// Any other implementation (e.g. a coupled MPTCP controller).
    Custom(Box<dyn CongestionControl>),
}

impl Controller {
    /// The controller `cfg.congestion` names, with the initial window of `cfg`
    /// (RFC 6928) for sender MSS `mss`.
    pub fn new(cfg: &TcpConfig, mss: usize) -> Self {
        let iw = cfg.initial_cwnd(mss);
        match cfg.congestion {
            CongestionAlgorithm::Reno => {
                let mut c = reno::NewReno::new(mss, iw);
                c.set_abc_limit(cfg.abc_limit);
                Controller::Reno(c)
            }
            CongestionAlgorithm::Cubic => {
                let mut c = cubic::Cubic::new(mss, iw, cubic::CubicConfig::default());
                c.set_abc_limit(cfg.abc_limit);
                Controller::Cubic(c)
            }
            CongestionAlgorithm::Lia => {
                let mut c = lia::Lia::new(mss, iw);
                c.set_abc_limit(cfg.abc_limit);
                Controller::Lia(c)
            }
        }
    }

    fn inner(&self) -> &dyn CongestionControl {
        match self {
            Controller::Reno(c) => c,
            Controller::Cubic(c) => c,
            Controller::Lia(c) => c,
            Controller::Custom(c) => c.as_ref(),
        }
    }

    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Controller::Reno(c) => c,
            Controller::Cubic(c) => c,
            Controller::Lia(c) => c,
            Controller::Custom(c) => c.as_mut(),
        }
    }
}

impl CongestionControl for Controller {
    fn name(&self) -> &'static str {
        self.inner().name()
    }
    fn cwnd(&self) -> usize {
        self.inner().cwnd()
    }
    fn ssthresh(&self) -> usize {
        self.inner().ssthresh()
    }
    fn in_slow_start(&self) -> bool {
        self.inner().in_slow_start()
    }
    fn on_ack(&mut self, ack: &AckEvent, ctx: &CcContext<'_>) {
        self.inner_mut().on_ack(ack, ctx)
    }
    fn on_congestion_event(&mut self, event: CongestionEvent, ctx: &CcContext<'_>) {
        self.inner_mut().on_congestion_event(event, ctx)
    }
    fn on_recovery_exit(&mut self, ctx: &CcContext<'_>) {
        self.inner_mut().on_recovery_exit(ctx)
    }
    fn on_rto(&mut self, repeated: bool, ctx: &CcContext<'_>) {
        self.inner_mut().on_rto(repeated, ctx)
    }
    fn on_idle_restart(&mut self, idle: Duration, restart_window: usize, ctx: &CcContext<'_>) {
        self.inner_mut().on_idle_restart(idle, restart_window, ctx)
    }
    fn set_mss(&mut self, mss: usize) {
        self.inner_mut().set_mss(mss)
    }
    fn on_spurious_congestion(&mut self, ctx: &CcContext<'_>) {
        self.inner_mut().on_spurious_congestion(ctx)
    }
    fn pacing_rate(&self, srtt: Option<Duration>) -> Option<u64> {
        self.inner().pacing_rate(srtt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_follow_the_rfcs() {
        assert_eq!(reno_ssthresh(100_000, 1000), 50_000);
        assert_eq!(reno_ssthresh(3000, 1000), 2000);
        assert_eq!(recovery_exit_cwnd(50_000, 100_000, 1000), 50_000);
        assert_eq!(recovery_exit_cwnd(50_000, 2000, 1000), 3000);
        assert_eq!(recovery_exit_cwnd(50_000, 0, 1000), 2000);
    }

    #[test]
    fn controller_follows_config() {
        let cfg = TcpConfig {
            congestion: CongestionAlgorithm::Reno,
            ..TcpConfig::default()
        };
        let c = Controller::new(&cfg, 1460);
        assert_eq!(c.name(), "reno");
        assert_eq!(c.cwnd(), 14600);
        assert!(c.in_slow_start());
        let c = Controller::new(&TcpConfig::default(), 1460);
        assert_eq!(c.name(), "cubic");
        assert_eq!(c.cwnd(), 14600);
        let cfg = TcpConfig {
            congestion: CongestionAlgorithm::Lia,
            ..TcpConfig::default()
        };
        assert_eq!(Controller::new(&cfg, 1460).name(), "lia");
        let c = Controller::Custom(Box::new(reno::NewReno::new(1000, 4000)));
        assert_eq!(c.cwnd(), 4000);
    }

    #[test]
    fn default_pacing_rate() {
        let mut c = reno::NewReno::new(1000, 10_000);
        // 10 kB per 10 ms = 1 MB/s, doubled in slow start.
        assert_eq!(
            c.pacing_rate(Some(Duration::from_millis(10))),
            Some(2_000_000)
        );
        assert_eq!(c.pacing_rate(None), None);
        assert_eq!(c.pacing_rate(Some(Duration::ZERO)), None);
        let ctx = CcContext::new(crate::tcp::Instant::ZERO, 1000, 10_000, None);
        c.on_congestion_event(CongestionEvent::Loss, &ctx);
        // 5 kB per 10 ms * 1.2.
        assert_eq!(
            c.pacing_rate(Some(Duration::from_millis(10))),
            Some(600_000)
        );
    }
}
