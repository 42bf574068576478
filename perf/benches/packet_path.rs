//! The per-packet path without DPDK: parsing, classification (VIP:port → service), the NAT
//! checksum update, and the whole sans-IO worker on an established connection.
//!
//! The worker bench is the perf run's `established` profile minus the drivers: the same frames,
//! the same vsd config (built by vsd's own parser and snapshot builder), one buffer refilled per
//! packet as `net_pcap` refills an mbuf. Its per-packet time against the perf run's tells how much
//! of vsd's cost is the dataplane and how much the DPDK side.

mod common;

use common::{shuffled, snapshot};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use vsd_dataplane::buf::VecBuf;
use vsd_dataplane::craft::{self, tcp_flags};
use vsd_dataplane::wire::{checksum, ethertype, parse_frame, TcpPacket};
use vsd_dataplane::worker::{Action, Rx, Worker};
use vsd_dataplane::{Addr, Instant, Proto};
use vsd_perf::profile::{self, Profile, Spec};
use vsd_perf::topology::{self, VIP, VPORT};

fn frame(flags: u8, payload: &[u8]) -> Vec<u8> {
    let ip = craft::tcp_v4(topology::client(0), VIP, 40_000, VPORT, flags, payload);
    let mut f = craft::ethernet(topology::EXT_MAC, topology::GATEWAY_MAC, ethertype::IPV4, &ip);
    f.resize(f.len().max(profile::MIN_FRAME), 0);
    f
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_frame");
    g.throughput(Throughput::Elements(1));
    for (name, f) in
        [("tcp_ack_64", frame(tcp_flags::ACK, b"")), ("tcp_1514", frame(tcp_flags::ACK, &[0; 1460]))]
    {
        assert!(parse_frame(&f).is_ok());
        g.bench_function(name, |b| b.iter(|| black_box(parse_frame(black_box(&f)))));
    }
    g.finish();
}

fn classify(c: &mut Criterion) {
    let snap = snapshot(Profile::Persist);
    let vip = Addr::from_v4(VIP);
    let persist = Addr::from_v4(topology::VIP_PERSIST);
    assert!(snap.service_for(Proto::Tcp, vip, VPORT).is_some());
    assert!(snap.service_for(Proto::Tcp, persist, 4242).is_some(), "port-0 service matches any port");
    assert!(snap.service_for(Proto::Tcp, vip, 81).is_none());
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("vip_port_hit", |b| {
        b.iter(|| black_box(snap.service_for(Proto::Tcp, black_box(vip), VPORT)))
    });
    g.bench_function("port0_fallback", |b| {
        b.iter(|| black_box(snap.service_for(Proto::Tcp, black_box(persist), 4242)))
    });
    g.bench_function("miss", |b| b.iter(|| black_box(snap.service_for(Proto::Tcp, black_box(vip), 81))));
    g.finish();
}

fn checksums(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Elements(1));
    let (old, new) = (Addr::from_v4(VIP), Addr::from_v4(topology::real_server(0).0));
    // The NAT rewrite of a TCP header: destination address and port, RFC 1624 eqn. 3.
    g.bench_function("incremental_addr_port", |b| {
        b.iter(|| {
            let hc = checksum::update_addr(black_box(0x1c46), &old, &new);
            black_box(checksum::update16(hc, VPORT, topology::RS_PORT))
        })
    });
    // What the incremental update avoids: the whole segment again, pseudo-header included.
    for payload in [0usize, 1460] {
        let ip = craft::tcp_v4(topology::client(0), VIP, 40_000, VPORT, tcp_flags::ACK, &vec![0xa5; payload]);
        let mut seg = ip[20..].to_vec();
        let src = Addr::from_v4(topology::client(0));
        g.bench_with_input(BenchmarkId::new("full", 20 + payload), &payload, |b, _| {
            b.iter(|| {
                TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(&src, &new);
                black_box(seg[16])
            })
        });
    }
    g.finish();
}

/// The whole worker on ACKs of established connections, `n` of them live, in shuffled order.
fn worker(c: &mut Criterion) {
    let mut g = c.benchmark_group("worker_established_ack");
    g.throughput(Throughput::Elements(1));
    let now = Instant::from_millis(1_000);
    for n in [1u32 << 10, 1 << 16, 1 << 20] {
        let spec = Spec::new(Profile::Established, n);
        let mut w: Worker<VecBuf> = Worker::new(0, snapshot(Profile::Established));
        for i in 0..n {
            let (src, sport, dst, dport) = profile::flow(&spec, i);
            let syn = craft::ethernet(
                topology::EXT_MAC,
                topology::GATEWAY_MAC,
                ethertype::IPV4,
                &craft::tcp_v4(src, dst, sport, dport, tcp_flags::SYN, b""),
            );
            let pre = w.prepare(&syn);
            let act = w.process(now, Rx::wire(0), VecBuf::from_frame(&syn), &pre);
            w.end_burst();
            match act {
                Action::Tx(1, _) => {}
                other => panic!("SYN {i} not forwarded to int: {other:?}"),
            }
        }
        assert_eq!(w.conns().len(), n as usize);
        // The ACKs as one flat array of 60-byte frames, as the pcap's mbufs hold them.
        let order = shuffled(n, 2);
        let mut acks = Vec::with_capacity(n as usize * profile::MIN_FRAME);
        for &i in &order {
            let (src, sport, dst, dport) = profile::flow(&spec, i);
            let ip = craft::tcp_v4(src, dst, sport, dport, tcp_flags::ACK, b"");
            let mut f = craft::ethernet(topology::EXT_MAC, topology::GATEWAY_MAC, ethertype::IPV4, &ip);
            f.resize(profile::MIN_FRAME, 0);
            acks.extend_from_slice(&f);
        }
        // One buffer goes round, refilled per packet; taking it out of the Option never allocates.
        let mut slot = Some(VecBuf::from_frame(&acks[..profile::MIN_FRAME]));
        let mut at = 0usize;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let mut pkt = slot.take().expect("the buffer comes back");
                pkt.as_mut().copy_from_slice(&acks[at..at + profile::MIN_FRAME]);
                at = (at + profile::MIN_FRAME) % acks.len();
                let pre = w.prepare(pkt.as_ref());
                let act = w.process(now, Rx::wire(0), pkt, &pre);
                w.end_burst();
                slot = Some(match act {
                    Action::Tx(_, b) | Action::Free(b) => b,
                    other => panic!("one worker with static neighbours forwards every ACK: {other:?}"),
                });
            })
        });
        assert_eq!(w.conns().len(), n as usize, "ACKs create nothing");
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = parse, classify, checksums, worker
}
criterion_main!(benches);
