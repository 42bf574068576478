//! The load-balancing path: connection lookup, scheduling, state tracking and the NAT/DR rewrites.
//!
//! NAT follows LVS's masquerading: the client's packets have their destination rewritten to the
//! real server, the server's replies have their source rewritten back to the VIP, and both are
//! routed like a router would (TTL decremented). DR rewrites nothing above Ethernet: the frame is
//! re-addressed to the real server's MAC, which must be on a connected segment, and the server,
//! holding the VIP on a loopback, answers the client directly. Checksums are updated incrementally
//! (RFC 1624), never recomputed over the payload.

use super::{Verdict, Worker};
use crate::addr::{Addr, FlowKey, Proto};
use crate::buf::PacketBuf;
use crate::conn::{tcp_state, Conn, ConnId, ConnState, Dir, Fwd, InsertError, StateDir, TcpFlagsLite};
use crate::route::IfIndex;
use crate::sched::DestLoad;
use crate::service::ServiceId;
use crate::stats::{DestStats, DropReason};
use crate::time::Instant;
use crate::wire::{ip_proto, Ipv4Packet, Parsed, TcpFlags, TcpPacket, UdpPacket, L4};

impl<B: PacketBuf> Worker<B> {
    pub(super) fn ipv4(&mut self, now: Instant, iface: IfIndex, p: &Parsed, buf: &mut [u8]) -> Verdict {
        if p.is_fragment {
            return Verdict::Drop(DropReason::Fragment);
        }
        let local = self.snap.local_iface(p.dst).is_some();
        match p.l4 {
            L4::Tcp { sport, dport, flags } => self.l4(now, p, buf, Proto::Tcp, sport, dport, flags, local),
            L4::Udp { sport, dport } => self.l4(now, p, buf, Proto::Udp, sport, dport, TcpFlags::NONE, local),
            L4::Icmp { .. } if local || self.snap.is_vip(p.dst) => self.echo_reply(iface, p, buf),
            _ if local => Verdict::Drop(DropReason::Local),
            _ if p.ip_proto == ip_proto::ICMP => Verdict::Drop(DropReason::Icmp),
            _ => Verdict::Drop(DropReason::NoMatch),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn l4(
        &mut self,
        now: Instant,
        p: &Parsed,
        buf: &mut [u8],
        proto: Proto,
        sport: u16,
        dport: u16,
        flags: TcpFlags,
        local: bool,
    ) -> Verdict {
        let key = FlowKey { src: p.src, dst: p.dst, sport, dport, proto };
        let syn_only = proto == Proto::Tcp
            && flags.contains(TcpFlags::SYN)
            && !flags.intersects(TcpFlags::ACK | TcpFlags::RST);
        if let Some((id, dir)) = self.conns.lookup(&key) {
            // LVS `conn_reuse_mode`: a fresh SYN on a connection that is closing starts a new
            // connection (the client reused its port) instead of reviving the old one.
            let closing = matches!(
                self.conns.get(id).state,
                ConnState::TimeWait
                    | ConnState::Close
                    | ConnState::FinWait
                    | ConnState::LastAck
                    | ConnState::CloseWait
            );
            if !(dir == Dir::In && syn_only && closing) {
                return self.forward(now, id, dir, p, buf, flags);
            }
            let old = self.conns.remove(id);
            unaccount(&mut self.loads, &self.dest_stats, &old);
        }
        let Some(svc) = self.snap.service_for(proto, p.dst, dport) else {
            return if local || self.snap.is_vip(p.dst) {
                Verdict::Drop(if local { DropReason::Local } else { DropReason::NoService })
            } else {
                Verdict::Drop(DropReason::NoMatch)
            };
        };
        // LVS schedules TCP only on a SYN; anything else without a connection is dropped.
        if proto == Proto::Tcp && !syn_only {
            return Verdict::Drop(DropReason::NoConn);
        }
        match self.schedule(now, svc, &key) {
            Ok(id) => self.forward(now, id, Dir::In, p, buf, flags),
            Err(r) => Verdict::Drop(r),
        }
    }

    /// Pick a real server for a new connection and create its entry.
    fn schedule(&mut self, now: Instant, svc: ServiceId, key: &FlowKey) -> Result<ConnId, DropReason> {
        let s = &self.snap.services[svc as usize];
        let range = s.dests.start as usize..s.dests.end as usize;
        let pick =
            self.scheds[svc as usize].pick(&self.loads[range.clone()], key).ok_or(DropReason::NoDest)?;
        let dest = range.start + pick;
        let d = &self.snap.dests[dest];
        let state = if key.proto == Proto::Tcp { ConnState::None } else { ConnState::Udp };
        let conn = Conn {
            proto: key.proto,
            fwd: s.fwd,
            state,
            client: key.src,
            cport: key.sport,
            vip: key.dst,
            vport: key.dport,
            rs: d.addr,
            rport: if d.port == 0 { key.dport } else { d.port },
            service: svc,
            dest: dest as u32,
            expires: now + self.snap.timeouts.for_state(state),
            ..Conn::EMPTY
        };
        let id = self.conns.insert(conn).map_err(|e| match e {
            InsertError::Full => DropReason::TableFull,
            InsertError::Exists => DropReason::NoMatch,
        })?;
        self.loads[dest].inactive += 1;
        let ds = &self.dest_stats[dest];
        ds.conns.inc();
        ds.inactive.inc();
        self.stats.conns_created.inc();
        Ok(id)
    }

    /// Track state, count, rewrite and hand the packet to routing.
    fn forward(
        &mut self,
        now: Instant,
        id: ConnId,
        dir: Dir,
        p: &Parsed,
        buf: &mut [u8],
        flags: TcpFlags,
    ) -> Verdict {
        let c = *self.conns.get(id);
        let mut state = c.state;
        if c.proto == Proto::Tcp {
            let lite = TcpFlagsLite(flags.0);
            state = tcp_state::next(c.state, StateDir::of(c.fwd, dir), lite);
            if state != c.state {
                let d = c.dest as usize;
                if state.is_active() != c.state.is_active() {
                    let (load, ds) = (&mut self.loads[d], &self.dest_stats[d]);
                    if state.is_active() {
                        load.active += 1;
                        load.inactive = load.inactive.saturating_sub(1);
                        ds.active.inc();
                        ds.inactive.sub(1);
                    } else {
                        load.inactive += 1;
                        load.active = load.active.saturating_sub(1);
                        ds.inactive.inc();
                        ds.active.sub(1);
                    }
                }
                self.conns.get_mut(id).state = state;
            }
        }
        self.conns.set_expires(id, now + self.snap.timeouts.for_state(state));

        let ds = &self.dest_stats[c.dest as usize];
        let bytes = u64::from(p.l3_len);
        match dir {
            Dir::In => {
                ds.in_packets.inc();
                ds.in_bytes.add(bytes);
            }
            Dir::Out => {
                ds.out_packets.inc();
                ds.out_bytes.add(bytes);
            }
        }

        match (c.fwd, dir) {
            (Fwd::Dr, Dir::In) => Verdict::Route { to: c.rs, on_link: true },
            (Fwd::Nat, Dir::In) => {
                if !decrement_ttl(buf, p) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                rewrite_dst(buf, p, c.vip, c.rs, c.rport);
                Verdict::Route { to: c.rs, on_link: false }
            }
            (Fwd::Nat, Dir::Out) => {
                if !decrement_ttl(buf, p) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                rewrite_src(buf, p, c.rs, c.vip, c.vport);
                Verdict::Route { to: c.client, on_link: false }
            }
            // Tunnel and full NAT are refused when the snapshot is built; an entry of theirs
            // cannot exist yet.
            _ => Verdict::Drop(DropReason::NoMatch),
        }
    }
}

/// Forget a connection's share of its server's load (on expiry or removal).
pub(super) fn unaccount(loads: &mut [DestLoad], dest_stats: &[DestStats], c: &Conn) {
    let d = c.dest as usize;
    let (Some(load), Some(ds)) = (loads.get_mut(d), dest_stats.get(d)) else { return };
    if c.state.is_active() {
        load.active = load.active.saturating_sub(1);
        ds.active.sub(1);
    } else {
        load.inactive = load.inactive.saturating_sub(1);
        ds.inactive.sub(1);
    }
}

/// Decrement the IPv4 TTL as a router does; false if the packet must not be forwarded.
#[inline]
fn decrement_ttl(buf: &mut [u8], p: &Parsed) -> bool {
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[p.l3_off..]);
    let ttl = ip.ttl();
    if ttl <= 1 {
        return false;
    }
    ip.rewrite_ttl(ttl - 1);
    true
}

/// DNAT: destination address `old` → `new`, destination port → `port`.
#[inline]
fn rewrite_dst(buf: &mut [u8], p: &Parsed, old: Addr, new: Addr, port: u16) {
    Ipv4Packet::new_unchecked(&mut buf[p.l3_off..]).rewrite_dst_addr(new.v4_octets());
    match p.l4 {
        L4::Tcp { .. } => {
            let mut t = TcpPacket::new_unchecked(&mut buf[p.l4_off..]);
            t.adjust_checksum_addr(&old, &new);
            t.rewrite_dst_port(port);
        }
        L4::Udp { .. } => {
            let mut u = UdpPacket::new_unchecked(&mut buf[p.l4_off..]);
            u.adjust_checksum_addr(&old, &new);
            u.rewrite_dst_port(port);
        }
        _ => {}
    }
}

/// SNAT of a reply: source address `old` → `new`, source port → `port`.
#[inline]
fn rewrite_src(buf: &mut [u8], p: &Parsed, old: Addr, new: Addr, port: u16) {
    Ipv4Packet::new_unchecked(&mut buf[p.l3_off..]).rewrite_src_addr(new.v4_octets());
    match p.l4 {
        L4::Tcp { .. } => {
            let mut t = TcpPacket::new_unchecked(&mut buf[p.l4_off..]);
            t.adjust_checksum_addr(&old, &new);
            t.rewrite_src_port(port);
        }
        L4::Udp { .. } => {
            let mut u = UdpPacket::new_unchecked(&mut buf[p.l4_off..]);
            u.adjust_checksum_addr(&old, &new);
            u.rewrite_src_port(port);
        }
        _ => {}
    }
}
