//! The receive path: Ethernet, ARP, IPv4, TCP demultiplexing and listeners.

use core::net::{IpAddr, Ipv4Addr};

use super::iface::{is_local, route};
use super::{new_conn, Control, FourTuple, Opener, Stack, Transport};
use crate::seq::SubflowSeq;
use crate::tcp::socket::{rst_reply, State};
use crate::tcp::Instant;
use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::mptcp::Version;
use crate::wire::tcp::{TcpFlags, TcpPacket, TcpRepr, PROTOCOL as TCP};
use crate::wire::Error;

/// Whether TSval `a` is after `b` (RFC 7323 §5.2's wrapping comparison).
fn ts_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl<O: Opener> Stack<O> {
    /// A frame arrived on interface `iface`. Never panics, whatever the bytes.
    pub fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            self.counters.eth_dropped += 1;
            return;
        };
        let Some(ifc) = self.ifaces.get(iface) else {
            self.counters.eth_dropped += 1;
            return;
        };
        let dst = eth.dst_addr();
        if dst != ifc.mac && !dst.is_broadcast() {
            self.counters.eth_dropped += 1;
            return;
        }
        let src_mac = eth.src_addr();
        let payload = frame.get(eth.header_len()..).unwrap_or(&[]);
        match eth.ethertype() {
            EtherType::Arp => self.arp_input(now, iface, payload),
            EtherType::Ipv4 => self.ipv4_input(now, iface, src_mac, payload),
            _ => self.counters.eth_dropped += 1,
        }
        self.clean_timers();
    }

    fn arp_input(&mut self, now: Instant, iface: usize, payload: &[u8]) {
        let repr = ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p));
        let Ok(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_protocol_addr: tpa,
            ..
        }) = repr
        else {
            self.counters.arp.bad += 1;
            return;
        };
        if !sha.is_unicast() {
            self.counters.arp.bad += 1;
            return;
        }
        let for_us = is_local(&self.ifaces, tpa);
        // RFC 826 "packet reception": update the sender's entry if we have one; add it
        // if we are the target. An ARP probe (sender 0.0.0.0) teaches nothing.
        if !spa.is_unspecified() && !is_local(&self.ifaces, spa) {
            let before = self.ready.len();
            self.arp
                .update(now, spa, sha, iface, for_us, &mut self.ready);
            for (_, f) in self.ready.iter_mut().skip(before) {
                if let Some(d) = f.get_mut(..6) {
                    d.copy_from_slice(&sha.0);
                }
            }
        }
        match operation {
            ArpOperation::Request if for_us => {
                self.counters.arp.requests_rx += 1;
                let Some(mac) = self.ifaces.get(iface).map(|f| f.mac) else {
                    return;
                };
                // Weak host: answered on whichever interface it came in on.
                self.push_control(Control::Arp {
                    iface,
                    dst_mac: sha,
                    arp: ArpRepr::EthernetIpv4 {
                        operation: ArpOperation::Reply,
                        source_hardware_addr: mac,
                        source_protocol_addr: tpa,
                        target_hardware_addr: sha,
                        target_protocol_addr: spa,
                    },
                });
            }
            ArpOperation::Reply => self.counters.arp.replies_rx += 1,
            _ => {}
        }
    }

    pub(super) fn push_control(&mut self, c: Control) {
        if self.control.len() < self.cfg.control_queue {
            self.control.push_back(c);
        }
    }

    fn ipv4_input(&mut self, now: Instant, iface: usize, src_mac: EthernetAddress, payload: &[u8]) {
        let ip = &mut self.counters.ip;
        ip.in_receives += 1;
        let Ok(p) = Ipv4Packet::new_checked(payload) else {
            ip.in_hdr_errors += 1;
            return;
        };
        // RFC 1122 §3.2.1.2: a datagram whose header checksum fails MUST be discarded.
        if p.version() != 4 || !p.verify_checksum() {
            ip.in_hdr_errors += 1;
            return;
        }
        // We send with DF and do not reassemble: every fragment is dropped.
        if p.is_fragment() {
            ip.reasm_fails += 1;
            return;
        }
        let (src, dst) = (p.src_addr(), p.dst_addr());
        if !is_local(&self.ifaces, dst) {
            ip.in_addr_errors += 1;
            return;
        }
        if p.protocol() != TCP {
            ip.in_unknown_protos += 1;
            return;
        }
        let Some(seg) = payload.get(p.header_len()..usize::from(p.total_len())) else {
            ip.in_hdr_errors += 1;
            return;
        };
        ip.in_delivers += 1;
        self.tcp_input(now, iface, src_mac, src, dst, seg);
    }

    fn tcp_input(
        &mut self,
        now: Instant,
        iface: usize,
        src_mac: EthernetAddress,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        seg: &[u8],
    ) {
        let t = &mut self.counters.tcp;
        t.in_segs += 1;
        let Ok(packet) = TcpPacket::new_checked(seg) else {
            t.in_errs += 1;
            return;
        };
        let repr =
            match TcpRepr::parse(&packet, IpAddr::V4(src), IpAddr::V4(dst), true, Version::V1) {
                Ok(r) => r,
                Err(Error::Checksum) => {
                    t.in_csum_errors += 1;
                    t.in_errs += 1;
                    return;
                }
                Err(_) => {
                    t.in_errs += 1;
                    return;
                }
            };
        let tuple = FourTuple::new(dst, repr.dst_port, src, repr.src_port);
        if let Some(&index) = self.table.get(&tuple) {
            match self.conn_input(now, index, &repr) {
                Some(None) => return,
                // A TIME_WAIT connection gave way to a new SYN.
                Some(Some(iss)) => {
                    return self.listen_input(now, iface, src_mac, tuple, &repr, Some(iss))
                }
                None => {}
            }
        }
        if self.listeners.contains_key(&repr.dst_port) {
            return self.listen_input(now, iface, src_mac, tuple, &repr, None);
        }
        self.reply_rst(iface, src_mac, &tuple, &repr);
    }

    /// A segment for the connection in slot `index`. `Some(None)`: handled;
    /// `Some(Some(iss))`: the TIME_WAIT connection was recycled, hand the SYN to the
    /// listener with that ISN; `None`: no live connection after all.
    fn conn_input(
        &mut self,
        now: Instant,
        index: u32,
        seg: &TcpRepr<'_>,
    ) -> Option<Option<SubflowSeq>> {
        let c = self.slots.get_mut(index as usize)?.conn.as_mut()?;
        let state = c.sock.state();
        let pure_syn = seg.flags.contains(TcpFlags::SYN)
            && !seg.flags.contains(TcpFlags::RST)
            && seg.ack_number.is_none();
        if state == State::TimeWait && pure_syn && self.listeners.contains_key(&c.tuple.local_port)
        {
            // RFC 6191 / Linux tcp_timewait_state_process: a SYN whose sequence number
            // is above RCV.NXT, or whose timestamp is newer than the last one seen (and
            // not older: PAWS), may start a new incarnation of the 4-tuple.
            let (paws_reject, newer) = match (c.peer_tsval, seg.timestamp) {
                (Some(recent), Some(ts)) => {
                    (ts_after(recent, ts.tsval), ts_after(ts.tsval, recent))
                }
                _ => (false, false),
            };
            if !paws_reject && (seg.seq_number > c.sock.rcv_nxt() || newer) {
                // Linux: the new ISN is above anything the old incarnation sent.
                let iss = c.sock.snd_nxt() + 65_537usize;
                if c.owned {
                    // The application still holds it (shut down, never closed).
                    let h = self.handle_of(index);
                    self.events.push_back(super::Event::Closed(h));
                }
                self.counters.ext.tw_recycled += 1;
                self.free_slot(index);
                return Some(Some(iss));
            }
        }
        if state == State::SynReceived
            && seg.ack_number.is_some()
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::RST)
        {
            if let Some(l) = c.listener.and_then(|p| self.listeners.get(&p)) {
                if l.accept_full() {
                    // Linux tcp_check_req -> listen_overflow: the handshake's ACK is
                    // dropped (tcp_abort_on_overflow=0); the SYN-ACK will be resent.
                    self.counters.ext.listen_overflows += 1;
                    self.counters.ext.listen_drops += 1;
                    return Some(None);
                }
            }
        }
        if let Some(ts) = seg.timestamp {
            if c.peer_tsval.is_none_or(|r| ts_after(ts.tsval, r)) {
                c.peer_tsval = Some(ts.tsval);
            }
        }
        c.sock.handle_segment(now, seg);
        self.update_conn(index, true);
        Some(None)
    }

    /// A segment for a listening port (RFC 9293 §3.10.7.2) with the backlog checks.
    fn listen_input(
        &mut self,
        now: Instant,
        iface: usize,
        src_mac: EthernetAddress,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
        iss: Option<SubflowSeq>,
    ) {
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        if seg.ack_number.is_some() {
            // "Any acknowledgment is bad if it arrives on a connection still in the
            // LISTEN state": <SEQ=SEG.ACK><CTL=RST>.
            return self.reply_rst(iface, src_mac, &tuple, seg);
        }
        if !seg.flags.contains(TcpFlags::SYN) {
            return;
        }
        let Some(l) = self.listeners.get(&tuple.local_port) else {
            return;
        };
        // Linux tcp_conn_request: a full accept queue drops the SYN (ListenOverflows),
        // a full SYN queue without syncookies too; both count ListenDrops.
        if l.accept_full() {
            self.counters.ext.listen_overflows += 1;
            self.counters.ext.listen_drops += 1;
            return;
        }
        if l.syn_full() {
            self.counters.ext.listen_drops += 1;
            return;
        }
        let Some(r) = route(&self.ifaces, tuple.remote_addr, Some(tuple.local_addr)) else {
            self.counters.ip.out_no_routes += 1;
            return;
        };
        let iss = iss.unwrap_or_else(|| {
            self.isn.isn(
                now,
                tuple.local_addr,
                tuple.local_port,
                tuple.remote_addr,
                tuple.remote_port,
            )
        });
        let ts = self.isn.ts_offset(tuple.local_addr, tuple.remote_addr);
        let Some(sock) = self.opener.accept_syn(now, &tuple, iss, ts, seg) else {
            self.counters.ext.listen_drops += 1;
            return;
        };
        let mut c = new_conn(sock, tuple, r, Some(tuple.local_port), false);
        c.peer_tsval = seg.timestamp.map(|t| t.tsval);
        if let Some(l) = self.listeners.get_mut(&tuple.local_port) {
            l.syn_recv += 1;
        }
        let index = self.insert(c);
        self.update_conn(index, true);
    }

    /// RFC 9293 §3.10.7.1: the reply to a segment for no connection (none to a RST),
    /// sent back to the MAC it came from.
    fn reply_rst(
        &mut self,
        iface: usize,
        src_mac: EthernetAddress,
        tuple: &FourTuple,
        seg: &TcpRepr<'_>,
    ) {
        match rst_reply(seg) {
            Some(r) => self.push_control(Control::Rst {
                iface,
                dst_mac: src_mac,
                src: tuple.local_addr,
                dst: tuple.remote_addr,
                ports: (r.src_port, r.dst_port),
                seq: r.seq_number,
                ack: r.ack_number,
            }),
            None => self.counters.ext.rst_to_closed_ignored += 1,
        }
    }
}
