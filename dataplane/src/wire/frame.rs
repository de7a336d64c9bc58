//! Whole-frame parsing: Ethernet (or a bare IP packet) -> IPv4/IPv6 -> TCP.
//!
//! Used by everything that meets a frame without knowing what is in it: the capture
//! decoder, the simulator's middleboxes, fuzzing, and later the workers' receive path.
//! Nothing here allocates or panics; a frame that is not TCP over IP is `Ok(None)`, a
//! frame that claims to be but is broken is an [`Error`](super::Error).

use core::net::IpAddr;

use super::ethernet::{EtherType, EthernetFrame, VlanTag};
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::tcp::{TcpOptionsIter, TcpPacket, PROTOCOL as TCP};
use super::{Error, Result};

/// A TCP segment found in a frame, with the addresses of its IP header.
#[derive(Debug, Clone)]
pub struct TcpFrame<'a> {
    pub src_addr: IpAddr,
    pub dst_addr: IpAddr,
    /// The 802.1Q tag of the Ethernet frame, if it had one.
    pub vlan: Option<VlanTag>,
    /// Offset of the IP header in the buffer that was parsed.
    pub ip_offset: usize,
    /// Offset of the TCP header in the buffer that was parsed.
    pub tcp_offset: usize,
    /// The TCP header and payload, bounded by the IP length (link padding excluded);
    /// already length-checked as a TCP segment.
    pub segment: &'a [u8],
}

impl<'a> TcpFrame<'a> {
    /// The TCP view of the segment (its length was checked when the frame was parsed).
    pub fn packet(&self) -> TcpPacket<&'a [u8]> {
        TcpPacket::new_unchecked(self.segment)
    }

    /// The TCP payload, borrowed from the parsed buffer.
    pub fn payload(&self) -> &'a [u8] {
        let hl = usize::from(self.packet().header_len());
        self.segment.get(hl..).unwrap_or(&[])
    }

    /// TCP payload length in bytes.
    pub fn payload_len(&self) -> usize {
        self.payload().len()
    }

    /// The TCP options of the segment.
    pub fn options(&self) -> TcpOptionsIter<'a> {
        let hl = usize::from(self.packet().header_len()).min(self.segment.len());
        TcpOptionsIter::new(self.segment.get(super::tcp::HEADER_LEN..hl).unwrap_or(&[]))
    }

    /// Whether the TCP checksum is right for the IP addresses.
    pub fn verify_checksum(&self) -> bool {
        self.packet().verify_checksum(self.src_addr, self.dst_addr)
    }
}

/// Parses an Ethernet frame (with at most one VLAN tag) down to TCP.
pub fn parse_ethernet(frame: &[u8]) -> Result<Option<TcpFrame<'_>>> {
    let eth = EthernetFrame::new_checked(frame)?;
    let vlan = eth.vlan();
    let header_len = eth.header_len();
    let l3 = frame.get(header_len..).ok_or(Error::Truncated)?;
    let found = parse_ip(u16::from(eth.ethertype()), l3)?;
    Ok(found.map(|mut t| {
        t.vlan = vlan;
        t.ip_offset += header_len;
        t.tcp_offset += header_len;
        t
    }))
}

/// Parses an IP packet whose EtherType is known (from a cooked capture header, or an
/// Ethernet frame) down to TCP.
pub fn parse_ip(ethertype: u16, l3: &[u8]) -> Result<Option<TcpFrame<'_>>> {
    let (src_addr, dst_addr, tcp_offset, segment) = match EtherType::from(ethertype) {
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(l3)?;
            if ip.protocol() != TCP {
                return Ok(None);
            }
            // A fragment carries no complete TCP segment; we do not reassemble.
            if ip.is_fragment() {
                return Err(Error::Unsupported);
            }
            let hl = ip.header_len();
            let total = usize::from(ip.total_len());
            let seg = l3.get(hl..total).ok_or(Error::Truncated)?;
            (
                IpAddr::V4(ip.src_addr()),
                IpAddr::V4(ip.dst_addr()),
                hl,
                seg,
            )
        }
        EtherType::Ipv6 => {
            let ip = Ipv6Packet::new_checked(l3)?;
            let (next, offset) = ip.upper_layer()?;
            if next != TCP {
                return Ok(None);
            }
            let seg = l3.get(offset..ip.total_len()).ok_or(Error::Truncated)?;
            (
                IpAddr::V6(ip.src_addr()),
                IpAddr::V6(ip.dst_addr()),
                offset,
                seg,
            )
        }
        _ => return Ok(None),
    };
    TcpPacket::new_checked(segment)?;
    Ok(Some(TcpFrame {
        src_addr,
        dst_addr,
        vlan: None,
        ip_offset: 0,
        tcp_offset,
        segment,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::SubflowSeq;
    use crate::wire::ethernet::{EthernetAddress, EthernetRepr};
    use crate::wire::ip::IpRepr;
    use crate::wire::mptcp::{Dss, DssMapping, DssSeq, MptcpOption, Version};
    use crate::wire::tcp::{TcpFlags, TcpRepr};
    use proptest::prelude::*;

    /// A valid Ethernet/IPv4|IPv6/TCP frame with timestamps and a DSS, built by our emitters.
    fn frame(v6: bool, vlan: bool, payload: &[u8]) -> Vec<u8> {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap())
        } else {
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
        };
        let mut tcp = TcpRepr {
            src_port: 40000,
            dst_port: 5201,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            seq_number: SubflowSeq(1000),
            ack_number: Some(SubflowSeq(2000)),
            window_len: 512,
            timestamp: Some(crate::wire::tcp::TcpTimestamp { tsval: 1, tsecr: 2 }),
            payload,
            ..Default::default()
        };
        tcp.mptcp
            .push(MptcpOption::Dss(Dss {
                data_fin: false,
                data_ack: Some(DssSeq {
                    value: 77,
                    wide: true,
                }),
                mapping: Some(DssMapping {
                    dsn: DssSeq {
                        value: 1 << 40,
                        wide: true,
                    },
                    ssn: 1,
                    data_len: payload.len() as u16,
                    checksum: None,
                }),
            }))
            .unwrap();
        let ip = IpRepr::new(src, dst, TCP, tcp.buffer_len(), 64).unwrap();
        let eth = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            vlan: vlan.then(|| VlanTag::from_tci(crate::wire::ethernet::VlanTpid::Dot1Q, 42)),
            ethertype: if v6 { EtherType::Ipv6 } else { EtherType::Ipv4 },
        };
        let mut buf = vec![0u8; eth.header_len() + ip.buffer_len()];
        let eh = eth.emit(&mut buf).unwrap();
        let ih = ip.emit(&mut buf[eh..]).unwrap();
        let mut p = TcpPacket::new_unchecked(&mut buf[eh + ih..]);
        tcp.emit(&mut p, src, dst, true).unwrap();
        buf
    }

    #[test]
    fn finds_tcp_in_every_layout() {
        for (v6, vlan) in [(false, false), (false, true), (true, false), (true, true)] {
            let f = frame(v6, vlan, b"hello");
            let t = parse_ethernet(&f).unwrap().expect("a TCP frame");
            assert_eq!(t.payload(), b"hello");
            assert!(t.verify_checksum());
            assert_eq!(t.vlan.is_some(), vlan);
            assert_eq!(t.packet().dst_port(), 5201);
            let opts: Vec<_> = t.options().collect();
            assert!(opts
                .iter()
                .any(|o| matches!(o, Ok(crate::wire::tcp::TcpOption::Mptcp(_)))));
            // Trailing link padding is not payload.
            let mut padded = f.clone();
            padded.extend_from_slice(&[0u8; 17]);
            assert_eq!(
                parse_ethernet(&padded).unwrap().unwrap().payload(),
                b"hello"
            );
        }
    }

    #[test]
    fn non_tcp_is_none_and_broken_is_error() {
        let mut f = frame(false, false, b"x");
        // ARP ethertype: not ours to decode.
        f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert!(parse_ethernet(&f).unwrap().is_none());
        let mut f = frame(false, false, b"x");
        f[14 + 9] = 17; // UDP
        assert!(parse_ethernet(&f).unwrap().is_none());
        let mut f = frame(false, false, b"x");
        f[14 + 6] = 0x20; // more fragments
        assert_eq!(parse_ethernet(&f).unwrap_err(), Error::Unsupported);
        let f = frame(false, false, b"x");
        assert_eq!(parse_ethernet(&f[..40]).unwrap_err(), Error::Truncated);
        let mut f = frame(false, false, b"x");
        f[14 + 20 + 12] = 0x40; // TCP data offset 4 < 5
        assert_eq!(parse_ethernet(&f).unwrap_err(), Error::Malformed);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Random bytes, and valid frames cut short or with bytes flipped, never panic
        /// anywhere on the receive path: frame, TCP options, TcpRepr, MPTCP options.
        #[test]
        fn whole_frame_path_never_panics(
            v6 in any::<bool>(), vlan in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            cut in any::<usize>(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            random in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let mut f = frame(v6, vlan, &payload);
            for (at, x) in flips {
                let n = f.len();
                f[at % n] ^= x;
            }
            let cut = cut % (f.len() + 1);
            for input in [&f[..cut], &f[..], &random[..]] {
                if let Ok(Some(t)) = parse_ethernet(input) {
                    let _ = t.verify_checksum();
                    let _ = t.payload_len();
                    for o in t.options() {
                        if let Ok(crate::wire::tcp::TcpOption::Mptcp(raw)) = o {
                            let _ = MptcpOption::parse(raw, Version::V1);
                            let _ = MptcpOption::parse(raw, Version::V0);
                        }
                    }
                    let p = t.packet();
                    let _ = TcpRepr::parse(&p, t.src_addr, t.dst_addr, true, Version::V1);
                    let _ = TcpRepr::parse(&p, t.src_addr, t.dst_addr, false, Version::V0);
                }
            }
        }
    }
}
