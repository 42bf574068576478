//! Traffic for `metrics_every_family.rs`: real workers on a real snapshot, fed crafted frames on a
//! virtual clock, so that every counter the worker owns moves.
//!
//! Only the worker's entry points that the driver calls for received frames and between bursts are
//! used: `Worker::new`, `with_steering`, `process`, `poll_timers`, `handle`, `stats`, `dest_stats`.
//! What only the other entry points move (redirected packets arriving, ARP requests, held packets
//! given up) is listed in the test with the test that covers it. This file is the one place to
//! adapt when the worker's entry points change.

use std::sync::Arc;
use vsd_control::{config, snapshot};
use vsd_dataplane::buf::VecBuf;
use vsd_dataplane::craft::{self, tcp_flags::*};
use vsd_dataplane::service::Snapshot;
use vsd_dataplane::stats::DropReason;
use vsd_dataplane::steer::{Steering, DEFAULT_KEY};
use vsd_dataplane::wire::{IcmpPacket, Ipv4Packet};
use vsd_dataplane::worker::{Action, Command, Rx, Worker};
use vsd_dataplane::{Addr, Instant};

pub const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 1];
pub const INT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 2];
const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 0x10];
const RS_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 0x11];
const EXT: u16 = 0;
const INT: u16 = 1;

const EXT_IP: [u8; 4] = [198, 18, 0, 2];
/// The client; a static neighbour of `ext`.
const CLIENT: [u8; 4] = [198, 18, 0, 10];
/// A client off every subnet, with no route back (the config has no default route).
const FAR_CLIENT: [u8; 4] = [198, 18, 1, 10];
const VIP_WEB: [u8; 4] = [198, 18, 0, 100];
const VIP_STICKY: [u8; 4] = [198, 18, 0, 101];
const VIP_TUNNEL: [u8; 4] = [198, 18, 0, 102];
const VIP_CLASH: [[u8; 4]; 2] = [[198, 18, 0, 104], [198, 18, 0, 105]];
const VIP_QUIET: [u8; 4] = [198, 18, 0, 106];
const VIP_UNRESOLVED: [u8; 4] = [198, 18, 0, 107];
const VIP_REMOVED: [u8; 4] = [198, 18, 0, 108];
const RS_REMOVED: [u8; 4] = [198, 19, 0, 16];

/// One service per behaviour the traffic needs; every real server but 198.19.0.15 is a static
/// neighbour, so packets to them leave at once (nothing waits for ARP). A small table, so that it
/// fills.
const CONFIG: &str = r#"dpdk:
  eal: ["-l", "0-2", "--no-huge", "--no-pci", "--vdev", "net_ring0", "--vdev", "net_ring1"]
workers: { lcores: [1, 2] }
interfaces:
  - name: ext
    port: net_ring0
    addresses: [198.18.0.2/24]
    neighbours: [{ address: 198.18.0.10, mac: "02:c1:00:00:00:10" }]
  - name: int
    port: net_ring1
    addresses: [198.19.0.1/24]
    neighbours:
      - { address: 198.19.0.11, mac: "02:5e:00:00:00:11" }
      - { address: 198.19.0.12, mac: "02:5e:00:00:00:11" }
      - { address: 198.19.0.13, mac: "02:5e:00:00:00:11" }
      - { address: 198.19.0.14, mac: "02:5e:00:00:00:11" }
      - { address: 198.19.0.16, mac: "02:5e:00:00:00:11" }
      - { address: 198.19.0.21, mac: "02:5e:00:00:00:11" }
conn_table: { capacity: 64 }
services:
  - { name: web, vips: [198.18.0.100], protocol: tcp, ports: [80], scheduler: rr, forwarding: nat,
      real_servers: [{ address: 198.19.0.11, port: 8080 }, { address: 198.19.0.12, port: 8080 }] }
  - { name: sticky, vips: [198.18.0.101], protocol: tcp, ports: [80], scheduler: rr, forwarding: nat,
      persistence: { timeout: 60s }, real_servers: [{ address: 198.19.0.12, port: 8080 }] }
  - { name: tunnel, vips: [198.18.0.102], protocol: tcp, ports: [80], scheduler: rr, forwarding: tunnel,
      real_servers: [{ address: 198.19.0.21 }] }
  - { name: clash, vips: [198.18.0.104, 198.18.0.105], protocol: tcp, ports: [80], scheduler: rr,
      forwarding: nat, real_servers: [{ address: 198.19.0.13, port: 8080 }] }
  - { name: quiet, vips: [198.18.0.106], protocol: tcp, ports: [80], scheduler: rr, forwarding: nat,
      real_servers: [{ address: 198.19.0.14, port: 8080, weight: 0 }] }
  - { name: unresolved, vips: [198.18.0.107], protocol: tcp, ports: [80], scheduler: rr, forwarding: nat,
      real_servers: [{ address: 198.19.0.15, port: 8080 }] }
  - { name: removed, vips: [198.18.0.108], protocol: tcp, ports: [80], scheduler: rr, forwarding: nat,
      real_servers: [{ address: 198.19.0.16, port: 8080 }] }
"#;

/// The workers after the traffic, and the snapshot they run.
pub struct Lab {
    pub snap: Arc<Snapshot>,
    pub workers: Vec<Worker<VecBuf>>,
}

/// The snapshot `vsd` would build for [`CONFIG`], with the test's MACs.
pub fn snapshot() -> Arc<Snapshot> {
    let cfg = config::parse(CONFIG, "traffic.yaml").expect("the traffic config is valid");
    snapshot::build(&cfg, &[EXT_MAC, INT_MAC], 1, None).expect("the traffic snapshot builds")
}

/// A client's TCP segment to a VIP, as received on `ext`.
fn from_client(src: [u8; 4], dst: [u8; 4], sport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    craft::ethernet(EXT_MAC, CLIENT_MAC, 0x0800, &craft::tcp_v4(src, dst, sport, 80, flags, payload))
}

/// A real server's TCP segment to a client, as received on `int`.
fn from_server(rs: [u8; 4], client: [u8; 4], cport: u16, flags: u8) -> Vec<u8> {
    craft::ethernet(INT_MAC, RS_MAC, 0x0800, &craft::tcp_v4(rs, client, 8080, cport, flags, b""))
}

/// The IPv4 packet of a frame, edited, with its header checksum made right again.
fn edit_ip(mut frame: Vec<u8>, edit: impl FnOnce(&mut Ipv4Packet<&mut [u8]>)) -> Vec<u8> {
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    edit(&mut ip);
    ip.fill_checksum();
    frame
}

/// An IPv6 header (no extension, next header `next`) with `payload`, as a frame on `ext`.
fn ipv6_frame(src: [u8; 16], next: u8, payload_len: u16, payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&payload_len.to_be_bytes());
    ip.extend_from_slice(&[next, 64]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    ip.extend_from_slice(payload);
    craft::ethernet(EXT_MAC, CLIENT_MAC, 0x86dd, &ip)
}

const V6_CLIENT: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// One frame for each way a frame fails to parse, named as the counter (`ParseError::name`).
pub fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let syn = from_client(CLIENT, VIP_WEB, 40_000, SYN, b"");
    let ip = |proto: u8, l4: &[u8]| {
        craft::ethernet(EXT_MAC, CLIENT_MAC, 0x0800, &craft::ipv4(CLIENT, VIP_WEB, proto, 64, l4))
    };
    let mut bad_udp = craft::ethernet(
        EXT_MAC,
        CLIENT_MAC,
        0x0800,
        &craft::udp_v4(CLIENT, VIP_WEB, 5353, 53, b"query", false),
    );
    bad_udp[38..40].copy_from_slice(&7u16.to_be_bytes());
    let mut bad_offset = syn.clone();
    bad_offset[14 + 20 + 12] = 0x40;
    let mut bad_checksum = syn.clone();
    bad_checksum[14 + 8] = 1;
    let mut tagged = vec![0x0f, 0xff, 0x08, 0x00];
    tagged.extend_from_slice(&syn[14..]);
    let mut mapped = V6_CLIENT;
    mapped[..12].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    mapped[12..].copy_from_slice(&CLIENT);
    vec![
        ("ethernet_truncated", syn[..13].to_vec()),
        ("vlan_truncated", craft::ethernet(EXT_MAC, CLIENT_MAC, 0x8100, &[0, 5])),
        ("bad_vlan", craft::ethernet(EXT_MAC, CLIENT_MAC, 0x8100, &tagged)),
        ("arp_truncated", craft::ethernet(EXT_MAC, CLIENT_MAC, 0x0806, &[0, 1, 8, 0, 6, 4])),
        ("ipv4_truncated", craft::ethernet(EXT_MAC, CLIENT_MAC, 0x0800, &[0x45; 10])),
        ("bad_ip_version", edit_ip(syn.clone(), |ip| ip.set_version(6))),
        ("bad_ihl", edit_ip(syn.clone(), |ip| ip.set_header_len(16))),
        ("bad_total_length", edit_ip(syn.clone(), |ip| ip.set_total_len(19))),
        ("bad_ipv4_checksum", bad_checksum),
        ("tiny_fragment", edit_ip(syn.clone(), |ip| ip.set_frag_offset(8))),
        ("ipv6_truncated", craft::ethernet(EXT_MAC, CLIENT_MAC, 0x86dd, &[0x60; 20])),
        ("bad_payload_length", ipv6_frame(V6_CLIENT, 59, 100, b"")),
        // A hop-by-hop header of 16 bytes in a payload of 8.
        ("bad_ipv6_ext_headers", ipv6_frame(V6_CLIENT, 0, 8, &[59, 1, 1, 4, 0, 0, 0, 0])),
        ("ipv6_mapped_addr", ipv6_frame(mapped, 59, 0, b"")),
        ("tcp_truncated", ip(6, &[0; 10])),
        ("bad_tcp_data_offset", bad_offset),
        ("udp_truncated", ip(17, &[0; 4])),
        ("bad_udp_length", bad_udp),
        ("icmp_truncated", ip(1, &[8, 0, 0])),
    ]
}

/// Drives the workers: main worker 0 (all the traffic), and worker 1, one of two steered workers,
/// which hands a packet it does not own over.
struct Rig {
    snap: Arc<Snapshot>,
    w: Worker<VecBuf>,
    now: Instant,
}

impl Rig {
    /// One frame from the wire, as a burst of one.
    fn rx(&mut self, iface: u16, frame: &[u8]) -> Action<VecBuf> {
        burst_of_one(&mut self.w, self.now, Rx::wire(iface), VecBuf::from_frame(frame))
    }

    /// Run the timers if they are due, then drain the worker's own outputs, as the driver does.
    fn tick(&mut self) {
        if self.w.poll_timeout().is_some_and(|t| t <= self.now) {
            self.w.handle_timeout(self.now);
        }
        while self.w.poll_output(self.now, &mut |_| Some(VecBuf::empty())).is_some() {}
    }

    fn drops(&self, r: DropReason) -> u64 {
        self.w.stats().drops[r as usize].get()
    }

    /// The real server a client's SYN went to (the destination of the frame sent on `int`).
    fn syn_to(&mut self, vip: [u8; 4], client: [u8; 4], sport: u16) -> [u8; 4] {
        match self.rx(EXT, &from_client(client, vip, sport, SYN, b"")) {
            Action::Tx(INT, out) => out.as_ref()[30..34].try_into().unwrap(),
            other => panic!("SYN from {client:?}:{sport} to {vip:?}: {other:?}"),
        }
    }

    /// Expire everything: several hours of virtual time, with timers polled as the driver does.
    fn age(&mut self) {
        for _ in 0..400 {
            self.now = self.now + core::time::Duration::from_secs(30);
            self.tick();
        }
    }

    /// Frames for the worker's own drop reasons, and the host functions (ARP, echo).
    fn host_and_drops(&mut self) {
        let syn = from_client(CLIENT, VIP_WEB, 40_000, SYN, b"");
        let mut other_mac = syn.clone();
        other_mac[..6].copy_from_slice(&[0x02, 0x99, 0, 0, 0, 9]);
        self.rx(EXT, &other_mac);
        let mut tagged = vec![0x00, 0x05, 0x08, 0x00];
        tagged.extend_from_slice(&syn[14..]);
        self.rx(EXT, &craft::ethernet(EXT_MAC, CLIENT_MAC, 0x8100, &tagged));
        // IPv6 behind a routing header with a segment left: its final destination is another.
        self.rx(EXT, &ipv6_frame(V6_CLIENT, 43, 8, &[59, 0, 0, 1, 0, 0, 0, 0]));
        self.rx(EXT, &craft::ethernet(EXT_MAC, CLIENT_MAC, 0x88cc, &[0; 46]));
        let request = |target| craft::arp(1, [0xff; 6], CLIENT_MAC, CLIENT, [0; 6], target);
        self.rx(EXT, &request(EXT_IP));
        self.rx(EXT, &request([198, 18, 0, 77]));
        self.rx(EXT, &edit_ip(syn.clone(), |ip| ip.set_more_frags(true)));
        self.rx(EXT, &from_client(CLIENT, EXT_IP, 40_001, SYN, b""));
        self.rx(
            EXT,
            &craft::ethernet(
                EXT_MAC,
                CLIENT_MAC,
                0x0800,
                &craft::icmp_echo_v4(CLIENT, EXT_IP, 1, 1, b"ping"),
            ),
        );
        // An ICMP timestamp request (type 13): not answered.
        let mut timestamp = vec![13, 0, 0, 0, 0, 1, 0, 2];
        IcmpPacket::new_unchecked(&mut timestamp[..]).fill_checksum();
        self.rx(
            EXT,
            &craft::ethernet(EXT_MAC, CLIENT_MAC, 0x0800, &craft::ipv4(CLIENT, EXT_IP, 1, 64, &timestamp)),
        );
        self.rx(
            EXT,
            &craft::ethernet(
                EXT_MAC,
                CLIENT_MAC,
                0x0800,
                &craft::tcp_v4(CLIENT, VIP_WEB, 40_002, 81, SYN, b""),
            ),
        );
        self.rx(EXT, &from_client(CLIENT, VIP_WEB, 40_003, ACK, b""));
        self.rx(INT, &from_server([198, 19, 0, 11], CLIENT, 40_004, ACK));
        for (_, frame) in malformed() {
            self.rx(EXT, &frame);
        }
    }

    /// Connections and what befalls them: NAT both ways, persistence, a tunnel, key clashes,
    /// ICMP errors, and every drop on the way to a real server.
    fn connections(&mut self) {
        // NAT: a SYN, the server's SYN-ACK back, the client's ACK.
        let rs = self.syn_to(VIP_WEB, CLIENT, 41_000);
        assert!(matches!(self.rx(INT, &from_server(rs, CLIENT, 41_000, SYN_ACK)), Action::Tx(EXT, _)));
        assert!(matches!(self.rx(EXT, &from_client(CLIENT, VIP_WEB, 41_000, ACK, b"")), Action::Tx(INT, _)));
        // The server's "port unreachable" about the packet vsd sent it, translated for the client.
        let quote = &craft::tcp_v4(CLIENT, rs, 41_000, 8080, ACK, b"")[..28];
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(quote);
        IcmpPacket::new_unchecked(&mut icmp[..]).fill_checksum();
        let error = craft::ethernet(INT_MAC, RS_MAC, 0x0800, &craft::ipv4(rs, CLIENT, 1, 64, &icmp));
        assert!(matches!(self.rx(INT, &error), Action::Tx(EXT, _)), "the ICMP error is forwarded");
        // Persistence: a template.
        self.syn_to(VIP_STICKY, CLIENT, 41_001);
        // A tunnel, then a DF packet too big for it: "fragmentation needed", then rate-limited.
        self.syn_to(VIP_TUNNEL, CLIENT, 41_002);
        let big = from_client(CLIENT, VIP_TUNNEL, 41_002, ACK, &[0; 1460]);
        for _ in 0..60 {
            self.rx(EXT, &big);
        }
        // One client port to both VIPs of one server: the replies' keys clash.
        self.syn_to(VIP_CLASH[0], CLIENT, 41_003);
        self.syn_to(VIP_CLASH[1], CLIENT, 41_003);
        // A server of weight 0 only: no destination.
        self.rx(EXT, &from_client(CLIENT, VIP_QUIET, 41_004, SYN, b""));
        // TTL 1: cannot be forwarded.
        self.rx(EXT, &edit_ip(from_client(CLIENT, VIP_WEB, 41_005, SYN, b""), |ip| ip.set_ttl(1)));
        // A reply to a client no route leads to.
        let rs = self.syn_to(VIP_WEB, FAR_CLIENT, 41_006);
        self.rx(INT, &from_server(rs, FAR_CLIENT, 41_006, SYN_ACK));
        // A next hop that never answers ARP: its hold queue fills.
        for port in 41_100..41_110 {
            self.rx(EXT, &from_client(CLIENT, VIP_UNRESOLVED, port, SYN, b""));
        }
        // A connection whose server is taken out of its service.
        self.syn_to(VIP_REMOVED, CLIENT, 41_007);
        let dest = self.snap.dests.iter().position(|d| d.addr == Addr::from_v4(RS_REMOVED)).unwrap();
        let dest = u32::try_from(dest).unwrap();
        assert!(self.w.handle(self.now, Command::SetAvailable { dest, available: false }).is_none());
        self.rx(EXT, &from_client(CLIENT, VIP_REMOVED, 41_007, ACK, b""));
        self.w.handle(self.now, Command::SetAvailable { dest, available: true });
        // Fill the table.
        for port in 50_000..50_200 {
            if self.drops(DropReason::TableFull) > 0 {
                break;
            }
            self.rx(EXT, &from_client(CLIENT, VIP_WEB, port, SYN, b""));
        }
    }

    /// Connections that stay for the scrape: one established, one not, one template.
    fn live(&mut self) {
        let rs = self.syn_to(VIP_WEB, CLIENT, 42_000);
        self.rx(INT, &from_server(rs, CLIENT, 42_000, SYN_ACK));
        self.rx(EXT, &from_client(CLIENT, VIP_WEB, 42_000, ACK, b""));
        self.syn_to(VIP_WEB, CLIENT, 42_001);
        self.syn_to(VIP_STICKY, CLIENT, 42_002);
        self.now = self.now + core::time::Duration::from_millis(1);
        self.tick();
    }
}

/// What the driver does with one frame: the prefetch stages, the pipeline, the end of the burst.
fn burst_of_one(w: &mut Worker<VecBuf>, now: Instant, rx: Rx, buf: VecBuf) -> Action<VecBuf> {
    let pre = w.prepare(buf.as_ref());
    let act = w.process(now, rx, buf, &pre);
    w.end_burst();
    act
}

/// Runs all the traffic; the returned workers' counters are what the test scrapes.
pub fn run() -> Lab {
    let snap = snapshot();
    let mut rig =
        Rig { snap: snap.clone(), w: Worker::new(0, snap.clone()), now: Instant::from_millis(1_000) };
    rig.host_and_drops();
    rig.connections();
    rig.age();
    rig.live();

    // Two steered workers: the first hands over a client the second owns.
    let steering = Arc::new(Steering::new(2, 32, 128, DEFAULT_KEY));
    let mut first: Worker<VecBuf> = Worker::new(0, snap.clone()).with_steering(steering.clone());
    let mut second: Worker<VecBuf> = Worker::new(1, snap.clone()).with_steering(steering);
    let redirected = (20..=250u8).find_map(|host| {
        let syn = from_client([198, 18, 0, host], VIP_WEB, 43_000, SYN, b"");
        match burst_of_one(&mut first, rig.now, Rx::wire(EXT), VecBuf::from_frame(&syn)) {
            Action::Redirect(1, b) => Some(b),
            _ => None,
        }
    });
    let b = redirected.expect("no client of 198.18.0.20-250 is owned by the second worker");
    // The owner takes it off the ring: counted in as redirected.
    burst_of_one(&mut second, rig.now, Rx::redirected(EXT), b);
    Lab { snap, workers: vec![rig.w, first, second] }
}
