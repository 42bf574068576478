//! vsd's binding to DPDK: the only crate with DPDK `unsafe`.
//!
//! # Why a binding of our own
//! No maintained Rust crate fits DPDK 22.11 (capsule targets 19.11, dpdk-sys 18.05, the rest are
//! prototypes or git-only; see NOTES-DPDK.md). This crate is thin: `build.rs` runs bindgen over the
//! installed headers (an allowlist of what the wrappers use) and compiles `src/shim.c`, which gives
//! DPDK's static-inline fast path (bursts, mbuf alloc, ring enqueue/dequeue) and its thread-local
//! macros (`rte_errno`, `rte_lcore_id`) real symbols. Above that, small safe wrappers: [`Eal`] and
//! [`lcore`], [`Mempool`], [`Mbuf`] and [`MbufBurst`], [`Port`], [`ring`], [`softrss`].
//!
//! # One call per burst
//! Rust cannot inline DPDK's C (rustc's LLVM and the distribution's clang differ), so every call
//! into DPDK is a real call. The fast path therefore makes one per burst of packets (`rx_burst`,
//! `tx_burst`, ring bursts, bulk free) and never one per packet: per-packet work reads and writes
//! the mbuf fields straight from the bindgen struct ([`Mbuf`] derefs to its bytes).
//!
//! # SAFETY conventions
//! - Every `unsafe` block carries a `// SAFETY:` comment naming the invariant it relies on, and
//!   every `unsafe fn` a `# Safety` section; [`sys`] (bindgen output) is the only exception.
//! - Ownership is in the types: an [`Mbuf`] is the sole owner of its buffer, a [`MbufBurst`] owns
//!   exactly its first `len` entries, and raw pointers leave or enter only through `into_raw`,
//!   `from_raw` and the `*_raw` calls, which state who owns what.
//! - Calls that EAL allows only on the main lcore are methods of [`Eal`], which is not `Send`.
//! - DPDK objects (mempools, rings, configured ports) keep EAL alive: `rte_eal_cleanup` runs only
//!   when none is left (see [`eal`]), so no safe call can touch released memory.
//! - Thread rules DPDK leaves to the programmer are types: ring ends are [`ring::Single`] (movable,
//!   not shareable) or [`ring::Multi`] (shareable).

pub mod burst;
pub mod cycles;
pub mod eal;
pub mod error;
pub mod ethdev;
pub mod lcore;
pub mod mbuf;
pub mod mempool;
pub mod ring;
pub mod softrss;
pub mod sys;

pub use burst::{MbufBurst, BURST_SIZE};
pub use cycles::rdtsc;
pub use eal::Eal;
pub use error::{Error, Result};
pub use ethdev::{LinkStatus, Port, PortConf, PortInfo, PortStats, RssConf};
pub use lcore::{current_lcore, current_socket, Lcore};
pub use mbuf::Mbuf;
pub use mempool::Mempool;
