use super::*;
use proptest::prelude::*;

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

#[test]
fn append_read_release() {
    let mut b = SendBuf::new(DataSeq(100), 1000);
    let data = pattern(700, 1);
    assert_eq!(b.append(Bytes::copy_from_slice(&data[..300])), 300);
    assert_eq!(b.append_slice(&data[300..]), 400);
    assert_eq!(b.write_seq(), DataSeq(800));
    assert_eq!(b.free_space(), 300);
    // A read across the chunk boundary yields two zero-copy slices.
    let pieces: Vec<Bytes> = b.read(DataSeq(150), 100).collect();
    assert_eq!(pieces.len(), 1);
    let pieces: Vec<Bytes> = b.read(DataSeq(250), 200).collect();
    assert_eq!(pieces.iter().map(Bytes::len).collect::<Vec<_>>(), [150, 50]);
    let joined: Vec<u8> = pieces.concat();
    assert_eq!(joined, &data[150..350]);
    // peek stops at the chunk end.
    assert_eq!(b.peek(DataSeq(390), 1000).unwrap().len(), 10);
    assert_eq!(b.peek(DataSeq(800), 10), None, "not appended");
    assert_eq!(b.peek(DataSeq(99), 10), None, "before the buffer");

    assert_eq!(b.release(DataSeq(250)), 150);
    assert_eq!(b.head(), DataSeq(250));
    assert_eq!(b.peek(DataSeq(249), 1), None, "released");
    assert_eq!(&b.peek(DataSeq(250), 5).unwrap()[..], &data[150..155]);
    assert_eq!(b.free_space(), 450);
    assert_eq!(b.release(DataSeq(200)), 0, "old ack");
    // An ACK covering the DATA_FIN's DSN releases everything and no more.
    assert_eq!(b.release(DataSeq(801)), 550);
    assert!(b.is_empty());
}

#[test]
fn slices_stay_valid_after_release() {
    // A subflow on another core may hold a slice while the data is acked.
    let mut b = SendBuf::new(DataSeq(0), 100);
    b.append_slice(b"hello world");
    let held = b.peek(DataSeq(6), 5).unwrap();
    b.release(DataSeq(11));
    assert_eq!(&held[..], b"world");
}

#[test]
fn append_stops_at_capacity() {
    let mut b = SendBuf::new(DataSeq(0), 10);
    assert_eq!(b.append_slice(&[1; 8]), 8);
    assert_eq!(b.append(Bytes::from_static(&[2; 8])), 2);
    assert_eq!(b.append_slice(&[3]), 0);
    let mut out = [0u8; 10];
    assert_eq!(b.copy_to(DataSeq(0), &mut out), 10);
    assert_eq!(out, [1, 1, 1, 1, 1, 1, 1, 1, 2, 2]);
}

#[test]
fn sent_ranges_merge_per_subflow_and_trim_on_ack() {
    let mut b = SendBuf::new(DataSeq(0), 10_000);
    b.append_slice(&[0; 5000]);
    b.record_sent(0, DataSeq(0), 1000);
    b.record_sent(0, DataSeq(1000), 1000); // merged
    b.record_sent(1, DataSeq(2000), 1000);
    b.record_sent(0, DataSeq(3000), 500);
    assert_eq!(b.sent_ranges().count(), 3);
    assert_eq!(b.outstanding_on(0), 2500);
    assert_eq!(b.outstanding_on(1), 1000);
    b.release(DataSeq(1500));
    assert_eq!(b.outstanding_on(0), 1000);
    b.release(DataSeq(2500));
    assert_eq!(b.outstanding_on(0), 500);
    assert_eq!(b.outstanding_on(1), 500);
}

#[test]
fn reinjection_of_a_failed_subflow() {
    let mut b = SendBuf::new(DataSeq(1000), 100_000);
    b.append_slice(&pattern(6000, 7));
    // Interleaved sends on subflows 0 and 1.
    for k in 0..6u64 {
        b.record_sent((k % 2) as u8, DataSeq(1000 + k * 1000), 1000);
    }
    b.release(DataSeq(1500));
    // Subflow 1 fails: its three ranges (none acked) are queued once.
    assert_eq!(b.reinject_subflow(1), 3000);
    assert_eq!(b.reinject_subflow(1), 0, "not queued twice");
    assert_eq!(b.reinject_queued(), 3000);
    // The peer acks up to 3500 meanwhile (it got subflow 1's first range after all).
    b.release(DataSeq(3500));
    assert_eq!(b.reinject_queued(), 2000);
    let mut got = Vec::new();
    while let Some(r) = b.poll_reinject(700) {
        assert_eq!(r.from, 1);
        // Resend on subflow 0 under the original DSNs.
        let bytes: Vec<u8> = b.read(r.dsn, r.len as usize).collect::<Vec<_>>().concat();
        assert_eq!(bytes.len() as u64, r.len);
        b.record_sent(0, r.dsn, r.len);
        got.push((r.dsn.0, r.len));
    }
    assert_eq!(got, [(4000, 700), (4700, 300), (6000, 700), (6700, 300)]);
    assert_eq!(b.stats().reinjections, 3);
    // The reinjected data now counts as outstanding on subflow 0 too.
    // [3500, 4000) and [5000, 6000) first sent there, plus the 2000 reinjected bytes.
    assert_eq!(b.outstanding_on(0), 500 + 1000 + 2000);
}

#[test]
fn reinject_range_is_clamped_to_held_data() {
    let mut b = SendBuf::new(DataSeq(0), 1000);
    b.append_slice(&[0; 100]);
    b.release(DataSeq(20));
    assert_eq!(b.reinject_range(DataSeq(0), 50), 30);
    assert_eq!(b.reinject_range(DataSeq(90), 50), 10);
    assert_eq!(b.reinject_range(DataSeq(100), 50), 0);
    let r = b.poll_reinject(1000).unwrap();
    assert_eq!((r.dsn, r.len, r.from), (DataSeq(20), 30, u8::MAX));
}

#[test]
fn stale_detection_like_linux() {
    let mut d = StaleDetector::new(4);
    let active = 0b11;
    for _ in 0..4 {
        d.on_rto(0);
        assert!(!d.check(0, active, true), "not beyond the threshold yet");
    }
    d.on_rto(0);
    assert!(!d.check(0, active, false), "nothing outstanding: not stale");
    // Subflow 1 is also in trouble (3 RTOs >= max(4-1,1)): no alternative.
    for _ in 0..3 {
        d.on_rto(1);
    }
    assert!(!d.check(0, active, true));
    d.on_progress(1);
    assert!(d.check(0, active, true), "stale once another subflow works");
    assert!(d.is_stale(0));
    assert!(!d.check(0, active, true), "reported once");
    // Subflow 1 only counts when active.
    let mut d2 = StaleDetector::new(4);
    for _ in 0..5 {
        d2.on_rto(0);
    }
    assert!(!d2.check(0, 0b01, true));
    // Progress clears the mark.
    assert!(d.on_progress(0));
    assert!(!d.is_stale(0));
    assert_eq!(d.count(0), 0);
    // 0 disables it.
    let mut off = StaleDetector::new(0);
    for _ in 0..50 {
        off.on_rto(0);
    }
    assert!(!off.check(0, 0b11, true));
}

#[test]
fn stale_check_from_shared_snapshots() {
    use crate::mptcp::shared::{sf_flags, SharedData, SubflowSnapshot};
    let sh = SharedData::new(DataSeq(0), DataSeq(0), 0);
    let a = sh.alloc_slot().unwrap();
    let b = sh.alloc_slot().unwrap();
    let snap = |flags, stale_count| SubflowSnapshot {
        flags,
        stale_count,
        ..Default::default()
    };
    sh.publish(a, &snap(sf_flags::ACTIVE, 5));
    sh.publish(b, &snap(sf_flags::ACTIVE, 3));
    assert!(
        !should_mark_stale(a, 5, 4, true, &sh),
        "b is in trouble too"
    );
    sh.publish(b, &snap(sf_flags::ACTIVE, 0));
    assert!(should_mark_stale(a, 5, 4, true, &sh));
    assert!(
        !should_mark_stale(a, 4, 4, true, &sh),
        "not beyond the threshold"
    );
    assert!(
        !should_mark_stale(a, 5, 4, false, &sh),
        "nothing outstanding"
    );
    assert!(!should_mark_stale(a, 5, 0, true, &sh), "disabled");
    sh.publish(b, &snap(0, 0));
    assert!(!should_mark_stale(a, 5, 4, true, &sh), "b not active");
    sh.publish(b, &snap(sf_flags::ACTIVE, 0));
    sh.publish(a, &snap(sf_flags::ACTIVE | sf_flags::STALE, 5));
    assert!(!should_mark_stale(a, 6, 4, true, &sh), "already stale");
}

proptest! {
    /// Whatever the chunking and the read/release points, reads return exactly the
    /// appended bytes at their DSNs.
    #[test]
    fn reads_match_appended_bytes(
        chunks in proptest::collection::vec(1usize..300, 1..20),
        ops in proptest::collection::vec((any::<u16>(), 0usize..700, any::<bool>()), 1..40),
    ) {
        let start = 1u64 << 40;
        let total: usize = chunks.iter().sum();
        let data = pattern(total, 3);
        let mut b = SendBuf::new(DataSeq(start), total);
        let mut at = 0;
        for c in &chunks {
            prop_assert_eq!(b.append(Bytes::copy_from_slice(&data[at..at + c])), *c);
            at += c;
        }
        for (off, len, release) in ops {
            let off = u64::from(off) % (total as u64 + 1);
            if release {
                b.release(DataSeq(start + off));
            } else {
                let got: Vec<u8> = b.read(DataSeq(start + off), len).collect::<Vec<_>>().concat();
                let lo = off.max(b.head().0 - start) as usize;
                let hi = ((off as usize) + len).min(total);
                let want = if lo < hi { &data[lo..hi] } else { &[][..] };
                prop_assert_eq!(&got[..], want);
            }
        }
    }
}
