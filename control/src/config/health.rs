//! The health-check keys: `health_check` on a service or a real server, and a service's
//! `inhibit_on_failure` and `sorry_server` (keepalived's `virtual_server` / `real_server` keys).
//!
//! Kept apart from `schema.rs` because these keys are read by the checkers (`crate::health`), not by
//! the dataplane, and their rules relate only to each other. A check written on the service is the
//! default for each of its real servers, and one written on a server replaces it whole (no key-by-key
//! merge, so what runs is always one block as written). Keys that mean nothing for the check's type
//! (`path` on a tcp check) are refused rather than ignored.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::schema::{RealServer, Service};
use super::{addr, duration};

/// Time between two probes of one server. keepalived's `delay_loop` defaults to 60 s; 5 s finds a dead
/// server within fall × 5 s = 15 s by default, which is what a load balancer's operators expect.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Probe timeout; keepalived's `connect_timeout` is 5 s, shortened to stay below the interval.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Successes in a row that bring a DOWN server UP: HAProxy's `rise` default.
pub const DEFAULT_RISE: u32 = 2;
/// Failures in a row that take an UP server DOWN: HAProxy's `fall` default.
pub const DEFAULT_FALL: u32 = 3;
/// Expected HTTP status: keepalived's `HTTP_GET` `status_code` default (RFC 9110 §15.3.1, 200 OK).
pub const DEFAULT_EXPECT: u16 = 200;

/// How a server is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A TCP connect (keepalived `TCP_CHECK`).
    Tcp,
    /// An HTTP/1.1 GET whose status must be `expect` (keepalived `HTTP_GET`).
    Http,
    /// A command whose exit status 0 means healthy (keepalived `MISC_CHECK`).
    Exec,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http => "http",
            CheckKind::Exec => "exec",
        }
    }
}

/// `health_check:` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(rename = "type")]
    pub kind: CheckKind,
    /// Port probed; absent: the server's port, or the service's port when the server's is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// HTTP request path (http only, required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Expected HTTP status (http only); absent: 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<u16>,
    /// Shell command (exec only, required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default = "default_interval", with = "duration")]
    pub interval: Duration,
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    #[serde(default = "default_rise")]
    pub rise: u32,
    #[serde(default = "default_fall")]
    pub fall: u32,
}

impl HealthCheck {
    /// The status an http check expects.
    pub fn expected_status(&self) -> u16 {
        self.expect.unwrap_or(DEFAULT_EXPECT)
    }
}

/// `sorry_server:` takes a service's new connections while none of its real servers is healthy
/// (keepalived's `sorry_server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SorryServer {
    #[serde(deserialize_with = "addr::ip")]
    pub address: IpAddr,
    /// 0 keeps the client's destination port, as for a real server.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub port: u16,
}

impl SorryServer {
    /// The sorry server as the real server the snapshot adds for it.
    pub fn as_real_server(&self) -> RealServer {
        RealServer { address: self.address, port: self.port, weight: 1, health_check: None }
    }
}

impl Service {
    /// The check that applies to real server `rs` of this service: its own, else the service's.
    pub fn check_for<'a>(&'a self, rs: &'a RealServer) -> Option<&'a HealthCheck> {
        rs.health_check.as_ref().or(self.health_check.as_ref())
    }

    /// The port a check probes on `rs`: the check's `port`, else the server's, else the service's
    /// first port (the one the server is reached on when its own port is 0).
    pub fn check_port(&self, rs: &RealServer, check: &HealthCheck) -> u16 {
        match (check.port, rs.port) {
            (Some(port), _) => port,
            (None, 0) => self.ports.first().copied().unwrap_or(0),
            (None, port) => port,
        }
    }
}

/// Checks one `health_check` block at `path`, for real server `rs` (or for the service's servers).
pub(super) fn check_health(path: &str, check: &HealthCheck) -> Result<(), ConfigError> {
    let kind = check.kind.as_str();
    let only = |key: &str, wanted: &str| {
        ConfigError::invalid(format!("{path}.{key}"), format!("applies to type: {wanted} only, not {kind}"))
    };
    match check.kind {
        CheckKind::Http => match check.path.as_deref() {
            None => return Err(ConfigError::invalid(path, "type: http needs a `path` (such as /healthz)")),
            Some(p) if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                let reason = format!("{p:?} is not an HTTP path: it must start with / and have no spaces");
                return Err(ConfigError::invalid(format!("{path}.path"), reason));
            }
            Some(_) => {}
        },
        _ if check.path.is_some() => return Err(only("path", "http")),
        _ if check.expect.is_some() => return Err(only("expect", "http")),
        _ => {}
    }
    if let Some(status) = check.expect {
        if !(100..=599).contains(&status) {
            let reason = format!("{status} is not an HTTP status code (100..=599, RFC 9110 §15)");
            return Err(ConfigError::invalid(format!("{path}.expect"), reason));
        }
    }
    match (check.kind, check.command.as_deref()) {
        (CheckKind::Exec, None) => {
            return Err(ConfigError::invalid(path, "type: exec needs a `command` to run"));
        }
        (CheckKind::Exec, Some(c)) if c.trim().is_empty() => {
            return Err(ConfigError::invalid(format!("{path}.command"), "must not be empty"));
        }
        (CheckKind::Exec, Some(_)) | (_, None) => {}
        (_, Some(_)) => return Err(only("command", "exec")),
    }
    if check.port == Some(0) {
        let reason = "must be 1..=65535 (omit it to probe the server's port)";
        return Err(ConfigError::invalid(format!("{path}.port"), reason));
    }
    if check.interval.is_zero() {
        return Err(ConfigError::invalid(format!("{path}.interval"), "must be greater than 0"));
    }
    if check.timeout.is_zero() || check.timeout >= check.interval {
        let reason = format!(
            "timeout {} must be greater than 0 and less than the interval ({}), so that one probe ends \
             before the next starts",
            duration::format(check.timeout),
            duration::format(check.interval)
        );
        return Err(ConfigError::invalid(format!("{path}.timeout"), reason));
    }
    for (key, value) in [("rise", check.rise), ("fall", check.fall)] {
        if value == 0 {
            let reason = "must be at least 1 (probes in a row that change the state)";
            return Err(ConfigError::invalid(format!("{path}.{key}"), reason));
        }
    }
    Ok(())
}

/// A check that would probe port 0 (the server's port, of a port-0 service) cannot run.
pub(super) fn check_probe_port(path: &str, service: &Service, rs: &RealServer) -> Result<(), ConfigError> {
    let Some(check) = service.check_for(rs) else { return Ok(()) };
    if check.kind != CheckKind::Exec && service.check_port(rs, check) == 0 {
        let at = if rs.health_check.is_some() { format!("{path}.health_check") } else { path.to_string() };
        let reason = "the check has no port to probe (the server and the service use port 0): set \
                      health_check.port";
        return Err(ConfigError::invalid(at, reason));
    }
    Ok(())
}

pub(super) fn default_inhibit() -> bool {
    true
}
pub(super) fn is_true(b: &bool) -> bool {
    *b
}
fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}
fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}
fn default_rise() -> u32 {
    DEFAULT_RISE
}
fn default_fall() -> u32 {
    DEFAULT_FALL
}
fn is_zero(port: &u16) -> bool {
    *port == 0
}
