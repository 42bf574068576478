//! A `net_ring` port end to end: what is sent on it comes back on its RX queue (the vdev's RX and TX
//! of one queue share a ring), so bytes, lengths, order and counters can all be checked.

mod common;

use vsd_ffi::error::Error;
use vsd_ffi::{Eal, MbufBurst, Mempool, Port, PortConf};

#[test]
fn net_ring_loops_tx_back_to_rx() {
    let eal = Eal::init(&common::eal_args("net-ring", "0", &["net_ring0"])).expect("EAL starts");
    assert!(matches!(Eal::init(&["-l", "0"]), Err(Error::AlreadyInitialised)));

    // An unknown name is reported with the ports that do exist.
    let err = Port::by_name("net_nosuch0").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::NoSuchPort { .. }), "{text}");
    assert!(
        text.contains("\"net_nosuch0\"") && text.contains("net_ring0") && text.contains("--vdev"),
        "{text}"
    );

    let port = Port::by_name("net_ring0").expect("the vdev exists");
    assert_eq!(Port::count(), 1);
    assert_eq!(Port::all(), vec![port]);
    assert_eq!(port.name().unwrap(), "net_ring0");
    let info = port.info().unwrap();
    assert_eq!(info.driver_name, "net_ring");
    assert!(info.max_rx_queues >= 1 && info.max_tx_queues >= 1, "{info:?}");

    let pool = Mempool::pktmbuf("ring-pool", 1023, 32, vsd_ffi::mempool::DEFAULT_DATA_ROOM, None).unwrap();
    let conf = PortConf { rx_desc: 256, tx_desc: 256, ..PortConf::default() };

    // Bursts before start do nothing and take nothing.
    let mut before = MbufBurst::<4>::new();
    assert!(pool.alloc_bulk(&mut before, 4));
    port.configure(&conf, &pool).expect("configure");
    assert_eq!(port.tx_burst(0, &mut before), 0, "port not started yet");
    assert_eq!(before.len(), 4, "unsent mbufs stay with the caller");
    before.clear();

    port.start().expect("start");
    port.reset_stats().unwrap();
    assert!(port.link().unwrap().up, "net_ring links are up once started");
    let _ = port.mac_addr().expect("net_ring has a MAC address");

    // Send eight frames of different lengths and contents.
    let frames: Vec<Vec<u8>> = (0..8u8).map(|i| common::test_frame(i, 60 + usize::from(i) * 97)).collect();
    let mut tx = MbufBurst::<32>::new();
    for (i, frame) in frames.iter().enumerate() {
        let mut m = pool.alloc().expect("pool has room");
        m.append(frame.len()).expect("fits one segment").copy_from_slice(frame);
        m.set_port(port.id());
        tx.push(m).unwrap_or_else(|_| panic!("burst of 32 takes frame {i}"));
    }
    let in_flight = pool.in_use();
    assert_eq!(in_flight, 8);
    assert_eq!(port.tx_burst(1, &mut tx), 0, "queue 1 does not exist");
    assert_eq!(port.tx_burst(0, &mut tx), 8);
    assert!(tx.is_empty());
    assert_eq!(pool.in_use(), 8, "the mbufs wait in the ring");

    let mut rx = MbufBurst::<32>::new();
    assert_eq!(port.rx_burst(1, &mut rx), 0, "queue 1 does not exist");
    assert_eq!(port.rx_burst(0, &mut rx), 8);
    assert_eq!(port.rx_burst(0, &mut rx), 0, "nothing more");
    for (m, frame) in rx.iter().zip(&frames) {
        assert_eq!(&m[..], &frame[..]);
        assert_eq!(m.pkt_len() as usize, frame.len());
        assert!(m.is_contiguous());
    }

    // net_ring counts packets only (its ibytes/obytes stay 0 in 22.11); byte counts are checked on
    // the received mbufs above.
    let stats = port.stats().unwrap();
    assert_eq!((stats.ipackets, stats.opackets), (8, 8), "{stats:?}");
    assert_eq!((stats.ierrors, stats.oerrors, stats.rx_nombuf), (0, 0, 0), "{stats:?}");

    // Received mbufs are ours: rewrite one and send it round again.
    let mut echoed = rx.pop().expect("eight received");
    echoed[0] = 0xee;
    let expected = echoed.to_vec();
    rx.clear();
    assert_eq!(pool.in_use(), 1);
    let mut again = MbufBurst::<1>::new();
    again.push(echoed).unwrap();
    assert_eq!(port.tx_burst(0, &mut again), 1);
    let mut back = MbufBurst::<1>::new();
    assert_eq!(port.rx_burst(0, &mut back), 1);
    assert_eq!(&back.as_slice()[0][..], &expected[..]);
    drop(back);
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");

    port.stop().unwrap();
    assert_eq!(port.rx_burst(0, &mut MbufBurst::<4>::new()), 0, "stopped ports receive nothing");
    port.close().unwrap();
    drop(pool);
    eal.cleanup().expect("nothing left, so EAL cleans up");
}
