//! The flow-key hash of the connection index.
//!
//! A flow key is five machine words once loaded (two per address, one for ports, protocol and
//! kind), so the hash works on words: each pair is xored with a per-table key and folded through a
//! 64×64→128-bit multiply (high half xor low half), the "folded multiply" of wyhash/foldhash. That
//! is three multiplies per key, no loops over bytes, and no SipHash rounds.
//!
//! The keys come from a seed. A table seeded at random resists collision flooding: an attacker who
//! cannot learn the keys cannot aim many flows at one bucket pair, which for a cuckoo index would
//! otherwise turn into refused inserts.

use crate::addr::FlowKey;

/// splitmix64's output function (Steele, Lea, Flood: "Fast splittable pseudorandom number
/// generators", 2014); expands a seed into independent-looking keys.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline(always)]
#[allow(clippy::cast_possible_truncation, reason = "folds the 128-bit product's two halves")]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a).wrapping_mul(u128::from(b));
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
#[allow(clippy::cast_possible_truncation, reason = "splits 128 bits into two 64-bit halves")]
fn words(a: &[u8; 16]) -> (u64, u64) {
    let x = u128::from_ne_bytes(*a);
    (x as u64, (x >> 64) as u64)
}

#[derive(Clone, Debug)]
pub(crate) struct FlowHasher {
    k: [u64; 6],
}

impl FlowHasher {
    pub(crate) fn new(seed: u64) -> FlowHasher {
        let mut s = seed;
        let mut k = [0u64; 6];
        for w in &mut k {
            // An odd key keeps the multiply from collapsing when the data word is zero.
            *w = splitmix64(&mut s) | 1;
        }
        FlowHasher { k }
    }

    /// Hash of `key`; `template` separates a template's key from a connection's identical tuple.
    #[inline]
    pub(crate) fn hash(&self, key: &FlowKey, template: bool) -> u64 {
        let (s0, s1) = words(&key.src.0);
        let (d0, d1) = words(&key.dst.0);
        let ports = u64::from(key.sport)
            | u64::from(key.dport) << 16
            | u64::from(key.proto as u8) << 32
            | u64::from(template) << 40;
        let a = fold_mul(s0 ^ self.k[0], s1 ^ self.k[1]);
        let b = fold_mul(d0 ^ self.k[2], d1 ^ self.k[3]);
        fold_mul(a ^ ports ^ self.k[4], b ^ self.k[5])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Addr, Proto};

    fn key(i: u32) -> FlowKey {
        let [_, _, hi, lo] = i.to_be_bytes();
        FlowKey {
            src: Addr::from_v4([198, 18, hi, lo]),
            dst: Addr::from_v4([198, 18, 255, 1]),
            sport: 1024 + u16::try_from(i % 7).unwrap(),
            dport: 80,
            proto: Proto::Tcp,
        }
    }

    #[test]
    fn spreads_sequential_clients_evenly() {
        // 64k sequential keys into 256 bins: a good hash gives a chi-square near 255 (the
        // degrees of freedom); 400 is beyond the 99.99th percentile.
        let h = FlowHasher::new(7);
        let n = 65_536u32;
        let mut bins = [0u32; 256];
        for i in 0..n {
            bins[(h.hash(&key(i), false) >> 56) as usize] += 1;
        }
        let e = f64::from(n) / 256.0;
        let chi2: f64 = bins.iter().map(|&c| (f64::from(c) - e).powi(2) / e).sum();
        assert!(chi2 < 400.0, "chi-square {chi2}");
    }

    #[test]
    fn every_field_and_the_seed_matter() {
        let h = FlowHasher::new(1);
        let k = key(3);
        let base = h.hash(&k, false);
        let variants = [
            FlowKey { sport: k.sport + 1, ..k },
            FlowKey { dport: k.dport + 1, ..k },
            FlowKey { proto: Proto::Udp, ..k },
            FlowKey { src: k.dst, dst: k.src, ..k },
            FlowKey { src: Addr::from_v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]), ..k },
        ];
        for v in variants {
            assert_ne!(h.hash(&v, false), base, "{v:?}");
        }
        assert_ne!(h.hash(&k, true), base);
        assert_ne!(FlowHasher::new(2).hash(&k, false), base);
        assert_eq!(FlowHasher::new(1).hash(&k, false), base);
    }
}
