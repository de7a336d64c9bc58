//! Tests of the simulator with toy hosts.

use super::toy::{self, Pacer, Sink};
use super::*;
use crate::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}
fn at_ms(n: u64) -> Instant {
    Instant::from_millis(n)
}
fn at_us(n: u64) -> Instant {
    Instant::from_micros(n)
}

/// A pacer on iface 0 linked to a recording sink on iface 0 by `cfg` (both ways).
fn pair(
    seed: u64,
    pacer: Pacer,
    cfg: LinkConfig,
) -> (Network, HostId<Pacer>, HostId<Sink>, LinkId) {
    let mut net = Network::new(seed);
    let a = net.add_host(pacer);
    let b = net.add_host(Sink::new());
    let l = net.link(a, 0, b, 0, cfg);
    (net, a, b, l)
}

/// A host that sends what a test puts in `out` and keeps what it receives.
#[derive(Debug, Default)]
struct Manual {
    out: Vec<(usize, Vec<u8>)>,
    got: Vec<(Instant, usize, Vec<u8>)>,
}

impl Host for Manual {
    fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        self.got.push((now, iface, frame.to_vec()));
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        for (i, f) in self.out.drain(..) {
            emit(i, &f);
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn conserved(s: &LinkStats, in_flight: u64) {
    assert_eq!(
        s.sent_packets + s.duplicated,
        s.delivered_packets + s.dropped() + in_flight,
        "{s:?}"
    );
}

#[test]
fn delay_is_exact() {
    let p = Pacer::new(0, 100, 10, ms(3), at_ms(1));
    let (mut net, a, b, l) = pair(1, p, LinkConfig::new().delay(ms(10)));
    assert_eq!(net.run_until_idle(Instant::from_secs(10)), RunOutcome::Idle);
    let log = &net.host(b).log;
    assert_eq!(log.len(), 10);
    for (k, &(t, iface, seq)) in log.iter().enumerate() {
        assert_eq!((iface, seq), (0, k as u64));
        assert_eq!(t, at_ms(1 + 3 * k as u64 + 10));
    }
    assert!(net.host(a).done());
    assert_eq!(net.now(), at_ms(1 + 27 + 10));
    let s = net.stats(l, Dir::Forward);
    assert_eq!(
        (s.sent_packets, s.delivered_packets, s.dropped()),
        (10, 10, 0)
    );
    assert_eq!((s.sent_bytes, s.delivered_bytes), (1000, 1000));
    assert_eq!(*net.stats(l, Dir::Backward), LinkStats::default());
}

#[test]
fn rate_serializes_and_queues() {
    // 10 Mbit/s, 1500-byte frames: 1.2 ms each. A burst of 10 at t=0 arrives spaced
    // 1.2 ms apart after the 5 ms delay.
    let p = Pacer::new(0, 1500, 10, ms(100), Instant::ZERO).with_burst(10);
    let cfg = LinkConfig::new().delay(ms(5)).rate_bps(10_000_000);
    let (mut net, _, b, l) = pair(1, p, cfg);
    net.run_until(Instant::from_secs(1));
    let times: Vec<Instant> = net.host(b).log.iter().map(|x| x.0).collect();
    let want: Vec<Instant> = (1..=10).map(|k| at_us(5_000 + 1_200 * k)).collect();
    assert_eq!(times, want);
    assert_eq!(net.stats(l, Dir::Forward).max_backlog_packets, 10);
    assert_eq!(net.stats(l, Dir::Forward).max_backlog_bytes, 15_000);
}

#[test]
fn rate_limits_throughput() {
    // Offered: 1500 B every 0.6 ms (20 Mbit/s) into 10 Mbit/s: arrivals pace at 1.2 ms
    // and the queueing delay of frame k grows by 0.6 ms per frame.
    let p = Pacer::new(0, 1500, 1000, us(600), Instant::ZERO);
    let (mut net, _, b, _) = pair(1, p, LinkConfig::new().rate_bps(10_000_000));
    net.run_until_idle(Instant::from_secs(10));
    let log = &net.host(b).log;
    assert_eq!(log.len(), 1000);
    for w in log.windows(2) {
        assert_eq!(w[1].0 - w[0].0, us(1200));
    }
    let last = log[999].0;
    assert_eq!(last, at_us(1200 * 1000));
    // The last frame, sent at 599.4 ms, waited 599.4 ms in the queue plus 1.2 ms on
    // the wire.
    assert_eq!(last - at_us(600 * 999), us(600 * 999 + 1200));
    // Throughput: 1000 frames * 12000 bits in 1.2 s = 10 Mbit/s.
    let bps = 1000.0 * 12_000.0 / (last.as_nanos() as f64 / 1e9);
    assert!((bps - 10e6).abs() < 1.0, "{bps}");
}

#[test]
fn queue_limit_drops_tail() {
    let p = Pacer::new(0, 1500, 20, ms(1000), Instant::ZERO).with_burst(20);
    let cfg = LinkConfig::new().rate_bps(10_000_000).queue_packets(5);
    let (mut net, _, b, l) = pair(1, p.clone(), cfg);
    net.run_until_idle(Instant::from_secs(10));
    assert_eq!(net.host(b).seqs(), (0..5).collect::<Vec<_>>());
    assert_eq!(net.stats(l, Dir::Forward).dropped_queue, 15);

    let cfg = LinkConfig::new().rate_bps(10_000_000).queue_bytes(4_500);
    let (mut net, _, b, l) = pair(1, p, cfg);
    net.run_until_idle(Instant::from_secs(10));
    assert_eq!(net.host(b).seqs(), vec![0, 1, 2]);
    assert_eq!(net.stats(l, Dir::Forward).dropped_queue, 17);
    conserved(net.stats(l, Dir::Forward), 0);
}

#[test]
fn queue_drains_and_accepts_again() {
    // 5 frames every 7.2 ms (6 frame times): the queue of 3 packets drains between
    // bursts, so each burst loses exactly 2.
    let p = Pacer::new(0, 1500, 50, us(3600 * 2), Instant::ZERO).with_burst(5);
    let cfg = LinkConfig::new().rate_bps(10_000_000).queue_packets(3);
    let (mut net, _, b, l) = pair(1, p, cfg);
    net.run_until_idle(Instant::from_secs(10));
    assert_eq!(net.stats(l, Dir::Forward).dropped_queue, 20);
    assert_eq!(net.host(b).frames, 30);
}

fn lossy(seed: u64, n: u64, cfg: LinkConfig) -> (Network, HostId<Sink>, LinkId) {
    let (mut net, _, b, l) = pair(seed, Pacer::new(0, 64, n, us(10), Instant::ZERO), cfg);
    net.run_until_idle(Instant::from_secs(100));
    (net, b, l)
}

#[test]
fn loss_rate_and_reproducible_counts() {
    let cfg = LinkConfig::new().delay(ms(1)).loss(0.1);
    let (net, b, l) = lossy(7, 100_000, cfg.clone());
    let s = *net.stats(l, Dir::Forward);
    // Binomial(100000, 0.1): sd ~ 95; allow > 5 sd.
    assert!((9_500..10_500).contains(&s.dropped_loss), "{s:?}");
    assert_eq!(s.delivered_packets + s.dropped_loss, 100_000);
    let (net2, b2, l2) = lossy(7, 100_000, cfg.clone());
    assert_eq!(*net2.stats(l2, Dir::Forward), s);
    assert_eq!(net2.host(b2).seqs(), net.host(b).seqs());
    let (net3, _, l3) = lossy(8, 100_000, cfg);
    assert_ne!(net3.stats(l3, Dir::Forward).dropped_loss, s.dropped_loss);
}

#[test]
fn reorder_observed() {
    let cfg = LinkConfig::new().delay(ms(1)).reorder(0.1, us(35));
    let (net, b, l) = lossy(3, 10_000, cfg);
    let seqs = net.host(b).seqs();
    assert_eq!(seqs.len(), 10_000);
    let inversions = seqs.windows(2).filter(|w| w[1] < w[0]).count() as u64;
    let s = net.stats(l, Dir::Forward);
    assert!((800..1200).contains(&s.reordered), "{s:?}");
    // A held-back frame is overtaken by the next 3 (35 us at 10 us spacing) unless
    // they are held back too; each hold shows as at least one inversion.
    assert!(inversions > 0 && inversions <= s.reordered, "{inversions}");
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn duplication_observed() {
    let cfg = LinkConfig::new().duplicate(0.05);
    let (net, b, l) = lossy(3, 10_000, cfg);
    let s = *net.stats(l, Dir::Forward);
    assert!((400..600).contains(&s.duplicated), "{s:?}");
    assert_eq!(net.host(b).frames, 10_000 + s.duplicated);
    let seqs = net.host(b).seqs();
    let dups = seqs.windows(2).filter(|w| w[0] == w[1]).count() as u64;
    assert_eq!(
        dups, s.duplicated,
        "a duplicate arrives right after its original"
    );
    conserved(&s, 0);
}

#[test]
fn blackhole_drops_exactly_inside_interval() {
    let cfg = LinkConfig::new()
        .delay(ms(5))
        .blackhole(at_ms(20), at_ms(30))
        .blackhole(at_ms(50), at_ms(51));
    let (mut net, _, b, l) = pair(1, Pacer::new(0, 100, 100, ms(1), Instant::ZERO), cfg);
    net.run_until_idle(Instant::from_secs(1));
    let want: Vec<u64> = (0..100)
        .filter(|k| !(20..30).contains(k) && *k != 50)
        .collect();
    assert_eq!(net.host(b).seqs(), want);
    assert_eq!(net.stats(l, Dir::Forward).dropped_blackhole, 11);
}

#[test]
fn middleboxes_run_in_order() {
    let (mut net, _, b, l) = pair(
        1,
        Pacer::new(0, 100, 100, ms(1), Instant::ZERO),
        LinkConfig::new(),
    );
    let d = net.add_middlebox(
        l,
        Dir::Forward,
        DropIf::new(|_, f: &[u8]| toy::seq_of(f).is_some_and(|s| s % 2 == 0)),
    );
    let c = net.add_middlebox(l, Dir::Forward, Corrupter::new(1.0, toy::MIN_FRAME));
    let m = net.add_middlebox(
        l,
        Dir::Forward,
        MapFrame(|_, _: &mut Rng, f: &mut Vec<u8>| {
            f.truncate(90);
            Verdict::Pass
        }),
    );
    assert_eq!((d, c, m), (0, 1, 2));
    let cap = net.capture_memory(Scope::Pipe(l, Dir::Forward), Tap::Deliver);
    net.run_until_idle(Instant::from_secs(1));
    assert_eq!(
        net.host(b).seqs(),
        (0..50).map(|k| 2 * k + 1).collect::<Vec<_>>()
    );
    assert_eq!(net.host(b).bytes, 50 * 90);
    let s = net.stats(l, Dir::Forward);
    assert_eq!((s.dropped_middlebox, s.delivered_packets), (50, 50));
    let dropper = net.middlebox::<DropIf<fn(Instant, &[u8]) -> bool>>(l, Dir::Forward, 0);
    assert!(dropper.is_none(), "wrong type: no downcast");
    assert_eq!(
        net.middlebox::<Corrupter>(l, Dir::Forward, 1)
            .unwrap()
            .corrupted,
        50
    );
    // Each delivered frame differs from the pristine one in at most one bit (the flip may
    // have landed in the truncated tail).
    let frames = parse_pcap(net.capture_bytes(cap).unwrap());
    let mut flipped = 0;
    for (_, f) in &frames {
        let seq = toy::seq_of(f).unwrap();
        let mut want = Vec::new();
        toy::write_frame(&mut want, 1, seq, toy::sent_at(f).unwrap(), 100);
        let bits: u32 = f.iter().zip(&want).map(|(x, y)| (x ^ y).count_ones()).sum();
        assert!(bits <= 1);
        flipped += bits;
    }
    assert!(flipped > 35, "{flipped}");
}

/// A scenario with every random impairment on two links, both directions in use.
fn busy(seed: u64) -> (Network, u64) {
    let mut net = Network::new(seed);
    let a = net.add_host(Pacer::new(0, 1000, 2_000, us(50), Instant::ZERO));
    let b = net.add_host(Sink::echoing());
    let c = net.add_host(Pacer::new(0, 300, 2_000, us(70), Instant::ZERO));
    let cfg = LinkConfig::new()
        .delay(ms(2))
        .rate_bps(100_000_000)
        .queue_packets(20)
        .loss(0.02)
        .reorder(0.05, us(300))
        .duplicate(0.02);
    net.link(a, 0, b, 0, cfg.clone());
    net.link(c, 0, b, 1, cfg);
    net.enable_trace_hash();
    net.run_until_idle(Instant::from_secs(10));
    let h = net.host(b).hash;
    (net, h)
}

#[test]
fn same_seed_same_trace_other_seed_differs() {
    let (n1, h1) = busy(11);
    let (n2, h2) = busy(11);
    let (n3, h3) = busy(12);
    assert_eq!(h1, h2);
    assert_eq!(n1.trace_hash(), n2.trace_hash());
    assert_eq!(n1.total_stats(), n2.total_stats());
    assert_eq!(n1.now(), n2.now());
    assert_ne!(h1, h3);
    assert_ne!(n1.trace_hash(), n3.trace_hash());
    let s = n1.total_stats();
    assert!(s.dropped_loss > 0 && s.reordered > 0 && s.duplicated > 0);
    conserved(&s, 0);
}

#[test]
fn links_have_independent_streams() {
    // Link 0's losses do not change when another link is added after it, nor when
    // duplication is enabled on link 0 itself.
    let run = |extra_link: bool, dup: f64| {
        let mut net = Network::new(5);
        let a = net.add_host(Pacer::new(0, 64, 5_000, us(10), Instant::ZERO));
        let b = net.add_host(Sink::new());
        net.link(a, 0, b, 0, LinkConfig::new().loss(0.2).duplicate(dup));
        if extra_link {
            let c = net.add_host(Pacer::new(0, 64, 5_000, us(7), Instant::ZERO));
            let d = net.add_host(Sink::new());
            net.link(c, 0, d, 0, LinkConfig::new().loss(0.5));
        }
        net.run_until_idle(Instant::from_secs(10));
        let mut seqs = net.host(b).seqs();
        seqs.dedup();
        seqs
    };
    let base = run(false, 0.0);
    assert_eq!(run(true, 0.0), base);
    assert_eq!(run(false, 0.3), base);
}

/// Parses a classic little-endian nanosecond pcap: (time, bytes) per record.
fn parse_pcap(b: &[u8]) -> Vec<(Instant, Vec<u8>)> {
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    assert_eq!(u32_at(0), 0xa1b2_3c4d);
    assert_eq!(
        (u32_at(4), u32_at(16), u32_at(20)),
        (0x0004_0002, 262_144, 1)
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at < b.len() {
        let ns = u64::from(u32_at(at)) * 1_000_000_000 + u64::from(u32_at(at + 4));
        let (incl, orig) = (u32_at(at + 8) as usize, u32_at(at + 12) as usize);
        assert_eq!(incl, orig);
        out.push((Instant::from_nanos(ns), b[at + 16..at + 16 + incl].to_vec()));
        at += 16 + incl;
    }
    out
}

#[test]
fn pcap_capture_records_deliveries_and_sends() {
    let mut net = Network::new(1);
    let a = net.add_host(Pacer::new(0, 200, 20, ms(1), Instant::ZERO));
    let b = net.add_host(Sink::echoing());
    let l = net.link(a, 0, b, 0, LinkConfig::new().delay(ms(3)).loss(0.3));
    let deliver = net.capture_memory(Scope::Link(l), Tap::Deliver);
    let send = net.capture_memory(Scope::All, Tap::Send);
    let path = std::env::temp_dir().join(format!("mpdk-sim-{}.pcap", std::process::id()));
    let file = net
        .capture_file(Scope::Pipe(l, Dir::Backward), Tap::Deliver, &path)
        .unwrap();
    assert_ne!(file, deliver);
    net.run_until_idle(Instant::from_secs(1));
    net.flush_captures().unwrap();

    let sb = net.host(b).log.clone();
    let fwd = *net.stats(l, Dir::Forward);
    let back = *net.stats(l, Dir::Backward);
    let delivered = parse_pcap(net.capture_bytes(deliver).unwrap());
    assert_eq!(
        delivered.len() as u64,
        fwd.delivered_packets + back.delivered_packets
    );
    // Forward deliveries (3 ms after sending) are exactly what the sink logged; the rest
    // are echoes (6 ms after sending).
    let (fwd_caps, back_caps): (Vec<_>, Vec<_>) = delivered
        .iter()
        .partition(|(t, f)| *t == toy::sent_at(f).unwrap() + ms(3));
    let fwd_caps: Vec<(Instant, usize, u64)> = fwd_caps
        .iter()
        .map(|(t, f)| (*t, 0, toy::seq_of(f).unwrap()))
        .collect();
    assert_eq!(fwd_caps, sb);
    assert!(back_caps
        .iter()
        .all(|(t, f)| *t == toy::sent_at(f).unwrap() + ms(6)));
    let sent = parse_pcap(net.capture_bytes(send).unwrap());
    assert_eq!(sent.len() as u64, fwd.sent_packets + back.sent_packets);
    assert_eq!(sent[0].0, Instant::ZERO);
    assert_eq!(sent[0].1.len(), 200);

    let on_disk = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let echoes = parse_pcap(&on_disk);
    assert_eq!(echoes.len() as u64, back.delivered_packets);
    for (t, f) in &echoes {
        // Echo: sent at s, reaches the sink at s + 3 ms, comes back at s + 6 ms.
        assert_eq!(*t, toy::sent_at(f).unwrap() + ms(6));
    }
}

#[test]
fn run_while_step_and_idle() {
    let p = Pacer::new(0, 100, 100, ms(1), Instant::ZERO);
    let (mut net, a, b, _) = pair(1, p, LinkConfig::new().delay(ms(10)));
    let out = net.run_while(Instant::from_secs(1), |n| n.host(b).frames < 50);
    assert_eq!(out, RunOutcome::Condition);
    assert_eq!(net.host(b).frames, 50);
    assert_eq!(net.now(), at_ms(49 + 10));
    assert_eq!(net.run_until_idle(at_ms(80)), RunOutcome::TimeLimit);
    assert_eq!(net.now(), at_ms(80));
    let mut last = net.now();
    while let Some(t) = net.step() {
        assert!(t >= last);
        last = t;
    }
    assert_eq!(last, at_ms(99 + 10));
    assert_eq!(net.run_until_idle(Instant::MAX), RunOutcome::Idle);
    assert!(net.host(a).done());
    assert_eq!(net.in_flight(), 0);
    assert!(net.next_event().is_none());
    net.run_for(ms(5));
    assert_eq!(net.now(), at_ms(114));
}

#[test]
fn host_mut_wakes_host_and_unrouted_counted() {
    let mut net = Network::new(1);
    let a = net.add_host(Manual::default());
    let b = net.add_host(Manual::default());
    let l = net.link(a, 1, b, 0, LinkConfig::new().delay(ms(2)));
    net.run_until(at_ms(10));
    net.host_mut(a).out.push((1, vec![1, 2, 3]));
    net.host_mut(a).out.push((0, vec![9]));
    net.run_until(at_ms(20));
    assert_eq!(net.host(b).got, vec![(at_ms(12), 0, vec![1, 2, 3])]);
    assert_eq!(net.unrouted(), 1);
    assert_eq!(net.stats(l, Dir::Forward).delivered_packets, 1);
    assert!(net.host_at::<Sink>(a.index()).is_none());
    assert!(net.host_at::<Manual>(b.index()).is_some());
    assert_eq!((net.host_count(), net.link_count()), (2, 1));
}

#[test]
fn set_link_config_mid_run() {
    let p = Pacer::new(0, 1500, 20, ms(10), Instant::ZERO);
    let (mut net, _, b, l) = pair(1, p, LinkConfig::new().delay(ms(1)));
    net.run_until(at_ms(95));
    let cfg = net.link_config(l, Dir::Forward).clone().delay(ms(4));
    net.set_link_config(l, Dir::Forward, cfg);
    net.run_until_idle(Instant::from_secs(1));
    let log = &net.host(b).log;
    assert_eq!(log[9].0, at_ms(91));
    assert_eq!(log[10].0, at_ms(104));
}

#[test]
#[should_panic(expected = "livelock")]
fn stuck_timer_panics() {
    #[derive(Debug)]
    struct Stuck;
    impl Host for Stuck {
        fn handle_frame(&mut self, _: Instant, _: usize, _: &[u8]) {}
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_transmit(&mut self, _: Instant, _: &mut dyn FnMut(usize, &[u8])) {}
        fn poll_timeout(&self) -> Option<Instant> {
            Some(Instant::ZERO)
        }
    }
    let mut net = Network::new(1);
    net.add_host(Stuck);
    net.run_until(at_ms(1));
}

#[test]
fn two_paths_different_delays_and_rates() {
    let mut net = Network::new(9);
    let mut client = Pacer::new(0, 1500, 100, Duration::ZERO, Instant::ZERO).with_burst(100);
    client.id = 1;
    let c0 = net.add_host(client);
    let c1 = net.add_host(Pacer::new(0, 1500, 100, Duration::ZERO, Instant::ZERO).with_burst(100));
    let server = net.add_host(Sink::new());
    let fast = LinkConfig::new().delay(ms(10)).rate_bps(100_000_000);
    let slow = LinkConfig::new().delay(ms(40)).rate_bps(10_000_000);
    net.link(c0, 0, server, 0, fast);
    net.link(c1, 0, server, 1, slow);
    net.run_until_idle(Instant::from_secs(10));
    let log = &net.host(server).log;
    let last = |iface| {
        log.iter()
            .filter(|x| x.1 == iface)
            .map(|x| x.0)
            .max()
            .unwrap()
    };
    assert_eq!(last(0), at_us(10_000 + 100 * 120));
    assert_eq!(last(1), at_us(40_000 + 100 * 1_200));
    assert_eq!(net.host(server).per_iface, vec![100, 100]);
}

#[test]
fn throughput_sanity() {
    // One million 64-byte frames through a 10 Gbit/s link with delay; both directions
    // (the sink echoes), so two million deliveries. Printed, never asserted.
    const N: u64 = 1_000_000;
    let mut net = Network::new(1);
    let a = net.add_host(Pacer::new(0, 64, N, us(10), Instant::ZERO).with_burst(100));
    let mut sink = Sink::counting();
    sink.echo = true;
    let b = net.add_host(sink);
    let cfg = LinkConfig::new()
        .delay(us(100))
        .rate_bps(10_000_000_000)
        .loss(0.001);
    let l = net.link(a, 0, b, 0, cfg);
    let start = std::time::Instant::now();
    net.run_until_idle(Instant::from_secs(1_000));
    let wall = start.elapsed().as_secs_f64();
    let s = net.total_stats();
    assert_eq!(net.host(a).sent, N);
    assert_eq!(net.stats(l, Dir::Forward).sent_packets, N);
    conserved(&s, 0);
    println!(
        "sim throughput: {} deliveries, {} steps in {:.3} s wall = {:.2} M deliveries/s",
        s.delivered_packets,
        net.steps(),
        wall,
        s.delivered_packets as f64 / wall / 1e6
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the impairments: every frame is accounted for, a run replays
        /// exactly, and without reordering or duplication a link is FIFO.
        #[test]
        fn accounting_replay_and_fifo(
            seed in any::<u64>(),
            delay_us in 0u64..5_000,
            rate in prop_oneof![Just(0u64), 1_000_000u64..1_000_000_000],
            queue in 1u64..50,
            loss in 0.0f64..0.5,
            reorder in prop_oneof![Just(0.0f64), 0.0f64..0.5],
            dup in prop_oneof![Just(0.0f64), 0.0f64..0.5],
            burst in 1u64..20,
            gap_us in 0u64..2_000,
        ) {
            let cfg = LinkConfig::new()
                .delay(us(delay_us))
                .rate_bps(rate)
                .queue_packets(queue)
                .loss(loss)
                .reorder(reorder, us(700))
                .duplicate(dup)
                .blackhole(at_ms(3), at_ms(4));
            let run = || {
                let p = Pacer::new(0, 700, 300, us(gap_us), Instant::ZERO).with_burst(burst);
                let (mut net, _, b, l) = pair(seed, p, cfg.clone());
                net.enable_trace_hash();
                let out = net.run_until_idle(Instant::from_secs(100));
                (net, b, l, out)
            };
            let (net, b, l, out) = run();
            prop_assert_eq!(out, RunOutcome::Idle);
            let s = *net.stats(l, Dir::Forward);
            prop_assert_eq!(s.sent_packets, 300);
            prop_assert_eq!(s.sent_packets + s.duplicated, s.delivered_packets + s.dropped());
            prop_assert_eq!(net.host(b).frames, s.delivered_packets);
            let (net2, _, _, _) = run();
            prop_assert_eq!(net.trace_hash(), net2.trace_hash());
            if reorder == 0.0 && dup == 0.0 {
                let seqs = net.host(b).seqs();
                prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }
}
