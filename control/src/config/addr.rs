//! Deserializers for addresses, listen sockets and persistence netmasks whose errors quote the text.
//!
//! `std::net::IpAddr`'s own `Deserialize` says only "invalid IP address syntax"; an operator staring at
//! a 200-line file wants `invalid IP address "198.18.0.x"`. The fields stay plain std types (so users
//! of `Config` and `Serialize` need nothing special) and borrow these through `deserialize_with`.
//! All errors are raised inside a visitor, which is what lets serde_yaml_ng pin them on the value's
//! own key path and position (see [`from_text`]). Netmasks take a length (`24`) or, as ipvsadm's `-M`
//! does, a dotted mask (`255.255.255.0`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{de, Deserialize, Deserializer};

/// Longest prefix of an IPv4 address, in bits (RFC 4632 §3.1).
pub const IPV4_BITS: u8 = 32;
/// Longest prefix of an IPv6 address, in bits (RFC 4291 §2.3).
pub const IPV6_BITS: u8 = 128;

/// Parses an address; the error quotes the text.
pub fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.trim().parse().map_err(|_| format!("invalid IP address \"{text}\""))
}

/// Deserializes a string scalar through `parse`. The error is raised inside the visitor, so serde_yaml_ng
/// pins it on the scalar itself (`services[0].vips[0]`, its line and column); raised after
/// `String::deserialize` returns, it would be pinned on the parent node instead.
pub fn from_text<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct V<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            (self.parse)(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(V { expecting, parse })
}

/// An address that quotes its text when it does not parse; used only while deserializing.
struct IpText(IpAddr);

impl<'de> Deserialize<'de> for IpText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_text(deserializer, "an IP address", parse_ip).map(IpText)
    }
}

/// `deserialize_with` for one `IpAddr`.
pub fn ip<'de, D: Deserializer<'de>>(deserializer: D) -> Result<IpAddr, D::Error> {
    IpText::deserialize(deserializer).map(|ip| ip.0)
}

/// `deserialize_with` for `Option<IpAddr>` (used with `#[serde(default)]`).
pub fn opt_ip<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<IpAddr>, D::Error> {
    Option::<IpText>::deserialize(deserializer).map(|ip| ip.map(|ip| ip.0))
}

/// `deserialize_with` for `Vec<IpAddr>`.
pub fn ip_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpAddr>, D::Error> {
    Vec::<IpText>::deserialize(deserializer).map(|ips| ips.into_iter().map(|ip| ip.0).collect())
}

/// `deserialize_with` for a listening `SocketAddr` (`127.0.0.1:9108`, `[::1]:9108`).
pub fn socket<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    from_text(deserializer, "an address and port such as 127.0.0.1:9108", |text| {
        text.trim()
            .parse()
            .map_err(|_| format!("invalid address and port \"{text}\" (write 127.0.0.1:9108 or [::1]:9108)"))
    })
}

/// Turns a dotted IPv4 mask into its length; a mask whose one bits are not contiguous has none.
pub fn dotted_mask_len(mask: Ipv4Addr) -> Result<u8, String> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) != 0 {
        return Err(format!("netmask {mask} is not contiguous (its one bits must come first)"));
    }
    Ok(u8::try_from(ones).expect("a u32 has at most 32 leading ones"))
}

/// Parses the IPv4 persistence netmask: a length `0..=32` or a dotted contiguous mask.
pub fn parse_netmask(text: &str) -> Result<u8, String> {
    let text = text.trim();
    if let Ok(len) = text.parse::<u64>() {
        return check_netmask_len(len, IPV4_BITS);
    }
    let mask: Ipv4Addr =
        text.parse().map_err(|_| format!("invalid netmask \"{text}\": expected 0..=32 or a dotted mask"))?;
    dotted_mask_len(mask)
}

/// Refuses a netmask longer than the family allows.
pub fn check_netmask_len(len: u64, bits: u8) -> Result<u8, String> {
    u8::try_from(len)
        .ok()
        .filter(|len| *len <= bits)
        .ok_or_else(|| format!("netmask {len} is longer than the {bits} bits of an address"))
}

/// Reads a netmask as a length, or for IPv4 also as a dotted mask, refusing lengths over `bits`.
struct NetmaskVisitor {
    bits: u8,
}

impl de::Visitor<'_> for NetmaskVisitor {
    type Value = u8;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.bits {
            IPV4_BITS => f.write_str("a prefix length 0..=32 or a dotted netmask such as 255.255.255.0"),
            bits => write!(f, "a prefix length 0..={bits}"),
        }
    }
    fn visit_u64<E: de::Error>(self, len: u64) -> Result<u8, E> {
        check_netmask_len(len, self.bits).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, len: i64) -> Result<u8, E> {
        Err(E::custom(format!("netmask {len} is negative")))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<u8, E> {
        if self.bits == IPV4_BITS {
            parse_netmask(text).map_err(E::custom)
        } else {
            Err(E::invalid_type(de::Unexpected::Str(text), &self))
        }
    }
}

/// `deserialize_with` for `persistence.netmask`: integer or dotted string.
pub fn netmask<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    deserializer.deserialize_any(NetmaskVisitor { bits: IPV4_BITS })
}

/// `deserialize_with` for `persistence.netmask6`: a prefix length `0..=128`.
pub fn netmask6<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    deserializer.deserialize_any(NetmaskVisitor { bits: IPV6_BITS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_errors_quote_the_text() {
        assert_eq!(parse_ip("198.18.0.1"), Ok("198.18.0.1".parse().unwrap()));
        assert_eq!(parse_ip("198.18.0.x"), Err("invalid IP address \"198.18.0.x\"".to_string()));
    }

    #[test]
    fn netmask_as_length_or_dotted() {
        assert_eq!(parse_netmask("24"), Ok(24));
        assert_eq!(parse_netmask("255.255.255.0"), Ok(24));
        assert_eq!(parse_netmask("255.255.255.255"), Ok(32));
        assert_eq!(parse_netmask("0.0.0.0"), Ok(0));
        assert_eq!(parse_netmask("255.255.128.0"), Ok(17));
        assert!(parse_netmask("255.0.255.0").unwrap_err().contains("not contiguous"));
        assert!(parse_netmask("33").unwrap_err().contains("netmask 33 is longer than the 32 bits"));
        assert!(parse_netmask("255.255.x.0").unwrap_err().contains("invalid netmask \"255.255.x.0\""));
        assert!(check_netmask_len(129, 128).unwrap_err().contains("longer than the 128 bits"));
        assert_eq!(check_netmask_len(128, 128), Ok(128));
    }
}

/// Parses a MAC address written `02:00:5e:00:00:11` (also with `-`); the error quotes the text.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bad = || format!("invalid MAC address \"{text}\" (expected six hex bytes, e.g. 02:00:5e:00:00:11)");
    let parts: Vec<&str> = text.trim().split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

pub fn mac<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 6], D::Error> {
    from_text(deserializer, "a MAC address such as 02:00:5e:00:00:11", parse_mac)
}

pub fn mac_to_text<S: serde::Serializer>(mac: &[u8; 6], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

#[cfg(test)]
mod mac_tests {
    use super::parse_mac;

    #[test]
    fn parses_and_refuses_macs() {
        assert_eq!(parse_mac("02:00:5e:00:00:11"), Ok([2, 0, 0x5e, 0, 0, 0x11]));
        assert_eq!(parse_mac("02-00-5E-00-00-1f"), Ok([2, 0, 0x5e, 0, 0, 0x1f]));
        for bad in ["02:00:5e:00:00", "02:00:5e:00:00:11:22", "02:00:5e:00:00:1g", "020:0:5e:00:00:11", ""] {
            assert!(parse_mac(bad).unwrap_err().contains("invalid MAC address"), "{bad}");
        }
    }
}
