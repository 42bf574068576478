//! Persistence (LVS connection affinity) through the whole worker: templates, their lifetime on a
//! virtual clock, port-0, multi-port and FTP services, netmasks, removal and quiescing, one-packet
//! scheduling; and a property test that a template never expires while it controls connections.
#![allow(clippy::cast_possible_truncation, reason = "test data: small literal values")]

use super::*;
use crate::addr::FlowKey;
use crate::conn::ConnId;
use crate::service::{Persistence, Sysctls};
use core::time::Duration;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

pub(super) const V_PORT0: [u8; 4] = [198, 18, 0, 110];
const V_MASK24: [u8; 4] = [198, 18, 0, 111];
const V_MULTI: [u8; 4] = [198, 18, 0, 112];
const V_FTP: [u8; 4] = [198, 18, 0, 113];
const V_OPS: [u8; 4] = [198, 18, 0, 114];
const SVC_MASK24: u16 = 1;
const SVC_OPS: u16 = 4;

fn persist(secs: u64, netmask: u8) -> Option<Persistence> {
    Some(Persistence { timeout: Duration::from_secs(secs), netmask, netmask6: 128 })
}

/// name, protocol, VIP, ports, forwarding, persistence, one-packet, real servers' last octets.
type PlannedService = (&'static str, Proto, [u8; 4], Vec<u16>, Fwd, Option<Persistence>, bool, &'static [u8]);

/// Five persistent services, each over its own real servers.
pub(super) fn persistent_snapshot(sysctls: Sysctls) -> Arc<Snapshot> {
    let mut ifaces = ifaces();
    ifaces[0].addrs.push((a4([198, 18, 1, 2]), 24));
    let routes = routes(&ifaces);
    #[rustfmt::skip]
    let plan: [PlannedService; 5] = [
        ("port0", Proto::Tcp, V_PORT0, vec![0], Fwd::Dr, persist(360, 32), false, &[41, 42, 43]),
        ("mask24", Proto::Tcp, V_MASK24, vec![80], Fwd::Nat, persist(10, 24), false, &[51, 52]),
        ("multi", Proto::Tcp, V_MULTI, vec![80, 443], Fwd::Nat, persist(360, 32), false, &[61, 62]),
        ("ftp", Proto::Tcp, V_FTP, vec![21], Fwd::Dr, persist(360, 32), false, &[71, 72]),
        ("ops", Proto::Udp, V_OPS, vec![53], Fwd::Nat, persist(30, 32), true, &[81, 82]),
    ];
    let mut services = Vec::new();
    let mut dests = Vec::new();
    for (i, (name, proto, vip, ports, fwd, persistence, one_packet, servers)) in plan.into_iter().enumerate()
    {
        let first = dests.len() as u32;
        for n in servers {
            dests.push(Dest {
                service: i as u16,
                addr: a4(rs_ip(*n)),
                port: 0,
                weight: 1,
                present: true,
                sorry: false,
            });
        }
        services.push(Service {
            name: name.into(),
            proto,
            vips: vec![a4(vip)],
            ports,
            sched: SchedKind::Rr,
            fwd,
            persistence,
            one_packet,
            dests: (first..dests.len() as u32).collect(),
            retired: false,
        });
    }
    let mut snap = Snapshot::new(1, ifaces, routes, services, dests, Timeouts::LVS, 4096);
    snap.sysctls = sysctls;
    Arc::new(snap)
}

struct P {
    r: Rig,
}

impl P {
    fn new(sysctls: Sysctls) -> P {
        let mut r = Rig::with(persistent_snapshot(sysctls));
        for n in [41, 42, 43, 51, 52, 61, 62, 71, 72, 81, 82] {
            r.neighbour(INT, rs_ip(n), rs_mac(n));
        }
        for c in 0..64u8 {
            r.neighbour(EXT, [198, 18, 0, 100 + c / 2], [2, 0xc1, 0, 0, 0, c]);
        }
        P { r }
    }

    /// A new TCP connection (SYN) from `client:sport` to `vip:dport`; the real server's last octet,
    /// or None if dropped.
    fn syn(&mut self, client: [u8; 4], sport: u16, vip: [u8; 4], dport: u16) -> Option<u8> {
        let f = tcp_frame(EXT_MAC, CLIENT_MAC, client, vip, sport, dport, SYN);
        self.sent(&f)
    }

    /// Establish (the client's ACK; LVS ignores a RST in SYN_RECV) and reset a connection: CLOSE,
    /// 10 s.
    fn close(&mut self, client: [u8; 4], sport: u16, vip: [u8; 4], dport: u16) {
        for flags in [ACK, craft::tcp_flags::RST] {
            self.sent(&tcp_frame(EXT_MAC, CLIENT_MAC, client, vip, sport, dport, flags));
        }
    }

    fn udp(&mut self, client: [u8; 4], sport: u16, vip: [u8; 4]) -> Option<u8> {
        let f = eth(EXT_MAC, CLIENT_MAC, 0x0800, &craft::udp_v4(client, vip, sport, 53, b"q", true));
        self.sent(&f)
    }

    fn sent(&mut self, f: &[u8]) -> Option<u8> {
        match self.r.rx(EXT, f) {
            Action::Tx(INT, b) => Some(b.as_ref()[5]),
            Action::Tx(..) => panic!("sent out of the wrong interface"),
            _ => None,
        }
    }

    /// Advance the virtual clock, polling timers every 250 ms as the driver would (it polls every
    /// millisecond; one huge jump would visit entries in filing order, not deadline order).
    fn tick(&mut self, d: Duration) {
        let end = self.r.now + d;
        while self.r.now < end {
            self.r.now = (self.r.now + Duration::from_millis(250)).min(end);
            self.r.w.handle_timeout(self.r.now);
        }
    }

    fn templates(&self) -> Vec<crate::conn::Conn> {
        self.r.w.conns().iter().filter(|(_, c)| c.is_template()).map(|(_, c)| c).collect()
    }

    fn dest_of(&self, n: u8) -> u32 {
        self.r.w.snapshot().dests.iter().position(|d| d.addr == a4(rs_ip(n))).unwrap() as u32
    }
}

fn client(i: u8) -> [u8; 4] {
    [198, 18, 0, 100 + i]
}

#[test]
fn port0_service_keeps_every_port_of_a_client_on_one_server() {
    let mut p = P::new(Sysctls::default());
    let mut per_client: HashMap<u8, HashSet<u8>> = HashMap::new();
    for round in 0..5u16 {
        for c in 0..20u8 {
            let dport = if round % 2 == 0 { 80 } else { 8443 };
            let rs = p.syn(client(c), 30000 + round, V_PORT0, dport).expect("forwarded");
            per_client.entry(c).or_default().insert(rs);
        }
    }
    assert!(per_client.values().all(|s| s.len() == 1), "a client moved: {per_client:?}");
    let used: HashSet<u8> = per_client.values().flatten().copied().collect();
    assert_eq!(used.len(), 3, "rr spreads the clients' templates");
    // One template per client, with vport 0 and the server's port 0 (keep the client's port).
    let t = p.templates();
    assert_eq!(t.len(), 20);
    assert!(t.iter().all(|t| t.vport == 0 && t.rport == 0 && t.cport == 0));
    assert_eq!(p.r.w.dest_stats().iter().map(|d| d.persistent.get()).sum::<u64>(), 20);
    // The connection keeps the client's destination port (DR rewrites nothing above Ethernet).
    let f = tcp_frame(EXT_MAC, CLIENT_MAC, client(0), V_PORT0, 39999, 8443, SYN);
    let (_, out) = p.r.tx(EXT, &f);
    assert_eq!(&out[12..], &f[12..]);
}

#[test]
fn netmask_24_maps_a_whole_subnet_to_one_server() {
    let mut p = P::new(Sysctls::default());
    let mut seen: HashMap<u8, HashSet<u8>> = HashMap::new();
    for host in 1..=10u8 {
        for net in [0u8, 1] {
            let rs = p.syn([198, 18, net, host], 31000 + u16::from(host), V_MASK24, 80).unwrap();
            seen.entry(net).or_default().insert(rs);
        }
    }
    assert_eq!(seen[&0].len(), 1);
    assert_eq!(seen[&1].len(), 1);
    assert_ne!(seen[&0], seen[&1], "the two /24s got one template each, round robin");
    let t = p.templates();
    assert_eq!(t.len(), 2);
    assert!(t.iter().any(|t| t.client == a4([198, 18, 1, 0])));
}

#[test]
fn multi_port_services_share_one_template() {
    let mut p = P::new(Sysctls::default());
    for c in 0..6u8 {
        let a = p.syn(client(c), 32000, V_MULTI, 80).unwrap();
        let b = p.syn(client(c), 32001, V_MULTI, 443).unwrap();
        assert_eq!(a, b);
    }
    assert!(p.templates().iter().all(|t| t.vport == 0));
    assert_eq!(p.templates().len(), 6);
}

#[test]
fn ftp_data_connections_follow_the_control_connection() {
    let mut p = P::new(Sysctls::default());
    for c in 0..4u8 {
        let ctl = p.syn(client(c), 33000, V_FTP, 21).unwrap();
        // Passive data to an unprivileged port of the VIP, and active-mode port 20.
        assert_eq!(p.syn(client(c), 33001, V_FTP, 50000 + u16::from(c)), Some(ctl));
        assert_eq!(p.syn(client(c), 33002, V_FTP, 20), Some(ctl));
    }
    // A privileged port other than 20 is not FTP data.
    assert_eq!(p.syn(client(0), 33003, V_FTP, 22), None);
    assert_eq!(p.r.drops(DropReason::NoService), 1);
}

#[test]
fn template_lives_while_it_controls_connections_then_expires() {
    let mut p = P::new(Sysctls::default());
    let first = p.syn(client(1), 34000, V_MASK24, 80).unwrap();
    // Each new connection re-arms the template to its full 10 s.
    p.tick(Duration::from_secs(8));
    assert_eq!(p.syn(client(1), 34001, V_MASK24, 80), Some(first));
    p.tick(Duration::from_secs(8));
    assert_eq!(p.templates().len(), 1, "re-armed at 8 s, so alive at 16 s");
    // Past its timeout, but its connections (SYN_RECV, 60 s) are alive: it must not expire.
    p.tick(Duration::from_secs(20));
    assert_eq!(p.templates().len(), 1);
    assert!(p.templates()[0].controlled > 0);
    assert_eq!(p.syn(client(1), 34002, V_MASK24, 80), Some(first), "still sticky");
    // Close every connection, then let them and the template go.
    for sport in [34000, 34001, 34002] {
        p.close(client(1), sport, V_MASK24, 80);
    }
    p.tick(Duration::from_secs(11));
    assert_eq!(p.r.w.conns().iter().filter(|(_, c)| !c.is_template()).count(), 0);
    p.tick(Duration::from_secs(70));
    assert!(p.templates().is_empty(), "no controlled connections left: expired");
    assert_eq!(p.r.w.stats().templates_expired.get(), 1);
    assert_eq!(p.r.w.dest_stats().iter().map(|d| d.persistent.get()).sum::<u64>(), 0);
    // A returning client is scheduled afresh: rr moved on to the other server.
    assert_ne!(p.syn(client(1), 34003, V_MASK24, 80), Some(first));
}

#[test]
fn removed_server_invalidates_templates_and_drops_its_connections() {
    let mut p = P::new(Sysctls::default());
    let rs = p.syn(client(2), 35000, V_PORT0, 80).unwrap();
    p.r.w.remove_dest(p.dest_of(rs));
    // The old connection's packets are dropped (expire_nodest_conn is off).
    assert_eq!(p.syn(client(2), 35000, V_PORT0, 80), None);
    assert_eq!(p.r.drops(DropReason::DestRemoved), 1);
    // A new connection is rescheduled; the old template lives on only for its connection.
    let moved = p.syn(client(2), 35001, V_PORT0, 80).unwrap();
    assert_ne!(moved, rs);
    assert_eq!(p.syn(client(2), 35002, V_PORT0, 443), Some(moved), "the new template sticks");
    let t = p.templates();
    assert_eq!(t.len(), 2);
    assert!(t.iter().any(|t| t.rs == a4(rs_ip(rs)) && t.controlled == 1));
}

#[test]
fn quiesced_server_keeps_its_clients_unless_expire_quiescent_template() {
    for expire in [false, true] {
        let mut p = P::new(Sysctls { expire_quiescent_template: expire, ..Sysctls::default() });
        let rs = p.syn(client(4), 37000, V_PORT0, 80).unwrap();
        let other = p.syn(client(5), 37000, V_PORT0, 80).unwrap();
        assert_ne!(rs, other);
        p.r.w.set_weight(p.dest_of(rs), 0);
        let next = p.syn(client(4), 37001, V_PORT0, 80).unwrap();
        if expire {
            assert_ne!(next, rs, "quiescent template invalid: rescheduled");
        } else {
            assert_eq!(next, rs, "weight 0 stops new clients, not existing templates");
        }
        // A new client never lands on the quiesced server.
        for c in 10..16 {
            assert_ne!(p.syn(client(c), 37000, V_PORT0, 80).unwrap(), rs);
        }
    }
}

#[test]
fn one_packet_udp_schedules_each_datagram_but_keeps_persistence() {
    let mut p = P::new(Sysctls::default());
    let mut by_client = HashMap::new();
    for i in 0..12u16 {
        let c = (i % 4) as u8;
        let rs = p.udp(client(c), 38000 + i, V_OPS).unwrap();
        assert_eq!(*by_client.entry(c).or_insert(rs), rs);
    }
    // Only the templates remain: each datagram's entry went with it.
    let live: Vec<_> = p.r.w.conns().iter().map(|(_, c)| c).collect();
    assert!(live.iter().all(|c| c.is_template() && c.service == SVC_OPS && c.controlled == 0));
    assert_eq!(live.len(), 4);
    assert_eq!(p.r.w.stats().conns_created.get(), 12);
}

/// What the property test does to the worker.
#[derive(Clone, Debug)]
enum Op {
    /// A new connection from client `c` to port `port` of the port-0 or the /24 service.
    Connect {
        c: u8,
        port: u16,
        masked: bool,
    },
    /// Close (RST) one of the live connections, picked by `k`.
    Close {
        k: usize,
    },
    Advance {
        secs: u64,
    },
    Remove {
        server: u8,
    },
    Weight {
        server: u8,
        weight: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..12, prop::sample::select(vec![80u16, 443, 8080]), any::<bool>())
            .prop_map(|(c, port, masked)| Op::Connect { c, port, masked }),
        3 => any::<usize>().prop_map(|k| Op::Close { k }),
        3 => (1u64..90).prop_map(|secs| Op::Advance { secs }),
        1 => prop::sample::select(vec![41u8, 42, 43, 51, 52]).prop_map(|server| Op::Remove { server }),
        1 => (prop::sample::select(vec![41u8, 42, 43, 51, 52]), 0u32..3)
            .prop_map(|(server, weight)| Op::Weight { server, weight }),
    ]
}

/// Every connection's controller is a live template; a client's new connections within a valid
/// template's life reach its server; templates without connections are gone by their timeout.
fn check_invariants(p: &P) {
    let live: HashMap<ConnId, crate::conn::Conn> = p.r.w.conns().iter().collect();
    let mut counted: HashMap<ConnId, u32> = HashMap::new();
    for c in live.values().filter(|c| !c.is_template()) {
        let t = c.controller.expect("persistent services only: every connection has a template");
        let tmpl = live.get(&t).expect("a template expired while it controlled a connection");
        assert!(tmpl.is_template());
        assert_eq!(tmpl.dest, c.dest, "a connection follows its template's server");
        *counted.entry(t).or_default() += 1;
    }
    for (id, t) in live.iter().filter(|(_, c)| c.is_template()) {
        assert_eq!(t.controlled, counted.get(id).copied().unwrap_or(0), "controlled count is exact");
        if t.controlled == 0 {
            // Without connections a template is due within its timeout, or within LVS's 60 s
            // re-arm if its timer last fired while it still had some.
            let timeout = if t.service == SVC_MASK24 { 10 } else { 360 };
            let bound = Duration::from_secs(timeout).max(super::super::output::TEMPLATE_REARM);
            assert!(t.expires <= p.r.now + bound, "template outlives its timeout");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn templates_never_expire_while_controlling_connections(ops in prop::collection::vec(op(), 1..120)) {
        let mut p = P::new(Sysctls::default());
        let mut sport = 40000u16;
        let mut open: Vec<([u8; 4], u16, [u8; 4], u16)> = Vec::new();
        for op in ops {
            match op {
                Op::Connect { c, port, masked } => {
                    let (vip, cl) = if masked { (V_MASK24, [198, 18, c % 2, 10 + c]) } else { (V_PORT0, client(c)) };
                    let port = if masked { 80 } else { port };
                    sport += 1;
                    // The template this client must follow: the one its key finds, if its server
                    // is still in the service (a removed server's template is invalid).
                    let tkey = FlowKey {
                        src: a4(if masked { [198, 18, c % 2, 0] } else { cl }),
                        dst: a4(vip),
                        sport: 0,
                        dport: if masked { 80 } else { 0 },
                        proto: Proto::Tcp,
                    };
                    let expected = p.r.w.conns().lookup_template(&tkey).map(|t| p.r.w.conns().get(t))
                        .filter(|t| p.r.w.loads.get(t.dest).available);
                    if let Some(rs) = p.syn(cl, sport, vip, port) {
                        open.push((cl, sport, vip, port));
                        if let Some(t) = expected {
                            prop_assert_eq!(a4(rs_ip(rs)), t.rs, "a client left its template's server");
                        }
                    }
                }
                Op::Close { k } => {
                    if !open.is_empty() {
                        let (cl, sp, vip, port) = open.swap_remove(k % open.len());
                        p.close(cl, sp, vip, port);
                    }
                }
                Op::Advance { secs } => p.tick(Duration::from_secs(secs)),
                Op::Remove { server } => p.r.w.remove_dest(p.dest_of(server)),
                Op::Weight { server, weight } => p.r.w.set_weight(p.dest_of(server), weight),
            }
            check_invariants(&p);
        }
        // Let everything run out: connections first, then their templates.
        for _ in 0..40 {
            p.tick(Duration::from_secs(60));
        }
        check_invariants(&p);
        prop_assert_eq!(p.r.w.conns().len(), 0, "everything expires in the end");
    }
}
