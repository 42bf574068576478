//! What a reload or a runtime edit may change, and how it can fail.
//!
//! [`plan`] decides before anything is sent: the config must validate, differ from the running one
//! only in keys that apply live ([`keys::KEYS`]), and keep every persistence netmask within the
//! steering prefix the workers were started with. What it refuses changes nothing. Once a snapshot
//! has gone out, the errors say what each worker runs: a reload never reports "nothing changed"
//! when some worker switched.

pub mod keys;

use crate::config::{Config, ConfigError};
use std::fmt;
use std::time::Duration;

/// Why a reload, a runtime edit or an admin request did not (fully) happen. Each message names the
/// cause and says whether anything changed.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file cannot be read or does not validate.
    #[error("{0}")]
    InvalidConfig(#[from] ConfigError),
    /// The config asks for something the dataplane does not do yet.
    #[error("{key}: {reason}")]
    NotImplemented { key: String, reason: String },
    /// These keys differ from the running config and are read only at start.
    #[error("{} changed: {why} (restart vsd to apply it)", keys.join(", "))]
    NeedsRestart { keys: Vec<String>, why: String },
    /// The admin request names no service or server of the running config, or is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The worker's command ring is full: it is not running its control loop.
    #[error("worker {worker} is not taking commands (its command ring is full)")]
    WorkerStuck { worker: u16 },
    /// The worker did not answer a request (a listing) in time.
    #[error("worker {worker} did not answer within {waited:?}")]
    WorkerSilent { worker: u16, waited: Duration },
    /// No worker took the snapshot: this one refused it, since it runs a snapshot the new one
    /// does not extend.
    #[error(
        "worker {worker} refused snapshot epoch {epoch}: it runs epoch {running}, which the new \
         snapshot does not extend"
    )]
    WorkerRefused { worker: u16, epoch: u64, running: u64 },
    /// The new config is the running one, but not every worker acknowledged it (yet).
    #[error("{0}")]
    PartialSwitch(Partial),
    /// The change is made, but these workers' command rings were full: they get it when they
    /// take commands again.
    #[error(
        "applied, but the command ring of {} is full: the change is re-sent until taken",
        self::workers(workers)
    )]
    Lagging { workers: Vec<u16> },
    /// The health checker's threads cannot start.
    #[error("health checks cannot start: {0}")]
    HealthChecks(#[source] std::io::Error),
}

impl ReloadError {
    /// Whether the running config changed despite the error.
    pub fn changed(&self) -> bool {
        matches!(self, ReloadError::PartialSwitch(_) | ReloadError::Lagging { .. })
    }

    /// The error as the outcome of a reload or an edit: whether anything changed, and why.
    pub fn outcome(&self) -> String {
        if self.changed() {
            self.to_string()
        } else {
            format!("{self}; nothing changed")
        }
    }
}

/// A snapshot switch that some workers did not acknowledge. The daemon runs the new config: the
/// workers that switched run it, a silent one adopts it when it reads its ring, a stuck one gets
/// it re-sent until it takes it; one that refused keeps the snapshot it has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partial {
    pub epoch: u64,
    pub switched: Vec<u16>,
    /// Sent, not acknowledged within the wait.
    pub silent: Vec<u16>,
    /// Their command ring was full: not sent yet.
    pub stuck: Vec<u16>,
    /// (worker, the epoch it keeps running).
    pub refused: Vec<(u16, u64)>,
    pub waited: Duration,
}

impl fmt::Display for Partial {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "applied as snapshot epoch {}, ", self.epoch)?;
        if self.switched.is_empty() {
            write!(f, "which no worker has acknowledged yet")?;
        } else {
            write!(
                f,
                "which {} run{}",
                workers(&self.switched),
                if self.switched.len() == 1 { "s" } else { "" }
            )?;
        }
        if !self.silent.is_empty() {
            let (w, n) = (workers(&self.silent), self.waited);
            write!(f, "; {w} did not answer within {n:?} (the switch waits in the command ring)")?;
        }
        if !self.stuck.is_empty() {
            let verb = if self.stuck.len() == 1 { "is" } else { "are" };
            write!(
                f,
                "; {} {verb} not taking commands (the switch is re-sent until taken)",
                workers(&self.stuck)
            )?;
        }
        for (w, running) in &self.refused {
            write!(f, "; worker {w} refused it and still runs epoch {running} (restart vsd)")?;
        }
        Ok(())
    }
}

/// `worker 1` or `workers 0, 2`.
fn workers(w: &[u16]) -> String {
    let list = w.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    if w.len() == 1 {
        format!("worker {list}")
    } else {
        format!("workers {list}")
    }
}

/// The owner function the workers run with: set at start, never by a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steering {
    pub workers: u16,
    pub prefix_v4: u8,
    pub prefix_v6: u8,
}

/// The steering prefixes `cfg` asks for: its coarsest persistence netmasks (IPv4, IPv6), so that
/// the clients of a persistence netmask all meet on one core; /32 and /128 without persistence.
pub fn steering_prefixes(cfg: &Config) -> (u8, u8) {
    let persist = cfg.services.iter().filter_map(|s| s.persistence.as_ref());
    let v4 = persist.clone().map(|p| p.netmask).min().unwrap_or(32);
    let v6 = persist.map(|p| p.netmask6).min().unwrap_or(128);
    (v4, v6)
}

/// Whether `new` may replace `running` live on workers steered by `steering`; changes nothing.
pub fn plan(running: &Config, new: &Config, steering: Steering) -> Result<(), ReloadError> {
    new.validate()?;
    let keys = keys::needing_restart(running, new);
    if !keys.is_empty() {
        let why = format!("only {} apply live", keys::live().join(", "));
        return Err(ReloadError::NeedsRestart { keys, why });
    }
    check_steering(new, steering)
}

/// With several workers, a persistence netmask coarser than the steering prefix would let one
/// netmask's clients hash to different cores, whose templates then pick different servers: the
/// affinity the netmask asks for would be lost. The owner function is the NICs' RSS setup too, so
/// it changes only with a restart. With one worker every client meets on it: anything goes.
pub fn check_steering(new: &Config, steering: Steering) -> Result<(), ReloadError> {
    if steering.workers <= 1 {
        return Ok(());
    }
    let mut keys = Vec::new();
    for (i, s) in new.services.iter().enumerate() {
        let Some(p) = &s.persistence else { continue };
        if p.netmask < steering.prefix_v4 {
            keys.push(format!("services[{i}].persistence.netmask"));
        }
        if p.netmask6 < steering.prefix_v6 {
            keys.push(format!("services[{i}].persistence.netmask6"));
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    let (v4, v6) = steering_prefixes(new);
    let why = format!(
        "/{v4} (IPv6 /{v6}) is coarser than the steering prefix /{} (IPv6 /{}) the {} workers were \
         started with, so one netmask's clients could reach two cores and two servers",
        steering.prefix_v4, steering.prefix_v6, steering.workers
    );
    Err(ReloadError::NeedsRestart { keys, why })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::{cfg, server, WEB};

    const STICKY: &str = r#"  - name: sticky
    vips: [198.18.0.101]
    protocol: tcp
    ports: [0]
    forwarding: dr
    persistence: { timeout: 30m, netmask: 24 }
    real_servers:
      - { address: 198.19.0.21 }
      - { address: 198.19.0.22 }
"#;

    fn started(c: &Config, workers: u16) -> Steering {
        let (prefix_v4, prefix_v6) = steering_prefixes(c);
        Steering { workers, prefix_v4, prefix_v6 }
    }

    #[test]
    fn refuses_restart_keys_by_name_and_takes_the_rest() {
        let one = cfg(&[WEB, &server(11, 1)]);
        let two = cfg(&[WEB, &server(11, 3), &server(12, 1), STICKY]);
        assert!(plan(&one, &two, started(&one, 1)).is_ok());
        let mut three = two.clone();
        three.admin.socket = "/run/vsd/other.sock".into();
        three.conn_table.capacity *= 2;
        let err = plan(&one, &three, started(&one, 1)).unwrap_err();
        let ReloadError::NeedsRestart { keys, .. } = &err else { panic!("{err}") };
        assert_eq!(keys, &["conn_table", "admin"]);
        assert_eq!(
            err.to_string(),
            "conn_table, admin changed: only services, timeouts, expire_nodest_conn, \
             expire_quiescent_template apply live (restart vsd to apply it)"
        );
        assert!(err.outcome().ends_with("; nothing changed"));
        assert!(!err.changed());
        let mut bad = two.clone();
        bad.services[0].real_servers[0].weight = u32::MAX;
        assert!(matches!(plan(&one, &bad, started(&one, 1)), Err(ReloadError::InvalidConfig(_))));
    }

    /// Steering was /24 at start (sticky's netmask); a reload widening it to /16 would split a /16
    /// over the cores.
    #[test]
    fn a_coarser_persistence_netmask_needs_a_restart_with_several_workers() {
        let one = cfg(&[WEB, &server(11, 1), STICKY]);
        let wider = cfg(&[WEB, &server(11, 1), &STICKY.replace("netmask: 24", "netmask: 16")]);
        let err = plan(&one, &wider, started(&one, 2)).unwrap_err();
        let ReloadError::NeedsRestart { keys, why } = &err else { panic!("{err}") };
        assert_eq!(keys, &["services[1].persistence.netmask"]);
        assert!(why.contains("/16") && why.contains("/24") && why.contains("2 workers"), "{why}");
        // One worker: every client meets on it; applies live.
        assert!(plan(&one, &wider, started(&one, 1)).is_ok());
        // Finer, or equal, is fine with two.
        let finer = cfg(&[WEB, &server(11, 1), &STICKY.replace("netmask: 24", "netmask: 28")]);
        assert!(plan(&one, &finer, started(&one, 2)).is_ok());
        // Persistence added to a service whose start had none: /24 is coarser than /32.
        let plain = cfg(&[WEB, &server(11, 1)]);
        let err = plan(&plain, &one, started(&plain, 2)).unwrap_err();
        assert!(
            matches!(&err, ReloadError::NeedsRestart { keys, .. } if keys == &["services[1].persistence.netmask"])
        );
        let v6 = cfg(&[WEB, &server(11, 1), &STICKY.replace("netmask: 24", "netmask: 24, netmask6: 64")]);
        let err = plan(&one, &v6, started(&one, 2)).unwrap_err();
        assert!(
            matches!(&err, ReloadError::NeedsRestart { keys, .. } if keys == &["services[1].persistence.netmask6"])
        );
    }
}
