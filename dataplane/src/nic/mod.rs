//! Packet I/O backends. [`dpdk`] (feature `dpdk`) wraps real DPDK ports; the simulator
//! (`crate::sim`) is the virtual-time backend the tests use.
//!
//! Both drive the same sans-IO contract, [`FrameHost`]: a host consumes and produces
//! whole Ethernet frames on numbered interfaces and asks for one timer. The simulator
//! calls it in virtual time; a DPDK worker (`crate::worker`) calls it from its poll loop
//! with TSC time.
#[cfg(feature = "dpdk")]
pub mod dpdk;

pub use crate::sim::Host as FrameHost;
