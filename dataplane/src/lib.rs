//! mpdk's dataplane: the sans-IO protocol core of a userspace Multipath TCP stack.
//!
//! Layering (see `docs/ARCHITECTURE.md`): [`wire`] parses and emits packets and never
//! panics on any input; [`seq`] holds the sequence-number types; [`crypto`] derives MPTCP
//! tokens, IDSNs and HMACs; [`pcap`] reads and writes captures. Nothing here reads a
//! clock or touches a socket or DPDK.
// Unsafe code is denied everywhere but in `nic::dpdk` (the DPDK wrappers), which
// allows it for itself; every block there has a `// SAFETY:` line.
#![deny(unsafe_code)]

pub mod crypto;
pub mod mptcp;
pub mod nic;
pub mod pcap;
pub mod sched;
pub mod seq;
pub mod sim;
pub mod stack;
pub mod tcp;
pub mod time;
pub mod wire;
#[cfg(feature = "dpdk")]
pub mod worker;
