//! Recording link traffic to pcap files (test tooling: allocation is fine here).

use std::io::{self, Write};

use super::link::{Dir, LinkId};
use crate::pcap::write::PcapWriter;
use crate::time::Instant;

/// Which link directions a capture records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every direction of every link.
    All,
    /// Both directions of one link.
    Link(LinkId),
    /// One direction of one link.
    Pipe(LinkId, Dir),
}

impl Scope {
    fn matches(self, pipe: usize) -> bool {
        match self {
            Scope::All => true,
            Scope::Link(l) => pipe / 2 == l.index(),
            Scope::Pipe(l, d) => pipe == l.index() * 2 + d.index(),
        }
    }
}

/// Where on a link direction a capture taps the frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tap {
    /// As the sending host emitted them, at emission time (before any impairment, so
    /// frames later dropped appear too).
    Send,
    /// As the receiving host gets them, at delivery time (after middleboxes; drops are
    /// absent, duplicates appear twice).
    Deliver,
}

/// Identifies a capture of a [`Network`](super::Network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureId(pub(crate) usize);

/// Where a capture's bytes go.
pub(crate) enum Sink {
    Memory(Vec<u8>),
    Writer(Box<dyn Write>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Memory(v) => v.write(buf),
            Sink::Writer(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Memory(v) => {
                v.extend_from_slice(buf);
                Ok(())
            }
            Sink::Writer(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Memory(_) => Ok(()),
            Sink::Writer(w) => w.flush(),
        }
    }
}

impl core::fmt::Debug for Sink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Sink::Memory(v) => write!(f, "Memory({} bytes)", v.len()),
            Sink::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// One active capture. A write error stops it and is kept for
/// [`Network::flush_captures`](super::Network::flush_captures) to report.
#[derive(Debug)]
pub(crate) struct Capture {
    pub scope: Scope,
    pub tap: Tap,
    pub writer: PcapWriter<Sink>,
    pub error: Option<io::Error>,
}

impl Capture {
    pub fn new(scope: Scope, tap: Tap, sink: Sink) -> io::Result<Capture> {
        Ok(Capture {
            scope,
            tap,
            writer: PcapWriter::new(sink)?,
            error: None,
        })
    }

    /// Records `frame` if this capture covers `pipe` at `tap`.
    #[inline]
    pub fn offer(&mut self, tap: Tap, pipe: usize, now: u64, frame: &[u8]) {
        if self.tap == tap && self.error.is_none() && self.scope.matches(pipe) {
            if let Err(e) = self.writer.write_packet(Instant::from_nanos(now), frame) {
                self.error = Some(e);
            }
        }
    }

    /// The bytes of an in-memory capture.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self.writer.get_ref() {
            Sink::Memory(v) => Some(v),
            Sink::Writer(_) => None,
        }
    }
}
