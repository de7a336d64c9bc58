//! Brings up the real EAL once (one EAL per process: this test binary owns it) with no
//! hugepages and a `net_null` virtual device, and pushes mbufs through the shim's burst
//! functions. Proves the bindings, the shim and the PMD plugin loading work here.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::raw::c_char;

use dpdk_sys::*;

#[test]
fn eal_null_port_tx_rx() {
    let args = [
        "mpdk-ffi-test",
        "--no-huge",
        "-m",
        "256",
        "--no-shconf",
        "--no-pci",
        "--log-level=lib.eal:error",
        "--vdev=net_null0",
        "-l",
        "0",
    ];
    let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    // SAFETY: argv points at NUL-terminated strings that outlive the call; EAL may permute
    // the pointer array, which we own.
    let n = unsafe { rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
    // SAFETY: reading the thread's rte_errno after a failed call.
    assert!(n >= 0, "rte_eal_init failed: errno {}", unsafe {
        mpdk_errno()
    });
    // SAFETY: EAL is initialised.
    assert_eq!(
        unsafe { rte_eth_dev_count_avail() },
        1,
        "net_null0 loaded from the PMD directory"
    );

    let name = CString::new("ffi_test_pool").unwrap();
    // SAFETY: EAL is initialised; the name is NUL-terminated.
    let pool = unsafe { rte_pktmbuf_pool_create(name.as_ptr(), 1023, 0, 0, 2048 + 128, 0) };
    assert!(!pool.is_null());
    let conf = rte_eth_conf::default();
    // SAFETY: port 0 exists; conf and pool are valid for the calls.
    unsafe {
        assert_eq!(rte_eth_dev_configure(0, 1, 1, &conf), 0);
        assert_eq!(
            rte_eth_rx_queue_setup(0, 0, 256, 0, std::ptr::null(), pool),
            0
        );
        assert_eq!(rte_eth_tx_queue_setup(0, 0, 256, 0, std::ptr::null()), 0);
        assert_eq!(rte_eth_dev_start(0), 0);
    }
    let mut pkts = [std::ptr::null_mut::<rte_mbuf>(); 8];
    // SAFETY: the pool is valid and the array has room for 8 pointers.
    assert_eq!(
        unsafe { mpdk_pktmbuf_alloc_bulk(pool, pkts.as_mut_ptr(), 8) },
        0
    );
    for &m in &pkts {
        // SAFETY: m is a freshly allocated mbuf with enough tailroom for 64 bytes.
        unsafe {
            let p = mpdk_pktmbuf_append(m, 64) as *mut u8;
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 0xab, 64);
            assert_eq!(mpdk_pktmbuf_data_len(m), 64);
        }
    }
    // SAFETY: the port is started; the PMD takes ownership of the mbufs it accepts.
    let sent = unsafe { mpdk_tx_burst(0, 0, pkts.as_mut_ptr(), 8) };
    // SAFETY: return the ones the PMD did not take.
    unsafe { mpdk_pktmbuf_free_bulk(pkts.as_mut_ptr().add(sent as usize), 8 - u32::from(sent)) };
    assert_eq!(sent, 8);
    let mut rx = [std::ptr::null_mut::<rte_mbuf>(); 32];
    // SAFETY: the port is started; rx has room for 32 pointers.
    let got = unsafe { mpdk_rx_burst(0, 0, rx.as_mut_ptr(), 32) };
    assert!(got > 0, "net_null produces packets on receive");
    // SAFETY: we own the received mbufs.
    unsafe { mpdk_pktmbuf_free_bulk(rx.as_mut_ptr(), u32::from(got)) };
    let mut stats = rte_eth_stats::default();
    // SAFETY: port 0 exists; stats is a valid out-pointer.
    unsafe { assert_eq!(rte_eth_stats_get(0, &mut stats), 0) };
    assert_eq!(stats.opackets, 8);
    // SAFETY: tsc functions are callable after init.
    unsafe { assert!(rte_get_tsc_hz() > 0 && mpdk_rdtsc() > 0) };
    // SAFETY: stop and release everything before cleanup.
    unsafe {
        rte_eth_dev_stop(0);
        rte_eth_dev_close(0);
        rte_eal_cleanup();
    }
}
