//! An MPTCP host endpoint over the host stack: [`MptcpStack`] owns a
//! [`Stack<MptcpOpener>`](Stack) (whose connections are [`Subflow`]s), the MPTCP
//! connection table, the token table and the path manager's endpoints and limits, and
//! offers the socket-like application API of DESIGN.md §4.
//!
//! # API (shaped like [`Stack`]'s)
//!
//! | [`Stack`] | [`MptcpStack`] |
//! | --- | --- |
//! | `handle_frame`, `poll_transmit`, `poll_timeout`, `handle_timeout` | same |
//! | `connect(now, addr, port)` | [`connect`](MptcpStack::connect)`(now, addr, port, Proto::Mptcp \| Proto::Tcp)` |
//! | `listen(port, backlog)`, `accept(port)` | same (a listener accepts MPTCP and TCP) |
//! | `send`, `recv`, `shutdown`, `close`, `abort` | same on an [`MpConn`]; `abort` sends MP_FASTCLOSE |
//! | `poll_event() -> Event` | [`poll_event`](MptcpStack::poll_event) `-> MpEvent` |
//! | `state`, `error`, `can_send`, `can_recv`, `recv_finished` | same (+ `send_finished`) |
//! | | [`subflows`](MptcpStack::subflows), [`add_subflow`](MptcpStack::add_subflow), [`remove_subflow`](MptcpStack::remove_subflow), [`set_backup`](MptcpStack::set_backup), [`conn_mib`](MptcpStack::conn_mib), [`mib`](MptcpStack::mib), [`endpoints_mut`](MptcpStack::endpoints_mut) |
//! | `connection_count`, `tuple` | [`connections`](MptcpStack::connections), [`conn_summary`](MptcpStack::conn_summary) |
//! | | [`remove_address`](MptcpStack::remove_address) (REMOVE_ADDR), [`set_checksum`](MptcpStack::set_checksum), [`set_scheduler`](MptcpStack::set_scheduler), [`set_sched_hint`](MptcpStack::set_sched_hint) |
//! | `stack::Stack` as a [`crate::nic::FrameHost`] | `MptcpStack` implements it too |
//!
//! # How a packet flows
//!
//! `handle_frame` hands the frame to the [`Stack`], which demultiplexes it to a
//! [`Subflow`] (options in, inner TCP, DSS mapping of in-order bytes). Then
//! [`MptcpStack`] services every connection that a subflow flagged: it accepts new
//! subflows (new connections, or joins attached to their connection by token), drains
//! each subflow's events and `(DSN, bytes)` pieces into the connection's reassembly,
//! publishes the DATA_ACK and receive window in [`SharedData`], releases
//! DATA-acknowledged data, runs the path manager (joins from `subflow` endpoints once
//! fully established, ADD_ADDR for `signal` endpoints, joins to accepted ADD_ADDRs),
//! stale detection and reinjection, and the scheduler, which picks the subflow for the
//! next DSN range. `poll_transmit` then lets the stack emit what the subflows produce.
//!
//! Handshakes that need the token table (MP_CAPABLE and MP_JOIN SYNs at a listener) run
//! in [`MptcpOpener`]'s `accept_syn`; a subflow records the results of later handshake
//! steps in its events and this endpoint updates the token table.
//!
//! # Driving it
//!
//! Like [`Stack`]: after frames (`handle_frame`), timers (`handle_timeout` at
//! `poll_timeout`) and application calls, call `poll_transmit`. Application calls
//! (`send`, `recv`, `close`, ...) take effect at once on the data level; their segments
//! leave at the next `poll_transmit`. Only connections that something happened to are
//! serviced (a subflow with output is reported `Readable` by the stack), so the cost per
//! frame does not grow with the number of connections. Connection handles
//! ([`MpConn`]) are never reused; a connection is forgotten once the application closed
//! it and its subflows are gone (`state` then returns `None`).
//!
//! # Not implemented
//!
//! Port-based `signal` endpoints and IPv6. MP_FASTCLOSE is sent in either form
//! ([`FastcloseForm`]: RST, as Linux, or ACK then RST) and received in both.

use core::net::{IpAddr, Ipv4Addr};
mod data;
mod opener;

use opener::JoinInfo;
pub use opener::MptcpOpener;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::conn::{ConnState, Connection, MpConn, Proto, SubflowInfo};
use super::handshake::{HandshakeConfig, JoinLocal, JoinSynSent, MpcSynSent};
use super::mib::{Mib, MibCounters};
use super::pm::{EndpointFlags, Endpoints};
use super::shared::SharedData;
use super::subflow::{ConnId, Subflow, SubflowEvent};
use crate::sched::by_name;
use crate::stack::{ConnHandle, Event, Interface, Stack, StackConfig, StackError, Transport};
use crate::tcp::socket::TcpError;
use crate::time::Instant;
use crate::wire::mptcp::AddAddr;

/// What an [`MptcpStack`] tells the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MpEvent {
    /// An active open completed (MPTCP or fallen back).
    Connected(MpConn),
    /// A connection waits in the accept queue of `port`.
    Acceptable { port: u16 },
    /// Data (or the end of the stream) became readable.
    Readable(MpConn),
    /// The send buffer has room again.
    Writable(MpConn),
    /// The connection closed (see [`MptcpStack::error`]).
    Closed(MpConn),
    /// A subflow became usable for data.
    SubflowEstablished { conn: MpConn, id: u8 },
    /// A subflow closed (reset, refused, removed or finished).
    SubflowClosed { conn: MpConn, id: u8 },
    /// The connection fell back to plain TCP.
    Fallback(MpConn),
}

/// What [`MptcpStack::conn_summary`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnSummary {
    pub state: ConnState,
    /// Plain TCP (never MPTCP, or fell back).
    pub fallback: bool,
    pub local_token: Option<u32>,
    pub remote_token: Option<u32>,
    /// DSS checksums in use.
    pub checksum: bool,
    pub local: Ipv4Addr,
    pub remote: (Ipv4Addr, u16),
    /// Subflows not closed.
    pub subflows: usize,
    /// Payload bytes pushed onto subflows (reinjections included).
    pub bytes_sent: u64,
    /// Payload bytes received on subflows (duplicates included).
    pub bytes_received: u64,
}

/// Settings of an [`MptcpStack`].
#[derive(Debug, Clone)]
pub struct MptcpConfig {
    /// The host stack (its `tcp` is every subflow's configuration).
    pub stack: StackConfig,
    /// MP_CAPABLE / MP_JOIN behaviour.
    pub handshake: HandshakeConfig,
    /// Data-level send buffer per connection.
    pub send_buffer: usize,
    /// Data-level receive buffer (and window) per connection.
    pub recv_buffer: usize,
    /// Scheduler of new connections (`sched::by_name`).
    pub scheduler: &'static str,
    /// RTOs without progress before a subflow is stale (Linux `stale_loss_cnt`, 4).
    pub stale_loss_cnt: u8,
    /// How `abort` sends MP_FASTCLOSE (RFC 8684 §3.5).
    pub fastclose: FastcloseForm,
    /// Seed of keys and nonces.
    pub seed: u64,
}

/// The two forms of MP_FASTCLOSE (RFC 8684 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FastcloseForm {
    /// A RST carrying MP_FASTCLOSE on every subflow (what Linux sends).
    #[default]
    Rst,
    /// An ACK carrying MP_FASTCLOSE on one subflow and RSTs on the others; the peer
    /// answers with RSTs, and the RST form follows if it does not.
    Ack,
}

impl Default for MptcpConfig {
    fn default() -> Self {
        let mut stack = StackConfig::default();
        stack.tcp.send_buffer = 1024 * 1024;
        stack.tcp.recv_buffer = 4 * 1024 * 1024;
        MptcpConfig {
            stack,
            handshake: HandshakeConfig::default(),
            send_buffer: 4 * 1024 * 1024,
            recv_buffer: 4 * 1024 * 1024,
            scheduler: "default",
            stale_loss_cnt: 4,
            fastclose: FastcloseForm::Rst,
            seed: 0x6d70_646b,
        }
    }
}

/// An MPTCP host. See the module docs.
#[derive(Debug)]
pub struct MptcpStack {
    stack: Stack<MptcpOpener>,
    cfg: MptcpConfig,
    conns: HashMap<ConnId, Connection>,
    by_sf: HashMap<ConnHandle, ConnId>,
    /// Subflows whose connection is not known yet (accepted before their conn).
    listening: HashMap<u16, VecDeque<ConnId>>,
    events: VecDeque<MpEvent>,
    endpoints: Endpoints,
    mib: MibCounters,
    bufs: Vec<Bytes>,
    timer: Option<Instant>,
    /// Subflows to hand back to the stack (`Stack::close`) once their last segments
    /// (RST, FIN) went out.
    pending_close: Vec<ConnHandle>,
    /// Connections to service at the end of this input (each listed once).
    touched: Vec<ConnId>,
    /// Reused while draining a subflow.
    ev_buf: Vec<SubflowEvent>,
    rx_buf: Vec<(crate::seq::DataSeq, Bytes)>,
}

impl MptcpStack {
    /// A host with `cfg` and no interface yet.
    pub fn new(cfg: MptcpConfig) -> MptcpStack {
        let mut tcp = cfg.stack.tcp.clone();
        tcp.recv_buffer = tcp.recv_buffer.max(cfg.recv_buffer);
        let opener = MptcpOpener::new(tcp, cfg.handshake, cfg.seed);
        let mut scfg = cfg.stack.clone();
        scfg.tcp.recv_buffer = scfg.tcp.recv_buffer.max(cfg.recv_buffer);
        MptcpStack {
            stack: Stack::with_opener(scfg, opener),
            cfg,
            conns: HashMap::new(),
            by_sf: HashMap::new(),
            listening: HashMap::new(),
            events: VecDeque::new(),
            endpoints: Endpoints::new(),
            mib: MibCounters::new(),
            bufs: Vec::new(),
            timer: None,
            pending_close: Vec::new(),
            touched: Vec::new(),
            ev_buf: Vec::new(),
            rx_buf: Vec::new(),
        }
    }

    /// Adds an interface; returns its index.
    pub fn add_interface(&mut self, iface: Interface) -> usize {
        self.stack.add_interface(iface)
    }

    /// The host stack (interfaces, counters, ARP).
    pub fn stack(&self) -> &Stack<MptcpOpener> {
        &self.stack
    }

    /// The path manager's endpoints and limits (`ip mptcp endpoint|limits`).
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Changes endpoints and limits; takes effect for new decisions.
    pub fn endpoints_mut(&mut self) -> &mut Endpoints {
        &mut self.endpoints
    }

    /// Global MPTCP counters (all connections, and handshakes that made none).
    pub fn mib(&self) -> &MibCounters {
        &self.mib
    }

    /// Ask for DSS checksums on new connections (`net.mptcp.checksum_enabled`).
    pub fn set_checksum(&mut self, on: bool) {
        self.cfg.handshake.checksum = on;
        self.stack.opener_mut().hs.checksum = on;
    }

    /// RTOs in a row after which a subflow is stale, for new connections
    /// (`net.mptcp.stale_loss_cnt`; 0 turns detection off).
    pub fn set_stale_loss_cnt(&mut self, n: u8) {
        self.cfg.stale_loss_cnt = n;
    }

    /// Counters of one connection.
    pub fn conn_mib(&self, c: MpConn) -> Option<&MibCounters> {
        self.conns.get(&c.0).map(|x| &x.mib)
    }

    fn sync_pm(&mut self) {
        let limits = self.endpoints.limits();
        let ids: HashMap<Ipv4Addr, (u8, bool)> = self
            .endpoints
            .iter()
            .filter_map(|e| match e.addr {
                IpAddr::V4(a) => Some((a, (e.id, e.flags.contains(EndpointFlags::BACKUP)))),
                IpAddr::V6(_) => None,
            })
            .collect();
        let o = self.stack.opener_mut();
        o.max_joins = limits.subflows;
        o.addr_ids = ids;
    }

    // ------------------------------------------------------------------ application

    /// Active open to `addr:port`, MPTCP or plain TCP (opt-in, DESIGN.md §1).
    pub fn connect(
        &mut self,
        now: Instant,
        addr: Ipv4Addr,
        port: u16,
        proto: Proto,
    ) -> Result<MpConn, StackError> {
        self.connect_from(now, None, addr, port, proto)
    }

    /// Active open from `local` (or the routed source).
    pub fn connect_from(
        &mut self,
        now: Instant,
        local: Option<Ipv4Addr>,
        addr: Ipv4Addr,
        port: u16,
        proto: Proto,
    ) -> Result<MpConn, StackError> {
        self.sync_pm();
        let id = self.stack.opener_mut().new_conn_id();
        let hs = self.cfg.handshake;
        let h = self
            .stack
            .connect_with(now, local, 0, addr, port, |o, now, tuple, iss, ts| {
                if proto == Proto::Tcp {
                    let mut s = o.sock(iss, ts)?;
                    s.connect(now, tuple.local_port, tuple.remote_port)?;
                    return Ok(Subflow::plain(s));
                }
                let mut s = o.mptcp_sock(iss, ts)?;
                s.connect(now, tuple.local_port, tuple.remote_port)?;
                let mut rng = {
                    let mut x = o.next_rand();
                    move || {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        x ^ (x >> 29)
                    }
                };
                match o
                    .tokens
                    .new_connect(hs.client_version, id, &mut rng, &mut o.mib)
                {
                    Ok(k) => {
                        let syn = MpcSynSent::new(&hs, k.key, &mut o.mib);
                        o.joins.insert(
                            id,
                            JoinInfo {
                                shared: None,
                                csum: false,
                                joins: 0,
                            },
                        );
                        Ok(Subflow::mpc_client(s, id, syn))
                    }
                    Err(_) => Ok(Subflow::plain(s)),
                }
            })?;
        let tuple = self.stack.tuple(h).ok_or(StackError::InvalidHandle)?;
        let mut c = self.new_connection(id, proto, tuple.local_addr, (addr, port));
        c.add_subflow(SubflowInfo {
            id: 0,
            handle: h,
            local: (tuple.local_addr, tuple.local_port),
            remote: (addr, port),
            local_id: 0,
            remote_id: 0,
            backup: false,
            established: false,
            closed: false,
            stale: false,
            bytes_sent: 0,
            bytes_received: 0,
        });
        self.conns.insert(id, c);
        self.by_sf.insert(h, id);
        Ok(MpConn(id))
    }

    fn new_connection(
        &self,
        id: ConnId,
        proto: Proto,
        local: Ipv4Addr,
        remote: (Ipv4Addr, u16),
    ) -> Connection {
        let sched = by_name(self.cfg.scheduler)
            .or_else(|| by_name("default"))
            .expect("the default scheduler exists");
        Connection::new(
            id,
            proto,
            sched,
            self.cfg.stale_loss_cnt,
            local,
            remote,
            (self.cfg.send_buffer, self.cfg.recv_buffer),
        )
    }

    /// Listens on `port` for MPTCP and plain TCP connections.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<(), StackError> {
        self.sync_pm();
        self.stack.listen(port, backlog.max(8) * 4)?;
        self.listening.entry(port).or_default();
        Ok(())
    }

    /// The next established connection of `port`.
    pub fn accept(&mut self, port: u16) -> Option<MpConn> {
        self.listening.get_mut(&port)?.pop_front().map(MpConn)
    }

    /// Queues data; returns the bytes taken.
    pub fn send(&mut self, c: MpConn, data: &[u8]) -> Result<usize, StackError> {
        self.touch(c.0);
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        if conn.shutdown || conn.state != ConnState::Established {
            return Ok(0);
        }
        let Some(sb) = conn.sendbuf.as_mut() else {
            return Ok(0);
        };
        let n = sb.append_slice(data);
        if n < data.len() {
            conn.writable = false;
        }
        self.pump(c.0, None);
        Ok(n)
    }

    /// Reads in-order data; returns the bytes read.
    pub fn recv(&mut self, c: MpConn, buf: &mut [u8]) -> Result<usize, StackError> {
        self.touch(c.0);
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        let Some(r) = conn.reasm.as_mut() else {
            return Ok(0);
        };
        let n = r.recv(buf);
        if n > 0 {
            conn.readable = false;
            self.publish_window(c.0);
        }
        Ok(n)
    }

    /// Half-close: a DATA_FIN after the queued data.
    pub fn shutdown(&mut self, c: MpConn) -> Result<(), StackError> {
        self.touch(c.0);
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        conn.shutdown = true;
        self.pump(c.0, None);
        Ok(())
    }

    /// Gives the connection up: DATA_FIN after the queued data; subflows close after
    /// the data level did; then the connection is forgotten.
    pub fn close(&mut self, now: Instant, c: MpConn) -> Result<(), StackError> {
        self.touch(c.0);
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        conn.shutdown = true;
        conn.released = true;
        if conn.state == ConnState::Connecting {
            // Nothing was exchanged: give the handshake up (as close() on a connecting
            // socket does).
            conn.error = Some(TcpError::Reset);
            let hs: Vec<ConnHandle> = conn.subflows.iter().map(|e| e.info.handle).collect();
            for h in hs {
                let _ = self.stack.with_transport(h, |sf| sf.abort());
            }
            self.set_closed(c.0);
        }
        self.pump(c.0, Some(now));
        self.maybe_finish(now, c.0);
        Ok(())
    }

    /// Abort: MP_FASTCLOSE (RFC 8684 §3.5; RST form on every subflow, or with
    /// [`FastcloseForm::Ack`] an ACK on the first open subflow and RSTs on the others)
    /// for MPTCP, a RST for plain TCP.
    pub fn abort(&mut self, c: MpConn) -> Result<(), StackError> {
        self.touch(c.0);
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        let key = conn.mpc.filter(|_| !conn.fallback).map(|m| m.remote.key);
        let handles: Vec<ConnHandle> = conn
            .subflows
            .iter()
            .filter(|e| !e.info.closed)
            .map(|e| e.info.handle)
            .collect();
        let mut ack_form = key.is_some() && self.cfg.fastclose == FastcloseForm::Ack;
        for h in handles {
            let _ = self.stack.with_transport(h, |sf| match key {
                Some(k) if ack_form && sf.state() == crate::tcp::socket::State::Established => {
                    sf.fastclose_ack(k);
                    ack_form = false;
                }
                Some(k) => sf.fastclose(k),
                None => sf.abort(),
            });
        }
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        if key.is_some() {
            conn.mib.inc(Mib::MPFastcloseTx);
            self.mib.inc(Mib::MPFastcloseTx);
        }
        conn.error = Some(TcpError::Reset);
        conn.released = true;
        self.set_closed(c.0);
        Ok(())
    }

    /// The connection's state (`None` once forgotten).
    pub fn state(&self, c: MpConn) -> Option<ConnState> {
        self.conns.get(&c.0).map(|x| x.state)
    }

    /// Why the connection failed, if it did.
    pub fn error(&self, c: MpConn) -> Option<TcpError> {
        self.conns.get(&c.0).and_then(|x| x.error)
    }

    /// Whether `send` would take data.
    pub fn can_send(&self, c: MpConn) -> bool {
        self.conns.get(&c.0).is_some_and(|x| {
            x.state == ConnState::Established
                && !x.shutdown
                && x.sendbuf.as_ref().is_some_and(|s| s.free_space() > 0)
        })
    }

    /// Whether `recv` would return data.
    pub fn can_recv(&self, c: MpConn) -> bool {
        self.conns
            .get(&c.0)
            .and_then(|x| x.reasm.as_ref())
            .is_some_and(|r| r.readable() > 0)
    }

    /// The peer's DATA_FIN arrived and everything was read.
    pub fn recv_finished(&self, c: MpConn) -> bool {
        self.conns.get(&c.0).is_some_and(Connection::recv_finished)
    }

    /// Our DATA_FIN was DATA_ACKed (everything we sent was received).
    pub fn send_finished(&self, c: MpConn) -> bool {
        self.conns.get(&c.0).is_some_and(Connection::send_finished)
    }

    /// The connection fell back to TCP (or is plain TCP).
    pub fn is_fallback(&self, c: MpConn) -> bool {
        self.conns.get(&c.0).is_some_and(|x| x.fallback)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MpEvent> {
        self.events.pop_front()
    }

    /// Every live connection, in id order (for `show mptcp conns`).
    pub fn connections(&self) -> Vec<MpConn> {
        let mut v: Vec<MpConn> = self.conns.keys().map(|&id| MpConn(id)).collect();
        v.sort();
        v
    }

    /// A connection's summary: our and the peer's tokens (once MP_CAPABLE completed),
    /// the initial local address and the remote address and port.
    pub fn conn_summary(&self, c: MpConn) -> Option<ConnSummary> {
        let x = self.conns.get(&c.0)?;
        Some(ConnSummary {
            state: x.state,
            fallback: x.fallback,
            local_token: x.mpc.map(|m| m.local.token),
            remote_token: x.mpc.map(|m| m.remote.token),
            checksum: x.mpc.is_some_and(|m| m.checksum),
            local: x.local,
            remote: x.remote,
            subflows: x.live_subflows(),
            bytes_sent: x.subflows.iter().map(|e| e.info.bytes_sent).sum(),
            bytes_received: x.subflows.iter().map(|e| e.info.bytes_received).sum(),
        })
    }

    /// The connection's subflows (closed ones included).
    pub fn subflows(&self, c: MpConn) -> Vec<SubflowInfo> {
        let Some(conn) = self.conns.get(&c.0) else {
            return Vec::new();
        };
        conn.subflows
            .iter()
            .map(|e| {
                let mut i = e.info;
                i.stale = e.slot.is_some_and(|s| conn.stale.is_stale(s));
                i
            })
            .collect()
    }

    /// Opens a join from `local` to `remote:port` (DESIGN.md §4 `add_subflow`).
    pub fn add_subflow(
        &mut self,
        now: Instant,
        c: MpConn,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        port: u16,
    ) -> Result<u8, StackError> {
        self.open_join(now, c.0, Some(local), remote, port, false)
    }

    /// Closes a subflow (reinjecting what it had outstanding).
    pub fn remove_subflow(&mut self, c: MpConn, id: u8) -> Result<(), StackError> {
        self.touch(c.0);
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        let e = conn
            .subflows
            .iter()
            .find(|e| e.info.id == id && !e.info.closed)
            .ok_or(StackError::InvalidHandle)?;
        let h = e.info.handle;
        self.stack.with_transport(h, |sf| {
            sf.reset(crate::wire::mptcp::tcprst::ADMIN_PROHIBITED)
        })?;
        self.subflow_closed(c.0, h);
        Ok(())
    }

    /// The scheduler of connections made from now on (`sched set`); false if `name` is
    /// unknown.
    pub fn set_default_scheduler(&mut self, name: &'static str) -> bool {
        let ok = by_name(name).is_some();
        if ok {
            self.cfg.scheduler = name;
        }
        ok
    }

    /// Replaces the connection's scheduler by the native one called `name`
    /// ([`crate::sched::by_name`]: "default", "roundrobin", "redundant").
    pub fn set_scheduler(&mut self, c: MpConn, name: &str) -> Result<(), StackError> {
        let s = by_name(name).ok_or(StackError::InvalidHandle)?;
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        conn.sched = s;
        Ok(())
    }

    /// The connection's scheduler name.
    pub fn scheduler(&self, c: MpConn) -> Option<&'static str> {
        self.conns.get(&c.0).map(|x| x.sched.name())
    }

    /// A hint the application passes to the scheduler (`SchedCtx::hint`, DESIGN.md §4).
    pub fn set_sched_hint(&mut self, c: MpConn, hint: u64) -> Result<(), StackError> {
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        conn.sched_hint = hint;
        Ok(())
    }

    /// Withdraws our address `local_id` from the connection (RFC 8684 §3.4.2): a
    /// REMOVE_ADDR goes out on another subflow and our subflows from that address are
    /// closed (reinjecting what they had outstanding).
    pub fn remove_address(&mut self, c: MpConn, local_id: u8) -> Result<(), StackError> {
        self.touch(c.0);
        let conn = self.conns.get(&c.0).ok_or(StackError::InvalidHandle)?;
        let (using, others): (Vec<_>, Vec<_>) = conn
            .subflows
            .iter()
            .filter(|e| !e.info.closed && e.info.established)
            .partition(|e| e.info.local_id == local_id);
        let carrier = others.first().ok_or(StackError::InvalidHandle)?.info.handle;
        let using: Vec<u8> = using.iter().map(|e| e.info.id).collect();
        self.stack
            .with_transport(carrier, |sf| sf.send_rm_addr(local_id))?;
        for id in using {
            self.remove_subflow(c, id)?;
        }
        Ok(())
    }

    /// Marks a subflow backup or not (MP_PRIO, RFC 8684 §3.3.8).
    pub fn set_backup(&mut self, c: MpConn, id: u8, backup: bool) -> Result<(), StackError> {
        self.touch(c.0);
        let conn = self.conns.get_mut(&c.0).ok_or(StackError::InvalidHandle)?;
        let e = conn
            .subflows
            .iter_mut()
            .find(|e| e.info.id == id && !e.info.closed)
            .ok_or(StackError::InvalidHandle)?;
        e.info.backup = backup;
        let h = e.info.handle;
        self.stack.with_transport(h, |sf| sf.send_mp_prio(backup))?;
        Ok(())
    }

    // ------------------------------------------------------------------ I/O

    /// A frame arrived on interface `iface`.
    pub fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        self.stack.handle_frame(now, iface, frame);
        self.service(now);
    }

    /// Emits every ready frame.
    pub fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        self.service(now);
        self.stack.poll_transmit(now, emit);
        for h in core::mem::take(&mut self.pending_close) {
            let _ = self.stack.close(now, h);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.stack.poll_timeout(), self.timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
            let ids: Vec<ConnId> = self.conns.keys().copied().collect();
            for id in ids {
                self.data_fin_timer(now, id);
                // Data-level retransmission: due ones are serviced (the pump fires and
                // re-arms them), the others stay armed.
                let at = self.conns.get(&id).and_then(|c| c.rtx).map(|(_, at)| at);
                match at {
                    Some(at) if at <= now => self.touch(id),
                    Some(at) => self.timer = Some(self.timer.map_or(at, |t| t.min(at))),
                    None => {}
                }
            }
        }
        self.service(now);
    }

    // ------------------------------------------------------------------ internals

    /// Everything after input: accept, drain subflows, run connections.
    fn service(&mut self, now: Instant) {
        // Handshake counters of the opener (listener side, refused joins).
        let o = self.stack.opener_mut();
        if o.mib.iter_nonzero().next().is_some() {
            let m = o.mib.snapshot();
            o.mib.clear();
            self.mib.merge(&m);
        }
        // Only connections that something happened to are serviced: a subflow with
        // output (the stack reports it Readable), an accepted subflow, an application
        // call or a timer. Nothing here is O(connections) per frame.
        while let Some(ev) = self.stack.poll_event() {
            match ev {
                Event::Acceptable { port } => self.accept_subflows(now, port),
                Event::Closed(h) => {
                    if let Some(&id) = self.by_sf.get(&h) {
                        self.drain_subflow(now, id, h);
                        self.subflow_closed(id, h);
                        self.touch(id);
                    } else {
                        let _ = self.stack.close(now, h);
                    }
                }
                Event::Connected(h) | Event::Readable(h) | Event::Writable(h) => {
                    if let Some(&id) = self.by_sf.get(&h) {
                        self.drain_subflow(now, id, h);
                        self.touch(id);
                    }
                }
            }
        }
        while let Some(id) = self.touched.pop() {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            c.touched = false;
            let mut i = 0;
            while let Some(e) = self.conns.get(&id).and_then(|c| c.subflows.get(i)) {
                let h = e.info.handle;
                let live = !e.info.closed;
                i += 1;
                if live && self.stack.transport(h).is_some_and(|sf| sf.has_output()) {
                    self.drain_subflow(now, id, h);
                }
            }
            self.pump(id, Some(now));
            self.run_pm(now, id);
            self.maybe_finish(now, id);
            if self
                .conns
                .get(&id)
                .is_some_and(|c| c.released && c.state == ConnState::Closed && c.subflows_closed)
            {
                self.conns.remove(&id);
            }
        }
    }

    /// Marks a connection for servicing at the end of this input.
    fn touch(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            if !c.touched {
                c.touched = true;
                self.touched.push(id);
            }
        }
    }

    fn accept_subflows(&mut self, now: Instant, port: u16) {
        while let Some(h) = self.stack.accept(port) {
            let Some(sf) = self.stack.transport(h) else {
                continue;
            };
            let (sf_join, sf_conn, sf_fb, ids, bk) = (
                sf.is_join(),
                sf.conn(),
                sf.is_fallback(),
                sf.ids(),
                sf.backup_local || sf.backup_remote,
            );
            let tuple = self.stack.tuple(h).expect("live");
            let info = SubflowInfo {
                id: 0,
                handle: h,
                local: (tuple.local_addr, tuple.local_port),
                remote: (tuple.remote_addr, tuple.remote_port),
                local_id: ids.0,
                remote_id: ids.1,
                backup: bk,
                established: false,
                closed: false,
                stale: false,
                bytes_sent: 0,
                bytes_received: 0,
            };
            if sf_join {
                let Some(id) = sf_conn else {
                    let _ = self.stack.close(now, h);
                    continue;
                };
                match self.conns.get_mut(&id) {
                    Some(c) => {
                        c.add_subflow(info);
                        self.by_sf.insert(h, id);
                        self.drain_subflow(now, id, h);
                        self.touch(id);
                    }
                    None => {
                        let _ = self.stack.abort(h);
                    }
                }
                continue;
            }
            let id = match sf_conn {
                Some(id) => id,
                None => self.stack.opener_mut().new_conn_id(),
            };
            let proto = if sf_fb && sf_conn.is_none() {
                Proto::Tcp
            } else {
                Proto::Mptcp
            };
            let mut c = self.new_connection(id, proto, tuple.local_addr, info.remote);
            c.listener = Some(port);
            c.add_subflow(info);
            self.conns.insert(id, c);
            self.by_sf.insert(h, id);
            self.drain_subflow(now, id, h);
            let conn = self.conns.get_mut(&id).expect("inserted");
            if conn.shared.is_none() {
                // A plain TCP subflow: its private DSN space.
                let sh = self.stack.transport(h).and_then(|s| s.shared().cloned());
                if let Some(sh) = sh {
                    conn.attach(sh);
                    conn.fallback = true;
                }
            }
            if let Some(e) = conn.subflows.first_mut() {
                e.info.established = true;
            }
            conn.state = ConnState::Established;
            self.listening.entry(port).or_default().push_back(id);
            self.events.push_back(MpEvent::Acceptable { port });
            self.touch(id);
        }
    }

    /// Drains one subflow's events, data and counters into its connection.
    fn drain_subflow(&mut self, now: Instant, id: ConnId, h: ConnHandle) {
        // Reused buffers: no allocation per segment.
        let mut evs = core::mem::take(&mut self.ev_buf);
        let mut data = core::mem::take(&mut self.rx_buf);
        evs.clear();
        data.clear();
        let mut mib = MibCounters::new();
        let mut shared = None;
        let r = self.stack.with_transport(h, |sf| {
            while let Some(e) = sf.poll_event() {
                evs.push(e);
            }
            while let Some(d) = sf.poll_rx() {
                data.push(d);
            }
            mib = sf.mib.snapshot();
            sf.mib.clear();
            shared = sf.shared().cloned();
            sf.is_fallback()
        });
        let Ok(sf_fallback) = r else { return };
        self.mib.merge(&mib);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.mib.merge(&mib);
        for ev in evs.drain(..) {
            self.subflow_event(now, id, h, ev, shared.clone(), sf_fallback);
        }
        self.ev_buf = evs;
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut got = 0u64;
        if let Some(r) = conn.reasm.as_mut() {
            let ooo_before = r.stats().ofo_queue;
            let dup_before = r.stats().duplicate_data;
            for (dsn, b) in data.drain(..) {
                got += b.len() as u64;
                r.insert(dsn, b);
            }
            let st = r.stats();
            conn.mib.add(Mib::OFOQueue, st.ofo_queue - ooo_before);
            conn.mib
                .add(Mib::DuplicateData, st.duplicate_data - dup_before);
            self.mib.add(Mib::OFOQueue, st.ofo_queue - ooo_before);
            self.mib
                .add(Mib::DuplicateData, st.duplicate_data - dup_before);
        }
        data.clear();
        self.rx_buf = data;
        if let Some(e) = conn.entry_mut(h) {
            e.info.bytes_received += got;
        }
        if got > 0 || conn.reasm.as_ref().is_some_and(|r| r.fin_received()) {
            self.publish_window(id);
        }
    }

    fn subflow_event(
        &mut self,
        now: Instant,
        id: ConnId,
        h: ConnHandle,
        ev: SubflowEvent,
        shared: Option<Arc<SharedData>>,
        sf_fallback: bool,
    ) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match ev {
            SubflowEvent::MpcEstablished { mpc, shared } => {
                conn.mpc = Some(mpc);
                conn.attach(shared.clone());
                let o = self.stack.opener_mut();
                o.tokens.set_remote_key(mpc.local.token, mpc.remote.key);
                if let Some(j) = o.joins.get_mut(&id) {
                    j.shared = Some(shared);
                    j.csum = mpc.checksum;
                }
                let conn = self.conns.get_mut(&id).expect("live");
                if let Some(e) = conn.entry_mut(h) {
                    e.info.established = true;
                }
                if conn.listener.is_none() && conn.state == ConnState::Connecting {
                    conn.state = ConnState::Established;
                    self.events.push_back(MpEvent::Connected(MpConn(id)));
                }
                if mpc.role == super::handshake::Role::Server {
                    conn.fully_established = true;
                }
                self.mib.inc(Mib::MPCurrEstab);
            }
            SubflowEvent::FullyEstablished => {
                conn.fully_established = true;
            }
            SubflowEvent::JoinEstablished {
                local_id,
                remote_id,
                backup,
            } => {
                conn.joined = true;
                if let Some(e) = conn.entry_mut(h) {
                    e.info.established = true;
                    e.info.local_id = local_id;
                    e.info.remote_id = remote_id;
                    e.info.backup = backup;
                }
                // Joins end the possibility of fallback on every subflow.
                let handles: Vec<ConnHandle> =
                    conn.subflows.iter().map(|e| e.info.handle).collect();
                let sid = conn.entry_mut(h).map_or(0, |e| e.info.id);
                for x in handles {
                    let _ = self.stack.with_transport(x, |sf| sf.allow_fallback = false);
                }
                self.events.push_back(MpEvent::SubflowEstablished {
                    conn: MpConn(id),
                    id: sid,
                });
            }
            SubflowEvent::Fallback(_) => {
                if conn.shared.is_none() {
                    if let Some(sh) = shared {
                        conn.attach(sh);
                    }
                }
                if !conn.fallback {
                    conn.fallback = true;
                    if let Some(m) = conn.mpc {
                        self.stack.opener_mut().tokens.remove(m.local.token);
                    }
                    let conn = self.conns.get_mut(&id).expect("live");
                    if let Some(e) = conn.entry_mut(h) {
                        e.info.established = true;
                    }
                    if conn.listener.is_none() && conn.state == ConnState::Connecting {
                        conn.state = ConnState::Established;
                        self.events.push_back(MpEvent::Connected(MpConn(id)));
                    }
                    // A plain-TCP connection asked for (Proto::Tcp) did not fall back.
                    if conn.proto == Proto::Mptcp {
                        self.events.push_back(MpEvent::Fallback(MpConn(id)));
                    }
                }
                let _ = sf_fallback;
            }
            SubflowEvent::JoinRefused(_) | SubflowEvent::MpcReset | SubflowEvent::LocalReset(_) => {
                self.subflow_closed(id, h);
            }
            SubflowEvent::Reset(_) => {
                self.subflow_closed(id, h);
            }
            SubflowEvent::FastClose => {
                conn.error = Some(TcpError::Reset);
                let handles: Vec<ConnHandle> = conn
                    .subflows
                    .iter()
                    .filter(|e| !e.info.closed)
                    .map(|e| e.info.handle)
                    .collect();
                for x in handles {
                    let _ = self.stack.with_transport(x, |sf| sf.abort());
                }
                self.set_closed(id);
            }
            SubflowEvent::DataFin(at) => {
                if let Some(r) = conn.reasm.as_mut() {
                    r.set_data_fin(at);
                }
                if let Some(sh) = conn.shared.as_ref() {
                    sh.handle_rcv_data_fin(at);
                }
                self.publish_window(id);
            }
            SubflowEvent::AddAddr(a) => {
                // RFC 8684 §3.4.1: the HMAC (keyed with the sender's key, then ours)
                // must match, else the option is dropped.
                let valid = conn.mpc.is_some_and(|m| {
                    a.hmac
                        == Some(crate::crypto::add_addr_hmac(
                            m.remote.key,
                            m.local.key,
                            a.addr_id,
                            a.addr,
                            a.port,
                        ))
                });
                if !valid {
                    conn.mib.inc(Mib::AddAddrDrop);
                    self.mib.inc(Mib::AddAddrDrop);
                    return;
                }
                let limit = self.endpoints.limits().add_addr_accepted;
                let mut echo = a;
                echo.echo = true;
                echo.hmac = None;
                let _ = self.stack.with_transport(h, |sf| sf.send_add_addr(echo));
                let conn = self.conns.get_mut(&id).expect("live");
                if conn.add_addr_accepted < limit {
                    conn.add_addr_accepted += 1;
                    if let IpAddr::V4(addr) = a.addr {
                        let port = a.port.unwrap_or(conn.remote.1);
                        // RFC 8684 §3.4.1 / Linux: join the announced address from
                        // the source address the routes pick for it.
                        let _ = self.open_join(now, id, None, addr, port, false);
                    }
                }
            }
            SubflowEvent::AddAddrEcho(_) => {}
            SubflowEvent::RemoveAddr(ids, n) => {
                // RFC 8684 §3.4.2: subflows using a removed address are closed (Linux
                // resets them: mptcp_pm_nl_rm_subflow_received).
                let ids = &ids[..n.min(8)];
                let gone: Vec<ConnHandle> = conn
                    .subflows
                    .iter()
                    .filter(|e| !e.info.closed && ids.contains(&e.info.remote_id))
                    .filter(|e| e.info.id != 0 || conn.subflows.len() > 1)
                    .map(|e| e.info.handle)
                    .collect();
                conn.mib.add(Mib::RmSubflow, gone.len() as u64);
                self.mib.add(Mib::RmSubflow, gone.len() as u64);
                for x in gone {
                    let _ = self.stack.with_transport(x, |sf| {
                        sf.reset(crate::wire::mptcp::tcprst::ADMIN_PROHIBITED)
                    });
                    self.subflow_closed(id, x);
                }
            }
            SubflowEvent::MpPrio(p) => {
                if let Some(e) = conn.entry_mut(h) {
                    e.info.backup = p.backup;
                }
            }
            SubflowEvent::MpFail(_) => {
                // The peer saw a checksum failure: with one subflow both ends fall back
                // (the subflow that reported it already did); with several, the peer
                // resets the bad subflow and we reinject from it.
            }
            SubflowEvent::Rto => {
                let slot = conn.entry_mut(h).and_then(|e| e.slot);
                if let Some(slot) = slot {
                    conn.stale.on_rto(slot);
                    let active: u8 = conn
                        .subflows
                        .iter()
                        .filter(|e| !e.info.closed && e.info.established)
                        .filter_map(|e| e.slot)
                        .fold(0, |m, s| m | (1 << s));
                    // An RTO event means the subflow had data outstanding (its own write
                    // queue, as Linux's stale check looks at), whether or not the data
                    // level has meanwhile received that data by another path.
                    let outstanding = true;
                    if conn.stale.check(slot, active, outstanding) {
                        conn.mib.inc(Mib::SubflowStale);
                        self.mib.inc(Mib::SubflowStale);
                        if let Some(sb) = conn.sendbuf.as_mut() {
                            sb.reinject_subflow(slot as u8);
                        }
                    }
                }
            }
            SubflowEvent::Progress => {
                let slot = conn.entry_mut(h).and_then(|e| e.slot);
                if let Some(slot) = slot {
                    if conn.stale.on_progress(slot) {
                        conn.mib.inc(Mib::SubflowRecover);
                        self.mib.inc(Mib::SubflowRecover);
                    }
                }
            }
        }
    }

    /// A subflow is gone: reinject what it had outstanding, free its slot.
    fn subflow_closed(&mut self, id: ConnId, h: ConnHandle) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(e) = conn.entry_mut(h) else {
            return;
        };
        if e.info.closed {
            return;
        }
        e.info.closed = true;
        let sid = e.info.id;
        let was_established = e.info.established;
        let slot = e.slot.take();
        if let (Some(slot), Some(sh)) = (slot, conn.shared.as_ref()) {
            if let Some(sb) = conn.sendbuf.as_mut() {
                sb.reinject_subflow(slot as u8);
            }
            conn.stale.reset(slot);
            sh.free_slot(slot);
        }
        // A join we accepted frees its place under the subflow limit.
        let passive = self.conns.get(&id).is_some_and(|c| c.listener.is_some());
        if passive && sid != 0 && was_established {
            if let Some(j) = self.stack.opener_mut().joins.get_mut(&id) {
                j.joins = j.joins.saturating_sub(1);
            }
        }
        let conn = self.conns.get_mut(&id).expect("live");
        self.events.push_back(MpEvent::SubflowClosed {
            conn: MpConn(id),
            id: sid,
        });
        // The last subflow went away before the data level finished: the connection
        // is dead.
        if conn.live_subflows() == 0 && conn.state != ConnState::Closed {
            let done = conn.send_finished() && conn.recv_finished();
            if !done && conn.error.is_none() {
                conn.error = Some(TcpError::Reset);
            }
            self.set_closed(id);
        }
    }

    fn set_closed(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.state != ConnState::Closed {
            // Counted once MP_CAPABLE completed, fallen back or not (as Linux counts
            // the MPTCP socket).
            if conn.mpc.is_some() {
                self.mib.dec(Mib::MPCurrEstab);
            }
            conn.state = ConnState::Closed;
        }
        if !conn.closed_reported {
            conn.closed_reported = true;
            self.events.push_back(MpEvent::Closed(MpConn(id)));
            if let Some(m) = conn.mpc {
                self.stack.opener_mut().tokens.remove(m.local.token);
            }
            self.stack.opener_mut().joins.remove(&id);
        }
    }

    /// Publishes DATA_ACK and window; asks for an ACK when it moved enough.
    /// The close order of DESIGN.md §1: once both DATA_FINs are through, the subflows
    /// close (FIN); a released connection is forgotten once they are gone.
    fn maybe_finish(&mut self, _now: Instant, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let data_done = conn.send_finished() && conn.recv_finished();
        // DESIGN.md §1: subflows close once the data level did (both DATA_FINs), or
        // when the connection failed.
        if conn.subflows_closed || !(data_done || conn.error.is_some()) {
            return;
        }
        conn.subflows_closed = true;
        let hs: Vec<ConnHandle> = conn.subflows.iter().map(|e| e.info.handle).collect();
        for h in hs {
            self.pending_close.push(h);
            self.by_sf.remove(&h);
        }
        self.set_closed(id);
    }

    /// The path manager (Linux in-kernel PM): once the initial subflow is fully
    /// established, the client opens a join from every `subflow` endpoint and the
    /// server announces every `signal` endpoint.
    fn run_pm(&mut self, now: Instant, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.pm_done || conn.fallback || conn.state != ConnState::Established {
            return;
        }
        if conn.mpc.is_none() || !conn.fully_established {
            return;
        }
        conn.pm_done = true;
        let (local, remote, server) = (conn.local, conn.remote, conn.listener.is_some());
        let first = conn.subflows.first().map(|e| e.info.handle);
        let eps: Vec<_> = self.endpoints.iter().copied().collect();
        let limit = self.endpoints.limits().subflows;
        let mut opened = 0;
        for ep in eps {
            let IpAddr::V4(addr) = ep.addr else { continue };
            if addr == local {
                continue;
            }
            if ep.flags.contains(EndpointFlags::SUBFLOW) && !server && opened < limit {
                let backup = ep.flags.contains(EndpointFlags::BACKUP);
                if self
                    .open_join(now, id, Some(addr), remote.0, remote.1, backup)
                    .is_ok()
                {
                    opened += 1;
                }
            }
            if ep.flags.contains(EndpointFlags::SIGNAL) {
                if let Some(h) = first {
                    let a = AddAddr {
                        echo: false,
                        addr_id: ep.id,
                        addr: ep.addr,
                        port: ep.port,
                        hmac: None,
                    };
                    let keys = self.conns[&id].mpc;
                    let a = match keys {
                        Some(m) => AddAddr {
                            hmac: Some(crate::crypto::add_addr_hmac(
                                m.local.key,
                                m.remote.key,
                                ep.id,
                                ep.addr,
                                ep.port,
                            )),
                            ..a
                        },
                        None => a,
                    };
                    let _ = self.stack.with_transport(h, |sf| sf.send_add_addr(a));
                }
            }
        }
    }

    fn open_join(
        &mut self,
        now: Instant,
        id: ConnId,
        local: Option<Ipv4Addr>,
        remote: Ipv4Addr,
        port: u16,
        backup: bool,
    ) -> Result<u8, StackError> {
        self.sync_pm();
        // The source: the given address, else what the routes pick for `remote`.
        let local = crate::stack::iface::route(self.stack.interfaces(), remote, local)
            .ok_or(StackError::NoRoute)?
            .src;
        let conn = self.conns.get(&id).ok_or(StackError::InvalidHandle)?;
        let (Some(mpc), Some(sh)) = (conn.mpc, conn.shared.clone()) else {
            return Err(StackError::InvalidHandle);
        };
        if conn.fallback || conn.state != ConnState::Established {
            return Err(StackError::InvalidHandle);
        }
        let ep = self.endpoints.iter().find(|e| e.addr == IpAddr::V4(local));
        let addr_id = ep.map_or(0, |e| e.id);
        // An endpoint with a device: the subflow leaves through it (Linux `dev`), on-link
        // to the peer's address even when that is another path's subnet.
        let dev = ep.and_then(|e| e.dev).map(usize::from);
        let h = self.stack.connect_with_dev(
            now,
            Some(local),
            0,
            remote,
            port,
            dev,
            |o, now, tuple, iss, ts| {
                let mut s = o.mptcp_sock(iss, ts)?;
                s.connect(now, tuple.local_port, tuple.remote_port)?;
                let nonce = o.next_rand() as u32;
                let hs = JoinSynSent::new(
                    id,
                    mpc.join_keys(),
                    JoinLocal {
                        addr_id,
                        backup,
                        nonce,
                    },
                    &mut o.mib,
                );
                let mut sf = Subflow::join_client(s, id, hs, sh, mpc.checksum);
                sf.set_local_id(addr_id);
                sf.backup_local = backup;
                Ok(sf)
            },
        )?;
        let tuple = self.stack.tuple(h).ok_or(StackError::InvalidHandle)?;
        let conn = self.conns.get_mut(&id).ok_or(StackError::InvalidHandle)?;
        let sid = conn.add_subflow(SubflowInfo {
            id: 0,
            handle: h,
            local: (tuple.local_addr, tuple.local_port),
            remote: (remote, port),
            local_id: addr_id,
            remote_id: 0,
            backup,
            established: false,
            closed: false,
            stale: false,
            bytes_sent: 0,
            bytes_received: 0,
        });
        self.by_sf.insert(h, id);
        Ok(sid)
    }
}

/// The frame-level contract of the simulator and the DPDK worker
/// ([`crate::nic::FrameHost`]): an [`MptcpStack`] without an application can be driven
/// directly (the application calls the stack's API between polls).
impl crate::sim::Host for MptcpStack {
    fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        MptcpStack::handle_frame(self, now, iface, frame);
    }

    fn handle_timeout(&mut self, now: Instant) {
        MptcpStack::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        MptcpStack::poll_transmit(self, now, emit);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        MptcpStack::poll_timeout(self)
    }
}
