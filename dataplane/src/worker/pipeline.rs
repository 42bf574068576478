//! The per-packet pipeline on one page, in Katran's shape.
//!
//! [`Worker::process`] is the one entry point, for frames from the wire and frames another worker
//! redirected here alike. [`Worker::pipeline`] reads top to bottom:
//!
//! owner → classify → connection lookup → new flow → forward, then [`Worker::deliver`].
//!
//! Each step is a small function returning `ControlFlow<Verdict, _>`: `Break` ends the packet's
//! way with a verdict (a drop with its reason, a reply written in place, a redirect), `Continue`
//! hands the next step what it needs. The steps are inlined into one function, so the shape costs
//! nothing at run time. What each step does lives beside it: host functions in [`super::host`],
//! ICMP errors in [`super::icmp_error`], scheduling in [`super::schedule`], state tracking and the
//! rewrites in [`super::forward`] and [`super::rewrite`], routing and the next hop in
//! [`super::deliver`].

use super::verdict::Verdict;
use super::{Action, Prepared, Worker};
use crate::addr::{FlowKey, Proto};
use crate::buf::PacketBuf;
use crate::conn::{Conn, ConnId, ConnState, Dir, KeyProbe};
use crate::route::IfIndex;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::icmpv6::msg_type;
use crate::wire::{ethertype, ip_proto, EthernetAddress, EthernetFrame, ParseError, Parsed, TcpFlags, L4};
use core::ops::ControlFlow::{self, Break, Continue};

/// Where a frame came from: the interface it arrived on, and whether from the wire or from
/// another worker that does not own it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rx {
    pub iface: IfIndex,
    pub redirected: bool,
}

impl Rx {
    /// Received from the wire on `iface`.
    pub const fn wire(iface: IfIndex) -> Rx {
        Rx { iface, redirected: false }
    }

    /// Handed over by another worker; it arrived on `iface`. This worker owns it.
    pub const fn redirected(iface: IfIndex) -> Rx {
        Rx { iface, redirected: true }
    }
}

/// A TCP or UDP packet that is not for the director itself: its flow key, as the connection
/// table knows it, and its TCP flags.
pub(super) struct Flow {
    pub key: FlowKey,
    pub flags: TcpFlags,
}

impl Flow {
    /// A bare SYN: the only TCP packet that may start a connection (LVS schedules on it alone).
    #[inline(always)]
    pub fn syn_only(&self) -> bool {
        self.key.proto == Proto::Tcp
            && self.flags.contains(TcpFlags::SYN)
            && !self.flags.intersects(TcpFlags::ACK | TcpFlags::RST)
    }
}

/// The connection a packet belongs to, and which way it goes. Its entry, as read once, stays in
/// the pipeline's frame (`conn` there): a copy of it into a struct like this one would load what
/// the read had just stored in narrower pieces, a failed store forward on every packet.
#[derive(Clone, Copy)]
pub(super) struct Hit {
    pub id: ConnId,
    pub dir: Dir,
    /// One-packet scheduling (LVS `--ops`): the entry lives for this datagram only.
    pub once: bool,
}

impl<B: PacketBuf> Worker<B> {
    /// Run one frame through the pipeline (or hand it to its owner) and say what to do with its
    /// buffer. `pre` is what [`Worker::prefetch`] computed for it (parse and flow probe); the
    /// driver calls [`Worker::end_burst`] after the burst, before its packets leave.
    #[inline]
    pub fn process(&mut self, now: Instant, rx: Rx, mut pkt: B, pre: &Prepared) -> Action<B> {
        let (Break(verdict) | Continue(verdict)) = self.pipeline(now, rx, pkt.as_mut(), pre);
        // The verdict goes to `deliver` where it lies: a copy of it right after it was written
        // would wait on the stores (~5 % of the packet path).
        if self.ftp.has_pending() {
            let verdict = self.ftp_after_rewrite(verdict, &mut pkt);
            return self.deliver(now, verdict, pkt);
        }
        self.deliver(now, verdict, pkt)
    }

    /// The steps, top to bottom.
    #[inline(always)]
    fn pipeline(
        &mut self,
        now: Instant,
        rx: Rx,
        buf: &mut [u8],
        pre: &Prepared,
    ) -> ControlFlow<Verdict, Verdict> {
        let p = self.accept(rx, buf.len(), &pre.parsed)?;
        self.owner(rx, p, buf)?;
        let flow = self.classify(now, rx, p, buf)?;
        let mut conn = Conn::EMPTY;
        let hit = match self.lookup(&flow, pre.probe.as_ref(), &mut conn)? {
            Some(hit) => hit,
            None => self.new_flow(now, &flow, p, &mut conn)?,
        };
        let verdict = self.forward(now, hit, &conn, p, buf, flow.flags);
        if hit.once {
            // A persistence template the datagram created stays.
            self.drop_conn(hit.id);
        }
        Continue(verdict)
    }

    /// Count the frame in; a frame that failed to parse is dropped by its reason.
    #[inline(always)]
    fn accept<'p>(
        &self,
        rx: Rx,
        len: usize,
        parsed: &'p Result<Parsed, ParseError>,
    ) -> ControlFlow<Verdict, &'p Parsed> {
        if rx.redirected {
            self.stats.redirected_in.inc();
        } else {
            self.stats.rx_packets.inc();
            self.stats.rx_bytes.add(len as u64);
        }
        match parsed {
            Ok(p) => Continue(p),
            Err(e) => {
                self.stats.parse_errors[*e as usize].inc();
                Break(Verdict::Consumed)
            }
        }
    }

    /// With several workers, a frame from the wire that another worker owns goes to it
    /// ([`crate::steer`]).
    #[inline(always)]
    fn owner(&self, rx: Rx, p: &Parsed, buf: &[u8]) -> ControlFlow<Verdict> {
        if rx.redirected || self.steering.workers() <= 1 {
            return Continue(());
        }
        let snap = &self.snap;
        let owner = self.steering.owner_of(p, buf, |a| snap.is_vip(*a) || snap.local_iface(*a).is_some());
        match owner {
            Some(o) if o != self.id => {
                self.stats.redirected_out.inc();
                Break(Verdict::Redirect(o))
            }
            _ => Continue(()),
        }
    }

    /// What kind of packet this is. ARP, ICMP echo and ICMP errors are answered or relayed here
    /// (host functions); a TCP or UDP packet goes on as a [`Flow`]; the rest is dropped by reason.
    #[inline(always)]
    fn classify(&mut self, now: Instant, rx: Rx, p: &Parsed, buf: &mut [u8]) -> ControlFlow<Verdict, Flow> {
        let dst = EthernetFrame::new_unchecked(&*buf).dst_addr();
        let ours = EthernetAddress(self.macs[rx.iface as usize]);
        if dst != ours {
            return Break(self.not_unicast_to_us(now, rx, p, buf, dst));
        }
        if p.vlan.is_some() {
            return Break(Verdict::Drop(DropReason::Vlan));
        }
        match p.ethertype {
            ethertype::IPV4 | ethertype::IPV6 => {}
            ethertype::ARP => return Break(self.arp(now, rx, p, buf)),
            _ => return Break(Verdict::Drop(DropReason::Ethertype)),
        }
        if p.is_fragment {
            return Break(Verdict::Drop(DropReason::Fragment));
        }
        let (proto, sport, dport, flags) = match p.l4 {
            L4::Tcp { sport, dport, flags } => (Proto::Tcp, sport, dport, flags),
            L4::Udp { sport, dport } => (Proto::Udp, sport, dport, TcpFlags::NONE),
            _ if p.is_ipv6() => return Break(self.other_ipv6(now, rx, p, buf)),
            _ => return Break(self.other_ipv4(now, rx.iface, p, buf)),
        };
        Continue(Flow { key: FlowKey { src: p.src, dst: p.dst, sport, dport, proto }, flags })
    }

    /// A frame to another MAC: broadcast ARP, and IPv6 multicast that is Neighbour Discovery
    /// (solicitations go to the target's solicited-node group), are ours to look at; anything
    /// else is not for us.
    #[inline(never)]
    fn not_unicast_to_us(
        &mut self,
        now: Instant,
        rx: Rx,
        p: &Parsed,
        buf: &mut [u8],
        dst: EthernetAddress,
    ) -> Verdict {
        if p.vlan.is_some() {
            return Verdict::Drop(DropReason::Vlan);
        }
        match p.ethertype {
            ethertype::ARP if dst.is_broadcast() => self.arp(now, rx, p, buf),
            ethertype::IPV6 if dst.0[..2] == [0x33, 0x33] && is_ndp(p) => self.ndp(now, rx, p, buf),
            _ => Verdict::Drop(DropReason::NotForUs),
        }
    }

    /// An IPv6 packet to our MAC that is neither TCP nor UDP: Neighbour Discovery, echo, ICMPv6
    /// errors about our connections ([`super::icmp6_error`]), or a drop.
    #[inline(never)]
    fn other_ipv6(&mut self, now: Instant, rx: Rx, p: &Parsed, buf: &mut [u8]) -> Verdict {
        let local = || self.snap.local_iface(p.dst).is_some();
        match p.l4 {
            _ if is_ndp(p) => self.ndp(now, rx, p, buf),
            L4::Icmp { ty, .. } if super::icmp6_error::is_error6(ty) => self.icmp6_error(p, buf),
            L4::Icmp { ty: msg_type::ECHO_REQUEST, .. } if local() || self.snap.is_vip(p.dst) => {
                self.echo6_reply(rx.iface, p, buf)
            }
            L4::Unparsed if is_extension_header(p.ip_proto) => Verdict::Drop(DropReason::Ipv6),
            _ if local() => Verdict::Drop(DropReason::Local),
            L4::Icmp { .. } => Verdict::Drop(DropReason::Icmp),
            _ => Verdict::Drop(DropReason::NoMatch),
        }
    }

    /// An IPv4 packet that is neither TCP nor UDP: ICMP errors and echo, or a drop. Whether the
    /// packet is for one of our own addresses is a scan of the interfaces' addresses, needed only
    /// here, off the connection path.
    #[inline(never)]
    fn other_ipv4(&mut self, now: Instant, iface: IfIndex, p: &Parsed, buf: &mut [u8]) -> Verdict {
        let local = || self.snap.local_iface(p.dst).is_some();
        match p.l4 {
            L4::Icmp { ty, .. } if super::icmp_error::is_error(ty) => self.icmp_error(now, p, buf),
            L4::Icmp { .. } if local() || self.snap.is_vip(p.dst) => self.echo_reply(iface, p, buf),
            _ if local() => Verdict::Drop(DropReason::Local),
            _ if p.ip_proto == ip_proto::ICMP => Verdict::Drop(DropReason::Icmp),
            _ => Verdict::Drop(DropReason::NoMatch),
        }
    }

    /// The flow's connection, if it has one that takes the packet. An entry of a removed server
    /// drops the packet, or with `expire_nodest_conn` goes, as does a closing connection whose
    /// client port is reused by a fresh SYN (LVS `conn_reuse_mode`); the packet may then start
    /// anew (`None`). The entry is read into `conn`.
    #[inline(always)]
    fn lookup(
        &mut self,
        flow: &Flow,
        probe: Option<&KeyProbe>,
        conn: &mut Conn,
    ) -> ControlFlow<Verdict, Option<Hit>> {
        let found = match probe {
            Some(probe) => self.conns.lookup_probed(&flow.key, probe),
            None => self.conns.lookup(&flow.key),
        };
        let Some((id, dir)) = found else { return Continue(None) };
        *conn = self.conns.get(id);
        let c = &*conn;
        let removed = !self.loads.is_available(c.dest);
        if removed && !self.snap.sysctls.expire_nodest_conn {
            return Break(Verdict::Drop(DropReason::DestRemoved));
        }
        let closing = matches!(
            c.state,
            ConnState::TimeWait
                | ConnState::Close
                | ConnState::FinWait
                | ConnState::LastAck
                | ConnState::CloseWait
        );
        let reused = dir == Dir::In && closing && flow.syn_only();
        // An entry that controls others (an FTP control connection with live data connections)
        // is neither replaced nor dropped before them; LVS does not reschedule it either
        // (`ip_vs_in`, `n_control`).
        let controls = c.controlled > 0;
        if !removed && (!reused || controls) {
            return Continue(Some(Hit { id, dir, once: false }));
        }
        if controls {
            return Break(Verdict::Drop(DropReason::DestRemoved));
        }
        self.drop_conn(id);
        if dir == Dir::Out {
            return Break(Verdict::Drop(DropReason::DestRemoved));
        }
        Continue(None)
    }
}

/// A Neighbour Solicitation or Advertisement (ICMPv6 135, 136).
#[inline]
fn is_ndp(p: &Parsed) -> bool {
    p.ip_proto == ip_proto::ICMPV6
        && matches!(p.l4, L4::Icmp { ty: msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT, .. })
}

/// IPv6 extension headers that may stand before the transport header (RFC 8200 §4: hop-by-hop,
/// routing, destination options, mobility, HIP, shim6; the fragment header is counted apart).
#[inline]
fn is_extension_header(next: u8) -> bool {
    matches!(next, 0 | 43 | 60 | 135 | 139 | 140)
}
