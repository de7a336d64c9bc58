//! The console's app engine in the deterministic simulator (no DPDK): two `Node`s (a
//! TCP host stack plus the engine, exactly what the worker runs) joined by two links.

use std::net::{Ipv4Addr, SocketAddrV4};

use control::app::{AppEngine, AppRole, ConnResult, EngineConfig};
use control::apphost::{console_stack_config, TcpAppHost};
use control::cli::{Mode, Proto};
use control::node::Node;
use dataplane::sim::{HostId, LinkConfig, Network};
use dataplane::stack::{Interface, Ipv4Cidr};
use dataplane::time::{Duration, Instant};
use dataplane::wire::ethernet::EthernetAddress;
use sha2::{Digest, Sha256};

type N = Node<TcpAppHost>;

fn host(id: u8, seed: u64) -> TcpAppHost {
    let mut h = TcpAppHost::new(console_stack_config(seed));
    for path in 1..=2u8 {
        h.stack.add_interface(Interface::new(
            EthernetAddress([2, 0, 0, 0, path, id]),
            Ipv4Cidr::new(Ipv4Addr::new(10, 0, path, id), 24),
        ));
    }
    h
}

fn cfg(role: AppRole, mode: Mode) -> EngineConfig {
    EngineConfig {
        role,
        mode,
        bytes: 0,
        count: 1,
        verify: true,
        abort_after: None,
        proto: Proto::Mptcp,
    }
}

const PORT: u16 = 5201;

fn server_addr() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 2), PORT)
}

/// Client (10.0.x.1) and server (10.0.x.2) over two 1 ms links; the server is added
/// `server_delay` after the client started (the client must retry until it listens).
fn run(
    client: EngineConfig,
    server: EngineConfig,
    server_delay: Duration,
    limit: Instant,
) -> (Network, HostId<N>, HostId<N>) {
    let mut net = Network::new(7);
    let c = net.add_host(Node::new("client", host(1, 1), AppEngine::new(client)));
    // The server's engine exists from the start but stays paused (no listener) until
    // `server_delay`: a connector that starts first must retry.
    let mut s_engine = AppEngine::new(server);
    s_engine.set_paused(true);
    let s = net.add_host(Node::new("server", host(2, 2), s_engine));
    let link = LinkConfig::new().delay(Duration::from_millis(1));
    net.link(c, 0, s, 0, link.clone());
    net.link(c, 1, s, 1, link);
    net.run_until(Instant::ZERO + server_delay);
    net.host_mut(s).app.set_paused(false);
    // Wake the server so its engine runs (the sim polls hosts on events).
    net.run_while(limit, |n| {
        !(n.host(c).app.is_done() && n.host(s).app.is_done())
    });
    (net, c, s)
}

fn results(net: &mut Network, id: HostId<N>) -> Vec<ConnResult> {
    net.host_mut(id).app.take_results()
}

fn stream_hash(n: u64) -> String {
    // The same generator the engine uses: xoshiro256** words from the fixed seed,
    // little-endian. Recomputed here independently of the engine's own hash.
    let mut rng = dataplane::sim::Rng::new(0x6d70_646b_5f73_7263);
    let mut h = Sha256::new();
    let mut left = n;
    while left > 0 {
        let w = rng.next_u64().to_le_bytes();
        let k = left.min(8) as usize;
        h.update(&w[..k]);
        left -= k as u64;
    }
    control::app::hex(&h.finalize())
}

#[test]
fn source_to_sink_byte_exact_with_late_listener() {
    let bytes = 3 * 1024 * 1024 + 5;
    let (mut net, c, s) = run(
        EngineConfig {
            bytes,
            ..cfg(AppRole::Connect(server_addr()), Mode::Source)
        },
        cfg(AppRole::Listen(PORT), Mode::Sink),
        Duration::from_millis(700),
        Instant::from_secs(30),
    );
    assert!(
        net.host(c).app.attempts >= 1,
        "the first attempt met no listener"
    );
    let cr = results(&mut net, c);
    let sr = results(&mut net, s);
    assert_eq!((cr.len(), sr.len()), (1, 1));
    let (cr, sr) = (&cr[0], &sr[0]);
    assert_eq!(cr.error, None);
    assert_eq!(sr.error, None);
    assert_eq!((cr.role, sr.role), ("client", "server"));
    assert_eq!(cr.bytes_sent, bytes);
    assert_eq!(sr.bytes_received, bytes);
    assert_eq!(cr.sha256_sent, sr.sha256_received);
    assert_eq!(cr.sha256_sent.as_deref(), Some(stream_hash(bytes).as_str()));
    // Plain TCP until the MPTCP stack is wired in: reported as such.
    assert_eq!(cr.proto_used, Proto::Tcp);
    assert_eq!(cr.subflows_established, 1);
    assert_eq!(cr.subflows.len(), 1);
    assert_eq!(cr.subflows[0].remote, server_addr());
    assert_eq!(sr.subflows[0].bytes_received, bytes);
    assert!(cr
        .counters
        .iter()
        .any(|&(k, v)| k == "TcpActiveOpens" && v >= 1));
    assert!(sr.seconds > 0.0);
}

#[test]
fn echo_returns_the_stream_and_count_serves_several() {
    let bytes = 256 * 1024;
    let (mut net, c, s) = run(
        EngineConfig {
            bytes,
            count: 3,
            ..cfg(AppRole::Connect(server_addr()), Mode::Source)
        },
        EngineConfig {
            count: 3,
            ..cfg(AppRole::Listen(PORT), Mode::Echo)
        },
        Duration::ZERO,
        Instant::from_secs(30),
    );
    let cr = results(&mut net, c);
    let sr = results(&mut net, s);
    assert_eq!((cr.len(), sr.len()), (3, 3));
    let want = stream_hash(bytes);
    for r in cr.iter() {
        assert_eq!(r.error, None);
        assert_eq!((r.bytes_sent, r.bytes_received), (bytes, bytes));
        assert_eq!(r.sha256_sent.as_deref(), Some(want.as_str()));
        assert_eq!(r.sha256_received.as_deref(), Some(want.as_str()));
    }
    for r in sr.iter() {
        assert_eq!((r.bytes_sent, r.bytes_received), (bytes, bytes));
    }
}

#[test]
fn abort_after_resets_the_peer() {
    let (mut net, c, s) = run(
        EngineConfig {
            bytes: 8 << 20,
            abort_after: Some(1 << 20),
            ..cfg(AppRole::Connect(server_addr()), Mode::Source)
        },
        cfg(AppRole::Listen(PORT), Mode::Sink),
        Duration::ZERO,
        Instant::from_secs(30),
    );
    let cr = results(&mut net, c);
    let sr = results(&mut net, s);
    assert!(cr[0].aborted && cr[0].error.is_none());
    assert!(cr[0].bytes_sent >= 1 << 20 && cr[0].bytes_sent < 8 << 20);
    assert_eq!(sr[0].error.as_deref(), Some("connection reset"));
    assert!(sr[0].bytes_received < 8 << 20);
    let rsts = net
        .host(c)
        .host
        .stack
        .counters()
        .iter()
        .find(|(k, _)| *k == "TcpOutRsts")
        .map(|(_, v)| v);
    // The abort's RST, then one for each ACK still in flight to the gone connection.
    assert!(rsts.is_some_and(|n| n >= 1), "{rsts:?}");
}

type M = Node<control::apphost::MptcpAppHost>;

/// Client and server MPTCP hosts over two 1 ms links (the client opens a second
/// subflow from 10.0.2.1); returns when both engines are done or at `limit`.
fn run_mptcp(
    client: EngineConfig,
    server: EngineConfig,
    limit: Instant,
) -> (Network, HostId<M>, HostId<M>) {
    run_mptcp_with(client, server, limit, false)
}

/// [`run_mptcp`], optionally with a middlebox that strips option 30 from every segment
/// the server sends (so the client falls back to TCP at its SYN/ACK).
fn run_mptcp_with(
    client: EngineConfig,
    server: EngineConfig,
    limit: Instant,
    strip: bool,
) -> (Network, HostId<M>, HostId<M>) {
    use control::apphost::{console_mptcp_config, MptcpAppHost};
    let mk = |id: u8, seed: u64| {
        let mut h = MptcpAppHost::new(console_mptcp_config(seed));
        for path in 1..=2u8 {
            h.stack.add_interface(Interface::new(
                EthernetAddress([2, 0, 0, 0, path, id]),
                Ipv4Cidr::new(Ipv4Addr::new(10, 0, path, id), 24),
            ));
        }
        h
    };
    let mut c = mk(1, 1);
    let ep = control::cli::EndpointArg {
        addr: Ipv4Addr::new(10, 0, 2, 1),
        subflow: true,
        signal: false,
        backup: false,
        port: None,
        dev: None,
    };
    c.configure_pm(&[ep], Default::default(), false).unwrap();
    let mut s = mk(2, 2);
    s.configure_pm(&[], Default::default(), false).unwrap();
    let mut net = Network::new(11);
    let c = net.add_host(Node::new("client", c, AppEngine::new(client)));
    let s = net.add_host(Node::new("server", s, AppEngine::new(server)));
    let link = LinkConfig::new().delay(Duration::from_millis(1));
    let l0 = net.link(c, 0, s, 0, link.clone());
    let l1 = net.link(c, 1, s, 1, link);
    if strip {
        for l in [l0, l1] {
            net.add_middlebox(
                l,
                dataplane::sim::Dir::Backward,
                dataplane::sim::StripOption::mptcp(dataplane::sim::Which::All),
            );
        }
    }
    net.run_while(limit, |n| {
        !(n.host(c).app.is_done() && n.host(s).app.is_done())
    });
    (net, c, s)
}

#[test]
fn mptcp_source_to_sink_byte_exact_with_two_subflows() {
    let bytes = 8 << 20;
    let (mut net, c, s) = run_mptcp(
        EngineConfig {
            bytes,
            ..cfg(AppRole::Connect(server_addr()), Mode::Source)
        },
        cfg(AppRole::Listen(PORT), Mode::Sink),
        Instant::from_secs(30),
    );
    let cr = net.host_mut(c).app.take_results();
    let sr = net.host_mut(s).app.take_results();
    assert_eq!(
        (cr.len(), sr.len()),
        (1, 1),
        "both finished by {:?}",
        net.now()
    );
    let (cr, sr) = (&cr[0], &sr[0]);
    assert_eq!((cr.error.as_deref(), sr.error.as_deref()), (None, None));
    assert_eq!(cr.proto_used, Proto::Mptcp);
    assert_eq!(sr.bytes_received, bytes);
    assert_eq!(cr.sha256_sent, sr.sha256_received);
    assert_eq!(cr.sha256_sent.as_deref(), Some(stream_hash(bytes).as_str()));
    assert_eq!(cr.subflows_established, 2);
    assert!(cr
        .counters
        .iter()
        .any(|&(k, v)| k == "MPJoinSynTx" && v == 1));
}

/// Regression: a DATA_FIN claimed inside `shutdown` (everything already handed to the
/// subflows, so no time was at hand) never armed its retransmission timer; the close
/// could then stall forever (seen in about one demo run in four).
#[test]
fn mptcp_small_transfer_closes() {
    for bytes in [1u64, 1000, 100_000] {
        let (mut net, c, s) = run_mptcp(
            EngineConfig {
                bytes,
                ..cfg(AppRole::Connect(server_addr()), Mode::Source)
            },
            cfg(AppRole::Listen(PORT), Mode::Sink),
            Instant::from_secs(20),
        );
        let cr = net.host_mut(c).app.take_results();
        let sr = net.host_mut(s).app.take_results();
        assert_eq!((cr.len(), sr.len()), (1, 1), "{bytes} bytes: both finished");
        assert_eq!(sr[0].bytes_received, bytes);
        assert_eq!(cr[0].sha256_sent, sr[0].sha256_received);
    }
}

/// A connection that fell back to TCP reports `"proto_used": "tcp"` in its result, even
/// though the stack has forgotten the closed connection by then.
#[test]
fn fallback_is_reported_as_tcp() {
    let bytes = 1 << 20;
    let (mut net, c, s) = run_mptcp_with(
        EngineConfig {
            bytes,
            ..cfg(AppRole::Connect(server_addr()), Mode::Source)
        },
        cfg(AppRole::Listen(PORT), Mode::Sink),
        Instant::from_secs(30),
        true,
    );
    let cr = net.host_mut(c).app.take_results();
    let sr = net.host_mut(s).app.take_results();
    assert_eq!((cr.len(), sr.len()), (1, 1));
    assert_eq!(sr[0].bytes_received, bytes);
    assert_eq!(cr[0].sha256_sent, sr[0].sha256_received);
    assert_eq!(cr[0].proto_used, Proto::Tcp, "the client fell back");
    assert_eq!(sr[0].proto_used, Proto::Tcp, "the server fell back");
}

/// `--abort-after` over MPTCP: the aborting side's result counts the MP_FASTCLOSE it
/// sent (the counters are read after the abort), the peer ends with a reset and counts
/// the MP_FASTCLOSE it received (interop cases 5c/5d judge these from both sides).
#[test]
fn mptcp_abort_after_counts_the_fastclose_both_sides() {
    let (mut net, c, s) = run_mptcp(
        EngineConfig {
            bytes: 8 << 20,
            abort_after: Some(1 << 20),
            ..cfg(AppRole::Connect(server_addr()), Mode::Source)
        },
        cfg(AppRole::Listen(PORT), Mode::Sink),
        Instant::from_secs(20),
    );
    let cr = net.host_mut(c).app.take_results();
    let sr = net.host_mut(s).app.take_results();
    assert_eq!((cr.len(), sr.len()), (1, 1), "both finished");
    let count = |r: &ConnResult, name: &str| {
        r.counters
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(0, |&(_, v)| v)
    };
    assert!(cr[0].aborted && cr[0].error.is_none());
    assert!(count(&cr[0], "MPFastcloseTx") >= 1, "{:?}", cr[0].counters);
    assert_eq!(sr[0].error.as_deref(), Some("connection reset"));
    assert!(count(&sr[0], "MPFastcloseRx") >= 1, "{:?}", sr[0].counters);
}
