//! Windows and ACK timing: the peer's send window (RFC 9293 §3.10.7.4), the receive
//! window we advertise with receiver-side silly window avoidance (RFC 9293 §3.8.6.2.2),
//! the sender-side avoidance and Nagle algorithm (RFC 9293 §3.8.6.2.1, §3.7.4), and
//! when to acknowledge (RFC 9293 §3.8.6.3, RFC 5681 §4.2).

use core::time::Duration;

use crate::seq::SubflowSeq;

/// The peer's window: RFC 9293's SND.WND, SND.WL1 and SND.WL2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    /// SND.WND in bytes (already scaled).
    pub wnd: usize,
    /// SND.WL1: SEG.SEQ of the segment that last updated the window.
    pub wl1: SubflowSeq,
    /// SND.WL2: SEG.ACK of the segment that last updated the window.
    pub wl2: SubflowSeq,
    /// The largest window the peer has offered (MAX.SND.WND of RFC 5961 §5.2).
    max_wnd: usize,
}

impl SendWindow {
    /// The window of the segment that completed the handshake.
    pub fn new(wnd: usize, seg_seq: SubflowSeq, seg_ack: SubflowSeq) -> Self {
        SendWindow {
            wnd,
            wl1: seg_seq,
            wl2: seg_ack,
            max_wnd: wnd,
        }
    }

    /// The largest window offered so far.
    pub fn max_wnd(&self) -> usize {
        self.max_wnd
    }

    /// RFC 9293 §3.10.7.4: "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and
    /// SND.WL2 =< SEG.ACK), set SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set
    /// SND.WL2 <- SEG.ACK." Call only for acceptable ACKs (`SND.UNA =< SEG.ACK =<
    /// SND.NXT`). Returns whether the window was taken.
    pub fn update(&mut self, seg_seq: SubflowSeq, seg_ack: SubflowSeq, wnd: usize) -> bool {
        if self.wl1 < seg_seq || (self.wl1 == seg_seq && self.wl2 <= seg_ack) {
            self.wnd = wnd;
            self.wl1 = seg_seq;
            self.wl2 = seg_ack;
            self.max_wnd = self.max_wnd.max(wnd);
            true
        } else {
            false
        }
    }

    /// Bytes that may still be sent: `SND.UNA + SND.WND - SND.NXT`, or 0.
    pub fn usable(&self, snd_una: SubflowSeq, snd_nxt: SubflowSeq) -> usize {
        let edge = snd_una + self.wnd;
        if edge > snd_nxt {
            edge - snd_nxt
        } else {
            0
        }
    }
}

/// The receive window we advertise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvWindow {
    shift: u8,
    mss: usize,
    buf_cap: usize,
    /// RCV.NXT + RCV.WND as last advertised.
    right_edge: SubflowSeq,
}

impl RecvWindow {
    /// For a receive buffer of `buf_cap` bytes, our window scale `shift` (0 without
    /// scaling) and the peer's MSS; nothing advertised yet beyond `rcv_nxt`.
    pub fn new(shift: u8, mss: usize, buf_cap: usize, rcv_nxt: SubflowSeq) -> Self {
        RecvWindow {
            shift: shift.min(super::MAX_WINDOW_SHIFT),
            mss: mss.max(1),
            buf_cap,
            right_edge: rcv_nxt,
        }
    }

    /// The right edge last advertised.
    pub fn right_edge(&self) -> SubflowSeq {
        self.right_edge
    }

    /// RCV.WND: what the peer may send beyond `rcv_nxt` as last advertised.
    pub fn current(&self, rcv_nxt: SubflowSeq) -> usize {
        if self.right_edge > rcv_nxt {
            self.right_edge - rcv_nxt
        } else {
            0
        }
    }

    /// The largest window the 16-bit field can carry with our shift.
    fn max_field(&self) -> usize {
        usize::from(u16::MAX) << self.shift
    }

    /// The right edge we would move to with `free` bytes of buffer after `rcv_nxt`,
    /// applying receiver SWS avoidance and never shrinking.
    fn next_edge(&self, rcv_nxt: SubflowSeq, free: usize) -> SubflowSeq {
        let granule = 1usize << self.shift;
        let offered = (free.min(self.max_field()) / granule) * granule;
        let new_edge = rcv_nxt + offered;
        let cur_edge = if self.right_edge > rcv_nxt {
            self.right_edge
        } else {
            rcv_nxt
        };
        // RFC 9293 §3.8.6.2.2 (RFC 1122 §4.2.3.3): do not move the right edge unless by
        // at least min(RCV.BUFF / 2, Eff.snd.MSS).
        if new_edge > cur_edge && (new_edge - cur_edge) >= (self.buf_cap / 2).min(self.mss) {
            new_edge
        } else {
            // RFC 9293 §3.8.6: shrinking the window is strongly discouraged; hold the edge.
            cur_edge
        }
    }

    /// Whether reading data freed enough buffer that a window update is worth sending
    /// now: the edge would move and the current window is less than half the buffer or
    /// under one MSS (what Linux's `__tcp_cleanup_rbuf` checks, roughly).
    pub fn update_worthwhile(&self, rcv_nxt: SubflowSeq, free: usize) -> bool {
        let cur = self.current(rcv_nxt);
        self.next_edge(rcv_nxt, free) != self.right_edge.max(rcv_nxt)
            && (cur < self.mss || cur * 2 <= self.buf_cap)
    }

    /// The window field of a SYN or SYN-ACK, which is never scaled (RFC 7323 §2.2):
    /// `min(free, 65535)`; records the advertised edge.
    pub fn advertise_syn(&mut self, rcv_nxt: SubflowSeq, free: usize) -> u16 {
        let w = free.min(usize::from(u16::MAX));
        let edge = rcv_nxt + w;
        if edge > self.right_edge {
            self.right_edge = edge;
        }
        w as u16
    }

    /// The window field to send with `RCV.NXT = rcv_nxt` and `free` bytes of buffer
    /// space past it; records the advertised edge. The field is rounded up so that the
    /// scaled value does not move the edge left (as Linux's `tcp_select_window` does).
    pub fn advertise(&mut self, rcv_nxt: SubflowSeq, free: usize) -> u16 {
        self.right_edge = self.next_edge(rcv_nxt, free);
        let wnd = self.current(rcv_nxt);
        let field = wnd.div_ceil(1usize << self.shift);
        u16::try_from(field).unwrap_or(u16::MAX)
    }
}

/// Sender silly window avoidance and Nagle (RFC 9293 §3.8.6.2.1 and §3.7.4): how many
/// bytes to put in the next segment, or 0 to wait.
///
/// * `queued`: bytes queued and not yet sent (D).
/// * `usable`: usable window, `min(cwnd, SND.WND)` less what is in flight (U).
/// * `nagle`: the Nagle algorithm is on (no `TCP_NODELAY`).
/// * `unacked`: some sent data is not yet acknowledged.
///
/// A segment goes out when a full MSS fits; or when everything queued fits (all data is
/// treated as pushed) and, with Nagle, nothing is unacknowledged; or when at least half
/// the peer's largest window fits, again subject to Nagle. The override timeout of the
/// RFC is the persist timer's job.
pub fn sender_segment_size(
    queued: usize,
    usable: usize,
    mss: usize,
    max_snd_wnd: usize,
    nagle: bool,
    unacked: bool,
) -> usize {
    let n = queued.min(usable);
    if n == 0 {
        return 0;
    }
    if n >= mss {
        return mss;
    }
    let nagle_ok = !nagle || !unacked;
    if nagle_ok && (queued <= usable || n >= max_snd_wnd / 2) {
        return n;
    }
    0
}

/// What to do after receiving a data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckDecision {
    /// Send an ACK now.
    Now,
    /// Arm the delayed-ACK timer (if not armed) for this long.
    Delay(Duration),
}

/// When to acknowledge received data (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckPolicy {
    /// Received bytes not yet acknowledged.
    pending: usize,
    /// Segments still to acknowledge at once (Linux's quick-ACK mode at start).
    quickacks: u32,
    delayed: bool,
    min: Duration,
    max: Duration,
}

impl AckPolicy {
    /// Delayed ACKs between `min` and `max` (Linux: 40 ms and 200 ms), or none when
    /// `delayed` is false; the first `quickacks` data segments are acknowledged at once
    /// (Linux uses up to 16 to let slow start proceed).
    pub fn new(delayed: bool, min: Duration, max: Duration, quickacks: u32) -> Self {
        AckPolicy {
            pending: 0,
            quickacks,
            delayed,
            min,
            max: max.max(min),
        }
    }

    /// Bytes received and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// A segment with `len` bytes of data arrived. `immediate` is set when it was out of
    /// order, filled (part of) a gap, or carried a FIN: RFC 5681 §4.2 says such segments
    /// SHOULD be acknowledged at once. `rcv_mss` is the peer's segment size.
    pub fn on_data(
        &mut self,
        len: usize,
        rcv_mss: usize,
        immediate: bool,
        srtt: Option<Duration>,
    ) -> AckDecision {
        self.pending += len;
        if !self.delayed || immediate || self.quickacks > 0 {
            self.quickacks = self.quickacks.saturating_sub(1);
            return AckDecision::Now;
        }
        // RFC 5681 §4.2 / RFC 9293 §3.8.6.3: an ACK SHOULD be generated for at least
        // every second full-sized segment.
        if self.pending >= 2 * rcv_mss.max(1) {
            return AckDecision::Now;
        }
        AckDecision::Delay(self.delay(srtt))
    }

    /// The delayed-ACK timeout: the smoothed RTT clamped to `[min, max]` (Linux bounds
    /// its `ato` by the RTT the same way); `max` stays under RFC 5681 §4.2's 500 ms.
    pub fn delay(&self, srtt: Option<Duration>) -> Duration {
        srtt.unwrap_or(self.max).clamp(self.min, self.max)
    }

    /// An ACK was sent (alone or piggybacked): nothing is pending.
    pub fn on_ack_sent(&mut self) {
        self.pending = 0;
    }

    /// Re-enter quick-ACK mode for `n` segments (e.g. after a retransmission timeout or
    /// when the peer seems to be in slow start).
    pub fn enter_quickack(&mut self, n: u32) {
        self.quickacks = self.quickacks.max(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SubflowSeq {
        SubflowSeq(n)
    }

    #[test]
    fn send_window_update_rule() {
        let mut w = SendWindow::new(1000, s(100), s(500));
        // Newer segment: taken.
        assert!(w.update(s(101), s(500), 2000));
        assert_eq!(w.wnd, 2000);
        // Same SEG.SEQ, newer ACK: taken (a pure window update after data).
        assert!(w.update(s(101), s(600), 3000));
        // Old segment (reordered): ignored.
        assert!(!w.update(s(100), s(700), 10));
        // Same SEG.SEQ, older ACK: ignored.
        assert!(!w.update(s(101), s(550), 10));
        assert_eq!(w.wnd, 3000);
        assert_eq!(w.max_wnd(), 3000);
        assert!(w.update(s(200), s(700), 0));
        assert_eq!(w.max_wnd(), 3000);
        assert_eq!(w.usable(s(700), s(700)), 0);
        w.update(s(201), s(700), 1000);
        assert_eq!(w.usable(s(700), s(900)), 800);
        assert_eq!(w.usable(s(700), s(1900)), 0);
    }

    #[test]
    fn receive_window_advertises_free_space_scaled() {
        let mut r = RecvWindow::new(3, 1000, 256 * 1024, s(0));
        assert_eq!(r.advertise(s(0), 256 * 1024), 32768);
        assert_eq!(r.current(s(0)), 256 * 1024);
        // The edge does not move left when data arrives and is not read.
        assert_eq!(r.advertise(s(10_000), 256 * 1024 - 10_000), 31518);
        assert_eq!(r.right_edge(), s(256 * 1024));
    }

    #[test]
    fn syn_window_is_unscaled() {
        let mut r = RecvWindow::new(7, 1000, 1 << 20, s(100));
        assert_eq!(r.advertise_syn(s(100), 1 << 20), u16::MAX);
        assert_eq!(r.current(s(100)), 65535);
        let mut r = RecvWindow::new(0, 1000, 4000, s(100));
        assert_eq!(r.advertise_syn(s(100), 4000), 4000);
    }

    #[test]
    fn receiver_sws_avoidance() {
        let mut r = RecvWindow::new(0, 1000, 8000, s(0));
        r.advertise(s(0), 8000);
        // Buffer full: window closes.
        assert_eq!(r.advertise(s(8000), 0), 0);
        // The application reads 500 bytes: less than min(4000, 1000), keep zero.
        assert!(!r.update_worthwhile(s(8000), 500));
        assert_eq!(r.advertise(s(8000), 500), 0);
        // 1000 bytes: open.
        assert!(r.update_worthwhile(s(8000), 1000));
        assert_eq!(r.advertise(s(8000), 1000), 1000);
        assert!(!r.update_worthwhile(s(8000), 1000));
    }

    #[test]
    fn receive_window_never_shrinks_and_caps_at_field() {
        let mut r = RecvWindow::new(0, 1000, 100_000, s(0));
        assert_eq!(r.advertise(s(0), 100_000), u16::MAX);
        // Free space drops (buffer reserved elsewhere): the edge holds.
        assert_eq!(r.advertise(s(0), 10_000), u16::MAX);
        // Scaled, the rounded-up field keeps the edge.
        let mut r = RecvWindow::new(4, 1000, 100_000, s(0));
        r.advertise(s(0), 100_000);
        assert_eq!(r.advertise(s(5), 100_000 - 5), 6250);
    }

    #[test]
    fn sender_sws_and_nagle() {
        // Full segment always.
        assert_eq!(
            sender_segment_size(5000, 5000, 1000, 10_000, true, true),
            1000
        );
        // Small tail with unacked data: Nagle waits.
        assert_eq!(sender_segment_size(300, 5000, 1000, 10_000, true, true), 0);
        // Without Nagle, or with nothing in flight, it goes.
        assert_eq!(
            sender_segment_size(300, 5000, 1000, 10_000, false, true),
            300
        );
        assert_eq!(
            sender_segment_size(300, 5000, 1000, 10_000, true, false),
            300
        );
        // Window smaller than the data and than an MSS: wait unless half the max window.
        assert_eq!(
            sender_segment_size(5000, 300, 1000, 10_000, false, false),
            0
        );
        assert_eq!(
            sender_segment_size(5000, 600, 1000, 1000, false, false),
            600
        );
        assert_eq!(sender_segment_size(0, 600, 1000, 1000, false, false), 0);
    }

    #[test]
    fn ack_policy() {
        let ms = Duration::from_millis;
        let mut p = AckPolicy::new(true, ms(40), ms(200), 2);
        // Quick ACKs first.
        assert_eq!(p.on_data(1000, 1000, false, None), AckDecision::Now);
        assert_eq!(p.on_data(1000, 1000, false, None), AckDecision::Now);
        p.on_ack_sent();
        // Then every second full segment.
        assert_eq!(
            p.on_data(1000, 1000, false, Some(ms(10))),
            AckDecision::Delay(ms(40))
        );
        assert_eq!(p.on_data(1000, 1000, false, Some(ms(10))), AckDecision::Now);
        p.on_ack_sent();
        assert_eq!(p.pending(), 0);
        // Out of order: at once.
        assert_eq!(p.on_data(10, 1000, true, None), AckDecision::Now);
        p.on_ack_sent();
        // The delay follows SRTT within bounds.
        assert_eq!(
            p.on_data(10, 1000, false, Some(ms(90))),
            AckDecision::Delay(ms(90))
        );
        assert_eq!(p.delay(Some(ms(900))), ms(200));
        assert_eq!(p.delay(None), ms(200));
        // No delayed ACKs at all.
        let mut p = AckPolicy::new(false, ms(40), ms(200), 0);
        assert_eq!(p.on_data(1, 1000, false, None), AckDecision::Now);
        p.enter_quickack(3);
    }
}
