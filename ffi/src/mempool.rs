//! Packet-buffer pools.
//!
//! A [`Mempool`] is a shared handle (`Arc`) to an `rte_pktmbuf_pool_create` pool: workers allocate
//! from it, ports keep a handle for their RX queues, and the pool is freed when the last handle goes.
//! Freeing a pool whose mbufs are still out (in a packet, a ring or a NIC queue) would leave those
//! pointers dangling, so the pool is freed only if every mbuf is back; otherwise it is deliberately
//! leaked, and keeps EAL from shutting down under the mbufs (see `eal`).

use std::ffi::{c_uint, CString};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::burst::MbufBurst;
use crate::eal::LiveObject;
use crate::error::{Error, Result};
use crate::mbuf::Mbuf;
use crate::sys;

/// Default data room of a pktmbuf: 2048 bytes of frame plus `RTE_PKTMBUF_HEADROOM` (rte_mbuf_core.h).
#[allow(clippy::cast_possible_truncation, reason = "2048 + 128 bytes")]
pub const DEFAULT_DATA_ROOM: u16 = sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;
/// Headroom DPDK leaves before received data, room for encapsulation headers (rte_config.h).
#[allow(clippy::cast_possible_truncation, reason = "128 bytes")]
pub const HEADROOM: u16 = sys::RTE_PKTMBUF_HEADROOM as u16;
/// The largest per-lcore cache `rte_mempool_create` accepts (rte_mempool.h).
pub const CACHE_MAX: u32 = sys::RTE_MEMPOOL_CACHE_MAX_SIZE;

/// A shared handle to a pktmbuf pool.
#[derive(Clone, Debug)]
pub struct Mempool {
    inner: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    ptr: NonNull<sys::rte_mempool>,
    name: String,
    live: Option<LiveObject>,
}

// SAFETY: the default ring_mp_mc pool ops are multi-producer/multi-consumer, and the per-lcore
// caches are used only by the EAL thread that owns each lcore id (non-EAL threads bypass them).
unsafe impl Send for Pool {}
// SAFETY: as for Send; every operation through &Pool is thread-safe in DPDK.
unsafe impl Sync for Pool {}

impl Mempool {
    /// Creates a pool of `n` mbufs with a per-lcore cache of `cache` (at most [`CACHE_MAX`]) and
    /// `data_room` bytes of buffer each (headroom included; [`DEFAULT_DATA_ROOM`] is customary), on
    /// NUMA `socket` or any socket. DPDK advises `n = 2^q - 1`.
    pub fn pktmbuf(name: &str, n: u32, cache: u32, data_room: u16, socket: Option<u32>) -> Result<Mempool> {
        let call =
            || format!("rte_pktmbuf_pool_create({name:?}, n={n}, cache={cache}, data_room={data_room})");
        let c_name = CString::new(name).map_err(|_| Error::invalid(call(), "NUL byte in the name"))?;
        if cache > CACHE_MAX {
            return Err(Error::invalid(call(), format!("cache larger than {CACHE_MAX}")));
        }
        if data_room < HEADROOM {
            return Err(Error::invalid(call(), format!("data room below the {HEADROOM}-byte headroom")));
        }
        let live = LiveObject::register(call)?;
        // A socket id beyond i32 names no socket: any will do.
        let socket = socket.and_then(|s| i32::try_from(s).ok()).unwrap_or(sys::SOCKET_ID_ANY);
        // SAFETY: EAL is running (registered above); c_name is a valid C string for the call.
        let ptr = unsafe { sys::rte_pktmbuf_pool_create(c_name.as_ptr(), n, cache, 0, data_room, socket) };
        let ptr = NonNull::new(ptr).ok_or_else(|| Error::last(call()))?;
        Ok(Mempool { inner: Arc::new(Pool { ptr, name: name.to_owned(), live: Some(live) }) })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Takes one mbuf (empty, default headroom), or `None` if the pool is exhausted.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is alive for the call (self holds it).
        let m = unsafe { sys::vsd_pktmbuf_alloc(self.as_ptr()) };
        // SAFETY: a freshly allocated mbuf is owned by the caller alone, refcount 1, direct.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Appends `n` fresh mbufs to `burst` in one call: all or none (false if the pool has fewer, or
    /// the burst lacks room).
    #[inline]
    pub fn alloc_bulk<const N: usize>(&self, burst: &mut MbufBurst<N>, n: usize) -> bool {
        let spare = burst.spare();
        if n > spare.len() {
            return false;
        }
        #[allow(
            clippy::cast_possible_truncation,
            reason = "n is at most the burst's length N, a small array length"
        )]
        let count = n as c_uint;
        // SAFETY: spare has room for n pointers; the pool is alive.
        let ret = unsafe { sys::vsd_pktmbuf_alloc_bulk(self.as_ptr(), spare.as_mut_ptr(), count) };
        if ret != 0 {
            return false;
        }
        // SAFETY: on success DPDK wrote n fresh, owned mbufs into the spare slots.
        unsafe { burst.commit(n) };
        true
    }

    /// Mbufs free in the pool, per-lcore caches included.
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Mbufs out of the pool (in packets, rings or NIC queues).
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_in_use_count(self.as_ptr()) }
    }

    /// The raw pool, alive while `self` is.
    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.inner.ptr.as_ptr()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let live = self.live.take().expect("registered at creation");
        // SAFETY: the pool is alive; no other handle exists (this is the last Arc).
        if unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) } != 0 {
            // Mbufs are still out: leak the pool and keep EAL up for them.
            live.pin();
            return;
        }
        // SAFETY: no handle and no mbuf refers to the pool any more; it is freed once, here.
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) };
        drop(live);
    }
}
