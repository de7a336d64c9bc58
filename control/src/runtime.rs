//! The DPDK runtime of the console (feature `dpdk`): EAL, ports and mempool, the worker
//! thread, and the control loop on the main thread.
//!
//! Threads: the main thread is the control core. It never busy-polls: it blocks on the
//! worker's channel (or on the next statistics tick) and reads stdin lines from a helper
//! thread. One worker thread, pinned with `core_affinity`, runs
//! [`dataplane::worker::Worker`] over the host (a [`Node`] or a [`Pair`] of them) in
//! poll mode. They talk through typed crossbeam messages ([`ToWorker`],
//! [`FromWorker`]); the worker polls its command channel between loop iterations and
//! never blocks on it.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use crossbeam_channel::{select, unbounded, Receiver, Sender, TryRecvError};
use dataplane::nic::dpdk::{Eal, Mempool, Port, PortConfig};
use dataplane::nic::FrameHost;
use dataplane::stack::{Interface, Ipv4Cidr};
use dataplane::wire::ethernet::EthernetAddress;
use dataplane::worker::{TscClock, Worker, WorkerStats};

use crate::app::ConnResult;
use crate::apphost::AppHost;
use crate::console::{self, Command, PortView};
use crate::node::{Node, Pair};
use crate::stats::{NodeSnapshot, RateTracker};

/// Control core to worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToWorker {
    /// Pause (`true`) or resume the application.
    Pause(bool),
    /// Sources stop generating and close (end of `--duration`).
    FinishSending,
    /// Send a [`FromWorker::Snapshot`].
    Snapshot,
    /// Leave the poll loop.
    Shutdown,
}

/// Worker to control core.
#[derive(Debug)]
pub enum FromWorker {
    /// Every host listens (or is a connector): print `ready`.
    Ready,
    /// The hosts' state, in node order.
    Snapshot(Vec<NodeSnapshot>, WorkerStats),
    /// Finished connections: (node index, result).
    Results(Vec<(usize, ConnResult)>),
    /// Every node served its `--count`.
    Done,
    /// The worker left its loop.
    Exited(WorkerStats),
}

/// What the worker needs of its host beyond [`FrameHost`]: the app engines.
pub trait Apps: FrameHost + Send + 'static {
    fn listening(&self) -> bool;
    fn done(&self) -> bool;
    fn take_results(&mut self, out: &mut Vec<(usize, ConnResult)>);
    fn set_paused(&mut self, paused: bool);
    fn finish_sending(&mut self);
    fn snapshot(&self, out: &mut Vec<NodeSnapshot>);
}

impl<H: AppHost + Send + 'static> Apps for Node<H>
where
    H::Conn: Send,
{
    fn listening(&self) -> bool {
        self.app.is_listening()
    }
    fn done(&self) -> bool {
        self.app.is_done()
    }
    fn take_results(&mut self, out: &mut Vec<(usize, ConnResult)>) {
        out.extend(self.app.take_results().into_iter().map(|r| (0, r)));
    }
    fn set_paused(&mut self, paused: bool) {
        self.app.set_paused(paused);
    }
    fn finish_sending(&mut self) {
        self.app.finish_sending();
    }
    fn snapshot(&self, out: &mut Vec<NodeSnapshot>) {
        let mut counters = Vec::new();
        self.host.counters(&mut counters);
        out.push(NodeSnapshot {
            name: self.name,
            conns: self.app.snapshot(&self.host),
            counters,
            connections: self.host.connection_count(),
        });
    }
}

impl<A: Apps, B: Apps> Apps for Pair<A, B> {
    fn listening(&self) -> bool {
        self.a.listening() && self.b.listening()
    }
    fn done(&self) -> bool {
        self.a.done() && self.b.done()
    }
    fn take_results(&mut self, out: &mut Vec<(usize, ConnResult)>) {
        self.a.take_results(out);
        let n = out.len();
        self.b.take_results(out);
        for r in &mut out[n..] {
            r.0 += 1;
        }
    }
    fn set_paused(&mut self, paused: bool) {
        self.a.set_paused(paused);
        self.b.set_paused(paused);
    }
    fn finish_sending(&mut self) {
        self.a.finish_sending();
        self.b.finish_sending();
    }
    fn snapshot(&self, out: &mut Vec<NodeSnapshot>) {
        self.a.snapshot(out);
        self.b.snapshot(out);
    }
}

/// A failure of the runtime: one line for the user.
pub type RunError = String;

/// The EAL, the mempool and the started ports (dropped in that reverse order: ports,
/// pool, EAL).
#[derive(Debug)]
pub struct Dpdk {
    pub ports: Vec<Arc<Port>>,
    pub pool: Arc<Mempool>,
    pub eal: Eal,
}

/// Mbufs in the pool: enough for every RX/TX ring of a few ports plus packets in flight.
const POOL_MBUFS: u32 = 32 * 1024 - 1;
/// Data room per mbuf: a 1518-byte frame plus headroom.
const MBUF_DATA_ROOM: u16 = 2048 + 128;

/// Brings up the EAL with `args` (program name first).
pub fn init_eal(args: &[String]) -> Result<Eal, RunError> {
    Eal::init(args).map_err(|e| match e {
        dataplane::nic::dpdk::DpdkError::EalInit(t) => format!("DPDK EAL: {t}"),
        e => e.to_string(),
    })
}

/// Creates the mempool and starts `ids` (every port when `None`).
pub fn start_ports(eal: Eal, eal_args: &[String], ids: Option<Vec<u16>>) -> Result<Dpdk, RunError> {
    let ids = ids.unwrap_or_else(|| (0..eal.port_count()).collect());
    let pool = Arc::new(
        Mempool::new("mpdk_pool", POOL_MBUFS, 256, MBUF_DATA_ROOM)
            .map_err(|e| format!("mempool: {e}"))?,
    );
    let cfg = PortConfig::default();
    let mut ports = Vec::new();
    for id in ids {
        // A memif client cannot start before its server exists: keep it configured and
        // let `wait_links` retry.
        let (p, err) = dataplane::nic::dpdk::with_quiet_log(|| Port::configure(id, &cfg, &pool))
            .map_err(|e| format!("port {id}: {e}"))?;
        if let Some(e) = err {
            if !is_memif_client(eal_args, &p.name()) {
                return Err(format!("port {id}: {e}"));
            }
        }
        ports.push(Arc::new(p));
    }
    Ok(Dpdk { ports, pool, eal })
}

/// Whether the EAL arguments make port `name` a memif client (`--vdev
/// net_memifN,role=client,...`).
pub fn is_memif_client(eal_args: &[String], name: &str) -> bool {
    eal_args.iter().any(|a| {
        let dev = a.strip_prefix("--vdev=").unwrap_or(a);
        let mut parts = dev.split(',');
        parts.next() == Some(name) && parts.any(|p| p == "role=client")
    })
}

/// Brings the links up before the worker starts: waits (at most `limit`) for ports
/// whose driver reports link state promptly; memif server links come up only when a
/// client connects, so they are not waited for. A memif client whose server is not
/// there yet is restarted (which reconnects) every 200 ms until its link is up, for as
/// long as `client_limit`.
pub fn wait_links(
    ports: &mut [Arc<Port>],
    eal_args: &[String],
    limit: StdDuration,
    client_limit: StdDuration,
) -> Result<(), RunError> {
    let start = StdInstant::now();
    let mut last_restart = start;
    let mut said = false;
    loop {
        let mut waiting = false;
        for p in ports.iter_mut() {
            if p.link().up {
                continue;
            }
            if p.driver().contains("memif") {
                let name = p.name();
                if !is_memif_client(eal_args, &name) {
                    continue;
                }
                if start.elapsed() > client_limit {
                    return Err(format!(
                        "port {} ({name}): no memif server answered",
                        p.id()
                    ));
                }
                if !said {
                    eprintln!("mpdk: waiting for the memif server of {name}");
                    said = true;
                }
                if last_restart.elapsed() >= StdDuration::from_millis(200) {
                    if let Some(port) = Arc::get_mut(p) {
                        // Fails (EPERM) while the server's socket is not there yet.
                        let _ = dataplane::nic::dpdk::with_quiet_log(|| port.restart());
                    }
                }
                waiting = true;
            } else if start.elapsed() < limit {
                waiting = true;
            }
        }
        if last_restart.elapsed() >= StdDuration::from_millis(200) {
            last_restart = StdInstant::now();
        }
        if !waiting {
            return Ok(());
        }
        std::thread::sleep(StdDuration::from_millis(10));
    }
}

/// The MAC the host uses on `port`: the port's own, or for virtual ports that have
/// none (ring ports report 00:00:00:00:00:00) a locally administered one made from the
/// port id.
pub fn port_mac(port: &Port) -> [u8; 6] {
    let m = port.mac();
    if m == [0; 6] {
        let id = port.id().to_be_bytes();
        [0x02, 0x6d, 0x70, 0x64, id[0], id[1]]
    } else {
        m
    }
}

/// The interface of a port with its addresses.
pub fn interface(port: &Port, addrs: &[Ipv4Cidr]) -> Interface {
    Interface {
        mac: EthernetAddress(port_mac(port)),
        addrs: addrs.to_vec(),
        gateway: None,
    }
}

/// CPUs from the EAL's `-l` list (`-l 0,1`, `-l0-1`, `--lcores=0,1`): the main lcore
/// first. `None` without one.
pub fn lcore_cpus(eal_args: &[String]) -> Option<Vec<usize>> {
    let mut it = eal_args.iter();
    let mut spec = None;
    while let Some(a) = it.next() {
        if a == "-l" || a == "--lcores" {
            spec = it.next().cloned();
        } else if let Some(v) = a.strip_prefix("--lcores=") {
            spec = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("-l") {
            if !v.is_empty() && !a.starts_with("--") {
                spec = Some(v.to_string());
            }
        }
    }
    let spec = spec?;
    let mut cpus = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// The CPU for the worker: the second lcore of `-l`, else the last CPU (the EAL keeps
/// the main thread on the first).
pub fn worker_cpu(eal_args: &[String]) -> Option<core_affinity::CoreId> {
    let ids = core_affinity::get_core_ids()?;
    let want = match lcore_cpus(eal_args) {
        Some(l) if l.len() > 1 => l[1],
        Some(l) if l.len() == 1 => l[0],
        _ => ids.last()?.id,
    };
    ids.into_iter().find(|c| c.id == want)
}

/// Worker-thread settings.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSetup {
    pub cpu: Option<core_affinity::CoreId>,
    /// Leave the loop on its own once every node is done and `linger` passed (so the
    /// last ACKs and FINs leave).
    pub exit_when_done: bool,
    pub linger: StdDuration,
    /// Start with the application paused (`-i`: waits for `start`).
    pub paused: bool,
}

/// Starts the worker thread on every port of `dpdk`.
pub fn spawn_worker<H: Apps>(
    host: H,
    dpdk: &Dpdk,
    setup: WorkerSetup,
) -> (JoinHandle<()>, Sender<ToWorker>, Receiver<FromWorker>) {
    spawn_worker_on(
        host,
        dpdk.ports.clone(),
        dpdk.pool.clone(),
        TscClock::new(dpdk.eal.tsc_hz()),
        setup,
    )
}

/// Starts a worker thread on `ports` (the host's interface `i` is `ports[i]`).
pub fn spawn_worker_on<H: Apps>(
    host: H,
    ports: Vec<Arc<Port>>,
    pool: Arc<Mempool>,
    clock: TscClock,
    setup: WorkerSetup,
) -> (JoinHandle<()>, Sender<ToWorker>, Receiver<FromWorker>) {
    let (to_tx, to_rx) = unbounded();
    let (from_tx, from_rx) = unbounded();
    let handle = std::thread::Builder::new()
        .name("mpdk-worker".into())
        .spawn(move || {
            if let Some(cpu) = setup.cpu {
                core_affinity::set_for_current(cpu);
            }
            let mut host = host;
            host.set_paused(setup.paused);
            let w = Worker::new(host, ports, 0, pool, clock);
            worker_loop(w, to_rx, from_tx, setup);
        })
        .expect("spawn the worker thread");
    (handle, to_tx, from_rx)
}

fn worker_loop<H: Apps>(
    mut w: Worker<H>,
    rx: Receiver<ToWorker>,
    tx: Sender<FromWorker>,
    setup: WorkerSetup,
) {
    let mut ready = false;
    let mut done_at: Option<StdInstant> = None;
    let mut idle: u32 = 0;
    let mut iter: u64 = 0;
    let mut results = Vec::new();
    loop {
        let moved = w.poll();
        iter += 1;
        if !ready && w.host().listening() {
            ready = true;
            let _ = tx.send(FromWorker::Ready);
        }
        w.host_mut().take_results(&mut results);
        if !results.is_empty() {
            let _ = tx.send(FromWorker::Results(std::mem::take(&mut results)));
        }
        if done_at.is_none() && w.host().done() {
            done_at = Some(StdInstant::now());
            let _ = tx.send(FromWorker::Done);
        }
        if setup.exit_when_done && done_at.is_some_and(|t| t.elapsed() >= setup.linger) {
            break;
        }
        idle = if moved == 0 {
            idle.saturating_add(1)
        } else {
            0
        };
        if idle > 0 || iter.is_multiple_of(64) {
            match rx.try_recv() {
                Ok(ToWorker::Pause(p)) => w.host_mut().set_paused(p),
                Ok(ToWorker::FinishSending) => w.host_mut().finish_sending(),
                Ok(ToWorker::Snapshot) => {
                    let mut v = Vec::new();
                    w.host().snapshot(&mut v);
                    let _ = tx.send(FromWorker::Snapshot(v, w.stats()));
                }
                Ok(ToWorker::Shutdown) | Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {}
            }
        }
        // Poll mode, but polite on a shared CPU: yield after a short idle streak and
        // nap after a long one (a quiet listener, a paused application).
        if idle > 100_000 {
            std::thread::sleep(StdDuration::from_micros(100));
        } else if idle > 256 {
            std::thread::yield_now();
        }
    }
    let _ = tx.send(FromWorker::Exited(w.stats()));
}

/// What the control loop does besides waiting for the worker.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub stats_period: Option<StdDuration>,
    pub duration: Option<StdDuration>,
    pub interactive: bool,
    /// Print `ready` on stderr when the worker says so.
    pub print_ready: bool,
    /// Print each result as a JSON line as it arrives.
    pub json_lines: bool,
    /// Port addresses to show (`show port info all`), by position in the port list.
    pub port_addrs: Vec<Vec<String>>,
    /// Port pairs to show as paths on the statistics line: (name, ports).
    pub paths: Vec<(String, Vec<usize>)>,
    /// Give up when the application's byte counts did not move for this long (checked
    /// on the statistics snapshots; not while stopped at the prompt).
    pub stall_timeout: Option<StdDuration>,
}

/// What the control loop collected.
#[derive(Debug, Default)]
pub struct LoopOutcome {
    pub results: Vec<(usize, ConnResult)>,
    pub done: bool,
    /// Ended by the stall watchdog.
    pub stalled: bool,
    /// The worker thread panicked (a bug; its message went to stderr).
    pub worker_panicked: bool,
    pub elapsed: StdDuration,
    pub worker: WorkerStats,
}

fn port_views(dpdk: &Dpdk, addrs: &[Vec<String>]) -> Vec<PortView> {
    dpdk.ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let s = p.stats();
            let l = p.link();
            PortView {
                id: p.id(),
                driver: p.driver().to_string(),
                mac: port_mac(p),
                link_up: l.up,
                speed_mbps: l.speed_mbps,
                addrs: addrs.get(i).cloned().unwrap_or_default(),
                csum_offload: p.csum_offload(),
                ipackets: s.ipackets,
                opackets: s.opackets,
                ibytes: s.ibytes,
                obytes: s.obytes,
                imissed: s.imissed,
                ierrors: s.ierrors,
                oerrors: s.oerrors,
                rx_nombuf: s.rx_nombuf,
            }
        })
        .collect()
}

/// Reads stdin lines on a helper thread (blocking reads never stall the control loop).
fn stdin_lines() -> Receiver<Option<String>> {
    let (tx, rx) = unbounded();
    std::thread::Builder::new()
        .name("mpdk-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                match line {
                    Ok(l) => {
                        if tx.send(Some(l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(None);
        })
        .expect("spawn the stdin thread");
    rx
}

fn prompt() {
    eprint!("mpdk> ");
    let _ = std::io::stderr().flush();
}

/// Runs the control loop until the worker exits (done, `quit`, or an error).
pub fn control_loop(
    dpdk: &Dpdk,
    worker: JoinHandle<()>,
    to: Sender<ToWorker>,
    from: Receiver<FromWorker>,
    opts: &LoopOptions,
) -> LoopOutcome {
    let start = StdInstant::now();
    let mut out = LoopOutcome::default();
    let mut rates = RateTracker::new(start);
    let mut next_stats = opts.stats_period.map(|p| start + p);
    let mut deadline = opts.duration.map(|d| start + d);
    let lines = if opts.interactive {
        eprintln!("mpdk interactive mode; 'help' lists the commands");
        prompt();
        stdin_lines()
    } else {
        crossbeam_channel::never()
    };
    // A snapshot was asked for: for the statistics line (None) or a command.
    let mut pending: Vec<Option<Command>> = Vec::new();
    let mut progress = (0u64, start);
    let mut paused = false;
    let path_packets = || -> Vec<u64> {
        opts.paths
            .iter()
            .map(|(_, ps)| {
                ps.iter()
                    .filter_map(|&i| dpdk.ports.get(i))
                    .map(|p| p.stats().opackets)
                    .sum()
            })
            .collect()
    };
    // Paths are counted in packets: virtual PMDs (ring) count no bytes.
    let mut prev_paths: Option<(StdInstant, Vec<u64>)> = Some((start, path_packets()));
    loop {
        let now = StdInstant::now();
        let wake = [next_stats, deadline].into_iter().flatten().min();
        let timeout = wake.map_or(StdDuration::from_secs(3600), |w| {
            w.saturating_duration_since(now)
        });
        select! {
            recv(from) -> msg => match msg {
                Ok(FromWorker::Ready) => {
                    if opts.print_ready {
                        eprintln!("ready");
                    }
                }
                Ok(FromWorker::Results(rs)) => {
                    for (node, r) in rs {
                        if let Some(e) = &r.error {
                            eprintln!("mpdk: {} connection failed: {e}", r.role);
                        }
                        if opts.json_lines {
                            println!("{}", crate::json::conn_result(&r));
                            let _ = std::io::stdout().flush();
                        }
                        out.results.push((node, r));
                    }
                }
                Ok(FromWorker::Done) => out.done = true,
                Ok(FromWorker::Snapshot(nodes, _stats)) => {
                    let kind = if pending.is_empty() { None } else { pending.remove(0) };
                    match kind {
                        None => {
                            let at = StdInstant::now();
                            let elapsed = at.duration_since(start).as_secs_f64();
                            let moved: u64 = nodes
                                .iter()
                                .flat_map(|n| &n.conns)
                                .map(|c| c.bytes_sent + c.bytes_received)
                                .sum::<u64>()
                                + out.results.len() as u64;
                            if moved != progress.0 || paused || out.done {
                                progress = (moved, at);
                            } else if let Some(limit) = opts.stall_timeout {
                                if at.duration_since(progress.1) >= limit && !out.stalled {
                                    eprintln!(
                                        "mpdk: no progress for {:.0} s: the transfer stalled, giving up",
                                        limit.as_secs_f64()
                                    );
                                    eprint!("{}", console::conns(&nodes));
                                    out.stalled = true;
                                    let _ = to.send(ToWorker::Shutdown);
                                }
                            }
                            for l in rates.lines(&nodes, at, elapsed) {
                                eprintln!("{l}");
                            }
                            if !opts.paths.is_empty() {
                                let now_packets = path_packets();
                                if let Some((t0, p0)) = &prev_paths {
                                    let dt = at.duration_since(*t0).as_secs_f64().max(1e-9);
                                    let mut l = format!("[{elapsed:7.1}s] paths:");
                                    for (((name, _), n), p) in opts.paths.iter().zip(&now_packets).zip(p0) {
                                        l.push_str(&format!("  {name} {:8.1} kpps", n.saturating_sub(*p) as f64 / dt / 1e3));
                                    }
                                    eprintln!("{l}");
                                }
                                prev_paths = Some((at, now_packets));
                            }
                        }
                        Some(cmd) => {
                            let text = match cmd {
                                Command::ShowConns => console::conns(&nodes),
                                Command::ShowSubflows => console::subflows(&nodes),
                                _ => console::counters(&nodes),
                            };
                            eprint!("{text}");
                            prompt();
                        }
                    }
                }
                Ok(FromWorker::Exited(stats)) => {
                    out.worker = stats;
                    break;
                }
                Err(_) => break,
            },
            recv(lines) -> line => {
                let line = match line {
                    Ok(Some(l)) => l,
                    // End of input ends the session like `quit`.
                    _ => {
                        let _ = to.send(ToWorker::Shutdown);
                        continue;
                    }
                };
                match console::parse(&line) {
                    Ok(Command::Nothing) => prompt(),
                    Ok(Command::Help) => {
                        eprintln!("{}", console::HELP);
                        prompt();
                    }
                    Ok(Command::Quit) => {
                        let _ = to.send(ToWorker::Shutdown);
                    }
                    Ok(Command::Start) => {
                        paused = false;
                        let _ = to.send(ToWorker::Pause(false));
                        eprintln!("application started");
                        prompt();
                    }
                    Ok(Command::Stop) => {
                        paused = true;
                        let _ = to.send(ToWorker::Pause(true));
                        eprintln!("application stopped");
                        prompt();
                    }
                    Ok(Command::ShowPortStats) => {
                        eprint!("{}", console::port_stats(&port_views(dpdk, &opts.port_addrs)));
                        prompt();
                    }
                    Ok(Command::ClearPortStats) => {
                        for p in &dpdk.ports {
                            p.clear_stats();
                        }
                        eprintln!("port statistics cleared");
                        prompt();
                    }
                    Ok(Command::ShowPortInfo) => {
                        eprint!("{}", console::port_info(&port_views(dpdk, &opts.port_addrs)));
                        prompt();
                    }
                    Ok(cmd @ (Command::ShowConns | Command::ShowSubflows | Command::ShowCounters)) => {
                        pending.push(Some(cmd));
                        let _ = to.send(ToWorker::Snapshot);
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        prompt();
                    }
                }
            },
            default(timeout) => {}
        }
        let now = StdInstant::now();
        if let Some(t) = next_stats {
            if now >= t {
                pending.push(None);
                let _ = to.send(ToWorker::Snapshot);
                let p = opts.stats_period.unwrap_or(StdDuration::from_secs(1));
                let mut n = t + p;
                while n <= now {
                    n += p;
                }
                next_stats = Some(n);
            }
        }
        if deadline.is_some_and(|d| now >= d) {
            deadline = None;
            let _ = to.send(ToWorker::FinishSending);
        }
    }
    out.elapsed = start.elapsed();
    if worker.join().is_err() {
        eprintln!("mpdk: the worker thread failed (see above)");
        out.worker_panicked = true;
    }
    out
}
