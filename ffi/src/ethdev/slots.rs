//! Per-port state that DPDK does not keep for us, indexed by port id.
//!
//! `Port` is a `Copy` id, so what must outlive a call lives here: the mempool the RX queues take
//! mbufs from and the RSS key DPDK points at (both must stay alive while the port is configured),
//! and the queue counts of a started port. The counts are what make the burst calls safe: DPDK does
//! not check queue ids on the fast path, so `rx_burst`/`tx_burst` compare the queue with one atomic
//! load (a plain `mov` on x86) and return 0 for a port that is not started.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::eal::LiveObject;
use crate::mempool::Mempool;
use crate::sys;

const MAX_PORTS: usize = sys::RTE_MAX_ETHPORTS as usize;

/// What a configured port holds on to until it is closed or configured again.
#[derive(Debug, Default)]
pub(crate) struct Holdings {
    pub pool: Option<Mempool>,
    pub rss_key: Option<Box<[u8]>>,
    pub queues: (u16, u16),
    pub live: Option<LiveObject>,
}

pub(crate) struct Slot {
    /// `rx << 16 | tx` while started, 0 otherwise.
    started_queues: AtomicU32,
    pub holdings: Mutex<Holdings>,
}

static SLOTS: [Slot; MAX_PORTS] =
    [const { Slot { started_queues: AtomicU32::new(0), holdings: Mutex::new(Holdings::new()) } }; MAX_PORTS];

impl Holdings {
    const fn new() -> Holdings {
        Holdings { pool: None, rss_key: None, queues: (0, 0), live: None }
    }
}

pub(crate) fn slot(port: u16) -> &'static Slot {
    &SLOTS[usize::from(port)]
}

impl Slot {
    /// Publishes the queue counts after `rte_eth_dev_start`; Release pairs with the bursts' Acquire,
    /// so a worker that sees the counts also sees the started driver state.
    pub fn mark_started(&self, rx: u16, tx: u16) {
        self.started_queues.store(u32::from(rx) << 16 | u32::from(tx), Ordering::Release);
    }

    /// Withdraws the counts before `rte_eth_dev_stop`, so new bursts return 0 without calling DPDK.
    pub fn mark_stopped(&self) {
        self.started_queues.store(0, Ordering::Release);
    }

    #[inline]
    #[allow(clippy::cast_possible_truncation, reason = "the high 16 bits of the packed queue counts")]
    pub fn rx_queue_ok(&self, queue: u16) -> bool {
        queue < (self.started_queues.load(Ordering::Acquire) >> 16) as u16
    }

    #[inline]
    #[allow(clippy::cast_possible_truncation, reason = "the low 16 bits of the packed queue counts")]
    pub fn tx_queue_ok(&self, queue: u16) -> bool {
        queue < self.started_queues.load(Ordering::Acquire) as u16
    }
}

/// True if `port` can index the table (every valid DPDK port id can).
#[inline]
pub(crate) fn in_range(port: u16) -> bool {
    usize::from(port) < MAX_PORTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_bounds_follow_start_and_stop() {
        // The last slot: no other unit test uses it.
        let s = slot(u16::try_from(MAX_PORTS).unwrap() - 1);
        assert!(!s.rx_queue_ok(0) && !s.tx_queue_ok(0), "not started");
        s.mark_started(4, 2);
        assert!(s.rx_queue_ok(3) && !s.rx_queue_ok(4));
        assert!(s.tx_queue_ok(1) && !s.tx_queue_ok(2));
        s.mark_stopped();
        assert!(!s.rx_queue_ok(0) && !s.tx_queue_ok(0));
    }
}
