//! Every metric family vsd exports, as data: name, type, unit, label names and help.
//!
//! One table serves three readers: the collector (which can only emit a sample with exactly its
//! family's label names, see `collect`), the tests (every family is rendered, with these labels) and
//! docs/METRICS.md (checked to name every family). Names follow the Prometheus conventions: a `vsd_`
//! prefix, base units, and no `_total` / `_info` suffix here because the encoder appends it to the
//! samples of counters and info metrics (OpenMetrics 1.0, "Suffixes").

use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

/// The OpenMetrics type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Info,
}

impl Kind {
    pub fn metric_type(self) -> MetricType {
        match self {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
            Kind::Info => MetricType::Info,
        }
    }
}

#[derive(Debug)]
pub struct Family {
    /// The family name without unit or type suffix.
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Option<Unit>,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

impl Family {
    /// The family name as exposed (`# TYPE` line): the name with its unit.
    pub fn exposed(&self) -> String {
        match &self.unit {
            Some(u) => format!("{}_{}", self.name, u.as_str()),
            None => self.name.to_string(),
        }
    }

    /// The name its samples carry: counters end in `_total`, info metrics in `_info`.
    pub fn sample_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.exposed()),
            Kind::Info => format!("{}_info", self.exposed()),
            Kind::Gauge => self.exposed(),
        }
    }
}

const fn counter(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family { name, kind: Kind::Counter, unit: None, labels, help }
}

const fn bytes(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family { name, kind: Kind::Counter, unit: Some(Unit::Bytes), labels, help }
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family { name, kind: Kind::Gauge, unit: None, labels, help }
}

const fn info(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family { name, kind: Kind::Info, unit: None, labels, help }
}

/// A real server is named by its service and `address:port` (`[v6]:port`), as ipvsadm lists it.
const RS: &[&str] = &["service", "server"];
const WORKER: &[&str] = &["worker"];
const PORT: &[&str] = &["port"];

pub static BUILD: Family = info("vsd_build", &["version"], "vsd's version.");

pub static SERVICE: Family = info(
    "vsd_service",
    &["service", "protocol", "virtual", "scheduler", "forwarding"],
    "One sample per virtual address:port of each service, with its scheduler and forwarding method.",
);
pub static RS_CONNECTIONS: Family =
    counter("vsd_real_server_connections", RS, "Connections scheduled to the real server.");
pub static RS_IN_PACKETS: Family =
    counter("vsd_real_server_in_packets", RS, "Packets from clients forwarded to the real server.");
pub static RS_OUT_PACKETS: Family = counter(
    "vsd_real_server_out_packets",
    RS,
    "Reply packets from the real server forwarded to clients (NAT only; DR replies bypass vsd).",
);
pub static RS_IN_BYTES: Family =
    bytes("vsd_real_server_in", RS, "Bytes from clients forwarded to the real server.");
pub static RS_OUT_BYTES: Family =
    bytes("vsd_real_server_out", RS, "Reply bytes from the real server forwarded to clients.");
pub static RS_ACTIVE: Family =
    gauge("vsd_real_server_active_connections", RS, "Connections in ESTABLISHED state (ipvsadm ActiveConn).");
pub static RS_INACTIVE: Family =
    gauge("vsd_real_server_inactive_connections", RS, "Connections in any other state (ipvsadm InActConn).");
pub static RS_PERSISTENT: Family = gauge(
    "vsd_real_server_persistent_connections",
    RS,
    "Persistence templates pointing at the real server (ipvsadm PersistConn).",
);
pub static RS_WEIGHT: Family =
    gauge("vsd_real_server_weight", RS, "Current weight; 0 takes no new connections.");
pub static RS_UP: Family = gauge(
    "vsd_real_server_up",
    RS,
    "1 while the real server is in its service and healthy, 0 once removed or failing.",
);

pub static W_RX_PACKETS: Family = counter("vsd_worker_rx_packets", WORKER, "Packets the worker received.");
pub static W_RX_BYTES: Family = bytes("vsd_worker_rx", WORKER, "Bytes the worker received.");
pub static W_TX_PACKETS: Family =
    counter("vsd_worker_tx_packets", WORKER, "Packets the worker's TX queues accepted.");
pub static W_TX_BYTES: Family = bytes("vsd_worker_tx", WORKER, "Bytes the worker's TX queues accepted.");
pub static W_DROPS: Family = counter(
    "vsd_worker_drops",
    &["worker", "reason"],
    "Packets dropped, by reason; parse failures are reason parse_<error>.",
);
pub static W_REDIRECTED_OUT: Family = counter(
    "vsd_worker_redirected_out_packets",
    WORKER,
    "Packets received by this worker but owned by another, handed over a redirect ring.",
);
pub static W_REDIRECTED_IN: Family =
    counter("vsd_worker_redirected_in_packets", WORKER, "Packets other workers handed to this one.");
pub static W_CONNS_CREATED: Family =
    counter("vsd_worker_connections_created", WORKER, "Connection entries created.");
pub static W_CONNS_EXPIRED: Family =
    counter("vsd_worker_connections_expired", WORKER, "Connection entries expired.");
pub static W_TEMPLATES_CREATED: Family =
    counter("vsd_worker_templates_created", WORKER, "Persistence templates created.");
pub static W_TEMPLATES_EXPIRED: Family =
    counter("vsd_worker_templates_expired", WORKER, "Persistence templates expired.");
pub static W_ARP_REPLIES: Family =
    counter("vsd_worker_arp_replies", WORKER, "ARP replies and IPv6 Neighbour Advertisements sent.");
pub static W_ARP_REQUESTS: Family =
    counter("vsd_worker_arp_requests", WORKER, "ARP requests and IPv6 Neighbour Solicitations sent.");
pub static W_ECHO_REPLIES: Family =
    counter("vsd_worker_icmp_echo_replies", WORKER, "ICMP echo replies sent.");
pub static W_TUNNEL_PACKETS: Family =
    counter("vsd_worker_tunnel_packets", WORKER, "Packets encapsulated toward tunnel real servers.");
pub static W_ICMP_ERRORS_SENT: Family =
    counter("vsd_worker_icmp_errors_sent", WORKER, "ICMP errors built (fragmentation needed for a tunnel).");
pub static W_ICMP_ERRORS_FORWARDED: Family = counter(
    "vsd_worker_icmp_errors_forwarded",
    WORKER,
    "ICMP errors of tracked connections translated (NAT), relayed (tunnel) or passed on (DR).",
);
pub static W_OUT_KEY_CLASHES: Family = counter(
    "vsd_worker_out_key_clashes",
    WORKER,
    "New NAT connections whose reply key another connection had (one client port to two VIPs on one real server); their replies go to the older one.",
);
pub static W_TABLE_ENTRIES: Family = gauge(
    "vsd_worker_conn_table_entries",
    WORKER,
    "Connection table entries in use (connections and templates), as of the last timer tick.",
);
pub static W_TABLE_CAPACITY: Family =
    gauge("vsd_worker_conn_table_capacity", WORKER, "Connection table size (conn_table.capacity).");
pub static W_CYCLES: Family = counter("vsd_worker_cycles", WORKER, "TSC cycles of all poll-loop passes.");
pub static W_BUSY_CYCLES: Family = counter(
    "vsd_worker_busy_cycles",
    WORKER,
    "TSC cycles of poll-loop passes that received packets; divide by vsd_worker_cycles_total.",
);

pub static P_RX_PACKETS: Family = counter("vsd_port_rx_packets", PORT, "ethdev ipackets.");
pub static P_TX_PACKETS: Family = counter("vsd_port_tx_packets", PORT, "ethdev opackets.");
pub static P_RX_BYTES: Family = bytes("vsd_port_rx", PORT, "ethdev ibytes.");
pub static P_TX_BYTES: Family = bytes("vsd_port_tx", PORT, "ethdev obytes.");
pub static P_RX_MISSED: Family =
    counter("vsd_port_rx_missed", PORT, "ethdev imissed: dropped by the NIC, RX queues full.");
pub static P_RX_ERRORS: Family = counter("vsd_port_rx_errors", PORT, "ethdev ierrors.");
pub static P_TX_ERRORS: Family = counter("vsd_port_tx_errors", PORT, "ethdev oerrors.");
pub static P_RX_NOMBUF: Family =
    counter("vsd_port_rx_nombuf", PORT, "ethdev rx_nombuf: RX mbuf allocation failures.");
pub static P_STEERING: Family = info(
    "vsd_port_steering",
    &["port", "device", "mode", "detail"],
    "How packets reach their owner worker on the port: single, hardware_rss or software_redirect.",
);

/// Every family vsd exports.
pub static ALL: &[&Family] = &[
    &BUILD,
    &SERVICE,
    &RS_CONNECTIONS,
    &RS_IN_PACKETS,
    &RS_OUT_PACKETS,
    &RS_IN_BYTES,
    &RS_OUT_BYTES,
    &RS_ACTIVE,
    &RS_INACTIVE,
    &RS_PERSISTENT,
    &RS_WEIGHT,
    &RS_UP,
    &W_RX_PACKETS,
    &W_RX_BYTES,
    &W_TX_PACKETS,
    &W_TX_BYTES,
    &W_DROPS,
    &W_REDIRECTED_OUT,
    &W_REDIRECTED_IN,
    &W_CONNS_CREATED,
    &W_CONNS_EXPIRED,
    &W_TEMPLATES_CREATED,
    &W_TEMPLATES_EXPIRED,
    &W_ARP_REPLIES,
    &W_ARP_REQUESTS,
    &W_ECHO_REPLIES,
    &W_TUNNEL_PACKETS,
    &W_ICMP_ERRORS_SENT,
    &W_ICMP_ERRORS_FORWARDED,
    &W_OUT_KEY_CLASHES,
    &W_TABLE_ENTRIES,
    &W_TABLE_CAPACITY,
    &W_CYCLES,
    &W_BUSY_CYCLES,
    &P_RX_PACKETS,
    &P_TX_PACKETS,
    &P_RX_BYTES,
    &P_TX_BYTES,
    &P_RX_MISSED,
    &P_RX_ERRORS,
    &P_TX_ERRORS,
    &P_RX_NOMBUF,
    &P_STEERING,
];
