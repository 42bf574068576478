//! ICMP for IPv4 (RFC 792).
//!
//! Two uses shape this file. vsd answers pings to its own addresses, so echo request and reply
//! have a [`Repr`]. And ICMP errors about balanced flows (destination unreachable, in particular
//! fragmentation needed for path MTU discovery, RFC 1191; time exceeded) must reach the right real
//! server or client, so [`Packet::quoted`] exposes the IP header and the first 8 payload bytes
//! (the ports) quoted by the error, for lookup and in-place NAT rewriting. The quoted header's
//! total length describes the original datagram, which is not all there, so it is checked with
//! [`Ipv4Packet::check_header_len`] rather than `check_len`.

use super::ipv4::{self, Packet as Ipv4Packet};
use super::{checksum, get_u16, set_u16, Error};

/// ICMP message types (RFC 792).
pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination unreachable codes (RFC 792; 13 from RFC 1812 §5.2.7.1).
pub mod unreachable {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191 §4).
    pub const FRAG_NEEDED: u8 = 4;
    pub const ADMIN_PROHIBITED: u8 = 13;
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQNO: usize = 6;
    pub const UNUSED: usize = 4;
    pub const MTU: usize = 6;
    pub const DATA: usize = 8;
}

/// Length of the ICMP header: type, code, checksum and the 4 type-specific bytes.
pub const HEADER_LEN: usize = field::DATA;
/// An error quotes the original IP header plus the first 64 bits of its payload (RFC 792).
pub const QUOTED_PAYLOAD_LEN: usize = 8;

/// A view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` under 8 bytes. After this no accessor panics. (ICMP has no length field: the
    /// message is the whole IP payload.)
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Identifier of an echo request or reply.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Sequence number of an echo request or reply.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// The next-hop MTU of a "fragmentation needed" message (RFC 1191 §4); 0 from old routers.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::MTU)
    }

    /// The message types that quote the offending datagram (RFC 792).
    #[inline]
    pub fn quotes_datagram(&self) -> bool {
        use msg_type::*;
        matches!(self.msg_type(), DST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM)
    }

    /// The whole message sums to 0xffff (RFC 792).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

/// Checks shared by `quoted` and `quoted_mut`: an IPv4 header, whole, then 8 bytes.
fn check_quote(q: &[u8]) -> Result<(), Error> {
    let ip = Ipv4Packet::new_unchecked(q);
    ip.check_header_len()?;
    if ip.version() != 4 {
        return Err(Error::Unsupported);
    }
    if q.len() < ip.header_len() + QUOTED_PAYLOAD_LEN {
        return Err(Error::Truncated);
    }
    Ok(())
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Everything after the 8-byte header: echo data, or the quoted datagram of an error.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// For an error message, the quoted IPv4 header. Its header accessors and `after_header` (at
    /// least the 8 quoted payload bytes: the ports of TCP/UDP) are safe; its `payload` is not.
    /// `Unsupported` for a message that quotes nothing or a quote that is not IPv4; `Truncated` or
    /// `BadHeaderLen` for a cut quote.
    #[inline]
    pub fn quoted(&self) -> Result<Ipv4Packet<&'a [u8]>, Error> {
        if !self.quotes_datagram() {
            return Err(Error::Unsupported);
        }
        let q = self.data();
        check_quote(q)?;
        Ok(Ipv4Packet::new_unchecked(q))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v
    }

    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_IDENT, v)
    }

    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_SEQNO, v)
    }

    /// Set the next-hop MTU and clear the unused half-word before it.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::UNUSED, 0);
        set_u16(self.buffer.as_mut(), field::MTU, v)
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Mutable [`quoted`](Packet::quoted), for rewriting the quoted addresses and ports in NAT;
    /// fix the quoted header's checksum and then this message's checksum afterwards.
    #[inline]
    pub fn quoted_mut(&mut self) -> Result<Ipv4Packet<&mut [u8]>, Error> {
        if !self.quotes_datagram() {
            return Err(Error::Unsupported);
        }
        let q = self.data_mut();
        check_quote(q)?;
        Ok(Ipv4Packet::new_unchecked(q))
    }

    /// Compute the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(checksum::finish(sum))
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The ICMP messages vsd reads and builds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// `next_hop_mtu` is meaningful for code 4 only and is 0 otherwise; `quote` is the original IP
    /// header and at least 8 bytes of its payload.
    DstUnreachable {
        code: u8,
        next_hop_mtu: u16,
        quote: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        quote: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Read a checked message: `BadChecksum` first, then `Unsupported` for other types, a nonzero
    /// echo code, or an error whose quote is not an IPv4 header plus 8 bytes (`Truncated` /
    /// `BadHeaderLen` if cut).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&'a T>) -> Result<Repr<'a>, Error> {
        if !p.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let (ident, seq_no, data) = (p.echo_ident(), p.echo_seq_no(), p.data());
        match (p.msg_type(), p.msg_code()) {
            (msg_type::ECHO_REQUEST, 0) => Ok(Repr::EchoRequest { ident, seq_no, data }),
            (msg_type::ECHO_REPLY, 0) => Ok(Repr::EchoReply { ident, seq_no, data }),
            (msg_type::DST_UNREACHABLE, code) => {
                p.quoted()?;
                let next_hop_mtu = if code == unreachable::FRAG_NEEDED { p.next_hop_mtu() } else { 0 };
                Ok(Repr::DstUnreachable { code, next_hop_mtu, quote: data })
            }
            (msg_type::TIME_EXCEEDED, code) => {
                p.quoted()?;
                Ok(Repr::TimeExceeded { code, quote: data })
            }
            _ => Err(Error::Unsupported),
        }
    }

    /// The exact length of the message: the buffer given to `emit` must have this length, since
    /// the checksum covers all of it.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => data.len(),
                Repr::DstUnreachable { quote, .. } | Repr::TimeExceeded { quote, .. } => quote.len(),
            }
    }

    /// Write the message and its checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        use msg_type::*;
        // Type, code, the two 16-bit words after the checksum, and the data.
        let (ty, code, words, data) = match *self {
            Repr::EchoRequest { ident, seq_no, data } => (ECHO_REQUEST, 0, [ident, seq_no], data),
            Repr::EchoReply { ident, seq_no, data } => (ECHO_REPLY, 0, [ident, seq_no], data),
            Repr::DstUnreachable { code, next_hop_mtu, quote } => {
                (DST_UNREACHABLE, code, [0, next_hop_mtu], quote)
            }
            Repr::TimeExceeded { code, quote } => (TIME_EXCEEDED, code, [0, 0], quote),
        };
        p.set_msg_type(ty);
        p.set_msg_code(code);
        set_u16(p.buffer.as_mut(), field::ECHO_IDENT, words[0]);
        set_u16(p.buffer.as_mut(), field::ECHO_SEQNO, words[1]);
        p.data_mut()[..data.len()].copy_from_slice(data);
        p.fill_checksum()
    }
}

/// The quote an error about `datagram` carries: its header and the first 8 payload bytes
/// (RFC 792), or less if the datagram is shorter.
pub fn quote_of(datagram: &[u8]) -> &[u8] {
    let ip = Ipv4Packet::new_unchecked(datagram);
    let want = match ip.check_header_len() {
        Ok(()) => ip.header_len() + QUOTED_PAYLOAD_LEN,
        Err(_) => ipv4::HEADER_LEN + QUOTED_PAYLOAD_LEN,
    };
    &datagram[..want.min(datagram.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::{ICMP_ECHO_REPLY, ICMP_ECHO_REQ, ICMP_FRAG_NEEDED, TCP_DATA_V4};

    const DATA: [u8; 16] =
        [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f];

    #[test]
    fn deconstruct_echo() {
        let p = Packet::new_checked(&ICMP_ECHO_REQ[34..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (msg_type::ECHO_REQUEST, 0));
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x4242, 7));
        assert_eq!(p.data(), &DATA);
        assert!(p.verify_checksum());
        assert!(!p.quotes_datagram());
        assert_eq!(p.quoted().err(), Some(Error::Unsupported));
    }

    #[test]
    fn construct_echo_reply() {
        let mut buf = vec![0xa5u8; ICMP_ECHO_REPLY.len() - 34];
        let mut p = Packet::new_unchecked(&mut buf);
        p.set_msg_type(msg_type::ECHO_REPLY);
        p.set_msg_code(0);
        p.set_echo_ident(0x4242);
        p.set_echo_seq_no(7);
        p.data_mut().copy_from_slice(&DATA);
        p.fill_checksum();
        assert_eq!(&buf[..], &ICMP_ECHO_REPLY[34..]);
    }

    #[test]
    fn parse_and_emit_echo() {
        let req = Repr::parse(&Packet::new_checked(&ICMP_ECHO_REQ[34..]).unwrap()).unwrap();
        assert_eq!(req, Repr::EchoRequest { ident: 0x4242, seq_no: 7, data: &DATA });
        // The reply vsd would send: same ident, seq and data.
        let reply = match req {
            Repr::EchoRequest { ident, seq_no, data } => Repr::EchoReply { ident, seq_no, data },
            other => panic!("not an echo request: {other:?}"),
        };
        let mut buf = vec![0xa5u8; reply.buffer_len()];
        reply.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], &ICMP_ECHO_REPLY[34..]);
        assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()), Ok(reply));
    }

    #[test]
    fn frag_needed() {
        let p = Packet::new_checked(&ICMP_FRAG_NEEDED[34..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (3, unreachable::FRAG_NEEDED));
        assert_eq!(p.next_hop_mtu(), 1400);
        assert!(p.quotes_datagram());
        let q = p.quoted().unwrap();
        assert_eq!((q.src_addr(), q.dst_addr(), q.protocol()), ([198, 18, 0, 1], [198, 18, 0, 100], 6));
        assert!(q.verify_checksum());
        let ports = q.after_header();
        assert_eq!(ports.len(), 8);
        assert_eq!(
            (u16::from_be_bytes([ports[0], ports[1]]), u16::from_be_bytes([ports[2], ports[3]])),
            (40000, 80)
        );

        let quote = quote_of(&TCP_DATA_V4[14..]);
        assert_eq!(quote, &TCP_DATA_V4[14..42]);
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(repr, Repr::DstUnreachable { code: 4, next_hop_mtu: 1400, quote });
        let mut buf = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], &ICMP_FRAG_NEEDED[34..]);
    }

    #[test]
    fn time_exceeded_round_trip() {
        let quote = quote_of(&TCP_DATA_V4[14..]);
        let repr = Repr::TimeExceeded { code: 0, quote };
        let mut buf = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[4..8], &[0, 0, 0, 0]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p), Ok(repr));
    }

    #[test]
    fn rewrite_quote_in_place() {
        // NAT of an error coming back from the client side: the quote names VIP:80; the real server
        // must see its own address and port 8080.
        let mut buf = ICMP_FRAG_NEEDED[34..].to_vec();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        {
            let mut q = p.quoted_mut().unwrap();
            q.rewrite_dst_addr([198, 19, 0, 10]);
            q.after_header_mut()[2..4].copy_from_slice(&8080u16.to_be_bytes());
        }
        p.fill_checksum();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        let q = p.quoted().unwrap();
        assert!(q.verify_checksum());
        assert_eq!(q.dst_addr(), [198, 19, 0, 10]);
        assert_eq!(&q.after_header()[2..4], &8080u16.to_be_bytes());
    }

    #[test]
    fn bad_messages() {
        let mut buf = ICMP_ECHO_REQ[34..].to_vec();
        buf[8] ^= 0xff;
        assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()), Err(Error::BadChecksum));

        // An echo request with a nonzero code, checksum fixed: not an echo we answer.
        let mut buf = ICMP_ECHO_REQ[34..].to_vec();
        buf[1] = 1;
        Packet::new_unchecked(&mut buf[..]).fill_checksum();
        assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()), Err(Error::Unsupported));

        // Errors with a cut quote, at every length short of header + 8 bytes.
        for cut in 0..28 {
            let mut buf = ICMP_FRAG_NEEDED[34..34 + 8 + cut].to_vec();
            let mut p = Packet::new_unchecked(&mut buf[..]);
            assert!(p.quoted_mut().is_err(), "cut {cut}");
            p.fill_checksum();
            assert!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).is_err(), "cut {cut}");
        }
        // A quote that is not IPv4; a quote with IHL 4.
        for (at, v, want) in [(8, 0x65, Error::Unsupported), (8, 0x44, Error::BadHeaderLen)] {
            let mut buf = ICMP_FRAG_NEEDED[34..].to_vec();
            buf[at] = v;
            assert_eq!(Packet::new_checked(&buf[..]).unwrap().quoted().err(), Some(want));
        }
        // Other types parse as unsupported.
        let mut buf = ICMP_ECHO_REQ[34..].to_vec();
        buf[0] = 13; // timestamp request
        Packet::new_unchecked(&mut buf[..]).fill_checksum();
        assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()), Err(Error::Unsupported));
    }

    #[test]
    fn impossible_length() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&ICMP_ECHO_REQ[34..34 + len]).err(), Some(Error::Truncated));
        }
        assert_eq!(quote_of(&[0x45, 0, 0]), &[0x45, 0, 0]);
    }
}
