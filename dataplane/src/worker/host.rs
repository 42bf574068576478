//! Host functions: what vsd answers as a host on its segments.
//!
//! ARP for interface addresses and VIPs (a VIP is answered on the interface whose subnet holds it,
//! or on every interface when none does), learning neighbours from ARP, and ICMP echo for local
//! addresses and VIPs. Replies are written in place into the request's buffer and sent back to the
//! sender's MAC, so answering needs neither an allocation nor a neighbour lookup.

use super::pipeline::Rx;
use super::verdict::Verdict;
use super::Worker;
use crate::addr::Addr;
use crate::buf::PacketBuf;
use crate::route::IfIndex;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::{
    checksum, ethernet, ethertype, ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame,
    Ipv4Packet, Parsed,
};

/// ICMP echo request and reply types (RFC 792).
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
/// TTL of packets vsd originates (Linux's default `ip_default_ttl`).
const DEFAULT_TTL: u8 = 64;
/// Minimum Ethernet frame without FCS; short frames are padded to it (IEEE 802.3).
const MIN_FRAME: usize = 60;

impl<B: PacketBuf> Worker<B> {
    pub(super) fn arp(&mut self, now: Instant, rx: Rx, p: &Parsed, buf: &mut [u8]) -> Verdict {
        let iface = rx.iface;
        let Ok(pkt) = ArpPacket::new_checked(&buf[p.l3_off..]) else { return Verdict::Drop(DropReason::Arp) };
        let Ok(req) = ArpRepr::parse(&pkt) else { return Verdict::Drop(DropReason::Arp) };
        let sender = Addr::from_v4(req.sender_protocol_addr);
        let target = Addr::from_v4(req.target_protocol_addr);
        let ifc = &self.snap.ifaces[iface as usize];
        let for_us = ifc.has_addr(target) || self.snap.answers_arp_for_vip(target, iface);
        let ours = EthernetAddress(ifc.mac);
        if self.snap.routes.is_connected(sender) && !ifc.has_addr(sender) {
            self.neigh.learn(now, iface, sender, req.sender_hardware_addr.0, for_us);
            // Every worker resolves its own next hops: tell the others what the wire said.
            if !rx.redirected && for_us && self.steering.workers() > 1 {
                self.share_neighbour(iface, sender, req.sender_hardware_addr.0);
            }
        }
        match req.operation {
            ArpOperation::Request if for_us => {
                let reply = ArpRepr {
                    operation: ArpOperation::Reply,
                    sender_hardware_addr: ours,
                    sender_protocol_addr: req.target_protocol_addr,
                    target_hardware_addr: req.sender_hardware_addr,
                    target_protocol_addr: req.sender_protocol_addr,
                };
                reply.emit(&mut ArpPacket::new_unchecked(&mut buf[p.l3_off..]));
                let mut eth = EthernetFrame::new_unchecked(buf);
                eth.set_dst_addr(req.sender_hardware_addr);
                eth.set_src_addr(ours);
                self.stats.arp_replies.inc();
                Verdict::Tx(iface)
            }
            ArpOperation::Reply => Verdict::Consumed,
            _ => Verdict::Drop(DropReason::Arp),
        }
    }

    /// Turn an ICMP echo request to a local address or VIP into the reply, in place.
    pub(super) fn echo_reply(&mut self, iface: IfIndex, p: &Parsed, buf: &mut [u8]) -> Verdict {
        let l4 = p.l4_off;
        if buf[l4] != ICMP_ECHO_REQUEST {
            return Verdict::Drop(DropReason::Icmp);
        }
        // A damaged request is not answered (Linux `icmp_rcv` checks the checksum first); the
        // incremental update below would carry the damage into the reply.
        let end = p.l3_off + p.l3_len as usize;
        if buf.len() < end || checksum::data(&buf[l4..end]) != 0xffff {
            return Verdict::Drop(DropReason::Icmp);
        }
        // Type and code share the first 16-bit word: update the checksum for the type change only.
        let old = u16::from_be_bytes([buf[l4], buf[l4 + 1]]);
        let new = u16::from_be_bytes([ICMP_ECHO_REPLY, buf[l4 + 1]]);
        buf[l4] = ICMP_ECHO_REPLY;
        let c = checksum::update16(u16::from_be_bytes([buf[l4 + 2], buf[l4 + 3]]), old, new);
        buf[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());

        let mut ip = Ipv4Packet::new_unchecked(&mut buf[p.l3_off..]);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_ttl(DEFAULT_TTL);
        ip.fill_checksum();

        let mut eth = EthernetFrame::new_unchecked(buf);
        let requester = eth.src_addr();
        eth.set_dst_addr(requester);
        eth.set_src_addr(EthernetAddress(self.snap.ifaces[iface as usize].mac));
        self.stats.icmp_echo_replies.inc();
        Verdict::Tx(iface)
    }

    /// Write the next pending neighbour request into `buf` (a freshly allocated, empty buffer):
    /// an ARP request for an IPv4 next hop, a Neighbour Solicitation for an IPv6 one
    /// ([`super::host6`]). Returns the interface to send it on ([`Worker::poll_output`]); `None`
    /// if nothing is pending or the request cannot be built (the interface has no address of the
    /// family to ask from).
    pub(super) fn neighbour_request(&mut self, buf: &mut B) -> Option<IfIndex> {
        let req = self.neigh.take_request()?;
        if !req.target.is_v4() {
            if !self.neighbour_solicit(buf, &req) {
                return None;
            }
            self.stats.arp_requests.inc();
            return Some(req.iface);
        }
        let ifc = &self.snap.ifaces[req.iface as usize];
        let src = ifc.source_for(req.target)?.v4()?;
        let repr = ArpRepr {
            operation: ArpOperation::Request,
            sender_hardware_addr: EthernetAddress(ifc.mac),
            sender_protocol_addr: src,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: req.target.v4_octets(),
        };
        if !write_arp_frame(buf, &repr, EthernetAddress::BROADCAST) {
            return None;
        }
        self.stats.arp_requests.inc();
        Some(req.iface)
    }
}

/// Fill `buf` (fresh and empty) with an ARP frame saying `repr`, from its sender's MAC to `to`,
/// padded to the Ethernet minimum. False if the buffer has no room.
pub(super) fn write_arp_frame<B: PacketBuf>(buf: &mut B, repr: &ArpRepr, to: EthernetAddress) -> bool {
    let have = buf.len();
    if have < MIN_FRAME && !buf.append(MIN_FRAME - have) {
        return false;
    }
    let frame = buf.as_mut();
    frame.fill(0);
    repr.emit(&mut ArpPacket::new_unchecked(&mut frame[ethernet::HEADER_LEN..]));
    let mut eth = EthernetFrame::new_unchecked(frame);
    eth.set_dst_addr(to);
    eth.set_src_addr(repr.sender_hardware_addr);
    eth.set_ethertype(ethertype::ARP);
    true
}
