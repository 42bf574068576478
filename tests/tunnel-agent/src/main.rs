//! vsd-tunnel-agent: the decapsulating end of vsd's tunnels, for the e2e tests' real servers.
//!
//! The test kernel is built without IPIP, GRE and FOU, so a real server cannot decapsulate by
//! itself. This agent does it in user space: it reads IPIP and GRE from raw IPv4 sockets and GUE from
//! a UDP socket bound to the GUE port, strips the outer headers ([`vsd_tunnel_agent`]), and writes
//! the inner packet into a TUN device, where the server's kernel receives it as if it had arrived
//! on a link (the VIP is on its loopback, so it answers the client directly).
//!
//! Usage: `vsd-tunnel-agent --tun NAME --counters FILE [--gue-port PORT]`. The counters file is
//! rewritten (atomically) whenever a counter changed, at most every 100 ms. The agent runs until it
//! is signalled.

use std::fs::File;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use vsd_tunnel_agent::{from_gue, from_raw, Counters, Kind};

const POLL_MS: i32 = 100;

fn fail(what: &str) -> ! {
    eprintln!("vsd-tunnel-agent: {what}: {}", std::io::Error::last_os_error());
    std::process::exit(1)
}

/// A TUN device (IFF_TUN | IFF_NO_PI: bare IP packets), created if it does not exist.
fn open_tun(name: &str) -> File {
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .unwrap_or_else(|_| fail("open /dev/net/tun"));
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= ifr.ifr_name.len() {
        eprintln!("vsd-tunnel-agent: interface name {name:?} is too long");
        std::process::exit(2);
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(bytes) {
        *d = libc::c_char::from_ne_bytes([*s]);
    }
    ifr.ifr_ifru.ifru_flags =
        libc::c_short::try_from(libc::IFF_TUN | libc::IFF_NO_PI).expect("IFF_TUN | IFF_NO_PI is 0x1001");
    // SAFETY: TUNSETIFF reads and writes one ifreq, which lives for the call; the fd is open.
    if unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &mut ifr) } < 0 {
        fail("TUNSETIFF");
    }
    tun
}

/// A raw IPv4 socket for one IP protocol (reads give the whole IPv4 packet).
fn raw_socket(proto: libc::c_int) -> File {
    // SAFETY: socket() takes no pointers; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, proto) };
    if fd < 0 {
        fail("raw socket");
    }
    // SAFETY: fd is a freshly opened descriptor that nothing else owns.
    File::from(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn main() {
    let mut tun_name = None;
    let mut counters_path = None;
    let mut gue_port: u16 = 6080;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--tun", Some(v)) => tun_name = Some(v),
            ("--counters", Some(v)) => counters_path = Some(PathBuf::from(v)),
            ("--gue-port", Some(v)) => gue_port = v.parse().unwrap_or_else(|_| fail("--gue-port")),
            _ => {
                eprintln!("usage: vsd-tunnel-agent --tun NAME --counters FILE [--gue-port PORT]");
                std::process::exit(2);
            }
        }
    }
    let (Some(tun_name), Some(counters_path)) = (tun_name, counters_path) else {
        eprintln!("usage: vsd-tunnel-agent --tun NAME --counters FILE [--gue-port PORT]");
        std::process::exit(2);
    };
    let mut tun = open_tun(&tun_name);
    let mut ipip = raw_socket(libc::IPPROTO_IPIP);
    let mut gre = raw_socket(libc::IPPROTO_GRE);
    let gue = UdpSocket::bind(("0.0.0.0", gue_port)).unwrap_or_else(|_| fail("bind the GUE port"));

    let mut counters = Counters::default();
    let mut dirty = true;
    let mut buf = vec![0u8; 65536];
    let tmp = counters_path.with_extension("tmp");
    loop {
        if dirty {
            if std::fs::write(&tmp, counters.render()).is_ok() {
                let _ = std::fs::rename(&tmp, &counters_path);
            }
            dirty = false;
        }
        let mut fds = [ipip.as_raw_fd(), gre.as_raw_fd(), gue.as_raw_fd()].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: fds is a valid array of pollfd of the length given, alive for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_MS) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            fail("poll");
        }
        for (i, fd) in fds.iter().enumerate() {
            if fd.revents & libc::POLLIN == 0 {
                continue;
            }
            let (kind, len) = match i {
                0 => (Kind::Ipip, ipip.read(&mut buf)),
                1 => (Kind::Gre, gre.read(&mut buf)),
                _ => match gue.recv_from(&mut buf) {
                    Ok((len, peer)) => {
                        if counters.gue_sports.len() < 1024 {
                            counters.gue_sports.insert(peer.port());
                        }
                        (Kind::Gue, Ok(len))
                    }
                    Err(e) => (Kind::Gue, Err(e)),
                },
            };
            let Ok(len) = len else { continue };
            let got = match kind {
                Kind::Gue => from_gue(&buf[..len]),
                k => from_raw(k, &buf[..len]),
            };
            counters.count(kind, &got);
            if let Ok(inner) = got {
                // A TUN write takes one whole packet or fails; a short count would be an error too.
                match tun.write(inner.packet) {
                    Ok(n) if n == inner.packet.len() => counters.written += 1,
                    _ => counters.write_errors += 1,
                }
            }
            dirty = true;
        }
    }
}
