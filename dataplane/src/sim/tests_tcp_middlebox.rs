//! Tests of the TCP-aware middleboxes on real Ethernet/IPv4 and IPv6 TCP frames.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::sim::{toy, Dir, Host, LinkConfig, Network, Rng};
use crate::wire::checksum;
use crate::wire::mptcp::csum::{dss_csum, DssCsum};
use crate::wire::mptcp::{
    mpc_flags, subtype, Dss, DssMapping, DssSeq, MpCapable, MpPrio, MptcpOption, Version,
};
use crate::wire::tcp::{MptcpOptions, TcpOption, TcpRepr, TcpTimestamp};

const C4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const S4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const C6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
const S6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

const CLIENT_KEY: u64 = 0x0123_4567_89ab_cdef;
const SERVER_KEY: u64 = 0xfedc_ba98_7654_3210;
const PAYLOAD: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz, a payload of some length";
const _: () = assert!(PAYLOAD.len() == 62);

// ---- Building frames ----

fn mp(options: &[MptcpOption<'static>]) -> MptcpOptions<'static> {
    let mut m = MptcpOptions::new();
    for &o in options {
        m.push(o).unwrap();
    }
    m
}

fn mpc(sender_key: Option<u64>, receiver_key: Option<u64>) -> MptcpOption<'static> {
    MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: mpc_flags::CHECKSUM | mpc_flags::HMAC,
        sender_key,
        receiver_key,
        data_len: None,
        checksum: None,
    })
}

fn base(sport: u16, dport: u16, seq: u32, ack: Option<u32>) -> TcpRepr<'static> {
    TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq_number: SubflowSeq(seq),
        ack_number: ack.map(SubflowSeq),
        window_len: 502,
        timestamp: Some(TcpTimestamp {
            tsval: 0x1111_2222,
            tsecr: 0x3333_4444,
        }),
        ..TcpRepr::default()
    }
}

/// A client's MP_CAPABLE SYN from `sport` to port 80.
fn syn(sport: u16, isn: u32) -> TcpRepr<'static> {
    TcpRepr {
        flags: TcpFlags::SYN,
        window_len: 64240,
        max_seg_size: Some(1460),
        sack_permitted: true,
        window_scale: Some(7),
        mptcp: mp(&[mpc(None, None)]),
        ..base(sport, 80, isn, None)
    }
}

fn syn_ack(cport: u16, isn: u32, ack: u32) -> TcpRepr<'static> {
    TcpRepr {
        flags: TcpFlags::SYN,
        max_seg_size: Some(1460),
        sack_permitted: true,
        window_scale: Some(7),
        mptcp: mp(&[mpc(Some(SERVER_KEY), None)]),
        ..base(80, cport, isn, Some(ack))
    }
}

fn third_ack(sport: u16, seq: u32, ack: u32) -> TcpRepr<'static> {
    TcpRepr {
        mptcp: mp(&[mpc(Some(CLIENT_KEY), Some(SERVER_KEY))]),
        ..base(sport, 80, seq, Some(ack))
    }
}

/// A data segment with a DSS mapping (and its checksum) covering exactly `payload`.
fn data(sport: u16, dport: u16, seq: u32, ack: u32, payload: &'static [u8]) -> TcpRepr<'static> {
    let (dsn, ssn) = (0x1000_0000_u64 + u64::from(seq), seq.wrapping_sub(1000));
    let len = payload.len() as u16;
    TcpRepr {
        flags: TcpFlags::PSH,
        mptcp: mp(&[MptcpOption::Dss(Dss {
            data_fin: false,
            data_ack: Some(DssSeq {
                value: 77,
                wide: true,
            }),
            mapping: Some(DssMapping {
                dsn: DssSeq {
                    value: dsn,
                    wide: true,
                },
                ssn,
                data_len: len,
                checksum: Some(dss_csum(dsn, ssn, len, payload)),
            }),
        })]),
        payload,
        ..base(sport, dport, seq, Some(ack))
    }
}

/// A pure ACK with a DSS DATA_ACK and an MP_PRIO.
fn dss_ack(sport: u16, seq: u32, ack: u32) -> TcpRepr<'static> {
    TcpRepr {
        mptcp: mp(&[
            MptcpOption::Dss(Dss {
                data_fin: false,
                data_ack: Some(DssSeq {
                    value: 1234,
                    wide: false,
                }),
                mapping: None,
            }),
            MptcpOption::MpPrio(MpPrio {
                backup: true,
                addr_id: None,
            }),
        ]),
        ..base(sport, 80, seq, Some(ack))
    }
}

/// A full Ethernet frame (padded to 60 bytes) around `r`, from `src` to `dst`.
fn frame_vlan(src: IpAddr, dst: IpAddr, vlans: &[u16], r: &TcpRepr<'_>) -> Vec<u8> {
    let tcp_len = r.buffer_len();
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    for &tci in vlans {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&tci.to_be_bytes());
    }
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let total = (20 + tcp_len) as u16;
            let mut ip = vec![0x45, 0];
            ip.extend_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, 6, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let c = checksum::checksum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&ip);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            f.extend_from_slice(&[6, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => unreachable!("mixed families"),
    }
    let at = f.len();
    f.resize(at + tcp_len, 0);
    r.emit(&mut TcpPacket::new_unchecked(&mut f[at..]), src, dst, true)
        .unwrap();
    f.resize(f.len().max(60), 0);
    f
}

fn frame(src: IpAddr, dst: IpAddr, r: &TcpRepr<'_>) -> Vec<u8> {
    frame_vlan(src, dst, &[], r)
}

// ---- Looking at frames ----

fn segment(f: &[u8]) -> (TcpLocation, &[u8]) {
    let loc = locate_tcp(f).expect("a TCP frame");
    let seg = &f[loc.segment.clone()];
    (loc, seg)
}

fn verifies(f: &[u8]) -> bool {
    let (loc, seg) = segment(f);
    TcpPacket::new_checked(seg)
        .unwrap()
        .verify_checksum(loc.src, loc.dst)
}

fn parse(f: &[u8]) -> TcpRepr<'_> {
    let (loc, seg) = segment(f);
    let p = TcpPacket::new_checked(seg).unwrap();
    let p: TcpPacket<&[u8]> = TcpPacket::new_unchecked(p.into_inner());
    TcpRepr::parse(&p, loc.src, loc.dst, true, Version::V1).unwrap()
}

/// Absolute byte ranges in `f` of the options of `k`, found with the codec's iterator.
fn option_ranges(f: &[u8], k: u8) -> Vec<core::ops::Range<usize>> {
    let (loc, seg) = segment(f);
    let p = TcpPacket::new_checked(seg).unwrap();
    let mut at = loc.segment.start + 20;
    let mut out = Vec::new();
    for o in p.options_iter() {
        let Ok(o) = o else { break };
        let len = o.buffer_len();
        let this = match o {
            TcpOption::Mptcp(_) => kind::MPTCP,
            TcpOption::MaxSegmentSize(_) => kind::MSS,
            TcpOption::Timestamp { .. } => kind::TIMESTAMP,
            TcpOption::NoOperation => kind::NOP,
            _ => 255,
        };
        if this == k {
            out.push(at..at + len);
        }
        at += len;
    }
    out
}

fn run<M: Middlebox>(mb: &mut M, f: &[u8]) -> (Verdict, Vec<u8>) {
    let mut rng = Rng::new(7);
    let mut out = f.to_vec();
    let v = mb.process(Instant::ZERO, &mut rng, &mut out);
    (v, out)
}

/// `after` is `before` with exactly the bytes of `ranges` turned into NOPs (and the
/// checksum field updated), and its checksum verifies.
fn assert_nopped(before: &[u8], after: &[u8], ranges: &[core::ops::Range<usize>]) {
    assert_eq!(before.len(), after.len());
    let csum = segment(before).1.as_ptr() as usize - before.as_ptr() as usize + 16;
    for i in 0..before.len() {
        if ranges.iter().any(|r| r.contains(&i)) {
            assert_eq!(after[i], kind::NOP, "byte {i}");
        } else if i != csum && i != csum + 1 {
            assert_eq!(after[i], before[i], "byte {i}");
        }
    }
    assert!(verifies(after));
}

/// One connection's segments, in order: (from client, repr).
fn conversation() -> Vec<(bool, TcpRepr<'static>)> {
    vec![
        (true, syn(40000, 1000)),
        (false, syn_ack(40000, 5000, 1001)),
        (true, third_ack(40000, 1001, 5001)),
        (true, data(40000, 80, 1001, 5001, PAYLOAD)),
        (
            false,
            data(80, 40000, 5001, 1001 + PAYLOAD.len() as u32, b"hello"),
        ),
        (true, dss_ack(40000, 1001 + PAYLOAD.len() as u32, 5006)),
        (true, base(40000, 80, 1063, Some(5006))),
    ]
}

fn conversation_frames(c: IpAddr, s: IpAddr) -> Vec<Vec<u8>> {
    conversation()
        .iter()
        .map(|(up, r)| if *up { frame(c, s, r) } else { frame(s, c, r) })
        .collect()
}

// ---- StripOption ----

#[test]
fn frames_are_what_they_claim() {
    for (c, s) in [(C4, S4), (C6, S6)] {
        for f in conversation_frames(c, s) {
            assert!(verifies(&f));
            let (loc, seg) = segment(&f);
            assert_eq!(loc.segment.end - loc.segment.start, seg.len());
            let r = parse(&f);
            assert!(r.stats.is_clean());
        }
    }
    let f = frame(C4, S4, &syn(1, 2));
    let (loc, _) = segment(&f);
    assert_eq!((loc.src, loc.dst, loc.segment.start), (C4, S4, 34));
    // Ethernet padding is not part of the segment.
    let f = frame(C4, S4, &base(1, 2, 3, None));
    assert_eq!(f.len(), 66);
    let f = frame(C4, S4, &TcpRepr::default());
    assert_eq!((f.len(), segment(&f).0.segment), (60, 34..54));
}

#[test]
fn strip_mptcp_where_which_says() {
    type Pick = fn() -> Which;
    let cases: [(&str, Pick, &[usize]); 6] = [
        ("syn", || Which::Syn, &[0]),
        ("synack", || Which::SynAck, &[1]),
        ("third ack", || Which::ThirdAck, &[2]),
        ("data", || Which::Data, &[3, 4]),
        ("all", || Which::All, &[0, 1, 2, 3, 4, 5]),
        (
            "to port 80",
            || Which::matching(|p| p.dst_port() == 80),
            &[0, 2, 3, 5],
        ),
    ];
    for (c, s) in [(C4, S4), (C6, S6)] {
        let frames = conversation_frames(c, s);
        for (name, which, want) in cases {
            let mut mb = StripOption::mptcp(which());
            for (i, f) in frames.iter().enumerate() {
                let (v, out) = run(&mut mb, f);
                assert_eq!(v, Verdict::Pass);
                if want.contains(&i) {
                    let ranges = option_ranges(f, kind::MPTCP);
                    assert!(!ranges.is_empty());
                    assert_nopped(f, &out, &ranges);
                    let (before, after) = (parse(f), parse(&out));
                    assert!(after.mptcp.is_empty(), "{name} {i}");
                    assert_eq!(
                        TcpRepr {
                            mptcp: MptcpOptions::new(),
                            ..before
                        },
                        after,
                        "{name} {i}: only option 30 changed"
                    );
                } else {
                    assert_eq!(&out, f, "{name}: segment {i} untouched");
                }
            }
            let st = mb.stats();
            assert_eq!((st.frames, st.segments), (7, 7), "{name}");
            assert_eq!(st.modified, want.len() as u64, "{name}");
            // The pure ACK (5) carries two MPTCP options.
            let options = want.len() as u64 + u64::from(want.contains(&5));
            assert_eq!(mb.stripped(), options, "{name}");
        }
    }
    // Everything is selected, the last segment has no option 30: matched, not modified.
    let mut all = StripOption::mptcp(Which::All);
    for f in conversation_frames(C4, S4) {
        run(&mut all, &f);
    }
    assert_eq!((all.stats().matched, all.stats().modified), (7, 6));
}

#[test]
fn strip_other_kinds_and_subtypes() {
    // Timestamps from everything: option 8 becomes NOPs, MPTCP is untouched.
    let f = frame(C4, S4, &third_ack(1, 2, 3));
    let (_, out) = run(&mut StripOption::new(kind::TIMESTAMP, Which::All), &f);
    assert_nopped(&f, &out, &option_ranges(&f, kind::TIMESTAMP));
    let r = parse(&out);
    assert_eq!((r.timestamp, r.mptcp.len()), (None, 1));

    // Only MP_PRIO, not the DSS next to it.
    let f = frame(C6, S6, &dss_ack(1, 2, 3));
    let ranges = option_ranges(&f, kind::MPTCP);
    assert_eq!(ranges.len(), 2);
    let mut mb = StripOption::mptcp(Which::All).subtype(subtype::MP_PRIO);
    let (_, out) = run(&mut mb, &f);
    assert_nopped(&f, &out, &ranges[1..]);
    assert!(matches!(
        parse(&out).mptcp.as_slice(),
        [MptcpOption::Dss(_)]
    ));
    // A DSS-only segment is not modified.
    let (_, out) = run(&mut mb, &frame(C6, S6, &data(1, 2, 3, 4, b"x")));
    assert_eq!(out, frame(C6, S6, &data(1, 2, 3, 4, b"x")));
    assert_eq!((mb.stats().matched, mb.stats().modified), (2, 1));
}

#[test]
fn strip_first_n_only() {
    let mut mb = StripOption::mptcp(Which::Syn).first(2);
    let f = frame(C4, S4, &syn(1, 2));
    let plain = frame(
        C4,
        S4,
        &TcpRepr {
            flags: TcpFlags::SYN,
            ..base(1, 80, 2, None)
        },
    );
    // A SYN without option 30 does not use up the allowance.
    assert_eq!(run(&mut mb, &plain).1, plain);
    for k in 0..5 {
        let (_, out) = run(&mut mb, &f);
        assert_eq!(out != f, k < 2, "retransmission {k}");
    }
    assert_eq!(mb.stats().matched, 6);
    assert_eq!((mb.stats().modified, mb.stripped()), (2, 2));
}

#[test]
fn third_ack_is_tracked_per_flow() {
    let mut mb = StripOption::mptcp(Which::ThirdAck);
    let mut hits: Vec<&str> = Vec::new();
    let mut send = |name: &'static str, f: Vec<u8>| {
        let (_, out) = run(&mut mb, &f);
        if out != f {
            hits.push(name);
        }
    };
    send("syn a", frame(C4, S4, &syn(1111, 100)));
    send("syn b", frame(C4, S4, &syn(2222, 200)));
    send("syn c", frame(C6, S6, &syn(1111, 100)));
    send("syn a again", frame(C4, S4, &syn(1111, 100)));
    // The SYN/ACK of a travels the other way: its own flow, not a's third ACK.
    send("synack a", frame(S4, C4, &third_ack(80, 101, 101)));
    send(
        "ack d (no syn seen)",
        frame(C4, S4, &third_ack(3333, 301, 9)),
    );
    send("ack b", frame(C4, S4, &third_ack(2222, 201, 9)));
    send("ack b again", frame(C4, S4, &third_ack(2222, 201, 9)));
    send("data a", frame(C4, S4, &data(1111, 80, 101, 9, PAYLOAD)));
    send("ack a", frame(C4, S4, &third_ack(1111, 101 + 62, 9)));
    send("ack c", frame(C6, S6, &third_ack(1111, 101, 9)));
    // A SYN reusing the 4-tuple of a starts a new handshake; one with a wrong sequence
    // number is not a third ACK and ends the wait.
    send("syn a new", frame(C4, S4, &syn(1111, 7000)));
    send("ack a bad seq", frame(C4, S4, &third_ack(1111, 7005, 9)));
    send("ack a after", frame(C4, S4, &third_ack(1111, 7001, 9)));
    send("syn e", frame(C4, S4, &syn(4444, 0xffff_ffff)));
    send(
        "rst e",
        frame(C4, S4, &{
            let mut r = base(4444, 80, 0, Some(9));
            r.flags = TcpFlags::RST;
            r
        }),
    );
    send("ack e", frame(C4, S4, &third_ack(4444, 0, 9)));
    send("syn f wraps", frame(C4, S4, &syn(5555, 0xffff_ffff)));
    send("ack f", frame(C4, S4, &third_ack(5555, 0, 9)));
    // "data a" completes a's handshake (it carries data, but it is the first ACK).
    assert_eq!(hits, ["ack b", "data a", "ack c", "ack f"]);
}

#[test]
fn vlan_and_ipv6_extension_headers() {
    let r = syn(1, 2);
    let ranges_of = |f: &[u8]| option_ranges(f, kind::MPTCP);
    for vlans in [&[][..], &[10]] {
        for (c, s) in [(C4, S4), (C6, S6)] {
            let f = frame_vlan(c, s, vlans, &r);
            let (_, out) = run(&mut StripOption::mptcp(Which::Syn), &f);
            assert_nopped(&f, &out, &ranges_of(&f));
        }
    }
    // Stacked tags are more than the codec (and so a middlebox) looks through.
    for vlans in [&[1, 2][..], &[1, 2, 3]] {
        let f = frame_vlan(C4, S4, vlans, &r);
        assert_eq!(locate_tcp(&f), None);
        assert_eq!(run(&mut StripOption::mptcp(Which::All), &f).1, f);
    }

    // IPv6 with one 8-byte extension header of type `next` and the given third byte.
    let with_ext = |next: u8, b3: u8| {
        let mut f = frame(C6, S6, &r);
        let plen = u16::from_be_bytes([f[18], f[19]]) + 8;
        f[18..20].copy_from_slice(&plen.to_be_bytes());
        f[20] = next;
        f.splice(54..54, [6, 0, 0, b3, 0, 0, 0, 0]);
        f
    };
    for next in [0, 60, 43] {
        let f = with_ext(next, 0);
        let (_, out) = run(&mut StripOption::mptcp(Which::Syn), &f);
        assert_eq!(segment(&f).0.segment.start, 62);
        assert_nopped(&f, &out, &ranges_of(&f));
    }
    // Segments left in a routing header, a fragment header, an unknown header: untouched.
    for (next, b3) in [(43, 1), (44, 0), (50, 0), (59, 0)] {
        let f = with_ext(next, b3);
        assert_eq!(locate_tcp(&f), None, "next header {next}");
    }
}

#[test]
fn malformed_frames_pass_unchanged() {
    let good = frame(C4, S4, &syn(1, 2));
    let good6 = frame(C6, S6, &syn(1, 2));
    let edit = |f: &[u8], at: usize, v: u8| {
        let mut f = f.to_vec();
        f[at] = v;
        f
    };
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("runt", good[..10].to_vec()),
        ("no ip header", good[..20].to_vec()),
        ("cut in the tcp header", good[..40].to_vec()),
        ("cut in the options", good[..60].to_vec()),
        ("arp", edit(&good, 13, 0x06)),
        ("udp", edit(&good, 23, 17)),
        ("ip version 5", edit(&good, 14, 0x55)),
        ("ihl 4", edit(&good, 14, 0x44)),
        ("ihl past total", edit(&good, 14, 0x4f)),
        ("total length short", edit(&good, 17, 30)),
        ("total length long", edit(&good, 16, 0x7f)),
        ("more fragments", edit(&good, 20, 0x20)),
        ("fragment offset", edit(&good, 21, 0x01)),
        ("tcp offset 4", edit(&good, 46, 0x40)),
        ("tcp offset past end", edit(&good, 46, 0xf0)),
        ("ipv6 cut", good6[..60].to_vec()),
        ("ipv6 version 4", edit(&good6, 14, 0x40)),
        ("ipv6 jumbo", {
            let mut f = edit(&good6, 18, 0);
            f[19] = 0;
            f
        }),
        ("ipv6 udp", edit(&good6, 20, 17)),
    ];
    for (name, f) in &bad {
        assert_eq!(locate_tcp(f), None, "{name}");
        let mut strip = StripOption::mptcp(Which::All);
        let mut corrupt = CorruptPayload::probability(1.0);
        let mut map = MapTcp::new(
            |_, _: &mut Rng, _: &TcpLocation, p: &mut TcpPacket<&mut [u8]>| {
                p.set_window_len(1);
                Verdict::Drop
            },
        );
        assert_eq!(run(&mut strip, f), (Verdict::Pass, f.clone()), "{name}");
        assert_eq!(run(&mut corrupt, f), (Verdict::Pass, f.clone()), "{name}");
        assert_eq!(run(&mut map, f), (Verdict::Pass, f.clone()), "{name}");
        assert_eq!((strip.stats().frames, strip.stats().segments), (1, 0));
        assert_eq!(map.stats().segments, 0);
    }

    // A malformed option before option 30 ends the walk, as in Linux: nothing stripped.
    let mut f = good.clone();
    let mss = option_ranges(&f, kind::MSS)[0].start;
    f[mss..mss + 2].copy_from_slice(&[99, 0]);
    let (loc, _) = segment(&f);
    TcpPacket::new_unchecked(&mut f[loc.segment.clone()]).fill_checksum(loc.src, loc.dst);
    let mut strip = StripOption::mptcp(Which::All);
    assert_eq!(run(&mut strip, &f).1, f);
    assert_eq!((strip.stats().segments, strip.stats().modified), (1, 0));
}

#[test]
fn bad_checksum_stays_bad() {
    let mut f = frame(C4, S4, &syn(1, 2));
    let at = segment(&f).0.segment.start + 16;
    f[at] ^= 0x12;
    assert!(!verifies(&f));
    let (_, out) = run(&mut StripOption::mptcp(Which::Syn), &f);
    assert!(option_ranges(&out, kind::MPTCP).is_empty());
    assert!(
        !verifies(&out),
        "the middlebox must not launder a corrupted segment"
    );
    // And by exactly the same error: the one's-complement residual is unchanged.
    assert_eq!(residual(&out), residual(&f));
    assert_ne!(residual(&f), 0xffff);
}

/// The folded sum of pseudo-header and segment: 0xffff when the checksum verifies.
fn residual(f: &[u8]) -> u16 {
    let (loc, seg) = segment(f);
    let len = seg.len();
    let mut c = match (loc.src, loc.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => checksum::Checksum::pseudo_v4(s, d, 6, len as u16),
        (IpAddr::V6(s), IpAddr::V6(d)) => checksum::Checksum::pseudo_v6(s, d, 6, len as u32),
        _ => unreachable!(),
    };
    c.add_bytes(seg);
    c.fold()
}

// ---- CorruptPayload ----

/// The index of the one byte where `a` and `b` differ, the TCP checksum field aside.
fn one_difference(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len());
    let csum = segment(a).0.segment.start + 16;
    let diffs: Vec<usize> = (0..a.len())
        .filter(|&i| a[i] != b[i] && i != csum && i != csum + 1)
        .collect();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    diffs[0]
}

/// Whether the DSS checksum of a single-segment mapping still verifies.
fn dss_ok(f: &[u8]) -> bool {
    let r = parse(f);
    let Some(MptcpOption::Dss(Dss {
        mapping: Some(m), ..
    })) = r.mptcp.as_slice().first()
    else {
        panic!("no mapping")
    };
    let mut c = DssCsum::new(m.dsn.value, m.ssn, m.data_len);
    c.add_payload(r.payload);
    c.verify(m.checksum.unwrap())
}

#[test]
fn corrupt_nth_data_segment() {
    for (c, s) in [(C4, S4), (C6, S6)] {
        let mut mb = CorruptPayload::nth(2);
        let mut seqs = Vec::new();
        let mut changed = Vec::new();
        for k in 0..6u32 {
            let seq = 1001 + 100 * k;
            // Handshake and pure ACKs in between do not count.
            for f in [
                frame(c, s, &syn(1, 1000)),
                frame(c, s, &third_ack(1, seq, 1)),
                frame(c, s, &data(1, 80, seq, 1, PAYLOAD)),
            ] {
                let (v, out) = run(&mut mb, &f);
                assert_eq!(v, Verdict::Pass);
                assert!(verifies(&out));
                if out != f {
                    let at = one_difference(&f, &out);
                    let (loc, seg) = segment(&f);
                    let payload_start = loc.segment.end - PAYLOAD.len();
                    assert!((payload_start..loc.segment.end).contains(&at));
                    assert_eq!((f[at] ^ out[at]).count_ones(), 1, "one bit by default");
                    assert!(dss_ok(&f) && !dss_ok(&out), "only the DSS checksum sees it");
                    assert_eq!(TcpPacket::new_checked(seg).unwrap().payload().len(), 62);
                    changed.push(at - payload_start);
                    seqs.push(seq);
                }
            }
        }
        assert_eq!(seqs, [1201]);
        assert_eq!(mb.corrupted, [(SubflowSeq(1201), changed[0])]);
        let st = mb.stats();
        assert_eq!(
            (st.frames, st.segments, st.matched, st.modified),
            (18, 18, 6, 1)
        );
    }
}

#[test]
fn corrupt_with_fixed_offset_and_mask() {
    let mut mb = CorruptPayload::probability(1.0).at(3).mask(0xff);
    for payload in [PAYLOAD, &b"ab"[..]] {
        let f = frame_vlan(C6, S6, &[42], &data(1, 80, 1001, 1, payload));
        let (_, out) = run(&mut mb, &f);
        let at = one_difference(&f, &out);
        let want = segment(&f).0.segment.end - payload.len() + 3.min(payload.len() - 1);
        assert_eq!((at, f[at] ^ out[at]), (want, 0xff));
        assert!(verifies(&out));
    }
    assert_eq!(mb.corrupted, [(SubflowSeq(1001), 3), (SubflowSeq(1001), 1)]);
}

#[test]
fn corrupt_by_probability_is_reproducible() {
    let frames: Vec<Vec<u8>> = (0..200u32)
        .map(|k| frame(C4, S4, &data(1, 80, 1001 + 62 * k, 1, PAYLOAD)))
        .collect();
    let pass = |p: f64, seed: u64| {
        let mut mb = CorruptPayload::probability(p);
        let mut rng = Rng::new(seed);
        for f in &frames {
            let mut out = f.clone();
            mb.process(Instant::ZERO, &mut rng, &mut out);
            assert!(verifies(&out));
        }
        mb.corrupted
    };
    assert!(pass(0.0, 1).is_empty());
    assert_eq!(pass(1.0, 1).len(), 200);
    let half = pass(0.5, 9);
    assert!((60..140).contains(&half.len()), "{}", half.len());
    assert_eq!(half, pass(0.5, 9));
    assert_ne!(half, pass(0.5, 10));
}

// ---- RewriteOption and MapTcp ----

#[test]
fn rewrite_option_bytes_in_place() {
    // Downgrade the MP_CAPABLE version of SYNs to 0.
    let mut mb = RewriteOption::new(kind::MPTCP, Which::Syn, |o: &mut [u8]| o[2] &= 0xf0);
    let f = frame(C4, S4, &syn(1, 2));
    let (_, out) = run(&mut mb, &f);
    assert!(verifies(&out));
    let after = parse(&out);
    let [MptcpOption::MpCapable(m)] = after.mptcp.as_slice() else {
        panic!()
    };
    assert_eq!(m.version, 0);
    assert_eq!(
        run(&mut mb, &frame(C4, S4, &third_ack(1, 3, 4))).1,
        frame(C4, S4, &third_ack(1, 3, 4))
    );
    assert_eq!(
        (mb.stats().matched, mb.stats().modified, mb.rewritten()),
        (1, 1, 1)
    );

    // Shorten the DSS data-level length of data segments through the codec.
    let mut mb = RewriteOption::new(kind::MPTCP, Which::Data, |o: &mut [u8]| {
        if let Ok(MptcpOption::Dss(mut d)) = MptcpOption::parse(o, Version::V1) {
            if let Some(m) = d.mapping.as_mut() {
                m.data_len -= 1;
            }
            MptcpOption::Dss(d).emit(o, Version::V1).unwrap();
        }
    })
    .subtype(subtype::DSS)
    .first(1);
    let f = frame(C6, S6, &data(1, 2, 3, 4, PAYLOAD));
    let (_, out) = run(&mut mb, &f);
    assert!(verifies(&out));
    let Some(MptcpOption::Dss(d)) = parse(&out).mptcp.as_slice().first().copied() else {
        panic!()
    };
    assert_eq!(d.mapping.unwrap().data_len, PAYLOAD.len() as u16 - 1);
    assert_eq!(run(&mut mb, &f).1, f, "first(1)");
    assert_eq!((mb.stats().matched, mb.stats().modified), (2, 1));
}

type MapFn = fn(Instant, &mut Rng, &TcpLocation, &mut TcpPacket<&mut [u8]>) -> Verdict;

fn shift_window_and_seq(
    _: Instant,
    _: &mut Rng,
    loc: &TcpLocation,
    p: &mut TcpPacket<&mut [u8]>,
) -> Verdict {
    if loc.dst.is_ipv6() {
        return Verdict::Pass;
    }
    if p.flags().contains(TcpFlags::RST) {
        return Verdict::Drop;
    }
    p.set_window_len(1234);
    let seq = p.seq_number();
    p.set_seq_number(seq + 10);
    Verdict::Pass
}

#[test]
fn map_tcp_rewrites_and_drops() {
    let mut mb = MapTcp::new(shift_window_and_seq as MapFn);
    let f = frame(C4, S4, &data(1, 80, 1001, 1, PAYLOAD));
    let (v, out) = run(&mut mb, &f);
    assert_eq!(v, Verdict::Pass);
    assert!(verifies(&out));
    let r = parse(&out);
    assert_eq!((r.window_len, r.seq_number), (1234, SubflowSeq(1011)));
    assert_eq!(r.payload, PAYLOAD);
    // Untouched IPv6: handed over, not modified.
    let f6 = frame(C6, S6, &syn(1, 2));
    assert_eq!(run(&mut mb, &f6).1, f6);
    let mut rst = base(1, 80, 5, None);
    rst.flags = TcpFlags::RST;
    assert_eq!(run(&mut mb, &frame(C4, S4, &rst)).0, Verdict::Drop);
    assert_eq!(run(&mut mb, &[0u8; 60]).0, Verdict::Pass);
    let st = mb.stats();
    assert_eq!(
        (st.frames, st.segments, st.matched, st.modified),
        (4, 3, 3, 1)
    );
    assert_eq!(mb.dropped, 1);

    // A closure that writes the checksum itself keeps its value.
    let mut mb = MapTcp::new(
        |_, _: &mut Rng, _: &TcpLocation, p: &mut TcpPacket<&mut [u8]>| {
            p.set_window_len(7);
            p.set_checksum(0xdead);
            Verdict::Pass
        },
    );
    let (_, out) = run(&mut mb, &f);
    assert_eq!(
        TcpPacket::new_checked(segment(&out).1).unwrap().checksum(),
        0xdead
    );
}

// ---- In a network ----

/// A host that sends what a test queues and keeps what it receives.
#[derive(Debug, Default)]
struct Manual {
    out: Vec<Vec<u8>>,
    got: Vec<Vec<u8>>,
}

impl Host for Manual {
    fn handle_frame(&mut self, _now: Instant, _iface: usize, frame: &[u8]) {
        self.got.push(frame.to_vec());
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        for f in self.out.drain(..) {
            emit(0, &f);
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn middleboxes_on_a_link() {
    let mut net = Network::new(3);
    let client = net.add_host(Manual::default());
    let server = net.add_host(Manual::default());
    let l = net.link(client, 0, server, 0, LinkConfig::new());
    // Client to server: strip MP_CAPABLE from the third ACK, corrupt the second data
    // segment. Server to client: strip it from the first SYN/ACK only.
    net.add_middlebox(l, Dir::Forward, StripOption::mptcp(Which::ThirdAck));
    net.add_middlebox(l, Dir::Forward, CorruptPayload::nth(1));
    net.add_middlebox(l, Dir::Backward, StripOption::mptcp(Which::SynAck).first(1));
    net.add_middlebox(l, Dir::Backward, MapTcp::new(shift_window_and_seq as MapFn));
    let up = [
        frame(C4, S4, &syn(40000, 1000)),
        frame(C4, S4, &third_ack(40000, 1001, 5001)),
        frame(C4, S4, &data(40000, 80, 1001, 5001, PAYLOAD)),
        frame(C4, S4, &data(40000, 80, 1063, 5001, PAYLOAD)),
    ];
    let down = [
        frame(S4, C4, &syn_ack(40000, 5000, 1001)),
        frame(S4, C4, &syn_ack(40000, 5000, 1001)),
    ];
    net.host_mut(client).out.extend(up.iter().cloned());
    net.host_mut(server).out.extend(down.iter().cloned());
    net.run_until_idle(Instant::from_secs(1));

    let got = &net.host(server).got;
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], up[0]);
    assert!(parse(&got[1]).mptcp.is_empty());
    assert_eq!(got[2], up[2]);
    one_difference(&got[3], &up[3]);
    assert!(got.iter().all(|f| verifies(f)));
    assert!(dss_ok(&got[2]) && !dss_ok(&got[3]));

    let got = &net.host(client).got;
    assert!(parse(&got[0]).mptcp.is_empty());
    assert_eq!(parse(&got[1]).mptcp.len(), 1);
    assert!(got
        .iter()
        .all(|f| verifies(f) && parse(f).window_len == 1234));

    let strip = net
        .middlebox::<StripOption>(l, Dir::Forward, 0)
        .unwrap()
        .stats();
    assert_eq!((strip.segments, strip.matched, strip.modified), (4, 1, 1));
    let corrupt = net.middlebox::<CorruptPayload>(l, Dir::Forward, 1).unwrap();
    assert_eq!(corrupt.corrupted.len(), 1);
    assert_eq!(corrupt.corrupted[0].0, SubflowSeq(1063));
    let back = net.middlebox::<StripOption>(l, Dir::Backward, 0).unwrap();
    assert_eq!((back.stats().matched, back.stripped()), (2, 1));
    let map = net.middlebox::<MapTcp<MapFn>>(l, Dir::Backward, 1).unwrap();
    assert_eq!(map.stats().modified, 2);
}

#[test]
fn non_tcp_traffic_passes() {
    let mut net = Network::new(1);
    let a = net.add_host(toy::Pacer::new(
        0,
        100,
        20,
        crate::time::Duration::from_millis(1),
        Instant::ZERO,
    ));
    let b = net.add_host(toy::Sink::new());
    let l = net.link(a, 0, b, 0, LinkConfig::new());
    net.add_middlebox(l, Dir::Forward, StripOption::mptcp(Which::All));
    net.add_middlebox(l, Dir::Forward, CorruptPayload::probability(1.0));
    net.run_until_idle(Instant::from_secs(1));
    assert_eq!(net.host(b).seqs(), (0..20).collect::<Vec<_>>());
    let st = net
        .middlebox::<StripOption>(l, Dir::Forward, 0)
        .unwrap()
        .stats();
    assert_eq!((st.frames, st.segments), (20, 0));
}

// ---- Properties ----

fn any_valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let reprs = prop_oneof![
        (any::<u16>(), any::<u32>()).prop_map(|(p, s)| syn(p, s)),
        (any::<u16>(), any::<u32>(), any::<u32>()).prop_map(|(p, s, a)| syn_ack(p, s, a)),
        (any::<u16>(), any::<u32>(), any::<u32>()).prop_map(|(p, s, a)| third_ack(p, s, a)),
        (any::<u16>(), any::<u32>(), 1usize..PAYLOAD.len()).prop_map(|(p, s, n)| data(
            p,
            80,
            s,
            1,
            &PAYLOAD[..n]
        )),
        (any::<u16>(), any::<u32>()).prop_map(|(p, s)| dss_ack(p, s, 1)),
    ];
    (reprs, any::<bool>(), 0usize..2).prop_map(|(r, v6, tags)| {
        let (c, s) = if v6 { (C6, S6) } else { (C4, S4) };
        frame_vlan(c, s, &[7, 8][..tags], &r)
    })
}

/// Every kind of middlebox here, fed the same frames.
type Process = Box<dyn FnMut(&mut Rng, &mut Vec<u8>) -> Verdict>;

fn all_middleboxes() -> Vec<Process> {
    let mut strip = StripOption::mptcp(Which::All);
    let mut third = StripOption::mptcp(Which::ThirdAck);
    let mut corrupt = CorruptPayload::probability(0.7);
    let mut rewrite = RewriteOption::new(kind::MPTCP, Which::All, |o: &mut [u8]| {
        for b in o.iter_mut().skip(2) {
            *b = b.wrapping_mul(3);
        }
        o[1] = 1;
    });
    let mut map = MapTcp::new(
        |_, rng: &mut Rng, _: &TcpLocation, p: &mut TcpPacket<&mut [u8]>| {
            p.set_header_len(rng.below(256) as u8);
            Verdict::Pass
        },
    );
    vec![
        Box::new(move |r, f| strip.process(Instant::ZERO, r, f)),
        Box::new(move |r, f| third.process(Instant::ZERO, r, f)),
        Box::new(move |r, f| corrupt.process(Instant::ZERO, r, f)),
        Box::new(move |r, f| rewrite.process(Instant::ZERO, r, f)),
        Box::new(move |r, f| map.process(Instant::ZERO, r, f)),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(frames in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..120), 1..8)) {
        let mut rng = Rng::new(1);
        let mut boxes = all_middleboxes();
        for f in &frames {
            for mb in boxes.iter_mut() {
                let mut out = f.clone();
                prop_assert_eq!(mb(&mut rng, &mut out), Verdict::Pass);
                if locate_tcp(f).is_none() {
                    prop_assert_eq!(&out, f);
                }
                prop_assert_eq!(out.len(), f.len());
            }
        }
    }

    #[test]
    fn mangled_frames_never_panic(
        f in any_valid_frame(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut f = f;
        for (at, v) in edits {
            let i = at.index(f.len());
            f[i] = v;
        }
        if do_cut {
            f.truncate(cut.index(f.len() + 1));
        }
        let mut rng = Rng::new(2);
        for mb in all_middleboxes().iter_mut() {
            let mut out = f.clone();
            mb(&mut rng, &mut out);
            prop_assert_eq!(out.len(), f.len());
            if locate_tcp(&f).is_none() {
                prop_assert_eq!(&out, &f);
            }
        }
    }

    /// Whatever a closure does to the segment (the checksum field aside), the checksum
    /// verifies afterwards exactly when it did before.
    #[test]
    fn checksum_validity_is_preserved(
        f in any_valid_frame(),
        writes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        break_it in any::<bool>(),
    ) {
        let mut f = f;
        let (loc, _) = segment(&f);
        if break_it {
            f[loc.segment.start + 17] ^= 0x40;
        }
        let before = verifies(&f);
        prop_assert_eq!(before, !break_it);
        let mut mb = MapTcp::new(move |_, _: &mut Rng, _: &TcpLocation, p: &mut TcpPacket<&mut [u8]>| {
            let seg = p.payload_mut().len() + usize::from(p.header_len());
            for (at, v) in &writes {
                let i = at.index(seg);
                if i != 16 && i != 17 {
                    // Through the view: header fields by setter, the rest by slice.
                    match i {
                        14 => p.set_window_len(u16::from(*v) << 8 | u16::from(*v)),
                        4 => p.set_seq_number(SubflowSeq(u32::from(*v) * 0x0101_0101)),
                        _ if i >= usize::from(p.header_len()) => {
                            let h = usize::from(p.header_len());
                            p.payload_mut()[i - h] = *v;
                        }
                        _ if i >= 20 => p.options_mut()[i - 20] = *v,
                        _ => {}
                    }
                }
            }
            Verdict::Pass
        });
        let (_, out) = run(&mut mb, &f);
        prop_assert_eq!(verifies(&out), before);
    }
}
