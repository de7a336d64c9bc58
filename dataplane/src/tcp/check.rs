//! The checks an arriving segment goes through in a synchronized state
//! (RFC 9293 §3.10.7.4), hardened against blind in-window attacks (RFC 5961).
//!
//! Pure functions over sequence numbers: the state machine calls them in the RFC's order
//! (sequence number, RST, SYN, ACK) and acts on the verdicts.

use crate::seq::SubflowSeq;

/// RFC 9293 §3.10.7.4, "first, check sequence number": whether a segment occupying
/// `seg_len` sequence numbers (payload plus SYN and FIN) from `seg_seq` is acceptable
/// to a receiver expecting `rcv_nxt` with window `rcv_wnd`.
pub fn segment_acceptable(
    seg_seq: SubflowSeq,
    seg_len: usize,
    rcv_nxt: SubflowSeq,
    rcv_wnd: usize,
) -> bool {
    let in_window = |s: SubflowSeq| s >= rcv_nxt && (s - rcv_nxt) < rcv_wnd;
    match (seg_len, rcv_wnd) {
        (0, 0) => seg_seq == rcv_nxt,
        (0, _) => in_window(seg_seq),
        (_, 0) => false,
        (_, _) => in_window(seg_seq) || in_window(seg_seq + (seg_len - 1)),
    }
}

/// The part of an acceptable segment's payload that lies in the window: skip `skip`
/// bytes at the front (already received) and keep `len` bytes (RFC 9293 §3.10.7.4:
/// segments are trimmed to the window; their offset from `RCV.NXT` is then 0 when
/// `skip > 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    /// Bytes at the front below `RCV.NXT`.
    pub skip: usize,
    /// Bytes kept.
    pub len: usize,
    /// Offset of the first kept byte from `RCV.NXT`.
    pub offset: usize,
}

/// Trims `payload_len` bytes starting at `seq` (the first payload byte, after a SYN if
/// any) to `[rcv_nxt, rcv_nxt + rcv_wnd)`.
pub fn trim_to_window(
    seq: SubflowSeq,
    payload_len: usize,
    rcv_nxt: SubflowSeq,
    rcv_wnd: usize,
) -> Trim {
    let skip = if seq < rcv_nxt {
        (rcv_nxt - seq).min(payload_len)
    } else {
        0
    };
    let start = seq + skip;
    let offset = if start > rcv_nxt { start - rcv_nxt } else { 0 };
    let room = rcv_wnd.saturating_sub(offset);
    Trim {
        skip,
        len: (payload_len - skip).min(room),
        offset,
    }
}

/// What to do with an arriving RST in a synchronized state (RFC 5961 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RstVerdict {
    /// `SEG.SEQ == RCV.NXT`: reset the connection.
    Reset,
    /// In the window but not exact: send a challenge ACK and drop the RST.
    ChallengeAck,
    /// Outside the window: drop silently.
    Drop,
}

/// RFC 5961 §3.2: "If the RST bit is set and the sequence number exactly matches the
/// next expected sequence number (RCV.NXT), then TCP MUST reset the connection";
/// in-window otherwise "TCP MUST send an ACK (challenge ACK)"; outside, discard.
pub fn check_rst(seg_seq: SubflowSeq, rcv_nxt: SubflowSeq, rcv_wnd: usize) -> RstVerdict {
    if seg_seq == rcv_nxt {
        RstVerdict::Reset
    } else if seg_seq > rcv_nxt && (seg_seq - rcv_nxt) < rcv_wnd.max(1) {
        RstVerdict::ChallengeAck
    } else {
        RstVerdict::Drop
    }
}

/// How an ACK field relates to the send sequence space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckVerdict {
    /// Acknowledges `n > 0` new bytes (`SND.UNA < SEG.ACK <= SND.NXT`).
    New(usize),
    /// `SEG.ACK == SND.UNA`: a possible duplicate ACK (RFC 5681 §2 checks the rest).
    Duplicate,
    /// Below `SND.UNA` but within the peer's largest window: old, ignore the ACK field
    /// (RFC 9293 §3.10.7.4) but process the rest of the segment.
    Old,
    /// Acknowledges data not yet sent (`SEG.ACK > SND.NXT`): send an ACK and drop the
    /// segment (RFC 9293 §3.10.7.4).
    TooNew,
    /// Below `SND.UNA - MAX.SND.WND`: RFC 5961 §5.2 says such segments MUST be discarded
    /// and an ACK sent back.
    TooOld,
}

/// Classifies `seg_ack` (RFC 9293 §3.10.7.4 "fifth, check the ACK field" with the
/// RFC 5961 §5.2 acceptable range `[SND.UNA - MAX.SND.WND, SND.NXT]`).
pub fn check_ack(
    seg_ack: SubflowSeq,
    snd_una: SubflowSeq,
    snd_nxt: SubflowSeq,
    max_snd_wnd: usize,
) -> AckVerdict {
    if seg_ack > snd_nxt {
        AckVerdict::TooNew
    } else if seg_ack > snd_una {
        AckVerdict::New(seg_ack - snd_una)
    } else if seg_ack == snd_una {
        AckVerdict::Duplicate
    } else if (snd_una - seg_ack) <= max_snd_wnd {
        AckVerdict::Old
    } else {
        AckVerdict::TooOld
    }
}

/// RFC 5961 §7 rate limit for challenge ACKs (Linux `tcp_challenge_ack_limit`, per
/// connection here): at most `limit` per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeAckLimiter {
    limit: u32,
    interval: core::time::Duration,
    window_start: super::Instant,
    sent: u32,
}

impl ChallengeAckLimiter {
    /// At most `limit` challenge ACKs per `interval`.
    pub fn new(limit: u32, interval: core::time::Duration) -> Self {
        ChallengeAckLimiter {
            limit,
            interval,
            window_start: super::Instant::ZERO,
            sent: 0,
        }
    }

    /// Whether a challenge ACK may be sent at `now`; counts it if so.
    pub fn allow(&mut self, now: super::Instant) -> bool {
        if super::elapsed(now, self.window_start) >= self.interval {
            self.window_start = now;
            self.sent = 0;
        }
        if self.sent < self.limit {
            self.sent += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SubflowSeq {
        SubflowSeq(n)
    }

    #[test]
    fn acceptability_table_of_rfc_9293() {
        // Zero length, zero window.
        assert!(segment_acceptable(s(100), 0, s(100), 0));
        assert!(!segment_acceptable(s(101), 0, s(100), 0));
        // Zero length, open window.
        assert!(segment_acceptable(s(100), 0, s(100), 10));
        assert!(segment_acceptable(s(109), 0, s(100), 10));
        assert!(!segment_acceptable(s(110), 0, s(100), 10));
        assert!(!segment_acceptable(s(99), 0, s(100), 10));
        // Data, zero window: never.
        assert!(!segment_acceptable(s(100), 5, s(100), 0));
        // Data, open window: either end inside.
        assert!(segment_acceptable(s(95), 10, s(100), 10)); // tail inside
        assert!(segment_acceptable(s(105), 10, s(100), 10)); // head inside
        assert!(!segment_acceptable(s(90), 10, s(100), 10)); // ends at 99
        assert!(!segment_acceptable(s(110), 10, s(100), 10));
        // Across the wrap.
        assert!(segment_acceptable(s(u32::MAX - 2), 5, s(u32::MAX), 10));
    }

    #[test]
    fn trimming_to_window() {
        // Retransmission overlapping RCV.NXT.
        assert_eq!(
            trim_to_window(s(90), 20, s(100), 50),
            Trim {
                skip: 10,
                len: 10,
                offset: 0
            }
        );
        // Out of order, partly beyond the window.
        assert_eq!(
            trim_to_window(s(140), 20, s(100), 50),
            Trim {
                skip: 0,
                len: 10,
                offset: 40
            }
        );
        // Entirely old.
        assert_eq!(
            trim_to_window(s(80), 10, s(100), 50),
            Trim {
                skip: 10,
                len: 0,
                offset: 0
            }
        );
        // Zero window.
        assert_eq!(
            trim_to_window(s(100), 10, s(100), 0),
            Trim {
                skip: 0,
                len: 0,
                offset: 0
            }
        );
    }

    #[test]
    fn rst_checks_of_rfc_5961() {
        assert_eq!(check_rst(s(100), s(100), 1000), RstVerdict::Reset);
        assert_eq!(check_rst(s(101), s(100), 1000), RstVerdict::ChallengeAck);
        assert_eq!(check_rst(s(1099), s(100), 1000), RstVerdict::ChallengeAck);
        assert_eq!(check_rst(s(1100), s(100), 1000), RstVerdict::Drop);
        assert_eq!(check_rst(s(99), s(100), 1000), RstVerdict::Drop);
    }

    #[test]
    fn ack_classification() {
        let (una, nxt) = (s(1000), s(2000));
        assert_eq!(check_ack(s(1500), una, nxt, 5000), AckVerdict::New(500));
        assert_eq!(check_ack(s(2000), una, nxt, 5000), AckVerdict::New(1000));
        assert_eq!(check_ack(s(2001), una, nxt, 5000), AckVerdict::TooNew);
        assert_eq!(check_ack(s(1000), una, nxt, 5000), AckVerdict::Duplicate);
        assert_eq!(check_ack(s(500), una, nxt, 5000), AckVerdict::Old);
        assert_eq!(check_ack(s(500), una, nxt, 100), AckVerdict::TooOld);
        // Wrap.
        let una = s(u32::MAX - 10);
        assert_eq!(check_ack(s(5), una, s(100), 10), AckVerdict::New(16));
    }

    #[test]
    fn challenge_acks_are_rate_limited() {
        let mut l = ChallengeAckLimiter::new(2, core::time::Duration::from_secs(1));
        let t = crate::time::Instant::from_nanos;
        assert!(l.allow(t(10)));
        assert!(l.allow(t(20)));
        assert!(!l.allow(t(30)));
        assert!(l.allow(t(1_000_000_010)));
    }
}
