//! Golden tests of the whole per-packet path on byte arrays: {input frame, verdict, output frame},
//! with a virtual clock. No DPDK: buffers are [`VecBuf`]s.

use super::{Action, Prepared, Rx, Worker};
use crate::addr::{Addr, Proto};
use crate::buf::VecBuf;
use crate::conn::{Fwd, Timeouts};
use crate::craft::{self, arp, ethernet as eth};
use crate::route::{Interface, RouteTable};
use crate::sched::SchedKind;
use crate::service::{Dest, Service, Snapshot};
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::{checksum, parse_frame, Ipv4Packet, TcpPacket, UdpPacket, L4};
use std::sync::Arc;

const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x01];
const INT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x02];
const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 0x10];
const EXT: u16 = 0;
const INT: u16 = 1;
const EXT_IP: [u8; 4] = [198, 18, 0, 2];
const INT_IP: [u8; 4] = [198, 19, 0, 1];
const CLIENT: [u8; 4] = [198, 18, 0, 10];
const VIP_NAT: [u8; 4] = [198, 18, 0, 100];
const VIP_DR: [u8; 4] = [198, 18, 0, 101];
const VIP_UDP: [u8; 4] = [198, 18, 0, 102];

use craft::tcp_flags::{ACK, SYN, SYN_ACK as SYNACK};

fn rs_ip(n: u8) -> [u8; 4] {
    [198, 19, 0, n]
}

fn rs_mac(n: u8) -> [u8; 6] {
    [0x02, 0x5e, 0, 0, 0, n]
}

fn a4(o: [u8; 4]) -> Addr {
    Addr::from_v4(o)
}

fn snapshot() -> Arc<Snapshot> {
    let ifaces = ifaces();
    build_snapshot(routes(&ifaces), ifaces)
}

/// Connected subnets plus a default route via 198.18.0.1.
fn routes(ifaces: &[Interface]) -> RouteTable {
    RouteTable::build(ifaces, &[(a4([0, 0, 0, 0]), 0, Some(a4([198, 18, 0, 1])), None)]).unwrap()
}

/// ext 198.18.0.2/24 and int 198.19.0.1/24.
fn ifaces() -> Vec<Interface> {
    vec![
        Interface {
            name: "ext".into(),
            mac: EXT_MAC,
            addrs: vec![(a4(EXT_IP), 24)],
            mtu: 1500,
            static_neighbours: vec![],
        },
        Interface {
            name: "int".into(),
            mac: INT_MAC,
            addrs: vec![(a4(INT_IP), 24)],
            mtu: 1500,
            static_neighbours: vec![],
        },
    ]
}

fn build_snapshot(routes: RouteTable, ifaces: Vec<Interface>) -> Arc<Snapshot> {
    let mut dests = Vec::new();
    let mut add = |svc: u16, n: u8, port: u16, weight: u32| {
        dests.push(Dest { service: svc, addr: a4(rs_ip(n)), port, weight, present: true, sorry: false });
        u32::try_from(dests.len()).unwrap()
    };
    add(0, 11, 8080, 1);
    add(0, 12, 8080, 1);
    let nat_end = add(0, 13, 8080, 1);
    add(1, 21, 0, 4);
    add(1, 22, 0, 3);
    let dr_end = add(1, 23, 0, 2);
    add(2, 31, 5353, 1);
    let udp_end = add(2, 32, 0, 0);
    let svc = |name: &str, proto, vip, sched, fwd, dests| Service {
        name: name.into(),
        proto,
        vips: vec![a4(vip)],
        ports: vec![if proto == Proto::Tcp { 80 } else { 53 }],
        sched,
        fwd,
        persistence: None,
        one_packet: false,
        dests: (dests as core::ops::Range<u32>).collect(),
        retired: false,
    };
    let services = vec![
        svc("web", Proto::Tcp, VIP_NAT, SchedKind::Rr, Fwd::Nat, 0..nat_end),
        svc("web-dr", Proto::Tcp, VIP_DR, SchedKind::Wrr, Fwd::Dr, nat_end..dr_end),
        svc("dns", Proto::Udp, VIP_UDP, SchedKind::Wlc, Fwd::Nat, dr_end..udp_end),
    ];
    Arc::new(Snapshot::new(1, ifaces, routes, services, dests, Timeouts::LVS, 1024))
}

fn tcp_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: u8,
) -> Vec<u8> {
    eth(dst_mac, src_mac, 0x0800, &craft::tcp_v4(src, dst, sport, dport, flags, b"GET / HTTP/1.0\r\n\r\n"))
}

struct Rig {
    w: Worker<VecBuf>,
    now: Instant,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(snapshot())
    }

    fn with(snap: Arc<Snapshot>) -> Rig {
        Rig { w: Worker::new(0, snap), now: Instant::from_millis(1_000) }
    }

    /// One frame from the wire, as a burst of one.
    fn rx(&mut self, iface: u16, frame: &[u8]) -> Action<VecBuf> {
        let pre = self.w.prepare(frame);
        let act = self.w.process(self.now, Rx::wire(iface), VecBuf::from_frame(frame), &pre);
        self.w.end_burst();
        act
    }

    /// Everything the worker wants sent or freed on its own now, in order.
    fn outputs(&mut self) -> Vec<Action<VecBuf>> {
        let mut out = Vec::new();
        while let Some(a) = self.w.poll_output(self.now, &mut |_| Some(VecBuf::empty())) {
            out.push(a);
        }
        out
    }

    /// Run the timers at `t` if the worker says they are due, as the driver does.
    fn timers_at(&mut self, t: Instant) {
        if self.w.poll_timeout().is_some_and(|due| due <= t) {
            self.w.handle_timeout(t);
        }
    }

    fn tx(&mut self, iface: u16, frame: &[u8]) -> (u16, Vec<u8>) {
        match self.rx(iface, frame) {
            Action::Tx(out, b) => (out, b.as_ref().to_vec()),
            other => panic!("expected Tx, got {other:?}"),
        }
    }

    /// Teach the worker a neighbour by an ARP reply addressed to our interface.
    fn neighbour(&mut self, iface: u16, ip: [u8; 4], mac: [u8; 6]) {
        let (our_mac, our_ip) = if iface == EXT { (EXT_MAC, EXT_IP) } else { (INT_MAC, INT_IP) };
        assert!(matches!(self.rx(iface, &arp(2, our_mac, mac, ip, our_mac, our_ip)), Action::Free(_)));
    }

    fn drops(&self, r: DropReason) -> u64 {
        self.w.stats().drops[r as usize].get()
    }
}

/// Parse a frame the worker produced and check every checksum in it.
fn check_frame(f: &[u8]) -> crate::wire::Parsed {
    let p = parse_frame(f).expect("output parses");
    let ip = Ipv4Packet::new_checked(&f[p.l3_off..]).unwrap();
    assert!(ip.verify_checksum(), "IPv4 header checksum");
    let l4 = &f[p.l4_off..p.l3_off + usize::from(ip.total_len())];
    match p.l4 {
        L4::Tcp { .. } => {
            assert!(TcpPacket::new_checked(l4).unwrap().verify_checksum(&p.src, &p.dst), "TCP checksum")
        }
        L4::Udp { .. } => {
            assert!(UdpPacket::new_checked(l4).unwrap().verify_checksum(&p.src, &p.dst), "UDP checksum")
        }
        L4::Icmp { .. } => assert_eq!(checksum::data(l4), 0xffff, "ICMP checksum"),
        _ => {}
    }
    p
}

#[test]
fn nat_holds_the_syn_until_arp_resolves_the_server() {
    use golden::{frame_diff, from_client, from_rs, hop, tcp, to_client, to_rs};
    let same = |want: &[u8], got: &[u8]| frame_diff(want, got).unwrap_or_else(|e| panic!("{e}"));
    let mut r = Rig::new();
    r.neighbour(EXT, CLIENT, CLIENT_MAC);
    // SYN to the VIP: the first real server is not resolved yet, so the packet is held.
    assert!(matches!(r.rx(EXT, &from_client(&tcp(CLIENT, VIP_NAT, 40000, 80, SYN))), Action::Held));
    let mut out = r.outputs();
    assert_eq!(out.len(), 1, "one request per neighbour");
    let Some(Action::Tx(INT, req)) = out.pop() else { panic!("an ARP request on int") };
    let mut who_has = arp(1, [0xff; 6], INT_MAC, INT_IP, [0; 6], rs_ip(11));
    who_has.resize(60, 0);
    same(&who_has, req.as_ref());
    // The reply releases the held SYN, rewritten to the real server.
    r.neighbour(INT, rs_ip(11), rs_mac(11));
    let Some(Action::Tx(out, b)) = r.outputs().pop() else { panic!("released") };
    assert_eq!(out, INT);
    same(&to_rs(11, &hop(tcp(CLIENT, rs_ip(11), 40000, 8080, SYN))), b.as_ref());

    // The server's SYN-ACK goes back, and the client's ACK establishes the connection: it now counts
    // as active.
    let (out, f) = r.tx(INT, &from_rs(11, &tcp(rs_ip(11), CLIENT, 8080, 40000, SYNACK)));
    assert_eq!(out, EXT);
    same(&to_client(&hop(tcp(VIP_NAT, CLIENT, 80, 40000, SYNACK))), &f);
    let (out, f) = r.tx(EXT, &from_client(&tcp(CLIENT, VIP_NAT, 40000, 80, ACK)));
    assert_eq!(out, INT);
    same(&to_rs(11, &hop(tcp(CLIENT, rs_ip(11), 40000, 8080, ACK))), &f);
    let ds = r.w.dest_stats();
    assert_eq!((ds[0].conns.get(), ds[0].active.get(), ds[0].inactive.get()), (1, 1, 0));
    assert_eq!((ds[0].in_packets.get(), ds[0].out_packets.get()), (2, 1));
}

#[test]
fn a_servers_cached_next_hop_follows_arp_and_is_re_probed_when_old() {
    let mut r = Rig::new();
    r.neighbour(EXT, CLIENT, CLIENT_MAC);
    r.neighbour(INT, rs_ip(11), rs_mac(11));
    let syn = tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 40000, 80, SYN);
    let ack = tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 40000, 80, ACK);
    assert_eq!(&r.tx(EXT, &syn).1[0..6], &rs_mac(11));
    assert_eq!(&r.tx(EXT, &ack).1[0..6], &rs_mac(11), "from the cached hop");
    // The server moves to another MAC: the next packet goes there, not to the cached one.
    let moved = [0x02, 0x5e, 0, 0, 0, 0x99];
    r.neighbour(INT, rs_ip(11), moved);
    assert_eq!(&r.tx(EXT, &ack).1[0..6], &moved);
    assert_eq!(&r.tx(EXT, &ack).1[0..6], &moved);
    // Past the reachable time the MAC still forwards, and is re-probed in the background.
    assert!(r.outputs().is_empty());
    r.now = r.now + crate::neigh::REACHABLE + core::time::Duration::from_millis(1);
    let (out, f) = r.tx(EXT, &ack);
    assert_eq!((out, &f[0..6]), (INT, &moved[..]));
    let probes = r.outputs();
    assert!(
        matches!(&probes[..], [Action::Tx(INT, q)] if q.as_ref()[12..14] == [8, 6]),
        "a cached hop must not hide the re-probe"
    );
    // DR needs the server on-link: its packets take the same hop check.
    r.neighbour(INT, rs_ip(21), rs_mac(21));
    for _ in 0..3 {
        let (out, f) = r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_DR, 42000, 80, SYN));
        assert_eq!((out, &f[0..6]), (INT, &rs_mac(21)[..]));
    }
}

#[test]
fn nat_round_robin_spreads_new_connections() {
    let mut r = Rig::new();
    r.neighbour(EXT, CLIENT, CLIENT_MAC);
    for n in [11, 12, 13] {
        r.neighbour(INT, rs_ip(n), rs_mac(n));
    }
    let mut seen = Vec::new();
    for i in 0..9u16 {
        let (_, f) = r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 41000 + i, 80, SYN));
        seen.push(f[5]);
    }
    assert_eq!(seen, vec![11, 12, 13, 11, 12, 13, 11, 12, 13]);
    // A retransmitted SYN stays on its connection.
    let (_, f) = r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 41000, 80, SYN));
    assert_eq!(f[5], 11);
}

#[test]
fn dr_rewrites_only_the_mac_with_lvs_wrr_order() {
    let mut r = Rig::new();
    for n in [21, 22, 23] {
        r.neighbour(INT, rs_ip(n), rs_mac(n));
    }
    let mut order = String::new();
    for i in 0..18u16 {
        let syn = tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_DR, 42000 + i, 80, SYN);
        let (out, f) = r.tx(EXT, &syn);
        assert_eq!(out, INT);
        assert_eq!(&f[6..12], &INT_MAC);
        assert_eq!(&f[12..], &syn[12..], "DR leaves everything above Ethernet alone");
        order.push(match f[5] {
            21 => 'A',
            22 => 'B',
            23 => 'C',
            x => panic!("unexpected server {x}"),
        });
    }
    // LVS wrr with weights 4/3/2.
    assert_eq!(order, "AABABCABCAABABCABC");
}

#[test]
fn malformed_frames_are_counted_never_panic() {
    let mut r = Rig::new();
    let good = tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 44000, 80, SYN);
    let mut sent = 0u64;
    for cut in 0..54 {
        r.rx(EXT, &good[..cut]);
        sent += 1;
    }
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x44;
    let mut long_ihl = good.clone();
    long_ihl[14] = 0x4f;
    let mut bad_total = good.clone();
    bad_total[16..18].copy_from_slice(&9000u16.to_be_bytes());
    let mut short_total = good.clone();
    short_total[16..18].copy_from_slice(&10u16.to_be_bytes());
    let mut bad_doff = good.clone();
    bad_doff[14 + 20 + 12] = 2 << 4;
    let mut bad_csum = good.clone();
    bad_csum[24] ^= 0xff;
    for f in [bad_ihl, long_ihl, bad_total, short_total, bad_doff, bad_csum] {
        r.rx(EXT, &f);
        sent += 1;
    }
    let s = r.w.stats();
    let parse: u64 = s.parse_errors.iter().map(|c| c.get()).sum();
    assert_eq!(parse, sent, "every malformed frame is a counted parse error");
    assert_eq!(s.conns_created.get(), 0);
}

#[test]
fn connections_expire_on_the_virtual_clock_and_release_load() {
    let mut r = Rig::new();
    r.neighbour(INT, rs_ip(11), rs_mac(11));
    r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 45000, 80, SYN));
    assert_eq!(r.w.conns().len(), 1);
    assert_eq!(r.w.dest_stats()[0].inactive.get(), 1);
    // SYN_RECV lives 60 s (LVS): still there just before, gone just after.
    r.timers_at(r.now + core::time::Duration::from_secs(59));
    assert_eq!(r.w.conns().len(), 1);
    r.timers_at(r.now + core::time::Duration::from_secs(61));
    assert_eq!(r.w.conns().len(), 0);
    assert_eq!(r.w.dest_stats()[0].inactive.get(), 0);
    assert_eq!(r.w.stats().conns_expired.get(), 1);
}

#[test]
fn unresolved_next_hop_gives_up_and_counts() {
    let mut r = Rig::new();
    assert!(matches!(
        r.rx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 46000, 80, SYN)),
        Action::Held
    ));
    let mut t = r.now;
    let mut freed = 0;
    for _ in 0..50 {
        t = t + core::time::Duration::from_millis(200);
        r.timers_at(t);
        r.now = t;
        freed += r.outputs().into_iter().filter(|a| matches!(a, Action::Free(_))).count();
    }
    assert_eq!(freed, 1);
    assert_eq!(r.drops(DropReason::NeighUnresolved), 1);
    assert_eq!(r.w.stats().arp_requests.get(), u64::from(crate::neigh::MAX_PROBES));
}

mod control;
mod golden;
mod golden_host;
mod golden_tunnel;
mod golden_v6;
mod mtu;
mod multicore;
mod persist;
mod tunnel;

#[test]
fn a_prefetched_burst_is_processed_exactly_like_single_packets() {
    let frames: Vec<Vec<u8>> = (0..32u16)
        .map(|i| {
            tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 48000 + i % 7, 80, if i < 7 { SYN } else { ACK })
        })
        .chain([tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 48000, 80, SYN)[..30].to_vec()])
        .collect();
    let (mut plain, mut burst) = (Rig::new(), Rig::new());
    for r in [&mut plain, &mut burst] {
        for n in [11, 12, 13] {
            r.neighbour(INT, rs_ip(n), rs_mac(n));
        }
    }
    let outs = |a: Action<VecBuf>| match a {
        Action::Tx(i, b) => Some((i, b.as_ref().to_vec())),
        _ => None,
    };
    let want: Vec<_> = frames.iter().map(|f| outs(plain.rx(EXT, f))).collect();
    let mut parsed: Vec<_> = frames
        .iter()
        .map(|f| {
            let mut pre = Prepared::NONE;
            burst.w.prefetch(f, &mut pre);
            pre
        })
        .collect();
    for p in &mut parsed {
        burst.w.prefetch_entry(p);
    }
    let got: Vec<_> = frames
        .iter()
        .zip(&parsed)
        .map(|(f, p)| outs(burst.w.process(burst.now, Rx::wire(EXT), VecBuf::from_frame(f), p)))
        .collect();
    burst.w.end_burst();
    assert_eq!(got, want);
    assert_eq!(burst.w.stats().parse_errors.iter().map(|c| c.get()).sum::<u64>(), 1);
}
