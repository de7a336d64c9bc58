//! The MPTCP data level end to end, without TCP: a sender (shared atomics, send buffer,
//! scheduler, send-side mappings) and a receiver (per-subflow mappers, reassembly) over
//! two in-order subflow pipes with different delays. One subflow dies mid-transfer with
//! data in flight; its DATA-unacknowledged ranges are reinjected on the other under
//! their original DSNs. The receiver must get exactly the application's stream, then
//! the DATA_FIN, and the sender must see its DATA_FIN acknowledged.
//!
//! This is also a worked example of how the connection layer drives these pieces.

use std::collections::VecDeque;

use bytes::Bytes;
use dataplane::mptcp::mapping::{DssEvent, RxMapper, TxMappings};
use dataplane::mptcp::reassembly::Reassembly;
use dataplane::mptcp::sendbuf::{SendBuf, StaleDetector};
use dataplane::mptcp::shared::{conn_flags, sf_flags, SharedData, SubflowSnapshot};
use dataplane::sched::{by_name, SchedCtx, Scheduler};
use dataplane::seq::{DataSeq, SubflowSeq};
use dataplane::wire::mptcp::DssMapping;
use proptest::prelude::*;

const MSS: usize = 1000;
const CWND: u32 = 16 * MSS as u32;

/// One TCP segment as far as the data level cares.
struct Seg {
    seq: SubflowSeq,
    payload: Bytes,
    map: DssMapping,
    data_fin: bool,
    at: u64,
}

struct Subflow {
    slot: usize,
    nxt: SubflowSeq,
    tx: TxMappings,
    rx: RxMapper,
    pipe: VecDeque<Seg>,
    delay: u64,
    alive: bool,
    /// Payload bytes delivered to the receiver.
    delivered: usize,
}

impl Subflow {
    fn in_flight(&self) -> u32 {
        self.pipe.iter().map(|s| s.payload.len() as u32).sum()
    }
}

struct Xorshift(u64);
impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Puts `[dsn, dsn + len)` of the send buffer on subflow `sf` as one mapping cut into
/// MSS-sized segments.
fn send_range(sb: &mut SendBuf, sf: &mut Subflow, dsn: DataSeq, len: u64, now: u64) {
    let pieces: Vec<Bytes> = sb.read(dsn, len as usize).collect();
    let m = sf.tx.push_bytes(sf.nxt, dsn, &pieces, false).unwrap();
    let payload: Bytes = pieces.concat().into();
    let mut off = 0;
    while off < payload.len() {
        let seq = sf.nxt + off;
        // A segment never straddles two mappings.
        let n = MSS.min(sf.tx.room(seq)).min(payload.len() - off);
        sf.pipe.push_back(Seg {
            seq,
            payload: payload.slice(off..off + n),
            map: sf.tx.dss(seq, None, true).mapping.unwrap(),
            data_fin: false,
            at: now + sf.delay,
        });
        off += n;
    }
    sf.nxt += usize::from(m.len);
    sb.record_sent(sf.slot as u8, dsn, len);
}

/// What a transfer saw: sender and receiver counters, bytes lost with the subflow.
struct Outcome {
    reinjections: u64,
    ooo: u64,
    duplicates: u64,
    lost: usize,
    went_stale: usize,
    ticks: u64,
}

/// A transfer with subflow 1 dying while data is in flight on it.
fn run(sched_name: &str, csum: bool, seed: u64, total: usize) {
    let o = run_with(
        sched_name,
        csum,
        seed,
        total,
        [3, 11],
        Some(40 + seed % 30),
        None,
    );
    if sched_name == "redundant" {
        // Both subflows carried every range until the failure: copies were dropped.
        assert!(o.duplicates > 0);
    } else {
        assert!(o.lost > 0, "the failure lost data in flight");
        assert!(o.reinjections > 0, "the failure needed reinjection");
        // Both subflows carried data: the slower one's arrived out of order.
        assert!(o.ooo > 0);
    }
}

/// One transfer of `total` bytes over two subflows with the given one-way delays (in
/// ticks); subflow 1 dies at tick `kill_at`, if any, and delivers nothing during
/// `stall` (its segments wait, as TCP retransmissions would, and arrive afterwards).
fn run_with(
    sched_name: &str,
    csum: bool,
    seed: u64,
    total: usize,
    delays: [u64; 2],
    kill_at: Option<u64>,
    stall: Option<(u64, u64)>,
) -> Outcome {
    let mut rng = Xorshift(seed | 1);
    let source: Vec<u8> = (0..total).map(|_| rng.next() as u8).collect();

    // Sender's and receiver's connection state; the sender's IDSN+1 is 1 << 33 so that
    // 32-bit DSN wrap-around matters nowhere but is exercised by 64-bit arithmetic.
    let start = DataSeq((1 << 33) - 20_000);
    let snd = SharedData::new(start, DataSeq(0), 0);
    let mut sb = SendBuf::new(start, 64 * 1024);
    let mut reasm = Reassembly::new(start, 48 * 1024);
    // The receiver's initial window.
    snd.handle_data_ack(start, reasm.window());
    let mut sched: Box<dyn Scheduler> = by_name(sched_name).unwrap();

    let mut sfs: Vec<Subflow> = (0..2)
        .map(|k| {
            let iss = SubflowSeq(rng.next() as u32);
            Subflow {
                slot: snd.alloc_slot().unwrap(),
                nxt: iss + 1,
                tx: TxMappings::new(iss, csum),
                rx: RxMapper::new(iss, csum),
                pipe: VecDeque::new(),
                delay: delays[k],
                alive: true,
                delivered: 0,
            }
        })
        .collect();

    let mut appended = 0usize;
    let mut out = Vec::with_capacity(total);
    let mut lost = 0usize;
    let mut fin_sent = false;
    // Stale detection as the owners run it: an "RTO" is 4 one-way delays + 10 ticks
    // without delivery while data is in flight.
    let mut stale = StaleDetector::default();
    let mut last_progress = [0u64; 2];
    let mut went_stale = 0;
    let mut ticks = 0;
    for now in 0..20_000u64 {
        ticks = now;
        // The application writes random-sized chunks while there is room.
        while appended < total && sb.free_space() > 0 {
            let n = (1 + rng.next() as usize % 5000).min(total - appended);
            let took = sb.append(Bytes::copy_from_slice(&source[appended..appended + n]));
            appended += took;
            if took < n {
                break;
            }
        }
        snd.publish_write_seq(sb.write_seq());

        // Subflow 1 dies with data in flight: lost, and reinjected on subflow 0.
        if Some(now) == kill_at {
            let dead = &mut sfs[1];
            dead.alive = false;
            lost = dead.pipe.iter().map(|s| s.payload.len()).sum();
            dead.pipe.clear();
            sb.reinject_subflow(dead.slot as u8);
        }

        let active: u8 = sfs.iter().filter(|s| s.alive).map(|s| 1 << s.slot).sum();
        for (k, sf) in sfs.iter().enumerate() {
            let rto = 4 * sf.delay + 10;
            if sf.alive && sf.in_flight() > 0 && now - last_progress[k] >= rto {
                stale.on_rto(sf.slot);
                last_progress[k] = now;
                if stale.check(sf.slot, active, true) {
                    went_stale += 1;
                    sb.reinject_subflow(sf.slot as u8);
                }
            }
        }

        // Each owner publishes its subflow's snapshot.
        for sf in &sfs {
            snd.publish(
                sf.slot,
                &SubflowSnapshot {
                    id: sf.slot as u8,
                    flags: if sf.alive {
                        sf_flags::ACTIVE
                            | sf_flags::ESTABLISHED
                            | if stale.is_stale(sf.slot) {
                                sf_flags::STALE
                            } else {
                                0
                            }
                    } else {
                        0
                    },
                    stale_count: stale.count(sf.slot),
                    srtt_us: sf.delay as u32 * 1000,
                    cwnd: CWND,
                    in_flight: sf.in_flight(),
                    mss: MSS as u16,
                    ..Default::default()
                },
            );
        }

        // Reinjections first, then new data, as long as the scheduler finds room.
        loop {
            let ctx = SchedCtx::from_shared(&snd, sb.reinject_queued(), 0, now);
            let d = sched.get_retrans(&ctx);
            let Some(i) = d.first() else { break };
            let Some(r) = sb.poll_reinject(d.bytes.min(ctx.subflows[i].cwnd_space())) else {
                break;
            };
            let slot = ctx.subflows[i].slot as usize;
            let sf = sfs.iter_mut().find(|s| s.slot == slot).unwrap();
            send_range(&mut sb, sf, r.dsn, r.len, now);
            if ctx.subflows[i].cwnd_space() <= r.len {
                break;
            }
        }
        for _ in 0..8 {
            // Snapshots change as we send: republish in-flight.
            for sf in &sfs {
                let mut s = snd.snapshot(sf.slot);
                s.in_flight = sf.in_flight();
                snd.publish(sf.slot, &s);
            }
            let ctx = SchedCtx::from_shared(&snd, sb.reinject_queued(), 0, now);
            let d = sched.get_send(&ctx);
            if d.bytes == 0 {
                break;
            }
            let room = d
                .entries()
                .map(|i| ctx.subflows[i].cwnd_space())
                .min()
                .unwrap_or(0);
            let Some((dsn, len)) = snd.claim_within(d.bytes.min(room)) else {
                break;
            };
            // A redundant decision sends the same DSN range on every chosen subflow.
            for i in d.entries() {
                let slot = ctx.subflows[i].slot as usize;
                let sf = sfs.iter_mut().find(|s| s.slot == slot).unwrap();
                send_range(&mut sb, sf, dsn, len, now);
            }
        }

        // DATA_FIN once all data is claimed.
        if appended == total && !fin_sent {
            snd.queue_data_fin();
            if let Some(fin) = snd.claim_data_fin() {
                let sf = &mut sfs[0];
                sf.pipe.push_back(Seg {
                    seq: sf.nxt,
                    payload: Bytes::new(),
                    map: TxMappings::data_fin_only(fin, csum),
                    data_fin: true,
                    at: now + sf.delay,
                });
                fin_sent = true;
            }
        }

        // Delivery, in order per subflow; DATA_ACKs return at once.
        for (k, sf) in sfs.iter_mut().enumerate() {
            if k == 1 && stall.is_some_and(|(a, b)| (a..b).contains(&now)) {
                continue;
            }
            while sf.pipe.front().is_some_and(|s| s.at <= now) {
                last_progress[k] = now;
                stale.on_progress(sf.slot);
                let seg = sf.pipe.pop_front().unwrap();
                let ev = sf
                    .rx
                    .handle_dss(
                        seg.seq,
                        seg.payload.len(),
                        &seg.map,
                        seg.data_fin,
                        reasm.ack(),
                    )
                    .unwrap();
                if let DssEvent::DataFin(at) = ev {
                    reasm.set_data_fin(at);
                }
                sf.rx
                    .handle_data(&seg.payload, |dsn, b| {
                        reasm.insert_slice(dsn, b);
                    })
                    .unwrap();
                sf.delivered += seg.payload.len();
                // The subflow-level ACK frees the sender's mappings.
                sf.tx.release(seg.seq + seg.payload.len());
            }
        }
        // The application reads some of what arrived.
        for _ in 0..(1 + rng.next() % 8) {
            match reasm.pop() {
                Some(b) => out.extend_from_slice(&b),
                None => break,
            }
        }
        let up = snd.handle_data_ack(reasm.ack(), reasm.window());
        sb.release(up.snd_una);

        if snd.flags() & conn_flags::SND_DATA_FIN_ACKED != 0 && reasm.readable() == 0 {
            break;
        }
    }
    while let Some(b) = reasm.pop() {
        out.extend_from_slice(&b);
    }
    assert_eq!(
        out.len(),
        source.len(),
        "{sched_name} csum={csum} seed={seed}"
    );
    assert!(
        out == source,
        "stream differs ({sched_name} csum={csum} seed={seed})"
    );
    assert!(reasm.is_finished());
    assert_ne!(
        snd.flags() & conn_flags::SND_DATA_FIN_ACKED,
        0,
        "DATA_FIN not acked"
    );
    assert_eq!(snd.snd_una(), start + total as u64 + 1);
    assert!(sb.is_empty());
    if sched_name != "redundant" && lost > 0 {
        assert!(sb.stats().reinjections > 0, "lost data must be reinjected");
    }
    for sf in &sfs {
        if sf.alive {
            assert!(sf.rx.stats() == Default::default(), "{:?}", sf.rx.stats());
            if csum && sf.delivered > 0 {
                assert!(sf.rx.valid_csum_seen());
            }
        }
    }
    Outcome {
        reinjections: sb.stats().reinjections,
        ooo: reasm.stats().ofo_queue,
        duplicates: reasm.stats().duplicate_data,
        lost,
        went_stale,
        ticks,
    }
}

#[test]
fn default_scheduler_survives_a_subflow_failure() {
    for seed in 1..6 {
        run("default", false, seed, 300_000);
    }
    run("default", true, 99, 300_000);
}

#[test]
fn round_robin_survives_a_subflow_failure() {
    run("roundrobin", false, 7, 200_000);
    run("roundrobin", true, 8, 200_000);
}

#[test]
fn redundant_delivers_each_byte_once() {
    run("redundant", false, 5, 200_000);
    run("redundant", true, 6, 100_000);
}

#[test]
fn both_subflows_carry_data_and_copies_are_dropped() {
    // Without a failure: the default scheduler spreads data over both (the slower
    // one's arrives out of order); redundant sends everything twice.
    let o = run_with("default", false, 3, 200_000, [2, 9], None, None);
    assert!(o.ooo > 0 && o.reinjections == 0 && o.went_stale == 0);
    let o = run_with("redundant", false, 4, 50_000, [2, 9], None, None);
    assert!(o.duplicates > 0 && o.reinjections == 0);
}

#[test]
fn stalled_subflow_goes_stale_and_its_data_is_reinjected() {
    for (sched, csum) in [("default", false), ("default", true), ("roundrobin", false)] {
        // Subflow 1 delivers nothing from tick 30 to 300 (a blackhole that heals); it
        // takes 5 of its RTOs (38 ticks each) to be declared stale.
        let o = run_with(sched, csum, 11, 2_000_000, [3, 7], None, Some((30, 300)));
        assert!(
            o.ticks > 300,
            "{sched}: the transfer outlasts the blackhole"
        );
        assert!(o.went_stale > 0, "{sched}: marked stale");
        assert!(o.reinjections > 0, "{sched}: its data reinjected");
        // Its own copies arrive after the blackhole and are dropped as duplicates.
        assert!(o.duplicates > 0, "{sched}: late copies dropped");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]
    /// Any delays, failure time, size, scheduler and checksum setting: the receiver
    /// gets exactly the stream and the DATA_FIN (asserted inside `run_with`).
    #[test]
    fn any_network_yields_the_stream(
        sched in prop_oneof![Just("default"), Just("roundrobin"), Just("redundant")],
        csum in any::<bool>(),
        seed in any::<u64>(),
        total in 1usize..120_000,
        d0 in 1u64..20,
        d1 in 1u64..40,
        kill_at in proptest::option::of(0u64..200),
        stall in proptest::option::of((0u64..200, 1u64..400)),
    ) {
        let stall = stall.map(|(a, n)| (a, a + n));
        run_with(sched, csum, seed, total, [d0, d1], kill_at, stall);
    }
}
