//! MPTCP (RFC 8684): the data level above the subflows, and the handshake work that the
//! control core owns.
//!
//! Handshake side (separable from the data path, owned by the control core):
//! [`token`] (the token table), [`handshake`] (MP_CAPABLE and MP_JOIN state, HMAC checks
//! in typestate), [`pm`] (path manager: endpoints, limits, actions, events), [`mib`]
//! (counters named after Linux's `MPTcpExt*`).
//!
//! Data side (shared lock-free between the workers that own a connection's subflows):
//! [`shared`] (the atomics), [`sendbuf`] (send buffer indexed by DSN), [`mapping`]
//! (DSS mappings on receive and their validation), [`reassembly`] (data-level
//! out-of-order queue).
//!
//! Connection layer (puts the pieces together over the host stack):
//! [`subflow`] (a [`subflow::Subflow`] is one TCP subflow as a
//! [`crate::stack::Transport`]: MPTCP options in and out, handshake typestate, DSS
//! mapping of received bytes, fallback, MP_FAIL/MP_FASTCLOSE/MP_TCPRST), [`conn`] (the
//! data level of one connection: send buffer, reassembly, scheduler, stale detection,
//! subflow list, counters) and [`endpoint`] ([`endpoint::MptcpStack`]: the host with
//! its opener, connection and token tables and path manager, and the socket-like
//! application API of DESIGN.md §4, shaped like [`crate::stack::Stack`]'s).
//! `sim::mptcp_host` runs it in the simulator; `tests/mptcp_transfer.rs` proves it.

pub mod conn;
pub mod endpoint;
pub mod handshake;
pub mod mapping;
pub mod mib;
pub mod pm;
pub mod reassembly;
pub mod sendbuf;
pub mod shared;
pub mod subflow;
pub mod token;
