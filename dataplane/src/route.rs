//! Interfaces and static routes: where a packet to an address leaves, and which neighbour gets it.
//!
//! The table is small (connected subnets plus configured routes) and immutable within a config
//! snapshot, so a longest-prefix-first linear scan is both simple and fast enough; per-packet
//! lookups are mostly avoided anyway, because a connection caches nothing but its addresses and the
//! scan stops at the first (longest) match.

use crate::addr::Addr;

/// A worker-local interface index (the position in [`Interfaces`], not the DPDK port id).
pub type IfIndex = u16;

/// One configured interface, as the dataplane needs it.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
    pub mac: [u8; 6],
    /// Local addresses with their prefix lengths.
    pub addrs: Vec<(Addr, u8)>,
    pub mtu: u16,
    /// Permanent neighbour entries on this interface: (address, MAC).
    pub static_neighbours: Vec<(Addr, [u8; 6])>,
}

impl Interface {
    pub fn has_addr(&self, a: Addr) -> bool {
        self.addrs.iter().any(|(x, _)| *x == a)
    }

    /// The local address to use as a source toward `dst` (same subnet first, else the first of the
    /// same family).
    pub fn source_for(&self, dst: Addr) -> Option<Addr> {
        self.addrs
            .iter()
            .find(|(a, len)| a.is_v4() == dst.is_v4() && a.masked(*len) == dst.masked(*len))
            .or_else(|| self.addrs.iter().find(|(a, _)| a.is_v4() == dst.is_v4()))
            .map(|(a, _)| *a)
    }
}

/// A route entry; `via: None` is a connected subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub prefix: Addr,
    pub len: u8,
    pub via: Option<Addr>,
    pub iface: IfIndex,
}

/// Where to send a packet: out of `iface`, to the neighbour with address `neighbour`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    pub iface: IfIndex,
    pub neighbour: Addr,
}

/// The IPv4 netmask of a prefix length (0 → 0.0.0.0).
#[inline]
fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0)
}

#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    /// Sorted by prefix length, longest first; IPv4 lengths count within the IPv4 family.
    routes: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// A route's gateway is not on any connected subnet.
    GatewayUnreachable { prefix: Addr, len: u8, via: Addr },
    /// An on-link route (no gateway) that names no interface.
    NoInterface { prefix: Addr, len: u8 },
}

impl core::fmt::Display for RouteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RouteError::GatewayUnreachable { prefix, len, via } => {
                write!(f, "route {prefix}/{len}: gateway {via} is not on a connected subnet")
            }
            RouteError::NoInterface { prefix, len } => {
                write!(f, "route {prefix}/{len}: an on-link route (no via) needs an interface")
            }
        }
    }
}

impl RouteTable {
    /// Connected routes from the interfaces, plus `static_routes` given as (prefix, len, gateway,
    /// forced interface). A route without a gateway is on-link on its (required) interface.
    pub fn build(
        ifaces: &[Interface],
        static_routes: &[(Addr, u8, Option<Addr>, Option<IfIndex>)],
    ) -> Result<RouteTable, RouteError> {
        let mut routes = Vec::new();
        for (i, ifc) in ifaces.iter().enumerate() {
            for (a, len) in &ifc.addrs {
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "one interface per DPDK port, whose ids are 16 bits"
                )]
                let iface = i as IfIndex;
                routes.push(Route { prefix: a.masked(*len), len: *len, via: None, iface });
            }
        }
        let connected = RouteTable::sorted(routes.clone());
        for &(prefix, len, via, forced) in static_routes {
            let iface = match (forced, via) {
                (Some(i), _) => i,
                (None, Some(via)) => match connected.lookup(via) {
                    Some(nh) => nh.iface,
                    None => return Err(RouteError::GatewayUnreachable { prefix, len, via }),
                },
                (None, None) => return Err(RouteError::NoInterface { prefix, len }),
            };
            routes.push(Route { prefix: prefix.masked(len), len, via, iface });
        }
        Ok(RouteTable::sorted(routes))
    }

    fn sorted(mut routes: Vec<Route>) -> RouteTable {
        // Stable sort: among equal lengths, connected routes (pushed first) win.
        routes.sort_by_key(|r| core::cmp::Reverse(r.len));
        RouteTable { routes }
    }

    /// Longest-prefix match. IPv4 compares one masked `u32` per route (this runs per forwarded
    /// packet); IPv6 masks the 16 bytes.
    #[inline]
    pub fn lookup(&self, dst: Addr) -> Option<NextHop> {
        self.longest(dst).map(|r| NextHop { iface: r.iface, neighbour: r.via.unwrap_or(dst) })
    }

    #[inline]
    fn longest(&self, dst: Addr) -> Option<&Route> {
        match dst.v4() {
            Some(o) => {
                let d = u32::from_be_bytes(o);
                self.routes.iter().find(|r| {
                    r.prefix.is_v4() && d & mask_v4(r.len) == u32::from_be_bytes(r.prefix.v4_octets())
                })
            }
            None => self.routes.iter().find(|r| !r.prefix.is_v4() && dst.masked(r.len) == r.prefix),
        }
    }

    /// True if `dst` is on a connected subnet (reachable without a gateway).
    pub fn is_connected(&self, dst: Addr) -> bool {
        matches!(self.longest(dst),
            Some(r) if r.via.is_none())
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn a(s: &str) -> Addr {
        s.parse::<IpAddr>().unwrap().into()
    }

    fn ifaces() -> Vec<Interface> {
        vec![
            Interface {
                name: "ext".into(),
                mac: [2, 0, 0, 0, 0, 1],
                addrs: vec![(a("198.18.0.2"), 24)],
                mtu: 1500,
                static_neighbours: vec![],
            },
            Interface {
                name: "int".into(),
                mac: [2, 0, 0, 0, 0, 2],
                addrs: vec![(a("198.19.0.1"), 24)],
                mtu: 1500,
                static_neighbours: vec![],
            },
        ]
    }

    #[test]
    fn longest_prefix_wins_and_connected_is_direct() {
        let t = RouteTable::build(
            &ifaces(),
            &[
                (a("0.0.0.0"), 0, Some(a("198.18.0.1")), None),
                (a("198.19.128.0"), 17, Some(a("198.19.0.254")), None),
            ],
        )
        .unwrap();
        assert_eq!(t.lookup(a("198.19.0.11")), Some(NextHop { iface: 1, neighbour: a("198.19.0.11") }));
        assert_eq!(t.lookup(a("198.19.200.1")), Some(NextHop { iface: 1, neighbour: a("198.19.0.254") }));
        assert_eq!(t.lookup(a("198.18.0.77")), Some(NextHop { iface: 0, neighbour: a("198.18.0.77") }));
        assert_eq!(t.lookup(a("198.51.100.1")), Some(NextHop { iface: 0, neighbour: a("198.18.0.1") }));
        assert_eq!(t.lookup(a("2001:db8::1")), None);
        assert!(t.is_connected(a("198.19.0.9")));
        assert!(!t.is_connected(a("198.51.100.1")));
    }

    #[test]
    fn gateway_must_be_connected() {
        let e = RouteTable::build(&ifaces(), &[(a("0.0.0.0"), 0, Some(a("198.20.0.1")), None)]).unwrap_err();
        assert!(e.to_string().contains("198.20.0.1"));
    }

    #[test]
    fn source_address_prefers_same_subnet() {
        let i = &ifaces()[0];
        assert_eq!(i.source_for(a("198.18.0.9")), Some(a("198.18.0.2")));
        assert_eq!(i.source_for(a("198.51.100.1")), Some(a("198.18.0.2")));
        assert_eq!(i.source_for(a("2001:db8::1")), None);
    }
}
