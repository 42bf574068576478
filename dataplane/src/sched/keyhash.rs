//! Address hashes of the hashing schedulers.
//!
//! sh and dh use LVS's: the address folded to 32 bits (IPv6: the xor of its four words, as
//! `ip_vs_sh_hashkey` does) and then the kernel's `hash_32`, a multiply by the 32-bit golden ratio
//! keeping the top bits (`include/linux/hash.h`). mh needs hashes that are equal on every director
//! and independent between a server's offset and skip; it uses a fixed-key 64-bit mixer of its own.

use crate::addr::Addr;

/// `GOLDEN_RATIO_32` of `include/linux/hash.h`.
const GOLDEN_RATIO_32: u32 = 0x61c8_8647;

/// The address as LVS folds it: the IPv4 address, or the xor of the four IPv6 words (host order).
#[inline]
pub(super) fn fold(a: &Addr) -> u32 {
    match a.v4() {
        Some(o) => u32::from_be_bytes(o),
        None => a.0.chunks_exact(4).fold(0, |x, w| x ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])),
    }
}

/// Linux `hash_32(val, bits)`.
#[inline]
pub(super) fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

/// The splitmix64 finalizer (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-bit hash of (address, port) under `seed`; the same on every machine.
#[inline]
#[allow(clippy::cast_possible_truncation, reason = "mixes the address's two 64-bit halves")]
pub(super) fn addr_port_hash(a: &Addr, port: u16, seed: u64) -> u64 {
    let x = u128::from_be_bytes(a.0);
    mix64(mix64(mix64(seed ^ (x >> 64) as u64) ^ x as u64) ^ u64::from(port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_like_lvs() {
        assert_eq!(fold(&Addr::from_v4([198, 18, 0, 1])), 0xc612_0001);
        let v6 = Addr::from_v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
        assert_eq!(fold(&v6), 0x2001_0db8 ^ 1 ^ 2 ^ 3);
    }

    #[test]
    fn hash_32_keeps_top_bits_of_the_golden_product() {
        assert_eq!(hash_32(0, 8), 0);
        assert_eq!(hash_32(1, 8), 0x61);
        assert_eq!(hash_32(1, 32), GOLDEN_RATIO_32);
        assert!((0..10_000u32).all(|v| hash_32(v, 8) < 256));
    }

    #[test]
    fn seeded_hash_depends_on_every_input() {
        let a = Addr::from_v4([198, 19, 0, 1]);
        let h = addr_port_hash(&a, 80, 1);
        assert_ne!(h, addr_port_hash(&a, 81, 1));
        assert_ne!(h, addr_port_hash(&a, 80, 2));
        assert_ne!(h, addr_port_hash(&Addr::from_v4([198, 19, 0, 2]), 80, 1));
        assert_eq!(h, addr_port_hash(&a, 80, 1));
    }
}
