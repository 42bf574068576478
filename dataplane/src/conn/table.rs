//! The per-core connection table: entries in one fixed array, a cuckoo index over their keys, and
//! a timer wheel threaded through them.
//!
//! Everything is allocated in [`ConnTable::new`]; afterwards no call allocates, locks or blocks.
//! The entry array doubles as the free list (through the timer links), a [`ConnId`] is an array
//! position, and the index stores `position × 2 + direction`, so an index hit names both the entry
//! and which of its keys matched.
//!
//! Entries are stored packed, one 64-byte line each ([`slot`](super::slot)): a hit reads one line
//! of the entry array. Memory at capacity: 64 bytes per entry, 20 bytes of index (two keys per
//! entry at 80 % bucket load), and a slab for the addresses of IPv6 entries sized for a quarter of
//! the capacity (12 bytes per entry), about 96 bytes per connection, plus a fixed 64 KiB for the
//! wheel. `memory_per_conn_is_within_budget` pins this.
//!
//! Persistence templates live in the same table (flag [`F_TEMPLATE`](super::F_TEMPLATE)): they have
//! an in key only, are found with [`ConnTable::lookup_template`], and the table keeps their
//! controlled-connection count as connections naming them come and go. Whether a due template is
//! removed or re-armed is the expiry callback's decision, as in LVS's `ip_vs_conn_expire`.

use core::fmt;
use std::hash::BuildHasher;

use super::entry::{index_u32, Conn, ConnId, Dir, F_UNHASHED};
use super::hash::FlowHasher;
use super::index::{Index, Probe};
use super::slot::{Slot, V6Slab, F_NO_OUT};
use super::state::ConnState;
use super::wheel::{tick_ceil, Link, Wheel, NIL};
use crate::addr::FlowKey;
use crate::time::Instant;

/// A walk may re-file (without visiting) this many entries per unit of budget before it yields.
const REFILES_PER_VISIT: usize = 8;
/// The IPv6 address slab holds one entry's addresses per this many entries of capacity.
const ENTRIES_PER_V6: usize = 4;
/// Out keys [`ConnTable::insert_deferred`] may hold before it indexes them itself: two bursts.
const DEFERRED_MAX: usize = 64;

/// Why an insert was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InsertError {
    /// The table (or, in pathological hash cases, the index) has no room.
    Full,
    /// One of the entry's keys is already in the table.
    Exists,
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InsertError::Full => "connection table full",
            InsertError::Exists => "connection already exists",
        })
    }
}

impl std::error::Error for InsertError {}

/// A connection key's hash and candidate buckets in one table ([`ConnTable::probe_key`]), and
/// after [`ConnTable::prefetch_entry`] the index item the lookup tests first. Only meaningful with
/// that table and that key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyProbe {
    probe: Probe,
    /// The first item of the first bucket with the key's signature, or [`NO_HINT`].
    hint: u32,
    /// The index generation the hint was read at.
    generation: u32,
}

/// No lookup hint: the item value of no entry (items are `position × 2 + direction`, positions
/// below 2^31 − 1).
const NO_HINT: u32 = u32::MAX;

/// What to do with an entry whose deadline has passed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Expiry {
    Remove,
    /// Keep it, with this new deadline (a template that still controls connections).
    Rearm(Instant),
}

#[inline]
fn item(i: usize, dir: Dir) -> u32 {
    (index_u32(i) << 1) | u32::from(dir == Dir::Out)
}

#[inline]
fn split(item: u32) -> (usize, Dir) {
    ((item >> 1) as usize, if item & 1 == 0 { Dir::In } else { Dir::Out })
}

pub struct ConnTable {
    entries: Box<[Slot]>,
    /// Addresses of the entries that are not all-IPv4.
    v6: V6Slab,
    /// Head of the free list, threaded through `link.next` of free entries.
    free: u32,
    len: usize,
    hasher: FlowHasher,
    index: Index,
    wheel: Wheel,
    /// Entries whose out key waits for [`ConnTable::flush_deferred`], with its probe.
    deferred: Vec<(u32, Probe)>,
    /// Out keys not indexed by a flush that a full `deferred` forced, for the next call to report.
    clashed: u32,
}

impl ConnTable {
    /// A table for `capacity` entries, with a random hash seed.
    pub fn new(capacity: usize) -> ConnTable {
        let seed = std::collections::hash_map::RandomState::new().hash_one(capacity);
        ConnTable::with_seed(capacity, seed)
    }

    /// A table with a chosen hash seed (tests, reproducible runs).
    pub fn with_seed(capacity: usize, seed: u64) -> ConnTable {
        // Index items are `position × 2 + direction` in a u32, and NIL is reserved.
        assert!(capacity < (1usize << 31), "connection table capacity {capacity} too large");
        let mut entries = super::mem::filled(capacity, Slot::FREE);
        for (i, e) in entries.iter_mut().enumerate() {
            e.link.next = if i + 1 < capacity { index_u32(i + 1) } else { NIL };
        }
        ConnTable {
            entries,
            free: if capacity > 0 { 0 } else { NIL },
            v6: V6Slab::new(capacity.div_ceil(ENTRIES_PER_V6)),
            len: 0,
            hasher: FlowHasher::new(seed),
            index: Index::new(capacity.saturating_mul(2)),
            wheel: Wheel::new(),
            deferred: Vec::with_capacity(DEFERRED_MAX),
            clashed: 0,
        }
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// How many entries with an IPv6 address the table holds at most (their addresses take a
    /// slab sized for a quarter of the capacity).
    pub fn v6_capacity(&self) -> usize {
        self.v6.capacity()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the table (entries, IPv6 addresses, index, wheel).
    pub fn memory_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.entries) + self.v6.bytes() + self.index.bytes() + self.wheel.bytes()
    }

    #[inline]
    fn probe(&self, key: &FlowKey, template: bool) -> Probe {
        self.index.probe(self.hasher.hash(key, template))
    }

    /// Where a connection lookup of `key` goes: its hash and candidate buckets, computed once per
    /// packet and reused by the prefetch stages and the lookup (each computation is a keyed hash
    /// and a division).
    #[inline]
    pub fn probe_key(&self, key: &FlowKey) -> KeyProbe {
        KeyProbe { probe: self.probe(key, false), hint: NO_HINT, generation: 0 }
    }

    /// Start loading the index bucket of `key` that holds it if it has room (most keys), so a
    /// burst can prefetch before it looks up. Each cache line a lookup waits on costs ~100 ns in
    /// these VMs, and a burst's prefetches saturate the core's fill buffers: the other bucket is
    /// loaded by [`ConnTable::prefetch_entry`] only for keys not in the first.
    #[inline]
    pub fn prefetch(&self, probe: &KeyProbe) {
        self.index.prefetch_first(&probe.probe);
    }

    /// Second stage of a burst prefetch, once the first buckets have arrived: start loading the
    /// entries whose signature matches the key there (usually one), without reading them yet, or
    /// else the key's second bucket. The probe keeps the first match as a hint, so that the lookup
    /// needs the bucket again only if the index changed meanwhile or the hint is not the key's.
    #[inline]
    pub fn prefetch_entry(&self, probe: &mut KeyProbe) {
        let entries = &self.entries;
        let first = self.index.prefetch_matches(&probe.probe, |it| {
            super::index::prefetch(&entries[split(it).0]);
        });
        probe.hint = first.unwrap_or(NO_HINT);
        probe.generation = self.index.generation();
    }

    /// Third stage, for IPv6 keys only: once the hinted entry's line has arrived, start loading
    /// the slab line(s) holding its addresses, which the lookup compares (a second miss per
    /// IPv6 packet otherwise; see docs/PERFORMANCE.md, `established6`).
    #[inline]
    pub fn prefetch_addrs(&self, probe: &KeyProbe) {
        if probe.hint != NO_HINT {
            self.v6.prefetch(&self.entries[split(probe.hint).0]);
        }
    }

    /// The connection (not template) one of whose keys is `key`.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<(ConnId, Dir)> {
        self.find(key, false)
    }

    /// [`ConnTable::lookup`] with the key's [`ConnTable::probe_key`] already computed.
    #[inline]
    pub fn lookup_probed(&self, key: &FlowKey, probe: &KeyProbe) -> Option<(ConnId, Dir)> {
        debug_assert_eq!(probe.probe, self.probe(key, false), "probe of another key");
        // With the index unchanged since the hint was read, the hint is the item `find` would
        // test first; if it is the key's, it is what `find` returns.
        if probe.hint != NO_HINT && probe.generation == self.index.generation() {
            let (i, dir) = split(probe.hint);
            let s = &self.entries[i];
            if !s.is_template() && self.v6.matches(s, dir, key) {
                return Some((ConnId::from_index(i), dir));
            }
        }
        self.find_probed(&probe.probe, key, false)
    }

    /// The persistence template whose key is `key`.
    #[inline]
    pub fn lookup_template(&self, key: &FlowKey) -> Option<ConnId> {
        self.find(key, true).map(|(id, _)| id)
    }

    #[inline]
    fn find(&self, key: &FlowKey, template: bool) -> Option<(ConnId, Dir)> {
        self.find_probed(&self.probe(key, template), key, template)
    }

    /// [`ConnTable::find`] with the key's probe already computed.
    #[inline]
    fn find_probed(&self, p: &Probe, key: &FlowKey, template: bool) -> Option<(ConnId, Dir)> {
        let (entries, v6) = (&self.entries, &self.v6);
        let hit = self.index.find(p, |it| {
            let (i, dir) = split(it);
            let s = &entries[i];
            s.is_template() == template && v6.matches(s, dir, key)
        })?;
        let (i, dir) = split(hit);
        Some((ConnId::from_index(i), dir))
    }

    /// Add an entry and arm its timer at `conn.expires`. `conn.controlled` is the table's to keep
    /// and starts at zero; a `conn.controller` gets one more controlled connection.
    ///
    /// Each key is hashed once. A new connection's out key has cold buckets (the lookup that
    /// preceded the insert loaded only the in key's), and reading them is most of an insert's cost:
    /// they are prefetched first, and the in key's work (cached buckets) and the entry's write are
    /// done while they load; a refused out key undoes the in key's index item.
    pub fn insert(&mut self, conn: Conn) -> Result<ConnId, InsertError> {
        self.insert_with(conn, false)
    }

    /// [`ConnTable::insert`] for the packet path: the out key (real server → client) is checked
    /// and indexed later, by [`ConnTable::flush_deferred`], which the worker calls once per
    /// burst. By then the out key's buckets, prefetched here, have arrived, so a burst of new
    /// connections waits on them once instead of once per connection.
    ///
    /// Until the flush, lookups do not find the entry by its out key. Nothing needs them to: the
    /// out key matches replies, which cannot come before the packet that created the entry has
    /// been sent, after the burst. An out key that turns out taken by another entry (one client
    /// port to two VIPs on the same real server and port) is left out of the index: replies then
    /// go to the older entry, as in LVS, whose out lookup takes the first match; the flush counts it.
    pub fn insert_deferred(&mut self, conn: Conn) -> Result<ConnId, InsertError> {
        self.insert_with(conn, true)
    }

    fn insert_with(&mut self, mut conn: Conn, defer: bool) -> Result<ConnId, InsertError> {
        if self.free == NIL {
            return Err(InsertError::Full);
        }
        let template = conn.is_template();
        let out = conn.out_key().map(|k| (self.probe(&k, template), k));
        if let Some((p, _)) = &out {
            self.index.prefetch(p);
        }
        let in_key = conn.in_key();
        let p_in = self.probe(&in_key, template);
        if self.find_probed(&p_in, &in_key, template).is_some() {
            return Err(InsertError::Exists);
        }
        let i = self.free as usize;
        conn.controlled = 0;
        // A free entry's fields mean nothing until it is linked, so writing it early is harmless
        // (the free list's link is kept).
        if !self.v6.pack(&mut self.entries[i], &conn) {
            return Err(InsertError::Full);
        }
        if !self.index_insert(&p_in, item(i, Dir::In)) {
            self.v6.release(&mut self.entries[i]);
            return Err(InsertError::Full);
        }
        if let Some((p_out, k)) = &out {
            if defer {
                if self.deferred.len() == DEFERRED_MAX {
                    self.clashed += self.index_deferred();
                }
                self.entries[i].flags |= F_NO_OUT;
                self.deferred.push((index_u32(i), *p_out));
            } else {
                let refused = if self.find_probed(p_out, k, template).is_some() {
                    Some(InsertError::Exists)
                } else if !self.index_insert(p_out, item(i, Dir::Out)) {
                    Some(InsertError::Full)
                } else {
                    None
                };
                if let Some(e) = refused {
                    self.index.remove(&p_in, item(i, Dir::In));
                    self.v6.release(&mut self.entries[i]);
                    return Err(e);
                }
            }
        }

        self.free = self.entries[i].link.next;
        if let Some(c) = conn.controller {
            let ctl = &mut self.entries[c.index()];
            debug_assert!(ctl.link.is_armed(), "controller {c:?} is not a live entry");
            ctl.controlled += 1;
        }
        self.wheel.arm(&mut self.entries, index_u32(i), conn.expires);
        self.len += 1;
        Ok(ConnId::from_index(i))
    }

    /// Index the out keys [`ConnTable::insert_deferred`] left for later. Returns how many could
    /// not be indexed since the last call: their key was taken by another entry (or, in
    /// pathological hash cases, the index had no room). Cheap when there is nothing to do.
    #[inline]
    pub fn flush_deferred(&mut self) -> u32 {
        if self.deferred.is_empty() && self.clashed == 0 {
            return 0;
        }
        let n = self.clashed + self.index_deferred();
        self.clashed = 0;
        n
    }

    fn index_deferred(&mut self) -> u32 {
        let mut clashed = 0;
        for k in 0..self.deferred.len() {
            let (i, p) = self.deferred[k];
            let e = &self.entries[i as usize];
            debug_assert!(e.flags & F_NO_OUT != 0 && e.link.is_armed());
            let key = self.v6.key(e, Dir::Out);
            if self.find_probed(&p, &key, false).is_none()
                && self.index_insert(&p, item(i as usize, Dir::Out))
            {
                self.entries[i as usize].flags &= !F_NO_OUT;
            } else {
                clashed += 1;
            }
        }
        self.deferred.clear();
        clashed
    }

    fn index_insert(&mut self, p: &Probe, it: u32) -> bool {
        let (entries, v6, hasher, n) = (&self.entries, &self.v6, &self.hasher, self.index.buckets());
        let probe_of = |other: u32| {
            let (j, dir) = split(other);
            let s = &entries[j];
            Probe::new(hasher.hash(&v6.key(s, dir), s.is_template()), n)
        };
        self.index.insert(p, it, probe_of)
    }

    /// A copy of a live entry.
    #[inline]
    pub fn get(&self, id: ConnId) -> Conn {
        let e = &self.entries[id.index()];
        debug_assert!(e.link.is_armed(), "stale {id:?}");
        self.v6.unpack(e)
    }

    /// Change an entry's state (the other fields are fixed at insert, or follow the table's own
    /// operations: [`ConnTable::set_expires`], [`ConnTable::unhash`], controller counts).
    #[inline]
    pub fn set_state(&mut self, id: ConnId, state: ConnState) {
        let e = &mut self.entries[id.index()];
        debug_assert!(e.link.is_armed(), "stale {id:?}");
        e.state = state;
    }

    /// Move an entry's deadline. O(1); a later deadline only stores the time (the wheel re-files
    /// the entry when its old slot comes round), an earlier one relinks it.
    #[inline]
    pub fn set_expires(&mut self, id: ConnId, at: Instant) {
        let i = id.index();
        debug_assert!(self.entries[i].link.is_armed(), "stale {id:?}");
        self.entries[i].expires = at;
        self.wheel.rearm(&mut self.entries, index_u32(i), at);
    }

    /// Remove an entry now. Remove the connections a template controls before the template.
    pub fn remove(&mut self, id: ConnId) -> Conn {
        let i = id.index();
        self.wheel.unlink(&mut self.entries, index_u32(i));
        self.release(i)
    }

    /// Take an entry's keys out of the index: lookups stop finding it, and its keys are free for a
    /// new entry, but it stays alive (and counted, and on the timer) until it is removed or expires.
    /// Idempotent.
    pub fn unhash(&mut self, id: ConnId) {
        let i = id.index();
        debug_assert!(self.entries[i].link.is_armed(), "stale {id:?}");
        if self.entries[i].flags & F_UNHASHED == 0 {
            self.unindex(i);
            self.entries[i].flags |= F_UNHASHED;
        }
    }

    fn unindex(&mut self, i: usize) {
        let conn = self.v6.unpack(&self.entries[i]);
        let template = conn.is_template();
        let removed = self.index.remove(&self.probe(&conn.in_key(), template), item(i, Dir::In));
        debug_assert!(removed, "in key missing from the index");
        if self.entries[i].flags & F_NO_OUT != 0 {
            // Never indexed: forget it if it still waits for the flush.
            self.deferred.retain(|&(j, _)| j as usize != i);
            self.entries[i].flags &= !F_NO_OUT;
        } else if let Some(k) = conn.out_key() {
            let removed = self.index.remove(&self.probe(&k, template), item(i, Dir::Out));
            debug_assert!(removed, "out key missing from the index");
        }
    }

    /// Drop an entry that is already off the wheel: unindex, uncount, free.
    fn release(&mut self, i: usize) -> Conn {
        let conn = self.v6.unpack(&self.entries[i]);
        debug_assert!(conn.controlled == 0, "removing a template that still controls connections");
        if conn.flags & F_UNHASHED == 0 {
            self.unindex(i);
        }
        if let Some(c) = conn.controller {
            let ctl = &mut self.entries[c.index()];
            ctl.controlled = ctl.controlled.saturating_sub(1);
        }
        self.v6.release(&mut self.entries[i]);
        self.entries[i].link = Link { next: self.free, ..Link::UNLINKED };
        self.free = index_u32(i);
        self.len -= 1;
        conn
    }

    /// Visit entries whose deadline has passed at `now` (rounded up to the wheel tick; see
    /// [`wheel`](super::wheel)), at most `budget` of them, letting `f` remove or re-arm each (it
    /// gets a copy of the entry).
    /// Entries whose deadline moved later are re-filed on the way without a visit. Returns the
    /// number visited; call again with the same `now` to continue after the budget ran out.
    pub fn expire(
        &mut self,
        now: Instant,
        budget: usize,
        mut f: impl FnMut(ConnId, &Conn) -> Expiry,
    ) -> usize {
        let Some(walk) = self.wheel.walk(now, self.len == 0) else { return 0 };
        let refile_budget = budget.saturating_mul(REFILES_PER_VISIT);
        let (mut visited, mut refiled) = (0, 0);
        let mut t = walk.first;
        loop {
            while let Some(i) = self.wheel.head(t) {
                if visited >= budget || refiled >= refile_budget {
                    self.wheel.pause(t);
                    return visited;
                }
                self.wheel.unlink(&mut self.entries, i);
                let due = tick_ceil(self.entries[i as usize].expires);
                if due > walk.target {
                    self.wheel.link_at(&mut self.entries, i, walk.place(t, due));
                    refiled += 1;
                    continue;
                }
                visited += 1;
                let conn = self.v6.unpack(&self.entries[i as usize]);
                match f(ConnId::from_index(i as usize), &conn) {
                    Expiry::Remove => {
                        self.release(i as usize);
                    }
                    Expiry::Rearm(at) => {
                        self.entries[i as usize].expires = at;
                        self.wheel.link_at(&mut self.entries, i, walk.place(t, tick_ceil(at)));
                    }
                }
            }
            if t == walk.target {
                break;
            }
            t += 1;
        }
        self.wheel.finish(walk);
        visited
    }

    /// Every live entry (copies), in table order.
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, Conn)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.link.is_armed())
            .map(|(i, e)| (ConnId::from_index(i), self.v6.unpack(e)))
    }

    /// The earliest time [`ConnTable::expire`] may have work: a lower bound for a virtual clock
    /// to jump to (it may only re-file entries whose deadline moved). `None` when empty.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.len == 0 {
            None
        } else {
            self.wheel.next_deadline()
        }
    }

    /// [`ConnTable::next_deadline`] looking at most `ticks` wheel slots (of
    /// [`wheel::TICK_MS`](super::wheel::TICK_MS)) ahead: a lower bound that costs at most that many
    /// reads, for a driver that asks every millisecond.
    pub fn next_deadline_within(&self, ticks: u64) -> Option<Instant> {
        (self.len > 0).then(|| self.wheel.next_deadline_within(ticks))
    }
}

impl fmt::Debug for ConnTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnTable").field("len", &self.len).field("capacity", &self.capacity()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Addr, Proto};
    use crate::conn::Fwd;

    #[test]
    fn hints_answer_lookups_until_the_index_changes() {
        let mut t = ConnTable::with_seed(256, 3);
        let conn = |i: u8| Conn {
            proto: Proto::Tcp,
            fwd: Fwd::Nat,
            client: Addr::from_v4([198, 18, 0, i]),
            cport: 1000,
            vip: Addr::from_v4([198, 18, 1, 1]),
            vport: 80,
            rs: Addr::from_v4([198, 19, 0, 11]),
            rport: 8080,
            ..Conn::EMPTY
        };
        let ids: Vec<ConnId> = (0..100).map(|i| t.insert(conn(i)).unwrap()).collect();
        let mut probes: Vec<(FlowKey, KeyProbe)> =
            (0..100).map(|i| conn(i).in_key()).map(|k| (k, t.probe_key(&k))).collect();
        for (_, p) in &mut probes {
            t.prefetch_entry(p);
        }
        // Most keys sit in their first bucket, so most probes carry a hint, and it is theirs.
        let hinted = probes.iter().filter(|(_, p)| p.hint != NO_HINT).count();
        assert!(hinted > 80, "{hinted} hints");
        for ((k, p), id) in probes.iter().zip(&ids) {
            assert_eq!(t.lookup_probed(k, p), Some((*id, Dir::In)));
        }
        // A removal moves the generation: the hints are ignored, the lookups stay right, even for
        // the removed entry's key and for an entry that reuses its place.
        t.remove(ids[0]);
        let again = t.insert(conn(200)).unwrap();
        assert_eq!(again, ids[0], "the freed place is reused");
        assert_ne!(probes[0].1.generation, t.index.generation());
        assert_eq!(t.lookup_probed(&probes[0].0, &probes[0].1), None);
        for ((k, p), id) in probes.iter().zip(&ids).skip(1) {
            assert_eq!(t.lookup_probed(k, p), Some((*id, Dir::In)));
        }
    }

    #[test]
    fn memory_per_conn_is_within_budget() {
        // One cache line per entry, timer links included.
        assert_eq!(core::mem::size_of::<Slot>(), 64);
        let cap = 100_000;
        let t = ConnTable::with_seed(cap, 0);
        let per_conn = t.memory_bytes() as f64 / cap as f64;
        // 64 (entry) + 13 (a quarter of 48 bytes of IPv6 addresses and 4 of free list) + 20 (two
        // index ways at 80 % load) + the fixed 64 KiB wheel over 100k entries.
        assert!((97.0..=100.0).contains(&per_conn), "{per_conn} bytes per connection");
    }
}
