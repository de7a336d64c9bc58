//! Moving data between a connection and its subflows: scheduler snapshots,
//! reinjection, new data, DATA_FIN, the data-level window.

use crate::mptcp::conn::{ConnState, MpConn};
use crate::mptcp::mib::Mib;
use crate::mptcp::shared::{sf_flags, SubflowSnapshot};
use crate::mptcp::subflow::{ConnId, Subflow};
use crate::sched::SchedCtx;
use crate::stack::{ConnHandle, Transport};
use crate::time::{Duration, Instant};

use super::{MpEvent, MptcpStack};

/// DATA_FIN retransmission interval (ACKs carrying it are re-sent until DATA_ACKed).
const DATA_FIN_RTX: Duration = Duration::from_millis(200);

/// Earliest-completion-first (Lim et al., CoNEXT 2017) on top of the scheduler: when
/// the chosen subflow is slower than the fastest one, which has no window room now, and
/// the fastest would deliver all that is left before the chosen one delivers anything,
/// wait for the fastest instead (the tail of a transfer does not strand on a slow path).
fn ecf_wait(ctx: &SchedCtx, chosen: Option<usize>) -> bool {
    let Some(i) = chosen else { return false };
    let sfs = ctx.subflows();
    let Some(c) = sfs.get(i) else { return false };
    let fast = sfs
        .iter()
        .filter(|s| s.is_usable() && !s.is_backup() && s.srtt_us > 0)
        .min_by_key(|s| s.srtt_us);
    let Some(f) = fast else { return false };
    if f.id == c.id || f.cwnd_space() > 0 || c.srtt_us == 0 || f.cwnd == 0 {
        return false;
    }
    let left = ctx.sendable() + f.wmem();
    let rounds = 1 + left / u64::from(f.cwnd);
    rounds * u64::from(f.srtt_us) < u64::from(c.srtt_us)
}

impl MptcpStack {
    pub(super) fn publish_window(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let (Some(sh), Some(r)) = (conn.shared.as_ref(), conn.reasm.as_ref()) else {
            return;
        };
        let old_ack = sh.ack_seq();
        let ack = r.ack();
        sh.publish_ack(ack);
        let edge = sh.publish_rcv_wnd_end(r.wnd_end());
        let readable = r.readable() > 0 || r.is_finished();
        if readable && !conn.readable {
            self.events.push_back(MpEvent::Readable(MpConn(id)));
        }
        conn.readable = readable;
        // A window that opened by a quarter of the buffer, or a DATA_FIN to
        // acknowledge, is announced at once (on the first live subflow).
        let opened = edge.0.saturating_sub(conn.last_wnd_edge) >= (conn.recv_cap as u64) / 4;
        let fin_ack = r.fin_received() && ack > old_ack;
        if opened || fin_ack {
            conn.last_wnd_edge = edge.0;
            let hs: Vec<ConnHandle> = conn
                .subflows
                .iter()
                .filter(|e| !e.info.closed && e.info.established)
                .map(|e| e.info.handle)
                .collect();
            for h in hs.into_iter().take(if fin_ack { 8 } else { 1 }) {
                let _ = self.stack.with_transport(h, Subflow::request_ack);
            }
        }
    }

    /// Moves data: snapshots, reinjection, new data, DATA_FIN.
    pub(super) fn pump(&mut self, id: ConnId, now: Option<Instant>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let (Some(sh), Some(_)) = (conn.shared.clone(), conn.sendbuf.as_ref()) else {
            return;
        };
        if conn.state == ConnState::Closed && conn.error.is_some() {
            return;
        }
        // DATA_ACKed data leaves the send buffer.
        let una = sh.snd_una();
        let sb = conn.sendbuf.as_mut().expect("checked");
        sb.release(una);
        sh.publish_write_seq(sb.write_seq());
        if sb.free_space() > 0 && !conn.writable && conn.state == ConnState::Established {
            conn.writable = true;
            self.events.push_back(MpEvent::Writable(MpConn(id)));
        }
        // Snapshots of usable subflows.
        let mut by_slot: [Option<ConnHandle>; 8] = [None; 8];
        for e in conn.subflows.iter_mut() {
            if e.info.closed || !e.info.established {
                continue;
            }
            let Some(sf) = self.stack.transport(e.info.handle) else {
                continue;
            };
            if !sf.is_data_ready() {
                continue;
            }
            if e.slot.is_none() {
                e.slot = sh.alloc_slot();
            }
            let Some(slot) = e.slot else { continue };
            by_slot[slot] = Some(e.info.handle);
            let s = sf.socket();
            let mut flags = sf_flags::ACTIVE | sf_flags::ESTABLISHED;
            if e.info.backup {
                flags |= sf_flags::BACKUP;
            }
            if conn.stale.is_stale(slot) {
                flags |= sf_flags::STALE;
            }
            sh.publish(
                slot,
                &SubflowSnapshot {
                    id: e.info.id,
                    flags,
                    // The smoothed RTT lags a growing queue by many RTTs; the latest
                    // sample, when larger, says how long new data will take now.
                    srtt_us: s
                        .rtt()
                        .srtt()
                        .map(|d| s.rtt().latest().map_or(d, |l| l.max(d)))
                        .map_or(0, |d| d.as_micros() as u32),
                    rttvar_us: s.rtt().rttvar().as_micros() as u32,
                    cwnd: s.cwnd() as u32,
                    // RFC 6675 pipe plus bytes queued and not sent yet: what the
                    // congestion window still has room for (Linux: cwnd space over
                    // the packets in flight, and the write queue).
                    in_flight: s.in_flight() as u32,
                    queued: s.write_seq().diff(s.snd_nxt()).max(0) as u32,
                    mss: s.mss() as u16,
                    stale_count: conn.stale.count(slot),
                    pacing_rate: 0,
                },
            );
        }
        // Slots of subflows that are not usable now: not active.
        for (slot, h) in by_slot.iter().enumerate() {
            if h.is_none() && sh.slots_used() & (1 << slot) != 0 {
                let mut s = sh.snapshot(slot);
                s.flags = 0;
                sh.publish(slot, &s);
            }
        }
        let now_us = now.map_or(0, Instant::as_micros);
        // The data-level retransmission timer (Linux `__mptcp_retrans`): when the
        // DATA_ACK does not move for twice the largest subflow RTO while data is
        // outstanding, the first unacknowledged data is reinjected (a receiver may drop
        // data its subflow acknowledged, e.g. under memory pressure). It backs off.
        if let Some(now) = now {
            let una = sh.snd_una();
            if sh.snd_nxt() <= una {
                conn.rtx = None;
                conn.rtx_backoff = 0;
            } else {
                let ctx = SchedCtx::from_shared(&sh, 0, conn.sched_hint, now_us);
                let rto_us = ctx
                    .subflows()
                    .iter()
                    .filter(|x| x.is_active())
                    .map(|x| u64::from(x.srtt_us) + 4 * u64::from(x.rttvar_us))
                    .max()
                    .unwrap_or(0)
                    .clamp(200_000, 60_000_000);
                let wait = Duration::from_micros((2 * rto_us) << conn.rtx_backoff.min(6));
                match conn.rtx {
                    Some((seen, at)) if seen == una => {
                        if now >= at {
                            let sb = conn.sendbuf.as_mut().expect("checked");
                            let len = (sh.snd_nxt().0 - una.0).min(64 * 1024);
                            if sb.reinject_queued() == 0 && sb.reinject_range(una, len) > 0 {
                                conn.mib.inc(Mib::MPTCPRetrans);
                                self.mib.inc(Mib::MPTCPRetrans);
                            }
                            conn.rtx_backoff = conn.rtx_backoff.saturating_add(1);
                            conn.rtx = Some((una, now + wait + wait));
                        }
                    }
                    _ => {
                        conn.rtx = Some((una, now + wait));
                        conn.rtx_backoff = 0;
                    }
                }
                if let Some((_, at)) = conn.rtx {
                    self.timer = Some(self.timer.map_or(at, |t| t.min(at)));
                }
            }
        }
        // Opportunistic reinjection of the tail: nothing new to send, a fast subflow has
        // window room while a much slower one still has data in flight. The latest data sent on
        // the slow one (what would arrive last) is sent again on the fast one, so the
        // transfer does not end waiting for the slow path's queue. Duplicates are
        // dropped at the data level.
        for _ in 0..8 {
            let sb = conn.sendbuf.as_mut().expect("checked");
            if sh.sendable() != 0 || sb.reinject_queued() != 0 {
                break;
            }
            {
                let ctx = SchedCtx::from_shared(&sh, 0, conn.sched_hint, now_us);
                let fast = ctx
                    .subflows()
                    .iter()
                    .filter(|f| {
                        f.is_usable()
                            && !f.is_backup()
                            && f.srtt_us > 0
                            && f.cwnd_space() >= u64::from(f.mss.max(1))
                    })
                    .min_by_key(|f| f.srtt_us)
                    .copied();
                if let Some(f) = fast {
                    let slow = ctx.subflows().iter().find(|x| {
                        x.id != f.id
                            && x.srtt_us > 2 * f.srtt_us + 5_000
                            && sb.outstanding_on(x.slot as u8) > 0
                    });
                    if let Some(x) = slow {
                        let mark = conn.tail_mark.unwrap_or(crate::seq::DataSeq(u64::MAX));
                        let latest = sb
                            .sent_ranges()
                            .filter(|r| r.subflow == x.slot as u8 && r.start < mark)
                            .map(|r| (r.start, r.end.min(mark)))
                            .last();
                        let h = by_slot.get(f.slot as usize).copied().flatten();
                        if let (Some((start, end)), Some(h)) = (latest, h) {
                            let room =
                                self.stack.transport(h).map_or(0, Subflow::send_space) as u64;
                            let len = (end - start)
                                .min(f.cwnd_space())
                                .min(room)
                                .min(crate::mptcp::mapping::TxMappings::MAX_LEN as u64);
                            let from = crate::seq::DataSeq(end.0 - len);
                            self.bufs.clear();
                            self.bufs.extend(sb.read(from, len as usize));
                            let bufs = &self.bufs;
                            let ok = len > 0
                                && self
                                    .stack
                                    .with_transport(h, |sf| sf.push_data(from, bufs))
                                    .unwrap_or(false);
                            if !ok {
                                break;
                            }
                            conn.tail_mark = Some(from);
                            let mut snap = sh.snapshot(f.slot as usize);
                            snap.in_flight = snap.in_flight.saturating_add(len as u32);
                            sh.publish(f.slot as usize, &snap);
                            sb.record_sent(f.slot as u8, from, len);
                            conn.mib.inc(Mib::MPTCPRetrans);
                            self.mib.inc(Mib::MPTCPRetrans);
                            continue;
                        }
                    }
                }
            }
            break;
        }
        // Reinjections first.
        for _ in 0..64 {
            let sb = conn.sendbuf.as_mut().expect("checked");
            if sb.reinject_queued() == 0 {
                break;
            }
            let ctx = SchedCtx::from_shared(&sh, sb.reinject_queued(), conn.sched_hint, now_us);
            let d = conn.sched.get_retrans(&ctx);
            let Some(i) = d.first() else { break };
            let slot = ctx.subflows[i].slot as usize;
            let Some(h) = by_slot.get(slot).copied().flatten() else {
                break;
            };
            let room = self.stack.transport(h).map_or(0, Subflow::send_space) as u64;
            let max = d
                .bytes
                .min(ctx.subflows[i].cwnd_space())
                .min(room)
                .min(16 * 1024);
            if max == 0 {
                break;
            }
            let Some(r) = sb.poll_reinject(max) else {
                break;
            };
            self.bufs.clear();
            self.bufs.extend(sb.read(r.dsn, r.len as usize));
            let bufs = &self.bufs;
            let ok = self
                .stack
                .with_transport(h, |sf| sf.push_data(r.dsn, bufs))
                .unwrap_or(false);
            if ok {
                let mut snap = sh.snapshot(slot);
                snap.in_flight = snap.in_flight.saturating_add(r.len as u32);
                sh.publish(slot, &snap);
                sb.record_sent(slot as u8, r.dsn, r.len);
                conn.mib.inc(Mib::MPTCPRetrans);
                self.mib.inc(Mib::MPTCPRetrans);
                if let Some(e) = conn.subflows.iter_mut().find(|e| e.info.handle == h) {
                    e.info.bytes_sent += r.len;
                }
            } else {
                sb.reinject_range(r.dsn, r.len);
                break;
            }
        }
        // New data.
        for _ in 0..256 {
            let sb = conn.sendbuf.as_mut().expect("checked");
            let ctx = SchedCtx::from_shared(&sh, sb.reinject_queued(), conn.sched_hint, now_us);
            if ctx.sendable() == 0 {
                break;
            }
            let d = conn.sched.get_send(&ctx);
            if d.bytes == 0 {
                break;
            }
            if ecf_wait(&ctx, d.first()) {
                break;
            }
            let mut room = u64::MAX;
            for i in d.entries() {
                let slot = ctx.subflows[i].slot as usize;
                let sf_room = by_slot
                    .get(slot)
                    .copied()
                    .flatten()
                    .and_then(|h| self.stack.transport(h))
                    .map_or(0, Subflow::send_space) as u64;
                room = room.min(ctx.subflows[i].cwnd_space()).min(sf_room);
            }
            let mss = d
                .first()
                .map_or(1460, |i| u64::from(ctx.subflows[i].mss.max(536)));
            let chunk = (16 * mss).min(crate::mptcp::mapping::TxMappings::MAX_LEN as u64);
            // Whole segments: a mapping that ends mid-segment makes a short segment (no
            // segment straddles two mappings), so the congestion-window room is rounded
            // up to whole segments (the socket's own cwnd check stays in charge).
            let cw_room = room.div_ceil(mss) * mss;
            let sf_room = d
                .first()
                .and_then(|i| {
                    by_slot
                        .get(ctx.subflows[i].slot as usize)
                        .copied()
                        .flatten()
                })
                .and_then(|h| self.stack.transport(h))
                .map_or(0, Subflow::send_space) as u64;
            let want = d.bytes.min(cw_room).min(chunk).min(sf_room);
            // Avoid tiny mappings: wait for a segment's worth of room unless that is all
            // there is to send.
            if want == 0 || (want < mss && want < ctx.sendable()) {
                break;
            }
            let Some((dsn, len)) = sh.claim_within(want) else {
                break;
            };
            self.bufs.clear();
            self.bufs.extend(sb.read(dsn, len as usize));
            let mut any = false;
            for i in d.entries() {
                let slot = ctx.subflows[i].slot as usize;
                let Some(h) = by_slot.get(slot).copied().flatten() else {
                    continue;
                };
                let bufs = &self.bufs;
                let ok = self
                    .stack
                    .with_transport(h, |sf| sf.push_data(dsn, bufs))
                    .unwrap_or(false);
                if ok {
                    any = true;
                    // What the scheduler sees next: this subflow's queue grew.
                    let mut snap = sh.snapshot(slot);
                    snap.in_flight = snap.in_flight.saturating_add(len as u32);
                    sh.publish(slot, &snap);
                    sb.record_sent(slot as u8, dsn, len);
                    if let Some(e) = conn.subflows.iter_mut().find(|e| e.info.handle == h) {
                        e.info.bytes_sent += len;
                    }
                }
            }
            if !any {
                // Nobody took it: put it back for reinjection (same DSNs).
                sb.reinject_range(dsn, len);
                break;
            }
        }
        // DATA_FIN once everything is claimed (RFC 8684 §3.3.3), on every subflow.
        if conn.shutdown && !conn.data_fin_sent {
            let sb = conn.sendbuf.as_ref().expect("checked");
            if sh.snd_nxt() == sb.write_seq() && sb.reinject_queued() == 0 {
                sh.queue_data_fin();
                if let Some(fin) = sh.claim_data_fin() {
                    conn.data_fin_sent = true;
                    let fallback = conn.fallback;
                    let hs: Vec<ConnHandle> = conn
                        .subflows
                        .iter()
                        .filter(|e| !e.info.closed)
                        .map(|e| e.info.handle)
                        .collect();
                    for h in hs {
                        let _ = self.stack.with_transport(h, |sf| {
                            sf.send_data_fin(fin);
                            if fallback {
                                // Plain TCP: the FIN is the DATA_FIN.
                                sf.shutdown();
                            }
                        });
                    }
                    // Without the time (called from `shutdown`), the retransmission
                    // timer is armed as due now: the next `handle_timeout` re-sends and
                    // re-arms it (a DATA_FIN that was never retransmitted stalled the
                    // close).
                    let at = now.map_or(Instant::ZERO, |n| n + DATA_FIN_RTX);
                    conn.data_fin_rtx_at = Some(at);
                    self.timer = Some(self.timer.map_or(at, |t| t.min(at)));
                }
            }
        }
    }

    pub(super) fn data_fin_timer(&mut self, now: Instant, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(at) = conn.data_fin_rtx_at else {
            return;
        };
        self.touch(id);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.send_finished() || conn.state == ConnState::Closed {
            conn.data_fin_rtx_at = None;
            return;
        }
        if at <= now {
            let hs: Vec<ConnHandle> = conn
                .subflows
                .iter()
                .filter(|e| !e.info.closed)
                .map(|e| e.info.handle)
                .collect();
            for h in hs {
                let _ = self.stack.with_transport(h, Subflow::request_ack);
            }
            let next = now + DATA_FIN_RTX;
            conn.data_fin_rtx_at = Some(next);
            self.timer = Some(self.timer.map_or(next, |t| t.min(next)));
        } else {
            self.timer = Some(self.timer.map_or(at, |t| t.min(at)));
        }
    }
}
