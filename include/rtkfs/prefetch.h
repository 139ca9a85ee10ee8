/* SPDX-License-Identifier: MIT */
/*
 * prefetch: reading directories ahead (DESIGN §3). When a collection is listed, the listings
 * of its children's sub-collections that were never fetched are fetched in the background,
 * in parallel worker threads, while the rate budget has most of its room (foreground
 * requests come first), so that `grep -r` and `find` find them warm.
 *
 * The jobs are fetched through a callback (the collection module's), so this module knows
 * nothing of how a listing is fetched. Thread-safe.
 */
#ifndef RTKFS_PREFETCH_H
#define RTKFS_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/ino.h"
#include "rtkfs/kind.h"
#include "rtkfs/op.h"

struct rtk_prefetch;
struct rtk_api;

struct rtk_prefetch_config {
	unsigned threads;          /* workers; 0: no read-ahead at all */
	uint64_t timeout_ns;       /* deadline of one background fetch */
	struct rtk_api *api;       /* borrowed, may be NULL: whose rate budget to leave room in */
	/* Fetch the listing of kind k under ids (ends early when op says interrupted). */
	void (*fetch)(void *ctx, enum rtk_kind k, const struct rtk_ids *ids,
		      const struct rtk_op *op);
	void *ctx;
};

/* NULL on ENOMEM (a config with 0 threads gives a prefetcher that takes no jobs). */
struct rtk_prefetch *rtk_prefetch_new(const struct rtk_prefetch_config *cfg);
int rtk_prefetch_start(struct rtk_prefetch *p); /* after daemonizing; 0 or -errno */
void rtk_prefetch_free(struct rtk_prefetch *p); /* NULL is a no-op; stops the workers */

/* May n more listings be fetched ahead now (workers, and budget room past a reserve)? */
bool rtk_prefetch_has_room(struct rtk_prefetch *p, size_t n);

/* Queue the listing of kind k under ids (copied). 0, or -EAGAIN (full, stopped), -ENOMEM. */
int rtk_prefetch_push(struct rtk_prefetch *p, enum rtk_kind k, const struct rtk_ids *ids);

#endif
