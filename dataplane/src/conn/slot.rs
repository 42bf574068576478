//! How the table stores an entry: one 64-byte cache line per connection.
//!
//! A lookup hit reads the key fields, then the packet path reads the state, the real server and
//! the deadline, and re-arms the timer. A [`Conn`] with three 16-byte addresses (80 bytes, plus 12
//! of timer links) spans two cache lines, so every packet of a large table waited on two lines
//! from memory. Here IPv4 addresses are kept as 4 bytes, which puts everything, timer links
//! included, in one line. Entries of IPv6 connections keep their three addresses in a side slab
//! ([`V6Slab`]), one more line for them only.
//!
//! [`Slot`] is private to the table: callers see [`Conn`] values, packed on insert and unpacked on
//! read, so the rest of vsd keeps one plain connection type.

use super::entry::{Conn, ConnId, Dir, Fwd};
use super::state::ConnState;
use super::wheel::{Link, Linked, NIL};
use crate::addr::{Addr, FlowKey, Proto};
use crate::time::Instant;

/// The entry's addresses are in the [`V6Slab`] at index `addrs[0]`.
const F_V6: u8 = 1 << 7;
/// The entry has an out key that is not in the index (yet): see `ConnTable::insert_deferred`.
pub(super) const F_NO_OUT: u8 = 1 << 6;
/// The table's own flag bits, never seen in [`Conn::flags`]: packing drops them, unpacking
/// clears them.
const INTERNAL: u8 = F_V6 | F_NO_OUT;

/// One connection (or template) and its timer links, in one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Slot {
    /// IPv4 client, VIP and real server (big-endian), or with [`F_V6`] the slab index in `[0]`.
    addrs: [u32; 3],
    cport: u16,
    vport: u16,
    rport: u16,
    service: u16,
    proto: Proto,
    fwd: Fwd,
    pub(super) state: ConnState,
    /// [`Conn::flags`] and the table's own bits ([`INTERNAL`]).
    pub(super) flags: u8,
    dest: u32,
    /// Entry index of the controlling template, or [`NIL`].
    controller: u32,
    pub(super) controlled: u32,
    pub(super) expires: Instant,
    pub(super) link: Link,
}

impl Slot {
    pub(super) const FREE: Slot = Slot {
        addrs: [0; 3],
        cport: 0,
        vport: 0,
        rport: 0,
        service: 0,
        proto: Proto::Tcp,
        fwd: Fwd::Nat,
        state: ConnState::None,
        flags: 0,
        dest: 0,
        controller: NIL,
        controlled: 0,
        expires: Instant::ZERO,
        link: Link::UNLINKED,
    };

    #[inline]
    pub(super) fn is_template(&self) -> bool {
        self.flags & super::entry::F_TEMPLATE != 0
    }

    #[inline]
    pub(super) fn controller(&self) -> Option<ConnId> {
        (self.controller != NIL).then(|| ConnId::from_index(self.controller as usize))
    }

    #[inline]
    fn is_v6(&self) -> bool {
        self.flags & F_V6 != 0
    }
}

impl Linked for Slot {
    #[inline]
    fn link(&self) -> &Link {
        &self.link
    }
    #[inline]
    fn link_mut(&mut self) -> &mut Link {
        &mut self.link
    }
}

#[inline]
fn v4_bits(a: &Addr) -> Option<u32> {
    a.v4().map(u32::from_be_bytes)
}

#[inline(always)]
fn from_bits(b: u32) -> Addr {
    Addr::from_v4(b.to_be_bytes())
}

/// The addresses of IPv6 entries, with their own free list; sized when the table is built.
pub(super) struct V6Slab {
    addrs: Box<[[Addr; 3]]>,
    /// Free indexes (a stack).
    free: Vec<u32>,
}

impl V6Slab {
    pub(super) fn new(capacity: usize) -> V6Slab {
        V6Slab {
            addrs: vec![[Addr::UNSPECIFIED; 3]; capacity].into_boxed_slice(),
            free: (0..super::entry::index_u32(capacity)).rev().collect(),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.addrs.len()
    }

    pub(super) fn bytes(&self) -> usize {
        core::mem::size_of_val(&*self.addrs) + self.free.capacity() * core::mem::size_of::<u32>()
    }

    /// Fill `s` from `c` (its addresses into the slab if one is not IPv4); false if the slab is
    /// full. `s` must not hold slab addresses (free them first).
    pub(super) fn pack(&mut self, s: &mut Slot, c: &Conn) -> bool {
        let v4 = (v4_bits(&c.client), v4_bits(&c.vip), v4_bits(&c.rs));
        let (addrs, v6) = match v4 {
            (Some(a), Some(b), Some(r)) => ([a, b, r], 0),
            _ => {
                let Some(k) = self.free.pop() else { return false };
                self.addrs[k as usize] = [c.client, c.vip, c.rs];
                ([k, 0, 0], F_V6)
            }
        };
        *s = Slot {
            addrs,
            cport: c.cport,
            vport: c.vport,
            rport: c.rport,
            service: c.service,
            proto: c.proto,
            fwd: c.fwd,
            state: c.state,
            flags: (c.flags & !INTERNAL) | v6,
            dest: c.dest,
            controller: c.controller.map_or(NIL, ConnId::index_u32),
            controlled: c.controlled,
            expires: c.expires,
            link: s.link,
        };
        true
    }

    /// Give back the slab addresses of `s`, if it has any.
    pub(super) fn release(&mut self, s: &mut Slot) {
        if s.is_v6() {
            self.free.push(s.addrs[0]);
            s.flags &= !F_V6;
        }
    }

    /// Start loading the slab addresses of an IPv6 entry `s` (a record of 48 bytes may straddle
    /// two lines): the entry line must be there to say where they are, so this is a stage after
    /// the entry's own prefetch ([`super::ConnTable::prefetch_addrs`]).
    #[inline]
    pub(super) fn prefetch(&self, s: &Slot) {
        if s.is_v6() {
            if let Some(a) = self.addrs.get(s.addrs[0] as usize) {
                super::index::prefetch(&a[0]);
                super::index::prefetch(&a[2]);
            }
        }
    }

    /// Client, VIP and real server of `s`.
    #[inline]
    fn addrs(&self, s: &Slot) -> [Addr; 3] {
        if s.is_v6() {
            self.addrs[s.addrs[0] as usize]
        } else {
            [from_bits(s.addrs[0]), from_bits(s.addrs[1]), from_bits(s.addrs[2])]
        }
    }

    #[inline]
    pub(super) fn unpack(&self, s: &Slot) -> Conn {
        let [client, vip, rs] = self.addrs(s);
        Conn {
            proto: s.proto,
            fwd: s.fwd,
            state: s.state,
            flags: s.flags & !INTERNAL,
            client,
            cport: s.cport,
            vip,
            vport: s.vport,
            rs,
            rport: s.rport,
            service: s.service,
            dest: s.dest,
            expires: s.expires,
            controller: s.controller(),
            controlled: s.controlled,
        }
    }

    /// The key of one direction of `s` (as [`Conn::key`]).
    #[inline]
    pub(super) fn key(&self, s: &Slot, dir: Dir) -> FlowKey {
        let [client, vip, rs] = self.addrs(s);
        if dir == Dir::Out && s.fwd.sees_replies() && !s.is_template() {
            FlowKey { src: rs, dst: client, sport: s.rport, dport: s.cport, proto: s.proto }
        } else {
            FlowKey { src: client, dst: vip, sport: s.cport, dport: s.vport, proto: s.proto }
        }
    }

    /// Whether `key` is the key of direction `dir` of `s`: the lookup's test, on the entry's own
    /// line for IPv4 (no address is widened).
    #[inline]
    pub(super) fn matches(&self, s: &Slot, dir: Dir, key: &FlowKey) -> bool {
        if s.is_v6() {
            return self.key(s, dir) == *key;
        }
        let (Some(src), Some(dst)) = (v4_bits(&key.src), v4_bits(&key.dst)) else { return false };
        if dir == Dir::Out && s.fwd.sees_replies() && !s.is_template() {
            (src, dst, key.sport, key.dport) == (s.addrs[2], s.addrs[0], s.rport, s.cport)
                && key.proto == s.proto
        } else {
            (src, dst, key.sport, key.dport) == (s.addrs[0], s.addrs[1], s.cport, s.vport)
                && key.proto == s.proto
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(client: Addr, vip: Addr, rs: Addr) -> Conn {
        Conn {
            proto: Proto::Udp,
            fwd: Fwd::Nat,
            state: ConnState::Udp,
            flags: super::super::entry::F_TEMPLATE,
            client,
            cport: 40000,
            vip,
            vport: 53,
            rs,
            rport: 5353,
            service: 7,
            dest: 9,
            expires: Instant::from_millis(1234),
            controller: Some(ConnId::from_index(5)),
            controlled: 3,
        }
    }

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(core::mem::size_of::<Slot>(), 64);
        assert_eq!(core::mem::align_of::<Slot>(), 64);
    }

    #[test]
    fn packs_and_unpacks_both_families() {
        let v4 = |d| Addr::from_v4([198, 18, 0, d]);
        let v6 = |d| Addr::from_v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, d]);
        let mut slab = V6Slab::new(1);
        for c in [conn(v4(1), v4(100), v4(11)), conn(v6(1), v6(100), v6(11)), conn(v4(1), v4(100), v6(11))] {
            let mut s = Slot::FREE;
            assert!(slab.pack(&mut s, &c));
            assert_eq!(slab.unpack(&s), c);
            for dir in [Dir::In, Dir::Out] {
                let k = c.key(dir);
                assert_eq!(slab.key(&s, dir), k);
                assert!(slab.matches(&s, dir, &k));
                assert!(!slab.matches(&s, dir, &FlowKey { sport: k.sport ^ 1, ..k }));
                assert!(!slab.matches(&s, dir, &FlowKey { src: v6(99), ..k }));
            }
            slab.release(&mut s);
        }
        // One IPv6 entry at a time fits; a second is refused until the first is released.
        let (mut a, mut b) = (Slot::FREE, Slot::FREE);
        assert!(slab.pack(&mut a, &conn(v6(1), v6(100), v6(11))));
        assert!(!slab.pack(&mut b, &conn(v6(2), v6(100), v6(11))));
        assert!(slab.pack(&mut b, &conn(v4(2), v4(100), v4(11))), "IPv4 needs no slab");
        slab.release(&mut a);
        assert!(slab.pack(&mut a, &conn(v6(2), v6(100), v6(11))));
    }
}
