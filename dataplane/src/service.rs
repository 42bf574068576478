//! The config snapshot a worker runs on: interfaces, routes, virtual services and real servers.
//!
//! The control thread builds a snapshot once, validated and immutable, and hands every worker a
//! shared pointer to it; workers switch snapshots at a burst boundary. Nothing in here changes
//! while packets flow. Per-core mutable state (scheduler positions, connection counts) lives in the
//! worker, indexed by the positions defined here.
//!
//! Positions are stable for the life of the process: a reload's snapshot keeps every service and
//! real server of the one before it where it was and appends what is new ([`Snapshot::extends`]).
//! Connection entries and templates name their service and server by position, so they keep their
//! meaning across reloads without being rewritten. A service that a reload drops stays, retired
//! (no new connections), as do removed real servers, the way LVS keeps removed destinations in
//! its trash while connections refer to them.

use crate::addr::{Addr, Proto};
use crate::conn::{Fwd, Timeouts};
use crate::route::{IfIndex, Interface, RouteTable};
use crate::sched::SchedKind;
use crate::tunnel::TunnelSpec;
use core::time::Duration;
use rustc_hash::FxHashMap;

/// A service's position in [`Snapshot::services`]; stable across reloads.
pub type ServiceId = u16;
/// A real server's position in [`Snapshot::dests`]; stable across reloads.
pub type DestId = u32;

/// The [`ServiceId`] of position `i` in a snapshot's `services` (or in a list indexed like it).
#[inline(always)]
#[allow(
    clippy::cast_possible_truncation,
    reason = "a service position is below the service count, which Snapshot::new asserts is at most 2^16"
)]
pub fn service_id(i: usize) -> ServiceId {
    i as ServiceId
}

/// The [`DestId`] of position `i` in a snapshot's `dests` (or in a list indexed like it).
#[inline(always)]
#[allow(
    clippy::cast_possible_truncation,
    reason = "a real server position is below the server count, which Snapshot::new asserts fits in u32"
)]
pub fn dest_id(i: usize) -> DestId {
    i as DestId
}

/// LVS persistence ("connection affinity") settings of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persistence {
    pub timeout: Duration,
    /// Client address prefix length for IPv4 clients.
    pub netmask: u8,
    /// Client address prefix length for IPv6 clients.
    pub netmask6: u8,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub proto: Proto,
    pub vips: Vec<Addr>,
    /// `[0]` means every port.
    pub ports: Vec<u16>,
    pub sched: SchedKind,
    pub fwd: Fwd,
    pub persistence: Option<Persistence>,
    pub one_packet: bool,
    /// This service's real servers, removed ones and the sorry server included, in the order they
    /// joined: a scheduler's positions. A reload only appends.
    pub dests: Vec<DestId>,
    /// Dropped by a reload: takes no new connections (the control plane also removes its real
    /// servers, whose connections then follow the rules for removed servers).
    pub retired: bool,
}

#[derive(Clone, Debug)]
pub struct Dest {
    pub service: ServiceId,
    pub addr: Addr,
    /// 0: keep the client's destination port.
    pub port: u16,
    /// The weight a worker gives this server when it adopts the snapshot: the control plane's
    /// merged view (config, admin edits, health checks) at the time it built the snapshot. Between
    /// switches, `SetWeight` commands change the worker's copy ([`crate::worker::Command`]).
    pub weight: u32,
    /// Whether the server is in its service when a worker adopts the snapshot (false: removed by a
    /// reload or an edit, failed without `inhibit_on_failure`, or a sorry server waiting), so that
    /// a reload's removals and additions take effect at the same burst boundary.
    pub present: bool,
    /// The service's sorry server: scheduled only while the control plane gives it a weight.
    pub sorry: bool,
}

/// LVS's global switches (the `net.ipv4.vs.*` sysctls of the same names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sysctls {
    /// Connections to a removed real server are expired on their next packet (and that packet
    /// rescheduled when it may start a connection) instead of having their packets dropped.
    pub expire_nodest_conn: bool,
    /// A template pointing at a weight-0 (quiescent) server is invalid: new connections are
    /// rescheduled instead of following it.
    pub expire_quiescent_template: bool,
}

/// The control port of FTP (RFC 959), and the active-mode data port.
pub const FTP_PORT: u16 = 21;
pub const FTP_DATA_PORT: u16 = 20;
/// Ports from here up may carry FTP passive data (LVS: `inet_prot_sock`, the first unprivileged port).
pub const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

impl Service {
    /// The vport of this service's persistence templates: 0 for port-0 services, FTP services and
    /// multi-port services (LVS: port-zero and firewall-mark templates), else the connection's port.
    #[inline]
    pub fn template_vport(&self, dport: u16) -> u16 {
        if self.ports.len() > 1 || self.ports[0] == 0 || self.ports[0] == FTP_PORT {
            0
        } else {
            dport
        }
    }

    /// Whether `other` is this service as a reload may keep it: the same protocol and addresses.
    pub fn same_identity(&self, other: &Service) -> bool {
        self.proto == other.proto && self.vips == other.vips && self.ports == other.ports
    }
}

impl Dest {
    /// Whether `other` is this real server as a reload may keep it.
    pub fn same_identity(&self, other: &Dest) -> bool {
        self.service == other.service
            && self.addr == other.addr
            && self.port == other.port
            && self.sorry == other.sorry
    }
}

/// Everything a worker needs to know about the configuration.
#[derive(Debug)]
pub struct Snapshot {
    pub sysctls: Sysctls,
    pub epoch: u64,
    pub ifaces: Vec<Interface>,
    pub routes: RouteTable,
    pub services: Vec<Service>,
    pub dests: Vec<Dest>,
    pub timeouts: Timeouts,
    /// Connection table capacity per worker.
    pub conn_capacity: usize,
    /// The smallest interface MTU: packets up to this size fit every way out, so the forwarding
    /// path checks the egress MTU only for larger ones.
    pub min_mtu: u16,
    /// The encapsulation of each tunnel service, indexed like `services` (missing: the default, IPIP).
    pub tunnels: Vec<TunnelSpec>,
    /// (proto, vip, port) → service; port 0 is the catch-all of a port-0 service.
    vip_ports: FxHashMap<(Proto, Addr, u16), ServiceId>,
    /// Every VIP address, with the interface whose subnet holds it (ARP is answered there; `None`:
    /// answered on every interface).
    vip_addrs: FxHashMap<Addr, Option<IfIndex>>,
}

impl Snapshot {
    pub fn new(
        epoch: u64,
        ifaces: Vec<Interface>,
        routes: RouteTable,
        services: Vec<Service>,
        dests: Vec<Dest>,
        timeouts: Timeouts,
        conn_capacity: usize,
    ) -> Snapshot {
        assert!(services.len() <= usize::from(ServiceId::MAX) + 1, "service ids are 16 bits");
        assert!(DestId::try_from(dests.len()).is_ok(), "real server ids are 32 bits");
        assert!(ifaces.len() <= usize::from(IfIndex::MAX) + 1, "interface indexes are 16 bits");
        let mut vip_ports = FxHashMap::default();
        let mut vip_addrs = FxHashMap::default();
        for (i, s) in services.iter().enumerate().filter(|(_, s)| !s.retired) {
            for vip in &s.vips {
                for port in &s.ports {
                    vip_ports.insert((s.proto, *vip, *port), service_id(i));
                }
                let home = routes.lookup(*vip).filter(|nh| nh.neighbour == *vip).map(|nh| nh.iface);
                vip_addrs.insert(*vip, home);
            }
        }
        let min_mtu = ifaces.iter().map(|i| i.mtu).min().unwrap_or(u16::MAX);
        Snapshot {
            sysctls: Sysctls::default(),
            epoch,
            min_mtu,
            ifaces,
            routes,
            services,
            dests,
            timeouts,
            conn_capacity,
            tunnels: Vec::new(),
            vip_ports,
            vip_addrs,
        }
    }

    /// The service for a packet to `vip:port`: an exact port first, then a port-0 service, then
    /// (for port 20 and unprivileged ports) a persistent FTP service of the VIP, whose template
    /// sends passive and active data connections to the control connection's server (LVS
    /// `ip_vs_service_find` with `ftpsvc_counter`).
    #[inline]
    pub fn service_for(&self, proto: Proto, vip: Addr, port: u16) -> Option<ServiceId> {
        if let Some(s) =
            self.vip_ports.get(&(proto, vip, port)).or_else(|| self.vip_ports.get(&(proto, vip, 0)))
        {
            return Some(*s);
        }
        if port == FTP_DATA_PORT || port >= FIRST_UNPRIVILEGED_PORT {
            let ftp = *self.vip_ports.get(&(proto, vip, FTP_PORT))?;
            return self.services[ftp as usize].persistence.is_some().then_some(ftp);
        }
        None
    }

    /// How tunnel service `svc` encapsulates.
    #[inline]
    pub fn tunnel(&self, svc: ServiceId) -> TunnelSpec {
        self.tunnels.get(svc as usize).copied().unwrap_or_default()
    }

    #[inline]
    pub fn is_vip(&self, a: Addr) -> bool {
        self.vip_addrs.contains_key(&a)
    }

    /// Whether to answer ARP for VIP `a` on interface `iface`.
    pub fn answers_arp_for_vip(&self, a: Addr, iface: IfIndex) -> bool {
        matches!(self.vip_addrs.get(&a), Some(None)) || self.vip_addrs.get(&a) == Some(&Some(iface))
    }

    /// Whether this snapshot keeps every service and real server of `old` at its position (with
    /// the same identity and, for a service, its servers as a prefix of its list), so that a
    /// worker can switch from `old` to it keeping its connections, templates and loads.
    pub fn extends(&self, old: &Snapshot) -> bool {
        self.services.len() >= old.services.len()
            && self.dests.len() >= old.dests.len()
            && old.services.iter().zip(&self.services).all(|(o, n)| {
                o.same_identity(n)
                    && n.dests.len() >= o.dests.len()
                    && n.dests[..o.dests.len()] == o.dests[..]
            })
            && old.dests.iter().zip(&self.dests).all(|(o, n)| o.same_identity(n))
    }

    /// The live (not retired) services.
    pub fn live_services(&self) -> impl Iterator<Item = (ServiceId, &Service)> {
        self.services.iter().enumerate().filter(|(_, s)| !s.retired).map(|(i, s)| (service_id(i), s))
    }

    /// Interface index owning local address `a`.
    #[inline]
    #[allow(
        clippy::cast_possible_truncation,
        reason = "an interface position is below the interface count, which Snapshot::new asserts is at most 2^16"
    )]
    pub fn local_iface(&self, a: Addr) -> Option<IfIndex> {
        self.ifaces.iter().position(|i| i.has_addr(a)).map(|i| i as IfIndex)
    }
}
