/* See shim.h. */
#include <rte_errno.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include "shim.h"

uint16_t mpdk_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{ return rte_eth_rx_burst(port, queue, pkts, n); }
uint16_t mpdk_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{ return rte_eth_tx_burst(port, queue, pkts, n); }
struct rte_mbuf *mpdk_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }
int mpdk_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n)
{ return rte_pktmbuf_alloc_bulk(mp, mbufs, n); }
void mpdk_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
void mpdk_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned n) { rte_pktmbuf_free_bulk(mbufs, n); }
char *mpdk_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
int mpdk_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
void *mpdk_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }
uint16_t mpdk_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }
uint32_t mpdk_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }
uint16_t mpdk_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
uint16_t mpdk_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }
void mpdk_pktmbuf_set_tx_offload(struct rte_mbuf *m, uint64_t ol_flags, uint16_t l2_len,
                                 uint16_t l3_len, uint16_t l4_len)
{ m->ol_flags |= ol_flags; m->l2_len = l2_len; m->l3_len = l3_len; m->l4_len = l4_len; }
uint64_t mpdk_pktmbuf_ol_flags(const struct rte_mbuf *m) { return m->ol_flags; }
int mpdk_errno(void) { return rte_errno; }
uint64_t mpdk_rdtsc(void) { return rte_rdtsc(); }
unsigned mpdk_lcore_id(void) { return rte_lcore_id(); }
uint64_t mpdk_tx_offload_ipv4_cksum(void) { return RTE_ETH_TX_OFFLOAD_IPV4_CKSUM; }
uint64_t mpdk_tx_offload_tcp_cksum(void) { return RTE_ETH_TX_OFFLOAD_TCP_CKSUM; }
uint64_t mpdk_rx_offload_ipv4_cksum(void) { return RTE_ETH_RX_OFFLOAD_IPV4_CKSUM; }
uint64_t mpdk_rx_offload_tcp_cksum(void) { return RTE_ETH_RX_OFFLOAD_TCP_CKSUM; }

#include <stdio.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_log.h>

int mpdk_eal_init_captured(int argc, char **argv, char *buf, size_t len)
{
	FILE *cap = tmpfile();
	int saved_out = -1, saved_err = -1, ret, err;

	if (len > 0)
		buf[0] = '\0';
	if (cap != NULL) {
		/* DPDK logs and its usage text (printf) both land in `cap`. */
		rte_openlog_stream(cap);
		fflush(stdout);
		fflush(stderr);
		saved_out = dup(1);
		saved_err = dup(2);
		dup2(fileno(cap), 1);
		dup2(fileno(cap), 2);
	}
	ret = rte_eal_init(argc, argv);
	err = rte_errno;
	if (cap != NULL) {
		size_t got = 0;

		fflush(stdout);
		fflush(stderr);
		if (saved_out >= 0) {
			dup2(saved_out, 1);
			close(saved_out);
		}
		if (saved_err >= 0) {
			dup2(saved_err, 2);
			close(saved_err);
		}
		/* From now on DPDK logs go to stderr, never to stdout (the JSON). */
		rte_openlog_stream(stderr);
		fflush(cap);
		if (len > 0 && fseek(cap, 0, SEEK_SET) == 0)
			got = fread(buf, 1, len - 1, cap);
		if (len > 0)
			buf[got] = '\0';
		fclose(cap);
	}
	rte_errno = err;
	return ret;
}

uint32_t mpdk_log_global_level(void) { return rte_log_get_global_level(); }
void mpdk_set_log_global_level(uint32_t level) { rte_log_set_global_level(level); }
