//! TCP (RFC 9293): the header view [`TcpPacket`], the options [`TcpOption`], and the
//! owned [`TcpRepr`] with its MPTCP suboptions.
//!
//! Panic contract (after smoltcp): once [`TcpPacket::new_checked`] has accepted a buffer,
//! no accessor of the view panics, whatever the bytes are, and even if a setter later
//! changes the data offset. Options are parsed leniently, as Linux's
//! `tcp_parse_options` does: a bad option is skipped and counted, never fatal.
//!
//! Submodules: [`option`] (one option, the iterator over an options area) and [`repr`]
//! (the owned segment, the option layout on emit, and the option-space policy).

use core::fmt;
use core::net::IpAddr;

use super::checksum::Checksum;
use super::{be, Error, Result};
use crate::seq::SubflowSeq;

pub mod option;
pub mod repr;

pub use option::{kind, TcpOption, TcpOptionsIter};
pub use repr::{
    FitReport, MptcpOptions, OptionStats, SackBlock, TcpRepr, TcpTimestamp, MAX_OPTIONS_LEN,
};

/// IP protocol number of TCP, as used in the pseudo-header.
pub const PROTOCOL: u8 = 6;

/// Length of the TCP header without options.
pub const HEADER_LEN: usize = 20;

/// Longest TCP header: a data offset of 15 words.
pub const MAX_HEADER_LEN: usize = 60;

/// The eight TCP control bits of byte 13 of the header, as a bitset.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// The letters of [`TcpFlags::letters`], lowest bit first.
    const LETTERS: [u8; 8] = *b"FSRPAUEC";

    /// The empty set.
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }

    /// Sets or clears the flags of `other`.
    pub fn set(&mut self, other: TcpFlags, on: bool) {
        if on {
            self.insert(other)
        } else {
            self.remove(other)
        }
    }

    /// The set flags as letters in the order "FSRPAUEC" (SYN+ACK is "SA", PSH+ACK "PA"),
    /// without allocating. The empty set renders as "".
    pub fn letters(self) -> FlagLetters {
        let mut out = FlagLetters {
            buf: [0; 8],
            len: 0,
        };
        for (bit, letter) in Self::LETTERS.iter().enumerate() {
            if self.0 & (1 << bit) != 0 {
                if let Some(slot) = out.buf.get_mut(usize::from(out.len)) {
                    *slot = *letter;
                    out.len += 1;
                }
            }
        }
        out
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl core::ops::BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl core::ops::Not for TcpFlags {
    type Output = TcpFlags;
    fn not(self) -> TcpFlags {
        TcpFlags(!self.0)
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letters().as_str())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({})", self.letters().as_str())
    }
}

/// The letters of a [`TcpFlags`] set in a fixed buffer (at most 8 ASCII bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlagLetters {
    buf: [u8; 8],
    len: u8,
}

impl FlagLetters {
    /// The letters as a string slice.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or(&[]);
        // Only ASCII letters are ever stored.
        core::str::from_utf8(bytes).unwrap_or("")
    }
}

impl fmt::Display for FlagLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for FlagLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Byte offsets of the fixed header fields (RFC 9293 §3.1).
#[allow(dead_code)]
mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data offset in the high nibble; reserved bits and AccECN's AE below.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS_START: usize = 20;
}

/// A read/write view of a TCP segment (header, options and payload).
///
/// The buffer is the whole segment: the IP payload, exactly. After
/// [`TcpPacket::new_checked`] no accessor panics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking it. Accessors still do not panic, but may return
    /// zeros and empty slices; call [`TcpPacket::check_len`] before trusting them.
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wraps a buffer and validates its lengths: see [`TcpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` if the buffer is shorter than 20 bytes or than the data offset says;
    /// `Malformed` if the data offset is below 5 words (RFC 9293 §3.1).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be::u16(self.bytes(), field::SRC_PORT.start)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be::u16(self.bytes(), field::DST_PORT.start)
    }

    /// Sequence number.
    pub fn seq_number(&self) -> SubflowSeq {
        SubflowSeq(be::u32(self.bytes(), field::SEQ_NUM.start))
    }

    /// Acknowledgment number (meaningful only when ACK is set).
    pub fn ack_number(&self) -> SubflowSeq {
        SubflowSeq(be::u32(self.bytes(), field::ACK_NUM.start))
    }

    /// The eight control bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.bytes().get(field::FLAGS).copied().unwrap_or(0))
    }

    /// Header length in bytes: the data offset times four (options included).
    pub fn header_len(&self) -> u8 {
        self.bytes().get(field::DATA_OFF).copied().unwrap_or(0) >> 4 << 2
    }

    /// The raw window field (not scaled).
    pub fn window_len(&self) -> u16 {
        be::u16(self.bytes(), field::WIN_SIZE.start)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be::u16(self.bytes(), field::CHECKSUM.start)
    }

    /// Urgent pointer field.
    pub fn urgent_at(&self) -> u16 {
        be::u16(self.bytes(), field::URGENT.start)
    }

    /// The options area (may be empty; may hold padding).
    pub fn options(&self) -> &[u8] {
        let end = usize::from(self.header_len());
        self.bytes().get(field::OPTIONS_START..end).unwrap_or(&[])
    }

    /// The payload: everything after the header.
    pub fn payload(&self) -> &[u8] {
        let start = usize::from(self.header_len());
        self.bytes().get(start..).unwrap_or(&[])
    }

    /// An iterator over the options area.
    pub fn options_iter(&self) -> TcpOptionsIter<'_> {
        TcpOptionsIter::new(self.options())
    }

    /// Whether the checksum verifies over the pseudo-header of `src` and `dst` and the
    /// whole buffer. A mixed IPv4/IPv6 pair is a caller bug and never verifies.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        match segment_sum(src, dst, self.bytes()) {
            Some(c) => c.fold() == 0xffff,
            None => false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        be::put_u16(self.bytes_mut(), field::SRC_PORT.start, value)
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        be::put_u16(self.bytes_mut(), field::DST_PORT.start, value)
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, value: SubflowSeq) {
        be::put_u32(self.bytes_mut(), field::SEQ_NUM.start, value.0)
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, value: SubflowSeq) {
        be::put_u32(self.bytes_mut(), field::ACK_NUM.start, value.0)
    }

    /// Sets the eight control bits.
    pub fn set_flags(&mut self, value: TcpFlags) {
        if let Some(b) = self.bytes_mut().get_mut(field::FLAGS) {
            *b = value.0;
        }
    }

    /// Sets the header length in bytes (rounded down to whole words) and clears the
    /// reserved bits next to it.
    pub fn set_header_len(&mut self, value: u8) {
        if let Some(b) = self.bytes_mut().get_mut(field::DATA_OFF) {
            *b = (value >> 2) << 4;
        }
    }

    /// Sets the raw window field.
    pub fn set_window_len(&mut self, value: u16) {
        be::put_u16(self.bytes_mut(), field::WIN_SIZE.start, value)
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        be::put_u16(self.bytes_mut(), field::CHECKSUM.start, value)
    }

    /// Sets the urgent pointer field.
    pub fn set_urgent_at(&mut self, value: u16) {
        be::put_u16(self.bytes_mut(), field::URGENT.start, value)
    }

    /// The options area, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        self.bytes_mut()
            .get_mut(field::OPTIONS_START..end)
            .unwrap_or(&mut [])
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        self.bytes_mut().get_mut(start..).unwrap_or(&mut [])
    }

    /// Computes and writes the checksum over the pseudo-header of `src` and `dst` and the
    /// whole buffer. A mixed IPv4/IPv6 pair is a caller bug: nothing is written.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        fill_checksum_of(self.bytes_mut(), src, dst);
    }
}

/// Writes the checksum of a whole segment in `seg` (see [`TcpPacket::fill_checksum`]).
fn fill_checksum_of(seg: &mut [u8], src: IpAddr, dst: IpAddr) {
    if seg.len() < HEADER_LEN {
        return;
    }
    let old = be::u16(seg, field::CHECKSUM.start);
    be::put_u16(seg, field::CHECKSUM.start, 0);
    match segment_sum(src, dst, seg) {
        Some(c) => be::put_u16(seg, field::CHECKSUM.start, c.finish()),
        None => be::put_u16(seg, field::CHECKSUM.start, old),
    }
}

/// The one's-complement sum of the pseudo-header and `seg`, or `None` for a mixed
/// address pair or a segment too long for its IP version.
fn segment_sum(src: IpAddr, dst: IpAddr, seg: &[u8]) -> Option<Checksum> {
    let mut c = match (src, dst) {
        // RFC 9293 §3.1: the pseudo-header carries the TCP length, 16 bits for IPv4.
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            Checksum::pseudo_v4(s, d, PROTOCOL, u16::try_from(seg.len()).ok()?)
        }
        // RFC 8200 §8.1: upper-layer packet length, 32 bits.
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            Checksum::pseudo_v6(s, d, PROTOCOL, u32::try_from(seg.len()).ok()?)
        }
        _ => return None,
    };
    c.add_bytes(seg);
    Some(c)
}

#[cfg(test)]
mod tests;
