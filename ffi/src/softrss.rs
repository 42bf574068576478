//! Toeplitz RSS hashing in software (`rte_softrss`), to predict which queue a NIC picks.
//!
//! vsd must know which core the hardware will steer a flow's return packets to (for example to pick
//! a full-NAT source port that lands on the owner core). This computes the same Toeplitz hash as
//! the NIC, over the same words in host order. It is one FFI call per hash: fine for setup and for
//! per-connection choices, not for per-packet work.

use crate::sys;

/// The Toeplitz key of Microsoft's RSS specification ("Verifying the RSS Hash Calculation"), the
/// default of most NICs and DPDK's test suite.
pub const MICROSOFT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0,
    0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42,
    0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The Toeplitz hash of `tuple` (32-bit words in host order, e.g. source address, destination
/// address, `sport << 16 | dport`) under `key`. The key must be at least one word longer than the
/// tuple; panics otherwise.
pub fn softrss(tuple: &[u32], key: &[u8]) -> u32 {
    assert!(
        key.len() >= 4 * (tuple.len() + 1),
        "RSS key of {} bytes is too short for {} words",
        key.len(),
        tuple.len()
    );
    let len = u32::try_from(tuple.len()).expect("tuple length fits in u32");
    // rte_softrss takes a mutable pointer but only reads the tuple; the copy keeps `tuple` shared.
    let mut words = tuple.to_vec();
    // SAFETY: words holds len words and key at least len + 1 words, which is all rte_softrss reads.
    unsafe { sys::vsd_softrss(words.as_mut_ptr(), len, key.as_ptr()) }
}

/// The tuple words of an IPv4 flow, in the order NICs hash them.
pub fn ipv4_tuple(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> [u32; 3] {
    [u32::from_be_bytes(src), u32::from_be_bytes(dst), u32::from(sport) << 16 | u32::from(dport)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (source, destination, sport, dport, addresses-only hash, addresses-and-ports hash).
    type Vector = ([u8; 4], [u8; 4], u16, u16, u32, u32);

    /// Microsoft's RSS verification suite, IPv4.
    const MS_IPV4: [Vector; 5] = [
        ([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766, 0x323e_8fc2, 0x51cc_c178),
        ([199, 92, 111, 2], [65, 69, 140, 83], 14230, 4739, 0xd718_262a, 0xc626_b0ea),
        ([24, 19, 198, 95], [12, 22, 207, 184], 12898, 38024, 0xd2d0_a5de, 0x5c2b_394a),
        ([38, 27, 205, 30], [209, 142, 163, 6], 48228, 2217, 0x8298_9176, 0xafc7_327f),
        ([153, 39, 163, 191], [202, 188, 127, 2], 44251, 1303, 0x5d18_09c5, 0x10e8_28a2),
    ];

    #[test]
    fn matches_microsoft_verification_suite() {
        for (src, dst, sport, dport, l3, l4) in MS_IPV4 {
            let tuple = ipv4_tuple(src, dst, sport, dport);
            assert_eq!(softrss(&tuple[..2], &MICROSOFT_KEY), l3, "{src:?} -> {dst:?}");
            assert_eq!(softrss(&tuple, &MICROSOFT_KEY), l4, "{src:?}:{sport} -> {dst:?}:{dport}");
        }
    }

    #[test]
    #[should_panic(expected = "too short")]
    fn short_key_is_refused() {
        softrss(&[1, 2, 3], &MICROSOFT_KEY[..12]);
    }
}
