//! This core's view of every real server's load, grouped by service.
//!
//! A scheduler sees its service's servers as one slice ([`Loads::of_service`]), in the order of
//! [`Service::dests`](crate::service::Service::dests); connection entries name a server by its
//! stable [`DestId`], which [`Loads`] maps to its (service, position). Both only grow: a reload's
//! snapshot appends services and servers ([`Snapshot::extends`]), and [`Loads::grow`] appends their
//! loads, so that nothing a connection entry points at moves.
//!
//! A server's weight and availability on this core live here and only here: a snapshot switch sets
//! them from the snapshot ([`Loads::adopt`]), commands change them in between. The snapshot's copy
//! is what they were when the control plane built it, not what they are now.

use crate::sched::DestLoad;
use crate::service::{service_id, DestId, ServiceId, Snapshot};

pub(super) struct Loads {
    by_service: Vec<Vec<DestLoad>>,
    /// Per dest id: its service and its position in the service's list.
    at: Vec<(ServiceId, u32)>,
    /// Per dest id: a copy of its load's `available`, which every packet of a connection checks
    /// (one load instead of three dependent ones). Change it with [`Loads::set_available`].
    available: Vec<bool>,
}

impl Loads {
    pub(super) fn new(snap: &Snapshot) -> Loads {
        let mut loads = Loads { by_service: Vec::new(), at: Vec::new(), available: Vec::new() };
        loads.grow(snap);
        loads.adopt(snap);
        loads
    }

    /// Add the services and servers that `snap` appends to the ones these loads were built for;
    /// the loads already here (connection counts) stay. New servers are out until [`Loads::adopt`].
    /// Returns the services whose server list changed, which need their scheduler updated.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "a position in a service's server list is below the snapshot's server count, which Snapshot::new asserts fits in u32"
    )]
    pub(super) fn grow(&mut self, snap: &Snapshot) -> Vec<ServiceId> {
        self.at.resize(snap.dests.len(), (0, 0));
        self.available.resize(snap.dests.len(), false);
        let mut changed = Vec::new();
        for (i, s) in snap.services.iter().enumerate() {
            if i == self.by_service.len() {
                self.by_service.push(Vec::with_capacity(s.dests.len()));
            }
            let have = &mut self.by_service[i];
            if have.len() == s.dests.len() {
                continue;
            }
            for &d in &s.dests[have.len()..] {
                let x = &snap.dests[d as usize];
                self.at[d as usize] = (service_id(i), have.len() as u32);
                // Out, at weight 0, until `adopt` reads its state: the one place a snapshot's
                // weights and presence reach this core.
                have.push(DestLoad { available: false, ..DestLoad::new(x.addr, x.port, 0) });
            }
            changed.push(service_id(i));
        }
        changed
    }

    /// Take every server's weight and availability from `snap` (after [`Loads::grow`]), so that
    /// a reload's structure and states change at one burst boundary. Returns the services whose
    /// servers changed, which need their scheduler updated.
    pub(super) fn adopt(&mut self, snap: &Snapshot) -> Vec<ServiceId> {
        let mut changed = Vec::new();
        for (d, x) in snap.dests.iter().enumerate() {
            let Some(&(svc, i)) = self.at.get(d) else { continue };
            let Some(load) = self.by_service.get_mut(svc as usize).and_then(|s| s.get_mut(i as usize)) else {
                continue;
            };
            if load.weight == x.weight && load.available == x.present {
                continue;
            }
            load.weight = x.weight;
            load.available = x.present;
            self.available[d] = x.present;
            if !changed.contains(&svc) {
                changed.push(svc);
            }
        }
        changed
    }

    /// The service of real server `d`.
    #[inline]
    pub(super) fn service_of(&self, d: DestId) -> ServiceId {
        self.at[d as usize].0
    }

    /// Whether server `d` takes packets (LVS: not removed from its service).
    #[inline]
    pub(super) fn is_available(&self, d: DestId) -> bool {
        self.available[d as usize]
    }

    pub(super) fn set_available(&mut self, d: DestId, available: bool) {
        self.get_mut(d).available = available;
        self.available[d as usize] = available;
    }

    #[inline]
    pub(super) fn get(&self, d: DestId) -> &DestLoad {
        let (s, i) = self.at[d as usize];
        &self.by_service[s as usize][i as usize]
    }

    #[inline]
    pub(super) fn get_mut(&mut self, d: DestId) -> &mut DestLoad {
        let (s, i) = self.at[d as usize];
        &mut self.by_service[s as usize][i as usize]
    }

    /// `get_mut` for a dest id that may not exist (entries built by hand in tests).
    #[inline]
    pub(super) fn find_mut(&mut self, d: DestId) -> Option<&mut DestLoad> {
        let (s, i) = *self.at.get(d as usize)?;
        self.by_service.get_mut(s as usize)?.get_mut(i as usize)
    }

    /// A service's servers, as its scheduler indexes them.
    #[inline]
    pub(super) fn of_service(&self, svc: ServiceId) -> &[DestLoad] {
        &self.by_service[svc as usize]
    }
}
