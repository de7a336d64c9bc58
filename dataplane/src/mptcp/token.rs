//! The token table (Linux `net/mptcp/token.c`): local token -> connection.
//!
//! A connection's token is derived from its local key (RFC 8684 §3.1: the most significant
//! 32 bits of SHA-256 of the key; SHA-1 in v0, RFC 6824). The token names the connection in
//! MP_JOIN SYNs, so it must be unique on this host: a new key whose token is already in
//! the table is drawn again, a bounded number of times ([`TOKEN_MAX_RETRIES`], as Linux's
//! `MPTCP_TOKEN_MAX_RETRIES`); when every attempt collides the connection falls back to TCP
//! and `MPFallbackTokenInit` is counted.
//!
//! Sans-IO: randomness comes from the caller (`FnMut() -> u64`), so tests are
//! deterministic. The table lives on the control core; it allocates on insert, never on
//! lookup.

use std::collections::HashMap;

use crate::crypto::KeyInfo;
use crate::mptcp::mib::{Mib, MibCounters};
use crate::wire::mptcp::Version;

/// Keys drawn before giving up on a unique token (Linux `MPTCP_TOKEN_MAX_RETRIES`).
pub const TOKEN_MAX_RETRIES: u32 = 4;

/// Draws per attempt while the random source returns a zero key.
const ZERO_KEY_REDRAWS: usize = 8;

/// What the table knows about one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenEntry<C> {
    /// The caller's connection id.
    pub conn: C,
    /// Our key, token and IDSN.
    pub local: KeyInfo,
    /// The peer's key once known (SYN/ACK for an active open, third ACK for a passive one);
    /// MP_JOIN HMACs need it.
    pub remote_key: Option<u64>,
    /// The MPTCP version the keys were derived with.
    pub version: Version,
}

/// Failure to allocate a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Every one of `attempts` keys gave a token already in use; fall back to TCP
    /// (`MPFallbackTokenInit` was counted).
    Exhausted { attempts: u32 },
}

impl core::fmt::Display for TokenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TokenError::Exhausted { attempts } => {
                write!(f, "no unique MPTCP token after {attempts} keys")
            }
        }
    }
}

impl std::error::Error for TokenError {}

/// A freshly allocated key, and how many keys it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewToken {
    pub key: KeyInfo,
    /// 1 when the first key was unique.
    pub attempts: u32,
}

/// Local token -> connection.
#[derive(Debug)]
pub struct TokenTable<C> {
    map: HashMap<u32, TokenEntry<C>>,
    /// Keys rejected because their token was in use, over the table's life.
    collisions: u64,
}

impl<C> Default for TokenTable<C> {
    fn default() -> Self {
        TokenTable::new()
    }
}

impl<C> TokenTable<C> {
    pub fn new() -> Self {
        TokenTable {
            map: HashMap::new(),
            collisions: 0,
        }
    }

    /// Client side (Linux `mptcp_token_new_connect`): draws a local key for an active open
    /// and registers its token for `conn`. The key goes on the third ACK (v1) or the SYN
    /// (v0).
    pub fn new_connect(
        &mut self,
        version: Version,
        conn: C,
        rng: &mut impl FnMut() -> u64,
        mib: &mut MibCounters,
    ) -> Result<NewToken, TokenError> {
        self.allocate(version, conn, rng, mib)
    }

    /// Server side (Linux `mptcp_token_new_request`): draws the local key of a passive
    /// connection when an MP_CAPABLE SYN arrives and registers its token for `conn`. The key
    /// goes on the SYN/ACK.
    pub fn new_accept(
        &mut self,
        version: Version,
        conn: C,
        rng: &mut impl FnMut() -> u64,
        mib: &mut MibCounters,
    ) -> Result<NewToken, TokenError> {
        self.allocate(version, conn, rng, mib)
    }

    fn allocate(
        &mut self,
        version: Version,
        conn: C,
        rng: &mut impl FnMut() -> u64,
        mib: &mut MibCounters,
    ) -> Result<NewToken, TokenError> {
        for attempt in 1..=TOKEN_MAX_RETRIES {
            // Linux never uses a zero key (`subflow_check_req` draws again); a source that
            // keeps returning zero fails the attempt.
            let Some(raw) = (0..ZERO_KEY_REDRAWS).map(|_| rng()).find(|k| *k != 0) else {
                continue;
            };
            let key = KeyInfo::new(version, raw);
            if self.map.contains_key(&key.token) {
                self.collisions += 1;
                continue;
            }
            self.map.insert(
                key.token,
                TokenEntry {
                    conn,
                    local: key,
                    remote_key: None,
                    version,
                },
            );
            return Ok(NewToken {
                key,
                attempts: attempt,
            });
        }
        mib.inc(Mib::MPFallbackTokenInit);
        Err(TokenError::Exhausted {
            attempts: TOKEN_MAX_RETRIES,
        })
    }

    /// The connection a token names (an MP_JOIN SYN's token).
    pub fn lookup(&self, token: u32) -> Option<&TokenEntry<C>> {
        self.map.get(&token)
    }

    /// Records the peer's key of the connection with local token `token`. False if the
    /// token is unknown.
    pub fn set_remote_key(&mut self, token: u32, remote_key: u64) -> bool {
        match self.map.get_mut(&token) {
            Some(e) => {
                e.remote_key = Some(remote_key);
                true
            }
            None => false,
        }
    }

    /// Forgets a token (the connection closed or fell back). Returns its entry.
    pub fn remove(&mut self, token: u32) -> Option<TokenEntry<C>> {
        self.map.remove(&token)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys drawn again because their token was in use.
    pub fn collisions(&self) -> u64 {
        self.collisions
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &TokenEntry<C>> {
        self.map.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto;

    /// A splitmix64 stream: deterministic keys.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn insert_lookup_remove() {
        let mut t = TokenTable::new();
        let mut mib = MibCounters::new();
        let mut r = rng(1);
        let a = t.new_connect(Version::V1, 10u32, &mut r, &mut mib).unwrap();
        let b = t.new_accept(Version::V0, 11u32, &mut r, &mut mib).unwrap();
        assert_eq!(a.attempts, 1);
        assert_eq!(a.key.token, crypto::token(Version::V1, a.key.key));
        assert_eq!(a.key.idsn, crypto::idsn(Version::V1, a.key.key));
        assert_eq!(b.key.token, crypto::token(Version::V0, b.key.key));
        assert_eq!(t.len(), 2);
        let e = t.lookup(a.key.token).unwrap();
        assert_eq!((e.conn, e.version, e.remote_key), (10, Version::V1, None));
        assert!(t.set_remote_key(a.key.token, 77));
        assert_eq!(t.lookup(a.key.token).unwrap().remote_key, Some(77));
        let unknown = a.key.token ^ 1;
        assert!(t.lookup(unknown).is_none());
        assert!(!t.set_remote_key(unknown, 77));
        assert_eq!(t.remove(b.key.token).unwrap().conn, 11);
        assert!(t.lookup(b.key.token).is_none());
        assert_eq!(t.len(), 1);
        assert_eq!(mib.iter_nonzero().count(), 0);
    }

    #[test]
    fn collision_draws_again() {
        let mut t = TokenTable::new();
        let mut mib = MibCounters::new();
        // The first key is reused once: the second connection must draw again.
        let keys = [5u64, 5, 6];
        let mut i = 0;
        let mut r = || {
            let k = keys[i];
            i += 1;
            k
        };
        let a = t.new_connect(Version::V1, 1u8, &mut r, &mut mib).unwrap();
        let b = t.new_connect(Version::V1, 2u8, &mut r, &mut mib).unwrap();
        assert_eq!(a.key.key, 5);
        assert_eq!((b.key.key, b.attempts), (6, 2));
        assert_eq!(t.collisions(), 1);
        assert_eq!(t.lookup(b.key.token).unwrap().conn, 2);
    }

    #[test]
    fn zero_key_is_never_used() {
        let mut t = TokenTable::new();
        let mut mib = MibCounters::new();
        let keys = [0u64, 0, 9];
        let mut i = 0;
        let mut r = || {
            let k = keys[i.min(2)];
            i += 1;
            k
        };
        let k = t.new_connect(Version::V1, 1u8, &mut r, &mut mib).unwrap();
        assert_eq!((k.key.key, k.attempts), (9, 1));
        let mut zero = || 0u64;
        assert!(t
            .new_connect(Version::V1, 2u8, &mut zero, &mut mib)
            .is_err());
        assert_eq!(mib.get(Mib::MPFallbackTokenInit), 1);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn exhausted_falls_back_and_counts() {
        let mut t = TokenTable::new();
        let mut mib = MibCounters::new();
        let mut same = || 42u64;
        t.new_accept(Version::V1, 1u8, &mut same, &mut mib).unwrap();
        let err = t.new_accept(Version::V1, 2u8, &mut same, &mut mib);
        assert_eq!(
            err,
            Err(TokenError::Exhausted {
                attempts: TOKEN_MAX_RETRIES
            })
        );
        assert_eq!(mib.get(Mib::MPFallbackTokenInit), 1);
        assert_eq!(t.collisions(), u64::from(TOKEN_MAX_RETRIES));
        assert_eq!(t.len(), 1);
        assert_eq!(t.iter().next().unwrap().conn, 1);
    }
}
