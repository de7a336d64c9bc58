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
            (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()), hl, seg)
        }
        EtherType::Ipv6 => {
            let ip = Ipv6Packet::new_checked(l3)?;
            let (next, offset) = ip.upper_layer()?;
            if next != TCP {
                return Ok(None);
            }
            let seg = l3.get(offset..ip.total_len()).ok_or(Error::Truncated)?;
            (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()), offset, seg)
        }
        _ => return Ok(None),
    };
    TcpPacket::new_checked(segment)?;
    Ok(Some(TcpFrame { src_addr, dst_addr, vlan: None, ip_offset: 0, tcp_offset, segment }))
}
