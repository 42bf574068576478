//! What the worker does on its own rather than in answer to a packet: its outputs and its timers.
//!
//! Outputs come out of one call, [`Worker::poll_output`], which the driver drains after every
//! pass of its loop: held packets whose next hop resolved, held packets given up on, ARP requests,
//! neighbours learned from the wire for the other workers, and the later fragments of oversized
//! packets. Those that need a fresh buffer get it from the driver's `alloc` closure, so the
//! worker never knows about mempools. Timers: [`Worker::poll_timeout`] says when
//! [`Worker::handle_timeout`] next has work (connection expiry on the timer wheel, ARP
//! retransmissions); the tunnel state needs none (its path MTUs and ICMP budget age lazily).

use super::{schedule, Action, Worker};
use crate::buf::PacketBuf;
use crate::conn::Expiry;
use crate::route::IfIndex;
use crate::stats::DropReason;
use crate::time::Instant;

/// Connections expired per timer call, so one call never stalls the burst loop; what is left
/// keeps [`Worker::poll_timeout`] at the past, so the driver calls again at once.
const EXPIRE_BUDGET: usize = 256;
/// How far [`Worker::poll_timeout`] looks into the connection wheel (16 ticks of 64 ms): past
/// that it answers "in about a second" rather than scan a mostly empty wheel every millisecond.
const WHEEL_LOOKAHEAD: u64 = 16;
/// A template whose timer fires while it still controls connections is re-armed for this long
/// (LVS `ip_vs_conn_expire`: 60 s).
pub(super) const TEMPLATE_REARM: core::time::Duration = core::time::Duration::from_secs(60);

impl<B: PacketBuf> Worker<B> {
    /// The next thing the worker wants sent ([`Action::Tx`], or [`Action::Redirect`] to another
    /// worker) or freed ([`Action::Free`]); `None` when nothing is waiting or the driver has no
    /// buffer. Never [`Action::Held`]. `alloc(iface)` gives a fresh, empty buffer for a frame of
    /// interface `iface` (a frame redirected to another worker is received as if on it).
    pub fn poll_output(
        &mut self,
        now: Instant,
        alloc: &mut impl FnMut(IfIndex) -> Option<B>,
    ) -> Option<Action<B>> {
        if let Some((iface, mac, mut pkt)) = self.neigh.take_released() {
            self.write_ethernet(pkt.as_mut(), iface, mac);
            return Some(Action::Tx(iface, pkt));
        }
        if let Some(pkt) = self.neigh.take_expired() {
            self.stats.count_drop(DropReason::NeighUnresolved);
            return Some(Action::Free(pkt));
        }
        if let Some(iface) = self.neigh.peek_request().map(|r| r.iface) {
            let mut buf = self.alloc(alloc, iface)?;
            return Some(match self.neighbour_request(&mut buf) {
                Some(out) => Action::Tx(out, buf),
                None => Action::Free(buf),
            });
        }
        if let Some(out) = self.poll_share(alloc) {
            return Some(out);
        }
        while let Some(iface) = self.fragment_iface() {
            let mut buf = self.alloc(alloc, iface)?;
            let verdict = self.next_fragment(&mut buf);
            match self.deliver(now, verdict, buf) {
                Action::Held => continue,
                out => return Some(out),
            }
        }
        None
    }

    /// The next neighbour share for the next other worker, as an ARP reply frame redirected to
    /// it ([`super::share`]).
    /// Shares go out oldest first, each to every other worker in turn (`share_to`).
    fn poll_share(&mut self, alloc: &mut impl FnMut(IfIndex) -> Option<B>) -> Option<Action<B>> {
        let share = loop {
            let share = *self.neigh_shares.first()?;
            if self.share_to == self.id {
                self.share_to += 1;
            }
            if self.share_to < self.steering.workers() {
                break share;
            }
            self.neigh_shares.remove(0);
            self.share_to = 0;
        };
        let to = self.share_to;
        let mut buf = self.alloc(alloc, share.iface)?;
        self.share_to += 1;
        Some(if self.write_neigh_share(&share, &mut buf) {
            Action::Redirect(to, buf)
        } else {
            Action::Free(buf)
        })
    }

    fn alloc(&self, alloc: &mut impl FnMut(IfIndex) -> Option<B>, iface: IfIndex) -> Option<B> {
        let buf = alloc(iface);
        if buf.is_none() {
            self.stats.count_drop(DropReason::NoMbuf);
        }
        buf
    }

    /// When [`Worker::handle_timeout`] next may have work (a lower bound); `None` when nothing
    /// waits on time. The driver asks between bursts (about every millisecond is plenty).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.conns.next_deadline_within(WHEEL_LOOKAHEAD), self.neigh.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expire connections and templates, retransmit ARP requests, give up on silent neighbours.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.end_burst();
        let Worker { conns, loads, dest_stats, stats, .. } = self;
        conns.expire(now, EXPIRE_BUDGET, |_, c| {
            // An entry never expires while it still controls connections (LVS re-arms it): a
            // template, or an FTP control connection with live data connections.
            if c.controlled > 0 {
                return Expiry::Rearm(now + TEMPLATE_REARM);
            }
            schedule::unaccount(loads, dest_stats, c);
            if c.is_template() {
                stats.templates_expired.inc();
            } else {
                stats.conns_expired.inc();
            }
            Expiry::Remove
        });
        self.stats.conn_entries.set(self.conns.len() as u64);
        self.neigh.poll(now);
    }
}
