//! Messages from the control thread to a worker, and the worker's answers.
//!
//! The control thread never touches a worker's state: it sends a [`Command`] over the worker's
//! command ring, and the worker applies it between bursts, on its own core. Commands are per-core
//! deltas (a weight, a server's removal) or requests for a copy of per-core state (the connection
//! listing). Answers go back over a reply ring. Nothing here runs per packet.

use super::Worker;
use crate::buf::PacketBuf;
use crate::conn::Conn;
use crate::service::DestId;
use crate::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A real server's weight; 0 quiesces it.
    SetWeight { dest: DestId, weight: u32 },
    /// Take a real server out of its service (`false`), or put a removed one back (`true`).
    SetAvailable { dest: DestId, available: bool },
    /// Copy the connection table out, templates included (for `-L -c` listings).
    ListConns,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The worker's entries, and its clock when it copied them (for "expires in").
    Conns { worker: u16, now: Instant, conns: Vec<Conn> },
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
        }
    }
}
