//! A `net_null` port: TX accepts and frees everything, RX makes up packets of the configured size
//! from the port's pool. Also checks that a pool running dry limits RX and is counted.

mod common;

use vsd_ffi::ethdev::rss;
use vsd_ffi::{Eal, MbufBurst, Mempool, Port, PortConf, RssConf, BURST_SIZE};

/// Size of the frames net_null makes up (its `size` devarg).
const NULL_FRAME: usize = 64;

#[test]
fn net_null_sinks_tx_and_generates_rx() {
    let vdev = format!("net_null0,size={NULL_FRAME}");
    let eal = Eal::init(&common::eal_args("net-null", "0", &[&vdev])).expect("EAL starts");
    let port = Port::by_name("net_null0").expect("the vdev exists");
    assert_eq!(port.info().unwrap().driver_name, "net_null");

    // 127 mbufs, no per-lcore cache so the counts below are exact.
    let pool = Mempool::pktmbuf("null-pool", 127, 0, vsd_ffi::mempool::DEFAULT_DATA_ROOM, None).unwrap();
    // Two RX queues spread by RSS (net_null emulates the RSS controls of a NIC).
    let info = port.info().unwrap();
    let hf = (rss::IP | rss::TCP) & info.flow_type_rss_offloads;
    assert_ne!(hf, 0, "net_null offers IP and TCP hashing");
    let conf = PortConf { rx_queues: 2, rss: Some(RssConf { hf, key: None }), ..PortConf::default() };
    port.configure(&conf, &pool).expect("configure");
    port.start().expect("start");
    port.reset_stats().unwrap();

    let reta: Vec<u16> = (0..info.reta_size).map(|i| (i % 3 == 0).into()).collect();
    port.reta_update(&reta).expect("reta update");
    assert_eq!(port.reta().unwrap(), reta);
    assert!(port.reta_update(&reta[1..]).is_err(), "the table must be given whole");
    let tcp_only = rss::TCP & info.flow_type_rss_offloads;
    port.rss_hash_update(&RssConf { hf: tcp_only, key: None }).expect("hash update");
    assert_eq!(port.rss_conf().unwrap().hf, tcp_only);
    let err = port.rss_hash_update(&RssConf { hf: 1 << 63, key: None }).unwrap_err();
    assert!(err.to_string().contains("not supported by net_null"), "{err}");

    // TX: everything is accepted and freed by the driver.
    let mut tx = MbufBurst::<16>::new();
    assert!(pool.alloc_bulk(&mut tx, 16));
    for (i, m) in (0u8..).zip(tx.iter_mut()) {
        m.append(100 + usize::from(i)).unwrap().fill(i);
    }
    assert_eq!(pool.in_use(), 16);
    assert_eq!(port.tx_burst(0, &mut tx), 16);
    assert!(tx.is_empty());
    assert_eq!(pool.in_use(), 0, "net_null freed what it sent");

    // RX: full bursts of made-up frames from our pool.
    let mut rx = MbufBurst::<BURST_SIZE>::new();
    assert_eq!(port.rx_burst(0, &mut rx), BURST_SIZE);
    assert!(rx
        .iter()
        .all(|m| m.len() == NULL_FRAME && m.pkt_len() as usize == NULL_FRAME && m.port() == port.id()));
    assert_eq!(pool.in_use() as usize, BURST_SIZE);
    let mut second_queue = MbufBurst::<4>::new();
    let second_queue_got = port.rx_burst(1, &mut second_queue);
    assert_eq!(second_queue_got, 4, "queue 1 exists and receives too");
    assert_eq!(port.rx_burst(2, &mut MbufBurst::<4>::new()), 0, "queue 2 does not");
    second_queue.clear();

    // A nearly dry pool: RX fills only what the pool can give, then nothing.
    let mut hoard = MbufBurst::<128>::new();
    let left = pool.available() as usize;
    assert!(!pool.alloc_bulk(&mut hoard, left + 1), "bulk allocation is all or nothing");
    assert!(hoard.is_empty());
    assert!(pool.alloc_bulk(&mut hoard, left - 3));
    let mut last_three = MbufBurst::<3>::new();
    assert_eq!(port.rx_burst(0, &mut last_three), 3);
    assert!(pool.alloc().is_none(), "the pool is dry");
    let mut more = MbufBurst::<BURST_SIZE>::new();
    assert_eq!(port.rx_burst(0, &mut more), 0, "no mbufs, no packets");
    let got = last_three.len();

    let stats = port.stats().unwrap();
    assert_eq!(stats.opackets, 16, "{stats:?}");
    assert_eq!(usize::try_from(stats.ipackets).unwrap(), BURST_SIZE + second_queue_got + got, "{stats:?}");

    hoard.clear();
    last_three.clear();
    rx.clear();
    assert_eq!(pool.in_use(), 0);
    port.stop().unwrap();
    port.close().unwrap();
    drop(pool);
    eal.cleanup().expect("nothing left, so EAL cleans up");
}
