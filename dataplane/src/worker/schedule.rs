//! New flows: which real server a packet without a connection goes to, and the entries that
//! remember it.
//!
//! In order (LVS `ip_vs_schedule`): a passive FTP data connection announced on a control
//! connection goes where it was announced; otherwise the service is looked up (exact port, port
//! 0, FTP data fallback), TCP is scheduled only on a SYN, and the server comes from the client's
//! persistence template (the seed's affinity: [`Worker::schedule_persistent`]) or the service's
//! scheduler. The entries' share of their server's load is kept here too.

use super::loads::Loads;
use super::pipeline::{Flow, Hit};
use super::verdict::Verdict;
use super::Worker;
use crate::addr::FlowKey;
use crate::buf::PacketBuf;
use crate::conn::{Conn, ConnId, ConnState, Dir, InsertError, F_TEMPLATE};
use crate::service::{dest_id, Persistence, ServiceId, FTP_PORT};
use crate::stats::{DestStats, DropReason};
use crate::time::Instant;
use crate::wire::Parsed;
use core::ops::ControlFlow::{self, Break, Continue};

impl<B: PacketBuf> Worker<B> {
    /// The entry of a flow that has none yet (read into `conn`), or the verdict that ends it.
    #[inline(never)]
    pub(super) fn new_flow(
        &mut self,
        now: Instant,
        flow: &Flow,
        p: &Parsed,
        conn: &mut Conn,
    ) -> ControlFlow<Verdict, Hit> {
        let key = &flow.key;
        let syn_only = flow.syn_only();
        if syn_only {
            if let Some(data) = self.ftp.expected(now, key, &self.conns, &self.snap.timeouts) {
                if self.loads.is_available(data.dest) {
                    return match self.insert_conn(data) {
                        Ok(id) => {
                            *conn = self.conns.get(id);
                            Continue(Hit { id, dir: Dir::In, once: false })
                        }
                        Err(r) => Break(Verdict::Drop(r)),
                    };
                }
            }
        }
        let Some(svc) = self.snap.service_for(key.proto, p.dst, key.dport) else {
            let local = self.snap.local_iface(p.dst).is_some();
            return Break(Verdict::Drop(if local {
                DropReason::Local
            } else if self.snap.is_vip(p.dst) {
                DropReason::NoService
            } else {
                DropReason::NoMatch
            }));
        };
        // LVS schedules TCP only on a SYN; anything else without a connection is dropped.
        if key.proto == crate::addr::Proto::Tcp && !syn_only {
            return Break(Verdict::Drop(DropReason::NoConn));
        }
        let s = &self.snap.services[svc as usize];
        let once = s.one_packet;
        let scheduled = match s.persistence {
            Some(persist) => self.schedule_persistent(now, svc, key, persist),
            None => self.pick_dest(svc, key).and_then(|dest| self.new_conn(now, svc, key, dest, None)),
        };
        match scheduled {
            Ok(id) => {
                *conn = self.conns.get(id);
                Continue(Hit { id, dir: Dir::In, once })
            }
            Err(r) => Break(Verdict::Drop(r)),
        }
    }

    /// Let the service's scheduler pick a real server for a new connection.
    fn pick_dest(&mut self, svc: ServiceId, key: &FlowKey) -> Result<usize, DropReason> {
        let pick =
            self.scheds[svc as usize].pick(self.loads.of_service(svc), key).ok_or(DropReason::NoDest)?;
        Ok(self.snap.services[svc as usize].dests[pick] as usize)
    }

    /// A persistent service's new connection follows its client's template, or creates one (LVS
    /// `ip_vs_sched_persist`). Each new connection re-arms the template to its full timeout.
    fn schedule_persistent(
        &mut self,
        now: Instant,
        svc: ServiceId,
        key: &FlowKey,
        persist: Persistence,
    ) -> Result<ConnId, DropReason> {
        let s = &self.snap.services[svc as usize];
        let fwd = s.fwd;
        let mask = if key.src.is_v4() { persist.netmask } else { persist.netmask6 };
        let tkey = FlowKey {
            src: key.src.masked(mask),
            dst: key.dst,
            sport: 0,
            dport: s.template_vport(key.dport),
            proto: key.proto,
        };
        let tmpl = match self.conns.lookup_template(&tkey) {
            Some(t) if self.template_valid(t, svc) => {
                self.conns.set_expires(t, now + persist.timeout);
                t
            }
            stale => {
                // An invalid template gives its key up and lives only while its connections do.
                if let Some(t) = stale {
                    self.conns.unhash(t);
                }
                let dest = self.pick_dest(svc, key)?;
                let d = &self.snap.dests[dest];
                let template = Conn {
                    flags: F_TEMPLATE,
                    proto: key.proto,
                    fwd,
                    client: tkey.src,
                    vip: tkey.dst,
                    vport: tkey.dport,
                    rs: d.addr,
                    rport: d.port,
                    service: svc,
                    dest: dest_id(dest),
                    expires: now + persist.timeout,
                    ..Conn::EMPTY
                };
                let id = self.conns.insert(template).map_err(table_error)?;
                self.dest_stats[dest].persistent.inc();
                self.stats.templates_created.inc();
                id
            }
        };
        let dest = self.conns.get(tmpl).dest as usize;
        self.new_conn(now, svc, key, dest, Some(tmpl))
    }

    /// A template is valid while its server is in the service, and, with
    /// `expire_quiescent_template`, while the server's weight is not 0 (LVS `ip_vs_check_template`).
    fn template_valid(&self, t: ConnId, svc: ServiceId) -> bool {
        let c = self.conns.get(t);
        let load = self.loads.get(c.dest);
        c.service == svc
            && load.available
            && (load.weight > 0 || !self.snap.sysctls.expire_quiescent_template)
    }

    /// Create the entry of a new connection to `dest`, controlled by `controller` if persistent.
    fn new_conn(
        &mut self,
        now: Instant,
        svc: ServiceId,
        key: &FlowKey,
        dest: usize,
        controller: Option<ConnId>,
    ) -> Result<ConnId, DropReason> {
        let s = &self.snap.services[svc as usize];
        let d = &self.snap.dests[dest];
        let state = if key.proto == crate::addr::Proto::Tcp { ConnState::None } else { ConnState::Udp };
        self.insert_conn(Conn {
            proto: key.proto,
            fwd: s.fwd,
            state,
            client: key.src,
            cport: key.sport,
            vip: key.dst,
            vport: key.dport,
            rs: d.addr,
            rport: if d.port == 0 { key.dport } else { d.port },
            service: svc,
            dest: dest_id(dest),
            expires: now + self.snap.timeouts.for_state(state),
            controller,
            ..Conn::EMPTY
        })
    }

    /// Insert a new (not yet active) connection entry and count it on its server. Its out key is
    /// indexed at the end of the burst ([`Worker::end_burst`]).
    pub(super) fn insert_conn(&mut self, conn: Conn) -> Result<ConnId, DropReason> {
        let id = self.conns.insert_deferred(conn).map_err(table_error)?;
        if conn.vport == FTP_PORT {
            // The id may have served an earlier control connection: its FTP state is not ours.
            self.ftp.forget(id);
        }
        self.loads.get_mut(conn.dest).inactive += 1;
        let ds = &self.dest_stats[conn.dest as usize];
        ds.conns.inc();
        ds.inactive.inc();
        self.stats.conns_created.inc();
        Ok(id)
    }

    /// Remove a connection now and release its share of its server's load.
    pub(super) fn drop_conn(&mut self, id: ConnId) {
        let old = self.conns.remove(id);
        self.ftp.forget(id);
        unaccount(&mut self.loads, &self.dest_stats, &old);
    }
}

fn table_error(e: InsertError) -> DropReason {
    match e {
        InsertError::Full => DropReason::TableFull,
        // Cannot happen: the key was looked up (or its stale template unhashed) just before.
        InsertError::Exists => DropReason::NoMatch,
    }
}

/// Forget an entry's share of its server's load (on expiry or removal): a connection's active or
/// inactive count, a template's persistent count.
pub(super) fn unaccount(loads: &mut Loads, dest_stats: &[DestStats], c: &Conn) {
    let (Some(load), Some(ds)) = (loads.find_mut(c.dest), dest_stats.get(c.dest as usize)) else { return };
    if c.is_template() {
        ds.persistent.sub(1);
    } else if c.state.is_active() {
        load.active = load.active.saturating_sub(1);
        ds.active.sub(1);
    } else {
        load.inactive = load.inactive.saturating_sub(1);
        ds.inactive.sub(1);
    }
}
