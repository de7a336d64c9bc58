//! The `--json` output: one object per finished connection, one per line, with exactly
//! the keys scripts rely on (`sha256_*` only with `--verify sha256`).

use serde_json::{json, Map, Value};

use crate::app::ConnResult;
use crate::cli::Proto;

/// `"mptcp"` or `"tcp"`.
pub fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Mptcp => "mptcp",
        Proto::Tcp => "tcp",
    }
}

/// The JSON object of one connection.
pub fn conn_result(r: &ConnResult) -> Value {
    let mut m = Map::new();
    m.insert("role".into(), json!(r.role));
    m.insert("proto_used".into(), json!(proto_name(r.proto_used)));
    m.insert("bytes_sent".into(), json!(r.bytes_sent));
    m.insert("bytes_received".into(), json!(r.bytes_received));
    if let Some(h) = &r.sha256_sent {
        m.insert("sha256_sent".into(), json!(h));
    }
    if let Some(h) = &r.sha256_received {
        m.insert("sha256_received".into(), json!(h));
    }
    m.insert("subflows_established".into(), json!(r.subflows_established));
    m.insert("seconds".into(), json!(round(r.seconds, 6)));
    m.insert("gbps".into(), json!(round(r.gbps(), 3)));
    let subflows: Vec<Value> = r
        .subflows
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "local": s.local.to_string(),
                "remote": s.remote.to_string(),
                "backup": s.backup,
                "bytes_sent": s.bytes_sent,
                "bytes_received": s.bytes_received,
            })
        })
        .collect();
    m.insert("subflows".into(), Value::Array(subflows));
    // How it ended: `error` is null for a clean close; `aborted` when this side
    // aborted (`--abort-after`).
    m.insert("error".into(), json!(r.error));
    m.insert("aborted".into(), json!(r.aborted));
    let counters: Map<String, Value> = r
        .counters
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    m.insert("counters".into(), Value::Object(counters));
    Value::Object(m)
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apphost::SubflowInfo;
    use dataplane::tcp::socket::State;

    fn result(verify: bool) -> ConnResult {
        ConnResult {
            role: "client",
            proto_used: Proto::Tcp,
            bytes_sent: 125_000_000,
            bytes_received: 0,
            sha256_sent: verify.then(|| "ab".repeat(32)),
            sha256_received: verify.then(|| "cd".repeat(32)),
            subflows_established: 1,
            seconds: 0.5,
            subflows: vec![SubflowInfo {
                id: 0,
                local: "10.0.1.1:40000".parse().unwrap(),
                remote: "10.0.1.2:5201".parse().unwrap(),
                backup: false,
                bytes_sent: 1000,
                bytes_received: 0,
                srtt: None,
                cwnd: 14600,
                state: State::TimeWait,
            }],
            counters: vec![("TcpActiveOpens", 1)],
            error: None,
            aborted: false,
        }
    }

    #[test]
    fn keys_exactly_and_in_order() {
        let v = conn_result(&result(true));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "role",
                "proto_used",
                "bytes_sent",
                "bytes_received",
                "sha256_sent",
                "sha256_received",
                "subflows_established",
                "seconds",
                "gbps",
                "subflows",
                "error",
                "aborted",
                "counters"
            ]
        );
        assert_eq!(v["error"], Value::Null);
        assert_eq!(v["aborted"], json!(false));
        let mut reset = result(true);
        reset.error = Some("connection reset".into());
        assert_eq!(conn_result(&reset)["error"], json!("connection reset"));
        // 125 MB in 0.5 s.
        assert_eq!(v["gbps"], json!(2.0));
        let s = &v["subflows"][0];
        let skeys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            skeys,
            [
                "id",
                "local",
                "remote",
                "backup",
                "bytes_sent",
                "bytes_received"
            ]
        );
        assert_eq!(s["local"], json!("10.0.1.1:40000"));
        assert_eq!(v["counters"]["TcpActiveOpens"], json!(1));
        // One line.
        assert!(!v.to_string().contains('\n'));
    }

    #[test]
    fn no_hash_keys_without_verify() {
        let v = conn_result(&result(false));
        assert!(v.get("sha256_sent").is_none());
        assert!(v.get("sha256_received").is_none());
    }
}
