//! ipvsadm-formatted listings, so that operators' scripts and habits carry over.
//!
//! Each function renders one of `ipvsadm -L -n`'s views from the running snapshot, the control
//! thread's view of weights and membership, and per-core counters summed across workers. Column
//! layouts follow ipvsadm 1.31's `print_service_entry` / `print_conn`.

use crate::rates::Rates;
use crate::state::{DestState, DestTotals};
use std::fmt::Write;
use std::time::Duration;
use vsd_dataplane::conn::{Conn, Timeouts};
use vsd_dataplane::service::{Service, Snapshot};
use vsd_dataplane::Instant;

/// What a listing shows per server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// `-L -n`: Forward Weight ActiveConn InActConn.
    Plain,
    /// `--stats`: Conns InPkts OutPkts InBytes OutBytes.
    Stats,
    /// `--persistent-conn`: Weight PersistConn ActiveConn InActConn.
    Persistent,
    /// `--rate`: CPS InPPS OutPPS InBPS OutBPS.
    Rate,
}

fn service_line(s: &Service, vip: &vsd_dataplane::Addr, port: u16) -> String {
    let mut line = format!("{:<4} {}", s.proto.name(), endpoint(vip, port));
    if let Some(p) = s.persistence {
        let _ = write!(line, " {} persistent {}", s.sched.name(), p.timeout.as_secs());
        if vip.is_v4() && p.netmask < 32 {
            let mask = u32::MAX.checked_shl(32 - u32::from(p.netmask)).unwrap_or(0);
            let _ = write!(line, " mask {}", std::net::Ipv4Addr::from(mask));
        } else if !vip.is_v4() && p.netmask6 < 128 {
            let _ = write!(line, " mask {}", p.netmask6);
        }
    } else {
        let _ = write!(line, " {}", s.sched.name());
    }
    line
}

/// `a.b.c.d:port`, or `[v6]:port`.
pub fn endpoint(a: &vsd_dataplane::Addr, port: u16) -> String {
    if a.is_v4() {
        format!("{a}:{port}")
    } else {
        format!("[{a}]:{port}")
    }
}

/// `ipvsadm -L -n` and its `--stats` / `--persistent-conn` variants.
pub fn services(
    snap: &Snapshot,
    dests: &[DestState],
    totals: &dyn Fn(usize) -> DestTotals,
    rates: &dyn Fn(usize) -> Rates,
    view: View,
    capacity: usize,
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "IP Virtual Server version 1.2.1 (size={capacity})");
    match view {
        View::Plain => {
            let _ = writeln!(o, "Prot LocalAddress:Port Scheduler Flags");
            let _ = writeln!(o, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn");
        }
        View::Stats => {
            let _ =
                writeln!(o, "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes");
            let _ = writeln!(o, "  -> RemoteAddress:Port");
        }
        View::Persistent => {
            let _ =
                writeln!(o, "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn");
            let _ = writeln!(o, "  -> RemoteAddress:Port");
        }
        View::Rate => {
            let _ =
                writeln!(o, "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS");
            let _ = writeln!(o, "  -> RemoteAddress:Port");
        }
    }
    for (_, s) in snap.live_services() {
        let present: Vec<usize> = s.dests.iter().map(|&d| d as usize).filter(|&d| dests[d].present).collect();
        for vip in &s.vips {
            for port in &s.ports {
                match view {
                    View::Stats | View::Rate => {
                        let mut sum = [0u64; 5];
                        for d in s.dests.iter().map(|&d| d as usize) {
                            for (acc, v) in sum.iter_mut().zip(five(view, d, totals, rates)) {
                                *acc += v;
                            }
                        }
                        let [a, b, c, d, e] = sum;
                        let name = format!("{:<4} {}", s.proto.name(), endpoint(vip, *port));
                        let _ = writeln!(o, "{name:<33} {a:>8} {b:>8} {c:>8} {d:>8} {e:>8}");
                    }
                    _ => {
                        let _ = writeln!(o, "{}", service_line(s, vip, *port));
                    }
                }
                for &d in &present {
                    let dest = &snap.dests[d];
                    let t = totals(d);
                    let rs = endpoint(&dest.addr, dest.port);
                    let w = dests[d].weight;
                    let _ = match view {
                        View::Plain => writeln!(
                            o,
                            "  -> {rs:<28} {:<7} {w:<6} {:<10} {}",
                            s.fwd.name(),
                            t.active,
                            t.inactive
                        ),
                        View::Stats | View::Rate => {
                            let [a, b, c, d, e] = five(view, d, totals, rates);
                            writeln!(o, "  -> {rs:<28} {a:>8} {b:>8} {c:>8} {d:>8} {e:>8}")
                        }
                        View::Persistent => writeln!(
                            o,
                            "  -> {rs:<28} {w:<9} {:<11} {:<10} {}",
                            t.persistent, t.active, t.inactive
                        ),
                    };
                }
            }
        }
    }
    o
}

/// The five numeric columns of `--stats` (counters) or `--rate` (smoothed rates) for one server.
fn five(
    view: View,
    d: usize,
    totals: &dyn Fn(usize) -> DestTotals,
    rates: &dyn Fn(usize) -> Rates,
) -> [u64; 5] {
    if view == View::Rate {
        rates(d).columns()
    } else {
        let t = totals(d);
        [t.conns, t.in_packets, t.out_packets, t.in_bytes, t.out_bytes]
    }
}

/// `ipvsadm -L -n --timeout`.
pub fn timeouts(t: &Timeouts) -> String {
    let (tcp, fin, udp) = t.ipvsadm();
    format!("Timeout (tcp tcpfin udp): {} {} {}\n", tcp.as_secs(), fin.as_secs(), udp.as_secs())
}

/// `ipvsadm -L -n -c`: connections and templates with state and time left, from every worker.
pub fn connections(entries: &[(Instant, Conn)]) -> String {
    let mut o = String::from("IPVS connection entries\npro expire state       source                 virtual                destination\n");
    let mut rows: Vec<&(Instant, Conn)> = entries.iter().collect();
    rows.sort_by_key(|(_, c)| (c.vip, c.vport, c.client, c.cport, c.is_template()));
    for (now, c) in rows {
        let left = c.expires.saturating_since(*now);
        let state = if c.is_template() { "NONE" } else { c.state.name() };
        let _ = writeln!(
            o,
            "{:<3} {:<6} {:<11} {:<22} {:<22} {}",
            c.proto.name(),
            mmss(left),
            state,
            endpoint(&c.client, c.cport),
            endpoint(&c.vip, c.vport),
            endpoint(&c.rs, c.rport)
        );
    }
    o
}

/// ipvsadm's expire column: minutes:seconds.
fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// `vsadm -L -n --json`: every service and present real server with its state and counters.
pub fn services_json(snap: &Snapshot, dests: &[DestState], totals: &dyn Fn(usize) -> DestTotals) -> String {
    let services: Vec<serde_json::Value> = snap
        .live_services()
        .map(|(id, s)| {
            let servers: Vec<serde_json::Value> = s
                .dests
                .iter()
                .map(|&d| d as usize)
                .filter(|&d| dests[d].present)
                .map(|d| {
                    let (x, t) = (&snap.dests[d], totals(d));
                    serde_json::json!({
                        "address": x.addr.to_string(), "port": x.port, "weight": dests[d].weight,
                        "forward": s.fwd.name(), "active": t.active, "inactive": t.inactive,
                        "persistent": t.persistent, "conns": t.conns, "in_packets": t.in_packets,
                        "out_packets": t.out_packets, "in_bytes": t.in_bytes, "out_bytes": t.out_bytes,
                    })
                })
                .collect();
            serde_json::json!({
                "name": s.name,
                "protocol": s.proto.name(),
                "vips": s.vips.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
                "ports": s.ports,
                "scheduler": s.sched.name(),
                "persistence": s.persistence.map(|p| serde_json::json!({
                    "timeout": p.timeout.as_secs(), "netmask": p.netmask, "netmask6": p.netmask6,
                })),
                "tunnel": (s.fwd == vsd_dataplane::conn::Fwd::Tunnel).then(|| {
                    let t = snap.tunnel(id);
                    serde_json::json!({ "type": t.kind.name(), "port": t.port, "checksum": t.csum })
                }),
                "servers": servers,
            })
        })
        .collect();
    serde_json::json!({ "services": services }).to_string() + "\n"
}

/// `vsadm -L -n -c --json`: connection entries and templates.
pub fn connections_json(entries: &[(Instant, Conn)]) -> String {
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|(now, c)| {
            serde_json::json!({
                "protocol": c.proto.name(),
                "expires_in": c.expires.saturating_since(*now).as_secs(),
                "state": if c.is_template() { "NONE" } else { c.state.name() },
                "template": c.is_template(),
                "client": c.client.to_string(), "client_port": c.cport,
                "vip": c.vip.to_string(), "vport": c.vport,
                "server": c.rs.to_string(), "server_port": c.rport,
            })
        })
        .collect();
    serde_json::json!({ "connections": rows }).to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    const CFG: &str = r#"
dpdk: { eal: ["-l", "0-1", "--no-huge", "--vdev", "net_null0", "--vdev", "net_null1"] }
workers: { lcores: [1] }
interfaces:
  - { name: ext, port: net_null0, addresses: [198.18.0.2/24] }
  - { name: int, port: net_null1, addresses: [198.19.0.1/24] }
services:
  - name: web
    vips: [198.18.0.100]
    protocol: tcp
    ports: [80]
    scheduler: wlc
    forwarding: nat
    real_servers:
      - { address: 198.19.0.11, port: 8080, weight: 1 }
      - { address: 198.19.0.12, port: 8080, weight: 2 }
  - name: sticky
    vips: [198.18.0.101]
    protocol: tcp
    ports: [0]
    scheduler: rr
    forwarding: dr
    persistence: { timeout: 30m, netmask: 24 }
    real_servers:
      - { address: 198.19.0.21 }
"#;

    fn fixture() -> (Arc<Snapshot>, Vec<DestState>) {
        let cfg = config::parse(CFG, "t.yaml").unwrap();
        let snap = crate::snapshot::build(&cfg, &[[0; 6]; 2], 1, None).unwrap();
        let dests = snap.dests.iter().map(|d| DestState { weight: d.weight, present: true }).collect();
        (snap, dests)
    }

    fn totals(d: usize) -> DestTotals {
        let n = d as u64 + 1;
        DestTotals {
            conns: 10 * n,
            in_packets: 100 * n,
            out_packets: 90 * n,
            in_bytes: 6000 * n,
            out_bytes: 9000 * n,
            active: n,
            inactive: 2 * n,
            persistent: n - 1,
        }
    }

    use std::sync::Arc;

    fn no_rates(_: usize) -> Rates {
        Rates::default()
    }

    #[test]
    fn rate_listing_is_ipvsadm_shaped() {
        let (snap, dests) = fixture();
        let rates = |d: usize| Rates { cps: 10.0 * (d + 1) as f64, in_pps: 99.6, ..Rates::default() };
        let got = services(&snap, &dests, &totals, &rates, View::Rate, 4096);
        let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  198.18.0.100:80                    30      200        0        0        0
  -> 198.19.0.11:8080                   10      100        0        0        0
  -> 198.19.0.12:8080                   20      100        0        0        0
TCP  198.18.0.101:0                     30      100        0        0        0
  -> 198.19.0.21:0                      30      100        0        0        0
";
        assert_eq!(got, want);
    }

    /// Golden output in ipvsadm 1.31's layout (`ipvsadm -L -n`; the columns are its printf widths:
    /// `%-33s %8llu` for services and `  -> %-28s` for servers).
    #[test]
    fn plain_listing_is_ipvsadm_shaped() {
        let (snap, dests) = fixture();
        let got = services(&snap, &dests, &totals, &no_rates, View::Plain, 4096);
        let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.100:80 wlc
  -> 198.19.0.11:8080             Masq    1      1          2
  -> 198.19.0.12:8080             Masq    2      2          4
TCP  198.18.0.101:0 rr persistent 1800 mask 255.255.255.0
  -> 198.19.0.21:0                Route   1      3          6
";
        assert_eq!(got, want);
    }

    /// IPv6 services and servers list as ipvsadm lists them, `[2001:db8:1::100]:80`, the
    /// persistence netmask of an IPv6 service as its prefix length (`mask 64`), beside IPv4 ones.
    #[test]
    fn ipv6_services_list_with_bracketed_addresses() {
        let text = CFG
            .replacen("addresses: [198.18.0.2/24] }", "addresses: [198.18.0.2/24, \"2001:db8:1::2/64\"] }", 1)
            .replacen(
                "addresses: [198.19.0.1/24] }",
                "addresses: [198.19.0.1/24, \"2001:db8:2::1/64\"] }",
                1,
            )
            + r#"  - name: web6
    vips: ["2001:db8:1::100"]
    protocol: tcp
    ports: [80]
    scheduler: wrr
    forwarding: nat
    real_servers:
      - { address: "2001:db8:2::11", port: 8080 }
      - { address: "2001:db8:2::12", port: 8080, weight: 2 }
  - name: dns6
    vips: ["2001:db8:1::101"]
    protocol: udp
    ports: [53]
    scheduler: rr
    forwarding: dr
    persistence: { timeout: 5m, netmask6: 64 }
    real_servers:
      - { address: "2001:db8:2::21" }
"#;
        let cfg = config::parse(&text, "t.yaml").unwrap();
        let snap = crate::snapshot::build(&cfg, &[[0; 6]; 2], 1, None).unwrap();
        let dests: Vec<DestState> =
            snap.dests.iter().map(|d| DestState { weight: d.weight, present: true }).collect();
        let got = services(&snap, &dests, &totals, &no_rates, View::Plain, 4096);
        let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.100:80 wlc
  -> 198.19.0.11:8080             Masq    1      1          2
  -> 198.19.0.12:8080             Masq    2      2          4
TCP  198.18.0.101:0 rr persistent 1800 mask 255.255.255.0
  -> 198.19.0.21:0                Route   1      3          6
TCP  [2001:db8:1::100]:80 wrr
  -> [2001:db8:2::11]:8080        Masq    1      4          8
  -> [2001:db8:2::12]:8080        Masq    2      5          10
UDP  [2001:db8:1::101]:53 rr persistent 300 mask 64
  -> [2001:db8:2::21]:0           Route   1      6          12
";
        assert_eq!(got, want);
        // JSON carries the bare address beside the port, for machines.
        let json: serde_json::Value = serde_json::from_str(&services_json(&snap, &dests, &totals)).unwrap();
        assert_eq!(json["services"][2]["vips"][0], "2001:db8:1::100");
        assert_eq!(json["services"][2]["servers"][0]["address"], "2001:db8:2::11");
        assert_eq!(json["services"][2]["servers"][0]["port"], 8080);
        // And a connection entry of an IPv6 client (ipvsadm's columns, widened by the long names).
        let now = Instant::from_millis(1_000);
        let v6 = |s: &str| vsd_dataplane::Addr::from(s.parse::<std::net::IpAddr>().unwrap());
        let conn = Conn {
            client: v6("2001:db8:1::10"),
            cport: 40000,
            vip: v6("2001:db8:1::100"),
            vport: 80,
            rs: v6("2001:db8:2::11"),
            rport: 8080,
            state: vsd_dataplane::conn::ConnState::Established,
            expires: now + Duration::from_secs(899),
            ..Conn::EMPTY
        };
        let row = connections(&[(now, conn)]);
        let row = row.lines().nth(2).unwrap();
        let words: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            words,
            [
                "TCP",
                "14:59",
                "ESTABLISHED",
                "[2001:db8:1::10]:40000",
                "[2001:db8:1::100]:80",
                "[2001:db8:2::11]:8080"
            ]
        );
        let json: serde_json::Value = serde_json::from_str(&connections_json(&[(now, conn)])).unwrap();
        assert_eq!(json["connections"][0]["client"], "2001:db8:1::10");
        assert_eq!(json["connections"][0]["server"], "2001:db8:2::11");
    }

    #[test]
    fn stats_and_persistent_listings_are_ipvsadm_shaped() {
        let (snap, mut dests) = fixture();
        dests[1].present = false;
        let got = services(&snap, &dests, &totals, &no_rates, View::Stats, 4096);
        let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  198.18.0.100:80                    30      300      270    18000    27000
  -> 198.19.0.11:8080                   10      100       90     6000     9000
TCP  198.18.0.101:0                     30      300      270    18000    27000
  -> 198.19.0.21:0                      30      300      270    18000    27000
";
        assert_eq!(got, want, "a removed server is not listed; service totals include it");
        let got = services(&snap, &dests, &totals, &no_rates, View::Persistent, 4096);
        assert!(
            got.contains("  -> 198.19.0.21:0                1         2           3          6\n"),
            "{got}"
        );
    }

    #[test]
    fn connection_listing_is_ipvsadm_shaped() {
        let now = Instant::from_millis(1_000);
        let conn = Conn {
            client: vsd_dataplane::Addr::from_v4([198, 18, 0, 10]),
            cport: 40000,
            vip: vsd_dataplane::Addr::from_v4([198, 18, 0, 100]),
            vport: 80,
            rs: vsd_dataplane::Addr::from_v4([198, 19, 0, 11]),
            rport: 8080,
            state: vsd_dataplane::conn::ConnState::Established,
            expires: now + Duration::from_secs(899),
            ..Conn::EMPTY
        };
        let template = Conn {
            flags: vsd_dataplane::conn::F_TEMPLATE,
            cport: 0,
            vip: vsd_dataplane::Addr::from_v4([198, 18, 0, 101]),
            vport: 0,
            rs: vsd_dataplane::Addr::from_v4([198, 19, 0, 21]),
            rport: 0,
            expires: now + Duration::from_secs(1799),
            ..conn
        };
        let got = connections(&[(now, conn), (now, template)]);
        let want = "\
IPVS connection entries
pro expire state       source                 virtual                destination
TCP 14:59  ESTABLISHED 198.18.0.10:40000      198.18.0.100:80        198.19.0.11:8080
TCP 29:59  NONE        198.18.0.10:0          198.18.0.101:0         198.19.0.21:0
";
        assert_eq!(got, want);
        let json: serde_json::Value = serde_json::from_str(&connections_json(&[(now, template)])).unwrap();
        assert_eq!(json["connections"][0]["state"], "NONE");
        assert_eq!(json["connections"][0]["expires_in"], 1799);
    }

    #[test]
    fn json_listing_carries_state_and_counters() {
        let (snap, dests) = fixture();
        let v: serde_json::Value = serde_json::from_str(&services_json(&snap, &dests, &totals)).unwrap();
        assert_eq!(v["services"][0]["name"], "web");
        assert_eq!(v["services"][0]["servers"][1]["weight"], 2);
        assert_eq!(v["services"][0]["servers"][1]["conns"], 20);
        assert_eq!(v["services"][1]["persistence"]["timeout"], 1800);
        assert_eq!(v["services"][1]["servers"][0]["forward"], "Route");
        assert!(v["services"][1]["tunnel"].is_null());
    }

    #[test]
    fn tunnel_services_list_as_tunnel_with_their_encapsulation() {
        let text = CFG
            .replacen("forwarding: dr", "forwarding: tunnel\n    tunnel: { type: gue, checksum: true }", 1)
            .replacen("ports: [0]", "ports: [80]", 1)
            .replacen("    persistence: { timeout: 30m, netmask: 24 }\n", "", 1);
        let cfg = config::parse(&text, "t.yaml").unwrap();
        let snap = crate::snapshot::build(&cfg, &[[0; 6]; 2], 1, None).unwrap();
        let dests: Vec<DestState> =
            snap.dests.iter().map(|d| DestState { weight: d.weight, present: true }).collect();
        let got = services(&snap, &dests, &totals, &no_rates, View::Plain, 4096);
        assert!(got.contains("  -> 198.19.0.21:0                Tunnel  1      3          6\n"), "{got}");
        let v: serde_json::Value = serde_json::from_str(&services_json(&snap, &dests, &totals)).unwrap();
        assert_eq!(v["services"][1]["servers"][0]["forward"], "Tunnel");
        assert_eq!(
            v["services"][1]["tunnel"],
            serde_json::json!({ "type": "gue", "port": 6080, "checksum": true })
        );
    }
}
