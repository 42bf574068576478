//! Stats on demand: per service and real server, per port, per worker.
//!
//! The layout follows `ipvsadm -L -n --stats` so that an LVS operator reads it at a glance, with
//! ActiveConn/InActConn beside the totals. Counters are single-writer per core; this sums the
//! cores with relaxed loads at render time.

use crate::state::{DestState, DestTotals};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;
use vsd_dataplane::service::Snapshot;
use vsd_dataplane::stats::{DestStats, DropReason, WorkerStats};
use vsd_dataplane::wire::ParseError;
use vsd_ffi::Port;

pub struct Report {
    snap: Arc<Snapshot>,
    ports: Vec<Port>,
    /// (interface name, steering mode) per port.
    port_names: Vec<(String, String)>,
    workers: Vec<Arc<WorkerStats>>,
    dests: Vec<Arc<[DestStats]>>,
    started: Instant,
}

impl Report {
    pub fn new(snap: Arc<Snapshot>, ports: Vec<Port>, port_names: Vec<(String, String)>) -> Report {
        Report { snap, ports, port_names, workers: Vec::new(), dests: Vec::new(), started: Instant::now() }
    }

    /// The snapshot the listings describe, after a switch.
    pub fn set_snapshot(&mut self, snap: Arc<Snapshot>) {
        self.snap = snap;
    }

    pub fn add_worker(&mut self, w: Arc<WorkerStats>, d: Arc<[DestStats]>) {
        self.workers.push(w);
        self.dests.push(d);
    }

    /// Worker `worker` counts per real server in `d` from now on (a reload added servers).
    pub fn replace_dest_stats(&mut self, worker: usize, d: Arc<[DestStats]>) {
        if let Some(x) = self.dests.get_mut(worker) {
            *x = d;
        }
    }

    pub fn dest_totals(&self, dest: usize) -> DestTotals {
        DestTotals::sum(self.dests.iter().filter_map(|core| core.get(dest)))
    }

    pub fn render(&self, state: &[DestState]) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "-- vsd stats, uptime {:.1}s", self.started.elapsed().as_secs_f64());
        let _ = writeln!(
            o,
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port      Forward Weight PersistConn \
             ActiveConn InActConn Conns   InPkts  OutPkts  InBytes OutBytes"
        );
        for (_, s) in self.snap.live_services() {
            for vip in &s.vips {
                for port in &s.ports {
                    let flags = match s.persistence {
                        Some(p) if p.netmask < 32 => {
                            format!(" persistent {} mask {}", p.timeout.as_secs(), p.netmask)
                        }
                        Some(p) => format!(" persistent {}", p.timeout.as_secs()),
                        None => String::new(),
                    };
                    let _ = writeln!(o, "{:<4} {}:{} {}{flags}", s.proto.name(), vip, port, s.sched.name());
                }
            }
            for di in s.dests.iter().map(|&d| d as usize).filter(|&d| state[d].present) {
                let d = &self.snap.dests[di];
                let t = self.dest_totals(di);
                let rs = format!("{}:{}", d.addr, d.port);
                let _ = writeln!(
                    o,
                    "  -> {rs:<24} {:<7} {:<6} {:<11} {:<10} {:<9} {:<7} {:<8} {:<8} {:<8} {}",
                    s.fwd.name(),
                    state[di].weight,
                    t.persistent,
                    t.active,
                    t.inactive,
                    t.conns,
                    t.in_packets,
                    t.out_packets,
                    t.in_bytes,
                    t.out_bytes
                );
            }
        }
        for (port, (name, steering)) in self.ports.iter().zip(&self.port_names) {
            match port.stats() {
                Ok(st) => {
                    let _ = writeln!(
                        o,
                        "port {name}: rx {} pkts {} bytes, tx {} pkts {} bytes, drops {} (missed {}, rx errors {}, \
                         tx errors {}, no mbuf {}), steering: {steering}",
                        st.ipackets,
                        st.ibytes,
                        st.opackets,
                        st.obytes,
                        st.imissed + st.ierrors + st.oerrors + st.rx_nombuf,
                        st.imissed,
                        st.ierrors,
                        st.oerrors,
                        st.rx_nombuf
                    );
                }
                Err(e) => {
                    let _ = writeln!(o, "port {name}: stats unavailable: {e}");
                }
            }
        }
        for (i, w) in self.workers.iter().enumerate() {
            let _ = writeln!(
                o,
                "worker {i}: rx {} pkts, tx {} pkts, redirected out {} in {}, conns created {} expired {}, \
                 templates created {} expired {}, arp replies {} requests {}, echo replies {}, \
                 tunnelled {}, icmp errors sent {} forwarded {}, drops {}",
                w.rx_packets.get(),
                w.tx_packets.get(),
                w.redirected_out.get(),
                w.redirected_in.get(),
                w.conns_created.get(),
                w.conns_expired.get(),
                w.templates_created.get(),
                w.templates_expired.get(),
                w.arp_replies.get(),
                w.arp_requests.get(),
                w.icmp_echo_replies.get(),
                w.tunnel_packets.get(),
                w.icmp_errors_sent.get(),
                w.icmp_errors_forwarded.get(),
                w.total_drops()
            );
            let mut reasons = String::new();
            for r in DropReason::ALL {
                let n = w.drops[*r as usize].get();
                if n > 0 {
                    let _ = write!(reasons, " {}={n}", r.name());
                }
            }
            for e in ParseError::ALL.iter().copied() {
                let n = w.parse_errors[e as usize].get();
                if n > 0 {
                    let _ = write!(reasons, " parse_{}={n}", e.name());
                }
            }
            if !reasons.is_empty() {
                let _ = writeln!(o, "worker {i} drops:{reasons}");
            }
        }
        o.push_str("-- end of stats");
        o
    }
}
