//! Initial sequence numbers (RFC 6528), timestamp offsets and ephemeral port offsets
//! (RFC 6056), all keyed hashes of the connection's identity with the stack's secret.
//!
//! RFC 6528 §3: `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`,
//! where `M` is a timer that ticks every 4 microseconds and `F` a keyed hash. Here `F`
//! is SHA-256 over a domain byte, the secret and the tuple, truncated to 32 bits; `M`
//! comes from the `now` the caller passes in (the core never reads a clock). Computed
//! once per connection, allocation-free.

use core::net::Ipv4Addr;

use sha2::{Digest, Sha256};

use crate::seq::SubflowSeq;
use crate::time::Instant;

/// Keyed generator of ISNs, timestamp offsets and port offsets.
#[derive(Clone)]
pub struct IsnGenerator {
    secret: [u8; 32],
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IsnGenerator { .. }")
    }
}

impl IsnGenerator {
    /// A generator keyed with `secret` (RFC 6528 §3: it SHOULD be random and kept
    /// secret; the caller draws it).
    pub fn new(secret: [u8; 32]) -> IsnGenerator {
        IsnGenerator { secret }
    }

    fn hash(&self, domain: u8, parts: &[&[u8]]) -> u32 {
        let mut h = Sha256::new();
        h.update([domain]);
        h.update(self.secret);
        for p in parts {
            h.update(p);
        }
        let d = h.finalize();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// The 4 µs clock `M` of RFC 6528 §3 (wrapping).
    pub fn clock(now: Instant) -> u32 {
        (now.as_nanos() / 4_000) as u32
    }

    /// RFC 6528 §3: the ISN of a connection from `local` to `remote`.
    pub fn isn(
        &self,
        now: Instant,
        local_addr: Ipv4Addr,
        local_port: u16,
        remote_addr: Ipv4Addr,
        remote_port: u16,
    ) -> SubflowSeq {
        let f = self.hash(
            b'I',
            &[
                &local_addr.octets(),
                &local_port.to_be_bytes(),
                &remote_addr.octets(),
                &remote_port.to_be_bytes(),
            ],
        );
        SubflowSeq(Self::clock(now).wrapping_add(f))
    }

    /// The offset added to our timestamp clock for a pair of addresses (as Linux's
    /// `secure_tcp_ts_off`), so TSvals reveal no uptime and differ between peers.
    pub fn ts_offset(&self, local_addr: Ipv4Addr, remote_addr: Ipv4Addr) -> u32 {
        self.hash(b'T', &[&local_addr.octets(), &remote_addr.octets()])
    }

    /// RFC 6056 §3.3.3 (algorithm 3): where the search for a free ephemeral port starts
    /// for a destination, so that port choices are not predictable across destinations.
    pub fn port_offset(
        &self,
        local_addr: Ipv4Addr,
        remote_addr: Ipv4Addr,
        remote_port: u16,
    ) -> u32 {
        self.hash(
            b'P',
            &[
                &local_addr.octets(),
                &remote_addr.octets(),
                &remote_port.to_be_bytes(),
            ],
        )
    }
}
