//! Weighted round robin (LVS `ip_vs_wrr.c`).
//!
//! LVS's algorithm walks the server list in passes. Each pass has a current weight `cw`; a server
//! is picked when its weight is at least `cw`. After each full pass `cw` drops by `di`, the gcd of
//! the weights, and when it would reach zero it restarts at the maximum `mw`. So servers of weight
//! 4, 3, 2 give A A B A B C A B C: heavy servers are interleaved, not sent bursts.
//!
//! Two LVS refinements are kept: `mw` is lowered by `di - 1` so that the last pass has `cw == 1`
//! and still catches a server whose weight dropped below the gcd, and a search that finds nothing
//! stops after one complete pass at `cw == 1` (all servers overloaded) instead of spinning. A dest
//! change resets the position to the list head and adjusts `cw` as `ip_vs_wrr_dest_changed` does.

use super::DestLoad;

#[derive(Default)]
pub(super) struct Wrr {
    /// Last server picked; `None` is the list head.
    cl: Option<usize>,
    /// Current weight of the pass.
    cw: i64,
    /// Maximum weight, minus (gcd - 1).
    mw: i64,
    /// Decreasing interval: the gcd of the non-zero weights.
    di: i64,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Wrr {
    pub(super) fn update(&mut self, dests: &[DestLoad]) {
        let present = dests.iter().filter(|d| d.available).map(|d| i64::from(d.weight));
        let g = present.clone().filter(|&w| w > 0).fold(0, gcd);
        self.di = if g > 0 { g } else { 1 };
        self.mw = present.max().unwrap_or(0) - (self.di - 1);
        self.cl = None;
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    pub(super) fn pick(&mut self, dests: &[DestLoad]) -> Option<usize> {
        if self.mw <= 0 {
            return None;
        }
        let last = self.cl.filter(|&l| l < dests.len());
        let mut from = last.map_or(0, |l| l + 1);
        let mut stop = None;
        let (mut last_pass, mut restarted) = (false, false);
        loop {
            for (i, d) in dests.iter().enumerate().skip(from) {
                if d.available && i64::from(d.weight) >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = stop;
                    return None;
                }
            }
            from = 0;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                // Either the pass at cw == 1 already covered every server, or we started at the
                // head and so did this one: nobody can take the connection.
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                // The cw == 1 pass began after `last`; finish it by going round up to `last`.
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dests;
    use super::*;

    fn seq(w: &mut Wrr, d: &[DestLoad], n: usize) -> String {
        (0..n).map(|_| w.pick(d).map_or('-', |i| char::from(b'A' + u8::try_from(i).unwrap()))).collect()
    }

    fn wrr(d: &[DestLoad]) -> Wrr {
        let mut w = Wrr::default();
        w.update(d);
        w
    }

    #[test]
    fn lvs_sequence_4_3_2() {
        let d = dests(&[4, 3, 2]);
        assert_eq!(seq(&mut wrr(&d), &d, 27), "AABABCABC".repeat(3));
    }

    #[test]
    fn gcd_steps_passes() {
        // Weights 4 and 2 (gcd 2) behave as 2 and 1.
        let d = dests(&[4, 2]);
        assert_eq!(seq(&mut wrr(&d), &d, 6), "AABAAB");
        let d = dests(&[6, 3, 3]);
        assert_eq!(seq(&mut wrr(&d), &d, 8), "AABCAABC");
    }

    #[test]
    fn weight_zero_and_unavailable_are_skipped() {
        let mut d = dests(&[2, 0, 1]);
        assert_eq!(seq(&mut wrr(&d), &d, 6), "AACAAC");
        d[0].available = false; // overloaded after the tables were built
        let mut w = wrr(&dests(&[2, 0, 1]));
        assert_eq!(seq(&mut w, &d, 3), "CCC");
        d[2].available = false;
        assert_eq!(seq(&mut w, &d, 2), "--", "all overloaded: nothing, and no endless loop");
        assert_eq!(seq(&mut wrr(&dests(&[0, 0])), &dests(&[0, 0]), 2), "--");
    }

    #[test]
    fn weight_change_resets_to_the_head() {
        let d = dests(&[4, 3, 2]);
        let mut w = wrr(&d);
        assert_eq!(seq(&mut w, &d, 4), "AABA");
        let d2 = dests(&[1, 1, 1]);
        w.update(&d2);
        // cw (3) > new mw (1): restart at mw from the head, a plain rotation.
        assert_eq!(seq(&mut w, &d2, 6), "ABCABC");
        // cw kept when it still fits, with the list position back at the head.
        let d3 = dests(&[2, 2, 1]);
        let mut w = wrr(&d3);
        assert_eq!(seq(&mut w, &d3, 3), "ABA");
        w.update(&d3);
        // cw stays at 1 (the pass in progress), but the walk starts over from the head.
        assert_eq!(seq(&mut w, &d3, 5), "ABCAB");
    }

    #[test]
    fn shares_follow_weights() {
        let weights = [5, 1, 3, 7, 2];
        let d = dests(&weights);
        let mut w = wrr(&d);
        let mut counts = [0u32; 5];
        for _ in 0..18 * 100 {
            counts[w.pick(&d).unwrap()] += 1;
        }
        // Exact over whole cycles of sum(weights) = 18 picks.
        assert_eq!(counts, weights.map(|x| x * 100));
    }
}
