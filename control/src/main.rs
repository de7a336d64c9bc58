//! `mpdk`: the mpdk console.
//!
//! `mpdk [EAL options] -- [app options]` runs the console on DPDK ports; `mpdk` with no
//! device arguments runs the embedded two-path demo; `mpdk pcap-decode FILE [--json]`
//! decodes a capture. The pieces live in the `control` library.
#![forbid(unsafe_code)]

use control::{cli, decode};

use std::io::{self, Write};
use std::process::ExitCode;

const USAGE: &str = "\
usage: mpdk [EAL options] -- [app options]   the console on DPDK ports
       mpdk [app options]                     the embedded two-path demo (no NIC needed;
                                              --bytes N, --duration S, --proto, --json, -i)
       mpdk pcap-decode FILE [--json]
       mpdk --help | --version

commands:
  pcap-decode FILE   print one line per TCP packet of a pcap/pcapng capture
                     (Ethernet, Linux cooked v1/v2 or raw IP), with its MPTCP options
    --json           one JSON object per TCP packet instead (format in README.md)
";

/// A command-line or run-time failure: printed as one line, exit status 2 for usage
/// errors and 1 for failures while running.
#[derive(Debug)]
enum Failure {
    Usage(String),
    Run(String),
    /// Ran, and the outcome was a failure already reported (exit status).
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
    Status(u8),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("mpdk: {msg} (try 'mpdk --help')");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("mpdk: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Status(s)) => ExitCode::from(s),
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    match args.first().map(String::as_str) {
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}\n{}", cli::APP_USAGE);
            Ok(())
        }
        Some("-V") | Some("--version") => {
            println!("mpdk {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("pcap-decode") => pcap_decode(&args[1..]),
        Some(other) if !other.starts_with('-') => {
            Err(Failure::Usage(format!("unknown command '{other}'")))
        }
        _ => console(args),
    }
}

/// `mpdk [EAL options] -- [app options]`: the console (or, without `--`, the embedded
/// demo).
fn console(args: &[String]) -> Result<(), Failure> {
    let mut argv = vec!["mpdk".to_string()];
    argv.extend(args.iter().cloned());
    let config = cli::parse(&argv).map_err(|e| Failure::Usage(e.0))?;
    run_console(&config)
}

#[cfg(feature = "dpdk")]
fn run_console(config: &cli::AppConfig) -> Result<(), Failure> {
    let status = if config.embedded {
        control::demo::run_demo(config)
    } else {
        control::launch::run_app(config)
    }
    .map_err(Failure::Run)?;
    if status == 0 {
        Ok(())
    } else {
        Err(Failure::Status(status))
    }
}

#[cfg(not(feature = "dpdk"))]
fn run_console(_config: &cli::AppConfig) -> Result<(), Failure> {
    Err(Failure::Run(
        "this mpdk was built without DPDK (feature `dpdk`); available: pcap-decode".into(),
    ))
}

fn pcap_decode(args: &[String]) -> Result<(), Failure> {
    let mut json = false;
    let mut file = None;
    for a in args {
        match a.as_str() {
            "--json" => json = true,
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(Failure::Usage(format!("pcap-decode: unknown option '{s}'")))
            }
            s => {
                if file.replace(s).is_some() {
                    return Err(Failure::Usage("pcap-decode: more than one FILE".into()));
                }
            }
        }
    }
    let file = file.ok_or_else(|| Failure::Usage("pcap-decode: missing FILE".into()))?;
    let data = std::fs::read(file).map_err(|e| Failure::Run(format!("{file}: {e}")))?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = decode::decode(&data, json, &mut out).and_then(|summary| {
        out.flush()?;
        Ok(summary)
    });
    match result {
        Ok(summary) => {
            if summary.undecodable > 0 {
                eprintln!(
                    "mpdk: {file}: {} TCP packets, {} frames not decodable",
                    summary.tcp_packets, summary.undecodable
                );
            }
            Ok(())
        }
        // A closed pipe (`mpdk pcap-decode f | head`) is not an error.
        Err(decode::DecodeError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Run(format!("{file}: {e}"))),
    }
}
