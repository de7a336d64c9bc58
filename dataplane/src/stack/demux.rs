//! Demultiplexing: the 4-tuple and the hasher of the connection table.
//!
//! The table is a `HashMap<FourTuple, u32>` (tuple -> slot index) filled when a
//! connection is created and emptied when it closes; a lookup per segment allocates
//! nothing. The hash is keyed with the stack's secret so that a remote host cannot pick
//! tuples that collide (the HashDoS concern Linux answers with `inet_ehashfn`'s secret).

use core::hash::{BuildHasher, Hasher};
use core::net::Ipv4Addr;

/// A connection's addresses and ports, from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourTuple {
    /// Our address.
    pub local_addr: Ipv4Addr,
    /// Our port.
    pub local_port: u16,
    /// The peer's address.
    pub remote_addr: Ipv4Addr,
    /// The peer's port.
    pub remote_port: u16,
}

impl FourTuple {
    /// A tuple from its four parts.
    pub fn new(
        local_addr: Ipv4Addr,
        local_port: u16,
        remote_addr: Ipv4Addr,
        remote_port: u16,
    ) -> Self {
        FourTuple {
            local_addr,
            local_port,
            remote_addr,
            remote_port,
        }
    }
}

impl core::fmt::Display for FourTuple {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}:{} <-> {}:{}",
            self.local_addr, self.local_port, self.remote_addr, self.remote_port
        )
    }
}

/// A keyed multiply-xor hasher for small fixed-size keys (a few integer writes).
#[derive(Debug, Clone, Copy)]
pub struct TupleHasher {
    state: u64,
}

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for TupleHasher {
    fn finish(&self) -> u64 {
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.state = (self.state.rotate_left(26) ^ i).wrapping_mul(K);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// Builds [`TupleHasher`]s seeded with a key.
#[derive(Debug, Clone, Copy)]
pub struct TupleHash {
    key: u64,
}

impl TupleHash {
    /// Hashers keyed with `key`.
    pub fn new(key: u64) -> TupleHash {
        TupleHash { key }
    }
}

impl BuildHasher for TupleHash {
    type Hasher = TupleHasher;
    fn build_hasher(&self) -> TupleHasher {
        TupleHasher { state: self.key }
    }
}

/// The connection table's map.
pub type TupleMap<V> = std::collections::HashMap<FourTuple, V, TupleHash>;
