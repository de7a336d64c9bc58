//! Packet-level tests of the TCP engine in the style of packetdrill: one
//! [`dataplane::tcp::socket::TcpSocket`] driven by scripts that inject segments at
//! given times and expect the socket's segments at given times (see `drill/mod.rs`
//! for the script language).
//!
//! One `#[test]` per behaviour; the scripts live in `drill/scripts/<name>.pkt`, most
//! of them continue the passive open of [`drill::PASSIVE_OPEN`] (our TS clock reads
//! 1000 + ms, the peer's window scale is 7 and ours 3, SRTT 100 ms, RTO 300 ms).
//! Groups: opening and closing; resets and RFC 5961; MSS; retransmission (RTO,
//! Karn, fast retransmit, NewReno, SACK recovery); SACK and ACK generation; windows
//! (zero window, scaling, SWS); timestamps and PAWS; reassembly; timers (keepalive,
//! SYN retries, TIME_WAIT, FIN_WAIT_2); and self-tests of the harness. Adding a test:
//! write the script, then a `#[test]` calling [`run`] or [`established`].

mod drill;

use core::time::Duration;

use dataplane::seq::SubflowSeq;
use dataplane::tcp::socket::State;
use dataplane::tcp::{CongestionAlgorithm, RtoFloor, TcpConfig};
use drill::Drill;

fn script(name: &str) -> String {
    let path = format!(
        "{}/tests/drill/scripts/{name}.pkt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(name: &str, cfg: TcpConfig) -> Drill {
    let mut d = Drill::new(cfg);
    d.run(&script(name));
    d
}

/// Runs the named script after [`drill::PASSIVE_OPEN`].
fn established(name: &str, cfg: TcpConfig) -> Drill {
    let mut d = Drill::new(cfg);
    d.run(drill::PASSIVE_OPEN);
    d.run(&script(name));
    d
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ------------------------------------------------------------------ opening and closing

#[test]
fn passive_open() {
    run("passive_open", TcpConfig::default());
}

#[test]
fn active_open() {
    run("active_open", TcpConfig::default());
}

#[test]
fn simultaneous_open() {
    run("simultaneous_open", TcpConfig::default());
}

#[test]
fn simultaneous_close() {
    established("simultaneous_close", TcpConfig::default());
}

#[test]
fn half_close() {
    established("half_close", TcpConfig::default());
}

#[test]
fn peer_half_close() {
    established("peer_half_close", TcpConfig::default());
}

#[test]
fn time_wait_duration_is_configurable_and_fin_retransmission_is_acked() {
    let cfg = TcpConfig {
        time_wait: Duration::from_secs(2),
        ..TcpConfig::default()
    };
    established("time_wait", cfg);
}

// ------------------------------------------------------------------ the harness itself

/// Runs `tail` after the passive open and returns the failure report.
fn failure(tail: &str) -> String {
    let mut d = Drill::new(TcpConfig::default());
    d.run(drill::PASSIVE_OPEN);
    d.try_run(tail).expect_err("the script must fail")
}

#[test]
fn harness_reports_mismatched_segment() {
    let e = failure("+0 write(1000)\n+0 > P. 1:1001(1000) ack 1 <nop,nop,TS val 1100 ecr 999>");
    assert!(e.contains("TS ecr 200 (want 999)"), "{e}");
    assert!(e.contains("script line 2"), "{e}");
    let e = failure("+0 write(1000)\n+0 > . 1:1001(1000) ack 1 <...>");
    assert!(e.contains("flags P. (want .)"), "{e}");
    let e = failure("+0 write(100)\n+0 > P. 1:1001(1000) ack 1 <...>");
    assert!(e.contains("len 100 (want 1000)"), "{e}");
}

#[test]
fn harness_reports_unexpected_segment() {
    // The socket sends the data, the script injects something instead.
    let e = failure("+0 write(1000)\n+.1 < . 1:1(0) ack 1 win 1000 <nop,nop,TS val 300 ecr 1000>");
    assert!(e.contains("does not expect"), "{e}");
    assert!(e.contains("P. 1:1001(1000) ack 1"), "{e}");
    // ... or the script ends.
    let e = failure("+0 write(1000)");
    assert!(e.contains("end of the script"), "{e}");
}

#[test]
fn harness_reports_missing_and_mistimed_segments() {
    let e = failure("+0 > . 1:1(0) ack 1 <...>");
    assert!(e.contains("none sent"), "{e}");
    // The data goes at 0.1; expecting it at 0.2 is wrong (too early), and its RTO
    // retransmission is not at 0.3.
    let e = failure("+0 write(1000)\n+.1 > P. 1:1001(1000) ack 1 <...>");
    assert!(e.contains("expected at 0.200000"), "{e}");
}

#[test]
fn harness_rejects_malformed_scripts() {
    let mut d = Drill::new(TcpConfig::default());
    let e = d.try_run("0 < S 0:10(0)").unwrap_err();
    assert!(e.contains("end - start != len"), "{e}");
    let e = d.try_run("0 < X 0:0(0)").unwrap_err();
    assert!(e.contains("bad flag"), "{e}");
    let e = d.try_run("0 frobnicate()").unwrap_err();
    assert!(e.contains("unknown call"), "{e}");
}

// ------------------------------------------------------------------ resets and RFC 5961

#[test]
fn rst_for_ack_in_listen() {
    run("rst_listen_bad_ack", TcpConfig::default());
}

#[test]
fn rst_from_closed_socket() {
    let mut d = Drill::with_isn(TcpConfig::default(), SubflowSeq(0));
    d.run(&script("rst_closed"));
}

#[test]
fn rst_for_bad_ack_in_syn_sent() {
    run("rst_syn_sent_bad_ack", TcpConfig::default());
}

#[test]
fn rst_for_bad_ack_in_syn_received() {
    run("rst_syn_recv_bad_ack", TcpConfig::default());
}

#[test]
fn rst_acking_syn_refuses_connection() {
    run("rst_synsent_refused", TcpConfig::default());
}

#[test]
fn rst_at_rcv_nxt_resets() {
    established("rst_exact_resets", TcpConfig::default());
}

#[test]
fn rst_in_window_draws_challenge_ack() {
    established("rst_in_window_challenge", TcpConfig::default());
}

#[test]
fn syn_in_established_draws_challenge_ack() {
    established("syn_in_established_challenge", TcpConfig::default());
}

#[test]
fn challenge_acks_are_rate_limited() {
    // RFC 5961 §7: at most 100 challenge ACKs per second (per connection here).
    let mut d = Drill::new(TcpConfig::default());
    d.run(drill::PASSIVE_OPEN);
    let mut s = String::new();
    for _ in 0..100 {
        s.push_str("+0 < R 1001:1001(0) win 0\n");
        s.push_str("+0 > . 1:1(0) ack 1 <nop,nop,TS val 1100 ecr 200>\n");
    }
    // The 101st, and more within the same second, get no answer.
    s.push_str("+0 < R 1001:1001(0) win 0\n");
    s.push_str("+0.5 < S 7:7(0) win 1000 <mss 1000>\n");
    s.push_str("+0.49 < R 1001:1001(0) win 0\n");
    // A second after the first, challenges are allowed again.
    s.push_str("+0.02 < R 1001:1001(0) win 0\n");
    s.push_str("+0 > . 1:1(0) ack 1 <nop,nop,TS val 2110 ecr 200>\n");
    d.run(&s);
    assert_eq!(d.sock().state(), State::Established);
}

// ------------------------------------------------------------------ MSS

#[test]
fn smaller_peer_mss_is_used() {
    run("mss_negotiation", TcpConfig::default());
}

#[test]
fn missing_mss_option_means_536() {
    run("mss_default", TcpConfig::default());
}

// ------------------------------------------------------------------ retransmission

fn reno() -> TcpConfig {
    TcpConfig {
        congestion: CongestionAlgorithm::Reno,
        ..TcpConfig::default()
    }
}

#[test]
fn rto_doubles_on_each_expiry() {
    established("rto_backoff", TcpConfig::default());
}

#[test]
fn karn_no_sample_from_retransmission() {
    run("rto_karn", TcpConfig::default());
}

/// The first retransmission after the 100 ms handshake sample comes after `rto`.
fn first_rto(cfg: TcpConfig, rto: Duration) {
    let mut d = Drill::new(cfg);
    d.run(drill::PASSIVE_OPEN);
    let rto = rto.as_secs_f64();
    d.run(&format!(
        "+0 write(100) = 100
         +0 > P. 1:101(100) ack 1 <...>
         +{rto} > . 1:101(100) ack 1 <...>
         +{} > . 1:101(100) ack 1 <...>",
        2.0 * rto
    ));
}

#[test]
fn min_rto_is_configurable() {
    // Linux floor: SRTT + max(4*RTTVAR, min_rto) = 100 + max(200, 500) ms.
    let cfg = TcpConfig {
        min_rto: ms(500),
        ..TcpConfig::default()
    };
    first_rto(cfg, ms(600));
    // RFC 6298 §2.4 floor: max(SRTT + 4*RTTVAR, min_rto) = max(300, 1000) ms.
    let cfg = TcpConfig {
        min_rto: Duration::from_secs(1),
        rto_floor: RtoFloor::Rfc6298,
        ..TcpConfig::default()
    };
    first_rto(cfg, ms(1000));
    let cfg = TcpConfig {
        min_rto: ms(50),
        rto_floor: RtoFloor::Rfc6298,
        ..TcpConfig::default()
    };
    first_rto(cfg, ms(300));
}

#[test]
fn fast_retransmit_and_newreno_partial_ack() {
    run("fast_retransmit", reno());
}

// ------------------------------------------------------------------ SACK and ACKs

#[test]
fn sack_blocks_report_holes_most_recent_first() {
    established("sack_blocks", TcpConfig::default());
}

#[test]
fn sack_recovery_retransmits_only_the_holes() {
    run("sack_recovery", reno());
}

#[test]
fn delayed_ack_and_quick_ack() {
    established("delayed_ack", TcpConfig::default());
}

// ------------------------------------------------------------------ windows

#[test]
fn zero_window_probes_back_off() {
    established("zero_window", TcpConfig::default());
}

#[test]
fn window_scaling_both_ways() {
    let cfg = TcpConfig {
        recv_buffer: 128 * 1024,
        ..TcpConfig::default()
    };
    run("window_scaling", cfg);
}

// ------------------------------------------------------------------ timestamps

#[test]
fn timestamps_are_echoed() {
    established("timestamps", TcpConfig::default());
}

#[test]
fn paws_drops_old_timestamps() {
    established("paws", TcpConfig::default());
}

// ------------------------------------------------------------------ reassembly

#[test]
fn duplicate_and_overlapping_segments() {
    established("overlap", TcpConfig::default());
}

// ------------------------------------------------------------------ timers

#[test]
fn keepalive_probes_then_gives_up() {
    let cfg = TcpConfig {
        keepalive: Some(Duration::from_secs(10)),
        keepalive_interval: Duration::from_secs(1),
        keepalive_probes: 3,
        ..TcpConfig::default()
    };
    established("keepalive", cfg);
}

#[test]
fn syn_retries_give_up() {
    let cfg = TcpConfig {
        syn_retries: 2,
        ..TcpConfig::default()
    };
    run("syn_retries", cfg);
}

// ------------------------------------------------------------------ more edge cases

#[test]
fn syn_timeout_sets_3s_rto_without_sample() {
    run("syn_rto_fallback", TcpConfig::default());
}

#[test]
fn syn_timeout_with_timestamp_sample_keeps_measured_rto() {
    run("syn_rto_ts_sample", TcpConfig::default());
}

#[test]
fn lost_syn_ack_is_resent() {
    run("lost_syn_ack", TcpConfig::default());
}

#[test]
fn rst_in_syn_received_returns_to_listen() {
    run("rst_syn_recv_listen", TcpConfig::default());
}

#[test]
fn ack_of_unsent_or_ancient_data_is_challenged() {
    established("ack_unsent_data", TcpConfig::default());
}

#[test]
fn rto_retransmits_holes_in_slow_start() {
    run("rto_go_back", reno());
}

#[test]
fn retransmissions_exhausted_time_out() {
    let cfg = TcpConfig {
        max_retries: 3,
        ..TcpConfig::default()
    };
    established("retries_exhausted", cfg);
}

#[test]
fn lost_fin_and_orphan_fin_wait_2() {
    let cfg = TcpConfig {
        fin_wait2_timeout: Duration::from_secs(5),
        ..TcpConfig::default()
    };
    established("lost_fin", cfg);
}

#[test]
fn out_of_order_fin_waits_for_data() {
    established("ooo_fin", TcpConfig::default());
}

#[test]
fn receive_window_closes_and_reopens() {
    let cfg = TcpConfig {
        recv_buffer: 4096,
        ..TcpConfig::default()
    };
    run("recv_window_update", cfg);
}

#[test]
fn sender_sws_override_timer() {
    established("sws_override", TcpConfig::default());
}

#[test]
fn data_on_syn_is_not_queued() {
    run("data_on_syn", TcpConfig::default());
}

#[test]
fn window_scale_above_14_is_clamped() {
    let cfg = TcpConfig {
        initial_window: 20,
        ..TcpConfig::default()
    };
    run("wscale_clamp", cfg);
}

#[test]
fn no_window_scaling_unless_both_offer() {
    run("no_wscale", TcpConfig::default());
}

#[test]
fn old_segment_does_not_update_window() {
    run("old_window_update", TcpConfig::default());
}

#[test]
fn close_in_syn_received_and_time_wait_input() {
    run("close_in_syn_recv", TcpConfig::default());
}

#[test]
fn active_open_with_queued_data_and_plain_peer() {
    run("active_open_with_data", TcpConfig::default());
}

/// 16 one-byte segments from the peer, each ACKed at once: the quick-ACK budget of a
/// new connection (as Linux's) is spent and ACKs are delayed from then on.
fn spend_quickacks(d: &mut Drill) {
    let mut s = String::new();
    for i in 1..=16 {
        s.push_str(&format!(
            "+0 < . {i}:{}(1) ack 1 win 1000 <nop,nop,TS val 300 ecr 1000>\n+0 > . 1:1(0) ack {} <...>\n",
            i + 1,
            i + 1
        ));
    }
    d.run(&s);
    let mut buf = [0u8; 16];
    assert_eq!(d.sock_mut().recv(&mut buf), 16);
}

#[test]
fn delayed_ack_piggybacks_and_fin_rides_on_data() {
    let mut d = Drill::new(TcpConfig::default());
    d.run(drill::PASSIVE_OPEN);
    spend_quickacks(&mut d);
    d.run(&script("piggyback"));
}

#[test]
fn third_ack_with_data_and_fin() {
    run("third_ack_data_fin", TcpConfig::default());
}

#[test]
fn unusable_sack_blocks_are_ignored() {
    run("bogus_sack", reno());
}

#[test]
fn zero_window_with_nothing_in_flight_probes() {
    established("zero_window_in_flight", TcpConfig::default());
}

#[test]
fn sack_recovery_sends_new_data_when_holes_are_done() {
    run("sack_recovery_new_data", reno());
}

#[test]
fn paws_on_pure_ack_not_on_rst() {
    established("paws_ack_and_rst", TcpConfig::default());
}

#[test]
fn challenge_ack_in_syn_received() {
    run("syn_recv_challenge", TcpConfig::default());
}

#[test]
fn rto_go_back_n_without_sack() {
    run("rto_no_sack", reno());
}

#[test]
fn closing_retransmits_lost_fin() {
    established("closing_fin_lost", TcpConfig::default());
}

#[test]
fn no_keepalive_unless_configured() {
    // RFC 9293 §3.8.4: keepalives are off by default. Two idle hours pass in silence.
    let mut d = Drill::new(TcpConfig::default());
    d.run(drill::PASSIVE_OPEN);
    d.run("+7200 %{ assert tcpi_state == TCP_ESTABLISHED }%");
    assert!(d.sock().poll_timeout().is_none());
}

#[test]
fn harness_time_forms_and_tolerance() {
    // Absolute times, `*`, and `<...>`; the RTO retransmission leaves at 0.4 and may be
    // scripted up to 4 ms off.
    let mut d = Drill::new(TcpConfig::default());
    d.run(drill::PASSIVE_OPEN);
    d.run(
        "0.1 write(100) = 100
         *   > P. 1:101(100) ack 1 <...>
         0.397 > . 1:101(100) ack 1 <...>",
    );
    let e =
        failure("+0 write(100)\n+0 > P. 1:101(100) ack 1 <...>\n+.305 > . 1:101(100) ack 1 <...>");
    assert!(e.contains("sent at 0.400000, expected at 0.405000"), "{e}");
}

#[test]
fn sack_blocks_with_more_holes_than_fit() {
    established("sack_many_holes", TcpConfig::default());
}

/// `n` full segments of 1448 bytes from our sequence offset `start`, the last with PSH
/// when `push`.
fn segments(start: usize, n: usize, push: bool) -> String {
    (0..n)
        .map(|i| {
            let s = start + i * 1448;
            let f = if push && i + 1 == n { "P." } else { "." };
            format!("+0 > {f} {s}:{}(1448) ack 1 <...>\n", s + 1448)
        })
        .collect()
}

#[test]
fn cwnd_restarts_after_idle() {
    // RFC 5681 §4.1: after an idle period longer than the RTO, cwnd is at most
    // RW = min(IW, cwnd) when sending resumes.
    let mut d = Drill::new(reno());
    d.run(drill::PASSIVE_OPEN);
    let mut s = String::from("+0 write(14480) = 14480\n");
    s += &segments(1, 10, true);
    // One ACK for all: slow start adds L = 2 segments (RFC 3465).
    s += "+.1 < . 1:1(0) ack 14481 win 1000 <nop,nop,TS val 300 ecr 1100>\n";
    s += "+0 %{ assert tcpi_snd_cwnd == 12 }%\n";
    // Idle for 1 s (RTO 300 ms), then 20 segments' worth of data: IW goes out.
    s += "+1 write(28960) = 28960\n";
    s += &segments(14481, 10, false);
    s += "+0 %{ assert tcpi_snd_cwnd == 10 }%\n";
    d.run(&s);
}

#[test]
fn syn_ack_retries_give_up() {
    let cfg = TcpConfig {
        syn_retries: 2,
        ..TcpConfig::default()
    };
    run("synack_retries", cfg);
}

#[test]
fn harness_reads_packetdrill_scripts() {
    // The head of a typical packetdrill script (the socket calls of the Linux tests)
    // and a time range.
    run(
        "packetdrill_syntax",
        TcpConfig {
            recv_buffer: 65535,
            ..TcpConfig::default()
        },
    );
    let e = failure(
        "+0 write(100)\n+0 > P. 1:101(100) ack 1 <...>\n+.31...+.5 > . 1:101(100) ack 1 <...>",
    );
    assert!(
        e.contains("sent at 0.400000, expected at 0.410000...0.600000"),
        "{e}"
    );
}

#[test]
fn rto_during_sack_recovery_resends_only_holes() {
    run("sack_rto_in_recovery", reno());
}

#[test]
fn rst_in_fin_wait_2() {
    established("rst_fin_wait2", TcpConfig::default());
}

#[test]
fn rto_backoff_is_capped_at_max_rto() {
    // RFC 6298 §2.5: a maximum RTO (60 s here) caps the doubling.
    let cfg = TcpConfig {
        max_rto: Duration::from_secs(60),
        ..TcpConfig::default()
    };
    let mut d = Drill::new(cfg);
    d.run(drill::PASSIVE_OPEN);
    let mut s = String::from("+0 write(100) = 100\n+0 > P. 1:101(100) ack 1 <...>\n");
    let mut rto = 0.3f64;
    for _ in 0..10 {
        s += &format!("+{rto} > . 1:101(100) ack 1 <...>\n");
        rto = (rto * 2.0).min(60.0);
    }
    s += "+0 %{ assert tcpi_rto == 60000000 }%\n";
    d.run(&s);
}

#[test]
fn receive_side_across_sequence_wrap() {
    // The peer's sequence numbers wrap 2^32 inside the scripts (our own already do:
    // our ISN is 4096 below the wrap).
    for name in ["sack_blocks", "overlap", "sack_many_holes", "ooo_fin"] {
        let mut d = Drill::new(TcpConfig::default());
        d.remote_isn = SubflowSeq(0xffff_fc00);
        d.run(drill::PASSIVE_OPEN);
        d.run(&script(name));
    }
}

#[test]
fn zero_window_probes_give_up_on_a_silent_peer() {
    let cfg = TcpConfig {
        max_retries: 3,
        keepalive: Some(Duration::from_secs(1)),
        ..TcpConfig::default()
    };
    established("zero_window_peer_gone", cfg);
}

#[test]
fn fin_waits_for_a_closed_window() {
    established("zero_window_fin", TcpConfig::default());
}

#[test]
fn fin_after_data_filling_the_window_waits() {
    established("full_window_fin", TcpConfig::default());
}

#[test]
fn options_off_locally_and_options_outside_syn() {
    let cfg = TcpConfig {
        sack: false,
        timestamps: false,
        ..TcpConfig::default()
    };
    run("options_off", cfg);
}

#[test]
fn harness_rust_closures_between_scripts() {
    let mut d = Drill::new(TcpConfig::default());
    d.run(drill::PASSIVE_OPEN);
    let data: Vec<u8> = (0..500).map(drill::pattern_byte).collect();
    let n = d.with(|sock, _now| sock.send(&data));
    assert_eq!(n, 500);
    d.written += n;
    d.run("+0 > P. 1:501(500) ack 1 <nop,nop,TS val 1100 ecr 200>\n+0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0\n+0 write(100) = 100\n+0 > P. 501:601(100) ack 1 <...>");
    // Output of direct socket calls is picked up by the next line too.
    d.sock_mut().abort();
    d.run("+0 > R 601:601(0)");
    assert_eq!(d.sock().state(), State::Closed);
}
