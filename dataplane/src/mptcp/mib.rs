//! MPTCP MIB counters, named exactly as Linux's `MPTcpExt*` counters (`nstat -az`,
//! `/proc/net/netstat`, Linux 6.18 `net/mptcp/mib.c`), in the kernel's order.
//!
//! [`Mib`] names one counter; [`MibCounters`] is a fixed-size array of all of them, used
//! per connection (or per core) and summed into a global view by the control core
//! ([`MibCounters::merge`]). Incrementing never allocates and never fails (saturating).
//!
//! `MPCurrEstab` is a gauge in Linux (incremented when a connection becomes established,
//! decremented when it leaves); [`MibCounters::dec`] exists for it.

macro_rules! mib_list {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// One MPTCP MIB counter; the variant name is the kernel's name without the
        /// `MPTcpExt` prefix.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Mib {
            $( $(#[$doc])* $name, )*
        }

        impl Mib {
            /// Every counter, in the kernel's order (the index is `mib as usize`).
            pub const ALL: [Mib; MIB_COUNT] = [$( Mib::$name, )*];

            /// The kernel's name without prefix, e.g. `"MPJoinSynRx"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Mib::$name => stringify!($name), )*
                }
            }

            /// The kernel's full name as `nstat` prints it, e.g. `"MPTcpExtMPJoinSynRx"`.
            pub const fn full_name(self) -> &'static str {
                match self {
                    $( Mib::$name => concat!("MPTcpExt", stringify!($name)), )*
                }
            }
        }
    };
}

/// Number of counters (76 in Linux 6.18).
pub const MIB_COUNT: usize = 76;

mib_list! {
    /// MP_CAPABLE SYN received (passive open).
    MPCapableSYNRX,
    /// MP_CAPABLE SYN sent (active open).
    MPCapableSYNTX,
    /// MP_CAPABLE SYN/ACK received.
    MPCapableSYNACKRX,
    /// MP_CAPABLE third ACK received.
    MPCapableACKRX,
    /// Fallback: the third ACK carried no MP_CAPABLE.
    MPCapableFallbackACK,
    /// Fallback: the SYN/ACK carried no MP_CAPABLE.
    MPCapableFallbackSYNACK,
    /// MP_CAPABLE SYN retransmitted too often: retrying without MPTCP.
    MPCapableSYNTXDrop,
    /// MPTCP disabled: the SYN was sent without MP_CAPABLE.
    MPCapableSYNTXDisabled,
    /// MP_CAPABLE SYN to a port-based endpoint, refused.
    MPCapableEndpAttempt,
    /// Fallback: no unique token after the bounded retries.
    MPFallbackTokenInit,
    /// Data-level retransmissions.
    MPTCPRetrans,
    /// MP_JOIN SYN with an unknown token.
    MPJoinNoTokenFound,
    /// MP_JOIN SYN received.
    MPJoinSynRx,
    /// MP_JOIN SYN with the backup flag received.
    MPJoinSynBackupRx,
    /// MP_JOIN SYN/ACK received.
    MPJoinSynAckRx,
    /// MP_JOIN SYN/ACK with the backup flag received.
    MPJoinSynAckBackupRx,
    /// MP_JOIN SYN/ACK with a wrong truncated HMAC.
    MPJoinSynAckHMacFailure,
    /// MP_JOIN third ACK received.
    MPJoinAckRx,
    /// MP_JOIN third ACK with a wrong HMAC.
    MPJoinAckHMacFailure,
    /// MP_JOIN refused by the path manager (subflow limit).
    MPJoinRejected,
    /// MP_JOIN SYN sent.
    MPJoinSynTx,
    /// MP_JOIN subflow could not be created.
    MPJoinSynTxCreatSkErr,
    /// MP_JOIN subflow could not bind its local address.
    MPJoinSynTxBindErr,
    /// MP_JOIN subflow connect failed.
    MPJoinSynTxConnectErr,
    /// DSS mapping inconsistent with an earlier one.
    DSSNotMatching,
    /// Data corruption detected, fell back to TCP.
    DSSCorruptionFallback,
    /// Data corruption detected, subflow reset.
    DSSCorruptionReset,
    /// Infinite mapping sent.
    InfiniteMapTx,
    /// Infinite mapping received.
    InfiniteMapRx,
    /// DSS mapping does not match the TCP sequence space.
    DSSNoMatchTCP,
    /// DSS checksum failure.
    DataCsumErr,
    /// Data-level out-of-order segment queued at the tail.
    OFOQueueTail,
    /// Data-level out-of-order segment queued.
    OFOQueue,
    /// Data-level out-of-order segment merged.
    OFOMerge,
    /// Segment without DSS inside the receive window.
    NoDSSInWindow,
    /// Data-level duplicate data received.
    DuplicateData,
    /// ADD_ADDR (not an echo) received.
    AddAddr,
    /// ADD_ADDR sent.
    AddAddrTx,
    /// ADD_ADDR could not be sent.
    AddAddrTxDrop,
    /// ADD_ADDR echo received.
    EchoAdd,
    /// ADD_ADDR echo sent.
    EchoAddTx,
    /// ADD_ADDR echo could not be sent.
    EchoAddTxDrop,
    /// ADD_ADDR with a port received.
    PortAdd,
    /// ADD_ADDR received and dropped (not accepted).
    AddAddrDrop,
    /// MP_JOIN SYN to a port-based endpoint received.
    MPJoinPortSynRx,
    /// MP_JOIN SYN/ACK from a port-based endpoint received.
    MPJoinPortSynAckRx,
    /// MP_JOIN third ACK to a port-based endpoint received.
    MPJoinPortAckRx,
    /// MP_JOIN SYN on a port other than the announced one.
    MismatchPortSynRx,
    /// MP_JOIN third ACK on a port other than the announced one.
    MismatchPortAckRx,
    /// REMOVE_ADDR received.
    RmAddr,
    /// REMOVE_ADDR received and dropped.
    RmAddrDrop,
    /// REMOVE_ADDR sent.
    RmAddrTx,
    /// REMOVE_ADDR could not be sent.
    RmAddrTxDrop,
    /// Subflow removed because of a REMOVE_ADDR.
    RmSubflow,
    /// MP_PRIO sent.
    MPPrioTx,
    /// MP_PRIO received.
    MPPrioRx,
    /// MP_FAIL sent.
    MPFailTx,
    /// MP_FAIL received.
    MPFailRx,
    /// MP_FASTCLOSE sent.
    MPFastcloseTx,
    /// MP_FASTCLOSE received.
    MPFastcloseRx,
    /// MP_TCPRST sent.
    MPRstTx,
    /// MP_TCPRST received.
    MPRstRx,
    /// Subflow marked stale.
    SubflowStale,
    /// Stale subflow recovered.
    SubflowRecover,
    /// Send window shared between subflows was used.
    SndWndShared,
    /// Receive window shared between subflows was used.
    RcvWndShared,
    /// Receive window update raced with another subflow and was redone.
    RcvWndConflictUpdate,
    /// Receive window conflict between subflows.
    RcvWndConflict,
    /// Currently established MPTCP connections (a gauge: incremented and decremented).
    MPCurrEstab,
    /// MPTCP blackhole detected (MPTCP disabled for a while).
    Blackhole,
    /// Fallback: data without DSS before the connection was fully established.
    MPCapableDataFallback,
    /// Fallback: TCP MD5 signature in use.
    MD5SigFallback,
    /// Fallback: DSS infinite mapping / protocol error on the data path.
    DssFallback,
    /// Fallback: simultaneous connect.
    SimultConnectFallback,
    /// Fallback was needed but was not possible.
    FallbackFailed,
    /// MPTCP-level zero-window probe sent.
    WinProbe,
}

impl Mib {
    /// The counter called `name`, with or without the `MPTcpExt` prefix (exact case, as the
    /// kernel spells it).
    pub fn from_name(name: &str) -> Option<Mib> {
        let bare = name.strip_prefix("MPTcpExt").unwrap_or(name);
        Mib::ALL.iter().copied().find(|m| m.name() == bare)
    }

    /// Position in [`Mib::ALL`] and in [`MibCounters`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl core::fmt::Display for Mib {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.full_name())
    }
}

/// One value per [`Mib`] counter. `Copy`, fixed size, no heap: a snapshot is a copy.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MibCounters {
    vals: [u64; MIB_COUNT],
}

impl Default for MibCounters {
    fn default() -> Self {
        MibCounters::new()
    }
}

impl core::fmt::Debug for MibCounters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(self.iter_nonzero().map(|(m, v)| (m.name(), v)))
            .finish()
    }
}

impl MibCounters {
    /// All counters zero.
    pub const fn new() -> Self {
        MibCounters {
            vals: [0; MIB_COUNT],
        }
    }

    /// Adds one.
    #[inline]
    pub fn inc(&mut self, m: Mib) {
        self.add(m, 1);
    }

    /// Adds `n` (saturating).
    #[inline]
    pub fn add(&mut self, m: Mib, n: u64) {
        if let Some(v) = self.vals.get_mut(m.index()) {
            *v = v.saturating_add(n);
        }
    }

    /// Subtracts one (saturating at zero); for the `MPCurrEstab` gauge.
    #[inline]
    pub fn dec(&mut self, m: Mib) {
        if let Some(v) = self.vals.get_mut(m.index()) {
            *v = v.saturating_sub(1);
        }
    }

    /// The value of one counter.
    #[inline]
    pub fn get(&self, m: Mib) -> u64 {
        self.vals.get(m.index()).copied().unwrap_or(0)
    }

    /// Adds every counter of `other` into `self` (per-connection or per-core counters into
    /// the global view).
    pub fn merge(&mut self, other: &MibCounters) {
        for (a, b) in self.vals.iter_mut().zip(other.vals.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// A copy of the current values.
    pub fn snapshot(&self) -> MibCounters {
        *self
    }

    /// `self - earlier`, counter by counter (saturating at zero): what happened between
    /// two snapshots, like `nstat`'s deltas.
    pub fn delta(&self, earlier: &MibCounters) -> MibCounters {
        let mut out = *self;
        for (a, b) in out.vals.iter_mut().zip(earlier.vals.iter()) {
            *a = a.saturating_sub(*b);
        }
        out
    }

    /// Every counter with its value, in the kernel's order.
    pub fn iter(&self) -> impl Iterator<Item = (Mib, u64)> + '_ {
        Mib::ALL.iter().copied().zip(self.vals.iter().copied())
    }

    /// The counters that are not zero, in the kernel's order.
    pub fn iter_nonzero(&self) -> impl Iterator<Item = (Mib, u64)> + '_ {
        self.iter().filter(|&(_, v)| v != 0)
    }

    /// Sets every counter to zero.
    pub fn clear(&mut self) {
        self.vals = [0; MIB_COUNT];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_kernel_spelling() {
        assert_eq!(Mib::MPCapableSYNRX.name(), "MPCapableSYNRX");
        assert_eq!(Mib::MPJoinSynRx.full_name(), "MPTcpExtMPJoinSynRx");
        assert_eq!(Mib::MPJoinAckHMacFailure.name(), "MPJoinAckHMacFailure");
        assert_eq!(Mib::DSSNotMatching.full_name(), "MPTcpExtDSSNotMatching");
        assert_eq!(Mib::WinProbe.index(), MIB_COUNT - 1);
        for (i, m) in Mib::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
            assert_eq!(Mib::from_name(m.name()), Some(*m));
            assert_eq!(Mib::from_name(m.full_name()), Some(*m));
            assert_eq!(m.to_string(), m.full_name());
        }
        assert_eq!(Mib::from_name("MPTcpExtNoSuchThing"), None);
        assert_eq!(Mib::from_name("mpjoinsynrx"), None);
    }

    /// When the kernel on this machine exposes its counters, every one of them is ours,
    /// under the same name (skipped where /proc/net/netstat has no MPTcpExt line).
    #[test]
    fn every_kernel_counter_is_known() {
        let Ok(text) = std::fs::read_to_string("/proc/net/netstat") else {
            return;
        };
        let Some(header) = text.lines().find(|l| l.starts_with("MPTcpExt:")) else {
            return;
        };
        let names: Vec<&str> = header.split_whitespace().skip(1).collect();
        for n in &names {
            assert!(Mib::from_name(n).is_some(), "kernel counter {n} unknown");
        }
    }

    #[test]
    fn counters_add_merge_delta() {
        let mut a = MibCounters::new();
        a.inc(Mib::MPJoinSynRx);
        a.inc(Mib::MPJoinSynRx);
        a.add(Mib::DataCsumErr, 5);
        a.inc(Mib::MPCurrEstab);
        a.dec(Mib::MPCurrEstab);
        a.dec(Mib::MPCurrEstab);
        assert_eq!(a.get(Mib::MPJoinSynRx), 2);
        assert_eq!(a.get(Mib::MPCurrEstab), 0);
        let nz: Vec<_> = a.iter_nonzero().collect();
        assert_eq!(nz, vec![(Mib::MPJoinSynRx, 2), (Mib::DataCsumErr, 5)]);

        let snap = a.snapshot();
        let mut global = MibCounters::new();
        global.merge(&a);
        global.merge(&a);
        assert_eq!(global.get(Mib::MPJoinSynRx), 4);
        a.inc(Mib::MPFastcloseTx);
        let d = a.delta(&snap);
        assert_eq!(
            d.iter_nonzero().collect::<Vec<_>>(),
            vec![(Mib::MPFastcloseTx, 1)]
        );
        a.add(Mib::MPFastcloseTx, u64::MAX);
        assert_eq!(a.get(Mib::MPFastcloseTx), u64::MAX);
        a.clear();
        assert_eq!(a.iter_nonzero().count(), 0);
        assert_eq!(format!("{:?}", d), "{\"MPFastcloseTx\": 1}");
    }
}
