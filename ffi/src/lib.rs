//! Raw bindings to the system DPDK (22.11) for mpdk: bindgen output over the headers in
//! `wrapper.h` with an allowlist, plus `shim.c`, which gives DPDK's static-inline
//! fast-path functions (rx/tx burst, mbuf alloc/free/append/data pointer, `rte_errno`,
//! TSC) a linkable symbol each (`mpdk_*`). No logic lives here; the safe wrappers are in
//! the dataplane's `dpdk` backend.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#![allow(unsafe_code, clippy::all, missing_debug_implementations)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
