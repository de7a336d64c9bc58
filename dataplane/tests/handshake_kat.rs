//! Our handshake state machines, driven in the kernel's roles with the kernel's keys and
//! nonces, must emit byte for byte the MP_CAPABLE / MP_JOIN / MP_TCPRST options the Linux
//! kernel put on the wire in the captures under `tests/fixtures/kernel/`.
//!
//! Inputs (keys, nonces, address IDs, flags, sysctls, limits) come from `NAME.meta.json`
//! (what the fixture tool decoded and what the kernel reported); expected bytes come from
//! the capture itself (the raw option, kind and length included). Nothing is hard-coded.
//! The counters our handshakes bump are compared with the kernel's `nstat` deltas. The
//! path manager replays the `add_addr` scenario the same way.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use dataplane::mptcp::handshake::{
    ClientProgress, HandshakeConfig, JoinKeys, JoinLocal, JoinSynReceived, JoinSynSent,
    MpcSynReceived, MpcSynSent, Role, ServerAckOutcome, SynAckOutcome, SynOutcome,
};
use dataplane::mptcp::mib::{Mib, MibCounters};
use dataplane::mptcp::pm::{
    Endpoint, EndpointFlags, Endpoints, Limits, PmAction, PmConn, PmSubflow, SubflowId,
};
use dataplane::mptcp::token::TokenTable;
use dataplane::pcap::read::{Capture, LinkType};
use dataplane::time::Instant;
use dataplane::wire::frame::{self, TcpFrame};
use dataplane::wire::mptcp::{MpCapable, MptcpOption, Version};
use dataplane::wire::tcp::{TcpFlags, TcpOption};
use serde_json::Value;

const V1: Version = Version::V1;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kernel")
}

/// One TCP segment: its MPTCP options raw (kind and length included) and parsed.
struct Seg<'a> {
    flags: TcpFlags,
    seq: u32,
    src_port: u16,
    payload: &'a [u8],
    raw: Vec<&'a [u8]>,
    opts: Vec<MptcpOption<'a>>,
}

impl Seg<'_> {
    /// The raw bytes of the first option of `subtype`.
    fn raw_of(&self, subtype: u8) -> &[u8] {
        self.raw
            .iter()
            .find(|r| r.get(2).map(|b| b >> 4) == Some(subtype))
            .unwrap_or_else(|| panic!("segment has no MPTCP subtype {subtype}"))
    }
}

fn tcp_of(link: LinkType, data: &[u8]) -> Option<TcpFrame<'_>> {
    if link == LinkType::Ethernet {
        return frame::parse_ethernet(data).expect("kernel frames parse");
    }
    let (ethertype, l3) = dataplane::pcap::read::strip_cooked(link, data)?;
    frame::parse_ip(ethertype, l3).expect("kernel frames parse")
}

/// Segments by 1-based frame number (as in tshark and the meta files).
fn segments(bytes: &[u8]) -> HashMap<usize, Seg<'_>> {
    let capture = Capture::parse(bytes).expect("fixture is a capture");
    let mut out = HashMap::new();
    for (i, rec) in capture.records().enumerate() {
        let rec = rec.expect("fixture records parse");
        let Some(t) = tcp_of(rec.link_type, rec.data) else {
            continue;
        };
        let p = t.packet();
        let mut raw = Vec::new();
        let mut opts = Vec::new();
        for o in t.options() {
            if let Ok(TcpOption::Mptcp(r)) = o {
                raw.push(r);
                opts.push(MptcpOption::parse(r, V1).expect("kernel MPTCP options parse"));
            }
        }
        out.insert(
            i + 1,
            Seg {
                flags: p.flags(),
                seq: p.seq_number().0,
                src_port: p.src_port(),
                payload: t.payload(),
                raw,
                opts,
            },
        );
    }
    out
}

fn meta(name: &str) -> Value {
    let path = fixture_dir().join(format!("{name}.meta.json"));
    serde_json::from_slice(&std::fs::read(path).expect("meta.json exists")).expect("meta is JSON")
}

fn hex_u64(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().expect("hex string"), 16).expect("hex")
}

fn hex_u32(v: &Value) -> u32 {
    u32::from_str_radix(v.as_str().expect("hex string"), 16).expect("hex")
}

fn emit(o: &MptcpOption<'_>) -> Vec<u8> {
    let mut buf = [0u8; 40];
    let n = o.emit(&mut buf, V1).expect("our option has a wire form");
    buf[..n].to_vec()
}

fn frame_no(v: &Value) -> usize {
    v.as_u64().expect("frame number") as usize
}

fn config(m: &Value, role: &str) -> HandshakeConfig {
    let sys = &m["sysctl"][role];
    HandshakeConfig {
        checksum: sys["net.mptcp.checksum_enabled"].as_str() == Some("1"),
        allow_join_initial_addr_port: sys["net.mptcp.allow_join_initial_addr_port"].as_str()
            != Some("0"),
        ..HandshakeConfig::default()
    }
}

/// `subflows N` of an `ip mptcp limits` line.
fn subflow_limit(line: &str) -> usize {
    let mut it = line.split_whitespace();
    while let Some(w) = it.next() {
        if w == "subflows" {
            return it.next().and_then(|n| n.parse().ok()).expect("limit");
        }
    }
    panic!("no subflows limit in {line:?}")
}

/// The counters the handshake module is responsible for.
const HANDSHAKE_MIBS: &[Mib] = &[
    Mib::MPCapableSYNRX,
    Mib::MPCapableSYNTX,
    Mib::MPCapableSYNACKRX,
    Mib::MPCapableACKRX,
    Mib::MPCapableFallbackACK,
    Mib::MPCapableFallbackSYNACK,
    Mib::MPCapableSYNTXDrop,
    Mib::MPCapableSYNTXDisabled,
    Mib::MPFallbackTokenInit,
    Mib::MPCapableDataFallback,
    Mib::MPJoinNoTokenFound,
    Mib::MPJoinSynRx,
    Mib::MPJoinSynBackupRx,
    Mib::MPJoinSynAckRx,
    Mib::MPJoinSynAckBackupRx,
    Mib::MPJoinSynAckHMacFailure,
    Mib::MPJoinAckRx,
    Mib::MPJoinAckHMacFailure,
    Mib::MPJoinRejected,
    Mib::MPJoinSynTx,
];

fn check_mibs(name: &str, m: &Value, role: &str, ours: &MibCounters) {
    let kernel = &m["nstat_mptcp_delta"][role];
    for &mib in HANDSHAKE_MIBS {
        let k = kernel[mib.full_name()].as_u64().unwrap_or(0);
        assert_eq!(ours.get(mib), k, "{name}: {role} {}", mib.full_name());
    }
}

/// Drives both MP_CAPABLE roles and every MP_JOIN of one fixture.
fn run(name: &str, file: &str) -> (usize, usize) {
    let m = meta(name);
    let bytes = std::fs::read(fixture_dir().join(file)).expect("fixture exists");
    let segs = segments(&bytes);
    let conns = m["wire"]["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 1, "{name}: one connection");
    let c = &conns[0];
    let ccfg = config(&m, "client");
    let scfg = config(&m, "server");
    let client_key = hex_u64(&c["client_key"]);
    let server_key = hex_u64(&c["server_key"]);
    let fr = &c["frames"];
    let syn = &segs[&frame_no(&fr["SYN"])];
    let synack = &segs[&frame_no(&fr["SYN-ACK"])];
    let ack = &segs[&frame_no(&fr["ACK"])];
    assert!(syn.flags.contains(TcpFlags::SYN) && !syn.flags.contains(TcpFlags::ACK));
    assert!(synack.flags.contains(TcpFlags::SYN | TcpFlags::ACK));
    let (mut cmib, mut smib) = (MibCounters::new(), MibCounters::new());
    let mut ctable = TokenTable::new();
    let mut stable = TokenTable::new();
    let mut options_compared = 0;

    // --- MP_CAPABLE, client role: the kernel client's key.
    let ck = ctable
        .new_connect(V1, 0u32, &mut || client_key, &mut cmib)
        .unwrap();
    let client = MpcSynSent::new(&ccfg, ck.key, &mut cmib);
    assert_eq!(emit(&client.syn_option()), syn.raw_of(0), "{name}: SYN");
    let SynAckOutcome::Established(client) =
        client.handle_synack(&synack.opts, &mut ctable, &mut cmib)
    else {
        panic!("{name}: the kernel's SYN/ACK is MPTCP")
    };
    assert_eq!(
        emit(&client.ack_option()),
        ack.raw_of(0),
        "{name}: third ACK"
    );
    options_compared += 2;
    // The first data segment's MP_CAPABLE: length of the mapping and, with checksums, the
    // DSS checksum over the mapping's bytes (subflow sequence 1 .. 1 + len).
    if let Some(data_frame) = fr["ACK+data"].as_u64() {
        let data = &segs[&(data_frame as usize)];
        let MptcpOption::MpCapable(MpCapable {
            data_len: Some(len),
            ..
        }) = data.opts[0]
        else {
            panic!("{name}: ACK+data carries MP_CAPABLE with data")
        };
        let isn = syn.seq;
        let mut mapping = vec![None; usize::from(len)];
        for s in segs.values() {
            if s.src_port != syn.src_port {
                continue;
            }
            let rel = s.seq.wrapping_sub(isn) as usize;
            for (i, b) in s.payload.iter().enumerate() {
                if let Some(slot) = (rel + i).checked_sub(1).and_then(|o| mapping.get_mut(o)) {
                    *slot = Some(*b);
                }
            }
        }
        let mapping: Vec<u8> = mapping
            .into_iter()
            .map(|b| b.expect("whole mapping captured"))
            .collect();
        assert_eq!(
            emit(&client.data_option(len, &mapping)),
            data.raw_of(0),
            "{name}: MP_CAPABLE with data"
        );
        options_compared += 1;
    }
    let mpc_client = *client.established();
    // The client is fully established by the first server segment with a DATA_ACK.
    let mut server_frames: Vec<_> = segs
        .iter()
        .filter(|(_, s)| s.src_port != syn.src_port && !s.flags.contains(TcpFlags::SYN))
        .filter(|(_, s)| {
            s.opts
                .iter()
                .any(|o| matches!(o, MptcpOption::Dss(d) if d.data_ack.is_some()))
        })
        .map(|(f, _)| *f)
        .collect();
    server_frames.sort_unstable();
    let first = &segs[&server_frames[0]];
    let ClientProgress::FullyEstablished(full) =
        client.handle_segment(&first.opts, first.payload.len(), &mut cmib)
    else {
        panic!("{name}: a DATA_ACK makes the client fully established")
    };
    assert_eq!(full, mpc_client);

    // --- MP_CAPABLE, server role: the kernel server's key.
    let SynOutcome::Mptcp(server) = MpcSynReceived::handle_syn(
        &scfg,
        &syn.opts,
        &mut stable,
        0u32,
        &mut || server_key,
        &mut smib,
    ) else {
        panic!("{name}: the kernel's SYN is MPTCP")
    };
    assert_eq!(
        emit(&server.synack_option()),
        synack.raw_of(0),
        "{name}: SYN/ACK"
    );
    options_compared += 1;
    let ServerAckOutcome::Established { mpc, first_data } =
        server.handle_ack(&ack.opts, &mut stable, &mut smib)
    else {
        panic!("{name}: the kernel's third ACK completes MP_CAPABLE")
    };
    assert_eq!(first_data, None);
    assert_eq!(mpc.role, Role::Server);
    assert_eq!(mpc.local, mpc_client.remote);
    assert_eq!(mpc.remote, mpc_client.local);
    // Against what the fixture tool derived and the kernel reported.
    assert_eq!(mpc.remote.token, hex_u32(&c["client_token"]), "{name}");
    assert_eq!(mpc.local.token, hex_u32(&c["server_token"]), "{name}");
    assert_eq!(Some(mpc.remote.idsn), c["client_idsn"].as_u64(), "{name}");
    assert_eq!(Some(mpc.local.idsn), c["server_idsn"].as_u64(), "{name}");
    let csum_flag = c["checksum_required_flags"]["ACK"].as_bool().unwrap();
    assert_eq!(mpc.checksum, csum_flag, "{name}: checksum negotiation");
    assert_eq!(
        mpc_client.checksum, csum_flag,
        "{name}: checksum negotiation"
    );
    // The first data mapping as the server sees it, when the third ACK was "lost".
    if let Some(data_frame) = fr["ACK+data"].as_u64() {
        let data = &segs[&(data_frame as usize)];
        let mut t = TokenTable::new();
        let mut mib = MibCounters::new();
        let SynOutcome::Mptcp(s) = MpcSynReceived::handle_syn(
            &scfg,
            &syn.opts,
            &mut t,
            0u32,
            &mut || server_key,
            &mut mib,
        ) else {
            panic!()
        };
        let ServerAckOutcome::Established { first_data, .. } =
            s.handle_ack(&data.opts, &mut t, &mut mib)
        else {
            panic!("{name}: MP_CAPABLE with data completes the handshake too")
        };
        let f = first_data.expect("a mapping");
        let want = &m["wire"]["mappings"]["c2s"]["first"][0];
        assert_eq!(want["form"].as_str(), Some("MP_CAPABLE"));
        assert_eq!(Some(f.dsn.0), want["dsn"].as_u64(), "{name}: first DSN");
        assert_eq!(Some(u64::from(f.ssn)), want["ssn"].as_u64());
        assert_eq!(Some(u64::from(f.data_len)), want["data_len"].as_u64());
    }

    // --- MP_JOIN, both roles, for every join in the capture.
    let limit = subflow_limit(m["mptcp_limits"]["server"].as_str().unwrap());
    let mut joins_accepted = 0;
    let mut joins = 0;
    for j in m["wire"]["joins"].as_array().into_iter().flatten() {
        assert_eq!(
            j["token_of"].as_str(),
            Some("server"),
            "client-initiated joins"
        );
        let ki = hex_u64(&j["initiator_key"]);
        let kr = hex_u64(&j["responder_key"]);
        assert_eq!((ki, kr), (client_key, server_key));
        let jsyn = &segs[&frame_no(&j["syn_frame"])];
        let jsynack = &segs[&frame_no(&j["synack_frame"])];
        let jack = &segs[&frame_no(&j["ack_frame"])];

        // Client role: the kernel client's address ID, backup flag and nonce.
        let c = JoinSynSent::new(
            1u32,
            JoinKeys {
                version: V1,
                local_key: ki,
                remote_key: kr,
            },
            JoinLocal {
                addr_id: j["syn_addr_id"].as_u64().unwrap() as u8,
                backup: j["syn_backup"].as_u64() == Some(1),
                nonce: hex_u32(&j["nonce_initiator"]),
            },
            &mut cmib,
        );
        assert_eq!(emit(&c.syn_option()), jsyn.raw_of(1), "{name}: MP_JOIN SYN");
        let c = c
            .handle_synack(&jsynack.opts, &mut cmib)
            .expect("the kernel's SYN/ACK HMAC verifies");
        assert_eq!(emit(&c.ack_option()), jack.raw_of(1), "{name}: MP_JOIN ACK");
        let cj = c.handle_ack();
        assert_eq!(cj.remote_nonce(), hex_u32(&j["nonce_responder"]));

        // Server role: the kernel server's address ID, backup flag and nonce.
        let s = JoinSynReceived::handle_syn(
            &jsyn.opts,
            &stable,
            JoinLocal {
                addr_id: j["synack_addr_id"].as_u64().unwrap() as u8,
                backup: j["synack_backup"].as_u64() == Some(1),
                nonce: hex_u32(&j["nonce_responder"]),
            },
            &mut smib,
        )
        .expect("a join SYN")
        .expect("the token is the connection's");
        assert_eq!(
            emit(&s.synack_option()),
            jsynack.raw_of(1),
            "{name}: MP_JOIN SYN/ACK"
        );
        let accept = joins_accepted < limit;
        match s.handle_ack(&jack.opts, accept, &mut smib) {
            Ok(sj) => {
                joins_accepted += 1;
                assert_eq!(sj.remote_nonce(), cj.local_nonce());
                assert_eq!(sj.keys().remote_key, cj.keys().local_key);
                assert_eq!(
                    (sj.local_id(), sj.remote_id()),
                    (cj.remote_id(), cj.local_id())
                );
            }
            Err(refusal) => {
                // The kernel's reset of this subflow carries the same MP_TCPRST.
                let rst = &segs[&frame_no(&j["rst_frame"])];
                assert!(rst.flags.contains(TcpFlags::RST));
                assert_eq!(emit(&refusal.option()), rst.raw_of(8), "{name}: MP_TCPRST");
                options_compared += 1;
            }
        }
        options_compared += 4;
        joins += 1;
    }

    // Our counters are the kernel's for every handshake counter.
    check_mibs(name, &m, "client", &cmib);
    check_mibs(name, &m, "server", &smib);
    assert_eq!(
        stable.lookup(mpc.local.token).and_then(|e| e.remote_key),
        Some(client_key)
    );
    (options_compared, joins)
}

#[test]
fn mpc_v1_matches_kernel() {
    let (n, joins) = run("mpc_v1", "mpc_v1.pcap");
    assert_eq!((n, joins), (4, 0));
}

#[test]
fn mpc_with_checksum_matches_kernel() {
    let (n, _) = run("checksum", "checksum.pcap");
    assert_eq!(n, 4, "SYN, SYN/ACK, ACK and ACK+data with checksum");
}

#[test]
fn mpc_ipv6_matches_kernel() {
    run("ipv6", "ipv6.pcap");
}

#[test]
fn mpc_fastclose_fixture_matches_kernel() {
    run("fastclose", "fastclose.pcap");
}

#[test]
fn join_matches_kernel() {
    let (_, joins) = run("join", "join.pcap");
    assert_eq!(joins, 1);
}

#[test]
fn join_to_announced_address_matches_kernel() {
    let (_, joins) = run("add_addr", "add_addr.pcapng");
    assert_eq!(joins, 1);
}

#[test]
fn refused_join_matches_kernel_reset() {
    let (n, joins) = run("tcprst", "tcprst.pcap");
    assert_eq!(joins, 1);
    assert_eq!(n, 4 + 4 + 1, "MPC options, join options and the MP_TCPRST");
}

// --- The path manager in the `add_addr` scenario ----------------------------------------

/// `ip mptcp endpoint show` line: "ADDR id N [signal] [subflow] [backup] [fullmesh] [dev D]".
fn parse_endpoint(line: &str) -> Endpoint {
    let mut words = line.split_whitespace();
    let addr: IpAddr = words.next().expect("address").parse().expect("IP");
    let mut ep = Endpoint {
        id: 0,
        addr,
        port: None,
        flags: EndpointFlags::default(),
        dev: None,
    };
    while let Some(w) = words.next() {
        match w {
            "id" => ep.id = words.next().and_then(|n| n.parse().ok()).expect("id"),
            "signal" => ep.flags = ep.flags | EndpointFlags::SIGNAL,
            "subflow" => ep.flags = ep.flags | EndpointFlags::SUBFLOW,
            "backup" => ep.flags = ep.flags | EndpointFlags::BACKUP,
            "fullmesh" => ep.flags = ep.flags | EndpointFlags::FULLMESH,
            "dev" => ep.dev = words.next().map(|_| 1), // the second device: port index 1
            _ => {}
        }
    }
    ep
}

fn parse_limits(line: &str) -> Limits {
    let mut words = line.split_whitespace();
    let mut l = Limits::default();
    while let Some(w) = words.next() {
        let n = words.next().and_then(|n| n.parse().ok());
        match w {
            "subflows" => l.subflows = n.expect("n"),
            "add_addr_accepted" => l.add_addr_accepted = n.expect("n"),
            _ => {}
        }
    }
    l
}

fn sockaddr(v: &Value) -> SocketAddr {
    v.as_str().expect("address").parse().expect("ip:port")
}

fn only<T: std::fmt::Debug>(mut v: Vec<T>) -> T {
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

const PM_MIBS: &[Mib] = &[
    Mib::AddAddr,
    Mib::AddAddrTx,
    Mib::AddAddrDrop,
    Mib::EchoAdd,
    Mib::EchoAddTx,
    Mib::PortAdd,
    Mib::RmAddr,
    Mib::RmAddrTx,
    Mib::RmSubflow,
    Mib::MPPrioTx,
    Mib::MPPrioRx,
];

/// The kernel's `add_addr` scenario replayed through two [`PmConn`]s configured as the
/// kernel ends were: the ADD_ADDR (with its HMAC), its echo, the MP_PRIO and the
/// REMOVE_ADDR we emit equal the kernel's bytes, the subflow we open goes where the
/// kernel's went, and our path-manager counters equal the kernel's.
#[test]
fn path_manager_add_addr_scenario_matches_kernel() {
    let name = "add_addr";
    let m = meta(name);
    let bytes = std::fs::read(fixture_dir().join("add_addr.pcapng")).unwrap();
    let segs = segments(&bytes);
    let c = &m["wire"]["connections"][0];
    let (ck, sk) = (hex_u64(&c["client_key"]), hex_u64(&c["server_key"]));
    let (caddr, saddr) = (sockaddr(&c["client"]), sockaddr(&c["server"]));
    let t0 = Instant::from_secs(1);

    let mut seps = Endpoints::new();
    seps.set_limits(parse_limits(m["mptcp_limits"]["server"].as_str().unwrap()))
        .unwrap();
    for line in m["mptcp_endpoints"]["server"]["start"]
        .as_str()
        .unwrap()
        .lines()
    {
        seps.add(parse_endpoint(line)).unwrap();
    }
    let mut ceps = Endpoints::new();
    ceps.set_limits(parse_limits(m["mptcp_limits"]["client"].as_str().unwrap()))
        .unwrap();
    let (mut smib, mut cmib) = (MibCounters::new(), MibCounters::new());
    let mut s = PmConn::new(
        &seps,
        crypto_token(sk),
        V1,
        sk,
        ck,
        saddr,
        caddr,
        SubflowId(0),
        false,
    );
    let mut cl = PmConn::new(
        &ceps,
        crypto_token(ck),
        V1,
        ck,
        sk,
        caddr,
        saddr,
        SubflowId(0),
        false,
    );

    // The server announces its signal endpoint once fully established.
    s.handle_fully_established(&seps, t0, &mut smib);
    let adds = &m["wire"]["add_addr"];
    let ann = only(core::iter::from_fn(|| s.poll_action()).collect());
    let PmAction::SendAddAddr(ann) = ann else {
        panic!("{ann:?}")
    };
    let ann_frame = &segs[&frame_no(&adds[0]["frame"])];
    assert_eq!(
        emit(&MptcpOption::AddAddr(ann)),
        ann_frame.raw_of(3),
        "{name}: ADD_ADDR"
    );

    // The client takes the kernel's ADD_ADDR: echo, and a subflow to the address.
    let MptcpOption::AddAddr(wire_ann) = ann_frame.opts[0] else {
        panic!("frame carries the ADD_ADDR first")
    };
    cl.handle_add_addr(&ceps, &wire_ann, t0, &mut cmib);
    let acts: Vec<_> = core::iter::from_fn(|| cl.poll_action()).collect();
    let echo_frame = &segs[&frame_no(&adds[1]["frame"])];
    let echo = acts
        .iter()
        .find_map(|a| match a {
            PmAction::SendAddAddr(e) => Some(*e),
            _ => None,
        })
        .expect("an echo");
    assert_eq!(
        emit(&MptcpOption::AddAddr(echo)),
        echo_frame.raw_of(3),
        "{name}: ADD_ADDR echo"
    );
    let join = &m["wire"]["joins"][0];
    let conn = acts
        .iter()
        .find_map(|a| match a {
            PmAction::Connect(r) => Some(*r),
            _ => None,
        })
        .expect("a subflow to the announced address");
    assert_eq!(
        conn.remote,
        sockaddr(&join["server"]),
        "{name}: join target"
    );
    assert_eq!(
        u64::from(conn.remote_id),
        join["synack_addr_id"].as_u64().unwrap()
    );

    // The server gets the echo; the join comes in and is accepted.
    s.handle_add_addr(&seps, &echo, t0, &mut smib);
    assert!(s.allow_new_subflow(&seps));
    let sid = join["synack_addr_id"].as_u64().unwrap() as u8;
    let cid = join["syn_addr_id"].as_u64().unwrap() as u8;
    let (jc, js) = (sockaddr(&join["client"]), sockaddr(&join["server"]));
    let sf = |id, local_id, remote_id, local, remote| PmSubflow {
        id: SubflowId(id),
        local_id,
        remote_id,
        local,
        remote,
        local_backup: false,
        remote_backup: false,
        join: true,
    };
    s.handle_subflow_established(&seps, sf(1, sid, cid, js, jc), t0, &mut smib);
    cl.handle_subflow_established(&ceps, sf(1, cid, sid, jc, js), t0, &mut cmib);
    while s.poll_action().is_some() {}
    while cl.poll_action().is_some() {}

    // `ip mptcp endpoint change id 5 backup` on the server: MP_PRIO on that subflow.
    let e = seps.set_flags(sid, true, false).unwrap();
    s.handle_endpoint_changed(&e, &mut smib);
    let prio = only(core::iter::from_fn(|| s.poll_action()).collect());
    let prio_frame = &segs[&frame_no(&m["wire"]["mp_prio"][0]["frame"])];
    assert_eq!(
        emit(&prio.option().unwrap()),
        prio_frame.raw_of(5),
        "{name}: MP_PRIO"
    );
    cl.handle_mp_prio(SubflowId(1), true, &mut cmib);

    // `ip mptcp endpoint delete id 5`: REMOVE_ADDR and the subflow closed.
    let e = seps.del(sid).unwrap();
    s.handle_endpoint_deleted(&e, &mut smib);
    let acts: Vec<_> = core::iter::from_fn(|| s.poll_action()).collect();
    let rm_frame = &segs[&frame_no(&m["wire"]["remove_addr"][0]["frame"])];
    assert_eq!(
        emit(&acts[0].option().unwrap()),
        rm_frame.raw_of(4),
        "{name}: REMOVE_ADDR"
    );
    assert_eq!(acts[1], PmAction::CloseSubflow(SubflowId(1)));
    let MptcpOption::RemoveAddr(rm) = rm_frame
        .opts
        .iter()
        .find(|o| matches!(o, MptcpOption::RemoveAddr(_)))
        .copied()
        .unwrap()
    else {
        unreachable!()
    };
    cl.handle_rm_addr(&ceps, rm.addr_ids, &mut cmib);
    assert_eq!(
        core::iter::from_fn(|| cl.poll_action()).collect::<Vec<_>>(),
        vec![PmAction::CloseSubflow(SubflowId(1))]
    );

    for (role, ours) in [("client", &cmib), ("server", &smib)] {
        let kernel = &m["nstat_mptcp_delta"][role];
        for &mib in PM_MIBS {
            let k = kernel[mib.full_name()].as_u64().unwrap_or(0);
            assert_eq!(ours.get(mib), k, "{name}: {role} {}", mib.full_name());
        }
    }
}

fn crypto_token(key: u64) -> u32 {
    dataplane::crypto::token(V1, key)
}

/// The subflows our path manager opens and accepts are the kernel's: for each captured
/// join, the client's path manager (configured with the kernel client's endpoints and
/// limits) asks for a subflow from the join's source address with the join's address ID
/// to the join's destination, and the server's path manager gives the destination the
/// address ID of the kernel's SYN/ACK and accepts or refuses the join as the kernel did.
#[test]
fn path_manager_joins_match_kernel() {
    for (name, file) in [
        ("join", "join.pcap"),
        ("tcprst", "tcprst.pcap"),
        ("add_addr", "add_addr.pcapng"),
    ] {
        let m = meta(name);
        let bytes = std::fs::read(fixture_dir().join(file)).unwrap();
        let segs = segments(&bytes);
        let c = &m["wire"]["connections"][0];
        let (ck, sk) = (hex_u64(&c["client_key"]), hex_u64(&c["server_key"]));
        let (caddr, saddr) = (sockaddr(&c["client"]), sockaddr(&c["server"]));
        let config = |role: &str| {
            let mut eps = Endpoints::new();
            eps.set_limits(parse_limits(m["mptcp_limits"][role].as_str().unwrap()))
                .unwrap();
            for line in m["mptcp_endpoints"][role]["start"]
                .as_str()
                .unwrap()
                .lines()
            {
                eps.add(parse_endpoint(line)).unwrap();
            }
            eps
        };
        let (mut ceps, mut seps) = (config("client"), config("server"));
        let mut mib = MibCounters::new();
        let t0 = Instant::from_secs(1);
        let mut cl = PmConn::new(
            &ceps,
            crypto_token(ck),
            V1,
            ck,
            sk,
            caddr,
            saddr,
            SubflowId(0),
            false,
        );
        let mut s = PmConn::new(
            &seps,
            crypto_token(sk),
            V1,
            sk,
            ck,
            saddr,
            caddr,
            SubflowId(0),
            false,
        );
        cl.handle_fully_established(&ceps, t0, &mut mib);
        s.handle_fully_established(&seps, t0, &mut mib);
        // The announcement, when there is one, reaches the client.
        while let Some(a) = s.poll_action() {
            if let PmAction::SendAddAddr(add) = a {
                cl.handle_add_addr(&ceps, &add, t0, &mut mib);
            }
        }
        let connects: Vec<_> = core::iter::from_fn(|| cl.poll_action())
            .filter_map(|a| match a {
                PmAction::Connect(r) => Some(r),
                _ => None,
            })
            .collect();
        let join = &m["wire"]["joins"][0];
        let (jc, js) = (sockaddr(&join["client"]), sockaddr(&join["server"]));
        let r = only(connects);
        assert_eq!(r.remote, js, "{name}: join destination");
        assert_eq!(
            u64::from(r.remote_id),
            join["synack_addr_id"].as_u64().unwrap(),
            "{name}: the peer's address ID"
        );
        assert_eq!(r.backup, join["syn_backup"].as_u64() == Some(1));
        // The SYN's address ID: the endpoint's, or for a source address routing picked, the
        // implicit endpoint the kernel made for it.
        let local_id = match r.local_addr {
            Some(a) => {
                assert_eq!(a, jc.ip(), "{name}: join source");
                r.local_id
            }
            None => ceps.local_id_for(&cl, jc.ip()).unwrap(),
        };
        assert_eq!(
            u64::from(local_id),
            join["syn_addr_id"].as_u64().unwrap(),
            "{name}: join address ID"
        );
        // The server names its address as the kernel's SYN/ACK did and decides the same.
        assert_eq!(
            u64::from(seps.local_id_for(&s, js.ip()).unwrap()),
            join["synack_addr_id"].as_u64().unwrap(),
            "{name}: responder address ID"
        );
        let refused = join.get("rst_frame").is_some_and(|f| !f.is_null());
        assert_eq!(s.allow_new_subflow(&seps), !refused, "{name}: accept");
        if refused {
            assert!(segs[&frame_no(&join["rst_frame"])]
                .flags
                .contains(TcpFlags::RST));
        }
    }
}
