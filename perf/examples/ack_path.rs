//! The `established` packet path without DPDK, for instruction counts under callgrind.
//!
//! Builds a worker on the perf run's config (as the benches do), opens `FLOWS` connections with a
//! SYN each, then feeds `PACKETS` ACKs in bursts of 32 through the same stages as the poll loop
//! (parse and bucket prefetch, entry prefetch, processing, end of burst). Instructions per packet
//! are the difference between two runs over their difference in packets, which cancels the setup:
//!
//! ```text
//! cargo build --release -p vsd-perf --example ack_path
//! valgrind --tool=callgrind --callgrind-out-file=a target/release/examples/ack_path 1024 32000
//! valgrind --tool=callgrind --callgrind-out-file=b target/release/examples/ack_path 1024 64000
//! callgrind_annotate a; callgrind_annotate b      # per function: (b - a) / 32000
//! ```
//!
//! See docs/PERFORMANCE.md ("Method").

#[path = "../benches/common/mod.rs"]
mod common;

use common::{shuffled, snapshot, BURST};
use vsd_dataplane::buf::VecBuf;
use vsd_dataplane::craft::{self, tcp_flags};
use vsd_dataplane::wire::ethertype;
use vsd_dataplane::worker::{Action, Prepared, Rx, Worker};
use vsd_dataplane::Instant;
use vsd_perf::profile::{self, Profile, Spec};
use vsd_perf::topology;

fn arg(n: usize, default: usize) -> usize {
    std::env::args().nth(n).map_or(default, |s| s.parse().expect("a count"))
}

fn frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8) -> Vec<u8> {
    let ip = craft::tcp_v4(src, dst, sport, dport, flags, b"");
    let mut f = craft::ethernet(topology::EXT_MAC, topology::GATEWAY_MAC, ethertype::IPV4, &ip);
    f.resize(f.len().max(profile::MIN_FRAME), 0);
    f
}

fn main() {
    let (flows, packets) = (u32::try_from(arg(1, 1024)).expect("flows fit u32"), arg(2, 100_000));
    let now = Instant::from_millis(1_000);
    let spec = Spec::new(Profile::Established, flows);
    let mut w: Worker<VecBuf> = Worker::new(0, snapshot(Profile::Established));
    for i in 0..flows {
        let (src, sport, dst, dport) = profile::flow(&spec, i);
        let syn = frame(src, sport, dst, dport, tcp_flags::SYN);
        let pre = w.prepare(&syn);
        assert!(
            matches!(w.process(now, Rx::wire(0), VecBuf::from_frame(&syn), &pre), Action::Tx(1, _)),
            "SYN {i}"
        );
        w.end_burst();
    }
    let acks: Vec<Vec<u8>> = shuffled(flows, 2)
        .into_iter()
        .map(|i| {
            let (src, sport, dst, dport) = profile::flow(&spec, i);
            frame(src, sport, dst, dport, tcp_flags::ACK)
        })
        .collect();
    let mut bufs: Vec<Option<VecBuf>> = (0..BURST).map(|_| Some(VecBuf::from_frame(&acks[0]))).collect();
    let mut prepared = [Prepared::NONE; BURST];
    let (mut at, mut sent) = (0, 0usize);
    for _ in 0..packets / BURST {
        // A fresh frame in each buffer, as the driver's copy out of the pcap gives one.
        for b in bufs.iter_mut().flatten() {
            b.as_mut().copy_from_slice(&acks[at]);
            at = (at + 1) % acks.len();
        }
        for (pre, b) in prepared.iter_mut().zip(bufs.iter().flatten()) {
            w.prefetch(b.as_ref(), pre);
        }
        for pre in &mut prepared {
            w.prefetch_entry(pre);
        }
        for (b, pre) in bufs.iter_mut().zip(&prepared) {
            let pkt = b.take().expect("every buffer comes back");
            *b = Some(match w.process(now, Rx::wire(0), pkt, pre) {
                Action::Tx(_, pkt) => {
                    sent += 1;
                    pkt
                }
                other => panic!("one worker with static neighbours forwards every ACK: {other:?}"),
            });
        }
        w.end_burst();
    }
    println!("{sent} of {} ACKs forwarded", packets / BURST * BURST);
}
