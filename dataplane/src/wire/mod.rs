//! Packet codec: zero-copy views plus owned representations.
//!
//! Every view follows one contract (after smoltcp): `new_checked` validates lengths once,
//! and after that **no accessor panics**, whatever the bytes are. Owned representations
//! (`*Repr`) have `parse`, `buffer_len` and `emit`. Input from the wire is untrusted:
//! a malformed header is an [`Error`], never a panic; a malformed TCP or MPTCP option is
//! skipped and counted by the caller, as Linux does.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod frame;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod mptcp;
pub mod tcp;

use core::fmt;

/// Why a buffer could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the header or a length field claims.
    Truncated,
    /// A field holds a value the format does not allow (bad version, length, offset).
    Malformed,
    /// A well-formed packet we deliberately do not handle (an IP fragment, an
    /// unsupported extension header, a non-Ethernet hardware type).
    Unsupported,
    /// A checksum did not verify.
    Checksum,
    /// The output buffer or the option space is too small for what should be emitted.
    NoSpace,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Unsupported => "unsupported packet",
            Error::Checksum => "checksum error",
            Error::NoSpace => "buffer too small",
        })
    }
}

impl std::error::Error for Error {}

/// Result of wire parsing and emitting.
pub type Result<T> = core::result::Result<T, Error>;

/// Big-endian field access on a byte slice. The callers have checked the length; these
/// helpers still never panic on a short slice and return 0 instead.
pub(crate) mod be {
    #[inline]
    pub fn u16(b: &[u8], at: usize) -> u16 {
        match b.get(at..at + 2) {
            Some(s) => u16::from_be_bytes([s[0], s[1]]),
            None => 0,
        }
    }
    #[inline]
    pub fn u32(b: &[u8], at: usize) -> u32 {
        match b.get(at..at + 4) {
            Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
            None => 0,
        }
    }
    #[inline]
    pub fn u64(b: &[u8], at: usize) -> u64 {
        match b.get(at..at + 8) {
            Some(s) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                u64::from_be_bytes(a)
            }
            None => 0,
        }
    }
    #[inline]
    pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
        if let Some(s) = b.get_mut(at..at + 2) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
    #[inline]
    pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
        if let Some(s) = b.get_mut(at..at + 4) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
    #[inline]
    pub fn put_u64(b: &mut [u8], at: usize, v: u64) {
        if let Some(s) = b.get_mut(at..at + 8) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
}
