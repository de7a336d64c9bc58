//! The MPTCP TCP option (kind 30) and its suboptions, RFC 8684 §3 (v1) and RFC 6824 (v0).
//!
//! [`MptcpOption`] is one parsed suboption. Parsing takes the whole TCP option (kind and
//! length bytes included) and the MPTCP [`Version`] the connection speaks, because one
//! suboption (ADD_ADDR) is laid out differently in v0 and v1. A malformed suboption is an
//! `Err`: the caller skips it and counts it, as Linux does; it never panics.
//!
//! Lengths of every form (bytes, kind and length included):
//!
//! | suboption    | forms                                                           |
//! |--------------|-----------------------------------------------------------------|
//! | MP_CAPABLE   | v1 SYN 4, SYN/ACK 12, ACK 20, ACK+data 22 (24 with checksum); v0 SYN/SYN-ACK 12, ACK 20 |
//! | MP_JOIN      | SYN 12, SYN/ACK 16, ACK 24 (same layout in v0 and v1)           |
//! | DSS          | 4 + DATA_ACK 0/4/8 + mapping 0/10/14 + checksum 0/2             |
//! | ADD_ADDR     | v1 IPv4 8/10 (echo, +port) or 16/18 (HMAC, +port); IPv6 20/22 or 28/30; v0 IPv4 8/10, IPv6 20/22 |
//! | REMOVE_ADDR  | 3 + one byte per address ID                                     |
//! | MP_PRIO      | 3 (v1), 4 (v0 with address ID)                                  |
//! | MP_FAIL      | 12                                                              |
//! | MP_FASTCLOSE | 12                                                              |
//! | MP_TCPRST    | 4                                                               |
//!
//! In v1 the E flag decides whether an ADD_ADDR carries an HMAC (an echo never does, any
//! other always does), as in Linux. Reserved bits are ignored on parse and zero on emit.
//! Each suboption has its own module (`mp_capable`, `dss`, ...) with its parse and emit.

use core::net::IpAddr;

use super::{Error, Result};

pub mod csum;

mod add_addr;
mod dss;
mod mp_capable;
mod mp_fail;
mod mp_fastclose;
mod mp_join;
mod mp_prio;
mod mp_tcprst;
mod remove_addr;
#[cfg(test)]
mod tests;

/// TCP option kind of MPTCP (RFC 8684 §3).
pub const KIND: u8 = 30;

/// Suboption numbers (RFC 8684 §8, IANA "MPTCP Option Subtypes").
pub mod subtype {
    pub const MP_CAPABLE: u8 = 0x0;
    pub const MP_JOIN: u8 = 0x1;
    pub const DSS: u8 = 0x2;
    pub const ADD_ADDR: u8 = 0x3;
    pub const REMOVE_ADDR: u8 = 0x4;
    pub const MP_PRIO: u8 = 0x5;
    pub const MP_FAIL: u8 = 0x6;
    pub const MP_FASTCLOSE: u8 = 0x7;
    pub const MP_TCPRST: u8 = 0x8;
}

/// MP_CAPABLE flag bits (RFC 8684 §3.1).
pub mod mpc_flags {
    /// A: checksum required.
    pub const CHECKSUM: u8 = 0x80;
    /// B: extensibility (must be 0 in v1).
    pub const EXTENSIBILITY: u8 = 0x40;
    /// C: do not attempt to establish new subflows to this source address.
    pub const NO_MORE_SUBFLOWS: u8 = 0x20;
    /// H: HMAC-SHA256 (v1) / HMAC-SHA1 (v0).
    pub const HMAC: u8 = 0x01;
}

/// DSS flag bits (RFC 8684 §3.3).
pub mod dss_flags {
    /// A: DATA_ACK present.
    pub const DATA_ACK: u8 = 0x01;
    /// a: DATA_ACK is 8 octets.
    pub const DATA_ACK_8: u8 = 0x02;
    /// M: DSN, subflow sequence number, data-level length (and checksum) present.
    pub const MAPPING: u8 = 0x04;
    /// m: DSN is 8 octets.
    pub const DSN_8: u8 = 0x08;
    /// F: DATA_FIN.
    pub const DATA_FIN: u8 = 0x10;
}

/// MP_TCPRST flag bits (RFC 8684 §3.6) and reason codes.
pub mod tcprst {
    /// T: transient error; the peer may retry.
    pub const FLAG_T: u8 = 0x1;
    pub const FLAG_W: u8 = 0x2;
    pub const FLAG_V: u8 = 0x4;
    pub const FLAG_U: u8 = 0x8;
    pub const UNSPECIFIED: u8 = 0x00;
    pub const MPTCP_ERROR: u8 = 0x01;
    pub const LACK_OF_RESOURCES: u8 = 0x02;
    pub const ADMIN_PROHIBITED: u8 = 0x03;
    pub const TOO_MUCH_OUTSTANDING: u8 = 0x04;
    pub const UNACCEPTABLE_PERFORMANCE: u8 = 0x05;
    pub const MIDDLEBOX_INTERFERENCE: u8 = 0x06;
}

/// MPTCP protocol version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Version {
    /// RFC 6824 (SHA-1). Linux does not speak it; mpdk can when enabled.
    V0,
    /// RFC 8684 (SHA-256). The default.
    #[default]
    V1,
}

/// MP_CAPABLE (RFC 8684 §3.1). Which form it is follows from which fields are present:
/// no key (v1 SYN), sender key (SYN/ACK; v0 SYN too), both keys (third ACK), both keys and
/// a data-level length (the first data packet, optionally with a DSS checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpCapable {
    /// The version field as on the wire (0 or 1; others are parsed and reported).
    pub version: u8,
    /// Flags A..H, see [`mpc_flags`].
    pub flags: u8,
    pub sender_key: Option<u64>,
    pub receiver_key: Option<u64>,
    pub data_len: Option<u16>,
    pub checksum: Option<u16>,
}

/// MP_JOIN (RFC 8684 §3.2); the three forms differ by length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MpJoin {
    /// On a SYN: the receiver's token and the sender's random nonce.
    Syn {
        backup: bool,
        addr_id: u8,
        token: u32,
        nonce: u32,
    },
    /// On a SYN/ACK: the leftmost 64 bits of the HMAC and the responder's nonce.
    SynAck {
        backup: bool,
        addr_id: u8,
        hmac: u64,
        nonce: u32,
    },
    /// On the third ACK: the leftmost 160 bits of the HMAC.
    Ack { hmac: [u8; 20] },
}

/// A DSN or DATA_ACK as sent: its value and whether it took 8 octets or 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DssSeq {
    pub value: u64,
    /// 8 octets on the wire (`a` / `m` flag); otherwise `value` fits in 32 bits.
    pub wide: bool,
}

/// A DSS mapping: `data_len` bytes starting at subflow-relative sequence `ssn` carry the
/// data starting at `dsn` (RFC 8684 §3.3.1). `data_len == 0` is the infinite mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DssMapping {
    pub dsn: DssSeq,
    /// Subflow sequence number relative to the subflow's initial sequence number.
    pub ssn: u32,
    pub data_len: u16,
    pub checksum: Option<u16>,
}

impl DssMapping {
    /// A data-level length of zero is the infinite mapping (fallback, RFC 8684 §3.7).
    pub fn is_infinite(&self) -> bool {
        self.data_len == 0
    }
}

/// DSS: Data Sequence Signal (RFC 8684 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dss {
    pub data_fin: bool,
    pub data_ack: Option<DssSeq>,
    pub mapping: Option<DssMapping>,
}

/// ADD_ADDR (RFC 8684 §3.4.1). In v1 a non-echo ADD_ADDR carries the rightmost 64 bits of
/// an HMAC and an echo carries none. In v0 (RFC 6824) there is neither echo nor HMAC, and
/// the IP version is a nibble on the wire instead of being implied by the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddAddr {
    pub echo: bool,
    pub addr_id: u8,
    pub addr: IpAddr,
    pub port: Option<u16>,
    pub hmac: Option<u64>,
}

/// REMOVE_ADDR (RFC 8684 §3.4.2): one or more address IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoveAddr<'a> {
    pub addr_ids: &'a [u8],
}

/// MP_PRIO (RFC 8684 §3.3.8). v1 has no address ID; v0 may name one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpPrio {
    pub backup: bool,
    pub addr_id: Option<u8>,
}

/// MP_FAIL (RFC 8684 §3.7): the 64-bit DSN at which the checksum failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpFail {
    pub dsn: u64,
}

/// MP_FASTCLOSE (RFC 8684 §3.5): the receiver's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpFastclose {
    pub receiver_key: u64,
}

/// MP_TCPRST (RFC 8684 §3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpTcprst {
    /// Flags U, V, W, T in the low nibble (see [`tcprst`]).
    pub flags: u8,
    pub reason: u8,
}

/// One MPTCP suboption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MptcpOption<'a> {
    MpCapable(MpCapable),
    MpJoin(MpJoin),
    Dss(Dss),
    AddAddr(AddAddr),
    RemoveAddr(RemoveAddr<'a>),
    MpPrio(MpPrio),
    MpFail(MpFail),
    MpFastclose(MpFastclose),
    MpTcprst(MpTcprst),
    /// A subtype this implementation does not know; skipped by the protocol.
    Unknown {
        subtype: u8,
        data: &'a [u8],
    },
}

impl MpCapable {
    pub fn buffer_len(&self) -> usize {
        match (
            self.sender_key,
            self.receiver_key,
            self.data_len,
            self.checksum,
        ) {
            (None, ..) => 4,
            (Some(_), None, ..) => 12,
            (Some(_), Some(_), None, _) => 20,
            (Some(_), Some(_), Some(_), None) => 22,
            (Some(_), Some(_), Some(_), Some(_)) => 24,
        }
    }
}

impl MpJoin {
    pub fn buffer_len(&self) -> usize {
        match self {
            MpJoin::Syn { .. } => 12,
            MpJoin::SynAck { .. } => 16,
            MpJoin::Ack { .. } => 24,
        }
    }
}

impl Dss {
    pub fn buffer_len(&self) -> usize {
        let ack = match self.data_ack {
            None => 0,
            Some(DssSeq { wide: true, .. }) => 8,
            Some(DssSeq { wide: false, .. }) => 4,
        };
        let map = match self.mapping {
            None => 0,
            Some(m) => {
                (if m.dsn.wide { 14 } else { 10 }) + if m.checksum.is_some() { 2 } else { 0 }
            }
        };
        4 + ack + map
    }
}

impl AddAddr {
    pub fn buffer_len(&self) -> usize {
        let base = match self.addr {
            IpAddr::V4(_) => 8,
            IpAddr::V6(_) => 20,
        };
        base + if self.port.is_some() { 2 } else { 0 } + if self.hmac.is_some() { 8 } else { 0 }
    }
}

impl MptcpOption<'_> {
    /// Bytes this option takes in the TCP option space, kind and length included.
    pub fn buffer_len(&self) -> usize {
        match self {
            MptcpOption::MpCapable(o) => o.buffer_len(),
            MptcpOption::MpJoin(o) => o.buffer_len(),
            MptcpOption::Dss(o) => o.buffer_len(),
            MptcpOption::AddAddr(o) => o.buffer_len(),
            MptcpOption::RemoveAddr(o) => 3 + o.addr_ids.len(),
            MptcpOption::MpPrio(o) => 3 + usize::from(o.addr_id.is_some()),
            MptcpOption::MpFail(_) | MptcpOption::MpFastclose(_) => 12,
            MptcpOption::MpTcprst(_) => 4,
            MptcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// The suboption number.
    pub fn subtype(&self) -> u8 {
        match self {
            MptcpOption::MpCapable(_) => subtype::MP_CAPABLE,
            MptcpOption::MpJoin(_) => subtype::MP_JOIN,
            MptcpOption::Dss(_) => subtype::DSS,
            MptcpOption::AddAddr(_) => subtype::ADD_ADDR,
            MptcpOption::RemoveAddr(_) => subtype::REMOVE_ADDR,
            MptcpOption::MpPrio(_) => subtype::MP_PRIO,
            MptcpOption::MpFail(_) => subtype::MP_FAIL,
            MptcpOption::MpFastclose(_) => subtype::MP_FASTCLOSE,
            MptcpOption::MpTcprst(_) => subtype::MP_TCPRST,
            MptcpOption::Unknown { subtype, .. } => *subtype,
        }
    }
}

impl<'a> MptcpOption<'a> {
    /// Parses one whole TCP option of kind 30 (`option[0] == 30`, `option[1]` its length,
    /// `option.len() == option[1]`) as the given MPTCP version speaks it.
    ///
    /// Errors: `Truncated` when `option` is shorter than two bytes or than its length byte;
    /// `Malformed` for another kind, a slice longer than the length byte, or a length the
    /// suboption does not have. An unknown subtype is `Ok(Unknown)`. Never panics.
    pub fn parse(option: &'a [u8], version: Version) -> Result<MptcpOption<'a>> {
        let (kind, len) = match option {
            [kind, len, ..] => (*kind, usize::from(*len)),
            _ => return Err(Error::Truncated),
        };
        if kind != KIND {
            return Err(Error::Malformed);
        }
        if len > option.len() {
            return Err(Error::Truncated);
        }
        // RFC 8684 §3: every suboption has at least the subtype byte.
        if len < option.len() || len < 3 {
            return Err(Error::Malformed);
        }
        let st = get_u8(option, 2) >> 4;
        Ok(match st {
            subtype::MP_CAPABLE => MptcpOption::MpCapable(MpCapable::parse(option)?),
            subtype::MP_JOIN => MptcpOption::MpJoin(MpJoin::parse(option)?),
            subtype::DSS => MptcpOption::Dss(Dss::parse(option)?),
            subtype::ADD_ADDR => MptcpOption::AddAddr(AddAddr::parse(option, version)?),
            subtype::REMOVE_ADDR => MptcpOption::RemoveAddr(RemoveAddr::parse(option)?),
            subtype::MP_PRIO => MptcpOption::MpPrio(MpPrio::parse(option)?),
            subtype::MP_FAIL => MptcpOption::MpFail(MpFail::parse(option)?),
            subtype::MP_FASTCLOSE => MptcpOption::MpFastclose(MpFastclose::parse(option)?),
            subtype::MP_TCPRST => MptcpOption::MpTcprst(MpTcprst::parse(option)?),
            _ => MptcpOption::Unknown {
                subtype: st,
                data: option.get(2..).unwrap_or_default(),
            },
        })
    }

    /// Writes the option (kind and length included) at the start of `buf` and returns the
    /// number of bytes written, which is [`MptcpOption::buffer_len`].
    ///
    /// Errors: `NoSpace` when `buf` is shorter than that; `Malformed` when the value has no
    /// wire form: longer than 255 bytes, fields out of order in MP_CAPABLE, an ADD_ADDR
    /// whose echo/HMAC does not fit `version`, an empty REMOVE_ADDR, a version or flags
    /// wider than their nibble, an `Unknown` with no data or a subtype above 15. On error
    /// the first `buffer_len()` bytes of `buf` may have been overwritten. A DSS sequence
    /// number with `wide == false` is written as its low 32 bits. `Unknown` writes `data`
    /// verbatim except the high nibble of its first byte, which becomes `subtype`.
    pub fn emit(&self, buf: &mut [u8], version: Version) -> Result<usize> {
        let len = self.buffer_len();
        let len_byte = u8::try_from(len).map_err(|_| Error::Malformed)?;
        let out = buf.get_mut(..len).ok_or(Error::NoSpace)?;
        out.fill(0);
        match self {
            MptcpOption::MpCapable(o) => o.emit(out)?,
            MptcpOption::MpJoin(o) => o.emit(out)?,
            MptcpOption::Dss(o) => o.emit(out)?,
            MptcpOption::AddAddr(o) => o.emit(out, version)?,
            MptcpOption::RemoveAddr(o) => o.emit(out)?,
            MptcpOption::MpPrio(o) => o.emit(out)?,
            MptcpOption::MpFail(o) => o.emit(out)?,
            MptcpOption::MpFastclose(o) => o.emit(out)?,
            MptcpOption::MpTcprst(o) => o.emit(out)?,
            MptcpOption::Unknown { subtype, data } => {
                if *subtype > 0x0f || data.is_empty() {
                    return Err(Error::Malformed);
                }
                out.get_mut(2..)
                    .filter(|d| d.len() == data.len())
                    .ok_or(Error::NoSpace)?
                    .copy_from_slice(data);
                put_u8(out, 2, subtype << 4 | (get_u8(data, 0) & 0x0f));
            }
        }
        put_u8(out, 0, KIND);
        put_u8(out, 1, len_byte);
        Ok(len)
    }
}

/// Byte `at` of `b`, or 0 past its end (callers have checked the length).
fn get_u8(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// Sets byte `at` of `b`; does nothing past its end (callers have checked the length).
fn put_u8(b: &mut [u8], at: usize, v: u8) {
    if let Some(x) = b.get_mut(at) {
        *x = v;
    }
}
