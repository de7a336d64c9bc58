//! Links: configuration, statistics and the per-direction impairment pipeline.
//!
//! A frame entering one direction of a link goes through, in this order:
//! 1. **blackhole**: dropped if it enters during one of the configured `[T1, T2)`;
//! 2. **middleboxes**, in the order they were added (may rewrite or drop);
//! 3. **queue**: drop-tail if the backlog limit is reached, otherwise serialized at the
//!    link rate after the frames ahead of it (no serialization when the rate is 0);
//! 4. **loss**: dropped on the wire with the loss probability (after using the link's
//!    capacity, as a corrupted frame would);
//! 5. **propagation** delay, plus the reordering delay for the frames picked for
//!    reordering, and a **duplicate** delivered right after the original for the frames
//!    picked for duplication.
//!
//! Each random decision (loss, reorder, duplicate, middleboxes) has its own RNG stream
//! derived from the network seed, the link index and the direction, so changing one
//! impairment does not shift the pattern of the others.

use core::ops::Range;
use std::collections::VecDeque;

use super::middlebox::AnyMiddlebox;
use super::rng::{Rng, Threshold};
use crate::time::{duration_nanos, Duration, Instant};

/// Identifies a full-duplex link of a [`Network`](super::Network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub(crate) u32);

impl LinkId {
    /// The link's position in the network (0 for the first link added).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One direction of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the first endpoint given to [`Network::link`](super::Network::link) to the
    /// second.
    Forward,
    /// From the second endpoint to the first.
    Backward,
}

impl Dir {
    /// Both directions, forward first.
    pub const BOTH: [Dir; 2] = [Dir::Forward, Dir::Backward];

    pub(crate) fn index(self) -> usize {
        match self {
            Dir::Forward => 0,
            Dir::Backward => 1,
        }
    }
}

/// How much a link direction may hold waiting for serialization (drop-tail). The backlog
/// counts the frames waiting plus the one being serialized; a frame that would exceed the
/// limit is dropped. Only matters when the link has a rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QueueLimit {
    /// Never drop for lack of queue space.
    #[default]
    Unlimited,
    /// At most this many bytes of backlog.
    Bytes(u64),
    /// At most this many frames of backlog.
    Packets(u64),
}

/// Configuration of one direction of a link. Plain data: build it with the chained
/// setters, clone it for the other direction. Middleboxes are added separately with
/// [`Network::add_middlebox`](super::Network::add_middlebox).
///
/// ```
/// use dataplane::sim::LinkConfig;
/// use dataplane::time::{Duration, Instant};
/// let cfg = LinkConfig::new()
///     .delay(Duration::from_millis(10))
///     .rate_bps(10_000_000)
///     .queue_bytes(64 * 1024)
///     .loss(0.01)
///     .blackhole(Instant::from_secs(2), Instant::from_secs(3));
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Serialization rate in bits per second; 0 means infinitely fast (no queueing).
    pub rate_bps: u64,
    /// Bytes added to each frame's length for serialization only (e.g. 24 for Ethernet
    /// preamble, FCS and inter-frame gap). Default 0.
    pub overhead_bytes: u32,
    /// Drop-tail queue limit.
    pub queue: QueueLimit,
    /// Probability that a frame is lost on the wire.
    pub loss: f64,
    /// Probability that a frame is held back by `reorder_delay` (and so overtaken).
    pub reorder: f64,
    /// Extra delay of a reordered frame.
    pub reorder_delay: Duration,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Intervals `[T1, T2)` during which every frame entering the link is dropped.
    pub blackholes: Vec<Range<Instant>>,
}

impl LinkConfig {
    /// A perfect link: no delay, infinite rate, no loss.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the one-way propagation delay.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    /// Sets the rate in bits per second (0 = infinite).
    pub fn rate_bps(mut self, bps: u64) -> Self {
        self.rate_bps = bps;
        self
    }

    /// Sets the per-frame serialization overhead in bytes.
    pub fn overhead_bytes(mut self, bytes: u32) -> Self {
        self.overhead_bytes = bytes;
        self
    }

    /// Limits the backlog to `bytes` bytes.
    pub fn queue_bytes(mut self, bytes: u64) -> Self {
        self.queue = QueueLimit::Bytes(bytes);
        self
    }

    /// Limits the backlog to `packets` frames.
    pub fn queue_packets(mut self, packets: u64) -> Self {
        self.queue = QueueLimit::Packets(packets);
        self
    }

    /// Sets the random loss probability.
    pub fn loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Holds back a fraction `p` of the frames by `extra` so later frames overtake them.
    pub fn reorder(mut self, p: f64, extra: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = extra;
        self
    }

    /// Sets the duplication probability.
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Adds a blackhole interval `[from, to)`.
    pub fn blackhole(mut self, from: Instant, to: Instant) -> Self {
        self.blackholes.push(from..to);
        self
    }

    /// Serialization time of a frame of `len` bytes; zero for an infinite rate.
    pub fn serialization(&self, len: usize) -> Duration {
        Duration::from_nanos(ser_nanos(self.rate_bps, self.overhead_bytes, len))
    }
}

/// `ceil((len + overhead) * 8 * 10^9 / rate)` nanoseconds, 0 when `rate` is 0.
fn ser_nanos(rate_bps: u64, overhead: u32, len: usize) -> u64 {
    if rate_bps == 0 {
        return 0;
    }
    let bits = (len as u128 + u128::from(overhead)) * 8 * 1_000_000_000;
    u64::try_from(bits.div_ceil(u128::from(rate_bps))).unwrap_or(u64::MAX)
}

/// Counters of one link direction. Packet counts unless named `_bytes`. Every frame
/// offered (`sent`) ends up delivered, dropped for exactly one reason, or still in
/// flight; duplicates add to `delivered`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames offered to the link by the sending host.
    pub sent_packets: u64,
    /// Bytes offered to the link by the sending host.
    pub sent_bytes: u64,
    /// Frames handed to the receiving host (duplicates included).
    pub delivered_packets: u64,
    /// Bytes handed to the receiving host (duplicates included).
    pub delivered_bytes: u64,
    /// Frames dropped by random loss.
    pub dropped_loss: u64,
    /// Frames dropped because the queue was full.
    pub dropped_queue: u64,
    /// Frames dropped inside a blackhole interval.
    pub dropped_blackhole: u64,
    /// Frames dropped by a middlebox.
    pub dropped_middlebox: u64,
    /// Extra copies scheduled by duplication.
    pub duplicated: u64,
    /// Frames delayed for reordering.
    pub reordered: u64,
    /// Largest backlog seen, in bytes.
    pub max_backlog_bytes: u64,
    /// Largest backlog seen, in frames.
    pub max_backlog_packets: u64,
}

impl LinkStats {
    /// All drops together.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_queue + self.dropped_blackhole + self.dropped_middlebox
    }

    /// Adds `other`'s counters to these (maxima take the larger value).
    pub fn accumulate(&mut self, o: &LinkStats) {
        self.sent_packets += o.sent_packets;
        self.sent_bytes += o.sent_bytes;
        self.delivered_packets += o.delivered_packets;
        self.delivered_bytes += o.delivered_bytes;
        self.dropped_loss += o.dropped_loss;
        self.dropped_queue += o.dropped_queue;
        self.dropped_blackhole += o.dropped_blackhole;
        self.dropped_middlebox += o.dropped_middlebox;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.max_backlog_bytes = self.max_backlog_bytes.max(o.max_backlog_bytes);
        self.max_backlog_packets = self.max_backlog_packets.max(o.max_backlog_packets);
    }
}

/// What happens to a frame that entered a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Dropped (already counted).
    Dropped,
    /// Deliver at this time (ns), and a second copy right after it when `duplicate`.
    Deliver { at: u64, duplicate: bool },
}

/// One direction of a link: its configuration, state, streams and counters.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub cfg: LinkConfig,
    pub to_host: u32,
    pub to_iface: u32,
    pub stats: LinkStats,
    pub middleboxes: Vec<Box<dyn AnyMiddlebox>>,
    delay_ns: u64,
    reorder_ns: u64,
    loss: Threshold,
    reorder: Threshold,
    dup: Threshold,
    rng_loss: Rng,
    rng_reorder: Rng,
    rng_dup: Rng,
    rng_mb: Rng,
    /// When the transmitter finishes the last frame accepted, in ns.
    busy_until: u64,
    /// (finish time, length) of the frames not yet fully serialized, oldest first.
    backlog: VecDeque<(u64, u32)>,
    backlog_bytes: u64,
}

impl Pipe {
    /// A pipe towards (`to_host`, `to_iface`), with streams derived from the network
    /// seed, the link index and the direction.
    pub fn new(cfg: LinkConfig, seed: u64, link: u32, dir: Dir, to: (u32, u32)) -> Pipe {
        let s = |purpose: u64| Rng::stream(seed, &[u64::from(link), dir.index() as u64, purpose]);
        let mut p = Pipe {
            cfg: LinkConfig::default(),
            to_host: to.0,
            to_iface: to.1,
            stats: LinkStats::default(),
            middleboxes: Vec::new(),
            delay_ns: 0,
            reorder_ns: 0,
            loss: Threshold::NEVER,
            reorder: Threshold::NEVER,
            dup: Threshold::NEVER,
            rng_loss: s(1),
            rng_reorder: s(2),
            rng_dup: s(3),
            rng_mb: s(4),
            busy_until: 0,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
        };
        p.set_config(cfg);
        p
    }

    /// Replaces the configuration; the queue's current backlog is kept.
    pub fn set_config(&mut self, cfg: LinkConfig) {
        self.delay_ns = duration_nanos(cfg.delay);
        self.reorder_ns = duration_nanos(cfg.reorder_delay);
        self.loss = Threshold::new(cfg.loss);
        self.reorder = Threshold::new(cfg.reorder);
        self.dup = Threshold::new(cfg.duplicate);
        self.cfg = cfg;
    }

    /// Runs `frame`, entering at `now` (ns), through the pipeline and counts the outcome.
    pub fn transmit(&mut self, now: u64, frame: &mut Vec<u8>) -> Fate {
        self.stats.sent_packets += 1;
        self.stats.sent_bytes += frame.len() as u64;
        let t = Instant::from_nanos(now);
        if self.cfg.blackholes.iter().any(|r| r.contains(&t)) {
            self.stats.dropped_blackhole += 1;
            return Fate::Dropped;
        }
        for mb in &mut self.middleboxes {
            if mb.process(t, &mut self.rng_mb, frame) == super::Verdict::Drop {
                self.stats.dropped_middlebox += 1;
                return Fate::Dropped;
            }
        }
        let depart = if self.cfg.rate_bps == 0 {
            now
        } else {
            match self.enqueue(now, frame.len()) {
                Some(finish) => finish,
                None => {
                    self.stats.dropped_queue += 1;
                    return Fate::Dropped;
                }
            }
        };
        if self.rng_loss.hit(self.loss) {
            self.stats.dropped_loss += 1;
            return Fate::Dropped;
        }
        let mut at = depart.saturating_add(self.delay_ns);
        if self.rng_reorder.hit(self.reorder) {
            self.stats.reordered += 1;
            at = at.saturating_add(self.reorder_ns);
        }
        let duplicate = self.rng_dup.hit(self.dup);
        if duplicate {
            self.stats.duplicated += 1;
        }
        Fate::Deliver { at, duplicate }
    }

    /// Accepts a frame of `len` bytes into the queue at `now` and returns when its
    /// serialization ends, or `None` when the queue limit drops it.
    fn enqueue(&mut self, now: u64, len: usize) -> Option<u64> {
        while let Some(&(finish, l)) = self.backlog.front() {
            if finish > now {
                break;
            }
            self.backlog.pop_front();
            self.backlog_bytes -= u64::from(l);
        }
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        let full = match self.cfg.queue {
            QueueLimit::Unlimited => false,
            QueueLimit::Bytes(max) => self.backlog_bytes + u64::from(len32) > max,
            QueueLimit::Packets(max) => self.backlog.len() as u64 >= max,
        };
        if full {
            return None;
        }
        let start = self.busy_until.max(now);
        let finish =
            start.saturating_add(ser_nanos(self.cfg.rate_bps, self.cfg.overhead_bytes, len));
        self.busy_until = finish;
        self.backlog.push_back((finish, len32));
        self.backlog_bytes += u64::from(len32);
        self.stats.max_backlog_bytes = self.stats.max_backlog_bytes.max(self.backlog_bytes);
        self.stats.max_backlog_packets = self
            .stats
            .max_backlog_packets
            .max(self.backlog.len() as u64);
        Some(finish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_time() {
        let c = LinkConfig::new().rate_bps(10_000_000);
        assert_eq!(c.serialization(1500), Duration::from_micros(1200));
        assert_eq!(LinkConfig::new().serialization(1500), Duration::ZERO);
        // Rounded up to whole nanoseconds.
        assert_eq!(
            LinkConfig::new().rate_bps(3).serialization(1),
            Duration::from_nanos(2_666_666_667)
        );
        let c = LinkConfig::new().rate_bps(1_000_000_000).overhead_bytes(24);
        assert_eq!(c.serialization(1500), Duration::from_nanos(12_192));
    }

    #[test]
    fn queue_limits() {
        let cfg = LinkConfig::new().rate_bps(8_000_000_000).queue_packets(2); // 1 ns/byte
        let mut p = Pipe::new(cfg, 1, 0, Dir::Forward, (0, 0));
        assert_eq!(p.enqueue(0, 100), Some(100));
        assert_eq!(p.enqueue(0, 100), Some(200));
        assert_eq!(p.enqueue(0, 100), None);
        assert_eq!(p.enqueue(100, 100), Some(300)); // first one left
        let cfg = LinkConfig::new().rate_bps(8_000_000_000).queue_bytes(250);
        let mut p = Pipe::new(cfg, 1, 0, Dir::Forward, (0, 0));
        assert_eq!(p.enqueue(0, 100), Some(100));
        assert_eq!(p.enqueue(0, 100), Some(200));
        assert_eq!(p.enqueue(0, 100), None);
        assert_eq!(p.enqueue(0, 50), Some(250));
        assert_eq!(p.enqueue(1000, 300), None); // larger than the whole queue
        assert_eq!(p.enqueue(1000, 250), Some(1250));
        assert_eq!(p.stats.max_backlog_bytes, 250);
    }
}
