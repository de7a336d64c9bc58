//! The in-kernel path manager's semantics (Linux `net/mptcp/pm_kernel.c`, `pm.c`), sans-IO.
//!
//! [`Endpoints`] is the host-wide configuration that `ip mptcp endpoint` / `ip mptcp
//! limits` edit: addresses with flags `signal`, `subflow`, `backup`, `fullmesh`, an
//! optional port and device (here: a DPDK port index), and the limits `subflows` (default
//! 2) and `add_addr_accepted` (default 0), each at most [`PM_ADDR_MAX`].
//!
//! [`PmConn`] is one connection's path-manager state. It gets inputs (`handle_*`: the
//! connection became fully established, a subflow came or went, ADD_ADDR / REMOVE_ADDR /
//! MP_PRIO arrived, an endpoint changed, time passed) and queues
//! - [`PmAction`]s for the connection layer (`poll_action`): send an ADD_ADDR (with its
//!   HMAC) or its echo, a REMOVE_ADDR, an MP_PRIO; open a subflow (an MP_JOIN); close one;
//! - [`PmEvent`]s like `ip mptcp monitor` prints (`poll_event`).
//!
//! What it does, following Linux:
//! - on fully established, on every established subflow, on an ADD_ADDR echo and when an
//!   announcement gave up: announce the next `signal` endpoint (one per step, each
//!   retransmitted every `add_addr_timeout` until echoed, at most
//!   [`ADD_ADDR_RETRANS_MAX`] times), then open subflows from `subflow` endpoints to the
//!   peer's initial address (to every known peer address for `fullmesh`) while
//!   `subflows` allows;
//! - on an ADD_ADDR: echo it, and if `add_addr_accepted` allows, open a subflow to it;
//! - on a REMOVE_ADDR: close the subflows to that peer address ID;
//! - on an endpoint deleted: REMOVE_ADDR if it was announced, close its subflows;
//! - on an endpoint's backup flag changed: MP_PRIO on its subflows.
//!
//! The address ID 0 always names the initial subflow's address (RFC 8684 §3.4.1).

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::crypto;
use crate::mptcp::mib::{Mib, MibCounters};
use crate::time::{Duration, Instant};
use crate::wire::mptcp::{AddAddr, MpPrio, MptcpOption, RemoveAddr, Version};

/// At most this many endpoints, and the largest value of each limit (Linux
/// `MPTCP_PM_ADDR_MAX`).
pub const PM_ADDR_MAX: usize = 8;

/// ADD_ADDR retransmissions before giving up on an echo (Linux `ADD_ADDR_RETRANS_MAX`).
pub const ADD_ADDR_RETRANS_MAX: u8 = 3;

/// Default `net.mptcp.add_addr_timeout` (Linux: `TCP_RTO_MAX`, 120 s).
pub const ADD_ADDR_TIMEOUT: Duration = Duration::from_secs(120);

/// Endpoint flags, with Linux's `MPTCP_PM_ADDR_FLAG_*` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EndpointFlags(pub u8);

impl EndpointFlags {
    /// Announce this address to peers (ADD_ADDR).
    pub const SIGNAL: EndpointFlags = EndpointFlags(1 << 0);
    /// Open subflows from this address.
    pub const SUBFLOW: EndpointFlags = EndpointFlags(1 << 1);
    /// Subflows on this address are backups.
    pub const BACKUP: EndpointFlags = EndpointFlags(1 << 2);
    /// Open subflows from this address to every known peer address.
    pub const FULLMESH: EndpointFlags = EndpointFlags(1 << 3);
    /// Made by the path manager for an address that was not configured.
    pub const IMPLICIT: EndpointFlags = EndpointFlags(1 << 4);

    pub fn contains(self, other: EndpointFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for EndpointFlags {
    type Output = EndpointFlags;
    fn bitor(self, rhs: EndpointFlags) -> EndpointFlags {
        EndpointFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for EndpointFlags {
    /// As `ip mptcp endpoint show` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (EndpointFlags::SIGNAL, "signal"),
            (EndpointFlags::SUBFLOW, "subflow"),
            (EndpointFlags::BACKUP, "backup"),
            (EndpointFlags::FULLMESH, "fullmesh"),
            (EndpointFlags::IMPLICIT, "implicit"),
        ];
        let mut first = true;
        for (flag, name) in names {
            if self.contains(flag) {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// One configured local address (`ip mptcp endpoint add ADDR [port P] [dev D] id N FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Address ID, 1..=255 (0 is the initial subflow's address and is never configured).
    pub id: u8,
    pub addr: IpAddr,
    /// Only for a `signal` endpoint without `subflow` (a listener on that port).
    pub port: Option<u16>,
    pub flags: EndpointFlags,
    /// The device (DPDK port index) subflows from this address use.
    pub dev: Option<u16>,
}

/// `ip mptcp limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Additional subflows per connection (both directions together).
    pub subflows: u8,
    /// ADD_ADDRs accepted (used to open subflows) per connection.
    pub add_addr_accepted: u8,
}

impl Default for Limits {
    /// Linux's defaults: `subflows 2 add_addr_accepted 0`.
    fn default() -> Self {
        Limits {
            subflows: 2,
            add_addr_accepted: 0,
        }
    }
}

/// Errors of the endpoint/limit configuration (Linux's netlink errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PmError {
    /// Already [`PM_ADDR_MAX`] endpoints (`ERANGE`).
    TooManyEndpoints,
    /// The ID is in use (`EBUSY`).
    IdInUse,
    /// The address is already an endpoint (`EEXIST`).
    Duplicate,
    /// No endpoint with that ID (`EINVAL`).
    NotFound,
    /// A port needs `signal` and not `subflow`; `signal` and `fullmesh` exclude each other;
    /// `implicit` cannot be configured (`EINVAL`).
    BadFlags,
    /// A limit above [`PM_ADDR_MAX`] (`EINVAL`).
    LimitTooHigh,
    /// Every address ID is taken.
    NoFreeId,
}

impl fmt::Display for PmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PmError::TooManyEndpoints => "too many endpoints",
            PmError::IdInUse => "endpoint id in use",
            PmError::Duplicate => "duplicate endpoint address",
            PmError::NotFound => "no such endpoint",
            PmError::BadFlags => "invalid endpoint flags",
            PmError::LimitTooHigh => "limit greater than maximum (8)",
            PmError::NoFreeId => "no free endpoint id",
        })
    }
}

impl std::error::Error for PmError {}

/// The host's endpoints and limits.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    list: Vec<Endpoint>,
    limits: Limits,
    /// ADD_ADDR retransmission interval (`net.mptcp.add_addr_timeout`).
    add_addr_timeout: Option<Duration>,
}

impl Endpoints {
    pub fn new() -> Self {
        Endpoints::default()
    }

    /// Adds an endpoint. `id == 0` picks the lowest free ID. Returns the ID.
    pub fn add(&mut self, mut ep: Endpoint) -> Result<u8, PmError> {
        let f = ep.flags;
        if f.contains(EndpointFlags::IMPLICIT)
            || (f.contains(EndpointFlags::SIGNAL) && f.contains(EndpointFlags::FULLMESH))
        {
            return Err(PmError::BadFlags);
        }
        let signal_only = f.contains(EndpointFlags::SIGNAL) && !f.contains(EndpointFlags::SUBFLOW);
        if ep.port.is_some() && !signal_only {
            return Err(PmError::BadFlags);
        }
        self.insert(&mut ep)
    }

    fn insert(&mut self, ep: &mut Endpoint) -> Result<u8, PmError> {
        if self.list.len() >= PM_ADDR_MAX {
            return Err(PmError::TooManyEndpoints);
        }
        if ep.id != 0 && self.get(ep.id).is_some() {
            return Err(PmError::IdInUse);
        }
        if self.list.iter().any(|e| {
            e.addr == ep.addr && (e.port == ep.port || e.port.is_none() || ep.port.is_none())
        }) {
            return Err(PmError::Duplicate);
        }
        if ep.id == 0 {
            ep.id = (1..=u8::MAX)
                .find(|id| self.get(*id).is_none())
                .ok_or(PmError::NoFreeId)?;
        }
        self.list.push(*ep);
        Ok(ep.id)
    }

    /// Deletes the endpoint `id` and returns it (then tell every connection:
    /// [`PmConn::handle_endpoint_deleted`]).
    pub fn del(&mut self, id: u8) -> Result<Endpoint, PmError> {
        let at = self
            .list
            .iter()
            .position(|e| e.id == id)
            .ok_or(PmError::NotFound)?;
        Ok(self.list.remove(at))
    }

    /// Deletes every endpoint and returns them.
    pub fn flush(&mut self) -> Vec<Endpoint> {
        core::mem::take(&mut self.list)
    }

    /// Sets or clears `backup` (and `fullmesh`) of endpoint `id` (`ip mptcp endpoint
    /// change id N [no]backup`); returns the updated endpoint (then tell every connection:
    /// [`PmConn::handle_endpoint_changed`]).
    pub fn set_flags(&mut self, id: u8, backup: bool, fullmesh: bool) -> Result<Endpoint, PmError> {
        let e = self
            .list
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or(PmError::NotFound)?;
        if fullmesh && e.flags.contains(EndpointFlags::SIGNAL) {
            return Err(PmError::BadFlags);
        }
        let keep = e.flags.0 & !(EndpointFlags::BACKUP.0 | EndpointFlags::FULLMESH.0);
        e.flags = EndpointFlags(
            keep | if backup { EndpointFlags::BACKUP.0 } else { 0 }
                | if fullmesh {
                    EndpointFlags::FULLMESH.0
                } else {
                    0
                },
        );
        Ok(*e)
    }

    pub fn get(&self, id: u8) -> Option<&Endpoint> {
        self.list.iter().find(|e| e.id == id)
    }

    /// The endpoint of a local address (any port).
    pub fn lookup_addr(&self, addr: IpAddr) -> Option<&Endpoint> {
        self.list.iter().find(|e| e.addr == addr)
    }

    /// In the order they were added (the order Linux announces and uses them in).
    pub fn iter(&self) -> impl Iterator<Item = &Endpoint> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// `ip mptcp limits set`: each at most [`PM_ADDR_MAX`].
    pub fn set_limits(&mut self, limits: Limits) -> Result<(), PmError> {
        if usize::from(limits.subflows) > PM_ADDR_MAX
            || usize::from(limits.add_addr_accepted) > PM_ADDR_MAX
        {
            return Err(PmError::LimitTooHigh);
        }
        self.limits = limits;
        Ok(())
    }

    pub fn add_addr_timeout(&self) -> Duration {
        self.add_addr_timeout.unwrap_or(ADD_ADDR_TIMEOUT)
    }

    pub fn set_add_addr_timeout(&mut self, t: Duration) {
        self.add_addr_timeout = Some(t);
    }

    /// Number of `signal` endpoints (Linux `add_addr_signal_max`).
    pub fn signal_max(&self) -> usize {
        self.count(EndpointFlags::SIGNAL)
    }

    /// Number of `subflow` endpoints (Linux `local_addr_max`).
    pub fn local_addr_max(&self) -> usize {
        self.count(EndpointFlags::SUBFLOW)
    }

    fn count(&self, f: EndpointFlags) -> usize {
        self.list.iter().filter(|e| e.flags.contains(f)).count()
    }

    /// The address ID of a local address for a passive join (Linux
    /// `mptcp_pm_nl_get_local_id`): 0 for the connection's initial address, the endpoint's
    /// ID if configured, else a new `implicit` endpoint is made for it.
    pub fn local_id_for(&mut self, conn: &PmConn, addr: IpAddr) -> Result<u8, PmError> {
        if addr == conn.local.ip() {
            return Ok(0);
        }
        if let Some(e) = self.lookup_addr(addr) {
            return Ok(e.id);
        }
        let mut ep = Endpoint {
            id: 0,
            addr,
            port: None,
            flags: EndpointFlags::IMPLICIT,
            dev: None,
        };
        self.insert(&mut ep)
    }

    /// Whether subflows on this local address are backups.
    pub fn is_backup(&self, addr: IpAddr) -> bool {
        self.lookup_addr(addr)
            .is_some_and(|e| e.flags.contains(EndpointFlags::BACKUP))
    }
}

/// A subflow, named by the connection layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubflowId(pub u32);

/// Where a new subflow goes from and to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Our address ID (the MP_JOIN SYN's), 0 for the initial address. Meaningless when
    /// `local_addr` is `None`: once routing picked the source address, its ID is
    /// [`Endpoints::local_id_for`] (an implicit endpoint, as Linux makes).
    pub local_id: u8,
    /// Our address; `None`: let routing pick.
    pub local_addr: Option<IpAddr>,
    /// The device (port index) of the endpoint, if configured.
    pub dev: Option<u16>,
    /// Ask for a backup subflow (MP_JOIN flag B).
    pub backup: bool,
    pub remote: SocketAddr,
    /// The peer's address ID of `remote`.
    pub remote_id: u8,
}

/// Up to [`PM_ADDR_MAX`] address IDs of a REMOVE_ADDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RmList {
    ids: [u8; PM_ADDR_MAX],
    len: u8,
}

impl RmList {
    fn one(id: u8) -> Self {
        let mut ids = [0; PM_ADDR_MAX];
        ids[0] = id;
        RmList { ids, len: 1 }
    }

    pub fn ids(&self) -> &[u8] {
        self.ids.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The REMOVE_ADDR option.
    pub fn option(&self) -> MptcpOption<'_> {
        MptcpOption::RemoveAddr(RemoveAddr {
            addr_ids: self.ids(),
        })
    }
}

/// What the path manager asks the connection layer to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmAction {
    /// Send this ADD_ADDR (an announcement with its HMAC, or an echo) on a pure ACK of any
    /// subflow (RFC 8684 §3.4.1). Counted as sent (`AddAddrTx` / `EchoAddTx`).
    SendAddAddr(AddAddr),
    /// Send a REMOVE_ADDR with these IDs (`RmAddrTx` counted).
    SendRemoveAddr(RmList),
    /// Send MP_PRIO on this subflow (`MPPrioTx` counted; RFC 8684 §3.3.8).
    SendMpPrio { subflow: SubflowId, backup: bool },
    /// Open a subflow with MP_JOIN (see [`crate::mptcp::handshake::JoinSynSent`]).
    Connect(ConnectRequest),
    /// Close this subflow (FIN; it is being removed).
    CloseSubflow(SubflowId),
}

impl PmAction {
    /// The option to send, for the `Send*` actions.
    pub fn option(&self) -> Option<MptcpOption<'_>> {
        match self {
            PmAction::SendAddAddr(a) => Some(MptcpOption::AddAddr(*a)),
            PmAction::SendRemoveAddr(l) => Some(l.option()),
            PmAction::SendMpPrio { backup, .. } => Some(MptcpOption::MpPrio(MpPrio {
                backup: *backup,
                addr_id: None,
            })),
            _ => None,
        }
    }
}

/// Events, as `ip mptcp monitor` shows them (Linux `enum mptcp_event_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmEvent {
    /// The connection exists (client: SYN/ACK received; server: accepted).
    Created {
        token: u32,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Fully established.
    Established {
        token: u32,
        local: SocketAddr,
        remote: SocketAddr,
    },
    Closed {
        token: u32,
    },
    /// The peer announced an address (ADD_ADDR received).
    Announced {
        token: u32,
        remote_id: u8,
        addr: IpAddr,
        port: Option<u16>,
    },
    /// The peer removed an address (REMOVE_ADDR received).
    Removed {
        token: u32,
        remote_id: u8,
    },
    SubflowEstablished {
        token: u32,
        subflow: SubflowId,
        local_id: u8,
        remote_id: u8,
        local: SocketAddr,
        remote: SocketAddr,
        backup: bool,
    },
    SubflowClosed {
        token: u32,
        subflow: SubflowId,
        local_id: u8,
        remote_id: u8,
    },
    /// The peer changed a subflow's priority (MP_PRIO received).
    SubflowPriority {
        token: u32,
        subflow: SubflowId,
        backup: bool,
    },
}

impl PmEvent {
    /// The name `ip mptcp monitor` prints.
    pub fn name(&self) -> &'static str {
        match self {
            PmEvent::Created { .. } => "CREATED",
            PmEvent::Established { .. } => "ESTABLISHED",
            PmEvent::Closed { .. } => "CLOSED",
            PmEvent::Announced { .. } => "ANNOUNCED",
            PmEvent::Removed { .. } => "REMOVED",
            PmEvent::SubflowEstablished { .. } => "SF_ESTABLISHED",
            PmEvent::SubflowClosed { .. } => "SF_CLOSED",
            PmEvent::SubflowPriority { .. } => "SF_PRIORITY",
        }
    }
}

fn fmt_addrs(f: &mut fmt::Formatter<'_>, local: &SocketAddr, remote: &SocketAddr) -> fmt::Result {
    let v = |a: &SocketAddr| if a.is_ipv4() { "4" } else { "6" };
    write!(
        f,
        " saddr{}={} daddr{}={} sport={} dport={}",
        v(local),
        local.ip(),
        v(remote),
        remote.ip(),
        local.port(),
        remote.port()
    )
}

impl fmt::Display for PmEvent {
    /// One line in the style of `ip mptcp monitor`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>14}]", self.name())?;
        match self {
            PmEvent::Created {
                token,
                local,
                remote,
            }
            | PmEvent::Established {
                token,
                local,
                remote,
            } => {
                write!(f, " token={token:08x}")?;
                fmt_addrs(f, local, remote)
            }
            PmEvent::Closed { token } => write!(f, " token={token:08x}"),
            PmEvent::Announced {
                token,
                remote_id,
                addr,
                port,
            } => {
                let v = if addr.is_ipv4() { "4" } else { "6" };
                write!(f, " token={token:08x} remid={remote_id} daddr{v}={addr}")?;
                if let Some(p) = port {
                    write!(f, " dport={p}")?;
                }
                Ok(())
            }
            PmEvent::Removed { token, remote_id } => {
                write!(f, " token={token:08x} remid={remote_id}")
            }
            PmEvent::SubflowEstablished {
                token,
                local_id,
                remote_id,
                local,
                remote,
                backup,
                ..
            } => {
                write!(f, " token={token:08x} remid={remote_id} locid={local_id}")?;
                fmt_addrs(f, local, remote)?;
                write!(f, " backup={}", u8::from(*backup))
            }
            PmEvent::SubflowClosed {
                token,
                local_id,
                remote_id,
                ..
            } => write!(f, " token={token:08x} remid={remote_id} locid={local_id}"),
            PmEvent::SubflowPriority { token, backup, .. } => {
                write!(f, " token={token:08x} backup={}", u8::from(*backup))
            }
        }
    }
}

/// One subflow as the path manager sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmSubflow {
    pub id: SubflowId,
    pub local_id: u8,
    pub remote_id: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// We asked the peer to treat it as backup.
    pub local_backup: bool,
    /// The peer asked us to treat it as backup.
    pub remote_backup: bool,
    /// A join subflow (counted against the `subflows` limit); false for the initial one.
    pub join: bool,
}

/// An address we announced, waiting for its echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Announce {
    /// The endpoint ID (the ID on the wire is 0 when it is the initial address's).
    endpoint_id: u8,
    option: AddAddr,
    retrans: u8,
    /// Next retransmission; `None` once echoed or given up.
    deadline: Option<Instant>,
}

/// The set of address IDs 0..=255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct IdSet([u64; 4]);

impl IdSet {
    fn insert(&mut self, id: u8) {
        self.0[usize::from(id >> 6)] |= 1 << (id & 63);
    }
    fn remove(&mut self, id: u8) -> bool {
        let had = self.contains(id);
        self.0[usize::from(id >> 6)] &= !(1 << (id & 63));
        had
    }
    fn contains(&self, id: u8) -> bool {
        self.0[usize::from(id >> 6)] & (1 << (id & 63)) != 0
    }
}

/// One connection's path-manager state (Linux `struct mptcp_pm_data`).
#[derive(Debug, Clone)]
pub struct PmConn {
    token: u32,
    version: Version,
    local_key: u64,
    remote_key: u64,
    /// The initial subflow's addresses.
    local: SocketAddr,
    remote: SocketAddr,
    remote_deny_join_id0: bool,
    fully_established: bool,
    /// The endpoint whose address the initial subflow uses (its ID is 0 on the wire).
    mpc_endpoint_id: Option<u8>,
    /// Endpoint IDs already used by this connection (signalled or used for subflows).
    used_ids: IdSet,
    add_addr_signaled: usize,
    local_addr_used: usize,
    /// Join subflows, open or being opened, both directions (Linux `pm.subflows`).
    subflows: usize,
    add_addr_accepted: usize,
    accept_addr: bool,
    accept_subflow: bool,
    announced: Vec<Announce>,
    /// Peer addresses we learned: (remote ID, address) from ADD_ADDR.
    remote_addrs: Vec<(u8, SocketAddr)>,
    list: Vec<PmSubflow>,
    actions: VecDeque<PmAction>,
    events: VecDeque<PmEvent>,
}

impl PmConn {
    /// The path manager of a new connection (after MP_CAPABLE): `token` is ours, `local` /
    /// `remote` are the initial subflow's addresses, `initial` its ID. Queues `CREATED`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        eps: &Endpoints,
        token: u32,
        version: Version,
        local_key: u64,
        remote_key: u64,
        local: SocketAddr,
        remote: SocketAddr,
        initial: SubflowId,
        remote_deny_join_id0: bool,
    ) -> Self {
        let limits = eps.limits();
        let mut pm = PmConn {
            token,
            version,
            local_key,
            remote_key,
            local,
            remote,
            remote_deny_join_id0,
            fully_established: false,
            mpc_endpoint_id: None,
            used_ids: IdSet::default(),
            add_addr_signaled: 0,
            local_addr_used: 0,
            subflows: 0,
            add_addr_accepted: 0,
            accept_addr: limits.add_addr_accepted > 0 && limits.subflows > 0,
            accept_subflow: limits.subflows > 0,
            announced: Vec::new(),
            remote_addrs: Vec::new(),
            list: vec![PmSubflow {
                id: initial,
                local_id: 0,
                remote_id: 0,
                local,
                remote,
                local_backup: eps.is_backup(local.ip()),
                remote_backup: false,
                join: false,
            }],
            actions: VecDeque::new(),
            events: VecDeque::new(),
        };
        pm.events.push_back(PmEvent::Created {
            token,
            local,
            remote,
        });
        pm
    }

    /// The connection's token (as in the events).
    pub fn token(&self) -> u32 {
        self.token
    }

    /// The subflows the path manager knows, the initial one first.
    pub fn subflows(&self) -> &[PmSubflow] {
        &self.list
    }

    /// Next action for the connection layer.
    pub fn poll_action(&mut self) -> Option<PmAction> {
        self.actions.pop_front()
    }

    /// Next event for the monitor.
    pub fn poll_event(&mut self) -> Option<PmEvent> {
        self.events.pop_front()
    }

    /// When [`PmConn::handle_timeout`] wants to run next (ADD_ADDR retransmission).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.announced.iter().filter_map(|a| a.deadline).min()
    }

    /// Whether we announced an address with this port to the peer (a join arriving on a
    /// port-based endpoint's listener must use one; Linux `mptcp_pm_sport_in_anno_list`).
    pub fn port_announced(&self, port: u16) -> bool {
        self.announced.iter().any(|a| a.option.port == Some(port))
    }

    /// (ADD_ADDRs we announced, ADD_ADDRs we accepted, join subflows, endpoints used for
    /// subflows): Linux's `add_addr_signaled`, `add_addr_accepted`, `subflows`,
    /// `local_addr_used`, as `MPTCP_INFO` reports them.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.add_addr_signaled,
            self.add_addr_accepted,
            self.subflows,
            self.local_addr_used,
        )
    }

    /// The connection became fully established: queues `ESTABLISHED`, then announces and
    /// opens subflows.
    pub fn handle_fully_established(
        &mut self,
        eps: &Endpoints,
        now: Instant,
        mib: &mut MibCounters,
    ) {
        if self.fully_established {
            return;
        }
        self.fully_established = true;
        self.events.push_back(PmEvent::Established {
            token: self.token,
            local: self.local,
            remote: self.remote,
        });
        self.create_subflow_or_signal_addr(eps, now, mib);
    }

    /// The wire ID of endpoint `id`: 0 if it is the initial subflow's address.
    fn wire_id(&self, id: u8) -> u8 {
        if self.mpc_endpoint_id == Some(id) {
            0
        } else {
            id
        }
    }

    /// Linux `mptcp_pm_create_subflow_or_signal_addr`.
    fn create_subflow_or_signal_addr(
        &mut self,
        eps: &Endpoints,
        now: Instant,
        mib: &mut MibCounters,
    ) {
        if !self.fully_established {
            return;
        }
        // The initial subflow's address uses up its endpoint (lazy accounting, as Linux).
        if self.mpc_endpoint_id.is_none() {
            if let Some(e) = eps.lookup_addr(self.local.ip()) {
                self.mpc_endpoint_id = Some(e.id);
                self.used_ids.insert(e.id);
            }
        }
        let limits = eps.limits();
        let mut signal_and_subflow = None;
        // First the next announcement, one per step.
        if self.add_addr_signaled < eps.signal_max() {
            let next = eps
                .iter()
                .find(|e| e.flags.contains(EndpointFlags::SIGNAL) && !self.used_ids.contains(e.id))
                .copied();
            if let Some(e) = next {
                self.used_ids.insert(e.id);
                self.add_addr_signaled += 1;
                self.announce(&e, now, eps.add_addr_timeout(), mib);
                if e.flags.contains(EndpointFlags::SUBFLOW) {
                    signal_and_subflow = Some(e);
                }
            }
        }
        // Then subflows from `subflow` endpoints while the limits allow.
        while self.local_addr_used < eps.local_addr_max()
            && self.subflows < usize::from(limits.subflows)
        {
            let e = match signal_and_subflow.take() {
                Some(e) => e,
                None => match eps
                    .iter()
                    .find(|e| {
                        e.flags.contains(EndpointFlags::SUBFLOW) && !self.used_ids.contains(e.id)
                    })
                    .copied()
                {
                    Some(e) => e,
                    None => break,
                },
            };
            self.used_ids.insert(e.id);
            let local_id = self.wire_id(e.id);
            if local_id != 0 {
                self.local_addr_used += 1;
            }
            for remote in self.remote_targets(&e, usize::from(limits.subflows)) {
                self.actions.push_back(PmAction::Connect(ConnectRequest {
                    local_id,
                    local_addr: Some(e.addr),
                    dev: e.dev,
                    backup: e.flags.contains(EndpointFlags::BACKUP),
                    remote: remote.1,
                    remote_id: remote.0,
                }));
            }
        }
    }

    /// Linux `fill_remote_addresses_vec`: the peer's initial address for a plain `subflow`
    /// endpoint (unless the peer refused joins to it, flag C), every known peer address
    /// not yet used from this endpoint for `fullmesh`. Counts each in `subflows`.
    fn remote_targets(&mut self, e: &Endpoint, max: usize) -> Vec<(u8, SocketAddr)> {
        let same_family = |a: &SocketAddr| a.is_ipv4() == e.addr.is_ipv4();
        let mut out = Vec::new();
        if !e.flags.contains(EndpointFlags::FULLMESH) {
            if !self.remote_deny_join_id0 && same_family(&self.remote) {
                self.subflows += 1;
                out.push((0, self.remote));
            }
            return out;
        }
        let local_id = self.wire_id(e.id);
        let mut taken = IdSet::default();
        for s in &self.list {
            if s.local_id == local_id {
                taken.insert(s.remote_id);
            }
        }
        let mut candidates: Vec<(u8, SocketAddr)> =
            self.list.iter().map(|s| (s.remote_id, s.remote)).collect();
        candidates.extend(self.remote_addrs.iter().copied());
        for (rid, addr) in candidates {
            if (self.remote_deny_join_id0 && rid == 0)
                || taken.contains(rid)
                || !same_family(&addr)
                || self.subflows >= max
            {
                continue;
            }
            taken.insert(rid);
            self.subflows += 1;
            out.push((rid, addr));
        }
        out
    }

    fn add_addr_option(&self, id: u8, addr: IpAddr, port: Option<u16>, echo: bool) -> AddAddr {
        // RFC 8684 §3.4.1: a v1 ADD_ADDR carries the HMAC of its sender (keys sender first);
        // an echo carries none. v0 has neither.
        let hmac = (self.version == Version::V1 && !echo)
            .then(|| crypto::add_addr_hmac(self.local_key, self.remote_key, id, addr, port));
        AddAddr {
            echo,
            addr_id: id,
            addr,
            port,
            hmac,
        }
    }

    fn announce(&mut self, e: &Endpoint, now: Instant, timeout: Duration, mib: &mut MibCounters) {
        let option = self.add_addr_option(self.wire_id(e.id), e.addr, e.port, false);
        mib.inc(Mib::AddAddrTx);
        self.actions.push_back(PmAction::SendAddAddr(option));
        // v0 has no echo to wait for.
        let deadline = (self.version == Version::V1)
            .then(|| now.checked_add(timeout))
            .flatten();
        self.announced.push(Announce {
            endpoint_id: e.id,
            option,
            retrans: 0,
            deadline,
        });
    }

    /// Time passed: retransmits ADD_ADDRs not echoed in time (Linux `mptcp_pm_add_timer`),
    /// at most [`ADD_ADDR_RETRANS_MAX`] times each; after the last one, moves on to the next
    /// announcement.
    pub fn handle_timeout(&mut self, eps: &Endpoints, now: Instant, mib: &mut MibCounters) {
        let timeout = eps.add_addr_timeout();
        let mut gave_up = false;
        for i in 0..self.announced.len() {
            let Some(a) = self.announced.get_mut(i) else {
                break;
            };
            match a.deadline {
                Some(d) if d <= now => {}
                _ => continue,
            }
            a.retrans += 1;
            let option = a.option;
            a.deadline = if a.retrans < ADD_ADDR_RETRANS_MAX {
                now.checked_add(timeout)
            } else {
                gave_up = true;
                None
            };
            mib.inc(Mib::AddAddrTx);
            self.actions.push_back(PmAction::SendAddAddr(option));
        }
        if gave_up {
            self.create_subflow_or_signal_addr(eps, now, mib);
        }
    }

    /// A subflow is established: a join we opened or accepted (`join`), with the address IDs
    /// of its handshake. Queues `SF_ESTABLISHED` and lets the path manager go on.
    pub fn handle_subflow_established(
        &mut self,
        eps: &Endpoints,
        sf: PmSubflow,
        now: Instant,
        mib: &mut MibCounters,
    ) {
        self.events.push_back(PmEvent::SubflowEstablished {
            token: self.token,
            subflow: sf.id,
            local_id: sf.local_id,
            remote_id: sf.remote_id,
            local: sf.local,
            remote: sf.remote,
            backup: sf.local_backup || sf.remote_backup,
        });
        if let Some(s) = self.list.iter_mut().find(|s| s.id == sf.id) {
            *s = sf;
        } else {
            self.list.push(sf);
        }
        self.create_subflow_or_signal_addr(eps, now, mib);
    }

    /// A passive join passed its HMAC check: may it be accepted? (Linux
    /// `mptcp_pm_allow_new_subflow`.) Counts it against `subflows` when yes. Pass the result
    /// as `accept` to [`crate::mptcp::handshake::JoinSynReceived::handle_ack`].
    /// Joins are refused before the connection is fully established, as in Linux
    /// (`mptcp_can_accept_new_subflow`).
    pub fn allow_new_subflow(&mut self, eps: &Endpoints) -> bool {
        let max = usize::from(eps.limits().subflows);
        if !self.fully_established || !self.accept_subflow || self.subflows >= max {
            return false;
        }
        self.subflows += 1;
        if self.subflows >= max {
            self.accept_subflow = false;
        }
        true
    }

    /// A subflow closed (or a join we opened failed before being established, `sf ==
    /// None`). Queues `SF_CLOSED` for a known subflow; a join frees its place under the
    /// `subflows` limit and the path manager goes on (Linux `mptcp_pm_subflow_check_next`).
    pub fn handle_subflow_closed(
        &mut self,
        eps: &Endpoints,
        sf: Option<SubflowId>,
        now: Instant,
        mib: &mut MibCounters,
    ) {
        let join = match sf.and_then(|id| self.list.iter().position(|s| s.id == id)) {
            Some(at) => {
                let s = self.list.remove(at);
                self.events.push_back(PmEvent::SubflowClosed {
                    token: self.token,
                    subflow: s.id,
                    local_id: s.local_id,
                    remote_id: s.remote_id,
                });
                s.join
            }
            None => sf.is_none(),
        };
        if join {
            self.subflows = self.subflows.saturating_sub(1);
            if self.subflows < usize::from(eps.limits().subflows) {
                self.accept_subflow = true;
            }
            self.create_subflow_or_signal_addr(eps, now, mib);
        }
    }

    /// The connection closed: queues `CLOSED`.
    pub fn handle_closed(&mut self) {
        self.events.push_back(PmEvent::Closed { token: self.token });
    }

    /// An ADD_ADDR arrived (RFC 8684 §3.4.1).
    ///
    /// - An echo of one of ours (`EchoAdd`): stop retransmitting it and go on with the next.
    /// - An announcement: in v1 its HMAC MUST be valid, else it is dropped (`AddAddrDrop`).
    ///   Counts `AddAddr` (and `PortAdd`), queues `ANNOUNCED`, echoes it (`EchoAddTx`),
    ///   and if `add_addr_accepted` allows and no subflow goes to that address yet, opens
    ///   one (from every `fullmesh` endpoint, or from the address routing picks).
    pub fn handle_add_addr(
        &mut self,
        eps: &Endpoints,
        a: &AddAddr,
        now: Instant,
        mib: &mut MibCounters,
    ) {
        if a.echo {
            mib.inc(Mib::EchoAdd);
            let mut found = false;
            for x in &mut self.announced {
                if x.option.addr_id == a.addr_id && x.option.addr == a.addr {
                    x.deadline = None;
                    found = true;
                }
            }
            if a.port.is_some() {
                mib.inc(Mib::PortAdd);
            }
            if found {
                self.create_subflow_or_signal_addr(eps, now, mib);
            }
            return;
        }
        if self.version == Version::V1 {
            let want =
                crypto::add_addr_hmac(self.remote_key, self.local_key, a.addr_id, a.addr, a.port);
            if a.hmac != Some(want) {
                mib.inc(Mib::AddAddrDrop);
                return;
            }
        }
        mib.inc(Mib::AddAddr);
        if a.port.is_some() {
            mib.inc(Mib::PortAdd);
        }
        self.events.push_back(PmEvent::Announced {
            token: self.token,
            remote_id: a.addr_id,
            addr: a.addr,
            port: a.port,
        });
        // A port-less announcement means the initial subflow's port.
        let remote = SocketAddr::new(a.addr, a.port.unwrap_or(self.remote.port()));
        // A retransmission (our echo was lost) is echoed again but opens nothing new: the
        // subflow it asked for may still be connecting.
        let retransmitted = self.remote_addrs.contains(&(a.addr_id, remote));
        if !retransmitted {
            self.remote_addrs.push((a.addr_id, remote));
        }
        if self.version == Version::V1 {
            let echo = self.add_addr_option(a.addr_id, a.addr, a.port, true);
            mib.inc(Mib::EchoAddTx);
            self.actions.push_back(PmAction::SendAddAddr(echo));
        }
        let limits = eps.limits();
        if retransmitted || !self.accept_addr || self.list.iter().any(|s| s.remote.ip() == a.addr) {
            return;
        }
        // Linux `fill_local_addresses_vec`: every fullmesh endpoint of the same family,
        // else one subflow from the address routing picks.
        let max = usize::from(limits.subflows);
        let mut reqs = Vec::new();
        for e in eps.iter().filter(|e| {
            e.flags.contains(EndpointFlags::FULLMESH) && e.addr.is_ipv4() == a.addr.is_ipv4()
        }) {
            if self.subflows >= max {
                break;
            }
            self.subflows += 1;
            reqs.push(ConnectRequest {
                local_id: self.wire_id(e.id),
                local_addr: Some(e.addr),
                dev: e.dev,
                backup: e.flags.contains(EndpointFlags::BACKUP),
                remote,
                remote_id: a.addr_id,
            });
        }
        if reqs.is_empty() && self.subflows < max {
            self.subflows += 1;
            reqs.push(ConnectRequest {
                local_id: 0,
                local_addr: None,
                dev: None,
                backup: false,
                remote,
                remote_id: a.addr_id,
            });
        }
        if reqs.is_empty() {
            return;
        }
        self.actions.extend(reqs.into_iter().map(PmAction::Connect));
        if a.addr_id != 0 {
            self.add_addr_accepted += 1;
        }
        if self.add_addr_accepted >= usize::from(limits.add_addr_accepted) || self.subflows >= max {
            self.accept_addr = false;
        }
    }

    /// A REMOVE_ADDR arrived (RFC 8684 §3.4.2): for each ID, `RmAddr` and `REMOVED`; the
    /// subflows to that peer address are closed, and an accepted address frees its place
    /// under `add_addr_accepted`.
    pub fn handle_rm_addr(&mut self, eps: &Endpoints, ids: &[u8], mib: &mut MibCounters) {
        for &id in ids {
            self.events.push_back(PmEvent::Removed {
                token: self.token,
                remote_id: id,
            });
            let mut removed_join = false;
            for s in self.list.iter().filter(|s| s.remote_id == id) {
                removed_join |= s.join;
                self.actions.push_back(PmAction::CloseSubflow(s.id));
            }
            self.remote_addrs.retain(|r| r.0 != id);
            mib.inc(Mib::RmAddr);
            if removed_join && id != 0 && self.add_addr_accepted > 0 {
                self.add_addr_accepted -= 1;
                if self.add_addr_accepted < usize::from(eps.limits().add_addr_accepted) {
                    self.accept_addr = true;
                }
            }
        }
    }

    /// The peer sent MP_PRIO on `subflow` (RFC 8684 §3.3.8): `MPPrioRx`, `SF_PRIORITY`.
    pub fn handle_mp_prio(&mut self, subflow: SubflowId, backup: bool, mib: &mut MibCounters) {
        mib.inc(Mib::MPPrioRx);
        if let Some(s) = self.list.iter_mut().find(|s| s.id == subflow) {
            s.remote_backup = backup;
        }
        self.events.push_back(PmEvent::SubflowPriority {
            token: self.token,
            subflow,
            backup,
        });
    }

    /// Marks one of our subflows backup or not (the application's `set_backup`): MP_PRIO
    /// on it (`MPPrioTx`). False if the subflow is unknown.
    pub fn set_backup(&mut self, subflow: SubflowId, backup: bool, mib: &mut MibCounters) -> bool {
        let Some(s) = self.list.iter_mut().find(|s| s.id == subflow) else {
            return false;
        };
        if s.local_backup != backup {
            s.local_backup = backup;
            mib.inc(Mib::MPPrioTx);
            self.actions
                .push_back(PmAction::SendMpPrio { subflow, backup });
        }
        true
    }

    /// An endpoint's flags changed ([`Endpoints::set_flags`]): MP_PRIO on every subflow using
    /// its address whose backup state differs (Linux `mptcp_pm_nl_mp_prio_send_ack`).
    pub fn handle_endpoint_changed(&mut self, ep: &Endpoint, mib: &mut MibCounters) {
        let backup = ep.flags.contains(EndpointFlags::BACKUP);
        let ids: Vec<SubflowId> = self
            .list
            .iter()
            .filter(|s| s.local.ip() == ep.addr && s.local_backup != backup)
            .map(|s| s.id)
            .collect();
        for id in ids {
            self.set_backup(id, backup, mib);
        }
    }

    /// An endpoint was added: the path manager may announce it or use it now.
    pub fn handle_endpoint_added(&mut self, eps: &Endpoints, now: Instant, mib: &mut MibCounters) {
        self.create_subflow_or_signal_addr(eps, now, mib);
    }

    /// An endpoint was deleted ([`Endpoints::del`]): if we announced it, REMOVE_ADDR
    /// (`RmAddrTx`); the subflows using its address are closed (`RmSubflow` for each join),
    /// and a `subflow` endpoint frees its place under the limits.
    pub fn handle_endpoint_deleted(&mut self, ep: &Endpoint, mib: &mut MibCounters) {
        let wire_id = self.wire_id(ep.id);
        let before = self.announced.len();
        self.announced.retain(|a| a.endpoint_id != ep.id);
        let was_announced = self.announced.len() != before;
        let closing: Vec<(SubflowId, bool)> = self
            .list
            .iter()
            .filter(|s| s.local.ip() == ep.addr)
            .map(|s| (s.id, s.join))
            .collect();
        if was_announced || !closing.is_empty() {
            self.add_addr_signaled -= usize::from(was_announced);
            mib.inc(Mib::RmAddrTx);
            self.actions
                .push_back(PmAction::SendRemoveAddr(RmList::one(wire_id)));
        }
        for (id, join) in closing {
            if join {
                mib.inc(Mib::RmSubflow);
            }
            self.actions.push_back(PmAction::CloseSubflow(id));
        }
        if ep.flags.contains(EndpointFlags::SUBFLOW) && self.used_ids.remove(ep.id) && wire_id != 0
        {
            self.local_addr_used = self.local_addr_used.saturating_sub(1);
        } else {
            self.used_ids.remove(ep.id);
        }
        if self.mpc_endpoint_id == Some(ep.id) {
            self.mpc_endpoint_id = None;
        }
    }
}

#[cfg(test)]
mod tests;
