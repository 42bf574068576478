//! Lockless rings between lcores, typed and split into producer and consumer ends.
//!
//! An `rte_ring` is single- or multi-producer and single- or multi-consumer by creation flags, and
//! using a single-producer end from two threads at once corrupts it. So the flags are types here:
//! [`new`] returns a [`Producer`] and a [`Consumer`] whose mode ([`Single`] or [`Multi`]) matches the
//! flags. A `Single` end can move to another thread but cannot be shared or cloned; a `Multi` end
//! is `Sync` and `Clone`. Control messages travel as `Box<T>`, packets as [`Mbuf`]; both are one
//! pointer, which is what the ring stores ([`RingItem`]). The ring is freed, and items still in it
//! dropped, when both ends are gone.

use std::cell::Cell;
use std::ffi::{c_uint, c_void, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::burst::MbufBurst;
use crate::eal::LiveObject;
use crate::error::{Error, Result};
use crate::mbuf::Mbuf;
use crate::sys;

/// A value that travels through a ring as one pointer.
pub trait RingItem: Send + Sized {
    fn into_ptr(self) -> *mut c_void;
    /// # Safety
    /// `ptr` came from `into_ptr` of the same type and is taken back once.
    unsafe fn from_ptr(ptr: *mut c_void) -> Self;
}

impl<T: Send> RingItem for Box<T> {
    fn into_ptr(self) -> *mut c_void {
        Box::into_raw(self).cast()
    }

    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: the caller passes back a pointer from Box::into_raw, once.
        unsafe { Box::from_raw(ptr.cast()) }
    }
}

impl RingItem for Mbuf {
    fn into_ptr(self) -> *mut c_void {
        self.into_raw().as_ptr().cast()
    }

    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: the caller passes back the pointer of an owned, non-null mbuf, once.
        unsafe { Mbuf::from_raw(NonNull::new_unchecked(ptr.cast())) }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Whether one thread or many use a ring end.
pub trait Mode: sealed::Sealed + Send + 'static {
    #[doc(hidden)]
    const SINGLE: bool;
}

/// One thread at a time uses this end (`RING_F_SP_ENQ` / `RING_F_SC_DEQ`).
#[derive(Debug)]
pub enum Single {}
/// Any number of threads use this end concurrently.
#[derive(Debug)]
pub enum Multi {}

impl sealed::Sealed for Single {}
impl sealed::Sealed for Multi {}
impl Mode for Single {
    const SINGLE: bool = true;
}
impl Mode for Multi {
    const SINGLE: bool = false;
}

struct RawRing<T: RingItem> {
    ptr: NonNull<sys::rte_ring>,
    capacity: u32,
    _live: LiveObject,
    _items: PhantomData<T>,
}

// SAFETY: the ring stores owned T (Send) and its operations are thread-safe for the mode that the
// end types enforce.
unsafe impl<T: RingItem> Send for RawRing<T> {}
// SAFETY: as above; concurrent use of one end is allowed only through Multi ends.
unsafe impl<T: RingItem> Sync for RawRing<T> {}

impl<T: RingItem> Drop for RawRing<T> {
    fn drop(&mut self) {
        let mut item = std::ptr::null_mut();
        // SAFETY: both ends are gone, so this is the only user; every pointer in the ring came from
        // T::into_ptr and is taken back once; then the ring is freed once.
        unsafe {
            while sys::vsd_ring_dequeue_burst(self.ptr.as_ptr(), &mut item, 1) == 1 {
                drop(T::from_ptr(item));
            }
            sys::rte_ring_free(self.ptr.as_ptr());
        }
    }
}

/// The enqueue end.
pub struct Producer<T: RingItem, M: Mode> {
    ring: Arc<RawRing<T>>,
    _mode: PhantomData<(M, Cell<()>)>,
}

/// The dequeue end.
pub struct Consumer<T: RingItem, M: Mode> {
    ring: Arc<RawRing<T>>,
    _mode: PhantomData<(M, Cell<()>)>,
}

// SAFETY: a Multi end may be used from many threads at once: the ring was created multi-producer
// (or multi-consumer) for it.
unsafe impl<T: RingItem> Sync for Producer<T, Multi> {}
// SAFETY: as above.
unsafe impl<T: RingItem> Sync for Consumer<T, Multi> {}

impl<T: RingItem> Clone for Producer<T, Multi> {
    fn clone(&self) -> Self {
        Producer { ring: Arc::clone(&self.ring), _mode: PhantomData }
    }
}

impl<T: RingItem> Clone for Consumer<T, Multi> {
    fn clone(&self) -> Self {
        Consumer { ring: Arc::clone(&self.ring), _mode: PhantomData }
    }
}

/// Creates a ring of exactly `size` slots on NUMA `socket` (or any), with producer mode `P` and
/// consumer mode `C`. The name must be unique in the process.
pub fn new<T: RingItem, P: Mode, C: Mode>(
    name: &str,
    size: u32,
    socket: Option<u32>,
) -> Result<(Producer<T, P>, Consumer<T, C>)> {
    let call = || format!("rte_ring_create({name:?}, {size})");
    let c_name = CString::new(name).map_err(|_| Error::invalid(call(), "NUL byte in the name"))?;
    if size == 0 || size > sys::RTE_RING_SZ_MASK {
        return Err(Error::invalid(call(), format!("size must be 1..={}", sys::RTE_RING_SZ_MASK)));
    }
    let live = LiveObject::register(call)?;
    let mut flags = sys::RING_F_EXACT_SZ;
    if P::SINGLE {
        flags |= sys::RING_F_SP_ENQ;
    }
    if C::SINGLE {
        flags |= sys::RING_F_SC_DEQ;
    }
    // A socket id beyond i32 names no socket: any will do.
    let socket = socket.and_then(|s| i32::try_from(s).ok()).unwrap_or(sys::SOCKET_ID_ANY);
    // SAFETY: EAL is running (registered above); c_name is a valid C string for the call.
    let ptr = unsafe { sys::rte_ring_create(c_name.as_ptr(), size, socket, flags) };
    let ptr = NonNull::new(ptr).ok_or_else(|| Error::last(call()))?;
    let ring = Arc::new(RawRing { ptr, capacity: size, _live: live, _items: PhantomData });
    Ok((Producer { ring: Arc::clone(&ring), _mode: PhantomData }, Consumer { ring, _mode: PhantomData }))
}

/// A single-producer, single-consumer ring (control snapshots to one worker).
pub fn spsc<T: RingItem>(name: &str, size: u32) -> Result<(Producer<T, Single>, Consumer<T, Single>)> {
    new(name, size, None)
}

/// A multi-producer, single-consumer ring (packets redirected to their owner core).
pub fn mpsc<T: RingItem>(name: &str, size: u32) -> Result<(Producer<T, Multi>, Consumer<T, Single>)> {
    new(name, size, None)
}

/// A multi-producer, multi-consumer ring.
pub fn mpmc<T: RingItem>(name: &str, size: u32) -> Result<(Producer<T, Multi>, Consumer<T, Multi>)> {
    new(name, size, None)
}

macro_rules! common_end_methods {
    () => {
        /// Items in the ring now.
        pub fn len(&self) -> usize {
            // SAFETY: the ring is alive (self holds it); the count is a racy snapshot, by design.
            unsafe { sys::vsd_ring_count(self.ring.ptr.as_ptr()) as usize }
        }

        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Free slots now.
        pub fn free(&self) -> usize {
            // SAFETY: as in len.
            unsafe { sys::vsd_ring_free_count(self.ring.ptr.as_ptr()) as usize }
        }

        /// Slots in the ring.
        pub fn capacity(&self) -> usize {
            self.ring.capacity as usize
        }
    };
}

impl<T: RingItem, M: Mode> Producer<T, M> {
    common_end_methods!();

    /// Enqueues `item`, or gives it back if the ring is full.
    pub fn enqueue(&self, item: T) -> std::result::Result<(), T> {
        let ptr = item.into_ptr();
        // SAFETY: the ring is alive; this end's mode matches its flags; ptr is one valid item.
        if unsafe { sys::vsd_ring_enqueue_burst(self.ring.ptr.as_ptr(), &ptr, 1) } == 1 {
            Ok(())
        } else {
            // SAFETY: the ring did not take ptr, so it is still the item from into_ptr above.
            Err(unsafe { T::from_ptr(ptr) })
        }
    }

    /// Enqueues as many of `items` as fit, from the front, in one call; returns how many. The ring
    /// owns those now.
    ///
    /// # Safety
    /// Each pointer came from `T::into_ptr` and is not used again if enqueued.
    pub unsafe fn enqueue_burst_raw(&self, items: &[*mut c_void]) -> usize {
        let n = c_uint::try_from(items.len()).unwrap_or(c_uint::MAX);
        // SAFETY: the caller vouches for the items; n does not exceed the slice.
        unsafe { sys::vsd_ring_enqueue_burst(self.ring.ptr.as_ptr(), items.as_ptr(), n) as usize }
    }
}

impl<M: Mode> Producer<Mbuf, M> {
    /// Enqueues the burst's mbufs in one call; those taken leave the burst, the rest stay at its
    /// front. Returns how many were enqueued.
    pub fn enqueue_burst<const N: usize>(&self, burst: &mut MbufBurst<N>) -> usize {
        let filled = burst.filled();
        #[allow(clippy::cast_possible_truncation, reason = "a burst's length, N, is a small array length")]
        let len = filled.len() as c_uint;
        // SAFETY: the filled slots are owned mbufs (RingItem pointers); the ring takes the first n.
        let n = unsafe { sys::vsd_ring_enqueue_burst(self.ring.ptr.as_ptr(), filled.as_ptr().cast(), len) }
            as usize;
        burst.consume_front(n);
        n
    }
}

impl<T: RingItem, M: Mode> Consumer<T, M> {
    common_end_methods!();

    /// Dequeues one item.
    pub fn dequeue(&self) -> Option<T> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: the ring is alive; this end's mode matches its flags; ptr has room for one.
        let n = unsafe { sys::vsd_ring_dequeue_burst(self.ring.ptr.as_ptr(), &mut ptr, 1) };
        // SAFETY: a dequeued pointer came from T::into_ptr and leaves the ring here, once.
        (n == 1).then(|| unsafe { T::from_ptr(ptr) })
    }

    /// Dequeues up to `out.len()` items in one call and returns how many; the caller owns them and
    /// takes them back with `T::from_ptr`.
    pub fn dequeue_burst_raw(&self, out: &mut [*mut c_void]) -> usize {
        let n = c_uint::try_from(out.len()).unwrap_or(c_uint::MAX);
        // SAFETY: the ring is alive; out has room for n pointers.
        unsafe { sys::vsd_ring_dequeue_burst(self.ring.ptr.as_ptr(), out.as_mut_ptr(), n) as usize }
    }
}

impl<M: Mode> Consumer<Mbuf, M> {
    /// Dequeues into the burst's free room in one call; returns how many arrived.
    pub fn dequeue_burst<const N: usize>(&self, burst: &mut MbufBurst<N>) -> usize {
        let spare = burst.spare();
        #[allow(clippy::cast_possible_truncation, reason = "a burst's length, N, is a small array length")]
        let len = spare.len() as c_uint;
        // SAFETY: spare has room for spare.len() pointers.
        let n = unsafe { sys::vsd_ring_dequeue_burst(self.ring.ptr.as_ptr(), spare.as_mut_ptr().cast(), len) }
            as usize;
        // SAFETY: the n dequeued pointers are owned mbufs that left the ring.
        unsafe { burst.commit(n) };
        n
    }
}

impl<T: RingItem, M: Mode> std::fmt::Debug for Producer<T, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("single", &M::SINGLE).field("capacity", &self.capacity()).finish()
    }
}

impl<T: RingItem, M: Mode> std::fmt::Debug for Consumer<T, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("single", &M::SINGLE).field("capacity", &self.capacity()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<X: Send>() {}
    fn assert_sync<X: Sync>() {}

    /// Compiles only for types that are not `Sync`: for a `Sync` type both impls apply and the
    /// call below is ambiguous.
    trait AmbiguousIfSync<A> {
        fn not_sync() {}
    }
    impl<X: ?Sized> AmbiguousIfSync<()> for X {}
    impl<X: ?Sized + Sync> AmbiguousIfSync<u8> for X {}

    #[test]
    fn end_types_carry_their_thread_rules() {
        assert_send::<Producer<Box<u64>, Single>>();
        assert_send::<Consumer<Mbuf, Single>>();
        assert_sync::<Producer<Mbuf, Multi>>();
        assert_sync::<Consumer<Box<u64>, Multi>>();
        <Producer<Box<u64>, Single> as AmbiguousIfSync<_>>::not_sync();
        <Consumer<Mbuf, Single> as AmbiguousIfSync<_>>::not_sync();
    }

    #[test]
    fn rings_need_a_running_eal() {
        let err = spsc::<Box<u32>>("unit", 8).unwrap_err();
        assert!(matches!(err, Error::EalNotRunning { .. }), "{err}");
        let err = spsc::<Box<u32>>("unit", 0).unwrap_err();
        assert!(err.to_string().contains("size must be"), "{err}");
    }

    #[test]
    fn box_items_round_trip_through_pointers() {
        let p = Box::new(String::from("snapshot")).into_ptr();
        // SAFETY: p came from into_ptr of a Box<String> just above.
        let back = unsafe { <Box<String> as RingItem>::from_ptr(p) };
        assert_eq!(*back, "snapshot");
    }
}
