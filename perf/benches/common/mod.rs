//! What the benches share: short criterion settings, flow keys in a reproducible shuffled order,
//! and vsd's own snapshot of a perf config.
//!
//! The snapshot is built the way vsd builds it, from the YAML of a perf run through vsd's config
//! parser and snapshot builder, so the benches follow the dataplane's internals without naming
//! them.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vsd_dataplane::service::Snapshot;
use vsd_dataplane::{Addr, FlowKey, Proto};
use vsd_perf::profile::{Profile, Spec};
use vsd_perf::{setup, topology};

/// Short runs: `make bench` has to finish in minutes on a shared 2-vCPU machine.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

/// A burst, as the runtime receives them.
pub const BURST: usize = 32;

/// Client → VIP key of flow `i`: 256 clients, then ports.
pub fn key(i: u32) -> FlowKey {
    FlowKey {
        src: Addr::from_v4(topology::client(i % 256)),
        dst: Addr::from_v4(topology::VIP),
        sport: 1024 + u16::try_from(i / 256).expect("a benchmark key's port"),
        dport: topology::VPORT,
        proto: Proto::Tcp,
    }
}

/// splitmix64 steps: a reproducible stream without a rand dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `0..n` shuffled (Fisher–Yates), so consecutive lookups land on unrelated buckets.
pub fn shuffled(n: u32, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut rng = Rng(seed);
    for i in (1..v.len()).rev() {
        let j = usize::try_from(rng.next() % (i as u64 + 1)).unwrap();
        v.swap(i, j);
    }
    v
}

/// vsd's snapshot for a perf run of `profile` (placeholder port MACs, as `vsd --check` uses).
pub fn snapshot(profile: Profile) -> Arc<Snapshot> {
    let spec = Spec::new(profile, 1024);
    let mem = setup::Memory::for_spec(&spec, None).expect("fits");
    let yaml = setup::vsd_config(
        &spec,
        mem,
        "bench",
        Path::new("/nonexistent.pcap"),
        Path::new("/nonexistent.sock"),
    );
    let cfg = vsd_control::config::parse(&yaml, "bench.yaml").expect("vsd parses the perf config");
    let macs: Vec<[u8; 6]> = vec![topology::EXT_MAC, [0x02, 0, 0, 0, 0, 0xee]];
    vsd_control::snapshot::build(&cfg, &macs, 1, None).expect("vsd builds the perf snapshot")
}
