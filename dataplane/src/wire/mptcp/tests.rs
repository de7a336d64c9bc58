//! Tests of MPTCP option parse/emit: hand-made vectors from the RFC figures, an exhaustive
//! length table per subtype, truncations, and property tests (round trips, random bytes).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const V0: Version = Version::V0;
const V1: Version = Version::V1;

/// Parses `bytes` in `version`, checks the expected value, and checks that emitting it gives
/// `bytes` back.
fn check(bytes: &[u8], version: Version, want: MptcpOption<'_>) {
    let got = MptcpOption::parse(bytes, version).expect("parse");
    assert_eq!(got, want, "parse {bytes:02x?}");
    assert_eq!(got.buffer_len(), bytes.len());
    let mut buf = [0xeeu8; 64];
    let n = got.emit(&mut buf, version).expect("emit");
    assert_eq!(&buf[..n], bytes, "emit {want:?}");
    assert_eq!(buf[n], 0xee, "emit wrote past its length");
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const KEY_A: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
const KEY_B: [u8; 8] = [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10];
const A: u64 = 0x0123_4567_89ab_cdef;
const B: u64 = 0xfedc_ba98_7654_3210;

fn mpc(version: u8, flags: u8, keys: (Option<u64>, Option<u64>)) -> MpCapable {
    MpCapable {
        version,
        flags,
        sender_key: keys.0,
        receiver_key: keys.1,
        data_len: None,
        checksum: None,
    }
}

// ---- MP_CAPABLE (RFC 8684 §3.1, Figure 4) ----

#[test]
fn mp_capable_v1_forms() {
    let syn = [0x1e, 0x04, 0x01, 0x81];
    check(&syn, V1, MptcpOption::MpCapable(mpc(1, 0x81, (None, None))));

    let synack = cat(&[&[0x1e, 0x0c, 0x01, 0x01], &KEY_A]);
    check(
        &synack,
        V1,
        MptcpOption::MpCapable(mpc(1, 0x01, (Some(A), None))),
    );

    let ack = cat(&[&[0x1e, 0x14, 0x01, 0x01], &KEY_A, &KEY_B]);
    check(
        &ack,
        V1,
        MptcpOption::MpCapable(mpc(1, 0x01, (Some(A), Some(B)))),
    );

    let data = cat(&[&[0x1e, 0x16, 0x01, 0x01], &KEY_A, &KEY_B, &[0x05, 0xdc]]);
    let mut want = mpc(1, 0x01, (Some(A), Some(B)));
    want.data_len = Some(1500);
    check(&data, V1, MptcpOption::MpCapable(want));

    let csum = cat(&[
        &[0x1e, 0x18, 0x01, 0x81],
        &KEY_A,
        &KEY_B,
        &[0x00, 0x64, 0xab, 0xcd],
    ]);
    want.flags = 0x81;
    want.data_len = Some(100);
    want.checksum = Some(0xabcd);
    check(&csum, V1, MptcpOption::MpCapable(want));
}

#[test]
fn mp_capable_v0_forms_in_both_versions() {
    // RFC 6824 §3.1: SYN and SYN/ACK carry the sender's key (12), the ACK both (20).
    let syn = cat(&[&[0x1e, 0x0c, 0x00, 0x81], &KEY_A]);
    let ack = cat(&[&[0x1e, 0x14, 0x00, 0x01], &KEY_A, &KEY_B]);
    for v in [V0, V1] {
        // A v1 stack sees the version as on the wire and decides to fall back itself.
        check(
            &syn,
            v,
            MptcpOption::MpCapable(mpc(0, 0x81, (Some(A), None))),
        );
        check(
            &ack,
            v,
            MptcpOption::MpCapable(mpc(0, 0x01, (Some(A), Some(B)))),
        );
    }
    // A future version on a SYN is reported too.
    check(
        &[0x1e, 0x04, 0x0f, 0x01],
        V1,
        MptcpOption::MpCapable(mpc(15, 0x01, (None, None))),
    );
}

#[test]
fn mp_capable_emit_rejects_holes() {
    let bad = [
        (None, Some(B), None, None),
        (Some(A), None, Some(1), None),
        (Some(A), Some(B), None, Some(7)),
        (None, None, None, Some(7)),
    ];
    for (s, r, l, c) in bad {
        let o = MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: 1,
            sender_key: s,
            receiver_key: r,
            data_len: l,
            checksum: c,
        });
        assert_eq!(o.emit(&mut [0; 40], V1), Err(Error::Malformed), "{o:?}");
    }
    let o = MptcpOption::MpCapable(mpc(16, 1, (None, None)));
    assert_eq!(o.emit(&mut [0; 40], V1), Err(Error::Malformed));
}

// ---- MP_JOIN (RFC 8684 §3.2, Figures 5-7) ----

#[test]
fn mp_join_forms() {
    let syn = [
        0x1e, 0x0c, 0x11, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x2a,
    ];
    let want = MptcpOption::MpJoin(MpJoin::Syn {
        backup: true,
        addr_id: 5,
        token: 0xdead_beef,
        nonce: 42,
    });
    let synack = cat(&[&[0x1e, 0x10, 0x10, 0x02], &KEY_B, &[0x12, 0x34, 0x56, 0x78]]);
    let want2 = MptcpOption::MpJoin(MpJoin::SynAck {
        backup: false,
        addr_id: 2,
        hmac: B,
        nonce: 0x1234_5678,
    });
    let hmac: [u8; 20] = core::array::from_fn(|i| i as u8 + 1);
    let ack = cat(&[&[0x1e, 0x18, 0x10, 0x00], &hmac]);
    for v in [V0, V1] {
        check(&syn, v, want);
        check(&synack, v, want2);
        check(&ack, v, MptcpOption::MpJoin(MpJoin::Ack { hmac }));
    }
}

// ---- DSS (RFC 8684 §3.3, Figure 9) ----

fn seq(value: u64, wide: bool) -> DssSeq {
    DssSeq { value, wide }
}

#[test]
fn dss_forms() {
    let ack4 = [0x1e, 0x08, 0x20, 0x01, 0xaa, 0xbb, 0xcc, 0xdd];
    let want = Dss {
        data_fin: false,
        data_ack: Some(seq(0xaabb_ccdd, false)),
        mapping: None,
    };
    check(&ack4, V1, MptcpOption::Dss(want));

    let ack8 = cat(&[&[0x1e, 0x0c, 0x20, 0x03], &KEY_A]);
    let want = Dss {
        data_fin: false,
        data_ack: Some(seq(A, true)),
        mapping: None,
    };
    check(&ack8, V1, MptcpOption::Dss(want));

    // 4-byte DSN mapping, no checksum: 4 + 10.
    let map4 = [
        0x1e, 0x0e, 0x20, 0x04, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01, 0x05, 0xa0,
    ];
    let map = DssMapping {
        dsn: seq(0x1000, false),
        ssn: 1,
        data_len: 1440,
        checksum: None,
    };
    check(
        &map4,
        V1,
        MptcpOption::Dss(Dss {
            data_fin: false,
            data_ack: None,
            mapping: Some(map),
        }),
    );

    // 8-byte DSN mapping with checksum: 4 + 14 + 2 = 20.
    let map8 = cat(&[
        &[0x1e, 0x14, 0x20, 0x0c],
        &KEY_A,
        &[0, 0, 0, 9, 0x00, 0x10, 0xbe, 0xef],
    ]);
    let map = DssMapping {
        dsn: seq(A, true),
        ssn: 9,
        data_len: 16,
        checksum: Some(0xbeef),
    };
    check(
        &map8,
        V1,
        MptcpOption::Dss(Dss {
            data_fin: false,
            data_ack: None,
            mapping: Some(map),
        }),
    );

    // Everything: F, 8-byte DATA_ACK, 8-byte DSN, checksum: 4 + 8 + 14 + 2 = 28.
    let all = cat(&[
        &[0x1e, 0x1c, 0x20, 0x1f],
        &KEY_B,
        &KEY_A,
        &[0, 0, 0, 0, 0, 1, 0x12, 0x34],
    ]);
    let map = DssMapping {
        dsn: seq(A, true),
        ssn: 0,
        data_len: 1,
        checksum: Some(0x1234),
    };
    let want = Dss {
        data_fin: true,
        data_ack: Some(seq(B, true)),
        mapping: Some(map),
    };
    check(&all, V1, MptcpOption::Dss(want));

    // DATA_FIN alone: 4 bytes.
    check(
        &[0x1e, 0x04, 0x20, 0x10],
        V0,
        MptcpOption::Dss(Dss {
            data_fin: true,
            data_ack: None,
            mapping: None,
        }),
    );
}

#[test]
fn dss_reserved_bits_ignored_and_zeroed() {
    // Reserved nibble of byte 2 and bits 5-7 of the flags set; `a` and `m` without A/M.
    let dirty = [0x1e, 0x04, 0x2f, 0xea];
    let o = MptcpOption::parse(&dirty, V1).unwrap();
    assert_eq!(
        o,
        MptcpOption::Dss(Dss {
            data_fin: false,
            data_ack: None,
            mapping: None
        })
    );
    let mut buf = [0; 4];
    o.emit(&mut buf, V1).unwrap();
    assert_eq!(buf, [0x1e, 0x04, 0x20, 0x00]);
}

#[test]
fn dss_checksum_needs_a_mapping() {
    // A DATA_ACK plus two stray bytes: no mapping to hold a checksum.
    assert_eq!(
        MptcpOption::parse(&[0x1e, 0x0a, 0x20, 0x01, 1, 2, 3, 4, 5, 6], V1),
        Err(Error::Malformed)
    );
}

#[test]
fn dss_narrow_emits_low_32_bits() {
    let o = Dss {
        data_fin: false,
        data_ack: Some(seq(0x1_0000_0002, false)),
        mapping: None,
    };
    let mut buf = [0; 8];
    MptcpOption::Dss(o).emit(&mut buf, V1).unwrap();
    assert_eq!(buf, [0x1e, 0x08, 0x20, 0x01, 0, 0, 0, 2]);
}

// ---- ADD_ADDR (RFC 8684 §3.4.1 Figure 12; RFC 6824 §3.4.1 Figure 12) ----

const V6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];

fn add_addr(
    echo: bool,
    id: u8,
    addr: IpAddr,
    port: Option<u16>,
    hmac: Option<u64>,
) -> MptcpOption<'static> {
    MptcpOption::AddAddr(AddAddr {
        echo,
        addr_id: id,
        addr,
        port,
        hmac,
    })
}

#[test]
fn add_addr_v1_forms() {
    let v4 = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1));
    let v6 = IpAddr::V6(Ipv6Addr::from(V6));
    check(
        &[0x1e, 0x08, 0x31, 0x01, 192, 168, 0, 1],
        V1,
        add_addr(true, 1, v4, None, None),
    );
    check(
        &[0x1e, 0x0a, 0x31, 0x01, 192, 168, 0, 1, 0x1f, 0x90],
        V1,
        add_addr(true, 1, v4, Some(8080), None),
    );
    let b = cat(&[&[0x1e, 0x10, 0x30, 0x02, 192, 168, 0, 1], &KEY_A]);
    check(&b, V1, add_addr(false, 2, v4, None, Some(A)));
    let b = cat(&[
        &[0x1e, 0x12, 0x30, 0x02, 192, 168, 0, 1, 0x1f, 0x90],
        &KEY_A,
    ]);
    check(&b, V1, add_addr(false, 2, v4, Some(8080), Some(A)));
    let b = cat(&[&[0x1e, 0x14, 0x31, 0x03], &V6]);
    check(&b, V1, add_addr(true, 3, v6, None, None));
    let b = cat(&[&[0x1e, 0x16, 0x31, 0x03], &V6, &[0x01, 0xbb]]);
    check(&b, V1, add_addr(true, 3, v6, Some(443), None));
    let b = cat(&[&[0x1e, 0x1c, 0x30, 0x03], &V6, &KEY_B]);
    check(&b, V1, add_addr(false, 3, v6, None, Some(B)));
    // IPv6 with port and HMAC: 4 + 16 + 2 + 8 = 30.
    let b = cat(&[&[0x1e, 0x1e, 0x30, 0x03], &V6, &[0x01, 0xbb], &KEY_B]);
    check(&b, V1, add_addr(false, 3, v6, Some(443), Some(B)));
}

#[test]
fn add_addr_v1_echo_decides_hmac() {
    // Echo with an HMAC-sized length, and no echo with an echo-sized length (Linux drops both).
    let b = cat(&[&[0x1e, 0x10, 0x31, 0x02, 10, 0, 0, 1], &KEY_A]);
    assert_eq!(MptcpOption::parse(&b, V1), Err(Error::Malformed));
    assert_eq!(
        MptcpOption::parse(&[0x1e, 0x08, 0x30, 0x01, 10, 0, 0, 1], V1),
        Err(Error::Malformed)
    );
    let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let mut buf = [0; 40];
    assert_eq!(
        add_addr(true, 1, v4, None, Some(1)).emit(&mut buf, V1),
        Err(Error::Malformed)
    );
    assert_eq!(
        add_addr(false, 1, v4, None, None).emit(&mut buf, V1),
        Err(Error::Malformed)
    );
}

#[test]
fn add_addr_v0_forms() {
    let v4 = IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1));
    let v6 = IpAddr::V6(Ipv6Addr::from(V6));
    check(
        &[0x1e, 0x08, 0x34, 0x01, 192, 168, 0, 1],
        V0,
        add_addr(false, 1, v4, None, None),
    );
    check(
        &[0x1e, 0x0a, 0x34, 0x07, 192, 168, 0, 1, 0x1f, 0x90],
        V0,
        add_addr(false, 7, v4, Some(8080), None),
    );
    check(
        &cat(&[&[0x1e, 0x14, 0x36, 0x03], &V6]),
        V0,
        add_addr(false, 3, v6, None, None),
    );
    let b = cat(&[&[0x1e, 0x16, 0x36, 0x03], &V6, &[0x01, 0xbb]]);
    check(&b, V0, add_addr(false, 3, v6, Some(443), None));
    // IPVer must agree with the length.
    assert_eq!(
        MptcpOption::parse(&[0x1e, 0x08, 0x36, 0x01, 1, 2, 3, 4], V0),
        Err(Error::Malformed)
    );
    assert_eq!(
        MptcpOption::parse(&cat(&[&[0x1e, 0x14, 0x34, 0x03], &V6]), V0),
        Err(Error::Malformed)
    );
    // The v0 form is not a v1 form.
    assert_eq!(
        MptcpOption::parse(&[0x1e, 0x08, 0x34, 0x01, 192, 168, 0, 1], V1),
        Err(Error::Malformed)
    );
    // v0 has no echo and no HMAC.
    let mut buf = [0; 40];
    assert_eq!(
        add_addr(true, 1, v4, None, None).emit(&mut buf, V0),
        Err(Error::Malformed)
    );
    assert_eq!(
        add_addr(false, 1, v4, None, Some(1)).emit(&mut buf, V0),
        Err(Error::Malformed)
    );
}

// ---- REMOVE_ADDR, MP_PRIO, MP_FAIL, MP_FASTCLOSE, MP_TCPRST, unknown ----

#[test]
fn remove_addr_forms() {
    for v in [V0, V1] {
        check(
            &[0x1e, 0x04, 0x40, 0x05],
            v,
            MptcpOption::RemoveAddr(RemoveAddr { addr_ids: &[5] }),
        );
        check(
            &[0x1e, 0x06, 0x40, 1, 2, 3],
            v,
            MptcpOption::RemoveAddr(RemoveAddr {
                addr_ids: &[1, 2, 3],
            }),
        );
    }
    let empty = MptcpOption::RemoveAddr(RemoveAddr { addr_ids: &[] });
    assert_eq!(empty.emit(&mut [0; 8], V1), Err(Error::Malformed));
    let huge = [0u8; 253];
    let o = MptcpOption::RemoveAddr(RemoveAddr { addr_ids: &huge });
    assert_eq!(
        o.emit(&mut [0; 300], V1),
        Err(Error::Malformed),
        "length byte overflow"
    );
}

#[test]
fn mp_prio_forms() {
    for v in [V0, V1] {
        check(
            &[0x1e, 0x03, 0x51],
            v,
            MptcpOption::MpPrio(MpPrio {
                backup: true,
                addr_id: None,
            }),
        );
        check(
            &[0x1e, 0x03, 0x50],
            v,
            MptcpOption::MpPrio(MpPrio {
                backup: false,
                addr_id: None,
            }),
        );
        // RFC 6824 §3.3.8: the optional address ID.
        check(
            &[0x1e, 0x04, 0x50, 0x07],
            v,
            MptcpOption::MpPrio(MpPrio {
                backup: false,
                addr_id: Some(7),
            }),
        );
    }
}

#[test]
fn mp_fail_fastclose_tcprst_forms() {
    for v in [V0, V1] {
        check(
            &cat(&[&[0x1e, 0x0c, 0x60, 0x00], &KEY_A]),
            v,
            MptcpOption::MpFail(MpFail { dsn: A }),
        );
        let fc = cat(&[&[0x1e, 0x0c, 0x70, 0x00], &KEY_B]);
        check(
            &fc,
            v,
            MptcpOption::MpFastclose(MpFastclose { receiver_key: B }),
        );
        let rst = MpTcprst {
            flags: tcprst::FLAG_T,
            reason: tcprst::MIDDLEBOX_INTERFERENCE,
        };
        check(&[0x1e, 0x04, 0x81, 0x06], v, MptcpOption::MpTcprst(rst));
        let rst = MpTcprst {
            flags: 0x0f,
            reason: 0xff,
        };
        check(&[0x1e, 0x04, 0x8f, 0xff], v, MptcpOption::MpTcprst(rst));
    }
    let rst = MptcpOption::MpTcprst(MpTcprst {
        flags: 0x10,
        reason: 0,
    });
    assert_eq!(rst.emit(&mut [0; 4], V1), Err(Error::Malformed));
    // Reserved bits of MP_FAIL / MP_FASTCLOSE are ignored on parse.
    let dirty = cat(&[&[0x1e, 0x0c, 0x6f, 0xff], &KEY_A]);
    let o = MptcpOption::parse(&dirty, V1).unwrap();
    assert_eq!(o, MptcpOption::MpFail(MpFail { dsn: A }));
}

#[test]
fn unknown_subtypes() {
    for st in 9..=15u8 {
        let b = [0x1e, 0x05, st << 4 | 0x3, 0xaa, 0xbb];
        check(
            &b,
            V1,
            MptcpOption::Unknown {
                subtype: st,
                data: &b[2..],
            },
        );
        check(
            &[0x1e, 0x03, st << 4],
            V0,
            MptcpOption::Unknown {
                subtype: st,
                data: &[st << 4],
            },
        );
    }
    let mut buf = [0; 8];
    let o = MptcpOption::Unknown {
        subtype: 9,
        data: &[],
    };
    assert_eq!(o.emit(&mut buf, V1), Err(Error::Malformed));
    let o = MptcpOption::Unknown {
        subtype: 16,
        data: &[0],
    };
    assert_eq!(o.emit(&mut buf, V1), Err(Error::Malformed));
    // The subtype nibble wins over the data's first byte.
    let o = MptcpOption::Unknown {
        subtype: 9,
        data: &[0x05, 1],
    };
    assert_eq!(o.emit(&mut buf, V1), Ok(4));
    assert_eq!(buf[..4], [0x1e, 0x04, 0x95, 0x01]);
}

#[test]
fn header_errors() {
    assert_eq!(MptcpOption::parse(&[], V1), Err(Error::Truncated));
    assert_eq!(MptcpOption::parse(&[0x1e], V1), Err(Error::Truncated));
    assert_eq!(MptcpOption::parse(&[0x1e, 0x02], V1), Err(Error::Malformed));
    assert_eq!(MptcpOption::parse(&[0x1e, 0x00], V1), Err(Error::Malformed));
    assert_eq!(
        MptcpOption::parse(&[0x1e, 0x05, 0x81, 0x00], V1),
        Err(Error::Truncated)
    );
    assert_eq!(
        MptcpOption::parse(&[0x1e, 0x03, 0x51, 0x00], V1),
        Err(Error::Malformed)
    );
    assert_eq!(
        MptcpOption::parse(&[0x02, 0x04, 0x01, 0x81], V1),
        Err(Error::Malformed)
    );
}

// ---- Lengths: every subtype, every length, every low nibble (and every DSS flag byte) ----

/// The lengths the RFCs allow, written out independently of the parsers.
fn allowed(st: u8, low: u8, flags: u8, version: Version, len: usize) -> bool {
    match st {
        0 => matches!(len, 4 | 12 | 20 | 22 | 24),
        1 => matches!(len, 12 | 16 | 24),
        2 => {
            let ack = if flags & 1 == 0 {
                0
            } else if flags & 2 == 0 {
                4
            } else {
                8
            };
            let map = if flags & 4 == 0 {
                0
            } else if flags & 8 == 0 {
                10
            } else {
                14
            };
            len == 4 + ack + map || (map != 0 && len == 4 + ack + map + 2)
        }
        3 => match version {
            Version::V1 if low & 1 == 1 => matches!(len, 8 | 10 | 20 | 22),
            Version::V1 => matches!(len, 16 | 18 | 28 | 30),
            Version::V0 => matches!((low, len), (4, 8 | 10) | (6, 20 | 22)),
        },
        4 => len >= 4,
        5 => matches!(len, 3 | 4),
        6 | 7 => len == 12,
        8 => len == 4,
        _ => true,
    }
}

#[test]
fn every_length_of_every_subtype() {
    let mut buf = [0u8; 255];
    let mut out = [0u8; 255];
    for version in [V0, V1] {
        for st in 0..16u8 {
            for low in 0..16u8 {
                let flag_bytes: &[u8] = if st == 2 {
                    &[0, 1, 3, 4, 5, 7, 12, 13, 15, 0x1f, 0xff]
                } else {
                    &[0, 0xff]
                };
                for &flags in flag_bytes {
                    for len in 3..=255usize {
                        buf.fill(0x5a);
                        buf[0] = KIND;
                        buf[1] = len as u8;
                        buf[2] = st << 4 | low;
                        buf[3] = flags;
                        let r = MptcpOption::parse(&buf[..len], version);
                        let ok = allowed(st, low, flags, version, len);
                        assert_eq!(
                            r.is_ok(),
                            ok,
                            "st {st} low {low} flags {flags:#x} len {len} {version:?}: {r:?}"
                        );
                        if let Ok(o) = r {
                            assert_eq!(o.subtype(), st);
                            assert_eq!(o.emit(&mut out, version), Ok(len));
                            assert_eq!(MptcpOption::parse(&out[..len], version), Ok(o));
                        }
                    }
                }
            }
        }
    }
}

// ---- Property tests ----

/// Leaks a test vector so that borrowed options can be `'static` inside strategies.
fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

fn dss_seq() -> impl Strategy<Value = DssSeq> {
    prop_oneof![
        any::<u64>().prop_map(|value| DssSeq { value, wide: true }),
        any::<u32>().prop_map(|v| DssSeq {
            value: u64::from(v),
            wide: false
        }),
    ]
}

fn mp_capable() -> impl Strategy<Value = MpCapable> {
    (
        0u8..16,
        any::<u8>(),
        0usize..5,
        any::<[u64; 2]>(),
        any::<[u16; 2]>(),
    )
        .prop_map(|(version, flags, form, k, d)| MpCapable {
            version,
            flags,
            sender_key: (form >= 1).then_some(k[0]),
            receiver_key: (form >= 2).then_some(k[1]),
            data_len: (form >= 3).then_some(d[0]),
            checksum: (form >= 4).then_some(d[1]),
        })
}

fn mp_join() -> impl Strategy<Value = MpJoin> {
    prop_oneof![
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(
            |(backup, addr_id, token, nonce)| MpJoin::Syn {
                backup,
                addr_id,
                token,
                nonce
            }
        ),
        (any::<bool>(), any::<u8>(), any::<u64>(), any::<u32>()).prop_map(
            |(backup, addr_id, hmac, nonce)| MpJoin::SynAck {
                backup,
                addr_id,
                hmac,
                nonce
            }
        ),
        any::<[u8; 20]>().prop_map(|hmac| MpJoin::Ack { hmac }),
    ]
}

fn dss() -> impl Strategy<Value = Dss> {
    let mapping = (
        dss_seq(),
        any::<u32>(),
        any::<u16>(),
        proptest::option::of(any::<u16>()),
    )
        .prop_map(|(dsn, ssn, data_len, checksum)| DssMapping {
            dsn,
            ssn,
            data_len,
            checksum,
        });
    (
        any::<bool>(),
        proptest::option::of(dss_seq()),
        proptest::option::of(mapping),
    )
        .prop_map(|(data_fin, data_ack, mapping)| Dss {
            data_fin,
            data_ack,
            mapping,
        })
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

fn add_addr_v(version: Version) -> impl Strategy<Value = AddAddr> {
    (
        any::<bool>(),
        any::<u8>(),
        ip(),
        proptest::option::of(any::<u16>()),
        any::<u64>(),
    )
        .prop_map(move |(echo, addr_id, addr, port, h)| {
            let echo = echo && version == Version::V1;
            let hmac = (version == Version::V1 && !echo).then_some(h);
            AddAddr {
                echo,
                addr_id,
                addr,
                port,
                hmac,
            }
        })
}

/// Every variant and every length form that exists in `version`.
fn option(version: Version) -> impl Strategy<Value = MptcpOption<'static>> {
    prop_oneof![
        mp_capable().prop_map(MptcpOption::MpCapable),
        mp_join().prop_map(MptcpOption::MpJoin),
        dss().prop_map(MptcpOption::Dss),
        add_addr_v(version).prop_map(MptcpOption::AddAddr),
        proptest::collection::vec(any::<u8>(), 1..=37)
            .prop_map(|v| MptcpOption::RemoveAddr(RemoveAddr { addr_ids: leak(v) })),
        (any::<bool>(), proptest::option::of(any::<u8>()))
            .prop_map(|(backup, addr_id)| MptcpOption::MpPrio(MpPrio { backup, addr_id })),
        any::<u64>().prop_map(|dsn| MptcpOption::MpFail(MpFail { dsn })),
        any::<u64>()
            .prop_map(|receiver_key| MptcpOption::MpFastclose(MpFastclose { receiver_key })),
        (0u8..16, any::<u8>())
            .prop_map(|(flags, reason)| MptcpOption::MpTcprst(MpTcprst { flags, reason })),
        (9u8..16, proptest::collection::vec(any::<u8>(), 1..=38)).prop_map(|(subtype, mut v)| {
            v[0] = subtype << 4 | (v[0] & 0x0f);
            MptcpOption::Unknown {
                subtype,
                data: leak(v),
            }
        }),
    ]
}

fn versioned_option() -> impl Strategy<Value = (Version, MptcpOption<'static>)> {
    prop_oneof![
        option(V0).prop_map(|o| (V0, o)),
        option(V1).prop_map(|o| (V1, o))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// parse(emit(x)) == x, emit writes exactly buffer_len bytes, a short buffer is NoSpace,
    /// and every truncation of the emitted bytes is an error.
    #[test]
    fn round_trip((version, o) in versioned_option()) {
        let len = o.buffer_len();
        let mut buf = [0xa5u8; 48];
        prop_assert_eq!(o.emit(&mut buf, version), Ok(len));
        prop_assert_eq!(buf[0], KIND);
        prop_assert_eq!(usize::from(buf[1]), len);
        prop_assert_eq!(buf[len], 0xa5);
        prop_assert_eq!(MptcpOption::parse(&buf[..len], version), Ok(o));
        prop_assert_eq!(o.emit(&mut buf[..len - 1], version), Err(Error::NoSpace));
        for cut in 0..len {
            prop_assert!(MptcpOption::parse(&buf[..cut], version).is_err(), "prefix {}", cut);
        }
    }

    /// Random bytes never panic; what parses re-emits to the same length and re-parses equal.
    #[test]
    fn random_bytes(v0 in any::<bool>(), fix in any::<bool>(), mut b in proptest::collection::vec(any::<u8>(), 0..48)) {
        let version = if v0 { V0 } else { V1 };
        if fix && b.len() >= 2 {
            b[0] = KIND;
            b[1] = b.len() as u8;
        }
        if let Ok(o) = MptcpOption::parse(&b, version) {
            let mut out = [0u8; 48];
            prop_assert_eq!(o.emit(&mut out, version), Ok(b.len()));
            prop_assert_eq!(MptcpOption::parse(&out[..b.len()], version), Ok(o));
        }
    }

    /// Emitting an arbitrary, possibly inconsistent value never panics, and whatever it
    /// writes parses.
    #[test]
    fn emit_anything(
        v0 in any::<bool>(),
        c in (any::<u8>(), any::<u8>(), proptest::option::of(any::<u64>()), proptest::option::of(any::<u64>()),
              proptest::option::of(any::<u16>()), proptest::option::of(any::<u16>())),
        a in (any::<bool>(), any::<u8>(), ip(), proptest::option::of(any::<u16>()), proptest::option::of(any::<u64>())),
        r in (any::<u8>(), any::<u8>()),
        cap in 0usize..40,
    ) {
        let version = if v0 { V0 } else { V1 };
        let opts = [
            MptcpOption::MpCapable(MpCapable {
                version: c.0, flags: c.1, sender_key: c.2, receiver_key: c.3, data_len: c.4, checksum: c.5,
            }),
            MptcpOption::AddAddr(AddAddr { echo: a.0, addr_id: a.1, addr: a.2, port: a.3, hmac: a.4 }),
            MptcpOption::MpTcprst(MpTcprst { flags: r.0, reason: r.1 }),
            MptcpOption::Unknown { subtype: r.0, data: &[1, 2, 3] },
        ];
        let mut buf = [0u8; 40];
        for o in opts {
            if let Ok(n) = o.emit(&mut buf[..cap], version) {
                prop_assert_eq!(n, o.buffer_len());
                if matches!(o, MptcpOption::Unknown { subtype: 0..=8, .. }) {
                    continue; // raw bytes under a known subtype: not meant to parse
                }
                let back = MptcpOption::parse(&buf[..n], version);
                if let MptcpOption::Unknown { subtype, .. } = o {
                    // The first data byte's high nibble was replaced by the subtype.
                    prop_assert_eq!(back.map(|b| b.subtype()), Ok(subtype));
                } else {
                    prop_assert_eq!(back, Ok(o));
                }
            }
        }
    }
}
