//! ICMP errors: the ones vsd sends, and the ones that belong to its connections (LVS
//! `ip_vs_in_icmp` / `ip_vs_out_icmp`).
//!
//! - **Sent:** "fragmentation needed" to a client whose DF packet does not fit the tunnel
//!   ([`Worker::frag_needed`]), from the director's address on the client's side, quoting as much of
//!   the packet as fits in 576 bytes (RFC 1812 §4.3.2.3).
//! - **Tunnel relay:** an error about one of our tunnel packets (it quotes our outer header, sent
//!   from a local address) is matched through the quoted inner packet. A "fragmentation needed"
//!   lowers the path MTU to that server; when the client set DF, it gets the error relayed with the
//!   MTU left for its own packets; other errors are relayed as they are (type, code, the inner quote).
//! - **NAT, DR and tunnel connections:** destination-unreachable and time-exceeded whose quoted
//!   datagram belongs to a tracked connection are found through the embedded header (its tuple
//!   reversed: the quote is a packet going the other way). In NAT they are translated, outer and
//!   inner (LVS `ip_vs_nat_icmp`): from the server's side the outer source and the quote's
//!   destination become the VIP; from the client's side the outer destination and the quote's source
//!   become the real server. The quote's TCP/UDP checksum is left alone, as LVS does (the quote is
//!   usually cut short). In DR and tunnel mode an error from the client's side is forwarded to the
//!   server the way the connection's packets go.
//!
//! Errors are never sent about ICMP errors, and an error whose checksum fails is dropped.

use super::rewrite::decrement_ttl;
use super::verdict::Verdict;
use super::Worker;
use crate::addr::{Addr, FlowKey, Proto};
use crate::buf::PacketBuf;
use crate::conn::{Dir, Fwd};
use crate::stats::DropReason;
use crate::time::Instant;
use crate::tunnel::decap;
use crate::wire::icmp::{self, msg_type, unreachable};
use crate::wire::{ethernet, ethertype, ip_proto, ipv4, set_u16, IcmpPacket, Ipv4Packet, Parsed};

/// The most an ICMP error may carry, IP header included (RFC 1812 §4.3.2.3).
const MAX_ERROR_LEN: usize = 576;
/// Outer IPv4 plus ICMP header in front of the quote.
const ERROR_HEAD: usize = ipv4::HEADER_LEN + icmp::HEADER_LEN;
/// TTL of the errors vsd builds (Linux's `ip_default_ttl`).
const ERROR_TTL: u8 = 64;
/// Linux's `icmp_send` TOS: precedence "internetwork control".
const ERROR_TOS: u8 = 0xc0;

/// The ICMP errors vsd matches to connections.
#[inline]
pub(super) fn is_error(ty: u8) -> bool {
    matches!(ty, msg_type::DST_UNREACHABLE | msg_type::TIME_EXCEEDED)
}

/// Fill the headers of an ICMP error in `frame`: [Ethernet][IPv4 20][ICMP 8][quote], the quote in
/// place already. `rest` is the ICMP header's second word (the MTU of "fragmentation needed").
#[allow(
    clippy::cast_possible_truncation,
    reason = "callers cut the frame to at most MAX_ERROR_LEN (576) bytes after the Ethernet header"
)]
fn write_error(frame: &mut [u8], ty: u8, code: u8, rest: [u8; 4], src: [u8; 4], dst: [u8; 4], ident: u16) {
    let l3 = ethernet::HEADER_LEN;
    set_u16(frame, 12, ethertype::IPV4);
    let total = (frame.len() - l3) as u16;
    {
        let icmp = &mut frame[l3 + ipv4::HEADER_LEN..];
        icmp[0] = ty;
        icmp[1] = code;
        icmp[4..8].copy_from_slice(&rest);
        IcmpPacket::new_unchecked(&mut *icmp).fill_checksum();
    }
    let head = &mut frame[l3..l3 + ipv4::HEADER_LEN];
    head.fill(0);
    let mut ip = Ipv4Packet::new_unchecked(head);
    ip.set_version(4);
    ip.set_header_len(ipv4::HEADER_LEN);
    ip.set_dscp(ERROR_TOS >> 2);
    ip.set_total_len(total);
    ip.set_ident(ident);
    ip.set_ttl(ERROR_TTL);
    ip.set_protocol(ip_proto::ICMP);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    ip.fill_checksum();
}

impl<B: PacketBuf> Worker<B> {
    /// The director's address on the side of `to` (the source of the errors vsd sends to it).
    fn source_toward(&self, to: Addr) -> Option<[u8; 4]> {
        let nh = self.snap.routes.lookup(to)?;
        self.snap.ifaces[nh.iface as usize].source_for(to)?.v4()
    }

    /// Turn the client's IPv4 packet in `pkt` (untagged, padding trimmed) into "fragmentation
    /// needed, next-hop MTU `mtu`", addressed to the client.
    #[allow(clippy::cast_possible_truncation, reason = "the IP ident is the counter's low 16 bits, wrapping")]
    pub(super) fn frag_needed(&mut self, pkt: &mut B, client: Addr, mtu: u16) -> Verdict {
        let Some(src) = self.source_toward(client) else { return Verdict::Drop(DropReason::NoRoute) };
        let l3 = ethernet::HEADER_LEN;
        let quote = (pkt.len() - l3).min(MAX_ERROR_LEN - ERROR_HEAD);
        pkt.trim(pkt.len() - l3 - quote);
        // The quote stays where it is; the new headers go in front of it, over the old Ethernet one.
        if !pkt.prepend(ERROR_HEAD) {
            return Verdict::Drop(DropReason::NoHeadroom);
        }
        let mut rest = [0; 4];
        rest[2..].copy_from_slice(&mtu.to_be_bytes());
        let ident = self.stats.icmp_errors_sent.get() as u16;
        let frame = pkt.as_mut();
        write_error(
            frame,
            msg_type::DST_UNREACHABLE,
            unreachable::FRAG_NEEDED,
            rest,
            src,
            client.v4_octets(),
            ident,
        );
        self.stats.icmp_errors_sent.inc();
        Verdict::Route { to: client, on_link: false }
    }

    /// An ICMP destination-unreachable or time-exceeded (`p` says so): relay or translate it if it
    /// belongs to one of our connections.
    pub(super) fn icmp_error(&mut self, now: Instant, p: &Parsed, buf: &mut [u8]) -> Verdict {
        let end = p.l3_off + p.l3_len as usize;
        let Ok(msg) = IcmpPacket::new_checked(&buf[p.l4_off..end]) else {
            return Verdict::Drop(DropReason::Icmp);
        };
        if !msg.verify_checksum() {
            return Verdict::Drop(DropReason::Icmp);
        }
        let Ok(q) = msg.quoted() else { return Verdict::Drop(DropReason::Icmp) };
        if q.is_fragment() && q.frag_offset() != 0 {
            return Verdict::Drop(DropReason::Icmp);
        }
        // An error about a packet we sent from a local address: one of our tunnel packets?
        if self.snap.local_iface(q.src()).is_some() {
            return self.tunnel_icmp(now, p, buf);
        }
        let Some(proto) = Proto::from_u8(q.protocol()).filter(|p| matches!(p, Proto::Tcp | Proto::Udp))
        else {
            return Verdict::Drop(DropReason::Icmp);
        };
        let ports = q.after_header();
        let (qsport, qdport) =
            (u16::from_be_bytes([ports[0], ports[1]]), u16::from_be_bytes([ports[2], ports[3]]));
        // The quote went the other way: its tuple reversed is the connection's.
        let key = FlowKey { src: q.dst(), dst: q.src(), sport: qdport, dport: qsport, proto };
        let Some((id, dir)) = self.conns.lookup(&key) else { return Verdict::Drop(DropReason::Icmp) };
        let c = self.conns.get(id);
        if !self.loads.is_available(c.dest) {
            return Verdict::Drop(DropReason::DestRemoved);
        }
        let qoff = p.l4_off + icmp::HEADER_LEN;
        match (c.fwd, dir) {
            (Fwd::Nat, Dir::Out) => {
                if !decrement_ttl(buf, p) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                nat_icmp(buf, p, qoff, c.vip, c.vport, false);
                Verdict::Route { to: c.client, on_link: false }
            }
            (Fwd::Nat, Dir::In) => {
                if !decrement_ttl(buf, p) {
                    return Verdict::Drop(DropReason::TtlExceeded);
                }
                nat_icmp(buf, p, qoff, c.rs, c.rport, true);
                Verdict::Route { to: c.rs, on_link: false }
            }
            (Fwd::Dr, Dir::In) => Verdict::Route { to: c.rs, on_link: true },
            (Fwd::Tunnel, Dir::In) => Verdict::Encap { svc: c.service, rs: c.rs },
            _ => Verdict::Drop(DropReason::Icmp),
        }
        .counted(&self.stats.icmp_errors_forwarded)
    }

    /// An error quoting one of our tunnel packets: learn the path MTU, relay to the client.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the IP ident is the counter's low 16 bits, wrapping; at + len is at most Ethernet + MAX_ERROR_LEN (576)"
    )]
    fn tunnel_icmp(&mut self, now: Instant, p: &Parsed, buf: &mut [u8]) -> Verdict {
        let end = p.l3_off + p.l3_len as usize;
        let qoff = p.l4_off + icmp::HEADER_LEN;
        let (ty, code) = (buf[p.l4_off], buf[p.l4_off + 1]);
        let quote = &buf[qoff..end];
        let rs = Ipv4Packet::new_unchecked(quote).dst();
        // Any GUE port: the connection found below says which service (and port) it was.
        let Some(d) = decap(quote, None) else { return Verdict::Drop(DropReason::Icmp) };
        let inner = &quote[d.inner_off..];
        let iq = Ipv4Packet::new_unchecked(inner);
        if iq.check_header_len().is_err() || inner.len() < iq.header_len() + 4 {
            return Verdict::Drop(DropReason::Icmp);
        }
        let Some(proto) = Proto::from_u8(iq.protocol()).filter(|p| matches!(p, Proto::Tcp | Proto::Udp))
        else {
            return Verdict::Drop(DropReason::Icmp);
        };
        let l4 = iq.after_header();
        let key = FlowKey {
            src: iq.src(),
            dst: iq.dst(),
            sport: u16::from_be_bytes([l4[0], l4[1]]),
            dport: u16::from_be_bytes([l4[2], l4[3]]),
            proto,
        };
        let (client, inner_df) = (iq.src(), iq.dont_frag());
        let Some((id, Dir::In)) = self.conns.lookup(&key) else { return Verdict::Drop(DropReason::Icmp) };
        let c = self.conns.get(id);
        if c.fwd != Fwd::Tunnel || c.rs != rs || self.snap.tunnel(c.service).kind != d.kind {
            return Verdict::Drop(DropReason::Icmp);
        }
        let mut rest = [buf[p.l4_off + 4], buf[p.l4_off + 5], buf[p.l4_off + 6], buf[p.l4_off + 7]];
        if ty == msg_type::DST_UNREACHABLE && code == unreachable::FRAG_NEEDED {
            // An old router says 0 (RFC 1191 §5); like Linux, that learns the minimum path MTU.
            self.tunnel.learn_pmtu(now, rs, u16::from_be_bytes([rest[2], rest[3]]));
            // The client does not do PMTU discovery: nothing to tell it (LVS `ignore_tunnel`).
            if !inner_df {
                return Verdict::Consumed;
            }
            let Some(room) = self.tunnel_room(now, c.service, rs) else {
                return Verdict::Drop(DropReason::NoRoute);
            };
            rest = [0, 0, room.to_be_bytes()[0], room.to_be_bytes()[1]];
        }
        let Some(src) = self.source_toward(client) else { return Verdict::Drop(DropReason::NoRoute) };
        if !self.tunnel.icmp_allowed(now) {
            return Verdict::Drop(DropReason::IcmpRateLimit);
        }
        // The inner quote moves up to follow the new headers; the outer quote is cut off.
        let start = qoff + d.inner_off;
        let len = (end - start).min(MAX_ERROR_LEN - ERROR_HEAD);
        let at = ethernet::HEADER_LEN + ERROR_HEAD;
        buf.copy_within(start..start + len, at);
        let ident = self.stats.icmp_errors_forwarded.get() as u16;
        write_error(&mut buf[..at + len], ty, code, rest, src, client.v4_octets(), ident);
        self.stats.icmp_errors_forwarded.inc();
        Verdict::Cut { to: client, len: (at + len) as u32 }
    }
}

impl Verdict {
    /// Count `c` if this verdict forwards.
    fn counted(self, c: &crate::stats::Counter) -> Verdict {
        if !matches!(self, Verdict::Drop(_)) {
            c.inc();
        }
        self
    }
}

/// Translate an ICMP error of a NAT connection in place. `to_server` (from the client's side): the
/// outer destination (the VIP) and the quote's source become `addr`, the quote's source port `port`.
/// Otherwise (from the server's side): the outer source and the quote's destination become `addr`
/// (the VIP), the quote's destination port `port`. Checksums: outer IPv4 and the quoted IPv4 header
/// incrementally, ICMP recomputed over the message (it covers the quote).
fn nat_icmp(buf: &mut [u8], p: &Parsed, qoff: usize, addr: Addr, port: u16, to_server: bool) {
    let end = p.l3_off + p.l3_len as usize;
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[p.l3_off..]);
        if to_server {
            ip.rewrite_dst_addr(addr.v4_octets());
        } else {
            ip.rewrite_src_addr(addr.v4_octets());
        }
    }
    {
        let mut q = Ipv4Packet::new_unchecked(&mut buf[qoff..end]);
        if to_server {
            q.rewrite_src_addr(addr.v4_octets());
        } else {
            q.rewrite_dst_addr(addr.v4_octets());
        }
        let at = if to_server { 0 } else { 2 };
        set_u16(q.after_header_mut(), at, port);
    }
    let mut msg = IcmpPacket::new_unchecked(&mut buf[p.l4_off..end]);
    msg.fill_checksum();
}
