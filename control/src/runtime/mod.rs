//! The DPDK runtime: EAL, mempool, ports, and one [`LcoreJob`] per worker lcore.
//!
//! The main lcore stays the control thread: it handles signals and prints stats while the worker
//! lcores poll. Workers read one shared stop flag once per loop; nothing else crosses between the
//! threads on the fast path. Each worker owns queue *i* of every port, so with N workers every port
//! gets N RX and N TX queues.

mod lcore_loop;
mod ports;

pub use lcore_loop::LcoreJob;

use crate::admin::AdminServer;
use crate::config::Config;
use crate::daemon::{first_snapshot, Daemon, WorkerHandle};
use crate::metrics::{self, MetricsServer};
use crate::pkt::Pkt;
use crate::reload;
use crate::report::Report;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use vsd_dataplane::service::dest_id;
use vsd_dataplane::steer::{Steering, DEFAULT_KEY};
use vsd_dataplane::worker::Worker;
use vsd_ffi::{ring, Eal, Mbuf, Mempool};

/// Mbuf data room: a 1500-byte MTU frame plus headroom for encapsulation (DPDK's default size).
const MBUF_DATA_ROOM: u16 = 2048 + 128;
/// Per-lcore mempool cache (DPDK's customary 256; must be ≤ n/1.5).
const MEMPOOL_CACHE: u32 = 256;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Dpdk(#[from] vsd_ffi::Error),
    #[error("{0}")]
    Config(String),
}

/// Flags the signal handlers set and the control thread polls.
pub struct Signals {
    /// SIGINT/SIGTERM: stop.
    pub stop: Arc<AtomicBool>,
    /// SIGUSR1: print the stats report.
    pub dump: Arc<AtomicBool>,
    /// SIGHUP: reload the config file.
    pub reload: Arc<AtomicBool>,
}

/// Depth of each worker's command and reply rings; commands are rare and small.
const CONTROL_RING: u32 = 256;
/// Depth of each redirect ring: several bursts, so a briefly busy owner drops nothing.
const REDIRECT_RING: u32 = 1024;

/// The owner function for `workers` cores: the steering prefix is the coarsest persistence
/// netmask in use, so that a persistence netmask's clients all meet on one core. A reload cannot
/// change it ([`reload::check_steering`]).
fn steering_for(cfg: &Config, workers: u16) -> Steering {
    let (v4, v6) = reload::steering_prefixes(cfg);
    Steering::new(workers, v4, v6, DEFAULT_KEY)
}

/// The steering mode's short name, for the `vsd_port_steering_info` metric.
fn steering_kind(mode: &ports::SteeringMode) -> &'static str {
    match mode {
        ports::SteeringMode::Single => "single",
        ports::SteeringMode::Hardware { .. } => "hardware_rss",
        ports::SteeringMode::Redirect(_) => "software_redirect",
    }
}

/// Run vsd until a stop signal.
pub fn run(cfg: &Config, path: &Path, sig: Signals) -> Result<(), RuntimeError> {
    let stop = sig.stop.clone();
    let mut args = vec!["vsd".to_string()];
    args.extend(cfg.dpdk.eal.iter().cloned());
    let eal = Eal::init(&args)?;
    let lcores = cfg
        .workers
        .lcores
        .iter()
        .map(|&id| {
            eal.lcore(id).filter(|l| *l != eal.main_lcore()).ok_or_else(|| {
                RuntimeError::Config(format!(
                    "workers.lcores: lcore {id} is not a worker lcore of EAL (check -l/--lcores in dpdk.eal; \
                     the first lcore is the control thread)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let nq = u16::try_from(lcores.len())
        .map_err(|_| RuntimeError::Config("workers.lcores: more than 65535 worker lcores".into()))?;
    let pool = Mempool::pktmbuf("vsd_mbufs", cfg.dpdk.mbufs, MEMPOOL_CACHE, MBUF_DATA_ROOM, None)?;

    let steering = Arc::new(steering_for(cfg, nq));
    let mut ports = Vec::new();
    let mut macs = Vec::new();
    let mut rx_queues = Vec::new();
    let mut modes = Vec::new();
    for ifc in &cfg.interfaces {
        let open = ports::open(cfg, ifc, nq, &steering, &pool)?;
        tracing::info!(
            "interface {} on port {} ({}), MAC {}, {} RX queue(s), steering: {}",
            ifc.name,
            open.port.id(),
            ifc.device(),
            open.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
            open.rx_queues,
            open.mode
        );
        ports.push(open.port);
        macs.push(open.mac);
        rx_queues.push(open.rx_queues);
        modes.push(open.mode);
    }
    // DPDK port id -> interface index, for packets that come back over a redirect ring.
    let mut port_iface = vec![u16::MAX; 1 + ports.iter().map(|p| usize::from(p.id())).max().unwrap_or(0)];
    for (i, p) in (0u16..).zip(&ports) {
        port_iface[usize::from(p.id())] = i;
    }
    let snap = Arc::new(first_snapshot(cfg, &macs).map_err(|e| RuntimeError::Config(e.to_string()))?);
    let tsc_per_ms = (eal.tsc_hz() / 1000).max(1);

    let mut report = Report::new(
        snap.clone(),
        ports.clone(),
        cfg.interfaces.iter().zip(&modes).map(|(i, m)| (i.name.clone(), m.to_string())).collect(),
    );
    let mut scrape = metrics::Sources::new(snap.clone());
    for ((ifc, port), mode) in cfg.interfaces.iter().zip(&ports).zip(&modes) {
        let (kind, detail) = (steering_kind(mode), mode.to_string());
        scrape.ports.push(metrics::PortSource::ethdev(&ifc.name, ifc.device(), *port, kind, detail));
    }
    // One SPSC redirect ring per ordered pair of workers: ring[i][j] carries i's packets to j.
    let n = lcores.len();
    let mut to: Vec<Vec<Option<ring::Producer<Mbuf, ring::Single>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut from: Vec<Vec<ring::Consumer<Mbuf, ring::Single>>> = (0..n).map(|_| Vec::new()).collect();
    for (i, row) in to.iter_mut().enumerate() {
        for j in (0..n).filter(|&j| j != i) {
            let (p, c) = ring::spsc(&format!("vsd_rd{i}_{j}"), REDIRECT_RING)?;
            row[j] = Some(p);
            from[j].push(c);
        }
    }
    let mut handles = Vec::new();
    for (i, (lcore, (redirect_to, redirect_from))) in (0..nq).zip(lcores.iter().zip(to.into_iter().zip(from)))
    {
        let worker: Worker<Pkt> = Worker::new(i, snap.clone()).with_steering(steering.clone());
        report.add_worker(worker.stats(), worker.dest_stats());
        scrape.add_worker(worker.stats(), worker.dest_stats());
        let (cmd_tx, cmd_rx) = ring::spsc(&format!("vsd_cmd{i}"), CONTROL_RING)?;
        let (reply_tx, reply_rx) = ring::spsc(&format!("vsd_reply{i}"), CONTROL_RING)?;
        handles.push(WorkerHandle { commands: cmd_tx, replies: reply_rx });
        let job = LcoreJob {
            worker,
            ports: ports.clone(),
            queue: i,
            pool: pool.clone(),
            stop: stop.clone(),
            commands: cmd_rx,
            replies: reply_tx,
            polls: rx_queues.iter().map(|&q| i < q).collect(),
            redirect_to,
            redirect_from,
            port_iface: port_iface.clone(),
            tsc_per_ms,
        };
        eal.launch(*lcore, move || job.run())?;
    }
    let (prefix_v4, prefix_v6) = steering.prefixes();
    let running = reload::Steering { workers: steering.workers(), prefix_v4, prefix_v6 };
    let mut daemon = Daemon::new(cfg.clone(), path.to_path_buf(), snap.clone(), handles, report, running);
    daemon.share_counters(scrape.dests.clone());
    match daemon.start_health() {
        Ok(0) => {}
        Ok(n) => tracing::info!("health: checking {n} real server(s)"),
        Err(e) => tracing::warn!("{e}"),
    }
    let admin = match AdminServer::bind(&cfg.admin.socket) {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!("admin socket {}: {e}; vsadm will not reach this vsd", cfg.admin.socket.display());
            None
        }
    };
    tracing::info!("running: {} service(s), {} worker(s)", snap.services.len(), lcores.len());
    let metrics = match MetricsServer::start(cfg.metrics.listen, scrape) {
        Ok(m) => {
            tracing::info!("metrics on http://{}/metrics", m.local_addr());
            Some(m)
        }
        Err(e) => {
            tracing::warn!("metrics.listen {}: {e}; no metrics", cfg.metrics.listen);
            None
        }
    };

    while !stop.load(Relaxed) {
        if sig.dump.swap(false, Relaxed) {
            println!("{}", daemon.report.render(daemon.dests()));
        }
        if sig.reload.swap(false, Relaxed) {
            match daemon.reload() {
                Ok(m) => tracing::info!("{m}"),
                Err(e) if e.changed() => tracing::warn!("reload: {e}"),
                Err(e) => tracing::warn!("reload refused: {}", e.outcome()),
            }
        }
        daemon.poll_workers();
        if let Some(a) = &admin {
            a.poll(&mut daemon);
        }
        daemon.tick_rates();
        match daemon.poll_health() {
            Ok(lines) => lines.iter().for_each(|l| tracing::info!("health: {l}")),
            Err(e) => tracing::warn!("health: {e}"),
        }
        if let Some(m) = &metrics {
            m.publish(daemon.snapshot(), daemon.dests(), |d| daemon.health().board.is_up(dest_id(d)));
            // Ports are started and workers launched: ready from the first published view on.
            m.set_ready(true);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::info!("stopping");
    if let Some(m) = &metrics {
        m.set_ready(false);
    }
    drop(admin);
    eal.wait_all();
    println!("{}", daemon.report.render(daemon.dests()));
    // Scrapes read the ports: stop them before the ports close.
    drop(metrics);
    for (port, ifc) in ports.iter().zip(&cfg.interfaces) {
        if let Err(e) = port.stop() {
            tracing::warn!("interface {}: stop: {e}", ifc.name);
        }
        if let Err(e) = port.close() {
            tracing::warn!("interface {}: close: {e}", ifc.name);
        }
    }
    drop(daemon);
    drop(pool);
    eal.cleanup()?;
    tracing::info!("stopped");
    Ok(())
}
