//! Each real server's next hop as this worker last resolved it: the interface and the MAC that
//! its client packets (NAT, DR) leave with.
//!
//! Without it every forwarded packet scans the routes and looks its neighbour up (~20 cycles of
//! a ~330-cycle packet). A server's route never changes while vsd runs (routes need a restart),
//! so a hop stays right until its neighbour's MAC changes or needs re-probing. The first is
//! caught by the neighbour cache's epoch, which every change of a MAC advances; the second by
//! the time the neighbour cache said its answer holds until. A stale or missing hop sends the
//! packet the long way, which refills it.

use crate::route::IfIndex;
use crate::time::Instant;

/// A real server's next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hop {
    pub iface: IfIndex,
    pub mac: [u8; 6],
    /// The server is its own next hop (on a connected subnet), which DR requires.
    pub direct: bool,
    /// The neighbour cache's epoch when the MAC was read.
    epoch: u32,
    /// Until when the neighbour cache's answer holds without a re-probe.
    fresh_until: Instant,
}

impl Hop {
    const NONE: Hop = Hop { iface: 0, mac: [0; 6], direct: false, epoch: 0, fresh_until: Instant::ZERO };

    pub fn new(iface: IfIndex, mac: [u8; 6], direct: bool, epoch: u32, fresh_until: Instant) -> Hop {
        Hop { iface, mac, direct, epoch, fresh_until }
    }
}

/// Hops by real server ([`crate::service::DestId`]).
pub(super) struct Hops {
    hops: Vec<Hop>,
}

impl Hops {
    pub fn new(dests: usize) -> Hops {
        Hops { hops: vec![Hop::NONE; dests] }
    }

    /// Room for `dests` servers (a snapshot switch may add some).
    pub fn grow(&mut self, dests: usize) {
        if dests > self.hops.len() {
            self.hops.resize(dests, Hop::NONE);
        }
    }

    /// Server `dest`'s hop, if it is still what a full lookup would find at `now` with the
    /// neighbour cache at `epoch`.
    #[inline]
    pub fn get(&self, dest: u32, epoch: u32, now: Instant) -> Option<&Hop> {
        self.hops.get(dest as usize).filter(|h| h.epoch == epoch && now < h.fresh_until)
    }

    pub fn set(&mut self, dest: u32, hop: Hop) {
        if let Some(h) = self.hops.get_mut(dest as usize) {
            *h = hop;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_holds_for_its_epoch_until_its_deadline() {
        let mut h = Hops::new(2);
        assert_eq!(h.get(0, 1, Instant::ZERO), None, "empty");
        let hop = Hop::new(1, [2, 0, 0, 0, 0, 0x11], true, 1, Instant::from_millis(500));
        h.set(0, hop);
        assert_eq!(h.get(0, 1, Instant::from_millis(499)), Some(&hop));
        assert_eq!(h.get(0, 1, Instant::from_millis(500)), None, "re-probe due");
        assert_eq!(h.get(0, 2, Instant::ZERO), None, "a MAC changed since");
        assert_eq!(h.get(1, 1, Instant::ZERO), None, "another server");
        assert_eq!(h.get(7, 1, Instant::ZERO), None, "out of range");
        h.grow(8);
        h.set(7, hop);
        assert_eq!(h.get(7, 1, Instant::ZERO), Some(&hop));
    }
}
