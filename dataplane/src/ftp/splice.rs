//! Replacing bytes inside a forwarded TCP segment, when the replacement has another length.
//!
//! The helper decides what to replace while the worker holds the frame as a slice; a slice cannot
//! grow. So the decision is recorded as a [`Splice`] (offsets and at most 15 bytes of text, `Copy`,
//! no allocation) and applied once the worker has its buffer back, after the NAT rewrite. Applying
//! it moves the rest of the payload, resizes the frame through [`PacketBuf`], and fixes what the
//! length change touches: the IPv4 total length and header checksum, and the TCP checksum, which
//! is recomputed over the whole segment (control segments are rare and short; the incremental
//! route would have to account for every moved byte). Ethernet padding after the IP packet is
//! dropped on the way (the NIC pads short frames again).

use super::parse::MAX_ADDR_TEXT;
use crate::buf::PacketBuf;
use crate::wire::{tcp, Ipv4Packet, TcpPacket};

/// A planned replacement of `len` bytes at frame offset `at` of a TCP/IPv4 frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Splice {
    /// Where the IPv4 header and the TCP header start in the frame.
    pub l3_off: usize,
    pub l4_off: usize,
    pub at: usize,
    pub len: usize,
    text: [u8; MAX_ADDR_TEXT],
    text_len: u8,
}

/// Why a [`Splice`] could not be applied. The frame is unchanged in either case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SpliceError {
    /// The buffer has no tailroom for the longer segment.
    NoRoom,
    /// The frame no longer holds what the splice was planned on (lengths disagree).
    Mismatch,
}

impl Splice {
    /// A splice writing `text` (at most [`MAX_ADDR_TEXT`] bytes) in place of `len` bytes at `at`.
    pub fn new(l3_off: usize, l4_off: usize, at: usize, len: usize, text: &[u8]) -> Option<Splice> {
        let mut t = [0u8; MAX_ADDR_TEXT];
        t.get_mut(..text.len())?.copy_from_slice(text);
        let text_len = u8::try_from(text.len()).ok()?;
        Some(Splice { l3_off, l4_off, at, len, text: t, text_len })
    }

    #[inline]
    pub fn text(&self) -> &[u8] {
        &self.text[..usize::from(self.text_len)]
    }

    /// How many bytes longer (or, negative, shorter) the segment gets.
    #[inline]
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        reason = "len is a span of one IPv4 packet's payload, below 2^16"
    )]
    pub fn diff(&self) -> i32 {
        i32::from(self.text_len) - self.len as i32
    }

    /// Apply to the frame in `pkt`: replace, move, resize, fix lengths and checksums.
    pub fn apply<B: PacketBuf>(&self, pkt: &mut B) -> Result<(), SpliceError> {
        let frame = pkt.as_ref();
        let ip = frame
            .get(self.l3_off..)
            .and_then(|b| Ipv4Packet::new_checked(b).ok())
            .ok_or(SpliceError::Mismatch)?;
        let total = usize::from(ip.total_len());
        let l3_end = self.l3_off + total;
        let old_frame = frame.len();
        if self.at < self.l4_off + tcp::HEADER_LEN || self.at + self.len > l3_end {
            return Err(SpliceError::Mismatch);
        }
        let new_total = u16::try_from(i64::from(ip.total_len()) + i64::from(self.diff()))
            .map_err(|_| SpliceError::Mismatch)?;
        let new_frame = self.l3_off + usize::from(new_total);
        if new_frame > old_frame && !pkt.append(new_frame - old_frame) {
            return Err(SpliceError::NoRoom);
        }
        let b = pkt.as_mut();
        let new_len = usize::from(self.text_len);
        b.copy_within(self.at + self.len..l3_end, self.at + new_len);
        b[self.at..self.at + new_len].copy_from_slice(self.text());
        if new_frame < old_frame {
            // Cannot fail: the frame is longer than what is cut.
            pkt.trim(old_frame - new_frame);
        }
        let b = pkt.as_mut();
        let mut ip = Ipv4Packet::new_unchecked(&mut b[self.l3_off..]);
        ip.set_total_len(new_total);
        ip.fill_checksum();
        let (src, dst) = (ip.src(), ip.dst());
        TcpPacket::new_unchecked(&mut b[self.l4_off..new_frame]).fill_checksum(&src, &dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::VecBuf;
    use crate::craft;
    use crate::wire::parse_frame;

    const PAYLOAD: &[u8] = b"227 Entering Passive Mode (198,19,0,11,117,48).\r\n";

    fn frame(payload: &[u8]) -> Vec<u8> {
        let ip = craft::tcp_v4([198, 19, 0, 11], [198, 18, 0, 10], 21, 40000, craft::tcp_flags::ACK, payload);
        craft::ethernet([2; 6], [4; 6], 0x0800, &ip)
    }

    /// Apply a splice replacing the address in [`PAYLOAD`] and check the whole frame.
    fn replace_with(text: &[u8], mut f: Vec<u8>) -> Vec<u8> {
        let at = 14 + 20 + 20 + 27;
        assert_eq!(&f[at..at + 11], b"198,19,0,11");
        let s = Splice::new(14, 34, at, 11, text).unwrap();
        let mut buf = VecBuf::from_frame(&f);
        s.apply(&mut buf).unwrap();
        f = buf.as_ref().to_vec();
        let p = parse_frame(&f).expect("still a valid frame");
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(usize::from(ip.total_len()) + 14, f.len(), "frame length follows the IP length");
        let t = TcpPacket::new_checked(&f[34..]).unwrap();
        assert!(t.verify_checksum(&p.src, &p.dst));
        t.payload().to_vec()
    }

    #[test]
    fn grows_shrinks_and_keeps_length() {
        assert_eq!(
            replace_with(b"198,18,0,100", frame(PAYLOAD)),
            b"227 Entering Passive Mode (198,18,0,100,117,48).\r\n"
        );
        assert_eq!(
            replace_with(b"1,2,3,4", frame(PAYLOAD)),
            b"227 Entering Passive Mode (1,2,3,4,117,48).\r\n"
        );
        assert_eq!(
            replace_with(b"198,18,0,10", frame(PAYLOAD)),
            b"227 Entering Passive Mode (198,18,0,10,117,48).\r\n"
        );
    }

    #[test]
    fn drops_ethernet_padding() {
        let mut f = frame(PAYLOAD);
        f.extend_from_slice(&[0xee; 6]);
        assert_eq!(replace_with(b"198,18,0,100", f), b"227 Entering Passive Mode (198,18,0,100,117,48).\r\n");
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let f = frame(PAYLOAD);
        // Beyond the IP packet, or inside the TCP header.
        for (at, len) in [(f.len() - 2, 5), (40, 4)] {
            let mut buf = VecBuf::from_frame(&f);
            let s = Splice::new(14, 34, at, len, b"x").unwrap();
            assert_eq!(s.apply(&mut buf), Err(SpliceError::Mismatch));
            assert_eq!(buf.as_ref(), &f[..], "unchanged");
        }
        assert!(Splice::new(14, 34, 81, 11, &[b'1'; MAX_ADDR_TEXT + 1]).is_none());
        // A frame filling the buffer cannot grow.
        let big = frame(&vec![b'a'; VecBuf::CAPACITY - VecBuf::HEADROOM - 54]);
        let mut buf = VecBuf::from_frame(&big);
        assert_eq!(Splice::new(14, 34, 60, 1, b"xy").unwrap().apply(&mut buf), Err(SpliceError::NoRoom));
        assert_eq!(buf.as_ref(), &big[..]);
    }
}
