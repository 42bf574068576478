//! Helpers shared by the scheduler tests: dest lists and a deterministic key generator.

use super::DestLoad;
use crate::addr::{Addr, FlowKey, Proto};

/// Dests 198.19.0.(10+i):8080 with the given weights.
pub(super) fn dests(weights: &[u32]) -> Vec<DestLoad> {
    (10u8..)
        .zip(weights)
        .map(|(host, &w)| DestLoad::new(Addr::from_v4([198, 19, 0, host]), 8080, w))
        .collect()
}

/// splitmix64 as a small deterministic generator of client keys.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A client in 198.18.0.0/15 (or 2001:db8::/32 one time in four) to a fixed VIP.
    pub(super) fn key(&mut self) -> FlowKey {
        let r = self.next();
        let src = if r & 3 == 0 {
            let mut a = [0u8; 16];
            a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            a[8..].copy_from_slice(&r.to_be_bytes());
            Addr::from_v6(a)
        } else {
            let b = r.to_le_bytes();
            Addr::from_v4([198, 18 + (b[1] & 1), b[2], b[3]])
        };
        FlowKey {
            src,
            dst: Addr::from_v4([198, 18, 0, 100]),
            sport: u16::from_le_bytes([r.to_le_bytes()[4], r.to_le_bytes()[5]]),
            dport: 80,
            proto: Proto::Tcp,
        }
    }
}

/// Check `counts` is proportional to `weights` within `tol` (absolute share, e.g. 0.02 = 2 points).
pub(super) fn assert_shares(counts: &[u32], weights: &[u32], tol: f64) {
    let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
    let wsum: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    for (i, (&c, &w)) in counts.iter().zip(weights).enumerate() {
        let got = f64::from(c) / total;
        let want = f64::from(w) / wsum;
        assert!((got - want).abs() <= tol, "dest {i}: share {got:.4}, want {want:.4} (counts {counts:?})");
    }
}
