//! vsd's sans-IO dataplane.
//!
//! Everything here works on byte buffers plus metadata, with time passed in: no DPDK, no clock, no
//! syscalls. The DPDK runtime in `control/` is a thin driver that feeds bursts of mbufs to a
//! [`worker::Worker`] and transmits what it hands back. The same code runs on `Vec<u8>` buffers in
//! tests.

pub mod addr;
pub mod buf;
pub mod conn;
pub mod craft;
pub mod ftp;
pub mod neigh;
pub mod pcap;
pub mod route;
pub mod sched;
pub mod service;
pub mod stats;
pub mod steer;
pub mod time;
pub mod tunnel;
pub mod wire;
pub mod worker;

pub use addr::{Addr, FlowKey, Proto};
pub use time::Instant;
