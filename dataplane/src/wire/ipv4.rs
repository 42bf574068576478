//! IPv4 headers (RFC 791).
//!
//! `check_len` proves what every accessor relies on: the fixed header is there, IHL covers it and
//! fits the buffer, and the total length covers the header and fits the buffer. A longer buffer is
//! normal (Ethernet pads frames to 60 bytes), so [`Packet::payload`] ends at the total length, not
//! at the end of the buffer. A header quoted inside an ICMP error describes a datagram that is not
//! all there; [`Packet::check_header_len`] is the weaker check for that case.
//!
//! The `rewrite_*` setters keep the header checksum valid incrementally (RFC 1624) for NAT.

use super::{checksum, get_u16, set_u16, Error};
use crate::addr::Addr;

mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of the header without options (RFC 791 §3.1: IHL ≥ 5).
pub const HEADER_LEN: usize = field::DST.end;

/// Don't Fragment and More Fragments flags, and the fragment offset mask (RFC 791 §3.1).
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
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

    /// The whole header is in the buffer: `Truncated` under 20 bytes, `BadHeaderLen` if IHL < 5 or
    /// the header runs past the buffer. Enough for every header accessor and `after_header`, not
    /// for `payload`.
    #[inline]
    pub fn check_header_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(Error::Truncated)
        } else if self.header_len() < HEADER_LEN || self.header_len() > len {
            Err(Error::BadHeaderLen)
        } else {
            Ok(())
        }
    }

    /// [`check_header_len`](Self::check_header_len), and the total length covers the header and
    /// fits the buffer (`BadLength` otherwise). After this no accessor panics. The version is not
    /// checked: that is a question of meaning, answered by the caller.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        self.check_header_len()?;
        let total = usize::from(self.total_len());
        if total < self.header_len() || total > self.buffer.as_ref().len() {
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
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated services code point (RFC 2474).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification (RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF) & FRAG_OFFSET_MASK) * 8
    }

    /// A fragment of a larger datagram: MF set or a nonzero offset. Only the first one (offset 0)
    /// carries the L4 header.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[12], b[13], b[14], b[15]]
    }

    #[inline]
    pub fn dst_addr(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[16], b[17], b[18], b[19]]
    }

    /// The source as a (v4-mapped) [`Addr`].
    #[inline]
    pub fn src(&self) -> Addr {
        Addr::from_v4(self.src_addr())
    }

    #[inline]
    pub fn dst(&self) -> Addr {
        Addr::from_v4(self.dst_addr())
    }

    /// The header, options included, sums to 0xffff (RFC 791 §3.1, RFC 1071).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The options between the fixed header and the payload.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Everything after the header up to the end of the buffer, whatever the total length says.
    /// For a header quoted in an ICMP error: the first bytes of the original payload.
    #[inline]
    pub fn after_header(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload: from the end of the header to the total length (padding excluded).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &self.buffer.as_ref()[range]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Set IHL from a header length in bytes (a multiple of 4, 20..=60).
    #[inline]
    #[allow(clippy::cast_possible_truncation, reason = "masked to the 4-bit IHL field")]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    #[inline]
    pub fn set_dscp(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0x03) | (v << 2);
    }

    #[inline]
    pub fn set_ecn(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0xfc) | (v & 0x03);
    }

    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, v)
    }

    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, v)
    }

    #[inline]
    fn set_flag(&mut self, flag: u16, on: bool) {
        let w = get_u16(self.buffer.as_ref(), field::FLG_OFF);
        set_u16(self.buffer.as_mut(), field::FLG_OFF, if on { w | flag } else { w & !flag })
    }

    /// Clear all three flag bits, the reserved one (RFC 791 §3.1: must be zero) included.
    #[inline]
    pub fn clear_flags(&mut self) {
        let w = get_u16(self.buffer.as_ref(), field::FLG_OFF) & FRAG_OFFSET_MASK;
        set_u16(self.buffer.as_mut(), field::FLG_OFF, w)
    }

    #[inline]
    pub fn set_dont_frag(&mut self, on: bool) {
        self.set_flag(FLAG_DF, on)
    }

    #[inline]
    pub fn set_more_frags(&mut self, on: bool) {
        self.set_flag(FLAG_MF, on)
    }

    /// Set the fragment offset from bytes (a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let w = get_u16(self.buffer.as_ref(), field::FLG_OFF) & !FRAG_OFFSET_MASK;
        set_u16(self.buffer.as_mut(), field::FLG_OFF, w | (bytes / 8))
    }

    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v
    }

    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    #[inline]
    pub fn set_src_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a)
    }

    #[inline]
    pub fn set_dst_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a)
    }

    /// Compute the header checksum from scratch.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(checksum::finish(sum))
    }

    /// Set the source and update the header checksum incrementally (RFC 1624). The TCP/UDP
    /// checksum also covers the address; see their `adjust_checksum_addr`.
    #[inline]
    pub fn rewrite_src_addr(&mut self, a: [u8; 4]) {
        let c =
            checksum::update32(self.checksum(), u32::from_be_bytes(self.src_addr()), u32::from_be_bytes(a));
        self.set_src_addr(a);
        self.set_checksum(c)
    }

    /// Set the destination and update the header checksum incrementally (RFC 1624).
    #[inline]
    pub fn rewrite_dst_addr(&mut self, a: [u8; 4]) {
        let c =
            checksum::update32(self.checksum(), u32::from_be_bytes(self.dst_addr()), u32::from_be_bytes(a));
        self.set_dst_addr(a);
        self.set_checksum(c)
    }

    /// Set the TTL and update the header checksum incrementally: TTL shares its 16-bit word with
    /// the protocol.
    #[inline]
    pub fn rewrite_ttl(&mut self, ttl: u8) {
        let old = get_u16(self.buffer.as_ref(), field::TTL);
        let new = (u16::from(ttl) << 8) | u16::from(self.protocol());
        let c = checksum::update16(self.checksum(), old, new);
        self.set_ttl(ttl);
        self.set_checksum(c)
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }

    /// Mutable [`after_header`](Packet::after_header).
    #[inline]
    pub fn after_header_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
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
    use crate::wire::testdata::{FRAG_FIRST, FRAG_LATER, TCP_SYN_V4, UDP_V4, UDP_V4_OPTIONS, UDP_V4_PADDED};

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&TCP_SYN_V4[14..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!((p.dscp(), p.ecn()), (0, 0));
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 6);
        assert_eq!(p.checksum(), 0x91ec);
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), [198, 18, 0, 1]);
        assert_eq!(p.dst_addr(), [198, 18, 0, 100]);
        assert_eq!(p.src().to_string(), "198.18.0.1");
        assert_eq!(p.dst().to_string(), "198.18.0.100");
        assert_eq!(p.options(), &[] as &[u8]);
        assert_eq!(p.payload(), &TCP_SYN_V4[34..]);
    }

    #[test]
    fn options_and_padding() {
        let p = Packet::new_checked(&UDP_V4_OPTIONS[14..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 12);
        // 60-byte frame, 30-byte datagram: the padding is not payload.
        let p = Packet::new_checked(&UDP_V4_PADDED[14..]).unwrap();
        assert_eq!(p.total_len(), 30);
        assert_eq!(p.payload(), &UDP_V4_PADDED[34..44]);
    }

    #[test]
    fn fragments() {
        let later = Packet::new_checked(&FRAG_LATER[14..]).unwrap();
        assert!(later.is_fragment() && !later.more_frags() && !later.dont_frag());
        assert_eq!(later.frag_offset(), 1480);
        let first = Packet::new_checked(&FRAG_FIRST[14..]).unwrap();
        assert!(first.is_fragment() && first.more_frags());
        assert_eq!(first.frag_offset(), 0);
        assert!(!Packet::new_checked(&UDP_V4[14..]).unwrap().is_fragment());
    }

    #[test]
    fn construct() {
        let mut buf = vec![0xa5u8; 60];
        let mut p = Packet::new_unchecked(&mut buf);
        p.set_version(4);
        p.set_header_len(20);
        p.set_dscp(0);
        p.set_ecn(0);
        p.set_total_len(60);
        p.set_ident(0x1c46);
        p.clear_flags();
        p.set_dont_frag(true);
        p.set_more_frags(false);
        p.set_frag_offset(0);
        p.set_ttl(64);
        p.set_protocol(6);
        p.set_src_addr([198, 18, 0, 1]);
        p.set_dst_addr([198, 18, 0, 100]);
        p.fill_checksum();
        p.payload_mut().copy_from_slice(&TCP_SYN_V4[34..]);
        assert_eq!(&buf[..], &TCP_SYN_V4[14..]);
    }

    #[test]
    fn setters_keep_neighbouring_bits() {
        let mut buf = FRAG_FIRST[14..].to_vec();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_dscp(46);
        p.set_ecn(2);
        assert_eq!((p.dscp(), p.ecn()), (46, 2));
        p.set_frag_offset(2960);
        p.set_dont_frag(true);
        assert!(p.more_frags() && p.dont_frag());
        assert_eq!(p.frag_offset(), 2960);
        p.set_more_frags(false);
        p.set_dont_frag(false);
        assert!(!p.more_frags() && !p.dont_frag() && p.is_fragment());
        p.set_version(6);
        assert_eq!((p.version(), p.header_len()), (6, 20));
    }

    #[test]
    fn incremental_rewrites_match_fill() {
        let mut buf = UDP_V4_OPTIONS[14..].to_vec();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.rewrite_src_addr([198, 19, 255, 7]);
        p.rewrite_dst_addr([198, 18, 1, 2]);
        p.rewrite_ttl(63);
        assert!(p.verify_checksum());
        let incremental = p.checksum();
        p.fill_checksum();
        assert_eq!(p.checksum(), incremental);
        assert_eq!(p.src().v4(), Some([198, 19, 255, 7]));
        assert_eq!((p.dst_addr(), p.ttl(), p.protocol()), ([198, 18, 1, 2], 63, 17));
    }

    #[test]
    fn detects_corruption() {
        let mut buf = TCP_SYN_V4[14..].to_vec();
        buf[8] = 63;
        assert!(!Packet::new_checked(&buf[..]).unwrap().verify_checksum());
    }

    #[test]
    fn impossible_lengths() {
        let good = &TCP_SYN_V4[14..];
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&good[..len]).err(), Some(Error::Truncated));
        }
        // Truncated inside the payload: total length says 60.
        for len in HEADER_LEN..good.len() {
            assert_eq!(Packet::new_checked(&good[..len]).err(), Some(Error::BadLength));
        }
        let with = |at: usize, v: &[u8]| {
            let mut b = good.to_vec();
            b[at..at + v.len()].copy_from_slice(v);
            Packet::new_checked(b).err()
        };
        for ihl in 0..5u8 {
            assert_eq!(with(0, &[0x40 | ihl]), Some(Error::BadHeaderLen), "IHL {ihl}");
        }
        // IHL 15 = 60 bytes fits this 60-byte buffer; total length 60 still covers it.
        assert_eq!(with(0, &[0x4f]), None);
        // IHL 15 in a 40-byte buffer whose total length is 40: the header runs past the buffer.
        let mut b = good[..40].to_vec();
        b[0] = 0x4f;
        b[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::BadHeaderLen));
        // Total length below the header, past the buffer, absurd; exactly the header is fine.
        assert_eq!(with(2, &[0, 19]), Some(Error::BadLength));
        assert_eq!(with(2, &[0, 61]), Some(Error::BadLength));
        assert_eq!(with(2, &[0xff, 0xff]), Some(Error::BadLength));
        assert_eq!(with(2, &[0, 20]), None);
        // A quoted header: whole, but the total length runs past the buffer.
        let quoted = Packet::new_unchecked(&good[..28]);
        assert_eq!(quoted.check_header_len(), Ok(()));
        assert_eq!(quoted.check_len(), Err(Error::BadLength));
        assert_eq!(quoted.after_header(), &good[20..28]);
    }
}
