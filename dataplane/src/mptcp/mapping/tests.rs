use super::*;
use crate::wire::mptcp::csum::dss_csum;
use proptest::prelude::*;

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(29) ^ seed).collect()
}

fn wire(dsn: u64, wide: bool, ssn: u32, dll: u16, csum: Option<u16>) -> DssMapping {
    DssMapping {
        dsn: DssSeq { value: dsn, wide },
        ssn,
        data_len: dll,
        checksum: csum,
    }
}

/// `(DSN, bytes)` pieces as emitted.
type Pieces = Vec<(u64, Vec<u8>)>;

/// Collects the pieces `handle_data` emits.
fn feed(rx: &mut RxMapper, data: &[u8]) -> (Result<usize, MappingError>, Pieces) {
    let mut got = Vec::new();
    let r = rx.handle_data(data, |d, b| got.push((d.0, b.to_vec())));
    (r, got)
}

// ---- send side ----

#[test]
fn tx_lookup_room_release() {
    let iss = SubflowSeq(u32::MAX - 10); // relative numbers cross the 32-bit wrap
    let mut tx = TxMappings::new(iss, false);
    let a = pattern(1000, 1);
    let m1 = tx
        .push(iss + 1, DataSeq(1 << 40), [&a[..600], &a[600..]], false)
        .unwrap();
    assert_eq!(m1.len, 1000);
    tx.push(iss + 1001, DataSeq(5), [&a[..10]], true).unwrap();
    assert_eq!(
        tx.push(iss + 2000, DataSeq(99), [&a[..1]], false),
        Err(TxMapError::NotContiguous)
    );
    assert_eq!(
        tx.push(iss + 1011, DataSeq(99), [&a[..0]], false),
        Err(TxMapError::BadLength)
    );
    // Any segment inside the first mapping gets it, relative SSN 1, 64-bit DSN.
    for off in [1usize, 2, 500, 1000] {
        let w = tx.lookup(iss + off).unwrap();
        assert_eq!(w, wire(1 << 40, true, 1, 1000, None), "at {off}");
        assert_eq!(tx.room(iss + off), 1001 - off);
    }
    // The second carries the DATA_FIN: data-level length 11 for 10 bytes.
    assert_eq!(
        tx.lookup(iss + 1001).unwrap(),
        wire(5, true, 1001, 11, None)
    );
    assert_eq!(tx.lookup(iss + 1011), None);
    assert_eq!(tx.lookup(iss), None);
    assert_eq!(tx.room(iss + 1011), 0);
    tx.release(iss + 1000);
    assert_eq!(tx.len(), 2, "first mapping still has a byte unacked");
    tx.release(iss + 1001);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx.lookup(iss + 500), None);
}

#[test]
fn tx_checksum_covers_whole_mapping() {
    let iss = SubflowSeq(7000);
    let mut tx = TxMappings::new(iss, true);
    let a = pattern(3000, 9);
    let pieces = [
        Bytes::copy_from_slice(&a[..1]),
        Bytes::copy_from_slice(&a[1..1999]),
        Bytes::copy_from_slice(&a[1999..]),
    ];
    let m = tx
        .push_bytes(iss + 1, DataSeq(0x1_2345_6789), &pieces, true)
        .unwrap();
    // The pseudo-header's length counts the DATA_FIN; only payload bytes are summed.
    assert_eq!(m.csum, Some(dss_csum(0x1_2345_6789, 1, 3001, &a)));
    assert_eq!(tx.lookup(iss + 2000).unwrap().checksum, m.csum);
}

#[test]
fn tx_data_fin_only() {
    let w = TxMappings::data_fin_only(DataSeq(0xdead_beef_0000), true);
    assert_eq!(w.ssn, 0);
    assert_eq!(w.data_len, 1);
    assert!(w.dsn.wide);
    assert!(DssCsum::new(0xdead_beef_0000, 0, 1).verify(w.checksum.unwrap()));
    assert_eq!(TxMappings::data_fin_only(DataSeq(1), false).checksum, None);
}

#[test]
fn tx_whole_dss_option() {
    let iss = SubflowSeq(100);
    let mut tx = TxMappings::new(iss, false);
    tx.push(iss + 1, DataSeq(1 << 40), [&[0u8; 10][..]], false)
        .unwrap();
    tx.push(iss + 11, DataSeq((1 << 40) + 10), [&[0u8; 5][..]], true)
        .unwrap();
    let d = tx.dss(iss + 3, Some(DataSeq(0x7_0000_0001)), false);
    assert!(!d.data_fin);
    assert_eq!(
        d.data_ack,
        Some(DssSeq {
            value: 1,
            wide: false
        })
    );
    assert_eq!(d.mapping, Some(wire(1 << 40, true, 1, 10, None)));
    let d = tx.dss(iss + 12, Some(DataSeq(0x7_0000_0001)), true);
    assert!(d.data_fin, "the mapping ends with the DATA_FIN");
    assert_eq!(
        d.data_ack,
        Some(DssSeq {
            value: 0x7_0000_0001,
            wide: true
        })
    );
    assert_eq!(d.mapping.unwrap().data_len, 6);
    // A pure ACK: no mapping.
    let d = tx.dss(iss + 16, Some(DataSeq(5)), true);
    assert_eq!((d.data_fin, d.mapping), (false, None));
}

// ---- receive side ----

const IRS: SubflowSeq = SubflowSeq(1_000_000);

#[test]
fn rx_mapping_spanning_segments() {
    let mut rx = RxMapper::new(IRS, false);
    let a = pattern(300, 2);
    // One mapping of 300 bytes repeated on three 100-byte segments.
    for k in 0..3 {
        let ev = rx
            .handle_dss(
                IRS + 1 + k * 100,
                100,
                &wire(5000, true, 1, 300, None),
                false,
                DataSeq(0),
            )
            .unwrap();
        assert_eq!(ev, DssEvent::None);
    }
    let (r, got) = feed(&mut rx, &a[..150]);
    assert_eq!(r, Ok(150));
    assert_eq!(got, [(5000, a[..150].to_vec())]);
    let (r, got) = feed(&mut rx, &a[150..]);
    assert_eq!(r, Ok(150));
    assert_eq!(got, [(5150, a[150..].to_vec())]);
    assert_eq!(rx.read_seq(), IRS + 301);
}

#[test]
fn rx_bytes_are_zero_copy_slices() {
    let mut rx = RxMapper::new(IRS, false);
    rx.handle_dss(IRS + 1, 8, &wire(40, true, 1, 4, None), false, DataSeq(0))
        .unwrap();
    rx.handle_dss(IRS + 1, 8, &wire(90, true, 5, 4, None), false, DataSeq(0))
        .unwrap();
    let seg = Bytes::from_static(b"abcdefgh");
    let mut got = Vec::new();
    rx.handle_data_bytes(&seg, |d, b| got.push((d.0, b)))
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].0, &got[0].1[..]), (40, &b"abcd"[..]));
    assert_eq!((got[1].0, &got[1].1[..]), (90, &b"efgh"[..]));
    // Same memory as the segment: no copy.
    assert_eq!(got[1].1.as_ptr(), seg[4..].as_ptr());
    // With checksums a mapping split over two segments is copied once.
    let a = pattern(6, 1);
    let mut rx = RxMapper::new(IRS, true);
    let c = dss_csum(7, 1, 6, &a);
    rx.handle_dss(IRS + 1, 3, &wire(7, true, 1, 6, Some(c)), false, DataSeq(0))
        .unwrap();
    let mut got = Vec::new();
    rx.handle_data_bytes(&Bytes::copy_from_slice(&a[..3]), |d, b| got.push((d.0, b)))
        .unwrap();
    rx.handle_data_bytes(&Bytes::copy_from_slice(&a[3..]), |d, b| got.push((d.0, b)))
        .unwrap();
    assert_eq!(got, [(7, Bytes::from(a))]);
}

#[test]
fn rx_32_bit_dsn_expanded_from_data_ack() {
    let mut rx = RxMapper::new(IRS, false);
    // The connection's DATA_ACK is just below 2^33; the low 32 bits 0x10 are past it.
    let ack = DataSeq(0x1_ffff_fff0);
    rx.handle_dss(IRS + 1, 4, &wire(0x10, false, 1, 4, None), false, ack)
        .unwrap();
    let (_, got) = feed(&mut rx, b"abcd");
    assert_eq!(got, [(0x2_0000_0010, b"abcd".to_vec())]);
}

#[test]
fn rx_mappings_out_of_order_and_back_to_back() {
    let mut rx = RxMapper::new(IRS, false);
    let a = pattern(50, 3);
    // The second mapping's segment arrives first.
    rx.handle_dss(
        IRS + 21,
        30,
        &wire(900, true, 21, 30, None),
        false,
        DataSeq(0),
    )
    .unwrap();
    rx.handle_dss(
        IRS + 1,
        20,
        &wire(100, true, 1, 20, None),
        false,
        DataSeq(0),
    )
    .unwrap();
    let (r, got) = feed(&mut rx, &a);
    assert_eq!(r, Ok(50));
    assert_eq!(got, [(100, a[..20].to_vec()), (900, a[20..].to_vec())]);
}

#[test]
fn rx_no_dss() {
    let mut rx = RxMapper::new(IRS, false);
    let (r, got) = feed(&mut rx, b"data");
    assert_eq!(r, Err(MappingError::NoDss));
    assert!(got.is_empty());
    assert_eq!(rx.stats().no_dss, 1);
    assert_eq!(rx.read_seq(), IRS + 1, "nothing consumed");
}

#[test]
fn rx_mapping_not_covering_its_segment() {
    let mut rx = RxMapper::new(IRS, false);
    // The segment [1, 11) carries a mapping for [5, 15): bytes 1..5 are unmapped.
    rx.handle_dss(
        IRS + 1,
        10,
        &wire(100, true, 5, 10, None),
        false,
        DataSeq(0),
    )
    .unwrap();
    let (r, _) = feed(&mut rx, &[0; 10]);
    assert_eq!(r, Err(MappingError::DssTcpMismatch));
    assert_eq!(rx.stats().dss_no_match_tcp, 1);
}

#[test]
fn rx_conflicting_mapping() {
    let mut rx = RxMapper::new(IRS, false);
    rx.handle_dss(
        IRS + 1,
        10,
        &wire(100, true, 1, 100, None),
        false,
        DataSeq(0),
    )
    .unwrap();
    feed(&mut rx, &[0; 10]).0.unwrap();
    // The same mapping again (a later segment) is fine.
    rx.handle_dss(
        IRS + 11,
        10,
        &wire(100, true, 1, 100, None),
        false,
        DataSeq(0),
    )
    .unwrap();
    // A different mapping on a segment wholly inside the current one: DSSNotMatching.
    assert_eq!(
        rx.handle_dss(
            IRS + 21,
            10,
            &wire(555, true, 21, 10, None),
            false,
            DataSeq(0)
        ),
        Err(MappingError::DssNoMatch)
    );
    assert_eq!(rx.stats().dss_not_matching, 1);
    // A new mapping on a segment reaching past the current one waits its turn.
    rx.handle_dss(
        IRS + 95,
        20,
        &wire(700, true, 101, 50, None),
        false,
        DataSeq(0),
    )
    .unwrap();
    let (r, got) = feed(&mut rx, &[1; 100]);
    assert_eq!(r, Ok(100));
    assert_eq!(got, [(110, vec![1; 90]), (700, vec![1; 10])]);
}

#[test]
fn rx_stale_mapping_of_consumed_data_is_ignored() {
    let mut rx = RxMapper::new(IRS, false);
    rx.handle_dss(
        IRS + 1,
        10,
        &wire(100, true, 1, 10, None),
        false,
        DataSeq(0),
    )
    .unwrap();
    feed(&mut rx, &[0; 10]).0.unwrap();
    // A retransmission with some other (bogus) mapping for the consumed bytes.
    assert_eq!(
        rx.handle_dss(IRS + 1, 10, &wire(7, true, 1, 10, None), false, DataSeq(0)),
        Ok(DssEvent::None)
    );
}

#[test]
fn rx_checksum_presence_must_match_negotiation() {
    let mut rx = RxMapper::new(IRS, true);
    assert_eq!(
        rx.handle_dss(IRS + 1, 5, &wire(1, true, 1, 5, None), false, DataSeq(0)),
        Err(MappingError::CsumMismatch)
    );
    let mut rx = RxMapper::new(IRS, false);
    assert_eq!(
        rx.handle_dss(IRS + 1, 5, &wire(1, true, 1, 5, Some(3)), false, DataSeq(0)),
        Err(MappingError::CsumMismatch)
    );
}

#[test]
fn rx_checksum_held_until_mapping_complete_then_verified() {
    let mut rx = RxMapper::new(IRS, true);
    let a = pattern(500, 4);
    let csum = dss_csum(77, 1, 500, &a);
    rx.handle_dss(
        IRS + 1,
        200,
        &wire(77, true, 1, 500, Some(csum)),
        false,
        DataSeq(0),
    )
    .unwrap();
    let (r, got) = feed(&mut rx, &a[..200]);
    assert_eq!(r, Ok(200));
    assert!(got.is_empty(), "not verified yet");
    assert!(!rx.valid_csum_seen());
    let (r, got) = feed(&mut rx, &a[200..]);
    assert_eq!(r, Ok(300));
    assert_eq!(got, [(77, a.clone())]);
    assert!(rx.valid_csum_seen());
}

#[test]
fn rx_bad_checksum() {
    let mut rx = RxMapper::new(IRS, true);
    let mut a = pattern(64, 5);
    let csum = dss_csum(300, 1, 64, &a);
    a[33] ^= 0x40;
    rx.handle_dss(
        IRS + 1,
        64,
        &wire(300, true, 1, 64, Some(csum)),
        false,
        DataSeq(0),
    )
    .unwrap();
    let (r, got) = feed(&mut rx, &a);
    assert_eq!(r, Err(MappingError::BadChecksum { dsn: DataSeq(300) }));
    assert!(got.is_empty(), "corrupt data never reaches the data level");
    assert_eq!(rx.stats().data_csum_err, 1);
}

#[test]
fn failure_actions_follow_linux() {
    let bad = MappingError::BadChecksum { dsn: DataSeq(9) };
    // First subflow, checksum worked before, can still fall back: MP_FAIL.
    assert_eq!(
        bad.action(true, false, true),
        FailAction::MpFail { dsn: DataSeq(9) }
    );
    // Cannot fall back (more subflows): reset with MP_FAIL, middlebox interference.
    assert_eq!(
        bad.action(false, false, true),
        FailAction::Reset {
            reason: tcprst::MIDDLEBOX_INTERFERENCE,
            mp_fail: Some(DataSeq(9))
        }
    );
    // A join subflow with a bad checksum is reset.
    assert!(matches!(
        bad.action(true, true, false),
        FailAction::Reset {
            mp_fail: Some(_),
            ..
        }
    ));
    // Never a valid checksum on the first subflow: plain fallback when allowed.
    assert_eq!(bad.action(true, false, false), FailAction::Fallback);
    assert_eq!(
        MappingError::NoDss.action(true, false, false),
        FailAction::Fallback
    );
    assert_eq!(
        MappingError::NoDss.action(false, true, false),
        FailAction::Reset {
            reason: tcprst::MIDDLEBOX_INTERFERENCE,
            mp_fail: None
        }
    );
    for e in [
        MappingError::DssNoMatch,
        MappingError::DssTcpMismatch,
        MappingError::CsumMismatch,
    ] {
        assert_eq!(
            e.action(false, false, true),
            FailAction::Reset {
                reason: tcprst::MPTCP_ERROR,
                mp_fail: None
            }
        );
    }
}

#[test]
fn rx_infinite_mapping() {
    let mut rx = RxMapper::new(IRS, false);
    rx.handle_dss(
        IRS + 1,
        10,
        &wire(100, true, 1, 10, None),
        false,
        DataSeq(0),
    )
    .unwrap();
    feed(&mut rx, &[0; 4]).0.unwrap();
    // The infinite mapping starts after the current one.
    assert_eq!(
        rx.handle_dss(
            IRS + 11,
            5,
            &wire(110, true, 11, 0, None),
            false,
            DataSeq(0)
        ),
        Ok(DssEvent::InfiniteMapping)
    );
    assert!(rx.is_fallback());
    assert_eq!(rx.stats().infinite_map_rx, 1);
    // Later mappings mean nothing.
    rx.handle_dss(IRS + 16, 5, &wire(1, true, 16, 5, None), false, DataSeq(0))
        .unwrap();
    let (r, got) = feed(&mut rx, &[1; 16]);
    assert_eq!(r, Ok(16));
    assert_eq!(got, [(104, vec![1; 6]), (110, vec![1; 10])]);
}

#[test]
fn rx_fallback_maps_one_to_one() {
    let mut rx = RxMapper::new(IRS, false);
    assert_eq!(feed(&mut rx, b"xy").0, Err(MappingError::NoDss));
    rx.enter_fallback(DataSeq(4242));
    let (r, got) = feed(&mut rx, b"xyz");
    assert_eq!(r, Ok(3));
    assert_eq!(got, [(4242, b"xyz".to_vec())]);
    let (_, got) = feed(&mut rx, b"w");
    assert_eq!(got, [(4245, b"w".to_vec())]);
}

#[test]
fn rx_data_fin() {
    let mut rx = RxMapper::new(IRS, true);
    // DATA_FIN alone: data-level length 1, subflow sequence 0.
    let only = TxMappings::data_fin_only(DataSeq(5000), true);
    assert_eq!(
        rx.handle_dss(IRS + 1, 0, &only, true, DataSeq(0)),
        Ok(DssEvent::DataFin(DataSeq(5000)))
    );
    // DATA_FIN with 10 bytes: dll 11, the DATA_FIN at dsn + 10, and the checksum
    // (computed with dll 11) verifies.
    let iss = SubflowSeq(0);
    let mut tx = TxMappings::new(iss, true);
    let a = pattern(10, 6);
    tx.push(iss + 1, DataSeq(4990), [&a[..]], true).unwrap();
    let m = tx.lookup(iss + 1).unwrap();
    let mut rx = RxMapper::new(iss, true);
    assert_eq!(
        rx.handle_dss(iss + 1, 10, &m, true, DataSeq(0)),
        Ok(DssEvent::DataFin(DataSeq(5000)))
    );
    let (r, got) = feed(&mut rx, &a);
    assert_eq!(r, Ok(10));
    assert_eq!(got, [(4990, a)]);
}

proptest! {
    /// Sender side to receiver side: a stream cut into mappings of random sizes and
    /// random DSNs (as a scheduler scatters data over subflows), segments cut at random
    /// points within mappings, DSS on every segment (Linux's way), 32- or 64-bit DSNs
    /// on the wire; the receiver emits exactly the mapped bytes at their DSNs.
    #[test]
    fn tx_to_rx_round_trip(
        maps in proptest::collection::vec((1usize..3000, 0u64..1 << 18), 1..12),
        cuts in proptest::collection::vec(1usize..1500, 1..40),
        reads in proptest::collection::vec(1usize..2000, 1..40),
        csum in any::<bool>(),
        narrow in any::<bool>(),
        iss in any::<u32>(),
        dsn_base in any::<u64>(),
    ) {
        let iss = SubflowSeq(iss);
        let dsn_base = dsn_base >> 2;
        let mut tx = TxMappings::new(iss, csum);
        let total: usize = maps.iter().map(|m| m.0).sum();
        let data = pattern(total, 11);
        let mut want = Vec::new();
        let mut at = 0;
        for (len, dsn_off) in &maps {
            let dsn = DataSeq(dsn_base + dsn_off * 4096);
            tx.push(iss + 1 + at, dsn, [&data[at..at + len]], false).unwrap();
            want.push((dsn.0, data[at..at + len].to_vec()));
            at += len;
        }
        // Segments, each within one mapping.
        let mut rx = RxMapper::new(iss, csum);
        let mut seq = 0usize;
        let mut k = 0;
        while seq < total {
            let room = tx.room(iss + 1 + seq);
            let n = cuts[k % cuts.len()].min(room);
            k += 1;
            let mut m = tx.lookup(iss + 1 + seq).unwrap();
            if narrow {
                m.dsn = DssSeq { value: m.dsn.value & 0xffff_ffff, wide: false };
            }
            // The receiver's DATA_ACK is near the stream (within 2^31 of every DSN).
            rx.handle_dss(iss + 1 + seq, n, &m, false, DataSeq(dsn_base)).unwrap();
            seq += n;
        }
        let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut pos = 0;
        let mut r = 0;
        while pos < total {
            let n = reads[r % reads.len()].min(total - pos);
            r += 1;
            let res = rx.handle_data(&data[pos..pos + n], |d, b| {
                // Merge contiguous pieces to compare with whole mappings.
                match got.last_mut() {
                    Some((s, v)) if *s + v.len() as u64 == d.0 && v.len() < usize::MAX => {
                        v.extend_from_slice(b)
                    }
                    _ => got.push((d.0, b.to_vec())),
                }
            });
            prop_assert_eq!(res, Ok(n));
            pos += n;
        }
        // Adjacent mappings with adjacent DSNs merge in `got`; merge `want` the same way.
        let mut merged: Vec<(u64, Vec<u8>)> = Vec::new();
        for (d, v) in want {
            match merged.last_mut() {
                Some((s, w)) if *s + w.len() as u64 == d => w.extend_from_slice(&v),
                _ => merged.push((d, v)),
            }
        }
        prop_assert_eq!(got, merged);
        if csum {
            prop_assert!(rx.valid_csum_seen());
        }
    }
}

#[test]
fn rx_pending_table_is_bounded() {
    let mut rx = RxMapper::with_max_pending(IRS, false, 2);
    for k in 0..3u32 {
        let ssn = 11 + k * 10;
        rx.handle_dss(
            IRS + ssn as usize,
            10,
            &wire(u64::from(ssn), true, ssn, 10, None),
            false,
            DataSeq(0),
        )
        .unwrap();
    }
    assert_eq!(
        rx.stats().pending_overflow,
        1,
        "the farthest (31..41) is dropped"
    );
    rx.handle_dss(IRS + 1, 10, &wire(1, true, 1, 10, None), false, DataSeq(0))
        .unwrap();
    assert_eq!(
        rx.stats().pending_overflow,
        2,
        "21..31 gives way to the nearer 1..11"
    );
    let (r, got) = feed(&mut rx, &[5; 30]);
    assert_eq!(got, [(1, vec![5; 10]), (11, vec![5; 10])]);
    assert_eq!(
        r,
        Err(MappingError::NoDss),
        "the peer must repeat the dropped DSS"
    );
    assert_eq!(rx.read_seq(), IRS + 21);
}

#[derive(Debug, Clone)]
enum Op {
    Dss {
        seg_off: u32,
        seg_len: u16,
        dsn: u64,
        wide: bool,
        ssn: u32,
        dll: u16,
        csum: Option<u16>,
        fin: bool,
    },
    Data(u16),
    Fallback(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0u32..4000,
            0u16..3000,
            any::<u64>(),
            any::<bool>(),
            prop_oneof![0u32..4000, any::<u32>()],
            any::<u16>(),
            proptest::option::of(any::<u16>()),
            any::<bool>()
        )
            .prop_map(
                |(seg_off, seg_len, dsn, wide, ssn, dll, csum, fin)| Op::Dss {
                    seg_off,
                    seg_len,
                    dsn,
                    wide,
                    ssn,
                    dll,
                    csum,
                    fin
                }
            ),
        (0u16..3000).prop_map(Op::Data),
        any::<u64>().prop_map(Op::Fallback),
    ]
}

proptest! {
    /// Arbitrary DSS options (as a peer or middlebox may send) and data never panic,
    /// every emitted byte is input data, and the read point moves by what was consumed.
    #[test]
    fn rx_never_panics(ops in proptest::collection::vec(op(), 1..60), csum in any::<bool>(), irs in any::<u32>()) {
        let irs = SubflowSeq(irs);
        let mut rx = RxMapper::with_max_pending(irs, csum, 8);
        let data = pattern(3000, 1);
        for op in ops {
            match op {
                Op::Dss { seg_off, seg_len, dsn, wide, ssn, dll, csum, fin } => {
                    let m = wire(dsn, wide, ssn, dll, csum);
                    let _ = rx.handle_dss(rx.read_seq() + seg_off as usize, usize::from(seg_len), &m, fin, DataSeq(dsn ^ 0x5555));
                }
                Op::Data(n) => {
                    let before = rx.read_seq();
                    let mut emitted = 0usize;
                    let r = rx.handle_data(&data[..usize::from(n)], |_, b| emitted += b.len());
                    let moved = rx.read_seq() - before;
                    prop_assert!(emitted <= moved || csum, "emitted {} moved {}", emitted, moved);
                    if let Ok(k) = r {
                        prop_assert_eq!(k, usize::from(n));
                        prop_assert_eq!(moved, usize::from(n));
                    }
                }
                Op::Fallback(d) => rx.enter_fallback(DataSeq(d)),
            }
        }
    }
}

#[test]
fn a_failed_mapping_payload_can_be_taken_once() {
    let irs = SubflowSeq(1000);
    let mut tx = TxMappings::new(SubflowSeq(5), true);
    let payload = vec![7u8; 300];
    let m = tx
        .push(SubflowSeq(6), DataSeq(100), [&payload[..]], false)
        .unwrap();
    let mut map = m.to_wire(SubflowSeq(5));
    let mut rx = RxMapper::new(irs, true);
    map.ssn = 1;
    rx.handle_dss(irs + 1, 300, &map, false, DataSeq(100))
        .unwrap();
    let mut bad = payload.clone();
    bad[17] ^= 1;
    let r = rx.handle_data(&bad, |_, _| panic!("nothing verified"));
    assert_eq!(r, Err(MappingError::BadChecksum { dsn: DataSeq(100) }));
    assert_eq!(rx.take_failed(), Some((DataSeq(100), bad)));
    assert_eq!(rx.take_failed(), None);
}

#[test]
fn held_bytes_of_a_partial_checksummed_mapping_can_be_taken() {
    let irs = SubflowSeq(1000);
    let mut tx = TxMappings::new(SubflowSeq(5), true);
    let payload = vec![9u8; 500];
    let m = tx
        .push(SubflowSeq(6), DataSeq(100), [&payload[..]], false)
        .unwrap();
    let mut map = m.to_wire(SubflowSeq(5));
    map.ssn = 1;
    let mut rx = RxMapper::new(irs, true);
    assert_eq!(rx.take_held(), None);
    rx.handle_dss(irs + 1, 200, &map, false, DataSeq(100))
        .unwrap();
    rx.handle_data(&payload[..200], |_, _| panic!("not complete"))
        .unwrap();
    assert_eq!(
        rx.take_held(),
        Some((DataSeq(100), payload[..200].to_vec()))
    );
    assert_eq!(rx.take_held(), None);
}
