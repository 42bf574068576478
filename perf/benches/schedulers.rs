//! Scheduler picks, one bench per LVS scheduler, and the Maglev lookup-table build.
//!
//! A pick happens once per new connection, so it bounds new connections per second. Eight real
//! servers with unequal weights and loads, as a busy service has; the least-connection family
//! scans all of them per pick, the hashing ones index a table. The Maglev build is the slow path of
//! a weight or server change, measured at service sizes from small to large.

mod common;

use common::{key, Rng};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use vsd_dataplane::sched::{DestLoad, SchedKind, Scheduler};
use vsd_dataplane::{Addr, FlowKey};

fn dests(n: u32) -> Vec<DestLoad> {
    (0..n)
        .map(|i| {
            // Weights 100..400 and fewer active connections than weight, so that every scheduler,
            // overflow included (it only picks servers below their weight), has a choice to make.
            let mut d = DestLoad::new(
                Addr::from_v4([198, 19, i.to_be_bytes()[2], i.to_be_bytes()[3]]),
                8080,
                100 * (1 + i % 4),
            );
            d.active = 10 + (i * 37) % 80;
            d.inactive = (i * 11) % 20;
            d
        })
        .collect()
}

fn picks(c: &mut Criterion) {
    let mut g = c.benchmark_group("sched_pick");
    g.throughput(Throughput::Elements(1));
    let d = dests(8);
    let mut rng = Rng(5);
    let keys: Vec<FlowKey> = (0..4096).map(|_| key((rng.next() % (1 << 20)) as u32)).collect();
    for kind in SchedKind::ALL {
        let mut s = Scheduler::new(kind);
        s.update(&d);
        assert!(s.pick(&d, &keys[0]).is_some(), "{kind} picks from usable servers");
        let mut i = 0usize;
        g.bench_function(kind.name(), |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(s.pick(&d, &keys[i]))
            })
        });
    }
    g.finish();
}

fn maglev_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("maglev_build");
    for n in [8u32, 64, 256] {
        let d = dests(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &d, |b, d| {
            b.iter(|| {
                let mut s = Scheduler::new(SchedKind::Mh);
                s.update(black_box(d));
                s
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = picks, maglev_build
}
criterion_main!(benches);
