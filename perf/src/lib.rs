//! vsd-perf: testpmd-style perf runs of vsd, side by side with `dpdk-testpmd`.
//!
//! Every figure is taken in the same invocation for vsd and for testpmd (`io` and `5tswap`), on the
//! same vdevs and the same pcap, because the machines these runs happen on are shared and noisy:
//! absolute packet rates move from run to run, ratios much less. The library holds the pieces
//! (profiles, configs, output parsers, the result table, process handling); `main.rs` is the
//! command line. Flow counts a pcap cannot hold come from [`synth`], which runs vsd's worker
//! in-process beside a generator and takes its reference (`io`) in the same invocation.

pub mod child;
pub mod counters;
pub mod cpu;
pub mod machine;
pub mod profile;
pub mod result;
pub mod run;
pub mod setup;
pub mod synth;
pub mod topology;
