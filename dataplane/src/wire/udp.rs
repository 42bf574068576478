//! UDP datagrams (RFC 768).
//!
//! Build the view over the IP payload. `check_len` proves the length field covers the header and
//! fits the buffer; [`Packet::payload`] ends at the length field. The one rule that makes UDP
//! different is the checksum: zero means "none" over IPv4, so a computed zero goes out as 0xffff,
//! and an incremental update leaves a zero field alone ([`checksum::udp_update`]).

use super::{checksum, get_u16, ip_proto, set_u16, Error};
use crate::addr::Addr;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram.
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

    /// `Truncated` under 8 bytes; `BadLength` if the length field is below 8 or past the buffer.
    /// After this no accessor panics.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            let field_len = usize::from(self.len());
            if field_len < HEADER_LEN || field_len > len {
                Err(Error::BadLength)
            } else {
                Ok(())
            }
        }
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header plus payload.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The datagram (up to the length field) with its pseudo-header sums to 0xffff, or, over IPv4,
    /// the field is zero: no checksum (RFC 768). Over IPv6 zero is invalid (RFC 8200 §8.1).
    #[inline]
    pub fn verify_checksum(&self, src: &Addr, dst: &Addr) -> bool {
        if self.checksum() == 0 {
            return src.is_v4();
        }
        let dgram = &self.buffer.as_ref()[..usize::from(self.len())];
        let ph = checksum::pseudo_header(src, dst, ip_proto::UDP, u32::from(self.len()));
        checksum::combine(&[ph, checksum::data(dgram)]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload, up to the length field.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, v)
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, v)
    }

    #[inline]
    pub fn set_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, v)
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Compute the checksum over the pseudo-header and the datagram; a zero result is sent as
    /// 0xffff (RFC 768).
    pub fn fill_checksum(&mut self, src: &Addr, dst: &Addr) {
        self.set_checksum(0);
        let len = self.len();
        let dgram = &self.buffer.as_ref()[..usize::from(len)];
        let ph = checksum::pseudo_header(src, dst, ip_proto::UDP, u32::from(len));
        let sum = checksum::combine(&[ph, checksum::data(dgram)]);
        self.set_checksum(checksum::udp_nonzero(checksum::finish(sum)))
    }

    /// Set the source port, updating a present checksum incrementally.
    #[inline]
    pub fn rewrite_src_port(&mut self, v: u16) {
        let old = self.src_port();
        let c = checksum::udp_update(self.checksum(), |c| checksum::update16(c, old, v));
        self.set_src_port(v);
        self.set_checksum(c)
    }

    #[inline]
    pub fn rewrite_dst_port(&mut self, v: u16) {
        let old = self.dst_port();
        let c = checksum::udp_update(self.checksum(), |c| checksum::update16(c, old, v));
        self.set_dst_port(v);
        self.set_checksum(c)
    }

    /// Account for a pseudo-header address changing from `old` to `new`; a zero ("none")
    /// checksum stays zero.
    #[inline]
    pub fn adjust_checksum_addr(&mut self, old: &Addr, new: &Addr) {
        let c = checksum::udp_update(self.checksum(), |c| checksum::update_addr(c, old, new));
        self.set_checksum(c)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::{UDP_V4, UDP_V4_PADDED, UDP_V6};

    fn v4(o: [u8; 4]) -> Addr {
        Addr::from_v4(o)
    }

    fn v6(s: &str) -> Addr {
        Addr::from(s.parse::<std::net::IpAddr>().unwrap())
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&UDP_V4[34..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (53000, 53));
        assert_eq!(p.len(), 37);
        assert_eq!(p.checksum(), 0x28d0);
        assert_eq!(p.payload().len(), 29);
        assert_eq!(&p.payload()[12..20], b"\x07example");
        assert!(p.verify_checksum(&v4([198, 18, 0, 1]), &v4([198, 18, 0, 53])));
        assert!(!p.verify_checksum(&v4([198, 18, 0, 1]), &v4([198, 18, 0, 54])));

        let p = Packet::new_checked(&UDP_V6[54..]).unwrap();
        assert_eq!(p.payload(), b"vsd wire test");
        assert!(p.verify_checksum(&v6("2001:db8::1"), &v6("2001:db8::100")));
    }

    #[test]
    fn construct() {
        let mut buf = vec![0xa5u8; UDP_V4.len() - 34];
        let mut p = Packet::new_unchecked(&mut buf);
        p.set_src_port(53000);
        p.set_dst_port(53);
        p.set_len(37);
        p.payload_mut().copy_from_slice(&UDP_V4[42..]);
        p.fill_checksum(&v4([198, 18, 0, 1]), &v4([198, 18, 0, 53]));
        assert_eq!(&buf[..], &UDP_V4[34..]);
    }

    #[test]
    fn zero_checksum_rules() {
        let (src, dst) = (v4([198, 18, 0, 1]), v4([198, 18, 0, 53]));
        let mut buf = UDP_V4[34..].to_vec();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_checksum(0);
        assert!(p.verify_checksum(&src, &dst), "IPv4: zero means no checksum");
        assert!(!p.verify_checksum(&v6("2001:db8::1"), &v6("2001:db8::2")), "IPv6: zero is invalid");
        p.rewrite_src_port(1);
        p.rewrite_dst_port(2);
        p.adjust_checksum_addr(&src, &v4([198, 19, 0, 1]));
        assert_eq!(p.checksum(), 0, "no checksum stays no checksum");

        // A payload chosen so the checksum computes to zero: it must go out as 0xffff.
        let mut buf = [0u8; 10];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_len(10);
        p.fill_checksum(&src, &dst);
        let c = p.checksum();
        // Putting that checksum into the payload drives the sum to 0xffff: the next one computes to 0.
        p.payload_mut().copy_from_slice(&c.to_be_bytes());
        p.fill_checksum(&src, &dst);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(&src, &dst));
    }

    #[test]
    fn padded_buffer() {
        // `hi` in a frame padded to 60 bytes: the IP payload is exactly the datagram; a view over
        // the padded tail too still ends its payload at the length field.
        let p = Packet::new_checked(&UDP_V4_PADDED[34..]).unwrap();
        assert_eq!(p.len(), 10);
        assert_eq!(p.payload(), b"hi");
        assert!(p.verify_checksum(&v4([198, 18, 0, 1]), &v4([198, 18, 0, 2])));
    }

    #[test]
    fn incremental_rewrites_on_a_real_datagram() {
        let mut buf = UDP_V6[54..].to_vec();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        let (old_dst, new_dst) = (v6("2001:db8::100"), v6("2001:db8:ffff::abcd"));
        p.rewrite_dst_port(53);
        p.adjust_checksum_addr(&old_dst, &new_dst);
        assert!(p.verify_checksum(&v6("2001:db8::1"), &new_dst));
    }

    #[test]
    fn impossible_lengths() {
        let good = &UDP_V4[34..];
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&good[..len]).err(), Some(Error::Truncated));
        }
        for len in HEADER_LEN..good.len() {
            assert_eq!(Packet::new_checked(&good[..len]).err(), Some(Error::BadLength));
        }
        for bad in [0u16, 7, 38, 0xffff] {
            let mut b = good.to_vec();
            b[4..6].copy_from_slice(&bad.to_be_bytes());
            assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::BadLength), "length {bad}");
        }
        let mut b = good.to_vec();
        b[4..6].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]).unwrap().payload(), &[] as &[u8]);
    }
}
