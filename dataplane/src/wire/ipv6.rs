//! IPv6 (RFC 8200).
//!
//! [`Ipv6Packet`] is a zero-copy view of the fixed 40-byte header and its payload;
//! [`Ipv6Repr`] is the owned header *as the upper layer sees it*: `next_header` is the
//! upper-layer protocol found after walking the extension headers, and `payload_len` is
//! the upper-layer length. [`Ipv6Repr::parse`] therefore also returns the offset of the
//! upper-layer data from the start of the IPv6 header (40 when there are no extension
//! headers); [`Ipv6Packet::upper_layer`] does the same walk on the view.
//!
//! Extension headers handled by the walk (RFC 8200 §4):
//!
//! | header                    | number | handling                                       |
//! |---------------------------|--------|------------------------------------------------|
//! | Hop-by-Hop Options        | 0      | options checked (§4.2 action bits), skipped; only first |
//! | Routing                   | 43     | skipped if Segments Left is 0, else Unsupported |
//! | Destination Options       | 60     | options checked (§4.2 action bits), skipped    |
//! | No Next Header            | 59     | upper layer with an empty payload (§4.7)       |
//! | Fragment, ESP, AH, Mobility, HIP, Shim6, 253, 254 | | [`Error::Unsupported`]   |
//!
//! Jumbograms (RFC 2675) are not supported; their Hop-by-Hop option makes the walk
//! return [`Error::Unsupported`].
//!
//! Panic contract: no accessor or setter of [`Ipv6Packet`] panics, even on a view made
//! with [`Ipv6Packet::new_unchecked`]: reads outside the buffer return zeros or empty
//! slices, writes outside it are dropped. [`Ipv6Packet::new_checked`] guarantees that the
//! version is 6 and that the header and `payload_len` bytes are inside the buffer, so
//! [`Ipv6Packet::payload`] excludes trailing Ethernet padding.

use core::fmt;
use core::net::Ipv6Addr;

use super::ip::IpProtocol;
use super::{be, Error, Result};

/// Byte ranges of the fixed IPv6 header.
pub mod field {
    use core::ops::Range;

    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    /// Payload length (everything after the fixed header).
    pub const LENGTH: Range<usize> = 4..6;
    /// Next header.
    pub const NXT_HDR: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 8..24;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The largest flow label (20 bits).
pub const FLOW_LABEL_MAX: u32 = 0x000f_ffff;

/// A view of an IPv6 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

fn put_byte(b: &mut [u8], at: usize, v: u8) {
    if let Some(x) = b.get_mut(at) {
        *x = v;
    }
}

fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    if let Some(s) = b.get(at..at + 16) {
        a.copy_from_slice(s);
    }
    Ipv6Addr::from(a)
}

fn put_addr(b: &mut [u8], at: usize, a: Ipv6Addr) {
    if let Some(s) = b.get_mut(at..at + 16) {
        s.copy_from_slice(&a.octets());
    }
}

/// Checks the TLV-encoded options of a Hop-by-Hop or Destination Options header
/// (`opts` is the header without its two leading bytes).
fn check_options(opts: &[u8]) -> Result<()> {
    const PAD1: u8 = 0;
    const PADN: u8 = 1;
    let mut i = 0;
    while let Some(&ty) = opts.get(i) {
        if ty == PAD1 {
            i += 1;
            continue;
        }
        let len = usize::from(*opts.get(i + 1).ok_or(Error::Malformed)?);
        let end = i + 2 + len;
        if end > opts.len() {
            return Err(Error::Malformed);
        }
        // RFC 8200 §4.2: the two high-order bits of an unrecognised option's type say
        // what to do: 00 skip it; 01, 10, 11 discard the packet. We recognise only the
        // padding options, so anything else with a non-zero action is dropped.
        if ty != PADN && ty >> 6 != 0 {
            return Err(Error::Unsupported);
        }
        i = end;
    }
    Ok(())
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without checking it (accessors still do not panic).
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer and validates it with [`Self::check_len`].
    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validates the fixed header: buffer < 40 bytes: [`Error::Truncated`]; version != 6:
    /// [`Error::Malformed`]; buffer < 40 + payload length: [`Error::Truncated`].
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Error::Malformed);
        }
        if len < self.total_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn ver_tc_flow(&self) -> u32 {
        be::u32(self.buffer.as_ref(), field::VER_TC_FLOW.start)
    }

    /// The version nibble.
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    /// Traffic class: DSCP (high 6 bits) and ECN (low 2 bits).
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & FLOW_LABEL_MAX
    }

    /// Payload length field: bytes after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        be::u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// The fixed header length, 40.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// 40 + payload length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// Next header of the fixed header (an extension header or the upper layer).
    pub fn next_header(&self) -> u8 {
        byte(self.buffer.as_ref(), field::NXT_HDR)
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        byte(self.buffer.as_ref(), field::HOP_LIMIT)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// Bytes 40 .. 40 + payload length (extension headers included, padding excluded).
    /// Empty if the buffer is shorter (only possible on an unchecked view).
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.total_len())
            .unwrap_or_default()
    }

    /// Walks the extension headers (see the module docs) and returns the upper-layer
    /// protocol and the offset of its data from the start of the IPv6 header. The
    /// upper-layer data runs from that offset to [`Self::total_len`], except after No Next
    /// Header (59), where it is empty. Validates the packet with [`Self::check_len`] first.
    pub fn upper_layer(&self) -> Result<(u8, usize)> {
        self.check_len()?;
        let buf = self.payload();
        let mut next = self.next_header();
        let mut off = 0usize; // within the payload
        loop {
            match next {
                IpProtocol::HOPOPTS | IpProtocol::ROUTING | IpProtocol::DSTOPTS => {
                    // RFC 8200 §4.1: Hop-by-Hop Options may only follow the IPv6 header.
                    if next == IpProtocol::HOPOPTS && off != 0 {
                        return Err(Error::Malformed);
                    }
                    let hdr = buf.get(off..off + 2).ok_or(Error::Truncated)?;
                    let (nh, len) = (hdr[0], (usize::from(hdr[1]) + 1) * 8);
                    let ext = buf.get(off..off + len).ok_or(Error::Truncated)?;
                    if next == IpProtocol::ROUTING {
                        // RFC 8200 §4.4: with Segments Left 0 the node ignores the header
                        // and goes on; otherwise an unrecognised Routing Type MUST make it
                        // discard the packet, and we implement no routing type.
                        if ext.get(3).copied().unwrap_or(0) != 0 {
                            return Err(Error::Unsupported);
                        }
                    } else {
                        check_options(ext.get(2..).unwrap_or_default())?;
                    }
                    next = nh;
                    off += len;
                }
                IpProtocol::FRAGMENT
                | IpProtocol::ESP
                | IpProtocol::AH
                | IpProtocol::MH
                | IpProtocol::HIP
                | IpProtocol::SHIM6
                | IpProtocol::EXP1
                | IpProtocol::EXP2 => return Err(Error::Unsupported),
                _ => return Ok((next, HEADER_LEN + off)),
            }
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn set_ver_tc_flow(&mut self, mask: u32, v: u32) {
        let old = self.ver_tc_flow();
        be::put_u32(
            self.buffer.as_mut(),
            field::VER_TC_FLOW.start,
            (old & !mask) | (v & mask),
        );
    }

    /// Sets the version nibble.
    pub fn set_version(&mut self, v: u8) {
        self.set_ver_tc_flow(0xf000_0000, u32::from(v) << 28);
    }

    /// Sets the traffic class.
    pub fn set_traffic_class(&mut self, v: u8) {
        self.set_ver_tc_flow(0x0ff0_0000, u32::from(v) << 20);
    }

    /// Sets the flow label (low 20 bits of `v`).
    pub fn set_flow_label(&mut self, v: u32) {
        self.set_ver_tc_flow(FLOW_LABEL_MAX, v);
    }

    /// Sets the payload length field.
    pub fn set_payload_len(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    /// Sets the next header of the fixed header.
    pub fn set_next_header(&mut self, v: u8) {
        put_byte(self.buffer.as_mut(), field::NXT_HDR, v);
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        put_byte(self.buffer.as_mut(), field::HOP_LIMIT, v);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        put_addr(self.buffer.as_mut(), field::SRC_ADDR.start, a);
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        put_addr(self.buffer.as_mut(), field::DST_ADDR.start, a);
    }

    /// The payload, mutable (see [`Self::payload`]).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..end)
            .unwrap_or_default()
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An owned IPv6 header as the upper layer sees it (extension headers walked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// The upper-layer protocol ([`IpProtocol`]), after any extension headers.
    pub next_header: u8,
    /// The upper-layer length (extension headers excluded).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class (DSCP and ECN).
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Reads a packet and walks its extension headers ([`Ipv6Packet::upper_layer`]).
    /// Returns the repr and the offset of the upper-layer data from the start of the
    /// IPv6 header; the data is `payload_len` bytes from there.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<(Ipv6Repr, usize)> {
        let (next_header, offset) = packet.upper_layer()?;
        let payload_len = if next_header == IpProtocol::NONE {
            // RFC 8200 §4.7: bytes after a No Next Header are ignored.
            0
        } else {
            packet.total_len().saturating_sub(offset)
        };
        let repr = Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header,
            payload_len,
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        };
        Ok((repr, offset))
    }

    /// The emitted header length: always 40 (no extension headers).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the 40-byte fixed header at the start of `buf` and returns 40; the caller
    /// writes the payload after it. [`Error::NoSpace`] if `buf` is shorter than 40;
    /// [`Error::Malformed`] if `payload_len` exceeds 65535 or `flow_label` 20 bits.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = u16::try_from(self.payload_len).map_err(|_| Error::Malformed)?;
        if self.flow_label > FLOW_LABEL_MAX {
            return Err(Error::Malformed);
        }
        let hdr = buf.get_mut(..HEADER_LEN).ok_or(Error::NoSpace)?;
        let mut p = Ipv6Packet::new_unchecked(hdr);
        p.set_version(6);
        p.set_traffic_class(self.traffic_class);
        p.set_flow_label(self.flow_label);
        p.set_payload_len(len);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        Ok(HEADER_LEN)
    }
}

impl fmt::Display for Ipv6Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv6 src={} dst={} nxt={} len={} hop_limit={}",
            self.src_addr, self.dst_addr, self.next_header, self.payload_len, self.hop_limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2001:db8::1 -> 2001:db8::2, TCP, hop limit 64, tc 0xb8, flow 0x12345, 4 bytes.
    const PACKET: [u8; 46] = [
        0x6b, 0x81, 0x23, 0x45, // v6, tc 0xb8, flow 0x12345
        0x00, 0x04, 0x06, 0x40, // len 4, TCP, hop 64
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // src
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // dst
        0xca, 0xfe, 0xba, 0xbe, // payload
        0x00, 0x00, // Ethernet padding
    ];

    fn packet_repr() -> Ipv6Repr {
        Ipv6Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol::TCP,
            payload_len: 4,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x12345,
        }
    }

    /// PACKET's header followed by extension headers `exts` (each a (type, bytes) pair,
    /// bytes including the next-header and length bytes, which are filled in) and then
    /// `upper` as protocol 6.
    fn with_exts(exts: &[(u8, Vec<u8>)], upper: &[u8]) -> Vec<u8> {
        let mut b = PACKET[..40].to_vec();
        let mut prev_nh = 6;
        for (i, (ty, bytes)) in exts.iter().enumerate() {
            if i == 0 {
                b[6] = *ty;
            } else {
                b[prev_nh] = *ty;
            }
            prev_nh = b.len();
            let mut e = bytes.clone();
            e[0] = 6;
            e[1] = (e.len() / 8 - 1) as u8;
            b.extend_from_slice(&e);
        }
        b.extend_from_slice(upper);
        let len = (b.len() - 40) as u16;
        b[4..6].copy_from_slice(&len.to_be_bytes());
        b
    }

    #[test]
    fn vector() {
        let p = Ipv6Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 4);
        assert_eq!(p.payload(), &[0xca, 0xfe, 0xba, 0xbe]);
        assert_eq!(p.upper_layer(), Ok((IpProtocol::TCP, 40)));
        assert_eq!(Ipv6Repr::parse(&p), Ok((packet_repr(), 40)));
        let mut out = [0u8; 40];
        assert_eq!(packet_repr().emit(&mut out), Ok(40));
        assert_eq!(out, PACKET[..40]);
    }

    #[test]
    fn extension_headers_skipped() {
        // Hop-by-Hop with PadN + Router Alert, Routing (segments left 0), Destination
        // Options with Pad1s and an unknown skippable option, 16 bytes long.
        let hbh = vec![0, 0, 1, 0, 5, 2, 0, 0];
        let rt = vec![0, 0, 4, 0, 0, 0, 0, 0];
        let mut dst = vec![0u8; 16];
        dst[2..6].copy_from_slice(&[0, 0, 0x1e, 2]);
        dst[8..10].copy_from_slice(&[1, 6]);
        let b = with_exts(&[(0, hbh), (43, rt), (60, dst)], &[1, 2, 3]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.next_header(), 0);
        let (r, off) = Ipv6Repr::parse(&p).unwrap();
        assert_eq!(off, 40 + 8 + 8 + 16);
        assert_eq!(r.next_header, IpProtocol::TCP);
        assert_eq!(r.payload_len, 3);
        assert_eq!(&b[off..off + r.payload_len], &[1, 2, 3]);
    }

    #[test]
    fn no_next_header() {
        let mut b = PACKET;
        b[6] = IpProtocol::NONE;
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let (r, off) = Ipv6Repr::parse(&p).unwrap();
        assert_eq!((r.next_header, r.payload_len, off), (59, 0, 40));
        // After an extension header too.
        let mut b = with_exts(&[(60, vec![0; 8])], &[9, 9]);
        b[40] = 59;
        let (r, off) = Ipv6Repr::parse(&Ipv6Packet::new_unchecked(&b[..])).unwrap();
        assert_eq!((r.next_header, r.payload_len, off), (59, 0, 48));
    }

    #[test]
    fn unsupported_extension_headers() {
        for ty in [44, 50, 51, 135, 139, 140, 253, 254] {
            let mut b = PACKET;
            b[6] = ty;
            let p = Ipv6Packet::new_checked(&b[..]).unwrap();
            assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Unsupported), "{ty}");
        }
        // A fragment header after a Destination Options header.
        let mut b = with_exts(&[(60, vec![0; 8])], &[0; 8]);
        b[40] = IpProtocol::FRAGMENT;
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Unsupported));
        // Routing header with segments left.
        let b = with_exts(&[(43, vec![0, 0, 0, 1, 0, 0, 0, 0])], &[]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Unsupported));
        // Destination option whose type says "discard if unknown" (01xxxxxx), and a
        // jumbo payload option (0xc2) in Hop-by-Hop.
        let b = with_exts(&[(60, vec![0, 0, 0x41, 0, 1, 2, 0, 0])], &[]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Unsupported));
        let b = with_exts(&[(0, vec![0, 0, 0xc2, 4, 0, 1, 0, 0])], &[]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Unsupported));
    }

    #[test]
    fn malformed_extension_headers() {
        // An option running past its header.
        let b = with_exts(&[(60, vec![0, 0, 1, 5, 0, 0, 0, 0])], &[]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Malformed));
        // An option type byte with no length byte.
        let b = with_exts(&[(60, vec![0, 0, 0, 0, 0, 0, 0, 1])], &[]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Malformed));
        // Hop-by-Hop not first.
        let mut b = with_exts(&[(60, vec![0; 8]), (60, vec![0; 8])], &[]);
        b[40] = 0;
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Malformed));
    }

    #[test]
    fn extension_header_past_the_end() {
        // Header claims 16 bytes; the payload has 8 + 3.
        let mut b = with_exts(&[(60, vec![0; 8])], &[0, 0, 0]);
        b[41] = 1;
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Truncated));
        // The payload ends inside the first two bytes of an extension header.
        for n in 0..2 {
            let mut b = PACKET[..40].to_vec();
            b[6] = 60;
            b.extend_from_slice(&[6, 0][..n]);
            b[5] = n as u8;
            let p = Ipv6Packet::new_checked(&b[..]).unwrap();
            assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Truncated), "{n}");
        }
        // Trailing bytes beyond payload_len (padding) are not used by the walk.
        let mut b = with_exts(&[(60, vec![0; 8])], &[]);
        b[41] = 1;
        b.extend_from_slice(&[0; 8]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Truncated));
    }

    #[test]
    fn fixed_header_errors() {
        for n in 0..44 {
            assert_eq!(
                Ipv6Packet::new_checked(&PACKET[..n]).err(),
                Some(Error::Truncated),
                "len {n}"
            );
            let p = Ipv6Packet::new_unchecked(&PACKET[..n]);
            assert_eq!(Ipv6Repr::parse(&p).err(), Some(Error::Truncated));
        }
        for v in [0x0b, 0x4b, 0x7b, 0xfb] {
            let mut b = PACKET;
            b[0] = v;
            assert_eq!(
                Ipv6Packet::new_checked(&b[..]).err(),
                Some(Error::Malformed)
            );
        }
        let mut b = PACKET;
        b[5] = 7; // 40 + 7 > 46
        assert_eq!(
            Ipv6Packet::new_checked(&b[..]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn emit_errors() {
        let mut r = packet_repr();
        assert_eq!(r.emit(&mut [0u8; 39]), Err(Error::NoSpace));
        r.flow_label = FLOW_LABEL_MAX + 1;
        assert_eq!(r.emit(&mut [0u8; 40]), Err(Error::Malformed));
        r.flow_label = 0;
        r.payload_len = 65_536;
        assert_eq!(r.emit(&mut [0u8; 40]), Err(Error::Malformed));
    }

    #[test]
    fn setters() {
        let mut b = PACKET;
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        p.set_traffic_class(0x01);
        p.set_flow_label(0xfffff);
        p.set_hop_limit(1);
        p.set_next_header(IpProtocol::UDP);
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::UNSPECIFIED);
        p.payload_mut()[3] = 0;
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 1, 0xfffff)
        );
        assert_eq!((p.hop_limit(), p.next_header()), (1, 17));
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv6Addr::UNSPECIFIED);
        assert_eq!(p.payload(), &[0xca, 0xfe, 0xba, 0]);
    }

    fn arb_repr() -> impl Strategy<Value = Ipv6Repr> {
        (
            any::<[u128; 2]>(),
            any::<u8>().prop_filter("not an extension header", |n| {
                !matches!(
                    n,
                    0 | 43 | 44 | 50 | 51 | 59 | 60 | 135 | 139 | 140 | 253 | 254
                )
            }),
            0usize..=65_535,
            any::<(u8, u8)>(),
            0..=FLOW_LABEL_MAX,
        )
            .prop_map(
                |([s, d], next_header, payload_len, (hop_limit, traffic_class), flow_label)| {
                    Ipv6Repr {
                        src_addr: Ipv6Addr::from(s),
                        dst_addr: Ipv6Addr::from(d),
                        next_header,
                        payload_len,
                        hop_limit,
                        traffic_class,
                        flow_label,
                    }
                },
            )
    }

    fn exercise<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) {
        let _ = (
            p.version(),
            p.traffic_class(),
            p.flow_label(),
            p.payload_len(),
        );
        let _ = (p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr());
        let _ = (p.total_len(), p.payload().len(), p.upper_layer());
        if let Ok((r, off)) = Ipv6Repr::parse(p) {
            assert!(off + r.payload_len <= p.as_ref().len());
        }
    }

    fn mutate(data: &mut [u8]) {
        let mut p = Ipv6Packet::new_unchecked(data);
        p.set_version(6);
        p.set_payload_len(0xffff);
        p.set_flow_label(u32::MAX);
        let _ = p.payload_mut().len();
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::LOCALHOST);
    }

    /// Valid packets with random extension header chains.
    fn arb_chain() -> impl Strategy<Value = Vec<u8>> {
        let ext = (
            prop_oneof![Just(0u8), Just(43), Just(60), Just(44), Just(59)],
            0usize..3,
            proptest::collection::vec(any::<u8>(), 0..24),
        );
        (
            proptest::collection::vec(ext, 0..4),
            proptest::collection::vec(any::<u8>(), 0..16),
        )
            .prop_map(|(exts, upper)| {
                let exts: Vec<(u8, Vec<u8>)> = exts
                    .into_iter()
                    .map(|(ty, n, fill)| {
                        let mut e = vec![0u8; (n + 1) * 8];
                        for (d, s) in e.iter_mut().zip(fill) {
                            *d = s;
                        }
                        if ty == 43 {
                            e[3] = 0;
                        }
                        (ty, e)
                    })
                    .collect();
                with_exts(&exts, &upper)
            })
    }

    proptest! {
        #[test]
        fn round_trip(r in arb_repr(), fill in any::<u8>()) {
            let mut buf = vec![fill; r.buffer_len()];
            prop_assert_eq!(r.emit(&mut buf), Ok(40));
            let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&p), Ok((r, 40)));
        }

        #[test]
        fn no_panic_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            exercise(&Ipv6Packet::new_unchecked(&data[..]));
            if let Ok(p) = Ipv6Packet::new_checked(&data[..]) {
                exercise(&p);
            }
            mutate(&mut data.clone());
        }

        #[test]
        fn no_panic_on_chains(b in arb_chain(), cut in 0usize..200,
                              flips in proptest::collection::vec(any::<(usize, u8)>(), 0..3)) {
            let mut b = b;
            exercise(&Ipv6Packet::new_unchecked(&b[..]));
            for (i, x) in flips {
                let i = 40 + i % (b.len() - 39);
                if let Some(v) = b.get_mut(i) {
                    *v ^= x;
                }
            }
            let data = &b[..cut.min(b.len())];
            exercise(&Ipv6Packet::new_unchecked(data));
            if let Ok(p) = Ipv6Packet::new_checked(data) {
                exercise(&p);
            }
            mutate(&mut data.to_vec());
        }
    }
}
