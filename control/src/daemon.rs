//! The control thread's state: the running config, what it told the workers, and the operations
//! an operator can ask for (reload, runtime edits, listings).
//!
//! Workers are only ever reached through their command rings; listings are answered by the
//! workers themselves and collected here. This is the one place that knows both the config (names,
//! addresses) and the dataplane's indices.

use crate::config::{self, Config};
use crate::health::Health;
use crate::listing::{self, DestState, View};
use crate::rates::Estimator;
use crate::report::Report;
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
}

impl Daemon {
    pub fn new(
        cfg: Config,
        path: PathBuf,
        snap: Arc<Snapshot>,
        workers: Vec<WorkerHandle>,
        report: Report,
    ) -> Daemon {
        let dests = snap.dests.iter().map(|d| DestState { weight: d.weight, present: true }).collect();
        let health = Health::new(&cfg, &snap);
        let rates = Estimator::new(snap.dests.len());
        Daemon { cfg, path, snap, workers, dests, health, report, rates }
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
    /// the old one dropped here (its last reference, so it is freed on the control thread).
    fn switch_to(&mut self, snap: Arc<Snapshot>) -> Result<(), String> {
        for w in &self.workers {
            while w.replies.dequeue().is_some() {}
        }
        self.broadcast(Command::Switch(snap.clone()))?;
        for reply in self.gather()? {
            match reply {
                Reply::Switched { epoch, .. } if epoch == snap.epoch => {}
                Reply::Refused { worker, .. } => {
                    return Err(format!("worker {worker} refused snapshot {} (layout changed)", snap.epoch))
                }
                other => return Err(format!("unexpected answer to a snapshot switch: {other:?}")),
            }
        }
        let old = std::mem::replace(&mut self.snap, snap);
        self.report.set_snapshot(self.snap.clone());
        drop(old);
        Ok(())
    }

    /// The dest id of real server `rs:rport` in the service at `vip:vport/proto`; without a port,
    /// the service's only real server at that address.
    fn find_dest(&self, t: &Target) -> Result<DestId, String> {
        let Target { proto, vip, vport, rs, rport } = *t;
        let svc = self
            .snap
            .services
            .iter()
            .find(|s| s.proto == proto && s.vips.contains(&vip) && s.ports.contains(&vport))
            .ok_or_else(|| format!("no service {} {}", proto.name(), listing::endpoint(&vip, vport)))?;
        let matches: Vec<DestId> = (svc.dests.start..svc.dests.end)
            .filter(|&d| {
                let x = &self.snap.dests[d as usize];
                x.addr == rs && rport.is_none_or(|p| x.port == p)
            })
            .collect();
        match matches[..] {
            [d] => Ok(d),
            [] => Err(format!("service {:?} has no real server {}", svc.name, t.rs_text())),
            _ => Err(format!("service {:?} has several real servers at {rs}: give the port", svc.name)),
        }
    }

    /// Runtime edit (`vsadm -e ... -w N`).
    pub fn edit_weight(&mut self, t: &Target, weight: u32) -> Result<(), String> {
        if weight > config::MAX_WEIGHT {
            return Err(format!("weight {weight} is out of range 0..={}", config::MAX_WEIGHT));
        }
        let d = self.find_dest(t)?;
        let state = self.health.board.admin(d);
        if !state.present {
            return Err(format!("real server {} was removed", t.rs_text()));
        }
        self.health.board.set_admin(d, DestState { weight, ..state });
        self.sync()
    }

    /// Runtime edit (`vsadm -d ...`).
    pub fn delete_server(&mut self, t: &Target) -> Result<(), String> {
        let d = self.find_dest(t)?;
        let state = self.health.board.admin(d);
        if !state.present {
            return Err(format!("real server {} was already removed", t.rs_text()));
        }
        self.health.board.set_admin(d, DestState { present: false, ..state });
        self.sync()
    }

    /// Re-read the config file and apply the difference. A file that fails validation, or asks for
    /// a change this version cannot apply live, changes nothing.
    pub fn reload(&mut self) -> Result<String, String> {
        let new = config::load(&self.path).map_err(|e| e.to_string())?;
        let plan = plan_reload(&self.cfg, &self.snap, &self.health.board.admin_states(), &new)?;
        let n = plan.len();
        let switched = if needs_switch(&self.cfg, &new) {
            // The new snapshot keeps the running real-server positions (a removed server stays,
            // absent), so that connections and templates keep their meaning.
            let mut merged = new.clone();
            let running = self.snap.services.iter().zip(&self.cfg.services);
            for (s, (svc, running)) in merged.services.iter_mut().zip(running) {
                s.real_servers = crate::snapshot::real_dests(running, svc)
                    .map(|d| {
                        let x = &self.snap.dests[d as usize];
                        let (address, port, weight) = (x.addr.to_ip(), x.port, x.weight);
                        config::RealServer { address, port, weight, health_check: None }
                    })
                    .collect();
            }
            let macs: Vec<[u8; 6]> = self.snap.ifaces.iter().map(|i| i.mac).collect();
            let snap = crate::snapshot::build(&merged, &macs, self.snap.epoch + 1)?;
            self.switch_to(snap)?;
            true
        } else {
            false
        };
        // Admin state changes; a DOWN server keeps weight 0 until it is UP (crate::health::Board).
        for (d, state) in &plan {
            self.health.board.set_admin(*d, *state);
        }
        self.sync()?;
        self.cfg = new;
        if let Err(e) = self.health.configure(&self.cfg, &self.snap) {
            tracing::warn!("health: {e}");
        }
        let epoch = if switched { format!(", snapshot epoch {}", self.snap.epoch) } else { String::new() };
        Ok(format!("reloaded {}: {n} real server change(s){epoch}", self.path.display()))
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

/// What a reload changes: the new state of each real server whose weight or membership differs.
/// This version applies weight changes and the removal (or return) of real servers of existing
/// services; anything else needs a restart and is refused with the reason.
pub fn plan_reload(
    running: &Config,
    snap: &Snapshot,
    dests: &[DestState],
    new: &Config,
) -> Result<Vec<(DestId, DestState)>, String> {
    if structure(running) != structure(new) {
        return Err("reload: this version applies real-server weights and removals, timeouts, \
                    persistence settings, schedulers and the expire_* switches live; other changes \
                    (adding services or servers, interfaces, routes, dpdk, workers) need a restart"
            .into());
    }
    let mut plan = Vec::new();
    for (si, s) in new.services.iter().enumerate() {
        let range = crate::snapshot::real_dests(&running.services[si], &snap.services[si]);
        for rs in &s.real_servers {
            if !range.clone().any(|d| {
                let x = &snap.dests[d as usize];
                x.addr == Addr::from(rs.address) && x.port == rs.port
            }) {
                return Err(format!(
                    "reload: services[{si}] {:?}: adding real server {} needs a restart in this version",
                    s.name,
                    listing::endpoint(&Addr::from(rs.address), rs.port)
                ));
            }
        }
        for d in range {
            let x = &snap.dests[d as usize];
            let want = s
                .real_servers
                .iter()
                .find(|rs| Addr::from(rs.address) == x.addr && rs.port == x.port)
                .map_or(DestState { weight: dests[d as usize].weight, present: false }, |rs| DestState {
                    weight: rs.weight,
                    present: true,
                });
            if want != dests[d as usize] {
                plan.push((d, want));
            }
        }
    }
    Ok(plan)
}

/// The part of a config a live reload cannot change: everything but real servers and the settings
/// a snapshot switch applies.
fn structure(c: &Config) -> Config {
    let mut c = switchable_cleared(c);
    for s in &mut c.services {
        s.real_servers.clear();
        // Checks are replaced live (crate::health); the sorry server's place is in the snapshot.
        s.health_check = None;
        s.inhibit_on_failure = true;
    }
    c
}

/// `c` with the settings a snapshot switch can change set to fixed values.
fn switchable_cleared(c: &Config) -> Config {
    let mut c = c.clone();
    c.timeouts = Default::default();
    c.expire_nodest_conn = false;
    c.expire_quiescent_template = false;
    for s in &mut c.services {
        s.persistence = None;
        s.scheduler = Default::default();
        s.one_packet = false;
    }
    c
}

/// Whether `new` changes settings that live in the snapshot (not just real servers).
fn needs_switch(running: &Config, new: &Config) -> bool {
    let servers_cleared = |c: &Config| {
        let mut c = c.clone();
        for s in &mut c.services {
            s.real_servers.clear();
        }
        c
    };
    servers_cleared(running) != servers_cleared(new)
}
