//! MP_JOIN (RFC 8684 §3.2; same layout in RFC 6824 §3.2).
//!
//! ```text
//! SYN     (12): kind | len | subtype<<4 | B | addr id | token (4) | nonce (4)
//! SYN/ACK (16): kind | len | subtype<<4 | B | addr id | truncated HMAC (8) | nonce (4)
//! ACK     (24): kind | len | subtype<<4 | reserved (12 bits) | HMAC (20)
//! ```

use super::{get_u8, put_u8, subtype, MpJoin};
use crate::wire::{be, Error, Result};

/// B: the sender wants this subflow to be a backup path.
const BACKUP: u8 = 0x01;

impl MpJoin {
    /// Parses a whole MP_JOIN option (header already checked); the length picks the form.
    pub(super) fn parse(opt: &[u8]) -> Result<MpJoin> {
        let backup = get_u8(opt, 2) & BACKUP != 0;
        let addr_id = get_u8(opt, 3);
        match opt.len() {
            12 => Ok(MpJoin::Syn {
                backup,
                addr_id,
                token: be::u32(opt, 4),
                nonce: be::u32(opt, 8),
            }),
            16 => Ok(MpJoin::SynAck {
                backup,
                addr_id,
                hmac: be::u64(opt, 4),
                nonce: be::u32(opt, 12),
            }),
            24 => {
                let hmac: [u8; 20] = opt
                    .get(4..24)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(Error::Malformed)?;
                Ok(MpJoin::Ack { hmac })
            }
            _ => Err(Error::Malformed),
        }
    }

    /// Writes bytes 2.. of the option into `out` (exactly `buffer_len()` long, zeroed).
    pub(super) fn emit(&self, out: &mut [u8]) -> Result<()> {
        let head = subtype::MP_JOIN << 4;
        match *self {
            MpJoin::Syn {
                backup,
                addr_id,
                token,
                nonce,
            } => {
                put_u8(out, 2, head | u8::from(backup));
                put_u8(out, 3, addr_id);
                be::put_u32(out, 4, token);
                be::put_u32(out, 8, nonce);
            }
            MpJoin::SynAck {
                backup,
                addr_id,
                hmac,
                nonce,
            } => {
                put_u8(out, 2, head | u8::from(backup));
                put_u8(out, 3, addr_id);
                be::put_u64(out, 4, hmac);
                be::put_u32(out, 12, nonce);
            }
            MpJoin::Ack { hmac } => {
                put_u8(out, 2, head);
                out.get_mut(4..24)
                    .ok_or(Error::NoSpace)?
                    .copy_from_slice(&hmac);
            }
        }
        Ok(())
    }
}
