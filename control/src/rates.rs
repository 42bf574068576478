//! Rate estimation for `vsadm -L --rate`, the way LVS's estimator does it (`ip_vs_est.c`): every
//! 2 seconds, the counters' increase over the interval becomes a rate, smoothed as
//! avg += (rate − avg) / 4. Runs on the control thread from the summed per-core counters.

use crate::state::DestTotals;
use std::time::{Duration, Instant};

/// LVS's estimation interval.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// Smoothed rates of one real server, per second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    pub cps: f64,
    pub in_pps: f64,
    pub out_pps: f64,
    pub in_bps: f64,
    pub out_bps: f64,
}

impl Rates {
    /// Rounded for listings, in ipvsadm's column order.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "rates are non-negative, and a float cast saturates"
    )]
    pub fn columns(&self) -> [u64; 5] {
        [self.cps, self.in_pps, self.out_pps, self.in_bps, self.out_bps].map(|v| v.round() as u64)
    }

    pub fn add(&mut self, o: &Rates) {
        self.cps += o.cps;
        self.in_pps += o.in_pps;
        self.out_pps += o.out_pps;
        self.in_bps += o.in_bps;
        self.out_bps += o.out_bps;
    }
}

pub struct Estimator {
    last: Vec<DestTotals>,
    avg: Vec<Rates>,
    at: Option<Instant>,
}

impl Estimator {
    pub fn new(dests: usize) -> Estimator {
        Estimator { last: vec![DestTotals::default(); dests], avg: vec![Rates::default(); dests], at: None }
    }

    /// Room for `dests` real servers (a reload added some; they start from zero).
    pub fn grow(&mut self, dests: usize) {
        self.last.resize(dests.max(self.last.len()), DestTotals::default());
        self.avg.resize(dests.max(self.avg.len()), Rates::default());
    }

    /// Take a sample if an interval has passed since the last one.
    pub fn tick(&mut self, now: Instant, totals: &dyn Fn(usize) -> DestTotals) {
        let Some(at) = self.at else {
            self.at = Some(now);
            for (d, l) in self.last.iter_mut().enumerate() {
                *l = totals(d);
            }
            return;
        };
        let dt = now.saturating_duration_since(at);
        if dt < INTERVAL {
            return;
        }
        let secs = dt.as_secs_f64();
        for (d, (last, avg)) in self.last.iter_mut().zip(self.avg.iter_mut()).enumerate() {
            let t = totals(d);
            let per_s = |new: u64, old: u64| new.saturating_sub(old) as f64 / secs;
            let rate = Rates {
                cps: per_s(t.conns, last.conns),
                in_pps: per_s(t.in_packets, last.in_packets),
                out_pps: per_s(t.out_packets, last.out_packets),
                in_bps: per_s(t.in_bytes, last.in_bytes),
                out_bps: per_s(t.out_bytes, last.out_bytes),
            };
            let ewma = |avg: &mut f64, r: f64| *avg += (r - *avg) / 4.0;
            ewma(&mut avg.cps, rate.cps);
            ewma(&mut avg.in_pps, rate.in_pps);
            ewma(&mut avg.out_pps, rate.out_pps);
            ewma(&mut avg.in_bps, rate.in_bps);
            ewma(&mut avg.out_bps, rate.out_bps);
            *last = t;
        }
        self.at = Some(now);
    }

    pub fn rates(&self, dest: usize) -> Rates {
        self.avg.get(dest).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_to_a_steady_rate_and_decays_when_idle() {
        let mut e = Estimator::new(1);
        let start = Instant::now();
        let mut conns = 0u64;
        for i in 0..=20u32 {
            let now = start + INTERVAL * i;
            let c = conns;
            e.tick(now, &|_| DestTotals {
                conns: c,
                in_packets: 10 * c,
                in_bytes: 600 * c,
                ..Default::default()
            });
            conns += 200; // 100 connections per second
        }
        let r = e.rates(0);
        assert!((r.cps - 100.0).abs() < 1.0, "{r:?}");
        assert!((r.in_pps - 1000.0).abs() < 10.0, "{r:?}");
        assert_eq!(r.columns()[0], 100);
        // Idle: the average decays by a quarter per interval.
        let c = conns - 200;
        for i in 21..=40u32 {
            e.tick(start + INTERVAL * i, &|_| DestTotals { conns: c, ..Default::default() });
        }
        assert!(e.rates(0).cps < 1.0);
        // A tick within the interval changes nothing.
        let before = e.rates(0);
        e.tick(start + INTERVAL * 40 + Duration::from_millis(500), &|_| DestTotals {
            conns: c + 1000,
            ..Default::default()
        });
        assert_eq!(e.rates(0), before);
    }
}
