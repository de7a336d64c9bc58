//! A simulated host running the real [`Stack`] with a bulk-transfer application.
//!
//! [`TcpHost`] adapts a [`Stack`] to the simulator's [`Host`] contract and drives a
//! [`BulkApp`] after every input: the application sends `N` bytes of a seeded
//! pseudo-random stream (xoshiro256** words, see [`super::Rng`]) while it reads and SHA-256
//! hashes everything it receives, then half-closes and, once the peer's stream ended
//! and its own FIN is acknowledged, closes. The hashes of what one side sent and the
//! other received prove a transfer byte-exact.
//!
//! ```
//! use dataplane::sim::tcp_host::{BulkApp, TcpHost};
//! use dataplane::sim::{LinkConfig, Network};
//! use dataplane::stack::{Interface, Ipv4Cidr, StackConfig};
//! use dataplane::time::{Duration, Instant};
//! use dataplane::wire::ethernet::EthernetAddress;
//!
//! let addr = |last| core::net::Ipv4Addr::new(10, 0, 0, last);
//! let iface = |last| Interface::new(EthernetAddress([2, 0, 0, 0, 0, last]), Ipv4Cidr::new(addr(last), 24));
//! let mut net = Network::new(1);
//! let client = net.add_host(TcpHost::new(StackConfig::default(), iface(1),
//!     BulkApp::client(addr(2), 5001, Instant::ZERO, 100_000, 1)));
//! let server = net.add_host(TcpHost::new(StackConfig::default(), iface(2),
//!     BulkApp::server(5001, 50_000, 2)));
//! net.link(client, 0, server, 0, LinkConfig::new().delay(Duration::from_millis(5)));
//! net.run_while(Instant::from_secs(10), |n| !(n.host(client).app.is_done() && n.host(server).app.is_done()));
//! let (c, s) = (&net.host(client).app, &net.host(server).app);
//! assert_eq!(c.sent_digest(), s.received_digest());
//! assert_eq!(s.sent_digest(), c.received_digest());
//! assert_eq!((c.received(), s.received()), (50_000, 100_000));
//! ```

use core::net::Ipv4Addr;

use super::bulk::BulkStream;
use super::Host;
use crate::stack::{ConnHandle, Interface, Opener, Stack, StackConfig, TcpOpener};
use crate::tcp::socket::{State, TcpError};
use crate::time::Instant;

/// Which side of the connection the application is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connects to `remote:port` at `start`.
    Client {
        /// Server address.
        remote: Ipv4Addr,
        /// Server port.
        port: u16,
        /// When to connect.
        start: Instant,
    },
    /// Listens on `port` and serves the first connection.
    Server {
        /// Listening port.
        port: u16,
    },
}

/// Sends `N` seeded pseudo-random bytes, hashes what it sends and receives.
#[derive(Debug, Clone)]
pub struct BulkApp {
    role: Role,
    data: BulkStream,
    conn: Option<ConnHandle>,
    listening: bool,
    shut_down: bool,
    connected_at: Option<Instant>,
    finished_at: Option<Instant>,
    error: Option<TcpError>,
}

impl BulkApp {
    fn new(role: Role, to_send: u64, seed: u64) -> BulkApp {
        BulkApp {
            role,
            data: BulkStream::new(to_send, seed),
            conn: None,
            listening: false,
            shut_down: false,
            connected_at: None,
            finished_at: None,
            error: None,
        }
    }

    /// A client that connects at `start` and sends `to_send` bytes of the stream `seed`.
    pub fn client(remote: Ipv4Addr, port: u16, start: Instant, to_send: u64, seed: u64) -> BulkApp {
        BulkApp::new(
            Role::Client {
                remote,
                port,
                start,
            },
            to_send,
            seed,
        )
    }

    /// A server on `port` that sends `to_send` bytes of the stream `seed`.
    pub fn server(port: u16, to_send: u64, seed: u64) -> BulkApp {
        BulkApp::new(Role::Server { port }, to_send, seed)
    }

    /// Without hashing and with one reused chunk of random bytes: for throughput runs
    /// where only the byte counts matter.
    pub fn without_hashing(mut self) -> BulkApp {
        self.data.without_hashing();
        self
    }

    /// Bytes accepted by `send` so far.
    pub fn sent(&self) -> u64 {
        self.data.sent()
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.data.received()
    }

    /// SHA-256 of everything sent so far.
    pub fn sent_digest(&self) -> [u8; 32] {
        self.data.sent_digest()
    }

    /// SHA-256 of everything received so far.
    pub fn received_digest(&self) -> [u8; 32] {
        self.data.received_digest()
    }

    /// When the connection was established.
    pub fn connected_at(&self) -> Option<Instant> {
        self.connected_at
    }

    /// When both directions were complete (our FIN acknowledged, the peer's read).
    pub fn finished_at(&self) -> Option<Instant> {
        self.finished_at
    }

    /// Whether the transfer completed.
    pub fn is_done(&self) -> bool {
        self.finished_at.is_some()
    }

    /// The connection's error, if it failed.
    pub fn error(&self) -> Option<TcpError> {
        self.error
    }

    /// The connection, once there is one.
    pub fn conn(&self) -> Option<ConnHandle> {
        self.conn
    }

    /// When the application next wants to run on its own (the client's start).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.role {
            Role::Client { start, .. } if self.conn.is_none() && self.error.is_none() => {
                Some(start)
            }
            _ => None,
        }
    }

    /// Runs the application against `stack` at `now`.
    pub fn drive<O: Opener>(&mut self, now: Instant, stack: &mut Stack<O>) {
        while stack.poll_event().is_some() {}
        let h = match self.conn {
            Some(h) => h,
            None => {
                let h = match self.role {
                    Role::Client {
                        remote,
                        port,
                        start,
                    } => {
                        if now < start || self.error.is_some() {
                            return;
                        }
                        match stack.connect(now, remote, port) {
                            Ok(h) => h,
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
                            Some(h) => h,
                            None => return,
                        }
                    }
                };
                self.conn = Some(h);
                h
            }
        };
        if self.finished_at.is_some() {
            return;
        }
        let Some(state) = stack.state(h) else { return };
        if self.connected_at.is_none() && state.is_synchronized() {
            self.connected_at = Some(now);
        }
        // Send.
        self.data.send_with(|b| stack.send(h, b).unwrap_or(0));
        if self.data.all_sent() && !self.shut_down && state.is_synchronized() {
            let _ = stack.shutdown(h);
            self.shut_down = true;
        }
        // Receive.
        self.data.recv_with(|b| stack.recv(h, b).unwrap_or(0));
        let state = stack.state(h).unwrap_or(State::Closed);
        if let Some(e) = stack.error(h) {
            self.error = Some(e);
            self.finished_at = Some(now);
            let _ = stack.close(now, h);
            return;
        }
        let fin_acked = matches!(state, State::FinWait2 | State::TimeWait | State::Closed);
        if self.shut_down && fin_acked && stack.recv_finished(h) {
            self.finished_at = Some(now);
            let _ = stack.close(now, h);
        }
    }
}

/// A [`Host`] running a [`Stack`] and a [`BulkApp`].
#[derive(Debug)]
pub struct TcpHost<O: Opener = TcpOpener> {
    /// The stack.
    pub stack: Stack<O>,
    /// The application.
    pub app: BulkApp,
}

impl TcpHost<TcpOpener> {
    /// A plain-TCP host with one interface.
    pub fn new(cfg: StackConfig, iface: Interface, app: BulkApp) -> TcpHost {
        let mut stack = Stack::new(cfg);
        stack.add_interface(iface);
        TcpHost { stack, app }
    }
}

impl<O: Opener + 'static> Host for TcpHost<O> {
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
