//! Toy hosts for testing the simulator itself (and as examples of [`Host`]s).
//!
//! Their frames are Ethernet II with the local experimental EtherType 0x88b5 and a
//! payload that starts with a big-endian `u64` sequence number and the `u64` nanosecond
//! time at which the frame was sent.

use super::Host;
use crate::time::{Duration, Instant};

/// EtherType of toy frames (IEEE 802 local experimental).
pub const ETHERTYPE_TOY: u16 = 0x88b5;
/// Ethernet header plus sequence number plus send time.
pub const MIN_FRAME: usize = 14 + 16;

/// Writes a toy frame with `seq` and `sent` into `buf` (resized to `size`, at least
/// [`MIN_FRAME`]). The rest of the payload is a pattern derived from `seq`.
pub fn write_frame(buf: &mut Vec<u8>, src: u8, seq: u64, sent: Instant, size: usize) {
    buf.clear();
    buf.extend_from_slice(&[0xff; 6]);
    buf.extend_from_slice(&[0x02, 0, 0, 0, 0, src]);
    buf.extend_from_slice(&ETHERTYPE_TOY.to_be_bytes());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&sent.as_nanos().to_be_bytes());
    let pad = size.max(MIN_FRAME) - MIN_FRAME;
    buf.extend((0..pad).map(|i| (seq as u8).wrapping_add(i as u8)));
}

/// The sequence number of a toy frame, or `None` if it is not one.
pub fn seq_of(frame: &[u8]) -> Option<u64> {
    let b: [u8; 8] = frame.get(14..22)?.try_into().ok()?;
    (frame.get(12..14)? == ETHERTYPE_TOY.to_be_bytes()).then(|| u64::from_be_bytes(b))
}

/// The send time carried by a toy frame.
pub fn sent_at(frame: &[u8]) -> Option<Instant> {
    let b: [u8; 8] = frame.get(22..30)?.try_into().ok()?;
    Some(Instant::from_nanos(u64::from_be_bytes(b)))
}

/// Sends `count` numbered frames of `size` bytes on one interface, `burst` frames every
/// `gap` starting at `start`.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Interface to send on.
    pub iface: usize,
    /// Frame size in bytes.
    pub size: usize,
    /// Frames to send in total.
    pub count: u64,
    /// Frames per send instant.
    pub burst: u64,
    /// Time between send instants.
    pub gap: Duration,
    /// Frames sent so far (also the next sequence number).
    pub sent: u64,
    /// Source MAC's last byte.
    pub id: u8,
    next: Instant,
    due: bool,
    buf: Vec<u8>,
}

impl Pacer {
    /// `count` frames of `size` bytes on `iface`, one every `gap` from `start`.
    pub fn new(iface: usize, size: usize, count: u64, gap: Duration, start: Instant) -> Pacer {
        Pacer {
            iface,
            size,
            count,
            burst: 1,
            gap,
            sent: 0,
            id: 1,
            next: start,
            due: false,
            buf: Vec::new(),
        }
    }

    /// Sends `burst` frames at each send instant.
    pub fn with_burst(mut self, burst: u64) -> Pacer {
        self.burst = burst.max(1);
        self
    }

    /// True once every frame has been sent.
    pub fn done(&self) -> bool {
        self.sent >= self.count
    }
}

impl Host for Pacer {
    fn handle_frame(&mut self, _now: Instant, _iface: usize, _frame: &[u8]) {}

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next && !self.done() {
            self.due = true;
        }
    }

    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        if !self.due && (now < self.next || self.done()) {
            return;
        }
        self.due = false;
        for _ in 0..self.burst {
            if self.done() {
                break;
            }
            write_frame(&mut self.buf, self.id, self.sent, now, self.size);
            emit(self.iface, &self.buf);
            self.sent += 1;
        }
        self.next = now + self.gap;
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.done()).then_some(self.next)
    }
}

/// Counts what arrives; optionally records every arrival and echoes frames back.
#[derive(Debug, Clone, Default)]
pub struct Sink {
    /// Frames received.
    pub frames: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Frames received per interface.
    pub per_iface: Vec<u64>,
    /// (arrival time, interface, sequence number) of each toy frame, when recording.
    pub log: Vec<(Instant, usize, u64)>,
    /// Whether to fill `log`.
    pub record: bool,
    /// Whether to send each frame back on the interface it came from.
    pub echo: bool,
    /// A hash of every arrival (time, interface, bytes): equal hashes, equal traces.
    pub hash: u64,
    pending: Vec<(usize, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
}

impl Sink {
    /// A counting sink that records arrivals.
    pub fn new() -> Sink {
        Sink {
            record: true,
            ..Sink::default()
        }
    }

    /// A sink that also echoes every frame back.
    pub fn echoing() -> Sink {
        Sink {
            echo: true,
            ..Sink::new()
        }
    }

    /// A sink that only counts (no log): for throughput runs.
    pub fn counting() -> Sink {
        Sink::default()
    }

    /// Sequence numbers in arrival order.
    pub fn seqs(&self) -> Vec<u64> {
        self.log.iter().map(|&(_, _, s)| s).collect()
    }
}

impl Host for Sink {
    fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        self.frames += 1;
        self.bytes += frame.len() as u64;
        if self.per_iface.len() <= iface {
            self.per_iface.resize(iface + 1, 0);
        }
        self.per_iface[iface] += 1;
        self.hash = super::trace_mix(self.hash, now.as_nanos(), iface as u64, frame);
        if self.record {
            if let Some(seq) = seq_of(frame) {
                self.log.push((now, iface, seq));
            }
        }
        if self.echo {
            let mut b = self.spare.pop().unwrap_or_default();
            b.clear();
            b.extend_from_slice(frame);
            self.pending.push((iface, b));
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        for (iface, b) in self.pending.drain(..) {
            emit(iface, &b);
            self.spare.push(b);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
