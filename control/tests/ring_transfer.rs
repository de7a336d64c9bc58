//! In-process EAL (no hugepages): two MPTCP host stacks, each on its own worker thread
//! with its own two ports, joined by two back-to-back DPDK ring links, move 1 GiB
//! byte-exact with SHA-256 on both sides, over two subflows (one per link). One EAL per
//! process: this binary holds one test.
#![cfg(feature = "dpdk")]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use control::app::{AppEngine, AppRole, ConnResult, EngineConfig};
use control::apphost::{console_mptcp_config, MptcpAppHost};
use control::cli::EndpointArg;
use control::cli::{Mode, Proto};
use control::node::Node;
use control::runtime::{self, FromWorker, WorkerSetup};
use dataplane::nic::dpdk::ring_link;
use dataplane::stack::Ipv4Cidr;
use dataplane::worker::TscClock;

const GIB: u64 = 1 << 30;

#[test]
fn two_stacks_over_two_ring_links_move_1gib() {
    let args: Vec<String> = [
        "ring-transfer",
        "--no-huge",
        "-m",
        "512",
        "--no-shconf",
        "--no-pci",
        "--file-prefix",
        &format!("mpdk-ring-{}", std::process::id()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = runtime::init_eal(&args).expect("EAL");
    let (a0, b0) = ring_link("p1", 1, 4096).unwrap();
    let (a1, b1) = ring_link("p2", 1, 4096).unwrap();
    let dpdk = runtime::start_ports(eal, &args, Some(vec![a0, a1, b0, b1])).unwrap();
    let clock = TscClock::new(dpdk.eal.tsc_hz());
    let cidr = |p, h| Ipv4Cidr::new(Ipv4Addr::new(10, 0, p, h), 24);
    let mut hosts = Vec::new();
    for (h, ports) in [(1u8, [0usize, 1]), (2, [2, 3])] {
        let mut host = MptcpAppHost::new(console_mptcp_config(u64::from(h) * 7919));
        for (path, &pi) in ports.iter().enumerate() {
            let mut iface = runtime::interface(&dpdk.ports[pi], &[cidr(path as u8 + 1, h)]);
            if h == 1 && path == 1 {
                // The client's second subflow reaches 10.0.1.2 through link 2.
                iface = iface.with_gateway(Ipv4Addr::new(10, 0, 2, 2));
            }
            host.stack.add_interface(iface);
        }
        let endpoints = if h == 1 {
            vec![EndpointArg {
                addr: Ipv4Addr::new(10, 0, 2, 1),
                subflow: true,
                signal: false,
                backup: false,
                port: None,
                dev: None,
            }]
        } else {
            Vec::new()
        };
        host.configure_pm(&endpoints, Default::default(), false)
            .unwrap();
        hosts.push(host);
    }
    let server_host = hosts.pop().unwrap();
    let client_host = hosts.pop().unwrap();
    let base = EngineConfig {
        role: AppRole::Listen(5201),
        mode: Mode::Sink,
        bytes: 0,
        count: 1,
        verify: true,
        abort_after: None,
        proto: Proto::Mptcp,
    };
    let client = Node::new(
        "client",
        client_host,
        AppEngine::new(EngineConfig {
            role: AppRole::Connect(SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 2), 5201)),
            mode: Mode::Source,
            bytes: GIB,
            ..base
        }),
    );
    let server = Node::new("server", server_host, AppEngine::new(base));
    // rte_eal_init pinned this thread (and so its children) to the main lcore's CPU:
    // spread the two workers over the machine's CPUs instead.
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    let setup = WorkerSetup {
        cpu: cpus.first().copied(),
        exit_when_done: true,
        linger: Duration::from_millis(50),
        paused: false,
    };
    let p = &dpdk.ports;
    let (sj, _st, sr) = runtime::spawn_worker_on(
        server,
        vec![p[2].clone(), p[3].clone()],
        dpdk.pool.clone(),
        clock,
        setup,
    );
    let (cj, _ct, cr) = runtime::spawn_worker_on(
        client,
        vec![p[0].clone(), p[1].clone()],
        dpdk.pool.clone(),
        clock,
        WorkerSetup {
            cpu: cpus.last().copied(),
            ..setup
        },
    );
    let collect = |rx: crossbeam_channel::Receiver<FromWorker>| -> Vec<ConnResult> {
        let mut out = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(FromWorker::Results(rs)) => out.extend(rs.into_iter().map(|(_, r)| r)),
                Ok(FromWorker::Exited(_)) | Err(_) => return out,
                Ok(_) => {}
            }
        }
    };
    let c = collect(cr);
    let s = collect(sr);
    cj.join().unwrap();
    sj.join().unwrap();
    assert_eq!((c.len(), s.len()), (1, 1));
    let (c, s) = (&c[0], &s[0]);
    assert_eq!((c.error.as_deref(), s.error.as_deref()), (None, None));
    assert_eq!(c.bytes_sent, GIB);
    assert_eq!(s.bytes_received, GIB);
    assert!(c.sha256_sent.is_some());
    assert_eq!(c.sha256_sent, s.sha256_received);
    let hash = c.sha256_sent.as_deref().unwrap();
    assert_eq!(hash.len(), 64);
    assert_eq!(c.proto_used, Proto::Mptcp);
    assert_eq!((c.subflows_established, s.subflows_established), (2, 2));
    assert_eq!(c.subflows[0].remote.to_string(), "10.0.1.2:5201");
    assert_eq!(c.subflows[1].local.ip().to_string(), "10.0.2.1");
    let per_sf: Vec<u64> = s.subflows.iter().map(|f| f.bytes_received).collect();
    assert!(
        per_sf.iter().all(|&b| b > 0),
        "both subflows carry data: {per_sf:?}"
    );
    assert!(per_sf.iter().sum::<u64>() >= GIB);
    // Each link carried one subflow's data.
    for p in &dpdk.ports[..2] {
        assert!(p.stats().opackets > 10_000, "{:?}", p.stats());
    }
}
