//! Writing classic pcap captures (nanosecond resolution, Ethernet link type).
//!
//! The format: a 24-byte global header (magic `0xa1b23c4d` for nanosecond timestamps,
//! version 2.4, snaplen, link type) and then one 16-byte record header (seconds,
//! nanoseconds, captured length, original length) before each packet. All fields are
//! written little-endian; readers detect the byte order from the magic. This is test and
//! debugging tooling: it is not on any fast path.

use std::io::{self, Write};

use crate::time::Instant;

/// Magic number of a pcap file with nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`: frames start with an Ethernet II header.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Largest number of bytes stored per packet (longer packets are truncated).
pub const SNAPLEN: u32 = 262_144;
/// Size of the global file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Size of each record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// Writes a classic pcap stream to any [`Write`].
///
/// ```
/// use dataplane::pcap::write::PcapWriter;
/// use dataplane::time::Instant;
/// let mut w = PcapWriter::new(Vec::new()).unwrap();
/// w.write_packet(Instant::from_millis(1), &[0u8; 60]).unwrap();
/// assert_eq!(w.get_ref().len(), 24 + 16 + 60);
/// ```
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    inner: W,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header (Ethernet, snaplen [`SNAPLEN`]) and returns the writer.
    pub fn new(inner: W) -> io::Result<Self> {
        Self::with_linktype(inner, LINKTYPE_ETHERNET)
    }

    /// Like [`PcapWriter::new`] for another `LINKTYPE_*` value.
    pub fn with_linktype(mut inner: W, linktype: u32) -> io::Result<Self> {
        let mut h = [0u8; FILE_HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes()); // version major
        h[6..8].copy_from_slice(&4u16.to_le_bytes()); // version minor
                                                      // 8..12: thiszone = 0 (UTC); 12..16: sigfigs = 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&linktype.to_le_bytes());
        inner.write_all(&h)?;
        Ok(PcapWriter { inner, packets: 0 })
    }

    /// Appends one packet captured at `ts`. Packets longer than [`SNAPLEN`] are truncated
    /// (the record keeps the original length). Seconds past `u32::MAX` wrap, as the
    /// format's 32-bit field allows nothing else.
    pub fn write_packet(&mut self, ts: Instant, data: &[u8]) -> io::Result<()> {
        let ns = ts.as_nanos();
        let orig_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(SNAPLEN);
        let mut h = [0u8; RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&((ns / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ns % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&incl_len.to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.inner.write_all(&h)?;
        self.inner
            .write_all(data.get(..incl_len as usize).unwrap_or(data))?;
        self.packets += 1;
        Ok(())
    }

    /// Number of packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying writer, mutably (writing to it directly corrupts the capture).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Returns the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn header_and_records() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(Instant::from_nanos(3_000_000_007), &[1, 2, 3])
            .unwrap();
        w.write_packet(Instant::from_millis(1), &[]).unwrap();
        assert_eq!(w.packets(), 2);
        let b = w.into_inner();
        assert_eq!(&b[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(u32_at(&b, 4), 0x0004_0002);
        assert_eq!(u32_at(&b, 8), 0);
        assert_eq!(u32_at(&b, 12), 0);
        assert_eq!(u32_at(&b, 16), 262_144);
        assert_eq!(u32_at(&b, 20), 1);
        let r = &b[24..];
        assert_eq!((u32_at(r, 0), u32_at(r, 4)), (3, 7));
        assert_eq!((u32_at(r, 8), u32_at(r, 12)), (3, 3));
        assert_eq!(&r[16..19], &[1, 2, 3]);
        let r = &r[19..];
        assert_eq!((u32_at(r, 0), u32_at(r, 4)), (0, 1_000_000));
        assert_eq!((u32_at(r, 8), u32_at(r, 12)), (0, 0));
        assert_eq!(r.len(), 16);
    }

    #[test]
    fn truncates_to_snaplen() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let big = vec![0xabu8; SNAPLEN as usize + 10];
        w.write_packet(Instant::ZERO, &big).unwrap();
        let b = w.into_inner();
        assert_eq!(u32_at(&b, 24 + 8), SNAPLEN);
        assert_eq!(u32_at(&b, 24 + 12), SNAPLEN + 10);
        assert_eq!(b.len(), 24 + 16 + SNAPLEN as usize);
    }
}
