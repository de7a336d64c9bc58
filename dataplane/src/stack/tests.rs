//! Packet-level tests of the stack: inject frames, check the frames that come out.

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use super::output::build_tcp_frame;
use super::*;
use crate::seq::SubflowSeq;
use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use crate::wire::frame::parse_ethernet;
use crate::wire::mptcp::Version;
use crate::wire::tcp::{TcpFlags, TcpRepr, TcpTimestamp};

const MAC_A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xa]);
const MAC_B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xb]);
const MAC_PEER: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xe]);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn cfg() -> StackConfig {
    StackConfig {
        tcp: TcpConfig {
            send_buffer: 64 * 1024,
            recv_buffer: 64 * 1024,
            time_wait: Duration::from_secs(10),
            ..TcpConfig::default()
        },
        ..StackConfig::default()
    }
}

/// A stack with one interface 10.0.0.1/24.
fn host_a() -> Stack {
    let mut s = Stack::new(cfg());
    s.add_interface(Interface::new(MAC_A, Ipv4Cidr::new(ip("10.0.0.1"), 24)));
    s
}

/// A stack with one interface 10.0.0.2/24 and a different secret.
fn host_b() -> Stack {
    let mut c = cfg();
    c.secret = [7; 32];
    let mut s = Stack::new(c);
    s.add_interface(Interface::new(MAC_B, Ipv4Cidr::new(ip("10.0.0.2"), 24)));
    s
}

fn out<O: Opener>(s: &mut Stack<O>, now: Instant) -> Vec<(usize, Vec<u8>)> {
    let mut v = Vec::new();
    s.poll_transmit(now, &mut |i, f| v.push((i, f.to_vec())));
    v
}

/// Delivers frames back and forth between two stacks (iface i of one to iface i of
/// the other) until both are quiet; returns how many frames moved.
fn pump<A: Opener, B: Opener>(a: &mut Stack<A>, b: &mut Stack<B>, now: Instant) -> usize {
    let mut moved = 0;
    for _ in 0..1000 {
        let fa = out(a, now);
        let fb = out(b, now);
        if fa.is_empty() && fb.is_empty() {
            return moved;
        }
        moved += fa.len() + fb.len();
        for (i, f) in fa {
            b.handle_frame(now, i, &f);
        }
        for (i, f) in fb {
            a.handle_frame(now, i, &f);
        }
    }
    panic!("no quiescence");
}

/// Runs both stacks' timers and traffic from `from` to `to` in 1 ms steps.
fn run<A: Opener, B: Opener>(a: &mut Stack<A>, b: &mut Stack<B>, from: u64, to: u64) {
    for ms in from..=to {
        let now = t(ms);
        if a.poll_timeout().is_some_and(|d| d <= now) {
            a.handle_timeout(now);
        }
        if b.poll_timeout().is_some_and(|d| d <= now) {
            b.handle_timeout(now);
        }
        pump(a, b, now);
    }
}

fn arp_of(frame: &[u8]) -> Option<ArpRepr> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Arp {
        return None;
    }
    ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()
}

fn arp_frame(dst: EthernetAddress, arp: ArpRepr) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + arp.buffer_len()];
    EthernetRepr {
        src_addr: MAC_PEER,
        dst_addr: dst,
        vlan: None,
        ethertype: EtherType::Arp,
    }
    .emit(&mut buf)
    .unwrap();
    arp.emit(&mut buf[14..]).unwrap();
    buf
}

fn request(from_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        EthernetAddress::BROADCAST,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: MAC_PEER,
            source_protocol_addr: from_ip,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        },
    )
}

/// A TCP frame from the peer 10.0.0.9 (MAC_PEER) to `dst`.
fn tcp_frame(dst_mac: EthernetAddress, dst: Ipv4Addr, seg: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 2000];
    let n = build_tcp_frame(&mut buf, MAC_PEER, dst_mac, ip("10.0.0.9"), dst, 64, seg).unwrap();
    buf.truncate(n);
    buf
}

fn tcp_of(frame: &[u8]) -> Option<(IpAddr, IpAddr, TcpRepr<'_>)> {
    let f = parse_ethernet(frame).ok()??;
    let (s, d) = (f.src_addr, f.dst_addr);
    let p = f.packet();
    // The segment borrows the frame: re-parse with the frame's lifetime.
    let r = TcpRepr::parse(
        &crate::wire::tcp::TcpPacket::new_unchecked(f.segment),
        s,
        d,
        true,
        Version::V1,
    )
    .ok()?;
    let _ = p;
    Some((s, d, r))
}

fn syn(src_port: u16, dst_port: u16, seq: u32) -> TcpRepr<'static> {
    TcpRepr {
        src_port,
        dst_port,
        flags: TcpFlags::SYN,
        seq_number: SubflowSeq(seq),
        window_len: 65535,
        max_seg_size: Some(1460),
        ..TcpRepr::default()
    }
}

/// Runs `s`'s timers (which may fire early and re-arm) until it emits something.
fn next_output(s: &mut Stack) -> (Instant, Vec<(usize, Vec<u8>)>) {
    for _ in 0..16 {
        let due = s.poll_timeout().expect("a timer");
        s.handle_timeout(due);
        let f = out(s, due);
        if !f.is_empty() {
            return (due, f);
        }
    }
    panic!("no output from the timers");
}

/// Teaches `s` the peer's MAC (10.0.0.9) with a request, and drops the reply.
fn learn_peer(s: &mut Stack, now: Instant) {
    s.handle_frame(now, 0, &request(ip("10.0.0.9"), ip("10.0.0.1")));
    out(s, now);
}

#[test]
fn arp_requests_for_any_address_are_answered_on_every_interface() {
    let mut s = Stack::new(cfg());
    s.add_interface(Interface::new(MAC_A, Ipv4Cidr::new(ip("10.0.0.1"), 24)));
    s.add_interface(Interface::new(MAC_B, Ipv4Cidr::new(ip("10.0.1.1"), 24)));
    // A request on interface 0 for interface 1's address (weak host).
    s.handle_frame(t(0), 0, &request(ip("10.0.0.9"), ip("10.0.1.1")));
    let f = out(&mut s, t(0));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0, 0, "answered where it was asked");
    let eth = EthernetFrame::new_checked(&f[0].1[..]).unwrap();
    assert_eq!(eth.dst_addr(), MAC_PEER);
    assert_eq!(
        arp_of(&f[0].1),
        Some(ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: MAC_A,
            source_protocol_addr: ip("10.0.1.1"),
            target_hardware_addr: MAC_PEER,
            target_protocol_addr: ip("10.0.0.9"),
        })
    );
    // Not ours: no answer. Garbage: counted, no panic.
    s.handle_frame(t(0), 0, &request(ip("10.0.0.9"), ip("10.0.0.77")));
    s.handle_frame(t(0), 0, &request(ip("10.0.0.9"), ip("10.0.0.1"))[..30]);
    let f = out(&mut s, t(0));
    assert_eq!(f.len(), 0);
    assert_eq!(s.counters().arp.requests_rx, 1);
    assert_eq!(s.counters().arp.bad, 1);
    // The requester was learned (RFC 826: we are the target).
    assert_eq!(s.arp.lookup(t(0), 0, ip("10.0.0.9")), Some(MAC_PEER));
}

#[test]
fn arp_resolution_queues_the_syn_and_retries_then_gives_up() {
    let mut s = host_a();
    let h = s.connect(t(0), ip("10.0.0.9"), 80).unwrap();
    let f = out(&mut s, t(0));
    assert_eq!(f.len(), 1, "only the ARP request goes out");
    let Some(ArpRepr::EthernetIpv4 {
        operation,
        target_protocol_addr,
        source_protocol_addr,
        ..
    }) = arp_of(&f[0].1)
    else {
        panic!("not ARP")
    };
    assert_eq!(operation, ArpOperation::Request);
    assert_eq!(
        (target_protocol_addr, source_protocol_addr),
        (ip("10.0.0.9"), ip("10.0.0.1"))
    );
    assert_eq!(
        EthernetFrame::new_checked(&f[0].1[..]).unwrap().dst_addr(),
        EthernetAddress::BROADCAST
    );
    // The reply releases the queued SYN, addressed to the peer's MAC.
    s.handle_frame(
        t(1),
        0,
        &arp_frame(
            MAC_A,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: MAC_PEER,
                source_protocol_addr: ip("10.0.0.9"),
                target_hardware_addr: MAC_A,
                target_protocol_addr: ip("10.0.0.1"),
            },
        ),
    );
    let f = out(&mut s, t(1));
    assert_eq!(f.len(), 1);
    assert_eq!(
        EthernetFrame::new_checked(&f[0].1[..]).unwrap().dst_addr(),
        MAC_PEER
    );
    let (_, _, seg) = tcp_of(&f[0].1).unwrap();
    assert!(seg.flags.contains(TcpFlags::SYN));
    assert_eq!(s.state(h), Some(State::SynSent));

    // An unanswered resolution: three requests a second apart, then the queue drops.
    let _h2 = s.connect(t(0), ip("10.0.0.10"), 80).unwrap();
    let mut requests = Vec::new();
    let mut now = t(0);
    for _ in 0..10 {
        let n = out(&mut s, now)
            .iter()
            .filter(|(_, f)| arp_of(f).is_some())
            .count();
        requests.extend((0..n).map(|_| now));
        match s.poll_timeout() {
            Some(d) if d < t(3_000) => {
                now = d;
                s.handle_timeout(now);
            }
            _ => break,
        }
    }
    assert_eq!(requests, vec![t(0), t(1_000), t(2_000)]);
    assert_eq!(s.counters().arp.failed, 0);
    s.handle_timeout(t(3_000));
    assert_eq!(s.counters().arp.failed, 1, "gave up after three requests");
    assert!(s.counters().arp.unresolved_drops >= 1);
}

#[test]
fn segments_to_a_closed_port_draw_rfc_9293_resets() {
    let mut s = host_a();
    learn_peer(&mut s, t(0));
    // A SYN: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    s.handle_frame(
        t(1),
        0,
        &tcp_frame(MAC_A, ip("10.0.0.1"), &syn(5555, 81, 1000)),
    );
    let f = out(&mut s, t(1));
    assert_eq!(f.len(), 1);
    let (src, dst, r) = tcp_of(&f[0].1).unwrap();
    assert_eq!(
        (src, dst),
        (IpAddr::V4(ip("10.0.0.1")), IpAddr::V4(ip("10.0.0.9")))
    );
    assert_eq!(
        EthernetFrame::new_checked(&f[0].1[..]).unwrap().dst_addr(),
        MAC_PEER
    );
    assert!(r.flags.contains(TcpFlags::RST));
    assert_eq!((r.src_port, r.dst_port), (81, 5555));
    assert_eq!(
        (r.seq_number, r.ack_number),
        (SubflowSeq(0), Some(SubflowSeq(1001)))
    );
    // An ACK: <SEQ=SEG.ACK><CTL=RST>.
    let ack = TcpRepr {
        flags: TcpFlags::ACK,
        ack_number: Some(SubflowSeq(777)),
        payload: b"abc",
        ..syn(5555, 81, 1000)
    };
    s.handle_frame(t(1), 0, &tcp_frame(MAC_A, ip("10.0.0.1"), &ack));
    let f = out(&mut s, t(1));
    let (_, _, r) = tcp_of(&f[0].1).unwrap();
    assert_eq!(
        (r.flags, r.seq_number, r.ack_number),
        (TcpFlags::RST, SubflowSeq(777), None)
    );
    // A RST draws nothing.
    let rst = TcpRepr {
        flags: TcpFlags::RST,
        ..syn(5555, 81, 1000)
    };
    s.handle_frame(t(1), 0, &tcp_frame(MAC_A, ip("10.0.0.1"), &rst));
    assert!(out(&mut s, t(1)).is_empty());
    let c = s.counters();
    assert_eq!(
        (c.tcp.in_segs, c.tcp.out_rsts, c.ext.rst_to_closed_ignored),
        (3, 2, 1)
    );
}

#[test]
fn bad_checksums_fragments_and_foreign_addresses_are_dropped_and_counted() {
    let mut s = host_a();
    learn_peer(&mut s, t(0));
    let good = tcp_frame(MAC_A, ip("10.0.0.1"), &syn(5555, 81, 1000));
    let mut bad_tcp = good.clone();
    let last = bad_tcp.len() - 1;
    bad_tcp[last] ^= 0xff;
    s.handle_frame(t(1), 0, &bad_tcp);
    let mut bad_ip = good.clone();
    bad_ip[14 + 8] ^= 1; // TTL without fixing the header checksum
    s.handle_frame(t(1), 0, &bad_ip);
    let mut frag = good.clone();
    frag[14 + 6] |= 0x20; // more fragments
    frag[14 + 10] = 0;
    frag[14 + 11] = 0;
    let sum = crate::wire::checksum::checksum(&frag[14..34]);
    frag[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
    s.handle_frame(t(1), 0, &frag);
    let other = tcp_frame(MAC_A, ip("10.0.0.50"), &syn(5555, 81, 1000));
    s.handle_frame(t(1), 0, &other);
    let not_me = tcp_frame(MAC_B, ip("10.0.0.1"), &syn(5555, 81, 1000));
    s.handle_frame(t(1), 0, &not_me);
    for cut in 0..good.len() {
        s.handle_frame(t(1), 0, &good[..cut]);
    }
    assert!(out(&mut s, t(1)).is_empty(), "nothing drew a reply");
    let c = s.counters();
    assert_eq!((c.tcp.in_csum_errors, c.tcp.in_errs), (1, 1));
    assert_eq!(c.ip.reasm_fails, 1);
    assert_eq!(c.ip.in_addr_errors, 1);
    assert!(c.ip.in_hdr_errors >= 2);
    assert!(c.eth_dropped >= 1);
}

#[test]
fn listen_backlog_overflow_drops_syns_and_handshake_acks_as_linux() {
    let mut s = host_a();
    learn_peer(&mut s, t(0));
    s.listen(80, 1).unwrap();
    let mut synacks = Vec::new();
    // Three SYNs: the SYN queue takes backlog+1 = 2, the third is dropped.
    for (i, port) in [1001u16, 1002, 1003].into_iter().enumerate() {
        s.handle_frame(
            t(1),
            0,
            &tcp_frame(MAC_A, ip("10.0.0.1"), &syn(port, 80, 100 * i as u32)),
        );
        for (_, f) in out(&mut s, t(1)) {
            let (_, _, r) = tcp_of(&f).unwrap();
            assert_eq!(r.flags, TcpFlags::SYN | TcpFlags::ACK);
            synacks.push((r.dst_port, r.seq_number, r.ack_number.unwrap()));
        }
    }
    assert_eq!(synacks.len(), 2);
    assert_eq!(s.syn_queue_len(80), 2);
    assert_eq!(s.counters().ext.listen_drops, 1);
    assert_eq!(s.counters().ext.listen_overflows, 0);
    // Both handshakes complete: the accept queue holds backlog+1 = 2.
    for &(port, seq, ack) in &synacks {
        let a = TcpRepr {
            src_port: port,
            dst_port: 80,
            flags: TcpFlags::ACK,
            seq_number: ack,
            ack_number: Some(seq + 1usize),
            window_len: 65535,
            ..TcpRepr::default()
        };
        s.handle_frame(t(2), 0, &tcp_frame(MAC_A, ip("10.0.0.1"), &a));
    }
    assert_eq!(s.accept_queue_len(80), 2);
    assert_eq!(s.syn_queue_len(80), 0);
    assert_eq!(s.counters().tcp.passive_opens, 2);
    // A new SYN while the accept queue is over the backlog: overflow.
    s.handle_frame(
        t(3),
        0,
        &tcp_frame(MAC_A, ip("10.0.0.1"), &syn(1004, 80, 5)),
    );
    assert!(out(&mut s, t(3)).is_empty());
    assert_eq!(s.counters().ext.listen_overflows, 1);
    assert_eq!(s.counters().ext.listen_drops, 2);
    // Accepting one makes room: the next SYN is answered.
    let h = s.accept(80).unwrap();
    assert_eq!(s.state(h), Some(State::Established));
    assert!(matches!(
        s.poll_event(),
        Some(Event::Acceptable { port: 80 })
    ));
    s.handle_frame(
        t(4),
        0,
        &tcp_frame(MAC_A, ip("10.0.0.1"), &syn(1005, 80, 5)),
    );
    let f = out(&mut s, t(4));
    assert_eq!(f.len(), 1);
    let (_, _, r) = tcp_of(&f[0].1).unwrap();
    // Its handshake completes into the queue (1 <= backlog), filling it to 2 again.
    let ack = |port: u16, r: &TcpRepr<'_>| TcpRepr {
        src_port: port,
        dst_port: 80,
        flags: TcpFlags::ACK,
        seq_number: r.ack_number.unwrap(),
        ack_number: Some(r.seq_number + 1usize),
        window_len: 65535,
        ..TcpRepr::default()
    };
    s.handle_frame(t(4), 0, &tcp_frame(MAC_A, ip("10.0.0.1"), &ack(1005, &r)));
    assert_eq!(s.accept_queue_len(80), 2);
    // Over the backlog again: the next SYN overflows.
    s.handle_frame(
        t(5),
        0,
        &tcp_frame(MAC_A, ip("10.0.0.1"), &syn(1006, 80, 9)),
    );
    assert_eq!(s.counters().ext.listen_overflows, 2);
    assert_eq!(s.counters().ext.listen_drops, 3);
}

#[test]
fn handshake_ack_over_a_full_accept_queue_is_dropped_and_counted() {
    let mut s = host_a();
    learn_peer(&mut s, t(0));
    s.listen(80, 1).unwrap();
    let syn_of = |s: &mut Stack, port: u16, now: Instant| {
        s.handle_frame(now, 0, &tcp_frame(MAC_A, ip("10.0.0.1"), &syn(port, 80, 1)));
        let f = out(s, now);
        assert_eq!(f.len(), 1, "SYN-ACK for {port}");
        tcp_of(&f[0].1).unwrap().2.seq_number
    };
    let ack = |port: u16, iss: SubflowSeq| TcpRepr {
        src_port: port,
        dst_port: 80,
        flags: TcpFlags::ACK,
        seq_number: SubflowSeq(2),
        ack_number: Some(iss + 1usize),
        window_len: 65535,
        ..TcpRepr::default()
    };
    let a = syn_of(&mut s, 3001, t(1));
    let b = syn_of(&mut s, 3002, t(1));
    s.handle_frame(t(2), 0, &tcp_frame(MAC_A, ip("10.0.0.1"), &ack(3001, a)));
    // A left the SYN queue: C fits in it while the accept queue has room.
    let c = syn_of(&mut s, 3003, t(3));
    s.handle_frame(t(4), 0, &tcp_frame(MAC_A, ip("10.0.0.1"), &ack(3002, b)));
    assert_eq!(s.accept_queue_len(80), 2);
    // C's handshake completes over a full accept queue: the ACK is dropped (Linux
    // listen_overflow with tcp_abort_on_overflow=0) and C stays in SYN_RECEIVED.
    s.handle_frame(t(5), 0, &tcp_frame(MAC_A, ip("10.0.0.1"), &ack(3003, c)));
    assert_eq!(s.counters().ext.listen_overflows, 1);
    assert_eq!(s.counters().ext.listen_drops, 1);
    assert_eq!((s.accept_queue_len(80), s.syn_queue_len(80)), (2, 1));
    let tuple = FourTuple::new(ip("10.0.0.1"), 80, ip("10.0.0.9"), 3003);
    let hc = s.lookup(&tuple).unwrap();
    assert_eq!(s.state(hc), Some(State::SynReceived));
    // Its SYN-ACK is retransmitted on the timer; after an accept the next ACK gets in.
    let (due, f) = next_output(&mut s);
    let (_, _, r) = tcp_of(&f[0].1).unwrap();
    assert_eq!((r.flags, r.seq_number), (TcpFlags::SYN | TcpFlags::ACK, c));
    assert!(s.accept(80).is_some());
    s.handle_frame(due, 0, &tcp_frame(MAC_A, ip("10.0.0.1"), &ack(3003, c)));
    assert_eq!(s.state(hc), Some(State::Established));
    assert_eq!(s.accept_queue_len(80), 2);
    assert_eq!(s.counters().tcp.passive_opens, 3);
}

#[test]
fn full_exchange_between_two_stacks_with_events_and_counters() {
    let (mut a, mut b) = (host_a(), host_b());
    b.listen(80, 8).unwrap();
    let h = a.connect(t(0), ip("10.0.0.2"), 80).unwrap();
    run(&mut a, &mut b, 0, 5);
    assert_eq!(a.state(h), Some(State::Established));
    assert_eq!(a.poll_event(), Some(Event::Connected(h)));
    assert_eq!(b.poll_event(), Some(Event::Acceptable { port: 80 }));
    let hb = b.accept(80).unwrap();
    assert_eq!(a.send(h, b"hello over the stack").unwrap(), 20);
    run(&mut a, &mut b, 6, 100);
    let mut buf = [0u8; 64];
    let n = b.recv(hb, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello over the stack");
    // Close both ways: a first (a ends in TIME_WAIT, b closes).
    a.close(t(101), h).unwrap();
    run(&mut a, &mut b, 101, 200);
    assert!(b.recv_finished(hb));
    b.close(t(201), hb).unwrap();
    run(&mut a, &mut b, 201, 300);
    assert_eq!(b.connection_count(), 0);
    assert_eq!(a.connection_count(), 1, "a is in TIME_WAIT");
    assert_eq!(
        a.state(h),
        Some(State::TimeWait),
        "the handle names the lingering connection"
    );
    run(&mut a, &mut b, 301, 10_400);
    assert_eq!(a.connection_count(), 0, "TIME_WAIT ran out (10 s)");
    assert_eq!(a.state(h), None, "freed: the handle is stale");
    let (ca, cb) = (a.counters(), b.counters());
    assert_eq!((ca.tcp.active_opens, cb.tcp.passive_opens), (1, 1));
    assert_eq!((ca.tcp.curr_estab, cb.tcp.curr_estab), (0, 0));
    assert_eq!(ca.ext.time_waited, 1);
    assert_eq!(ca.tcp.out_segs, cb.tcp.in_segs);
    assert_eq!(cb.tcp.out_segs, ca.tcp.in_segs);
    assert_eq!(ca.tcp.retrans_segs, 0);
    assert_eq!(
        ca.arp.requests_tx + cb.arp.requests_tx,
        1,
        "one resolution, then learned"
    );
}

#[test]
fn time_wait_is_reused_by_a_newer_syn_on_the_same_tuple() {
    let (mut a, mut b) = (host_a(), host_b());
    b.listen(80, 8).unwrap();
    // b (the server) closes first, so b holds the TIME_WAIT.
    let h = a
        .connect_from(t(0), None, 40_000, ip("10.0.0.2"), 80)
        .unwrap();
    run(&mut a, &mut b, 0, 10);
    let hb = b.accept(80).unwrap();
    a.send(h, b"x").unwrap();
    run(&mut a, &mut b, 11, 60);
    b.close(t(61), hb).unwrap();
    run(&mut a, &mut b, 61, 120);
    a.close(t(121), h).unwrap();
    run(&mut a, &mut b, 121, 200);
    let tuple = FourTuple::new(ip("10.0.0.2"), 80, ip("10.0.0.1"), 40_000);
    let tw = b.lookup(&tuple).expect("b keeps the tuple in TIME_WAIT");
    assert_eq!(b.state(tw), Some(State::TimeWait));
    let old_snd_nxt = b.transport(tw).unwrap().snd_nxt();
    assert_eq!(a.connection_count(), 0);

    // A new connection on the same tuple, 1 s later: its SYN is newer (ISN clock and
    // timestamps), so b recycles the TIME_WAIT instead of answering with an ACK.
    let h2 = a
        .connect_from(t(1_200), None, 40_000, ip("10.0.0.2"), 80)
        .unwrap();
    let f = out(&mut a, t(1_200));
    assert_eq!(f.len(), 1);
    for (i, fr) in f {
        b.handle_frame(t(1_200), i, &fr);
    }
    assert_eq!(b.counters().ext.tw_recycled, 1);
    let f = out(&mut b, t(1_200));
    let (_, _, r) = tcp_of(&f[0].1).unwrap();
    assert_eq!(r.flags, TcpFlags::SYN | TcpFlags::ACK);
    // Linux's choice: the new ISN lies 65537 above the old incarnation's SND.NXT.
    assert_eq!(r.seq_number, old_snd_nxt + 65_537usize);
    for (i, fr) in f {
        a.handle_frame(t(1_200), i, &fr);
    }
    run(&mut a, &mut b, 1_200, 1_210);
    assert_eq!(a.state(h2), Some(State::Established));
    let hb2 = b.accept(80).unwrap();
    assert_eq!(b.state(hb2), Some(State::Established));
}

#[test]
fn time_wait_answers_an_old_syn_with_an_ack() {
    let (mut a, mut b) = (host_a(), host_b());
    b.listen(80, 8).unwrap();
    let h = a
        .connect_from(t(0), None, 40_001, ip("10.0.0.2"), 80)
        .unwrap();
    run(&mut a, &mut b, 0, 10);
    let hb = b.accept(80).unwrap();
    b.close(t(11), hb).unwrap();
    run(&mut a, &mut b, 11, 60);
    a.close(t(61), h).unwrap();
    run(&mut a, &mut b, 61, 120);
    let tuple = FourTuple::new(ip("10.0.0.2"), 80, ip("10.0.0.1"), 40_001);
    let tw = b.lookup(&tuple).unwrap();
    let rcv_nxt = b.transport(tw).unwrap().rcv_nxt();
    // A SYN below RCV.NXT with an old timestamp (PAWS): not a new incarnation.
    let recent = b.conn(tw).unwrap().peer_tsval.unwrap();
    let mut s = syn(40_001, 80, (rcv_nxt - 10usize).0);
    s.timestamp = Some(TcpTimestamp {
        tsval: recent.wrapping_sub(1000),
        tsecr: 0,
    });
    let mut frame = vec![0u8; 200];
    let n = build_tcp_frame(
        &mut frame,
        MAC_A,
        MAC_B,
        ip("10.0.0.1"),
        ip("10.0.0.2"),
        64,
        &s,
    )
    .unwrap();
    b.handle_frame(t(130), 0, &frame[..n]);
    assert_eq!(b.counters().ext.tw_recycled, 0);
    let f = out(&mut b, t(130));
    assert_eq!(f.len(), 1);
    let (_, _, r) = tcp_of(&f[0].1).unwrap();
    assert_eq!(r.flags, TcpFlags::ACK);
    assert_eq!(r.ack_number, Some(rcv_nxt));
    assert_eq!(b.state(tw), Some(State::TimeWait));
}

#[test]
fn isns_differ_per_tuple_and_grow_with_the_4us_clock() {
    let g = IsnGenerator::new([1; 32]);
    let (l, r) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let base = g.isn(t(0), l, 1000, r, 80);
    // RFC 6528: F differs per 4-tuple (a port, an address, the direction).
    let others = [
        g.isn(t(0), l, 1001, r, 80),
        g.isn(t(0), l, 1000, r, 81),
        g.isn(t(0), r, 1000, l, 80),
        g.isn(t(0), l, 1000, ip("10.0.0.3"), 80),
        IsnGenerator::new([2; 32]).isn(t(0), l, 1000, r, 80),
    ];
    for o in others {
        assert_ne!(o, base);
    }
    // M ticks every 4 µs.
    assert_eq!(
        g.isn(Instant::from_micros(4), l, 1000, r, 80),
        base + 1usize
    );
    assert_eq!(g.isn(Instant::from_micros(3), l, 1000, r, 80), base);
    assert_eq!(g.isn(t(1000), l, 1000, r, 80), base + 250_000usize);

    // In the stack: two connections to different ports start from unrelated ISNs,
    // and a later connection on the same tuple starts higher.
    let mut a = host_a();
    learn_peer(&mut a, t(0));
    let h1 = a
        .connect_from(t(0), None, 5000, ip("10.0.0.9"), 80)
        .unwrap();
    let h2 = a
        .connect_from(t(0), None, 5000, ip("10.0.0.9"), 81)
        .unwrap();
    let isns: Vec<u32> = out(&mut a, t(0))
        .iter()
        .map(|(_, f)| tcp_of(f).unwrap().2.seq_number.0)
        .collect();
    assert_eq!(isns.len(), 2);
    assert_ne!(isns[0], isns[1]);
    assert!((isns[0].wrapping_sub(isns[1]) as i32).unsigned_abs() > 1000);
    a.abort(h1).unwrap();
    a.abort(h2).unwrap();
    out(&mut a, t(0));
    let _h3 = a
        .connect_from(t(2), None, 5000, ip("10.0.0.9"), 80)
        .unwrap();
    let f = out(&mut a, t(2));
    let later = tcp_of(&f[0].1).unwrap().2.seq_number.0;
    let first = isns.iter().copied().find(|&x| x.wrapping_add(500) == later);
    assert!(
        first.is_some(),
        "2 ms later = 500 ticks higher on the same tuple"
    );
}

#[test]
fn ephemeral_ports_are_distinct_and_in_range() {
    let mut a = host_a();
    learn_peer(&mut a, t(0));
    let mut ports = std::collections::HashSet::new();
    for _ in 0..50 {
        let h = a.connect(t(0), ip("10.0.0.9"), 80).unwrap();
        let p = a.tuple(h).unwrap().local_port;
        assert!((32768..=60999).contains(&p));
        assert!(ports.insert(p));
    }
    let mut c = cfg();
    c.ephemeral_ports = (40000, 40001);
    let mut s = Stack::new(c);
    s.add_interface(Interface::new(MAC_A, Ipv4Cidr::new(ip("10.0.0.1"), 24)));
    s.connect(t(0), ip("10.0.0.9"), 80).unwrap();
    s.connect(t(0), ip("10.0.0.9"), 80).unwrap();
    assert_eq!(
        s.connect(t(0), ip("10.0.0.9"), 80),
        Err(StackError::NoFreePort)
    );
    assert_eq!(
        s.connect(t(0), ip("192.168.0.1"), 80),
        Err(StackError::NoRoute)
    );
}

#[test]
fn reset_and_abort_close_connections_with_events() {
    let (mut a, mut b) = (host_a(), host_b());
    b.listen(80, 8).unwrap();
    let h = a.connect(t(0), ip("10.0.0.2"), 80).unwrap();
    run(&mut a, &mut b, 0, 5);
    let hb = b.accept(80).unwrap();
    while a.poll_event().is_some() {}
    b.abort(hb).unwrap();
    run(&mut a, &mut b, 6, 10);
    assert_eq!(a.state(h), Some(State::Closed));
    assert_eq!(a.error(h), Some(crate::tcp::socket::TcpError::Reset));
    assert_eq!(a.poll_event(), Some(Event::Closed(h)));
    assert_eq!(a.counters().tcp.estab_resets, 1);
    assert_eq!(b.counters().tcp.estab_resets, 1);
    assert_eq!(b.counters().tcp.out_rsts, 1);
    assert_eq!(a.connection_count(), 0);
    a.close(t(11), h).unwrap();
    assert_eq!(a.state(h), None);
    // Connecting to a closed port fails the attempt.
    let h = a.connect(t(20), ip("10.0.0.2"), 81).unwrap();
    run(&mut a, &mut b, 20, 25);
    assert_eq!(a.error(h), Some(crate::tcp::socket::TcpError::Refused));
    assert_eq!(a.counters().tcp.attempt_fails, 1);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Frames of a real exchange (ARP, handshake, data, FIN) from a to b.
    fn captured() -> Vec<Vec<u8>> {
        let (mut a, mut b) = (host_a(), host_b());
        b.listen(80, 4).unwrap();
        let h = a.connect(t(0), ip("10.0.0.2"), 80).unwrap();
        let mut frames = Vec::new();
        for ms in 0..50 {
            let now = t(ms);
            if ms == 10 {
                a.send(h, b"some payload bytes").unwrap();
            }
            if ms == 20 {
                a.shutdown(h).unwrap();
            }
            for (i, f) in out(&mut a, now) {
                b.handle_frame(now, i, &f);
                frames.push(f);
            }
            for (i, f) in out(&mut b, now) {
                a.handle_frame(now, i, &f);
            }
        }
        frames
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever arrives (real frames with bytes flipped, cut short, or random
        /// bytes), the stack never panics and keeps working.
        #[test]
        fn arbitrary_frames_never_panic(
            pick in any::<usize>(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in any::<usize>(),
            random in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let frames = captured();
            let mut b = host_b();
            b.listen(80, 4).unwrap();
            let mut f = frames[pick % frames.len()].clone();
            for (at, x) in flips {
                let n = f.len();
                f[at % n] ^= x;
            }
            let cut = cut % (f.len() + 1);
            for (i, input) in [&f[..cut], &f[..], &random[..]].into_iter().enumerate() {
                b.handle_frame(t(i as u64), 0, input);
                b.handle_frame(t(i as u64), 7, input);
                out(&mut b, t(i as u64));
                if b.poll_timeout().is_some_and(|d| d <= t(i as u64)) {
                    b.handle_timeout(t(i as u64));
                }
            }
            // The stack still completes a handshake afterwards (on a fresh tuple).
            let mut a = host_a();
            let h = a.connect_from(t(10), None, 45_000, ip("10.0.0.2"), 80).unwrap();
            run(&mut a, &mut b, 10, 20);
            prop_assert_eq!(a.state(h), Some(State::Established));
        }
    }
}

mod seam {
    //! The MPTCP seam: a Transport wrapping TcpSocket sees every incoming segment's
    //! options and adds options to every outgoing one; its Opener vets SYNs at a
    //! listener.
    use super::*;
    use crate::tcp::socket::{TcpError, TcpSocket};
    use crate::wire::mptcp::{MpPrio, MptcpOption};

    #[derive(Debug)]
    struct Tagged {
        inner: TcpSocket,
        tag: u8,
        /// Segments that arrived carrying the peer's tag.
        tagged_in: u64,
        segments_in: u64,
    }

    fn tag_of(seg: &TcpRepr<'_>) -> Option<u8> {
        seg.mptcp.iter().find_map(|o| match o {
            MptcpOption::MpPrio(p) => p.addr_id,
            _ => None,
        })
    }

    impl Transport for Tagged {
        fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
            self.segments_in += 1;
            if tag_of(seg).is_some() {
                self.tagged_in += 1;
            }
            self.inner.handle_segment(now, seg)
        }
        fn poll_transmit<'b>(
            &mut self,
            now: Instant,
            scratch: &'b mut [u8],
        ) -> Option<TcpRepr<'b>> {
            let mut r = self.inner.poll_transmit(now, scratch)?;
            let _ = r.mptcp.push(MptcpOption::MpPrio(MpPrio {
                backup: false,
                addr_id: Some(self.tag),
            }));
            r.fit_option_space();
            Some(r)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.inner.poll_timeout()
        }
        fn handle_timeout(&mut self, now: Instant) {
            self.inner.handle_timeout(now)
        }
        fn state(&self) -> State {
            self.inner.state()
        }
        fn error(&self) -> Option<TcpError> {
            self.inner.error()
        }
        fn snd_nxt(&self) -> SubflowSeq {
            self.inner.snd_nxt()
        }
        fn rcv_nxt(&self) -> SubflowSeq {
            self.inner.rcv_nxt()
        }
        fn send(&mut self, data: &[u8]) -> usize {
            self.inner.send(data)
        }
        fn recv(&mut self, buf: &mut [u8]) -> usize {
            self.inner.recv(buf)
        }
        fn can_send(&self) -> bool {
            self.inner.can_send()
        }
        fn can_recv(&self) -> bool {
            self.inner.can_recv()
        }
        fn recv_finished(&self) -> bool {
            self.inner.recv_finished()
        }
        fn shutdown(&mut self) {
            self.inner.close()
        }
        fn release(&mut self, now: Instant) {
            self.inner.release(now)
        }
        fn abort(&mut self) {
            self.inner.abort()
        }
    }

    #[derive(Debug)]
    struct TaggedOpener {
        tag: u8,
        refused: u64,
    }

    impl Opener for TaggedOpener {
        type Conn = Tagged;
        fn connect(
            &mut self,
            now: Instant,
            tuple: &FourTuple,
            iss: SubflowSeq,
            ts: u32,
        ) -> Result<Tagged, OpenError> {
            let inner = TcpOpener::new(cfg().tcp).connect(now, tuple, iss, ts)?;
            Ok(Tagged {
                inner,
                tag: self.tag,
                tagged_in: 0,
                segments_in: 0,
            })
        }
        fn accept_syn(
            &mut self,
            now: Instant,
            tuple: &FourTuple,
            iss: SubflowSeq,
            ts: u32,
            syn: &TcpRepr<'_>,
        ) -> Option<Tagged> {
            // Like an MP_JOIN with an unknown token: refuse.
            if tag_of(syn).is_none() {
                self.refused += 1;
                return None;
            }
            let inner = TcpOpener::new(cfg().tcp).accept_syn(now, tuple, iss, ts, syn)?;
            Some(Tagged {
                inner,
                tag: self.tag,
                tagged_in: 1,
                segments_in: 1,
            })
        }
    }

    fn tagged_host(mac: EthernetAddress, last: u8, tag: u8) -> Stack<TaggedOpener> {
        let mut s = Stack::with_opener(cfg(), TaggedOpener { tag, refused: 0 });
        s.add_interface(Interface::new(
            mac,
            Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, last), 24),
        ));
        s
    }

    #[test]
    fn wrapped_connections_see_and_add_options_and_vet_syns() {
        let mut a = tagged_host(MAC_A, 1, 7);
        let mut b = tagged_host(MAC_B, 2, 9);
        b.listen(80, 4).unwrap();
        let h = a.connect(t(0), ip("10.0.0.2"), 80).unwrap();
        run(&mut a, &mut b, 0, 5);
        let hb = b.accept(80).unwrap();
        a.send(h, &[0x42; 5000]).unwrap();
        run(&mut a, &mut b, 6, 300);
        let mut buf = [0u8; 8000];
        assert_eq!(b.recv(hb, &mut buf).unwrap(), 5000);
        // Every segment each side received went through the wrapper and carried the
        // option the other wrapper added.
        for (s, h) in [(&a, h), (&b, hb)] {
            let c = s.transport(h).unwrap();
            assert!(c.segments_in >= 3);
            assert_eq!(c.tagged_in, c.segments_in);
            assert_eq!(c.segments_in, s.counters().tcp.in_segs);
        }
        // A plain TCP SYN is refused at the listener by the opener.
        let mut plain = host_a();
        let hp = plain
            .connect_from(t(400), Some(ip("10.0.0.1")), 4000, ip("10.0.0.2"), 80)
            .unwrap();
        run(&mut plain, &mut b, 400, 450);
        assert_eq!(plain.state(hp), Some(State::SynSent));
        assert_eq!(b.opener_mut().refused, 1);
        assert_eq!(b.counters().ext.listen_drops, 1);
        // connect_with builds a connection with its own parameters.
        let h2 = a
            .connect_with(
                t(500),
                None,
                0,
                ip("10.0.0.2"),
                80,
                |o, now, tuple, iss, ts| {
                    let mut c = o.connect(now, tuple, iss, ts)?;
                    c.tag = 42;
                    Ok(c)
                },
            )
            .unwrap();
        run(&mut a, &mut b, 500, 510);
        assert_eq!(a.state(h2), Some(State::Established));
        assert_eq!(a.transport(h2).unwrap().tag, 42);
    }
}

#[test]
fn bound_source_leaves_through_its_interface_and_any_address_is_accepted_anywhere() {
    let mut s = Stack::new(cfg());
    s.add_interface(Interface::new(MAC_A, Ipv4Cidr::new(ip("10.0.0.1"), 24)));
    s.add_interface(Interface::new(MAC_B, Ipv4Cidr::new(ip("10.0.1.1"), 24)));
    s.listen(80, 4).unwrap();
    // Bound to the second interface's address: ARP (then the SYN) leave on iface 1.
    s.connect_from(t(0), Some(ip("10.0.1.1")), 0, ip("10.0.1.9"), 80)
        .unwrap();
    let f = out(&mut s, t(0));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0, 1);
    let Some(ArpRepr::EthernetIpv4 {
        source_hardware_addr,
        source_protocol_addr,
        ..
    }) = arp_of(&f[0].1)
    else {
        panic!("ARP expected")
    };
    assert_eq!(
        (source_hardware_addr, source_protocol_addr),
        (MAC_B, ip("10.0.1.1"))
    );
    // Weak host: a SYN for iface 1's address arriving on iface 0 is accepted, and the
    // SYN-ACK comes from that address.
    learn_peer(&mut s, t(1));
    s.handle_frame(
        t(1),
        0,
        &tcp_frame(MAC_A, ip("10.0.1.1"), &syn(6000, 80, 1)),
    );
    let f = out(&mut s, t(1));
    let (src, dst, r) = f.iter().find_map(|(_, f)| tcp_of(f)).unwrap();
    assert_eq!(r.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(
        (src, dst),
        (IpAddr::V4(ip("10.0.1.1")), IpAddr::V4(ip("10.0.0.9")))
    );
}

#[test]
fn counters_carry_linux_names() {
    let c = Counters::default();
    let names: Vec<&str> = c.iter().map(|(n, _)| n).collect();
    for want in [
        "TcpActiveOpens",
        "TcpPassiveOpens",
        "TcpAttemptFails",
        "TcpEstabResets",
        "TcpCurrEstab",
        "TcpInSegs",
        "TcpOutSegs",
        "TcpRetransSegs",
        "TcpInErrs",
        "TcpOutRsts",
        "TcpInCsumErrors",
        "TcpExtListenOverflows",
        "TcpExtListenDrops",
        "TcpExtTWRecycled",
        "IpInReceives",
        "IpReasmFails",
    ] {
        assert!(names.contains(&want), "{want}");
    }
    let unique: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
}

#[test]
fn hundred_concurrent_connections_deliver_and_free_their_slots() {
    let (mut a, mut b) = (host_a(), host_b());
    b.listen(80, 128).unwrap();
    let payload = |i: usize| -> Vec<u8> { (0..10_000).map(|k| (k * 7 + i) as u8).collect() };
    let hs: Vec<_> = (0..100)
        .map(|_| a.connect(t(0), ip("10.0.0.2"), 80).unwrap())
        .collect();
    run(&mut a, &mut b, 0, 5);
    assert_eq!(b.accept_queue_len(80), 100);
    let mut server = Vec::new();
    while let Some(h) = b.accept(80) {
        server.push(h);
    }
    for (i, &h) in hs.iter().enumerate() {
        assert_eq!(a.send(h, &payload(i)).unwrap(), 10_000);
        a.close(t(6), h).unwrap();
    }
    run(&mut a, &mut b, 6, 400);
    // Lazy timers: about one heap entry per connection, not one per ACK.
    assert!(
        a.timers.len() <= 200 && b.timers.len() <= 200,
        "{} {}",
        a.timers.len(),
        b.timers.len()
    );
    // Each server connection got exactly its client's bytes, then the FIN.
    let mut seen = std::collections::HashSet::new();
    for &h in &server {
        let mut buf = vec![0u8; 20_000];
        let n = b.recv(h, &mut buf).unwrap();
        assert_eq!(n, 10_000);
        assert!(b.recv_finished(h));
        let port = b.tuple(h).unwrap().remote_port;
        let i = hs
            .iter()
            .position(|&c| a.tuple(c).unwrap().local_port == port)
            .unwrap();
        assert_eq!(buf[..n], payload(i)[..]);
        assert!(seen.insert(i));
        b.close(t(401), h).unwrap();
    }
    run(&mut a, &mut b, 401, 500);
    assert_eq!(b.connection_count(), 0);
    assert_eq!(a.connection_count(), 100, "the closers hold TIME_WAIT");
    run(&mut a, &mut b, 10_400, 10_410);
    assert_eq!(a.connection_count(), 0);
    assert_eq!(a.counters().ext.time_waited, 100);
    assert!(
        hs.iter().all(|&h| a.state(h).is_none()),
        "handles went stale"
    );
    // Freed slots are reused by new connections without reviving old handles.
    let h = a.connect(t(10_411), ip("10.0.0.2"), 80).unwrap();
    assert!(!hs.contains(&h));
    assert_eq!(a.slots.len(), 100);
}

#[test]
fn connect_takes_over_a_second_old_time_wait_with_tw_reuse() {
    let mk = |reuse: bool| {
        let mut c = cfg();
        c.ephemeral_ports = (40_000, 40_000);
        c.tw_reuse = reuse;
        let mut s = Stack::new(c);
        s.add_interface(Interface::new(MAC_A, Ipv4Cidr::new(ip("10.0.0.1"), 24)));
        s
    };
    for reuse in [false, true] {
        let (mut a, mut b) = (mk(reuse), host_b());
        b.listen(80, 8).unwrap();
        let h = a.connect(t(0), ip("10.0.0.2"), 80).unwrap();
        run(&mut a, &mut b, 0, 10);
        let hb = b.accept(80).unwrap();
        a.close(t(11), h).unwrap();
        run(&mut a, &mut b, 11, 50);
        b.close(t(51), hb).unwrap();
        run(&mut a, &mut b, 51, 100);
        assert_eq!(a.state(h), Some(State::TimeWait));
        let old_snd_nxt = a.transport(h).unwrap().snd_nxt();
        // The only port is in TIME_WAIT: too young to take over.
        assert_eq!(
            a.connect(t(500), ip("10.0.0.2"), 80),
            Err(StackError::NoFreePort)
        );
        let r = a.connect(t(1_200), ip("10.0.0.2"), 80);
        if !reuse {
            assert_eq!(r, Err(StackError::NoFreePort));
            continue;
        }
        let h2 = r.unwrap();
        assert_eq!(a.counters().ext.tw_recycled, 1);
        assert_eq!(a.state(h), None, "the TIME_WAIT connection is gone");
        let f = out(&mut a, t(1_200));
        let (_, _, syn) = tcp_of(&f[0].1).unwrap();
        assert_eq!(syn.seq_number, old_snd_nxt + 65_537usize);
        for (i, fr) in f {
            b.handle_frame(t(1_200), i, &fr);
        }
        run(&mut a, &mut b, 1_200, 1_210);
        assert_eq!(a.state(h2), Some(State::Established));
    }
}
