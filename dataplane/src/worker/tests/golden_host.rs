//! Golden rows of the host functions and the forwarding path ([`super::golden`] has the runner):
//! ARP, ICMP echo, NAT in and back, DR, UDP, connection reuse, removed servers, steering, and a row
//! for each drop reason a received packet can meet.

use super::golden::{
    edited, from_client, from_rs, hop, learned, row, run, tcp, teach, to_client, to_rs, Expect, Row,
};
use super::*;
use crate::service::Sysctls;
use crate::steer::{Steering, DEFAULT_KEY};

/// Routes to the connected subnets only: no default route.
fn no_default_route() -> Rig {
    let ifaces = ifaces();
    let routes = RouteTable::build(&ifaces, &[]).unwrap();
    teach(Rig::with(build_snapshot(routes, ifaces)))
}

/// Room for one connection.
fn one_entry_table() -> Rig {
    teach(Rig::with(edited(|s| s.conn_capacity = 1)))
}

/// `expire_nodest_conn` on.
fn expiring_nodest() -> Rig {
    teach(Rig::with(edited(|s| s.sysctls.expire_nodest_conn = true)))
}

/// The persistent services of `persist.rs` with `expire_nodest_conn` on; the port-0 DR service's
/// servers known.
fn persistent_expiring() -> Rig {
    let sysctls = Sysctls { expire_nodest_conn: true, ..Sysctls::default() };
    let mut r = Rig::with(super::persist::persistent_snapshot(sysctls));
    for n in [41, 42, 43] {
        r.neighbour(INT, rs_ip(n), rs_mac(n));
    }
    r
}

/// Every NAT server at weight 0.
fn quiesced() -> Rig {
    let mut r = learned();
    for d in 0..3 {
        r.w.set_weight(d, 0);
    }
    r
}

fn steering() -> Steering {
    Steering::new(2, 32, 128, DEFAULT_KEY)
}

impl Rig {
    /// This rig's worker as one of the workers `steering` spreads packets over.
    fn steered(self, steering: Steering) -> Rig {
        Rig { w: self.w.with_steering(Arc::new(steering)), ..self }
    }
}

/// Worker 0 of two.
fn worker0_of_two() -> Rig {
    teach(Rig::new().steered(steering()))
}

/// A client on the external subnet that worker `w` of two owns.
fn client_of(w: u16) -> [u8; 4] {
    let s = steering();
    (10..=250u8).map(|h| [198, 18, 0, h]).find(|c| s.owner(&a4(*c)) == w).expect("both workers own clients")
}

const FAR_CLIENT: [u8; 4] = [203, 0, 113, 5];

pub(super) fn arp_rows() -> Vec<Row> {
    let ask = |target| arp(1, [0xff; 6], CLIENT_MAC, CLIENT, [0; 6], target);
    let answer = |target| arp(2, CLIENT_MAC, EXT_MAC, target, CLIENT_MAC, CLIENT);
    vec![
        row("arp: who-has a VIP is answered", EXT, ask(VIP_NAT), Expect::Tx(EXT, answer(VIP_NAT)))
            .on(Rig::new),
        row(
            "arp: who-has the interface address is answered",
            EXT,
            ask(EXT_IP),
            Expect::Tx(EXT, answer(EXT_IP)),
        )
        .on(Rig::new),
        row(
            "arp: who-has another host is not answered",
            EXT,
            ask([198, 18, 0, 77]),
            Expect::Drop(DropReason::Arp),
        ),
        row(
            "arp: who-has a VIP on another interface than its subnet's is not answered",
            INT,
            arp(1, [0xff; 6], rs_mac(11), rs_ip(11), [0; 6], VIP_NAT),
            Expect::Drop(DropReason::Arp),
        ),
        row(
            "arp: who-has int's address on ext is not answered",
            EXT,
            ask(INT_IP),
            Expect::Drop(DropReason::Arp),
        ),
        row(
            "arp: a reply to us is learned from",
            INT,
            arp(2, INT_MAC, rs_mac(11), rs_ip(11), INT_MAC, INT_IP),
            Expect::Consumed,
        )
        .on(Rig::new),
    ]
}

pub(super) fn echo_rows() -> Vec<Row> {
    let ping = |dst| from_client(&craft::icmp_echo_v4(CLIENT, dst, 0x1234, 1, b"ping"));
    let pong = |src| to_client(&craft::icmp_v4(src, CLIENT, 0, 0, [0x12, 0x34, 0, 1], b"ping"));
    vec![
        row(
            "icmp: echo to the interface address is answered",
            EXT,
            ping(EXT_IP),
            Expect::Tx(EXT, pong(EXT_IP)),
        ),
        row("icmp: echo to a VIP is answered", EXT, ping(VIP_NAT), Expect::Tx(EXT, pong(VIP_NAT))),
        row(
            "icmp: an echo reply to a VIP is not ours to handle",
            EXT,
            from_client(&craft::icmp_v4(CLIENT, VIP_NAT, 0, 0, [0x12, 0x34, 0, 1], b"ping")),
            Expect::Drop(DropReason::Icmp),
        ),
        row(
            "icmp: a timestamp request to the interface address",
            EXT,
            from_client(&craft::icmp_v4(CLIENT, EXT_IP, 13, 0, [0; 4], &[0; 12])),
            Expect::Drop(DropReason::Icmp),
        ),
        row(
            "icmp: an echo with a damaged checksum is not answered",
            EXT,
            {
                let mut f = ping(VIP_NAT);
                f[14 + 20 + 8] ^= 0x01; // the first byte of the echoed data
                f
            },
            Expect::Drop(DropReason::Icmp),
        ),
        row(
            "icmp: an echo to another host",
            EXT,
            from_client(&craft::icmp_echo_v4(CLIENT, [198, 18, 0, 200], 1, 1, b"ping")),
            Expect::Drop(DropReason::Icmp),
        ),
    ]
}

pub(super) fn forwarding_rows() -> Vec<Row> {
    let syn = from_client(&tcp(CLIENT, VIP_NAT, 40000, 80, SYN));
    let ack = from_client(&tcp(CLIENT, VIP_NAT, 40000, 80, ACK));
    let rst = from_client(&tcp(CLIENT, VIP_NAT, 40000, 80, craft::tcp_flags::RST));
    let nat_to = |n, flags| to_rs(n, &hop(tcp(CLIENT, rs_ip(n), 40000, 8080, flags)));
    let dr_syn = tcp(CLIENT, VIP_DR, 42000, 80, SYN);
    let port0_syn = tcp(CLIENT, super::persist::V_PORT0, 36001, 80, SYN);
    let udp = |sport, csum| from_client(&craft::udp_v4(CLIENT, VIP_UDP, sport, 53, b"query", csum));
    let udp_to = |sport, csum| to_rs(31, &hop(craft::udp_v4(CLIENT, rs_ip(31), sport, 5353, b"query", csum)));
    vec![
        row(
            "nat: a SYN to the VIP goes to the first server, rewritten",
            EXT,
            syn.clone(),
            Expect::Tx(INT, nat_to(11, SYN)),
        ),
        row(
            "nat: the server's SYN-ACK goes back from the VIP",
            INT,
            from_rs(11, &tcp(rs_ip(11), CLIENT, 8080, 40000, SYNACK)),
            Expect::Tx(EXT, to_client(&hop(tcp(VIP_NAT, CLIENT, 80, 40000, SYNACK)))),
        )
        .prior(EXT, syn.clone()),
        row(
            "nat: the client's ACK follows its connection",
            EXT,
            ack.clone(),
            Expect::Tx(INT, nat_to(11, ACK)),
        )
        .prior(EXT, syn.clone())
        .prior(EXT, from_client(&tcp(CLIENT, VIP_NAT, 40001, 80, SYN))),
        row(
            "nat: a retransmitted SYN stays on its connection",
            EXT,
            syn.clone(),
            Expect::Tx(INT, nat_to(11, SYN)),
        )
        .prior(EXT, syn.clone()),
        row(
            "nat: a SYN on a closed connection (port reuse) is scheduled afresh",
            EXT,
            syn.clone(),
            Expect::Tx(INT, nat_to(12, SYN)),
        )
        .prior(EXT, syn.clone())
        .prior(EXT, ack.clone())
        .prior(EXT, rst),
        row(
            "nat: a removed server's connection drops its packets",
            EXT,
            ack.clone(),
            Expect::Drop(DropReason::DestRemoved),
        )
        .prior(EXT, syn.clone())
        .then(|r| r.w.remove_dest(0)),
        row(
            "nat: expire_nodest_conn reschedules a removed server's connection",
            EXT,
            syn.clone(),
            Expect::Tx(INT, nat_to(12, SYN)),
        )
        .on(expiring_nodest)
        .prior(EXT, syn.clone())
        .then(|r| r.w.remove_dest(0)),
        row(
            "persistence: expire_nodest_conn reschedules the connection and its template",
            EXT,
            from_client(&port0_syn),
            Expect::Tx(INT, eth(rs_mac(42), INT_MAC, 0x0800, &port0_syn)),
        )
        .on(persistent_expiring)
        .prior(EXT, from_client(&port0_syn))
        .then(|r| r.w.remove_dest(0)),
        row("nat: an unresolved server holds the SYN", EXT, syn.clone(), Expect::Held).on(Rig::new),
        row("dr: only the MAC changes", EXT, from_client(&dr_syn), Expect::Tx(INT, to_rs(21, &dr_syn))),
        row(
            "udp: a datagram without checksum keeps none",
            EXT,
            udp(5000, false),
            Expect::Tx(INT, udp_to(5000, false)),
        ),
        row("udp: a datagram with checksum", EXT, udp(5001, true), Expect::Tx(INT, udp_to(5001, true))),
        row(
            "udp: the weight-0 server gets no new connection",
            EXT,
            udp(5002, true),
            Expect::Tx(INT, udp_to(5002, true)),
        )
        .prior(EXT, udp(5000, true))
        .prior(EXT, udp(5001, true)),
        row(
            "steering: a client this worker owns is forwarded",
            EXT,
            from_client(&tcp(client_of(0), VIP_NAT, 40000, 80, SYN)),
            Expect::Tx(INT, to_rs(11, &hop(tcp(client_of(0), rs_ip(11), 40000, 8080, SYN)))),
        )
        .on(worker0_of_two),
        row(
            "steering: another worker's client goes to its owner",
            EXT,
            from_client(&tcp(client_of(1), VIP_NAT, 40000, 80, SYN)),
            Expect::Redirect(1),
        )
        .on(worker0_of_two),
        row(
            "steering: a server's reply to another worker's client goes to the client's owner",
            INT,
            from_rs(11, &tcp(rs_ip(11), client_of(1), 8080, 40000, SYNACK)),
            Expect::Redirect(1),
        )
        .on(worker0_of_two),
    ]
}

pub(super) fn drop_rows() -> Vec<Row> {
    let syn = |dst, dport| from_client(&tcp(CLIENT, dst, 43000, dport, SYN));
    let ip_syn = tcp(CLIENT, VIP_NAT, 43000, 80, SYN);
    let v6 = |n| {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = n;
        a
    };
    vec![
        row(
            "drop: another host's MAC",
            EXT,
            eth([2, 9, 9, 9, 9, 9], CLIENT_MAC, 0x0800, &ip_syn),
            Expect::Drop(DropReason::NotForUs),
        ),
        row(
            "drop: IPv4 to the broadcast MAC",
            EXT,
            eth([0xff; 6], CLIENT_MAC, 0x0800, &ip_syn),
            Expect::Drop(DropReason::NotForUs),
        ),
        row(
            "drop: a VLAN-tagged frame",
            EXT,
            craft::ethernet_vlan(EXT_MAC, CLIENT_MAC, 10, 0x0800, &ip_syn),
            Expect::Drop(DropReason::Vlan),
        ),
        row(
            "drop: IPv6 behind a routing header with segments left (the final destination is another)",
            EXT,
            eth(EXT_MAC, CLIENT_MAC, 0x86dd, &{
                // Routing: next header UDP, length 0, type 0, one segment left, 4 reserved bytes.
                let mut ext = vec![17, 0, 0, 1, 0, 0, 0, 0];
                ext.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 8, 0, 0]);
                craft::ipv6(v6(10), v6(100), 43, 64, &ext)
            }),
            Expect::Drop(DropReason::Ipv6),
        ),
        row(
            "drop: another ethertype (LLDP)",
            EXT,
            eth(EXT_MAC, CLIENT_MAC, 0x88cc, &[0; 46]),
            Expect::Drop(DropReason::Ethertype),
        ),
        row(
            "drop: an IP fragment",
            EXT,
            from_client(&craft::edit_ipv4(ip_syn.clone(), |h| h.set_more_frags(true))),
            Expect::Drop(DropReason::Fragment),
        ),
        row("drop: TCP to the interface address", EXT, syn(EXT_IP, 22), Expect::Drop(DropReason::Local)),
        row("drop: a VIP's port without service", EXT, syn(VIP_NAT, 81), Expect::Drop(DropReason::NoService)),
        row(
            "drop: TCP without SYN and without connection",
            EXT,
            from_client(&tcp(CLIENT, VIP_NAT, 43000, 80, ACK)),
            Expect::Drop(DropReason::NoConn),
        ),
        row("drop: every server at weight 0", EXT, syn(VIP_NAT, 80), Expect::Drop(DropReason::NoDest))
            .on(quiesced),
        row("drop: the connection table is full", EXT, syn(VIP_NAT, 80), Expect::Drop(DropReason::TableFull))
            .on(one_entry_table)
            .prior(EXT, from_client(&tcp(CLIENT, VIP_NAT, 40000, 80, SYN))),
        row(
            "drop: a reply toward a client without route",
            INT,
            from_rs(11, &tcp(rs_ip(11), FAR_CLIENT, 8080, 40000, SYNACK)),
            Expect::Drop(DropReason::NoRoute),
        )
        .on(no_default_route)
        .prior(EXT, from_client(&tcp(FAR_CLIENT, VIP_NAT, 40000, 80, SYN))),
        row(
            "drop: TTL 1 cannot be routed",
            EXT,
            from_client(&craft::edit_ipv4(ip_syn.clone(), |h| h.set_ttl(1))),
            Expect::Drop(DropReason::TtlExceeded),
        ),
        row(
            "drop: the fifth packet held for one unresolved server",
            EXT,
            syn(VIP_NAT, 80),
            Expect::Drop(DropReason::NeighQueueFull),
        )
        .on(Rig::new)
        .prior_n(crate::neigh::HOLD, EXT, syn(VIP_NAT, 80)),
        row(
            "drop: neither a VIP nor a connection",
            EXT,
            syn([198, 18, 0, 200], 80),
            Expect::Drop(DropReason::NoMatch),
        ),
    ]
}

#[test]
fn arp_table() {
    run(arp_rows());
}

#[test]
fn echo_table() {
    run(echo_rows());
}

#[test]
fn forwarding_table() {
    run(forwarding_rows());
}

#[test]
fn drop_table() {
    run(drop_rows());
}
