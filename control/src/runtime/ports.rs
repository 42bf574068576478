//! Port setup with steering: hardware RSS aligned to the owner function where the port can do it,
//! software redirect everywhere else.
//!
//! Aligned RSS hashes only the client address (L3 source on the client side, L3 destination on
//! the server side, where NAT replies come back), with vsd's Toeplitz key and a RETA that maps
//! buckets to queues exactly as [`Steering`] maps them to workers. That needs a port that accepts
//! the L3-only modifiers and /32 (/128) steering, since a NIC cannot mask the address first.
//! Otherwise packets land on any queue and the receiving worker redirects them to the owner.

use crate::config::{self, Config, Forwarding};
use std::fmt;
use vsd_dataplane::steer::{Steering, RETA_SIZE};
use vsd_ffi::ethdev::rss;
use vsd_ffi::{Mempool, Port, PortConf, RssConf};

/// DPDK's `RTE_ETH_RSS_L3_SRC_ONLY` / `RTE_ETH_RSS_L3_DST_ONLY` (`RTE_BIT64(63)`, `RTE_BIT64(62)`):
/// function-like macros that bindgen cannot evaluate.
const L3_SRC_ONLY: u64 = 1 << 63;
const L3_DST_ONLY: u64 = 1 << 62;

/// How packets reach their owner on one port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SteeringMode {
    /// One worker: nothing to steer.
    Single,
    /// The NIC hashes the client address (source or destination) like the owner function.
    Hardware { hashes: &'static str },
    /// Packets land anywhere; workers redirect. The reason says why hardware could not do it.
    Redirect(String),
}

impl fmt::Display for SteeringMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SteeringMode::Single => write!(f, "single worker"),
            SteeringMode::Hardware { hashes } => write!(f, "hardware RSS on the {hashes} address"),
            SteeringMode::Redirect(why) => write!(f, "software redirect ({why})"),
        }
    }
}

pub struct OpenPort {
    pub port: Port,
    pub mac: [u8; 6],
    /// RX queues on this port: workers 0..rx_queues poll it.
    pub rx_queues: u16,
    pub mode: SteeringMode,
}

/// Whether the interface faces servers (NAT replies come back to it) rather than clients: it holds
/// NAT real servers on its subnets and no VIP.
fn faces_servers(cfg: &Config, ifc: &config::Interface) -> bool {
    let on = |ip| ifc.addresses.iter().any(|a| a.contains(ip));
    let vip_here = cfg.services.iter().flat_map(|s| &s.vips).any(|v| on(*v));
    let nat_rs_here = cfg
        .services
        .iter()
        .filter(|s| s.forwarding == Forwarding::Nat)
        .flat_map(|s| &s.real_servers)
        .any(|rs| on(rs.address));
    nat_rs_here && !vip_here
}

pub fn open(
    cfg: &Config,
    ifc: &config::Interface,
    workers: u16,
    steering: &Steering,
    pool: &Mempool,
) -> Result<OpenPort, super::RuntimeError> {
    let port = Port::by_name(ifc.device())?;
    let info = port.info()?;
    if info.max_tx_queues < workers {
        return Err(super::RuntimeError::Config(format!(
            "interface {}: {} has {} TX queue(s) but each of the {workers} workers needs one \
             (for af_packet, add qpairs={workers} to its --vdev)",
            ifc.name, info.driver_name, info.max_tx_queues
        )));
    }
    let rx_queues = workers.min(info.max_rx_queues).max(1);
    let server_side = faces_servers(cfg, ifc);
    let (only, hashes) = if server_side { (L3_DST_ONLY, "destination") } else { (L3_SRC_ONLY, "source") };
    let aligned = rss::IP | only;
    let exact_prefix = steering.prefixes() == (32, 128);
    let mut base = PortConf {
        rx_queues,
        tx_queues: workers,
        rx_desc: cfg.dpdk.rx_desc,
        tx_desc: cfg.dpdk.tx_desc,
        mtu: ifc.mtu,
        ..PortConf::default()
    };
    let mut mode = if workers == 1 {
        SteeringMode::Single
    } else if rx_queues < workers {
        SteeringMode::Redirect(format!(
            "{} has {} RX queue(s) for {workers} workers",
            info.driver_name, rx_queues
        ))
    } else if !exact_prefix {
        SteeringMode::Redirect(
            "a persistence netmask coarser than /32 needs masking the NIC cannot do".into(),
        )
    } else if info.flow_type_rss_offloads & aligned != aligned
        || info.reta_size == 0
        || usize::from(info.reta_size) % RETA_SIZE != 0
    {
        SteeringMode::Redirect(format!("{} cannot hash the {hashes} address alone", info.driver_name))
    } else {
        SteeringMode::Hardware { hashes }
    };
    if matches!(mode, SteeringMode::Hardware { .. }) {
        base.rss = Some(RssConf { hf: aligned, key: Some(steering.key().to_vec()) });
        if let Err(e) = port.configure(&base, pool) {
            mode = SteeringMode::Redirect(format!("RSS refused: {e}"));
            base.rss = None;
            port.configure(&base, pool)?;
        }
    } else {
        // Some spreading beats none, even unaligned: the redirect rings fix up ownership.
        if rx_queues > 1 && info.flow_type_rss_offloads & rss::IP != 0 {
            base.rss = Some(RssConf { hf: rss::IP, key: None });
        }
        port.configure(&base, pool)?;
    }
    port.start()?;
    if let SteeringMode::Hardware { .. } = mode {
        let reta: Vec<u16> =
            (0..usize::from(info.reta_size)).map(|i| steering.reta()[i % steering.reta().len()]).collect();
        if let Err(e) = port.reta_update(&reta) {
            mode = SteeringMode::Redirect(format!("RETA refused: {e}"));
        }
    }
    if let Err(e) = port.promiscuous(true) {
        tracing::warn!("interface {}: promiscuous mode not available ({e}); continuing", ifc.name);
    }
    let mac = port.mac_addr()?;
    Ok(OpenPort { port, mac, rx_queues, mode })
}
