//! The hash index of the connection table: bucketed cuckoo hashing with signatures.
//!
//! Each key may live in one of two buckets; a bucket is one 64-byte cache line holding eight
//! 32-bit signatures and eight 32-bit item references. So:
//! - a lookup touches at most two known cache lines, which a burst can prefetch up front;
//! - the signature filters the eight ways before any entry is read, so a miss rarely touches an
//!   entry at all;
//! - removal just clears a way (no tombstones, no backward shift), so a long-lived table does not
//!   degrade with churn;
//! - inserts into two full buckets move residents to their other bucket. The path is found first
//!   (breadth-first, bounded, in a queue allocated up front) and only then applied, so a failed
//!   insert leaves the index untouched.
//!
//! The bucket count is sized for 80 % load at the largest item count, far below the ~95 % where
//! 2-choice 8-way cuckoo tables start to fail; any bucket count works (range reduction by
//! multiply-shift, not masking), so no power-of-two rounding wastes memory.

/// Ways per bucket: 8 × (4-byte signature + 4-byte item) = one cache line.
pub(crate) const WAYS: usize = 8;
/// Signature of an empty way; real signatures are never 0.
const EMPTY: u32 = 0;
/// Most buckets the displacement search visits before an insert gives up.
const SEARCH_NODES: usize = 256;
const ROOT: u16 = u16::MAX;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    sig: [u32; WAYS],
    item: [u32; WAYS],
}

const EMPTY_BUCKET: Bucket = Bucket { sig: [EMPTY; WAYS], item: [0; WAYS] };

/// Where a key may live, derived from its 64-bit hash.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Probe {
    sig: u32,
    b1: u32,
    b2: u32,
}

impl Probe {
    /// The probe of a key with `hash` in an index of `n` (≥ 2) buckets.
    #[inline]
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the signature and the bucket are the hash's low and high 32 bits"
    )]
    pub(crate) fn new(hash: u64, n: u32) -> Probe {
        let sig = (hash as u32).max(1);
        let b1 = reduce((hash >> 32) as u32, n);
        // An offset in [1, n): the second bucket always differs from the first.
        let b2 = (b1 + 1 + reduce(sig.rotate_left(16), n - 1)) % n;
        Probe { sig, b1, b2 }
    }
}

/// A bucket on the displacement search, reached by moving the item in `way` of its parent.
#[derive(Clone, Copy)]
struct Node {
    bucket: u32,
    parent: u16,
    way: u8,
}

pub(crate) struct Index {
    buckets: Box<[Bucket]>,
    search: Box<[Node]>,
    /// Advances on every insert and removal: a lookup hint taken at one generation
    /// ([`Index::prefetch_matches`]) holds while it is unchanged.
    generation: u32,
}

#[inline]
fn reduce(x: u32, n: u32) -> u32 {
    // Lemire's multiply-shift range reduction: x * n / 2^32, uniform in [0, n).
    ((u64::from(x) * u64::from(n)) >> 32) as u32
}

/// Bit `w` set where way `w` holds `sig`: two SSE2 compares and a movemask on x86_64, where the
/// plain loop (below) compiles to ~30 scalar instructions; it runs twice per packet.
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "bit patterns: the signature is compared as 32 bits, and the movemask is 16 bits, never negative"
)]
fn mask_of(sigs: &[u32; WAYS], sig: u32) -> u32 {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi32, _mm_loadu_si128, _mm_movemask_epi8, _mm_packs_epi16, _mm_packs_epi32,
        _mm_set1_epi32, _mm_setzero_si128,
    };
    let p = sigs.as_ptr().cast::<__m128i>();
    // SAFETY: SSE2 is part of the x86_64 baseline, so the target feature is present; the two
    // unaligned 16-byte loads read `sigs[0..4]` and `sigs[4..8]`, inside the borrowed array.
    unsafe {
        let key = _mm_set1_epi32(sig as i32);
        let lo = _mm_cmpeq_epi32(_mm_loadu_si128(p), key);
        let hi = _mm_cmpeq_epi32(_mm_loadu_si128(p.add(1)), key);
        // Lanes of all ones or all zeros narrow exactly: 8 × i16, then 8 × i8, a bit each.
        _mm_movemask_epi8(_mm_packs_epi16(_mm_packs_epi32(lo, hi), _mm_setzero_si128())) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn mask_of(sigs: &[u32; WAYS], sig: u32) -> u32 {
    let mut m = 0u32;
    for (w, &s) in sigs.iter().enumerate() {
        m |= u32::from(s == sig) << w;
    }
    m
}

impl Index {
    /// An index for up to `max_items` items at 80 % load.
    pub(crate) fn new(max_items: usize) -> Index {
        let n = (max_items.saturating_mul(5).div_ceil(32)).max(2);
        assert!(n <= u32::MAX as usize, "connection index too large");
        Index {
            buckets: super::mem::filled(n, EMPTY_BUCKET),
            search: vec![Node { bucket: 0, parent: ROOT, way: 0 }; SEARCH_NODES].into_boxed_slice(),
            generation: 0,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        core::mem::size_of_val(&*self.buckets) + core::mem::size_of_val(&*self.search)
    }

    /// Number of buckets, which with a key's hash determines its [`Probe`].
    #[inline]
    #[allow(clippy::cast_possible_truncation, reason = "Index::new asserts the bucket count fits in u32")]
    pub(crate) fn buckets(&self) -> u32 {
        self.buckets.len() as u32
    }

    #[inline]
    pub(crate) fn probe(&self, hash: u64) -> Probe {
        Probe::new(hash, self.buckets())
    }

    /// Start loading both candidate buckets of a key.
    #[inline]
    pub(crate) fn prefetch(&self, p: &Probe) {
        prefetch(&self.buckets[p.b1 as usize]);
        prefetch(&self.buckets[p.b2 as usize]);
    }

    /// Start loading a key's first bucket only: where inserts put an item while it has room, so
    /// most hits need no other (92 % of the items at design load; see the tests), and the second is
    /// loaded by [`Index::prefetch_matches`] for the rest.
    #[inline]
    pub(crate) fn prefetch_first(&self, p: &Probe) {
        prefetch(&self.buckets[p.b1 as usize]);
    }

    /// Second stage after [`Index::prefetch_first`]: hand the items of the first bucket that carry
    /// the key's signature to `f` (to prefetch what they name); if none does, the key is in the
    /// second bucket or nowhere, and that bucket starts loading instead.
    ///
    /// Returns the first of those items: the one [`Index::find`] tests first, as long as the
    /// index is at the same [`Index::generation`].
    #[inline]
    pub(crate) fn prefetch_matches(&self, p: &Probe, mut f: impl FnMut(u32)) -> Option<u32> {
        let bucket = &self.buckets[p.b1 as usize];
        let mut m = mask_of(&bucket.sig, p.sig);
        if m == 0 {
            prefetch(&self.buckets[p.b2 as usize]);
            return None;
        }
        let first = bucket.item[m.trailing_zeros() as usize];
        while m != 0 {
            let w = m.trailing_zeros() as usize;
            m &= m - 1;
            f(bucket.item[w]);
        }
        Some(first)
    }

    /// See the field; wraps (a hint never waits 2^32 changes).
    #[inline]
    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// The first item with the key's signature that `is_it` accepts.
    #[inline]
    pub(crate) fn find(&self, p: &Probe, mut is_it: impl FnMut(u32) -> bool) -> Option<u32> {
        for b in [p.b1, p.b2] {
            let bucket = &self.buckets[b as usize];
            let mut m = mask_of(&bucket.sig, p.sig);
            while m != 0 {
                let w = m.trailing_zeros() as usize;
                m &= m - 1;
                if is_it(bucket.item[w]) {
                    return Some(bucket.item[w]);
                }
            }
        }
        None
    }

    /// Remove `item` stored under probe `p`; false if it was not there.
    pub(crate) fn remove(&mut self, p: &Probe, item: u32) -> bool {
        self.generation = self.generation.wrapping_add(1);
        for b in [p.b1, p.b2] {
            let bucket = &mut self.buckets[b as usize];
            let mut m = mask_of(&bucket.sig, p.sig);
            while m != 0 {
                let w = m.trailing_zeros() as usize;
                m &= m - 1;
                if bucket.item[w] == item {
                    bucket.sig[w] = EMPTY;
                    return true;
                }
            }
        }
        false
    }

    /// Insert `item` under probe `p`. `probe_of` gives the probe of an item already stored (needed
    /// to find its other bucket when it has to move). False if no room could be made.
    pub(crate) fn insert(&mut self, p: &Probe, item: u32, probe_of: impl Fn(u32) -> Probe) -> bool {
        self.generation = self.generation.wrapping_add(1);
        for b in [p.b1, p.b2] {
            if let Some(w) = self.free_way(b) {
                self.put(b, w, p.sig, item);
                return true;
            }
        }
        let Some((node, way, to, to_way)) = self.find_path(p, &probe_of) else {
            return false;
        };
        // Walk the path back to a root bucket, moving each item one step into the hole ahead.
        let (mut hole_b, mut hole_w) = (to, to_way);
        let (mut cur, mut way) = (node, way);
        loop {
            let from = self.search[cur].bucket;
            let (sig, it) = self.take(from, way);
            self.put(hole_b, hole_w, sig, it);
            (hole_b, hole_w) = (from, way);
            let n = self.search[cur];
            if n.parent == ROOT {
                break;
            }
            way = n.way as usize;
            cur = n.parent as usize;
        }
        self.put(hole_b, hole_w, p.sig, item);
        true
    }

    /// Breadth-first search from the key's two buckets for a bucket with a free way. Returns the
    /// search node and way of the last item to move, and the free bucket and way it moves to.
    fn find_path(
        &mut self,
        p: &Probe,
        probe_of: &impl Fn(u32) -> Probe,
    ) -> Option<(usize, usize, u32, usize)> {
        self.search[0] = Node { bucket: p.b1, parent: ROOT, way: 0 };
        self.search[1] = Node { bucket: p.b2, parent: ROOT, way: 0 };
        let mut len = 2;
        let mut head = 0;
        while head < len {
            let b = self.search[head].bucket;
            for w in 0..WAYS {
                let q = probe_of(self.buckets[b as usize].item[w]);
                let alt = if q.b1 == b { q.b2 } else { q.b1 };
                // A bucket already on the search would make the path revisit it.
                if self.search[..len].iter().any(|n| n.bucket == alt) {
                    continue;
                }
                if let Some(free) = self.free_way(alt) {
                    return Some((head, w, alt, free));
                }
                if len < SEARCH_NODES {
                    #[allow(
                        clippy::cast_possible_truncation,
                        reason = "head < SEARCH_NODES (256) fits u16 below ROOT, w < WAYS (8) fits u8"
                    )]
                    let node = Node { bucket: alt, parent: head as u16, way: w as u8 };
                    self.search[len] = node;
                    len += 1;
                }
            }
            head += 1;
        }
        None
    }

    #[inline]
    fn free_way(&self, b: u32) -> Option<usize> {
        let m = mask_of(&self.buckets[b as usize].sig, EMPTY);
        (m != 0).then(|| m.trailing_zeros() as usize)
    }

    #[inline]
    fn put(&mut self, b: u32, w: usize, sig: u32, item: u32) {
        let bucket = &mut self.buckets[b as usize];
        bucket.sig[w] = sig;
        bucket.item[w] = item;
    }

    #[inline]
    fn take(&mut self, b: u32, w: usize) -> (u32, u32) {
        let bucket = &mut self.buckets[b as usize];
        let out = (bucket.sig[w], bucket.item[w]);
        bucket.sig[w] = EMPTY;
        out
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.buckets.iter().map(|b| b.sig.iter().filter(|&&s| s != EMPTY).count()).sum()
    }
}

#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    prefetch_ptr((r as *const T).cast::<u8>());
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_ptr(p: *const u8) {
    use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: PREFETCHT0 is a hint: it never faults and has no architectural effect, whatever the
    // address (callers pass addresses inside a live value anyway). SSE is part of the x86_64
    // baseline, so the target feature is present.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn prefetch_ptr(_p: *const u8) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::hash::splitmix64;

    /// Items are their own keys here: item i hashes to hashes[i].
    fn hashes(n: usize, seed: u64) -> Vec<u64> {
        let mut s = seed;
        (0..n).map(|_| splitmix64(&mut s)).collect()
    }

    #[test]
    fn mask_of_sets_the_bit_of_each_matching_way() {
        let sigs = [7, 1, 7, 0, 0xffff_ffff, 7, 9, 7];
        assert_eq!(mask_of(&sigs, 7), 0b1010_0101);
        assert_eq!(mask_of(&sigs, 0xffff_ffff), 0b0001_0000);
        assert_eq!(mask_of(&sigs, 1), 0b0000_0010);
        assert_eq!(mask_of(&sigs, 5), 0);
        assert_eq!(mask_of(&[0x8000_0000; WAYS], 0x8000_0000), 0xff);
    }

    #[test]
    fn bucket_is_one_cache_line() {
        assert_eq!(core::mem::size_of::<Bucket>(), 64);
        assert_eq!(core::mem::align_of::<Bucket>(), 64);
    }

    #[test]
    fn two_distinct_buckets_per_key() {
        let idx = Index::new(100);
        for h in hashes(10_000, 1) {
            let p = idx.probe(h);
            assert_ne!(p.b1, p.b2);
            assert!((p.b1 as usize) < idx.buckets.len() && (p.b2 as usize) < idx.buckets.len());
            assert_ne!(p.sig, EMPTY);
        }
    }

    #[test]
    fn fills_to_design_load_with_displacement_then_finds_and_removes_all() {
        // Sized for 4096 items at 80 % load; fill it to exactly 4096, which needs cuckoo moves.
        let n = 4096;
        let hs = hashes(n, 42);
        let mut idx = Index::new(n);
        let probes: Vec<Probe> = hs.iter().map(|&h| idx.probe(h)).collect();
        for (i, p) in (0u32..).zip(&probes) {
            assert!(idx.insert(p, i, |it| probes[it as usize]), "insert {i} failed");
        }
        assert_eq!(idx.count(), n);
        for (i, &h) in (0u32..).zip(&hs) {
            let p = idx.probe(h);
            assert_eq!(idx.find(&p, |it| it == i), Some(i), "item {i} lost");
        }
        for (i, &h) in (0u32..).zip(&hs).step_by(2) {
            let p = idx.probe(h);
            assert!(idx.remove(&p, i));
            assert!(!idx.remove(&p, i), "removed twice");
            assert_eq!(idx.find(&p, |it| it == i), None);
        }
        assert_eq!(idx.count(), n / 2);
    }

    #[test]
    fn most_items_sit_in_their_first_bucket_at_design_load() {
        // What the first-bucket prefetch relies on: inserts fill a key's first bucket while it
        // has room, so at full design load most items need no second bucket read.
        let n = 100_000;
        let hs = hashes(n, 5);
        let mut idx = Index::new(n);
        let probes: Vec<Probe> = hs.iter().map(|&h| idx.probe(h)).collect();
        for (i, p) in (0u32..).zip(&probes) {
            assert!(idx.insert(p, i, |it| probes[it as usize]));
        }
        let in_first = |i: u32, p: &Probe| {
            let b = &idx.buckets[p.b1 as usize];
            (0..WAYS).any(|w| b.sig[w] != EMPTY && b.item[w] == i)
        };
        let first = (0u32..).zip(&probes).filter(|(i, p)| in_first(*i, p)).count();
        // 92 % with this seed.
        let share = first as f64 / n as f64;
        assert!(share > 0.85, "only {share:.3} of the items are in their first bucket");
    }

    #[test]
    fn refuses_cleanly_when_no_room() {
        // Two buckets, sixteen ways: the seventeenth item cannot fit, and the failed insert must
        // leave every earlier item findable.
        let mut idx = Index::new(1);
        assert_eq!(idx.buckets.len(), 2);
        let hs = hashes(17, 9);
        let probes: Vec<Probe> = hs.iter().map(|&h| idx.probe(h)).collect();
        for (i, p) in (0u32..).zip(&probes).take(16) {
            assert!(idx.insert(p, i, |it| probes[it as usize]));
        }
        assert!(!idx.insert(&probes[16], 16, |it| probes[it as usize]));
        for (i, p) in (0u32..).zip(&probes).take(16) {
            assert_eq!(idx.find(p, |it| it == i), Some(i));
        }
        assert_eq!(idx.count(), 16);
    }
}
