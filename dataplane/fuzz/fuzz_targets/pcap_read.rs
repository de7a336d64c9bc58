//! Any bytes as a capture file: the reader never panics and always terminates.
#![no_main]

use dataplane::pcap::read::Capture;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(capture) = Capture::parse(data) {
        for record in capture.records() {
            if let Ok(r) = record {
                let _ = r.strip_cooked();
            }
        }
    }
});
