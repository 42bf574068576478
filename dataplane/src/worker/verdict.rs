//! What the pipeline decided for a packet, for [`super::deliver`] to carry out. A module of its
//! own because every step's module returns one, and the pipeline reads them all.

use crate::addr::Addr;
use crate::route::IfIndex;
use crate::service::ServiceId;
use crate::stats::DropReason;

/// The outcome of the pipeline for a packet that stays in its buffer; `Worker::deliver`
/// carries it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Written in place (an ARP or echo reply): send on this interface as it is.
    Tx(IfIndex),
    /// Rewritten for the wire except for Ethernet: route toward this address and resolve the
    /// next hop. `on_link` requires the address itself to be a neighbour (DR).
    Route {
        to: Addr,
        on_link: bool,
    },
    /// [`Verdict::Route`] toward real server `dest`, whose address `to` is: its next hop may be
    /// cached ([`super::hops`]).
    Server {
        dest: u32,
        to: Addr,
        on_link: bool,
    },
    Drop(DropReason),
    /// Encapsulate toward real server `rs` with service `svc`'s tunnel, then route
    /// ([`super::tunnel`]).
    Encap {
        svc: ServiceId,
        rs: Addr,
    },
    /// An ICMP message built in place ([`super::icmp_error`]): cut the frame to `len` bytes, then
    /// route it.
    Cut {
        to: Addr,
        len: u32,
    },
    /// Too big for the way out, with DF (any IPv6 packet): answer "fragmentation needed" (IPv4)
    /// or "packet too big" (IPv6) with next-hop MTU `mtu` to `to`, the packet's sender (its quote
    /// is the packet as the sender sent it).
    TooBig {
        to: Addr,
        mtu: u16,
    },
    /// Another worker owns the packet: hand it over on the redirect ring.
    Redirect(u16),
    /// Handled; free without counting a drop.
    Consumed,
}
