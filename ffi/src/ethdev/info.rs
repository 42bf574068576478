//! What a port reports: capabilities, link state and counters, as plain Rust values.
//!
//! The bindgen structs are large and full of pointers into driver memory; these copies keep only
//! what vsd uses, so they can be logged, compared and sent between threads.

use std::ffi::CStr;

use crate::sys;

/// A port's capabilities (`rte_eth_dev_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// The poll-mode driver, e.g. `net_ring` or `net_ixgbe`.
    pub driver_name: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub rx_offload_capa: u64,
    pub tx_offload_capa: u64,
    /// RSS hash types the hardware supports (a mask of `rss` constants).
    pub flow_type_rss_offloads: u64,
    /// Entries in the redirection table (0: no RSS).
    pub reta_size: u16,
    /// Bytes in the Toeplitz key (0: not settable).
    pub hash_key_size: u8,
    pub min_mtu: u16,
    pub max_mtu: u16,
}

impl PortInfo {
    pub(crate) fn from_raw(raw: &sys::rte_eth_dev_info) -> PortInfo {
        let driver_name = if raw.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null driver_name is the driver's static NUL-terminated name.
            unsafe { CStr::from_ptr(raw.driver_name) }.to_string_lossy().into_owned()
        };
        PortInfo {
            driver_name,
            max_rx_queues: raw.max_rx_queues,
            max_tx_queues: raw.max_tx_queues,
            rx_offload_capa: raw.rx_offload_capa,
            tx_offload_capa: raw.tx_offload_capa,
            flow_type_rss_offloads: raw.flow_type_rss_offloads,
            reta_size: raw.reta_size,
            hash_key_size: raw.hash_key_size,
            min_mtu: raw.min_mtu,
            max_mtu: raw.max_mtu,
        }
    }
}

/// Link state (`rte_eth_link`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    pub up: bool,
    /// Speed in Mb/s; `None` when unknown (`RTE_ETH_SPEED_NUM_UNKNOWN`) or no link.
    pub speed_mbps: Option<u32>,
    pub full_duplex: bool,
}

impl LinkStatus {
    pub(crate) fn from_raw(raw: &sys::rte_eth_link) -> LinkStatus {
        let speed = raw.link_speed;
        let known = speed != sys::RTE_ETH_SPEED_NUM_UNKNOWN && speed != sys::RTE_ETH_SPEED_NUM_NONE;
        LinkStatus {
            up: u32::from(raw.link_status()) == sys::RTE_ETH_LINK_UP,
            speed_mbps: known.then_some(speed),
            full_duplex: u32::from(raw.link_duplex()) == sys::RTE_ETH_LINK_FULL_DUPLEX,
        }
    }
}

/// Port counters (`rte_eth_stats`), totals since start or the last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// Packets the NIC dropped because RX queues were full.
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

impl PortStats {
    pub(crate) fn from_raw(raw: &sys::rte_eth_stats) -> PortStats {
        PortStats {
            ipackets: raw.ipackets,
            opackets: raw.opackets,
            ibytes: raw.ibytes,
            obytes: raw.obytes,
            imissed: raw.imissed,
            ierrors: raw.ierrors,
            oerrors: raw.oerrors,
            rx_nombuf: raw.rx_nombuf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_bits_and_unknown_speed() {
        let mut raw = sys::rte_eth_link { link_speed: sys::RTE_ETH_SPEED_NUM_10G, ..Default::default() };
        raw.set_link_status(u16::try_from(sys::RTE_ETH_LINK_UP).unwrap());
        raw.set_link_duplex(u16::try_from(sys::RTE_ETH_LINK_FULL_DUPLEX).unwrap());
        assert_eq!(
            LinkStatus::from_raw(&raw),
            LinkStatus { up: true, speed_mbps: Some(10_000), full_duplex: true }
        );

        raw.set_link_status(u16::try_from(sys::RTE_ETH_LINK_DOWN).unwrap());
        raw.link_speed = sys::RTE_ETH_SPEED_NUM_UNKNOWN;
        let down = LinkStatus::from_raw(&raw);
        assert!(!down.up);
        assert_eq!(down.speed_mbps, None);
    }
}
