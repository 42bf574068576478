//! Metrics tests: the rendered text parses in both formats, every family appears with its labels,
//! values are the workers' counters summed, the routes answer as documented, and a real socket
//! serves it all. Sources are built from a config and plain counters; no DPDK.

use super::families::{self, Kind, ALL};
use super::openmetrics::{parse, Format, ParsedFamily};
use super::{render, respond, MetricsServer, PortSource, Sources, VsdCollector, OPENMETRICS};
use crate::metrics::http::Request;
use crate::state::DestState;
use prometheus_client::registry::Registry;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use vsd_dataplane::buf::VecBuf;
use vsd_dataplane::craft;
use vsd_dataplane::stats::{DestStats, DropReason, WorkerStats};
use vsd_dataplane::wire::ParseError;
use vsd_dataplane::worker::{Rx, Worker};
use vsd_dataplane::Instant;
use vsd_ffi::PortStats;

const CONFIG: &str = r#"dpdk:
  eal: ["-l", "0-2", "--no-huge", "--no-pci",
        "--vdev", "net_af_packet0,iface=t-ext", "--vdev", "net_af_packet1,iface=t-int"]
workers: { lcores: [1, 2] }
interfaces:
  - { name: ext, port: net_af_packet0, addresses: [198.18.0.2/24] }
  - { name: int, port: net_af_packet1, addresses: [198.19.0.1/24] }
conn_table: { capacity: 4096 }
services:
  - name: web
    vips: [198.18.0.100, 198.18.0.103]
    protocol: tcp
    ports: [80, 443]
    scheduler: rr
    forwarding: nat
    real_servers:
      - { address: 198.19.0.11, port: 8080 }
      - { address: 198.19.0.12, port: 8080, weight: 2 }
  - name: dns
    vips: [198.18.0.101]
    protocol: udp
    ports: [53]
    scheduler: wrr
    forwarding: dr
    real_servers:
      - { address: 198.19.0.21, port: 53, weight: 3 }
"#;
const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 1];
const INT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 2];
/// (service, server) of every real server in CONFIG, in dest-id order.
const SERVERS: [(&str, &str); 3] =
    [("web", "198.19.0.11:8080"), ("web", "198.19.0.12:8080"), ("dns", "198.19.0.21:53")];

fn snapshot() -> Arc<vsd_dataplane::service::Snapshot> {
    let cfg = crate::config::parse(CONFIG, "t.yaml").expect("test config");
    crate::snapshot::build(&cfg, &[EXT_MAC, INT_MAC], 0, None).expect("test snapshot")
}

fn port(name: &str, st: Result<PortStats, String>) -> PortSource {
    PortSource {
        name: name.into(),
        device: format!("net_af_packet_{name}"),
        steering: "software_redirect".into(),
        steering_detail: "software redirect (net_af_packet cannot hash the source address alone)".into(),
        read: Box::new(move || st.clone()),
    }
}

/// One worker's counters, as the test writes them.
type Core = (Arc<WorkerStats>, Arc<[DestStats]>);

/// Two workers (counters at zero, for each test to set) and two ports with fixed counters. Returns
/// the sources and the workers' counters, to change values after the collector has them.
fn sources() -> (Sources, Vec<Core>) {
    let snap = snapshot();
    let mut src = Sources::new(snap.clone());
    let mut cores = Vec::new();
    for _ in 0..2 {
        let w = Arc::new(WorkerStats::default());
        let d: Arc<[DestStats]> = snap.dests.iter().map(|_| DestStats::default()).collect();
        src.add_worker(w.clone(), d.clone());
        cores.push((w, d));
    }
    let ext = PortStats {
        ipackets: 1000,
        opackets: 900,
        ibytes: 64000,
        obytes: 57600,
        imissed: 3,
        ..Default::default()
    };
    src.ports.push(port("ext", Ok(ext)));
    src.ports.push(port("int", Ok(PortStats { rx_nombuf: 7, ..Default::default() })));
    (src, cores)
}

fn registry(src: Sources) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(VsdCollector::new(src)));
    r
}

fn scrape(r: &Registry) -> Vec<ParsedFamily> {
    let resp = render(r, "application/openmetrics-text;version=1.0.0");
    assert_eq!((resp.status, resp.content_type), (200, OPENMETRICS));
    parse(&resp.body, Format::OpenMetrics).unwrap_or_else(|e| panic!("{e}\n{}", resp.body))
}

fn family<'a>(fams: &'a [ParsedFamily], name: &str) -> &'a ParsedFamily {
    fams.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no family {name}"))
}

#[test]
fn renders_valid_openmetrics_and_prometheus_text() {
    let r = registry(sources().0);
    let om = scrape(&r);
    let plain = render(&r, "text/plain");
    assert_eq!(plain.content_type, "text/plain; version=0.0.4; charset=utf-8");
    let p = parse(&plain.body, Format::Prometheus004).unwrap_or_else(|e| panic!("{e}\n{}", plain.body));
    // The same series in both formats, counters named with `_total` in both.
    let names = |fams: &[ParsedFamily]| {
        let mut v: Vec<String> = fams.iter().flat_map(|f| f.samples.iter().map(|s| s.name.clone())).collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(names(&om), names(&p));
    assert_eq!(
        om.iter().map(|f| f.samples.len()).sum::<usize>(),
        p.iter().map(|f| f.samples.len()).sum::<usize>()
    );
}

#[test]
fn every_family_appears_with_its_labels_and_type() {
    let fams = scrape(&registry(sources().0));
    assert_eq!(fams.len(), ALL.len(), "{:?}", fams.iter().map(|f| &f.name).collect::<Vec<_>>());
    for want in ALL {
        let got = family(&fams, &want.exposed());
        let kind = match want.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Info => "info",
        };
        assert_eq!(got.kind, kind, "{}", want.name);
        assert!(got.help.as_deref().is_some_and(|h| !h.is_empty()), "{}: no help", want.name);
        assert!(!got.samples.is_empty(), "{}: no samples", want.name);
        for s in &got.samples {
            assert_eq!(s.name, want.sample_name());
            let names: Vec<&str> = s.labels.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, want.labels, "{}", s.name);
        }
    }
    // Per real server: one series per server of the config, named as ipvsadm names them.
    for fam in [&families::RS_CONNECTIONS, &families::RS_IN_BYTES, &families::RS_UP, &families::RS_PERSISTENT]
    {
        let got = family(&fams, &fam.exposed());
        let mut pairs: Vec<(&str, &str)> =
            got.samples.iter().map(|s| (s.labels[0].1.as_str(), s.labels[1].1.as_str())).collect();
        pairs.sort();
        let mut want = SERVERS.to_vec();
        want.sort();
        assert_eq!(pairs, want, "{}", fam.name);
    }
    // Per worker: every drop reason and every parse error, for each worker.
    let drops = family(&fams, "vsd_worker_drops");
    assert_eq!(drops.samples.len(), 2 * (DropReason::COUNT + ParseError::ALL.len()));
    for w in ["0", "1"] {
        for r in DropReason::ALL {
            assert_eq!(drops.value(&[("worker", w), ("reason", r.name())]), Some(0.0));
        }
        for e in ParseError::ALL {
            assert_eq!(drops.value(&[("worker", w), ("reason", &format!("parse_{}", e.name()))]), Some(0.0));
        }
    }
    // One service sample per VIP and port.
    let svc = family(&fams, "vsd_service");
    assert_eq!(svc.samples.len(), 2 * 2 + 1);
    assert_eq!(
        svc.value(&[("service", "web"), ("virtual", "198.18.0.103:443"), ("scheduler", "rr")]),
        Some(1.0)
    );
    assert_eq!(svc.value(&[("service", "dns"), ("protocol", "udp"), ("forwarding", "dr")]), Some(1.0));
}

/// The names the operators' issue asks for, spelled out, so that a rename is a visible decision.
#[test]
fn the_requested_metrics_are_exported() {
    let fams = scrape(&registry(sources().0));
    let samples: Vec<&str> = fams.iter().flat_map(|f| f.samples.iter().map(|s| s.name.as_str())).collect();
    for name in [
        "vsd_real_server_connections_total",
        "vsd_real_server_in_packets_total",
        "vsd_real_server_out_packets_total",
        "vsd_real_server_in_bytes_total",
        "vsd_real_server_out_bytes_total",
        "vsd_real_server_active_connections",
        "vsd_real_server_inactive_connections",
        "vsd_real_server_persistent_connections",
        "vsd_real_server_weight",
        "vsd_real_server_up",
        "vsd_worker_rx_packets_total",
        "vsd_worker_tx_packets_total",
        "vsd_worker_drops_total",
        "vsd_worker_redirected_out_packets_total",
        "vsd_worker_redirected_in_packets_total",
        "vsd_worker_conn_table_entries",
        "vsd_worker_conn_table_capacity",
        "vsd_worker_busy_cycles_total",
        "vsd_worker_cycles_total",
        "vsd_port_rx_packets_total",
        "vsd_port_tx_packets_total",
        "vsd_port_rx_bytes_total",
        "vsd_port_tx_bytes_total",
        "vsd_port_rx_missed_total",
        "vsd_port_rx_errors_total",
        "vsd_port_tx_errors_total",
        "vsd_port_rx_nombuf_total",
        "vsd_port_steering_info",
    ] {
        assert!(samples.contains(&name), "{name} is not exported");
    }
}

#[test]
fn values_are_the_cores_summed_at_scrape_time() {
    let (src, cores) = sources();
    let view = src.view.clone();
    let r = registry(src);
    // Real server 1 (web, .12): 3 connections on core 0, 4 on core 1; one core's traffic.
    cores[0].1[1].conns.add(3);
    cores[1].1[1].conns.add(4);
    cores[1].1[1].in_bytes.add(1500);
    cores[0].1[1].active.add(2);
    cores[1].1[1].active.add(1);
    cores[1].1[1].persistent.add(1);
    cores[0].0.rx_packets.add(10);
    cores[1].0.rx_packets.add(20);
    cores[1].0.drops[DropReason::NoService as usize].add(5);
    cores[0].0.parse_errors[ParseError::ALL[0] as usize].add(2);
    cores[1].0.cycles.add(1000);
    cores[1].0.busy_cycles.add(250);
    cores[0].0.conn_entries.set(42);
    let web12 = [("service", "web"), ("server", "198.19.0.12:8080")];
    let fams = scrape(&r);
    assert_eq!(family(&fams, "vsd_real_server_connections").value(&web12), Some(7.0));
    assert_eq!(family(&fams, "vsd_real_server_in_bytes").value(&web12), Some(1500.0));
    assert_eq!(family(&fams, "vsd_real_server_active_connections").value(&web12), Some(3.0));
    assert_eq!(family(&fams, "vsd_real_server_persistent_connections").value(&web12), Some(1.0));
    let web11 = [("service", "web"), ("server", "198.19.0.11:8080")];
    assert_eq!(family(&fams, "vsd_real_server_connections").value(&web11), Some(0.0));
    assert_eq!(family(&fams, "vsd_worker_rx_packets").value(&[("worker", "1")]), Some(20.0));
    let drops = family(&fams, "vsd_worker_drops");
    assert_eq!(drops.value(&[("worker", "1"), ("reason", "no_service")]), Some(5.0));
    let parse0 = format!("parse_{}", ParseError::ALL[0].name());
    assert_eq!(drops.value(&[("worker", "0"), ("reason", &parse0)]), Some(2.0));
    assert_eq!(family(&fams, "vsd_worker_busy_cycles").value(&[("worker", "1")]), Some(250.0));
    assert_eq!(family(&fams, "vsd_worker_cycles").value(&[("worker", "1")]), Some(1000.0));
    assert_eq!(family(&fams, "vsd_worker_conn_table_entries").value(&[("worker", "0")]), Some(42.0));
    assert_eq!(family(&fams, "vsd_worker_conn_table_capacity").value(&[("worker", "1")]), Some(4096.0));
    assert_eq!(family(&fams, "vsd_port_rx_bytes").value(&[("port", "ext")]), Some(64000.0));
    assert_eq!(family(&fams, "vsd_port_rx_missed").value(&[("port", "ext")]), Some(3.0));
    assert_eq!(family(&fams, "vsd_port_rx_nombuf").value(&[("port", "int")]), Some(7.0));
    assert_eq!(family(&fams, "vsd_real_server_weight").value(&web12), Some(2.0));
    assert_eq!(family(&fams, "vsd_real_server_up").value(&web12), Some(1.0));

    // The control thread quiesces .12 and removes .11; the dns server fails its check (inhibited:
    // weight 0, still present). The next scrape says so.
    let (snap, _) = view.get();
    let states = [
        DestState { weight: 1, present: false },
        DestState { weight: 0, present: true },
        DestState { weight: 0, present: true },
    ];
    view.publish(&snap, &states, |d| d != 2);
    let fams = scrape(&r);
    let dns = [("service", "dns"), ("server", "198.19.0.21:53")];
    assert_eq!(family(&fams, "vsd_real_server_weight").value(&web12), Some(0.0));
    assert_eq!(family(&fams, "vsd_real_server_up").value(&web12), Some(1.0));
    assert_eq!(family(&fams, "vsd_real_server_up").value(&web11), Some(0.0));
    assert_eq!(family(&fams, "vsd_real_server_up").value(&dns), Some(0.0));
    assert_eq!(family(&fams, "vsd_real_server_weight").value(&dns), Some(0.0));
}

/// A reload may switch the running snapshot (same servers, other tunables such as the scheduler);
/// the scrape follows the snapshot the control thread publishes.
#[test]
fn a_switched_snapshot_reaches_the_scrape() {
    let (src, _) = sources();
    let view = src.view.clone();
    let r = registry(src);
    let web80 = [("service", "web"), ("virtual", "198.18.0.100:80")];
    assert_eq!(
        family(&scrape(&r), "vsd_service").value(&[web80[0], web80[1], ("scheduler", "rr")]),
        Some(1.0)
    );
    let cfg = crate::config::parse(&CONFIG.replacen("scheduler: rr", "scheduler: wlc", 1), "t.yaml").unwrap();
    let switched = crate::snapshot::build(&cfg, &[EXT_MAC, INT_MAC], 2, None).unwrap();
    let (_, views) = view.get();
    let states: Vec<DestState> = views.iter().map(|v| v.state).collect();
    view.publish(&switched, &states, |_| true);
    let fams = scrape(&r);
    assert_eq!(family(&fams, "vsd_service").value(&[web80[0], web80[1], ("scheduler", "wlc")]), Some(1.0));
    assert_eq!(family(&fams, "vsd_service").value(&[web80[0], web80[1], ("scheduler", "rr")]), None);
}

#[test]
fn a_port_that_cannot_be_read_is_left_out_of_the_scrape() {
    let (mut src, _) = sources();
    src.ports[1] = port("int", Err("rte_eth_stats_get(port 1): No such device".into()));
    let fams = scrape(&registry(src));
    let rx = family(&fams, "vsd_port_rx_packets");
    assert_eq!(rx.value(&[("port", "ext")]), Some(1000.0));
    assert_eq!(rx.value(&[("port", "int")]), None);
    // Its steering mode is config, not a counter: still there.
    assert_eq!(family(&fams, "vsd_port_steering").value(&[("port", "int")]), Some(1.0));
}

/// The worker keeps the occupancy gauge itself: a SYN creates an entry, the end of its burst
/// publishes the count, and the scrape shows it.
#[test]
fn table_occupancy_follows_the_worker() {
    let snap = snapshot();
    let mut w: Worker<VecBuf> = Worker::new(0, snap.clone());
    let mut src = Sources::new(snap.clone());
    src.add_worker(w.stats(), w.dest_stats());
    let r = registry(src);
    let entries =
        |r: &Registry| family(&scrape(r), "vsd_worker_conn_table_entries").value(&[("worker", "0")]);
    assert_eq!(entries(&r), Some(0.0));
    let now = Instant::from_millis(1);
    for sport in [40000, 40001, 40002] {
        let syn = craft::tcp_v4([198, 18, 0, 10], [198, 18, 0, 100], sport, 80, craft::tcp_flags::SYN, b"");
        let frame = craft::ethernet(EXT_MAC, [0x02, 0xc1, 0, 0, 0, 0x10], 0x0800, &syn);
        let pre = w.prepare(&frame);
        let _ = w.process(now, Rx::wire(0), VecBuf::from_frame(&frame), &pre);
        w.end_burst();
    }
    assert_eq!(entries(&r), Some(3.0));
    assert_eq!(family(&scrape(&r), "vsd_worker_connections_created").value(&[("worker", "0")]), Some(3.0));
}

fn get(path: &str) -> Request {
    Request { method: "GET".into(), path: path.into(), accept: None }
}

#[test]
fn routes_answer_as_documented() {
    let r = registry(sources().0);
    assert_eq!(respond(&get("/healthz"), &r, false).status, 200);
    assert_eq!(respond(&get("/readyz"), &r, false).status, 503);
    assert_eq!(respond(&get("/readyz"), &r, true).status, 200);
    assert_eq!(respond(&get("/nope"), &r, true).status, 404);
    let post = Request { method: "POST".into(), ..get("/metrics") };
    assert_eq!(respond(&post, &r, true).status, 405);
    let m = respond(&get("/metrics"), &r, false);
    assert_eq!(m.status, 200);
    assert!(parse(&m.body, Format::Prometheus004).is_ok());
}

/// One HTTP exchange over a real socket; returns (status line, body).
fn http(addr: std::net::SocketAddr, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("a response head");
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

#[test]
fn serves_over_tcp_until_stopped() {
    let (src, cores) = sources();
    cores[0].1[2].conns.add(9);
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), src).unwrap();
    let addr = server.local_addr();
    assert_eq!(
        http(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("HTTP/1.1 200 OK".into(), "ok\n".into())
    );
    assert_eq!(http(addr, "GET /readyz HTTP/1.1\r\n\r\n").0, "HTTP/1.1 503 Service Unavailable");
    server.set_ready(true);
    assert_eq!(http(addr, "GET /readyz HTTP/1.1\r\n\r\n").0, "HTTP/1.1 200 OK");
    let (status, body) =
        http(addr, "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let fams = parse(&body, Format::OpenMetrics).unwrap();
    let dns = [("service", "dns"), ("server", "198.19.0.21:53")];
    assert_eq!(family(&fams, "vsd_real_server_connections").value(&dns), Some(9.0));
    // What the control thread publishes reaches the scrape.
    let states = [
        DestState { weight: 1, present: true },
        DestState { weight: 5, present: true },
        DestState { weight: 3, present: false },
    ];
    server.publish(&snapshot(), &states, |_| true);
    let (_, body) = http(addr, "GET /metrics HTTP/1.0\r\n\r\n");
    let fams = parse(&body, Format::Prometheus004).unwrap();
    assert_eq!(family(&fams, "vsd_real_server_up").value(&dns), Some(0.0));
    let web12 = [("service", "web"), ("server", "198.19.0.12:8080")];
    assert_eq!(family(&fams, "vsd_real_server_weight").value(&web12), Some(5.0));
    assert_eq!(http(addr, "BREW /metrics HTTP/1.1\r\n\r\n").0, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(http(addr, "garbage\r\n\r\n").0, "HTTP/1.1 400 Bad Request");
    server.stop();
    assert!(TcpStream::connect(addr).is_err(), "still listening after stop");
}

#[test]
fn the_metrics_reference_lists_every_family() {
    let doc = include_str!("../../../docs/METRICS.md");
    for f in ALL {
        assert!(
            doc.contains(&format!("`{}`", f.sample_name())),
            "docs/METRICS.md does not list {}",
            f.sample_name()
        );
    }
}

/// An IPv6 service and its servers carry the names ipvsadm lists them by, `[2001:db8:1::100]:80`
/// and `[2001:db8:2::11]:8080`, as the IPv4 ones carry `198.18.0.100:80`; both formats parse.
#[test]
fn ipv6_services_and_servers_are_labelled_as_ipvsadm_lists_them() {
    let text = CONFIG
        .replacen("addresses: [198.18.0.2/24] }", "addresses: [198.18.0.2/24, \"2001:db8:1::2/64\"] }", 1)
        .replacen("addresses: [198.19.0.1/24] }", "addresses: [198.19.0.1/24, \"2001:db8:2::1/64\"] }", 1)
        + r#"  - name: web6
    vips: ["2001:db8:1::100"]
    protocol: tcp
    ports: [80]
    scheduler: wrr
    forwarding: nat
    real_servers:
      - { address: "2001:db8:2::11", port: 8080 }
      - { address: "2001:db8:2::12", port: 8080, weight: 2 }
"#;
    let cfg = crate::config::parse(&text, "t.yaml").expect("dual-stack test config");
    let snap = crate::snapshot::build(&cfg, &[EXT_MAC, INT_MAC], 0, None).expect("dual-stack snapshot");
    let mut src = Sources::new(snap.clone());
    let d: Arc<[DestStats]> = snap.dests.iter().map(|_| DestStats::default()).collect();
    src.add_worker(Arc::new(WorkerStats::default()), d.clone());
    let i = snap.dests.iter().position(|x| x.addr.to_string() == "2001:db8:2::12").expect("dest of .12");
    d[i].conns.add(9);
    let r = registry(src);
    let fams = scrape(&r);
    let service = family(&fams, "vsd_service");
    let web6 = [
        ("service", "web6"),
        ("protocol", "tcp"),
        ("virtual", "[2001:db8:1::100]:80"),
        ("scheduler", "wrr"),
        ("forwarding", "nat"),
    ];
    let web4 = [
        ("service", "web"),
        ("protocol", "tcp"),
        ("virtual", "198.18.0.100:80"),
        ("scheduler", "rr"),
        ("forwarding", "nat"),
    ];
    assert_eq!(service.value(&web6), Some(1.0), "{:?}", service.samples);
    assert_eq!(service.value(&web4), Some(1.0), "{:?}", service.samples);
    let conns = family(&fams, "vsd_real_server_connections");
    assert_eq!(conns.value(&[("service", "web6"), ("server", "[2001:db8:2::12]:8080")]), Some(9.0));
    assert_eq!(conns.value(&[("service", "web6"), ("server", "[2001:db8:2::11]:8080")]), Some(0.0));
    assert_eq!(conns.value(&[("service", "web"), ("server", "198.19.0.11:8080")]), Some(0.0));
    let plain = render(&r, "text/plain");
    assert!(plain.body.contains(r#"server="[2001:db8:2::12]:8080""#), "{}", plain.body);
    parse(&plain.body, Format::Prometheus004).unwrap_or_else(|e| panic!("{e}\n{}", plain.body));
}
