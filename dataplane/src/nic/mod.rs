//! Packet I/O backends. [`dpdk`] (feature `dpdk`) wraps real DPDK ports; the simulator
//! (`crate::sim`) is the virtual-time backend the tests use.
#[cfg(feature = "dpdk")]
pub mod dpdk;
