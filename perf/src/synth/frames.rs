//! The synthetic generator's frames: 60-byte TCP frames from a numbered flow, written into a buffer
//! from a template.
//!
//! A frame per packet must cost the generator far less than vsd spends on it, so nothing is built
//! from scratch: a template (made once with [`craft`], so it is a valid frame) is copied, and only
//! the client address and port are written, with both checksums updated incrementally (RFC 1624).
//!
//! Flow *f* comes from client *f mod C* of the perf topology's off-link block (C =
//! [`topology::MAX_CLIENTS`]) and source port 1024 + *f div C*: about 1.06 G distinct flows, so a
//! `syn` run at several million new connections per second never reuses one.

use crate::profile::MIN_FRAME;
use crate::topology::{self, GATEWAY_MAC, MAX_CLIENTS, VIP, VPORT};
use vsd_dataplane::craft;
use vsd_dataplane::wire::{checksum, ethertype};

/// Offsets in the frame: Ethernet (14), IPv4 without options (20), TCP.
const IP_SUM: usize = 14 + 10;
const IP_SRC: usize = 14 + 12;
const TCP_SPORT: usize = 34;
const TCP_SUM: usize = 34 + 16;

/// Distinct flows the numbering can name.
pub const MAX_FLOWS: u64 = MAX_CLIENTS as u64 * (65_536 - topology::FIRST_SPORT as u64);

/// Client address (as a big-endian u32) and source port of flow `f` (< [`MAX_FLOWS`]).
#[inline]
#[allow(
    clippy::cast_possible_truncation,
    reason = "f < MAX_FLOWS: c < MAX_CLIENTS and k < 65,536 - FIRST_SPORT"
)]
pub fn flow(f: u64) -> (u32, u16) {
    let c = (f % u64::from(MAX_CLIENTS)) as u32;
    let k = (f / u64::from(MAX_CLIENTS)) as u16;
    // topology::client(c), without its range check on the hot path: 198.18.64.1 + c.
    (u32::from_be_bytes([198, 18, 64, 1]) + c, topology::FIRST_SPORT + k)
}

/// One kind of frame (SYN or ACK) to the NAT VIP, from any flow.
#[derive(Clone, Debug)]
pub struct Template {
    frame: [u8; MIN_FRAME],
    src: u32,
    sport: u16,
    ip_sum: u16,
    tcp_sum: u16,
}

impl Template {
    /// Frames with TCP `flags`, addressed to `dst_mac` (the port vsd receives on).
    pub fn new(dst_mac: [u8; 6], flags: u8) -> Template {
        let (src, sport) = flow(0);
        let ip = craft::tcp_v4(src.to_be_bytes(), VIP, sport, VPORT, flags, b"");
        let mut v = craft::ethernet(dst_mac, GATEWAY_MAC, ethertype::IPV4, &ip);
        v.resize(MIN_FRAME, 0);
        let mut frame = [0u8; MIN_FRAME];
        frame.copy_from_slice(&v);
        let word = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
        Template { src, sport, ip_sum: word(IP_SUM), tcp_sum: word(TCP_SUM), frame }
    }

    /// Write flow `f`'s frame into `buf` (at least [`MIN_FRAME`] bytes).
    #[inline]
    pub fn write(&self, buf: &mut [u8], f: u64) {
        let (src, sport) = flow(f);
        let buf = &mut buf[..MIN_FRAME];
        buf.copy_from_slice(&self.frame);
        let ip_sum = checksum::update32(self.ip_sum, self.src, src);
        let tcp_sum = checksum::update16(checksum::update32(self.tcp_sum, self.src, src), self.sport, sport);
        buf[IP_SUM..IP_SUM + 2].copy_from_slice(&ip_sum.to_be_bytes());
        buf[IP_SRC..IP_SRC + 4].copy_from_slice(&src.to_be_bytes());
        buf[TCP_SPORT..TCP_SPORT + 2].copy_from_slice(&sport.to_be_bytes());
        buf[TCP_SUM..TCP_SUM + 2].copy_from_slice(&tcp_sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::EXT_MAC;
    use vsd_dataplane::craft::tcp_flags;

    #[test]
    fn written_frames_equal_crafted_ones() {
        for flags in [tcp_flags::SYN, tcp_flags::ACK] {
            let t = Template::new(EXT_MAC, flags);
            for f in [0, 1, 16_381, 16_382, 999_999, 10_000_000, MAX_FLOWS - 1] {
                let (src, sport) = flow(f);
                let ip = craft::tcp_v4(src.to_be_bytes(), VIP, sport, VPORT, flags, b"");
                let mut want = craft::ethernet(EXT_MAC, GATEWAY_MAC, ethertype::IPV4, &ip);
                want.resize(MIN_FRAME, 0);
                let mut got = [0xa5u8; 64];
                t.write(&mut got, f);
                assert_eq!(&got[..MIN_FRAME], &want[..], "flow {f}, flags {flags:#x}");
            }
        }
    }

    #[test]
    fn flows_are_distinct_and_in_the_client_block() {
        let mut seen = std::collections::HashSet::new();
        for f in (0..200_000u64).chain(MAX_FLOWS - 1000..MAX_FLOWS) {
            let (src, sport) = flow(f);
            let a = src.to_be_bytes();
            assert_eq!(a, topology::client(u32::try_from(f % u64::from(MAX_CLIENTS)).unwrap()));
            assert!(sport >= topology::FIRST_SPORT);
            assert!(seen.insert((src, sport)), "flow {f} repeats");
        }
    }
}
