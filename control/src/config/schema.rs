//! The config file's shape: one Rust type per YAML mapping, keys exactly as documented in
//! docs/CONFIG.md.
//!
//! Every struct has `deny_unknown_fields`, so a typo such as `adress:` is refused with the list of the
//! keys that are known, instead of being silently ignored and leaving a default in place. Optional keys
//! with an LVS or DPDK default hold the value itself (filled by `#[serde(default)]`), and `Option` is
//! kept for keys whose absence means something (no persistence, no MTU override, no forced egress).
//! Parsing here is only about types and single values; rules that relate several keys live in
//! `validate.rs`, so that a config built in code (a `vsadm` edit) goes through the same checks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::health::{CheckKind, HealthCheck, SorryServer};
use super::{addr, duration, prefix::Prefix};

/// Mempool size: 2^14 - 1, since a DPDK mempool is most memory-efficient at 2^q - 1 elements
/// (rte_mempool.h, `rte_mempool_create`).
pub const DEFAULT_MBUFS: u32 = 16_383;
/// RX ring size, DPDK 22.11 l3fwd's `RX_DESC_DEFAULT`.
pub const DEFAULT_RX_DESC: u16 = 1024;
/// TX ring size, DPDK 22.11 l3fwd's `TX_DESC_DEFAULT`.
pub const DEFAULT_TX_DESC: u16 = 1024;
/// Persistence timeout: ipvsadm's `IPVS_SVC_PERSISTENT_TIMEOUT` (6*60 s), used by `-p` without a value.
pub const DEFAULT_PERSISTENCE_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// Persistence granularity for IPv4 clients: one client address (ipvsadm `-M 255.255.255.255`).
pub const DEFAULT_NETMASK: u8 = 32;
/// Persistence granularity for IPv6 clients: one client address (ipvsadm `-M 128`).
pub const DEFAULT_NETMASK6: u8 = 128;
/// Real server weight: ipvsadm's default for `-w`.
pub const DEFAULT_WEIGHT: u32 = 1;
/// Largest real server weight ipvsadm accepts for `-w` (ipvsadm.c, `parse_options`, 0..65535).
pub const MAX_WEIGHT: u32 = 65_535;
/// TCP ESTABLISHED timeout, LVS `tcp_timeouts[IP_VS_TCP_S_ESTABLISHED]` (15*60 s, ip_vs_proto_tcp.c).
pub const DEFAULT_TCP_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// TCP FIN_WAIT timeout, LVS `tcp_timeouts[IP_VS_TCP_S_FIN_WAIT]` (2*60 s, ip_vs_proto_tcp.c).
pub const DEFAULT_TCP_FIN_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// UDP timeout, LVS `udp_timeouts[IP_VS_UDP_S_NORMAL]` (5*60 s, ip_vs_proto_udp.c).
pub const DEFAULT_UDP_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Connection entries per worker core; 2^20, sized at start (no allocation on the fast path).
pub const DEFAULT_CONN_CAPACITY: u32 = 1 << 20;
/// Prometheus listener: loopback only by default, port 9108 as in the design brief.
pub const DEFAULT_METRICS_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9108));
/// Admin socket path used by `vsadm`.
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/vsd/admin.sock";

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub dpdk: Dpdk,
    pub workers: Workers,
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// LVS sysctl `expire_nodest_conn`: expire connections whose real server was removed instead of
    /// dropping their packets.
    #[serde(default)]
    pub expire_nodest_conn: bool,
    /// LVS sysctl `expire_quiescent_template`: a template pointing at a weight-0 server is invalid.
    #[serde(default)]
    pub expire_quiescent_template: bool,
    #[serde(default)]
    pub conn_table: ConnTable,
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default)]
    pub admin: Admin,
}

/// DPDK environment and queue sizing.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dpdk {
    /// EAL arguments, passed to `rte_eal_init` as they are (argv[0] is added by the daemon).
    pub eal: Vec<String>,
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    #[serde(default = "default_rx_desc")]
    pub rx_desc: u16,
    #[serde(default = "default_tx_desc")]
    pub tx_desc: u16,
}

/// The lcores that run packet workers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workers {
    pub lcores: Vec<u32>,
}

/// One DPDK port and the addresses vsd answers ARP/ND for on it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Name used by routes and in logs and metrics.
    pub name: String,
    /// DPDK device name (`net_af_packet0`, `net_af_packet0,iface=vsd-ext`) or PCI address.
    pub port: String,
    pub addresses: Vec<Prefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Static neighbours (`ip neigh add ... nud permanent`): never resolved by ARP, never replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<Neighbour>,
}

/// A static neighbour entry: this address is at this MAC, on a connected subnet of the interface.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbour {
    #[serde(deserialize_with = "addr::ip")]
    pub address: IpAddr,
    #[serde(deserialize_with = "addr::mac", serialize_with = "addr::mac_to_text")]
    pub mac: [u8; 6],
}

impl Interface {
    /// The DPDK device name: `port` up to the first comma, so that `net_af_packet0,iface=vsd-ext`
    /// (the vdev's devargs, as written in `--vdev`) and `net_af_packet0` name the same port.
    pub fn device(&self) -> &str {
        self.port.split(',').next().unwrap_or(&self.port).trim()
    }
}

/// A static route. With `via`, packets go to that next hop; without it, the prefix is on-link on
/// `interface`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub prefix: Prefix,
    #[serde(default, deserialize_with = "addr::opt_ip", skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// A virtual service: ipvsadm `-A`, one or more VIPs and ports sharing scheduler and persistence.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    #[serde(deserialize_with = "addr::ip_list")]
    pub vips: Vec<IpAddr>,
    pub protocol: Protocol,
    /// `[0]` means every port (persistent services only).
    pub ports: Vec<u16>,
    #[serde(default)]
    pub scheduler: Scheduler,
    pub forwarding: Forwarding,
    /// The encapsulation of `forwarding: tunnel` (ipvsadm 1.31 `--tun-type`); IPIP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
    /// ipvsadm `-o`/`--ops`: schedule each UDP datagram on its own.
    #[serde(default, skip_serializing_if = "is_false")]
    pub one_packet: bool,
    #[serde(default)]
    pub real_servers: Vec<RealServer>,
    /// The check each real server gets unless it has its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// keepalived's `inhibit_on_failure`: a failed server keeps its place at weight 0 (true) or is
    /// taken out of the service (false).
    #[serde(default = "super::health::default_inhibit", skip_serializing_if = "super::health::is_true")]
    pub inhibit_on_failure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<SorryServer>,
}

impl Service {
    /// True for a port-0 service (`ports: [0]`), which matches every port of its VIPs.
    pub fn is_every_port(&self) -> bool {
        self.ports == [0]
    }
}

/// Connection affinity (ipvsadm `-p`/`-M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Persistence {
    #[serde(default = "default_persistence_timeout", with = "duration")]
    pub timeout: Duration,
    /// Prefix length applied to IPv4 client addresses; written as `24` or `255.255.255.0`.
    #[serde(default = "default_netmask", deserialize_with = "addr::netmask")]
    pub netmask: u8,
    /// Prefix length applied to IPv6 client addresses.
    #[serde(default = "default_netmask6", deserialize_with = "addr::netmask6")]
    pub netmask6: u8,
}

impl Default for Persistence {
    fn default() -> Self {
        Self { timeout: DEFAULT_PERSISTENCE_TIMEOUT, netmask: DEFAULT_NETMASK, netmask6: DEFAULT_NETMASK6 }
    }
}

/// A tunnel service's encapsulation: ipvsadm 1.31 `--tun-type`, `--tun-port`, `--tun-nocsum|csum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tunnel {
    #[serde(rename = "type")]
    pub kind: TunnelType,
    /// GUE's UDP destination port; GUE only (default 6080).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// GUE: UDP checksum; GRE: GRE checksum (`--tun-csum`). Off by default (`--tun-nocsum`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub checksum: bool,
}

/// ipvsadm's `--tun-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    /// IP in IP (RFC 2003).
    Ipip,
    /// Generic UDP Encapsulation, variant 0 (Linux FOU `encap gue`).
    Gue,
    /// GRE (RFC 2784) carrying IPv4.
    Gre,
}

impl TunnelType {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelType::Ipip => "ipip",
            TunnelType::Gue => "gue",
            TunnelType::Gre => "gre",
        }
    }
}

/// A real server (ipvsadm `-a -r`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RealServer {
    #[serde(deserialize_with = "addr::ip")]
    pub address: IpAddr,
    /// 0 keeps the client's destination port.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub port: u16,
    /// 0..=65535; 0 quiesces the server (no new connections).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// This server's own check, replacing the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// Connection timeouts, as `ipvsadm --set tcp tcpfin udp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default = "default_tcp_timeout", with = "duration")]
    pub tcp: Duration,
    #[serde(default = "default_tcp_fin_timeout", with = "duration")]
    pub tcp_fin: Duration,
    #[serde(default = "default_udp_timeout", with = "duration")]
    pub udp: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { tcp: DEFAULT_TCP_TIMEOUT, tcp_fin: DEFAULT_TCP_FIN_TIMEOUT, udp: DEFAULT_UDP_TIMEOUT }
    }
}

/// Connection table sizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnTable {
    /// Connection entries per worker core.
    #[serde(default = "default_conn_capacity")]
    pub capacity: u32,
}

impl Default for ConnTable {
    fn default() -> Self {
        Self { capacity: DEFAULT_CONN_CAPACITY }
    }
}

/// Prometheus exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    #[serde(default = "default_metrics_listen", deserialize_with = "addr::socket")]
    pub listen: SocketAddr,
}

impl Default for Metrics {
    fn default() -> Self {
        Self { listen: DEFAULT_METRICS_LISTEN }
    }
}

/// Admin API for `vsadm`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    #[serde(default = "default_admin_socket")]
    pub socket: PathBuf,
}

impl Default for Admin {
    fn default() -> Self {
        Self { socket: default_admin_socket() }
    }
}

/// Transport protocol of a service (ipvsadm `-t` / `-u`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// IANA protocol number (RFC 793 / RFC 768; IANA "Assigned Internet Protocol Numbers").
    pub fn ip_number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
}

/// Scheduling algorithm, named as ipvsadm's `-s` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections; ipvsadm's default (`DEF_SCHED` in ipvsadm.c).
    #[default]
    Wlc,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Source hashing.
    Sh,
    /// Destination hashing.
    Dh,
    /// Maglev hashing.
    Mh,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
}

impl Scheduler {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Sh => "sh",
            Scheduler::Dh => "dh",
            Scheduler::Mh => "mh",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
        }
    }
}

/// Packet forwarding method (ipvsadm `-m`, `-g`, `-i`; full NAT as DPVS's `-b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Forwarding {
    /// Masquerading: rewrite the destination; replies come back through vsd.
    Nat,
    /// Direct routing (gatewaying): rewrite only the MAC; the real server answers the client directly.
    Dr,
    /// IP-in-IP tunnelling (RFC 2003); the real server answers the client directly.
    Tunnel,
    /// Rewrite source and destination; replies come back to a vsd local address.
    Fullnat,
}

impl Forwarding {
    pub fn as_str(self) -> &'static str {
        match self {
            Forwarding::Nat => "nat",
            Forwarding::Dr => "dr",
            Forwarding::Tunnel => "tunnel",
            Forwarding::Fullnat => "fullnat",
        }
    }

    /// DR and tunnel leave the transport header alone, so the real server must listen on the VIP port.
    pub fn rewrites_ports(self) -> bool {
        matches!(self, Forwarding::Nat | Forwarding::Fullnat)
    }
}

fn default_mbufs() -> u32 {
    DEFAULT_MBUFS
}
fn default_rx_desc() -> u16 {
    DEFAULT_RX_DESC
}
fn default_tx_desc() -> u16 {
    DEFAULT_TX_DESC
}
fn default_persistence_timeout() -> Duration {
    DEFAULT_PERSISTENCE_TIMEOUT
}
fn default_netmask() -> u8 {
    DEFAULT_NETMASK
}
fn default_netmask6() -> u8 {
    DEFAULT_NETMASK6
}
fn default_weight() -> u32 {
    DEFAULT_WEIGHT
}
fn default_tcp_timeout() -> Duration {
    DEFAULT_TCP_TIMEOUT
}
fn default_tcp_fin_timeout() -> Duration {
    DEFAULT_TCP_FIN_TIMEOUT
}
fn default_udp_timeout() -> Duration {
    DEFAULT_UDP_TIMEOUT
}
fn default_conn_capacity() -> u32 {
    DEFAULT_CONN_CAPACITY
}
fn default_metrics_listen() -> SocketAddr {
    DEFAULT_METRICS_LISTEN
}
fn default_admin_socket() -> PathBuf {
    PathBuf::from(DEFAULT_ADMIN_SOCKET)
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(port: &u16) -> bool {
    *port == 0
}
