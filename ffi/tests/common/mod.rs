//! EAL arguments shared by the DPDK integration tests.
//!
//! EAL starts once per process, so each test file is its own binary running one `#[test]` that walks
//! through its steps in order. No hugepages, no PCI, no shared config files, and a file prefix unique
//! to the process so parallel test binaries never meet.

// Each test binary includes this module and uses only part of it.
#![allow(dead_code)]

/// EAL arguments for a test named `name` on `lcores` (as for `-l`), with the given `--vdev`s.
pub fn eal_args(name: &str, lcores: &str, vdevs: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "vsd-ffi-test",
        "-l",
        lcores,
        "--no-huge",
        "--no-pci",
        "--no-shconf",
        "-m",
        "256",
        "--log-level",
        "lib.eal:warning",
        "--file-prefix",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("vsd-{name}-{}", std::process::id()));
    for vdev in vdevs {
        args.push("--vdev".to_owned());
        args.push(vdev.to_string());
    }
    args
}

/// A frame of `len` bytes whose content depends on `seed` and position, so reordering, truncation
/// or corruption all show. Addresses in it are from 198.18.0.0/15 (benchmarking, RFC 2544); the
/// frames never leave the process anyway.
pub fn test_frame(seed: u8, len: usize) -> Vec<u8> {
    // The position's low byte: the pattern repeats every 256 bytes.
    let mut f: Vec<u8> = (0..len).map(|i| seed.wrapping_mul(31).wrapping_add(i.to_le_bytes()[0])).collect();
    if len >= 34 {
        f[12..14].copy_from_slice(&[0x08, 0x00]); // EtherType IPv4
        f[26..30].copy_from_slice(&[198, 18, 0, seed]);
        f[30..34].copy_from_slice(&[198, 19, 0, 1]);
    }
    f
}
