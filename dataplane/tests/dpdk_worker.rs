//! The worker poll loop on the real EAL (no hugepages): two workers joined by two
//! back-to-back ring links (`ring_link`), one driving a frame pacer on both ports and
//! the other a sink that records every frame. One EAL per process, so one test.
#![cfg(feature = "dpdk")]

use std::sync::Arc;

use dataplane::nic::dpdk::{ring_link, Eal, Mempool, Port, PortConfig};
use dataplane::sim::toy::{Pacer, Sink};
use dataplane::time::{Duration, Instant};
use dataplane::worker::{TscClock, Worker};

#[test]
fn two_workers_over_ring_links() {
    let args: Vec<String> = [
        "mpdk-test",
        "--no-huge",
        "-m",
        "512",
        "--no-shconf",
        "--no-pci",
        "--log-level=lib.eal:error",
        "-l",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args).expect("EAL without hugepages");
    assert_eq!(eal.port_count(), 0, "no vdevs given");
    let (a0, b0) = ring_link("path1", 1, 1024).expect("ring link 1");
    let (a1, b1) = ring_link("path2", 1, 1024).expect("ring link 2");
    assert_eq!(eal.port_count(), 4);
    let pool = Arc::new(Mempool::new("worker_pool", 8191, 0, 2048 + 128).expect("mempool"));
    let cfg = PortConfig::default();
    let start = |id| Arc::new(Port::start(id, &cfg, &pool).expect("port starts"));
    let (pa0, pa1, pb0, pb1) = (start(a0), start(a1), start(b0), start(b1));

    let clock = TscClock::new(eal.tsc_hz());
    let count = 20_000;
    let gap = Duration::from_micros(5);
    // Interface 0 of the pacer is path 1; a second pacer would need a second host, so
    // the sink's interfaces are checked by where frames arrive.
    let pacer = Pacer::new(0, 1000, count, gap, Instant::ZERO).with_burst(16);
    let mut a = Worker::new(pacer, vec![pa0, pa1], 0, pool.clone(), clock);
    let mut b = Worker::new(Sink::new(), vec![pb0, pb1], 0, pool.clone(), clock);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while b.host().frames < count && std::time::Instant::now() < deadline {
        a.poll();
        b.poll();
    }
    let sink = b.host();
    assert_eq!(
        a.stats().tx_dropped,
        0,
        "ring never full at this pace: {:?}",
        a.stats()
    );
    assert_eq!(
        sink.frames,
        count,
        "every frame arrives: {:?} {:?}",
        a.stats(),
        b.stats()
    );
    assert_eq!(
        sink.per_iface.first().copied(),
        Some(count),
        "all on path 1"
    );
    let mut seqs = sink.seqs();
    seqs.sort_unstable();
    assert!(seqs.iter().copied().eq(0..count), "each frame exactly once");
    assert_eq!(b.stats().rx_frames, count);
    assert_eq!(a.stats().tx_frames, count);
    // Mbufs all came back to the pool (freed after receive).
    drop((a, b));
    assert_eq!(pool.available(), 8191);
}
