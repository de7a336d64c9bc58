//! Packet-level tests of the TCP engine in the style of packetdrill: one
//! [`dataplane::tcp::socket::TcpSocket`] driven by scripts that inject segments at
//! given times and expect the socket's segments at given times (see `drill/mod.rs`).

mod drill;

use core::time::Duration;

use dataplane::tcp::TcpConfig;
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
