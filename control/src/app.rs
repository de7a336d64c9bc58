//! The app engine: what `mpdk` does with its connections (`--mode sink|source|echo`,
//! `--bytes`, `--count`, `--verify`, `--abort-after`), run-to-completion and sans-IO
//! over an [`AppHost`]. It runs on the worker, called once per poll-loop iteration
//! through [`Node`](crate::node::Node).
//!
//! * **source** sends `--bytes` of a pseudo-random stream (xoshiro256** words from a
//!   fixed seed), half-closes, reads (and hashes) whatever comes back, and is done when
//!   its FIN is acknowledged and the peer's stream ended;
//! * **sink** reads (and hashes) to the end of the stream, then half-closes;
//! * **echo** sends back what it reads, then half-closes after the peer did.
//!
//! A connector retries (every [`RETRY`]) until the listener answers, so the two sides
//! may start in any order. Each finished connection leaves a [`ConnResult`].

use std::net::SocketAddrV4;

use dataplane::sim::Rng;
use dataplane::time::{Duration, Instant};
use sha2::{Digest, Sha256};

use crate::apphost::{AppHost, ConnStatus, SubflowInfo};
use crate::cli::{Mode, Proto};

/// Bytes generated and offered to `send` at a time, and the receive buffer size.
const CHUNK: usize = 64 * 1024;
/// Time between connection attempts while the listener is not there yet.
pub const RETRY: Duration = Duration::from_millis(200);
/// Seed of the source stream (both sides of a test know it; the hashes prove the bytes).
const STREAM_SEED: u64 = 0x6d70_646b_5f73_7263;

/// What the engine does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppRole {
    Listen(u16),
    Connect(SocketAddrV4),
}

/// The engine's settings (from the command line).
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub role: AppRole,
    pub mode: Mode,
    /// Bytes a source sends (`u64::MAX`: until [`AppEngine::finish_sending`]).
    pub bytes: u64,
    /// Connections to serve (listener) or open one after the other (connector).
    pub count: u32,
    /// Hash both directions with SHA-256.
    pub verify: bool,
    /// Abort once bytes acknowledged by the peer plus bytes received reach this.
    pub abort_after: Option<u64>,
    pub proto: Proto,
}

/// The outcome of one connection.
#[derive(Debug, Clone)]
pub struct ConnResult {
    /// "client" (we connected) or "server" (we accepted).
    pub role: &'static str,
    pub proto_used: Proto,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Hex SHA-256 of each direction (absent with `--verify none`).
    pub sha256_sent: Option<String>,
    pub sha256_received: Option<String>,
    pub subflows_established: u32,
    /// From the connection's establishment to its end.
    pub seconds: f64,
    pub subflows: Vec<SubflowInfo>,
    pub counters: Vec<(&'static str, u64)>,
    /// Why it failed, if it did (`None` also for a deliberate `--abort-after`).
    pub error: Option<String>,
    /// Ended by `--abort-after`.
    pub aborted: bool,
}

impl ConnResult {
    /// Payload throughput in Gbit/s: the larger direction over `seconds`.
    pub fn gbps(&self) -> f64 {
        let bytes = self.bytes_sent.max(self.bytes_received);
        if self.seconds > 0.0 {
            bytes as f64 * 8.0 / self.seconds / 1e9
        } else {
            0.0
        }
    }
}

/// A live connection of the engine.
#[derive(Debug)]
struct ConnApp<C> {
    conn: C,
    role: &'static str,
    to_send: u64,
    sent: u64,
    received: u64,
    stream: Rng,
    chunk: Vec<u8>,
    chunk_off: usize,
    /// Echo: bytes read and not yet sent back.
    echo_pending: Vec<u8>,
    echo_off: usize,
    sent_hash: Option<Sha256>,
    received_hash: Option<Sha256>,
    opened_at: Instant,
    connected_at: Option<Instant>,
    shut_down: bool,
    /// Subflows seen at the last drive (kept for the result after the handle goes).
    last_subflows: Vec<SubflowInfo>,
    /// The protocol in use at the last drive: a closed connection is forgotten by the
    /// stack, which then cannot say whether it had fallen back to TCP.
    last_proto: Option<Proto>,
}

impl<C> ConnApp<C> {
    fn new(conn: C, role: &'static str, cfg: &EngineConfig, now: Instant) -> Self {
        let to_send = match cfg.mode {
            Mode::Source => cfg.bytes,
            _ => 0,
        };
        ConnApp {
            conn,
            role,
            to_send,
            sent: 0,
            received: 0,
            stream: Rng::new(STREAM_SEED),
            chunk: Vec::with_capacity(CHUNK),
            chunk_off: 0,
            echo_pending: Vec::with_capacity(CHUNK),
            echo_off: 0,
            sent_hash: cfg.verify.then(Sha256::new),
            received_hash: cfg.verify.then(Sha256::new),
            opened_at: now,
            connected_at: None,
            shut_down: false,
            last_subflows: Vec::new(),
            last_proto: None,
        }
    }

    fn next_chunk(&mut self) {
        let want = CHUNK.min((self.to_send - self.sent) as usize);
        if self.sent_hash.is_none() && self.chunk.len() == CHUNK {
            // Throughput mode: the same random bytes again.
            self.chunk.truncate(want);
            self.chunk_off = 0;
            return;
        }
        self.chunk.clear();
        while self.chunk.len() + 8 <= want {
            self.chunk
                .extend_from_slice(&self.stream.next_u64().to_le_bytes());
        }
        if self.chunk.len() < want {
            let w = self.stream.next_u64().to_le_bytes();
            let n = want - self.chunk.len();
            self.chunk.extend_from_slice(&w[..n]);
        }
        if let Some(h) = self.sent_hash.as_mut() {
            h.update(&self.chunk);
        }
        self.chunk_off = 0;
    }
}

/// A snapshot of one live connection for the console.
#[derive(Debug, Clone)]
pub struct ConnSnapshot {
    pub role: &'static str,
    pub proto_used: Proto,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub state: &'static str,
    /// We half-closed (FIN / DATA_FIN queued).
    pub shut_down: bool,
    /// Our FIN / DATA_FIN was acknowledged.
    pub send_finished: bool,
    /// The peer's FIN / DATA_FIN arrived and everything was read.
    pub recv_finished: bool,
    pub subflows: Vec<SubflowInfo>,
}

/// The app engine. See the [module docs](self).
#[derive(Debug)]
pub struct AppEngine<C> {
    cfg: EngineConfig,
    conns: Vec<ConnApp<C>>,
    /// Connections accepted or opened so far.
    opened: u32,
    listening: bool,
    /// Connector: when to try again.
    retry_at: Option<Instant>,
    /// Connector: failed attempts (refused, timed out) before one succeeded.
    pub attempts: u32,
    results: Vec<ConnResult>,
    finished: u32,
    paused: bool,
    rbuf: Vec<u8>,
    scratch: Vec<SubflowInfo>,
}

impl<C: Copy + Eq + std::hash::Hash + std::fmt::Debug> AppEngine<C> {
    /// An engine that starts at the first [`drive`](Self::drive).
    pub fn new(cfg: EngineConfig) -> Self {
        AppEngine {
            cfg,
            conns: Vec::new(),
            opened: 0,
            listening: false,
            retry_at: None,
            attempts: 0,
            results: Vec::new(),
            finished: 0,
            paused: false,
            rbuf: vec![0; CHUNK],
            scratch: Vec::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Whether the listener is up (a connector is "listening" from the start).
    pub fn is_listening(&self) -> bool {
        self.listening || matches!(self.cfg.role, AppRole::Connect(_)) || self.cfg.count == 0
    }

    /// Every connection of `--count` finished.
    pub fn is_done(&self) -> bool {
        self.finished >= self.cfg.count
    }

    /// Results of connections finished since the last call.
    pub fn take_results(&mut self) -> Vec<ConnResult> {
        std::mem::take(&mut self.results)
    }

    /// Pauses (`stop` at the prompt) or resumes (`start`) the application: while
    /// paused it neither sends nor reads, so flow control stops the peers.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Sources stop generating: each live connection sends what it has queued, then
    /// half-closes (the end of `--duration`).
    pub fn finish_sending(&mut self) {
        for c in &mut self.conns {
            c.to_send = c.sent + (c.chunk.len() - c.chunk_off) as u64;
            c.to_send = c.to_send.max(c.sent);
        }
        if self.cfg.mode == Mode::Source {
            self.cfg.bytes = 0;
        }
    }

    /// When the engine wants to run again on its own (a connection retry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Live connections for the console.
    pub fn snapshot<H: AppHost<Conn = C>>(&self, host: &H) -> Vec<ConnSnapshot> {
        self.conns
            .iter()
            .map(|c| {
                let mut subflows = Vec::new();
                host.subflows(c.conn, &mut subflows);
                ConnSnapshot {
                    role: c.role,
                    proto_used: host.proto_used(c.conn),
                    bytes_sent: c.sent,
                    bytes_received: c.received,
                    state: match host.status(c.conn) {
                        ConnStatus::Connecting => "connecting",
                        ConnStatus::Open => "open",
                        ConnStatus::Closed(_) => "closed",
                    },
                    shut_down: c.shut_down,
                    send_finished: host.send_finished(c.conn),
                    recv_finished: host.recv_finished(c.conn),
                    subflows,
                }
            })
            .collect()
    }

    /// Runs the application at `now`.
    pub fn drive<H: AppHost<Conn = C>>(&mut self, now: Instant, host: &mut H) {
        host.drain_events();
        if self.paused {
            return;
        }
        self.open(now, host);
        let mut i = 0;
        while i < self.conns.len() {
            match self.step(i, now, host) {
                Some(result) => {
                    self.conns.swap_remove(i);
                    self.results.push(result);
                    self.finished += 1;
                }
                None => i += 1,
            }
        }
    }

    /// Listens and accepts, or connects (with retries).
    fn open<H: AppHost<Conn = C>>(&mut self, now: Instant, host: &mut H) {
        if self.cfg.count == 0 {
            // An idle host (`-i` with neither --listen nor --connect).
            return;
        }
        match self.cfg.role {
            AppRole::Listen(port) => {
                if !self.listening {
                    self.listening = host.listen(port).is_ok();
                }
                while self.opened < self.cfg.count {
                    let Some(h) = host.accept(port) else { break };
                    self.opened += 1;
                    let mut c = ConnApp::new(h, "server", &self.cfg, now);
                    c.connected_at = Some(now);
                    self.conns.push(c);
                }
            }
            AppRole::Connect(remote) => {
                // One connection at a time, `count` of them.
                if !self.conns.is_empty() || self.opened >= self.cfg.count {
                    return;
                }
                if self.retry_at.is_some_and(|t| now < t) {
                    return;
                }
                self.retry_at = None;
                match host.connect(now, remote, self.cfg.proto) {
                    Ok(h) => {
                        self.opened += 1;
                        self.conns.push(ConnApp::new(h, "client", &self.cfg, now));
                    }
                    Err(_) => self.retry_at = Some(now + RETRY),
                }
            }
        }
    }

    /// Moves data on connection `i`; returns its result when it is finished.
    fn step<H: AppHost<Conn = C>>(
        &mut self,
        i: usize,
        now: Instant,
        host: &mut H,
    ) -> Option<ConnResult> {
        let cfg = self.cfg;
        let c = &mut self.conns[i];
        let h = c.conn;
        let status = host.status(h);
        if let ConnStatus::Closed(err) = status {
            if c.connected_at.is_none() && c.role == "client" {
                // The listener is not there yet (refused or timed out): try again.
                host.close(now, h);
                self.conns.swap_remove(i);
                self.opened -= 1;
                self.attempts += 1;
                self.retry_at = Some(now + RETRY);
                return None;
            }
            let error = match err {
                Some(e) => Some(e.to_string()),
                None if c.shut_down => None,
                None => Some("connection closed early".to_string()),
            };
            return Some(self.finish(i, now, host, error, false));
        }
        if status == ConnStatus::Connecting {
            return None;
        }
        if c.connected_at.is_none() {
            c.connected_at = Some(now);
        }
        // Send (source) or echo.
        match cfg.mode {
            Mode::Source => {
                while c.sent < c.to_send {
                    if c.chunk_off == c.chunk.len() {
                        c.next_chunk();
                    }
                    let n = host.send(h, &c.chunk[c.chunk_off..]);
                    if n == 0 {
                        break;
                    }
                    c.chunk_off += n;
                    c.sent += n as u64;
                }
            }
            Mode::Echo => {
                flush_echo(c, host);
            }
            Mode::Sink => {}
        }
        // Receive.
        loop {
            if cfg.mode == Mode::Echo && c.echo_off < c.echo_pending.len() {
                break;
            }
            let n = host.recv(h, &mut self.rbuf);
            if n == 0 {
                break;
            }
            let data = &self.rbuf[..n];
            if let Some(hs) = c.received_hash.as_mut() {
                hs.update(data);
            }
            c.received += n as u64;
            if cfg.mode == Mode::Echo {
                c.echo_pending.clear();
                c.echo_pending.extend_from_slice(data);
                c.echo_off = 0;
                if let Some(hs) = c.sent_hash.as_mut() {
                    hs.update(data);
                }
                flush_echo(c, host);
            }
        }
        self.scratch.clear();
        host.subflows(h, &mut self.scratch);
        if !self.scratch.is_empty() {
            c.last_subflows.clone_from(&self.scratch);
            c.last_proto = Some(host.proto_used(h));
        }
        if let Some(limit) = cfg.abort_after {
            // Counted on what the peer acknowledged, so it has really seen `limit`
            // bytes (not just our send buffer filling up).
            let acked = c.sent.saturating_sub(host.unacked(h));
            if acked + c.received >= limit {
                return Some(self.finish(i, now, host, None, true));
            }
        }
        // Half-close when our side of the stream is complete.
        let our_side_done = match cfg.mode {
            Mode::Source => c.sent >= c.to_send,
            Mode::Sink => host.recv_finished(h),
            Mode::Echo => host.recv_finished(h) && c.echo_off >= c.echo_pending.len(),
        };
        if our_side_done && !c.shut_down {
            host.shutdown(h);
            c.shut_down = true;
        }
        if c.shut_down && host.send_finished(h) && host.recv_finished(h) {
            return Some(self.finish(i, now, host, None, false));
        }
        None
    }

    fn finish<H: AppHost<Conn = C>>(
        &mut self,
        i: usize,
        now: Instant,
        host: &mut H,
        error: Option<String>,
        aborted: bool,
    ) -> ConnResult {
        let c = &mut self.conns[i];
        let h = c.conn;
        let mut subflows = Vec::new();
        host.subflows(h, &mut subflows);
        let mut proto_used = host.proto_used(h);
        if subflows.is_empty() {
            subflows = std::mem::take(&mut c.last_subflows);
            proto_used = c.last_proto.unwrap_or(proto_used);
        }
        let subflows_established = host.subflows_established(h);
        // The abort (or close) first, so the counters include what it sent
        // (MPFastcloseTx).
        if aborted {
            host.abort(h);
        } else {
            host.close(now, h);
        }
        let mut counters = Vec::new();
        host.counters(&mut counters);
        let start = c.connected_at.unwrap_or(c.opened_at);
        ConnResult {
            role: c.role,
            proto_used,
            bytes_sent: c.sent,
            bytes_received: c.received,
            sha256_sent: c.sent_hash.take().map(|s| hex(&s.finalize())),
            sha256_received: c.received_hash.take().map(|s| hex(&s.finalize())),
            subflows_established,
            seconds: now.saturating_duration_since(start).as_secs_f64(),
            subflows,
            counters,
            error,
            aborted,
        }
    }
}

fn flush_echo<C: Copy, H: AppHost<Conn = C>>(c: &mut ConnApp<C>, host: &mut H) {
    while c.echo_off < c.echo_pending.len() {
        let n = host.send(c.conn, &c.echo_pending[c.echo_off..]);
        if n == 0 {
            break;
        }
        c.echo_off += n;
        c.sent += n as u64;
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
