//! Crafting whole frames: for tests, the perf traffic generator and pcap fixtures.
//!
//! Not on the packet path. Each function returns a complete, valid Ethernet frame with correct
//! checksums, built from the wire views' setters, so that what the tests feed in is what a real
//! host would send.

use crate::addr::Addr;
use crate::wire::{
    checksum, ethertype, icmpv6, ip_proto, EthernetAddress, Icmpv6Packet, Ipv4Packet, NdpFlags, NdpRepr,
    TcpPacket, UdpPacket,
};

/// TCP flag bits (RFC 9293 §3.1) for [`tcp_v4`].
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const SYN_ACK: u8 = SYN | ACK;
}

/// An Ethernet II frame around `payload`.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 packet (no options, DF set) around `l4`, with its header checksum.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, ttl: u8, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    let total = u16::try_from(20 + l4.len()).expect("an IPv4 packet is below 64 KiB");
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = ttl;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    ip.extend_from_slice(l4);
    Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
    ip
}

/// A TCP segment over IPv4 (no options), as an IPv4 packet.
pub fn tcp_v4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(payload);
    TcpPacket::new_unchecked(&mut t[..]).fill_checksum(&Addr::from_v4(src), &Addr::from_v4(dst));
    ipv4(src, dst, 6, 64, &t)
}

/// A UDP datagram over IPv4, as an IPv4 packet; without `with_checksum` its checksum is 0
/// ("none", RFC 768).
pub fn udp_v4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload: &[u8],
    with_checksum: bool,
) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    let len = u16::try_from(8 + payload.len()).expect("a UDP datagram is below 64 KiB");
    u[4..6].copy_from_slice(&len.to_be_bytes());
    u.extend_from_slice(payload);
    if with_checksum {
        UdpPacket::new_unchecked(&mut u[..]).fill_checksum(&Addr::from_v4(src), &Addr::from_v4(dst));
    }
    ipv4(src, dst, 17, 64, &u)
}

/// An ICMP message over IPv4, as an IPv4 packet: type, code, the header's second word `rest`
/// (echo ident and sequence, the MTU of "fragmentation needed", or unused), then `data`.
pub fn icmp_v4(src: [u8; 4], dst: [u8; 4], ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut icmp = vec![ty, code, 0, 0];
    icmp.extend_from_slice(&rest);
    icmp.extend_from_slice(data);
    let c = checksum::finish(checksum::data(&icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 1, 64, &icmp)
}

/// An ICMP echo request over IPv4, as an IPv4 packet.
pub fn icmp_echo_v4(src: [u8; 4], dst: [u8; 4], ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let [i0, i1] = ident.to_be_bytes();
    let [s0, s1] = seq.to_be_bytes();
    icmp_v4(src, dst, 8, 0, [i0, i1, s0, s1], data)
}

/// `ip`, an IPv4 packet, with its header changed by `edit` and its header checksum filled again:
/// the TTL, ident, TOS or flags a packet has after a hop, spelled as the change.
pub fn edit_ipv4(mut ip: Vec<u8>, edit: impl FnOnce(&mut Ipv4Packet<&mut [u8]>)) -> Vec<u8> {
    let mut h = Ipv4Packet::new_unchecked(&mut ip[..]);
    edit(&mut h);
    h.fill_checksum();
    ip
}

/// An outer IPv4 header (protocol `proto`, ident `ident`) around `payload`, copying the TOS, TTL
/// and DF of the IPv4 packet `inner` as a tunnel entry point does (RFC 2003 §3.1).
fn outer_v4(src: [u8; 4], dst: [u8; 4], proto: u8, ident: u16, inner: &[u8], payload: &[u8]) -> Vec<u8> {
    let i = Ipv4Packet::new_unchecked(inner);
    let (dscp, ecn, ttl, df) = (i.dscp(), i.ecn(), i.ttl(), i.dont_frag());
    edit_ipv4(ipv4(src, dst, proto, ttl, payload), |h| {
        h.set_dscp(dscp);
        h.set_ecn(ecn);
        h.set_ident(ident);
        h.set_dont_frag(df);
    })
}

/// IPIP (RFC 2003): the IPv4 packet `inner` in an outer IPv4 header with protocol 4.
pub fn ipip(src: [u8; 4], dst: [u8; 4], ident: u16, inner: &[u8]) -> Vec<u8> {
    outer_v4(src, dst, 4, ident, inner, inner)
}

/// GUE variant 0 (draft-ietf-intarea-gue) carrying IPIP: outer IPv4, UDP from `sport` to `dport`,
/// the 4-byte GUE header, `inner`; the UDP checksum filled or left "none".
pub fn gue(
    src: [u8; 4],
    dst: [u8; 4],
    ident: u16,
    sport: u16,
    dport: u16,
    inner: &[u8],
    with_checksum: bool,
) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    let len = u16::try_from(8 + 4 + inner.len()).expect("a UDP datagram is below 64 KiB");
    u[4..6].copy_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 4, 0, 0]);
    u.extend_from_slice(inner);
    if with_checksum {
        UdpPacket::new_unchecked(&mut u[..]).fill_checksum(&Addr::from_v4(src), &Addr::from_v4(dst));
    }
    outer_v4(src, dst, 17, ident, inner, &u)
}

/// GRE (RFC 2784) carrying IPv4: outer IPv4 with protocol 47, the GRE header (with its checksum
/// over header and payload when asked), `inner`.
pub fn gre(src: [u8; 4], dst: [u8; 4], ident: u16, inner: &[u8], with_checksum: bool) -> Vec<u8> {
    let mut g = if with_checksum { vec![0x80, 0, 0x08, 0x00, 0, 0, 0, 0] } else { vec![0, 0, 0x08, 0x00] };
    g.extend_from_slice(inner);
    if with_checksum {
        let c = checksum::finish(checksum::data(&g));
        g[4..6].copy_from_slice(&c.to_be_bytes());
    }
    outer_v4(src, dst, 47, ident, inner, &g)
}

/// A UDP datagram over IPv6 (no extension headers, hop limit 64), as an IPv6 packet.
pub fn udp_v6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    let len = u16::try_from(8 + payload.len()).expect("a UDP datagram is below 64 KiB");
    u[4..6].copy_from_slice(&len.to_be_bytes());
    u.extend_from_slice(payload);
    UdpPacket::new_unchecked(&mut u[..]).fill_checksum(&Addr::from_v6(src), &Addr::from_v6(dst));
    let mut ip = vec![0x60, 0, 0, 0];
    let payload_len = u16::try_from(u.len()).expect("an IPv6 payload is below 64 KiB");
    ip.extend_from_slice(&payload_len.to_be_bytes());
    ip.extend_from_slice(&[17, 64]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&u);
    ip
}

/// An Ethernet frame with one 802.1Q C-tag (VLAN `vid`, priority 0) around `payload`.
pub fn ethernet_vlan(dst: [u8; 6], src: [u8; 6], vid: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut tagged = vid.to_be_bytes().to_vec();
    tagged.extend_from_slice(&ethertype.to_be_bytes());
    tagged.extend_from_slice(payload);
    ethernet(dst, src, ethertype::VLAN, &tagged)
}

/// An Ethernet/IPv4 ARP frame (RFC 826); `op` 1 is a request, 2 a reply.
pub fn arp(op: u16, dst_mac: [u8; 6], sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&sha);
    a.extend_from_slice(&spa);
    a.extend_from_slice(&tha);
    a.extend_from_slice(&tpa);
    ethernet(dst_mac, sha, ethertype::ARP, &a)
}

/// An IPv6 packet (no extension headers, traffic class and flow label 0) around `payload`.
pub fn ipv6(src: [u8; 16], dst: [u8; 16], next_header: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("an IPv6 payload without jumbograms is below 64 KiB");
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&len.to_be_bytes());
    ip.extend_from_slice(&[next_header, hop_limit]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(payload);
    ip
}

/// A TCP segment over IPv6 (no options, hop limit 64), as an IPv6 packet; the same segment as
/// [`tcp_v4`] builds.
pub fn tcp_v6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(payload);
    TcpPacket::new_unchecked(&mut t[..]).fill_checksum(&Addr::from_v6(src), &Addr::from_v6(dst));
    ipv6(src, dst, ip_proto::TCP, 64, &t)
}

/// An ICMPv6 echo request (or, without `request`, reply) over IPv6 (hop limit 64), as an IPv6
/// packet.
pub fn icmpv6_echo(
    src: [u8; 16],
    dst: [u8; 16],
    ident: u16,
    seq: u16,
    data: &[u8],
    request: bool,
) -> Vec<u8> {
    let mut m = vec![0u8; icmpv6::HEADER_LEN];
    m.extend_from_slice(data);
    let mut p = Icmpv6Packet::new_unchecked(&mut m[..]);
    p.set_msg_type(if request { icmpv6::msg_type::ECHO_REQUEST } else { icmpv6::msg_type::ECHO_REPLY });
    p.set_echo_ident(ident);
    p.set_echo_seq_no(seq);
    p.fill_checksum(&src, &dst);
    ipv6(src, dst, ip_proto::ICMPV6, 64, &m)
}

/// An ICMPv6 error (RFC 4443 §3: destination unreachable, packet too big, time exceeded,
/// parameter problem) from `src` to `dst`, its 4-byte field `rest` (MTU, pointer or unused), quoting
/// `quote` (normally the start of the offending IPv6 packet, as much as fits in 1280 bytes),
/// checksum filled; as an IPv6 packet with hop limit 64.
pub fn icmpv6_error(src: [u8; 16], dst: [u8; 16], ty: u8, code: u8, rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(quote);
    Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(&src, &dst);
    ipv6(src, dst, ip_proto::ICMPV6, 64, &m)
}

/// `ip`, an IPv6 packet without extension headers, with the chain `exts` inserted after its fixed
/// header: each is (its type, its body), the body padded with zeros to the 8-byte units that its
/// length field counts (RFC 8200 §4: Hdr Ext Len is in 8-byte units, not counting the first 8).
/// The next-header fields are chained to the packet's upper layer and the payload length grown.
/// For Hop-by-Hop (0), Routing (43) and Destination Options (60), whose lengths share this form.
pub fn ipv6_ext_chain(ip: &[u8], exts: &[(u8, &[u8])]) -> Vec<u8> {
    let Some((fixed, upper)) = ip.split_at_checked(40) else {
        return ip.to_vec();
    };
    let mut out = fixed.to_vec();
    let mut chain = Vec::new();
    for (i, (_, body)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(fixed[6], |e| e.0);
        let units = (2 + body.len()).div_ceil(8).max(1);
        let mut h = vec![next, u8::try_from(units - 1).unwrap_or(u8::MAX)];
        h.extend_from_slice(body);
        h.resize(units * 8, 0);
        chain.extend_from_slice(&h);
    }
    if let Some((first, _)) = exts.first() {
        out[6] = *first;
    }
    let len = u16::try_from(chain.len() + upper.len()).unwrap_or(u16::MAX);
    out[4..6].copy_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&chain);
    out.extend_from_slice(upper);
    out
}

/// An NDP message as an IPv6 packet with hop limit 255 (RFC 4861 §7.1), checksum filled.
fn ndp(src: [u8; 16], dst: [u8; 16], repr: &NdpRepr) -> Vec<u8> {
    let mut m = vec![0u8; repr.buffer_len()];
    let mut p = Icmpv6Packet::new_unchecked(&mut m[..]);
    repr.emit(&mut p);
    p.fill_checksum(&src, &dst);
    ipv6(src, dst, ip_proto::ICMPV6, 255, &m)
}

/// A Neighbour Solicitation for `target` (RFC 4861 §4.3), as an IPv6 packet. `dst` is usually
/// [`solicited_node_multicast`](crate::wire::ndp::solicited_node_multicast) of `target`; for duplicate address detection `src` is `::`
/// and `source_mac` `None`.
pub fn ndp_ns(src: [u8; 16], dst: [u8; 16], target: [u8; 16], source_mac: Option<[u8; 6]>) -> Vec<u8> {
    let source_ll_addr = source_mac.map(EthernetAddress);
    ndp(src, dst, &NdpRepr::NeighborSolicit { target_addr: target, source_ll_addr })
}

/// A Neighbour Advertisement for `target` (RFC 4861 §4.4), as an IPv6 packet.
pub fn ndp_na(
    src: [u8; 16],
    dst: [u8; 16],
    target: [u8; 16],
    flags: NdpFlags,
    target_mac: Option<[u8; 6]>,
) -> Vec<u8> {
    let target_ll_addr = target_mac.map(EthernetAddress);
    ndp(src, dst, &NdpRepr::NeighborAdvert { flags, target_addr: target, target_ll_addr })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ipv6Packet;

    const A1: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const A2: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    #[test]
    fn ipv6_builders_are_valid() {
        let ip = tcp_v6(A1, A2, 40000, 80, tcp_flags::SYN, b"hi");
        let p = Ipv6Packet::new_checked(&ip[..]).unwrap();
        assert_eq!((p.version(), p.next_header(), p.hop_limit(), p.payload_len()), (6, 6, 64, 22));
        assert_eq!((p.src_addr(), p.dst_addr()), (A1, A2));
        let t = TcpPacket::new_checked(p.payload()).unwrap();
        assert_eq!(
            (t.src_port(), t.dst_port(), t.flags().0, t.payload()),
            (40000, 80, tcp_flags::SYN, &b"hi"[..])
        );
        assert!(t.verify_checksum(&Addr::from_v6(A1), &Addr::from_v6(A2)));

        for request in [true, false] {
            let ip = icmpv6_echo(A1, A2, 7, 9, b"ping", request);
            let p = Ipv6Packet::new_checked(&ip[..]).unwrap();
            assert_eq!((p.next_header(), p.hop_limit()), (ip_proto::ICMPV6, 64));
            let m = Icmpv6Packet::new_checked(p.payload()).unwrap();
            let want = if request { icmpv6::msg_type::ECHO_REQUEST } else { icmpv6::msg_type::ECHO_REPLY };
            assert_eq!((m.msg_type(), m.msg_code(), m.echo_ident(), m.echo_seq_no()), (want, 0, 7, 9));
            assert_eq!(m.data(), b"ping");
            assert!(m.verify_checksum(&A1, &A2));
        }

        let quote = tcp_v6(A2, A1, 80, 40000, tcp_flags::SYN, b"");
        let ip = icmpv6_error(A1, A2, icmpv6::msg_type::PACKET_TOO_BIG, 0, 1280u32.to_be_bytes(), &quote);
        let p = Ipv6Packet::new_checked(&ip[..]).unwrap();
        let m = Icmpv6Packet::new_checked(p.payload()).unwrap();
        assert!(m.is_error() && m.verify_checksum(&A1, &A2));
        assert_eq!((m.pkt_too_big_mtu(), m.data()), (1280, &quote[..]));

        // Hop-by-Hop (8 bytes) then Destination Options (16 bytes), chained to TCP.
        let chained = ipv6_ext_chain(&quote, &[(0, &[1, 4, 0, 0, 0, 0][..]), (60, &[0; 7][..])]);
        let p = Ipv6Packet::new_checked(&chained[..]).unwrap();
        assert_eq!((p.next_header(), p.payload_len()), (0, 24 + 20));
        assert_eq!(
            (p.payload()[0], p.payload()[1], p.payload()[8], p.payload()[9]),
            (60, 0, ip_proto::TCP, 1)
        );
        assert_eq!(&p.payload()[24..], &quote[40..]);

        let ip = ndp_na(A2, A1, A2, NdpFlags::SOLICITED, None);
        let p = Ipv6Packet::new_checked(&ip[..]).unwrap();
        assert_eq!((p.next_header(), p.hop_limit(), p.payload_len()), (ip_proto::ICMPV6, 255, 24));
        let m = Icmpv6Packet::new_checked(p.payload()).unwrap();
        assert!(m.verify_checksum(&A2, &A1));
        let repr = NdpRepr::parse(&m).unwrap();
        assert_eq!(
            repr,
            NdpRepr::NeighborAdvert { flags: NdpFlags::SOLICITED, target_addr: A2, target_ll_addr: None }
        );
    }
}
