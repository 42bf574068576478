//! Golden tests of the FTP helper through the whole worker, on byte frames and a virtual clock: a
//! NAT FTP service without persistence, so that only the helper can tie the data connections to the
//! control connection's server. The same rig carries an IPv6 FTP service beside the IPv4 one
//! (RFC 2428: EPRT |2| and 229 over NAT66).

use crate::addr::{Addr, Proto};
use crate::buf::VecBuf;
use crate::conn::{Conn, ConnState, Fwd, Timeouts};
use crate::craft::{self, tcp_flags::*};
use crate::route::{Interface, RouteTable};
use crate::sched::SchedKind;
use crate::service::{Dest, Service, Snapshot};
use crate::time::Instant;
use crate::wire::{parse_frame, Ipv4Packet, Ipv6Packet, TcpPacket};
use crate::worker::{Action, Rx, Worker};
use core::time::Duration;
use proptest::prelude::*;
use std::sync::Arc;

/// A payload's length as a sequence-number step.
fn len32(b: impl AsRef<[u8]>) -> u32 {
    u32::try_from(b.as_ref().len()).unwrap()
}

const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x01];
const INT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x02];
const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 0x10];
const RS_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 0x11];
const EXT: u16 = 0;
const INT: u16 = 1;
const CLIENT: [u8; 4] = [198, 18, 0, 10];
const VIP: [u8; 4] = [198, 18, 0, 100];
const RS1: [u8; 4] = [198, 19, 0, 11];
const RS2: [u8; 4] = [198, 19, 0, 12];
const CPORT: u16 = 40000;
/// Initial sequence numbers after the handshake: the client's next byte and the server's.
const C_SEQ: u32 = 101;
const S_SEQ: u32 = 5001;
const PASV_227: &[u8] = b"227 Entering Passive Mode (198,19,0,11,117,48).\r\n";

/// 2001:db8:`net`::`host`.
const fn ip6(net: u8, host: u16) -> [u8; 16] {
    let h = host.to_be_bytes();
    [0x20, 0x01, 0x0d, 0xb8, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, h[0], h[1]]
}

const CLIENT6: [u8; 16] = ip6(1, 0x10);
const VIP6: [u8; 16] = ip6(1, 0x100);
const RS1_6: [u8; 16] = ip6(2, 0x11);
const RS2_6: [u8; 16] = ip6(2, 0x12);
/// Another host on the client's side: a forged EPRT names it.
const OTHER6: [u8; 16] = ip6(1, 0x99);

fn a4(o: [u8; 4]) -> Addr {
    Addr::from_v4(o)
}

fn a6(o: [u8; 16]) -> Addr {
    Addr::from_v6(o)
}

/// ext 198.18.0.2/24 + 2001:db8:1::2/64 with the client, int 198.19.0.1/24 + 2001:db8:2::1/64
/// with two FTP servers; service "ftp" on VIP:21 and "ftp6" on [VIP6]:21, rr, NAT, no persistence.
fn snapshot() -> Arc<Snapshot> {
    let mut ifaces = vec![
        Interface {
            name: "ext".into(),
            mac: EXT_MAC,
            addrs: vec![(a4([198, 18, 0, 2]), 24)],
            mtu: 1500,
            static_neighbours: vec![(a4(CLIENT), CLIENT_MAC), (a4([198, 18, 0, 99]), CLIENT_MAC)],
        },
        Interface {
            name: "int".into(),
            mac: INT_MAC,
            addrs: vec![(a4([198, 19, 0, 1]), 24)],
            mtu: 1500,
            static_neighbours: vec![(a4(RS1), RS_MAC), (a4(RS2), RS_MAC)],
        },
    ];
    ifaces[0].static_neighbours.push((a4([198, 18, 0, 11]), CLIENT_MAC));
    ifaces[0].addrs.push((a6(ip6(1, 2)), 64));
    ifaces[0].static_neighbours.extend([(a6(CLIENT6), CLIENT_MAC), (a6(OTHER6), CLIENT_MAC)]);
    ifaces[1].addrs.push((a6(ip6(2, 1)), 64));
    ifaces[1].static_neighbours.extend([(a6(RS1_6), RS_MAC), (a6(RS2_6), RS_MAC)]);
    let routes = RouteTable::build(&ifaces, &[]).unwrap();
    let dests = vec![
        Dest { service: 0, addr: a4(RS1), port: 21, weight: 1, present: true, sorry: false },
        Dest { service: 0, addr: a4(RS2), port: 21, weight: 1, present: true, sorry: false },
        Dest { service: 1, addr: a6(RS1_6), port: 21, weight: 1, present: true, sorry: false },
        Dest { service: 1, addr: a6(RS2_6), port: 21, weight: 1, present: true, sorry: false },
    ];
    let ftp = |name: &str, vip, dests| Service {
        name: name.into(),
        proto: Proto::Tcp,
        vips: vec![vip],
        ports: vec![21],
        sched: SchedKind::Rr,
        fwd: Fwd::Nat,
        persistence: None,
        one_packet: false,
        dests,
        retired: false,
    };
    let services = vec![ftp("ftp", a4(VIP), vec![0, 1]), ftp("ftp6", a6(VIP6), vec![2, 3])];
    Arc::new(Snapshot::new(1, ifaces, routes, services, dests, Timeouts::LVS, 1024))
}

/// A TCP segment in an Ethernet frame, with options, correct checksums.
#[allow(clippy::too_many_arguments)]
fn frame(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    flags: u8,
    seq: u32,
    ack: u32,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t.extend_from_slice(opts);
    t.extend_from_slice(payload);
    let mut tcp = TcpPacket::new_unchecked(&mut t[..]);
    tcp.set_src_port(src.1);
    tcp.set_dst_port(dst.1);
    tcp.set_seq_number(seq);
    tcp.set_ack_number(ack);
    tcp.set_header_len(20 + opts.len());
    tcp.set_flags(crate::wire::TcpFlags(flags));
    tcp.set_window_len(64240);
    tcp.fill_checksum(&a4(src.0), &a4(dst.0));
    craft::ethernet(macs.0, macs.1, 0x0800, &craft::ipv4(src.0, dst.0, 6, 64, &t))
}

/// A TCP segment over IPv6 in an Ethernet frame ([`craft::tcp_v6`], with its sequence and
/// acknowledgment numbers set), correct checksum.
#[allow(clippy::too_many_arguments)]
fn frame6(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 16], u16),
    dst: ([u8; 16], u16),
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut ip = craft::tcp_v6(src.0, dst.0, src.1, dst.1, flags, payload);
    let mut tcp = TcpPacket::new_unchecked(&mut ip[40..]);
    tcp.set_seq_number(seq);
    tcp.set_ack_number(ack);
    tcp.fill_checksum(&a6(src.0), &a6(dst.0));
    craft::ethernet(macs.0, macs.1, 0x86dd, &ip)
}

/// What the worker sent, read back through the wire views after checking every length and
/// checksum in it.
#[derive(Debug, PartialEq, Eq)]
struct Out {
    iface: u16,
    src: (Addr, u16),
    dst: (Addr, u16),
    seq: u32,
    ack: u32,
    opts: Vec<u8>,
    payload: Vec<u8>,
}

fn read(iface: u16, f: &[u8]) -> Out {
    let p = parse_frame(f).expect("output parses");
    if p.is_ipv6() {
        let ip = Ipv6Packet::new_checked(&f[p.l3_off..]).unwrap();
        assert_eq!(ip.hop_limit(), 63, "one hop less");
        let len = p.l3_off + 40 + usize::from(ip.payload_len());
        assert_eq!(len, f.len(), "frame length follows the IPv6 payload length");
    } else {
        let ip = Ipv4Packet::new_checked(&f[p.l3_off..]).unwrap();
        assert!(ip.verify_checksum(), "IPv4 header checksum");
        assert_eq!(p.l3_off + usize::from(ip.total_len()), f.len(), "frame length follows the IP length");
    }
    let t = TcpPacket::new_checked(&f[p.l4_off..]).unwrap();
    assert!(t.verify_checksum(&p.src, &p.dst), "TCP checksum");
    Out {
        iface,
        src: (p.src, t.src_port()),
        dst: (p.dst, t.dst_port()),
        seq: t.seq_number(),
        ack: t.ack_number(),
        opts: t.options().to_vec(),
        payload: t.payload().to_vec(),
    }
}

struct Rig {
    w: Worker<VecBuf>,
    now: Instant,
}

impl Rig {
    fn new() -> Rig {
        Rig { w: Worker::new(0, snapshot()), now: Instant::from_millis(1_000) }
    }

    fn rx(&mut self, iface: u16, f: Vec<u8>) -> Option<Out> {
        let pre = self.w.prepare(&f);
        let act = self.w.process(self.now, Rx::wire(iface), VecBuf::from_frame(&f), &pre);
        self.w.end_burst();
        match act {
            Action::Tx(out, b) => Some(read(out, b.as_ref())),
            Action::Free(_) => None,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A segment from the client to the VIP.
    #[allow(clippy::too_many_arguments)]
    fn client(
        &mut self,
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
        opts: &[u8],
        data: &[u8],
    ) -> Option<Out> {
        self.client_from(CLIENT, sport, dport, flags, seq, ack, opts, data)
    }

    #[allow(clippy::too_many_arguments)]
    fn client_from(
        &mut self,
        src: [u8; 4],
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
        opts: &[u8],
        data: &[u8],
    ) -> Option<Out> {
        let f = frame((EXT_MAC, CLIENT_MAC), (src, sport), (VIP, dport), flags, seq, ack, opts, data);
        self.rx(EXT, f)
    }

    /// A segment from real server `rs` to the client.
    #[allow(clippy::too_many_arguments)]
    fn server(
        &mut self,
        rs: [u8; 4],
        sport: u16,
        to: ([u8; 4], u16),
        flags: u8,
        seq: u32,
        ack: u32,
        data: &[u8],
    ) -> Option<Out> {
        let f = frame((INT_MAC, RS_MAC), (rs, sport), to, flags, seq, ack, &[], data);
        self.rx(INT, f)
    }

    /// A segment over IPv6 from `src` to the IPv6 VIP.
    #[allow(clippy::too_many_arguments)]
    fn client6_from(
        &mut self,
        src: [u8; 16],
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
        data: &[u8],
    ) -> Option<Out> {
        let f = frame6((EXT_MAC, CLIENT_MAC), (src, sport), (VIP6, dport), flags, seq, ack, data);
        self.rx(EXT, f)
    }

    /// A segment over IPv6 from CLIENT6 to the IPv6 VIP.
    fn client6(&mut self, sport: u16, dport: u16, flags: u8, seq: u32, ack: u32, data: &[u8]) -> Option<Out> {
        self.client6_from(CLIENT6, sport, dport, flags, seq, ack, data)
    }

    /// A segment over IPv6 from real server `rs` to the client.
    #[allow(clippy::too_many_arguments)]
    fn server6(
        &mut self,
        rs: [u8; 16],
        sport: u16,
        to: ([u8; 16], u16),
        flags: u8,
        seq: u32,
        ack: u32,
        data: &[u8],
    ) -> Option<Out> {
        let f = frame6((INT_MAC, RS_MAC), (rs, sport), to, flags, seq, ack, data);
        self.rx(INT, f)
    }

    /// Open an IPv6 control connection from CLIENT6:sport through the handshake; returns the
    /// server.
    fn control6(&mut self, sport: u16) -> [u8; 16] {
        let syn = self.client6(sport, 21, SYN, C_SEQ - 1, 0, b"").expect("SYN forwarded");
        assert_eq!((syn.iface, syn.dst.1), (INT, 21));
        let rs = syn.dst.0 .0;
        let synack = self.server6(rs, 21, (CLIENT6, sport), SYN_ACK, S_SEQ - 1, C_SEQ, b"").unwrap();
        assert_eq!(synack.src, (a6(VIP6), 21));
        self.client6(sport, 21, ACK, C_SEQ, S_SEQ, b"").unwrap();
        let ctl = self.entry(|c| c.cport == sport && c.vport == 21 && !c.client.is_v4());
        assert_eq!(ctl.state, ConnState::Established);
        rs
    }

    /// Open the control connection from CLIENT:sport through the handshake; returns the server.
    fn control(&mut self, sport: u16) -> [u8; 4] {
        let syn = self.client(sport, 21, SYN, C_SEQ - 1, 0, &[], b"").expect("SYN forwarded");
        assert_eq!(syn.dst.1, 21);
        let rs = syn.dst.0.v4_octets();
        let synack = self.server(rs, 21, (CLIENT, sport), SYN_ACK, S_SEQ - 1, C_SEQ, b"").unwrap();
        assert_eq!(synack.src, (a4(VIP), 21));
        self.client(sport, 21, ACK, C_SEQ, S_SEQ, &[], b"").unwrap();
        assert_eq!(self.entry(|c| c.cport == sport && c.vport == 21).state, ConnState::Established);
        rs
    }

    fn entries(&self) -> Vec<Conn> {
        self.w.conns().iter().map(|(_, c)| c).collect()
    }

    fn entry(&self, f: impl Fn(&Conn) -> bool) -> Conn {
        let found: Vec<_> = self.entries().into_iter().filter(|c| f(c)).collect();
        assert_eq!(found.len(), 1, "one matching entry in {:?}", self.entries());
        found[0]
    }

    fn control_id(&self, sport: u16) -> crate::conn::ConnId {
        let c = self.entry(|c| c.cport == sport && c.vport == 21);
        self.w.conns().lookup(&c.in_key()).unwrap().0
    }

    fn control6_id(&self, sport: u16) -> crate::conn::ConnId {
        let c = self.entry(|c| c.cport == sport && c.vport == 21 && !c.client.is_v4());
        self.w.conns().lookup(&c.in_key()).unwrap().0
    }

    /// Advance the virtual clock, looking at the timers every 250 ms as the driver does.
    fn tick(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + Duration::from_millis(250)).min(end);
            if self.w.poll_timeout().is_some_and(|t| t <= self.now) {
                self.w.handle_timeout(self.now);
            }
        }
    }
}

#[test]
fn port_creates_the_entry_of_the_servers_active_data_connection() {
    let mut r = Rig::new();
    let rs = r.control(CPORT);
    let port = b"PORT 198,18,0,10,156,65\r\n";
    let out = r.client(CPORT, 21, PSH | ACK, C_SEQ, S_SEQ, &[], port).unwrap();
    assert_eq!((out.iface, out.dst, out.payload.as_slice()), (INT, (a4(rs), 21), &port[..]), "untouched");
    let data = r.entry(|c| c.vport == 20);
    assert_eq!(
        (data.client, data.cport, data.vip, data.rs, data.rport),
        (a4(CLIENT), 40001, a4(VIP), a4(rs), 20)
    );
    assert_eq!((data.state, data.controller), (ConnState::Listen, Some(r.control_id(CPORT))));
    assert_eq!(r.entry(|c| c.vport == 21).controlled, 1);

    // The server's SYN from port 20 leaves from VIP:20; the client's answer reaches rs:20.
    let syn = r.server(rs, 20, (CLIENT, 40001), SYN, 9000, 0, b"").expect("translated");
    assert_eq!((syn.iface, syn.src, syn.dst), (EXT, (a4(VIP), 20), (a4(CLIENT), 40001)));
    let synack = r.client(40001, 20, SYN_ACK, 7000, 9001, &[], b"").expect("forwarded");
    assert_eq!((synack.iface, synack.dst), (INT, (a4(rs), 20)));

    // EPRT does the same; an address other than the client's creates nothing.
    r.client(CPORT, 21, PSH | ACK, C_SEQ + 25, S_SEQ, &[], b"EPRT |1|198.18.0.10|40002|\r\n").unwrap();
    assert_eq!(r.entry(|c| c.cport == 40002).rport, 20);
    r.client(CPORT, 21, PSH | ACK, C_SEQ + 53, S_SEQ, &[], b"PORT 198,18,0,99,156,67\r\n").unwrap();
    assert_eq!(r.entries().len(), 3);
    assert!(r.server(rs, 20, ([198, 18, 0, 99], 40003), SYN, 9000, 0, b"").is_none(), "no entry, dropped");
}

#[test]
fn pasv_reply_is_rewritten_and_the_stream_shifted_both_ways() {
    let mut r = Rig::new();
    let rs = r.control(CPORT);
    assert_eq!(rs, RS1);
    let to = (CLIENT, CPORT);
    let out = r.server(rs, 21, to, PSH | ACK, S_SEQ, C_SEQ, PASV_227).unwrap();
    assert_eq!(out.payload, b"227 Entering Passive Mode (198,18,0,100,117,48).\r\n");
    assert_eq!((out.src, out.seq, out.ack), ((a4(VIP), 21), S_SEQ, C_SEQ), "the reply itself keeps its seq");
    let len = len32(PASV_227);

    // Later server segments move up by one byte; the client's acks of them move back down.
    let next = r.server(rs, 21, to, PSH | ACK, S_SEQ + len, C_SEQ, b"150 Here comes the data\r\n").unwrap();
    assert_eq!(next.seq, S_SEQ + len + 1);
    let ack = r.client(CPORT, 21, ACK, C_SEQ, S_SEQ + len + 1 + 25, &[], b"").unwrap();
    assert_eq!(ack.ack, S_SEQ + len + 25);
    let ack = r.client(CPORT, 21, ACK, C_SEQ, S_SEQ + len + 1, &[], b"").unwrap();
    assert_eq!(ack.ack, S_SEQ + len, "acking exactly the grown reply");
    // SACK edges (behind two NOPs, and at an odd offset behind one) move with the acks.
    let (l, rr) = (S_SEQ + len + 1 + 100, S_SEQ + len + 1 + 200);
    for lead in [&[1u8, 1][..], &[1u8][..]] {
        let mut opts = lead.to_vec();
        opts.extend_from_slice(&[5, 10]);
        opts.extend_from_slice(&l.to_be_bytes());
        opts.extend_from_slice(&rr.to_be_bytes());
        opts.resize(12, 0);
        let out = r.client(CPORT, 21, ACK, C_SEQ, S_SEQ + len + 1, &opts, b"").unwrap();
        let at = lead.len() + 2;
        assert_eq!(out.opts[at..at + 4], (l - 1).to_be_bytes());
        assert_eq!(out.opts[at + 4..at + 8], (rr - 1).to_be_bytes());
    }

    // A retransmission of the reply is rewritten the same way and shifts nothing more; a
    // retransmission of what came before it is not shifted at all.
    let again = r.server(rs, 21, to, PSH | ACK, S_SEQ, C_SEQ, PASV_227).unwrap();
    assert_eq!((again.seq, again.payload), (out.seq, out.payload));
    let next = r.server(rs, 21, to, PSH | ACK, S_SEQ + len, C_SEQ, b"150 Here comes the data\r\n").unwrap();
    assert_eq!(next.seq, S_SEQ + len + 1);
    let before = r.server(rs, 21, to, PSH | ACK, S_SEQ - 20, C_SEQ, b"220 (vsFTPd 3.0.3)\r\n").unwrap();
    assert_eq!(before.seq, S_SEQ - 20);

    // The client's data connection goes to the control connection's server and port 30000,
    // although round robin would have picked the other server next.
    let syn = r.client(41000, 30000, SYN, 1, 0, &[], b"").expect("expected data connection");
    assert_eq!((syn.iface, syn.dst), (INT, (a4(rs), 30000)));
    let data = r.entry(|c| c.vport == 30000);
    assert_eq!((data.rport, data.controller), (30000, Some(r.control_id(CPORT))));
    let reply = r.server(rs, 30000, (CLIENT, 41000), SYN_ACK, 1, 2, b"").unwrap();
    assert_eq!(reply.src, (a4(VIP), 30000));
    // The expectation was for one connection.
    assert!(r.client(41001, 30000, SYN, 1, 0, &[], b"").is_none());
    // Another client's control connection does go to the other server.
    assert_eq!(r.client_from([198, 18, 0, 11], 40000, 21, SYN, 1, 0, &[], b"").unwrap().dst.0, a4(RS2));
}

#[test]
fn epsv_and_vip_replies_only_create_expectations() {
    let mut r = Rig::new();
    let rs = r.control(CPORT);
    let epsv = b"229 Entering Extended Passive Mode (|||30001|)\r\n";
    let out = r.server(rs, 21, (CLIENT, CPORT), PSH | ACK, S_SEQ, C_SEQ, epsv).unwrap();
    assert_eq!((out.seq, out.payload.as_slice()), (S_SEQ, &epsv[..]));
    assert_eq!(r.client(41000, 30001, SYN, 1, 0, &[], b"").unwrap().dst, (a4(rs), 30001));
    // A 227 that already names the VIP needs no rewrite, and nothing shifts after it.
    let seq = S_SEQ + len32(epsv);
    let vip227 = b"227 Entering Passive Mode (198,18,0,100,117,50)\r\n";
    let out = r.server(rs, 21, (CLIENT, CPORT), PSH | ACK, seq, C_SEQ, vip227).unwrap();
    assert_eq!(out.payload, vip227);
    let after = r.server(rs, 21, (CLIENT, CPORT), ACK, seq + len32(vip227), C_SEQ, b"x\r\n").unwrap();
    assert_eq!(after.seq, seq + len32(vip227));
    assert_eq!(r.client(41001, 30002, SYN, 1, 0, &[], b"").unwrap().dst, (a4(rs), 30002));
    // A 227 naming a third address, or a privileged port, is left alone and expects nothing.
    let seq = seq + len32(vip227) + 3;
    for reply in
        [&b"227 Entering Passive Mode (198,19,0,99,117,51)\r\n"[..], b"227 Ok (198,19,0,11,0,80)\r\n"]
    {
        let out = r.server(rs, 21, (CLIENT, CPORT), PSH | ACK, seq, C_SEQ, reply).unwrap();
        assert_eq!(out.payload, reply);
    }
    assert!(r.client(41002, 30003, SYN, 1, 0, &[], b"").is_none());
    assert_eq!(r.client(41003, 80, SYN, 1, 0, &[], b""), None, "port 80 has no service and no expectation");
}

#[test]
fn a_reply_split_across_segments_or_garbage_is_forwarded_untouched() {
    let mut r = Rig::new();
    let rs = r.control(CPORT);
    let to = (CLIENT, CPORT);
    let (a, b) = PASV_227.split_at(43);
    let first = r.server(rs, 21, to, PSH | ACK, S_SEQ, C_SEQ, a).unwrap();
    let second = r.server(rs, 21, to, PSH | ACK, S_SEQ + len32(a), C_SEQ, b).unwrap();
    assert_eq!((first.payload.as_slice(), second.payload.as_slice()), (a, b));
    assert_eq!(second.seq, S_SEQ + len32(a));
    assert!(r.client(41000, 30000, SYN, 1, 0, &[], b"").is_none(), "no expectation");

    let long = [b'9'; 1400];
    let mut seq = S_SEQ + len32(PASV_227);
    for junk in [
        &b"227 Entering Passive Mode (198,19,0,11,117,48,1,2,3).\r\n"[..],
        b"227 Entering Passive Mode (198,19,0,1100,117,48).\r\n",
        b"\x00\xff\r\n\n\n227\r\n",
        &long,
        b"227 Entering Passive Mode (198,19,0,11,117,48).",
    ] {
        let out = r.server(rs, 21, to, PSH | ACK, seq, C_SEQ, junk).unwrap();
        assert_eq!((out.seq, out.payload.as_slice()), (seq, junk));
        seq += len32(junk);
    }
    let n = r.entries().len();
    let mut cseq = C_SEQ;
    for junk in [&b"PORT 198,18,0,10,156\r\n"[..], b"PORT 198,18,0,10,156,65", b"EPRT |2|::1|5|\r\n", &long] {
        let out = r.client(CPORT, 21, PSH | ACK, cseq, S_SEQ, &[], junk).unwrap();
        assert_eq!(out.payload, junk);
        cseq += len32(junk);
    }
    assert_eq!(r.entries().len(), n, "no entry was created");
}

#[test]
fn control_connection_outlives_its_data_connections() {
    let mut r = Rig::new();
    let rs = r.control(CPORT);
    r.client(CPORT, 21, PSH | ACK, C_SEQ, S_SEQ, &[], b"PORT 198,18,0,10,156,65\r\n").unwrap();
    r.server(rs, 20, (CLIENT, 40001), SYN, 9000, 0, b"").unwrap();
    r.client(40001, 20, SYN_ACK, 7000, 9001, &[], b"").unwrap();
    r.server(rs, 20, (CLIENT, 40001), ACK, 9001, 7001, b"").unwrap();
    assert_eq!(r.entry(|c| c.vport == 20).state, ConnState::Established);
    // The control connection is reset (CLOSE, 10 s) while the data connection runs on.
    r.client(CPORT, 21, RST, C_SEQ + 25, 0, &[], b"").unwrap();
    // Its timer fires at 10 s and 70 s and is re-armed for 60 s each time (next: 130 s).
    r.tick(Duration::from_secs(100));
    assert_eq!(r.entry(|c| c.vport == 21).controlled, 1, "still there, re-armed");
    // Once the data connection is gone, the control connection goes too.
    r.client(40001, 20, RST, 7001, 0, &[], b"").unwrap();
    r.tick(Duration::from_secs(11));
    assert_eq!(r.entries().len(), 1);
    r.tick(Duration::from_secs(61));
    assert!(r.entries().is_empty());
}

#[test]
fn a_new_control_connection_inherits_no_shift() {
    let mut r = Rig::new();
    let rs = r.control(CPORT);
    r.server(rs, 21, (CLIENT, CPORT), PSH | ACK, S_SEQ, C_SEQ, PASV_227).unwrap();
    r.client(CPORT, 21, RST, C_SEQ, 0, &[], b"").unwrap();
    r.tick(Duration::from_secs(11));
    assert!(r.entries().is_empty());
    // The same client port again; the entry takes the freed slot. Nothing is shifted.
    let rs = r.control(CPORT);
    let out = r.server(rs, 21, (CLIENT, CPORT), PSH | ACK, S_SEQ + 51, C_SEQ, b"226 ok\r\n").unwrap();
    assert_eq!(out.seq, S_SEQ + 51);
    assert!(r.client(41000, 30000, SYN, 1, 0, &[], b"").is_none(), "nor is the old expectation there");
}

#[test]
fn eprt6_creates_the_entry_of_the_servers_active_data_connection() {
    let mut r = Rig::new();
    let rs = r.control6(CPORT);
    assert_eq!(rs, RS1_6);
    let eprt = b"EPRT |2|2001:db8:1::10|40001|\r\n";
    let out = r.client6(CPORT, 21, PSH | ACK, C_SEQ, S_SEQ, eprt).unwrap();
    assert_eq!((out.iface, out.dst, out.payload.as_slice()), (INT, (a6(rs), 21), &eprt[..]), "untouched");
    assert_eq!((out.seq, out.ack), (C_SEQ, S_SEQ));
    let data = r.entry(|c| c.vport == 20);
    assert_eq!(
        (data.client, data.cport, data.vip, data.rs, data.rport),
        (a6(CLIENT6), 40001, a6(VIP6), a6(rs), 20)
    );
    assert_eq!((data.state, data.controller), (ConnState::Listen, Some(r.control6_id(CPORT))));
    assert_eq!(r.entry(|c| c.vport == 21).controlled, 1);

    // The server's SYN from port 20 leaves from [VIP6]:20; the client's answer reaches [rs]:20,
    // and the rest of the data connection follows.
    let syn = r.server6(rs, 20, (CLIENT6, 40001), SYN, 9000, 0, b"").expect("translated");
    assert_eq!((syn.iface, syn.src, syn.dst), (EXT, (a6(VIP6), 20), (a6(CLIENT6), 40001)));
    let synack = r.client6(40001, 20, SYN_ACK, 7000, 9001, b"").expect("forwarded");
    assert_eq!((synack.iface, synack.dst), (INT, (a6(rs), 20)));
    r.server6(rs, 20, (CLIENT6, 40001), ACK, 9001, 7001, b"").unwrap();
    let bytes = r.server6(rs, 20, (CLIENT6, 40001), PSH | ACK, 9001, 7001, b"file contents").unwrap();
    assert_eq!((bytes.src, bytes.payload.as_slice()), ((a6(VIP6), 20), &b"file contents"[..]));
    assert_eq!(r.entry(|c| c.vport == 20).state, ConnState::Established);

    // Another delimiter and the address written out in full do the same.
    let full = b"EPRT !2!2001:0db8:0001:0000:0000:0000:0000:0010!40002!\r\n";
    r.client6(CPORT, 21, PSH | ACK, C_SEQ + len32(eprt), S_SEQ, full).unwrap();
    assert_eq!(r.entry(|c| c.cport == 40002).rport, 20);
}

#[test]
fn eprt6_naming_another_address_creates_nothing() {
    let mut r = Rig::new();
    let rs = r.control6(CPORT);
    let mut seq = C_SEQ;
    for forged in [
        &b"EPRT |2|2001:db8:1::99|40001|\r\n"[..],
        b"EPRT |2|2001:db8:2::11|40001|\r\n",
        b"EPRT |2|2001:db8:1::100|40001|\r\n",
        // The IPv4 forms, and the client's IPv4 address written as v4-mapped IPv6.
        b"EPRT |2|::ffff:198.18.0.10|40001|\r\n",
        b"EPRT |1|198.18.0.10|40001|\r\n",
    ] {
        let out = r.client6(CPORT, 21, PSH | ACK, seq, S_SEQ, forged).unwrap();
        assert_eq!((out.dst, out.payload.as_slice()), ((a6(rs), 21), forged), "forwarded untouched");
        seq += len32(forged);
    }
    assert_eq!(r.entries().len(), 1, "no entry was created: {:?}", r.entries());
    // The server cannot open a connection to the forged address (nor to the client) from port 20.
    assert!(r.server6(rs, 20, (OTHER6, 40001), SYN, 9000, 0, b"").is_none());
    assert!(r.server6(rs, 20, (CLIENT6, 40001), SYN, 9000, 0, b"").is_none());
    // Nor does EPRT |2| over IPv4 create anything, even naming the client's v4-mapped address.
    r.control(CPORT + 1);
    r.client(CPORT + 1, 21, PSH | ACK, C_SEQ, S_SEQ, &[], b"EPRT |2|::ffff:198.18.0.10|40001|\r\n").unwrap();
    assert_eq!(r.entries().len(), 2);
}

#[test]
fn epsv6_reply_creates_the_expectation_of_the_passive_data_connection() {
    let mut r = Rig::new();
    let rs = r.control6(CPORT);
    let to = (CLIENT6, CPORT);
    let epsv = b"229 Entering Extended Passive Mode (|||30001|)\r\n";
    let out = r.server6(rs, 21, to, PSH | ACK, S_SEQ, C_SEQ, epsv).unwrap();
    assert_eq!((out.iface, out.src, out.dst), (EXT, (a6(VIP6), 21), (a6(CLIENT6), CPORT)));
    assert_eq!((out.seq, out.ack, out.payload.as_slice()), (S_SEQ, C_SEQ, &epsv[..]), "untouched");
    // Nothing shifts after it, either way.
    let next = r.server6(rs, 21, to, PSH | ACK, S_SEQ + len32(epsv), C_SEQ, b"150 ok\r\n").unwrap();
    assert_eq!(next.seq, S_SEQ + len32(epsv));
    let ack = r.client6(CPORT, 21, ACK, C_SEQ, S_SEQ + len32(epsv) + 8, b"").unwrap();
    assert_eq!(ack.ack, S_SEQ + len32(epsv) + 8);

    // The client's data connection goes to the control connection's server and port 30001,
    // although round robin would have picked the other server next.
    let syn = r.client6(41000, 30001, SYN, 1, 0, b"").expect("expected data connection");
    assert_eq!((syn.iface, syn.dst), (INT, (a6(rs), 30001)));
    let data = r.entry(|c| c.vport == 30001);
    assert_eq!((data.client, data.vip, data.rport), (a6(CLIENT6), a6(VIP6), 30001));
    assert_eq!(data.controller, Some(r.control6_id(CPORT)));
    let reply = r.server6(rs, 30001, (CLIENT6, 41000), SYN_ACK, 1, 2, b"").unwrap();
    assert_eq!((reply.iface, reply.src, reply.dst), (EXT, (a6(VIP6), 30001), (a6(CLIENT6), 41000)));
    // The expectation was for one connection, and for this client only.
    assert!(r.client6(41001, 30001, SYN, 1, 0, b"").is_none());
    let seq = S_SEQ + len32(epsv) + 8;
    r.server6(rs, 21, to, PSH | ACK, seq, C_SEQ, b"229 Entering Extended Passive Mode (|||30002|)\r\n")
        .unwrap();
    assert!(r.client6_from(OTHER6, 41002, 30002, SYN, 1, 0, b"").is_none(), "another client");
    // Another client's control connection does go to the other server.
    assert_eq!(r.client6_from(OTHER6, 40000, 21, SYN, 1, 0, b"").unwrap().dst.0, a6(RS2_6));
}

#[test]
fn port_and_pasv_over_ipv6_are_left_alone() {
    let mut r = Rig::new();
    let rs = r.control6(CPORT);
    let to = (CLIENT6, CPORT);
    let mut sseq = S_SEQ;
    // 227 carries an IPv4 address, which nothing over IPv6 reaches: not rewritten (the reply
    // keeps its length, nothing shifts), and nothing is expected.
    for reply in [
        PASV_227,
        b"227 Entering Passive Mode (198,18,0,100,117,50)\r\n",
        b"227 Entering Passive Mode (198,19,0,12,117,51)\r\n",
    ] {
        let out = r.server6(rs, 21, to, PSH | ACK, sseq, C_SEQ, reply).unwrap();
        assert_eq!((out.seq, out.payload.as_slice()), (sseq, reply));
        sseq += len32(reply);
    }
    let after = r.server6(rs, 21, to, PSH | ACK, sseq, C_SEQ, b"150 ok\r\n").unwrap();
    assert_eq!(after.seq, sseq, "no shift");
    let ack = r.client6(CPORT, 21, ACK, C_SEQ, sseq + 8, b"").unwrap();
    assert_eq!(ack.ack, sseq + 8, "no shift back");
    for port in [30000, 30002, 30003] {
        assert!(r.client6(41000, port, SYN, 1, 0, b"").is_none(), "no expectation for {port}");
    }
    // PORT names an IPv4 address: no entry, whichever it names.
    let mut cseq = C_SEQ;
    for cmd in [&b"PORT 198,18,0,10,156,65\r\n"[..], b"PORT 198,18,0,100,156,65\r\n"] {
        let out = r.client6(CPORT, 21, PSH | ACK, cseq, sseq, cmd).unwrap();
        assert_eq!((out.seq, out.payload.as_slice()), (cseq, cmd));
        cseq += len32(cmd);
    }
    assert_eq!(r.entries().len(), 1, "only the control connection: {:?}", r.entries());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the control connection carries, each segment is forwarded with valid lengths and
    /// checksums and, unless it holds a line the helper acts on, with its payload and sequence
    /// numbers unchanged.
    #[test]
    fn arbitrary_control_traffic_passes(
        segs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..1400)), 1..8),
    ) {
        let mut r = Rig::new();
        let rs = r.control(CPORT);
        let (mut cseq, mut sseq) = (C_SEQ, S_SEQ);
        for (from_client, data) in segs {
            let out = if from_client {
                r.client(CPORT, 21, PSH | ACK, cseq, sseq, &[], &data).unwrap()
            } else {
                r.server(rs, 21, (CLIENT, CPORT), PSH | ACK, sseq, cseq, &data).unwrap()
            };
            prop_assert_eq!(&out.payload, &data);
            prop_assert_eq!((out.seq, out.ack), if from_client { (cseq, sseq) } else { (sseq, cseq) });
            if from_client { cseq += len32(data) } else { sseq += len32(data) }
        }
        prop_assert_eq!(r.entries().len(), 1);
    }

    /// The same over IPv6.
    #[test]
    fn arbitrary_control_traffic_passes_over_ipv6(
        segs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..1400)), 1..8),
    ) {
        let mut r = Rig::new();
        let rs = r.control6(CPORT);
        let (mut cseq, mut sseq) = (C_SEQ, S_SEQ);
        for (from_client, data) in segs {
            let out = if from_client {
                r.client6(CPORT, 21, PSH | ACK, cseq, sseq, &data).unwrap()
            } else {
                r.server6(rs, 21, (CLIENT6, CPORT), PSH | ACK, sseq, cseq, &data).unwrap()
            };
            prop_assert_eq!(&out.payload, &data);
            prop_assert_eq!((out.seq, out.ack), if from_client { (cseq, sseq) } else { (sseq, cseq) });
            if from_client { cseq += len32(data) } else { sseq += len32(data) }
        }
        prop_assert_eq!(r.entries().len(), 1);
    }
}
