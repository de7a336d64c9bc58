use super::*;
use proptest::prelude::*;

fn s(n: u32) -> SubflowSeq {
    SubflowSeq(n)
}

fn b(l: u32, r: u32) -> SackBlock {
    SackBlock::new(s(l), s(r))
}

/// SMSS 100, DupThresh 3, SND.UNA 0.
fn board() -> Scoreboard {
    Scoreboard::new(s(0), 100, 3)
}

#[test]
fn sack_block_and_list_basics() {
    assert_eq!(b(10, 30).len(), 20);
    assert_eq!(b(30, 10).len(), 0);
    assert!(b(30, 30).is_empty());
    assert!(b(0, 100).contains(&b(10, 20)));
    assert!(!b(0, 100).contains(&b(90, 120)));
    assert_eq!(b(u32::MAX - 9, 10).len(), 20);
    let mut l = SackList::new();
    assert!(l.is_empty());
    for i in 0..4 {
        assert!(l.push(b(i, i + 1)));
    }
    assert!(!l.push(b(9, 10)));
    assert_eq!(l.len(), 4);
    assert_eq!(l[3], b(3, 4));
}

#[test]
fn update_merges_and_counts_new_bytes() {
    let mut sb = board();
    let r = sb.update(s(0), &[b(200, 300)], s(1000));
    assert_eq!(r.newly_sacked, 100);
    assert!(r.dup_ack);
    let r = sb.update(s(0), &[b(400, 500), b(200, 300)], s(1000));
    assert_eq!(r.newly_sacked, 100);
    // Bridging block merges all three.
    let r = sb.update(s(0), &[b(250, 450)], s(1000));
    assert_eq!(r.newly_sacked, 100);
    assert_eq!(sb.ranges(), &[b(200, 500)]);
    assert_eq!(sb.sacked_bytes(), 300);
    // Adjacent blocks merge too.
    sb.update(s(0), &[b(500, 600)], s(1000));
    assert_eq!(sb.ranges(), &[b(200, 600)]);
    // A repeated block is not new and not a duplicate ACK.
    let r = sb.update(s(0), &[b(200, 600)], s(1000));
    assert_eq!(r.newly_sacked, 0);
    assert!(!r.dup_ack);
    assert!(sb.is_sacked(s(300), 100));
    assert!(!sb.is_sacked(s(100), 150));
    assert_eq!(sb.high_sacked(), Some(s(600)));
}

#[test]
fn cumulative_ack_trims_ranges_and_resets_dupacks() {
    let mut sb = board();
    sb.update(s(0), &[b(200, 300)], s(1000));
    sb.update(s(0), &[b(400, 500)], s(1000));
    assert_eq!(sb.dup_acks(), 2);
    let r = sb.update(s(250), &[b(400, 500)], s(1000));
    assert_eq!(r.acked, 250);
    assert_eq!(sb.dup_acks(), 0);
    assert_eq!(sb.ranges(), &[b(250, 300), b(400, 500)]);
    assert_eq!(sb.sacked_bytes(), 150);
    sb.update(s(600), &[], s(1000));
    assert!(sb.ranges().is_empty());
    assert_eq!(sb.sacked_bytes(), 0);
    assert_eq!(sb.high_ack(), s(600));
}

#[test]
fn invalid_blocks_are_ignored() {
    let mut sb = board();
    // Beyond HighData, inverted, empty.
    let r = sb.update(s(0), &[b(900, 1100), b(300, 200), b(5, 5)], s(1000));
    assert_eq!(r.ignored_blocks, 3);
    assert_eq!(r.newly_sacked, 0);
    // A block straddling HighACK is clipped to it.
    let mut sb = Scoreboard::new(s(100), 100, 3);
    let r = sb.update(s(100), &[b(200, 300), b(50, 150)], s(1000));
    assert_eq!(r.ignored_blocks, 0);
    assert_eq!(sb.ranges(), &[b(100, 150), b(200, 300)]);
    // An ACK beyond HighData is not taken as cumulative.
    let r = sb.update(s(2000), &[], s(1000));
    assert_eq!(r.acked, 0);
}

#[test]
fn dsack_is_detected_and_not_recorded() {
    let mut sb = board();
    // RFC 2883 §4.1: first block below the cumulative ACK.
    let r = sb.update(s(300), &[b(100, 200)], s(1000));
    assert_eq!(r.dsack, Some(b(100, 200)));
    assert!(sb.ranges().is_empty());
    // First block inside the second: duplicate above the cumulative ACK.
    let r = sb.update(s(300), &[b(500, 600), b(400, 700)], s(1000));
    assert_eq!(r.dsack, Some(b(500, 600)));
    assert_eq!(sb.ranges(), &[b(400, 700)]);
    assert_eq!(r.newly_sacked, 300);
}

#[test]
fn three_dupacks_enter_recovery() {
    let mut sb = board();
    assert!(!sb.update(s(0), &[b(100, 150)], s(1000)).enter_recovery);
    assert!(!sb.update(s(0), &[b(150, 200)], s(1000)).enter_recovery);
    // 100 bytes SACKed in one range: IsLost(0) is false; but DupAcks reaches 3.
    let r = sb.update(s(0), &[b(200, 210)], s(1000));
    assert!(r.enter_recovery);
    assert!(!sb.is_lost(s(0)));
}

#[test]
fn is_lost_by_bytes_or_by_ranges() {
    let mut sb = board();
    // One ACK SACKing 3 segments: > 2*SMSS above byte 0. RFC 6675 §5 (2).
    let r = sb.update(s(0), &[b(100, 400)], s(1000));
    assert!(r.enter_recovery);
    assert!(sb.is_lost(s(0)));
    assert!(sb.is_lost(s(99)));
    // Above byte 100 exactly 300 - 1 bytes... byte 100 is SACKed; byte 150 has 249 above.
    assert!(sb.is_lost(s(150)));
    assert!(!sb.is_lost(s(250)));
    // Three small discontiguous ranges count as three sequences.
    let mut sb = board();
    sb.update(s(0), &[b(100, 110), b(200, 210), b(300, 310)], s(1000));
    assert!(sb.is_lost(s(50)));
    assert!(!sb.is_lost(s(150)));
    assert!(!sb.is_lost(s(500)));
}

#[test]
fn pipe_follows_set_pipe() {
    let mut sb = board();
    sb.update(s(0), &[b(100, 400), b(500, 600)], s(1000));
    // [0,100) lost, [400,500) not lost, [600,1000) not lost.
    assert_eq!(sb.pipe(s(1000)), 500);
    sb.enter_recovery(s(1000));
    sb.on_retransmit(s(0), 100);
    // The retransmission is in flight.
    assert_eq!(sb.pipe(s(1000)), 600);
    // With no SACKs, pipe is the whole flight.
    let sb = board();
    assert_eq!(sb.pipe(s(700)), 700);
}

#[test]
fn next_seg_rules_1_to_4() {
    let mut sb = board();
    let r = sb.update(s(0), &[b(100, 400), b(500, 600)], s(1000));
    assert!(r.enter_recovery);
    sb.enter_recovery(s(1000));
    assert_eq!(sb.recovery_point(), Some(s(1000)));
    assert_eq!(
        sb.first_segment(s(1000)),
        Some(NextSeg::Retransmit {
            seq: s(0),
            len: 100
        })
    );
    // Rule 1: lost hole [0,100).
    let n = sb.next_seg(s(1000), true);
    assert_eq!(
        n,
        Some(NextSeg::Retransmit {
            seq: s(0),
            len: 100
        })
    );
    sb.on_retransmit(s(0), 100);
    // [400,500) is not lost: rule 2 sends new data when it can.
    assert_eq!(sb.next_seg(s(1000), true), Some(NextSeg::NewData));
    // Rule 3 otherwise.
    let n = sb.next_seg(s(1000), false);
    assert_eq!(
        n,
        Some(NextSeg::Retransmit {
            seq: s(400),
            len: 100
        })
    );
    sb.on_retransmit(s(400), 100);
    // Rule 4: rescue of the highest unSACKed byte, once.
    let n = sb.next_seg(s(1000), false);
    assert_eq!(
        n,
        Some(NextSeg::Rescue {
            seq: s(900),
            len: 100
        })
    );
    sb.on_rescue_retransmit();
    assert_eq!(sb.high_rxt(), s(500), "rescue does not move HighRxt");
    assert_eq!(sb.next_seg(s(1000), false), None);
    // A partial ACK does not end recovery.
    let r = sb.update(s(100), &[b(100, 600)], s(1000));
    assert!(!r.exit_recovery);
    assert!(sb.in_recovery());
    // A full ACK does.
    let r = sb.update(s(1000), &[], s(1000));
    assert!(r.exit_recovery);
    assert!(!r.enter_recovery);
    assert!(!sb.in_recovery());
}

#[test]
fn retransmissions_split_at_smss_and_stop_at_sacked_data() {
    let mut sb = board();
    sb.update(s(0), &[b(250, 600)], s(1000));
    sb.enter_recovery(s(1000));
    assert_eq!(
        sb.next_seg(s(1000), false),
        Some(NextSeg::Retransmit {
            seq: s(0),
            len: 100
        })
    );
    sb.on_retransmit(s(0), 100);
    assert_eq!(
        sb.next_seg(s(1000), false),
        Some(NextSeg::Retransmit {
            seq: s(100),
            len: 100
        })
    );
    sb.on_retransmit(s(100), 100);
    assert_eq!(
        sb.next_seg(s(1000), false),
        Some(NextSeg::Retransmit {
            seq: s(200),
            len: 50
        })
    );
}

#[test]
fn no_new_recovery_until_recovery_point_is_covered_after_rto() {
    let mut sb = board();
    sb.update(s(0), &[b(300, 400)], s(1000));
    sb.on_rto(s(1000));
    assert!(sb.in_loss());
    assert!(sb.is_lost(s(500)));
    // Loss phase: retransmit from HighACK, skipping SACKed data.
    assert_eq!(
        sb.next_seg(s(1000), false),
        Some(NextSeg::Retransmit {
            seq: s(0),
            len: 100
        })
    );
    sb.on_retransmit(s(0), 300);
    assert_eq!(
        sb.next_seg(s(1000), false),
        Some(NextSeg::Retransmit {
            seq: s(400),
            len: 100
        })
    );
    // Pipe counts only retransmitted bytes: everything else below 1000 is lost.
    assert_eq!(sb.pipe(s(1000)), 300);
    // New data sent after the RTO is not lost.
    assert_eq!(sb.pipe(s(1200)), 500);
    // Many dupACKs before the RTO point is covered: no new recovery (RFC 6675 §5.1).
    for i in 0..5 {
        let r = sb.update(s(300), &[b(600 + i * 10, 605 + i * 10)], s(1200));
        assert!(!r.enter_recovery);
    }
    let r = sb.update(s(1000), &[b(1100, 1200)], s(1200));
    assert!(r.exit_loss);
    assert!(!sb.in_loss());
    // Now a fresh loss can start recovery again: three ranges above HighACK.
    let r = sb.update(s(1000), &[b(1010, 1020), b(1030, 1040)], s(1200));
    assert!(r.enter_recovery);
}

#[test]
fn overflowing_blocks_are_counted_and_dropped() {
    let mut sb = Scoreboard::new(s(0), 10, 3);
    let n = SCOREBOARD_RANGES as u32;
    let (far, nxt) = (200 + n * 20, 1_000 + n * 20);
    for i in 0..n {
        sb.update(s(0), &[b(100 + i * 20, 110 + i * 20)], s(nxt));
    }
    assert_eq!(sb.ranges().len(), SCOREBOARD_RANGES);
    let r = sb.update(s(0), &[b(far, far + 10)], s(nxt));
    assert_eq!(r.ignored_blocks, 1);
    assert_eq!(sb.overflows(), 1);
    // A block that merges needs no slot.
    let r = sb.update(s(0), &[b(110, 120)], s(nxt));
    assert_eq!(r.newly_sacked, 10);
    assert_eq!(sb.ranges().len(), SCOREBOARD_RANGES - 1);
}

#[test]
fn works_across_sequence_wrap() {
    let base = u32::MAX - 250;
    let mut sb = Scoreboard::new(s(base), 100, 3);
    let hd = s(base) + 1000;
    let r = sb.update(s(base), &[SackBlock::new(s(base) + 100, s(base) + 400)], hd);
    assert!(r.enter_recovery);
    // [base, base+100) is lost (300 bytes SACKed above); the 600 bytes above are not.
    assert_eq!(sb.pipe(hd), 600);
    sb.enter_recovery(hd);
    assert_eq!(
        sb.next_seg(hd, false),
        Some(NextSeg::Retransmit {
            seq: s(base),
            len: 100
        })
    );
    let r = sb.update(s(base) + 400, &[], hd);
    assert_eq!(r.acked, 400);
    assert!(sb.ranges().is_empty());
}

/// Byte-by-byte reference of RFC 6675 over a small space, to check the range code.
struct Model {
    una: u32,
    sacked: Vec<bool>,
    smss: usize,
    dup_thresh: usize,
}

impl Model {
    fn is_lost(&self, seq: u32) -> bool {
        let above = &self.sacked[(seq as usize + 1).min(self.sacked.len())..];
        let bytes = above.iter().filter(|&&x| x).count();
        // Count discontiguous runs.
        let mut runs = 0;
        let mut prev = false;
        for &x in above {
            if x && !prev {
                runs += 1;
            }
            prev = x;
        }
        runs >= self.dup_thresh || bytes > (self.dup_thresh - 1) * self.smss
    }

    fn pipe(&self, high_data: u32, high_rxt: u32) -> usize {
        let mut pipe = 0;
        for o in self.una..high_data {
            if self.sacked[o as usize] {
                continue;
            }
            if !self.is_lost(o) {
                pipe += 1;
            }
            if o < high_rxt {
                pipe += 1;
            }
        }
        pipe
    }
}

proptest! {
    #[test]
    fn ranges_and_pipe_match_byte_model(
        blocks in proptest::collection::vec((0u32..400, 1u32..60), 0..12),
        acks in proptest::collection::vec(0u32..400, 0..4),
        rxt in 0u32..400,
        smss in 5usize..50,
    ) {
        let high_data = 400u32;
        let mut sb = Scoreboard::new(s(0), smss, 3);
        let mut m = Model { una: 0, sacked: vec![false; 400], smss, dup_thresh: 3 };
        for (l, n) in blocks {
            let r = (l + n).min(high_data);
            // Skip blocks that would be read as D-SACK (first block inside no second one
            // here, but below una).
            if l < m.una { continue; }
            sb.update(s(m.una), &[b(l, r)], s(high_data));
            for o in l..r { m.sacked[o as usize] = true; }
        }
        for a in acks {
            if a > m.una {
                sb.update(s(a), &[], s(high_data));
                for o in m.una..a { m.sacked[o as usize] = false; }
                m.una = a;
            }
        }
        let want: usize = m.sacked.iter().filter(|&&x| x).count();
        prop_assert_eq!(sb.sacked_bytes(), want);
        let total: usize = sb.ranges().iter().map(SackBlock::len).sum();
        prop_assert_eq!(total, want);
        for o in (m.una..high_data).step_by(7) {
            prop_assert_eq!(sb.is_lost(s(o)), m.is_lost(o), "IsLost({})", o);
        }
        let rxt = rxt.max(m.una);
        sb.on_retransmit(s(m.una), (rxt - m.una) as usize);
        prop_assert_eq!(sb.pipe(s(high_data)), m.pipe(high_data, rxt));
    }
}

#[test]
fn no_sack_dupacks_enter_recovery_and_shrink_pipe() {
    let mut sb = board();
    sb.set_sack_enabled(false);
    let hd = s(1000);
    assert!(!sb.update_no_sack(s(0), true, hd).enter_recovery);
    assert!(!sb.update_no_sack(s(0), true, hd).enter_recovery);
    let r = sb.update_no_sack(s(0), true, hd);
    assert!(r.dup_ack && r.enter_recovery);
    assert_eq!(sb.reno_dupacks(), 3);
    // Three segments left the network: cwnd = ssthresh + 3 SMSS in RFC 5681 terms.
    assert_eq!(sb.pipe(hd), 700);
    sb.enter_recovery(hd);
    assert_eq!(
        sb.first_segment(hd),
        Some(NextSeg::Retransmit {
            seq: s(0),
            len: 100
        })
    );
    sb.on_retransmit(s(0), 100);
    assert_eq!(sb.pipe(hd), 800);
    // More duplicates keep shrinking the pipe; there is nothing to pick but new data,
    // and no rescue retransmission without SACK.
    sb.update_no_sack(s(0), true, hd);
    assert_eq!(sb.pipe(hd), 700);
    assert_eq!(sb.next_seg(hd, true), Some(NextSeg::NewData));
    assert_eq!(sb.next_seg(hd, false), None);
    // A partial ACK of 4 segments: the first filled the hole, three matched dupacks.
    let r = sb.update_no_sack(s(400), false, hd);
    assert!(r.partial_ack && !r.exit_recovery);
    assert_eq!(sb.reno_dupacks(), 1);
    // RFC 6582 step 5: the next hole's head is retransmitted.
    assert_eq!(
        sb.first_segment(hd),
        Some(NextSeg::Retransmit {
            seq: s(400),
            len: 100
        })
    );
    assert_eq!(sb.high_rxt(), s(400));
    let r = sb.update_no_sack(s(1000), false, hd);
    assert!(r.exit_recovery);
    assert_eq!(sb.reno_dupacks(), 0);
    // A duplicate with nothing outstanding is not counted.
    let r = sb.update_no_sack(s(1000), true, hd);
    assert!(!r.dup_ack);
}

#[test]
fn no_new_no_sack_recovery_below_recover() {
    let mut sb = board();
    sb.set_sack_enabled(false);
    for _ in 0..3 {
        sb.update_no_sack(s(0), true, s(1000));
    }
    sb.enter_recovery(s(1000));
    sb.update_no_sack(s(1000), false, s(1500));
    // RFC 6582 §3.2 step 1 is satisfied now (ack covers recover): three new duplicates
    // start a new recovery.
    for i in 0..3 {
        let r = sb.update_no_sack(s(1000), true, s(1500));
        assert_eq!(r.enter_recovery, i == 2);
    }
}
