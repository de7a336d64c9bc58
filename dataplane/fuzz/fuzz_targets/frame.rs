//! Any bytes as an Ethernet frame: the whole receive-side parse (Ethernet, VLAN, IPv4 or
//! IPv6 with extension headers, TCP, TCP options, MPTCP options, TcpRepr) never panics,
//! and a repr that parses emits back into a segment that parses to the same repr.
#![no_main]

use dataplane::wire::frame;
use dataplane::wire::mptcp::Version;
use dataplane::wire::tcp::{TcpPacket, TcpRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(t)) = frame::parse_ethernet(data) else { return };
    let _ = t.verify_checksum();
    let p = t.packet();
    let Ok(repr) = TcpRepr::parse(&p, t.src_addr, t.dst_addr, false, Version::V1) else { return };
    let mut out = vec![0u8; repr.buffer_len()];
    let mut q = TcpPacket::new_unchecked(&mut out[..]);
    if repr.emit(&mut q, t.src_addr, t.dst_addr, true).is_ok() {
        let q = TcpPacket::new_checked(&out[..]).expect("our own segment is well-formed");
        let again = TcpRepr::parse(&q, t.src_addr, t.dst_addr, true, Version::V1).expect("re-parse");
        assert_eq!(again.payload, repr.payload);
        assert_eq!(again.mptcp, repr.mptcp);
        assert_eq!(again.seq_number, repr.seq_number);
    }
});
