//! Expected passive data connections, announced by a server's 227/229 reply.
//!
//! LVS answers a PASV reply by creating a connection entry with client port 0 (its
//! `IP_VS_CONN_F_NO_CPORT` wildcard) that the data SYN later completes. vsd's connection index is
//! exact-match only, so the wildcard lives here instead, as netfilter keeps an expectation: ⟨client
//! address, VIP, port⟩ → where the data connection goes. A SYN that misses the connection table
//! consults this before the service lookup and, on a hit, consumes the expectation.
//!
//! The table is per core and small: a fixed-capacity array, allocated once, plus a dense copy of
//! the ports so that the scan a missing SYN pays is one pass over a few hundred bytes. An
//! expectation lives for the LISTEN timeout (LVS puts its wildcard entry in LISTEN,
//! `ip_vs_tcp_conn_listen`); a control connection holds one at a time (netfilter's FTP helper:
//! `max_expected = 1`), so a newer 227 replaces an older unused one.

use crate::addr::{Addr, FlowKey};
use crate::conn::{ConnId, Fwd};
use crate::service::ServiceId;
use crate::time::Instant;

/// One expected data connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Expectation {
    /// The client that will connect, and the VIP and port it will connect to.
    pub client: Addr,
    pub vip: Addr,
    pub port: u16,
    /// The control connection's real server; the data connection goes to the same port there.
    pub rs: Addr,
    pub fwd: Fwd,
    pub service: ServiceId,
    pub dest: u32,
    /// The control connection, which will control the data connection, and its in key: together
    /// they tell whether it is still the same connection when the SYN comes.
    pub controller: ConnId,
    pub control_key: FlowKey,
    pub expires: Instant,
}

/// The per-core expectation table.
pub struct Expectations {
    entries: Vec<Expectation>,
    /// `entries[i].port`, dense, for the scan.
    ports: Vec<u16>,
    capacity: usize,
}

impl Expectations {
    /// A table for `capacity` expectations. All memory is allocated here; the vectors never grow.
    pub fn new(capacity: usize) -> Expectations {
        let capacity = capacity.max(1);
        Expectations { entries: Vec::with_capacity(capacity), ports: Vec::with_capacity(capacity), capacity }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Add `e`, replacing an expectation of the same data connection or the same control
    /// connection. When full, expired expectations go first, then the one closest to expiry.
    pub fn insert(&mut self, now: Instant, e: Expectation) {
        let mut i = 0;
        while i < self.entries.len() {
            let x = &self.entries[i];
            let same =
                x.controller == e.controller || (x.port == e.port && x.client == e.client && x.vip == e.vip);
            if same || x.expires <= now {
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
        if self.entries.len() == self.capacity {
            let soonest = (0..self.entries.len()).min_by_key(|&i| self.entries[i].expires);
            if let Some(i) = soonest {
                self.remove_at(i);
            }
        }
        self.entries.push(e);
        self.ports.push(e.port);
    }

    /// Consume the expectation of a data connection from `client` to `vip:port`, if it has not
    /// expired.
    #[inline]
    pub fn take(&mut self, now: Instant, client: &Addr, vip: &Addr, port: u16) -> Option<Expectation> {
        if self.entries.is_empty() {
            return None;
        }
        let mut from = 0;
        while let Some(off) = self.ports[from..].iter().position(|&p| p == port) {
            let i = from + off;
            let e = self.entries[i];
            if e.client == *client && e.vip == *vip {
                self.remove_at(i);
                return (e.expires > now).then_some(e);
            }
            from = i + 1;
        }
        None
    }

    /// Drop the expectations of control connection `id` (it is gone or was replaced).
    pub fn forget(&mut self, id: ConnId) {
        let mut i = 0;
        while i < self.entries.len() {
            if self.entries[i].controller == id {
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
    }

    fn remove_at(&mut self, i: usize) {
        self.entries.swap_remove(i);
        self.ports.swap_remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Proto;
    use core::time::Duration;

    fn exp(client: u8, port: u16, ctl: usize, expires: u64) -> Expectation {
        let client = Addr::from_v4([198, 18, 0, client]);
        let vip = Addr::from_v4([198, 18, 0, 100]);
        Expectation {
            client,
            vip,
            port,
            rs: Addr::from_v4([198, 19, 0, 11]),
            fwd: Fwd::Nat,
            service: 0,
            dest: 0,
            controller: ConnId::from_index(ctl),
            control_key: FlowKey { src: client, dst: vip, sport: 40000, dport: 21, proto: Proto::Tcp },
            expires: Instant::from_millis(expires),
        }
    }

    #[test]
    fn taken_once_and_only_by_its_client() {
        let now = Instant::from_millis(1000);
        let mut t = Expectations::new(8);
        let e = exp(10, 30000, 1, 5000);
        t.insert(now, e);
        t.insert(now, exp(11, 30000, 2, 5000));
        assert_eq!(t.take(now, &Addr::from_v4([198, 18, 0, 12]), &e.vip, 30000), None, "another client");
        assert_eq!(t.take(now, &e.client, &e.vip, 30001), None, "another port");
        assert_eq!(t.take(now, &e.client, &Addr::from_v4([198, 18, 0, 101]), 30000), None, "another VIP");
        assert_eq!(t.take(now, &e.client, &e.vip, 30000), Some(e));
        assert_eq!(t.take(now, &e.client, &e.vip, 30000), None, "consumed");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn expire_replace_and_forget() {
        let now = Instant::from_millis(1000);
        let mut t = Expectations::new(8);
        let e = exp(10, 30000, 1, 5000);
        t.insert(now, e);
        assert_eq!(t.take(now + Duration::from_secs(4), &e.client, &e.vip, 30000), None, "expired");
        // A control connection holds one expectation: the newer reply replaces the older one.
        t.insert(now, exp(10, 30000, 1, 5000));
        t.insert(now, exp(10, 30002, 1, 5000));
        assert_eq!(t.len(), 1);
        assert_eq!(t.take(now, &e.client, &e.vip, 30000), None);
        t.insert(now, exp(10, 30003, 2, 5000));
        t.forget(ConnId::from_index(1));
        assert_eq!(t.len(), 1);
        assert!(t.take(now, &e.client, &e.vip, 30003).is_some());
        assert!(t.is_empty());
    }

    #[test]
    fn full_table_evicts_expired_then_soonest() {
        let now = Instant::from_millis(1000);
        let mut t = Expectations::new(3);
        t.insert(now, exp(10, 30000, 1, 2000));
        t.insert(now, exp(11, 30000, 2, 9000));
        t.insert(now, exp(12, 30000, 3, 8000));
        // Full: the one expiring at 2000 goes.
        t.insert(now, exp(13, 30000, 4, 9000));
        assert_eq!(t.len(), 3);
        assert!(t
            .take(now, &Addr::from_v4([198, 18, 0, 10]), &Addr::from_v4([198, 18, 0, 100]), 30000)
            .is_none());
        // Full again: the soonest (8000) goes for a short-lived one, which at 8500 is dead and
        // makes room by itself.
        t.insert(now, exp(10, 30000, 1, 2000));
        let later = Instant::from_millis(8500);
        t.insert(later, exp(14, 30000, 5, 20_000));
        for c in [11, 13, 14] {
            let got =
                t.take(later, &Addr::from_v4([198, 18, 0, c]), &Addr::from_v4([198, 18, 0, 100]), 30000);
            assert!(got.is_some(), "client {c}");
        }
        assert!(t.is_empty());
    }
}
