//! mpdk's control core and the `mpdk` console.
//!
//! | module | what it is |
//! | --- | --- |
//! | [`cli`] | the command line (`mpdk [EAL options] -- [app options]`) |
//! | [`apphost`] | [`apphost::AppHost`], the connection API the app engine drives; its TCP implementation |
//! | [`app`] | the app engine: `--mode sink|source|echo`, `--bytes`, `--count`, `--verify`, `--abort-after` |
//! | [`node`] | frame hosts for the worker: a stack plus its engine, two of them on one worker |
//! | [`json`] | the `--json` objects |
//! | [`stats`] | snapshots and the `--stats-period` lines |
//! | [`console`] | the `-i` prompt's commands and answers |
//! | `runtime` | (feature `dpdk`) EAL, ports, the worker thread, the control loop |
//! | `launch` | (feature `dpdk`) the console on the probed DPDK ports |
//! | `demo` | (feature `dpdk`) the embedded two-path demo |
//! | [`decode`] | `mpdk pcap-decode` |
#![forbid(unsafe_code)]

pub mod app;
pub mod apphost;
pub mod cli;
pub mod console;
pub mod decode;
pub mod json;
pub mod node;
pub mod stats;

#[cfg(feature = "dpdk")]
pub mod demo;
#[cfg(feature = "dpdk")]
pub mod launch;
#[cfg(feature = "dpdk")]
pub mod runtime;
