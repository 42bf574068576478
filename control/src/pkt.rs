//! The dataplane's [`PacketBuf`] over a DPDK mbuf.
//!
//! A newtype, because neither the trait (dataplane) nor the type (ffi) lives in this crate. It is
//! `repr(transparent)` and every method is an inline field access on the mbuf: no FFI call per
//! packet.

use vsd_dataplane::buf::PacketBuf;
use vsd_ffi::Mbuf;

#[repr(transparent)]
pub struct Pkt(pub Mbuf);

impl AsRef<[u8]> for Pkt {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for Pkt {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl PacketBuf for Pkt {
    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        self.0.prepend(n).is_some()
    }

    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        self.0.adj(n)
    }

    #[inline]
    fn append(&mut self, n: usize) -> bool {
        self.0.append(n).is_some()
    }

    #[inline]
    fn trim(&mut self, n: usize) -> bool {
        self.0.trim(n)
    }
}
