/* SPDX-License-Identifier: MIT */
/*
 * collection: the listings of the tree's collections (accounts, the apps of an account, the
 * webhooks of an app), held by the cache and fetched through the API, all pages, when they
 * are not fresh (DESIGN §3, §4).
 *
 * The cache holds, per collection (keyed by its API path), a struct rtk_held (held.h): the
 * listing and the time its membership last changed, which is the collection directory's
 * mtime, so that the kernel drops its cached directory listing as soon as it sees a refresh
 * that changed it.
 * A refresh that differs from what was held is reported to the kernel (the hooks) for the
 * objects that changed or went away, and the sub-collections of a fresh listing are offered
 * to the prefetcher.
 *
 * Paging is bounded: a listing stops with -EPROTO when a page adds no new id (a page that
 * repeats), past RTK_COLL_PAGES_MAX pages (or a twentieth of the rate budget's limit, if less),
 * or when its pages pass max_body bytes in all.
 *
 * With a shared cache (shared.h), a listing is first looked for there (its pages parsed
 * exactly as the API's), fetched by one mount at a time (the others wait for its value), and
 * stored after a fetch; a write's change drops it there and on the other mounts, which
 * refetch what they held and report the change to their kernels.
 *
 * Thread-safe.
 */
#ifndef RTKFS_COLLECTION_H
#define RTKFS_COLLECTION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rtkfs/cache.h"
#include "rtkfs/held.h"
#include "rtkfs/ino.h"
#include "rtkfs/kind.h"
#include "rtkfs/op.h"

struct rtk_coll;
struct rtk_api;
struct rtk_health;
struct rtk_listing;
struct rtk_obj;
struct rtk_prefetch;
struct rtk_ctl;
struct rtk_shared;

#define RTK_COLL_PAGES_MAX 100
#define RTK_COLL_KEY_MAX 512 /* an API path of a collection, ids percent-encoded */

struct rtk_coll_config {
	struct rtk_api *api;         /* borrowed */
	struct rtk_cache *cache;     /* borrowed; values are struct rtk_held */
	struct rtk_health *health;   /* borrowed */
	struct rtk_ino *ino;         /* borrowed: whose kernel caches to drop on a change */
	struct rtk_prefetch *prefetch; /* borrowed, may be NULL */
	struct rtk_ctl *ctl;         /* borrowed, may be NULL: where failures are recorded */
	struct rtk_ino_hooks hooks;
	const char *const *accounts; /* user-named account ids, or NULL for GET /accounts */
	size_t naccounts;
	size_t max_body;             /* response bytes accepted (0: 16 MiB) */
	struct timespec mounted;
	/* Listings shared with other mounts (shared.h), or NULL; then refreshes that another
	 * mount's write asks for run on its thread with this deadline. */
	struct rtk_shared *shared;   /* borrowed */
	uint64_t timeout_ns;
};

/* NULL with a reason logged on a bad account id or ENOMEM. */
struct rtk_coll *rtk_coll_new(const struct rtk_coll_config *cfg);
void rtk_coll_free(struct rtk_coll *c); /* NULL is a no-op */

/* The API path of the collection of objects of kind k under ids. 0 or -ENAMETOOLONG. */
int rtk_coll_key(enum rtk_kind k, const struct rtk_ids *ids, char *out, size_t outsz);

/* The listing of objects of kind k under ids: 0 and a new reference in *out, or -errno. */
int rtk_coll_get(struct rtk_coll *c, enum rtk_kind k, const struct rtk_ids *ids,
		 const struct rtk_op *op, struct rtk_held **out);

/*
 * The object of kind k that ids name, with the listing holding it (a new reference in
 * *hold; the object is borrowed from it). -ENOENT when it is not listed.
 */
int rtk_coll_get_object(struct rtk_coll *c, enum rtk_kind k, const struct rtk_ids *ids,
			const struct rtk_op *op, struct rtk_held **hold,
			const struct rtk_obj **obj);

/*
 * Fold a write's answer into the cached listing key: put replaces the object of its id (or
 * is added), or remove_id is taken out. 0, or -ENOENT when nothing is cached (then the
 * listing is dropped so the next access fetches it), -ENOMEM.
 */
int rtk_coll_apply(struct rtk_coll *c, const char *key, struct rtk_obj *put,
		   const char *remove_id);

/* The listing of objects of kind k under ids if it is cached and fresh (no fetch, no wait):
 * 0 and a new reference in *out, or -ENOENT. */
int rtk_coll_peek(struct rtk_coll *c, enum rtk_kind k, const struct rtk_ids *ids,
		  struct rtk_held **out);

/*
 * Does the cached listing of kind k under ids list the object ids names (no fetch, no
 * wait)? False when nothing is cached.
 */
bool rtk_coll_lists(struct rtk_coll *c, enum rtk_kind k, const struct rtk_ids *ids);

/*
 * Push the bytes of the files of object directory dir (an object of kind k; fields: a mask of
 * enum rtk_field) into the kernel's page cache (the hooks' store), if its listing is cached
 * and fresh: no fetch, no wait. Only files of one page at most that the kernel holds no page
 * of (rtk_ino_mark_paged); a refresh that changes an object only invalidates its files.
 * lazy: the store may wait to be sent between requests (struct rtk_ino_store.lazy).
 */
void rtk_coll_push_object(struct rtk_coll *c, struct rtk_ino_node *dir, enum rtk_kind k,
			  uint32_t fields, bool lazy);

/* Drop a listing so that it is fetched again before anything of it is shown. */
void rtk_coll_forget(struct rtk_coll *c, const char *key);

/*
 * A write to object id of listing key ended without an answer (its outcome is unknown): the
 * listing is fetched again at the next access; until a fetch succeeds, that object is -EIO
 * and the others are served as the stale listing is (an outage does not hide the whole app).
 * id NULL (a create): the listing is only marked stale, the new object was never shown.
 */
void rtk_coll_forget_object(struct rtk_coll *c, const char *key, const char *id);

#endif
