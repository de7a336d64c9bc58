//! DSS, the Data Sequence Signal (RFC 8684 §3.3; same layout in RFC 6824 §3.3).
//!
//! ```text
//! kind | len | subtype<<4 | reserved | flags (0 0 0 F m M a A) |
//! DATA_ACK (4 or 8) | DSN (4 or 8) | subflow seq (4) | data-level length (2) | checksum (2)
//! ```
//! Length = 4 + (A ? (a ? 8 : 4) : 0) + (M ? (m ? 14 : 10) : 0) + (checksum ? 2 : 0).

use super::dss_flags::{DATA_ACK, DATA_ACK_8, DATA_FIN, DSN_8, MAPPING};
use super::{get_u8, put_u8, subtype, Dss, DssMapping, DssSeq};
use crate::wire::{be, Error, Result};

/// Reads a 4- or 8-octet sequence number at `at`.
fn get_seq(opt: &[u8], at: usize, wide: bool) -> DssSeq {
    let value = if wide {
        be::u64(opt, at)
    } else {
        u64::from(be::u32(opt, at))
    };
    DssSeq { value, wide }
}

/// Writes a sequence number at `at`; a narrow one as its low 32 bits. Returns its width.
fn put_seq(out: &mut [u8], at: usize, seq: DssSeq) -> usize {
    if seq.wide {
        be::put_u64(out, at, seq.value);
        8
    } else {
        // Narrow: the value is meant to fit; only its low 32 bits go on the wire.
        be::put_u32(out, at, seq.value as u32);
        4
    }
}

impl Dss {
    /// Parses a whole DSS option (header already checked). The flags fix the expected
    /// length; a mapping may be followed by the 2-byte checksum, which is present exactly
    /// when the length is 2 more. Any other length is `Malformed`, and so is a trailing
    /// checksum without a mapping (it has no field to live in: RFC 8684 §3.3 puts the
    /// checksum in the mapping). Reserved bits, and `a`/`m` without `A`/`M`, are ignored.
    pub(super) fn parse(opt: &[u8]) -> Result<Dss> {
        let flags = get_u8(opt, 3);
        let has_ack = flags & DATA_ACK != 0;
        let ack_wide = flags & DATA_ACK_8 != 0;
        let has_map = flags & MAPPING != 0;
        let dsn_wide = flags & DSN_8 != 0;
        let ack_len = match (has_ack, ack_wide) {
            (false, _) => 0,
            (true, false) => 4,
            (true, true) => 8,
        };
        let map_len = match (has_map, dsn_wide) {
            (false, _) => 0,
            (true, false) => 10,
            (true, true) => 14,
        };
        let expected = 4 + ack_len + map_len;
        let has_csum = if opt.len() == expected {
            false
        } else if has_map && opt.len() == expected + 2 {
            true
        } else {
            return Err(Error::Malformed);
        };

        let data_ack = has_ack.then(|| get_seq(opt, 4, ack_wide));
        let at = 4 + ack_len;
        let mapping = has_map.then(|| {
            let dsn = get_seq(opt, at, dsn_wide);
            let at = at + if dsn_wide { 8 } else { 4 };
            DssMapping {
                dsn,
                ssn: be::u32(opt, at),
                data_len: be::u16(opt, at + 4),
                checksum: has_csum.then(|| be::u16(opt, at + 6)),
            }
        });
        Ok(Dss {
            data_fin: flags & DATA_FIN != 0,
            data_ack,
            mapping,
        })
    }

    /// Writes bytes 2.. of the option into `out` (exactly `buffer_len()` long, zeroed).
    /// A sequence number with `wide == false` is written as its low 32 bits.
    pub(super) fn emit(&self, out: &mut [u8]) -> Result<()> {
        let mut flags = 0;
        if self.data_fin {
            flags |= DATA_FIN;
        }
        let mut at = 4;
        if let Some(ack) = self.data_ack {
            flags |= DATA_ACK | if ack.wide { DATA_ACK_8 } else { 0 };
            at += put_seq(out, at, ack);
        }
        if let Some(map) = self.mapping {
            flags |= MAPPING | if map.dsn.wide { DSN_8 } else { 0 };
            at += put_seq(out, at, map.dsn);
            be::put_u32(out, at, map.ssn);
            be::put_u16(out, at + 4, map.data_len);
            if let Some(csum) = map.checksum {
                be::put_u16(out, at + 6, csum);
            }
        }
        put_u8(out, 2, subtype::DSS << 4);
        put_u8(out, 3, flags);
        Ok(())
    }
}
