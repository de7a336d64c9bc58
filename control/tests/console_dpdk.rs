//! The console on the real EAL, through the built binary (each `mpdk` run is its own
//! process with its own EAL): the embedded two-path demo verifies its bytes, and bad
//! EAL or device arguments give one line on stderr and a non-zero exit, never a panic
//! or DPDK's usage text.
#![cfg(feature = "dpdk")]

use std::process::{Command, Output};

fn mpdk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mpdk"))
        .args(args)
        .output()
        .expect("run mpdk")
}

fn assert_one_line_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("mpdk: ") && err.contains(needle), "{err:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

const EAL: [&str; 6] = [
    "--no-huge",
    "-m",
    "256",
    "--no-shconf",
    "--no-pci",
    "--file-prefix",
];

fn eal(prefix: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = EAL.iter().map(|s| s.to_string()).collect();
    v.push(format!("mpdk-t-{prefix}-{}", std::process::id()));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn run_with(eal_args: Vec<String>, app: &[&str]) -> Output {
    let mut args = eal_args;
    args.push("--".into());
    args.extend(app.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    mpdk(&refs)
}

#[test]
fn bad_eal_arguments_are_one_line() {
    assert_one_line_error(
        &run_with(eal("a", &["--bogus-eal"]), &["--listen", "1"]),
        "unrecognized option '--bogus-eal'",
    );
    assert_one_line_error(
        &run_with(eal("b", &["-l", "99"]), &["--listen", "1"]),
        "invalid core list",
    );
    assert_one_line_error(
        &run_with(
            eal("c", &["--vdev", "net_nosuchdriver0"]),
            &["--listen", "1"],
        ),
        "net_nosuchdriver0",
    );
}

#[test]
fn bad_device_arguments_are_one_line() {
    assert_one_line_error(
        &run_with(
            eal(
                "d",
                &[
                    "--vdev",
                    "net_memif0,role=sideways,socket=/tmp/mpdk-t-none.sock",
                ],
            ),
            &["--listen", "1"],
        ),
        "net_memif0: memif_set_role(): Unknown role: sideways",
    );
    assert_one_line_error(
        &run_with(
            eal("e", &["--vdev", "net_af_packet0,iface=mpdk-no-such-if"]),
            &["--listen", "1"],
        ),
        "net_af_packet0",
    );
    assert_one_line_error(
        &run_with(eal("f", &[]), &["--listen", "1"]),
        "no DPDK ports",
    );
    assert_one_line_error(
        &run_with(
            eal("g", &["--vdev", "net_null0"]),
            &["--port-addr", "1=10.0.0.1/24", "--listen", "1"],
        ),
        "no DPDK port 1 (1 probed)",
    );
}

fn last_json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON on stdout: {stdout:?}"));
    serde_json::from_str(line).expect("valid JSON")
}

#[test]
fn embedded_demo_verifies_bytes() {
    let out = mpdk(&["--bytes", "256M", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v = last_json(&out);
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["bytes"], 256u64 << 20);
    assert_eq!(v["client"]["bytes_sent"], 256u64 << 20);
    assert_eq!(
        v["client"]["sha256_sent"], v["server"]["sha256_received"],
        "{v}"
    );
    // MPTCP with a subflow on each path, both carrying data.
    assert_eq!(v["client"]["proto_used"], "mptcp", "{v}");
    assert_eq!(v["client"]["subflows_established"], 2, "{v}");
    for (i, local) in [(0, "10.0.1.1"), (1, "10.0.2.1")] {
        let sf = &v["client"]["subflows"][i];
        assert!(sf["local"].as_str().unwrap().starts_with(local), "{v}");
        assert!(sf["bytes_sent"].as_u64().unwrap() > 0, "{v}");
    }
    for p in 0..2 {
        assert!(v["paths"][p]["packets"].as_u64().unwrap() > 10_000, "{v}");
    }
    assert!(err.contains("mpdk demo: verified"), "{err}");
    // Live per-subflow lines.
    assert!(err.contains("client mptcp sf0 10.0.1.1:"), "{err}");
    assert!(err.contains("client mptcp sf1 10.0.2.1:"), "{err}");
    assert!(err.lines().all(|l| !l.contains("panicked")));
}

#[test]
fn embedded_demo_over_plain_tcp() {
    let out = mpdk(&["--proto", "tcp", "--bytes", "256M", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v = last_json(&out);
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["client"]["proto_used"], "tcp");
    assert_eq!(v["server"]["proto_used"], "tcp");
    assert_eq!(v["client"]["subflows_established"], 1);
    assert_eq!(v["client"]["sha256_sent"], v["server"]["sha256_received"]);
}

#[test]
fn embedded_demo_for_a_duration() {
    let t = std::time::Instant::now();
    let out = mpdk(&["--duration", "1.5", "--json", "--stats-period", "0.5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(t.elapsed() >= std::time::Duration::from_millis(1500));
    let v = last_json(&out);
    assert_eq!(v["verified"], true, "{v}");
    let bytes = v["bytes"].as_u64().unwrap();
    assert!(bytes > 1 << 20, "{v}");
    assert_eq!(v["client"]["bytes_sent"], bytes);
    assert_eq!(v["server"]["bytes_received"], bytes);
    assert_eq!(v["client"]["sha256_sent"], v["server"]["sha256_received"]);
    assert!(
        err.lines().filter(|l| l.contains("paths:")).count() >= 2,
        "{err}"
    );
}

#[test]
fn interactive_prompt_answers_testpmd_basics() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mpdk"))
        .args(["-i", "--bytes", "64G"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut say = |line: &str, pause_ms: u64| {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(pause_ms));
    };
    say("help", 0);
    say("show port info all", 1000);
    say("show mptcp conns", 100);
    say("show mptcp subflows", 100);
    say("stop", 800);
    say("clear port stats all", 300);
    // Paused: the windows close, only the odd zero-window probe moves.
    say("show port stats all", 0);
    say("show mptcp counters", 100);
    say("no such command", 0);
    say("start", 300);
    say("quit", 0);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("show mptcp subflows"), "help text: {err}");
    assert!(err.contains("Driver name: net_ring"), "{err}");
    assert!(err.contains("MAC address: 02:6D:70:64:00:00"), "{err}");
    assert!(err.contains("IPv4 addresses: 10.0.2.2/24"), "{err}");
    assert!(
        err.contains("client conn 0: client mptcp 10.0.1.1:"),
        "conns: {err}"
    );
    assert!(
        err.contains("server conn 0 sf0 10.0.1.2:5201 -> 10.0.1.1:"),
        "{err}"
    );
    assert!(err.contains("application stopped"), "{err}");
    assert!(err.contains("port statistics cleared"), "{err}");
    assert!(err.contains("TcpPassiveOpens"), "{err}");
    assert!(err.contains("bad command 'no such command'"), "{err}");
    // The port stats shown right after clearing, while stopped, are (nearly) zero.
    let after_clear = &err[err.find("port statistics cleared").unwrap()..];
    let block = &after_clear[..after_clear.find("client:").unwrap_or(after_clear.len())];
    assert!(block.contains("NIC statistics for port 0"), "{block}");
    for l in block.lines().filter(|l| l.contains("TX-packets:")) {
        let n: u64 = l.split_whitespace().nth(1).unwrap().parse().unwrap();
        // Against ~100k packets per 300 ms while running.
        assert!(n < 1000, "{l}");
    }
    // Quit before 64 GiB: not verified, non-zero exit.
    assert!(err.contains("NOT verified"), "{err}");
    assert_eq!(out.status.code(), Some(1));
}
