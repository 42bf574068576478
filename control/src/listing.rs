//! ipvsadm-formatted listings, so that operators' scripts and habits carry over.
//!
//! Each function renders one of `ipvsadm -L -n`'s views from the running snapshot, the control
//! thread's view of weights and membership, and per-core counters summed across workers. Column
//! layouts follow ipvsadm 1.31's `print_service_entry` / `print_conn`.

use crate::report::DestTotals;
use std::fmt::Write;
use std::time::Duration;
use vsd_dataplane::conn::{Conn, Timeouts};
use vsd_dataplane::service::{Service, Snapshot};
use vsd_dataplane::Instant;

/// The control thread's view of one real server: its weight now, and whether it is in its service
/// (a server removed at runtime stays in the snapshot, marked absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestState {
    pub weight: u32,
    pub present: bool,
}

/// What a listing shows per server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// `-L -n`: Forward Weight ActiveConn InActConn.
    Plain,
    /// `--stats`: Conns InPkts OutPkts InBytes OutBytes.
    Stats,
    /// `--persistent-conn`: Weight PersistConn ActiveConn InActConn.
    Persistent,
}

fn service_line(s: &Service, vip: &vsd_dataplane::Addr, port: u16) -> String {
    let mut line = format!("{:<4} {}", s.proto.name(), endpoint(vip, port));
    if let Some(p) = s.persistence {
        let _ = write!(line, " {} persistent {}", s.sched.name(), p.timeout.as_secs());
        if vip.is_v4() && p.netmask < 32 {
            let mask = u32::MAX.checked_shl(32 - u32::from(p.netmask)).unwrap_or(0);
            let _ = write!(line, " mask {}", std::net::Ipv4Addr::from(mask));
        } else if !vip.is_v4() && p.netmask6 < 128 {
            let _ = write!(line, " mask {}", p.netmask6);
        }
    } else {
        let _ = write!(line, " {}", s.sched.name());
    }
    line
}

/// `a.b.c.d:port`, or `[v6]:port`.
pub fn endpoint(a: &vsd_dataplane::Addr, port: u16) -> String {
    if a.is_v4() {
        format!("{a}:{port}")
    } else {
        format!("[{a}]:{port}")
    }
}

/// `ipvsadm -L -n` and its `--stats` / `--persistent-conn` variants.
pub fn services(
    snap: &Snapshot,
    dests: &[DestState],
    totals: &dyn Fn(usize) -> DestTotals,
    view: View,
    capacity: usize,
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "IP Virtual Server version 1.2.1 (size={capacity})");
    match view {
        View::Plain => {
            let _ = writeln!(o, "Prot LocalAddress:Port Scheduler Flags");
            let _ = writeln!(o, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn");
        }
        View::Stats => {
            let _ =
                writeln!(o, "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes");
            let _ = writeln!(o, "  -> RemoteAddress:Port");
        }
        View::Persistent => {
            let _ =
                writeln!(o, "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn");
            let _ = writeln!(o, "  -> RemoteAddress:Port");
        }
    }
    for s in &snap.services {
        let present: Vec<usize> =
            (s.dests.start as usize..s.dests.end as usize).filter(|&d| dests[d].present).collect();
        for vip in &s.vips {
            for port in &s.ports {
                match view {
                    View::Stats => {
                        let mut sum = DestTotals::default();
                        for d in s.dests.start as usize..s.dests.end as usize {
                            let t = totals(d);
                            sum.conns += t.conns;
                            sum.in_packets += t.in_packets;
                            sum.out_packets += t.out_packets;
                            sum.in_bytes += t.in_bytes;
                            sum.out_bytes += t.out_bytes;
                        }
                        let _ = writeln!(
                            o,
                            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
                            format!("{:<4} {}", s.proto.name(), endpoint(vip, *port)),
                            sum.conns,
                            sum.in_packets,
                            sum.out_packets,
                            sum.in_bytes,
                            sum.out_bytes
                        );
                    }
                    _ => {
                        let _ = writeln!(o, "{}", service_line(s, vip, *port));
                    }
                }
                for &d in &present {
                    let dest = &snap.dests[d];
                    let t = totals(d);
                    let rs = endpoint(&dest.addr, dest.port);
                    let w = dests[d].weight;
                    let _ = match view {
                        View::Plain => writeln!(
                            o,
                            "  -> {rs:<28} {:<7} {w:<6} {:<10} {}",
                            s.fwd.name(),
                            t.active,
                            t.inactive
                        ),
                        View::Stats => writeln!(
                            o,
                            "  -> {rs:<28} {:>8} {:>8} {:>8} {:>8} {:>8}",
                            t.conns, t.in_packets, t.out_packets, t.in_bytes, t.out_bytes
                        ),
                        View::Persistent => writeln!(
                            o,
                            "  -> {rs:<28} {w:<9} {:<11} {:<10} {}",
                            t.persistent, t.active, t.inactive
                        ),
                    };
                }
            }
        }
    }
    o
}

/// `ipvsadm -L -n --timeout`.
pub fn timeouts(t: &Timeouts) -> String {
    let (tcp, fin, udp) = t.ipvsadm();
    format!("Timeout (tcp tcpfin udp): {} {} {}\n", tcp.as_secs(), fin.as_secs(), udp.as_secs())
}

/// `ipvsadm -L -n -c`: connections and templates with state and time left, from every worker.
pub fn connections(entries: &[(Instant, Conn)]) -> String {
    let mut o = String::from("IPVS connection entries\npro expire state       source                 virtual                destination\n");
    let mut rows: Vec<&(Instant, Conn)> = entries.iter().collect();
    rows.sort_by_key(|(_, c)| (c.vip, c.vport, c.client, c.cport, c.is_template()));
    for (now, c) in rows {
        let left = c.expires.saturating_since(*now);
        let state = if c.is_template() { "NONE" } else { c.state.name() };
        let _ = writeln!(
            o,
            "{:<3} {:<6} {:<11} {:<22} {:<22} {}",
            c.proto.name(),
            mmss(left),
            state,
            endpoint(&c.client, c.cport),
            endpoint(&c.vip, c.vport),
            endpoint(&c.rs, c.rport)
        );
    }
    o
}

/// ipvsadm's expire column: minutes:seconds.
fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}
