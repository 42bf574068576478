//! The DPDK runtime: EAL, mempool, ports, and one [`LcoreJob`] per worker lcore.
//!
//! The main lcore stays the control thread: it handles signals and prints stats while the worker
//! lcores poll. Workers read one shared stop flag once per loop; nothing else crosses between the
//! threads on the fast path. Each worker owns queue *i* of every port, so with N workers every port
//! gets N RX and N TX queues.

mod lcore_loop;

pub use lcore_loop::LcoreJob;

use crate::admin::AdminServer;
use crate::config::Config;
use crate::daemon::{Daemon, WorkerHandle};
use crate::pkt::Pkt;
use crate::report::Report;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use vsd_dataplane::worker::Worker;
use vsd_ffi::{ring, Eal, Mempool, Port, PortConf, RssConf};

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
    let nq = lcores.len() as u16;
    let pool = Mempool::pktmbuf("vsd_mbufs", cfg.dpdk.mbufs, MEMPOOL_CACHE, MBUF_DATA_ROOM, None)?;

    let mut ports = Vec::new();
    let mut macs = Vec::new();
    for ifc in &cfg.interfaces {
        let port = Port::by_name(ifc.device())?;
        let conf = PortConf {
            rx_queues: nq,
            tx_queues: nq,
            rx_desc: cfg.dpdk.rx_desc,
            tx_desc: cfg.dpdk.tx_desc,
            rss: (nq > 1).then_some(RssConf { hf: vsd_ffi::ethdev::rss::IP, key: None }),
            mtu: ifc.mtu,
            ..PortConf::default()
        };
        port.configure(&conf, &pool)?;
        port.start()?;
        if let Err(e) = port.promiscuous(true) {
            eprintln!("vsd: interface {}: promiscuous mode not available ({e}); continuing", ifc.name);
        }
        let mac = port.mac_addr()?;
        eprintln!(
            "vsd: interface {} on port {} ({}), MAC {}, {} queue(s)",
            ifc.name,
            port.id(),
            ifc.device(),
            mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
            nq
        );
        ports.push(port);
        macs.push(mac);
    }
    let snap = crate::snapshot::build(cfg, &macs, 1).map_err(RuntimeError::Config)?;
    let tsc_per_ms = (eal.tsc_hz() / 1000).max(1);

    let mut report =
        Report::new(snap.clone(), ports.clone(), cfg.interfaces.iter().map(|i| i.name.clone()).collect());
    let mut handles = Vec::new();
    for (i, lcore) in lcores.iter().enumerate() {
        let worker: Worker<Pkt> = Worker::new(i as u16, snap.clone());
        report.add_worker(worker.stats(), worker.dest_stats());
        let (cmd_tx, cmd_rx) = ring::spsc(&format!("vsd_cmd{i}"), CONTROL_RING)?;
        let (reply_tx, reply_rx) = ring::spsc(&format!("vsd_reply{i}"), CONTROL_RING)?;
        handles.push(WorkerHandle { commands: cmd_tx, replies: reply_rx });
        let job = LcoreJob {
            worker,
            ports: ports.clone(),
            queue: i as u16,
            pool: pool.clone(),
            stop: stop.clone(),
            commands: cmd_rx,
            replies: reply_tx,
            tsc_per_ms,
        };
        eal.launch(*lcore, move || job.run())?;
    }
    let mut daemon = Daemon::new(cfg.clone(), path.to_path_buf(), snap.clone(), handles, report);
    let admin = match AdminServer::bind(&cfg.admin.socket) {
        Ok(a) => Some(a),
        Err(e) => {
            eprintln!("vsd: admin socket {}: {e}; vsadm will not reach this vsd", cfg.admin.socket.display());
            None
        }
    };
    eprintln!("vsd: running: {} service(s), {} worker(s)", snap.services.len(), lcores.len());

    while !stop.load(Relaxed) {
        if sig.dump.swap(false, Relaxed) {
            println!("{}", daemon.report.render(daemon.dests()));
        }
        if sig.reload.swap(false, Relaxed) {
            match daemon.reload() {
                Ok(m) => eprintln!("vsd: {m}"),
                Err(e) => eprintln!("vsd: reload refused, nothing changed: {e}"),
            }
        }
        if let Some(a) = &admin {
            a.poll(&mut daemon);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("vsd: stopping");
    drop(admin);
    eal.wait_all();
    println!("{}", daemon.report.render(daemon.dests()));
    for (port, ifc) in ports.iter().zip(&cfg.interfaces) {
        if let Err(e) = port.stop() {
            eprintln!("vsd: interface {}: stop: {e}", ifc.name);
        }
        if let Err(e) = port.close() {
            eprintln!("vsd: interface {}: close: {e}", ifc.name);
        }
    }
    drop(daemon);
    drop(pool);
    eal.cleanup()?;
    eprintln!("vsd: stopped");
    Ok(())
}
