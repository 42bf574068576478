//! Mbufs from a real pool: the Rust `prepend`/`append`/`adj`/`trim` agree with DPDK's own
//! (called through the shim) on twin mbufs, and a pool dropped with mbufs still out is kept alive,
//! together with EAL, so those mbufs stay valid.

mod common;

use std::ptr::NonNull;

use vsd_ffi::{sys, Eal, Mbuf, MbufBurst, Mempool};

/// One edit, applied by Rust on one mbuf and by DPDK on its twin.
#[derive(Clone, Copy, Debug)]
enum Edit {
    Prepend(u16),
    Append(u16),
    Adj(u16),
    Trim(u16),
}

fn apply_rust(m: &mut Mbuf, edit: Edit) -> bool {
    match edit {
        Edit::Prepend(n) => m.prepend(usize::from(n)).is_some(),
        Edit::Append(n) => m.append(usize::from(n)).is_some(),
        Edit::Adj(n) => m.adj(usize::from(n)),
        Edit::Trim(n) => m.trim(usize::from(n)),
    }
}

fn apply_dpdk(m: &mut Mbuf, edit: Edit) -> bool {
    let p = m.as_ptr();
    // SAFETY: p is a valid mbuf owned by m, which is borrowed mutably for the call.
    unsafe {
        match edit {
            Edit::Prepend(n) => !sys::vsd_pktmbuf_prepend(p, n).is_null(),
            Edit::Append(n) => !sys::vsd_pktmbuf_append(p, n).is_null(),
            Edit::Adj(n) => !sys::vsd_pktmbuf_adj(p, n).is_null(),
            Edit::Trim(n) => sys::vsd_pktmbuf_trim(p, n) == 0,
        }
    }
}

fn layout(m: &Mbuf) -> (usize, usize, u32, usize) {
    (m.headroom(), m.len(), m.pkt_len(), m.tailroom())
}

#[test]
fn mbuf_edits_match_dpdk_and_pools_outlive_their_mbufs() {
    let eal = Eal::init(&common::eal_args("mbuf", "0", &[])).expect("EAL starts");
    let pool = Mempool::pktmbuf("edit-pool", 63, 0, vsd_ffi::mempool::DEFAULT_DATA_ROOM, None).unwrap();
    assert_eq!(pool.name(), "edit-pool");

    let (mut ours, mut theirs) = (pool.alloc().unwrap(), pool.alloc().unwrap());
    assert_eq!(layout(&ours), (usize::from(vsd_ffi::mempool::HEADROOM), 0, 0, 2048));
    let edits = [
        Edit::Append(1500),
        Edit::Prepend(14),
        Edit::Prepend(200),
        Edit::Adj(34),
        Edit::Trim(1000),
        Edit::Trim(1000),
        Edit::Append(600),
        Edit::Append(2000),
        Edit::Adj(2000),
        Edit::Prepend(148),
        Edit::Prepend(1),
        Edit::Trim(1114),
        Edit::Adj(0),
    ];
    for edit in edits {
        let (a, b) = (apply_rust(&mut ours, edit), apply_dpdk(&mut theirs, edit));
        assert_eq!(a, b, "{edit:?} succeeded differently");
        assert_eq!(layout(&ours), layout(&theirs), "after {edit:?}");
    }
    assert_eq!(ours.headroom(), 0, "the edits used up the headroom exactly");

    // into_raw/from_raw hand ownership over and back without freeing.
    let raw = ours.into_raw();
    assert_eq!(pool.in_use(), 2);
    // SAFETY: raw came from into_raw just above and nothing else owns it.
    let ours = unsafe { Mbuf::from_raw(NonNull::new(raw.as_ptr()).unwrap()) };
    drop((ours, theirs));
    assert_eq!(pool.in_use(), 0);

    // A pool dropped while an mbuf is out is leaked, not freed, and EAL stays up for that mbuf.
    let mut out = MbufBurst::<2>::new();
    assert!(pool.alloc_bulk(&mut out, 2));
    out.as_mut_slice()[1].append(4).unwrap().copy_from_slice(b"live");
    let survivor = out.pop().unwrap();
    drop(out);
    drop(pool);
    let err = eal.cleanup().unwrap_err();
    assert!(err.to_string().contains("skipped: 1 mempool"), "{err}");
    assert!(!Eal::is_running());
    assert!(Mempool::pktmbuf("late", 63, 0, 2176, None).is_err(), "no new pools after shutdown");
    assert_eq!(&survivor[..], b"live", "the mbuf of the leaked pool is still valid");
    drop(survivor);
}
