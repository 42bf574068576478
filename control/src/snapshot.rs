//! Turn a validated [`Config`] into the dataplane's immutable [`Snapshot`].
//!
//! This is where config names become dataplane indices: interfaces become positions (the order of
//! `interfaces:`), each service's real servers (then its sorry server) become one contiguous range of
//! destinations, and features that the dataplane does not implement yet are refused here with a
//! message naming the service, so that a config never half-works.

use crate::config::{self, Config, Forwarding, Protocol, Scheduler};
use std::ops::Range;
use std::sync::Arc;
use vsd_dataplane::conn::{Fwd, Timeouts};
use vsd_dataplane::route::{Interface, RouteTable};
use vsd_dataplane::sched::SchedKind;
use vsd_dataplane::service::{Dest, DestId, Persistence, Service, Snapshot, Sysctls};
use vsd_dataplane::{Addr, Proto};

/// Build the snapshot for `cfg`, given each interface's MAC address (in `interfaces:` order).
pub fn build(cfg: &Config, macs: &[[u8; 6]], epoch: u64) -> Result<Arc<Snapshot>, String> {
    let ifaces: Vec<Interface> = cfg
        .interfaces
        .iter()
        .zip(macs)
        .map(|(i, mac)| Interface {
            name: i.name.clone(),
            mac: *mac,
            addrs: i.addresses.iter().map(|p| (Addr::from(p.addr()), p.len())).collect(),
            mtu: i.mtu.unwrap_or(1500),
            static_neighbours: i.neighbours.iter().map(|n| (Addr::from(n.address), n.mac)).collect(),
        })
        .collect();
    let mut static_routes = Vec::new();
    for r in &cfg.routes {
        let forced = match &r.interface {
            Some(name) => Some(
                cfg.interfaces
                    .iter()
                    .position(|i| &i.name == name)
                    .ok_or_else(|| format!("route {}: unknown interface {name:?}", r.prefix))?
                    as u16,
            ),
            None => None,
        };
        static_routes.push((Addr::from(r.prefix.addr()), r.prefix.len(), r.via.map(Addr::from), forced));
    }
    let routes = RouteTable::build(&ifaces, &static_routes).map_err(|e| e.to_string())?;

    let mut services = Vec::new();
    let mut dests = Vec::new();
    for (si, s) in cfg.services.iter().enumerate() {
        let fwd = match s.forwarding {
            Forwarding::Nat => Fwd::Nat,
            Forwarding::Dr => Fwd::Dr,
            other => {
                return Err(format!(
                    "services[{si}] {:?}: forwarding {} is not implemented yet (nat and dr are)",
                    s.name,
                    other.as_str()
                ))
            }
        };
        let first = dests.len() as u32;
        for rs in &s.real_servers {
            dests.push(Dest {
                service: si as u16,
                addr: Addr::from(rs.address),
                port: rs.port,
                weight: rs.weight,
            });
        }
        // The sorry server is the service's last destination, at weight 0 (never scheduled) until
        // the daemon's health board lets it serve (crate::health::Board).
        if let Some(sorry) = &s.sorry_server {
            dests.push(Dest {
                service: si as u16,
                addr: Addr::from(sorry.address),
                port: sorry.port,
                weight: 0,
            });
        }
        services.push(Service {
            name: s.name.clone(),
            proto: match s.protocol {
                Protocol::Tcp => Proto::Tcp,
                Protocol::Udp => Proto::Udp,
            },
            vips: s.vips.iter().map(|v| Addr::from(*v)).collect(),
            ports: s.ports.clone(),
            sched: sched_kind(s.scheduler),
            fwd,
            persistence: s.persistence.as_ref().map(|p| Persistence {
                timeout: p.timeout,
                netmask: p.netmask,
                netmask6: p.netmask6,
            }),
            one_packet: s.one_packet,
            dests: first..dests.len() as u32,
        });
    }
    let mut timeouts = Timeouts::LVS;
    timeouts.set_ipvsadm(cfg.timeouts.tcp, cfg.timeouts.tcp_fin, cfg.timeouts.udp);
    let mut snap =
        Snapshot::new(epoch, ifaces, routes, services, dests, timeouts, cfg.conn_table.capacity as usize);
    snap.sysctls = Sysctls {
        expire_nodest_conn: cfg.expire_nodest_conn,
        expire_quiescent_template: cfg.expire_quiescent_template,
    };
    Ok(Arc::new(snap))
}

/// The destinations of `svc` that are the real servers of `s` (the config it was built from): all
/// but the sorry server.
pub fn real_dests(s: &config::Service, svc: &Service) -> Range<DestId> {
    svc.dests.start..svc.dests.end - u32::from(s.sorry_server.is_some())
}

/// The destination of `s`'s sorry server in `svc`, if it has one.
pub fn sorry_dest(s: &config::Service, svc: &Service) -> Option<DestId> {
    s.sorry_server.map(|_| svc.dests.end - 1)
}

fn sched_kind(s: Scheduler) -> SchedKind {
    match s {
        Scheduler::Rr => SchedKind::Rr,
        Scheduler::Wrr => SchedKind::Wrr,
        Scheduler::Lc => SchedKind::Lc,
        Scheduler::Wlc => SchedKind::Wlc,
        Scheduler::Sed => SchedKind::Sed,
        Scheduler::Nq => SchedKind::Nq,
        Scheduler::Sh => SchedKind::Sh,
        Scheduler::Dh => SchedKind::Dh,
        Scheduler::Mh => SchedKind::Mh,
        Scheduler::Fo => SchedKind::Fo,
        Scheduler::Ovf => SchedKind::Ovf,
    }
}
