//! Middleboxes: per-direction hooks that inspect, rewrite or drop frames on a link.
//!
//! A link direction runs its chain of middleboxes, in the order they were added, on every
//! frame that enters it (after the blackhole check, before the queue). A middlebox may
//! change the frame in place, including its length (stripping a TCP option), or drop it.
//! Adding one is implementing [`Middlebox`]; [`DropIf`] and [`MapFrame`] turn closures
//! into middleboxes for one-off tests.
//!
//! TCP-aware middleboxes (strip MP_CAPABLE/option 30 from SYNs, SYN/ACKs, third ACKs or
//! all segments; corrupt a payload byte and fix the TCP checksum so that only the DSS
//! checksum notices) belong next to these once the TCP wire codec is available.

use core::any::Any;
use core::fmt;

use super::rng::{Rng, Threshold};
use crate::time::Instant;

/// What a middlebox decides for one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward the (possibly modified) frame.
    Pass,
    /// Drop the frame; counted in [`LinkStats::dropped_middlebox`](super::LinkStats).
    Drop,
}

/// A frame-rewriting hook on one direction of a link.
pub trait Middlebox: 'static {
    /// Inspect or rewrite `frame`, entering the link at `now`. `rng` is this link
    /// direction's middlebox stream (seeded from the network seed), so random choices
    /// stay reproducible and do not disturb the link's loss or reordering draws.
    fn process(&mut self, now: Instant, rng: &mut Rng, frame: &mut Vec<u8>) -> Verdict;

    /// A short name for debug output.
    fn name(&self) -> &'static str {
        core::any::type_name::<Self>()
    }
}

/// Object-safe downcasting for stored middleboxes; implemented for every [`Middlebox`].
pub(crate) trait AnyMiddlebox: Middlebox {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Middlebox> AnyMiddlebox for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl fmt::Debug for dyn AnyMiddlebox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Flips one random bit of one random byte at offset `from` or later, in a fraction of
/// the frames it sees. It fixes no checksum: this is the generic byte-level corrupter.
#[derive(Clone, Debug)]
pub struct Corrupter {
    probability: Threshold,
    from: usize,
    /// Frames corrupted so far.
    pub corrupted: u64,
}

impl Corrupter {
    /// Corrupts each frame longer than `from` bytes with probability `p`, at an offset
    /// `>= from` (e.g. 54 to spare the Ethernet, IPv4 and basic TCP headers).
    pub fn new(p: f64, from: usize) -> Corrupter {
        Corrupter {
            probability: Threshold::new(p),
            from,
            corrupted: 0,
        }
    }
}

impl Middlebox for Corrupter {
    fn process(&mut self, _now: Instant, rng: &mut Rng, frame: &mut Vec<u8>) -> Verdict {
        let Some(span) = frame.len().checked_sub(self.from).filter(|&n| n > 0) else {
            return Verdict::Pass;
        };
        if rng.hit(self.probability) {
            let at = self.from + rng.below(span as u64) as usize;
            let bit = 1u8 << rng.below(8);
            if let Some(b) = frame.get_mut(at) {
                *b ^= bit;
                self.corrupted += 1;
            }
        }
        Verdict::Pass
    }
}

/// Drops every frame for which the predicate returns true.
pub struct DropIf<F> {
    predicate: F,
    /// Frames dropped so far.
    pub dropped: u64,
}

impl<F: FnMut(Instant, &[u8]) -> bool + 'static> DropIf<F> {
    /// A dropper around `predicate(now, frame)`.
    pub fn new(predicate: F) -> Self {
        DropIf {
            predicate,
            dropped: 0,
        }
    }
}

impl<F: FnMut(Instant, &[u8]) -> bool + 'static> Middlebox for DropIf<F> {
    fn process(&mut self, now: Instant, _rng: &mut Rng, frame: &mut Vec<u8>) -> Verdict {
        if (self.predicate)(now, frame) {
            self.dropped += 1;
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    }

    fn name(&self) -> &'static str {
        "DropIf"
    }
}

impl<F> fmt::Debug for DropIf<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropIf")
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// Runs a closure `f(now, rng, frame) -> Verdict`: the quickest way to write a one-off
/// rewriting middlebox in a test.
pub struct MapFrame<F>(pub F);

impl<F> Middlebox for MapFrame<F>
where
    F: FnMut(Instant, &mut Rng, &mut Vec<u8>) -> Verdict + 'static,
{
    fn process(&mut self, now: Instant, rng: &mut Rng, frame: &mut Vec<u8>) -> Verdict {
        (self.0)(now, rng, frame)
    }

    fn name(&self) -> &'static str {
        "MapFrame"
    }
}

impl<F> fmt::Debug for MapFrame<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MapFrame(..)")
    }
}
