//! Two workers with one owner function: packets meet their owner through redirects, both
//! directions of a NAT connection and every connection of a client land on one worker, and a
//! neighbour learned by one worker reaches the other.

use super::*;
use crate::steer::{Steering, DEFAULT_KEY};

fn pair() -> (Worker<VecBuf>, Worker<VecBuf>, Arc<Steering>) {
    let steering = Arc::new(Steering::new(2, 32, 128, DEFAULT_KEY));
    let snap = snapshot();
    let w0 = Worker::new(0, snap.clone()).with_steering(steering.clone());
    let w1 = Worker::new(1, snap).with_steering(steering.clone());
    (w0, w1, steering)
}

/// Deliver `frame` to worker `first` as if it came from the wire, following a redirect.
fn deliver(
    ws: &mut [Worker<VecBuf>; 2],
    first: usize,
    now: Instant,
    iface: u16,
    frame: &[u8],
) -> (usize, Action<VecBuf>) {
    match one(&mut ws[first], now, Rx::wire(iface), VecBuf::from_frame(frame)) {
        Action::Redirect(o, b) => {
            let o = usize::from(o);
            assert_ne!(o, first, "never redirected to itself");
            (o, one(&mut ws[o], now, Rx::redirected(iface), b))
        }
        other => (first, other),
    }
}

/// A burst of one frame on worker `w`.
fn one(w: &mut Worker<VecBuf>, now: Instant, rx: Rx, b: VecBuf) -> Action<VecBuf> {
    let pre = w.prepare(b.as_ref());
    let act = w.process(now, rx, b, &pre);
    w.end_burst();
    act
}

/// Pass every neighbour worker `from` learned to the other worker, as the driver does: the
/// worker's outputs redirected to it. The frames' interface travels in the buffer's port in
/// DPDK; here the alloc closure's argument, kept beside each buffer.
fn share(ws: &mut [Worker<VecBuf>; 2], from: usize, now: Instant) {
    let mut iface = 0;
    let mut n = 0;
    while let Some(a) = ws[from].poll_output(now, &mut |i| {
        iface = i;
        Some(VecBuf::empty())
    }) {
        let Action::Redirect(to, b) = a else { panic!("a share is redirected, got {a:?}") };
        assert_eq!(usize::from(to), 1 - from);
        assert!(matches!(one(&mut ws[1 - from], now, Rx::redirected(iface), b), Action::Free(_)));
        n += 1;
    }
    assert!(n > 0, "something was shared");
}

#[test]
fn connections_and_replies_meet_their_owner_and_neighbours_are_shared() {
    let (w0, w1, steering) = pair();
    let mut ws = [w0, w1];
    let now = Instant::from_millis(1000);
    // The real servers and the clients answer ARP on whichever worker's queue: worker 0 here.
    for n in [11u8, 12, 13] {
        let f = arp(2, INT_MAC, rs_mac(n), rs_ip(n), INT_MAC, INT_IP);
        assert!(matches!(one(&mut ws[0], now, Rx::wire(INT), VecBuf::from_frame(&f)), Action::Free(_)));
    }
    for c in 0..32u8 {
        let f = arp(2, EXT_MAC, [2, 0xc1, 0, 0, 0, c], [198, 18, 0, 150 + c], EXT_MAC, EXT_IP);
        assert!(matches!(one(&mut ws[0], now, Rx::wire(EXT), VecBuf::from_frame(&f)), Action::Free(_)));
    }
    share(&mut ws, 0, now);
    let mut redirected = 0;
    let mut owners = std::collections::HashSet::new();
    for c in 0..32u8 {
        let client = [198, 18, 0, 150 + c];
        let owner = usize::from(steering.owner(&a4(client)));
        owners.insert(owner);
        for (i, sport) in [40000u16, 40001].into_iter().enumerate() {
            // Arrive on either worker; always handled (and the connection created) by the owner.
            let first = (usize::from(c) + i) % 2;
            let syn = tcp_frame(EXT_MAC, CLIENT_MAC, client, VIP_NAT, sport, 80, SYN);
            let (by, act) = deliver(&mut ws, first, now, EXT, &syn);
            assert_eq!(by, owner);
            redirected += usize::from(by != first);
            let Action::Tx(INT, out) = act else { panic!("SYN not forwarded: {act:?}") };
            let rs = out.as_ref()[5];
            // The server's reply arrives on the other worker and still finds the connection.
            let reply = tcp_frame(INT_MAC, rs_mac(rs), rs_ip(rs), client, 8080, sport, SYNACK);
            let (by, act) = deliver(&mut ws, 1 - first, now, INT, &reply);
            assert_eq!(by, owner, "the reply meets its connection's owner");
            assert!(matches!(act, Action::Tx(EXT, _)), "reply translated: {act:?}");
        }
    }
    assert_eq!(owners.len(), 2, "both workers own clients");
    assert!(redirected > 0);
    let moved: u64 = ws.iter().map(|w| w.stats().redirected_out.get()).sum();
    let arrived: u64 = ws.iter().map(|w| w.stats().redirected_in.get()).sum();
    assert_eq!(moved, arrived - 3 - 32, "every redirect arrived (plus the shared neighbours)");
    // No worker ever had to ARP: worker 1 learned everything from worker 0's shares.
    assert_eq!(ws[1].stats().arp_requests.get(), 0);
    assert!(ws[1].poll_output(now, &mut |_| Some(VecBuf::empty())).is_none(), "nothing to ask or share");
    // Each connection lives only on its owner.
    let total: usize = ws.iter().map(|w| w.conns().len()).sum();
    assert_eq!(total, 64);
}

#[test]
fn a_shared_neighbour_releases_what_the_other_worker_holds() {
    let (w0, w1, steering) = pair();
    let mut ws = [w0, w1];
    let now = Instant::from_millis(1000);
    // A client owned by worker 1 sends a SYN; the real server is unresolved on worker 1.
    let client = (0..=255u8).map(|h| [198, 18, 0, h]).find(|c| steering.owner(&a4(*c)) == 1).unwrap();
    let syn = tcp_frame(EXT_MAC, CLIENT_MAC, client, VIP_NAT, 41000, 80, SYN);
    let (by, act) = deliver(&mut ws, 1, now, EXT, &syn);
    assert_eq!(by, 1);
    assert!(matches!(act, Action::Held));
    // The ARP reply lands on worker 0, which learns and shares.
    let f = arp(2, INT_MAC, rs_mac(11), rs_ip(11), INT_MAC, INT_IP);
    one(&mut ws[0], now, Rx::wire(INT), VecBuf::from_frame(&f));
    share(&mut ws, 0, now);
    let Some(Action::Tx(out, b)) = ws[1].poll_output(now, &mut |_| None) else {
        panic!("worker 1 released its held SYN")
    };
    assert_eq!(out, INT);
    assert_eq!(&b.as_ref()[0..6], &rs_mac(11));
}
