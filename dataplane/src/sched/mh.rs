//! Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
//! Balancer", NSDI 2016, §3.4; LVS `ip_vs_mh.c`).
//!
//! Each server gets a pseudo-random permutation of the lookup-table positions, from two hashes of
//! its address and port (an offset and a skip; the table size is prime, so every skip walks all
//! positions). Servers take turns claiming their next preferred free position until the table is
//! full; a client hashes to a position. Because a server's preferences depend only on its own
//! identity, removing one server mostly moves just its own clients, and every director with the
//! same servers builds the same table: the hashes use fixed keys, never a random seed.
//!
//! Weights become turns per round (weight / gcd, scaled down so the largest is below 2^6 as LVS's
//! `ip_vs_mh_shift_weight` does), and a server with weight 0 is left out of the table, so a
//! weight change re-spreads only that server's share. A client whose server is unavailable at pick
//! time is refused unless the fallback flag is set; then further hashes of the client are tried.

use super::keyhash::addr_port_hash;
use super::DestLoad;
use crate::addr::Addr;

/// Lookup-table size: prime, and about 650 positions per server at 100 servers (Maglev §5.3:
/// M ≥ 100 N keeps the imbalance small).
pub(super) const TABLE_SIZE: usize = 65_537;
/// Largest number of turns per round is below 2^TURN_BITS (LVS `IP_VS_MH_TAB_BITS` for its
/// default table).
const TURN_BITS: u32 = 6;
const NONE: u16 = u16::MAX;

// Fixed keys: the same table on every director.
const OFFSET_KEY: u64 = 0x6d68_6f66_6673_6574; // "mhoffset"
const SKIP_KEY: u64 = 0x6d68_736b_6970_2121; // "mhskip!!"
const CLIENT_KEY: u64 = 0x6d68_636c_6965_6e74; // "mhclient"

pub(super) struct Maglev {
    table: Box<[u16]>,
}

impl Default for Maglev {
    fn default() -> Maglev {
        Maglev { table: vec![NONE; TABLE_SIZE].into_boxed_slice() }
    }
}

struct Member {
    dest: u16,
    next: u32,
    skip: u32,
    turns: u32,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[inline]
#[allow(clippy::cast_possible_truncation, reason = "below TABLE_SIZE (65,537)")]
fn position(addr: &Addr, port: u16, key: u64) -> usize {
    (addr_port_hash(addr, port, key) % TABLE_SIZE as u64) as usize
}

impl Maglev {
    #[allow(clippy::cast_possible_truncation, reason = "next and skip are below TABLE_SIZE (65,537)")]
    pub(super) fn update(&mut self, dests: &[DestLoad]) {
        let m = TABLE_SIZE as u64;
        let chosen = || dests.iter().enumerate().filter(|(_, d)| d.usable());
        let g = chosen().fold(0, |g, (_, d)| gcd(d.weight, g));
        self.table.fill(NONE);
        if g == 0 {
            return;
        }
        let max_turns = chosen().map(|(_, d)| d.weight / g).max().unwrap_or(1);
        let shift = (u32::BITS - max_turns.leading_zeros()).saturating_sub(TURN_BITS);
        let mut members: Vec<Member> = chosen()
            .filter_map(|(i, d)| {
                Some(Member {
                    dest: super::table_pos(i)?,
                    next: (addr_port_hash(&d.addr, d.port, OFFSET_KEY) % m) as u32,
                    skip: (addr_port_hash(&d.addr, d.port, SKIP_KEY) % (m - 1) + 1) as u32,
                    turns: ((d.weight / g) >> shift).max(1),
                })
            })
            .collect();
        // Only when every usable server sits beyond table_pos's range; the fill would never end.
        if members.is_empty() {
            return;
        }
        let mut taken = vec![0u64; TABLE_SIZE.div_ceil(64)];
        let mut filled = 0;
        'fill: loop {
            for mb in &mut members {
                for _ in 0..mb.turns {
                    let mut c = mb.next as usize;
                    while taken[c / 64] & (1 << (c % 64)) != 0 {
                        c = (c + mb.skip as usize) % TABLE_SIZE;
                    }
                    mb.next = c as u32;
                    taken[c / 64] |= 1 << (c % 64);
                    self.table[c] = mb.dest;
                    filled += 1;
                    if filled == TABLE_SIZE {
                        break 'fill;
                    }
                }
            }
        }
    }

    #[inline]
    pub(super) fn pick(&self, dests: &[DestLoad], addr: &Addr, port: u16, fallback: bool) -> Option<usize> {
        let at = |key: u64| {
            let d = self.table[position(addr, port, key)];
            (d != NONE).then_some(d as usize)
        };
        let usable = |d: usize| dests.get(d).is_some_and(DestLoad::usable);
        let first = at(CLIENT_KEY)?;
        if usable(first) {
            return Some(first);
        }
        if !fallback || !dests.iter().any(DestLoad::usable) {
            return None;
        }
        // Rehash the client until a usable server comes up; expected tries = 1 / usable share.
        (1..TABLE_SIZE as u64).filter_map(|k| at(CLIENT_KEY.wrapping_add(k))).find(|&d| usable(d))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_shares, dests, Rng};
    use super::super::{SchedFlags, SchedKind, Scheduler};
    use super::*;

    fn built(d: &[DestLoad]) -> Maglev {
        let mut m = Maglev::default();
        m.update(d);
        m
    }

    #[test]
    fn table_and_traffic_shares_follow_weights() {
        let weights = [1, 2, 3, 4, 0];
        let d = dests(&weights);
        let m = built(&d);
        let slots: Vec<u32> =
            (0..5).map(|i| u32::try_from(m.table.iter().filter(|&&x| x == i).count()).unwrap()).collect();
        assert_shares(&slots, &weights, 0.001);
        assert_eq!(slots[4], 0, "weight 0 holds no position");
        let mut counts = [0u32; 5];
        let mut rng = Rng(17);
        for _ in 0..50_000 {
            counts[m.pick(&d, &rng.key().src, 0, false).unwrap()] += 1;
        }
        assert_shares(&counts, &weights, 0.01);
    }

    #[test]
    fn huge_weights_are_scaled_not_looped() {
        let weights = [1_000_000, 3_000_000, 2_000_000];
        let d = dests(&weights);
        let m = built(&d);
        let slots: Vec<u32> =
            (0..3).map(|i| u32::try_from(m.table.iter().filter(|&&x| x == i).count()).unwrap()).collect();
        assert_shares(&slots, &weights, 0.01);
    }

    #[test]
    fn same_client_same_server_on_every_director() {
        let d = dests(&[1, 1, 2, 3]);
        let mut a = Scheduler::new(SchedKind::Mh);
        let mut b = Scheduler::new(SchedKind::Mh);
        a.update(&d);
        b.update(&d);
        let mut rng = Rng(4);
        for _ in 0..2000 {
            let k = rng.key();
            let pa = a.pick(&d, &k);
            assert!(pa.is_some());
            assert_eq!(pa, a.pick(&d, &k));
            assert_eq!(pa, b.pick(&d, &k));
        }
    }

    #[test]
    fn removing_a_server_moves_little_besides_its_own_clients() {
        let full = dests(&[1; 10]);
        let mut fewer = full.clone();
        let removed = fewer.remove(3);
        let (before, after) = (built(&full), built(&fewer));
        let mut rng = Rng(99);
        let (mut others, mut others_moved, mut orphans) = (0u32, 0u32, [0u32; 10]);
        for _ in 0..50_000 {
            let a = rng.key().src;
            let was = full[before.pick(&full, &a, 0, false).unwrap()];
            let now = fewer[after.pick(&fewer, &a, 0, false).unwrap()];
            assert_ne!(now, removed);
            if was == removed {
                orphans[full.iter().position(|d| *d == now).unwrap()] += 1;
            } else {
                others += 1;
                others_moved += u32::from(was != now);
            }
        }
        let moved = f64::from(others_moved) / f64::from(others);
        // Maglev trades perfect consistency for balance; a few percent of other clients move.
        assert!(moved < 0.02, "{:.2}% of unaffected clients moved", moved * 100.0);
        // The removed server's clients spread over all nine others.
        assert!(orphans.iter().enumerate().all(|(i, &n)| (i == 3) == (n == 0)), "{orphans:?}");
    }

    #[test]
    fn unavailable_server_refuses_or_falls_back() {
        let mut d = dests(&[1, 1, 1, 1]);
        let mut plain = Scheduler::new(SchedKind::Mh);
        let mut fb = Scheduler::with_flags(SchedKind::Mh, SchedFlags { fallback: true, port: false });
        plain.update(&d);
        fb.update(&d);
        d[2].available = false; // overloaded: tables stay, picks avoid it
        let mut rng = Rng(6);
        let mut refused = 0;
        for _ in 0..4000 {
            let k = rng.key();
            match plain.pick(&d, &k) {
                None => {
                    refused += 1;
                    let alt = fb.pick(&d, &k).unwrap();
                    assert_ne!(alt, 2);
                    assert_eq!(fb.pick(&d, &k), Some(alt), "fallback is stable too");
                }
                Some(i) => assert_eq!(fb.pick(&d, &k), Some(i)),
            }
        }
        assert!((800..1200).contains(&refused), "a quarter refused: {refused}");
    }
}
