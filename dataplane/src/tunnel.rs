//! Tunnel encapsulation (LVS-TUN): the client's IPv4 packet, unchanged, inside an outer IPv4 header
//! from a director address to the real server, which decapsulates it and answers the client directly.
//!
//! Three encapsulations, as LVS offers them since Linux 5.2 / ipvsadm 1.31 (`--tun-type`):
//! - **IPIP** (RFC 2003): outer IPv4 with protocol 4, then the inner packet.
//! - **GUE** (draft-ietf-intarea-gue, variant 0, as Linux FOU's `encap gue`): outer IPv4, UDP to the
//!   configured port (6080 by default), a 4-byte GUE header whose protocol field is 4, then the inner
//!   packet. The UDP source port is a hash of the inner flow in the ephemeral range, so that the
//!   server's NIC spreads flows over its queues (LVS `udp_flow_src_port`, Katran the same).
//! - **GRE** (RFC 2784): outer IPv4 with protocol 47, a 4-byte GRE header with protocol 0x0800, or 8
//!   bytes with the optional checksum.
//!
//! The outer header copies the inner TOS byte (DSCP and ECN), TTL and DF, as LVS `ip_vs_tunnel_xmit`
//! does; the inner header is left alone (no TTL decrement, as in LVS). Everything here is pure byte
//! layout; the worker decides the addresses, the MTU and the ident ([`crate::worker`]).

use crate::wire::{checksum, ip_proto, ipv4, set_u16, Ipv4Packet};

/// IP protocol numbers of the outer header (IANA).
pub const IPPROTO_IPIP: u8 = 4;
pub const IPPROTO_GRE: u8 = 47;
/// The GUE port of Linux FOU examples and ipvsadm's documentation.
pub const DEFAULT_GUE_PORT: u16 = 6080;
/// The GUE source ports: Linux's default `ip_local_port_range` (32768-60999), as `udp_flow_src_port`.
const SPORT_MIN: u16 = 32768;
const SPORT_MAX: u16 = 60999;
/// RFC 2784 §2.1: the checksum-present bit of the first GRE word.
const GRE_CSUM: u16 = 0x8000;
/// The ethertype of IPv4 as the GRE protocol type (RFC 2784 §2.4).
const GRE_PROTO_IPV4: u16 = 0x0800;
const UDP_HEADER_LEN: usize = 8;
const GUE_HEADER_LEN: usize = 4;

/// The encapsulation of a tunnel service (ipvsadm `--tun-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TunnelKind {
    #[default]
    Ipip,
    Gue,
    Gre,
}

impl TunnelKind {
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Ipip => "ipip",
            TunnelKind::Gue => "gue",
            TunnelKind::Gre => "gre",
        }
    }
}

/// How a tunnel service encapsulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TunnelSpec {
    pub kind: TunnelKind,
    /// GUE's UDP destination port (`--tun-port`).
    pub port: u16,
    /// GUE: fill the UDP checksum; GRE: add the GRE checksum (`--tun-csum`; the default is
    /// `--tun-nocsum`, as in ipvsadm).
    pub csum: bool,
}

impl Default for TunnelSpec {
    fn default() -> Self {
        TunnelSpec { kind: TunnelKind::Ipip, port: DEFAULT_GUE_PORT, csum: false }
    }
}

impl TunnelSpec {
    /// Bytes added in front of the inner IPv4 packet.
    #[inline]
    pub fn overhead(&self) -> usize {
        ipv4::HEADER_LEN
            + match self.kind {
                TunnelKind::Ipip => 0,
                TunnelKind::Gue => UDP_HEADER_LEN + GUE_HEADER_LEN,
                TunnelKind::Gre if self.csum => 8,
                TunnelKind::Gre => 4,
            }
    }
}

/// The outer header's variable fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ident: u16,
    /// The inner flow's hash; GUE derives its UDP source port from it.
    pub flow_hash: u32,
}

/// A hash of an inner flow that every worker computes alike (the GUE source port must not depend on
/// which core forwarded the packet): Murmur3's 32-bit finaliser over the folded 5-tuple.
#[inline]
pub fn flow_hash(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, proto: u8) -> u32 {
    let mut h = u32::from_be_bytes(src) ^ u32::from_be_bytes(dst).rotate_left(16);
    h ^= (u32::from(sport) << 16 | u32::from(dport)).wrapping_mul(0x9e37_79b1) ^ u32::from(proto);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The GUE UDP source port of a flow hash, in the ephemeral range.
#[inline]
#[allow(clippy::cast_possible_truncation, reason = "hash % span is below the span of the port range")]
pub fn gue_source_port(hash: u32) -> u16 {
    let span = u32::from(SPORT_MAX - SPORT_MIN) + 1;
    SPORT_MIN + (hash % span) as u16
}

/// Write the outer headers into `pkt[..overhead]`, in front of the inner IPv4 packet that fills the
/// rest of `pkt` (the caller has made the room). The inner header must be valid (the parser checked
/// it); its TOS, TTL and DF are copied out.
#[allow(
    clippy::cast_possible_truncation,
    reason = "the caller checked the packet against the tunnel MTU, so its length is below 2^16"
)]
pub fn encap(pkt: &mut [u8], spec: &TunnelSpec, outer: &Outer) {
    let hlen = spec.overhead();
    let total = pkt.len();
    let (head, inner) = pkt.split_at_mut(hlen);
    let (tos, ttl, df) = {
        let i = Ipv4Packet::new_unchecked(&*inner);
        (i.dscp() << 2 | i.ecn(), i.ttl(), i.dont_frag())
    };
    let proto = match spec.kind {
        TunnelKind::Ipip => IPPROTO_IPIP,
        TunnelKind::Gue => ip_proto::UDP,
        TunnelKind::Gre => IPPROTO_GRE,
    };
    let after = &mut head[ipv4::HEADER_LEN..];
    let len_after = (total - ipv4::HEADER_LEN) as u16;
    match spec.kind {
        TunnelKind::Ipip => {}
        TunnelKind::Gue => {
            set_u16(after, 0, gue_source_port(outer.flow_hash));
            set_u16(after, 2, spec.port);
            set_u16(after, 4, len_after);
            set_u16(after, 6, 0);
            // GUE variant 0, C = 0, Hlen = 0, proto/ctype = IPIP, flags = 0.
            after[8..12].copy_from_slice(&[0, IPPROTO_IPIP, 0, 0]);
            if spec.csum {
                let sum = checksum::combine(&[
                    checksum::pseudo_header_v4(outer.src, outer.dst, ip_proto::UDP, len_after),
                    checksum::data(after),
                    checksum::data(inner),
                ]);
                set_u16(after, 6, checksum::udp_nonzero(checksum::finish(sum)));
            }
        }
        TunnelKind::Gre => {
            set_u16(after, 0, if spec.csum { GRE_CSUM } else { 0 });
            set_u16(after, 2, GRE_PROTO_IPV4);
            if spec.csum {
                // RFC 2784 §2.5: the checksum covers the GRE header and the payload; Reserved1 is 0.
                after[4..8].fill(0);
                let sum = checksum::combine(&[checksum::data(after), checksum::data(inner)]);
                set_u16(after, 4, checksum::finish(sum));
            }
        }
    }
    let mut ip = Ipv4Packet::new_unchecked(&mut head[..ipv4::HEADER_LEN]);
    ip.set_version(4);
    ip.set_header_len(ipv4::HEADER_LEN);
    ip.set_dscp(tos >> 2);
    ip.set_ecn(tos & 3);
    ip.set_ident(outer.ident);
    ip.clear_flags();
    ip.set_dont_frag(df);
    ip.set_frag_offset(0);
    ip.set_ttl(ttl);
    ip.set_protocol(proto);
    ip.set_src_addr(outer.src);
    ip.set_dst_addr(outer.dst);
    set_u16(&mut head[..], 2, total as u16);
    Ipv4Packet::new_unchecked(&mut head[..ipv4::HEADER_LEN]).fill_checksum();
}

/// What [`decap`] found: the encapsulation and where the inner IPv4 packet starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapped {
    pub kind: TunnelKind,
    pub inner_off: usize,
}

/// Find the inner packet of an encapsulated IPv4 packet `pkt` (outer header first), if it is one of
/// ours: IPIP, GRE carrying IPv4 (with or without checksum, no key or sequence), or UDP to
/// `gue_port` (any port: `None`) with a GUE variant 0 header carrying IPIP. Used on the quotes of ICMP errors (which
/// may be truncated, so only the headers are required) and by the tests' decapsulating agent.
pub fn decap(pkt: &[u8], gue_port: Option<u16>) -> Option<Decapped> {
    let ip = Ipv4Packet::new_checked(pkt).ok().or_else(|| {
        // A quote is cut short: check the header alone.
        let ip = Ipv4Packet::new_unchecked(pkt);
        ip.check_header_len().ok().map(|_| ip)
    })?;
    if ip.is_fragment() && ip.frag_offset() != 0 {
        return None;
    }
    let off = ip.header_len();
    let rest = pkt.get(off..)?;
    let (kind, inner) = match ip.protocol() {
        IPPROTO_IPIP => (TunnelKind::Ipip, 0),
        IPPROTO_GRE => {
            let flags = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]);
            let proto = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]);
            // Only the checksum bit may be set (no key, no sequence, version 0).
            if flags & !GRE_CSUM != 0 || proto != GRE_PROTO_IPV4 {
                return None;
            }
            (TunnelKind::Gre, if flags & GRE_CSUM != 0 { 8 } else { 4 })
        }
        ip_proto::UDP => {
            let dport = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]);
            let gue = rest.get(UDP_HEADER_LEN..UDP_HEADER_LEN + GUE_HEADER_LEN)?;
            // Variant 0, no control message, no extension fields, carrying IPIP.
            if gue_port.is_some_and(|p| p != dport) || gue[0] != 0 || gue[1] != IPPROTO_IPIP {
                return None;
            }
            (TunnelKind::Gue, UDP_HEADER_LEN + GUE_HEADER_LEN)
        }
        _ => return None,
    };
    let inner_off = off + inner;
    // The inner packet must at least start like an IPv4 header.
    if pkt.get(inner_off).map(|b| b >> 4) != Some(4) {
        return None;
    }
    Some(Decapped { kind, inner_off })
}

#[cfg(test)]
mod tests;
