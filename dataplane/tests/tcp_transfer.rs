//! Issue 3's proofs: byte-exact bulk transfers between two real stacks over the
//! simulator, in both directions at once, on clean and impaired links; and the
//! efficiency of CUBIC (asserted) next to NewReno (printed; `--nocapture` shows it).
//!
//! Every transfer moves 64 MiB each way and compares SHA-256 of what one application
//! sent with what the other received. Link rates are chosen so virtual time stays short.
//!
//! To look at a run in Wireshark, set `MPDK_TCP_PCAP` to a directory: each byte-exact
//! transfer then writes `<dir>/<test name>.pcap` (frames as delivered).

use core::net::Ipv4Addr;

use dataplane::sim::tcp_host::{BulkApp, TcpHost};
use dataplane::sim::{Corrupter, Dir, LinkConfig, LinkId, Network, RunOutcome, Scope, Tap};
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
    if let Ok(dir) = std::env::var("MPDK_TCP_PCAP") {
        let file = format!("{dir}/{}.pcap", name.replace([' ', '%'], "_"));
        p.net
            .capture_file(Scope::All, Tap::Deliver, file)
            .expect("create the capture file");
    }
    let (c, s) = (p.client, p.server);
    let outcome = p.net.run_while(limit, |n| {
        !(n.host(c).app.is_done() && n.host(s).app.is_done())
    });
    p.net.flush_captures().expect("write the capture");
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
        fwd.dropped(),
        bwd.dropped(),
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

#[test]
fn one_percent_loss_64mib_both_ways() {
    exact_transfer(
        "loss 1%",
        2,
        tcp(4 << 20, CongestionAlgorithm::Cubic),
        gigabit().loss(0.01),
        Instant::from_secs(60),
    );
}

#[test]
fn five_percent_loss_64mib_both_ways() {
    exact_transfer(
        "loss 5%",
        3,
        tcp(4 << 20, CongestionAlgorithm::Cubic),
        gigabit().loss(0.05),
        Instant::from_secs(300),
    );
}

#[test]
fn reordering_64mib_both_ways() {
    // 3% of frames arrive 0.5 ms late (overtaken by about 40 frames at 1 Gbit/s).
    exact_transfer(
        "reorder 3%",
        4,
        tcp(4 << 20, CongestionAlgorithm::Cubic),
        gigabit().reorder(0.03, Duration::from_micros(500)),
        Instant::from_secs(60),
    );
}

#[test]
fn duplication_64mib_both_ways() {
    exact_transfer(
        "duplicate 5%",
        5,
        tcp(4 << 20, CongestionAlgorithm::Cubic),
        gigabit().duplicate(0.05),
        Instant::from_secs(60),
    );
}

#[test]
fn long_rtt_needs_window_scaling_64mib_both_ways() {
    // 100 ms RTT: an unscaled 64 KiB window would need 64 MiB / (64 KiB / 100 ms) =
    // 102 s; finishing in a few seconds proves windows of several MiB.
    let link = LinkConfig::new()
        .delay(Duration::from_millis(50))
        .rate_bps(1_000_000_000)
        .queue_bytes(4 << 20);
    let p = exact_transfer(
        "100 ms RTT",
        6,
        tcp(16 << 20, CongestionAlgorithm::Cubic),
        link,
        Instant::from_secs(30),
    );
    let done = p.net.host(p.client).app.finished_at().unwrap();
    assert!(done < Instant::from_secs(10), "took {done:?}");
}

#[test]
fn three_second_blackhole_mid_transfer_64mib_both_ways() {
    // Both directions drop everything from 0.3 s to 3.3 s; the connection survives on
    // backed-off retransmissions and completes.
    let link = gigabit().blackhole(Instant::from_millis(300), Instant::from_millis(3_300));
    let p = exact_transfer(
        "blackhole 3 s",
        7,
        tcp(4 << 20, CongestionAlgorithm::Cubic),
        link,
        Instant::from_secs(60),
    );
    let fwd = p.net.stats(p.link, Dir::Forward);
    assert!(fwd.dropped_blackhole > 0, "the blackhole hit the transfer");
    let done = p.net.host(p.client).app.finished_at().unwrap();
    assert!(done > Instant::from_millis(3_300));
}

/// Goodput of a one-way bulk transfer over `secs` virtual seconds, in bit/s.
fn goodput(cc: CongestionAlgorithm, link: LinkConfig, secs: u64) -> (f64, u64) {
    let mut p = pair(11, tcp(4 << 20, cc), link, u64::MAX / 2, false);
    // The server sends nothing back.
    p.net.host_mut(p.server).app = BulkApp::server(PORT, 0, 0).without_hashing();
    let end = Instant::from_secs(secs);
    p.net.run_until(end);
    let received = p.net.host(p.server).app.received();
    let start = p.net.host(p.client).app.connected_at().unwrap();
    let span = (end.as_nanos() - start.as_nanos()) as f64 / 1e9;
    let rtx = p.net.host(p.client).stack.counters().tcp.retrans_segs;
    (received as f64 * 8.0 / span, rtx)
}

/// The rate the loss-based response functions allow at loss rate `p` and round-trip
/// time `rtt`, in bit/s: the larger of NewReno's average window `sqrt(3/2)/sqrt(p)`
/// segments (Mathis et al.; CUBIC's Reno-friendly region has the same, RFC 9438 §4.3)
/// and CUBIC's average window `(C(3+β)/(4(1-β)))^(1/4) * RTT^(3/4) / p^(3/4)`
/// (RFC 9438 §5.1, C = 0.4, β = 0.7), times MSS per RTT.
fn loss_limited_rate(p: f64, rtt: f64, mss: f64) -> f64 {
    let reno = (1.5f64).sqrt() / p.sqrt();
    let (c, beta) = (0.4f64, 0.7f64);
    let cubic =
        (c * (3.0 + beta) / (4.0 * (1.0 - beta))).powf(0.25) * rtt.powf(0.75) / p.powf(0.75);
    reno.max(cubic) * mss * 8.0 / rtt
}

#[test]
fn cubic_efficiency_on_lossy_100_mbit_paths() {
    // 100 Mbit/s, 20 ms RTT, a one-BDP queue, 60 s, random loss each way.
    let rate = 100_000_000u64;
    let link = |loss: f64| {
        LinkConfig::new()
            .delay(Duration::from_millis(10))
            .rate_bps(rate)
            .queue_bytes(250_000)
            .loss(loss)
    };
    let share = |g: f64| 100.0 * g / rate as f64;
    for loss in [0.001, 0.000_01] {
        let (cubic, cubic_rtx) = goodput(CongestionAlgorithm::Cubic, link(loss), 60);
        let (reno, reno_rtx) = goodput(CongestionAlgorithm::Reno, link(loss), 60);
        let model = loss_limited_rate(loss, 0.020, 1448.0).min(rate as f64);
        println!(
            "100 Mbit/s, 20 ms RTT, {}% loss, 60 s: CUBIC {:.1} Mbit/s ({:.1}% of the link, {} retransmissions), NewReno {:.1} Mbit/s ({:.1}%, {} retransmissions); loss-limited model {:.1} Mbit/s",
            loss * 100.0,
            cubic / 1e6,
            share(cubic),
            cubic_rtx,
            reno / 1e6,
            share(reno),
            reno_rtx,
            model / 1e6,
        );
        // No loss-based controller can beat its response function: at 0.1% loss the
        // model allows about 22 Mbit/s, so the test asks for 80% of what the loss rate
        // permits; where the model exceeds the link, that is 80% of the link.
        assert!(
            cubic >= 0.8 * model,
            "CUBIC at {}% loss: {:.1} Mbit/s, below 80% of the {:.1} Mbit/s the loss permits",
            loss * 100.0,
            cubic / 1e6,
            model / 1e6
        );
        if model >= rate as f64 {
            assert!(
                share(cubic) >= 80.0,
                "CUBIC reached {:.1}% of the link",
                share(cubic)
            );
        }
    }
}

#[test]
fn slow_start_overshoot_is_repaired_by_sack_recovery_without_go_back_n() {
    // Regression: slow start overshooting a 512 KiB queue at 1 Gbit/s drops hundreds of
    // segments in one window. With only 32 out-of-order ranges at the receiver and in
    // the sender's scoreboard, most of those holes were never SACKed, recovery stalled
    // with pipe > cwnd until the RTO, and the RTO's go-back-N resent data the receiver
    // already held (here: 1529 retransmissions for 631 drops). Every retransmission must now
    // repair a real drop.
    let mut p = pair(
        21,
        tcp(4 << 20, CongestionAlgorithm::Cubic),
        gigabit(),
        16 * MIB,
        true,
    );
    p.net.host_mut(p.server).app = BulkApp::server(PORT, 0, 0);
    let (c, s) = (p.client, p.server);
    let outcome = p.net.run_while(Instant::from_secs(10), |n| {
        !(n.host(c).app.is_done() && n.host(s).app.is_done())
    });
    assert_eq!(outcome, RunOutcome::Condition);
    assert_eq!(
        p.net.host(c).app.sent_digest(),
        p.net.host(s).app.received_digest()
    );
    let drops = p.net.stats(p.link, Dir::Forward).dropped();
    let rtx = p.net.host(c).stack.counters().tcp.retrans_segs;
    println!("overshoot: {drops} drops, {rtx} retransmissions");
    assert!(drops > 100, "the queue overflowed ({drops} drops)");
    assert!(rtx <= drops, "{rtx} retransmissions for {drops} drops");
}

#[test]
fn corrupted_frames_fail_the_checksum_and_are_repaired() {
    // 1% of frames each way get one bit flipped past the basic TCP header, with no
    // checksum fixed: the receiver must drop every one of them (InCsumErrors) and TCP
    // must resend, so the 16 MiB still arrive intact.
    let bytes = 16 * MIB;
    let mut p = pair(
        31,
        tcp(4 << 20, CongestionAlgorithm::Cubic),
        gigabit(),
        bytes,
        true,
    );
    let mb = [Dir::Forward, Dir::Backward]
        .map(|d| (d, p.net.add_middlebox(p.link, d, Corrupter::new(0.01, 54))));
    let (c, s) = (p.client, p.server);
    let outcome = p.net.run_while(Instant::from_secs(30), |n| {
        !(n.host(c).app.is_done() && n.host(s).app.is_done())
    });
    assert_eq!(outcome, RunOutcome::Condition);
    let (ca, sa) = (&p.net.host(c).app, &p.net.host(s).app);
    assert_eq!((ca.received(), sa.received()), (bytes, bytes));
    assert_eq!(ca.sent_digest(), sa.received_digest());
    assert_eq!(sa.sent_digest(), ca.received_digest());
    for ((dir, i), receiver) in mb.into_iter().zip([s.index(), c.index()]) {
        let corrupted = p
            .net
            .middlebox::<Corrupter>(p.link, dir, i)
            .unwrap()
            .corrupted;
        let host: &TcpHost = p.net.host_at(receiver).unwrap();
        let tcp = host.stack.counters().tcp;
        println!(
            "{dir:?}: {corrupted} corrupted, {} checksum errors",
            tcp.in_csum_errors
        );
        // Some corrupted frames may still be dropped by the queue after the middlebox.
        assert!(tcp.in_csum_errors > 0 && tcp.in_csum_errors <= corrupted);
        assert_eq!(tcp.in_errs, tcp.in_csum_errors);
    }
}

#[test]
fn same_seed_same_trace() {
    // The stack adds no hidden nondeterminism (hash maps are keyed from the config, time
    // is virtual): two runs with one seed give the same frames at the same instants.
    let run = |seed: u64| {
        let mut p = pair(
            seed,
            tcp(1 << 20, CongestionAlgorithm::Cubic),
            gigabit().loss(0.01),
            4 * MIB,
            true,
        );
        p.net.enable_trace_hash();
        let (c, s) = (p.client, p.server);
        p.net.run_while(Instant::from_secs(30), |n| {
            !(n.host(c).app.is_done() && n.host(s).app.is_done())
        });
        assert!(p.net.host(c).app.is_done());
        (p.net.trace_hash().unwrap(), p.net.host(c).app.finished_at())
    };
    let a = run(41);
    assert_eq!(a, run(41));
    assert_ne!(a.0, run(42).0);
}
