//! Least connection (LVS `ip_vs_lc.c`): the usable server with the smallest overhead
//! (`active × 256 + inactive`); the first one wins a tie. Weights only gate (0 = never).

use super::DestLoad;

pub(super) fn pick(dests: &[DestLoad]) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() {
            continue;
        }
        let oh = d.overhead();
        let better = match best {
            Some((_, least)) => oh < least,
            None => true,
        };
        if better {
            best = Some((i, oh));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dests;
    use super::*;

    #[test]
    fn least_overhead_first_on_ties_active_weighs_256() {
        let mut d = dests(&[1, 1, 1]);
        assert_eq!(pick(&d), Some(0), "tie: first");
        d[0].active = 1;
        assert_eq!(pick(&d), Some(1));
        d[1].inactive = 255;
        d[2].inactive = 256;
        // 1 active (256) vs 255 inactive vs 256 inactive.
        assert_eq!(pick(&d), Some(1));
        d[1].inactive = 300;
        assert_eq!(pick(&d), Some(0), "0 ties 2 at 256 and comes first");
    }

    #[test]
    fn ignores_weight_beyond_zero() {
        let mut d = dests(&[100, 1, 0]);
        d[0].active = 1;
        assert_eq!(pick(&d), Some(1));
        d[1].active = 5;
        assert_eq!(pick(&d), Some(0), "weight 0 never taken even when idle");
    }

    #[test]
    fn simulated_load_spreads_evenly() {
        let mut d = dests(&[1, 5, 2]);
        for _ in 0..300 {
            let i = pick(&d).unwrap();
            d[i].active += 1;
        }
        assert_eq!(d.iter().map(|x| x.active).collect::<Vec<_>>(), vec![100, 100, 100]);
    }
}
