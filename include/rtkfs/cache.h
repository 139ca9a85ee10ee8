/* SPDX-License-Identifier: MIT */
/*
 * cache: the TTL map between the tree and the API (DESIGN §3). Keyed by the API path of a
 * collection; the value is whatever the owner stores (the tree stores listings), handled
 * through ref/unref/size callbacks so the cache knows nothing of the model.
 *
 * - A value is fresh for ttl after it was stored; within that, get() returns it at once.
 * - Single-flight: callers missing the same key at once wait for one fetch.
 * - Stale-if-error: when a refresh fails with an error that says nothing about the data
 *   (-ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EAGAIN, -EIO; -EPROTO is NOT one; a broken
 *   connection reaches us as -EIO, the api never says -ECONNRESET), the last value is served for up to stale after it went stale, and the refresh is
 *   not tried again for retry_ns; other errors are returned and remembered for err_ttl_ns.
 * - Generation-checked puts: a fetch that started before a put() or update() never
 *   overwrites what they stored.
 * - Bounded: entries not used for idle_ns are dropped, and the least recently used are
 *   dropped while the values' total size passes max_bytes.
 *
 * Thread-safe (one mutex; fetch callbacks run without it).
 */
#ifndef RTKFS_CACHE_H
#define RTKFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/clock.h"

struct rtk_cache;

struct rtk_cache_ops {
	void (*ref)(void *v);
	void (*unref)(void *v);
	size_t (*size)(const void *v);
};

struct rtk_cache_config {
	uint64_t ttl_ns;     /* freshness */
	uint64_t stale_ns;   /* how long past ttl a value may be served after a failed refresh */
	uint64_t retry_ns;   /* after a failed refresh, the next try waits this long */
	uint64_t err_ttl_ns; /* how long an error without a value to fall back on is remembered */
	uint64_t idle_ns;    /* entries unused this long are dropped */
	size_t max_bytes;    /* total size of values kept */
	struct rtk_clock clock;
	struct rtk_cache_ops ops;
};

/*
 * Fetch callback: produce a new value for key into *out (a new reference) and return 0, or
 * return a negative errno. old is the last value stored for the key (borrowed, may be NULL)
 * so the owner can tell what changed. Called without the cache lock, by one thread per key.
 */
typedef int (*rtk_cache_fetch_fn)(void *ctx, const char *key, void *old, void **out);

/* Flags telling how get() answered. */
#define RTK_CACHE_HIT 0x1     /* fresh value, no fetch */
#define RTK_CACHE_FETCHED 0x2 /* this call (or the one it waited for) fetched */
#define RTK_CACHE_STALE 0x4   /* a stale value served because a refresh failed */

struct rtk_cache_stats {
	uint64_t hits, misses, stale_serves, fetches, fetch_errors, evictions;
	size_t entries, bytes;
	unsigned waiting; /* callers waiting now for another caller's fetch */
	int last_error; /* negative errno of the last failed fetch, 0 if none */
};

/* NULL on ENOMEM. */
struct rtk_cache *rtk_cache_new(const struct rtk_cache_config *cfg);
void rtk_cache_free(struct rtk_cache *c); /* NULL is a no-op; no get() may be running */

/* How long a caller may wait, and how it notices that its own caller went away. */
struct rtk_cache_wait {
	uint64_t deadline_ns;           /* CLOCK_MONOTONIC */
	bool (*interrupted)(void *ctx); /* may be NULL */
	void *interrupted_ctx;
};

/*
 * The value for key, fetched with fetch(ctx, ...) if it is not fresh. On 0, *out holds a new
 * reference. Waits for another thread's fetch of the same key at most until w->deadline_ns,
 * then -ETIMEDOUT (or the stale value), and gives up with -EINTR within 50 ms of
 * w->interrupted() turning true. flags (may be NULL) gets RTK_CACHE_* bits. Errors: the
 * fetch's own, -ETIMEDOUT, -EINTR, -ENOMEM.
 */
int rtk_cache_get(struct rtk_cache *c, const char *key, rtk_cache_fetch_fn fetch, void *ctx,
		  const struct rtk_cache_wait *w, void **out, unsigned *flags);

/*
 * The value for key without fetching or waiting: 0 and a new reference in *out (with *fresh
 * telling whether it is within ttl), or -ENOENT when nothing is stored.
 */
int rtk_cache_peek(struct rtk_cache *c, const char *key, void **out, bool *fresh);

/* Store v (the cache takes its own reference) as fresh now. 0 or -ENOMEM. */
int rtk_cache_put(struct rtk_cache *c, const char *key, void *v);

/*
 * Atomically derive a new value from the stored one: fn(ctx, old) returns a new reference
 * (stored as fresh as the one it replaces: a stale value stays stale) or NULL (nothing
 * changes). Runs fn under the cache lock: keep it short,
 * no I/O. Returns 0, -ENOENT when nothing is stored, -ENOMEM when fn returned NULL.
 */
int rtk_cache_update(struct rtk_cache *c, const char *key, void *(*fn)(void *ctx, void *old),
		     void *ctx);

/*
 * Mark key stale so the next get() fetches. With forget, the old value is dropped too, so it
 * is never served again (an outcome we do not know; DESIGN §6).
 */
void rtk_cache_invalidate(struct rtk_cache *c, const char *key, bool forget);

/* Drop every entry (entries being fetched are marked so their result is not kept). */
void rtk_cache_flush(struct rtk_cache *c);

void rtk_cache_get_stats(struct rtk_cache *c, struct rtk_cache_stats *st);

#endif
