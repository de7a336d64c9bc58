use super::*;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread;

fn conn() -> SharedData {
    SharedData::new(DataSeq(1000), DataSeq(5000), 65_536)
}

/// Sorts claimed ranges and checks they tile `[start, end)` exactly: no overlap, no gap.
fn assert_tiles(mut ranges: Vec<(u64, u64)>, start: u64, end: u64) {
    ranges.sort_unstable();
    let mut at = start;
    for (s, n) in ranges {
        assert_eq!(s, at, "claims overlap or leave a gap at {at}");
        assert!(n > 0);
        at = s + n;
    }
    assert_eq!(at, end);
}

#[test]
fn fetch_add_claims_never_overlap_across_threads() {
    let sh = Arc::new(conn());
    let per = 5_000;
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let sh = sh.clone();
            thread::spawn(move || {
                (0..per)
                    .map(|i| {
                        let len = 1 + (i * 7 + t * 13) % 1460;
                        (sh.claim(len).0, len)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<(u64, u64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let total: u64 = all.iter().map(|r| r.1).sum();
    assert_eq!(sh.snd_nxt(), DataSeq(1000 + total));
    assert_tiles(all, 1000, 1000 + total);
}

#[test]
fn windowed_claims_never_overlap_and_respect_limits() {
    let sh = Arc::new(conn());
    // Data and window grow in steps while four subflows claim.
    sh.handle_data_ack(DataSeq(1000), 0);
    let stop = Arc::new(AtomicBool::new(false));
    let claimers: Vec<_> = (0..3u64)
        .map(|t| {
            let sh = sh.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while !stop.load(Ordering::Acquire) || sh.sendable() > 0 {
                    if let Some((s, n)) = sh.claim_within(100 + t * 300) {
                        // Never beyond the data or the window known after the claim.
                        assert!(s.0 + n <= sh.write_seq().0);
                        assert!(s.0 + n <= sh.snd_wnd_end().0);
                        got.push((s.0, n));
                    } else {
                        thread::yield_now();
                    }
                }
                got
            })
        })
        .collect();
    let end = 1000 + 200_000;
    for k in 1..=200u64 {
        sh.publish_write_seq(DataSeq(1000 + k * 1000));
        // The peer acknowledges what was claimed and opens 4 KB beyond it.
        let una = sh.snd_nxt();
        sh.handle_data_ack(una, 4096);
    }
    // Let the window cover everything so claimers can finish.
    sh.handle_data_ack(sh.snd_nxt(), 1 << 30);
    stop.store(true, Ordering::Release);
    let all: Vec<_> = claimers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(sh.snd_nxt(), DataSeq(end));
    assert_tiles(all, 1000, end);
}

#[test]
fn claim_within_stops_at_window_and_data() {
    let sh = conn();
    assert_eq!(sh.claim_within(100), None, "no window, no data");
    sh.publish_write_seq(DataSeq(1500));
    assert_eq!(sh.claim_within(100), None, "no window yet");
    sh.handle_data_ack(DataSeq(1000), 300);
    assert_eq!(sh.claim_within(1000), Some((DataSeq(1000), 300)));
    assert_eq!(sh.claim_within(1000), None);
    sh.handle_data_ack(DataSeq(1300), 10_000);
    assert_eq!(sh.claim_within(1000), Some((DataSeq(1300), 200)));
    assert_eq!(sh.sendable(), 0);
}

#[test]
fn edges_never_move_backwards_under_concurrent_acks() {
    let sh = Arc::new(conn());
    sh.claim(1 << 40);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3u64)
        .map(|t| {
            let sh = sh.clone();
            thread::spawn(move || {
                // Each writer replays acks in a scrambled order, like reordered DSS
                // options arriving on different subflows.
                let mut x = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(t + 1);
                for _ in 0..20_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let ack = 1000 + x % 1_000_000;
                    let wnd = (x >> 32) % 65_536;
                    let up = sh.handle_data_ack(DataSeq(ack), wnd);
                    assert!(up.snd_una.0 >= ack);
                    assert!(up.snd_wnd_end.0 >= ack + wnd);
                    sh.publish_ack(DataSeq(5000 + ack));
                    sh.publish_rcv_wnd_end(DataSeq(5000 + ack + wnd));
                }
            })
        })
        .collect();
    let reader = {
        let sh = sh.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            let (mut una, mut edge, mut ack, mut redge) = (0, 0, 0, 0);
            let mut reads = 0u64;
            loop {
                let done = stop.load(Ordering::Acquire);
                let (u, e, a, r) = (
                    sh.snd_una().0,
                    sh.snd_wnd_end().0,
                    sh.ack_seq().0,
                    sh.rcv_wnd_end().0,
                );
                assert!(u >= una && e >= edge && a >= ack && r >= redge);
                (una, edge, ack, redge) = (u, e, a, r);
                reads += 1;
                if done {
                    break;
                }
            }
            reads
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn ack_of_unsent_data_does_not_move_snd_una() {
    let sh = conn();
    sh.publish_write_seq(DataSeq(2000));
    sh.handle_data_ack(DataSeq(1000), 5000);
    sh.claim_within(500).unwrap();
    let up = sh.handle_data_ack(DataSeq(1900), 100);
    assert_eq!(up.snd_una, DataSeq(1000));
    assert!(!up.advanced);
    let up = sh.handle_data_ack(DataSeq(1500), 100);
    assert_eq!(up.snd_una, DataSeq(1500));
    assert!(up.advanced);
    // The window edge never shrinks, even though 1500 + 100 < 6000.
    assert_eq!(up.snd_wnd_end, DataSeq(6000));
    let up = sh.handle_data_ack(DataSeq(1200), 0);
    assert_eq!(up.snd_una, DataSeq(1500));
    assert!(!up.advanced);
}

#[test]
fn data_fin_takes_one_dsn_after_the_data() {
    let sh = conn();
    sh.publish_write_seq(DataSeq(1100));
    sh.handle_data_ack(DataSeq(1000), 1 << 20);
    assert_eq!(sh.claim_data_fin(), None, "not queued");
    assert_eq!(sh.queue_data_fin(), DataSeq(1100));
    assert_eq!(sh.queue_data_fin(), DataSeq(1100), "idempotent");
    assert_eq!(sh.claim_data_fin(), None, "data not all claimed yet");
    assert_eq!(sh.claim_within(1000), Some((DataSeq(1000), 100)));
    // No data is claimable past the DATA_FIN.
    assert_eq!(sh.claim_within(1000), None);
    assert_eq!(sh.claim_data_fin(), Some(DataSeq(1100)));
    assert_eq!(sh.claim_data_fin(), None, "claimed once");
    assert_eq!(sh.snd_nxt(), DataSeq(1101));
    // The DATA_ACK of the DATA_FIN is fin + 1.
    sh.handle_data_ack(DataSeq(1100), 0);
    assert_eq!(sh.flags() & conn_flags::SND_DATA_FIN_ACKED, 0);
    sh.handle_data_ack(DataSeq(1101), 0);
    assert_ne!(sh.flags() & conn_flags::SND_DATA_FIN_ACKED, 0);
    assert_eq!(sh.snd_una(), DataSeq(1101));
}

#[test]
fn data_fin_claimed_by_exactly_one_thread() {
    for _ in 0..20 {
        let sh = Arc::new(conn());
        sh.publish_write_seq(DataSeq(1010));
        sh.handle_data_ack(DataSeq(1000), 1 << 20);
        sh.claim_within(10).unwrap();
        sh.queue_data_fin();
        let wins: usize = (0..4)
            .map(|_| {
                let sh = sh.clone();
                thread::spawn(move || sh.claim_data_fin().is_some() as usize)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(wins, 1);
    }
}

#[test]
fn first_received_data_fin_wins() {
    let sh = conn();
    assert_eq!(sh.rcv_data_fin_seq(), None);
    assert!(sh.handle_rcv_data_fin(DataSeq(9000)));
    assert!(!sh.handle_rcv_data_fin(DataSeq(9500)));
    assert_eq!(sh.rcv_data_fin_seq(), Some(DataSeq(9000)));
}

#[test]
fn slots_alloc_and_free() {
    let sh = conn();
    let got: Vec<_> = (0..MAX_SUBFLOWS)
        .map(|_| sh.alloc_slot().unwrap())
        .collect();
    assert_eq!(got, (0..MAX_SUBFLOWS).collect::<Vec<_>>());
    assert_eq!(sh.alloc_slot(), None);
    sh.publish(
        3,
        &SubflowSnapshot {
            flags: sf_flags::ACTIVE,
            cwnd: 10,
            ..Default::default()
        },
    );
    sh.free_slot(3);
    assert_eq!(
        sh.snapshot(3),
        SubflowSnapshot::default(),
        "cleared on free"
    );
    assert_eq!(sh.alloc_slot(), Some(3));
    assert_eq!(sh.slots_used(), 0xff);
}

#[test]
fn slot_alloc_is_exclusive_across_threads() {
    let sh = Arc::new(conn());
    let mut got: Vec<usize> = (0..12)
        .map(|_| {
            let sh = sh.clone();
            thread::spawn(move || sh.alloc_slot())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .filter_map(|h| h.join().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..MAX_SUBFLOWS).collect::<Vec<_>>());
}

#[test]
fn snapshot_round_trips_every_field() {
    let sh = conn();
    let s = SubflowSnapshot {
        id: 200,
        flags: sf_flags::BACKUP | sf_flags::STALE,
        srtt_us: 0xdead_beef,
        rttvar_us: 0x1234_5678,
        cwnd: u32::MAX,
        in_flight: 7,
        queued: 0x8000_0001,
        mss: 0xffff,
        stale_count: 255,
        pacing_rate: u64::MAX - 1,
    };
    sh.publish(5, &s);
    assert_eq!(sh.snapshot(5), s);
    assert_eq!(sh.snapshot(99), SubflowSnapshot::default());
}

#[test]
fn snapshots_are_never_torn() {
    // The writer publishes snapshots whose fields are all derived from one counter; a
    // reader must always see one consistent generation.
    let sh = Arc::new(conn());
    let slot = sh.alloc_slot().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let gen = |k: u32| SubflowSnapshot {
        id: k as u8,
        flags: k & 0xf,
        srtt_us: k,
        rttvar_us: k ^ 0xffff_ffff,
        cwnd: k.wrapping_mul(3),
        in_flight: k.wrapping_mul(5),
        queued: k.wrapping_mul(7),
        mss: k as u16,
        stale_count: (k >> 8) as u8,
        pacing_rate: u64::from(k) << 20,
    };
    // Readers start after the first generation is visible.
    sh.publish(slot, &gen(1));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let sh = sh.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut last = 0;
                while !stop.load(Ordering::Acquire) {
                    let s = sh.snapshot(slot);
                    let k = s.srtt_us;
                    assert_eq!(s, gen(k), "torn snapshot");
                    assert!(k >= last, "went back in time");
                    last = k;
                }
            })
        })
        .collect();
    for k in 2..200_000u32 {
        sh.publish(slot, &gen(k));
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(sh.snapshot(slot), gen(199_999));
}

#[test]
fn snapshots_lists_used_slots_only() {
    let sh = conn();
    let a = sh.alloc_slot().unwrap();
    let b = sh.alloc_slot().unwrap();
    sh.free_slot(a);
    sh.publish(
        b,
        &SubflowSnapshot {
            id: 9,
            ..Default::default()
        },
    );
    let mut out = [SubflowSnapshot::default(); MAX_SUBFLOWS];
    let mut slot_of = [0u8; MAX_SUBFLOWS];
    assert_eq!(sh.snapshots(&mut out, &mut slot_of), 1);
    assert_eq!(out[0].id, 9);
    assert_eq!(slot_of[0] as usize, b);
}

#[test]
fn receive_window_edge_is_monotonic() {
    let sh = conn();
    assert_eq!(sh.rcv_wnd(), 65_536);
    assert_eq!(
        sh.publish_rcv_wnd_end(DataSeq(5000 + 1000)),
        DataSeq(5000 + 65_536)
    );
    sh.publish_ack(DataSeq(6000));
    sh.publish_ack(DataSeq(5500));
    assert_eq!(sh.ack_seq(), DataSeq(6000));
    assert_eq!(sh.rcv_wnd(), 65_536 - 1000);
}
