//! The control thread's per-server figures, shared by the listings, the stats report, the rate
//! estimator, the metrics and the health board: a server's state as the workers have it, and its
//! counters summed over the cores. A module of their own so that those readers depend on it and
//! not on each other.

use vsd_dataplane::stats::DestStats;

/// One real server as the control thread last told the workers: its weight, and whether it is in
/// its service (a server removed at runtime stays in the snapshot, marked absent). The operator's
/// wish and the checks' verdict are kept apart in `health::Board`; this is their merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestState {
    pub weight: u32,
    pub present: bool,
}

/// Per-destination totals over all cores.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestTotals {
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub active: u64,
    pub inactive: u64,
    pub persistent: u64,
}

impl DestTotals {
    /// One real server's counters summed over the cores (relaxed reads of single-writer counters;
    /// the gauges wrap like the per-core values they sum).
    pub fn sum<'a>(cores: impl IntoIterator<Item = &'a DestStats>) -> DestTotals {
        let mut t = DestTotals::default();
        for d in cores {
            t.conns += d.conns.get();
            t.in_packets += d.in_packets.get();
            t.out_packets += d.out_packets.get();
            t.in_bytes += d.in_bytes.get();
            t.out_bytes += d.out_bytes.get();
            t.active = t.active.wrapping_add(d.active.get());
            t.inactive = t.inactive.wrapping_add(d.inactive.get());
            t.persistent = t.persistent.wrapping_add(d.persistent.get());
        }
        t
    }
}
