//! mpdk against the Linux kernel's MPTCP over DPDK `net_af_packet` on a veth pair (the
//! kernel owns one end, mpdk the other): a kernel MPTCP client sends 64 MiB to an mpdk
//! sink, and an mpdk source sends 64 MiB to a kernel MPTCP server; the SHA-256 of the
//! stream agrees on both sides and both report MPTCP. Needs root (veth, AF_PACKET) and
//! `net.mptcp.enabled=1`; without them the test says so and does nothing. The full
//! kernel interop suite (two paths, joins, ADD_ADDR, middleboxes) is `ci/interop.sh`.
#![cfg(feature = "dpdk")]

use std::process::{Command, Stdio};
use std::time::Duration;

fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Veth(String);

impl Drop for Veth {
    fn drop(&mut self) {
        sh(&format!("ip link del {}", self.0));
    }
}

fn mpdk(iface: &str, tag: &str, app: &[&str]) -> std::process::Child {
    let prefix = format!("mpdk-kaf-{tag}-{}", std::process::id());
    let vdev = format!("net_af_packet0,iface={iface}");
    let mut args = vec![
        "--no-huge",
        "-m",
        "256",
        "--no-shconf",
        "--no-pci",
        "--file-prefix",
        &prefix,
        "--vdev",
        &vdev,
        "--",
        "--port-addr",
    ];
    let addr = "0=10.77.0.2/24".to_string();
    args.push(&addr);
    args.extend_from_slice(app);
    Command::new(env!("CARGO_BIN_EXE_mpdk"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn json(out: &[u8]) -> serde_json::Value {
    let s = String::from_utf8_lossy(out);
    let line = s.lines().rev().find(|l| l.starts_with('{')).expect("JSON");
    serde_json::from_str(line).unwrap()
}

const KERNEL_CLIENT: &str = r#"
import socket, hashlib, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.settimeout(20)
for _ in range(100):
    try:
        s.connect(("10.77.0.2", 5201)); break
    except (ConnectionRefusedError, socket.timeout):
        import time; time.sleep(0.1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262); s.settimeout(20)
data = bytes(range(256)) * 4096 * 64
s.sendall(data); s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
print(hashlib.sha256(data).hexdigest())
"#;

const KERNEL_SERVER: &str = r#"
import socket, hashlib
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.77.0.1", 5202)); l.listen(1); l.settimeout(30)
print("listening", flush=True)
c, a = l.accept(); c.settimeout(30)
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    h.update(b); n += len(b)
c.close()
print(n, h.hexdigest())
"#;

#[test]
fn mptcp_with_the_linux_kernel_over_af_packet() {
    let tag = std::process::id() % 100_000;
    let (k, m) = (format!("mpk{tag}"), format!("mpm{tag}"));
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let mptcp =
        std::fs::read_to_string("/proc/sys/net/mptcp/enabled").is_ok_and(|s| s.trim() == "1");
    if !root || !mptcp || !sh(&format!("ip link add {k} type veth peer name {m}")) {
        eprintln!("skipped: needs root, veth and net.mptcp.enabled=1");
        return;
    }
    let _veth = Veth(k.clone());
    // The kernel fills checksums late (offload); over veth + AF_PACKET they must be real.
    assert!(sh(&format!(
        "ip addr add 10.77.0.1/24 dev {k} && ip link set {k} up && ip link set {m} up && \
         ethtool -K {k} tx off && ethtool -K {m} tx off"
    )));

    // Kernel client -> mpdk sink.
    let sink = mpdk(&m, "s", &["--listen", "5201", "--mode", "sink", "--json"]);
    let client = Command::new("python3")
        .args(["-c", KERNEL_CLIENT])
        .output()
        .unwrap();
    let sink = sink.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&sink.stderr);
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert!(sink.status.success(), "{err}");
    let v = json(&sink.stdout);
    let kernel_hash = String::from_utf8_lossy(&client.stdout).trim().to_string();
    assert_eq!(v["proto_used"], "mptcp", "{v}");
    assert_eq!(v["bytes_received"], 64u64 << 20);
    assert_eq!(v["sha256_received"].as_str(), Some(kernel_hash.as_str()));
    assert!(
        v["counters"]["MPCapableSYNRX"].as_u64().unwrap() >= 1,
        "{v}"
    );

    // mpdk source -> kernel server.
    let mut server = Command::new("python3")
        .args(["-c", KERNEL_SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let source = mpdk(
        &m,
        "c",
        &[
            "--connect",
            "10.77.0.1:5202",
            "--mode",
            "source",
            "--bytes",
            "64M",
            "--json",
        ],
    )
    .wait_with_output()
    .unwrap();
    assert!(
        source.status.success(),
        "{}",
        String::from_utf8_lossy(&source.stderr)
    );
    let v = json(&source.stdout);
    let mut out = String::new();
    std::io::Read::read_to_string(server.stdout.as_mut().unwrap(), &mut out).unwrap();
    let _ = server.wait();
    let last = out.lines().last().unwrap_or_default().to_string();
    assert_eq!(v["proto_used"], "mptcp", "{v}");
    assert_eq!(
        last,
        format!("{} {}", 64u64 << 20, v["sha256_sent"].as_str().unwrap()),
        "the kernel received the stream byte-exact"
    );
}
