//! The per-core worker: the whole packet path of one lcore, as a sans-IO state machine.
//!
//! The driver pushes each received frame in with [`Worker::process`] and gets back what to do with
//! the buffer: transmit it on an interface, free it, or nothing (the worker kept it while the next
//! hop resolves). Between bursts it calls [`Worker::poll_timers`] and drains what the worker wants
//! sent on its own ([`Worker::poll_tx`], [`Worker::poll_arp_request`]) or freed
//! ([`Worker::poll_free`]). The worker never reads a clock or touches DPDK.
//!
//! The per-packet path is a pipeline in Katran's shape: parse → host functions (ARP, ICMP echo) →
//! connection lookup → schedule → rewrite → route → neighbour → transmit. Each step returns early
//! with a [`Verdict`], and every drop has a reason with its own counter.
//!
//! Everything a worker writes is its own: its connection table, scheduler positions, per-server
//! loads, neighbour cache and counters. The config [`Snapshot`] is shared and read-only.

mod control;
mod forward;
mod hops;
mod host;
mod icmp_error;
mod loads;
mod share;
mod tunnel;

pub use control::{Command, Reply};
pub use share::NeighShare;

use crate::addr::Addr;
use crate::buf::PacketBuf;
use crate::conn::{ConnTable, Expiry, KeyProbe};
use crate::neigh::NeighCache;
use crate::route::IfIndex;
use crate::sched::Scheduler;
use crate::service::{ServiceId, Snapshot};
use crate::stats::{DestStats, DropReason, WorkerStats};
use crate::steer::Steering;
use crate::time::Instant;
use crate::wire::{
    ethernet, ethertype, parse_frame, parse_frame_into, EthernetAddress, EthernetFrame, ParseError, Parsed,
};
use hops::{Hop, Hops};
use loads::Loads;
use std::sync::Arc;

/// What the driver does with a buffer after [`Worker::process`].
#[derive(Debug)]
pub enum Action<B> {
    /// Transmit on this interface.
    Tx(IfIndex, B),
    /// Free it (dropped, and counted, or consumed, such as an ARP reply we learned from).
    Free(B),
    /// The worker kept it (waiting for ARP).
    Held,
    /// Another worker owns it: hand it over on the redirect ring to this worker.
    Redirect(u16, B),
}

/// The outcome of one pipeline step on a packet that stays in its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Tx(IfIndex),
    /// Rewritten for the wire except for Ethernet: route toward this address and resolve the
    /// next hop. `on_link` requires the address itself to be a neighbour (DR).
    Route {
        to: crate::addr::Addr,
        on_link: bool,
    },
    /// [`Verdict::Route`] toward real server `dest`, whose address `to` is: its next hop may be
    /// cached ([`hops`]).
    Server {
        dest: u32,
        to: crate::addr::Addr,
        on_link: bool,
    },
    Drop(DropReason),
    /// Encapsulate toward real server `rs` with service `svc`'s tunnel, then route ([`tunnel`]).
    Encap {
        svc: crate::service::ServiceId,
        rs: crate::addr::Addr,
    },
    /// An ICMP message built in place ([`icmp_error`]): cut the frame to `len` bytes, then route it.
    Cut {
        to: crate::addr::Addr,
        len: u32,
    },
    /// Too big for the way out, with DF: answer "fragmentation needed, next-hop MTU `mtu`" to
    /// `to`, the packet's sender (its quote is the packet as the sender sent it).
    TooBig {
        to: crate::addr::Addr,
        mtu: u16,
    },
    /// Handled; free without counting a drop.
    Consumed,
}

/// Neighbour cache entries per worker.
const NEIGH_CAPACITY: usize = 1024;
/// Connections expired per timer poll, so one poll never stalls the burst loop.
const EXPIRE_BUDGET: usize = 256;
/// A template whose timer fires while it still controls connections is re-armed for this long
/// (LVS `ip_vs_conn_expire`: 60 s).
const TEMPLATE_REARM: core::time::Duration = core::time::Duration::from_secs(60);

pub struct Worker<B> {
    id: u16,
    snap: Arc<Snapshot>,
    conns: ConnTable,
    /// FTP helper state of this core's NAT control connections ([`crate::ftp`]).
    ftp: crate::ftp::FtpHelper,
    /// One scheduler per service, indexed like `snap.services`.
    scheds: Vec<Scheduler>,
    /// This core's view of each real server's load.
    loads: Loads,
    neigh: NeighCache<B>,
    stats: Arc<WorkerStats>,
    dest_stats: Arc<[DestStats]>,
    /// The owner function shared by all workers.
    steering: Arc<Steering>,
    /// Neighbours learned from the wire, to pass on to the other workers.
    neigh_shares: Vec<NeighShare>,
    /// Tunnel state: path MTUs toward real servers, outer IP ident, waiting fragments, ICMP budget.
    tunnel: tunnel::TunnelState,
    /// The interfaces' MACs by index, read by every packet (the destination check, the source of
    /// the frame going out): a small array of their own instead of the snapshot's interface
    /// records, whose lines the packet traffic evicts. Follows the snapshot.
    macs: Box<[[u8; 6]]>,
    /// Each real server's next hop, so that its packets skip the route scan and the neighbour
    /// lookup.
    hops: Hops,
    /// The probe of the flow key of the packet being processed, when the prefetch stage computed
    /// it ([`Worker::process_prepared`]); the lookup takes it instead of hashing again.
    flow_probe: Option<KeyProbe>,
}

/// A frame after the first prefetch stage: its parse and its flow key's probe, kept for the
/// later stages and the processing.
#[derive(Clone, Copy, Debug)]
pub struct Prepared {
    pub parsed: Result<Parsed, ParseError>,
    probe: Option<KeyProbe>,
}

impl Prepared {
    /// What a burst's slots hold before their frame arrives.
    pub const NONE: Prepared = Prepared { parsed: Err(ParseError::ALL[0]), probe: None };
}

impl<B: PacketBuf> Worker<B> {
    /// A worker for `snap`, with tables sized from it. All memory is allocated here.
    pub fn new(id: u16, snap: Arc<Snapshot>) -> Worker<B> {
        let loads = Loads::new(&snap);
        let scheds = snap
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut sc = Scheduler::new(s.sched);
                sc.update(loads.of_service(i as ServiceId));
                sc
            })
            .collect();
        let dest_stats: Arc<[DestStats]> = snap.dests.iter().map(|_| DestStats::default()).collect();
        let mut neigh = NeighCache::new(NEIGH_CAPACITY);
        for (i, ifc) in snap.ifaces.iter().enumerate() {
            for (ip, mac) in &ifc.static_neighbours {
                neigh.add_static(i as IfIndex, *ip, *mac);
            }
        }
        Worker {
            id,
            conns: ConnTable::new(snap.conn_capacity),
            ftp: crate::ftp::FtpHelper::new(snap.conn_capacity),
            scheds,
            loads,
            neigh,
            stats: Arc::new(WorkerStats::default()),
            dest_stats,
            steering: Arc::new(Steering::new(1, 32, 128, crate::steer::DEFAULT_KEY)),
            neigh_shares: Vec::with_capacity(NEIGH_CAPACITY),
            tunnel: tunnel::TunnelState::new(id),
            flow_probe: None,
            hops: Hops::new(snap.dests.len()),
            macs: snap.ifaces.iter().map(|i| i.mac).collect(),
            snap,
        }
    }

    /// Make this worker one of `steering.workers()`: packets it does not own are redirected.
    pub fn with_steering(mut self, steering: Arc<Steering>) -> Worker<B> {
        self.steering = steering;
        self
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    /// Counters shared with the control thread (read-only there).
    pub fn stats(&self) -> Arc<WorkerStats> {
        self.stats.clone()
    }

    /// Per-real-server counters of this core, indexed like `Snapshot::dests`.
    pub fn dest_stats(&self) -> Arc<[DestStats]> {
        self.dest_stats.clone()
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    pub fn conns(&self) -> &ConnTable {
        &self.conns
    }

    /// First stage of the burst prefetch (DPDK l3fwd's prefetch-ahead): parse a frame, probe its
    /// flow key and start loading the index bucket its lookup will read. The driver runs this over
    /// the whole burst, then [`Worker::prefetch_entry`] over it, then processes it with what this
    /// stage computed, so the burst's cache misses overlap instead of stalling one packet at a
    /// time, and each packet is parsed and hashed once.
    #[inline]
    pub fn prefetch(&self, frame: &[u8], out: &mut Prepared) {
        parse_frame_into(frame, &mut out.parsed);
        out.probe =
            out.parsed.as_ref().ok().and_then(|p| p.flow_key_in(frame)).map(|key| self.conns.probe_key(&key));
        if let Some(probe) = &out.probe {
            self.conns.prefetch(probe);
        }
    }

    /// Second stage: start loading the connection entry the lookup will compare, and keep which
    /// one it is, so that the lookup need not read the index bucket again.
    #[inline]
    pub fn prefetch_entry(&self, pre: &mut Prepared) {
        if let Some(probe) = &mut pre.probe {
            self.conns.prefetch_entry(probe);
        }
    }

    /// [`Worker::process`] with what [`Worker::prefetch`] already computed.
    pub fn process_prepared(&mut self, now: Instant, iface: IfIndex, pkt: B, pre: &Prepared) -> Action<B> {
        self.flow_probe = pre.probe;
        let act = self.run_parsed(now, iface, pkt, true, &pre.parsed);
        self.flow_probe = None;
        act
    }

    /// Run one frame received from the wire through the pipeline (or hand it to its owner). A
    /// burst of one: [`Worker::end_burst`] included.
    pub fn process(&mut self, now: Instant, iface: IfIndex, pkt: B) -> Action<B> {
        let act = self.run(now, iface, pkt, true);
        self.end_burst();
        act
    }

    /// Run a frame another worker redirected here: this worker owns it. A burst of one.
    pub fn process_redirected(&mut self, now: Instant, iface: IfIndex, pkt: B) -> Action<B> {
        self.stats.redirected_in.inc();
        let act = self.run(now, iface, pkt, false);
        self.end_burst();
        act
    }

    /// Finish a burst of [`Worker::process_prepared`] calls: index the out keys of the burst's
    /// new connections, whose buckets were loading meanwhile ([`ConnTable::insert_deferred`]).
    /// Call it before the burst's packets leave, so that replies find their connection.
    #[inline]
    pub fn end_burst(&mut self) {
        let clashed = self.conns.flush_deferred();
        if clashed > 0 {
            self.stats.out_key_clashes.add(u64::from(clashed));
        }
    }

    fn run(&mut self, now: Instant, iface: IfIndex, pkt: B, from_wire: bool) -> Action<B> {
        let parsed = parse_frame(pkt.as_ref());
        self.run_parsed(now, iface, pkt, from_wire, &parsed)
    }

    fn run_parsed(
        &mut self,
        now: Instant,
        iface: IfIndex,
        mut pkt: B,
        from_wire: bool,
        parsed: &Result<Parsed, ParseError>,
    ) -> Action<B> {
        if from_wire {
            self.stats.rx_packets.inc();
            self.stats.rx_bytes.add(pkt.len() as u64);
        }
        let p = match parsed {
            Ok(p) => p,
            Err(e) => {
                self.stats.parse_errors[*e as usize].inc();
                return Action::Free(pkt);
            }
        };
        if from_wire && self.steering.workers() > 1 {
            let snap = &self.snap;
            let owner = self
                .steering
                .owner_of(p, pkt.as_ref(), |a| snap.is_vip(*a) || snap.local_iface(*a).is_some());
            if let Some(o) = owner.filter(|o| *o != self.id) {
                self.stats.redirected_out.inc();
                return Action::Redirect(o, pkt);
            }
        }
        let verdict = self.dispatch(now, iface, p, pkt.as_mut(), from_wire);
        // The verdict goes to `finish` where it lies: a copy of it right after it was written
        // would wait on the stores (~5 % of the packet path).
        if self.ftp.has_pending() {
            let verdict = self.ftp_splice(verdict, &mut pkt);
            return self.finish(now, verdict, pkt);
        }
        self.finish(now, verdict, pkt)
    }

    /// Carry out a verdict. The common one, a packet to a real server whose next hop is known,
    /// is handled here, inlined into the packet path: the action is built where the driver reads
    /// it rather than copied out of a callee's return slot.
    #[inline(always)]
    fn finish(&mut self, now: Instant, verdict: Verdict, mut pkt: B) -> Action<B> {
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
        self.finish_slow(now, verdict, pkt)
    }

    /// Every other verdict, and a server's packet whose hop must be looked up (and is then
    /// cached). Out of line: it is large and off the common path.
    #[inline(never)]
    fn finish_slow(&mut self, now: Instant, verdict: Verdict, mut pkt: B) -> Action<B> {
        match verdict {
            Verdict::Tx(out) => Action::Tx(out, pkt),
            Verdict::Consumed => Action::Free(pkt),
            Verdict::Encap { svc, rs } => {
                let v = self.tunnel_xmit(now, svc, rs, &mut pkt);
                self.finish_slow(now, v, pkt)
            }
            Verdict::Cut { to, len } => {
                pkt.trim(pkt.len().saturating_sub(len as usize));
                self.finish_slow(now, Verdict::Route { to, on_link: false }, pkt)
            }
            Verdict::Drop(r) => {
                self.stats.count_drop(r);
                Action::Free(pkt)
            }
            Verdict::TooBig { to, mtu } => {
                let v = if self.tunnel.icmp_allowed(now) {
                    self.stats.count_drop(DropReason::TooBig);
                    self.frag_needed(&mut pkt, to, mtu)
                } else {
                    Verdict::Drop(DropReason::IcmpRateLimit)
                };
                self.finish_slow(now, v, pkt)
            }
            Verdict::Route { to, on_link } => self.route(now, to, on_link, None, pkt),
            Verdict::Server { dest, to, on_link } => self.route(now, to, on_link, Some(dest), pkt),
        }
    }

    /// Route a packet toward `to` and resolve its next hop; remember the hop of real server
    /// `dest`.
    fn route(&mut self, now: Instant, to: Addr, on_link: bool, dest: Option<u32>, mut pkt: B) -> Action<B> {
        let Some(nh) = self.snap.routes.lookup(to).filter(|nh| !on_link || nh.neighbour == to) else {
            self.stats.count_drop(DropReason::NoRoute);
            return Action::Free(pkt);
        };
        // Larger than the smallest MTU: it may not fit this way out. DF packets were answered
        // before their rewrite (forward::too_big); the others are fragmented, as the kernel
        // fragments LVS's NAT and DR packets.
        if pkt.len() > ethernet::HEADER_LEN + usize::from(self.snap.min_mtu) {
            let mtu = usize::from(self.snap.ifaces[nh.iface as usize].mtu);
            if pkt.len() > ethernet::HEADER_LEN + mtu && !self.fragment(&mut pkt, to, mtu) {
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

    fn dispatch(
        &mut self,
        now: Instant,
        iface: IfIndex,
        p: &Parsed,
        buf: &mut [u8],
        from_wire: bool,
    ) -> Verdict {
        let dst = EthernetFrame::new_unchecked(&*buf).dst_addr();
        let ours = EthernetAddress(self.macs[iface as usize]);
        if dst != ours && !dst.is_broadcast() {
            return Verdict::Drop(DropReason::NotForUs);
        }
        if p.vlan.is_some() {
            return Verdict::Drop(DropReason::Vlan);
        }
        match p.ethertype {
            ethertype::ARP => self.arp(now, iface, p, buf, from_wire),
            ethertype::IPV4 if dst.is_broadcast() => Verdict::Drop(DropReason::NotForUs),
            ethertype::IPV4 => self.ipv4(now, iface, p, buf),
            ethertype::IPV6 => Verdict::Drop(DropReason::Ipv6),
            _ => Verdict::Drop(DropReason::Ethertype),
        }
    }

    /// Expire connections and retry ARP. Call between bursts, about every millisecond.
    pub fn poll_timers(&mut self, now: Instant) {
        self.end_burst();
        let Worker { conns, loads, dest_stats, stats, .. } = self;
        conns.expire(now, EXPIRE_BUDGET, |_, c| {
            // An entry never expires while it still controls connections (LVS re-arms it): a
            // template, or an FTP control connection with live data connections.
            if c.controlled > 0 {
                return Expiry::Rearm(now + TEMPLATE_REARM);
            }
            forward::unaccount(loads, dest_stats, c);
            if c.is_template() {
                stats.templates_expired.inc();
            } else {
                stats.conns_expired.inc();
            }
            Expiry::Remove
        });
        self.stats.conn_entries.set(self.conns.len() as u64);
        self.neigh.poll(now);
    }

    /// A held packet whose next hop has resolved, ready to transmit.
    pub fn poll_tx(&mut self) -> Option<(IfIndex, B)> {
        let (iface, mac, mut pkt) = self.neigh.take_released()?;
        self.write_ethernet(pkt.as_mut(), iface, mac);
        Some((iface, pkt))
    }

    /// A held packet given up on (its next hop never answered), to free.
    pub fn poll_free(&mut self) -> Option<B> {
        let pkt = self.neigh.take_expired()?;
        self.stats.count_drop(DropReason::NeighUnresolved);
        Some(pkt)
    }

    /// Whether [`Worker::poll_arp_request`] has something to write.
    pub fn wants_arp_request(&self) -> bool {
        self.neigh.has_requests()
    }

    fn write_ethernet(&self, frame: &mut [u8], iface: IfIndex, dst: [u8; 6]) {
        let mut f = EthernetFrame::new_unchecked(frame);
        f.set_dst_addr(EthernetAddress(dst));
        f.set_src_addr(EthernetAddress(self.macs[iface as usize]));
    }
}

#[cfg(test)]
mod tests;
