//! Host functions over IPv6: what vsd answers as an IPv6 host on its segments (RFC 4861, RFC 4443).
//!
//! IPv6's ARP is Neighbour Discovery: a Neighbour Solicitation for an interface address or a VIP
//! (sent to the target's solicited-node multicast group, or unicast to re-check) is answered with
//! a solicited Neighbour Advertisement, written in place over the solicitation like ARP replies;
//! solicitations and advertisements teach the sender's MAC the way ARP does (only for connected
//! neighbours, and a new entry only from what was meant for us). The next hops vsd resolves are
//! asked with a solicitation of its own ([`Worker::neighbour_solicit`]), from the interface's
//! address toward the solicited-node group. ICMPv6 echo requests to local addresses and VIPs are
//! answered in place.
//!
//! Not done, and why: duplicate address detection (addresses are static; a DAD probe from `::`
//! is not answered, it would be a conflict), Router Solicitation/Advertisement (routes are
//! static) and Redirect (ignored, as the issue says): each is dropped and counted as `icmp`.

use super::pipeline::Rx;
use super::verdict::Verdict;
use super::Worker;
use crate::addr::Addr;
use crate::buf::PacketBuf;
use crate::neigh::Request;
use crate::route::IfIndex;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::icmpv6::msg_type;
use crate::wire::ndp::{multicast_mac, solicited_node_multicast};
use crate::wire::{
    checksum, ethernet, ethertype, ip_proto, ipv6, EthernetAddress, EthernetFrame, Icmpv6Packet, Ipv6Packet,
    NdpFlags, NdpRepr, Parsed,
};

/// Hop limit of NDP messages, sent and required (RFC 4861 §7.1: proves the sender is on-link).
const NDP_HOP_LIMIT: u8 = 255;
/// Hop limit of the echo replies vsd sends (Linux's default `hop_limit`).
const DEFAULT_HOP_LIMIT: u8 = 64;

impl<B: PacketBuf> Worker<B> {
    /// A Neighbour Solicitation or Advertisement (`p` says ICMPv6 type 135 or 136).
    pub(super) fn ndp(&mut self, now: Instant, rx: Rx, p: &Parsed, buf: &mut [u8]) -> Verdict {
        let end = p.l3_off + p.l3_len as usize;
        let (src, dst) = (p.src.0, p.dst.0);
        if buf[p.l3_off + 7] != NDP_HOP_LIMIT {
            return Verdict::Drop(DropReason::Icmp);
        }
        let Ok(msg) = Icmpv6Packet::new_checked(&buf[p.l4_off..end]) else {
            return Verdict::Drop(DropReason::Icmp);
        };
        if !msg.verify_checksum(&src, &dst) {
            return Verdict::Drop(DropReason::Icmp);
        }
        let Ok(repr) = NdpRepr::parse(&msg) else { return Verdict::Drop(DropReason::Icmp) };
        let iface = rx.iface;
        let ifc = &self.snap.ifaces[iface as usize];
        let target = Addr::from_v6(repr.target_addr());
        let for_us = ifc.has_addr(target) || self.snap.answers_arp_for_vip(target, iface);
        match repr {
            NdpRepr::NeighborSolicit { source_ll_addr, .. } => {
                // From `::`: duplicate address detection, which static addressing does not answer.
                if src == [0; 16] {
                    return Verdict::Drop(DropReason::Icmp);
                }
                if let Some(mac) = source_ll_addr {
                    self.learn_neighbour(now, rx, p.src, mac.0, for_us);
                }
                if !for_us {
                    return Verdict::Drop(DropReason::Icmp);
                }
                self.advertise(iface, p, buf, target, source_ll_addr.is_some())
            }
            NdpRepr::NeighborAdvert { target_ll_addr, .. } => {
                // An answer to our solicitation comes to one of our addresses; an unsolicited one
                // (to all nodes) only refreshes what we know.
                let to_us = self.snap.local_iface(p.dst).is_some();
                if let Some(mac) = target_ll_addr {
                    self.learn_neighbour(now, rx, target, mac.0, to_us);
                }
                Verdict::Consumed
            }
        }
    }

    /// Learn that `ip` is at `mac`, as from ARP: connected neighbours only, new ones only from
    /// what was meant for us, and shared with the other workers when it came from the wire.
    fn learn_neighbour(&mut self, now: Instant, rx: Rx, ip: Addr, mac: [u8; 6], create: bool) {
        let ifc = &self.snap.ifaces[rx.iface as usize];
        if !self.snap.routes.is_connected(ip) || ifc.has_addr(ip) {
            return;
        }
        self.neigh.learn(now, rx.iface, ip, mac, create);
        if !rx.redirected && create && self.steering.workers() > 1 {
            self.share_neighbour(rx.iface, ip, mac);
        }
    }

    /// Turn the solicitation in `buf` into our solicited advertisement for `target`, in place:
    /// with the target link-layer option when the solicitation carried its own (it was multicast,
    /// and the buffer has the room), without it otherwise (RFC 4861 §7.2.4 allows that for unicast).
    fn advertise(
        &mut self,
        iface: IfIndex,
        p: &Parsed,
        buf: &mut [u8],
        target: Addr,
        with_ll: bool,
    ) -> Verdict {
        let ours = EthernetAddress(self.macs[iface as usize]);
        let repr = NdpRepr::NeighborAdvert {
            flags: NdpFlags::SOLICITED | NdpFlags::OVERRIDE,
            target_addr: target.0,
            target_ll_addr: with_ll.then_some(ours),
        };
        let len = repr.buffer_len();
        let end = p.l3_off + p.l3_len as usize;
        if p.l4_off + len > end {
            return Verdict::Drop(DropReason::Icmp);
        }
        // What the advertisement leaves of the solicitation becomes zeroed Ethernet padding.
        buf[p.l4_off..end].fill(0);
        let (asker, asker_mac) = (p.src.0, EthernetFrame::new_unchecked(&*buf).src_addr());
        {
            let mut msg = Icmpv6Packet::new_unchecked(&mut buf[p.l4_off..p.l4_off + len]);
            repr.emit(&mut msg);
            msg.fill_checksum(&target.0, &asker);
        }
        let mut ip = Ipv6Packet::new_unchecked(&mut buf[p.l3_off..]);
        #[allow(clippy::cast_possible_truncation, reason = "an NA is 24 or 32 bytes")]
        ip.set_payload_len(len as u16);
        ip.set_hop_limit(NDP_HOP_LIMIT);
        ip.set_src_addr(target.0);
        ip.set_dst_addr(asker);
        let mut eth = EthernetFrame::new_unchecked(buf);
        eth.set_dst_addr(asker_mac);
        eth.set_src_addr(ours);
        self.stats.arp_replies.inc();
        Verdict::Tx(iface)
    }

    /// Turn an ICMPv6 echo request to a local address or VIP into the reply, in place. The
    /// pseudo-header's sum does not change when source and destination swap, so the checksum is
    /// updated for the type alone.
    pub(super) fn echo6_reply(&mut self, iface: IfIndex, p: &Parsed, buf: &mut [u8]) -> Verdict {
        let end = p.l3_off + p.l3_len as usize;
        let l4 = p.l4_off;
        if buf[l4] != msg_type::ECHO_REQUEST || end - l4 < 8 {
            return Verdict::Drop(DropReason::Icmp);
        }
        if !Icmpv6Packet::new_unchecked(&buf[l4..end]).verify_checksum(&p.src.0, &p.dst.0) {
            return Verdict::Drop(DropReason::Icmp);
        }
        let old = u16::from_be_bytes([buf[l4], buf[l4 + 1]]);
        let new = u16::from_be_bytes([msg_type::ECHO_REPLY, buf[l4 + 1]]);
        buf[l4] = msg_type::ECHO_REPLY;
        let c = checksum::update16(u16::from_be_bytes([buf[l4 + 2], buf[l4 + 3]]), old, new);
        buf[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
        let mut ip = Ipv6Packet::new_unchecked(&mut buf[p.l3_off..]);
        ip.set_src_addr(p.dst.0);
        ip.set_dst_addr(p.src.0);
        ip.set_hop_limit(DEFAULT_HOP_LIMIT);
        let mut eth = EthernetFrame::new_unchecked(buf);
        let requester = eth.src_addr();
        eth.set_dst_addr(requester);
        eth.set_src_addr(EthernetAddress(self.macs[iface as usize]));
        self.stats.icmp_echo_replies.inc();
        Verdict::Tx(iface)
    }

    /// Write a Neighbour Solicitation for `req`'s IPv6 target into `buf` (fresh and empty): from
    /// the interface's address toward the target's solicited-node group, with our MAC. False if
    /// the interface has no IPv6 address or the buffer no room.
    pub(super) fn neighbour_solicit(&self, buf: &mut B, req: &Request) -> bool {
        let ifc = &self.snap.ifaces[req.iface as usize];
        let Some(src) = ifc.source_for(req.target).filter(|a| !a.is_v4()) else { return false };
        let group = solicited_node_multicast(&req.target.0);
        let repr = NdpRepr::NeighborSolicit {
            target_addr: req.target.0,
            source_ll_addr: Some(EthernetAddress(ifc.mac)),
        };
        write_ndp_frame(buf, &repr, ifc.mac, multicast_mac(&group), src.0, group)
    }

    /// Write an advertisement of `ip` at `mac` into `buf` (fresh and empty) as if the neighbour
    /// sent it to our address on interface `iface`: how a worker passes what it learned to the
    /// others ([`super::share`]).
    pub(super) fn neighbour_advert(&self, buf: &mut B, iface: IfIndex, ip: Addr, mac: [u8; 6]) -> bool {
        let ifc = &self.snap.ifaces[iface as usize];
        let Some(ours) = ifc.source_for(ip).filter(|a| !a.is_v4()) else { return false };
        let repr = NdpRepr::NeighborAdvert {
            flags: NdpFlags::SOLICITED | NdpFlags::OVERRIDE,
            target_addr: ip.0,
            target_ll_addr: Some(EthernetAddress(mac)),
        };
        write_ndp_frame(buf, &repr, mac, ifc.mac, ip.0, ours.0)
    }
}

/// Fill `buf` (fresh and empty) with an Ethernet + IPv6 + NDP frame.
fn write_ndp_frame<B: PacketBuf>(
    buf: &mut B,
    repr: &NdpRepr,
    from_mac: [u8; 6],
    to_mac: [u8; 6],
    src: [u8; 16],
    dst: [u8; 16],
) -> bool {
    let len = repr.buffer_len();
    let l3 = ethernet::HEADER_LEN;
    let total = l3 + ipv6::HEADER_LEN + len;
    let have = buf.len();
    if have < total && !buf.append(total - have) {
        return false;
    }
    let frame = buf.as_mut();
    frame.fill(0);
    {
        let mut msg = Icmpv6Packet::new_unchecked(&mut frame[l3 + ipv6::HEADER_LEN..total]);
        repr.emit(&mut msg);
        msg.fill_checksum(&src, &dst);
    }
    let mut ip = Ipv6Packet::new_unchecked(&mut frame[l3..]);
    ip.set_version(6);
    #[allow(clippy::cast_possible_truncation, reason = "an NS or NA is 24 or 32 bytes")]
    ip.set_payload_len(len as u16);
    ip.set_next_header(ip_proto::ICMPV6);
    ip.set_hop_limit(NDP_HOP_LIMIT);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    let mut eth = EthernetFrame::new_unchecked(frame);
    eth.set_dst_addr(EthernetAddress(to_mac));
    eth.set_src_addr(EthernetAddress(from_mac));
    eth.set_ethertype(ethertype::IPV6);
    true
}
