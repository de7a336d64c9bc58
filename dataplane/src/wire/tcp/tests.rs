//! Tests of the TCP codec: flags, the view, options, the repr, checksums and the
//! option-space policy.
//!
//! The segments marked "Linux 6.18" were captured from this machine's kernel on `lo`
//! (127.0.0.1 and ::1). Loopback leaves the checksum partial (CHECKSUM_PARTIAL), so
//! the fixtures' checksum fields are recomputed with the plain RFC 1071 reference.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::wire::checksum;
use crate::wire::mptcp::{
    AddAddr, Dss, DssMapping, DssSeq, MpCapable, MpJoin, MpPrio, MptcpOption, RemoveAddr, Version,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const A4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 7, 42));
const A6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
const B6: IpAddr = IpAddr::V6(Ipv6Addr::new(
    0xfe80, 0, 0, 0, 0x1234, 0x56ff, 0xfe78, 0x9abc,
));

/// The checksum field the segment should carry, from the RFC 1071 reference over an
/// explicitly built pseudo-header.
fn reference_csum(src: IpAddr, dst: IpAddr, seg: &[u8]) -> u16 {
    let mut v = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            v.extend_from_slice(&s.octets());
            v.extend_from_slice(&d.octets());
            v.extend_from_slice(&[0, 6]);
            v.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            v.extend_from_slice(&s.octets());
            v.extend_from_slice(&d.octets());
            v.extend_from_slice(&(seg.len() as u32).to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, 6]);
        }
        _ => unreachable!(),
    }
    let mut s = seg.to_vec();
    s[16] = 0;
    s[17] = 0;
    v.extend_from_slice(&s);
    checksum::reference(&v)
}

/// A fixture with its checksum fixed up.
fn fixture(src: IpAddr, dst: IpAddr, h: &str) -> Vec<u8> {
    let mut seg = hex(h);
    let c = reference_csum(src, dst, &seg);
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    seg
}

// Linux 6.18, plain TCP over 127.0.0.1, port 47125.
const TCP_SYN: &str = "a0c6b815 f14799f7 00000000 a002ffd7 fe300000
                       0204ffd7 0402080a a26a4976 00000000 0103030a";
const TCP_SYNACK: &str = "b815a0c6 365083b3 f14799f8 a012ffcb fe300000
                          0204ffd7 0402080a eedbcd9e a26a4976 0103030a";
const TCP_ACK: &str = "a0c6b815 f14799f8 365083b4 80100040 fe280000
                       0101080a a26a4976 eedbcd9e";
const TCP_DATA: &str = "a0c6b815 f14799f8 365083b4 80180040 fe2d0000
                        0101080a a26a4976 eedbcd9e 68656c6c6f";

// Linux 6.18, MPTCP v1 over 127.0.0.1, port 47123.
const MP_SYN: &str = "de22b813 f683c497 00000000 b002ffd7 fe340000
                      0204ffd7 0402080a 07a61e1a 00000000 0103030a 1e040101";
const MP_SYNACK: &str = "b813de22 2ad93fb8 f683c498 d012ffcb fe3c0000
                         0204ffd7 0402080a 1344e2ac 07a61e1a 0103030a
                         1e0c0101 9e1ba42b 7a435e12";
const MP_ACK: &str = "de22b813 f683c498 2ad93fb9 d0100040 fe3c0000
                      0101080a 07a61e1c 1344e2ac 1e140101 61fc87bf 0767bf87
                      9e1ba42b 7a435e12";
/// MP_CAPABLE with data: 22 bytes and two NOPs.
const MP_ACK_DATA: &str = "de22b813 f683c498 2ad93fb9 e0180040 fe450000
                           0101080a 07a61e1c 1344e2ac 1e160101 61fc87bf 0767bf87
                           9e1ba42b 7a435e12 00050101 68656c6c6f";
/// DSS with a 64-bit DATA_ACK only.
const MP_DSS_ACK: &str = "b813de22 2ad93fb9 f683c49d b0100040 fe340000
                          0101080a 1344e2ac 07a61e1c 1e0c2003 46d2133a cdb35cdd";
/// DSS with DATA_ACK and a mapping, no checksum: 26 bytes and two NOPs. 40 bytes.
const MP_DSS_DATA: &str = "b813de22 2ad93fb9 f683c49d f0180040 fe4a0000
                           0101080a 1344e2ac 07a61e1c 1e1a200f 46d2133a cdb35cdd
                           dbf8530c 0bf4b235 00000001 00060101 776f726c6421";

// Linux 6.18, MPTCP v1 over ::1, port 47124.
const MP6_SYN: &str = "c392b814 e05839a1 00000000 b002ffc4 00340000
                       0204ffc4 0402080a 62d73ed8 00000000 0103030a 1e040101";

#[test]
fn flag_letters() {
    let f = |x: TcpFlags| x.letters().as_str().to_owned();
    assert_eq!(f(TcpFlags::SYN | TcpFlags::ACK), "SA");
    assert_eq!(f(TcpFlags::PSH | TcpFlags::ACK), "PA");
    assert_eq!(f(TcpFlags::FIN | TcpFlags::ACK), "FA");
    assert_eq!(f(TcpFlags::RST), "R");
    assert_eq!(f(TcpFlags::empty()), "");
    assert_eq!(f(TcpFlags(0xff)), "FSRPAUEC");
    assert_eq!(f(TcpFlags::CWR | TcpFlags::SYN | TcpFlags::ECE), "SEC");
    assert_eq!(format!("{}", TcpFlags::SYN | TcpFlags::ACK), "SA");
    assert_eq!(format!("{:?}", TcpFlags::RST), "TcpFlags(R)");
    let mut g = TcpFlags::SYN;
    g.insert(TcpFlags::ACK);
    assert!(g.contains(TcpFlags::ACK) && g.intersects(TcpFlags::ACK | TcpFlags::FIN));
    g.remove(TcpFlags::SYN);
    assert_eq!(g, TcpFlags::ACK);
    g.set(TcpFlags::FIN, true);
    assert_eq!(g.bits(), 0x11);
}

#[test]
fn view_accessors_on_linux_syn() {
    let seg = fixture(LO4, LO4, TCP_SYN);
    let p = TcpPacket::new_checked(&seg[..]).unwrap();
    assert_eq!(p.src_port(), 0xa0c6);
    assert_eq!(p.dst_port(), 47125);
    assert_eq!(p.seq_number(), SubflowSeq(0xf14799f7));
    assert_eq!(p.ack_number(), SubflowSeq(0));
    assert_eq!(p.flags(), TcpFlags::SYN);
    assert_eq!(p.header_len(), 40);
    assert_eq!(p.window_len(), 0xffd7);
    assert_eq!(p.urgent_at(), 0);
    assert_eq!(p.options(), &hex(TCP_SYN)[20..]);
    assert!(p.payload().is_empty());
    assert!(p.verify_checksum(LO4, LO4));
    let opts: Vec<_> = p.options_iter().collect::<Result<_>>().unwrap();
    assert_eq!(
        opts,
        [
            TcpOption::MaxSegmentSize(0xffd7),
            TcpOption::SackPermitted,
            TcpOption::Timestamp {
                tsval: 0xa26a4976,
                tsecr: 0
            },
            TcpOption::NoOperation,
            TcpOption::WindowScale(10),
        ]
    );
}

#[test]
fn view_setters() {
    let mut buf = [0u8; 28];
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    p.set_src_port(1);
    p.set_dst_port(2);
    p.set_seq_number(SubflowSeq(3));
    p.set_ack_number(SubflowSeq(4));
    p.set_header_len(24);
    p.set_flags(TcpFlags::PSH | TcpFlags::ACK);
    p.set_window_len(5);
    p.set_checksum(6);
    p.set_urgent_at(7);
    p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
    p.payload_mut().copy_from_slice(b"data");
    assert_eq!(
        buf,
        [
            0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0x60, 0x18, 0, 5, 0, 6, 0, 7, 1, 1, 1, 0, b'd',
            b'a', b't', b'a'
        ]
    );
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    assert_eq!(p.payload(), b"data");
    assert_eq!(p.options(), [1, 1, 1, 0]);
}

#[test]
fn new_checked_errors() {
    assert_eq!(
        TcpPacket::new_checked(&[0u8; 19][..]).unwrap_err(),
        Error::Truncated
    );
    let mut b = [0u8; 20];
    b[12] = 0x40; // data offset 4
    assert_eq!(
        TcpPacket::new_checked(&b[..]).unwrap_err(),
        Error::Malformed
    );
    b[12] = 0x60; // 24 > 20
    assert_eq!(
        TcpPacket::new_checked(&b[..]).unwrap_err(),
        Error::Truncated
    );
    b[12] = 0x50;
    assert!(TcpPacket::new_checked(&b[..]).is_ok());
    // Shrinking the buffer behind the view's back (via a setter) never panics.
    let mut b = [0u8; 20];
    b[12] = 0x50;
    let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
    p.set_header_len(60);
    assert!(p.options().is_empty());
    assert!(p.payload().is_empty());
    assert!(p.options_mut().is_empty());
}

#[test]
fn repr_parse_and_emit_linux_plain_tcp_byte_exact() {
    for (h, flags) in [
        (TCP_SYN, TcpFlags::SYN),
        (TCP_SYNACK, TcpFlags::SYN | TcpFlags::ACK),
        (TCP_ACK, TcpFlags::ACK),
        (TCP_DATA, TcpFlags::PSH | TcpFlags::ACK),
    ] {
        let seg = fixture(LO4, LO4, h);
        let p = TcpPacket::new_checked(&seg[..]).unwrap();
        let r = TcpRepr::parse(&p, LO4, LO4, true, Version::V1).unwrap();
        assert_eq!(r.flags, flags);
        assert_eq!(r.ack_number.is_some(), flags.contains(TcpFlags::ACK));
        assert!(r.stats.is_clean());
        assert!(r.timestamp.is_some());
        assert_eq!(r.buffer_len(), seg.len());
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), LO4, LO4, true)
            .unwrap();
        assert_eq!(out, seg, "{h}");
    }
    let seg = fixture(LO4, LO4, TCP_SYN);
    let r = TcpRepr::parse(
        &TcpPacket::new_checked(&seg[..]).unwrap(),
        LO4,
        LO4,
        true,
        Version::V1,
    )
    .unwrap();
    assert_eq!(
        r,
        TcpRepr {
            src_port: 0xa0c6,
            dst_port: 47125,
            flags: TcpFlags::SYN,
            seq_number: SubflowSeq(0xf14799f7),
            ack_number: None,
            window_len: 0xffd7,
            window_scale: Some(10),
            max_seg_size: Some(0xffd7),
            sack_permitted: true,
            timestamp: Some(TcpTimestamp {
                tsval: 0xa26a4976,
                tsecr: 0
            }),
            ..TcpRepr::default()
        }
    );
    let seg = fixture(LO4, LO4, TCP_DATA);
    let r = TcpRepr::parse(
        &TcpPacket::new_checked(&seg[..]).unwrap(),
        LO4,
        LO4,
        true,
        Version::V1,
    )
    .unwrap();
    assert_eq!(r.payload, b"hello");
    assert_eq!(r.ack_number, Some(SubflowSeq(0x365083b4)));
    assert_eq!(r.segment_len(), 5);
}

#[test]
fn layouts_of_every_base_combination() {
    let ts = Some(TcpTimestamp {
        tsval: 0x01020304,
        tsecr: 0x05060708,
    });
    let cases: &[(TcpRepr, &str)] = &[
        (
            TcpRepr {
                timestamp: ts,
                ..TcpRepr::default()
            },
            "0101080a 01020304 05060708",
        ),
        (
            TcpRepr {
                sack_permitted: true,
                ..TcpRepr::default()
            },
            "01010402",
        ),
        (
            TcpRepr {
                max_seg_size: Some(1460),
                sack_permitted: true,
                window_scale: Some(7),
                ..TcpRepr::default()
            },
            "020405b4 01010402 01030307",
        ),
        (
            TcpRepr {
                max_seg_size: Some(1460),
                sack_permitted: true,
                timestamp: ts,
                window_scale: Some(7),
                ..TcpRepr::default()
            },
            "020405b4 0402080a 01020304 05060708 01030307",
        ),
        (
            TcpRepr {
                timestamp: ts,
                sack_ranges: [
                    Some((SubflowSeq(0x10), SubflowSeq(0x20))),
                    Some((SubflowSeq(0x30), SubflowSeq(0x40))),
                    None,
                    None,
                ],
                ..TcpRepr::default()
            },
            "0101080a 01020304 05060708 01010512 00000010 00000020 00000030 00000040",
        ),
    ];
    for (r, want) in cases {
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), A4, B4, true)
            .unwrap();
        assert_eq!(&out[20..], &hex(want)[..]);
        assert_eq!(out[12] >> 4, (r.header_len() / 4) as u8);
        let p = TcpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, A4, B4, true, Version::V1).unwrap(), *r);
    }
}

#[test]
fn option_parse_cases() {
    // Good options.
    let (rest, o) = TcpOption::parse(&[2, 4, 5, 0xb4, 9]).unwrap();
    assert_eq!((rest, o), (&[9u8][..], TcpOption::MaxSegmentSize(1460)));
    let (_, o) = TcpOption::parse(&[3, 3, 14]).unwrap();
    assert_eq!(o, TcpOption::WindowScale(14));
    let (_, o) = TcpOption::parse(&[0, 2, 4]).unwrap();
    assert_eq!(o, TcpOption::EndOfList);
    let (_, o) = TcpOption::parse(&[30, 4, 0x01, 0x01]).unwrap();
    assert_eq!(o, TcpOption::Mptcp(&[30, 4, 1, 1]));
    let (_, o) = TcpOption::parse(&[0xfe, 4, 0xab, 0xcd]).unwrap();
    assert_eq!(
        o,
        TcpOption::Unknown {
            kind: 0xfe,
            data: &[0xab, 0xcd]
        }
    );
    let (_, o) = TcpOption::parse(&[0x22, 2]).unwrap();
    assert_eq!(
        o,
        TcpOption::Unknown {
            kind: 0x22,
            data: &[]
        }
    );
    for n in 1..=4usize {
        let mut b = vec![5, (2 + 8 * n) as u8];
        for i in 0..n as u32 {
            b.extend_from_slice(&(i * 100).to_be_bytes());
            b.extend_from_slice(&(i * 100 + 50).to_be_bytes());
        }
        let (rest, o) = TcpOption::parse(&b).unwrap();
        assert!(rest.is_empty());
        let TcpOption::SackRange(blocks) = o else {
            panic!()
        };
        assert_eq!(blocks.iter().flatten().count(), n);
        assert_eq!(
            blocks[n - 1],
            Some((
                SubflowSeq((n as u32 - 1) * 100),
                SubflowSeq((n as u32 - 1) * 100 + 50)
            ))
        );
        let mut out = vec![0; b.len()];
        assert_eq!(o.emit(&mut out).unwrap(), b.len());
        assert_eq!(out, b);
    }

    // Malformed: wrong length for a known kind, length below 2, past the end.
    for bad in [
        &[2u8, 3, 0][..],
        &[2, 5, 0, 0, 0],
        &[3, 4, 0, 0],
        &[4, 3, 0],
        &[8, 9, 0, 0, 0, 0, 0, 0, 0],
        &[5, 2],
        &[5, 9, 0, 0, 0, 0, 0, 0, 0],
        &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[9, 1],
        &[30, 0],
    ] {
        assert_eq!(
            TcpOption::parse(bad).unwrap_err(),
            Error::Malformed,
            "{bad:?}"
        );
    }
    let mut five = vec![5u8, 42];
    five.resize(42, 0);
    assert_eq!(TcpOption::parse(&five).unwrap_err(), Error::Malformed);
    for short in [&[][..], &[2u8], &[2, 4, 5], &[8, 10, 0, 0], &[0x99, 4, 0]] {
        assert_eq!(
            TcpOption::parse(short).unwrap_err(),
            Error::Truncated,
            "{short:?}"
        );
    }
}

#[test]
fn option_emit_cases() {
    let mut out = [0u8; 12];
    for (o, want) in [
        (TcpOption::NoOperation, &[1u8][..]),
        (TcpOption::EndOfList, &[0]),
        (TcpOption::MaxSegmentSize(536), &[2, 4, 2, 0x18]),
        (TcpOption::WindowScale(3), &[3, 3, 3]),
        (TcpOption::SackPermitted, &[4, 2]),
        (
            TcpOption::Timestamp { tsval: 1, tsecr: 2 },
            &[8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        ),
        (TcpOption::Mptcp(&[30, 4, 1, 1]), &[30, 4, 1, 1]),
        (
            TcpOption::Unknown {
                kind: 0xfd,
                data: &[7],
            },
            &[0xfd, 3, 7],
        ),
    ] {
        let n = o.emit(&mut out).unwrap();
        assert_eq!(n, o.buffer_len());
        assert_eq!(&out[..n], want);
        assert_eq!(TcpOption::parse(want).unwrap().1, o);
    }
    assert_eq!(
        TcpOption::MaxSegmentSize(1).emit(&mut out[..3]),
        Err(Error::NoSpace)
    );
    assert_eq!(
        TcpOption::SackRange([None; 4]).emit(&mut out),
        Err(Error::Malformed)
    );
    assert_eq!(
        TcpOption::Mptcp(&[30, 5, 1, 1]).emit(&mut out),
        Err(Error::Malformed)
    );
    assert_eq!(
        TcpOption::Mptcp(&[29, 4, 1, 1]).emit(&mut out),
        Err(Error::Malformed)
    );
}

#[test]
fn iterator_skips_unknown_and_handles_malformed() {
    // Unknown kinds are skipped by their length; parsing goes on.
    let area = [0x99, 4, 0xaa, 0xbb, 1, 3, 3, 7, 0x22, 2];
    let got: Vec<_> = TcpOptionsIter::new(&area).collect();
    assert_eq!(
        got,
        [
            Ok(TcpOption::Unknown {
                kind: 0x99,
                data: &[0xaa, 0xbb]
            }),
            Ok(TcpOption::NoOperation),
            Ok(TcpOption::WindowScale(7)),
            Ok(TcpOption::Unknown {
                kind: 0x22,
                data: &[]
            }),
        ]
    );
    // A known kind with a usable but wrong length: reported, skipped, parsing goes on.
    let area = [2, 3, 0, 3, 3, 7];
    let got: Vec<_> = TcpOptionsIter::new(&area).collect();
    assert_eq!(got, [Err(Error::Malformed), Ok(TcpOption::WindowScale(7))]);
    // Length below 2: one error, then stop.
    let area = [2, 1, 3, 3, 7];
    let got: Vec<_> = TcpOptionsIter::new(&area).collect();
    assert_eq!(got, [Err(Error::Malformed)]);
    let area = [3, 0, 3, 3, 7];
    assert_eq!(TcpOptionsIter::new(&area).count(), 1);
    // Past the end: one error, then stop.
    let area = [1, 8, 10, 0, 0];
    let got: Vec<_> = TcpOptionsIter::new(&area).collect();
    assert_eq!(got, [Ok(TcpOption::NoOperation), Err(Error::Truncated)]);
    let area = [1, 1, 8];
    let got: Vec<_> = TcpOptionsIter::new(&area).collect();
    assert_eq!(
        got,
        [
            Ok(TcpOption::NoOperation),
            Ok(TcpOption::NoOperation),
            Err(Error::Truncated)
        ]
    );
    // EOL ends the list; what follows is padding, even garbage.
    let area = [1, 0, 2, 99, 0];
    let got: Vec<_> = TcpOptionsIter::new(&area).collect();
    assert_eq!(got, [Ok(TcpOption::NoOperation), Ok(TcpOption::EndOfList)]);
}

#[test]
fn repr_counts_malformed_options_and_still_parses() {
    // MSS with a bad length (skipped), then a good WS, then a silly option that ends it.
    let mut seg = hex("00010002 00000001 00000000 80020100 00000000
                       02030001 03030502 01000000");
    let c = reference_csum(A4, B4, &seg);
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    let p = TcpPacket::new_checked(&seg[..]).unwrap();
    let r = TcpRepr::parse(&p, A4, B4, true, Version::V1).unwrap();
    assert_eq!(r.max_seg_size, None);
    assert_eq!(r.window_scale, Some(5));
    assert_eq!(r.stats.malformed, 2);
    assert_eq!(r.stats.mptcp_malformed, 0);
    // A malformed MPTCP option (a DSS cut short) is counted; the rest is kept.
    let seg = hex("00010002 00000001 00000000 70100100 00000000
                   1e052000 01010000");
    let p = TcpPacket::new_checked(&seg[..]).unwrap();
    let r = TcpRepr::parse(&p, A4, B4, false, Version::V1).unwrap();
    assert_eq!(r.stats.mptcp_malformed, 1);
    assert_eq!(r.stats.malformed, 0);
    assert!(r.mptcp.is_empty());
    assert_eq!(r.ack_number, Some(SubflowSeq(0)));
}

#[test]
fn checksum_v4_and_v6() {
    let r = TcpRepr {
        src_port: 4000,
        dst_port: 80,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        seq_number: SubflowSeq(0xdeadbeef),
        ack_number: Some(SubflowSeq(0x01020304)),
        window_len: 1000,
        timestamp: Some(TcpTimestamp {
            tsval: 9,
            tsecr: 10,
        }),
        payload: b"odd-length payload!",
        ..TcpRepr::default()
    };
    for (src, dst) in [(A4, B4), (B4, A4), (A6, B6), (LO6, A6)] {
        let mut out = vec![0u8; r.buffer_len()];
        let mut p = TcpPacket::new_unchecked(&mut out[..]);
        r.emit(&mut p, src, dst, true).unwrap();
        assert!(p.verify_checksum(src, dst));
        assert_eq!(p.checksum(), reference_csum(src, dst, &out));
        let p = TcpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, src, dst, true, Version::V1).unwrap(), r);
        // Wrong addresses, or a flipped bit, and the checksum fails.
        assert!(!p.verify_checksum(dst, dst) || src == dst);
        let mut bad = out.clone();
        *bad.last_mut().unwrap() ^= 0x40;
        let p = TcpPacket::new_checked(&bad[..]).unwrap();
        assert!(!p.verify_checksum(src, dst));
        assert_eq!(
            TcpRepr::parse(&p, src, dst, true, Version::V1),
            Err(Error::Checksum)
        );
        assert!(TcpRepr::parse(&p, src, dst, false, Version::V1).is_ok());
        // fill_checksum on the view agrees.
        let mut again = out.clone();
        again[16] = 0x55;
        TcpPacket::new_unchecked(&mut again[..]).fill_checksum(src, dst);
        assert_eq!(again, out);
    }
    // Without fill_checksum the field stays 0 (offload).
    let mut out = vec![0xffu8; r.buffer_len()];
    r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), A4, B4, false)
        .unwrap();
    assert_eq!(&out[16..18], &[0, 0]);
}

#[test]
fn checksum_mixed_families_is_a_bug() {
    let seg = fixture(LO4, LO4, TCP_ACK);
    let p = TcpPacket::new_checked(&seg[..]).unwrap();
    assert!(!p.verify_checksum(LO4, LO6));
    assert!(!p.verify_checksum(LO6, LO4));
    let mut copy = seg.clone();
    TcpPacket::new_unchecked(&mut copy[..]).fill_checksum(LO6, LO4);
    assert_eq!(copy, seg);
    assert_eq!(
        TcpRepr::parse(&p, LO4, LO6, true, Version::V1),
        Err(Error::Checksum)
    );
}

#[test]
fn checksum_linux_v6_fixture() {
    let seg = fixture(LO6, LO6, MP6_SYN);
    let p = TcpPacket::new_checked(&seg[..]).unwrap();
    assert!(p.verify_checksum(LO6, LO6));
    assert!(!p.verify_checksum(LO4, LO4));
}

#[test]
fn emit_errors() {
    let r = TcpRepr {
        payload: b"abc",
        max_seg_size: Some(1),
        ..TcpRepr::default()
    };
    let mut out = vec![0u8; r.buffer_len() - 1];
    assert_eq!(
        r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), A4, B4, true),
        Err(Error::NoSpace)
    );
    // A longer buffer is fine: the segment is its first buffer_len() bytes.
    let mut out = vec![0xeeu8; r.buffer_len() + 3];
    r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), A4, B4, true)
        .unwrap();
    let n = r.buffer_len();
    assert!(TcpPacket::new_checked(&out[..n])
        .unwrap()
        .verify_checksum(A4, B4));
    assert_eq!(&out[n..], [0xee; 3]);
    // Options past 40 bytes: refused.
    let r = TcpRepr {
        max_seg_size: Some(1),
        timestamp: Some(TcpTimestamp::default()),
        window_scale: Some(1),
        sack_ranges: [Some((SubflowSeq(1), SubflowSeq(2))); 4],
        ..TcpRepr::default()
    };
    assert_eq!(r.options_len(), 20 + 36);
    let mut out = vec![0u8; 200];
    assert_eq!(
        r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), A4, B4, true),
        Err(Error::NoSpace)
    );
}

fn dss_full() -> MptcpOption<'static> {
    // 64-bit DATA_ACK and 64-bit mapping without checksum: 26 bytes, 28 with padding.
    MptcpOption::Dss(Dss {
        data_fin: false,
        data_ack: Some(DssSeq {
            value: 0x1122334455667788,
            wide: true,
        }),
        mapping: Some(DssMapping {
            dsn: DssSeq {
                value: 0x99aabbccddeeff00,
                wide: true,
            },
            ssn: 1,
            data_len: 1400,
            checksum: None,
        }),
    })
}

fn dss_ack() -> MptcpOption<'static> {
    MptcpOption::Dss(Dss {
        data_fin: false,
        data_ack: Some(DssSeq {
            value: 7,
            wide: true,
        }),
        mapping: None,
    })
}

fn add_addr_v6_hmac() -> MptcpOption<'static> {
    MptcpOption::AddAddr(AddAddr {
        echo: false,
        addr_id: 3,
        addr: A6,
        port: None,
        hmac: Some(0x0102030405060708),
    })
}

fn three_sacks() -> [Option<SackBlock>; 4] {
    [
        Some((SubflowSeq(100), SubflowSeq(200))),
        Some((SubflowSeq(300), SubflowSeq(400))),
        Some((SubflowSeq(500), SubflowSeq(600))),
        None,
    ]
}

fn mptcp_of<'a>(opts: &[MptcpOption<'a>]) -> MptcpOptions<'a> {
    let mut l = MptcpOptions::new();
    for o in opts {
        l.push(*o).unwrap();
    }
    l
}

#[test]
fn fit_ts_and_dss_fill_40_exactly() {
    let mut r = TcpRepr {
        timestamp: Some(TcpTimestamp::default()),
        mptcp: mptcp_of(&[dss_full()]),
        ..TcpRepr::default()
    };
    assert_eq!(r.options_len(), 40);
    let report = r.fit_option_space();
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(r.options_len(), 40);
    assert_eq!(r.header_len(), 60);
}

#[test]
fn fit_sack_shrinks_behind_dss() {
    // TS 12 + DSS 28: nothing left for SACK.
    let mut r = TcpRepr {
        timestamp: Some(TcpTimestamp::default()),
        sack_ranges: three_sacks(),
        mptcp: mptcp_of(&[dss_full()]),
        ..TcpRepr::default()
    };
    assert_eq!(r.options_len(), 12 + 28 + 28);
    let report = r.fit_option_space();
    assert!(report.dropped.is_empty());
    assert_eq!(
        (report.sack_blocks_before, report.sack_blocks_after),
        (3, 0)
    );
    assert_eq!(r.sack_ranges, [None; 4]);
    assert_eq!(r.options_len(), 40);
    // TS 12 + DSS(ack) 12: 16 left, (16 - 4) / 8 = 1 block.
    let mut r = TcpRepr {
        timestamp: Some(TcpTimestamp::default()),
        sack_ranges: three_sacks(),
        mptcp: mptcp_of(&[dss_ack()]),
        ..TcpRepr::default()
    };
    let report = r.fit_option_space();
    assert_eq!(
        (report.sack_blocks_before, report.sack_blocks_after),
        (3, 1)
    );
    assert_eq!(r.sack_ranges[0], three_sacks()[0]);
    assert_eq!(r.sack_blocks(), 1);
    assert_eq!(r.options_len(), 36);
    // Plain TCP with TS: 28 left, three blocks (4 + 24) fit exactly.
    let mut r = TcpRepr {
        timestamp: Some(TcpTimestamp::default()),
        sack_ranges: [Some((SubflowSeq(1), SubflowSeq(2))); 4],
        ..TcpRepr::default()
    };
    let report = r.fit_option_space();
    assert_eq!(
        (report.sack_blocks_before, report.sack_blocks_after),
        (4, 3)
    );
    assert_eq!(r.options_len(), 40);
    // No TS: four blocks fit (36).
    let mut r = TcpRepr {
        sack_ranges: [Some((SubflowSeq(1), SubflowSeq(2))); 4],
        ..TcpRepr::default()
    };
    assert!(r.fit_option_space().is_empty());
}

#[test]
fn fit_dss_dropped_for_add_addr() {
    let mut r = TcpRepr {
        timestamp: Some(TcpTimestamp::default()),
        sack_ranges: three_sacks(),
        mptcp: mptcp_of(&[dss_full(), add_addr_v6_hmac()]),
        ..TcpRepr::default()
    };
    let report = r.fit_option_space();
    assert_eq!(report.dropped.as_slice(), &[dss_full()]);
    assert_eq!(r.mptcp.as_slice(), &[add_addr_v6_hmac()]);
    assert_eq!(report.sack_blocks_after, 0);
    assert_eq!(r.options_len(), 40);
    // A DSS ack (12) and an IPv4 ADD_ADDR with HMAC (16) both fit with TS.
    let add4 = MptcpOption::AddAddr(AddAddr {
        echo: false,
        addr_id: 1,
        addr: B4,
        port: Some(8080),
        hmac: Some(1),
    });
    let mut r = TcpRepr {
        timestamp: Some(TcpTimestamp::default()),
        mptcp: mptcp_of(&[dss_ack(), add4]),
        ..TcpRepr::default()
    };
    assert_eq!(r.options_len(), 12 + 12 + 20);
    let report = r.fit_option_space();
    assert_eq!(report.dropped.as_slice(), &[dss_ack()]);
}

#[test]
fn fit_low_priority_and_handshake_options() {
    // REMOVE_ADDR and MP_PRIO yield to a DSS: TS 12 + DSS 28 = 40.
    let rm = MptcpOption::RemoveAddr(RemoveAddr { addr_ids: &[1, 2] });
    let prio = MptcpOption::MpPrio(MpPrio {
        backup: true,
        addr_id: None,
    });
    let mut r = TcpRepr {
        timestamp: Some(TcpTimestamp::default()),
        mptcp: mptcp_of(&[rm, dss_full(), prio]),
        ..TcpRepr::default()
    };
    let report = r.fit_option_space();
    assert_eq!(report.dropped.as_slice(), &[rm, prio]);
    assert_eq!(r.mptcp.as_slice(), &[dss_full()]);
    // With a short DSS, both fit and the order is preserved.
    let mut r = TcpRepr {
        timestamp: Some(TcpTimestamp::default()),
        mptcp: mptcp_of(&[rm, dss_ack(), prio]),
        ..TcpRepr::default()
    };
    assert!(r.fit_option_space().is_empty());
    assert_eq!(r.mptcp.as_slice(), &[rm, dss_ack(), prio]);
    // MP_JOIN ACK (24) never fits next to MSS + TS + WS (20); the base stays.
    let join = MptcpOption::MpJoin(MpJoin::Ack { hmac: [7; 20] });
    let mut r = TcpRepr {
        max_seg_size: Some(1460),
        timestamp: Some(TcpTimestamp::default()),
        window_scale: Some(7),
        sack_permitted: true,
        mptcp: mptcp_of(&[join]),
        ..TcpRepr::default()
    };
    let report = r.fit_option_space();
    assert_eq!(report.dropped.as_slice(), &[join]);
    assert_eq!(r.options_len(), 20);
    // MP_CAPABLE beats ADD_ADDR.
    let mpc = MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: 1,
        sender_key: Some(1),
        receiver_key: Some(2),
        data_len: Some(5),
        checksum: None,
    });
    let mut r = TcpRepr {
        timestamp: Some(TcpTimestamp::default()),
        mptcp: mptcp_of(&[add_addr_v6_hmac(), mpc]),
        ..TcpRepr::default()
    };
    let report = r.fit_option_space();
    assert_eq!(report.dropped.as_slice(), &[add_addr_v6_hmac()]);
    assert_eq!(r.options_len(), 12 + 24);
}

#[test]
fn mptcp_list() {
    let mut l = MptcpOptions::new();
    assert!(l.is_empty());
    for i in 0..MptcpOptions::CAPACITY {
        l.push(MptcpOption::MpPrio(MpPrio {
            backup: i % 2 == 0,
            addr_id: None,
        }))
        .unwrap();
    }
    assert!(l.is_full());
    assert_eq!(l.push(dss_ack()), Err(dss_ack()));
    assert_eq!(l.len(), 6);
    assert_eq!(l.buffer_len(), 24);
    l.retain(|o| matches!(o, MptcpOption::MpPrio(MpPrio { backup: true, .. })));
    assert_eq!(l.len(), 3);
    assert_eq!((&l).into_iter().count(), 3);
    let mut m = MptcpOptions::new();
    for o in &l {
        m.push(*o).unwrap();
    }
    assert_eq!(l, m);
    l.clear();
    assert_eq!(l, MptcpOptions::default());
    assert_eq!(format!("{l:?}"), "[]");
}

// ---- property tests ----

fn seq() -> impl Strategy<Value = SubflowSeq> {
    any::<u32>().prop_map(SubflowSeq)
}

prop_compose! {
    fn arb_repr()(
        src_port in any::<u16>(),
        dst_port in any::<u16>(),
        flags in any::<u8>(),
        seq_number in seq(),
        ack in proptest::option::of(seq()),
        window_len in any::<u16>(),
        window_scale in proptest::option::of(any::<u8>()),
        max_seg_size in proptest::option::of(any::<u16>()),
        sack_permitted in any::<bool>(),
        sacks in proptest::collection::vec((seq(), seq()), 0..=4),
        timestamp in proptest::option::of((any::<u32>(), any::<u32>())),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) -> (TcpRepr<'static>, Vec<u8>) {
        let mut flags = TcpFlags(flags);
        flags.set(TcpFlags::ACK, ack.is_some());
        let mut sack_ranges = [None; 4];
        for (slot, s) in sack_ranges.iter_mut().zip(sacks) {
            *slot = Some(s);
        }
        let r = TcpRepr {
            src_port, dst_port, flags, seq_number, ack_number: ack, window_len,
            window_scale, max_seg_size, sack_permitted, sack_ranges,
            timestamp: timestamp.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
            ..TcpRepr::default()
        };
        (r, payload)
    }
}

fn any_addrs() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| (IpAddr::V4(a.into()), IpAddr::V4(b.into()))),
        (any::<u128>(), any::<u128>())
            .prop_map(|(a, b)| (IpAddr::V6(a.into()), IpAddr::V6(b.into()))),
    ]
}

proptest! {
    #[test]
    fn round_trip_plain((mut r, payload) in arb_repr(), (src, dst) in any_addrs()) {
        r.payload = &payload;
        let report = r.fit_option_space();
        prop_assert!(report.dropped.is_empty());
        prop_assert!(r.options_len() <= MAX_OPTIONS_LEN);
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), src, dst, true).unwrap();
        let p = TcpPacket::new_checked(&out[..]).unwrap();
        prop_assert_eq!(usize::from(p.header_len()), r.header_len());
        let back = TcpRepr::parse(&p, src, dst, true, Version::V1).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..100),
                                doff in 0u8..16, set_doff in any::<bool>(),
                                cut in any::<usize>(), v0 in any::<bool>()) {
        if set_doff && bytes.len() > 12 {
            bytes[12] = doff << 4 | (bytes[12] & 0xf);
        }
        let version = if v0 { Version::V0 } else { Version::V1 };
        exercise(&bytes, version);
        let cut = cut % (bytes.len() + 1);
        exercise(&bytes[..cut], version);
    }

    #[test]
    fn random_options_never_panic(opts in proptest::collection::vec(
            prop_oneof![Just(1u8), Just(0), Just(2), Just(3), Just(4), Just(5), Just(8),
                        Just(30), any::<u8>()], 0..40),
            v0 in any::<bool>()) {
        // Biased towards known kinds and small lengths so the parsers are reached.
        let mut seg = vec![0u8; 20];
        seg[12] = (((20 + opts.len()) / 4) as u8) << 4;
        seg.extend_from_slice(&opts);
        let version = if v0 { Version::V0 } else { Version::V1 };
        exercise(&seg, version);
        let n = TcpOptionsIter::new(&opts).count();
        prop_assert!(n <= opts.len());
    }

    #[test]
    fn truncated_linux_segments_never_panic(which in 0usize..10, cut in any::<usize>(),
                                            flip in any::<(usize, u8)>()) {
        let all = [TCP_SYN, TCP_SYNACK, TCP_ACK, TCP_DATA, MP_SYN, MP_SYNACK, MP_ACK,
                   MP_ACK_DATA, MP_DSS_ACK, MP_DSS_DATA];
        let mut seg = hex(all[which]);
        let at = flip.0 % seg.len();
        seg[at] ^= flip.1;
        let cut = cut % (seg.len() + 1);
        exercise(&seg[..cut], Version::V1);
    }
}

/// Every accessor and parser on untrusted bytes.
fn exercise(bytes: &[u8], version: Version) {
    let _ = TcpOptionsIter::new(bytes).count();
    let p = TcpPacket::new_unchecked(bytes);
    touch(&p);
    if let Ok(p) = TcpPacket::new_checked(bytes) {
        touch(&p);
        let _ = p.options_iter().count();
        for (src, dst) in [(A4, B4), (A6, B6), (A4, B6)] {
            for verify in [false, true] {
                if let Ok(r) = TcpRepr::parse(&p, src, dst, verify, version) {
                    let _ = (r.header_len(), r.buffer_len(), r.segment_len());
                    let mut r = r;
                    r.fit_option_space();
                    let mut out = vec![0u8; r.buffer_len()];
                    let _ = r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), src, dst, true);
                }
            }
        }
    }
    let mut copy = bytes.to_vec();
    let mut m = TcpPacket::new_unchecked(&mut copy[..]);
    m.fill_checksum(A4, B4);
    let _ = (m.options_mut().len(), m.payload_mut().len());
}

fn touch<T: AsRef<[u8]>>(p: &TcpPacket<T>) {
    let _ = (
        p.src_port(),
        p.dst_port(),
        p.seq_number(),
        p.ack_number(),
        p.flags().letters(),
        p.header_len(),
        p.window_len(),
        p.checksum(),
        p.urgent_at(),
        p.options(),
        p.payload(),
        p.verify_checksum(A4, B4),
        p.verify_checksum(A6, B6),
    );
}
