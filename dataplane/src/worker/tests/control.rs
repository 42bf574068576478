//! Control messages applied by a worker: listings, runtime edits and snapshot switches.
#![allow(clippy::cast_possible_truncation, reason = "test data: small literal values")]

use super::*;
use crate::sched::SchedKind;
use crate::worker::{Command, Reply};

const VIP_NEW: [u8; 4] = [198, 18, 0, 103];

#[test]
fn lists_edits_and_switches_snapshots() {
    let mut r = Rig::new();
    for n in [11, 12, 13] {
        r.neighbour(INT, rs_ip(n), rs_mac(n));
    }
    r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 47000, 80, SYN));
    let Some(Reply::Conns { worker: 0, conns, .. }) = r.w.handle(r.now, Command::ListConns) else { panic!() };
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].cport, 47000);

    // Remove .12 and .13: new connections all go to .11; put .12 back.
    assert!(r.w.handle(r.now, Command::SetAvailable { dest: 1, available: false }).is_none());
    assert!(r.w.handle(r.now, Command::SetAvailable { dest: 2, available: false }).is_none());
    for sport in 47001..47004 {
        assert_eq!(r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, sport, 80, SYN)).1[5], 11);
    }
    r.w.handle(r.now, Command::SetAvailable { dest: 1, available: true });
    r.w.handle(r.now, Command::SetWeight { dest: 0, weight: 0 });
    assert_eq!(r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 47010, 80, SYN)).1[5], 12);

    // Same layout, another scheduler and epoch: adopted; the connections stay.
    let old = r.w.snapshot().clone();
    let services = old.services.iter().map(|s| Service { sched: SchedKind::Wlc, ..s.clone() }).collect();
    let next = Snapshot::new(
        2,
        old.ifaces.clone(),
        old.routes.clone(),
        services,
        old.dests.clone(),
        old.timeouts,
        1024,
    );
    let reply = r.w.handle(r.now, Command::Switch(Arc::new(next)));
    assert!(matches!(reply, Some(Reply::Switched { worker: 0, epoch: 2, dest_stats: None })), "{reply:?}");
    assert_eq!(r.w.snapshot().epoch, 2);
    assert_eq!(r.w.conns().len(), 5);
    assert_eq!(Arc::strong_count(&old), 1, "the worker let the old snapshot go");

    // A snapshot that drops a server does not extend the running one: refused, nothing changes.
    let mut dests = old.dests.clone();
    dests.pop();
    let mut services: Vec<Service> = old.services.clone();
    services.last_mut().unwrap().dests.pop();
    let bad = Snapshot::new(3, old.ifaces.clone(), old.routes.clone(), services, dests, old.timeouts, 1024);
    let reply = r.w.handle(r.now, Command::Switch(Arc::new(bad)));
    assert!(matches!(reply, Some(Reply::Refused { worker: 0, epoch: 3, running: 2 })), "{reply:?}");
    assert_eq!(r.w.snapshot().epoch, 2);
}

/// A reload that adds a real server to a running service and a whole new service: the new ones
/// take connections at once, the running connections and their counters stay where they were.
#[test]
fn switch_adds_servers_and_services() {
    let mut r = Rig::new();
    for n in [11, 12, 13, 14, 41] {
        r.neighbour(INT, rs_ip(n), rs_mac(n));
    }
    for sport in 48000..48003 {
        r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, sport, 80, SYN));
    }
    let before = r.w.dest_stats();
    let conns_on_11 = before[0].conns.get();
    assert_eq!(conns_on_11, 1);

    let old = r.w.snapshot().clone();
    let mut services = old.services.clone();
    let mut dests = old.dests.clone();
    let add = |dests: &mut Vec<Dest>, service: u16, n: u8| {
        dests.push(Dest { service, addr: a4(rs_ip(n)), port: 8080, weight: 1, present: true, sorry: false });
        dests.len() as u32 - 1
    };
    let d14 = add(&mut dests, 0, 14);
    services[0].dests.push(d14);
    let d41 = add(&mut dests, 3, 41);
    services.push(Service {
        name: "new".into(),
        vips: vec![a4(VIP_NEW)],
        dests: vec![d41],
        ..old.services[0].clone()
    });
    let next = Snapshot::new(2, old.ifaces.clone(), old.routes.clone(), services, dests, old.timeouts, 1024);
    let Some(Reply::Switched { dest_stats: Some(grown), .. }) =
        r.w.handle(r.now, Command::Switch(Arc::new(next)))
    else {
        panic!("the switch must hand out the grown counters")
    };
    assert_eq!(grown.len(), old.dests.len() + 2);
    assert_eq!(grown[0].conns.get(), conns_on_11, "counters carried over");
    assert_eq!(r.w.conns().len(), 3, "running connections kept");

    // Round robin over four servers now: .14 gets a connection within the next four.
    let picked: Vec<u8> = (48010..48014)
        .map(|sport| r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, sport, 80, SYN)).1[5])
        .collect();
    assert!(picked.contains(&14), "{picked:?}");
    assert_eq!(r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NEW, 48020, 80, SYN)).1[5], 41);
    assert_eq!(r.w.dest_stats()[d41 as usize].conns.get(), 1);
    // A packet of a connection made before the switch still goes to its server.
    let (_, out) = r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, 48000, 80, ACK));
    assert_eq!(out[5], 11);
}

/// A reload is one message: the snapshot that adds .14 also removes .12 and re-weighs the DR
/// service, and the worker takes all of it at the switch, with no command after it. The removed
/// server takes no new connection and its running one stops; the weights are the scheduler's at
/// once.
#[test]
fn a_switch_takes_weights_and_presence_from_the_snapshot() {
    let mut r = Rig::new();
    for n in [11, 12, 13, 14, 21, 22, 23] {
        r.neighbour(INT, rs_ip(n), rs_mac(n));
    }
    let before: Vec<u8> = (49000..49003)
        .map(|sport| r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, sport, 80, SYN)).1[5])
        .collect();
    let on_12 = 49000 + before.iter().position(|&n| n == 12).expect("rr reaches .12") as u16;

    let old = r.w.snapshot().clone();
    let mut services = old.services.clone();
    let mut dests = old.dests.clone();
    dests[1].present = false;
    for (d, w) in [(3, 0), (4, 1), (5, 1)] {
        dests[d].weight = w;
    }
    dests.push(Dest { service: 0, addr: a4(rs_ip(14)), port: 8080, weight: 1, present: true, sorry: false });
    services[0].dests.push(dests.len() as u32 - 1);
    let next = Snapshot::new(2, old.ifaces.clone(), old.routes.clone(), services, dests, old.timeouts, 1024);
    let reply = r.w.handle(r.now, Command::Switch(Arc::new(next)));
    assert!(matches!(reply, Some(Reply::Switched { epoch: 2, .. })), "{reply:?}");
    assert_eq!(r.w.dest_state(1), Some((1, false)), ".12 is out of its service");
    assert_eq!(r.w.dest_state(3), Some((0, true)), ".21 is quiesced");
    assert_eq!(r.w.dest_state(8), Some((1, true)), ".14 joined");
    assert_eq!(r.w.dest_state(9), None, "no such server");

    let picked: Vec<u8> = (49010..49016)
        .map(|sport| r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, sport, 80, SYN)).1[5])
        .collect();
    assert!(!picked.contains(&12), "{picked:?}");
    assert!([11, 13, 14].iter().all(|n| picked.contains(n)), "{picked:?}");
    let stale = r.rx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_NAT, on_12, 80, ACK));
    assert!(!matches!(stale, Action::Tx(..)), "the removed server's connection is not forwarded");

    // wrr over .22 and .23 at 1:1 (it was 4:3:2 with .21): never .21, both of the others.
    let picked: Vec<u8> = (49020..49024)
        .map(|sport| r.tx(EXT, &tcp_frame(EXT_MAC, CLIENT_MAC, CLIENT, VIP_DR, sport, 80, SYN)).1[5])
        .collect();
    assert_eq!(picked, [22, 23, 22, 23]);
}
