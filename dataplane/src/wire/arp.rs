//! ARP (RFC 826) for IPv4 over Ethernet.
//!
//! [`ArpPacket`] is a zero-copy view over any hardware/protocol address sizes (the
//! address fields sit at offsets computed from HLEN and PLEN); [`ArpRepr`] only knows
//! Ethernet/IPv4 and turns every other combination into [`Error::Unsupported`].
//!
//! Panic contract: no accessor or setter of [`ArpPacket`] panics, even on a view made
//! with [`ArpPacket::new_unchecked`]: reads outside the buffer return zeros or empty
//! slices, writes outside it are dropped. [`ArpPacket::new_checked`] guarantees that every
//! address field lies inside the buffer.

use core::fmt;
use core::net::Ipv4Addr;

use super::ethernet::{EtherType, EthernetAddress};
use super::{be, Error, Result};

/// The hardware type field (IANA "Hardware Types"; Linux `ARPHRD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpHardware {
    /// 1, Ethernet (10Mb), `ARPHRD_ETHER`.
    Ethernet,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for ArpHardware {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpHardware::Ethernet,
            other => ArpHardware::Unknown(other),
        }
    }
}

impl From<ArpHardware> for u16 {
    fn from(h: ArpHardware) -> u16 {
        match h {
            ArpHardware::Ethernet => 1,
            ArpHardware::Unknown(v) => v,
        }
    }
}

/// The opcode field (`ARPOP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// 1, `ARPOP_REQUEST`.
    Request,
    /// 2, `ARPOP_REPLY`.
    Reply,
    /// Anything else (RARP, InARP, ...).
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(op: ArpOperation) -> u16 {
        match op {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(v) => v,
        }
    }
}

/// Byte ranges of the fixed part of the ARP header. The address fields follow at offsets
/// that depend on HLEN and PLEN; see [`field::sha`] and friends.
pub mod field {
    use core::ops::Range;

    /// Hardware type.
    pub const HTYPE: Range<usize> = 0..2;
    /// Protocol type (an EtherType).
    pub const PTYPE: Range<usize> = 2..4;
    /// Hardware address length.
    pub const HLEN: usize = 4;
    /// Protocol address length.
    pub const PLEN: usize = 5;
    /// Operation.
    pub const OPER: Range<usize> = 6..8;

    /// Sender hardware address.
    pub const fn sha(hlen: u8, _plen: u8) -> Range<usize> {
        let start = OPER.end;
        start..start + hlen as usize
    }
    /// Sender protocol address.
    pub const fn spa(hlen: u8, plen: u8) -> Range<usize> {
        let start = sha(hlen, plen).end;
        start..start + plen as usize
    }
    /// Target hardware address.
    pub const fn tha(hlen: u8, plen: u8) -> Range<usize> {
        let start = spa(hlen, plen).end;
        start..start + hlen as usize
    }
    /// Target protocol address.
    pub const fn tpa(hlen: u8, plen: u8) -> Range<usize> {
        let start = tha(hlen, plen).end;
        start..start + plen as usize
    }
}

/// Length of the fixed part of the header (before the addresses).
pub const HEADER_LEN: usize = field::OPER.end;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = field::tpa(6, 4).end;

/// A view of an ARP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checking it (accessors still do not panic).
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }

    /// Wraps a buffer and checks it with [`Self::check_len`].
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// [`Error::Truncated`] unless the buffer holds the fixed header and all four
    /// addresses of the sizes HLEN and PLEN announce.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if len < field::tpa(self.hardware_len(), self.protocol_len()).end {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type.
    pub fn hardware_type(&self) -> ArpHardware {
        be::u16(self.buffer.as_ref(), field::HTYPE.start).into()
    }

    /// Protocol type.
    pub fn protocol_type(&self) -> EtherType {
        be::u16(self.buffer.as_ref(), field::PTYPE.start).into()
    }

    /// Hardware address length in bytes.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref().get(field::HLEN).copied().unwrap_or(0)
    }

    /// Protocol address length in bytes.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref().get(field::PLEN).copied().unwrap_or(0)
    }

    /// Operation.
    pub fn operation(&self) -> ArpOperation {
        be::u16(self.buffer.as_ref(), field::OPER.start).into()
    }

    fn slice(&self, r: core::ops::Range<usize>) -> &[u8] {
        self.buffer.as_ref().get(r).unwrap_or_default()
    }

    /// Sender hardware address (HLEN bytes).
    pub fn source_hardware_addr(&self) -> &[u8] {
        self.slice(field::sha(self.hardware_len(), self.protocol_len()))
    }

    /// Sender protocol address (PLEN bytes).
    pub fn source_protocol_addr(&self) -> &[u8] {
        self.slice(field::spa(self.hardware_len(), self.protocol_len()))
    }

    /// Target hardware address (HLEN bytes).
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.slice(field::tha(self.hardware_len(), self.protocol_len()))
    }

    /// Target protocol address (PLEN bytes).
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.slice(field::tpa(self.hardware_len(), self.protocol_len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, v: ArpHardware) {
        be::put_u16(self.buffer.as_mut(), field::HTYPE.start, v.into());
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, v: EtherType) {
        be::put_u16(self.buffer.as_mut(), field::PTYPE.start, v.into());
    }

    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::HLEN) {
            *b = v;
        }
    }

    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::PLEN) {
            *b = v;
        }
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, v: ArpOperation) {
        be::put_u16(self.buffer.as_mut(), field::OPER.start, v.into());
    }

    fn put(&mut self, r: core::ops::Range<usize>, v: &[u8]) {
        if let Some(s) = self.buffer.as_mut().get_mut(r) {
            if s.len() == v.len() {
                s.copy_from_slice(v);
            }
        }
    }

    /// Sets the sender hardware address; ignored unless `v` is HLEN bytes.
    pub fn set_source_hardware_addr(&mut self, v: &[u8]) {
        self.put(field::sha(self.hardware_len(), self.protocol_len()), v);
    }

    /// Sets the sender protocol address; ignored unless `v` is PLEN bytes.
    pub fn set_source_protocol_addr(&mut self, v: &[u8]) {
        self.put(field::spa(self.hardware_len(), self.protocol_len()), v);
    }

    /// Sets the target hardware address; ignored unless `v` is HLEN bytes.
    pub fn set_target_hardware_addr(&mut self, v: &[u8]) {
        self.put(field::tha(self.hardware_len(), self.protocol_len()), v);
    }

    /// Sets the target protocol address; ignored unless `v` is PLEN bytes.
    pub fn set_target_protocol_addr(&mut self, v: &[u8]) {
        self.put(field::tpa(self.hardware_len(), self.protocol_len()), v);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for ArpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

fn ipv4_from(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::from(be::u32(b, 0))
}

/// An owned ARP packet. Only Ethernet/IPv4 exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArpRepr {
    /// HTYPE 1, PTYPE 0x0800, HLEN 6, PLEN 4.
    EthernetIpv4 {
        /// Request, Reply, or another opcode.
        operation: ArpOperation,
        /// Sender MAC.
        source_hardware_addr: EthernetAddress,
        /// Sender IPv4 address.
        source_protocol_addr: Ipv4Addr,
        /// Target MAC (zero in a request).
        target_hardware_addr: EthernetAddress,
        /// Target IPv4 address.
        target_protocol_addr: Ipv4Addr,
    },
}

impl ArpRepr {
    /// Reads an Ethernet/IPv4 ARP packet. [`Error::Truncated`] if the buffer is short,
    /// [`Error::Unsupported`] for any other hardware/protocol combination.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != ArpHardware::Ethernet
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(ArpRepr::EthernetIpv4 {
            operation: packet.operation(),
            source_hardware_addr: EthernetAddress::from_bytes(packet.source_hardware_addr())
                .ok_or(Error::Truncated)?,
            source_protocol_addr: ipv4_from(packet.source_protocol_addr()),
            target_hardware_addr: EthernetAddress::from_bytes(packet.target_hardware_addr())
                .ok_or(Error::Truncated)?,
            target_protocol_addr: ipv4_from(packet.target_protocol_addr()),
        })
    }

    /// Length of the emitted packet (28 for Ethernet/IPv4).
    pub fn buffer_len(&self) -> usize {
        match self {
            ArpRepr::EthernetIpv4 { .. } => ETHERNET_IPV4_LEN,
        }
    }

    /// Writes the packet at the start of `buf` and returns its length;
    /// [`Error::NoSpace`] if `buf` is too short.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let b = buf.get_mut(..len).ok_or(Error::NoSpace)?;
        let mut p = ArpPacket::new_unchecked(b);
        match *self {
            ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                target_hardware_addr,
                target_protocol_addr,
            } => {
                p.set_hardware_type(ArpHardware::Ethernet);
                p.set_protocol_type(EtherType::Ipv4);
                p.set_hardware_len(6);
                p.set_protocol_len(4);
                p.set_operation(operation);
                p.set_source_hardware_addr(&source_hardware_addr.0);
                p.set_source_protocol_addr(&source_protocol_addr.octets());
                p.set_target_hardware_addr(&target_hardware_addr.0);
                p.set_target_protocol_addr(&target_protocol_addr.octets());
            }
        }
        Ok(len)
    }
}

impl fmt::Display for ArpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                target_hardware_addr,
                target_protocol_addr,
            } => write!(
                f,
                "ARP {operation:?} src={source_hardware_addr}/{source_protocol_addr} \
                 tgt={target_hardware_addr}/{target_protocol_addr}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // A request "who has 10.0.0.2? tell 10.0.0.1".
    const REQUEST: [u8; 28] = [
        0x00, 0x01, // htype Ethernet
        0x08, 0x00, // ptype IPv4
        0x06, 0x04, // hlen, plen
        0x00, 0x01, // request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // sha
        0x0a, 0x00, 0x00, 0x01, // spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha
        0x0a, 0x00, 0x00, 0x02, // tpa
    ];

    fn request_repr() -> ArpRepr {
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            source_protocol_addr: Ipv4Addr::new(10, 0, 0, 1),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: Ipv4Addr::new(10, 0, 0, 2),
        }
    }

    #[test]
    fn request_vector() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), ArpHardware::Ethernet);
        assert_eq!(p.protocol_type(), EtherType::Ipv4);
        assert_eq!(p.operation(), ArpOperation::Request);
        assert_eq!(p.source_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(ArpRepr::parse(&p), Ok(request_repr()));
        let mut out = [0u8; 28];
        assert_eq!(request_repr().emit(&mut out), Ok(28));
        assert_eq!(out, REQUEST);
        assert_eq!(request_repr().emit(&mut out[..27]), Err(Error::NoSpace));
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..28 {
            assert_eq!(
                ArpPacket::new_checked(&REQUEST[..n]).err(),
                Some(Error::Truncated),
                "len {n}"
            );
            let p = ArpPacket::new_unchecked(&REQUEST[..n]);
            assert_eq!(ArpRepr::parse(&p), Err(Error::Truncated));
        }
    }

    #[test]
    fn other_types_unsupported() {
        for (at, v) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut b = [0u8; 64];
            b[..28].copy_from_slice(&REQUEST);
            b[at] = v;
            let p = ArpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(ArpRepr::parse(&p), Err(Error::Unsupported), "byte {at}");
        }
    }

    #[test]
    fn other_sizes_view() {
        // A 20-byte hardware address (InfiniBand-like) and IPv4.
        let mut b = [0u8; 8 + 2 * 24];
        b[4] = 20;
        b[5] = 4;
        b[8 + 20..8 + 24].copy_from_slice(&[1, 2, 3, 4]);
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.source_hardware_addr().len(), 20);
        assert_eq!(p.source_protocol_addr(), &[1, 2, 3, 4]);
        assert_eq!(
            ArpPacket::new_checked(&b[..b.len() - 1]).err(),
            Some(Error::Truncated)
        );
    }

    fn arb_repr() -> impl Strategy<Value = ArpRepr> {
        (
            any::<u16>().prop_map(ArpOperation::from),
            any::<[u8; 6]>(),
            any::<u32>(),
            any::<[u8; 6]>(),
            any::<u32>(),
        )
            .prop_map(|(operation, sha, spa, tha, tpa)| ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr: EthernetAddress(sha),
                source_protocol_addr: Ipv4Addr::from(spa),
                target_hardware_addr: EthernetAddress(tha),
                target_protocol_addr: Ipv4Addr::from(tpa),
            })
    }

    fn exercise<T: AsRef<[u8]>>(p: &ArpPacket<T>) {
        let _ = (p.hardware_type(), p.protocol_type(), p.operation());
        let _ = (p.hardware_len(), p.protocol_len());
        let _ = (p.source_hardware_addr(), p.source_protocol_addr());
        let _ = (p.target_hardware_addr(), p.target_protocol_addr());
        let _ = ArpRepr::parse(p);
    }

    proptest! {
        #[test]
        fn round_trip(r in arb_repr()) {
            let mut buf = vec![0u8; r.buffer_len()];
            prop_assert_eq!(r.emit(&mut buf), Ok(28));
            let p = ArpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(ArpRepr::parse(&p), Ok(r));
        }

        #[test]
        fn no_panic_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            exercise(&ArpPacket::new_unchecked(&data[..]));
            if let Ok(p) = ArpPacket::new_checked(&data[..]) {
                exercise(&p);
                prop_assert_eq!(
                    p.target_protocol_addr().len(),
                    usize::from(p.protocol_len())
                );
            }
            let mut d = data.clone();
            let mut p = ArpPacket::new_unchecked(&mut d[..]);
            p.set_source_hardware_addr(&[1; 6]);
            p.set_target_protocol_addr(&[1; 4]);
            p.set_operation(ArpOperation::Reply);
            p.set_hardware_len(200);
            p.set_target_hardware_addr(&[1; 200]);
        }

        #[test]
        fn no_panic_on_truncated_valid(r in arb_repr(), cut in 0usize..29, flip in any::<(usize, u8)>()) {
            let mut buf = vec![0u8; 28];
            r.emit(&mut buf).unwrap();
            buf[flip.0 % 28] ^= flip.1;
            let data = &buf[..cut];
            exercise(&ArpPacket::new_unchecked(data));
            if let Ok(p) = ArpPacket::new_checked(data) {
                exercise(&p);
            }
        }
    }
}
