//! The data level of one MPTCP connection, as its home core keeps it: the send buffer
//! indexed by DSN, the reassembly queue, the scheduler, stale detection, the subflow
//! list and the per-connection counters. The [`super::endpoint::MptcpStack`] drives it:
//! it moves `(DSN, bytes)` from subflows into the connection's reassembly, claims DSN ranges
//! in [`SharedData`] for the subflow the scheduler picks, and runs the close order of
//! DESIGN.md §1 (DATA_FIN sent and DATA_ACKed, DATA_FIN received, then the subflows'
//! FINs).
//!
//! Nothing here is shared with the subflows except the `Arc<SharedData>` (atomics).

use core::net::Ipv4Addr;
use std::sync::Arc;

use super::handshake::MpcEstablished;
use super::mib::MibCounters;
use super::reassembly::Reassembly;
use super::sendbuf::{SendBuf, StaleDetector};
use super::shared::SharedData;
use super::subflow::ConnId;
use crate::sched::Scheduler;
use crate::stack::ConnHandle;
use crate::tcp::socket::TcpError;
use crate::time::Instant;

/// What the application asks for at `connect` (DESIGN.md §1: MPTCP is opt-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// An MPTCP connection (falls back to TCP when the peer or the path does not do it).
    Mptcp,
    /// Plain TCP.
    Tcp,
}

/// A connection of an [`super::endpoint::MptcpStack`]. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MpConn(pub ConnId);

/// The state of a connection, as the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// The initial subflow's handshake is running.
    Connecting,
    /// Data may flow (MPTCP or fallen back to TCP).
    Established,
    /// Both DATA_FINs exchanged (or reset / fast-closed); subflows are closing.
    Closed,
}

/// One subflow as the connection sees it (also what [`subflows`] lists).
///
/// [`subflows`]: super::endpoint::MptcpStack::subflows
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubflowInfo {
    /// The subflow's id within the connection (0: the initial subflow).
    pub id: u8,
    /// The stack's handle of the subflow.
    pub handle: ConnHandle,
    pub local: (Ipv4Addr, u16),
    pub remote: (Ipv4Addr, u16),
    /// Our and the peer's address IDs.
    pub local_id: u8,
    pub remote_id: u8,
    /// Used only when no regular subflow is usable (ours or the peer's wish).
    pub backup: bool,
    /// The MPTCP handshake completed and data may flow.
    pub established: bool,
    /// The subflow is closed (reset, refused, removed or finished).
    pub closed: bool,
    /// Marked stale (no progress for `stale_loss_cnt` RTOs).
    pub stale: bool,
    /// Payload bytes the connection pushed onto it.
    pub bytes_sent: u64,
    /// Payload bytes received on it (before data-level reassembly).
    pub bytes_received: u64,
}

#[derive(Debug)]
pub(crate) struct SfEntry {
    pub info: SubflowInfo,
    /// Scheduler slot in [`SharedData`].
    pub slot: Option<usize>,
}

/// One MPTCP (or plain TCP) connection's data level. See the module docs.
#[derive(Debug)]
pub struct Connection {
    pub(crate) id: ConnId,
    pub(crate) state: ConnState,
    pub(crate) proto: Proto,
    pub(crate) shared: Option<Arc<SharedData>>,
    pub(crate) mpc: Option<MpcEstablished>,
    pub(crate) sendbuf: Option<SendBuf>,
    pub(crate) reasm: Option<Reassembly>,
    pub(crate) sched: Box<dyn Scheduler>,
    pub(crate) stale: StaleDetector,
    pub(crate) subflows: Vec<SfEntry>,
    pub(crate) next_sf_id: u8,
    pub(crate) mib: MibCounters,
    pub(crate) fallback: bool,
    pub(crate) fully_established: bool,
    /// A join ever succeeded: fallback is no longer possible (Linux
    /// `allow_infinite_fallback`).
    pub(crate) joined: bool,
    pub(crate) shutdown: bool,
    pub(crate) released: bool,
    pub(crate) data_fin_sent: bool,
    pub(crate) data_fin_rtx_at: Option<Instant>,
    pub(crate) subflows_closed: bool,
    pub(crate) error: Option<TcpError>,
    pub(crate) listener: Option<u16>,
    pub(crate) remote: (Ipv4Addr, u16),
    pub(crate) local: Ipv4Addr,
    pub(crate) pm_done: bool,
    pub(crate) add_addr_accepted: u8,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) closed_reported: bool,
    pub(crate) last_wnd_edge: u64,
    pub(crate) send_cap: usize,
    pub(crate) recv_cap: usize,
    /// Listed in the endpoint's to-service list.
    pub(crate) touched: bool,
    /// Data from here on was already reinjected at the tail (see the pump).
    pub(crate) tail_mark: Option<crate::seq::DataSeq>,
    /// Data-level retransmission timer: the DATA_ACK it watches and when it fires.
    pub(crate) rtx: Option<(crate::seq::DataSeq, Instant)>,
    pub(crate) rtx_backoff: u8,
    /// The application's hint for the scheduler ([`crate::sched::SchedCtx::hint`]).
    pub(crate) sched_hint: u64,
}

impl Connection {
    pub(crate) fn new(
        id: ConnId,
        proto: Proto,
        sched: Box<dyn Scheduler>,
        stale_loss_cnt: u8,
        local: Ipv4Addr,
        remote: (Ipv4Addr, u16),
        caps: (usize, usize),
    ) -> Connection {
        Connection {
            id,
            state: ConnState::Connecting,
            proto,
            shared: None,
            mpc: None,
            sendbuf: None,
            reasm: None,
            sched,
            stale: StaleDetector::new(stale_loss_cnt),
            subflows: Vec::new(),
            next_sf_id: 0,
            mib: MibCounters::new(),
            fallback: false,
            fully_established: false,
            joined: false,
            shutdown: false,
            released: false,
            data_fin_sent: false,
            data_fin_rtx_at: None,
            subflows_closed: false,
            error: None,
            listener: None,
            remote,
            local,
            pm_done: false,
            add_addr_accepted: 0,
            readable: false,
            writable: false,
            closed_reported: false,
            last_wnd_edge: 0,
            send_cap: caps.0,
            recv_cap: caps.1,
            touched: false,
            tail_mark: None,
            sched_hint: 0,
            rtx: None,
            rtx_backoff: 0,
        }
    }

    /// The connection's id.
    pub fn id(&self) -> MpConn {
        MpConn(self.id)
    }

    /// What the application asked for.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// Creates the data level once the DSN spaces are known.
    pub(crate) fn attach(&mut self, shared: Arc<SharedData>) {
        if self.shared.is_none() {
            let snd = shared.snd_nxt();
            let rcv = shared.ack_seq();
            self.sendbuf = Some(SendBuf::new(snd, self.send_cap));
            self.reasm = Some(Reassembly::new(rcv, self.recv_cap));
            self.shared = Some(shared);
        }
    }

    pub(crate) fn add_subflow(&mut self, info: SubflowInfo) -> u8 {
        let id = self.next_sf_id;
        self.next_sf_id = self.next_sf_id.wrapping_add(1);
        self.subflows.push(SfEntry {
            info: SubflowInfo { id, ..info },
            slot: None,
        });
        id
    }

    pub(crate) fn entry_mut(&mut self, h: ConnHandle) -> Option<&mut SfEntry> {
        self.subflows.iter_mut().find(|e| e.info.handle == h)
    }

    /// Subflows not closed.
    pub(crate) fn live_subflows(&self) -> usize {
        self.subflows.iter().filter(|e| !e.info.closed).count()
    }

    /// Our DATA_FIN was DATA_ACKed.
    pub(crate) fn send_finished(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| s.flags() & super::shared::conn_flags::SND_DATA_FIN_ACKED != 0)
    }

    /// The peer's DATA_FIN arrived and everything before it was read.
    pub(crate) fn recv_finished(&self) -> bool {
        self.reasm
            .as_ref()
            .is_some_and(|r| r.is_finished() && r.readable() == 0)
    }
}
