//! MP_FAIL (RFC 8684 §3.7; same in RFC 6824).
//!
//! ```text
//! kind | len = 12 | subtype<<4 | reserved (12 bits) | DSN (8)
//! ```

use super::{put_u8, subtype, MpFail};
use crate::wire::{be, Error, Result};

impl MpFail {
    /// Parses a whole MP_FAIL option (header already checked).
    pub(super) fn parse(opt: &[u8]) -> Result<MpFail> {
        if opt.len() != 12 {
            return Err(Error::Malformed);
        }
        Ok(MpFail {
            dsn: be::u64(opt, 4),
        })
    }

    /// Writes bytes 2.. of the option into `out` (exactly 12 bytes, zeroed).
    pub(super) fn emit(&self, out: &mut [u8]) -> Result<()> {
        put_u8(out, 2, subtype::MP_FAIL << 4);
        be::put_u64(out, 4, self.dsn);
        Ok(())
    }
}
