//! The load-balancing path: connection lookup, scheduling, state tracking and the NAT/DR rewrites.
//!
//! NAT follows LVS's masquerading: the client's packets have their destination rewritten to the
//! real server, the server's replies have their source rewritten back to the VIP, and both are
//! routed like a router would (TTL decremented). DR rewrites nothing above Ethernet: the frame is
//! re-addressed to the real server's MAC, which must be on a connected segment, and the server,
//! holding the VIP on a loopback, answers the client directly. Checksums are updated incrementally
//! (RFC 1624), never recomputed over the payload.
//!
//! FTP control connections of NAT services (vport 21) additionally pass through the FTP helper
//! ([`crate::ftp`]) before their rewrite; the only packets whose payload changes are the server's
//! 227 replies, which [`Worker::ftp_splice`] finishes once the buffer can be resized.

use super::loads::Loads;
use super::{icmp_error, Verdict, Worker};
use crate::addr::{Addr, FlowKey, Proto};
use crate::buf::PacketBuf;
use crate::conn::{
    tcp_state, Conn, ConnId, ConnState, Dir, Fwd, InsertError, StateDir, TcpFlagsLite, F_TEMPLATE,
};
use crate::ftp::Control;
use crate::route::IfIndex;
use crate::service::{Persistence, ServiceId, FTP_PORT};
use crate::stats::{DestStats, DropReason};
use crate::time::Instant;
use crate::wire::{
    checksum, get_u16, get_u32, ip_proto, ipv4, set_u16, set_u32, Ipv4Packet, Parsed, TcpFlags, L4,
};

impl<B: PacketBuf> Worker<B> {
    pub(super) fn ipv4(&mut self, now: Instant, iface: IfIndex, p: &Parsed, buf: &mut [u8]) -> Verdict {
        if p.is_fragment {
            return Verdict::Drop(DropReason::Fragment);
        }
        // Whether the packet is for one of our own addresses: a scan of the interfaces' addresses,
        // needed only off the connection path.
        let local = || self.snap.local_iface(p.dst).is_some();
        match p.l4 {
            L4::Tcp { sport, dport, flags } => self.l4(now, p, buf, Proto::Tcp, sport, dport, flags),
            L4::Udp { sport, dport } => self.l4(now, p, buf, Proto::Udp, sport, dport, TcpFlags::NONE),
            L4::Icmp { ty, .. } if icmp_error::is_error(ty) => self.icmp_error(now, p, buf),
            L4::Icmp { .. } if local() || self.snap.is_vip(p.dst) => self.echo_reply(iface, p, buf),
            _ if local() => Verdict::Drop(DropReason::Local),
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
    ) -> Verdict {
        let key = FlowKey { src: p.src, dst: p.dst, sport, dport, proto };
        let syn_only = proto == Proto::Tcp
            && flags.contains(TcpFlags::SYN)
            && !flags.intersects(TcpFlags::ACK | TcpFlags::RST);
        let probe = self.flow_probe.take().unwrap_or_else(|| self.conns.probe_key(&key));
        if let Some((id, dir)) = self.conns.lookup_probed(&key, &probe) {
            let c = self.conns.get(id);
            let removed = !self.loads.is_available(c.dest);
            if removed && !self.snap.sysctls.expire_nodest_conn {
                return Verdict::Drop(DropReason::DestRemoved);
            }
            // LVS `conn_reuse_mode`: a fresh SYN on a connection that is closing starts a new
            // connection (the client reused its port) instead of reviving the old one.
            let closing = matches!(
                c.state,
                ConnState::TimeWait
                    | ConnState::Close
                    | ConnState::FinWait
                    | ConnState::LastAck
                    | ConnState::CloseWait
            );
            let reused = dir == Dir::In && syn_only && closing;
            // An entry that controls others (an FTP control connection with live data
            // connections) is neither replaced nor dropped before them; LVS does not reschedule
            // it either (`ip_vs_in`, `n_control`).
            let controls = c.controlled > 0;
            if !removed && (!reused || controls) {
                return self.forward(now, id, &c, dir, p, buf, flags);
            }
            if controls {
                return Verdict::Drop(DropReason::DestRemoved);
            }
            // The old entry goes (reused port, or `expire_nodest_conn`); the packet may start anew.
            self.drop_conn(id);
            if dir == Dir::Out {
                return Verdict::Drop(DropReason::DestRemoved);
            }
        }
        // A passive FTP data connection announced on a control connection goes where it was
        // announced, whatever the service lookup would say.
        if syn_only {
            if let Some(conn) = self.ftp.expected(now, &key, &self.conns, &self.snap.timeouts) {
                if self.loads.is_available(conn.dest) {
                    return match self.insert_conn(conn) {
                        Ok(id) => self.forward(now, id, &self.conns.get(id), Dir::In, p, buf, flags),
                        Err(r) => Verdict::Drop(r),
                    };
                }
            }
        }
        let Some(svc) = self.snap.service_for(proto, p.dst, dport) else {
            let local = self.snap.local_iface(p.dst).is_some();
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
        let s = &self.snap.services[svc as usize];
        let one_packet = s.one_packet;
        let scheduled = match s.persistence {
            Some(persist) => self.schedule_persistent(now, svc, &key, persist),
            None => self.pick_dest(svc, &key).and_then(|dest| self.new_conn(now, svc, &key, dest, None)),
        };
        match scheduled {
            Ok(id) => {
                let verdict = self.forward(now, id, &self.conns.get(id), Dir::In, p, buf, flags);
                // One-packet scheduling (LVS `--ops`): the entry lives for this datagram only; a
                // persistence template it created stays.
                if one_packet {
                    self.drop_conn(id);
                }
                verdict
            }
            Err(r) => Verdict::Drop(r),
        }
    }

    /// Let the service's scheduler pick a real server for a new connection.
    fn pick_dest(&mut self, svc: ServiceId, key: &FlowKey) -> Result<usize, DropReason> {
        let pick =
            self.scheds[svc as usize].pick(self.loads.of_service(svc), key).ok_or(DropReason::NoDest)?;
        Ok(self.snap.services[svc as usize].dests[pick] as usize)
    }

    /// A persistent service's new connection follows its client's template, or creates one (LVS
    /// `ip_vs_sched_persist`). Each new connection re-arms the template to its full timeout.
    fn schedule_persistent(
        &mut self,
        now: Instant,
        svc: ServiceId,
        key: &FlowKey,
        persist: Persistence,
    ) -> Result<ConnId, DropReason> {
        let s = &self.snap.services[svc as usize];
        let fwd = s.fwd;
        let mask = if key.src.is_v4() { persist.netmask } else { persist.netmask6 };
        let tkey = FlowKey {
            src: key.src.masked(mask),
            dst: key.dst,
            sport: 0,
            dport: s.template_vport(key.dport),
            proto: key.proto,
        };
        let tmpl = match self.conns.lookup_template(&tkey) {
            Some(t) if self.template_valid(t, svc) => {
                self.conns.set_expires(t, now + persist.timeout);
                t
            }
            stale => {
                // An invalid template gives its key up and lives only while its connections do.
                if let Some(t) = stale {
                    self.conns.unhash(t);
                }
                let dest = self.pick_dest(svc, key)?;
                let d = &self.snap.dests[dest];
                let template = Conn {
                    flags: F_TEMPLATE,
                    proto: key.proto,
                    fwd,
                    client: tkey.src,
                    vip: tkey.dst,
                    vport: tkey.dport,
                    rs: d.addr,
                    rport: d.port,
                    service: svc,
                    dest: dest as u32,
                    expires: now + persist.timeout,
                    ..Conn::EMPTY
                };
                let id = self.conns.insert(template).map_err(table_error)?;
                self.dest_stats[dest].persistent.inc();
                self.stats.templates_created.inc();
                id
            }
        };
        let dest = self.conns.get(tmpl).dest as usize;
        self.new_conn(now, svc, key, dest, Some(tmpl))
    }

    /// A template is valid while its server is in the service, and, with
    /// `expire_quiescent_template`, while the server's weight is not 0 (LVS `ip_vs_check_template`).
    fn template_valid(&self, t: ConnId, svc: ServiceId) -> bool {
        let c = self.conns.get(t);
        let load = self.loads.get(c.dest);
        c.service == svc
            && load.available
            && (load.weight > 0 || !self.snap.sysctls.expire_quiescent_template)
    }

    /// Create the entry of a new connection to `dest`, controlled by `controller` if persistent.
    fn new_conn(
        &mut self,
        now: Instant,
        svc: ServiceId,
        key: &FlowKey,
        dest: usize,
        controller: Option<ConnId>,
    ) -> Result<ConnId, DropReason> {
        let s = &self.snap.services[svc as usize];
        let d = &self.snap.dests[dest];
        let state = if key.proto == Proto::Tcp { ConnState::None } else { ConnState::Udp };
        self.insert_conn(Conn {
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
            controller,
            ..Conn::EMPTY
        })
    }

    /// Insert a new (not yet active) connection entry and count it on its server.
    fn insert_conn(&mut self, conn: Conn) -> Result<ConnId, DropReason> {
        let id = self.conns.insert_deferred(conn).map_err(table_error)?;
        if conn.vport == FTP_PORT {
            // The id may have served an earlier control connection: its FTP state is not ours.
            self.ftp.forget(id);
        }
        self.loads.get_mut(conn.dest).inactive += 1;
        let ds = &self.dest_stats[conn.dest as usize];
        ds.conns.inc();
        ds.inactive.inc();
        self.stats.conns_created.inc();
        Ok(id)
    }

    /// Remove a connection now and release its share of its server's load.
    fn drop_conn(&mut self, id: ConnId) {
        let old = self.conns.remove(id);
        self.ftp.forget(id);
        unaccount(&mut self.loads, &self.dest_stats, &old);
    }

    /// Hand a packet of a NAT FTP control connection to the helper, before the NAT rewrite. A
    /// client's PORT/EPRT gives the entry of the server's active data connection to create.
    #[allow(clippy::too_many_arguments)]
    fn ftp_control(
        &mut self,
        now: Instant,
        id: ConnId,
        c: &Conn,
        state: ConnState,
        dir: Dir,
        p: &Parsed,
        buf: &mut [u8],
    ) {
        if c.proto != Proto::Tcp
            || !c.client.is_v4()
            || !self.snap.services[c.service as usize].ports.contains(&FTP_PORT)
        {
            return;
        }
        let ctl = Control { id, conn: c, established: state == ConnState::Established };
        match dir {
            Dir::In => {
                if let Some(data) = self.ftp.from_client(now, &ctl, p, buf, &self.snap.timeouts) {
                    // Refused only when it exists already (a repeated PORT) or the table is full,
                    // which costs the data connection and nothing else.
                    let _ = self.insert_conn(data);
                }
            }
            Dir::Out => self.ftp.from_server(now, &ctl, p, buf, &self.snap.timeouts, &self.conns),
        }
    }

    /// Finish a rewrite the FTP helper planned on this packet (a 227 reply that changes length
    /// needs the buffer, not the slice the pipeline saw). Runs after the pipeline, before the
    /// packet is routed or held.
    #[inline]
    pub(super) fn ftp_splice(&mut self, verdict: Verdict, pkt: &mut B) -> Verdict {
        if !self.ftp.has_pending() {
            return verdict;
        }
        let forwarded = matches!(verdict, Verdict::Route { .. } | Verdict::Server { .. } | Verdict::Tx(_));
        match self.ftp.finish(pkt, forwarded) {
            Ok(()) => verdict,
            // A buffer without tailroom (or, never in practice, a frame that is not the one
            // planned on): drop, and let the server retransmit (LVS drops a reply it fails to
            // mangle, too).
            Err(_) => Verdict::Drop(DropReason::NoMbuf),
        }
    }

    /// Track state, count, rewrite and hand the packet to routing.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        now: Instant,
        id: ConnId,
        c: &Conn,
        dir: Dir,
        p: &Parsed,
        buf: &mut [u8],
        flags: TcpFlags,
    ) -> Verdict {
        if p.l3_len > u32::from(self.snap.min_mtu) && c.fwd != Fwd::Tunnel {
            let to = if dir == Dir::In { c.rs } else { c.client };
            if let Some(v) = self.too_big(p, buf, to) {
                return v;
            }
        }
        let mut state = c.state;
        if c.proto == Proto::Tcp {
            let lite = TcpFlagsLite(flags.0);
            state = tcp_state::next(c.state, StateDir::of(c.fwd, dir), lite);
            if state != c.state {
                if state.is_active() != c.state.is_active() {
                    let (load, ds) = (self.loads.get_mut(c.dest), &self.dest_stats[c.dest as usize]);
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
                self.conns.set_state(id, state);
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
            (Fwd::Dr, Dir::In) => Verdict::Server { dest: c.dest, to: c.rs, on_link: true },
            (Fwd::Nat, _) => {
                if !ttl_allows_forwarding(buf, p) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                if c.vport == FTP_PORT {
                    self.ftp_control(now, id, c, state, dir, p, buf);
                }
                // The client's packets go to the real server, its replies back from the VIP. (Each
                // arm names its own fields: a select between two addresses of `c` is one 16-byte
                // load of what the entry's decode stored in halves, which waits for both stores.)
                match dir {
                    Dir::In => {
                        nat_rewrite(buf, p, End::Dst, c.rs, c.rport);
                        Verdict::Server { dest: c.dest, to: c.rs, on_link: false }
                    }
                    Dir::Out => {
                        nat_rewrite(buf, p, End::Src, c.vip, c.vport);
                        Verdict::Route { to: c.client, on_link: false }
                    }
                }
            }
            (Fwd::Tunnel, Dir::In) => Verdict::Encap { svc: c.service, rs: c.rs },
            // Full NAT is refused when the snapshot is built; an entry of it cannot exist yet.
            _ => Verdict::Drop(DropReason::NoMatch),
        }
    }
}

impl<B: PacketBuf> Worker<B> {
    /// A NAT or DR packet larger than the MTU of its way out to `to`, with DF: "fragmentation
    /// needed" goes back to its sender, checked before any rewrite so that the error quotes what
    /// the sender sent (LVS `ensure_mtu_is_adequate`). Without DF it goes on, to be fragmented.
    #[cold]
    fn too_big(&self, p: &Parsed, buf: &[u8], to: Addr) -> Option<Verdict> {
        let nh = self.snap.routes.lookup(to)?;
        let mtu = self.snap.ifaces[nh.iface as usize].mtu;
        let df = Ipv4Packet::new_unchecked(&buf[p.l3_off..]).dont_frag();
        (p.l3_len > u32::from(mtu) && df).then_some(Verdict::TooBig { to: p.src, mtu })
    }
}

fn table_error(e: InsertError) -> DropReason {
    match e {
        InsertError::Full => DropReason::TableFull,
        // Cannot happen: the key was looked up (or its stale template unhashed) just before.
        InsertError::Exists => DropReason::NoMatch,
    }
}

/// Forget an entry's share of its server's load (on expiry or removal): a connection's active or
/// inactive count, a template's persistent count.
pub(super) fn unaccount(loads: &mut Loads, dest_stats: &[DestStats], c: &Conn) {
    let (Some(load), Some(ds)) = (loads.find_mut(c.dest), dest_stats.get(c.dest as usize)) else { return };
    if c.is_template() {
        ds.persistent.sub(1);
    } else if c.state.is_active() {
        load.active = load.active.saturating_sub(1);
        ds.active.sub(1);
    } else {
        load.inactive = load.inactive.saturating_sub(1);
        ds.inactive.sub(1);
    }
}

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
enum End {
    /// DNAT of a client's packet toward the real server.
    Dst,
    /// SNAT of a real server's reply back to the VIP.
    Src,
}

/// Whether an IPv4 packet's TTL lets a router forward it (more than 1 hop left).
#[inline]
fn ttl_allows_forwarding(buf: &[u8], p: &Parsed) -> bool {
    Ipv4Packet::new_unchecked(&buf[p.l3_off..]).ttl() > 1
}

/// A NAT packet's whole rewrite in one pass: the TTL decremented, one end's address and port
/// replaced, and each checksum updated once for all its changed words (RFC 1624 eqn. 3: the IPv4
/// header's for TTL and address, the TCP/UDP one for the pseudo-header address and the port).
/// The old values are read from the packet. The caller has checked the TTL; the packet is IPv4
/// (parsed, so its IPv4 header and its TCP/UDP header are in the buffer).
#[inline]
fn nat_rewrite(buf: &mut [u8], p: &Parsed, end: End, new: Addr, port: u16) {
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
}
