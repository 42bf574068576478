//! keepalived-style health checks: tcp, http and exec probes per real server, with rise and fall,
//! that set a failed server's weight to 0 (or remove it) and bring in a sorry server when none is
//! left.
//!
//! Probes block, so they run on their own threads ([`pool`]) over the host's network stack, and the
//! control loop only reads their verdicts from a channel between its other duties ([`Health::poll`]).
//! What a verdict does is decided by [`Board`], a pure model of admin state and health, so that the
//! rules (rise/fall, inhibit or remove, sorry server, edits while DOWN) are unit-tested without
//! threads or DPDK; the daemon sends workers the difference between the board's view and theirs.

mod board;
mod jobs;
mod pool;
mod probe;
mod state;

pub use board::Board;
pub use jobs::{jobs, jobs_for, Job, Probe};
pub use pool::{Checker, Outcome, MAX_THREADS};
pub use state::{Change, Counter};

use vsd_dataplane::service::Snapshot;

use crate::config::Config;

/// The board and the checker that feeds it.
pub struct Health {
    pub board: Board,
    checker: Option<Checker>,
}

impl Health {
    /// Every server UP and no check running yet.
    pub fn new(cfg: &Config, snap: &Snapshot) -> Health {
        Health { board: Board::new(cfg, snap), checker: None }
    }

    /// Starts the checks of `cfg` (or replaces them, after a reload); returns how many run.
    pub fn configure(&mut self, cfg: &Config, snap: &Snapshot) -> std::io::Result<usize> {
        let admin = self.board.admin_states();
        let jobs = jobs_for(cfg, snap, Some(&admin));
        self.board.configure(cfg, snap, &jobs);
        let n = jobs.len();
        match &self.checker {
            Some(c) => c.replace(jobs),
            None if n == 0 => {}
            None => self.checker = Some(Checker::start(jobs)?),
        }
        Ok(n)
    }

    /// Applies the verdicts that have arrived to the board; returns a log line per change (a server
    /// going DOWN or UP, a sorry server starting or stopping). The caller then syncs the workers.
    pub fn poll(&mut self) -> Vec<String> {
        let Some(checker) = &self.checker else { return Vec::new() };
        let outcomes: Vec<Outcome> = checker.results().collect();
        let mut lines = Vec::new();
        for o in outcomes {
            let before: Vec<bool> = self.board.sorry_states().iter().map(|s| s.0).collect();
            if let Some(change) = self.board.observe(o.dest, o.result.is_ok()) {
                lines.push(transition(&o, change));
            }
            for ((now, label), was) in self.board.sorry_states().into_iter().zip(before) {
                if now != was {
                    let what = if now {
                        "now serving: no real server is UP"
                    } else {
                        "stopped: a real server is UP"
                    };
                    lines.push(format!("sorry server {label} {what}"));
                }
            }
        }
        lines
    }
}

/// `198.19.0.11:8080 in web DOWN after 3 failures (connect: connection refused)`.
fn transition(o: &Outcome, change: Change) -> String {
    match (change, &o.result) {
        (Change::Down { failures }, Err(why)) => {
            format!("{} DOWN after {failures} failure{} ({why})", o.label, plural(failures))
        }
        (Change::Down { failures }, Ok(())) => format!("{} DOWN after {failures} failures", o.label),
        (Change::Up { successes }, _) => {
            format!("{} UP after {successes} success{}", o.label, if successes == 1 { "" } else { "es" })
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
