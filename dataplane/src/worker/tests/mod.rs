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
        dests.len() as u32
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

fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, csum: bool) -> Vec<u8> {
    eth(EXT_MAC, CLIENT_MAC, 0x0800, &craft::udp_v4(src, dst, sport, dport, b"query", csum))
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

fn ports(p: &crate::wire::Parsed) -> (u16, u16) {
    match p.l4 {
        L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => (sport, dport),
        _ => panic!("no ports"),
    }
}

#[test]
fn answers_arp_for_vip_and_interface_address_only() {
    let mut r = Rig::new();
    for target in [VIP_NAT, EXT_IP] {
        let (out, f) = r.tx(EXT, &arp(1, [0xff; 6], CLIENT_MAC, CLIENT, [0; 6], target));
        assert_eq!(out, EXT);
        assert_eq!(&f[0..6], &CLIENT_MAC);
        assert_eq!(&f[6..12], &EXT_MAC);
        assert_eq!(&f[20..22], &[0, 2], "opcode reply");
        assert_eq!(&f[22..28], &EXT_MAC, "sender MAC is ours");
        assert_eq!(&f[28..32], &target);
        assert_eq!(&f[32..38], &CLIENT_MAC);
        assert_eq!(&f[38..42], &CLIENT);
    }
    // Someone else's address: not answered.
    assert!(matches!(
        r.rx(EXT, &arp(1, [0xff; 6], CLIENT_MAC, CLIENT, [0; 6], [198, 18, 0, 77])),
        Action::Free(_)
    ));
    assert_eq!(r.drops(DropReason::Arp), 1);
    // The interface address of `int` is not answered on `ext`.
    assert!(matches!(r.rx(EXT, &arp(1, [0xff; 6], CLIENT_MAC, CLIENT, [0; 6], INT_IP)), Action::Free(_)));
}

#[test]
fn answers_icmp_echo_for_local_address_and_vip() {
    let mut r = Rig::new();
    for dst in [EXT_IP, VIP_NAT] {
        let ip = craft::icmp_echo_v4(CLIENT, dst, 0x1234, 1, b"ping");
        let icmp = ip[20..].to_vec();
        let frame = eth(EXT_MAC, CLIENT_MAC, 0x0800, &ip);
        let (out, f) = r.tx(EXT, &frame);
        assert_eq!(out, EXT);
        assert_eq!(&f[0..6], &CLIENT_MAC);
        let p = check_frame(&f);
        assert_eq!((p.src, p.dst), (a4(dst), a4(CLIENT)));
        assert_eq!(f[p.l4_off], 0, "echo reply");
        assert_eq!(&f[p.l4_off + 4..], &icmp[4..], "ident, sequence and data echoed");
    }
}

#[test]
fn nat_resolves_rewrites_and_translates_replies() {
    let mut r = Rig::new();
    r.neighbour(EXT, CLIENT, CLIENT_MAC);
    // SYN to the VIP: the first real server is not resolved yet, so the packet is held.
    let syn = tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 40000, 80, SYN);
    assert!(matches!(r.rx(EXT, &syn), Action::Held));
    let mut out = r.outputs();
    assert_eq!(out.len(), 1, "one request per neighbour");
    let Some(Action::Tx(INT, req)) = out.pop() else { panic!("an ARP request on int") };
    let q = req.as_ref();
    assert_eq!(&q[0..6], &[0xff; 6]);
    assert_eq!(&q[12..14], &[8, 6]);
    assert_eq!(&q[20..22], &[0, 1], "who-has");
    assert_eq!(&q[28..32], &INT_IP);
    assert_eq!(&q[38..42], &rs_ip(11));
    // The reply releases the held SYN, rewritten to the real server.
    r.neighbour(INT, rs_ip(11), rs_mac(11));
    let (out, f) = match r.outputs().pop() {
        Some(Action::Tx(o, b)) => (o, b.as_ref().to_vec()),
        other => panic!("released: {other:?}"),
    };
    assert_eq!(out, INT);
    assert_eq!(&f[0..6], &rs_mac(11));
    assert_eq!(&f[6..12], &INT_MAC);
    let p = check_frame(&f);
    assert_eq!((p.src, p.dst), (a4(CLIENT), a4(rs_ip(11))));
    assert_eq!(ports(&p), (40000, 8080));
    assert_eq!(f[p.l3_off + 8], 63, "TTL decremented");
    assert_eq!(&f[p.l4_off + 20..], b"GET / HTTP/1.0\r\n\r\n", "payload untouched");

    // The server's SYN-ACK is translated back to the VIP and sent to the client.
    let (out, f) = r.tx(INT, &tcp_frame(INT_MAC, rs_mac(11), rs_ip(11), CLIENT, 8080, 40000, SYNACK));
    assert_eq!(out, EXT);
    assert_eq!(&f[0..6], &CLIENT_MAC);
    let p = check_frame(&f);
    assert_eq!((p.src, p.dst), (a4(VIP_NAT), a4(CLIENT)));
    assert_eq!(ports(&p), (80, 40000));

    // The client's ACK establishes the connection: it now counts as active.
    let (out, _) = r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 40000, 80, ACK));
    assert_eq!(out, INT);
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
fn udp_nat_keeps_a_zero_checksum_and_skips_weight_zero() {
    let mut r = Rig::new();
    r.neighbour(INT, rs_ip(31), rs_mac(31));
    r.neighbour(INT, rs_ip(32), rs_mac(32));
    for (i, csum) in [(0u16, false), (1, true), (2, true)] {
        let (out, f) = r.tx(EXT, &udp_frame(CLIENT, VIP_UDP, 5000 + i, 53, csum));
        assert_eq!(out, INT);
        assert_eq!(f[5], 31, "the weight-0 server never gets new connections");
        let p = check_frame(&f);
        assert_eq!(ports(&p), (5000 + i, 5353));
        let c = u16::from_be_bytes([f[p.l4_off + 6], f[p.l4_off + 7]]);
        assert_eq!(c == 0, !csum, "a UDP datagram without checksum keeps none");
    }
}

#[test]
fn drops_are_counted_by_reason() {
    let mut r = Rig::new();
    r.neighbour(INT, rs_ip(11), rs_mac(11));
    // Not a SYN, no connection.
    r.rx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 43000, 80, ACK));
    assert_eq!(r.drops(DropReason::NoConn), 1);
    // VIP, but a port without service.
    r.rx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 43000, 81, SYN));
    assert_eq!(r.drops(DropReason::NoService), 1);
    // Another host's MAC.
    r.rx(EXT, &tcp_frame([2, 9, 9, 9, 9, 9], CLIENT_MAC, CLIENT, VIP_NAT, 43000, 80, SYN));
    assert_eq!(r.drops(DropReason::NotForUs), 1);
    // Not for a VIP and not a connection.
    r.rx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, [198, 18, 0, 200], 43000, 80, SYN));
    assert_eq!(r.drops(DropReason::NoMatch), 1);
    // TTL 1 cannot be routed.
    let mut f = tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 43001, 80, SYN);
    f[22] = 1;
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    r.rx(EXT, &f);
    assert_eq!(r.drops(DropReason::TtlExceeded), 1);
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
