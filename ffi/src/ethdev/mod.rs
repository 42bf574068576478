//! Ethernet ports: lookup, setup, state, counters and the burst fast path.
//!
//! [`Port`] is a `Copy` id, as in DPDK, so every worker can hold it. Setup calls return errors that
//! name the port and the call. The burst calls are the fast path: one FFI call moves a whole burst,
//! with a bounds check against the started queue counts (see `slots`) in place of DPDK's, which
//! release builds of DPDK leave out.
//!
//! Stop and close must not race with bursts on the same port. DPDK 22.11 swaps in dummy burst
//! functions on stop and the queue check here fails from then on, but a burst already inside the
//! driver would still race with the teardown: the runtime stops its workers first.

mod conf;
mod info;
mod slots;

use std::ffi::{c_char, CStr, CString};

pub use conf::{rss, rx_offload, tx_offload, PortConf, RssConf};
pub use info::{LinkStatus, PortInfo, PortStats};

use crate::burst::MbufBurst;
use crate::eal::LiveObject;
use crate::error::{check, Error, Result};
use crate::mempool::Mempool;
use crate::sys;

/// A DPDK ethernet port id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(u16);

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {}", self.0)
    }
}

impl Port {
    /// The port of a device name as EAL knows it: a vdev name such as `net_af_packet0` or a PCI
    /// address such as `0000:03:00.0`.
    pub fn by_name(name: &str) -> Result<Port> {
        let call = || format!("rte_eth_dev_get_port_by_name({name:?})");
        let c_name = CString::new(name).map_err(|_| Error::invalid(call(), "NUL byte in the name"))?;
        let mut id = 0u16;
        // SAFETY: c_name is a valid C string and id a valid out-pointer; the call only searches the
        // port table, which is valid whether or not EAL is up.
        let ret = unsafe { sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
        if ret < 0 {
            let known: Vec<String> = Port::all().iter().filter_map(|p| p.name().ok()).collect();
            let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
            return Err(Error::NoSuchPort { name: name.to_owned(), known });
        }
        Ok(Port(id))
    }

    /// The port with DPDK id `id`, if it exists.
    pub fn from_id(id: u16) -> Option<Port> {
        Port::all().into_iter().find(|p| p.0 == id)
    }

    /// Every available port, in id order.
    pub fn all() -> Vec<Port> {
        let mut ports = Vec::new();
        // SAFETY: rte_eth_find_next accepts any id and returns RTE_MAX_ETHPORTS past the last port.
        let mut id = unsafe { sys::rte_eth_find_next(0) };
        while u32::from(id) < sys::RTE_MAX_ETHPORTS {
            ports.push(Port(id));
            // SAFETY: as above.
            id = unsafe { sys::rte_eth_find_next(id + 1) };
        }
        ports
    }

    /// How many ports are available.
    pub fn count() -> u16 {
        // SAFETY: reads the port table; no preconditions.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The DPDK port id.
    pub fn id(self) -> u16 {
        self.0
    }

    /// The device name (the reverse of [`Port::by_name`]).
    pub fn name(self) -> Result<String> {
        let mut buf = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: buf has RTE_ETH_NAME_MAX_LEN bytes, as the call requires.
        let ret = unsafe { sys::rte_eth_dev_get_name_by_port(self.0, buf.as_mut_ptr()) };
        check(ret, || format!("rte_eth_dev_get_name_by_port({self})"))?;
        // SAFETY: on success buf holds a NUL-terminated name.
        Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
    }

    /// The port's capabilities.
    pub fn info(self) -> Result<PortInfo> {
        self.raw_info().map(|raw| PortInfo::from_raw(&raw))
    }

    fn raw_info(self) -> Result<sys::rte_eth_dev_info> {
        let mut raw = sys::rte_eth_dev_info::default();
        // SAFETY: raw is a valid out-pointer; the call checks the port id.
        let ret = unsafe { sys::rte_eth_dev_info_get(self.0, &mut raw) };
        check(ret, || format!("rte_eth_dev_info_get({self})"))?;
        Ok(raw)
    }

    /// The NUMA socket of the device, if known.
    pub fn socket_id(self) -> Option<u32> {
        // SAFETY: the call checks the port id.
        let socket = unsafe { sys::rte_eth_dev_socket_id(self.0) };
        u32::try_from(socket).ok()
    }

    /// Configures the port and sets up its queues: `rte_eth_dev_configure`, then one
    /// `rte_eth_rx_queue_setup` per RX queue (taking mbufs from `pool`) and one
    /// `rte_eth_tx_queue_setup` per TX queue. The port keeps `pool` until it is closed.
    pub fn configure(self, conf: &PortConf, pool: &Mempool) -> Result<()> {
        let name = || format!("rte_eth_dev_configure({self})");
        conf.check(&self.info()?, &name())?;
        let slot = slots::slot(self.0);
        let mut holdings = slot.holdings.lock().unwrap_or_else(|e| e.into_inner());
        let live = match holdings.live.take() {
            Some(live) => live,
            None => LiveObject::register(name)?,
        };
        let key: Option<Box<[u8]>> = conf.rss.as_ref().and_then(|r| r.key.clone()).map(Vec::into_boxed_slice);
        let eth_conf = conf.to_eth_conf(key.as_deref());
        // SAFETY: eth_conf is valid for the call; the key it points at is kept in the port's slot
        // below for as long as the port stays configured.
        let ret = unsafe { sys::rte_eth_dev_configure(self.0, conf.rx_queues, conf.tx_queues, &eth_conf) };
        // Keep the registration whatever happened: DPDK may hold a configured port either way.
        holdings.live = Some(live);
        check(ret, name)?;
        holdings.rss_key = key;

        let (mut rx_desc, mut tx_desc) = (conf.rx_desc, conf.tx_desc);
        // SAFETY: valid out-pointers; the call clamps them to the driver's descriptor limits.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(self.0, &mut rx_desc, &mut tx_desc) };
        check(ret, || format!("rte_eth_dev_adjust_nb_rx_tx_desc({self})"))?;
        #[allow(
            clippy::cast_sign_loss,
            reason = "DPDK's socket-id parameters take SOCKET_ID_ANY (-1) as unsigned"
        )]
        let socket = self.socket_id().unwrap_or(sys::SOCKET_ID_ANY as u32);
        for q in 0..conf.rx_queues {
            // SAFETY: the port is configured with more than q RX queues; a NULL rxconf selects the
            // driver's defaults; pool stays alive in the slot while the queue may use it.
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(self.0, q, rx_desc, socket, std::ptr::null(), pool.as_ptr())
            };
            check(ret, || format!("rte_eth_rx_queue_setup({self}, queue {q}, {rx_desc} descriptors)"))?;
        }
        holdings.pool = Some(pool.clone());
        for q in 0..conf.tx_queues {
            // SAFETY: the port is configured with more than q TX queues; NULL txconf: defaults.
            let ret = unsafe { sys::rte_eth_tx_queue_setup(self.0, q, tx_desc, socket, std::ptr::null()) };
            check(ret, || format!("rte_eth_tx_queue_setup({self}, queue {q}, {tx_desc} descriptors)"))?;
        }
        holdings.queues = (conf.rx_queues, conf.tx_queues);
        Ok(())
    }

    /// Starts the port; bursts work from now on.
    pub fn start(self) -> Result<()> {
        // SAFETY: the call checks the port id and its configuration.
        let ret = unsafe { sys::rte_eth_dev_start(self.0) };
        check(ret, || format!("rte_eth_dev_start({self})"))?;
        let slot = slots::slot(self.0);
        let (rx, tx) = slot.holdings.lock().unwrap_or_else(|e| e.into_inner()).queues;
        slot.mark_started(rx, tx);
        Ok(())
    }

    /// Stops the port; bursts return 0 from now on. Workers must have stopped polling it.
    pub fn stop(self) -> Result<()> {
        if slots::in_range(self.0) {
            slots::slot(self.0).mark_stopped();
        }
        // SAFETY: the call checks the port id; no burst runs on the port (documented contract).
        let ret = unsafe { sys::rte_eth_dev_stop(self.0) };
        check(ret, || format!("rte_eth_dev_stop({self})")).map(drop)
    }

    /// Closes a stopped port and releases what it held (its mempool handle and RSS key).
    pub fn close(self) -> Result<()> {
        if slots::in_range(self.0) {
            slots::slot(self.0).mark_stopped();
        }
        // SAFETY: the call checks the port id; no burst runs on the port (documented contract).
        let ret = unsafe { sys::rte_eth_dev_close(self.0) };
        check(ret, || format!("rte_eth_dev_close({self})"))?;
        let released =
            std::mem::take(&mut *slots::slot(self.0).holdings.lock().unwrap_or_else(|e| e.into_inner()));
        drop(released);
        Ok(())
    }

    /// Turns promiscuous mode on or off.
    pub fn promiscuous(self, on: bool) -> Result<()> {
        // SAFETY: the calls check the port id.
        let ret = unsafe {
            if on {
                sys::rte_eth_promiscuous_enable(self.0)
            } else {
                sys::rte_eth_promiscuous_disable(self.0)
            }
        };
        check(ret, || format!("rte_eth_promiscuous_{}({self})", if on { "enable" } else { "disable" }))
            .map(drop)
    }

    /// The port's MAC address.
    pub fn mac_addr(self) -> Result<[u8; 6]> {
        let mut addr = sys::rte_ether_addr::default();
        // SAFETY: addr is a valid out-pointer; the call checks the port id.
        let ret = unsafe { sys::rte_eth_macaddr_get(self.0, &mut addr) };
        check(ret, || format!("rte_eth_macaddr_get({self})"))?;
        Ok(addr.addr_bytes)
    }

    /// The link state now, without waiting for negotiation.
    pub fn link(self) -> Result<LinkStatus> {
        let mut raw = sys::rte_eth_link::default();
        // SAFETY: raw is a valid out-pointer; the call checks the port id.
        let ret = unsafe { sys::rte_eth_link_get_nowait(self.0, &mut raw) };
        check(ret, || format!("rte_eth_link_get_nowait({self})"))?;
        Ok(LinkStatus::from_raw(&raw))
    }

    /// The port's counters.
    pub fn stats(self) -> Result<PortStats> {
        let mut raw = sys::rte_eth_stats::default();
        // SAFETY: raw is a valid out-pointer; the call checks the port id.
        let ret = unsafe { sys::rte_eth_stats_get(self.0, &mut raw) };
        check(ret, || format!("rte_eth_stats_get({self})"))?;
        Ok(PortStats::from_raw(&raw))
    }

    /// Zeroes the port's counters.
    pub fn reset_stats(self) -> Result<()> {
        // SAFETY: the call checks the port id.
        let ret = unsafe { sys::rte_eth_stats_reset(self.0) };
        check(ret, || format!("rte_eth_stats_reset({self})")).map(drop)
    }

    /// The port's MTU.
    pub fn mtu(self) -> Result<u16> {
        let mut mtu = 0u16;
        // SAFETY: mtu is a valid out-pointer; the call checks the port id.
        let ret = unsafe { sys::rte_eth_dev_get_mtu(self.0, &mut mtu) };
        check(ret, || format!("rte_eth_dev_get_mtu({self})"))?;
        Ok(mtu)
    }

    /// Changes the MTU.
    pub fn set_mtu(self, mtu: u16) -> Result<()> {
        // SAFETY: the call checks the port id and the value.
        let ret = unsafe { sys::rte_eth_dev_set_mtu(self.0, mtu) };
        check(ret, || format!("rte_eth_dev_set_mtu({self}, {mtu})")).map(drop)
    }

    /// Rewrites the RSS redirection table: entry `i` sends hash bucket `i` to RX queue `reta[i]`.
    /// `reta` must have the port's `reta_size` entries.
    pub fn reta_update(self, reta: &[u16]) -> Result<()> {
        let call = || format!("rte_eth_dev_rss_reta_update({self}, {} entries)", reta.len());
        let group = sys::RTE_ETH_RETA_GROUP_SIZE as usize;
        let info = self.info()?;
        if reta.len() != usize::from(info.reta_size) || reta.is_empty() {
            return Err(Error::invalid(
                call(),
                format!("{} has {} entries", info.driver_name, info.reta_size),
            ));
        }
        let mut entries: Vec<sys::rte_eth_rss_reta_entry64> = reta
            .chunks(group)
            .map(|chunk| {
                let mut e = sys::rte_eth_rss_reta_entry64 { mask: u64::MAX, reta: [0; 64] };
                e.reta[..chunk.len()].copy_from_slice(chunk);
                e.mask = if chunk.len() == 64 { u64::MAX } else { (1u64 << chunk.len()) - 1 };
                e
            })
            .collect();
        // SAFETY: entries holds reta.len() / 64 groups (rounded up), as the call reads for
        // reta_size entries; the call checks the port id and the queue numbers.
        let ret = unsafe { sys::rte_eth_dev_rss_reta_update(self.0, entries.as_mut_ptr(), info.reta_size) };
        check(ret, call).map(drop)
    }

    /// The RSS redirection table: entry `i` is the RX queue of hash bucket `i`.
    pub fn reta(self) -> Result<Vec<u16>> {
        let call = || format!("rte_eth_dev_rss_reta_query({self})");
        let size = self.info()?.reta_size;
        let group = sys::RTE_ETH_RETA_GROUP_SIZE as usize;
        let mut entries: Vec<sys::rte_eth_rss_reta_entry64> = (0..usize::from(size).div_ceil(group))
            .map(|_| sys::rte_eth_rss_reta_entry64 { mask: u64::MAX, reta: [0; 64] })
            .collect();
        // SAFETY: entries holds reta_size / 64 groups (rounded up) with every entry selected, as the
        // call writes for reta_size entries.
        let ret = unsafe { sys::rte_eth_dev_rss_reta_query(self.0, entries.as_mut_ptr(), size) };
        check(ret, call)?;
        Ok(entries.iter().flat_map(|e| e.reta).take(usize::from(size)).collect())
    }

    /// The RSS hash types in force and, if the driver reports one, the key.
    pub fn rss_conf(self) -> Result<RssConf> {
        let key_len = self.info()?.hash_key_size;
        let key_size = usize::from(key_len);
        let mut key = vec![0u8; key_size];
        let mut raw = sys::rte_eth_rss_conf { rss_key_len: key_len, ..Default::default() };
        if key_size > 0 {
            raw.rss_key = key.as_mut_ptr();
        }
        // SAFETY: raw is a valid out-pointer; its key buffer (if any) has rss_key_len bytes.
        let ret = unsafe { sys::rte_eth_dev_rss_hash_conf_get(self.0, &mut raw) };
        check(ret, || format!("rte_eth_dev_rss_hash_conf_get({self})"))?;
        Ok(RssConf { hf: raw.rss_hf, key: (key_size > 0).then_some(key) })
    }

    /// Changes the RSS hash types and, if given, the key, on a configured port.
    pub fn rss_hash_update(self, rss: &RssConf) -> Result<()> {
        let call = || format!("rte_eth_dev_rss_hash_update({self})");
        let info = self.info()?;
        conf::check_rss(rss, &info).map_err(|reason| Error::invalid(call(), reason))?;
        let mut key = rss.key.clone();
        let mut raw = sys::rte_eth_rss_conf { rss_hf: rss.hf, ..Default::default() };
        if let Some(key) = key.as_mut() {
            raw.rss_key = key.as_mut_ptr();
            #[allow(
                clippy::cast_possible_truncation,
                reason = "check_rss made it the driver's hash_key_size, a u8"
            )]
            let len = key.len() as u8;
            raw.rss_key_len = len;
        }
        // SAFETY: raw and the key it points at are valid for the call, which copies the key into
        // the device.
        let ret = unsafe { sys::rte_eth_dev_rss_hash_update(self.0, &mut raw) };
        check(ret, call).map(drop)
    }

    /// Receives up to the burst's free room from RX `queue` into `burst`, in one call; returns how
    /// many arrived. 0 if the port is not started or has no such queue.
    #[inline]
    pub fn rx_burst<const N: usize>(self, queue: u16, burst: &mut MbufBurst<N>) -> usize {
        let n = self.rx_burst_raw(queue, burst.spare());
        // SAFETY: the driver wrote n received mbufs, owned by the caller, into the spare slots.
        unsafe { burst.commit(n) };
        n
    }

    /// Sends the burst's mbufs on TX `queue` in one call; the ones the driver took leave the burst,
    /// the rest stay at its front (to retry or drop). Returns how many were sent.
    #[inline]
    pub fn tx_burst<const N: usize>(self, queue: u16, burst: &mut MbufBurst<N>) -> usize {
        // SAFETY: the burst's filled slots are valid mbufs it owns.
        let n = unsafe { self.tx_burst_raw(queue, burst.filled()) };
        burst.consume_front(n);
        n
    }

    /// [`Port::rx_burst`] into raw pointers: the caller owns the first `n` written.
    #[inline]
    pub fn rx_burst_raw(self, queue: u16, out: &mut [*mut sys::rte_mbuf]) -> usize {
        if !slots::in_range(self.0) || !slots::slot(self.0).rx_queue_ok(queue) {
            return 0;
        }
        let n = u16::try_from(out.len()).unwrap_or(u16::MAX);
        // SAFETY: the port is started with this RX queue (checked above); out has room for n.
        usize::from(unsafe { sys::vsd_eth_rx_burst(self.0, queue, out.as_mut_ptr(), n) })
    }

    /// [`Port::tx_burst`] from raw pointers: the first `n` returned now belong to the driver.
    ///
    /// # Safety
    /// Every pointer in `pkts` is a valid mbuf owned by the caller and not used again if sent.
    #[inline]
    pub unsafe fn tx_burst_raw(self, queue: u16, pkts: &mut [*mut sys::rte_mbuf]) -> usize {
        if !slots::in_range(self.0) || !slots::slot(self.0).tx_queue_ok(queue) {
            return 0;
        }
        let n = u16::try_from(pkts.len()).unwrap_or(u16::MAX);
        // SAFETY: the port is started with this TX queue; the caller vouches for the mbufs.
        usize::from(unsafe { sys::vsd_eth_tx_burst(self.0, queue, pkts.as_mut_ptr(), n) })
    }
}
