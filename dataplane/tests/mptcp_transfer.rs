//! The MPTCP connection layer end to end in the simulator (issue 4's proofs): real
//! [`MptcpStack`]s on hosts with one interface per path (path p is 10.0.(p+1).0/24,
//! client .1, server .2), a bulk application that sends a seeded stream and SHA-256
//! hashes both directions, and middleboxes/faults on the links. Every transfer is
//! deterministic (seeded network).
//!
//! | what | tests |
//! | --- | --- |
//! | MPTCP over 1, 2 and 4 paths, byte-exact both ways (up to 256 MiB each way) | `one_path_*`, `two_paths_*`, `four_paths_*` |
//! | DSS checksums; impaired paths (loss, reordering, duplication) | `two_paths_with_dss_checksums`, `impaired_paths_stay_byte_exact` |
//! | fallback: option 30 stripped from SYN/ACK, third ACK, all data; MPC SYNs dropped; plain TCP client | `fallback_*`, `mptcp_syns_dropped_*`, `plain_tcp_client_*` |
//! | refused joins (unknown token, bad HMAC, limit) with MP_TCPRST, connection unharmed | `join_*` |
//! | MP_FASTCLOSE mid-transfer; blackholed path (stale, reinjection) | `fastclose_*`, `a_blackholed_path_*` |
//! | checksum failure: MP_FAIL + infinite mapping (1 subflow), reset (2 subflows) | `corrupted_payload_*` |
//! | ADD_ADDR, MP_PRIO, REMOVE_ADDR, subflow removal, events | `announced_*`, `backup_*`, `removed_address_*`, `the_initial_subflow_*` |
//! | Linux simult_flows.sh cases, efficiency printed (`--nocapture`) | `simult_flows_*` |
//! | 24 concurrent connections through the bare API | `many_concurrent_*` |

use core::net::{IpAddr, Ipv4Addr};

use dataplane::mptcp::conn::Proto;
use dataplane::mptcp::endpoint::{MptcpConfig, MptcpStack};
use dataplane::mptcp::mib::Mib;
use dataplane::mptcp::pm::{Endpoint, EndpointFlags, Limits};
use dataplane::sim::mptcp_host::{MpBulkApp, MptcpHost};
use dataplane::sim::{
    CorruptPayload, Dir, HostId, LinkConfig, LinkId, Network, RewriteOption, StripOption, Which,
};
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
    build_with(
        seed,
        paths,
        link,
        bytes,
        proto,
        joins,
        (cfg(seed), cfg(seed + 1)),
    )
}

/// [`build`] with the client's and the server's configurations given.
fn build_with(
    seed: u64,
    paths: u8,
    link: impl Fn(u8) -> LinkConfig,
    bytes: (u64, u64),
    proto: Proto,
    joins: u8,
    (ccfg, scfg): (MptcpConfig, MptcpConfig),
) -> Net {
    let mut net = Network::new(seed);
    let capp = MpBulkApp::client(addr(0, 2), PORT, Instant::ZERO, bytes.0, seed ^ 0xc1, proto);
    let sapp = MpBulkApp::server(PORT, bytes.1, seed ^ 0x5e);
    let mut c = MptcpHost::new(ccfg, (0..paths).map(|p| iface(p, 1)).collect(), capp);
    let mut s = MptcpHost::new(scfg, (0..paths).map(|p| iface(p, 2)).collect(), sapp);
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
    // The client may open up to 8 subflows; the server accepts `joins`.
    for (st, n) in [(&mut c.stack, 8), (&mut s.stack, joins)] {
        st.endpoints_mut()
            .set_limits(Limits {
                subflows: n,
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
    assert!(!fell_back(&n));
    // Closed and forgotten on both sides.
    assert!(stack(&n, false).connections().is_empty());
    assert!(stack(&n, true).connections().is_empty());
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
    // The events an application (or `pm monitor`) sees, in order.
    use dataplane::mptcp::endpoint::MpEvent;
    n.net.run_for(Duration::from_secs(1));
    let cev = n.net.host(n.client).app.events();
    let sev = n.net.host(n.server).app.events();
    let cc = n.net.host(n.client).app.conn().unwrap();
    let sc = n.net.host(n.server).app.conn().unwrap();
    let pos = |ev: &[MpEvent], e: MpEvent| ev.iter().position(|x| *x == e);
    let connected = pos(cev, MpEvent::Connected(cc)).expect("Connected");
    let joined = pos(cev, MpEvent::SubflowEstablished { conn: cc, id: 1 }).expect("join");
    let closed = pos(cev, MpEvent::Closed(cc)).unwrap_or_else(|| panic!("{cev:?}"));
    assert!(connected < joined && joined < closed, "{cev:?}");
    assert!(
        pos(sev, MpEvent::Acceptable { port: PORT }).is_some(),
        "{sev:?}"
    );
    assert!(
        pos(sev, MpEvent::SubflowEstablished { conn: sc, id: 1 }).is_some(),
        "{sev:?}"
    );
    assert!(pos(sev, MpEvent::Closed(sc)).is_some(), "{sev:?}");
    assert!(!cev.iter().any(|e| matches!(e, MpEvent::Fallback(_))));
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

// ---------------------------------------------------------------------------------
// Version handling (RFC 8684 §3.1): v1 by default; a v0 SYN falls back to TCP unless v0
// is enabled, in which case v0 (RFC 6824, SHA-1) is spoken.
// ---------------------------------------------------------------------------------

/// Whether the client's application saw its connection fall back to TCP (the stack
/// forgets a closed connection, so this reads the event log, not `is_fallback`).
fn fell_back(n: &Net) -> bool {
    use dataplane::mptcp::endpoint::MpEvent;
    n.net
        .host(n.client)
        .app
        .events()
        .iter()
        .any(|e| matches!(e, MpEvent::Fallback(_)))
}

fn v0_run(seed: u64, server_allows_v0: bool) -> Net {
    let bytes = (6 * MIB, 5 * MIB);
    let (mut c, mut s) = (cfg(seed), cfg(seed + 1));
    c.handshake.client_version = dataplane::wire::mptcp::Version::V0;
    c.handshake.allow_v0 = true;
    s.handshake.allow_v0 = server_allows_v0;
    let mut n = build_with(seed, 2, |_| link(5, 50), bytes, Proto::Mptcp, 2, (c, s));
    run(&mut n, Instant::from_secs(60));
    assert_exact(&n, bytes);
    n
}

#[test]
fn a_v0_client_speaks_v0_with_a_server_that_enables_it() {
    let n = v0_run(41, true);
    assert!(!fell_back(&n), "v0 spoken, no fallback");
    assert_eq!(mib(&n, true, Mib::MPCapableSYNRX), 1);
    assert_eq!(mib(&n, true, Mib::MPCapableACKRX), 1);
    // v0 joins too: the HMACs are SHA-1 (RFC 6824 §3.2).
    assert_eq!(mib(&n, true, Mib::MPJoinAckRx), 1);
    assert_eq!(mib(&n, true, Mib::MPJoinAckHMacFailure), 0);
}

#[test]
fn a_v0_syn_falls_back_to_tcp_as_linux_does() {
    let n = v0_run(42, false);
    assert!(fell_back(&n), "plain TCP after a v0 SYN");
    assert_eq!(mib(&n, true, Mib::MPJoinSynRx), 0);
}

// ---------------------------------------------------------------------------------
// Fallback (RFC 8684 §3.7)
// ---------------------------------------------------------------------------------

fn fallback_run(seed: u64, dir: Dir, which: Which) -> Net {
    let bytes = (2 * MIB, 2 * MIB);
    let mut n = build(seed, 1, |_| link(5, 100), bytes, Proto::Mptcp, 0);
    n.net
        .add_middlebox(n.links[0], dir, StripOption::mptcp(which));
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    n
}

#[test]
fn fallback_when_the_synack_option_is_stripped() {
    let n = fallback_run(11, Dir::Backward, Which::SynAck);
    assert_eq!(mib(&n, false, Mib::MPCapableFallbackSYNACK), 1);
    assert_eq!(mib(&n, true, Mib::MPCapableFallbackACK), 1);
    assert_eq!(mib(&n, false, Mib::MPCapableSYNACKRX), 0);
}

#[test]
fn fallback_when_the_third_ack_option_is_stripped() {
    let n = fallback_run(12, Dir::Forward, Which::ThirdAck);
    assert_eq!(mib(&n, false, Mib::MPCapableSYNACKRX), 1);
    assert_eq!(mib(&n, true, Mib::MPCapableFallbackACK), 1);
    assert_eq!(mib(&n, true, Mib::MPCapableACKRX), 0);
    // The client learned it from the server's data without DSS.
    assert_eq!(mib(&n, false, Mib::MPCapableDataFallback), 1);
}

#[test]
fn fallback_when_options_are_stripped_from_all_data() {
    let mut n = {
        let bytes = (2 * MIB, 2 * MIB);
        let mut n = build(13, 1, |_| link(5, 100), bytes, Proto::Mptcp, 0);
        n.net
            .add_middlebox(n.links[0], Dir::Forward, StripOption::mptcp(Which::Data));
        n.net
            .add_middlebox(n.links[0], Dir::Backward, StripOption::mptcp(Which::Data));
        run(&mut n, Instant::from_secs(30));
        assert_exact(&n, bytes);
        n
    };
    // The client's first data carried the MP_CAPABLE (it piggybacks the third ACK), so
    // the server fell back at the third ACK or on data without DSS; the client on data
    // without DSS.
    assert_eq!(mib(&n, false, Mib::MPCapableSYNACKRX), 1);
    let fb = |server| {
        mib(&n, server, Mib::DssFallback)
            + mib(&n, server, Mib::MPCapableDataFallback)
            + mib(&n, server, Mib::MPCapableFallbackACK)
    };
    assert!(fb(true) >= 1, "server did not fall back");
    assert!(fb(false) >= 1, "client did not fall back");
    n.net.run_for(Duration::from_secs(1));
    // Both connections closed and are no longer counted.
    assert_eq!(mib(&n, false, Mib::MPCurrEstab), 0);
    assert_eq!(mib(&n, true, Mib::MPCurrEstab), 0);
}

#[test]
fn plain_tcp_client_to_mptcp_listener() {
    let bytes = (2 * MIB, 2 * MIB);
    let mut n = build(14, 1, |_| link(5, 100), bytes, Proto::Tcp, 0);
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, false, Mib::MPCapableSYNTX), 0);
    assert_eq!(mib(&n, true, Mib::MPCapableSYNRX), 0);
}

// ---------------------------------------------------------------------------------
// Refused joins: MP_TCPRST, counted, the connection unharmed
// ---------------------------------------------------------------------------------

fn two_path_run(seed: u64, joins: u8, setup: impl FnOnce(&mut Net)) -> Net {
    let bytes = (4 * MIB, 4 * MIB);
    let mut n = build(
        seed,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        joins,
    );
    setup(&mut n);
    run(&mut n, Instant::from_secs(60));
    assert_exact(&n, bytes);
    n
}

#[test]
fn join_with_an_unknown_token_is_refused() {
    let n = two_path_run(21, 2, |n| {
        // Flip a token byte of the MP_JOIN SYN on path 1.
        let mb = RewriteOption::new(30, Which::Syn, |o: &mut [u8]| {
            if o.len() == 12 && o[2] >> 4 == 1 {
                o[5] ^= 0x5a;
            }
        });
        n.net.add_middlebox(n.links[1], Dir::Forward, mb);
    });
    assert_eq!(mib(&n, true, Mib::MPJoinSynRx), 1);
    assert_eq!(mib(&n, true, Mib::MPJoinNoTokenFound), 1);
    assert_eq!(mib(&n, true, Mib::MPJoinAckRx), 0);
    assert_eq!(
        mib(&n, false, Mib::MPRstRx),
        1,
        "{:?}",
        stack(&n, false).mib().iter_nonzero().collect::<Vec<_>>()
    );
}

#[test]
fn join_with_a_bad_hmac_is_refused() {
    let n = two_path_run(22, 2, |n| {
        // Flip an HMAC byte of the MP_JOIN third ACK (24-byte form) on path 1.
        let mb = RewriteOption::new(30, Which::All, |o: &mut [u8]| {
            if o.len() == 24 && o[2] >> 4 == 1 {
                o[10] ^= 0xff;
            }
        });
        n.net.add_middlebox(n.links[1], Dir::Forward, mb);
    });
    assert_eq!(mib(&n, true, Mib::MPJoinSynRx), 1);
    assert_eq!(mib(&n, true, Mib::MPJoinAckHMacFailure), 1);
    assert_eq!(mib(&n, true, Mib::MPJoinAckRx), 0);
    assert_eq!(
        mib(&n, false, Mib::MPRstRx),
        1,
        "{:?}",
        stack(&n, false).mib().iter_nonzero().collect::<Vec<_>>()
    );
}

#[test]
fn join_over_the_limit_is_refused() {
    let n = two_path_run(23, 0, |_| {});
    assert_eq!(mib(&n, true, Mib::MPJoinSynRx), 1);
    assert_eq!(mib(&n, true, Mib::MPJoinRejected), 1);
    assert_eq!(mib(&n, true, Mib::MPJoinAckRx), 0);
    assert_eq!(
        mib(&n, false, Mib::MPRstRx),
        1,
        "{:?}",
        stack(&n, false).mib().iter_nonzero().collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------
// MP_FASTCLOSE and a path that dies
// ---------------------------------------------------------------------------------

/// A DATA_FIN queued while its data still waits in the subflow socket (the app sends a
/// little and shuts down at once, before the data left) is still signalled, at once:
/// the pure ACK that carries it follows the last data segment. The peer has nothing to
/// send, so nothing else would carry it (the kernel left in FIN-WAIT-2, interop case 2).
#[test]
fn data_fin_queued_behind_unsent_data_follows_it() {
    for (seed, bytes) in [
        (61, (0, 10 * KIB)),
        (62, (0, 300 * KIB)),
        (63, (4 * KIB, 64 * KIB)),
    ] {
        let mut n = build(seed, 1, |_| link(5, 100), bytes, Proto::Mptcp, 0);
        run(&mut n, Instant::from_secs(10));
        assert_exact(&n, bytes);
        let c = &n.net.host(n.client).app;
        let s = &n.net.host(n.server).app;
        let (start, end) = (
            c.connected_at().unwrap(),
            c.finished_at().unwrap().max(s.finished_at().unwrap()),
        );
        // A few round trips of 10 ms (plus the transfer at 100 Mbit/s), far below the
        // 200 ms DATA_FIN retransmission that would otherwise be the only way out.
        let took = end.saturating_duration_since(start);
        assert!(
            took < Duration::from_millis(100),
            "seed {seed}: closed after {took:?}"
        );
    }
}

#[test]
fn fastclose_in_mid_transfer() {
    let bytes = (8 * MIB, 8 * MIB);
    let mut n = build(
        31,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
    );
    let c = n.client;
    let app = core::mem::replace(&mut n.net.host_mut(c).app, MpBulkApp::server(1, 0, 0));
    n.net.host_mut(c).app = app.abort_after(2 * MIB);
    run(&mut n, Instant::from_secs(30));
    let (ca, sa) = (&n.net.host(n.client).app, &n.net.host(n.server).app);
    assert!(ca.is_done() && sa.is_done());
    assert!(ca.received() >= 2 * MIB && ca.received() < bytes.1);
    assert!(sa.received() < bytes.0);
    assert_eq!(sa.error(), Some(dataplane::tcp::socket::TcpError::Reset));
    assert_eq!(mib(&n, false, Mib::MPFastcloseTx), 1);
    assert!(mib(&n, true, Mib::MPFastcloseRx) >= 1);
    // Both ends let go of the connection.
    n.net.run_for(Duration::from_secs(2));
    assert_eq!(stack(&n, true).mib().get(Mib::MPCurrEstab), 0);
    assert_eq!(stack(&n, false).mib().get(Mib::MPCurrEstab), 0);
}

/// RFC 8684 §3.5, ACK form: the aborting side sends an ACK carrying MP_FASTCLOSE on one
/// subflow (RSTs carry it on the others); the peer answers with RSTs on every subflow.
#[test]
fn fastclose_in_its_ack_form() {
    use dataplane::mptcp::endpoint::FastcloseForm;
    use dataplane::pcap::read::Capture;
    use dataplane::sim::{Scope, Tap};
    use dataplane::wire::mptcp::{MptcpOption, Version};
    use dataplane::wire::tcp::{TcpFlags, TcpRepr};
    let bytes = (8 * MIB, 8 * MIB);
    let mut ccfg = cfg(33);
    ccfg.fastclose = FastcloseForm::Ack;
    let mut n = build_with(
        33,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
        (ccfg, cfg(34)),
    );
    let c = n.client;
    let app = core::mem::replace(&mut n.net.host_mut(c).app, MpBulkApp::server(1, 0, 0));
    n.net.host_mut(c).app = app.abort_after(2 * MIB);
    let cap = n.net.capture_memory(Scope::All, Tap::Send);
    run(&mut n, Instant::from_secs(30));
    n.net.run_for(Duration::from_secs(2));
    let (ca, sa) = (&n.net.host(n.client).app, &n.net.host(n.server).app);
    assert!(ca.is_done() && sa.is_done());
    assert!(sa.received() < bytes.0);
    assert_eq!(sa.error(), Some(dataplane::tcp::socket::TcpError::Reset));
    assert_eq!(mib(&n, false, Mib::MPFastcloseTx), 1, "counted once");
    assert!(mib(&n, true, Mib::MPFastcloseRx) >= 1);
    assert_eq!(stack(&n, true).mib().get(Mib::MPCurrEstab), 0);
    assert_eq!(stack(&n, false).mib().get(Mib::MPCurrEstab), 0);
    // On the wire: MP_FASTCLOSE on an ACK without RST, from the client.
    let capture = Capture::parse(n.net.capture_bytes(cap).unwrap()).unwrap();
    let (mut ack_form, mut rst_form) = (0, 0);
    for rec in capture.records() {
        let rec = rec.unwrap();
        let Ok(Some(t)) = dataplane::wire::frame::parse_ethernet(rec.data) else {
            continue;
        };
        let r = TcpRepr::parse(&t.packet(), t.src_addr, t.dst_addr, true, Version::V1).unwrap();
        if r.mptcp
            .iter()
            .any(|o| matches!(o, MptcpOption::MpFastclose(_)))
        {
            assert!(r.flags.contains(TcpFlags::ACK) || r.flags.contains(TcpFlags::RST));
            if r.flags.contains(TcpFlags::RST) {
                rst_form += 1;
            } else {
                ack_form += 1;
            }
        }
    }
    assert!(ack_form >= 1, "an ACK carried MP_FASTCLOSE");
    assert!(rst_form <= 1, "at most the other subflow's RST carried it");
}

/// The ACK form when the peer's RSTs are lost: after two RTOs the aborting side sends
/// the RST form on that subflow too.
#[test]
fn fastclose_ack_form_falls_back_to_the_rst_form() {
    use dataplane::mptcp::endpoint::FastcloseForm;
    use dataplane::sim::DropIf;
    let bytes = (8 * MIB, 8 * MIB);
    let mut ccfg = cfg(35);
    ccfg.fastclose = FastcloseForm::Ack;
    let mut n = build_with(
        35,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
        (ccfg, cfg(36)),
    );
    let c = n.client;
    let app = core::mem::replace(&mut n.net.host_mut(c).app, MpBulkApp::server(1, 0, 0));
    n.net.host_mut(c).app = app.abort_after(2 * MIB);
    let is_rst = |_: dataplane::time::Instant, f: &[u8]| {
        dataplane::sim::locate_tcp(f)
            .and_then(|l| f.get(l.segment).and_then(|t| t.get(13)).copied())
            .is_some_and(|flags| flags & 0x04 != 0)
    };
    for l in n.links.clone() {
        n.net.add_middlebox(l, Dir::Backward, DropIf::new(is_rst));
    }
    // Count the client's RSTs that carry MP_FASTCLOSE (option kind 30, subtype 7).
    let fc_rsts = std::rc::Rc::new(std::cell::Cell::new(0u32));
    for l in n.links.clone() {
        let k = fc_rsts.clone();
        n.net.add_middlebox(
            l,
            Dir::Forward,
            DropIf::new(move |_, f: &[u8]| {
                let Some(loc) = dataplane::sim::locate_tcp(f) else {
                    return false;
                };
                let t = &f[loc.segment];
                let rst = t.get(13).is_some_and(|x| x & 0x04 != 0);
                let end = (usize::from(t.get(12).copied().unwrap_or(0) >> 4) * 4).min(t.len());
                let fast = t[20.min(end)..end]
                    .windows(3)
                    .any(|w| w[0] == 30 && w[2] >> 4 == 7);
                if rst && fast {
                    k.set(k.get() + 1);
                }
                false
            }),
        );
    }
    run(&mut n, Instant::from_secs(30));
    n.net.run_for(Duration::from_secs(5));
    assert_eq!(mib(&n, false, Mib::MPFastcloseTx), 1);
    assert!(mib(&n, true, Mib::MPFastcloseRx) >= 1);
    assert_eq!(
        fc_rsts.get(),
        2,
        "the other subflow's RST, then the timed-out ACK-form subflow's RST"
    );
    assert_eq!(stack(&n, false).mib().get(Mib::MPCurrEstab), 0);
}

#[test]
fn a_blackholed_path_is_detected_stale_and_its_data_reinjected() {
    let bytes = (16 * MIB, 16 * MIB);
    let mut n = build(
        41,
        2,
        |p| {
            let l = link(5 + 5 * u64::from(p), 50);
            if p == 1 {
                l.blackhole(Instant::from_millis(700), Instant::from_secs(1000))
            } else {
                l
            }
        },
        bytes,
        Proto::Mptcp,
        2,
    );
    // Stale after 3 RTOs in a row (the data-level retransmission timer recovers the
    // lost data sooner than Linux's default of 4 + 1 backed-off RTOs).
    for h in [n.client, n.server] {
        n.net.host_mut(h).stack.set_stale_loss_cnt(2);
    }
    run(&mut n, Instant::from_secs(60));
    assert_exact(&n, bytes);
    for server in [false, true] {
        assert!(mib(&n, server, Mib::SubflowStale) >= 1, "server={server}");
        assert!(mib(&n, server, Mib::MPTCPRetrans) >= 1, "server={server}");
    }
    // The dead path carried data before it died, and lost some.
    let st = n.net.stats(n.links[1], Dir::Forward);
    assert!(
        st.delivered_bytes > MIB && st.dropped_blackhole > 0,
        "{st:?}"
    );
    println!("blackhole: done at {:?}", n.net.now());
}

#[test]
fn two_paths_with_dss_checksums() {
    let bytes = (4 * MIB, 4 * MIB);
    let mut n = build(
        51,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
    );
    n.net.host_mut(n.client).stack.set_checksum(true);
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, true, Mib::MPJoinAckRx), 1);
    assert_eq!(mib(&n, true, Mib::DataCsumErr), 0);
    assert_eq!(mib(&n, false, Mib::DataCsumErr), 0);
}

// ---------------------------------------------------------------------------------
// DSS checksum failures (RFC 8684 §3.7)
// ---------------------------------------------------------------------------------

#[test]
fn corrupted_payload_with_one_subflow_mp_fail_then_fallback() {
    let bytes = (4 * MIB, 4 * MIB);
    let mut n = build(61, 1, |_| link(5, 100), bytes, Proto::Mptcp, 0);
    n.net.host_mut(n.client).stack.set_checksum(true);
    n.net
        .add_middlebox(n.links[0], Dir::Forward, CorruptPayload::nth(300));
    run(&mut n, Instant::from_secs(30));
    let (c, s) = (&n.net.host(n.client).app, &n.net.host(n.server).app);
    assert!(c.is_done() && s.is_done());
    assert_eq!((c.error(), s.error()), (None, None));
    // Every byte arrived once, in place; the corrupted one was delivered as is (a
    // fallen-back connection is plain TCP), so only that direction's hash differs.
    assert_eq!(s.received(), bytes.0);
    assert_eq!(c.received(), bytes.1);
    assert_ne!(c.sent_digest(), s.received_digest());
    assert_eq!(s.sent_digest(), c.received_digest());
    assert_eq!(mib(&n, true, Mib::DataCsumErr), 1);
    assert_eq!(mib(&n, true, Mib::MPFailTx), 1);
    assert_eq!(mib(&n, true, Mib::DSSCorruptionFallback), 1);
    assert_eq!(mib(&n, false, Mib::MPFailRx), 1);
    // The sender answered with the infinite mapping, which the receiver saw.
    assert_eq!(mib(&n, false, Mib::InfiniteMapTx), 1);
    assert_eq!(mib(&n, true, Mib::InfiniteMapRx), 1);
}

#[test]
fn corrupted_payload_with_two_subflows_resets_the_bad_one() {
    let bytes = (8 * MIB, 8 * MIB);
    let mut n = build(
        62,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
    );
    n.net.host_mut(n.client).stack.set_checksum(true);
    n.net
        .add_middlebox(n.links[1], Dir::Forward, CorruptPayload::nth(200));
    run(&mut n, Instant::from_secs(60));
    // The bad subflow was reset and its data reinjected: byte-exact.
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, true, Mib::DataCsumErr), 1);
    assert_eq!(mib(&n, true, Mib::DSSCorruptionReset), 1);
    assert_eq!(mib(&n, true, Mib::MPRstTx), 1);
    assert_eq!(mib(&n, false, Mib::MPRstRx), 1);
    assert!(mib(&n, false, Mib::MPTCPRetrans) >= 1);
}

// ---------------------------------------------------------------------------------
// Bulk: 2 and 4 paths, 256 MiB each way
// ---------------------------------------------------------------------------------

fn big_run(seed: u64, paths: u8) {
    let bytes = (256 * MIB, 256 * MIB);
    let mut n = build(
        seed,
        paths,
        |p| {
            LinkConfig::new()
                .delay(Duration::from_millis(2 + 3 * u64::from(p)))
                .rate_bps(1_000_000_000)
                .queue_bytes(2 * MIB)
        },
        bytes,
        Proto::Mptcp,
        8,
    );
    run(&mut n, Instant::from_secs(60));
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, true, Mib::MPJoinAckRx), u64::from(paths - 1));
    for l in &n.links {
        for d in [Dir::Forward, Dir::Backward] {
            let st = n.net.stats(*l, d);
            assert!(st.delivered_bytes > MIB, "{l:?} {d:?}: {st:?}");
        }
    }
    let secs = n.net.now().as_nanos() as f64 / 1e9;
    println!(
        "{paths} paths, 256 MiB each way: {secs:.2} s virtual, {:.0} Mbit/s per direction",
        256.0 * 8.0 * 1.048576 / secs
    );
}

#[test]
fn two_paths_256_mib_each_way() {
    big_run(71, 2);
}

#[test]
fn four_paths_256_mib_each_way() {
    big_run(72, 4);
}

// ---------------------------------------------------------------------------------
// Linux selftests' simult_flows.sh: two paths, aggregation
// ---------------------------------------------------------------------------------

/// As Linux's simult_flows.sh: a large transfer one way and a small one the other way
/// (`reversed`: the server sends the large one) over two paths of `rates` Mbit/s and
/// one-way `delays` ms; it must finish within size*8*1.1/(r1+r2) + 0.4 s.
fn simult(seed: u64, rates: [u64; 2], delays: [u64; 2], reversed: bool) {
    let size = 8 * MIB;
    let small = 16 * KIB;
    let bytes = if reversed {
        (small, size)
    } else {
        (size, small)
    };
    let mut n = build(
        seed,
        2,
        |p| {
            let (r, d) = (rates[usize::from(p)], delays[usize::from(p)]);
            // simult_flows.sh shapes with `netem rate .. delay ..`, whose queue holds
            // 1000 packets by default.
            LinkConfig::new()
                .delay(Duration::from_millis(d))
                .rate_bps(r * 1_000_000)
                .queue_packets(1000)
        },
        bytes,
        Proto::Mptcp,
        2,
    );
    run(&mut n, Instant::from_secs(120));
    assert_exact(&n, bytes);
    let (c, s) = (&n.net.host(n.client).app, &n.net.host(n.server).app);
    let end = c.finished_at().unwrap().max(s.finished_at().unwrap());
    let start = c.connected_at().unwrap();
    let took = (end.as_nanos() - start.as_nanos()) as f64 / 1e9;
    let ideal = size as f64 * 8.0 / ((rates[0] + rates[1]) as f64 * 1e6);
    let max = ideal * 1.1 + 0.4;
    println!(
        "simult_flows {}/{} Mbit/s, {}/{} ms{}: {took:.2} s (ideal {ideal:.2} s, max {max:.2} s), efficiency {:.1}%",
        rates[0],
        rates[1],
        delays[0],
        delays[1],
        if reversed { ", reversed" } else { "" },
        100.0 * ideal / took
    );
    let dir = if reversed {
        Dir::Backward
    } else {
        Dir::Forward
    };
    let split: Vec<u64> = n
        .links
        .iter()
        .map(|l| n.net.stats(*l, dir).delivered_bytes)
        .collect();
    println!(
        "  bytes per path {split:?}, dropped {:?}",
        n.links
            .iter()
            .map(|l| n.net.stats(*l, dir).dropped_queue)
            .collect::<Vec<_>>()
    );
    assert!(took <= max, "took {took:.2} s, max {max:.2} s");
}

#[test]
fn simult_flows_balanced_bwidth() {
    simult(81, [10, 10], [1, 1], false);
    simult(81, [10, 10], [1, 1], true);
}

#[test]
fn simult_flows_balanced_bwidth_unbalanced_delay() {
    simult(82, [10, 10], [1, 50], false);
    simult(82, [10, 10], [1, 50], true);
}

#[test]
fn simult_flows_unbalanced_bwidth() {
    simult(83, [30, 10], [1, 1], false);
    simult(83, [30, 10], [1, 1], true);
}

#[test]
fn simult_flows_unbalanced_bwidth_unbalanced_delay() {
    simult(84, [30, 10], [1, 50], false);
    simult(84, [30, 10], [1, 50], true);
}

#[test]
fn simult_flows_unbalanced_bwidth_opposed_delay() {
    simult(85, [30, 10], [50, 1], false);
    simult(85, [30, 10], [50, 1], true);
}

// ---------------------------------------------------------------------------------
// Path management: ADD_ADDR, MP_PRIO, subflow removal
// ---------------------------------------------------------------------------------

#[test]
fn announced_address_is_echoed_and_joined() {
    let bytes = (4 * MIB, 4 * MIB);
    let mut n = build(
        91,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
    );
    let (c, s) = (n.client, n.server);
    let cs = &mut n.net.host_mut(c).stack;
    cs.endpoints_mut().flush();
    cs.endpoints_mut()
        .set_limits(Limits {
            subflows: 2,
            add_addr_accepted: 1,
        })
        .unwrap();
    n.net
        .host_mut(s)
        .stack
        .endpoints_mut()
        .add(Endpoint {
            id: 0,
            addr: IpAddr::V4(addr(1, 2)),
            port: None,
            flags: EndpointFlags::SIGNAL,
            dev: None,
        })
        .unwrap();
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, true, Mib::AddAddrTx), 1);
    assert_eq!(mib(&n, false, Mib::AddAddr), 1);
    assert_eq!(mib(&n, false, Mib::EchoAddTx), 1);
    assert_eq!(mib(&n, true, Mib::EchoAdd), 1);
    assert_eq!(mib(&n, false, Mib::AddAddrDrop), 0);
    assert_eq!(mib(&n, true, Mib::MPJoinAckRx), 1);
    // The join went to the announced address, over path 1, and carried data.
    let st = n.net.stats(n.links[1], Dir::Forward);
    assert!(st.delivered_bytes > MIB, "{st:?}");
}

#[test]
fn backup_flag_and_subflow_removal() {
    let bytes = (6 * MIB, 6 * MIB);
    let mut n = build(
        92,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
    );
    let (c, s) = (n.client, n.server);
    // Once the join is up: make it a backup (MP_PRIO), later remove it.
    n.net.run_while(Instant::from_secs(5), |net| {
        let h = net.host(c);
        h.app
            .conn()
            .is_none_or(|x| h.stack.subflows(x).iter().filter(|i| i.established).count() < 2)
    });
    let now = n.net.now();
    let conn = n.net.host(c).app.conn().unwrap();
    let subs = n.net.host(c).stack.subflows(conn);
    assert_eq!(subs.len(), 2);
    // The summary the console shows: tokens agree across the two ends.
    let cs = n.net.host(c).stack.conn_summary(conn).unwrap();
    let sconn = n.net.host(s).app.conn().unwrap();
    let ss = n.net.host(s).stack.conn_summary(sconn).unwrap();
    assert_eq!((cs.subflows, ss.subflows), (2, 2));
    assert_eq!(cs.local_token, ss.remote_token);
    assert_eq!(cs.remote_token, ss.local_token);
    assert!(!cs.fallback && cs.local_token.is_some());
    assert_eq!(n.net.host(c).stack.connections(), vec![conn]);
    let join = subs[1].id;
    n.net
        .host_mut(c)
        .stack
        .set_backup(conn, join, true)
        .unwrap();
    n.net.run_for(Duration::from_millis(300));
    let sent_before = n.net.host(c).stack.subflows(conn)[1].bytes_sent;
    n.net.run_for(Duration::from_millis(300));
    // A backup subflow takes no new data while the other one works.
    let sent_after = n.net.host(c).stack.subflows(conn)[1].bytes_sent;
    assert!(
        sent_after - sent_before < 64 * KIB,
        "{sent_before} -> {sent_after}"
    );
    n.net.host_mut(c).stack.remove_subflow(conn, join).unwrap();
    let _ = now;
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, false, Mib::MPPrioTx), 1);
    assert_eq!(mib(&n, true, Mib::MPPrioRx), 1);
    assert_eq!(mib(&n, true, Mib::MPRstRx), 1);
}

/// Whether `frame` is a SYN (without ACK) carrying an MPTCP option.
fn is_mptcp_syn(frame: &[u8]) -> bool {
    let Some(loc) = dataplane::sim::locate_tcp(frame) else {
        return false;
    };
    let tcp = &frame[loc.segment];
    if tcp.len() < 20 || tcp[13] & 0x12 != 0x02 {
        return false;
    }
    let end = (usize::from(tcp[12] >> 4) * 4).min(tcp.len());
    let mut i = 20;
    while i < end {
        match tcp[i] {
            0 => break,
            1 => i += 1,
            30 => return true,
            _ => i += usize::from(tcp.get(i + 1).copied().unwrap_or(1)).max(2),
        }
    }
    false
}

#[test]
fn mptcp_syns_dropped_twice_fall_back_to_tcp() {
    let bytes = (2 * MIB, 2 * MIB);
    let mut n = build(93, 1, |_| link(5, 100), bytes, Proto::Mptcp, 0);
    n.net.add_middlebox(
        n.links[0],
        Dir::Forward,
        dataplane::sim::DropIf::new(|_, f: &[u8]| is_mptcp_syn(f)),
    );
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, false, Mib::MPCapableSYNTX), 1);
    assert_eq!(mib(&n, false, Mib::MPCapableSYNTXDrop), 1);
    assert_eq!(mib(&n, true, Mib::MPCapableSYNRX), 0);
    assert_eq!(n.net.stats(n.links[0], Dir::Forward).dropped_middlebox, 2);
}

// ---------------------------------------------------------------------------------
// Many connections through the bare MptcpStack API (the frame-level Host contract)
// ---------------------------------------------------------------------------------

#[test]
fn many_concurrent_connections_through_the_api() {
    const N: usize = 24;
    let per = 256 * KIB as usize;
    let mut net = Network::new(101);
    let mk = |host: u8, seed: u64| {
        let mut s = MptcpStack::new(cfg(seed));
        for p in 0..2 {
            s.add_interface(iface(p, host));
        }
        s
    };
    let mut cs = mk(1, 101);
    cs.endpoints_mut()
        .add(Endpoint {
            id: 0,
            addr: IpAddr::V4(addr(1, 1)),
            port: None,
            flags: EndpointFlags::SUBFLOW,
            dev: None,
        })
        .unwrap();
    let mut ss = mk(2, 102);
    ss.listen(PORT, 64).unwrap();
    let client = net.add_host(cs);
    let server = net.add_host(ss);
    for p in 0..2u8 {
        net.link(
            client,
            usize::from(p),
            server,
            usize::from(p),
            link(3 + 4 * u64::from(p), 100),
        );
    }
    // Every connection sends `per` bytes of its own pattern each way; the server echoes
    // nothing but sends its own stream.
    let pattern = |conn: usize, i: usize| (i as u8).wrapping_mul(31).wrapping_add(conn as u8);
    let now = net.now();
    let conns: Vec<_> = (0..N)
        .map(|_| {
            net.host_mut(client)
                .connect(now, addr(0, 2), PORT, Proto::Mptcp)
                .unwrap()
        })
        .collect();
    let mut accepted = Vec::new();
    let mut sent = vec![[0usize; 2]; N];
    let mut got: Vec<[Vec<u8>; 2]> = (0..N).map(|_| [Vec::new(), Vec::new()]).collect();
    let mut buf = vec![0u8; 64 * 1024];
    let mut chunk = vec![0u8; 16 * 1024];
    for _ in 0..20_000 {
        net.run_for(Duration::from_millis(1));
        {
            let s = net.host_mut(server);
            while let Some(c) = s.accept(PORT) {
                accepted.push(c);
            }
        }
        for side in 0..2 {
            let (h, list): (_, Vec<_>) = if side == 0 {
                (client, conns.clone())
            } else {
                (server, accepted.clone())
            };
            let st = net.host_mut(h);
            for (k, &c) in list.iter().enumerate() {
                // The server's k-th accepted connection is not necessarily the client's
                // k-th: each side sends its own stream and tags it with its index.
                while sent[k][side] < per {
                    let off = sent[k][side];
                    let n = chunk.len().min(per - off);
                    for (i, b) in chunk[..n].iter_mut().enumerate() {
                        *b = pattern(k + side * 100, off + i);
                    }
                    let took = st.send(c, &chunk[..n]).unwrap_or(0);
                    if took == 0 {
                        break;
                    }
                    sent[k][side] += took;
                }
                if sent[k][side] == per {
                    let _ = st.shutdown(c);
                }
                loop {
                    let n = st.recv(c, &mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    got[k][side].extend_from_slice(&buf[..n]);
                }
            }
        }
        let done =
            accepted.len() == N && got.iter().all(|g| g[0].len() == per && g[1].len() == per);
        if done {
            break;
        }
    }
    assert_eq!(accepted.len(), N);
    // The client's k-th connection received the stream of some server connection j,
    // and the server's connection j received the client's k-th stream.
    let mut matched = 0;
    for k in 0..N {
        let g = &got[k][0];
        assert_eq!(g.len(), per, "client conn {k}");
        let j = (0..N)
            .find(|&j| (0..per).all(|i| g[i] == pattern(j + 100, i)))
            .expect("a server stream");
        let back = &got[j][1];
        assert!(
            back.len() == per && (0..per).all(|i| back[i] == pattern(k, i)),
            "server conn {j} did not get client conn {k}'s stream"
        );
        matched += 1;
    }
    assert_eq!(matched, N);
    // No connection fell back.
    assert_eq!(net.host(server).mib().get(Mib::DssFallback), 0);
    // Every connection joined on path 1.
    assert_eq!(net.host(server).mib().get(Mib::MPJoinAckRx), N as u64);
}

// ---------------------------------------------------------------------------------
// Impaired paths: loss, reordering, duplication, with and without checksums
// ---------------------------------------------------------------------------------

#[test]
fn impaired_paths_stay_byte_exact() {
    for seed in 0..8u64 {
        let csum = seed % 2 == 1;
        let bytes = (3 * MIB, 2 * MIB);
        let mut n = build(
            200 + seed,
            2,
            |p| {
                link(4 + 7 * u64::from(p), 40)
                    .loss(0.02)
                    .reorder(0.05, Duration::from_millis(4))
                    .duplicate(0.005)
            },
            bytes,
            Proto::Mptcp,
            2,
        );
        n.net.host_mut(n.client).stack.set_checksum(csum);
        run(&mut n, Instant::from_secs(60));
        assert_exact(&n, bytes);
        assert_eq!(mib(&n, true, Mib::MPJoinAckRx), 1, "seed {seed}");
        for server in [false, true] {
            // No mapping ever failed and nobody fell back or reset.
            for m in [
                Mib::DSSNotMatching,
                Mib::DSSNoMatchTCP,
                Mib::DataCsumErr,
                Mib::DssFallback,
                Mib::MPRstTx,
            ] {
                assert_eq!(mib(&n, server, m), 0, "seed {seed} server={server} {m:?}");
            }
        }
    }
}

#[test]
fn removed_address_closes_its_subflows() {
    let bytes = (6 * MIB, 6 * MIB);
    let mut n = build(
        94,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
    );
    let c = n.client;
    n.net.run_while(Instant::from_secs(5), |net| {
        let h = net.host(c);
        h.app
            .conn()
            .is_none_or(|x| h.stack.subflows(x).iter().filter(|i| i.established).count() < 2)
    });
    n.net.run_for(Duration::from_millis(200));
    let conn = n.net.host(c).app.conn().unwrap();
    let join = n.net.host(c).stack.subflows(conn)[1];
    assert_ne!(join.local_id, 0);
    n.net
        .host_mut(c)
        .stack
        .remove_address(conn, join.local_id)
        .unwrap();
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    assert_eq!(mib(&n, false, Mib::RmAddrTx), 1);
    assert_eq!(mib(&n, true, Mib::RmAddr), 1);
    // The path-1 subflow carried data before the removal; afterwards path 0 carried the
    // rest, with the removed subflow's outstanding data reinjected.
    assert!(mib(&n, false, Mib::MPTCPRetrans) >= 1);
}

#[test]
fn the_initial_subflow_can_go_the_join_carries_on() {
    let bytes = (6 * MIB, 6 * MIB);
    let mut n = build(
        95,
        2,
        |p| link(5 + 5 * u64::from(p), 50),
        bytes,
        Proto::Mptcp,
        2,
    );
    let c = n.client;
    n.net.run_while(Instant::from_secs(5), |net| {
        let h = net.host(c);
        h.app
            .conn()
            .is_none_or(|x| h.stack.subflows(x).iter().filter(|i| i.established).count() < 2)
    });
    n.net.run_for(Duration::from_millis(200));
    let conn = n.net.host(c).app.conn().unwrap();
    n.net.host_mut(c).stack.remove_subflow(conn, 0).unwrap();
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    // The server saw its initial subflow go (by our MP_TCPRST, or, when data was in
    // flight, by the RST answering its challenge ACK: RFC 5961).
    use dataplane::mptcp::endpoint::MpEvent;
    let sc = n.net.host(n.server).app.conn().unwrap();
    let sev = n.net.host(n.server).app.events();
    assert!(
        sev.contains(&MpEvent::SubflowClosed { conn: sc, id: 0 }),
        "{sev:?}"
    );
    // After the removal only path 1 carried data.
    let subs_closed = n.net.stats(n.links[1], Dir::Forward).delivered_bytes;
    assert!(subs_closed > 3 * MIB, "{subs_closed}");
}

#[test]
fn redundant_and_round_robin_schedulers() {
    for (seed, name) in [(111u64, "redundant"), (112, "roundrobin")] {
        let bytes = (4 * MIB, 4 * MIB);
        let mut n = build(
            seed,
            2,
            |p| link(5 + 5 * u64::from(p), 50),
            bytes,
            Proto::Mptcp,
            2,
        );
        for h in [n.client, n.server] {
            assert!(n.net.host_mut(h).stack.set_default_scheduler(name));
        }
        let c = n.client;
        n.net.run_while(Instant::from_secs(5), |net| {
            net.host(c).app.conn().is_none()
        });
        let conn = n.net.host(c).app.conn().unwrap();
        assert_eq!(n.net.host(c).stack.scheduler(conn), Some(name));
        n.net.host_mut(c).stack.set_sched_hint(conn, 7).unwrap();
        run(&mut n, Instant::from_secs(30));
        assert_exact(&n, bytes);
        let dups = mib(&n, true, Mib::DuplicateData);
        if name == "redundant" {
            // Ranges that went on both subflows (those with window room at the time):
            // the receiver dropped the second copies.
            assert!(dups > 0, "{name}: {dups}");
        }
        for l in &n.links {
            assert!(
                n.net.stats(*l, Dir::Forward).delivered_bytes > MIB,
                "{name}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// On the wire
// ---------------------------------------------------------------------------------

#[test]
fn every_frame_fits_the_mtu_and_every_segment_carries_its_mptcp_options() {
    use dataplane::mptcp::endpoint::MpEvent;
    use dataplane::pcap::read::Capture;
    use dataplane::sim::{Scope, Tap};
    use dataplane::wire::mptcp::{MptcpOption, Version};
    use dataplane::wire::tcp::{TcpFlags, TcpRepr};

    let bytes = (3 * MIB, 3 * MIB);
    let mut n = build(
        121,
        2,
        |p| link(5 + 5 * u64::from(p), 50).loss(0.005),
        bytes,
        Proto::Mptcp,
        2,
    );
    // Checksums on: the largest DSS.
    n.net.host_mut(n.client).stack.set_checksum(true);
    let cap = n.net.capture_memory(Scope::All, Tap::Send);
    run(&mut n, Instant::from_secs(30));
    assert_exact(&n, bytes);
    assert!(!n
        .net
        .host(n.client)
        .app
        .events()
        .iter()
        .any(|e| matches!(e, MpEvent::Fallback(_))));
    let data = n.net.capture_bytes(cap).unwrap();
    // `MPDK_MPTCP_PCAP=<file>` keeps the capture (for Wireshark / tshark).
    if let Ok(f) = std::env::var("MPDK_MPTCP_PCAP") {
        std::fs::write(f, data).expect("write the capture");
    }
    let capture = Capture::parse(data).unwrap();
    let (mut frames, mut data_segs, mut with_map, mut with_sack) = (0, 0, 0, 0);
    for rec in capture.records() {
        let rec = rec.unwrap();
        frames += 1;
        // Ethernet MTU 1500: frames of at most 1514 bytes (no FCS).
        assert!(rec.data.len() <= 1514, "frame of {} bytes", rec.data.len());
        let Ok(Some(t)) = dataplane::wire::frame::parse_ethernet(rec.data) else {
            continue;
        };
        let r = TcpRepr::parse(&t.packet(), t.src_addr, t.dst_addr, true, Version::V1)
            .expect("every segment parses and its checksum verifies");
        assert_eq!(r.stats, Default::default(), "no malformed option");
        if r.flags.contains(TcpFlags::RST) {
            continue;
        }
        // Every segment of an MPTCP connection carries an MPTCP option (RFC 8684: the
        // DSS with a DATA_ACK once established; MP_CAPABLE / MP_JOIN before).
        assert!(
            !r.mptcp.is_empty(),
            "segment without MPTCP option: {:?}",
            r.flags
        );
        if !r.payload.is_empty() {
            data_segs += 1;
            let mapped = r.mptcp.iter().any(|o| match o {
                MptcpOption::Dss(d) => d.mapping.is_some(),
                MptcpOption::MpCapable(m) => m.data_len.is_some(),
                _ => false,
            });
            with_map += usize::from(mapped);
        }
        with_sack += usize::from(r.sack_ranges[0].is_some());
    }
    assert!(frames > 4000 && data_segs > 3000, "{frames} {data_segs}");
    // Most data segments carry their mapping; those that left it out made room for SACK
    // blocks (losses happened: SACK blocks went out).
    assert!(with_map * 10 > data_segs * 8, "{with_map}/{data_segs}");
    assert!(with_sack > 0);
}

#[test]
fn closing_a_connection_that_never_connected() {
    // No server: the SYN goes unanswered (a blackholed path).
    let mut n = build(
        131,
        1,
        |_| link(5, 100).blackhole(Instant::ZERO, Instant::from_secs(1000)),
        (MIB, MIB),
        Proto::Mptcp,
        0,
    );
    let c = n.client;
    n.net.run_for(Duration::from_millis(300));
    let conn = n.net.host(c).app.conn().unwrap();
    assert_eq!(
        n.net.host(c).stack.state(conn),
        Some(dataplane::mptcp::conn::ConnState::Connecting)
    );
    let now = n.net.now();
    n.net.host_mut(c).stack.close(now, conn).unwrap();
    n.net.run_for(Duration::from_millis(100));
    // Given up at once and forgotten, its subflow handed back to the stack.
    assert_eq!(n.net.host(c).stack.state(conn), None);
    assert!(n.net.host(c).stack.connections().is_empty());
    assert_eq!(n.net.host(c).stack.stack().connection_count(), 0);
}
