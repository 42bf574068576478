//! Tunnel transmit (LVS-TUN, `ip_vs_tunnel_xmit`): encapsulate the client's packet toward its real
//! server, which may sit anywhere routable; the server answers the client directly.
//!
//! The pipeline only decides *that* a packet is tunnelled ([`Verdict::Encap`]); the work happens
//! here, on the buffer, because encapsulation grows the frame at the front. The route and the next
//! hop to the server come from the routing table and ARP like any routed packet. The outer source is
//! the egress interface's address toward the server.
//!
//! MTU (LVS `ensure_mtu_is_adequate`): a packet whose inner length does not fit the egress MTU (or
//! the path MTU learned for the server from ICMP, [`crate::worker::icmp_error`]) minus the tunnel
//! overhead is refused when it has DF set: the client gets "fragmentation needed" with that reduced
//! MTU, so its PMTU discovery converges (at most 1000 errors a second per worker, in bursts of 50, as
//! Linux's `icmp_send` allows LVS). Without DF, LVS lets the kernel fragment the outer packet
//! (its DF is copied, so clear), and so does vsd (RFC 791): the first fragment stays in the packet's
//! buffer, the rest waits in a small queue of preallocated tails until the driver hands the worker
//! fresh buffers ([`Worker::poll_output`]), the way ARP requests get theirs.

use super::verdict::Verdict;
use super::Worker;
use crate::addr::Addr;
use crate::buf::PacketBuf;
use crate::service::ServiceId;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::tunnel::{encap, flow_hash, Outer};
use crate::wire::{ethernet, ethertype, ip_proto, ipv4, set_u16, Ipv4Packet};
use core::time::Duration;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// How long a learned path MTU holds (Linux `ip_rt_mtu_expires`: 10 minutes).
const PMTU_EXPIRES: Duration = Duration::from_secs(600);
/// The smallest path MTU taken from an ICMP message (Linux `ip_rt_min_pmtu`: 512 + 20 + 20).
const MIN_PMTU: u16 = 552;
/// Learned path MTUs kept per worker; beyond, the table starts over (it is a cache).
const PMTU_CAPACITY: usize = 4096;
/// Oversized DF-clear packets whose later fragments may wait for buffers at once, per worker;
/// beyond, such packets are dropped (`too_big`).
const FRAG_SLOTS: usize = 16;
/// The largest outer packet a tail is preallocated for (a 9000-byte jumbo frame plus overhead).
const FRAG_TAIL_CAPACITY: usize = 9216;

/// ICMP errors a worker may send toward clients (its own "fragmentation needed" and relayed tunnel
/// errors): Linux's `icmp_msgs_per_sec` and `icmp_msgs_burst` defaults, which bound LVS's `icmp_send`.
const ICMP_PER_SEC: u64 = 1000;
const ICMP_BURST: u64 = 50;

/// The later fragments of one outer packet: its IPv4 header and the payload after the first
/// fragment.
struct Tail {
    rs: Addr,
    header: [u8; ipv4::HEADER_LEN],
    data: Vec<u8>,
    /// Offset of `data[0]` in the outer payload (bytes).
    offset: usize,
    /// Bytes of `data` already sent.
    sent: usize,
    /// Payload bytes per fragment (a multiple of 8).
    step: usize,
}

/// A worker's tunnel state: path MTUs learned per real server, and the outer IP ident.
pub(super) struct TunnelState {
    pmtu: FxHashMap<Addr, (u16, Instant)>,
    ident: u16,
    /// Fragments waiting for buffers, oldest first, and the tails' spare storage.
    tails: VecDeque<Tail>,
    spare: Vec<Vec<u8>>,
    /// Token bucket of the ICMP errors sent toward clients.
    icmp_tokens: u64,
    icmp_refilled: Instant,
}

impl TunnelState {
    pub(super) fn new(worker: u16) -> TunnelState {
        let mut pmtu = FxHashMap::default();
        pmtu.reserve(PMTU_CAPACITY);
        // Cores count from different points, so that their idents toward one server rarely meet.
        TunnelState {
            pmtu,
            ident: worker.wrapping_mul(0x1000),
            tails: VecDeque::with_capacity(FRAG_SLOTS),
            spare: (0..FRAG_SLOTS).map(|_| Vec::with_capacity(FRAG_TAIL_CAPACITY)).collect(),
            icmp_tokens: ICMP_BURST,
            icmp_refilled: Instant::from_millis(0),
        }
    }

    /// The path MTU learned for `rs`, if it has not expired.
    pub(super) fn pmtu(&self, now: Instant, rs: Addr) -> Option<u16> {
        self.pmtu.get(&rs).filter(|(_, until)| now < *until).map(|(m, _)| *m)
    }

    /// Learn a path MTU for `rs` from an ICMP "fragmentation needed" (only ever lowered while it
    /// holds, as Linux's `__ip_rt_update_pmtu`).
    pub(super) fn learn_pmtu(&mut self, now: Instant, rs: Addr, mtu: u16) -> u16 {
        let mtu = mtu.max(MIN_PMTU);
        let mtu = self.pmtu(now, rs).map_or(mtu, |old| old.min(mtu));
        if self.pmtu.len() >= PMTU_CAPACITY && !self.pmtu.contains_key(&rs) {
            self.pmtu.clear();
        }
        self.pmtu.insert(rs, (mtu, now + PMTU_EXPIRES));
        mtu
    }

    /// Take a token for one ICMP error toward a client; false when the budget is spent.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "saturating_since makes its Duration from a u64 of milliseconds, so as_millis fits u64"
    )]
    pub(super) fn icmp_allowed(&mut self, now: Instant) -> bool {
        let ms = now.saturating_since(self.icmp_refilled).as_millis() as u64;
        let earned = ms * ICMP_PER_SEC / 1000;
        if earned > 0 {
            self.icmp_tokens = (self.icmp_tokens + earned).min(ICMP_BURST);
            self.icmp_refilled = now;
        }
        if self.icmp_tokens == 0 {
            return false;
        }
        self.icmp_tokens -= 1;
        true
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }
}

impl<B: PacketBuf> Worker<B> {
    /// The largest inner packet that fits the tunnel to `rs`: the egress MTU, or the learned path
    /// MTU if lower, minus the overhead of service `svc`'s encapsulation. `None`: no route.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "a tunnel's overhead is at most 32 header bytes (IPv4, UDP, GUE)"
    )]
    pub(super) fn tunnel_room(&self, now: Instant, svc: ServiceId, rs: Addr) -> Option<u16> {
        let nh = self.snap.routes.lookup(rs)?;
        let mut mtu = self.snap.ifaces[nh.iface as usize].mtu;
        if let Some(p) = self.tunnel.pmtu(now, rs) {
            mtu = mtu.min(p);
        }
        Some(mtu.saturating_sub(self.snap.tunnel(svc).overhead() as u16))
    }

    /// Encapsulate the IPv4 packet of `pkt` (untagged Ethernet) toward `rs` for service `svc`. When it
    /// does not fit: with DF, turn it into the client's "fragmentation needed"; without, send the
    /// outer packet in fragments.
    pub(super) fn tunnel_xmit(&mut self, now: Instant, svc: ServiceId, rs: Addr, pkt: &mut B) -> Verdict {
        let l3 = ethernet::HEADER_LEN;
        let (len, df, proto, client, hash) = {
            let frame = pkt.as_ref();
            let ip = Ipv4Packet::new_unchecked(&frame[l3..]);
            let l4 = ip.after_header();
            let ports = if matches!(ip.protocol(), ip_proto::TCP | ip_proto::UDP) && l4.len() >= 4 {
                (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]))
            } else {
                (0, 0)
            };
            let hash = flow_hash(ip.src_addr(), ip.dst_addr(), ports.0, ports.1, ip.protocol());
            (usize::from(ip.total_len()), ip.dont_frag(), ip.protocol(), ip.src_addr(), hash)
        };
        // Ethernet padding of a short frame is not part of the inner packet.
        let pad = pkt.len().saturating_sub(l3 + len);
        if pad > 0 {
            pkt.trim(pad);
        }
        let Some(room) = self.tunnel_room(now, svc, rs) else { return Verdict::Drop(DropReason::NoRoute) };
        let spec = self.snap.tunnel(svc);
        let fragment = len > usize::from(room);
        if fragment && df {
            // Never an ICMP error about an ICMP error (RFC 1122 §3.2.2); LVS skips all ICMP here.
            if proto == ip_proto::ICMP {
                return Verdict::Drop(DropReason::TooBig);
            }
            if !self.tunnel.icmp_allowed(now) {
                return Verdict::Drop(DropReason::IcmpRateLimit);
            }
            self.stats.count_drop(DropReason::TooBig);
            return self.frag_needed(pkt, Addr::from_v4(client), room);
        }
        if fragment && (self.tunnel.spare.is_empty() || len + spec.overhead() > FRAG_TAIL_CAPACITY) {
            return Verdict::Drop(DropReason::TooBig);
        }
        let src = self
            .snap
            .routes
            .lookup(rs)
            .and_then(|nh| self.snap.ifaces[nh.iface as usize].source_for(rs))
            .and_then(|a| a.v4());
        let Some(src) = src else { return Verdict::Drop(DropReason::NoRoute) };
        if !pkt.prepend(spec.overhead()) {
            return Verdict::Drop(DropReason::NoHeadroom);
        }
        let frame = pkt.as_mut();
        // The MACs are written once the next hop resolves; the ethertype stays IPv4.
        set_u16(frame, 12, ethertype::IPV4);
        let outer = Outer { src, dst: rs.v4_octets(), ident: self.tunnel.next_ident(), flow_hash: hash };
        encap(&mut frame[l3..], &spec, &outer);
        self.stats.tunnel_packets.inc();
        if fragment {
            self.first_fragment(pkt, rs, usize::from(room) + spec.overhead());
        }
        Verdict::Route { to: rs, on_link: false }
    }

    /// Cut the encapsulated packet in `pkt` to its first fragment for link MTU `mtu`, and queue the
    /// rest (RFC 791 §3.2: every fragment but the last carries a multiple of 8 payload bytes).
    #[allow(
        clippy::cast_possible_truncation,
        reason = "callers fragment packets of at most FRAG_TAIL_CAPACITY (9216) bytes"
    )]
    fn first_fragment(&mut self, pkt: &mut B, rs: Addr, mtu: usize) {
        let l3 = ethernet::HEADER_LEN;
        let step = (mtu - ipv4::HEADER_LEN) / 8 * 8;
        let at = l3 + ipv4::HEADER_LEN + step;
        // Checked by the caller: a spare tail exists.
        let mut data = self.tunnel.spare.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(&pkt.as_ref()[at..]);
        let mut header = [0; ipv4::HEADER_LEN];
        header.copy_from_slice(&pkt.as_ref()[l3..l3 + ipv4::HEADER_LEN]);
        pkt.trim(pkt.len() - at);
        let mut ip = Ipv4Packet::new_unchecked(&mut pkt.as_mut()[l3..]);
        ip.set_total_len((ipv4::HEADER_LEN + step) as u16);
        ip.set_more_frags(true);
        ip.fill_checksum();
        self.tunnel.tails.push_back(Tail { rs, header, data, offset: step, sent: 0, step });
    }

    /// Cut a NAT or DR packet too big for link MTU `mtu` to its first fragment and queue the rest
    /// toward `to`, as for tunnel packets; false if it cannot be fragmented (DF set, IP options,
    /// already a fragment, larger than a tail holds, or every tail in use).
    pub(super) fn fragment(&mut self, pkt: &mut B, to: Addr, mtu: usize) -> bool {
        let l3 = ethernet::HEADER_LEN;
        let (plain, total) = {
            let ip = Ipv4Packet::new_unchecked(&pkt.as_ref()[l3..]);
            let plain = ip.header_len() == ipv4::HEADER_LEN
                && !ip.dont_frag()
                && !ip.more_frags()
                && ip.frag_offset() == 0;
            (plain, usize::from(ip.total_len()))
        };
        if !plain || total > FRAG_TAIL_CAPACITY || self.tunnel.spare.is_empty() || pkt.len() < l3 + total {
            return false;
        }
        pkt.trim(pkt.len() - l3 - total);
        self.first_fragment(pkt, to, mtu);
        true
    }

    /// The interface the next waiting fragment leaves on (the route toward its server), if a
    /// fragment waits for a buffer ([`Worker::poll_output`]).
    pub(super) fn fragment_iface(&self) -> Option<crate::route::IfIndex> {
        let t = self.tunnel.tails.front()?;
        Some(self.snap.routes.lookup(t.rs).map_or(0, |nh| nh.iface))
    }

    /// Write the next waiting fragment into `buf` (a freshly allocated, empty buffer), to be
    /// routed toward its real server like a received packet.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "a tail holds a packet of at most FRAG_TAIL_CAPACITY (9216) bytes: its lengths and offsets fit u16"
    )]
    pub(super) fn next_fragment(&mut self, buf: &mut B) -> Verdict {
        let Some(t) = self.tunnel.tails.front_mut() else { return Verdict::Consumed };
        let chunk = t.step.min(t.data.len() - t.sent);
        let last = t.sent + chunk == t.data.len();
        let l3 = ethernet::HEADER_LEN;
        let room = buf.append(l3 + ipv4::HEADER_LEN + chunk);
        if room {
            let frame = buf.as_mut();
            set_u16(frame, 12, ethertype::IPV4);
            frame[l3..l3 + ipv4::HEADER_LEN].copy_from_slice(&t.header);
            frame[l3 + ipv4::HEADER_LEN..].copy_from_slice(&t.data[t.sent..t.sent + chunk]);
            let mut ip = Ipv4Packet::new_unchecked(&mut frame[l3..]);
            ip.set_total_len((ipv4::HEADER_LEN + chunk) as u16);
            ip.set_frag_offset((t.offset + t.sent) as u16);
            ip.set_more_frags(!last);
            ip.fill_checksum();
        }
        t.sent += chunk;
        let rs = t.rs;
        if last || !room {
            // A fragment that cannot be built loses the packet; the rest is not worth sending.
            if let Some(t) = self.tunnel.tails.pop_front() {
                self.tunnel.spare.push(t.data);
            }
        }
        if room {
            Verdict::Route { to: rs, on_link: false }
        } else {
            Verdict::Drop(DropReason::NoHeadroom)
        }
    }
}
