//! Per-core counters: written by one worker, read by the control thread.
//!
//! Each counter has exactly one writer (its worker core), so an increment is a relaxed load and a
//! relaxed store, never a locked read-modify-write: on x86 that is two plain `mov`s. The control
//! thread reads with relaxed loads and sums the cores at scrape time. A reader may see a value a few
//! packets old, never a torn one.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A single-writer counter.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

/// A copy holds the value at the time of copying: for the owning core, which moves its counters
/// to a larger array when a reload adds real servers.
impl Clone for Counter {
    fn clone(&self) -> Counter {
        Counter(AtomicU64::new(self.get()))
    }
}

impl Counter {
    /// Add `n`. Only the owning core may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtract `n` (gauges such as active connections). Only the owning core may call this.
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_sub(n), Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A single-writer gauge: its owning core stores the current value (a level, not a sum).
#[derive(Default, Debug)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Only the owning core may call this.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

macro_rules! reasons {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[repr(u8)]
        pub enum $name { $($(#[$vm])* $v,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub const COUNT: usize = $name::ALL.len();

            /// The snake_case name used in stats and metric labels.
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
        }
    };
}

reasons! {
    /// Why the worker dropped a packet that parsed. Parse failures are counted by
    /// [`crate::wire::ParseError`] instead.
    DropReason {
        /// Not addressed to one of our MACs (promiscuous ports see the whole segment).
        NotForUs => "not_for_us",
        /// A tagged frame on a port without VLAN configuration.
        Vlan => "vlan",
        /// An IPv6 packet whose extension headers the classifier did not walk to the transport
        /// header: a routing header with segments left (its final destination is not the
        /// destination field, which the transport checksum does not cover: not balanced), a
        /// hop-by-hop header after the first, or an extension header that is not walked
        /// (mobility, HIP, shim6). See [`crate::wire::parse::Parsed::ip_proto`].
        Ipv6 => "ipv6",
        /// Neither ARP, IPv4 nor IPv6.
        Ethertype => "ethertype",
        /// An ARP packet we do not answer or learn from.
        Arp => "arp",
        /// An IP fragment (vsd does not reassemble).
        Fragment => "fragment",
        /// For a local address, but not something we answer (e.g. TCP to the interface address).
        Local => "local",
        /// An ICMP message we do not handle.
        Icmp => "icmp",
        /// To a VIP, but no service on that protocol and port.
        NoService => "no_service",
        /// TCP without SYN and no connection (LVS does not schedule those).
        NoConn => "no_conn",
        /// The service has no real server that may take new connections.
        NoDest => "no_dest",
        /// The connection table is full.
        TableFull => "table_full",
        /// No route to the destination.
        NoRoute => "no_route",
        /// TTL reached zero while routing.
        TtlExceeded => "ttl_exceeded",
        /// The next hop's MAC is being resolved and its hold queue is full.
        NeighQueueFull => "neigh_queue_full",
        /// The next hop never answered ARP; its held packets are dropped.
        NeighUnresolved => "neigh_unresolved",
        /// Neither to a VIP nor part of a known connection.
        NoMatch => "no_match",
        /// A connection's real server was removed (LVS drops these unless `expire_nodest_conn`).
        DestRemoved => "dest_removed",
        /// The TX queue refused the packet (counted by the driver).
        TxFull => "tx_full",
        /// A multi-segment buffer (counted by the driver).
        Segmented => "segmented",
        /// No mbuf for a packet vsd had to generate (counted by the driver).
        NoMbuf => "no_mbuf",
        /// The redirect ring to the owner worker was full (counted by the driver).
        RedirectFull => "redirect_full",
        /// Larger than the tunnel MTU to its real server (with DF, the client was sent
        /// fragmentation-needed).
        TooBig => "too_big",
        /// No headroom in the buffer for an encapsulation or ICMP header.
        NoHeadroom => "no_headroom",
        /// An ICMP error toward a client over the worker's budget (1000/s, bursts of 50, as Linux).
        IcmpRateLimit => "icmp_rate_limit",
    }
}

/// Counters of one worker core. Cache-line aligned so that two cores' counters never share a line.
#[repr(align(64))]
#[derive(Default, Debug)]
pub struct WorkerStats {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
    pub arp_replies: Counter,
    pub arp_requests: Counter,
    pub icmp_echo_replies: Counter,
    /// Packets encapsulated toward tunnel real servers.
    pub tunnel_packets: Counter,
    /// ICMP errors vsd built (fragmentation needed for the tunnel MTU).
    pub icmp_errors_sent: Counter,
    /// ICMP errors of tracked connections forwarded: translated (NAT), relayed (tunnel) or passed on.
    pub icmp_errors_forwarded: Counter,
    pub conns_created: Counter,
    pub conns_expired: Counter,
    pub templates_created: Counter,
    /// Packets this worker received but another owns, handed over its redirect rings.
    pub redirected_out: Counter,
    /// Packets other workers handed to this one.
    pub redirected_in: Counter,
    pub templates_expired: Counter,
    /// TSC cycles of every poll-loop pass, and of the passes that received packets: their ratio is
    /// the busy fraction (DPDK's "poll busyness": a poll that returned packets counts as busy).
    pub cycles: Counter,
    pub busy_cycles: Counter,
    /// New NAT connections whose out key (real server → client) another entry already had: one
    /// client port to two VIPs on the same real server and port. Their replies go to the older
    /// entry, as in LVS.
    pub out_key_clashes: Counter,
    /// Connection table entries in use (connections and templates), refreshed every timer tick.
    pub conn_entries: Gauge,
    pub drops: [Counter; DropReason::COUNT],
    pub parse_errors: [Counter; crate::wire::ParseError::ALL.len()],
}

impl WorkerStats {
    #[inline]
    pub fn count_drop(&self, r: DropReason) {
        self.drops[r as usize].inc();
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().chain(self.parse_errors.iter()).map(Counter::get).sum()
    }
}

/// Counters of one real server on one core (LVS's per-destination stats).
#[repr(align(64))]
#[derive(Default, Debug, Clone)]
pub struct DestStats {
    /// Connections scheduled to this server.
    pub conns: Counter,
    pub in_packets: Counter,
    pub in_bytes: Counter,
    pub out_packets: Counter,
    pub out_bytes: Counter,
    /// Gauges, as ipvsadm's ActiveConn / InActConn.
    pub active: Counter,
    pub inactive: Counter,
    /// Persistence templates pointing at this server (ipvsadm's PersistConn).
    pub persistent: Counter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_and_sub() {
        let c = Counter::default();
        c.add(5);
        c.inc();
        c.sub(2);
        assert_eq!(c.get(), 4);
    }

    #[test]
    fn gauge_holds_the_last_value() {
        let g = Gauge::default();
        g.set(7);
        g.set(3);
        assert_eq!(g.get(), 3);
    }

    #[test]
    fn reason_names_are_unique_snake_case() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
