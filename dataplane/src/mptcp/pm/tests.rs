use super::*;
use std::net::Ipv4Addr;

const CK: u64 = 0xca68_79c5_51ad_2c59;
const SK: u64 = 0xf17b_3dd5_2d30_e4ed;

fn ip(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, a, b))
}

fn sa(a: u8, b: u8, port: u16) -> SocketAddr {
    SocketAddr::new(ip(a, b), port)
}

fn ep(id: u8, addr: IpAddr, flags: EndpointFlags) -> Endpoint {
    Endpoint {
        id,
        addr,
        port: None,
        flags,
        dev: None,
    }
}

const T0: Instant = Instant::from_secs(10);

/// The server's view of a connection from 10.0.1.1:40000 to 10.0.1.2:5201.
fn server(eps: &Endpoints) -> PmConn {
    PmConn::new(
        eps,
        crypto::token(Version::V1, SK),
        Version::V1,
        SK,
        CK,
        sa(1, 2, 5201),
        sa(1, 1, 40000),
        SubflowId(0),
        false,
    )
}

/// The client's view of the same connection.
fn client(eps: &Endpoints) -> PmConn {
    PmConn::new(
        eps,
        crypto::token(Version::V1, CK),
        Version::V1,
        CK,
        SK,
        sa(1, 1, 40000),
        sa(1, 2, 5201),
        SubflowId(100),
        false,
    )
}

fn drain(pm: &mut PmConn) -> Vec<PmAction> {
    core::iter::from_fn(|| pm.poll_action()).collect()
}

fn events(pm: &mut PmConn) -> Vec<&'static str> {
    core::iter::from_fn(|| pm.poll_event())
        .map(|e| e.name())
        .collect()
}

fn announcements(actions: &[PmAction]) -> Vec<AddAddr> {
    actions
        .iter()
        .filter_map(|a| match a {
            PmAction::SendAddAddr(x) => Some(*x),
            _ => None,
        })
        .collect()
}

fn connects(actions: &[PmAction]) -> Vec<ConnectRequest> {
    actions
        .iter()
        .filter_map(|a| match a {
            PmAction::Connect(c) => Some(*c),
            _ => None,
        })
        .collect()
}

#[test]
fn endpoint_configuration_rules() {
    let mut eps = Endpoints::new();
    assert_eq!(
        eps.limits(),
        Limits {
            subflows: 2,
            add_addr_accepted: 0
        }
    );
    assert_eq!(eps.add(ep(0, ip(2, 1), EndpointFlags::SUBFLOW)), Ok(1));
    assert_eq!(eps.add(ep(5, ip(3, 1), EndpointFlags::SIGNAL)), Ok(5));
    assert_eq!(eps.add(ep(0, ip(4, 1), EndpointFlags::SIGNAL)), Ok(2));
    assert_eq!(
        eps.add(ep(5, ip(5, 1), EndpointFlags::SIGNAL)),
        Err(PmError::IdInUse)
    );
    assert_eq!(
        eps.add(ep(0, ip(2, 1), EndpointFlags::SIGNAL)),
        Err(PmError::Duplicate)
    );
    assert_eq!(
        eps.add(ep(
            0,
            ip(6, 1),
            EndpointFlags::SIGNAL | EndpointFlags::FULLMESH
        )),
        Err(PmError::BadFlags)
    );
    assert_eq!(
        eps.add(ep(0, ip(6, 1), EndpointFlags::IMPLICIT)),
        Err(PmError::BadFlags)
    );
    // A port only on a signal-only endpoint.
    let mut with_port = ep(0, ip(6, 1), EndpointFlags::SUBFLOW | EndpointFlags::SIGNAL);
    with_port.port = Some(10000);
    assert_eq!(eps.add(with_port), Err(PmError::BadFlags));
    with_port.flags = EndpointFlags::SIGNAL;
    assert_eq!(eps.add(with_port), Ok(3));
    assert_eq!((eps.signal_max(), eps.local_addr_max()), (3, 1));
    for i in 0..4 {
        eps.add(ep(0, ip(7, i), EndpointFlags::SUBFLOW)).unwrap();
    }
    assert_eq!(eps.len(), PM_ADDR_MAX);
    assert_eq!(
        eps.add(ep(0, ip(8, 1), EndpointFlags::SUBFLOW)),
        Err(PmError::TooManyEndpoints)
    );
    assert_eq!(eps.del(5).unwrap().addr, ip(3, 1));
    assert_eq!(eps.del(5), Err(PmError::NotFound));
    let e = eps.set_flags(1, true, false).unwrap();
    assert!(e
        .flags
        .contains(EndpointFlags::BACKUP | EndpointFlags::SUBFLOW));
    assert_eq!(e.flags.to_string(), "subflow backup");
    assert_eq!(eps.set_flags(2, false, true), Err(PmError::BadFlags));
    assert!(eps.is_backup(ip(2, 1)));
    assert_eq!(
        eps.set_limits(Limits {
            subflows: 9,
            add_addr_accepted: 0
        }),
        Err(PmError::LimitTooHigh)
    );
    assert_eq!(eps.flush().len(), PM_ADDR_MAX - 1);
    assert!(eps.is_empty());
}

#[test]
fn local_id_for_passive_joins() {
    let mut eps = Endpoints::new();
    eps.add(ep(4, ip(2, 2), EndpointFlags::SIGNAL)).unwrap();
    let pm = server(&eps);
    assert_eq!(eps.local_id_for(&pm, ip(1, 2)), Ok(0), "initial address");
    assert_eq!(eps.local_id_for(&pm, ip(2, 2)), Ok(4));
    // An unconfigured address gets an implicit endpoint, once.
    let id = eps.local_id_for(&pm, ip(3, 2)).unwrap();
    assert_eq!(id, 1);
    assert_eq!(eps.local_id_for(&pm, ip(3, 2)), Ok(1));
    assert!(eps.get(1).unwrap().flags.contains(EndpointFlags::IMPLICIT));
}

#[test]
fn signal_endpoint_announced_with_hmac_and_retransmitted() {
    let mut eps = Endpoints::new();
    eps.add(ep(5, ip(2, 2), EndpointFlags::SIGNAL)).unwrap();
    let mut mib = MibCounters::new();
    let mut s = server(&eps);
    // Nothing before the connection is fully established.
    assert!(drain(&mut s).is_empty());
    s.handle_fully_established(&eps, T0, &mut mib);
    assert_eq!(events(&mut s), vec!["CREATED", "ESTABLISHED"]);
    let acts = drain(&mut s);
    let ann = announcements(&acts);
    assert_eq!(ann.len(), 1);
    let a = ann[0];
    assert_eq!(
        (a.echo, a.addr_id, a.addr, a.port),
        (false, 5, ip(2, 2), None)
    );
    assert_eq!(
        a.hmac,
        Some(crypto::add_addr_hmac(SK, CK, 5, ip(2, 2), None))
    );
    assert_eq!(mib.get(Mib::AddAddrTx), 1);
    // Retransmitted every add_addr_timeout, three times, then left alone.
    let t = eps.add_addr_timeout();
    assert_eq!(s.poll_timeout(), Some(T0 + t));
    s.handle_timeout(&eps, T0 + t / 2, &mut mib);
    assert!(drain(&mut s).is_empty(), "not yet");
    let mut now = T0;
    for n in 1..=ADD_ADDR_RETRANS_MAX {
        now = s.poll_timeout().expect("armed");
        s.handle_timeout(&eps, now, &mut mib);
        assert_eq!(announcements(&drain(&mut s)), vec![a], "retransmission {n}");
    }
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(now, T0 + t * 3);
    assert_eq!(mib.get(Mib::AddAddrTx), 1 + u64::from(ADD_ADDR_RETRANS_MAX));
}

#[test]
fn echo_stops_retransmission_and_next_address_follows() {
    let mut eps = Endpoints::new();
    eps.add(ep(5, ip(2, 2), EndpointFlags::SIGNAL)).unwrap();
    eps.add(ep(6, ip(3, 2), EndpointFlags::SIGNAL)).unwrap();
    let mut mib = MibCounters::new();
    let mut s = server(&eps);
    s.handle_fully_established(&eps, T0, &mut mib);
    let first = announcements(&drain(&mut s));
    assert_eq!(first.len(), 1, "one announcement at a time");
    assert_eq!(first[0].addr_id, 5);
    // The client echoes it.
    let mut c = client(&Endpoints::new());
    c.handle_add_addr(&Endpoints::new(), &first[0], T0, &mut mib);
    let echo = announcements(&drain(&mut c));
    assert_eq!(echo.len(), 1);
    assert!(echo[0].echo && echo[0].hmac.is_none());
    s.handle_add_addr(&eps, &echo[0], T0, &mut mib);
    assert_eq!(mib.get(Mib::EchoAdd), 1);
    let second = announcements(&drain(&mut s));
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].addr_id, 6);
    // The first is no longer retransmitted; the second is.
    let d = s.poll_timeout().unwrap();
    s.handle_timeout(&eps, d, &mut mib);
    assert_eq!(announcements(&drain(&mut s)), second);
    assert_eq!(s.counts().0, 2);
}

#[test]
fn subflow_endpoints_up_to_the_limit() {
    let mut eps = Endpoints::new();
    for i in 1..=3 {
        eps.add(ep(i, ip(1 + i, 1), EndpointFlags::SUBFLOW))
            .unwrap();
    }
    let backup = eps.set_flags(2, true, false).unwrap();
    assert!(backup.flags.contains(EndpointFlags::BACKUP));
    let mut mib = MibCounters::new();
    let mut c = client(&eps);
    c.handle_fully_established(&eps, T0, &mut mib);
    let conn = connects(&drain(&mut c));
    assert_eq!(conn.len(), 2, "limit subflows 2");
    assert_eq!(
        conn.iter()
            .map(|r| (r.local_id, r.local_addr, r.backup))
            .collect::<Vec<_>>(),
        vec![(1, Some(ip(2, 1)), false), (2, Some(ip(3, 1)), true)]
    );
    for r in &conn {
        assert_eq!((r.remote, r.remote_id), (sa(1, 2, 5201), 0));
    }
    assert_eq!(c.counts(), (0, 0, 2, 2));
    // One of them fails: the third endpoint takes its place.
    c.handle_subflow_closed(&eps, None, T0, &mut mib);
    let conn = connects(&drain(&mut c));
    assert_eq!(conn.len(), 1);
    assert_eq!(conn[0].local_id, 3);
    // No endpoint left: nothing more.
    c.handle_subflow_closed(&eps, None, T0, &mut mib);
    assert!(drain(&mut c).is_empty());
}

#[test]
fn subflow_established_and_closed_events() {
    let mut eps = Endpoints::new();
    eps.add(ep(1, ip(2, 1), EndpointFlags::SUBFLOW)).unwrap();
    let mut mib = MibCounters::new();
    let mut c = client(&eps);
    c.handle_fully_established(&eps, T0, &mut mib);
    let r = connects(&drain(&mut c))[0];
    let sf = PmSubflow {
        id: SubflowId(101),
        local_id: r.local_id,
        remote_id: 0,
        local: SocketAddr::new(r.local_addr.unwrap(), 50000),
        remote: r.remote,
        local_backup: false,
        remote_backup: false,
        join: true,
    };
    c.handle_subflow_established(&eps, sf, T0, &mut mib);
    assert_eq!(c.subflows().len(), 2);
    c.handle_subflow_closed(&eps, Some(SubflowId(101)), T0, &mut mib);
    c.handle_closed();
    let ev: Vec<PmEvent> = core::iter::from_fn(|| c.poll_event()).collect();
    let names: Vec<_> = ev.iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        vec![
            "CREATED",
            "ESTABLISHED",
            "SF_ESTABLISHED",
            "SF_CLOSED",
            "CLOSED"
        ]
    );
    let line = ev[2].to_string();
    assert!(line.starts_with("[SF_ESTABLISHED] token="), "{line}");
    assert!(
        line.contains("remid=0 locid=1 saddr4=10.0.2.1 daddr4=10.0.1.2 sport=50000 dport=5201"),
        "{line}"
    );
    assert_eq!(c.subflows().len(), 1);
}

#[test]
fn peer_deny_join_id0_blocks_plain_subflows() {
    let mut eps = Endpoints::new();
    eps.add(ep(1, ip(2, 1), EndpointFlags::SUBFLOW)).unwrap();
    let mut mib = MibCounters::new();
    let mut c = PmConn::new(
        &eps,
        1,
        Version::V1,
        CK,
        SK,
        sa(1, 1, 40000),
        sa(1, 2, 5201),
        SubflowId(0),
        true,
    );
    c.handle_fully_established(&eps, T0, &mut mib);
    assert!(connects(&drain(&mut c)).is_empty());
}

#[test]
fn fullmesh_connects_to_every_known_peer_address() {
    let mut eps = Endpoints::new();
    eps.add(ep(
        1,
        ip(2, 1),
        EndpointFlags::SUBFLOW | EndpointFlags::FULLMESH,
    ))
    .unwrap();
    eps.set_limits(Limits {
        subflows: 4,
        add_addr_accepted: 0,
    })
    .unwrap();
    let mut mib = MibCounters::new();
    let mut c = client(&eps);
    // The peer announced 10.0.3.2 (accepted 0: echo only, but the address is known).
    let mut peer = server(&Endpoints::new());
    let a = peer.add_addr_option(7, ip(3, 2), None, false);
    c.handle_add_addr(&eps, &a, T0, &mut mib);
    assert_eq!(connects(&drain(&mut c)).len(), 0);
    c.handle_fully_established(&eps, T0, &mut mib);
    let conn = connects(&drain(&mut c));
    let mut targets: Vec<_> = conn.iter().map(|r| (r.remote_id, r.remote)).collect();
    targets.sort();
    assert_eq!(targets, vec![(0, sa(1, 2, 5201)), (7, sa(3, 2, 5201))]);
    assert!(conn.iter().all(|r| r.local_id == 1));
    let _ = drain(&mut peer);
}

#[test]
fn add_addr_received_echo_and_accept() {
    let mut mib = MibCounters::new();
    let peer = server(&Endpoints::new());
    let a = peer.add_addr_option(5, ip(2, 2), None, false);
    // add_addr_accepted 0 (the default): echo only.
    let eps = Endpoints::new();
    let mut c = client(&eps);
    c.handle_add_addr(&eps, &a, T0, &mut mib);
    let acts = drain(&mut c);
    assert_eq!(acts.len(), 1);
    assert!(announcements(&acts)[0].echo);
    assert_eq!(events(&mut c), vec!["CREATED", "ANNOUNCED"]);
    assert_eq!((mib.get(Mib::AddAddr), mib.get(Mib::EchoAddTx)), (1, 1));

    // add_addr_accepted 1: echo and a subflow to it, from the address routing picks.
    let mut eps = Endpoints::new();
    eps.set_limits(Limits {
        subflows: 2,
        add_addr_accepted: 1,
    })
    .unwrap();
    let mut c = client(&eps);
    c.handle_add_addr(&eps, &a, T0, &mut mib);
    let acts = drain(&mut c);
    assert!(announcements(&acts)[0].echo);
    let conn = connects(&acts);
    assert_eq!(conn.len(), 1);
    assert_eq!(
        (
            conn[0].local_addr,
            conn[0].local_id,
            conn[0].remote,
            conn[0].remote_id
        ),
        (None, 0, sa(2, 2, 5201), 5)
    );
    assert_eq!(c.counts(), (0, 1, 1, 0));
    // A second announcement: the limit is reached, echo only.
    let b = peer.add_addr_option(6, ip(3, 2), Some(6000), false);
    c.handle_add_addr(&eps, &b, T0, &mut mib);
    let acts = drain(&mut c);
    assert_eq!(connects(&acts).len(), 0);
    assert_eq!(announcements(&acts)[0].port, Some(6000));
    assert_eq!(mib.get(Mib::PortAdd), 1);

    // A wrong HMAC: dropped, not echoed.
    let mut bad = a;
    bad.hmac = a.hmac.map(|h| h ^ 1);
    let mut c = client(&eps);
    c.handle_add_addr(&eps, &bad, T0, &mut mib);
    assert!(drain(&mut c).is_empty());
    assert_eq!(mib.get(Mib::AddAddrDrop), 1);
    assert_eq!(events(&mut c), vec!["CREATED"]);
}

#[test]
fn rm_addr_closes_subflows_and_reopens_accepting() {
    let mut eps = Endpoints::new();
    eps.set_limits(Limits {
        subflows: 2,
        add_addr_accepted: 1,
    })
    .unwrap();
    let mut mib = MibCounters::new();
    let peer = server(&Endpoints::new());
    let mut c = client(&eps);
    let a = peer.add_addr_option(5, ip(2, 2), None, false);
    c.handle_add_addr(&eps, &a, T0, &mut mib);
    let r = connects(&drain(&mut c))[0];
    let sf = PmSubflow {
        id: SubflowId(101),
        local_id: 1,
        remote_id: r.remote_id,
        local: sa(2, 1, 50000),
        remote: r.remote,
        local_backup: false,
        remote_backup: false,
        join: true,
    };
    c.handle_subflow_established(&eps, sf, T0, &mut mib);
    let _ = events(&mut c);
    c.handle_rm_addr(&eps, &[5], &mut mib);
    assert_eq!(drain(&mut c), vec![PmAction::CloseSubflow(SubflowId(101))]);
    assert_eq!(events(&mut c), vec!["REMOVED"]);
    assert_eq!(mib.get(Mib::RmAddr), 1);
    assert_eq!(c.counts().1, 0, "accepted address released");
    c.handle_subflow_closed(&eps, Some(SubflowId(101)), T0, &mut mib);
    // A new announcement is accepted again.
    let b = peer.add_addr_option(6, ip(3, 2), None, false);
    c.handle_add_addr(&eps, &b, T0, &mut mib);
    assert_eq!(connects(&drain(&mut c)).len(), 1);
}

#[test]
fn mp_prio_both_ways() {
    let mut eps = Endpoints::new();
    eps.add(ep(5, ip(2, 2), EndpointFlags::SIGNAL)).unwrap();
    let mut mib = MibCounters::new();
    let mut s = server(&eps);
    let sf = PmSubflow {
        id: SubflowId(1),
        local_id: 5,
        remote_id: 1,
        local: sa(2, 2, 5201),
        remote: sa(2, 1, 50000),
        local_backup: false,
        remote_backup: false,
        join: true,
    };
    s.handle_subflow_established(&eps, sf, T0, &mut mib);
    let _ = drain(&mut s);
    let e = eps.set_flags(5, true, false).unwrap();
    s.handle_endpoint_changed(&e, &mut mib);
    let acts = drain(&mut s);
    assert_eq!(
        acts,
        vec![PmAction::SendMpPrio {
            subflow: SubflowId(1),
            backup: true
        }]
    );
    assert_eq!(
        acts[0].option(),
        Some(MptcpOption::MpPrio(MpPrio {
            backup: true,
            addr_id: None
        }))
    );
    assert_eq!(mib.get(Mib::MPPrioTx), 1);
    // Unchanged flags: nothing sent.
    s.handle_endpoint_changed(&e, &mut mib);
    assert!(drain(&mut s).is_empty());
    assert!(!s.set_backup(SubflowId(99), true, &mut mib));

    let mut c = client(&Endpoints::new());
    c.handle_mp_prio(SubflowId(100), true, &mut mib);
    assert_eq!(mib.get(Mib::MPPrioRx), 1);
    assert!(c.subflows()[0].remote_backup);
    let ev: Vec<_> = core::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(ev.last().unwrap().name(), "SF_PRIORITY");
}

#[test]
fn endpoint_deleted_removes_address_and_subflows() {
    let mut eps = Endpoints::new();
    eps.add(ep(5, ip(2, 2), EndpointFlags::SIGNAL)).unwrap();
    let mut mib = MibCounters::new();
    let mut s = server(&eps);
    s.handle_fully_established(&eps, T0, &mut mib);
    let _ = drain(&mut s);
    let sf = PmSubflow {
        id: SubflowId(1),
        local_id: 5,
        remote_id: 1,
        local: sa(2, 2, 5201),
        remote: sa(2, 1, 50000),
        local_backup: false,
        remote_backup: false,
        join: true,
    };
    assert!(s.allow_new_subflow(&eps));
    s.handle_subflow_established(&eps, sf, T0, &mut mib);
    let e = eps.del(5).unwrap();
    s.handle_endpoint_deleted(&e, &mut mib);
    let acts = drain(&mut s);
    assert_eq!(acts.len(), 2);
    let PmAction::SendRemoveAddr(l) = acts[0] else {
        panic!("{acts:?}")
    };
    assert_eq!(l.ids(), &[5]);
    assert_eq!(acts[1], PmAction::CloseSubflow(SubflowId(1)));
    assert_eq!((mib.get(Mib::RmAddrTx), mib.get(Mib::RmSubflow)), (1, 1));
    assert_eq!(
        s.poll_timeout(),
        None,
        "no retransmission of a removed address"
    );
    assert_eq!(s.counts().0, 0);
}

#[test]
fn passive_join_limit() {
    let mut mib = MibCounters::new();
    let mut eps = Endpoints::new();
    eps.set_limits(Limits {
        subflows: 0,
        add_addr_accepted: 0,
    })
    .unwrap();
    let mut s = server(&eps);
    s.handle_fully_established(&eps, T0, &mut mib);
    assert!(
        !s.allow_new_subflow(&eps),
        "limit 0 refuses (the tcprst fixture)"
    );
    let eps = Endpoints::new();
    let mut s = server(&eps);
    assert!(!s.allow_new_subflow(&eps), "not fully established yet");
    s.handle_fully_established(&eps, T0, &mut mib);
    assert!(s.allow_new_subflow(&eps));
    assert!(s.allow_new_subflow(&eps));
    assert!(!s.allow_new_subflow(&eps), "default limit 2");
    s.handle_subflow_closed(&eps, None, T0, &mut mib);
    assert!(s.allow_new_subflow(&eps));
}

#[test]
fn v0_announces_without_hmac_or_timer() {
    let mut eps = Endpoints::new();
    eps.add(ep(5, ip(2, 2), EndpointFlags::SIGNAL)).unwrap();
    let mut mib = MibCounters::new();
    let mut s = PmConn::new(
        &eps,
        1,
        Version::V0,
        SK,
        CK,
        sa(1, 2, 5201),
        sa(1, 1, 40000),
        SubflowId(0),
        false,
    );
    s.handle_fully_established(&eps, T0, &mut mib);
    let a = announcements(&drain(&mut s));
    assert_eq!(a[0].hmac, None);
    assert_eq!(s.poll_timeout(), None);
    // A v0 ADD_ADDR is taken without HMAC and not echoed.
    s.handle_add_addr(
        &eps,
        &AddAddr {
            echo: false,
            addr_id: 3,
            addr: ip(3, 1),
            port: None,
            hmac: None,
        },
        T0,
        &mut mib,
    );
    assert!(drain(&mut s).is_empty());
    assert_eq!(mib.get(Mib::AddAddr), 1);
}

#[test]
fn retransmitted_add_addr_is_echoed_but_opens_nothing_new() {
    let mut eps = Endpoints::new();
    eps.set_limits(Limits {
        subflows: 4,
        add_addr_accepted: 4,
    })
    .unwrap();
    let mut mib = MibCounters::new();
    let peer = server(&Endpoints::new());
    let a = peer.add_addr_option(5, ip(2, 2), None, false);
    let mut c = client(&eps);
    c.handle_add_addr(&eps, &a, T0, &mut mib);
    assert_eq!(connects(&drain(&mut c)).len(), 1);
    // Our echo was lost: the peer sends it again while our subflow is still connecting.
    c.handle_add_addr(&eps, &a, T0, &mut mib);
    let acts = drain(&mut c);
    assert_eq!(connects(&acts).len(), 0);
    assert!(announcements(&acts)[0].echo);
    assert_eq!(mib.get(Mib::EchoAddTx), 2);
    assert_eq!(c.counts(), (0, 1, 1, 0));
}

#[test]
fn signal_and_subflow_endpoint_does_both() {
    let mut eps = Endpoints::new();
    eps.add(ep(
        3,
        ip(2, 1),
        EndpointFlags::SIGNAL | EndpointFlags::SUBFLOW,
    ))
    .unwrap();
    let mut mib = MibCounters::new();
    let mut c = client(&eps);
    c.handle_fully_established(&eps, T0, &mut mib);
    let acts = drain(&mut c);
    let ann = announcements(&acts);
    let conn = connects(&acts);
    assert_eq!((ann.len(), conn.len()), (1, 1));
    assert_eq!((ann[0].addr_id, conn[0].local_id), (3, 3));
    assert_eq!(c.counts(), (1, 0, 1, 1));
}

#[test]
fn initial_address_endpoint_is_id_zero() {
    // An endpoint for the address the connection already uses is announced as ID 0 and is
    // not used for another subflow (Linux: mpc_endpoint_id).
    let mut eps = Endpoints::new();
    eps.add(ep(4, ip(1, 1), EndpointFlags::SUBFLOW)).unwrap();
    eps.add(ep(5, ip(2, 1), EndpointFlags::SUBFLOW)).unwrap();
    let mut mib = MibCounters::new();
    let mut c = client(&eps);
    c.handle_fully_established(&eps, T0, &mut mib);
    let conn = connects(&drain(&mut c));
    assert_eq!(conn.len(), 1);
    assert_eq!(conn[0].local_id, 5);
}

/// The path managers of two hosts, wired to the handshake state machines the way the
/// connection layer will: the server announces two addresses, the client accepts both
/// (limits 2/2) and joins them with MP_JOIN; every join passes its HMAC checks and the
/// server's subflow limit; both sides end with three subflows.
#[test]
fn two_hosts_announce_and_join() {
    use crate::mptcp::handshake::{JoinLocal, JoinSynReceived, JoinSynSent};
    use crate::mptcp::token::TokenTable;

    let mut seps = Endpoints::new();
    seps.add(ep(5, ip(2, 2), EndpointFlags::SIGNAL)).unwrap();
    seps.add(ep(
        6,
        ip(3, 2),
        EndpointFlags::SIGNAL | EndpointFlags::BACKUP,
    ))
    .unwrap();
    let mut ceps = Endpoints::new();
    ceps.set_limits(Limits {
        subflows: 2,
        add_addr_accepted: 2,
    })
    .unwrap();
    let (mut smib, mut cmib) = (MibCounters::new(), MibCounters::new());
    let mut stable = TokenTable::new();
    let sk = stable
        .new_accept(Version::V1, 7u32, &mut || SK, &mut smib)
        .unwrap();
    stable.set_remote_key(sk.key.token, CK);
    let mut s = server(&seps);
    let mut c = client(&ceps);
    s.handle_fully_established(&seps, T0, &mut smib);
    c.handle_fully_established(&ceps, T0, &mut cmib);

    let mut next_sf = 1;
    let mut nonce = 0x1000;
    for _round in 0..4 {
        // Server -> client: announcements.
        while let Some(a) = s.poll_action() {
            if let PmAction::SendAddAddr(add) = a {
                c.handle_add_addr(&ceps, &add, T0, &mut cmib);
            }
        }
        // Client -> server: echoes, and joins to the announced addresses.
        while let Some(a) = c.poll_action() {
            match a {
                PmAction::SendAddAddr(echo) => s.handle_add_addr(&seps, &echo, T0, &mut smib),
                PmAction::Connect(r) => {
                    let src = IpAddr::V4(Ipv4Addr::new(10, 0, 9, r.remote_id));
                    let local_id = ceps.local_id_for(&c, src).unwrap();
                    nonce += 1;
                    let j = JoinSynSent::new(
                        1u32,
                        crate::mptcp::handshake::JoinKeys {
                            version: Version::V1,
                            local_key: CK,
                            remote_key: SK,
                        },
                        JoinLocal {
                            addr_id: local_id,
                            backup: false,
                            nonce,
                        },
                        &mut cmib,
                    );
                    let sid = seps.local_id_for(&s, r.remote.ip()).unwrap();
                    let resp = JoinSynReceived::handle_syn(
                        &[j.syn_option()],
                        &stable,
                        JoinLocal {
                            addr_id: sid,
                            backup: seps.is_backup(r.remote.ip()),
                            nonce: nonce + 0x100,
                        },
                        &mut smib,
                    )
                    .unwrap()
                    .unwrap();
                    let j = j.handle_synack(&[resp.synack_option()], &mut cmib).unwrap();
                    let accept = s.allow_new_subflow(&seps);
                    let sv = resp
                        .handle_ack(&[j.ack_option()], accept, &mut smib)
                        .unwrap();
                    let cv = j.handle_ack();
                    let id = SubflowId(next_sf);
                    next_sf += 1;
                    let (cl, sr) = (SocketAddr::new(src, 40000 + id.0 as u16), r.remote);
                    s.handle_subflow_established(
                        &seps,
                        PmSubflow {
                            id,
                            local_id: sv.local_id(),
                            remote_id: sv.remote_id(),
                            local: sr,
                            remote: cl,
                            local_backup: sv.local_backup(),
                            remote_backup: sv.remote_backup(),
                            join: true,
                        },
                        T0,
                        &mut smib,
                    );
                    c.handle_subflow_established(
                        &ceps,
                        PmSubflow {
                            id,
                            local_id: cv.local_id(),
                            remote_id: cv.remote_id(),
                            local: cl,
                            remote: sr,
                            local_backup: cv.local_backup(),
                            remote_backup: cv.remote_backup(),
                            join: true,
                        },
                        T0,
                        &mut cmib,
                    );
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(s.subflows().len(), 3);
    assert_eq!(c.subflows().len(), 3);
    let remote_ids: Vec<u8> = c.subflows().iter().map(|x| x.remote_id).collect();
    assert_eq!(remote_ids, vec![0, 5, 6]);
    // The second address is a backup endpoint: the server asked for backup in its SYN/ACK.
    assert!(c.subflows()[2].remote_backup && !c.subflows()[1].remote_backup);
    assert_eq!(s.counts(), (2, 0, 2, 0));
    assert_eq!(c.counts(), (0, 2, 2, 0));
    for (m, n) in [
        (Mib::AddAddrTx, 2),
        (Mib::EchoAdd, 2),
        (Mib::MPJoinSynRx, 2),
        (Mib::MPJoinAckRx, 2),
    ] {
        assert_eq!(smib.get(m), n, "server {m}");
    }
    for (m, n) in [
        (Mib::AddAddr, 2),
        (Mib::EchoAddTx, 2),
        (Mib::MPJoinSynTx, 2),
        (Mib::MPJoinSynAckRx, 2),
        (Mib::MPJoinSynAckBackupRx, 1),
    ] {
        assert_eq!(cmib.get(m), n, "client {m}");
    }
    let ev: Vec<_> = core::iter::from_fn(|| c.poll_event())
        .map(|e| e.name())
        .collect();
    assert_eq!(
        ev,
        vec![
            "CREATED",
            "ESTABLISHED",
            "ANNOUNCED",
            "SF_ESTABLISHED",
            "ANNOUNCED",
            "SF_ESTABLISHED"
        ]
    );
    assert_eq!(s.poll_timeout(), None, "both announcements echoed");
}

#[test]
fn announced_port_is_known() {
    let mut eps = Endpoints::new();
    let mut e = ep(5, ip(2, 2), EndpointFlags::SIGNAL);
    e.port = Some(6000);
    eps.add(e).unwrap();
    let mut mib = MibCounters::new();
    let mut s = server(&eps);
    assert!(!s.port_announced(6000));
    s.handle_fully_established(&eps, T0, &mut mib);
    let a = announcements(&drain(&mut s));
    assert_eq!(a[0].port, Some(6000));
    assert!(s.port_announced(6000));
    assert!(!s.port_announced(5201));
}
