//! Messages from the control thread to a worker, and the worker's answers.
//!
//! The control thread never touches a worker's state: it sends a [`Command`] over the worker's
//! command ring, and the worker applies it between bursts, on its own core. Commands are per-core
//! deltas (a weight, a server's removal) or requests for a copy of per-core state (the connection
//! listing). Answers go back over a reply ring. Nothing here runs per packet.

use super::Worker;
use crate::buf::PacketBuf;
use crate::conn::Conn;
use crate::sched::Scheduler;
use crate::service::{DestId, Snapshot};
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
    /// Switch to a new config snapshot with the same services and real servers (same positions):
    /// timeouts, persistence settings, schedulers, global switches. Acknowledged with
    /// [`Reply::Switched`]; the control thread frees the old snapshot once every worker has.
    Switch(Arc<Snapshot>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The worker's entries, and its clock when it copied them (for "expires in").
    Conns { worker: u16, now: Instant, conns: Vec<Conn> },
    /// The worker runs on the snapshot of this epoch now (it no longer holds the old one).
    Switched { worker: u16, epoch: u64 },
    /// The snapshot was refused: its layout differs from the running one's.
    Refused { worker: u16, epoch: u64 },
}

impl<B: PacketBuf> Worker<B> {
    /// Apply one control message. Runs between bursts; may allocate (listings only).
    pub fn handle(&mut self, now: Instant, cmd: Command) -> Option<Reply> {
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
                conns: self.conns.iter().map(|(_, c)| *c).collect(),
            }),
            Command::Switch(snap) => {
                let epoch = snap.epoch;
                Some(if self.switch_snapshot(snap) {
                    Reply::Switched { worker: self.id, epoch }
                } else {
                    Reply::Refused { worker: self.id, epoch }
                })
            }
        }
    }

    /// Adopt `snap` if its services and real servers sit where the running snapshot's do, so that
    /// connection entries, templates and per-core loads keep their meaning. A service whose
    /// scheduler changed gets a fresh scheduler; per-core loads and weights (set by commands) stay.
    fn switch_snapshot(&mut self, snap: Arc<Snapshot>) -> bool {
        let old = &self.snap;
        let same_layout = snap.dests.len() == old.dests.len()
            && snap.services.len() == old.services.len()
            && snap.services.iter().zip(&old.services).all(|(a, b)| a.dests == b.dests && a.fwd == b.fwd)
            && snap.dests.iter().zip(&old.dests).all(|(a, b)| a.addr == b.addr && a.port == b.port);
        if !same_layout {
            return false;
        }
        for (i, (new, old)) in snap.services.iter().zip(&old.services).enumerate() {
            if new.sched != old.sched {
                let mut sc = Scheduler::new(new.sched);
                sc.update(&self.loads[new.dests.start as usize..new.dests.end as usize]);
                self.scheds[i] = sc;
            }
        }
        self.snap = snap;
        true
    }
}
