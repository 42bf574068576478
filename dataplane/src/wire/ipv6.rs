//! IPv6 fixed headers (RFC 8200 §3).
//!
//! Only the 40-byte fixed header: vsd balances TCP and UDP directly behind it and leaves extension
//! headers (including fragments) to a later walker, so [`Packet::next_header`] may name one.
//! `check_len` proves the header is there and the payload length fits the buffer; as with IPv4,
//! the payload ends at the payload length, not at the end of a padded buffer.

use super::{get_u16, get_u32, set_u16, set_u32, Error};
use crate::addr::Addr;

mod field {
    use core::ops::Range;

    pub const VER_TC_FLOW: usize = 0;
    pub const LENGTH: usize = 4;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST.end;

/// A view of an IPv6 packet.
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

    /// `Truncated` under 40 bytes, `BadLength` if the payload length runs past the buffer. After
    /// this no accessor panics. The version is the caller's to check.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(Error::Truncated)
        } else if HEADER_LEN + usize::from(self.payload_len()) > len {
            Err(Error::BadLength)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn word0(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FLOW)
    }

    #[inline]
    pub fn version(&self) -> u8 {
        (self.word0() >> 28) as u8
    }

    /// Traffic class: DSCP and ECN, as for IPv4 (RFC 2474, RFC 3168).
    #[inline]
    #[allow(clippy::cast_possible_truncation, reason = "the 8 bits below the 4-bit version")]
    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }

    /// The 20-bit flow label (RFC 6437).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    #[inline]
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        a
    }

    #[inline]
    pub fn dst_addr(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        a
    }

    /// The source as an [`Addr`]. A v4-mapped source would read as IPv4 here; such addresses must
    /// not appear on the wire (RFC 4291 §2.5.5.2) and [`parse_frame`](super::parse_frame) refuses them.
    #[inline]
    pub fn src(&self) -> Addr {
        Addr::from_v6(self.src_addr())
    }

    #[inline]
    pub fn dst(&self) -> Addr {
        Addr::from_v6(self.dst_addr())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload: `payload_len` bytes after the fixed header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_word0(&mut self, mask: u32, v: u32) {
        let w = (self.word0() & !mask) | (v & mask);
        set_u32(self.buffer.as_mut(), field::VER_TC_FLOW, w)
    }

    #[inline]
    pub fn set_version(&mut self, v: u8) {
        self.set_word0(0xf000_0000, u32::from(v) << 28)
    }

    #[inline]
    pub fn set_traffic_class(&mut self, v: u8) {
        self.set_word0(0x0ff0_0000, u32::from(v) << 20)
    }

    #[inline]
    pub fn set_flow_label(&mut self, v: u32) {
        self.set_word0(0x000f_ffff, v)
    }

    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, v)
    }

    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v
    }

    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v
    }

    #[inline]
    pub fn set_src_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a)
    }

    #[inline]
    pub fn set_dst_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a)
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
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
    use crate::wire::testdata::{TCP_SYNACK_V6, UDP_V6};

    const A1: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const A2: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&TCP_SYNACK_V6[14..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 28);
        assert_eq!(p.next_header(), 6);
        assert_eq!(p.hop_limit(), 63);
        assert_eq!(p.src_addr(), A2);
        assert_eq!(p.dst_addr(), A1);
        assert_eq!(p.src().to_string(), "2001:db8::2");
        assert!(!p.dst().is_v4());
        assert_eq!(p.payload(), &TCP_SYNACK_V6[54..]);

        let u = Packet::new_checked(&UDP_V6[14..]).unwrap();
        assert_eq!((u.traffic_class(), u.flow_label(), u.next_header()), (0, 0, 17));
        assert_eq!(u.dst().to_string(), "2001:db8::100");
    }

    #[test]
    fn construct() {
        let mut buf = vec![0xa5u8; TCP_SYNACK_V6.len() - 14];
        let mut p = Packet::new_unchecked(&mut buf);
        p.set_version(6);
        p.set_traffic_class(0xb8);
        p.set_flow_label(0x12345);
        p.set_payload_len(28);
        p.set_next_header(6);
        p.set_hop_limit(63);
        p.set_src_addr(A2);
        p.set_dst_addr(A1);
        p.payload_mut().copy_from_slice(&TCP_SYNACK_V6[54..]);
        assert_eq!(&buf[..], &TCP_SYNACK_V6[14..]);
    }

    #[test]
    fn first_word_setters_are_independent() {
        let mut buf = TCP_SYNACK_V6[14..].to_vec();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_flow_label(0xfffff);
        p.set_traffic_class(0x01);
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0x01, 0xfffff));
        p.set_flow_label(0x1_00001); // wider than 20 bits: cut
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0x01, 0x00001));
    }

    #[test]
    fn padded_buffer() {
        let mut buf = UDP_V6[14..].to_vec();
        buf.extend_from_slice(&[0; 7]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload(), &UDP_V6[54..]);
    }

    #[test]
    fn impossible_lengths() {
        let good = &TCP_SYNACK_V6[14..];
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&good[..len]).err(), Some(Error::Truncated));
        }
        for len in HEADER_LEN..good.len() {
            assert_eq!(Packet::new_checked(&good[..len]).err(), Some(Error::BadLength));
        }
        let mut b = good.to_vec();
        b[4..6].copy_from_slice(&0xffffu16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::BadLength));
        b[4..6].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]).unwrap().payload(), &[] as &[u8]);
    }
}
