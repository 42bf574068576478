//! What a perf run starts: the EAL arguments that vsd and dpdk-testpmd share, and vsd's config.
//!
//! Both programs get the same vdevs, built from one function, so that the only difference
//! between the runs is the program: `net_pcap` replays the profile on the ext port
//! (`infinite_rx=1`), and `net_null` with `no-rx=1` swallows what is sent to the int port and never
//! receives (without `no-rx`, net_null would also generate packets and halve the figures).
//! `--no-huge --no-shconf` with a unique `--file-prefix` lets several runs, and other engineers'
//! tests, share the machine without hugepages or shared config files.
//!
//! `net_pcap` loads the whole file into mbufs of the port's pool when the queue is set up, and
//! copies from them on every receive, so the pool must hold one pass of the profile besides the
//! working set; [`Memory::for_spec`] sizes the pool and the EAL memory, or says early what to
//! change when a given budget cannot hold it.

use crate::profile::{Profile, Spec};
use crate::topology::{self, dotted, mac_text, text6};
use std::fmt::Write;
use std::path::Path;

/// The EAL's memory with `--no-huge`, in MiB, when the profile fits in it: what the brief's perf
/// runs use.
pub const DEFAULT_MEM_MB: u32 = 1024;
/// Mbufs beyond the pcap's own: vsd's default pool (2^14 - 1) covers RX/TX rings and bursts.
pub const WORKING_MBUFS: u32 = 16_383;
/// Bytes one mbuf takes in the pool with `--no-huge`: a whole 4 KiB page. The object (128-byte
/// `rte_mbuf`, DPDK's default 2176-byte data room, which vsd and testpmd both use, and the
/// mempool header) is about 2.4 KiB, but without hugepages memory is not IOVA-contiguous, so the
/// mempool never lets an object cross a page boundary. Measured: testpmd fits 250 000 mbufs in
/// `-m 1024` and not 270 000.
pub const MBUF_FOOTPRINT: u64 = 4096;
/// EAL needs some memory of its own besides the pools (rings, ethdev data, malloc heaps).
const EAL_OVERHEAD_MB: u64 = 128;
/// Automatic sizes are rounded up to this, so that they read as round numbers.
const MEM_STEP_MB: u64 = 256;

/// The forwarding lcore of vsd (its one worker) and of testpmd; lcore 0 is their main thread.
pub const WORKER_LCORE: u32 = 1;
/// `-l`: the main lcore and the worker.
const LCORES: &str = "0-1";

/// The ext vdev: replay `pcap` for ever.
pub fn ext_vdev(pcap: &Path) -> String {
    format!("net_pcap0,rx_pcap={},infinite_rx=1", pcap.display())
}

/// The int vdev: a sink that never receives.
pub const INT_VDEV: &str = "net_null0,no-rx=1";

/// The EAL arguments of one process of the run, vsd or testpmd.
pub fn eal_args(mem_mb: u32, file_prefix: &str, pcap: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec!["-l".into(), LCORES.into(), "--no-huge".into(), "--no-pci".into()];
    a.extend(["--no-shconf".into(), "-m".into(), mem_mb.to_string(), "--file-prefix".into()]);
    a.extend([file_prefix.into(), "--vdev".into(), ext_vdev(pcap), "--vdev".into(), INT_VDEV.into()]);
    a
}

/// dpdk-testpmd's arguments for a run in forwarding `mode`, printing statistics every
/// `stats_period` seconds. Its own pool must hold the pcap too, and `--no-mlockall` spares
/// locking all of `-m`.
pub fn testpmd_args(
    mem: Memory,
    file_prefix: &str,
    pcap: &Path,
    mode: &str,
    stats_period: u64,
) -> Vec<String> {
    let mut a = eal_args(mem.mem_mb, file_prefix, pcap);
    a.extend(["--".into(), "--no-mlockall".into(), format!("--total-num-mbufs={}", mem.mbufs)]);
    a.extend([format!("--forward-mode={mode}"), format!("--stats-period={stats_period}")]);
    a
}

/// Mbufs to give a process that replays `packets` frames.
pub fn mbufs_for(packets: usize) -> u32 {
    u32::try_from(packets).unwrap_or(u32::MAX).saturating_add(WORKING_MBUFS)
}

/// The EAL memory budget of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    pub mem_mb: u32,
    pub mbufs: u32,
}

impl Memory {
    /// The budget for `spec`: `mem_mb` if given (checked), else [`DEFAULT_MEM_MB`] or as much more
    /// as one pass of the profile needs.
    pub fn for_spec(spec: &Spec, mem_mb: Option<u32>) -> Result<Memory, String> {
        let mbufs = mbufs_for(spec.packets());
        let need = Memory { mem_mb: 0, mbufs }.need_mb();
        match mem_mb {
            Some(mem_mb) if u64::from(mem_mb) < need => Err(format!(
                "one pass of the profile needs {mbufs} mbufs, {need} MiB with EAL's own, more than --mem \
                 {mem_mb}: use fewer flows or rounds, or a larger --mem"
            )),
            Some(mem_mb) => Ok(Memory { mem_mb, mbufs }),
            None => {
                let auto = need.div_ceil(MEM_STEP_MB) * MEM_STEP_MB;
                let mem_mb =
                    u32::try_from(auto.max(u64::from(DEFAULT_MEM_MB))).map_err(|_| "profile too large")?;
                Ok(Memory { mem_mb, mbufs })
            }
        }
    }

    /// MiB the pool and EAL need.
    pub fn need_mb(&self) -> u64 {
        (u64::from(self.mbufs) * MBUF_FOOTPRINT).div_ceil(1 << 20) + EAL_OVERHEAD_MB
    }
}

/// vsd's config for a run: one worker on lcore 1 (lcore 0 is vsd's control thread), the ext and
/// int interfaces with static neighbours, the NAT service, and for `persist` the port-0 service.
/// For an IPv6 profile the interfaces are dual stack, with IPv6 addresses, static IPv6
/// neighbours and a `::/0` route beside the IPv4 ones, and a NAT66 service follows the NAT one.
pub fn vsd_config(spec: &Spec, mem: Memory, file_prefix: &str, pcap: &Path, admin_socket: &Path) -> String {
    let eal = eal_args(mem.mem_mb, file_prefix, pcap);
    config_text(spec, &eal, "net_pcap0", mem.mbufs, admin_socket)
}

/// vsd's config for EAL arguments `eal`, whose first vdev is the ext port `ext_port`, the second
/// the int port `net_null0`: what [`vsd_config`] writes, and the synthetic runs use with `net_ring`.
pub fn config_text(spec: &Spec, eal: &[String], ext_port: &str, mbufs: u32, admin_socket: &Path) -> String {
    let q = |s: &str| format!("\"{s}\"");
    let mut y = String::new();
    let (name, flows) = (spec.profile.name(), spec.flows);
    let _ = writeln!(
        y,
        "# vsd-perf: profile {name}, {flows} flows. Written by vsd-perf; see docs/PERFORMANCE.md."
    );
    // The EAL arguments up to the first vdev on one line, then one vdev per line.
    let first_vdev = eal.iter().position(|a| a == "--vdev").unwrap_or(eal.len());
    let mut lines = vec![eal[..first_vdev].iter().map(|a| q(a)).collect::<Vec<_>>().join(", ")];
    lines.extend(eal[first_vdev..].chunks(2).map(|c| c.iter().map(|a| q(a)).collect::<Vec<_>>().join(", ")));
    let _ = writeln!(y, "dpdk:\n  eal: [{}]\n  mbufs: {}", lines.join(",\n        "), mbufs);
    let _ = writeln!(y, "workers: {{ lcores: [{WORKER_LCORE}] }}\ninterfaces:");
    let neighbour =
        |a: [u8; 4], m: [u8; 6]| format!("      - {{ address: {}, mac: \"{}\" }}\n", dotted(a), mac_text(m));
    let neighbour6 = |a: [u8; 16], m: [u8; 6]| {
        format!("      - {{ address: \"{}\", mac: \"{}\" }}\n", text6(a), mac_text(m))
    };
    let v6 = spec.profile.is_v6();
    let ifc = |name: &str, port: &str, addr: [u8; 4], addr6: [u8; 16]| {
        let a = dotted(addr);
        let a6 = if v6 { format!(", \"{}/{}\"", text6(addr6), topology::SUBNET_LEN6) } else { String::new() };
        format!(
            "  - name: {name}\n    port: {port}\n    addresses: [{a}/{}{a6}]\n    neighbours:\n",
            topology::SUBNET_LEN
        )
    };
    y += &ifc("ext", ext_port, topology::EXT_ADDR, topology::EXT_ADDR6);
    y += &neighbour(topology::GATEWAY, topology::GATEWAY_MAC);
    if v6 {
        y += &neighbour6(topology::GATEWAY6, topology::GATEWAY_MAC);
    }
    y += &ifc("int", "net_null0", topology::INT_ADDR, topology::INT_ADDR6);
    for i in 0..spec.real_servers {
        let (a, m) = topology::real_server(i);
        y += &neighbour(a, m);
    }
    if v6 {
        for i in 0..spec.real_servers {
            let (a, m) = topology::real_server6(i);
            y += &neighbour6(a, m);
        }
    }
    let _ = writeln!(y, "routes:\n  - {{ prefix: 0.0.0.0/0, via: {} }}", dotted(topology::GATEWAY));
    if v6 {
        let _ = writeln!(y, "  - {{ prefix: \"::/0\", via: \"{}\" }}", text6(topology::GATEWAY6));
    }
    y += "services:\n";
    // `vip` and the real servers' addresses as config text: IPv4, or quoted IPv6.
    let service = |name: &str, vip: String, port: u16, extra: &str, rs_port: Option<u16>, six: bool| {
        let mut s = format!("  - name: {name}\n    vips: [{vip}]\n    protocol: tcp\n    ports: [{port}]\n");
        s += &format!("    scheduler: rr\n    forwarding: nat\n{extra}    real_servers:\n");
        for i in 0..spec.real_servers {
            let a = if six {
                format!("\"{}\"", text6(topology::real_server6(i).0))
            } else {
                dotted(topology::real_server(i).0)
            };
            s += &match rs_port {
                Some(p) => format!("      - {{ address: {a}, port: {p} }}\n"),
                None => format!("      - {{ address: {a} }}\n"),
            };
        }
        s
    };
    y += &service("perf-nat", dotted(topology::VIP), topology::VPORT, "", Some(topology::RS_PORT), false);
    if v6 {
        let vip6 = format!("\"{}\"", text6(topology::VIP6));
        y += &service("perf-nat6", vip6, topology::VPORT, "", Some(topology::RS_PORT), true);
    }
    if spec.profile == Profile::Persist {
        // Port 0 with NAT: each connection keeps its destination port on the real server.
        let persistence = "    persistence: { timeout: 360s, netmask: 32 }\n";
        y += &service("perf-persist", dotted(topology::VIP_PERSIST), 0, persistence, None, false);
    }
    let admin = q(&admin_socket.display().to_string());
    let _ = writeln!(y, "metrics: {{ listen: \"127.0.0.1:0\" }}\nadmin: {{ socket: {admin} }}");
    y
}

/// `yaml` with vsd's connection table sized to `capacity` entries per worker (vsd's default is
/// 2^20): a top-level key, so appending it is enough.
pub fn with_conn_capacity(mut yaml: String, capacity: u32) -> String {
    let _ = writeln!(yaml, "conn_table: {{ capacity: {capacity} }}");
    yaml
}

/// The config `vsd-perf gen` writes for running by hand: files in `dir`, memory sized for the
/// profile. deploy/perf/ holds these for the default profiles, with `dir` = /tmp/vsd-perf.
pub fn example_config(spec: &Spec, dir: &Path) -> String {
    let mem = Memory::for_spec(spec, None)
        .unwrap_or(Memory { mem_mb: DEFAULT_MEM_MB, mbufs: mbufs_for(spec.packets()) });
    let name = spec.profile.name();
    vsd_config(
        spec,
        mem,
        &format!("vsd-perf-{name}"),
        &dir.join(format!("{name}.pcap")),
        &dir.join("vsd-admin.sock"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(spec: &Spec) -> vsd_control::config::Config {
        let mem = Memory::for_spec(spec, None).unwrap();
        let text = vsd_config(
            spec,
            mem,
            "vsd-perf-test",
            Path::new("/tmp/x/traffic.pcap"),
            Path::new("/tmp/x/admin.sock"),
        );
        vsd_control::config::parse(&text, "perf.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn vsd_accepts_the_config_of_every_profile() {
        for p in Profile::ALL {
            let spec = Spec::new(p, 65_536);
            let cfg = parse(&spec);
            assert_eq!(cfg.workers.lcores, [1]);
            assert_eq!(cfg.dpdk.mbufs, u32::try_from(spec.packets()).unwrap() + WORKING_MBUFS);
            assert_eq!(cfg.interfaces[0].device(), "net_pcap0");
            let families = 1 + usize::from(p.is_v6());
            assert_eq!(cfg.interfaces[1].neighbours.len(), 4 * families);
            assert_eq!(cfg.services.len(), families + usize::from(p.needs_persistence()));
            // The snapshot builder is vsd's last word on what it can run.
            let macs = vec![[2, 0, 0, 0, 0, 0]; cfg.interfaces.len()];
            vsd_control::snapshot::build(&cfg, &macs, 0, None).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        }
    }

    #[test]
    fn deploy_perf_configs_are_what_gen_writes() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/perf");
        for p in Profile::ALL {
            let file = deploy.join(format!("{}-vsd.yaml", p.name()));
            let have = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let want = example_config(&Spec::new(p, 65_536), Path::new("/tmp/vsd-perf"));
            assert_eq!(
                have,
                want,
                "{} is stale: vsd-perf gen --profile {} --dir /tmp/vsd-perf",
                file.display(),
                p.name()
            );
        }
    }

    #[test]
    fn the_table_capacity_can_be_set() {
        let spec = Spec::new(Profile::Established, 1024);
        let mem = Memory::for_spec(&spec, None).unwrap();
        let text = with_conn_capacity(
            vsd_config(&spec, mem, "p", Path::new("/x.pcap"), Path::new("/x.sock")),
            131_072,
        );
        let cfg = vsd_control::config::parse(&text, "perf.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(cfg.conn_table.capacity, 131_072);
    }

    #[test]
    fn established6_adds_the_ipv6_side_to_the_established_config() {
        use std::net::{IpAddr, Ipv6Addr};
        let cfg = parse(&Spec::new(Profile::Established6, 1024));
        let [ext, int] = &cfg.interfaces[..] else { panic!("two interfaces") };
        let six = |a: [u8; 16]| IpAddr::V6(Ipv6Addr::from(a));
        let has = |ifc: &vsd_control::config::Interface, a| {
            ifc.addresses.iter().any(|p| p.addr() == a && p.len() == 64)
        };
        assert!(has(ext, six(topology::EXT_ADDR6)), "{ext:?}");
        assert!(has(int, six(topology::INT_ADDR6)), "{int:?}");
        assert!(ext.neighbours.iter().any(|n| n.address == six(topology::GATEWAY6)));
        assert!(int.neighbours.iter().any(|n| n.address == six(topology::real_server6(3).0)));
        let nat6 = &cfg.services[1];
        assert_eq!(nat6.vips, [six(topology::VIP6)]);
        assert_eq!(nat6.real_servers.len(), 4);
        assert!(nat6.real_servers.iter().all(|r| r.port == topology::RS_PORT && r.address.is_ipv6()));
        // The IPv4 part is the `established` config's, line for line.
        let text = |p| {
            let spec = Spec::new(p, 1024);
            let mem = Memory::for_spec(&spec, None).unwrap();
            vsd_config(&spec, mem, "p", Path::new("/x.pcap"), Path::new("/x.sock"))
        };
        let (v4, v6) = (text(Profile::Established), text(Profile::Established6));
        let v6_lines: Vec<_> = v6.lines().collect();
        let missing: Vec<_> = v4.lines().skip(1).filter(|l| !v6_lines.contains(l)).collect();
        assert_eq!(missing, ["    addresses: [198.18.0.2/24]", "    addresses: [198.19.0.1/24]"], "{v6}");
    }

    #[test]
    fn persist_adds_a_port0_persistent_service() {
        let cfg = parse(&Spec::new(Profile::Persist, 1024));
        let s = &cfg.services[1];
        assert!(s.is_every_port());
        assert_eq!(s.persistence.map(|p| p.netmask), Some(32));
        assert!(s.real_servers.iter().all(|r| r.port == 0));
    }

    #[test]
    fn both_programs_get_the_same_vdevs() {
        let pcap = PathBuf::from("/tmp/run/traffic.pcap");
        let a = eal_args(1024, "p1", &pcap);
        let vdevs: Vec<_> = a.windows(2).filter(|w| w[0] == "--vdev").map(|w| w[1].clone()).collect();
        assert_eq!(vdevs, ["net_pcap0,rx_pcap=/tmp/run/traffic.pcap,infinite_rx=1", "net_null0,no-rx=1"]);
        assert!(a.contains(&"--no-huge".to_string()) && a.contains(&"--no-shconf".to_string()));
        let mem = Memory { mem_mb: 1024, mbufs: 5000 };
        let t = testpmd_args(mem, "p1", &pcap, "5tswap", 1);
        assert_eq!(t[..a.len()], a[..], "testpmd's EAL arguments are vsd's");
        assert_eq!(
            t[a.len()..],
            ["--", "--no-mlockall", "--total-num-mbufs=5000", "--forward-mode=5tswap", "--stats-period=1"]
        );
    }

    #[test]
    fn memory_grows_past_the_default_only_when_the_pcap_needs_it() {
        let small = Memory::for_spec(&Spec::new(Profile::Established, 16_384), None).unwrap();
        assert_eq!(small, Memory { mem_mb: DEFAULT_MEM_MB, mbufs: 16_384 * 4 + WORKING_MBUFS });
        // 278 527 mbufs of 4 KiB are 1088 MiB, 1216 with EAL's own: rounded up to 1280.
        let big = Memory::for_spec(&Spec::new(Profile::Established, 65_536), None).unwrap();
        assert_eq!(big.mem_mb, 1280);
        let e = Memory::for_spec(&Spec::new(Profile::Established, 65_536), Some(1024)).unwrap_err();
        assert!(e.contains("--mem"), "{e}");
        assert_eq!(Memory::for_spec(&Spec::new(Profile::Syn, 1000), Some(512)).unwrap().mem_mb, 512);
    }
}
