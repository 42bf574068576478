//! One packet buffer owned by Rust.
//!
//! [`Mbuf`] is a non-null pointer to an `rte_mbuf` that this side owns exclusively (reference count
//! 1, data not shared): dropping it returns it to its pool, and it derefs to the bytes of its first
//! segment. Fields are read and written straight from the bindgen struct rather than through the
//! shim, because the core touches them on every packet and a call per packet would cost more than
//! the work. For the same reason `prepend`/`append`/`adj`/`trim` are written here, following
//! `rte_pktmbuf_*` in rte_mbuf.h (22.11); the shim's versions serve only to test that they agree.
//!
//! Dropping an `Mbuf` is a call per packet: the fast path collects drops in an
//! [`MbufBurst`](crate::MbufBurst), freed with one `rte_pktmbuf_free_bulk`.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use crate::sys;

/// `ol_flags` bit: the driver stored a valid RSS hash in the mbuf (`RTE_MBUF_F_RX_RSS_HASH`).
pub const RX_RSS_HASH: u64 = sys::RTE_MBUF_F_RX_RSS_HASH;

/// An owned DPDK packet buffer. Same layout as `*mut rte_mbuf`, so bursts are arrays of them.
#[repr(transparent)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an Mbuf is the only owner of its buffer; DPDK frees into a pool from any thread.
unsafe impl Send for Mbuf {}
// SAFETY: shared access only reads the buffer and its header.
unsafe impl Sync for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `ptr` is a valid pktmbuf from a live mempool that nothing else uses or will free: reference
    /// count 1 and a direct (not attached) data buffer.
    #[inline]
    pub unsafe fn from_raw(ptr: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf(ptr)
    }

    /// Gives up ownership; the caller must free or hand on the mbuf.
    #[inline]
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let ptr = self.0;
        std::mem::forget(self);
        ptr
    }

    /// The raw pointer, still owned by `self`.
    #[inline]
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.0.as_ptr()
    }

    #[inline]
    fn head(&self) -> &sys::rte_mbuf {
        // SAFETY: the pointer is valid and exclusively ours for as long as self lives.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn head_mut(&mut self) -> &mut sys::rte_mbuf {
        // SAFETY: as in head; &mut self makes the access exclusive.
        unsafe { self.0.as_mut() }
    }

    /// Start loading the first cache line of the packet data (the headers a parse reads). Reads
    /// the mbuf's first line to find it.
    #[inline(always)]
    pub fn prefetch_data(&self) {
        let head = self.head();
        // Only an address: wrapping_add neither dereferences nor asserts anything.
        prefetch(head.buf_addr.cast::<u8>().wrapping_add(usize::from(head.data_off)));
    }

    /// Bytes in the first segment (`data_len`).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.head().data_len)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head().data_len == 0
    }

    /// Bytes in the whole chain (`pkt_len`).
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.head().pkt_len
    }

    /// Segments in the chain.
    #[inline]
    pub fn nb_segs(&self) -> u16 {
        self.head().nb_segs
    }

    /// True if the whole packet is in the first segment, so the `[u8]` view holds all of it.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.head().nb_segs == 1
    }

    /// Free bytes before the data in the first segment.
    #[inline]
    pub fn headroom(&self) -> usize {
        usize::from(self.head().data_off)
    }

    /// Free bytes after the data in the last segment.
    #[inline]
    pub fn tailroom(&self) -> usize {
        tailroom(last_segment(self.head()))
    }

    /// The input port of a received packet, or the port set for transmit.
    #[inline]
    pub fn port(&self) -> u16 {
        self.head().port
    }

    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.head_mut().port = port;
    }

    /// Offload flags (`RTE_MBUF_F_*`).
    #[inline]
    pub fn ol_flags(&self) -> u64 {
        self.head().ol_flags
    }

    #[inline]
    pub fn set_ol_flags(&mut self, flags: u64) {
        self.head_mut().ol_flags = flags;
    }

    /// The RSS hash the driver computed, if it set [`RX_RSS_HASH`].
    #[inline]
    pub fn rss_hash(&self) -> Option<u32> {
        let head = self.head();
        // SAFETY: hash.rss is a plain u32 view of the hash union; every bit pattern is valid.
        let rss = unsafe { head.__bindgen_anon_2.hash.rss };
        (head.ol_flags & RX_RSS_HASH != 0).then_some(rss)
    }

    /// Stores a (software) RSS hash and marks it valid, as a driver would.
    #[inline]
    pub fn set_rss_hash(&mut self, hash: u32) {
        let head = self.head_mut();
        head.__bindgen_anon_2.hash.rss = hash;
        head.ol_flags |= RX_RSS_HASH;
    }

    /// Grows the packet by `n` bytes at the front and returns them, or `None` if the headroom is
    /// shorter (as `rte_pktmbuf_prepend`).
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let n16 = u16::try_from(n).ok()?;
        let head = self.head_mut();
        if n16 > head.data_off {
            return None;
        }
        head.data_off -= n16;
        head.data_len += n16;
        head.pkt_len += u32::from(n16);
        Some(&mut self[..n])
    }

    /// Grows the packet by `n` bytes at the end of its last segment and returns them, or `None` if
    /// the tailroom is shorter (as `rte_pktmbuf_append`).
    #[inline]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let n16 = u16::try_from(n).ok()?;
        let (head, last) = (self.0.as_ptr(), last_segment_ptr(self.0));
        // SAFETY: head and last (possibly the same segment) belong to the chain self owns
        // exclusively; they are accessed through raw places only, so no two &mut overlap. The
        // returned range [start, start + n) lies inside last's buffer (n <= tailroom) and is
        // borrowed from &mut self.
        unsafe {
            if n > tailroom(&*last) {
                return None;
            }
            let start = usize::from((*last).data_off) + usize::from((*last).data_len);
            (*last).data_len += n16;
            (*head).pkt_len += u32::from(n16);
            Some(std::slice::from_raw_parts_mut((*last).buf_addr.cast::<u8>().add(start), n))
        }
    }

    /// Removes `n` bytes from the front; false if the first segment is shorter (as
    /// `rte_pktmbuf_adj`).
    #[inline]
    pub fn adj(&mut self, n: usize) -> bool {
        let head = self.head_mut();
        let Ok(n16) = u16::try_from(n) else { return false };
        if n16 > head.data_len {
            return false;
        }
        head.data_len -= n16;
        head.data_off += n16;
        head.pkt_len -= u32::from(n16);
        true
    }

    /// Removes `n` bytes from the end; false if the last segment is shorter (as
    /// `rte_pktmbuf_trim`).
    #[inline]
    pub fn trim(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else { return false };
        let (head, last) = (self.0.as_ptr(), last_segment_ptr(self.0));
        // SAFETY: as in append: segments of our chain, reached through raw places only.
        unsafe {
            if n16 > (*last).data_len {
                return false;
            }
            (*last).data_len -= n16;
            (*head).pkt_len -= u32::from(n16);
        }
        true
    }
}

#[inline]
fn tailroom(seg: &sys::rte_mbuf) -> usize {
    usize::from(seg.buf_len) - usize::from(seg.data_off) - usize::from(seg.data_len)
}

#[inline]
fn last_segment(head: &sys::rte_mbuf) -> &sys::rte_mbuf {
    // SAFETY: last_segment_ptr returns a segment of the same chain, alive as long as head.
    unsafe { &*last_segment_ptr(NonNull::from(head)) }
}

#[inline]
fn last_segment_ptr(head: NonNull<sys::rte_mbuf>) -> *mut sys::rte_mbuf {
    let mut seg = head.as_ptr();
    // SAFETY: a valid chain's `next` pointers are valid segments, ending in NULL.
    unsafe {
        while !(*seg).next.is_null() {
            seg = (*seg).next;
        }
    }
    seg
}

impl Deref for Mbuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        let head = self.head();
        // SAFETY: buf_addr + data_off starts data_len initialised bytes inside the mbuf's buffer,
        // which self owns; the slice borrows self.
        unsafe {
            std::slice::from_raw_parts(
                head.buf_addr.cast::<u8>().add(usize::from(head.data_off)),
                usize::from(head.data_len),
            )
        }
    }
}

impl DerefMut for Mbuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let head = self.head();
        let (start, len) = (usize::from(head.data_off), usize::from(head.data_len));
        // SAFETY: as in deref; the buffer is not shared (refcount 1) and the slice borrows self
        // mutably, so the write access is exclusive.
        unsafe { std::slice::from_raw_parts_mut(head.buf_addr.cast::<u8>().add(start), len) }
    }
}

impl AsRef<[u8]> for Mbuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for Mbuf {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: self owns the mbuf; it is freed once, here.
        unsafe { sys::vsd_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("len", &self.len())
            .field("pkt_len", &self.pkt_len())
            .field("nb_segs", &self.nb_segs())
            .field("port", &self.port())
            .field("ol_flags", &format_args!("{:#x}", self.ol_flags()))
            .finish()
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch(p: *const u8) {
    use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: PREFETCHT0 is a hint: it never faults and has no architectural effect, whatever the
    // address. SSE is part of the x86_64 baseline.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn prefetch(_p: *const u8) {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An mbuf header and buffer in ordinary memory, laid out as a pool would, so the field logic
    /// can be tested without EAL. Never dropped through `Mbuf` (it belongs to no pool).
    pub(crate) struct FakeSeg {
        pub head: Box<sys::rte_mbuf>,
        _buf: Vec<u8>,
    }

    impl FakeSeg {
        pub fn new(buf_len: u16, data_off: u16, data: &[u8]) -> FakeSeg {
            let mut buf = vec![0u8; usize::from(buf_len)];
            let start = usize::from(data_off);
            buf[start..start + data.len()].copy_from_slice(data);
            let mut head: Box<sys::rte_mbuf> = Box::default();
            head.buf_addr = buf.as_mut_ptr().cast();
            head.buf_len = buf_len;
            head.data_off = data_off;
            head.data_len = u16::try_from(data.len()).unwrap();
            head.pkt_len = u32::from(head.data_len);
            head.nb_segs = 1;
            head.refcnt = 1;
            FakeSeg { head, _buf: buf }
        }

        /// Views the fake as an `Mbuf`; `f` must not drop it (the caller forgets it afterwards).
        pub fn with<R>(&mut self, f: impl FnOnce(&mut Mbuf) -> R) -> R {
            // SAFETY: the header and buffer are valid for the closure and used by nothing else;
            // the Mbuf is forgotten below, so it never reaches rte_pktmbuf_free.
            let mut m = unsafe { Mbuf::from_raw(NonNull::from(&mut *self.head)) };
            let r = f(&mut m);
            let _ = m.into_raw();
            r
        }
    }

    #[test]
    fn deref_is_the_first_segment_data() {
        let mut seg = FakeSeg::new(256, 128, b"hello");
        seg.with(|m| {
            assert_eq!(&m[..], b"hello");
            assert_eq!((m.len(), m.pkt_len(), m.headroom(), m.tailroom()), (5, 5, 128, 123));
            m[0] = b'j';
            assert_eq!(&m[..], b"jello");
        });
    }

    #[test]
    fn prepend_and_adj_move_the_front() {
        let mut seg = FakeSeg::new(256, 128, b"payload");
        seg.with(|m| {
            m.prepend(4).expect("headroom 128").copy_from_slice(b"HDR:");
            assert_eq!(&m[..], b"HDR:payload");
            assert_eq!((m.headroom(), m.pkt_len()), (124, 11));
            assert!(m.prepend(125).is_none(), "only 124 bytes of headroom left");
            assert!(m.adj(4));
            assert_eq!(&m[..], b"payload");
            assert!(!m.adj(8), "cannot remove more than the data");
            assert_eq!(&m[..], b"payload");
        });
    }

    #[test]
    fn append_and_trim_move_the_end() {
        let mut seg = FakeSeg::new(140, 128, b"abc");
        seg.with(|m| {
            assert_eq!(m.tailroom(), 9);
            m.append(2).expect("tailroom 9").copy_from_slice(b"de");
            assert_eq!(&m[..], b"abcde");
            assert!(m.append(8).is_none(), "7 bytes of tailroom left");
            assert!(m.trim(3));
            assert_eq!(&m[..], b"ab");
            assert!(!m.trim(3));
            assert_eq!(m.pkt_len(), 2);
        });
    }

    #[test]
    fn chain_ends_grow_at_the_last_segment() {
        let mut tail = FakeSeg::new(64, 0, b"world");
        let mut head = FakeSeg::new(64, 16, b"hello ");
        head.head.next = &mut *tail.head;
        head.head.nb_segs = 2;
        head.head.pkt_len = 11;
        head.with(|m| {
            assert!(!m.is_contiguous());
            assert_eq!(&m[..], b"hello ", "the slice view is the first segment only");
            assert_eq!(m.tailroom(), 59);
            m.append(1).expect("room in the tail segment").copy_from_slice(b"!");
            assert!(m.trim(6), "trim removes from the last segment");
            assert!(!m.trim(1), "the last segment is empty now");
            assert_eq!(m.pkt_len(), 6);
        });
        assert_eq!((tail.head.data_len, head.head.data_len), (0, 6));
    }

    #[test]
    fn rss_hash_is_reported_only_when_flagged() {
        let mut seg = FakeSeg::new(128, 64, b"");
        seg.with(|m| {
            assert_eq!(m.rss_hash(), None);
            m.set_rss_hash(0x51cc_c178);
            assert_eq!(m.rss_hash(), Some(0x51cc_c178));
            m.set_ol_flags(0);
            assert_eq!(m.rss_hash(), None);
        });
    }
}
