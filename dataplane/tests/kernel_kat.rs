//! Known-answer tests against captures of the Linux kernel's own MPTCP.
//!
//! The fixtures under `tests/fixtures/kernel/` were captured from kernel-to-kernel MPTCP
//! connections on this project's machine (see the README there). Nothing here hard-codes a
//! key or a token: every expected value is either what the kernel put on the wire or what
//! the kernel reported about itself through `MPTCP_INFO` (in `NAME.meta.json`); every
//! derived value is computed by our code from the keys and nonces found in the capture.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use dataplane::crypto;
use dataplane::pcap::read::{Capture, LinkType};
use dataplane::seq::DataSeq;
use dataplane::wire::frame::{self, TcpFrame};
use dataplane::wire::mptcp::csum::DssCsum;
use dataplane::wire::mptcp::{MpJoin, MptcpOption, Version};
use dataplane::wire::tcp::{TcpFlags, TcpOption};
use serde_json::Value;
use sha2::{Digest, Sha256};

const V1: Version = Version::V1;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kernel")
}

/// One TCP segment of a capture, with its MPTCP options parsed.
#[derive(Debug)]
struct Seg<'a> {
    frame: usize,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    flags: TcpFlags,
    payload: &'a [u8],
    mptcp: Vec<MptcpOption<'a>>,
}

fn tcp_of(link: LinkType, data: &[u8]) -> Option<TcpFrame<'_>> {
    if link == LinkType::Ethernet {
        return frame::parse_ethernet(data).expect("kernel frames parse");
    }
    let (ethertype, l3) = dataplane::pcap::read::strip_cooked(link, data)?;
    frame::parse_ip(ethertype, l3).expect("kernel frames parse")
}

fn segments(bytes: &[u8]) -> Vec<Seg<'_>> {
    let capture = Capture::parse(bytes).expect("fixture is a capture");
    let mut out = Vec::new();
    for (i, rec) in capture.records().enumerate() {
        let rec = rec.expect("fixture records parse");
        let Some(t) = tcp_of(rec.link_type, rec.data) else {
            continue;
        };
        assert!(
            t.verify_checksum(),
            "frame {}: TCP checksum (offloads were off)",
            i + 1
        );
        let p = t.packet();
        let mut mptcp = Vec::new();
        for o in t.options() {
            if let Ok(TcpOption::Mptcp(raw)) = o {
                mptcp.push(MptcpOption::parse(raw, V1).expect("kernel MPTCP options parse"));
            }
        }
        out.push(Seg {
            frame: i + 1,
            src: SocketAddr::new(t.src_addr, p.src_port()),
            dst: SocketAddr::new(t.dst_addr, p.dst_port()),
            seq: p.seq_number().0,
            flags: p.flags(),
            payload: t.payload(),
            mptcp,
        });
    }
    out
}

fn meta(name: &str) -> Value {
    let path = fixture_dir().join(format!("{name}.meta.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("meta.json exists")).expect("meta is JSON")
}

/// Side A opened the connection (sent the MP_CAPABLE SYN), side B accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    A,
    B,
}

#[derive(Debug)]
struct Conn {
    a: SocketAddr,
    b: SocketAddr,
    key_a: u64,
    key_b: u64,
    checksums: bool,
}

impl Conn {
    fn key(&self, s: Side) -> u64 {
        match s {
            Side::A => self.key_a,
            Side::B => self.key_b,
        }
    }
}

fn other(s: Side) -> Side {
    match s {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

/// A subflow: its SYN sender (`initiator`) belongs to connection side `init_side`.
#[derive(Debug)]
struct Subflow {
    conn: usize,
    initiator: SocketAddr,
    responder: SocketAddr,
    init_side: Side,
    isn: HashMap<SocketAddr, u32>,
    join: Option<JoinSeen>,
}

#[derive(Debug, Default)]
struct JoinSeen {
    token: u32,
    init_nonce: u32,
    resp: Option<(u64, u32)>,
    ack_hmac: Option<[u8; 20]>,
}

struct Analysis<'a> {
    segs: Vec<Seg<'a>>,
    conns: Vec<Conn>,
    subflows: Vec<Subflow>,
}

impl Analysis<'_> {
    fn subflow_of(&self, s: &Seg<'_>) -> Option<(usize, Side)> {
        self.subflows.iter().enumerate().find_map(|(i, f)| {
            if f.initiator == s.src && f.responder == s.dst {
                Some((i, f.init_side))
            } else if f.initiator == s.dst && f.responder == s.src {
                Some((i, other(f.init_side)))
            } else {
                None
            }
        })
    }
}

fn analyse(bytes: &[u8]) -> Analysis<'_> {
    let segs = segments(bytes);
    let mut conns: Vec<Conn> = Vec::new();
    let mut subflows: Vec<Subflow> = Vec::new();
    // Connections: the MP_CAPABLE third ACK carries both keys (RFC 8684 §3.1).
    for s in &segs {
        for o in &s.mptcp {
            if let MptcpOption::MpCapable(m) = o {
                if let (Some(ka), Some(kb)) = (m.sender_key, m.receiver_key) {
                    if !conns.iter().any(|c| c.a == s.src && c.b == s.dst) {
                        conns.push(Conn {
                            a: s.src,
                            b: s.dst,
                            key_a: ka,
                            key_b: kb,
                            checksums: m.flags & 0x80 != 0,
                        });
                    }
                }
            }
        }
    }
    for (ci, c) in conns.iter().enumerate() {
        subflows.push(Subflow {
            conn: ci,
            initiator: c.a,
            responder: c.b,
            init_side: Side::A,
            isn: HashMap::new(),
            join: None,
        });
    }
    // Joins: the SYN's token names the connection and the responder (RFC 8684 §3.2).
    for s in &segs {
        for o in &s.mptcp {
            if let MptcpOption::MpJoin(MpJoin::Syn { token, nonce, .. }) = *o {
                let found = conns.iter().enumerate().find_map(|(ci, c)| {
                    if crypto::token(V1, c.key_b) == token {
                        Some((ci, Side::A))
                    } else if crypto::token(V1, c.key_a) == token {
                        Some((ci, Side::B))
                    } else {
                        None
                    }
                });
                let (ci, init_side) = found.unwrap_or_else(|| {
                    panic!("frame {}: join token {token:08x} matches no key", s.frame)
                });
                if !subflows
                    .iter()
                    .any(|f| f.initiator == s.src && f.responder == s.dst)
                {
                    subflows.push(Subflow {
                        conn: ci,
                        initiator: s.src,
                        responder: s.dst,
                        init_side,
                        isn: HashMap::new(),
                        join: Some(JoinSeen {
                            token,
                            init_nonce: nonce,
                            ..Default::default()
                        }),
                    });
                }
            }
        }
    }
    let mut a = Analysis {
        segs,
        conns,
        subflows,
    };
    // ISNs and the rest of each join handshake.
    for i in 0..a.segs.len() {
        let s = &a.segs[i];
        let Some((fi, _)) = a.subflow_of(s) else {
            continue;
        };
        let f = &mut a.subflows[fi];
        if s.flags.contains(TcpFlags::SYN) {
            f.isn.entry(s.src).or_insert(s.seq);
        }
        for o in &s.mptcp {
            match *o {
                MptcpOption::MpJoin(MpJoin::SynAck { hmac, nonce, .. }) => {
                    if let Some(j) = f.join.as_mut() {
                        j.resp.get_or_insert((hmac, nonce));
                    }
                }
                MptcpOption::MpJoin(MpJoin::Ack { hmac }) => {
                    if let Some(j) = f.join.as_mut() {
                        j.ack_hmac.get_or_insert(hmac);
                    }
                }
                _ => {}
            }
        }
    }
    a
}

/// "10.0.1.1:5000", "[fd00::1]:5000" or the meta files' unbracketed "fd00::1:5000".
fn parse_sockaddr(s: &str) -> SocketAddr {
    if let Ok(a) = s.parse() {
        return a;
    }
    let (ip, port) = s.rsplit_once(':').expect("address:port");
    SocketAddr::new(ip.parse().expect("IP address"), port.parse().expect("port"))
}

/// Every kernel-reported MPTCP_INFO snapshot agrees with tokens and IDSNs that we derive
/// from the keys on the wire (RFC 8684 §3.1: token = most significant 32 bits of
/// SHA-256(key), IDSN = least significant 64 bits; the first data byte has DSN IDSN+1).
fn check_kernel_reported(name: &str, a: &Analysis<'_>) -> usize {
    let m = meta(name);
    let mut checked = 0;
    for role in ["client", "server"] {
        let side = &m["kernel_reported"][role];
        let Some(local) = side["local"].as_str() else {
            continue;
        };
        let local = parse_sockaddr(local);
        let Some((conn, me)) = a.conns.iter().find_map(|c| {
            (c.a == local)
                .then_some((c, Side::A))
                .or((c.b == local).then_some((c, Side::B)))
        }) else {
            panic!("{name}: no connection for {role} {local}");
        };
        let my_key = conn.key(me);
        let peer_key = conn.key(other(me));
        for snap in side["snapshots"].as_array().into_iter().flatten() {
            let info = &snap["mptcp_info"];
            if info.is_null() || info["fallback"].as_bool() == Some(true) {
                continue;
            }
            let token = info["mptcpi_token"].as_u64().expect("token") as u32;
            if token == 0 {
                continue; // the connection is already torn down (after an abort)
            }
            assert_eq!(crypto::token(V1, my_key), token, "{name}: {role} token");
            if info["mptcpi_bytes_sent"].as_u64() == Some(0) {
                let write_seq = info["mptcpi_write_seq"].as_u64().unwrap();
                assert_eq!(
                    crypto::idsn(V1, my_key).wrapping_add(1),
                    write_seq,
                    "{name}: {role} IDSN"
                );
            }
            if info["mptcpi_bytes_received"].as_u64() == Some(0) {
                let rcv_nxt = info["mptcpi_rcv_nxt"].as_u64().unwrap();
                assert_eq!(
                    crypto::idsn(V1, peer_key).wrapping_add(1),
                    rcv_nxt,
                    "{name}: {role} peer IDSN"
                );
            }
            checked += 1;
        }
    }
    checked
}

/// MP_JOIN HMACs (RFC 8684 §3.2): SYN/ACK = leftmost 64 bits of HMAC(Key-B||Key-A,
/// R-B||R-A); third ACK = leftmost 160 bits of HMAC(Key-A||Key-B, R-A||R-B).
fn check_joins(name: &str, a: &Analysis<'_>) -> (usize, usize) {
    let (mut synack, mut ack) = (0, 0);
    for f in &a.subflows {
        let Some(j) = &f.join else { continue };
        let c = &a.conns[f.conn];
        let ki = c.key(f.init_side);
        let kr = c.key(other(f.init_side));
        assert_eq!(crypto::token(V1, kr), j.token, "{name}: join token");
        if let Some((hmac, resp_nonce)) = j.resp {
            assert_eq!(
                crypto::join_synack_hmac(V1, kr, ki, resp_nonce, j.init_nonce),
                hmac,
                "{name}: SYN/ACK HMAC"
            );
            synack += 1;
            if let Some(h) = j.ack_hmac {
                assert_eq!(
                    crypto::join_ack_hmac(V1, ki, kr, j.init_nonce, resp_nonce),
                    h,
                    "{name}: ACK HMAC"
                );
                ack += 1;
            }
        }
    }
    (synack, ack)
}

/// ADD_ADDR HMACs (RFC 8684 §3.4.1) and MP_FASTCLOSE keys (§3.5).
fn check_addr_and_fastclose(name: &str, a: &Analysis<'_>) -> (usize, usize) {
    let (mut add, mut fc) = (0, 0);
    for s in &a.segs {
        let Some((fi, sender)) = a.subflow_of(s) else {
            continue;
        };
        let c = &a.conns[a.subflows[fi].conn];
        for o in &s.mptcp {
            match o {
                MptcpOption::AddAddr(ad) if !ad.echo => {
                    let want = crypto::add_addr_hmac(
                        c.key(sender),
                        c.key(other(sender)),
                        ad.addr_id,
                        ad.addr,
                        ad.port,
                    );
                    assert_eq!(
                        Some(want),
                        ad.hmac,
                        "{name}: frame {} ADD_ADDR HMAC",
                        s.frame
                    );
                    add += 1;
                }
                MptcpOption::MpFastclose(f) => {
                    assert_eq!(
                        f.receiver_key,
                        c.key(other(sender)),
                        "{name}: frame {} MP_FASTCLOSE key",
                        s.frame
                    );
                    fc += 1;
                }
                _ => {}
            }
        }
    }
    (add, fc)
}

/// Every DATA_ACK, 8-byte or 4-byte (expanded to 64 bits from the peer's IDSN, RFC 8684
/// §3.3), acknowledges a point of the peer's stream: between IDSN+1 and IDSN+1 + bytes
/// sent + 1 (the DATA_FIN). Returns (8-byte, 4-byte) DATA_ACKs checked.
fn check_data_acks(name: &str, a: &Analysis<'_>) -> (usize, usize) {
    let m = meta(name);
    let (mut wide, mut narrow) = (0, 0);
    for s in &a.segs {
        let Some((fi, sender)) = a.subflow_of(s) else {
            continue;
        };
        let c = &a.conns[a.subflows[fi].conn];
        let peer = other(sender);
        let base = DataSeq(crypto::idsn(V1, c.key(peer)).wrapping_add(1));
        let dir = if peer == Side::A { "c2s" } else { "s2c" };
        let sent = m["payload"][dir]["len"].as_u64().expect("payload length");
        for o in &s.mptcp {
            let MptcpOption::Dss(d) = o else { continue };
            let Some(ack) = d.data_ack else { continue };
            let full = if ack.wide {
                wide += 1;
                DataSeq(ack.value)
            } else {
                narrow += 1;
                DataSeq::expand(ack.value as u32, base)
            };
            let off = full - base;
            assert!(
                off <= sent + 1,
                "{name}: frame {} DATA_ACK {} is {off} past IDSN+1 (sent {sent})",
                s.frame,
                full.0
            );
        }
    }
    (wide, narrow)
}

/// What one direction of a connection carried at the data level.
#[derive(Debug, Default)]
struct DataLevel {
    /// Data bytes by offset from IDSN+1.
    stream: BTreeMap<u64, u8>,
    mappings: usize,
    csums_checked: usize,
}

/// A mapping as seen: (DSN expanded to 64 bits, relative subflow seq, data-level length,
/// DATA_FIN, checksum).
type Mapping = (u64, u32, u16, bool, Option<u16>);

/// Rebuilds each direction's data-level stream from the DSS mappings and the subflow
/// bytes (RFC 8684 §3.3.1), checking every DSS checksum over its whole mapping.
fn rebuild_data(name: &str, a: &Analysis<'_>) -> HashMap<(usize, Side), DataLevel> {
    // Subflow byte streams by (subflow, sender), keyed by relative sequence number.
    let mut sub: HashMap<(usize, Side), BTreeMap<u32, u8>> = HashMap::new();
    let mut maps: HashMap<(usize, Side), Vec<Mapping>> = HashMap::new();
    for s in &a.segs {
        let Some((fi, side)) = a.subflow_of(s) else {
            continue;
        };
        let f = &a.subflows[fi];
        let c = &a.conns[f.conn];
        let Some(&isn) = f.isn.get(&s.src) else {
            continue;
        };
        let rel = s.seq.wrapping_sub(isn);
        let bytes = sub.entry((fi, side)).or_default();
        for (i, b) in s.payload.iter().enumerate() {
            bytes.entry(rel.wrapping_add(i as u32)).or_insert(*b);
        }
        let base = DataSeq(crypto::idsn(V1, c.key(side)).wrapping_add(1));
        let list = maps.entry((fi, side)).or_default();
        for o in &s.mptcp {
            match o {
                // MP_CAPABLE with data: the mapping starts at IDSN+1, subflow seq 1.
                MptcpOption::MpCapable(m) if m.data_len.is_some() && s.src == c.a => {
                    list.push((base.0, 1, m.data_len.unwrap(), false, m.checksum));
                }
                MptcpOption::Dss(d) => {
                    if let Some(mp) = d.mapping {
                        let dsn = if mp.dsn.wide {
                            DataSeq(mp.dsn.value)
                        } else {
                            DataSeq::expand(mp.dsn.value as u32, base)
                        };
                        list.push((dsn.0, mp.ssn, mp.data_len, d.data_fin, mp.checksum));
                    }
                }
                _ => {}
            }
        }
    }
    let mut out: HashMap<(usize, Side), DataLevel> = HashMap::new();
    for ((fi, side), mut list) in maps {
        list.sort_unstable();
        list.dedup();
        let c = &a.conns[a.subflows[fi].conn];
        let base = crypto::idsn(V1, c.key(side)).wrapping_add(1);
        let bytes = &sub[&(fi, side)];
        let dl = out.entry((a.subflows[fi].conn, side)).or_default();
        for (dsn, ssn, len, fin, csum) in list {
            if len == 0 {
                continue; // infinite mapping: nothing to rebuild from it
            }
            // A DATA_FIN takes the last octet of the data-level length and none of the
            // subflow's payload (RFC 8684 §3.3.3).
            let fin_octet = fin && !bytes.contains_key(&ssn.wrapping_add(u32::from(len) - 1));
            let data_len = u32::from(len) - u32::from(fin_octet);
            let data: Option<Vec<u8>> = (0..data_len)
                .map(|i| bytes.get(&ssn.wrapping_add(i)).copied())
                .collect();
            let Some(data) = data else { continue }; // not all captured (an abort)
            dl.mappings += 1;
            for (i, b) in data.iter().enumerate() {
                let off = dsn.wrapping_sub(base) + i as u64;
                if let Some(prev) = dl.stream.insert(off, *b) {
                    assert_eq!(
                        prev, *b,
                        "{name}: two mappings disagree at data offset {off}"
                    );
                }
            }
            if let Some(csum) = csum {
                let mut d = DssCsum::new(dsn, ssn, len);
                d.add_payload(&data);
                assert!(
                    d.verify(csum),
                    "{name}: DSS checksum of mapping dsn={dsn} ssn={ssn} len={len}"
                );
                assert_eq!(d.finish(), csum, "{name}: DSS checksum value");
                dl.csums_checked += 1;
            }
        }
    }
    out
}

fn stream_sha256(dl: &DataLevel) -> (usize, String) {
    let bytes: Vec<u8> = dl.stream.values().copied().collect();
    // The stream must be contiguous from offset 0.
    if let Some((&last, _)) = dl.stream.iter().next_back() {
        assert_eq!(
            last as usize + 1,
            bytes.len(),
            "data-level stream has holes"
        );
    }
    let h = Sha256::digest(&bytes);
    (bytes.len(), h.iter().map(|b| format!("{b:02x}")).collect())
}

struct Expect {
    joins: usize,
    add_addr: usize,
    fastclose: usize,
    csums: bool,
    whole_streams: bool,
}

fn run(name: &str, file: &str, e: Expect) {
    let bytes = std::fs::read(fixture_dir().join(file)).expect("fixture exists");
    let a = analyse(&bytes);
    assert_eq!(a.conns.len(), 1, "{name}: one MPTCP connection");
    assert!(
        check_kernel_reported(name, &a) > 0,
        "{name}: kernel snapshots checked"
    );
    let (synack, ack) = check_joins(name, &a);
    assert!(
        synack >= e.joins && ack >= e.joins,
        "{name}: joins checked {synack}/{ack}"
    );
    let (add, fc) = check_addr_and_fastclose(name, &a);
    assert!(add >= e.add_addr, "{name}: ADD_ADDR HMACs checked: {add}");
    assert!(fc >= e.fastclose, "{name}: MP_FASTCLOSE checked: {fc}");
    let (wide, _) = check_data_acks(name, &a);
    assert!(wide > 0, "{name}: 8-byte DATA_ACKs checked");
    let data = rebuild_data(name, &a);
    let c = &a.conns[0];
    assert_eq!(c.checksums, e.csums, "{name}: checksum flag in MP_CAPABLE");
    if e.csums {
        let n: usize = data.values().map(|d| d.csums_checked).sum();
        assert!(n >= 2, "{name}: DSS checksums verified: {n}");
    }
    if e.whole_streams {
        let m = meta(name);
        for (side, dir) in [(Side::A, "c2s"), (Side::B, "s2c")] {
            let dl = data
                .get(&(0, side))
                .unwrap_or_else(|| panic!("{name}: no data {dir}"));
            let (len, sha) = stream_sha256(dl);
            assert_eq!(
                len as u64,
                m["payload"][dir]["len"].as_u64().unwrap(),
                "{name}: {dir} length"
            );
            assert_eq!(
                sha,
                m["payload"][dir]["sha256"].as_str().unwrap(),
                "{name}: {dir} sha256"
            );
        }
    }
}

#[test]
fn mp_capable_v1() {
    run(
        "mpc_v1",
        "mpc_v1.pcap",
        Expect {
            joins: 0,
            add_addr: 0,
            fastclose: 0,
            csums: false,
            whole_streams: true,
        },
    );
}

#[test]
fn mp_join_second_subflow() {
    run(
        "join",
        "join.pcap",
        Expect {
            joins: 1,
            add_addr: 0,
            fastclose: 0,
            csums: false,
            whole_streams: true,
        },
    );
}

/// Linux sends 4-byte DATA_ACKs beside 8-byte DSNs once the connection is up; our
/// 32-to-64-bit expansion must land them inside the stream.
#[test]
fn four_byte_data_acks_expand() {
    let bytes = std::fs::read(fixture_dir().join("join.pcap")).unwrap();
    let a = analyse(&bytes);
    let (_, narrow) = check_data_acks("join", &a);
    assert!(narrow > 0, "the capture has 4-byte DATA_ACKs");
}

#[test]
fn add_addr_signal_and_join() {
    run(
        "add_addr",
        "add_addr.pcapng",
        Expect {
            joins: 1,
            add_addr: 1,
            fastclose: 0,
            csums: false,
            whole_streams: true,
        },
    );
}

#[test]
fn dss_checksums() {
    run(
        "checksum",
        "checksum.pcap",
        Expect {
            joins: 0,
            add_addr: 0,
            fastclose: 0,
            csums: true,
            whole_streams: true,
        },
    );
}

#[test]
fn fastclose() {
    run(
        "fastclose",
        "fastclose.pcap",
        Expect {
            joins: 0,
            add_addr: 0,
            fastclose: 1,
            csums: false,
            whole_streams: false,
        },
    );
}

#[test]
fn refused_join_tcprst() {
    let name = "tcprst";
    run(
        name,
        "tcprst.pcap",
        Expect {
            joins: 0,
            add_addr: 0,
            fastclose: 0,
            csums: false,
            whole_streams: true,
        },
    );
    let bytes = std::fs::read(fixture_dir().join("tcprst.pcap")).unwrap();
    let segs = segments(&bytes);
    let rst: Vec<_> = segs
        .iter()
        .filter(|s| s.flags.contains(TcpFlags::RST))
        .flat_map(|s| s.mptcp.iter())
        .filter_map(|o| match o {
            MptcpOption::MpTcprst(r) => Some(*r),
            _ => None,
        })
        .collect();
    assert!(!rst.is_empty(), "{name}: a reset carries MP_TCPRST");
}

#[test]
fn ipv6() {
    run(
        "ipv6",
        "ipv6.pcap",
        Expect {
            joins: 0,
            add_addr: 0,
            fastclose: 0,
            csums: false,
            whole_streams: true,
        },
    );
    let bytes = std::fs::read(fixture_dir().join("ipv6.pcap")).unwrap();
    assert!(segments(&bytes)
        .iter()
        .all(|s| matches!(s.src.ip(), IpAddr::V6(_))));
}
