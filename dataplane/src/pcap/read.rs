//! Reading pcap and pcapng captures from bytes in memory.
//!
//! The caller reads the file; [`Capture::parse`] checks the file header and
//! [`Capture::records`] walks the packets. Both classic pcap (microsecond magic
//! `a1b2c3d4` and nanosecond magic `a1b23c4d`, either byte order) and pcapng
//! (several sections of either byte order, several interfaces with their own link type
//! and `if_tsresol` / `if_tsoffset`, Enhanced, Simple and Obsolete Packet Blocks) are
//! read; unknown pcapng blocks are skipped.
//!
//! Input is untrusted: a truncated or corrupt file yields one `Err` item, after which
//! the iterator ends. Nothing panics, and every step consumes at least 12 bytes, so
//! iteration always terminates.
//!
//! [`strip_cooked`] removes the link-layer header of the link types that are not
//! Ethernet (Linux cooked SLL/SLL2, raw IP, BSD loopback); Ethernet frames are left to
//! [`crate::wire::ethernet`].

use core::fmt;

/// A capture's link-layer header type (the LINKTYPE_* registry of tcpdump.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte address family in host byte order.
    Null,
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101): a raw IPv4 or IPv6 packet.
    Raw,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, 4-byte address family in network order.
    Loop,
    /// LINKTYPE_LINUX_SLL (113): Linux "cooked" capture v1, 16-byte header.
    LinuxSll,
    /// LINKTYPE_IPV4 (228): a raw IPv4 packet.
    Ipv4,
    /// LINKTYPE_IPV6 (229): a raw IPv6 packet.
    Ipv6,
    /// LINKTYPE_LINUX_SLL2 (276): Linux "cooked" capture v2, 20-byte header.
    LinuxSll2,
    /// Any other link type, by number.
    Other(u32),
}

impl LinkType {
    /// The link type with LINKTYPE number `v`.
    pub fn from_u32(v: u32) -> Self {
        match v {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    /// The LINKTYPE number, as written in a file header.
    pub fn to_u32(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(v) => v,
        }
    }
}

/// Why a capture could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// Neither a pcap nor a pcapng file: unknown magic number or byte-order magic.
    BadMagic,
    /// The data ends inside a header, record or block that starts at `offset`.
    Truncated {
        /// Byte offset of the incomplete header, record or block.
        offset: usize,
    },
    /// A length or field that cannot be right, in the record or block at `offset`.
    Malformed {
        /// Byte offset of the record or block.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// A file format version this reader does not know (pcap major 2 and pcapng
    /// major 1 are read).
    UnsupportedVersion {
        /// Major version in the file.
        major: u16,
        /// Minor version in the file.
        minor: u16,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadMagic => f.write_str("not a pcap or pcapng capture"),
            Error::Truncated { offset } => write!(f, "capture truncated at byte {offset}"),
            Error::Malformed { offset, what } => {
                write!(f, "malformed capture at byte {offset}: {what}")
            }
            Error::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported capture format version {major}.{minor}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Result of capture reading.
pub type Result<T> = core::result::Result<T, Error>;

/// Which file format a capture is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Classic pcap.
    Pcap {
        /// Fields are big-endian.
        big_endian: bool,
        /// Timestamps have nanosecond (magic `a1b23c4d`) rather than microsecond
        /// resolution.
        nanos: bool,
        /// The link type of every packet.
        link_type: LinkType,
        /// The snapshot length from the file header.
        snaplen: u32,
    },
    /// pcapng; the byte order is that of the first section.
    PcapNg {
        /// Fields of the first section are big-endian.
        big_endian: bool,
    },
}

/// One captured packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Capture time in nanoseconds since the Unix epoch (0 for a Simple Packet Block,
    /// which has none).
    pub timestamp_ns: u64,
    /// Link-layer header type of `data`.
    pub link_type: LinkType,
    /// pcapng interface number within its section (0 for classic pcap).
    pub interface_id: u32,
    /// The captured bytes (possibly fewer than `orig_len`).
    pub data: &'a [u8],
    /// The length of the packet on the wire.
    pub orig_len: u32,
}

impl<'a> Record<'a> {
    /// [`strip_cooked`] applied to this record.
    pub fn strip_cooked(&self) -> Option<(u16, &'a [u8])> {
        strip_cooked(self.link_type, self.data)
    }
}

/// A capture file held in memory, whose header has been checked.
#[derive(Debug, Clone, Copy)]
pub struct Capture<'a> {
    data: &'a [u8],
    format: Format,
}

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

const NG_SHB: u32 = 0x0a0d_0d0a;
const NG_IDB: u32 = 0x0000_0001;
const NG_OPB: u32 = 0x0000_0002;
const NG_SPB: u32 = 0x0000_0003;
const NG_EPB: u32 = 0x0000_0006;
const NG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Block type, total length, trailing total length.
const NG_BLOCK_OVERHEAD: usize = 12;
const NG_OPT_ENDOFOPT: u16 = 0;
const NG_OPT_IF_TSRESOL: u16 = 9;
const NG_OPT_IF_TSOFFSET: u16 = 14;

impl<'a> Capture<'a> {
    /// Recognises the file format and checks the file header (pcap) or the first
    /// Section Header Block (pcapng).
    pub fn parse(data: &'a [u8]) -> Result<Capture<'a>> {
        let magic = rd_u32(data, 0, false).ok_or(Error::Truncated { offset: 0 })?;
        if magic == NG_SHB {
            let bom = rd_u32(data, 8, false).ok_or(Error::Truncated { offset: 0 })?;
            let big_endian = ng_byte_order(bom).ok_or(Error::BadMagic)?;
            // Check the whole first block the same way the iterator will.
            let probe = Records::new(data, Kind::new_ng(big_endian));
            let (_, body, _) = probe.read_block_bounds().map_err(|e| match e {
                Step::Err(e) => e,
                Step::End => Error::Truncated { offset: 0 },
            })?;
            if body.len() < 16 {
                return Err(Error::Malformed {
                    offset: 0,
                    what: "short section header",
                });
            }
            let (major, minor) = (
                rd_u16(body, 4, big_endian).unwrap_or(0),
                rd_u16(body, 6, big_endian).unwrap_or(0),
            );
            if major != 1 {
                return Err(Error::UnsupportedVersion { major, minor });
            }
            return Ok(Capture {
                data,
                format: Format::PcapNg { big_endian },
            });
        }
        let (big_endian, nanos) = match magic {
            PCAP_MAGIC_US => (false, false),
            PCAP_MAGIC_NS => (false, true),
            m if m.swap_bytes() == PCAP_MAGIC_US => (true, false),
            m if m.swap_bytes() == PCAP_MAGIC_NS => (true, true),
            _ => return Err(Error::BadMagic),
        };
        if data.len() < PCAP_HEADER_LEN {
            return Err(Error::Truncated { offset: 0 });
        }
        let major = rd_u16(data, 4, big_endian).unwrap_or(0);
        let minor = rd_u16(data, 6, big_endian).unwrap_or(0);
        if major != 2 {
            return Err(Error::UnsupportedVersion { major, minor });
        }
        let snaplen = rd_u32(data, 16, big_endian).unwrap_or(0);
        // The upper bits of the link-type field carry FCS information (bits 26-31).
        let network = rd_u32(data, 20, big_endian).unwrap_or(0) & 0x03ff_ffff;
        Ok(Capture {
            data,
            format: Format::Pcap {
                big_endian,
                nanos,
                link_type: LinkType::from_u32(network),
                snaplen,
            },
        })
    }

    /// The file format found by [`Capture::parse`].
    pub fn format(&self) -> Format {
        self.format
    }

    /// An iterator over the packets, in file order.
    pub fn records(&self) -> Records<'a> {
        match self.format {
            Format::Pcap {
                big_endian,
                nanos,
                link_type,
                ..
            } => {
                let mut r = Records::new(
                    self.data,
                    Kind::Pcap {
                        big_endian,
                        nanos,
                        link_type,
                    },
                );
                r.pos = PCAP_HEADER_LEN;
                r
            }
            Format::PcapNg { big_endian } => Records::new(self.data, Kind::new_ng(big_endian)),
        }
    }
}

impl<'a> IntoIterator for &Capture<'a> {
    type Item = Result<Record<'a>>;
    type IntoIter = Records<'a>;

    fn into_iter(self) -> Records<'a> {
        self.records()
    }
}

/// A pcapng interface (Interface Description Block).
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    /// `if_tsresol`: bit 7 clear, units of 10^-v s; set, units of 2^-v s.
    tsresol: u8,
    /// `if_tsoffset`: seconds added to every timestamp.
    tsoffset: i64,
}

#[derive(Debug)]
enum Kind {
    Pcap {
        big_endian: bool,
        nanos: bool,
        link_type: LinkType,
    },
    PcapNg {
        /// Byte order of the current section.
        big_endian: bool,
        /// Interfaces of the current section, by interface ID. Grows only with IDBs.
        interfaces: Vec<Interface>,
    },
}

impl Kind {
    fn new_ng(big_endian: bool) -> Self {
        Kind::PcapNg {
            big_endian,
            interfaces: Vec::new(),
        }
    }
}

/// Iterator over the packets of a [`Capture`]: `Ok` records until the end of the data,
/// or one `Err` and then the end.
#[derive(Debug)]
pub struct Records<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
    kind: Kind,
}

/// Outcome of one step that does not yield a record.
enum Step {
    End,
    Err(Error),
}

impl From<Error> for Step {
    fn from(e: Error) -> Self {
        Step::Err(e)
    }
}

impl<'a> Records<'a> {
    fn new(data: &'a [u8], kind: Kind) -> Self {
        Records {
            data,
            pos: 0,
            done: false,
            kind,
        }
    }

    fn next_pcap(
        &mut self,
        big_endian: bool,
        nanos: bool,
        link_type: LinkType,
    ) -> core::result::Result<Record<'a>, Step> {
        let at = self.pos;
        let rest = self.data.get(at..).unwrap_or(&[]);
        if rest.is_empty() {
            return Err(Step::End);
        }
        let (Some(sec), Some(frac), Some(incl), Some(orig)) = (
            rd_u32(rest, 0, big_endian),
            rd_u32(rest, 4, big_endian),
            rd_u32(rest, 8, big_endian),
            rd_u32(rest, 12, big_endian),
        ) else {
            return Err(Error::Truncated { offset: at }.into());
        };
        let end = usize::try_from(incl)
            .ok()
            .and_then(|l| l.checked_add(PCAP_RECORD_HEADER_LEN));
        let Some(data) = end.and_then(|end| rest.get(PCAP_RECORD_HEADER_LEN..end)) else {
            return Err(Error::Truncated { offset: at }.into());
        };
        self.pos = at + PCAP_RECORD_HEADER_LEN + data.len();
        let frac_ns = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1_000
        };
        Ok(Record {
            timestamp_ns: (u64::from(sec) * 1_000_000_000).saturating_add(frac_ns),
            link_type,
            interface_id: 0,
            data,
            orig_len: orig,
        })
    }

    /// Checks the block at `pos` and returns (type, body, block offset) without moving.
    fn read_block_bounds(&self) -> core::result::Result<(u32, &'a [u8], usize), Step> {
        let Kind::PcapNg { big_endian, .. } = self.kind else {
            return Err(Step::End);
        };
        let at = self.pos;
        let rest = self.data.get(at..).unwrap_or(&[]);
        if rest.is_empty() {
            return Err(Step::End);
        }
        let mut be = big_endian;
        let block_type = rd_u32(rest, 0, be).ok_or(Error::Truncated { offset: at })?;
        if block_type == NG_SHB {
            // A new section may switch byte order; its byte-order magic tells.
            let bom = rd_u32(rest, 8, false).ok_or(Error::Truncated { offset: at })?;
            be = ng_byte_order(bom).ok_or(Error::Malformed {
                offset: at,
                what: "bad byte-order magic",
            })?;
        }
        let total = rd_u32(rest, 4, be).ok_or(Error::Truncated { offset: at })?;
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        if total < NG_BLOCK_OVERHEAD || total % 4 != 0 {
            return Err(Error::Malformed {
                offset: at,
                what: "bad block length",
            }
            .into());
        }
        if total > rest.len() {
            return Err(Error::Truncated { offset: at }.into());
        }
        if rd_u32(rest, total - 4, be) != Some(total as u32) {
            return Err(Error::Malformed {
                offset: at,
                what: "block lengths differ",
            }
            .into());
        }
        let body = rest.get(8..total - 4).unwrap_or(&[]);
        Ok((block_type, body, at))
    }

    fn next_ng(&mut self) -> core::result::Result<Record<'a>, Step> {
        loop {
            let (block_type, body, at) = self.read_block_bounds()?;
            // Every block is at least 12 bytes: the position always advances.
            self.pos = at + NG_BLOCK_OVERHEAD + body.len();
            let Kind::PcapNg {
                big_endian,
                interfaces,
            } = &mut self.kind
            else {
                return Err(Step::End);
            };
            let malformed = |what| Step::Err(Error::Malformed { offset: at, what });
            match block_type {
                NG_SHB => {
                    let bom = rd_u32(body, 0, false).ok_or(malformed("short section header"))?;
                    let be = ng_byte_order(bom).ok_or(malformed("bad byte-order magic"))?;
                    let major = rd_u16(body, 4, be).ok_or(malformed("short section header"))?;
                    let minor = rd_u16(body, 6, be).ok_or(malformed("short section header"))?;
                    if body.len() < 16 {
                        return Err(malformed("short section header"));
                    }
                    if major != 1 {
                        return Err(Error::UnsupportedVersion { major, minor }.into());
                    }
                    *big_endian = be;
                    // Interface IDs are numbered per section.
                    interfaces.clear();
                }
                NG_IDB => {
                    let be = *big_endian;
                    let (Some(link), Some(snaplen)) = (rd_u16(body, 0, be), rd_u32(body, 4, be))
                    else {
                        return Err(malformed("short interface description"));
                    };
                    let mut iface = Interface {
                        link_type: LinkType::from_u32(u32::from(link)),
                        snaplen,
                        tsresol: 6,
                        tsoffset: 0,
                    };
                    for (code, value) in NgOptions::new(body.get(8..).unwrap_or(&[]), be) {
                        match (code, value) {
                            (NG_OPT_IF_TSRESOL, [v, ..]) => iface.tsresol = *v,
                            (NG_OPT_IF_TSOFFSET, v) if v.len() == 8 => {
                                let mut b = [0u8; 8];
                                b.copy_from_slice(v);
                                iface.tsoffset = if be {
                                    i64::from_be_bytes(b)
                                } else {
                                    i64::from_le_bytes(b)
                                };
                            }
                            _ => {}
                        }
                    }
                    interfaces.push(iface);
                }
                NG_EPB | NG_OPB => {
                    let be = *big_endian;
                    let (Some(id), Some(hi), Some(lo), Some(cap), Some(orig)) = (
                        if block_type == NG_EPB {
                            rd_u32(body, 0, be)
                        } else {
                            rd_u16(body, 0, be).map(u32::from)
                        },
                        rd_u32(body, 4, be),
                        rd_u32(body, 8, be),
                        rd_u32(body, 12, be),
                        rd_u32(body, 16, be),
                    ) else {
                        return Err(malformed("short packet block"));
                    };
                    let iface = usize::try_from(id)
                        .ok()
                        .and_then(|i| interfaces.get(i))
                        .ok_or(malformed("unknown interface"))?;
                    let end = usize::try_from(cap).ok().and_then(|c| c.checked_add(20));
                    let data = end
                        .and_then(|end| body.get(20..end))
                        .ok_or(malformed("captured length beyond block"))?;
                    let ts = (u64::from(hi) << 32) | u64::from(lo);
                    return Ok(Record {
                        timestamp_ns: ts_to_ns(ts, iface.tsresol, iface.tsoffset),
                        link_type: iface.link_type,
                        interface_id: id,
                        data,
                        orig_len: orig,
                    });
                }
                NG_SPB => {
                    let orig =
                        rd_u32(body, 0, *big_endian).ok_or(malformed("short packet block"))?;
                    let iface = interfaces.first().ok_or(malformed("unknown interface"))?;
                    // The captured length is implied: the packet, cut at the snapshot
                    // length, without the block's padding.
                    let room = body.len().saturating_sub(4);
                    let mut cap = usize::try_from(orig).unwrap_or(usize::MAX).min(room);
                    if iface.snaplen != 0 {
                        cap = cap.min(usize::try_from(iface.snaplen).unwrap_or(usize::MAX));
                    }
                    let data = body.get(4..4 + cap).unwrap_or(&[]);
                    return Ok(Record {
                        timestamp_ns: 0,
                        link_type: iface.link_type,
                        interface_id: 0,
                        data,
                        orig_len: orig,
                    });
                }
                // Name resolution, statistics, custom and unknown blocks: skipped.
                _ => {}
            }
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = match self.kind {
            Kind::Pcap {
                big_endian,
                nanos,
                link_type,
            } => self.next_pcap(big_endian, nanos, link_type),
            Kind::PcapNg { .. } => self.next_ng(),
        };
        match step {
            Ok(r) => Some(Ok(r)),
            Err(Step::End) => {
                self.done = true;
                None
            }
            Err(Step::Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The options of a pcapng block: (code, value) pairs until `opt_endofopt` or the end.
struct NgOptions<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl<'a> NgOptions<'a> {
    fn new(data: &'a [u8], big_endian: bool) -> Self {
        NgOptions { data, big_endian }
    }
}

impl<'a> Iterator for NgOptions<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let code = rd_u16(self.data, 0, self.big_endian)?;
        let len = usize::from(rd_u16(self.data, 2, self.big_endian)?);
        if code == NG_OPT_ENDOFOPT {
            return None;
        }
        let value = self.data.get(4..4 + len)?;
        // Values are padded to 32 bits.
        let next = 4 + len.div_ceil(4) * 4;
        self.data = self.data.get(next..).unwrap_or(&[]);
        Some((code, value))
    }
}

/// Byte order from a pcapng byte-order magic read as little-endian: `Some(big_endian)`.
fn ng_byte_order(bom_le: u32) -> Option<bool> {
    if bom_le == NG_BYTE_ORDER_MAGIC {
        Some(false)
    } else if bom_le.swap_bytes() == NG_BYTE_ORDER_MAGIC {
        Some(true)
    } else {
        None
    }
}

/// A pcapng timestamp in units of `tsresol`, plus `offset_s` seconds, as nanoseconds
/// (saturating at 0 and `u64::MAX`).
fn ts_to_ns(ts: u64, tsresol: u8, offset_s: i64) -> u64 {
    let v = u32::from(tsresol & 0x7f);
    let ts = u128::from(ts);
    let ns = if tsresol & 0x80 == 0 {
        // Units of 10^-v seconds.
        if v <= 9 {
            ts * 10u128.pow(9 - v)
        } else {
            10u128.checked_pow(v - 9).map_or(0, |d| ts / d)
        }
    } else {
        // Units of 2^-v seconds.
        (ts * 1_000_000_000).checked_shr(v).unwrap_or(0)
    };
    let total = ns as i128 + i128::from(offset_s) * 1_000_000_000;
    u64::try_from(total.max(0)).unwrap_or(u64::MAX)
}

fn rd_u16(b: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    let a = [s[0], s[1]];
    Some(if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    })
}

fn rd_u32(b: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let a = [s[0], s[1], s[2], s[3]];
    Some(if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Removes the link-layer header of a non-Ethernet capture and returns the protocol
/// (an EtherType) and the layer-3 bytes.
///
/// - `LinuxSll`: 16-byte header, protocol at offset 14 (big-endian).
/// - `LinuxSll2`: 20-byte header, protocol at offset 0.
/// - `Raw`, `Ipv4`, `Ipv6`: no header; the EtherType follows from the IP version nibble
///   (and must agree with `Ipv4` / `Ipv6`).
/// - `Null`, `Loop`: 4-byte address-family header; the EtherType follows from the IP
///   version nibble of what comes after it.
///
/// `None` for Ethernet (use [`crate::wire::ethernet`]), other link types, a header
/// longer than the data, or an IP version other than 4 and 6. For SLL and SLL2 the
/// protocol field is returned as is; for some ARPHRD types it is not an EtherType
/// (e.g. 0x0004 for 802.2 frames), which callers see as an unknown protocol.
pub fn strip_cooked(link_type: LinkType, data: &[u8]) -> Option<(u16, &[u8])> {
    let by_version = |l3: &[u8]| -> Option<u16> {
        match l3.first()? >> 4 {
            4 => Some(ETHERTYPE_IPV4),
            6 => Some(ETHERTYPE_IPV6),
            _ => None,
        }
    };
    match link_type {
        LinkType::LinuxSll => {
            let proto = rd_u16(data, 14, true)?;
            Some((proto, data.get(16..)?))
        }
        LinkType::LinuxSll2 => {
            let proto = rd_u16(data, 0, true)?;
            Some((proto, data.get(20..)?))
        }
        LinkType::Raw => Some((by_version(data)?, data)),
        LinkType::Ipv4 => (by_version(data)? == ETHERTYPE_IPV4).then_some((ETHERTYPE_IPV4, data)),
        LinkType::Ipv6 => (by_version(data)? == ETHERTYPE_IPV6).then_some((ETHERTYPE_IPV6, data)),
        LinkType::Null | LinkType::Loop => {
            let l3 = data.get(4..)?;
            Some((by_version(l3)?, l3))
        }
        LinkType::Ethernet | LinkType::Other(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A test-only writer of pcap and pcapng bytes in either byte order.
    struct W {
        be: bool,
        buf: Vec<u8>,
    }

    impl W {
        fn new(be: bool) -> Self {
            W {
                be,
                buf: Vec::new(),
            }
        }
        fn u16(&mut self, v: u16) -> &mut Self {
            let b = if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.buf.extend_from_slice(&b);
            self
        }
        fn u32(&mut self, v: u32) -> &mut Self {
            let b = if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.buf.extend_from_slice(&b);
            self
        }
        fn i64(&mut self, v: i64) -> &mut Self {
            let b = if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.buf.extend_from_slice(&b);
            self
        }
        fn bytes(&mut self, b: &[u8]) -> &mut Self {
            self.buf.extend_from_slice(b);
            self
        }
        fn pad4(&mut self) -> &mut Self {
            while self.buf.len() & 3 != 0 {
                self.buf.push(0);
            }
            self
        }
    }

    fn pcap_file(be: bool, nanos: bool, link: u32, recs: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let mut w = W::new(be);
        w.u32(if nanos { PCAP_MAGIC_NS } else { PCAP_MAGIC_US })
            .u16(2)
            .u16(4)
            .u32(0)
            .u32(0)
            .u32(65535)
            .u32(link);
        for (sec, frac, data, orig) in recs {
            w.u32(*sec)
                .u32(*frac)
                .u32(data.len() as u32)
                .u32(*orig)
                .bytes(data);
        }
        w.buf
    }

    fn ng_block(be: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
        let mut b = W::new(be);
        b.bytes(body).pad4();
        let total = b.buf.len() as u32 + 12;
        let mut w = W::new(be);
        w.u32(block_type).u32(total).bytes(&b.buf).u32(total);
        w.buf
    }

    fn ng_shb(be: bool) -> Vec<u8> {
        let mut w = W::new(be);
        w.u32(NG_BYTE_ORDER_MAGIC).u16(1).u16(0).i64(-1);
        ng_block(be, NG_SHB, &w.buf)
    }

    fn ng_idb(
        be: bool,
        link: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoff: Option<i64>,
    ) -> Vec<u8> {
        let mut w = W::new(be);
        w.u16(link).u16(0).u32(snaplen);
        // An option we do not know comes first: if_name "eth0".
        w.u16(2).u16(4).bytes(b"eth0");
        if let Some(r) = tsresol {
            w.u16(NG_OPT_IF_TSRESOL).u16(1).bytes(&[r]).pad4();
        }
        if let Some(o) = tsoff {
            w.u16(NG_OPT_IF_TSOFFSET).u16(8).i64(o);
        }
        w.u16(0).u16(0);
        ng_block(be, NG_IDB, &w.buf)
    }

    fn ng_epb(be: bool, id: u32, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
        let mut w = W::new(be);
        w.u32(id)
            .u32((ts >> 32) as u32)
            .u32(ts as u32)
            .u32(data.len() as u32)
            .u32(orig)
            .bytes(data)
            .pad4();
        // An epb_flags option, to be ignored.
        w.u16(2).u16(4).u32(1).u16(0).u16(0);
        ng_block(be, NG_EPB, &w.buf)
    }

    fn ng_opb(be: bool, id: u16, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
        let mut w = W::new(be);
        w.u16(id)
            .u16(0)
            .u32((ts >> 32) as u32)
            .u32(ts as u32)
            .u32(data.len() as u32)
            .u32(orig)
            .bytes(data);
        ng_block(be, NG_OPB, &w.buf)
    }

    fn ng_spb(be: bool, data: &[u8], orig: u32) -> Vec<u8> {
        let mut w = W::new(be);
        w.u32(orig).bytes(data);
        ng_block(be, NG_SPB, &w.buf)
    }

    fn all(data: &[u8]) -> Vec<Result<Record<'_>>> {
        Capture::parse(data).unwrap().records().collect()
    }

    #[test]
    fn pcap_both_orders_and_resolutions() {
        let p1: &[u8] = &[0x45, 0, 0, 20];
        let p2: &[u8] = &[1, 2, 3];
        for be in [false, true] {
            for nanos in [false, true] {
                let file = pcap_file(be, nanos, 113, &[(10, 7, p1, 60), (11, 999_999, p2, 3)]);
                let cap = Capture::parse(&file).unwrap();
                assert_eq!(
                    cap.format(),
                    Format::Pcap {
                        big_endian: be,
                        nanos,
                        link_type: LinkType::LinuxSll,
                        snaplen: 65535
                    }
                );
                let recs: Vec<_> = cap.records().map(|r| r.unwrap()).collect();
                assert_eq!(recs.len(), 2);
                let unit = if nanos { 1 } else { 1000 };
                assert_eq!(recs[0].timestamp_ns, 10_000_000_000 + 7 * unit);
                assert_eq!(recs[1].timestamp_ns, 11_000_000_000 + 999_999 * unit);
                assert_eq!(recs[0].data, p1);
                assert_eq!(recs[0].orig_len, 60);
                assert_eq!(recs[1].data, p2);
                assert!(recs.iter().all(|r| r.link_type == LinkType::LinuxSll));
                assert_eq!((&cap).into_iter().count(), 2);
            }
        }
    }

    #[test]
    fn pcap_fcs_bits_are_not_the_link_type() {
        let file = pcap_file(false, false, 0x1000_0000 | 1, &[]);
        let Format::Pcap { link_type, .. } = Capture::parse(&file).unwrap().format() else {
            panic!("not pcap");
        };
        assert_eq!(link_type, LinkType::Ethernet);
    }

    #[test]
    fn pcap_truncated_record() {
        let mut file = pcap_file(
            false,
            false,
            1,
            &[(1, 0, &[9; 10], 10), (2, 0, &[8; 10], 10)],
        );
        file.truncate(file.len() - 3);
        let recs = all(&file);
        assert_eq!(recs.len(), 2);
        assert!(recs[0].is_ok());
        assert_eq!(recs[1], Err(Error::Truncated { offset: 24 + 26 }));
        // A header cut short.
        file.truncate(24 + 26 + 5);
        assert_eq!(all(&file)[1], Err(Error::Truncated { offset: 24 + 26 }));
    }

    #[test]
    fn parse_rejects() {
        assert_eq!(
            Capture::parse(&[]).unwrap_err(),
            Error::Truncated { offset: 0 }
        );
        assert_eq!(Capture::parse(&[0u8; 24]).unwrap_err(), Error::BadMagic);
        let mut f = pcap_file(true, false, 1, &[]);
        assert!(Capture::parse(&f[..23]).is_err());
        f[5] = 3; // big-endian major version: bytes 4..6 become 00 03
        assert_eq!(
            Capture::parse(&f).unwrap_err(),
            Error::UnsupportedVersion { major: 3, minor: 4 }
        );
        let mut shb = ng_shb(false);
        shb[12] = 2;
        assert_eq!(
            Capture::parse(&shb).unwrap_err(),
            Error::UnsupportedVersion { major: 2, minor: 0 }
        );
        let mut shb = ng_shb(false);
        shb[8] = 0;
        assert_eq!(Capture::parse(&shb).unwrap_err(), Error::BadMagic);
    }

    #[test]
    fn pcapng_sections_and_interfaces() {
        let eth: &[u8] = &[0xaa; 14];
        let sll2: &[u8] = &[
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x45,
        ];
        let raw: &[u8] = &[0x60, 0, 0, 0, 0, 0];
        let mut f = Vec::new();
        // Section 1, little-endian.
        f.extend(ng_shb(false));
        f.extend(ng_idb(false, 1, 0, None, None)); // if 0: Ethernet, microseconds
        f.extend(ng_idb(false, 276, 0, Some(9), None)); // if 1: SLL2, nanoseconds
        f.extend(ng_block(false, 0x0000_0bad, b"unknown block")); // skipped
        f.extend(ng_block(false, 0x0000_0005, &[0; 8])); // interface statistics, skipped
        f.extend(ng_epb(false, 0, 1_500_000, eth, 60));
        f.extend(ng_epb(false, 1, 1_234_567_891, sll2, sll2.len() as u32));
        f.extend(ng_opb(false, 1, 42, &[7, 7, 7], 3));
        // Section 2, big-endian, interface IDs start again at 0.
        f.extend(ng_shb(true));
        f.extend(ng_idb(true, 101, 4, Some(0x83), Some(100))); // 1/8 s units, +100 s, snaplen 4
        f.extend(ng_epb(true, 0, (1u64 << 32) + 9, raw, 6));
        f.extend(ng_spb(true, raw, 6)); // captured length cut at the snapshot length
        let cap = Capture::parse(&f).unwrap();
        assert_eq!(cap.format(), Format::PcapNg { big_endian: false });
        let recs: Vec<_> = cap.records().map(|r| r.unwrap()).collect();
        assert_eq!(recs.len(), 5);

        assert_eq!(recs[0].timestamp_ns, 1_500_000_000);
        assert_eq!(recs[0].link_type, LinkType::Ethernet);
        assert_eq!(
            (recs[0].data, recs[0].orig_len, recs[0].interface_id),
            (eth, 60, 0)
        );

        assert_eq!(recs[1].timestamp_ns, 1_234_567_891);
        assert_eq!(recs[1].link_type, LinkType::LinuxSll2);
        assert_eq!((recs[1].data, recs[1].interface_id), (sll2, 1));

        assert_eq!(recs[2].timestamp_ns, 42);
        assert_eq!((recs[2].data, recs[2].interface_id), (&[7u8, 7, 7][..], 1));

        // ((1 << 32) + 9) / 8 s + 100 s.
        let want = ((1u128 << 32) + 9) * 1_000_000_000 / 8 + 100_000_000_000;
        assert_eq!(u128::from(recs[3].timestamp_ns), want);
        assert_eq!(recs[3].link_type, LinkType::Raw);
        assert_eq!(recs[3].data, raw);

        assert_eq!(recs[4].timestamp_ns, 0);
        assert_eq!(recs[4].data, &raw[..4]);
        assert_eq!(recs[4].orig_len, 6);
    }

    #[test]
    fn pcapng_errors_end_iteration() {
        let mut f = ng_shb(false);
        f.extend(ng_epb(false, 0, 0, &[1], 1)); // no interface yet
        f.extend(ng_idb(false, 1, 0, None, None));
        let recs = all(&f);
        assert_eq!(recs.len(), 1);
        assert!(matches!(
            recs[0],
            Err(Error::Malformed {
                what: "unknown interface",
                ..
            })
        ));

        let mut f = ng_shb(false);
        let at = f.len();
        f.extend(ng_idb(false, 1, 0, None, None));
        f[at + 4..at + 8].copy_from_slice(&0u32.to_le_bytes()); // block length 0
        assert!(matches!(all(&f)[..], [Err(Error::Malformed { offset, .. })] if offset == at));

        let mut f = ng_shb(false);
        f.extend(ng_idb(false, 1, 0, None, None));
        let at = f.len();
        f.extend(ng_epb(false, 0, 0, &[1, 2, 3, 4, 5], 5));
        f.truncate(f.len() - 1);
        assert_eq!(all(&f)[..], [Err(Error::Truncated { offset: at })]);

        // Captured length beyond the block.
        let mut f = ng_shb(false);
        f.extend(ng_idb(false, 1, 0, None, None));
        let at = f.len();
        f.extend(ng_epb(false, 0, 0, &[1, 2, 3, 4], 4));
        f[at + 20..at + 24].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(all(&f)[..], [Err(Error::Malformed { .. })]));
    }

    #[test]
    fn timestamp_resolutions() {
        assert_eq!(ts_to_ns(5, 6, 0), 5_000);
        assert_eq!(ts_to_ns(5, 9, 0), 5);
        assert_eq!(ts_to_ns(5_000, 12, 0), 5);
        assert_eq!(ts_to_ns(1, 0, 0), 1_000_000_000);
        assert_eq!(ts_to_ns(1 << 20, 0x80 | 20, 0), 1_000_000_000);
        assert_eq!(ts_to_ns(u64::MAX, 0x80 | 127, 0), 0);
        assert_eq!(ts_to_ns(u64::MAX, 127, 0), 0);
        assert_eq!(ts_to_ns(u64::MAX, 0, 0), u64::MAX);
        assert_eq!(ts_to_ns(1, 0, -2), 0);
    }

    #[test]
    fn strip_cooked_headers() {
        let ip4 = [0x45u8, 0, 0, 20];
        let ip6 = [0x60u8, 0, 0, 0];
        // SLL: packet type, ARPHRD, address length, 8 address bytes, protocol.
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd];
        sll.extend_from_slice(&ip6);
        assert_eq!(
            strip_cooked(LinkType::LinuxSll, &sll),
            Some((ETHERTYPE_IPV6, &ip6[..]))
        );
        assert_eq!(strip_cooked(LinkType::LinuxSll, &sll[..15]), None);
        // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address.
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(&ip4);
        assert_eq!(
            strip_cooked(LinkType::LinuxSll2, &sll2),
            Some((ETHERTYPE_IPV4, &ip4[..]))
        );
        assert_eq!(
            strip_cooked(LinkType::LinuxSll2, &sll2[..20]),
            Some((ETHERTYPE_IPV4, &[][..]))
        );
        assert_eq!(strip_cooked(LinkType::LinuxSll2, &sll2[..19]), None);
        assert_eq!(
            strip_cooked(LinkType::Raw, &ip4),
            Some((ETHERTYPE_IPV4, &ip4[..]))
        );
        assert_eq!(
            strip_cooked(LinkType::Raw, &ip6),
            Some((ETHERTYPE_IPV6, &ip6[..]))
        );
        assert_eq!(strip_cooked(LinkType::Raw, &[0x55]), None);
        assert_eq!(strip_cooked(LinkType::Raw, &[]), None);
        assert_eq!(
            strip_cooked(LinkType::Ipv4, &ip4),
            Some((ETHERTYPE_IPV4, &ip4[..]))
        );
        assert_eq!(strip_cooked(LinkType::Ipv4, &ip6), None);
        assert_eq!(
            strip_cooked(LinkType::Ipv6, &ip6),
            Some((ETHERTYPE_IPV6, &ip6[..]))
        );
        let null = [2u8, 0, 0, 0, 0x45, 0];
        assert_eq!(
            strip_cooked(LinkType::Null, &null),
            Some((ETHERTYPE_IPV4, &null[4..]))
        );
        assert_eq!(strip_cooked(LinkType::Ethernet, &sll), None);
        assert_eq!(strip_cooked(LinkType::Other(147), &sll), None);
    }

    #[test]
    fn link_type_numbers_round_trip() {
        for v in [0, 1, 101, 108, 113, 228, 229, 276, 147, 65535] {
            assert_eq!(LinkType::from_u32(v).to_u32(), v);
        }
    }

    fn sample_ng() -> Vec<u8> {
        let mut f = ng_shb(false);
        f.extend(ng_idb(false, 1, 0, Some(9), None));
        f.extend(ng_epb(false, 0, 77, &[1, 2, 3, 4, 5], 5));
        f.extend(ng_spb(false, &[9; 7], 7));
        f.extend(ng_shb(true));
        f.extend(ng_idb(true, 276, 0, None, Some(-5)));
        f.extend(ng_opb(true, 0, 3, &[4; 9], 9));
        f
    }

    /// Reads everything; checks that iteration ends, at most one Err comes, and last.
    fn drain(data: &[u8]) -> Vec<Result<Record<'_>>> {
        let Ok(cap) = Capture::parse(data) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in cap.records() {
            out.push(r);
            // Every item consumes at least 12 bytes.
            assert!(out.len() <= data.len() / 12 + 1, "no progress");
        }
        if let Some(i) = out.iter().position(|r| r.is_err()) {
            assert_eq!(i, out.len() - 1);
        }
        out
    }

    #[test]
    fn every_truncation_is_a_prefix() {
        for file in [
            sample_ng(),
            pcap_file(true, true, 1, &[(1, 2, &[1; 33], 40), (3, 4, &[2; 1], 1)]),
        ] {
            let full: Vec<_> = drain(&file).into_iter().map(|r| r.unwrap()).collect();
            for n in 0..file.len() {
                let part = drain(&file[..n]);
                for (got, want) in part.iter().filter_map(|r| r.as_ref().ok()).zip(&full) {
                    assert_eq!(got, want);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            drain(&data);
        }

        #[test]
        fn random_blocks_after_a_section_header(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut f = ng_shb(false);
            f.extend(ng_idb(false, 1, 0, None, None));
            f.extend(tail);
            drain(&f);
        }

        #[test]
        fn corrupted_pcapng_never_panics(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let mut f = sample_ng();
            for (at, v) in flips {
                let at = at % f.len();
                f[at] = v;
            }
            drain(&f);
        }

        #[test]
        fn corrupted_pcap_never_panics(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                                       tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut f = pcap_file(false, false, 1, &[(1, 2, &[1; 20], 20), (3, 4, &[2; 3], 3)]);
            for (at, v) in flips {
                let at = 24 + at % (f.len() - 24);
                f[at] = v;
            }
            f.extend(tail);
            drain(&f);
        }
    }
}
