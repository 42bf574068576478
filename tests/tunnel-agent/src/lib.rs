//! The decapsulation of vsd's tunnel e2e agent, as pure functions over received bytes.
//!
//! Written apart from vsd's own encapsulation (`vsd_dataplane::tunnel`), from the specifications, so
//! that the e2e test checks vsd's wire format against a second reading of RFC 2003 (IPIP), RFC 2784
//! (GRE, with RFC 2890's key and sequence bits recognised) and draft-ietf-intarea-gue (GUE variant 0).
//! The agent reads IPIP and GRE from raw IPv4 sockets (the outer header included) and GUE from a UDP
//! socket (the UDP payload only), so those are the two entry points.

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The encapsulations the agent takes apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ipip,
    Gue,
    Gre,
}

/// Why a datagram was not decapsulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Short,
    /// The outer packet or the inner one is not a valid IPv4 header.
    NotIpv4,
    /// GRE version or routing bits set, or a protocol other than IPv4 (0x0800).
    Gre,
    /// The GRE checksum does not verify.
    GreChecksum,
    /// Not GUE variant 0 carrying IPIP (protocol 4), or a control message.
    Gue,
}

/// A decapsulated packet: the inner IPv4 packet (cut to its total length) and what the outer
/// header said, where the agent could see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inner<'a> {
    pub packet: &'a [u8],
    /// GRE only: a checksum was present (and verified).
    pub gre_csum: bool,
    /// IPIP and GRE (raw socket): the outer TOS and DF equal the inner ones and the outer TTL is not
    /// above the inner one, as LVS copies them (routers on the way lower only the outer TTL).
    pub copies_inner: Option<bool>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// RFC 1071 ones' complement sum.
fn sum16(b: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for c in b.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    u16::try_from(acc).expect("folded to 16 bits")
}

/// The IPv4 packet at the start of `b`, cut to its total length; its header length.
fn ipv4(b: &[u8]) -> Result<(&[u8], usize), Refused> {
    if b.len() < 20 {
        return Err(Refused::Short);
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    let total = usize::from(u16_at(b, 2));
    if b[0] >> 4 != 4 || ihl < 20 || total < ihl || total > b.len() {
        return Err(Refused::NotIpv4);
    }
    Ok((&b[..total], ihl))
}

/// IPIP or GRE as read from a raw IPv4 socket: the whole outer packet.
pub fn from_raw(kind: Kind, pkt: &[u8]) -> Result<Inner<'_>, Refused> {
    let (outer, ihl) = ipv4(pkt)?;
    let rest = &outer[ihl..];
    let (skip, gre_csum) = match kind {
        Kind::Ipip => (0, false),
        Kind::Gre => {
            if rest.len() < 4 {
                return Err(Refused::Short);
            }
            let flags = u16_at(rest, 0);
            // C, R, K, S, then reserved0 and version; R and the version must be 0 (RFC 2784 §2.2).
            if flags & 0x4000 != 0 || flags & 0x0007 != 0 || u16_at(rest, 2) != 0x0800 {
                return Err(Refused::Gre);
            }
            let csum = flags & 0x8000 != 0;
            let len = 4
                + 4 * usize::from(csum)
                + 4 * usize::from(flags & 0x2000 != 0)
                + 4 * usize::from(flags & 0x1000 != 0);
            if rest.len() < len {
                return Err(Refused::Short);
            }
            if csum && sum16(rest) != 0xffff {
                return Err(Refused::GreChecksum);
            }
            (len, csum)
        }
        Kind::Gue => return from_gue(rest),
    };
    let (inner, _) = ipv4(&rest[skip..])?;
    let copies = outer[1] == inner[1] && outer[8] <= inner[8] && (outer[6] & 0x40) == (inner[6] & 0x40);
    Ok(Inner { packet: inner, gre_csum, copies_inner: Some(copies) })
}

/// GUE as read from a UDP socket: the UDP payload.
pub fn from_gue(payload: &[u8]) -> Result<Inner<'_>, Refused> {
    if payload.len() < 4 {
        return Err(Refused::Short);
    }
    // Version (2 bits) 0, C (1 bit) 0: a data message; Hlen counts 32-bit words of extensions.
    if payload[0] >> 5 != 0 || payload[1] != 4 {
        return Err(Refused::Gue);
    }
    let len = 4 + 4 * usize::from(payload[0] & 0x1f);
    let (inner, _) = ipv4(payload.get(len..).ok_or(Refused::Short)?)?;
    Ok(Inner { packet: inner, gre_csum: false, copies_inner: None })
}

/// What the agent saw, written to its counters file for the test to read.
#[derive(Debug, Default)]
pub struct Counters {
    pub ipip: u64,
    pub gue: u64,
    pub gre: u64,
    pub gre_csum: u64,
    /// Raw-socket packets whose outer TOS/TTL/DF equal the inner ones, and those that differ.
    pub copies_inner: u64,
    pub differs: u64,
    pub refused: u64,
    pub written: u64,
    pub write_errors: u64,
    /// GUE UDP source ports seen (the first 1024).
    pub gue_sports: BTreeSet<u16>,
}

impl Counters {
    pub fn count(&mut self, kind: Kind, r: &Result<Inner<'_>, Refused>) {
        let Ok(inner) = r else {
            self.refused += 1;
            return;
        };
        match kind {
            Kind::Ipip => self.ipip += 1,
            Kind::Gue => self.gue += 1,
            Kind::Gre => self.gre += 1,
        }
        self.gre_csum += u64::from(inner.gre_csum);
        match inner.copies_inner {
            Some(true) => self.copies_inner += 1,
            Some(false) => self.differs += 1,
            None => {}
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "ipip {}\ngue {}\ngre {}\ngre_csum {}\ncopies_inner {}\ndiffers {}\nrefused {}\nwritten {}\n\
             write_errors {}\ngue_sports {}\n",
            self.ipip,
            self.gue,
            self.gre,
            self.gre_csum,
            self.copies_inner,
            self.differs,
            self.refused,
            self.written,
            self.write_errors,
            self.gue_sports.len()
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An inner TCP SYN 198.18.0.10 → 198.18.0.101 (TOS 0xba, TTL 63, DF), 44 bytes.
    const INNER: [u8; 44] = [
        0x45, 0xba, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x06, 0x9c, 0x4a, 0xc6, 0x12, 0x00, 0x0a, 0xc6,
        0x12, 0x00, 0x65, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02,
        0xfa, 0xf0, 0xa9, 0x10, 0x00, 0x00, 0x70, 0x69, 0x6e, 0x67,
    ];

    fn outer(proto: u8, tos: u8, ttl: u8, after: &[u8]) -> Vec<u8> {
        let total = u16::try_from(20 + after.len() + INNER.len()).unwrap();
        let mut p = vec![0x45, tos];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 7, 0x40, 0, ttl, proto, 0, 0, 198, 19, 0, 1, 198, 20, 0, 21]);
        p.extend_from_slice(after);
        p.extend_from_slice(&INNER);
        p
    }

    #[test]
    fn ipip_and_gre_give_the_inner_packet() {
        let p = outer(4, 0xba, 63, &[]);
        let r = from_raw(Kind::Ipip, &p).unwrap();
        assert_eq!((r.packet, r.copies_inner), (&INNER[..], Some(true)));
        let p = outer(47, 0, 62, &[0, 0, 8, 0]);
        let r = from_raw(Kind::Gre, &p).unwrap();
        assert_eq!((r.packet, r.gre_csum, r.copies_inner), (&INNER[..], false, Some(false)), "TOS differs");
        let p = outer(47, 0xba, 64, &[0, 0, 8, 0]);
        assert_eq!(from_raw(Kind::Gre, &p).unwrap().copies_inner, Some(false), "outer TTL above the inner");
        let p = outer(47, 0xba, 62, &[0, 0, 8, 0]);
        assert_eq!(from_raw(Kind::Gre, &p).unwrap().copies_inner, Some(true), "one router hop later");
        // GRE with checksum (RFC 2784 §2.5), and with a key (RFC 2890) that vsd never sends.
        let p = outer(47, 0xba, 63, &[0x80, 0, 8, 0, 0x04, 0xb2, 0, 0]);
        let r = from_raw(Kind::Gre, &p).unwrap();
        assert_eq!((r.packet, r.gre_csum), (&INNER[..], true));
        let p = outer(47, 0xba, 63, &[0x20, 0, 8, 0, 0, 0, 0, 1]);
        assert_eq!(from_raw(Kind::Gre, &p).unwrap().packet, &INNER[..]);
    }

    #[test]
    fn gue_gives_the_inner_packet() {
        let mut p = vec![0, 4, 0, 0];
        p.extend_from_slice(&INNER);
        assert_eq!(from_gue(&p).unwrap().packet, &INNER[..]);
        // One extension word (Hlen 1) is skipped.
        let mut p = vec![1, 4, 0, 0, 9, 9, 9, 9];
        p.extend_from_slice(&INNER);
        assert_eq!(from_gue(&p).unwrap().packet, &INNER[..]);
    }

    #[test]
    fn refuses_what_is_wrong() {
        assert_eq!(
            from_raw(Kind::Gre, &outer(47, 0, 64, &[0x80, 0, 8, 0, 0, 1, 0, 0])),
            Err(Refused::GreChecksum)
        );
        assert_eq!(from_raw(Kind::Gre, &outer(47, 0, 64, &[0, 1, 8, 0])), Err(Refused::Gre));
        assert_eq!(from_raw(Kind::Gre, &outer(47, 0, 64, &[0, 0, 0x86, 0xdd])), Err(Refused::Gre));
        assert_eq!(from_gue(&[0x20, 4, 0, 0]), Err(Refused::Gue), "a control message");
        assert_eq!(from_gue(&[0, 41, 0, 0]), Err(Refused::Gue), "IPv6 inside");
        assert_eq!(from_gue(&[0, 4, 0, 0, 0x45, 0]), Err(Refused::Short));
        let mut cut = outer(4, 0, 64, &[]);
        cut.truncate(50);
        assert_eq!(from_raw(Kind::Ipip, &cut), Err(Refused::NotIpv4), "total length past the end");
        let mut c = Counters::default();
        c.count(Kind::Gre, &from_raw(Kind::Gre, &outer(47, 0xba, 63, &[0x80, 0, 8, 0, 0x04, 0xb2, 0, 0])));
        c.count(Kind::Gue, &from_gue(&[0x20, 4, 0, 0]));
        assert!(c
            .render()
            .starts_with("ipip 0\ngue 0\ngre 1\ngre_csum 1\ncopies_inner 1\ndiffers 0\nrefused 1\n"));
    }
}
