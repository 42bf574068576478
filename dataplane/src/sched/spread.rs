//! The multi-core bound stated in docs/MULTICORE.md: with W workers each running its own
//! scheduler over the connections it owns, every server's share of N connections stays within
//! W scheduling cycles of the single-core result.

use super::testutil::dests;
use super::*;
use crate::addr::{Addr, FlowKey, Proto};
use proptest::prelude::*;

fn key(i: u32) -> FlowKey {
    FlowKey {
        src: Addr::from_v4(i.to_be_bytes()),
        dst: Addr::from_v4([198, 18, 0, 100]),
        sport: 1024 + (i % 60000) as u16,
        dport: 80,
        proto: Proto::Tcp,
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

proptest! {
    #[test]
    fn per_core_round_robin_stays_within_w_cycles(
        weights in prop::collection::vec(1u32..6, 2..6),
        owners in prop::collection::vec(0usize..4, 50..600),
        kind in prop::sample::select(vec![SchedKind::Rr, SchedKind::Wrr]),
    ) {
        let workers = 4;
        let loads = dests(&weights);
        let mut per_core: Vec<Scheduler> = (0..workers).map(|_| Scheduler::new(kind)).collect();
        for s in &mut per_core {
            s.update(&loads);
        }
        let mut count = vec![0u64; weights.len()];
        for (i, owner) in (0u32..).zip(&owners) {
            let d = per_core[*owner].pick(&loads, &key(i)).unwrap();
            count[d] += 1;
        }
        let n = owners.len() as f64;
        let eff: Vec<u32> = if kind == SchedKind::Rr { vec![1; weights.len()] } else { weights.clone() };
        let total: u32 = eff.iter().sum();
        let g = eff.iter().copied().fold(0, gcd);
        // One partial cycle (total / gcd picks) per core.
        let bound = f64::from(workers * total / g);
        for (s, c) in count.iter().enumerate() {
            let ideal = n * f64::from(eff[s]) / f64::from(total);
            prop_assert!((*c as f64 - ideal).abs() <= bound, "server {s}: {c} vs ideal {ideal:.1}, bound {bound}");
        }
    }
}
