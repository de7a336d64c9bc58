//! The host-level stack: interfaces, ARP, IPv4 framing, connection demultiplexing,
//! listeners with backlogs, ISNs (RFC 6528) and TIME_WAIT handling, sans-IO.
//!
//! A [`Stack`] is one host's TCP/IPv4-over-Ethernet endpoint. It is driven like every
//! sans-IO object in the crate: frames in through [`Stack::handle_frame`], frames out
//! through [`Stack::poll_transmit`], time through [`Stack::poll_timeout`] and
//! [`Stack::handle_timeout`]; the application side is [`Stack::connect`],
//! [`Stack::listen`], [`Stack::accept`], [`Stack::send`], [`Stack::recv`],
//! [`Stack::shutdown`], [`Stack::close`], [`Stack::abort`] and [`Stack::poll_event`].
//!
//! | module | what it does |
//! | --- | --- |
//! | [`iface`] | interfaces (MAC, addresses with prefixes, gateway), routing, weak-host checks |
//! | [`arp`] | the neighbour cache: resolution with retries, a short queue, re-validation |
//! | [`demux`] | the 4-tuple and the keyed hash of the connection table |
//! | [`isn`] | RFC 6528 ISNs, timestamp offsets, RFC 6056 port offsets |
//! | [`counters`] | `Ip:`, `Tcp:`, `TcpExt:` counters under their Linux names |
//! | [`transport`] | the [`Transport`]/[`Opener`] seam between the stack and a connection |
//!
//! # Receive path (per frame, no allocation)
//!
//! Ethernet (our MAC or broadcast) -> ARP or IPv4. IPv4: header checksum
//! (RFC 1122 §3.2.1.2), fragments dropped and counted (`ReasmFails`: we send with DF
//! and do not reassemble), destination must be one of our addresses on any interface
//! (weak host). TCP: the checksum is verified (`InCsumErrors`, `InErrs`), the segment
//! parsed once into a [`TcpRepr`](crate::wire::tcp::TcpRepr) borrowing the frame, the
//! 4-tuple looked up in a `HashMap` filled when the connection was created, and the
//! segment handed to the connection. Otherwise a listener on the port gets SYNs (backlog
//! checks as Linux: `ListenOverflows`/`ListenDrops`); anything else draws the RFC 9293
//! §3.10.7.1 RST (never for a RST).
//!
//! # Send path
//!
//! Connections touched by input, timers or the application are marked dirty;
//! `poll_transmit` drains each dirty one, wraps its segments in IPv4 and Ethernet in one
//! reused buffer and hands them to `emit`. The next hop comes from the route fixed when
//! the connection was created and the ARP cache; while a neighbour resolves, its frames
//! wait in a queue bounded in bytes (Linux `unres_qlen_bytes`).
//!
//! # Timers
//!
//! A binary heap of `(deadline, connection)` with lazy updates: a deadline that moves
//! earlier pushes a new entry (the old one is discarded when it reaches the top); one
//! that moves later (the retransmission timer on every ACK) keeps its entry, which fires
//! early and re-arms. The heap holds about one entry per connection and
//! [`Stack::poll_timeout`] may wake the host a little early, never late.
//!
//! # The MPTCP seam
//!
//! The connection table does not hold `TcpSocket`s but `O::Conn` for an [`Opener`] `O`
//! (default [`TcpOpener`], whose connections are bare `TcpSocket`s). An MPTCP subflow
//! layer implements [`Transport`] around a `TcpSocket`: it sees every arriving segment's
//! options before the socket does (its `handle_segment`), adds options to every segment
//! the socket produces (its `poll_transmit`), and its [`Opener::accept_syn`] intercepts
//! SYNs carrying MP_CAPABLE or MP_JOIN at a listener. [`Stack::connect_with`] opens a
//! connection the caller builds (an MP_JOIN subflow with its token and address id), from
//! a chosen source address, which routes out of that address's interface. See
//! [`transport`].
//!
//! # Connection lifetime
//!
//! A connection from [`Stack::connect`] or [`Stack::accept`] belongs to the
//! application until [`Stack::close`] (graceful, the connection lingers through FIN and
//! TIME_WAIT) or [`Stack::abort`]; a connection that closes on its own (reset, timeout)
//! stays readable for its error until the application closes it. Embryonic and
//! not-yet-accepted connections belong to their listener. A connection's slot is freed
//! when it is CLOSED and nobody holds it; its handle then goes stale (slots carry a
//! generation, so a handle never names a later connection).
//!
//! # Not implemented
//!
//! IPv6, ICMP (no echo, no path-MTU discovery), IP reassembly, sending VLAN tags
//! (tagged frames are accepted, replies go untagged), SYN cookies, a route table beyond
//! on-link prefixes and one default gateway per interface.

pub mod arp;
pub mod counters;
pub mod demux;
pub mod iface;
pub mod isn;
pub mod transport;

mod input;
mod output;

#[cfg(test)]
mod tests;

use core::cmp::Reverse;
use core::fmt;
use core::net::Ipv4Addr;
use std::collections::{BinaryHeap, HashMap, VecDeque};

pub use arp::{ArpCache, ArpConfig};
pub use counters::Counters;
pub use demux::FourTuple;
pub use iface::{Interface, Ipv4Cidr, Route};
pub use isn::IsnGenerator;
pub use transport::{OpenError, Opener, TcpOpener, Transport};

use self::arp::Probe;
use self::demux::{TupleHash, TupleMap};
use crate::seq::SubflowSeq;
use crate::tcp::socket::{State, TcpError};
use crate::tcp::{Instant, TcpConfig};
use crate::wire::arp::ArpRepr;
use crate::wire::ethernet::EthernetAddress;

/// Stack-wide settings.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Configuration of every connection (TIME_WAIT length included: `tcp.time_wait`).
    pub tcp: TcpConfig,
    /// Secret of the ISN, timestamp-offset and port hashes and of the demux hash
    /// (RFC 6528 §3: random, per boot).
    pub secret: [u8; 32],
    /// ARP timing.
    pub arp: ArpConfig,
    /// Ephemeral ports for `connect` (Linux `ip_local_port_range`: 32768-60999).
    pub ephemeral_ports: (u16, u16),
    /// TTL of our packets (Linux `ip_default_ttl`, 64).
    pub ttl: u8,
    /// Stack-generated frames (ARP, RSTs) waiting for `poll_transmit`; more are dropped.
    pub control_queue: usize,
    /// Linux `tcp_tw_reuse=1`: when every ephemeral port towards a destination is taken,
    /// `connect` may take over a TIME_WAIT tuple that has been waiting at least 1 s
    /// and used timestamps (the peer's PAWS then rejects old duplicates); the new ISN
    /// is set above the old connection's. Off by default (Linux's default only allows
    /// it on loopback).
    pub tw_reuse: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            tcp: TcpConfig::default(),
            secret: [0x5a; 32],
            arp: ArpConfig::default(),
            ephemeral_ports: (32768, 60999),
            ttl: 64,
            control_queue: 256,
            tw_reuse: false,
        }
    }
}

/// A connection of a [`Stack`]. Stale handles (of a freed connection) are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnHandle {
    index: u32,
    gen: u32,
}

/// What happened, for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An active open completed.
    Connected(ConnHandle),
    /// A connection waits in the accept queue of `port`.
    Acceptable {
        /// The listening port.
        port: u16,
    },
    /// Data (or the end of the stream) became readable.
    Readable(ConnHandle),
    /// The send buffer has room again.
    Writable(ConnHandle),
    /// The connection reached CLOSED (see [`Stack::error`] for why).
    Closed(ConnHandle),
}

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StackError {
    /// No route to the destination.
    NoRoute,
    /// Every ephemeral port is in use towards this destination.
    NoFreePort,
    /// The 4-tuple or the listening port is taken.
    AddressInUse,
    /// The handle does not name a live connection.
    InvalidHandle,
    /// The connection could not be made.
    Open(OpenError),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::NoRoute => f.write_str("no route to host"),
            StackError::NoFreePort => f.write_str("no free ephemeral port"),
            StackError::AddressInUse => f.write_str("address in use"),
            StackError::InvalidHandle => f.write_str("invalid connection handle"),
            StackError::Open(e) => write!(f, "cannot open connection: {e:?}"),
        }
    }
}

impl std::error::Error for StackError {}

/// A listening port.
#[derive(Debug)]
struct Listener {
    backlog: usize,
    /// Connections in SYN_RECEIVED that came from this listener (the SYN queue).
    syn_recv: usize,
    /// Completed handshakes not yet accepted.
    accept: VecDeque<ConnHandle>,
}

impl Listener {
    // Linux `sk_acceptq_is_full` / `inet_csk_reqsk_queue_is_full`: full when the count
    // is *above* the backlog, so `listen(fd, n)` holds n+1.
    fn accept_full(&self) -> bool {
        self.accept.len() > self.backlog
    }
    fn syn_full(&self) -> bool {
        self.syn_recv > self.backlog
    }
}

/// One connection's entry in the table.
#[derive(Debug)]
struct Conn<C> {
    sock: C,
    tuple: FourTuple,
    route: Route,
    /// The state at the last [`Stack::update_conn`].
    state: State,
    /// Passive: the listening port it came from (SYN queue, then accept queue).
    listener: Option<u16>,
    /// The application holds the handle.
    owned: bool,
    /// In its listener's accept queue.
    queued: bool,
    /// Present in the demux table.
    in_table: bool,
    /// In the dirty list.
    dirty: bool,
    /// The deadline last pushed to the timer heap.
    timer_at: Option<Instant>,
    /// The newest TSval seen from the peer, for TIME_WAIT reuse (RFC 6191).
    peer_tsval: Option<u32>,
    readable: bool,
    writable: bool,
}

#[derive(Debug)]
struct Slot<C> {
    gen: u32,
    conn: Option<Conn<C>>,
}

/// A frame the stack itself sends.
#[derive(Debug, Clone, Copy)]
enum Control {
    Arp {
        iface: usize,
        dst_mac: EthernetAddress,
        arp: ArpRepr,
    },
    Rst {
        iface: usize,
        dst_mac: EthernetAddress,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ports: (u16, u16),
        seq: SubflowSeq,
        ack: Option<SubflowSeq>,
    },
}

/// A sans-IO TCP/IPv4 host. See the [module docs](self).
pub struct Stack<O: Opener = TcpOpener> {
    cfg: StackConfig,
    opener: O,
    ifaces: Vec<Interface>,
    arp: ArpCache,
    isn: IsnGenerator,
    table: TupleMap<u32>,
    slots: Vec<Slot<O::Conn>>,
    free: Vec<u32>,
    listeners: HashMap<u16, Listener>,
    dirty: Vec<u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    events: VecDeque<Event>,
    control: VecDeque<Control>,
    /// Frames released by an ARP reply, destination MAC already patched.
    ready: Vec<(usize, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
    probes: Vec<Probe>,
    tx: Vec<u8>,
    scratch: Vec<u8>,
    counters: Counters,
    port_counter: u32,
}

impl<O: Opener> fmt::Debug for Stack<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("ifaces", &self.ifaces)
            .field("connections", &self.table.len())
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

/// Largest frame we build: Ethernet + a 64 KiB IP packet.
const TX_BUF: usize = 14 + 65_535;

impl Stack<TcpOpener> {
    /// A plain-TCP stack with no interfaces.
    pub fn new(cfg: StackConfig) -> Stack<TcpOpener> {
        let opener = TcpOpener::new(cfg.tcp.clone());
        Stack::with_opener(cfg, opener)
    }
}

impl<O: Opener> Stack<O> {
    /// A stack whose connections `opener` makes (the MPTCP seam).
    pub fn with_opener(cfg: StackConfig, opener: O) -> Stack<O> {
        let key = u64::from_le_bytes([
            cfg.secret[0] ^ 0xa5,
            cfg.secret[1],
            cfg.secret[2],
            cfg.secret[3],
            cfg.secret[4],
            cfg.secret[5],
            cfg.secret[6],
            cfg.secret[7],
        ]);
        Stack {
            arp: ArpCache::new(cfg.arp),
            isn: IsnGenerator::new(cfg.secret),
            table: TupleMap::with_hasher(TupleHash::new(key)),
            slots: Vec::new(),
            free: Vec::new(),
            listeners: HashMap::new(),
            dirty: Vec::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            control: VecDeque::new(),
            ready: Vec::new(),
            spare: Vec::new(),
            probes: Vec::new(),
            tx: vec![0; TX_BUF],
            scratch: vec![0; 65_535],
            counters: Counters::default(),
            port_counter: 0,
            ifaces: Vec::new(),
            opener,
            cfg,
        }
    }

    /// Adds an interface; returns its index (the `iface` of frames in and out).
    pub fn add_interface(&mut self, iface: Interface) -> usize {
        self.ifaces.push(iface);
        self.ifaces.len() - 1
    }

    /// The interfaces.
    pub fn interfaces(&self) -> &[Interface] {
        &self.ifaces
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The ARP cache.
    pub fn arp_cache(&self) -> &ArpCache {
        &self.arp
    }

    /// The opener (for MPTCP: its token table and path manager hooks).
    pub fn opener_mut(&mut self) -> &mut O {
        &mut self.opener
    }

    /// Number of connections in the demux table (TIME_WAIT included).
    pub fn connection_count(&self) -> usize {
        self.table.len()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------- connections

    fn conn(&self, h: ConnHandle) -> Option<&Conn<O::Conn>> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.gen == h.gen)
            .and_then(|s| s.conn.as_ref())
    }

    fn conn_mut(&mut self, h: ConnHandle) -> Result<&mut Conn<O::Conn>, StackError> {
        self.slots
            .get_mut(h.index as usize)
            .filter(|s| s.gen == h.gen)
            .and_then(|s| s.conn.as_mut())
            .ok_or(StackError::InvalidHandle)
    }

    fn handle_of(&self, index: u32) -> ConnHandle {
        ConnHandle {
            index,
            gen: self.slots.get(index as usize).map_or(0, |s| s.gen),
        }
    }

    /// Puts a new connection in a slot and the demux table.
    fn insert(&mut self, conn: Conn<O::Conn>) -> u32 {
        let tuple = conn.tuple;
        let index = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    s.conn = Some(conn);
                }
                i
            }
            None => {
                self.slots.push(Slot {
                    gen: 0,
                    conn: Some(conn),
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.table.insert(tuple, index);
        index
    }

    /// Frees a slot (the connection is dropped, its handle goes stale).
    fn free_slot(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        if let Some(c) = slot.conn.take() {
            if c.in_table && self.table.get(&c.tuple) == Some(&index) {
                self.table.remove(&c.tuple);
            }
            slot.gen = slot.gen.wrapping_add(1);
            self.free.push(index);
        }
    }

    /// After anything touched connection `index`: state transitions (counters, events,
    /// queues), readiness events, the timer heap and (with `mark`) the dirty list.
    fn update_conn(&mut self, index: u32, mark: bool) {
        let handle = self.handle_of(index);
        let Stack {
            slots,
            listeners,
            events,
            counters,
            dirty,
            timers,
            table,
            ..
        } = self;
        let Some(c) = slots.get_mut(index as usize).and_then(|s| s.conn.as_mut()) else {
            return;
        };
        let old = c.state;
        let new = c.sock.state();
        if old != new {
            let estab = |s: State| matches!(s, State::Established | State::CloseWait);
            let t = &mut counters.tcp;
            if estab(new) && !estab(old) {
                t.curr_estab += 1;
            }
            if estab(old) && !estab(new) {
                t.curr_estab = t.curr_estab.saturating_sub(1);
                if new == State::Closed {
                    t.estab_resets += 1;
                }
            }
            let opening = matches!(old, State::SynSent | State::SynReceived);
            if opening && matches!(new, State::Closed | State::Listen) {
                t.attempt_fails += 1;
            }
            if old == State::TimeWait && new == State::Closed {
                counters.ext.time_waited += 1;
            }
            if old == State::SynReceived {
                if let Some(l) = c.listener.and_then(|p| listeners.get_mut(&p)) {
                    l.syn_recv = l.syn_recv.saturating_sub(1);
                }
            }
            if opening && new.is_synchronized() {
                match c.listener {
                    Some(port) => {
                        counters.tcp.passive_opens += 1;
                        if let Some(l) = listeners.get_mut(&port) {
                            l.accept.push_back(handle);
                            c.queued = true;
                            events.push_back(Event::Acceptable { port });
                        }
                    }
                    None => events.push_back(Event::Connected(handle)),
                }
            }
            if matches!(new, State::Closed | State::Listen) {
                if c.in_table {
                    table.remove(&c.tuple);
                    c.in_table = false;
                }
                if c.owned {
                    events.push_back(Event::Closed(handle));
                }
            }
            c.state = new;
        }
        if c.owned {
            let r = c.sock.can_recv() || c.sock.recv_finished();
            if r && !c.readable {
                events.push_back(Event::Readable(handle));
            }
            c.readable = r;
            let w = c.sock.can_send();
            if w && !c.writable && new.is_synchronized() {
                events.push_back(Event::Writable(handle));
            }
            c.writable = w;
        }
        // Lazy re-arming: an entry already in the heap that fires no later than the new
        // deadline stays (it fires early and re-arms), so a deadline pushed back on every
        // ACK costs no heap operation and the heap holds about one entry per connection.
        if let Some(t) = c.sock.poll_timeout() {
            if c.timer_at.is_none_or(|at| t < at) {
                c.timer_at = Some(t);
                timers.push(Reverse((t, index, handle.gen)));
            }
        }
        if mark && !c.dirty {
            c.dirty = true;
            dirty.push(index);
        }
    }

    /// Drops stale entries from the top of the timer heap.
    fn clean_timers(&mut self) {
        while let Some(&Reverse((t, i, gen))) = self.timers.peek() {
            let live = self
                .slots
                .get(i as usize)
                .filter(|s| s.gen == gen)
                .and_then(|s| s.conn.as_ref())
                .is_some_and(|c| c.timer_at == Some(t));
            if live {
                break;
            }
            self.timers.pop();
        }
    }

    /// A free ephemeral port towards `remote` (RFC 6056 §3.3.3), or with
    /// [`StackConfig::tw_reuse`] one whose TIME_WAIT may be taken over (then with the
    /// ISN the new connection must use).
    fn ephemeral_port(
        &mut self,
        now: Instant,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        remote_port: u16,
    ) -> Option<(u16, Option<SubflowSeq>)> {
        let (lo, hi) = self.cfg.ephemeral_ports;
        if hi < lo {
            return None;
        }
        let n = u32::from(hi - lo) + 1;
        let offset = self.isn.port_offset(local, remote, remote_port);
        let port_at =
            |i: u32, counter: u32| lo + (offset.wrapping_add(counter).wrapping_add(i) % n) as u16;
        for i in 0..n {
            let port = port_at(i, self.port_counter);
            let t = FourTuple::new(local, port, remote, remote_port);
            if !self.table.contains_key(&t) && !self.listeners.contains_key(&port) {
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Some((port, None));
            }
        }
        if !self.cfg.tw_reuse {
            return None;
        }
        let time_wait = self.cfg.tcp.time_wait;
        for i in 0..n {
            let port = port_at(i, self.port_counter);
            let t = FourTuple::new(local, port, remote, remote_port);
            let Some(&index) = self.table.get(&t) else {
                continue;
            };
            let Some(c) = self.slots.get(index as usize).and_then(|s| s.conn.as_ref()) else {
                continue;
            };
            // Linux tcp_twsk_unique: timestamps were in use and the TIME_WAIT is at
            // least a second old (its timer was armed for `time_wait` at entry).
            let entered = c.sock.poll_timeout().and_then(|d| d.checked_sub(time_wait));
            let old_enough = entered.is_some_and(|e| {
                now.saturating_duration_since(e) >= core::time::Duration::from_secs(1)
            });
            if c.state == State::TimeWait && c.peer_tsval.is_some() && old_enough {
                let iss = c.sock.snd_nxt() + 65_537usize;
                if c.owned {
                    let h = self.handle_of(index);
                    self.events.push_back(Event::Closed(h));
                }
                self.free_slot(index);
                self.counters.ext.tw_recycled += 1;
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Some((port, Some(iss)));
            }
        }
        None
    }

    /// Active open to `remote_addr:remote_port` from the routed source address and an
    /// ephemeral port.
    pub fn connect(
        &mut self,
        now: Instant,
        remote_addr: Ipv4Addr,
        remote_port: u16,
    ) -> Result<ConnHandle, StackError> {
        self.connect_from(now, None, 0, remote_addr, remote_port)
    }

    /// Active open from `local_addr` (or the routed source) and `local_port` (0: an
    /// ephemeral port).
    pub fn connect_from(
        &mut self,
        now: Instant,
        local_addr: Option<Ipv4Addr>,
        local_port: u16,
        remote_addr: Ipv4Addr,
        remote_port: u16,
    ) -> Result<ConnHandle, StackError> {
        self.connect_with(
            now,
            local_addr,
            local_port,
            remote_addr,
            remote_port,
            |opener, now, tuple, iss, ts| opener.connect(now, tuple, iss, ts),
        )
    }

    /// Active open whose connection `make` builds (instead of [`Opener::connect`]):
    /// for connections that need more than the tuple, such as an MPTCP subflow joining
    /// an existing connection. `make` gets the opener, the time, the tuple and the ISN
    /// and timestamp offset the stack chose, and returns a connection that has queued
    /// its SYN.
    pub fn connect_with(
        &mut self,
        now: Instant,
        local_addr: Option<Ipv4Addr>,
        local_port: u16,
        remote_addr: Ipv4Addr,
        remote_port: u16,
        make: impl FnOnce(&mut O, Instant, &FourTuple, SubflowSeq, u32) -> Result<O::Conn, OpenError>,
    ) -> Result<ConnHandle, StackError> {
        self.connect_with_dev(
            now,
            local_addr,
            local_port,
            remote_addr,
            remote_port,
            None,
            make,
        )
    }

    /// [`connect_with`](Self::connect_with) bound to interface `dev` (see
    /// [`iface::route_dev`]): what an MPTCP endpoint with a device asks for.
    #[allow(clippy::too_many_arguments)]
    pub fn connect_with_dev(
        &mut self,
        now: Instant,
        local_addr: Option<Ipv4Addr>,
        local_port: u16,
        remote_addr: Ipv4Addr,
        remote_port: u16,
        dev: Option<usize>,
        make: impl FnOnce(&mut O, Instant, &FourTuple, SubflowSeq, u32) -> Result<O::Conn, OpenError>,
    ) -> Result<ConnHandle, StackError> {
        let route = iface::route_dev(&self.ifaces, remote_addr, local_addr, dev)
            .ok_or(StackError::NoRoute)?;
        let (port, reuse_iss) = if local_port == 0 {
            self.ephemeral_port(now, route.src, remote_addr, remote_port)
                .ok_or(StackError::NoFreePort)?
        } else {
            (local_port, None)
        };
        let tuple = FourTuple::new(route.src, port, remote_addr, remote_port);
        if self.table.contains_key(&tuple) {
            return Err(StackError::AddressInUse);
        }
        let iss = reuse_iss.unwrap_or_else(|| {
            self.isn
                .isn(now, tuple.local_addr, port, remote_addr, remote_port)
        });
        let ts = self.isn.ts_offset(tuple.local_addr, remote_addr);
        let sock = make(&mut self.opener, now, &tuple, iss, ts).map_err(StackError::Open)?;
        self.counters.tcp.active_opens += 1;
        let index = self.insert(new_conn(sock, tuple, route, None, true));
        self.update_conn(index, true);
        Ok(self.handle_of(index))
    }

    /// Listens on `port` (any of our addresses) with an accept backlog of `backlog`.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<(), StackError> {
        if port == 0 || self.listeners.contains_key(&port) {
            return Err(StackError::AddressInUse);
        }
        self.listeners.insert(
            port,
            Listener {
                backlog,
                syn_recv: 0,
                accept: VecDeque::new(),
            },
        );
        Ok(())
    }

    /// Stops listening on `port`; connections not yet accepted are reset.
    pub fn unlisten(&mut self, port: u16) {
        if self.listeners.remove(&port).is_none() {
            return;
        }
        for i in 0..self.slots.len() as u32 {
            let hit = self.slots[i as usize]
                .conn
                .as_mut()
                .filter(|c| c.listener == Some(port) && !c.owned);
            if let Some(c) = hit {
                c.sock.abort();
                c.queued = false;
                self.update_conn(i, true);
            }
        }
    }

    /// The next connection of `port`'s accept queue.
    pub fn accept(&mut self, port: u16) -> Option<ConnHandle> {
        loop {
            let h = self.listeners.get_mut(&port)?.accept.pop_front()?;
            if let Ok(c) = self.conn_mut(h) {
                c.queued = false;
                c.owned = true;
                c.listener = None;
                self.update_conn(h.index, true);
                return Some(h);
            }
        }
    }

    /// Accept queue length of `port` (not yet accepted, handshake complete).
    pub fn accept_queue_len(&self, port: u16) -> usize {
        self.listeners.get(&port).map_or(0, |l| l.accept.len())
    }

    /// SYN queue length of `port` (handshakes in progress).
    pub fn syn_queue_len(&self, port: u16) -> usize {
        self.listeners.get(&port).map_or(0, |l| l.syn_recv)
    }

    /// Queues data; returns the bytes taken.
    pub fn send(&mut self, h: ConnHandle, data: &[u8]) -> Result<usize, StackError> {
        let n = self.conn_mut(h)?.sock.send(data);
        self.update_conn(h.index, true);
        Ok(n)
    }

    /// Reads received data; returns the bytes read (0: nothing now, see
    /// [`recv_finished`](Self::recv_finished) for the end of the stream).
    pub fn recv(&mut self, h: ConnHandle, buf: &mut [u8]) -> Result<usize, StackError> {
        let n = self.conn_mut(h)?.sock.recv(buf);
        self.update_conn(h.index, n > 0);
        Ok(n)
    }

    /// Half-close (FIN after the queued data).
    pub fn shutdown(&mut self, h: ConnHandle) -> Result<(), StackError> {
        self.conn_mut(h)?.sock.shutdown();
        self.update_conn(h.index, true);
        Ok(())
    }

    /// Gives the connection up gracefully: FIN, then it lingers (FIN_WAIT, TIME_WAIT)
    /// on its own. The handle still names it (for [`state`](Self::state)) until it is
    /// freed on reaching CLOSED; a freed handle is stale and is never reused.
    pub fn close(&mut self, now: Instant, h: ConnHandle) -> Result<(), StackError> {
        let c = self.conn_mut(h)?;
        if c.state == State::Closed {
            self.free_slot(h.index);
            return Ok(());
        }
        c.sock.release(now);
        c.owned = false;
        self.update_conn(h.index, true);
        Ok(())
    }

    /// Aborts: RST (in synchronized states), the connection is freed once the RST
    /// left.
    pub fn abort(&mut self, h: ConnHandle) -> Result<(), StackError> {
        let c = self.conn_mut(h)?;
        c.sock.abort();
        c.owned = false;
        self.update_conn(h.index, true);
        Ok(())
    }

    /// The connection's state, or `None` for a stale handle.
    pub fn state(&self, h: ConnHandle) -> Option<State> {
        self.conn(h).map(|c| c.sock.state())
    }

    /// Why the connection failed, if it did.
    pub fn error(&self, h: ConnHandle) -> Option<TcpError> {
        self.conn(h).and_then(|c| c.sock.error())
    }

    /// Whether `send` would take data.
    pub fn can_send(&self, h: ConnHandle) -> bool {
        self.conn(h).is_some_and(|c| c.sock.can_send())
    }

    /// Whether `recv` would return data.
    pub fn can_recv(&self, h: ConnHandle) -> bool {
        self.conn(h).is_some_and(|c| c.sock.can_recv())
    }

    /// The peer closed and all its data was read.
    pub fn recv_finished(&self, h: ConnHandle) -> bool {
        self.conn(h).is_some_and(|c| c.sock.recv_finished())
    }

    /// The connection's 4-tuple.
    pub fn tuple(&self, h: ConnHandle) -> Option<FourTuple> {
        self.conn(h).map(|c| c.tuple)
    }

    /// The connection object (to read its statistics).
    pub fn transport(&self, h: ConnHandle) -> Option<&O::Conn> {
        self.conn(h).map(|c| &c.sock)
    }

    /// The connection object, mutably (the stack re-reads its state afterwards).
    pub fn with_transport<R>(
        &mut self,
        h: ConnHandle,
        f: impl FnOnce(&mut O::Conn) -> R,
    ) -> Result<R, StackError> {
        let r = f(&mut self.conn_mut(h)?.sock);
        self.update_conn(h.index, true);
        Ok(r)
    }

    /// The handle of the connection on `tuple`, if any (TIME_WAIT included).
    pub fn lookup(&self, tuple: &FourTuple) -> Option<ConnHandle> {
        self.table.get(tuple).map(|&i| self.handle_of(i))
    }

    // ------------------------------------------------------------- time

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn = self.timers.peek().map(|Reverse((t, _, _))| *t);
        match (conn, self.arp.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the connection and ARP timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // A connection that re-arms at or before `now` runs again only within this bound
        // (a misbehaving Transport cannot spin the host).
        let mut budget = self.timers.len() * 2 + 64;
        while let Some(&Reverse((t, i, gen))) = self.timers.peek() {
            if t > now || budget == 0 {
                break;
            }
            budget -= 1;
            self.timers.pop();
            let Some(c) = self
                .slots
                .get_mut(i as usize)
                .filter(|s| s.gen == gen)
                .and_then(|s| s.conn.as_mut())
            else {
                continue;
            };
            if c.timer_at != Some(t) {
                continue;
            }
            c.timer_at = None;
            if c.sock.poll_timeout().is_some_and(|d| d <= now) {
                c.sock.handle_timeout(now);
                self.update_conn(i, true);
            } else {
                // An early entry (the deadline moved later): just re-arm.
                self.update_conn(i, false);
            }
        }
        self.arp_timeouts(now);
        self.clean_timers();
    }
}

fn new_conn<C>(
    sock: C,
    tuple: FourTuple,
    route: Route,
    listener: Option<u16>,
    owned: bool,
) -> Conn<C>
where
    C: Transport,
{
    Conn {
        state: sock.state(),
        sock,
        tuple,
        route,
        listener,
        owned,
        queued: false,
        in_table: true,
        dirty: false,
        timer_at: None,
        peer_tsval: None,
        readable: false,
        writable: false,
    }
}
