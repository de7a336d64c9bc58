//! HyStart++ (RFC 9406): leave slow start when the RTT starts to grow, through a phase
//! of Conservative Slow Start (CSS), before losses occur.
//!
//! A controller in slow start passes every ACK to [`HyStartPlusPlus::on_ack`] and divides
//! its slow-start growth by the returned divisor; when told, it ends slow start by setting
//! `ssthresh = cwnd`.

use core::time::Duration;

use super::AckEvent;
use crate::seq::SubflowSeq;

/// RFC 9406 §4.3 constants.
pub const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// Upper clamp of the RTT increase threshold.
pub const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// The threshold is lastRoundMinRTT / MIN_RTT_DIVISOR, clamped.
pub const MIN_RTT_DIVISOR: u32 = 8;
/// RTT samples per round before a decision.
pub const N_RTT_SAMPLE: u32 = 8;
/// Growth divisor in CSS.
pub const CSS_GROWTH_DIVISOR: usize = 4;
/// Rounds spent in CSS before entering congestion avoidance.
pub const CSS_ROUNDS: u32 = 5;

/// What the controller should do with this ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowStartAction {
    /// Grow as in slow start, with growth divided by this (1 in slow start, 4 in CSS).
    Grow(usize),
    /// End slow start now: `ssthresh = cwnd` (RFC 9406 §4.2, after CSS_ROUNDS).
    Exit,
}

/// HyStart++ state of one connection.
#[derive(Debug, Clone)]
pub struct HyStartPlusPlus {
    window_end: Option<SubflowSeq>,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_sample_count: u32,
    /// `cssBaselineMinRtt`; `Some` while in CSS.
    css_baseline_min_rtt: Option<Duration>,
    css_rounds: u32,
}

impl Default for HyStartPlusPlus {
    fn default() -> Self {
        HyStartPlusPlus::new()
    }
}

impl HyStartPlusPlus {
    /// Fresh state, as at connection start (and after an RTO: RFC 9406 §4.2 allows
    /// HyStart++ again in the slow start that follows).
    pub fn new() -> Self {
        HyStartPlusPlus {
            window_end: None,
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_sample_count: 0,
            css_baseline_min_rtt: None,
            css_rounds: 0,
        }
    }

    /// Whether Conservative Slow Start is in progress.
    pub fn in_css(&self) -> bool {
        self.css_baseline_min_rtt.is_some()
    }

    /// One ACK during slow start.
    pub fn on_ack(&mut self, ack: &AckEvent) -> SlowStartAction {
        // RFC 9406 §4.2: a round ends when the ACK covers the SND.NXT recorded at its
        // start.
        let round_over = self.window_end.is_none_or(|end| ack.snd_una >= end);
        if round_over {
            self.window_end = Some(ack.snd_nxt);
            self.last_round_min_rtt = self.current_round_min_rtt;
            self.current_round_min_rtt = None;
            self.rtt_sample_count = 0;
            if self.in_css() {
                self.css_rounds += 1;
                if self.css_rounds >= CSS_ROUNDS {
                    self.css_baseline_min_rtt = None;
                    self.css_rounds = 0;
                    return SlowStartAction::Exit;
                }
            }
        }
        if let Some(rtt) = ack.rtt {
            self.current_round_min_rtt =
                Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.rtt_sample_count += 1;
        }
        if self.rtt_sample_count >= N_RTT_SAMPLE {
            if let (Some(cur), Some(last)) = (self.current_round_min_rtt, self.last_round_min_rtt) {
                match self.css_baseline_min_rtt {
                    None => {
                        let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                        if cur >= last + thresh {
                            // Delay increase: enter CSS.
                            self.css_baseline_min_rtt = Some(cur);
                            self.css_rounds = 0;
                        }
                    }
                    Some(base) => {
                        if cur < base {
                            // The increase was spurious: back to slow start.
                            self.css_baseline_min_rtt = None;
                            self.css_rounds = 0;
                        }
                    }
                }
            }
        }
        if self.in_css() {
            SlowStartAction::Grow(CSS_GROWTH_DIVISOR)
        } else {
            SlowStartAction::Grow(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(una: u32, nxt: u32, rtt_ms: u64) -> AckEvent {
        AckEvent {
            bytes_acked: 1000,
            rtt: Some(Duration::from_millis(rtt_ms)),
            snd_una: SubflowSeq(una),
            snd_nxt: SubflowSeq(nxt),
        }
    }

    /// Runs one round of `n` ACKs with the given RTT; returns the last action.
    fn round(h: &mut HyStartPlusPlus, start: &mut u32, n: u32, rtt: u64) -> SlowStartAction {
        let end = *start + n * 1000;
        let mut last = SlowStartAction::Grow(1);
        for i in 1..=n {
            last = h.on_ack(&ack(*start + i * 1000, end + i * 1000, rtt));
            if last == SlowStartAction::Exit {
                break;
            }
        }
        *start = end;
        last
    }

    #[test]
    fn steady_rtt_stays_in_slow_start() {
        let mut h = HyStartPlusPlus::new();
        let mut seq = 0;
        for _ in 0..10 {
            assert_eq!(round(&mut h, &mut seq, 10, 50), SlowStartAction::Grow(1));
        }
        assert!(!h.in_css());
    }

    #[test]
    fn rtt_increase_enters_css_then_exits_after_five_rounds() {
        let mut h = HyStartPlusPlus::new();
        let mut seq = 0;
        round(&mut h, &mut seq, 10, 50);
        round(&mut h, &mut seq, 10, 50);
        // 50 ms / 8 = 6.25 ms threshold: 57 ms is an increase.
        assert_eq!(
            round(&mut h, &mut seq, 10, 57),
            SlowStartAction::Grow(CSS_GROWTH_DIVISOR)
        );
        assert!(h.in_css());
        let mut exits = 0;
        for _ in 0..CSS_ROUNDS {
            if round(&mut h, &mut seq, 10, 57) == SlowStartAction::Exit {
                exits += 1;
            }
        }
        assert_eq!(exits, 1);
        assert!(!h.in_css());
    }

    #[test]
    fn small_increase_below_threshold_is_ignored() {
        let mut h = HyStartPlusPlus::new();
        let mut seq = 0;
        round(&mut h, &mut seq, 10, 100);
        // 100/8 = 12.5 ms threshold; +10 ms is not enough.
        assert_eq!(round(&mut h, &mut seq, 10, 110), SlowStartAction::Grow(1));
        // Clamped at 16 ms for long RTTs: 400 ms / 8 = 50 -> 16.
        let mut h = HyStartPlusPlus::new();
        round(&mut h, &mut seq, 10, 400);
        assert_eq!(
            round(&mut h, &mut seq, 10, 417),
            SlowStartAction::Grow(CSS_GROWTH_DIVISOR)
        );
    }

    #[test]
    fn rtt_drop_in_css_returns_to_slow_start() {
        let mut h = HyStartPlusPlus::new();
        let mut seq = 0;
        round(&mut h, &mut seq, 10, 50);
        round(&mut h, &mut seq, 10, 60);
        assert!(h.in_css());
        assert_eq!(round(&mut h, &mut seq, 10, 55), SlowStartAction::Grow(1));
        assert!(!h.in_css());
    }

    #[test]
    fn too_few_samples_decide_nothing() {
        let mut h = HyStartPlusPlus::new();
        let mut seq = 0;
        round(&mut h, &mut seq, 4, 50);
        assert_eq!(round(&mut h, &mut seq, 4, 90), SlowStartAction::Grow(1));
    }
}
