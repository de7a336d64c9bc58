//! `mpdk [EAL options] -- [app options]`: one host on the DPDK ports the EAL probed.
//!
//! Every probed port is started and becomes one interface of the host; `--port-addr`
//! gives the host its addresses (weak host: any address is reachable through any port,
//! and ARP for any of them is answered on every port), `--gateway` a default gateway
//! per port. The host is the MPTCP stack: `--proto` picks what mpdk opens, a listener
//! accepts both; `--endpoint`, `--limits` and `--checksum` configure its path manager.

use std::net::Ipv4Addr;
use std::time::Duration as StdDuration;

use dataplane::stack::Ipv4Cidr;

use crate::app::{AppEngine, AppRole, EngineConfig};
use crate::apphost::{console_mptcp_config, MptcpAppHost};
use crate::cli::{AppConfig, Mode, Role, Verify};
use crate::node::Node;
use crate::runtime::{self, LoopOptions, RunError, WorkerSetup};

/// The engine settings from the command line.
pub fn engine_config(cfg: &AppConfig) -> EngineConfig {
    let (role, count) = match cfg.role {
        Some(Role::Listen(p)) => (AppRole::Listen(p), cfg.count),
        Some(Role::Connect(a)) => (AppRole::Connect(a), cfg.count),
        // `-i` with neither: an idle host (ARP only) to look at.
        None => (AppRole::Listen(0), 0),
    };
    let mode = cfg.mode.unwrap_or(match role {
        AppRole::Listen(_) => Mode::Sink,
        AppRole::Connect(_) => Mode::Source,
    });
    EngineConfig {
        role,
        mode,
        bytes: cfg.bytes.unwrap_or(1 << 30),
        count,
        verify: cfg.verify == Verify::Sha256,
        abort_after: cfg.abort_after,
        proto: cfg.proto,
    }
}

/// Runs the console on the probed ports; returns the exit status.
pub fn run_app(cfg: &AppConfig) -> Result<u8, RunError> {
    let eal = runtime::init_eal(&cfg.eal_args)?;
    if std::env::var_os("MPDK_EAL_LOG").is_some() {
        eprint!("{}", eal.log);
    }
    if let Some(f) = dataplane::nic::dpdk::probe_failures(&eal.log).first() {
        return Err(format!("DPDK device {f}"));
    }
    let n = eal.port_count();
    if n == 0 {
        return Err("no DPDK ports: give a device (--vdev ... or -a PCI) before --".into());
    }
    for pa in &cfg.port_addrs {
        if pa.port >= n {
            return Err(format!(
                "--port-addr {}={}/{}: no DPDK port {} ({n} probed)",
                pa.port, pa.addr, pa.prefix_len, pa.port
            ));
        }
    }
    let mut dpdk = runtime::start_ports(eal, &cfg.eal_args, None)?;
    runtime::wait_links(
        &mut dpdk.ports,
        &cfg.eal_args,
        StdDuration::from_secs(2),
        StdDuration::from_secs(3600),
    )?;

    let mut host = MptcpAppHost::new(console_mptcp_config(seed()));
    host.configure_pm(&cfg.endpoints, cfg.limits, cfg.checksum)?;
    let mut addrs_text = Vec::new();
    for (i, port) in dpdk.ports.iter().enumerate() {
        let addrs: Vec<Ipv4Cidr> = cfg
            .port_addrs
            .iter()
            .filter(|a| usize::from(a.port) == i)
            .map(|a| Ipv4Cidr::new(a.addr, a.prefix_len))
            .collect();
        addrs_text.push(
            addrs
                .iter()
                .map(|c| format!("{}/{}", c.addr, c.prefix_len))
                .collect(),
        );
        let mut iface = runtime::interface(port, &addrs);
        iface.gateway = cfg
            .gateways
            .iter()
            .find(|g| usize::from(g.0) == i)
            .map(|g| g.1);
        host.stack.add_interface(iface);
    }
    let engine = AppEngine::new(engine_config(cfg));
    let node = Node::new("mpdk", host, engine);
    let setup = WorkerSetup {
        cpu: runtime::worker_cpu(&cfg.eal_args),
        exit_when_done: !cfg.interactive,
        linger: StdDuration::from_millis(200),
        paused: cfg.interactive,
    };
    let (worker, to, from) = runtime::spawn_worker(node, &dpdk, setup);
    let opts = LoopOptions {
        stats_period: cfg.stats_period,
        duration: cfg.duration,
        interactive: cfg.interactive,
        print_ready: true,
        json_lines: cfg.json,
        port_addrs: addrs_text,
        paths: Vec::new(),
        stall_timeout: None,
    };
    let out = runtime::control_loop(&dpdk, worker, to, from, &opts);
    let failed = out.results.iter().any(|(_, r)| r.error.is_some())
        || out.worker_panicked
        || (!out.done && !cfg.interactive);
    if !cfg.json {
        for (_, r) in &out.results {
            eprintln!(
                "mpdk: {} {}: sent {} received {} in {:.3} s ({:.2} Gbit/s){}",
                r.role,
                crate::json::proto_name(r.proto_used),
                r.bytes_sent,
                r.bytes_received,
                r.seconds,
                r.gbps(),
                r.sha256_received
                    .as_ref()
                    .map(|h| format!(", sha256 received {h}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// A per-process secret seed (ISNs, ports): time and pid.
pub fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 32)
}

/// `10.0.P.H/24` for the embedded demo.
pub fn demo_addr(path: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, path, host)
}
