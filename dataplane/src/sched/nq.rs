//! Never queue (LVS `ip_vs_nq.c`): an idle usable server (no active connection) is taken at
//! once, the first one in list order; otherwise shortest expected delay, as sed.

use super::sed::expected_delay;
use super::DestLoad;

pub(super) fn pick(dests: &[DestLoad]) -> Option<usize> {
    let mut best: Option<(usize, u128)> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() {
            continue;
        }
        if d.active == 0 {
            return Some(i);
        }
        let doh = u128::from(expected_delay(d));
        let better = match best {
            None => true,
            Some((l, loh)) => loh * u128::from(d.weight) > doh * u128::from(dests[l].weight),
        };
        if better {
            best = Some((i, doh));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dests;
    use super::*;

    #[test]
    fn idle_server_first_whatever_its_weight() {
        let mut d = dests(&[10, 1, 1]);
        d[0].active = 1;
        assert_eq!(pick(&d), Some(1), "weight-1 idle server beats busy weight-10 one");
        d[1].active = 1;
        assert_eq!(pick(&d), Some(2));
    }

    #[test]
    fn no_idle_server_falls_back_to_sed() {
        let mut d = dests(&[10, 1, 0]);
        d[0].active = 5; // 6/10
        d[1].active = 1; // 2/1
        assert_eq!(pick(&d), Some(0));
        d[0].active = 25; // 26/10 > 2/1
        assert_eq!(pick(&d), Some(1));
    }
}
