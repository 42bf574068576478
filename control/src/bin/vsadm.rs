//! `vsadm`: ipvsadm-style administration of a running vsd, over its admin socket.

use clap::Parser;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vsd_control::endpoint::{real_server, service};

/// Inspect and edit a running vsd, the way ipvsadm does for LVS.
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    after_help = "Examples:\n  vsadm -L -n\n  vsadm -L -n --stats\n  vsadm -L -n -c\n  \
    vsadm -a -t 198.18.0.100:80 -r 198.19.0.14:8080 -w 2\n  vsadm -a -t [2001:db8::100]:80 -r [2001:db8:2::11]:8080\n  vsadm -e -t 198.18.0.100:80 -r 198.19.0.11:8080 -w 0\n  vsadm -d -t 198.18.0.100:80 -r 198.19.0.11:8080\n  \
    vsadm reload"
)]
struct Args {
    /// `reload` (re-read the config file) or `save` (print the running config as YAML).
    command: Option<String>,
    /// List the virtual services (ipvsadm -L).
    #[arg(short = 'L', long = "list", visible_short_alias = 'l')]
    list: bool,
    /// Numeric output (always on; accepted for ipvsadm habits).
    #[arg(short = 'n', long)]
    numeric: bool,
    /// With -L: per-service and per-server counters.
    #[arg(long)]
    stats: bool,
    /// With -L: connection, packet and byte rates per second (LVS's 2 s estimator).
    #[arg(long)]
    rate: bool,
    /// With -L: persistence templates per server.
    #[arg(long = "persistent-conn")]
    persistent_conn: bool,
    /// With -L: connection entries and templates (ipvsadm -L -c).
    #[arg(short = 'c', long)]
    connection: bool,
    /// With -L or -L -c: JSON for machines instead of ipvsadm's text.
    #[arg(long)]
    json: bool,
    /// Show the tcp, tcpfin and udp timeouts.
    #[arg(long)]
    timeout: bool,
    /// Add a real server (with -t/-u, -r, and -w, default 1).
    #[arg(short = 'a', long = "add-server")]
    add: bool,
    /// Edit a real server (with -t/-u, -r, -w).
    #[arg(short = 'e', long = "edit-server")]
    edit: bool,
    /// Delete a real server (with -t/-u, -r).
    #[arg(short = 'd', long = "delete-server")]
    delete: bool,
    /// A TCP virtual service, VIP:PORT ([VIP6]:PORT for IPv6).
    #[arg(short = 't', long = "tcp-service", value_name = "VIP:PORT")]
    tcp: Option<String>,
    /// A UDP virtual service, VIP:PORT ([VIP6]:PORT for IPv6).
    #[arg(short = 'u', long = "udp-service", value_name = "VIP:PORT")]
    udp: Option<String>,
    /// The real server, ADDR[:PORT] ([ADDR6]:PORT, or ADDR6 alone, for IPv6).
    #[arg(short = 'r', long = "real-server", value_name = "ADDR[:PORT]")]
    real_server: Option<String>,
    /// The new weight, 0..65535 (0 quiesces the server).
    #[arg(short = 'w', long)]
    weight: Option<u32>,
    /// vsd's admin socket.
    #[arg(long, env = "VSD_ADMIN_SOCKET", default_value = "/run/vsd/admin.sock")]
    socket: PathBuf,
}

fn request(args: &Args) -> Result<String, String> {
    let service = || -> Result<(String, String), String> {
        match (&args.tcp, &args.udp) {
            (Some(s), None) => Ok(("tcp".into(), checked(s, service)?)),
            (None, Some(s)) => Ok(("udp".into(), checked(s, service)?)),
            _ => Err("give the service with -t VIP:PORT or -u VIP:PORT".into()),
        }
    };
    let rs = || match &args.real_server {
        Some(r) => checked(r, real_server),
        None => Err("give the real server with -r ADDR[:PORT]".to_string()),
    };
    if let Some(cmd) = &args.command {
        return match cmd.as_str() {
            "reload" | "save" => Ok(cmd.clone()),
            other => Err(format!("unknown command {other:?} (reload, save)")),
        };
    }
    if args.add {
        let (p, s) = service()?;
        let w = args.weight.unwrap_or(1);
        return Ok(format!("add {p} {s} {} {w}", rs()?));
    }
    if args.edit {
        let (p, s) = service()?;
        let w = args.weight.ok_or("give the weight with -w N")?;
        return Ok(format!("edit {p} {s} {} {w}", rs()?));
    }
    if args.delete {
        let (p, s) = service()?;
        return Ok(format!("delete {p} {s} {}", rs()?));
    }
    if args.timeout {
        return Ok("timeout".into());
    }
    if args.list && args.json {
        return Ok(if args.connection { "conns json" } else { "list json" }.into());
    }
    if args.list {
        return Ok(if args.connection {
            "conns".into()
        } else if args.stats {
            "list stats".into()
        } else if args.rate {
            "list rate".into()
        } else if args.persistent_conn {
            "list persistent".into()
        } else {
            "list".into()
        });
    }
    Err("nothing to do: try vsadm -L -n (see --help)".into())
}

/// `text` if `parse` takes it: refused here with ipvsadm's rules (IPv6 in brackets before a port)
/// rather than by vsd, which applies the same rules.
fn checked<T>(text: &str, parse: fn(&str) -> Result<T, String>) -> Result<String, String> {
    parse(text).map(|_| text.to_string())
}

fn ask(socket: &PathBuf, line: &str) -> Result<String, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            format!("cannot reach vsd at {}: is vsd running? ({e})", socket.display())
        }
        std::io::ErrorKind::PermissionDenied => format!(
            "not permitted to use {} (the socket is mode 0660: run as root or as a member of its group)",
            socket.display()
        ),
        _ => format!("{}: {e}", socket.display()),
    })?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    s.write_all(format!("{line}\n").as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| format!("reading vsd's answer: {e}"))?;
    match answer.split_once('\n') {
        Some(("ok", body)) => Ok(body.to_string()),
        Some(("error", msg)) => Err(msg.trim_end().to_string()),
        _ => Err(format!("unexpected answer from vsd: {answer:?}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = args.numeric;
    match request(&args).and_then(|line| ask(&args.socket, &line)) {
        Ok(body) => {
            print!("{body}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vsadm: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(argv: &[&str]) -> Result<String, String> {
        request(&Args::try_parse_from(std::iter::once("vsadm").chain(argv.iter().copied())).unwrap())
    }

    #[test]
    fn ipv6_services_and_servers_are_written_as_for_ipvsadm() {
        assert_eq!(
            line(&["-a", "-t", "[2001:db8::100]:80", "-r", "[2001:db8:2::11]:8080", "-w", "2"]),
            Ok("add tcp [2001:db8::100]:80 [2001:db8:2::11]:8080 2".into())
        );
        assert_eq!(
            line(&["-d", "-u", "[2001:db8::100]:53", "-r", "2001:db8:2::11"]),
            Ok("delete udp [2001:db8::100]:53 2001:db8:2::11".into())
        );
        assert_eq!(
            line(&["-e", "-t", "198.18.0.100:80", "-r", "198.19.0.11:8080", "-w", "0"]),
            Ok("edit tcp 198.18.0.100:80 198.19.0.11:8080 0".into())
        );
        let err = line(&["-a", "-t", "2001:db8::100:80", "-r", "2001:db8:2::11"]).unwrap_err();
        assert!(err.contains("ambiguous") && err.contains("[2001:db8::100]:80"), "{err}");
        let err = line(&["-a", "-t", "[2001:db8::100]:80", "-r", "[2001:db8:2::11"]).unwrap_err();
        assert!(err.contains("no closing"), "{err}");
    }
}
