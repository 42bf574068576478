//! The vsd daemon's library: config loading and validation, the DPDK runtime that drives the
//! sans-IO dataplane, and stats.

pub mod admin;
pub mod config;
pub mod daemon;
pub mod endpoint;
pub mod health;
pub mod listing;
pub mod logging;
pub mod metrics;
pub mod pkt;
pub mod rates;
pub mod reload;
pub mod report;
pub mod runtime;
pub mod snapshot;
pub mod state;

/// What `vsd --check FILE` runs, and `vsd --config FILE` before it starts: load and validate the
/// file, then build the dataplane snapshot, which refuses what the dataplane does not implement yet
/// (with placeholder MACs; the real ones come from the ports). The error reads as vsd prints it,
/// after `vsd: `.
pub fn check(path: &std::path::Path) -> Result<config::Config, String> {
    let cfg = config::load(path).map_err(|e| e.to_string())?;
    snapshot::build(&cfg, &vec![[0; 6]; cfg.interfaces.len()], 0, None)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(cfg)
}
