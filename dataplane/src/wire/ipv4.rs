//! IPv4 (RFC 791).
//!
//! [`Ipv4Packet`] is a zero-copy view; [`Ipv4Repr`] is the owned header without options.
//! Options are skipped (the header length comes from IHL) and never emitted. Fragments
//! are recognised and rejected with [`Error::Unsupported`]: mpdk does not reassemble
//! (its TCP is meant to send with DF and an MSS that fits the path).
//!
//! Panic contract: no accessor or setter of [`Ipv4Packet`] panics, even on a view made
//! with [`Ipv4Packet::new_unchecked`] over a short or lying buffer: reads outside the
//! buffer return zeros or empty slices, writes outside it are dropped.
//! [`Ipv4Packet::new_checked`] guarantees the version is 4, IHL >= 5, and the header and
//! `total_len` bytes are all inside the buffer, so [`Ipv4Packet::payload`] is exactly
//! the IP payload (trailing Ethernet padding excluded).

use core::fmt;
use core::net::Ipv4Addr;

use super::checksum;
pub use super::ip::IpProtocol;
use super::{be, Error, Result};

/// Byte ranges of the IPv4 header.
pub mod field {
    use core::ops::Range;

    /// Version (high nibble) and IHL (low nibble, in 32-bit words).
    pub const VER_IHL: usize = 0;
    /// DSCP (6 bits) and ECN (2 bits): the old TOS byte.
    pub const TOS: usize = 1;
    /// Total length, header included.
    pub const LENGTH: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits, in 8-byte units).
    pub const FLG_OFF: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol of the payload.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 12..16;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The flag bits in the high 3 bits of [`field::FLG_OFF`] (Linux `IP_*`).
const IP_CE: u16 = 0x8000;
const IP_DF: u16 = 0x4000;
const IP_MF: u16 = 0x2000;
const IP_OFFSET: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
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

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it (accessors still do not panic).
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer and validates it with [`Self::check_len`].
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validates the header, in this order:
    /// buffer < 20 bytes: [`Error::Truncated`]; version != 4 or IHL < 5:
    /// [`Error::Malformed`]; buffer < IHL*4: [`Error::Truncated`]; total length <
    /// IHL*4: [`Error::Malformed`]; buffer < total length: [`Error::Truncated`].
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        // RFC 791 §3.1: IHL counts 32-bit words, "the minimum value for a correct header
        // is 5"; RFC 1122 §3.2.1.1: a datagram whose version is not 4 MUST be discarded.
        if self.version() != 4 || self.header_len() < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len < self.header_len() {
            return Err(Error::Truncated);
        }
        let total = usize::from(self.total_len());
        if total < self.header_len() {
            return Err(Error::Malformed);
        }
        if len < total {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version nibble.
    pub fn version(&self) -> u8 {
        byte(self.buffer.as_ref(), field::VER_IHL) >> 4
    }

    /// The header length in bytes (IHL * 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(byte(self.buffer.as_ref(), field::VER_IHL) & 0x0f) * 4
    }

    /// The TOS byte: DSCP (high 6 bits) and ECN (low 2 bits).
    pub fn tos(&self) -> u8 {
        byte(self.buffer.as_ref(), field::TOS)
    }

    /// Differentiated services code point (RFC 2474).
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// Explicit congestion notification (RFC 3168).
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Total length, header included.
    pub fn total_len(&self) -> u16 {
        be::u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        be::u16(self.buffer.as_ref(), field::IDENT.start)
    }

    fn flg_off(&self) -> u16 {
        be::u16(self.buffer.as_ref(), field::FLG_OFF.start)
    }

    /// The reserved flag bit (must be zero).
    pub fn reserved_flag(&self) -> bool {
        self.flg_off() & IP_CE != 0
    }

    /// Don't fragment.
    pub fn dont_frag(&self) -> bool {
        self.flg_off() & IP_DF != 0
    }

    /// More fragments.
    pub fn more_frags(&self) -> bool {
        self.flg_off() & IP_MF != 0
    }

    /// Fragment offset in bytes (the field times 8).
    pub fn frag_offset(&self) -> u16 {
        (self.flg_off() & IP_OFFSET) << 3
    }

    /// Whether this packet is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & (IP_MF | IP_OFFSET) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        byte(self.buffer.as_ref(), field::TTL)
    }

    /// Protocol of the payload ([`IpProtocol`]).
    pub fn protocol(&self) -> u8 {
        byte(self.buffer.as_ref(), field::PROTOCOL)
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be::u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be::u32(self.buffer.as_ref(), field::SRC_ADDR.start))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be::u32(self.buffer.as_ref(), field::DST_ADDR.start))
    }

    /// The option bytes (between the fixed header and IHL*4).
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or_default()
    }

    /// The payload: bytes from IHL*4 to the total length, so trailing link-layer padding
    /// is excluded. Empty if the header lies about lengths (only possible unchecked).
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.header_len()..usize::from(self.total_len()))
            .unwrap_or_default()
    }

    /// Whether the header checksum (over IHL*4 bytes) verifies. False if the buffer does
    /// not hold the whole header.
    pub fn verify_checksum(&self) -> bool {
        let hl = self.header_len();
        match self.buffer.as_ref().get(..hl) {
            Some(h) if hl >= HEADER_LEN => checksum::checksum(h) == 0,
            _ => false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version nibble.
    pub fn set_version(&mut self, v: u8) {
        let b = self.buffer.as_mut();
        let old = byte(b, field::VER_IHL);
        put_byte(b, field::VER_IHL, (old & 0x0f) | (v << 4));
    }

    /// Sets IHL from a header length in bytes (rounded down to 4, at most 60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = self.buffer.as_mut();
        let old = byte(b, field::VER_IHL);
        let ihl = (len / 4).min(15) as u8;
        put_byte(b, field::VER_IHL, (old & 0xf0) | ihl);
    }

    /// Sets the TOS byte (DSCP and ECN).
    pub fn set_tos(&mut self, v: u8) {
        put_byte(self.buffer.as_mut(), field::TOS, v);
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::IDENT.start, v);
    }

    fn set_flg_off(&mut self, mask: u16, v: u16) {
        let old = self.flg_off();
        be::put_u16(
            self.buffer.as_mut(),
            field::FLG_OFF.start,
            (old & !mask) | (v & mask),
        );
    }

    /// Clears the three flag bits and the fragment offset.
    pub fn clear_flags(&mut self) {
        self.set_flg_off(0xffff, 0);
    }

    /// Sets or clears DF.
    pub fn set_dont_frag(&mut self, v: bool) {
        self.set_flg_off(IP_DF, if v { IP_DF } else { 0 });
    }

    /// Sets or clears MF.
    pub fn set_more_frags(&mut self, v: bool) {
        self.set_flg_off(IP_MF, if v { IP_MF } else { 0 });
    }

    /// Sets the fragment offset from a byte offset (divided by 8).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        self.set_flg_off(IP_OFFSET, bytes >> 3);
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, v: u8) {
        put_byte(self.buffer.as_mut(), field::TTL, v);
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, v: u8) {
        put_byte(self.buffer.as_mut(), field::PROTOCOL, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        be::put_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        be::put_u32(self.buffer.as_mut(), field::SRC_ADDR.start, a.into());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        be::put_u32(self.buffer.as_mut(), field::DST_ADDR.start, a.into());
    }

    /// Computes the header checksum over IHL*4 bytes and stores it. Does nothing if the
    /// buffer does not hold the whole header.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        if let Some(h) = self.buffer.as_ref().get(..hl) {
            let c = checksum::checksum(h);
            self.set_checksum(c);
        }
    }

    /// The payload, mutable (see [`Self::payload`]).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let r = self.header_len()..usize::from(self.total_len());
        self.buffer.as_mut().get_mut(r).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An owned IPv4 header (options are not represented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload ([`IpProtocol`]).
    pub protocol: u8,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP and ECN.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// The DF flag.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Reads a header, validating the packet with [`Ipv4Packet::check_len`] first.
    /// [`Error::Checksum`] if `verify_checksum` and the header checksum is wrong;
    /// [`Error::Unsupported`] for a fragment.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        verify_checksum: bool,
    ) -> Result<Ipv4Repr> {
        packet.check_len()?;
        // RFC 1122 §3.2.1.2: a datagram whose header checksum fails MUST be discarded.
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        // RFC 1122 §3.3.2 asks hosts to reassemble; mpdk deliberately does not (its TCP
        // sends with DF), so fragments are recognised and dropped here.
        if packet.is_fragment() {
            return Err(Error::Unsupported);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()).saturating_sub(packet.header_len()),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// The emitted header length: always 20 (no options).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes a 20-byte header with its checksum at the start of `buf` and returns 20;
    /// the caller writes the payload after it. [`Error::NoSpace`] if `buf` is shorter
    /// than 20; [`Error::Malformed`] if the total length would not fit 16 bits.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let total = u16::try_from(self.buffer_len()).map_err(|_| Error::Malformed)?;
        let hdr = buf.get_mut(..HEADER_LEN).ok_or(Error::NoSpace)?;
        let mut p = Ipv4Packet::new_unchecked(hdr);
        p.set_version(4);
        p.set_header_len(HEADER_LEN);
        p.set_tos(self.tos);
        p.set_total_len(total);
        p.set_ident(self.ident);
        p.clear_flags();
        p.set_dont_frag(self.dont_frag);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        p.fill_checksum();
        Ok(HEADER_LEN)
    }
}

impl fmt::Display for Ipv4Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv4 src={} dst={} proto={} len={} ttl={}",
            self.src_addr, self.dst_addr, self.protocol, self.payload_len, self.ttl
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 10.0.0.1 -> 10.0.0.2, TCP, DF, ttl 64, ident 0x1c46, 4 payload bytes, plus 2 bytes
    // of Ethernet padding after the datagram. Checksum computed by hand (RFC 1071).
    const PACKET: [u8; 26] = [
        0x45, 0x00, 0x00, 0x18, // v4 ihl5, tos 0, total 24
        0x1c, 0x46, 0x40, 0x00, // ident, DF
        0x40, 0x06, 0x0a, 0x98, // ttl 64, TCP, checksum
        0x0a, 0x00, 0x00, 0x01, // src
        0x0a, 0x00, 0x00, 0x02, // dst
        0xde, 0xad, 0xbe, 0xef, // payload
        0x00, 0x00, // padding
    ];

    fn packet_repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            protocol: IpProtocol::TCP,
            payload_len: 4,
            ttl: 64,
            tos: 0,
            ident: 0x1c46,
            dont_frag: true,
        }
    }

    #[test]
    fn vector() {
        let p = Ipv4Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 24);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.checksum(), 0x0a98);
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(Ipv4Repr::parse(&p, true), Ok(packet_repr()));
        let mut out = [0u8; 26];
        assert_eq!(packet_repr().emit(&mut out), Ok(20));
        assert_eq!(out[..20], PACKET[..20]);
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one 4-byte option (NOP NOP NOP EOL) before the payload.
        let mut b = [0u8; 28];
        b[..20].copy_from_slice(&PACKET[..20]);
        b[0] = 0x46;
        b[2..4].copy_from_slice(&28u16.to_be_bytes());
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        b[24..28].copy_from_slice(&[9, 8, 7, 6]);
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[9, 8, 7, 6]);
        let r = Ipv4Repr::parse(&p, true).unwrap();
        assert_eq!(r.payload_len, 4);
    }

    #[test]
    fn malformed_cases() {
        type Case = (&'static str, fn(&mut [u8]), Error);
        let cases: [Case; 6] = [
            ("ihl 4", |b| b[0] = 0x44, Error::Malformed),
            ("ihl 0", |b| b[0] = 0x40, Error::Malformed),
            ("version 6", |b| b[0] = 0x65, Error::Malformed),
            ("version 0", |b| b[0] = 0x05, Error::Malformed),
            // total length beyond the frame (26 bytes here)
            ("total 27", |b| b[3] = 27, Error::Truncated),
            ("total < ihl", |b| b[3] = 19, Error::Malformed),
        ];
        for (name, f, e) in cases {
            let mut b = PACKET;
            f(&mut b);
            assert_eq!(Ipv4Packet::new_checked(&b[..]).err(), Some(e), "{name}");
            let p = Ipv4Packet::new_unchecked(&b[..]);
            assert_eq!(Ipv4Repr::parse(&p, false), Err(e), "{name}");
        }
        // IHL 15 (60 bytes) in a 26-byte buffer.
        let mut b = PACKET;
        b[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..24 {
            assert_eq!(
                Ipv4Packet::new_checked(&PACKET[..n]).err(),
                Some(Error::Truncated),
                "len {n}"
            );
            let p = Ipv4Packet::new_unchecked(&PACKET[..n]);
            assert_eq!(Ipv4Repr::parse(&p, true), Err(Error::Truncated));
        }
        assert!(Ipv4Packet::new_checked(&PACKET[..24]).is_ok());
    }

    #[test]
    fn bad_checksum() {
        let mut b = PACKET;
        b[11] ^= 1;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p, true), Err(Error::Checksum));
        assert!(Ipv4Repr::parse(&p, false).is_ok());
    }

    #[test]
    fn fragments_unsupported() {
        let first: fn(&mut Ipv4Packet<&mut [u8]>) = |p| p.set_more_frags(true);
        let middle: fn(&mut Ipv4Packet<&mut [u8]>) = |p| {
            p.set_more_frags(true);
            p.set_frag_offset(1480);
        };
        let last: fn(&mut Ipv4Packet<&mut [u8]>) = |p| p.set_frag_offset(8);
        for f in [first, middle, last] {
            let mut b = PACKET;
            let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
            f(&mut p);
            p.fill_checksum();
            let p = Ipv4Packet::new_checked(&b[..]).unwrap();
            assert!(p.is_fragment());
            assert_eq!(Ipv4Repr::parse(&p, true), Err(Error::Unsupported));
        }
        let mut b = PACKET;
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_frag_offset(1480);
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.dont_frag());
    }

    #[test]
    fn emit_errors() {
        let mut r = packet_repr();
        assert_eq!(r.emit(&mut [0u8; 19]), Err(Error::NoSpace));
        r.payload_len = 65_516;
        assert_eq!(r.emit(&mut [0u8; 20]), Err(Error::Malformed));
        r.payload_len = 65_515;
        assert_eq!(r.emit(&mut [0u8; 20]), Ok(20));
    }

    #[test]
    fn setters() {
        let mut b = PACKET;
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_tos(0xb9);
        p.set_ttl(1);
        p.set_protocol(IpProtocol::UDP);
        p.set_ident(7);
        p.set_src_addr(Ipv4Addr::new(192, 0, 2, 1));
        p.set_dst_addr(Ipv4Addr::new(198, 51, 100, 2));
        p.payload_mut()[0] = 0x42;
        p.set_dont_frag(false);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.dscp(), p.ecn()), (0x2e, 1));
        assert_eq!((p.ttl(), p.protocol(), p.ident()), (1, 17, 7));
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(p.payload()[0], 0x42);
        assert!(!p.dont_frag() && !p.reserved_flag());
        assert!(p.verify_checksum());
    }

    pub(super) fn arb_repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            any::<[u32; 2]>(),
            any::<u8>(),
            0usize..=65_515,
            any::<(u8, u8, u16, bool)>(),
        )
            .prop_map(
                |([s, d], protocol, payload_len, (ttl, tos, ident, dont_frag))| Ipv4Repr {
                    src_addr: Ipv4Addr::from(s),
                    dst_addr: Ipv4Addr::from(d),
                    protocol,
                    payload_len,
                    ttl,
                    tos,
                    ident,
                    dont_frag,
                },
            )
    }

    fn exercise<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) {
        let _ = (p.version(), p.header_len(), p.tos(), p.dscp(), p.ecn());
        let _ = (p.total_len(), p.ident(), p.dont_frag(), p.more_frags());
        let _ = (p.frag_offset(), p.is_fragment(), p.reserved_flag(), p.ttl());
        let _ = (p.protocol(), p.checksum(), p.src_addr(), p.dst_addr());
        let _ = (p.options().len(), p.payload().len(), p.verify_checksum());
        let _ = Ipv4Repr::parse(p, true);
        let _ = Ipv4Repr::parse(p, false);
    }

    fn mutate(data: &mut [u8]) {
        let mut p = Ipv4Packet::new_unchecked(data);
        p.set_version(4);
        p.set_header_len(60);
        p.set_total_len(0xffff);
        p.set_frag_offset(0xffff);
        p.set_more_frags(true);
        p.fill_checksum();
        let _ = p.payload_mut().len();
        p.set_src_addr(Ipv4Addr::BROADCAST);
        p.set_dst_addr(Ipv4Addr::BROADCAST);
    }

    proptest! {
        #[test]
        fn round_trip(r in arb_repr(), fill in any::<u8>()) {
            let mut buf = vec![fill; r.buffer_len()];
            prop_assert_eq!(r.emit(&mut buf), Ok(20));
            let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv4Repr::parse(&p, true), Ok(r));
            prop_assert_eq!(p.payload().len(), r.payload_len);
        }

        #[test]
        fn no_panic_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            exercise(&Ipv4Packet::new_unchecked(&data[..]));
            if let Ok(p) = Ipv4Packet::new_checked(&data[..]) {
                exercise(&p);
                prop_assert!(p.header_len() + p.payload().len() == usize::from(p.total_len()));
            }
            mutate(&mut data.clone());
        }

        #[test]
        fn no_panic_on_truncated_valid(r in arb_repr(), opts in 0usize..11, cut in 0usize..100,
                                       flips in proptest::collection::vec(any::<(usize, u8)>(), 0..3)) {
            let mut r = r;
            r.payload_len %= 40;
            let mut buf = vec![0u8; r.buffer_len() + opts * 4];
            r.emit(&mut buf).unwrap();
            // Grow the header with zero (EOL) options, then damage it.
            let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
            p.set_header_len(20 + opts * 4);
            p.set_total_len((r.buffer_len() + opts * 4) as u16);
            p.fill_checksum();
            for (i, x) in flips {
                let i = i % buf.len();
                buf[i] ^= x;
            }
            let data = &buf[..cut.min(buf.len())];
            exercise(&Ipv4Packet::new_unchecked(data));
            if let Ok(p) = Ipv4Packet::new_checked(data) {
                exercise(&p);
            }
            mutate(&mut data.to_vec());
        }
    }
}
