//! The rules a config must follow beyond its shape, checked on typed values.
//!
//! Each rule reports the key path of the offending value and a reason in an operator's words, and
//! `parse` then adds file, line and column. Rules run in file order (dpdk, workers, interfaces, routes,
//! services, globals) and the first violation is returned, so fixing errors top to bottom converges.
//! Where vsd is stricter than ipvsadm (which silently rewrites a DR real server's port, or treats a
//! zero timeout as "unchanged"), the reason says so, because a config that means something other than
//! what it says is worse than one that is refused.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use super::error::ConfigError;
use super::health::{check_health, check_probe_port};
use super::prefix::{Prefix, IPV4_BITS, IPV6_BITS};
use super::schema::{Config, Forwarding, Interface, Protocol, Route, Service, TunnelType, MAX_WEIGHT};

/// Smallest IPv4 MTU every link must carry (RFC 791, "Every internet module must be able to forward a
/// datagram of 68 octets").
const MIN_MTU_V4: u16 = 68;
/// Smallest MTU of a link that carries IPv6 (RFC 8200 §5). Reached once IPv6 addresses are
const MIN_MTU_V6: u16 = 1280;

type Result = std::result::Result<(), ConfigError>;

impl Config {
    /// Checks every rule; `parse` calls this, and so must any code that builds a `Config` itself.
    pub fn validate(&self) -> Result {
        self.check_dpdk()?;
        self.check_workers()?;
        self.check_interfaces()?;
        for (i, route) in self.routes.iter().enumerate() {
            self.check_route(i, route)?;
        }
        self.check_services()?;
        self.check_globals()
    }

    fn check_dpdk(&self) -> Result {
        let dpdk = &self.dpdk;
        if dpdk.mbufs == 0 {
            return Err(ConfigError::invalid("dpdk.mbufs", "must be greater than 0"));
        }
        if dpdk.rx_desc == 0 {
            return Err(ConfigError::invalid("dpdk.rx_desc", "must be greater than 0"));
        }
        if dpdk.tx_desc == 0 {
            return Err(ConfigError::invalid("dpdk.tx_desc", "must be greater than 0"));
        }
        Ok(())
    }

    fn check_workers(&self) -> Result {
        let lcores = &self.workers.lcores;
        if lcores.is_empty() {
            return Err(ConfigError::invalid("workers.lcores", "at least one worker lcore is needed"));
        }
        let eal_cores = eal_core_list(&self.dpdk.eal);
        let mut seen = HashSet::new();
        for (i, &lcore) in lcores.iter().enumerate() {
            let path = format!("workers.lcores[{i}]");
            if !seen.insert(lcore) {
                return Err(ConfigError::invalid(path, format!("lcore {lcore} is listed twice")));
            }
            if let Some((list, cores)) = &eal_cores {
                if !cores.iter().any(|range| range.contains(&lcore)) {
                    let reason = format!("lcore {lcore} is not in the EAL core list (dpdk.eal: -l {list})");
                    return Err(ConfigError::invalid(path, reason));
                }
            }
        }
        Ok(())
    }

    fn check_interfaces(&self) -> Result {
        if self.interfaces.is_empty() {
            return Err(ConfigError::invalid("interfaces", "at least one interface is needed"));
        }
        let mut names = HashMap::new();
        let mut devices = HashMap::new();
        let mut addresses = HashMap::new();
        for (i, iface) in self.interfaces.iter().enumerate() {
            let path = format!("interfaces[{i}]");
            if iface.name.trim().is_empty() {
                return Err(ConfigError::invalid(format!("{path}.name"), "must not be empty"));
            }
            if let Some(first) = names.insert(iface.name.as_str(), i) {
                let reason =
                    format!("interface name \"{}\" is already used by interfaces[{first}]", iface.name);
                return Err(ConfigError::invalid(format!("{path}.name"), reason));
            }
            if iface.device().is_empty() {
                return Err(ConfigError::invalid(format!("{path}.port"), "must name a DPDK port"));
            }
            check_vdev(&format!("{path}.port"), &self.dpdk.eal, iface)?;
            if let Some(first) = devices.insert(iface.device(), i) {
                let reason = format!(
                    "port \"{}\" is already used by interface \"{}\"",
                    iface.device(),
                    self.interfaces[first].name
                );
                return Err(ConfigError::invalid(format!("{path}.port"), reason));
            }
            if iface.addresses.is_empty() {
                let reason =
                    "at least one address is needed (vsd answers ARP/ND and resolves next hops from it)";
                return Err(ConfigError::labelled(format!("{path}.addresses"), &iface.name, reason));
            }
            for (j, prefix) in iface.addresses.iter().enumerate() {
                let path = format!("{path}.addresses[{j}]");
                check_prefix_len(&path, prefix)?;
                if let Some(owner) = addresses.insert(prefix.addr(), iface.name.as_str()) {
                    let reason = format!("address {} is already on interface \"{owner}\"", prefix.addr());
                    return Err(ConfigError::invalid(path, reason));
                }
            }
            check_mtu(&path, iface)?;
            for (j, n) in iface.neighbours.iter().enumerate() {
                if !iface.addresses.iter().any(|a| a.contains(n.address)) {
                    let reason =
                        format!("neighbour {} is not on a subnet of interface \"{}\"", n.address, iface.name);
                    return Err(ConfigError::invalid(format!("{path}.neighbours[{j}].address"), reason));
                }
            }
        }
        Ok(())
    }

    fn check_route(&self, i: usize, route: &Route) -> Result {
        let path = format!("routes[{i}]");
        let prefix = route.prefix;
        check_prefix_len(&format!("{path}.prefix"), &prefix)?;
        if !prefix.is_network() {
            let reason = format!("{prefix} has host bits set; did you mean {}?", prefix.network());
            return Err(ConfigError::invalid(format!("{path}.prefix"), reason));
        }
        if let Some(first) = self.routes[..i].iter().position(|r| r.prefix == prefix) {
            let reason = format!("a route to {prefix} is already given by routes[{first}]");
            return Err(ConfigError::invalid(format!("{path}.prefix"), reason));
        }
        let iface = match &route.interface {
            Some(name) => Some(self.interface(name).ok_or_else(|| {
                let reason = format!("no interface is named \"{name}\" (known: {})", self.interface_names());
                ConfigError::invalid(format!("{path}.interface"), reason)
            })?),
            None => None,
        };
        let Some(via) = route.via else {
            return match iface {
                Some(_) => Ok(()),
                None => Err(ConfigError::invalid(path, "a route needs `via`, `interface`, or both")),
            };
        };
        if via.is_ipv4() != prefix.addr().is_ipv4() {
            let reason = format!("next hop {via} is not of the same address family as {prefix}");
            return Err(ConfigError::invalid(format!("{path}.via"), reason));
        }
        let candidates: Vec<&Interface> = iface.map_or_else(|| self.interfaces.iter().collect(), |i| vec![i]);
        if !candidates.iter().any(|iface| iface.addresses.iter().any(|a| a.contains(via))) {
            let scope = iface.map_or("any interface".to_string(), |i| format!("interface \"{}\"", i.name));
            let reason = format!("next hop {via} is not on a connected subnet of {scope}");
            return Err(ConfigError::invalid(format!("{path}.via"), reason));
        }
        Ok(())
    }

    fn check_services(&self) -> Result {
        let mut names = HashMap::new();
        let mut endpoints: HashMap<(SocketAddr, Protocol), &str> = HashMap::new();
        for (i, service) in self.services.iter().enumerate() {
            let path = format!("services[{i}]");
            if service.name.trim().is_empty() {
                return Err(ConfigError::invalid(format!("{path}.name"), "must not be empty"));
            }
            if let Some(first) = names.insert(service.name.as_str(), i) {
                let reason =
                    format!("service name \"{}\" is already used by services[{first}]", service.name);
                return Err(ConfigError::invalid(format!("{path}.name"), reason));
            }
            check_service_shape(&path, service)?;
            for &vip in &service.vips {
                for &port in &service.ports {
                    let key = (SocketAddr::new(vip, port), service.protocol);
                    if let Some(owner) = endpoints.insert(key, &service.name) {
                        let reason = format!(
                            "VIP {}/{} is already used by service \"{owner}\"",
                            key.0,
                            service.protocol.as_str()
                        );
                        return Err(ConfigError::labelled(path, &service.name, reason));
                    }
                }
            }
            if let Some(check) = &service.health_check {
                check_health(&format!("{path}.health_check"), check)?;
            }
            for j in 0..service.real_servers.len() {
                self.check_real_server(&format!("{path}.real_servers[{j}]"), service, j)?;
            }
            self.check_sorry_server(&path, service)?;
        }
        Ok(())
    }

    fn check_real_server(&self, path: &str, service: &Service, j: usize) -> Result {
        let rs = &service.real_servers[j];
        let ip = rs.address;
        let shown = if rs.port == 0 { ip.to_string() } else { SocketAddr::new(ip, rs.port).to_string() };
        if service.real_servers[..j].iter().any(|other| other.address == ip && other.port == rs.port) {
            let reason = format!("real server {shown} is listed twice in service \"{}\"", service.name);
            return Err(ConfigError::invalid(path, reason));
        }
        if rs.weight > MAX_WEIGHT {
            let reason = format!("weight {} is out of range 0..={MAX_WEIGHT} (as ipvsadm -w)", rs.weight);
            return Err(ConfigError::invalid(format!("{path}.weight"), reason));
        }
        if service.forwarding != Forwarding::Fullnat {
            if let Some(vip) = service.vips.iter().find(|vip| vip.is_ipv4() != ip.is_ipv4()) {
                let reason = format!(
                    "real server {ip} and VIP {vip} are of different address families; only \
                     forwarding: fullnat translates between IPv4 and IPv6"
                );
                return Err(ConfigError::invalid(format!("{path}.address"), reason));
            }
        }
        if !service.forwarding.rewrites_ports() && rs.port != 0 && service.ports != [rs.port] {
            let fix = match service.ports.as_slice() {
                [port] if *port != 0 => format!("omit the port or set it to {port}"),
                _ => "omit the port".to_string(),
            };
            let reason = format!(
                "port {} differs from the service port; forwarding: {} cannot rewrite ports (ipvsadm \
                 would silently use the service port): {fix}",
                rs.port,
                service.forwarding.as_str(),
            );
            return Err(ConfigError::invalid(format!("{path}.port"), reason));
        }
        if let Some(iface) = self.interfaces.iter().find(|i| i.addresses.iter().any(|a| a.addr() == ip)) {
            let reason = format!("real server {ip} is an address of vsd's own interface \"{}\"", iface.name);
            return Err(ConfigError::invalid(format!("{path}.address"), reason));
        }
        if let Some(check) = &rs.health_check {
            check_health(&format!("{path}.health_check"), check)?;
        }
        check_probe_port(path, service, rs)?;
        self.check_reachable(path, service, ip)
    }

    /// A sorry server follows a real server's rules (it is one, added by vsd), and must not be one of
    /// the service's real servers: it would then take traffic beside them.
    fn check_sorry_server(&self, path: &str, service: &Service) -> Result {
        let Some(sorry) = &service.sorry_server else { return Ok(()) };
        let at = format!("{path}.sorry_server");
        let rs = sorry.as_real_server();
        if service.real_servers.iter().any(|r| r.address == rs.address && r.port == rs.port) {
            let reason = format!("{} is also a real server of service \"{}\"", rs.address, service.name);
            return Err(ConfigError::invalid(at, reason));
        }
        let mut with_sorry = service.clone();
        with_sorry.real_servers = vec![rs];
        with_sorry.health_check = None;
        self.check_real_server(&at, &with_sorry, 0)
    }

    /// A real server must be reachable; in DR it must also be on a connected subnet, because DR only
    /// rewrites the MAC address and so needs the server on the same link (LVS-DR requirement).
    fn check_reachable(&self, path: &str, service: &Service, ip: IpAddr) -> Result {
        let connected = self.interfaces.iter().flat_map(|i| &i.addresses).any(|a| a.contains(ip));
        let on_link = self.routes.iter().any(|r| r.via.is_none() && r.prefix.contains(ip));
        if service.forwarding == Forwarding::Dr {
            if connected || on_link {
                return Ok(());
            }
            let reason = format!(
                "real server {ip} is not on a connected subnet; forwarding: dr only rewrites the MAC \
                 address, so the server must share a link with vsd"
            );
            return Err(ConfigError::invalid(format!("{path}.address"), reason));
        }
        if connected || self.routes.iter().any(|r| r.prefix.contains(ip)) {
            return Ok(());
        }
        let reason = format!("real server {ip} is not reachable: no interface subnet or route covers it");
        Err(ConfigError::invalid(format!("{path}.address"), reason))
    }

    fn check_globals(&self) -> Result {
        let t = &self.timeouts;
        for (key, value) in [("tcp", t.tcp), ("tcp_fin", t.tcp_fin), ("udp", t.udp)] {
            if value.is_zero() {
                let reason = "must be greater than 0 (ipvsadm --set reads 0 as \"unchanged\"; omit the key \
                              for the LVS default)";
                return Err(ConfigError::invalid(format!("timeouts.{key}"), reason));
            }
        }
        if self.conn_table.capacity == 0 {
            return Err(ConfigError::invalid("conn_table.capacity", "must be greater than 0"));
        }
        if self.admin.socket.as_os_str().is_empty() {
            return Err(ConfigError::invalid("admin.socket", "must not be empty"));
        }
        Ok(())
    }

    fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    fn interface_names(&self) -> String {
        self.interfaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// Rules about one service that need no other part of the config.
/// `tunnel:` belongs to `forwarding: tunnel`; its port to GUE, its checksum to GUE and GRE (as
/// ipvsadm 1.31's `--tun-port` and `--tun-csum`).
fn check_tunnel(path: &str, service: &Service) -> Result {
    let Some(t) = &service.tunnel else { return Ok(()) };
    let at = format!("{path}.tunnel");
    if service.forwarding != Forwarding::Tunnel {
        let reason = format!("applies to forwarding: tunnel, not {}", service.forwarding.as_str());
        return Err(ConfigError::labelled(at, &service.name, reason));
    }
    match (t.kind, t.port) {
        (TunnelType::Gue, Some(0)) => Err(ConfigError::invalid(format!("{at}.port"), "must be 1..=65535")),
        (TunnelType::Ipip | TunnelType::Gre, Some(_)) => {
            let reason = format!("applies to type: gue only (ipvsadm --tun-port), not {}", t.kind.as_str());
            Err(ConfigError::invalid(format!("{at}.port"), reason))
        }
        _ if t.kind == TunnelType::Ipip && t.checksum => {
            let reason = "applies to type: gue and gre (ipvsadm --tun-csum); IPIP has no checksum";
            Err(ConfigError::invalid(format!("{at}.checksum"), reason))
        }
        _ => Ok(()),
    }
}

fn check_service_shape(path: &str, service: &Service) -> Result {
    let name = service.name.as_str();
    if service.vips.is_empty() {
        return Err(ConfigError::labelled(format!("{path}.vips"), name, "at least one VIP is needed"));
    }
    for (j, vip) in service.vips.iter().enumerate() {
        if service.vips[..j].contains(vip) {
            return Err(ConfigError::invalid(
                format!("{path}.vips[{j}]"),
                format!("VIP {vip} is listed twice"),
            ));
        }
    }
    if service.ports.is_empty() {
        let reason = "at least one port is needed ([0] for every port)";
        return Err(ConfigError::labelled(format!("{path}.ports"), name, reason));
    }
    for (j, port) in service.ports.iter().enumerate() {
        let at = format!("{path}.ports[{j}]");
        if service.ports[..j].contains(port) {
            return Err(ConfigError::invalid(at, format!("port {port} is listed twice")));
        }
        if *port == 0 && service.ports.len() > 1 {
            let reason = "port 0 means every port and cannot be mixed with other ports";
            return Err(ConfigError::invalid(at, reason));
        }
    }
    if service.is_every_port() && service.persistence.is_none() {
        let reason = "ports: [0] (every port) needs persistence, as in LVS: add `persistence: {}`";
        return Err(ConfigError::labelled(format!("{path}.ports"), name, reason));
    }
    if service.one_packet && service.protocol != Protocol::Udp {
        let reason = "one_packet applies to UDP only (ipvsadm --ops)";
        return Err(ConfigError::labelled(format!("{path}.one_packet"), name, reason));
    }
    check_tunnel(path, service)?;
    check_ipv6_service(path, service)?;
    if let Some(p) = &service.persistence {
        let at = format!("{path}.persistence");
        if p.timeout.is_zero() {
            return Err(ConfigError::invalid(format!("{at}.timeout"), "must be greater than 0"));
        }
        if p.netmask > IPV4_BITS {
            let reason = format!("netmask {} is longer than the {IPV4_BITS} bits of an address", p.netmask);
            return Err(ConfigError::invalid(format!("{at}.netmask"), reason));
        }
        if p.netmask6 > IPV6_BITS {
            let reason = format!("netmask {} is longer than the {IPV6_BITS} bits of an address", p.netmask6);
            return Err(ConfigError::invalid(format!("{at}.netmask6"), reason));
        }
    }
    Ok(())
}

/// IPv6 services run NAT (NAT66, with the FTP helper on port 21: EPRT and EPSV) and DR; what does
/// not run over IPv6 yet is refused by its key (issue "IPv6 in every mode"): tunnels (IPv6-in-IPv6,
/// GUE and GRE over IPv6).
fn check_ipv6_service(path: &str, service: &Service) -> Result {
    let Some(vip) = service.vips.iter().find(|v| v.is_ipv6()) else { return Ok(()) };
    if service.forwarding == Forwarding::Tunnel {
        let reason = format!("VIP {vip}: tunnels over IPv6 are not implemented yet (nat and dr are)");
        return Err(ConfigError::invalid(format!("{path}.forwarding"), reason));
    }
    Ok(())
}

/// `Prefix` refuses long lengths when parsed; this covers prefixes built in code.
fn check_prefix_len(path: &str, prefix: &Prefix) -> Result {
    Prefix::new(prefix.addr(), prefix.len()).map(|_| ()).map_err(|why| ConfigError::invalid(path, why))
}

fn check_mtu(path: &str, iface: &Interface) -> Result {
    let Some(mtu) = iface.mtu else { return Ok(()) };
    let has_v6 = iface.addresses.iter().any(|a| a.addr().is_ipv6());
    let (min, rfc) = if has_v6 { (MIN_MTU_V6, "RFC 8200 for IPv6") } else { (MIN_MTU_V4, "RFC 791") };
    if mtu < min {
        let reason = format!("MTU {mtu} is below the minimum of {min} ({rfc})");
        return Err(ConfigError::labelled(format!("{path}.mtu"), &iface.name, reason));
    }
    Ok(())
}

/// A virtual device (`net_*`, DPDK's vdev driver prefix) exists only if a `--vdev` creates it; when the
/// port repeats the devargs, they must be the ones given to EAL, or the file says two things.
fn check_vdev(path: &str, eal: &[String], iface: &Interface) -> Result {
    let device = iface.device();
    if !device.starts_with("net_") {
        return Ok(());
    }
    let vdevs: Vec<&str> = eal
        .iter()
        .enumerate()
        .filter_map(|(i, arg)| match arg.as_str() {
            "--vdev" => eal.get(i + 1).map(String::as_str),
            arg => arg.strip_prefix("--vdev="),
        })
        .collect();
    let Some(vdev) = vdevs.iter().find(|v| v.split(',').next().map(str::trim) == Some(device)) else {
        let reason = format!("port \"{device}\" is a virtual device, but no --vdev in dpdk.eal creates it");
        return Err(ConfigError::invalid(path, reason));
    };
    if iface.port.contains(',') && iface.port.trim() != vdev.trim() {
        let reason = format!("port \"{}\" does not match dpdk.eal's --vdev \"{vdev}\"", iface.port);
        return Err(ConfigError::invalid(path, reason));
    }
    Ok(())
}

/// The cores of EAL's `-l LIST` option (`0-3,5`), with the list as written; `None` when the option is
/// absent or uses a form we do not read (`--lcores` with core groups), in which case EAL checks alone.
fn eal_core_list(eal: &[String]) -> Option<(String, Vec<RangeInclusive<u32>>)> {
    let list = eal.iter().enumerate().find_map(|(i, arg)| match arg.as_str() {
        "-l" => eal.get(i + 1).cloned(),
        arg => arg.strip_prefix("-l").filter(|rest| !rest.is_empty()).map(str::to_string),
    })?;
    // Kept as ranges: `0-4000000000` must not become a vector of four billion cores.
    let mut cores = Vec::new();
    for item in list.split(',') {
        let (lo, hi) = item.split_once('-').unwrap_or((item, item));
        cores.push(lo.trim().parse().ok()?..=hi.trim().parse().ok()?);
    }
    Some((list, cores))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eal(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn reads_the_eal_core_list() {
        let (list, cores) = eal_core_list(&eal(&["--no-pci", "-l", "0,2-3"])).unwrap();
        assert_eq!((list.as_str(), cores), ("0,2-3", vec![0..=0, 2..=3]));
        let (_, cores) = eal_core_list(&eal(&["-l1-4000000000"])).unwrap();
        assert_eq!(cores, [1..=4_000_000_000]);
        // Forms we do not read leave the check to EAL.
        assert_eq!(eal_core_list(&eal(&["--lcores", "(0-1)@0"])), None);
        assert_eq!(eal_core_list(&eal(&["-l", "0-x"])), None);
        assert_eq!(eal_core_list(&eal(&["-l"])), None);
    }

    /// The IPv6 MTU minimum, which a config cannot reach while IPv6 addresses are refused.
    #[test]
    fn ipv6_link_mtu_minimum_is_1280() {
        let mut iface = Interface {
            name: "ext".into(),
            port: "net_af_packet0".into(),
            addresses: vec!["2001:db8:1::2/64".parse().unwrap()],
            mtu: Some(1200),
            neighbours: Vec::new(),
        };
        let error = check_mtu("interfaces[0]", &iface).unwrap_err().to_string();
        assert!(error.contains("MTU 1200 is below the minimum of 1280 (RFC 8200 for IPv6)"), "{error}");
        iface.mtu = Some(1280);
        assert!(check_mtu("interfaces[0]", &iface).is_ok());
    }
}
