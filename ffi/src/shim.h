/*
 * vsd C shim: real symbols for DPDK's static-inline fast path and macros.
 *
 * DPDK 22.11 implements bursts, mbuf alloc and ring enqueue/dequeue as static inline functions and
 * rte_errno / rte_lcore_id as thread-local macros, so Rust cannot call them directly. Each wrapper is
 * a one-line forward; Rust calls them once per burst, never once per packet. The header also serves
 * as bindgen's input, so it includes every DPDK header the binding uses.
 */
#ifndef VSD_SHIM_H
#define VSD_SHIM_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_thash.h>

uint16_t vsd_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t vsd_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

struct rte_mbuf *vsd_pktmbuf_alloc(struct rte_mempool *mp);
int vsd_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int count);
void vsd_pktmbuf_free(struct rte_mbuf *m);
char *vsd_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *vsd_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *vsd_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int vsd_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);

unsigned int vsd_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n);
unsigned int vsd_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n);
unsigned int vsd_ring_count(const struct rte_ring *r);
unsigned int vsd_ring_free_count(const struct rte_ring *r);

unsigned int vsd_lcore_id(void);
int vsd_errno(void);
uint64_t vsd_rdtsc(void);
uint32_t vsd_softrss(uint32_t *input_tuple, uint32_t input_len, const uint8_t *rss_key);

#endif /* VSD_SHIM_H */
