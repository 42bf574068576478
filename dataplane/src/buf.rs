//! The packet buffer the sans-IO core works on.
//!
//! The runtime implements [`PacketBuf`] for DPDK mbufs; tests use [`VecBuf`]. The core sees the
//! frame as one contiguous byte slice (the first segment; multi-segment mbufs are dropped before
//! they get here) and may grow or shrink it at either end within the buffer's head- and tailroom.

/// A frame in a buffer that the worker owns while it processes it.
pub trait PacketBuf: AsRef<[u8]> + AsMut<[u8]> {
    /// Grow the frame by `n` bytes at the front (for encapsulation). False if headroom is short.
    fn prepend(&mut self, n: usize) -> bool;
    /// Remove `n` bytes from the front. False if the frame is shorter.
    fn adj(&mut self, n: usize) -> bool;
    /// Grow the frame by `n` bytes at the end. False if tailroom is short.
    fn append(&mut self, n: usize) -> bool;
    /// Remove `n` bytes from the end. False if the frame is shorter.
    fn trim(&mut self, n: usize) -> bool;

    #[inline]
    fn len(&self) -> usize {
        self.as_ref().len()
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.as_ref().is_empty()
    }
}

/// A heap buffer with head- and tailroom, the test stand-in for an mbuf (same 128-byte headroom as
/// DPDK's `RTE_PKTMBUF_HEADROOM`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl VecBuf {
    pub const HEADROOM: usize = 128;
    pub const CAPACITY: usize = 2048;

    /// A buffer holding `frame`, with the default head- and tailroom.
    pub fn from_frame(frame: &[u8]) -> VecBuf {
        let mut data = vec![0u8; Self::CAPACITY.max(Self::HEADROOM + frame.len())];
        data[Self::HEADROOM..Self::HEADROOM + frame.len()].copy_from_slice(frame);
        VecBuf { data, start: Self::HEADROOM, end: Self::HEADROOM + frame.len() }
    }

    /// An empty buffer, as a freshly allocated mbuf is.
    pub fn empty() -> VecBuf {
        VecBuf::from_frame(&[])
    }
}

impl AsRef<[u8]> for VecBuf {
    fn as_ref(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }
}

impl AsMut<[u8]> for VecBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }
}

impl PacketBuf for VecBuf {
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }

    fn adj(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }

    fn append(&mut self, n: usize) -> bool {
        if self.end + n > self.data.len() {
            return false;
        }
        self.end += n;
        true
    }

    fn trim(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.end -= n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_shrinks_within_room() {
        let mut b = VecBuf::from_frame(&[1, 2, 3]);
        assert!(b.prepend(2));
        assert_eq!(b.len(), 5);
        assert!(b.adj(2));
        assert_eq!(b.as_ref(), &[1, 2, 3]);
        assert!(!b.prepend(VecBuf::HEADROOM + 1));
        assert!(b.append(4));
        assert_eq!(b.len(), 7);
        assert!(b.trim(4));
        assert!(!b.trim(4));
        assert!(!b.adj(4));
        assert_eq!(b.as_ref(), &[1, 2, 3]);
    }
}
