//! Weighted failover (LVS `ip_vs_fo.c`): every new connection goes to the usable server with the
//! highest weight (the first of equals); lower weights are standbys.

use super::DestLoad;

pub(super) fn pick(dests: &[DestLoad]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        let heavier = match best {
            Some(b) => d.weight > dests[b].weight,
            None => true,
        };
        if d.usable() && heavier {
            best = Some(i);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dests;
    use super::*;

    #[test]
    fn highest_weight_then_next_on_failure() {
        let mut d = dests(&[5, 9, 9, 7]);
        d[1].active = 1000; // load does not matter
        assert_eq!(pick(&d), Some(1), "first of the two weight-9 servers");
        d[1].available = false;
        assert_eq!(pick(&d), Some(2));
        d[2].weight = 0;
        assert_eq!(pick(&d), Some(3));
    }
}
