//! The seam between the host stack and what runs on one 4-tuple: [`Transport`] (one
//! connection) and [`Opener`] (how connections are made, actively and at a listener).
//!
//! The stack never touches a [`TcpSocket`] directly: its connection table holds
//! `O::Conn` for an [`Opener`] `O`. Plain TCP uses [`TcpOpener`], whose connections are
//! bare [`TcpSocket`]s. MPTCP puts a subflow layer here instead:
//!
//! * **(a) options in**: its [`Transport::handle_segment`] sees every arriving segment
//!   (MP_CAPABLE, DSS, ADD_ADDR, ...) before passing it to its inner `TcpSocket`;
//! * **(b) options out**: its [`Transport::poll_transmit`] takes the inner socket's
//!   segment and adds suboptions to [`TcpRepr::mptcp`] before the stack emits it;
//! * **(c) handshakes at a listener**: [`Opener::accept_syn`] gets every SYN that reaches
//!   a listening port (after the backlog checks), so it can read MP_CAPABLE or MP_JOIN,
//!   look up a token, refuse the SYN (`None`, counted as a listen drop) or build a subflow.

use super::demux::FourTuple;
use crate::seq::SubflowSeq;
use crate::tcp::socket::{SocketError, State, TcpError, TcpSocket};
use crate::tcp::{ConfigError, Instant, TcpConfig};
use crate::wire::tcp::TcpRepr;

/// One connection as the stack drives it. Every method mirrors the [`TcpSocket`] method
/// of the same name; see there for the semantics.
pub trait Transport {
    /// An arriving segment of this connection (already demultiplexed and checksummed).
    fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>);
    /// The next segment to send, its payload copied into `scratch`; called until `None`.
    fn poll_transmit<'b>(&mut self, now: Instant, scratch: &'b mut [u8]) -> Option<TcpRepr<'b>>;
    /// The next deadline for [`handle_timeout`](Self::handle_timeout).
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs the timers due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The RFC 9293 state.
    fn state(&self) -> State;
    /// Why the connection failed, if it did.
    fn error(&self) -> Option<TcpError>;
    /// SND.NXT: the stack counts a segment that starts below it as a retransmission.
    fn snd_nxt(&self) -> SubflowSeq;
    /// RCV.NXT: TIME_WAIT reuse compares a new SYN with it (RFC 6191).
    fn rcv_nxt(&self) -> SubflowSeq;
    /// Queues data to send; returns the bytes taken.
    fn send(&mut self, data: &[u8]) -> usize;
    /// Reads in-order received data; returns the bytes read.
    fn recv(&mut self, buf: &mut [u8]) -> usize;
    /// Whether `send` would take data.
    fn can_send(&self) -> bool;
    /// Whether `recv` would return data.
    fn can_recv(&self) -> bool;
    /// The peer closed and everything was read.
    fn recv_finished(&self) -> bool;
    /// Half-close: a FIN after the queued data (`shutdown(SHUT_WR)`).
    fn shutdown(&mut self);
    /// The application lets go of the connection (`close()`); it lingers until closed.
    fn release(&mut self, now: Instant);
    /// Abort: RST in synchronized states, everything dropped.
    fn abort(&mut self);
}

impl Transport for TcpSocket {
    fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        TcpSocket::handle_segment(self, now, seg)
    }
    fn poll_transmit<'b>(&mut self, now: Instant, scratch: &'b mut [u8]) -> Option<TcpRepr<'b>> {
        TcpSocket::poll_transmit(self, now, scratch)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        TcpSocket::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        TcpSocket::handle_timeout(self, now)
    }
    fn state(&self) -> State {
        TcpSocket::state(self)
    }
    fn error(&self) -> Option<TcpError> {
        TcpSocket::error(self)
    }
    fn snd_nxt(&self) -> SubflowSeq {
        TcpSocket::snd_nxt(self)
    }
    fn rcv_nxt(&self) -> SubflowSeq {
        TcpSocket::rcv_nxt(self)
    }
    fn send(&mut self, data: &[u8]) -> usize {
        TcpSocket::send(self, data)
    }
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        TcpSocket::recv(self, buf)
    }
    fn can_send(&self) -> bool {
        TcpSocket::can_send(self)
    }
    fn can_recv(&self) -> bool {
        TcpSocket::can_recv(self)
    }
    fn recv_finished(&self) -> bool {
        TcpSocket::recv_finished(self)
    }
    fn shutdown(&mut self) {
        TcpSocket::close(self)
    }
    fn release(&mut self, now: Instant) {
        TcpSocket::release(self, now)
    }
    fn abort(&mut self) {
        TcpSocket::abort(self)
    }
}

/// Why an [`Opener`] could not make a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The TCP configuration is invalid.
    Config(ConfigError),
    /// The socket refused the call.
    Socket(SocketError),
}

impl From<ConfigError> for OpenError {
    fn from(e: ConfigError) -> Self {
        OpenError::Config(e)
    }
}

impl From<SocketError> for OpenError {
    fn from(e: SocketError) -> Self {
        OpenError::Socket(e)
    }
}

/// Makes connections for the stack. The ISN and timestamp offset come from the stack
/// (RFC 6528); the opener only builds.
pub trait Opener {
    /// The connection type in the stack's table.
    type Conn: Transport;
    /// An active open on `tuple`: a connection that has queued its SYN.
    fn connect(
        &mut self,
        now: Instant,
        tuple: &FourTuple,
        iss: SubflowSeq,
        ts_offset: u32,
    ) -> Result<Self::Conn, OpenError>;
    /// A SYN reached a listener on `tuple.local` and passed the backlog checks: a
    /// connection that has processed it (state SYN_RECEIVED), or `None` to drop it.
    fn accept_syn(
        &mut self,
        now: Instant,
        tuple: &FourTuple,
        iss: SubflowSeq,
        ts_offset: u32,
        syn: &TcpRepr<'_>,
    ) -> Option<Self::Conn>;
}

/// The plain-TCP opener: every connection is a [`TcpSocket`] with one configuration.
#[derive(Debug, Clone)]
pub struct TcpOpener {
    /// Configuration of every new connection.
    pub cfg: TcpConfig,
}

impl TcpOpener {
    /// Connections get `cfg`.
    pub fn new(cfg: TcpConfig) -> TcpOpener {
        TcpOpener { cfg }
    }
}

impl Opener for TcpOpener {
    type Conn = TcpSocket;

    fn connect(
        &mut self,
        now: Instant,
        tuple: &FourTuple,
        iss: SubflowSeq,
        ts_offset: u32,
    ) -> Result<TcpSocket, OpenError> {
        let mut s = TcpSocket::new(self.cfg.clone(), iss, ts_offset)?;
        s.connect(now, tuple.local_port, tuple.remote_port)?;
        Ok(s)
    }

    fn accept_syn(
        &mut self,
        now: Instant,
        tuple: &FourTuple,
        iss: SubflowSeq,
        ts_offset: u32,
        syn: &TcpRepr<'_>,
    ) -> Option<TcpSocket> {
        let mut s = TcpSocket::new(self.cfg.clone(), iss, ts_offset).ok()?;
        s.listen(tuple.local_port).ok()?;
        s.handle_segment(now, syn);
        (s.state() == State::SynReceived).then_some(s)
    }
}
