//! Deterministic network simulator: the main integration-test tool.
//!
//! A [`Network`] holds [`Host`]s (sans-IO endpoints exchanging raw Ethernet frames) and
//! point-to-point full-duplex links between (host, interface) pairs. Each direction of a
//! link has its own [`LinkConfig`]: propagation delay, rate with a drop-tail queue, random
//! loss, reordering, duplication, blackhole intervals, and a chain of [`Middlebox`]es
//! (see [`link`] for the order in which they apply).
//!
//! **Virtual time.** Nothing reads a clock. Pending deliveries sit in a binary heap
//! ordered by (time, sequence number), so ties are broken by the order in which they were
//! scheduled, and time jumps straight to the next delivery or host timeout: no tick.
//!
//! **Reproducible.** All randomness comes from the network seed through the simulator's
//! own [`Rng`] (see [`rng`] for why it is not `rand`). Each link direction and each kind
//! of impairment has its own stream keyed by the link index, so adding a link or enabling
//! duplication does not change which frames another link loses. The same seed and the
//! same hosts give the same trace, which [`Network::trace_hash`] summarizes.
//!
//! **Fast.** Frames are copied once into pooled buffers that are recycled after
//! delivery; the per-frame cost is a heap push and pop plus the host's own work.
//!
//! A two-path topology between a client and a server, with different delays and rates:
//!
//! ```
//! use dataplane::sim::{toy, LinkConfig, Network};
//! use dataplane::time::{Duration, Instant};
//!
//! let mut net = Network::new(42);
//! let client = net.add_host(toy::Pacer::new(0, 1500, 100, Duration::from_micros(100), Instant::ZERO));
//! let server = net.add_host(toy::Sink::echoing());
//! // Path 1: client iface 0 <-> server iface 0, 10 ms, 100 Mbit/s, 64 KiB queue.
//! let fast = LinkConfig::new()
//!     .delay(Duration::from_millis(10))
//!     .rate_bps(100_000_000)
//!     .queue_bytes(64 * 1024);
//! let p1 = net.link(client, 0, server, 0, fast);
//! // Path 2: client iface 1 <-> server iface 1, 40 ms, 10 Mbit/s, 1% loss.
//! let slow = LinkConfig::new()
//!     .delay(Duration::from_millis(40))
//!     .rate_bps(10_000_000)
//!     .loss(0.01);
//! let p2 = net.link(client, 1, server, 1, slow);
//! net.run_until(Instant::from_secs(1));
//! assert_eq!(net.host(server).frames, 100);
//! assert_eq!(net.stats(p1, dataplane::sim::Dir::Forward).delivered_packets, 100);
//! assert_eq!(net.stats(p2, dataplane::sim::Dir::Forward).sent_packets, 0);
//! ```

pub mod host;
pub mod link;
pub mod middlebox;
pub mod mptcp_host;
pub mod rng;
pub mod tcp_host;
pub mod tcp_middlebox;
pub mod toy;

mod bulk;
mod capture;
mod network;

#[cfg(test)]
mod tests;

pub use capture::{CaptureId, Scope, Tap};
pub use host::{Host, HostId};
pub use link::{Dir, LinkConfig, LinkId, LinkStats, QueueLimit};
pub use middlebox::{Corrupter, DropIf, MapFrame, Middlebox, Verdict};
pub use network::{Network, RunOutcome};
pub use rng::Rng;
pub use tcp_middlebox::{
    locate_tcp, CorruptPayload, MapTcp, RewriteOption, StripOption, TcpLocation, TcpMiddleboxStats,
    Which,
};

/// Folds one delivery (time, a tag, the bytes) into a running trace hash. Stable across
/// versions and platforms; not cryptographic. Used by [`Network::trace_hash`] and
/// [`toy::Sink::hash`].
pub fn trace_mix(h: u64, time: u64, tag: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    #[inline]
    fn mix(h: u64, w: u64) -> u64 {
        (h.rotate_left(23) ^ w).wrapping_mul(K)
    }
    let mut h = mix(mix(mix(h, time), tag), bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    w[..rest.len()].copy_from_slice(rest);
    mix(h, u64::from_le_bytes(w))
}
