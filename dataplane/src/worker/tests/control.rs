//! Control messages applied by a worker: listings, runtime edits and snapshot switches.

use super::*;
use crate::sched::SchedKind;
use crate::worker::{Command, Reply};

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
    assert_eq!(reply, Some(Reply::Switched { worker: 0, epoch: 2 }));
    assert_eq!(r.w.snapshot().epoch, 2);
    assert_eq!(r.w.conns().len(), 5);
    assert_eq!(Arc::strong_count(&old), 1, "the worker let the old snapshot go");

    // A different layout (one server fewer) is refused and changes nothing.
    let mut dests = old.dests.clone();
    dests.pop();
    let mut services: Vec<Service> = old.services.clone();
    services.last_mut().unwrap().dests.end -= 1;
    let bad = Snapshot::new(3, old.ifaces.clone(), old.routes.clone(), services, dests, old.timeouts, 1024);
    assert_eq!(
        r.w.handle(r.now, Command::Switch(Arc::new(bad))),
        Some(Reply::Refused { worker: 0, epoch: 3 })
    );
    assert_eq!(r.w.snapshot().epoch, 2);
}
