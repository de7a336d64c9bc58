//! MP_CAPABLE (RFC 8684 §3.1; RFC 6824 §3.1 for v0).
//!
//! ```text
//! kind | len | subtype<<4 | version | flags | sender key (8) | receiver key (8) |
//! data-level length (2) | checksum (2)
//! ```
//! The length alone tells the form: 4, 12, 20, 22 or 24 bytes.

use super::{get_u8, put_u8, subtype, MpCapable};
use crate::wire::{be, Error, Result};

impl MpCapable {
    /// Parses a whole MP_CAPABLE option (header already checked).
    ///
    /// The version nibble is reported as on the wire and not checked: a v0 SYN (12 bytes,
    /// version 0) parsed by a v1 stack is returned as is, and the stack decides whether to
    /// fall back (RFC 8684 §3.1: the version is negotiated, not rejected here).
    pub(super) fn parse(opt: &[u8]) -> Result<MpCapable> {
        let len = opt.len();
        if !matches!(len, 4 | 12 | 20 | 22 | 24) {
            return Err(Error::Malformed);
        }
        Ok(MpCapable {
            version: get_u8(opt, 2) & 0x0f,
            flags: get_u8(opt, 3),
            sender_key: (len >= 12).then(|| be::u64(opt, 4)),
            receiver_key: (len >= 20).then(|| be::u64(opt, 12)),
            data_len: (len >= 22).then(|| be::u16(opt, 20)),
            checksum: (len == 24).then(|| be::u16(opt, 22)),
        })
    }

    /// Writes bytes 2.. of the option into `out` (exactly `buffer_len()` long, zeroed).
    ///
    /// Fields must be filled in order (a receiver key needs a sender key, a data-level
    /// length needs both keys, a checksum needs a data-level length) and the version must
    /// fit its nibble; otherwise `Malformed`.
    pub(super) fn emit(&self, out: &mut [u8]) -> Result<()> {
        let consistent = match (self.sender_key, self.receiver_key, self.data_len) {
            (None, None, None) => self.checksum.is_none(),
            (Some(_), None, None) => self.checksum.is_none(),
            (Some(_), Some(_), None) => self.checksum.is_none(),
            (Some(_), Some(_), Some(_)) => true,
            _ => false,
        };
        if !consistent || self.version > 0x0f {
            return Err(Error::Malformed);
        }
        put_u8(out, 2, subtype::MP_CAPABLE << 4 | self.version);
        put_u8(out, 3, self.flags);
        if let Some(k) = self.sender_key {
            be::put_u64(out, 4, k);
        }
        if let Some(k) = self.receiver_key {
            be::put_u64(out, 12, k);
        }
        if let Some(l) = self.data_len {
            be::put_u16(out, 20, l);
        }
        if let Some(c) = self.checksum {
            be::put_u16(out, 22, c);
        }
        Ok(())
    }
}
