//! The packet input path of the host stack: any sequence of frames (each prefixed by a
//! two-byte length in the input) reaches a stack that owns the fixtures' addresses and
//! listens on their port, interleaved with transmit polls and timer runs. Nothing
//! panics, and the stack keeps its invariants (every handle it gives out answers).
#![no_main]

use core::net::Ipv4Addr;

use dataplane::stack::{Interface, Ipv4Cidr, Stack, StackConfig};
use dataplane::time::{Duration, Instant};
use dataplane::wire::ethernet::EthernetAddress;
use libfuzzer_sys::fuzz_target;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

fuzz_target!(|data: &[u8]| {
    let mut stack = Stack::new(StackConfig::default());
    stack.add_interface(
        Interface::new(EthernetAddress(MAC), Ipv4Cidr::new(Ipv4Addr::new(10, 0, 1, 2), 24))
            .with_addr(Ipv4Cidr::new(Ipv4Addr::new(10, 0, 2, 2), 24)),
    );
    stack.add_interface(Interface::new(
        EthernetAddress([2, 0, 0, 0, 1, 2]),
        Ipv4Cidr::new(Ipv4Addr::new(10, 0, 3, 2), 24),
    ));
    let _ = stack.listen(5201, 4);
    let _ = stack.connect(Instant::ZERO, Ipv4Addr::new(10, 0, 1, 1), 5201);
    let mut now = Instant::ZERO;
    let mut rest = data;
    let mut frame = Vec::with_capacity(2048);
    let mut buf = [0u8; 4096];
    while rest.len() >= 2 {
        let ctl = rest[0];
        let len = (rest[1] as usize) << 3 | (ctl as usize & 7);
        rest = &rest[2..];
        let take = len.min(rest.len());
        frame.clear();
        frame.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        // Most frames are addressed to us so the search reaches IP and TCP.
        if ctl & 0x08 == 0 && frame.len() >= 6 {
            frame[..6].copy_from_slice(&MAC);
        }
        let iface = usize::from(ctl >> 7);
        stack.handle_frame(now, iface, &frame);
        stack.poll_transmit(now, &mut |_, f| assert!(f.len() >= 14));
        while let Some(_ev) = stack.poll_event() {}
        while let Some(h) = stack.accept(5201) {
            let _ = stack.send(h, b"hello");
            let _ = stack.recv(h, &mut buf);
            if ctl & 0x10 != 0 {
                let _ = stack.close(now, h);
            }
        }
        now = now + Duration::from_millis(u64::from(ctl & 0x60));
        if let Some(t) = stack.poll_timeout() {
            if t <= now {
                stack.handle_timeout(now);
            }
        }
    }
});
