//! The last step of the pipeline: carry a verdict out on the buffer and tell the driver what to
//! do with it.
//!
//! [`Worker::deliver`] is inlined into the packet path and handles the common case there: a
//! packet to a real server (NAT or DR toward the server) whose next hop this worker cached
//! ([`super::hops`]), so the action is built where the driver reads it. Everything else leaves the
//! inlined path: [`Worker::resolve_and_deliver`] routes (longest prefix), resolves the next hop
//! (ARP, with a bounded hold queue) and fragments what does not fit, which every NAT reply toward
//! a client and every server packet without a cached hop take; [`Worker::deliver_other`] carries
//! out the rarer verdicts (drops, replies written in place, encapsulation, ICMP errors, redirects).

use super::hops::Hop;
use super::verdict::Verdict;
use super::{Action, Worker};
use crate::addr::Addr;
use crate::buf::PacketBuf;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::ethernet;

impl<B: PacketBuf> Worker<B> {
    /// Carry out a verdict.
    #[inline(always)]
    pub(super) fn deliver(&mut self, now: Instant, verdict: Verdict, mut pkt: B) -> Action<B> {
        if let Verdict::Server { dest, on_link, .. } = verdict {
            // A packet that fits any MTU, to a server whose hop is still valid.
            if pkt.len() <= ethernet::HEADER_LEN + usize::from(self.snap.min_mtu) {
                if let Some(&h) =
                    self.hops.get(dest, self.neigh.epoch(), now).filter(|h| h.direct || !on_link)
                {
                    self.write_ethernet(pkt.as_mut(), h.iface, h.mac);
                    return Action::Tx(h.iface, pkt);
                }
            }
        }
        self.deliver_other(now, verdict, pkt)
    }

    /// Every verdict but a server's packet with a cached hop. Out of line: it is large.
    #[inline(never)]
    fn deliver_other(&mut self, now: Instant, verdict: Verdict, mut pkt: B) -> Action<B> {
        match verdict {
            Verdict::Route { to, on_link } => self.resolve_and_deliver(now, to, on_link, None, pkt),
            Verdict::Server { dest, to, on_link } => {
                self.resolve_and_deliver(now, to, on_link, Some(dest), pkt)
            }
            Verdict::Tx(out) => Action::Tx(out, pkt),
            Verdict::Consumed => Action::Free(pkt),
            Verdict::Redirect(owner) => Action::Redirect(owner, pkt),
            Verdict::Drop(r) => {
                self.stats.count_drop(r);
                Action::Free(pkt)
            }
            Verdict::Encap { svc, rs } => {
                let v = self.tunnel_xmit(now, svc, rs, &mut pkt);
                self.deliver_other(now, v, pkt)
            }
            Verdict::Cut { to, len } => {
                pkt.trim(pkt.len().saturating_sub(len as usize));
                self.resolve_and_deliver(now, to, false, None, pkt)
            }
            Verdict::TooBig { to, mtu } => {
                let v = if self.tunnel.icmp_allowed(now) {
                    self.stats.count_drop(DropReason::TooBig);
                    if to.is_v4() {
                        self.frag_needed(&mut pkt, to, mtu)
                    } else {
                        self.packet_too_big(&mut pkt, to, mtu)
                    }
                } else {
                    Verdict::Drop(DropReason::IcmpRateLimit)
                };
                self.deliver_other(now, v, pkt)
            }
        }
    }

    /// Route a packet toward `to`, fragment it if it does not fit the way out, resolve its next
    /// hop and write its Ethernet header, or hold it while ARP asks. Remembers the hop of real
    /// server `dest`.
    pub(super) fn resolve_and_deliver(
        &mut self,
        now: Instant,
        to: Addr,
        on_link: bool,
        dest: Option<u32>,
        mut pkt: B,
    ) -> Action<B> {
        let Some(nh) = self.snap.routes.lookup(to).filter(|nh| !on_link || nh.neighbour == to) else {
            self.stats.count_drop(DropReason::NoRoute);
            return Action::Free(pkt);
        };
        // Larger than the smallest MTU: it may not fit this way out. DF packets were answered
        // before their rewrite (forward::too_big); the others are fragmented, as the kernel
        // fragments LVS's NAT and DR packets.
        if pkt.len() > ethernet::HEADER_LEN + usize::from(self.snap.min_mtu) {
            let mtu = usize::from(self.snap.ifaces[nh.iface as usize].mtu);
            // IPv6 is never fragmented on the way (RFC 8200 §5).
            let v6 = !to.is_v4();
            if pkt.len() > ethernet::HEADER_LEN + mtu && (v6 || !self.fragment(&mut pkt, to, mtu)) {
                self.stats.count_drop(DropReason::TooBig);
                return Action::Free(pkt);
            }
        }
        match self.neigh.lookup_until(now, nh.neighbour) {
            Some((mac, fresh_until)) => {
                if let Some(dest) = dest {
                    let epoch = self.neigh.epoch();
                    self.hops.set(dest, Hop::new(nh.iface, mac, nh.neighbour == to, epoch, fresh_until));
                }
                self.write_ethernet(pkt.as_mut(), nh.iface, mac);
                Action::Tx(nh.iface, pkt)
            }
            None => match self.neigh.hold(now, nh.iface, nh.neighbour, pkt) {
                Ok(()) => Action::Held,
                Err(pkt) => {
                    self.stats.count_drop(DropReason::NeighQueueFull);
                    Action::Free(pkt)
                }
            },
        }
    }
}
