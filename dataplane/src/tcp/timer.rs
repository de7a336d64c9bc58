//! The timers of one connection, in one table indexed by [`Timer`], so that the host sees
//! a single deadline ([`TimerTable::next_timeout`]) and the connection learns which timers
//! fired ([`TimerTable::pop_expired`]). After quinn-proto's `TimerTable`.

use super::Instant;

/// The timers a TCP connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Retransmission timeout (RFC 6298 §5), also for SYN and FIN retransmission
    /// (Linux `ICSK_TIME_RETRANS`).
    Retransmit,
    /// Tail loss probe or RACK reordering timer (Linux `ICSK_TIME_LOSS_PROBE`,
    /// `ICSK_TIME_REO_TIMEOUT`).
    LossProbe,
    /// Delayed ACK (RFC 9293 §3.8.6.3; Linux `ICSK_TIME_DACK`).
    DelayedAck,
    /// Zero-window probe (RFC 9293 §3.8.6.1; Linux `ICSK_TIME_PROBE0`).
    Persist,
    /// Keepalive probes (RFC 9293 §3.8.4).
    Keepalive,
    /// Orphaned FIN_WAIT_2 timeout (Linux `tcp_fin_timeout`).
    FinWait2,
    /// TIME_WAIT, 2*MSL (RFC 9293 §3.6.1).
    TimeWait,
    /// Pacing: the next time a paced segment may leave.
    Pacing,
}

impl Timer {
    /// Number of timers.
    pub const COUNT: usize = 8;

    /// All timers, in priority order (the order `pop_expired` breaks ties in).
    pub const ALL: [Timer; Timer::COUNT] = [
        Timer::Retransmit,
        Timer::LossProbe,
        Timer::DelayedAck,
        Timer::Persist,
        Timer::Keepalive,
        Timer::FinWait2,
        Timer::TimeWait,
        Timer::Pacing,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// A table with no timer armed.
    pub fn new() -> Self {
        TimerTable::default()
    }

    /// Arms (or re-arms) `timer` to fire at `deadline`.
    pub fn set(&mut self, timer: Timer, deadline: Instant) {
        self.deadlines[timer.index()] = Some(deadline);
    }

    /// Arms `timer` at `deadline` unless it is already armed earlier.
    pub fn set_earlier(&mut self, timer: Timer, deadline: Instant) {
        let slot = &mut self.deadlines[timer.index()];
        *slot = Some(slot.map_or(deadline, |d| d.min(deadline)));
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// Whether `timer` is armed.
    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Disarms every timer (e.g. on entering CLOSED).
    pub fn stop_all(&mut self) {
        self.deadlines = [None; Timer::COUNT];
    }

    /// Whether `timer` is armed and due at `now`.
    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|d| d <= now)
    }

    /// The earliest deadline of all armed timers: what `poll_timeout()` reports.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().copied().min()
    }

    /// The armed timer with the earliest deadline, if it is due at `now`, disarmed and
    /// returned. Ties go to the timer listed first in [`Timer::ALL`]. Call in a loop
    /// from `handle_timeout(now)`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let mut best: Option<(Instant, Timer)> = None;
        for t in Timer::ALL {
            if let Some(d) = self.get(t) {
                if d <= now && best.is_none_or(|(bd, _)| d < bd) {
                    best = Some((d, t));
                }
            }
        }
        let (_, t) = best?;
        self.stop(t);
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ns: u64) -> Instant {
        Instant::from_nanos(ns)
    }

    #[test]
    fn all_lists_every_timer_at_its_index() {
        for (i, t) in Timer::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
        }
    }

    #[test]
    fn empty_table_has_no_deadline() {
        let mut t = TimerTable::new();
        assert_eq!(t.next_timeout(), None);
        assert_eq!(t.pop_expired(Instant::MAX), None);
    }

    #[test]
    fn next_timeout_is_the_minimum() {
        let mut t = TimerTable::new();
        t.set(Timer::Keepalive, at(500));
        t.set(Timer::Retransmit, at(300));
        t.set(Timer::DelayedAck, at(400));
        assert_eq!(t.next_timeout(), Some(at(300)));
        t.stop(Timer::Retransmit);
        assert_eq!(t.next_timeout(), Some(at(400)));
        assert!(!t.is_armed(Timer::Retransmit));
        assert!(t.is_armed(Timer::Keepalive));
        // Re-arming moves the deadline either way.
        t.set(Timer::Keepalive, at(100));
        assert_eq!(t.next_timeout(), Some(at(100)));
        t.stop_all();
        assert_eq!(t.next_timeout(), None);
    }

    #[test]
    fn set_earlier_keeps_the_earlier_deadline() {
        let mut t = TimerTable::new();
        t.set_earlier(Timer::DelayedAck, at(200));
        t.set_earlier(Timer::DelayedAck, at(300));
        assert_eq!(t.get(Timer::DelayedAck), Some(at(200)));
        t.set_earlier(Timer::DelayedAck, at(100));
        assert_eq!(t.get(Timer::DelayedAck), Some(at(100)));
    }

    #[test]
    fn pop_expired_in_deadline_order_then_priority() {
        let mut t = TimerTable::new();
        t.set(Timer::TimeWait, at(10));
        t.set(Timer::DelayedAck, at(20));
        t.set(Timer::Retransmit, at(20));
        t.set(Timer::Persist, at(99));
        assert!(t.is_expired(Timer::TimeWait, at(10)));
        assert!(!t.is_expired(Timer::Persist, at(50)));
        assert_eq!(t.pop_expired(at(50)), Some(Timer::TimeWait));
        assert_eq!(t.pop_expired(at(50)), Some(Timer::Retransmit));
        assert_eq!(t.pop_expired(at(50)), Some(Timer::DelayedAck));
        assert_eq!(t.pop_expired(at(50)), None);
        assert_eq!(t.next_timeout(), Some(at(99)));
        assert_eq!(t.pop_expired(at(99)), Some(Timer::Persist));
        assert_eq!(t.next_timeout(), None);
    }
}
