//! Which worker owns a packet: a pure function of the packet's client address.
//!
//! owner = RETA[Toeplitz(key, client & steering prefix) mod RETA size]. The client is the source of
//! client→VIP packets and the destination of a real server's NAT replies, so both directions of a
//! connection, every connection of one client (port-0 persistence, FTP control and data) and every
//! client sharing a persistence netmask meet on one core, whose tables need no lock. The steering
//! prefix is the coarsest persistence netmask in use (/32 and /128 by default).
//!
//! Toeplitz and the RETA are what NICs implement in hardware: with the same key and table, a port
//! doing RSS on the L3 source (client side) or destination (server side) delivers each packet to
//! its owner directly; everywhere else (af_packet fanout, 5-tuple RSS, a single queue) the
//! receiving core hands the packet over a redirect ring. See docs/MULTICORE.md.

use crate::addr::Addr;
use crate::wire::{ethertype, IcmpPacket, Parsed, L4};

/// Entries in the redirection table (a common NIC RETA size; a power of two).
pub const RETA_SIZE: usize = 128;

/// The Toeplitz key of Microsoft's RSS specification, the default of most NICs. Any 40-byte key
/// works, as long as hardware and software use the same one.
pub const DEFAULT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0,
    0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42,
    0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The owner function of one deployment: identical on every worker.
#[derive(Clone, Debug)]
pub struct Steering {
    workers: u16,
    prefix_v4: u8,
    prefix_v6: u8,
    key: [u8; 40],
    reta: [u16; RETA_SIZE],
    /// Toeplitz by byte: `table[i][v]` is the hash contribution of byte value `v` at input byte `i`
    /// (16 bytes cover an IPv6 address), so a hash is one lookup and XOR per byte.
    table: Box<[[u32; 256]; 16]>,
}

impl Steering {
    /// Steering over `workers` cores with the given prefixes, RETA filled round robin.
    pub fn new(workers: u16, prefix_v4: u8, prefix_v6: u8, key: [u8; 40]) -> Steering {
        let workers = workers.max(1);
        let mut reta = [0u16; RETA_SIZE];
        for (i, r) in reta.iter_mut().enumerate() {
            #[allow(clippy::cast_possible_truncation, reason = "below workers, a u16")]
            let owner = (i % usize::from(workers)) as u16;
            *r = owner;
        }
        let mut table = Box::new([[0u32; 256]; 16]);
        for (i, row) in table.iter_mut().enumerate() {
            for (v, slot) in row.iter_mut().enumerate() {
                let mut h = 0u32;
                for bit in 0..8 {
                    if v & (0x80 >> bit) != 0 {
                        h ^= window(&key, i * 8 + bit);
                    }
                }
                *slot = h;
            }
        }
        Steering { workers, prefix_v4: prefix_v4.min(32), prefix_v6: prefix_v6.min(128), key, reta, table }
    }

    pub fn workers(&self) -> u16 {
        self.workers
    }

    pub fn key(&self) -> &[u8; 40] {
        &self.key
    }

    /// The RETA as a NIC should be programmed (queue = worker index).
    pub fn reta(&self) -> &[u16; RETA_SIZE] {
        &self.reta
    }

    /// The steering prefix lengths (IPv4, IPv6).
    pub fn prefixes(&self) -> (u8, u8) {
        (self.prefix_v4, self.prefix_v6)
    }

    /// Toeplitz hash of an address as a NIC computes it for L3-only RSS (IPv4: 4 bytes, IPv6: 16).
    #[inline]
    pub fn hash(&self, a: &Addr) -> u32 {
        let bytes: &[u8] = if a.is_v4() { &a.0[12..] } else { &a.0 };
        bytes.iter().enumerate().fold(0, |h, (i, b)| h ^ self.table[i][usize::from(*b)])
    }

    /// The worker that owns everything of `client`.
    #[inline]
    pub fn owner(&self, client: &Addr) -> u16 {
        if self.workers == 1 {
            return 0;
        }
        let masked = client.masked(if client.is_v4() { self.prefix_v4 } else { self.prefix_v6 });
        self.reta[self.hash(&masked) as usize & (RETA_SIZE - 1)]
    }

    /// The owner of a parsed frame, or `None` if any worker may handle it (ARP, non-IP: host
    /// functions with no per-client state). `is_local` says whether an address is a VIP or one of
    /// ours: then the packet comes from the client; otherwise it is a reply going to the client.
    #[inline]
    pub fn owner_of(&self, p: &Parsed, frame: &[u8], is_local: impl Fn(&Addr) -> bool) -> Option<u16> {
        if self.workers == 1 || p.ethertype != ethertype::IPV4 && p.ethertype != ethertype::IPV6 {
            return None;
        }
        let client = match p.l4 {
            // An ICMPv6 error belongs to the connection of the datagram it quotes (RFC 4443 types
            // 1-4); Neighbour Discovery and echo are host functions, like ARP: whichever worker
            // receives them.
            L4::Icmp { ty: 1..=4, .. } if p.ethertype == ethertype::IPV6 => {
                quoted_client6(p, frame, &is_local)?
            }
            L4::Icmp { .. } if p.ethertype == ethertype::IPV6 => return None,
            // An ICMP error belongs to the connection of the datagram it quotes.
            L4::Icmp { ty: 3 | 11 | 12, .. } => quoted_client(p, frame, &is_local)?,
            _ if is_local(&p.dst) => p.src,
            _ => p.dst,
        };
        Some(self.owner(&client))
    }
}

/// The client of the datagram an ICMPv4 error quotes: vsd sent that datagram, so its destination is
/// the client when it came from a VIP (toward the client), else its source (toward a real server);
/// for one of our tunnel packets, the source of the packet inside.
fn quoted_client(p: &Parsed, frame: &[u8], is_local: &impl Fn(&Addr) -> bool) -> Option<Addr> {
    let end = (p.l3_off + p.l3_len as usize).min(frame.len());
    let icmp = IcmpPacket::new_checked(frame.get(p.l4_off..end)?).ok()?;
    let inner = icmp.quoted().ok()?;
    let (src, dst) = (inner.src(), inner.dst());
    if is_local(&src) {
        // One of our tunnel packets: its client is the source of the packet inside.
        if let Some(d) = crate::tunnel::decap(icmp.data(), None) {
            let tunnelled = icmp.data().get(d.inner_off..)?;
            return (tunnelled.len() >= crate::wire::ipv4::HEADER_LEN)
                .then(|| crate::wire::Ipv4Packet::new_unchecked(tunnelled).src());
        }
    }
    Some(if is_local(&src) { dst } else { src })
}

/// [`quoted_client`] for an ICMPv6 error: the quoted IPv6 header follows the 8-byte ICMPv6 header.
fn quoted_client6(p: &Parsed, frame: &[u8], is_local: &impl Fn(&Addr) -> bool) -> Option<Addr> {
    let end = (p.l3_off + p.l3_len as usize).min(frame.len());
    let quote = frame.get(p.l4_off + crate::wire::icmpv6::HEADER_LEN..end)?;
    let q = crate::wire::Ipv6Packet::new_unchecked(quote);
    if quote.len() < crate::wire::ipv6::HEADER_LEN {
        return None;
    }
    let (src, dst) = (q.src(), q.dst());
    Some(if is_local(&src) { dst } else { src })
}

/// The 32 key bits starting at bit `bit` (MSB first), the Toeplitz window for one input bit.
fn window(key: &[u8; 40], bit: usize) -> u32 {
    (0..32).fold(0u32, |w, i| {
        let b = bit + i;
        let set = key.get(b / 8).is_some_and(|byte| byte & (0x80 >> (b % 8)) != 0);
        (w << 1) | u32::from(set)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn a(s: &str) -> Addr {
        s.parse::<IpAddr>().unwrap().into()
    }

    /// Microsoft's "Verifying the RSS Hash Calculation", IPv4 addresses: the table computes the
    /// vectors' L3 hashes over source and destination.
    #[test]
    fn toeplitz_matches_the_rss_verification_suite() {
        let s = Steering::new(4, 32, 128, DEFAULT_KEY);
        let vectors = [
            ("66.9.149.187", "161.142.100.80", 0x323e_8fc2u32),
            ("199.92.111.2", "65.69.140.83", 0xd718_262a),
            ("24.19.198.95", "12.22.207.184", 0xd2d0_a5de),
            ("38.27.205.30", "209.142.163.6", 0x8298_9176),
            ("153.39.163.191", "202.188.127.2", 0x5d18_09c5),
        ];
        for (src, dst, want) in vectors {
            let (sa, da) = (a(src).v4_octets(), a(dst).v4_octets());
            let bytes: Vec<u8> = sa.iter().chain(da.iter()).copied().collect();
            let h = bytes.iter().enumerate().fold(0u32, |h, (i, b)| h ^ s.table[i][usize::from(*b)]);
            assert_eq!(h, want, "{src} -> {dst}");
        }
    }

    /// Toeplitz over arbitrary bytes, straight from the key windows (the reference for the table).
    fn reference(bytes: &[u8]) -> u32 {
        bytes.iter().enumerate().fold(0u32, |h, (i, b)| {
            (0..8)
                .filter(|bit| b & (0x80 >> bit) != 0)
                .fold(h, |h, bit| h ^ window(&DEFAULT_KEY, i * 8 + bit))
        })
    }

    #[test]
    fn ipv6_vector_from_the_suite() {
        // 3ffe:2501:200:1fff::7 -> 3ffe:2501:200:3::1, L3 hash 0x2cc18cd5.
        let (src, dst) = (a("3ffe:2501:200:1fff::7"), a("3ffe:2501:200:3::1"));
        let bytes: Vec<u8> = src.0.iter().chain(dst.0.iter()).copied().collect();
        assert_eq!(reference(&bytes), 0x2cc1_8cd5);
        let s = Steering::new(2, 32, 128, DEFAULT_KEY);
        assert_eq!(s.hash(&src), reference(&src.0), "the table agrees with the reference");
        assert_eq!(s.hash(&a("198.18.0.1")), reference(&[198, 18, 0, 1]));
    }

    #[test]
    fn owner_follows_the_steering_prefix() {
        let s = Steering::new(3, 24, 64, DEFAULT_KEY);
        let o = s.owner(&a("198.18.7.1"));
        for host in 0..=255u8 {
            assert_eq!(s.owner(&Addr::from_v4([198, 18, 7, host])), o, "a /24 stays on one core");
        }
        let o6 = s.owner(&a("2001:db8:1:2::1"));
        assert_eq!(s.owner(&a("2001:db8:1:2:ffff::9")), o6, "a /64 stays on one core");
        // Over the 512 /24s of 198.18.0.0/15 all three cores are used, each roughly a third.
        let mut count = [0usize; 3];
        for i in 0..512u16 {
            let [hi, lo] = i.to_be_bytes();
            count[usize::from(s.owner(&Addr::from_v4([198, 18 + hi, lo, 1])))] += 1;
        }
        assert!(count.iter().all(|&c| c > 120), "{count:?}");
        // /32 steering separates hosts.
        let s32 = Steering::new(2, 32, 128, DEFAULT_KEY);
        let owners: std::collections::HashSet<u16> =
            (0..64u8).map(|h| s32.owner(&Addr::from_v4([198, 18, 0, h]))).collect();
        assert_eq!(owners.len(), 2);
        // One worker: always 0.
        assert_eq!(Steering::new(1, 32, 128, DEFAULT_KEY).owner(&a("198.18.0.1")), 0);
    }

    #[test]
    fn both_directions_of_a_nat_connection_meet() {
        use crate::craft;
        let s = Steering::new(3, 32, 128, DEFAULT_KEY);
        let vip = a("198.18.0.100");
        let local = |x: &Addr| *x == vip;
        for c in 0..50u8 {
            let client = [198, 18, 1, c];
            let inbound = craft::ethernet(
                [2; 6],
                [4; 6],
                0x0800,
                &craft::tcp_v4(client, [198, 18, 0, 100], 40000, 80, 2, b""),
            );
            let reply = craft::ethernet(
                [2; 6],
                [4; 6],
                0x0800,
                &craft::tcp_v4([198, 19, 0, 11], client, 8080, 40000, 0x12, b""),
            );
            let pi = crate::wire::parse_frame(&inbound).unwrap();
            let pr = crate::wire::parse_frame(&reply).unwrap();
            assert_eq!(s.owner_of(&pi, &inbound, local), s.owner_of(&pr, &reply, local));
            assert_eq!(s.owner_of(&pi, &inbound, local), Some(s.owner(&Addr::from_v4(client))));
        }
        // ARP has no owner.
        let arp = craft::arp(1, [0xff; 6], [2; 6], [198, 18, 0, 9], [0; 6], [198, 18, 0, 2]);
        assert_eq!(s.owner_of(&crate::wire::parse_frame(&arp).unwrap(), &arp, local), None);
    }

    #[test]
    fn an_error_about_our_tunnel_packet_belongs_to_the_client_inside() {
        use crate::craft;
        use crate::tunnel::{encap, Outer, TunnelSpec};
        let s = Steering::new(3, 32, 128, DEFAULT_KEY);
        let ours = a("198.19.0.1");
        let local = |x: &Addr| *x == ours || *x == a("198.18.0.120");
        for c in 0..50u8 {
            let client = [198, 18, 1, c];
            let spec = TunnelSpec::default();
            let mut tunnelled = vec![0; spec.overhead()];
            tunnelled.extend_from_slice(&craft::tcp_v4(client, [198, 18, 0, 120], 40000, 80, 2, b""));
            let outer = Outer { src: [198, 19, 0, 1], dst: [198, 20, 0, 21], ident: 1, flow_hash: 0 };
            encap(&mut tunnelled, &spec, &outer);
            let mut icmp = vec![3, 4, 0, 0, 0, 0, 5, 0x78];
            icmp.extend_from_slice(&tunnelled);
            let sum = crate::wire::checksum::finish(crate::wire::checksum::data(&icmp));
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            let err = craft::ethernet(
                [2; 6],
                [4; 6],
                0x0800,
                &craft::ipv4([198, 19, 0, 254], [198, 19, 0, 1], 1, 64, &icmp),
            );
            let p = crate::wire::parse_frame(&err).unwrap();
            assert_eq!(s.owner_of(&p, &err, local), Some(s.owner(&Addr::from_v4(client))));
        }
    }
}
