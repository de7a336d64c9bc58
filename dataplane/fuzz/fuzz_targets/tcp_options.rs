//! Any bytes as a TCP options area: iterating never panics or loops, and every MPTCP
//! option found parses (or is rejected) without panicking in both versions.
#![no_main]

use dataplane::wire::mptcp::{MptcpOption, Version};
use dataplane::wire::tcp::{TcpOption, TcpOptionsIter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut n = 0usize;
    for opt in TcpOptionsIter::new(data) {
        n += 1;
        assert!(n <= data.len() + 1, "the iterator advances");
        match opt {
            Ok(TcpOption::Mptcp(raw)) => {
                let _ = MptcpOption::parse(raw, Version::V1);
                let _ = MptcpOption::parse(raw, Version::V0);
            }
            Ok(o) => {
                let mut buf = [0u8; 64];
                if let Ok(len) = o.emit(&mut buf) {
                    assert_eq!(len, o.buffer_len());
                }
            }
            Err(_) => {}
        }
    }
});
