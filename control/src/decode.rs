//! `mpdk pcap-decode`: one line (or one JSON object) per TCP packet of a capture.

use std::fmt::Write as _;
use std::io::{self, Write};

use dataplane::pcap::read::{Capture, LinkType, Record};
use dataplane::wire::frame::{self, TcpFrame};
use dataplane::wire::mptcp::{MpJoin, MptcpOption, Version};
use dataplane::wire::tcp::TcpOption;
use serde_json::{json, Map, Value};

/// What a decode run saw.
#[derive(Debug, Default)]
pub struct Summary {
    pub tcp_packets: u64,
    /// Records that looked like IP but could not be decoded (truncated, malformed).
    pub undecodable: u64,
}

/// Why a decode run stopped.
#[derive(Debug)]
pub enum DecodeError {
    /// The capture itself is not a readable pcap/pcapng file.
    Capture(dataplane::pcap::read::Error),
    /// Writing the output failed.
    Io(io::Error),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Capture(e) => write!(f, "not a readable pcap/pcapng capture: {e}"),
            DecodeError::Io(e) => write!(f, "write: {e}"),
        }
    }
}

impl From<io::Error> for DecodeError {
    fn from(e: io::Error) -> Self {
        DecodeError::Io(e)
    }
}

/// Decodes every record of `data` and writes a line per TCP packet to `out`.
pub fn decode(data: &[u8], json: bool, out: &mut impl Write) -> Result<Summary, DecodeError> {
    let capture = Capture::parse(data).map_err(DecodeError::Capture)?;
    let mut summary = Summary::default();
    for (index, record) in capture.records().enumerate() {
        let number = index as u64 + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                // A corrupt record ends the readable part of the file; report what we
                // decoded so far and say where it stopped.
                eprintln!("mpdk: record {number}: {e}; stopping");
                summary.undecodable += 1;
                break;
            }
        };
        match parse_record(&record) {
            Ok(Some(tcp)) => {
                summary.tcp_packets += 1;
                if json {
                    let v = packet_json(number, &tcp);
                    serde_json::to_writer(&mut *out, &v).map_err(io::Error::from)?;
                    out.write_all(b"\n")?;
                } else {
                    writeln!(out, "{}", packet_text(number, &tcp))?;
                }
            }
            Ok(None) => {}
            Err(_) => summary.undecodable += 1,
        }
    }
    Ok(summary)
}

/// Finds the TCP segment of a capture record, whatever its link type.
fn parse_record<'a>(record: &Record<'a>) -> dataplane::wire::Result<Option<TcpFrame<'a>>> {
    if record.link_type == LinkType::Ethernet {
        return frame::parse_ethernet(record.data);
    }
    match record.strip_cooked() {
        Some((ethertype, l3)) => frame::parse_ip(ethertype, l3),
        None => Ok(None),
    }
}

fn hex16(v: u64) -> String {
    format!("{v:016x}")
}

fn hex8(v: u32) -> String {
    format!("{v:08x}")
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// The JSON form of one MPTCP option (README.md documents it).
pub fn option_json(opt: &MptcpOption<'_>) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    match opt {
        MptcpOption::MpCapable(o) => {
            put("subtype", "mp_capable".into());
            put("version", o.version.into());
            put("flags", o.flags.into());
            if let Some(k) = o.sender_key {
                put("sender_key", hex16(k).into());
            }
            if let Some(k) = o.receiver_key {
                put("receiver_key", hex16(k).into());
            }
            if let Some(l) = o.data_len {
                put("data_len", l.into());
            }
            if let Some(c) = o.checksum {
                put("checksum", c.into());
            }
        }
        MptcpOption::MpJoin(j) => {
            put("subtype", "mp_join".into());
            match *j {
                MpJoin::Syn {
                    backup,
                    addr_id,
                    token,
                    nonce,
                } => {
                    put("backup", backup.into());
                    put("addr_id", addr_id.into());
                    put("token", hex8(token).into());
                    put("nonce", hex8(nonce).into());
                }
                MpJoin::SynAck {
                    backup,
                    addr_id,
                    hmac,
                    nonce,
                } => {
                    put("backup", backup.into());
                    put("addr_id", addr_id.into());
                    put("nonce", hex8(nonce).into());
                    put("hmac", hex16(hmac).into());
                }
                MpJoin::Ack { hmac } => put("hmac", hex_bytes(&hmac).into()),
            }
        }
        MptcpOption::Dss(d) => {
            put("subtype", "dss".into());
            put("data_fin", d.data_fin.into());
            if let Some(a) = d.data_ack {
                put("data_ack", a.value.into());
                put("data_ack_len", (if a.wide { 8 } else { 4 }).into());
            }
            if let Some(map) = d.mapping {
                put("dsn", map.dsn.value.into());
                put("dsn_len", (if map.dsn.wide { 8 } else { 4 }).into());
                put("ssn", map.ssn.into());
                put("dll", map.data_len.into());
                if let Some(c) = map.checksum {
                    put("checksum", c.into());
                }
            }
        }
        MptcpOption::AddAddr(a) => {
            put("subtype", "add_addr".into());
            put("echo", a.echo.into());
            put("addr_id", a.addr_id.into());
            put("addr", a.addr.to_string().into());
            if let Some(p) = a.port {
                put("port", p.into());
            }
            if let Some(h) = a.hmac {
                put("hmac", hex16(h).into());
            }
        }
        MptcpOption::RemoveAddr(r) => {
            put("subtype", "remove_addr".into());
            put("addr_ids", r.addr_ids.to_vec().into());
        }
        MptcpOption::MpPrio(p) => {
            put("subtype", "mp_prio".into());
            put("backup", p.backup.into());
        }
        MptcpOption::MpFail(f) => {
            put("subtype", "mp_fail".into());
            put("dsn", f.dsn.into());
        }
        MptcpOption::MpFastclose(f) => {
            put("subtype", "mp_fastclose".into());
            put("receiver_key", hex16(f.receiver_key).into());
        }
        MptcpOption::MpTcprst(r) => {
            put("subtype", "mp_tcprst".into());
            put("flags", r.flags.into());
            put("reason", r.reason.into());
        }
        MptcpOption::Unknown { subtype, .. } => {
            put("subtype", "unknown".into());
            put("kind", (*subtype).into());
        }
    }
    Value::Object(m)
}

/// The MPTCP options of a packet, in wire order. A kind-30 option that does not parse is
/// reported as `unknown` with its subtype number (the high nibble of its third byte).
fn mptcp_options<'a>(
    tcp: &'a TcpFrame<'a>,
) -> impl Iterator<Item = Result<MptcpOption<'a>, u8>> + 'a {
    tcp.options().filter_map(|o| match o {
        Ok(TcpOption::Mptcp(raw)) => Some(
            MptcpOption::parse(raw, Version::V1).map_err(|_| raw.get(2).map_or(0xff, |b| b >> 4)),
        ),
        _ => None,
    })
}

fn packet_json(number: u64, tcp: &TcpFrame<'_>) -> Value {
    let p = tcp.packet();
    let mut v = json!({
        "frame": number,
        "src": tcp.src_addr.to_string(),
        "dst": tcp.dst_addr.to_string(),
        "sport": p.src_port(),
        "dport": p.dst_port(),
        "seq": p.seq_number().0,
        "ack": p.ack_number().0,
        "flags": p.flags().letters().as_str(),
        "len": tcp.payload_len(),
    });
    let opts: Vec<Value> = mptcp_options(tcp)
        .map(|o| match o {
            Ok(opt) => option_json(&opt),
            Err(subtype) => json!({"subtype": "unknown", "kind": subtype}),
        })
        .collect();
    if !opts.is_empty() {
        v["mptcp"] = Value::Array(opts);
    }
    v
}

/// One human-readable line, tcpdump-like:
/// `7 10.0.1.1:40000 > 10.0.1.2:8080 [PA] seq=.. ack=.. win=.. len=100 ts=1/2 mptcp=[dss ...]`
fn packet_text(number: u64, tcp: &TcpFrame<'_>) -> String {
    let p = tcp.packet();
    let addr = |a: std::net::IpAddr, port: u16| match a {
        std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    };
    let mut line = format!(
        "{number} {} > {} [{}] seq={} ack={} win={} len={}",
        addr(tcp.src_addr, p.src_port()),
        addr(tcp.dst_addr, p.dst_port()),
        p.flags().letters(),
        p.seq_number().0,
        p.ack_number().0,
        p.window_len(),
        tcp.payload_len(),
    );
    let mut mptcp = Vec::new();
    for opt in tcp.options() {
        match opt {
            Ok(TcpOption::MaxSegmentSize(m)) => {
                let _ = write!(line, " mss={m}");
            }
            Ok(TcpOption::WindowScale(w)) => {
                let _ = write!(line, " wscale={w}");
            }
            Ok(TcpOption::SackPermitted) => line.push_str(" sackOK"),
            Ok(TcpOption::SackRange(blocks)) => {
                line.push_str(" sack=");
                for (l, r) in blocks.iter().flatten() {
                    let _ = write!(line, "[{}-{}]", l.0, r.0);
                }
            }
            Ok(TcpOption::Timestamp { tsval, tsecr }) => {
                let _ = write!(line, " ts={tsval}/{tsecr}");
            }
            Ok(TcpOption::Mptcp(raw)) => mptcp.push(match MptcpOption::parse(raw, Version::V1) {
                Ok(o) => option_text(&o),
                Err(e) => format!("malformed({e})"),
            }),
            Ok(TcpOption::Unknown { kind, .. }) => {
                let _ = write!(line, " opt{kind}");
            }
            Ok(TcpOption::EndOfList | TcpOption::NoOperation) => {}
            Err(_) => line.push_str(" bad-option"),
        }
    }
    if !mptcp.is_empty() {
        let _ = write!(line, " mptcp=[{}]", mptcp.join(", "));
    }
    line
}

/// An MPTCP option as `name key=value ...`, from the same fields as the JSON form.
fn option_text(opt: &MptcpOption<'_>) -> String {
    let Value::Object(m) = option_json(opt) else {
        return String::new();
    };
    let mut s = String::new();
    for (k, v) in &m {
        if k == "subtype" {
            s.push_str(v.as_str().unwrap_or("?"));
            continue;
        }
        let v = match v {
            Value::String(x) => x.clone(),
            other => other.to_string(),
        };
        let _ = write!(s, " {k}={v}");
    }
    s
}
