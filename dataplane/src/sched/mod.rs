//! The LVS schedulers: which real server gets a new connection.
//!
//! Every scheduler follows LVS's own formula (`net/netfilter/ipvs/ip_vs_<name>.c`), because
//! operators moving from LVS expect the same choices: the same round-robin order, the same
//! weighted-least-connection tie-breaking, the same 256-bucket source-hash table. Maglev keeps
//! LVS's algorithm but not its hash function or table size; `mh` says where and why.
//!
//! State is per core, like everything on the data path: each worker has its own [`Scheduler`] per
//! service, fed the per-core view of the real servers ([`DestLoad`]: weight, this core's
//! active/inactive counts, availability). Counting connections per core rather than globally is
//! what keeps the path free of shared writes; with RSS spreading clients evenly, per-core least
//! connection approximates the global one.
//!
//! [`Scheduler::update`] is the slow path (dest set or weights changed: rebuild tables, reset
//! wrr) and may allocate; [`Scheduler::pick`] never does. A dest with `available == false` at
//! `update` time is treated as removed; at `pick` time it is skipped. Weight 0 means "no new
//! connections" for every scheduler.

mod dh;
mod fo;
mod keyhash;
mod lc;
mod mh;
mod nq;
mod ovf;
mod rr;
mod sed;
mod sh;
mod wlc;
mod wrr;

#[cfg(test)]
mod spread;
#[cfg(test)]
mod testutil;

use core::fmt;

use crate::addr::{Addr, FlowKey};

/// A server's position in its service as the hash tables (sh, dh, mh) store it: 16 bits, with
/// `u16::MAX` marking an empty bucket. `None` for positions beyond that, which those tables leave
/// out (a service of 65,535 servers is not a real case; the tables have 256 or 65,537 buckets).
fn table_pos(i: usize) -> Option<u16> {
    u16::try_from(i).ok().filter(|&p| p != u16::MAX)
}

/// One real server as a scheduler sees it on this core.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DestLoad {
    pub weight: u32,
    /// This core's connections to the server in ESTABLISHED.
    pub active: u32,
    /// This core's other connections to the server.
    pub inactive: u32,
    /// False when removed or overloaded: never picked.
    pub available: bool,
    /// The server's address and port: its identity for Maglev hashing, so that its lookup-table
    /// positions do not depend on where it sits in the list, and are the same on every director.
    pub addr: Addr,
    pub port: u16,
}

impl DestLoad {
    pub fn new(addr: Addr, port: u16, weight: u32) -> DestLoad {
        DestLoad { weight, active: 0, inactive: 0, available: true, addr, port }
    }

    /// May take new connections.
    #[inline]
    pub fn usable(&self) -> bool {
        self.available && self.weight > 0
    }

    /// LVS `ip_vs_dest_conn_overhead`: an active connection costs 256 inactive ones.
    #[inline]
    pub(crate) fn overhead(&self) -> u64 {
        (u64::from(self.active) << 8) + u64::from(self.inactive)
    }
}

/// The scheduling algorithms, by their ipvsadm names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SchedKind {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Sed,
    Nq,
    Sh,
    Dh,
    Mh,
    Fo,
    Ovf,
}

impl SchedKind {
    pub const ALL: [SchedKind; 11] = [
        SchedKind::Rr,
        SchedKind::Wrr,
        SchedKind::Lc,
        SchedKind::Wlc,
        SchedKind::Sed,
        SchedKind::Nq,
        SchedKind::Sh,
        SchedKind::Dh,
        SchedKind::Mh,
        SchedKind::Fo,
        SchedKind::Ovf,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SchedKind::Rr => "rr",
            SchedKind::Wrr => "wrr",
            SchedKind::Lc => "lc",
            SchedKind::Wlc => "wlc",
            SchedKind::Sed => "sed",
            SchedKind::Nq => "nq",
            SchedKind::Sh => "sh",
            SchedKind::Dh => "dh",
            SchedKind::Mh => "mh",
            SchedKind::Fo => "fo",
            SchedKind::Ovf => "ovf",
        }
    }

    pub fn from_name(name: &str) -> Option<SchedKind> {
        SchedKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for SchedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Options of the hashing schedulers (ipvsadm `-b sh-fallback,sh-port`, `mh-fallback,mh-port`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SchedFlags {
    /// When the hashed server is unavailable, probe on to another one instead of refusing.
    pub fallback: bool,
    /// Hash the client's source port too, not only its address.
    pub port: bool,
}

enum State {
    Rr(rr::Rr),
    Wrr(wrr::Wrr),
    Sh(Box<sh::SourceHash>),
    Dh(Box<dh::DestHash>),
    Mh(Box<mh::Maglev>),
    Stateless,
}

/// One service's scheduler on one core.
pub struct Scheduler {
    kind: SchedKind,
    flags: SchedFlags,
    state: State,
    /// Dest count at the last `update`; a different count at `pick` triggers one.
    synced: usize,
}

impl Scheduler {
    pub fn new(kind: SchedKind) -> Scheduler {
        Scheduler::with_flags(kind, SchedFlags::default())
    }

    pub fn with_flags(kind: SchedKind, flags: SchedFlags) -> Scheduler {
        let state = match kind {
            SchedKind::Rr => State::Rr(rr::Rr::default()),
            SchedKind::Wrr => State::Wrr(wrr::Wrr::default()),
            SchedKind::Sh => State::Sh(Box::default()),
            SchedKind::Dh => State::Dh(Box::default()),
            SchedKind::Mh => State::Mh(Box::default()),
            SchedKind::Lc
            | SchedKind::Wlc
            | SchedKind::Sed
            | SchedKind::Nq
            | SchedKind::Fo
            | SchedKind::Ovf => State::Stateless,
        };
        Scheduler { kind, flags, state, synced: 0 }
    }

    pub fn kind(&self) -> SchedKind {
        self.kind
    }

    pub fn flags(&self) -> SchedFlags {
        self.flags
    }

    /// The dest set or a weight changed: rebuild hash tables, reset wrr (LVS `upd_dest` /
    /// `add_dest` / `del_dest`). Slow path; may allocate.
    pub fn update(&mut self, dests: &[DestLoad]) {
        self.synced = dests.len();
        match &mut self.state {
            State::Rr(s) => s.update(dests),
            State::Wrr(s) => s.update(dests),
            State::Sh(s) => s.update(dests),
            State::Dh(s) => s.update(dests),
            State::Mh(s) => s.update(dests),
            State::Stateless => {}
        }
    }

    /// The index in `dests` of the server for a new connection with key `key` (client → VIP), or
    /// `None` when no server may take it.
    #[inline]
    pub fn pick(&mut self, dests: &[DestLoad], key: &FlowKey) -> Option<usize> {
        if dests.len() != self.synced {
            self.update(dests);
        }
        let port = if self.flags.port { key.sport } else { 0 };
        match &mut self.state {
            State::Rr(s) => s.pick(dests),
            State::Wrr(s) => s.pick(dests),
            State::Sh(s) => s.pick(dests, &key.src, port, self.flags.fallback),
            State::Dh(s) => s.pick(dests, &key.dst, self.flags.fallback),
            State::Mh(s) => s.pick(dests, &key.src, port, self.flags.fallback),
            State::Stateless => match self.kind {
                SchedKind::Lc => lc::pick(dests),
                SchedKind::Wlc => wlc::pick(dests),
                SchedKind::Sed => sed::pick(dests),
                SchedKind::Nq => nq::pick(dests),
                SchedKind::Fo => fo::pick(dests),
                _ => ovf::pick(dests),
            },
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler").field("kind", &self.kind).field("flags", &self.flags).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in SchedKind::ALL {
            assert_eq!(SchedKind::from_name(k.name()), Some(k));
            assert_eq!(k.to_string(), k.name());
        }
        assert_eq!(SchedKind::from_name("wlc"), Some(SchedKind::Wlc));
        assert_eq!(SchedKind::from_name("WLC"), None);
        assert_eq!(SchedKind::from_name("lblc"), None);
    }

    #[test]
    fn weight_zero_and_unavailable_are_never_picked_by_any_scheduler() {
        for flags in [SchedFlags::default(), SchedFlags { fallback: true, port: true }] {
            for kind in SchedKind::ALL {
                let mut d = dests(&[3, 0, 2, 5]);
                d[3].available = false;
                let mut s = Scheduler::with_flags(kind, flags);
                s.update(&d);
                let mut rng = Rng(kind as u64);
                let mut picked = [0u32; 4];
                for _ in 0..4000 {
                    if let Some(i) = s.pick(&d, &rng.key()) {
                        picked[i] += 1;
                        // Keep load-based schedulers moving.
                        d[i].active += 1;
                    }
                }
                assert_eq!((picked[1], picked[3]), (0, 0), "{kind} {flags:?}: {picked:?}");
                assert!(picked[0] + picked[2] > 0, "{kind} {flags:?} picked nothing");
            }
        }
    }

    #[test]
    fn no_usable_dest_means_none() {
        for kind in SchedKind::ALL {
            let mut s = Scheduler::with_flags(kind, SchedFlags { fallback: true, port: false });
            assert_eq!(s.pick(&[], &Rng(1).key()), None, "{kind} with no dests");
            let zero = dests(&[0, 0]);
            s.update(&zero);
            assert_eq!(s.pick(&zero, &Rng(2).key()), None, "{kind} with all weights 0");
        }
    }

    #[test]
    fn pick_syncs_when_the_dest_count_changed_without_update() {
        let mut s = Scheduler::new(SchedKind::Wrr);
        let d = dests(&[1, 1]);
        // No update() call: the first pick builds the state itself.
        let got: Vec<_> = (0..4).map(|_| s.pick(&d, &Rng(0).key())).collect();
        assert_eq!(got, vec![Some(0), Some(1), Some(0), Some(1)]);
    }
}
