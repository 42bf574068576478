//! The expiry timer: a hashed timing wheel with lazy re-arming.
//!
//! Time is cut into ticks of [`TICK_MS`]; the wheel has [`SLOTS`] slots, one per tick of a
//! revolution (about 17.5 minutes, longer than the 15-minute ESTABLISHED timeout). Each slot heads
//! an intrusive doubly-linked list threaded through the table's entries, so arming and disarming are
//! O(1) and allocate nothing.
//!
//! Why lazy: a packet that refreshes a connection pushes its deadline *later*, and that happens on
//! nearly every packet. Moving the entry between lists each time would touch two neighbours' cache
//! lines per packet. Instead only the entry's `expires` changes; when its old slot comes round, the
//! walk sees the deadline is still ahead and files the entry again. An ESTABLISHED connection thus
//! costs about one re-file per timeout, whatever its packet rate. A deadline moved *earlier* (a FIN
//! turning 900 s into 120 s) does relink at once, or it would fire late.
//!
//! Deadlines beyond one revolution (templates live 30 min and more) sit in the last slot of the
//! current revolution and are re-filed when it comes round, the same lazy step.
//!
//! An entry whose deadline is `e` fires at the first tick boundary at or after `e`: never early, at
//! most one tick late. Slots carry no absolute time; the tick a slot stands for is derived from the
//! walk's `cursor` (the first tick not yet fully walked), which keeps the per-entry state to a slot
//! number and two links.

use crate::time::Instant;

/// Wheel granularity. Power of two so the tick arithmetic is shifts.
pub const TICK_MS: u64 = 64;
/// Slots per revolution: 2^14 × 64 ms ≈ 1049 s.
pub const SLOTS: u64 = 1 << 14;
pub(crate) const NIL: u32 = u32::MAX;

/// The tick an instant falls in.
#[inline]
pub fn tick_floor(t: Instant) -> u64 {
    t.as_millis() / TICK_MS
}

/// The first tick boundary at or after an instant: when a deadline fires.
#[inline]
pub fn tick_ceil(t: Instant) -> u64 {
    t.as_millis().div_ceil(TICK_MS)
}

/// Timer links of one entry. `slot == NIL` means not on the wheel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) next: u32,
    pub(crate) prev: u32,
    pub(crate) slot: u32,
}

impl Link {
    pub(crate) const UNLINKED: Link = Link { next: NIL, prev: NIL, slot: NIL };

    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.slot != NIL
    }
}

/// Anything the wheel can thread its lists through.
pub(crate) trait Linked {
    fn link(&self) -> &Link;
    fn link_mut(&mut self) -> &mut Link;
}

/// The ticks one expiry walk covers: from `first` through `target` (the tick of `now`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    pub(crate) first: u64,
    pub(crate) target: u64,
}

impl Walk {
    /// Where to file an entry taken from the slot of tick `t` whose deadline tick is `want`: not
    /// before `target + 1` (this walk must not see it again), and within one revolution of `t` (so
    /// the slot it lands in is not the one being walked).
    #[inline]
    pub(crate) fn place(&self, t: u64, want: u64) -> u64 {
        let hi = t + SLOTS - 1;
        want.clamp((self.target + 1).min(hi), hi)
    }
}

pub(crate) struct Wheel {
    heads: Box<[u32]>,
    /// First tick whose slot may still hold entries due at or before it.
    cursor: u64,
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        #[allow(clippy::cast_possible_truncation, reason = "SLOTS is 2^14")]
        let heads = vec![NIL; SLOTS as usize].into_boxed_slice();
        Wheel { heads, cursor: 0 }
    }

    pub(crate) fn bytes(&self) -> usize {
        core::mem::size_of_val(&*self.heads)
    }

    #[inline]
    fn slot_of(tick: u64) -> u32 {
        (tick % SLOTS) as u32
    }

    /// The tick a slot currently stands for: the first tick at or after the cursor that maps to it.
    #[inline]
    fn tick_of_slot(&self, slot: u32) -> u64 {
        self.cursor + (u64::from(slot) + SLOTS - self.cursor % SLOTS) % SLOTS
    }

    /// Put unlinked entry `i` on the wheel for deadline `at`.
    #[inline]
    pub(crate) fn arm<N: Linked>(&mut self, nodes: &mut [N], i: u32, at: Instant) {
        let t = tick_ceil(at).clamp(self.cursor, self.cursor + SLOTS - 1);
        self.link_at(nodes, i, t);
    }

    /// Follow a new deadline of armed entry `i`: relink only if it moved before its current slot.
    #[inline]
    pub(crate) fn rearm<N: Linked>(&mut self, nodes: &mut [N], i: u32, at: Instant) {
        let slot = nodes[i as usize].link().slot;
        if tick_ceil(at) < self.tick_of_slot(slot) {
            self.unlink(nodes, i);
            self.arm(nodes, i, at);
        }
    }

    /// File entry `i` in the slot of absolute tick `tick`.
    #[inline]
    pub(crate) fn link_at<N: Linked>(&mut self, nodes: &mut [N], i: u32, tick: u64) {
        let slot = Self::slot_of(tick);
        let head = self.heads[slot as usize];
        if head != NIL {
            nodes[head as usize].link_mut().prev = i;
        }
        *nodes[i as usize].link_mut() = Link { next: head, prev: NIL, slot };
        self.heads[slot as usize] = i;
    }

    #[inline]
    pub(crate) fn unlink<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        let l = *nodes[i as usize].link();
        debug_assert!(l.is_armed(), "unlinking an entry that is not on the wheel");
        if l.prev == NIL {
            self.heads[l.slot as usize] = l.next;
        } else {
            nodes[l.prev as usize].link_mut().next = l.next;
        }
        if l.next != NIL {
            nodes[l.next as usize].link_mut().prev = l.prev;
        }
        *nodes[i as usize].link_mut() = Link::UNLINKED;
    }

    /// Begin an expiry walk at `now`. A wheel with no entries just moves its cursor. When `now`
    /// is more than a revolution ahead, every slot is walked once, oldest tick first.
    pub(crate) fn walk(&mut self, now: Instant, empty: bool) -> Option<Walk> {
        let target = tick_floor(now).max(self.cursor);
        if empty {
            self.cursor = target;
            return None;
        }
        let first = if target - self.cursor >= SLOTS { target - SLOTS + 1 } else { self.cursor };
        Some(Walk { first, target })
    }

    /// The first entry filed in the slot of tick `t`.
    #[inline]
    pub(crate) fn head(&self, t: u64) -> Option<u32> {
        let h = self.heads[Self::slot_of(t) as usize];
        (h != NIL).then_some(h)
    }

    /// The walk stopped (budget spent) inside tick `t`; the next one resumes there.
    pub(crate) fn pause(&mut self, t: u64) {
        self.cursor = t;
    }

    /// The walk went through `target`.
    pub(crate) fn finish(&mut self, w: Walk) {
        self.cursor = w.target;
    }

    /// The earliest time an expiry walk can find work: the start of the first non-empty slot's
    /// tick. A lower bound: that slot may hold only entries whose deadline moved later.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        (0..SLOTS)
            .map(|d| self.cursor + d)
            .find(|&t| self.head(t).is_some())
            .map(|t| Instant::from_millis(t * TICK_MS))
    }

    /// [`Wheel::next_deadline`] looking at most `ticks` slots ahead; when they are all empty, the
    /// first tick not looked at (still a lower bound). Cheap enough to ask every millisecond.
    pub(crate) fn next_deadline_within(&self, ticks: u64) -> Instant {
        let n = ticks.clamp(1, SLOTS);
        let t = (0..n).map(|d| self.cursor + d).find(|&t| self.head(t).is_some()).unwrap_or(self.cursor + n);
        Instant::from_millis(t * TICK_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    struct N(Link);

    impl Linked for N {
        fn link(&self) -> &Link {
            &self.0
        }
        fn link_mut(&mut self) -> &mut Link {
            &mut self.0
        }
    }

    fn slot_members(w: &Wheel, nodes: &[N], t: u64) -> Vec<u32> {
        let mut out = vec![];
        let mut i = w.head(t);
        while let Some(x) = i {
            out.push(x);
            let n = nodes[x as usize].0.next;
            i = (n != NIL).then_some(n);
        }
        out
    }

    #[test]
    fn ticks_round_deadlines_up() {
        assert_eq!(tick_ceil(Instant::from_millis(0)), 0);
        assert_eq!(tick_ceil(Instant::from_millis(1)), 1);
        assert_eq!(tick_ceil(Instant::from_millis(64)), 1);
        assert_eq!(tick_ceil(Instant::from_millis(65)), 2);
        assert_eq!(tick_floor(Instant::from_millis(127)), 1);
        // Fires at or after the deadline, at most one tick late.
        for ms in [1u64, 63, 64, 65, 1_000_000] {
            let fire = tick_ceil(Instant::from_millis(ms)) * TICK_MS;
            assert!(fire >= ms && fire < ms + TICK_MS);
        }
    }

    #[test]
    fn link_and_unlink_keep_lists_consistent() {
        let mut w = Wheel::new();
        let mut nodes = vec![N(Link::UNLINKED); 4];
        for i in 0..4 {
            w.arm(&mut nodes, i, Instant::from_millis(640));
        }
        assert_eq!(slot_members(&w, &nodes, 10), vec![3, 2, 1, 0]);
        w.unlink(&mut nodes, 2); // middle
        w.unlink(&mut nodes, 3); // head
        w.unlink(&mut nodes, 0); // tail
        assert_eq!(slot_members(&w, &nodes, 10), vec![1]);
        assert!(!nodes[0].0.is_armed());
        assert_eq!(nodes[1].0, Link { next: NIL, prev: NIL, slot: 10 });
    }

    #[test]
    fn later_deadline_stays_put_earlier_one_moves() {
        let mut w = Wheel::new();
        let mut nodes = vec![N(Link::UNLINKED); 1];
        w.arm(&mut nodes, 0, Instant::from_millis(64 * 100));
        w.rearm(&mut nodes, 0, Instant::from_millis(64 * 500));
        assert_eq!(nodes[0].0.slot, 100, "a later deadline is re-filed lazily");
        w.rearm(&mut nodes, 0, Instant::from_millis(64 * 20));
        assert_eq!(nodes[0].0.slot, 20, "an earlier deadline relinks at once");
    }

    #[test]
    fn far_deadlines_wait_in_the_last_slot_of_the_revolution() {
        let mut w = Wheel::new();
        let mut nodes = vec![N(Link::UNLINKED); 1];
        w.arm(&mut nodes, 0, Instant::from_millis(TICK_MS * SLOTS * 3));
        assert_eq!(u64::from(nodes[0].0.slot), SLOTS - 1);
        assert_eq!(w.next_deadline(), Some(Instant::from_millis((SLOTS - 1) * TICK_MS)));
    }

    #[test]
    fn walk_places_never_in_the_walked_slot_or_this_walk() {
        let walk = Walk { first: 10, target: 12 };
        for t in 10..=12u64 {
            for want in [13u64, 14, 5000, SLOTS * 5] {
                let p = walk.place(t, want);
                assert!(p > walk.target && p > t && p - t < SLOTS, "t {t} want {want} -> {p}");
            }
        }
        // A catch-up walk a full revolution long may only re-file into its own last tick.
        let catch_up = Walk { first: 100, target: 100 + SLOTS - 1 };
        assert_eq!(catch_up.place(100, SLOTS * 9), 100 + SLOTS - 1);
    }
}
