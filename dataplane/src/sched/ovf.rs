//! Overflow connection (LVS `ip_vs_ovf.c`): the highest-weight usable server whose active
//! connections do not exceed its weight; connections overflow to the next weight down once it is
//! full. As in LVS, a server is passed over only when `active > weight`, so it reaches
//! `weight + 1` active connections before overflowing. Inactive connections are not counted (LVS
//! notes this makes ovf a poor fit for UDP).

use super::DestLoad;

pub(super) fn pick(dests: &[DestLoad]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() || d.active > d.weight {
            continue;
        }
        let heavier = match best {
            Some(b) => d.weight > dests[b].weight,
            None => true,
        };
        if heavier {
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
    fn fills_the_heaviest_then_overflows() {
        let mut d = dests(&[2, 3, 0]);
        let mut order = vec![];
        while let Some(i) = pick(&d) {
            d[i].active += 1;
            order.push(i);
        }
        // Server 1 (weight 3) takes 4 (LVS skips only when active > weight), then server 0 takes 3.
        assert_eq!(order, vec![1, 1, 1, 1, 0, 0, 0]);
        // A connection closing on server 1 makes it eligible again.
        d[1].active -= 1;
        assert_eq!(pick(&d), Some(1));
    }

    #[test]
    fn inactive_connections_do_not_count() {
        let mut d = dests(&[1]);
        d[0].inactive = 100;
        assert_eq!(pick(&d), Some(0));
    }
}
