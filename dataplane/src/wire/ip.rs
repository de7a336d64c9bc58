//! Version-independent IP: protocol numbers and [`IpRepr`], which the transport layer
//! uses to parse, emit and checksum without caring whether it runs over IPv4 or IPv6.

use core::fmt;
use core::net::IpAddr;

use super::checksum::Checksum;
use super::ipv4::{Ipv4Packet, Ipv4Repr};
use super::ipv6::{Ipv6Packet, Ipv6Repr};
use super::{Error, Result};

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"; Linux `IPPROTO_*`),
/// used as IPv4 `protocol` and IPv6 `next_header`. A namespace of `u8` constants.
#[derive(Debug)]
pub enum IpProtocol {}

impl IpProtocol {
    /// IPv6 Hop-by-Hop Options (RFC 8200 §4.3).
    pub const HOPOPTS: u8 = 0;
    /// ICMP (RFC 792).
    pub const ICMP: u8 = 1;
    /// TCP (RFC 9293).
    pub const TCP: u8 = 6;
    /// UDP (RFC 768).
    pub const UDP: u8 = 17;
    /// IPv6 Routing header (RFC 8200 §4.4).
    pub const ROUTING: u8 = 43;
    /// IPv6 Fragment header (RFC 8200 §4.5).
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating Security Payload (RFC 4303).
    pub const ESP: u8 = 50;
    /// Authentication Header (RFC 4302).
    pub const AH: u8 = 51;
    /// ICMPv6 (RFC 4443).
    pub const ICMPV6: u8 = 58;
    /// IPv6 No Next Header (RFC 8200 §4.7).
    pub const NONE: u8 = 59;
    /// IPv6 Destination Options (RFC 8200 §4.6).
    pub const DSTOPTS: u8 = 60;
    /// Mobility header (RFC 6275).
    pub const MH: u8 = 135;
    /// Host Identity Protocol (RFC 7401).
    pub const HIP: u8 = 139;
    /// Shim6 (RFC 5533).
    pub const SHIM6: u8 = 140;
    /// Experimentation and testing (RFC 3692).
    pub const EXP1: u8 = 253;
    /// Experimentation and testing (RFC 3692).
    pub const EXP2: u8 = 254;

    /// Whether `p` is an IPv6 extension header number (IANA "IPv6 Extension Header
    /// Types"; No Next Header is not one).
    pub fn is_ipv6_ext_header(p: u8) -> bool {
        matches!(
            p,
            Self::HOPOPTS
                | Self::ROUTING
                | Self::FRAGMENT
                | Self::ESP
                | Self::AH
                | Self::DSTOPTS
                | Self::MH
                | Self::HIP
                | Self::SHIM6
                | Self::EXP1
                | Self::EXP2
        )
    }
}

/// An IPv4 or IPv6 header as the transport layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpRepr {
    /// IPv4.
    V4(Ipv4Repr),
    /// IPv6.
    V6(Ipv6Repr),
}

impl From<Ipv4Repr> for IpRepr {
    fn from(r: Ipv4Repr) -> Self {
        IpRepr::V4(r)
    }
}

impl From<Ipv6Repr> for IpRepr {
    fn from(r: Ipv6Repr) -> Self {
        IpRepr::V6(r)
    }
}

impl IpRepr {
    /// A header for an outgoing packet with the defaults mpdk sends with: IPv4 with DF,
    /// TOS 0 and ident 0; IPv6 with traffic class 0 and flow label 0.
    /// [`Error::Malformed`] if the two addresses are of different families.
    pub fn new(
        src_addr: IpAddr,
        dst_addr: IpAddr,
        protocol: u8,
        payload_len: usize,
        hop_limit: u8,
    ) -> Result<IpRepr> {
        match (src_addr, dst_addr) {
            (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => Ok(IpRepr::V4(Ipv4Repr {
                src_addr,
                dst_addr,
                protocol,
                payload_len,
                ttl: hop_limit,
                tos: 0,
                ident: 0,
                dont_frag: true,
            })),
            (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => Ok(IpRepr::V6(Ipv6Repr {
                src_addr,
                dst_addr,
                next_header: protocol,
                payload_len,
                hop_limit,
                traffic_class: 0,
                flow_label: 0,
            })),
            _ => Err(Error::Malformed),
        }
    }

    /// Parses an IPv4 or IPv6 packet (chosen by the version nibble) from `buf`, which
    /// may carry trailing link-layer padding. Returns the repr and the offset of the
    /// upper-layer data in `buf`; that data is `payload_len()` bytes long and lies inside
    /// `buf`. `verify_checksum` applies to the IPv4 header checksum. Errors are those of
    /// [`Ipv4Repr::parse`] and [`Ipv6Repr::parse`]; an empty buffer is
    /// [`Error::Truncated`], another version [`Error::Malformed`].
    pub fn parse(buf: &[u8], verify_checksum: bool) -> Result<(IpRepr, usize)> {
        match buf.first().map(|b| b >> 4) {
            None => Err(Error::Truncated),
            Some(4) => {
                let p = Ipv4Packet::new_unchecked(buf);
                let r = Ipv4Repr::parse(&p, verify_checksum)?;
                Ok((IpRepr::V4(r), p.header_len()))
            }
            Some(6) => {
                let (r, off) = Ipv6Repr::parse(&Ipv6Packet::new_unchecked(buf))?;
                Ok((IpRepr::V6(r), off))
            }
            Some(_) => Err(Error::Malformed),
        }
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        match self {
            IpRepr::V4(_) => 4,
            IpRepr::V6(_) => 6,
        }
    }

    /// Source address.
    pub fn src_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.src_addr),
            IpRepr::V6(r) => IpAddr::V6(r.src_addr),
        }
    }

    /// Destination address.
    pub fn dst_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.dst_addr),
            IpRepr::V6(r) => IpAddr::V6(r.dst_addr),
        }
    }

    /// The upper-layer protocol ([`IpProtocol`]).
    pub fn protocol(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.protocol,
            IpRepr::V6(r) => r.next_header,
        }
    }

    /// TTL or hop limit.
    pub fn hop_limit(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.ttl,
            IpRepr::V6(r) => r.hop_limit,
        }
    }

    /// The upper-layer length.
    pub fn payload_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.payload_len,
            IpRepr::V6(r) => r.payload_len,
        }
    }

    /// Sets the upper-layer length (before [`Self::emit`]).
    pub fn set_payload_len(&mut self, len: usize) {
        match self {
            IpRepr::V4(r) => r.payload_len = len,
            IpRepr::V6(r) => r.payload_len = len,
        }
    }

    /// The emitted header length: 20 or 40.
    pub fn header_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.header_len(),
            IpRepr::V6(r) => r.header_len(),
        }
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len()
    }

    /// Writes the header at the start of `buf` (see [`Ipv4Repr::emit`],
    /// [`Ipv6Repr::emit`]) and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            IpRepr::V4(r) => r.emit(buf),
            IpRepr::V6(r) => r.emit(buf),
        }
    }

    /// The pseudo-header sum for an upper-layer checksum over `upper_len` bytes, with
    /// this header's addresses and protocol (RFC 9293 §3.1, RFC 8200 §8.1). Add the
    /// upper-layer bytes to it, then [`Checksum::finish`]. An `upper_len` beyond the
    /// length field's range (65535 for IPv4) saturates.
    pub fn pseudo_header(&self, upper_len: usize) -> Checksum {
        match self {
            IpRepr::V4(r) => Checksum::pseudo_v4(
                r.src_addr,
                r.dst_addr,
                r.protocol,
                u16::try_from(upper_len).unwrap_or(u16::MAX),
            ),
            IpRepr::V6(r) => Checksum::pseudo_v6(
                r.src_addr,
                r.dst_addr,
                r.next_header,
                u32::try_from(upper_len).unwrap_or(u32::MAX),
            ),
        }
    }
}

impl fmt::Display for IpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpRepr::V4(r) => fmt::Display::fmt(r, f),
            IpRepr::V6(r) => fmt::Display::fmt(r, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    #[test]
    fn new_and_accessors() {
        let v4 = IpRepr::new(
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Ipv4Addr::new(10, 0, 0, 2).into(),
            IpProtocol::TCP,
            8,
            64,
        )
        .unwrap();
        assert_eq!(
            (v4.version(), v4.header_len(), v4.buffer_len()),
            (4, 20, 28)
        );
        assert_eq!(
            (v4.protocol(), v4.hop_limit(), v4.payload_len()),
            (6, 64, 8)
        );
        assert_eq!(v4.src_addr(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let mut v6 = IpRepr::new(
            Ipv6Addr::LOCALHOST.into(),
            Ipv6Addr::LOCALHOST.into(),
            IpProtocol::TCP,
            8,
            64,
        )
        .unwrap();
        v6.set_payload_len(9);
        assert_eq!(
            (v6.version(), v6.header_len(), v6.buffer_len()),
            (6, 40, 49)
        );
        assert_eq!(v6.dst_addr(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(
            IpRepr::new(
                Ipv4Addr::LOCALHOST.into(),
                Ipv6Addr::LOCALHOST.into(),
                6,
                0,
                64
            ),
            Err(Error::Malformed)
        );
        assert!(IpProtocol::is_ipv6_ext_header(IpProtocol::FRAGMENT));
        assert!(!IpProtocol::is_ipv6_ext_header(IpProtocol::NONE));
        assert!(!IpProtocol::is_ipv6_ext_header(IpProtocol::TCP));
    }

    #[test]
    fn parse_dispatch_errors() {
        assert_eq!(IpRepr::parse(&[], true), Err(Error::Truncated));
        assert_eq!(IpRepr::parse(&[0x55; 60], true), Err(Error::Malformed));
        assert_eq!(IpRepr::parse(&[0x45; 10], true), Err(Error::Truncated));
        assert_eq!(IpRepr::parse(&[0x60; 39], true), Err(Error::Truncated));
    }

    /// A UDP datagram 192.0.2.1:1234 -> 192.0.2.2:80 with payload "hi"; its checksum
    /// 0x0e4b was computed outside this code base (Python, RFC 1071 word sum).
    #[test]
    fn pseudo_header_v4_known_answer() {
        let ip = IpRepr::new(
            Ipv4Addr::new(192, 0, 2, 1).into(),
            Ipv4Addr::new(192, 0, 2, 2).into(),
            IpProtocol::UDP,
            10,
            64,
        )
        .unwrap();
        let udp = [0x04, 0xd2, 0x00, 0x50, 0x00, 0x0a, 0x00, 0x00, b'h', b'i'];
        let mut c = ip.pseudo_header(udp.len());
        c.add_bytes(&udp);
        // Reference: the same sum written out as one buffer for RFC 1071.
        let mut flat = vec![192, 0, 2, 1, 192, 0, 2, 2, 0, 17, 0, 10];
        flat.extend_from_slice(&udp);
        assert_eq!(c.finish(), checksum::reference(&flat));
        assert_eq!(c.finish(), 0x0e4b);
    }

    #[test]
    fn pseudo_header_v6_layout() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let ip = IpRepr::new(src.into(), dst.into(), IpProtocol::TCP, 20, 64).unwrap();
        let mut flat = Vec::new();
        flat.extend_from_slice(&src.octets());
        flat.extend_from_slice(&dst.octets());
        flat.extend_from_slice(&20u32.to_be_bytes());
        flat.extend_from_slice(&[0, 0, 0, 6]);
        assert_eq!(ip.pseudo_header(20).finish(), checksum::reference(&flat));
    }

    fn arb_repr() -> impl Strategy<Value = IpRepr> {
        let v4 = (
            any::<[u32; 2]>(),
            any::<u8>(),
            0usize..2000,
            any::<(u8, u8, u16, bool)>(),
        )
            .prop_map(
                |([s, d], protocol, payload_len, (ttl, tos, ident, dont_frag))| {
                    IpRepr::V4(Ipv4Repr {
                        src_addr: s.into(),
                        dst_addr: d.into(),
                        protocol,
                        payload_len,
                        ttl,
                        tos,
                        ident,
                        dont_frag,
                    })
                },
            );
        let v6 = (
            any::<[u128; 2]>(),
            any::<u8>().prop_filter("upper layer", |p| {
                !IpProtocol::is_ipv6_ext_header(*p) && *p != IpProtocol::NONE
            }),
            0usize..2000,
            any::<(u8, u8, u32)>(),
        )
            .prop_map(|([s, d], next_header, payload_len, (hop_limit, tc, fl))| {
                IpRepr::V6(Ipv6Repr {
                    src_addr: s.into(),
                    dst_addr: d.into(),
                    next_header,
                    payload_len,
                    hop_limit,
                    traffic_class: tc,
                    flow_label: fl & crate::wire::ipv6::FLOW_LABEL_MAX,
                })
            });
        prop_oneof![v4, v6]
    }

    proptest! {
        #[test]
        fn round_trip(r in arb_repr(), pad in 0usize..20) {
            let mut buf = vec![0u8; r.buffer_len() + pad];
            let n = r.emit(&mut buf).unwrap();
            prop_assert_eq!(n, r.header_len());
            prop_assert_eq!(IpRepr::parse(&buf, true), Ok((r, n)));
        }

        #[test]
        fn no_panic_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..120),
                                    verify in any::<bool>()) {
            if let Ok((r, off)) = IpRepr::parse(&data, verify) {
                prop_assert!(off + r.payload_len() <= data.len());
                let _ = r.pseudo_header(r.payload_len());
            }
        }

        #[test]
        fn no_panic_on_truncated_valid(r in arb_repr(), cut in any::<usize>(),
                                       flip in any::<(usize, u8)>()) {
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut buf).unwrap();
            let i = flip.0 % buf.len();
            buf[i] ^= flip.1;
            let data = &buf[..cut % (buf.len() + 1)];
            if let Ok((r, off)) = IpRepr::parse(data, false) {
                prop_assert!(off + r.payload_len() <= data.len());
            }
        }
    }
}
