//! DPDK binding (work in progress).
