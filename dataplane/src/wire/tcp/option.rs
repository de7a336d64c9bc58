//! One TCP option ([`TcpOption`]) and the iterator over an options area
//! ([`TcpOptionsIter`]).
//!
//! Validation follows Linux's `tcp_parse_options` (net/ipv4/tcp_input.c): a length below 2
//! or past the end of the area ends parsing (the rest cannot be resynchronised); a known
//! option whose length is wrong for its kind is reported and skipped by its length, and
//! parsing goes on after it; an unknown kind is skipped by its length.

use super::{be, Error, Result};
use crate::seq::SubflowSeq;

/// TCP option kinds (IANA "TCP Option Kind Numbers").
pub mod kind {
    /// End of option list (RFC 9293 §3.2).
    pub const EOL: u8 = 0;
    /// No-operation (RFC 9293 §3.2).
    pub const NOP: u8 = 1;
    /// Maximum segment size (RFC 9293 §3.7.1).
    pub const MSS: u8 = 2;
    /// Window scale (RFC 7323 §2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted (RFC 2018 §2).
    pub const SACK_PERM: u8 = 4;
    /// SACK blocks (RFC 2018 §3).
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323 §3).
    pub const TIMESTAMP: u8 = 8;
    /// Multipath TCP (RFC 8684 §3).
    pub const MPTCP: u8 = 30;
}

/// Option lengths, kind and length bytes included (Linux's `TCPOLEN_*`).
pub(crate) mod len {
    pub const MSS: usize = 4;
    pub const WINDOW: usize = 3;
    pub const SACK_PERM: usize = 2;
    pub const SACK_BASE: usize = 2;
    pub const SACK_PERBLOCK: usize = 8;
    pub const TIMESTAMP: usize = 10;
}

/// One TCP option as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOption<'a> {
    /// Kind 0: the end of the list; what follows is padding.
    EndOfList,
    /// Kind 1: padding between options.
    NoOperation,
    /// Kind 2: the largest segment the sender can receive.
    MaxSegmentSize(u16),
    /// Kind 3: the shift count the sender applies to its receive window.
    WindowScale(u8),
    /// Kind 4: SACK may be used.
    SackPermitted,
    /// Kind 5: up to four blocks `(left edge, right edge)`, the right edge being the
    /// first sequence number after the block (RFC 2018 §3). The `Some` blocks come first
    /// in wire order; emit stops at the first `None`.
    SackRange([Option<(SubflowSeq, SubflowSeq)>; 4]),
    /// Kind 8: timestamp value and echo reply (RFC 7323 §3).
    Timestamp { tsval: u32, tsecr: u32 },
    /// Kind 30: the WHOLE option, kind and length bytes included, as
    /// [`crate::wire::mptcp::MptcpOption::parse`] takes it.
    Mptcp(&'a [u8]),
    /// Any other kind; `data` excludes the kind and length bytes.
    Unknown { kind: u8, data: &'a [u8] },
}

impl<'a> TcpOption<'a> {
    /// Parses the option at the start of `buffer`; returns the bytes after it and the
    /// option. `Truncated` if the option runs past the end of `buffer` (or `buffer` is
    /// empty), `Malformed` for a length below 2 or a length wrong for a known kind.
    pub fn parse(buffer: &'a [u8]) -> Result<(&'a [u8], TcpOption<'a>)> {
        let (&k, after_kind) = buffer.split_first().ok_or(Error::Truncated)?;
        match k {
            kind::EOL => return Ok((after_kind, TcpOption::EndOfList)),
            kind::NOP => return Ok((after_kind, TcpOption::NoOperation)),
            _ => {}
        }
        let length = usize::from(*after_kind.first().ok_or(Error::Truncated)?);
        if length < 2 {
            return Err(Error::Malformed);
        }
        let whole = buffer.get(..length).ok_or(Error::Truncated)?;
        let rest = buffer.get(length..).unwrap_or(&[]);
        let data = whole.get(2..).unwrap_or(&[]);
        let option = match k {
            kind::MSS if length == len::MSS => TcpOption::MaxSegmentSize(be::u16(data, 0)),
            kind::WINDOW_SCALE if length == len::WINDOW => {
                TcpOption::WindowScale(data.first().copied().unwrap_or(0))
            }
            kind::SACK_PERM if length == len::SACK_PERM => TcpOption::SackPermitted,
            // RFC 2018 §3: 2 + 8n bytes; at most 4 blocks fit in 40 bytes of options.
            kind::SACK if matches!(length, 10 | 18 | 26 | 34) => {
                let mut blocks = [None; 4];
                for (slot, b) in blocks.iter_mut().zip(data.chunks_exact(len::SACK_PERBLOCK)) {
                    *slot = Some((SubflowSeq(be::u32(b, 0)), SubflowSeq(be::u32(b, 4))));
                }
                TcpOption::SackRange(blocks)
            }
            kind::TIMESTAMP if length == len::TIMESTAMP => TcpOption::Timestamp {
                tsval: be::u32(data, 0),
                tsecr: be::u32(data, 4),
            },
            kind::MSS | kind::WINDOW_SCALE | kind::SACK_PERM | kind::SACK | kind::TIMESTAMP => {
                return Err(Error::Malformed)
            }
            kind::MPTCP => TcpOption::Mptcp(whole),
            _ => TcpOption::Unknown { kind: k, data },
        };
        Ok((rest, option))
    }

    /// Bytes the option takes on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => len::MSS,
            TcpOption::WindowScale(_) => len::WINDOW,
            TcpOption::SackPermitted => len::SACK_PERM,
            TcpOption::SackRange(blocks) => {
                len::SACK_BASE + len::SACK_PERBLOCK * sack_count(blocks)
            }
            TcpOption::Timestamp { .. } => len::TIMESTAMP,
            TcpOption::Mptcp(bytes) => bytes.len(),
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buffer` and returns its length.
    /// `NoSpace` if it does not fit; `Malformed` if the option cannot be expressed
    /// (an `Unknown` longer than 253 bytes of data, an `Mptcp` whose bytes are not a
    /// kind-30 option with a matching length byte, a `SackRange` with no block).
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let n = self.buffer_len();
        let out = buffer.get_mut(..n).ok_or(Error::NoSpace)?;
        match *self {
            TcpOption::EndOfList => out.fill(kind::EOL),
            TcpOption::NoOperation => out.fill(kind::NOP),
            TcpOption::MaxSegmentSize(mss) => {
                put_kind_len(out, kind::MSS, n);
                be::put_u16(out, 2, mss);
            }
            TcpOption::WindowScale(shift) => {
                put_kind_len(out, kind::WINDOW_SCALE, n);
                if let Some(b) = out.get_mut(2) {
                    *b = shift;
                }
            }
            TcpOption::SackPermitted => put_kind_len(out, kind::SACK_PERM, n),
            TcpOption::SackRange(blocks) => {
                if sack_count(&blocks) == 0 {
                    return Err(Error::Malformed);
                }
                put_kind_len(out, kind::SACK, n);
                let mut at = len::SACK_BASE;
                for (left, right) in blocks.iter().map_while(|b| *b) {
                    be::put_u32(out, at, left.0);
                    be::put_u32(out, at + 4, right.0);
                    at += len::SACK_PERBLOCK;
                }
            }
            TcpOption::Timestamp { tsval, tsecr } => {
                put_kind_len(out, kind::TIMESTAMP, n);
                be::put_u32(out, 2, tsval);
                be::put_u32(out, 6, tsecr);
            }
            TcpOption::Mptcp(bytes) => {
                if bytes.first() != Some(&kind::MPTCP)
                    || bytes.get(1).map(|&l| usize::from(l)) != Some(n)
                {
                    return Err(Error::Malformed);
                }
                out.copy_from_slice(bytes);
            }
            TcpOption::Unknown { kind: k, data } => {
                if n > usize::from(u8::MAX) {
                    return Err(Error::Malformed);
                }
                put_kind_len(out, k, n);
                if let Some(d) = out.get_mut(2..) {
                    d.copy_from_slice(data);
                }
            }
        }
        Ok(n)
    }
}

/// The number of leading `Some` blocks.
pub(crate) fn sack_count(blocks: &[Option<(SubflowSeq, SubflowSeq)>; 4]) -> usize {
    blocks.iter().take_while(|b| b.is_some()).count()
}

fn put_kind_len(out: &mut [u8], k: u8, n: usize) {
    if let Some(b) = out.get_mut(0) {
        *b = k;
    }
    if let Some(b) = out.get_mut(1) {
        *b = n as u8;
    }
}

/// Iterator over the options of an options area. Yields `Err` for a malformed option;
/// after one whose length cannot be trusted (below 2, past the end) it stops, after one
/// whose length is usable but wrong for its kind it goes on. It stops after
/// [`TcpOption::EndOfList`]. It never panics.
#[derive(Debug, Clone)]
pub struct TcpOptionsIter<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> TcpOptionsIter<'a> {
    /// Iterates over `options`, an options area (the bytes after the fixed header).
    pub fn new(options: &'a [u8]) -> TcpOptionsIter<'a> {
        TcpOptionsIter {
            rest: options,
            done: false,
        }
    }
}

impl<'a> Iterator for TcpOptionsIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((rest, option)) => {
                self.rest = rest;
                if option == TcpOption::EndOfList {
                    self.done = true;
                }
                Some(Ok(option))
            }
            Err(e) => {
                // Linux's tcp_parse_options: "silly options" (length < 2) and partial
                // options end the parse; a known kind with a bad length is ignored.
                let skip = self.rest.get(1).map(|&l| usize::from(l));
                match skip.and_then(|l| if l >= 2 { self.rest.get(l..) } else { None }) {
                    Some(rest) => self.rest = rest,
                    None => self.done = true,
                }
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for TcpOptionsIter<'_> {}
