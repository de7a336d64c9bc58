//! MPTCP handshakes, sans-IO: MP_CAPABLE (RFC 8684 §3.1, v0: RFC 6824 §3.1) and MP_JOIN
//! (RFC 8684 §3.2), both roles, with every fallback and refusal as an explicit outcome
//! and the Linux MIB counter it bumps.
//!
//! The TCP engine owns the segments; this module only reads the MPTCP options of a segment
//! (`&[MptcpOption]`, as parsed into [`crate::wire::tcp::TcpRepr::mptcp`]) and says which
//! option to put on the next one. Keys and nonces come from the caller (the token table
//! draws keys, the caller draws nonces), so everything is deterministic in tests.
//!
//! # MP_CAPABLE
//!
//! Client: [`MpcSynSent::new`] (`syn_option`) -> [`MpcSynSent::handle_synack`] ->
//! [`MpcAckSent`] (`ack_option`, `data_option` repeated until the server is known to have
//! our key) -> [`MpcAckSent::handle_segment`] -> fully established. Server:
//! [`MpcSynReceived::handle_syn`] (`synack_option`) -> [`MpcSynReceived::handle_ack`] ->
//! established. Both ends end with an [`MpcEstablished`]: keys, tokens, IDSNs, version and
//! whether DSS checksums are used.
//!
//! Version: v1 by default. A v0 SYN (RFC 6824) is answered as plain TCP unless
//! [`HandshakeConfig::allow_v0`] is set, in which case the connection speaks v0 (SHA-1).
//!
//! # MP_JOIN, in typestate
//!
//! Server: [`JoinSynReceived::handle_syn`] (token lookup) -> `synack_option` ->
//! [`JoinSynReceived::handle_ack`] (160-bit HMAC check) -> [`VerifiedJoin`]. Client:
//! [`JoinSynSent::new`] -> [`JoinSynSent::handle_synack`] (64-bit HMAC check) ->
//! [`JoinAckSent`] (`ack_option`) -> [`JoinAckSent::handle_ack`] once the third ACK is
//! acknowledged -> [`VerifiedJoin`]. Each `handle_*` consumes its state, so a state whose
//! check failed cannot be used again, and [`VerifiedJoin`] has no public constructor: it is
//! the only way to make a data-carrying join subflow. A refusal is a [`JoinRefusal`], which
//! names the MP_TCPRST reason (RFC 8684 §3.6) the RST should carry.
//!
//! Counters: the handshakes bump the counters Linux bumps at the same step. `MPRstTx` is
//! left to whoever sends the reset (Linux does not count a reset sent from a request
//! socket either, as the `tcprst` kernel fixture shows).
//!
//! # Example
//!
//! ```
//! use dataplane::mptcp::handshake::*;
//! use dataplane::mptcp::mib::MibCounters;
//! use dataplane::mptcp::token::TokenTable;
//!
//! let cfg = HandshakeConfig::default();
//! let (mut cmib, mut smib) = (MibCounters::new(), MibCounters::new());
//! let (mut ctable, mut stable) = (TokenTable::new(), TokenTable::new());
//! let mut rng = { let mut x = 1u64; move || { x = x.wrapping_mul(6364136223846793005).wrapping_add(1); x } };
//!
//! // MP_CAPABLE: client SYN -> server SYN/ACK -> client third ACK -> server established.
//! let key = ctable.new_connect(cfg.client_version, 1u32, &mut rng, &mut cmib).unwrap();
//! let client = MpcSynSent::new(&cfg, key.key, &mut cmib);
//! let SynOutcome::Mptcp(server) = MpcSynReceived::handle_syn(
//!     &cfg, &[client.syn_option()], &mut stable, 2u32, &mut rng, &mut smib) else { panic!() };
//! let SynAckOutcome::Established(client) =
//!     client.handle_synack(&[server.synack_option()], &mut ctable, &mut cmib) else { panic!() };
//! let ServerAckOutcome::Established { mpc: s_mpc, .. } =
//!     server.handle_ack(&[client.ack_option()], &mut stable, &mut smib) else { panic!() };
//! let c_mpc = *client.established();
//! assert_eq!(c_mpc.first_send_dsn(), s_mpc.first_recv_dsn());
//!
//! // MP_JOIN from the client: SYN -> SYN/ACK (64-bit HMAC) -> ACK (160-bit HMAC).
//! let local = JoinLocal { addr_id: 1, backup: false, nonce: 0x1111 };
//! let join = JoinSynSent::new(1u32, c_mpc.join_keys(), local, &mut cmib);
//! let ours = JoinLocal { addr_id: 0, backup: false, nonce: 0x2222 };
//! let responder = JoinSynReceived::handle_syn(&[join.syn_option()], &stable, ours, &mut smib)
//!     .expect("a join SYN")
//!     .expect("token known");
//! let join = join.handle_synack(&[responder.synack_option()], &mut cmib).unwrap();
//! let accepted = responder.handle_ack(&[join.ack_option()], true, &mut smib).unwrap();
//! let initiated = join.handle_ack(); // once the third ACK is acknowledged
//! assert_eq!((accepted.conn(), initiated.conn()), (2, 1));
//! ```

use crate::crypto::{self, KeyInfo, JOIN_ACK_HMAC_LEN};
use crate::mptcp::mib::{Mib, MibCounters};
use crate::mptcp::token::TokenTable;
use crate::seq::DataSeq;
use crate::time::{Duration, Instant};
use crate::wire::mptcp::csum::dss_csum;
use crate::wire::mptcp::{mpc_flags, tcprst, MpCapable, MpJoin, MpTcprst, MptcpOption, Version};

#[cfg(test)]
mod tests;

/// What the handshakes are allowed to do (Linux: `net.mptcp.*` sysctls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// Ask for DSS checksums (flag A; `net.mptcp.checksum_enabled`). Used when either end
    /// asks.
    pub checksum: bool,
    /// Speak MPTCP v0 (RFC 6824, SHA-1) with a peer whose SYN is v0. Linux does not.
    pub allow_v0: bool,
    /// The version our active opens speak.
    pub client_version: Version,
    /// MP_CAPABLE SYNs lost before the next SYN goes out without MPTCP
    /// (`net.mptcp.syn_retrans_before_tcp_fallback`, default 2).
    pub syn_retrans_before_tcp_fallback: u8,
    /// Accept MP_JOINs to the initial address and port; when false the SYN/ACK and third ACK
    /// carry flag C (`net.mptcp.allow_join_initial_addr_port`).
    pub allow_join_initial_addr_port: bool,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        HandshakeConfig {
            checksum: false,
            allow_v0: false,
            client_version: Version::V1,
            syn_retrans_before_tcp_fallback: 2,
            allow_join_initial_addr_port: true,
        }
    }
}

/// Which end of the initial subflow we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sent the SYN.
    Client,
    /// Answered it.
    Server,
}

/// Why a connection that tried MPTCP continues as plain TCP (RFC 8684 §3.7, "fallback").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FallbackCause {
    /// MPTCP was disabled for this active open (Linux: after a detected blackhole); the SYN
    /// goes out without MP_CAPABLE. `MPCapableSYNTXDisabled`.
    ActiveDisabled,
    /// No unique token could be drawn. `MPFallbackTokenInit` (counted by the token table).
    TokenInit,
    /// The SYN/ACK carried no usable MP_CAPABLE. `MPCapableFallbackSYNACK`.
    NoOptionInSynAck,
    /// The third ACK (or first data) carried no usable MP_CAPABLE. `MPCapableFallbackACK`.
    NoOptionInThirdAck,
    /// Data without a DSS arrived before the connection was fully established.
    /// `MPCapableDataFallback`.
    DataWithoutDss,
    /// The MP_CAPABLE SYN was lost `syn_retrans_before_tcp_fallback` times; the next SYN
    /// goes out without MPTCP. `MPCapableSYNTXDrop`.
    SynDropped,
    /// The peer's SYN speaks a version we do not (v0 while v0 is disabled). No counter, as
    /// in Linux, which ignores such an option.
    UnsupportedVersion,
}

impl FallbackCause {
    /// The counter this fallback bumps (already bumped when the outcome is returned).
    pub fn mib(self) -> Option<Mib> {
        match self {
            FallbackCause::ActiveDisabled => Some(Mib::MPCapableSYNTXDisabled),
            FallbackCause::TokenInit => Some(Mib::MPFallbackTokenInit),
            FallbackCause::NoOptionInSynAck => Some(Mib::MPCapableFallbackSYNACK),
            FallbackCause::NoOptionInThirdAck => Some(Mib::MPCapableFallbackACK),
            FallbackCause::DataWithoutDss => Some(Mib::MPCapableDataFallback),
            FallbackCause::SynDropped => Some(Mib::MPCapableSYNTXDrop),
            FallbackCause::UnsupportedVersion => None,
        }
    }
}

/// A fallback. A fallen-back connection cannot be joined, so its token must leave the
/// token table: where the handshake had the table it removed the token already
/// (`local_token == None`); otherwise call [`Fallback::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback {
    pub cause: FallbackCause,
    /// Our token, still in the token table.
    pub local_token: Option<u32>,
}

impl Fallback {
    fn new(cause: FallbackCause, local_token: Option<u32>, mib: &mut MibCounters) -> Self {
        if let Some(m) = cause.mib() {
            // The token table counts its own failure.
            if cause != FallbackCause::TokenInit {
                mib.inc(m);
            }
        }
        Fallback { cause, local_token }
    }

    /// Removes the connection's token from `table` (a fallen-back connection cannot be
    /// joined).
    pub fn release<C>(&self, table: &mut TokenTable<C>) {
        if let Some(t) = self.local_token {
            table.remove(t);
        }
    }
}

/// A completed MP_CAPABLE exchange: what the data level and MP_JOIN need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpcEstablished {
    pub role: Role,
    pub version: Version,
    /// Our key, token and IDSN.
    pub local: KeyInfo,
    /// The peer's key, token and IDSN.
    pub remote: KeyInfo,
    /// DSS checksums are used (either end set flag A; RFC 8684 §3.1).
    pub checksum: bool,
    /// The peer set flag C: do not open subflows to its initial address and port.
    pub peer_deny_join_id0: bool,
}

impl MpcEstablished {
    /// DSN of our first data byte: IDSN + 1 (RFC 8684 §3.3: the SYN takes the IDSN).
    pub fn first_send_dsn(&self) -> DataSeq {
        DataSeq(self.local.idsn.wrapping_add(1))
    }

    /// DSN of the peer's first data byte.
    pub fn first_recv_dsn(&self) -> DataSeq {
        DataSeq(self.remote.idsn.wrapping_add(1))
    }

    /// The keys an MP_JOIN of this connection uses.
    pub fn join_keys(&self) -> JoinKeys {
        JoinKeys {
            version: self.version,
            local_key: self.local.key,
            remote_key: self.remote.key,
        }
    }
}

/// The first MP_CAPABLE of a segment, if any.
fn mpc_of<'a>(opts: &'a [MptcpOption<'_>]) -> Option<&'a MpCapable> {
    opts.iter().find_map(|o| match o {
        MptcpOption::MpCapable(m) => Some(m),
        _ => None,
    })
}

fn version_number(v: Version) -> u8 {
    match v {
        Version::V0 => 0,
        Version::V1 => 1,
    }
}

/// RFC 8684 §3.1: "If none of the flags C through H are set, the MP_CAPABLE option MUST
/// be treated as invalid and ignored"; H is the only algorithm defined, so, like Linux,
/// we require it. The extensibility flag B must be 0 in this version; like Linux we ignore
/// an option that sets it.
fn flags_usable(flags: u8) -> bool {
    flags & mpc_flags::HMAC != 0 && flags & mpc_flags::EXTENSIBILITY == 0
}

fn mpc_flags_for(checksum: bool, deny_join_id0: bool) -> u8 {
    let mut f = mpc_flags::HMAC;
    if checksum {
        f |= mpc_flags::CHECKSUM;
    }
    if deny_join_id0 {
        f |= mpc_flags::NO_MORE_SUBFLOWS;
    }
    f
}

// ---------------------------------------------------------------------------------------
// MP_CAPABLE, client
// ---------------------------------------------------------------------------------------

/// Client: the MP_CAPABLE SYN is out.
#[derive(Debug, Clone)]
pub struct MpcSynSent {
    cfg: HandshakeConfig,
    local: KeyInfo,
    syn_losses: u8,
}

/// What a client does when its SYN retransmission timer fires.
#[derive(Debug, Clone)]
pub enum SynTimeout {
    /// Retransmit the SYN with [`MpcSynSent::syn_option`].
    Retransmit(MpcSynSent),
    /// Retransmit the SYN without MPTCP; the connection is plain TCP.
    Fallback(Fallback),
}

/// What a client does with the SYN/ACK.
#[derive(Debug, Clone)]
pub enum SynAckOutcome {
    /// MPTCP: send the third ACK with [`MpcAckSent::ack_option`].
    Established(MpcAckSent),
    /// Plain TCP from here on.
    Fallback(Fallback),
}

impl MpcSynSent {
    /// Starts an active open with our key `local` (from
    /// [`TokenTable::new_connect`](crate::mptcp::token::TokenTable::new_connect), derived
    /// with `cfg.client_version`). Counts `MPCapableSYNTX`.
    pub fn new(cfg: &HandshakeConfig, local: KeyInfo, mib: &mut MibCounters) -> Self {
        debug_assert_eq!(crypto::token(cfg.client_version, local.key), local.token);
        mib.inc(Mib::MPCapableSYNTX);
        MpcSynSent {
            cfg: *cfg,
            local,
            syn_losses: 0,
        }
    }

    /// An active open for which MPTCP is disabled (Linux: blackhole detection): the SYN
    /// goes out as plain TCP. Counts `MPCapableSYNTXDisabled`.
    pub fn disabled(local_token: Option<u32>, mib: &mut MibCounters) -> Fallback {
        Fallback::new(FallbackCause::ActiveDisabled, local_token, mib)
    }

    /// Our key.
    pub fn local(&self) -> KeyInfo {
        self.local
    }

    /// The MP_CAPABLE of the SYN: v1 carries no key (4 bytes), v0 carries ours (12 bytes).
    pub fn syn_option(&self) -> MptcpOption<'static> {
        let v = self.cfg.client_version;
        MptcpOption::MpCapable(MpCapable {
            version: version_number(v),
            flags: mpc_flags_for(self.cfg.checksum, false),
            sender_key: (v == Version::V0).then_some(self.local.key),
            receiver_key: None,
            data_len: None,
            checksum: None,
        })
    }

    /// The SYN retransmission timer fired (the SYN or its answer was lost). After
    /// `syn_retrans_before_tcp_fallback` losses the next SYN goes without MPTCP, counting
    /// `MPCapableSYNTXDrop` (Linux `mptcp_active_detect_blackhole`).
    pub fn handle_syn_timeout(mut self, mib: &mut MibCounters) -> SynTimeout {
        self.syn_losses = self.syn_losses.saturating_add(1);
        if self.syn_losses >= self.cfg.syn_retrans_before_tcp_fallback {
            SynTimeout::Fallback(Fallback::new(
                FallbackCause::SynDropped,
                Some(self.local.token),
                mib,
            ))
        } else {
            SynTimeout::Retransmit(self)
        }
    }

    /// The SYN/ACK arrived with these MPTCP options.
    ///
    /// Falls back (`MPCapableFallbackSYNACK`) when it has no MP_CAPABLE, or one without the
    /// responder's key, of another version, or with unusable flags. Otherwise counts
    /// `MPCapableSYNACKRX`, records the server's key with our token in `table` (joins need
    /// it) and moves on with checksums if either end asked (RFC 8684 §3.1). On fallback our
    /// token is removed from `table`.
    pub fn handle_synack<C>(
        self,
        opts: &[MptcpOption<'_>],
        table: &mut TokenTable<C>,
        mib: &mut MibCounters,
    ) -> SynAckOutcome {
        let version = self.cfg.client_version;
        let usable = mpc_of(opts).and_then(|m| {
            let ok = m.version == version_number(version)
                && flags_usable(m.flags)
                && m.receiver_key.is_none();
            m.sender_key.filter(|_| ok).map(|k| (k, m.flags))
        });
        let Some((remote_key, flags)) = usable else {
            table.remove(self.local.token);
            return SynAckOutcome::Fallback(Fallback::new(
                FallbackCause::NoOptionInSynAck,
                None,
                mib,
            ));
        };
        mib.inc(Mib::MPCapableSYNACKRX);
        table.set_remote_key(self.local.token, remote_key);
        // RFC 8684 §3.1: "if either host requires the use of checksums, checksums MUST be
        // used".
        let checksum = self.cfg.checksum || flags & mpc_flags::CHECKSUM != 0;
        SynAckOutcome::Established(MpcAckSent {
            mpc: MpcEstablished {
                role: Role::Client,
                version,
                local: self.local,
                remote: KeyInfo::new(version, remote_key),
                checksum,
                peer_deny_join_id0: flags & mpc_flags::NO_MORE_SUBFLOWS != 0,
            },
            deny_join_id0: !self.cfg.allow_join_initial_addr_port,
        })
    }
}

/// Client: established, but the server may not have our key yet. Every ACK carries
/// [`MpcAckSent::ack_option`] and the first data [`MpcAckSent::data_option`] until
/// [`MpcAckSent::handle_segment`] says fully established (RFC 8684 §3.1: the initiator
/// repeats MP_CAPABLE until it knows the responder received it).
#[derive(Debug, Clone)]
pub struct MpcAckSent {
    mpc: MpcEstablished,
    deny_join_id0: bool,
}

/// What a client does with a segment received while it waits.
#[derive(Debug, Clone)]
pub enum ClientProgress {
    /// The server has our key (it sent a DATA_ACK or an ADD_ADDR); stop sending MP_CAPABLE.
    FullyEstablished(MpcEstablished),
    /// Nothing decided yet; keep sending MP_CAPABLE.
    Waiting(MpcAckSent),
    /// Plain TCP from here on.
    Fallback(Fallback),
}

impl MpcAckSent {
    /// The connection's keys and parameters (usable already: the client knows both keys).
    pub fn established(&self) -> &MpcEstablished {
        &self.mpc
    }

    fn ack_form(&self, data_len: Option<u16>, checksum: Option<u16>) -> MptcpOption<'static> {
        MptcpOption::MpCapable(MpCapable {
            version: version_number(self.mpc.version),
            flags: mpc_flags_for(self.mpc.checksum, self.deny_join_id0),
            sender_key: Some(self.mpc.local.key),
            receiver_key: Some(self.mpc.remote.key),
            data_len,
            checksum,
        })
    }

    /// The third ACK's MP_CAPABLE: both keys, sender's first (20 bytes).
    pub fn ack_option(&self) -> MptcpOption<'static> {
        self.ack_form(None, None)
    }

    /// The MP_CAPABLE of the first data segment (v1 only, RFC 8684 §3.1): both keys and the
    /// data-level length of the mapping that starts at DSN IDSN+1, subflow sequence 1. With
    /// checksums, `mapping_payload` must be the mapping's whole payload (`data_len` bytes)
    /// and the DSS checksum over it is included (24 bytes); otherwise 22 bytes. In v0 there
    /// is no such form: the third ACK's option is returned and the data needs a DSS.
    pub fn data_option(&self, data_len: u16, mapping_payload: &[u8]) -> MptcpOption<'static> {
        if self.mpc.version == Version::V0 {
            return self.ack_option();
        }
        let csum = self
            .mpc
            .checksum
            .then(|| dss_csum(self.mpc.first_send_dsn().0, 1, data_len, mapping_payload));
        self.ack_form(Some(data_len), csum)
    }

    /// A segment arrived from the server. RFC 8684 §3.1 / Linux `check_fully_established`:
    /// a DSS with a DATA_ACK, or an ADD_ADDR that is not an echo, proves the server has our
    /// key. Data without any DSS before that means a middlebox stripped the options: fall
    /// back (`MPCapableDataFallback`, RFC 8684 §3.7).
    pub fn handle_segment(
        self,
        opts: &[MptcpOption<'_>],
        payload_len: usize,
        mib: &mut MibCounters,
    ) -> ClientProgress {
        let mut dss = false;
        let mut acked = false;
        for o in opts {
            match o {
                MptcpOption::Dss(d) => {
                    dss = true;
                    acked |= d.data_ack.is_some();
                }
                MptcpOption::AddAddr(a) if !a.echo => acked = true,
                _ => {}
            }
        }
        if acked {
            return ClientProgress::FullyEstablished(self.mpc);
        }
        if payload_len > 0 && !dss {
            return ClientProgress::Fallback(Fallback::new(
                FallbackCause::DataWithoutDss,
                Some(self.mpc.local.token),
                mib,
            ));
        }
        ClientProgress::Waiting(self)
    }
}

/// Active-open blackhole detection (Linux `ctrl.c`: `mptcp_active_detect_blackhole`,
/// `mptcp_active_disable`, `mptcp_active_should_disable`), one per host.
///
/// When an MP_CAPABLE SYN was dropped until the fallback SYN went without MPTCP
/// ([`FallbackCause::SynDropped`]) and that plain SYN was answered, something on the path
/// drops MPTCP SYNs: active opens then go without MPTCP for `timeout` (`Blackhole`
/// counted), doubling with each new detection up to 64 times `timeout`. Check
/// [`ActiveBlackhole::should_disable`] before an active open and use
/// [`MpcSynSent::disabled`] when it says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveBlackhole {
    /// `net.mptcp.blackhole_timeout` (default 3600 s); zero turns detection off.
    pub timeout: Duration,
    disable_times: u32,
    stamp: Instant,
}

impl Default for ActiveBlackhole {
    fn default() -> Self {
        ActiveBlackhole::new(Duration::from_secs(3600))
    }
}

impl ActiveBlackhole {
    pub fn new(timeout: Duration) -> Self {
        ActiveBlackhole {
            timeout,
            disable_times: 0,
            stamp: Instant::ZERO,
        }
    }

    /// Whether active opens should skip MPTCP at `now`.
    pub fn should_disable(&self, now: Instant) -> bool {
        if self.timeout.is_zero() || self.disable_times == 0 {
            return false;
        }
        let multiplier = 1u32 << (self.disable_times - 1).min(6);
        match self
            .stamp
            .checked_add(self.timeout.saturating_mul(multiplier))
        {
            Some(until) => now < until,
            None => true,
        }
    }

    /// The plain SYN sent after [`FallbackCause::SynDropped`] was answered: MPTCP SYNs are
    /// being dropped on the path. Counts `Blackhole`.
    pub fn handle_fallback_synack(&mut self, now: Instant, mib: &mut MibCounters) {
        if self.timeout.is_zero() {
            return;
        }
        self.disable_times = self.disable_times.saturating_add(1);
        self.stamp = now;
        mib.inc(Mib::Blackhole);
    }

    /// Forget past detections (Linux does this when an MPTCP connection over loopback
    /// succeeds).
    pub fn reset(&mut self) {
        self.disable_times = 0;
    }
}

// ---------------------------------------------------------------------------------------
// MP_CAPABLE, server
// ---------------------------------------------------------------------------------------

/// Server: the MP_CAPABLE SYN/ACK is out; our key is in the token table.
#[derive(Debug, Clone)]
pub struct MpcSynReceived {
    version: Version,
    local: KeyInfo,
    /// v0: the client's key came on the SYN.
    remote_key: Option<u64>,
    /// Our flag A (`cfg.checksum`), as on the SYN/ACK.
    our_checksum: bool,
    checksum: bool,
    deny_join_id0: bool,
}

/// What a server does with a SYN.
#[derive(Debug, Clone)]
pub enum SynOutcome {
    /// Answer with [`MpcSynReceived::synack_option`].
    Mptcp(MpcSynReceived),
    /// Answer as plain TCP. `None`: the SYN did not ask for MPTCP (or asked unusably).
    PlainTcp(Option<Fallback>),
}

/// The mapping an MP_CAPABLE with data carries (RFC 8684 §3.1): `data_len` bytes from DSN
/// `dsn` (the client's IDSN + 1) at subflow sequence 1; the checksum, if any, is for the
/// data path to verify over the whole mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstMapping {
    pub dsn: DataSeq,
    pub ssn: u32,
    pub data_len: u16,
    pub checksum: Option<u16>,
}

/// What a server does with the third ACK (or the first data segment).
#[derive(Debug, Clone)]
pub enum ServerAckOutcome {
    /// MPTCP, fully established. `first_data` is the mapping of an MP_CAPABLE with data.
    Established {
        mpc: MpcEstablished,
        first_data: Option<FirstMapping>,
    },
    /// Plain TCP from here on (the token was removed).
    Fallback(Fallback),
    /// Close the subflow with a RST carrying this MP_TCPRST (the token was removed).
    Reset(MpTcprst),
}

impl MpcSynReceived {
    /// A SYN arrived with these MPTCP options. For MPTCP, draws our key from `rng` into
    /// `table` for `conn` and counts `MPCapableSYNRX`.
    ///
    /// - no MP_CAPABLE, or one with unusable flags: plain TCP, nothing counted;
    /// - v0 (12 bytes with the client's key): v0 if `cfg.allow_v0`, else plain TCP
    ///   ([`FallbackCause::UnsupportedVersion`]);
    /// - v1 (4 bytes), or a higher version: v1. RFC 8684 §3.1: a responder that does not
    ///   support the requested version answers with the highest version it supports, and
    ///   the initiator decides. (Linux ignores versions other than 1.)
    /// - no unique token: plain TCP ([`FallbackCause::TokenInit`]).
    pub fn handle_syn<C>(
        cfg: &HandshakeConfig,
        opts: &[MptcpOption<'_>],
        table: &mut TokenTable<C>,
        conn: C,
        rng: &mut impl FnMut() -> u64,
        mib: &mut MibCounters,
    ) -> SynOutcome {
        let Some(m) = mpc_of(opts) else {
            return SynOutcome::PlainTcp(None);
        };
        if join_of(opts).is_some() {
            // Both MP_CAPABLE and MP_JOIN: neither is honoured (Linux `subflow_check_req`
            // counts the MP_CAPABLE and answers as plain TCP).
            mib.inc(Mib::MPCapableSYNRX);
            return SynOutcome::PlainTcp(None);
        }
        if !flags_usable(m.flags) || m.receiver_key.is_some() {
            return SynOutcome::PlainTcp(None);
        }
        let (version, remote_key) = match (m.version, m.sender_key) {
            (0, Some(k)) if cfg.allow_v0 => (Version::V0, Some(k)),
            (0, _) => {
                return SynOutcome::PlainTcp(Some(Fallback::new(
                    FallbackCause::UnsupportedVersion,
                    None,
                    mib,
                )))
            }
            // A v1 SYN carries no key (RFC 8684 §3.1, 4 bytes).
            (_, None) => (Version::V1, None),
            (_, Some(_)) => return SynOutcome::PlainTcp(None),
        };
        let Ok(new) = table.new_accept(version, conn, rng, mib) else {
            return SynOutcome::PlainTcp(Some(Fallback::new(FallbackCause::TokenInit, None, mib)));
        };
        mib.inc(Mib::MPCapableSYNRX);
        SynOutcome::Mptcp(MpcSynReceived {
            version,
            local: new.key,
            remote_key,
            our_checksum: cfg.checksum,
            // RFC 8684 §3.1: checksums are used if either end requires them.
            checksum: cfg.checksum || m.flags & mpc_flags::CHECKSUM != 0,
            deny_join_id0: !cfg.allow_join_initial_addr_port,
        })
    }

    /// A SYN arrived on the listener of a port-based `signal` endpoint (an address and port
    /// announced only for joins). An MP_CAPABLE there is refused with a reset and counts
    /// `MPCapableEndpAttempt` (Linux `subflow_check_req`); returns the MP_TCPRST to send,
    /// `None` when the SYN carries no MP_CAPABLE (then it is handled as usual).
    pub fn handle_syn_on_endpoint_port(
        opts: &[MptcpOption<'_>],
        mib: &mut MibCounters,
    ) -> Option<MpTcprst> {
        mpc_of(opts)?;
        mib.inc(Mib::MPCapableEndpAttempt);
        Some(MpTcprst {
            flags: 0,
            reason: tcprst::ADMIN_PROHIBITED,
        })
    }

    /// Our key.
    pub fn local(&self) -> KeyInfo {
        self.local
    }

    /// The version this connection speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The SYN/ACK's MP_CAPABLE: our key (12 bytes). Flag A states our own requirement, as
    /// Linux does (`subflow_req->csum_reqd` from the sysctl); flag C when joins to the
    /// initial address are refused.
    pub fn synack_option(&self) -> MptcpOption<'static> {
        MptcpOption::MpCapable(MpCapable {
            version: version_number(self.version),
            flags: mpc_flags_for(self.our_checksum, self.deny_join_id0),
            sender_key: Some(self.local.key),
            receiver_key: None,
            data_len: None,
            checksum: None,
        })
    }

    /// The third ACK (or, when that was lost, the first data segment) arrived with these
    /// MPTCP options.
    ///
    /// It must carry MP_CAPABLE with both keys, our key as the receiver's, in our version
    /// (v0: the sender's key must be the one of the SYN). Otherwise the connection falls back
    /// (`MPCapableFallbackACK`; Linux `subflow_syn_recv_sock`). With checksums negotiated, an
    /// MP_CAPABLE with data but without checksum is a protocol error: RFC 8684 §3.3 says
    /// the receiver MUST close the subflow with a RST (reason "MPTCP-specific error").
    /// On success counts `MPCapableACKRX` and records the client's key in `table`.
    pub fn handle_ack<C>(
        self,
        opts: &[MptcpOption<'_>],
        table: &mut TokenTable<C>,
        mib: &mut MibCounters,
    ) -> ServerAckOutcome {
        let token = self.local.token;
        let usable = mpc_of(opts).and_then(|m| {
            let ok = m.version == version_number(self.version)
                && flags_usable(m.flags)
                && m.receiver_key == Some(self.local.key)
                && (self.remote_key.is_none() || m.sender_key == self.remote_key);
            m.sender_key.filter(|_| ok).map(|k| (m, k))
        });
        let Some((m, remote_key)) = usable else {
            table.remove(token);
            return ServerAckOutcome::Fallback(Fallback::new(
                FallbackCause::NoOptionInThirdAck,
                None,
                mib,
            ));
        };
        if self.checksum && m.data_len.is_some() && m.checksum.is_none() {
            table.remove(token);
            return ServerAckOutcome::Reset(MpTcprst {
                flags: 0,
                reason: tcprst::MPTCP_ERROR,
            });
        }
        mib.inc(Mib::MPCapableACKRX);
        table.set_remote_key(token, remote_key);
        let remote = KeyInfo::new(self.version, remote_key);
        let first_data = m.data_len.map(|len| FirstMapping {
            dsn: DataSeq(remote.idsn.wrapping_add(1)),
            ssn: 1,
            data_len: len,
            checksum: m.checksum,
        });
        ServerAckOutcome::Established {
            mpc: MpcEstablished {
                role: Role::Server,
                version: self.version,
                local: self.local,
                remote,
                checksum: self.checksum,
                peer_deny_join_id0: m.flags & mpc_flags::NO_MORE_SUBFLOWS != 0,
            },
            first_data,
        }
    }
}

// ---------------------------------------------------------------------------------------
// MP_JOIN
// ---------------------------------------------------------------------------------------

/// The keys of the connection a join belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinKeys {
    pub version: Version,
    pub local_key: u64,
    pub remote_key: u64,
}

/// Why a join was refused, with the MP_TCPRST reason the RST carries (RFC 8684 §3.6) and
/// the counter bumped (Linux `subflow_check_req`, `subflow_finish_connect`,
/// `subflow_syn_recv_sock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinRefusal {
    /// The SYN's token names no connection. `MPJoinNoTokenFound`; reason MPTCP error.
    UnknownToken { token: u32 },
    /// The SYN reached a port we did not announce for this connection.
    /// `MismatchPortSynRx`; reason unspecified (Linux sets none).
    PortMismatch,
    /// The connection is not established yet (its peer key is unknown). `MPJoinRejected`;
    /// reason MPTCP error.
    NotEstablished,
    /// The SYN/ACK had no MP_JOIN SYN/ACK form. Reason MPTCP error.
    NoSynAckOption,
    /// The SYN/ACK's truncated HMAC is wrong. `MPJoinSynAckHMacFailure`; reason MPTCP
    /// error.
    SynAckHmac,
    /// The third ACK had no MP_JOIN ACK form, or its HMAC is wrong.
    /// `MPJoinAckHMacFailure`; reason administratively prohibited (as Linux).
    AckHmac,
    /// The path manager does not accept another subflow (limit reached).
    /// `MPJoinRejected`; reason administratively prohibited (the kernel's reset in the
    /// `tcprst` fixture).
    Rejected,
}

impl JoinRefusal {
    /// The MP_TCPRST reason code (RFC 8684 §3.6).
    pub fn reason(self) -> u8 {
        match self {
            JoinRefusal::UnknownToken { .. }
            | JoinRefusal::NotEstablished
            | JoinRefusal::NoSynAckOption
            | JoinRefusal::SynAckHmac => tcprst::MPTCP_ERROR,
            JoinRefusal::AckHmac | JoinRefusal::Rejected => tcprst::ADMIN_PROHIBITED,
            JoinRefusal::PortMismatch => tcprst::UNSPECIFIED,
        }
    }

    /// The MP_TCPRST the RST carries (flags 0, as Linux).
    pub fn tcprst(self) -> MpTcprst {
        MpTcprst {
            flags: 0,
            reason: self.reason(),
        }
    }

    /// [`JoinRefusal::tcprst`] as an option to emit.
    pub fn option(self) -> MptcpOption<'static> {
        MptcpOption::MpTcprst(self.tcprst())
    }

    /// The counter bumped when this refusal was returned, if any.
    pub fn mib(self) -> Option<Mib> {
        match self {
            JoinRefusal::UnknownToken { .. } => Some(Mib::MPJoinNoTokenFound),
            JoinRefusal::NotEstablished | JoinRefusal::Rejected => Some(Mib::MPJoinRejected),
            JoinRefusal::NoSynAckOption => None,
            JoinRefusal::SynAckHmac => Some(Mib::MPJoinSynAckHMacFailure),
            JoinRefusal::AckHmac => Some(Mib::MPJoinAckHMacFailure),
            JoinRefusal::PortMismatch => Some(Mib::MismatchPortSynRx),
        }
    }

    fn counted(self, mib: &mut MibCounters) -> Self {
        if let Some(m) = self.mib() {
            mib.inc(m);
        }
        self
    }
}

/// A checked MP_JOIN subflow. Only [`JoinSynReceived::handle_ack`] and
/// [`JoinAckSent::handle_ack`] make one, after the HMAC checks (RFC 8684 §3.2), so a
/// subflow installed from a `VerifiedJoin` cannot have skipped them. Outside this module
/// it cannot be built:
///
/// ```compile_fail
/// use dataplane::mptcp::handshake::{JoinKeys, Role, VerifiedJoin};
/// use dataplane::wire::mptcp::Version;
/// let keys = JoinKeys { version: Version::V1, local_key: 1, remote_key: 2 };
/// let forged = VerifiedJoin {
///     conn: 0u32, role: Role::Client, keys, local_nonce: 0, remote_nonce: 0,
///     local_id: 0, remote_id: 0, local_backup: false, remote_backup: false,
/// };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedJoin<C> {
    conn: C,
    role: Role,
    keys: JoinKeys,
    local_nonce: u32,
    remote_nonce: u32,
    local_id: u8,
    remote_id: u8,
    local_backup: bool,
    remote_backup: bool,
}

impl<C: Copy> VerifiedJoin<C> {
    /// The connection joined.
    pub fn conn(&self) -> C {
        self.conn
    }
    /// Client: we sent the MP_JOIN SYN.
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn keys(&self) -> JoinKeys {
        self.keys
    }
    pub fn local_nonce(&self) -> u32 {
        self.local_nonce
    }
    pub fn remote_nonce(&self) -> u32 {
        self.remote_nonce
    }
    /// Our address ID on this subflow.
    pub fn local_id(&self) -> u8 {
        self.local_id
    }
    /// The peer's address ID on this subflow.
    pub fn remote_id(&self) -> u8 {
        self.remote_id
    }
    /// We asked for this subflow to be a backup (our B flag).
    pub fn local_backup(&self) -> bool {
        self.local_backup
    }
    /// The peer asked for this subflow to be a backup (its B flag, RFC 8684 §3.2: the
    /// sender of B wants to *receive* on it only as backup).
    pub fn remote_backup(&self) -> bool {
        self.remote_backup
    }
}

fn join_of<'a>(opts: &'a [MptcpOption<'_>]) -> Option<&'a MpJoin> {
    opts.iter().find_map(|o| match o {
        MptcpOption::MpJoin(j) => Some(j),
        _ => None,
    })
}

/// Server: an MP_JOIN SYN was accepted (its token is ours) and our SYN/ACK is out.
#[derive(Debug, Clone)]
pub struct JoinSynReceived<C> {
    conn: C,
    keys: JoinKeys,
    local_nonce: u32,
    remote_nonce: u32,
    local_id: u8,
    remote_id: u8,
    local_backup: bool,
    remote_backup: bool,
    /// The SYN reached a port-based endpoint's listener (`MPJoinPortAckRx` on success).
    port_join: bool,
}

/// Our side of a join we answer: chosen by the caller (the path manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinLocal {
    /// Our address ID for the address the SYN arrived on (0 for the initial address).
    pub addr_id: u8,
    /// Ask the peer to use this subflow as a backup (our endpoint's backup flag).
    pub backup: bool,
    /// Our random nonce.
    pub nonce: u32,
}

impl<C: Copy> JoinSynReceived<C> {
    /// An MP_JOIN SYN arrived with these options. Counts `MPJoinSynRx` (and
    /// `MPJoinSynBackupRx` for flag B), then looks the token up (RFC 8684 §3.2: the token
    /// identifies the connection; unknown -> `MPJoinNoTokenFound`, reset). Returns `None`
    /// when the SYN has no MP_JOIN SYN form, or also carries MP_CAPABLE (not a join: hand it
    /// to [`MpcSynReceived::handle_syn`], which answers such a SYN as plain TCP).
    pub fn handle_syn(
        opts: &[MptcpOption<'_>],
        table: &TokenTable<C>,
        local: JoinLocal,
        mib: &mut MibCounters,
    ) -> Option<Result<JoinSynReceived<C>, JoinRefusal>> {
        if mpc_of(opts).is_some() {
            return None;
        }
        let MpJoin::Syn {
            backup,
            addr_id,
            token,
            nonce,
        } = *join_of(opts)?
        else {
            return None;
        };
        mib.inc(Mib::MPJoinSynRx);
        if backup {
            mib.inc(Mib::MPJoinSynBackupRx);
        }
        let Some(entry) = table.lookup(token) else {
            return Some(Err(JoinRefusal::UnknownToken { token }.counted(mib)));
        };
        let Some(remote_key) = entry.remote_key else {
            return Some(Err(JoinRefusal::NotEstablished.counted(mib)));
        };
        Some(Ok(JoinSynReceived {
            conn: entry.conn,
            keys: JoinKeys {
                version: entry.version,
                local_key: entry.local.key,
                remote_key,
            },
            local_nonce: local.nonce,
            remote_nonce: nonce,
            local_id: local.addr_id,
            remote_id: addr_id,
            local_backup: local.backup,
            remote_backup: backup,
            port_join: false,
        }))
    }

    /// For a join SYN that reached a listener on another port than the connection's
    /// (a port-based `signal` endpoint; Linux `subflow_use_different_sport`): the port must
    /// be one we announced (`port_announced`, from
    /// [`crate::mptcp::pm::PmConn::port_announced`]), else the join is refused
    /// (`MismatchPortSynRx`); if it is, `MPJoinPortSynRx`. Same port: nothing to check.
    pub fn check_port(
        mut self,
        listener_port: u16,
        conn_port: u16,
        port_announced: bool,
        mib: &mut MibCounters,
    ) -> Result<Self, JoinRefusal> {
        if listener_port == conn_port {
            return Ok(self);
        }
        if !port_announced {
            return Err(JoinRefusal::PortMismatch.counted(mib));
        }
        mib.inc(Mib::MPJoinPortSynRx);
        self.port_join = true;
        Ok(self)
    }

    /// The connection the token named.
    pub fn conn(&self) -> C {
        self.conn
    }

    /// The peer's address ID and backup flag from the SYN.
    pub fn remote_id(&self) -> (u8, bool) {
        (self.remote_id, self.remote_backup)
    }

    /// The SYN/ACK's MP_JOIN (RFC 8684 §3.2): our address ID and B flag, the leftmost 64
    /// bits of HMAC(Key=(Key-B || Key-A), Msg=(R-B || R-A)) (we are B), our nonce.
    pub fn synack_option(&self) -> MptcpOption<'static> {
        MptcpOption::MpJoin(MpJoin::SynAck {
            backup: self.local_backup,
            addr_id: self.local_id,
            hmac: crypto::join_synack_hmac(
                self.keys.version,
                self.keys.local_key,
                self.keys.remote_key,
                self.local_nonce,
                self.remote_nonce,
            ),
            nonce: self.local_nonce,
        })
    }

    /// The third ACK arrived. RFC 8684 §3.2: its HMAC (leftmost 160 bits of
    /// HMAC(Key=(Key-A || Key-B), Msg=(R-A || R-B))) MUST be checked; a wrong or missing one
    /// closes the subflow with a RST (`MPJoinAckHMacFailure`). Then the path manager's
    /// verdict: `accept == false` (subflow limit) refuses with `MPJoinRejected`. Otherwise
    /// counts `MPJoinAckRx` and returns the [`VerifiedJoin`].
    pub fn handle_ack(
        self,
        opts: &[MptcpOption<'_>],
        accept: bool,
        mib: &mut MibCounters,
    ) -> Result<VerifiedJoin<C>, JoinRefusal> {
        let Some(MpJoin::Ack { hmac }) = join_of(opts) else {
            return Err(JoinRefusal::AckHmac.counted(mib));
        };
        if !crypto::join_ack_hmac_valid(
            self.keys.version,
            self.keys.remote_key,
            self.keys.local_key,
            self.remote_nonce,
            self.local_nonce,
            hmac,
        ) {
            return Err(JoinRefusal::AckHmac.counted(mib));
        }
        if !accept {
            return Err(JoinRefusal::Rejected.counted(mib));
        }
        mib.inc(Mib::MPJoinAckRx);
        if self.port_join {
            mib.inc(Mib::MPJoinPortAckRx);
        }
        Ok(VerifiedJoin {
            conn: self.conn,
            role: Role::Server,
            keys: self.keys,
            local_nonce: self.local_nonce,
            remote_nonce: self.remote_nonce,
            local_id: self.local_id,
            remote_id: self.remote_id,
            local_backup: self.local_backup,
            remote_backup: self.remote_backup,
        })
    }
}

/// Client: our MP_JOIN SYN is out.
#[derive(Debug, Clone)]
pub struct JoinSynSent<C> {
    conn: C,
    keys: JoinKeys,
    local: JoinLocal,
    /// The join goes to another port than the connection's (a port the peer announced).
    other_port: bool,
}

impl<C: Copy> JoinSynSent<C> {
    /// Starts a join of connection `conn` from our address `local.addr_id`. Counts
    /// `MPJoinSynTx`.
    pub fn new(conn: C, keys: JoinKeys, local: JoinLocal, mib: &mut MibCounters) -> Self {
        mib.inc(Mib::MPJoinSynTx);
        JoinSynSent {
            conn,
            keys,
            local,
            other_port: false,
        }
    }

    /// The join goes to another destination port than the connection's (one the peer
    /// announced in ADD_ADDR): its SYN/ACK counts `MPJoinPortSynAckRx`.
    pub fn to_other_port(mut self) -> Self {
        self.other_port = true;
        self
    }

    /// The SYN's MP_JOIN: the peer's token (RFC 8684 §3.2), our address ID, B flag and
    /// nonce.
    pub fn syn_option(&self) -> MptcpOption<'static> {
        MptcpOption::MpJoin(MpJoin::Syn {
            backup: self.local.backup,
            addr_id: self.local.addr_id,
            token: crypto::token(self.keys.version, self.keys.remote_key),
            nonce: self.local.nonce,
        })
    }

    /// The SYN/ACK arrived. RFC 8684 §3.2: the initiator MUST check the truncated HMAC
    /// (leftmost 64 bits of HMAC(Key=(Key-B || Key-A), Msg=(R-B || R-A))); a missing option
    /// or a wrong HMAC resets the subflow. Counts `MPJoinSynAckRx` (and
    /// `MPJoinSynAckBackupRx`) on success, `MPJoinSynAckHMacFailure` on a wrong HMAC.
    pub fn handle_synack(
        self,
        opts: &[MptcpOption<'_>],
        mib: &mut MibCounters,
    ) -> Result<JoinAckSent<C>, JoinRefusal> {
        let Some(&MpJoin::SynAck {
            backup,
            addr_id,
            hmac,
            nonce,
        }) = join_of(opts)
        else {
            return Err(JoinRefusal::NoSynAckOption.counted(mib));
        };
        if !crypto::join_synack_hmac_valid(
            self.keys.version,
            self.keys.remote_key,
            self.keys.local_key,
            nonce,
            self.local.nonce,
            hmac,
        ) {
            return Err(JoinRefusal::SynAckHmac.counted(mib));
        }
        mib.inc(Mib::MPJoinSynAckRx);
        if backup {
            mib.inc(Mib::MPJoinSynAckBackupRx);
        }
        if self.other_port {
            mib.inc(Mib::MPJoinPortSynAckRx);
        }
        Ok(JoinAckSent {
            join: VerifiedJoin {
                conn: self.conn,
                role: Role::Client,
                keys: self.keys,
                local_nonce: self.local.nonce,
                remote_nonce: nonce,
                local_id: self.local.addr_id,
                remote_id: addr_id,
                local_backup: self.local.backup,
                remote_backup: backup,
            },
        })
    }
}

/// Client: the third ACK with our HMAC is out (retransmit it with [`JoinAckSent::ack_option`]
/// until it is acknowledged). RFC 8684 §3.2: the subflow is not usable for data before
/// the third ACK is acknowledged.
#[derive(Debug, Clone)]
pub struct JoinAckSent<C> {
    join: VerifiedJoin<C>,
}

impl<C: Copy> JoinAckSent<C> {
    /// The third ACK's MP_JOIN: the leftmost 160 bits of HMAC(Key=(Key-A || Key-B),
    /// Msg=(R-A || R-B)) (we are A).
    pub fn ack_option(&self) -> MptcpOption<'static> {
        let k = self.join.keys;
        let hmac: [u8; JOIN_ACK_HMAC_LEN] = crypto::join_ack_hmac(
            k.version,
            k.local_key,
            k.remote_key,
            self.join.local_nonce,
            self.join.remote_nonce,
        );
        MptcpOption::MpJoin(MpJoin::Ack { hmac })
    }

    /// The peer's address ID and backup flag from the SYN/ACK.
    pub fn remote_id(&self) -> (u8, bool) {
        (self.join.remote_id, self.join.remote_backup)
    }

    /// A segment acknowledged our third ACK (its ACK number covers it; the TCP engine
    /// decides): the subflow is established and may carry data.
    pub fn handle_ack(self) -> VerifiedJoin<C> {
        self.join
    }
}

/// The MP_TCPRST of a reset the peer sent, if any (RFC 8684 §3.6). The caller counts
/// `MPRstRx`.
pub fn peer_reset_reason(opts: &[MptcpOption<'_>]) -> Option<MpTcprst> {
    opts.iter().find_map(|o| match o {
        MptcpOption::MpTcprst(r) => Some(*r),
        _ => None,
    })
}
