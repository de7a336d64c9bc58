//! Safe RAII wrappers over DPDK (feature `dpdk`): the EAL, mempools, ports and their
//! queues, and an owning [`Mbuf`]. Return codes become [`DpdkError`]s; nothing here
//! aborts the process. This module and `ffi/` are the only places with `unsafe`; every
//! block says why it holds.
//!
//! One EAL per process: [`Eal::init`] succeeds once; a second call is an error, as is any
//! use of DPDK after the [`Eal`] is dropped (the types here borrow nothing from it, so the
//! owner must keep it alive — the worker runtime does).
#![allow(unsafe_code)]

use core::fmt;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

/// A DPDK call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpdkError {
    /// `rte_eal_init` failed (bad EAL arguments, no memory, a device that failed to
    /// probe); the text is DPDK's own.
    EalInit(String),
    /// The EAL was already initialised in this process.
    EalAlreadyInitialised,
    /// An argument had an interior NUL byte.
    BadArgument(String),
    /// A named DPDK call returned an error (`rte_errno` or the negative return value).
    Call {
        what: &'static str,
        code: i32,
        text: String,
    },
    /// The port does not exist.
    NoSuchPort(u16),
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpdkError::EalInit(t) => write!(f, "EAL initialisation failed: {t}"),
            DpdkError::EalAlreadyInitialised => f.write_str("the EAL is already initialised"),
            DpdkError::BadArgument(a) => write!(f, "argument contains a NUL byte: {a:?}"),
            DpdkError::Call { what, code, text } => write!(f, "{what} failed ({code}): {text}"),
            DpdkError::NoSuchPort(p) => write!(f, "no DPDK port {p}"),
        }
    }
}

impl std::error::Error for DpdkError {}

fn strerror(code: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
    // string for any code.
    let p = unsafe { sys::rte_strerror(code.abs()) };
    if p.is_null() {
        return format!("error {code}");
    }
    // SAFETY: non-null, NUL-terminated, valid until the next call on this thread; copied.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn errno() -> i32 {
    // SAFETY: reads the calling thread's rte_errno.
    unsafe { sys::mpdk_errno() }
}

fn check(what: &'static str, ret: i32) -> Result<i32, DpdkError> {
    if ret < 0 {
        Err(DpdkError::Call {
            what,
            code: ret,
            text: strerror(ret),
        })
    } else {
        Ok(ret)
    }
}

/// The one line of `rte_eal_init`'s output that says why it failed: the first error
/// DPDK or getopt printed (an unknown option, a device it could not parse), else its
/// FATAL line, without the `EAL: ` and program-name prefixes.
pub fn eal_failure_line(log: &str) -> Option<String> {
    let strip = |l: &str| {
        let l = l.trim();
        let l = l.strip_prefix("EAL: ").unwrap_or(l);
        let l = l.strip_prefix("FATAL: ").unwrap_or(l);
        // getopt's messages start with the program name.
        match l.split_once(": ") {
            Some((p, rest)) if !p.contains(' ') && rest.contains("option") => rest.to_string(),
            _ => l.to_string(),
        }
    };
    // Log lines (`EAL: ...`, `driver_fn(): ...`) and getopt's `prog: ...`, not the
    // usage text EAL prints after a bad option (indented, or `[NOTE: ...]`).
    let is_message = |l: &str| {
        l.starts_with("EAL: ")
            || l.contains("(): ")
            || (!l.starts_with(char::is_whitespace)
                && !l.starts_with("Usage")
                && !l.starts_with('[')
                && l.split_whitespace()
                    .next()
                    .is_some_and(|w| w.ends_with(':')))
    };
    let interesting = |l: &str| {
        let low = l.to_ascii_lowercase();
        [
            "invalid",
            "unrecognized",
            "unknown",
            "failed",
            "cannot",
            "unable",
            "error",
            "not supported",
            "requires an argument",
        ]
        .iter()
        .any(|w| low.contains(w))
            && !low.contains("mp action callback")
            && is_message(l)
    };
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .iter()
        .find(|l| interesting(l))
        .or_else(|| lines.iter().find(|l| l.contains("FATAL:")))
        .map(|l| strip(l))
}

/// Devices that failed to probe during a successful `rte_eal_init` (DPDK carries on
/// without them): one line per device, the driver's reason first.
pub fn probe_failures(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(pos) = l.find("failed to initialize ") {
            let dev = l[pos + "failed to initialize ".len()..]
                .trim_end_matches(" device")
                .to_string();
            let reason = lines[..i]
                .iter()
                .rev()
                .take(3)
                .find(|p| !p.contains("mp action callback") && !p.starts_with("EAL:"))
                .map(|p| p.to_string());
            out.push(match reason {
                Some(r) => format!("{dev}: {r}"),
                None => format!("{dev}: probe failed"),
            });
        }
    }
    out
}

static EAL_UP: AtomicBool = AtomicBool::new(false);

/// The initialised Environment Abstraction Layer. Dropping it calls `rte_eal_cleanup`.
#[derive(Debug)]
pub struct Eal {
    /// Arguments EAL did not consume (those after `--`), for the application.
    pub app_args: Vec<String>,
    /// What DPDK printed during `rte_eal_init` (captured; afterwards DPDK logs to stderr).
    pub log: String,
}

impl Eal {
    /// Initialises the EAL from `args` (`args[0]` is the program name), DPDK style: EAL
    /// options first, then `--`, then the application's options, which are returned.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if EAL_UP.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        let owned: Vec<CString> = match args.iter().map(|a| CString::new(a.as_str())).collect() {
            Ok(v) => v,
            Err(_) => {
                EAL_UP.store(false, Ordering::SeqCst);
                let bad = args
                    .iter()
                    .find(|a| a.contains('\0'))
                    .cloned()
                    .unwrap_or_default();
                return Err(DpdkError::BadArgument(bad));
            }
        };
        let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        let mut log = vec![0u8; 64 * 1024];
        // SAFETY: argv holds pointers to NUL-terminated strings owned by `owned`, which
        // outlives the call; EAL may reorder the pointer array, which we own and do not
        // read through afterwards except by index below. `log` is a writable buffer of
        // the length given; the shim NUL-terminates what it writes.
        let n = unsafe {
            sys::mpdk_eal_init_captured(
                argv.len() as i32,
                argv.as_mut_ptr(),
                log.as_mut_ptr() as *mut c_char,
                log.len(),
            )
        };
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        let log = String::from_utf8_lossy(&log[..end]).into_owned();
        if n < 0 {
            // EAL may not be re-initialised after a failed init either; keep the flag set.
            let code = errno();
            return Err(DpdkError::EalInit(
                eal_failure_line(&log).unwrap_or_else(|| strerror(code)),
            ));
        }
        let consumed = n as usize;
        let mut app_args: Vec<String> = args.iter().skip(consumed + 1).cloned().collect();
        if app_args.first().map(String::as_str) == Some("--") {
            app_args.remove(0);
        }
        Ok(Eal { app_args, log })
    }

    /// Number of ports DPDK probed.
    pub fn port_count(&self) -> u16 {
        // SAFETY: the EAL is initialised.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The TSC frequency, to turn TSC readings into nanoseconds.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: the EAL is initialised.
        unsafe { sys::rte_get_tsc_hz() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: the EAL was initialised by this value; ports and pools are stopped by
        // their own Drop before (the owner drops them first).
        unsafe { sys::rte_eal_cleanup() };
    }
}

/// Runs `f` with DPDK's logging limited to emergencies (to retry something whose
/// failures DPDK would log each time, such as a memif client's connect).
pub fn with_quiet_log<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: reads/sets a global integer in the EAL's log state.
    let old = unsafe { sys::mpdk_log_global_level() };
    // SAFETY: as above; 1 is RTE_LOG_EMERG.
    unsafe { sys::mpdk_set_log_global_level(1) };
    let r = f();
    // SAFETY: as above.
    unsafe { sys::mpdk_set_log_global_level(old) };
    r
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: reads the CPU's TSC; no memory is touched.
    unsafe { sys::mpdk_rdtsc() }
}

/// A packet-buffer pool (`rte_pktmbuf_pool_create`). Freed on drop.
#[derive(Debug)]
pub struct Mempool {
    raw: *mut sys::rte_mempool,
}

// SAFETY: DPDK mempools are safe to use from several lcores at once (per-lcore caches
// plus a lock-free ring); the pointer is only passed to DPDK.
unsafe impl Send for Mempool {}
// SAFETY: as above; all operations through &Mempool are thread-safe DPDK calls.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n` mbufs with `data_room` bytes each (headroom included).
    pub fn new(name: &str, n: u32, cache: u32, data_room: u16) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
        // SAFETY: the EAL is initialised (a pool cannot be created otherwise: DPDK
        // returns NULL with rte_errno set); the name is NUL-terminated.
        let raw = unsafe {
            sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, sys::SOCKET_ID_ANY)
        };
        if raw.is_null() {
            let e = errno();
            return Err(DpdkError::Call {
                what: "rte_pktmbuf_pool_create",
                code: e,
                text: strerror(e),
            });
        }
        Ok(Mempool { raw })
    }

    /// Allocates one mbuf, or `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: raw is a valid pool for the lifetime of self.
        let m = unsafe { sys::mpdk_pktmbuf_alloc(self.raw) };
        (!m.is_null()).then_some(Mbuf { raw: m })
    }

    /// Mbufs currently available.
    pub fn available(&self) -> u32 {
        // SAFETY: raw is a valid pool.
        unsafe { sys::rte_mempool_avail_count(self.raw) }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: raw came from rte_pktmbuf_pool_create and is freed once; mbufs still out
        // are the owner's bug but do not make this unsound for DPDK (it frees the memzone).
        unsafe { sys::rte_mempool_free(self.raw) };
    }
}

/// An owned packet buffer; freed on drop unless handed to a TX queue.
#[derive(Debug)]
pub struct Mbuf {
    raw: *mut sys::rte_mbuf,
}

// SAFETY: an mbuf is owned by exactly one Mbuf value; moving it between threads is how
// DPDK applications pass packets between lcores.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// The packet bytes of the first segment.
    pub fn data(&self) -> &[u8] {
        // SAFETY: raw is a valid mbuf we own; mtod points at data_len initialised bytes.
        unsafe {
            let p = sys::mpdk_pktmbuf_mtod(self.raw) as *const u8;
            core::slice::from_raw_parts(p, usize::from(sys::mpdk_pktmbuf_data_len(self.raw)))
        }
    }

    /// The packet bytes, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `data`, and we hold the only reference to the mbuf.
        unsafe {
            let p = sys::mpdk_pktmbuf_mtod(self.raw) as *mut u8;
            core::slice::from_raw_parts_mut(p, usize::from(sys::mpdk_pktmbuf_data_len(self.raw)))
        }
    }

    /// Grows the packet by `len` bytes at the end and returns them (uninitialised bytes
    /// are zeroed first), or `None` when the tailroom is too small.
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        // SAFETY: raw is a valid mbuf we own; append returns NULL or a pointer to `len`
        // bytes inside the buffer.
        unsafe {
            let p = sys::mpdk_pktmbuf_append(self.raw, len) as *mut u8;
            if p.is_null() {
                return None;
            }
            core::ptr::write_bytes(p, 0, usize::from(len));
            Some(core::slice::from_raw_parts_mut(p, usize::from(len)))
        }
    }

    /// Bytes that can still be appended.
    pub fn tailroom(&self) -> usize {
        // SAFETY: raw is a valid mbuf.
        usize::from(unsafe { sys::mpdk_pktmbuf_tailroom(self.raw) })
    }

    /// Whether the packet spans more than one segment (scattered receive).
    pub fn is_chained(&self) -> bool {
        // SAFETY: raw is a valid mbuf.
        unsafe { sys::mpdk_pktmbuf_nb_segs(self.raw) > 1 }
    }

    /// Receive checksum flags: (IPv4 header good, L4 good) as the PMD reported them.
    pub fn rx_csum_good(&self) -> (bool, bool) {
        // SAFETY: raw is a valid mbuf.
        let f = unsafe { sys::mpdk_pktmbuf_ol_flags(self.raw) };
        let ip = f & u64::from(sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD) != 0;
        let l4 = f & u64::from(sys::RTE_MBUF_F_RX_L4_CKSUM_MASK)
            == u64::from(sys::RTE_MBUF_F_RX_L4_CKSUM_GOOD);
        (ip, l4)
    }

    /// Asks the NIC to fill the IPv4 header and TCP checksums (the caller put the
    /// pseudo-header sum in the TCP checksum field, as DPDK requires).
    pub fn request_tx_csum(&mut self, l2_len: u16, l3_len: u16, l4_len: u16) {
        let flags =
            sys::RTE_MBUF_F_TX_IPV4 | sys::RTE_MBUF_F_TX_IP_CKSUM | sys::RTE_MBUF_F_TX_TCP_CKSUM;
        // SAFETY: raw is a valid mbuf we own.
        unsafe { sys::mpdk_pktmbuf_set_tx_offload(self.raw, flags, l2_len, l3_len, l4_len) };
    }

    fn into_raw(self) -> *mut sys::rte_mbuf {
        let r = self.raw;
        core::mem::forget(self);
        r
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and free it once.
        unsafe { sys::mpdk_pktmbuf_free(self.raw) };
    }
}

/// Configuration of one port.
#[derive(Debug, Clone)]
pub struct PortConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// Ask for IPv4/TCP checksum offload where the port offers it.
    pub csum_offload: bool,
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            csum_offload: true,
            promiscuous: true,
        }
    }
}

/// Port statistics (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    pub up: bool,
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// A started Ethernet port. Stopped and closed on drop.
#[derive(Debug)]
pub struct Port {
    id: u16,
    driver: String,
    tx_csum: bool,
    rx_csum: bool,
    promiscuous: bool,
}

impl Port {
    /// Configures and starts port `id` with `cfg`; RX queues take mbufs from `pool`.
    pub fn start(id: u16, cfg: &PortConfig, pool: &Mempool) -> Result<Port, DpdkError> {
        let mut port = Port::setup(id, cfg, pool)?;
        port.start_device()?;
        Ok(port)
    }

    /// Configures port `id` like [`Port::start`], then tries to start it: a start that
    /// fails leaves a configured port (to [`restart`](Self::restart) later: a memif
    /// client whose server is not up yet) and its error.
    pub fn configure(
        id: u16,
        cfg: &PortConfig,
        pool: &Mempool,
    ) -> Result<(Port, Option<DpdkError>), DpdkError> {
        let mut port = Port::setup(id, cfg, pool)?;
        let e = port.start_device().err();
        Ok((port, e))
    }

    /// Configures port `id` and its queues, without starting it.
    fn setup(id: u16, cfg: &PortConfig, pool: &Mempool) -> Result<Port, DpdkError> {
        // SAFETY: plain query on a port number.
        if unsafe { sys::rte_eth_dev_is_valid_port(id) } == 0 {
            return Err(DpdkError::NoSuchPort(id));
        }
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: the port is valid; info is a valid out-pointer.
        check("rte_eth_dev_info_get", unsafe {
            sys::rte_eth_dev_info_get(id, &mut info)
        })?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: DPDK's driver name is a static NUL-terminated string.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: pure functions returning constants.
        let (tx_want, rx_want) = unsafe {
            (
                sys::mpdk_tx_offload_ipv4_cksum() | sys::mpdk_tx_offload_tcp_cksum(),
                sys::mpdk_rx_offload_ipv4_cksum() | sys::mpdk_rx_offload_tcp_cksum(),
            )
        };
        let tx_csum = cfg.csum_offload && info.tx_offload_capa & tx_want == tx_want;
        let rx_csum = cfg.csum_offload && info.rx_offload_capa & rx_want == rx_want;
        let mut conf = sys::rte_eth_conf::default();
        if tx_csum {
            conf.txmode.offloads = tx_want;
        }
        if rx_csum {
            conf.rxmode.offloads = rx_want;
        }
        let rxq = cfg.rx_queues.min(info.max_rx_queues.max(1));
        let txq = cfg.tx_queues.min(info.max_tx_queues.max(1));
        // SAFETY: the port is valid and stopped; conf is a valid pointer for the call.
        check("rte_eth_dev_configure", unsafe {
            sys::rte_eth_dev_configure(id, rxq, txq, &conf)
        })?;
        // SAFETY: plain query.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..rxq {
            // SAFETY: the port is configured; a NULL rxconf means the driver defaults; the
            // pool outlives the port (the owner keeps both, pool dropped last).
            check("rte_eth_rx_queue_setup", unsafe {
                sys::rte_eth_rx_queue_setup(id, q, cfg.rx_desc, socket, core::ptr::null(), pool.raw)
            })?;
        }
        for q in 0..txq {
            // SAFETY: as above for TX.
            check("rte_eth_tx_queue_setup", unsafe {
                sys::rte_eth_tx_queue_setup(id, q, cfg.tx_desc, socket, core::ptr::null())
            })?;
        }
        Ok(Port {
            id,
            driver,
            tx_csum,
            rx_csum,
            promiscuous: cfg.promiscuous,
        })
    }

    fn start_device(&mut self) -> Result<(), DpdkError> {
        // SAFETY: the port is configured with its queues; we hold it exclusively.
        check("rte_eth_dev_start", unsafe {
            sys::rte_eth_dev_start(self.id)
        })?;
        if self.promiscuous {
            // SAFETY: the port is started. Some virtual PMDs cannot; that is not fatal.
            let _ = unsafe { sys::rte_eth_promiscuous_enable(self.id) };
        }
        Ok(())
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    /// The device name (`net_memif0`, a PCI address, ...).
    pub fn name(&self) -> String {
        let mut buf = [0 as c_char; 64];
        // SAFETY: the port is valid; buf has room for RTE_ETH_NAME_MAX_LEN (64) bytes
        // and DPDK NUL-terminates what it writes.
        let r = unsafe { sys::rte_eth_dev_get_name_by_port(self.id, buf.as_mut_ptr()) };
        if r != 0 {
            return String::new();
        }
        // SAFETY: NUL-terminated by DPDK within buf.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// Stops and starts the port again (a memif client connects on start; this retries
    /// a connection to a server that was not there yet). `&mut`: nobody else may be
    /// using the port's queues meanwhile.
    pub fn restart(&mut self) -> Result<(), DpdkError> {
        // SAFETY: the port is valid and configured; we hold the only reference, so no
        // burst runs on its queues during the stop.
        unsafe { sys::rte_eth_dev_stop(self.id) };
        self.start_device()
    }

    /// The PMD's name (e.g. `net_ring`, `net_af_packet`).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// Whether IPv4/TCP checksums are offloaded on transmit and checked on receive.
    pub fn csum_offload(&self) -> (bool, bool) {
        (self.tx_csum, self.rx_csum)
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: the port is valid; a is a valid out-pointer.
        unsafe { sys::rte_eth_macaddr_get(self.id, &mut a) };
        a.addr_bytes
    }

    /// The link state, without waiting.
    pub fn link(&self) -> LinkStatus {
        let mut l = sys::rte_eth_link::default();
        // SAFETY: the port is valid; l is a valid out-pointer.
        unsafe { sys::rte_eth_link_get_nowait(self.id, &mut l) };
        LinkStatus {
            up: l.link_status() != 0,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() != 0,
        }
    }

    /// Port counters.
    pub fn stats(&self) -> PortStats {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: the port is valid; s is a valid out-pointer.
        unsafe { sys::rte_eth_stats_get(self.id, &mut s) };
        PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        }
    }

    /// Clears the port counters.
    pub fn clear_stats(&self) {
        // SAFETY: the port is valid.
        unsafe { sys::rte_eth_stats_reset(self.id) };
    }

    /// Receives up to `out`'s spare capacity in one burst from queue `q`; returns how
    /// many were pushed. Allocation-free when `out` has capacity.
    pub fn rx_burst(&self, q: u16, out: &mut Vec<Mbuf>) -> usize {
        let mut raw = [core::ptr::null_mut::<sys::rte_mbuf>(); 64];
        let want = (out.capacity() - out.len()).min(raw.len()) as u16;
        if want == 0 {
            return 0;
        }
        // SAFETY: the port is started; raw has room for `want` pointers; the PMD hands us
        // ownership of every mbuf it returns.
        let n = unsafe { sys::mpdk_rx_burst(self.id, q, raw.as_mut_ptr(), want) };
        for &m in &raw[..usize::from(n)] {
            out.push(Mbuf { raw: m });
        }
        usize::from(n)
    }

    /// Transmits `pkts` from the front on queue `q`; the ones the NIC took are removed
    /// from the vector, the rest stay (to retry or drop). Returns how many were sent.
    pub fn tx_burst(&self, q: u16, pkts: &mut Vec<Mbuf>) -> usize {
        let mut raw = [core::ptr::null_mut::<sys::rte_mbuf>(); 64];
        let n = pkts.len().min(raw.len());
        for (slot, m) in raw.iter_mut().zip(pkts.iter()) {
            *slot = m.raw;
        }
        // SAFETY: the port is started; raw holds n valid mbufs we own; the PMD takes
        // ownership of the first `sent` of them.
        let sent =
            usize::from(unsafe { sys::mpdk_tx_burst(self.id, q, raw.as_mut_ptr(), n as u16) });
        // Those are the NIC's now: forget them without freeing.
        for m in pkts.drain(..sent) {
            let _ = m.into_raw();
        }
        sent
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the port was started by this value and is stopped and closed once.
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
        }
    }
}

/// Creates a back-to-back pair of ring ports named `{name}a` and `{name}b`: what one
/// transmits on queue `q` the other receives on queue `q` (`rte_eth_from_rings` over
/// two rings per queue, one per direction). This is a link without a NIC for the
/// embedded demo and the tests. Returns the two port ids; start them with
/// [`Port::start`]. The rings live as long as the EAL.
pub fn ring_link(name: &str, queues: u16, size: u32) -> Result<(u16, u16), DpdkError> {
    let queues = queues.max(1) as usize;
    let mut ab = Vec::with_capacity(queues);
    let mut ba = Vec::with_capacity(queues);
    for q in 0..queues {
        for (dir, out) in [("ab", &mut ab), ("ba", &mut ba)] {
            let rname = CString::new(format!("{name}_{dir}{q}"))
                .map_err(|_| DpdkError::BadArgument(name.to_string()))?;
            // SAFETY: rname is NUL-terminated and outlives the call; flags select a
            // single-producer single-consumer ring (one port transmits, one receives).
            let r = unsafe {
                sys::rte_ring_create(
                    rname.as_ptr(),
                    size.next_power_of_two(),
                    sys::SOCKET_ID_ANY,
                    sys::RING_F_SP_ENQ | sys::RING_F_SC_DEQ,
                )
            };
            if r.is_null() {
                let code = errno();
                return Err(DpdkError::Call {
                    what: "rte_ring_create",
                    code,
                    text: strerror(code),
                });
            }
            out.push(r);
        }
    }
    let make = |suffix: &str, rx: &[*mut sys::rte_ring], tx: &[*mut sys::rte_ring]| {
        let pname = CString::new(format!("{name}{suffix}"))
            .map_err(|_| DpdkError::BadArgument(name.to_string()))?;
        // SAFETY: the ring arrays hold `queues` valid rings each and outlive the call
        // (DPDK copies the pointers); the name is NUL-terminated.
        let id = unsafe {
            sys::rte_eth_from_rings(
                pname.as_ptr(),
                rx.as_ptr(),
                rx.len() as u32,
                tx.as_ptr(),
                tx.len() as u32,
                0,
            )
        };
        check("rte_eth_from_rings", id).map(|id| id as u16)
    };
    let a = make("a", &ba, &ab)?;
    let b = make("b", &ab, &ba)?;
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::{eal_failure_line, probe_failures};

    // Text rte_eal_init printed on this machine (DPDK 22.11), usage text included.
    const BAD_OPTION: &str = "EAL: Detected CPU lcores: 2\nmpdk: unrecognized option '--bogus'\n\
        Usage: mpdk [options]\n\nEAL common options:\n  -c COREMASK         Hexadecimal bitmask\n\
        [NOTE: allow cannot be used with block option]\nEAL: FATAL: Invalid 'command line' arguments.\n\
        EAL: Invalid 'command line' arguments.\n";
    const BAD_DEVICE: &str = "EAL: Detected CPU lcores: 2\n\
        rte_pmd_memif_probe(): Failed to register mp action callback: Operation not supported\n\
        memif_set_role(): Unknown role: bogus.\nvdev_probe(): failed to initialize net_memif0 device\n\
        EAL: Bus (vdev) probe failed.\n";

    #[test]
    fn one_line_from_eal_output() {
        assert_eq!(
            eal_failure_line(BAD_OPTION).as_deref(),
            Some("unrecognized option '--bogus'")
        );
        assert_eq!(
            eal_failure_line("EAL: FATAL: Cannot init memory\nEAL: Cannot init memory\n")
                .as_deref(),
            Some("Cannot init memory")
        );
        assert_eq!(eal_failure_line("EAL: Detected NUMA nodes: 1\n"), None);
    }

    #[test]
    fn device_probe_failures_with_the_driver_reason() {
        assert_eq!(
            probe_failures(BAD_DEVICE),
            vec!["net_memif0: memif_set_role(): Unknown role: bogus.".to_string()]
        );
        assert!(probe_failures("EAL: Detected CPU lcores: 2\n").is_empty());
    }
}
