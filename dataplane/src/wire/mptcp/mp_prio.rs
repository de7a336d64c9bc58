//! MP_PRIO (RFC 8684 §3.3.8; RFC 6824 §3.3.8 adds an optional address ID).
//!
//! ```text
//! kind | len = 3 or 4 | subtype<<4 | B | [addr id (v0)]
//! ```

use super::{get_u8, put_u8, subtype, MpPrio};
use crate::wire::{Error, Result};

/// B: the sender wants this subflow used as a backup.
const BACKUP: u8 = 0x01;

impl MpPrio {
    /// Parses a whole MP_PRIO option (header already checked). The 4-byte form with an
    /// address ID is RFC 6824's; it is accepted whatever the version.
    pub(super) fn parse(opt: &[u8]) -> Result<MpPrio> {
        let backup = get_u8(opt, 2) & BACKUP != 0;
        match opt.len() {
            3 => Ok(MpPrio {
                backup,
                addr_id: None,
            }),
            4 => Ok(MpPrio {
                backup,
                addr_id: Some(get_u8(opt, 3)),
            }),
            _ => Err(Error::Malformed),
        }
    }

    /// Writes bytes 2.. of the option into `out` (exactly `buffer_len()` long, zeroed).
    /// The address ID byte is written exactly when `addr_id` is `Some`.
    pub(super) fn emit(&self, out: &mut [u8]) -> Result<()> {
        put_u8(out, 2, subtype::MP_PRIO << 4 | u8::from(self.backup));
        if let Some(id) = self.addr_id {
            put_u8(out, 3, id);
        }
        Ok(())
    }
}
