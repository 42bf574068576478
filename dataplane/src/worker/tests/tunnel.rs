//! Tunnel forwarding and ICMP errors through the whole worker: encapsulation toward servers behind a
//! router, fragmentation-needed for the tunnel MTU, the relay of errors about our tunnel packets
//! (path MTU learned), and the ICMP errors of NAT, DR and tunnel connections.
#![allow(clippy::cast_possible_truncation, reason = "test data: small literal values")]

use super::*;
use crate::tunnel::{decap, TunnelKind, TunnelSpec, DEFAULT_GUE_PORT};

pub(super) const V_IPIP: [u8; 4] = [198, 18, 0, 120];
pub(super) const V_GUE: [u8; 4] = [198, 18, 0, 121];
pub(super) const V_GRE: [u8; 4] = [198, 18, 0, 122];
pub(super) const ROUTER: [u8; 4] = [198, 19, 0, 254];
pub(super) const ROUTER_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 0xfe];

pub(super) fn far(n: u8) -> [u8; 4] {
    [198, 20, 0, n]
}

/// Tunnel services (IPIP, GUE with checksum, GRE) whose servers sit behind a router, plus the
/// NAT and DR services of the common snapshot.
pub(super) fn tunnel_snapshot() -> Arc<Snapshot> {
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

pub(super) fn rig() -> Rig {
    let mut r = Rig::with(tunnel_snapshot());
    r.neighbour(EXT, CLIENT, CLIENT_MAC);
    r.neighbour(INT, ROUTER, ROUTER_MAC);
    r.neighbour(INT, rs_ip(11), rs_mac(11));
    r.neighbour(INT, rs_ip(21), rs_mac(21));
    r
}

/// A client TCP segment to `vip` with `len` bytes of payload (DF set by craft) or DF cleared.
pub(super) fn segment(vip: [u8; 4], sport: u16, flags: u8, len: usize, df: bool) -> Vec<u8> {
    let ip = craft::tcp_v4(CLIENT, vip, sport, 80, flags, &vec![0x5a; len]);
    eth(EXT_MAC, CLIENT_MAC, 0x0800, &craft::edit_ipv4(ip, |h| h.set_dont_frag(df)))
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
