//! ICMPv6 (RFC 4443).
//!
//! vsd is an IPv6 host on its ports: it answers pings to its addresses, resolves and advertises
//! neighbours ([`ndp`](super::ndp) reads and builds those messages over this view), and must pass
//! Packet Too Big on to the right real server or client for path MTU discovery (RFC 8201). The view
//! is ICMPv4's shape with two differences. The checksum covers an IPv6 pseudo-header (RFC 4443
//! §2.3, RFC 8200 §8.1), so [`Packet::verify_checksum`] and [`Packet::fill_checksum`] take the
//! addresses. And the 32-bit word after the checksum is type-specific: echo identifier and
//! sequence, the MTU of Packet Too Big, the pointer of Parameter Problem, the NDP flags.
//!
//! ICMPv6 has no length field: the message is the whole upper-layer payload, so the buffer given to
//! this view must end where the IPv6 payload length says (not at a padded frame's end), since the
//! checksum covers every byte of it.

use super::{checksum, get_u16, get_u32, ip_proto, set_u16, set_u32, Error};

/// ICMPv6 message types (RFC 4443 §2.1; 133–137 from RFC 4861 §4).
pub mod msg_type {
    pub const DST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
}

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    /// The message body (RFC 4443 §2.1): everything after the checksum.
    pub const BODY: usize = 4;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQNO: usize = 6;
    /// Packet Too Big MTU, Parameter Problem pointer: one 32-bit word.
    pub const WORD: usize = 4;
    pub const CHECKSUM_RANGE: Range<usize> = CHECKSUM..CHECKSUM + 2;
    pub const DATA: usize = 8;
}

/// Length of the ICMPv6 header as this view reads it: type, code, checksum and the 4-byte
/// type-specific word. Every message RFC 4443 and RFC 4861 define is at least this long.
pub const HEADER_LEN: usize = field::DATA;

/// A view of an ICMPv6 message.
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

    /// `Truncated` under 8 bytes. After this no accessor panics.
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

    /// Error messages have types 0–127, informational ones 128–255 (RFC 4443 §2.1).
    #[inline]
    pub fn is_error(&self) -> bool {
        self.msg_type() < 128
    }

    /// Identifier of an echo request or reply (RFC 4443 §4.1).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Sequence number of an echo request or reply (RFC 4443 §4.1).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// The MTU of a Packet Too Big message (RFC 4443 §3.2).
    #[inline]
    pub fn pkt_too_big_mtu(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::WORD)
    }

    /// The offset of the offending octet in a Parameter Problem message (RFC 4443 §3.4).
    #[inline]
    pub fn param_problem_ptr(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::WORD)
    }

    /// The message body (RFC 4443 §2.1): everything after the checksum. NDP reads its fields here.
    #[inline]
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::BODY..]
    }

    /// The whole message, with the pseudo-header of `src` → `dst`, sums to 0xffff (RFC 4443 §2.3).
    #[inline]
    pub fn verify_checksum(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        self.sum(src, dst) == 0xffff
    }

    #[inline]
    #[allow(
        clippy::cast_possible_truncation,
        reason = "one IPv6 payload, below 2^32 bytes even as a jumbogram"
    )]
    fn sum(&self, src: &[u8; 16], dst: &[u8; 16]) -> u16 {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, b.len() as u32);
        checksum::combine(&[ph, checksum::data(b)])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Everything after the 8-byte header: echo data, or the quoted packet of an error message
    /// ("as much of invoking packet as possible without the ICMPv6 packet exceeding the minimum
    /// IPv6 MTU", RFC 4443 §3).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA..]
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

    #[inline]
    pub fn set_pkt_too_big_mtu(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::WORD, v)
    }

    #[inline]
    pub fn set_param_problem_ptr(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::WORD, v)
    }

    #[inline]
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::BODY..]
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Compute the checksum over the pseudo-header of `src` → `dst` and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: &[u8; 16], dst: &[u8; 16]) {
        self.buffer.as_mut()[field::CHECKSUM_RANGE].fill(0);
        let sum = self.sum(src, dst);
        self.set_checksum(checksum::finish(sum))
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
    use proptest::prelude::*;

    /// Echo request [2001:db8::1] → [2001:db8::100], ident 0x4242, seq 7, 16 bytes 0x10..0x1f, hop
    /// limit 64, as an Ethernet frame. Built by an independent generator; `tcpdump -vv`:
    /// "[icmp6 sum ok] ICMP6, echo request, id 16962, seq 7".
    const ECHO_REQ: [u8; 78] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x60, 0x00, 0x00,
        0x00, 0x00, 0x18, 0x3a, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x80, 0x00, 0x28, 0x30, 0x42, 0x42, 0x00, 0x07, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
        0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    ];
    /// Packet Too Big [2001:db8::fe] → [2001:db8::100], MTU 1280, quoting the first 48 bytes of a
    /// TCP packet [2001:db8::100]:443 → [2001:db8::1]:51000. `tcpdump -vv`: "[icmp6 sum ok] ICMP6,
    /// packet too big, mtu 1280".
    const PKT_TOO_BIG: [u8; 110] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x86, 0xdd, 0x60, 0x00, 0x00,
        0x00, 0x00, 0x38, 0x3a, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0xfe, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x02, 0x00, 0xa1, 0x52, 0x00, 0x00, 0x05, 0x00, 0x60, 0x00, 0x00, 0x00, 0x05, 0x78,
        0x06, 0x3f, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x01, 0xbb, 0xc7, 0x38, 0x12, 0x34, 0x56, 0x78,
    ];

    const DATA: [u8; 16] =
        [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f];

    /// The source and destination of an IPv6-in-Ethernet frame.
    fn addrs(frame: &[u8]) -> ([u8; 16], [u8; 16]) {
        (frame[22..38].try_into().unwrap(), frame[38..54].try_into().unwrap())
    }

    #[test]
    fn deconstruct_echo() {
        let (src, dst) = addrs(&ECHO_REQ);
        let p = Packet::new_checked(&ECHO_REQ[54..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (msg_type::ECHO_REQUEST, 0));
        assert_eq!(p.checksum(), 0x2830);
        assert!(!p.is_error());
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x4242, 7));
        assert_eq!(p.data(), &DATA);
        assert_eq!(&p.body()[..4], &[0x42, 0x42, 0, 7]);
        assert!(p.verify_checksum(&src, &dst));
        // The pseudo-header counts: swapped addresses still verify (the sum is symmetric), but
        // another address does not.
        assert!(p.verify_checksum(&dst, &src));
        let mut other = dst;
        other[15] ^= 1;
        assert!(!p.verify_checksum(&src, &other));
    }

    #[test]
    fn construct_echo_reply() {
        let (src, dst) = addrs(&ECHO_REQ);
        let mut buf = [0xa5u8; 24];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(msg_type::ECHO_REPLY);
        p.set_msg_code(0);
        p.set_echo_ident(0x4242);
        p.set_echo_seq_no(7);
        p.data_mut().copy_from_slice(&DATA);
        p.fill_checksum(&dst, &src);
        assert!(Packet::new_checked(&buf[..]).unwrap().verify_checksum(&dst, &src));
        // A reply differs from its request in the type only (128 → 129), so its checksum is one
        // less in ones' complement: 0x2830 − 0x0100.
        let mut want = ECHO_REQ[54..].to_vec();
        want[0] = msg_type::ECHO_REPLY;
        want[2..4].copy_from_slice(&0x2730u16.to_be_bytes());
        assert_eq!(&buf[..], &want[..]);
    }

    #[test]
    fn packet_too_big() {
        let (src, dst) = addrs(&PKT_TOO_BIG);
        let p = Packet::new_checked(&PKT_TOO_BIG[54..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (msg_type::PACKET_TOO_BIG, 0));
        assert!(p.is_error());
        assert_eq!(p.pkt_too_big_mtu(), 1280);
        assert!(p.verify_checksum(&src, &dst));
        let quote = p.data();
        assert_eq!(quote.len(), 48);
        assert_eq!(quote[0] >> 4, 6);
        assert_eq!(&quote[40..44], &[0x01, 0xbb, 0xc7, 0x38]);

        let mut buf = [0xa5u8; 56];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(msg_type::PACKET_TOO_BIG);
        p.set_msg_code(0);
        p.set_pkt_too_big_mtu(1280);
        p.data_mut().copy_from_slice(quote);
        p.fill_checksum(&src, &dst);
        assert_eq!(&buf[..], &PKT_TOO_BIG[54..]);

        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_param_problem_ptr(6);
        assert_eq!(p.param_problem_ptr(), 6);
        assert_eq!(&p.body_mut()[..4], &[0, 0, 0, 6]);
    }

    #[test]
    fn craft_echo_matches_the_frame() {
        let (src, dst) = addrs(&ECHO_REQ);
        assert_eq!(&crate::craft::icmpv6_echo(src, dst, 0x4242, 7, &DATA, true)[..], &ECHO_REQ[14..]);
    }

    #[test]
    fn fill_ignores_old_checksum() {
        let (src, dst) = addrs(&ECHO_REQ);
        let mut buf = ECHO_REQ[54..].to_vec();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_checksum(0xdead);
        p.fill_checksum(&src, &dst);
        assert_eq!(&buf[..], &ECHO_REQ[54..]);
    }

    #[test]
    fn bad_checksum() {
        let (src, dst) = addrs(&ECHO_REQ);
        for at in 0..ECHO_REQ.len() - 54 {
            let mut buf = ECHO_REQ[54..].to_vec();
            buf[at] ^= 0x01;
            assert!(!Packet::new_checked(&buf[..]).unwrap().verify_checksum(&src, &dst), "byte {at}");
        }
        // A padded buffer (the caller forgot to cut at the payload length) does not verify either:
        // the pseudo-header length is wrong.
        let mut buf = ECHO_REQ[54..].to_vec();
        buf.extend_from_slice(&[0, 0]);
        assert!(!Packet::new_checked(&buf[..]).unwrap().verify_checksum(&src, &dst));
    }

    #[test]
    fn impossible_length() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&ECHO_REQ[54..54 + len]).err(), Some(Error::Truncated));
        }
        let p = Packet::new_checked(&ECHO_REQ[54..62]).unwrap();
        assert_eq!(p.data(), &[] as &[u8]);
        assert_eq!(p.body().len(), 4);
    }

    proptest! {
        /// Any bytes: `new_checked` refuses or every accessor and the checksum run.
        #[test]
        fn random_bytes_never_panic(
            buf in proptest::collection::vec(any::<u8>(), 0..80),
            src in any::<[u8; 16]>(),
            dst in any::<[u8; 16]>(),
        ) {
            if let Ok(p) = Packet::new_checked(&buf[..]) {
                let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.is_error());
                let _ = (p.echo_ident(), p.echo_seq_no(), p.pkt_too_big_mtu(), p.param_problem_ptr());
                let _ = (p.body(), p.data(), p.verify_checksum(&src, &dst));
                let mut owned = buf.clone();
                let mut q = Packet::new_unchecked(&mut owned[..]);
                q.fill_checksum(&src, &dst);
                prop_assert!(q.verify_checksum(&src, &dst));
            } else {
                prop_assert!(buf.len() < HEADER_LEN);
            }
        }
    }
}
