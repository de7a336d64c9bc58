//! TCP-aware middleboxes: the on-path devices that MPTCP must survive (RFC 8684 §3.7).
//!
//! - [`StripOption`] replaces a TCP option (typically MPTCP's, kind 30) with NOPs in
//!   the segments a [`Which`] selects, as iptables' `TCPOPTSTRIP` target does.
//! - [`CorruptPayload`] changes one payload byte of a data segment and fixes the TCP
//!   checksum, as a payload-rewriting middlebox (an ALG, a transparent proxy) does: TCP
//!   accepts the segment and only the DSS checksum can notice (RFC 8684 §3.3.1).
//! - [`RewriteOption`] runs a closure over the bytes of matching options in place;
//!   [`MapTcp`] hands a closure the whole TCP segment. Both fix the checksum afterwards.
//!
//! All of them find the TCP segment with [`locate_tcp`] (Ethernet, up to two VLAN tags,
//! IPv4 or IPv6). A frame that is not TCP, or that they cannot parse, passes unchanged:
//! a middlebox never panics and never touches what it does not understand. A middlebox
//! sits on one direction of one link, so it sees (and rewrites) only that direction.
//!
//! **Checksums.** The TCP checksum is updated incrementally (RFC 1624) from the
//! one's-complement sums of the segment before and after the change, as Linux's
//! `inet_proto_csum_replace*` does in `TCPOPTSTRIP`: a valid checksum stays valid, and a
//! segment that arrived already corrupted stays detectably corrupted.
//!
//! Each middlebox counts what it did in a [`TcpMiddleboxStats`], readable from a test with
//! [`Network::middlebox`](super::Network::middlebox).

use core::fmt;
use core::net::IpAddr;
use core::ops::Range;
use std::collections::HashMap;

use super::middlebox::{Middlebox, Verdict};
use super::rng::{Rng, Threshold};
use crate::seq::SubflowSeq;
use crate::time::Instant;
use crate::wire::be;
use crate::wire::checksum::{update_u16, Checksum};
use crate::wire::frame;
use crate::wire::tcp::{kind, TcpFlags, TcpPacket};

/// Offset of the checksum field in the TCP header.
const TCP_CHECKSUM_AT: usize = 16;

/// Where the TCP segment of an Ethernet frame lies, and its address pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpLocation {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// Bytes of the TCP segment (header and payload) in the frame, as the IP length says:
    /// Ethernet padding is left out.
    pub segment: Range<usize>,
}

/// Finds the TCP segment in an Ethernet frame (no FCS) with [`frame::parse_ethernet`]:
/// at most one VLAN tag, IPv4 with options, IPv6 with skippable extension headers.
/// `None` for anything else (not IP, not TCP, a fragment, lengths that do not add up, a
/// malformed TCP header). Never panics.
pub fn locate_tcp(data: &[u8]) -> Option<TcpLocation> {
    let t = frame::parse_ethernet(data).ok()??;
    Some(TcpLocation {
        src: t.src_addr,
        dst: t.dst_addr,
        segment: t.tcp_offset..t.tcp_offset + t.segment.len(),
    })
}

/// Runs `f` on the TCP segment in `frame[range]`, then adjusts the checksum field so that
/// it verifies exactly when it did before (RFC 1624 eqn. 3 applied to the sums of the
/// whole segment). If `f` wrote the checksum field itself, that value is kept. `None`
/// if the range is not a checked TCP segment.
fn edit_segment<R>(
    frame: &mut [u8],
    range: Range<usize>,
    f: impl FnOnce(&mut TcpPacket<&mut [u8]>) -> R,
) -> Option<R> {
    let seg = frame.get_mut(range)?;
    let old_csum = be::u16(seg, TCP_CHECKSUM_AT);
    let old_sum = sum_except_checksum(seg);
    let mut packet = TcpPacket::new_checked(&mut *seg).ok()?;
    let r = f(&mut packet);
    if be::u16(seg, TCP_CHECKSUM_AT) == old_csum {
        let new_sum = sum_except_checksum(seg);
        if new_sum != old_sum {
            be::put_u16(seg, TCP_CHECKSUM_AT, update_u16(old_csum, old_sum, new_sum));
        }
    }
    Some(r)
}

/// The folded one's-complement sum of a segment without its checksum field (the
/// pseudo-header is left out: it does not change).
fn sum_except_checksum(seg: &[u8]) -> u16 {
    let mut c = Checksum::new();
    c.add_bytes(seg.get(..TCP_CHECKSUM_AT).unwrap_or(&[]));
    c.add_bytes(seg.get(TCP_CHECKSUM_AT + 2..).unwrap_or(&[]));
    c.fold()
}

/// Calls `f` on the bytes (kind and length included) of each option of kind `want` in an
/// options area, walking it as Linux's `tcp_parse_options` does: stop at EOL, at a length
/// below 2 or past the end. `f` returns whether it acted; the count of those is returned.
/// The walk uses the lengths read before `f` runs, so `f` may rewrite them.
fn for_each_option(opts: &mut [u8], want: u8, mut f: impl FnMut(&mut [u8]) -> bool) -> u64 {
    let mut at = 0;
    let mut n = 0;
    while let Some(&k) = opts.get(at) {
        match k {
            kind::EOL => break,
            kind::NOP => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let Some(len) = opts.get(at + 1).map(|&l| usize::from(l)) else {
            break;
        };
        if len < 2 {
            break;
        }
        let Some(option) = opts.get_mut(at..at + len) else {
            break;
        };
        if k == want && f(option) {
            n += 1;
        }
        at += len;
    }
    n
}

/// The MPTCP subtype of a whole kind-30 option, if it has one (RFC 8684 §3: the high
/// nibble of the third byte).
pub fn mptcp_subtype(option: &[u8]) -> Option<u8> {
    option.get(2).map(|b| b >> 4)
}

/// What every TCP middlebox here counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpMiddleboxStats {
    /// Frames that entered the middlebox.
    pub frames: u64,
    /// Of those, frames holding a TCP segment it could parse.
    pub segments: u64,
    /// Segments its selector picked (before any `first(n)` limit).
    pub matched: u64,
    /// Segments it changed.
    pub modified: u64,
}

impl TcpMiddleboxStats {
    /// Counts a frame; returns where its TCP segment is, counting that too.
    fn locate(&mut self, frame: &[u8]) -> Option<TcpLocation> {
        self.frames += 1;
        let loc = locate_tcp(frame)?;
        self.segments += 1;
        Some(loc)
    }
}

/// Which segments a middlebox acts on.
pub enum Which {
    /// SYNs without ACK (connection requests, retransmissions included).
    Syn,
    /// SYN/ACKs.
    SynAck,
    /// The segment that completes a handshake: per flow (4-tuple, in this direction), the
    /// first segment with ACK and without SYN after a SYN whose sequence number is the
    /// SYN's plus one. Normally the pure third ACK; the first data segment if the client
    /// sends no pure ACK. Attach it to the client-to-server direction: it must see the SYN.
    ThirdAck,
    /// Segments with a payload.
    Data,
    /// Every TCP segment.
    All,
    /// Segments for which the closure returns true.
    Matching(Box<SegmentPredicate>),
}

/// The closure of [`Which::Matching`].
pub type SegmentPredicate = dyn FnMut(&TcpPacket<&[u8]>) -> bool;

impl Which {
    /// [`Which::Matching`] without the `Box::new`.
    pub fn matching(f: impl FnMut(&TcpPacket<&[u8]>) -> bool + 'static) -> Which {
        Which::Matching(Box::new(f))
    }
}

impl fmt::Debug for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Which::Syn => "Syn",
            Which::SynAck => "SynAck",
            Which::ThirdAck => "ThirdAck",
            Which::Data => "Data",
            Which::All => "All",
            Which::Matching(_) => "Matching(..)",
        })
    }
}

/// A flow in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
}

/// A [`Which`] plus the per-flow state that [`Which::ThirdAck`] needs.
#[derive(Debug)]
struct Selector {
    which: Which,
    /// Flows that sent a SYN and no ACK yet: the SYN's sequence number.
    syn_sent: HashMap<FlowKey, SubflowSeq>,
}

impl Selector {
    fn new(which: Which) -> Selector {
        Selector {
            which,
            syn_sent: HashMap::new(),
        }
    }

    fn select(&mut self, loc: &TcpLocation, p: &TcpPacket<&[u8]>) -> bool {
        let flags = p.flags();
        let syn = flags.contains(TcpFlags::SYN);
        let ack = flags.contains(TcpFlags::ACK);
        match &mut self.which {
            Which::Syn => syn && !ack,
            Which::SynAck => syn && ack,
            Which::Data => !p.payload().is_empty(),
            Which::All => true,
            Which::Matching(f) => f(p),
            Which::ThirdAck => {
                let key = FlowKey {
                    src: loc.src,
                    dst: loc.dst,
                    src_port: p.src_port(),
                    dst_port: p.dst_port(),
                };
                if syn && !ack {
                    self.syn_sent.insert(key, p.seq_number());
                    false
                } else if flags.contains(TcpFlags::RST) {
                    self.syn_sent.remove(&key);
                    false
                } else if ack && !syn {
                    self.syn_sent
                        .remove(&key)
                        .is_some_and(|isn| p.seq_number() == isn + 1)
                } else {
                    false
                }
            }
        }
    }
}

/// Which options of the selected segments an option middlebox acts on.
#[derive(Debug)]
struct OptionFilter {
    kind: u8,
    /// For kind 30: only MPTCP suboptions of this subtype.
    subtype: Option<u8>,
    select: Selector,
    /// Act on at most this many segments.
    limit: Option<u64>,
    stats: TcpMiddleboxStats,
    options: u64,
}

impl OptionFilter {
    fn new(kind: u8, when: Which) -> OptionFilter {
        OptionFilter {
            kind,
            subtype: None,
            select: Selector::new(when),
            limit: None,
            stats: TcpMiddleboxStats::default(),
            options: 0,
        }
    }

    /// Runs `f` on each selected option of `frame`, fixing the checksum.
    fn apply(&mut self, frame: &mut [u8], mut f: impl FnMut(&mut [u8])) {
        let Some(loc) = self.stats.locate(frame) else {
            return;
        };
        let selected = match frame.get(loc.segment.clone()) {
            Some(seg) => self.select.select(&loc, &TcpPacket::new_unchecked(seg)),
            None => false,
        };
        if !selected {
            return;
        }
        self.stats.matched += 1;
        if self.limit.is_some_and(|n| self.stats.modified >= n) {
            return;
        }
        let (want, subtype) = (self.kind, self.subtype);
        let n = edit_segment(frame, loc.segment, |p| {
            for_each_option(p.options_mut(), want, |option| {
                let hit = subtype.is_none() || mptcp_subtype(option) == subtype;
                if hit {
                    f(option);
                }
                hit
            })
        })
        .unwrap_or(0);
        if n > 0 {
            self.stats.modified += 1;
            self.options += n;
        }
    }
}

/// Replaces every TCP option of one kind with NOPs in the segments [`Which`] selects,
/// and fixes the checksum: iptables' `TCPOPTSTRIP`. The segment keeps its length.
///
/// ```
/// use dataplane::sim::{StripOption, Which};
/// // A middlebox that lets MP_CAPABLE through on the SYN but strips it from the third ACK
/// // (RFC 8684 §3.1: the connection then falls back to TCP).
/// let strip = StripOption::mptcp(Which::ThirdAck);
/// assert_eq!(strip.stats().modified, 0);
/// ```
#[derive(Debug)]
pub struct StripOption {
    filter: OptionFilter,
}

impl StripOption {
    /// Strips options of `kind` from the segments `when` selects.
    pub fn new(kind: u8, when: Which) -> StripOption {
        StripOption {
            filter: OptionFilter::new(kind, when),
        }
    }

    /// Strips MPTCP options (kind 30) from the segments `when` selects.
    pub fn mptcp(when: Which) -> StripOption {
        StripOption::new(kind::MPTCP, when)
    }

    /// Only MPTCP suboptions of `subtype` (see `wire::mptcp::subtype`); for kind 30.
    pub fn subtype(mut self, subtype: u8) -> StripOption {
        self.filter.subtype = Some(subtype);
        self
    }

    /// Strips from the first `n` segments that carry the option, then lets all pass.
    pub fn first(mut self, n: u64) -> StripOption {
        self.filter.limit = Some(n);
        self
    }

    /// What it did so far (`modified`: segments that lost at least one option).
    pub fn stats(&self) -> TcpMiddleboxStats {
        self.filter.stats
    }

    /// Options replaced by NOPs so far.
    pub fn stripped(&self) -> u64 {
        self.filter.options
    }
}

impl Middlebox for StripOption {
    fn process(&mut self, _now: Instant, _rng: &mut Rng, frame: &mut Vec<u8>) -> Verdict {
        self.filter.apply(frame, |option| option.fill(kind::NOP));
        Verdict::Pass
    }

    fn name(&self) -> &'static str {
        "StripOption"
    }
}

/// Runs a closure over the bytes of each TCP option of one kind (kind and length bytes
/// included, as [`crate::wire::tcp::TcpOption::Mptcp`] holds them) in the segments
/// [`Which`] selects, then fixes the checksum. The closure may change any byte, the
/// length included; the walk goes on from the original length.
pub struct RewriteOption<F> {
    filter: OptionFilter,
    rewrite: F,
}

impl<F: FnMut(&mut [u8]) + 'static> RewriteOption<F> {
    /// Rewrites options of `kind` in the segments `when` selects with `rewrite`.
    pub fn new(kind: u8, when: Which, rewrite: F) -> RewriteOption<F> {
        RewriteOption {
            filter: OptionFilter::new(kind, when),
            rewrite,
        }
    }

    /// Only MPTCP suboptions of `subtype`; for kind 30.
    pub fn subtype(mut self, subtype: u8) -> Self {
        self.filter.subtype = Some(subtype);
        self
    }

    /// Rewrites in the first `n` segments that carry the option only.
    pub fn first(mut self, n: u64) -> Self {
        self.filter.limit = Some(n);
        self
    }

    /// What it did so far (`modified`: segments with at least one option rewritten,
    /// whether or not the closure changed a byte).
    pub fn stats(&self) -> TcpMiddleboxStats {
        self.filter.stats
    }

    /// Options handed to the closure so far.
    pub fn rewritten(&self) -> u64 {
        self.filter.options
    }
}

impl<F: FnMut(&mut [u8]) + 'static> Middlebox for RewriteOption<F> {
    fn process(&mut self, _now: Instant, _rng: &mut Rng, frame: &mut Vec<u8>) -> Verdict {
        self.filter.apply(frame, &mut self.rewrite);
        Verdict::Pass
    }

    fn name(&self) -> &'static str {
        "RewriteOption"
    }
}

impl<F> fmt::Debug for RewriteOption<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RewriteOption")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

/// When [`CorruptPayload`] strikes.
#[derive(Debug, Clone, Copy)]
enum Strike {
    /// The data segment with this index (0 for the first one seen).
    Nth(u64),
    /// Each data segment with this probability.
    Chance(Threshold),
}

/// Changes one byte of the payload of a data segment and fixes the TCP checksum, so that
/// TCP accepts the segment and only an MPTCP DSS checksum can catch the change (RFC 8684
/// §3.3.1 and §3.7). Any change of one byte alters the one's-complement sum, so the DSS
/// checksum always catches it.
#[derive(Debug)]
pub struct CorruptPayload {
    strike: Strike,
    at: Option<usize>,
    mask: u8,
    stats: TcpMiddleboxStats,
    /// Each change made: the segment's sequence number and the offset in its payload.
    pub corrupted: Vec<(SubflowSeq, usize)>,
}

impl CorruptPayload {
    fn with(strike: Strike) -> CorruptPayload {
        CorruptPayload {
            strike,
            at: None,
            mask: 0,
            stats: TcpMiddleboxStats::default(),
            corrupted: Vec::new(),
        }
    }

    /// Corrupts the `n`th data segment (counting from 0) that crosses it, once.
    /// Retransmissions are counted as new segments.
    pub fn nth(n: u64) -> CorruptPayload {
        CorruptPayload::with(Strike::Nth(n))
    }

    /// Corrupts each data segment with probability `p`, drawn from the link's middlebox
    /// stream.
    pub fn probability(p: f64) -> CorruptPayload {
        CorruptPayload::with(Strike::Chance(Threshold::new(p)))
    }

    /// Changes the payload byte at `offset` (the last one for a shorter payload) instead
    /// of a random one.
    pub fn at(mut self, offset: usize) -> CorruptPayload {
        self.at = Some(offset);
        self
    }

    /// XORs the byte with `mask` instead of flipping one random bit (0: random bit).
    pub fn mask(mut self, mask: u8) -> CorruptPayload {
        self.mask = mask;
        self
    }

    /// What it did so far (`matched`: data segments seen; `modified`: corrupted).
    pub fn stats(&self) -> TcpMiddleboxStats {
        self.stats
    }
}

impl Middlebox for CorruptPayload {
    fn process(&mut self, _now: Instant, rng: &mut Rng, frame: &mut Vec<u8>) -> Verdict {
        let Some(loc) = self.stats.locate(frame) else {
            return Verdict::Pass;
        };
        let len = match frame.get(loc.segment.clone()) {
            Some(seg) => TcpPacket::new_unchecked(seg).payload().len(),
            None => 0,
        };
        if len == 0 {
            return Verdict::Pass;
        }
        let index = self.stats.matched;
        self.stats.matched += 1;
        let strike = match self.strike {
            Strike::Nth(n) => index == n,
            Strike::Chance(t) => rng.hit(t),
        };
        if !strike {
            return Verdict::Pass;
        }
        let offset = match self.at {
            Some(at) => at.min(len - 1),
            None => rng.below(len as u64) as usize,
        };
        let mask = match self.mask {
            0 => 1u8 << rng.below(8),
            m => m,
        };
        let seq = edit_segment(frame, loc.segment, |p| {
            if let Some(b) = p.payload_mut().get_mut(offset) {
                *b ^= mask;
            }
            p.seq_number()
        });
        if let Some(seq) = seq {
            self.stats.modified += 1;
            self.corrupted.push((seq, offset));
        }
        Verdict::Pass
    }

    fn name(&self) -> &'static str {
        "CorruptPayload"
    }
}

/// Hands every TCP segment to a closure `f(now, rng, location, packet) -> Verdict` that
/// may change anything in place (window, sequence numbers, flags, option bytes, payload)
/// or drop it; the checksum is fixed afterwards unless the closure wrote it itself. The
/// length of the segment cannot change (use [`MapFrame`](super::MapFrame) for that).
pub struct MapTcp<F> {
    f: F,
    scratch: Vec<u8>,
    stats: TcpMiddleboxStats,
    /// Segments the closure dropped.
    pub dropped: u64,
}

impl<F> MapTcp<F>
where
    F: FnMut(Instant, &mut Rng, &TcpLocation, &mut TcpPacket<&mut [u8]>) -> Verdict + 'static,
{
    /// A middlebox around `f`.
    pub fn new(f: F) -> MapTcp<F> {
        MapTcp {
            f,
            scratch: Vec::new(),
            stats: TcpMiddleboxStats::default(),
            dropped: 0,
        }
    }

    /// What it did so far (`matched`: segments handed to the closure; `modified`: those
    /// whose bytes changed).
    pub fn stats(&self) -> TcpMiddleboxStats {
        self.stats
    }
}

impl<F> Middlebox for MapTcp<F>
where
    F: FnMut(Instant, &mut Rng, &TcpLocation, &mut TcpPacket<&mut [u8]>) -> Verdict + 'static,
{
    fn process(&mut self, now: Instant, rng: &mut Rng, frame: &mut Vec<u8>) -> Verdict {
        let Some(loc) = self.stats.locate(frame) else {
            return Verdict::Pass;
        };
        self.stats.matched += 1;
        self.scratch.clear();
        self.scratch
            .extend_from_slice(frame.get(loc.segment.clone()).unwrap_or(&[]));
        let f = &mut self.f;
        let verdict = edit_segment(frame, loc.segment.clone(), |p| f(now, rng, &loc, p))
            .unwrap_or(Verdict::Pass);
        if frame.get(loc.segment) != Some(&self.scratch[..]) {
            self.stats.modified += 1;
        }
        if verdict == Verdict::Drop {
            self.dropped += 1;
        }
        verdict
    }

    fn name(&self) -> &'static str {
        "MapTcp"
    }
}

impl<F> fmt::Debug for MapTcp<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapTcp")
            .field("stats", &self.stats)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "tests_tcp_middlebox.rs"]
mod tests;
