//! One MPTCP subflow: a [`TcpSocket`] plus the MPTCP options it reads and writes, as a
//! [`Transport`] the host stack drives.
//!
//! The subflow is the per-4-tuple half of the connection layer (the other half,
//! [`super::conn`], owns the data level). It talks to its connection only through
//!
//! * the connection's [`SharedData`] (an `Arc` of atomics: DATA_ACK, window edges,
//!   DATA_FIN; no lock), which it reads when it writes a DSS and updates when a DATA_ACK
//!   arrives, and
//! * small typed queues that the connection drains and fills between packets:
//!   [`Subflow::poll_rx`] (received `(DSN, bytes)` pieces, already cut by the DSS
//!   mappings), [`Subflow::poll_event`] ([`SubflowEvent`]: handshake outcomes,
//!   ADD_ADDR/RM_ADDR/MP_PRIO/MP_FAIL/MP_FASTCLOSE/MP_TCPRST received, fallback, DATA_FIN)
//!   and [`Subflow::push_data`] (a DSN range to send: one DSS mapping, one record of
//!   the socket so no segment straddles two mappings).
//!
//! so it can run on another core than its connection.
//!
//! # Options in ([`Transport::handle_segment`])
//!
//! The inner socket processes the segment first (the TCP state machine decides what is
//! acceptable), then the handshake typestate of [`super::handshake`] advances
//! (MP_CAPABLE both roles, MP_JOIN both roles; a join becomes data-capable only through
//! a [`VerifiedJoin`]), then the DSS: DATA_ACK (32 or 64 bits) into
//! [`SharedData::handle_data_ack`] with the TCP window (RFC 8684 §3.3.4: the window is
//! the data-level one), mappings into the [`RxMapper`]; then the socket's in-order bytes
//! are read and mapped. Mapping failures take Linux's action
//! ([`super::mapping::MappingError::action`]): fallback to TCP, MP_FAIL, or a reset with MP_TCPRST.
//!
//! # Options out ([`Transport::poll_transmit`])
//!
//! Every segment the socket produces gets, by handshake state: MP_CAPABLE (SYN, SYN/ACK,
//! third ACK and the first data segment's data form until fully established), MP_JOIN
//! (SYN, SYN/ACK, third ACK until acknowledged), or a DSS with a 64-bit DATA_ACK, the
//! 64-bit mapping of the payload (with checksum when negotiated) and the DATA_FIN; plus
//! queued ADD_ADDR, MP_PRIO, MP_FAIL, MP_FASTCLOSE, and MP_TCPRST on a RST. The TCP
//! window field carries the data-level receive window (RFC 8684 §3.3.4-3.3.5).
//! [`TcpRepr::fit_option_space`] then applies Linux's option-space policy.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::handshake::{
    ClientProgress, FallbackCause, JoinAckSent, JoinRefusal, JoinSynReceived, JoinSynSent,
    MpcAckSent, MpcEstablished, MpcSynReceived, MpcSynSent, ServerAckOutcome, SynAckOutcome,
    VerifiedJoin,
};
use super::mapping::{mp_capable_mapping, DssEvent, FailAction, RxMapper, TxMappings};
use super::mib::{Mib, MibCounters};
use super::shared::{conn_flags, SharedData};
use super::token::TokenTable;
use crate::seq::{DataSeq, SubflowSeq};
use crate::stack::Transport;
use crate::tcp::socket::{State, TcpError, TcpSocket};
use crate::time::Instant;
use crate::wire::mptcp::{
    AddAddr, Dss, DssSeq, MpFail, MpFastclose, MpPrio, MpTcprst, MptcpOption, RemoveAddr,
};
use crate::wire::tcp::{TcpFlags, TcpRepr};

/// A connection's identifier in the endpoint (what tokens map to).
pub type ConnId = u32;

/// Bytes read from the socket at a time (one reused buffer per subflow).
const SCRATCH: usize = 64 * 1024;

/// What a subflow tells its connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SubflowEvent {
    /// MP_CAPABLE completed on this (initial) subflow: the data level exists.
    MpcEstablished {
        mpc: MpcEstablished,
        shared: Arc<SharedData>,
    },
    /// The client learned the server has its key (RFC 8684 §3.1).
    FullyEstablished,
    /// A join passed its HMAC checks and may carry data.
    JoinEstablished {
        local_id: u8,
        remote_id: u8,
        backup: bool,
    },
    /// The connection is plain TCP from here on (RFC 8684 §3.7). `None`: never MPTCP.
    Fallback(Option<FallbackCause>),
    /// A join was refused (we sent or will send a RST with MP_TCPRST).
    JoinRefused(JoinRefusal),
    /// The MP_CAPABLE handshake ended with a reset (protocol error).
    MpcReset,
    /// The peer announced an address (not an echo).
    AddAddr(AddAddr),
    /// The peer echoed one of our ADD_ADDRs.
    AddAddrEcho(u8),
    /// The peer removed address IDs.
    RemoveAddr([u8; 8], usize),
    /// The peer changed the backup flag.
    MpPrio(MpPrio),
    /// The peer reported a checksum failure at this DSN.
    MpFail(u64),
    /// The peer closed the connection abruptly; the key proved it.
    FastClose,
    /// The peer reset this subflow with MP_TCPRST.
    Reset(Option<MpTcprst>),
    /// We detected a mapping failure and reset this subflow.
    LocalReset(u8),
    /// The peer's DATA_FIN at this DSN.
    DataFin(DataSeq),
    /// A retransmission timeout fired with data outstanding (stale detection).
    Rto,
    /// Subflow-level progress (new data acknowledged).
    Progress,
}

enum Hs {
    /// Plain TCP (never MPTCP, or fallen back).
    Plain,
    MpcSynSent(MpcSynSent),
    MpcAckSent(MpcAckSent),
    MpcSynRcvd(MpcSynReceived),
    JoinSynSent(JoinSynSent<ConnId>),
    JoinAckSent(JoinAckSent<ConnId>),
    JoinSynRcvd(JoinSynReceived<ConnId>, bool),
    /// Data-capable MPTCP subflow.
    Active,
    /// Refused or reset: nothing more.
    Dead,
}

impl core::fmt::Debug for Hs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Hs::Plain => "Plain",
            Hs::MpcSynSent(_) => "MpcSynSent",
            Hs::MpcAckSent(_) => "MpcAckSent",
            Hs::MpcSynRcvd(_) => "MpcSynRcvd",
            Hs::JoinSynSent(_) => "JoinSynSent",
            Hs::JoinAckSent(_) => "JoinAckSent",
            Hs::JoinSynRcvd(..) => "JoinSynRcvd",
            Hs::Active => "Active",
            Hs::Dead => "Dead",
        })
    }
}

/// Options the connection asked this subflow to send.
#[derive(Debug, Default)]
struct Pending {
    add_addr: Option<AddAddr>,
    rm_addr: Option<u8>,
    mp_prio: Option<MpPrio>,
    mp_fail: Option<u64>,
    fastclose: Option<u64>,
    tcprst: Option<MpTcprst>,
}

/// One subflow. See the module docs.
#[derive(Debug)]
pub struct Subflow {
    sock: TcpSocket,
    hs: Hs,
    conn: Option<ConnId>,
    shared: Option<Arc<SharedData>>,
    tx: Option<TxMappings>,
    rx: Option<RxMapper>,
    csum: bool,
    /// The DATA_FIN to signal on our segments until it is DATA_ACKed.
    data_fin: Option<DataSeq>,
    /// DSN after the last mapping pushed (fallback: the DATA_ACK a full TCP ACK implies).
    tx_end: DataSeq,
    /// DSN after the last piece received (fallback start point).
    rx_end: DataSeq,
    /// This is a join subflow (Linux `mp_join`).
    join: bool,
    /// The connection allows falling back with this subflow (it is the only one and no
    /// join ever happened: Linux `allow_infinite_fallback`).
    pub allow_fallback: bool,
    local_id: u8,
    remote_id: u8,
    /// Our B flag (we asked the peer to treat it as backup) / the peer's.
    pub backup_local: bool,
    pub backup_remote: bool,
    pending: Pending,
    rx_out: VecDeque<(DataSeq, Bytes)>,
    events: VecDeque<SubflowEvent>,
    /// Counters since the connection last drained them.
    pub mib: MibCounters,
    scratch: Vec<u8>,
    last_una: SubflowSeq,
    /// Answer the SYN with RST+ACK and MP_TCPRST, then close (a join refused at its SYN).
    refuse_syn: bool,
    /// Abort (RST with the pending MP_TCPRST) at the next poll_transmit.
    abort_at_tx: bool,
    /// MP_FASTCLOSE in its ACK form is out or queued: the peer's key, and when to fall
    /// back to the RST form if the peer's RST has not come (set once the ACK left).
    fastclose_ack: Option<(u64, Option<Instant>)>,
    /// Our key (checks MP_FASTCLOSE).
    local_key: Option<u64>,
    /// End of the highest data sent (a segment below it is a retransmission).
    sent_hi: SubflowSeq,
    /// Gathers a mapping's pieces for the socket.
    flat: Vec<u8>,
    /// The MP_CAPABLE outcome (initial subflow).
    mpc: Option<MpcEstablished>,
    /// Send the infinite mapping on the next data segment (after MP_FAIL).
    infinite_pending: bool,
    /// Received pieces are carved out of this block (one allocation per block, not per
    /// segment); a block is reused once the application has read all of it.
    arena: BytesMut,
}

/// Every address ID, for REMOVE_ADDR options that borrow their ID list.
static ADDR_IDS: [u8; 256] = {
    let mut a = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        a[i] = i as u8;
        i += 1;
    }
    a
};

/// Block size of the receive arena.
const ARENA: usize = 256 * 1024;

/// Copies `b` into the arena and returns it as its own `Bytes`.
fn carve(arena: &mut BytesMut, b: &[u8]) -> Bytes {
    if arena.capacity() - arena.len() < b.len() {
        arena.reserve(ARENA.max(b.len()));
    }
    arena.extend_from_slice(b);
    arena.split().freeze()
}

fn has_flag(seg: &TcpRepr<'_>, f: TcpFlags) -> bool {
    seg.flags.contains(f)
}

impl Subflow {
    fn with(sock: TcpSocket, hs: Hs, conn: Option<ConnId>) -> Subflow {
        let una = sock.snd_una();
        let mut sock = sock;
        // Mapping boundaries cut segments; Nagle would hold every tail back.
        sock.set_nagle(false);
        Subflow {
            sock,
            hs,
            conn,
            shared: None,
            tx: None,
            rx: None,
            csum: false,
            data_fin: None,
            tx_end: DataSeq(0),
            rx_end: DataSeq(0),
            join: false,
            allow_fallback: true,
            local_id: 0,
            remote_id: 0,
            backup_local: false,
            backup_remote: false,
            pending: Pending::default(),
            rx_out: VecDeque::new(),
            events: VecDeque::new(),
            mib: MibCounters::new(),
            scratch: vec![0; SCRATCH],
            last_una: una,
            refuse_syn: false,
            abort_at_tx: false,
            fastclose_ack: None,
            local_key: None,
            sent_hi: una + 1,
            flat: Vec::new(),
            mpc: None,
            infinite_pending: false,
            arena: BytesMut::new(),
        }
    }

    /// Plain TCP (no MPTCP option ever): the connection layer uses it as a fallen-back
    /// subflow from the start.
    pub fn plain(sock: TcpSocket) -> Subflow {
        Subflow::with(sock, Hs::Plain, None)
    }

    /// Client MP_CAPABLE: `sock` has queued its SYN.
    pub fn mpc_client(sock: TcpSocket, conn: ConnId, hs: MpcSynSent) -> Subflow {
        Subflow::with(sock, Hs::MpcSynSent(hs), Some(conn))
    }

    /// Server MP_CAPABLE: `sock` processed the SYN.
    pub fn mpc_server(sock: TcpSocket, conn: ConnId, hs: MpcSynReceived) -> Subflow {
        Subflow::with(sock, Hs::MpcSynRcvd(hs), Some(conn))
    }

    /// Client MP_JOIN of the connection whose data level is `shared`.
    pub fn join_client(
        sock: TcpSocket,
        conn: ConnId,
        hs: JoinSynSent<ConnId>,
        shared: Arc<SharedData>,
        csum: bool,
    ) -> Subflow {
        let mut s = Subflow::with(sock, Hs::JoinSynSent(hs), Some(conn));
        s.shared = Some(shared);
        s.csum = csum;
        s.join = true;
        s.allow_fallback = false;
        s
    }

    /// Server MP_JOIN: `sock` processed the SYN; `accept` is the path manager's verdict
    /// (subflow limit), applied after the third ACK's HMAC check.
    pub fn join_server(
        sock: TcpSocket,
        hs: JoinSynReceived<ConnId>,
        accept: bool,
        shared: Arc<SharedData>,
        csum: bool,
    ) -> Subflow {
        let conn = hs.conn();
        let (rid, rb) = hs.remote_id();
        let mut s = Subflow::with(sock, Hs::JoinSynRcvd(hs, accept), Some(conn));
        s.shared = Some(shared);
        s.csum = csum;
        s.join = true;
        s.allow_fallback = false;
        s.remote_id = rid;
        s.backup_remote = rb;
        s
    }

    /// A subflow that only answers a SYN with a RST carrying `rst` (a refused join).
    pub fn refused(sock: TcpSocket, rst: MpTcprst) -> Subflow {
        let mut s = Subflow::with(sock, Hs::Dead, None);
        s.pending.tcprst = Some(rst);
        s.refuse_syn = true;
        s
    }

    // ------------------------------------------------------------------ accessors

    /// The TCP engine (statistics).
    pub fn socket(&self) -> &TcpSocket {
        &self.sock
    }

    /// The connection this subflow belongs to, if MPTCP.
    pub fn conn(&self) -> Option<ConnId> {
        self.conn
    }

    /// The data level, once known.
    pub fn shared(&self) -> Option<&Arc<SharedData>> {
        self.shared.as_ref()
    }

    /// May carry data: an established MPTCP subflow, or a plain/fallen-back one.
    pub fn is_data_ready(&self) -> bool {
        matches!(self.hs, Hs::Active | Hs::Plain | Hs::MpcAckSent(_))
            && matches!(self.sock.state(), State::Established | State::CloseWait)
            && self.tx.is_some()
    }

    /// Plain TCP (never MPTCP or fallen back).
    pub fn is_fallback(&self) -> bool {
        matches!(self.hs, Hs::Plain)
    }

    /// Still in an MPTCP handshake.
    pub fn is_handshaking(&self) -> bool {
        matches!(
            self.hs,
            Hs::MpcSynSent(_)
                | Hs::MpcSynRcvd(_)
                | Hs::JoinSynSent(_)
                | Hs::JoinSynRcvd(..)
                | Hs::JoinAckSent(_)
        )
    }

    /// A join subflow.
    pub fn is_join(&self) -> bool {
        self.join
    }

    /// (our address ID, the peer's).
    pub fn ids(&self) -> (u8, u8) {
        (self.local_id, self.remote_id)
    }

    /// Sets our address id (for joins we open).
    pub fn set_local_id(&mut self, id: u8) {
        self.local_id = id;
    }

    /// Bytes the connection may push now (send-buffer room).
    pub fn send_space(&self) -> usize {
        if self.is_data_ready() {
            self.sock.send_space()
        } else {
            0
        }
    }

    /// Bytes queued or in flight at subflow level.
    pub fn send_queue(&self) -> usize {
        self.sock.send_queue()
    }

    // ------------------------------------------------------------------ connection side

    /// Sends the data `[dsn, dsn + len)` (the pieces of `data`) as one DSS mapping.
    /// Returns false (nothing taken) when it does not fit or the subflow cannot send.
    pub fn push_data(&mut self, dsn: DataSeq, data: &[Bytes]) -> bool {
        let len: usize = data.iter().map(Bytes::len).sum();
        if len == 0 || len > TxMappings::MAX_LEN || self.send_space() < len {
            return false;
        }
        let Some(tx) = self.tx.as_mut() else {
            return false;
        };
        let ssn = self.sock.write_seq();
        if tx.push_bytes(ssn, dsn, data, false).is_err() {
            return false;
        }
        let n = match data {
            [one] => self.sock.send_record(one),
            _ => {
                // Pieces of the send buffer: gathered in a reused buffer (no allocation
                // once it has grown to a mapping's size).
                self.flat.clear();
                for d in data {
                    self.flat.extend_from_slice(d);
                }
                self.sock.send_record(&self.flat)
            }
        };
        debug_assert_eq!(n, len);
        self.tx_end = dsn + len as u64;
        true
    }

    /// Signals our DATA_FIN at `dsn` on this subflow (repeated until DATA_ACKed).
    pub fn send_data_fin(&mut self, dsn: DataSeq) {
        self.data_fin = Some(dsn);
        self.sock.request_ack();
    }

    /// Asks for an ACK now (a DATA_ACK or window update).
    pub fn request_ack(&mut self) {
        self.sock.request_ack();
    }

    /// Queues an ADD_ADDR (or its echo).
    pub fn send_add_addr(&mut self, a: AddAddr) {
        self.pending.add_addr = Some(a);
        self.sock.request_ack();
    }

    /// Queues a REMOVE_ADDR of our address `id` (RFC 8684 §3.4.2).
    pub fn send_rm_addr(&mut self, id: u8) {
        self.pending.rm_addr = Some(id);
        self.sock.request_ack();
    }

    /// Queues an MP_PRIO (RFC 8684 §3.3.8) and records our backup wish.
    pub fn send_mp_prio(&mut self, backup: bool) {
        self.backup_local = backup;
        self.pending.mp_prio = Some(MpPrio {
            backup,
            addr_id: None,
        });
        self.sock.request_ack();
    }

    /// MP_FASTCLOSE, RST form (RFC 8684 §3.5): a RST carrying the peer's key.
    pub fn fastclose(&mut self, remote_key: u64) {
        self.pending.fastclose = Some(remote_key);
        self.sock.abort();
        self.hs = Hs::Dead;
    }

    /// MP_FASTCLOSE, ACK form (RFC 8684 §3.5): an ACK carrying the peer's key. The peer
    /// answers with a RST on every subflow; if this subflow's RST has not come within
    /// two RTOs of the ACK leaving, the RST form follows.
    pub fn fastclose_ack(&mut self, remote_key: u64) {
        self.pending.fastclose = Some(remote_key);
        self.fastclose_ack = Some((remote_key, None));
        self.sock.request_ack();
    }

    /// When a pending MP_FASTCLOSE in ACK form gives up waiting for the peer's RST.
    fn fastclose_deadline(&self) -> Option<Instant> {
        match self.fastclose_ack {
            Some((_, at)) if self.sock.state() != State::Closed => at,
            _ => None,
        }
    }

    /// Resets this subflow with an MP_TCPRST reason.
    pub fn reset(&mut self, reason: u8) {
        self.pending.tcprst = Some(MpTcprst { flags: 0, reason });
        self.mib.inc(Mib::MPRstTx);
        self.sock.abort();
        self.hs = Hs::Dead;
    }

    /// Whether the connection has something to collect (data, events, counters).
    pub fn has_output(&self) -> bool {
        !self.rx_out.is_empty()
            || !self.events.is_empty()
            || self.mib.iter_nonzero().next().is_some()
    }

    /// The next received `(DSN, bytes)` piece.
    pub fn poll_rx(&mut self) -> Option<(DataSeq, Bytes)> {
        self.rx_out.pop_front()
    }

    /// The next event for the connection.
    pub fn poll_event(&mut self) -> Option<SubflowEvent> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------------ internals

    /// Closes the socket without sending anything (the peer reset the connection).
    fn close_silently(&mut self, now: Instant) {
        self.sock.abort();
        let mut none = [0u8; 0];
        while self.sock.poll_transmit(now, &mut none).is_some() {}
    }

    fn setup_data(&mut self, snd: DataSeq, rcv: DataSeq) {
        self.tx = Some(TxMappings::new(self.sock.iss(), self.csum));
        // Mappings of out-of-order data wait until the hole is filled: room for one per
        // segment of a full receive window (a mapping dropped here would make its bytes
        // unmapped, a reset for a join).
        let max_pending = self.sock.recv_capacity() / 512 + 64;
        self.rx = Some(RxMapper::with_max_pending(
            self.sock.irs(),
            self.csum,
            max_pending,
        ));
        self.tx_end = snd;
        self.rx_end = rcv;
    }

    /// Becomes plain TCP: bytes map one to one from here (RFC 8684 §3.7).
    fn enter_fallback(&mut self, cause: Option<FallbackCause>) {
        if matches!(self.hs, Hs::Plain) {
            return;
        }
        self.hs = Hs::Plain;
        if let Some(sh) = &self.shared {
            sh.set_flags(conn_flags::FALLBACK);
            if let Some((d, held)) = self.rx.as_mut().and_then(RxMapper::take_held) {
                self.rx_end = d + held.len() as u64;
                self.rx_out.push_back((d, Bytes::from(held)));
            }
            let at = self.rx_end.max(sh.ack_seq());
            if let Some(rx) = self.rx.as_mut() {
                rx.enter_fallback(at);
            }
        }
        self.events.push_back(SubflowEvent::Fallback(cause));
    }

    fn after_handshake_plain(&mut self, cause: Option<FallbackCause>) {
        // Plain TCP from the handshake: a private DSN space starting at 0.
        if self.tx.is_none() && self.sock.state().is_synchronized() {
            let sh = Arc::new(SharedData::new(
                DataSeq(0),
                DataSeq(0),
                self.sock.recv_capacity() as u64,
            ));
            sh.set_flags(conn_flags::FALLBACK);
            sh.handle_data_ack(DataSeq(0), u32::MAX as u64);
            self.shared = Some(sh);
            self.csum = false;
            self.setup_data(DataSeq(0), DataSeq(0));
            if let Some(rx) = self.rx.as_mut() {
                rx.enter_fallback(DataSeq(0));
            }
            self.events.push_back(SubflowEvent::Fallback(cause));
        }
    }

    fn establish_mpc(&mut self, mpc: MpcEstablished) {
        self.mpc = Some(mpc);
        self.csum = mpc.checksum;
        self.local_key = Some(mpc.local.key);
        let sh = Arc::new(SharedData::new(
            mpc.first_send_dsn(),
            mpc.first_recv_dsn(),
            self.sock.recv_capacity() as u64,
        ));
        if mpc.checksum {
            sh.set_flags(conn_flags::CSUM_ENABLED);
        }
        // The implicit DATA_ACK of MP_CAPABLE opens the peer's window.
        sh.handle_data_ack(mpc.first_send_dsn(), 64 * 1024);
        self.shared = Some(sh.clone());
        // The client learns we have its key from our first DATA_ACK: send one now.
        self.sock.request_ack();
        self.setup_data(mpc.first_send_dsn(), mpc.first_recv_dsn());
        self.events
            .push_back(SubflowEvent::MpcEstablished { mpc, shared: sh });
    }

    fn establish_join(&mut self, v: VerifiedJoin<ConnId>) {
        self.local_key = Some(v.keys().local_key);
        self.local_id = v.local_id();
        self.remote_id = v.remote_id();
        self.backup_local = v.local_backup();
        self.backup_remote = v.remote_backup();
        self.hs = Hs::Active;
        let sh = self.shared.clone();
        if let Some(sh) = sh {
            self.setup_data(sh.snd_nxt(), sh.ack_seq());
        }
        // The peer waits for the ACK of its third ACK (RFC 8684 §3.2).
        self.sock.request_ack();
        self.events.push_back(SubflowEvent::JoinEstablished {
            local_id: self.local_id,
            remote_id: self.remote_id,
            backup: self.backup_local || self.backup_remote,
        });
    }

    fn refuse(&mut self, r: JoinRefusal) {
        self.pending.tcprst = Some(r.tcprst());
        self.mib.inc(Mib::MPRstTx);
        // The RST leaves at the next poll_transmit: until then the connection layer
        // sees the subflow (and counts what happened) like any other.
        self.abort_at_tx = true;
        self.hs = Hs::Dead;
        self.events.push_back(SubflowEvent::JoinRefused(r));
    }

    /// Handshake progress after the socket processed `seg`.
    fn handshake(&mut self, seg: &TcpRepr<'_>) {
        let opts = seg.mptcp.as_slice();
        let synack = has_flag(seg, TcpFlags::SYN) && seg.ack_number.is_some();
        let plain_ack = !has_flag(seg, TcpFlags::SYN) && seg.ack_number.is_some();
        // The handshake steps record keys in a token table; the real one belongs to the
        // endpoint (it learns them from this subflow's events), so these steps get an
        // empty stand-in (made only on the two segments that need it).
        self.hs = match core::mem::replace(&mut self.hs, Hs::Dead) {
            Hs::MpcSynSent(s) if synack && self.sock.state().is_synchronized() => {
                match s.handle_synack(opts, &mut TokenTable::<ConnId>::new(), &mut self.mib) {
                    SynAckOutcome::Established(a) => {
                        let mpc = *a.established();
                        self.establish_mpc(mpc);
                        Hs::MpcAckSent(a)
                    }
                    SynAckOutcome::Fallback(f) => {
                        self.hs = Hs::Dead;
                        self.after_handshake_plain(Some(f.cause));
                        Hs::Plain
                    }
                }
            }
            Hs::MpcAckSent(a) if plain_ack => {
                match a.handle_segment(opts, seg.payload.len(), &mut self.mib) {
                    ClientProgress::FullyEstablished(_) => {
                        self.events.push_back(SubflowEvent::FullyEstablished);
                        Hs::Active
                    }
                    ClientProgress::Waiting(a) => Hs::MpcAckSent(a),
                    ClientProgress::Fallback(f) => {
                        self.hs = Hs::Active;
                        self.enter_fallback(Some(f.cause));
                        Hs::Plain
                    }
                }
            }
            Hs::MpcSynRcvd(s) if plain_ack && self.sock.state().is_synchronized() => {
                match s.handle_ack(opts, &mut TokenTable::<ConnId>::new(), &mut self.mib) {
                    ServerAckOutcome::Established { mpc, first_data } => {
                        self.establish_mpc(mpc);
                        if let (Some(fd), Some(rx)) = (first_data, self.rx.as_mut()) {
                            let map = mp_capable_mapping(mpc.remote.idsn, fd.data_len, fd.checksum);
                            let at = self.sock.irs() + 1;
                            let _ = rx.handle_dss(
                                at,
                                seg.payload.len(),
                                &map,
                                false,
                                mpc.first_recv_dsn(),
                            );
                        }
                        Hs::Active
                    }
                    ServerAckOutcome::Fallback(f) => {
                        self.hs = Hs::Dead;
                        self.after_handshake_plain(Some(f.cause));
                        Hs::Plain
                    }
                    ServerAckOutcome::Reset(rst) => {
                        self.pending.tcprst = Some(rst);
                        self.mib.inc(Mib::MPRstTx);
                        self.sock.abort();
                        self.events.push_back(SubflowEvent::MpcReset);
                        Hs::Dead
                    }
                }
            }
            Hs::JoinSynSent(j) if synack => match j.handle_synack(opts, &mut self.mib) {
                Ok(a) => {
                    let (rid, rb) = a.remote_id();
                    self.remote_id = rid;
                    self.backup_remote = rb;
                    // The third ACK carries the HMAC; ask the socket to send it.
                    self.sock.request_ack();
                    Hs::JoinAckSent(a)
                }
                Err(r) => {
                    self.refuse(r);
                    Hs::Dead
                }
            },
            Hs::JoinAckSent(a) if plain_ack => {
                // RFC 8684 §3.2: usable once the third ACK is acknowledged.
                self.establish_join(a.handle_ack());
                Hs::Active
            }
            Hs::JoinSynRcvd(j, accept) if plain_ack && self.sock.state().is_synchronized() => {
                match j.handle_ack(opts, accept, &mut self.mib) {
                    Ok(v) => {
                        self.establish_join(v);
                        Hs::Active
                    }
                    Err(r) => {
                        self.refuse(r);
                        Hs::Dead
                    }
                }
            }
            Hs::Plain => {
                self.after_handshake_plain(None);
                Hs::Plain
            }
            other => other,
        };
    }

    /// The MPTCP options of an established subflow's segment.
    fn data_options(&mut self, seg: &TcpRepr<'_>) {
        let Some(sh) = self.shared.clone() else {
            return;
        };
        let (snd_shift, _) = self.sock.window_shifts();
        let wnd = u64::from(seg.window_len) << snd_shift;
        let payload_seq = if has_flag(seg, TcpFlags::SYN) {
            seg.seq_number + 1
        } else {
            seg.seq_number
        };
        let mut saw_dss = false;
        for o in seg.mptcp.iter() {
            match o {
                MptcpOption::Dss(d) => {
                    saw_dss = true;
                    if let Some(a) = d.data_ack {
                        let ack = if a.wide {
                            DataSeq(a.value)
                        } else {
                            DataSeq::expand(a.value as u32, sh.snd_una())
                        };
                        let edge = sh.snd_wnd_end();
                        let up = sh.handle_data_ack(ack, wnd);
                        if up.advanced || up.snd_wnd_end > edge {
                            // The connection may release data and send more.
                            self.events.push_back(SubflowEvent::Progress);
                        }
                    }
                    if let (Some(m), Some(rx)) = (d.mapping, self.rx.as_mut()) {
                        match rx.handle_dss(
                            payload_seq,
                            seg.payload.len(),
                            &m,
                            d.data_fin,
                            sh.ack_seq(),
                        ) {
                            Ok(DssEvent::DataFin(at)) => {
                                self.events.push_back(SubflowEvent::DataFin(at))
                            }
                            Ok(DssEvent::InfiniteMapping) => {
                                self.mib.inc(Mib::InfiniteMapRx);
                                self.enter_fallback(None);
                                return;
                            }
                            Ok(DssEvent::None) => {}
                            Err(e) => self.mapping_failure(e),
                        }
                    }
                }
                // RFC 8684 §3.1: the first data may carry MP_CAPABLE with its mapping
                // (when the pure third ACK came first, the connection is established
                // already and this is a mapping like a DSS).
                MptcpOption::MpCapable(m) => {
                    if let (Some(len), Some(mpc), Some(rx)) =
                        (m.data_len, self.mpc, self.rx.as_mut())
                    {
                        let map = mp_capable_mapping(mpc.remote.idsn, len, m.checksum);
                        saw_dss = true;
                        if let Err(e) =
                            rx.handle_dss(payload_seq, seg.payload.len(), &map, false, sh.ack_seq())
                        {
                            self.mapping_failure(e);
                        }
                    }
                }
                MptcpOption::AddAddr(a) => {
                    if a.echo {
                        self.mib.inc(Mib::EchoAdd);
                        self.events.push_back(SubflowEvent::AddAddrEcho(a.addr_id));
                    } else {
                        self.mib.inc(Mib::AddAddr);
                        self.events.push_back(SubflowEvent::AddAddr(*a));
                    }
                }
                MptcpOption::RemoveAddr(r) => {
                    self.mib.inc(Mib::RmAddr);
                    let mut ids = [0u8; 8];
                    let n = r.addr_ids.len().min(8);
                    ids[..n].copy_from_slice(&r.addr_ids[..n]);
                    self.events.push_back(SubflowEvent::RemoveAddr(ids, n));
                }
                MptcpOption::MpPrio(p) => {
                    self.mib.inc(Mib::MPPrioRx);
                    self.backup_remote = p.backup;
                    self.events.push_back(SubflowEvent::MpPrio(*p));
                }
                MptcpOption::MpFail(f) => {
                    self.mib.inc(Mib::MPFailRx);
                    self.events.push_back(SubflowEvent::MpFail(f.dsn));
                    // RFC 8684 §3.7: with a single subflow the sender falls back too
                    // (its data continues unmapped, as an infinite mapping).
                    if self.allow_fallback && matches!(self.hs, Hs::Active) {
                        self.infinite_pending = true;
                        self.enter_fallback(None);
                    }
                }
                _ => {}
            }
        }
        // RFC 8684 §3.7: subflow-level ACKs that advance while no DSS ever comes back
        // mean a middlebox strips the options: fall back (single subflow only).
        let una = self.sock.snd_una();
        let data_acked = una > self.last_una && self.last_una != self.sock.iss();
        if !saw_dss
            && seg.mptcp.is_empty()
            && data_acked
            && self.allow_fallback
            && matches!(self.hs, Hs::Active)
        {
            self.enter_fallback(Some(FallbackCause::DataWithoutDss));
        }
    }

    fn mapping_failure(&mut self, e: super::mapping::MappingError) {
        use super::mapping::MappingError as E;
        let counter = match e {
            E::BadChecksum { .. } => Some(Mib::DataCsumErr),
            E::DssNoMatch => Some(Mib::DSSNotMatching),
            E::DssTcpMismatch => Some(Mib::DSSNoMatchTCP),
            _ => None,
        };
        if let Some(m) = counter {
            self.mib.inc(m);
        }
        let valid = self.rx.as_ref().is_some_and(RxMapper::valid_csum_seen);
        match e.action(self.allow_fallback, self.join, valid) {
            FailAction::Fallback => {
                self.mib.inc(Mib::DssFallback);
                self.enter_fallback(Some(FallbackCause::DataWithoutDss));
            }
            FailAction::MpFail { dsn } => {
                // RFC 8684 §3.7: MP_FAIL, then the subflow continues as plain TCP; with
                // a single subflow the data is passed on as is (Linux does the same).
                self.pending.mp_fail = Some(dsn.0);
                self.mib.inc(Mib::MPFailTx);
                self.mib.inc(Mib::DSSCorruptionFallback);
                if let Some((d, bytes)) = self.rx.as_mut().and_then(RxMapper::take_failed) {
                    self.rx_end = d + bytes.len() as u64;
                    self.rx_out.push_back((d, Bytes::from(bytes)));
                }
                self.enter_fallback(None);
            }
            FailAction::Reset { reason, mp_fail } => {
                if let Some(rx) = self.rx.as_mut() {
                    rx.take_failed();
                }
                if matches!(e, super::mapping::MappingError::BadChecksum { .. }) {
                    self.mib.inc(Mib::DSSCorruptionReset);
                }
                if let Some(d) = mp_fail {
                    self.pending.mp_fail = Some(d.0);
                    self.mib.inc(Mib::MPFailTx);
                }
                self.reset(reason);
                self.events.push_back(SubflowEvent::LocalReset(reason));
            }
        }
    }

    /// Reads the socket's in-order bytes through the mapper.
    fn drain(&mut self) {
        loop {
            if self.rx.is_none() {
                return;
            }
            let n = self.sock.recv(&mut self.scratch);
            if n == 0 {
                break;
            }
            let Some(rx) = self.rx.as_mut() else { return };
            let before = rx.read_seq();
            let out = &mut self.rx_out;
            let end = &mut self.rx_end;
            let arena = &mut self.arena;
            let r = rx.handle_data(&self.scratch[..n], |dsn, b| {
                *end = dsn + b.len() as u64;
                out.push_back((dsn, carve(arena, b)));
            });
            if let Err(e) = r {
                let used = rx.read_seq() - before;
                // Copy to release the borrow of scratch before mutating self.
                let rest = self.scratch.get(used..n).unwrap_or(&[]).to_vec();
                self.mapping_failure(e);
                if !matches!(self.hs, Hs::Plain) {
                    return;
                }
                // Fallen back: the rest maps one to one.
                let Some(rx) = self.rx.as_mut() else { return };
                let out = &mut self.rx_out;
                let end = &mut self.rx_end;
                let arena = &mut self.arena;
                let _ = rx.handle_data(&rest, |dsn, b| {
                    *end = dsn + b.len() as u64;
                    out.push_back((dsn, carve(arena, b)));
                });
            }
        }
        // Plain TCP: the peer's FIN is the DATA_FIN.
        if matches!(self.hs, Hs::Plain) && self.sock.recv_finished() {
            if let Some(sh) = &self.shared {
                if sh.rcv_data_fin_seq().is_none() {
                    let at = self.rx_end.max(sh.ack_seq());
                    self.events.push_back(SubflowEvent::DataFin(at));
                }
            }
        }
    }

    /// Plain TCP: a full TCP ACK is the DATA_ACK.
    fn fallback_ack(&mut self) {
        let (Some(sh), Some(tx)) = (self.shared.as_ref(), self.tx.as_ref()) else {
            return;
        };
        let una = self.sock.snd_una();
        let dack = match tx.mapping_at(una) {
            Some(m) => m.dsn + (una - m.ssn) as u64,
            None => self.tx_end,
        };
        let mut dack = dack;
        // Our FIN acknowledged = our DATA_FIN acknowledged.
        if let Some(f) = self.data_fin {
            if matches!(
                self.sock.state(),
                State::FinWait2 | State::TimeWait | State::Closed | State::Closing
            ) && dack == f
                && self.sock.send_queue() == 0
            {
                dack = f + 1;
            }
        }
        sh.handle_data_ack(dack, u64::from(u32::MAX));
    }

    fn progress_events(&mut self) {
        let una = self.sock.snd_una();
        if una > self.last_una {
            self.last_una = una;
            self.events.push_back(SubflowEvent::Progress);
        }
        if let Some(tx) = self.tx.as_mut() {
            tx.release(una);
        }
    }
}

impl Transport for Subflow {
    fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let opts = seg.mptcp.as_slice();
        // RFC 8684 §3.5: an MP_FASTCLOSE carrying our key closes the connection, on a
        // RST (whatever its sequence number: the key authenticates it) or an ACK.
        let fastclose = self.local_key.is_some_and(|k| {
            opts.iter()
                .any(|o| matches!(o, MptcpOption::MpFastclose(f) if f.receiver_key == k))
        });
        if fastclose {
            self.mib.inc(Mib::MPFastcloseRx);
            self.events.push_back(SubflowEvent::FastClose);
            self.hs = Hs::Dead;
            self.close_silently(now);
            return;
        }
        if has_flag(seg, TcpFlags::RST) {
            let rst = super::handshake::peer_reset_reason(opts);
            let before = self.sock.state();
            self.sock.handle_segment(now, seg);
            if self.sock.state() == State::Closed && before != State::Closed {
                if rst.is_some() {
                    self.mib.inc(Mib::MPRstRx);
                }
                self.events.push_back(SubflowEvent::Reset(rst));
            }
            return;
        }
        self.sock.handle_segment(now, seg);
        self.handshake(seg);
        match self.hs {
            Hs::Active | Hs::MpcAckSent(_) => self.data_options(seg),
            Hs::Plain => {
                // Already plain TCP: the peer's infinite mapping confirms it.
                let infinite = opts.iter().any(|o| {
                    matches!(o, MptcpOption::Dss(d) if d.mapping.is_some_and(|m| m.data_len == 0))
                });
                if infinite {
                    self.mib.inc(Mib::InfiniteMapRx);
                }
            }
            _ => {}
        }
        self.drain();
        if matches!(self.hs, Hs::Plain) {
            self.fallback_ack();
        }
        self.progress_events();
    }

    fn poll_transmit<'b>(&mut self, now: Instant, scratch: &'b mut [u8]) -> Option<TcpRepr<'b>> {
        if self.refuse_syn {
            self.refuse_syn = false;
            let irs = self.sock.irs();
            let mut r = TcpRepr {
                src_port: self.sock.local_port(),
                dst_port: self.sock.remote_port(),
                flags: TcpFlags::RST | TcpFlags::ACK,
                seq_number: SubflowSeq(0),
                ack_number: Some(irs + 1),
                ..TcpRepr::default()
            };
            if let Some(rst) = self.pending.tcprst.take() {
                let _ = r.mptcp.push(MptcpOption::MpTcprst(rst));
                self.mib.inc(Mib::MPRstTx);
            }
            // Close the socket without its own RST.
            self.sock.abort();
            while self.sock.poll_transmit(now, &mut []).is_some() {}
            return Some(r);
        }
        if self.abort_at_tx {
            self.abort_at_tx = false;
            self.sock.abort();
        }
        let mut r = self.sock.poll_transmit(now, scratch)?;
        if r.flags.contains(TcpFlags::RST) {
            if let Some(k) = self.pending.fastclose.take() {
                let _ = r
                    .mptcp
                    .push(MptcpOption::MpFastclose(MpFastclose { receiver_key: k }));
            }
            if let Some(rst) = self.pending.tcprst.take() {
                let _ = r.mptcp.push(MptcpOption::MpTcprst(rst));
            }
            if let Some(d) = self.pending.mp_fail.take() {
                let _ = r.mptcp.push(MptcpOption::MpFail(MpFail { dsn: d }));
            }
            r.fit_option_space();
            return Some(r);
        }
        let syn = r.flags.contains(TcpFlags::SYN);
        match &self.hs {
            Hs::MpcSynSent(s) if syn => {
                let _ = r.mptcp.push(s.syn_option());
            }
            Hs::MpcSynRcvd(s) if syn => {
                let _ = r.mptcp.push(s.synack_option());
            }
            Hs::JoinSynSent(j) if syn => {
                let _ = r.mptcp.push(j.syn_option());
            }
            Hs::JoinSynRcvd(j, _) if syn => {
                let _ = r.mptcp.push(j.synack_option());
            }
            Hs::JoinAckSent(a) => {
                let _ = r.mptcp.push(a.ack_option());
            }
            Hs::MpcAckSent(a) => {
                let first = self
                    .tx
                    .as_ref()
                    .and_then(|t| t.mapping_at(r.seq_number))
                    .copied();
                match first {
                    Some(m) if !r.payload.is_empty() && m.ssn == self.sock.iss() + 1 => {
                        // RFC 8684 §3.1: the first data carries MP_CAPABLE with the
                        // data-level length of its mapping.
                        if let MptcpOption::MpCapable(mut c) = a.ack_option() {
                            c.data_len = Some(m.data_len());
                            c.checksum = m.csum;
                            let _ = r.mptcp.push(MptcpOption::MpCapable(c));
                        }
                    }
                    Some(_) if !r.payload.is_empty() => self.push_dss(&mut r),
                    _ => {
                        let _ = r.mptcp.push(a.ack_option());
                    }
                }
                self.set_window(&mut r);
            }
            Hs::Active => {
                self.push_dss(&mut r);
                self.push_pending(&mut r);
                self.set_window(&mut r);
                if let Some((k, None)) = self.fastclose_ack {
                    if self.pending.fastclose.is_none() {
                        let wait = self.sock.rtt().rto() * 2;
                        self.fastclose_ack = Some((k, Some(now + wait)));
                    }
                }
                // Our DATA_FIN rides on a pure ACK (push_dss). A DATA_FIN queued while
                // data was still waiting in the socket had its ACK request used up by
                // that data: once the last queued byte leaves, ask for the pure ACK
                // that carries it (else nothing would, as the peer may send nothing).
                if self.data_fin.is_some()
                    && !r.payload.is_empty()
                    && r.seq_number + r.payload.len() == self.sock.write_seq()
                {
                    self.sock.request_ack();
                }
            }
            Hs::Plain => {
                if let Some(d) = self.pending.mp_fail.take() {
                    let _ = r.mptcp.push(MptcpOption::MpFail(MpFail { dsn: d }));
                }
                // RFC 8684 §3.7: after MP_FAIL, the next data segment carries the
                // infinite mapping (data-level length 0) at its DSN; the checksum field,
                // when checksums are on, is zero.
                if self.infinite_pending && !r.payload.is_empty() {
                    let seq = r.seq_number;
                    let dsn = self
                        .tx
                        .as_ref()
                        .and_then(|t| t.mapping_at(seq))
                        .map(|m| m.dsn + (seq - m.ssn) as u64);
                    if let Some(dsn) = dsn {
                        self.infinite_pending = false;
                        self.mib.inc(Mib::InfiniteMapTx);
                        let _ = r.mptcp.push(MptcpOption::Dss(Dss {
                            data_fin: false,
                            data_ack: None,
                            mapping: Some(crate::wire::mptcp::DssMapping {
                                dsn: DssSeq {
                                    value: dsn.0,
                                    wide: true,
                                },
                                ssn: (seq - self.sock.iss()) as u32,
                                data_len: 0,
                                checksum: self.csum.then_some(0),
                            }),
                        }));
                    }
                }
                // Plain TCP: our DATA_FIN is the TCP FIN.
            }
            _ => {}
        }
        r.fit_option_space();
        Some(r)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.sock.poll_timeout(), self.fastclose_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        // RFC 8684 §3.5: no RST answered our MP_FASTCLOSE ACK in time: the RST form.
        if self.fastclose_deadline().is_some_and(|t| t <= now) {
            if let Some((k, _)) = self.fastclose_ack.take() {
                self.fastclose(k);
            }
        }
        // Data outstanding (after an RTO everything is marked lost and the pipe is
        // empty, so the flight size, not the pipe).
        let had = self.sock.snd_nxt() != self.sock.snd_una();
        let syn_sent = matches!(self.hs, Hs::MpcSynSent(_));
        let b0 = self.sock.rtt().backoff();
        self.sock.handle_timeout(now);
        let b1 = self.sock.rtt().backoff();
        if b1 > b0 && had {
            self.events.push_back(SubflowEvent::Rto);
        }
        if syn_sent && b1 > b0 && self.sock.state() == State::SynSent {
            // The MP_CAPABLE SYN was lost: after the configured number, retry without
            // MPTCP (Linux mptcp_active_detect_blackhole).
            if let Hs::MpcSynSent(s) = core::mem::replace(&mut self.hs, Hs::Dead) {
                self.hs = match s.handle_syn_timeout(&mut self.mib) {
                    super::handshake::SynTimeout::Retransmit(s) => Hs::MpcSynSent(s),
                    super::handshake::SynTimeout::Fallback(f) => {
                        self.events.push_back(SubflowEvent::Fallback(Some(f.cause)));
                        Hs::Plain
                    }
                };
            }
        }
    }

    fn state(&self) -> State {
        self.sock.state()
    }
    fn error(&self) -> Option<TcpError> {
        self.sock.error()
    }
    fn snd_nxt(&self) -> SubflowSeq {
        self.sock.snd_nxt()
    }
    fn rcv_nxt(&self) -> SubflowSeq {
        self.sock.rcv_nxt()
    }
    /// The application API goes through the connection; a subflow takes no raw bytes.
    fn send(&mut self, _data: &[u8]) -> usize {
        0
    }
    fn recv(&mut self, _buf: &mut [u8]) -> usize {
        0
    }
    fn can_send(&self) -> bool {
        self.send_space() > 0
    }
    /// The connection has something to collect: the stack reports it as
    /// `Event::Readable`, which is how the endpoint learns which subflows to service.
    fn can_recv(&self) -> bool {
        self.has_output()
    }
    fn recv_finished(&self) -> bool {
        false
    }
    fn shutdown(&mut self) {
        self.sock.close();
    }
    fn release(&mut self, now: Instant) {
        self.sock.release(now);
    }
    fn abort(&mut self) {
        self.sock.abort();
    }
}

impl Subflow {
    fn push_dss(&mut self, r: &mut TcpRepr<'_>) {
        let (Some(sh), Some(tx)) = (self.shared.as_ref(), self.tx.as_ref()) else {
            return;
        };
        let ack = Some(sh.ack_seq());
        let end = r.seq_number + r.payload.len();
        let retransmission = r.seq_number < self.sent_hi;
        if end > self.sent_hi {
            self.sent_hi = end;
        }
        // SACK blocks share the 40 bytes with timestamps and the DSS. When the socket
        // has some to send, the DSS shrinks so that two fit: a 4-byte DATA_ACK (RFC 8684
        // §3.3.2 allows it) and, on a data segment that neither starts its mapping nor
        // is a retransmission, no mapping (the receiver knows it from the segment that
        // starts it, or from that segment's retransmission).
        // An ADD_ADDR (16 bytes with its HMAC) needs the same room.
        let sack = r.sack_ranges[0].is_some() || self.pending.add_addr.is_some();
        let mapping_start = tx
            .mapping_at(r.seq_number)
            .is_some_and(|m| m.ssn == r.seq_number);
        let mut dss = if r.payload.is_empty() || (sack && !mapping_start && !retransmission) {
            Dss {
                data_fin: false,
                data_ack: ack.map(|a| DssSeq {
                    value: if sack { u64::from(a.low32()) } else { a.0 },
                    wide: !sack,
                }),
                mapping: None,
            }
        } else {
            tx.dss(r.seq_number, ack, true)
        };
        if r.payload.is_empty() {
            if let Some(f) = self.data_fin {
                if sh.snd_una() <= f {
                    dss.data_fin = true;
                    dss.mapping = Some(TxMappings::data_fin_only(f, self.csum));
                }
            }
        }
        let _ = r.mptcp.push(MptcpOption::Dss(dss));
    }

    fn push_pending(&mut self, r: &mut TcpRepr<'_>) {
        // ADD_ADDR goes on a segment whose DSS carries no mapping (a pure ACK, or a
        // mid-mapping segment): next to a mapping and timestamps it would not fit.
        let small_dss = r.mptcp.iter().all(|o| match o {
            MptcpOption::Dss(d) => d.mapping.is_none(),
            _ => true,
        });
        if let Some(a) = self.pending.add_addr.filter(|_| small_dss) {
            self.pending.add_addr = None;
            let _ = r.mptcp.push(MptcpOption::AddAddr(a));
            self.mib.inc(if a.echo {
                Mib::EchoAddTx
            } else {
                Mib::AddAddrTx
            });
        }
        if let Some(p) = self.pending.mp_prio.take() {
            let _ = r.mptcp.push(MptcpOption::MpPrio(p));
            self.mib.inc(Mib::MPPrioTx);
        }
        if let Some(id) = self.pending.rm_addr.take() {
            let i = usize::from(id);
            let _ = r.mptcp.push(MptcpOption::RemoveAddr(RemoveAddr {
                addr_ids: &ADDR_IDS[i..i + 1],
            }));
            self.mib.inc(Mib::RmAddrTx);
        }
        if let Some(d) = self.pending.mp_fail.take() {
            let _ = r.mptcp.push(MptcpOption::MpFail(MpFail { dsn: d }));
        }
        // The ACK form (the endpoint counts MPFastcloseTx once per connection).
        if let Some(k) = self.pending.fastclose.take() {
            let _ = r
                .mptcp
                .push(MptcpOption::MpFastclose(MpFastclose { receiver_key: k }));
        }
    }

    /// RFC 8684 §3.3.4: the TCP window field carries the data-level receive window.
    fn set_window(&self, r: &mut TcpRepr<'_>) {
        let Some(sh) = self.shared.as_ref() else {
            return;
        };
        let (_, shift) = self.sock.window_shifts();
        // Never more than the socket itself offers: it trims what arrives beyond the
        // window it believes it advertised.
        let w = (sh.rcv_wnd() >> shift).min(u64::from(r.window_len));
        r.window_len = w as u16;
    }
}
