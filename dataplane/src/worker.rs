//! The poll loop of one worker lcore (feature `dpdk`).
//!
//! A worker owns one RX/TX queue on each of its ports and one sans-IO frame host (a
//! [`FrameHost`]: the host stack with its connections and applications). Each
//! iteration of [`Worker::poll`] reads the clock once (the TSC), receives a burst on
//! every port and hands each frame to the host straight from the mbuf (no copy before
//! the stack), fires the host's timer when due, and sends what the host emits in one
//! burst per port. Nothing here allocates from the heap per packet: mbufs come from the
//! pool, and the burst vectors are reused.
//!
//! The same [`FrameHost`] contract drives the hosts in the simulator, so whatever runs
//! here was first proven there in virtual time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::nic::dpdk::{rdtsc, Mbuf, Mempool, Port};
use crate::nic::FrameHost;
use crate::time::Instant;

/// Frames per RX burst (DPDK's usual 32).
pub const BURST: usize = 32;

/// Turns TSC readings into [`Instant`]s counted from the clock's creation.
#[derive(Debug, Clone, Copy)]
pub struct TscClock {
    base: u64,
    hz: u64,
}

impl TscClock {
    /// A clock that reads zero now; `hz` is the TSC frequency (`Eal::tsc_hz`).
    pub fn new(hz: u64) -> TscClock {
        TscClock {
            base: rdtsc(),
            hz: hz.max(1),
        }
    }

    /// The time now.
    pub fn now(&self) -> Instant {
        let ticks = rdtsc().saturating_sub(self.base) as u128;
        Instant::from_nanos((ticks * 1_000_000_000 / self.hz as u128) as u64)
    }
}

/// What a worker counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Loop iterations.
    pub polls: u64,
    /// Frames received and handed to the host.
    pub rx_frames: u64,
    /// Frames the host emitted and the port accepted.
    pub tx_frames: u64,
    /// Frames the host emitted that found no mbuf (pool empty) or did not fit one.
    pub tx_no_mbuf: u64,
    /// Frames the port did not take after retries (TX ring full).
    pub tx_dropped: u64,
    /// Chained (multi-segment) mbufs received, which the host cannot see whole: dropped.
    pub rx_chained: u64,
}

/// One worker: ports (one queue each), a mempool for transmit, and its host.
#[derive(Debug)]
pub struct Worker<H: FrameHost> {
    host: H,
    ports: Vec<Arc<Port>>,
    queue: u16,
    pool: Arc<Mempool>,
    clock: TscClock,
    rx: Vec<Mbuf>,
    tx: Vec<Vec<Mbuf>>,
    stats: WorkerStats,
}

impl<H: FrameHost> Worker<H> {
    /// A worker serving queue `queue` of `ports` (the host's interface `i` is
    /// `ports[i]`), transmitting from `pool`.
    pub fn new(
        host: H,
        ports: Vec<Arc<Port>>,
        queue: u16,
        pool: Arc<Mempool>,
        clock: TscClock,
    ) -> Self {
        let n = ports.len();
        Worker {
            host,
            ports,
            queue,
            pool,
            clock,
            rx: Vec::with_capacity(BURST),
            tx: (0..n).map(|_| Vec::with_capacity(4 * BURST)).collect(),
            stats: WorkerStats::default(),
        }
    }

    /// The host.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The host, mutably (to start connections, read results).
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    /// What the worker counted.
    pub fn stats(&self) -> WorkerStats {
        self.stats
    }

    /// The clock the worker reads.
    pub fn clock(&self) -> TscClock {
        self.clock
    }

    /// Consumes the worker, returning its host.
    pub fn into_host(self) -> H {
        self.host
    }

    /// One iteration of the loop. Returns the number of frames moved (0 when idle).
    pub fn poll(&mut self) -> usize {
        self.stats.polls += 1;
        let now = self.clock.now();
        let mut moved = 0;
        for (iface, port) in self.ports.iter().enumerate() {
            let n = port.rx_burst(self.queue, &mut self.rx);
            if n == 0 {
                continue;
            }
            moved += n;
            for m in self.rx.drain(..) {
                if m.is_chained() {
                    self.stats.rx_chained += 1;
                    continue;
                }
                self.host.handle_frame(now, iface, m.data());
                self.stats.rx_frames += 1;
            }
        }
        if self.host.poll_timeout().is_some_and(|t| t <= now) {
            self.host.handle_timeout(now);
        }
        moved += self.transmit(now);
        moved
    }

    /// Asks the host for everything it has to send and bursts it out.
    fn transmit(&mut self, now: Instant) -> usize {
        let pool = &self.pool;
        let tx = &mut self.tx;
        let stats = &mut self.stats;
        self.host.poll_transmit(now, &mut |iface, frame| {
            let Some(q) = tx.get_mut(iface) else {
                return;
            };
            let Some(mut m) = pool.alloc() else {
                stats.tx_no_mbuf += 1;
                return;
            };
            match u16::try_from(frame.len())
                .ok()
                .and_then(|len| m.append(len))
            {
                Some(d) => {
                    d.copy_from_slice(frame);
                    q.push(m);
                }
                None => stats.tx_no_mbuf += 1,
            }
        });
        let mut sent = 0;
        for (iface, q) in self.tx.iter_mut().enumerate() {
            let mut tries = 0;
            while !q.is_empty() && tries < 64 {
                let n = self.ports[iface].tx_burst(self.queue, q);
                sent += n;
                if n == 0 {
                    tries += 1;
                    core::hint::spin_loop();
                }
            }
            if !q.is_empty() {
                self.stats.tx_dropped += q.len() as u64;
                q.clear();
            }
        }
        self.stats.tx_frames += sent as u64;
        sent
    }

    /// Polls until `stop` is set. Between iterations `each` sees the host and the time
    /// (to start work or collect results); when it returns `false` the loop ends too.
    pub fn run(&mut self, stop: &AtomicBool, mut each: impl FnMut(&mut H, Instant) -> bool) {
        while !stop.load(Ordering::Relaxed) {
            self.poll();
            let now = self.clock.now();
            if !each(&mut self.host, now) {
                break;
            }
        }
    }
}
