//! The per-core worker: the whole packet path of one lcore, as a sans-IO state machine.
//!
//! The driver (control/src/runtime/lcore_loop.rs) talks to it through a few calls, quinn-style:
//! inputs pushed in, outputs pulled out, time passed in:
//!
//! - per burst: [`Worker::prefetch`] and [`Worker::prefetch_entry`] over the frames, then
//!   [`Worker::process`] per frame (wire or redirected), which returns what to do with that
//!   frame's buffer ([`Action`]), then [`Worker::end_burst`];
//! - [`Worker::poll_output`]: what the worker sends or frees on its own (held packets whose next
//!   hop resolved, ARP requests, neighbours shared with the other workers, fragments), with
//!   buffers from a closure the driver gives;
//! - [`Worker::poll_timeout`] says when the worker next needs [`Worker::handle_timeout`]
//!   (connection expiry, ARP retries);
//! - [`Worker::handle`]: control messages, between bursts.
//!
//! The worker never reads a clock or touches DPDK. The per-packet path is one pipeline
//! ([`pipeline`]), with every drop counted by reason.
//!
//! Everything a worker writes is its own: its connection table, scheduler positions, per-server
//! loads, neighbour cache and counters. The config [`Snapshot`] is shared and read-only.

mod control;
mod deliver;
mod forward;
mod hops;
mod host;
mod host6;
mod icmp6_error;
mod icmp_error;
mod loads;
mod output;
mod pipeline;
mod rewrite;
mod schedule;
mod share;
mod tunnel;
mod verdict;

pub use control::{Command, Reply};
pub use pipeline::Rx;
pub use share::NeighShare;

use crate::buf::PacketBuf;
use crate::conn::{ConnTable, KeyProbe};
use crate::neigh::NeighCache;
use crate::route::IfIndex;
use crate::sched::Scheduler;
use crate::service::{service_id, Snapshot};
use crate::stats::{DestStats, WorkerStats};
use crate::steer::Steering;
use crate::wire::{parse_frame_into, EthernetAddress, EthernetFrame, ParseError, Parsed};
use hops::Hops;
use loads::Loads;
use std::sync::Arc;

/// What the driver does with a buffer the worker hands back.
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

/// Neighbour cache entries per worker.
const NEIGH_CAPACITY: usize = 1024;

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
    /// Which other worker the neighbour share on top of `neigh_shares` goes to next
    /// ([`Worker::poll_output`]).
    share_to: u16,
}

/// A frame after the first prefetch stage: its parse and its flow key's probe, kept for the
/// later stages and [`Worker::process`].
#[derive(Clone, Copy, Debug)]
pub struct Prepared {
    pub parsed: Result<Parsed, ParseError>,
    pub(super) probe: Option<KeyProbe>,
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
                sc.update(loads.of_service(service_id(i)));
                sc
            })
            .collect();
        let dest_stats: Arc<[DestStats]> = snap.dests.iter().map(|_| DestStats::default()).collect();
        let mut neigh = NeighCache::new(NEIGH_CAPACITY);
        for (i, ifc) in snap.ifaces.iter().enumerate() {
            #[allow(
                clippy::cast_possible_truncation,
                reason = "an interface position is below the interface count, which Snapshot::new asserts is at most 2^16"
            )]
            let iface = i as IfIndex;
            for (ip, mac) in &ifc.static_neighbours {
                neigh.add_static(iface, *ip, *mac);
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
            share_to: 0,
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
    #[inline(always)]
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
    #[inline(always)]
    pub fn prefetch_entry(&self, pre: &mut Prepared) {
        if let Some(probe) = &mut pre.probe {
            self.conns.prefetch_entry(probe);
        }
    }

    /// Third stage, for IPv6 frames (the driver runs it when a burst has any): load the side slab
    /// line that holds an IPv6 connection's addresses, once its entry line has arrived.
    #[inline(always)]
    pub fn prefetch_addrs(&self, pre: &Prepared) {
        if let (Some(probe), Ok(p)) = (&pre.probe, &pre.parsed) {
            if p.is_ipv6() {
                self.conns.prefetch_addrs(probe);
            }
        }
    }

    /// Both prefetch stages for one frame, for callers that do not run bursts through them
    /// (tests, tools): what [`Worker::process`] takes.
    pub fn prepare(&self, frame: &[u8]) -> Prepared {
        let mut pre = Prepared::NONE;
        self.prefetch(frame, &mut pre);
        self.prefetch_entry(&mut pre);
        pre
    }

    /// Finish a burst: index the out keys of the burst's new connections, whose buckets were
    /// loading meanwhile ([`ConnTable::insert_deferred`]). The driver calls it after each burst,
    /// before the burst's packets leave, so that replies find their connection; the timers and
    /// control messages call it first too.
    #[inline]
    pub fn end_burst(&mut self) {
        let clashed = self.conns.flush_deferred();
        if clashed > 0 {
            self.stats.out_key_clashes.add(u64::from(clashed));
        }
        // The occupancy gauge, fresh at every burst boundary (the timers may sleep for a while).
        self.stats.conn_entries.set(self.conns.len() as u64);
    }

    fn write_ethernet(&self, frame: &mut [u8], iface: IfIndex, dst: [u8; 6]) {
        let mut f = EthernetFrame::new_unchecked(frame);
        f.set_dst_addr(EthernetAddress(dst));
        f.set_src_addr(EthernetAddress(self.macs[iface as usize]));
    }
}

#[cfg(test)]
mod tests;
