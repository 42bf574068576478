//! Passing learned neighbours between workers.
//!
//! Each worker keeps its own neighbour cache (no shared table, no lock), but an ARP answer reaches
//! only the worker whose queue it lands on. That worker passes what it learned to every other
//! worker as a synthetic ARP reply (an IPv6 neighbour as a Neighbour Advertisement) over the
//! redirect rings ([`Worker::poll_output`]); they learn it through the same ARP
//! path as a frame from the wire, which also releases the packets they hold for that neighbour.

use super::host::write_arp_frame;
use super::Worker;
use crate::addr::Addr;
use crate::buf::PacketBuf;
use crate::route::IfIndex;
use crate::wire::{ArpOperation, ArpRepr, EthernetAddress};

/// A neighbour learned from the wire: `ip` is at `mac` on `iface`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighShare {
    pub iface: IfIndex,
    pub ip: Addr,
    pub mac: [u8; 6],
}

impl<B: PacketBuf> Worker<B> {
    pub(super) fn share_neighbour(&mut self, iface: IfIndex, ip: Addr, mac: [u8; 6]) {
        if self.neigh_shares.len() < self.neigh_shares.capacity() {
            self.neigh_shares.push(NeighShare { iface, ip, mac });
        }
    }

    /// Write `share` into `buf` (a fresh, empty buffer) as an ARP reply from the neighbour to this
    /// interface, for another worker's pipeline (redirected to it by [`Worker::poll_output`]).
    /// False if it cannot be built.
    pub(super) fn write_neigh_share(&self, share: &NeighShare, buf: &mut B) -> bool {
        if !share.ip.is_v4() {
            return self.neighbour_advert(buf, share.iface, share.ip, share.mac);
        }
        let ifc = &self.snap.ifaces[share.iface as usize];
        let (Some(ours), Some(theirs)) = (ifc.source_for(share.ip).and_then(|a| a.v4()), share.ip.v4())
        else {
            return false;
        };
        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            sender_hardware_addr: EthernetAddress(share.mac),
            sender_protocol_addr: theirs,
            target_hardware_addr: EthernetAddress(ifc.mac),
            target_protocol_addr: ours,
        };
        write_arp_frame(buf, &reply, EthernetAddress(ifc.mac))
    }
}
