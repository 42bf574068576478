//! The probes, blocking and bounded by the check's timeout: they run on the checker threads, over
//! the host's network stack, never on a worker.
//!
//! Each returns `Ok` or the reason of the failure in a few words, which the daemon puts in its log
//! line ("connection refused", "status 503, expected 200", "timed out after 2s"). The HTTP probe
//! is a minimal HTTP/1.1 client (RFC 9112): one GET with `Connection: close`, and only the status
//! line is read, so a large or slow body does not hold a checker thread.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::jobs::Probe;

/// How often a running exec check is polled for its exit.
const EXEC_POLL: Duration = Duration::from_millis(10);
/// The longest status line read (RFC 9112 §4 puts no limit; real ones are ~20 bytes).
const MAX_STATUS_LINE: usize = 1024;

/// Runs one probe of `target`.
pub fn run(probe: &Probe, target: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    match probe {
        Probe::Tcp => connect(target, timeout).map(drop),
        Probe::Http { path, expect } => http(target, path, *expect, deadline, timeout),
        Probe::Exec { command } => exec(command, target, deadline, timeout),
    }
}

fn connect(target: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    TcpStream::connect_timeout(&target, timeout).map_err(|e| io_reason("connect", &e, timeout))
}

fn io_reason(what: &str, e: &io::Error, timeout: Duration) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("{what} timed out after {}", crate::config::duration::format(timeout))
        }
        io::ErrorKind::ConnectionRefused => format!("{what}: connection refused"),
        _ => format!("{what}: {e}"),
    }
}

/// Time left before `deadline`, or a timeout error.
fn left(deadline: Instant, what: &str, timeout: Duration) -> Result<Duration, String> {
    let now = Instant::now();
    if now >= deadline {
        return Err(io_reason(what, &io::ErrorKind::TimedOut.into(), timeout));
    }
    Ok(deadline - now)
}

fn http(
    target: SocketAddr,
    path: &str,
    expect: u16,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), String> {
    let mut stream = connect(target, timeout)?;
    stream.set_write_timeout(Some(left(deadline, "request", timeout)?)).map_err(|e| e.to_string())?;
    // RFC 9112 §3.2: Host is required; the server's address is the authority we reached.
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: vsd-health\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| io_reason("request", &e, timeout))?;
    let mut line = Vec::new();
    let mut chunk = [0u8; 256];
    while !line.contains(&b'\n') {
        if line.len() > MAX_STATUS_LINE {
            return Err("response: status line too long".into());
        }
        stream.set_read_timeout(Some(left(deadline, "response", timeout)?)).map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err("response: connection closed before a status line".into()),
            Ok(n) => line.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_reason("response", &e, timeout)),
        }
    }
    let status = parse_status(&line).ok_or_else(|| "response: not an HTTP/1.x status line".to_string())?;
    if status == expect {
        Ok(())
    } else {
        Err(format!("status {status}, expected {expect}"))
    }
}

/// The status code of `HTTP/1.x NNN reason` (RFC 9112 §4).
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.trim_end_matches('\r').splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

fn exec(command: &str, target: SocketAddr, deadline: Instant, timeout: Duration) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env("VSD_RS_ADDR", target.ip().to_string())
        // `198.19.0.11:8080` or `[2001:db8::11]:8080`: ready for a URL (`curl http://$VSD_RS/`).
        .env("VSD_RS", target.to_string())
        .env("VSD_RS_PORT", target.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(match status.code() {
                    Some(code) => format!("command exited with status {code}"),
                    None => format!("command ended by {status}"),
                })
            }
            Ok(None) if Instant::now() >= deadline => {
                // Reaped here so that no zombie is left; a grandchild the shell started lives on.
                let _ = child.kill();
                let _ = child.wait();
                let after = crate::config::duration::format(timeout);
                return Err(format!("command timed out after {after} and was killed"));
            }
            Ok(None) => std::thread::sleep(EXEC_POLL),
            Err(e) => return Err(format!("command: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::thread;

    const T: Duration = Duration::from_secs(2);

    /// An HTTP server on 127.0.0.1 that answers one request with `status`, and reports the request line.
    fn serve_once(status: &'static str) -> (SocketAddr, thread::JoinHandle<String>) {
        let (addr, handle) = serve_once_on(TcpListener::bind("127.0.0.1:0").unwrap(), status);
        (addr, thread::spawn(move || handle.join().unwrap().0))
    }

    /// An HTTP server on `listener` that answers one request with `status`, and reports the request
    /// line and the Host header's value.
    fn serve_once_on(
        listener: TcpListener,
        status: &'static str,
    ) -> (SocketAddr, thread::JoinHandle<(String, String)>) {
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = io::BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut header = String::new();
            let mut host = String::new();
            while reader.read_line(&mut header).unwrap() > 0 && header != "\r\n" {
                if let Some(v) = header.strip_prefix("Host: ") {
                    host = v.trim_end().to_string();
                }
                header.clear();
            }
            (&stream)
                .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                .unwrap();
            (request_line, host)
        });
        (addr, handle)
    }

    /// A listener on the IPv6 loopback, or None (with a note) on a host without IPv6.
    fn listen6() -> Option<TcpListener> {
        match TcpListener::bind("[::1]:0") {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("skipped: no IPv6 loopback here ({e})");
                None
            }
        }
    }

    /// Probes of an IPv6 server: TCP connects to `[::1]:port`, HTTP names it `Host: [::1]:port`
    /// (RFC 9110 §7.2 and RFC 3986 §3.2.2: an IPv6 literal in brackets), and a refused port fails.
    #[test]
    fn tcp_and_http_probes_reach_an_ipv6_server() {
        let Some(listener) = listen6() else { return };
        let addr = listener.local_addr().unwrap();
        assert!(addr.is_ipv6());
        assert_eq!(run(&Probe::Tcp, addr, T), Ok(()));
        drop(listener);
        assert_eq!(run(&Probe::Tcp, addr, T), Err("connect: connection refused".into()));

        let Some(listener) = listen6() else { return };
        let (addr, server) = serve_once_on(listener, "200 OK");
        assert_eq!(run(&Probe::Http { path: "/healthz".into(), expect: 200 }, addr, T), Ok(()));
        let (request_line, host) = server.join().unwrap();
        assert_eq!(request_line, "GET /healthz HTTP/1.1\r\n");
        assert_eq!(host, format!("[::1]:{}", addr.port()));

        let Some(listener) = listen6() else { return };
        let (addr, server) = serve_once_on(listener, "503 Service Unavailable");
        let probe = Probe::Http { path: "/".into(), expect: 200 };
        assert_eq!(run(&probe, addr, T), Err("status 503, expected 200".into()));
        server.join().unwrap();
    }

    /// A port on 127.0.0.1 with nobody listening.
    fn closed_port() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    #[test]
    fn tcp_probe_succeeds_on_a_listener_and_fails_when_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(run(&Probe::Tcp, listener.local_addr().unwrap(), T), Ok(()));
        let err = run(&Probe::Tcp, closed_port(), T).unwrap_err();
        assert_eq!(err, "connect: connection refused");
    }

    #[test]
    fn http_probe_sends_a_get_and_compares_the_status() {
        let (addr, server) = serve_once("200 OK");
        let probe = Probe::Http { path: "/healthz".into(), expect: 200 };
        assert_eq!(run(&probe, addr, T), Ok(()));
        assert_eq!(server.join().unwrap(), "GET /healthz HTTP/1.1\r\n");

        let (addr, server) = serve_once("503 Service Unavailable");
        assert_eq!(run(&probe, addr, T), Err("status 503, expected 200".into()));
        server.join().unwrap();

        let (addr, server) = serve_once("204 No Content");
        assert_eq!(run(&Probe::Http { path: "/".into(), expect: 204 }, addr, T), Ok(()));
        server.join().unwrap();
    }

    #[test]
    fn http_probe_times_out_on_a_silent_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepted by the kernel's backlog, never answered.
        let started = Instant::now();
        let err = run(&Probe::Http { path: "/".into(), expect: 200 }, addr, Duration::from_millis(300))
            .unwrap_err();
        assert_eq!(err, "response timed out after 300ms");
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
        drop(listener);
    }

    #[test]
    fn http_probe_refuses_garbage_and_early_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            (&s).write_all(b"SSH-2.0-OpenSSH\r\n").unwrap();
            let (s, _) = listener.accept().unwrap();
            drop(s);
        });
        let probe = Probe::Http { path: "/".into(), expect: 200 };
        assert_eq!(run(&probe, addr, T), Err("response: not an HTTP/1.x status line".into()));
        let err = run(&probe, addr, T).unwrap_err();
        assert!(err.starts_with("response:"), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 404\r\n"), Some(404));
        assert_eq!(parse_status(b"HTTP/2 200\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 20 OK\r\n"), None);
        assert_eq!(parse_status(b"\xff\r\n"), None);
    }

    #[test]
    fn exec_probe_sees_the_server_and_reports_exit_and_timeout() {
        let target: SocketAddr = "198.19.0.11:8080".parse().unwrap();
        let check = |command: &str, timeout| run(&Probe::Exec { command: command.into() }, target, timeout);
        assert_eq!(check("test \"$VSD_RS_ADDR:$VSD_RS_PORT\" = 198.19.0.11:8080", T), Ok(()));
        assert_eq!(check("test \"$VSD_RS\" = 198.19.0.11:8080", T), Ok(()));
        assert_eq!(check("exit 3", T), Err("command exited with status 3".into()));
        // An IPv6 server: the bare address for tools that take one (`nc $VSD_RS_ADDR $VSD_RS_PORT`),
        // and VSD_RS bracketed for a URL.
        let target6: SocketAddr = "[2001:db8:2::11]:8080".parse().unwrap();
        let check6 = |command: &str| run(&Probe::Exec { command: command.into() }, target6, T);
        assert_eq!(check6("test \"$VSD_RS_ADDR $VSD_RS_PORT\" = '2001:db8:2::11 8080'"), Ok(()));
        assert_eq!(check6("test \"$VSD_RS\" = '[2001:db8:2::11]:8080'"), Ok(()));
        let started = Instant::now();
        assert_eq!(
            check("exec sleep 5", Duration::from_millis(200)),
            Err("command timed out after 200ms and was killed".into())
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
