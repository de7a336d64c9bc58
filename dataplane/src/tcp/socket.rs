//! One TCP connection: the RFC 9293 state machine, sans-IO.
//!
//! Input: [`TcpSocket::handle_segment`] (a parsed segment of this connection, already
//! demultiplexed by 4-tuple) and [`TcpSocket::handle_timeout`]. Output:
//! [`TcpSocket::poll_transmit`] (one segment per call; call until `None`) and
//! [`TcpSocket::poll_timeout`]. The application side is [`TcpSocket::send`],
//! [`TcpSocket::recv`], [`TcpSocket::close`] and [`TcpSocket::abort`].
//!
//! The socket knows ports but not addresses: the host owns the 4-tuple, builds the IP
//! header and computes checksums. The initial sequence number and the timestamp offset
//! are passed in (RFC 9293 §3.4.1 / RFC 6528 generation is the host's job, which has
//! the keys and the clock).
//!
//! Implemented: active and passive open (and simultaneous open), MSS / window scale /
//! SACK-permitted / timestamps negotiation (RFC 9293 §3.7.1, RFC 7323, RFC 2018), data
//! transfer with out-of-order reassembly, SACK and D-SACK generation, RFC 6675 loss
//! recovery (RFC 6582 style without SACK), RTO with backoff (RFC 6298), congestion
//! control through [`Controller`], delayed ACKs, Nagle and SWS avoidance, zero-window
//! probing, PAWS (RFC 7323 §5), FIN handling in every state, TIME_WAIT, and RST
//! processing with RFC 5961 challenge ACKs, keepalive (RFC 9293 §3.8.4). Not
//! implemented: urgent data, ECN, tail loss probes, pacing, path MTU changes, queueing
//! data carried on a (first) SYN.

use core::fmt;
use core::time::Duration;
use std::collections::VecDeque;

use super::assembler::Assembler;
use super::buffer::RingBuffer;
use super::check::{
    check_ack, check_rst, segment_acceptable, trim_to_window, AckVerdict, ChallengeAckLimiter,
    RstVerdict,
};
use super::congestion::{AckEvent, CcContext, CongestionControl, CongestionEvent, Controller};
use super::rtt::{RttConfig, RttEstimator, TsClock};
use super::sack::{AckSummary, NextSeg, SackBlock, Scoreboard};
use super::timer::{Timer, TimerTable};
use super::window::{sender_segment_size, AckDecision, AckPolicy, RecvWindow, SendWindow};
use super::{after, elapsed, ConfigError, Instant, TcpConfig, MAX_WINDOW_SHIFT};
use crate::seq::SubflowSeq;
use crate::wire::tcp::{TcpFlags, TcpRepr, TcpTimestamp};

/// RFC 9293 §3.7.1: without an MSS option, assume 536 (IPv4's default).
pub const DEFAULT_PEER_MSS: usize = 536;

/// Bytes of every segment's options taken by the timestamps option (with its padding).
const TS_OPTION_LEN: usize = 12;

/// Challenge ACKs per second per connection (RFC 5961 §7).
const CHALLENGE_ACK_LIMIT: u32 = 100;

/// Data segments acknowledged at once after the handshake (Linux's quick-ACK budget).
const QUICKACKS: u32 = 16;

/// Connection states (RFC 9293 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a SYN.
    Listen,
    /// SYN sent, waiting for the SYN-ACK.
    SynSent,
    /// SYN received and SYN-ACK sent, waiting for the ACK.
    SynReceived,
    /// Open in both directions.
    Established,
    /// We closed; our FIN is not yet acknowledged.
    FinWait1,
    /// We closed and our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; waiting 2*MSL for stray segments.
    TimeWait,
}

impl State {
    /// Whether the handshake has completed (RFC 9293's "synchronized" states).
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN_SENT",
            State::SynReceived => "SYN_RECV",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT1",
            State::FinWait2 => "FIN_WAIT2",
            State::CloseWait => "CLOSE_WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST_ACK",
            State::TimeWait => "TIME_WAIT",
        })
    }
}

/// Why a connection ended abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpError {
    /// The peer answered our SYN with a RST (`ECONNREFUSED`).
    Refused,
    /// The peer reset the connection (`ECONNRESET`).
    Reset,
    /// Retransmissions went unanswered (`ETIMEDOUT`).
    TimedOut,
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpError::Refused => "connection refused",
            TcpError::Reset => "connection reset",
            TcpError::TimedOut => "connection timed out",
        })
    }
}

impl std::error::Error for TcpError {}

/// A call that the socket's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketError {
    /// `connect` or `listen` on a socket that is not closed.
    InvalidState,
    /// Port 0.
    InvalidPort,
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SocketError::InvalidState => "invalid state for this call",
            SocketError::InvalidPort => "port 0",
        })
    }
}

impl std::error::Error for SocketError {}

/// A RST to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingRst {
    seq: SubflowSeq,
    ack: Option<SubflowSeq>,
    src_port: u16,
    dst_port: u16,
}

/// The reply RFC 9293 §3.10.7.1 prescribes for a segment that reaches no connection
/// (state CLOSED): nothing for a RST; `<SEQ=SEG.ACK><CTL=RST>` if it has an ACK;
/// otherwise `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. The host can use it for
/// segments to unknown ports.
pub fn rst_reply(seg: &TcpRepr<'_>) -> Option<TcpRepr<'static>> {
    if seg.flags.contains(TcpFlags::RST) {
        return None;
    }
    let (seq, ack) = match seg.ack_number {
        Some(a) => (a, None),
        None => (SubflowSeq(0), Some(seg.seq_number + seg.segment_len())),
    };
    Some(TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        flags: TcpFlags::RST,
        seq_number: seq,
        ack_number: ack,
        ..TcpRepr::default()
    })
}

/// One TCP connection.
#[derive(Debug)]
pub struct TcpSocket {
    cfg: TcpConfig,
    state: State,
    /// The connection came from `listen` (a RST in SYN_RECEIVED returns to LISTEN).
    passive: bool,
    local_port: u16,
    remote_port: u16,
    error: Option<TcpError>,

    // Send sequence space (RFC 9293 §3.3.1).
    iss: SubflowSeq,
    snd_una: SubflowSeq,
    /// Next new sequence number to send (Linux's `snd_nxt`: the highest sent + 1;
    /// retransmissions do not move it).
    snd_nxt: SubflowSeq,
    snd_wnd: SendWindow,
    /// The peer's window shift.
    snd_wscale: u8,
    send_buf: RingBuffer,
    /// `close()` was called: a FIN follows the data.
    fin_queued: bool,
    /// Sequence number of our FIN once sent.
    fin_seq: Option<SubflowSeq>,

    // Receive sequence space.
    irs: SubflowSeq,
    rcv_nxt: SubflowSeq,
    /// Sequence number of the peer's FIN, when it arrived before all data.
    rcv_fin: Option<SubflowSeq>,
    fin_received: bool,
    recv_buf: RingBuffer,
    assembler: Assembler,
    rcv_wnd: RecvWindow,
    /// Our window shift (0 unless both sides agreed to scaling).
    rcv_wscale: u8,

    // Negotiated options.
    /// The peer's MSS option (what it can receive), or the default.
    peer_mss: usize,
    /// Effective send MSS (payload bytes per segment).
    mss: usize,
    sack_ok: bool,
    ts_ok: bool,
    ws_ok: bool,
    ts_recent: u32,
    ts_clock: TsClock,
    last_ack_sent: SubflowSeq,

    // Machinery.
    rtt: RttEstimator,
    timers: TimerTable,
    sb: Scoreboard,
    cc: Controller,
    ack_policy: AckPolicy,
    challenge: ChallengeAckLimiter,
    nagle: bool,

    // Pending output.
    ack_now: bool,
    dsack: Option<SackBlock>,
    rst: Option<PendingRst>,
    /// Send (or resend) our SYN or SYN-ACK.
    syn_needed: bool,
    /// RFC 6675 §5 (4.3): retransmit the first segment on entering recovery.
    rtx_first: bool,
    /// Send a zero-window probe.
    probe_needed: bool,
    /// Send what the window allows despite SWS avoidance (its override timeout fired).
    force_send: bool,
    /// The application released the socket: FIN_WAIT_2 is bounded in time.
    orphaned: bool,
    /// Unanswered keepalive probes.
    keepalive_probes: u8,
    /// Unanswered zero-window probes (Linux's `icsk_probes_out`).
    persist_probes: u8,
    /// Consecutive retransmission timeouts (or probes) without progress.
    retries: u8,
    syn_retransmitted: bool,
    /// When data was last sent, for the restart after idle (RFC 5681 §4.1).
    last_send: Option<Instant>,
    /// Ends of the records queued with [`TcpSocket::send_record`] and not yet
    /// acknowledged: no segment (new or retransmitted) crosses one (MPTCP: a segment
    /// never straddles two DSS mappings).
    boundaries: VecDeque<SubflowSeq>,
}

impl TcpSocket {
    /// A closed socket with buffers sized by `cfg`, initial send sequence `iss` and
    /// timestamp offset `ts_offset`. The buffers are the only allocations.
    pub fn new(cfg: TcpConfig, iss: SubflowSeq, ts_offset: u32) -> Result<TcpSocket, ConfigError> {
        cfg.validate()?;
        let mss = usize::from(cfg.mss);
        let ack_policy = AckPolicy::new(
            cfg.delayed_ack,
            cfg.ack_delay_min,
            cfg.ack_delay_max,
            QUICKACKS,
        );
        Ok(TcpSocket {
            state: State::Closed,
            passive: false,
            local_port: 0,
            remote_port: 0,
            error: None,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_wnd: SendWindow::new(0, SubflowSeq(0), iss),
            snd_wscale: 0,
            send_buf: RingBuffer::new(cfg.send_buffer),
            fin_queued: false,
            fin_seq: None,
            irs: SubflowSeq(0),
            rcv_nxt: SubflowSeq(0),
            rcv_fin: None,
            fin_received: false,
            recv_buf: RingBuffer::new(cfg.recv_buffer),
            assembler: Assembler::new(),
            rcv_wnd: RecvWindow::new(0, mss, cfg.recv_buffer, SubflowSeq(0)),
            rcv_wscale: 0,
            peer_mss: DEFAULT_PEER_MSS,
            mss,
            sack_ok: false,
            ts_ok: false,
            ws_ok: false,
            ts_recent: 0,
            ts_clock: TsClock::new(ts_offset, Duration::from_millis(1)),
            last_ack_sent: SubflowSeq(0),
            rtt: RttEstimator::new(RttConfig::from(&cfg)),
            timers: TimerTable::new(),
            sb: Scoreboard::new(iss, mss, cfg.dup_thresh),
            cc: Controller::new(&cfg, mss),
            ack_policy,
            challenge: ChallengeAckLimiter::new(CHALLENGE_ACK_LIMIT, Duration::from_secs(1)),
            nagle: true,
            ack_now: false,
            dsack: None,
            rst: None,
            syn_needed: false,
            rtx_first: false,
            probe_needed: false,
            force_send: false,
            orphaned: false,
            keepalive_probes: 0,
            persist_probes: 0,
            retries: 0,
            syn_retransmitted: false,
            last_send: None,
            boundaries: VecDeque::new(),
            cfg,
        })
    }

    // ---------------------------------------------------------------- accessors

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Why the connection ended abnormally, if it did.
    pub fn error(&self) -> Option<TcpError> {
        self.error
    }

    /// Local port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Remote port.
    pub fn remote_port(&self) -> u16 {
        self.remote_port
    }

    /// Effective send MSS.
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        self.cc.cwnd()
    }

    /// The congestion controller.
    pub fn congestion(&self) -> &Controller {
        &self.cc
    }

    /// The RTT estimator.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// The SACK scoreboard.
    pub fn scoreboard(&self) -> &Scoreboard {
        &self.sb
    }

    /// Whether SACK, timestamps and window scaling were negotiated.
    pub fn negotiated(&self) -> (bool, bool, bool) {
        (self.sack_ok, self.ts_ok, self.ws_ok)
    }

    /// SND.UNA.
    pub fn snd_una(&self) -> SubflowSeq {
        self.snd_una
    }

    /// SND.NXT (the highest sequence number sent, plus one).
    pub fn snd_nxt(&self) -> SubflowSeq {
        self.snd_nxt
    }

    /// RCV.NXT.
    pub fn rcv_nxt(&self) -> SubflowSeq {
        self.rcv_nxt
    }

    /// Bytes in flight (RFC 6675 pipe).
    pub fn in_flight(&self) -> usize {
        self.sb.pipe(self.snd_nxt)
    }

    /// RFC 5681's FlightSize: data sent and not yet cumulatively acknowledged.
    fn flight_size(&self) -> usize {
        self.snd_nxt - self.snd_una
    }

    /// Turns the Nagle algorithm on or off (`TCP_NODELAY` is `false`).
    pub fn set_nagle(&mut self, on: bool) {
        self.nagle = on;
    }

    /// Whether `send` can take data now.
    pub fn can_send(&self) -> bool {
        matches!(self.state, State::Established | State::CloseWait)
            && !self.fin_queued
            && !self.send_buf.is_full()
    }

    /// Whether `recv` would return data.
    pub fn can_recv(&self) -> bool {
        !self.recv_buf.is_empty()
    }

    /// Whether the peer has closed its direction and all its data was read.
    pub fn recv_finished(&self) -> bool {
        self.fin_received && self.recv_buf.is_empty()
    }

    /// Bytes queued for sending, sent or not, not yet acknowledged.
    pub fn send_queue(&self) -> usize {
        self.send_buf.len()
    }

    // ---------------------------------------------------------------- application

    /// Active open (RFC 9293 §3.10.1): send a SYN from `local_port` to `remote_port`.
    pub fn connect(
        &mut self,
        now: Instant,
        local_port: u16,
        remote_port: u16,
    ) -> Result<(), SocketError> {
        if self.state != State::Closed {
            return Err(SocketError::InvalidState);
        }
        if local_port == 0 || remote_port == 0 {
            return Err(SocketError::InvalidPort);
        }
        self.reset_connection();
        self.local_port = local_port;
        self.remote_port = remote_port;
        self.passive = false;
        self.state = State::SynSent;
        self.syn_needed = true;
        self.timers
            .set(Timer::Retransmit, after(now, self.rtt.rto()));
        Ok(())
    }

    /// Passive open (RFC 9293 §3.10.1): wait for a SYN on `local_port`.
    pub fn listen(&mut self, local_port: u16) -> Result<(), SocketError> {
        if self.state != State::Closed {
            return Err(SocketError::InvalidState);
        }
        if local_port == 0 {
            return Err(SocketError::InvalidPort);
        }
        self.reset_connection();
        self.local_port = local_port;
        self.passive = true;
        self.state = State::Listen;
        Ok(())
    }

    /// Queues data; returns how many bytes were taken (0 when the buffer is full or the
    /// state does not allow sending).
    pub fn send(&mut self, data: &[u8]) -> usize {
        if !matches!(
            self.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        ) || self.fin_queued
        {
            return 0;
        }
        self.send_buf.enqueue_slice(data)
    }

    /// Free space in the send buffer for [`send`](Self::send) or
    /// [`send_record`](Self::send_record) (0 when the state does not allow sending).
    pub fn send_space(&self) -> usize {
        if !matches!(
            self.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        ) || self.fin_queued
        {
            return 0;
        }
        self.send_buf.capacity() - self.send_buf.len()
    }

    /// Queues `data` as one record, all of it or nothing (returns 0 when it does not
    /// fit): no segment, first transmission or retransmission, will carry bytes of this
    /// record together with bytes of the next one. MPTCP uses one record per DSS
    /// mapping (RFC 8684 §3.3: a segment carries bytes of a single mapping).
    pub fn send_record(&mut self, data: &[u8]) -> usize {
        if data.is_empty() || self.send_space() < data.len() {
            return 0;
        }
        let n = self.send_buf.enqueue_slice(data);
        let end = self.snd_una + self.send_buf.len();
        // A SYN not yet acknowledged occupies `iss`; data starts at `iss + 1`.
        let end = if self.snd_una == self.iss {
            end + 1
        } else {
            end
        };
        self.boundaries.push_back(end);
        n
    }

    /// The sequence number the next byte given to `send`/`send_record` will get.
    pub fn write_seq(&self) -> SubflowSeq {
        let base = if self.snd_una == self.iss {
            self.iss + 1
        } else {
            self.snd_una
        };
        base + self.send_buf.len()
    }

    /// How many bytes a segment starting at `seq` may carry before the next record
    /// boundary.
    fn record_room(&self, seq: SubflowSeq) -> usize {
        self.boundaries
            .iter()
            .find(|&&b| b > seq)
            .map_or(usize::MAX, |&b| b - seq)
    }

    /// Our initial sequence number.
    pub fn iss(&self) -> SubflowSeq {
        self.iss
    }

    /// The peer's initial sequence number (valid once its SYN was processed).
    pub fn irs(&self) -> SubflowSeq {
        self.irs
    }

    /// Window shifts in use: (the peer's, applied to windows it sends; ours).
    pub fn window_shifts(&self) -> (u8, u8) {
        (self.snd_wscale, self.rcv_wscale)
    }

    /// The receive buffer's capacity (the largest window we can advertise).
    pub fn recv_capacity(&self) -> usize {
        self.recv_buf.capacity()
    }

    /// Sends an ACK at the next [`poll_transmit`](Self::poll_transmit) (MPTCP: a
    /// data-level window update or DATA_ACK that must not wait for subflow traffic).
    pub fn request_ack(&mut self) {
        if self.state.is_synchronized() && self.state != State::TimeWait {
            self.ack_now = true;
        }
    }

    /// Reads received in-order data; returns the count (0 when none is available).
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        let n = self.recv_buf.dequeue_slice(buf);
        if n > 0
            && self.state.is_synchronized()
            && self
                .rcv_wnd
                .update_worthwhile(self.rcv_nxt, self.recv_buf.window())
        {
            // Reading opened the window: tell the peer (a window update).
            self.ack_now = true;
        }
        n
    }

    /// Closes our direction (RFC 9293 §3.10.4): queued data is sent, then a FIN. Data
    /// from the peer is still received (a half-close, like `shutdown(SHUT_WR)`).
    pub fn close(&mut self) {
        match self.state {
            State::Closed | State::Listen | State::SynSent => self.enter_closed(),
            State::SynReceived | State::Established => {
                self.fin_queued = true;
                if self.state == State::Established {
                    self.state = State::FinWait1;
                }
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// The application is done with the socket (Linux's `close()` after `shutdown()`):
    /// like [`close`](Self::close), and FIN_WAIT_2 then lasts at most
    /// [`TcpConfig::fin_wait2_timeout`] (Linux's `tcp_fin_timeout` for orphans).
    pub fn release(&mut self, now: Instant) {
        self.close();
        self.orphaned = true;
        if self.state == State::FinWait2 {
            self.timers
                .set(Timer::FinWait2, after(now, self.cfg.fin_wait2_timeout));
        }
    }

    /// Aborts (RFC 9293 §3.10.5): a RST is sent in synchronized states and everything
    /// is dropped.
    pub fn abort(&mut self) {
        if self.state == State::SynReceived
            || (self.state.is_synchronized() && self.state != State::TimeWait)
        {
            self.rst = Some(PendingRst {
                seq: self.snd_nxt,
                ack: None,
                src_port: self.local_port,
                dst_port: self.remote_port,
            });
        }
        self.enter_closed();
    }

    // ---------------------------------------------------------------- timers

    /// The next time [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.timers.pop_expired(now) {
            match t {
                Timer::Retransmit => self.on_retransmit_timeout(now),
                Timer::DelayedAck => self.ack_now = true,
                Timer::Persist => self.on_persist_timeout(now),
                Timer::TimeWait | Timer::FinWait2 => self.enter_closed(),
                Timer::Keepalive => self.on_keepalive_timeout(now),
                Timer::LossProbe | Timer::Pacing => {}
            }
        }
    }

    fn on_retransmit_timeout(&mut self, now: Instant) {
        match self.state {
            State::SynSent | State::SynReceived => {
                if self.retries >= self.cfg.syn_retries {
                    return self.fail(TcpError::TimedOut);
                }
                self.retries += 1;
                self.syn_retransmitted = true;
                self.rtt.on_timeout();
                self.syn_needed = true;
                self.timers
                    .set(Timer::Retransmit, after(now, self.rtt.rto()));
            }
            s if s.is_synchronized() && self.snd_una != self.snd_nxt => {
                if self.retries >= self.cfg.max_retries {
                    return self.fail(TcpError::TimedOut);
                }
                // RFC 6298 §5.4-5.6: retransmit the earliest unacknowledged segment,
                // back off, restart the timer.
                // RFC 5681 §3.1 eq. (4): ssthresh from FlightSize.
                let ctx = CcContext::new(now, self.mss, self.flight_size(), self.rtt.srtt());
                self.cc.on_rto(self.retries > 0, &ctx);
                self.sb.on_rto(self.snd_nxt);
                self.rtt.on_timeout();
                self.rtx_first = false;
                self.retries += 1;
                self.timers
                    .set(Timer::Retransmit, after(now, self.rtt.rto()));
            }
            _ => {}
        }
    }

    /// RFC 9293 §3.8.4: after `keepalive` of silence, probe with an old sequence
    /// number (which the peer must ACK); drop the connection after
    /// `keepalive_probes` unanswered probes.
    fn on_keepalive_timeout(&mut self, now: Instant) {
        let Some(idle) = self.cfg.keepalive else {
            return;
        };
        if !matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait2
        ) {
            return;
        }
        if self.snd_una != self.snd_nxt || self.unsent() > 0 {
            // Not idle: the retransmission machinery watches the peer.
            self.timers.set(Timer::Keepalive, after(now, idle));
            return;
        }
        if self.keepalive_probes >= self.cfg.keepalive_probes {
            return self.fail(TcpError::TimedOut);
        }
        self.keepalive_probes += 1;
        self.probe_needed = true;
        self.timers
            .set(Timer::Keepalive, after(now, self.cfg.keepalive_interval));
    }

    /// Something arrived from the peer: the keepalive clock restarts.
    fn peer_alive(&mut self, now: Instant) {
        self.keepalive_probes = 0;
        self.persist_probes = 0;
        if let Some(idle) = self.cfg.keepalive {
            if self.state.is_synchronized() && self.state != State::TimeWait {
                self.timers.set(Timer::Keepalive, after(now, idle));
            }
        }
    }

    fn on_persist_timeout(&mut self, now: Instant) {
        let fin_waiting = self.fin_queued && self.fin_seq.is_none();
        if !self.state.is_synchronized()
            || (self.unsent() == 0 && !fin_waiting)
            || self.snd_una != self.snd_nxt
        {
            return;
        }
        if self.snd_wnd.wnd > 0 {
            // RFC 9293 §3.8.6.2.1 (4): the override timeout of sender SWS avoidance
            // sends what the window allows.
            self.force_send = true;
            return;
        }
        // RFC 1122 §4.2.2.17: the connection stays open as long as the peer answers
        // the probes; one that stops answering is dropped after `max_retries`
        // unanswered probes (as Linux's tcp_probe_timer with tcp_retries2).
        if self.persist_probes >= self.cfg.max_retries {
            return self.fail(TcpError::TimedOut);
        }
        self.persist_probes += 1;
        self.probe_needed = true;
        // RFC 9293 §3.8.6.1: probes are sent with exponential backoff and the
        // connection is kept open as long as the peer answers.
        self.rtt.on_timeout();
        self.timers.set(Timer::Persist, after(now, self.rtt.rto()));
    }

    // ---------------------------------------------------------------- input

    /// Processes one arriving segment of this connection (RFC 9293 §3.10.7).
    pub fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if self.local_port != 0 && seg.dst_port != self.local_port {
            return;
        }
        match self.state {
            State::Closed => {
                if let Some(r) = rst_reply(seg) {
                    self.queue_rst_from(&r);
                }
            }
            State::Listen => self.on_listen(now, seg),
            State::SynSent => self.on_syn_sent(now, seg),
            _ => {
                if seg.src_port != self.remote_port {
                    return;
                }
                self.on_synchronized(now, seg)
            }
        }
    }

    fn queue_rst_from(&mut self, r: &TcpRepr<'_>) {
        self.rst = Some(PendingRst {
            seq: r.seq_number,
            ack: r.ack_number,
            src_port: r.src_port,
            dst_port: r.dst_port,
        });
    }

    /// RFC 9293 §3.10.7.2.
    fn on_listen(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        if seg.ack_number.is_some() {
            // "Any acknowledgment is bad if it arrives on a connection still in the
            // LISTEN state": <SEQ=SEG.ACK><CTL=RST>.
            if let Some(r) = rst_reply(seg) {
                self.queue_rst_from(&r);
            }
            return;
        }
        if !seg.flags.contains(TcpFlags::SYN) {
            return;
        }
        self.remote_port = seg.src_port;
        self.irs = seg.seq_number;
        self.rcv_nxt = seg.seq_number + 1;
        self.take_syn_options(seg);
        self.snd_una = self.iss;
        self.snd_nxt = self.iss;
        self.snd_wnd = SendWindow::new(usize::from(seg.window_len), seg.seq_number, self.iss);
        self.state = State::SynReceived;
        self.syn_needed = true;
        self.timers
            .set(Timer::Retransmit, after(now, self.rtt.rto()));
        // Data on a SYN is not queued here; the peer retransmits it (RFC 9293 allows
        // either).
    }

    /// RFC 9293 §3.10.7.3.
    fn on_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if seg.src_port != self.remote_port {
            return;
        }
        let mut ack_ok = false;
        if let Some(ack) = seg.ack_number {
            // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit
            // is set, if so drop the segment and return)."
            if ack <= self.iss || ack > self.snd_nxt {
                if !seg.flags.contains(TcpFlags::RST) {
                    if let Some(r) = rst_reply(seg) {
                        self.queue_rst_from(&r);
                    }
                }
                return;
            }
            ack_ok = true;
        }
        if seg.flags.contains(TcpFlags::RST) {
            // RFC 5961 §3.2: in SYN-SENT a RST is acceptable if it acknowledges the SYN.
            if ack_ok {
                self.fail(TcpError::Refused);
            }
            return;
        }
        if !seg.flags.contains(TcpFlags::SYN) {
            return;
        }
        self.irs = seg.seq_number;
        self.rcv_nxt = seg.seq_number + 1;
        self.take_syn_options(seg);
        if let Some(ack) = seg.ack_number.filter(|_| ack_ok) {
            self.snd_una = ack;
            // RFC 7323 §2.2: the window in a SYN is not scaled.
            self.snd_wnd = SendWindow::new(usize::from(seg.window_len), seg.seq_number, ack);
            self.establish(now);
            // Take an RTT sample from the handshake.
            self.rtt_sample_on_ack(now, ack, seg);
            self.ack_now = true;
            // RFC 9293 §3.10.7.3: "continue processing at the sixth step": data (and a
            // FIN) carried on the SYN-ACK.
            if self.state == State::Established {
                self.on_data(now, seg);
            }
            if seg.flags.contains(TcpFlags::FIN) {
                self.rcv_fin = Some(seg.seq_number + 1 + seg.payload.len());
                self.try_consume_fin(now);
            }
        } else {
            // Simultaneous open: SYN-RECEIVED, send SYN-ACK.
            self.snd_wnd =
                SendWindow::new(usize::from(seg.window_len), seg.seq_number, self.snd_una);
            self.state = State::SynReceived;
            self.syn_needed = true;
        }
    }

    /// Options of the peer's SYN (RFC 9293 §3.7.1, RFC 7323 §2-§3, RFC 2018 §2).
    fn take_syn_options(&mut self, seg: &TcpRepr<'_>) {
        self.peer_mss = seg
            .max_seg_size
            .map_or(DEFAULT_PEER_MSS, usize::from)
            .max(64);
        // RFC 7323 §2.2: scaling is on only if both SYNs carry the option. As the
        // passive side we answer only what was offered; as the active side we offered
        // it iff configured.
        self.ws_ok = self.cfg.window_scaling && seg.window_scale.is_some();
        // RFC 7323 §2.3: a shift above 14 MUST be taken as 14.
        self.snd_wscale = if self.ws_ok {
            seg.window_scale.unwrap_or(0).min(MAX_WINDOW_SHIFT)
        } else {
            0
        };
        self.rcv_wscale = if self.ws_ok {
            self.cfg.window_shift()
        } else {
            0
        };
        self.sack_ok = self.cfg.sack && seg.sack_permitted;
        self.ts_ok = self.cfg.timestamps && seg.timestamp.is_some();
        if let Some(ts) = seg.timestamp {
            self.ts_recent = ts.tsval;
        }
        let ts_len = if self.ts_ok { TS_OPTION_LEN } else { 0 };
        self.mss = self
            .peer_mss
            .min(usize::from(self.cfg.mss))
            .saturating_sub(ts_len)
            .max(64);
        self.rcv_wnd = RecvWindow::new(
            self.rcv_wscale,
            self.peer_mss,
            self.recv_buf.capacity(),
            self.rcv_nxt,
        );
        // The window our SYN (or the SYN-ACK about to go) offers, unscaled
        // (RFC 7323 §2.2), now that RCV.NXT is known.
        self.rcv_wnd
            .advertise_syn(self.rcv_nxt, self.recv_buf.window());
        self.last_ack_sent = self.rcv_nxt;
    }

    /// Handshake complete: set up the data-transfer machinery.
    fn establish(&mut self, now: Instant) {
        self.state = if self.fin_queued {
            State::FinWait1
        } else {
            State::Established
        };
        self.syn_needed = false;
        self.retries = 0;
        self.rtt.on_handshake_complete(self.syn_retransmitted);
        self.sb = Scoreboard::new(self.snd_una, self.mss, self.cfg.dup_thresh);
        self.sb.set_sack_enabled(self.sack_ok);
        self.cc = Controller::new(&self.cfg, self.mss);
        if self.snd_una == self.snd_nxt {
            self.timers.stop(Timer::Retransmit);
        }
        self.last_send = Some(now);
        self.peer_alive(now);
    }

    /// RFC 9293 §3.10.7.4, for SYN-RECEIVED and the synchronized states.
    fn on_synchronized(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let rst = seg.flags.contains(TcpFlags::RST);
        let rcv_wnd = self.rcv_wnd.current(self.rcv_nxt);

        // First, check the sequence number.
        if !segment_acceptable(seg.seq_number, seg.segment_len(), self.rcv_nxt, rcv_wnd) {
            if self.state == State::SynReceived
                && seg.flags.contains(TcpFlags::SYN)
                && seg.ack_number.is_none()
                && seg.seq_number == self.irs
            {
                // The peer retransmitted its SYN: our SYN-ACK was lost; resend it.
                self.syn_needed = true;
            } else if !rst {
                // "an acknowledgment should be sent in reply (unless the RST bit is
                // set ...)"; a duplicate FIN in TIME-WAIT also restarts the 2 MSL timer.
                self.ack_now = true;
                if self.state == State::TimeWait && seg.flags.contains(TcpFlags::FIN) {
                    self.timers
                        .set(Timer::TimeWait, after(now, self.cfg.time_wait));
                }
                if self.sack_ok && !seg.payload.is_empty() && seg.seq_number < self.rcv_nxt {
                    // RFC 2883: report the duplicate.
                    let end = (seg.seq_number + seg.payload.len()).min(self.rcv_nxt);
                    self.dsack = Some(SackBlock::new(seg.seq_number, end));
                }
            }
            return;
        }

        // RFC 7323 §5.3 PAWS: a segment whose TSval is older than TS.Recent is a
        // duplicate from a previous wrap: drop it and acknowledge.
        if self.ts_ok && !rst {
            if let Some(ts) = seg.timestamp {
                if (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0 {
                    self.ack_now = true;
                    return;
                }
            }
        }

        self.peer_alive(now);

        // Second, check the RST bit (RFC 5961 §3.2).
        if rst {
            match check_rst(seg.seq_number, self.rcv_nxt, rcv_wnd) {
                RstVerdict::Reset => {
                    if self.state == State::SynReceived && self.passive {
                        // RFC 9293: return to LISTEN.
                        let port = self.local_port;
                        self.enter_closed();
                        self.local_port = port;
                        self.passive = true;
                        self.state = State::Listen;
                    } else if matches!(
                        self.state,
                        State::Closing | State::LastAck | State::TimeWait
                    ) {
                        self.enter_closed();
                    } else {
                        self.fail(if self.state == State::SynReceived {
                            TcpError::Refused
                        } else {
                            TcpError::Reset
                        });
                    }
                }
                RstVerdict::ChallengeAck => self.challenge_ack(now),
                RstVerdict::Drop => {}
            }
            return;
        }

        // RFC 7323 §4.3: TS.Recent follows the segment that will be acknowledged next.
        if self.ts_ok {
            if let Some(ts) = seg.timestamp {
                if seg.seq_number <= self.last_ack_sent
                    && (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0
                {
                    self.ts_recent = ts.tsval;
                }
            }
        }

        // Fourth, check the SYN bit: RFC 5961 §4.2, a challenge ACK whatever the
        // sequence number. In SYN-RECEIVED from a passive open, RFC 9293 returns to
        // LISTEN; our SYN-ACK may simply have been lost, so resend it instead.
        if seg.flags.contains(TcpFlags::SYN) {
            if self.state == State::SynReceived {
                self.syn_needed = true;
            } else {
                self.challenge_ack(now);
            }
            return;
        }

        // Fifth, check the ACK field.
        let Some(ack) = seg.ack_number else {
            return;
        };
        if self.state == State::SynReceived {
            if ack > self.snd_una && ack <= self.snd_nxt {
                self.snd_una = ack;
                self.snd_wnd = SendWindow::new(
                    usize::from(seg.window_len) << self.snd_wscale,
                    seg.seq_number,
                    ack,
                );
                self.establish(now);
                self.rtt_sample_on_ack(now, ack, seg);
            } else {
                // <SEQ=SEG.ACK><CTL=RST>
                if let Some(r) = rst_reply(seg) {
                    self.queue_rst_from(&r);
                }
                return;
            }
        } else if !self.on_ack(now, seg, ack) {
            return;
        }

        // Sixth: URG is not supported. Seventh: segment text.
        if matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) {
            self.on_data(now, seg);
        }
        // Eighth: FIN.
        if seg.flags.contains(TcpFlags::FIN) && !self.fin_received {
            let mut fin = seg.seq_number + seg.payload.len();
            if seg.flags.contains(TcpFlags::SYN) {
                fin += 1;
            }
            if fin >= self.rcv_nxt {
                self.rcv_fin = Some(fin);
            }
        }
        self.try_consume_fin(now);
        if seg.flags.contains(TcpFlags::FIN) && self.rcv_fin.is_some() {
            // RFC 5681 §4.2: an out-of-order segment (here a FIN beyond a hole, with or
            // without data) draws an immediate duplicate ACK.
            self.ack_now = true;
        }
    }

    /// The ACK field in a synchronized state. Returns false when the segment must be
    /// dropped.
    fn on_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: SubflowSeq) -> bool {
        let verdict = check_ack(ack, self.snd_una, self.snd_nxt, self.snd_wnd.max_wnd());
        let window = usize::from(seg.window_len) << self.snd_wscale;
        match verdict {
            AckVerdict::TooNew => {
                // RFC 9293 §3.10.7.4: ACK and drop; RFC 5961 §5.2 rate limits it.
                self.challenge_ack(now);
                return false;
            }
            AckVerdict::TooOld => {
                self.challenge_ack(now);
                return false;
            }
            AckVerdict::Old => return true,
            AckVerdict::Duplicate | AckVerdict::New(_) => {}
        }

        let prior_flight = self.in_flight();
        let prior_wnd = self.snd_wnd.wnd;
        let new = matches!(verdict, AckVerdict::New(_));
        let blocks = self.sack_blocks_of(seg);
        let summary = if self.sack_ok {
            self.sb.update(ack, blocks.as_slice(), self.snd_nxt)
        } else {
            // RFC 5681 §2 duplicate ACK: no data, no SYN/FIN, same window, data
            // outstanding.
            let dup = !new
                && seg.payload.is_empty()
                && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
                && window == prior_wnd
                && self.snd_una != self.snd_nxt;
            self.sb.update_no_sack(ack, dup, self.snd_nxt)
        };

        if new {
            self.rtt_sample_on_ack(now, ack, seg);
            self.on_new_ack(now, ack);
            self.retries = 0;
            // RFC 6298 §5.2/§5.3: stop the timer when everything is acknowledged,
            // restart it when new data is acknowledged.
            if self.snd_una == self.snd_nxt {
                self.timers.stop(Timer::Retransmit);
            } else {
                self.timers
                    .set(Timer::Retransmit, after(now, self.rtt.rto()));
            }
        }
        self.congestion_on_ack(now, &summary, prior_flight);

        // RFC 9293 §3.10.7.4: update the send window.
        if self.snd_wnd.update(seg.seq_number, ack, window)
            && self.snd_wnd.wnd > 0
            && self.timers.is_armed(Timer::Persist)
        {
            // The window opened: probing ends and its backoff is forgotten (as Linux's
            // tcp_ack_probe does).
            self.timers.stop(Timer::Persist);
            self.rtt.reset_backoff();
        }
        true
    }

    fn sack_blocks_of(&self, seg: &TcpRepr<'_>) -> super::sack::SackList {
        let mut l = super::sack::SackList::new();
        if self.sack_ok {
            for (left, right) in seg.sack_ranges.iter().flatten() {
                l.push(SackBlock::new(*left, *right));
            }
        }
        l
    }

    /// SND.UNA moves to `ack`.
    fn on_new_ack(&mut self, now: Instant, ack: SubflowSeq) {
        let data_una = self.snd_una;
        self.snd_una = ack;
        // Data bytes acknowledged: all of the range except our FIN.
        let mut acked = ack - data_una;
        if let Some(f) = self.fin_seq {
            if ack > f && data_una <= f {
                acked -= 1;
            }
        }
        self.send_buf.discard(acked);
        while self.boundaries.front().is_some_and(|&b| b <= ack) {
            self.boundaries.pop_front();
        }
        // Our FIN acknowledged?
        if let Some(f) = self.fin_seq {
            if ack > f {
                match self.state {
                    State::FinWait1 => {
                        self.state = State::FinWait2;
                        if self.orphaned {
                            self.timers
                                .set(Timer::FinWait2, after(now, self.cfg.fin_wait2_timeout));
                        }
                    }
                    State::Closing => self.enter_time_wait(now),
                    State::LastAck => self.enter_closed(),
                    _ => {}
                }
            }
        }
    }

    fn congestion_on_ack(&mut self, now: Instant, summary: &AckSummary, prior_flight: usize) {
        let mut ctx = CcContext::new(now, self.mss, prior_flight, self.rtt.srtt());
        ctx.min_rtt = self.rtt.min_rtt();
        if summary.exit_recovery {
            ctx.in_flight = self.in_flight();
            self.cc.on_recovery_exit(&ctx);
            self.rtx_first = false;
        }
        if summary.enter_recovery {
            // RFC 6675 §5 (4.1)-(4.3). ssthresh comes from FlightSize (RFC 5681 eq. 4:
            // sent and not cumulatively acknowledged), not from the pipe, which the
            // duplicate ACKs or SACK blocks have already shrunk.
            ctx.in_flight = self.flight_size();
            self.cc.on_congestion_event(CongestionEvent::Loss, &ctx);
            self.sb.enter_recovery(self.snd_nxt);
            self.rtx_first = true;
            return;
        }
        if summary.partial_ack && !self.sack_ok {
            // RFC 6582 §3.2 step 5: retransmit the first unacknowledged segment.
            self.rtx_first = true;
        }
        if summary.acked > 0 && !self.sb.in_recovery() {
            ctx.app_limited = self.unsent() == 0 && prior_flight < self.cc.cwnd();
            let ev = AckEvent {
                bytes_acked: summary.acked,
                rtt: self.rtt.latest(),
                snd_una: self.snd_una,
                snd_nxt: self.snd_nxt,
            };
            self.cc.on_ack(&ev, &ctx);
        }
    }

    /// One RTT sample per ACK that advances SND.UNA: from the echoed timestamp when
    /// timestamps are on (RFC 7323 §4), else from the timed segment (Karn's rule).
    fn rtt_sample_on_ack(&mut self, now: Instant, ack: SubflowSeq, seg: &TcpRepr<'_>) {
        if self.ts_ok {
            if let Some(ts) = seg.timestamp {
                if let Some(rtt) = self.ts_clock.rtt_from_tsecr(now, ts.tsecr) {
                    let expected = self.in_flight().div_ceil(2 * self.mss).max(1);
                    self.rtt
                        .on_sample_weighted(rtt, u32::try_from(expected).unwrap_or(u32::MAX));
                    return;
                }
            }
        }
        self.rtt.on_ack(ack, now);
    }

    /// Segment text (RFC 9293 §3.10.7.4, seventh).
    fn on_data(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if seg.payload.is_empty() {
            return;
        }
        let mut seq = seg.seq_number;
        if seg.flags.contains(TcpFlags::SYN) {
            seq += 1;
        }
        let wnd = self
            .rcv_wnd
            .current(self.rcv_nxt)
            .min(self.recv_buf.window());
        let t = trim_to_window(seq, seg.payload.len(), self.rcv_nxt, wnd);
        if t.skip > 0 && self.sack_ok {
            self.dsack = Some(SackBlock::new(seq, seq + t.skip));
        }
        if t.len == 0 {
            self.ack_now = true;
            return;
        }
        let data = seg.payload.get(t.skip..t.skip + t.len).unwrap_or(&[]);
        if self.sack_ok && self.assembler.contains(t.offset, t.len) {
            let left = self.rcv_nxt + t.offset;
            self.dsack = Some(SackBlock::new(left, left + t.len));
        }
        let had_holes = !self.assembler.is_empty();
        self.recv_buf.write_at(t.offset, data);
        let contiguous = match self.assembler.add(t.offset, t.len) {
            Ok(c) => c,
            Err(_) => {
                // No room for another hole: drop the segment as if lost.
                self.ack_now = true;
                return;
            }
        };
        self.recv_buf.commit(contiguous);
        self.rcv_nxt += contiguous;
        // RFC 5681 §4.2: out-of-order segments and segments that fill a gap are
        // acknowledged at once.
        let immediate = t.offset > 0 || had_holes;
        match self
            .ack_policy
            .on_data(t.len, self.mss, immediate, self.rtt.srtt())
        {
            AckDecision::Now => self.ack_now = true,
            AckDecision::Delay(d) => self.timers.set_earlier(Timer::DelayedAck, after(now, d)),
        }
    }

    /// Consumes the peer's FIN once all data before it has arrived.
    fn try_consume_fin(&mut self, now: Instant) {
        let Some(fin) = self.rcv_fin else { return };
        if fin != self.rcv_nxt || !self.assembler.is_empty() {
            return;
        }
        self.rcv_fin = None;
        self.fin_received = true;
        self.rcv_nxt += 1;
        self.ack_now = true;
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                if self.fin_seq.is_some_and(|f| self.snd_una > f) {
                    self.enter_time_wait(now);
                } else {
                    self.state = State::Closing;
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    fn challenge_ack(&mut self, now: Instant) {
        // RFC 5961 §7: challenge ACKs are rate limited.
        if self.challenge.allow(now) {
            self.ack_now = true;
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.timers.stop_all();
        self.timers
            .set(Timer::TimeWait, after(now, self.cfg.time_wait));
    }

    fn fail(&mut self, err: TcpError) {
        self.error = Some(err);
        self.enter_closed();
    }

    fn enter_closed(&mut self) {
        self.state = State::Closed;
        self.timers.stop_all();
        self.syn_needed = false;
        self.rtx_first = false;
        self.probe_needed = false;
        self.ack_now = false;
    }

    /// Clears per-connection state for a new connect/listen (buffers keep their
    /// allocation).
    fn reset_connection(&mut self) {
        self.error = None;
        self.snd_una = self.iss;
        self.snd_nxt = self.iss;
        self.send_buf.clear();
        self.recv_buf.clear();
        self.assembler.clear();
        self.fin_queued = false;
        self.fin_seq = None;
        self.rcv_fin = None;
        self.fin_received = false;
        self.retries = 0;
        self.syn_retransmitted = false;
        self.orphaned = false;
        self.force_send = false;
        self.rtt = RttEstimator::new(RttConfig::from(&self.cfg));
        self.timers.stop_all();
        self.dsack = None;
        self.rst = None;
        self.boundaries.clear();
    }

    // ---------------------------------------------------------------- output

    /// Bytes queued but never sent.
    fn unsent(&self) -> usize {
        let data_end = self.snd_una + self.send_buf.len();
        let next = match self.fin_seq {
            Some(_) => return 0,
            None => self.snd_nxt,
        };
        if data_end > next {
            data_end - next
        } else {
            0
        }
    }

    /// The next segment to send, if any. Its payload is copied into `scratch` (which
    /// should hold at least one MSS); call repeatedly until `None`.
    pub fn poll_transmit<'b>(
        &mut self,
        now: Instant,
        scratch: &'b mut [u8],
    ) -> Option<TcpRepr<'b>> {
        if let Some(r) = self.rst.take() {
            return Some(TcpRepr {
                src_port: r.src_port,
                dst_port: r.dst_port,
                flags: TcpFlags::RST,
                seq_number: r.seq,
                ack_number: r.ack,
                ..TcpRepr::default()
            });
        }
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent => self.syn_needed.then(|| self.syn_segment(now, false)),
            State::SynReceived if self.syn_needed => Some(self.syn_segment(now, true)),
            // Simultaneous open: a plain ACK of the peer's SYN (RFC 9293 §3.5 figure 7).
            State::SynReceived => self.ack_now.then(|| self.pure_ack(now)),
            State::TimeWait => self.ack_now.then(|| self.pure_ack(now)),
            _ => self.transmit_synchronized(now, scratch),
        }
    }

    fn syn_segment<'b>(&mut self, now: Instant, ack: bool) -> TcpRepr<'b> {
        self.syn_needed = false;
        if self.syn_retransmitted {
            self.rtt.on_retransmit();
        } else {
            self.rtt.start_timing(self.iss + 1, now);
        }
        let mut r = TcpRepr {
            src_port: self.local_port,
            dst_port: self.remote_port,
            flags: TcpFlags::SYN,
            seq_number: self.iss,
            max_seg_size: Some(self.cfg.mss),
            ..TcpRepr::default()
        };
        let offer = |on: bool, negotiated: bool| if ack { negotiated } else { on };
        if offer(self.cfg.window_scaling, self.ws_ok) {
            r.window_scale = Some(self.cfg.window_shift());
        }
        r.sack_permitted = offer(self.cfg.sack, self.sack_ok);
        if offer(self.cfg.timestamps, self.ts_ok) {
            r.timestamp = Some(TcpTimestamp {
                tsval: self.ts_clock.tsval(now),
                tsecr: if ack { self.ts_recent } else { 0 },
            });
        }
        if ack {
            r.ack_number = Some(self.rcv_nxt);
            self.ack_sent();
        }
        r.window_len = self
            .rcv_wnd
            .advertise_syn(self.rcv_nxt, self.recv_buf.window());
        if self.snd_nxt == self.iss {
            self.snd_nxt = self.iss + 1;
        }
        if !self.timers.is_armed(Timer::Retransmit) {
            self.timers
                .set(Timer::Retransmit, after(now, self.rtt.rto()));
        }
        r
    }

    fn transmit_synchronized<'b>(
        &mut self,
        now: Instant,
        scratch: &'b mut [u8],
    ) -> Option<TcpRepr<'b>> {
        let cwnd = self.cc.cwnd();
        // RFC 6675 §5 (4.3) / RFC 6582 step 5: the first segment, once.
        if self.rtx_first {
            self.rtx_first = false;
            if let Some(NextSeg::Retransmit { seq, len }) = self.sb.first_segment(self.snd_nxt) {
                return Some(self.retransmit(now, seq, len, false, scratch));
            }
        }
        let mut new_data_ok = true;
        if self.sb.in_recovery() || self.sb.in_loss() {
            let pipe = self.in_flight();
            // RFC 6675 §5 (C): while cwnd - pipe >= 1 SMSS. In the loss phase after an
            // RTO, cwnd starts at one segment and everything outstanding is lost.
            if cwnd >= pipe + self.mss || (self.sb.in_loss() && pipe < cwnd) {
                let can_new =
                    self.unsent() > 0 && self.snd_wnd.usable(self.snd_una, self.snd_nxt) > 0;
                match self.sb.next_seg(self.snd_nxt, can_new) {
                    Some(NextSeg::Retransmit { seq, len }) => {
                        return Some(self.retransmit(now, seq, len, false, scratch));
                    }
                    Some(NextSeg::Rescue { seq, len }) => {
                        return Some(self.retransmit(now, seq, len, true, scratch));
                    }
                    Some(NextSeg::NewData) | None => {}
                }
            } else {
                new_data_ok = false;
            }
        }
        if new_data_ok {
            if let Some(r) = self.new_data(now, scratch) {
                return Some(r);
            }
        }
        if self.probe_needed {
            self.probe_needed = false;
            // A zero-window probe: an ACK with an old sequence number, which the peer
            // must answer with its window (as Linux's tcp_xmit_probe_skb).
            let mut r = self.pure_ack(now);
            r.seq_number = self.snd_una - 1;
            return Some(r);
        }
        if self.ack_now || self.timers.is_expired(Timer::DelayedAck, now) {
            return Some(self.pure_ack(now));
        }
        None
    }

    /// New data (and the FIN after it), if the windows and Nagle allow.
    fn new_data<'b>(&mut self, now: Instant, scratch: &'b mut [u8]) -> Option<TcpRepr<'b>> {
        // CLOSING can be reached before our FIN left (the peer's FIN arrived first in
        // FIN-WAIT-1), so it still sends data and the FIN.
        if !matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) {
            return None;
        }
        let unsent = self.unsent();
        let want_fin = self.fin_queued && self.fin_seq.is_none();
        if unsent == 0 && !want_fin {
            return None;
        }
        // RFC 5681 §4.1: restart after an idle period longer than the RTO.
        if self.snd_una == self.snd_nxt {
            if let Some(last) = self.last_send {
                let idle = elapsed(now, last);
                if idle > self.rtt.rto() {
                    let iw = self.cfg.initial_cwnd(self.mss);
                    let ctx = CcContext::new(now, self.mss, 0, self.rtt.srtt());
                    self.cc.on_idle_restart(idle, iw.min(self.cc.cwnd()), &ctx);
                }
            }
        }
        let cwnd = self.cc.cwnd();
        let usable = cwnd
            .saturating_sub(self.in_flight())
            .min(self.snd_wnd.usable(self.snd_una, self.snd_nxt));
        let mut n = sender_segment_size(
            unsent,
            usable,
            self.mss,
            self.snd_wnd.max_wnd(),
            self.nagle,
            self.snd_una != self.snd_nxt,
        );
        if self.force_send {
            self.force_send = false;
            n = unsent.min(usable).min(self.mss);
        }
        let n = n.min(scratch.len()).min(self.record_room(self.snd_nxt));
        // The FIN takes a sequence number inside the peer's window like data: a closed
        // window is probed, not overrun (RFC 9293 §3.8.6.1; a receiver with RCV.WND = 0
        // drops it, §3.10.7.4). Like Linux, the FIN ignores cwnd.
        let fin = want_fin && n == unsent && self.snd_wnd.usable(self.snd_una, self.snd_nxt) > n;
        if n == 0 && !fin {
            if (unsent > 0 || want_fin)
                && self.snd_una == self.snd_nxt
                && !self.timers.is_armed(Timer::Persist)
            {
                // Data queued, nothing in flight, and the window too small or closed:
                // probe a zero window (RFC 9293 §3.8.6.1), or override sender SWS
                // avoidance after a timeout (RFC 9293 §3.8.6.2.1).
                self.timers.set(Timer::Persist, after(now, self.rtt.rto()));
            }
            return None;
        }
        let seq = self.snd_nxt;
        let offset = seq - self.snd_una;
        let buf = scratch.get_mut(..n).unwrap_or(&mut []);
        let n = self.send_buf.read_at(offset, buf);
        let mut r = self.segment_header(now, seq);
        if fin {
            r.flags.insert(TcpFlags::FIN);
            self.fin_seq = Some(seq + n);
        }
        if n > 0 && unsent == n {
            r.flags.insert(TcpFlags::PSH);
        }
        self.snd_nxt = seq + n + usize::from(fin);
        if !self.ts_ok && !self.sb.in_loss() && !self.sb.in_recovery() {
            self.rtt.start_timing(self.snd_nxt, now);
        }
        self.after_send(now);
        r.payload = scratch.get(..n).unwrap_or(&[]);
        Some(r)
    }

    /// A retransmission of `[seq, seq+len)` (which may include our FIN).
    fn retransmit<'b>(
        &mut self,
        now: Instant,
        seq: SubflowSeq,
        len: usize,
        rescue: bool,
        scratch: &'b mut [u8],
    ) -> TcpRepr<'b> {
        let data_end = self.snd_una + self.send_buf.len();
        let data_len = if data_end > seq {
            (data_end - seq)
                .min(len)
                .min(scratch.len())
                .min(self.record_room(seq))
        } else {
            0
        };
        let offset = seq - self.snd_una;
        let buf = scratch.get_mut(..data_len).unwrap_or(&mut []);
        let n = self.send_buf.read_at(offset, buf);
        let mut r = self.segment_header(now, seq);
        let fin = self.fin_seq.is_some_and(|f| f == seq + n && seq + len > f);
        if fin {
            r.flags.insert(TcpFlags::FIN);
        }
        let used = n + usize::from(fin);
        if rescue {
            self.sb.on_rescue_retransmit();
        } else {
            self.sb.on_retransmit(seq, used.max(1));
        }
        // Karn: no sample from a retransmitted segment.
        self.rtt.on_retransmit();
        self.after_send(now);
        r.payload = scratch.get(..n).unwrap_or(&[]);
        r
    }

    fn after_send(&mut self, now: Instant) {
        self.last_send = Some(now);
        // RFC 6298 §5.1: start the timer if it is not running.
        if !self.timers.is_armed(Timer::Retransmit) && self.snd_una != self.snd_nxt {
            self.timers
                .set(Timer::Retransmit, after(now, self.rtt.rto()));
        }
    }

    fn pure_ack<'b>(&mut self, now: Instant) -> TcpRepr<'b> {
        self.segment_header(now, self.snd_nxt)
    }

    /// A segment at `seq` with ACK, window, timestamps and SACK blocks; records the ACK
    /// as sent.
    fn segment_header<'b>(&mut self, now: Instant, seq: SubflowSeq) -> TcpRepr<'b> {
        let mut r = TcpRepr {
            src_port: self.local_port,
            dst_port: self.remote_port,
            flags: TcpFlags::empty(),
            seq_number: seq,
            ack_number: Some(self.rcv_nxt),
            ..TcpRepr::default()
        };
        r.window_len = self.rcv_wnd.advertise(self.rcv_nxt, self.recv_buf.window());
        if self.ts_ok {
            r.timestamp = Some(TcpTimestamp {
                tsval: self.ts_clock.tsval(now),
                tsecr: self.ts_recent,
            });
        }
        if self.sack_ok && (!self.assembler.is_empty() || self.dsack.is_some()) {
            let max = if self.ts_ok { 3 } else { 4 };
            let blocks = self
                .assembler
                .sack_blocks(self.rcv_nxt, self.dsack.take(), max);
            for (slot, b) in r.sack_ranges.iter_mut().zip(blocks.iter()) {
                *slot = Some((b.left, b.right));
            }
        }
        self.ack_sent();
        r
    }

    fn ack_sent(&mut self) {
        self.ack_now = false;
        self.last_ack_sent = self.rcv_nxt;
        self.ack_policy.on_ack_sent();
        self.timers.stop(Timer::DelayedAck);
    }
}

#[cfg(test)]
mod tests;
