//! The ARP cache (RFC 826) with resolution, retries and a short queue per neighbour.
//!
//! An entry is *incomplete* while we resolve it (requests every `retrans_time`, at most
//! `max_probes`, frames queued up to a byte limit), *reachable* for `reachable_time` after a reply,
//! then *stale*: still used, while a request re-validates it (as Linux's STALE/PROBE
//! states, so a long transfer does not stall when an entry ages). A stale entry that
//! gets no answer after `max_probes` requests is removed; an incomplete one drops its
//! queue.

use core::net::Ipv4Addr;
use core::time::Duration;
use std::collections::HashMap;

use super::counters::ArpMib;
use crate::time::Instant;
use crate::wire::ethernet::EthernetAddress;

/// ARP timing and queueing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpConfig {
    /// How long a reply keeps an entry reachable (Linux `base_reachable_time`, 30 s).
    pub reachable_time: Duration,
    /// Time between requests (Linux `retrans_time`, 1 s).
    pub retrans_time: Duration,
    /// Requests before giving up (Linux `mcast_solicit`, 3).
    pub max_probes: u8,
    /// Bytes of frames queued per unresolved neighbour; beyond that the newest is
    /// dropped (Linux `unres_qlen_bytes`, 212992).
    pub queue_bytes: usize,
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            reachable_time: Duration::from_secs(30),
            retrans_time: Duration::from_secs(1),
            max_probes: 3,
            queue_bytes: 212_992,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Incomplete { next_probe: Instant, probes: u8 },
    Reachable { until: Instant },
    Stale { next_probe: Instant, probes: u8 },
}

#[derive(Debug)]
struct Entry {
    mac: EthernetAddress,
    iface: usize,
    state: State,
    queue: Vec<Vec<u8>>,
}

/// A request to send: who-has `target`, on `iface`, to `unicast` or broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Interface to send on.
    pub iface: usize,
    /// The address to resolve.
    pub target: Ipv4Addr,
    /// Unicast to the known MAC (re-validation), or `None` to broadcast.
    pub unicast: Option<EthernetAddress>,
}

/// The neighbour cache.
#[derive(Debug)]
pub struct ArpCache {
    cfg: ArpConfig,
    /// Keyed by interface and address: the same address can be reached on two
    /// interfaces at two MACs (a weak-host peer answers for all its addresses on
    /// every link), as Linux keeps one neighbour table per device.
    entries: HashMap<(usize, Ipv4Addr), Entry>,
    /// The earliest request due (kept current on every change, so the per-frame
    /// [`poll_timeout`](Self::poll_timeout) does not scan the table).
    next: Option<Instant>,
}

impl ArpCache {
    /// An empty cache.
    pub fn new(cfg: ArpConfig) -> ArpCache {
        ArpCache {
            cfg,
            entries: HashMap::new(),
            next: None,
        }
    }

    /// The MAC of `ip` on `iface` if known (reachable or stale). A reachable entry past
    /// its time turns stale and asks for a re-validation request.
    pub fn lookup(&mut self, now: Instant, iface: usize, ip: Ipv4Addr) -> Option<EthernetAddress> {
        let e = self.entries.get_mut(&(iface, ip))?;
        match e.state {
            State::Incomplete { .. } => None,
            State::Reachable { until } => {
                if now >= until {
                    e.state = State::Stale {
                        next_probe: now,
                        probes: 0,
                    };
                    self.next = Some(self.next.map_or(now, |n| n.min(now)));
                }
                Some(e.mac)
            }
            State::Stale { .. } => Some(e.mac),
        }
    }

    /// Whether a resolution of `ip` on `iface` is under way.
    pub fn is_pending(&self, iface: usize, ip: Ipv4Addr) -> bool {
        matches!(
            self.entries.get(&(iface, ip)).map(|e| e.state),
            Some(State::Incomplete { .. })
        )
    }

    /// Queues `frame` (a full Ethernet frame whose destination MAC is patched on
    /// resolution) until `ip` resolves, starting the resolution on `iface` if needed.
    /// Returns false when the frame was dropped because the queue is full.
    pub fn enqueue(
        &mut self,
        now: Instant,
        iface: usize,
        ip: Ipv4Addr,
        frame: &[u8],
        spare: &mut Vec<Vec<u8>>,
    ) -> bool {
        let e = self.entries.entry((iface, ip)).or_insert_with(|| Entry {
            mac: EthernetAddress([0; 6]),
            iface,
            state: State::Incomplete {
                next_probe: now,
                probes: 0,
            },
            queue: Vec::new(),
        });
        if let State::Incomplete { next_probe, .. } = e.state {
            self.next = Some(self.next.map_or(next_probe, |n| n.min(next_probe)));
        }
        let queued: usize = e.queue.iter().map(Vec::len).sum();
        if queued + frame.len() > self.cfg.queue_bytes {
            return false;
        }
        let mut b = spare.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(frame);
        e.queue.push(b);
        true
    }

    /// Learns `ip` is at `mac` (a reply, or a request to us: RFC 826's merge). With
    /// `create` false only an existing entry is updated. Frames that waited for it are
    /// moved to `ready` as (interface, frame).
    pub fn update(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        mac: EthernetAddress,
        iface: usize,
        create: bool,
        ready: &mut Vec<(usize, Vec<u8>)>,
    ) {
        let until = now + self.cfg.reachable_time;
        match self.entries.get_mut(&(iface, ip)) {
            Some(e) => {
                let was_waiting = !matches!(e.state, State::Reachable { .. });
                e.mac = mac;
                e.iface = iface;
                e.state = State::Reachable { until };
                for f in e.queue.drain(..) {
                    ready.push((iface, f));
                }
                if was_waiting {
                    self.next = self.scan_next();
                }
            }
            None if create => {
                self.entries.insert(
                    (iface, ip),
                    Entry {
                        mac,
                        iface,
                        state: State::Reachable { until },
                        queue: Vec::new(),
                    },
                );
            }
            None => {}
        }
    }

    /// When a request is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    fn scan_next(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| match e.state {
                State::Incomplete { next_probe, .. } | State::Stale { next_probe, .. } => {
                    Some(next_probe)
                }
                State::Reachable { .. } => None,
            })
            .min()
    }

    /// Sends due requests (into `probes`), gives up on neighbours that did not answer
    /// (their queued frames go to `dropped`).
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        probes: &mut Vec<Probe>,
        dropped: &mut Vec<Vec<u8>>,
        mib: &mut ArpMib,
    ) {
        let cfg = self.cfg;
        self.entries.retain(|&(_, ip), e| {
            let (next, n, unicast) = match &mut e.state {
                State::Incomplete { next_probe, probes } => (next_probe, probes, None),
                State::Stale { next_probe, probes } => (next_probe, probes, Some(e.mac)),
                State::Reachable { .. } => return true,
            };
            if *next > now {
                return true;
            }
            if *n >= cfg.max_probes {
                mib.failed += 1;
                mib.unresolved_drops += e.queue.len() as u64;
                dropped.append(&mut e.queue);
                return false;
            }
            *n += 1;
            *next = now + cfg.retrans_time;
            probes.push(Probe {
                iface: e.iface,
                target: ip,
                unicast,
            });
            true
        });
        self.next = self.scan_next();
    }

    /// Number of entries (any state).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_queues_retries_and_gives_up() {
        let mut c = ArpCache::new(ArpConfig {
            queue_bytes: 40,
            ..ArpConfig::default()
        });
        let ip: Ipv4Addr = "10.0.0.2".parse().unwrap();
        let mac = EthernetAddress([2, 0, 0, 0, 0, 2]);
        let t0 = Instant::from_secs(1);
        let mut spare = Vec::new();
        assert_eq!(c.lookup(t0, 0, ip), None);
        for _ in 0..8 {
            assert!(c.enqueue(t0, 0, ip, b"frame", &mut spare));
        }
        assert!(!c.enqueue(t0, 0, ip, b"frame", &mut spare), "queue bounded");
        assert_eq!(c.poll_timeout(), Some(t0));
        let (mut probes, mut dropped, mut mib) = (Vec::new(), Vec::new(), ArpMib::default());
        let mut t = t0;
        for i in 0..3 {
            c.handle_timeout(t, &mut probes, &mut dropped, &mut mib);
            assert_eq!(probes.len(), i + 1);
            t = c.poll_timeout().unwrap();
            assert_eq!(t, t0 + Duration::from_secs(i as u64 + 1));
        }
        c.handle_timeout(t, &mut probes, &mut dropped, &mut mib);
        assert_eq!((probes.len(), dropped.len(), mib.failed), (3, 8, 1));
        assert!(c.is_empty());

        // A reply releases the queue and makes the entry reachable, then stale.
        let mut ready = Vec::new();
        assert!(c.enqueue(t, 1, ip, b"x", &mut spare));
        c.update(t, ip, mac, 1, false, &mut ready);
        assert_eq!(ready.len(), 1);
        assert_eq!(c.lookup(t, 1, ip), Some(mac));
        assert_eq!(c.poll_timeout(), None);
        let later = t + Duration::from_secs(31);
        assert_eq!(
            c.lookup(later, 1, ip),
            Some(mac),
            "stale entries are still used"
        );
        assert_eq!(c.poll_timeout(), Some(later));
        probes.clear();
        c.handle_timeout(later, &mut probes, &mut dropped, &mut mib);
        assert_eq!(probes[0].unicast, Some(mac));
    }

    #[test]
    fn one_address_is_resolved_per_interface() {
        // A weak-host peer answers for its address on two links with two MACs.
        let mut c = ArpCache::new(ArpConfig::default());
        let ip: Ipv4Addr = "10.0.1.1".parse().unwrap();
        let (m0, m1) = (
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            EthernetAddress([2, 0, 0, 0, 0, 2]),
        );
        let t = Instant::from_secs(1);
        let mut ready = Vec::new();
        c.update(t, ip, m0, 0, true, &mut ready);
        assert_eq!(c.lookup(t, 0, ip), Some(m0));
        // Not known on interface 1: it must be resolved there.
        assert_eq!(c.lookup(t, 1, ip), None);
        let mut spare = Vec::new();
        assert!(c.enqueue(t, 1, ip, b"syn", &mut spare));
        assert!(c.is_pending(1, ip) && !c.is_pending(0, ip));
        let (mut probes, mut dropped, mut mib) = (Vec::new(), Vec::new(), ArpMib::default());
        c.handle_timeout(t, &mut probes, &mut dropped, &mut mib);
        assert_eq!(probes.len(), 1);
        assert_eq!((probes[0].iface, probes[0].target), (1, ip));
        c.update(t, ip, m1, 1, false, &mut ready);
        assert_eq!(ready, vec![(1, b"syn".to_vec())]);
        assert_eq!(c.lookup(t, 1, ip), Some(m1));
        assert_eq!(c.lookup(t, 0, ip), Some(m0));
    }
}
