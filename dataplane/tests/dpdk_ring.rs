//! The DPDK wrappers against the real EAL: no hugepages, two `net_ring` ports joined
//! back to back (what one transmits the other receives). One EAL per process, so this
//! file holds a single test that does everything in order.
#![cfg(feature = "dpdk")]

use dataplane::nic::dpdk::{DpdkError, Eal, Mempool, Port, PortConfig};

#[test]
fn eal_ports_mbufs_and_bursts() {
    let args: Vec<String> = [
        "mpdk-test",
        "--no-huge",
        "-m",
        "512",
        "--no-shconf",
        "--no-pci",
        "--log-level=lib.eal:error",
        "--vdev=net_ring0",
        "--vdev=net_ring1",
        "-l",
        "0",
        "--",
        "--app-option",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args).expect("EAL comes up without hugepages");
    assert_eq!(eal.app_args, vec!["--app-option".to_string()]);
    assert!(eal.tsc_hz() > 0);
    assert_eq!(
        Eal::init(&args).unwrap_err(),
        DpdkError::EalAlreadyInitialised
    );
    assert_eq!(eal.port_count(), 2);

    let pool = Mempool::new("test_pool", 4095, 64, 2048 + 128).expect("mempool");
    assert!(matches!(
        Port::start(7, &PortConfig::default(), &pool),
        Err(DpdkError::NoSuchPort(7))
    ));
    let cfg = PortConfig {
        rx_desc: 512,
        tx_desc: 512,
        ..Default::default()
    };
    let p0 = Port::start(0, &cfg, &pool).expect("port 0");
    let p1 = Port::start(1, &cfg, &pool).expect("port 1");
    assert_eq!(p0.driver(), "net_ring");
    assert!(p0.link().up);

    // 1024 frames (32 bursts of 32) through the ring ports, byte-exact.
    let mut sent = 0u32;
    let mut got = Vec::new();
    let mut batch = Vec::with_capacity(32);
    let mut rx = Vec::with_capacity(64);
    while sent < 1024 {
        for _ in 0..32 {
            let mut m = pool.alloc().expect("mbuf");
            let d = m.append(64).expect("room for 64 bytes");
            d[..4].copy_from_slice(&sent.to_be_bytes());
            d[4..].fill((sent % 251) as u8);
            batch.push(m);
            sent += 1;
        }
        let mut n = 0;
        while !batch.is_empty() {
            n += p0.tx_burst(0, &mut batch);
        }
        assert_eq!(n, 32);
        // net_ring ports share rings: what port 0 sends, port 0 or 1 receives, depending
        // on how the vdevs were wired; collect from both.
        for p in [&p0, &p1] {
            while p.rx_burst(0, &mut rx) > 0 {
                for m in rx.drain(..) {
                    let d = m.data();
                    assert_eq!(d.len(), 64);
                    let i = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                    assert!(d[4..].iter().all(|&b| b == (i % 251) as u8));
                    got.push(i);
                }
            }
        }
    }
    got.sort_unstable();
    assert!(got.iter().copied().eq(0..1024), "every frame once, in full");
    let s = p0.stats();
    assert_eq!(s.opackets, 1024);
    p0.clear_stats();
    drop((p0, p1));
    drop(pool);
    drop(eal);
}
