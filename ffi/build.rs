//! Generates bindings to the system DPDK (found with pkg-config) and compiles the shim.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => panic!(
            "DPDK 22.11 not found with pkg-config ({e}); install it with ci/install-deps.sh \
             (Debian: libdpdk-dev), or build without DPDK: --no-default-features"
        ),
    };

    // rte_eth_from_rings (back-to-back ring ports for the embedded demo and tests) lives
    // in the ring PMD's own library, which pkg-config's libdpdk does not list (PMDs are
    // normally loaded as plugins; loading the same library again as a plugin is a no-op).
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");

    let mut cc = cc::Build::new();
    cc.file("shim.c")
        .include(".")
        .warnings(false)
        .flag("-march=corei7");
    for p in &dpdk.include_paths {
        cc.include(p);
    }
    // DPDK's headers expect rte_config.h included first (pkg-config's -include).
    cc.flag("-include").flag("rte_config.h");
    cc.compile("mpdk_dpdk_shim");

    let mut b = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_arg("-I.")
        .clang_arg("-march=corei7")
        .allowlist_function("rte_eal_init|rte_eal_cleanup|rte_eal_process_type")
        .allowlist_function("rte_strerror|rte_exit|rte_version")
        .allowlist_function("rte_lcore_count|rte_get_main_lcore|rte_get_next_lcore|rte_socket_id|rte_lcore_to_socket_id")
        .allowlist_function("rte_eal_remote_launch|rte_eal_wait_lcore|rte_eal_mp_wait_lcore")
        .allowlist_function("rte_get_tsc_hz|rte_delay_us_block")
        .allowlist_function("rte_pktmbuf_pool_create|rte_mempool_free|rte_mempool_avail_count|rte_mempool_in_use_count")
        .allowlist_function("rte_eth_dev_count_avail|rte_eth_dev_configure|rte_eth_dev_start|rte_eth_dev_stop|rte_eth_dev_close")
        .allowlist_function("rte_eth_dev_info_get|rte_eth_dev_socket_id|rte_eth_dev_is_valid_port|rte_eth_find_next_owned_by")
        .allowlist_function("rte_eth_dev_get_name_by_port|rte_eth_dev_get_port_by_name")
        .allowlist_function("rte_eth_rx_queue_setup|rte_eth_tx_queue_setup|rte_eth_promiscuous_enable")
        .allowlist_function("rte_eth_macaddr_get|rte_eth_link_get_nowait|rte_eth_stats_get|rte_eth_stats_reset")
        .allowlist_function("rte_eth_dev_set_mtu|rte_eth_dev_get_mtu")
        .allowlist_function("rte_eth_from_rings|rte_ring_create|rte_ring_free")
        .allowlist_function("rte_vdev_init|rte_vdev_uninit")
        .allowlist_function("mpdk_.*")
        .allowlist_type("rte_mbuf|rte_mempool|rte_eth_conf|rte_eth_dev_info|rte_eth_stats|rte_eth_link|rte_ether_addr|rte_eth_rxconf|rte_eth_txconf|rte_ring")
        .allowlist_var("RTE_ETH_.*|RTE_MBUF_.*|RTE_MAX_ETHPORTS|RTE_MAX_LCORE|RTE_PKTMBUF_HEADROOM|RING_F_.*|SOCKET_ID_ANY|RTE_ETHER_.*")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for p in &dpdk.include_paths {
        b = b.clang_arg(format!("-I{}", p.display()));
    }
    b = b.clang_arg("-include").clang_arg("rte_config.h");
    let bindings = b.generate().expect("bindgen over the DPDK headers");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings");
}
