//! The perf runs' network: the addresses and MACs that the traffic profiles and the vsd config share.
//!
//! Everything sits in 198.18.0.0/15, the range RFC 2544 (appendix C.2.2, RFC 6890) sets aside for
//! benchmarking, so no frame of a perf run can mean anything to a real network. The layout is chosen
//! so that vsd never has to resolve a neighbour, because `net_null` never answers ARP:
//! - clients are off-link (198.18.64.0/18) behind one gateway on the ext subnet; replies to any
//!   number of clients need one static neighbour, the gateway's;
//! - real servers sit on the int subnet, each with a static neighbour entry.
//!
//! The IPv6 side of `established6` (NAT66) mirrors it in the documentation prefix 2001:db8::/32
//! (RFC 3849): the ext link is 2001:db8:0:1::/64, the int link 2001:db8:0:2::/64, the gateway and
//! the real servers keep their MACs (dual-stack hosts), and each client is a host of its own /64
//! in 2001:db8:100::/48, off-link behind the gateway.

/// `net_pcap` gives port *n* the MAC 02:70:63:61:70:*n* ("pcap"); the ext vdev is created first,
/// so it is port 0. Frames in the pcap are addressed to it, or vsd would drop them as not for us.
pub const EXT_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];
/// vsd's address on the ext link.
pub const EXT_ADDR: [u8; 4] = [198, 18, 0, 2];
/// vsd's address on the int link.
pub const INT_ADDR: [u8; 4] = [198, 19, 0, 1];
/// Both links are /24s.
pub const SUBNET_LEN: u8 = 24;
/// The router in front of the clients: every client frame comes from its MAC.
pub const GATEWAY: [u8; 4] = [198, 18, 0, 1];
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// The NAT service of `established`, `syn`, `mixed` and `imix`.
pub const VIP: [u8; 4] = [198, 18, 0, 100];
pub const VPORT: u16 = 80;
/// The port-0 persistent service of `persist`.
pub const VIP_PERSIST: [u8; 4] = [198, 18, 0, 101];
/// The port the NAT real servers listen on.
pub const RS_PORT: u16 = 8080;
/// Real servers are 198.19.0.11 and up, within the int /24.
pub const MAX_REAL_SERVERS: u8 = 64;
/// Clients are 198.18.64.1 ..= 198.18.127.254: a /18 without its first and last address.
pub const MAX_CLIENTS: u32 = (1 << 14) - 2;
/// Client source ports start above the well-known and registered-by-convention low range.
pub const FIRST_SPORT: u16 = 1024;
/// The destination ports of `persist` start here (any port matches a port-0 service).
pub const FIRST_PERSIST_DPORT: u16 = 1024;

/// Address and MAC of real server `i` (0-based).
pub fn real_server(i: u8) -> ([u8; 4], [u8; 6]) {
    assert!(i < MAX_REAL_SERVERS, "real server {i} out of range");
    ([198, 19, 0, 11 + i], [0x02, 0x00, 0x00, 0x00, 0x00, 0x11 + i])
}

/// vsd's IPv6 address on the ext link (2001:db8:0:1::2).
pub const EXT_ADDR6: [u8; 16] = v6([0x2001, 0xdb8, 0, 1, 0, 0, 0, 2]);
/// vsd's IPv6 address on the int link (2001:db8:0:2::1).
pub const INT_ADDR6: [u8; 16] = v6([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]);
/// Both IPv6 links are /64s.
pub const SUBNET_LEN6: u8 = 64;
/// The router in front of the clients on the IPv6 side (2001:db8:0:1::1), MAC [`GATEWAY_MAC`].
pub const GATEWAY6: [u8; 16] = v6([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1]);
/// The NAT66 service of `established6` (2001:db8:0:1::100), port [`VPORT`].
pub const VIP6: [u8; 16] = v6([0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x100]);

/// An IPv6 address from its eight 16-bit groups.
const fn v6(g: [u16; 8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    let mut i = 0;
    while i < 8 {
        let [hi, lo] = g[i].to_be_bytes();
        a[2 * i] = hi;
        a[2 * i + 1] = lo;
        i += 1;
    }
    a
}

/// IPv6 address and MAC of real server `i` (0-based): 2001:db8:0:2::11 and up, the MAC of
/// [`real_server`]'s.
pub fn real_server6(i: u8) -> ([u8; 16], [u8; 6]) {
    let (_, mac) = real_server(i);
    (v6([0x2001, 0xdb8, 0, 2, 0, 0, 0, 0x11 + u16::from(i)]), mac)
}

/// IPv6 address of client `i` (0-based): 2001:db8:100:<i + 1>::1, each client on a /64 of its own.
pub fn client6(i: u32) -> [u8; 16] {
    assert!(i < MAX_CLIENTS, "client {i} out of range");
    #[allow(clippy::cast_possible_truncation, reason = "i + 1 < 2^14")]
    let net = (i + 1) as u16;
    v6([0x2001, 0xdb8, 0x100, net, 0, 0, 0, 1])
}

/// IPv6 text (RFC 5952), for configs and messages.
pub fn text6(a: [u8; 16]) -> String {
    std::net::Ipv6Addr::from(a).to_string()
}

/// Address of client `i` (0-based).
pub fn client(i: u32) -> [u8; 4] {
    assert!(i < MAX_CLIENTS, "client {i} out of range");
    let host = (64u32 << 8) + 1 + i;
    let [_, _, hi, lo] = host.to_be_bytes();
    [198, 18, hi, lo]
}

/// Dotted-quad text, for configs and messages.
pub fn dotted(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// Colon-separated MAC text, for configs.
pub fn mac_text(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_span_the_off_link_block_and_stay_distinct() {
        assert_eq!(client(0), [198, 18, 64, 1]);
        assert_eq!(client(254), [198, 18, 64, 255]);
        assert_eq!(client(255), [198, 18, 65, 0]);
        assert_eq!(client(MAX_CLIENTS - 1), [198, 18, 127, 254]);
        let all: std::collections::HashSet<_> = (0..MAX_CLIENTS).map(client).collect();
        assert_eq!(all.len(), MAX_CLIENTS as usize);
        // None is on the ext /24, so replies to them go through the gateway.
        assert!(all.iter().all(|c| c[..3] != EXT_ADDR[..3]));
    }

    #[test]
    fn real_servers_are_on_the_int_subnet() {
        for i in 0..MAX_REAL_SERVERS {
            let (a, m) = real_server(i);
            assert_eq!(a[..3], INT_ADDR[..3]);
            assert_ne!(a, INT_ADDR);
            assert_eq!(m[0] & 0x03, 0x02, "locally administered unicast MAC");
        }
        assert_eq!(dotted(real_server(0).0), "198.19.0.11");
        assert_eq!(mac_text(real_server(1).1), "02:00:00:00:00:12");
    }

    #[test]
    fn the_ipv6_side_sits_in_the_documentation_prefix() {
        assert_eq!(text6(EXT_ADDR6), "2001:db8:0:1::2");
        assert_eq!(text6(INT_ADDR6), "2001:db8:0:2::1");
        assert_eq!(text6(GATEWAY6), "2001:db8:0:1::1");
        assert_eq!(text6(VIP6), "2001:db8:0:1::100");
        assert_eq!(text6(real_server6(0).0), "2001:db8:0:2::11");
        assert_eq!(real_server6(3).1, real_server(3).1);
        assert_eq!(text6(client6(0)), "2001:db8:100:1::1");
        assert_eq!(text6(client6(MAX_CLIENTS - 1)), "2001:db8:100:3ffe::1");
        let all: std::collections::HashSet<_> = (0..MAX_CLIENTS).map(client6).collect();
        assert_eq!(all.len(), MAX_CLIENTS as usize);
        // Off the ext /64, so replies would go through the gateway; within 2001:db8::/32.
        assert!(all.iter().all(|c| c[..8] != EXT_ADDR6[..8] && c[..4] == [0x20, 0x01, 0x0d, 0xb8]));
        for i in 0..MAX_REAL_SERVERS {
            assert_eq!(real_server6(i).0[..8], INT_ADDR6[..8], "on the int /64");
        }
    }
}
