//! Rings between lcores and closures launched on a worker lcore (`-l 0-1`): the worker gets numbers
//! and packets over rings, answers over rings, and its return value comes back through EAL.

mod common;

use std::sync::Arc;

use vsd_ffi::lcore::PANICKED;
use vsd_ffi::ring::{self, Multi, Single};
use vsd_ffi::{current_lcore, Eal, Mbuf, MbufBurst, Mempool};

#[test]
fn worker_lcore_talks_over_rings() {
    let eal = Eal::init(&common::eal_args("ring-launch", "0-1", &[])).expect("EAL starts");
    let main = eal.main_lcore();
    assert_eq!(main.id(), 0);
    assert_eq!(current_lcore(), Some(main));
    let workers: Vec<_> = eal.workers().collect();
    assert_eq!(workers.iter().map(|l| l.id()).collect::<Vec<_>>(), [1]);
    let worker = workers[0];
    assert_eq!(eal.lcore(1), Some(worker));
    assert_eq!(eal.lcore(2), None, "not in -l");
    assert_eq!(eal.lcore_count(), 2);
    assert!(eal.tsc_hz() > 0);

    // Boxed values: a fixed capacity, and a full ring hands the value back.
    let (tx, rx) = ring::spsc::<Box<u64>>("numbers", 4).unwrap();
    assert_eq!(tx.capacity(), 4);
    for n in 1..=4 {
        tx.enqueue(Box::new(n)).expect("room for 4");
    }
    assert_eq!(*tx.enqueue(Box::new(5)).unwrap_err(), 5, "full ring returns the item");
    assert_eq!((rx.len(), rx.free()), (4, 0));

    // The worker sums what it receives and answers with the sum; it returns its lcore id.
    let (answer_tx, answer_rx) = ring::new::<Box<u64>, Single, Single>("answers", 1, None).unwrap();
    eal.launch(worker, move || {
        let mut sum = 0;
        for _ in 0..4 {
            sum += *rx.dequeue().expect("four queued before launch");
        }
        answer_tx.enqueue(Box::new(sum)).expect("answer ring has room");
        current_lcore().map_or(-1, |l| i32::try_from(l.id()).unwrap())
    })
    .expect("worker idle");
    assert_eq!(eal.wait_lcore(worker), 1, "the job ran on lcore 1");
    assert_eq!(*answer_rx.dequeue().expect("worker answered"), 10);

    // A busy worker refuses a second job, and the refused closure is dropped, not leaked.
    let (go_tx, go_rx) = ring::spsc::<Box<()>>("go", 1).unwrap();
    eal.launch(worker, move || {
        while go_rx.dequeue().is_none() {
            std::hint::spin_loop();
        }
        7
    })
    .unwrap();
    let witness = Arc::new(());
    let held = Arc::clone(&witness);
    let err = eal.launch(worker, move || i32::from(Arc::strong_count(&held) > 0)).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
    assert_eq!(Arc::strong_count(&witness), 1, "the refused closure was dropped");
    go_tx.enqueue(Box::new(())).unwrap();
    assert_eq!(eal.wait_lcore(worker), 7);
    assert!(eal.launch(main, || 0).is_err(), "the main lcore cannot be launched on");

    // A panic on the worker comes back as PANICKED and leaves the worker usable.
    eal.launch(worker, || panic!("worker bug")).unwrap();
    assert_eq!(eal.wait_lcore(worker), PANICKED);

    // Packets: the worker prepends a tag to each and sends the burst back.
    let pool = Mempool::pktmbuf("ring-pkts", 255, 0, vsd_ffi::mempool::DEFAULT_DATA_ROOM, None).unwrap();
    let (to_worker, from_main) = ring::mpsc::<Mbuf>("to-worker", 64).unwrap();
    let (to_main, from_worker) = ring::spsc::<Mbuf>("to-main", 64).unwrap();
    let mut out = MbufBurst::<8>::new();
    let frames: Vec<Vec<u8>> = (0..8u8).map(|i| common::test_frame(i, 64 + usize::from(i))).collect();
    for frame in &frames {
        let mut m = pool.alloc().unwrap();
        m.append(frame.len()).unwrap().copy_from_slice(frame);
        out.push(m).unwrap();
    }
    let producer2 = to_worker.clone();
    assert_eq!(to_worker.enqueue_burst(&mut out), 8);
    assert!(out.is_empty());
    assert_eq!(producer2.len(), 8, "clones of a Multi end share the ring");
    eal.launch(worker, move || {
        let mut burst = MbufBurst::<16>::new();
        let n = from_main.dequeue_burst(&mut burst);
        for m in burst.iter_mut() {
            m.prepend(2).expect("headroom").copy_from_slice(b"W1");
        }
        to_main.enqueue_burst(&mut burst);
        i32::try_from(n).unwrap()
    })
    .unwrap();
    assert_eq!(eal.wait_lcore(worker), 8);
    let mut back = MbufBurst::<8>::new();
    assert_eq!(from_worker.dequeue_burst(&mut back), 8);
    for (m, frame) in back.iter().zip(&frames) {
        assert_eq!(&m[..2], b"W1");
        assert_eq!(&m[2..], &frame[..]);
    }
    back.clear();

    // Items still in a ring are dropped with it.
    let witness = Arc::new(());
    let (keep_tx, keep_rx) = ring::mpmc::<Box<Arc<()>>>("leftovers", 8).unwrap();
    for _ in 0..3 {
        keep_tx.enqueue(Box::new(Arc::clone(&witness))).unwrap();
    }
    let multi_consumer: ring::Consumer<_, Multi> = keep_rx.clone();
    assert_eq!(Arc::strong_count(&witness), 4);
    drop((keep_tx, keep_rx, multi_consumer));
    assert_eq!(Arc::strong_count(&witness), 1);

    drop((to_worker, producer2, from_worker, go_tx, tx, answer_rx));
    assert_eq!(pool.in_use(), 0);
    drop(pool);
    eal.cleanup().expect("nothing left, so EAL cleans up");
}
