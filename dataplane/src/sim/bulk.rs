//! The data side shared by the simulator's bulk applications
//! ([`super::tcp_host::BulkApp`], [`super::mptcp_host::MpBulkApp`]): `N` bytes of a
//! seeded pseudo-random stream (xoshiro256** words, see [`Rng`]) offered to a `send`
//! in 64 KiB chunks, everything a `recv` returns counted, and SHA-256 of both
//! directions, so that the hash one side sent and the other received prove a transfer
//! byte-exact.

use sha2::{Digest, Sha256};

use super::Rng;

/// Bytes generated (and offered to `send`) at a time.
const CHUNK: usize = 64 * 1024;

/// One direction's stream out and the other's in, with their hashes.
#[derive(Debug, Clone)]
pub(crate) struct BulkStream {
    to_send: u64,
    sent: u64,
    stream: Rng,
    chunk: Vec<u8>,
    chunk_off: usize,
    rbuf: Vec<u8>,
    received: u64,
    hash: bool,
    sent_hash: Sha256,
    received_hash: Sha256,
}

impl BulkStream {
    /// `to_send` bytes of the stream `seed`, hashed both ways.
    pub(crate) fn new(to_send: u64, seed: u64) -> BulkStream {
        BulkStream {
            to_send,
            sent: 0,
            stream: Rng::new(seed),
            chunk: Vec::with_capacity(CHUNK),
            chunk_off: 0,
            rbuf: vec![0; CHUNK],
            received: 0,
            hash: true,
            sent_hash: Sha256::new(),
            received_hash: Sha256::new(),
        }
    }

    /// No hashing, and one chunk of random bytes reused: for throughput runs where
    /// only the byte counts matter.
    pub(crate) fn without_hashing(&mut self) {
        self.hash = false;
    }

    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Every byte was taken by `send`.
    pub(crate) fn all_sent(&self) -> bool {
        self.sent == self.to_send
    }

    pub(crate) fn sent_digest(&self) -> [u8; 32] {
        self.sent_hash.clone().finalize().into()
    }

    pub(crate) fn received_digest(&self) -> [u8; 32] {
        self.received_hash.clone().finalize().into()
    }

    fn next_chunk(&mut self) {
        let want = CHUNK.min((self.to_send - self.sent) as usize);
        if !self.hash && self.chunk.len() == CHUNK {
            // Throughput mode: the same random bytes again.
            self.chunk.truncate(want);
            self.chunk.resize(want, 0);
            self.chunk_off = 0;
            return;
        }
        self.chunk.clear();
        while self.chunk.len() < want {
            let w = self.stream.next_u64().to_le_bytes();
            let n = (want - self.chunk.len()).min(8);
            self.chunk.extend_from_slice(&w[..n]);
        }
        if self.hash {
            self.sent_hash.update(&self.chunk);
        }
        self.chunk_off = 0;
    }

    /// Offers the rest of the stream to `send` (which returns the bytes it took) until
    /// it takes nothing or everything is sent.
    pub(crate) fn send_with(&mut self, mut send: impl FnMut(&[u8]) -> usize) {
        while self.sent < self.to_send {
            if self.chunk_off == self.chunk.len() {
                self.next_chunk();
            }
            let n = send(&self.chunk[self.chunk_off..]);
            if n == 0 {
                break;
            }
            self.chunk_off += n;
            self.sent += n as u64;
        }
    }

    /// Reads from `recv` (which returns the bytes it wrote) until it has nothing.
    pub(crate) fn recv_with(&mut self, mut recv: impl FnMut(&mut [u8]) -> usize) {
        loop {
            let n = recv(&mut self.rbuf);
            if n == 0 {
                break;
            }
            if self.hash {
                self.received_hash.update(&self.rbuf[..n]);
            }
            self.received += n as u64;
        }
    }
}
