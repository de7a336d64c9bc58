//! REMOVE_ADDR (RFC 8684 §3.4.2; same in RFC 6824).
//!
//! ```text
//! kind | len = 3 + n | subtype<<4 | reserved | addr id 1 | ... | addr id n
//! ```

use super::{put_u8, subtype, RemoveAddr};
use crate::wire::{Error, Result};

impl<'a> RemoveAddr<'a> {
    /// Parses a whole REMOVE_ADDR option (header already checked): at least one address ID.
    pub(super) fn parse(opt: &'a [u8]) -> Result<RemoveAddr<'a>> {
        match opt.get(3..) {
            Some(ids) if !ids.is_empty() => Ok(RemoveAddr { addr_ids: ids }),
            _ => Err(Error::Malformed),
        }
    }

    /// Writes bytes 2.. of the option into `out` (exactly `buffer_len()` long, zeroed);
    /// an empty ID list is `Malformed`.
    pub(super) fn emit(&self, out: &mut [u8]) -> Result<()> {
        if self.addr_ids.is_empty() {
            return Err(Error::Malformed);
        }
        put_u8(out, 2, subtype::REMOVE_ADDR << 4);
        out.get_mut(3..)
            .filter(|d| d.len() == self.addr_ids.len())
            .ok_or(Error::NoSpace)?
            .copy_from_slice(self.addr_ids);
        Ok(())
    }
}
