//! Packet views: typed accessors over byte buffers, in the shape of smoltcp's `wire` module.
//!
//! Each protocol file holds a `Packet<T: AsRef<[u8]>>` (a `Frame<T>` for Ethernet) that reads and
//! writes fields at fixed byte offsets instead of casting the buffer to a `#[repr(C)]` struct: network
//! headers are unaligned and big-endian, and offsets keep all of that out of `unsafe`. The same views
//! run over an mbuf's data in the runtime and over a `Vec<u8>` in tests.
//!
//! The panic contract is smoltcp's: `new_unchecked` wraps anything; `check_len` proves the buffer
//! is long enough and the length fields are consistent, after which no accessor panics; untrusted
//! bytes enter only through `new_checked`. A `Repr` (ARP, ICMP, NDP) separates what a packet means
//! from its bytes, for the packets vsd builds itself; forwarded packets are rewritten in place.
//!
//! [`parse::parse_frame`] is the one validating classifier the worker runs on every received frame;
//! [`checksum`] holds the RFC 1071/1624 arithmetic that NAT rewrites lean on.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod parse;
pub mod tcp;
pub mod udp;

#[cfg(test)]
pub(crate) mod testdata;

pub use arp::{Operation as ArpOperation, Packet as ArpPacket, Repr as ArpRepr};
pub use ethernet::{
    ethertype, Address as EthernetAddress, Frame as EthernetFrame, Tags as EthernetTags, VlanTci,
};
pub use icmp::{Packet as IcmpPacket, Repr as IcmpRepr};
pub use icmpv6::Packet as Icmpv6Packet;
pub use ipv4::Packet as Ipv4Packet;
pub use ipv6::Packet as Ipv6Packet;
pub use ndp::{Flags as NdpFlags, Repr as NdpRepr};
pub use parse::{parse_frame, parse_frame_into, ParseError, Parsed, L4};
pub use tcp::{Flags as TcpFlags, Packet as TcpPacket};
pub use udp::Packet as UdpPacket;

/// IP protocol numbers vsd looks at (IANA "Assigned Internet Protocol Numbers").
pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// Why a view or a `Repr` refused a buffer. Small and `Copy`: it is returned on the per-packet path;
/// [`ParseError`] turns it into a reason per protocol for counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the fixed header.
    Truncated,
    /// A header-length field (IPv4 IHL, TCP data offset) is below its minimum or runs past the buffer.
    BadHeaderLen,
    /// A length field (IPv4 total length, IPv6 payload length, UDP length) disagrees with the buffer.
    BadLength,
    /// The bytes are well-formed but not something this view handles (ARP over other hardware, an
    /// ICMP type without a `Repr`, too many VLAN tags).
    Unsupported,
    /// A checksum does not verify.
    BadChecksum,
}

/// Read a big-endian `u16` at `at`. Callers have checked the length, so indexing cannot fail.
#[inline]
pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn set_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
