//! Raw bindings to the system DPDK for mpdk.
//!
//! This crate will hold bindgen output over `pkg-config libdpdk` (22.11) and a small C
//! shim for DPDK's static-inline fast-path functions. It has no logic of its own.
//! The bindings arrive with the DPDK dataplane work (issue 5); until then the crate is
//! intentionally empty so that the rest of the workspace builds without DPDK.
