//! Forwarding a packet of a known connection: state tracking, counters, and the rewrite of its
//! forwarding method.
//!
//! NAT follows LVS's masquerading: the client's packets have their destination rewritten to the
//! real server, the server's replies have their source rewritten back to the VIP, and both are
//! routed like a router would (TTL decremented; [`super::rewrite`]). DR rewrites nothing above
//! Ethernet: the frame is re-addressed to the real server's MAC, which must be on a connected
//! segment, and the server, holding the VIP on a loopback, answers the client directly. Tunnel
//! mode encapsulates ([`super::tunnel`]).
//!
//! FTP control connections of NAT services (vport 21) pass through the FTP helper
//! ([`crate::ftp`]) at two hooks: [`Worker::ftp_before_rewrite`] reads the packet as its sender
//! sent it (PORT/EPRT, 227/229), and [`Worker::ftp_after_rewrite`] finishes a 227 reply whose
//! length changes, once the buffer, not only the slice the pipeline saw, can be resized.

use super::pipeline::Hit;
use super::rewrite::{hop_limit_allows_forwarding, nat_rewrite, nat_rewrite6, ttl_allows_forwarding, End};
use super::verdict::Verdict;
use super::Worker;
use crate::addr::{Addr, Proto};
use crate::buf::PacketBuf;
use crate::conn::{tcp_state, Conn, ConnId, ConnState, Dir, Fwd, StateDir, TcpFlagsLite};
use crate::ftp::Control;
use crate::service::FTP_PORT;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::{Ipv4Packet, Parsed, TcpFlags};

impl<B: PacketBuf> Worker<B> {
    /// Track state, count, rewrite and hand the packet to delivery. `c` is the entry of `hit`.
    #[inline(always)]
    pub(super) fn forward(
        &mut self,
        now: Instant,
        hit: Hit,
        c: &Conn,
        p: &Parsed,
        buf: &mut [u8],
        flags: TcpFlags,
    ) -> Verdict {
        let (id, dir) = (hit.id, hit.dir);
        if p.l3_len > u32::from(self.snap.min_mtu) && c.fwd != Fwd::Tunnel {
            let to = if dir == Dir::In { c.rs } else { c.client };
            if let Some(v) = self.too_big(p, buf, to) {
                return v;
            }
        }
        let state = self.track(now, id, c, dir, flags);
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
                // One branch on the family, around the rewrites only: the verdict is built by
                // the same code for both, so that it stays out of memory (a verdict returned from
                // a callee on one path made the IPv4 path spill it too: +20 cycles per packet).
                let v6 = p.is_ipv6();
                let ttl_ok =
                    if v6 { hop_limit_allows_forwarding(buf, p) } else { ttl_allows_forwarding(buf, p) };
                if !ttl_ok {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                if c.vport == FTP_PORT {
                    self.ftp_before_rewrite(now, id, c, state, dir, p, buf);
                }
                // The client's packets go to the real server, its replies back from the VIP. (Each
                // arm names its own fields: a select between two addresses of `c` is one 16-byte
                // load of what the entry's decode stored in halves, which waits for both stores.)
                match dir {
                    Dir::In => {
                        if v6 {
                            nat_rewrite6(buf, p, End::Dst, c.rs, c.rport);
                        } else {
                            nat_rewrite(buf, p, End::Dst, c.rs, c.rport);
                        }
                        Verdict::Server { dest: c.dest, to: c.rs, on_link: false }
                    }
                    Dir::Out => {
                        if v6 {
                            nat_rewrite6(buf, p, End::Src, c.vip, c.vport);
                        } else {
                            nat_rewrite(buf, p, End::Src, c.vip, c.vport);
                        }
                        Verdict::Route { to: c.client, on_link: false }
                    }
                }
            }
            (Fwd::Tunnel, Dir::In) => Verdict::Encap { svc: c.service, rs: c.rs },
            // Full NAT is refused when the snapshot is built; an entry of it cannot exist yet.
            _ => Verdict::Drop(DropReason::NoMatch),
        }
    }

    /// The LVS TCP state machine (INPUT, OUTPUT and INPUT_ONLY tables) and the timer: a change
    /// between active and inactive moves the connection's count on its server. Returns the new
    /// state.
    #[inline(always)]
    fn track(&mut self, now: Instant, id: ConnId, c: &Conn, dir: Dir, flags: TcpFlags) -> ConnState {
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
        state
    }

    /// Hand a packet of a NAT FTP control connection to the helper, before the NAT rewrite. A
    /// client's PORT/EPRT gives the entry of the server's active data connection to create.
    #[allow(clippy::too_many_arguments)]
    fn ftp_before_rewrite(
        &mut self,
        now: Instant,
        id: ConnId,
        c: &Conn,
        state: ConnState,
        dir: Dir,
        p: &Parsed,
        buf: &mut [u8],
    ) {
        if c.proto != Proto::Tcp || !self.snap.services[c.service as usize].ports.contains(&FTP_PORT) {
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
    pub(super) fn ftp_after_rewrite(&mut self, verdict: Verdict, pkt: &mut B) -> Verdict {
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

    /// A NAT or DR packet larger than the MTU of its way out to `to`, with DF: "fragmentation
    /// needed" goes back to its sender, checked before any rewrite so that the error quotes what
    /// the sender sent (LVS `ensure_mtu_is_adequate`). Without DF it goes on, to be fragmented.
    #[cold]
    fn too_big(&self, p: &Parsed, buf: &[u8], to: Addr) -> Option<Verdict> {
        let nh = self.snap.routes.lookup(to)?;
        let mtu = self.snap.ifaces[nh.iface as usize].mtu;
        // IPv6 is never fragmented on the way (RFC 8200 §5): too big is too big, whatever the
        // packet says; the sender gets Packet Too Big.
        if p.is_ipv6() {
            return (p.l3_len > u32::from(mtu)).then_some(Verdict::TooBig { to: p.src, mtu });
        }
        let df = Ipv4Packet::new_unchecked(&buf[p.l3_off..]).dont_frag();
        (p.l3_len > u32::from(mtu) && df).then_some(Verdict::TooBig { to: p.src, mtu })
    }
}
