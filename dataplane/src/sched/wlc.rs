//! Weighted least connection (LVS `ip_vs_wlc.c`, the ipvsadm default).
//!
//! The server with the least `overhead / weight`, compared by cross-multiplication
//! (`loh × weight(d) > doh × weight(least)`) so there is no division and no rounding; the first
//! server found wins ties. Products are taken in 128 bits: overheads reach 2^40 and weights 2^32.

use super::DestLoad;

pub(super) fn pick(dests: &[DestLoad]) -> Option<usize> {
    least_ratio(dests, DestLoad::overhead)
}

/// The usable server with the least `cost / weight`, first found on ties. Shared with sed.
pub(super) fn least_ratio(dests: &[DestLoad], cost: impl Fn(&DestLoad) -> u64) -> Option<usize> {
    let mut best: Option<(usize, u128)> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() {
            continue;
        }
        let doh = u128::from(cost(d));
        match best {
            None => best = Some((i, doh)),
            Some((l, loh)) => {
                if loh * u128::from(d.weight) > doh * u128::from(dests[l].weight) {
                    best = Some((i, doh));
                }
            }
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_shares, dests};
    use super::*;

    #[test]
    fn cross_multiplied_ratio() {
        let mut d = dests(&[1, 3]);
        d[0].active = 1; // 256 / 1
        d[1].active = 2; // 512 / 3 ≈ 171: less loaded per unit of weight
        assert_eq!(pick(&d), Some(1));
        d[1].active = 3; // 768 / 3 = 256: a tie, first found wins
        assert_eq!(pick(&d), Some(0));
        d[1].inactive = 1; // 769 / 3 > 256
        assert_eq!(pick(&d), Some(0));
    }

    #[test]
    fn lvs_sequence_from_empty() {
        // Weights 1 and 2, each pick adding an active connection: LVS gives A B B A B B ...
        // (ties go to the first server: 0/1 vs 0/2 → A; then 256/1 vs 0/2 → B; 256/1 vs 256/2 → B;
        // 256/1 vs 512/2 tie → A).
        let mut d = dests(&[1, 2]);
        let mut s = String::new();
        for _ in 0..9 {
            let i = pick(&d).unwrap();
            d[i].active += 1;
            s.push(char::from(b'A' + u8::try_from(i).unwrap()));
        }
        assert_eq!(s, "ABBABBABB");
    }

    #[test]
    fn weight_zero_skipped_even_as_first() {
        let mut d = dests(&[0, 1, 1]);
        d[1].active = 10;
        assert_eq!(pick(&d), Some(2));
        d[2].available = false;
        assert_eq!(pick(&d), Some(1));
    }

    #[test]
    fn shares_follow_weights_under_load() {
        let weights = [1, 2, 3, 4];
        let mut d = dests(&weights);
        for _ in 0..1000 {
            let i = pick(&d).unwrap();
            d[i].active += 1;
        }
        let counts: Vec<u32> = d.iter().map(|x| x.active).collect();
        assert_shares(&counts, &weights, 0.005);
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        // Overheads near 2^40 times weights near 2^32 need more than 64 bits.
        let mut d = dests(&[u32::MAX, u32::MAX]);
        d[0].active = u32::MAX;
        d[1].active = u32::MAX - 1;
        assert_eq!(pick(&d), Some(1));
        d[1].inactive = 256;
        assert_eq!(pick(&d), Some(0), "equal ratios: first wins");
    }
}
