//! MPTCP key-derived values: token, IDSN, and the HMACs of MP_JOIN and ADD_ADDR.
//!
//! MPTCP v1 (RFC 8684) uses SHA-256 and HMAC-SHA256; v0 (RFC 6824) uses SHA-1 and
//! HMAC-SHA1. Keys are 64-bit numbers and are always hashed in network byte order
//! (big-endian), as Linux `net/mptcp/crypto.c` does (`mptcp_crypto_key_sha`,
//! `mptcp_crypto_hmac_sha`). Nothing here allocates.
//!
//! Who is "A" and who is "B" matters and is easy to get backwards, so the MP_JOIN
//! functions name their parameters by role (`initiator_*` is the host that sends the
//! MP_JOIN SYN, "Host A" in RFC 8684 Figure 5; `responder_*` is the listener, "Host B"),
//! and ADD_ADDR names them by direction (`sender_key`, `receiver_key`).

use core::net::IpAddr;

use hmac::digest::generic_array::GenericArray;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::wire::mptcp::Version;

/// Length of an MP_JOIN ACK's HMAC field (RFC 8684 §3.2: the leftmost 160 bits).
pub const JOIN_ACK_HMAC_LEN: usize = 20;

/// A key with the values derived from it (RFC 8684 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyInfo {
    /// The 64-bit key as exchanged in MP_CAPABLE.
    pub key: u64,
    /// The connection token: most significant 32 bits of the hash of the key.
    pub token: u32,
    /// The initial data sequence number: least significant 64 bits of the hash.
    pub idsn: u64,
}

impl KeyInfo {
    /// Derives token and IDSN from `key` with the hash of `version`.
    pub fn new(version: Version, key: u64) -> Self {
        let (token, idsn) = key_sha(version, key);
        KeyInfo { key, token, idsn }
    }
}

/// Token and IDSN of a key, in one hash (Linux `mptcp_crypto_key_sha`).
///
/// RFC 8684 §3.1: the token is the most significant 32 bits of the SHA-256 hash of the
/// key, the IDSN the least significant 64 bits. RFC 6824 §3.1 says the same with SHA-1.
pub fn key_sha(version: Version, key: u64) -> (u32, u64) {
    let input = key.to_be_bytes();
    match version {
        Version::V1 => split_hash(Sha256::digest(input).as_slice()),
        Version::V0 => split_hash(Sha1::digest(input).as_slice()),
    }
}

/// The token of a key: most significant 32 bits of its hash (RFC 8684 §3.1).
pub fn token(version: Version, key: u64) -> u32 {
    key_sha(version, key).0
}

/// The initial data sequence number of a key: least significant 64 bits of its hash
/// (RFC 8684 §3.1).
pub fn idsn(version: Version, key: u64) -> u64 {
    key_sha(version, key).1
}

/// First 4 bytes and last 8 bytes of a hash, big-endian.
fn split_hash(h: &[u8]) -> (u32, u64) {
    let mut first = [0u8; 4];
    let mut last = [0u8; 8];
    if let (Some(f), Some(l)) = (
        h.get(..4),
        h.len().checked_sub(8).and_then(|at| h.get(at..)),
    ) {
        first.copy_from_slice(f);
        last.copy_from_slice(l);
    }
    (u32::from_be_bytes(first), u64::from_be_bytes(last))
}

/// An HMAC value: 32 bytes (HMAC-SHA256, v1) or 20 bytes (HMAC-SHA1, v0). No heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    buf: [u8; 32],
    /// 32 or 20; never more than `buf.len()`.
    len: u8,
}

impl Digest {
    /// The digest bytes (32 for v1, 20 for v0).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&self.buf)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Always false; present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// The leftmost 64 bits, big-endian (the truncated HMAC of an MP_JOIN SYN/ACK).
    pub fn leftmost_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.buf[..8]);
        u64::from_be_bytes(b)
    }

    /// The rightmost 64 bits, big-endian (the truncated HMAC of ADD_ADDR).
    pub fn rightmost_u64(&self) -> u64 {
        let bytes = self.as_bytes();
        let mut b = [0u8; 8];
        if let Some(tail) = bytes.len().checked_sub(8).and_then(|at| bytes.get(at..)) {
            b.copy_from_slice(tail);
        }
        u64::from_be_bytes(b)
    }

    /// The leftmost 160 bits (the HMAC of an MP_JOIN ACK; all of it for SHA-1).
    pub fn leftmost_160(&self) -> [u8; JOIN_ACK_HMAC_LEN] {
        let mut b = [0u8; JOIN_ACK_HMAC_LEN];
        b.copy_from_slice(&self.buf[..JOIN_ACK_HMAC_LEN]);
        b
    }
}

/// HMAC keyed by `key_a || key_b` (both big-endian, 16 bytes) over `msg`, with the hash
/// of `version` (Linux `mptcp_crypto_hmac_sha`). RFC 8684 §3.2: "HMAC(Key=(Key-A +
/// Key-B), Msg=(...))"; the first key given here is the first in the HMAC key.
pub fn hmac(version: Version, key_a: u64, key_b: u64, msg: &[u8]) -> Digest {
    // HMAC pads a key shorter than the hash block (64 bytes for SHA-1 and SHA-256) with
    // zeros (RFC 2104 §2), so passing the padded block is the same key and cannot fail.
    let mut block = [0u8; 64];
    block[..8].copy_from_slice(&key_a.to_be_bytes());
    block[8..16].copy_from_slice(&key_b.to_be_bytes());
    let key = GenericArray::from(block);
    let mut buf = [0u8; 32];
    let len = match version {
        Version::V1 => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new(&key);
            mac.update(msg);
            buf.copy_from_slice(mac.finalize().into_bytes().as_slice());
            32
        }
        Version::V0 => {
            let mut mac = <Hmac<Sha1> as KeyInit>::new(&key);
            mac.update(msg);
            buf[..20].copy_from_slice(mac.finalize().into_bytes().as_slice());
            20
        }
    };
    Digest { buf, len }
}

/// Linux `subflow_generate_hmac`: HMAC(Key=(key1 || key2), Msg=(nonce1 || nonce2)).
fn join_hmac(version: Version, key1: u64, key2: u64, nonce1: u32, nonce2: u32) -> Digest {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&nonce1.to_be_bytes());
    msg[4..].copy_from_slice(&nonce2.to_be_bytes());
    hmac(version, key1, key2, &msg)
}

/// The truncated HMAC an MP_JOIN SYN/ACK carries, sent by the responder (the listener,
/// Host B) and checked by the initiator (Host A).
///
/// RFC 8684 §3.2, Figure 6 (SYN/ACK): `HMAC(Key=(Key-B + Key-A), Msg=(R-B + R-A))`,
/// leftmost 64 bits. Key-B / R-B are the responder's key and nonce, Key-A / R-A the
/// initiator's. In Linux the responder computes it as
/// `subflow_generate_hmac(local_key, remote_key, local_nonce, remote_nonce)`.
pub fn join_synack_hmac(
    version: Version,
    responder_key: u64,
    initiator_key: u64,
    responder_nonce: u32,
    initiator_nonce: u32,
) -> u64 {
    join_hmac(
        version,
        responder_key,
        initiator_key,
        responder_nonce,
        initiator_nonce,
    )
    .leftmost_u64()
}

/// The HMAC an MP_JOIN ACK carries, sent by the initiator (Host A) and checked by the
/// responder (the listener, Host B).
///
/// RFC 8684 §3.2, Figure 7 (ACK): `HMAC(Key=(Key-A + Key-B), Msg=(R-A + R-B))`, leftmost
/// 160 bits (all of it with SHA-1 in v0).
pub fn join_ack_hmac(
    version: Version,
    initiator_key: u64,
    responder_key: u64,
    initiator_nonce: u32,
    responder_nonce: u32,
) -> [u8; JOIN_ACK_HMAC_LEN] {
    join_hmac(
        version,
        initiator_key,
        responder_key,
        initiator_nonce,
        responder_nonce,
    )
    .leftmost_160()
}

/// Checks a received MP_JOIN SYN/ACK HMAC (the initiator's side), in constant time.
pub fn join_synack_hmac_valid(
    version: Version,
    responder_key: u64,
    initiator_key: u64,
    responder_nonce: u32,
    initiator_nonce: u32,
    received: u64,
) -> bool {
    let want = join_synack_hmac(
        version,
        responder_key,
        initiator_key,
        responder_nonce,
        initiator_nonce,
    );
    ct_eq(&want.to_be_bytes(), &received.to_be_bytes())
}

/// Checks a received MP_JOIN ACK HMAC (the responder's side), in constant time.
pub fn join_ack_hmac_valid(
    version: Version,
    initiator_key: u64,
    responder_key: u64,
    initiator_nonce: u32,
    responder_nonce: u32,
    received: &[u8; JOIN_ACK_HMAC_LEN],
) -> bool {
    let want = join_ack_hmac(
        version,
        initiator_key,
        responder_key,
        initiator_nonce,
        responder_nonce,
    );
    ct_eq(&want, received)
}

/// The truncated HMAC of a v1 ADD_ADDR option (RFC 8684 §3.4.1). v0 ADD_ADDR has none.
///
/// `HMAC-SHA256(Key=(sender key || receiver key), Msg=(Address ID || IP address || Port))`,
/// rightmost 64 bits. The sender's key comes first: RFC 8684 §3.4.1 says Key-A then
/// Key-B for an HMAC sent by Host A, and Linux computes `add_addr_generate_hmac(local_key,
/// remote_key, ..)` when sending and `(remote_key, local_key, ..)` when checking. The
/// address is 4 or 16 bytes in network order; the port is always 2 bytes in the message,
/// zero when the option carries no port (as in Linux, which hashes `addr->port`, 0 when
/// absent).
pub fn add_addr_hmac(
    sender_key: u64,
    receiver_key: u64,
    addr_id: u8,
    addr: IpAddr,
    port: Option<u16>,
) -> u64 {
    let mut msg = [0u8; 1 + 16 + 2];
    msg[0] = addr_id;
    let end = match addr {
        IpAddr::V4(a) => {
            msg[1..5].copy_from_slice(&a.octets());
            5
        }
        IpAddr::V6(a) => {
            msg[1..17].copy_from_slice(&a.octets());
            17
        }
    };
    msg[end..end + 2].copy_from_slice(&port.unwrap_or(0).to_be_bytes());
    hmac(Version::V1, sender_key, receiver_key, &msg[..end + 2]).rightmost_u64()
}

/// Byte comparison whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha_known_answers() {
        // FIPS 180 "abc" examples.
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&Sha1::digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    fn raw_hmac256(key: &[u8], msg: &[u8]) -> String {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        m.update(msg);
        hex(&m.finalize().into_bytes())
    }

    fn raw_hmac1(key: &[u8], msg: &[u8]) -> String {
        let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap();
        m.update(msg);
        hex(&m.finalize().into_bytes())
    }

    #[test]
    fn hmac_sha256_rfc4231() {
        // RFC 4231 §4.2 (test case 1) and §4.3 (test case 2).
        assert_eq!(
            raw_hmac256(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            raw_hmac256(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_sha1_rfc2202() {
        // RFC 2202 §3, test cases 1 and 2.
        assert_eq!(
            raw_hmac1(&[0x0b; 20], b"Hi There"),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            raw_hmac1(b"Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn padded_block_key_is_the_same_key() {
        // Our infallible key path (16 key bytes zero-padded to the block) must equal the
        // plain HMAC with the 16-byte key.
        let (a, b) = (0x0123_4567_89ab_cdef_u64, 0xfedc_ba98_7654_3210_u64);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&a.to_be_bytes());
        key[8..].copy_from_slice(&b.to_be_bytes());
        assert_eq!(
            hex(hmac(Version::V1, a, b, b"msg").as_bytes()),
            raw_hmac256(&key, b"msg")
        );
        assert_eq!(
            hex(hmac(Version::V0, a, b, b"msg").as_bytes()),
            raw_hmac1(&key, b"msg")
        );
        assert_eq!(hmac(Version::V1, a, b, b"").len(), 32);
        assert_eq!(hmac(Version::V0, a, b, b"").len(), 20);
    }

    #[test]
    fn linux_kunit_vectors() {
        // net/mptcp/crypto_test.c feeds the ASCII of its hex strings as keys and nonces:
        // key "0b0b0b0b0b0b0b0b" -> key1 = key2 = be64(b"0b0b0b0b"), msg "48692054" ->
        // nonce1 = be32(b"4869"), nonce2 = be32(b"2054").
        let cases: [(&[u8; 16], &[u8; 8], &str); 3] = [
            (
                b"0b0b0b0b0b0b0b0b",
                b"48692054",
                "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa",
            ),
            (
                b"aaaaaaaaaaaaaaaa",
                b"dddddddd",
                "2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9",
            ),
            (
                b"0102030405060708",
                b"cdcdcdcd",
                "e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d",
            ),
        ];
        for (key, msg, want) in cases {
            let k1 = u64::from_be_bytes(key[..8].try_into().unwrap());
            let k2 = u64::from_be_bytes(key[8..].try_into().unwrap());
            let n1 = u32::from_be_bytes(msg[..4].try_into().unwrap());
            let n2 = u32::from_be_bytes(msg[4..].try_into().unwrap());
            assert_eq!(hex(join_hmac(Version::V1, k1, k2, n1, n2).as_bytes()), want);
        }
    }

    // Computed offline with:
    // python3 -c "import hashlib,struct; k=0x0123456789abcdef; d=hashlib.sha256(struct.pack('>Q',k)).digest(); print(hex(int.from_bytes(d[:4],'big')), hex(int.from_bytes(d[-8:],'big')))"
    // (hashlib.sha1 for v0).
    #[test]
    fn token_and_idsn() {
        let cases = [
            (
                Version::V1,
                0u64,
                0xaf55_70f5_u32,
                0xe5b2_328d_e0e8_3dfc_u64,
            ),
            (Version::V1, 1, 0xcd26_6215, 0x19ec_5090_83d0_0a50),
            (
                Version::V1,
                0x0123_4567_89ab_cdef,
                0x55c5_3f5d,
                0x5707_62cd_38be_9818,
            ),
            (Version::V1, u64::MAX, 0x12a3_ae44, 0x57fb_595b_bbac_f0ca),
            (
                Version::V1,
                0xa4a1_f3c5_d9e8_b701,
                0x23d8_c26b,
                0x37dd_6a4f_adec_cb80,
            ),
            (Version::V0, 0, 0x05fe_4057, 0xac55_8654_f107_c7e9),
            (Version::V0, 1, 0xcb47_3678, 0x38f1_1011_007a_d27d),
            (
                Version::V0,
                0x0123_4567_89ab_cdef,
                0x0ca2_eadb,
                0xe3df_8ee1_21f1_0547,
            ),
            (Version::V0, u64::MAX, 0xbe67_3e8a, 0x8667_01c1_1ef8_e089),
        ];
        for (v, key, tok, isn) in cases {
            assert_eq!(token(v, key), tok, "{v:?} {key:#x}");
            assert_eq!(idsn(v, key), isn, "{v:?} {key:#x}");
            assert_eq!(
                KeyInfo::new(v, key),
                KeyInfo {
                    key,
                    token: tok,
                    idsn: isn
                }
            );
        }
    }

    // A = initiator, B = responder (listener). Computed offline with:
    // python3 -c "import hmac,hashlib,struct; ka,kb,ra,rb=0x0123456789abcdef,0xfedcba9876543210,0x11223344,0xaabbccdd; \
    //   print(hmac.new(struct.pack('>QQ',kb,ka),struct.pack('>II',rb,ra),hashlib.sha256).digest()[:8].hex(), \
    //         hmac.new(struct.pack('>QQ',ka,kb),struct.pack('>II',ra,rb),hashlib.sha256).digest()[:20].hex())"
    // (hashlib.sha1 for v0).
    const KA: u64 = 0x0123_4567_89ab_cdef;
    const KB: u64 = 0xfedc_ba98_7654_3210;
    const RA: u32 = 0x1122_3344;
    const RB: u32 = 0xaabb_ccdd;

    fn unhex20(s: &str) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn mp_join_hmacs() {
        assert_eq!(
            join_synack_hmac(Version::V1, KB, KA, RB, RA),
            0x3bae_5abc_810a_33c2
        );
        assert_eq!(
            join_ack_hmac(Version::V1, KA, KB, RA, RB),
            unhex20("f61753d6b8ac227764b9d1b17a6f5ceeec9d1a8a")
        );
        assert_eq!(
            join_synack_hmac(Version::V0, KB, KA, RB, RA),
            0x327e_3a27_097c_3dc0
        );
        assert_eq!(
            join_ack_hmac(Version::V0, KA, KB, RA, RB),
            unhex20("73f372c7fb45d80f5ac7adb91baca5c87b0c783d")
        );
        // Swapping roles gives a different value: the direction matters.
        assert_ne!(
            join_synack_hmac(Version::V1, KA, KB, RA, RB),
            0x3bae_5abc_810a_33c2
        );
    }

    #[test]
    fn mp_join_validation() {
        let mac = join_synack_hmac(Version::V1, KB, KA, RB, RA);
        assert!(join_synack_hmac_valid(Version::V1, KB, KA, RB, RA, mac));
        assert!(!join_synack_hmac_valid(
            Version::V1,
            KB,
            KA,
            RB,
            RA,
            mac ^ 1
        ));
        let mut ack = join_ack_hmac(Version::V1, KA, KB, RA, RB);
        assert!(join_ack_hmac_valid(Version::V1, KA, KB, RA, RB, &ack));
        ack[19] ^= 0x80;
        assert!(!join_ack_hmac_valid(Version::V1, KA, KB, RA, RB, &ack));
    }

    // Computed offline with:
    // python3 -c "import hmac,hashlib,struct,ipaddress as ip; ks,kr=0x0123456789abcdef,0xfedcba9876543210; \
    //   m=bytes([1])+ip.ip_address('10.0.2.2').packed+struct.pack('>H',0); \
    //   print(hmac.new(struct.pack('>QQ',ks,kr),m,hashlib.sha256).digest()[-8:].hex())"
    #[test]
    fn add_addr_hmacs() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(add_addr_hmac(KA, KB, 1, v4, None), 0xb9f4_e8cc_2c88_20b9);
        // An absent port hashes as two zero bytes.
        assert_eq!(add_addr_hmac(KA, KB, 1, v4, Some(0)), 0xb9f4_e8cc_2c88_20b9);
        assert_eq!(
            add_addr_hmac(KA, KB, 1, v4, Some(8080)),
            0x63a5_e207_b411_ded4
        );
        // The receiver of that ADD_ADDR checks it with the keys the other way round from
        // its own point of view, i.e. still (sender, receiver).
        assert_eq!(add_addr_hmac(KB, KA, 1, v4, None), 0x624d_4fb1_a756_ba1b);
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(
            add_addr_hmac(KB, KA, 7, v6, Some(443)),
            0xf892_0b21_4486_b0fd
        );
    }

    #[test]
    fn digest_slices() {
        let d = hmac(Version::V1, KA, KB, b"x");
        let b = d.as_bytes();
        assert_eq!(
            d.leftmost_u64(),
            u64::from_be_bytes(b[..8].try_into().unwrap())
        );
        assert_eq!(
            d.rightmost_u64(),
            u64::from_be_bytes(b[24..].try_into().unwrap())
        );
        assert_eq!(&d.leftmost_160()[..], &b[..20]);
        let d0 = hmac(Version::V0, KA, KB, b"x");
        let b0 = d0.as_bytes();
        assert_eq!(
            d0.rightmost_u64(),
            u64::from_be_bytes(b0[12..].try_into().unwrap())
        );
        assert_eq!(&d0.leftmost_160()[..], b0);
    }
}
