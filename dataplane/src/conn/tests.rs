//! Connection-table behaviour: keys, capacity, templates, and expiry against a virtual clock, plus
//! a model-based property test against a plain `Vec` of entries.

use core::time::Duration;
use std::collections::BTreeSet;

use proptest::prelude::*;

use super::wheel::{tick_ceil, tick_floor, SLOTS, TICK_MS};
use super::*;
use crate::addr::{Addr, FlowKey, Proto};
use crate::time::Instant;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn conn(client: u8, cport: u16, fwd: Fwd, expires: Instant) -> Conn {
    Conn {
        proto: Proto::Tcp,
        fwd,
        client: Addr::from_v4([198, 18, 0, client]),
        cport,
        vip: Addr::from_v4([198, 18, 1, 1]),
        vport: 80,
        rs: Addr::from_v4([198, 19, 0, 11]),
        rport: 8080,
        expires,
        ..Conn::EMPTY
    }
}

/// Drive the table with a virtual clock from `now` to `until`, jumping to each next deadline;
/// returns (visit time, id, deadline) for every visit. The callback removes everything.
fn run_clock(t: &mut ConnTable, mut now: Instant, until: Instant) -> Vec<(Instant, ConnId, Instant)> {
    let mut seen = vec![];
    while let Some(d) = t.next_deadline() {
        if d > until {
            break;
        }
        now = now.max(d);
        t.expire(now, usize::MAX, |id, c| {
            seen.push((now, id, c.expires));
            Expiry::Remove
        });
    }
    seen
}

#[test]
fn both_keys_find_the_entry_until_removed() {
    let mut t = ConnTable::with_seed(16, 1);
    let nat = conn(1, 40000, Fwd::Nat, ms(10_000));
    let dr = conn(2, 40000, Fwd::Dr, ms(10_000));
    let a = t.insert(nat).unwrap();
    let b = t.insert(dr).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.lookup(&nat.in_key()), Some((a, Dir::In)));
    assert_eq!(t.lookup(&nat.out_key().unwrap()), Some((a, Dir::Out)));
    assert_eq!(t.lookup(&dr.in_key()), Some((b, Dir::In)));
    assert_eq!(t.lookup(&nat.in_key().reversed()), None, "a reversed in key is not the out key");
    assert_eq!(t.get(a), nat);

    t.set_state(a, ConnState::Established);
    assert_eq!(t.get(a).state, ConnState::Established);

    let gone = t.remove(a);
    assert_eq!(gone.state, ConnState::Established);
    assert_eq!(t.lookup(&nat.in_key()), None);
    assert_eq!(t.lookup(&nat.out_key().unwrap()), None);
    assert_eq!(t.len(), 1);
    assert_eq!(t.iter().map(|(id, _)| id).collect::<Vec<_>>(), vec![b]);
}

#[test]
fn refuses_duplicates_and_overflow() {
    let mut t = ConnTable::with_seed(2, 2);
    let c = conn(1, 1000, Fwd::Nat, ms(1));
    t.insert(c).unwrap();
    assert_eq!(t.insert(c), Err(InsertError::Exists));
    // Same out key (server → client), different VIP: still a clash for replies.
    let clash = Conn { vip: Addr::from_v4([198, 18, 1, 2]), ..c };
    assert_eq!(t.insert(clash), Err(InsertError::Exists));
    t.insert(conn(2, 1000, Fwd::Nat, ms(1))).unwrap();
    assert_eq!(t.insert(conn(3, 1000, Fwd::Nat, ms(1))), Err(InsertError::Full));
    assert_eq!(t.len(), 2);
    let mut z = ConnTable::with_seed(0, 0);
    assert_eq!(z.insert(c), Err(InsertError::Full));
}

#[test]
fn entries_fire_at_their_deadline_rounded_up_to_a_tick() {
    let mut t = ConnTable::with_seed(64, 3);
    let deadlines = [1u64, 63, 64, 65, 2_000, 10_000, 60_000, 900_000];
    for (i, &d) in (0u8..).zip(&deadlines) {
        t.insert(conn(i, 1000, Fwd::Nat, ms(d))).unwrap();
    }
    let seen = run_clock(&mut t, ms(0), ms(u64::MAX / 2));
    assert_eq!(seen.len(), deadlines.len());
    for (at, _, due) in &seen {
        assert!(at >= due, "fired early: {at:?} < {due:?}");
        assert!(at.as_millis() < due.as_millis() + TICK_MS, "fired late: {at:?} for {due:?}");
    }
    assert!(t.is_empty());
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn refreshed_connection_never_fires_and_costs_no_visits() {
    let mut t = ConnTable::with_seed(4, 4);
    let timeout = Duration::from_secs(900);
    let id = t.insert(conn(1, 1000, Fwd::Nat, ms(0) + timeout)).unwrap();
    let mut visits = 0;
    // A packet every 10 s for 2.5 revolutions of the wheel.
    let mut now = ms(0);
    while now < ms(2_600_000) {
        now = now + Duration::from_secs(10);
        t.set_expires(id, now + timeout);
        visits += t.expire(now, usize::MAX, |_, _| Expiry::Remove);
    }
    assert_eq!(visits, 0);
    let last = now;
    let seen = run_clock(&mut t, now, ms(u64::MAX / 2));
    assert_eq!(seen.len(), 1);
    let (at, _, due) = seen[0];
    assert_eq!(due, last + timeout);
    assert!(at >= due && at.as_millis() < due.as_millis() + TICK_MS);
}

#[test]
fn earlier_deadline_fires_early() {
    let mut t = ConnTable::with_seed(4, 5);
    let id = t.insert(conn(1, 1000, Fwd::Nat, ms(900_000))).unwrap();
    t.set_expires(id, ms(10_000)); // e.g. a FIN moved it to a short timeout
    let seen = run_clock(&mut t, ms(0), ms(u64::MAX / 2));
    assert_eq!(seen.len(), 1);
    assert!(seen[0].0 >= ms(10_000) && seen[0].0 < ms(10_000 + TICK_MS));
}

#[test]
fn template_rearms_while_it_controls_connections() {
    // A 30-minute template (beyond one wheel revolution) controlling one connection.
    let mut t = ConnTable::with_seed(8, 6);
    let thirty_min = 30 * 60 * 1000;
    let tmpl = Conn { flags: F_TEMPLATE, cport: 0, ..conn(1, 0, Fwd::Nat, ms(thirty_min)) };
    let tid = t.insert(tmpl).unwrap();
    // The template and a connection with the same tuple do not shadow each other.
    let same_tuple = conn(1, 0, Fwd::Nat, ms(1));
    assert_eq!(t.lookup(&same_tuple.in_key()), None);
    assert_eq!(t.lookup_template(&tmpl.in_key()), Some(tid));
    let cid = t.insert(Conn { controller: Some(tid), ..conn(1, 5000, Fwd::Nat, ms(2_400_000)) }).unwrap();
    assert_eq!(t.get(tid).controlled, 1);

    let mut now = ms(0);
    let mut template_visits = vec![];
    while let Some(d) = t.next_deadline() {
        now = now.max(d);
        t.expire(now, usize::MAX, |id, c| {
            if c.is_template() {
                template_visits.push((now, c.controlled));
                if c.controlled > 0 {
                    // LVS: a template still in use re-arms for 60 s.
                    return Expiry::Rearm(now + Duration::from_secs(60));
                }
            } else {
                assert_eq!(id, cid);
            }
            Expiry::Remove
        });
    }
    assert!(template_visits[0].0 >= ms(thirty_min), "template fired before its timeout");
    // It re-armed every 60 s while the connection lived (until 40 min), then expired.
    let (last_at, last_controlled) = *template_visits.last().unwrap();
    assert_eq!(last_controlled, 0);
    assert!(last_at >= ms(2_400_000) && last_at < ms(2_400_000 + 60_000 + TICK_MS));
    assert!(template_visits[..template_visits.len() - 1].iter().all(|&(_, n)| n == 1));
    assert!(t.is_empty());
}

#[test]
fn removing_a_connection_uncounts_it_from_its_template() {
    let mut t = ConnTable::with_seed(8, 7);
    let tid = t.insert(Conn { flags: F_TEMPLATE, ..conn(1, 0, Fwd::Dr, ms(360_000)) }).unwrap();
    let a = t.insert(Conn { controller: Some(tid), ..conn(1, 1, Fwd::Dr, ms(1)) }).unwrap();
    let _b = t.insert(Conn { controller: Some(tid), ..conn(1, 2, Fwd::Dr, ms(10_000)) }).unwrap();
    assert_eq!(t.get(tid).controlled, 2);
    t.remove(a);
    assert_eq!(t.get(tid).controlled, 1);
    // Expiry uncounts too.
    t.expire(ms(20_000), usize::MAX, |_, c| {
        assert!(!c.is_template());
        Expiry::Remove
    });
    assert_eq!(t.get(tid).controlled, 0);
}

#[test]
fn an_unhashed_template_gives_its_key_up_and_lives_on() {
    let mut t = ConnTable::with_seed(8, 9);
    let tmpl = Conn { flags: F_TEMPLATE, ..conn(1, 0, Fwd::Dr, ms(360_000)) };
    let old = t.insert(tmpl).unwrap();
    let c = t.insert(Conn { controller: Some(old), ..conn(1, 1, Fwd::Dr, ms(10_000)) }).unwrap();
    t.unhash(old);
    t.unhash(old);
    assert_eq!(t.lookup_template(&tmpl.in_key()), None);
    // A new template takes the same key; the old one still counts its connection.
    let new = t.insert(Conn { rs: Addr::from_v4([198, 19, 0, 12]), ..tmpl }).unwrap();
    assert_eq!(t.lookup_template(&tmpl.in_key()), Some(new));
    assert_eq!(t.get(old).controlled, 1);
    assert_eq!(t.len(), 3);
    t.remove(c);
    assert_eq!(t.get(old).controlled, 0);
    t.remove(old);
    assert_eq!(t.lookup_template(&tmpl.in_key()), Some(new), "removing the old one leaves the new key");
    assert_eq!(t.len(), 1);
}

#[test]
fn budget_bounds_each_call_and_the_rest_follows() {
    let mut t = ConnTable::with_seed(100, 8);
    for i in 0..100u16 {
        t.insert(conn((i % 200) as u8, 1000 + i, Fwd::Nat, ms(1000 + u64::from(i)))).unwrap();
    }
    let now = ms(5000);
    let mut calls = 0;
    let mut total = 0;
    loop {
        let n = t.expire(now, 10, |_, _| Expiry::Remove);
        assert!(n <= 10);
        total += n;
        calls += 1;
        if n == 0 {
            break;
        }
    }
    assert_eq!(total, 100);
    assert_eq!(calls, 11);
    assert!(t.is_empty());
}

#[test]
fn a_clock_jump_of_several_revolutions_visits_everything_due_once() {
    let mut t = ConnTable::with_seed(64, 9);
    let rev = SLOTS * TICK_MS;
    for i in 0..50u8 {
        t.insert(conn(i, 1000, Fwd::Dr, ms(1 + u64::from(i) * rev / 10))).unwrap();
    }
    let now = ms(3 * rev);
    let mut seen = BTreeSet::new();
    t.expire(now, usize::MAX, |id, c| {
        assert!(seen.insert(id), "visited twice");
        assert!(c.expires <= now);
        Expiry::Remove
    });
    // Deadlines 1 ms + 0.0 … 4.9 revolutions: the thirty up to 2.9 revolutions were due.
    assert_eq!(seen.len(), 30);
    assert_eq!(t.len(), 20);
}

#[test]
fn prefetch_then_lookup_a_burst() {
    let mut t = ConnTable::with_seed(64, 10);
    let conns: Vec<Conn> = (0..32).map(|i| conn(i, 2000, Fwd::Nat, ms(100))).collect();
    let ids: Vec<ConnId> = conns.iter().map(|c| t.insert(*c).unwrap()).collect();
    let keys: Vec<FlowKey> = conns.iter().map(|c| c.in_key()).collect();
    let mut probes: Vec<_> = keys.iter().map(|k| t.probe_key(k)).collect();
    probes.iter().for_each(|p| t.prefetch(p));
    probes.iter_mut().for_each(|p| t.prefetch_entry(p));
    let found: Vec<_> =
        keys.iter().zip(&probes).map(|(k, p)| t.lookup_probed(k, p).map(|(id, _)| id)).collect();
    assert_eq!(found, keys.iter().map(|k| t.lookup(k).map(|(id, _)| id)).collect::<Vec<_>>());
    assert_eq!(found, ids.into_iter().map(Some).collect::<Vec<_>>());
}

#[test]
fn deferred_out_keys_are_indexed_by_the_flush() {
    let mut t = ConnTable::with_seed(256, 11);
    let nat = |client, cport| conn(client, cport, Fwd::Nat, ms(100));
    // Only the in key until the flush.
    let a = t.insert_deferred(nat(1, 1000)).unwrap();
    let out_a = nat(1, 1000).out_key().unwrap();
    assert_eq!(t.lookup(&nat(1, 1000).in_key()), Some((a, Dir::In)));
    assert_eq!(t.lookup(&out_a), None);
    assert_eq!(t.flush_deferred(), 0);
    assert_eq!(t.lookup(&out_a), Some((a, Dir::Out)));
    assert_eq!(t.flush_deferred(), 0, "nothing left");

    // Removed before the flush: the flush forgets it, and its key stays free.
    let b = t.insert_deferred(nat(2, 1000)).unwrap();
    assert_eq!(t.remove(b), nat(2, 1000));
    assert_eq!(t.flush_deferred(), 0);
    assert_eq!(t.lookup(&nat(2, 1000).out_key().unwrap()), None);
    // Unhashed before the flush: the same.
    let c = t.insert_deferred(nat(3, 1000)).unwrap();
    t.unhash(c);
    assert_eq!(t.flush_deferred(), 0);
    assert_eq!(t.lookup(&nat(3, 1000).out_key().unwrap()), None);
    t.remove(c);

    // The same client port to a second VIP on the same real server: its out key is a's. The
    // synchronous insert refuses it; the deferred one keeps it without an out key, and counts it.
    let twin = Conn { vip: Addr::from_v4([198, 18, 1, 2]), ..nat(1, 1000) };
    assert_eq!(twin.out_key(), Some(out_a));
    assert_eq!(t.insert(twin), Err(InsertError::Exists));
    let d = t.insert_deferred(twin).unwrap();
    assert_eq!(t.flush_deferred(), 1);
    assert_eq!(t.lookup(&out_a), Some((a, Dir::Out)), "replies stay with the older entry");
    assert_eq!(t.lookup(&twin.in_key()), Some((d, Dir::In)));
    assert_eq!(t.get(d), twin);
    // Both go cleanly: d's missing out key is not looked for, a's is removed.
    t.remove(d);
    t.remove(a);
    assert_eq!(t.lookup(&out_a), None);
    assert!(t.is_empty());

    // More new connections than the deferred list holds: they are indexed on the way.
    let ids: Vec<_> = (0..200u16).map(|i| t.insert_deferred(nat(9, 2000 + i)).unwrap()).collect();
    assert_eq!(t.flush_deferred(), 0);
    for (i, id) in (0u16..).zip(&ids) {
        assert_eq!(t.lookup(&nat(9, 2000 + i).out_key().unwrap()), Some((*id, Dir::Out)));
    }
}

// ---- model-based property test ----

#[derive(Clone, Debug)]
enum Op {
    Insert { client: u8, cport: u8, vip: u8, rs: u8, fwd: u8, udp: bool, ttl: u32 },
    Remove(usize),
    SetExpires(usize, u32),
    Advance { dt: u32, budget: usize },
    JumpToDeadline,
}

fn op() -> impl Strategy<Value = Op> {
    let ttl = prop_oneof![0u32..5_000, 0u32..2_500_000];
    prop_oneof![
        4 => (0u8..8, 0u8..4, 0u8..2, 0u8..3, 0u8..4, any::<bool>(), ttl.clone()).prop_map(
            |(client, cport, vip, rs, fwd, udp, ttl)| Op::Insert { client, cport, vip, rs, fwd, udp, ttl }
        ),
        1 => any::<usize>().prop_map(Op::Remove),
        2 => (any::<usize>(), ttl).prop_map(|(i, t)| Op::SetExpires(i, t)),
        2 => (prop_oneof![0u32..300, 0u32..3_500_000], prop_oneof![Just(usize::MAX), 0usize..4])
            .prop_map(|(dt, budget)| Op::Advance { dt, budget }),
        1 => Just(Op::JumpToDeadline),
    ]
}

fn model_conn(client: u8, cport: u8, vip: u8, rs: u8, fwd: u8, udp: bool, expires: Instant) -> Conn {
    let client = if client < 4 {
        Addr::from_v4([198, 18, 0, client])
    } else {
        Addr::from_v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, client])
    };
    Conn {
        proto: if udp { Proto::Udp } else { Proto::Tcp },
        fwd: [Fwd::Nat, Fwd::Dr, Fwd::Tunnel, Fwd::FullNat][fwd as usize],
        client,
        cport: 1000 + u16::from(cport),
        vip: Addr::from_v4([198, 18, 1, 1 + vip]),
        vport: 80,
        rs: Addr::from_v4([198, 19, 0, rs]),
        rport: 8080,
        expires,
        ..Conn::EMPTY
    }
}

fn keys(c: &Conn) -> Vec<FlowKey> {
    core::iter::once(c.in_key()).chain(c.out_key()).collect()
}

fn due(c: &Conn, now: Instant) -> bool {
    tick_ceil(c.expires) <= tick_floor(now)
}

struct Model {
    live: Vec<(ConnId, Conn)>,
    gone: Vec<FlowKey>,
}

impl Model {
    /// Run one expiry call and check it against the model; returns how many were visited.
    fn expire(&mut self, t: &mut ConnTable, now: Instant, budget: usize) -> usize {
        let due_before: BTreeSet<ConnId> =
            self.live.iter().filter(|(_, c)| due(c, now)).map(|(id, _)| *id).collect();
        let mut visited = vec![];
        let n = t.expire(now, budget, |id, c| {
            visited.push(id);
            // Keep a third of them, moved past `now`.
            if id.index() % 3 == 0 {
                let at = now + Duration::from_millis(1 + (c.expires.as_millis() % 7_000));
                Expiry::Rearm(at)
            } else {
                Expiry::Remove
            }
        });
        assert_eq!(n, visited.len());
        let visited_set: BTreeSet<ConnId> = visited.iter().copied().collect();
        assert_eq!(visited_set.len(), visited.len(), "an entry was visited twice");
        assert!(visited_set.is_subset(&due_before), "visited an entry that was not due");
        assert!(n <= budget);
        if budget == usize::MAX {
            assert_eq!(visited_set, due_before, "an unbounded walk must visit exactly the due entries");
        }
        for id in visited {
            let pos = self.live.iter().position(|(x, _)| *x == id).unwrap();
            if id.index() % 3 == 0 {
                let c = &mut self.live[pos].1;
                c.expires = now + Duration::from_millis(1 + (c.expires.as_millis() % 7_000));
            } else {
                let (_, c) = self.live.swap_remove(pos);
                self.gone.extend(keys(&c));
            }
        }
        n
    }

    fn check(&self, t: &ConnTable) {
        assert_eq!(t.len(), self.live.len());
        for (id, c) in &self.live {
            assert_eq!(t.get(*id), *c);
            assert_eq!(t.lookup(&c.in_key()), Some((*id, Dir::In)));
            if let Some(k) = c.out_key() {
                assert_eq!(t.lookup(&k), Some((*id, Dir::Out)));
            }
        }
        for k in &self.gone {
            if !self.live.iter().any(|(_, c)| keys(c).contains(k)) {
                assert_eq!(t.lookup(k), None, "removed key still found: {k:?}");
            }
        }
        let ids: BTreeSet<ConnId> = t.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, self.live.iter().map(|(id, _)| *id).collect());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_model(cap in 1usize..24, seed in any::<u64>(), start in 0u64..2_000_000_000,
                           ops in proptest::collection::vec(op(), 1..160)) {
        let mut t = ConnTable::with_seed(cap, seed);
        let mut m = Model { live: vec![], gone: vec![] };
        let mut now = ms(start);
        for op in ops {
            // Lookup hints taken before the step, used after it: a stale hint must never change
            // what a lookup finds.
            let known = m.live.iter().flat_map(|(_, c)| keys(c)).chain(m.gone.iter().copied());
            let hinted: Vec<(FlowKey, KeyProbe)> = known
                .map(|k| {
                    let mut p = t.probe_key(&k);
                    t.prefetch_entry(&mut p);
                    (k, p)
                })
                .collect();
            match op {
                Op::Insert { client, cport, vip, rs, fwd, udp, ttl } => {
                    let c = model_conn(client, cport, vip, rs, fwd, udp, now + Duration::from_millis(ttl.into()));
                    let new_keys = keys(&c);
                    let clash = m.live.iter().any(|(_, o)| keys(o).iter().any(|k| new_keys.contains(k)));
                    // IPv6 entries also need a place in the table's slab of IPv6 addresses.
                    let v6 = |c: &Conn| !c.client.is_v4();
                    let v6_full = v6(&c) && m.live.iter().filter(|(_, o)| v6(o)).count() == t.v6_capacity();
                    match t.insert(c) {
                        Ok(id) => {
                            prop_assert!(!clash && m.live.len() < cap && !v6_full);
                            m.live.push((id, c));
                        }
                        Err(InsertError::Full) => prop_assert!(m.live.len() == cap || v6_full),
                        Err(InsertError::Exists) => prop_assert!(clash),
                    }
                }
                Op::Remove(i) if !m.live.is_empty() => {
                    let (id, c) = m.live.swap_remove(i % m.live.len());
                    prop_assert_eq!(t.remove(id), c);
                    m.gone.extend(keys(&c));
                }
                Op::SetExpires(i, ttl) if !m.live.is_empty() => {
                    let n = m.live.len();
                    let (id, c) = &mut m.live[i % n];
                    c.expires = now + Duration::from_millis(ttl.into());
                    t.set_expires(*id, c.expires);
                }
                Op::Advance { dt, budget } => {
                    now = now + Duration::from_millis(dt.into());
                    m.expire(&mut t, now, budget);
                    // Whatever a small budget left over, an unbounded call at the same time finishes.
                    m.expire(&mut t, now, usize::MAX);
                    prop_assert!(m.live.iter().all(|(_, c)| !due(c, now)));
                }
                Op::JumpToDeadline => {
                    let nd = t.next_deadline();
                    prop_assert_eq!(nd.is_none(), m.live.is_empty());
                    if let Some(d) = nd {
                        // A lower bound: nothing fires before it.
                        let first_fire = m.live.iter().map(|(_, c)| tick_ceil(c.expires) * TICK_MS).min().unwrap();
                        prop_assert!(d.as_millis() <= first_fire.max(tick_floor(now) * TICK_MS));
                        now = now.max(d);
                        m.expire(&mut t, now, usize::MAX);
                    }
                }
                _ => {}
            }
            m.check(&t);
            for (k, p) in &hinted {
                prop_assert_eq!(t.lookup_probed(k, p), t.lookup(k), "hinted lookup of {:?}", k);
            }
        }
        // Drain with the virtual clock: every entry is eventually visited and removed.
        let mut rounds = 0;
        while let Some(d) = t.next_deadline() {
            now = now.max(d);
            t.expire(now, usize::MAX, |_, _| Expiry::Remove);
            rounds += 1;
            prop_assert!(rounds < 10_000);
        }
        prop_assert!(t.is_empty());
    }
}
