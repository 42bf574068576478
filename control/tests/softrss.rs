//! The owner function's Toeplitz hash (pure Rust, in the dataplane) agrees with DPDK's own
//! `rte_softrss`, which computes what a NIC computes: so a port programmed with vsd's key and RETA
//! delivers each packet to the worker the software owner function names.

use vsd_dataplane::steer::{Steering, DEFAULT_KEY};
use vsd_dataplane::Addr;
use vsd_ffi::softrss::softrss;

#[test]
fn rust_toeplitz_matches_rte_softrss_for_ipv4_and_ipv6() {
    let s = Steering::new(4, 32, 128, DEFAULT_KEY);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        // xorshift: deterministic, well-spread addresses.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        #[allow(clippy::cast_possible_truncation, reason = "test data: the xorshift state's low 32 bits")]
        let v4 = (x as u32).to_be_bytes();
        assert_eq!(s.hash(&Addr::from_v4(v4)), softrss(&[u32::from_be_bytes(v4)], &DEFAULT_KEY), "{v4:?}");
        let mut v6 = [0u8; 16];
        v6[..8].copy_from_slice(&x.to_be_bytes());
        v6[8..].copy_from_slice(&x.rotate_left(29).to_be_bytes());
        v6[0] = 0x20; // not v4-mapped
        let words: Vec<u32> = v6.chunks(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(s.hash(&Addr::from_v6(v6)), softrss(&words, &DEFAULT_KEY), "{v6:?}");
    }
}
