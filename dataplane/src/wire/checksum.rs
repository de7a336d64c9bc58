//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! [`Checksum`] is an accumulator that can be fed a byte stream in pieces of any length,
//! odd ones included: it keeps track of whether the next byte is the high or the low
//! half of a 16-bit word. That is what the MPTCP DSS checksum needs, since one mapping
//! spans many segments whose lengths need not be even (RFC 8684 §3.3.1).

use core::net::{Ipv4Addr, Ipv6Addr};

/// A running one's-complement sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    acc: u64,
    /// An odd number of bytes has been added: the next byte is a word's low half.
    odd: bool,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Self {
        Checksum { acc: 0, odd: false }
    }

    /// Adds bytes that continue the stream added so far.
    pub fn add_bytes(&mut self, mut data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.odd {
            self.acc += u64::from(data[0]);
            self.odd = false;
            data = &data[1..];
        }
        let mut chunks = data.chunks_exact(8);
        let mut acc = self.acc;
        for c in &mut chunks {
            // One's-complement addition is associative over wider words with end-around
            // carry, so two big-endian u32 halves at a time give the same folded sum.
            acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
        }
        let rest = chunks.remainder();
        let mut pairs = rest.chunks_exact(2);
        for p in &mut pairs {
            acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
        }
        if let [last] = pairs.remainder() {
            acc += u64::from(*last) << 8;
            self.odd = true;
        }
        // Keep the accumulator small so that any number of calls cannot overflow it.
        self.acc = (acc & 0xffff_ffff) + (acc >> 32);
    }

    /// Adds a 16-bit big-endian word.
    pub fn add_u16(&mut self, v: u16) {
        self.add_bytes(&v.to_be_bytes());
    }

    /// Adds a 32-bit big-endian word.
    pub fn add_u32(&mut self, v: u32) {
        self.add_bytes(&v.to_be_bytes());
    }

    /// Adds a 64-bit big-endian word.
    pub fn add_u64(&mut self, v: u64) {
        self.add_bytes(&v.to_be_bytes());
    }

    /// The folded 16-bit one's-complement sum (not inverted).
    pub fn fold(&self) -> u16 {
        let mut s = self.acc;
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// The checksum field value: the complement of the folded sum.
    pub fn finish(&self) -> u16 {
        !self.fold()
    }

    /// The sum of an IPv4 pseudo-header (RFC 793 §3.1 / RFC 9293 §3.1).
    pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> Self {
        let mut c = Checksum::new();
        c.add_bytes(&src.octets());
        c.add_bytes(&dst.octets());
        c.add_u16(u16::from(protocol));
        c.add_u16(len);
        c
    }

    /// The sum of an IPv6 pseudo-header (RFC 8200 §8.1).
    pub fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> Self {
        let mut c = Checksum::new();
        c.add_bytes(&src.octets());
        c.add_bytes(&dst.octets());
        c.add_u32(len);
        c.add_u32(u32::from(next_header));
        c
    }
}

/// The checksum of one buffer: `!fold(sum(data))`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut c = Checksum::new();
    c.add_bytes(data);
    c.finish()
}

/// The plain RFC 1071 algorithm, one 16-bit word at a time. Kept as the reference the
/// fast path is tested against.
pub fn reference(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        sum += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
        i += 2;
    }
    if i < data.len() {
        sum += u32::from(data[i]) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Incremental update of a checksum field when a 16-bit word changes from `old` to
/// `new` (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`).
pub fn update_u16(csum: u16, old: u16, new: u16) -> u16 {
    let mut s = u32::from(!csum) + u32::from(!old) + u32::from(new);
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Incremental update for a 32-bit field (an IPv4 address, a sequence number).
pub fn update_u32(csum: u16, old: u32, new: u32) -> u16 {
    let c = update_u16(csum, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example bytes: 00 01 f2 03 f4 f5 f6 f7 -> sum 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let mut c = Checksum::new();
        c.add_bytes(&data);
        assert_eq!(c.fold(), 0xddf2);
        assert_eq!(reference(&data), !0xddf2);
    }

    #[test]
    fn empty_and_single_byte() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0xab]), reference(&[0xab]));
    }

    proptest! {
        #[test]
        fn fast_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            prop_assert_eq!(checksum(&data), reference(&data));
        }

        #[test]
        fn split_anywhere_matches(data in proptest::collection::vec(any::<u8>(), 0..600),
                                  cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut c = Checksum::new();
            let mut prev = 0;
            for cut in cuts.into_iter().chain(core::iter::once(data.len())) {
                c.add_bytes(&data[prev..cut]);
                prev = cut;
            }
            prop_assert_eq!(c.finish(), reference(&data));
        }

        #[test]
        fn incremental_update_matches_recompute(mut data in proptest::collection::vec(any::<u8>(), 4..200),
                                                at in any::<usize>(), new in any::<u32>()) {
            let at = (at % (data.len() / 4)) * 4;
            let old_csum = checksum(&data);
            let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            let want = checksum(&data);
            let got = update_u32(old_csum, old, new);
            // 0x0000 and 0xffff are the same value in one's complement.
            prop_assert!(got == want || (got == 0 && want == 0xffff) || (got == 0xffff && want == 0));
        }
    }
}
