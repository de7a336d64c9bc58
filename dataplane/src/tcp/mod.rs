//! The subflow TCP engine (RFC 9293), sans-IO.
//!
//! Every MPTCP subflow and every plain TCP connection is one of these engines. It runs
//! inside a worker's poll loop on one core: it never reads a clock (time is passed in as
//! [`Instant`]), never touches a socket, and allocates only when a connection is created
//! (its buffers and tables have fixed capacity), never per packet.
//!
//! # Building blocks
//!
//! | module | what it does |
//! | --- | --- |
//! | [`rtt`] | SRTT/RTTVAR/RTO (RFC 6298), Karn's rule, timestamp clock and samples (RFC 7323 §4) |
//! | [`timer`] | one [`timer::TimerTable`] per connection, indexed by [`timer::Timer`]; one deadline for the host |
//! | [`buffer`] | fixed-capacity byte ring used for both send and receive data |
//! | [`assembler`] | out-of-order receive ranges and the SACK blocks to advertise (RFC 2018 §4) |
//! | [`sack`] | the sender's SACK scoreboard and RFC 6675 loss recovery (IsLost, NextSeg, pipe) |
//! | [`check`] | segment acceptability, trimming, RST/ACK verdicts with RFC 5961 hardening |
//! | [`window`] | SND.WND/WL1/WL2, advertised window with SWS avoidance, Nagle, ACK policy |
//! | [`socket`] | the RFC 9293 state machine: `handle_segment`, `poll_transmit`, `poll_timeout`, `handle_timeout`, `send`/`recv`/`close`/`abort` |
//! | [`congestion`] | the [`congestion::CongestionControl`] trait, NewReno, CUBIC (+HyStart++), LIA |
//!
//! # How the connection state machine uses them
//!
//! The state machine ([`socket::TcpSocket`]) owns one of each and wires them so:
//!
//! * **Send side.** `send(&[u8])` enqueues into the send [`buffer::RingBuffer`]; byte 0 of
//!   the ring is `SND.UNA`. `poll_transmit` computes the usable window as
//!   `min(SND.WND, cwnd) - pipe` (pipe from [`sack::Scoreboard::pipe`] when SACK is on,
//!   else `SND.NXT - SND.UNA` less the bytes counted as left the network by duplicate
//!   ACKs), then reads the segment's bytes with `slices_at(SND.NXT - SND.UNA, len)`
//!   (two slices at the wrap point, copied once into the packet). During recovery
//!   [`sack::Scoreboard::next_seg`] picks what to retransmit. An ACK that advances
//!   `SND.UNA` calls `discard(n)` on the ring, [`sack::Scoreboard::update`],
//!   [`rtt::RttEstimator`] (one sample per ACK, Karn-filtered or from the echoed
//!   timestamp), and [`congestion::CongestionControl::on_ack`].
//! * **Receive side.** A segment at offset `SEG.SEQ - RCV.NXT` inside `RCV.WND` is
//!   written with `write_at(offset, payload)` into the receive ring's free space, then
//!   registered with [`assembler::Assembler::add`]; the returned count of newly
//!   contiguous bytes is `commit`ted to the ring and added to `RCV.NXT`. ACKs carry
//!   [`assembler::Assembler::sack_blocks`]. `recv(&mut [u8])` dequeues from the ring.
//! * **Arriving segments** (synchronized states) follow RFC 9293 §3.10.7.4's order:
//!   [`check::segment_acceptable`] (else ACK and drop), RST through [`check::check_rst`]
//!   (reset, or a challenge ACK rate-limited by [`check::ChallengeAckLimiter`],
//!   RFC 5961 §3.2), a SYN always draws a challenge ACK (RFC 5961 §4.2), then the ACK
//!   field through [`check::check_ack`] (RFC 5961 §5.2) and the window through
//!   [`window::SendWindow::update`]; payload is cut with [`check::trim_to_window`].
//! * **Outgoing segments** carry the window from [`window::RecvWindow::advertise`];
//!   data segment sizes come from [`window::sender_segment_size`] (SWS avoidance and
//!   Nagle); [`window::AckPolicy`] decides between an immediate and a delayed ACK.
//! * **Timers.** Retransmit (RTO from the estimator, backed off on expiry), delayed ACK
//!   (between [`TcpConfig::ack_delay_min`] and [`TcpConfig::ack_delay_max`]), persist
//!   (zero window probes), keepalive, FIN_WAIT_2 and TIME_WAIT all live in one
//!   [`timer::TimerTable`]; the host asks `poll_timeout()` and calls
//!   `handle_timeout(now)` which pops the expired ones.
//! * **MPTCP.** The data level above reads a subflow's cwnd/srtt snapshot and passes the
//!   siblings' snapshots into [`congestion::CcContext`] so a coupled controller (LIA,
//!   OLIA, BALIA) can compute its increase; plain TCP passes an empty slice.
//!
//! # Time
//!
//! [`Instant`] is [`crate::time::Instant`] (nanoseconds, saturating); spans are
//! [`core::time::Duration`]. Arithmetic on instants goes through [`after`] and
//! [`elapsed`].

pub mod assembler;
pub mod buffer;
pub mod check;
pub mod congestion;
pub mod rtt;
pub mod sack;
pub mod socket;
pub mod timer;
pub mod window;

use core::time::Duration;

pub use crate::time::Instant;

/// `t + d`, saturating at the far future.
#[inline]
pub fn after(t: Instant, d: Duration) -> Instant {
    t + d
}

/// `now - earlier`, or zero when `earlier` is after `now`.
#[inline]
pub fn elapsed(now: Instant, earlier: Instant) -> Duration {
    now.saturating_duration_since(earlier)
}

/// Which congestion controller a new connection gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CongestionAlgorithm {
    /// NewReno (RFC 5681, RFC 6582, RFC 3465 byte counting).
    Reno,
    /// CUBIC (RFC 9438), Linux's default.
    #[default]
    Cubic,
    /// LIA (RFC 6356), MPTCP's coupled controller; NewReno on a lone flow.
    Lia,
}

/// Where the minimum RTO applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtoFloor {
    /// RFC 6298 §2.4: `RTO = max(SRTT + max(G, 4*RTTVAR), min_rto)`.
    Rfc6298,
    /// Linux (`tcp_set_rto`): `RTO = SRTT + max(4*RTTVAR, min_rto)`: the floor applies to
    /// the variance term, so RTO is always at least `min_rto` above SRTT.
    #[default]
    Linux,
}

/// Per-connection TCP parameters. [`Default`] gives Linux-like values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// Our maximum segment size (payload bytes), advertised in the MSS option.
    pub mss: u16,
    /// Send buffer capacity in bytes (fixed at connection creation).
    pub send_buffer: usize,
    /// Receive buffer capacity in bytes; the largest receive window we advertise.
    pub recv_buffer: usize,
    /// Offer window scaling (RFC 7323 §2); the shift is derived from `recv_buffer`.
    pub window_scaling: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// RTO before any RTT sample. RFC 6298 §2.1: 1 s.
    pub initial_rto: Duration,
    /// Lower bound of the RTO. RFC 6298 §2.4 says 1 s; Linux uses 200 ms.
    pub min_rto: Duration,
    /// Upper bound of the RTO. RFC 6298 §2.5: at least 60 s; Linux uses 120 s.
    pub max_rto: Duration,
    /// Where `min_rto` applies.
    pub rto_floor: RtoFloor,
    /// Clock granularity `G` of RFC 6298 §2.
    pub clock_granularity: Duration,
    /// Delay ACKs at all (RFC 9293 §3.8.6.3 / RFC 5681 §4.2).
    pub delayed_ack: bool,
    /// Shortest ACK delay (Linux `TCP_DELACK_MIN`, 40 ms).
    pub ack_delay_min: Duration,
    /// Longest ACK delay (Linux `TCP_DELACK_MAX`, 200 ms; RFC 5681 §4.2 requires < 500 ms).
    pub ack_delay_max: Duration,
    /// How long TIME_WAIT lasts (2*MSL; Linux `TCP_TIMEWAIT_LEN` is 60 s).
    pub time_wait: Duration,
    /// How long an orphaned FIN_WAIT_2 waits for the peer's FIN (Linux `tcp_fin_timeout`).
    pub fin_wait2_timeout: Duration,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_window: u32,
    /// Slow-start growth limit per ACK in segments, RFC 3465 §2.2's `L` (2). `None`
    /// grows by all bytes acknowledged, as Linux does; that matters when ACKs are
    /// coalesced (GRO, batch receive), which a poll-mode receiver does.
    pub abc_limit: Option<u32>,
    /// Duplicate-ACK threshold for fast retransmit (RFC 5681 §3.2, RFC 6675: 3).
    pub dup_thresh: u32,
    /// Congestion controller for new connections.
    pub congestion: CongestionAlgorithm,
    /// SYN retransmissions before giving up (Linux `tcp_syn_retries`, 6).
    pub syn_retries: u8,
    /// Data retransmissions, or unanswered zero-window probes, before giving up (Linux
    /// `tcp_retries2`, 15).
    pub max_retries: u8,
    /// Idle time before keepalive probes start, or `None` for no keepalive
    /// (RFC 9293 §3.8.4: off by default; Linux `tcp_keepalive_time` is 2 h).
    pub keepalive: Option<Duration>,
    /// Time between unanswered keepalive probes (Linux `tcp_keepalive_intvl`, 75 s).
    pub keepalive_interval: Duration,
    /// Unanswered probes before the connection is dropped (Linux
    /// `tcp_keepalive_probes`, 9).
    pub keepalive_probes: u8,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            window_scaling: true,
            sack: true,
            timestamps: true,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            rto_floor: RtoFloor::Linux,
            clock_granularity: Duration::from_millis(1),
            delayed_ack: true,
            ack_delay_min: Duration::from_millis(40),
            ack_delay_max: Duration::from_millis(200),
            time_wait: Duration::from_secs(60),
            fin_wait2_timeout: Duration::from_secs(60),
            initial_window: 10,
            abc_limit: Some(2),
            dup_thresh: 3,
            congestion: CongestionAlgorithm::default(),
            syn_retries: 6,
            max_retries: 15,
            keepalive: None,
            keepalive_interval: Duration::from_secs(75),
            keepalive_probes: 9,
        }
    }
}

/// Why a [`TcpConfig`] was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// MSS below 88 bytes (the smallest IPv4 minimum, RFC 9293 §3.7.1 says 536 default).
    MssTooSmall,
    /// A buffer is empty or larger than the 2^30 bytes a scaled window can reach.
    BadBufferSize,
    /// `min_rto > max_rto`, or `max_rto` below 60 s (RFC 6298 §2.5).
    BadRtoBounds,
    /// `ack_delay_min > ack_delay_max`, or the maximum is 500 ms or more
    /// (RFC 5681 §4.2: an ACK MUST be generated within 500 ms).
    BadAckDelay,
    /// Initial window of zero segments, or a duplicate threshold of zero.
    BadWindow,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConfigError::MssTooSmall => "MSS too small",
            ConfigError::BadBufferSize => "buffer size out of range",
            ConfigError::BadRtoBounds => "RTO bounds out of range",
            ConfigError::BadAckDelay => "ACK delay out of range",
            ConfigError::BadWindow => "initial window or duplicate threshold is zero",
        })
    }
}

impl std::error::Error for ConfigError {}

/// The largest window a scaled TCP window can describe: 2^30 bytes (RFC 7323 §2.3).
pub const MAX_WINDOW: usize = 1 << 30;

/// The largest window-scale shift (RFC 7323 §2.3: "MUST use 14").
pub const MAX_WINDOW_SHIFT: u8 = 14;

impl TcpConfig {
    /// Checks the values against the RFCs' limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mss < 88 {
            return Err(ConfigError::MssTooSmall);
        }
        for b in [self.send_buffer, self.recv_buffer] {
            if b == 0 || b > MAX_WINDOW {
                return Err(ConfigError::BadBufferSize);
            }
        }
        // RFC 6298 §2.5: a maximum value MAY be placed on RTO provided it is at least
        // 60 seconds.
        if self.min_rto > self.max_rto || self.max_rto < Duration::from_secs(60) {
            return Err(ConfigError::BadRtoBounds);
        }
        // RFC 5681 §4.2: an ACK MUST be generated within 500 ms of the arrival of the
        // first unacknowledged packet.
        if self.ack_delay_min > self.ack_delay_max
            || self.ack_delay_max >= Duration::from_millis(500)
        {
            return Err(ConfigError::BadAckDelay);
        }
        if self.initial_window == 0 || self.dup_thresh == 0 {
            return Err(ConfigError::BadWindow);
        }
        Ok(())
    }

    /// The window-scale shift we offer: the smallest shift with which `recv_buffer`
    /// fits in the 16-bit window field, at most 14 (RFC 7323 §2.3), or 0 without scaling.
    pub fn window_shift(&self) -> u8 {
        if !self.window_scaling {
            return 0;
        }
        let mut shift = 0u8;
        while shift < MAX_WINDOW_SHIFT && (self.recv_buffer >> shift) > usize::from(u16::MAX) {
            shift += 1;
        }
        shift
    }

    /// The initial congestion window in bytes for a sender MSS of `smss`.
    ///
    /// RFC 6928 §2: `IW = min(10*MSS, max(2*MSS, 14600))`; generalised to
    /// `min(n*MSS, max(2*MSS, n*1460))` for `n = initial_window` segments.
    pub fn initial_cwnd(&self, smss: usize) -> usize {
        let n = self.initial_window as usize;
        n.saturating_mul(smss)
            .min(smss.saturating_mul(2).max(n.saturating_mul(1460)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(TcpConfig::default().validate(), Ok(()));
    }

    #[test]
    fn config_rejects_out_of_range_values() {
        let base = TcpConfig::default();
        let c = TcpConfig {
            mss: 10,
            ..base.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::MssTooSmall));
        let c = TcpConfig {
            recv_buffer: 0,
            ..base.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadBufferSize));
        let c = TcpConfig {
            send_buffer: MAX_WINDOW + 1,
            ..base.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadBufferSize));
        let c = TcpConfig {
            max_rto: Duration::from_secs(30),
            ..base.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadRtoBounds));
        let c = TcpConfig {
            min_rto: Duration::from_secs(200),
            ..base.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadRtoBounds));
        let c = TcpConfig {
            ack_delay_max: Duration::from_millis(500),
            ..base.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadAckDelay));
        let c = TcpConfig {
            ack_delay_min: Duration::from_millis(300),
            ..base.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadAckDelay));
        let c = TcpConfig {
            initial_window: 0,
            ..base.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadWindow));
    }

    #[test]
    fn window_shift_fits_buffer_in_16_bits() {
        let mut c = TcpConfig {
            recv_buffer: 65535,
            ..TcpConfig::default()
        };
        assert_eq!(c.window_shift(), 0);
        c.recv_buffer = 65536;
        assert_eq!(c.window_shift(), 1);
        c.recv_buffer = 256 * 1024;
        assert_eq!(c.window_shift(), 3);
        c.recv_buffer = MAX_WINDOW;
        assert_eq!(c.window_shift(), 14);
        c.window_scaling = false;
        assert_eq!(c.window_shift(), 0);
    }

    #[test]
    fn initial_cwnd_follows_rfc_6928() {
        let c = TcpConfig::default();
        assert_eq!(c.initial_cwnd(1460), 14600);
        assert_eq!(c.initial_cwnd(536), 5360);
        // A jumbo MSS is capped at max(2*MSS, 14600).
        assert_eq!(c.initial_cwnd(8960), 17920);
        let c = TcpConfig {
            initial_window: 4,
            ..TcpConfig::default()
        };
        assert_eq!(c.initial_cwnd(1000), 4000);
    }

    #[test]
    fn instant_helpers_saturate() {
        let t = Instant::from_nanos;
        assert_eq!(after(t(5), Duration::from_nanos(7)), t(12));
        assert_eq!(after(t(u64::MAX - 1), Duration::from_secs(1)), Instant::MAX);
        assert_eq!(elapsed(t(10), t(4)), Duration::from_nanos(6));
        assert_eq!(elapsed(t(4), t(10)), Duration::ZERO);
    }
}
