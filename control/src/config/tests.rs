//! Config tests: the shipped examples parse to what they say, and every rule refuses its violation with
//! a message naming the key path and the reason.
//!
//! Each refusal test starts from one valid text (`BASE`) and changes exactly one thing, so a test fails
//! for the rule it is about and not for some other mistake.

use std::net::IpAddr;
use std::time::Duration;

use super::*;

const BRIEF: &str = include_str!("../../../deploy/examples/brief.yaml");
const DEMO: &str = include_str!("../../../deploy/examples/demo.yaml");
const REFERENCE: &str = include_str!("../../../deploy/examples/reference.yaml");

const BASE: &str = r#"dpdk:
  eal: ["-l", "0-2", "--no-huge", "--no-pci",
        "--vdev", "net_af_packet0,iface=t-ext", "--vdev", "net_af_packet1,iface=t-int"]
workers: { lcores: [1, 2] }
interfaces:
  - { name: ext, port: net_af_packet0, addresses: [198.18.0.2/24] }
  - { name: int, port: net_af_packet1, addresses: [198.19.0.1/24] }
routes:
  - { prefix: 198.20.0.0/16, via: 198.19.0.254 }
services:
  - name: web
    vips: [198.18.0.100]
    protocol: tcp
    ports: [80]
    scheduler: wlc
    forwarding: nat
    real_servers:
      - { address: 198.19.0.11, port: 8080 }
      - { address: 198.19.0.12, port: 8080, weight: 2 }
  - name: sticky
    vips: [198.18.0.101]
    protocol: udp
    ports: [53]
    scheduler: rr
    forwarding: dr
    persistence: { timeout: 30m, netmask: 24 }
    real_servers:
      - { address: 198.19.0.21 }
"#;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Replaces the first `from` in BASE by `to` and returns the refusal message; panics if BASE does
/// not contain `from` (a broken test) or if the result is accepted.
fn refuse(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "test setup: {from:?} is not in BASE");
    let text = BASE.replacen(from, to, 1);
    match parse(&text, "t.yaml") {
        Ok(_) => panic!("accepted after replacing {from:?} with {to:?}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts the message has the file, the key path and the reason.
fn assert_says(message: &str, path: &str, reason: &str) {
    assert!(message.starts_with("t.yaml:"), "no file name in: {message}");
    assert!(
        message.contains(&format!("{path}:")) || message.contains(&format!("{path} \"")),
        "no path {path:?} in: {message}"
    );
    assert!(message.contains(reason), "no reason {reason:?} in: {message}");
}

#[test]
fn base_is_valid() {
    let config = parse(BASE, "t.yaml").unwrap();
    assert_eq!(config.services.len(), 2);
}

#[test]
fn brief_example_parses() {
    let config = parse(BRIEF, "brief.yaml").unwrap();
    assert_eq!(config.workers.lcores, [1]);
    assert_eq!(config.interfaces[0].addresses[0], "198.18.0.2/24".parse().unwrap());
    assert_eq!(config.routes[0].prefix, "0.0.0.0/0".parse().unwrap());
    assert_eq!(config.routes[0].via, Some(ip("198.18.0.1")));
    let web = &config.services[0];
    assert_eq!(
        (web.scheduler, web.forwarding, web.protocol),
        (Scheduler::Wlc, Forwarding::Nat, Protocol::Tcp)
    );
    assert_eq!(
        web.persistence,
        Some(Persistence { timeout: Duration::from_secs(360), netmask: 32, netmask6: 128 })
    );
    assert_eq!(
        web.real_servers[1],
        RealServer { address: ip("198.19.0.12"), port: 8080, weight: 2, health_check: None }
    );
    let sticky = &config.services[1];
    assert!(sticky.is_every_port());
    assert_eq!(sticky.persistence.unwrap().timeout, Duration::from_secs(30 * 60));
    assert_eq!(sticky.persistence.unwrap().netmask, 24);
    // Both "port: 0" and no port mean "keep the client's destination port".
    assert_eq!(sticky.real_servers[0].port, 0);
    assert_eq!(
        sticky.real_servers[1],
        RealServer { address: ip("198.19.0.22"), port: 0, weight: 1, health_check: None }
    );
    assert_eq!(config.metrics.listen, "127.0.0.1:9108".parse().unwrap());
    assert_eq!(config.admin.socket, std::path::Path::new("/run/vsd/admin.sock"));
}

#[test]
fn demo_example_parses() {
    let config = parse(DEMO, "demo.yaml").unwrap();
    let eal = [
        "-l",
        "0-1",
        "--no-huge",
        "--no-pci",
        "--no-shconf",
        "-m",
        "512",
        "--file-prefix",
        "vsd-demo",
        "--vdev",
        "net_af_packet0,iface=vsd-ext",
        "--vdev",
        "net_af_packet1,iface=vsd-int",
    ];
    assert_eq!(config.dpdk.eal, eal);
    assert_eq!(config.workers.lcores, [1]);
    let (ext, int) = (&config.interfaces[0], &config.interfaces[1]);
    assert_eq!((ext.name.as_str(), ext.device()), ("ext", "net_af_packet0"));
    assert_eq!(ext.addresses, ["198.18.0.2/24".parse().unwrap()]);
    assert_eq!((int.name.as_str(), int.device()), ("int", "net_af_packet1"));
    assert_eq!(int.addresses, ["198.19.0.1/24".parse().unwrap()]);

    let web = &config.services[0];
    assert_eq!(
        (web.vips.as_slice(), web.ports.as_slice()),
        ([ip("198.18.0.100")].as_slice(), [80].as_slice())
    );
    assert_eq!((web.scheduler, web.forwarding, web.persistence), (Scheduler::Rr, Forwarding::Nat, None));
    let backends: Vec<_> = web.real_servers.iter().map(|rs| (rs.address, rs.port, rs.weight)).collect();
    assert_eq!(
        backends,
        [(ip("198.19.0.11"), 8080, 1), (ip("198.19.0.12"), 8080, 1), (ip("198.19.0.13"), 8080, 1)]
    );

    let dr = &config.services[1];
    assert_eq!((dr.vips.as_slice(), dr.forwarding), ([ip("198.18.0.101")].as_slice(), Forwarding::Dr));
    let backends: Vec<_> = dr.real_servers.iter().map(|rs| (rs.address, rs.port)).collect();
    assert_eq!(backends, [(ip("198.19.0.21"), 80), (ip("198.19.0.22"), 80), (ip("198.19.0.23"), 80)]);
}

#[test]
fn reference_example_parses_and_shows_defaults() {
    let config = parse(REFERENCE, "reference.yaml").unwrap();
    assert_eq!((config.dpdk.mbufs, config.dpdk.rx_desc, config.dpdk.tx_desc), (16_383, 1024, 1024));
    let web = &config.services[0];
    // Dotted netmask 255.255.255.0 is /24.
    assert_eq!(web.persistence.unwrap().netmask, 24);
    assert_eq!(web.persistence.unwrap().netmask6, 64);
    assert_eq!(config.routes[2].via, None);
    assert_eq!(web.sorry_server.as_ref().map(|s| s.port), Some(8080));
    assert_eq!(config.interfaces[1].neighbours[0].address, ip("198.19.0.21"));
    assert!(config.services[1].one_packet);
    assert_eq!(config.services[2].persistence.unwrap().timeout, Duration::from_secs(3600));
    assert_eq!(
        config.services[2].tunnel,
        Some(Tunnel { kind: TunnelType::Gue, port: Some(6080), checksum: false })
    );
    assert_eq!(config.timeouts, Timeouts::default());
    assert_eq!(config.conn_table.capacity, DEFAULT_CONN_CAPACITY);
}

/// Every config the project ships passes what `vsd --check` runs ([`crate::check`]: validation and
/// the snapshot build): each file under deploy/examples/, and the end-to-end tests' configs with
/// their placeholders filled in as their scripts fill them (tests/e2e/test_*.sh).
#[test]
fn every_shipped_config_passes_vsd_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let fill = [
        ("@PREFIX@", "vsd-check"),
        ("@SOCKET@", "/run/vsd/check.sock"),
        ("@TCP@", "900s"),
        ("@WORKERS@", "2"),
        ("@LCORES@", "1, 2"),
        ("@LCOREMAP@", "0@0,1@1,2@0"),
    ];
    let tmp = std::env::temp_dir().join(format!("vsd-shipped-configs-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (dir, at_least) in [("deploy/examples", 3), ("tests/e2e", 12)] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect();
        files.sort();
        assert!(files.len() >= at_least, "{dir}: only {} configs found", files.len());
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let filled = fill.iter().fold(text.clone(), |t, (from, to)| t.replace(from, to));
            let checked = if filled == text {
                path.clone()
            } else {
                let copy = tmp.join(path.file_name().unwrap());
                std::fs::write(&copy, filled).unwrap();
                copy
            };
            if let Err(e) = crate::check(&checked) {
                panic!("{} does not pass vsd --check: {e}", path.display());
            }
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn omitted_keys_take_lvs_defaults() {
    let config = parse(BASE, "t.yaml").unwrap();
    assert_eq!(config.dpdk.mbufs, DEFAULT_MBUFS);
    assert_eq!(config.timeouts.tcp, Duration::from_secs(900));
    assert_eq!(config.timeouts.tcp_fin, Duration::from_secs(120));
    assert_eq!(config.timeouts.udp, Duration::from_secs(300));
    assert!(!config.expire_nodest_conn && !config.expire_quiescent_template);
    assert_eq!(config.metrics.listen, DEFAULT_METRICS_LISTEN);
    assert_eq!(config.admin.socket, std::path::Path::new(DEFAULT_ADMIN_SOCKET));
    assert_eq!(config.services[0].real_servers[0].weight, 1);
    let sticky = config.services[1].persistence.unwrap();
    assert_eq!(sticky.netmask6, 128);
    let text = BASE.replacen("persistence: { timeout: 30m, netmask: 24 }", "persistence: {}", 1);
    let config = parse(&text, "t.yaml").unwrap();
    assert_eq!(config.services[1].persistence, Some(Persistence::default()));
    assert_eq!(Persistence::default().timeout, Duration::from_secs(360));
    let text = BASE.replacen("    scheduler: wlc\n", "", 1);
    assert_eq!(parse(&text, "t.yaml").unwrap().services[0].scheduler, Scheduler::Wlc);
}

#[test]
fn to_yaml_round_trips() {
    for text in [BASE, BRIEF, DEMO, REFERENCE] {
        let config = parse(text, "t.yaml").unwrap();
        let saved = config.to_yaml();
        assert_eq!(parse(&saved, "saved.yaml").unwrap(), config, "{saved}");
    }
}

#[test]
fn enum_names_match_the_yaml() {
    for name in ["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh", "fo", "ovf"] {
        let config =
            parse(&BASE.replacen("scheduler: wlc", &format!("scheduler: {name}"), 1), "t.yaml").unwrap();
        assert_eq!(config.services[0].scheduler.as_str(), name);
    }
    for name in ["nat", "fullnat"] {
        let config =
            parse(&BASE.replacen("forwarding: nat", &format!("forwarding: {name}"), 1), "t.yaml").unwrap();
        assert_eq!(config.services[0].forwarding.as_str(), name);
    }
    let config = parse(BASE, "t.yaml").unwrap();
    assert_eq!(config.services[1].forwarding.as_str(), "dr");
    assert_eq!((config.services[0].protocol.as_str(), config.services[1].protocol.as_str()), ("tcp", "udp"));
    assert_eq!((Protocol::Tcp.ip_number(), Protocol::Udp.ip_number()), (6, 17));
    let config = parse(REFERENCE, "t.yaml").unwrap();
    assert_eq!(config.services[2].forwarding.as_str(), "tunnel");
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = std::env::temp_dir().join(format!("vsd-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.yaml");
    std::fs::write(&good, DEMO).unwrap();
    assert_eq!(load(&good).unwrap(), parse(DEMO, "demo.yaml").unwrap());
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, DEMO.replacen("vips: [198.18.0.100]", "vips: [198.18.0.x]", 1)).unwrap();
    let message = load(&bad).unwrap_err().to_string();
    assert!(message.starts_with(&format!("{}:", bad.display())), "{message}");
    let missing = dir.join("missing.yaml");
    let error = load(&missing).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(error.to_string().contains("missing.yaml: cannot read"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- shape errors, reported by serde_yaml_ng with line and column ---

#[test]
fn invalid_vip_is_refused_with_line_and_column() {
    let message = refuse("vips: [198.18.0.100]", "vips: [198.18.0.x]");
    assert_eq!(message, "t.yaml:12:12: services[0].vips[0]: invalid IP address \"198.18.0.x\"");
}

#[test]
fn typo_in_a_key_names_the_key_and_the_known_keys() {
    let message = refuse("{ address: 198.19.0.11, port: 8080 }", "{ adress: 198.19.0.11, port: 8080 }");
    assert_says(&message, "services[0].real_servers[0]", "unknown field `adress`");
    assert!(message.contains("`address`") && message.contains("`weight`"), "{message}");
    assert!(message.starts_with("t.yaml:18:11:"), "{message}");
    let message = refuse("workers:", "worker:");
    assert!(message.contains("unknown field `worker`") && message.contains("`workers`"), "{message}");
}

#[test]
fn bad_values_are_refused_where_they_are() {
    let message = refuse("198.19.0.1/24", "198.19.0.1/33");
    assert_says(&message, "interfaces[1].addresses[0]", "/33 is longer than the 32 bits");
    let message = refuse("198.19.0.1/24", "198.19.0.1");
    assert_says(&message, "interfaces[1].addresses[0]", "expected ADDRESS/LENGTH");
    let message = refuse("scheduler: wlc", "scheduler: wlcx");
    assert_says(&message, "services[0].scheduler", "unknown variant `wlcx`");
    let message = refuse("timeout: 30m", "timeout: 30x");
    assert_says(&message, "services[1].persistence.timeout", "invalid duration \"30x\": unknown unit \"x\"");
    let message = refuse("port: 8080 }", "port: 70000 }");
    assert_says(&message, "services[0].real_servers[0].port", "70000");
    let message = refuse("services:", "metrics: { listen: 127.0.0.1 }\nservices:");
    assert_says(&message, "metrics.listen", "invalid address and port \"127.0.0.1\"");
    let message = refuse("via: 198.19.0.254", "via: 198.19.0.2x");
    assert_says(&message, "routes[0].via", "invalid IP address \"198.19.0.2x\"");
}

#[test]
fn missing_required_key_is_named() {
    let message = refuse("    forwarding: nat\n", "");
    assert!(message.contains("missing field `forwarding`"), "{message}");
    assert!(message.contains("services[0]"), "{message}");
}

#[test]
fn empty_and_broken_files_are_refused() {
    assert_eq!(parse("", "t.yaml").unwrap_err().to_string(), "t.yaml: file is empty");
    let message = refuse("workers: { lcores: [1, 2] }", "workers: { lcores: [1, 2 }");
    assert!(message.starts_with("t.yaml:4:"), "{message}");
}

// --- interfaces and workers ---

#[test]
fn no_interfaces() {
    let at = BASE.find("interfaces:").unwrap();
    let end = BASE.find("routes:").unwrap();
    let text = format!("{}interfaces: []\n{}", &BASE[..at], &BASE[end..]);
    let message = parse(&text, "t.yaml").unwrap_err().to_string();
    assert!(message.starts_with("t.yaml:5:"), "{message}");
    assert!(message.contains("interfaces: at least one interface is needed"), "{message}");
}

#[test]
fn duplicate_interface_name() {
    let message = refuse("name: int", "name: ext");
    assert_says(&message, "interfaces[1].name", "interface name \"ext\" is already used by interfaces[0]");
}

#[test]
fn duplicate_interface_port() {
    let message = refuse("port: net_af_packet1", "port: \"net_af_packet0,iface=t-ext\"");
    assert_says(
        &message,
        "interfaces[1].port",
        "port \"net_af_packet0\" is already used by interface \"ext\"",
    );
}

#[test]
fn port_without_a_vdev() {
    let message = refuse("port: net_af_packet1", "port: net_af_packet2");
    assert_says(&message, "interfaces[1].port", "no --vdev in dpdk.eal creates it");
    let message = refuse("port: net_af_packet1", "port: \"net_af_packet1,iface=other\"");
    assert_says(&message, "interfaces[1].port", "does not match dpdk.eal's --vdev");
    // A PCI address is not checked against --vdev.
    let text = BASE.replacen("port: net_af_packet1", "port: \"0000:03:00.0\"", 1);
    assert_eq!(parse(&text, "t.yaml").unwrap().interfaces[1].device(), "0000:03:00.0");
}

#[test]
fn interface_address_rules() {
    let message = refuse("addresses: [198.19.0.1/24]", "addresses: []");
    assert_says(&message, "interfaces[1].addresses", "at least one address is needed");
    let message = refuse("addresses: [198.19.0.1/24]", "addresses: [198.18.0.2/16]");
    assert_says(&message, "interfaces[1].addresses[0]", "address 198.18.0.2 is already on interface \"ext\"");
}

#[test]
fn mtu_below_the_rfc_minimum() {
    let message = refuse("addresses: [198.19.0.1/24] }", "addresses: [198.19.0.1/24], mtu: 60 }");
    assert_says(&message, "interfaces[1].mtu", "MTU 60 is below the minimum of 68");
    // IPv6's 1280 is tested in validate.rs: a config cannot have an IPv6 address yet.
}

#[test]
fn worker_lcores_empty() {
    let message = refuse("lcores: [1, 2]", "lcores: []");
    assert_says(&message, "workers.lcores", "at least one worker lcore is needed");
}

#[test]
fn worker_lcores_duplicated() {
    let message = refuse("lcores: [1, 2]", "lcores: [1, 1]");
    assert_says(&message, "workers.lcores[1]", "lcore 1 is listed twice");
}

#[test]
fn worker_lcore_outside_the_eal_core_list() {
    let message = refuse("lcores: [1, 2]", "lcores: [1, 3]");
    assert_says(&message, "workers.lcores[1]", "lcore 3 is not in the EAL core list (dpdk.eal: -l 0-2)");
}

// --- routes ---

#[test]
fn route_next_hop_not_on_a_connected_subnet() {
    let message = refuse("via: 198.19.0.254", "via: 198.21.0.1");
    assert_says(
        &message,
        "routes[0].via",
        "next hop 198.21.0.1 is not on a connected subnet of any interface",
    );
    let message = refuse("via: 198.19.0.254 }", "via: 198.19.0.254, interface: ext }");
    assert_says(&message, "routes[0].via", "not on a connected subnet of interface \"ext\"");
}

#[test]
fn route_rules() {
    let message = refuse("prefix: 198.20.0.0/16", "prefix: 198.20.0.5/16");
    assert_says(&message, "routes[0].prefix", "198.20.0.5/16 has host bits set; did you mean 198.20.0.0/16?");
    let message = refuse("via: 198.19.0.254 }", "via: 198.19.0.254, interface: eth9 }");
    assert_says(&message, "routes[0].interface", "no interface is named \"eth9\" (known: ext, int)");
    let message = refuse("{ prefix: 198.20.0.0/16, via: 198.19.0.254 }", "{ prefix: 198.20.0.0/16 }");
    assert_says(&message, "routes[0]", "a route needs `via`, `interface`, or both");
    let message = refuse("via: 198.19.0.254", "via: \"2001:db8:1::1\"");
    assert_says(&message, "routes[0].via", "not of the same address family");
    let message = refuse(
        "  - { prefix: 198.20.0.0/16, via: 198.19.0.254 }\n",
        "  - { prefix: 198.20.0.0/16, via: 198.19.0.254 }\n  - { prefix: 198.20.0.0/16, interface: int }\n",
    );
    assert_says(&message, "routes[1].prefix", "a route to 198.20.0.0/16 is already given by routes[0]");
}

// --- services ---

#[test]
fn duplicate_service_name() {
    let message = refuse("name: sticky", "name: web");
    assert_says(&message, "services[1].name", "service name \"web\" is already used by services[0]");
}

#[test]
fn same_vip_port_protocol_in_two_services() {
    let text = BASE.replacen("name: sticky", "name: web2", 1).replacen(
        "vips: [198.18.0.101]",
        "vips: [198.18.0.100]",
        1,
    );
    let text = text.replacen("protocol: udp", "protocol: tcp", 1).replacen("ports: [53]", "ports: [80]", 1);
    let message = parse(&text, "t.yaml").unwrap_err().to_string();
    assert_eq!(
        message,
        "t.yaml:20:5: services[1] \"web2\": VIP 198.18.0.100:80/tcp is already used by service \"web\""
    );
    // The same VIP and port on the other protocol is a different service, as in LVS.
    let text = text.replacen(
        "protocol: tcp\n    ports: [80]\n    scheduler: rr",
        "protocol: udp\n    ports: [80]\n    scheduler: rr",
        1,
    );
    assert!(parse(&text, "t.yaml").is_ok());
}

#[test]
fn port_zero_without_persistence() {
    let message = refuse("ports: [80]", "ports: [0]");
    assert_says(&message, "services[0].ports", "ports: [0] (every port) needs persistence");
    assert!(message.contains("services[0].ports \"web\""), "{message}");
}

#[test]
fn port_zero_mixed_with_other_ports() {
    let message = refuse("ports: [53]", "ports: [53, 0]");
    assert_says(
        &message,
        "services[1].ports[1]",
        "port 0 means every port and cannot be mixed with other ports",
    );
}

#[test]
fn service_lists_must_not_repeat() {
    let message = refuse("ports: [80]", "ports: [80, 80]");
    assert_says(&message, "services[0].ports[1]", "port 80 is listed twice");
    let message = refuse("vips: [198.18.0.100]", "vips: [198.18.0.100, 198.18.0.100]");
    assert_says(&message, "services[0].vips[1]", "VIP 198.18.0.100 is listed twice");
    let message = refuse("vips: [198.18.0.100]", "vips: []");
    assert_says(&message, "services[0].vips", "at least one VIP is needed");
}

#[test]
fn empty_real_servers_is_allowed() {
    let text =
        BASE.replacen("    real_servers:\n      - { address: 198.19.0.21 }\n", "    real_servers: []\n", 1);
    assert!(text != BASE);
    assert!(parse(&text, "t.yaml").unwrap().services[1].real_servers.is_empty());
    let text = BASE.replacen("    real_servers:\n      - { address: 198.19.0.21 }\n", "", 1);
    assert!(parse(&text, "t.yaml").unwrap().services[1].real_servers.is_empty());
}

#[test]
fn duplicate_real_server() {
    let message = refuse(
        "{ address: 198.19.0.12, port: 8080, weight: 2 }",
        "{ address: 198.19.0.11, port: 8080, weight: 2 }",
    );
    assert_says(
        &message,
        "services[0].real_servers[1]",
        "real server 198.19.0.11:8080 is listed twice in service \"web\"",
    );
    // The same address on another port is another real server.
    let text = BASE.replacen("{ address: 198.19.0.12, port: 8080", "{ address: 198.19.0.11, port: 8081", 1);
    assert!(parse(&text, "t.yaml").is_ok());
}

#[test]
fn weight_above_65535() {
    let message = refuse("weight: 2 }", "weight: 65536 }");
    assert_says(&message, "services[0].real_servers[1].weight", "weight 65536 is out of range 0..=65535");
    assert!(message.starts_with("t.yaml:19:53:"), "{message}");
    let text = BASE.replacen("weight: 2 }", "weight: 65535 }", 1);
    assert_eq!(parse(&text, "t.yaml").unwrap().services[0].real_servers[1].weight, 65_535);
}

#[test]
fn persistence_netmask_too_long() {
    let message = refuse("netmask: 24", "netmask: 33");
    assert_says(&message, "services[1].persistence.netmask", "netmask 33 is longer than the 32 bits");
    let message = refuse("netmask: 24 }", "netmask: 24, netmask6: 129 }");
    assert_says(&message, "services[1].persistence.netmask6", "netmask 129 is longer than the 128 bits");
}

#[test]
fn persistence_dotted_netmask() {
    let text = BASE.replacen("netmask: 24", "netmask: 255.255.240.0", 1);
    assert_eq!(parse(&text, "t.yaml").unwrap().services[1].persistence.unwrap().netmask, 20);
    let message = refuse("netmask: 24", "netmask: 255.0.255.0");
    assert_says(&message, "services[1].persistence.netmask", "netmask 255.0.255.0 is not contiguous");
}

#[test]
fn one_packet_on_tcp() {
    let message = refuse("    forwarding: nat\n", "    forwarding: nat\n    one_packet: true\n");
    assert_says(&message, "services[0].one_packet", "one_packet applies to UDP only");
    let text = BASE.replacen("    forwarding: dr\n", "    forwarding: dr\n    one_packet: true\n", 1);
    assert!(parse(&text, "t.yaml").unwrap().services[1].one_packet);
}

#[test]
fn unreachable_real_server() {
    let message = refuse("address: 198.19.0.11,", "address: 198.21.0.11,");
    assert_says(&message, "services[0].real_servers[0].address", "real server 198.21.0.11 is not reachable");
    // Through the route to 198.20.0.0/16, NAT reaches it...
    let text = BASE.replacen("address: 198.19.0.11,", "address: 198.20.0.11,", 1);
    assert!(parse(&text, "t.yaml").is_ok());
    // ...but DR only rewrites the MAC, so it needs the server on a connected link.
    let message = refuse("address: 198.19.0.21", "address: 198.20.0.21");
    assert_says(&message, "services[1].real_servers[0].address", "198.20.0.21 is not on a connected subnet");
}

#[test]
fn real_server_on_vsd_itself() {
    let message = refuse("address: 198.19.0.11,", "address: 198.19.0.1,");
    assert_says(
        &message,
        "services[0].real_servers[0].address",
        "is an address of vsd's own interface \"int\"",
    );
}

/// IPv6 goes wherever an address goes for NAT and DR: interface addresses, static neighbours,
/// routes (`::/0` included), VIPs and real servers, and services of both families side by side.
/// NAT66 on port 21 runs, with the FTP helper. What does not run over IPv6 yet is refused by its
/// key: tunnels, and (as for IPv4) a service mixing families.
#[test]
fn ipv6_services_run_nat_and_dr_and_refuse_what_does_not_run_yet() {
    let dual = BASE
        .replacen("addresses: [198.18.0.2/24] }", "addresses: [198.18.0.2/24, \"2001:db8:1::2/64\"] }", 1)
        .replacen(
            "addresses: [198.19.0.1/24] }",
            "addresses: [198.19.0.1/24, \"2001:db8:2::1/64\"], \
             neighbours: [{ address: \"2001:db8:2::11\", mac: \"02:00:5e:00:00:11\" }] }",
            1,
        )
        .replacen(
            "  - { prefix: 198.20.0.0/16, via: 198.19.0.254 }\n",
            "  - { prefix: 198.20.0.0/16, via: 198.19.0.254 }\n  - { prefix: \"::/0\", via: \"2001:db8:1::1\" }\n",
            1,
        );
    let six = r#"  - name: web6
    vips: ["2001:db8:1::100"]
    protocol: tcp
    ports: [80]
    scheduler: wrr
    forwarding: nat
    persistence: { timeout: 5m, netmask6: 64 }
    real_servers:
      - { address: "2001:db8:2::11", port: 8080 }
      - { address: "2001:db8:2::12", port: 8080, weight: 2 }
  - name: web6-dr
    vips: ["2001:db8:1::101"]
    protocol: tcp
    ports: [80]
    scheduler: rr
    forwarding: dr
    real_servers:
      - { address: "2001:db8:2::21" }
"#;
    let text = format!("{dual}{six}");
    let cfg = parse(&text, "t.yaml").expect("dual stack with NAT66 and DR over IPv6");
    assert_eq!(cfg.services.len(), 4);
    assert_eq!(cfg.routes[1].prefix.addr(), ip("::"));
    let refused = |from: &str, to: &str| match parse(&text.replacen(from, to, 1), "t.yaml") {
        Ok(_) => panic!("accepted after replacing {from:?} with {to:?}"),
        Err(e) => e.to_string(),
    };
    let m = refused(
        "    forwarding: dr\n    real_servers:\n      - { address: \"2001:db8:2::21\" }",
        "    forwarding: tunnel\n    real_servers:\n      - { address: \"2001:db8:2::21\" }",
    );
    assert_says(
        &m,
        "services[3].forwarding",
        "VIP 2001:db8:1::101: tunnels over IPv6 are not implemented yet",
    );
    // FTP over NAT66 runs: the helper reads EPRT |2| and 229 (RFC 2428).
    let ftp6 = text.replacen("    ports: [80]\n    scheduler: wrr", "    ports: [21]\n    scheduler: wrr", 1);
    let cfg = parse(&ftp6, "t.yaml").expect("an IPv6 NAT service on port 21");
    assert_eq!(cfg.services[2].ports, [21]);
    let m = refused(
        "{ address: \"2001:db8:2::12\", port: 8080, weight: 2 }",
        "{ address: 198.19.0.12, port: 8080 }",
    );
    assert_says(&m, "services[2].real_servers[1].address", "are of different address families");
}

#[test]
fn dr_real_server_port_differs_from_the_service_port() {
    let message = refuse("{ address: 198.19.0.21 }", "{ address: 198.19.0.21, port: 5353 }");
    assert_says(
        &message,
        "services[1].real_servers[0].port",
        "port 5353 differs from the service port; forwarding: dr cannot rewrite ports",
    );
    assert!(message.contains("set it to 53"), "{message}");
    let text = BASE.replacen("{ address: 198.19.0.21 }", "{ address: 198.19.0.21, port: 53 }", 1);
    assert_eq!(parse(&text, "t.yaml").unwrap().services[1].real_servers[0].port, 53);
    let text = BASE.replacen("forwarding: dr", "forwarding: tunnel", 1).replacen(
        "{ address: 198.19.0.21 }",
        "{ address: 198.19.0.21, port: 5353 }",
        1,
    );
    assert!(parse(&text, "t.yaml")
        .unwrap_err()
        .to_string()
        .contains("forwarding: tunnel cannot rewrite ports"));
}

#[test]
fn zero_timeouts() {
    let message = refuse("services:", "timeouts: { tcp_fin: 0s }\nservices:");
    assert_says(&message, "timeouts.tcp_fin", "must be greater than 0");
    let message = refuse("services:", "timeouts: { udp: 0 }\nservices:");
    assert_says(&message, "timeouts.udp", "must be greater than 0");
    let message = refuse("timeout: 30m", "timeout: 0ms");
    assert_says(&message, "services[1].persistence.timeout", "must be greater than 0");
    let text = BASE.replacen("services:", "timeouts: { tcp: 1h30m }\nservices:", 1);
    let config = parse(&text, "t.yaml").unwrap();
    assert_eq!((config.timeouts.tcp, config.timeouts.udp), (Duration::from_secs(5400), DEFAULT_UDP_TIMEOUT));
}

#[test]
fn zero_sizes() {
    let message =
        refuse("\"net_af_packet1,iface=t-int\"]\n", "\"net_af_packet1,iface=t-int\"]\n  mbufs: 0\n");
    assert_says(&message, "dpdk.mbufs", "must be greater than 0");
    let message = refuse("services:", "conn_table: { capacity: 0 }\nservices:");
    assert_says(&message, "conn_table.capacity", "must be greater than 0");
}

#[test]
fn validate_alone_reports_path_without_file() {
    let mut config = parse(BASE, "t.yaml").unwrap();
    config.services[0].real_servers[0].weight = 70_000;
    let error = config.validate().unwrap_err();
    assert_eq!(
        error.to_string(),
        "services[0].real_servers[0].weight: weight 70000 is out of range 0..=65535 (as ipvsadm -w)"
    );
    assert_eq!((error.origin(), error.location()), (None, None));
}

#[test]
fn static_neighbours_parse_and_must_be_on_the_interface() {
    let with = BASE.replacen(
        "addresses: [198.19.0.1/24] }",
        "addresses: [198.19.0.1/24], neighbours: [{ address: 198.19.0.11, mac: \"02:00:5e:00:00:11\" }] }",
        1,
    );
    let config = parse(&with, "t.yaml").unwrap();
    assert_eq!(config.interfaces[1].neighbours[0].address, ip("198.19.0.11"));
    assert_eq!(config.interfaces[1].neighbours[0].mac, [2, 0, 0x5e, 0, 0, 0x11]);
    let m = refuse(
        "addresses: [198.19.0.1/24] }",
        "addresses: [198.19.0.1/24], neighbours: [{ address: 198.18.0.11, mac: \"02:00:5e:00:00:11\" }] }",
    );
    assert_says(&m, "interfaces[1].neighbours[0].address", "not on a subnet");
    let m = refuse(
        "addresses: [198.19.0.1/24] }",
        "addresses: [198.19.0.1/24], neighbours: [{ address: 198.19.0.11, mac: \"02:00:5e:00:11\" }] }",
    );
    assert!(m.contains("interfaces[1].neighbours[0].mac") && m.contains("invalid MAC address"), "{m}");
}

// --- health checks ---

const HTTP_CHECK: &str = "health_check: { type: http, path: /healthz, interval: 1s, timeout: 500ms }";

/// BASE with a service-level `health_check` line on "web" (before its real servers).
fn with_check(check: &str) -> String {
    BASE.replacen("    forwarding: nat\n", &format!("    forwarding: nat\n    {check}\n"), 1)
}

fn refuse_text(text: &str) -> String {
    match parse(text, "t.yaml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn health_check_keys_parse_with_defaults() {
    let config = parse(&with_check(HTTP_CHECK), "t.yaml").unwrap();
    let web = &config.services[0];
    let check = web.health_check.as_ref().unwrap();
    assert_eq!(check.kind, CheckKind::Http);
    assert_eq!(check.path.as_deref(), Some("/healthz"));
    assert_eq!((check.expected_status(), check.rise, check.fall), (200, 2, 3));
    assert_eq!((check.interval, check.timeout), (Duration::from_millis(1000), Duration::from_millis(500)));
    assert!(web.inhibit_on_failure, "keepalived's default");
    assert_eq!(web.sorry_server, None);
    // The service's check applies to each server, on the server's port.
    let rs = &web.real_servers[0];
    assert_eq!(web.check_for(rs), Some(check));
    assert_eq!(web.check_port(rs, check), 8080);

    let text = with_check("health_check: { type: tcp }").replacen(
        "{ address: 198.19.0.12, port: 8080, weight: 2 }",
        "{ address: 198.19.0.12, port: 8080, weight: 2, health_check: { type: exec, command: \"true\", rise: 1 } }",
        1,
    );
    let config = parse(&text, "t.yaml").unwrap();
    let web = &config.services[0];
    let own = web.check_for(&web.real_servers[1]).unwrap();
    assert_eq!(
        (own.kind, own.rise, own.fall),
        (CheckKind::Exec, 1, 3),
        "a server's check replaces the service's"
    );
    let tcp = web.health_check.as_ref().unwrap();
    assert_eq!((tcp.interval, tcp.timeout), (Duration::from_secs(5), Duration::from_secs(2)));
}

#[test]
fn check_port_falls_back_to_the_service_port() {
    let text = BASE.replacen(
        "      - { address: 198.19.0.21 }",
        "      - { address: 198.19.0.21, health_check: { type: tcp } }",
        1,
    );
    let config = parse(&text, "t.yaml").unwrap();
    let dns = &config.services[1];
    let rs = &dns.real_servers[0];
    assert_eq!(dns.check_port(rs, dns.check_for(rs).unwrap()), 53);
}

#[test]
fn sorry_server_and_inhibit_parse_and_round_trip() {
    let text =
        with_check("inhibit_on_failure: false\n    sorry_server: { address: 198.19.0.99, port: 8080 }");
    let config = parse(&text, "t.yaml").unwrap();
    let web = &config.services[0];
    assert!(!web.inhibit_on_failure);
    assert_eq!(web.sorry_server, Some(SorryServer { address: ip("198.19.0.99"), port: 8080 }));
    let saved = config.to_yaml();
    assert!(saved.contains("inhibit_on_failure: false") && saved.contains("sorry_server"), "{saved}");
    assert_eq!(parse(&saved, "saved.yaml").unwrap(), config);
    let config = parse(&with_check(HTTP_CHECK), "t.yaml").unwrap();
    assert_eq!(parse(&config.to_yaml(), "saved.yaml").unwrap(), config);
    assert!(!config.to_yaml().contains("inhibit_on_failure"), "the default is not written out");
}

#[test]
fn health_check_rules() {
    let path = "services[0].health_check";
    let cases: [(&str, &str, &str); 11] = [
        ("health_check: { type: http }", path, "type: http needs a `path`"),
        ("health_check: { type: http, path: healthz }", "services[0].health_check.path", "must start with /"),
        ("health_check: { type: exec }", path, "type: exec needs a `command`"),
        (
            "health_check: { type: exec, command: \" \" }",
            "services[0].health_check.command",
            "must not be empty",
        ),
        (
            "health_check: { type: tcp, path: /x }",
            "services[0].health_check.path",
            "applies to type: http only, not tcp",
        ),
        (
            "health_check: { type: tcp, expect: 200 }",
            "services[0].health_check.expect",
            "applies to type: http only",
        ),
        (
            "health_check: { type: http, path: /, expect: 42 }",
            "services[0].health_check.expect",
            "not an HTTP status code",
        ),
        (
            "health_check: { type: tcp, command: x }",
            "services[0].health_check.command",
            "applies to type: exec only",
        ),
        (
            "health_check: { type: tcp, interval: 2s, timeout: 2s }",
            "services[0].health_check.timeout",
            "timeout 2s must be greater than 0 and less than the interval (2s)",
        ),
        ("health_check: { type: tcp, rise: 0 }", "services[0].health_check.rise", "must be at least 1"),
        ("health_check: { type: tcp, fall: 0 }", "services[0].health_check.fall", "must be at least 1"),
    ];
    for (check, at, reason) in cases {
        let message = refuse_text(&with_check(check));
        assert_says(&message, at, reason);
    }
    assert_says(
        &refuse_text(&with_check("health_check: { type: tcp, port: 0 }")),
        "services[0].health_check.port",
        "1..=65535",
    );
    assert_says(
        &refuse_text(&with_check("health_check: { type: icmp }")),
        "services[0].health_check.type",
        "unknown variant `icmp`",
    );
    assert_says(
        &refuse_text(&with_check("health_check: { type: tcp, retries: 3 }")),
        path,
        "unknown field `retries`",
    );
}

#[test]
fn health_check_on_a_server_is_checked_at_its_path() {
    let message = refuse(
        "{ address: 198.19.0.12, port: 8080, weight: 2 }",
        "{ address: 198.19.0.12, port: 8080, weight: 2, health_check: { type: http } }",
    );
    assert_says(&message, "services[0].real_servers[1].health_check", "needs a `path`");
    assert!(message.starts_with("t.yaml:19:"), "{message}");
}

#[test]
fn port_zero_service_check_needs_a_port() {
    let text = BASE.replacen("    ports: [53]", "    ports: [0]", 1).replacen(
        "      - { address: 198.19.0.21 }",
        "      - { address: 198.19.0.21, health_check: { type: tcp } }",
        1,
    );
    assert_says(&refuse_text(&text), "services[1].real_servers[0].health_check", "no port to probe");
    let fixed = text.replacen("health_check: { type: tcp }", "health_check: { type: tcp, port: 53 }", 1);
    parse(&fixed, "t.yaml").unwrap();
}

#[test]
fn sorry_server_rules() {
    let same = with_check("sorry_server: { address: 198.19.0.11, port: 8080 }");
    assert_says(&refuse_text(&same), "services[0].sorry_server", "198.19.0.11 is also a real server");
    let unreachable = with_check("sorry_server: { address: 203.0.113.9 }");
    assert_says(&refuse_text(&unreachable), "services[0].sorry_server.address", "is not reachable");
    let own = with_check("sorry_server: { address: 198.19.0.1 }");
    assert_says(&refuse_text(&own), "services[0].sorry_server.address", "address of vsd's own interface");
    let typo = with_check("sorry_server: { addr: 198.19.0.99 }");
    assert_says(&refuse_text(&typo), "services[0].sorry_server", "unknown field `addr`");
}

#[test]
fn tunnel_keys_parse_and_their_rules_refuse() {
    let tun = |t: &str| BASE.replacen("    forwarding: dr\n", &format!("    forwarding: tunnel\n{t}"), 1);
    let config = parse(&tun("    tunnel: { type: gue, port: 7000, checksum: true }\n"), "t.yaml").unwrap();
    assert_eq!(
        config.services[1].tunnel,
        Some(Tunnel { kind: TunnelType::Gue, port: Some(7000), checksum: true })
    );
    let config = parse(&tun(""), "t.yaml").unwrap();
    assert_eq!((config.services[1].forwarding, config.services[1].tunnel), (Forwarding::Tunnel, None));
    let gre = parse(&tun("    tunnel: { type: gre, checksum: true }\n"), "t.yaml").unwrap();
    assert_eq!(gre.services[1].tunnel.unwrap().kind, TunnelType::Gre);

    let message = refuse_text(&tun("    tunnel: { type: gre, port: 6080 }\n"));
    assert_says(&message, "services[1].tunnel.port", "applies to type: gue only");
    let message = refuse_text(&tun("    tunnel: { type: ipip, checksum: true }\n"));
    assert_says(&message, "services[1].tunnel.checksum", "IPIP has no checksum");
    let message = refuse_text(&tun("    tunnel: { type: gue, port: 0 }\n"));
    assert_says(&message, "services[1].tunnel.port", "must be 1..=65535");
    let message = refuse_text(&tun("    tunnel: { type: vxlan }\n"));
    assert!(message.contains("unknown variant `vxlan`"), "{message}");
    let message = refuse("    forwarding: nat\n", "    forwarding: nat\n    tunnel: { type: ipip }\n");
    assert_says(&message, "services[0].tunnel", "applies to forwarding: tunnel, not nat");
}
