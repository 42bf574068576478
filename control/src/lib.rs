//! The vsd daemon's library: config loading and validation, the DPDK runtime that drives the
//! sans-IO dataplane, and stats.

pub mod admin;
pub mod config;
pub mod daemon;
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
