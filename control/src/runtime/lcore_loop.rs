//! The poll loop of one worker lcore, in DPDK l3fwd's shape.
//!
//! Each pass: rx_burst per port and dequeue per redirect ring → the sans-IO worker per packet →
//! what it hands back into one [`Outbox`] (buffered TX per port, redirects per worker, frees),
//! flushed once per pass. About once a millisecond, between bursts: the timers, when the worker
//! says they are due, and control commands. The worker's own outputs (ARP requests, released
//! packets, fragments, shared neighbours) are drained every pass with buffers from the mempool.
//! One FFI call per burst: the worker reads and rewrites mbuf data in place through [`Pkt`].

use crate::pkt::Pkt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use vsd_dataplane::stats::{DropReason, WorkerStats};
use vsd_dataplane::worker::{Action, Command, Prepared, Reply, Rx, Worker};
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
    pub fn run(self) -> i32 {
        let LcoreJob {
            mut worker,
            ports,
            queue,
            pool,
            stop,
            commands,
            replies,
            polls,
            redirect_to,
            redirect_from,
            port_iface,
            tsc_per_ms,
        } = self;
        let start = vsd_ffi::rdtsc();
        let mut rx: MbufBurst = MbufBurst::new();
        // The burst's parses, kept from the prefetch pass for processing.
        let mut parsed = [Prepared::NONE; vsd_ffi::BURST_SIZE];
        let stats = worker.stats();
        let mut out = Outbox::new(ports.clone(), queue, redirect_to, stats.clone());
        let mut alloc = |iface: u16| {
            let mut m = pool.alloc()?;
            if let Some(p) = ports.get(usize::from(iface)) {
                m.set_port(p.id());
            }
            Some(Pkt(m))
        };
        let mut last_tick = u64::MAX;
        // Busy-cycle accounting reuses the pass's one TSC read: each pass is charged, at the start
        // of the next, to all cycles and, if it received packets, to busy cycles.
        let (mut pass_start, mut busy) = (start, false);
        while !stop.load(Relaxed) {
            let tsc = vsd_ffi::rdtsc();
            let spent = tsc.wrapping_sub(pass_start);
            stats.cycles.add(spent);
            if busy {
                stats.busy_cycles.add(spent);
            }
            (pass_start, busy) = (tsc, false);
            let now = Instant::from_millis(tsc.wrapping_sub(start) / tsc_per_ms);
            for (pi, port) in ports.iter().enumerate() {
                if !polls[pi] || port.rx_burst(queue, &mut rx) == 0 {
                    continue;
                }
                busy = true;
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "one port per interface, and Snapshot::new asserts the interface count is at most 2^16"
                )]
                let iface = pi as u16;
                burst(&mut worker, now, &mut rx, &mut parsed, &mut out, From::Wire(iface));
            }
            for ring in &redirect_from {
                if ring.dequeue_burst(&mut rx) == 0 {
                    continue;
                }
                busy = true;
                burst(&mut worker, now, &mut rx, &mut parsed, &mut out, From::Ring(&port_iface));
            }
            if now.as_millis() != last_tick {
                last_tick = now.as_millis();
                if worker.poll_timeout().is_some_and(|due| due <= now) {
                    worker.handle_timeout(now);
                }
                while let Some(cmd) = commands.dequeue() {
                    if let Some(reply) = worker.handle(now, *cmd) {
                        // The control thread drains replies before asking; a full ring means it
                        // gave up waiting, and the answer is dropped.
                        let _ = replies.enqueue(Box::new(reply));
                    }
                }
            }
            while let Some(act) = worker.poll_output(now, &mut alloc) {
                out.push(act);
            }
            out.flush();
        }
        0
    }
}

/// Where a burst comes from: a port's RX queue, or another worker's redirect ring (each frame then
/// says its port; DPDK port id -> interface index).
#[derive(Clone, Copy)]
enum From<'a> {
    Wire(u16),
    Ring(&'a [u16]),
}

/// One burst through the worker: the prefetch stages, each reading what the one before loaded
/// (packet data, index buckets, then the matched entries; spreading them over successive bursts,
/// a software pipeline, measured slower: see docs/PERFORMANCE.md), then the pipeline per packet,
/// then the end of the burst, before anything leaves. One function for both sources, out of the
/// loop's line: two inlined copies made the loop so large that the parse was no longer inlined
/// into the prefetch stage (~10 cycles per packet).
#[inline(never)]
fn burst(
    worker: &mut Worker<Pkt>,
    now: Instant,
    rx: &mut MbufBurst,
    parsed: &mut [Prepared; vsd_ffi::BURST_SIZE],
    out: &mut Outbox,
    from: From<'_>,
) {
    for m in rx.iter() {
        m.prefetch_data();
    }
    // Whether the burst has IPv6 frames (untagged: tagged ones are dropped), for the third stage.
    let mut v6 = false;
    for (slot, m) in parsed.iter_mut().zip(rx.iter()) {
        worker.prefetch(m, slot);
        v6 |= m.get(12..14) == Some(&[0x86, 0xdd][..]);
    }
    for p in &mut parsed[..rx.len()] {
        worker.prefetch_entry(p);
    }
    if v6 {
        for p in &parsed[..rx.len()] {
            worker.prefetch_addrs(p);
        }
    }
    for (i, m) in rx.drain().enumerate() {
        if !m.is_contiguous() {
            out.stats.count_drop(DropReason::Segmented);
            out.free(m);
            continue;
        }
        let rx = match from {
            From::Wire(iface) => Rx::wire(iface),
            From::Ring(port_iface) => {
                Rx::redirected(port_iface.get(usize::from(m.port())).copied().unwrap_or(0))
            }
        };
        let act = worker.process(now, rx, Pkt(m), &parsed[i]);
        out.push(act);
    }
    worker.end_burst();
}

/// Where the worker's buffers go: TX per port, redirect per worker, frees; flushed once per pass
/// of the loop, or sooner when a buffer fills.
struct Outbox {
    ports: Vec<Port>,
    queue: u16,
    tx: Vec<MbufBurst<TX_BURST>>,
    redirect_to: Vec<Option<Producer<Mbuf, Single>>>,
    redirect: Vec<MbufBurst<TX_BURST>>,
    free: MbufBurst<TX_BURST>,
    stats: Arc<WorkerStats>,
}

impl Outbox {
    fn new(
        ports: Vec<Port>,
        queue: u16,
        redirect_to: Vec<Option<Producer<Mbuf, Single>>>,
        stats: Arc<WorkerStats>,
    ) -> Outbox {
        Outbox {
            tx: ports.iter().map(|_| MbufBurst::new()).collect(),
            redirect: redirect_to.iter().map(|_| MbufBurst::new()).collect(),
            ports,
            queue,
            redirect_to,
            free: MbufBurst::new(),
            stats,
        }
    }

    // Inlined so the action's fields are read one by one, as the worker wrote them: one wide load
    // of the whole action waits until the narrower stores have left the store buffer.
    #[inline(always)]
    fn push(&mut self, act: Action<Pkt>) {
        match act {
            Action::Tx(out, p) => self.tx(usize::from(out), p.0),
            Action::Free(p) => self.free(p.0),
            Action::Held => {}
            Action::Redirect(owner, p) => {
                let w = usize::from(owner);
                if self.redirect.get(w).is_some_and(|b| b.is_full()) {
                    self.flush_redirect(w);
                }
                match self.redirect.get_mut(w) {
                    Some(b) => {
                        if let Err(m) = b.push(p.0) {
                            self.free(m);
                        }
                    }
                    None => self.free(p.0),
                }
            }
        }
    }

    #[inline]
    fn tx(&mut self, port: usize, m: Mbuf) {
        if self.tx[port].is_full() {
            self.flush_port(port);
        }
        if let Err(m) = self.tx[port].push(m) {
            self.free(m);
        }
    }

    #[inline]
    fn free(&mut self, m: Mbuf) {
        if self.free.is_full() {
            self.free.clear();
        }
        // Cannot fail: the burst was just emptied if it was full.
        let _ = self.free.push(m);
    }

    /// Send everything buffered; free what was dropped.
    fn flush(&mut self) {
        for port in 0..self.tx.len() {
            self.flush_port(port);
        }
        for w in 0..self.redirect.len() {
            self.flush_redirect(w);
        }
        self.free.clear();
    }

    /// Send what is buffered for a port; what its queue refuses is dropped and counted.
    #[inline]
    fn flush_port(&mut self, port: usize) {
        let b = &mut self.tx[port];
        if b.is_empty() {
            return;
        }
        let bytes: usize = b.iter().map(|m| m.len()).sum();
        let sent = self.ports[port].tx_burst(self.queue, b);
        self.stats.tx_packets.add(sent as u64);
        let unsent_bytes: usize = b.iter().map(|m| m.len()).sum();
        self.stats.tx_bytes.add((bytes - unsent_bytes) as u64);
        if !b.is_empty() {
            self.stats.drops[DropReason::TxFull as usize].add(b.len() as u64);
            b.clear();
        }
    }

    /// Hand buffered packets to worker `w`; what its ring refuses is dropped and counted.
    fn flush_redirect(&mut self, w: usize) {
        let b = &mut self.redirect[w];
        if b.is_empty() {
            return;
        }
        if let Some(ring) = &self.redirect_to[w] {
            ring.enqueue_burst(b);
        }
        if !b.is_empty() {
            self.stats.drops[DropReason::RedirectFull as usize].add(b.len() as u64);
            b.clear();
        }
    }
}
