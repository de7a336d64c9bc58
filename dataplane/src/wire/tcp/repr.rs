//! The owned TCP segment [`TcpRepr`], its MPTCP suboption list [`MptcpOptions`], the
//! option layout on emit, and the option-space policy [`TcpRepr::fit_option_space`].
//!
//! Layout on emit, as Linux's `tcp_options_write` (net/ipv4/tcp_output.c) writes it,
//! every piece a multiple of 4 bytes:
//!
//! | piece                     | bytes                                  | size   |
//! |---------------------------|----------------------------------------|--------|
//! | MSS                       | `02 04 mss`                            | 4      |
//! | SACK-permitted + TS       | `04 02 08 0a tsval tsecr`              | 12     |
//! | TS alone                  | `01 01 08 0a tsval tsecr`              | 12     |
//! | SACK-permitted alone      | `01 01 04 02`                          | 4      |
//! | window scale              | `01 03 03 ws`                          | 4      |
//! | SACK blocks               | `01 01 05 len` + 8 per block           | 4 + 8n |
//! | MPTCP suboptions          | each one, then NOPs to a multiple of 4 | ...    |
//!
//! MPTCP comes last on the wire, as `mptcp_options_write` is called last, but it is
//! given the option space before SACK blocks (see [`TcpRepr::fit_option_space`]).
//! Padding each suboption with NOPs to 4 bytes is exactly where `mptcp_write_options`
//! pads (MP_CAPABLE with data 22 -> 24, DSS without checksum 26 -> 28, ADD_ADDR with
//! port, REMOVE_ADDR, MP_PRIO 3 -> 4); the other forms are already aligned.

use core::fmt;
use core::net::IpAddr;

use super::option::{kind, len, sack_count, TcpOption, TcpOptionsIter};
use super::{fill_checksum_of, Error, Result, TcpFlags, TcpPacket, HEADER_LEN};
use crate::seq::SubflowSeq;
use crate::wire::mptcp::{MptcpOption, Version};

/// Room for options in a TCP header: a data offset of 15 words minus the fixed 20 bytes.
pub const MAX_OPTIONS_LEN: usize = 40;

/// A SACK block: `(left edge, right edge)`, the right edge being the first sequence
/// number after the block (RFC 2018 §3).
pub type SackBlock = (SubflowSeq, SubflowSeq);

/// The timestamps option (RFC 7323 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpTimestamp {
    /// TSval: the sender's clock.
    pub tsval: u32,
    /// TSecr: the echoed TSval (0 on a SYN).
    pub tsecr: u32,
}

/// What [`TcpRepr::parse`] skipped, for the caller's MIB counters. Counts saturate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OptionStats {
    /// TCP options with a bad length (known kind with the wrong length, a length below
    /// 2, or one running past the options area). Parsing stops at the latter two.
    pub malformed: u8,
    /// MPTCP options (kind 30) that [`MptcpOption::parse`] rejected. RFC 8684 and Linux
    /// ignore such an option; the segment is still processed.
    pub mptcp_malformed: u8,
    /// Well-formed MPTCP options dropped because [`MptcpOptions`] was full.
    pub mptcp_overflow: u8,
}

impl OptionStats {
    /// Whether nothing was skipped.
    pub fn is_clean(&self) -> bool {
        *self == OptionStats::default()
    }
}

/// The placeholder stored in unused slots of [`MptcpOptions`]; never observable.
const FILLER: MptcpOption<'static> = MptcpOption::Unknown {
    subtype: 0,
    data: &[],
};

/// A fixed-capacity list of MPTCP suboptions (no allocation).
#[derive(Clone, Copy)]
pub struct MptcpOptions<'a> {
    items: [MptcpOption<'a>; MptcpOptions::CAPACITY],
    len: u8,
}

impl<'a> MptcpOptions<'a> {
    /// How many suboptions fit. More than 6 never fit in 40 bytes of options in any
    /// combination Linux sends (MP_FAIL + DSS + ADD_ADDR/RM_ADDR + MP_PRIO is 4).
    pub const CAPACITY: usize = 6;

    /// An empty list.
    pub const fn new() -> MptcpOptions<'a> {
        MptcpOptions {
            items: [FILLER; MptcpOptions::CAPACITY],
            len: 0,
        }
    }

    /// Appends a suboption; gives it back when the list is full.
    pub fn push(&mut self, option: MptcpOption<'a>) -> core::result::Result<(), MptcpOption<'a>> {
        match self.items.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = option;
                self.len += 1;
                Ok(())
            }
            None => Err(option),
        }
    }

    /// The suboptions, in order.
    pub fn as_slice(&self) -> &[MptcpOption<'a>] {
        self.items.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Iterates over the suboptions in order.
    pub fn iter(&self) -> core::slice::Iter<'_, MptcpOption<'a>> {
        self.as_slice().iter()
    }

    /// Number of suboptions.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the list is full.
    pub fn is_full(&self) -> bool {
        self.len() == Self::CAPACITY
    }

    /// Removes every suboption.
    pub fn clear(&mut self) {
        *self = MptcpOptions::new();
    }

    /// Keeps only the suboptions for which `keep` returns true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&MptcpOption<'a>) -> bool) {
        let old = *self;
        self.clear();
        for o in old.iter().filter(|o| keep(o)) {
            let _ = self.push(*o);
        }
    }

    /// Option space the list takes on emit: each suboption padded to 4 bytes.
    pub fn buffer_len(&self) -> usize {
        self.iter().map(padded_len).sum()
    }
}

impl Default for MptcpOptions<'_> {
    fn default() -> Self {
        MptcpOptions::new()
    }
}

impl PartialEq for MptcpOptions<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for MptcpOptions<'_> {}

impl fmt::Debug for MptcpOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'s, 'a> IntoIterator for &'s MptcpOptions<'a> {
    type Item = &'s MptcpOption<'a>;
    type IntoIter = core::slice::Iter<'s, MptcpOption<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Space a suboption takes on emit: its length rounded up to 4 with NOPs.
fn padded_len(option: &MptcpOption<'_>) -> usize {
    option.buffer_len().div_ceil(4) * 4
}

/// What [`TcpRepr::fit_option_space`] removed, so the caller can send it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FitReport<'a> {
    /// MPTCP suboptions taken out of the repr, in their original order.
    pub dropped: MptcpOptions<'a>,
    /// SACK blocks before trimming.
    pub sack_blocks_before: u8,
    /// SACK blocks kept (the first ones, i.e. the most recent per RFC 2018 §4).
    pub sack_blocks_after: u8,
}

impl FitReport<'_> {
    /// Whether nothing was dropped or shrunk.
    pub fn is_empty(&self) -> bool {
        self.dropped.is_empty() && self.sack_blocks_before == self.sack_blocks_after
    }
}

/// An owned TCP segment header (and borrowed payload).
///
/// `flags` holds the control bits as on the wire; the ACK bit and `ack_number` go
/// together: [`TcpRepr::parse`] sets `ack_number` iff ACK is set, and
/// [`TcpRepr::emit`] sets the ACK bit iff `ack_number` is `Some`, whatever `flags` says.
/// The urgent pointer is not represented (emitted as 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Control bits.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq_number: SubflowSeq,
    /// Acknowledgment number; `Some` iff the ACK bit is set.
    pub ack_number: Option<SubflowSeq>,
    /// The raw (unscaled) window field.
    pub window_len: u16,
    /// Window scale option: the shift count as sent (not clamped to 14 here).
    pub window_scale: Option<u8>,
    /// MSS option.
    pub max_seg_size: Option<u16>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK blocks; the `Some` ones first. Emit stops at the first `None`.
    pub sack_ranges: [Option<SackBlock>; 4],
    /// Timestamps option.
    pub timestamp: Option<TcpTimestamp>,
    /// MPTCP suboptions, in the order they are emitted.
    pub mptcp: MptcpOptions<'a>,
    /// The MPTCP version the suboptions were parsed with and are emitted with.
    pub mptcp_version: Version,
    /// The payload.
    pub payload: &'a [u8],
    /// What parsing skipped (always clean for a repr built to be emitted).
    pub stats: OptionStats,
}

impl<'a> TcpRepr<'a> {
    /// Parses a checked segment. `Error::Checksum` if `verify_checksum` and the checksum
    /// does not verify over the pseudo-header of `src` and `dst`. Malformed TCP options
    /// and MPTCP suboptions are skipped and counted in [`TcpRepr::stats`], as Linux does;
    /// when an option appears twice, the last one wins (also as Linux).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: IpAddr,
        dst: IpAddr,
        verify_checksum: bool,
        version: Version,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let inner: &'a T = packet.buffer;
        let bytes: &'a [u8] = inner.as_ref();
        let header_len = usize::from(packet.header_len());
        let options = bytes.get(HEADER_LEN..header_len).unwrap_or(&[]);
        let payload = bytes.get(header_len..).unwrap_or(&[]);
        let flags = packet.flags();

        let mut repr = TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            flags,
            seq_number: packet.seq_number(),
            ack_number: flags.contains(TcpFlags::ACK).then(|| packet.ack_number()),
            window_len: packet.window_len(),
            mptcp_version: version,
            payload,
            ..TcpRepr::default()
        };

        for option in TcpOptionsIter::new(options) {
            let option = match option {
                Ok(o) => o,
                Err(_) => {
                    repr.stats.malformed = repr.stats.malformed.saturating_add(1);
                    continue;
                }
            };
            match option {
                TcpOption::EndOfList | TcpOption::NoOperation => {}
                TcpOption::MaxSegmentSize(mss) => repr.max_seg_size = Some(mss),
                TcpOption::WindowScale(ws) => repr.window_scale = Some(ws),
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::SackRange(blocks) => repr.sack_ranges = blocks,
                TcpOption::Timestamp { tsval, tsecr } => {
                    repr.timestamp = Some(TcpTimestamp { tsval, tsecr })
                }
                // RFC 8684 §3: a malformed MPTCP option is ignored (Linux's
                // mptcp_parse_option leaves it out); the segment is still processed.
                TcpOption::Mptcp(bytes) => match MptcpOption::parse(bytes, version) {
                    Ok(o) => {
                        if repr.mptcp.push(o).is_err() {
                            repr.stats.mptcp_overflow = repr.stats.mptcp_overflow.saturating_add(1);
                        }
                    }
                    Err(_) => {
                        repr.stats.mptcp_malformed = repr.stats.mptcp_malformed.saturating_add(1)
                    }
                },
                TcpOption::Unknown { .. } => {}
            }
        }
        Ok(repr)
    }

    /// Number of SACK blocks that will be emitted (the leading `Some`s).
    pub fn sack_blocks(&self) -> usize {
        sack_count(&self.sack_ranges)
    }

    /// Option space of MSS, timestamps, SACK-permitted and window scale: the options
    /// that [`TcpRepr::fit_option_space`] never drops. At most 20 bytes.
    fn base_options_len(&self) -> usize {
        let mut n = 0;
        if self.max_seg_size.is_some() {
            n += 4;
        }
        if self.timestamp.is_some() {
            n += 12;
        } else if self.sack_permitted {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4;
        }
        n
    }

    fn sack_len(blocks: usize) -> usize {
        if blocks == 0 {
            0
        } else {
            2 + len::SACK_BASE + len::SACK_PERBLOCK * blocks
        }
    }

    /// Bytes of options this repr emits, padding included (a multiple of 4). May exceed
    /// [`MAX_OPTIONS_LEN`]; then [`TcpRepr::emit`] fails with `NoSpace`.
    pub fn options_len(&self) -> usize {
        self.base_options_len() + Self::sack_len(self.sack_blocks()) + self.mptcp.buffer_len()
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// Segment length in bytes: header and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment takes: payload, plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Writes the segment into the first [`TcpRepr::buffer_len`] bytes of the packet's
    /// buffer. With `fill_checksum` the checksum is computed over exactly those bytes and
    /// the pseudo-header of `src` and `dst` (a mixed pair leaves it 0); without, the field
    /// is left 0 (for offload). `NoSpace` if the buffer is too short or the options do
    /// not fit in 40 bytes (call [`TcpRepr::fit_option_space`] first).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: IpAddr,
        dst: IpAddr,
        fill_checksum: bool,
    ) -> Result<()> {
        let options_len = self.options_len();
        if options_len > MAX_OPTIONS_LEN {
            return Err(Error::NoSpace);
        }
        let header_len = HEADER_LEN + options_len;
        let total = header_len + self.payload.len();
        let seg = packet.bytes_mut().get_mut(..total).ok_or(Error::NoSpace)?;

        let mut flags = self.flags;
        flags.set(TcpFlags::ACK, self.ack_number.is_some());
        {
            let mut p = TcpPacket::new_unchecked(&mut *seg);
            p.set_src_port(self.src_port);
            p.set_dst_port(self.dst_port);
            p.set_seq_number(self.seq_number);
            p.set_ack_number(self.ack_number.unwrap_or_default());
            p.set_header_len(header_len as u8);
            p.set_flags(flags);
            p.set_window_len(self.window_len);
            p.set_checksum(0);
            p.set_urgent_at(0);
        }
        let (header, payload) = seg.split_at_mut(header_len);
        let options = header.get_mut(HEADER_LEN..).ok_or(Error::NoSpace)?;
        self.emit_options(options)?;
        payload.copy_from_slice(self.payload);
        if fill_checksum {
            fill_checksum_of(seg, src, dst);
        }
        Ok(())
    }

    /// Writes the options area (exactly [`TcpRepr::options_len`] bytes) in Linux's order.
    fn emit_options(&self, out: &mut [u8]) -> Result<()> {
        let mut w = Writer { out, at: 0 };
        if let Some(mss) = self.max_seg_size {
            let [hi, lo] = mss.to_be_bytes();
            w.put(&[kind::MSS, len::MSS as u8, hi, lo])?;
        }
        if let Some(ts) = self.timestamp {
            // Linux packs SACK-permitted in front of the timestamps instead of two NOPs.
            if self.sack_permitted {
                w.put(&[kind::SACK_PERM, len::SACK_PERM as u8])?;
            } else {
                w.put(&[kind::NOP, kind::NOP])?;
            }
            w.put(&[kind::TIMESTAMP, len::TIMESTAMP as u8])?;
            w.put(&ts.tsval.to_be_bytes())?;
            w.put(&ts.tsecr.to_be_bytes())?;
        } else if self.sack_permitted {
            w.put(&[kind::NOP, kind::NOP, kind::SACK_PERM, len::SACK_PERM as u8])?;
        }
        if let Some(ws) = self.window_scale {
            w.put(&[kind::NOP, kind::WINDOW_SCALE, len::WINDOW as u8, ws])?;
        }
        let n = self.sack_blocks();
        if n > 0 {
            let l = (len::SACK_BASE + len::SACK_PERBLOCK * n) as u8;
            w.put(&[kind::NOP, kind::NOP, kind::SACK, l])?;
            for (left, right) in self.sack_ranges.iter().map_while(|b| *b) {
                w.put(&left.0.to_be_bytes())?;
                w.put(&right.0.to_be_bytes())?;
            }
        }
        for option in &self.mptcp {
            let want = option.buffer_len();
            let room = w.out.get_mut(w.at..).ok_or(Error::NoSpace)?;
            let room = room.get_mut(..want).ok_or(Error::NoSpace)?;
            let wrote = option.emit(room, self.mptcp_version)?;
            if wrote != want {
                return Err(Error::Malformed);
            }
            w.at += wrote;
            while w.at & 3 != 0 {
                w.put(&[kind::NOP])?;
            }
        }
        if w.at != w.out.len() {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// Trims the options so that they fit in [`MAX_OPTIONS_LEN`] bytes, deciding as
    /// Linux does, and reports what was dropped or shrunk.
    ///
    /// Policy, by priority (greedy: each suboption is kept if it fits in what is left,
    /// classes in this order, list order within a class; the list order is preserved):
    /// 1. MSS, timestamps, SACK-permitted and window scale are never dropped (at most
    ///    20 bytes; `tcp_established_options` / `tcp_syn_options` reserve them first).
    /// 2. MP_CAPABLE, MP_JOIN, MP_FASTCLOSE, MP_TCPRST, MP_FAIL: handshake and
    ///    connection-fatal signals (`mptcp_established_options_mp`, and the RST path of
    ///    `mptcp_established_options`: `_fastclose`, `_mp_fail`, `_rst`).
    /// 3. ADD_ADDR. When DSS and ADD_ADDR do not both fit, the DSS is dropped:
    ///    `mptcp_established_options_add_addr` sets `drop_other_suboptions` and the
    ///    ADD_ADDR goes out on a pure ACK (`mptcp_pm_add_addr_signal`).
    /// 4. DSS (`mptcp_established_options_dss`).
    /// 5. REMOVE_ADDR and MP_PRIO (`mptcp_established_options_rm_addr`, `_mp_prio`).
    /// 6. Unknown subtypes.
    /// 7. SACK blocks get what remains, as `tcp_established_options` decides: "MPTCP
    ///    options have precedence over SACK"; with `remaining` bytes left, no block if
    ///    `remaining < 4 + 8`, else `eff_sacks = min(num_sacks, (remaining - 4) / 8)`.
    ///    The first blocks are kept.
    pub fn fit_option_space(&mut self) -> FitReport<'a> {
        let mut remaining = MAX_OPTIONS_LEN.saturating_sub(self.base_options_len());
        let mut keep = [false; MptcpOptions::CAPACITY];
        for class in 0..=4u8 {
            for (i, o) in self.mptcp.iter().enumerate() {
                if fit_class(o) != class {
                    continue;
                }
                let n = padded_len(o);
                if n <= remaining {
                    remaining -= n;
                    if let Some(k) = keep.get_mut(i) {
                        *k = true;
                    }
                }
            }
        }
        let mut report = FitReport::default();
        let old = self.mptcp;
        self.mptcp.clear();
        for (o, kept) in old.iter().zip(keep) {
            let _ = if kept {
                self.mptcp.push(*o)
            } else {
                report.dropped.push(*o)
            };
        }

        let n = self.sack_blocks();
        let eff = if remaining < len::SACK_BASE + 2 + len::SACK_PERBLOCK {
            0
        } else {
            n.min((remaining - len::SACK_BASE - 2) / len::SACK_PERBLOCK)
        };
        for slot in self.sack_ranges.iter_mut().skip(eff) {
            *slot = None;
        }
        report.sack_blocks_before = n as u8;
        report.sack_blocks_after = eff as u8;
        report
    }
}

/// Priority class of a suboption in [`TcpRepr::fit_option_space`]; lower goes first.
fn fit_class(option: &MptcpOption<'_>) -> u8 {
    match option {
        MptcpOption::MpCapable(_)
        | MptcpOption::MpJoin(_)
        | MptcpOption::MpFastclose(_)
        | MptcpOption::MpTcprst(_)
        | MptcpOption::MpFail(_) => 0,
        MptcpOption::AddAddr(_) => 1,
        MptcpOption::Dss(_) => 2,
        MptcpOption::RemoveAddr(_) | MptcpOption::MpPrio(_) => 3,
        MptcpOption::Unknown { .. } => 4,
    }
}

/// A write cursor over the options area.
struct Writer<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let end = self.at + bytes.len();
        self.out
            .get_mut(self.at..end)
            .ok_or(Error::NoSpace)?
            .copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }
}
