//! The per-core connection table and what drives it: LVS's TCP state machine and timeouts.
//!
//! Each worker core owns one [`ConnTable`]; nothing here is shared, locked or atomic, and nothing
//! allocates after [`ConnTable::new`]. The pieces are split by concern:
//! - [`entry`]: the [`Conn`] entry and its in/out keys;
//! - [`state`], [`tcp_state`], [`timeouts`]: LVS's states, transitions and per-state timeouts;
//! - `hash`, `index`: the keyed flow hash and the cuckoo index over entry keys;
//! - `mem`: the large arrays, on transparent huge pages;
//! - `slot`: how an entry is stored, one cache line each;
//! - [`wheel`]: the expiry timer wheel;
//! - `table`: the three put together.

pub mod entry;
mod hash;
#[cfg(test)]
pub(crate) use hash::splitmix64;
mod index;
mod mem;
mod slot;
pub mod state;
mod table;
pub mod tcp_state;
pub mod timeouts;
pub mod wheel;

pub use entry::{Conn, ConnId, Dir, Fwd, F_TEMPLATE, F_UNHASHED};
pub use state::ConnState;
pub use table::{ConnTable, Expiry, InsertError, KeyProbe};
pub use tcp_state::{StateDir, TcpFlagsLite};
pub use timeouts::Timeouts;

#[cfg(test)]
mod tests;
