//! What a port is configured with, and the DPDK flag names it uses.
//!
//! [`PortConf`] holds the few knobs vsd sets; [`PortConf::check`] compares them with the port's
//! capabilities before `rte_eth_dev_configure`, so an unsupported RSS type or offload is reported by
//! name instead of as DPDK's bare `EINVAL`. Flag values come from bindgen (rte_ethdev.h), so they
//! follow the installed DPDK.

use crate::error::{Error, Result};
use crate::ethdev::info::PortInfo;
use crate::sys;

/// RSS hash types (`RTE_ETH_RSS_*`, rte_ethdev.h), for [`RssConf::hf`].
pub mod rss {
    use crate::sys;
    /// IPv4/IPv6 addresses, all packet kinds.
    pub const IP: u64 = sys::RTE_ETH_RSS_IP;
    /// Addresses and ports of TCP.
    pub const TCP: u64 = sys::RTE_ETH_RSS_TCP;
    /// Addresses and ports of UDP.
    pub const UDP: u64 = sys::RTE_ETH_RSS_UDP;
    /// Addresses and ports of SCTP.
    pub const SCTP: u64 = sys::RTE_ETH_RSS_SCTP;
}

/// RX offloads (`RTE_ETH_RX_OFFLOAD_*`, rte_ethdev.h), for [`PortConf::rx_offloads`].
pub mod rx_offload {
    use crate::sys;
    pub const IPV4_CKSUM: u64 = sys::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    pub const UDP_CKSUM: u64 = sys::RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
    pub const TCP_CKSUM: u64 = sys::RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
    /// Deliver the RSS hash in `mbuf.hash.rss`.
    pub const RSS_HASH: u64 = sys::RTE_ETH_RX_OFFLOAD_RSS_HASH;
}

/// TX offloads (`RTE_ETH_TX_OFFLOAD_*`, rte_ethdev.h), for [`PortConf::tx_offloads`].
pub mod tx_offload {
    use crate::sys;
    pub const IPV4_CKSUM: u64 = sys::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    pub const UDP_CKSUM: u64 = sys::RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    pub const TCP_CKSUM: u64 = sys::RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
    /// All mbufs come from one pool with refcount 1, so the driver may free them in bulk.
    pub const MBUF_FAST_FREE: u64 = sys::RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    pub const MULTI_SEGS: u64 = sys::RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
}

/// Receive-side scaling: which headers the NIC hashes, with which Toeplitz key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RssConf {
    /// Hash types, a mask of [`rss`] constants.
    pub hf: u64,
    /// The Toeplitz key (`hash_key_size` bytes, usually 40), or `None` for the driver's default.
    pub key: Option<Vec<u8>>,
}

/// How to set up a port: queue counts, ring sizes, RSS, MTU and offloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConf {
    pub rx_queues: u16,
    pub tx_queues: u16,
    /// RX descriptors per queue (adjusted to the driver's limits).
    pub rx_desc: u16,
    /// TX descriptors per queue (adjusted to the driver's limits).
    pub tx_desc: u16,
    pub rss: Option<RssConf>,
    /// L3 MTU; `None` keeps DPDK's default of 1500 (`RTE_ETHER_MTU`).
    pub mtu: Option<u16>,
    /// A mask of [`rx_offload`] constants.
    pub rx_offloads: u64,
    /// A mask of [`tx_offload`] constants.
    pub tx_offloads: u64,
}

impl Default for PortConf {
    /// One queue each way, 1024 descriptors (DPDK examples' `RX_DESC_DEFAULT`), no RSS, no offloads.
    fn default() -> Self {
        PortConf {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: None,
            mtu: None,
            rx_offloads: 0,
            tx_offloads: 0,
        }
    }
}

impl PortConf {
    /// Checks the configuration against what the port can do. `call` names the port in errors.
    pub fn check(&self, info: &PortInfo, call: &str) -> Result<()> {
        let fail = |reason: String| Err(Error::invalid(call, reason));
        let driver = &info.driver_name;
        if self.rx_queues == 0 || self.rx_queues > info.max_rx_queues {
            return fail(format!(
                "{} RX queues requested, {driver} allows 1..={}",
                self.rx_queues, info.max_rx_queues
            ));
        }
        if self.tx_queues == 0 || self.tx_queues > info.max_tx_queues {
            return fail(format!(
                "{} TX queues requested, {driver} allows 1..={}",
                self.tx_queues, info.max_tx_queues
            ));
        }
        let unsupported = self.rx_offloads & !info.rx_offload_capa;
        if unsupported != 0 {
            return fail(format!("RX offloads {unsupported:#x} not supported by {driver}"));
        }
        let unsupported = self.tx_offloads & !info.tx_offload_capa;
        if unsupported != 0 {
            return fail(format!("TX offloads {unsupported:#x} not supported by {driver}"));
        }
        if let Some(mtu) = self.mtu {
            if mtu < info.min_mtu || mtu > info.max_mtu {
                return fail(format!("MTU {mtu} outside {driver}'s {}..={}", info.min_mtu, info.max_mtu));
            }
        }
        if let Some(rss) = &self.rss {
            check_rss(rss, info).or_else(fail)?;
        }
        Ok(())
    }

    /// The `rte_eth_conf` for this configuration. `key` must stay alive while the port is
    /// configured: DPDK keeps the pointer and some drivers read the key again at start.
    pub(crate) fn to_eth_conf(&self, key: Option<&[u8]>) -> sys::rte_eth_conf {
        let mut conf = sys::rte_eth_conf::default();
        conf.rxmode.mtu = self.mtu.map_or(0, u32::from);
        conf.rxmode.offloads = self.rx_offloads;
        conf.txmode.offloads = self.tx_offloads;
        if let Some(rss) = &self.rss {
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            let rss_conf = &mut conf.rx_adv_conf.rss_conf;
            rss_conf.rss_hf = rss.hf;
            if let Some(key) = key {
                rss_conf.rss_key = key.as_ptr().cast_mut();
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "check_rss made it the driver's hash_key_size, a u8"
                )]
                let len = key.len() as u8;
                rss_conf.rss_key_len = len;
            }
        }
        conf
    }
}

/// Checks an RSS setting against the port; the error text is the reason alone.
pub(crate) fn check_rss(rss: &RssConf, info: &PortInfo) -> std::result::Result<(), String> {
    let driver = &info.driver_name;
    let unsupported = rss.hf & !info.flow_type_rss_offloads;
    if unsupported != 0 {
        return Err(format!(
            "RSS hash types {unsupported:#x} not supported by {driver} (supported: {:#x})",
            info.flow_type_rss_offloads
        ));
    }
    if let Some(key) = &rss.key {
        if key.len() != usize::from(info.hash_key_size) {
            return Err(format!("RSS key of {} bytes, {driver} takes {}", key.len(), info.hash_key_size));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic() -> PortInfo {
        PortInfo {
            driver_name: "net_test".to_owned(),
            max_rx_queues: 8,
            max_tx_queues: 8,
            rx_offload_capa: rx_offload::RSS_HASH | rx_offload::IPV4_CKSUM,
            tx_offload_capa: tx_offload::MBUF_FAST_FREE,
            flow_type_rss_offloads: rss::IP | rss::TCP,
            reta_size: 128,
            hash_key_size: 40,
            min_mtu: 68,
            max_mtu: 9000,
        }
    }

    #[test]
    fn supported_configuration_passes() {
        let conf = PortConf {
            rx_queues: 4,
            rss: Some(RssConf { hf: rss::IP | rss::TCP, key: Some(vec![0x6d; 40]) }),
            rx_offloads: rx_offload::RSS_HASH,
            mtu: Some(1500),
            ..PortConf::default()
        };
        assert_eq!(conf.check(&nic(), "port 0"), Ok(()));
    }

    #[test]
    fn each_unsupported_knob_is_named() {
        let cases: [(PortConf, &str); 6] = [
            (
                PortConf { rx_queues: 9, ..PortConf::default() },
                "9 RX queues requested, net_test allows 1..=8",
            ),
            (PortConf { tx_queues: 0, ..PortConf::default() }, "0 TX queues"),
            (PortConf { rx_offloads: rx_offload::TCP_CKSUM, ..PortConf::default() }, "RX offloads 0x"),
            (PortConf { mtu: Some(9001), ..PortConf::default() }, "MTU 9001 outside"),
            (
                PortConf { rss: Some(RssConf { hf: rss::UDP, key: None }), ..PortConf::default() },
                "RSS hash types",
            ),
            (
                PortConf {
                    rss: Some(RssConf { hf: rss::IP, key: Some(vec![0; 52]) }),
                    ..PortConf::default()
                },
                "RSS key of 52 bytes, net_test takes 40",
            ),
        ];
        for (conf, expected) in cases {
            let err = conf.check(&nic(), "port 3").unwrap_err().to_string();
            assert!(err.starts_with("port 3: ") && err.contains(expected), "{err}");
        }
    }

    #[test]
    fn eth_conf_carries_rss_and_key_pointer() {
        let key = vec![7u8; 40];
        let conf = PortConf {
            rss: Some(RssConf { hf: rss::TCP, key: Some(key.clone()) }),
            mtu: Some(9000),
            tx_offloads: tx_offload::MBUF_FAST_FREE,
            ..PortConf::default()
        };
        let eth = conf.to_eth_conf(Some(&key));
        assert_eq!(eth.rxmode.mq_mode, sys::RTE_ETH_MQ_RX_RSS);
        assert_eq!(eth.rxmode.mtu, 9000);
        assert_eq!(eth.txmode.offloads, tx_offload::MBUF_FAST_FREE);
        assert_eq!(eth.rx_adv_conf.rss_conf.rss_hf, rss::TCP);
        assert_eq!(eth.rx_adv_conf.rss_conf.rss_key.cast_const(), key.as_ptr());
        assert_eq!(eth.rx_adv_conf.rss_conf.rss_key_len, 40);

        let plain = PortConf::default().to_eth_conf(None);
        assert_eq!(plain.rxmode.mq_mode, sys::RTE_ETH_MQ_RX_NONE);
        assert_eq!(plain.rxmode.mtu, 0, "0 asks DPDK for its default MTU");
    }
}
