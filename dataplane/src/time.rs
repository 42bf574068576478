//! Time as the sans-IO core sees it: passed in by the driver, never read from a clock here.
//!
//! Milliseconds since an arbitrary origin chosen by the driver (the runtime uses the TSC since
//! start). Tests drive a virtual clock and jump straight to the next deadline.

use core::ops::{Add, Sub};
use core::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    #[inline]
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    #[inline]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    #[inline]
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    #[inline]
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    #[inline]
    fn sub(self, o: Instant) -> Duration {
        self.saturating_since(o)
    }
}
