//! MP_TCPRST (RFC 8684 §3.6; v1 only, but harmless to parse in v0).
//!
//! ```text
//! kind | len = 4 | subtype<<4 | U V W T | reason
//! ```

use super::{get_u8, put_u8, subtype, MpTcprst};
use crate::wire::{Error, Result};

impl MpTcprst {
    /// Parses a whole MP_TCPRST option (header already checked). Whether it sits on a
    /// segment with RST set is for the caller to check (Linux ignores it otherwise).
    pub(super) fn parse(opt: &[u8]) -> Result<MpTcprst> {
        if opt.len() != 4 {
            return Err(Error::Malformed);
        }
        Ok(MpTcprst {
            flags: get_u8(opt, 2) & 0x0f,
            reason: get_u8(opt, 3),
        })
    }

    /// Writes bytes 2.. of the option into `out` (exactly 4 bytes, zeroed). Flags beyond
    /// the low nibble do not exist on the wire: `Malformed`.
    pub(super) fn emit(&self, out: &mut [u8]) -> Result<()> {
        if self.flags > 0x0f {
            return Err(Error::Malformed);
        }
        put_u8(out, 2, subtype::MP_TCPRST << 4 | self.flags);
        put_u8(out, 3, self.reason);
        Ok(())
    }
}
