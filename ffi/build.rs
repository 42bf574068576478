//! Build script: find the system DPDK with pkg-config, compile the C shim against it, and generate
//! Rust declarations with bindgen.
//!
//! DPDK's own cflags (`-include rte_config.h -march=corei7`) are passed verbatim to both the C
//! compiler and libclang: the headers do not parse without the forced include, and the `-march` level
//! selects which inline paths (SSE/AVX) the headers expose. Linkage is shared against the
//! distribution's DPDK; poll-mode drivers are loaded by EAL at run time from its PMD directory, so
//! they need no link flags here.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The oldest DPDK whose ABI this binding was written against (the 22.11 LTS in Debian 12).
const MIN_DPDK: &str = "22.11";

/// Functions bindgen declares: the shim plus the exported (non-inline) DPDK calls the wrappers use.
const FUNCTIONS: &[&str] = &[
    "vsd_.*",
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_eal_remote_launch",
    "rte_eal_wait_lcore",
    "rte_eal_mp_wait_lcore",
    "rte_get_main_lcore",
    "rte_get_next_lcore",
    "rte_lcore_count",
    "rte_lcore_is_enabled",
    "rte_lcore_to_socket_id",
    "rte_socket_id",
    "rte_get_tsc_hz",
    "rte_strerror",
    "rte_pktmbuf_pool_create",
    "rte_pktmbuf_free_bulk",
    "rte_mempool_free",
    "rte_mempool_avail_count",
    "rte_mempool_in_use_count",
    "rte_ring_create",
    "rte_ring_free",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_dev_count_avail",
    "rte_eth_find_next",
    "rte_eth_dev_info_get",
    "rte_eth_dev_configure",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_dev_socket_id",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_promiscuous_enable",
    "rte_eth_promiscuous_disable",
    "rte_eth_promiscuous_get",
    "rte_eth_macaddr_get",
    "rte_eth_link_get_nowait",
    "rte_eth_stats_get",
    "rte_eth_stats_reset",
    "rte_eth_dev_get_mtu",
    "rte_eth_dev_set_mtu",
    "rte_eth_dev_rss_reta_update",
    "rte_eth_dev_rss_reta_query",
    "rte_eth_dev_rss_hash_update",
    "rte_eth_dev_rss_hash_conf_get",
];

/// Constants the wrappers use. The `RTE_BIT64()`-based ones are evaluated by clang (macro fallback).
const VARS: &[&str] = &[
    "RTE_MAX_ETHPORTS",
    "RTE_MAX_LCORE",
    "RTE_MAX_QUEUES_PER_PORT",
    "RTE_ETH_NAME_MAX_LEN",
    "RTE_ETH_RSS_.*",
    "RTE_ETH_RX_OFFLOAD_.*",
    "RTE_ETH_TX_OFFLOAD_.*",
    "RTE_ETH_RETA_GROUP_SIZE",
    "RTE_ETH_LINK_.*",
    "RTE_ETH_SPEED_NUM_.*",
    "RTE_MBUF_F_.*",
    "RTE_MBUF_DEFAULT_BUF_SIZE",
    "RTE_MBUF_DEFAULT_DATAROOM",
    "RTE_PKTMBUF_HEADROOM",
    "RTE_MEMPOOL_CACHE_MAX_SIZE",
    "RING_F_.*",
    "RTE_RING_SZ_MASK",
    "SOCKET_ID_ANY",
    "LCORE_ID_ANY",
    "E_RTE_.*",
    "RTE_ETHER_MTU",
];

fn main() {
    let lib = pkg_config::Config::new().atleast_version(MIN_DPDK).probe("libdpdk").unwrap_or_else(|e| {
        panic!("libdpdk >= {MIN_DPDK} not found by pkg-config (install libdpdk-dev): {e}")
    });
    let cflags = dpdk_cflags();

    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-changed=src/shim.h");

    let mut cc = cc::Build::new();
    cc.file("src/shim.c").includes(&lib.include_paths).warnings(true).opt_level(3);
    for flag in &cflags {
        cc.flag(flag);
    }
    cc.compile("vsd_shim");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let mut builder = bindgen::Builder::default()
        .header("src/shim.h")
        .clang_args(&cflags)
        .clang_args(lib.include_paths.iter().map(|p| format!("-I{}", p.display())))
        .clang_macro_fallback()
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_eth_rx_mq_mode")
        .allowlist_type("rte_eth_tx_mq_mode")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        // Packed structs holding an aligned member are rejected by rustc (E0588).
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_arp_ipv4")
        .no_debug("rte_flow_item_gtp_psc")
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .parse_callbacks(Box::new(FlagWidth));
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for v in VARS {
        builder = builder.allowlist_var(v);
    }
    builder
        .generate()
        .expect("bindgen failed on src/shim.h")
        .write_to_file(out.join("bindings.rs"))
        .expect("cannot write bindings.rs");
}

/// Gives bit-mask macros their C type (`uint64_t`, from `RTE_BIT64`) instead of the smallest type that
/// holds today's value, so a mask built from them never needs a cast.
#[derive(Debug)]
struct FlagWidth;

impl bindgen::callbacks::ParseCallbacks for FlagWidth {
    fn int_macro(&self, name: &str, _value: i64) -> Option<bindgen::callbacks::IntKind> {
        const U64_PREFIXES: &[&str] =
            &["RTE_ETH_RSS_", "RTE_ETH_RX_OFFLOAD_", "RTE_ETH_TX_OFFLOAD_", "RTE_MBUF_F_"];
        U64_PREFIXES.iter().any(|p| name.starts_with(p)).then_some(bindgen::callbacks::IntKind::U64)
    }
}

/// The full `pkg-config --cflags libdpdk`, including the forced include and `-march`, which the
/// pkg-config crate's parsed view drops.
fn dpdk_cflags() -> Vec<String> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned());
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let output = Command::new(&pkg_config)
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {pkg_config}: {e}"));
    assert!(output.status.success(), "{pkg_config} --cflags libdpdk failed");
    String::from_utf8(output.stdout)
        .expect("pkg-config output is UTF-8")
        .split_whitespace()
        .filter(|f| !f.starts_with("-I"))
        .map(str::to_owned)
        .collect()
}
