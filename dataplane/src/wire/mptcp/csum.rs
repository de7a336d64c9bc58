//! DSS checksum (RFC 8684 §3.3.1) over a mapping that spans many segments.
//!
//! The checksum is the Internet checksum (one's-complement sum, RFC 1071) of a 16-byte
//! pseudo-header followed by the mapped payload:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------------------------------------------------------+
//! |              Data Sequence Number (always 64 bits)            |
//! |                                                               |
//! +---------------------------------------------------------------+
//! |              Subflow Sequence Number (relative, 32 bits)      |
//! +-------------------------------+-------------------------------+
//! |  Data-Level Length (16 bits)  |        Zero (16 bits)         |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! The field carried in the DSS option is the *complement* of the folded sum, computed
//! with the checksum field itself taken as zero, exactly as a TCP checksum (Linux
//! `__mptcp_make_csum` returns `csum_fold()`, which complements). A receiver adds the
//! received field to the sum of pseudo-header and payload; the mapping is valid when
//! that folds to 0xffff (Linux `validate_data_csum`: `csum_fold(..) == 0`). There is no
//! "zero means no checksum" rule as in UDP: 0x0000 is an ordinary value. The one
//! special case is the infinite mapping (data-level length 0), for which Linux sends a
//! checksum field of 0 and never verifies it; callers handle that case themselves.
//!
//! The data-level length in the pseudo-header is the value of the DSS field, which
//! counts a DATA_FIN as one octet (RFC 8684 §3.3.1 and Linux's
//! `map_data_len + map_data_fin`); only the payload bytes are summed.

use crate::wire::checksum::Checksum;

/// A running DSS checksum for one mapping: the pseudo-header is added by [`new`], the
/// payload by [`add_payload`] once per segment, in subflow order.
///
/// [`new`]: DssCsum::new
/// [`add_payload`]: DssCsum::add_payload
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DssCsum {
    sum: Checksum,
    payload_len: u64,
}

impl DssCsum {
    /// Starts a checksum for the mapping `dsn` (the full 64-bit DSN, even when the option
    /// carries 32 bits), `ssn` (the relative subflow sequence number, as in the option)
    /// and `data_len` (the data-level length field, DATA_FIN included).
    pub fn new(dsn: u64, ssn: u32, data_len: u16) -> Self {
        // RFC 8684 §3.3.1: the pseudo-header's data sequence number is always the 64-bit
        // value, whatever length the DSS option uses.
        let mut sum = Checksum::new();
        sum.add_u64(dsn);
        sum.add_u32(ssn);
        sum.add_u16(data_len);
        // The checksum field itself counts as zero.
        sum.add_u16(0);
        DssCsum {
            sum,
            payload_len: 0,
        }
    }

    /// Adds the next piece of mapped payload. Pieces may have any length, odd included;
    /// they must come in order and without gaps or overlap.
    pub fn add_payload(&mut self, bytes: &[u8]) {
        self.sum.add_bytes(bytes);
        self.payload_len = self.payload_len.saturating_add(bytes.len() as u64);
    }

    /// How many payload bytes have been added so far.
    pub fn payload_len(&self) -> u64 {
        self.payload_len
    }

    /// The value to put in the DSS checksum field: the complement of the folded sum.
    pub fn finish(&self) -> u16 {
        self.sum.finish()
    }

    /// Whether `received` (the checksum field of the DSS option, host order) matches:
    /// the folded sum of pseudo-header, payload and `received` is 0xffff.
    pub fn verify(&self, received: u16) -> bool {
        // The field sits at an even offset of the pseudo-header, so adding it as one
        // word to the folded sum is the same as summing it in place.
        let mut s = u32::from(self.sum.fold()) + u32::from(received);
        s = (s & 0xffff) + (s >> 16);
        s == 0xffff
    }
}

/// The DSS checksum field of a mapping whose payload is one contiguous buffer.
pub fn dss_csum(dsn: u64, ssn: u32, data_len: u16, payload: &[u8]) -> u16 {
    let mut c = DssCsum::new(dsn, ssn, data_len);
    c.add_payload(payload);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::reference;
    use proptest::prelude::*;

    fn pseudo(dsn: u64, ssn: u32, len: u16) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&dsn.to_be_bytes());
        v.extend_from_slice(&ssn.to_be_bytes());
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v
    }

    // Computed offline with:
    // python3 -c "import struct
    // def c(b):
    //     b=b+b'\0'*(len(b)%2); s=sum(struct.unpack('>%dH'%(len(b)//2),b))
    //     while s>>16: s=(s&0xffff)+(s>>16)
    //     return ~s&0xffff
    // print(hex(c(struct.pack('>QIHH',0x0102030405060708,1,5,0)+b'hello')))"
    #[test]
    fn known_vectors() {
        assert_eq!(dss_csum(0x0102_0304_0506_0708, 1, 5, b"hello"), 0xac13);
        assert_eq!(
            dss_csum(0xdead_beef_cafe_f00d, 0x1_0000, 7, b"\xff\x00\x01mptcp"),
            0xd2fa
        );
        let mut c = DssCsum::new(0x0102_0304_0506_0708, 1, 5);
        c.add_payload(b"hel");
        c.add_payload(b"lo");
        assert!(c.verify(0xac13));
        assert!(!c.verify(0xac12));
        assert_eq!(c.payload_len(), 5);
    }

    #[test]
    fn dsn_is_always_64_bits() {
        // A mapping sent with a 32-bit DSN still sums the expanded 64-bit value.
        let a = dss_csum(0x0000_0001_0000_0010, 0, 1, b"x");
        let b = dss_csum(0x0000_0000_0000_0010, 0, 1, b"x");
        assert_ne!(a, b);
    }

    #[test]
    fn zero_field_is_an_ordinary_value() {
        // Find a payload whose sum folds to 0xffff: the field is then 0x0000, and it
        // verifies; so does the other one's-complement zero, 0xffff.
        let base = DssCsum::new(7, 3, 2);
        let need = !base.sum.fold();
        let mut c = base;
        c.add_payload(&need.to_be_bytes());
        assert_eq!(c.finish(), 0);
        assert!(c.verify(0));
        assert!(c.verify(0xffff));
        // All-zero input: sum 0, field 0xffff; 0x0000 does not verify (as in Linux).
        let z = DssCsum::new(0, 0, 0);
        assert_eq!(z.finish(), 0xffff);
        assert!(z.verify(0xffff));
        assert!(!z.verify(0));
    }

    #[test]
    fn split_at_every_point() {
        let payload: Vec<u8> = (0u16..301).map(|i| (i * 7 + 3) as u8).collect();
        let want = dss_csum(0xfeed_0000_1234_5678, 0xabcd, 301, &payload);
        for i in 0..=payload.len() {
            for j in i..=payload.len() {
                let mut c = DssCsum::new(0xfeed_0000_1234_5678, 0xabcd, 301);
                c.add_payload(&payload[..i]);
                c.add_payload(&payload[i..j]);
                c.add_payload(&payload[j..]);
                assert_eq!(c.finish(), want, "split at {i},{j}");
            }
        }
    }

    proptest! {
        #[test]
        fn matches_reference(dsn in any::<u64>(), ssn in any::<u32>(), len in any::<u16>(),
                             payload in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut all = pseudo(dsn, ssn, len);
            all.extend_from_slice(&payload);
            let field = dss_csum(dsn, ssn, len, &payload);
            prop_assert_eq!(field, reference(&all));
            let mut c = DssCsum::new(dsn, ssn, len);
            c.add_payload(&payload);
            prop_assert!(c.verify(field));
        }

        #[test]
        fn flipped_byte_fails(dsn in any::<u64>(), ssn in any::<u32>(), len in any::<u16>(),
                              payload in proptest::collection::vec(any::<u8>(), 1..600),
                              at in any::<usize>(), bit in 0u8..8) {
            let field = dss_csum(dsn, ssn, len, &payload);
            let mut bad = payload.clone();
            let at = at % bad.len();
            bad[at] ^= 1 << bit;
            let mut c = DssCsum::new(dsn, ssn, len);
            c.add_payload(&bad);
            prop_assert!(!c.verify(field));
        }

        #[test]
        fn random_splits(payload in proptest::collection::vec(any::<u8>(), 0..400),
                         cuts in proptest::collection::vec(any::<usize>(), 0..10)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (payload.len() + 1)).collect();
            cuts.sort_unstable();
            let mut c = DssCsum::new(42, 42, payload.len() as u16);
            let mut prev = 0;
            for cut in cuts.into_iter().chain(core::iter::once(payload.len())) {
                c.add_payload(&payload[prev..cut]);
                prev = cut;
            }
            prop_assert_eq!(c.finish(), dss_csum(42, 42, payload.len() as u16, &payload));
        }
    }
}
