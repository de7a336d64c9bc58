//! Time in nanoseconds, passed into the sans-IO core.
//!
//! The protocol core never reads a clock: every input (`handle_*`) and output (`poll_*`)
//! takes the current [`Instant`] as an argument. Workers create Instants from the TSC
//! (read once per loop iteration and scaled to nanoseconds since the worker's start);
//! the simulator ([`crate::sim`]) creates them from its virtual clock. Durations are
//! [`core::time::Duration`], re-exported here.
//!
//! Arithmetic saturates instead of panicking: an `Instant` is a `u64` count of
//! nanoseconds (about 584 years), so saturation at either end is never reached in
//! practice, and a bogus timer value cannot crash a worker.

use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

pub use core::time::Duration;

/// A point in time: nanoseconds since an arbitrary epoch (the worker's or the
/// simulation's start). Ordered, copyable, 8 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

/// `d` as whole nanoseconds, saturating at `u64::MAX`.
#[inline]
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant ("never").
    pub const MAX: Instant = Instant(u64::MAX);

    /// `n` nanoseconds after the epoch.
    #[inline]
    pub const fn from_nanos(n: u64) -> Instant {
        Instant(n)
    }

    /// `us` microseconds after the epoch (saturating).
    #[inline]
    pub const fn from_micros(us: u64) -> Instant {
        Instant(us.saturating_mul(1_000))
    }

    /// `ms` milliseconds after the epoch (saturating).
    #[inline]
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms.saturating_mul(1_000_000))
    }

    /// `s` seconds after the epoch (saturating).
    #[inline]
    pub const fn from_secs(s: u64) -> Instant {
        Instant(s.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the epoch.
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole microseconds since the epoch.
    #[inline]
    pub const fn as_micros(self) -> u64 {
        self.0 / 1_000
    }

    /// Whole milliseconds since the epoch.
    #[inline]
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Time elapsed since the epoch, as a [`Duration`].
    #[inline]
    pub const fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// `self - earlier`, or `None` when `earlier` is later than `self`.
    #[inline]
    pub const fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        match self.0.checked_sub(earlier.0) {
            Some(n) => Some(Duration::from_nanos(n)),
            None => None,
        }
    }

    /// `self - earlier`, or zero when `earlier` is later than `self`.
    #[inline]
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, or `None` on overflow.
    #[inline]
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|n| self.0.checked_add(n))
            .map(Instant)
    }

    /// `self - d`, or `None` when that would be before the epoch.
    #[inline]
    pub fn checked_sub(self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|n| self.0.checked_sub(n))
            .map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::MAX`].
    #[inline]
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_nanos(d)))
    }
}

impl AddAssign<Duration> for Instant {
    #[inline]
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::ZERO`].
    #[inline]
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(duration_nanos(d)))
    }
}

impl SubAssign<Duration> for Instant {
    #[inline]
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later than `self`.
    #[inline]
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Instant {
    /// Seconds with nanosecond precision, e.g. `1.200000000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        assert_eq!(Instant::from_secs(2).as_nanos(), 2_000_000_000);
        assert_eq!(Instant::from_millis(3).as_nanos(), 3_000_000);
        assert_eq!(Instant::from_micros(4).as_nanos(), 4_000);
        assert_eq!(Instant::from_nanos(5).as_nanos(), 5);
        assert_eq!(Instant::ZERO.as_nanos(), 0);
        assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
        assert_eq!(Instant::from_millis(1_234).as_millis(), 1_234);
        assert_eq!(Instant::from_millis(1_234).as_micros(), 1_234_000);
    }

    #[test]
    fn arithmetic() {
        let t = Instant::from_millis(10);
        assert_eq!(t + Duration::from_millis(5), Instant::from_millis(15));
        assert_eq!(t - Duration::from_millis(5), Instant::from_millis(5));
        assert_eq!(t - Duration::from_millis(50), Instant::ZERO);
        assert_eq!(Instant::MAX + Duration::from_nanos(1), Instant::MAX);
        assert_eq!(t + Duration::MAX, Instant::MAX);
        assert_eq!(Instant::from_millis(15) - t, Duration::from_millis(5));
        assert_eq!(t - Instant::from_millis(15), Duration::ZERO);
        let mut u = t;
        u += Duration::from_nanos(7);
        u -= Duration::from_nanos(2);
        assert_eq!(u.as_nanos(), 10_000_005);
    }

    #[test]
    fn checked() {
        let t = Instant::from_millis(10);
        assert_eq!(
            t.checked_duration_since(Instant::from_millis(4)),
            Some(Duration::from_millis(6))
        );
        assert_eq!(t.checked_duration_since(Instant::from_millis(11)), None);
        assert_eq!(t.checked_duration_since(t), Some(Duration::ZERO));
        assert_eq!(
            t.checked_add(Duration::from_nanos(1)),
            Some(Instant::from_nanos(10_000_001))
        );
        assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
        assert_eq!(t.checked_add(Duration::MAX), None);
        assert_eq!(t.checked_sub(Duration::from_millis(11)), None);
        assert_eq!(
            t.checked_sub(Duration::from_millis(10)),
            Some(Instant::ZERO)
        );
    }

    #[test]
    fn display() {
        assert_eq!(
            Instant::from_nanos(1_200_000_001).to_string(),
            "1.200000001s"
        );
        assert_eq!(format!("{:?}", Instant::ZERO), "0.000000000s");
    }
}
