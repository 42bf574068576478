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
use vsd_dataplane::worker::{Action, Command, Prepared, Reply, Worker};
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
    /// Per port: whether this worker has an RX queue there (a port may have fewer than workers).
    pub polls: Vec<bool>,
    /// Redirect rings to each other worker (`None` at this worker's own index), and from them.
    pub redirect_to: Vec<Option<Producer<Mbuf, Single>>>,
    pub redirect_from: Vec<Consumer<Mbuf, Single>>,
    /// DPDK port id -> interface index.
    pub port_iface: Vec<u16>,
    /// TSC ticks per millisecond, for the sans-IO clock.
    pub tsc_per_ms: u64,
}

impl LcoreJob {
    pub fn run(mut self) -> i32 {
        let start = vsd_ffi::rdtsc();
        let mut rx: MbufBurst = MbufBurst::new();
        // The burst's parses, kept from the prefetch pass for processing.
        let mut parsed = [Prepared::NONE; vsd_ffi::BURST_SIZE];
        let mut tx: Vec<MbufBurst<TX_BURST>> = self.ports.iter().map(|_| MbufBurst::new()).collect();
        let mut free: MbufBurst<TX_BURST> = MbufBurst::new();
        let mut redirect: Vec<MbufBurst<TX_BURST>> =
            self.redirect_to.iter().map(|_| MbufBurst::new()).collect();
        let mut last_tick = u64::MAX;
        let stats = self.worker.stats();
        // Busy-cycle accounting reuses the pass's one TSC read: each pass is charged, at the start
        // of the next, to all cycles and, if it received packets, to busy cycles.
        let (mut pass_start, mut busy) = (start, false);
        while !self.stop.load(Relaxed) {
            let tsc = vsd_ffi::rdtsc();
            let spent = tsc.wrapping_sub(pass_start);
            stats.cycles.add(spent);
            if busy {
                stats.busy_cycles.add(spent);
            }
            (pass_start, busy) = (tsc, false);
            let now = Instant::from_millis(tsc.wrapping_sub(start) / self.tsc_per_ms);
            for (pi, port) in self.ports.iter().enumerate() {
                if !self.polls[pi] || port.rx_burst(self.queue, &mut rx) == 0 {
                    continue;
                }
                busy = true;
                // Prefetch in stages over the burst, each reading what the one before loaded:
                // packet data, index buckets, then the matched entries. (Spreading the stages over
                // successive bursts, a software pipeline, measured slower: see docs/PERFORMANCE.md.)
                for m in rx.iter() {
                    m.prefetch_data();
                }
                for (slot, m) in parsed.iter_mut().zip(rx.iter()) {
                    self.worker.prefetch(m, slot);
                }
                for p in &mut parsed[..rx.len()] {
                    self.worker.prefetch_entry(p);
                }
                for (i, m) in rx.drain().enumerate() {
                    if !m.is_contiguous() {
                        stats.count_drop(DropReason::Segmented);
                        push_free(&mut free, m);
                        continue;
                    }
                    let act = self.worker.process_prepared(now, pi as u16, Pkt(m), &parsed[i]);
                    self.act(act, &mut tx, &mut free, &mut redirect);
                }
                self.worker.end_burst();
            }
            for ring in 0..self.redirect_from.len() {
                if self.redirect_from[ring].dequeue_burst(&mut rx) == 0 {
                    continue;
                }
                busy = true;
                for m in rx.drain() {
                    let iface = self.port_iface.get(usize::from(m.port())).copied().unwrap_or(0);
                    let act = self.worker.process_redirected(now, iface, Pkt(m));
                    self.act(act, &mut tx, &mut free, &mut redirect);
                }
            }
            if self.worker.wants_fragment() {
                self.fragments(now, &mut tx, &mut free, &mut redirect);
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
                self.share_neighbours(&mut redirect, &mut free);
            }
            for (pi, port) in self.ports.iter().enumerate() {
                self.flush(*port, &mut tx[pi], &stats);
            }
            for (w, b) in redirect.iter_mut().enumerate() {
                self.flush_redirect(w, b, &stats);
            }
            free.clear();
        }
        for b in tx.iter_mut() {
            b.clear();
        }
        0
    }

    // Inlined so the action's fields are read one by one, as the worker wrote them: one wide load
    // of the whole action waits until the narrower stores have left the store buffer.
    #[inline(always)]
    fn act(
        &self,
        act: Action<Pkt>,
        tx: &mut [MbufBurst<TX_BURST>],
        free: &mut MbufBurst<TX_BURST>,
        redirect: &mut [MbufBurst<TX_BURST>],
    ) {
        match act {
            Action::Tx(out, p) => self.enqueue(tx, free, out, p.0),
            Action::Free(p) => push_free(free, p.0),
            Action::Held => {}
            Action::Redirect(owner, p) => {
                let b = &mut redirect[usize::from(owner)];
                if b.is_full() {
                    self.flush_redirect(usize::from(owner), b, &self.worker.stats());
                }
                if let Err(m) = b.push(p.0) {
                    push_free(free, m);
                }
            }
        }
    }

    /// The later fragments of oversized tunnel packets (DF clear), each in a fresh buffer.
    fn fragments(
        &mut self,
        now: Instant,
        tx: &mut [MbufBurst<TX_BURST>],
        free: &mut MbufBurst<TX_BURST>,
        redirect: &mut [MbufBurst<TX_BURST>],
    ) {
        while self.worker.wants_fragment() {
            let Some(m) = self.pool.alloc() else {
                self.worker.stats().count_drop(DropReason::NoMbuf);
                break;
            };
            let act = self.worker.poll_fragment(now, Pkt(m));
            self.act(act, tx, free, redirect);
        }
    }

    /// Hand buffered packets to worker `w`; what its ring refuses is dropped and counted.
    fn flush_redirect(
        &self,
        w: usize,
        b: &mut MbufBurst<TX_BURST>,
        stats: &vsd_dataplane::stats::WorkerStats,
    ) {
        if b.is_empty() {
            return;
        }
        if let Some(ring) = &self.redirect_to[w] {
            ring.enqueue_burst(b);
        }
        if !b.is_empty() {
            stats.drops[DropReason::RedirectFull as usize].add(b.len() as u64);
            b.clear();
        }
    }

    /// Tell the other workers what neighbours this one learned from the wire.
    fn share_neighbours(&mut self, redirect: &mut [MbufBurst<TX_BURST>], free: &mut MbufBurst<TX_BURST>) {
        while let Some(share) = self.worker.take_neigh_share() {
            for w in (0..self.redirect_to.len()).filter(|&w| self.redirect_to[w].is_some()) {
                let Some(mut m) = self.pool.alloc() else {
                    self.worker.stats().count_drop(DropReason::NoMbuf);
                    return;
                };
                m.set_port(self.ports[usize::from(share.iface)].id());
                let mut p = Pkt(m);
                if !self.worker.write_neigh_share(&share, &mut p) {
                    push_free(free, p.0);
                    continue;
                }
                if let Err(m) = redirect[w].push(p.0) {
                    push_free(free, m);
                }
            }
        }
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
