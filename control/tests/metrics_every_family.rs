//! Every exported metric can be moved by traffic: real workers on a real snapshot take crafted
//! frames (`traffic/mod.rs`), and the text the exporter serves must then have a non-zero sample in
//! every family, and for every drop reason and parse error. A metric nothing can move is a bug (it
//! tells the operator "all is well" forever).
//!
//! The exceptions are what this test cannot reach without DPDK; each names the test that covers it, or says that none does. An exception that the
//! traffic does move fails the test, so that the lists only shrink.

mod traffic;

use prometheus_client::registry::Registry;
use vsd_control::metrics::{families, render, PortSource, Sources, VsdCollector};
use vsd_dataplane::stats::DropReason;
use vsd_dataplane::wire::ParseError;
use vsd_ffi::PortStats;

/// Families (as their samples are named) that only the DPDK driver or the NIC can move.
const FAMILIES_NOT_FROM_TRAFFIC: &[(&str, &str)] = &[
    (
        "vsd_worker_tx_packets_total",
        "the driver counts what a TX queue accepts (runtime/lcore_loop.rs); tests/e2e/test_metrics.sh \
         (\"worker 0 sent packets\")",
    ),
    (
        "vsd_worker_tx_bytes_total",
        "the driver, in the same statement as tx_packets; no test checks it on its own",
    ),
    ("vsd_worker_cycles_total", "the driver's TSC; tests/e2e/test_metrics.sh (\"busy cycles are counted\")"),
    (
        "vsd_worker_busy_cycles_total",
        "the driver's TSC; tests/e2e/test_metrics.sh (\"busy cycles are counted\")",
    ),
    (
        "vsd_port_rx_packets_total",
        "ethdev ipackets; tests/e2e/test_metrics.sh (\"port ext received packets\")",
    ),
    ("vsd_port_tx_packets_total", "ethdev opackets; tests/e2e/test_metrics.sh (\"port int sent packets\")"),
    ("vsd_port_rx_bytes_total", "ethdev ibytes; no test checks it moves"),
    ("vsd_port_tx_bytes_total", "ethdev obytes; no test checks it moves"),
    (
        "vsd_port_rx_missed_total",
        "ethdev imissed (RX queues full); only rendered from fixed values (metrics::tests)",
    ),
    ("vsd_port_rx_errors_total", "ethdev ierrors; only rendered from fixed values (metrics::tests)"),
    ("vsd_port_tx_errors_total", "ethdev oerrors; only rendered from fixed values (metrics::tests)"),
    ("vsd_port_rx_nombuf_total", "ethdev rx_nombuf; only rendered from fixed values (metrics::tests)"),
];

/// Drop reasons that only the driver counts (or nothing can: a finding).
const DROPS_NOT_FROM_TRAFFIC: &[(&str, &str)] = &[
    (
        "tx_full",
        "the driver, when a TX queue refuses packets (runtime/lcore_loop.rs); no test fills a TX queue",
    ),
    ("segmented", "the driver, for multi-segment mbufs (runtime/lcore_loop.rs); no test sends one"),
    (
        "no_mbuf",
        "the driver, when the mempool is empty; the worker's FTP splice only when a buffer lacks the \
         tailroom for a longer 227 reply, which a 2 KiB VecBuf never does; no test covers it",
    ),
    ("redirect_full", "the driver, when a redirect ring is full; no test fills one"),
    (
        "no_headroom",
        "UNREACHABLE (a finding): every received buffer has 128 bytes of headroom (DPDK's \
         RTE_PKTMBUF_HEADROOM, VecBuf::HEADROOM), more than the tunnel headers (at most 32) or an \
         ICMP error's (28) need; only the tunnel's tail fragments, built by the driver in fresh \
         buffers through another entry point, can count it, and no test does",
    ),
];

/// One sample of the Prometheus text format: name, labels as written, value.
struct Sample<'a> {
    name: &'a str,
    labels: &'a str,
    value: f64,
}

fn samples(text: &str) -> Vec<Sample<'_>> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) =
                line.rsplit_once(' ').unwrap_or_else(|| panic!("sample without a value: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let value = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
            Sample { name, labels, value }
        })
        .collect()
}

#[test]
fn traffic_moves_every_metric() {
    let lab = traffic::run();
    let mut src = Sources::new(lab.snap.clone());
    for w in &lab.workers {
        src.add_worker(w.stats(), w.dest_stats());
    }
    // The ports' counters are the NIC's (exempt above); zeros, so that their families render.
    for name in ["ext", "int"] {
        src.ports.push(PortSource {
            name: name.into(),
            device: format!("net_ring_{name}"),
            steering: "single".into(),
            steering_detail: "one worker".into(),
            read: Box::new(|| Ok(PortStats::default())),
        });
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(VsdCollector::new(src)));
    let response = render(&registry, "");
    assert_eq!(response.status, 200);
    let text = response.body;
    let all = samples(&text);

    let mut dead = Vec::new();
    for family in families::ALL {
        let name = family.sample_name();
        let of_family: Vec<&Sample> = all.iter().filter(|s| s.name == name).collect();
        assert!(!of_family.is_empty(), "{name} is not exported at all:\n{text}");
        let moved = of_family.iter().any(|s| s.value != 0.0);
        match FAMILIES_NOT_FROM_TRAFFIC.iter().find(|(n, _)| *n == name) {
            Some(_) if moved => panic!("{name} moved: take it off FAMILIES_NOT_FROM_TRAFFIC"),
            Some(_) => {}
            None if !moved => dead.push(name),
            None => {}
        }
    }
    let drop_names = DropReason::ALL
        .iter()
        .map(|r| r.name().to_string())
        .chain(ParseError::ALL.iter().map(|e| format!("parse_{}", e.name())));
    for reason in drop_names {
        let label = format!("reason=\"{reason}\"");
        let moved = all
            .iter()
            .filter(|s| s.name == "vsd_worker_drops_total" && s.labels.contains(&label))
            .any(|s| s.value != 0.0);
        match DROPS_NOT_FROM_TRAFFIC.iter().find(|(n, _)| *n == reason) {
            Some(_) if moved => panic!("drop reason {reason} moved: take it off DROPS_NOT_FROM_TRAFFIC"),
            Some(_) => {}
            None if !moved => dead.push(format!("vsd_worker_drops_total{{{label}}}")),
            None => {}
        }
    }
    assert!(dead.is_empty(), "no traffic moved these metrics: {dead:?}\n{text}");
}

/// The exception lists name only what exists, so that a renamed metric cannot hide in them.
#[test]
fn the_exceptions_name_real_metrics() {
    for (name, why) in FAMILIES_NOT_FROM_TRAFFIC {
        assert!(families::ALL.iter().any(|f| f.sample_name() == *name), "{name} is not a family");
        assert!(!why.is_empty());
    }
    for (reason, why) in DROPS_NOT_FROM_TRAFFIC {
        assert!(DropReason::ALL.iter().any(|r| r.name() == *reason), "{reason} is not a drop reason");
        assert!(!why.is_empty());
    }
}

/// The malformed frames cover every parse error, each with the error it is named after.
#[test]
fn one_malformed_frame_per_parse_error() {
    let frames = traffic::malformed();
    for e in ParseError::ALL {
        let (_, frame) =
            frames.iter().find(|(n, _)| *n == e.name()).unwrap_or_else(|| panic!("no frame for {e:?}"));
        assert_eq!(vsd_dataplane::wire::parse_frame(frame).err(), Some(e), "{}", e.name());
    }
}
