//! IPv6 rows: Neighbour Discovery, ICMPv6 echo, NAT66 in and back, DR over IPv6, on a dual-stack
//! rig (each interface has an IPv4 and an IPv6 address, services of both families side by side).

use super::golden::{frame_diff, run, Expect, Row, PAYLOAD};
use super::*;
use crate::wire::NdpFlags;
use core::time::Duration;

const EXT6: [u8; 16] = ip6(1, 2);
const INT6: [u8; 16] = ip6(2, 1);
const CLIENT6: [u8; 16] = ip6(1, 10);
const VIP6_NAT: [u8; 16] = ip6(1, 0x100);
const VIP6_DR: [u8; 16] = ip6(1, 0x101);

/// 2001:db8:`net`::`host`.
const fn ip6(net: u8, host: u16) -> [u8; 16] {
    let h = host.to_be_bytes();
    [0x20, 0x01, 0x0d, 0xb8, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, h[0], h[1]]
}

fn rs6(n: u8) -> [u8; 16] {
    ip6(2, u16::from(n))
}

fn a6(o: [u8; 16]) -> Addr {
    Addr::from_v6(o)
}

/// ext 198.18.0.2/24 + 2001:db8:1::2/64, int 198.19.0.1/24 + 2001:db8:2::1/64; services web6
/// (NAT66, rr, servers ::11 and ::12 on 8080), web6-dr (DR, ::21) and, beside them, web (IPv4
/// NAT, 198.19.0.11).
fn snapshot6() -> Arc<Snapshot> {
    let mut ifaces = ifaces();
    ifaces[0].addrs.push((a6(EXT6), 64));
    ifaces[1].addrs.push((a6(INT6), 64));
    let routes = RouteTable::build(&ifaces, &[]).unwrap();
    let dest =
        |service, n, port| Dest { service, addr: a6(rs6(n)), port, weight: 1, present: true, sorry: false };
    let mut dests = vec![dest(0, 11, 8080), dest(0, 12, 8080), dest(1, 21, 0)];
    dests.push(Dest { service: 2, addr: a4(rs_ip(11)), port: 8080, weight: 1, present: true, sorry: false });
    let svc = |name: &str, vip: Addr, fwd, dests: Vec<u32>| Service {
        name: name.into(),
        proto: Proto::Tcp,
        vips: vec![vip],
        ports: vec![80],
        sched: SchedKind::Rr,
        fwd,
        persistence: None,
        one_packet: false,
        dests,
        retired: false,
    };
    let services = vec![
        svc("web6", a6(VIP6_NAT), Fwd::Nat, vec![0, 1]),
        svc("web6-dr", a6(VIP6_DR), Fwd::Dr, vec![2]),
        svc("web", a4(VIP_NAT), Fwd::Nat, vec![3]),
    ];
    Arc::new(Snapshot::new(1, ifaces, routes, services, dests, Timeouts::LVS, 1024))
}

fn rig6() -> Rig {
    Rig::with(snapshot6())
}

/// The IPv6 rig with the client and the servers known, taught by their advertisements.
fn learned6() -> Rig {
    let mut r = rig6();
    let na = |from: [u8; 16], mac, to| craft::ndp_na(from, to, from, NdpFlags::SOLICITED, Some(mac));
    assert!(matches!(
        r.rx(EXT, &eth(EXT_MAC, CLIENT_MAC, 0x86dd, &na(CLIENT6, CLIENT_MAC, EXT6))),
        Action::Free(_)
    ));
    for n in [11, 12, 21] {
        let f = eth(INT_MAC, rs_mac(n), 0x86dd, &na(rs6(n), rs_mac(n), INT6));
        assert!(matches!(r.rx(INT, &f), Action::Free(_)));
    }
    r
}

fn row6(name: &str, iface: u16, frame: Vec<u8>, expect: Expect) -> Row {
    super::golden::row(name, iface, frame, expect).on(learned6)
}

fn tcp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    craft::tcp_v6(src, dst, sport, dport, flags, PAYLOAD)
}

/// An IPv6 packet as a router forwards it: one hop less (no header checksum to mend).
fn hop6(mut ip: Vec<u8>) -> Vec<u8> {
    ip[7] -= 1;
    ip
}

fn with_hop_limit(mut ip: Vec<u8>, h: u8) -> Vec<u8> {
    ip[7] = h;
    ip
}

fn from_client6(ip: &[u8]) -> Vec<u8> {
    eth(EXT_MAC, CLIENT_MAC, 0x86dd, ip)
}

fn to_client6(ip: &[u8]) -> Vec<u8> {
    eth(CLIENT_MAC, EXT_MAC, 0x86dd, ip)
}

fn to_rs6(n: u8, ip: &[u8]) -> Vec<u8> {
    eth(rs_mac(n), INT_MAC, 0x86dd, ip)
}

/// The solicited-node group of `target` and its MAC (RFC 4291 §2.7.1, RFC 2464 §7).
fn solicited(target: [u8; 16]) -> ([u8; 16], [u8; 6]) {
    let g = crate::wire::ndp::solicited_node_multicast(&target);
    (g, crate::wire::ndp::multicast_mac(&g))
}

fn ndp_rows() -> Vec<Row> {
    let ns = |target| {
        let (group, mac) = solicited(target);
        eth(mac, CLIENT_MAC, 0x86dd, &craft::ndp_ns(CLIENT6, group, target, Some(CLIENT_MAC)))
    };
    let na = |target| {
        let flags = NdpFlags::SOLICITED | NdpFlags::OVERRIDE;
        to_client6(&craft::ndp_na(target, CLIENT6, target, flags, Some(EXT_MAC)))
    };
    let unicast_ns = |target| from_client6(&craft::ndp_ns(CLIENT6, target, target, None));
    let unicast_na = |target| {
        let flags = NdpFlags::SOLICITED | NdpFlags::OVERRIDE;
        let mut f = to_client6(&craft::ndp_na(target, CLIENT6, target, flags, None));
        f.resize(14 + 40 + 24, 0);
        f
    };
    vec![
        row6(
            "ndp: a solicitation for the interface address is answered",
            EXT,
            ns(EXT6),
            Expect::Tx(EXT, na(EXT6)),
        ),
        row6(
            "ndp: a solicitation for a NAT VIP is answered",
            EXT,
            ns(VIP6_NAT),
            Expect::Tx(EXT, na(VIP6_NAT)),
        ),
        row6("ndp: a solicitation for a DR VIP is answered", EXT, ns(VIP6_DR), Expect::Tx(EXT, na(VIP6_DR))),
        row6(
            "ndp: a unicast solicitation without the asker's MAC gets an advertisement without ours",
            EXT,
            unicast_ns(EXT6),
            Expect::Tx(EXT, unicast_na(EXT6)),
        ),
        row6("ndp: a solicitation for another host", EXT, ns(ip6(1, 0x99)), Expect::Drop(DropReason::Icmp)),
        row6(
            "ndp: a solicitation that crossed a router (hop limit 254) is refused",
            EXT,
            {
                let (group, mac) = solicited(EXT6);
                let ip = with_hop_limit(craft::ndp_ns(CLIENT6, group, EXT6, Some(CLIENT_MAC)), 254);
                eth(mac, CLIENT_MAC, 0x86dd, &ip)
            },
            Expect::Drop(DropReason::Icmp),
        ),
        row6(
            "ndp: duplicate address detection (from ::) is not answered",
            EXT,
            {
                let (group, mac) = solicited(EXT6);
                eth(mac, CLIENT_MAC, 0x86dd, &craft::ndp_ns([0; 16], group, EXT6, None))
            },
            Expect::Drop(DropReason::Icmp),
        ),
        row6(
            "ndp: an advertisement is learned from",
            INT,
            eth(
                INT_MAC,
                rs_mac(12),
                0x86dd,
                &craft::ndp_na(rs6(12), INT6, rs6(12), NdpFlags::SOLICITED, Some(rs_mac(12))),
            ),
            Expect::Consumed,
        ),
        row6(
            "ndp: IPv6 multicast that is not neighbour discovery is not ours",
            EXT,
            eth(
                [0x33, 0x33, 0, 0, 0, 1],
                CLIENT_MAC,
                0x86dd,
                &craft::icmpv6_echo(CLIENT6, ip6(0xff, 1), 1, 1, b"x", true),
            ),
            Expect::Drop(DropReason::NotForUs),
        ),
    ]
}

fn echo_rows() -> Vec<Row> {
    let ping = |dst| from_client6(&craft::icmpv6_echo(CLIENT6, dst, 0x1234, 1, b"ping", true));
    let pong = |src| {
        let mut ip = craft::icmpv6_echo(src, CLIENT6, 0x1234, 1, b"ping", false);
        ip[7] = 64;
        to_client6(&ip)
    };
    vec![
        row6(
            "icmpv6: echo to the interface address is answered",
            EXT,
            ping(EXT6),
            Expect::Tx(EXT, pong(EXT6)),
        ),
        row6("icmpv6: echo to a VIP is answered", EXT, ping(VIP6_NAT), Expect::Tx(EXT, pong(VIP6_NAT))),
        row6("icmpv6: echo to another host", EXT, ping(ip6(1, 0x99)), Expect::Drop(DropReason::Icmp)),
        row6(
            "icmpv6: an echo with a damaged checksum is not answered",
            EXT,
            {
                let mut f = ping(EXT6);
                f[14 + 40 + 8] ^= 1;
                f
            },
            Expect::Drop(DropReason::Icmp),
        ),
    ]
}

/// Hop-by-hop then destination options, each one PadN option filling its 8 bytes.
const EXT_CHAIN: &[(u8, &[u8])] = &[(0, &[1, 4, 0, 0, 0, 0]), (60, &[1, 4, 0, 0, 0, 0])];

fn forwarding_rows() -> Vec<Row> {
    let syn = from_client6(&tcp6(CLIENT6, VIP6_NAT, 40000, 80, SYN));
    let ack = from_client6(&tcp6(CLIENT6, VIP6_NAT, 40000, 80, ACK));
    vec![
        row6(
            "nat66: a SYN to the VIP goes to the first server, rewritten",
            EXT,
            syn.clone(),
            Expect::Tx(INT, to_rs6(11, &hop6(tcp6(CLIENT6, rs6(11), 40000, 8080, SYN)))),
        ),
        row6(
            "nat66: the server's SYN-ACK goes back from the VIP",
            INT,
            eth(INT_MAC, rs_mac(11), 0x86dd, &tcp6(rs6(11), CLIENT6, 8080, 40000, SYNACK)),
            Expect::Tx(EXT, to_client6(&hop6(tcp6(VIP6_NAT, CLIENT6, 80, 40000, SYNACK)))),
        )
        .prior(EXT, syn.clone()),
        row6(
            "nat66: the client's ACK follows its connection",
            EXT,
            ack,
            Expect::Tx(INT, to_rs6(11, &hop6(tcp6(CLIENT6, rs6(11), 40000, 8080, ACK)))),
        )
        .prior(EXT, syn.clone()),
        row6(
            "nat66: a SYN behind hop-by-hop and destination options headers goes to the first server, \
             its extension headers kept",
            EXT,
            from_client6(&craft::ipv6_ext_chain(&tcp6(CLIENT6, VIP6_NAT, 40000, 80, SYN), EXT_CHAIN)),
            Expect::Tx(
                INT,
                to_rs6(
                    11,
                    &hop6(craft::ipv6_ext_chain(&tcp6(CLIENT6, rs6(11), 40000, 8080, SYN), EXT_CHAIN)),
                ),
            ),
        ),
        row6(
            "nat66: hop limit 1 is not forwarded",
            EXT,
            from_client6(&with_hop_limit(tcp6(CLIENT6, VIP6_NAT, 40001, 80, SYN), 1)),
            Expect::Drop(DropReason::TtlExceeded),
        ),
        row6(
            "dr6: only the MAC changes",
            EXT,
            from_client6(&tcp6(CLIENT6, VIP6_DR, 40000, 80, SYN)),
            Expect::Tx(INT, to_rs6(21, &tcp6(CLIENT6, VIP6_DR, 40000, 80, SYN))),
        ),
        row6(
            "nat66: a port without service on a VIP",
            EXT,
            from_client6(&tcp6(CLIENT6, VIP6_NAT, 40000, 81, SYN)),
            Expect::Drop(DropReason::NoService),
        ),
    ]
}

/// An ICMPv6 error from `src` to `dst` quoting `quote`, with its checksum.
fn icmp6_err(src: [u8; 16], dst: [u8; 16], ty: u8, code: u8, quote: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(quote);
    crate::wire::Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(&src, &dst);
    craft::ipv6(src, dst, 58, 64, &m)
}

/// `quote` with its source or destination address and port replaced (its own checksum kept, as
/// the translation keeps it).
fn requote(mut quote: Vec<u8>, dst: bool, addr: [u8; 16], port: u16) -> Vec<u8> {
    let (a, pt) = if dst { (24, 42) } else { (8, 40) };
    quote[a..a + 16].copy_from_slice(&addr);
    quote[pt..pt + 2].copy_from_slice(&port.to_be_bytes());
    quote
}

fn icmp6_error_rows() -> Vec<Row> {
    let syn = from_client6(&tcp6(CLIENT6, VIP6_NAT, 40000, 80, SYN));
    // What vsd sent the server, and what the server's reply to the client looked like after NAT.
    let to_server = hop6(tcp6(CLIENT6, rs6(11), 40000, 8080, SYN));
    let to_client = hop6(tcp6(VIP6_NAT, CLIENT6, 80, 40000, SYNACK));
    let from_int = |n: u8, ip: &[u8]| eth(INT_MAC, rs_mac(n), 0x86dd, ip);
    vec![
        row6(
            "icmpv6: an error from the server's side is translated to the VIP and goes to the client",
            INT,
            from_int(11, &icmp6_err(rs6(11), CLIENT6, 1, 4, &to_server)),
            Expect::Tx(
                EXT,
                to_client6(&hop6(icmp6_err(
                    VIP6_NAT,
                    CLIENT6,
                    1,
                    4,
                    &requote(to_server.clone(), true, VIP6_NAT, 80),
                ))),
            ),
        )
        .prior(EXT, syn.clone()),
        row6(
            "icmpv6: an error from the client's side is translated to the server and goes to it",
            EXT,
            from_client6(&icmp6_err(CLIENT6, VIP6_NAT, 1, 4, &to_client)),
            Expect::Tx(
                INT,
                to_rs6(
                    11,
                    &hop6(icmp6_err(
                        CLIENT6,
                        rs6(11),
                        1,
                        4,
                        &requote(to_client.clone(), false, rs6(11), 8080),
                    )),
                ),
            ),
        )
        .prior(EXT, syn.clone()),
        row6(
            "icmpv6: a DR error from the client's side goes on to the server, only the MAC changes",
            EXT,
            from_client6(&icmp6_err(CLIENT6, VIP6_DR, 3, 0, &tcp6(VIP6_DR, CLIENT6, 80, 40000, SYNACK))),
            Expect::Tx(
                INT,
                to_rs6(21, &icmp6_err(CLIENT6, VIP6_DR, 3, 0, &tcp6(VIP6_DR, CLIENT6, 80, 40000, SYNACK))),
            ),
        )
        .prior(EXT, from_client6(&tcp6(CLIENT6, VIP6_DR, 40000, 80, SYN))),
        row6(
            "icmpv6: an error with a bad checksum",
            INT,
            {
                let mut f = from_int(11, &icmp6_err(rs6(11), CLIENT6, 1, 4, &to_server));
                f[14 + 40 + 2] ^= 0x55;
                f
            },
            Expect::Drop(DropReason::Icmp),
        )
        .prior(EXT, syn.clone()),
        row6(
            "icmpv6: an error about no connection of ours",
            INT,
            from_int(11, &icmp6_err(rs6(11), CLIENT6, 1, 4, &to_server)),
            Expect::Drop(DropReason::Icmp),
        ),
        row6(
            "icmpv6: an error quoting a packet cut before its ports",
            INT,
            from_int(11, &icmp6_err(rs6(11), CLIENT6, 1, 4, &to_server[..42])),
            Expect::Drop(DropReason::Icmp),
        )
        .prior(EXT, syn),
    ]
}

/// The IPv6 rig with the internal link at MTU 1400.
fn narrow6() -> Rig {
    let mut s = Arc::try_unwrap(snapshot6()).expect("fresh");
    s.ifaces[1].mtu = 1400;
    s.min_mtu = 1400;
    let mut r = Rig::with(Arc::new(s));
    let na = |from: [u8; 16], mac, to| craft::ndp_na(from, to, from, NdpFlags::SOLICITED, Some(mac));
    r.rx(EXT, &eth(EXT_MAC, CLIENT_MAC, 0x86dd, &na(CLIENT6, CLIENT_MAC, EXT6)));
    r.rx(INT, &eth(INT_MAC, rs_mac(11), 0x86dd, &na(rs6(11), rs_mac(11), INT6)));
    r
}

fn mtu6_rows() -> Vec<Row> {
    let syn = from_client6(&tcp6(CLIENT6, VIP6_NAT, 40000, 80, SYN));
    let big = craft::tcp_v6(CLIENT6, VIP6_NAT, 40000, 80, ACK, &[0x5a; 1400]);
    let fits = craft::tcp_v6(CLIENT6, VIP6_NAT, 40000, 80, ACK, &[0x5a; 1340]);
    let ptb = {
        let quote = &big[..1280 - 48];
        let mut m = vec![2, 0, 0, 0, 0, 0, 0x05, 0x78];
        m.extend_from_slice(quote);
        crate::wire::Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(&EXT6, &CLIENT6);
        to_client6(&craft::ipv6(EXT6, CLIENT6, 58, 64, &m))
    };
    vec![
        super::golden::row("mtu6: what fits the narrower link goes", EXT, from_client6(&fits), {
            let mut out = craft::tcp_v6(CLIENT6, rs6(11), 40000, 8080, ACK, &[0x5a; 1340]);
            out[7] -= 1;
            Expect::Tx(INT, to_rs6(11, &out))
        })
        .on(narrow6)
        .prior(EXT, syn.clone()),
        super::golden::row(
            "mtu6: too big for the way out: Packet Too Big to the client, quoting what it sent, 1280 bytes at most",
            EXT,
            from_client6(&big),
            Expect::Tx(EXT, ptb),
        )
        .on(narrow6)
        .prior(EXT, syn)
        .counting(DropReason::TooBig),
    ]
}

#[test]
fn mtu6_table() {
    run(mtu6_rows());
}

#[test]
fn icmp6_error_table() {
    run(icmp6_error_rows());
}

#[test]
fn ndp_table() {
    run(ndp_rows());
}

#[test]
fn echo6_table() {
    run(echo_rows());
}

#[test]
fn nat66_and_dr6_table() {
    run(forwarding_rows());
}

/// An unresolved server: the SYN is held, a Neighbour Solicitation goes out on int toward the
/// server's solicited-node group, and the server's advertisement releases the SYN, rewritten.
#[test]
fn nat66_holds_the_syn_until_ndp_resolves_the_server() {
    let mut r = rig6();
    let na = craft::ndp_na(CLIENT6, EXT6, CLIENT6, NdpFlags::SOLICITED, Some(CLIENT_MAC));
    r.rx(EXT, &eth(EXT_MAC, CLIENT_MAC, 0x86dd, &na));
    let syn = from_client6(&tcp6(CLIENT6, VIP6_NAT, 40000, 80, SYN));
    assert!(matches!(r.rx(EXT, &syn), Action::Held));
    let mut out = r.outputs();
    assert_eq!(out.len(), 1, "one solicitation per neighbour");
    let Some(Action::Tx(INT, ns)) = out.pop() else { panic!("a solicitation on int") };
    let (group, mac) = solicited(rs6(11));
    let want = eth(mac, INT_MAC, 0x86dd, &craft::ndp_ns(INT6, group, rs6(11), Some(INT_MAC)));
    frame_diff(&want, ns.as_ref()).unwrap();
    assert_eq!(r.w.stats().arp_requests.get(), 1, "neighbour requests, both families");
    let adv = craft::ndp_na(rs6(11), INT6, rs6(11), NdpFlags::SOLICITED, Some(rs_mac(11)));
    r.rx(INT, &eth(INT_MAC, rs_mac(11), 0x86dd, &adv));
    let Some(Action::Tx(INT, b)) = r.outputs().pop() else { panic!("released") };
    frame_diff(&to_rs6(11, &hop6(tcp6(CLIENT6, rs6(11), 40000, 8080, SYN))), b.as_ref()).unwrap();
    // Unanswered neighbours are asked again, then given up on.
    let syn2 = from_client6(&tcp6(CLIENT6, VIP6_NAT, 40001, 80, SYN));
    assert!(matches!(r.rx(EXT, &syn2), Action::Held), "the next server, ::12, is unknown");
    let mut freed = 0;
    for _ in 0..50 {
        r.now = r.now + Duration::from_millis(200);
        r.timers_at(r.now);
        freed += r.outputs().into_iter().filter(|a| matches!(a, Action::Free(_))).count();
    }
    assert_eq!(freed, 1);
    assert_eq!(r.drops(DropReason::NeighUnresolved), 1);
}

/// IPv4 and IPv6 services side by side on one worker, one interface of each family: both work
/// at once, each in its family.
#[test]
fn dual_stack_services_work_side_by_side() {
    let mut r = learned6();
    r.neighbour(EXT, CLIENT, CLIENT_MAC);
    r.neighbour(INT, rs_ip(11), rs_mac(11));
    for sport in [40000, 40001] {
        let (out, f) = r.tx(EXT, &from_client6(&tcp6(CLIENT6, VIP6_NAT, sport, 80, SYN)));
        assert_eq!(out, INT);
        let p = check_frame6(&f);
        assert!(p.dst == a6(rs6(11)) || p.dst == a6(rs6(12)));
        let (out, f) = r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, sport, 80, SYN));
        assert_eq!(out, INT);
        frame_diff(
            &f,
            &super::golden::to_rs(
                11,
                &super::golden::hop(super::golden::tcp(CLIENT, rs_ip(11), sport, 8080, SYN)),
            ),
        )
        .unwrap();
    }
    assert_eq!(r.w.conns().len(), 4);
}

/// Parse an IPv6 frame the worker produced and check its TCP checksum.
fn check_frame6(f: &[u8]) -> crate::wire::Parsed {
    let p = parse_frame(f).expect("output parses");
    assert!(TcpPacket::new_checked(&f[p.l4_off..]).unwrap().verify_checksum(&p.src, &p.dst));
    p
}

/// Two workers: an IPv6 neighbour one worker learns reaches the other as an advertisement over
/// the redirect ring, which releases what the other held for it; NDP is answered by whichever
/// worker receives it.
#[test]
fn an_ipv6_neighbour_learned_by_one_worker_is_shared_with_the_other() {
    use crate::steer::{Steering, DEFAULT_KEY};
    let steering = Arc::new(Steering::new(2, 32, 128, DEFAULT_KEY));
    let snap = snapshot6();
    let mut ws: [Worker<VecBuf>; 2] = [
        Worker::new(0, snap.clone()).with_steering(steering.clone()),
        Worker::new(1, snap).with_steering(steering.clone()),
    ];
    let now = Instant::from_millis(1000);
    let one = |w: &mut Worker<VecBuf>, rx: Rx, f: &[u8]| {
        let pre = w.prepare(f);
        let act = w.process(now, rx, VecBuf::from_frame(f), &pre);
        w.end_burst();
        act
    };
    // A client worker 1 owns: its SYN is held there, ::11 being unknown to worker 1.
    let client = (1..=0xffu16).map(|h| ip6(1, 0x1000 + h)).find(|c| steering.owner(&a6(*c)) == 1).unwrap();
    let na = craft::ndp_na(client, EXT6, client, NdpFlags::SOLICITED, Some(CLIENT_MAC));
    one(&mut ws[1], Rx::wire(EXT), &eth(EXT_MAC, CLIENT_MAC, 0x86dd, &na));
    let syn = from_client6(&tcp6(client, VIP6_NAT, 40000, 80, SYN));
    assert!(matches!(one(&mut ws[1], Rx::wire(EXT), &syn), Action::Held));
    // NDP is not steered: worker 0 answers a solicitation itself.
    let (group, mac) = solicited(VIP6_NAT);
    let ns = eth(mac, CLIENT_MAC, 0x86dd, &craft::ndp_ns(client, group, VIP6_NAT, Some(CLIENT_MAC)));
    assert!(matches!(one(&mut ws[0], Rx::wire(EXT), &ns), Action::Tx(EXT, _)));
    // The server's advertisement lands on worker 0, which shares it.
    let adv = craft::ndp_na(rs6(11), INT6, rs6(11), NdpFlags::SOLICITED, Some(rs_mac(11)));
    assert!(matches!(
        one(&mut ws[0], Rx::wire(INT), &eth(INT_MAC, rs_mac(11), 0x86dd, &adv)),
        Action::Free(_)
    ));
    let mut shared = 0;
    while let Some(a) = ws[0].poll_output(now, &mut |_| Some(VecBuf::empty())) {
        let Action::Redirect(1, b) = a else { panic!("a share goes to worker 1, got {a:?}") };
        assert!(matches!(one(&mut ws[1], Rx::redirected(INT), b.as_ref()), Action::Free(_)));
        shared += 1;
    }
    assert!(shared >= 1);
    // Worker 1 learned ::11 from the share: its held SYN leaves, rewritten.
    let released = ws[1].poll_output(now, &mut |_| None);
    let Some(Action::Tx(INT, b)) = released else { panic!("worker 1 released its held SYN: {released:?}") };
    frame_diff(&to_rs6(11, &hop6(tcp6(client, rs6(11), 40000, 8080, SYN))), b.as_ref()).unwrap();
}
