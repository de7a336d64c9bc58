//! The seam between the console's app engine and a host stack: [`AppHost`], the
//! connection API the engine drives (sans-IO: time is passed in), and [`TcpAppHost`],
//! its implementation over the plain-TCP [`Stack`].
//!
//! [`MptcpAppHost`] implements it over the MPTCP host (`dataplane::mptcp::endpoint::
//! MptcpStack`), which is what the console runs: MPTCP or TCP per `--proto`, a listener
//! accepting both. [`TcpAppHost`] (plain TCP only: `--proto mptcp` opens plain TCP there
//! and reports `proto_used: "tcp"`, never claiming MPTCP) remains for TCP-only tests.

use std::collections::HashMap;
use std::net::SocketAddrV4;

use dataplane::nic::FrameHost;
use dataplane::stack::{ConnHandle, Stack, StackConfig, TcpOpener};
use dataplane::tcp::socket::State;
use dataplane::time::{Duration, Instant};

use crate::cli::Proto;

/// One subflow of a connection as the console shows it (a plain TCP connection is its
/// own single subflow, id 0).
#[derive(Debug, Clone, PartialEq)]
pub struct SubflowInfo {
    /// The subflow's id within its connection (MPTCP subflow index; 0 for plain TCP).
    pub id: u8,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// Marked backup (MP_PRIO / `backup` endpoint).
    pub backup: bool,
    /// Bytes handed to this subflow / delivered by it.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    /// Congestion window in bytes.
    pub cwnd: usize,
    /// The subflow's TCP state.
    pub state: State,
}

/// Where a connection is, as the app engine needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    /// Handshake in progress.
    Connecting,
    /// Synchronized; data may flow.
    Open,
    /// Gone: closed cleanly (`None`) or failed (the reason).
    Closed(Option<&'static str>),
}

/// The connection API the app engine runs on. Every method is non-blocking; errors on
/// stale handles are swallowed (a stale handle reads as closed).
pub trait AppHost: FrameHost {
    /// A connection handle.
    type Conn: Copy + Eq + std::hash::Hash + std::fmt::Debug;

    /// Active open to `remote` asking for `proto`.
    fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        proto: Proto,
    ) -> Result<Self::Conn, String>;
    /// Listens on `port` (MPTCP and TCP).
    fn listen(&mut self, port: u16) -> Result<(), String>;
    /// The next accepted connection on `port`.
    fn accept(&mut self, port: u16) -> Option<Self::Conn>;
    /// Queues data; returns the bytes taken.
    fn send(&mut self, c: Self::Conn, data: &[u8]) -> usize;
    /// Reads data; returns the bytes read.
    fn recv(&mut self, c: Self::Conn, buf: &mut [u8]) -> usize;
    /// Half-close after the queued data (DATA_FIN for MPTCP).
    fn shutdown(&mut self, c: Self::Conn);
    /// Lets go of the connection (it lingers through its close on its own).
    fn close(&mut self, now: Instant, c: Self::Conn);
    /// Aborts (MP_FASTCLOSE for MPTCP, RST for TCP).
    fn abort(&mut self, c: Self::Conn);
    /// Where the connection is.
    fn status(&self, c: Self::Conn) -> ConnStatus;
    /// The peer closed and all its data was read.
    fn recv_finished(&self, c: Self::Conn) -> bool;
    /// Bytes taken by `send` and not yet acknowledged by the peer.
    fn unacked(&self, c: Self::Conn) -> u64;
    /// Our half-close was acknowledged (FIN or DATA_FIN).
    fn send_finished(&self, c: Self::Conn) -> bool;
    /// The protocol the connection ended up with (MPTCP may fall back to TCP).
    fn proto_used(&self, c: Self::Conn) -> Proto;
    /// The connection's subflows, appended to `out`.
    fn subflows(&self, c: Self::Conn, out: &mut Vec<SubflowInfo>);
    /// How many subflows reached the established state over the connection's life.
    fn subflows_established(&self, c: Self::Conn) -> u32;
    /// Host-wide counters under their Linux names, appended to `out`.
    fn counters(&self, out: &mut Vec<(&'static str, u64)>);
    /// Discards pending events (the engine polls state instead).
    fn drain_events(&mut self);
    /// Connections in the host's table (TIME_WAIT included), for the console.
    fn connection_count(&self) -> usize;
}

/// Per-connection byte counts the TCP host keeps for [`SubflowInfo`].
#[derive(Debug, Default, Clone, Copy)]
struct Bytes {
    sent: u64,
    received: u64,
    established: bool,
}

/// [`AppHost`] over the plain-TCP [`Stack`]: every connection is plain TCP with one
/// subflow. `--proto mptcp` is served by plain TCP here (see the module docs).
#[derive(Debug)]
pub struct TcpAppHost {
    /// The stack.
    pub stack: Stack<TcpOpener>,
    bytes: HashMap<ConnHandle, Bytes>,
}

impl TcpAppHost {
    /// A host with no interfaces yet (add them with `stack.add_interface`).
    pub fn new(cfg: StackConfig) -> TcpAppHost {
        TcpAppHost {
            stack: Stack::new(cfg),
            bytes: HashMap::new(),
        }
    }
}

/// The TCP configuration the console uses: buffers sized for a low-RTT DPDK path.
pub fn console_stack_config(secret_seed: u64) -> StackConfig {
    let mut cfg = StackConfig::default();
    cfg.tcp.send_buffer = 1 << 20;
    cfg.tcp.recv_buffer = 1 << 20;
    // Poll-mode receive coalesces ACKs: grow by all bytes acknowledged (as Linux).
    cfg.tcp.abc_limit = None;
    // Short TIME_WAIT: the console's connections are its own load, not a server's.
    cfg.tcp.time_wait = Duration::from_secs(2);
    let mut s = secret_seed;
    for chunk in cfg.secret.chunks_mut(8) {
        let w = dataplane::sim::rng::splitmix64(&mut s).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
    cfg
}

impl FrameHost for TcpAppHost {
    fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        self.stack.handle_frame(now, iface, frame);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        self.stack.poll_transmit(now, emit);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.stack.poll_timeout()
    }
}

impl AppHost for TcpAppHost {
    type Conn = ConnHandle;

    fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        _proto: Proto,
    ) -> Result<ConnHandle, String> {
        // This host speaks plain TCP only (MptcpAppHost speaks both).
        let h = self
            .stack
            .connect(now, *remote.ip(), remote.port())
            .map_err(|e| e.to_string())?;
        self.bytes.insert(h, Bytes::default());
        Ok(h)
    }

    fn listen(&mut self, port: u16) -> Result<(), String> {
        self.stack.listen(port, 128).map_err(|e| e.to_string())
    }

    fn accept(&mut self, port: u16) -> Option<ConnHandle> {
        let h = self.stack.accept(port)?;
        self.bytes.insert(h, Bytes::default());
        Some(h)
    }

    fn send(&mut self, c: ConnHandle, data: &[u8]) -> usize {
        let n = self.stack.send(c, data).unwrap_or(0);
        if let Some(b) = self.bytes.get_mut(&c) {
            b.sent += n as u64;
        }
        n
    }

    fn recv(&mut self, c: ConnHandle, buf: &mut [u8]) -> usize {
        let n = self.stack.recv(c, buf).unwrap_or(0);
        if let Some(b) = self.bytes.get_mut(&c) {
            b.received += n as u64;
        }
        n
    }

    fn shutdown(&mut self, c: ConnHandle) {
        let _ = self.stack.shutdown(c);
    }

    fn close(&mut self, now: Instant, c: ConnHandle) {
        self.bytes.remove(&c);
        let _ = self.stack.close(now, c);
    }

    fn abort(&mut self, c: ConnHandle) {
        self.bytes.remove(&c);
        let _ = self.stack.abort(c);
    }

    fn status(&self, c: ConnHandle) -> ConnStatus {
        match self.stack.state(c) {
            None => ConnStatus::Closed(None),
            Some(State::Closed) => ConnStatus::Closed(self.stack.error(c).map(|e| match e {
                dataplane::tcp::socket::TcpError::Refused => "connection refused",
                dataplane::tcp::socket::TcpError::Reset => "connection reset",
                dataplane::tcp::socket::TcpError::TimedOut => "connection timed out",
                _ => "connection failed",
            })),
            Some(s) if s.is_synchronized() => ConnStatus::Open,
            Some(_) => ConnStatus::Connecting,
        }
    }

    fn recv_finished(&self, c: ConnHandle) -> bool {
        self.stack.recv_finished(c)
    }

    fn unacked(&self, c: ConnHandle) -> u64 {
        self.stack.transport(c).map_or(0, |s| s.send_queue() as u64)
    }

    fn send_finished(&self, c: ConnHandle) -> bool {
        matches!(
            self.stack.state(c),
            Some(State::FinWait2 | State::TimeWait | State::Closed) | None
        )
    }

    fn proto_used(&self, _c: ConnHandle) -> Proto {
        Proto::Tcp
    }

    fn subflows(&self, c: ConnHandle, out: &mut Vec<SubflowInfo>) {
        let (Some(t), Some(sock)) = (self.stack.tuple(c), self.stack.transport(c)) else {
            return;
        };
        let b = self.bytes.get(&c).copied().unwrap_or_default();
        out.push(SubflowInfo {
            id: 0,
            local: SocketAddrV4::new(t.local_addr, t.local_port),
            remote: SocketAddrV4::new(t.remote_addr, t.remote_port),
            backup: false,
            bytes_sent: b.sent,
            bytes_received: b.received,
            srtt: sock.rtt().srtt(),
            cwnd: sock.cwnd(),
            state: sock.state(),
        });
    }

    fn subflows_established(&self, c: ConnHandle) -> u32 {
        match self.stack.state(c) {
            Some(s) if s.is_synchronized() => 1,
            // A connection that closed after its handshake still had its one subflow.
            _ => u32::from(self.bytes.get(&c).is_some_and(|b| b.established)),
        }
    }

    fn counters(&self, out: &mut Vec<(&'static str, u64)>) {
        out.extend(self.stack.counters().iter());
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.stack.poll_event() {
            if let dataplane::stack::Event::Connected(h) = e {
                if let Some(b) = self.bytes.get_mut(&h) {
                    b.established = true;
                }
            }
        }
        // Accepted connections are synchronized from the start.
        for (h, b) in self.bytes.iter_mut() {
            if !b.established && self.stack.state(*h).is_some_and(|s| s.is_synchronized()) {
                b.established = true;
            }
        }
    }

    fn connection_count(&self) -> usize {
        self.stack.connection_count()
    }
}

/// [`AppHost`] over the MPTCP host ([`MptcpStack`]): `--proto mptcp` opens MPTCP (with
/// fallback to TCP when the peer does not do it), `--proto tcp` plain TCP; a listener
/// accepts both. The path manager's endpoints and limits come from `--endpoint` and
/// `--limits` ([`MptcpAppHost::configure_pm`]).
#[derive(Debug)]
pub struct MptcpAppHost {
    /// The MPTCP host.
    pub stack: MptcpStack,
    bytes: HashMap<MpConn, Bytes>,
}

use dataplane::mptcp::conn::{ConnState, MpConn, Proto as MpProto};
use dataplane::mptcp::endpoint::{MptcpConfig, MptcpStack};
use dataplane::mptcp::pm::{Endpoint, EndpointFlags, Limits as PmLimits};

/// The MPTCP configuration the console uses (buffers as [`console_stack_config`]).
pub fn console_mptcp_config(secret_seed: u64) -> MptcpConfig {
    let stack = console_stack_config(secret_seed);
    MptcpConfig {
        stack,
        seed: secret_seed ^ 0x6d70_7463_7000,
        send_buffer: 2 << 20,
        recv_buffer: 2 << 20,
        ..MptcpConfig::default()
    }
}

impl MptcpAppHost {
    /// A host with no interfaces yet (add them with `stack.add_interface`).
    pub fn new(cfg: MptcpConfig) -> MptcpAppHost {
        MptcpAppHost {
            stack: MptcpStack::new(cfg),
            bytes: HashMap::new(),
        }
    }

    /// Installs `--endpoint`s, `--limits` and `--checksum` (as `ip mptcp endpoint add`,
    /// `ip mptcp limits set`, `net.mptcp.checksum_enabled`).
    pub fn configure_pm(
        &mut self,
        endpoints: &[crate::cli::EndpointArg],
        limits: crate::cli::Limits,
        checksum: bool,
    ) -> Result<(), String> {
        self.stack.set_checksum(checksum);
        let pm = self.stack.endpoints_mut();
        pm.set_limits(PmLimits {
            subflows: limits.subflows,
            add_addr_accepted: limits.add_addr_accepted,
        })
        .map_err(|e| format!("--limits: {e:?}"))?;
        for e in endpoints {
            let mut flags = EndpointFlags::default();
            if e.subflow {
                flags = flags | EndpointFlags::SUBFLOW;
            }
            if e.signal {
                flags = flags | EndpointFlags::SIGNAL;
            }
            if e.backup {
                flags = flags | EndpointFlags::BACKUP;
            }
            pm.add(Endpoint {
                id: 0,
                addr: std::net::IpAddr::V4(e.addr),
                port: e.port,
                flags,
                dev: e.dev,
            })
            .map_err(|err| format!("--endpoint {}: {err:?}", e.addr))?;
        }
        Ok(())
    }
}

impl FrameHost for MptcpAppHost {
    fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        self.stack.handle_frame(now, iface, frame);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        self.stack.poll_transmit(now, emit);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.stack.poll_timeout()
    }
}

impl AppHost for MptcpAppHost {
    type Conn = MpConn;

    fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        proto: Proto,
    ) -> Result<MpConn, String> {
        let p = match proto {
            Proto::Mptcp => MpProto::Mptcp,
            Proto::Tcp => MpProto::Tcp,
        };
        let c = self
            .stack
            .connect(now, *remote.ip(), remote.port(), p)
            .map_err(|e| e.to_string())?;
        self.bytes.insert(c, Bytes::default());
        Ok(c)
    }

    fn listen(&mut self, port: u16) -> Result<(), String> {
        self.stack.listen(port, 128).map_err(|e| e.to_string())
    }

    fn accept(&mut self, port: u16) -> Option<MpConn> {
        let c = self.stack.accept(port)?;
        self.bytes.insert(c, Bytes::default());
        Some(c)
    }

    fn send(&mut self, c: MpConn, data: &[u8]) -> usize {
        let n = self.stack.send(c, data).unwrap_or(0);
        if let Some(b) = self.bytes.get_mut(&c) {
            b.sent += n as u64;
        }
        n
    }

    fn recv(&mut self, c: MpConn, buf: &mut [u8]) -> usize {
        let n = self.stack.recv(c, buf).unwrap_or(0);
        if let Some(b) = self.bytes.get_mut(&c) {
            b.received += n as u64;
        }
        n
    }

    fn shutdown(&mut self, c: MpConn) {
        let _ = self.stack.shutdown(c);
    }

    fn close(&mut self, now: Instant, c: MpConn) {
        self.bytes.remove(&c);
        let _ = self.stack.close(now, c);
    }

    fn abort(&mut self, c: MpConn) {
        self.bytes.remove(&c);
        let _ = self.stack.abort(c);
    }

    fn status(&self, c: MpConn) -> ConnStatus {
        match self.stack.state(c) {
            None => ConnStatus::Closed(None),
            Some(ConnState::Connecting) => ConnStatus::Connecting,
            Some(ConnState::Established) => ConnStatus::Open,
            Some(ConnState::Closed) => ConnStatus::Closed(self.stack.error(c).map(|e| match e {
                dataplane::tcp::socket::TcpError::Refused => "connection refused",
                dataplane::tcp::socket::TcpError::Reset => "connection reset",
                dataplane::tcp::socket::TcpError::TimedOut => "connection timed out",
                _ => "connection failed",
            })),
        }
    }

    fn recv_finished(&self, c: MpConn) -> bool {
        self.stack.recv_finished(c)
    }

    fn unacked(&self, c: MpConn) -> u64 {
        // What the subflows had acknowledged, summed: a lower bound of what the peer
        // holds (the data level's own DATA_ACK is not exposed).
        let sent = self.bytes.get(&c).map_or(0, |b| b.sent);
        let acked: u64 = self
            .stack
            .subflows(c)
            .iter()
            .map(|s| {
                let q = self
                    .stack
                    .stack()
                    .transport(s.handle)
                    .map_or(0, |t| t.socket().send_queue() as u64);
                s.bytes_sent.saturating_sub(q)
            })
            .sum();
        sent.saturating_sub(acked)
    }

    fn send_finished(&self, c: MpConn) -> bool {
        self.stack.send_finished(c) || self.stack.state(c).is_none()
    }

    fn proto_used(&self, c: MpConn) -> Proto {
        if self.stack.is_fallback(c) {
            Proto::Tcp
        } else {
            Proto::Mptcp
        }
    }

    fn subflows(&self, c: MpConn, out: &mut Vec<SubflowInfo>) {
        for s in self.stack.subflows(c) {
            let sock = self.stack.stack().transport(s.handle).map(|t| t.socket());
            out.push(SubflowInfo {
                id: s.id,
                local: SocketAddrV4::new(s.local.0, s.local.1),
                remote: SocketAddrV4::new(s.remote.0, s.remote.1),
                backup: s.backup,
                bytes_sent: s.bytes_sent,
                bytes_received: s.bytes_received,
                srtt: sock.and_then(|k| k.rtt().srtt()),
                cwnd: sock.map_or(0, |k| k.cwnd()),
                state: sock.map_or(State::Closed, |k| k.state()),
            });
        }
    }

    fn subflows_established(&self, c: MpConn) -> u32 {
        self.stack
            .subflows(c)
            .iter()
            .filter(|s| s.established)
            .count() as u32
    }

    fn counters(&self, out: &mut Vec<(&'static str, u64)>) {
        out.extend(self.stack.mib().iter().map(|(m, v)| (m.name(), v)));
        out.extend(self.stack.stack().counters().iter());
    }

    fn drain_events(&mut self) {
        while self.stack.poll_event().is_some() {}
    }

    fn connection_count(&self) -> usize {
        self.stack.stack().connection_count()
    }
}
