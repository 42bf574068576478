//! The admin socket: a unix stream socket the control thread serves between its other duties, for
//! `vsadm`.
//!
//! One request per connection: a line of words; the answer is `ok` or `error` on the first line,
//! then the text. Plain text keeps `socat`/`nc -U` usable in an emergency. The socket is created
//! with mode 0660, so access is root's and the socket's group's.

use crate::daemon::{Daemon, Target};
use crate::listing::{self, View};
use crate::reload::ReloadError;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vsd_dataplane::{Addr, Proto};

pub struct AdminServer {
    listener: UnixListener,
    path: PathBuf,
}

impl AdminServer {
    pub fn bind(path: &Path) -> std::io::Result<AdminServer> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A socket file left by a vsd that died; refuse to steal one that is alive.
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{} is in use by a running vsd", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        listener.set_nonblocking(true)?;
        Ok(AdminServer { listener, path: path.to_path_buf() })
    }

    /// Serve the requests that are waiting, without blocking.
    pub fn poll(&self, daemon: &mut Daemon) {
        while let Ok((stream, _)) = self.listener.accept() {
            if let Err(e) = serve(stream, daemon) {
                tracing::warn!("admin: {e}");
            }
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(stream: UnixStream, daemon: &mut Daemon) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let answer = match handle(line.trim(), daemon) {
        Ok(text) => format!("ok\n{text}"),
        Err(e) => format!("error\n{}\n", e.outcome()),
    };
    (&stream).write_all(answer.as_bytes())
}

/// One request. Public for tests.
pub fn handle(line: &str, daemon: &mut Daemon) -> Result<String, ReloadError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words[..] {
        ["list"] => Ok(daemon.listing(View::Plain)),
        ["list", "stats"] => Ok(daemon.listing(View::Stats)),
        ["list", "persistent"] => Ok(daemon.listing(View::Persistent)),
        ["list", "rate"] => Ok(daemon.listing(View::Rate)),
        ["timeout"] => Ok(listing::timeouts(&daemon.snapshot().timeouts)),
        ["conns"] => Ok(listing::connections(&daemon.connections()?)),
        ["list", "json"] => Ok(daemon.listing_json()),
        ["conns", "json"] => Ok(listing::connections_json(&daemon.connections()?)),
        ["save"] => Ok(daemon.config().to_yaml()),
        ["reload"] => {
            let r = daemon.reload();
            match &r {
                Ok(m) => tracing::info!("{m}"),
                Err(e) if e.changed() => tracing::warn!("reload: {e}"),
                Err(e) => tracing::warn!("reload refused: {}", e.outcome()),
            }
            r.map(|m| m + "\n")
        }
        ["add", proto, vip, rs, weight] => {
            let w = weight.parse().map_err(|_| bad(format!("invalid weight {weight:?}")))?;
            edited(daemon.add_server(&target(proto, vip, rs)?, w))
        }
        ["edit", proto, vip, rs, weight] => {
            let w = weight.parse().map_err(|_| bad(format!("invalid weight {weight:?}")))?;
            edited(daemon.edit_weight(&target(proto, vip, rs)?, w))
        }
        ["delete", proto, vip, rs] => edited(daemon.delete_server(&target(proto, vip, rs)?)),
        _ => Err(bad(format!("unknown request {line:?}"))),
    }
}

fn bad(why: String) -> ReloadError {
    ReloadError::BadRequest(why)
}

/// A runtime edit is logged like a reload; `vsadm` prints nothing on success, as ipvsadm.
fn edited(r: Result<String, ReloadError>) -> Result<String, ReloadError> {
    match &r {
        Ok(m) => tracing::info!("{m}"),
        Err(e) if e.changed() => tracing::warn!("edit: {e}"),
        Err(e) => tracing::warn!("edit refused: {}", e.outcome()),
    }
    r.map(|_| String::new())
}

fn target(proto: &str, vip: &str, rs: &str) -> Result<Target, ReloadError> {
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        p => return Err(bad(format!("unknown protocol {p:?}"))),
    };
    let v = crate::endpoint::service(vip).map_err(bad)?;
    let (rs, rport) = crate::endpoint::real_server(rs).map_err(bad)?;
    Ok(Target { proto, vip: Addr::from(v.ip()), vport: v.port(), rs: Addr::from(rs), rport })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_take_ipv6_in_brackets_as_ipvsadm() {
        let t = target("tcp", "[2001:db8::100]:80", "[2001:db8:2::11]:8080").unwrap();
        assert_eq!(t.vip, Addr::from("2001:db8::100".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!((t.vport, t.rport), (80, Some(8080)));
        assert_eq!(t.rs, Addr::from("2001:db8:2::11".parse::<std::net::IpAddr>().unwrap()));
        let t = target("udp", "[2001:db8::100]:53", "2001:db8:2::11").unwrap();
        assert_eq!((t.proto, t.rport), (Proto::Udp, None));
        assert_eq!(target("tcp", "198.18.0.100:80", "198.19.0.11").unwrap().rport, None);
        let refused = |vip, rs| target("tcp", vip, rs).unwrap_err().outcome();
        assert!(refused("2001:db8::100", "2001:db8:2::11").contains("[ADDR]:PORT"));
        assert!(refused("[2001:db8::100]:80", "2001:db8:2::11:8080").contains("ambiguous"));
        assert!(refused("[2001:db8::100]:80", "[2001:db8:2::11").contains("no closing"));
    }
}
