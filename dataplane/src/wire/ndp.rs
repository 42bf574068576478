//! Neighbour Discovery: Neighbour Solicitation and Advertisement (RFC 4861 §4.3, §4.4), with the
//! source and target link-layer address options (§4.6.1).
//!
//! NDP is IPv6's ARP, carried in ICMPv6, so there is no `Packet` here: [`Repr::parse`] and
//! [`Repr::emit`] work on an [`Icmpv6Packet`], reading the NDP fields at fixed offsets of its
//! message body. vsd resolves its next hops and real servers and answers for its own addresses and
//! VIPs, on Ethernet only, so a link-layer address is a MAC and an address option is exactly 8
//! bytes (RFC 2464 §6); a longer one is refused rather than misread.
//!
//! [`Repr::parse`] makes the checks of RFC 4861 §7.1.1 (NS) and §7.1.2 (NA) that the ICMPv6
//! message alone allows: code 0, at least 24 bytes, a target that is not multicast, every option
//! at least 8 bytes long and none running past the end. Unknown options are skipped (§4.3, §4.4:
//! "Receivers MUST silently ignore any options they do not recognize"); of repeated address
//! options the first counts. The rest is the caller's, because it needs the IPv6 header:
//! - the IP hop limit is 255, proving the sender is on-link;
//! - the checksum verifies: [`Icmpv6Packet::verify_checksum`] with the IP addresses;
//! - NS from the unspecified address (duplicate address detection) goes to a solicited-node
//!   multicast address and carries no source link-layer address option;
//! - NA to a multicast destination has the Solicited flag clear.
//!
//! Likewise [`Repr::emit`] leaves the checksum zero; follow it with
//! [`Icmpv6Packet::fill_checksum`], and send with hop limit 255.

use super::ethernet::Address as EthernetAddress;
use super::icmpv6::{msg_type, Packet as Icmpv6Packet};
use super::Error;

/// NDP option types (RFC 4861 §4.6).
pub mod option_type {
    pub const SOURCE_LL_ADDR: u8 = 1;
    pub const TARGET_LL_ADDR: u8 = 2;
}

/// Offsets into the ICMPv6 message body, which starts after the checksum.
mod field {
    use core::ops::Range;

    /// NA: R, S and O in the top bits; NS: reserved.
    pub const FLAGS: usize = 0;
    pub const RESERVED: Range<usize> = 0..4;
    pub const TARGET: Range<usize> = 4..20;
    pub const OPTIONS: usize = 20;

    // Within one option.
    pub const OPT_TYPE: usize = 0;
    pub const OPT_LEN: usize = 1;
    pub const LL_ADDR: Range<usize> = 2..8;
}

/// Shortest NS or NA, the whole ICMPv6 message without options: "ICMP length (derived from the IP
/// length) is 24 or more octets" (RFC 4861 §7.1.1, §7.1.2).
pub const HEADER_LEN: usize = 4 + field::OPTIONS;

/// Options come in units of 8 bytes (RFC 4861 §4.6); an Ethernet address option is one unit.
pub const OPTION_UNIT: usize = 8;

/// The flags of a Neighbour Advertisement (RFC 4861 §4.4), as the high bits of its first byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// R: the sender is a router.
    pub const ROUTER: Flags = Flags(0x80);
    /// S: sent in response to a solicitation.
    pub const SOLICITED: Flags = Flags(0x40);
    /// O: override an existing cache entry.
    pub const OVERRIDE: Flags = Flags(0x20);
    pub const NONE: Flags = Flags(0);
    /// The three defined bits; the other 29 of the word are reserved.
    pub const ALL: Flags = Flags(0xe0);

    /// Every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;

    #[inline]
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// A Neighbour Solicitation or Advertisement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Repr {
    /// "What is the link-layer address of `target_addr`?", with the asker's MAC unless it is
    /// doing duplicate address detection.
    NeighborSolicit { target_addr: [u8; 16], source_ll_addr: Option<EthernetAddress> },
    /// "`target_addr` is at `target_ll_addr`." Only R, S and O are kept in `flags`.
    NeighborAdvert { flags: Flags, target_addr: [u8; 16], target_ll_addr: Option<EthernetAddress> },
}

impl Repr {
    /// Read an NS or NA. `Truncated` under 24 bytes; `Unsupported` for another type, a nonzero
    /// code, a multicast target or an address option that is not one Ethernet address;
    /// `BadLength` for an option of length 0 or one that runs past the end. The checksum and the
    /// IP-level rules are not checked (see the module documentation). Safe on any buffer, checked
    /// or not.
    pub fn parse<T: AsRef<[u8]>>(p: &Icmpv6Packet<T>) -> Result<Repr, Error> {
        if p.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let want_option = match p.msg_type() {
            msg_type::NEIGHBOR_SOLICIT => option_type::SOURCE_LL_ADDR,
            msg_type::NEIGHBOR_ADVERT => option_type::TARGET_LL_ADDR,
            _ => return Err(Error::Unsupported),
        };
        if p.msg_code() != 0 {
            return Err(Error::Unsupported);
        }
        let body = p.body();
        let mut target_addr = [0u8; 16];
        target_addr.copy_from_slice(&body[field::TARGET]);
        if is_multicast(&target_addr) {
            return Err(Error::Unsupported);
        }
        let ll_addr = ll_addr_option(&body[field::OPTIONS..], want_option)?;
        Ok(if want_option == option_type::SOURCE_LL_ADDR {
            Repr::NeighborSolicit { target_addr, source_ll_addr: ll_addr }
        } else {
            let flags = Flags(body[field::FLAGS] & Flags::ALL.0);
            Repr::NeighborAdvert { flags, target_addr, target_ll_addr: ll_addr }
        })
    }

    /// The address being solicited or advertised.
    #[inline]
    pub const fn target_addr(&self) -> [u8; 16] {
        match *self {
            Repr::NeighborSolicit { target_addr, .. } | Repr::NeighborAdvert { target_addr, .. } => {
                target_addr
            }
        }
    }

    /// The link-layer address carried: the source's for NS, the target's for NA.
    #[inline]
    pub const fn ll_addr(&self) -> Option<EthernetAddress> {
        match *self {
            Repr::NeighborSolicit { source_ll_addr: a, .. }
            | Repr::NeighborAdvert { target_ll_addr: a, .. } => a,
        }
    }

    /// The exact length of the ICMPv6 message: 24, plus 8 with a link-layer address option. The
    /// buffer given to `emit` must have this length, since the checksum covers all of it.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        match self.ll_addr() {
            Some(_) => HEADER_LEN + OPTION_UNIT,
            None => HEADER_LEN,
        }
    }

    /// Write the message with a zero checksum; then call
    /// [`fill_checksum`](Icmpv6Packet::fill_checksum) with the IPv6 addresses. The packet must
    /// hold [`buffer_len`](Repr::buffer_len) bytes. Reserved bits are written as zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Icmpv6Packet<T>) {
        let (ty, flags, opt_type) = match *self {
            Repr::NeighborSolicit { .. } => (msg_type::NEIGHBOR_SOLICIT, 0, option_type::SOURCE_LL_ADDR),
            Repr::NeighborAdvert { flags, .. } => {
                (msg_type::NEIGHBOR_ADVERT, flags.0 & Flags::ALL.0, option_type::TARGET_LL_ADDR)
            }
        };
        p.set_msg_type(ty);
        p.set_msg_code(0);
        p.set_checksum(0);
        let body = p.body_mut();
        body[field::RESERVED].fill(0);
        body[field::FLAGS] = flags;
        body[field::TARGET].copy_from_slice(&self.target_addr());
        if let Some(mac) = self.ll_addr() {
            let opt = &mut body[field::OPTIONS..field::OPTIONS + OPTION_UNIT];
            opt[field::OPT_TYPE] = opt_type;
            opt[field::OPT_LEN] = 1;
            opt[field::LL_ADDR].copy_from_slice(&mac.0);
        }
    }
}

/// Walk the options (RFC 4861 §4.6) and return the first of type `want`.
fn ll_addr_option(mut opts: &[u8], want: u8) -> Result<Option<EthernetAddress>, Error> {
    let mut found = None;
    while !opts.is_empty() {
        let (ty, units) = match opts {
            [ty, units, ..] => (*ty, *units),
            _ => return Err(Error::BadLength),
        };
        // §7.1.1: "All included options have a length that is greater than zero."
        let len = usize::from(units) * OPTION_UNIT;
        if len == 0 {
            return Err(Error::BadLength);
        }
        let Some(opt) = opts.get(..len) else {
            return Err(Error::BadLength);
        };
        if ty == want && found.is_none() {
            // Ethernet: one unit (RFC 2464 §6). Linux drops NS/NA whose address has the wrong
            // length too, rather than learning a cut address.
            if len != OPTION_UNIT {
                return Err(Error::Unsupported);
            }
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&opt[field::LL_ADDR]);
            found = Some(EthernetAddress(mac));
        }
        opts = &opts[len..];
    }
    Ok(found)
}

#[inline]
const fn is_multicast(a: &[u8; 16]) -> bool {
    a[0] == 0xff
}

/// The solicited-node multicast address of `target`, ff02::1:ffXX:XXXX with its low 24 bits
/// (RFC 4291 §2.7.1): where an NS for `target` is sent, and which a host must listen on for each
/// of its addresses.
#[inline]
pub const fn solicited_node_multicast(target: &[u8; 16]) -> [u8; 16] {
    [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, target[13], target[14], target[15]]
}

/// The Ethernet destination of an IPv6 multicast packet: 33:33 and the address's low 32 bits
/// (RFC 2464 §7).
#[inline]
pub const fn multicast_mac(ip6: &[u8; 16]) -> [u8; 6] {
    [0x33, 0x33, ip6[12], ip6[13], ip6[14], ip6[15]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft;
    use crate::wire::icmpv6;
    use proptest::prelude::*;

    // Ethernet frames built by an independent generator (Python, its own checksum code); each one
    // read back by `tcpdump -vv -e`, which reports "[icmp6 sum ok]" and the fields named here.

    /// NS [2001:db8::1] → [ff02::1:ff00:100], hop limit 255, "who has 2001:db8::100", source
    /// link-address option 02:00:00:00:00:01; to 33:33:ff:00:01:00.
    const NS: [u8; 86] = [
        0x33, 0x33, 0xff, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x60, 0x00, 0x00,
        0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff,
        0x00, 0x01, 0x00, 0x87, 0x00, 0x1a, 0x2b, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x01,
    ];
    /// NA [2001:db8::100] → [2001:db8::1], hop limit 255, "tgt is 2001:db8::100, Flags [solicited,
    /// override]", destination link-address option 02:00:00:00:00:02.
    const NA: [u8; 86] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x86, 0xdd, 0x60, 0x00, 0x00,
        0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x88, 0x00, 0x88, 0x75, 0x60, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x02,
    ];
    /// Duplicate address detection: NS [::] → [ff02::1:ff00:2], hop limit 255, "who has fe80::2",
    /// no option; to 33:33:ff:00:00:02.
    const NS_DAD: [u8; 78] = [
        0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x86, 0xdd, 0x60, 0x00, 0x00,
        0x00, 0x00, 0x18, 0x3a, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff,
        0x00, 0x00, 0x02, 0x87, 0x00, 0x7c, 0x23, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    ];

    const MAC1: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
    const MAC2: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
    const HOST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];
    const VIP: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0];
    const LL2: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02];
    const UNSPECIFIED: [u8; 16] = [0; 16];

    fn addrs(frame: &[u8]) -> ([u8; 16], [u8; 16]) {
        (frame[22..38].try_into().unwrap(), frame[38..54].try_into().unwrap())
    }

    fn ns_repr() -> Repr {
        Repr::NeighborSolicit { target_addr: VIP, source_ll_addr: Some(MAC1) }
    }

    fn na_repr() -> Repr {
        Repr::NeighborAdvert {
            flags: Flags::SOLICITED | Flags::OVERRIDE,
            target_addr: VIP,
            target_ll_addr: Some(MAC2),
        }
    }

    fn dad_repr() -> Repr {
        Repr::NeighborSolicit { target_addr: LL2, source_ll_addr: None }
    }

    fn cases() -> [(Repr, &'static [u8]); 3] {
        [(ns_repr(), &NS[..]), (na_repr(), &NA[..]), (dad_repr(), &NS_DAD[..])]
    }

    fn parse_bytes(msg: &[u8]) -> Result<Repr, Error> {
        Repr::parse(&Icmpv6Packet::new_unchecked(msg))
    }

    /// `msg` with its checksum filled for the addresses of `frame`.
    fn refill(frame: &[u8], mut msg: Vec<u8>) -> Vec<u8> {
        let (src, dst) = addrs(frame);
        Icmpv6Packet::new_unchecked(&mut msg[..]).fill_checksum(&src, &dst);
        msg
    }

    #[test]
    fn deconstruct() {
        let (src, dst) = addrs(&NS);
        let p = Icmpv6Packet::new_checked(&NS[54..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code(), p.checksum()), (msg_type::NEIGHBOR_SOLICIT, 0, 0x1a2b));
        assert!(p.verify_checksum(&src, &dst));
        assert_eq!(&p.body()[field::TARGET], &VIP);
        assert_eq!(&p.body()[field::OPTIONS..], &[1, 1, 0x02, 0, 0, 0, 0, 0x01]);

        let (src, dst) = addrs(&NA);
        let p = Icmpv6Packet::new_checked(&NA[54..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code(), p.checksum()), (msg_type::NEIGHBOR_ADVERT, 0, 0x8875));
        assert!(p.verify_checksum(&src, &dst));
        let flags = Flags(p.body()[field::FLAGS]);
        assert!(flags.contains(Flags::SOLICITED | Flags::OVERRIDE));
        assert!(!flags.contains(Flags::ROUTER));
        assert_eq!(&p.body()[field::OPTIONS..], &[2, 1, 0x02, 0, 0, 0, 0, 0x02]);
    }

    #[test]
    fn parse() {
        for (repr, frame) in cases() {
            assert_eq!(parse_bytes(&frame[54..]), Ok(repr));
        }
        let na = parse_bytes(&NA[54..]).unwrap();
        assert_eq!((na.target_addr(), na.ll_addr()), (VIP, Some(MAC2)));
        assert_eq!(dad_repr().ll_addr(), None);
    }

    #[test]
    fn construct() {
        // By hand through the view, then each Repr through emit.
        let (src, dst) = addrs(&NA);
        let mut buf = [0xa5u8; 32];
        let mut p = Icmpv6Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(msg_type::NEIGHBOR_ADVERT);
        p.set_msg_code(0);
        let body = p.body_mut();
        body[..4].copy_from_slice(&[0x60, 0, 0, 0]);
        body[field::TARGET].copy_from_slice(&VIP);
        body[field::OPTIONS..].copy_from_slice(&[2, 1, 0x02, 0, 0, 0, 0, 0x02]);
        p.fill_checksum(&src, &dst);
        assert_eq!(&buf[..], &NA[54..]);
    }

    #[test]
    fn emit() {
        for (repr, frame) in cases() {
            let (src, dst) = addrs(frame);
            let mut buf = vec![0xa5u8; repr.buffer_len()];
            assert_eq!(buf.len(), frame.len() - 54);
            let mut p = Icmpv6Packet::new_unchecked(&mut buf[..]);
            repr.emit(&mut p);
            assert_eq!(p.checksum(), 0);
            p.fill_checksum(&src, &dst);
            assert_eq!(&buf[..], &frame[54..]);
            // Round trip.
            assert_eq!(parse_bytes(&buf), Ok(repr));
        }
    }

    #[test]
    fn flags_and_reserved_bits() {
        // All three flags plus every reserved bit set: parse keeps R, S, O only; emit writes the
        // reserved bits as zero.
        let mut msg = NA[54..].to_vec();
        msg[4..8].copy_from_slice(&[0xff; 4]);
        let repr = parse_bytes(&msg).unwrap();
        let all = Flags::ROUTER | Flags::SOLICITED | Flags::OVERRIDE;
        assert_eq!(all, Flags::ALL);
        assert!(matches!(repr, Repr::NeighborAdvert { flags, .. } if flags == all));
        let sloppy = Repr::NeighborAdvert { flags: Flags(0xff), target_addr: VIP, target_ll_addr: None };
        let mut buf = [0xa5u8; HEADER_LEN];
        sloppy.emit(&mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[4..8], &[0xe0, 0, 0, 0]);
        assert!(Flags::NONE.is_empty() && !Flags::ROUTER.is_empty());
        // An NS with reserved bits set still parses (they "MUST be ignored by the receiver").
        let mut msg = NS[54..].to_vec();
        msg[4] = 0xe0;
        assert_eq!(parse_bytes(&msg), Ok(ns_repr()));
    }

    #[test]
    fn refuses_what_rfc4861_7_1_refuses() {
        // Code 1, with the checksum fixed: the checksum is not why.
        let mut msg = NS[54..].to_vec();
        msg[1] = 1;
        assert_eq!(parse_bytes(&refill(&NS, msg)), Err(Error::Unsupported));
        // Another type: an echo request of 32 bytes, a router solicitation.
        for ty in [msg_type::ECHO_REQUEST, msg_type::ROUTER_SOLICIT, msg_type::REDIRECT] {
            let mut msg = NS[54..].to_vec();
            msg[0] = ty;
            assert_eq!(parse_bytes(&msg), Err(Error::Unsupported), "type {ty}");
        }
        // A multicast target, in NS and NA.
        for frame in [&NS[..], &NA[..]] {
            let mut msg = frame[54..].to_vec();
            msg[8..24].copy_from_slice(&solicited_node_multicast(&VIP));
            assert_eq!(parse_bytes(&msg), Err(Error::Unsupported));
        }
    }

    #[test]
    fn option_of_length_zero() {
        // As the only option, after a good one, and before one: never an endless loop.
        for frame in [&NS[..], &NA[..]] {
            let mut msg = frame[54..].to_vec();
            msg[25] = 0;
            assert_eq!(parse_bytes(&msg), Err(Error::BadLength));
            let mut msg = frame[54..].to_vec();
            msg.extend_from_slice(&[99, 0, 0, 0, 0, 0, 0, 0]);
            assert_eq!(parse_bytes(&msg), Err(Error::BadLength));
            let mut msg = frame[54..78].to_vec();
            msg.extend_from_slice(&[99, 0, 0, 0, 0, 0, 0, 0]);
            msg.extend_from_slice(&frame[78..]);
            assert_eq!(parse_bytes(&msg), Err(Error::BadLength));
        }
    }

    #[test]
    fn options_running_past_the_end() {
        for units in [2u8, 3, 255] {
            let mut msg = NS[54..].to_vec();
            msg[25] = units;
            assert_eq!(parse_bytes(&msg), Err(Error::BadLength), "{units} units");
        }
        // A lone type byte, or type and length with nothing after.
        for tail in [&[1u8][..], &[1, 1], &[99, 1, 0, 0]] {
            let mut msg = NA[54..].to_vec();
            msg.extend_from_slice(tail);
            assert_eq!(parse_bytes(&msg), Err(Error::BadLength), "{tail:?}");
        }
    }

    #[test]
    fn other_options() {
        // An unknown option before the address option, and the other direction's address option
        // (a source address in an NA): skipped.
        let mut msg = NA[54..78].to_vec();
        msg.extend_from_slice(&[99, 2, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(&[1, 1, 0x02, 0, 0, 0, 0, 0x07]);
        msg.extend_from_slice(&NA[78..]);
        assert_eq!(parse_bytes(&msg), Ok(na_repr()));
        // Two address options: the first counts.
        let mut msg = NS[54..].to_vec();
        msg.extend_from_slice(&[1, 1, 0x02, 0, 0, 0, 0, 0x07]);
        assert_eq!(parse_bytes(&msg), Ok(ns_repr()));
        // An address option two units long is not an Ethernet address.
        let mut msg = NS[54..].to_vec();
        msg[25] = 2;
        msg.extend_from_slice(&[0; 8]);
        assert_eq!(parse_bytes(&msg), Err(Error::Unsupported));
    }

    #[test]
    fn truncated_at_every_byte() {
        for frame in [&NS[..], &NA[..], &NS_DAD[..]] {
            let msg = &frame[54..];
            for len in 0..msg.len() {
                let got = parse_bytes(&msg[..len]);
                let want = match len {
                    l if l < HEADER_LEN => Err(Error::Truncated),
                    // Cut exactly before the option: a valid message without one.
                    HEADER_LEN => parse_bytes(msg).map(|r| match r {
                        Repr::NeighborSolicit { target_addr, .. } => {
                            Repr::NeighborSolicit { target_addr, source_ll_addr: None }
                        }
                        Repr::NeighborAdvert { flags, target_addr, .. } => {
                            Repr::NeighborAdvert { flags, target_addr, target_ll_addr: None }
                        }
                    }),
                    _ => Err(Error::BadLength),
                };
                assert_eq!(got, want, "length {len}");
                if len < icmpv6::HEADER_LEN {
                    assert_eq!(Icmpv6Packet::new_checked(&msg[..len]).err(), Some(Error::Truncated));
                }
            }
        }
    }

    #[test]
    fn bad_checksum() {
        for frame in [&NS[..], &NA[..], &NS_DAD[..]] {
            let (src, dst) = addrs(frame);
            let mut msg = frame[54..].to_vec();
            msg[23] ^= 0x01; // target ::101 instead of ::100
            let p = Icmpv6Packet::new_checked(&msg[..]).unwrap();
            assert!(!p.verify_checksum(&src, &dst));
            // parse does not look at the checksum: that takes the IP addresses.
            assert!(Repr::parse(&p).is_ok());
        }
        // The right message from the wrong source does not verify either.
        let (_, dst) = addrs(&NS);
        let p = Icmpv6Packet::new_checked(&NS[54..]).unwrap();
        assert!(!p.verify_checksum(&VIP, &dst));
    }

    #[test]
    fn multicast_addresses() {
        // RFC 4291 §2.7.1 and RFC 2464 §7, against the frames.
        let (_, dst) = addrs(&NS);
        assert_eq!(solicited_node_multicast(&VIP), dst);
        assert_eq!(multicast_mac(&dst), NS[..6]);
        let (_, dst) = addrs(&NS_DAD);
        assert_eq!(solicited_node_multicast(&LL2), dst);
        assert_eq!(multicast_mac(&dst), NS_DAD[..6]);
        // Only the low 24 bits of the target are kept.
        let t =
            [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xab, 0xcd, 0xef];
        assert_eq!(
            solicited_node_multicast(&t),
            [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0xab, 0xcd, 0xef]
        );
        assert_eq!(
            multicast_mac(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            [0x33, 0x33, 0, 0, 0, 1]
        );
    }

    #[test]
    fn craft_builders_match_the_frames() {
        let ns = craft::ndp_ns(HOST, solicited_node_multicast(&VIP), VIP, Some(MAC1.0));
        assert_eq!(&ns[..], &NS[14..]);
        let na = craft::ndp_na(VIP, HOST, VIP, Flags::SOLICITED | Flags::OVERRIDE, Some(MAC2.0));
        assert_eq!(&na[..], &NA[14..]);
        let dad = craft::ndp_ns(UNSPECIFIED, solicited_node_multicast(&LL2), LL2, None);
        assert_eq!(&dad[..], &NS_DAD[14..]);
    }

    proptest! {
        /// Random bytes never panic `parse`, checked or not.
        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_bytes(&buf);
        }

        /// A valid NS/NA header followed by random options: `parse` never panics, and what it
        /// accepts emits and parses back the same.
        #[test]
        fn random_options(
            advert in any::<bool>(),
            head in any::<[u8; 4]>(),
            opts in proptest::collection::vec(any::<u8>(), 0..48),
        ) {
            let mut msg = if advert { NA[54..78].to_vec() } else { NS[54..78].to_vec() };
            msg[4..8].copy_from_slice(&head);
            msg.extend_from_slice(&opts);
            if let Ok(repr) = parse_bytes(&msg) {
                let mut buf = vec![0xa5u8; repr.buffer_len()];
                repr.emit(&mut Icmpv6Packet::new_unchecked(&mut buf[..]));
                prop_assert_eq!(parse_bytes(&buf), Ok(repr));
            }
        }
    }
}
