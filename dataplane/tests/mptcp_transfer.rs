//! The MPTCP connection layer end to end in the simulator (issue 4's proofs): real
//! [`MptcpStack`]s on hosts with one interface per path, a bulk application hashing
//! both directions, and middleboxes/faults on the links.

use core::net::{IpAddr, Ipv4Addr};

use dataplane::mptcp::conn::Proto;
use dataplane::mptcp::endpoint::{MptcpConfig, MptcpStack};
use dataplane::mptcp::mib::Mib;
use dataplane::mptcp::pm::{Endpoint, EndpointFlags, Limits};
use dataplane::sim::mptcp_host::{MpBulkApp, MptcpHost};
use dataplane::sim::{Dir, HostId, LinkConfig, LinkId, Network};
use dataplane::stack::{Interface, Ipv4Cidr};
use dataplane::time::{Duration, Instant};
use dataplane::wire::ethernet::EthernetAddress;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const PORT: u16 = 5201;

/// Path `p` (0-based) is the subnet 10.0.(p+1).0/24; the client is .1, the server .2.
fn addr(path: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, path + 1, host)
}

fn iface(path: u8, host: u8) -> Interface {
    let mut i = Interface::new(
        EthernetAddress([2, 0, 0, 0, path, host]),
        Ipv4Cidr::new(addr(path, host), 24),
    );
    // Weak host: the client reaches the server's initial address from every path
    // through the server's address on that path (a join from path p stays on p); the
    // server answers on the interface that has the client's address on link.
    if host == 1 {
        i.gateway = Some(addr(path, 2));
    }
    i
}

fn cfg(seed: u64) -> MptcpConfig {
    let mut c = MptcpConfig::default();
    c.stack.secret = [seed as u8; 32];
    c.seed = seed;
    c
}

struct Net {
    net: Network,
    client: HostId<MptcpHost>,
    server: HostId<MptcpHost>,
    links: Vec<LinkId>,
}

/// `paths` links with `link(p)`; the client has a `subflow` endpoint on every path but
/// the first; the server accepts `joins` additional subflows.
fn build(
    seed: u64,
    paths: u8,
    link: impl Fn(u8) -> LinkConfig,
    bytes: (u64, u64),
    proto: Proto,
    joins: u8,
) -> Net {
    let mut net = Network::new(seed);
    let capp = MpBulkApp::client(addr(0, 2), PORT, Instant::ZERO, bytes.0, seed ^ 0xc1, proto);
    let sapp = MpBulkApp::server(PORT, bytes.1, seed ^ 0x5e);
    let mut c = MptcpHost::new(cfg(seed), (0..paths).map(|p| iface(p, 1)).collect(), capp);
    let mut s = MptcpHost::new(
        cfg(seed + 1),
        (0..paths).map(|p| iface(p, 2)).collect(),
        sapp,
    );
    for p in 1..paths {
        c.stack
            .endpoints_mut()
            .add(Endpoint {
                id: 0,
                addr: IpAddr::V4(addr(p, 1)),
                port: None,
                flags: EndpointFlags::SUBFLOW,
                dev: None,
            })
            .unwrap();
    }
    for st in [&mut c.stack, &mut s.stack] {
        st.endpoints_mut()
            .set_limits(Limits {
                subflows: joins,
                add_addr_accepted: 0,
            })
            .unwrap();
    }
    let client = net.add_host(c);
    let server = net.add_host(s);
    let links = (0..paths)
        .map(|p| net.link(client, usize::from(p), server, usize::from(p), link(p)))
        .collect();
    Net {
        net,
        client,
        server,
        links,
    }
}

fn run(n: &mut Net, limit: Instant) {
    let (c, s) = (n.client, n.server);
    n.net.run_while(limit, |net| {
        !(net.host(c).app.is_done() && net.host(s).app.is_done())
    });
}

fn assert_exact(n: &Net, bytes: (u64, u64)) {
    let (c, s) = (&n.net.host(n.client).app, &n.net.host(n.server).app);
    assert!(
        c.is_done() && s.is_done(),
        "not done at {:?}: client {}/{} server {}/{} errors {:?} {:?}",
        n.net.now(),
        c.received(),
        bytes.1,
        s.received(),
        bytes.0,
        c.error(),
        s.error()
    );
    assert_eq!(c.error(), None);
    assert_eq!(s.error(), None);
    assert_eq!(s.received(), bytes.0);
    assert_eq!(c.received(), bytes.1);
    assert_eq!(
        c.sent_digest(),
        s.received_digest(),
        "client -> server differs"
    );
    assert_eq!(
        s.sent_digest(),
        c.received_digest(),
        "server -> client differs"
    );
}

fn mib(n: &Net, server: bool, m: Mib) -> u64 {
    let h = if server { n.server } else { n.client };
    n.net.host(h).stack.mib().get(m)
}

fn stack(n: &Net, server: bool) -> &MptcpStack {
    &n.net.host(if server { n.server } else { n.client }).stack
}

fn link(delay_ms: u64, mbps: u64) -> LinkConfig {
    LinkConfig::new()
        .delay(Duration::from_millis(delay_ms))
        .rate_bps(mbps * 1_000_000)
        .queue_bytes(256 * KIB)
}

#[test]
fn one_path_byte_exact_both_directions() {
    let bytes = (4 * MIB, 3 * MIB);
    let mut n = build(1, 1, |_| link(5, 100), bytes, Proto::Mptcp, 0);
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, true, Mib::MPCapableSYNRX), 1);
    assert_eq!(mib(&n, false, Mib::MPCapableSYNACKRX), 1);
    assert_eq!(mib(&n, true, Mib::MPCapableACKRX), 1);
    let c = n.net.host(n.client).app.conn().unwrap();
    assert!(!stack(&n, false).is_fallback(c));
    assert_eq!(mib(&n, false, Mib::MPCapableDataFallback), 0);
    assert_eq!(mib(&n, true, Mib::DssFallback), 0);
}

#[test]
fn two_paths_with_a_join_byte_exact_both_directions() {
    let bytes = (16 * MIB, 12 * MIB);
    let mut n = build(
        2,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
    );
    run(&mut n, Instant::from_secs(60));
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, false, Mib::MPJoinSynTx), 1);
    assert_eq!(mib(&n, true, Mib::MPJoinSynRx), 1);
    assert_eq!(mib(&n, false, Mib::MPJoinSynAckRx), 1);
    assert_eq!(mib(&n, true, Mib::MPJoinAckRx), 1);
    // The slower path's data arrives out of order at the data level.
    assert!(mib(&n, true, Mib::OFOQueue) > 0);
    assert!(mib(&n, false, Mib::OFOQueue) > 0);
    // Both paths carried data both ways.
    for l in &n.links {
        for d in [Dir::Forward, Dir::Backward] {
            let st = n.net.stats(*l, d);
            assert!(st.delivered_bytes > 2 * MIB, "{l:?} {d:?}: {st:?}");
        }
    }
    println!("2 paths: done at {:?}", n.net.now());
}
