//! The classic pcap file format (libpcap 2.4, Ethernet link type), as bytes in and out.
//!
//! For DPDK's `net_pcap` vdev: tests and the perf runner write the frames a port will receive, and
//! read back what it transmitted. Pure byte work, no I/O: callers read and write the files.

/// Microsecond-resolution pcap, native byte order of the writer (little endian here).
const MAGIC: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 65535;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// A pcap file holding `frames`, one microsecond apart.
pub fn write<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&SNAPLEN.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for (i, f) in frames.into_iter().enumerate() {
        let len = u32::try_from(f.len()).expect("a frame is below 4 GiB");
        let (secs, micros) =
            (u32::try_from(i / 1_000_000).expect("frames one microsecond apart"), i % 1_000_000);
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&u32::try_from(micros).expect("below 10^6").to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
pub enum PcapError {
    TooShort,
    BadMagic(u32),
    Truncated { record: usize },
}

impl core::fmt::Display for PcapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PcapError::TooShort => write!(f, "shorter than a pcap file header"),
            PcapError::BadMagic(m) => write!(f, "not a pcap file (magic {m:#010x})"),
            PcapError::Truncated { record } => write!(f, "record {record} is truncated"),
        }
    }
}

/// The frames of a pcap file, in order. Accepts both byte orders and nanosecond magic.
pub fn read(bytes: &[u8]) -> Result<Vec<Vec<u8>>, PcapError> {
    if bytes.len() < FILE_HEADER {
        return Err(PcapError::TooShort);
    }
    let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => return Err(PcapError::BadMagic(m)),
    };
    let u32_at = |at: usize| {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut frames = Vec::new();
    let mut at = FILE_HEADER;
    while at < bytes.len() {
        if at + RECORD_HEADER > bytes.len() {
            return Err(PcapError::Truncated { record: frames.len() });
        }
        let incl = u32_at(at + 8) as usize;
        let start = at + RECORD_HEADER;
        let Some(frame) = bytes.get(start..start + incl) else {
            return Err(PcapError::Truncated { record: frames.len() });
        };
        frames.push(frame.to_vec());
        at = start + incl;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let frames: Vec<Vec<u8>> = vec![vec![1, 2, 3], vec![], vec![0xa5; 1514]];
        let file = write(frames.iter().map(|f| f.as_slice()));
        assert_eq!(file.len(), 24 + 3 * 16 + 3 + 1514);
        assert_eq!(read(&file).unwrap(), frames);
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(read(&[0; 10]), Err(PcapError::TooShort));
        assert!(matches!(read(&[0x55; 40]), Err(PcapError::BadMagic(_))));
        let mut file = write([&[1u8, 2, 3][..]]);
        file.pop();
        assert_eq!(read(&file), Err(PcapError::Truncated { record: 0 }));
    }
}
