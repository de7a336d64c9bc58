//! A packetdrill-style harness for one [`TcpSocket`] in virtual time.
//!
//! A script is a list of timed lines in (a subset of) packetdrill's syntax:
//!
//! ```text
//! 0     listen()
//! +0    < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
//! +0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 1000 ecr 100,nop,wscale 3>
//! +0.1  < . 1:1(0) ack 1 win 1000 <nop,nop,TS val 200 ecr 1000>
//! +0    write(1000) = 1000
//! +0    > P. 1:1001(1000) ack 1 <nop,nop,TS val * ecr 200>
//! +0.3  %{ assert tcpi_state == TCP_ESTABLISHED }%
//! ```
//!
//! * **Time.** `+dt` is relative to the previous line's time, a bare number is absolute
//!   (seconds since the script's start), `*` is "whenever", `a...b` a range (a `>`
//!   segment may leave anywhere in it; the next line's `+dt` counts from when it did).
//!   Timers of the socket run between lines in virtual time.
//! * **`<` lines** are injected into the socket (emitted and re-parsed through the wire
//!   codec). **`>` lines** must be the next segment the socket sends, sent at the
//!   line's time within [`Drill::tolerance`] (packetdrill's default is 4 ms). A segment
//!   the script does not expect, a late or early one, or a missing one fails the test
//!   with the script line, the segment actually seen and a trace of the run.
//! * **Segments**: flags `S F R P .` (ACK) `E W` (ECE, CWR); `start:end(len)`;
//!   `ack N`; `win N`; options `<mss N, sackOK, TS val N ecr N, nop, wscale N,
//!   sack a:b c:d, eol>`, or `<...>` to ignore the options. A `>` line without options
//!   expects none. `*` in `ack`, `win` or a TS field matches anything.
//! * **Numbers are relative** as in packetdrill: our sequence numbers to our ISN, the
//!   peer's to its ISN (so `S 0:0(0)` is the peer's SYN and its data starts at 1). SACK
//!   blocks are in the acknowledged side's space. TS values are absolute; our TS clock
//!   reads `1000 + milliseconds since the script's start` by default.
//! * **Payload** bytes are a fixed pattern of the stream offset in both directions,
//!   so `read` and the data of every `>` segment are checked byte for byte.
//! * **Calls**: `listen()`, `connect()`, `write(N) [= M]`, `read(N) [= M | = -1 ERRNO]`,
//!   `shutdown()` (send FIN, keep receiving), `close()` (FIN and release: FIN_WAIT_2 is
//!   bounded), `abort()`; packetdrill's `socket`, `bind`, `accept`, `fcntl` and
//!   `setsockopt` lines are accepted (`TCP_NODELAY` turns Nagle off), so real
//!   packetdrill argument lists work (`write(4, ..., 1000) = 1000`).
//! * **Assertions**: `%{ assert tcpi_state == TCP_ESTABLISHED }%` in packetdrill's
//!   Python-block syntax; `;` separates several. Variables: `tcpi_state`, `tcpi_rto`
//!   and `tcpi_srtt` (µs), `tcpi_backoff`, `tcpi_snd_mss`, `tcpi_snd_cwnd` and
//!   `tcpi_snd_ssthresh` (segments), `tcpi_snd_cwnd_bytes`, `tcpi_snd_ssthresh_bytes`,
//!   `tcpi_pipe` (RFC 6675 pipe, bytes), `tcpi_unacked` (SND.NXT - SND.UNA, bytes),
//!   `tcpi_error` (`ECONNRESET`, `ECONNREFUSED`, `ETIMEDOUT` or `none`). `%{ }%` is a
//!   no-op line that lets time pass while nothing must be sent.
//!
//! Rust code can interleave with scripts: [`Drill::run`] can be called several times
//! (time continues); [`Drill::with`] runs a closure on the socket at the current time
//! (its output is checked by the next script), [`Drill::sock`] inspects it.

#![allow(dead_code)]

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;
use std::collections::VecDeque;
use std::fmt::Write as _;

use dataplane::seq::SubflowSeq;
use dataplane::tcp::congestion::CongestionControl;
use dataplane::tcp::socket::{TcpError, TcpSocket};
use dataplane::tcp::{Instant, TcpConfig};
use dataplane::wire::mptcp::Version;
use dataplane::wire::tcp::{TcpFlags, TcpPacket, TcpRepr, TcpTimestamp};

const LOCAL_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1));
const REMOTE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// The byte at `offset` of either stream.
pub fn pattern_byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// A number in a script: exact, or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Exact(u32),
    Any,
}

impl Num {
    fn matches(self, v: u32) -> bool {
        match self {
            Num::Exact(x) => x == v,
            Num::Any => true,
        }
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Exact(x) => write!(f, "{x}"),
            Num::Any => f.write_str("*"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Opt {
    Mss(Num),
    SackOk,
    Ts { val: Num, ecr: Num },
    Wscale(Num),
    Sack(Vec<(u32, u32)>),
}

#[derive(Debug, Clone)]
struct SegSpec {
    flags: TcpFlags,
    start: u32,
    len: u32,
    ack: Option<Num>,
    win: Option<Num>,
    /// `None`: `<...>`, options not checked.
    options: Option<Vec<Opt>>,
}

#[derive(Debug, Clone)]
enum Call {
    Listen,
    Connect,
    Write(usize, Option<i64>),
    Read(usize, Option<Ret>),
    Shutdown,
    Close,
    Abort,
    NoDelay,
    Ignored,
    Assert(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ret {
    Value(i64),
    Errno(String),
}

#[derive(Debug, Clone)]
enum Event {
    Inbound(SegSpec),
    Outbound(SegSpec),
    Call(Call),
}

#[derive(Debug, Clone, Copy)]
enum When {
    Rel(Duration),
    Abs(Duration),
    Any,
}

#[derive(Debug, Clone)]
struct Line {
    no: usize,
    text: String,
    when: When,
    /// The end of a `a...b` time range.
    until: Option<When>,
    event: Event,
}

/// One socket under test, the script's clock and what the socket sent.
pub struct Drill {
    sock: TcpSocket,
    /// Virtual time of the script's start.
    t0: Instant,
    now: Instant,
    /// The previous line's scripted time (relative times add to it).
    script_time: Instant,
    /// Our ISN.
    pub local_isn: SubflowSeq,
    /// The peer's ISN: script sequence numbers of `<` lines are relative to it.
    pub remote_isn: SubflowSeq,
    pub local_port: u16,
    pub remote_port: u16,
    /// How far from its scripted time a `>` segment may leave (packetdrill: 4 ms).
    pub tolerance: Duration,
    /// Segments sent and not yet matched, with their send time.
    out: VecDeque<(Instant, Vec<u8>)>,
    /// Bytes written by `write` so far (our stream offset). Rust code that sends data
    /// itself sends `pattern_byte(written..)` and adds what the socket took.
    pub written: usize,
    /// Bytes read by `read` so far (the peer's stream offset); likewise for Rust reads.
    pub read: usize,
    trace: Vec<String>,
    scratch: Vec<u8>,
}

type Res<T> = Result<T, String>;

impl Drill {
    /// A socket with `cfg`, our ISN near the 32-bit wrap and a TS clock reading 1000 at
    /// the script's start.
    pub fn new(cfg: TcpConfig) -> Drill {
        Drill::with_isn(cfg, SubflowSeq(0xffff_f000))
    }

    /// Like [`Drill::new`] with our ISN chosen.
    pub fn with_isn(cfg: TcpConfig, isn: SubflowSeq) -> Drill {
        // The script starts at 1 s of virtual time; a TS clock of 1 ms per tick with an
        // offset of 0 would read 1000 there.
        let t0 = Instant::from_secs(1);
        let sock = TcpSocket::new(cfg, isn, 0).expect("valid TcpConfig");
        Drill {
            sock,
            t0,
            now: t0,
            script_time: t0,
            local_isn: isn,
            remote_isn: SubflowSeq(0x7fff_ff00),
            local_port: 8080,
            remote_port: 40000,
            tolerance: Duration::from_millis(4),
            out: VecDeque::new(),
            written: 0,
            read: 0,
            trace: Vec::new(),
            scratch: vec![0u8; 65536],
        }
    }

    /// The socket under test.
    pub fn sock(&self) -> &TcpSocket {
        &self.sock
    }

    /// The socket under test, to drive it from Rust between scripts.
    pub fn sock_mut(&mut self) -> &mut TcpSocket {
        &mut self.sock
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Script time of `now` (seconds since the start).
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.t0)
    }

    /// Runs a script; panics with a report on the first failure.
    pub fn run(&mut self, script: &str) {
        if let Err(e) = self.try_run(script) {
            panic!("{e}");
        }
    }

    /// Runs a script; the error is the failure report.
    pub fn try_run(&mut self, script: &str) -> Res<()> {
        let lines = parse_script(script)?;
        for line in &lines {
            self.step(line).map_err(|e| self.report(line, &e))?;
        }
        // Everything the socket sent must have been expected.
        if let Some((t, bytes)) = self.out.front() {
            let msg = format!(
                "socket sent a segment the script does not expect at {}: {}",
                self.fmt_time(*t),
                self.render_out(bytes)
            );
            return Err(self.report_end(&msg));
        }
        Ok(())
    }

    fn report(&self, line: &Line, msg: &str) -> String {
        format!(
            "drill failed at script line {}: `{}`\n  {}\n  state {}, now {}\ntrace (most recent last):\n{}",
            line.no,
            line.text,
            msg,
            self.sock.state(),
            self.fmt_time(self.now),
            self.trace_tail()
        )
    }

    fn report_end(&self, msg: &str) -> String {
        format!(
            "drill failed at the end of the script:\n  {}\n  state {}, now {}\ntrace (most recent last):\n{}",
            msg,
            self.sock.state(),
            self.fmt_time(self.now),
            self.trace_tail()
        )
    }

    fn trace_tail(&self) -> String {
        let from = self.trace.len().saturating_sub(40);
        self.trace[from..].join("\n")
    }

    fn fmt_time(&self, t: Instant) -> String {
        let d = t.saturating_duration_since(self.t0);
        format!("{}.{:06}", d.as_secs(), d.subsec_micros())
    }

    fn resolve(&self, when: When) -> Instant {
        match when {
            When::Rel(d) => self.script_time + d,
            When::Abs(d) => self.t0 + d,
            When::Any => self.script_time.max(self.now),
        }
    }

    /// Runs `f` on the socket at the current time (a Rust "closure line"); what the
    /// socket then sends must be expected by the next script.
    pub fn with<R>(&mut self, f: impl FnOnce(&mut TcpSocket, Instant) -> R) -> R {
        let now = self.now;
        let r = f(&mut self.sock, now);
        self.trace
            .push(format!("{}   <rust closure>", self.fmt_time(now)));
        self.settle();
        r
    }

    fn step(&mut self, line: &Line) -> Res<()> {
        // Whatever Rust code did to the socket since the last line.
        self.drain();
        let target = self.resolve(line.when);
        // `a...b`: a `>` segment may leave anywhere in [a, b].
        let until = line.until.map(|u| self.resolve(u));
        let mut next_time = target;
        match &line.event {
            Event::Outbound(spec) => {
                let (t, bytes) = self.next_outbound(until.unwrap_or(target))?;
                let lo = target.checked_sub(self.tolerance).unwrap_or(Instant::ZERO);
                if until.is_some() {
                    next_time = t;
                }
                let in_time = matches!(line.when, When::Any) || t >= lo;
                if !in_time {
                    return Err(format!(
                        "segment sent at {}, expected at {}{} (+/- {:?}): {}",
                        self.fmt_time(t),
                        self.fmt_time(target),
                        until.map_or(String::new(), |u| format!("...{}", self.fmt_time(u))),
                        self.tolerance,
                        self.render_out(&bytes)
                    ));
                }
                self.check_outbound(spec, &bytes)?;
                self.trace.push(format!(
                    "{} > {}   (line {})",
                    self.fmt_time(t),
                    self.render_out(&bytes),
                    line.no
                ));
            }
            Event::Inbound(spec) => {
                self.advance_to(target)?;
                let bytes = self.build_inbound(spec);
                self.trace
                    .push(format!("{} {}", self.fmt_time(self.now), line_event(line)));
                let p = TcpPacket::new_checked(&bytes[..]).map_err(|e| format!("{e:?}"))?;
                let r = TcpRepr::parse(&p, REMOTE_IP, LOCAL_IP, true, Version::V1)
                    .map_err(|e| format!("inbound does not parse: {e:?}"))?;
                self.sock.handle_segment(self.now, &r);
                self.settle();
            }
            Event::Call(call) => {
                self.advance_to(target)?;
                self.trace.push(format!(
                    "{}   {}",
                    self.fmt_time(self.now),
                    line_event(line)
                ));
                self.call(call)?;
                self.settle();
            }
        }
        self.script_time = next_time;
        Ok(())
    }

    /// Fires the timers due before `target`, then moves the clock there. Anything sent
    /// on the way is unexpected (the next line is not a `>`).
    fn advance_to(&mut self, target: Instant) -> Res<()> {
        self.check_no_output()?;
        for _ in 0..100_000 {
            match self.sock.poll_timeout() {
                Some(t) if t < target => {
                    self.now = self.now.max(t);
                    self.sock.handle_timeout(self.now);
                    self.drain();
                    self.check_no_output()?;
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
        Ok(())
    }

    fn check_no_output(&self) -> Res<()> {
        match self.out.front() {
            Some((t, bytes)) => Err(format!(
                "socket sent a segment the script does not expect at {}: {}",
                self.fmt_time(*t),
                self.render_out(bytes)
            )),
            None => Ok(()),
        }
    }

    /// After an input: timers due now, then everything the socket wants to send.
    fn settle(&mut self) {
        self.sock.handle_timeout(self.now);
        self.drain();
    }

    fn drain(&mut self) {
        for _ in 0..10_000 {
            let now = self.now;
            let Some(r) = self.sock.poll_transmit(now, &mut self.scratch) else {
                break;
            };
            let mut r = r;
            r.fit_option_space();
            let mut buf = vec![0u8; r.buffer_len()];
            let mut p = TcpPacket::new_unchecked(&mut buf[..]);
            r.emit(&mut p, LOCAL_IP, REMOTE_IP, true)
                .expect("the socket's segment emits");
            self.out.push_back((now, buf));
        }
    }

    /// The next segment the socket sends, running timers up to `target + tolerance`.
    fn next_outbound(&mut self, target: Instant) -> Res<(Instant, Vec<u8>)> {
        let hi = target + self.tolerance;
        for _ in 0..100_000 {
            if let Some(o) = self.out.pop_front() {
                return Ok(o);
            }
            match self.sock.poll_timeout() {
                Some(t) if t <= hi => {
                    self.now = self.now.max(t);
                    self.sock.handle_timeout(self.now);
                    self.drain();
                }
                next => {
                    return Err(format!(
                        "expected a segment at {}, none sent by {} (next timer: {})",
                        self.fmt_time(target),
                        self.fmt_time(hi),
                        next.map_or("none".to_string(), |t| self.fmt_time(t))
                    ));
                }
            }
        }
        Err("timer loop does not terminate".into())
    }

    fn build_inbound(&self, s: &SegSpec) -> Vec<u8> {
        let seq = self.remote_isn + s.start as usize;
        // Stream offset of the first payload byte: data starts at relative 1.
        let off = (s.start as usize).wrapping_sub(1);
        let payload: Vec<u8> = (0..s.len as usize)
            .map(|i| pattern_byte(off.wrapping_add(i)))
            .collect();
        let mut r = TcpRepr {
            src_port: self.remote_port,
            dst_port: self.local_port,
            flags: s.flags & !TcpFlags::ACK,
            seq_number: seq,
            ack_number: if s.flags.contains(TcpFlags::ACK) {
                let a = match s.ack {
                    Some(Num::Exact(a)) => a,
                    _ => 0,
                };
                Some(self.local_isn + a as usize)
            } else {
                None
            },
            window_len: match s.win {
                Some(Num::Exact(w)) => w as u16,
                _ => 65535,
            },
            payload: &payload,
            ..TcpRepr::default()
        };
        for o in s.options.iter().flatten() {
            match o {
                Opt::Mss(Num::Exact(m)) => r.max_seg_size = Some(*m as u16),
                Opt::SackOk => r.sack_permitted = true,
                Opt::Ts { val, ecr } => {
                    let v = |n: &Num| match n {
                        Num::Exact(x) => *x,
                        Num::Any => 0,
                    };
                    r.timestamp = Some(TcpTimestamp {
                        tsval: v(val),
                        tsecr: v(ecr),
                    })
                }
                Opt::Wscale(Num::Exact(w)) => r.window_scale = Some(*w as u8),
                Opt::Sack(blocks) => {
                    for (slot, (a, b)) in r.sack_ranges.iter_mut().zip(blocks) {
                        *slot = Some((self.local_isn + *a as usize, self.local_isn + *b as usize));
                    }
                }
                _ => {}
            }
        }
        let mut buf = vec![0u8; r.buffer_len()];
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        r.emit(&mut p, REMOTE_IP, LOCAL_IP, true)
            .expect("inbound segment emits");
        buf
    }

    fn parse_out<'a>(&self, bytes: &'a [u8]) -> TcpRepr<'a> {
        let p = TcpPacket::new_checked(bytes).expect("socket segment is well formed");
        TcpRepr::parse(&p, LOCAL_IP, REMOTE_IP, true, Version::V1)
            .expect("socket segment parses with a good checksum")
    }

    /// A sent segment in script notation (relative numbers).
    fn render_out(&self, bytes: &[u8]) -> String {
        let r = self.parse_out(bytes);
        let start = r.seq_number.0.wrapping_sub(self.local_isn.0);
        let len = r.payload.len() as u32;
        let mut s = format!(
            "{} {}:{}({})",
            flag_letters(r.flags),
            start as i32,
            start.wrapping_add(len) as i32,
            len
        );
        if let Some(a) = r.ack_number {
            let _ = write!(s, " ack {}", a.0.wrapping_sub(self.remote_isn.0) as i32);
        }
        let _ = write!(s, " win {}", r.window_len);
        let mut opts = Vec::new();
        if let Some(m) = r.max_seg_size {
            opts.push(format!("mss {m}"));
        }
        if r.sack_permitted {
            opts.push("sackOK".into());
        }
        if let Some(ts) = r.timestamp {
            opts.push(format!("TS val {} ecr {}", ts.tsval, ts.tsecr));
        }
        if let Some(w) = r.window_scale {
            opts.push(format!("wscale {w}"));
        }
        if r.sack_blocks() > 0 {
            let b: Vec<String> = r
                .sack_ranges
                .iter()
                .flatten()
                .map(|(a, b)| {
                    format!(
                        "{}:{}",
                        a.0.wrapping_sub(self.remote_isn.0) as i32,
                        b.0.wrapping_sub(self.remote_isn.0) as i32
                    )
                })
                .collect();
            opts.push(format!("sack {}", b.join(" ")));
        }
        if !opts.is_empty() {
            let _ = write!(s, " <{}>", opts.join(","));
        }
        s
    }

    fn check_outbound(&self, spec: &SegSpec, bytes: &[u8]) -> Res<()> {
        let r = self.parse_out(bytes);
        let seen = self.render_out(bytes);
        let mut errs = Vec::new();
        let flags = r.flags;
        if flags != spec.flags {
            errs.push(format!(
                "flags {} (want {})",
                flag_letters(flags),
                flag_letters(spec.flags)
            ));
        }
        let start = r.seq_number.0.wrapping_sub(self.local_isn.0);
        if start != spec.start {
            errs.push(format!("seq {} (want {})", start as i32, spec.start as i32));
        }
        if r.payload.len() as u32 != spec.len {
            errs.push(format!("len {} (want {})", r.payload.len(), spec.len));
        } else {
            let off = (start as usize).wrapping_sub(1);
            if let Some(i) = r
                .payload
                .iter()
                .enumerate()
                .position(|(i, b)| *b != pattern_byte(off.wrapping_add(i)))
            {
                errs.push(format!("payload differs from what was written at byte {i}"));
            }
        }
        match (spec.ack, r.ack_number) {
            (Some(want), Some(a)) => {
                let rel = a.0.wrapping_sub(self.remote_isn.0);
                if !want.matches(rel) {
                    errs.push(format!("ack {} (want {})", rel as i32, want));
                }
            }
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {} // reported by the flags
        }
        if let Some(w) = spec.win {
            if !w.matches(u32::from(r.window_len)) {
                errs.push(format!("win {} (want {})", r.window_len, w));
            }
        }
        if let Some(opts) = &spec.options {
            self.check_options(opts, &r, &mut errs);
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "segment does not match: {}\n  seen: {}",
                errs.join(", "),
                seen
            ))
        }
    }

    fn check_options(&self, opts: &[Opt], r: &TcpRepr<'_>, errs: &mut Vec<String>) {
        let mut want_mss = None;
        let mut want_sackok = false;
        let mut want_ts = None;
        let mut want_ws = None;
        let mut want_sack: Vec<(u32, u32)> = Vec::new();
        for o in opts {
            match o {
                Opt::Mss(n) => want_mss = Some(*n),
                Opt::SackOk => want_sackok = true,
                Opt::Ts { val, ecr } => want_ts = Some((*val, *ecr)),
                Opt::Wscale(n) => want_ws = Some(*n),
                Opt::Sack(b) => want_sack = b.clone(),
            }
        }
        match (want_mss, r.max_seg_size) {
            (None, None) => {}
            (Some(w), Some(m)) if w.matches(u32::from(m)) => {}
            (w, m) => errs.push(format!("mss option {m:?} (want {w:?})")),
        }
        if want_sackok != r.sack_permitted {
            errs.push(format!(
                "sackOK {} (want {})",
                r.sack_permitted, want_sackok
            ));
        }
        match (want_ts, r.timestamp) {
            (None, None) => {}
            (Some((v, e)), Some(ts)) => {
                if !v.matches(ts.tsval) {
                    errs.push(format!("TS val {} (want {})", ts.tsval, v));
                }
                if !e.matches(ts.tsecr) {
                    errs.push(format!("TS ecr {} (want {})", ts.tsecr, e));
                }
            }
            (w, t) => errs.push(format!("timestamps {t:?} (want {w:?})")),
        }
        match (want_ws, r.window_scale) {
            (None, None) => {}
            (Some(w), Some(s)) if w.matches(u32::from(s)) => {}
            (w, s) => errs.push(format!("wscale {s:?} (want {w:?})")),
        }
        let got: Vec<(u32, u32)> = r
            .sack_ranges
            .iter()
            .flatten()
            .map(|(a, b)| {
                (
                    a.0.wrapping_sub(self.remote_isn.0),
                    b.0.wrapping_sub(self.remote_isn.0),
                )
            })
            .collect();
        if got != want_sack {
            errs.push(format!("sack blocks {got:?} (want {want_sack:?})"));
        }
    }

    fn call(&mut self, call: &Call) -> Res<()> {
        match call {
            Call::Listen => self
                .sock
                .listen(self.local_port)
                .map_err(|e| format!("listen: {e}")),
            Call::Connect => self
                .sock
                .connect(self.now, self.local_port, self.remote_port)
                .map_err(|e| format!("connect: {e}")),
            Call::Write(n, want) => {
                let data: Vec<u8> = (0..*n).map(|i| pattern_byte(self.written + i)).collect();
                let got = self.sock.send(&data);
                self.written += got;
                match want {
                    Some(w) if *w != got as i64 => {
                        Err(format!("write returned {got}, script expects {w}"))
                    }
                    _ => Ok(()),
                }
            }
            Call::Read(n, want) => {
                let mut buf = vec![0u8; *n];
                let got = self.sock.recv(&mut buf);
                if let Some(i) = buf[..got]
                    .iter()
                    .enumerate()
                    .position(|(i, b)| *b != pattern_byte(self.read + i))
                {
                    return Err(format!(
                        "read data differs from what the peer sent at stream offset {}",
                        self.read + i
                    ));
                }
                self.read += got;
                let actual = if got == 0 {
                    match self.sock.error() {
                        Some(e) => Ret::Errno(errno(e).into()),
                        None if self.sock.recv_finished() => Ret::Value(0),
                        None => Ret::Errno("EAGAIN".into()),
                    }
                } else {
                    Ret::Value(got as i64)
                };
                match want {
                    Some(w) if *w != actual => {
                        Err(format!("read returned {actual:?}, script expects {w:?}"))
                    }
                    _ => Ok(()),
                }
            }
            Call::Shutdown => {
                self.sock.close();
                Ok(())
            }
            Call::Close => {
                let now = self.now;
                self.sock.release(now);
                Ok(())
            }
            Call::Abort => {
                self.sock.abort();
                Ok(())
            }
            Call::NoDelay => {
                self.sock.set_nagle(false);
                Ok(())
            }
            Call::Ignored => Ok(()),
            Call::Assert(checks) => {
                for (name, want) in checks {
                    let got = self.tcpi(name)?;
                    if &got != want {
                        return Err(format!("assert {name} == {want} failed: it is {got}"));
                    }
                }
                Ok(())
            }
        }
    }

    fn tcpi(&self, name: &str) -> Res<String> {
        let s = &self.sock;
        Ok(match name {
            "tcpi_state" => format!("TCP_{}", s.state()),
            "tcpi_rto" => s.rtt().rto().as_micros().to_string(),
            "tcpi_snd_cwnd" => (s.cwnd() / s.mss().max(1)).to_string(),
            "tcpi_snd_mss" => s.mss().to_string(),
            "tcpi_snd_ssthresh" => {
                let t = s.congestion().ssthresh();
                if t >= usize::MAX / 2 {
                    "infinite".into()
                } else {
                    (t / s.mss().max(1)).to_string()
                }
            }
            "tcpi_snd_ssthresh_bytes" => s.congestion().ssthresh().to_string(),
            "tcpi_snd_cwnd_bytes" => s.cwnd().to_string(),
            "tcpi_backoff" => s.rtt().backoff().to_string(),
            "tcpi_srtt" => s
                .rtt()
                .srtt()
                .map_or("none".into(), |d| d.as_micros().to_string()),
            "tcpi_error" => s.error().map_or("none".into(), |e| errno(e).to_string()),
            "tcpi_pipe" => s.in_flight().to_string(),
            "tcpi_unacked" => (s.snd_nxt() - s.snd_una()).to_string(),
            _ => return Err(format!("unknown assertion variable {name}")),
        })
    }
}

fn errno(e: TcpError) -> &'static str {
    match e {
        TcpError::Refused => "ECONNREFUSED",
        TcpError::Reset => "ECONNRESET",
        TcpError::TimedOut => "ETIMEDOUT",
        _ => "EIO",
    }
}

fn line_event(line: &Line) -> &str {
    let t = line.text.trim();
    t.split_once(char::is_whitespace)
        .map_or(t, |(_, r)| r.trim())
}

/// Flags in packetdrill's notation ("S.", "P.", "F.", "R", ...).
fn flag_letters(f: TcpFlags) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (TcpFlags::SYN, 'S'),
        (TcpFlags::FIN, 'F'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::URG, 'U'),
        (TcpFlags::ECE, 'E'),
        (TcpFlags::CWR, 'W'),
        (TcpFlags::ACK, '.'),
    ] {
        if f.contains(bit) {
            s.push(c);
        }
    }
    s
}

// ------------------------------------------------------------------ parsing

fn parse_script(script: &str) -> Res<Vec<Line>> {
    let mut lines = Vec::new();
    for (i, raw) in script.lines().enumerate() {
        let no = i + 1;
        let text = match raw.find("//") {
            Some(p) => &raw[..p],
            None => raw,
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let line = parse_line(no, text).map_err(|e| format!("script line {no}: `{text}`: {e}"))?;
        lines.push(line);
    }
    Ok(lines)
}

fn parse_line(no: usize, text: &str) -> Res<Line> {
    let (time, rest) = text
        .split_once(char::is_whitespace)
        .ok_or("a line is `<time> <event>`")?;
    let (when, until) = match time.split_once("...") {
        Some((a, b)) => (parse_time(a)?, Some(parse_time(b)?)),
        None => (parse_time(time)?, None),
    };
    let rest = rest.trim();
    let event = if let Some(s) = rest.strip_prefix('<') {
        Event::Inbound(parse_segment(s.trim())?)
    } else if let Some(s) = rest.strip_prefix('>') {
        Event::Outbound(parse_segment(s.trim())?)
    } else if let Some(s) = rest.strip_prefix("%{") {
        let body = s.strip_suffix("}%").ok_or("`%{` without `}%`")?;
        Event::Call(Call::Assert(parse_asserts(body)?))
    } else {
        Event::Call(parse_call(rest)?)
    };
    Ok(Line {
        no,
        text: text.to_string(),
        when,
        until,
        event,
    })
}

fn parse_time(t: &str) -> Res<When> {
    if t == "*" {
        return Ok(When::Any);
    }
    let (rel, num) = match t.strip_prefix('+') {
        Some(n) => (true, n),
        None => (false, t),
    };
    let secs: f64 = num.parse().map_err(|_| format!("bad time `{t}`"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("bad time `{t}`"));
    }
    let d = Duration::from_nanos((secs * 1e9).round() as u64);
    Ok(if rel { When::Rel(d) } else { When::Abs(d) })
}

fn parse_u32(s: &str) -> Res<u32> {
    let v: i64 = s.parse().map_err(|_| format!("bad number `{s}`"))?;
    Ok(v as u32)
}

fn parse_num(s: &str) -> Res<Num> {
    if s == "*" {
        Ok(Num::Any)
    } else {
        parse_u32(s).map(Num::Exact)
    }
}

fn parse_segment(s: &str) -> Res<SegSpec> {
    // Split off the options.
    let (head, opts) = match s.find('<') {
        Some(p) => {
            let o = s[p + 1..]
                .trim()
                .strip_suffix('>')
                .ok_or("options without closing `>`")?;
            (&s[..p], Some(o))
        }
        None => (s, None),
    };
    let mut words = head.split_whitespace();
    let fl = words.next().ok_or("missing flags")?;
    let mut flags = TcpFlags::empty();
    for c in fl.chars() {
        flags.insert(match c {
            'S' => TcpFlags::SYN,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            'U' => TcpFlags::URG,
            'E' => TcpFlags::ECE,
            'W' => TcpFlags::CWR,
            '.' => TcpFlags::ACK,
            _ => return Err(format!("bad flag `{c}`")),
        });
    }
    let range = words.next().ok_or("missing start:end(len)")?;
    let (se, len) = range
        .strip_suffix(')')
        .and_then(|r| r.split_once('('))
        .ok_or("expected start:end(len)")?;
    let (a, b) = se.split_once(':').ok_or("expected start:end(len)")?;
    let start = parse_u32(a)?;
    let end = parse_u32(b)?;
    let len = parse_u32(len)?;
    if end.wrapping_sub(start) != len {
        return Err(format!("end - start != len in `{range}`"));
    }
    let mut ack = None;
    let mut win = None;
    while let Some(w) = words.next() {
        let v = words.next().ok_or(format!("`{w}` needs a value"))?;
        match w {
            "ack" => ack = Some(parse_num(v)?),
            "win" => win = Some(parse_num(v)?),
            _ => return Err(format!("unknown field `{w}`")),
        }
    }
    if flags.contains(TcpFlags::ACK) != ack.is_some() {
        return Err("`.` (ACK) and `ack N` go together".into());
    }
    let options = match opts {
        None => Some(Vec::new()),
        Some(o) if o.trim() == "..." => None,
        Some(o) => Some(parse_options(o)?),
    };
    Ok(SegSpec {
        flags,
        start,
        len,
        ack,
        win,
        options,
    })
}

fn parse_options(s: &str) -> Res<Vec<Opt>> {
    let mut out = Vec::new();
    for o in s.split(',') {
        let w: Vec<&str> = o.split_whitespace().collect();
        match w.as_slice() {
            [] | ["nop"] | ["eol"] => {}
            ["mss", n] => out.push(Opt::Mss(parse_num(n)?)),
            ["sackOK"] => out.push(Opt::SackOk),
            ["wscale", n] => out.push(Opt::Wscale(parse_num(n)?)),
            ["TS", "val", v, "ecr", e] => out.push(Opt::Ts {
                val: parse_num(v)?,
                ecr: parse_num(e)?,
            }),
            ["sack", blocks @ ..] => {
                let mut b = Vec::new();
                for blk in blocks {
                    let (l, r) = blk.split_once(':').ok_or("sack blocks are l:r")?;
                    b.push((parse_u32(l)?, parse_u32(r)?));
                }
                out.push(Opt::Sack(b));
            }
            _ => return Err(format!("unknown option `{}`", o.trim())),
        }
    }
    Ok(out)
}

fn parse_asserts(body: &str) -> Res<Vec<(String, String)>> {
    let mut out = Vec::new();
    for stmt in body.split([';', '\n']) {
        let stmt = stmt.trim();
        if stmt.is_empty() {
            continue;
        }
        let stmt = stmt.strip_prefix("assert").ok_or("only `assert x == y`")?;
        let (a, b) = stmt.split_once("==").ok_or("only `assert x == y`")?;
        out.push((a.trim().to_string(), b.trim().to_string()));
    }
    Ok(out)
}

fn parse_call(s: &str) -> Res<Call> {
    let (name, rest) = s.split_once('(').ok_or("unknown event")?;
    // The `)` that closes the argument list (a return value may carry
    // "(Resource temporarily unavailable)" after it).
    let mut depth = 0usize;
    let close = rest
        .char_indices()
        .find(|&(_, c)| match c {
            '(' | '[' | '{' => {
                depth += 1;
                false
            }
            ')' | ']' | '}' if depth > 0 => {
                depth -= 1;
                false
            }
            ')' => true,
            _ => false,
        })
        .map(|(i, _)| i)
        .ok_or("missing `)`")?;
    let (args, ret) = (&rest[..close], &rest[close + 1..]);
    let args: Vec<&str> = args
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let ret = ret.trim();
    // packetdrill's errno text after the value: `= -1 EAGAIN (Resource ...)`.
    let ret = ret.split_once('(').map_or(ret, |(r, _)| r).trim();
    let ret = match ret.strip_prefix('=') {
        Some(r) => {
            let r = r.trim();
            let mut w = r.split_whitespace();
            let v = w.next().ok_or("missing return value")?;
            let v: i64 = v.parse().map_err(|_| format!("bad return value `{r}`"))?;
            if v < 0 {
                Some(Ret::Errno(w.next().unwrap_or("").to_string()))
            } else {
                Some(Ret::Value(v))
            }
        }
        None if ret.is_empty() => None,
        None => return Err(format!("unexpected `{ret}`")),
    };
    let last_num = || -> Res<usize> {
        args.last()
            .and_then(|a| a.parse::<usize>().ok())
            .ok_or_else(|| format!("{name} needs a byte count"))
    };
    Ok(match name.trim() {
        "listen" => Call::Listen,
        "connect" => Call::Connect,
        "write" | "send" => Call::Write(
            last_num()?,
            match ret {
                Some(Ret::Value(v)) => Some(v),
                Some(Ret::Errno(_)) => Some(-1),
                None => None,
            },
        ),
        "read" | "recv" => Call::Read(last_num()?, ret),
        "shutdown" => Call::Shutdown,
        "close" => Call::Close,
        "abort" => Call::Abort,
        "setsockopt" if args.contains(&"TCP_NODELAY") => Call::NoDelay,
        "socket" | "bind" | "accept" | "fcntl" | "setsockopt" | "getsockopt" => Call::Ignored,
        other => return Err(format!("unknown call `{other}`")),
    })
}

/// Common setup: a passive open finished at script time 0.1 with timestamps, SACK and
/// window scaling (peer wscale 7, ours 3), peer TS val 100/200, our TS clock 1000 + ms.
pub const PASSIVE_OPEN: &str = "
0    listen()
+0   < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0   > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 1000 ecr 100,nop,wscale 3>
+.1  < . 1:1(0) ack 1 win 1000 <nop,nop,TS val 200 ecr 1000>
";
