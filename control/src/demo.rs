//! The embedded demo: `mpdk` with no DPDK device arguments.
//!
//! Two back-to-back DPDK ring links (`ring_link`) are the two paths; a client host owns
//! 10.0.1.1 and 10.0.2.1, a server host 10.0.1.2 and 10.0.2.2 (one address per path).
//! Both hosts run on the one worker (a [`Pair`]). The client sends `--bytes` (default
//! 1 GiB), or a stream for `--duration` seconds, to the server's sink; live per-subflow
//! and per-path throughput goes to stderr, and the run ends with the byte-exact check:
//! the server received as many bytes as the client sent, with the same SHA-256.
//!
//! With `--proto mptcp` (the default) the client opens MPTCP on path 1 and a second
//! subflow from its `subflow` endpoint 10.0.2.1 to the server's 10.0.1.2 through path
//! 2 (10.0.2.2, the server's other address, is the client's gateway there). `--proto
//! tcp` runs one plain TCP connection on path 1.

use std::net::SocketAddrV4;
use std::time::Duration as StdDuration;

use dataplane::nic::dpdk::ring_link;
use dataplane::stack::Ipv4Cidr;
use serde_json::{json, Value};

use crate::app::{AppEngine, AppRole, ConnResult, EngineConfig};
use crate::apphost::{console_mptcp_config, MptcpAppHost};
use crate::cli::{AppConfig, EndpointArg, Mode, Verify};
use crate::launch::{demo_addr, seed};
use crate::node::{Node, Pair};
use crate::runtime::{self, LoopOptions, RunError, WorkerSetup};

/// The demo server's port.
const DEMO_PORT: u16 = 5201;

/// The EAL arguments of the embedded network: no hugepages, no PCI, no shared config,
/// a per-process file prefix (so several demos may run at once).
pub fn demo_eal_args(prog: &str) -> Vec<String> {
    [
        prog,
        "--no-huge",
        "-m",
        "1024",
        "--no-shconf",
        "--no-pci",
        "--file-prefix",
        &format!("mpdk-demo-{}", std::process::id()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs the demo; returns the exit status (0 when verified).
pub fn run_demo(cfg: &AppConfig) -> Result<u8, RunError> {
    let prog = cfg.eal_args.first().map_or("mpdk", String::as_str);
    let eal_args = demo_eal_args(prog);
    let eal = runtime::init_eal(&eal_args)?;
    let (a0, b0) = ring_link("path1", 1, 4096).map_err(|e| format!("ring link: {e}"))?;
    let (a1, b1) = ring_link("path2", 1, 4096).map_err(|e| format!("ring link: {e}"))?;
    let dpdk = runtime::start_ports(eal, &eal_args, Some(vec![a0, a1, b0, b1]))?;

    let verify = cfg.verify == Verify::Sha256;
    let bytes = if cfg.duration.is_some() {
        u64::MAX
    } else {
        cfg.bytes.unwrap_or(1 << 30)
    };
    let mut client = MptcpAppHost::new(console_mptcp_config(seed()));
    let mut server = MptcpAppHost::new(console_mptcp_config(seed().rotate_left(17)));
    // The client opens a second subflow from its path-2 address (`ip mptcp endpoint
    // add 10.0.2.1 dev 1 subflow`) to the server's address; the server's path-2
    // address is the client's gateway on path 2, so that subflow leaves through path 2
    // and the server (weak host) answers on the interface where 10.0.2.1 is on link.
    let ep = EndpointArg {
        addr: demo_addr(2, 1),
        subflow: true,
        signal: false,
        backup: false,
        port: None,
        dev: Some(1),
    };
    client.configure_pm(&[ep], cfg.limits, cfg.checksum)?;
    server.configure_pm(&[], cfg.limits, cfg.checksum)?;
    let cidr = |p, h| Ipv4Cidr::new(demo_addr(p, h), 24);
    client
        .stack
        .add_interface(runtime::interface(&dpdk.ports[0], &[cidr(1, 1)]));
    client.stack.add_interface(
        runtime::interface(&dpdk.ports[1], &[cidr(2, 1)]).with_gateway(demo_addr(2, 2)),
    );
    server
        .stack
        .add_interface(runtime::interface(&dpdk.ports[2], &[cidr(1, 2)]));
    server
        .stack
        .add_interface(runtime::interface(&dpdk.ports[3], &[cidr(2, 2)]));
    let base = EngineConfig {
        role: AppRole::Listen(DEMO_PORT),
        mode: Mode::Sink,
        bytes: 0,
        count: 1,
        verify,
        abort_after: None,
        proto: cfg.proto,
    };
    let client_app = AppEngine::new(EngineConfig {
        role: AppRole::Connect(SocketAddrV4::new(demo_addr(1, 2), DEMO_PORT)),
        mode: Mode::Source,
        bytes,
        ..base
    });
    let server_app = AppEngine::new(base);
    let pair = Pair::new(
        Node::new("client", client, client_app),
        Node::new("server", server, server_app),
        2,
    );
    eprintln!(
        "mpdk demo: client 10.0.1.1,10.0.2.1 -> server 10.0.1.2:{DEMO_PORT},10.0.2.2 over two DPDK ring links; {}",
        match cfg.duration {
            Some(d) => format!("sending for {:.1} s", d.as_secs_f64()),
            None => format!("sending {bytes} bytes"),
        }
    );
    let setup = WorkerSetup {
        cpu: runtime::worker_cpu(&eal_args),
        exit_when_done: !cfg.interactive,
        linger: StdDuration::from_millis(50),
        paused: false,
    };
    let (worker, to, from) = runtime::spawn_worker(pair, &dpdk, setup);
    let opts = LoopOptions {
        stats_period: Some(cfg.stats_period.unwrap_or(StdDuration::from_secs(1))),
        duration: cfg.duration,
        interactive: cfg.interactive,
        print_ready: false,
        json_lines: false,
        port_addrs: vec![
            vec!["10.0.1.1/24".into()],
            vec!["10.0.2.1/24".into()],
            vec!["10.0.1.2/24".into()],
            vec!["10.0.2.2/24".into()],
        ],
        paths: vec![("path1".into(), vec![0, 2]), ("path2".into(), vec![1, 3])],
        stall_timeout: Some(StdDuration::from_secs(10)),
    };
    let out = runtime::control_loop(&dpdk, worker, to, from, &opts);
    let client_r = out.results.iter().find(|(n, _)| *n == 0).map(|(_, r)| r);
    let server_r = out.results.iter().find(|(n, _)| *n == 1).map(|(_, r)| r);
    let path_packets: Vec<u64> = dpdk.ports.iter().map(|p| p.stats().opackets).collect();
    let w = out.worker;
    if out.stalled || w.tx_dropped > 0 || w.tx_no_mbuf > 0 {
        eprintln!(
            "mpdk demo: worker: {} frames received, {} sent, {} dropped at a full TX ring, {} without an mbuf",
            w.rx_frames, w.tx_frames, w.tx_dropped, w.tx_no_mbuf
        );
    }
    let (verified, why) = if out.stalled {
        (false, "the transfer stalled".to_string())
    } else {
        check(client_r, server_r, verify)
    };
    let summary = summary(client_r, server_r, verified, &path_packets);
    if verified {
        eprintln!("mpdk demo: verified: {why}");
    } else {
        eprintln!("mpdk demo: NOT verified: {why}");
    }
    if cfg.json {
        println!("{summary}");
    }
    Ok(if verified { 0 } else { 1 })
}

/// Whether the server received exactly what the client sent.
fn check(c: Option<&ConnResult>, s: Option<&ConnResult>, verify: bool) -> (bool, String) {
    let (Some(c), Some(s)) = (c, s) else {
        return (false, "the transfer did not finish".into());
    };
    if let Some(e) = c.error.as_ref().or(s.error.as_ref()) {
        return (false, format!("connection failed: {e}"));
    }
    if c.bytes_sent != s.bytes_received {
        return (
            false,
            format!(
                "client sent {} bytes, server received {}",
                c.bytes_sent, s.bytes_received
            ),
        );
    }
    if verify {
        if c.sha256_sent != s.sha256_received || c.sha256_sent.is_none() {
            return (false, "SHA-256 of the stream differs".into());
        }
        return (
            true,
            format!(
                "{} bytes, SHA-256 {} on both sides, {:.2} Gbit/s",
                c.bytes_sent,
                c.sha256_sent.as_deref().unwrap_or(""),
                s.gbps()
            ),
        );
    }
    (
        true,
        format!(
            "{} bytes on both sides (no hashing: --verify none), {:.2} Gbit/s",
            c.bytes_sent,
            s.gbps()
        ),
    )
}

fn summary(
    c: Option<&ConnResult>,
    s: Option<&ConnResult>,
    verified: bool,
    port_opackets: &[u64],
) -> Value {
    let bytes = s.map_or(0, |s| s.bytes_received);
    let seconds = s.map_or(0.0, |s| s.seconds);
    let gbps = s.map_or(0.0, ConnResult::gbps);
    let path = |i: usize, j: usize| {
        port_opackets.get(i).copied().unwrap_or(0) + port_opackets.get(j).copied().unwrap_or(0)
    };
    json!({
        "verified": verified,
        "bytes": bytes,
        "seconds": (seconds * 1e6).round() / 1e6,
        "gbps": (gbps * 1e3).round() / 1e3,
        "paths": [
            {"name": "path1", "local": "10.0.1.1", "remote": "10.0.1.2", "packets": path(0, 2)},
            {"name": "path2", "local": "10.0.2.1", "remote": "10.0.2.2", "packets": path(1, 3)},
        ],
        "client": c.map_or(Value::Null, crate::json::conn_result),
        "server": s.map_or(Value::Null, crate::json::conn_result),
    })
}
