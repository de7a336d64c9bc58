//! A simulated MPTCP host: an [`MptcpStack`] with any number of interfaces (one per
//! path, each its own subnet) and a bulk application like
//! [`super::tcp_host::BulkApp`]: it sends `N` bytes of a seeded pseudo-random stream
//! while it reads and SHA-256 hashes everything it receives, half-closes (DATA_FIN),
//! and is done once its DATA_FIN was DATA_ACKed and the peer's stream ended.
//!
//! ```
//! use dataplane::mptcp::conn::Proto;
//! use dataplane::mptcp::endpoint::MptcpConfig;
//! use dataplane::sim::mptcp_host::{MpBulkApp, MptcpHost};
//! use dataplane::sim::{LinkConfig, Network};
//! use dataplane::stack::{Interface, Ipv4Cidr};
//! use dataplane::time::{Duration, Instant};
//! use dataplane::wire::ethernet::EthernetAddress;
//!
//! let addr = |last| core::net::Ipv4Addr::new(10, 0, 0, last);
//! let iface = |last| Interface::new(EthernetAddress([2, 0, 0, 0, 0, last]), Ipv4Cidr::new(addr(last), 24));
//! let mut net = Network::new(1);
//! let client = net.add_host(MptcpHost::new(MptcpConfig::default(), vec![iface(1)],
//!     MpBulkApp::client(addr(2), 5001, Instant::ZERO, 100_000, 1, Proto::Mptcp)));
//! let server = net.add_host(MptcpHost::new(MptcpConfig::default(), vec![iface(2)],
//!     MpBulkApp::server(5001, 50_000, 2)));
//! net.link(client, 0, server, 0, LinkConfig::new().delay(Duration::from_millis(5)));
//! net.run_while(Instant::from_secs(10), |n| !(n.host(client).app.is_done() && n.host(server).app.is_done()));
//! let (c, s) = (&net.host(client).app, &net.host(server).app);
//! assert_eq!(c.sent_digest(), s.received_digest());
//! assert_eq!(s.sent_digest(), c.received_digest());
//! ```

use core::net::Ipv4Addr;

use super::bulk::BulkStream;
use super::Host;
use crate::mptcp::conn::{ConnState, MpConn, Proto};
use crate::mptcp::endpoint::{MpEvent, MptcpConfig, MptcpStack};
use crate::stack::Interface;
use crate::tcp::socket::TcpError;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client {
        remote: Ipv4Addr,
        port: u16,
        start: Instant,
        proto: Proto,
    },
    Server {
        port: u16,
    },
}

/// Sends `N` seeded pseudo-random bytes over an MPTCP connection, hashes both ways.
#[derive(Debug, Clone)]
pub struct MpBulkApp {
    role: Role,
    data: BulkStream,
    conn: Option<MpConn>,
    listening: bool,
    shut_down: bool,
    connected_at: Option<Instant>,
    finished_at: Option<Instant>,
    error: Option<TcpError>,
    /// Abort (MP_FASTCLOSE) once this many bytes were received.
    abort_after: Option<u64>,
    /// The events the stack reported, readiness (Readable/Writable) left out; the first
    /// 1024.
    events: Vec<MpEvent>,
}

impl MpBulkApp {
    fn new(role: Role, to_send: u64, seed: u64) -> MpBulkApp {
        MpBulkApp {
            role,
            data: BulkStream::new(to_send, seed),
            conn: None,
            listening: false,
            shut_down: false,
            connected_at: None,
            finished_at: None,
            error: None,
            abort_after: None,
            events: Vec::new(),
        }
    }

    /// A client that connects at `start` with `proto` and sends `to_send` bytes.
    pub fn client(
        remote: Ipv4Addr,
        port: u16,
        start: Instant,
        to_send: u64,
        seed: u64,
        proto: Proto,
    ) -> MpBulkApp {
        MpBulkApp::new(
            Role::Client {
                remote,
                port,
                start,
                proto,
            },
            to_send,
            seed,
        )
    }

    /// A server on `port` that sends `to_send` bytes to the first connection.
    pub fn server(port: u16, to_send: u64, seed: u64) -> MpBulkApp {
        MpBulkApp::new(Role::Server { port }, to_send, seed)
    }

    /// Without hashing (throughput runs).
    pub fn without_hashing(mut self) -> MpBulkApp {
        self.data.without_hashing();
        self
    }

    /// Aborts the connection (MP_FASTCLOSE) after receiving `n` bytes.
    pub fn abort_after(mut self, n: u64) -> MpBulkApp {
        self.abort_after = Some(n);
        self
    }

    pub fn sent(&self) -> u64 {
        self.data.sent()
    }
    pub fn received(&self) -> u64 {
        self.data.received()
    }
    pub fn sent_digest(&self) -> [u8; 32] {
        self.data.sent_digest()
    }
    pub fn received_digest(&self) -> [u8; 32] {
        self.data.received_digest()
    }
    pub fn connected_at(&self) -> Option<Instant> {
        self.connected_at
    }
    pub fn finished_at(&self) -> Option<Instant> {
        self.finished_at
    }
    pub fn is_done(&self) -> bool {
        self.finished_at.is_some()
    }
    pub fn error(&self) -> Option<TcpError> {
        self.error
    }
    pub fn conn(&self) -> Option<MpConn> {
        self.conn
    }
    /// The events the stack reported so far, but Readable/Writable (the first 1024).
    pub fn events(&self) -> &[MpEvent] {
        &self.events
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.role {
            Role::Client { start, .. } if self.conn.is_none() && self.error.is_none() => {
                Some(start)
            }
            _ => None,
        }
    }

    /// Runs the application against `stack` at `now`.
    pub fn drive(&mut self, now: Instant, stack: &mut MptcpStack) {
        while let Some(e) = stack.poll_event() {
            let readiness = matches!(e, MpEvent::Readable(_) | MpEvent::Writable(_));
            if !readiness && self.events.len() < 1024 {
                self.events.push(e);
            }
        }
        let c = match self.conn {
            Some(c) => c,
            None => {
                let c = match self.role {
                    Role::Client {
                        remote,
                        port,
                        start,
                        proto,
                    } => {
                        if now < start || self.error.is_some() {
                            return;
                        }
                        match stack.connect(now, remote, port, proto) {
                            Ok(c) => c,
                            Err(_) => {
                                self.error = Some(TcpError::Refused);
                                return;
                            }
                        }
                    }
                    Role::Server { port } => {
                        if !self.listening {
                            self.listening = stack.listen(port, 16).is_ok();
                        }
                        match stack.accept(port) {
                            Some(c) => c,
                            None => return,
                        }
                    }
                };
                self.conn = Some(c);
                c
            }
        };
        if self.finished_at.is_some() {
            return;
        }
        let Some(state) = stack.state(c) else {
            self.finished_at = Some(now);
            return;
        };
        if self.connected_at.is_none() && state == ConnState::Established {
            self.connected_at = Some(now);
        }
        if state == ConnState::Established {
            self.data.send_with(|b| stack.send(c, b).unwrap_or(0));
        }
        if self.data.all_sent() && !self.shut_down && state == ConnState::Established {
            let _ = stack.shutdown(c);
            self.shut_down = true;
        }
        self.data.recv_with(|b| stack.recv(c, b).unwrap_or(0));
        if self.abort_after.is_some_and(|a| self.data.received() >= a) {
            let _ = stack.abort(c);
            self.error = Some(TcpError::Reset);
            self.finished_at = Some(now);
            return;
        }
        if let Some(e) = stack.error(c) {
            self.error = Some(e);
            self.finished_at = Some(now);
            let _ = stack.close(now, c);
            return;
        }
        if self.shut_down && stack.send_finished(c) && stack.recv_finished(c) {
            self.finished_at = Some(now);
            let _ = stack.close(now, c);
        }
    }
}

/// A [`Host`] running an [`MptcpStack`] and an [`MpBulkApp`].
#[derive(Debug)]
pub struct MptcpHost {
    /// The stack.
    pub stack: MptcpStack,
    /// The application.
    pub app: MpBulkApp,
}

impl MptcpHost {
    /// A host with one interface per path.
    pub fn new(cfg: MptcpConfig, ifaces: Vec<Interface>, app: MpBulkApp) -> MptcpHost {
        let mut stack = MptcpStack::new(cfg);
        for i in ifaces {
            stack.add_interface(i);
        }
        MptcpHost { stack, app }
    }
}

impl Host for MptcpHost {
    fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        self.stack.handle_frame(now, iface, frame);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        self.app.drive(now, &mut self.stack);
        self.stack.poll_transmit(now, emit);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.stack.poll_timeout(), self.app.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
