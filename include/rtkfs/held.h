/* SPDX-License-Identifier: MIT */
/*
 * held: a listing as the cache holds it (the cache's values for collection.h): the listing,
 * the time its membership last changed, and its collection document (apps.json,
 * webhooks.json), rendered on first use and kept with it. Immutable once stored, shared by
 * reference; thread-safe.
 */
#ifndef RTKFS_HELD_H
#define RTKFS_HELD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "rtkfs/cache.h"

struct rtk_listing;

#define RTK_HELD_DOC_MAX (64u << 20) /* bytes of one collection document */
#define RTK_HELD_UNKNOWN_MAX 16       /* objects of one listing whose state is unknown */

/* A listing as one JSON document (apps.json, webhooks.json; DESIGN §7). */
struct rtk_held_doc {
	size_t len;
	struct timespec mtime; /* the newest object's (when empty: of the membership) */
	char bytes[];
};

/* A listing as the cache holds it. Immutable once stored; shared by reference. */
struct rtk_held {
	atomic_uint refs;
	struct rtk_listing *l;
	struct timespec changed; /* membership last changed: the collection dir's mtime */
	_Atomic(struct rtk_held_doc *) doc; /* rendered on first use (rtk_held_doc) */
	/* Ids of objects a write may or may not have changed (its outcome is unknown): not
	 * shown until a fetch replaces this listing. */
	unsigned nunknown;
	char *unknown[RTK_HELD_UNKNOWN_MAX];
};

/*
 * The listing of h as one JSON document, rendered on first use and kept (and freed) with
 * the listing: valid while the caller holds h. 0, -EFBIG, -ENOMEM.
 */
int rtk_held_doc(struct rtk_held *h, const struct rtk_held_doc **out);

/* A held listing of l (taken), whose membership last changed at changed; NULL on ENOMEM. */
struct rtk_held *rtk_held_new(struct rtk_listing *l, struct timespec changed);

/*
 * A held listing of old's listing, as old but with object id (len bytes) marked unknown too;
 * NULL on ENOMEM or when RTK_HELD_UNKNOWN_MAX are marked already.
 */
struct rtk_held *rtk_held_new_unknown(const struct rtk_held *old, const char *id, size_t len);

/* Is object id (len bytes) of h marked unknown? */
bool rtk_held_is_unknown(const struct rtk_held *h, const char *id, size_t len);

void rtk_held_ref(struct rtk_held *h);
void rtk_held_unref(struct rtk_held *h); /* NULL is a no-op */

/* The ref/unref/size callbacks for the cache the collections live in. */
extern const struct rtk_cache_ops rtk_held_cache_ops;

#endif
