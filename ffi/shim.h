/* Out-of-line wrappers for DPDK's static-inline fast-path functions, which bindgen
 * cannot bind. Each is a one-line forward: no logic lives here. */
#ifndef MPDK_SHIM_H
#define MPDK_SHIM_H
#include <stdint.h>
#include <rte_mbuf.h>

uint16_t mpdk_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t mpdk_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *mpdk_pktmbuf_alloc(struct rte_mempool *mp);
int mpdk_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n);
void mpdk_pktmbuf_free(struct rte_mbuf *m);
void mpdk_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned n);
char *mpdk_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int mpdk_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
void *mpdk_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t mpdk_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t mpdk_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t mpdk_pktmbuf_tailroom(const struct rte_mbuf *m);
uint16_t mpdk_pktmbuf_nb_segs(const struct rte_mbuf *m);
void mpdk_pktmbuf_set_tx_offload(struct rte_mbuf *m, uint64_t ol_flags, uint16_t l2_len,
                                 uint16_t l3_len, uint16_t l4_len);
uint64_t mpdk_pktmbuf_ol_flags(const struct rte_mbuf *m);
int mpdk_errno(void);
uint64_t mpdk_rdtsc(void);
unsigned mpdk_lcore_id(void);

/* Offload capability bits are RTE_BIT64() macros bindgen cannot evaluate. */
uint64_t mpdk_tx_offload_ipv4_cksum(void);
uint64_t mpdk_tx_offload_tcp_cksum(void);
uint64_t mpdk_rx_offload_ipv4_cksum(void);
uint64_t mpdk_rx_offload_tcp_cksum(void);
/* rte_eal_init with DPDK's log and stdout/stderr captured into `buf` (NUL-terminated,
 * truncated to `len`); afterwards DPDK logs go to stderr. */
int mpdk_eal_init_captured(int argc, char **argv, char *buf, size_t len);
/* DPDK's global log level (RTE_LOG_EMERG=1 .. RTE_LOG_DEBUG=8). */
uint32_t mpdk_log_global_level(void);
void mpdk_set_log_global_level(uint32_t level);
#endif
