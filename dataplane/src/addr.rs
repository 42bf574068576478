//! Dual-stack addresses and flow keys.
//!
//! Every address is stored as 16 bytes, IPv4 as the v4-mapped form `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2).
//! One fixed-size type keeps flow keys, connection entries and templates the same shape for both
//! families, so hashing and comparison are a few word operations and IPv6 needs no second table.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 address in 16 bytes (IPv4 v4-mapped). Aligned to 16 so that it is copied and
/// compared as one SSE word, also inside enums and structs (unaligned, it sat at odd offsets
/// there and its copies waited on mismatched stores: 2-3 % of the packet path).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(C, align(16))]
pub struct Addr(pub [u8; 16]);

const V4_PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

impl Addr {
    pub const UNSPECIFIED: Addr = Addr([0; 16]);

    /// The v4-mapped address `::ffff:a.b.c.d`. Built as one 128-bit value, not byte by byte: the
    /// packet path compares and copies addresses as whole 16-byte words, and a word read right
    /// after sixteen byte stores waits for them (a failed store-to-load forward, ~15 cycles).
    #[inline]
    pub const fn from_v4(o: [u8; 4]) -> Addr {
        Addr(((0xffff_u128 << 32) | u32::from_be_bytes(o) as u128).to_be_bytes())
    }

    #[inline]
    pub const fn from_v6(o: [u8; 16]) -> Addr {
        Addr(o)
    }

    #[inline]
    pub fn is_v4(&self) -> bool {
        self.0[..12] == V4_PREFIX
    }

    /// The four IPv4 octets, if this is an IPv4 address.
    #[inline]
    pub fn v4(&self) -> Option<[u8; 4]> {
        if self.is_v4() {
            Some([self.0[12], self.0[13], self.0[14], self.0[15]])
        } else {
            None
        }
    }

    /// The IPv4 octets without checking the family; for paths that already know it is IPv4.
    #[inline]
    pub fn v4_octets(&self) -> [u8; 4] {
        [self.0[12], self.0[13], self.0[14], self.0[15]]
    }

    /// Keep the first `prefix` bits of the address *within its family* (`/24` of an IPv4 address
    /// masks the IPv4 part, not the v4-mapped 128-bit form).
    pub fn masked(&self, prefix: u8) -> Addr {
        let (start, bits) = if self.is_v4() { (12usize, prefix.min(32)) } else { (0usize, prefix.min(128)) };
        let mut out = *self;
        let keep = start * 8 + bits as usize;
        for (i, byte) in out.0.iter_mut().enumerate().skip(start) {
            let lo = i * 8;
            if lo >= keep {
                *byte = 0;
            } else if lo + 8 > keep {
                *byte &= 0xffu8 << (8 - (keep - lo));
            }
        }
        out
    }

    pub fn to_ip(&self) -> IpAddr {
        match self.v4() {
            Some(o) => IpAddr::V4(Ipv4Addr::from(o)),
            None => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}

impl From<Ipv4Addr> for Addr {
    fn from(a: Ipv4Addr) -> Addr {
        Addr::from_v4(a.octets())
    }
}

impl From<Ipv6Addr> for Addr {
    fn from(a: Ipv6Addr) -> Addr {
        match a.to_ipv4_mapped() {
            Some(v4) => Addr::from(v4),
            None => Addr(a.octets()),
        }
    }
}

impl From<IpAddr> for Addr {
    fn from(a: IpAddr) -> Addr {
        match a {
            IpAddr::V4(a) => a.into(),
            IpAddr::V6(a) => a.into(),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_ip().fmt(f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// IP protocol numbers that vsd balances (IANA).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[repr(u8)]
pub enum Proto {
    Tcp = 6,
    Udp = 17,
}

impl Proto {
    pub fn from_u8(p: u8) -> Option<Proto> {
        match p {
            6 => Some(Proto::Tcp),
            17 => Some(Proto::Udp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }
}

/// The 5-tuple of one direction of a flow, as seen on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FlowKey {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: Proto,
}

impl FlowKey {
    /// The key of the opposite direction.
    #[inline]
    pub fn reversed(&self) -> FlowKey {
        FlowKey { src: self.dst, dst: self.src, sport: self.dport, dport: self.sport, proto: self.proto }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_mapped_round_trip() {
        let a = Addr::from(Ipv4Addr::new(198, 18, 0, 7));
        assert!(a.is_v4());
        assert_eq!(a.v4(), Some([198, 18, 0, 7]));
        assert_eq!(a.to_string(), "198.18.0.7");
        let b = Addr::from("::ffff:198.18.0.7".parse::<Ipv6Addr>().unwrap());
        assert_eq!(a, b);
        let c = Addr::from("2001:db8::1".parse::<IpAddr>().unwrap());
        assert!(!c.is_v4());
        assert_eq!(c.to_string(), "2001:db8::1");
    }

    #[test]
    fn masks_within_family() {
        let a = Addr::from(Ipv4Addr::new(198, 18, 5, 77));
        assert_eq!(a.masked(24).to_string(), "198.18.5.0");
        assert_eq!(a.masked(20).to_string(), "198.18.0.0");
        assert_eq!(a.masked(32), a);
        assert_eq!(a.masked(0).to_string(), "0.0.0.0");
        assert!(a.masked(0).is_v4());
        let b = Addr::from("2001:db8:1234:5678::9".parse::<IpAddr>().unwrap());
        assert_eq!(b.masked(48).to_string(), "2001:db8:1234::");
        assert_eq!(b.masked(61).to_string(), "2001:db8:1234:5678::");
    }
}
