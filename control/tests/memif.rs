//! Two `mpdk` processes joined by DPDK `net_memif`: two memif pairs are two paths, one
//! process listens (memif server role), the other connects (client role, started
//! first: it must keep retrying until the listener appears). 1 GiB crosses byte-exact:
//! both JSON objects agree on the byte counts and the SHA-256 of the stream. Over
//! MPTCP the client opens a second subflow from its path-2 address (a `subflow`
//! endpoint; the server's path-2 address is its gateway there), and both carry data;
//! over plain TCP one connection does it all.
#![cfg(feature = "dpdk")]

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;

fn spawn(name: &str, lcores: &str, role: &str, dir: &str, app: &[&str]) -> Child {
    let mut args: Vec<String> = [
        "--no-huge",
        "-m",
        "512",
        "--no-shconf",
        "--no-pci",
        "-l",
        lcores,
        "--file-prefix",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("mpdk-memif-{name}-{}", std::process::id()));
    for i in 0..2 {
        args.push(format!(
            "--vdev=net_memif{i},role={role},socket={dir}/path{i}.sock,id=0"
        ));
    }
    args.push("--".into());
    args.extend(app.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_mpdk"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mpdk")
}

/// Waits for `child` (killing it after `limit`); returns (success, stdout, stderr).
fn finish(mut child: Child, limit: Duration) -> (bool, String, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.is_some_and(|s| s.success()), out, err)
}

fn json(out: &str) -> serde_json::Value {
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON: {out:?}"));
    serde_json::from_str(line).unwrap()
}

fn transfer(tag: &str, proto: &str) -> (serde_json::Value, serde_json::Value) {
    let dir = std::env::temp_dir().join(format!("mpdk-memif-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    // The connector starts first and retries until the listener is there.
    let client = spawn(
        &format!("{tag}c"),
        "1,0",
        "client",
        d,
        &[
            "--port-addr",
            "0=10.0.1.1/24",
            "--port-addr",
            "1=10.0.2.1/24",
            "--gateway",
            "1=10.0.2.2",
            "--endpoint",
            "10.0.2.1,subflow",
            "--proto",
            proto,
            "--connect",
            "10.0.1.2:5201",
            "--mode",
            "source",
            "--bytes",
            "1G",
            "--json",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let server = spawn(
        &format!("{tag}s"),
        "0,1",
        "server",
        d,
        &[
            "--port-addr",
            "0=10.0.1.2/24",
            "--port-addr",
            "1=10.0.2.2/24",
            "--listen",
            "5201",
            "--mode",
            "sink",
            "--json",
        ],
    );
    let (s_ok, s_out, s_err) = finish(server, Duration::from_secs(120));
    let (c_ok, c_out, c_err) = finish(client, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(s_ok, "server failed: {s_err}");
    assert!(c_ok, "client failed: {c_err}");
    assert!(s_err.lines().any(|l| l == "ready"), "{s_err}");
    let (c, s) = (json(&c_out), json(&s_out));
    assert_eq!(c["role"], "client");
    assert_eq!(s["role"], "server");
    assert_eq!(c["bytes_sent"], GIB);
    assert_eq!(s["bytes_received"], GIB);
    assert_eq!(c["bytes_received"], s["bytes_sent"]);
    let sent = c["sha256_sent"].as_str().expect("client hash");
    assert_eq!(sent.len(), 64);
    assert_eq!(Some(sent), s["sha256_received"].as_str(), "hashes agree");
    assert_eq!(c["sha256_received"], s["sha256_sent"]);
    assert_eq!(c["proto_used"], proto);
    assert_eq!(s["proto_used"], proto);
    assert_eq!(c["subflows"][0]["remote"], "10.0.1.2:5201");
    assert!(c["counters"]["TcpActiveOpens"].as_u64().unwrap() >= 1);
    (c, s)
}

#[test]
fn mptcp_over_two_memif_paths_moves_1gib_byte_exact() {
    let (c, s) = transfer("m", "mptcp");
    assert_eq!(c["subflows_established"], 2, "{c}");
    assert_eq!(s["subflows_established"], 2, "{s}");
    let per_sf: Vec<u64> = s["subflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["bytes_received"].as_u64().unwrap())
        .collect();
    assert_eq!(per_sf.len(), 2);
    assert!(
        per_sf.iter().all(|&b| b > 0),
        "both subflows carry data: {per_sf:?}"
    );
    assert!(per_sf.iter().sum::<u64>() >= GIB, "{per_sf:?}");
    assert_eq!(
        c["subflows"][1]["local"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("10.0.2.1")
    );
    assert!(c["counters"]["MPJoinSynTx"].as_u64().unwrap() >= 1, "{c}");
    assert!(s["counters"]["MPJoinSynRx"].as_u64().unwrap() >= 1, "{s}");
}

#[test]
fn tcp_over_memif_moves_1gib_byte_exact() {
    let (c, s) = transfer("t", "tcp");
    assert_eq!(c["subflows_established"], 1);
    assert_eq!(s["subflows"][0]["bytes_received"], GIB);
}
