//! The poll loop of one worker lcore, in DPDK l3fwd's shape.
//!
//! rx_burst per port → the sans-IO worker per packet → buffered TX per port, flushed once per
//! loop; timers between bursts, about once a millisecond. One FFI call per burst: the worker reads
//! and rewrites mbuf data in place through [`Pkt`], never through a call. Dropped packets are
//! collected and freed in bulk.

use crate::pkt::Pkt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use vsd_dataplane::stats::DropReason;
use vsd_dataplane::worker::{Action, Command, Reply, Worker};
use vsd_dataplane::Instant;
use vsd_ffi::ring::{Consumer, Producer, Single};
use vsd_ffi::{Mbuf, MbufBurst, Mempool, Port};

/// TX buffer per port: a full RX burst may all go out of one port, plus what the worker emits.
const TX_BURST: usize = 64;

/// Everything one worker lcore needs; moved onto the lcore at launch.
pub struct LcoreJob {
    pub worker: Worker<Pkt>,
    pub ports: Vec<Port>,
    pub queue: u16,
    /// A cheap handle (reference-counted inside).
    pub pool: Mempool,
    pub stop: Arc<AtomicBool>,
    /// Control messages in, answers out (see `vsd_dataplane::worker::Command`).
    pub commands: Consumer<Box<Command>, Single>,
    pub replies: Producer<Box<Reply>, Single>,
    /// TSC ticks per millisecond, for the sans-IO clock.
    pub tsc_per_ms: u64,
}

impl LcoreJob {
    pub fn run(mut self) -> i32 {
        let start = vsd_ffi::rdtsc();
        let mut rx: MbufBurst = MbufBurst::new();
        let mut tx: Vec<MbufBurst<TX_BURST>> = self.ports.iter().map(|_| MbufBurst::new()).collect();
        let mut free: MbufBurst<TX_BURST> = MbufBurst::new();
        let mut last_tick = u64::MAX;
        let stats = self.worker.stats();
        while !self.stop.load(Relaxed) {
            let now = Instant::from_millis(vsd_ffi::rdtsc().wrapping_sub(start) / self.tsc_per_ms);
            for (pi, port) in self.ports.iter().enumerate() {
                if port.rx_burst(self.queue, &mut rx) == 0 {
                    continue;
                }
                for m in rx.drain() {
                    if !m.is_contiguous() {
                        stats.count_drop(DropReason::Segmented);
                        push_free(&mut free, m);
                        continue;
                    }
                    match self.worker.process(now, pi as u16, Pkt(m)) {
                        Action::Tx(out, p) => self.enqueue(&mut tx, &mut free, out, p.0),
                        Action::Free(p) => push_free(&mut free, p.0),
                        Action::Held => {}
                    }
                }
            }
            if now.as_millis() != last_tick {
                last_tick = now.as_millis();
                self.worker.poll_timers(now);
                while let Some(cmd) = self.commands.dequeue() {
                    if let Some(reply) = self.worker.handle(now, *cmd) {
                        // The control thread drains replies before asking; a full ring means it
                        // gave up waiting, and the answer is dropped.
                        let _ = self.replies.enqueue(Box::new(reply));
                    }
                }
                self.emit(&mut tx, &mut free);
            }
            for (pi, port) in self.ports.iter().enumerate() {
                self.flush(*port, &mut tx[pi], &stats);
            }
            free.clear();
        }
        for b in tx.iter_mut() {
            b.clear();
        }
        0
    }

    /// Packets the worker sends on its own: released after ARP, ARP requests; and ones to free.
    fn emit(&mut self, tx: &mut [MbufBurst<TX_BURST>], free: &mut MbufBurst<TX_BURST>) {
        while let Some((out, p)) = self.worker.poll_tx() {
            self.enqueue(tx, free, out, p.0);
        }
        while let Some(p) = self.worker.poll_free() {
            push_free(free, p.0);
        }
        while self.worker.wants_arp_request() {
            let Some(m) = self.pool.alloc() else {
                self.worker.stats().count_drop(DropReason::NoMbuf);
                break;
            };
            let mut p = Pkt(m);
            match self.worker.poll_arp_request(&mut p) {
                Some(out) => self.enqueue(tx, free, out, p.0),
                None => push_free(free, p.0),
            }
        }
    }

    #[inline]
    fn enqueue(&self, tx: &mut [MbufBurst<TX_BURST>], free: &mut MbufBurst<TX_BURST>, out: u16, m: Mbuf) {
        let b = &mut tx[out as usize];
        if b.is_full() {
            self.flush(self.ports[out as usize], b, &self.worker.stats());
        }
        if let Err(m) = b.push(m) {
            push_free(free, m);
        }
    }

    /// Send what is buffered for `port`; what the queue refuses is dropped and counted.
    #[inline]
    fn flush(&self, port: Port, b: &mut MbufBurst<TX_BURST>, stats: &vsd_dataplane::stats::WorkerStats) {
        if b.is_empty() {
            return;
        }
        let bytes: usize = b.iter().map(|m| m.len()).sum();
        let sent = port.tx_burst(self.queue, b);
        stats.tx_packets.add(sent as u64);
        let unsent_bytes: usize = b.iter().map(|m| m.len()).sum();
        stats.tx_bytes.add((bytes - unsent_bytes) as u64);
        if !b.is_empty() {
            stats.drops[DropReason::TxFull as usize].add(b.len() as u64);
            b.clear();
        }
    }
}

#[inline]
fn push_free(free: &mut MbufBurst<TX_BURST>, m: Mbuf) {
    if free.is_full() {
        free.clear();
    }
    // Cannot fail: the burst was just emptied if it was full.
    let _ = free.push(m);
}
