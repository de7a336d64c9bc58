use super::*;
use crate::mptcp::token::{TokenTable, TOKEN_MAX_RETRIES};
use crate::wire::mptcp::{AddAddr, Dss, DssSeq};
use core::net::{IpAddr, Ipv4Addr};

const CK: u64 = 0x1a9b_0ab9_1341_ed5c;
const SK: u64 = 0xd2e0_a251_2e92_4bd3;

fn keys(list: &'static [u64]) -> impl FnMut() -> u64 {
    let mut i = 0;
    move || {
        let k = list[i % list.len()];
        i += 1;
        k
    }
}

/// Emits then parses an option: what the peer will see.
fn wire(o: MptcpOption<'static>, v: Version) -> (Vec<u8>, MptcpOption<'static>) {
    let mut buf = [0u8; 40];
    let n = o.emit(&mut buf, v).expect("option has a wire form");
    assert_eq!(n, o.buffer_len());
    let bytes = buf[..n].to_vec();
    let parsed = MptcpOption::parse(&bytes, v).expect("our option parses");
    let parsed = match parsed {
        MptcpOption::MpCapable(m) => MptcpOption::MpCapable(m),
        MptcpOption::MpJoin(j) => MptcpOption::MpJoin(j),
        MptcpOption::MpTcprst(r) => MptcpOption::MpTcprst(r),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(parsed, o, "parse(emit(x)) == x");
    (bytes, parsed)
}

struct Pair {
    client: MpcEstablished,
    server: MpcEstablished,
    ctable: TokenTable<u32>,
    stable: TokenTable<u32>,
    cmib: MibCounters,
    smib: MibCounters,
}

/// Runs a whole MP_CAPABLE exchange through the wire codec.
fn mpc_pair(ccfg: HandshakeConfig, scfg: HandshakeConfig) -> Pair {
    let (mut cmib, mut smib) = (MibCounters::new(), MibCounters::new());
    let mut ctable = TokenTable::new();
    let mut stable = TokenTable::new();
    let ck = ctable
        .new_connect(ccfg.client_version, 1, &mut keys(&[CK]), &mut cmib)
        .unwrap();
    let c = MpcSynSent::new(&ccfg, ck.key, &mut cmib);
    let (syn, syn_o) = wire(c.syn_option(), ccfg.client_version);
    match ccfg.client_version {
        Version::V1 => assert_eq!(syn.len(), 4),
        Version::V0 => assert_eq!(syn.len(), 12),
    }
    let SynOutcome::Mptcp(s) =
        MpcSynReceived::handle_syn(&scfg, &[syn_o], &mut stable, 7, &mut keys(&[SK]), &mut smib)
    else {
        panic!("server speaks MPTCP");
    };
    let (synack, synack_o) = wire(s.synack_option(), s.version());
    assert_eq!(synack.len(), 12);
    let SynAckOutcome::Established(c) = c.handle_synack(&[synack_o], &mut ctable, &mut cmib) else {
        panic!("client established");
    };
    let (ack, ack_o) = wire(c.ack_option(), s.version());
    assert_eq!(ack.len(), 20);
    let ServerAckOutcome::Established {
        mpc: server,
        first_data,
    } = s.handle_ack(&[ack_o], &mut stable, &mut smib)
    else {
        panic!("server established");
    };
    assert_eq!(first_data, None);
    Pair {
        client: *c.established(),
        server,
        ctable,
        stable,
        cmib,
        smib,
    }
}

#[test]
fn mpc_v1_round_trip() {
    let p = mpc_pair(HandshakeConfig::default(), HandshakeConfig::default());
    let (c, s) = (p.client, p.server);
    assert_eq!((c.role, s.role), (Role::Client, Role::Server));
    assert_eq!((c.version, s.version), (Version::V1, Version::V1));
    assert_eq!(c.local, s.remote);
    assert_eq!(c.remote, s.local);
    assert_eq!(c.local.key, CK);
    assert_eq!(s.local.key, SK);
    assert_eq!(c.local.token, crypto::token(Version::V1, CK));
    assert_eq!(s.local.idsn, crypto::idsn(Version::V1, SK));
    assert_eq!(c.first_send_dsn(), s.first_recv_dsn());
    assert_eq!(
        c.first_send_dsn().0,
        crypto::idsn(Version::V1, CK).wrapping_add(1)
    );
    assert!(!c.checksum && !s.checksum);
    assert!(!c.peer_deny_join_id0 && !s.peer_deny_join_id0);
    // The server's token table knows the client's key now (joins need it).
    let e = p.stable.lookup(s.local.token).unwrap();
    assert_eq!((e.conn, e.remote_key), (7, Some(CK)));
    assert_eq!(p.ctable.lookup(c.local.token).unwrap().remote_key, Some(SK));
    let c_counts: Vec<_> = p.cmib.iter_nonzero().collect();
    assert_eq!(
        c_counts,
        vec![(Mib::MPCapableSYNTX, 1), (Mib::MPCapableSYNACKRX, 1)]
    );
    let s_counts: Vec<_> = p.smib.iter_nonzero().collect();
    assert_eq!(
        s_counts,
        vec![(Mib::MPCapableSYNRX, 1), (Mib::MPCapableACKRX, 1)]
    );
}

#[test]
fn checksum_used_when_either_end_asks() {
    for (cc, sc) in [(false, false), (true, false), (false, true), (true, true)] {
        let ccfg = HandshakeConfig {
            checksum: cc,
            ..Default::default()
        };
        let scfg = HandshakeConfig {
            checksum: sc,
            ..Default::default()
        };
        let p = mpc_pair(ccfg, scfg);
        assert_eq!(p.client.checksum, cc || sc, "client {cc} server {sc}");
        assert_eq!(p.server.checksum, cc || sc, "client {cc} server {sc}");
    }
}

#[test]
fn syn_and_synack_carry_flag_a_of_their_sender() {
    let mut mib = MibCounters::new();
    let cfg = HandshakeConfig {
        checksum: true,
        ..Default::default()
    };
    let c = MpcSynSent::new(&cfg, KeyInfo::new(Version::V1, CK), &mut mib);
    let MptcpOption::MpCapable(m) = c.syn_option() else {
        panic!()
    };
    assert_eq!(m.flags, mpc_flags::CHECKSUM | mpc_flags::HMAC);
    // A server without checksums answers without A, but uses them.
    let mut t = TokenTable::new();
    let SynOutcome::Mptcp(s) = MpcSynReceived::handle_syn(
        &HandshakeConfig::default(),
        &[c.syn_option()],
        &mut t,
        0u8,
        &mut keys(&[SK]),
        &mut mib,
    ) else {
        panic!()
    };
    let MptcpOption::MpCapable(sa) = s.synack_option() else {
        panic!()
    };
    assert_eq!(sa.flags, mpc_flags::HMAC);
    let SynAckOutcome::Established(c) = c.handle_synack(&[s.synack_option()], &mut t, &mut mib)
    else {
        panic!()
    };
    let MptcpOption::MpCapable(a) = c.ack_option() else {
        panic!()
    };
    assert_eq!(a.flags, mpc_flags::CHECKSUM | mpc_flags::HMAC);
}

fn client_after_synack(cfg: HandshakeConfig, synack_flags: u8) -> (MpcAckSent, MibCounters) {
    let mut mib = MibCounters::new();
    let c = MpcSynSent::new(&cfg, KeyInfo::new(Version::V1, CK), &mut mib);
    let synack = MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: synack_flags,
        sender_key: Some(SK),
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    match c.handle_synack(&[synack], &mut TokenTable::<u8>::new(), &mut mib) {
        SynAckOutcome::Established(c) => (c, mib),
        SynAckOutcome::Fallback(f) => panic!("fallback {f:?}"),
    }
}

#[test]
fn first_data_form_with_and_without_checksum() {
    let payload: Vec<u8> = (0..100u8).collect();
    for csum in [false, true] {
        let (c, _) = client_after_synack(
            HandshakeConfig::default(),
            mpc_flags::HMAC | if csum { mpc_flags::CHECKSUM } else { 0 },
        );
        let (bytes, o) = wire(c.data_option(100, &payload), Version::V1);
        assert_eq!(bytes.len(), if csum { 24 } else { 22 });
        let MptcpOption::MpCapable(m) = o else {
            panic!()
        };
        assert_eq!(m.data_len, Some(100));
        let dsn = crypto::idsn(Version::V1, CK).wrapping_add(1);
        assert_eq!(
            m.checksum,
            csum.then(|| crate::wire::mptcp::csum::dss_csum(dsn, 1, 100, &payload))
        );

        // The server takes the keys from it and reports the mapping.
        let mut t = TokenTable::new();
        let mut mib = MibCounters::new();
        let scfg = HandshakeConfig {
            checksum: csum,
            ..Default::default()
        };
        let syn = MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: mpc_flags::HMAC,
            sender_key: None,
            receiver_key: None,
            data_len: None,
            checksum: None,
        });
        let SynOutcome::Mptcp(s) =
            MpcSynReceived::handle_syn(&scfg, &[syn], &mut t, 1u8, &mut keys(&[SK]), &mut mib)
        else {
            panic!()
        };
        let ServerAckOutcome::Established { mpc, first_data } =
            s.handle_ack(&[o], &mut t, &mut mib)
        else {
            panic!()
        };
        assert_eq!(mpc.remote.key, CK);
        let f = first_data.unwrap();
        assert_eq!((f.dsn.0, f.ssn, f.data_len), (dsn, 1, 100));
        assert_eq!(f.checksum, m.checksum);
    }
}

#[test]
fn checksum_negotiated_but_missing_on_first_data_resets() {
    let mut t = TokenTable::new();
    let mut mib = MibCounters::new();
    let cfg = HandshakeConfig {
        checksum: true,
        ..Default::default()
    };
    let syn = MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: mpc_flags::HMAC,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    let SynOutcome::Mptcp(s) =
        MpcSynReceived::handle_syn(&cfg, &[syn], &mut t, 1u8, &mut keys(&[SK]), &mut mib)
    else {
        panic!()
    };
    let data = MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: mpc_flags::HMAC,
        sender_key: Some(CK),
        receiver_key: Some(SK),
        data_len: Some(10),
        checksum: None,
    });
    let out = s.handle_ack(&[data], &mut t, &mut mib);
    let ServerAckOutcome::Reset(r) = out else {
        panic!("{out:?}")
    };
    assert_eq!(r.reason, tcprst::MPTCP_ERROR);
    assert!(t.is_empty(), "token released");
    assert_eq!(mib.get(Mib::MPCapableACKRX), 0);
}

#[test]
fn synack_without_usable_option_falls_back() {
    let good = MpCapable {
        version: 1,
        flags: mpc_flags::HMAC,
        sender_key: Some(SK),
        receiver_key: None,
        data_len: None,
        checksum: None,
    };
    let cases: Vec<Vec<MptcpOption<'static>>> = vec![
        vec![],
        vec![MptcpOption::MpCapable(MpCapable {
            sender_key: None,
            ..good
        })],
        vec![MptcpOption::MpCapable(MpCapable { version: 0, ..good })],
        vec![MptcpOption::MpCapable(MpCapable { flags: 0, ..good })],
        vec![MptcpOption::MpCapable(MpCapable {
            flags: mpc_flags::HMAC | mpc_flags::EXTENSIBILITY,
            ..good
        })],
        vec![MptcpOption::MpCapable(MpCapable {
            receiver_key: Some(CK),
            ..good
        })],
    ];
    for opts in cases {
        let mut mib = MibCounters::new();
        let mut t = TokenTable::new();
        let k = t
            .new_connect(Version::V1, 1u8, &mut keys(&[CK]), &mut mib)
            .unwrap();
        let c = MpcSynSent::new(&HandshakeConfig::default(), k.key, &mut mib);
        let SynAckOutcome::Fallback(f) = c.handle_synack(&opts, &mut t, &mut mib) else {
            panic!("{opts:?} must fall back")
        };
        assert_eq!(f.cause, FallbackCause::NoOptionInSynAck);
        assert_eq!(mib.get(Mib::MPCapableFallbackSYNACK), 1);
        assert_eq!(mib.get(Mib::MPCapableSYNACKRX), 0);
        assert_eq!(f.local_token, None, "removed by the handshake");
        assert!(t.is_empty());
    }
    // The usable one does not.
    let mut mib = MibCounters::new();
    let c = MpcSynSent::new(
        &HandshakeConfig::default(),
        KeyInfo::new(Version::V1, CK),
        &mut mib,
    );
    assert!(matches!(
        c.handle_synack(
            &[MptcpOption::MpCapable(good)],
            &mut TokenTable::<u8>::new(),
            &mut mib
        ),
        SynAckOutcome::Established(_)
    ));
}

fn server_after_syn(cfg: HandshakeConfig) -> (MpcSynReceived, TokenTable<u8>, MibCounters) {
    let mut t = TokenTable::new();
    let mut mib = MibCounters::new();
    let syn = MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: mpc_flags::HMAC,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    let SynOutcome::Mptcp(s) =
        MpcSynReceived::handle_syn(&cfg, &[syn], &mut t, 3u8, &mut keys(&[SK]), &mut mib)
    else {
        panic!()
    };
    (s, t, mib)
}

#[test]
fn third_ack_without_usable_option_falls_back() {
    let good = MpCapable {
        version: 1,
        flags: mpc_flags::HMAC,
        sender_key: Some(CK),
        receiver_key: Some(SK),
        data_len: None,
        checksum: None,
    };
    let dss_only = MptcpOption::Dss(Dss {
        data_fin: false,
        data_ack: Some(DssSeq {
            value: 1,
            wide: true,
        }),
        mapping: None,
    });
    let cases: Vec<Vec<MptcpOption<'static>>> = vec![
        vec![],
        vec![dss_only],
        vec![MptcpOption::MpCapable(MpCapable {
            receiver_key: Some(SK ^ 1),
            ..good
        })],
        vec![MptcpOption::MpCapable(MpCapable {
            receiver_key: None,
            ..good
        })],
        vec![MptcpOption::MpCapable(MpCapable { version: 0, ..good })],
        vec![MptcpOption::MpCapable(MpCapable { flags: 0, ..good })],
    ];
    for opts in cases {
        let (s, mut t, mut mib) = server_after_syn(HandshakeConfig::default());
        assert_eq!(t.len(), 1);
        let out = s.handle_ack(&opts, &mut t, &mut mib);
        let ServerAckOutcome::Fallback(f) = out else {
            panic!("{opts:?}: {out:?}")
        };
        assert_eq!(f.cause, FallbackCause::NoOptionInThirdAck);
        assert_eq!(f.cause.mib(), Some(Mib::MPCapableFallbackACK));
        assert_eq!(mib.get(Mib::MPCapableFallbackACK), 1);
        assert_eq!(mib.get(Mib::MPCapableACKRX), 0);
        assert_eq!(f.local_token, None);
        assert!(
            t.is_empty(),
            "the token of a fallen-back connection is gone"
        );
    }
}

#[test]
fn syn_lost_twice_retries_without_mptcp() {
    let mut mib = MibCounters::new();
    let cfg = HandshakeConfig::default();
    let c = MpcSynSent::new(&cfg, KeyInfo::new(Version::V1, CK), &mut mib);
    let SynTimeout::Retransmit(c) = c.handle_syn_timeout(&mut mib) else {
        panic!("first loss: retransmit with MP_CAPABLE")
    };
    assert_eq!(mib.get(Mib::MPCapableSYNTXDrop), 0);
    let SynTimeout::Fallback(f) = c.handle_syn_timeout(&mut mib) else {
        panic!("second loss: fall back")
    };
    assert_eq!(f.cause, FallbackCause::SynDropped);
    assert_eq!(f.local_token, Some(crypto::token(Version::V1, CK)));
    assert_eq!(mib.get(Mib::MPCapableSYNTXDrop), 1);

    // The limit is configurable.
    let cfg = HandshakeConfig {
        syn_retrans_before_tcp_fallback: 4,
        ..Default::default()
    };
    let mut c = MpcSynSent::new(&cfg, KeyInfo::new(Version::V1, CK), &mut mib);
    for _ in 0..3 {
        c = match c.handle_syn_timeout(&mut mib) {
            SynTimeout::Retransmit(c) => c,
            SynTimeout::Fallback(_) => panic!("too early"),
        };
    }
    assert!(matches!(
        c.handle_syn_timeout(&mut mib),
        SynTimeout::Fallback(_)
    ));
}

#[test]
fn blackhole_disables_active_mptcp_with_growing_timeout() {
    use crate::time::{Duration, Instant};
    let mut mib = MibCounters::new();
    let mut bh = ActiveBlackhole::new(Duration::from_secs(10));
    let t = Instant::from_secs(100);
    assert!(!bh.should_disable(t));
    // MP_CAPABLE SYN dropped twice, the plain SYN answered: detected.
    let cfg = HandshakeConfig::default();
    let c = MpcSynSent::new(&cfg, KeyInfo::new(Version::V1, CK), &mut mib);
    let SynTimeout::Retransmit(c) = c.handle_syn_timeout(&mut mib) else {
        panic!()
    };
    let SynTimeout::Fallback(f) = c.handle_syn_timeout(&mut mib) else {
        panic!()
    };
    assert_eq!(f.cause, FallbackCause::SynDropped);
    bh.handle_fallback_synack(t, &mut mib);
    assert_eq!(mib.get(Mib::Blackhole), 1);
    assert!(bh.should_disable(t + Duration::from_secs(9)));
    assert!(!bh.should_disable(t + Duration::from_secs(10)));
    // A second detection doubles the period, up to 64 times.
    let t2 = t + Duration::from_secs(20);
    bh.handle_fallback_synack(t2, &mut mib);
    assert!(bh.should_disable(t2 + Duration::from_secs(19)));
    assert!(!bh.should_disable(t2 + Duration::from_secs(20)));
    for _ in 0..10 {
        bh.handle_fallback_synack(t2, &mut mib);
    }
    assert!(bh.should_disable(t2 + Duration::from_secs(639)));
    assert!(!bh.should_disable(t2 + Duration::from_secs(640)));
    // While disabled, an active open goes without MPTCP and says so.
    let f = MpcSynSent::disabled(None, &mut mib);
    assert_eq!(f.cause, FallbackCause::ActiveDisabled);
    assert_eq!(mib.get(Mib::MPCapableSYNTXDisabled), 1);
    bh.reset();
    assert!(!bh.should_disable(t2));
    // Zero timeout: detection off.
    let mut off = ActiveBlackhole::new(Duration::ZERO);
    off.handle_fallback_synack(t, &mut mib);
    assert!(!off.should_disable(t));
    assert_eq!(mib.get(Mib::Blackhole), 12);
    assert_eq!(
        ActiveBlackhole::default().timeout,
        Duration::from_secs(3600)
    );
}

#[test]
fn active_disabled_counts() {
    let mut mib = MibCounters::new();
    let f = MpcSynSent::disabled(Some(5), &mut mib);
    assert_eq!(f.cause, FallbackCause::ActiveDisabled);
    assert_eq!(mib.get(Mib::MPCapableSYNTXDisabled), 1);
    let mut t = TokenTable::<u8>::new();
    f.release(&mut t);
}

#[test]
fn client_waits_for_proof_then_fully_established() {
    let (c, mut mib) = client_after_synack(HandshakeConfig::default(), mpc_flags::HMAC);
    // A pure ACK without options: keep waiting.
    let ClientProgress::Waiting(c) = c.handle_segment(&[], 0, &mut mib) else {
        panic!()
    };
    // An ADD_ADDR echo proves nothing.
    let echo = MptcpOption::AddAddr(AddAddr {
        echo: true,
        addr_id: 1,
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1)),
        port: None,
        hmac: None,
    });
    let ClientProgress::Waiting(c) = c.handle_segment(&[echo], 0, &mut mib) else {
        panic!()
    };
    // Data with a DSS mapping but no DATA_ACK: still waiting, not a fallback.
    let map_only = MptcpOption::Dss(Dss {
        data_fin: false,
        data_ack: None,
        mapping: None,
    });
    let ClientProgress::Waiting(c) = c.handle_segment(&[map_only], 100, &mut mib) else {
        panic!()
    };
    let ack = MptcpOption::Dss(Dss {
        data_fin: false,
        data_ack: Some(DssSeq {
            value: 7,
            wide: true,
        }),
        mapping: None,
    });
    let ClientProgress::FullyEstablished(m) = c.handle_segment(&[ack], 0, &mut mib) else {
        panic!()
    };
    assert_eq!(m.remote.key, SK);
    assert_eq!(mib.get(Mib::MPCapableDataFallback), 0);

    // An ADD_ADDR (not an echo) also proves the server has our key.
    let (c, mut mib) = client_after_synack(HandshakeConfig::default(), mpc_flags::HMAC);
    let add = MptcpOption::AddAddr(AddAddr {
        echo: false,
        addr_id: 1,
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2)),
        port: None,
        hmac: Some(1),
    });
    assert!(matches!(
        c.handle_segment(&[add], 0, &mut mib),
        ClientProgress::FullyEstablished(_)
    ));
}

#[test]
fn data_without_dss_before_fully_established_falls_back() {
    let (c, mut mib) = client_after_synack(HandshakeConfig::default(), mpc_flags::HMAC);
    let ClientProgress::Fallback(f) = c.handle_segment(&[], 1, &mut mib) else {
        panic!()
    };
    assert_eq!(f.cause, FallbackCause::DataWithoutDss);
    assert_eq!(mib.get(Mib::MPCapableDataFallback), 1);
}

#[test]
fn server_syn_variants() {
    let v0_syn = MptcpOption::MpCapable(MpCapable {
        version: 0,
        flags: mpc_flags::HMAC,
        sender_key: Some(CK),
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    let run = |cfg: HandshakeConfig, opts: &[MptcpOption<'_>]| {
        let mut t = TokenTable::new();
        let mut mib = MibCounters::new();
        let out = MpcSynReceived::handle_syn(&cfg, opts, &mut t, 1u8, &mut keys(&[SK]), &mut mib);
        (out, t, mib)
    };
    // No option: plain TCP, nothing counted, no token.
    let (out, t, mib) = run(HandshakeConfig::default(), &[]);
    assert!(matches!(out, SynOutcome::PlainTcp(None)));
    assert!(t.is_empty());
    assert_eq!(mib.iter_nonzero().count(), 0);
    // v0 while v0 is disabled: plain TCP.
    let (out, t, mib) = run(HandshakeConfig::default(), &[v0_syn]);
    let SynOutcome::PlainTcp(Some(f)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(f.cause, FallbackCause::UnsupportedVersion);
    assert!(t.is_empty());
    assert_eq!(mib.get(Mib::MPCapableSYNRX), 0);
    // v0 enabled: v0 with SHA-1.
    let cfg0 = HandshakeConfig {
        allow_v0: true,
        ..Default::default()
    };
    let (out, t, mib) = run(cfg0, &[v0_syn]);
    let SynOutcome::Mptcp(s) = out else { panic!() };
    assert_eq!(s.version(), Version::V0);
    assert_eq!(s.local().token, crypto::token(Version::V0, SK));
    assert!(t.lookup(s.local().token).is_some());
    assert_eq!(mib.get(Mib::MPCapableSYNRX), 1);
    let MptcpOption::MpCapable(sa) = s.synack_option() else {
        panic!()
    };
    assert_eq!((sa.version, sa.sender_key), (0, Some(SK)));
    // A v1 SYN with a key has no such form: ignored.
    let v1_keyed = MptcpOption::MpCapable(MpCapable {
        version: 1,
        ..match v0_syn {
            MptcpOption::MpCapable(m) => m,
            _ => unreachable!(),
        }
    });
    let (out, _, _) = run(HandshakeConfig::default(), &[v1_keyed]);
    assert!(matches!(out, SynOutcome::PlainTcp(None)));
    // A higher version: answered with v1 (RFC 8684 §3.1).
    let v2 = MptcpOption::MpCapable(MpCapable {
        version: 2,
        flags: mpc_flags::HMAC,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    let (out, _, _) = run(HandshakeConfig::default(), &[v2]);
    let SynOutcome::Mptcp(s) = out else { panic!() };
    assert_eq!(s.version(), Version::V1);
    // No H flag: invalid, ignored (RFC 8684 §3.1).
    let no_h = MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: 0,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    let (out, _, _) = run(HandshakeConfig::default(), &[no_h]);
    assert!(matches!(out, SynOutcome::PlainTcp(None)));
    // MP_CAPABLE together with MP_JOIN: plain TCP, the MP_CAPABLE counted (as Linux).
    let both = [
        MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: mpc_flags::HMAC,
            sender_key: None,
            receiver_key: None,
            data_len: None,
            checksum: None,
        }),
        MptcpOption::MpJoin(MpJoin::Syn {
            backup: false,
            addr_id: 1,
            token: 1,
            nonce: 2,
        }),
    ];
    let (out, t, mib) = run(HandshakeConfig::default(), &both);
    assert!(matches!(out, SynOutcome::PlainTcp(None)));
    assert!(t.is_empty());
    assert_eq!(mib.get(Mib::MPCapableSYNRX), 1);
}

#[test]
fn mp_capable_to_endpoint_port_refused() {
    let mut mib = MibCounters::new();
    let syn = MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: mpc_flags::HMAC,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    let r = MpcSynReceived::handle_syn_on_endpoint_port(&[syn], &mut mib).unwrap();
    assert_eq!(r.reason, tcprst::ADMIN_PROHIBITED);
    assert_eq!(mib.get(Mib::MPCapableEndpAttempt), 1);
    assert_eq!(
        MpcSynReceived::handle_syn_on_endpoint_port(&[], &mut mib),
        None
    );
    assert_eq!(mib.get(Mib::MPCapableEndpAttempt), 1);
}

#[test]
fn server_token_exhaustion_falls_back() {
    let mut t = TokenTable::new();
    let mut mib = MibCounters::new();
    t.new_accept(Version::V1, 0u8, &mut keys(&[SK]), &mut mib)
        .unwrap();
    let syn = MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: mpc_flags::HMAC,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    let out = MpcSynReceived::handle_syn(
        &HandshakeConfig::default(),
        &[syn],
        &mut t,
        1u8,
        &mut keys(&[SK]),
        &mut mib,
    );
    let SynOutcome::PlainTcp(Some(f)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(f.cause, FallbackCause::TokenInit);
    assert_eq!(mib.get(Mib::MPFallbackTokenInit), 1, "counted once");
    assert_eq!(mib.get(Mib::MPCapableSYNRX), 0);
    assert_eq!(t.collisions(), u64::from(TOKEN_MAX_RETRIES));
}

#[test]
fn mpc_v0_round_trip() {
    let cfg = HandshakeConfig {
        allow_v0: true,
        client_version: Version::V0,
        ..Default::default()
    };
    let p = mpc_pair(cfg, cfg);
    assert_eq!(
        (p.client.version, p.server.version),
        (Version::V0, Version::V0)
    );
    assert_eq!(p.client.local.token, crypto::token(Version::V0, CK));
    assert_eq!(p.server.remote.idsn, crypto::idsn(Version::V0, CK));
    assert_eq!(p.client.remote, p.server.local);
}

#[test]
fn v0_third_ack_must_repeat_the_syn_key() {
    let cfg = HandshakeConfig {
        allow_v0: true,
        ..Default::default()
    };
    let mut t = TokenTable::new();
    let mut mib = MibCounters::new();
    let syn = MptcpOption::MpCapable(MpCapable {
        version: 0,
        flags: mpc_flags::HMAC,
        sender_key: Some(CK),
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    let SynOutcome::Mptcp(s) =
        MpcSynReceived::handle_syn(&cfg, &[syn], &mut t, 1u8, &mut keys(&[SK]), &mut mib)
    else {
        panic!()
    };
    let ack = MptcpOption::MpCapable(MpCapable {
        version: 0,
        flags: mpc_flags::HMAC,
        sender_key: Some(CK ^ 1),
        receiver_key: Some(SK),
        data_len: None,
        checksum: None,
    });
    assert!(matches!(
        s.handle_ack(&[ack], &mut t, &mut mib),
        ServerAckOutcome::Fallback(_)
    ));
}

#[test]
fn deny_join_id0_flag_c() {
    let scfg = HandshakeConfig {
        allow_join_initial_addr_port: false,
        ..Default::default()
    };
    let p = mpc_pair(HandshakeConfig::default(), scfg);
    assert!(p.client.peer_deny_join_id0);
    assert!(!p.server.peer_deny_join_id0);
}

// ----------------------------------------------------------------------------------------
// MP_JOIN
// ----------------------------------------------------------------------------------------

const RA: u32 = 0xe700_c12f;
const RB: u32 = 0x7a50_c955;

struct Joined {
    client: VerifiedJoin<u32>,
    server: VerifiedJoin<u8>,
    cmib: MibCounters,
    smib: MibCounters,
}

/// A join from the MP_CAPABLE client to the server, through the wire codec.
fn join(p: &Pair, client_backup: bool, server_backup: bool) -> Joined {
    let (mut cmib, mut smib) = (MibCounters::new(), MibCounters::new());
    let c = JoinSynSent::new(
        1u32,
        p.client.join_keys(),
        JoinLocal {
            addr_id: 2,
            backup: client_backup,
            nonce: RA,
        },
        &mut cmib,
    );
    let (syn, syn_o) = wire(c.syn_option(), p.client.version);
    assert_eq!(syn.len(), 12);
    // The server's table maps the token to conn 7 (as u8 for this test).
    let mut table = TokenTable::new();
    table
        .new_accept(p.server.version, 7u8, &mut keys(&[SK]), &mut smib)
        .unwrap();
    table.set_remote_key(p.server.local.token, CK);
    let s = JoinSynReceived::handle_syn(
        &[syn_o],
        &table,
        JoinLocal {
            addr_id: 0,
            backup: server_backup,
            nonce: RB,
        },
        &mut smib,
    )
    .expect("a join SYN")
    .expect("token known");
    assert_eq!(s.conn(), 7);
    assert_eq!(s.remote_id(), (2, client_backup));
    let (synack, synack_o) = wire(s.synack_option(), p.server.version);
    assert_eq!(synack.len(), 16);
    let c = c
        .handle_synack(&[synack_o], &mut cmib)
        .expect("SYN/ACK HMAC ok");
    assert_eq!(c.remote_id(), (0, server_backup));
    let (ack, ack_o) = wire(c.ack_option(), p.client.version);
    assert_eq!(ack.len(), 24);
    let server = s
        .handle_ack(&[ack_o], true, &mut smib)
        .expect("ACK HMAC ok");
    let client = c.handle_ack();
    Joined {
        client,
        server,
        cmib,
        smib,
    }
}

#[test]
fn join_round_trip() {
    let p = mpc_pair(HandshakeConfig::default(), HandshakeConfig::default());
    let j = join(&p, false, false);
    let (c, s) = (j.client, j.server);
    assert_eq!((c.role(), s.role()), (Role::Client, Role::Server));
    assert_eq!((c.conn(), s.conn()), (1, 7));
    assert_eq!((c.local_nonce(), c.remote_nonce()), (RA, RB));
    assert_eq!((s.local_nonce(), s.remote_nonce()), (RB, RA));
    assert_eq!((c.local_id(), c.remote_id()), (2, 0));
    assert_eq!((s.local_id(), s.remote_id()), (0, 2));
    assert_eq!(c.keys().local_key, s.keys().remote_key);
    assert_eq!(
        j.cmib.iter_nonzero().collect::<Vec<_>>(),
        vec![(Mib::MPJoinSynAckRx, 1), (Mib::MPJoinSynTx, 1)]
    );
    assert_eq!(
        j.smib.iter_nonzero().collect::<Vec<_>>(),
        vec![(Mib::MPJoinSynRx, 1), (Mib::MPJoinAckRx, 1)]
    );
}

#[test]
fn join_backup_flags_are_carried_and_counted() {
    let p = mpc_pair(HandshakeConfig::default(), HandshakeConfig::default());
    let j = join(&p, true, true);
    assert!(j.client.local_backup() && j.client.remote_backup());
    assert!(j.server.local_backup() && j.server.remote_backup());
    assert_eq!(j.smib.get(Mib::MPJoinSynBackupRx), 1);
    assert_eq!(j.cmib.get(Mib::MPJoinSynAckBackupRx), 1);
}

#[test]
fn join_v0_uses_sha1() {
    let cfg = HandshakeConfig {
        allow_v0: true,
        client_version: Version::V0,
        ..Default::default()
    };
    let p = mpc_pair(cfg, cfg);
    let mut mib = MibCounters::new();
    let c = JoinSynSent::new(
        0u8,
        p.client.join_keys(),
        JoinLocal {
            addr_id: 1,
            backup: false,
            nonce: RA,
        },
        &mut mib,
    );
    let MptcpOption::MpJoin(MpJoin::Syn { token, .. }) = c.syn_option() else {
        panic!()
    };
    assert_eq!(token, crypto::token(Version::V0, SK));
    let synack = MptcpOption::MpJoin(MpJoin::SynAck {
        backup: false,
        addr_id: 0,
        hmac: crypto::join_synack_hmac(Version::V0, SK, CK, RB, RA),
        nonce: RB,
    });
    let c = c.handle_synack(&[synack], &mut mib).unwrap();
    let MptcpOption::MpJoin(MpJoin::Ack { hmac }) = c.ack_option() else {
        panic!()
    };
    assert_eq!(hmac, crypto::join_ack_hmac(Version::V0, CK, SK, RA, RB));
    let j = join(&p, false, false);
    assert_eq!(j.server.keys().version, Version::V0);
}

fn join_syn(token: u32, backup: bool) -> MptcpOption<'static> {
    MptcpOption::MpJoin(MpJoin::Syn {
        backup,
        addr_id: 1,
        token,
        nonce: RA,
    })
}

fn server_table(remote_known: bool) -> (TokenTable<u8>, u32) {
    let mut t = TokenTable::new();
    let mut mib = MibCounters::new();
    let k = t
        .new_accept(Version::V1, 9u8, &mut keys(&[SK]), &mut mib)
        .unwrap();
    if remote_known {
        t.set_remote_key(k.key.token, CK);
    }
    (t, k.key.token)
}

const LOCAL: JoinLocal = JoinLocal {
    addr_id: 0,
    backup: false,
    nonce: RB,
};

#[test]
fn join_unknown_token_refused() {
    let (t, token) = server_table(true);
    let mut mib = MibCounters::new();
    let r = JoinSynReceived::handle_syn(&[join_syn(token ^ 0x55, true)], &t, LOCAL, &mut mib)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        r,
        JoinRefusal::UnknownToken {
            token: token ^ 0x55
        }
    );
    assert_eq!(r.reason(), tcprst::MPTCP_ERROR);
    let (bytes, _) = wire(r.option(), Version::V1);
    assert_eq!(bytes, [30, 4, 0x80, tcprst::MPTCP_ERROR]);
    assert_eq!(
        mib.iter_nonzero().collect::<Vec<_>>(),
        vec![
            (Mib::MPJoinNoTokenFound, 1),
            (Mib::MPJoinSynRx, 1),
            (Mib::MPJoinSynBackupRx, 1)
        ]
    );
}

#[test]
fn join_before_peer_key_known_refused() {
    let (t, token) = server_table(false);
    let mut mib = MibCounters::new();
    let r = JoinSynReceived::handle_syn(&[join_syn(token, false)], &t, LOCAL, &mut mib)
        .unwrap()
        .unwrap_err();
    assert_eq!(r, JoinRefusal::NotEstablished);
    assert_eq!(mib.get(Mib::MPJoinRejected), 1);
}

#[test]
fn not_a_join_syn() {
    let (t, _) = server_table(true);
    let mut mib = MibCounters::new();
    assert!(JoinSynReceived::handle_syn(&[], &t, LOCAL, &mut mib).is_none());
    let ack = MptcpOption::MpJoin(MpJoin::Ack { hmac: [0; 20] });
    assert!(JoinSynReceived::handle_syn(&[ack], &t, LOCAL, &mut mib).is_none());
    let mpc = MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: mpc_flags::HMAC,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    });
    let token = t.iter().next().unwrap().local.token;
    assert!(
        JoinSynReceived::handle_syn(&[mpc, join_syn(token, false)], &t, LOCAL, &mut mib).is_none()
    );
    assert_eq!(mib.iter_nonzero().count(), 0);
}

fn server_join_state() -> (JoinSynReceived<u8>, MibCounters) {
    let (t, token) = server_table(true);
    let mut mib = MibCounters::new();
    let s = JoinSynReceived::handle_syn(&[join_syn(token, false)], &t, LOCAL, &mut mib)
        .unwrap()
        .unwrap();
    (s, mib)
}

#[test]
fn join_ack_hmac_checked() {
    let good = crypto::join_ack_hmac(Version::V1, CK, SK, RA, RB);
    // The right HMAC passes.
    let (s, mut mib) = server_join_state();
    let ack = MptcpOption::MpJoin(MpJoin::Ack { hmac: good });
    assert!(s.handle_ack(&[ack], true, &mut mib).is_ok());
    // Every single-bit corruption fails, as does a missing option or the SYN/ACK form.
    for bit in [0usize, 7, 80, 159] {
        let mut bad = good;
        bad[bit / 8] ^= 1 << (bit % 8);
        let (s, mut mib) = server_join_state();
        let ack = MptcpOption::MpJoin(MpJoin::Ack { hmac: bad });
        let r = s.handle_ack(&[ack], true, &mut mib).unwrap_err();
        assert_eq!(r, JoinRefusal::AckHmac);
        assert_eq!(r.reason(), tcprst::ADMIN_PROHIBITED);
        assert_eq!(mib.get(Mib::MPJoinAckHMacFailure), 1);
        assert_eq!(mib.get(Mib::MPJoinAckRx), 0);
    }
    let (s, mut mib) = server_join_state();
    assert_eq!(
        s.handle_ack(&[], true, &mut mib).unwrap_err(),
        JoinRefusal::AckHmac
    );
    // HMAC with the roles swapped (what B would send) is not A's.
    let (s, mut mib) = server_join_state();
    let swapped = crypto::join_ack_hmac(Version::V1, SK, CK, RB, RA);
    let ack = MptcpOption::MpJoin(MpJoin::Ack { hmac: swapped });
    assert!(s.handle_ack(&[ack], true, &mut mib).is_err());
}

#[test]
fn join_over_the_limit_rejected_after_hmac() {
    let good = crypto::join_ack_hmac(Version::V1, CK, SK, RA, RB);
    let (s, mut mib) = server_join_state();
    let ack = MptcpOption::MpJoin(MpJoin::Ack { hmac: good });
    let r = s.handle_ack(&[ack], false, &mut mib).unwrap_err();
    assert_eq!(r, JoinRefusal::Rejected);
    assert_eq!(
        r.tcprst(),
        MpTcprst {
            flags: 0,
            reason: 3
        }
    );
    assert_eq!(mib.get(Mib::MPJoinRejected), 1);
    assert_eq!(mib.get(Mib::MPJoinAckRx), 0);
    assert_eq!(mib.get(Mib::MPJoinAckHMacFailure), 0);
    // A wrong HMAC is reported as such even when the limit is also reached.
    let (s, mut mib) = server_join_state();
    let ack = MptcpOption::MpJoin(MpJoin::Ack { hmac: [0; 20] });
    assert_eq!(
        s.handle_ack(&[ack], false, &mut mib).unwrap_err(),
        JoinRefusal::AckHmac
    );
}

fn client_join_state() -> (JoinSynSent<u8>, MibCounters) {
    let mut mib = MibCounters::new();
    let c = JoinSynSent::new(
        4u8,
        JoinKeys {
            version: Version::V1,
            local_key: CK,
            remote_key: SK,
        },
        JoinLocal {
            addr_id: 1,
            backup: false,
            nonce: RA,
        },
        &mut mib,
    );
    (c, mib)
}

#[test]
fn join_synack_hmac_checked() {
    let good = crypto::join_synack_hmac(Version::V1, SK, CK, RB, RA);
    let synack = |hmac, nonce| {
        MptcpOption::MpJoin(MpJoin::SynAck {
            backup: false,
            addr_id: 0,
            hmac,
            nonce,
        })
    };
    let (c, mut mib) = client_join_state();
    assert!(c.handle_synack(&[synack(good, RB)], &mut mib).is_ok());
    for (hmac, nonce) in [(good ^ 1, RB), (good ^ (1 << 63), RB), (good, RB ^ 1)] {
        let (c, mut mib) = client_join_state();
        let r = c
            .handle_synack(&[synack(hmac, nonce)], &mut mib)
            .unwrap_err();
        assert_eq!(r, JoinRefusal::SynAckHmac);
        assert_eq!(r.reason(), tcprst::MPTCP_ERROR);
        assert_eq!(mib.get(Mib::MPJoinSynAckHMacFailure), 1);
        assert_eq!(mib.get(Mib::MPJoinSynAckRx), 0);
    }
    let (c, mut mib) = client_join_state();
    let r = c.handle_synack(&[], &mut mib).unwrap_err();
    assert_eq!(r, JoinRefusal::NoSynAckOption);
    assert_eq!(r.reason(), tcprst::MPTCP_ERROR);
    assert_eq!(r.mib(), None);
}

#[test]
fn peer_reset_reason_is_read() {
    let rst = MptcpOption::MpTcprst(MpTcprst {
        flags: tcprst::FLAG_T,
        reason: tcprst::ADMIN_PROHIBITED,
    });
    assert_eq!(
        peer_reset_reason(&[rst]),
        Some(MpTcprst {
            flags: tcprst::FLAG_T,
            reason: 3
        })
    );
    assert_eq!(peer_reset_reason(&[]), None);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = u64> {
        prop_oneof![Just(CK), Just(SK), any::<u64>()]
    }

    prop_compose! {
        fn any_mpc()(
            version in 0u8..16,
            flags in any::<u8>(),
            sender_key in proptest::option::of(key()),
            receiver_key in proptest::option::of(key()),
            data_len in proptest::option::of(any::<u16>()),
            checksum in proptest::option::of(any::<u16>()),
        ) -> MpCapable {
            MpCapable { version, flags, sender_key, receiver_key, data_len, checksum }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The server completes MP_CAPABLE exactly for a v1 option with flag H, without
        /// flag B, carrying a sender key and our key as the receiver's; anything else falls
        /// back and leaves no token.
        #[test]
        fn server_third_ack_model(m in any_mpc(), csum in any::<bool>()) {
            let (s, mut t, mut mib) = server_after_syn(HandshakeConfig {
                checksum: csum,
                ..Default::default()
            });
            let usable = m.version == 1
                && m.flags & mpc_flags::HMAC != 0
                && m.flags & mpc_flags::EXTENSIBILITY == 0
                && m.sender_key.is_some()
                && m.receiver_key == Some(SK);
            let csum_missing = csum && m.data_len.is_some() && m.checksum.is_none();
            match s.handle_ack(&[MptcpOption::MpCapable(m)], &mut t, &mut mib) {
                ServerAckOutcome::Established { mpc, first_data } => {
                    prop_assert!(usable && !csum_missing);
                    prop_assert_eq!(Some(mpc.remote.key), m.sender_key);
                    prop_assert_eq!(first_data.map(|f| f.data_len), m.data_len);
                    prop_assert_eq!(t.len(), 1);
                }
                ServerAckOutcome::Fallback(_) => {
                    prop_assert!(!usable);
                    prop_assert!(t.is_empty());
                }
                ServerAckOutcome::Reset(r) => {
                    prop_assert!(usable && csum_missing);
                    prop_assert_eq!(r.reason, tcprst::MPTCP_ERROR);
                }
            }
        }

        /// The client accepts a SYN/ACK exactly when it is a v1 MP_CAPABLE with the
        /// responder's key only, flag H and not flag B.
        #[test]
        fn client_synack_model(m in any_mpc()) {
            let mut mib = MibCounters::new();
            let c = MpcSynSent::new(
                &HandshakeConfig::default(),
                KeyInfo::new(Version::V1, CK),
                &mut mib,
            );
            let usable = m.version == 1
                && m.flags & mpc_flags::HMAC != 0
                && m.flags & mpc_flags::EXTENSIBILITY == 0
                && m.sender_key.is_some()
                && m.receiver_key.is_none();
            let mut t = TokenTable::<u8>::new();
            match c.handle_synack(&[MptcpOption::MpCapable(m)], &mut t, &mut mib) {
                SynAckOutcome::Established(c) => {
                    prop_assert!(usable);
                    prop_assert_eq!(Some(c.established().remote.key), m.sender_key);
                    prop_assert_eq!(
                        c.established().checksum,
                        m.flags & mpc_flags::CHECKSUM != 0
                    );
                }
                SynAckOutcome::Fallback(f) => {
                    prop_assert!(!usable);
                    prop_assert_eq!(f.cause, FallbackCause::NoOptionInSynAck);
                }
            }
        }

        /// Arbitrary option bytes, parsed as the TCP layer would, thrown at every handshake
        /// step: no panic, and no join is verified without the right HMAC.
        #[test]
        fn arbitrary_options_never_panic(
            raw in proptest::collection::vec(
                (2u8..40).prop_flat_map(|len| {
                    proptest::collection::vec(any::<u8>(), usize::from(len) - 2)
                        .prop_map(move |mut body| {
                            if let Some(b) = body.first_mut() {
                                // Mostly MP_CAPABLE / MP_JOIN subtypes.
                                *b = (*b % 3) << 4 | (*b & 0x0f);
                            }
                            let mut v = vec![30, len];
                            v.append(&mut body);
                            v
                        })
                }),
                0..4,
            ),
        ) {
            let opts: Vec<MptcpOption<'_>> = raw
                .iter()
                .filter_map(|r| MptcpOption::parse(r, Version::V1).ok())
                .collect();
            let (s, mut t, mut mib) = server_after_syn(HandshakeConfig::default());
            let _ = s.handle_ack(&opts, &mut t, &mut mib);
            let mut t2 = TokenTable::new();
            let _ = MpcSynReceived::handle_syn(
                &HandshakeConfig { allow_v0: true, ..Default::default() },
                &opts, &mut t2, 0u8, &mut keys(&[SK]), &mut mib,
            );
            let (c, mut mib) = client_after_synack(HandshakeConfig::default(), mpc_flags::HMAC);
            let _ = c.handle_segment(&opts, 10, &mut mib);
            let (sj, mut mib) = server_join_state();
            prop_assert!(sj.handle_ack(&opts, true, &mut mib).is_err());
            let (cj, mut mib) = client_join_state();
            prop_assert!(cj.handle_synack(&opts, &mut mib).is_err());
            let (table, _) = server_table(true);
            let _ = JoinSynReceived::handle_syn(&opts, &table, LOCAL, &mut mib);
        }
    }
}

#[test]
fn join_to_a_port_based_endpoint() {
    let good = crypto::join_ack_hmac(Version::V1, CK, SK, RA, RB);
    let ack = MptcpOption::MpJoin(MpJoin::Ack { hmac: good });
    // Same port as the connection: nothing checked or counted.
    let (s, mut mib) = server_join_state();
    let s = s.check_port(5201, 5201, false, &mut mib).unwrap();
    s.handle_ack(&[ack], true, &mut mib).unwrap();
    assert_eq!(
        mib.get(Mib::MPJoinPortSynRx) + mib.get(Mib::MPJoinPortAckRx),
        0
    );
    // An announced port: counted at SYN and ACK.
    let (s, mut mib) = server_join_state();
    let s = s.check_port(6000, 5201, true, &mut mib).unwrap();
    s.handle_ack(&[ack], true, &mut mib).unwrap();
    assert_eq!(mib.get(Mib::MPJoinPortSynRx), 1);
    assert_eq!(mib.get(Mib::MPJoinPortAckRx), 1);
    // A port we never announced: refused.
    let (s, mut mib) = server_join_state();
    let r = s.check_port(6001, 5201, false, &mut mib).unwrap_err();
    assert_eq!(r, JoinRefusal::PortMismatch);
    assert_eq!(r.reason(), tcprst::UNSPECIFIED);
    assert_eq!(mib.get(Mib::MismatchPortSynRx), 1);
    // The client side counts a SYN/ACK from the other port.
    let (c, mut mib) = client_join_state();
    let synack = MptcpOption::MpJoin(MpJoin::SynAck {
        backup: false,
        addr_id: 3,
        hmac: crypto::join_synack_hmac(Version::V1, SK, CK, RB, RA),
        nonce: RB,
    });
    c.to_other_port()
        .handle_synack(&[synack], &mut mib)
        .unwrap();
    assert_eq!(mib.get(Mib::MPJoinPortSynAckRx), 1);
}
