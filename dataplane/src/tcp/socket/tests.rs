//! Two sockets wired back to back through the wire codec (emit, then parse), in virtual
//! time, with segment filters to lose or reorder traffic.

use super::*;
use crate::wire::mptcp::Version;
use crate::wire::tcp::TcpPacket;
use core::net::{IpAddr, Ipv4Addr};
use std::collections::VecDeque;

const A_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn emit(r: &TcpRepr<'_>, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut r = *r;
    r.fit_option_space();
    let mut buf = vec![0u8; r.buffer_len()];
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    r.emit(&mut p, src, dst, true).expect("emit");
    buf
}

fn parse<'a>(bytes: &'a [u8], src: IpAddr, dst: IpAddr) -> TcpRepr<'a> {
    let p = TcpPacket::new_checked(bytes).expect("checked");
    TcpRepr::parse(&p, src, dst, true, Version::V1).expect("parse")
}

/// What a filter does with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Drop,
}

type Filter = Box<dyn FnMut(usize, &TcpRepr<'_>) -> Fate>;

/// One direction of the link: a fixed one-way delay.
struct Link {
    queue: VecDeque<(Instant, Vec<u8>)>,
    filter: Option<Filter>,
    count: usize,
    log: Vec<String>,
}

impl Link {
    fn new() -> Self {
        Link {
            queue: VecDeque::new(),
            filter: None,
            count: 0,
            log: vec![],
        }
    }
}

struct Pair {
    a: TcpSocket,
    b: TcpSocket,
    now: Instant,
    delay: Duration,
    ab: Link,
    ba: Link,
}

fn describe(r: &TcpRepr<'_>) -> String {
    format!(
        "{} seq={} ack={:?} len={} win={} sack={:?}",
        r.flags.letters().as_str(),
        r.seq_number.0,
        r.ack_number.map(|a| a.0),
        r.payload.len(),
        r.window_len,
        r.sack_ranges
            .iter()
            .flatten()
            .map(|(l, r)| (l.0, r.0))
            .collect::<Vec<_>>()
    )
}

impl Pair {
    fn new(ca: TcpConfig, cb: TcpConfig) -> Pair {
        Pair {
            a: TcpSocket::new(ca, SubflowSeq(1_000), 77).unwrap(),
            b: TcpSocket::new(cb, SubflowSeq(u32::MAX - 5_000), 99).unwrap(),
            now: Instant::from_millis(1),
            delay: ms(5),
            ab: Link::new(),
            ba: Link::new(),
        }
    }

    fn default_pair() -> Pair {
        Pair::new(TcpConfig::default(), TcpConfig::default())
    }

    fn connected(ca: TcpConfig, cb: TcpConfig) -> Pair {
        let mut p = Pair::new(ca, cb);
        p.b.listen(80).unwrap();
        p.a.connect(p.now, 4000, 80).unwrap();
        p.run_until(ms(1000), |p| {
            p.a.state() == State::Established && p.b.state() == State::Established
        });
        assert_eq!(p.a.state(), State::Established);
        assert_eq!(p.b.state(), State::Established);
        p
    }

    /// Moves everything the sockets want to send onto the links.
    fn flush(&mut self) {
        let mut scratch = vec![0u8; 65536];
        for (sock, link, src, dst) in [
            (&mut self.a, &mut self.ab, A_IP, B_IP),
            (&mut self.b, &mut self.ba, B_IP, A_IP),
        ] {
            for _ in 0..10_000 {
                let Some(r) = sock.poll_transmit(self.now, &mut scratch) else {
                    break;
                };
                let idx = link.count;
                link.count += 1;
                let fate = match link.filter.as_mut() {
                    Some(f) => f(idx, &r),
                    None => Fate::Deliver,
                };
                link.log
                    .push(format!("{:?} {} {}", fate, self.now, describe(&r)));
                if fate == Fate::Deliver {
                    let bytes = emit(&r, src, dst);
                    link.queue.push_back((self.now + self.delay, bytes));
                }
            }
        }
    }

    /// Delivers what is due, runs timers, advances time by one step.
    fn step(&mut self, dt: Duration) {
        self.flush();
        for (link, sock, src, dst) in [
            (&mut self.ab, &mut self.b, A_IP, B_IP),
            (&mut self.ba, &mut self.a, B_IP, A_IP),
        ] {
            while link.queue.front().is_some_and(|(t, _)| *t <= self.now) {
                let (_, bytes) = link.queue.pop_front().unwrap();
                let r = parse(&bytes, src, dst);
                sock.handle_segment(self.now, &r);
            }
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.flush();
        self.now += dt;
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return;
            }
            self.step(MS);
        }
    }

    /// Sends `data` from a to b and reads it all at b; returns what b read.
    fn transfer(&mut self, data: &[u8], limit: Duration) -> Vec<u8> {
        let mut sent = 0;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 8192];
        let end = self.now + limit;
        while self.now < end && got.len() < data.len() {
            sent += self.a.send(&data[sent..]);
            loop {
                let n = self.b.recv(&mut buf);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            self.step(MS);
        }
        got
    }

    fn dump(&self) -> String {
        format!(
            "a->b:\n{}\nb->a:\n{}",
            self.ab.log.join("\n"),
            self.ba.log.join("\n")
        )
    }
}

fn same(got: &[u8], want: &[u8]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("length {} vs {}", got.len(), want.len()));
    }
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(i) => Err(format!("first difference at byte {i}")),
        None => Ok(()),
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn handshake_negotiates_options() {
    let p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    assert_eq!(p.a.negotiated(), (true, true, true));
    assert_eq!(p.b.negotiated(), (true, true, true));
    assert_eq!(p.a.mss(), 1460 - 12);
    assert_eq!(p.a.remote_port(), 80);
    assert_eq!(p.b.remote_port(), 4000);
    // One RTT sample from the handshake: 10 ms.
    assert_eq!(p.a.rtt().srtt(), Some(ms(10)));
    assert_eq!(p.a.cwnd(), 10 * 1448);
    assert!(p.a.poll_timeout().is_none(), "no timer once idle");
}

#[test]
fn handshake_without_options() {
    let plain = TcpConfig {
        sack: false,
        timestamps: false,
        window_scaling: false,
        mss: 1000,
        ..TcpConfig::default()
    };
    let p = Pair::connected(TcpConfig::default(), plain);
    assert_eq!(p.a.negotiated(), (false, false, false));
    assert_eq!(p.b.negotiated(), (false, false, false));
    assert_eq!(p.a.mss(), 1000);
    assert_eq!(p.b.mss(), 1000);
}

#[test]
fn bulk_transfer_is_exact() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    let data = pattern(1_000_000);
    let got = p.transfer(&data, Duration::from_secs(10));
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    // Slow start grew the window well beyond IW.
    assert!(p.a.cwnd() > 4 * 14480, "cwnd {}", p.a.cwnd());
    // Without RFC 3465's per-ACK limit, coalesced ACKs grow it faster (Linux-like).
    let fast = TcpConfig {
        abc_limit: None,
        ..TcpConfig::default()
    };
    let mut q = Pair::connected(fast.clone(), fast);
    let got = q.transfer(&data, Duration::from_secs(10));
    assert!(got == data);
    assert!(q.now < p.now, "unlimited ABC finishes sooner");
    p.run_until(ms(500), |p| p.a.send_queue() == 0);
    assert_eq!(p.a.send_queue(), 0);
}

#[test]
fn transfer_without_sack_timestamps_or_scaling() {
    let plain = TcpConfig {
        sack: false,
        timestamps: false,
        window_scaling: false,
        recv_buffer: 60_000,
        send_buffer: 60_000,
        ..TcpConfig::default()
    };
    let mut p = Pair::connected(plain.clone(), plain);
    let data = pattern(300_000);
    let got = p.transfer(&data, Duration::from_secs(20));
    assert!(got == data);
}

#[test]
fn orderly_close_and_time_wait() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    p.a.send(b"bye");
    p.a.close();
    assert_eq!(p.a.state(), State::FinWait1);
    p.run_until(ms(200), |p| {
        p.b.recv_finished() || p.b.can_recv() && p.b.state() == State::CloseWait
    });
    assert_eq!(p.b.state(), State::CloseWait);
    let mut buf = [0u8; 16];
    assert_eq!(p.b.recv(&mut buf), 3);
    assert_eq!(&buf[..3], b"bye");
    assert!(p.b.recv_finished());
    p.run_until(ms(100), |p| p.a.state() == State::FinWait2);
    assert_eq!(p.a.state(), State::FinWait2);
    p.b.close();
    assert_eq!(p.b.state(), State::LastAck);
    p.run_until(ms(100), |p| p.b.state() == State::Closed);
    assert_eq!(p.b.state(), State::Closed);
    assert_eq!(p.a.state(), State::TimeWait);
    assert_eq!(p.b.error(), None);
    // TIME_WAIT lasts its configured time.
    let deadline = p.a.poll_timeout().unwrap();
    assert!(deadline >= p.now + Duration::from_secs(59));
    p.now = deadline;
    p.a.handle_timeout(p.now);
    assert_eq!(p.a.state(), State::Closed);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    p.a.close();
    p.b.close();
    p.run_until(ms(100), |p| {
        p.a.state() == State::TimeWait && p.b.state() == State::TimeWait
    });
    assert_eq!(p.a.state(), State::TimeWait, "{}", p.dump());
    assert_eq!(p.b.state(), State::TimeWait);
    assert!(p
        .ab
        .log
        .iter()
        .chain(p.ba.log.iter())
        .all(|l| !l.contains('R')));
}

#[test]
fn fast_retransmit_with_sack_recovers_without_rto() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    // Lose the 20th data segment from a, once.
    let mut data_segs = 0;
    p.ab.filter = Some(Box::new(move |_, r| {
        if !r.payload.is_empty() {
            data_segs += 1;
            if data_segs == 20 {
                return Fate::Drop;
            }
        }
        Fate::Deliver
    }));
    let data = pattern(400_000);
    let got = p.transfer(&data, Duration::from_secs(10));
    if let Err(e) = same(&got, &data) {
        panic!("{e}\n{}", p.dump());
    }
    assert_eq!(p.a.rtt().backoff(), 0);
    // A loss reduced ssthresh: fast retransmit, not a timeout (cwnd never 1 MSS).
    assert!(p.a.congestion().ssthresh() < usize::MAX);
    assert!(
        p.ba.log.iter().any(|l| l.contains("sack=[(")),
        "receiver sent SACK blocks"
    );
}

#[test]
fn fast_retransmit_without_sack() {
    let plain = TcpConfig {
        sack: false,
        ..TcpConfig::default()
    };
    let mut p = Pair::connected(plain.clone(), plain);
    let mut data_segs = 0;
    p.ab.filter = Some(Box::new(move |_, r| {
        if !r.payload.is_empty() {
            data_segs += 1;
            if data_segs == 15 || data_segs == 17 {
                return Fate::Drop;
            }
        }
        Fate::Deliver
    }));
    let data = pattern(300_000);
    let got = p.transfer(&data, Duration::from_secs(10));
    assert!(got == data, "{}", p.dump());
    assert!(p.a.congestion().ssthresh() < usize::MAX);
}

#[test]
fn blackout_recovers_by_rto_with_backoff() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    let start = p.now;
    // Everything from a is lost for 1.5 s.
    p.ab.filter = Some(Box::new(move |_, r| {
        let _ = r;
        Fate::Deliver
    }));
    let blackout_end = start + Duration::from_millis(1500);
    let data = pattern(200_000);
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    let mut max_backoff = 0;
    while p.now < start + Duration::from_secs(30) && got.len() < data.len() {
        let blackout = p.now < blackout_end;
        p.ab.filter = Some(Box::new(
            move |_, _| if blackout { Fate::Drop } else { Fate::Deliver },
        ));
        sent += p.a.send(&data[sent..]);
        let n = p.b.recv(&mut buf);
        got.extend_from_slice(&buf[..n]);
        max_backoff = max_backoff.max(p.a.rtt().backoff());
        p.step(MS);
    }
    assert!(got == data);
    assert!(max_backoff >= 2, "RTO backed off: {max_backoff}");
    assert_eq!(p.a.error(), None);
}

#[test]
fn out_of_order_delivery_is_reassembled_and_sacked() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    p.a.set_nagle(false);
    // Hold back the first data segment by dropping it once; later ones arrive first.
    let mut first = true;
    p.ab.filter = Some(Box::new(move |_, r| {
        if !r.payload.is_empty() && first {
            first = false;
            return Fate::Drop;
        }
        Fate::Deliver
    }));
    let data = pattern(20_000);
    let got = p.transfer(&data, Duration::from_secs(5));
    assert!(got == data, "{}", p.dump());
    assert!(p.ba.log.iter().any(|l| l.contains("sack=[(")));
}

#[test]
fn zero_window_is_probed_and_reopens() {
    let small = TcpConfig {
        recv_buffer: 4096,
        window_scaling: false,
        ..TcpConfig::default()
    };
    let mut p = Pair::connected(TcpConfig::default(), small);
    let data = pattern(20_000);
    let mut sent = p.a.send(&data);
    // b does not read for 3 s: its window closes.
    p.run_until(Duration::from_secs(3), |_| false);
    assert!(p.ba.log.iter().any(|l| l.contains("win=0")), "{}", p.dump());
    // a probed the closed window (ACK-only segments below SND.UNA).
    let probes = p.ab.log.iter().filter(|l| l.contains("len=0")).count();
    assert!(probes >= 2, "{}", p.dump());
    assert_eq!(p.a.state(), State::Established);
    // Now b reads everything.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let end = p.now + Duration::from_secs(30);
    while p.now < end && got.len() < data.len() {
        sent += p.a.send(&data[sent..]);
        let n = p.b.recv(&mut buf);
        got.extend_from_slice(&buf[..n]);
        p.step(MS);
    }
    assert!(got == data, "{}", p.dump());
}

#[test]
fn rst_in_window_draws_challenge_ack_and_exact_rst_resets() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    let rcv_nxt = p.a.rcv_nxt();
    let mut scratch = [0u8; 64];
    let mut rst = TcpRepr {
        src_port: 80,
        dst_port: 4000,
        flags: TcpFlags::RST,
        seq_number: rcv_nxt + 100,
        ..TcpRepr::default()
    };
    p.a.handle_segment(p.now, &rst);
    assert_eq!(p.a.state(), State::Established);
    let ack =
        p.a.poll_transmit(p.now, &mut scratch)
            .expect("challenge ACK");
    assert_eq!(ack.ack_number, Some(rcv_nxt));
    assert!(!ack.flags.contains(TcpFlags::RST));
    // Out of window: ignored silently.
    rst.seq_number = rcv_nxt + 10_000_000;
    p.a.handle_segment(p.now, &rst);
    assert!(p.a.poll_transmit(p.now, &mut scratch).is_none());
    // Exact: reset.
    rst.seq_number = rcv_nxt;
    p.a.handle_segment(p.now, &rst);
    assert_eq!(p.a.state(), State::Closed);
    assert_eq!(p.a.error(), Some(TcpError::Reset));
}

#[test]
fn syn_in_established_draws_challenge_ack() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    let mut scratch = [0u8; 64];
    let syn = TcpRepr {
        src_port: 80,
        dst_port: 4000,
        flags: TcpFlags::SYN,
        seq_number: SubflowSeq(12345),
        ..TcpRepr::default()
    };
    p.a.handle_segment(p.now, &syn);
    assert_eq!(p.a.state(), State::Established);
    let ack =
        p.a.poll_transmit(p.now, &mut scratch)
            .expect("challenge ACK");
    assert_eq!(ack.ack_number, Some(p.a.rcv_nxt()));
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    let mut scratch = [0u8; 64];
    let rst = TcpRepr {
        src_port: 80,
        dst_port: 4000,
        flags: TcpFlags::RST,
        seq_number: p.a.rcv_nxt() + 1,
        ..TcpRepr::default()
    };
    let mut acks = 0;
    for _ in 0..500 {
        p.a.handle_segment(p.now, &rst);
        if p.a.poll_transmit(p.now, &mut scratch).is_some() {
            acks += 1;
        }
    }
    assert_eq!(acks, CHALLENGE_ACK_LIMIT);
}

#[test]
fn connect_to_closed_port_is_refused() {
    let mut p = Pair::default_pair();
    // b stays CLOSED and answers with RST.
    p.a.connect(p.now, 4000, 80).unwrap();
    p.run_until(ms(100), |p| p.a.state() == State::Closed);
    assert_eq!(p.a.state(), State::Closed);
    assert_eq!(p.a.error(), Some(TcpError::Refused));
}

#[test]
fn lost_syn_is_retransmitted() {
    let mut p = Pair::default_pair();
    p.ab.filter = Some(Box::new(
        |idx, _| if idx == 0 { Fate::Drop } else { Fate::Deliver },
    ));
    p.b.listen(80).unwrap();
    p.a.connect(p.now, 4000, 80).unwrap();
    p.run_until(Duration::from_secs(3), |p| {
        p.a.state() == State::Established
    });
    assert_eq!(p.a.state(), State::Established);
    // The SYN-ACK echoed the retransmitted SYN's timestamp: a valid sample.
    assert_eq!(p.a.rtt().srtt(), Some(ms(10)));
}

#[test]
fn lost_syn_without_timestamps_falls_back_to_3s_rto() {
    let plain = TcpConfig {
        timestamps: false,
        ..TcpConfig::default()
    };
    let mut p = Pair::new(plain.clone(), plain);
    p.ab.filter = Some(Box::new(
        |idx, _| if idx == 0 { Fate::Drop } else { Fate::Deliver },
    ));
    p.b.listen(80).unwrap();
    p.a.connect(p.now, 4000, 80).unwrap();
    p.run_until(Duration::from_secs(3), |p| {
        p.a.state() == State::Established
    });
    assert_eq!(p.a.state(), State::Established);
    // RFC 6298 §5.7 / Karn: no sample, RTO 3 s.
    assert_eq!(p.a.rtt().srtt(), None);
    assert_eq!(p.a.rtt().rto(), Duration::from_secs(3));
}

#[test]
fn connect_times_out_into_a_black_hole() {
    let cfg = TcpConfig {
        syn_retries: 2,
        ..TcpConfig::default()
    };
    let mut p = Pair::new(cfg, TcpConfig::default());
    p.ab.filter = Some(Box::new(|_, _| Fate::Drop));
    p.b.listen(80).unwrap();
    p.a.connect(p.now, 4000, 80).unwrap();
    p.run_until(Duration::from_secs(20), |p| p.a.state() == State::Closed);
    assert_eq!(p.a.error(), Some(TcpError::TimedOut));
    // 1 + 2 retransmissions.
    assert_eq!(p.ab.count, 3);
}

#[test]
fn paws_drops_old_timestamps() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    let mut scratch = [0u8; 64];
    let before = p.a.rcv_nxt();
    let seg = TcpRepr {
        src_port: 80,
        dst_port: 4000,
        flags: TcpFlags::PSH,
        seq_number: before,
        ack_number: Some(p.a.snd_nxt()),
        window_len: 1000,
        timestamp: Some(TcpTimestamp { tsval: 1, tsecr: 0 }),
        payload: b"old data",
        ..TcpRepr::default()
    };
    p.a.handle_segment(p.now, &seg);
    assert_eq!(p.a.rcv_nxt(), before, "PAWS rejected the segment");
    assert!(
        p.a.poll_transmit(p.now, &mut scratch).is_some(),
        "and ACKed it"
    );
}

#[test]
fn rst_reply_follows_rfc_9293() {
    let syn = TcpRepr {
        src_port: 1,
        dst_port: 2,
        flags: TcpFlags::SYN,
        seq_number: SubflowSeq(100),
        payload: b"abc",
        ..TcpRepr::default()
    };
    let r = rst_reply(&syn).unwrap();
    assert_eq!((r.src_port, r.dst_port), (2, 1));
    assert_eq!(r.seq_number, SubflowSeq(0));
    assert_eq!(r.ack_number, Some(SubflowSeq(104)));
    let ack = TcpRepr {
        ack_number: Some(SubflowSeq(555)),
        flags: TcpFlags::ACK,
        ..syn
    };
    let r = rst_reply(&ack).unwrap();
    assert_eq!(r.seq_number, SubflowSeq(555));
    assert_eq!(r.ack_number, None);
    let rst = TcpRepr {
        flags: TcpFlags::RST,
        ..syn
    };
    assert!(rst_reply(&rst).is_none());
}

#[test]
fn abort_sends_rst_and_peer_resets() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    p.a.abort();
    assert_eq!(p.a.state(), State::Closed);
    p.run_until(ms(50), |p| p.b.state() == State::Closed);
    assert_eq!(p.b.error(), Some(TcpError::Reset));
}

#[test]
fn api_state_errors() {
    let mut s = TcpSocket::new(TcpConfig::default(), SubflowSeq(1), 0).unwrap();
    assert_eq!(
        s.connect(Instant::ZERO, 0, 80),
        Err(SocketError::InvalidPort)
    );
    assert_eq!(s.listen(0), Err(SocketError::InvalidPort));
    s.listen(80).unwrap();
    assert_eq!(
        s.connect(Instant::ZERO, 1, 80),
        Err(SocketError::InvalidState)
    );
    assert_eq!(s.send(b"x"), 0, "no data before a connection");
    s.close();
    assert_eq!(s.state(), State::Closed);
    assert_eq!(State::Established.to_string(), "ESTABLISHED");
    assert!(TcpSocket::new(
        TcpConfig {
            mss: 1,
            ..TcpConfig::default()
        },
        SubflowSeq(1),
        0
    )
    .is_err());
}

#[test]
fn delayed_ack_acks_every_second_segment_or_after_timeout() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    // Exhaust the quick-ACK budget with a bulk transfer first.
    let data = pattern(100_000);
    let got = p.transfer(&data, Duration::from_secs(5));
    assert!(got == data);
    p.run_until(ms(500), |_| false);
    let before = p.ba.count;
    // One small segment: its ACK is delayed (40..200 ms), not immediate.
    p.a.send(b"x");
    p.step(MS);
    p.run_until(ms(30), |_| false);
    assert_eq!(p.ba.count, before, "{}", p.dump());
    p.run_until(ms(300), |p| p.ba.count > before);
    assert_eq!(p.ba.count, before + 1);
}

/// A tiny deterministic PRNG for loss patterns.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

fn lossy(seed: u64, per_mille: u64) -> Filter {
    let mut rng = XorShift(seed);
    Box::new(move |_, r| {
        // Never lose the handshake here; other tests cover that.
        if r.flags.contains(TcpFlags::SYN) {
            return Fate::Deliver;
        }
        if rng.chance(per_mille) {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    })
}

/// Both directions send at once over lossy links, then close; everything arrives.
fn lossy_bidirectional(cfg: TcpConfig, seed: u64, per_mille: u64) {
    let mut p = Pair::connected(cfg.clone(), cfg);
    p.ab.filter = Some(lossy(seed, per_mille));
    p.ba.filter = Some(lossy(seed ^ 0x5555, per_mille));
    let da = pattern(150_000);
    let db: Vec<u8> = pattern(120_000).into_iter().rev().collect();
    let (mut sa, mut sb) = (0, 0);
    let (mut ga, mut gb) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 4096];
    let end = p.now + Duration::from_secs(120);
    let mut closed = (false, false);
    while p.now < end && !(p.a.state() == State::TimeWait || p.a.state() == State::Closed)
        || !(p.b.state() == State::TimeWait || p.b.state() == State::Closed)
    {
        if p.now >= end {
            break;
        }
        sa += p.a.send(&da[sa..]);
        sb += p.b.send(&db[sb..]);
        if sa == da.len() && !closed.0 {
            p.a.close();
            closed.0 = true;
        }
        if sb == db.len() && !closed.1 {
            p.b.close();
            closed.1 = true;
        }
        loop {
            let n = p.b.recv(&mut buf);
            gb.extend_from_slice(&buf[..n]);
            let m = p.a.recv(&mut buf);
            ga.extend_from_slice(&buf[..m]);
            if n == 0 && m == 0 {
                break;
            }
        }
        p.step(MS);
    }
    if let Err(e) = same(&gb, &da) {
        std::fs::write("/tmp/lossy_dump.txt", p.dump()).ok();
        panic!(
            "a->b {e} (seed {seed}) states {} {}",
            p.a.state(),
            p.b.state()
        );
    }
    if let Err(e) = same(&ga, &db) {
        panic!(
            "b->a {e} (seed {seed}) states {} {}",
            p.a.state(),
            p.b.state()
        );
    }
    assert!(p.a.recv_finished() && p.b.recv_finished());
    assert_eq!(p.a.error(), None);
    assert_eq!(p.b.error(), None);
}

#[test]
fn lossy_links_with_sack() {
    for seed in 1..6 {
        lossy_bidirectional(TcpConfig::default(), seed, 20);
    }
}

#[test]
fn lossy_links_without_sack() {
    let cfg = TcpConfig {
        sack: false,
        ..TcpConfig::default()
    };
    for seed in 1..4 {
        lossy_bidirectional(cfg.clone(), seed * 7, 20);
    }
}

#[test]
fn lossy_links_reno_no_timestamps() {
    let cfg = TcpConfig {
        congestion: crate::tcp::CongestionAlgorithm::Reno,
        timestamps: false,
        ..TcpConfig::default()
    };
    for seed in 1..4 {
        lossy_bidirectional(cfg.clone(), seed * 13, 30);
    }
}

#[test]
fn heavy_loss_still_completes() {
    lossy_bidirectional(TcpConfig::default(), 42, 150);
}

#[test]
fn lost_fin_is_retransmitted() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    let mut dropped = false;
    p.ab.filter = Some(Box::new(move |_, r| {
        if r.flags.contains(TcpFlags::FIN) && !dropped {
            dropped = true;
            return Fate::Drop;
        }
        Fate::Deliver
    }));
    p.a.close();
    p.run_until(Duration::from_secs(3), |p| p.b.state() == State::CloseWait);
    assert_eq!(p.b.state(), State::CloseWait, "{}", p.dump());
    p.run_until(ms(100), |p| p.a.state() == State::FinWait2);
    assert_eq!(p.a.state(), State::FinWait2);
}

#[test]
fn retransmissions_exhausted_time_out() {
    let cfg = TcpConfig {
        max_retries: 3,
        ..TcpConfig::default()
    };
    let mut p = Pair::connected(cfg, TcpConfig::default());
    p.ab.filter = Some(Box::new(|_, _| Fate::Drop));
    p.a.send(b"into the void");
    p.run_until(Duration::from_secs(60), |p| p.a.state() == State::Closed);
    assert_eq!(p.a.error(), Some(TcpError::TimedOut));
}

#[test]
fn lost_syn_ack_is_resent_on_retransmitted_syn() {
    let mut p = Pair::default_pair();
    p.ba.filter = Some(Box::new(
        |idx, _| if idx == 0 { Fate::Drop } else { Fate::Deliver },
    ));
    p.b.listen(80).unwrap();
    p.a.connect(p.now, 4000, 80).unwrap();
    p.run_until(Duration::from_secs(5), |p| {
        p.a.state() == State::Established && p.b.state() == State::Established
    });
    assert_eq!(p.a.state(), State::Established, "{}", p.dump());
    assert_eq!(p.b.state(), State::Established);
}

#[test]
fn rst_in_syn_received_returns_to_listen() {
    let mut p = Pair::default_pair();
    p.b.listen(80).unwrap();
    let mut scratch = [0u8; 64];
    let syn = TcpRepr {
        src_port: 4000,
        dst_port: 80,
        flags: TcpFlags::SYN,
        seq_number: SubflowSeq(500),
        window_len: 1000,
        ..TcpRepr::default()
    };
    p.b.handle_segment(p.now, &syn);
    assert_eq!(p.b.state(), State::SynReceived);
    let synack = p.b.poll_transmit(p.now, &mut scratch).unwrap();
    assert!(synack.flags.contains(TcpFlags::SYN));
    assert_eq!(synack.ack_number, Some(SubflowSeq(501)));
    // No options offered, none answered.
    assert_eq!(
        (synack.window_scale, synack.sack_permitted, synack.timestamp),
        (None, false, None)
    );
    let rst = TcpRepr {
        src_port: 4000,
        dst_port: 80,
        flags: TcpFlags::RST,
        seq_number: SubflowSeq(501),
        ..TcpRepr::default()
    };
    p.b.handle_segment(p.now, &rst);
    assert_eq!(p.b.state(), State::Listen);
    assert_eq!(p.b.error(), None);
    // A bare ACK to a listener gets a RST.
    let ack = TcpRepr {
        flags: TcpFlags::ACK,
        ack_number: Some(SubflowSeq(9)),
        ..rst
    };
    p.b.handle_segment(p.now, &ack);
    let r = p.b.poll_transmit(p.now, &mut scratch).unwrap();
    assert!(r.flags.contains(TcpFlags::RST));
    assert_eq!(r.seq_number, SubflowSeq(9));
}

#[test]
fn simultaneous_open() {
    let mut p = Pair::default_pair();
    p.a.connect(p.now, 4000, 80).unwrap();
    p.b.connect(p.now, 80, 4000).unwrap();
    p.run_until(Duration::from_secs(2), |p| {
        p.a.state() == State::Established && p.b.state() == State::Established
    });
    assert_eq!(p.a.state(), State::Established, "{}", p.dump());
    assert_eq!(p.b.state(), State::Established);
    let data = pattern(5000);
    let got = p.transfer(&data, Duration::from_secs(2));
    assert!(got == data);
}

#[test]
fn ack_of_unsent_data_is_challenged_and_dropped() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    let mut scratch = [0u8; 64];
    let before = p.a.snd_una();
    let seg = TcpRepr {
        src_port: 80,
        dst_port: 4000,
        flags: TcpFlags::ACK,
        seq_number: p.a.rcv_nxt(),
        ack_number: Some(p.a.snd_nxt() + 1000),
        window_len: 1000,
        payload: b"data",
        ..TcpRepr::default()
    };
    p.a.handle_segment(p.now, &seg);
    assert_eq!(p.a.snd_una(), before);
    assert_eq!(p.a.rcv_nxt(), seg.seq_number, "segment dropped");
    assert!(p.a.poll_transmit(p.now, &mut scratch).is_some());
}

#[test]
fn released_socket_bounds_fin_wait_2() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    p.a.release(p.now);
    p.run_until(ms(100), |p| p.a.state() == State::FinWait2);
    assert_eq!(p.a.state(), State::FinWait2);
    let deadline = p.a.poll_timeout().expect("FIN_WAIT_2 timer");
    p.now = deadline;
    p.a.handle_timeout(p.now);
    assert_eq!(p.a.state(), State::Closed);
    // A half-closed (not released) socket waits for the peer's FIN indefinitely.
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    p.a.close();
    p.run_until(ms(100), |p| p.a.state() == State::FinWait2);
    assert_eq!(p.a.poll_timeout(), None);
}

#[test]
fn keepalive_probes_an_idle_peer_and_gives_up() {
    let cfg = TcpConfig {
        keepalive: Some(Duration::from_secs(10)),
        keepalive_interval: Duration::from_secs(1),
        keepalive_probes: 3,
        ..TcpConfig::default()
    };
    let mut p = Pair::connected(cfg, TcpConfig::default());
    // The peer answers: the connection stays up.
    p.run_until(Duration::from_secs(25), |_| false);
    assert_eq!(p.a.state(), State::Established);
    let probes = p.ab.log.iter().filter(|l| l.contains("len=0")).count();
    assert!(probes >= 2, "{}", p.dump());
    // The peer vanishes: 3 probes, then ETIMEDOUT.
    p.ba.filter = Some(Box::new(|_, _| Fate::Drop));
    p.run_until(Duration::from_secs(30), |p| p.a.state() == State::Closed);
    assert_eq!(p.a.error(), Some(TcpError::TimedOut));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Seg {
        flags: u8,
        seq_off: i64,
        ack_off: Option<i64>,
        window: u16,
        sack: Vec<(i64, u32)>,
        ts: Option<(u32, u32)>,
        len: usize,
        dt_ms: u64,
    }

    fn seg() -> impl Strategy<Value = Seg> {
        (
            any::<u8>(),
            prop_oneof![-70_000i64..70_000, any::<i32>().prop_map(i64::from)],
            proptest::option::of(prop_oneof![
                -70_000i64..70_000,
                any::<i32>().prop_map(i64::from)
            ]),
            any::<u16>(),
            proptest::collection::vec((-70_000i64..70_000, 0u32..20_000), 0..4),
            proptest::option::of((any::<u32>(), any::<u32>())),
            0usize..3000,
            0u64..400,
        )
            .prop_map(
                |(flags, seq_off, ack_off, window, sack, ts, len, dt_ms)| Seg {
                    flags,
                    seq_off,
                    ack_off,
                    window,
                    sack,
                    ts,
                    len,
                    dt_ms,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Arbitrary segments thrown at an established connection never panic and keep
        /// the sequence invariants.
        #[test]
        fn random_segments_never_panic(segs in proptest::collection::vec(seg(), 1..40), sack in any::<bool>()) {
            let cfg = TcpConfig { sack, ..TcpConfig::default() };
            let mut p = Pair::connected(cfg.clone(), cfg);
            p.a.send(&pattern(50_000));
            p.step(MS);
            let payload = pattern(3000);
            let mut scratch = vec![0u8; 65536];
            for s in segs {
                let rcv = p.a.rcv_nxt();
                let snd = p.a.snd_una();
                let mut sack_ranges = [None; 4];
                for (slot, (off, len)) in sack_ranges.iter_mut().zip(&s.sack) {
                    let left = SubflowSeq(snd.0.wrapping_add(*off as u32));
                    *slot = Some((left, left + *len as usize));
                }
                let r = TcpRepr {
                    src_port: 80,
                    dst_port: 4000,
                    flags: TcpFlags(s.flags),
                    seq_number: SubflowSeq(rcv.0.wrapping_add(s.seq_off as u32)),
                    ack_number: s.ack_off.map(|o| SubflowSeq(snd.0.wrapping_add(o as u32))),
                    window_len: s.window,
                    sack_ranges,
                    timestamp: s.ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
                    payload: &payload[..s.len],
                    ..TcpRepr::default()
                };
                p.a.handle_segment(p.now, &r);
                p.now += ms(s.dt_ms);
                p.a.handle_timeout(p.now);
                for _ in 0..1000 {
                    if p.a.poll_transmit(p.now, &mut scratch).is_none() {
                        break;
                    }
                }
                prop_assert!(p.a.snd_una() <= p.a.snd_nxt());
                prop_assert!(p.a.in_flight() <= p.a.snd_nxt() - p.a.snd_una() + 65536 * 2);
                let mut buf = [0u8; 4096];
                p.a.recv(&mut buf);
            }
        }
    }
}

#[test]
fn data_on_syn_ack_is_delivered() {
    let mut s = TcpSocket::new(TcpConfig::default(), SubflowSeq(100), 0).unwrap();
    let mut scratch = [0u8; 128];
    s.connect(Instant::ZERO, 4000, 80).unwrap();
    let syn = s.poll_transmit(Instant::ZERO, &mut scratch).unwrap();
    assert!(syn.flags.contains(TcpFlags::SYN));
    let synack = TcpRepr {
        src_port: 80,
        dst_port: 4000,
        flags: TcpFlags::SYN | TcpFlags::FIN,
        seq_number: SubflowSeq(7000),
        ack_number: Some(SubflowSeq(101)),
        window_len: 5000,
        max_seg_size: Some(1400),
        payload: b"hello",
        ..TcpRepr::default()
    };
    s.handle_segment(Instant::from_millis(3), &synack);
    assert_eq!(s.state(), State::CloseWait);
    let mut buf = [0u8; 16];
    assert_eq!(s.recv(&mut buf), 5);
    assert_eq!(&buf[..5], b"hello");
    assert!(s.recv_finished());
    assert_eq!(s.rcv_nxt(), SubflowSeq(7000 + 1 + 5 + 1));
}

#[test]
fn records_are_never_straddled_even_on_retransmission() {
    let mut p = Pair::connected(TcpConfig::default(), TcpConfig::default());
    p.a.set_nagle(false);
    // Drop the 3rd and 7th data segments once, so retransmissions happen.
    let mut n_data = 0;
    p.ab.filter = Some(Box::new(move |_, r: &TcpRepr<'_>| {
        if r.payload.is_empty() {
            return Fate::Deliver;
        }
        n_data += 1;
        if n_data == 3 || n_data == 7 {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    let data = pattern(60_000);
    // Records of odd sizes, none a multiple of the MSS.
    let sizes = [700usize, 3000, 1, 5000, 2222, 999, 1448, 1449, 10_000];
    let mut bounds = Vec::new();
    let mut off = 0;
    let start = p.a.write_seq();
    for i in 0.. {
        let n = sizes[i % sizes.len()].min(data.len() - off);
        if n == 0 {
            break;
        }
        assert_eq!(p.a.send_record(&data[off..off + n]), n);
        off += n;
        bounds.push(start + off);
    }
    assert_eq!(p.a.write_seq(), start + data.len());
    // All or nothing: a record larger than the free space is refused.
    assert_eq!(p.a.send_record(&vec![0; p.a.send_space() + 1]), 0);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    p.run_until(Duration::from_secs(10), |p| {
        loop {
            let n = p.b.recv(&mut buf);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == data.len()
    });
    assert!(got == data, "{}", p.dump());
    // Every data segment sent (first and retransmitted) ends at or before the next
    // boundary after its start.
    let mut checked = 0;
    let mut retransmitted = 0;
    let mut seen = std::collections::HashSet::new();
    for line in &p.ab.log {
        let seq: u32 = line
            .split("seq=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let len: usize = line
            .split("len=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        if len == 0 {
            continue;
        }
        let seq = SubflowSeq(seq);
        if !seen.insert(seq.0) {
            retransmitted += 1;
        }
        let b = bounds.iter().find(|&&b| b > seq).expect("inside the data");
        assert!(seq + len <= *b, "segment {line} crosses {}", b.0);
        checked += 1;
    }
    assert!(checked > 30);
    assert!(retransmitted >= 2, "{}", p.dump());
}
