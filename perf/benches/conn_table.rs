//! The connection table: lookups that hit and miss at 1 K to 10 M live connections, without
//! prefetch, with the burst's buckets prefetched first (`+prefetch`), and with the worker's two
//! stages, buckets then matched entries (`+prefetch2`); inserts, and template lookups.
//!
//! Lookups go a burst (32 keys) at a time in a shuffled order, as packets of many flows arrive:
//! that is where prefetch can help, by starting all the burst's bucket loads before the first
//! compare waits on one. At 1 K connections everything is in L1/L2 and prefetch can only cost; at
//! 1 M the index alone is ~20 MiB and each lookup is a cache (and TLB) miss without it. At 10 M the
//! keys looked up are a shuffled 1 M of the table's (the key vectors would otherwise take 800 MB).

mod common;

use common::{shuffled, BURST};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant as WallClock};
use vsd_dataplane::conn::{Conn, ConnState, ConnTable, Fwd, F_TEMPLATE};
use vsd_dataplane::{Addr, FlowKey, Instant};

const SIZES: [u32; 4] = [1 << 10, 1 << 16, 1 << 20, 10_000_000];
/// Keys looked up per size, at most: a shuffled sample of the table's.
const MAX_KEYS: usize = 1 << 20;

/// Client → VIP key of flow `i`, as the synthetic generator numbers flows: 16 382 clients, then
/// ports, so 20 M flows stay distinct (hits are `0..n`, misses `n..2n`).
fn key(i: u32) -> FlowKey {
    let (src, sport) = vsd_perf::synth::frames::flow(u64::from(i));
    FlowKey {
        src: Addr::from_v4(src.to_be_bytes()),
        dst: Addr::from_v4(vsd_perf::topology::VIP),
        sport,
        dport: vsd_perf::topology::VPORT,
        proto: vsd_dataplane::Proto::Tcp,
    }
}

fn conn(k: &FlowKey, i: u32) -> Conn {
    Conn {
        proto: k.proto,
        fwd: Fwd::Nat,
        state: ConnState::Established,
        client: k.src,
        cport: k.sport,
        vip: k.dst,
        vport: k.dport,
        rs: Addr::from_v4([198, 19, 0, 11 + (i % 4) as u8]),
        rport: 8080,
        expires: Instant::from_millis(900_000),
        ..Conn::EMPTY
    }
}

/// A table holding flows `0..n`, at the capacity vsd would give it (n live at ~full table).
fn filled(n: u32) -> ConnTable {
    let mut t = ConnTable::with_seed(n as usize, 7);
    for i in 0..n {
        t.insert(conn(&key(i), i)).expect("room for every flow");
    }
    t
}

fn lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("conn_lookup");
    g.throughput(Throughput::Elements(BURST as u64));
    for &n in &SIZES {
        let t = filled(n);
        let order = shuffled(n, 1);
        // Flows `n..2n` were never inserted: misses with the same key shapes.
        let hits: Vec<FlowKey> = order.iter().take(MAX_KEYS).map(|&i| key(i)).collect();
        let misses: Vec<FlowKey> = order.iter().take(MAX_KEYS).map(|&i| key(i + n)).collect();
        for (what, keys) in [("hit", &hits), ("miss", &misses)] {
            // 0: none; 1: buckets; 2: buckets, then the entries their signatures match.
            // The second stage matters once entries miss the cache: 1 M connections and up.
            for stages in (0..=2).filter(|&s| s < 2 || n >= 1 << 20) {
                let name = format!("{what}{}", ["", "+prefetch", "+prefetch2"][stages]);
                let mut at = 0usize;
                g.bench_with_input(BenchmarkId::new(name, n), keys, |b, keys| {
                    b.iter(|| {
                        let burst = &keys[at..at + BURST.min(keys.len() - at)];
                        at = if at + 2 * BURST > keys.len() { 0 } else { at + BURST };
                        let mut probes = [None; BURST];
                        if stages >= 1 {
                            for (k, p) in burst.iter().zip(probes.iter_mut()) {
                                let probe = t.probe_key(k);
                                t.prefetch(&probe);
                                *p = Some(probe);
                            }
                        }
                        if stages == 2 {
                            for p in probes.iter_mut().flatten() {
                                t.prefetch_entry(p);
                            }
                        }
                        let mut found = 0u32;
                        for (k, p) in burst.iter().zip(probes) {
                            let hit = match p {
                                Some(p) => t.lookup_probed(k, &p),
                                None => t.lookup(k),
                            };
                            found += u32::from(hit.is_some());
                        }
                        black_box(found)
                    })
                });
            }
        }
        // Every hit key hits and no miss key does, or the figures above mean nothing.
        assert!(hits.iter().take(1000).all(|k| t.lookup(k).is_some()));
        assert!(misses.iter().take(1000).all(|k| t.lookup(k).is_none()));
    }
    g.finish();
}

/// Inserts into an empty table up to 80 % of its capacity; building the table is not timed. The
/// entries are built beforehand up to 1 M; at 10 M (8 M entries, 640 MB) they are built inside the
/// timed loop, which adds a few nanoseconds per insert.
fn inserts(c: &mut Criterion) {
    let mut g = c.benchmark_group("conn_insert");
    g.throughput(Throughput::Elements(1));
    for &n in &[1u32 << 16, 1 << 20, 10_000_000] {
        let fill = u64::from(n) * 8 / 10;
        let fill32 = u32::try_from(fill).expect("80 % of a u32");
        let prebuilt = n <= 1 << 20;
        let conns: Vec<Conn> =
            if prebuilt { (0..fill32).map(|i| conn(&key(i), i)).collect() } else { Vec::new() };
        g.bench_function(BenchmarkId::new("to_80pct", n), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let mut t = ConnTable::with_seed(n as usize, done);
                    let batch = u32::try_from((iters - done).min(fill)).expect("at most fill");
                    let start = WallClock::now();
                    if prebuilt {
                        for c in &conns[..batch as usize] {
                            black_box(t.insert(*c).expect("room"));
                        }
                    } else {
                        for i in 0..batch {
                            black_box(t.insert(conn(&key(i), i)).expect("room"));
                        }
                    }
                    spent += start.elapsed();
                    done += u64::from(batch);
                }
                spent
            })
        });
    }
    g.finish();
}

/// Persistence templates: one per client (in key only, vport 0), looked up by a new connection.
fn templates(c: &mut Criterion) {
    let mut g = c.benchmark_group("template_lookup");
    g.throughput(Throughput::Elements(BURST as u64));
    let n = 1u32 << 16;
    let tkey = |i: u32| FlowKey {
        sport: 0,
        dport: 0,
        src: Addr::from_v4([198, 18, i.to_be_bytes()[2], i.to_be_bytes()[3]]),
        ..key(0)
    };
    let mut t = ConnTable::with_seed(2 * n as usize, 3);
    for i in 0..n {
        let k = tkey(i);
        t.insert(Conn { flags: F_TEMPLATE, ..conn(&k, i) }).expect("room");
        // A connection with the same tuple but not a template must not be found as one.
        t.insert(conn(&FlowKey { sport: 1, ..k }, i)).expect("room");
    }
    let keys: Vec<FlowKey> = shuffled(n, 9).into_iter().map(tkey).collect();
    assert!(keys.iter().take(1000).all(|k| t.lookup_template(k).is_some()));
    let mut at = 0usize;
    g.bench_function(BenchmarkId::new("hit", n), |b| {
        b.iter(|| {
            let burst = &keys[at..at + BURST];
            at = if at + 2 * BURST > keys.len() { 0 } else { at + BURST };
            let mut found = 0u32;
            for k in burst {
                found += u32::from(t.lookup_template(k).is_some());
            }
            black_box(found)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = lookups, inserts, templates
}
criterion_main!(benches);
