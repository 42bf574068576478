//! The rewrites a router makes to a forwarded packet: the TTL (IPv6: hop limit) decrement and the
//! NAT address and port change, with RFC 1624 incremental checksum updates (never a recomputation
//! over the payload). IPv6 has no header checksum; its TCP/UDP checksum covers the 128-bit
//! addresses of the pseudo-header (RFC 8200 §8.1), updated as eight 16-bit words.
//!
//! Plain functions on the frame and its parse, with no worker state: the NAT path
//! ([`super::forward`]) and the ICMP error translation ([`super::icmp_error`]) both use them.

use crate::addr::Addr;
use crate::wire::{checksum, get_u16, get_u32, ipv4, set_u16, set_u32, Ipv4Packet, Parsed, L4};

/// Decrement the IPv4 TTL as a router does; false if the packet must not be forwarded.
#[inline]
pub(super) fn decrement_ttl(buf: &mut [u8], p: &Parsed) -> bool {
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[p.l3_off..]);
    let ttl = ip.ttl();
    if ttl <= 1 {
        return false;
    }
    ip.rewrite_ttl(ttl - 1);
    true
}

/// Which end of the packet a NAT rewrite changes.
#[derive(Clone, Copy)]
pub(super) enum End {
    /// DNAT of a client's packet toward the real server.
    Dst,
    /// SNAT of a real server's reply back to the VIP.
    Src,
}

/// Whether an IPv4 packet's TTL lets a router forward it (more than 1 hop left).
#[inline]
pub(super) fn ttl_allows_forwarding(buf: &[u8], p: &Parsed) -> bool {
    Ipv4Packet::new_unchecked(&buf[p.l3_off..]).ttl() > 1
}

/// A NAT packet's whole rewrite in one pass: the TTL decremented, one end's address and port
/// replaced, and each checksum updated once for all its changed words (RFC 1624 eqn. 3: the IPv4
/// header's for TTL and address, the TCP/UDP one for the pseudo-header address and the port).
/// The old values are read from the packet. The caller has checked the TTL; the packet is IPv4
/// (parsed, so its IPv4 header and its TCP/UDP header are in the buffer).
#[inline]
pub(super) fn nat_rewrite(buf: &mut [u8], p: &Parsed, end: End, new: Addr, port: u16) {
    const TTL: usize = 8;
    const IP_CSUM: usize = 10;
    let (addr_at, port_at) = match end {
        End::Dst => (16, 2),
        End::Src => (12, 0),
    };
    let new_addr = u32::from_be_bytes(new.v4_octets());
    let (old_addr, ip_csum) = {
        let ip = &mut buf[p.l3_off..p.l3_off + ipv4::HEADER_LEN];
        let old_ttl = get_u16(ip, TTL);
        let new_ttl = old_ttl - 0x0100;
        let old_addr = get_u32(ip, addr_at);
        let acc = u64::from(!get_u16(ip, IP_CSUM))
            + u64::from(!old_ttl)
            + u64::from(new_ttl)
            + u64::from(!old_addr)
            + u64::from(new_addr);
        set_u16(ip, TTL, new_ttl);
        set_u32(ip, addr_at, new_addr);
        (old_addr, !checksum::fold(acc))
    };
    set_u16(&mut buf[p.l3_off..], IP_CSUM, ip_csum);
    let csum_at = match p.l4 {
        L4::Tcp { .. } => 16,
        L4::Udp { .. } => 6,
        _ => return,
    };
    let l4 = &mut buf[p.l4_off..p.l4_off + csum_at + 2];
    let old_port = get_u16(l4, port_at);
    set_u16(l4, port_at, port);
    let old = get_u16(l4, csum_at);
    // A UDP checksum of 0 means none, and stays so.
    if csum_at == 6 && old == 0 {
        return;
    }
    let acc =
        u64::from(!old) + u64::from(!old_addr) + u64::from(new_addr) + u64::from(!old_port) + u64::from(port);
    let c = !checksum::fold(acc);
    set_u16(l4, csum_at, if csum_at == 6 { checksum::udp_nonzero(c) } else { c });
}

/// IPv6 hop limit field, from the start of the header.
const HOP_LIMIT: usize = 7;

/// Whether an IPv6 packet's hop limit lets a router forward it (more than 1 hop left).
#[inline]
pub(super) fn hop_limit_allows_forwarding(buf: &[u8], p: &Parsed) -> bool {
    buf[p.l3_off + HOP_LIMIT] > 1
}

/// [`nat_rewrite`] for IPv6 (NAT66): the hop limit decremented, one end's address and port
/// replaced, the TCP/UDP checksum updated once for the sixteen address words and the port. The
/// caller has checked the hop limit; the packet is IPv6 with its TCP/UDP header in the buffer. A
/// UDP checksum of 0 (invalid in IPv6, RFC 8200 §8.1) is left as it is, to be dropped where it
/// is checked, as a router leaves it. Out of line: off the IPv4 path.
#[inline(never)]
pub(super) fn nat_rewrite6(buf: &mut [u8], p: &Parsed, end: End, new: Addr, port: u16) {
    const SRC: usize = 8;
    const DST: usize = 24;
    let (addr_at, port_at) = match end {
        End::Dst => (DST, 2),
        End::Src => (SRC, 0),
    };
    let mut acc = 0u64;
    {
        let ip = &mut buf[p.l3_off..p.l3_off + crate::wire::ipv6::HEADER_LEN];
        ip[HOP_LIMIT] -= 1;
        for (i, w) in new.0.chunks_exact(2).enumerate() {
            let at = addr_at + 2 * i;
            acc += u64::from(!get_u16(ip, at)) + u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        ip[addr_at..addr_at + 16].copy_from_slice(&new.0);
    }
    let csum_at = match p.l4 {
        L4::Tcp { .. } => 16,
        L4::Udp { .. } => 6,
        _ => return,
    };
    let l4 = &mut buf[p.l4_off..p.l4_off + csum_at + 2];
    let old_port = get_u16(l4, port_at);
    set_u16(l4, port_at, port);
    let old = get_u16(l4, csum_at);
    if csum_at == 6 && old == 0 {
        return;
    }
    let acc = acc + u64::from(!old) + u64::from(!old_port) + u64::from(port);
    let c = !checksum::fold(acc);
    set_u16(l4, csum_at, if csum_at == 6 { checksum::udp_nonzero(c) } else { c });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::splitmix64;
    use crate::craft;
    use crate::wire::{ethertype, parse_frame, TcpPacket, UdpPacket};

    /// Random TCP and UDP packets (random addresses, ports, payloads, TTLs, so every checksum value
    /// comes up), rewritten at either end: the result is the packet with those fields replaced and
    /// checksums that verify from scratch.
    #[test]
    #[allow(clippy::cast_possible_truncation, reason = "test data: fields cut from random 64-bit words")]
    fn nat_rewrite_is_the_field_change_with_valid_checksums() {
        let mut rng = 7u64;
        for i in 0..20_000 {
            let r = splitmix64(&mut rng);
            let (src, dst) = ((r as u32).to_be_bytes(), ((r >> 32) as u32).to_be_bytes());
            let r2 = splitmix64(&mut rng);
            let (sport, dport, port) = (r2 as u16, (r2 >> 16) as u16, (r2 >> 32) as u16);
            let new = ((r2 >> 48) as u32 ^ (r as u32).rotate_left(7)).to_be_bytes();
            let payload = r.to_be_bytes()[..(i % 9)].to_vec();
            let ip = match i % 3 {
                0 => craft::tcp_v4(src, dst, sport, dport, 0x10, &payload),
                1 => craft::udp_v4(src, dst, sport, dport, &payload, true),
                _ => craft::udp_v4(src, dst, sport, dport, &payload, false),
            };
            let mut f = craft::ethernet([2; 6], [4; 6], ethertype::IPV4, &ip);
            let ttl = 2 + (r2 >> 56) as u8 % 254;
            f[14 + 8] = ttl;
            Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
            let p = parse_frame(&f).unwrap();
            let end = if i % 2 == 0 { End::Dst } else { End::Src };
            let mut want = f.clone();
            let (a, pt) = match end {
                End::Dst => (14 + 16, 14 + 20 + 2),
                End::Src => (14 + 12, 14 + 20),
            };
            want[14 + 8] = ttl - 1;
            want[a..a + 4].copy_from_slice(&new);
            want[pt..pt + 2].copy_from_slice(&port.to_be_bytes());
            assert!(ttl_allows_forwarding(&f, &p));
            nat_rewrite(&mut f, &p, end, Addr::from_v4(new), port);
            let q = parse_frame(&f).unwrap();
            assert!(Ipv4Packet::new_unchecked(&f[14..]).verify_checksum(), "IPv4 checksum, packet {i}");
            let l4 = &f[q.l4_off..];
            match q.l4 {
                L4::Tcp { .. } => {
                    assert!(TcpPacket::new_unchecked(l4).verify_checksum(&q.src, &q.dst), "TCP, packet {i}")
                }
                L4::Udp { .. } if i % 3 == 2 => assert_eq!(&l4[6..8], &[0, 0], "none stays none"),
                L4::Udp { .. } => {
                    assert!(UdpPacket::new_unchecked(l4).verify_checksum(&q.src, &q.dst), "UDP, packet {i}")
                }
                _ => unreachable!(),
            }
            // Apart from the checksums, exactly the rewritten fields changed.
            for c in [14 + 10, q.l4_off + if i % 3 == 0 { 16 } else { 6 }] {
                want[c..c + 2].copy_from_slice(&f[c..c + 2]);
            }
            assert_eq!(f, want, "packet {i}");
        }
    }

    #[test]
    fn a_ttl_of_one_is_not_forwarded() {
        let mut f = craft::ethernet(
            [2; 6],
            [4; 6],
            ethertype::IPV4,
            &craft::tcp_v4([198, 18, 0, 1], [198, 18, 0, 100], 1, 80, 0x10, b""),
        );
        f[14 + 8] = 1;
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        assert!(!ttl_allows_forwarding(&f, &parse_frame(&f).unwrap()));
    }

    /// Random TCP and UDP segments over IPv6, rewritten at either end: the result is the packet
    /// with the hop limit, the address and the port replaced, and a checksum that verifies.
    #[test]
    fn nat_rewrite6_is_the_field_change_with_a_valid_checksum() {
        let mut rng = 11u64;
        for i in 0..5_000 {
            let addr = |rng: &mut u64| {
                let mut a = [0u8; 16];
                a[..8].copy_from_slice(&splitmix64(rng).to_be_bytes());
                a[8..].copy_from_slice(&splitmix64(rng).to_be_bytes());
                a[0] = 0x20; // never v4-mapped
                a
            };
            let (src, dst, new) = (addr(&mut rng), addr(&mut rng), addr(&mut rng));
            let r = splitmix64(&mut rng);
            #[allow(clippy::cast_possible_truncation, reason = "random 16-bit slices of a u64")]
            let (sport, dport, port) = (r as u16, (r >> 16) as u16, (r >> 32) as u16);
            let payload = r.to_be_bytes()[..(i % 9)].to_vec();
            let ip = if i % 2 == 0 {
                craft::tcp_v6(src, dst, sport, dport, 0x10, &payload)
            } else {
                craft::udp_v6(src, dst, sport, dport, &payload)
            };
            let mut f = craft::ethernet([2; 6], [4; 6], ethertype::IPV6, &ip);
            let p = parse_frame(&f).unwrap();
            let end = if i % 4 < 2 { End::Dst } else { End::Src };
            let hop = f[14 + 7];
            assert!(hop_limit_allows_forwarding(&f, &p));
            nat_rewrite6(&mut f, &p, end, Addr::from_v6(new), port);
            let q = parse_frame(&f).unwrap();
            assert_eq!(f[14 + 7], hop - 1);
            let (a, want_src, want_dst) = match end {
                End::Dst => (q.dst, src, new),
                End::Src => (q.src, new, dst),
            };
            assert_eq!(a, Addr::from_v6(new));
            assert_eq!((q.src, q.dst), (Addr::from_v6(want_src), Addr::from_v6(want_dst)));
            let l4 = &f[q.l4_off..];
            match (q.l4, end) {
                (L4::Tcp { sport: s, dport: d, .. }, End::Dst) => assert_eq!((s, d), (sport, port)),
                (L4::Tcp { sport: s, dport: d, .. }, End::Src) => assert_eq!((s, d), (port, dport)),
                (L4::Udp { sport: s, dport: d }, End::Dst) => assert_eq!((s, d), (sport, port)),
                (L4::Udp { sport: s, dport: d }, End::Src) => assert_eq!((s, d), (port, dport)),
                _ => unreachable!(),
            }
            let ok = match q.l4 {
                L4::Tcp { .. } => TcpPacket::new_unchecked(l4).verify_checksum(&q.src, &q.dst),
                _ => UdpPacket::new_unchecked(l4).verify_checksum(&q.src, &q.dst),
            };
            assert!(ok, "checksum, packet {i}");
        }
    }
}
