//! TCP sequence shifting after a control segment changed length.
//!
//! When the helper rewrites `198,19,0,11` into `198,18,0,100`, the server's byte stream toward the
//! client grows by one byte: every later server sequence number must grow by one on the way out,
//! and every client acknowledgment (and SACK edge, RFC 2018) shrink by one on the way in. This is
//! LVS's `struct ip_vs_seq` (`ip_vs_app.c`): the sequence number where the last change happened
//! (`init_seq`, in the server's numbering), the shift for what follows it (`delta`), and the shift
//! before it (`previous_delta`), which a retransmission of an earlier segment still needs. The ack
//! side compares in the server's numbering, as netfilter's `nf_nat_seq_adjust` does, so it is right
//! whether the change grew or shrank the stream.
//!
//! The shifts live in a small per-core side table keyed by the control connection's [`ConnId`]
//! (the connection entry is pinned at 80 bytes and most connections never need this). It is open
//! addressing with linear probing and backward-shift deletion over a fixed array, allocated once.
//! Each slot also holds the connection's key, so a slot whose connection died and whose id was
//! reused is recognised as stale instead of shifting a stranger's numbers.

use crate::addr::FlowKey;
use crate::conn::ConnId;
use crate::wire::checksum;

/// `a` comes after `b` in sequence space (RFC 9293 §3.4, modulo 2^32).
#[inline]
#[allow(
    clippy::cast_possible_wrap,
    reason = "serial-number arithmetic: the wrap to a negative difference is the test"
)]
pub fn after(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) < 0
}

/// LVS `struct ip_vs_seq`: how one connection's server→client stream has been shifted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SeqAdjust {
    /// Server sequence number of the segment that changed length last.
    init_seq: u32,
    /// Shift of the bytes after `init_seq`.
    delta: i32,
    /// Shift of the bytes up to `init_seq`.
    previous_delta: i32,
    /// Whether a change was recorded (LVS's `IP_VS_CONN_F_OUT_SEQ`).
    set: bool,
}

impl SeqAdjust {
    /// The client-facing sequence number of a server segment starting at `seq`.
    #[inline]
    pub fn seq(&self, seq: u32) -> u32 {
        let d = if after(seq, self.init_seq) { self.delta } else { self.previous_delta };
        seq.wrapping_add_signed(d)
    }

    /// The server-facing value of a client acknowledgment (or SACK edge) `ack`.
    #[inline]
    pub fn ack(&self, ack: u32) -> u32 {
        let before = ack.wrapping_add_signed(-self.previous_delta);
        if after(before, self.init_seq) {
            ack.wrapping_add_signed(-self.delta)
        } else {
            before
        }
    }

    /// The segment at server sequence `seq` changed length by `diff`. A retransmission of the
    /// segment that changed last (not after `init_seq`) records nothing: its change is counted.
    pub fn record(&mut self, seq: u32, diff: i32) {
        if !self.set || after(seq, self.init_seq) {
            self.previous_delta = self.delta;
            self.delta = self.delta.wrapping_add(diff);
            self.init_seq = seq;
            self.set = true;
        }
    }

    /// Whether this shifts anything at all.
    #[inline]
    pub fn is_identity(&self) -> bool {
        self.delta == 0 && self.previous_delta == 0
    }
}

#[derive(Clone, Copy)]
struct Slot {
    id: Option<ConnId>,
    key: FlowKey,
    adj: SeqAdjust,
}

const EMPTY: Slot = Slot {
    id: None,
    key: FlowKey {
        src: crate::addr::Addr::UNSPECIFIED,
        dst: crate::addr::Addr::UNSPECIFIED,
        sport: 0,
        dport: 0,
        proto: crate::addr::Proto::Tcp,
    },
    adj: SeqAdjust { init_seq: 0, delta: 0, previous_delta: 0, set: false },
};

/// Per-core shifts of FTP control connections, keyed by connection id.
pub struct SeqTable {
    slots: Box<[Slot]>,
    len: usize,
    /// At most half the slots are used, so probes stay short.
    max: usize,
}

impl SeqTable {
    /// A table for at least `max` connections. All memory is allocated here.
    pub fn new(max: usize) -> SeqTable {
        let n = (max.max(1) * 2).next_power_of_two();
        SeqTable { slots: vec![EMPTY; n].into_boxed_slice(), len: 0, max: n / 2 }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn home(&self, id: ConnId) -> usize {
        // Fibonacci hashing of the index; ids of one table are dense, so spread them.
        let h = (id.index() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize & (self.slots.len() - 1)
    }

    fn find(&self, id: ConnId) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(id);
        loop {
            match self.slots[i].id {
                None => return None,
                Some(x) if x == id => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// The shift of connection `id` whose in key is `key`, if one was recorded.
    #[inline]
    pub fn get(&self, id: ConnId, key: &FlowKey) -> Option<SeqAdjust> {
        if self.len == 0 {
            return None;
        }
        let s = &self.slots[self.find(id)?];
        (s.key == *key).then_some(s.adj)
    }

    /// Make sure `id` has a slot (a fresh one if its old slot belonged to another connection), so
    /// that a later [`SeqTable::record`] cannot fail. `alive` tells whether the connection of a
    /// slot still exists, to reclaim the slots of dead ones when the table is full. False if there
    /// is no room.
    pub fn reserve(&mut self, id: ConnId, key: &FlowKey, alive: impl Fn(ConnId, &FlowKey) -> bool) -> bool {
        if let Some(i) = self.find(id) {
            if self.slots[i].key != *key {
                self.slots[i] = Slot { id: Some(id), key: *key, adj: SeqAdjust::default() };
            }
            return true;
        }
        if self.len >= self.max {
            self.reclaim(alive);
            if self.len >= self.max {
                return false;
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(id);
        while self.slots[i].id.is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot { id: Some(id), key: *key, adj: SeqAdjust::default() };
        self.len += 1;
        true
    }

    /// Record a change of `diff` bytes at server sequence `seq` of a connection that has a slot
    /// ([`SeqTable::reserve`]). False if it has none.
    pub fn record(&mut self, id: ConnId, key: &FlowKey, seq: u32, diff: i32) -> bool {
        match self.find(id) {
            Some(i) if self.slots[i].key == *key => {
                self.slots[i].adj.record(seq, diff);
                true
            }
            _ => false,
        }
    }

    /// Drop the slot of `id` (its connection is gone or was replaced).
    pub fn remove(&mut self, id: ConnId) {
        if self.len == 0 {
            return;
        }
        if let Some(i) = self.find(id) {
            self.delete_at(i);
        }
    }

    /// Backward-shift deletion: pull later members of the probe run into the hole, so lookups
    /// never need tombstones.
    fn delete_at(&mut self, mut hole: usize) {
        let mask = self.slots.len() - 1;
        self.slots[hole] = EMPTY;
        self.len -= 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some(id) = self.slots[j].id else { return };
            let home = self.home(id);
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !stays {
                self.slots[hole] = self.slots[j];
                self.slots[j] = EMPTY;
                hole = j;
            }
        }
    }

    /// Remove every slot whose connection is gone.
    fn reclaim(&mut self, alive: impl Fn(ConnId, &FlowKey) -> bool) {
        let mut i = 0;
        while i < self.slots.len() {
            match self.slots[i].id {
                Some(id) if !alive(id, &self.slots[i].key) => self.delete_at(i),
                // After a deletion, slot i may hold a member moved back into it: look again.
                _ => i += 1,
            }
        }
    }
}

/// Shift the SACK blocks (RFC 2018 §3) of a client segment's TCP options with `adj.ack`, updating
/// the checksum field `csum` incrementally. `opts` are the option bytes and `opts_off` their
/// offset from the start of the TCP header, which decides the 16-bit alignment of each edge.
/// Returns the new checksum.
pub fn adjust_sack(opts: &mut [u8], opts_off: usize, adj: &SeqAdjust, mut csum: u16) -> u16 {
    const END: u8 = 0;
    const NOP: u8 = 1;
    const SACK: u8 = 5;
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            END => break,
            NOP => i += 1,
            kind => {
                let Some(&len) = opts.get(i + 1) else { break };
                let len = usize::from(len);
                if len < 2 || i + len > opts.len() {
                    break;
                }
                if kind == SACK {
                    let mut at = i + 2;
                    while at + 4 <= i + len {
                        let old = u32::from_be_bytes([opts[at], opts[at + 1], opts[at + 2], opts[at + 3]]);
                        let new = adj.ack(old);
                        opts[at..at + 4].copy_from_slice(&new.to_be_bytes());
                        csum = update32_at(csum, old, new, (opts_off + at) % 2 == 1);
                        at += 4;
                    }
                }
                i += len;
            }
        }
    }
    csum
}

/// RFC 1624 update of checksum `hc` for a 32-bit value that changed from `old` to `new` and may
/// sit at an odd offset. At an odd offset its bytes straddle three 16-bit words; by the byte-order
/// independence of the ones' complement sum (RFC 1071 §2(B)) that contributes the byte-swapped sum
/// of the value's two halves.
fn update32_at(hc: u16, old: u32, new: u32, odd: bool) -> u16 {
    if !odd {
        return checksum::update32(hc, old, new);
    }
    let half_sum = |v: u32| checksum::fold(u64::from(v >> 16) + u64::from(v & 0xffff)).swap_bytes();
    checksum::update16(hc, half_sum(old), half_sum(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Addr, Proto};
    use proptest::prelude::*;

    fn id(i: u16) -> ConnId {
        ConnId::from_index(usize::from(i))
    }

    fn key(port: u16) -> FlowKey {
        FlowKey {
            src: Addr::from_v4([198, 18, 0, 10]),
            dst: Addr::from_v4([198, 18, 0, 100]),
            sport: port,
            dport: 21,
            proto: Proto::Tcp,
        }
    }

    #[test]
    fn shifts_follow_lvs_ip_vs_seq() {
        let mut a = SeqAdjust::default();
        assert!(a.is_identity());
        assert_eq!((a.seq(5), a.ack(5)), (5, 5));
        // A 50-byte reply at server seq 1000 grew by one byte.
        a.record(1000, 1);
        assert_eq!(a.seq(1000), 1000, "the changed segment itself keeps its start");
        assert_eq!(a.seq(1050), 1051, "what follows it moves");
        assert_eq!(a.seq(900), 900, "a retransmission of what preceded it does not");
        assert_eq!(a.ack(1051), 1050, "acking the grown reply acks the original one");
        assert_eq!(a.ack(1000), 1000);
        // Its retransmission records nothing more.
        a.record(1000, 1);
        assert_eq!(a.seq(1050), 1051);
        // A second change later, shrinking by 3: before it +1, after it -2.
        a.record(2000, -3);
        assert_eq!((a.seq(1500), a.seq(2000), a.seq(2100)), (1501, 2001, 2098));
        assert_eq!(a.ack(1501), 1500);
        assert_eq!(a.ack(2001), 2000, "up to the second change: the previous delta");
        assert_eq!(a.ack(2098), 2100);
    }

    #[test]
    fn shifts_wrap_around_sequence_space() {
        let mut a = SeqAdjust::default();
        a.record(u32::MAX - 10, 4);
        assert_eq!(a.seq(5), 9);
        assert_eq!(a.ack(9), 5);
        assert_eq!(a.seq(u32::MAX - 20), u32::MAX - 20);
        assert!(after(3, u32::MAX) && !after(u32::MAX, 3));
    }

    #[test]
    fn table_keeps_removes_and_recognises_reused_ids() {
        let mut t = SeqTable::new(8);
        let live = |_: ConnId, _: &FlowKey| true;
        assert!(t.get(id(1), &key(1)).is_none());
        assert!(!t.record(id(1), &key(1), 10, 1), "no slot reserved");
        for i in 0..8u16 {
            assert!(t.reserve(id(i), &key(i), live));
            assert!(t.record(id(i), &key(i), 100, i32::from(i) + 1));
        }
        assert!(!t.reserve(id(99), &key(99), live), "full: every connection is alive");
        for i in 0..8u16 {
            assert_eq!(t.get(id(i), &key(i)).unwrap().seq(200), 200 + u32::from(i) + 1);
        }
        // The id now belongs to another connection: the old shift is not applied to it.
        assert!(t.get(id(3), &key(333)).is_none());
        assert!(t.reserve(id(3), &key(333), live));
        assert!(t.get(id(3), &key(333)).unwrap().is_identity());
        t.remove(id(5));
        assert!(t.get(id(5), &key(5)).is_none());
        assert_eq!(t.len(), 7);
        // Full again; the dead are reclaimed to make room.
        assert!(t.reserve(id(50), &key(50), live));
        assert!(t.reserve(id(60), &key(60), |i, _| i != id(0) && i != id(1)));
        assert!(t.get(id(0), &key(0)).is_none() && t.get(id(2), &key(2)).is_some());
        assert_eq!(t.len(), 7);
    }

    proptest! {
        /// Random inserts and removals against a model: every member stays findable through the
        /// backward shifts.
        #[test]
        fn table_matches_a_model(ops in proptest::collection::vec((0u16..64, any::<bool>()), 0..400)) {
            let mut t = SeqTable::new(20);
            let mut model = std::collections::HashMap::new();
            for (i, insert) in ops {
                if insert {
                    if t.reserve(id(i), &key(i), |_, _| true) {
                        t.record(id(i), &key(i), 7, i32::from(i) + 1);
                        model.insert(i, i32::from(i) + 1);
                    } else {
                        prop_assert!(model.len() >= 20 && !model.contains_key(&i));
                    }
                } else {
                    t.remove(id(i));
                    model.remove(&i);
                }
                prop_assert_eq!(t.len(), model.len());
            }
            for i in 0..64u16 {
                #[allow(clippy::cast_possible_wrap, reason = "the shift is a small signed difference")]
                let got = t.get(id(i), &key(i)).map(|a| a.seq(8).wrapping_sub(8) as i32);
                prop_assert_eq!(got, model.get(&i).copied());
            }
        }

        /// Whatever changes were recorded, the client's ack of the server's shifted stream maps back
        /// to the server's numbering, for bytes after the last change.
        #[test]
        fn ack_undoes_seq(base in any::<u32>(), diffs in proptest::collection::vec(-8i32..=8, 1..5), off in 1u32..100_000) {
            let mut a = SeqAdjust::default();
            for (k, d) in (0u32..).zip(&diffs) {
                a.record(base.wrapping_add(k * 100), *d);
            }
            let last = base.wrapping_add((u32::try_from(diffs.len()).unwrap() - 1) * 100);
            let s = last.wrapping_add(100).wrapping_add(off);
            prop_assert_eq!(a.ack(a.seq(s)), s);
        }

        /// SACK edges shifted in place keep the checksum valid, at either alignment.
        #[test]
        fn sack_adjust_keeps_checksum(
            edges in proptest::collection::vec(any::<u32>(), 2..=8),
            lead_nops in 0usize..3,
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            diff in -8i32..=8,
        ) {
            let n = edges.len() / 2 * 2;
            let mut opts = vec![1u8; lead_nops];
            opts.push(5);
            opts.push(u8::try_from(2 + 4 * n).unwrap());
            for e in &edges[..n] {
                opts.extend_from_slice(&e.to_be_bytes());
            }
            while opts.len() % 4 != 0 {
                opts.push(0);
            }
            let (src, dst) = (Addr::from_v4([198, 18, 0, 10]), Addr::from_v4([198, 19, 0, 11]));
            let mut seg = vec![0u8; 20];
            seg[12] = u8::try_from((20 + opts.len()) / 4).unwrap() << 4;
            seg.extend_from_slice(&opts);
            seg.extend_from_slice(&payload);
            let mut t = crate::wire::TcpPacket::new_unchecked(&mut seg[..]);
            t.fill_checksum(&src, &dst);
            let mut adj = SeqAdjust::default();
            adj.record(edges[0], diff);
            let csum = t.checksum();
            let new = adjust_sack(&mut t.options_mut()[..], 20, &adj, csum);
            t.set_checksum(new);
            prop_assert!(t.verify_checksum(&src, &dst));
            for (k, e) in edges[..n].iter().enumerate() {
                let at = 20 + lead_nops + 2 + 4 * k;
                prop_assert_eq!(u32::from_be_bytes(seg[at..at + 4].try_into().unwrap()), adj.ack(*e));
            }
        }
    }
}
