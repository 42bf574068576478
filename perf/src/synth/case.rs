//! One synthetic case, in this process: EAL, the ports, vsd's worker on lcore 1, the generator on
//! lcore 0 (the main thread), and the window's measurements.
//!
//! The worker is vsd's own: the config is the perf runs' (the same text `vsd --config` would get,
//! checked by vsd's parser and snapshot builder), the [`Worker`] and the [`LcoreJob`] poll loop are
//! the daemon's, only started from here so the generator can live in the same process (with
//! `--no-huge` DPDK memory cannot be shared with another process).
//!
//! The ext port is a `net_ring` vdev, whose RX and TX of a queue share one ring: the generator
//! transmits into queue 0 and the worker receives from it. vsd must then never transmit on ext
//! (the ring is single-producer); the NAT profiles here send everything to int, and the case fails
//! if ext ever carried more than the generator sent. The int port is `net_null`, as in the pcap
//! runs. A full ring makes the generator wait, so the worker runs at its own pace and nothing is
//! lost between the two.

use super::frames::Template;
use super::{Case, CaseResult, Kind};
use crate::cpu;
use crate::profile::{round_order, Profile, Spec, MIN_FRAME};
use crate::setup;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vsd_control::pkt::Pkt;
use vsd_control::runtime::LcoreJob;
use vsd_dataplane::craft::tcp_flags;
use vsd_dataplane::stats::WorkerStats;
use vsd_dataplane::worker::{Command, Reply, Worker};
use vsd_ffi::mempool::DEFAULT_DATA_ROOM;
use vsd_ffi::{ring, Eal, MbufBurst, Mempool, Port, PortConf};

/// The generator's lcore is the main one (0); the worker's is this.
const WORKER_LCORE: u32 = setup::WORKER_LCORE;
/// Mbufs: the ring (1024) and both lcores' caches, with room to spare.
const MBUFS: u32 = 8191;
const MEMPOOL_CACHE: u32 = 256;
/// EAL memory with `--no-huge` (every mbuf takes a 4 KiB page): the pool, rings and EAL's own.
const MEM_MB: u32 = 256;
/// How long the worker may refuse packets before the case is given up.
const STALL: Duration = Duration::from_secs(10);
/// `syn`: the window covers the new connections from this share of the table to that one.
const SYN_WINDOW: (f64, f64) = (0.05, 0.95);

/// What the generator and the stats readers share.
struct Rig {
    ext: Port,
    int: Port,
    pool: Mempool,
    stats: Arc<WorkerStats>,
    pid: u32,
    thread: Option<u32>,
    /// Frames the generator handed to the ring.
    sent: u64,
}

/// Counters at one instant.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    rx: u64,
    tx: u64,
    gen: u64,
    created: u64,
    drops: u64,
    busy_cycles: u64,
    cpu: Option<cpu::Reading>,
}

impl Rig {
    fn sample(&self) -> Result<Sample, String> {
        let ext = self.ext.stats().map_err(|e| e.to_string())?;
        let int = self.int.stats().map_err(|e| e.to_string())?;
        Ok(Sample {
            at: Instant::now(),
            rx: ext.ipackets,
            tx: int.opackets,
            gen: ext.opackets,
            created: self.stats.conns_created.get(),
            drops: self.stats.total_drops(),
            busy_cycles: self.stats.busy_cycles.get(),
            cpu: self.thread.and_then(|t| cpu::read(self.pid, t)),
        })
    }

    /// Send one burst: `n` (≤ 32) frames of `tpl`, the flows from `next`; waits while the ring is
    /// full.
    fn burst(&mut self, tpl: &Template, n: usize, mut next: impl FnMut() -> u64) -> Result<(), String> {
        let mut b = MbufBurst::<{ vsd_ffi::BURST_SIZE }>::new();
        let give_up = Instant::now() + STALL;
        while !self.pool.alloc_bulk(&mut b, n) {
            if Instant::now() > give_up {
                return Err("the mempool stayed empty: the worker holds every mbuf".into());
            }
        }
        for m in b.iter_mut() {
            let buf = m.append(MIN_FRAME).ok_or("an mbuf without room for a minimum frame")?;
            tpl.write(buf, next());
        }
        let mut spins = 0u32;
        while !b.is_empty() {
            if self.ext.tx_burst(0, &mut b) == 0 {
                spins += 1;
                if spins.is_multiple_of(4096) && Instant::now() > give_up {
                    return Err(format!("the worker took nothing for {STALL:?}"));
                }
            }
        }
        self.sent += n as u64;
        Ok(())
    }

    /// Wait until the worker has received everything sent.
    fn drain(&self) -> Result<(), String> {
        let give_up = Instant::now() + STALL;
        while self.ext.stats().map_err(|e| e.to_string())?.ipackets < self.sent {
            if Instant::now() > give_up {
                return Err("the worker stopped receiving".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // The last burst is received; give the worker a moment to process it.
        std::thread::sleep(Duration::from_millis(20));
        Ok(())
    }
}

/// The EAL arguments of a synthetic case.
fn eal_args(prefix: &str) -> Vec<String> {
    let a = ["-l", "0-1", "--no-huge", "--no-pci", "--no-shconf", "-m", &MEM_MB.to_string()];
    let mut a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    a.extend(["--file-prefix".into(), prefix.into(), "--vdev".into(), "net_ring0".into()]);
    a.extend(["--vdev".into(), setup::INT_VDEV.into()]);
    a
}

/// vsd's config for the case: the perf runs' NAT service, with the table sized to `capacity`.
pub fn config(kind: Kind, capacity: u32, prefix: &str) -> String {
    let profile = if kind == Kind::Syn { Profile::Syn } else { Profile::Established };
    let spec = Spec::new(profile, capacity);
    let admin = std::env::temp_dir().join(format!("{prefix}-admin.sock"));
    let text = setup::config_text(&spec, &eal_args(prefix), "net_ring0", MBUFS, &admin);
    setup::with_conn_capacity(text, capacity)
}

fn open(name: &str, cfg: &vsd_control::config::Config, pool: &Mempool) -> Result<Port, String> {
    let port = Port::by_name(name).map_err(|e| e.to_string())?;
    let conf = PortConf { rx_desc: cfg.dpdk.rx_desc, tx_desc: cfg.dpdk.tx_desc, ..PortConf::default() };
    port.configure(&conf, pool).map_err(|e| e.to_string())?;
    port.start().map_err(|e| e.to_string())?;
    Ok(port)
}

/// A poll loop that only moves packets from ext to int: the generator's and the rings' ceiling,
/// what testpmd's io mode would do here.
///
/// It charges busy cycles the way vsd's loop does: a pass that received packets, to the next pass.
fn io_loop(ext: Port, int: Port, stop: Arc<AtomicBool>, stats: Arc<WorkerStats>) -> i32 {
    let mut b = MbufBurst::<{ vsd_ffi::BURST_SIZE }>::new();
    let (mut pass_start, mut busy) = (vsd_ffi::rdtsc(), false);
    while !stop.load(Relaxed) {
        let tsc = vsd_ffi::rdtsc();
        if busy {
            stats.busy_cycles.add(tsc.wrapping_sub(pass_start));
        }
        (pass_start, busy) = (tsc, false);
        if ext.rx_burst(0, &mut b) > 0 {
            busy = true;
            int.tx_burst(0, &mut b);
            b.clear();
        }
    }
    0
}

/// Run `case` in this process. EAL initialises once per process: one case per process.
pub fn run(case: &Case) -> Result<CaseResult, String> {
    let prefix = format!("vsd-perf-synth-{}", std::process::id());
    let capacity = u32::try_from(case.conns).map_err(|_| "conns must fit in 32 bits")?.max(1);
    let text = config(case.kind, capacity, &prefix);
    let cfg = vsd_control::config::parse(&text, "synth.yaml").map_err(|e| format!("{e}\n{text}"))?;
    let mut args = vec!["vsd-perf".to_string()];
    args.extend(cfg.dpdk.eal.iter().cloned());
    let eal = Eal::init(&args).map_err(|e| e.to_string())?;
    let result = run_in(case, &cfg, &eal);
    crate::run::remove_runtime_dir(&prefix);
    result
}

fn run_in(case: &Case, cfg: &vsd_control::config::Config, eal: &Eal) -> Result<CaseResult, String> {
    let pool = Mempool::pktmbuf("synth_mbufs", cfg.dpdk.mbufs, MEMPOOL_CACHE, DEFAULT_DATA_ROOM, None)
        .map_err(|e| e.to_string())?;
    let (ext, int) = (open("net_ring0", cfg, &pool)?, open("net_null0", cfg, &pool)?);
    let macs = [ext.mac_addr().map_err(|e| e.to_string())?, int.mac_addr().map_err(|e| e.to_string())?];
    let snap = vsd_control::snapshot::build(cfg, &macs, 1, None).map_err(|e| e.to_string())?;
    let pid = std::process::id();
    let rss_before = cpu::rss_bytes(pid);
    let worker: Worker<Pkt> = Worker::new(0, snap);
    let (table_bytes, capacity) = (worker.conns().memory_bytes(), worker.conns().capacity());
    let rss_table = cpu::rss_bytes(pid);
    let stats = worker.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let lcore = eal.lcore(WORKER_LCORE).ok_or("no worker lcore 1")?;
    // Kept alive for the job: nobody sends commands here.
    let (_commands, commands) = ring::spsc::<Box<Command>>("synth_cmd", 64).map_err(|e| e.to_string())?;
    let (replies, _replies) = ring::spsc::<Box<Reply>>("synth_reply", 64).map_err(|e| e.to_string())?;
    if case.kind == Kind::Io {
        let (s, st) = (stop.clone(), stats.clone());
        eal.launch(lcore, move || io_loop(ext, int, s, st)).map_err(|e| e.to_string())?;
    } else {
        let job = LcoreJob {
            worker,
            ports: vec![ext, int],
            queue: 0,
            pool: pool.clone(),
            stop: stop.clone(),
            commands,
            replies,
            polls: vec![true, true],
            redirect_to: vec![None],
            redirect_from: Vec::new(),
            port_iface: port_iface(&[ext, int]),
            tsc_per_ms: (eal.tsc_hz() / 1000).max(1),
        };
        eal.launch(lcore, move || job.run()).map_err(|e| e.to_string())?;
    }
    // EAL names the thread when it starts it.
    std::thread::sleep(Duration::from_millis(50));
    let mut rig = Rig { ext, int, pool, stats, pid, thread: cpu::lcore_thread(pid, WORKER_LCORE), sent: 0 };
    let measured = generate(case, &mut rig, ext.mac_addr().map_err(|e| e.to_string())?);
    // The table goes with the job when the worker stops: read the RSS and the live count first.
    let (rss_end, live) = (cpu::rss_bytes(pid), rig.stats.conn_entries.get());
    let huge_end = cpu::anon_huge_bytes(pid);
    stop.store(true, Relaxed);
    eal.wait_lcore(lcore);
    let (fill, a, b) = measured?;
    let end = rig.sample()?;
    if end.gen > rig.sent {
        return Err(format!(
            "vsd transmitted {} frames on ext, which the generator owns",
            end.gen - rig.sent
        ));
    }
    let secs = (b.at - a.at).as_secs_f64();
    let rate = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
    let cpu_share = a.cpu.zip(b.cpu).and_then(|(x, y)| cpu::share(x, y));
    Ok(CaseResult {
        case: *case,
        capacity: capacity as u64,
        window_s: secs,
        rx_pps: rate(a.rx, b.rx),
        tx_pps: rate(a.tx, b.tx),
        new_conns_per_s: rate(a.created, b.created),
        drops_per_s: rate(a.drops, b.drops),
        cpu_share,
        busy_cycles_per_packet: (b.rx > a.rx)
            .then(|| b.busy_cycles.saturating_sub(a.busy_cycles) as f64 / (b.rx - a.rx) as f64),
        tsc_hz: eal.tsc_hz() as f64,
        fill_conns_per_s: fill,
        live_conns: live,
        table_bytes: table_bytes as u64,
        rss_before_table: rss_before,
        rss_with_table: rss_table,
        rss_end,
        anon_huge_end: huge_end,
    })
}

fn port_iface(ports: &[Port]) -> Vec<u16> {
    let mut v = vec![u16::MAX; 1 + ports.iter().map(|p| usize::from(p.id())).max().unwrap_or(0)];
    for (i, p) in (0u16..).zip(ports) {
        v[usize::from(p.id())] = i;
    }
    v
}

/// Drive the traffic; returns the SYN fill rate of `established` (new connections per second
/// while the table filled) and the window's two samples.
fn generate(case: &Case, rig: &mut Rig, mac: [u8; 6]) -> Result<(Option<f64>, Sample, Sample), String> {
    let n = case.conns.max(1);
    let syn = Template::new(mac, tcp_flags::SYN);
    let ack = Template::new(mac, tcp_flags::ACK);
    let warmup = Duration::from_secs_f64(case.warmup_s);
    let window = Duration::from_secs_f64(case.seconds);
    match case.kind {
        Kind::Syn => {
            // Every frame a new flow; the window is the middle of the fill, and at most `seconds`.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "fractions of n within 0..=1, and a float cast saturates"
            )]
            let (from, to) = ((n as f64 * SYN_WINDOW.0) as u64, (n as f64 * SYN_WINDOW.1) as u64);
            let mut f = 0u64;
            let mut a = None;
            while f < to {
                if a.is_none() && f >= from {
                    a = Some(rig.sample()?);
                }
                if a.is_some_and(|a: Sample| a.at.elapsed() >= window) {
                    break;
                }
                let k = (to - f).min(32) as usize;
                rig.burst(&syn, k, || {
                    f += 1;
                    f - 1
                })?;
            }
            let a = a.ok_or("no window")?;
            Ok((None, a, rig.sample()?))
        }
        Kind::Established | Kind::Io => {
            let mut fill = None;
            if case.kind == Kind::Established {
                let s0 = rig.sample()?;
                let mut f = 0u64;
                while f < n {
                    let k = (n - f).min(32) as usize;
                    rig.burst(&syn, k, || {
                        f += 1;
                        f - 1
                    })?;
                }
                rig.drain()?;
                let s1 = rig.sample()?;
                if s1.created - s0.created < n {
                    return Err(format!("only {} of {n} connections were created", s1.created - s0.created));
                }
                fill = Some((s1.created - s0.created) as f64 / (s1.at - s0.at).as_secs_f64());
            }
            // ACKs over every connection in one shuffled order, again and again.
            let order = round_order(u32::try_from(n).map_err(|_| "too many flows")?, 0);
            let mut j = 0usize;
            let mut next = || {
                let f = order[j];
                j = if j + 1 == order.len() { 0 } else { j + 1 };
                u64::from(f)
            };
            let start = Instant::now();
            while start.elapsed() < warmup {
                rig.burst(&ack, 32, &mut next)?;
            }
            let a = rig.sample()?;
            while a.at.elapsed() < window {
                rig.burst(&ack, 32, &mut next)?;
            }
            Ok((fill, a, rig.sample()?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vsd_accepts_the_synthetic_config() {
        for kind in [Kind::Established, Kind::Syn, Kind::Io] {
            let text = config(kind, 10_000_000, "p");
            let cfg =
                vsd_control::config::parse(&text, "synth.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(cfg.conn_table.capacity, 10_000_000);
            assert_eq!(cfg.interfaces[0].device(), "net_ring0");
            assert_eq!(cfg.interfaces[1].device(), "net_null0");
            assert!(cfg.dpdk.eal.iter().any(|a| a == "--no-huge"));
            let macs = vec![[2, 0, 0, 0, 0, 0]; cfg.interfaces.len()];
            vsd_control::snapshot::build(&cfg, &macs, 0, None).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        }
    }
}
