//! `vsd`: the director daemon.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use vsd_control::runtime;

// The control plane allocates (config, reports); the fast path never does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// vsd: a DPDK virtual server director (LVS-style load balancer).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Run with this YAML config.
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "check")]
    config: Option<PathBuf>,
    /// Validate this YAML config and exit, without starting DPDK.
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (path, check_only) = match (args.config, args.check) {
        (Some(p), None) => (p, false),
        (None, Some(p)) => (p, true),
        _ => {
            eprintln!("vsd: give --config FILE to run, or --check FILE to validate");
            return ExitCode::from(2);
        }
    };
    let cfg = match vsd_control::check(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vsd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check_only {
        println!("{}: ok", path.display());
        return ExitCode::SUCCESS;
    }
    vsd_control::logging::init();
    let servers: usize = cfg.services.iter().map(|s| s.real_servers.len()).sum();
    tracing::info!(
        "config {}: {} interface(s), {} route(s), {} service(s), {servers} real server(s), workers on lcores {:?}",
        path.display(),
        cfg.interfaces.len(),
        cfg.routes.len(),
        cfg.services.len(),
        cfg.workers.lcores
    );
    for s in &cfg.services {
        tracing::info!(
            "service {}: {} {:?} ports {:?}, {} {}{}, {} real server(s)",
            s.name,
            s.protocol.as_str(),
            s.vips,
            s.ports,
            s.scheduler.as_str(),
            s.forwarding.as_str(),
            s.persistence.as_ref().map_or(String::new(), |p| format!(
                ", persistent {}s /{} /{}",
                p.timeout.as_secs(),
                p.netmask,
                p.netmask6
            )),
            s.real_servers.len()
        );
    }

    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    let sig = runtime::Signals {
        stop: Arc::new(AtomicBool::new(false)),
        dump: Arc::new(AtomicBool::new(false)),
        reload: Arc::new(AtomicBool::new(false)),
    };
    for (signal, flag) in
        [(SIGINT, &sig.stop), (SIGTERM, &sig.stop), (SIGUSR1, &sig.dump), (SIGHUP, &sig.reload)]
    {
        if let Err(e) = signal_hook::flag::register(signal, flag.clone()) {
            tracing::error!("cannot install signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    match runtime::run(&cfg, &path, sig) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
