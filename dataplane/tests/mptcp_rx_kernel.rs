//! The receive data path against the Linux kernel's MPTCP: each subflow direction of
//! the captures in `tests/fixtures/kernel/` is replayed, in subflow order, through an
//! `RxMapper` (DSS mappings, 32-bit DSN expansion, DSS checksums verified over whole
//! mappings, DATA_FIN), and the pieces of all subflows go into one `Reassembly` per
//! direction. The streams that come out must have the length and SHA-256 the kernel's
//! applications sent (`NAME.meta.json`), with no mapping error, and the DATA_FIN must be
//! reached. Nothing is hard-coded: the expected values are the fixture's own.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;

use dataplane::crypto;
use dataplane::mptcp::mapping::{mp_capable_mapping, DssEvent, RxMapper};
use dataplane::mptcp::reassembly::Reassembly;
use dataplane::pcap::read::{Capture, LinkType};
use dataplane::seq::{DataSeq, SubflowSeq};
use dataplane::wire::frame::{self, TcpFrame};
use dataplane::wire::mptcp::{DssMapping, MpJoin, MptcpOption, Version};
use dataplane::wire::tcp::{TcpFlags, TcpOption};
use serde_json::Value;
use sha2::{Digest, Sha256};

const V1: Version = Version::V1;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kernel")
        .join(name)
}

struct Seg<'a> {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    flags: TcpFlags,
    payload: &'a [u8],
    mptcp: Vec<MptcpOption<'a>>,
}

fn tcp_of(link: LinkType, data: &[u8]) -> Option<TcpFrame<'_>> {
    if link == LinkType::Ethernet {
        return frame::parse_ethernet(data).ok().flatten();
    }
    let (ethertype, l3) = dataplane::pcap::read::strip_cooked(link, data)?;
    frame::parse_ip(ethertype, l3).ok().flatten()
}

fn segments(bytes: &[u8]) -> Vec<Seg<'_>> {
    let capture = Capture::parse(bytes).expect("fixture is a capture");
    let mut out = Vec::new();
    for rec in capture.records() {
        let rec = rec.expect("records parse");
        let Some(t) = tcp_of(rec.link_type, rec.data) else {
            continue;
        };
        let p = t.packet();
        let mptcp = t
            .options()
            .filter_map(|o| match o {
                Ok(TcpOption::Mptcp(raw)) => MptcpOption::parse(raw, V1).ok(),
                _ => None,
            })
            .collect();
        out.push(Seg {
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

/// A segment of one direction: relative seq, payload, DSS mapping with DATA_FIN flag.
type DirSeg<'a> = (u32, &'a [u8], Option<(DssMapping, bool)>);

/// One direction of one subflow: its sender's ISN and its segments.
#[derive(Default)]
struct Dir<'a> {
    isn: Option<u32>,
    segs: Vec<DirSeg<'a>>,
}

fn replay(name: &str, file: &str) {
    let bytes = std::fs::read(fixture(file)).expect("fixture exists");
    let segs = segments(&bytes);
    let meta: Value = serde_json::from_slice(
        &std::fs::read(fixture(&format!("{name}.meta.json"))).expect("meta exists"),
    )
    .expect("meta is JSON");

    // The connection: the MP_CAPABLE third ACK carries both keys (side A sent it).
    let (a, key_a, key_b, csum) = segs
        .iter()
        .find_map(|s| {
            s.mptcp.iter().find_map(|o| match o {
                MptcpOption::MpCapable(m) => match (m.sender_key, m.receiver_key) {
                    (Some(ka), Some(kb)) => Some((s.src, ka, kb, m.flags & 0x80 != 0)),
                    _ => None,
                },
                _ => None,
            })
        })
        .expect("an MP_CAPABLE ACK");
    // Which side each endpoint is: A for the MP_CAPABLE client and for joins whose
    // token is B's; B otherwise.
    let mut side_a: Vec<SocketAddr> = vec![a];
    for s in &segs {
        for o in &s.mptcp {
            if let MptcpOption::MpJoin(MpJoin::Syn { token, .. }) = *o {
                if token == crypto::token(V1, key_b) {
                    side_a.push(s.src);
                } else {
                    assert_eq!(token, crypto::token(V1, key_a), "{name}: join token");
                    side_a.push(s.dst);
                }
            }
        }
    }
    let is_a = |x: &SocketAddr| side_a.contains(x);

    let mut dirs: HashMap<(SocketAddr, SocketAddr), Dir<'_>> = HashMap::new();
    for s in &segs {
        let d = dirs.entry((s.src, s.dst)).or_default();
        if s.flags.contains(TcpFlags::SYN) {
            d.isn.get_or_insert(s.seq);
        }
        let Some(isn) = d.isn else { continue };
        let rel = s.seq.wrapping_sub(isn);
        let mut map = None;
        for o in &s.mptcp {
            match o {
                // RFC 8684 §3.1: data on the MP_CAPABLE ACK maps from IDSN + 1, subflow
                // sequence 1.
                MptcpOption::MpCapable(m) if m.data_len.is_some() => {
                    let idsn = crypto::idsn(V1, if is_a(&s.src) { key_a } else { key_b });
                    let m = mp_capable_mapping(idsn, m.data_len.unwrap_or(0), m.checksum);
                    map = Some((m, false));
                }
                MptcpOption::Dss(dss) => {
                    if let Some(m) = dss.mapping {
                        map = Some((m, dss.data_fin));
                    }
                }
                _ => {}
            }
        }
        if !s.payload.is_empty() || map.is_some() {
            d.segs.push((rel, s.payload, map));
        }
    }

    // One reassembly per data direction (A->B, B->A).
    let start = |key: u64| DataSeq(crypto::idsn(V1, key).wrapping_add(1));
    let mut reasm: BTreeMap<bool, Reassembly> = BTreeMap::new();
    reasm.insert(true, Reassembly::new(start(key_a), 1 << 26));
    reasm.insert(false, Reassembly::new(start(key_b), 1 << 26));
    let mut mapped = 0usize;
    for ((src, _), d) in dirs.iter_mut() {
        let Some(isn) = d.isn else { continue };
        let r = reasm.get_mut(&is_a(src)).unwrap();
        let mut rx = RxMapper::new(SubflowSeq(isn), csum);
        // Subflow order: by relative sequence; retransmissions repeat bytes.
        d.segs.sort_by_key(|s| s.0);
        let mut read = 1u32;
        for &(rel, payload, map) in &d.segs {
            if let Some((m, fin)) = map {
                let ev = rx
                    .handle_dss(
                        SubflowSeq(isn) + rel as usize,
                        payload.len(),
                        &m,
                        fin,
                        r.ack(),
                    )
                    .unwrap_or_else(|e| panic!("{name}: DSS at rel {rel}: {e:?}"));
                if let DssEvent::DataFin(at) = ev {
                    r.set_data_fin(at);
                }
                mapped += 1;
            }
            let end = rel.wrapping_add(payload.len() as u32);
            if payload.is_empty() || end <= read {
                continue;
            }
            assert!(
                rel <= read,
                "{name}: capture misses subflow bytes at {read}"
            );
            let fresh = &payload[(read - rel) as usize..];
            rx.handle_data(fresh, |dsn, b| {
                r.insert_slice(dsn, b);
            })
            .unwrap_or_else(|e| panic!("{name}: data at rel {read}: {e:?}"));
            read = end;
        }
        assert_eq!(rx.stats(), Default::default(), "{name}: mapper counters");
        if csum && read > 1 {
            assert!(rx.valid_csum_seen(), "{name}: checksums verified");
        }
    }
    assert!(mapped > 0);

    for (a_side, dir) in [(true, "c2s"), (false, "s2c")] {
        let r = reasm.get_mut(&a_side).unwrap();
        assert_eq!(r.ooo_len(), 0, "{name} {dir}: holes in the stream");
        let mut stream = Vec::new();
        while let Some(b) = r.pop() {
            stream.extend_from_slice(&b);
        }
        assert_eq!(
            stream.len() as u64,
            meta["payload"][dir]["len"].as_u64().unwrap(),
            "{name}: {dir} length"
        );
        let sha: String = Sha256::digest(&stream)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            sha,
            meta["payload"][dir]["sha256"].as_str().unwrap(),
            "{name}: {dir} sha256"
        );
        assert!(r.fin_received(), "{name}: {dir} DATA_FIN reached");
        assert_eq!(r.stats().bad_data_fin, 0);
    }
}

#[test]
fn kernel_mp_capable() {
    replay("mpc_v1", "mpc_v1.pcap");
}

#[test]
fn kernel_join_two_subflows() {
    replay("join", "join.pcap");
}

#[test]
fn kernel_add_addr_join() {
    replay("add_addr", "add_addr.pcapng");
}

#[test]
fn kernel_dss_checksums() {
    replay("checksum", "checksum.pcap");
}

#[test]
fn kernel_ipv6() {
    replay("ipv6", "ipv6.pcap");
}
