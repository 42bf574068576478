//! The control thread's state: the running config, what it told the workers, and the operations
//! an operator can ask for (reload, runtime edits, listings).
//!
//! Workers are only ever reached through their command rings; listings are answered by the
//! workers themselves and collected here. This is the one place that knows both the config (names,
//! addresses) and the dataplane's indices.

use crate::config::{self, Config};
use crate::health::Health;
use crate::listing::{self, View};
use crate::metrics::DestCounters;
use crate::rates::Estimator;
use crate::report::Report;
use crate::state::DestState;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};
use vsd_dataplane::conn::Conn;
use vsd_dataplane::service::{DestId, Snapshot};
use vsd_dataplane::worker::{Command, Reply};
use vsd_dataplane::{Addr, Instant, Proto};
use vsd_ffi::ring::{Consumer, Producer, Single};

/// How long the control thread waits for every worker to answer a listing.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// The control thread's ends of one worker's rings.
pub struct WorkerHandle {
    pub commands: Producer<Box<Command>, Single>,
    pub replies: Consumer<Box<Reply>, Single>,
}

/// A real server named the way ipvsadm names it: `-t|-u VIP:PORT -r RS[:PORT]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub proto: Proto,
    pub vip: Addr,
    pub vport: u16,
    pub rs: Addr,
    pub rport: Option<u16>,
}

impl Target {
    fn rs_text(&self) -> String {
        match self.rport {
            Some(p) => listing::endpoint(&self.rs, p),
            None => self.rs.to_string(),
        }
    }
}

pub struct Daemon {
    cfg: Config,
    path: PathBuf,
    snap: Arc<Snapshot>,
    workers: Vec<WorkerHandle>,
    /// What the workers have: the health board's effective state, as last sent.
    dests: Vec<DestState>,
    health: Health,
    pub report: Report,
    /// `--rate`: LVS-style smoothed rates per real server.
    rates: Estimator,
    /// The metrics thread's handle on the per-server counters, when metrics are served.
    metric_counters: Option<DestCounters>,
}

impl Daemon {
    pub fn new(
        cfg: Config,
        path: PathBuf,
        snap: Arc<Snapshot>,
        workers: Vec<WorkerHandle>,
        report: Report,
    ) -> Daemon {
        let dests = snap.dests.iter().map(|d| DestState { weight: d.weight, present: d.present }).collect();
        let health = Health::new(&cfg, &snap);
        let rates = Estimator::new(snap.dests.len());
        Daemon { cfg, path, snap, workers, dests, health, report, rates, metric_counters: None }
    }

    /// Starts the health checks and sends workers the initial state (sorry servers waiting).
    pub fn start_health(&mut self) -> Result<usize, String> {
        let n = self.health.configure(&self.cfg, &self.snap).map_err(|e| format!("health checks: {e}"))?;
        self.sync()?;
        Ok(n)
    }

    /// Applies the health verdicts that have arrived; returns the transitions, for the log.
    pub fn poll_health(&mut self) -> Result<Vec<String>, String> {
        let lines = self.health.poll();
        if !lines.is_empty() {
            self.sync()?;
        }
        Ok(lines)
    }

    /// Admin and health state per destination (for listings and metrics).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Sends workers the difference between the health board's effective state and theirs.
    fn sync(&mut self) -> Result<(), String> {
        for (d, want) in self.health.board.effective().into_iter().enumerate() {
            let have = self.dests[d];
            if have.present != want.present {
                self.broadcast(Command::SetAvailable { dest: d as DestId, available: want.present })?;
            }
            if have.weight != want.weight {
                self.broadcast(Command::SetWeight { dest: d as DestId, weight: want.weight })?;
            }
            self.dests[d] = want;
        }
        Ok(())
    }

    pub fn dests(&self) -> &[DestState] {
        &self.dests
    }

    /// Send `cmd` to every worker. Rings are deep and commands rare; a full ring means a worker
    /// is stuck, which is reported rather than waited on.
    fn broadcast(&self, cmd: Command) -> Result<(), String> {
        for (i, w) in self.workers.iter().enumerate() {
            if w.commands.enqueue(Box::new(cmd.clone())).is_err() {
                return Err(format!("worker {i} is not taking commands (its ring is full)"));
            }
        }
        Ok(())
    }

    /// One reply from every worker, in worker order.
    fn gather(&self) -> Result<Vec<Reply>, String> {
        let deadline = WallInstant::now() + REPLY_TIMEOUT;
        let mut out = Vec::new();
        for (i, w) in self.workers.iter().enumerate() {
            loop {
                if let Some(reply) = w.replies.dequeue() {
                    out.push(*reply);
                    break;
                }
                if WallInstant::now() > deadline {
                    return Err(format!("worker {i} did not answer within {REPLY_TIMEOUT:?}"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(out)
    }

    /// Every worker's connection entries, with each worker's clock.
    pub fn connections(&self) -> Result<Vec<(Instant, Conn)>, String> {
        for w in &self.workers {
            while w.replies.dequeue().is_some() {}
        }
        self.broadcast(Command::ListConns)?;
        let mut out = Vec::new();
        for reply in self.gather()? {
            if let Reply::Conns { now, conns, .. } = reply {
                out.extend(conns.into_iter().map(|c| (now, c)));
            }
        }
        Ok(out)
    }

    /// Move every worker to `snap` and wait until each has let the old snapshot go; only then is
    /// the old one dropped here (its last reference, so it is freed on the control thread). A
    /// worker whose counters grew hands over its new array, for the listings and the metrics.
    fn switch_to(&mut self, snap: Arc<Snapshot>) -> Result<(), String> {
        for w in &self.workers {
            while w.replies.dequeue().is_some() {}
        }
        self.broadcast(Command::Switch(snap.clone()))?;
        for reply in self.gather()? {
            match reply {
                Reply::Switched { worker, epoch, dest_stats } if epoch == snap.epoch => {
                    if let Some(d) = dest_stats {
                        self.report.replace_dest_stats(usize::from(worker), d.clone());
                        if let Some(m) = &self.metric_counters {
                            m.replace(usize::from(worker), d);
                        }
                    }
                }
                Reply::Refused { worker, .. } => {
                    return Err(format!("worker {worker} refused snapshot {} (layout changed)", snap.epoch))
                }
                other => return Err(format!("unexpected answer to a snapshot switch: {other:?}")),
            }
        }
        let old = std::mem::replace(&mut self.snap, snap);
        self.report.set_snapshot(self.snap.clone());
        drop(old);
        // Room for what the snapshot added, in the state the workers gave it: present at its
        // snapshot weight (sync() sends the board's verdict next).
        let n = self.snap.dests.len();
        for d in &self.snap.dests[self.dests.len().min(n)..] {
            self.dests.push(DestState { weight: d.weight, present: true });
        }
        self.rates.grow(n);
        self.health.board.grow(&self.snap);
        Ok(())
    }

    /// The metrics' handle on the workers' per-server counters, kept up to date on reloads.
    pub fn share_counters(&mut self, counters: DestCounters) {
        self.metric_counters = Some(counters);
    }

    /// The config service at `vip:vport/proto`, by its position in the running config.
    fn find_service(&self, proto: Proto, vip: Addr, vport: u16) -> Result<usize, String> {
        self.cfg
            .services
            .iter()
            .position(|s| {
                crate::snapshot::proto(s) == proto
                    && s.vips.iter().any(|v| Addr::from(*v) == vip)
                    && s.ports.contains(&vport)
            })
            .ok_or_else(|| format!("no service {} {}", proto.name(), listing::endpoint(&vip, vport)))
    }

    /// The running config's service and real server named by `t` (without a port, the service's
    /// only real server at that address).
    fn find_server(&self, t: &Target) -> Result<(usize, usize), String> {
        let si = self.find_service(t.proto, t.vip, t.vport)?;
        let s = &self.cfg.services[si];
        let matches: Vec<usize> = (0..s.real_servers.len())
            .filter(|&i| {
                let rs = &s.real_servers[i];
                Addr::from(rs.address) == t.rs && t.rport.is_none_or(|p| rs.port == p)
            })
            .collect();
        match matches[..] {
            [i] => Ok((si, i)),
            [] => Err(format!("service {:?} has no real server {}", s.name, t.rs_text())),
            _ => Err(format!("service {:?} has several real servers at {}: give the port", s.name, t.rs)),
        }
    }

    /// Runtime edit (`vsadm -a ... -w N`): a new real server, scheduled at once. Like every
    /// runtime edit it changes the running config (`vsadm save` shows it); a reload goes back to
    /// the file.
    pub fn add_server(&mut self, t: &Target, weight: u32) -> Result<String, String> {
        let si = self.find_service(t.proto, t.vip, t.vport)?;
        let mut new = self.cfg.clone();
        let s = &mut new.services[si];
        let port = t.rport.unwrap_or(0);
        if s.real_servers.iter().any(|rs| Addr::from(rs.address) == t.rs && rs.port == port) {
            return Err(format!("service {:?} already has real server {}", s.name, t.rs_text()));
        }
        s.real_servers.push(config::RealServer { address: t.rs.to_ip(), port, weight, health_check: None });
        self.apply(new, "vsadm -a")
    }

    /// Runtime edit (`vsadm -e ... -w N`).
    pub fn edit_weight(&mut self, t: &Target, weight: u32) -> Result<String, String> {
        let (si, ri) = self.find_server(t)?;
        let mut new = self.cfg.clone();
        new.services[si].real_servers[ri].weight = weight;
        self.apply(new, "vsadm -e")
    }

    /// Runtime edit (`vsadm -d ...`): the server leaves its service; its connections follow the
    /// rules for removed servers (`expire_nodest_conn`).
    pub fn delete_server(&mut self, t: &Target) -> Result<String, String> {
        let (si, ri) = self.find_server(t)?;
        let mut new = self.cfg.clone();
        new.services[si].real_servers.remove(ri);
        self.apply(new, "vsadm -d")
    }

    /// Re-read the config file and apply the difference. A file that fails validation, or asks for
    /// a change that needs a restart, changes nothing.
    pub fn reload(&mut self) -> Result<String, String> {
        let new = config::load(&self.path).map_err(|e| e.to_string())?;
        let what = format!("reloaded {}", self.path.display());
        self.apply(new, &what)
    }

    /// Make `new` the running config, changing only what differs: services and real servers that
    /// stay keep their ids, connections and templates; new ones are appended to the snapshot (a
    /// snapshot switch) and start taking connections; removed ones leave their service and their
    /// connections follow LVS's rules; weights change in place. Validated first: a config that
    /// fails changes nothing.
    fn apply(&mut self, new: Config, what: &str) -> Result<String, String> {
        new.validate().map_err(|e| e.to_string())?;
        if structure(&self.cfg) != structure(&new) {
            return Err("services, real servers, weights, health checks, timeouts, persistence, \
                        schedulers and the expire_* switches apply live; other changes (interfaces, \
                        routes, dpdk, workers, conn_table, admin, metrics) need a restart"
                .into());
        }
        let switched = if needs_switch(&self.cfg, &new) {
            let macs: Vec<[u8; 6]> = self.snap.ifaces.iter().map(|i| i.mac).collect();
            let snap = crate::snapshot::build(&new, &macs, self.snap.epoch + 1, Some(&self.snap))?;
            self.switch_to(snap)?;
            true
        } else {
            false
        };
        let plan = plan_admin(&new, &self.snap, &self.health.board.admin_states());
        // Admin state changes; a DOWN server keeps weight 0 until it is UP (crate::health::Board).
        for (d, state) in &plan {
            self.health.board.set_admin(*d, *state);
        }
        self.cfg = new;
        if let Err(e) = self.health.configure(&self.cfg, &self.snap) {
            tracing::warn!("health: {e}");
        }
        self.sync()?;
        let epoch = if switched { format!(", snapshot epoch {}", self.snap.epoch) } else { String::new() };
        Ok(format!("{what}: {} real server change(s){epoch}", plan.len()))
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    pub fn listing_json(&self) -> String {
        listing::services_json(&self.snap, &self.dests, &|d| self.report.dest_totals(d))
    }

    /// Sample the rate estimator (every 2 s; call often).
    pub fn tick_rates(&mut self) {
        let report = &self.report;
        self.rates.tick(std::time::Instant::now(), &|d| report.dest_totals(d));
    }

    pub fn listing(&self, view: View) -> String {
        listing::services(
            &self.snap,
            &self.dests,
            &|d| self.report.dest_totals(d),
            &|d| self.rates.rates(d),
            view,
            self.snap.conn_capacity,
        )
    }
}

/// The operator's state of every destination under `new` (placed in `snap`, built from it), where
/// it differs from `admin`: a real server of the config is present at its configured weight, a
/// sorry server is present (the board decides whether it serves), and everything else in the
/// snapshot (removed servers, retired services) is absent, keeping its weight.
pub fn plan_admin(new: &Config, snap: &Snapshot, admin: &[DestState]) -> Vec<(DestId, DestState)> {
    let mut want: Vec<DestState> = admin.iter().map(|a| DestState { present: false, ..*a }).collect();
    for (p, s) in crate::snapshot::placement(new, snap).into_iter().zip(&new.services) {
        let Some(p) = p else { continue };
        for (rs, d) in s.real_servers.iter().zip(p.reals) {
            want[d as usize] = DestState { weight: rs.weight, present: true };
        }
        if let Some(d) = p.sorry {
            want[d as usize].present = true;
        }
    }
    want.into_iter().enumerate().filter(|(d, w)| *w != admin[*d]).map(|(d, w)| (d as DestId, w)).collect()
}

/// The part of a config a live reload cannot change: everything but the services and the global
/// settings a snapshot switch applies.
fn structure(c: &Config) -> Config {
    let mut c = c.clone();
    c.services.clear();
    c.timeouts = Default::default();
    c.expire_nodest_conn = false;
    c.expire_quiescent_template = false;
    c
}

/// Whether `new` changes what lives in the snapshot: anything but weights and health checks, which
/// reach the workers as commands.
fn needs_switch(running: &Config, new: &Config) -> bool {
    let snapshot_part = |c: &Config| {
        let mut c = c.clone();
        for s in &mut c.services {
            s.health_check = None;
            s.inhibit_on_failure = true;
            for rs in &mut s.real_servers {
                rs.weight = 0;
                rs.health_check = None;
            }
        }
        c
    };
    snapshot_part(running) != snapshot_part(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Board;
    use crate::snapshot::tests::{build_on, cfg, server, WEB};

    #[test]
    fn admin_plan_of_a_reload_that_adds_removes_and_reweighs() {
        let one = cfg(&[WEB, &server(11, 1), &server(12, 1)]);
        let s1 = build_on(&one, 1, None);
        let mut board = Board::new(&one, &s1);
        let two = cfg(&[WEB, &server(11, 3), &server(13, 2)]);
        let s2 = build_on(&two, 2, Some(&s1));
        board.grow(&s2);
        let plan = plan_admin(&two, &s2, &board.admin_states());
        let (d11, d12, d13) = (0, 1, 3);
        assert_eq!(s2.dests[d13 as usize].addr, Addr::from_v4([198, 19, 0, 13]));
        assert_eq!(
            plan,
            vec![
                (d11, DestState { weight: 3, present: true }),
                (d12, DestState { weight: 1, present: false }),
            ],
            "the new .13 is already present at its weight; the sorry server is the board's"
        );
        // Nothing changes when the same config is applied again.
        for (d, state) in plan {
            board.set_admin(d, state);
        }
        assert_eq!(plan_admin(&two, &s2, &board.admin_states()), vec![]);
        assert!(!needs_switch(&two, &two));
        let reweighed = cfg(&[WEB, &server(11, 7), &server(13, 2)]);
        assert!(!needs_switch(&two, &reweighed), "weights reach workers as commands");
        assert!(needs_switch(&one, &two));
    }
}
