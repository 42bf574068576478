//! Turn a validated [`Config`] into the dataplane's immutable [`Snapshot`].
//!
//! This is where config names become dataplane indices: interfaces become positions (the order of
//! `interfaces:`), services and real servers (a service's sorry server among them) become stable
//! ids, and features that the dataplane does not implement yet are refused here with a message
//! naming the service, so that a config never half-works.
//!
//! A reload builds on the running snapshot ([`build`] with `prev`): a service with the same
//! protocol, VIPs and ports keeps its id, a real server with the same address and port keeps its
//! id, new ones are appended, and what the new config no longer has stays, retired or waiting for
//! its connections to end ([`Snapshot::extends`]). [`place`] finds a config service's ids again.

use crate::config::{self, Config, ConfigError, Forwarding, Protocol, Scheduler, TunnelType};
use crate::reload::ReloadError;
use crate::state::DestState;
use std::sync::Arc;
use vsd_dataplane::conn::{Fwd, Timeouts};
use vsd_dataplane::route::{Interface, RouteTable};
use vsd_dataplane::sched::SchedKind;
use vsd_dataplane::service::{dest_id, Dest, DestId, Persistence, Service, ServiceId, Snapshot, Sysctls};
use vsd_dataplane::tunnel::{TunnelKind, TunnelSpec, DEFAULT_GUE_PORT};
use vsd_dataplane::{Addr, Proto};

/// Build the snapshot for `cfg`, given each interface's MAC address (in `interfaces:` order). With
/// `prev` (a reload), the result extends `prev`: ids of what stays are kept. Servers are in their
/// service at their configured weight (sorry servers out).
pub fn build(
    cfg: &Config,
    macs: &[[u8; 6]],
    epoch: u64,
    prev: Option<&Snapshot>,
) -> Result<Arc<Snapshot>, ReloadError> {
    assemble(cfg, macs, epoch, prev).map(Arc::new)
}

/// [`build`], not yet shared: the daemon [`stamp`]s the states its health board wants into it
/// before it goes to the workers.
pub fn assemble(
    cfg: &Config,
    macs: &[[u8; 6]],
    epoch: u64,
    prev: Option<&Snapshot>,
) -> Result<Snapshot, ReloadError> {
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
    for (ri, r) in cfg.routes.iter().enumerate() {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "one interface per DPDK port, whose ids are 16 bits"
        )]
        let forced = match &r.interface {
            Some(name) => Some(cfg.interfaces.iter().position(|i| &i.name == name).ok_or_else(|| {
                ConfigError::invalid(format!("routes[{ri}].interface"), format!("unknown interface {name:?}"))
            })? as u16),
            None => None,
        };
        static_routes.push((Addr::from(r.prefix.addr()), r.prefix.len(), r.via.map(Addr::from), forced));
    }
    let routes = RouteTable::build(&ifaces, &static_routes)
        .map_err(|e| ConfigError::invalid("routes", e.to_string()))?;

    let (mut services, mut dests) = match prev {
        Some(p) => (p.services.clone(), p.dests.clone()),
        None => (Vec::new(), Vec::new()),
    };
    for svc in &mut services {
        svc.retired = true;
    }
    // Out of its service unless the config has it (the daemon then merges in edits and health).
    for d in &mut dests {
        d.present = false;
    }
    // By service id, like `services`: a retired service keeps its encapsulation for its connections.
    let mut tunnels = prev.map(|p| p.tunnels.clone()).unwrap_or_default();
    for (si, s) in cfg.services.iter().enumerate() {
        let fwd = match s.forwarding {
            Forwarding::Nat => Fwd::Nat,
            Forwarding::Dr => Fwd::Dr,
            Forwarding::Tunnel => Fwd::Tunnel,
            other => {
                return Err(ReloadError::NotImplemented {
                    key: format!("services[{si}].forwarding"),
                    reason: format!(
                        "{:?}: forwarding {} is not implemented yet (nat, dr and tunnel are)",
                        s.name,
                        other.as_str()
                    ),
                })
            }
        };
        let mut svc = Service {
            name: s.name.clone(),
            proto: proto(s),
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
            dests: Vec::new(),
            retired: false,
        };
        let id = match services.iter().position(|x| x.same_identity(&svc)) {
            Some(i) => {
                svc.dests = std::mem::take(&mut services[i].dests);
                services[i] = svc;
                i
            }
            None => {
                services.push(svc);
                services.len() - 1
            }
        };
        let Ok(service) = ServiceId::try_from(id) else {
            return Err(ReloadError::NeedsRestart {
                keys: vec![format!("services[{si}]")],
                why: format!("{:?} needs a service id, and every one since start is taken", s.name),
            });
        };
        if tunnels.len() <= id {
            tunnels.resize(id + 1, TunnelSpec::default());
        }
        tunnels[id] = tunnel_spec(s);
        let mut join = |addr, port, weight, sorry: bool| {
            let d = Dest { service, addr, port, weight, present: !sorry, sorry };
            match services[id].dests.iter().find(|&&x| dests[x as usize].same_identity(&d)) {
                Some(&x) => dests[x as usize] = d,
                None => {
                    dests.push(d);
                    services[id].dests.push(dest_id(dests.len() - 1));
                }
            }
        };
        for rs in &s.real_servers {
            join(Addr::from(rs.address), rs.port, rs.weight, false);
        }
        // The sorry server is out, at weight 0, until the daemon's health board lets it serve
        // (crate::health::Board).
        if let Some(sorry) = &s.sorry_server {
            join(Addr::from(sorry.address), sorry.port, 0, true);
        }
    }
    let mut timeouts = Timeouts::LVS;
    timeouts.set_ipvsadm(cfg.timeouts.tcp, cfg.timeouts.tcp_fin, cfg.timeouts.udp);
    let mut snap =
        Snapshot::new(epoch, ifaces, routes, services, dests, timeouts, cfg.conn_table.capacity as usize);
    snap.tunnels = tunnels;
    snap.sysctls = Sysctls {
        expire_nodest_conn: cfg.expire_nodest_conn,
        expire_quiescent_template: cfg.expire_quiescent_template,
    };
    Ok(snap)
}

/// Give every server of `snap` its weight and presence from `states` (the health board's
/// effective view, indexed like `snap.dests`), which workers take when they adopt it.
pub fn stamp(snap: &mut Snapshot, states: &[DestState]) {
    for (d, s) in snap.dests.iter_mut().zip(states) {
        d.weight = s.weight;
        d.present = s.present;
    }
}

/// The state `snap` gives each server.
pub fn states(snap: &Snapshot) -> Vec<DestState> {
    snap.dests.iter().map(|d| DestState { weight: d.weight, present: d.present }).collect()
}

/// Where a config service sits in a snapshot built from its config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub id: ServiceId,
    /// The dest id of each of `real_servers`, in config order.
    pub reals: Vec<DestId>,
    pub sorry: Option<DestId>,
}

/// Find config service `s` in `snap` (built from a config that has it): its id and its servers'.
pub fn place(s: &config::Service, snap: &Snapshot) -> Option<Placed> {
    let vips: Vec<Addr> = s.vips.iter().map(|v| Addr::from(*v)).collect();
    let (id, svc) =
        snap.live_services().find(|(_, x)| x.proto == proto(s) && x.vips == vips && x.ports == s.ports)?;
    let find = |addr: Addr, port: u16, sorry: bool| {
        svc.dests.iter().copied().find(|&d| {
            let x = &snap.dests[d as usize];
            x.addr == addr && x.port == port && x.sorry == sorry
        })
    };
    let reals = s
        .real_servers
        .iter()
        .map(|rs| find(Addr::from(rs.address), rs.port, false))
        .collect::<Option<_>>()?;
    let sorry = match &s.sorry_server {
        Some(x) => Some(find(Addr::from(x.address), x.port, true)?),
        None => None,
    };
    Some(Placed { id, reals, sorry })
}

/// [`place`] for every service of `cfg`, in config order (`None` for one `snap` lacks).
pub fn placement(cfg: &Config, snap: &Snapshot) -> Vec<Option<Placed>> {
    cfg.services.iter().map(|s| place(s, snap)).collect()
}

/// The dataplane protocol of config service `s`.
pub(crate) fn proto(s: &config::Service) -> Proto {
    match s.protocol {
        Protocol::Tcp => Proto::Tcp,
        Protocol::Udp => Proto::Udp,
    }
}

/// The dataplane's encapsulation of a service (IPIP unless `tunnel:` says otherwise).
fn tunnel_spec(s: &config::Service) -> TunnelSpec {
    let Some(t) = s.tunnel else { return TunnelSpec::default() };
    let kind = match t.kind {
        TunnelType::Ipip => TunnelKind::Ipip,
        TunnelType::Gue => TunnelKind::Gue,
        TunnelType::Gre => TunnelKind::Gre,
    };
    TunnelSpec { kind, port: t.port.unwrap_or(DEFAULT_GUE_PORT), csum: t.checksum }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const BASE: &str = r#"dpdk: { eal: ["-l", "0-1", "--no-pci", "--vdev", "net_null0", "--vdev", "net_null1"] }
workers: { lcores: [1] }
interfaces:
  - { name: ext, port: net_null0, addresses: [198.18.0.2/24] }
  - { name: int, port: net_null1, addresses: [198.19.0.1/24] }
services:
"#;
    pub(crate) const WEB: &str = r#"  - name: web
    vips: [198.18.0.100]
    protocol: tcp
    ports: [80]
    forwarding: nat
    sorry_server: { address: 198.19.0.99, port: 8080 }
    real_servers:
"#;
    const DNS: &str = r#"  - name: dns
    vips: [198.18.0.101]
    protocol: udp
    ports: [53]
    forwarding: nat
    real_servers:
      - { address: 198.19.0.21 }
"#;

    pub(crate) fn cfg(services: &[&str]) -> Config {
        crate::config::parse(&format!("{BASE}{}", services.concat()), "t.yaml").unwrap()
    }

    pub(crate) fn server(n: u8, weight: u32) -> String {
        format!("      - {{ address: 198.19.0.{n}, port: 8080, weight: {weight} }}\n")
    }

    pub(crate) fn build_on(c: &Config, epoch: u64, prev: Option<&Snapshot>) -> Arc<Snapshot> {
        build(c, &[[0; 6]; 2], epoch, prev).unwrap()
    }

    #[test]
    fn a_reload_keeps_ids_appends_new_ones_and_retires_what_went() {
        let one = cfg(&[WEB, &server(11, 1), &server(12, 1), DNS]);
        let s1 = build_on(&one, 1, None);
        let web1 = place(&one.services[0], &s1).unwrap();
        assert_eq!((web1.id, web1.reals.clone(), web1.sorry), (0, vec![0, 1], Some(2)));

        // .12 goes, .13 comes, .11 changes weight, dns goes, a new service comes first.
        let api = WEB.replace("name: web", "name: api").replace("198.18.0.100", "198.18.0.102");
        let two = cfg(&[&api, &server(11, 1), WEB, &server(13, 1), &server(11, 5)]);
        let s2 = build_on(&two, 2, Some(&s1));
        assert!(s2.extends(&s1));
        let web2 = place(&two.services[1], &s2).unwrap();
        assert_eq!(web2.id, 0, "web keeps its id");
        assert_eq!(web2.reals, vec![6, 0], ".13 is new (after api's servers), .11 kept");
        assert_eq!(web2.sorry, Some(2));
        assert_eq!(s2.services[0].dests, vec![0, 1, 2, 6], "the removed .12 stays in web's list");
        assert_eq!(s2.dests[0].weight, 5);
        assert!(!s2.dests[1].present, "the removed .12 is out of its service");
        assert!(s2.dests[0].present && !s2.dests[2].present, ".11 is in, the sorry server waits");
        assert!(s2.services[1].retired, "dns is retired");
        assert_eq!(s2.service_for(Proto::Udp, Addr::from_v4([198, 18, 0, 101]), 53), None);
        let api2 = place(&two.services[0], &s2).unwrap();
        assert_eq!((api2.id, api2.reals.clone(), api2.sorry), (2, vec![4], Some(5)));
        assert_eq!(s2.service_for(Proto::Tcp, Addr::from_v4([198, 18, 0, 102]), 80), Some(2));
        assert!(s2.live_services().all(|(i, _)| i != 1));

        // dns comes back: same id and server as before.
        let three = cfg(&[WEB, &server(11, 1), DNS]);
        let s3 = build_on(&three, 3, Some(&s2));
        assert!(s3.extends(&s2));
        let dns3 = place(&three.services[1], &s3).unwrap();
        assert_eq!((dns3.id, dns3.reals), (1, vec![3]));
        assert!(!s3.services[1].retired && s3.services[2].retired);
        assert_eq!(s3.dests.len(), s2.dests.len(), "nothing new");
    }

    #[test]
    fn a_service_with_other_ports_is_a_new_service() {
        let one = cfg(&[WEB, &server(11, 1)]);
        let s1 = build_on(&one, 1, None);
        let two = cfg(&[&WEB.replace("ports: [80]", "ports: [80, 443]"), &server(11, 1)]);
        let s2 = build_on(&two, 2, Some(&s1));
        assert!(s2.extends(&s1));
        assert!(s2.services[0].retired);
        let p = place(&two.services[0], &s2).unwrap();
        assert_eq!((p.id, p.reals), (1, vec![2]));
        // A snapshot built afresh does not extend one it did not build on.
        assert!(!build_on(&two, 2, None).extends(&s1));
    }

    #[test]
    fn tunnel_encapsulation_follows_the_service_id_across_reloads() {
        let tun = |name: &str, vip: &str, t: &str| {
            WEB.replace("name: web", &format!("name: {name}"))
                .replace("198.18.0.100", vip)
                .replace("forwarding: nat", &format!("forwarding: tunnel\n    tunnel: {t}"))
                .replace("port: 8080 }", "port: 80 }")
                .replace("    sorry_server: { address: 198.19.0.99, port: 80 }\n", "")
        };
        let real = "      - { address: 198.19.0.11 }\n";
        let gue = tun("gue", "198.18.0.110", "{ type: gue, port: 7000, checksum: true }");
        let gre = tun("gre", "198.18.0.111", "{ type: gre }");
        let one = cfg(&[&gue, real, &gre, real]);
        let s1 = build_on(&one, 1, None);
        assert_eq!(s1.services[0].fwd, Fwd::Tunnel);
        assert_eq!(s1.tunnel(0), TunnelSpec { kind: TunnelKind::Gue, port: 7000, csum: true });
        assert_eq!(s1.tunnel(1), TunnelSpec { kind: TunnelKind::Gre, port: DEFAULT_GUE_PORT, csum: false });
        // gre first now, gue gone, a new IPIP service: ids (and so encapsulations) stay put.
        let ipip = tun("ipip", "198.18.0.112", "{ type: ipip }");
        let two = cfg(&[&gre, real, &ipip, real]);
        let s2 = build_on(&two, 2, Some(&s1));
        assert_eq!(place(&two.services[0], &s2).unwrap().id, 1);
        assert_eq!(s2.tunnel(1).kind, TunnelKind::Gre);
        assert_eq!(s2.tunnel(0).kind, TunnelKind::Gue, "the retired gue service's connections keep GUE");
        assert_eq!(s2.tunnel(place(&two.services[1], &s2).unwrap().id), TunnelSpec::default());
    }
}
