//! Prometheus metrics and health endpoints: `/metrics`, `/healthz`, `/readyz` on `metrics.listen`.
//!
//! Nothing here runs on a worker or adds to the fast path. Workers already keep single-writer
//! counters (`vsd_dataplane::stats`); a scrape reads them with relaxed loads, sums the cores, reads
//! the ports' ethdev counters, and renders the lot through `prometheus-client`. The pieces:
//! `families` (every exported family as data), `sources` (what a scrape reads), `collect` (the
//! rendering), `http` (just enough HTTP/1.1) and `server` (the thread and its routes). The metric
//! reference for operators is docs/METRICS.md.

mod collect;
pub mod families;
pub mod http;
mod server;
mod sources;

#[cfg(test)]
mod openmetrics;
#[cfg(test)]
mod tests;

pub use collect::VsdCollector;
pub use server::{render, respond, MetricsServer, OPENMETRICS};
pub use sources::{ControlView, DestCounters, DestView, PortReader, PortSource, Sources, WorkerSource};
