//! The classifier the worker runs on every received frame.
//!
//! One pass from Ethernet to the L4 ports, through the checked views, returning a small `Copy`
//! summary ([`Parsed`], about a cache line) that the rest of the pipeline reads instead of the
//! bytes; its offsets are `usize` so later stages index the buffer with them directly.
//!
//! Everything a later stage indexes is validated here once: after `Ok`, the L3 header, `l3_len`
//! bytes of L3 packet, and (for TCP/UDP/ICMP) the L4 header are inside the buffer, and an IPv4
//! header checksum is correct (20 bytes, cheap; L4 checksums are left to the NIC or the caller),
//! so later stages may build views with `new_unchecked`. A frame that is merely uninteresting (another ethertype, another IP protocol) is
//! `Ok` with [`L4::Unparsed`]; the worker decides what to drop. Every malformation is a distinct
//! [`ParseError`], so each drop reason gets its own counter.

use core::fmt;

use super::ethernet::{ethertype, Frame, VlanTci};
use super::{arp, icmp, ip_proto, ipv4, ipv6, Error, TcpFlags};
use super::{Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};
use crate::addr::{Addr, FlowKey, Proto};

/// IPv6 extension headers the classifier walks (RFC 8200 §4.3-4.6): hop-by-hop options (only
/// right after the fixed header), routing, fragment and destination options.
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
/// IPv6 Fragment extension header (RFC 8200 §4.5).
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DEST_OPTS: u8 = 60;
/// The most extension headers walked in front of the transport header: a legitimate chain has at
/// most four or five (RFC 8200 §4.1); a longer one is refused so that the walk's cost is bounded.
const IPV6_MAX_EXT_HEADERS: usize = 8;
/// ICMPv6 messages start with type, code and checksum (RFC 4443 §2.1).
const ICMPV6_HEADER_LEN: usize = 4;
/// RFC 1858 §4: a TCP fragment at offset 1 (8 bytes) can overwrite the flags of the first one;
/// such fragments are dropped.
const TINY_TCP_FRAG_OFFSET: u16 = 8;

/// What the L4 header says, when the classifier looked at it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum L4 {
    /// Not looked into: another protocol, or a fragment that is not the first.
    Unparsed,
    Tcp {
        sport: u16,
        dport: u16,
        flags: TcpFlags,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// ICMPv4, or ICMPv6 over IPv6: see [`Parsed::ip_proto`].
    Icmp {
        ty: u8,
        code: u8,
    },
}

/// The summary of one valid frame. Offsets are from the start of the frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Parsed {
    /// The VID of the 802.1Q C-tag (the only tag of a singly tagged frame).
    pub vlan: Option<u16>,
    /// The VID of the 802.1ad S-tag of a QinQ frame.
    pub svlan: Option<u16>,
    /// The ethertype after the tags.
    pub ethertype: u16,
    /// Start of the L3 header: 14, 18 or 22.
    pub l3_off: usize,
    /// Start of the L4 header (IPv4: after the options; IPv6: after the fixed header and the
    /// extension headers walked, see [`Parsed::ip_proto`]). Equal to `l3_off` for non-IP frames.
    pub l4_off: usize,
    /// IPv4 total length or 40 + IPv6 payload length: Ethernet padding excluded. For non-IP
    /// frames, the bytes from `l3_off` to the end of the buffer.
    pub l3_len: u32,
    /// IPv4 protocol; for IPv6, the next header after the hop-by-hop, destination options,
    /// routing and fragment headers, which are walked. The walk stops, leaving the header it
    /// stopped at as `ip_proto` at `l4_off` with [`L4::Unparsed`], at a routing header with
    /// segments left (the destination field is not the final one: not balanced), at a hop-by-hop
    /// header that is not the first, and after the fragment header of a fragment that is not the
    /// first (then `ip_proto` is the fragment header's next header, as for IPv4). 0 for non-IP
    /// frames.
    pub ip_proto: u8,
    /// An IPv4 fragment (MF or a nonzero offset) or an IPv6 packet with a Fragment header.
    pub is_fragment: bool,
    /// IP source and destination (IPv4 v4-mapped); unspecified for non-IP frames.
    pub src: Addr,
    pub dst: Addr,
    pub l4: L4,
}

impl Parsed {
    #[inline]
    pub fn is_ipv4(&self) -> bool {
        self.ethertype == ethertype::IPV4
    }

    #[inline]
    pub fn is_ipv6(&self) -> bool {
        self.ethertype == ethertype::IPV6
    }

    /// Source and destination ports of a TCP or UDP packet whose header was parsed.
    #[inline]
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.l4 {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => Some((sport, dport)),
            _ => None,
        }
    }

    #[inline]
    pub fn tcp_flags(&self) -> Option<TcpFlags> {
        match self.l4 {
            L4::Tcp { flags, .. } => Some(flags),
            _ => None,
        }
    }

    /// The 5-tuple of a TCP or UDP packet whose header was parsed (a first fragment included).
    #[inline]
    pub fn flow_key(&self) -> Option<FlowKey> {
        let (sport, dport, proto) = match self.l4 {
            L4::Tcp { sport, dport, .. } => (sport, dport, Proto::Tcp),
            L4::Udp { sport, dport } => (sport, dport, Proto::Udp),
            _ => return None,
        };
        Some(FlowKey { src: self.src, dst: self.dst, sport, dport, proto })
    }

    /// [`Parsed::flow_key`] with the ports read from `frame`, the buffer this summary was parsed
    /// from. For the packet path right after the parse: the parse stored the ports as two 16-bit
    /// fields, and `flow_key`'s one 32-bit read of both would wait for those stores to drain.
    #[inline]
    pub fn flow_key_in(&self, frame: &[u8]) -> Option<FlowKey> {
        let proto = match self.l4 {
            L4::Tcp { .. } => Proto::Tcp,
            L4::Udp { .. } => Proto::Udp,
            _ => return None,
        };
        let ports = frame.get(self.l4_off..self.l4_off + 4)?;
        Some(FlowKey {
            src: self.src,
            dst: self.dst,
            sport: u16::from_be_bytes([ports[0], ports[1]]),
            dport: u16::from_be_bytes([ports[2], ports[3]]),
            proto,
        })
    }
}

/// Declares [`ParseError`] with its counter names and the `ALL` list from one table, so the three
/// cannot drift apart.
macro_rules! parse_errors {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Why a frame was refused; one variant per counter.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum ParseError {
            $($(#[$doc])* $variant,)*
        }

        impl ParseError {
            /// Every variant, in declaration order: `ALL[e.index()] == e`.
            pub const ALL: [ParseError; [$($name),*].len()] = [$(ParseError::$variant),*];

            /// The counter name, in snake_case.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ParseError::$variant => $name,)*
                }
            }
        }
    };
}

parse_errors! {
    /// Shorter than the 14-byte Ethernet header.
    EthernetTruncated => "ethernet_truncated",
    /// A VLAN tag or the ethertype after it is cut short.
    VlanTruncated => "vlan_truncated",
    /// More than S-tag + C-tag, tags in the wrong order, or the reserved VID 0xFFF.
    BadVlan => "bad_vlan",
    /// ARP shorter than its 28 bytes.
    ArpTruncated => "arp_truncated",
    /// Shorter than the 20-byte IPv4 header.
    Ipv4Truncated => "ipv4_truncated",
    /// The IP version does not match the ethertype.
    BadIpVersion => "bad_ip_version",
    /// IHL below 5 or the header runs past the buffer.
    BadIhl => "bad_ihl",
    /// Total length below the header length or past the buffer.
    BadTotalLength => "bad_total_length",
    BadIpv4Checksum => "bad_ipv4_checksum",
    /// A TCP fragment at offset 8 (RFC 1858 §4).
    TinyFragment => "tiny_fragment",
    /// Shorter than the 40-byte IPv6 header.
    Ipv6Truncated => "ipv6_truncated",
    /// IPv6 payload length past the buffer.
    BadPayloadLength => "bad_payload_length",
    /// An IPv6 extension header cut by the payload length, or more than eight of them in front
    /// of the transport header.
    BadIpv6ExtHeaders => "bad_ipv6_ext_headers",
    /// A v4-mapped IPv6 source or destination (RFC 4291 §2.5.5.2): it would alias an IPv4 [`Addr`].
    Ipv6MappedAddr => "ipv6_mapped_addr",
    /// Less than 20 bytes of TCP header.
    TcpTruncated => "tcp_truncated",
    /// Data offset below 5 or past the packet.
    BadTcpDataOffset => "bad_tcp_data_offset",
    /// Less than 8 bytes of UDP header.
    UdpTruncated => "udp_truncated",
    /// UDP length below 8 or past the IP payload.
    BadUdpLength => "bad_udp_length",
    /// Less than the ICMP header (8 bytes for ICMPv4, 4 for ICMPv6).
    IcmpTruncated => "icmp_truncated",
}

impl ParseError {
    /// Position in [`ParseError::ALL`], for counter arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Validate and summarise one Ethernet frame. Never panics.
pub fn parse_frame(buf: &[u8]) -> Result<Parsed, ParseError> {
    let mut out = Err(ParseError::EthernetTruncated);
    parse_frame_into(buf, &mut out);
    out
}

/// [`parse_frame`] into a caller's slot. The packet path parses a burst into an array: built in
/// place, the summary is not copied from a local right after its fields were stored, a copy that
/// waits for those stores to drain.
#[inline]
pub fn parse_frame_into(buf: &[u8], out: &mut Result<Parsed, ParseError>) {
    if let Err(e) = parse_in_place(buf, out) {
        *out = Err(e);
    }
}

#[inline]
fn parse_in_place(buf: &[u8], out: &mut Result<Parsed, ParseError>) -> Result<(), ParseError> {
    let frame = Frame::new_checked(buf).map_err(|_| ParseError::EthernetTruncated)?;
    let tags = frame.tags().map_err(|e| match e {
        Error::Truncated => ParseError::VlanTruncated,
        _ => ParseError::BadVlan,
    })?;
    // `tags` guarantees l3_off ≤ 22 and ≤ buf.len().
    let l3_off = tags.l3_off;
    let l3 = &buf[l3_off..];
    *out = Ok(Parsed {
        vlan: tags.ctag.map(VlanTci::vid),
        svlan: tags.stag.map(VlanTci::vid),
        ethertype: tags.ethertype,
        l3_off,
        l4_off: l3_off,
        l3_len: u32::try_from(l3.len()).unwrap_or(u32::MAX),
        ip_proto: 0,
        is_fragment: false,
        src: Addr::UNSPECIFIED,
        dst: Addr::UNSPECIFIED,
        l4: L4::Unparsed,
    });
    match (tags.ethertype, out) {
        (ethertype::IPV4, Ok(p)) => parse_ipv4(l3, p),
        (ethertype::IPV6, Ok(p)) => parse_ipv6(l3, p),
        (ethertype::ARP, _) => arp::Packet::new_checked(l3).map(|_| ()).map_err(|_| ParseError::ArpTruncated),
        _ => Ok(()),
    }
}

#[inline]
fn parse_ipv4(l3: &[u8], p: &mut Parsed) -> Result<(), ParseError> {
    if l3.len() < ipv4::HEADER_LEN {
        return Err(ParseError::Ipv4Truncated);
    }
    let ip = Ipv4Packet::new_unchecked(l3);
    if ip.version() != 4 {
        return Err(ParseError::BadIpVersion);
    }
    ip.check_len().map_err(|e| match e {
        Error::BadHeaderLen => ParseError::BadIhl,
        _ => ParseError::BadTotalLength,
    })?;
    if !ip.verify_checksum() {
        return Err(ParseError::BadIpv4Checksum);
    }
    p.l3_len = u32::from(ip.total_len());
    p.l4_off = p.l3_off + ip.header_len();
    p.ip_proto = ip.protocol();
    p.src = ip.src();
    p.dst = ip.dst();
    p.is_fragment = ip.is_fragment();
    if ip.frag_offset() != 0 {
        if ip.frag_offset() == TINY_TCP_FRAG_OFFSET && ip.protocol() == ip_proto::TCP {
            return Err(ParseError::TinyFragment);
        }
        return Ok(());
    }
    parse_l4(ip.payload(), ip_proto::ICMP, p)
}

#[inline]
fn parse_ipv6(l3: &[u8], p: &mut Parsed) -> Result<(), ParseError> {
    if l3.len() < ipv6::HEADER_LEN {
        return Err(ParseError::Ipv6Truncated);
    }
    let ip = Ipv6Packet::new_unchecked(l3);
    if ip.version() != 6 {
        return Err(ParseError::BadIpVersion);
    }
    ip.check_len().map_err(|_| ParseError::BadPayloadLength)?;
    let (src, dst) = (ip.src(), ip.dst());
    if src.is_v4() || dst.is_v4() {
        return Err(ParseError::Ipv6MappedAddr);
    }
    #[allow(clippy::cast_possible_truncation, reason = "40 bytes of header and a 16-bit payload length")]
    let l3_len = (ipv6::HEADER_LEN + usize::from(ip.payload_len())) as u32;
    p.l3_len = l3_len;
    p.l4_off = p.l3_off + ipv6::HEADER_LEN;
    p.ip_proto = ip.next_header();
    p.src = src;
    p.dst = dst;
    if matches!(p.ip_proto, IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_FRAGMENT | IPV6_DEST_OPTS) {
        return parse_ipv6_ext(ip.payload(), p);
    }
    parse_l4(ip.payload(), ip_proto::ICMPV6, p)
}

/// Walk the extension headers at the start of `payload` (the IPv6 payload, cut at its payload
/// length), whose first is `p.ip_proto`, to the transport header, and read that as
/// [`parse_l4`] does. Each header is read once; at most [`IPV6_MAX_EXT_HEADERS`] of them. Out
/// of line: most IPv6 packets have none.
#[inline(never)]
fn parse_ipv6_ext(payload: &[u8], p: &mut Parsed) -> Result<(), ParseError> {
    let base = p.l4_off;
    let mut next = p.ip_proto;
    let mut off = 0usize;
    let mut walked = 0usize;
    loop {
        match next {
            IPV6_HOP_BY_HOP if walked == 0 => {}
            IPV6_ROUTING | IPV6_FRAGMENT | IPV6_DEST_OPTS => {}
            // The transport header, another protocol, or a header that is not walked.
            _ => break,
        }
        if walked == IPV6_MAX_EXT_HEADERS {
            return Err(ParseError::BadIpv6ExtHeaders);
        }
        walked += 1;
        // Every one of these headers is at least 8 bytes: next header, length, 6 more.
        let Some(h) = payload.get(off..).and_then(|rest| rest.get(..8)) else {
            return Err(ParseError::BadIpv6ExtHeaders);
        };
        let len = if next == IPV6_FRAGMENT {
            p.is_fragment = true;
            // Offset in 8-octet units, in the 13 high bits.
            let frag_units = u16::from_be_bytes([h[2], h[3]]) >> 3;
            if frag_units != 0 {
                if frag_units == 1 && h[0] == ip_proto::TCP {
                    return Err(ParseError::TinyFragment);
                }
                // A fragment that is not the first: what follows is not a header.
                p.ip_proto = h[0];
                p.l4_off = base + off + 8;
                return Ok(());
            }
            8
        } else {
            if next == IPV6_ROUTING && h[3] != 0 {
                // Segments left: the final destination is further down the routing header, and
                // the transport checksum is over it. Left at the routing header, not balanced.
                p.ip_proto = IPV6_ROUTING;
                p.l4_off = base + off;
                return Ok(());
            }
            (usize::from(h[1]) + 1) * 8
        };
        if payload.len() - off < len {
            return Err(ParseError::BadIpv6ExtHeaders);
        }
        next = h[0];
        off += len;
    }
    p.ip_proto = next;
    p.l4_off = base + off;
    parse_l4(payload.get(off..).unwrap_or_default(), ip_proto::ICMPV6, p)
}

/// Read the L4 header of an unfragmented packet or a first fragment. `icmp_proto` is the ICMP
/// protocol number of this IP version. In a first fragment the UDP length describes the whole datagram, so
/// it is only checked against the header size.
#[inline]
fn parse_l4(payload: &[u8], icmp_proto: u8, p: &mut Parsed) -> Result<(), ParseError> {
    match p.ip_proto {
        ip_proto::TCP => {
            let tcp = TcpPacket::new_checked(payload).map_err(|e| match e {
                Error::Truncated => ParseError::TcpTruncated,
                _ => ParseError::BadTcpDataOffset,
            })?;
            p.l4 = L4::Tcp { sport: tcp.src_port(), dport: tcp.dst_port(), flags: tcp.flags() };
        }
        ip_proto::UDP => {
            let udp = UdpPacket::new_unchecked(payload);
            match udp.check_len() {
                Err(Error::Truncated) => return Err(ParseError::UdpTruncated),
                Err(_) if !p.is_fragment || usize::from(udp.len()) < super::udp::HEADER_LEN => {
                    return Err(ParseError::BadUdpLength)
                }
                _ => {}
            }
            p.l4 = L4::Udp { sport: udp.src_port(), dport: udp.dst_port() };
        }
        proto if proto == icmp_proto => {
            let min = if icmp_proto == ip_proto::ICMP { icmp::HEADER_LEN } else { ICMPV6_HEADER_LEN };
            if payload.len() < min {
                return Err(ParseError::IcmpTruncated);
            }
            p.l4 = L4::Icmp { ty: payload[0], code: payload[1] };
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use crate::wire::testdata::*;
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn a(s: &str) -> Addr {
        Addr::from(s.parse::<IpAddr>().unwrap())
    }

    fn v4_frame(l4: L4, proto: u8, dst: &str, l3_len: u32, l4_off: usize) -> Parsed {
        Parsed {
            vlan: None,
            svlan: None,
            ethertype: ethertype::IPV4,
            l3_off: 14,
            l4_off,
            l3_len,
            ip_proto: proto,
            is_fragment: false,
            src: a("198.18.0.1"),
            dst: a(dst),
            l4,
        }
    }

    /// Golden table: every test frame and the summary it must give.
    #[test]
    fn golden_frames() {
        use crate::wire::TcpFlags as Flags;
        let syn = Flags::SYN;
        let udp_query = v4_frame(L4::Udp { sport: 53000, dport: 53 }, 17, "198.18.0.53", 57, 34);
        let cases: Vec<(&str, &[u8], Parsed)> = vec![
            (
                "tcp syn",
                &TCP_SYN_V4,
                v4_frame(L4::Tcp { sport: 40000, dport: 80, flags: syn }, 6, "198.18.0.100", 60, 34),
            ),
            (
                "tcp data",
                &TCP_DATA_V4,
                v4_frame(
                    L4::Tcp { sport: 40000, dport: 80, flags: Flags::PSH | Flags::ACK },
                    6,
                    "198.18.0.100",
                    58,
                    34,
                ),
            ),
            ("udp", &UDP_V4, udp_query),
            (
                "udp padded",
                &UDP_V4_PADDED,
                v4_frame(L4::Udp { sport: 1234, dport: 5678 }, 17, "198.18.0.2", 30, 34),
            ),
            (
                "udp options",
                &UDP_V4_OPTIONS,
                v4_frame(L4::Udp { sport: 7, dport: 7 }, 17, "198.18.0.100", 36, 38),
            ),
            ("icmp echo", &ICMP_ECHO_REQ, v4_frame(L4::Icmp { ty: 8, code: 0 }, 1, "198.18.0.100", 44, 34)),
            ("udp vlan", &UDP_V4_VLAN, Parsed { vlan: Some(100), l3_off: 18, l4_off: 38, ..udp_query }),
            (
                "udp qinq",
                &UDP_V4_QINQ,
                Parsed { vlan: Some(20), svlan: Some(10), l3_off: 22, l4_off: 42, ..udp_query },
            ),
            (
                "later fragment",
                &FRAG_LATER,
                Parsed { is_fragment: true, ..v4_frame(L4::Unparsed, 17, "198.18.0.100", 60, 34) },
            ),
            (
                "first fragment",
                &FRAG_FIRST,
                Parsed {
                    is_fragment: true,
                    ..v4_frame(L4::Udp { sport: 4000, dport: 4001 }, 17, "198.18.0.100", 60, 34)
                },
            ),
            (
                "tcp v6",
                &TCP_SYNACK_V6,
                Parsed {
                    vlan: None,
                    svlan: None,
                    ethertype: ethertype::IPV6,
                    l3_off: 14,
                    l4_off: 54,
                    l3_len: 68,
                    ip_proto: 6,
                    is_fragment: false,
                    src: a("2001:db8::2"),
                    dst: a("2001:db8::1"),
                    l4: L4::Tcp { sport: 443, dport: 51000, flags: Flags::SYN | Flags::ACK },
                },
            ),
            (
                "arp",
                &ARP_REQ,
                Parsed {
                    vlan: None,
                    svlan: None,
                    ethertype: ethertype::ARP,
                    l3_off: 14,
                    l4_off: 14,
                    l3_len: 46,
                    ip_proto: 0,
                    is_fragment: false,
                    src: Addr::UNSPECIFIED,
                    dst: Addr::UNSPECIFIED,
                    l4: L4::Unparsed,
                },
            ),
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse_frame(frame), Ok(want), "{name}");
        }
        let v6 = parse_frame(&UDP_V6).unwrap();
        assert_eq!((v6.ip_proto, v6.l4, v6.l3_len), (17, L4::Udp { sport: 5353, dport: 5353 }, 61));
    }

    #[test]
    fn summary_helpers() {
        let p = parse_frame(&TCP_SYN_V4).unwrap();
        assert!(p.is_ipv4() && !p.is_ipv6());
        assert_eq!(p.ports(), Some((40000, 80)));
        assert_eq!(p.tcp_flags(), Some(TcpFlags::SYN));
        let key = p.flow_key().unwrap();
        assert_eq!(
            (key.src, key.dst, key.sport, key.dport, key.proto),
            (p.src, p.dst, 40000, 80, Proto::Tcp)
        );
        let u = parse_frame(&UDP_V6).unwrap();
        assert!(u.is_ipv6());
        assert_eq!(u.flow_key().map(|k| k.proto), Some(Proto::Udp));
        // The packet path's variant reads the ports from the frame: the same key, for every kind.
        for frame in
            [&TCP_SYN_V4[..], &TCP_DATA_V4, &UDP_V4, &UDP_V4_QINQ, &TCP_SYNACK_V6, &UDP_V6, &ICMP_ECHO_REQ]
        {
            let p = parse_frame(frame).unwrap();
            assert_eq!(p.flow_key_in(frame), p.flow_key());
        }
        assert_eq!(u.tcp_flags(), None);
        let icmp = parse_frame(&ICMP_FRAG_NEEDED).unwrap();
        assert_eq!(icmp.l4, L4::Icmp { ty: 3, code: 4 });
        assert_eq!((icmp.ports(), icmp.flow_key()), (None, None));
        // Two 16-byte-aligned addresses and the offsets: keep it from growing.
        assert!(core::mem::size_of::<Parsed>() <= 80, "{}", core::mem::size_of::<Parsed>());
    }

    #[test]
    fn truncated_at_every_offset() {
        for frame in [&TCP_SYN_V4[..], &TCP_DATA_V4, &UDP_V4, &UDP_V4_QINQ, &TCP_SYNACK_V6, &ICMP_ECHO_REQ] {
            for len in 0..frame.len() {
                assert!(parse_frame(&frame[..len]).is_err(), "len {len} of {frame:02x?}");
            }
        }
        // The reason follows the layer the cut falls in.
        let at = |len: usize| parse_frame(&TCP_SYN_V4[..len]).unwrap_err();
        assert_eq!(at(13), ParseError::EthernetTruncated);
        assert_eq!(at(33), ParseError::Ipv4Truncated);
        assert_eq!(at(34), ParseError::BadTotalLength);
        assert_eq!(parse_frame(&UDP_V4_VLAN[..17]), Err(ParseError::VlanTruncated));
        assert_eq!(parse_frame(&UDP_V4_QINQ[..21]), Err(ParseError::VlanTruncated));
        assert_eq!(parse_frame(&TCP_SYNACK_V6[..53]), Err(ParseError::Ipv6Truncated));
        assert_eq!(parse_frame(&TCP_SYNACK_V6[..60]), Err(ParseError::BadPayloadLength));
        assert_eq!(parse_frame(&ARP_REQ[..41]), Err(ParseError::ArpTruncated));
        assert!(parse_frame(&ARP_REQ[..42]).is_ok());
    }

    /// Copy `frame`, apply `edit` to its L3 bytes (from offset 14), and optionally fix the IPv4
    /// header checksum so that the edit is the only fault.
    fn mutated(frame: &[u8], fix_ip_checksum: bool, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut l3 = frame[14..].to_vec();
        edit(&mut l3);
        if fix_ip_checksum {
            let hl = (usize::from(l3[0] & 0x0f) * 4).clamp(20, l3.len());
            l3[10..12].fill(0);
            let c = checksum::finish(checksum::data(&l3[..hl]));
            l3[10..12].copy_from_slice(&c.to_be_bytes());
        }
        [&frame[..14], &l3[..]].concat()
    }

    fn set16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    #[test]
    fn malformed_corpus() {
        use ParseError::*;
        let cases: Vec<(&str, Vec<u8>, ParseError)> = vec![
            ("ihl 4", mutated(&TCP_SYN_V4, true, |b| b[0] = 0x44), BadIhl),
            ("ihl 0", mutated(&TCP_SYN_V4, true, |b| b[0] = 0x40), BadIhl),
            (
                "ihl past buffer",
                mutated(&TCP_SYN_V4, true, |b| {
                    b.truncate(40);
                    b[0] = 0x4f;
                    set16(b, 2, 40);
                }),
                BadIhl,
            ),
            ("total < header", mutated(&TCP_SYN_V4, true, |b| set16(b, 2, 19)), BadTotalLength),
            ("total < ihl*4", mutated(&UDP_V4_OPTIONS, true, |b| set16(b, 2, 23)), BadTotalLength),
            ("total > buffer", mutated(&TCP_SYN_V4, true, |b| set16(b, 2, 61)), BadTotalLength),
            ("version 6 in ipv4", mutated(&TCP_SYN_V4, true, |b| b[0] = 0x65), BadIpVersion),
            ("version 4 in ipv6", mutated(&TCP_SYNACK_V6, false, |b| b[0] = 0x4b), BadIpVersion),
            ("bad checksum", mutated(&TCP_SYN_V4, false, |b| b[8] = 1), BadIpv4Checksum),
            ("data offset 4", mutated(&TCP_SYN_V4, false, |b| b[32] = 0x40), BadTcpDataOffset),
            ("data offset 0", mutated(&TCP_SYN_V4, false, |b| b[32] = 0x00), BadTcpDataOffset),
            ("data offset past packet", mutated(&TCP_SYN_V4, false, |b| b[32] = 0xb0), BadTcpDataOffset),
            ("tcp header cut by total length", mutated(&TCP_SYN_V4, true, |b| set16(b, 2, 39)), TcpTruncated),
            ("udp length 7", mutated(&UDP_V4, false, |b| set16(b, 24, 7)), BadUdpLength),
            ("udp length 0", mutated(&UDP_V4, false, |b| set16(b, 24, 0)), BadUdpLength),
            ("udp length > ip payload", mutated(&UDP_V4, false, |b| set16(b, 24, 38)), BadUdpLength),
            // The padded frame has 16 bytes of padding after the datagram, so this one is past
            // the IP payload but inside the buffer: the IP total length must bound it.
            ("udp length into padding", mutated(&UDP_V4_PADDED, false, |b| set16(b, 24, 11)), BadUdpLength),
            ("udp header cut", mutated(&UDP_V4, true, |b| set16(b, 2, 27)), UdpTruncated),
            ("first fragment udp cut", mutated(&FRAG_FIRST, true, |b| set16(b, 2, 27)), UdpTruncated),
            ("first fragment udp length 7", mutated(&FRAG_FIRST, false, |b| set16(b, 24, 7)), BadUdpLength),
            ("icmp cut", mutated(&ICMP_ECHO_REQ, true, |b| set16(b, 2, 27)), IcmpTruncated),
            ("tiny tcp fragment", mutated(&TCP_DATA_V4, true, |b| set16(b, 6, 1)), TinyFragment),
            ("v6 payload past buffer", mutated(&TCP_SYNACK_V6, false, |b| set16(b, 4, 29)), BadPayloadLength),
            (
                "v6 v4-mapped source",
                mutated(&TCP_SYNACK_V6, false, |b| b[8..24].copy_from_slice(&a("198.18.0.1").0)),
                Ipv6MappedAddr,
            ),
            ("v6 tcp data offset 3", mutated(&TCP_SYNACK_V6, false, |b| b[52] = 0x30), BadTcpDataOffset),
            ("v6 udp length 300", mutated(&UDP_V6, false, |b| set16(b, 44, 300)), BadUdpLength),
            (
                "v6 icmpv6 cut",
                mutated(&UDP_V6, false, |b| {
                    b[6] = 58;
                    set16(b, 4, 3)
                }),
                IcmpTruncated,
            ),
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse_frame(&frame), Err(want), "{name}");
        }
    }

    const C6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
    const V6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    const GW6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const MAC1: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
    const MAC2: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

    fn eth6(ip: &[u8]) -> Vec<u8> {
        crate::craft::ethernet(MAC2, MAC1, ethertype::IPV6, ip)
    }

    /// `frame` (untagged IPv6) with its payload length set to `len` and the frame cut to match,
    /// plus `pad` zero bytes of Ethernet padding.
    fn v6_payload_cut(frame: &[u8], len: usize, pad: usize) -> Vec<u8> {
        let mut f = frame[..14 + 40 + len].to_vec();
        set16(&mut f, 18, u16::try_from(len).unwrap());
        f.resize(f.len() + pad, 0);
        f
    }

    /// An ICMPv6 destination unreachable (port) from a router about a TCP SYN from the VIP to a
    /// client, quoting `quote`.
    fn icmp6_error(ty: u8, quote: &[u8]) -> Vec<u8> {
        eth6(&crate::craft::icmpv6_error(GW6, V6, ty, 4, [0, 0, 0x05, 0x00], quote))
    }

    /// The IPv6 frames the corpus starts from: TCP, UDP, ICMPv6 echo, NS, NA, an error.
    fn v6_frames() -> Vec<(&'static str, Vec<u8>)> {
        use crate::craft;
        let syn = craft::tcp_v6(V6, C6, 80, 40000, 0x12, b"");
        vec![
            ("tcp synack", TCP_SYNACK_V6.to_vec()),
            ("udp", UDP_V6.to_vec()),
            ("tcp with data", eth6(&craft::tcp_v6(C6, V6, 40000, 80, 0x18, b"GET / HTTP/1.0\r\n\r\n"))),
            ("echo", eth6(&craft::icmpv6_echo(C6, V6, 7, 1, b"ping", true))),
            (
                "ns",
                eth6(&craft::ndp_ns(GW6, crate::wire::ndp::solicited_node_multicast(&V6), V6, Some(MAC1))),
            ),
            ("na", eth6(&craft::ndp_na(V6, GW6, V6, crate::wire::NdpFlags::SOLICITED, Some(MAC2)))),
            ("dst unreachable", icmp6_error(1, &syn)),
            ("packet too big", icmp6_error(2, &syn)),
        ]
    }

    /// Every Ok of a frame also goes through the rest of what the worker does before its own
    /// code: the steering of the frame to a worker, which reads an ICMPv6 error's quote, and the
    /// ICMPv6 and NDP views.
    fn exercise_v6(buf: &[u8], p: &Parsed) {
        check_invariants(buf, p);
        let steering = crate::steer::Steering::new(4, 24, 64, [0x6d; 40]);
        let _ = steering.owner_of(p, buf, |a| *a == Addr::from_v6(V6));
        let _ = steering.owner_of(p, buf, |_| false);
        if p.is_ipv6() && matches!(p.l4, L4::Icmp { .. }) {
            let m = &buf[p.l4_off..p.l3_off + p.l3_len as usize];
            // The classifier promises the 4-byte ICMPv6 header; the view wants the 8 bytes of
            // the message header, so a message of 4 to 7 bytes is classified and left unviewed.
            let Ok(icmp) = crate::wire::Icmpv6Packet::new_checked(m) else {
                assert!((4..crate::wire::icmpv6::HEADER_LEN).contains(&m.len()), "{} bytes", m.len());
                return;
            };
            let _ = (icmp.msg_type(), icmp.msg_code(), icmp.body(), icmp.is_error(), icmp.data());
            let _ = (icmp.echo_ident(), icmp.pkt_too_big_mtu(), crate::wire::NdpRepr::parse(&icmp));
            if let Ok(q) = Ipv6Packet::new_checked(icmp.data()) {
                let _ = (q.src(), q.dst(), q.payload(), q.next_header());
            }
        }
    }

    /// IPv6 frames cut at every byte: inside the fixed header `Ipv6Truncated`, after it (payload
    /// length unchanged) `BadPayloadLength`; with the payload length cut to match (with and
    /// without Ethernet padding after it), the L4 header cut at every byte is its own error.
    #[test]
    fn ipv6_truncated_at_every_offset() {
        use ParseError::*;
        for (name, frame) in v6_frames() {
            let full = parse_frame(&frame).unwrap_or_else(|e| panic!("{name}: {e}"));
            exercise_v6(&frame, &full);
            for len in 0..frame.len() {
                let want = match len {
                    0..=13 => EthernetTruncated,
                    14..=53 => Ipv6Truncated,
                    _ => BadPayloadLength,
                };
                assert_eq!(parse_frame(&frame[..len]), Err(want), "{name} cut at {len}");
            }
            let payload = frame.len() - 54;
            for len in 0..payload {
                for pad in [0, 8, 64] {
                    let f = v6_payload_cut(&frame, len, pad);
                    let got = parse_frame(&f);
                    let want = match full.l4 {
                        L4::Tcp { .. } if len < 20 => Err(TcpTruncated),
                        L4::Tcp { .. } if len < usize::from(frame[54 + 12] >> 4) * 4 => Err(BadTcpDataOffset),
                        L4::Tcp { .. } => {
                            assert_eq!(got.map(|p| p.l4), Ok(full.l4), "{name} {len}+{pad}");
                            continue;
                        }
                        L4::Udp { .. } if len < 8 => Err(UdpTruncated),
                        L4::Udp { .. } => Err(BadUdpLength),
                        L4::Icmp { .. } if len < 4 => Err(IcmpTruncated),
                        L4::Icmp { ty, code } => {
                            assert_eq!(got.map(|p| p.l4), Ok(L4::Icmp { ty, code }), "{name} {len}+{pad}");
                            exercise_v6(&f, &got.unwrap());
                            continue;
                        }
                        L4::Unparsed => unreachable!("{name}"),
                    };
                    assert_eq!(got, want, "{name}: payload length {len}, {pad} bytes of padding");
                }
            }
        }
    }

    #[test]
    fn malformed_ipv6_corpus() {
        use ParseError::*;
        let echo = eth6(&crate::craft::icmpv6_echo(C6, V6, 7, 1, b"ping", true));
        let mut short = TCP_SYNACK_V6[..14].to_vec();
        short.extend_from_slice(&[0x60; 39]);
        let cases: Vec<(&str, Vec<u8>, ParseError)> = vec![
            ("39 bytes of header", short, Ipv6Truncated),
            ("ethertype and nothing", TCP_SYNACK_V6[..14].to_vec(), Ipv6Truncated),
            ("version 0", mutated(&TCP_SYNACK_V6, false, |b| b[0] = 0x0b), BadIpVersion),
            ("version 7", mutated(&TCP_SYNACK_V6, false, |b| b[0] = 0x7b), BadIpVersion),
            ("version 15", mutated(&UDP_V6, false, |b| b[0] = 0xf0), BadIpVersion),
            (
                "payload length one past",
                mutated(&TCP_SYNACK_V6, false, |b| set16(b, 4, 29)),
                BadPayloadLength,
            ),
            ("payload length 0xffff", mutated(&UDP_V6, false, |b| set16(b, 4, 0xffff)), BadPayloadLength),
            ("payload length 0, tcp", mutated(&TCP_SYNACK_V6, false, |b| set16(b, 4, 0)), TcpTruncated),
            ("payload length 0, udp", mutated(&UDP_V6, false, |b| set16(b, 4, 0)), UdpTruncated),
            ("payload length 0, icmpv6", mutated(&echo, false, |b| set16(b, 4, 0)), IcmpTruncated),
            ("payload length 19, tcp", mutated(&TCP_SYNACK_V6, false, |b| set16(b, 4, 19)), TcpTruncated),
            (
                "tcp options cut by payload length",
                mutated(&TCP_SYNACK_V6, false, |b| set16(b, 4, 27)),
                BadTcpDataOffset,
            ),
            (
                "v4-mapped destination",
                mutated(&UDP_V6, false, |b| b[24..40].copy_from_slice(&a("198.18.0.100").0)),
                Ipv6MappedAddr,
            ),
            ("tcp data offset 0", mutated(&TCP_SYNACK_V6, false, |b| b[52] = 0x00), BadTcpDataOffset),
            ("tcp data offset 15", mutated(&TCP_SYNACK_V6, false, |b| b[52] = 0xf0), BadTcpDataOffset),
            ("udp length 0 (no jumbograms)", mutated(&UDP_V6, false, |b| set16(b, 44, 0)), BadUdpLength),
            ("udp length 7", mutated(&UDP_V6, false, |b| set16(b, 44, 7)), BadUdpLength),
            ("udp length one past", mutated(&UDP_V6, false, |b| set16(b, 44, 22)), BadUdpLength),
            (
                "udp length into padding",
                mutated(&UDP_V6, false, |b| {
                    b.extend_from_slice(&[0; 16]);
                    set16(b, 44, 30);
                }),
                BadUdpLength,
            ),
            (
                "udp in a v6 vlan frame, cut",
                {
                    let mut f = crate::craft::ethernet_vlan(MAC2, MAC1, 100, ethertype::IPV6, &UDP_V6[14..]);
                    f.truncate(18 + 40 + 4);
                    set16(&mut f, 22, 4);
                    f
                },
                UdpTruncated,
            ),
        ];
        for (name, frame, want) in cases {
            assert_eq!(parse_frame(&frame), Err(want), "{name}");
        }
    }

    /// PadN filling an 8-byte options header; a routing header of type 0 with `left` segments
    /// left; a fragment header at `units` × 8 bytes with more fragments to come.
    const PAD: &[u8] = &[1, 4, 0, 0, 0, 0];
    fn routing(left: u8) -> [u8; 6] {
        [0, left, 0, 0, 0, 0]
    }
    fn fragment(units: u16) -> [u8; 6] {
        let o = ((units << 3) | 1).to_be_bytes();
        [o[0], o[1], 0, 0, 0, 7]
    }

    /// An extension header chain for `craft::ipv6_ext_chain`: (kind, body after the first 2 bytes).
    type Chain<'a> = Vec<(u8, &'a [u8])>;

    /// `upper` (a packet from `craft`) behind `exts`, in a frame, and its summary.
    fn chained(upper: &[u8], exts: &[(u8, &[u8])]) -> (Vec<u8>, Parsed) {
        let frame = eth6(&crate::craft::ipv6_ext_chain(upper, exts));
        let p = parse_frame(&frame).unwrap_or_else(|e| panic!("{exts:?}: {e}"));
        exercise_v6(&frame, &p);
        (frame, p)
    }

    /// Hop-by-hop, destination options and routing headers (segments left 0), alone and
    /// chained, in front of TCP, UDP and ICMPv6: walked to the transport header, which is read.
    #[test]
    fn ipv6_extension_headers_are_walked_to_the_transport_header() {
        use crate::craft;
        let tcp = craft::tcp_v6(C6, V6, 40000, 80, 0x02, b"");
        let udp = craft::udp_v6(C6, V6, 5353, 53, b"q");
        let echo = craft::icmpv6_echo(C6, V6, 7, 1, b"ping", true);
        let syn = L4::Tcp { sport: 40000, dport: 80, flags: TcpFlags::SYN };
        let query = L4::Udp { sport: 5353, dport: 53 };
        let ping = L4::Icmp { ty: 128, code: 0 };
        let r0 = routing(0);
        let long_pad = [1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let cases: Vec<(&str, &[u8], Chain, L4, usize)> = vec![
            ("hop-by-hop, tcp", &tcp, vec![(0, PAD)], syn, 8),
            ("destination options, tcp", &tcp, vec![(60, PAD)], syn, 8),
            ("routing, 0 left, tcp", &tcp, vec![(43, &r0)], syn, 8),
            ("hop-by-hop, udp", &udp, vec![(0, PAD)], query, 8),
            ("destination options of 16 bytes, udp", &udp, vec![(60, &long_pad)], query, 16),
            ("hop-by-hop, destination options, icmpv6", &echo, vec![(0, PAD), (60, PAD)], ping, 16),
            (
                "hop-by-hop, routing, destination options, tcp",
                &tcp,
                vec![(0, PAD), (43, &r0), (60, PAD)],
                syn,
                24,
            ),
            ("destination options twice, udp", &udp, vec![(60, PAD), (43, &r0), (60, &long_pad)], query, 32),
        ];
        for (name, upper, exts, l4, chain) in cases {
            let (frame, p) = chained(upper, &exts);
            assert_eq!(p.l4, l4, "{name}");
            assert_eq!((p.l4_off, p.l3_len as usize), (54 + chain, frame.len() - 14), "{name}");
            assert_eq!((p.ip_proto, p.is_fragment), (upper[6], false), "{name}");
            assert_eq!((p.src, p.dst), (Addr::from_v6(C6), Addr::from_v6(V6)), "{name}");
            assert_eq!(p.flow_key_in(&frame), p.flow_key(), "{name}");
        }
    }

    /// The chain and the transport header cut by the payload length at every byte (with and
    /// without padding after it), a length past the payload, the frame cut under the payload
    /// length: each its own error, never a read past the payload.
    #[test]
    fn ipv6_extension_header_chains_cut_anywhere() {
        use crate::craft;
        use ParseError::*;
        let tcp = craft::tcp_v6(C6, V6, 40000, 80, 0x02, b"");
        let (frame, _) = chained(&tcp, &[(0, PAD), (43, &routing(0)[..]), (60, PAD)]);
        assert_eq!(frame.len(), 14 + 40 + 24 + 20);
        for len in 0..44 {
            for pad in [0, 8, 64] {
                let want = if len < 24 { BadIpv6ExtHeaders } else { TcpTruncated };
                assert_eq!(parse_frame(&v6_payload_cut(&frame, len, pad)), Err(want), "{len}+{pad}");
            }
        }
        for len in 0..frame.len() {
            assert!(parse_frame(&frame[..len]).is_err(), "frame cut at {len}");
        }
        // Each header's length made to run past the payload; or longer, so that the walk goes on
        // from inside the next header or the TCP header: whatever it then finds, it stays in the
        // payload.
        for at in [55, 63, 71] {
            let f = mutated(&frame, false, |b| b[at - 14] = 0xff);
            assert_eq!(parse_frame(&f), Err(BadIpv6ExtHeaders), "byte {at}");
            for v in 1..=5 {
                let f = mutated(&frame, false, |b| b[at - 14] = v);
                if let Ok(p) = parse_frame(&f) {
                    exercise_v6(&f, &p);
                }
            }
        }
        // The destination options swallowing the TCP header's first 8 bytes: what remains is cut.
        assert_eq!(parse_frame(&mutated(&frame, false, |b| b[71 - 14] = 1)), Err(TcpTruncated));
        assert_eq!(parse_frame(&mutated(&frame, false, |b| b[71 - 14] = 3)), Err(BadIpv6ExtHeaders));
        // A chain with nothing after it, and one whose last header says UDP, or ICMPv6, over
        // the TCP header.
        let (f, p) = chained(&craft::ipv6(C6, V6, 59, 64, b""), &[(0, PAD)]);
        assert_eq!((p.ip_proto, p.l4, p.l4_off, f.len()), (59, L4::Unparsed, 62, 62));
        let f = mutated(&frame, false, |b| b[70 - 14] = 17);
        // The TCP sequence number read as the UDP length: the UDP header is read where TCP's was.
        assert_eq!(parse_frame(&f), Err(BadUdpLength));
        let f = mutated(&frame, false, |b| b[70 - 14] = 58);
        assert_eq!(parse_frame(&f).map(|p| (p.l4_off, p.l4)), Ok((78, L4::Icmp { ty: 0x9c, code: 0x40 })));
        assert_eq!(parse_frame(&v6_payload_cut(&f, 27, 0)), Err(IcmpTruncated));
    }

    /// At most eight extension headers are walked: a ninth is refused, however short.
    #[test]
    fn ipv6_extension_header_chains_are_bounded() {
        use crate::craft;
        let tcp = craft::tcp_v6(C6, V6, 40000, 80, 0x02, b"");
        let r0 = routing(0);
        for n in 1..=12 {
            for kind in [60u8, 43] {
                let body: &[u8] = if kind == 43 { &r0 } else { PAD };
                let mut exts = vec![(0u8, PAD)];
                exts.extend(std::iter::repeat_n((kind, body), n - 1));
                let frame = eth6(&craft::ipv6_ext_chain(&tcp, &exts));
                let got = parse_frame(&frame);
                if n <= IPV6_MAX_EXT_HEADERS {
                    let p = got.unwrap_or_else(|e| panic!("{n} headers: {e}"));
                    assert_eq!((p.ip_proto, p.l4_off), (6, 54 + 8 * n), "{n}");
                    assert!(matches!(p.l4, L4::Tcp { .. }));
                    exercise_v6(&frame, &p);
                } else {
                    assert_eq!(got, Err(ParseError::BadIpv6ExtHeaders), "{n} headers");
                }
            }
        }
        // Eight fragment headers count as headers too.
        let frags: Vec<(u8, &[u8])> = vec![(44, &[0, 1, 0, 0, 0, 1][..]); 9];
        let frame = eth6(&craft::ipv6_ext_chain(&tcp, &frags));
        assert_eq!(parse_frame(&frame), Err(ParseError::BadIpv6ExtHeaders));
        let frame = eth6(&craft::ipv6_ext_chain(&tcp, &frags[1..]));
        let p = parse_frame(&frame).unwrap();
        assert!(p.is_fragment && matches!(p.l4, L4::Tcp { .. }));
    }

    /// A fragment header anywhere in the chain flags the packet. A first fragment (offset 0) is
    /// read on to its transport header, as an IPv4 first fragment is; a later one stops at the
    /// fragment header with the protocol it names, its transport header unread; one at offset
    /// 8 of TCP is a tiny fragment (RFC 1858 §4), as in IPv4.
    #[test]
    fn ipv6_fragment_headers_in_the_chain() {
        use crate::craft;
        let tcp = craft::tcp_v6(C6, V6, 40000, 80, 0x02, b"");
        let udp = craft::udp_v6(C6, V6, 5353, 53, b"a longer datagram than this fragment");
        let syn = L4::Tcp { sport: 40000, dport: 80, flags: TcpFlags::SYN };
        let (f0, f1, f9) = (fragment(0), fragment(1), fragment(9));
        for exts in
            [vec![(44, &f0[..])], vec![(0, PAD), (44, &f0)], vec![(0, PAD), (60, PAD), (44, &f0), (60, PAD)]]
        {
            let (_, p) = chained(&tcp, &exts);
            assert_eq!((p.is_fragment, p.ip_proto, p.l4, p.l4_off), (true, 6, syn, 54 + 8 * exts.len()));
        }
        // A first fragment's UDP length is the whole datagram's.
        let mut first = craft::ipv6_ext_chain(&udp, &[(0, PAD), (44, &f0)]);
        first.truncate(40 + 16 + 8 + 4);
        set16(&mut first, 4, 16 + 8 + 4);
        let p = parse_frame(&eth6(&first)).unwrap();
        assert_eq!((p.is_fragment, p.l4), (true, L4::Udp { sport: 5353, dport: 53 }));
        // Later fragments: the protocol named, nothing read after the fragment header.
        for (exts, off) in [(vec![(44, &f9[..])], 62), (vec![(0, PAD), (60, PAD), (44, &f9)], 78)] {
            let (f, p) = chained(&tcp, &exts);
            assert_eq!((p.is_fragment, p.ip_proto, p.l4, p.l4_off), (true, 6, L4::Unparsed, off));
            assert!(parse_frame(&v6_payload_cut(&f, off - 54, 0)).is_ok_and(|p| p.l4 == L4::Unparsed));
        }
        let (_, p) = chained(&udp, &[(0, PAD), (44, &f1)]);
        assert_eq!((p.is_fragment, p.ip_proto, p.l4), (true, 17, L4::Unparsed));
        let frame = eth6(&craft::ipv6_ext_chain(&tcp, &[(0, PAD), (44, &f1)]));
        assert_eq!(parse_frame(&frame), Err(ParseError::TinyFragment));
        // The fragment header itself cut.
        for len in 8..16 {
            let f = v6_payload_cut(&frame, len, 8);
            assert_eq!(parse_frame(&f), Err(ParseError::BadIpv6ExtHeaders), "{len}");
        }
    }

    /// A routing header with segments left names a final destination other than the destination
    /// field: the walk stops there, the packet left as protocol 43 with its transport header
    /// unread (the worker drops it as `ipv6`). So does a hop-by-hop header after the first
    /// (RFC 8200 §4.3), and an extension header that is not walked (mobility, 135).
    #[test]
    fn ipv6_chains_the_walk_stops_in() {
        use crate::craft;
        let tcp = craft::tcp_v6(C6, V6, 40000, 80, 0x02, b"");
        let (r1, r255) = (routing(1), routing(255));
        let cases: Vec<(Chain, u8, usize)> = vec![
            (vec![(43, &r1[..])], 43, 54),
            (vec![(0, PAD), (43, &r255)], 43, 62),
            (vec![(0, PAD), (60, PAD), (43, &r1), (60, PAD)], 43, 70),
            (vec![(60, PAD), (0, PAD)], 0, 62),
            (vec![(0, PAD), (0, PAD)], 0, 62),
            (vec![(0, PAD), (135, PAD)], 135, 62),
        ];
        for (exts, proto, off) in cases {
            let (f, p) = chained(&tcp, &exts);
            assert_eq!(
                (p.ip_proto, p.l4, p.l4_off, p.is_fragment),
                (proto, L4::Unparsed, off, false),
                "{exts:?}"
            );
            // Whatever follows the stop is not read: cut right after the routing header's first
            // 8 bytes (which hold its segments left), or at the header that is not walked.
            let len = if proto == 43 { off - 54 + 8 } else { off - 54 };
            let p = parse_frame(&v6_payload_cut(&f, len, 0));
            assert_eq!(p.map(|p| (p.ip_proto, p.l4)), Ok((proto, L4::Unparsed)), "{exts:?}");
            if proto == 43 {
                let p = parse_frame(&v6_payload_cut(&f, len - 1, 8));
                assert_eq!(p, Err(ParseError::BadIpv6ExtHeaders), "{exts:?}");
            }
        }
    }

    /// ICMPv6 errors whose quote is cut, empty, not IPv6, or claims more than it holds: the
    /// classifier passes them as ICMPv6 (the quote is the worker's to judge), and steering, which
    /// reads the quoted addresses, falls back without reading past the message.
    #[test]
    fn ipv6_errors_with_damaged_quotes() {
        use crate::craft;
        let syn = craft::tcp_v6(V6, C6, 80, 40000, 0x12, b"");
        let steering = crate::steer::Steering::new(4, 24, 64, [0x6d; 40]);
        let is_vip = |a: &Addr| *a == Addr::from_v6(V6);
        let mut v4_quote = syn.clone();
        v4_quote[0] = 0x45;
        let mut long_quote = syn.clone();
        set16(&mut long_quote, 4, 0xffff);
        let mut mapped = syn.clone();
        mapped[8..24].copy_from_slice(&a("198.18.0.100").0);
        let quotes: Vec<(&str, Vec<u8>, bool)> = vec![
            ("empty", vec![], false),
            ("one byte", vec![0x60], false),
            ("39 bytes", syn[..39].to_vec(), false),
            ("header only", syn[..40].to_vec(), true),
            ("tcp cut at 3", syn[..43].to_vec(), true),
            ("version 4", v4_quote, true),
            ("payload length 0xffff", long_quote, true),
            ("v4-mapped source", mapped, true),
            ("all ones", vec![0xff; 64], true),
        ];
        for ty in 1..=4 {
            for (name, quote, steered) in &quotes {
                let frame = icmp6_error(ty, quote);
                let p = parse_frame(&frame).unwrap_or_else(|e| panic!("type {ty}, {name}: {e}"));
                assert_eq!(p.l4, L4::Icmp { ty, code: 4 }, "{name}");
                exercise_v6(&frame, &p);
                let owner = steering.owner_of(&p, &frame, is_vip);
                assert_eq!(owner.is_some(), *steered, "type {ty}, {name}");
                if *name == "header only" {
                    assert_eq!(owner, Some(steering.owner(&Addr::from_v6(C6))), "the quoted client's owner");
                }
                // The message cut inside its own 8-byte header: classified if 4 bytes are there,
                // never steered by a quote it does not have.
                for len in 0..8 {
                    let f = v6_payload_cut(&frame, len, 16);
                    match parse_frame(&f) {
                        Ok(p) => {
                            assert!(len >= 4, "{len}");
                            assert_eq!(steering.owner_of(&p, &f, is_vip), None, "type {ty}, cut at {len}");
                            exercise_v6(&f, &p);
                        }
                        Err(e) => assert_eq!((e, len < 4), (ParseError::IcmpTruncated, true)),
                    }
                }
            }
        }
    }

    /// NS and NA with bad options and fields: valid IPv6 and ICMPv6 to the classifier; the NDP
    /// view refuses each for its reason.
    #[test]
    fn ndp_with_bad_options() {
        use crate::craft;
        use crate::wire::{Error, Icmpv6Packet, NdpRepr};
        let ns = eth6(&craft::ndp_ns(GW6, crate::wire::ndp::solicited_node_multicast(&V6), V6, Some(MAC1)));
        let na = eth6(&craft::ndp_na(V6, GW6, V6, crate::wire::NdpFlags::SOLICITED, Some(MAC2)));
        // The option starts 24 bytes into the message, which starts at 54.
        const OPT: usize = 54 + 24;
        let ndp = |f: &[u8]| {
            let p = parse_frame(f).expect("valid to the classifier");
            exercise_v6(f, &p);
            let m = &f[p.l4_off..p.l3_off + p.l3_len as usize];
            Icmpv6Packet::new_checked(m).and_then(|i| NdpRepr::parse(&i))
        };
        assert!(ndp(&ns).is_ok() && ndp(&na).is_ok());
        for frame in [&ns, &na] {
            let edit = |at: usize, v: u8| mutated(frame, false, |b| b[at - 14] = v);
            assert_eq!(ndp(&edit(OPT + 1, 0)), Err(Error::BadLength), "option length 0");
            assert_eq!(ndp(&edit(OPT + 1, 2)), Err(Error::BadLength), "option past the end");
            assert_eq!(ndp(&edit(OPT + 1, 0xff)), Err(Error::BadLength), "option far past the end");
            assert_eq!(ndp(&edit(54 + 1, 1)), Err(Error::Unsupported), "code 1");
            assert_eq!(ndp(&edit(54 + 8, 0xff)), Err(Error::Unsupported), "multicast target");
            // An unknown option is skipped; the message is then without an address.
            assert!(ndp(&edit(OPT, 99)).unwrap().ll_addr().is_none(), "unknown option");
            // Options cut at every byte by the payload length.
            for cut in 0..8 {
                let f = v6_payload_cut(frame, 24 + cut, 0);
                let got = ndp(&f);
                assert!(matches!(got, Err(Error::BadLength) | Ok(_)), "option cut at {cut}: {got:?}");
            }
            // The fixed part cut: Truncated from the view, never a panic.
            for len in 4..24 {
                assert_eq!(
                    ndp(&v6_payload_cut(frame, len, 8)),
                    Err(Error::Truncated),
                    "message of {len} bytes"
                );
            }
        }
    }

    #[test]
    fn bad_vlan_stacks() {
        let mut triple = UDP_V4_QINQ[..20].to_vec();
        triple.extend_from_slice(&[0x81, 0x00, 0x00, 0x1e]);
        triple.extend_from_slice(&UDP_V4_QINQ[20..]);
        assert_eq!(parse_frame(&triple), Err(ParseError::BadVlan));
        let mut reserved = UDP_V4_VLAN.to_vec();
        reserved[14..16].copy_from_slice(&0x0fffu16.to_be_bytes());
        assert_eq!(parse_frame(&reserved), Err(ParseError::BadVlan));
    }

    #[test]
    fn uninteresting_is_not_an_error() {
        // GRE (47) over IPv4, checksum fixed: valid, not looked into.
        let gre = mutated(&UDP_V4, true, |b| b[9] = 47);
        let p = parse_frame(&gre).unwrap();
        assert_eq!((p.ip_proto, p.l4, p.l4_off), (47, L4::Unparsed, 34));
        // An IPv6 fragment header: flagged, not looked into.
        let frag6 = mutated(&UDP_V6, false, |b| b[6] = IPV6_FRAGMENT);
        let p = parse_frame(&frag6).unwrap();
        assert!(p.is_fragment && p.l4 == L4::Unparsed);
        // ICMPv6 over IPv4 is just another protocol number.
        let p = parse_frame(&mutated(&UDP_V4, true, |b| b[9] = 58)).unwrap();
        assert_eq!(p.l4, L4::Unparsed);
        // An unknown ethertype (LLDP).
        let mut lldp = UDP_V4.to_vec();
        lldp[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
        let p = parse_frame(&lldp).unwrap();
        assert_eq!((p.ethertype, p.l3_len, p.l4), (0x88cc, 57, L4::Unparsed));
    }

    #[test]
    fn error_names() {
        let mut seen = std::collections::HashSet::new();
        for (i, e) in ParseError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            let n = e.name();
            assert!(n.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'), "{n}");
            assert!(seen.insert(n), "duplicate {n}");
            assert_eq!(e.to_string(), n);
        }
        assert_eq!(ParseError::ALL.len(), ParseError::IcmpTruncated.index() + 1);
    }

    /// What every `Ok` promises the later stages.
    fn check_invariants(buf: &[u8], p: &Parsed) {
        assert_eq!(p.flow_key_in(buf), p.flow_key(), "the packet path's key differs");
        let (l3, l4) = (p.l3_off, p.l4_off);
        assert!((14..=22).contains(&l3) && l3 <= l4);
        assert!(l3 + p.l3_len as usize <= buf.len());
        if p.is_ipv4() || p.is_ipv6() {
            assert!(l4 <= l3 + p.l3_len as usize);
            let l4_len = l3 + p.l3_len as usize - l4;
            match p.l4 {
                L4::Tcp { .. } => assert!(l4_len >= 20),
                L4::Udp { .. } | L4::Icmp { .. } => assert!(l4_len >= 4),
                L4::Unparsed => {}
            }
        }
    }

    fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
        prop::sample::select(vec![
            TCP_SYN_V4.to_vec(),
            TCP_DATA_V4.to_vec(),
            UDP_V4.to_vec(),
            UDP_V4_PADDED.to_vec(),
            UDP_V4_VLAN.to_vec(),
            UDP_V4_QINQ.to_vec(),
            UDP_V4_OPTIONS.to_vec(),
            TCP_SYNACK_V6.to_vec(),
            UDP_V6.to_vec(),
            ICMP_ECHO_REQ.to_vec(),
            ICMP_FRAG_NEEDED.to_vec(),
            ARP_REPLY.to_vec(),
            FRAG_FIRST.to_vec(),
            FRAG_LATER.to_vec(),
            eth6(&crate::craft::icmpv6_echo(C6, V6, 7, 1, b"ping", true)),
            eth6(&crate::craft::ndp_ns(GW6, crate::wire::ndp::solicited_node_multicast(&V6), V6, Some(MAC1))),
            eth6(&crate::craft::ndp_na(V6, GW6, V6, crate::wire::NdpFlags::SOLICITED, Some(MAC2))),
            icmp6_error(1, &crate::craft::tcp_v6(V6, C6, 80, 40000, 0x12, b"")),
            eth6(&crate::craft::ipv6_ext_chain(
                &crate::craft::udp_v6(C6, V6, 5353, 53, b"q"),
                &[(0, &[1, 4, 0, 0, 0, 0][..]), (60, &[])],
            )),
            eth6(&crate::craft::ipv6_ext_chain(
                &crate::craft::tcp_v6(C6, V6, 40000, 80, 0x02, b""),
                &[(43, &[0, 0, 0, 0, 0, 0][..]), (44, &[0, 1, 0, 0, 0, 1]), (60, &[1, 4, 0, 0, 0, 0])],
            )),
        ])
    }

    /// Random IPv6 packets: the IPv6 ethertype (untagged or behind a C-tag), the 0x6 version
    /// nibble, a next header among those vsd reads or skips, and random bytes after; the payload
    /// length random or made to fit the bytes, so that the L4 checks are reached.
    fn random_v6() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<bool>(),
            any::<u8>(),
            prop::sample::select(vec![0u8, 6, 17, 43, 44, 58, 59, 60, 255]),
            proptest::collection::vec(any::<u8>(), 40..160),
            prop::option::of(0usize..130),
        )
            .prop_map(|(tagged, nibble, next, mut ip, fit)| {
                ip[0] = 0x60 | (nibble & 0x0f);
                ip[6] = next;
                if let Some(extra) = fit {
                    let len = (ip.len() - 40).saturating_sub(extra % 8);
                    ip[4..6].copy_from_slice(&u16::try_from(len).unwrap_or(0).to_be_bytes());
                }
                if tagged {
                    crate::craft::ethernet_vlan(MAC2, MAC1, 7, ethertype::IPV6, &ip)
                } else {
                    eth6(&ip)
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_ipv6_never_panics(buf in random_v6(), cut in any::<prop::sample::Index>()) {
            for b in [&buf[..], &buf[..cut.index(buf.len() + 1)]] {
                if let Ok(p) = parse_frame(b) {
                    prop_assert!(p.is_ipv6() || b.len() < 18);
                    exercise_v6(b, &p);
                }
            }
        }

        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok(p) = parse_frame(&buf) {
                check_invariants(&buf, &p);
            }
        }

        /// Mutations of valid frames reach the deep branches that random bytes rarely do.
        #[test]
        fn mutated_frames_never_panic(
            mut frame in valid_frame(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            fix in any::<bool>(),
        ) {
            for (at, v) in edits {
                let i = at.index(frame.len());
                frame[i] = v;
            }
            if fix && frame[12..14] == [0x08, 0x00] {
                // Keep the IPv4 checksum right so edits reach the L4 checks.
                frame = mutated(&frame, true, |_| {});
            }
            let buf = &frame[..cut.index(frame.len() + 1)];
            if let Ok(p) = parse_frame(buf) {
                exercise_v6(buf, &p);
            }
            let full = &frame[..];
            if let Ok(p) = parse_frame(full) {
                exercise_v6(full, &p);
            }
        }
    }
}
