//! `198.18.0.2/24` and `2001:db8::1/64`: an address with a prefix length, for interface addresses and
//! route destinations.
//!
//! Our own small type rather than a crate: the config needs only parse, print, "contains" and "are the
//! host bits clear", and the dataplane keeps its own representation. The address keeps its host bits
//! because an interface address needs them (`198.18.0.2/24` is the address .2 on the /24); routes ask
//! [`Prefix::is_network`] to refuse `198.18.0.5/24` as a destination.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use super::addr::{IPV4_BITS, IPV6_BITS};

/// An IP address and a prefix length no longer than the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// Bits in an address of this family.
pub fn family_bits(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => IPV4_BITS,
        IpAddr::V6(_) => IPV6_BITS,
    }
}

/// The address as a 128-bit integer, left-aligned so that prefix masks work the same in both families.
fn left_aligned(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// A left-aligned mask of `len` one bits.
fn mask(len: u8) -> u128 {
    u128::MAX.checked_shl(u32::from(IPV6_BITS - len)).unwrap_or(0)
}

impl Prefix {
    /// Builds a prefix; the error names the family's limit.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, String> {
        let bits = family_bits(addr);
        if len > bits {
            return Err(format!("prefix length /{len} is longer than the {bits} bits of {addr}"));
        }
        Ok(Self { addr, len })
    }

    /// The address as written, host bits included.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for `/0`, the default route.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The same prefix with its host bits cleared: `198.18.0.2/24` gives `198.18.0.0/24`.
    pub fn network(&self) -> Prefix {
        let bits = left_aligned(self.addr) & mask(self.len);
        let addr = match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from((bits >> 96) as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
        };
        Prefix { addr, len: self.len }
    }

    /// True when the host bits are zero, as a route destination must be.
    pub fn is_network(&self) -> bool {
        self.network().addr == self.addr
    }

    /// True when `ip` is of the same family and inside the prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && (left_aligned(ip) ^ left_aligned(self.addr)) & mask(self.len) == 0
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((addr, len)) = text.split_once('/') else {
            return Err(format!("invalid prefix \"{text}\": expected ADDRESS/LENGTH such as 198.18.0.2/24"));
        };
        let addr: IpAddr =
            addr.parse().map_err(|_| format!("invalid prefix \"{text}\": invalid IP address \"{addr}\""))?;
        let len: u8 =
            len.parse().map_err(|_| format!("invalid prefix \"{text}\": invalid length \"{len}\""))?;
        Prefix::new(addr, len).map_err(|why| format!("invalid prefix \"{text}\": {why}"))
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::addr::from_text(deserializer, "a prefix such as 198.18.0.2/24", str::parse)
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Prefix {
        text.parse().unwrap()
    }

    #[test]
    fn parses_both_families() {
        let v4 = p("198.18.0.2/24");
        assert_eq!((v4.addr(), v4.len()), ("198.18.0.2".parse().unwrap(), 24));
        let v6 = p("2001:db8::1/64");
        assert_eq!((v6.addr(), v6.len()), ("2001:db8::1".parse().unwrap(), 64));
        assert_eq!(v6.to_string(), "2001:db8::1/64");
    }

    #[test]
    fn refuses_bad_text_with_a_reason() {
        assert!("198.18.0.2".parse::<Prefix>().unwrap_err().contains("expected ADDRESS/LENGTH"));
        assert!("198.18.0.x/24".parse::<Prefix>().unwrap_err().contains("invalid IP address \"198.18.0.x\""));
        assert!("198.18.0.2/33".parse::<Prefix>().unwrap_err().contains("/33 is longer than the 32 bits"));
        assert!("2001:db8::/129".parse::<Prefix>().unwrap_err().contains("/129 is longer than the 128 bits"));
        assert!("198.18.0.2/x".parse::<Prefix>().unwrap_err().contains("invalid length \"x\""));
    }

    #[test]
    fn network_and_contains() {
        assert_eq!(p("198.18.0.2/24").network(), p("198.18.0.0/24"));
        assert!(p("198.18.0.0/24").is_network());
        assert!(!p("198.18.0.5/24").is_network());
        assert!(p("198.18.0.2/24").contains("198.18.0.255".parse().unwrap()));
        assert!(!p("198.18.0.2/24").contains("198.18.1.0".parse().unwrap()));
        assert!(p("0.0.0.0/0").contains("198.19.1.1".parse().unwrap()));
        assert!(!p("0.0.0.0/0").contains("2001:db8::1".parse().unwrap()));
        assert!(p("2001:db8::/32").contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!p("2001:db8::/32").contains("2001:db9::1".parse().unwrap()));
        assert!(p("198.18.0.7/32").contains("198.18.0.7".parse().unwrap()));
        assert_eq!(p("2001:db8::1/64").network(), p("2001:db8::/64"));
    }
}
