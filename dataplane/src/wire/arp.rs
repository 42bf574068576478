//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! RFC 826 lets the address lengths vary, but vsd only resolves IPv4 addresses on Ethernet ports,
//! so the view reads fields at the fixed offsets of that one case (6-byte MACs, 4-byte addresses,
//! 28 bytes). [`Repr::parse`] checks the hardware and protocol types and lengths, so a packet for
//! another pairing is refused instead of being misread.

use super::ethernet::{ethertype, Address as EthernetAddress};
use super::{get_u16, set_u16, Error};

/// ARP hardware type for Ethernet (RFC 826; IANA "Hardware Types").
pub const HARDWARE_ETHERNET: u16 = 1;

mod field {
    use core::ops::Range;

    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const HEADER_LEN: usize = field::TPA.end;

/// The ARP opcode (RFC 826: 1 request, 2 reply).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for Operation {
    #[inline]
    fn from(v: u16) -> Operation {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            v => Operation::Unknown(v),
        }
    }
}

impl From<Operation> for u16 {
    #[inline]
    fn from(op: Operation) -> u16 {
        match op {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(v) => v,
        }
    }
}

/// A view of an Ethernet/IPv4 ARP packet.
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

    /// The buffer holds all 28 bytes; after this no accessor panics. Ethernet padding after them
    /// is allowed.
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
    pub fn hardware_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HTYPE)
    }

    #[inline]
    pub fn protocol_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PTYPE)
    }

    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    #[inline]
    pub fn operation(&self) -> Operation {
        get_u16(self.buffer.as_ref(), field::OPER).into()
    }

    #[inline]
    pub fn sender_hardware_addr(&self) -> EthernetAddress {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SHA]);
        EthernetAddress(a)
    }

    #[inline]
    pub fn sender_protocol_addr(&self) -> [u8; 4] {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.buffer.as_ref()[field::SPA]);
        a
    }

    #[inline]
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::THA]);
        EthernetAddress(a)
    }

    #[inline]
    pub fn target_protocol_addr(&self) -> [u8; 4] {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.buffer.as_ref()[field::TPA]);
        a
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_hardware_type(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::HTYPE, v)
    }

    #[inline]
    pub fn set_protocol_type(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::PTYPE, v)
    }

    #[inline]
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v
    }

    #[inline]
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v
    }

    #[inline]
    pub fn set_operation(&mut self, op: Operation) {
        set_u16(self.buffer.as_mut(), field::OPER, op.into())
    }

    #[inline]
    pub fn set_sender_hardware_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a.0)
    }

    #[inline]
    pub fn set_sender_protocol_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a)
    }

    #[inline]
    pub fn set_target_hardware_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a.0)
    }

    #[inline]
    pub fn set_target_protocol_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a)
    }
}

/// What an Ethernet/IPv4 ARP request or reply says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Repr {
    /// Only `Request` or `Reply`: [`Repr::parse`] refuses other opcodes.
    pub operation: Operation,
    pub sender_hardware_addr: EthernetAddress,
    pub sender_protocol_addr: [u8; 4],
    pub target_hardware_addr: EthernetAddress,
    pub target_protocol_addr: [u8; 4],
}

impl Repr {
    /// Read a checked packet. `Unsupported` unless it is Ethernet/IPv4 with lengths 6/4 and the
    /// opcode is request or reply.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, Error> {
        let ethernet_ipv4 = p.hardware_type() == HARDWARE_ETHERNET
            && p.protocol_type() == ethertype::IPV4
            && p.hardware_len() == 6
            && p.protocol_len() == 4;
        if !ethernet_ipv4 {
            return Err(Error::Unsupported);
        }
        let operation = p.operation();
        if let Operation::Unknown(_) = operation {
            return Err(Error::Unsupported);
        }
        Ok(Repr {
            operation,
            sender_hardware_addr: p.sender_hardware_addr(),
            sender_protocol_addr: p.sender_protocol_addr(),
            target_hardware_addr: p.target_hardware_addr(),
            target_protocol_addr: p.target_protocol_addr(),
        })
    }

    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write every field; the packet must hold [`HEADER_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_hardware_type(HARDWARE_ETHERNET);
        p.set_protocol_type(ethertype::IPV4);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(self.operation);
        p.set_sender_hardware_addr(self.sender_hardware_addr);
        p.set_sender_protocol_addr(self.sender_protocol_addr);
        p.set_target_hardware_addr(self.target_hardware_addr);
        p.set_target_protocol_addr(self.target_protocol_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::{ARP_REPLY, ARP_REQ};

    const C: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
    const D: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);

    fn request_repr() -> Repr {
        Repr {
            operation: Operation::Request,
            sender_hardware_addr: C,
            sender_protocol_addr: [198, 18, 0, 1],
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: [198, 18, 0, 100],
        }
    }

    fn reply_repr() -> Repr {
        Repr {
            operation: Operation::Reply,
            sender_hardware_addr: D,
            sender_protocol_addr: [198, 18, 0, 100],
            target_hardware_addr: C,
            target_protocol_addr: [198, 18, 0, 1],
        }
    }

    #[test]
    fn deconstruct() {
        // The frames carry 18 bytes of Ethernet padding after the 28 ARP bytes.
        let p = Packet::new_checked(&ARP_REQ[14..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), 0x0800);
        assert_eq!((p.hardware_len(), p.protocol_len()), (6, 4));
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(p.sender_hardware_addr(), C);
        assert_eq!(p.sender_protocol_addr(), [198, 18, 0, 1]);
        assert_eq!(p.target_hardware_addr(), EthernetAddress([0; 6]));
        assert_eq!(p.target_protocol_addr(), [198, 18, 0, 100]);
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; HEADER_LEN];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_hardware_type(1);
        p.set_protocol_type(0x0800);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(Operation::Reply);
        p.set_sender_hardware_addr(D);
        p.set_sender_protocol_addr([198, 18, 0, 100]);
        p.set_target_hardware_addr(C);
        p.set_target_protocol_addr([198, 18, 0, 1]);
        assert_eq!(&buf[..], &ARP_REPLY[14..14 + HEADER_LEN]);
    }

    #[test]
    fn parse() {
        assert_eq!(Repr::parse(&Packet::new_checked(&ARP_REQ[14..]).unwrap()), Ok(request_repr()));
        assert_eq!(Repr::parse(&Packet::new_checked(&ARP_REPLY[14..]).unwrap()), Ok(reply_repr()));
    }

    #[test]
    fn emit() {
        for (repr, frame) in [(request_repr(), &ARP_REQ), (reply_repr(), &ARP_REPLY)] {
            let mut buf = [0xa5u8; HEADER_LEN];
            assert_eq!(repr.buffer_len(), buf.len());
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(&buf[..], &frame[14..14 + HEADER_LEN]);
        }
    }

    #[test]
    fn refuses_other_pairings_and_opcodes() {
        // Each byte position of the fixed prefix in turn: htype, ptype, hlen, plen, opcode.
        for (at, value) in [(1, 6u8), (2, 0x86), (4, 16), (5, 16), (7, 3)] {
            let mut buf = ARP_REQ[14..14 + HEADER_LEN].to_vec();
            buf[at] = value;
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Repr::parse(&p), Err(Error::Unsupported), "byte {at}");
        }
        let mut buf = ARP_REQ[14..14 + HEADER_LEN].to_vec();
        buf[7] = 9;
        assert_eq!(Packet::new_checked(&buf[..]).unwrap().operation(), Operation::Unknown(9));
        assert_eq!(u16::from(Operation::Unknown(9)), 9);
    }

    #[test]
    fn impossible_length() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&ARP_REQ[14..14 + len]).err(), Some(Error::Truncated));
        }
    }
}
