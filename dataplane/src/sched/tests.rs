use super::default::{get_retrans, DefaultScheduler};
use super::redundant::Redundant;
use super::round_robin::RoundRobin;
use super::*;
use crate::mptcp::shared::SubflowSnapshot;
use crate::seq::DataSeq;

const A: u32 = sf_flags::ACTIVE | sf_flags::ESTABLISHED;

fn sf(id: u32, flags: u32, srtt_us: u32, cwnd: u32, in_flight: u32, pacing: u64) -> SchedSubflow {
    SchedSubflow {
        id,
        flags,
        srtt_us,
        cwnd,
        in_flight,
        mss: 1000,
        pacing_rate: pacing,
        ..Default::default()
    }
}

/// A context with 1 MB queued and a 1 MB window.
fn ctx(sfs: &[SchedSubflow]) -> SchedCtx {
    let mut c = SchedCtx::new(1000);
    c.write_seq = 1000 + (1 << 20);
    c.snd_wnd_end = 1000 + (1 << 20);
    for s in sfs {
        c.push(*s).unwrap();
    }
    c
}

#[test]
fn layout_is_the_vm_contract() {
    use core::mem::offset_of;
    assert_eq!(offset_of!(SchedCtx, version), 0);
    assert_eq!(offset_of!(SchedCtx, nr_subflows), 4);
    assert_eq!(offset_of!(SchedCtx, subflows), 8);
    assert_eq!(offset_of!(SchedCtx, snd_una), 8 + 48 * 8);
    assert_eq!(offset_of!(SchedCtx, hint), 8 + 48 * 8 + 40);
    assert_eq!(offset_of!(SchedSubflow, pacing_rate), 40);
    assert_eq!(offset_of!(SchedDecision, bytes), 8);
    assert_eq!(SchedCtx::new(0).version, SCHED_CTX_VERSION);
}

#[test]
fn byte_image_follows_the_repr_c_layout() {
    use core::mem::offset_of;
    let mut c = ctx(&[sf(0xa1, A, 250, 14_600, 2920, 0x0102_0304_0506_0708)]);
    c.subflows[0].slot = 5;
    c.subflows[0].stale_count = 3;
    c.hint = 0xfeed_beef;
    c.now_us = 42;
    let b = c.to_bytes();
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    assert_eq!(u32_at(offset_of!(SchedCtx, version)), SCHED_CTX_VERSION);
    assert_eq!(u32_at(offset_of!(SchedCtx, nr_subflows)), 1);
    let s0 = offset_of!(SchedCtx, subflows);
    assert_eq!(u32_at(s0 + offset_of!(SchedSubflow, id)), 0xa1);
    assert_eq!(u32_at(s0 + offset_of!(SchedSubflow, srtt_us)), 250);
    assert_eq!(u32_at(s0 + offset_of!(SchedSubflow, in_flight)), 2920);
    assert_eq!(u32_at(s0 + offset_of!(SchedSubflow, stale_count)), 3);
    assert_eq!(u32_at(s0 + offset_of!(SchedSubflow, slot)), 5);
    assert_eq!(
        u64_at(s0 + offset_of!(SchedSubflow, pacing_rate)),
        0x0102_0304_0506_0708
    );
    assert_eq!(u64_at(offset_of!(SchedCtx, write_seq)), c.write_seq);
    assert_eq!(u64_at(offset_of!(SchedCtx, hint)), 0xfeed_beef);
    assert_eq!(u64_at(offset_of!(SchedCtx, now_us)), 42);
    // Decisions round-trip and untrusted masks are cut to existing entries.
    let d = SchedDecision {
        mask: 0xffff_0003,
        flags: 0,
        bytes: 1 << 40,
    };
    let db = d.to_bytes();
    assert_eq!(
        u64::from_le_bytes(
            db[offset_of!(SchedDecision, bytes)..][..8]
                .try_into()
                .unwrap()
        ),
        1 << 40
    );
    assert_eq!(SchedDecision::from_bytes(&db), d);
    assert_eq!(d.sanitized(&c).mask, 1);
}

#[test]
fn ctx_from_shared_state() {
    let sh = SharedData::new(DataSeq(100), DataSeq(0), 1000);
    sh.publish_write_seq(DataSeq(5000));
    sh.handle_data_ack(DataSeq(100), 3000);
    sh.claim(400);
    let a = sh.alloc_slot().unwrap();
    let b = sh.alloc_slot().unwrap();
    sh.free_slot(a);
    sh.publish(
        b,
        &SubflowSnapshot {
            id: 7,
            flags: A | sf_flags::BACKUP,
            srtt_us: 250,
            cwnd: 14_600,
            in_flight: 2920,
            mss: 1460,
            stale_count: 2,
            ..Default::default()
        },
    );
    let c = SchedCtx::from_shared(&sh, 77, 0xfeed, 123);
    assert_eq!(c.nr_subflows, 1);
    let s = c.subflows()[0];
    assert_eq!(
        (s.id, s.slot, s.srtt_us, s.mss, s.stale_count),
        (7, b as u32, 250, 1460, 2)
    );
    assert!(s.is_backup() && s.is_usable());
    assert_eq!(
        (c.snd_una, c.snd_nxt, c.write_seq, c.snd_wnd_end),
        (100, 500, 5000, 3100)
    );
    assert_eq!((c.reinject_queued, c.hint, c.now_us), (77, 0xfeed, 123));
    assert_eq!(c.bytes_queued(), 4500);
    assert_eq!(c.sendable(), 2600);
}

// ---- default ----

#[test]
fn default_picks_lowest_linger_time() {
    // Subflow 0 is faster (lower RTT) but holds a big backlog; 1 drains sooner.
    let c = ctx(&[
        sf(1, A, 1_000, 100_000, 60_000, 10_000_000),
        sf(2, A, 5_000, 100_000, 10_000, 5_000_000),
    ]);
    let d = DefaultScheduler::new().get_send(&c);
    assert_eq!(d.first(), Some(1));
    assert_eq!(d.bytes, SEND_BURST_SIZE);
}

#[test]
fn default_ties_go_to_the_lowest_rtt() {
    let c = ctx(&[
        sf(1, A, 9_000, 100_000, 0, 1_000_000),
        sf(2, A, 2_000, 100_000, 0, 1_000_000),
        sf(3, A, 0, 100_000, 0, 0),
    ]);
    assert_eq!(DefaultScheduler::new().get_send(&c).first(), Some(1));
}

#[test]
fn default_needs_cwnd_space_and_a_usable_subflow() {
    let mut s = DefaultScheduler::new();
    // The best one is full; the stale and the inactive are skipped.
    let c = ctx(&[
        sf(1, A, 1_000, 10_000, 10_000, 100_000_000),
        sf(2, A | sf_flags::STALE, 1_000, 100_000, 0, 100_000_000),
        sf(3, sf_flags::ESTABLISHED, 1_000, 100_000, 0, 100_000_000),
        sf(4, A, 50_000, 100_000, 90_000, 1_000_000),
    ]);
    assert_eq!(s.get_send(&c).first(), Some(3));
    let c = ctx(&[sf(1, A, 1_000, 10_000, 10_000, 1)]);
    assert_eq!(s.get_send(&c), SchedDecision::NONE);
}

#[test]
fn default_uses_backups_only_without_active_regular_subflows() {
    let mut s = DefaultScheduler::new();
    let bk = sf_flags::BACKUP;
    // A regular subflow is active but its window is full: wait, do not use the backup.
    let c = ctx(&[
        sf(1, A, 1_000, 10_000, 10_000, 1_000_000),
        sf(2, A | bk, 1_000, 100_000, 0, 1_000_000),
    ]);
    assert_eq!(s.get_send(&c), SchedDecision::NONE);
    // The regular one is stale (not active for the scheduler): the best backup sends.
    let c = ctx(&[
        sf(1, A | sf_flags::STALE, 1_000, 100_000, 0, 1_000_000),
        sf(2, A | bk, 8_000, 100_000, 0, 1_000_000),
        sf(3, A | bk, 3_000, 100_000, 0, 1_000_000),
    ]);
    assert_eq!(s.get_send(&c).first(), Some(2));
}

#[test]
fn default_budget_is_bounded_by_data_and_window() {
    let mut s = DefaultScheduler::new();
    let mut c = ctx(&[sf(1, A, 1_000, 100_000, 0, 1_000_000)]);
    c.write_seq = c.snd_nxt + 3000;
    assert_eq!(s.get_send(&c).bytes, 3000);
    c.write_seq = c.snd_nxt + 100_000;
    c.snd_wnd_end = c.snd_nxt + 1200;
    assert_eq!(s.get_send(&c).bytes, 1200);
    // Zero window: the subflow is still named (for ACKs), with no budget.
    c.snd_wnd_end = c.snd_nxt;
    assert_eq!(s.get_send(&c), SchedDecision::single(0, 0));
}

#[test]
fn retrans_prefers_idle_regular_then_backup_without_progress() {
    let bk = sf_flags::BACKUP;
    let mut c = ctx(&[
        sf(1, A, 1_000, 100_000, 5_000, 1), // busy
        sf(2, A | bk, 1_000, 100_000, 0, 1),
        sf(3, A, 1_000, 100_000, 0, 1),
    ]);
    assert_eq!(get_retrans(&c), SchedDecision::NONE, "nothing to reinject");
    c.reinject_queued = 3000;
    assert_eq!(get_retrans(&c), SchedDecision::single(2, 3000));
    // Only the backup is idle; the busy one still makes progress (stale count 1).
    c.subflows[2].in_flight = 10;
    c.subflows[0].stale_count = 1;
    c.subflows[2].stale_count = 5;
    assert_eq!(get_retrans(&c), SchedDecision::NONE);
    // No progress anywhere: the backup carries it.
    c.subflows[0].stale_count = 2;
    assert_eq!(get_retrans(&c).first(), Some(1));
    // A stale subflow may still retransmit (Linux uses __mptcp_subflow_active).
    let mut c = ctx(&[sf(1, A | sf_flags::STALE, 1_000, 100_000, 0, 1)]);
    c.reinject_queued = 1;
    assert_eq!(get_retrans(&c).first(), Some(0));
}

// ---- round robin ----

#[test]
fn round_robin_cycles_and_skips() {
    let mut rr = RoundRobin::new();
    let mut c = ctx(&[
        sf(10, A, 1_000, 100_000, 0, 0),
        sf(11, A, 1_000, 100_000, 0, 0),
        sf(12, A, 1_000, 100_000, 0, 0),
    ]);
    let picks: Vec<_> = (0..6).map(|_| rr.get_send(&c).first().unwrap()).collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    assert_eq!(rr.get_send(&c).bytes, 1000, "one MSS a turn");
    // 2 (id 12) has no room; 1 goes stale.
    c.subflows[2].in_flight = 100_000;
    c.subflows[1].flags |= sf_flags::STALE;
    let picks: Vec<_> = (0..3).map(|_| rr.get_send(&c).first().unwrap()).collect();
    assert_eq!(picks, [0, 0, 0]);
    // Entries reordered: the order follows ids, not positions.
    let mut rr = RoundRobin::with_segments(4);
    let mut c = ctx(&[sf(1, A, 1, 100_000, 0, 0), sf(2, A, 1, 100_000, 0, 0)]);
    assert_eq!(rr.get_send(&c).first(), Some(0));
    c.subflows.swap(0, 1);
    assert_eq!(rr.get_send(&c).first(), Some(0), "id 2, now first");
    assert_eq!(rr.get_send(&c).bytes, 4000);
}

#[test]
fn round_robin_backups_only_when_needed() {
    let mut rr = RoundRobin::new();
    let bk = sf_flags::BACKUP;
    let c = ctx(&[sf(1, A | bk, 1, 100_000, 0, 0), sf(2, A, 1, 100_000, 0, 0)]);
    for _ in 0..3 {
        assert_eq!(rr.get_send(&c).first(), Some(1));
    }
    let c = ctx(&[
        sf(1, A | bk, 1, 100_000, 0, 0),
        sf(2, sf_flags::ESTABLISHED, 1, 100_000, 0, 0),
    ]);
    assert_eq!(rr.get_send(&c).first(), Some(0));
    assert_eq!(rr.get_send(&ctx(&[])), SchedDecision::NONE);
}

// ---- redundant ----

#[test]
fn redundant_sends_on_all_usable() {
    let mut r = Redundant::new();
    let bk = sf_flags::BACKUP;
    let c = ctx(&[
        sf(1, A, 1_000, 100_000, 90_000, 0), // 10_000 room
        sf(2, A | sf_flags::STALE, 1_000, 100_000, 0, 0),
        sf(3, A, 1_000, 100_000, 0, 0),
        sf(4, A | bk, 1_000, 100_000, 0, 0),
        sf(5, A, 1_000, 100_000, 100_000, 0), // full
    ]);
    let d = r.get_send(&c);
    assert_eq!(d.mask, 0b0101);
    assert_eq!(d.entries().collect::<Vec<_>>(), [0, 2]);
    assert_eq!(d.bytes, 10_000, "the smallest room among the copies");
    // Only backups usable: all of them.
    let c = ctx(&[
        sf(1, A | bk, 1_000, 100_000, 0, 0),
        sf(2, sf_flags::ESTABLISHED, 1_000, 100_000, 0, 0),
        sf(3, A | bk, 1_000, 100_000, 0, 0),
    ]);
    assert_eq!(r.get_send(&c).mask, 0b101);
    let mut c = ctx(&[sf(1, A, 1, 100_000, 0, 0), sf(2, A, 1, 100_000, 0, 0)]);
    c.reinject_queued = 500;
    assert_eq!(
        r.get_retrans(&c),
        SchedDecision {
            mask: 0b11,
            flags: 0,
            bytes: 500
        }
    );
}

#[test]
fn by_name_builds_the_native_schedulers() {
    for name in NATIVE {
        assert_eq!(by_name(name).unwrap().name(), *name);
    }
    assert!(by_name("bogus").is_none());
    // Through the trait object, default retrans applies to round robin too.
    let mut s = by_name("roundrobin").unwrap();
    let mut c = ctx(&[sf(1, A, 1, 100_000, 0, 0)]);
    c.reinject_queued = 10;
    assert_eq!(s.get_retrans(&c), SchedDecision::single(0, 10));
}
