//! Messages from the control thread to a worker, and the worker's answers.
//!
//! The control thread never touches a worker's state: it sends a [`Command`] over the worker's
//! command ring, and the worker applies it between bursts, on its own core. Commands are per-core
//! deltas (a weight, a server's removal) or requests for a copy of per-core state (the connection
//! listing). Answers go back over a reply ring. Nothing here runs per packet.
//!
//! A reload is one message: the [`Command::Switch`] snapshot carries every server's weight and
//! presence along with the structure, and the worker takes both at the same burst boundary, so a
//! server a reload removes is never scheduled on the new snapshot, and one it re-weighs starts at
//! its new weight. `SetWeight`/`SetAvailable` are for changes that need no new snapshot (health
//! flaps, `vsadm -e`).

use super::Worker;
use crate::buf::PacketBuf;
use crate::conn::Conn;
use crate::sched::Scheduler;
use crate::service::{service_id, DestId, Snapshot};
use crate::stats::DestStats;
use crate::time::Instant;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Command {
    /// A real server's weight; 0 quiesces it.
    SetWeight { dest: DestId, weight: u32 },
    /// Take a real server out of its service (`false`), or put a removed one back (`true`).
    SetAvailable { dest: DestId, available: bool },
    /// Copy the connection table out, templates included (for `-L -c` listings).
    ListConns,
    /// Switch to a new config snapshot that extends the running one ([`Snapshot::extends`]):
    /// new services and real servers, timeouts, persistence settings, schedulers, global
    /// switches, and every server's weight and presence, which replace what commands set.
    /// Acknowledged with [`Reply::Switched`]; the control thread frees the old snapshot once
    /// every worker has.
    Switch(Arc<Snapshot>),
}

#[derive(Debug, Clone)]
pub enum Reply {
    /// The worker's entries, and its clock when it copied them (for "expires in").
    Conns { worker: u16, now: Instant, conns: Vec<Conn> },
    /// The worker runs on the snapshot of this epoch now (it no longer holds the old one). When
    /// the snapshot added real servers, the worker's per-server counters moved to a larger array:
    /// readers take it from here (the old one stops counting).
    Switched { worker: u16, epoch: u64, dest_stats: Option<Arc<[DestStats]>> },
    /// The snapshot of `epoch` was refused: it does not extend the one the worker runs, of epoch
    /// `running`, which it keeps.
    Refused { worker: u16, epoch: u64, running: u64 },
}

impl<B: PacketBuf> Worker<B> {
    /// Apply one control message. Runs between bursts; may allocate (listings only).
    pub fn handle(&mut self, now: Instant, cmd: Command) -> Option<Reply> {
        self.end_burst();
        match cmd {
            Command::SetWeight { dest, weight } => {
                self.set_weight(dest, weight);
                None
            }
            Command::SetAvailable { dest, available: false } => {
                self.remove_dest(dest);
                None
            }
            Command::SetAvailable { dest, available: true } => {
                self.restore_dest(dest);
                None
            }
            Command::ListConns => Some(Reply::Conns {
                worker: self.id,
                now,
                conns: self.conns.iter().map(|(_, c)| c).collect(),
            }),
            Command::Switch(snap) => {
                let epoch = snap.epoch;
                Some(match self.switch_snapshot(snap) {
                    Some(dest_stats) => Reply::Switched { worker: self.id, epoch, dest_stats },
                    None => Reply::Refused { worker: self.id, epoch, running: self.snap.epoch },
                })
            }
        }
    }

    /// Adopt `snap` if it extends the running snapshot, so that connection entries, templates and
    /// per-core loads keep their meaning; `None` if it does not. New services and servers get
    /// loads and counters; every server takes its weight and presence from the snapshot; a
    /// service whose scheduler or server list changed gets its scheduler rebuilt, one whose
    /// servers' weights or presence changed gets it updated. Returns the new counter array when
    /// it had to grow.
    fn switch_snapshot(&mut self, snap: Arc<Snapshot>) -> Option<Option<Arc<[DestStats]>>> {
        if !snap.extends(&self.snap) {
            return None;
        }
        let grown = self.loads.grow(&snap);
        let states = self.loads.adopt(&snap);
        for (i, new) in snap.services.iter().enumerate() {
            let svc = service_id(i);
            let kept = self.snap.services.get(i).filter(|old| old.sched == new.sched).is_some();
            if kept && !grown.contains(&svc) {
                if states.contains(&svc) {
                    self.scheds[i].update(self.loads.of_service(svc));
                }
                continue;
            }
            let mut sc = Scheduler::new(new.sched);
            sc.update(self.loads.of_service(svc));
            if i < self.scheds.len() {
                self.scheds[i] = sc;
            } else {
                self.scheds.push(sc);
            }
        }
        let stats = (snap.dests.len() > self.dest_stats.len()).then(|| {
            let old = &self.dest_stats;
            let grown: Arc<[DestStats]> =
                (0..snap.dests.len()).map(|d| old.get(d).cloned().unwrap_or_default()).collect();
            self.dest_stats = grown.clone();
            grown
        });
        self.macs = snap.ifaces.iter().map(|i| i.mac).collect();
        self.hops.grow(snap.dests.len());
        self.snap = snap;
        Some(stats)
    }

    /// Runtime edit: set a real server's weight; 0 quiesces it (no new connections; its templates
    /// stay valid unless `expire_quiescent_template`).
    pub fn set_weight(&mut self, dest: DestId, weight: u32) {
        self.loads.get_mut(dest).weight = weight;
        self.rescheduled(dest);
    }

    /// Runtime edit: take a real server out of its service. Its templates become invalid; its
    /// connections' packets are dropped, or with `expire_nodest_conn` expired and rescheduled.
    pub fn remove_dest(&mut self, dest: DestId) {
        self.loads.set_available(dest, false);
        self.rescheduled(dest);
    }

    /// Runtime edit: put a removed real server back into its service.
    pub fn restore_dest(&mut self, dest: DestId) {
        self.loads.set_available(dest, true);
        self.rescheduled(dest);
    }

    /// This core's weight of real server `dest` and whether it is in its service (`None` for an id
    /// the running snapshot does not have). For the control plane's checks and tests.
    pub fn dest_state(&self, dest: DestId) -> Option<(u32, bool)> {
        ((dest as usize) < self.snap.dests.len()).then(|| {
            let load = self.loads.get(dest);
            (load.weight, self.loads.is_available(dest))
        })
    }

    fn rescheduled(&mut self, dest: DestId) {
        let svc = self.loads.service_of(dest);
        self.scheds[svc as usize].update(self.loads.of_service(svc));
    }
}
