//! Golden rows of tunnels, ICMP errors and MTUs ([`super::golden`] has the runner): the
//! encapsulations (IPIP, GUE, GRE), "fragmentation needed" for the tunnel and for a smaller egress
//! MTU, the ICMP budget, the relay of errors about our tunnel packets, and the errors of NAT, DR
//! and tunnel connections.

use super::golden::{
    from_client, from_rs, hop, icmp_err, row, run, tcp, to_client, to_rs, vsd_err, Expect, Row,
};
use super::tunnel::{far, segment, ROUTER, ROUTER_MAC, V_GRE, V_GUE, V_IPIP};
use super::*;
use crate::tunnel::{flow_hash, gue_source_port, DEFAULT_GUE_PORT};
use core::time::Duration;

/// The most of the client's packet an ICMP error quotes: 576 bytes in all (RFC 1812 §4.3.2.3).
const QUOTE: usize = 576 - 28;
/// Fragment slots of a worker (`worker/tunnel.rs`, FRAG_SLOTS).
const FRAG_SLOTS: usize = 16;

fn tunnel_rig() -> Rig {
    super::tunnel::rig()
}

fn mtu_rig() -> Rig {
    super::mtu::rig()
}

/// What the client's IPv4 packet `inner` looks like in tunnel service `vip`'s encapsulation toward
/// `server`, with outer ident `ident`, as the frame toward the router.
fn tunnelled(vip: [u8; 4], server: [u8; 4], ident: u16, inner: &[u8]) -> Vec<u8> {
    let outer = match vip {
        V_IPIP => craft::ipip(INT_IP, server, ident, inner),
        V_GUE => {
            let ip = Ipv4Packet::new_checked(inner).unwrap();
            let l4 = ip.after_header();
            let ports = if matches!(ip.protocol(), 6 | 17) {
                (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]))
            } else {
                (0, 0)
            };
            let hash = flow_hash(ip.src_addr(), ip.dst_addr(), ports.0, ports.1, ip.protocol());
            craft::gue(INT_IP, server, ident, gue_source_port(hash), DEFAULT_GUE_PORT, inner, true)
        }
        V_GRE => craft::gre(INT_IP, server, ident, inner, false),
        _ => unreachable!("not a tunnel VIP"),
    };
    eth(ROUTER_MAC, INT_MAC, 0x0800, &outer)
}

/// "Fragmentation needed, MTU `mtu`" from vsd to the client, quoting `sent` (the client's IPv4
/// packet), as the frame toward the client.
fn frag_needed(mtu: u16, ident: u16, sent: &[u8]) -> Vec<u8> {
    to_client(&vsd_err(CLIENT, 3, 4, mtu, ident, &sent[..sent.len().min(QUOTE)]))
}

/// An ICMP error from the router about the tunnel packet `ours` (an IPv4 packet).
fn from_router(ty: u8, code: u8, mtu: u16, ours: &[u8]) -> Vec<u8> {
    eth(INT_MAC, ROUTER_MAC, 0x0800, &icmp_err(ROUTER, INT_IP, ty, code, mtu, ours))
}

/// `frame` padded to the Ethernet minimum of 60 bytes (IEEE 802.3), as a NIC sends a short one.
fn padded(mut frame: Vec<u8>) -> Vec<u8> {
    frame.resize(frame.len().max(60), 0);
    frame
}

fn tunnel_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (vip, kind, server, room) in
        [(V_IPIP, "ipip", far(21), 1480usize), (V_GUE, "gue", far(31), 1468), (V_GRE, "gre", far(41), 1476)]
    {
        let syn = segment(vip, 40000, SYN, 100, true);
        let ack = |len| segment(vip, 40000, ACK, len, true);
        rows.extend([
            row(format!("{kind}: a SYN is encapsulated toward the first server"), EXT, syn.clone(), {
                Expect::Tx(INT, tunnelled(vip, server, 1, &syn[14..]))
            }),
            row(format!("{kind}: the connection's next packet, with the next ident"), EXT, ack(100), {
                Expect::Tx(INT, tunnelled(vip, server, 2, &ack(100)[14..]))
            })
            .prior(EXT, syn.clone()),
            row(format!("{kind}: a packet of exactly the tunnel's room fits"), EXT, ack(room - 40), {
                Expect::Tx(INT, tunnelled(vip, server, 2, &ack(room - 40)[14..]))
            })
            .prior(EXT, syn.clone()),
            row(format!("{kind}: one byte more, with DF, gets fragmentation needed"), EXT, ack(room - 39), {
                Expect::Tx(EXT, frag_needed(u16::try_from(room).unwrap(), 0, &ack(room - 39)[14..]))
            })
            .prior(EXT, syn.clone())
            .counting(DropReason::TooBig),
        ]);
    }
    let syn = |sport| segment(V_IPIP, sport, SYN, 0, true);
    let big = segment(V_IPIP, 40000, ACK, 1460, true);
    rows.extend([
        row("ipip: the next connection goes to the next server", EXT, syn(40001), {
            Expect::Tx(INT, tunnelled(V_IPIP, far(22), 2, &syn(40001)[14..]))
        })
        .prior(EXT, syn(40000)),
        row("ipip: Ethernet padding is not tunnelled", EXT, padded(segment(V_IPIP, 40000, ACK, 0, true)), {
            Expect::Tx(INT, tunnelled(V_IPIP, far(21), 2, &segment(V_IPIP, 40000, ACK, 0, true)[14..]))
        })
        .prior(EXT, syn(40000)),
        row("ipip: past the ICMP burst of 50, no error is sent", EXT, big.clone(), {
            Expect::Drop(DropReason::IcmpRateLimit)
        })
        .prior(EXT, syn(40000))
        .prior_n(50, EXT, big.clone()),
        row("ipip: a millisecond after the burst, one more error", EXT, big.clone(), {
            Expect::Tx(EXT, frag_needed(1480, 50, &big[14..]))
        })
        .prior(EXT, syn(40000))
        .prior_n(50, EXT, big.clone())
        .after(Duration::from_millis(1))
        .counting(DropReason::TooBig),
    ]);
    rows
}

/// Errors about our own GRE packets, from the router between vsd and the server.
fn relay_rows() -> Vec<Row> {
    let syn = segment(V_GRE, 40000, SYN, 0, true);
    let ours = tunnelled(V_GRE, far(41), 1, &syn[14..])[14..].to_vec();
    let ack = |len| segment(V_GRE, 40000, ACK, len, true);
    let stranger = craft::tcp_v4([198, 18, 0, 99], V_GRE, 40000, 80, SYN, b"");
    let syn_no_df = segment(V_GRE, 40000, SYN, 0, false);
    vec![
        row(
            "relay: frag-needed about a tunnel packet reaches the client, less the overhead",
            INT,
            from_router(3, 4, 1400, &ours),
            Expect::Tx(EXT, frag_needed(1400 - 24, 0, &syn[14..])),
        )
        .prior(EXT, syn.clone()),
        row("relay: the learned path MTU bounds the tunnel", EXT, ack(1377 - 40), {
            Expect::Tx(EXT, frag_needed(1376, 0, &ack(1377 - 40)[14..]))
        })
        .prior(EXT, syn.clone())
        .prior(INT, from_router(3, 4, 1400, &ours))
        .counting(DropReason::TooBig),
        row("relay: what fits the learned path MTU goes on", EXT, ack(1376 - 40), {
            Expect::Tx(INT, tunnelled(V_GRE, far(41), 2, &ack(1376 - 40)[14..]))
        })
        .prior(EXT, syn.clone())
        .prior(INT, from_router(3, 4, 1400, &ours)),
        row("relay: an old router's MTU 0 teaches the minimum, 552", INT, from_router(3, 4, 0, &ours), {
            Expect::Tx(EXT, frag_needed(552 - 24, 0, &syn[14..]))
        })
        .prior(EXT, syn.clone()),
        row("relay: time exceeded is relayed as it is", INT, from_router(11, 0, 0, &ours[..24 + 28]), {
            Expect::Tx(EXT, to_client(&vsd_err(CLIENT, 11, 0, 0, 0, &syn[14..14 + 28])))
        })
        .prior(EXT, syn.clone()),
        row(
            "relay: frag-needed about a DF-clear packet only teaches the path MTU",
            INT,
            from_router(3, 4, 1400, &tunnelled(V_GRE, far(41), 1, &syn_no_df[14..])[14..]),
            Expect::Consumed,
        )
        .prior(EXT, syn_no_df.clone()),
        row(
            "relay: a quote of no connection of ours",
            INT,
            from_router(3, 4, 1400, &tunnelled(V_GRE, far(41), 1, &stranger)[14..]),
            Expect::Drop(DropReason::Icmp),
        )
        .prior(EXT, syn.clone()),
    ]
}

/// Errors of NAT, DR and tunnel connections, from either side.
fn conn_error_rows() -> Vec<Row> {
    let nat_syn = from_client(&tcp(CLIENT, VIP_NAT, 40000, 80, SYN));
    // What vsd sent the server, and what the client would have got back: the quotes.
    let to_server = hop(tcp(CLIENT, rs_ip(11), 40000, 8080, SYN));
    let from_vip = tcp(VIP_NAT, CLIENT, 80, 40000, SYNACK);
    let server_err = icmp_err(rs_ip(11), CLIENT, 3, 3, 0, &to_server[..28]);
    let client_err = |vip| icmp_err(CLIENT, vip, 3, 1, 0, &tcp(vip, CLIENT, 80, 40000, SYNACK)[..28]);
    let mut bad = server_err.clone();
    bad[20 + 5] ^= 1;
    vec![
        row(
            "icmp nat: from the server, translated to the VIP outside and in the quote",
            INT,
            from_rs(11, &server_err),
            {
                let quote = hop(tcp(CLIENT, VIP_NAT, 40000, 80, SYN));
                Expect::Tx(EXT, to_client(&hop(icmp_err(VIP_NAT, CLIENT, 3, 3, 0, &quote[..28]))))
            },
        )
        .on(tunnel_rig)
        .prior(EXT, nat_syn.clone()),
        row(
            "icmp nat: from the client, translated to the server outside and in the quote",
            EXT,
            from_client(&icmp_err(CLIENT, VIP_NAT, 3, 1, 0, &from_vip[..28])),
            {
                let quote = tcp(rs_ip(11), CLIENT, 8080, 40000, SYNACK);
                Expect::Tx(INT, to_rs(11, &hop(icmp_err(CLIENT, rs_ip(11), 3, 1, 0, &quote[..28]))))
            },
        )
        .on(tunnel_rig)
        .prior(EXT, nat_syn.clone()),
        row("icmp nat: a bad checksum", INT, from_rs(11, &bad), Expect::Drop(DropReason::Icmp))
            .on(tunnel_rig)
            .prior(EXT, nat_syn.clone()),
        row(
            "icmp nat: TTL 1",
            INT,
            from_rs(11, &craft::edit_ipv4(server_err.clone(), |h| h.set_ttl(1))),
            Expect::Drop(DropReason::TtlExceeded),
        )
        .on(tunnel_rig)
        .prior(EXT, nat_syn.clone()),
        row("icmp nat: about a removed server's connection", INT, from_rs(11, &server_err), {
            Expect::Drop(DropReason::DestRemoved)
        })
        .on(tunnel_rig)
        .prior(EXT, nat_syn.clone())
        .then(|r| r.w.remove_dest(0)),
        row("icmp dr: from the client, to the server's MAC", EXT, from_client(&client_err(VIP_DR)), {
            Expect::Tx(INT, to_rs(21, &client_err(VIP_DR)))
        })
        .on(tunnel_rig)
        .prior(EXT, from_client(&tcp(CLIENT, VIP_DR, 40000, 80, SYN))),
        row(
            "icmp tunnel: from the client, encapsulated to the server",
            EXT,
            from_client(&client_err(V_IPIP)),
            Expect::Tx(INT, tunnelled(V_IPIP, far(21), 2, &client_err(V_IPIP))),
        )
        .on(tunnel_rig)
        .prior(EXT, segment(V_IPIP, 40000, SYN, 0, true)),
    ]
}

/// NAT and DR toward the internal interface at MTU 1400.
fn mtu_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (vip, fwd) in [(VIP_NAT, "nat"), (VIP_DR, "dr")] {
        // 1410 bytes of IP fit the client's side (1500), not the servers' (1400).
        let big = segment(vip, 41000, ACK, 1370, true);
        rows.push(
            row(
                format!("mtu {fwd}: too big with DF, frag-needed quotes what the client sent"),
                EXT,
                big.clone(),
                Expect::Tx(EXT, frag_needed(1400, 0, &big[14..])),
            )
            .prior(EXT, segment(vip, 41000, SYN, 0, true))
            .counting(DropReason::TooBig),
        );
    }
    let fits = segment(VIP_NAT, 41000, ACK, 1360, true);
    let no_df = segment(VIP_NAT, 41000, ACK, 2000, false);
    rows.extend([
        row("mtu nat: what fits goes through", EXT, fits, {
            Expect::Tx(
                INT,
                to_rs(11, &hop(craft::tcp_v4(CLIENT, rs_ip(11), 41000, 8080, ACK, &[0x5a; 1360]))),
            )
        })
        .prior(EXT, segment(VIP_NAT, 41000, SYN, 0, true)),
        row(
            "mtu nat: without DF, no fragment slot left",
            EXT,
            no_df.clone(),
            Expect::Drop(DropReason::TooBig),
        )
        .prior(EXT, segment(VIP_NAT, 41000, SYN, 0, true))
        .prior_n(FRAG_SLOTS, EXT, no_df),
    ]);
    for r in &mut rows {
        r.rig = mtu_rig;
    }
    rows
}

#[test]
fn tunnel_table() {
    run(tunnel_rows().into_iter().map(|r| r.on(tunnel_rig)).collect());
}

#[test]
fn relay_table() {
    run(relay_rows().into_iter().map(|r| r.on(tunnel_rig)).collect());
}

#[test]
fn conn_error_table() {
    run(conn_error_rows());
}

#[test]
fn mtu_table() {
    run(mtu_rows());
}

/// Each reason the worker counts for a received packet has a row; the others are the ones the
/// module documentation of [`super::golden`] lists, with why no row produces them.
#[test]
fn every_drop_reason_has_a_row_or_a_reason_not_to() {
    use super::golden_host::{arp_rows, drop_rows, echo_rows, forwarding_rows};
    let not_from_a_packet = [
        DropReason::TxFull,
        DropReason::Segmented,
        DropReason::RedirectFull,
        DropReason::NoMbuf,
        DropReason::NoHeadroom,
        DropReason::NeighUnresolved,
    ];
    let tables = [arp_rows(), echo_rows(), forwarding_rows(), drop_rows(), tunnel_rows()];
    let tables = tables.into_iter().chain([relay_rows(), conn_error_rows(), mtu_rows()]);
    let mut covered: Vec<DropReason> = tables
        .flatten()
        .filter_map(|r| match r.expect {
            Expect::Drop(d) => Some(d),
            _ => r.counts,
        })
        .chain(not_from_a_packet)
        .collect();
    covered.sort_by_key(|r| *r as u8);
    covered.dedup();
    assert_eq!(covered, DropReason::ALL);
}
