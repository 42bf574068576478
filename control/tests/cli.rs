//! The `vsd` command line: configs are validated before DPDK starts, and mistakes are refused with a
//! message that names the file, the key and the problem.

use std::process::Command;

fn check(yaml: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("vsd-cli-{}-{}", std::process::id(), yaml.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vsd.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vsd")).arg("--check").arg(&path).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

const DEMO: &str = include_str!("../../deploy/examples/demo.yaml");

#[test]
fn the_demo_config_is_valid() {
    let (ok, out) = check(DEMO);
    assert!(ok, "{out}");
    assert!(out.contains(": ok"), "{out}");
}

#[test]
fn a_typo_in_a_key_is_refused_naming_the_key() {
    let bad = DEMO.replacen("{ address: 198.19.0.11,", "{ adress: 198.19.0.11,", 1);
    assert_ne!(bad, DEMO);
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(out.contains("vsd.yaml:"), "names the file: {out}");
    assert!(out.contains("services[0].real_servers[0]"), "names the key path: {out}");
    assert!(out.contains("adress"), "names the unknown key: {out}");
}

#[test]
fn a_vip_that_is_not_an_address_is_refused() {
    let bad = DEMO.replacen("vips: [198.18.0.100]", "vips: [198.18.0.x]", 1);
    assert_ne!(bad, DEMO);
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(out.contains("services[0].vips[0]"), "{out}");
    assert!(out.contains("198.18.0.x"), "{out}");
}

#[test]
fn features_not_built_yet_are_refused_not_half_run() {
    let bad = DEMO.replacen("forwarding: dr", "forwarding: fullnat", 1);
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(out.contains("not implemented yet"), "{out}");
    // An IPv6 VIP in front of IPv4 servers would need NAT64 (full NAT): refused, with the reason.
    let v6 = DEMO.replacen("vips: [198.18.0.100]", "vips: [198.18.0.100, \"2001:db8::100\"]", 1);
    assert_ne!(v6, DEMO);
    let (ok, out) = check(&v6);
    assert!(!ok);
    assert!(out.contains("VIP 2001:db8::100 are of different address families"), "{out}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_vsd")).args(["--check", "/nonexistent/vsd.yaml"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/vsd.yaml"), "{err}");
}
