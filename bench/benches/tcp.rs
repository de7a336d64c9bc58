//! Throughput of the TCP engine and host stack per CPU second: two stacks move a bulk
//! transfer over a simulated 10 Gbit/s link (every frame is really emitted, checksummed,
//! parsed, demultiplexed and acknowledged), without stream hashing so the figure is
//! the stack's own cost. Criterion reports bytes per wall-clock second of the whole
//! simulation, i.e. what one core can push through both ends of a connection.

use core::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::sim::tcp_host::{BulkApp, TcpHost};
use dataplane::sim::{LinkConfig, Network};
use dataplane::stack::{Interface, Ipv4Cidr, StackConfig};
use dataplane::tcp::TcpConfig;
use dataplane::time::{Duration, Instant};
use dataplane::wire::ethernet::EthernetAddress;

const BYTES: u64 = 16 << 20;

fn host(last: u8, app: BulkApp) -> TcpHost {
    let cfg = StackConfig {
        tcp: TcpConfig {
            send_buffer: 4 << 20,
            recv_buffer: 4 << 20,
            ..TcpConfig::default()
        },
        secret: [last; 32],
        ..StackConfig::default()
    };
    let iface = Interface::new(
        EthernetAddress([2, 0, 0, 0, 0, last]),
        Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, last), 24),
    );
    TcpHost::new(cfg, iface, app)
}

fn transfer(bidirectional: bool) -> u64 {
    let mut net = Network::new(7);
    let back = if bidirectional { BYTES } else { 0 };
    let c = net.add_host(host(
        1,
        BulkApp::client(Ipv4Addr::new(10, 0, 0, 2), 5201, Instant::ZERO, BYTES, 1)
            .without_hashing(),
    ));
    let s = net.add_host(host(2, BulkApp::server(5201, back, 2).without_hashing()));
    let link = LinkConfig::new()
        .delay(Duration::from_micros(50))
        .rate_bps(10_000_000_000)
        .queue_bytes(4 << 20);
    net.link(c, 0, s, 0, link);
    net.run_while(Instant::from_secs(60), |n| {
        !(n.host(c).app.is_done() && n.host(s).app.is_done())
    });
    let got = net.host(s).app.received() + net.host(c).app.received();
    assert_eq!(got, BYTES + back, "transfer completes");
    got
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_stack");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(BYTES));
    g.bench_function("bulk_16MiB_one_way", |b| b.iter(|| transfer(false)));
    g.throughput(Throughput::Bytes(2 * BYTES));
    g.bench_function("bulk_16MiB_both_ways", |b| b.iter(|| transfer(true)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
