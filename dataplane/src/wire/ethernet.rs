//! Ethernet II frames (IEEE 802.3 / DIX) with at most one 802.1Q or 802.1ad tag.
//!
//! [`EthernetFrame`] is a zero-copy view; [`EthernetRepr`] is the owned header. A frame
//! may carry one VLAN tag whose TPID is 0x8100 (802.1Q) or 0x88A8 (802.1ad, the outer tag
//! of a QinQ stack); the view then reports the *inner* EtherType and an 18-byte header.
//! A second tag (a real QinQ stack) is rejected with [`Error::Unsupported`].
//!
//! Panic contract: every accessor and setter of [`EthernetFrame`] reads and writes through
//! bounds-checked helpers, so none of them panics, even on a view made with
//! [`EthernetFrame::new_unchecked`] over a short buffer (missing bytes read as zero and
//! writes past the end are dropped). [`EthernetFrame::new_checked`] guarantees that the
//! values read are the ones on the wire.
//!
//! The 4-byte FCS is not part of the frame as DPDK and pcap deliver it; short frames are
//! padded to 60 bytes by whoever sends them, and the padding is part of [`payload`]
//! (the IP layer bounds its payload by its own length field).
//!
//! [`payload`]: EthernetFrame::payload

use core::fmt;

use super::{be, Error, Result};

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// The address in the first six bytes of `data`, or `None` if there are fewer.
    pub fn from_bytes(data: &[u8]) -> Option<EthernetAddress> {
        let b: [u8; 6] = data.get(..6)?.try_into().ok()?;
        Some(EthernetAddress(b))
    }

    /// The six octets.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// All ones.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// The group bit (I/G, least significant bit of the first octet) is set; broadcast
    /// is a multicast address too.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// An individual address (group bit clear).
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// The U/L bit (second least significant bit of the first octet) is set.
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<[u8; 6]> for EthernetAddress {
    fn from(b: [u8; 6]) -> Self {
        EthernetAddress(b)
    }
}

/// The EtherType field (IEEE "EtherType" registry; Linux `ETH_P_*`).
///
/// `From<u16>` maps every known value to its named variant, so [`EtherType::Unknown`]
/// never holds one of the named values when it comes from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// 0x0800, `ETH_P_IP`.
    Ipv4,
    /// 0x0806, `ETH_P_ARP`.
    Arp,
    /// 0x86DD, `ETH_P_IPV6`.
    Ipv6,
    /// 0x8100, `ETH_P_8021Q`: an 802.1Q VLAN tag follows.
    Vlan,
    /// 0x88A8, `ETH_P_8021AD`: an 802.1ad service tag (QinQ outer tag) follows.
    QinQ,
    /// Anything else (including 802.3 length values below 0x0600).
    Unknown(u16),
}

impl EtherType {
    /// Whether this value is a VLAN tag protocol identifier.
    pub fn is_vlan_tpid(self) -> bool {
        matches!(self, EtherType::Vlan | EtherType::QinQ)
    }
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86DD => EtherType::Ipv6,
            0x8100 => EtherType::Vlan,
            0x88A8 => EtherType::QinQ,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86DD,
            EtherType::Vlan => 0x8100,
            EtherType::QinQ => 0x88A8,
            EtherType::Unknown(v) => v,
        }
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Ipv4 => f.write_str("IPv4"),
            EtherType::Arp => f.write_str("ARP"),
            EtherType::Ipv6 => f.write_str("IPv6"),
            EtherType::Vlan => f.write_str("802.1Q"),
            EtherType::QinQ => f.write_str("802.1ad"),
            EtherType::Unknown(v) => write!(f, "0x{v:04x}"),
        }
    }
}

/// Which tag protocol identifier a VLAN tag was carried with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VlanTpid {
    /// 0x8100, IEEE 802.1Q customer tag.
    #[default]
    Dot1Q,
    /// 0x88A8, IEEE 802.1ad service tag.
    Dot1AD,
}

impl From<VlanTpid> for EtherType {
    fn from(t: VlanTpid) -> EtherType {
        match t {
            VlanTpid::Dot1Q => EtherType::Vlan,
            VlanTpid::Dot1AD => EtherType::QinQ,
        }
    }
}

/// One VLAN tag: the TPID plus the tag control information (TCI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VlanTag {
    /// The tag protocol identifier it was (or will be) carried with.
    pub tpid: VlanTpid,
    /// Priority code point, 3 bits (0..=7).
    pub pcp: u8,
    /// Drop eligible indicator (formerly CFI).
    pub dei: bool,
    /// VLAN identifier, 12 bits (0..=4095).
    pub vid: u16,
}

impl VlanTag {
    /// Decodes a 16-bit TCI.
    pub fn from_tci(tpid: VlanTpid, tci: u16) -> VlanTag {
        VlanTag {
            tpid,
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    /// The 16-bit TCI, or `None` when `pcp` or `vid` do not fit their bit widths.
    pub fn tci(&self) -> Option<u16> {
        if self.pcp > 7 || self.vid > 0x0fff {
            return None;
        }
        Some(u16::from(self.pcp) << 13 | u16::from(self.dei) << 12 | self.vid)
    }
}

/// Byte ranges of the Ethernet header.
pub mod field {
    use core::ops::Range;

    /// Destination address.
    pub const DESTINATION: Range<usize> = 0..6;
    /// Source address.
    pub const SOURCE: Range<usize> = 6..12;
    /// EtherType, or the TPID of a VLAN tag.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// Tag control information of the VLAN tag, if tagged.
    pub const TCI: Range<usize> = 14..16;
    /// Inner EtherType, if tagged.
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = field::ETHERTYPE.end;
/// Length of an Ethernet header with one VLAN tag.
pub const VLAN_HEADER_LEN: usize = field::INNER_ETHERTYPE.end;

/// A view of an Ethernet II frame (header and payload, no FCS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking it. Accessors still do not panic (see the module
    /// docs), but may return zeros for a short buffer.
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer and checks that it holds a whole header ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks the buffer: [`Error::Truncated`] if it is shorter than the header (14 bytes,
    /// 18 with a tag), [`Error::Unsupported`] if a second VLAN tag follows the first.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.outer_ethertype().is_vlan_tpid() {
            if len < VLAN_HEADER_LEN {
                return Err(Error::Truncated);
            }
            if EtherType::from(be::u16(self.buffer.as_ref(), field::INNER_ETHERTYPE.start))
                .is_vlan_tpid()
            {
                return Err(Error::Unsupported);
            }
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The destination address.
    pub fn dst_addr(&self) -> EthernetAddress {
        addr_at(self.buffer.as_ref(), field::DESTINATION.start)
    }

    /// The source address.
    pub fn src_addr(&self) -> EthernetAddress {
        addr_at(self.buffer.as_ref(), field::SOURCE.start)
    }

    /// The EtherType field at offset 12: the TPID when the frame is tagged.
    pub fn outer_ethertype(&self) -> EtherType {
        EtherType::from(be::u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Whether the frame carries a VLAN tag.
    pub fn is_tagged(&self) -> bool {
        self.outer_ethertype().is_vlan_tpid()
    }

    /// The VLAN tag, if the frame carries one.
    pub fn vlan(&self) -> Option<VlanTag> {
        let tpid = match self.outer_ethertype() {
            EtherType::Vlan => VlanTpid::Dot1Q,
            EtherType::QinQ => VlanTpid::Dot1AD,
            _ => return None,
        };
        let tci = be::u16(self.buffer.as_ref(), field::TCI.start);
        Some(VlanTag::from_tci(tpid, tci))
    }

    /// The EtherType of the payload (after the VLAN tag, if any).
    pub fn ethertype(&self) -> EtherType {
        if self.is_tagged() {
            EtherType::from(be::u16(self.buffer.as_ref(), field::INNER_ETHERTYPE.start))
        } else {
            self.outer_ethertype()
        }
    }

    /// The header length: 14, or 18 with a VLAN tag.
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The bytes after the header (padding included), empty if there are none.
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.header_len()..)
            .unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        put_addr(self.buffer.as_mut(), field::DESTINATION.start, addr);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        put_addr(self.buffer.as_mut(), field::SOURCE.start, addr);
    }

    /// Sets the EtherType field at offset 12 (the TPID of a tagged frame).
    pub fn set_outer_ethertype(&mut self, t: EtherType) {
        be::put_u16(self.buffer.as_mut(), field::ETHERTYPE.start, t.into());
    }

    /// Sets the TCI of a tagged frame (writes offset 14..16 whatever the TPID says).
    pub fn set_tci(&mut self, tci: u16) {
        be::put_u16(self.buffer.as_mut(), field::TCI.start, tci);
    }

    /// Sets the payload EtherType: at offset 16 if the frame is tagged, else at 12.
    pub fn set_ethertype(&mut self, t: EtherType) {
        let at = if self.is_tagged() {
            field::INNER_ETHERTYPE.start
        } else {
            field::ETHERTYPE.start
        };
        be::put_u16(self.buffer.as_mut(), at, t.into());
    }

    /// The bytes after the header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        self.buffer.as_mut().get_mut(at..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

fn addr_at(b: &[u8], at: usize) -> EthernetAddress {
    b.get(at..)
        .and_then(EthernetAddress::from_bytes)
        .unwrap_or_default()
}

fn put_addr(b: &mut [u8], at: usize, addr: EthernetAddress) {
    if let Some(s) = b.get_mut(at..at + 6) {
        s.copy_from_slice(&addr.0);
    }
}

/// An owned Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source MAC address.
    pub src_addr: EthernetAddress,
    /// Destination MAC address.
    pub dst_addr: EthernetAddress,
    /// The VLAN tag, if any.
    pub vlan: Option<VlanTag>,
    /// The payload's EtherType (never a VLAN TPID).
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a frame (checking its length first).
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            vlan: frame.vlan(),
            ethertype: frame.ethertype(),
        })
    }

    /// Header length: 14, or 18 with a VLAN tag.
    pub fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Header plus `payload_len` payload bytes (no padding to 60, no FCS).
    pub fn buffer_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// Writes the header at the start of `buf` and returns its length; the caller writes
    /// the payload after it. [`Error::NoSpace`] if `buf` is shorter than the header;
    /// [`Error::Malformed`] if `ethertype` is a VLAN TPID or the tag's fields are out of
    /// range.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.ethertype.is_vlan_tpid() {
            return Err(Error::Malformed);
        }
        let len = self.header_len();
        let hdr = buf.get_mut(..len).ok_or(Error::NoSpace)?;
        put_addr(hdr, field::DESTINATION.start, self.dst_addr);
        put_addr(hdr, field::SOURCE.start, self.src_addr);
        match self.vlan {
            Some(tag) => {
                let tci = tag.tci().ok_or(Error::Malformed)?;
                be::put_u16(
                    hdr,
                    field::ETHERTYPE.start,
                    EtherType::from(tag.tpid).into(),
                );
                be::put_u16(hdr, field::TCI.start, tci);
                be::put_u16(hdr, field::INNER_ETHERTYPE.start, self.ethertype.into());
            }
            None => be::put_u16(hdr, field::ETHERTYPE.start, self.ethertype.into()),
        }
        Ok(len)
    }
}

impl fmt::Display for EthernetRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ETH src={} dst={}", self.src_addr, self.dst_addr)?;
        if let Some(tag) = self.vlan {
            write!(f, " vlan={} pcp={}", tag.vid, tag.pcp)?;
        }
        write!(f, " type={}", self.ethertype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UNTAGGED: [u8; 18] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // src
        0x08, 0x00, // IPv4
        0xde, 0xad, 0xbe, 0xef, // payload
    ];

    const TAGGED: [u8; 20] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // src
        0x81, 0x00, // 802.1Q
        0xb0, 0x2a, // pcp 5, dei 1, vid 42
        0x86, 0xdd, // IPv6
        0xaa, 0xbb, // payload
    ];

    #[test]
    fn address_display_and_kinds() {
        let a = EthernetAddress([0x02, 0x00, 0x5e, 0x0a, 0xbc, 0xff]);
        assert_eq!(a.to_string(), "02:00:5e:0a:bc:ff");
        assert!(a.is_unicast() && a.is_local() && !a.is_multicast());
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(EthernetAddress::BROADCAST.is_multicast());
        let m = EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 1]);
        assert!(m.is_multicast() && !m.is_broadcast() && !m.is_unicast());
        assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3, 4, 5]), None);
        assert_eq!(
            EthernetAddress::from_bytes(&[1, 2, 3, 4, 5, 6, 7]),
            Some(EthernetAddress([1, 2, 3, 4, 5, 6]))
        );
    }

    #[test]
    fn ethertype_mapping() {
        for (v, t) in [
            (0x0800, EtherType::Ipv4),
            (0x0806, EtherType::Arp),
            (0x86dd, EtherType::Ipv6),
            (0x8100, EtherType::Vlan),
            (0x88a8, EtherType::QinQ),
            (0x1234, EtherType::Unknown(0x1234)),
        ] {
            assert_eq!(EtherType::from(v), t);
            assert_eq!(u16::from(t), v);
        }
    }

    #[test]
    fn untagged_vector() {
        let f = EthernetFrame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.src_addr(), EthernetAddress([2, 0, 0, 0, 0, 2]));
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.vlan(), None);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        let r = EthernetRepr::parse(&f).unwrap();
        let mut out = [0u8; 18];
        assert_eq!(r.emit(&mut out), Ok(14));
        out[14..].copy_from_slice(f.payload());
        assert_eq!(out, UNTAGGED);
    }

    #[test]
    fn tagged_vector() {
        let f = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(f.outer_ethertype(), EtherType::Vlan);
        assert_eq!(f.ethertype(), EtherType::Ipv6);
        let tag = f.vlan().unwrap();
        assert_eq!(
            tag,
            VlanTag {
                tpid: VlanTpid::Dot1Q,
                pcp: 5,
                dei: true,
                vid: 42
            }
        );
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        let r = EthernetRepr::parse(&f).unwrap();
        let mut out = [0u8; 20];
        assert_eq!(r.emit(&mut out), Ok(18));
        out[18..].copy_from_slice(f.payload());
        assert_eq!(out, TAGGED);
    }

    #[test]
    fn qinq_outer_tag_accepted_double_tag_rejected() {
        let mut b = TAGGED;
        b[12..14].copy_from_slice(&[0x88, 0xa8]);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.vlan().unwrap().tpid, VlanTpid::Dot1AD);
        assert_eq!(f.ethertype(), EtherType::Ipv6);
        for inner in [[0x81, 0x00], [0x88, 0xa8]] {
            b[16..18].copy_from_slice(&inner);
            assert_eq!(
                EthernetFrame::new_checked(&b[..]).err(),
                Some(Error::Unsupported)
            );
        }
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..14 {
            assert_eq!(
                EthernetFrame::new_checked(&UNTAGGED[..n]).err(),
                Some(Error::Truncated),
                "untagged len {n}"
            );
        }
        assert!(EthernetFrame::new_checked(&UNTAGGED[..14]).is_ok());
        for n in 0..18 {
            assert_eq!(
                EthernetFrame::new_checked(&TAGGED[..n]).err(),
                Some(Error::Truncated),
                "tagged len {n}"
            );
        }
        let f = EthernetFrame::new_checked(&TAGGED[..18]).unwrap();
        assert!(f.payload().is_empty());
    }

    #[test]
    fn emit_errors() {
        let mut r = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            dst_addr: EthernetAddress::BROADCAST,
            vlan: None,
            ethertype: EtherType::Vlan,
        };
        let mut buf = [0u8; 18];
        assert_eq!(r.emit(&mut buf), Err(Error::Malformed));
        r.ethertype = EtherType::Arp;
        assert_eq!(r.emit(&mut buf[..13]), Err(Error::NoSpace));
        r.vlan = Some(VlanTag {
            vid: 4096,
            ..VlanTag::default()
        });
        assert_eq!(r.emit(&mut buf), Err(Error::Malformed));
        r.vlan = Some(VlanTag::default());
        assert_eq!(r.emit(&mut buf[..17]), Err(Error::NoSpace));
        assert_eq!(r.emit(&mut buf), Ok(18));
    }

    #[test]
    fn setters() {
        let mut b = TAGGED;
        let mut f = EthernetFrame::new_unchecked(&mut b[..]);
        f.set_dst_addr(EthernetAddress([1, 2, 3, 4, 5, 6]));
        f.set_src_addr(EthernetAddress([6, 5, 4, 3, 2, 1]));
        f.set_ethertype(EtherType::Arp);
        f.set_tci(0x0007);
        f.payload_mut()[0] = 0x11;
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress([1, 2, 3, 4, 5, 6]));
        assert_eq!(f.src_addr(), EthernetAddress([6, 5, 4, 3, 2, 1]));
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.vlan().unwrap().vid, 7);
        assert_eq!(f.payload()[0], 0x11);
        let mut b = TAGGED;
        let mut f = EthernetFrame::new_unchecked(&mut b[..]);
        f.set_outer_ethertype(EtherType::Ipv4);
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.header_len(), 14);
    }

    fn arb_addr() -> impl Strategy<Value = EthernetAddress> {
        any::<[u8; 6]>().prop_map(EthernetAddress)
    }

    fn arb_repr() -> impl Strategy<Value = EthernetRepr> {
        let tag =
            (any::<bool>(), 0u8..8, any::<bool>(), 0u16..4096).prop_map(|(ad, pcp, dei, vid)| {
                VlanTag {
                    tpid: if ad {
                        VlanTpid::Dot1AD
                    } else {
                        VlanTpid::Dot1Q
                    },
                    pcp,
                    dei,
                    vid,
                }
            });
        (
            arb_addr(),
            arb_addr(),
            proptest::option::of(tag),
            any::<u16>()
                .prop_map(EtherType::from)
                .prop_filter("not a TPID", |t| !t.is_vlan_tpid()),
        )
            .prop_map(|(src_addr, dst_addr, vlan, ethertype)| EthernetRepr {
                src_addr,
                dst_addr,
                vlan,
                ethertype,
            })
    }

    fn exercise<T: AsRef<[u8]>>(f: &EthernetFrame<T>) {
        let _ = (f.dst_addr(), f.src_addr(), f.outer_ethertype(), f.vlan());
        let _ = (
            f.ethertype(),
            f.header_len(),
            f.payload().len(),
            f.is_tagged(),
        );
        let _ = EthernetRepr::parse(f);
    }

    proptest! {
        #[test]
        fn round_trip(r in arb_repr(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = vec![0u8; r.buffer_len(payload.len())];
            let n = r.emit(&mut buf).unwrap();
            prop_assert_eq!(n, r.header_len());
            buf[n..].copy_from_slice(&payload);
            let f = EthernetFrame::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(EthernetRepr::parse(&f).unwrap(), r);
            prop_assert_eq!(f.payload(), &payload[..]);
        }

        #[test]
        fn no_panic_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let f = EthernetFrame::new_unchecked(&data[..]);
            exercise(&f);
            if let Ok(f) = EthernetFrame::new_checked(&data[..]) {
                exercise(&f);
                prop_assert!(f.header_len() <= data.len());
            }
            let mut d = data.clone();
            let mut f = EthernetFrame::new_unchecked(&mut d[..]);
            f.set_dst_addr(EthernetAddress::BROADCAST);
            f.set_src_addr(EthernetAddress::BROADCAST);
            f.set_ethertype(EtherType::Ipv4);
            f.set_outer_ethertype(EtherType::Vlan);
            f.set_tci(0xffff);
            let _ = f.payload_mut().len();
        }

        #[test]
        fn no_panic_on_truncated_valid(r in arb_repr(), cut in 0usize..32, flip in any::<(usize, u8)>()) {
            let mut buf = vec![0u8; r.buffer_len(8)];
            r.emit(&mut buf).unwrap();
            let i = flip.0 % buf.len();
            buf[i] ^= flip.1;
            let data = &buf[..cut.min(buf.len())];
            exercise(&EthernetFrame::new_unchecked(data));
            if let Ok(f) = EthernetFrame::new_checked(data) {
                exercise(&f);
            }
        }
    }
}
