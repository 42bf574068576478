//! The neighbour (ARP) cache of one worker, with a small hold queue per unresolved next hop.
//!
//! Each worker resolves its own next hops: no shared table, no lock. A packet whose next hop has no
//! MAC yet is held (at most [`HOLD`] per neighbour, like Linux's unresolved queue) while an ARP
//! request goes out; requests are retried every [`RETRANS`] and after [`MAX_PROBES`] the held
//! packets are dropped and counted. A resolved entry older than [`REACHABLE`] keeps forwarding with
//! the MAC it has and is re-probed in the background, so a live flow never stalls on a refresh.
//! All memory is reserved at construction.

use crate::addr::Addr;
use crate::route::IfIndex;
use crate::time::Instant;
use core::time::Duration;
use rustc_hash::FxHashMap;

/// Packets held per unresolved neighbour.
pub const HOLD: usize = 4;
/// ARP retransmit interval (Linux `retrans_time_ms` default).
pub const RETRANS: Duration = Duration::from_secs(1);
/// Requests sent before giving up on a neighbour (Linux `mcast_solicit` default).
pub const MAX_PROBES: u8 = 3;
/// How long a learned MAC is trusted before it is re-probed (Linux `base_reachable_time` is 30 s).
pub const REACHABLE: Duration = Duration::from_secs(30);

struct Entry<B> {
    iface: IfIndex,
    mac: Option<[u8; 6]>,
    confirmed: Instant,
    next_probe: Instant,
    probes: u8,
    /// A configured entry: never re-probed, never replaced by what ARP says.
    permanent: bool,
    held: [Option<B>; HOLD],
}

impl<B> Entry<B> {
    fn unresolved(iface: IfIndex, now: Instant) -> Entry<B> {
        Entry {
            iface,
            mac: None,
            confirmed: now,
            next_probe: now,
            probes: 0,
            permanent: false,
            held: Default::default(),
        }
    }
}

/// An ARP request the worker must send: who-has `target` on `iface`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub iface: IfIndex,
    pub target: Addr,
}

/// Slots of the direct-mapped front cache (a power of two).
const FAST_SLOTS: usize = 64;

/// A resolved neighbour in the front cache, usable until `fresh_until`.
#[derive(Clone, Copy)]
struct Fast {
    ip: Addr,
    mac: [u8; 6],
    /// When the entry needs the full lookup again (the re-probe check); ZERO for an empty slot.
    fresh_until: Instant,
}

impl Fast {
    const EMPTY: Fast = Fast { ip: Addr::UNSPECIFIED, mac: [0; 6], fresh_until: Instant::ZERO };
}

pub struct NeighCache<B> {
    /// FxHash: looked up per forwarded packet, so SipHash's cost matters; the keys are next hops
    /// from our own routes and config, not attacker-chosen.
    entries: FxHashMap<Addr, Entry<B>>,
    /// Resolved next hops by the low bits of their address, in front of `entries`: every
    /// forwarded packet looks up its next hop, and a handful of real servers and gateways take
    /// most of them. A slot holds an entry only while its MAC needs no re-probe, and is cleared
    /// when ARP changes it, so a hit answers exactly what `entries` would.
    fast: [Fast; FAST_SLOTS],
    /// See [`NeighCache::epoch`]; starts at 1, so that 0 can mean "never read".
    epoch: u32,
    capacity: usize,
    requests: Vec<Request>,
    /// Held packets whose neighbour resolved: (iface, MAC, packet); the worker fills in Ethernet.
    released: Vec<(IfIndex, [u8; 6], B)>,
    /// Held packets given up on.
    expired: Vec<B>,
}

impl<B> NeighCache<B> {
    pub fn new(capacity: usize) -> Self {
        NeighCache {
            entries: FxHashMap::with_capacity_and_hasher(capacity, Default::default()),
            fast: [Fast::EMPTY; FAST_SLOTS],
            epoch: 1,
            capacity,
            requests: Vec::with_capacity(capacity),
            released: Vec::with_capacity(capacity * HOLD),
            expired: Vec::with_capacity(capacity * HOLD),
        }
    }

    /// The MAC of `ip`, if known. Schedules a background re-probe of an old entry.
    #[inline]
    pub fn lookup(&mut self, now: Instant, ip: Addr) -> Option<[u8; 6]> {
        self.lookup_until(now, ip).map(|(mac, _)| mac)
    }

    /// [`NeighCache::lookup`], with the time until which the answer holds unless
    /// [`NeighCache::epoch`] moves (at or before `now` when a re-probe is due).
    #[inline]
    pub fn lookup_until(&mut self, now: Instant, ip: Addr) -> Option<([u8; 6], Instant)> {
        let slot = Self::slot(&ip);
        let f = &self.fast[slot];
        if f.ip == ip && now < f.fresh_until {
            return Some((f.mac, f.fresh_until));
        }
        let e = self.entries.get_mut(&ip)?;
        let mac = e.mac?;
        let fresh_until = if e.permanent { Instant::from_millis(u64::MAX) } else { e.confirmed + REACHABLE };
        if now < fresh_until {
            self.fast[slot] = Fast { ip, mac, fresh_until };
        }
        if !e.permanent
            && now.saturating_since(e.confirmed) > REACHABLE
            && now >= e.next_probe
            && e.probes < MAX_PROBES
        {
            e.next_probe = now + RETRANS;
            e.probes += 1;
            if self.requests.len() < self.requests.capacity() {
                self.requests.push(Request { iface: e.iface, target: ip });
            }
        }
        Some((mac, fresh_until))
    }

    /// Advances whenever a neighbour's MAC may have changed: what was read before is stale.
    #[inline]
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    #[inline]
    fn slot(ip: &Addr) -> usize {
        usize::from(ip.0[15] ^ ip.0[14].rotate_left(3)) % FAST_SLOTS
    }

    /// Forget `ip`'s front-cache slot, before its entry changes, and advance the epoch.
    fn unfast(&mut self, ip: &Addr) {
        self.epoch = self.epoch.wrapping_add(1);
        let f = &mut self.fast[Self::slot(ip)];
        if f.ip == *ip {
            *f = Fast::EMPTY;
        }
    }

    /// Hold `pkt` until `ip` resolves, sending a request if none is outstanding. Gives the packet
    /// back if the hold queue or the cache is full.
    pub fn hold(&mut self, now: Instant, iface: IfIndex, ip: Addr, pkt: B) -> Result<(), B> {
        if !self.entries.contains_key(&ip) {
            if self.entries.len() >= self.capacity {
                return Err(pkt);
            }
            self.entries.insert(ip, Entry::unresolved(iface, now));
        }
        let e = self.entries.get_mut(&ip).expect("present");
        let Some(slot) = e.held.iter_mut().find(|s| s.is_none()) else { return Err(pkt) };
        *slot = Some(pkt);
        if e.probes == 0 && now >= e.next_probe {
            e.probes = 1;
            e.next_probe = now + RETRANS;
            if self.requests.len() < self.requests.capacity() {
                self.requests.push(Request { iface, target: ip });
            }
        }
        Ok(())
    }

    /// Record `ip` is at `mac` (from an ARP reply or request). An unknown `ip` is added only when
    /// `create` (the packet was for us); otherwise only existing entries are refreshed, as Linux
    /// does, so that ARP chatter on the segment cannot fill the cache.
    pub fn learn(&mut self, now: Instant, iface: IfIndex, ip: Addr, mac: [u8; 6], create: bool) {
        if !self.entries.contains_key(&ip) {
            if !create || self.entries.len() >= self.capacity {
                return;
            }
            self.entries.insert(ip, Entry::unresolved(iface, now));
        }
        self.unfast(&ip);
        let e = self.entries.get_mut(&ip).expect("present");
        if e.permanent {
            return;
        }
        e.mac = Some(mac);
        e.iface = iface;
        e.confirmed = now;
        e.probes = 0;
        e.next_probe = now;
        for slot in e.held.iter_mut() {
            if let Some(p) = slot.take() {
                self.released.push((iface, mac, p));
            }
        }
    }

    /// A permanent entry (configured static neighbour). Counts toward the capacity.
    pub fn add_static(&mut self, iface: IfIndex, ip: Addr, mac: [u8; 6]) {
        self.unfast(&ip);
        self.entries.insert(
            ip,
            Entry {
                iface,
                mac: Some(mac),
                confirmed: Instant::ZERO,
                next_probe: Instant::ZERO,
                probes: 0,
                permanent: true,
                held: Default::default(),
            },
        );
    }

    /// Retransmit requests for unresolved neighbours; give up after [`MAX_PROBES`].
    pub fn poll(&mut self, now: Instant) {
        let mut forget = None;
        for (ip, e) in self.entries.iter_mut() {
            if e.mac.is_some() || now < e.next_probe || e.probes == 0 {
                continue;
            }
            if e.probes >= MAX_PROBES {
                for slot in e.held.iter_mut() {
                    if let Some(p) = slot.take() {
                        self.expired.push(p);
                    }
                }
                forget = Some(*ip);
                continue;
            }
            e.probes += 1;
            e.next_probe = now + RETRANS;
            if self.requests.len() < self.requests.capacity() {
                self.requests.push(Request { iface: e.iface, target: *ip });
            }
        }
        // One per poll is plenty: polls run every millisecond and failed neighbours are rare.
        if let Some(ip) = forget {
            self.entries.remove(&ip);
        }
    }

    /// When [`NeighCache::poll`] next has work: the earliest retransmission (or giving up) of a
    /// neighbour still being asked for. `None` when none is.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.values().filter(|e| e.mac.is_none() && e.probes > 0).map(|e| e.next_probe).min()
    }

    pub fn take_request(&mut self) -> Option<Request> {
        self.requests.pop()
    }

    /// The request [`NeighCache::take_request`] would take.
    pub fn peek_request(&self) -> Option<&Request> {
        self.requests.last()
    }

    pub fn take_released(&mut self) -> Option<(IfIndex, [u8; 6], B)> {
        self.released.pop()
    }

    pub fn take_expired(&mut self) -> Option<B> {
        self.expired.pop()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Resolved neighbours, for listings: (address, MAC, interface).
    pub fn resolved(&self) -> impl Iterator<Item = (Addr, [u8; 6], IfIndex)> + '_ {
        self.entries.iter().filter_map(|(a, e)| e.mac.map(|m| (*a, m, e.iface)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Addr = Addr::from_v4([198, 19, 0, 11]);
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn holds_then_releases_on_reply() {
        let mut c = NeighCache::new(8);
        assert_eq!(c.lookup(t(0), IP), None);
        c.hold(t(0), 1, IP, 'a').unwrap();
        c.hold(t(1), 1, IP, 'b').unwrap();
        assert_eq!(c.take_request(), Some(Request { iface: 1, target: IP }));
        assert_eq!(c.take_request(), None, "one request per resolution, not per packet");
        c.learn(t(5), 1, IP, MAC, false);
        let mut rel = vec![];
        while let Some(r) = c.take_released() {
            rel.push(r);
        }
        rel.sort_by_key(|r| r.2);
        assert_eq!(rel, vec![(1, MAC, 'a'), (1, MAC, 'b')]);
        assert_eq!(c.lookup(t(6), IP), Some(MAC));
    }

    #[test]
    fn hold_queue_is_bounded() {
        let mut c = NeighCache::new(8);
        for i in 0..HOLD {
            c.hold(t(0), 0, IP, i).unwrap();
        }
        assert_eq!(c.hold(t(0), 0, IP, 99), Err(99));
    }

    #[test]
    fn gives_up_after_max_probes() {
        let mut c = NeighCache::new(8);
        c.hold(t(0), 0, IP, 7u32).unwrap();
        let mut requests = 0;
        let mut now = 0;
        while c.take_expired().is_none() {
            while c.take_request().is_some() {
                requests += 1;
            }
            now += 100;
            c.poll(t(now));
            assert!(now < 10_000, "never gave up");
        }
        assert_eq!(requests, MAX_PROBES as usize);
        assert!(c.is_empty());
    }

    #[test]
    fn unsolicited_learning_only_refreshes() {
        let mut c: NeighCache<u8> = NeighCache::new(8);
        c.learn(t(0), 0, IP, MAC, false);
        assert_eq!(c.lookup(t(0), IP), None);
        c.learn(t(0), 0, IP, MAC, true);
        assert_eq!(c.lookup(t(0), IP), Some(MAC));
    }

    #[test]
    fn old_entries_are_reprobed_but_still_used() {
        let mut c: NeighCache<u8> = NeighCache::new(8);
        c.learn(t(0), 0, IP, MAC, true);
        let later = t(u64::try_from(REACHABLE.as_millis()).unwrap() + 1);
        assert_eq!(c.lookup(later, IP), Some(MAC));
        assert_eq!(c.take_request(), Some(Request { iface: 0, target: IP }));
        assert_eq!(c.lookup(later, IP), Some(MAC));
        assert_eq!(c.take_request(), None, "one probe per retransmit interval");
    }

    #[test]
    fn front_cache_answers_as_the_table_does() {
        let mut c: NeighCache<u8> = NeighCache::new(8);
        c.learn(t(0), 0, IP, MAC, true);
        // Cached by this lookup; a later one past REACHABLE must still schedule the re-probe.
        assert_eq!(c.lookup(t(1), IP), Some(MAC));
        let later = t(u64::try_from(REACHABLE.as_millis()).unwrap() + 1);
        assert_eq!(c.lookup(later, IP), Some(MAC));
        assert_eq!(c.take_request(), Some(Request { iface: 0, target: IP }));
        // A neighbour that moved: the cached MAC must not outlive the ARP that changed it.
        let moved = [2, 0, 0, 0, 0, 9];
        c.learn(later, 1, IP, moved, false);
        assert_eq!(c.lookup(later, IP), Some(moved));
        // Two addresses in one slot take turns; neither answers for the other.
        let other = Addr::from_v4([198, 18, 1, 3]);
        assert_eq!(NeighCache::<u8>::slot(&other), NeighCache::<u8>::slot(&IP));
        c.learn(later, 0, other, MAC, true);
        for _ in 0..2 {
            assert_eq!(c.lookup(later, other), Some(MAC));
            assert_eq!(c.lookup(later, IP), Some(moved));
        }
        assert_eq!(c.lookup(later, Addr::from_v4([198, 18, 2, 1])), None);
    }

    #[test]
    fn answers_say_how_long_they_hold_and_changes_move_the_epoch() {
        let mut c: NeighCache<u8> = NeighCache::new(8);
        let e0 = c.epoch();
        c.learn(t(10), 0, IP, MAC, true);
        let e1 = c.epoch();
        assert_ne!(e0, e1);
        let until = t(10) + REACHABLE;
        assert_eq!(c.lookup_until(t(11), IP), Some((MAC, until)), "from the table");
        assert_eq!(c.lookup_until(t(12), IP), Some((MAC, until)), "from the front cache");
        assert_eq!(c.epoch(), e1, "lookups change nothing");
        c.learn(t(20), 0, IP, [2, 0, 0, 0, 0, 9], false);
        assert_ne!(c.epoch(), e1, "a new MAC");
        c.add_static(1, Addr::from_v4([198, 19, 0, 12]), MAC);
        assert_eq!(
            c.lookup_until(t(30), Addr::from_v4([198, 19, 0, 12])),
            Some((MAC, Instant::from_millis(u64::MAX))),
            "a static entry holds for ever"
        );
    }

    #[test]
    fn static_entries_are_never_probed_or_replaced() {
        let mut c: NeighCache<u8> = NeighCache::new(8);
        c.add_static(0, IP, MAC);
        let much_later = t(10 * u64::try_from(REACHABLE.as_millis()).unwrap());
        assert_eq!(c.lookup(much_later, IP), Some(MAC));
        assert_eq!(c.take_request(), None);
        c.learn(much_later, 0, IP, [2, 0, 0, 0, 0, 0x99], true);
        assert_eq!(c.lookup(much_later, IP), Some(MAC));
    }

    #[test]
    fn full_cache_refuses() {
        let mut c = NeighCache::new(1);
        c.hold(t(0), 0, IP, 1u8).unwrap();
        assert_eq!(c.hold(t(0), 0, Addr::from_v4([198, 19, 0, 12]), 2), Err(2));
    }
}
