//! The interactive prompt (`-i`), testpmd style: command parsing and the text of each
//! answer. The runtime does the I/O (reads lines, asks the worker for snapshots, reads
//! port counters); this module only turns commands and data into text.

use std::fmt::Write;

use crate::json::proto_name;
use crate::stats::NodeSnapshot;

/// A prompt command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Start (or resume) the application.
    Start,
    /// Pause the application (no sending, no reading).
    Stop,
    ShowPortStats,
    ClearPortStats,
    ShowPortInfo,
    ShowConns,
    ShowSubflows,
    ShowCounters,
    Help,
    Quit,
    /// An empty line.
    Nothing,
}

/// The help text.
pub const HELP: &str = "\
commands:
  start                    start (or resume) the application
  stop                     pause the application (flow control stops the peer)
  show port stats all      port counters (packets, bytes, errors)
  clear port stats all     reset the port counters
  show port info all       driver, MAC, link, addresses of every port
  show mptcp conns         connections of the application
  show mptcp subflows      subflows with bytes, RTT and cwnd
  show mptcp counters      host counters (Linux names)
  help                     this text
  quit                     stop and exit";

/// Parses one line.
pub fn parse(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    Ok(match words.as_slice() {
        [] => Command::Nothing,
        ["start"] => Command::Start,
        ["stop"] => Command::Stop,
        ["show", "port", "stats", "all"] => Command::ShowPortStats,
        ["clear", "port", "stats", "all"] => Command::ClearPortStats,
        ["show", "port", "info", "all"] => Command::ShowPortInfo,
        ["show", "mptcp", "conns"] => Command::ShowConns,
        ["show", "mptcp", "subflows"] => Command::ShowSubflows,
        ["show", "mptcp", "counters"] => Command::ShowCounters,
        ["help"] => Command::Help,
        ["quit"] | ["exit"] => Command::Quit,
        _ => return Err(format!("bad command '{}' (try 'help')", line.trim())),
    })
}

/// What the prompt shows of one port.
#[derive(Debug, Clone, Default)]
pub struct PortView {
    pub id: u16,
    pub driver: String,
    pub mac: [u8; 6],
    pub link_up: bool,
    pub speed_mbps: u32,
    pub addrs: Vec<String>,
    pub csum_offload: (bool, bool),
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `show port stats all`.
pub fn port_stats(ports: &[PortView]) -> String {
    let mut s = String::new();
    for p in ports {
        let _ = writeln!(
            s,
            "  ######################## NIC statistics for port {:<2} ########################",
            p.id
        );
        let _ = writeln!(
            s,
            "  RX-packets: {:<12} RX-missed: {:<12} RX-bytes:  {}",
            p.ipackets, p.imissed, p.ibytes
        );
        let _ = writeln!(
            s,
            "  RX-errors: {:<12} RX-nombuf:  {}",
            p.ierrors, p.rx_nombuf
        );
        let _ = writeln!(
            s,
            "  TX-packets: {:<12} TX-errors: {:<12} TX-bytes:  {}",
            p.opackets, p.oerrors, p.obytes
        );
        let _ = writeln!(
            s,
            "  ############################################################################"
        );
    }
    s
}

/// `show port info all`.
pub fn port_info(ports: &[PortView]) -> String {
    let mut s = String::new();
    for p in ports {
        let _ = writeln!(
            s,
            "********************* Infos for port {:<2} *********************",
            p.id
        );
        let _ = writeln!(s, "MAC address: {}", mac(&p.mac));
        let _ = writeln!(s, "Driver name: {}", p.driver);
        let _ = writeln!(s, "Link status: {}", if p.link_up { "up" } else { "down" });
        let _ = writeln!(s, "Link speed: {} Mbps", p.speed_mbps);
        let _ = writeln!(
            s,
            "Checksum offload: tx {} rx {}",
            on(p.csum_offload.0),
            on(p.csum_offload.1)
        );
        let _ = writeln!(
            s,
            "IPv4 addresses: {}",
            if p.addrs.is_empty() {
                "none".to_string()
            } else {
                p.addrs.join(" ")
            }
        );
    }
    s
}

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// `show mptcp conns`.
pub fn conns(nodes: &[NodeSnapshot]) -> String {
    let mut s = String::new();
    let mut n = 0;
    for node in nodes {
        for (i, c) in node.conns.iter().enumerate() {
            n += 1;
            let (l, r) = c
                .subflows
                .first()
                .map(|sf| (sf.local.to_string(), sf.remote.to_string()))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "{} conn {i}: {} {} {l} -> {r} state {} subflows {} sent {} received {}{}{}{}",
                node.name,
                c.role,
                proto_name(c.proto_used),
                c.state,
                c.subflows.len(),
                c.bytes_sent,
                c.bytes_received,
                if c.shut_down { " shut-down" } else { "" },
                if c.send_finished {
                    " send-finished"
                } else {
                    ""
                },
                if c.recv_finished {
                    " recv-finished"
                } else {
                    ""
                },
            );
        }
        let _ = writeln!(
            s,
            "{}: {} entries in the connection table (TIME_WAIT included)",
            node.name, node.connections
        );
    }
    if n == 0 {
        s.insert_str(0, "no application connections\n");
    }
    s
}

/// `show mptcp subflows`.
pub fn subflows(nodes: &[NodeSnapshot]) -> String {
    let mut s = String::new();
    for node in nodes {
        for (i, c) in node.conns.iter().enumerate() {
            for sf in &c.subflows {
                let _ =
                    writeln!(
                    s,
                    "{} conn {i} sf{} {} -> {} {} backup {} sent {} received {} srtt {} cwnd {}",
                    node.name,
                    sf.id,
                    sf.local,
                    sf.remote,
                    sf.state,
                    sf.backup,
                    sf.bytes_sent,
                    sf.bytes_received,
                    sf.srtt
                        .map_or("-".to_string(), |d| format!("{:.3}ms", d.as_secs_f64() * 1e3)),
                    sf.cwnd
                );
            }
        }
    }
    if s.is_empty() {
        s.push_str("no subflows\n");
    }
    s
}

/// `show mptcp counters`: non-zero counters (as `nstat` prints them).
pub fn counters(nodes: &[NodeSnapshot]) -> String {
    let mut s = String::new();
    for node in nodes {
        let _ = writeln!(s, "{}:", node.name);
        for (k, v) in &node.counters {
            if *v != 0 {
                let _ = writeln!(s, "  {k:<28} {v}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse("start"), Ok(Command::Start));
        assert_eq!(parse("  show  port stats all "), Ok(Command::ShowPortStats));
        assert_eq!(parse("clear port stats all"), Ok(Command::ClearPortStats));
        assert_eq!(parse("show port info all"), Ok(Command::ShowPortInfo));
        assert_eq!(parse("show mptcp conns"), Ok(Command::ShowConns));
        assert_eq!(parse("show mptcp subflows"), Ok(Command::ShowSubflows));
        assert_eq!(parse("show mptcp counters"), Ok(Command::ShowCounters));
        assert_eq!(parse("quit"), Ok(Command::Quit));
        assert_eq!(parse(""), Ok(Command::Nothing));
        assert!(parse("show port stats").unwrap_err().contains("try 'help'"));
    }

    #[test]
    fn port_text() {
        let p = PortView {
            id: 1,
            driver: "net_ring".into(),
            mac: [2, 0, 0, 0, 0, 1],
            link_up: true,
            addrs: vec!["10.0.2.1/24".into()],
            ipackets: 7,
            obytes: 900,
            ..PortView::default()
        };
        let s = port_stats(std::slice::from_ref(&p));
        assert!(s.contains("NIC statistics for port 1"));
        assert!(s.contains("RX-packets: 7"));
        assert!(s.contains("TX-bytes:  900"));
        let i = port_info(&[p]);
        assert!(i.contains("MAC address: 02:00:00:00:00:01"));
        assert!(i.contains("Driver name: net_ring"));
        assert!(i.contains("IPv4 addresses: 10.0.2.1/24"));
    }
}
