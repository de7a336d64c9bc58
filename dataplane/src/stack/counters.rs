//! Per-stack counters, named as Linux names them in `/proc/net/snmp` (`Ip:`, `Tcp:`)
//! and `/proc/net/netstat` (`TcpExt:`), plus ARP counters of our own.

/// `Tcp:` counters (RFC 4022 MIB names, as `/proc/net/snmp` prints them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpMib {
    /// Connections that went SYN_SENT (our `connect`).
    pub active_opens: u64,
    /// Connections that completed a passive open (Linux counts at child creation).
    pub passive_opens: u64,
    /// SYN_SENT/SYN_RECV to CLOSED, and SYN_RECV back to LISTEN.
    pub attempt_fails: u64,
    /// ESTABLISHED/CLOSE_WAIT straight to CLOSED (reset, abort, timeout).
    pub estab_resets: u64,
    /// Connections now in ESTABLISHED or CLOSE_WAIT (a gauge).
    pub curr_estab: u64,
    /// Segments received, errors included.
    pub in_segs: u64,
    /// Segments sent, without those that only retransmit.
    pub out_segs: u64,
    /// Segments sent that retransmit.
    pub retrans_segs: u64,
    /// Segments received with errors (bad checksum, truncated header).
    pub in_errs: u64,
    /// Segments sent with RST.
    pub out_rsts: u64,
    /// Segments received with a bad checksum.
    pub in_csum_errors: u64,
}

/// `TcpExt:` counters we keep (Linux `LINUX_MIB_*` names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpExtMib {
    /// A handshake completed or a SYN arrived while the accept queue was full.
    pub listen_overflows: u64,
    /// SYNs (or handshake ACKs) a listener dropped, overflows included.
    pub listen_drops: u64,
    /// TIME_WAIT connections replaced by a new one on the same 4-tuple: a newer SYN
    /// from the peer (RFC 6191), or our `connect` with `tw_reuse`.
    pub tw_recycled: u64,
    /// TIME_WAIT connections that ran out their time (`TW`).
    pub time_waited: u64,
    /// Segments for no connection that drew no RST because they were RSTs.
    pub rst_to_closed_ignored: u64,
}

/// `Ip:` counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpMib {
    /// IPv4 packets received.
    pub in_receives: u64,
    /// Bad IPv4 headers (version, length, checksum).
    pub in_hdr_errors: u64,
    /// Packets for an address that is not ours.
    pub in_addr_errors: u64,
    /// Packets of a protocol we do not speak.
    pub in_unknown_protos: u64,
    /// Packets handed to TCP.
    pub in_delivers: u64,
    /// Packets we sent.
    pub out_requests: u64,
    /// Packets we could not route.
    pub out_no_routes: u64,
    /// Fragments dropped: mpdk does not reassemble (Linux's `ReasmFails` counts failed
    /// reassemblies; here every fragment is one).
    pub reasm_fails: u64,
}

/// ARP counters (Linux keeps these per neighbour table; the names are ours).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArpMib {
    /// Requests received for one of our addresses.
    pub requests_rx: u64,
    /// Replies received.
    pub replies_rx: u64,
    /// Requests sent.
    pub requests_tx: u64,
    /// Replies sent.
    pub replies_tx: u64,
    /// Resolutions that gave up after the last retry.
    pub failed: u64,
    /// Packets dropped because the resolution queue was full or resolution failed.
    pub unresolved_drops: u64,
    /// Malformed or unsupported ARP packets.
    pub bad: u64,
}

/// Everything a [`Stack`](super::Stack) counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// `Tcp:`.
    pub tcp: TcpMib,
    /// `TcpExt:`.
    pub ext: TcpExtMib,
    /// `Ip:`.
    pub ip: IpMib,
    /// ARP.
    pub arp: ArpMib,
    /// Frames not for our MAC (or not Ethernet at all).
    pub eth_dropped: u64,
    /// Segments that could not be framed (options too long for the header).
    pub emit_errors: u64,
}

impl Counters {
    /// `(name, value)` pairs with the Linux names (`Tcp`/`Ip` prefixes as in
    /// `nstat`), in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        let t = &self.tcp;
        let e = &self.ext;
        let i = &self.ip;
        let a = &self.arp;
        [
            ("IpInReceives", i.in_receives),
            ("IpInHdrErrors", i.in_hdr_errors),
            ("IpInAddrErrors", i.in_addr_errors),
            ("IpInUnknownProtos", i.in_unknown_protos),
            ("IpInDelivers", i.in_delivers),
            ("IpOutRequests", i.out_requests),
            ("IpOutNoRoutes", i.out_no_routes),
            ("IpReasmFails", i.reasm_fails),
            ("TcpActiveOpens", t.active_opens),
            ("TcpPassiveOpens", t.passive_opens),
            ("TcpAttemptFails", t.attempt_fails),
            ("TcpEstabResets", t.estab_resets),
            ("TcpCurrEstab", t.curr_estab),
            ("TcpInSegs", t.in_segs),
            ("TcpOutSegs", t.out_segs),
            ("TcpRetransSegs", t.retrans_segs),
            ("TcpInErrs", t.in_errs),
            ("TcpOutRsts", t.out_rsts),
            ("TcpInCsumErrors", t.in_csum_errors),
            ("TcpExtListenOverflows", e.listen_overflows),
            ("TcpExtListenDrops", e.listen_drops),
            ("TcpExtTWRecycled", e.tw_recycled),
            ("TcpExtTW", e.time_waited),
            ("ArpRequestsRx", a.requests_rx),
            ("ArpRepliesRx", a.replies_rx),
            ("ArpRequestsTx", a.requests_tx),
            ("ArpRepliesTx", a.replies_tx),
            ("ArpFailed", a.failed),
            ("ArpUnresolvedDrops", a.unresolved_drops),
        ]
        .into_iter()
    }
}
