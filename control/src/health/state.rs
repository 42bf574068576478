//! Rise and fall counting for one server: the state changes only after `rise` successes or `fall`
//! failures in a row, as keepalived's `retry` and HAProxy's `rise`/`fall` do, so that one lost probe
//! does not flap a server.
//!
//! A server starts UP (keepalived's default, without `alpha`): a restart of vsd must not take every
//! server out of service until its checks have run.

/// A state change, with the streak that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Up { successes: u32 },
    Down { failures: u32 },
}

/// One server's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    up: bool,
    /// Results in a row that disagree with `up`.
    streak: u32,
}

impl Default for Counter {
    fn default() -> Self {
        Counter { up: true, streak: 0 }
    }
}

impl Counter {
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Counts one probe result; returns the change when this result completes a streak.
    pub fn observe(&mut self, ok: bool, rise: u32, fall: u32) -> Option<Change> {
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if ok { rise } else { fall };
        if self.streak < needed.max(1) {
            return None;
        }
        let streak = std::mem::take(&mut self.streak);
        self.up = ok;
        Some(if ok { Change::Up { successes: streak } } else { Change::Down { failures: streak } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_down_after_fall_failures_in_a_row() {
        let mut c = Counter::default();
        assert!(c.is_up());
        assert_eq!(c.observe(false, 2, 3), None);
        assert_eq!(c.observe(false, 2, 3), None);
        assert_eq!(c.observe(false, 2, 3), Some(Change::Down { failures: 3 }));
        assert!(!c.is_up());
        // Further failures change nothing.
        assert_eq!(c.observe(false, 2, 3), None);
    }

    #[test]
    fn a_success_breaks_a_failure_streak() {
        let mut c = Counter::default();
        for _ in 0..10 {
            assert_eq!(c.observe(false, 2, 3), None);
            assert_eq!(c.observe(false, 2, 3), None);
            assert_eq!(c.observe(true, 2, 3), None);
        }
        assert!(c.is_up());
    }

    #[test]
    fn comes_back_after_rise_successes_in_a_row() {
        let mut c = Counter::default();
        assert_eq!(c.observe(false, 2, 1), Some(Change::Down { failures: 1 }));
        assert_eq!(c.observe(true, 2, 1), None);
        assert_eq!(c.observe(false, 2, 1), None, "a failure while down resets the rise streak");
        assert_eq!(c.observe(true, 2, 1), None);
        assert_eq!(c.observe(true, 2, 1), Some(Change::Up { successes: 2 }));
        assert!(c.is_up());
    }

    #[test]
    fn rise_and_fall_of_one_change_on_every_disagreeing_result() {
        let mut c = Counter::default();
        let changes: Vec<_> =
            [false, true, false, false, true].iter().map(|&ok| c.observe(ok, 1, 1)).collect();
        assert_eq!(
            changes,
            [
                Some(Change::Down { failures: 1 }),
                Some(Change::Up { successes: 1 }),
                Some(Change::Down { failures: 1 }),
                None,
                Some(Change::Up { successes: 1 }),
            ]
        );
    }
}
