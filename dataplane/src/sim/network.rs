//! The [`Network`]: hosts, links, the event heap and the run loops.

use core::cmp::Ordering;
use core::fmt;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::path::Path;

use super::capture::{Capture, CaptureId, Scope, Sink, Tap};
use super::host::{AnyHost, Host, HostId};
use super::link::{Dir, Fate, LinkConfig, LinkId, LinkStats, Pipe};
use super::middlebox::Middlebox;
use crate::time::{Duration, Instant};

/// No route / no timeout.
const NONE: u32 = u32::MAX;
const NEVER: u64 = u64::MAX;
/// A host firing its timer this many times at one instant is livelocked.
const TIMER_SPIN_LIMIT: u32 = 10_000;
/// This many steps without time advancing is a livelock (e.g. two echo hosts on a link
/// with no delay).
const STEP_SPIN_LIMIT: u64 = 50_000_000;

/// Why a run loop returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The predicate of [`Network::run_while`] became false.
    Condition,
    /// Nothing is in flight and no host has a timeout.
    Idle,
    /// The virtual-time limit was reached first.
    TimeLimit,
}

/// A frame in flight, due at `at` on pipe `pipe`. Ordered for a min-heap on (at, seq).
#[derive(Debug)]
struct Event {
    at: u64,
    seq: u64,
    pipe: u32,
    frame: Vec<u8>,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, we pop the earliest.
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// Everything but the hosts, so that a host can emit while it is borrowed.
#[derive(Debug)]
struct Fabric {
    /// Per host: interface -> pipe index (NONE when unconnected).
    routes: Vec<Vec<u32>>,
    /// Pipe 2*l is link l forward, 2*l+1 backward.
    pipes: Vec<Pipe>,
    heap: BinaryHeap<Event>,
    seq: u64,
    pool: Vec<Vec<u8>>,
    captures: Vec<Capture>,
    unrouted: u64,
    trace: Option<u64>,
}

impl Fabric {
    fn buffer(&mut self, data: &[u8]) -> Vec<u8> {
        let mut b = self.pool.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(data);
        b
    }

    fn schedule(&mut self, at: u64, pipe: u32, frame: Vec<u8>) {
        self.seq += 1;
        self.heap.push(Event {
            at,
            seq: self.seq,
            pipe,
            frame,
        });
    }

    /// Host `host` emits `frame` on `iface` at `now`.
    fn send(&mut self, now: u64, host: usize, iface: usize, frame: &[u8]) {
        let pipe = self
            .routes
            .get(host)
            .and_then(|r| r.get(iface))
            .copied()
            .unwrap_or(NONE);
        let Some(p) = self.pipes.get_mut(pipe as usize) else {
            self.unrouted += 1;
            return;
        };
        for c in &mut self.captures {
            c.offer(Tap::Send, pipe as usize, now, frame);
        }
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        match p.transmit(now, &mut buf) {
            Fate::Dropped => self.pool.push(buf),
            Fate::Deliver { at, duplicate } => {
                let copy = duplicate.then(|| self.buffer(&buf));
                self.schedule(at, pipe, buf);
                if let Some(copy) = copy {
                    self.schedule(at, pipe, copy);
                }
            }
        }
    }
}

/// One host and whether it needs polling.
struct Slot {
    host: Box<dyn AnyHost>,
    dirty: bool,
}

/// A simulated network: hosts, links, and virtual time. See the [module docs](super).
pub struct Network {
    seed: u64,
    now: u64,
    hosts: Vec<Slot>,
    /// Cached `poll_timeout` of each host, in ns (NEVER when none).
    timeouts: Vec<u64>,
    fabric: Fabric,
    /// Hosts to poll before the next step.
    dirty: Vec<u32>,
    /// (host, instant, count) of consecutive timer firings, for livelock detection.
    spin: (usize, u64, u32),
    /// Steps taken at the current instant.
    same_instant_steps: u64,
    steps: u64,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("seed", &self.seed)
            .field("now", &Instant::from_nanos(self.now))
            .field("hosts", &self.hosts.len())
            .field("links", &(self.fabric.pipes.len() / 2))
            .field("in_flight", &self.fabric.heap.len())
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// An empty network at time zero whose randomness all derives from `seed`.
    pub fn new(seed: u64) -> Network {
        Network {
            seed,
            now: 0,
            hosts: Vec::new(),
            timeouts: Vec::new(),
            fabric: Fabric {
                routes: Vec::new(),
                pipes: Vec::new(),
                heap: BinaryHeap::new(),
                seq: 0,
                pool: Vec::new(),
                captures: Vec::new(),
                unrouted: 0,
                trace: None,
            },
            dirty: Vec::new(),
            spin: (usize::MAX, 0, 0),
            same_instant_steps: 0,
            steps: 0,
        }
    }

    /// The seed the network was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.now)
    }

    /// Events processed so far (deliveries and timer firings).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    // ---- hosts ------------------------------------------------------------------------

    /// Adds a host; it is polled (`poll_transmit`, `poll_timeout`) before the next step.
    pub fn add_host<T: Host>(&mut self, host: T) -> HostId<T> {
        let index = u32::try_from(self.hosts.len()).expect("too many hosts");
        self.hosts.push(Slot {
            host: Box::new(host),
            dirty: false,
        });
        self.timeouts.push(NEVER);
        self.fabric.routes.push(Vec::new());
        self.mark_dirty(index as usize);
        HostId::new(index)
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// The host behind `id`.
    ///
    /// # Panics
    /// If `id` comes from another network and names a host of another type there.
    pub fn host<T: Host>(&self, id: HostId<T>) -> &T {
        self.host_at(id.index())
            .expect("HostId from another Network")
    }

    /// The host behind `id`, mutably. The host is polled again (`poll_transmit`,
    /// `poll_timeout`) before the next step, so a test may hand it work (e.g. data to
    /// send) between runs.
    ///
    /// # Panics
    /// As [`Network::host`].
    pub fn host_mut<T: Host>(&mut self, id: HostId<T>) -> &mut T {
        self.host_at_mut(id.index())
            .expect("HostId from another Network")
    }

    /// The host at `index` if it is a `T`.
    pub fn host_at<T: Host>(&self, index: usize) -> Option<&T> {
        self.hosts.get(index)?.host.as_any().downcast_ref()
    }

    /// The host at `index` mutably if it is a `T` (and marks it for polling).
    pub fn host_at_mut<T: Host>(&mut self, index: usize) -> Option<&mut T> {
        if index >= self.hosts.len() {
            return None;
        }
        self.mark_dirty(index);
        self.hosts[index].host.as_any_mut().downcast_mut()
    }

    fn mark_dirty(&mut self, h: usize) {
        if !self.hosts[h].dirty {
            self.hosts[h].dirty = true;
            self.dirty.push(h as u32);
        }
    }

    // ---- links ------------------------------------------------------------------------

    /// Connects (`a`, `a_iface`) and (`b`, `b_iface`) with `cfg` in both directions.
    ///
    /// # Panics
    /// If either interface is already connected.
    pub fn link<A: Host, B: Host>(
        &mut self,
        a: HostId<A>,
        a_iface: usize,
        b: HostId<B>,
        b_iface: usize,
        cfg: LinkConfig,
    ) -> LinkId {
        self.link_asym(a, a_iface, b, b_iface, cfg.clone(), cfg)
    }

    /// Connects (`a`, `a_iface`) and (`b`, `b_iface`): `forward` configures a -> b,
    /// `backward` b -> a. The link's RNG streams depend only on the seed and the link's
    /// index (the order of `link` calls).
    ///
    /// # Panics
    /// If either interface is already connected.
    pub fn link_asym<A: Host, B: Host>(
        &mut self,
        a: HostId<A>,
        a_iface: usize,
        b: HostId<B>,
        b_iface: usize,
        forward: LinkConfig,
        backward: LinkConfig,
    ) -> LinkId {
        let l = u32::try_from(self.fabric.pipes.len() / 2).expect("too many links");
        let ends = [(a.index(), a_iface), (b.index(), b_iface)];
        for (i, &(h, iface)) in ends.iter().enumerate() {
            let routes = &mut self.fabric.routes[h];
            if routes.len() <= iface {
                routes.resize(iface + 1, NONE);
            }
            assert_eq!(
                routes[iface], NONE,
                "host {h} iface {iface} is already linked"
            );
            routes[iface] = 2 * l + i as u32;
        }
        let to = |(h, i): (usize, usize)| (h as u32, i as u32);
        let seed = self.seed;
        let pipes = &mut self.fabric.pipes;
        pipes.push(Pipe::new(forward, seed, l, Dir::Forward, to(ends[1])));
        pipes.push(Pipe::new(backward, seed, l, Dir::Backward, to(ends[0])));
        LinkId(l)
    }

    fn pipe(&self, link: LinkId, dir: Dir) -> &Pipe {
        &self.fabric.pipes[link.index() * 2 + dir.index()]
    }

    fn pipe_mut(&mut self, link: LinkId, dir: Dir) -> &mut Pipe {
        &mut self.fabric.pipes[link.index() * 2 + dir.index()]
    }

    /// Number of links.
    pub fn link_count(&self) -> usize {
        self.fabric.pipes.len() / 2
    }

    /// Counters of one direction of a link.
    pub fn stats(&self, link: LinkId, dir: Dir) -> &LinkStats {
        &self.pipe(link, dir).stats
    }

    /// The sum of all links' counters.
    pub fn total_stats(&self) -> LinkStats {
        let mut s = LinkStats::default();
        for p in &self.fabric.pipes {
            s.accumulate(&p.stats);
        }
        s
    }

    /// Frames emitted on an interface that has no link.
    pub fn unrouted(&self) -> u64 {
        self.fabric.unrouted
    }

    /// Frames in flight (scheduled, not yet delivered).
    pub fn in_flight(&self) -> usize {
        self.fabric.heap.len()
    }

    /// The configuration of one direction of a link.
    pub fn link_config(&self, link: LinkId, dir: Dir) -> &LinkConfig {
        &self.pipe(link, dir).cfg
    }

    /// Changes one direction of a link from now on (frames in flight are not affected;
    /// the queue keeps its backlog). E.g. a rate change or a new blackhole mid-test.
    pub fn set_link_config(&mut self, link: LinkId, dir: Dir, cfg: LinkConfig) {
        self.pipe_mut(link, dir).set_config(cfg);
    }

    /// Appends `mb` to the middlebox chain of one direction of a link; returns its
    /// position in the chain (for [`Network::middlebox`]).
    pub fn add_middlebox<M: Middlebox>(&mut self, link: LinkId, dir: Dir, mb: M) -> usize {
        let chain = &mut self.pipe_mut(link, dir).middleboxes;
        chain.push(Box::new(mb));
        chain.len() - 1
    }

    /// The middlebox at position `index` of a chain, if it is an `M` (to read its
    /// counters).
    pub fn middlebox<M: Middlebox>(&self, link: LinkId, dir: Dir, index: usize) -> Option<&M> {
        self.pipe(link, dir)
            .middleboxes
            .get(index)?
            .as_any()
            .downcast_ref()
    }

    /// The middlebox at position `index` of a chain mutably, if it is an `M`.
    pub fn middlebox_mut<M: Middlebox>(
        &mut self,
        link: LinkId,
        dir: Dir,
        index: usize,
    ) -> Option<&mut M> {
        self.pipe_mut(link, dir)
            .middleboxes
            .get_mut(index)?
            .as_any_mut()
            .downcast_mut()
    }

    /// Removes every middlebox of one direction of a link.
    pub fn clear_middleboxes(&mut self, link: LinkId, dir: Dir) {
        self.pipe_mut(link, dir).middleboxes.clear();
    }

    // ---- capture and trace ------------------------------------------------------------

    /// Records the frames of `scope` at `tap` as pcap into `w` (header written now).
    pub fn capture(
        &mut self,
        scope: Scope,
        tap: Tap,
        w: impl Write + 'static,
    ) -> io::Result<CaptureId> {
        self.add_capture(scope, tap, Sink::Writer(Box::new(w)))
    }

    /// Records the frames of `scope` at `tap` into a pcap file at `path` (buffered; call
    /// [`Network::flush_captures`] or drop the network to finish it).
    pub fn capture_file(
        &mut self,
        scope: Scope,
        tap: Tap,
        path: impl AsRef<Path>,
    ) -> io::Result<CaptureId> {
        let f = std::fs::File::create(path)?;
        self.capture(scope, tap, io::BufWriter::new(f))
    }

    /// Records the frames of `scope` at `tap` in memory; read with
    /// [`Network::capture_bytes`].
    pub fn capture_memory(&mut self, scope: Scope, tap: Tap) -> CaptureId {
        self.add_capture(scope, tap, Sink::Memory(Vec::new()))
            .expect("writing to memory cannot fail")
    }

    fn add_capture(&mut self, scope: Scope, tap: Tap, sink: Sink) -> io::Result<CaptureId> {
        self.fabric.captures.push(Capture::new(scope, tap, sink)?);
        Ok(CaptureId(self.fabric.captures.len() - 1))
    }

    /// The pcap bytes of an in-memory capture so far.
    pub fn capture_bytes(&self, id: CaptureId) -> Option<&[u8]> {
        self.fabric.captures.get(id.0)?.bytes()
    }

    /// Flushes every capture; returns the first write error any of them met.
    pub fn flush_captures(&mut self) -> io::Result<()> {
        let mut first = None;
        for c in &mut self.fabric.captures {
            if let Some(e) = c.error.take() {
                first.get_or_insert(e);
            } else if let Err(e) = c.writer.flush() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Starts hashing every delivery (time, link direction, bytes) into
    /// [`Network::trace_hash`]. Off by default: it reads every byte.
    pub fn enable_trace_hash(&mut self) {
        self.fabric.trace.get_or_insert(0);
    }

    /// The running hash of all deliveries since [`Network::enable_trace_hash`].
    pub fn trace_hash(&self) -> Option<u64> {
        self.fabric.trace
    }

    // ---- running ----------------------------------------------------------------------

    /// Polls the hosts marked dirty (new, or borrowed mutably) at the current time.
    fn flush_dirty(&mut self) {
        while let Some(h) = self.dirty.pop() {
            self.hosts[h as usize].dirty = false;
            self.poll_host(h as usize);
        }
    }

    /// `poll_transmit` then `poll_timeout` on host `h`.
    fn poll_host(&mut self, h: usize) {
        let now = self.now;
        let fabric = &mut self.fabric;
        let host = &mut self.hosts[h].host;
        host.poll_transmit(Instant::from_nanos(now), &mut |iface, frame| {
            fabric.send(now, h, iface, frame)
        });
        self.timeouts[h] = host.poll_timeout().map_or(NEVER, Instant::as_nanos);
    }

    /// The earliest host timeout: (time, host).
    fn next_timer(&self) -> (u64, usize) {
        let mut best = (NEVER, usize::MAX);
        for (h, &t) in self.timeouts.iter().enumerate() {
            if t < best.0 {
                best = (t, h);
            }
        }
        best
    }

    /// When the next step happens (never before now), or `None` when idle.
    pub fn next_event(&mut self) -> Option<Instant> {
        self.flush_dirty();
        let ev = self.fabric.heap.peek().map_or(NEVER, |e| e.at);
        let t = ev.min(self.next_timer().0);
        (t != NEVER).then(|| Instant::from_nanos(t.max(self.now)))
    }

    /// Processes the next event: the earliest delivery, or the earliest host timeout
    /// (deliveries first at equal times, lower host index first among timers). Returns
    /// the time of the event, or `None` when the network is idle.
    ///
    /// # Panics
    /// On a livelock: a host whose timeout stays at or before `now` after
    /// `handle_timeout`, or 50 million steps without time advancing.
    pub fn step(&mut self) -> Option<Instant> {
        self.flush_dirty();
        let ev = self.fabric.heap.peek().map_or(NEVER, |e| e.at);
        let (timer, h) = self.next_timer();
        if ev == NEVER && timer == NEVER {
            return None;
        }
        let at = ev.min(timer).max(self.now);
        if at == self.now {
            self.same_instant_steps += 1;
            assert!(
                self.same_instant_steps < STEP_SPIN_LIMIT,
                "simulation livelock: {STEP_SPIN_LIMIT} steps at {}",
                self.now()
            );
        } else {
            self.same_instant_steps = 0;
        }
        self.now = at;
        self.steps += 1;
        if ev <= timer {
            self.deliver();
        } else {
            self.fire(h);
        }
        Some(Instant::from_nanos(at))
    }

    fn deliver(&mut self) {
        let Some(ev) = self.fabric.heap.pop() else {
            return;
        };
        let now = self.now;
        let pi = ev.pipe as usize;
        let pipe = &mut self.fabric.pipes[pi];
        pipe.stats.delivered_packets += 1;
        pipe.stats.delivered_bytes += ev.frame.len() as u64;
        let (h, iface) = (pipe.to_host as usize, pipe.to_iface as usize);
        for c in &mut self.fabric.captures {
            c.offer(Tap::Deliver, pi, now, &ev.frame);
        }
        if let Some(t) = &mut self.fabric.trace {
            *t = super::trace_mix(*t, now, pi as u64, &ev.frame);
        }
        self.hosts[h]
            .host
            .handle_frame(Instant::from_nanos(now), iface, &ev.frame);
        self.fabric.pool.push(ev.frame);
        self.poll_host(h);
    }

    fn fire(&mut self, h: usize) {
        if self.spin.0 == h && self.spin.1 == self.now {
            self.spin.2 += 1;
            assert!(
                self.spin.2 < TIMER_SPIN_LIMIT,
                "simulation livelock: host {h} keeps its timeout at or before {}",
                self.now()
            );
        } else {
            self.spin = (h, self.now, 0);
        }
        self.hosts[h]
            .host
            .handle_timeout(Instant::from_nanos(self.now));
        self.poll_host(h);
    }

    /// Processes every event up to and including `deadline`, then sets the clock to
    /// `deadline` (if it is later than now).
    pub fn run_until(&mut self, deadline: Instant) {
        while self.next_event().is_some_and(|t| t <= deadline) {
            self.step();
        }
        self.now = self.now.max(deadline.as_nanos());
    }

    /// [`Network::run_until`] `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now() + d);
    }

    /// Steps while `keep_going(self)` holds, checking it before every step. Stops with
    /// [`RunOutcome::Condition`] when it turns false, [`RunOutcome::Idle`] when nothing
    /// is left to do, or [`RunOutcome::TimeLimit`] (clock set to `limit`) when the next
    /// event is after `limit`.
    pub fn run_while(
        &mut self,
        limit: Instant,
        mut keep_going: impl FnMut(&Network) -> bool,
    ) -> RunOutcome {
        loop {
            if !keep_going(self) {
                return RunOutcome::Condition;
            }
            match self.next_event() {
                None => return RunOutcome::Idle,
                Some(t) if t > limit => {
                    self.now = self.now.max(limit.as_nanos());
                    return RunOutcome::TimeLimit;
                }
                Some(_) => {
                    self.step();
                }
            }
        }
    }

    /// Steps until nothing is in flight and no host has a timeout ([`RunOutcome::Idle`])
    /// or the next event is after `limit` ([`RunOutcome::TimeLimit`]).
    pub fn run_until_idle(&mut self, limit: Instant) -> RunOutcome {
        self.run_while(limit, |_| true)
    }
}
