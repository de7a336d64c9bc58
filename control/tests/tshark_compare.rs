//! `mpdk pcap-decode --json` agrees with tshark's MPTCP dissector on every field that
//! tshark shows, for every TCP packet of every kernel capture fixture.
//!
//! Runs where tshark is installed; CI installs it (ci/install-deps.sh) and sets `CI`, and
//! there a missing tshark fails the test instead of skipping it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dataplane/tests/fixtures/kernel");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    v.sort();
    assert!(v.len() >= 5, "kernel fixtures present");
    v
}

fn tshark_available() -> bool {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "tshark is required in CI (ci/install-deps.sh)"
            );
            eprintln!("tshark not installed: skipping the comparison (CI installs it)");
            false
        }
    }
}

/// The tshark fields we compare; each maps to the values our JSON gives for it.
const FIELDS: &[&str] = &[
    "frame.number",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.flags",
    "tcp.len",
    "tcp.options.mptcp.subtype",
    "tcp.options.mptcp.version",
    "tcp.options.mptcp.flags",
    "tcp.options.mptcp.sendkey",
    "tcp.options.mptcp.recvkey",
    "tcp.options.mptcp.datalvllen",
    "tcp.options.mptcp.checksum",
    "tcp.options.mptcp.recvtok",
    "tcp.options.mptcp.sendrand",
    "tcp.options.mptcp.sendtrunchmac",
    "tcp.options.mptcp.sendhmac",
    "tcp.options.mptcp.addrid",
    "tcp.options.mptcp.backup.flag",
    "tcp.options.mptcp.rawdataack",
    "tcp.options.mptcp.dataack8.flag",
    "tcp.options.mptcp.rawdataseqno",
    "tcp.options.mptcp.dseqn8.flag",
    "tcp.options.mptcp.subflowseqno",
    "tcp.options.mptcp.datafin.flag",
    "tcp.options.mptcp.echo",
    "tcp.options.mptcp.ipv4",
    "tcp.options.mptcp.ipv6",
    "tcp.options.mptcp.port",
    "tcp.options.mptcp.addaddrtrunchmac",
    "tcp.options.mptcp.rst_reason",
    "tcp.options.mptcp.flag_T.flag",
];

/// Our DSS checksums, compared only where tshark shows them (see `ours`).
const DSS_CHECKSUM: &str = "dss checksum";

/// Canonical form of one value: integers (decimal or 0x-hex) as decimal, booleans as
/// 0/1, anything else (addresses, HMAC bytes) lower-cased without separators.
fn canon(s: &str) -> String {
    let s = s.trim();
    match s {
        "True" | "true" => return "1".into(),
        "False" | "false" => return "0".into(),
        _ => {}
    }
    if let Some(h) = s.strip_prefix("0x") {
        if let Ok(v) = u128::from_str_radix(h, 16) {
            return v.to_string();
        }
    }
    if let Ok(v) = s.parse::<u128>() {
        return v.to_string();
    }
    s.to_ascii_lowercase().replace(':', "")
}

fn tshark_rows(file: &Path) -> BTreeMap<u64, BTreeMap<&'static str, Vec<String>>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args([
        "-Y",
        "tcp",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rows = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let mut m = BTreeMap::new();
        for (i, f) in FIELDS.iter().enumerate() {
            let c = cols.get(i).copied().unwrap_or("");
            let vals: Vec<String> = if c.is_empty() {
                vec![]
            } else {
                c.split(',').map(canon).collect()
            };
            m.insert(*f, vals);
        }
        let n: u64 = m["frame.number"][0].parse().unwrap();
        rows.insert(n, m);
    }
    rows
}

fn hexu(v: &Value) -> String {
    canon(&format!("0x{}", v.as_str().expect("hex string")))
}

fn num(v: &Value) -> String {
    canon(&v.to_string())
}

fn flag(v: &Value) -> String {
    if v.as_bool().expect("bool") { "1" } else { "0" }.into()
}

/// What our JSON says for each tshark field of one packet, in wire order.
fn ours(pkt: &Value) -> BTreeMap<&'static str, Vec<String>> {
    let mut m: BTreeMap<&'static str, Vec<String>> = FIELDS
        .iter()
        .chain(&[DSS_CHECKSUM])
        .map(|f| (*f, Vec::new()))
        .collect();
    let mut put = |f: &'static str, v: String| m.get_mut(f).expect("known field").push(v);
    put("frame.number", num(&pkt["frame"]));
    let src = pkt["src"].as_str().unwrap();
    let (s, d) = if src.contains(':') {
        ("ipv6.src", "ipv6.dst")
    } else {
        ("ip.src", "ip.dst")
    };
    put(s, canon(src));
    put(d, canon(pkt["dst"].as_str().unwrap()));
    put("tcp.srcport", num(&pkt["sport"]));
    put("tcp.dstport", num(&pkt["dport"]));
    put("tcp.seq_raw", num(&pkt["seq"]));
    put("tcp.ack_raw", num(&pkt["ack"]));
    let bits = pkt["flags"].as_str().unwrap().chars().fold(0u32, |acc, c| {
        acc | match c {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' => 0x40,
            'C' => 0x80,
            other => panic!("unexpected flag letter {other}"),
        }
    });
    put("tcp.flags", bits.to_string());
    put("tcp.len", num(&pkt["len"]));
    for o in pkt["mptcp"].as_array().into_iter().flatten() {
        let has = |k: &str| !o[k].is_null();
        match o["subtype"].as_str().unwrap() {
            "mp_capable" => {
                put("tcp.options.mptcp.subtype", "0".into());
                put("tcp.options.mptcp.version", num(&o["version"]));
                put("tcp.options.mptcp.flags", num(&o["flags"]));
                if has("sender_key") {
                    put("tcp.options.mptcp.sendkey", hexu(&o["sender_key"]));
                }
                if has("receiver_key") {
                    put("tcp.options.mptcp.recvkey", hexu(&o["receiver_key"]));
                }
                if has("data_len") {
                    put("tcp.options.mptcp.datalvllen", num(&o["data_len"]));
                }
                if has("checksum") {
                    put("tcp.options.mptcp.checksum", num(&o["checksum"]));
                }
            }
            "mp_join" => {
                put("tcp.options.mptcp.subtype", "1".into());
                if has("backup") {
                    // SYN and SYN/ACK: tshark shows the byte of subtype and B flag.
                    let b = u32::from(o["backup"].as_bool().unwrap());
                    put("tcp.options.mptcp.flags", (0x10 | b).to_string());
                    put("tcp.options.mptcp.addrid", num(&o["addr_id"]));
                    put("tcp.options.mptcp.backup.flag", b.to_string());
                }
                if has("token") {
                    put("tcp.options.mptcp.recvtok", hexu(&o["token"]));
                }
                if has("nonce") {
                    put("tcp.options.mptcp.sendrand", hexu(&o["nonce"]));
                }
                match o["hmac"].as_str() {
                    Some(h) if h.len() == 16 => {
                        put("tcp.options.mptcp.sendtrunchmac", hexu(&o["hmac"]))
                    }
                    Some(h) => put("tcp.options.mptcp.sendhmac", canon(h)),
                    None => {}
                }
            }
            "dss" => {
                put("tcp.options.mptcp.subtype", "2".into());
                let mut flags = 0u32;
                if has("data_ack") {
                    flags |= 0x01;
                    if o["data_ack_len"] == 8 {
                        flags |= 0x02;
                    }
                    put("tcp.options.mptcp.rawdataack", num(&o["data_ack"]));
                }
                if has("dsn") {
                    flags |= 0x04;
                    if o["dsn_len"] == 8 {
                        flags |= 0x08;
                    }
                    put("tcp.options.mptcp.rawdataseqno", num(&o["dsn"]));
                    put("tcp.options.mptcp.subflowseqno", num(&o["ssn"]));
                    put("tcp.options.mptcp.datalvllen", num(&o["dll"]));
                    if has("checksum") {
                        // tshark 4.0 does not display the DSS checksum (it does show
                        // MP_CAPABLE's); kept apart so the comparison can tell.
                        put(DSS_CHECKSUM, num(&o["checksum"]));
                    }
                }
                if o["data_fin"] == true {
                    flags |= 0x10;
                }
                put("tcp.options.mptcp.flags", flags.to_string());
                put(
                    "tcp.options.mptcp.dataack8.flag",
                    u32::from(flags & 0x02 != 0).to_string(),
                );
                put(
                    "tcp.options.mptcp.dseqn8.flag",
                    u32::from(flags & 0x08 != 0).to_string(),
                );
                put(
                    "tcp.options.mptcp.datafin.flag",
                    u32::from(flags & 0x10 != 0).to_string(),
                );
            }
            "add_addr" => {
                put("tcp.options.mptcp.subtype", "3".into());
                put("tcp.options.mptcp.echo", flag(&o["echo"]));
                put("tcp.options.mptcp.addrid", num(&o["addr_id"]));
                let a = o["addr"].as_str().unwrap();
                let f = if a.contains(':') {
                    "tcp.options.mptcp.ipv6"
                } else {
                    "tcp.options.mptcp.ipv4"
                };
                put(f, canon(a));
                if has("port") {
                    put("tcp.options.mptcp.port", num(&o["port"]));
                }
                if has("hmac") {
                    put("tcp.options.mptcp.addaddrtrunchmac", hexu(&o["hmac"]));
                }
            }
            "remove_addr" => {
                put("tcp.options.mptcp.subtype", "4".into());
                for id in o["addr_ids"].as_array().unwrap() {
                    put("tcp.options.mptcp.addrid", num(id));
                }
            }
            "mp_prio" => {
                put("tcp.options.mptcp.subtype", "5".into());
                let b = u32::from(o["backup"].as_bool().unwrap());
                put("tcp.options.mptcp.flags", (0x50 | b).to_string());
                put("tcp.options.mptcp.backup.flag", b.to_string());
            }
            "mp_fail" => put("tcp.options.mptcp.subtype", "6".into()),
            "mp_fastclose" => {
                put("tcp.options.mptcp.subtype", "7".into());
                put("tcp.options.mptcp.recvkey", hexu(&o["receiver_key"]));
            }
            "mp_tcprst" => {
                put("tcp.options.mptcp.subtype", "8".into());
                let f = o["flags"].as_u64().unwrap();
                put("tcp.options.mptcp.flags", (0x80 | f).to_string());
                put("tcp.options.mptcp.rst_reason", num(&o["reason"]));
                put("tcp.options.mptcp.flag_T.flag", (f & 1).to_string());
            }
            "unknown" => put("tcp.options.mptcp.subtype", num(&o["kind"])),
            other => panic!("unexpected subtype {other}"),
        }
    }
    m
}

#[test]
fn pcap_decode_json_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let mut compared = 0usize;
    let mut mptcp_values = 0usize;
    let mut dss_checksums_hidden = 0usize;
    for file in fixtures() {
        let out = Command::new(env!("CARGO_BIN_EXE_mpdk"))
            .arg("pcap-decode")
            .arg(&file)
            .arg("--json")
            .output()
            .expect("run mpdk");
        assert!(
            out.status.success(),
            "mpdk pcap-decode {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let ours_by_frame: BTreeMap<u64, Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("one JSON object per line");
                (v["frame"].as_u64().unwrap(), v)
            })
            .collect();
        let theirs = tshark_rows(&file);
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(
            ours_by_frame.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{name}: the same TCP frames"
        );
        for (frame, t) in &theirs {
            let o = ours(&ours_by_frame[frame]);
            for f in FIELDS {
                if *f == "tcp.options.mptcp.checksum" && !o[DSS_CHECKSUM].is_empty() {
                    // Either tshark shows no DSS checksum (4.0) or it shows all of them.
                    let mut all = o[f].clone();
                    all.extend(o[DSS_CHECKSUM].iter().cloned());
                    assert!(
                        t[f] == o[f] || t[f] == all,
                        "{name} frame {frame}: checksums {:?} vs {:?}",
                        all,
                        t[f]
                    );
                    dss_checksums_hidden += usize::from(t[f] == o[f]);
                    continue;
                }
                assert_eq!(o[f], t[f], "{name} frame {frame}: field {f}");
                if f.starts_with("tcp.options.mptcp") {
                    mptcp_values += t[f].len();
                }
            }
            compared += 1;
        }
    }
    eprintln!(
        "compared {compared} packets, {mptcp_values} MPTCP field values with tshark \
         ({dss_checksums_hidden} packets whose DSS checksum tshark does not display)"
    );
    assert!(
        compared > 300 && mptcp_values > 1000,
        "the comparison covered real traffic"
    );
}
