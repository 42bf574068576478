//! The control thread's state: the running config, what it told the workers, and the operations
//! an operator can ask for (reload, runtime edits, listings).
//!
//! Workers are only ever reached through their command rings; listings are answered by the
//! workers themselves and collected here. This is the one place that knows both the config (names,
//! addresses) and the dataplane's indices.
//!
//! Where a real server's weight lives. The operator's wish is the running config and the health
//! board's admin state ([`crate::health::Board`], which also holds the checks' verdict); their
//! merge, [`Board::effective`](crate::health::Board::effective), is computed, never stored. What
//! the workers were told is `dests`: the states the last snapshot carried (each snapshot is
//! stamped with the board's view when it is built, so a reload switches structure and states at
//! one burst boundary) and the commands sent since (health flaps, `vsadm -e`). A worker's copy is
//! its loads. A snapshot's `Dest::weight` is a message to the workers, read when they adopt it:
//! after a command it is stale, so nothing else reads it.
//!
//! A switch that not every worker acknowledges is not undone (a snapshot cannot be taken back: the
//! new one appended servers that connections may already use). The daemon runs the new config,
//! re-sends it to workers whose ring was full ([`Daemon::poll_workers`]), and says which worker
//! runs which epoch.

use crate::config::{self, Config};
use crate::health::{jobs_for, Health};
use crate::listing::{self, View};
use crate::metrics::DestCounters;
use crate::rates::Estimator;
use crate::reload::{self, Partial, ReloadError};
use crate::report::Report;
use crate::snapshot;
use crate::state::DestState;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};
use vsd_dataplane::conn::Conn;
use vsd_dataplane::service::{dest_id, DestId, Snapshot};
use vsd_dataplane::worker::{Command, Reply};
use vsd_dataplane::{Addr, Instant, Proto};
use vsd_ffi::ring::{Consumer, Producer, Single};

/// How long the control thread waits for every worker to answer a listing or a switch.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// The control thread's way to one worker: its command ring and its reply ring.
pub trait WorkerLink {
    /// Queue `cmd`; gives it back when the ring is full.
    fn send(&self, cmd: Command) -> Result<(), Command>;
    /// The next answer waiting, if any.
    fn recv(&self) -> Option<Reply>;
}

/// The control thread's ends of one worker's rings.
pub struct WorkerHandle {
    pub commands: Producer<Box<Command>, Single>,
    pub replies: Consumer<Box<Reply>, Single>,
}

impl WorkerLink for WorkerHandle {
    fn send(&self, cmd: Command) -> Result<(), Command> {
        self.commands.enqueue(Box::new(cmd)).map_err(|b| *b)
    }

    fn recv(&self) -> Option<Reply> {
        self.replies.dequeue().map(|b| *b)
    }
}

/// What the control thread knows of one worker's snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkState {
    /// The epoch it last acknowledged.
    pub epoch: u64,
    /// It missed a switch or a command (its ring was full): [`Daemon::poll_workers`] sends it the
    /// running snapshot and the commands since.
    pub behind: bool,
    /// It refused a snapshot: it runs one outside the daemon's chain, which only a restart mends.
    pub diverged: bool,
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

/// The first snapshot, for `cfg` on interfaces with `macs`: every server in the state the health
/// board starts with (all UP, sorry servers in only for services without a real server).
pub fn first_snapshot(cfg: &Config, macs: &[[u8; 6]]) -> Result<Snapshot, ReloadError> {
    let mut snap = snapshot::assemble(cfg, macs, 1, None)?;
    let board = crate::health::Board::new(cfg, &snap);
    snapshot::stamp(&mut snap, &board.effective());
    Ok(snap)
}

pub struct Daemon {
    cfg: Config,
    path: PathBuf,
    snap: Arc<Snapshot>,
    workers: Vec<Box<dyn WorkerLink>>,
    links: Vec<LinkState>,
    /// Snapshots replaced while some worker had not acknowledged the next one: kept until every
    /// worker has, so that the last reference, and the free, stays on the control thread.
    held: Vec<Arc<Snapshot>>,
    /// The owner function the workers were started with.
    steering: reload::Steering,
    /// How long to wait for every worker's answer ([`REPLY_TIMEOUT`]; shorter in tests).
    wait: Duration,
    /// What the workers were told: the running snapshot's states and the commands since.
    dests: Vec<DestState>,
    health: Health,
    pub report: Report,
    /// `--rate`: LVS-style smoothed rates per real server.
    rates: Estimator,
    /// The metrics thread's handle on the per-server counters, when metrics are served.
    metric_counters: Option<DestCounters>,
}

impl Daemon {
    /// The daemon over workers that run `snap` (from [`first_snapshot`]) with `steering`.
    pub fn new<W: WorkerLink + 'static>(
        cfg: Config,
        path: PathBuf,
        snap: Arc<Snapshot>,
        workers: Vec<W>,
        report: Report,
        steering: reload::Steering,
    ) -> Daemon {
        let dests = snapshot::states(&snap);
        let health = Health::new(&cfg, &snap);
        let rates = Estimator::new(snap.dests.len());
        let links = vec![LinkState { epoch: snap.epoch, ..LinkState::default() }; workers.len()];
        let workers = workers.into_iter().map(|w| Box::new(w) as Box<dyn WorkerLink>).collect();
        Daemon {
            cfg,
            path,
            snap,
            workers,
            links,
            held: Vec::new(),
            steering,
            wait: REPLY_TIMEOUT,
            dests,
            health,
            report,
            rates,
            metric_counters: None,
        }
    }

    /// Starts the health checks and sends workers the initial state (sorry servers waiting).
    pub fn start_health(&mut self) -> Result<usize, ReloadError> {
        let n = self.health.configure(&self.cfg, &self.snap).map_err(ReloadError::HealthChecks)?;
        self.sync()?;
        Ok(n)
    }

    /// Applies the health verdicts that have arrived; returns the transitions, for the log.
    pub fn poll_health(&mut self) -> Result<Vec<String>, ReloadError> {
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
    fn sync(&mut self) -> Result<(), ReloadError> {
        let mut missed = Vec::new();
        for (d, want) in self.health.board.effective().into_iter().enumerate() {
            let Some(&have) = self.dests.get(d) else { break };
            if have.present != want.present {
                missed.extend(
                    self.broadcast(Command::SetAvailable { dest: dest_id(d), available: want.present }),
                );
            }
            if have.weight != want.weight {
                missed.extend(self.broadcast(Command::SetWeight { dest: dest_id(d), weight: want.weight }));
            }
            self.dests[d] = want;
        }
        missed.sort_unstable();
        missed.dedup();
        if missed.is_empty() {
            Ok(())
        } else {
            Err(ReloadError::Lagging { workers: missed })
        }
    }

    pub fn dests(&self) -> &[DestState] {
        &self.dests
    }

    /// Each worker's snapshot, as far as the control thread knows.
    pub fn links(&self) -> &[LinkState] {
        &self.links
    }

    /// Send `cmd` to every worker in step. Rings are deep and commands rare; a full ring means a
    /// worker is stuck: it is marked behind (brought up to date by [`Daemon::poll_workers`]) and
    /// returned, rather than waited on.
    fn broadcast(&mut self, cmd: Command) -> Vec<u16> {
        let mut missed = Vec::new();
        for (i, (w, link)) in self.workers.iter().zip(&mut self.links).enumerate() {
            if link.behind || link.diverged {
                continue;
            }
            if w.send(cmd.clone()).is_err() {
                link.behind = true;
                missed.push(worker_no(i));
            }
        }
        missed
    }

    /// Takes note of an answer from worker `i`: the epoch it runs, its grown counters.
    fn note(&mut self, i: usize, reply: &Reply) {
        match reply {
            Reply::Switched { epoch, dest_stats, .. } => {
                self.links[i].epoch = *epoch;
                if let Some(d) = dest_stats {
                    self.report.replace_dest_stats(i, d.clone());
                    if let Some(m) = &self.metric_counters {
                        m.replace(i, d.clone());
                    }
                }
            }
            Reply::Refused { running, .. } => {
                self.links[i].epoch = *running;
                self.links[i].diverged = true;
            }
            Reply::Conns { .. } => {}
        }
    }

    /// Reads the answers that came late (a switch acknowledged after the wait, a listing given up).
    fn absorb(&mut self) {
        for i in 0..self.workers.len() {
            while let Some(reply) = self.workers[i].recv() {
                self.note(i, &reply);
            }
        }
    }

    /// Between other duties: reads late answers, brings workers that missed a message up to date,
    /// and frees the snapshots no worker runs any more.
    pub fn poll_workers(&mut self) {
        self.absorb();
        for i in 0..self.workers.len() {
            if self.links[i].behind && !self.links[i].diverged {
                self.resync(i);
            }
        }
        if self.links.iter().all(|l| l.epoch == self.snap.epoch) {
            self.held.clear();
        }
    }

    /// Worker `i` missed a switch or a command: send it the running snapshot, then the commands
    /// from that snapshot's states to `dests`. Tried again on the next poll while its ring is full.
    fn resync(&mut self, i: usize) {
        let w = &self.workers[i];
        if w.send(Command::Switch(self.snap.clone())).is_err() {
            return;
        }
        for (d, (had, want)) in snapshot::states(&self.snap).iter().zip(&self.dests).enumerate() {
            let dest = dest_id(d);
            if had.present != want.present
                && w.send(Command::SetAvailable { dest, available: want.present }).is_err()
            {
                return;
            }
            if had.weight != want.weight && w.send(Command::SetWeight { dest, weight: want.weight }).is_err()
            {
                return;
            }
        }
        self.links[i].behind = false;
    }

    /// Every worker's connection entries, with each worker's clock.
    pub fn connections(&mut self) -> Result<Vec<(Instant, Conn)>, ReloadError> {
        self.absorb();
        for (i, w) in self.workers.iter().enumerate() {
            if w.send(Command::ListConns).is_err() {
                return Err(ReloadError::WorkerStuck { worker: worker_no(i) });
            }
        }
        let deadline = WallInstant::now() + self.wait;
        let mut out = Vec::new();
        for i in 0..self.workers.len() {
            loop {
                match self.workers[i].recv() {
                    Some(Reply::Conns { now, conns, .. }) => {
                        out.extend(conns.into_iter().map(|c| (now, c)));
                        break;
                    }
                    Some(other) => self.note(i, &other),
                    None if WallInstant::now() > deadline => {
                        return Err(ReloadError::WorkerSilent { worker: worker_no(i), waited: self.wait })
                    }
                    None => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        }
        Ok(out)
    }

    /// Move every worker to `snap` and wait for their answers. If no worker took it and none
    /// may still take it, nothing changed: the error names the worker. Otherwise `snap` is the
    /// running snapshot from here on, and the returned [`Partial`] (if any) says which worker runs
    /// what. The old snapshot is dropped here once every worker has let it go (its last
    /// reference, so it is freed on the control thread). A worker whose counters grew hands over
    /// its new array, for the listings and the metrics.
    fn switch_to(&mut self, snap: Arc<Snapshot>) -> Result<Option<Partial>, ReloadError> {
        self.absorb();
        let n = self.workers.len();
        let epoch = snap.epoch;
        let sent: Vec<bool> =
            self.workers.iter().map(|w| w.send(Command::Switch(snap.clone())).is_ok()).collect();
        let mut answer: Vec<Option<Result<(), u64>>> = vec![None; n];
        let deadline = WallInstant::now() + self.wait;
        loop {
            for (i, answer) in answer.iter_mut().enumerate() {
                while let Some(reply) = self.workers[i].recv() {
                    self.note(i, &reply);
                    match reply {
                        Reply::Switched { epoch: e, .. } if e == epoch => *answer = Some(Ok(())),
                        Reply::Refused { epoch: e, running, .. } if e == epoch => {
                            *answer = Some(Err(running))
                        }
                        _ => {}
                    }
                }
            }
            if sent.iter().zip(&answer).all(|(s, a)| !s || a.is_some()) || WallInstant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut p = Partial { epoch, waited: self.wait, ..Partial::default() };
        for (i, (sent, answer)) in sent.iter().zip(answer).enumerate() {
            let w = worker_no(i);
            match (sent, answer) {
                (false, _) => p.stuck.push(w),
                (true, None) => p.silent.push(w),
                (true, Some(Ok(()))) => p.switched.push(w),
                (true, Some(Err(running))) => p.refused.push((w, running)),
            }
        }
        if n > 0 && p.switched.is_empty() && p.silent.is_empty() {
            // Every worker refused it or never got it: none runs it, none will.
            return Err(match p.refused.first() {
                Some(&(worker, running)) => ReloadError::WorkerRefused { worker, epoch, running },
                None => ReloadError::WorkerStuck { worker: p.stuck.first().copied().unwrap_or_default() },
            });
        }
        // The snapshot carries every state: a worker it reached is behind no more, one it did not
        // is (re-sent by poll_workers).
        for (link, sent) in self.links.iter_mut().zip(&sent) {
            link.behind = !sent;
        }
        let old = std::mem::replace(&mut self.snap, snap);
        self.report.set_snapshot(self.snap.clone());
        if self.links.iter().any(|l| l.epoch != self.snap.epoch) {
            self.held.push(old);
        }
        self.dests = snapshot::states(&self.snap);
        self.rates.grow(self.snap.dests.len());
        let complete = p.silent.is_empty() && p.stuck.is_empty() && p.refused.is_empty();
        Ok((!complete).then_some(p))
    }

    /// The metrics' handle on the workers' per-server counters, kept up to date on reloads.
    pub fn share_counters(&mut self, counters: DestCounters) {
        self.metric_counters = Some(counters);
    }

    /// The config service at `vip:vport/proto`, by its position in the running config.
    fn find_service(&self, proto: Proto, vip: Addr, vport: u16) -> Result<usize, ReloadError> {
        self.cfg
            .services
            .iter()
            .position(|s| {
                crate::snapshot::proto(s) == proto
                    && s.vips.iter().any(|v| Addr::from(*v) == vip)
                    && s.ports.contains(&vport)
            })
            .ok_or_else(|| {
                ReloadError::BadRequest(format!(
                    "no service {} {}",
                    proto.name(),
                    listing::endpoint(&vip, vport)
                ))
            })
    }

    /// The running config's service and real server named by `t` (without a port, the service's
    /// only real server at that address).
    fn find_server(&self, t: &Target) -> Result<(usize, usize), ReloadError> {
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
            [] => Err(ReloadError::BadRequest(format!(
                "service {:?} has no real server {}",
                s.name,
                t.rs_text()
            ))),
            _ => Err(ReloadError::BadRequest(format!(
                "service {:?} has several real servers at {}: give the port",
                s.name, t.rs
            ))),
        }
    }

    /// Runtime edit (`vsadm -a ... -w N`): a new real server, scheduled at once. Like every
    /// runtime edit it changes the running config (`vsadm save` shows it); a reload goes back to
    /// the file.
    pub fn add_server(&mut self, t: &Target, weight: u32) -> Result<String, ReloadError> {
        let si = self.find_service(t.proto, t.vip, t.vport)?;
        let mut new = self.cfg.clone();
        let s = &mut new.services[si];
        let port = t.rport.unwrap_or(0);
        if s.real_servers.iter().any(|rs| Addr::from(rs.address) == t.rs && rs.port == port) {
            return Err(ReloadError::BadRequest(format!(
                "service {:?} already has real server {}",
                s.name,
                t.rs_text()
            )));
        }
        s.real_servers.push(config::RealServer { address: t.rs.to_ip(), port, weight, health_check: None });
        self.apply(new, "vsadm -a")
    }

    /// Runtime edit (`vsadm -e ... -w N`): a weight, sent as a command (no snapshot switch).
    pub fn edit_weight(&mut self, t: &Target, weight: u32) -> Result<String, ReloadError> {
        let (si, ri) = self.find_server(t)?;
        let mut new = self.cfg.clone();
        new.services[si].real_servers[ri].weight = weight;
        self.apply(new, "vsadm -e")
    }

    /// Runtime edit (`vsadm -d ...`): the server leaves its service; its connections follow the
    /// rules for removed servers (`expire_nodest_conn`).
    pub fn delete_server(&mut self, t: &Target) -> Result<String, ReloadError> {
        let (si, ri) = self.find_server(t)?;
        let mut new = self.cfg.clone();
        new.services[si].real_servers.remove(ri);
        self.apply(new, "vsadm -d")
    }

    /// Re-read the config file and apply the difference. A file that fails validation, or asks for
    /// a change that needs a restart, changes nothing.
    pub fn reload(&mut self) -> Result<String, ReloadError> {
        let new = config::load(&self.path)?;
        let what = format!("reloaded {}", self.path.display());
        self.apply(new, &what)
    }

    /// Make `new` the running config, changing only what differs: services and real servers that
    /// stay keep their ids, connections and templates; new ones are appended to the snapshot;
    /// removed ones leave their service and their connections follow LVS's rules. Checked first
    /// ([`reload::plan`]): a config it refuses changes nothing.
    ///
    /// A change of structure is one snapshot switch that carries every server's state too: the
    /// next health board (the admin plan of `new`, the checks it runs) is worked out aside and
    /// stamped into the snapshot, so workers take removals, additions and weights at once.
    /// Weights and health checks alone need no switch: they go out as commands.
    fn apply(&mut self, new: Config, what: &str) -> Result<String, ReloadError> {
        reload::plan(&self.cfg, &new, self.steering)?;
        let next = if needs_switch(&self.cfg, &new) {
            let macs: Vec<[u8; 6]> = self.snap.ifaces.iter().map(|i| i.mac).collect();
            Some(snapshot::assemble(&new, &macs, self.snap.epoch + 1, Some(&self.snap))?)
        } else {
            None
        };
        let mut board = self.health.board.clone();
        let on: &Snapshot = next.as_ref().unwrap_or(&self.snap);
        board.grow(on);
        let plan = plan_admin(&new, on, &board.admin_states());
        // Admin state changes; a DOWN server keeps weight 0 until it is UP (crate::health::Board).
        for (d, state) in &plan {
            board.set_admin(*d, *state);
        }
        board.configure(&new, on, &jobs_for(&new, on, Some(&board.admin_states())));
        let switched = next.is_some();
        let partial = match next {
            Some(mut next) => {
                snapshot::stamp(&mut next, &board.effective());
                self.switch_to(Arc::new(next))?
            }
            None => None,
        };
        // From here on `new` runs (on every worker, or the error says where not).
        self.health.board = board;
        self.cfg = new;
        if let Err(e) = self.health.configure(&self.cfg, &self.snap) {
            tracing::warn!("health: {e}");
        }
        let synced = self.sync();
        if let Some(p) = partial {
            return Err(ReloadError::PartialSwitch(p));
        }
        synced?;
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

/// Worker `i`'s number as messages name it: the id its [`vsd_dataplane::worker::Worker`] runs with.
#[allow(
    clippy::cast_possible_truncation,
    reason = "worker ids are 16 bits: runtime::run starts at most 2^16 workers, one per distinct EAL lcore"
)]
fn worker_no(i: usize) -> u16 {
    i as u16
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
    want.into_iter().enumerate().filter(|(d, w)| *w != admin[*d]).map(|(d, w)| (dest_id(d), w)).collect()
}

/// Whether `new` changes the snapshot's structure or settings: anything but weights and health
/// checks, which alone reach the workers as commands (a switch carries them too, stamped).
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
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;
    use std::rc::Rc;
    use vsd_dataplane::buf::VecBuf;
    use vsd_dataplane::worker::Worker;

    /// A worker behind a fake pair of rings: it handles what it is sent at once while awake,
    /// queues it while asleep, and refuses it while its ring is "full".
    struct Local {
        worker: RefCell<Worker<VecBuf>>,
        inbox: RefCell<VecDeque<Command>>,
        outbox: RefCell<VecDeque<Reply>>,
        awake: Cell<bool>,
        full: Cell<bool>,
        /// What reached it, by kind.
        got: RefCell<Vec<&'static str>>,
    }

    #[derive(Clone)]
    struct Fake(Rc<Local>);

    impl Fake {
        fn new(id: u16, snap: &Arc<Snapshot>) -> Fake {
            Fake(Rc::new(Local {
                worker: RefCell::new(Worker::new(id, snap.clone())),
                inbox: RefCell::default(),
                outbox: RefCell::default(),
                awake: Cell::new(true),
                full: Cell::new(false),
                got: RefCell::default(),
            }))
        }

        /// Handle everything queued, as the worker's loop does between bursts.
        fn run(&self) {
            while let Some(cmd) = self.0.inbox.borrow_mut().pop_front() {
                if let Some(r) =
                    self.0.worker.borrow_mut().handle(vsd_dataplane::Instant::from_millis(1), cmd)
                {
                    self.0.outbox.borrow_mut().push_back(r);
                }
            }
        }

        fn epoch(&self) -> u64 {
            self.0.worker.borrow().snapshot().epoch
        }

        fn state(&self, d: DestId) -> Option<DestState> {
            self.0.worker.borrow().dest_state(d).map(|(weight, present)| DestState { weight, present })
        }

        fn got(&self) -> Vec<&'static str> {
            std::mem::take(&mut *self.0.got.borrow_mut())
        }
    }

    impl WorkerLink for Fake {
        fn send(&self, cmd: Command) -> Result<(), Command> {
            if self.0.full.get() {
                return Err(cmd);
            }
            self.0.got.borrow_mut().push(match cmd {
                Command::SetWeight { .. } => "weight",
                Command::SetAvailable { .. } => "available",
                Command::ListConns => "list",
                Command::Switch(_) => "switch",
            });
            self.0.inbox.borrow_mut().push_back(cmd);
            if self.0.awake.get() {
                self.run();
            }
            Ok(())
        }

        fn recv(&self) -> Option<Reply> {
            self.0.outbox.borrow_mut().pop_front()
        }
    }

    /// `services` with a small connection table.
    fn small(services: &[&str]) -> Config {
        let mut c = cfg(services);
        c.conn_table.capacity = 1024;
        c
    }

    /// A daemon over `n` fake workers, steered as `running` would start them.
    fn daemon(running: &Config, n: u16) -> (Daemon, Vec<Fake>) {
        let snap = Arc::new(first_snapshot(running, &[[0; 6]; 2]).unwrap());
        let fakes: Vec<Fake> = (0..n).map(|i| Fake::new(i, &snap)).collect();
        let report = Report::new(snap.clone(), Vec::new(), Vec::new());
        let (prefix_v4, prefix_v6) = reload::steering_prefixes(running);
        let steering = reload::Steering { workers: n, prefix_v4, prefix_v6 };
        let mut d = Daemon::new(running.clone(), "t.yaml".into(), snap, fakes.clone(), report, steering);
        d.wait = Duration::from_millis(50);
        (d, fakes)
    }

    /// The daemon's view is what `fake` runs: its snapshot, and every server's state.
    fn agrees(d: &Daemon, fake: &Fake) {
        assert_eq!(fake.epoch(), d.snapshot().epoch);
        let theirs: Vec<DestState> =
            (0..d.snapshot().dests.len()).map(|i| fake.state(dest_id(i)).unwrap()).collect();
        assert_eq!(theirs, d.dests());
        assert_eq!(d.dests(), d.health().board.effective());
    }

    const D11: DestId = 0;
    const D12: DestId = 1;
    const SORRY: DestId = 2;
    const D13: DestId = 3;

    /// One reload removes .12, re-weighs .11 and adds .13: one switch message, nothing after it,
    /// and the worker has every state from the switch on.
    #[test]
    fn a_reload_is_one_switch_that_carries_the_states() {
        let one = small(&[WEB, &server(11, 1), &server(12, 1)]);
        let (mut d, w) = daemon(&one, 1);
        assert_eq!(
            w[0].state(SORRY),
            Some(DestState { weight: 1, present: false }),
            "waiting from the start"
        );
        d.start_health().unwrap();
        assert_eq!(w[0].got(), Vec::<&str>::new(), "the first snapshot had the board's states");

        let two = small(&[WEB, &server(11, 3), &server(13, 2)]);
        let msg = d.apply(two, "reload").unwrap();
        assert_eq!(msg, "reload: 2 real server change(s), snapshot epoch 2");
        assert_eq!(w[0].got(), ["switch"], "no command after the switch");
        assert_eq!(w[0].state(D12), Some(DestState { weight: 1, present: false }));
        assert_eq!(w[0].state(D11), Some(DestState { weight: 3, present: true }));
        assert_eq!(w[0].state(D13), Some(DestState { weight: 2, present: true }));
        agrees(&d, &w[0]);

        // A weight alone is a command, without a switch.
        let t = Target {
            proto: Proto::Tcp,
            vip: Addr::from_v4([198, 18, 0, 100]),
            vport: 80,
            rs: Addr::from_v4([198, 19, 0, 13]),
            rport: None,
        };
        d.edit_weight(&t, 5).unwrap();
        assert_eq!(w[0].got(), ["weight"]);
        assert_eq!(d.snapshot().epoch, 2);
        agrees(&d, &w[0]);
        // vsadm -d is structural: a switch, and .13 is out at once.
        d.delete_server(&t).unwrap();
        assert_eq!(w[0].got(), ["switch"]);
        assert_eq!(w[0].state(D13), Some(DestState { weight: 5, present: false }));
        agrees(&d, &w[0]);
    }

    /// Worker 1 runs a snapshot of its own (it refuses the daemon's): worker 0 switches, and the
    /// error says so, the daemon runs what worker 0 runs. With worker 1 alone, nothing changes.
    #[test]
    fn a_refusing_worker_is_reported_and_the_daemon_follows_the_others() {
        let one = small(&[WEB, &server(11, 1), &server(12, 1)]);
        let (mut d, w) = daemon(&one, 2);
        let stray =
            snapshot::build(&small(&[WEB, &server(14, 1)]), &[[0; 6]; 2], 7, Some(d.snapshot())).unwrap();
        w[1].send(Command::Switch(stray)).unwrap();
        assert_eq!(w[1].recv().map(|r| matches!(r, Reply::Switched { epoch: 7, .. })), Some(true));

        let two = small(&[WEB, &server(11, 2), &server(13, 1)]);
        let err = d.apply(two.clone(), "reload").unwrap_err();
        let ReloadError::PartialSwitch(p) = &err else { panic!("{err}") };
        assert_eq!((p.switched.clone(), p.refused.clone()), (vec![0], vec![(1, 7)]));
        assert!(err.changed());
        assert_eq!(
            err.outcome(),
            "applied as snapshot epoch 2, which worker 0 runs; worker 1 refused it and still runs epoch 7 \
             (restart vsd)"
        );
        assert_eq!(d.config(), &two);
        agrees(&d, &w[0]);
        assert_eq!(d.links()[1], LinkState { epoch: 7, behind: false, diverged: true });

        // Worker 1 alone: it refuses, nothing changed.
        let (mut d, w) = daemon(&one, 1);
        let stray =
            snapshot::build(&small(&[WEB, &server(14, 1)]), &[[0; 6]; 2], 7, Some(d.snapshot())).unwrap();
        w[0].send(Command::Switch(stray)).unwrap();
        w[0].recv();
        let err = d.apply(two, "reload").unwrap_err();
        assert!(matches!(err, ReloadError::WorkerRefused { worker: 0, epoch: 2, running: 7 }), "{err}");
        assert!(!err.changed());
        assert_eq!((d.snapshot().epoch, d.config()), (1, &one));
    }

    /// Worker 1 sleeps through the switch: the reload says so and runs; when it wakes it adopts
    /// the snapshot waiting in its ring, and the old snapshot is freed here.
    #[test]
    fn a_silent_worker_catches_up_from_its_ring() {
        let one = small(&[WEB, &server(11, 1), &server(12, 1)]);
        let (mut d, w) = daemon(&one, 2);
        let first = d.snapshot().clone();
        w[1].0.awake.set(false);
        let err = d.apply(small(&[WEB, &server(11, 1), &server(13, 1)]), "reload").unwrap_err();
        let ReloadError::PartialSwitch(p) = &err else { panic!("{err}") };
        assert_eq!((p.switched.clone(), p.silent.clone()), (vec![0], vec![1]));
        assert_eq!(
            err.outcome(),
            "applied as snapshot epoch 2, which worker 0 runs; worker 1 did not answer within 50ms (the \
             switch waits in the command ring)"
        );
        agrees(&d, &w[0]);
        assert_eq!(w[1].epoch(), 1);

        w[1].run();
        d.poll_workers();
        agrees(&d, &w[1]);
        assert!(d.links().iter().all(|l| l.epoch == 2 && !l.behind));
        assert_eq!(Arc::strong_count(&first), 1, "only this test holds the first snapshot now");
    }

    /// Worker 1's ring is full during the switch and a health-like edit: it is re-sent both once
    /// it takes commands again.
    #[test]
    fn a_stuck_worker_gets_the_switch_and_the_commands_again() {
        let one = small(&[WEB, &server(11, 1), &server(12, 1)]);
        let (mut d, w) = daemon(&one, 2);
        let t = Target {
            proto: Proto::Tcp,
            vip: Addr::from_v4([198, 18, 0, 100]),
            vport: 80,
            rs: Addr::from_v4([198, 19, 0, 11]),
            rport: None,
        };
        w[1].0.full.set(true);
        let err = d.edit_weight(&t, 4).unwrap_err();
        assert!(matches!(&err, ReloadError::Lagging { workers } if workers == &[1]), "{err}");
        assert_eq!(
            err.outcome(),
            "applied, but the command ring of worker 1 is full: the change is re-sent until taken"
        );
        assert_eq!(w[0].got(), ["weight"]);
        assert!(d.links()[1].behind);

        let err = d.apply(small(&[WEB, &server(11, 4), &server(13, 1)]), "reload").unwrap_err();
        let ReloadError::PartialSwitch(p) = &err else { panic!("{err}") };
        assert_eq!((p.switched.clone(), p.stuck.clone()), (vec![0], vec![1]));
        d.edit_weight(&t, 6).unwrap();
        assert_eq!(w[0].got(), ["switch", "weight"]);
        agrees(&d, &w[0]);
        d.poll_workers();
        assert_eq!(w[1].got(), Vec::<&str>::new(), "still full");

        w[1].0.full.set(false);
        d.poll_workers();
        assert_eq!(w[1].got(), ["switch", "weight"], "the running snapshot, then the edit made since");
        d.poll_workers();
        agrees(&d, &w[1]);
        assert_eq!(w[1].state(D11), Some(DestState { weight: 6, present: true }));
        assert_eq!(d.links()[1], LinkState { epoch: 2, behind: false, diverged: false });
    }

    /// What the dataplane cannot do is refused by its key before anything is sent.
    #[test]
    fn a_feature_not_built_is_refused_by_its_key() {
        let one = small(&[WEB, &server(11, 1)]);
        let (mut d, w) = daemon(&one, 1);
        let err = d.apply(
            small(&[&WEB.replace("forwarding: nat", "forwarding: fullnat"), &server(11, 1)]),
            "reload",
        );
        let err = err.unwrap_err();
        assert!(
            matches!(&err, ReloadError::NotImplemented { key, .. } if key == "services[0].forwarding"),
            "{err}"
        );
        assert!(
            err.outcome().contains("fullnat is not implemented yet")
                && err.outcome().ends_with("nothing changed")
        );
        assert_eq!(w[0].got(), Vec::<&str>::new());
        assert_eq!((d.snapshot().epoch, d.config()), (1, &one));
    }

    /// Steering was /24 at start; widening the netmask needs a restart with two workers (and
    /// sends nothing), and applies live with one.
    #[test]
    fn a_wider_persistence_netmask_is_refused_with_two_workers_only() {
        let sticky = |mask: u8| {
            WEB.replace(
                "forwarding: nat",
                &format!("forwarding: nat\n    persistence: {{ netmask: {mask} }}"),
            )
        };
        let one = small(&[&sticky(24), &server(11, 1)]);
        let wide = small(&[&sticky(16), &server(11, 1)]);
        let (mut d, w) = daemon(&one, 2);
        let err = d.apply(wide.clone(), "reload").unwrap_err();
        assert!(
            matches!(&err, ReloadError::NeedsRestart { keys, .. } if keys == &["services[0].persistence.netmask"]),
            "{err}"
        );
        assert_eq!(w[0].got(), Vec::<&str>::new());
        assert_eq!((d.snapshot().epoch, d.config()), (1, &one));

        let (mut d, w) = daemon(&one, 1);
        d.apply(wide, "reload").unwrap();
        assert_eq!(w[0].got(), ["switch"]);
        assert_eq!(d.snapshot().services[0].persistence.map(|p| p.netmask), Some(16));
    }

    #[test]
    fn admin_plan_of_a_reload_that_adds_removes_and_reweighs() {
        let one = cfg(&[WEB, &server(11, 1), &server(12, 1)]);
        let s1 = build_on(&one, 1, None);
        let mut board = Board::new(&one, &s1);
        let two = cfg(&[WEB, &server(11, 3), &server(13, 2)]);
        let s2 = build_on(&two, 2, Some(&s1));
        board.grow(&s2);
        let plan = plan_admin(&two, &s2, &board.admin_states());
        let (d11, d12, d13): (DestId, DestId, DestId) = (0, 1, 3);
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
