//! Ethernet II frames, with 802.1Q (C-tag) and 802.1ad (S-tag) VLAN tags.
//!
//! The frame view reads only the untagged 14-byte header; a tagged frame shows the tag protocol
//! (0x8100/0x88a8) as its ethertype. [`Frame::tags`] walks the tags instead: at most one S-tag and
//! one C-tag, in that order, which is every stack a load balancer on a trunk or a QinQ handoff
//! sees. Anything deeper is refused rather than looped over, so the L3 offset is at most 22 bytes.

use core::fmt;

use super::{get_u16, set_u16, Error};

/// Ethertype values (IEEE 802 numbers registry).
pub mod ethertype {
    /// RFC 894.
    pub const IPV4: u16 = 0x0800;
    /// RFC 826.
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q customer VLAN tag (C-tag) protocol identifier.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service VLAN tag (S-tag) protocol identifier, the outer tag of QinQ.
    pub const QINQ: u16 = 0x88a8;
    /// RFC 2464.
    pub const IPV6: u16 = 0x86dd;
}

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Address(pub [u8; 6]);

impl Address {
    pub const BROADCAST: Address = Address([0xff; 6]);

    #[inline]
    pub const fn is_broadcast(&self) -> bool {
        matches!(self.0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    }

    /// The I/G bit, the least significant bit of the first octet (IEEE 802-2014 §8.2); broadcast
    /// is a multicast address too.
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

mod field {
    use core::ops::Range;

    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

/// Length of the untagged Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Length of one VLAN tag: TPID (2) + TCI (2), IEEE 802.1Q-2018 §9.
pub const TAG_LEN: usize = 4;
/// VID 0xFFF is reserved and never sent in a tag (IEEE 802.1Q-2018 Table 9-2).
const VID_RESERVED: u16 = 0x0fff;

/// A VLAN tag control information word: PCP (3 bits), DEI (1 bit), VID (12 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct VlanTci(pub u16);

impl VlanTci {
    /// Build a TCI; `pcp` is cut to 3 bits and `vid` to 12.
    #[inline]
    pub const fn new(pcp: u8, dei: bool, vid: u16) -> VlanTci {
        VlanTci(((pcp as u16 & 0x7) << 13) | ((dei as u16) << 12) | (vid & 0x0fff))
    }

    /// Priority code point (802.1p class of service).
    #[inline]
    pub const fn pcp(self) -> u8 {
        (self.0 >> 13) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub const fn dei(self) -> bool {
        self.0 & 0x1000 != 0
    }

    /// VLAN identifier; 0 means priority-tagged only.
    #[inline]
    pub const fn vid(self) -> u16 {
        self.0 & 0x0fff
    }
}

/// The VLAN tags of a frame, the ethertype after them and where the L3 header starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Tags {
    /// The 802.1ad service tag (outer tag of a QinQ frame).
    pub stag: Option<VlanTci>,
    /// The 802.1Q customer tag (the only tag of a singly tagged frame).
    pub ctag: Option<VlanTci>,
    /// The ethertype of the L3 payload.
    pub ethertype: u16,
    /// Offset of the L3 header from the start of the frame: 14, 18 or 22.
    pub l3_off: usize,
}

/// A view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wrap a buffer without checking it; accessors may panic if it is shorter than the header.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wrap a buffer after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Frame<T>, Error> {
        let frame = Frame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// The buffer holds the 14-byte header; after this no accessor panics.
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

    /// Length of an untagged frame carrying `payload_len` bytes.
    #[inline]
    pub const fn buffer_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    #[inline]
    pub fn dst_addr(&self) -> Address {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        Address(a)
    }

    #[inline]
    pub fn src_addr(&self) -> Address {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        Address(a)
    }

    /// The outermost ethertype: a TPID if the frame is tagged. See [`tags`](Self::tags).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// Walk the VLAN tags: none, one C-tag (0x8100), one S-tag (0x88a8), or an S-tag followed by a
    /// C-tag. `Truncated` if a tag is cut short; `Unsupported` for a third tag, a C-tag followed by
    /// an S-tag, or the reserved VID 0xFFF.
    pub fn tags(&self) -> Result<Tags, Error> {
        let b = self.buffer.as_ref();
        // `type_at` is the offset of the two bytes holding the current ethertype or TPID.
        let mut type_at = field::ETHERTYPE;
        let mut ty = get_u16(b, type_at);
        let mut stag = None;
        let mut ctag = None;
        if ty == ethertype::QINQ {
            stag = Some(read_tag(b, type_at)?);
            type_at += TAG_LEN;
            ty = get_u16(b, type_at);
        }
        if ty == ethertype::VLAN {
            ctag = Some(read_tag(b, type_at)?);
            type_at += TAG_LEN;
            ty = get_u16(b, type_at);
        }
        if ty == ethertype::VLAN || ty == ethertype::QINQ {
            return Err(Error::Unsupported);
        }
        Ok(Tags { stag, ctag, ethertype: ty, l3_off: type_at + 2 })
    }
}

/// Read the TCI of the tag whose TPID sits at `tpid_at`, checking that the next ethertype is there.
#[inline]
fn read_tag(b: &[u8], tpid_at: usize) -> Result<VlanTci, Error> {
    if b.len() < tpid_at + TAG_LEN + 2 {
        return Err(Error::Truncated);
    }
    let tci = VlanTci(get_u16(b, tpid_at + 2));
    if tci.vid() == VID_RESERVED {
        return Err(Error::Unsupported);
    }
    Ok(tci)
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// Everything after the untagged header (for a tagged frame, the tags come first).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    #[inline]
    pub fn set_dst_addr(&mut self, a: Address) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.0)
    }

    #[inline]
    pub fn set_src_addr(&mut self, a: Address) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.0)
    }

    #[inline]
    pub fn set_ethertype(&mut self, ty: u16) {
        set_u16(self.buffer.as_mut(), field::ETHERTYPE, ty)
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Frame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::{ARP_REQ, TCP_SYN_V4, UDP_V4, UDP_V4_QINQ, UDP_V4_VLAN};

    const C: Address = Address([0x02, 0, 0, 0, 0, 0x01]);
    const D: Address = Address([0x02, 0, 0, 0, 0, 0x02]);

    #[test]
    fn deconstruct() {
        let f = Frame::new_checked(&TCP_SYN_V4[..]).unwrap();
        assert_eq!(f.dst_addr(), D);
        assert_eq!(f.src_addr(), C);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.payload(), &TCP_SYN_V4[14..]);
        assert_eq!(f.payload()[0], 0x45);
        let t = f.tags().unwrap();
        assert_eq!(t, Tags { stag: None, ctag: None, ethertype: ethertype::IPV4, l3_off: 14 });

        let arp = Frame::new_checked(&ARP_REQ[..]).unwrap();
        assert!(arp.dst_addr().is_broadcast());
        assert_eq!(arp.ethertype(), ethertype::ARP);
    }

    #[test]
    fn construct() {
        let mut buf = vec![0xa5u8; TCP_SYN_V4.len()];
        let mut f = Frame::new_unchecked(&mut buf);
        f.set_dst_addr(D);
        f.set_src_addr(C);
        f.set_ethertype(ethertype::IPV4);
        f.payload_mut().copy_from_slice(&TCP_SYN_V4[14..]);
        assert_eq!(&buf[..], &TCP_SYN_V4[..]);
        assert_eq!(Frame::<&[u8]>::buffer_len(60), 74);
    }

    #[test]
    fn single_tag() {
        let f = Frame::new_checked(&UDP_V4_VLAN[..]).unwrap();
        assert_eq!(f.ethertype(), ethertype::VLAN);
        let t = f.tags().unwrap();
        assert_eq!(t.stag, None);
        let c = t.ctag.unwrap();
        assert_eq!((c.pcp(), c.dei(), c.vid()), (5, false, 100));
        assert_eq!(t.ethertype, ethertype::IPV4);
        assert_eq!(t.l3_off, 18);
        assert_eq!(&UDP_V4_VLAN[t.l3_off..], &UDP_V4[14..]);
    }

    #[test]
    fn qinq() {
        let t = Frame::new_checked(&UDP_V4_QINQ[..]).unwrap().tags().unwrap();
        let s = t.stag.unwrap();
        assert_eq!((s.pcp(), s.dei(), s.vid()), (1, true, 10));
        assert_eq!(t.ctag, Some(VlanTci::new(0, false, 20)));
        assert_eq!(t.ethertype, ethertype::IPV4);
        assert_eq!(t.l3_off, 22);
        assert_eq!(&UDP_V4_QINQ[t.l3_off..], &UDP_V4[14..]);
    }

    #[test]
    fn s_tag_alone() {
        // Port-based service: one S-tag directly over IPv4.
        let mut buf = UDP_V4_VLAN.to_vec();
        buf[12..14].copy_from_slice(&ethertype::QINQ.to_be_bytes());
        let t = Frame::new_checked(&buf[..]).unwrap().tags().unwrap();
        assert_eq!((t.stag.map(VlanTci::vid), t.ctag, t.l3_off), (Some(100), None, 18));
    }

    #[test]
    fn tags_truncated_at_every_length() {
        for frame in [&UDP_V4_VLAN[..], &UDP_V4_QINQ[..]] {
            let l3_off = Frame::new_unchecked(frame).tags().unwrap().l3_off;
            for len in HEADER_LEN..l3_off {
                let f = Frame::new_checked(&frame[..len]).unwrap();
                assert_eq!(f.tags(), Err(Error::Truncated), "len {len}");
            }
            assert!(Frame::new_unchecked(&frame[..l3_off]).tags().is_ok());
        }
    }

    #[test]
    fn bad_tag_stacks() {
        // Three tags: S, C, then another C.
        let mut triple = UDP_V4_QINQ[..20].to_vec();
        triple.extend_from_slice(&[0x81, 0x00, 0x00, 0x1e]);
        triple.extend_from_slice(&UDP_V4_QINQ[20..]);
        assert_eq!(Frame::new_unchecked(&triple[..]).tags(), Err(Error::Unsupported));
        // C-tag followed by an S-tag: wrong order.
        let mut swapped = UDP_V4_QINQ.to_vec();
        swapped[12..14].copy_from_slice(&ethertype::VLAN.to_be_bytes());
        swapped[16..18].copy_from_slice(&ethertype::QINQ.to_be_bytes());
        assert_eq!(Frame::new_unchecked(&swapped[..]).tags(), Err(Error::Unsupported));
        // Reserved VID.
        let mut reserved = UDP_V4_VLAN.to_vec();
        reserved[14..16].copy_from_slice(&0x0fffu16.to_be_bytes());
        assert_eq!(Frame::new_unchecked(&reserved[..]).tags(), Err(Error::Unsupported));
    }

    #[test]
    fn impossible_length() {
        for len in 0..HEADER_LEN {
            assert_eq!(Frame::new_checked(&TCP_SYN_V4[..len]).err(), Some(Error::Truncated));
        }
        assert_eq!(Frame::new_checked(&TCP_SYN_V4[..HEADER_LEN]).unwrap().payload(), &[] as &[u8]);
    }

    #[test]
    fn addresses() {
        assert_eq!(Address::BROADCAST.to_string(), "ff:ff:ff:ff:ff:ff");
        assert!(Address::BROADCAST.is_broadcast() && Address::BROADCAST.is_multicast());
        let mcast = Address([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
        assert!(mcast.is_multicast() && !mcast.is_broadcast() && !mcast.is_unicast());
        assert!(C.is_unicast() && !C.is_broadcast());
        assert_eq!(Address([0x0a, 0xbb, 0, 0x1, 0xff, 0x10]).to_string(), "0a:bb:00:01:ff:10");
        assert_eq!(format!("{:?}", C), "02:00:00:00:00:01");
    }

    #[test]
    fn tci_fields() {
        let t = VlanTci::new(7, true, 4094);
        assert_eq!(t.0, 0xfffe);
        assert_eq!((t.pcp(), t.dei(), t.vid()), (7, true, 4094));
        assert_eq!(VlanTci::new(9, false, 0x1001).0, VlanTci::new(1, false, 1).0);
    }
}
