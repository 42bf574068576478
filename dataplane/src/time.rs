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
        // In u64 throughout (no u128 millisecond count), saturating: a timeout of u64::MAX seconds
        // is "never", not a wrapped few days.
        let ms = d.as_secs().saturating_mul(1000).saturating_add(u64::from(d.subsec_millis()));
        Instant(self.0.saturating_add(ms))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    #[inline]
    fn sub(self, o: Instant) -> Duration {
        self.saturating_since(o)
    }
}
