//! The [`Opener`] of an MPTCP host: MP_CAPABLE and MP_JOIN SYNs at a listener, with
//! the token table; subflow sockets with room for the DSS.

use core::net::Ipv4Addr;
use std::collections::HashMap;
use std::sync::Arc;

use crate::mptcp::handshake::{
    HandshakeConfig, JoinLocal, JoinRefusal, JoinSynReceived, MpcSynReceived, SynOutcome,
};
use crate::mptcp::mib::{Mib, MibCounters};
use crate::mptcp::shared::SharedData;
use crate::mptcp::subflow::{ConnId, Subflow};
use crate::mptcp::token::TokenTable;
use crate::seq::SubflowSeq;
use crate::stack::{FourTuple, OpenError, Opener};
use crate::tcp::socket::{State, TcpSocket};
use crate::tcp::TcpConfig;
use crate::time::Instant;
use crate::wire::tcp::TcpRepr;

/// MSS reduction of MPTCP subflows (the largest DSS on a data segment).
const MPTCP_OPTION_ROOM: u16 = 32;

/// What the opener knows about a connection for joins at a listener.
#[derive(Debug, Clone)]
pub(super) struct JoinInfo {
    pub(super) shared: Option<Arc<SharedData>>,
    pub(super) csum: bool,
    /// Joins accepted so far.
    pub(super) joins: u8,
}

/// The [`Opener`] of an MPTCP host: makes [`Subflow`]s, answers MP_CAPABLE and MP_JOIN
/// SYNs at listeners with the token table.
#[derive(Debug)]
pub struct MptcpOpener {
    pub(super) tcp: TcpConfig,
    pub(super) hs: HandshakeConfig,
    /// Tokens of our connections.
    pub tokens: TokenTable<ConnId>,
    /// Handshake counters not tied to a connection (refused joins, listener side).
    pub mib: MibCounters,
    pub(super) rng: u64,
    pub(super) next_conn: ConnId,
    pub(super) joins: HashMap<ConnId, JoinInfo>,
    /// Additional subflows per connection (`ip mptcp limits subflows`).
    pub(super) max_joins: u8,
    /// Our address IDs (0 for addresses that are no endpoint).
    pub(super) addr_ids: HashMap<Ipv4Addr, (u8, bool)>,
}

impl MptcpOpener {
    pub(super) fn new(tcp: TcpConfig, hs: HandshakeConfig, seed: u64) -> Self {
        MptcpOpener {
            tcp,
            hs,
            tokens: TokenTable::new(),
            mib: MibCounters::new(),
            rng: seed | 1,
            next_conn: 1,
            joins: HashMap::new(),
            max_joins: 2,
            addr_ids: HashMap::new(),
        }
    }

    pub(super) fn next_rand(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn new_conn_id(&mut self) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        id
    }

    pub(super) fn sock(&self, iss: SubflowSeq, ts: u32) -> Result<TcpSocket, OpenError> {
        Ok(TcpSocket::new(self.tcp.clone(), iss, ts)?)
    }

    /// A socket for an MPTCP subflow: its MSS leaves room for the DSS option (DATA_ACK
    /// and mapping in 64 bits, checksum: 32 bytes), so a full segment with timestamps
    /// still fits the MTU (Linux subtracts the MPTCP option size in tcp_current_mss).
    pub(super) fn mptcp_sock(&self, iss: SubflowSeq, ts: u32) -> Result<TcpSocket, OpenError> {
        let mut cfg = self.tcp.clone();
        cfg.mss = cfg.mss.saturating_sub(MPTCP_OPTION_ROOM).max(536);
        Ok(TcpSocket::new(cfg, iss, ts)?)
    }
}

impl Opener for MptcpOpener {
    type Conn = Subflow;

    /// Plain TCP (the endpoint uses [`crate::stack::Stack::connect_with`] for MPTCP).
    fn connect(
        &mut self,
        now: Instant,
        tuple: &FourTuple,
        iss: SubflowSeq,
        ts_offset: u32,
    ) -> Result<Subflow, OpenError> {
        let mut s = self.sock(iss, ts_offset)?;
        s.connect(now, tuple.local_port, tuple.remote_port)?;
        Ok(Subflow::plain(s))
    }

    fn accept_syn(
        &mut self,
        now: Instant,
        tuple: &FourTuple,
        iss: SubflowSeq,
        ts_offset: u32,
        syn: &TcpRepr<'_>,
    ) -> Option<Subflow> {
        let mptcp = syn.mptcp.iter().any(|o| {
            matches!(
                o,
                crate::wire::mptcp::MptcpOption::MpCapable(_)
                    | crate::wire::mptcp::MptcpOption::MpJoin(_)
            )
        });
        let mut sock = if mptcp {
            self.mptcp_sock(iss, ts_offset).ok()?
        } else {
            self.sock(iss, ts_offset).ok()?
        };
        sock.listen(tuple.local_port).ok()?;
        sock.handle_segment(now, syn);
        if sock.state() != State::SynReceived {
            return None;
        }
        let opts = syn.mptcp.as_slice();
        let (addr_id, backup) = self
            .addr_ids
            .get(&tuple.local_addr)
            .copied()
            .unwrap_or((0, false));
        let nonce = self.next_rand() as u32;
        let local = JoinLocal {
            addr_id,
            backup,
            nonce,
        };
        if let Some(r) = JoinSynReceived::handle_syn(opts, &self.tokens, local, &mut self.mib) {
            return Some(match r {
                Err(refusal) => Subflow::refused(sock, refusal.tcprst()),
                Ok(j) => {
                    let conn = j.conn();
                    let max = self.max_joins;
                    match self.joins.get_mut(&conn) {
                        Some(JoinInfo {
                            shared: Some(sh),
                            csum,
                            joins,
                            ..
                        }) => {
                            // Linux mptcp_pm_allow_new_subflow: the limit is checked at
                            // the SYN, the refusal sent after the third ACK's HMAC.
                            let accept = *joins < max;
                            if accept {
                                *joins += 1;
                            }
                            Subflow::join_server(sock, j, accept, sh.clone(), *csum)
                        }
                        _ => {
                            self.mib.inc(Mib::MPJoinRejected);
                            Subflow::refused(sock, JoinRefusal::NotEstablished.tcprst())
                        }
                    }
                }
            });
        }
        let id = self.new_conn_id();
        let mut rng = {
            let mut x = self.next_rand();
            move || {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                x ^ (x >> 29)
            }
        };
        match MpcSynReceived::handle_syn(
            &self.hs,
            opts,
            &mut self.tokens,
            id,
            &mut rng,
            &mut self.mib,
        ) {
            SynOutcome::Mptcp(s) => {
                self.joins.insert(
                    id,
                    JoinInfo {
                        shared: None,
                        csum: false,
                        joins: 0,
                    },
                );
                Some(Subflow::mpc_server(sock, id, s))
            }
            SynOutcome::PlainTcp(_) => Some(Subflow::plain(sock)),
        }
    }
}
