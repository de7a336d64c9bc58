//! Live statistics: snapshots of what the worker's hosts hold, and the per-subflow rate
//! lines (`--stats-period`) computed from two snapshots.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::SocketAddrV4;

use crate::app::ConnSnapshot;
use crate::json::proto_name;

/// One host's state at a moment.
#[derive(Debug, Clone, Default)]
pub struct NodeSnapshot {
    /// "mpdk", or "client"/"server" in the embedded demo.
    pub name: &'static str,
    pub conns: Vec<ConnSnapshot>,
    pub counters: Vec<(&'static str, u64)>,
    /// Connections in the host's table (TIME_WAIT included).
    pub connections: usize,
}

impl NodeSnapshot {
    /// A counter's value (0 when the host does not keep it).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(0, |(_, v)| *v)
    }
}

type Key = (usize, SocketAddrV4, SocketAddrV4);

/// Turns successive snapshots into rate lines.
#[derive(Debug, Default)]
pub struct RateTracker {
    prev: HashMap<Key, (u64, u64)>,
    prev_retrans: HashMap<usize, u64>,
    prev_at: Option<std::time::Instant>,
}

impl RateTracker {
    /// A tracker whose first rates are counted from `start` (every byte count zero).
    pub fn new(start: std::time::Instant) -> RateTracker {
        RateTracker {
            prev_at: Some(start),
            ..RateTracker::default()
        }
    }

    /// Lines for the snapshot taken at `at` (`elapsed` is the time since start, for the
    /// line prefix): one per subflow with its send and receive rates since the previous
    /// snapshot, RTT and congestion window, and the host's retransmitted segments.
    pub fn lines(
        &mut self,
        nodes: &[NodeSnapshot],
        at: std::time::Instant,
        elapsed: f64,
    ) -> Vec<String> {
        let dt = self
            .prev_at
            .map(|p| at.saturating_duration_since(p).as_secs_f64())
            .filter(|d| *d > 0.0);
        self.prev_at = Some(at);
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for (ni, node) in nodes.iter().enumerate() {
            let retrans = node.counter("TcpRetransSegs");
            let rtx = retrans
                - self
                    .prev_retrans
                    .get(&ni)
                    .copied()
                    .unwrap_or(0)
                    .min(retrans);
            self.prev_retrans.insert(ni, retrans);
            for conn in &node.conns {
                for sf in &conn.subflows {
                    let key = (ni, sf.local, sf.remote);
                    let (ps, pr) = self.prev.get(&key).copied().unwrap_or((0, 0));
                    let rate = |now: u64, before: u64| match dt {
                        Some(d) => now.saturating_sub(before) as f64 * 8.0 / d / 1e9,
                        None => 0.0,
                    };
                    let mut l = String::new();
                    let _ = write!(
                        l,
                        "[{elapsed:7.1}s] {} {} sf{} {} -> {}  tx {:6.2} Gbit/s  rx {:6.2} Gbit/s",
                        node.name,
                        proto_name(conn.proto_used),
                        sf.id,
                        sf.local,
                        sf.remote,
                        rate(sf.bytes_sent, ps),
                        rate(sf.bytes_received, pr),
                    );
                    match sf.srtt {
                        Some(r) => {
                            let _ = write!(l, "  rtt {:7.3} ms", r.as_secs_f64() * 1e3);
                        }
                        None => l.push_str("  rtt       - ms"),
                    }
                    let _ = write!(
                        l,
                        "  cwnd {:5}k  retrans {rtx}{}",
                        sf.cwnd / 1024,
                        if sf.backup { "  backup" } else { "" }
                    );
                    out.push(l);
                    seen.insert(key, (sf.bytes_sent, sf.bytes_received));
                }
            }
        }
        self.prev = seen;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apphost::SubflowInfo;
    use crate::cli::Proto;
    use dataplane::tcp::socket::State;
    use dataplane::time::Duration;

    fn node(sent: u64, retrans: u64) -> NodeSnapshot {
        NodeSnapshot {
            name: "client",
            conns: vec![ConnSnapshot {
                role: "client",
                proto_used: Proto::Tcp,
                bytes_sent: sent,
                bytes_received: 0,
                state: "open",
                shut_down: false,
                send_finished: false,
                recv_finished: false,
                subflows: vec![SubflowInfo {
                    id: 0,
                    local: "10.0.1.1:40000".parse().unwrap(),
                    remote: "10.0.1.2:5201".parse().unwrap(),
                    backup: false,
                    bytes_sent: sent,
                    bytes_received: 0,
                    srtt: Some(Duration::from_micros(250)),
                    cwnd: 64 * 1024,
                    state: State::Established,
                }],
            }],
            counters: vec![("TcpRetransSegs", retrans)],
            connections: 1,
        }
    }

    #[test]
    fn rate_from_two_snapshots() {
        let t0 = std::time::Instant::now();
        let mut t = RateTracker::new(t0);
        let first = t.lines(&[node(0, 0)], t0, 0.0);
        assert!(first[0].contains("tx   0.00 Gbit/s"), "{}", first[0]);
        // 125 MB in half a second: 2 Gbit/s.
        let l = t.lines(
            &[node(125_000_000, 3)],
            t0 + std::time::Duration::from_millis(500),
            0.5,
        );
        assert!(l[0].contains("tx   2.00 Gbit/s"), "{}", l[0]);
        assert!(l[0].contains("rtt   0.250 ms"), "{}", l[0]);
        assert!(l[0].contains("retrans 3"), "{}", l[0]);
        assert!(l[0].contains("10.0.1.1:40000 -> 10.0.1.2:5201"));
    }
}
