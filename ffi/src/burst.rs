//! A fixed-size batch of owned mbufs: the unit of every fast-path call.
//!
//! DPDK moves packets as arrays of `struct rte_mbuf *`. [`MbufBurst`] is such an array with a count,
//! kept inline (no allocation) and reused burst after burst. Because [`Mbuf`] has the layout of a
//! pointer, the filled part is handed to `rte_eth_rx_burst`/`tx_burst`, ring calls and
//! `rte_pktmbuf_free_bulk` as is, and seen from Rust as `&mut [Mbuf]`. Ownership stays explicit: the
//! burst owns exactly its first `len` entries, sends give up the ones the callee accepted, and
//! whatever is left when the burst is cleared or dropped is freed with one bulk call.

use std::ptr::NonNull;

use crate::mbuf::Mbuf;
use crate::sys;

/// The burst size the workers use (the brief's 32, DPDK's customary `MAX_PKT_BURST`).
pub const BURST_SIZE: usize = 32;

/// Up to `N` owned mbufs.
pub struct MbufBurst<const N: usize = BURST_SIZE> {
    len: usize,
    slots: [*mut sys::rte_mbuf; N],
}

// SAFETY: the burst owns its mbufs exclusively, and Mbuf is Send.
unsafe impl<const N: usize> Send for MbufBurst<N> {}

impl<const N: usize> Default for MbufBurst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MbufBurst<N> {
    /// An empty burst.
    pub const fn new() -> Self {
        MbufBurst { len: 0, slots: [std::ptr::null_mut(); N] }
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
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Adds `m` at the end, or gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(m);
        }
        self.slots[self.len] = m.into_raw().as_ptr();
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        self.len = self.len.checked_sub(1)?;
        // SAFETY: slots[..old len] are owned valid mbufs; the last one leaves the burst here.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(self.slots[self.len])) })
    }

    /// The owned mbufs.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: Mbuf is repr(transparent) over a non-null pointer and slots[..len] are non-null
        // owned mbufs; the slice borrows self, so none can leave meanwhile.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Mbuf>(), self.len) }
    }

    /// The owned mbufs, to read and rewrite in place.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in as_slice; the &mut borrow of self makes the access exclusive. Assigning an
        // Mbuf into the slice drops (frees) the one it replaces, which keeps ownership exact.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }

    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, Mbuf> {
        self.as_slice().iter()
    }

    #[inline]
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Mbuf> {
        self.as_mut_slice().iter_mut()
    }

    /// Moves every mbuf out, in order, leaving the burst empty. Mbufs the iterator has not yielded
    /// when it is dropped are freed in bulk.
    #[inline]
    pub fn drain(&mut self) -> Drain<'_, N> {
        let end = std::mem::replace(&mut self.len, 0);
        Drain { burst: self, next: 0, end }
    }

    /// Frees every mbuf with one `rte_pktmbuf_free_bulk` call.
    #[inline]
    pub fn clear(&mut self) {
        let n = std::mem::replace(&mut self.len, 0);
        free_bulk(&mut self.slots[..n]);
    }

    /// The unused tail, for a callee that fills it; commit the count with [`Self::commit`].
    #[inline]
    pub(crate) fn spare(&mut self) -> &mut [*mut sys::rte_mbuf] {
        &mut self.slots[self.len..]
    }

    /// Takes ownership of the first `n` spare slots, which a callee filled with owned mbufs.
    ///
    /// # Safety
    /// `slots[len..len + n]` hold valid mbufs that nothing else owns.
    #[inline]
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        debug_assert!(n <= N - self.len);
        self.len += n;
    }

    /// The owned pointers, for a callee that takes some of them from the front.
    #[inline]
    pub(crate) fn filled(&mut self) -> &mut [*mut sys::rte_mbuf] {
        &mut self.slots[..self.len]
    }

    /// Forgets the first `n` mbufs (a callee took them) and moves the rest to the front.
    #[inline]
    pub(crate) fn consume_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        self.slots.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl<const N: usize> Drop for MbufBurst<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<const N: usize> std::fmt::Debug for MbufBurst<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbufBurst").field("len", &self.len).field("capacity", &N).finish()
    }
}

/// Frees owned mbufs with one call.
fn free_bulk(ptrs: &mut [*mut sys::rte_mbuf]) {
    if ptrs.is_empty() {
        return;
    }
    #[allow(clippy::cast_possible_truncation, reason = "a burst's length, N, is a small array length")]
    let n = ptrs.len() as u32;
    // SAFETY: every pointer is an owned valid mbuf that its owner gave up.
    unsafe { sys::rte_pktmbuf_free_bulk(ptrs.as_mut_ptr(), n) }
}

/// The iterator of [`MbufBurst::drain`].
pub struct Drain<'a, const N: usize> {
    burst: &'a mut MbufBurst<N>,
    next: usize,
    end: usize,
}

impl<const N: usize> Iterator for Drain<'_, N> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        let ptr = self.burst.slots[self.next];
        self.next += 1;
        // SAFETY: slots[next..end] are owned mbufs the burst gave to this iterator; each is yielded
        // once.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(ptr)) })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.end - self.next, Some(self.end - self.next))
    }
}

impl<const N: usize> ExactSizeIterator for Drain<'_, N> {}

impl<const N: usize> Drop for Drain<'_, N> {
    fn drop(&mut self) {
        free_bulk(&mut self.burst.slots[self.next..self.end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mbuf::tests::FakeSeg;

    /// Fills a burst with fake mbufs (which must never be freed) and runs `f` on it, then empties it
    /// without freeing.
    fn with_fake_burst<const N: usize>(segs: &mut [FakeSeg], f: impl FnOnce(&mut MbufBurst<N>)) {
        let mut burst = MbufBurst::<N>::new();
        for seg in segs.iter_mut() {
            burst.spare()[0] = &mut *seg.head;
            // SAFETY: the slot holds a valid fake mbuf used by nothing else; it is never freed
            // because the burst is emptied by resetting its count below.
            unsafe { burst.commit(1) };
        }
        f(&mut burst);
        burst.len = 0;
    }

    fn fakes(payloads: &[&[u8]]) -> Vec<FakeSeg> {
        payloads.iter().map(|p| FakeSeg::new(256, 128, p)).collect()
    }

    #[test]
    fn slice_view_sees_each_packet_in_order() {
        let mut segs = fakes(&[b"one", b"two", b"three"]);
        with_fake_burst::<4>(&mut segs, |burst| {
            assert_eq!(burst.len(), 3);
            let seen: Vec<&[u8]> = burst.iter().map(|m| &m[..]).collect();
            assert_eq!(seen, [&b"one"[..], b"two", b"three"]);
            for m in burst.iter_mut() {
                m[0] = b'X';
            }
        });
        assert_eq!(segs[2].head.data_len, 5);
        segs[1].with(|m| assert_eq!(&m[..], b"Xwo"));
    }

    #[test]
    fn consume_front_keeps_the_unsent_tail_in_order() {
        let mut segs = fakes(&[b"a", b"b", b"c", b"d"]);
        with_fake_burst::<4>(&mut segs, |burst| {
            assert!(burst.is_full());
            burst.consume_front(3);
            assert_eq!(burst.len(), 1);
            assert_eq!(&burst.as_slice()[0][..], b"d");
            assert_eq!(burst.spare().len(), 3);
        });
    }

    #[test]
    fn push_refuses_when_full_and_pop_returns_last() {
        let mut segs = fakes(&[b"a", b"b"]);
        let (first, rest) = segs.split_at_mut(1);
        with_fake_burst::<1>(first, |burst| {
            rest[0].with(|extra| {
                // SAFETY: a second Mbuf view of the same fake, handed to push and taken back.
                let dup = unsafe { Mbuf::from_raw(NonNull::new(extra.as_ptr()).unwrap()) };
                let back = burst.push(dup).expect_err("burst of 1 is full");
                assert_eq!(&back[..], b"b");
                let _ = back.into_raw();
            });
            let last = burst.pop().expect("one mbuf");
            assert_eq!(&last[..], b"a");
            let _ = last.into_raw();
            assert!(burst.is_empty() && burst.pop().is_none());
        });
    }

    #[test]
    fn drain_yields_all_in_order_and_empties() {
        let mut segs = fakes(&[b"x", b"y"]);
        with_fake_burst::<2>(&mut segs, |burst| {
            let drain = burst.drain();
            assert_eq!(drain.len(), 2);
            let got: Vec<Vec<u8>> = drain
                .map(|m| {
                    let v = m.to_vec();
                    let _ = m.into_raw();
                    v
                })
                .collect();
            assert_eq!(got, [b"x".to_vec(), b"y".to_vec()]);
            assert!(burst.is_empty());
        });
    }
}
