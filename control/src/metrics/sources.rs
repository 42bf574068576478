//! What a scrape reads: handles to counters that already exist, never copies of them.
//!
//! Workers own their counters and write them with plain stores (see `vsd_dataplane::stats`); a
//! scrape only loads them (relaxed) and sums the cores, as `vsadm --stats` does, so exporting
//! metrics adds nothing to the fast path. What the control thread owns (the running snapshot, each
//! real server's weight, membership and health) it publishes into a [`ControlView`] after every
//! pass of its loop; workers never see it.

use crate::state::{DestState, DestTotals};
use std::sync::{Arc, Mutex, PoisonError};
use vsd_dataplane::service::Snapshot;
use vsd_dataplane::stats::{DestStats, WorkerStats};
use vsd_ffi::{Port, PortStats};

/// One worker's own counters.
pub struct WorkerSource {
    pub stats: Arc<WorkerStats>,
}

/// Every worker's per-real-server counters (indexed by dest id), shared with the control thread:
/// a reload that adds real servers moves a worker's counters to a larger array, and the control
/// thread passes it on here ([`DestCounters::replace`]).
#[derive(Clone, Default)]
pub struct DestCounters(Arc<Mutex<Vec<Arc<[DestStats]>>>>);

impl DestCounters {
    pub fn push(&self, per_core: Arc<[DestStats]>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(per_core);
    }

    /// Worker `worker`'s array is `per_core` from now on.
    pub fn replace(&self, worker: usize, per_core: Arc<[DestStats]>) {
        if let Some(x) = self.0.lock().unwrap_or_else(PoisonError::into_inner).get_mut(worker) {
            *x = per_core;
        }
    }

    /// The arrays, one per worker, for one scrape.
    pub fn get(&self) -> Vec<Arc<[DestStats]>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Reads one port's ethdev counters (`rte_eth_stats_get` in the daemon; fixed numbers in tests).
pub type PortReader = Box<dyn Fn() -> Result<PortStats, String> + Send + Sync>;

/// One port: its interface name, device, how packets are steered to workers, and its counters.
pub struct PortSource {
    pub name: String,
    pub device: String,
    /// Short steering mode: `single`, `hardware_rss` or `software_redirect`.
    pub steering: String,
    /// The steering mode as the startup log says it, with the reason when hardware could not steer.
    pub steering_detail: String,
    pub read: PortReader,
}

impl PortSource {
    /// A DPDK port, read with `rte_eth_stats_get`, which needs no lcore: any thread may call it.
    pub fn ethdev(name: &str, device: &str, port: Port, steering: &str, detail: String) -> PortSource {
        PortSource {
            name: name.to_string(),
            device: device.to_string(),
            steering: steering.to_string(),
            steering_detail: detail,
            read: Box::new(move || port.stats().map_err(|e| e.to_string())),
        }
    }
}

/// One real server as the control thread last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestView {
    /// What the workers have (after health checks): weight and membership.
    pub state: DestState,
    /// In its service and healthy (its health check passes, or it has none).
    pub up: bool,
}

/// The control thread's view, shared with the metrics thread: the running snapshot (a reload may
/// switch it) and each real server's state. The control thread publishes after every pass of its
/// loop; a scrape takes a copy.
#[derive(Clone)]
pub struct ControlView(Arc<Mutex<(Arc<Snapshot>, Vec<DestView>)>>);

impl ControlView {
    /// Every real server at its snapshot weight, present and up: the state at start.
    pub fn new(snap: Arc<Snapshot>) -> ControlView {
        let dests = snap
            .dests
            .iter()
            .map(|d| DestView { state: DestState { weight: d.weight, present: true }, up: true })
            .collect();
        ControlView(Arc::new(Mutex::new((snap, dests))))
    }

    /// Store the control thread's current view; `up(d)` is the health verdict of dest `d`. Cheap
    /// enough for every pass: a pointer compare, and no allocation while the server count holds.
    pub fn publish(&self, snap: &Arc<Snapshot>, states: &[DestState], up: impl Fn(usize) -> bool) {
        let mut cur = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&cur.0, snap) {
            cur.0 = snap.clone();
        }
        cur.1.resize(states.len(), DestView { state: DestState { weight: 0, present: false }, up: false });
        for (d, (have, state)) in cur.1.iter_mut().zip(states).enumerate() {
            *have = DestView { state: *state, up: state.present && up(d) };
        }
    }

    pub fn get(&self) -> (Arc<Snapshot>, Vec<DestView>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Everything a scrape reads.
pub struct Sources {
    pub workers: Vec<WorkerSource>,
    pub dests: DestCounters,
    pub ports: Vec<PortSource>,
    pub view: ControlView,
}

impl Sources {
    pub fn new(snap: Arc<Snapshot>) -> Sources {
        Sources {
            workers: Vec::new(),
            dests: DestCounters::default(),
            ports: Vec::new(),
            view: ControlView::new(snap),
        }
    }

    pub fn add_worker(&mut self, stats: Arc<WorkerStats>, dests: Arc<[DestStats]>) {
        self.workers.push(WorkerSource { stats });
        self.dests.push(dests);
    }

    /// Real server `dest`'s counters summed over all cores, as `vsadm --stats` sums them (gauges
    /// with wrapping adds, since each core's part is itself kept with wrapping add and sub).
    pub fn dest_totals(&self, dest: usize) -> DestTotals {
        DestTotals::sum(self.dests.get().iter().filter_map(|core| core.get(dest)))
    }
}
