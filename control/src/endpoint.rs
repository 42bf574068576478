//! Service and real-server addresses as ipvsadm takes them on its command line: `-t VIP:PORT`,
//! `-r RS[:PORT]`, with an IPv6 address in brackets when a port follows (`[2001:db8::100]:80`,
//! RFC 3986 §3.2.2), as ipvsadm's `parse_service` reads them.
//!
//! A bare IPv6 address is an address without a port, as in ipvsadm. One whose last group could as
//! well be a port (`2001:db8::11:8080`, both the address `2001:db8::11:8080` and `2001:db8::11`
//! port 8080) is refused rather than guessed: the operator writes `[2001:db8::11]:8080` or
//! `[2001:db8::11:8080]`. Brackets hold IPv6 only: `[198.18.0.1]:80` is refused, as by a URI.
//! Used by `vsadm` (to refuse before it asks) and by the admin socket (which asks no client to be
//! honest).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// `VIP:PORT` or `[VIP6]:PORT`: a virtual service, whose port is required.
pub fn service(text: &str) -> Result<SocketAddr, String> {
    match split(text, "service", "VIP:PORT")? {
        (ip, Some(port)) => Ok(SocketAddr::new(ip, port)),
        (IpAddr::V6(_), None) => Err(format!(
            "invalid service {text:?}: an IPv6 service is written with brackets and a port, [ADDR]:PORT"
        )),
        (IpAddr::V4(_), None) => Err(format!("invalid service {text:?}: give its port, VIP:PORT")),
    }
}

/// `ADDR`, `ADDR:PORT`, `ADDR6`, `[ADDR6]` or `[ADDR6]:PORT`: a real server, whose port is optional.
pub fn real_server(text: &str) -> Result<(IpAddr, Option<u16>), String> {
    split(text, "real server", "ADDR[:PORT]")
}

fn split(text: &str, what: &str, form: &str) -> Result<(IpAddr, Option<u16>), String> {
    let invalid = |why: &str| format!("invalid {what} {text:?}: {why}");
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(|| invalid("no closing ']'"))?;
        let ip: Ipv6Addr = inside.parse().map_err(|_| {
            if inside.parse::<std::net::Ipv4Addr>().is_ok() {
                invalid("brackets are for IPv6 addresses; write an IPv4 address without them")
            } else {
                invalid(&format!("{inside:?} is not an IPv6 address"))
            }
        })?;
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(p) => Some(port(p).map_err(|e| invalid(&e))?),
                None => return Err(invalid("after ']' only ':PORT' may follow")),
            },
        };
        return Ok((IpAddr::V6(ip), port));
    }
    if let Ok(ip) = text.parse::<Ipv6Addr>() {
        if let Some((head, tail)) = text.rsplit_once(':') {
            if head.parse::<Ipv6Addr>().is_ok() && port(tail).is_ok() {
                return Err(invalid(&format!(
                    "ambiguous: the address {text} or [{head}]:{tail}? Write [{head}]:{tail} for a port, \
                     or [{text}] for the address"
                )));
            }
        }
        return Ok((IpAddr::V6(ip), None));
    }
    if let Some((head, tail)) = text.rsplit_once(':') {
        if head.parse::<Ipv6Addr>().is_ok() {
            return Err(invalid(&format!(
                "an IPv6 address with a port is written with brackets, [{head}]:{tail}"
            )));
        }
        if head.contains(':') {
            return Err(invalid(&format!("not an address ({form}; IPv6 as [ADDR]:PORT)")));
        }
        let ip: std::net::Ipv4Addr =
            head.parse().map_err(|_| invalid(&format!("{head:?} is not an address ({form})")))?;
        return Ok((IpAddr::V4(ip), Some(port(tail).map_err(|e| invalid(&e))?)));
    }
    let ip: std::net::Ipv4Addr = text.parse().map_err(|_| invalid(&format!("not an address ({form})")))?;
    Ok((IpAddr::V4(ip), None))
}

/// A port, 0..=65535, in decimal digits only (no sign, no service name).
fn port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {text:?} is not a number"));
    }
    text.parse().map_err(|_| format!("port {text} is out of range (0..65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(text: &str) -> Result<(String, Option<u16>), String> {
        real_server(text).map(|(ip, p)| (ip.to_string(), p))
    }

    #[test]
    fn services_take_ipv4_and_bracketed_ipv6_with_a_port() {
        assert_eq!(service("198.18.0.100:80"), Ok("198.18.0.100:80".parse().unwrap()));
        assert_eq!(service("[2001:db8::1]:80"), Ok("[2001:db8::1]:80".parse().unwrap()));
        assert_eq!(service("[::]:0"), Ok("[::]:0".parse().unwrap()));
        assert_eq!(service("[2001:db8::1]:65535").unwrap().port(), 65535);
    }

    #[test]
    fn services_without_a_usable_port_or_address_are_refused_clearly() {
        let err = |t: &str| service(t).unwrap_err();
        assert!(err("[2001:db8::1]").contains("[ADDR]:PORT"), "{}", err("[2001:db8::1]"));
        assert!(err("2001:db8::1").contains("[ADDR]:PORT"));
        assert!(err("2001:db8::1:80").contains("ambiguous"), "{}", err("2001:db8::1:80"));
        assert!(err("2001:db8::1:80").contains("[2001:db8::1]:80"));
        assert!(err("198.18.0.100").contains("give its port"));
        assert!(err("[2001:db8::1").contains("no closing ']'"));
        assert!(err("[::1]:99999").contains("out of range"));
        assert!(err("[::1]:").contains("not a number"));
        assert!(err("[::1]:+80").contains("not a number"));
        assert!(err("[::1]80").contains("only ':PORT'"));
        assert!(err("[198.18.0.1]:80").contains("brackets are for IPv6"));
        assert!(err("[web]:80").contains("not an IPv6 address"));
        assert!(err("198.18.0.300:80").contains("is not an address"));
        assert!(err("198.18.0.1:http").contains("not a number"));
        assert!(err("").contains("not an address"));
        assert!(err("[]:80").contains("not an IPv6 address"));
        assert!(err("[fe80::1%eth0]:80").contains("not an IPv6 address"));
        assert!(err("1:2:3:4:5:6:7:8:9:80").contains("not an address"));
    }

    #[test]
    fn real_servers_take_an_optional_port() {
        assert_eq!(rs("198.19.0.11"), Ok(("198.19.0.11".into(), None)));
        assert_eq!(rs("198.19.0.11:8080"), Ok(("198.19.0.11".into(), Some(8080))));
        assert_eq!(rs("[2001:db8:2::11]:8080"), Ok(("2001:db8:2::11".into(), Some(8080))));
        assert_eq!(rs("[2001:db8:2::11]"), Ok(("2001:db8:2::11".into(), None)));
        assert_eq!(rs("2001:db8:2::11"), Ok(("2001:db8:2::11".into(), None)));
        assert_eq!(rs("2001:db8::1"), Ok(("2001:db8::1".into(), None)));
        assert_eq!(rs("::1"), Ok(("::1".into(), None)));
        assert_eq!(rs("::"), Ok(("::".into(), None)));
        assert_eq!(rs("2001:db8:0:0:0:0:0:11"), Ok(("2001:db8::11".into(), None)));
        // An address whose last group could be a port is written in brackets, and so accepted.
        assert_eq!(rs("[2001:db8:2::11:8080]"), Ok(("2001:db8:2::11:8080".into(), None)));
        assert_eq!(rs("[::ffff:198.19.0.11]:80"), Ok(("::ffff:198.19.0.11".into(), Some(80))));
    }

    #[test]
    fn ambiguous_and_malformed_real_servers_are_refused_clearly() {
        let err = |t: &str| real_server(t).unwrap_err();
        let e = err("2001:db8:2::11:8080");
        assert!(
            e.contains("ambiguous")
                && e.contains("[2001:db8:2::11]:8080")
                && e.contains("[2001:db8:2::11:8080]"),
            "{e}"
        );
        let e = err("2001:db8:0:0:0:0:0:11:8080");
        assert!(e.contains("written with brackets, [2001:db8:0:0:0:0:0:11]:8080"), "{e}");
        assert!(err("[2001:db8::1").contains("no closing ']'"));
        assert!(err("[::1]:99999").contains("out of range"));
        assert!(err("[198.18.0.1]:80").contains("brackets are for IPv6"));
        assert!(err("[198.18.0.1]").contains("brackets are for IPv6"));
        assert!(err("198.19.0.11:").contains("not a number"));
        assert!(err("198.19.0.11:70000").contains("out of range"));
        assert!(err("rs1").contains("not an address"));
        assert!(err("[::1]]").contains("only ':PORT'"));
        assert!(err("[[::1]]:80").contains("not an IPv6 address"));
        assert!(err("[::1]:80:80").contains("not a number"));
    }
}
