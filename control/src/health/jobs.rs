//! The checks to run: one [`Job`] per checked real server, resolved from the config against the
//! running snapshot's destinations.
//!
//! Servers are matched by address and port, not by position, because a reload may list them in
//! another order while the snapshot keeps its own. A server removed by the operator has no job: its
//! verdict would not be used, and it starts UP when it returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use vsd_dataplane::service::{DestId, Snapshot};

use crate::config::{CheckKind, Config};
use crate::snapshot;
use crate::state::DestState;

/// How one server is probed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    Tcp,
    Http {
        path: String,
        expect: u16,
    },
    /// Run with `sh -c`; `VSD_RS_ADDR` and `VSD_RS_PORT` name the server, and `VSD_RS` is both as
    /// in a URL (`198.19.0.11:8080`, `[2001:db8::11]:8080`).
    Exec {
        command: String,
    },
}

/// One server's check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub dest: DestId,
    /// Where the probe goes (for exec, what the command is told).
    pub target: SocketAddr,
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// `198.19.0.11:8080 in web`, for logs.
    pub label: Arc<str>,
}

/// The jobs for `cfg` over `snap`, skipping servers that `admin` marks removed (when given).
pub fn jobs_for(cfg: &Config, snap: &Snapshot, admin: Option<&[DestState]>) -> Vec<Job> {
    let mut out = Vec::new();
    for s in &cfg.services {
        let Some(placed) = snapshot::place(s, snap) else { continue };
        for (rs, d) in s.real_servers.iter().zip(placed.reals) {
            if admin.is_some_and(|a| !a[d as usize].present) {
                continue;
            }
            let Some(check) = s.check_for(rs) else { continue };
            let target = SocketAddr::new(rs.address, s.check_port(rs, check));
            let probe = match check.kind {
                CheckKind::Tcp => Probe::Tcp,
                CheckKind::Http => Probe::Http {
                    path: check.path.clone().unwrap_or_else(|| "/".into()),
                    expect: check.expected_status(),
                },
                CheckKind::Exec => Probe::Exec { command: check.command.clone().unwrap_or_default() },
            };
            out.push(Job {
                dest: d,
                target,
                probe,
                interval: check.interval,
                timeout: check.timeout,
                rise: check.rise,
                fall: check.fall,
                label: format!("{target} in {}", s.name).into(),
            });
        }
    }
    out
}

/// The jobs for every server of `cfg`.
pub fn jobs(cfg: &Config, snap: &Snapshot) -> Vec<Job> {
    jobs_for(cfg, snap, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"dpdk: { eal: ["-l", "0-1", "--no-pci", "--vdev", "net_null0"] }
workers: { lcores: [1] }
interfaces:
  - { name: int, port: net_null0, addresses: [198.19.0.1/24] }
services:
  - name: web
    vips: [198.19.0.100]
    protocol: tcp
    ports: [80, 443]
    forwarding: dr
    health_check: { type: http, path: /healthz, interval: 3s }
    real_servers:
      - { address: 198.19.0.11 }
      - { address: 198.19.0.12, health_check: { type: tcp, port: 22, fall: 1 } }
      - { address: 198.19.0.13, health_check: { type: exec, command: "exit 0" } }
  - name: plain
    vips: [198.19.0.101]
    protocol: tcp
    ports: [80]
    forwarding: nat
    real_servers:
      - { address: 198.19.0.21, port: 8080 }
"#;

    #[test]
    fn server_checks_override_the_service_check_and_ports_default() {
        let cfg = crate::config::parse(CFG, "t.yaml").unwrap();
        let snap = snapshot::build(&cfg, &[[0; 6]], 1, None).unwrap();
        let jobs = jobs(&cfg, &snap);
        let seen: Vec<_> = jobs.iter().map(|j| (j.dest, j.target.to_string(), j.probe.clone())).collect();
        assert_eq!(
            seen,
            [
                (0, "198.19.0.11:80".into(), Probe::Http { path: "/healthz".into(), expect: 200 }),
                (1, "198.19.0.12:22".into(), Probe::Tcp),
                (2, "198.19.0.13:80".into(), Probe::Exec { command: "exit 0".into() }),
            ]
        );
        assert_eq!(
            (jobs[0].interval, jobs[0].timeout, jobs[0].rise, jobs[0].fall),
            (Duration::from_secs(3), Duration::from_secs(2), 2, 3)
        );
        assert_eq!(jobs[1].fall, 1);
        assert_eq!(&*jobs[1].label, "198.19.0.12:22 in web");
    }

    #[test]
    fn removed_servers_have_no_job() {
        let cfg = crate::config::parse(CFG, "t.yaml").unwrap();
        let snap = snapshot::build(&cfg, &[[0; 6]], 1, None).unwrap();
        let mut admin: Vec<DestState> =
            snap.dests.iter().map(|d| DestState { weight: d.weight, present: true }).collect();
        admin[1].present = false;
        let dests: Vec<DestId> = jobs_for(&cfg, &snap, Some(&admin)).iter().map(|j| j.dest).collect();
        assert_eq!(dests, [0, 2]);
    }
}
