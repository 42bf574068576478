//! TCP segments (RFC 9293 §3.1).
//!
//! The view spans exactly one segment: build it over the IP payload, because the checksum covers
//! the whole buffer. `check_len` proves the data offset is at least 5 words and fits the buffer;
//! options are exposed as bytes (vsd only forwards them). Flags are a one-byte [`Flags`] set, which
//! is what the connection state machine switches on.
//!
//! The `rewrite_*` setters and [`Packet::adjust_checksum_addr`] keep the checksum valid with
//! RFC 1624 updates, so NAT and FTP sequence shifting never re-sum the payload.

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};

use super::{checksum, get_u16, get_u32, ip_proto, set_u16, set_u32, Error};
use crate::addr::Addr;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ_NUM: usize = 4;
    pub const ACK_NUM: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Length of the header without options (data offset ≥ 5).
pub const HEADER_LEN: usize = 20;

/// The control bits of byte 13 (RFC 9293 §3.1; CWR and ECE from RFC 3168).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    pub const FIN: Flags = Flags(0x01);
    pub const SYN: Flags = Flags(0x02);
    pub const RST: Flags = Flags(0x04);
    pub const PSH: Flags = Flags(0x08);
    pub const ACK: Flags = Flags(0x10);
    pub const URG: Flags = Flags(0x20);
    pub const ECE: Flags = Flags(0x40);
    pub const CWR: Flags = Flags(0x80);
    pub const NONE: Flags = Flags(0);

    /// Every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Any flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    #[inline]
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    #[inline]
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0
    }
}

impl BitAnd for Flags {
    type Output = Flags;
    #[inline]
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

/// `SYN|ACK`, in tcpdump's bit order; `-` when empty.
impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut first = true;
        for (bit, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << bit) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A view of a TCP segment.
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

    /// `Truncated` under 20 bytes; `BadHeaderLen` if the data offset is below 5 or the header
    /// runs past the buffer. After this no accessor panics.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(Error::Truncated)
        } else if self.header_len() < HEADER_LEN || self.header_len() > len {
            Err(Error::BadHeaderLen)
        } else {
            Ok(())
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

    #[inline]
    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in bytes (data offset × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    #[inline]
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }

    #[inline]
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The options bytes, between the fixed header and the payload.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The segment with its pseudo-header sums to 0xffff. `src`/`dst` are the IP addresses.
    #[inline]
    #[allow(clippy::cast_possible_truncation, reason = "a segment of one IP packet, below 2^16 bytes")]
    pub fn verify_checksum(&self, src: &Addr, dst: &Addr) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src, dst, ip_proto::TCP, b.len() as u32);
        checksum::combine(&[ph, checksum::data(b)]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The data after the options, to the end of the buffer.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..]
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
    pub fn set_seq_number(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::SEQ_NUM, v)
    }

    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::ACK_NUM, v)
    }

    /// Set the data offset from a header length in bytes (a multiple of 4, 20..=60). The low
    /// nibble of the byte (reserved bits) is kept.
    #[inline]
    #[allow(
        clippy::cast_possible_truncation,
        reason = "a TCP header is at most 60 bytes: len / 4 fits the 4-bit field"
    )]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }

    #[inline]
    pub fn set_flags(&mut self, f: Flags) {
        self.buffer.as_mut()[field::FLAGS] = f.0
    }

    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::WIN_SIZE, v)
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::URGENT, v)
    }

    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Compute the checksum over the pseudo-header and the whole buffer.
    #[allow(clippy::cast_possible_truncation, reason = "a segment of one IP packet, below 2^16 bytes")]
    pub fn fill_checksum(&mut self, src: &Addr, dst: &Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src, dst, ip_proto::TCP, b.len() as u32);
        let sum = checksum::combine(&[ph, checksum::data(b)]);
        self.set_checksum(checksum::finish(sum))
    }

    /// Set the source port, updating the checksum incrementally.
    #[inline]
    pub fn rewrite_src_port(&mut self, v: u16) {
        let c = checksum::update16(self.checksum(), self.src_port(), v);
        self.set_src_port(v);
        self.set_checksum(c)
    }

    #[inline]
    pub fn rewrite_dst_port(&mut self, v: u16) {
        let c = checksum::update16(self.checksum(), self.dst_port(), v);
        self.set_dst_port(v);
        self.set_checksum(c)
    }

    /// Set the sequence number, updating the checksum incrementally.
    #[inline]
    pub fn rewrite_seq_number(&mut self, v: u32) {
        let c = checksum::update32(self.checksum(), self.seq_number(), v);
        self.set_seq_number(v);
        self.set_checksum(c)
    }

    #[inline]
    pub fn rewrite_ack_number(&mut self, v: u32) {
        let c = checksum::update32(self.checksum(), self.ack_number(), v);
        self.set_ack_number(v);
        self.set_checksum(c)
    }

    /// Account in the checksum for an IP address of the pseudo-header changing from `old` to
    /// `new` (call once per rewritten address).
    #[inline]
    pub fn adjust_checksum_addr(&mut self, old: &Addr, new: &Addr) {
        let c = checksum::update_addr(self.checksum(), old, new);
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
    use crate::wire::testdata::{TCP_DATA_V4, TCP_SYNACK_V6, TCP_SYN_V4};

    fn v4(o: [u8; 4]) -> Addr {
        Addr::from_v4(o)
    }

    const CLIENT: [u8; 4] = [198, 18, 0, 1];
    const VIP: [u8; 4] = [198, 18, 0, 100];

    #[test]
    fn deconstruct_syn() {
        let p = Packet::new_checked(&TCP_SYN_V4[34..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 80));
        assert_eq!((p.seq_number(), p.ack_number()), (0x12345678, 0));
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), Flags::SYN);
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.checksum(), 0xa530);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(&p.options()[..4], &[2, 4, 0x05, 0xb4]); // MSS 1460
        assert_eq!(p.options().len(), 20);
        assert_eq!(p.payload(), &[] as &[u8]);
        assert!(p.verify_checksum(&v4(CLIENT), &v4(VIP)));
        assert!(!p.verify_checksum(&v4(CLIENT), &v4([198, 18, 0, 101])));
    }

    #[test]
    fn deconstruct_data_and_v6() {
        let p = Packet::new_checked(&TCP_DATA_V4[34..]).unwrap();
        assert_eq!(p.flags(), Flags::PSH | Flags::ACK);
        assert_eq!(p.ack_number(), 0x9abcdef1);
        assert_eq!(p.payload(), b"GET / HTTP/1.0\r\n\r\n");
        assert!(p.verify_checksum(&v4(CLIENT), &v4(VIP)));

        let p = Packet::new_checked(&TCP_SYNACK_V6[54..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.header_len()), (443, 51000, 28));
        assert!(p.flags().contains(Flags::SYN | Flags::ACK));
        let a = |s: &str| Addr::from(s.parse::<std::net::IpAddr>().unwrap());
        assert!(p.verify_checksum(&a("2001:db8::2"), &a("2001:db8::1")));
    }

    #[test]
    fn construct() {
        let mut buf = vec![0xa5u8; TCP_DATA_V4.len() - 34];
        // The reserved bits share byte 12 with the data offset and `set_header_len` keeps them.
        buf[12] = 0;
        let mut p = Packet::new_unchecked(&mut buf);
        p.set_src_port(40000);
        p.set_dst_port(80);
        p.set_seq_number(0x12345679);
        p.set_ack_number(0x9abcdef1);
        p.set_header_len(20);
        p.set_flags(Flags::ACK | Flags::PSH);
        p.set_window_len(502);
        p.set_urgent_at(0);
        p.payload_mut().copy_from_slice(b"GET / HTTP/1.0\r\n\r\n");
        p.fill_checksum(&v4(CLIENT), &v4(VIP));
        assert_eq!(&buf[..], &TCP_DATA_V4[34..]);
    }

    #[test]
    fn options_mut_and_reserved_bits() {
        let mut buf = TCP_SYN_V4[34..].to_vec();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.options_mut()[3] = 0xa0; // MSS 1440
        p.fill_checksum(&v4(CLIENT), &v4(VIP));
        assert!(p.verify_checksum(&v4(CLIENT), &v4(VIP)));
        assert_eq!(&p.options()[..4], &[2, 4, 0x05, 0xa0]);
        buf[12] |= 0x01; // the historic NS bit (RFC 3540) must survive a data-offset change
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_header_len(24);
        assert_eq!((p.header_len(), buf[12] & 0x0f), (24, 0x01));
    }

    #[test]
    fn flags_set() {
        let sa = Flags::SYN | Flags::ACK;
        assert!(sa.contains(Flags::SYN) && sa.contains(Flags::ACK) && !sa.contains(Flags::FIN));
        assert!(sa.intersects(Flags::SYN | Flags::RST) && !sa.intersects(Flags::FIN | Flags::RST));
        assert_eq!(sa & Flags::ACK, Flags::ACK);
        let mut f = Flags::NONE;
        assert!(f.is_empty());
        f |= Flags::FIN;
        f |= Flags::CWR;
        assert_eq!(f.0, 0x81);
        assert_eq!(format!("{sa:?}"), "SYN|ACK");
        assert_eq!(f.to_string(), "FIN|CWR");
        assert_eq!(Flags::NONE.to_string(), "-");
    }

    #[test]
    fn incremental_rewrites_on_a_real_segment() {
        // Full NAT of the SYN: client 198.18.0.1:40000 → local 198.19.0.1:61000, VIP → real server.
        let mut buf = TCP_SYN_V4[34..].to_vec();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        let (laddr, rs) = (v4([198, 19, 0, 1]), v4([198, 19, 0, 10]));
        p.rewrite_src_port(61000);
        p.rewrite_dst_port(8080);
        p.adjust_checksum_addr(&v4(CLIENT), &laddr);
        p.adjust_checksum_addr(&v4(VIP), &rs);
        p.rewrite_seq_number(0x0000_0001);
        p.rewrite_ack_number(0xffff_ffff);
        assert!(p.verify_checksum(&laddr, &rs));
        let incremental = p.checksum();
        p.fill_checksum(&laddr, &rs);
        assert_eq!(p.checksum(), incremental);
    }

    #[test]
    fn impossible_lengths() {
        let good = &TCP_SYN_V4[34..];
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&good[..len]).err(), Some(Error::Truncated));
        }
        // Options cut short: the data offset (10 words) runs past the buffer.
        for len in HEADER_LEN..good.len() {
            assert_eq!(Packet::new_checked(&good[..len]).err(), Some(Error::BadHeaderLen));
        }
        for off in 0..5u8 {
            let mut b = good.to_vec();
            b[12] = off << 4;
            assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::BadHeaderLen), "offset {off}");
        }
        let mut b = good.to_vec();
        b[12] = 0xf0;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::BadHeaderLen));
    }
}
