//! DSS mappings (RFC 8684 §3.3): which data sequence numbers the bytes of a subflow
//! carry.
//!
//! **Send side** ([`TxMappings`], one per subflow): when the connection hands a DSN range
//! to a subflow, the subflow's next subflow-sequence range carries it. The table keeps
//! those mappings until the subflow-level ACK passes them, so any segment, first
//! transmission or retransmission, gets the right DSS mapping ([`TxMappings::lookup`]).
//! One mapping may span many segments; segments must not straddle two mappings
//! ([`TxMappings::room`] says where to cut). The DSN is always sent in 64 bits and, when
//! checksums are on, the DSS checksum covers the mapping's whole payload
//! (RFC 8684 §3.3.1), computed once with [`crate::wire::mptcp::csum::DssCsum`].
//!
//! **Receive side** ([`RxMapper`], one per subflow): the DSS options of incoming segments
//! are recorded ([`RxMapper::handle_dss`]) and the subflow's in-order bytes are turned
//! into `(DSN, bytes)` pieces ([`RxMapper::handle_data`]) for the data-level reassembly.
//! Validation follows RFC 8684 §3.3 and Linux's `get_mapping_status` /
//! `validate_mapping` / `validate_data_csum` (net/mptcp/subflow.c):
//!
//! | situation | Linux | here |
//! | --- | --- | --- |
//! | data with no mapping at all (DSS stripped) | `MAPPING_NODSS` | [`MappingError::NoDss`] |
//! | the segment's mapping does not cover its data | `MAPPING_INVALID`, `DSSTCPMISMATCH` | [`MappingError::DssTcpMismatch`] |
//! | a different mapping for data the current one covers | `MAPPING_INVALID`, `DSSNOMATCH` | [`MappingError::DssNoMatch`] |
//! | checksum present/absent against the negotiation | `MAPPING_INVALID` (Cfr RFC 8684 §3.3.0) | [`MappingError::CsumMismatch`] |
//! | checksum over the mapping fails | `MAPPING_BAD_CSUM`, `DATACSUMERR` | [`MappingError::BadChecksum`] |
//! | infinite mapping (data-level length 0) | `INFINITEMAPRX`, fallback | [`DssEvent::InfiniteMapping`], mapped on (RFC 8684 §3.7) |
//! | DATA_FIN alone (data-level length 1) | `MAPPING_DATA_FIN` | [`DssEvent::DataFin`] |
//!
//! What to do about an error ([`MappingError::action`]) is Linux's
//! `subflow_check_data_avail` fallback branch: MP_FAIL (and wait for the infinite
//! mapping), fall back to TCP, or reset the subflow with an MP_TCPRST reason.
//!
//! Nothing here allocates per packet: tables are preallocated rings, and the only
//! buffer (checksum mode holds a mapping's bytes until its checksum is verified, as
//! Linux keeps them in the subflow receive queue) is allocated once, 64 KiB.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::seq::{DataSeq, SubflowSeq};
use crate::wire::mptcp::csum::DssCsum;
use crate::wire::mptcp::{tcprst, Dss, DssMapping, DssSeq};

// ------------------------------------------------------------------------------------
// Send side
// ------------------------------------------------------------------------------------

/// One mapping on the send side: the payload bytes `[ssn, ssn + len)` of the subflow
/// carry the data `[dsn, dsn + len)`, followed by the DATA_FIN when `data_fin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxMapping {
    /// Absolute subflow sequence number of the first payload byte.
    pub ssn: SubflowSeq,
    pub dsn: DataSeq,
    /// Payload bytes (the DATA_FIN not included).
    pub len: u16,
    pub data_fin: bool,
    /// The DSS checksum over the whole mapping, when checksums are on.
    pub csum: Option<u16>,
}

impl TxMapping {
    /// Subflow sequence number after the payload.
    pub fn end(&self) -> SubflowSeq {
        self.ssn + usize::from(self.len)
    }

    /// The data-level length field: RFC 8684 §3.3.3, a DATA_FIN occupies one octet of
    /// data sequence space and counts in the length.
    pub fn data_len(&self) -> u16 {
        self.len + u16::from(self.data_fin)
    }

    /// The wire mapping for a subflow whose initial send sequence number is `iss`
    /// (the subflow sequence number is relative to it, RFC 8684 §3.3). The DSN is always
    /// sent in 64 bits.
    pub fn to_wire(&self, iss: SubflowSeq) -> DssMapping {
        DssMapping {
            dsn: DssSeq {
                value: self.dsn.0,
                wide: true,
            },
            ssn: (self.ssn - iss) as u32,
            data_len: self.data_len(),
            checksum: self.csum,
        }
    }
}

/// Why a mapping could not be added ([`TxMappings::push`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxMapError {
    /// The mapping does not start where the previous one ended.
    NotContiguous,
    /// Empty, or longer than a data-level length can say (65535 with the DATA_FIN).
    BadLength,
}

/// The send-side mappings of one subflow. See the module docs.
#[derive(Debug)]
pub struct TxMappings {
    iss: SubflowSeq,
    csum: bool,
    ring: VecDeque<TxMapping>,
}

impl TxMappings {
    /// An empty table for a subflow whose initial send sequence number is `iss` (its
    /// first payload byte is `iss + 1`); `csum`: DSS checksums were negotiated.
    pub fn new(iss: SubflowSeq, csum: bool) -> Self {
        TxMappings {
            iss,
            csum,
            ring: VecDeque::with_capacity(64),
        }
    }

    /// The longest payload one mapping can carry.
    pub const MAX_LEN: usize = u16::MAX as usize - 1;

    /// Adds the mapping for the payload `payload` (its pieces, in order) placed at subflow
    /// sequence `ssn`, carrying the DSNs from `dsn`; `data_fin`: the DATA_FIN follows
    /// the payload. Computes the DSS checksum over the whole payload when checksums
    /// are on. The mapping must start where the previous one ended.
    pub fn push<'a>(
        &mut self,
        ssn: SubflowSeq,
        dsn: DataSeq,
        payload: impl IntoIterator<Item = &'a [u8]> + Clone,
        data_fin: bool,
    ) -> Result<TxMapping, TxMapError> {
        let len: usize = payload.clone().into_iter().map(<[u8]>::len).sum();
        if len == 0 || len > Self::MAX_LEN {
            return Err(TxMapError::BadLength);
        }
        if let Some(last) = self.ring.back() {
            if last.end() != ssn {
                return Err(TxMapError::NotContiguous);
            }
        }
        let mut m = TxMapping {
            ssn,
            dsn,
            len: len as u16,
            data_fin,
            csum: None,
        };
        if self.csum {
            // RFC 8684 §3.3.1: the checksum covers the pseudo-header and the whole
            // mapped payload, however many segments carry it.
            let mut c = DssCsum::new(dsn.0, (ssn - self.iss) as u32, m.data_len());
            for p in payload {
                c.add_payload(p);
            }
            m.csum = Some(c.finish());
        }
        self.ring.push_back(m);
        Ok(m)
    }

    /// Like [`push`](Self::push) for a payload of `Bytes` pieces (what
    /// [`super::sendbuf::SendBuf::read`] returns).
    pub fn push_bytes(
        &mut self,
        ssn: SubflowSeq,
        dsn: DataSeq,
        payload: &[Bytes],
        data_fin: bool,
    ) -> Result<TxMapping, TxMapError> {
        self.push(ssn, dsn, payload.iter().map(|b| &b[..]), data_fin)
    }

    /// The mapping covering subflow sequence `seq` (the first byte of a segment).
    pub fn mapping_at(&self, seq: SubflowSeq) -> Option<&TxMapping> {
        // Mappings are contiguous and in order: binary search by distance from the first.
        let first = self.ring.front()?.ssn;
        let off = seq.diff(first);
        if off < 0 {
            return None;
        }
        let i = self
            .ring
            .partition_point(|m| m.ssn.diff(first) <= off)
            .checked_sub(1)?;
        let m = &self.ring[i];
        (seq < m.end()).then_some(m)
    }

    /// The DSS mapping to put on a segment starting at `seq`, or `None` when no
    /// mapping covers it (already acknowledged, or not mapped).
    pub fn lookup(&self, seq: SubflowSeq) -> Option<DssMapping> {
        self.mapping_at(seq).map(|m| m.to_wire(self.iss))
    }

    /// The whole DSS option for a segment starting at `seq`: its mapping (if any
    /// covers `seq`), the DATA_FIN flag when that mapping ends with the DATA_FIN, and
    /// `data_ack` (64 bits when `wide_ack`; Linux sends 64-bit DATA_ACKs once the
    /// peer's DSNs are 64-bit, `use_64bit_ack`).
    pub fn dss(&self, seq: SubflowSeq, data_ack: Option<DataSeq>, wide_ack: bool) -> Dss {
        let m = self.mapping_at(seq);
        Dss {
            data_fin: m.is_some_and(|m| m.data_fin),
            data_ack: data_ack.map(|a| DssSeq {
                value: if wide_ack { a.0 } else { u64::from(a.low32()) },
                wide: wide_ack,
            }),
            mapping: m.map(|m| m.to_wire(self.iss)),
        }
    }

    /// How many bytes a segment starting at `seq` may carry before it would straddle
    /// into the next mapping (0 when nothing covers `seq`).
    pub fn room(&self, seq: SubflowSeq) -> usize {
        self.mapping_at(seq).map_or(0, |m| m.end() - seq)
    }

    /// The subflow-level ACK reached `snd_una`: forget mappings wholly before it.
    pub fn release(&mut self, snd_una: SubflowSeq) {
        while let Some(m) = self.ring.front() {
            if m.end() <= snd_una {
                self.ring.pop_front();
            } else {
                break;
            }
        }
    }

    /// Mappings held.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether no mapping is held.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The mapping of a DATA_FIN sent without data. RFC 8684 §3.3.3: such a DSS "MUST
    /// have a subflow sequence number of 0, a Data-Level Length of 1, and the data
    /// sequence number that corresponds with the DATA_FIN itself". With checksums, the
    /// checksum covers that pseudo-header alone.
    pub fn data_fin_only(dsn: DataSeq, csum: bool) -> DssMapping {
        DssMapping {
            dsn: DssSeq {
                value: dsn.0,
                wide: true,
            },
            ssn: 0,
            data_len: 1,
            checksum: csum.then(|| DssCsum::new(dsn.0, 0, 1).finish()),
        }
    }
}

// ------------------------------------------------------------------------------------
// Receive side
// ------------------------------------------------------------------------------------

/// A mapping validation failure (see the module docs for the Linux equivalents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MappingError {
    /// In-order data that no DSS mapping covers, and its segment carried none: the DSS
    /// was likely stripped by a middlebox (`MAPPING_NODSS`).
    NoDss,
    /// A segment's mapping does not cover the segment's data (`DSSNoMatchTCP`).
    DssTcpMismatch,
    /// A mapping different from the current one arrived for data the current one
    /// already covers (`DSSNotMatching`).
    DssNoMatch,
    /// A mapping with a checksum when none was negotiated, or without one when it was
    /// (RFC 8684 §3.3.0 / §3.3.1).
    CsumMismatch,
    /// The DSS checksum of the mapping starting at `dsn` failed (`DataCsumErr`).
    BadChecksum { dsn: DataSeq },
}

/// What the connection does about a [`MappingError`] (Linux `subflow_check_data_avail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// Send MP_FAIL carrying `dsn` on this subflow and keep it: the peer answers with
    /// an infinite mapping (RFC 8684 §3.7, the single-subflow case).
    MpFail { dsn: DataSeq },
    /// Fall back to plain TCP on this subflow ([`RxMapper::enter_fallback`]).
    Fallback,
    /// Reset the subflow with MP_TCPRST `reason` ([`tcprst`]), adding MP_FAIL with `dsn`
    /// when set.
    Reset {
        reason: u8,
        mp_fail: Option<DataSeq>,
    },
}

impl MappingError {
    /// The Linux outcome. `allow_infinite_fallback`: the connection may still fall back
    /// (one subflow, nothing reinjected: Linux `msk->allow_infinite_fallback`);
    /// `mp_join`: this subflow was opened by MP_JOIN; `valid_csum_seen`: a checksum
    /// already verified on it ([`RxMapper::valid_csum_seen`]).
    pub fn action(
        self,
        allow_infinite_fallback: bool,
        mp_join: bool,
        valid_csum_seen: bool,
    ) -> FailAction {
        if let MappingError::BadChecksum { dsn } = self {
            // RFC 8684 §3.7: once MPTCP is known to work on this path (a join, or a
            // checksum already verified), a bad checksum means MP_FAIL; if the
            // connection cannot fall back, the subflow is reset with MP_FAIL.
            if mp_join || valid_csum_seen {
                return if allow_infinite_fallback && !mp_join {
                    FailAction::MpFail { dsn }
                } else {
                    FailAction::Reset {
                        reason: tcprst::MIDDLEBOX_INTERFERENCE,
                        mp_fail: Some(dsn),
                    }
                };
            }
        }
        if allow_infinite_fallback {
            FailAction::Fallback
        } else {
            FailAction::Reset {
                reason: if self == MappingError::NoDss {
                    tcprst::MIDDLEBOX_INTERFERENCE
                } else {
                    tcprst::MPTCP_ERROR
                },
                mp_fail: None,
            }
        }
    }
}

/// What a DSS option told the receive side besides a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DssEvent {
    /// A mapping was recorded (or it repeated a known one, or it was stale).
    None,
    /// The peer's DATA_FIN sits at this DSN (RFC 8684 §3.3.3); its mapping, if it
    /// carried data, was recorded too. Recorded as soon as seen, as Linux does.
    DataFin(DataSeq),
    /// An infinite mapping (RFC 8684 §3.7): from its subflow sequence number on, the
    /// subflow's bytes map one to one onto DSNs from its DSN. The connection falls back.
    InfiniteMapping,
}

/// Counters of the receive-side mapper, named after Linux's `MPTcpExt*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxMapStats {
    /// `DSSNotMatching`.
    pub dss_not_matching: u64,
    /// `DSSNoMatchTCP`.
    pub dss_no_match_tcp: u64,
    /// Data with no DSS (Linux resets with EMIDDLEBOX or falls back: `DSSFallback`).
    pub no_dss: u64,
    /// `DataCsumErr`.
    pub data_csum_err: u64,
    /// `InfiniteMapRx`.
    pub infinite_map_rx: u64,
    /// Mappings dropped because the pending table was full (the peer repeats the DSS
    /// on every segment, so a later copy is recorded).
    pub pending_overflow: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RxMap {
    /// Absolute subflow sequence of the first payload byte.
    ssn: SubflowSeq,
    dsn: DataSeq,
    /// Payload bytes (DATA_FIN excluded), at least 1.
    len: u32,
    /// The data-level length field as received (DATA_FIN included), for the checksum.
    dll: u16,
    csum: Option<u16>,
    /// The segment that carried it (for `DssTcpMismatch`).
    seg_start: SubflowSeq,
    seg_end: SubflowSeq,
}

impl RxMap {
    fn end(&self) -> SubflowSeq {
        self.ssn + self.len as usize
    }
    fn same(&self, o: &RxMap) -> bool {
        self.ssn == o.ssn
            && self.dsn == o.dsn
            && self.len == o.len
            && self.dll == o.dll
            && self.csum.is_some() == o.csum.is_some()
    }
    fn covers(&self, seq: SubflowSeq) -> bool {
        self.ssn <= seq && seq < self.end()
    }
}

#[derive(Debug, Clone, Copy)]
struct Current {
    map: RxMap,
    /// Payload bytes of the mapping consumed so far.
    consumed: u32,
    acc: DssCsum,
}

/// How many mappings ahead of the read point may wait by default (received out of
/// order, or on segments the TCP engine holds out of order). A peer that maps one
/// segment per mapping needs one entry per out-of-order segment; see
/// [`RxMapper::with_max_pending`].
pub const DEFAULT_MAX_PENDING: usize = 256;

/// The mapping carried by MP_CAPABLE on the first data segment (RFC 8684 §3.1: the
/// third ACK may carry data with a data-level length and, when negotiated, a
/// checksum; its data starts at the sender's IDSN + 1 and subflow sequence 1), as a
/// DSS mapping for [`RxMapper::handle_dss`].
pub fn mp_capable_mapping(idsn: u64, data_len: u16, checksum: Option<u16>) -> DssMapping {
    DssMapping {
        dsn: DssSeq {
            value: idsn.wrapping_add(1),
            wide: true,
        },
        ssn: 1,
        data_len,
        checksum,
    }
}

/// The receive-side mapping tracker of one subflow. See the module docs.
#[derive(Debug)]
pub struct RxMapper {
    irs: SubflowSeq,
    read: SubflowSeq,
    csum_required: bool,
    cur: Option<Current>,
    pending: VecDeque<RxMap>,
    /// Fallback: bytes from subflow sequence `.0` on carry DSNs from `.1`.
    fallback: Option<(SubflowSeq, DataSeq)>,
    valid_csum_seen: bool,
    hold: Vec<u8>,
    max_pending: usize,
    stats: RxMapStats,
    /// The payload of the last mapping whose checksum failed.
    failed: Option<(DataSeq, Vec<u8>)>,
}

impl RxMapper {
    /// A tracker for a subflow whose peer's initial sequence number is `irs` (its first
    /// payload byte is `irs + 1`; relative subflow sequence numbers count from `irs`).
    /// `csum_required`: DSS checksums were negotiated for the connection.
    pub fn new(irs: SubflowSeq, csum_required: bool) -> Self {
        Self::with_max_pending(irs, csum_required, DEFAULT_MAX_PENDING)
    }

    /// Like [`new`](Self::new), with room for `max_pending` mappings ahead of the read
    /// point (at least 1). 32 entries are preallocated; more are allocated on demand up
    /// to the bound, beyond which a mapping is dropped and counted.
    pub fn with_max_pending(irs: SubflowSeq, csum_required: bool, max_pending: usize) -> Self {
        RxMapper {
            irs,
            read: irs + 1,
            csum_required,
            cur: None,
            max_pending: max_pending.max(1),
            pending: VecDeque::with_capacity(max_pending.clamp(1, 32)),
            fallback: None,
            valid_csum_seen: false,
            hold: if csum_required {
                Vec::with_capacity(usize::from(u16::MAX))
            } else {
                Vec::new()
            },
            stats: RxMapStats::default(),
            failed: None,
        }
    }

    /// The next subflow sequence number [`handle_data`](Self::handle_data) expects.
    pub fn read_seq(&self) -> SubflowSeq {
        self.read
    }

    /// Whether a DSS checksum was verified on this subflow (Linux `valid_csum_seen`).
    pub fn valid_csum_seen(&self) -> bool {
        self.valid_csum_seen
    }

    /// Whether the subflow maps by fallback (infinite mapping or TCP fallback).
    pub fn is_fallback(&self) -> bool {
        self.fallback.is_some()
    }

    /// Counters.
    pub fn stats(&self) -> RxMapStats {
        self.stats
    }

    /// Records the DSS `dss` (its mapping `map`, DATA_FIN flag `data_fin`) of a segment
    /// whose payload is `[seg_seq, seg_seq + seg_len)`. `ack_seq`: the connection's
    /// current DATA_ACK, to expand a 32-bit DSN (RFC 8684 §3.3: the receiver infers the
    /// upper bits; Linux `mptcp_expand_seq` from `msk->ack_seq`).
    pub fn handle_dss(
        &mut self,
        seg_seq: SubflowSeq,
        seg_len: usize,
        map: &DssMapping,
        data_fin: bool,
        ack_seq: DataSeq,
    ) -> Result<DssEvent, MappingError> {
        let dsn = if map.dsn.wide {
            DataSeq(map.dsn.value)
        } else {
            DataSeq::expand(map.dsn.value as u32, ack_seq)
        };
        if self.fallback.is_some() {
            // Linux MAPPING_DUMMY: mappings mean nothing once fallen back.
            return Ok(DssEvent::None);
        }
        if map.data_len == 0 {
            // RFC 8684 §3.7: the infinite mapping; the subflow maps one to one from here.
            self.stats.infinite_map_rx += 1;
            self.fallback = Some((self.irs + map.ssn as usize, dsn));
            self.pending.clear();
            return Ok(DssEvent::InfiniteMapping);
        }
        if data_fin && map.data_len == 1 {
            // RFC 8684 §3.3.3: a DATA_FIN without data; nothing to map. Linux keeps
            // handling a current mapping undisturbed.
            return Ok(DssEvent::DataFin(dsn));
        }
        // Cfr RFC 8684 §3.3.0 (Linux): the checksum must be there exactly when negotiated.
        if map.checksum.is_some() != self.csum_required {
            return Err(MappingError::CsumMismatch);
        }
        let len = u32::from(map.data_len) - u32::from(data_fin);
        let new = RxMap {
            ssn: self.irs + map.ssn as usize,
            dsn,
            len,
            dll: map.data_len,
            csum: map.checksum,
            seg_start: seg_seq,
            seg_end: seg_seq + seg_len,
        };
        let event = if data_fin {
            // The DATA_FIN follows the mapping's last data byte.
            DssEvent::DataFin(dsn + u64::from(len))
        } else {
            DssEvent::None
        };
        if new.end() <= self.read {
            // A mapping for data already consumed (a retransmission): nothing to do.
            return Ok(event);
        }
        let seg_end = seg_seq + seg_len;
        if let Some(cur) = &self.cur {
            if cur.map.same(&new) {
                return Ok(event);
            }
            // Linux `skb_is_fully_mapped`: the segment's data is all under the current
            // mapping, so a different mapping for it conflicts.
            let seg_from = seg_seq.max(self.read);
            if seg_len > 0 && cur.map.covers(seg_from) && seg_end <= cur.map.end() {
                self.stats.dss_not_matching += 1;
                return Err(MappingError::DssNoMatch);
            }
        }
        for p in &self.pending {
            if p.same(&new) {
                return Ok(event);
            }
            if seg_len > 0 && p.covers(seg_seq) && seg_end <= p.end() && !new.covers(seg_seq) {
                self.stats.dss_not_matching += 1;
                return Err(MappingError::DssNoMatch);
            }
        }
        // Keep the pending mappings ordered by their distance from the read point.
        let key = new.ssn.diff(self.read);
        if self.pending.len() >= self.max_pending {
            // Full: the mapping needed soonest stays; the farthest one is dropped.
            self.stats.pending_overflow += 1;
            match self.pending.back() {
                Some(last) if last.ssn.diff(self.read) > key => {
                    self.pending.pop_back();
                }
                _ => return Ok(event),
            }
        }
        let at = self
            .pending
            .partition_point(|p| p.ssn.diff(self.read) <= key);
        self.pending.insert(at, new);
        Ok(event)
    }

    /// Finds the mapping for the read point among the pending ones.
    fn next_mapping(&mut self) -> Result<(), MappingError> {
        let read = self.read;
        self.pending.retain(|p| p.end() > read);
        let found = self.pending.iter().position(|p| p.covers(read));
        if let Some(map) = found.and_then(|i| self.pending.remove(i)) {
            let consumed = read - map.ssn;
            if consumed > 0 && self.csum_required {
                // The first bytes of the mapping went under another one: the checksum
                // can never be verified (Linux `validate_mapping` then fails).
                self.stats.dss_no_match_tcp += 1;
                return Err(MappingError::DssTcpMismatch);
            }
            self.cur = Some(Current {
                map,
                consumed: consumed as u32,
                acc: DssCsum::new(map.dsn.0, (map.ssn - self.irs) as u32, map.dll),
            });
            return Ok(());
        }
        // Linux `validate_mapping`: the segment carrying these bytes had a mapping, but
        // it does not cover them.
        if self
            .pending
            .iter()
            .any(|p| p.seg_start <= read && read < p.seg_end)
        {
            self.stats.dss_no_match_tcp += 1;
            Err(MappingError::DssTcpMismatch)
        } else {
            self.stats.no_dss += 1;
            Err(MappingError::NoDss)
        }
    }

    /// Consumes the subflow's next in-order bytes `data` (they start at
    /// [`read_seq`](Self::read_seq)) and emits them as `(DSN, bytes)` pieces through
    /// `out`. Without checksums the pieces borrow from `data`; with checksums a
    /// mapping's bytes are held until the whole mapping arrived and its checksum
    /// verified, then emitted as one piece.
    ///
    /// Returns the bytes consumed (all of `data`), or the first validation error; then
    /// `read_seq` tells how far it got, and the caller applies
    /// [`MappingError::action`].
    pub fn handle_data(
        &mut self,
        mut data: &[u8],
        mut out: impl FnMut(DataSeq, &[u8]),
    ) -> Result<usize, MappingError> {
        let total = data.len();
        while !data.is_empty() {
            let cur_ok = self.cur.as_ref().is_some_and(|c| c.map.covers(self.read));
            if !cur_ok {
                self.cur = None;
                if let Some((ssn, dsn)) = self.fallback {
                    // One-to-one mapping from the infinite mapping (or TCP fallback) on.
                    let at = if self.read >= ssn {
                        dsn + (self.read - ssn) as u64
                    } else {
                        DataSeq(dsn.0.wrapping_sub((ssn - self.read) as u64))
                    };
                    out(at, data);
                    self.read += data.len();
                    return Ok(total);
                }
                self.next_mapping()?;
            }
            let Some(cur) = self.cur.as_mut() else {
                break;
            };
            let left = (cur.map.len - cur.consumed) as usize;
            let n = left.min(data.len());
            let (piece, rest) = data.split_at(n);
            if let Some(received) = cur.map.csum {
                cur.acc.add_payload(piece);
                self.hold.extend_from_slice(piece);
                cur.consumed += n as u32;
                self.read += n;
                if cur.consumed == cur.map.len {
                    let (dsn, acc) = (cur.map.dsn, cur.acc);
                    self.cur = None;
                    // RFC 8684 §3.3.1: verify the checksum over the whole mapping.
                    if acc.verify(received) {
                        self.valid_csum_seen = true;
                        out(dsn, &self.hold);
                        self.hold.clear();
                    } else {
                        // Kept for the caller: after MP_FAIL with a single subflow the
                        // data is passed on as is (Linux delivers the skb after the
                        // fallback); otherwise it is dropped at the next failure.
                        self.failed = Some((dsn, core::mem::take(&mut self.hold)));
                        self.stats.data_csum_err += 1;
                        return Err(MappingError::BadChecksum { dsn });
                    }
                }
            } else {
                out(cur.map.dsn + u64::from(cur.consumed), piece);
                cur.consumed += n as u32;
                self.read += n;
                if cur.consumed == cur.map.len {
                    self.cur = None;
                }
            }
            data = rest;
        }
        Ok(total)
    }

    /// [`handle_data`](Self::handle_data) for data already in a `Bytes`: without
    /// checksums every piece is a zero-copy slice of `data`; a verified checksummed
    /// mapping spanning several calls is copied once into a new `Bytes`.
    pub fn handle_data_bytes(
        &mut self,
        data: &Bytes,
        mut out: impl FnMut(DataSeq, Bytes),
    ) -> Result<usize, MappingError> {
        let base = data.as_ptr() as usize;
        let end = base + data.len();
        self.handle_data(data, |dsn, piece| {
            let p = piece.as_ptr() as usize;
            if p >= base && p + piece.len() <= end {
                out(dsn, data.slice(p - base..p - base + piece.len()));
            } else {
                out(dsn, Bytes::copy_from_slice(piece));
            }
        })
    }

    /// The DSN and payload of the last mapping whose checksum failed
    /// ([`MappingError::BadChecksum`]), once.
    pub fn take_failed(&mut self) -> Option<(DataSeq, Vec<u8>)> {
        self.failed.take()
    }

    /// Checksum mode: the bytes of the current mapping received so far and not yet
    /// verified, with their DSN (a fallback passes them on unverified instead of
    /// dropping them). Call before [`enter_fallback`](Self::enter_fallback).
    pub fn take_held(&mut self) -> Option<(DataSeq, Vec<u8>)> {
        let cur = self.cur.as_ref()?;
        if self.hold.is_empty() {
            return None;
        }
        let dsn = cur.map.dsn;
        self.cur = None;
        Some((dsn, core::mem::take(&mut self.hold)))
    }

    /// The subflow falls back to TCP (or accepts data after MP_FAIL): from the read
    /// point on, bytes carry the DSNs from `dsn` one to one. Held and pending mapping
    /// state is dropped.
    pub fn enter_fallback(&mut self, dsn: DataSeq) {
        self.fallback = Some((self.read, dsn));
        self.cur = None;
        self.pending.clear();
        self.hold.clear();
    }

    /// Skips `n` in-order bytes without mapping them (the caller discarded them, e.g.
    /// after a reset decision). Drops the current mapping's held bytes.
    pub fn skip(&mut self, n: usize) {
        self.read += n;
        self.cur = None;
        self.hold.clear();
    }
}

#[cfg(test)]
mod tests;
