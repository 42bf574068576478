//! The whole daemon through real DPDK, on `net_pcap` vdevs: frames crafted into pcap files go in,
//! vsd runs them through EAL, the ports and a worker lcore, and what it transmitted is read back
//! from the TX pcap files and checked byte by byte. No namespaces, no root-only kernel features.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vsd_dataplane::craft::{self, tcp_flags::SYN};
use vsd_dataplane::wire::{parse_frame, Ipv4Packet, TcpPacket, L4};
use vsd_dataplane::{pcap, Addr};

/// net_pcap gives its ports the MAC 02:70:63:61:70:<port id> ("pcap").
const EXT_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];
const INT_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 0x10];
const RS_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 0x11];
const DR_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 0x21];
const CLIENT: [u8; 4] = [198, 18, 0, 10];

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"
dpdk:
  eal: ["-l", "0-1", "--no-huge", "--no-pci", "--no-shconf", "-m", "256", "--file-prefix", "vsd-pcap-{pid}",
        "--vdev", "net_pcap0,rx_pcap={d}/ext_in.pcap,tx_pcap={d}/ext_out.pcap",
        "--vdev", "net_pcap1,rx_pcap={d}/int_in.pcap,tx_pcap={d}/int_out.pcap"]
  mbufs: 4095
workers: {{ lcores: [1] }}
interfaces:
  - {{ name: ext, port: net_pcap0, addresses: [198.18.0.2/24] }}
  - {{ name: int, port: net_pcap1, addresses: [198.19.0.1/24] }}
conn_table: {{ capacity: 4096 }}
services:
  - {{ name: nat, vips: [198.18.0.100], protocol: tcp, ports: [80], scheduler: rr, forwarding: nat,
      real_servers: [{{ address: 198.19.0.11, port: 8080 }}] }}
  - {{ name: dr, vips: [198.18.0.101], protocol: tcp, ports: [80], scheduler: rr, forwarding: dr,
      real_servers: [{{ address: 198.19.0.21, port: 80 }}] }}
"#,
        pid = std::process::id()
    )
}

fn syn(dst: [u8; 4], sport: u16) -> Vec<u8> {
    craft::ethernet(EXT_MAC, CLIENT_MAC, 0x0800, &craft::tcp_v4(CLIENT, dst, sport, 80, SYN, b""))
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn nat_dr_arp_and_echo_through_real_dpdk() {
    let dir = std::env::temp_dir().join(format!("vsd-pcap-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ext_in = [
        craft::arp(1, [0xff; 6], CLIENT_MAC, CLIENT, [0; 6], [198, 18, 0, 100]),
        syn([198, 18, 0, 100], 40000),
        syn([198, 18, 0, 101], 40001),
        craft::ethernet(
            EXT_MAC,
            CLIENT_MAC,
            0x0800,
            &craft::icmp_echo_v4(CLIENT, [198, 18, 0, 2], 7, 1, b"hi"),
        ),
        // Malformed: cut inside the TCP header.
        syn([198, 18, 0, 100], 40002)[..40].to_vec(),
    ];
    // The real servers announce themselves to vsd's int address (gratuitous-style, broadcast).
    let int_in = [
        craft::arp(2, [0xff; 6], RS_MAC, [198, 19, 0, 11], INT_MAC, [198, 19, 0, 1]),
        craft::arp(2, [0xff; 6], DR_MAC, [198, 19, 0, 21], INT_MAC, [198, 19, 0, 1]),
    ];
    std::fs::write(dir.join("ext_in.pcap"), pcap::write(ext_in.iter().map(|f| f.as_slice()))).unwrap();
    std::fs::write(dir.join("int_in.pcap"), pcap::write(int_in.iter().map(|f| f.as_slice()))).unwrap();
    let cfg = dir.join("vsd.yaml");
    std::fs::write(&cfg, config(&dir)).unwrap();

    let mut vsd = Command::new(env!("CARGO_BIN_EXE_vsd"))
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vsd");
    // The pcap files are read at once; give the worker time to process and to retry ARP.
    std::thread::sleep(Duration::from_secs(3));
    // Stop it the way an operator would.
    let _ = Command::new("kill").arg("-TERM").arg(vsd.id().to_string()).status();
    let status = wait_exit(&mut vsd, Duration::from_secs(20));
    if status.is_none() {
        let _ = vsd.kill();
    }
    let out = vsd.wait_with_output().unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(status.is_some_and(|s| s.success()), "vsd did not stop cleanly:\n{log}");

    let ext_out = pcap::read(&std::fs::read(dir.join("ext_out.pcap")).unwrap()).unwrap();
    let int_out = pcap::read(&std::fs::read(dir.join("int_out.pcap")).unwrap()).unwrap();

    // ext: the ARP reply for the VIP and the echo reply.
    let arp_reply =
        ext_out.iter().find(|f| f[12..14] == [8, 6]).unwrap_or_else(|| panic!("no ARP reply:\n{log}"));
    assert_eq!(&arp_reply[0..6], &CLIENT_MAC);
    assert_eq!(&arp_reply[20..22], &[0, 2]);
    assert_eq!(&arp_reply[22..28], &EXT_MAC);
    assert_eq!(&arp_reply[28..32], &[198, 18, 0, 100]);
    let echo =
        ext_out.iter().find(|f| f[12..14] == [8, 0]).unwrap_or_else(|| panic!("no echo reply:\n{log}"));
    let p = parse_frame(echo).unwrap();
    assert!(matches!(p.l4, L4::Icmp { ty: 0, code: 0 }));
    assert_eq!((p.src, p.dst), (Addr::from_v4([198, 18, 0, 2]), Addr::from_v4(CLIENT)));

    // int: the NAT SYN rewritten to the real server, the DR SYN re-addressed by MAC only.
    let ipv4_out: Vec<&Vec<u8>> = int_out.iter().filter(|f| f[12..14] == [8, 0]).collect();
    assert_eq!(ipv4_out.len(), 2, "two forwarded SYNs, the malformed one dropped:\n{log}");
    let nat = ipv4_out.iter().find(|f| f[0..6] == RS_MAC).expect("NAT SYN to the real server's MAC");
    let p = parse_frame(nat).unwrap();
    assert_eq!((p.src, p.dst), (Addr::from_v4(CLIENT), Addr::from_v4([198, 19, 0, 11])));
    assert_eq!(p.ports(), Some((40000, 8080)));
    assert!(Ipv4Packet::new_checked(&nat[14..]).unwrap().verify_checksum());
    assert!(TcpPacket::new_checked(&nat[34..]).unwrap().verify_checksum(&p.src, &p.dst));
    let dr = ipv4_out.iter().find(|f| f[0..6] == DR_MAC).expect("DR SYN to the DR server's MAC");
    assert_eq!(&dr[6..12], &INT_MAC);
    assert_eq!(&dr[12..], &syn([198, 18, 0, 101], 40001)[12..], "DR changes nothing above Ethernet");

    // The stats printed at exit count the malformed frame and the two connections.
    assert!(log.contains("parse_"), "malformed frame counted:\n{log}");
    assert!(log.contains("conns created 2"), "two connections:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
