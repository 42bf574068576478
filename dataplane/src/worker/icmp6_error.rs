//! ICMPv6 errors that belong to vsd's connections (RFC 4443; LVS `ip_vs_in_icmp_v6` /
//! `ip_vs_out_icmp_v6`), the IPv6 side of [`super::icmp_error`].
//!
//! Destination unreachable, packet too big, time exceeded and parameter problem quote the packet
//! that caused them; its tuple reversed is the connection's. In NAT they are translated, outer and
//! inner, as LVS does for IPv4: from the server's side the outer source and the quote's destination
//! become the VIP; from the client's side the outer destination and the quote's source become the
//! real server. The ICMPv6 checksum covers the IPv6 pseudo-header, so it is computed again over the
//! message; the quote's TCP/UDP checksum is left alone (the quote is usually cut short). In DR an
//! error from the client's side goes on to the server. Errors whose checksum fails, whose quote is
//! not a TCP or UDP packet straight behind the IPv6 header, or that match no connection are
//! dropped and counted (`icmp`).

use super::verdict::Verdict;
use super::Worker;
use crate::addr::{Addr, FlowKey, Proto};
use crate::buf::PacketBuf;
use crate::conn::{Dir, Fwd};
use crate::stats::DropReason;
use crate::wire::{
    ethernet, ethertype, get_u16, icmpv6, ip_proto, ipv6, set_u16, Icmpv6Packet, Ipv6Packet, Parsed,
};

/// Hop limit field of the IPv6 header.
const HOP_LIMIT: usize = 7;
/// An ICMPv6 error may carry as much of the packet as fits in the IPv6 minimum MTU (RFC 4443
/// §2.4 (c)).
const MAX_ERROR_LEN: usize = 1280;
/// Outer IPv6 plus ICMPv6 header in front of the quote.
const ERROR_HEAD: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
/// Hop limit of the errors vsd builds (Linux's default `hop_limit`).
const ERROR_HOP_LIMIT: u8 = 64;

/// The ICMPv6 error types vsd matches to connections (RFC 4443 §3).
#[inline]
pub(super) fn is_error6(ty: u8) -> bool {
    use icmpv6::msg_type::*;
    matches!(ty, DST_UNREACHABLE | PACKET_TOO_BIG | TIME_EXCEEDED | PARAM_PROBLEM)
}

impl<B: PacketBuf> Worker<B> {
    /// Turn the client's IPv6 packet in `pkt` (untagged, padding trimmed) into "packet too big,
    /// MTU `mtu`" addressed to the client (RFC 4443 §3.2), from the director's address on the
    /// client's side, quoting as much of the packet as fits in 1280 bytes: IPv6 routers never
    /// fragment, so this is how the client's path MTU discovery learns the way is narrower.
    pub(super) fn packet_too_big(&mut self, pkt: &mut B, client: Addr, mtu: u16) -> Verdict {
        let src = self
            .snap
            .routes
            .lookup(client)
            .and_then(|nh| self.snap.ifaces[nh.iface as usize].source_for(client))
            .filter(|a| !a.is_v4());
        let Some(src) = src else { return Verdict::Drop(DropReason::NoRoute) };
        let l3 = ethernet::HEADER_LEN;
        let quote = (pkt.len() - l3).min(MAX_ERROR_LEN - ERROR_HEAD);
        pkt.trim(pkt.len() - l3 - quote);
        // The quote stays where it is; the new headers go in front of it, over the old Ethernet one.
        if !pkt.prepend(ERROR_HEAD) {
            return Verdict::Drop(DropReason::NoHeadroom);
        }
        let frame = pkt.as_mut();
        set_u16(frame, 12, ethertype::IPV6);
        {
            let mut msg = Icmpv6Packet::new_unchecked(&mut frame[l3 + ipv6::HEADER_LEN..]);
            msg.set_msg_type(icmpv6::msg_type::PACKET_TOO_BIG);
            msg.set_msg_code(0);
            msg.set_pkt_too_big_mtu(u32::from(mtu));
            msg.fill_checksum(&src.0, &client.0);
        }
        let mut ip = Ipv6Packet::new_unchecked(&mut frame[l3..l3 + ipv6::HEADER_LEN]);
        ip.set_version(6);
        ip.set_traffic_class(0);
        ip.set_flow_label(0);
        #[allow(
            clippy::cast_possible_truncation,
            reason = "at most 1240 bytes: the quote is cut to fit 1280"
        )]
        ip.set_payload_len((icmpv6::HEADER_LEN + quote) as u16);
        ip.set_next_header(ip_proto::ICMPV6);
        ip.set_hop_limit(ERROR_HOP_LIMIT);
        ip.set_src_addr(src.0);
        ip.set_dst_addr(client.0);
        self.stats.icmp_errors_sent.inc();
        Verdict::Route { to: client, on_link: false }
    }

    /// An ICMPv6 error (`p` says so): translate or forward it if it belongs to one of our
    /// connections.
    pub(super) fn icmp6_error(&mut self, p: &Parsed, buf: &mut [u8]) -> Verdict {
        let end = p.l3_off + p.l3_len as usize;
        let Ok(msg) = Icmpv6Packet::new_checked(&buf[p.l4_off..end]) else {
            return Verdict::Drop(DropReason::Icmp);
        };
        if !msg.verify_checksum(&p.src.0, &p.dst.0) {
            return Verdict::Drop(DropReason::Icmp);
        }
        let qoff = p.l4_off + icmpv6::HEADER_LEN;
        let quote = &buf[qoff..end];
        if quote.len() < ipv6::HEADER_LEN + 4 {
            return Verdict::Drop(DropReason::Icmp);
        }
        let q = Ipv6Packet::new_unchecked(quote);
        let Some(proto) = Proto::from_u8(q.next_header()).filter(|p| matches!(p, Proto::Tcp | Proto::Udp))
        else {
            return Verdict::Drop(DropReason::Icmp);
        };
        if q.version() != 6 || q.src().is_v4() || q.dst().is_v4() {
            return Verdict::Drop(DropReason::Icmp);
        }
        let ports = &quote[ipv6::HEADER_LEN..];
        let (qsport, qdport) = (get_u16(ports, 0), get_u16(ports, 2));
        // The quote went the other way: its tuple reversed is the connection's.
        let key = FlowKey { src: q.dst(), dst: q.src(), sport: qdport, dport: qsport, proto };
        let Some((id, dir)) = self.conns.lookup(&key) else { return Verdict::Drop(DropReason::Icmp) };
        let c = self.conns.get(id);
        if !self.loads.is_available(c.dest) {
            return Verdict::Drop(DropReason::DestRemoved);
        }
        let v = match (c.fwd, dir) {
            (Fwd::Nat, Dir::Out) => {
                if !decrement_hop_limit(buf, p) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                nat_icmp6(buf, p, c.vip.0, c.vport, false);
                Verdict::Route { to: c.client, on_link: false }
            }
            (Fwd::Nat, Dir::In) => {
                if !decrement_hop_limit(buf, p) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                nat_icmp6(buf, p, c.rs.0, c.rport, true);
                Verdict::Route { to: c.rs, on_link: false }
            }
            (Fwd::Dr, Dir::In) => Verdict::Route { to: c.rs, on_link: true },
            _ => return Verdict::Drop(DropReason::Icmp),
        };
        self.stats.icmp_errors_forwarded.inc();
        v
    }
}

/// Decrement the hop limit as a router does; false if the packet must not be forwarded.
fn decrement_hop_limit(buf: &mut [u8], p: &Parsed) -> bool {
    let h = &mut buf[p.l3_off + HOP_LIMIT];
    if *h <= 1 {
        return false;
    }
    *h -= 1;
    true
}

/// Translate an ICMPv6 error of a NAT connection in place. `to_server` (from the client's side):
/// the outer destination (the VIP) and the quote's source become `addr`, the quote's source port
/// `port`. Otherwise (from the server's side): the outer source and the quote's destination become
/// `addr` (the VIP), the quote's destination port `port`. Then the ICMPv6 checksum, over the new
/// pseudo-header and message.
fn nat_icmp6(buf: &mut [u8], p: &Parsed, addr: [u8; 16], port: u16, to_server: bool) {
    let end = p.l3_off + p.l3_len as usize;
    let qoff = p.l4_off + icmpv6::HEADER_LEN;
    {
        let mut ip = Ipv6Packet::new_unchecked(&mut buf[p.l3_off..]);
        if to_server {
            ip.set_dst_addr(addr);
        } else {
            ip.set_src_addr(addr);
        }
    }
    {
        let mut q = Ipv6Packet::new_unchecked(&mut buf[qoff..end]);
        if to_server {
            q.set_src_addr(addr);
        } else {
            q.set_dst_addr(addr);
        }
    }
    set_u16(&mut buf[qoff + ipv6::HEADER_LEN..], if to_server { 0 } else { 2 }, port);
    let (src, dst) = {
        let ip = Ipv6Packet::new_unchecked(&buf[p.l3_off..]);
        (ip.src_addr(), ip.dst_addr())
    };
    Icmpv6Packet::new_unchecked(&mut buf[p.l4_off..end]).fill_checksum(&src, &dst);
}
