//! Any bytes as one kind-30 option, in both versions: parsing never panics, and whatever
//! parses emits back to the same length and parses to the same value.
#![no_main]

use dataplane::wire::mptcp::{MptcpOption, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for version in [Version::V1, Version::V0] {
        if let Ok(opt) = MptcpOption::parse(data, version) {
            let mut buf = [0u8; 256];
            let n = opt.emit(&mut buf, version).expect("a parsed option emits");
            assert_eq!(n, opt.buffer_len());
            let again = MptcpOption::parse(&buf[..n], version).expect("an emitted option parses");
            assert_eq!(again, opt);
        }
    }
});
