//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! NAT rewrites addresses and ports on every forwarded packet, so the incremental helpers are the
//! hot path: they touch only the changed words, never the payload. Sums are kept unfolded in a
//! `u64` and folded once at the end. Because 2^16 ≡ 1 (mod 2^16 − 1), a big-endian 32-bit word adds
//! the same as its two 16-bit halves, and its bitwise complement is the ones' complement of both
//! halves; so data and addresses are consumed four bytes at a time, with no byte swapping of
//! 16-bit lanes.
//!
//! Conventions: [`data`], [`combine`] and the pseudo-header functions return the folded,
//! *uncomplemented* sum; a checksum field holds its complement. A buffer that includes a correct
//! checksum field sums to 0xffff.

use crate::addr::Addr;

/// Fold a wide ones' complement sum to 16 bits (RFC 1071 §4.1: add the carries back in).
/// Four steps take any `u64` to at most 0xffff.
#[inline]
#[allow(clippy::cast_possible_truncation, reason = "four folds leave at most 0xffff")]
pub fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// Ones' complement sum of `bytes` as big-endian 16-bit words, an odd last byte padded with zero
/// (RFC 1071 §4.1).
#[inline]
pub fn data(bytes: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = bytes.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    match *words.remainder() {
        [a, b, c] => acc += u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        [a, b] => acc += u64::from(u16::from_be_bytes([a, b])),
        [a] => acc += u64::from(a) << 8,
        _ => {}
    }
    fold(acc)
}

/// Ones' complement sum of partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The checksum field value for a sum: its complement.
#[inline]
pub const fn finish(sum: u16) -> u16 {
    !sum
}

#[inline]
fn word32(b: &[u8]) -> u64 {
    u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Sum of the IPv4 pseudo-header for TCP/UDP (RFC 793 §3.1, RFC 768): addresses, protocol, and the
/// L4 length (header + payload).
#[inline]
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u16 {
    fold(word32(&src) + word32(&dst) + u64::from(proto) + u64::from(len))
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): addresses, 32-bit upper-layer length, next header.
#[inline]
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u16 {
    let mut acc = u64::from(next_header) + u64::from(len);
    for i in (0..16).step_by(4) {
        acc += word32(&src[i..]) + word32(&dst[i..]);
    }
    fold(acc)
}

/// The pseudo-header of the family of `src` (IPv4 when it is v4-mapped). `len` is the L4 length.
#[inline]
pub fn pseudo_header(src: &Addr, dst: &Addr, proto: u8, len: u32) -> u16 {
    if src.is_v4() {
        // An IPv4 L4 length always fits 16 bits (total length is a u16); summing it as 32 bits is
        // the same sum anyway.
        fold(word32(&src.0[12..]) + word32(&dst.0[12..]) + u64::from(proto) + u64::from(len))
    } else {
        pseudo_header_v6(&src.0, &dst.0, proto, len)
    }
}

/// Update checksum field `hc` after a 16-bit word changed from `old` to `new`:
/// RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m').
#[inline]
pub fn update16(hc: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!hc) + u64::from(!old) + u64::from(new))
}

/// [`update16`] for an aligned 32-bit value (an IPv4 address, a TCP sequence number): its two
/// halves at once.
#[inline]
pub fn update32(hc: u16, old: u32, new: u32) -> u16 {
    !fold(u64::from(!hc) + u64::from(!old) + u64::from(new))
}

/// [`update16`] for a 16-byte value (an IPv6 address).
#[inline]
pub fn update128(hc: u16, old: &[u8; 16], new: &[u8; 16]) -> u16 {
    let mut acc = u64::from(!hc);
    for i in (0..16).step_by(4) {
        acc += (!word32(&old[i..]) & 0xffff_ffff) + word32(&new[i..]);
    }
    !fold(acc)
}

/// Update a checksum covering an address (IPv4 header, or a TCP/UDP pseudo-header) that changed
/// from `old` to `new`; both of one family.
#[inline]
pub fn update_addr(hc: u16, old: &Addr, new: &Addr) -> u16 {
    if old.is_v4() {
        update32(hc, u32::from_be_bytes(old.v4_octets()), u32::from_be_bytes(new.v4_octets()))
    } else {
        update128(hc, &old.0, &new.0)
    }
}

/// RFC 768: a UDP checksum that computes to zero is sent as all ones, because a zero field means
/// "no checksum". RFC 8200 §8.1 keeps the rule for IPv6.
#[inline]
pub const fn udp_nonzero(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Apply an incremental update `f` to a UDP checksum field: a zero field (IPv4 "no checksum") is
/// left zero, and an updated zero becomes 0xffff.
#[inline]
pub fn udp_update(field: u16, f: impl FnOnce(u16) -> u16) -> u16 {
    if field == 0 {
        0
    } else {
        udp_nonzero(f(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::{TCP_SYNACK_V6, TCP_SYN_V4, UDP_V4, UDP_V6};
    use crate::wire::{ip_proto, TcpPacket, UdpPacket};
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&b), 0xddf2);
        assert_eq!(finish(data(&b)), 0x220d);
        // Byte order independence of the partial sums (§2(B)): split anywhere even and combine.
        assert_eq!(combine(&[data(&b[..2]), data(&b[2..6]), data(&b[6..])]), 0xddf2);
    }

    #[test]
    fn odd_lengths_and_carries() {
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x00, 0x01, 0xf2]), 0xf201);
        // 0x0001 + 0xf203 + 0xf400 = 0x1e604; the carry added back gives 0xe605.
        assert_eq!(data(&[0x00, 0x01, 0xf2, 0x03, 0xf4]), 0xe605);
        // 0xffff + 0x0001 wraps to 0x0001 with the end-around carry.
        assert_eq!(data(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
        // 100 000 words of 0xffff: the sum stays 0xffff ("negative zero").
        assert_eq!(data(&vec![0xff; 200_000]), 0xffff);
        // 2^64 − 1 is a multiple of 2^16 − 1, so u64::MAX folds to "negative zero" and MAX − 1 to −1.
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(fold(u64::MAX - 1), 0xfffe);
    }

    #[test]
    fn ipv4_header_of_a_real_frame_sums_to_ffff() {
        assert_eq!(data(&TCP_SYN_V4[14..34]), 0xffff);
        let mut hdr = TCP_SYN_V4[14..34].to_vec();
        hdr[10..12].fill(0);
        assert_eq!(finish(data(&hdr)), 0x91ec);
    }

    #[test]
    fn pseudo_headers_of_real_segments() {
        let seg = &TCP_SYN_V4[34..];
        let ph = pseudo_header_v4(
            [198, 18, 0, 1],
            [198, 18, 0, 100],
            ip_proto::TCP,
            u16::try_from(seg.len()).unwrap(),
        );
        assert_eq!(combine(&[ph, data(seg)]), 0xffff);
        let a = |o| Addr::from_v4(o);
        let via_addr =
            pseudo_header(&a([198, 18, 0, 1]), &a([198, 18, 0, 100]), 6, u32::try_from(seg.len()).unwrap());
        assert_eq!(via_addr, ph);

        let dgram = &UDP_V4[34..];
        let ph = pseudo_header_v4(
            [198, 18, 0, 1],
            [198, 18, 0, 53],
            ip_proto::UDP,
            u16::try_from(dgram.len()).unwrap(),
        );
        assert_eq!(combine(&[ph, data(dgram)]), 0xffff);

        for (frame, proto) in [(&TCP_SYNACK_V6[..], ip_proto::TCP), (&UDP_V6[..], ip_proto::UDP)] {
            let src: [u8; 16] = frame[22..38].try_into().unwrap();
            let dst: [u8; 16] = frame[38..54].try_into().unwrap();
            let l4 = &frame[54..];
            let l4_len = u32::try_from(l4.len()).unwrap();
            let ph = pseudo_header_v6(&src, &dst, proto, l4_len);
            assert_eq!(combine(&[ph, data(l4)]), 0xffff);
            let via_addr = pseudo_header(&Addr::from_v6(src), &Addr::from_v6(dst), proto, l4_len);
            assert_eq!(via_addr, ph);
        }
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 → m' = 0x3285; eqn. 3 gives 0x0000 where the flawed
        // eqn. 2 of RFC 1141 gives 0xffff.
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn udp_zero_rule() {
        assert_eq!(udp_nonzero(0), 0xffff);
        assert_eq!(udp_nonzero(0x1234), 0x1234);
        assert_eq!(udp_update(0, |c| update16(c, 1, 2)), 0);
        // The RFC 1624 example again: the updated value 0 must go out as 0xffff in UDP.
        assert_eq!(udp_update(0xdd2f, |c| update16(c, 0x5555, 0x3285)), 0xffff);
    }

    fn full_tcp(src: &Addr, dst: &Addr, seg: &mut [u8]) -> u16 {
        let mut p = TcpPacket::new_unchecked(&mut seg[..]);
        p.fill_checksum(src, dst);
        p.checksum()
    }

    fn full_udp(src: &Addr, dst: &Addr, dgram: &mut [u8]) -> u16 {
        let mut p = UdpPacket::new_unchecked(&mut dgram[..]);
        p.fill_checksum(src, dst);
        p.checksum()
    }

    fn addr_pair(v4: bool, a: [u8; 16], b: [u8; 16]) -> (Addr, Addr) {
        if v4 {
            (Addr::from_v4([a[0], a[1], a[2], a[3]]), Addr::from_v4([b[0], b[1], b[2], b[3]]))
        } else {
            // Keep the IPv6 addresses out of the v4-mapped range.
            let (mut a, mut b) = (a, b);
            a[0] = 0x20;
            b[0] = 0x20;
            (Addr::from_v6(a), Addr::from_v6(b))
        }
    }

    proptest! {
        /// NAT-style rewrite of both addresses and ports: each incremental step equals a full
        /// recompute over the rewritten packet, for TCP and UDP, IPv4 and IPv6.
        #[test]
        fn incremental_equals_full(
            v4 in any::<bool>(),
            a in any::<[u8; 16]>(), b in any::<[u8; 16]>(),
            c in any::<[u8; 16]>(), d in any::<[u8; 16]>(),
            ports in any::<[u16; 4]>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            seq in any::<[u32; 2]>(),
        ) {
            let (src, dst) = addr_pair(v4, a, b);
            let (new_src, new_dst) = addr_pair(v4, c, d);

            // TCP: header of 20 bytes, then the payload.
            let mut seg = vec![0u8; 20 + payload.len()];
            seg[20..].copy_from_slice(&payload);
            let mut t = TcpPacket::new_unchecked(&mut seg[..]);
            t.set_header_len(20);
            t.set_src_port(ports[0]);
            t.set_dst_port(ports[1]);
            t.set_seq_number(seq[0]);
            t.fill_checksum(&src, &dst);
            t.rewrite_src_port(ports[2]);
            t.rewrite_dst_port(ports[3]);
            t.rewrite_seq_number(seq[1]);
            t.adjust_checksum_addr(&src, &new_src);
            t.adjust_checksum_addr(&dst, &new_dst);
            let incremental = t.checksum();
            prop_assert_eq!(incremental, full_tcp(&new_src, &new_dst, &mut seg));

            // UDP, with the zero rule.
            let mut dgram = vec![0u8; 8 + payload.len()];
            dgram[8..].copy_from_slice(&payload);
            let mut u = UdpPacket::new_unchecked(&mut dgram[..]);
            u.set_len(8 + u16::try_from(payload.len()).unwrap());
            u.set_src_port(ports[0]);
            u.set_dst_port(ports[1]);
            u.fill_checksum(&src, &dst);
            u.rewrite_src_port(ports[2]);
            u.rewrite_dst_port(ports[3]);
            u.adjust_checksum_addr(&src, &new_src);
            u.adjust_checksum_addr(&dst, &new_dst);
            let incremental = u.checksum();
            prop_assert_ne!(incremental, 0);
            prop_assert_eq!(incremental, full_udp(&new_src, &new_dst, &mut dgram));
        }

        /// The primitive itself: any word of any buffer, changed to anything.
        #[test]
        fn update16_matches_recompute(
            mut buf in proptest::collection::vec(any::<u8>(), 4..80),
            at in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            // Keep word 0 nonzero and unchanged: the ±0 ambiguity of RFC 1624 §3 only arises when
            // the whole sum is zero, which no real header is (the protocol number alone is not).
            buf[0] |= 1;
            let i = (at.index(buf.len() / 2 - 1) + 1) * 2;
            let hc = finish(data(&buf));
            let old = u16::from_be_bytes([buf[i], buf[i + 1]]);
            buf[i..i + 2].copy_from_slice(&new.to_be_bytes());
            prop_assert_eq!(update16(hc, old, new), finish(data(&buf)));
        }
    }
}
