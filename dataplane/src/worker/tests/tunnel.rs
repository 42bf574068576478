//! Tunnel forwarding and ICMP errors through the whole worker: encapsulation toward servers behind a
//! router, fragmentation-needed for the tunnel MTU, the relay of errors about our tunnel packets
//! (path MTU learned), and the ICMP errors of NAT, DR and tunnel connections.

use super::*;
use crate::tunnel::{decap, TunnelKind, TunnelSpec, DEFAULT_GUE_PORT};
use crate::wire::IcmpPacket;

const V_IPIP: [u8; 4] = [198, 18, 0, 120];
const V_GUE: [u8; 4] = [198, 18, 0, 121];
const V_GRE: [u8; 4] = [198, 18, 0, 122];
const ROUTER: [u8; 4] = [198, 19, 0, 254];
const ROUTER_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 0xfe];

fn far(n: u8) -> [u8; 4] {
    [198, 20, 0, n]
}

/// Tunnel services (IPIP, GUE with checksum, GRE) whose servers sit behind a router, plus the
/// NAT and DR services of the common snapshot.
fn tunnel_snapshot() -> Arc<Snapshot> {
    let ifaces = ifaces();
    let routes = RouteTable::build(
        &ifaces,
        &[
            (a4([0, 0, 0, 0]), 0, Some(a4([198, 18, 0, 1])), None),
            (a4([198, 20, 0, 0]), 24, Some(a4(ROUTER)), None),
        ],
    )
    .unwrap();
    let mut dests = vec![
        Dest { service: 0, addr: a4(rs_ip(11)), port: 8080, weight: 1, present: true, sorry: false },
        Dest { service: 1, addr: a4(rs_ip(21)), port: 0, weight: 1, present: true, sorry: false },
    ];
    let mut services: Vec<Service> = Vec::new();
    let svc = |name: &str, vip, fwd, dests| Service {
        name: name.into(),
        proto: Proto::Tcp,
        vips: vec![a4(vip)],
        ports: vec![80],
        sched: SchedKind::Rr,
        fwd,
        persistence: None,
        one_packet: false,
        dests: (dests as core::ops::Range<u32>).collect(),
        retired: false,
    };
    services.push(svc("nat", VIP_NAT, Fwd::Nat, 0..1));
    services.push(svc("dr", VIP_DR, Fwd::Dr, 1..2));
    for (i, (vip, n)) in [(V_IPIP, 21), (V_GUE, 31), (V_GRE, 41)].into_iter().enumerate() {
        let first = dests.len() as u32;
        dests.push(Dest {
            service: 2 + i as u16,
            addr: a4(far(n)),
            port: 0,
            weight: 1,
            present: true,
            sorry: false,
        });
        dests.push(Dest {
            service: 2 + i as u16,
            addr: a4(far(n + 1)),
            port: 0,
            weight: 1,
            present: true,
            sorry: false,
        });
        services.push(svc("tun", vip, Fwd::Tunnel, first..first + 2));
    }
    let mut snap = Snapshot::new(1, ifaces, routes, services, dests, Timeouts::LVS, 1024);
    let spec = |kind, csum| TunnelSpec { kind, port: DEFAULT_GUE_PORT, csum };
    snap.tunnels = vec![
        TunnelSpec::default(),
        TunnelSpec::default(),
        spec(TunnelKind::Ipip, false),
        spec(TunnelKind::Gue, true),
        spec(TunnelKind::Gre, false),
    ];
    Arc::new(snap)
}

fn rig() -> Rig {
    let mut r = Rig::with(tunnel_snapshot());
    r.neighbour(EXT, CLIENT, CLIENT_MAC);
    r.neighbour(INT, ROUTER, ROUTER_MAC);
    r.neighbour(INT, rs_ip(11), rs_mac(11));
    r.neighbour(INT, rs_ip(21), rs_mac(21));
    r
}

/// A client TCP segment to `vip` with `len` bytes of payload (DF set by craft) or DF cleared.
pub(super) fn segment(vip: [u8; 4], sport: u16, flags: u8, len: usize, df: bool) -> Vec<u8> {
    let mut ip = craft::tcp_v4(CLIENT, vip, sport, 80, flags, &vec![0x5a; len]);
    if !df {
        ip[6] = 0;
        Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
    }
    eth(EXT_MAC, CLIENT_MAC, 0x0800, &ip)
}

/// An ICMP error from `src` to `dst` quoting `quote`.
fn icmp_error(src: [u8; 4], dst: [u8; 4], ty: u8, code: u8, mtu: u16, quote: &[u8]) -> Vec<u8> {
    let mut icmp = vec![ty, code, 0, 0, 0, 0];
    icmp.extend_from_slice(&mtu.to_be_bytes());
    icmp.extend_from_slice(quote);
    let c = checksum::finish(checksum::data(&icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    craft::ipv4(src, dst, 1, 64, &icmp)
}

#[test]
fn tunnels_encapsulate_toward_servers_behind_a_router() {
    let mut r = rig();
    for (vip, kind, server) in [
        (V_IPIP, TunnelKind::Ipip, far(21)),
        (V_GUE, TunnelKind::Gue, far(31)),
        (V_GRE, TunnelKind::Gre, far(41)),
    ] {
        for flags in [SYN, ACK] {
            let input = segment(vip, 40000, flags, 100, true);
            let (out, f) = r.tx(EXT, &input);
            assert_eq!(out, INT);
            assert_eq!((&f[0..6], &f[6..12], &f[12..14]), (&ROUTER_MAC[..], &INT_MAC[..], &[8u8, 0][..]));
            let outer = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(outer.verify_checksum());
            assert_eq!((outer.src_addr(), outer.dst_addr()), (INT_IP, server), "{kind:?}");
            assert_eq!((outer.ttl(), outer.dont_frag()), (64, true), "copied from the inner header");
            let d = decap(&f[14..], Some(DEFAULT_GUE_PORT)).expect("decapsulates");
            assert_eq!(d.kind, kind);
            assert_eq!(&f[14 + d.inner_off..], &input[14..], "{kind:?}: the client's packet, unchanged");
            if kind == TunnelKind::Gue {
                let udp = &f[34..];
                let u = UdpPacket::new_checked(udp).unwrap();
                assert!(u.verify_checksum(&a4(INT_IP), &a4(server)), "GUE with checksum");
                let sport = u16::from_be_bytes([udp[0], udp[1]]);
                assert!((32768..=60999).contains(&sport));
            }
        }
    }
    assert_eq!(r.w.stats().tunnel_packets.get(), 6);
    // The round-robin moves on per connection: the next SYN goes to the second server.
    let (_, f) = r.tx(EXT, &segment(V_IPIP, 40001, SYN, 0, true));
    assert_eq!(Ipv4Packet::new_checked(&f[14..]).unwrap().dst_addr(), far(22));
}

#[test]
fn too_big_for_the_tunnel_with_df_gets_frag_needed() {
    let mut r = rig();
    for (vip, room) in [(V_IPIP, 1480u16), (V_GUE, 1468), (V_GRE, 1476)] {
        r.tx(EXT, &segment(vip, 40000, SYN, 0, true));
        // Exactly the room fits.
        let (out, _) = r.tx(EXT, &segment(vip, 40000, ACK, usize::from(room) - 40, true));
        assert_eq!(out, INT);
        let big = segment(vip, 40000, ACK, 1460, true);
        let (out, f) = r.tx(EXT, &big);
        assert_eq!(out, EXT);
        assert_eq!(&f[0..6], &CLIENT_MAC);
        let p = check_frame(&f);
        assert_eq!((p.src, p.dst, p.l4), (a4(EXT_IP), a4(CLIENT), L4::Icmp { ty: 3, code: 4 }));
        assert_eq!(f.len(), 14 + 576, "RFC 1812: the quote fills the error up to 576 bytes");
        let icmp = IcmpPacket::new_checked(&f[p.l4_off..]).unwrap();
        assert_eq!(icmp.next_hop_mtu(), room);
        assert_eq!(&f[p.l4_off + 8..], &big[14..14 + 548], "quotes the client's packet");
    }
    assert_eq!(r.drops(DropReason::TooBig), 3);
    assert_eq!(r.w.stats().icmp_errors_sent.get(), 3);
    assert!(r.outputs().is_empty(), "no fragments wait");
    // A burst of 50, then 1000 a second: the 51st oversized DF packet in the same millisecond gets no
    // error; a millisecond later, one more may.
    let big = segment(V_IPIP, 40000, ACK, 1460, true);
    for _ in 3..50 {
        assert!(matches!(r.rx(EXT, &big), Action::Tx(EXT, _)));
    }
    assert!(matches!(r.rx(EXT, &big), Action::Free(_)));
    assert_eq!(r.drops(DropReason::IcmpRateLimit), 1);
    r.now = r.now + core::time::Duration::from_millis(1);
    assert!(matches!(r.rx(EXT, &big), Action::Tx(EXT, _)));
}

/// Reassemble outer fragments (RFC 791) into the outer payload, checking offsets, MF and idents.
pub(super) fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut payload = Vec::new();
    let ident = Ipv4Packet::new_checked(&frags[0][14..]).unwrap().ident();
    for (i, f) in frags.iter().enumerate() {
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.ident(), ip.dont_frag()), (ident, false));
        assert_eq!(usize::from(ip.frag_offset()), payload.len(), "fragment {i} follows on");
        assert_eq!(ip.more_frags(), i + 1 < frags.len());
        assert!(i + 1 == frags.len() || ip.payload().len() % 8 == 0);
        payload.extend_from_slice(ip.payload());
    }
    payload
}

#[test]
fn without_df_the_outer_packet_is_fragmented_as_lvs_lets_the_kernel_do() {
    let mut r = rig();
    for (vip, lens) in [(V_IPIP, [1500, 40]), (V_GUE, [1500, 52]), (V_GRE, [1500, 44])] {
        r.tx(EXT, &segment(vip, 40000, SYN, 0, true));
        let input = segment(vip, 40000, ACK, 1460, false);
        let (out, first) = r.tx(EXT, &input);
        assert_eq!((out, &first[0..6]), (INT, &ROUTER_MAC[..]));
        let second = match &mut r.outputs()[..] {
            [Action::Tx(out, b)] => {
                assert_eq!(*out, INT);
                b.as_ref().to_vec()
            }
            other => panic!("expected one Tx, got {other:?}"),
        };
        assert_eq!(&second[0..14], &first[0..14], "same next hop and ethertype");
        assert_eq!([first.len() - 14, second.len() - 14], lens, "{vip:?}");
        let mut outer = first[14..34].to_vec();
        outer.extend_from_slice(&reassemble(&[first, second]));
        let total = outer.len() as u16;
        outer[2..4].copy_from_slice(&total.to_be_bytes());
        let d = decap(&outer, Some(DEFAULT_GUE_PORT)).unwrap();
        assert_eq!(&outer[d.inner_off..], &input[14..], "the reassembled tunnel packet holds the client's");
    }
    assert_eq!(r.drops(DropReason::TooBig), 0);
    // A learned path MTU of 600 cuts an IPIP packet into three.
    r.w.tunnel.learn_pmtu(r.now, a4(far(21)), 600);
    r.tx(EXT, &segment(V_IPIP, 40001, SYN, 0, true));
    r.tx(EXT, &segment(V_IPIP, 40002, SYN, 0, true));
    let input = segment(V_IPIP, 40002, ACK, 1200, false);
    let (_, first) = r.tx(EXT, &input);
    let mut frags = vec![first];
    for a in r.outputs() {
        match a {
            Action::Tx(_, b) => frags.push(b.as_ref().to_vec()),
            other => panic!("expected Tx, got {other:?}"),
        }
    }
    assert_eq!(frags.iter().map(|f| f.len() - 14).collect::<Vec<_>>(), vec![596, 596, 108]);
    assert_eq!(&reassemble(&frags)[..], &input[14..]);
}

#[test]
fn frag_needed_about_our_tunnel_packet_lowers_the_path_mtu_and_is_relayed() {
    let mut r = rig();
    let syn = segment(V_GRE, 40000, SYN, 0, true);
    let (_, tunnelled) = r.tx(EXT, &syn);
    // The router between vsd and the server says its next link takes 1400 bytes.
    let err = icmp_error(ROUTER, INT_IP, 3, 4, 1400, &tunnelled[14..]);
    let (out, f) = r.tx(INT, &eth(INT_MAC, ROUTER_MAC, 0x0800, &err));
    assert_eq!(out, EXT);
    let p = check_frame(&f);
    assert_eq!((p.src, p.dst, p.l4), (a4(EXT_IP), a4(CLIENT), L4::Icmp { ty: 3, code: 4 }));
    let icmp = IcmpPacket::new_checked(&f[p.l4_off..]).unwrap();
    assert_eq!(icmp.next_hop_mtu(), 1400 - 24, "the path MTU less the GRE overhead");
    assert_eq!(&f[p.l4_off + 8..], &syn[14..], "quotes the client's own packet, not ours");
    assert_eq!(r.w.stats().icmp_errors_forwarded.get(), 1);
    // From now on the learned path MTU bounds the tunnel to that server.
    let (out, _) = r.tx(EXT, &segment(V_GRE, 40000, ACK, 1376 - 40, true));
    assert_eq!(out, INT);
    let (out, f) = r.tx(EXT, &segment(V_GRE, 40000, ACK, 1377 - 40, true));
    assert_eq!(out, EXT);
    assert_eq!(IcmpPacket::new_checked(&f[34..]).unwrap().next_hop_mtu(), 1376);
    // Other errors about tunnel packets are relayed as they are.
    let err = icmp_error(ROUTER, INT_IP, 11, 0, 0, &tunnelled[14..14 + 24 + 28]);
    let (out, f) = r.tx(INT, &eth(INT_MAC, ROUTER_MAC, 0x0800, &err));
    assert_eq!(out, EXT);
    let p = check_frame(&f);
    assert_eq!(p.l4, L4::Icmp { ty: 11, code: 0 });
    assert_eq!(&f[p.l4_off + 8..], &syn[14..14 + 28]);
    // A quote of no connection of ours is dropped.
    let (_, other) = r.tx(EXT, &segment(V_GRE, 40001, SYN, 0, true));
    let mut forged = other[14..].to_vec();
    forged[20 + 4 + 12..20 + 4 + 16].copy_from_slice(&[198, 18, 0, 99]);
    let err = icmp_error(ROUTER, INT_IP, 3, 4, 1400, &forged);
    assert!(matches!(r.rx(INT, &eth(INT_MAC, ROUTER_MAC, 0x0800, &err)), Action::Free(_)));
    assert_eq!(r.drops(DropReason::Icmp), 1);
    // An old router's MTU of 0 (RFC 1191 §5) teaches the minimum, 552, as in Linux.
    let err = icmp_error(ROUTER, INT_IP, 3, 4, 0, &other[14..]);
    let (out, f) = r.tx(INT, &eth(INT_MAC, ROUTER_MAC, 0x0800, &err));
    assert_eq!(out, EXT);
    assert_eq!(IcmpPacket::new_checked(&f[34..]).unwrap().next_hop_mtu(), 552 - 24);
}

#[test]
fn nat_icmp_errors_are_translated_outer_and_inner() {
    let mut r = rig();
    let (_, to_rs) = r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 40000, 80, SYN));
    // From the server's side: port unreachable about the packet vsd sent it.
    let err = icmp_error(rs_ip(11), CLIENT, 3, 3, 0, &to_rs[14..14 + 28]);
    let (out, f) = r.tx(INT, &eth(INT_MAC, rs_mac(11), 0x0800, &err));
    assert_eq!((out, &f[0..6]), (EXT, &CLIENT_MAC[..]));
    let p = check_frame(&f);
    assert_eq!((p.src, p.dst), (a4(VIP_NAT), a4(CLIENT)), "outer source becomes the VIP");
    assert_eq!(f[p.l3_off + 8], 63, "TTL decremented");
    let q = IcmpPacket::new_checked(&f[p.l4_off..]).unwrap().quoted().unwrap();
    assert!(q.verify_checksum());
    assert_eq!((q.src_addr(), q.dst_addr()), (CLIENT, VIP_NAT));
    assert_eq!(&q.after_header()[0..4], &[0x9c, 0x40, 0, 80], "quoted ports: 40000 → 80");
    // From the client's side: an error about the VIP's reply goes to the server, translated.
    let reply = craft::tcp_v4(VIP_NAT, CLIENT, 80, 40000, SYNACK, b"");
    let err = icmp_error(CLIENT, VIP_NAT, 3, 1, 0, &reply[..28]);
    let (out, f) = r.tx(EXT, &eth(EXT_MAC, CLIENT_MAC, 0x0800, &err));
    assert_eq!((out, &f[0..6]), (INT, &rs_mac(11)[..]));
    let p = check_frame(&f);
    assert_eq!((p.src, p.dst), (a4(CLIENT), a4(rs_ip(11))));
    let q = IcmpPacket::new_checked(&f[p.l4_off..]).unwrap().quoted().unwrap();
    assert!(q.verify_checksum());
    assert_eq!((q.src_addr(), q.dst_addr()), (rs_ip(11), CLIENT));
    assert_eq!(&q.after_header()[0..4], &[0x1f, 0x90, 0x9c, 0x40], "quoted ports: 8080 → 40000");
    assert_eq!(r.w.stats().icmp_errors_forwarded.get(), 2);
    // An error with a bad checksum is dropped.
    let mut bad = icmp_error(rs_ip(11), CLIENT, 3, 3, 0, &to_rs[14..14 + 28]);
    bad[30] ^= 1;
    assert!(matches!(r.rx(INT, &eth(INT_MAC, rs_mac(11), 0x0800, &bad)), Action::Free(_)));
}

#[test]
fn dr_and_tunnel_icmp_errors_from_the_client_side_reach_the_server() {
    let mut r = rig();
    r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_DR, 40000, 80, SYN));
    let reply = craft::tcp_v4(VIP_DR, CLIENT, 80, 40000, SYNACK, b"");
    let err = eth(EXT_MAC, CLIENT_MAC, 0x0800, &icmp_error(CLIENT, VIP_DR, 3, 1, 0, &reply[..28]));
    let (out, f) = r.tx(EXT, &err);
    assert_eq!((out, &f[0..6]), (INT, &rs_mac(21)[..]));
    assert_eq!(&f[14..], &err[14..], "DR: only the MAC changes");

    r.tx(EXT, &segment(V_IPIP, 40000, SYN, 0, true));
    let reply = craft::tcp_v4(V_IPIP, CLIENT, 80, 40000, SYNACK, b"");
    let err = eth(EXT_MAC, CLIENT_MAC, 0x0800, &icmp_error(CLIENT, V_IPIP, 3, 1, 0, &reply[..28]));
    let (out, f) = r.tx(EXT, &err);
    assert_eq!((out, &f[0..6]), (INT, &ROUTER_MAC[..]));
    let d = decap(&f[14..], None).unwrap();
    assert_eq!(Ipv4Packet::new_checked(&f[14..]).unwrap().dst_addr(), far(21));
    assert_eq!(&f[14 + d.inner_off..], &err[14..], "tunnel: the error, encapsulated");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]
    /// ICMP errors whose quotes are damaged anywhere (a tunnel packet's, a NAT packet's) are dropped
    /// or forwarded, never a panic, and what is forwarded still parses with valid checksums.
    #[test]
    fn damaged_quotes_never_panic(
        which in 0usize..3,
        flips in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 0..6),
        cut in 0usize..200,
        ty in proptest::sample::select(vec![3u8, 11]),
        code in 0u8..16,
    ) {
        let mut r = rig();
        let (_, to_rs) = r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 40000, 80, SYN));
        let (_, tunnelled) = r.tx(EXT, &segment([V_IPIP, V_GUE, V_GRE][which], 40000, SYN, 64, true));
        for (from, to, quote, iface, mac) in [
            (ROUTER, INT_IP, &tunnelled[14..], INT, ROUTER_MAC),
            (rs_ip(11), CLIENT, &to_rs[14..], INT, rs_mac(11)),
        ] {
            let mut q = quote.to_vec();
            for (at, v) in &flips {
                if let Some(b) = q.get_mut(*at) {
                    *b ^= *v;
                }
            }
            q.truncate(q.len().saturating_sub(cut));
            let err = eth(INT_MAC, mac, 0x0800, &icmp_error(from, to, ty, code, 1400, &q));
            match r.rx(iface, &err) {
                Action::Tx(_, b) => {
                    check_frame(b.as_ref());
                }
                Action::Free(_) | Action::Held => {}
                Action::Redirect(..) => panic!("one worker never redirects"),
            }
        }
    }
}
