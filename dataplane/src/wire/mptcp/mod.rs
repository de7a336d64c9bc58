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

use core::net::IpAddr;

use super::{Error, Result};

pub mod csum;

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
    Syn { backup: bool, addr_id: u8, token: u32, nonce: u32 },
    /// On a SYN/ACK: the leftmost 64 bits of the HMAC and the responder's nonce.
    SynAck { backup: bool, addr_id: u8, hmac: u64, nonce: u32 },
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
    Unknown { subtype: u8, data: &'a [u8] },
}

impl MpCapable {
    pub fn buffer_len(&self) -> usize {
        match (self.sender_key, self.receiver_key, self.data_len, self.checksum) {
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
    pub fn parse(option: &'a [u8], version: Version) -> Result<MptcpOption<'a>> {
        let _ = (option, version);
        Err(Error::Unsupported)
    }

    /// Writes the option (kind and length included) at the start of `buf` and returns the
    /// number of bytes written, which is [`MptcpOption::buffer_len`].
    pub fn emit(&self, buf: &mut [u8], version: Version) -> Result<usize> {
        let _ = (buf, version);
        Err(Error::NoSpace)
    }
}
