//! The console's command line, DPDK style: `mpdk [EAL options] -- [app options]`.
//!
//! Everything before `--` goes to DPDK's EAL untouched; the app options after it are the
//! contract scripts and tests rely on (names and meanings mirror Linux's `ip mptcp`). With
//! no `--`, all arguments are app options and mpdk runs with its embedded two-path network
//! (no NIC needed). A bad option is a one-line error, never a panic.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// Protocol of the connections mpdk opens (a listener accepts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Mptcp,
    Tcp,
}

/// What the application does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read to the end.
    Sink,
    /// Send `--bytes` of a pseudo-random stream, then close.
    Source,
    /// Return what is received.
    Echo,
}

/// Whether the byte stream is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    Sha256,
    None,
}

/// An address mpdk owns on a DPDK port (`--port-addr P=IP/LEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortAddr {
    pub port: u16,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

/// A path-manager endpoint (`--endpoint`), as `ip mptcp endpoint add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointArg {
    pub addr: Ipv4Addr,
    pub subflow: bool,
    pub signal: bool,
    pub backup: bool,
    pub port: Option<u16>,
    /// `dev=P`: subflows from this endpoint leave through DPDK port P.
    pub dev: Option<u16>,
}

/// Path-manager limits (`--limits`), as `ip mptcp limits set`; defaults as Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub subflows: u8,
    pub add_addr_accepted: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            subflows: 2,
            add_addr_accepted: 0,
        }
    }
}

/// Linux's MPTCP_PM_ADDR_MAX: the most either limit may be.
pub const PM_LIMIT_MAX: u8 = 8;

/// Whether to listen or connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Listen(u16),
    Connect(SocketAddrV4),
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// Arguments for DPDK's EAL (before `--`), program name first.
    pub eal_args: Vec<String>,
    /// No `--` was given: run the embedded two-path demo network.
    pub embedded: bool,
    pub port_addrs: Vec<PortAddr>,
    /// `--gateway P=IP`: the default gateway reached through DPDK port P.
    pub gateways: Vec<(u16, Ipv4Addr)>,
    pub role: Option<Role>,
    pub proto: Proto,
    pub mode: Option<Mode>,
    pub bytes: Option<u64>,
    pub count: u32,
    pub endpoints: Vec<EndpointArg>,
    pub limits: Limits,
    pub checksum: bool,
    pub verify: Verify,
    pub json: bool,
    pub stats_period: Option<Duration>,
    pub interactive: bool,
    pub duration: Option<Duration>,
    /// Abort each connection (MP_FASTCLOSE, or RST for plain TCP) once this many bytes
    /// have been sent plus received: how tests make mpdk the side that aborts.
    pub abort_after: Option<u64>,
}

/// A command-line error: one line, said as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, CliError> {
    Err(CliError(msg.into()))
}

/// The app options, for `--help`.
pub const APP_USAGE: &str = "\
app options (after --):
  --port-addr P=IP/LEN       an IPv4 address mpdk owns on DPDK port P (repeatable)
  --gateway P=IP             default gateway reached through DPDK port P
  --listen PORT | --connect IP:PORT
  --proto mptcp|tcp          protocol of connections mpdk opens (default mptcp)
  --mode sink|source|echo    what to do with each connection
  --bytes N                  bytes a source sends (suffixes k, M, G: powers of 1024)
  --count N                  connections to serve before exiting (default 1)
  --endpoint IP[,subflow][,signal][,backup][,port=N][,dev=P]   (repeatable)
  --limits subflows=N,add_addr_accepted=N   (defaults 2 and 0, at most 8)
  --checksum on|off          DSS checksums (default off; used when either side asks)
  --verify sha256|none       hash the stream (default sha256)
  --json                     one JSON object per connection on stdout when done
  --stats-period S           a live statistics line every S seconds
  --duration S               run the embedded demo for S seconds
  --abort-after N            abort each connection (MP_FASTCLOSE) after N bytes moved
  -i                         interactive prompt";

/// Parses `N` with an optional k/M/G suffix (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, CliError> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'M')) => (&s[..i], 1 << 20),
        Some((i, 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| CliError(format!("bad size '{s}'")))?;
    n.checked_mul(mult)
        .ok_or_else(|| CliError(format!("size '{s}' is too large")))
}

fn parse_seconds(opt: &str, s: &str) -> Result<Duration, CliError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e6 => Ok(Duration::from_secs_f64(v)),
        _ => err(format!("{opt}: '{s}' is not a positive number of seconds")),
    }
}

fn parse_num<T: std::str::FromStr>(opt: &str, s: &str) -> Result<T, CliError> {
    s.parse()
        .map_err(|_| CliError(format!("{opt}: bad number '{s}'")))
}

fn parse_port_addr(s: &str) -> Result<PortAddr, CliError> {
    let bad = || CliError(format!("--port-addr: expected P=IP/LEN, got '{s}'"));
    let (p, rest) = s.split_once('=').ok_or_else(bad)?;
    let (ip, len) = rest.split_once('/').ok_or_else(bad)?;
    let port = p.parse().map_err(|_| bad())?;
    let addr = ip.parse().map_err(|_| bad())?;
    let prefix_len: u8 = len.parse().map_err(|_| bad())?;
    if prefix_len > 32 {
        return err(format!(
            "--port-addr: prefix length {prefix_len} is over 32"
        ));
    }
    Ok(PortAddr {
        port,
        addr,
        prefix_len,
    })
}

fn parse_endpoint(s: &str) -> Result<EndpointArg, CliError> {
    let mut parts = s.split(',');
    let ip = parts.next().unwrap_or_default();
    let addr = ip
        .parse()
        .map_err(|_| CliError(format!("--endpoint: bad address '{ip}'")))?;
    let mut e = EndpointArg {
        addr,
        subflow: false,
        signal: false,
        backup: false,
        port: None,
        dev: None,
    };
    for flag in parts {
        match flag {
            "subflow" => e.subflow = true,
            "signal" => e.signal = true,
            "backup" => e.backup = true,
            f if f.starts_with("port=") => e.port = Some(parse_num("--endpoint port", &f[5..])?),
            f if f.starts_with("dev=") => e.dev = Some(parse_num("--endpoint dev", &f[4..])?),
            f => return err(format!("--endpoint: unknown flag '{f}'")),
        }
    }
    Ok(e)
}

fn parse_limits(s: &str) -> Result<Limits, CliError> {
    let mut l = Limits::default();
    for kv in s.split(',') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| CliError(format!("--limits: expected key=N, got '{kv}'")))?;
        let n: u8 = parse_num("--limits", v)?;
        if n > PM_LIMIT_MAX {
            return err(format!(
                "--limits: {k}={n} is over the maximum {PM_LIMIT_MAX}"
            ));
        }
        match k {
            "subflows" => l.subflows = n,
            "add_addr_accepted" => l.add_addr_accepted = n,
            _ => return err(format!("--limits: unknown limit '{k}'")),
        }
    }
    Ok(l)
}

/// Parses the whole command line (`args[0]` is the program name).
pub fn parse(args: &[String]) -> Result<AppConfig, CliError> {
    let prog = args.first().cloned().unwrap_or_else(|| "mpdk".into());
    let rest = args.get(1..).unwrap_or_default();
    let (eal_args, app, embedded) = match rest.iter().position(|a| a == "--") {
        Some(i) => {
            let mut eal = vec![prog];
            eal.extend(rest[..i].iter().cloned());
            (eal, &rest[i + 1..], false)
        }
        None => (vec![prog], rest, true),
    };
    let mut c = AppConfig {
        eal_args,
        embedded,
        port_addrs: Vec::new(),
        gateways: Vec::new(),
        role: None,
        proto: Proto::Mptcp,
        mode: None,
        bytes: None,
        count: 1,
        endpoints: Vec::new(),
        limits: Limits::default(),
        checksum: false,
        verify: Verify::Sha256,
        json: false,
        stats_period: None,
        interactive: false,
        duration: None,
        abort_after: None,
    };
    let mut it = app.iter();
    while let Some(opt) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| CliError(format!("{opt} needs a value")))
        };
        match opt.as_str() {
            "--port-addr" => c.port_addrs.push(parse_port_addr(&value()?)?),
            "--gateway" => {
                let v = value()?;
                let bad = || CliError(format!("--gateway: expected P=IP, got '{v}'"));
                let (p, ip) = v.split_once('=').ok_or_else(bad)?;
                c.gateways.push((
                    p.parse().map_err(|_| bad())?,
                    ip.parse().map_err(|_| bad())?,
                ));
            }
            "--listen" => {
                if c.role.is_some() {
                    return err("give one of --listen and --connect");
                }
                c.role = Some(Role::Listen(parse_num("--listen", &value()?)?));
            }
            "--connect" => {
                if c.role.is_some() {
                    return err("give one of --listen and --connect");
                }
                let v = value()?;
                let a = v
                    .parse()
                    .map_err(|_| CliError(format!("--connect: expected IP:PORT, got '{v}'")))?;
                c.role = Some(Role::Connect(a));
            }
            "--proto" => {
                c.proto = match value()?.as_str() {
                    "mptcp" => Proto::Mptcp,
                    "tcp" => Proto::Tcp,
                    v => return err(format!("--proto: expected mptcp or tcp, got '{v}'")),
                }
            }
            "--mode" => {
                c.mode = Some(match value()?.as_str() {
                    "sink" => Mode::Sink,
                    "source" => Mode::Source,
                    "echo" => Mode::Echo,
                    v => return err(format!("--mode: expected sink, source or echo, got '{v}'")),
                })
            }
            "--bytes" => c.bytes = Some(parse_size(&value()?)?),
            "--count" => {
                c.count = parse_num("--count", &value()?)?;
                if c.count == 0 {
                    return err("--count must be at least 1");
                }
            }
            "--endpoint" => c.endpoints.push(parse_endpoint(&value()?)?),
            "--limits" => c.limits = parse_limits(&value()?)?,
            "--checksum" => {
                c.checksum = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    v => return err(format!("--checksum: expected on or off, got '{v}'")),
                }
            }
            "--verify" => {
                c.verify = match value()?.as_str() {
                    "sha256" => Verify::Sha256,
                    "none" => Verify::None,
                    v => return err(format!("--verify: expected sha256 or none, got '{v}'")),
                }
            }
            "--json" => c.json = true,
            "--abort-after" => c.abort_after = Some(parse_size(&value()?)?),
            "--stats-period" => c.stats_period = Some(parse_seconds("--stats-period", &value()?)?),
            "--duration" => c.duration = Some(parse_seconds("--duration", &value()?)?),
            "-i" | "--interactive" => c.interactive = true,
            other => return err(format!("unknown option '{other}'")),
        }
    }
    if c.mode == Some(Mode::Source) && c.bytes.is_none() {
        return err("--mode source needs --bytes");
    }
    if !c.embedded && c.role.is_none() && !c.interactive {
        return err("give --listen PORT or --connect IP:PORT (or -i)");
    }
    for e in &c.endpoints {
        if let Some(d) = e.dev {
            if !c.port_addrs.iter().any(|p| p.port == d) {
                return err(format!("--endpoint {}: dev={d} has no --port-addr", e.addr));
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        std::iter::once("mpdk")
            .chain(s.split_whitespace())
            .map(String::from)
            .collect()
    }

    #[test]
    fn eal_and_app_split() {
        let c = parse(&args(
            "--no-huge -m 1024 --vdev=net_memif0 -- --port-addr 0=10.0.1.1/24 --listen 5201 --mode sink --json",
        ))
        .unwrap();
        assert_eq!(c.eal_args, args("--no-huge -m 1024 --vdev=net_memif0"));
        assert!(!c.embedded);
        assert_eq!(
            c.port_addrs,
            vec![PortAddr {
                port: 0,
                addr: Ipv4Addr::new(10, 0, 1, 1),
                prefix_len: 24
            }]
        );
        assert_eq!(c.role, Some(Role::Listen(5201)));
        assert_eq!(c.mode, Some(Mode::Sink));
        assert!(c.json);
        assert_eq!(c.proto, Proto::Mptcp);
        assert_eq!(
            c.limits,
            Limits {
                subflows: 2,
                add_addr_accepted: 0
            }
        );
    }

    #[test]
    fn embedded_demo_without_dashdash() {
        let c = parse(&args("--duration 5 --json")).unwrap();
        assert!(c.embedded);
        assert_eq!(c.duration, Some(Duration::from_secs(5)));
        assert_eq!(c.eal_args, args(""));
    }

    #[test]
    fn endpoints_and_limits_like_ip_mptcp() {
        let c = parse(&args(
            "-- --port-addr 0=10.0.1.1/24 --port-addr 1=10.0.2.1/24 --connect 10.0.1.2:5201 --mode source --bytes 1G \
             --endpoint 10.0.2.1,subflow,backup,dev=1 --endpoint 10.0.3.1,signal,port=7000 --limits subflows=4,add_addr_accepted=1 \
             --checksum on --verify none --proto tcp --count 3 --stats-period 0.5",
        ))
        .unwrap();
        assert_eq!(c.bytes, Some(1 << 30));
        assert_eq!(
            c.endpoints[0],
            EndpointArg {
                addr: Ipv4Addr::new(10, 0, 2, 1),
                subflow: true,
                signal: false,
                backup: true,
                port: None,
                dev: Some(1)
            }
        );
        assert_eq!(c.endpoints[1].port, Some(7000));
        assert!(c.endpoints[1].signal);
        assert_eq!(
            c.limits,
            Limits {
                subflows: 4,
                add_addr_accepted: 1
            }
        );
        assert!(c.checksum);
        assert_eq!(c.verify, Verify::None);
        assert_eq!(c.proto, Proto::Tcp);
        assert_eq!(c.count, 3);
        assert_eq!(c.stats_period, Some(Duration::from_millis(500)));
        let g = parse(&args("-- --listen 1 --gateway 1=10.0.2.254")).unwrap();
        assert_eq!(g.gateways, vec![(1, Ipv4Addr::new(10, 0, 2, 254))]);
    }

    #[test]
    fn abort_after_takes_a_size() {
        let c = parse(&args(
            "-- --connect 10.0.1.1:5201 --mode sink --abort-after 1M",
        ))
        .unwrap();
        assert_eq!(c.abort_after, Some(1 << 20));
        assert!(parse(&args(
            "-- --connect 10.0.1.1:5201 --mode sink --abort-after x"
        ))
        .is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10").unwrap(), 10);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("3M").unwrap(), 3 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert!(parse_size("G").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }

    #[test]
    fn errors_are_one_line() {
        for (line, needle) in [
            (
                "-- --listen 1 --connect 1.2.3.4:5",
                "one of --listen and --connect",
            ),
            ("-- --listen", "--listen needs a value"),
            ("-- --listen 70000", "--listen: bad number"),
            ("-- --connect 1.2.3.4", "expected IP:PORT"),
            ("-- --listen 1 --proto sctp", "--proto"),
            ("-- --listen 1 --mode push", "--mode"),
            ("-- --listen 1 --mode source", "needs --bytes"),
            ("-- --listen 1 --limits subflows=9", "over the maximum 8"),
            ("-- --listen 1 --limits foo=1", "unknown limit"),
            (
                "-- --listen 1 --endpoint 1.2.3.4,fast",
                "unknown flag 'fast'",
            ),
            (
                "-- --listen 1 --endpoint 1.2.3.4,dev=1",
                "dev=1 has no --port-addr",
            ),
            ("-- --listen 1 --port-addr 0=1.2.3.4/33", "over 32"),
            (
                "-- --listen 1 --port-addr 0:1.2.3.4/24",
                "expected P=IP/LEN",
            ),
            ("-- --listen 1 --count 0", "at least 1"),
            ("-- --listen 1 --gateway 0:1.2.3.4", "expected P=IP"),
            ("-- --listen 1 --stats-period -1", "positive number"),
            ("-- --listen 1 --bogus", "unknown option '--bogus'"),
            ("--no-huge --", "give --listen PORT or --connect"),
        ] {
            let e = parse(&args(line)).unwrap_err();
            assert!(e.0.contains(needle), "{line}: {e}");
            assert!(!e.0.contains('\n'));
        }
    }
}
