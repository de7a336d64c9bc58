//! The send path: control frames, frames released by ARP, and the dirty connections.

use core::net::{IpAddr, Ipv4Addr};

use super::{Control, Opener, Stack, Transport};
use crate::tcp::socket::State;
use crate::tcp::Instant;
use crate::wire::arp::{ArpOperation, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetRepr};
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::tcp::{TcpFlags, TcpPacket, TcpRepr, PROTOCOL as TCP};

const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;

/// Writes Ethernet + IPv4 + `seg` (checksums filled) into `buf`; returns the length.
pub(super) fn build_tcp_frame(
    buf: &mut [u8],
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    seg: &TcpRepr<'_>,
) -> Option<usize> {
    let tcp_len = seg.buffer_len();
    let total = ETH_LEN + IP_LEN + tcp_len;
    let buf = buf.get_mut(..total)?;
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        vlan: None,
        ethertype: EtherType::Ipv4,
    }
    .emit(buf)
    .ok()?;
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: TCP,
        payload_len: tcp_len,
        ttl,
        tos: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(buf.get_mut(ETH_LEN..)?)
    .ok()?;
    let mut p = TcpPacket::new_unchecked(buf.get_mut(ETH_LEN + IP_LEN..)?);
    seg.emit(&mut p, IpAddr::V4(src), IpAddr::V4(dst), true)
        .ok()?;
    Some(total)
}

/// Writes Ethernet + ARP into `buf`; returns the length.
fn build_arp_frame(
    buf: &mut [u8],
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    arp: &ArpRepr,
) -> Option<usize> {
    let n = EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        vlan: None,
        ethertype: EtherType::Arp,
    }
    .emit(buf)
    .ok()?;
    let m = arp.emit(buf.get_mut(n..)?).ok()?;
    Some(n + m)
}

impl<O: Opener> Stack<O> {
    /// Emits every frame that is ready, each as `emit(iface, frame)` (the frame is only
    /// borrowed for the call).
    pub fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        // Frames that waited for ARP go first: they are older than anything the
        // connections produce now.
        for (iface, f) in self.ready.drain(..) {
            // Counted in OutRequests when built.
            emit(iface, &f);
            self.spare.push(f);
        }
        while let Some(c) = self.control.pop_front() {
            self.emit_control(c, emit);
        }
        let mut dirty = core::mem::take(&mut self.dirty);
        for &index in &dirty {
            self.drain_conn(now, index, emit);
        }
        dirty.clear();
        // Connections drained above never re-mark themselves, so nothing was lost.
        debug_assert!(self.dirty.is_empty());
        self.dirty = dirty;
        self.arp_timeouts(now);
        // Requests for neighbours the connections just started resolving.
        while let Some(c) = self.control.pop_front() {
            self.emit_control(c, emit);
        }
        self.clean_timers();
    }

    /// Sends due ARP requests (queued as control frames).
    pub(super) fn arp_timeouts(&mut self, now: Instant) {
        if self.arp.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        let mut dropped = Vec::new();
        let mut probes = core::mem::take(&mut self.probes);
        self.arp
            .handle_timeout(now, &mut probes, &mut dropped, &mut self.counters.arp);
        self.spare.append(&mut dropped);
        for p in probes.drain(..) {
            let Some(ifc) = self.ifaces.get(p.iface) else {
                continue;
            };
            // The source address: the interface's address on the target's subnet, else
            // its first.
            let spa = ifc
                .addrs
                .iter()
                .find(|a| a.contains(p.target))
                .or(ifc.addrs.first())
                .map_or(Ipv4Addr::UNSPECIFIED, |a| a.addr);
            let c = Control::Arp {
                iface: p.iface,
                dst_mac: p.unicast.unwrap_or(EthernetAddress::BROADCAST),
                arp: ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Request,
                    source_hardware_addr: ifc.mac,
                    source_protocol_addr: spa,
                    target_hardware_addr: EthernetAddress([0; 6]),
                    target_protocol_addr: p.target,
                },
            };
            self.push_control(c);
        }
        self.probes = probes;
    }

    fn emit_control(&mut self, c: Control, emit: &mut dyn FnMut(usize, &[u8])) {
        match c {
            Control::Arp {
                iface,
                dst_mac,
                arp,
            } => {
                let Some(mac) = self.ifaces.get(iface).map(|f| f.mac) else {
                    return;
                };
                if let Some(n) = build_arp_frame(&mut self.tx, mac, dst_mac, &arp) {
                    let ArpRepr::EthernetIpv4 { operation, .. } = arp;
                    match operation {
                        ArpOperation::Request => self.counters.arp.requests_tx += 1,
                        _ => self.counters.arp.replies_tx += 1,
                    }
                    emit(iface, &self.tx[..n]);
                }
            }
            Control::Rst {
                iface,
                dst_mac,
                src,
                dst,
                ports,
                seq,
                ack,
            } => {
                let seg = TcpRepr {
                    src_port: ports.0,
                    dst_port: ports.1,
                    flags: TcpFlags::RST,
                    seq_number: seq,
                    ack_number: ack,
                    ..TcpRepr::default()
                };
                let Some(mac) = self.ifaces.get(iface).map(|f| f.mac) else {
                    return;
                };
                if let Some(n) =
                    build_tcp_frame(&mut self.tx, mac, dst_mac, src, dst, self.cfg.ttl, &seg)
                {
                    self.counters.tcp.out_segs += 1;
                    self.counters.tcp.out_rsts += 1;
                    self.counters.ip.out_requests += 1;
                    emit(iface, &self.tx[..n]);
                }
            }
        }
    }

    /// Sends everything connection `index` has, then frees it if it is closed and
    /// nobody holds it.
    fn drain_conn(&mut self, now: Instant, index: u32, emit: &mut dyn FnMut(usize, &[u8])) {
        {
            let Stack {
                slots,
                scratch,
                tx,
                arp,
                ifaces,
                counters,
                spare,
                cfg,
                ..
            } = self;
            let Some(c) = slots.get_mut(index as usize).and_then(|s| s.conn.as_mut()) else {
                return;
            };
            c.dirty = false;
            let Some(ifc) = ifaces.get(c.route.iface) else {
                return;
            };
            loop {
                let snd_nxt = c.sock.snd_nxt();
                let Some(seg) = c.sock.poll_transmit(now, scratch) else {
                    break;
                };
                let t = &mut counters.tcp;
                if seg.flags.contains(TcpFlags::RST) {
                    t.out_rsts += 1;
                }
                // Linux counts OutSegs for segments that carry new sequence space or
                // none (pure ACKs), RetransSegs for the rest.
                if seg.segment_len() > 0 && seg.seq_number < snd_nxt {
                    t.retrans_segs += 1;
                } else {
                    t.out_segs += 1;
                }
                let mac = arp.lookup(now, c.route.iface, c.route.next_hop);
                let Some(n) = build_tcp_frame(
                    tx,
                    ifc.mac,
                    mac.unwrap_or(EthernetAddress([0; 6])),
                    c.tuple.local_addr,
                    c.tuple.remote_addr,
                    cfg.ttl,
                    &seg,
                ) else {
                    counters.emit_errors += 1;
                    continue;
                };
                counters.ip.out_requests += 1;
                match mac {
                    Some(_) => emit(c.route.iface, &tx[..n]),
                    None => {
                        if !arp.enqueue(now, c.route.iface, c.route.next_hop, &tx[..n], spare) {
                            counters.arp.unresolved_drops += 1;
                        }
                    }
                }
            }
        }
        self.update_conn(index, false);
        let done = self
            .slots
            .get(index as usize)
            .and_then(|s| s.conn.as_ref())
            .is_some_and(|c| {
                matches!(c.state, State::Closed | State::Listen) && !c.owned && !c.queued
            });
        if done {
            self.free_slot(index);
        }
    }
}
