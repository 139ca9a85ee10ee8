/* SPDX-License-Identifier: MIT */
/*
 * shared: what the mounts of one account share through a Redis server (DESIGN §6a): listing
 * values (pagepack.h), a single-flight lock per listing, the rate window and the 429 pause
 * (budget.h's remote), and invalidations (pub/sub), over the connections of redis.h (where
 * hiredis stays).
 *
 * Keys are "rtkfs:1:<ns>:..." where <ns> is the first 32 hex digits of
 * SHA-256(base_url "\n" token): never the token, and never one account's data for another.
 *
 *   <p>L:<api path>        a listing value, PX = the mount's ttl
 *   <p>L:<api path>:lock   the single-flight lock of a fetch, PX = the mount's timeout
 *   <p>rate                the rate window (a sorted set of send times, Redis's clock)
 *   <p>pause               present while a 429 pause runs
 *   <p>inval               the channel of invalidations ("<instance> <api path>")
 *
 * Failure: every command has a short timeout (RTK_SHARED_TIMEOUT_MS to connect, the same to
 * answer). A connection that fails marks Redis down: until the next try (backoff 1 s
 * doubling to 30 s) every call returns -ENOTCONN at once; callers then go on alone. Nothing
 * here ever fails an operation of the file system: errors only mean "not shared this time".
 *
 * Thread-safe: a small pool of blocking connections, one subscriber thread (redis.h).
 */
#ifndef RTKFS_SHARED_H
#define RTKFS_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/buf.h"
#include "rtkfs/op.h"

struct rtk_shared;

#define RTK_SHARED_TIMEOUT_MS 150 /* = RTK_REDIS_TIMEOUT_MS (checked in shared.c) */
#define RTK_SHARED_URL_MAX 256

struct rtk_shared_config {
	const char *url;	   /* redis://[[user]:password@]host[:port][/db] or unix:/path */
	const char *password;	   /* overrides the URL's (shared_password_file), or NULL; copied */
	unsigned char ns_hash[32]; /* SHA-256(base_url "\n" token) (rtk_api_token_hash) */
	uint64_t ttl_ms;	   /* lifetime of a shared listing */
	uint64_t lease_ms;	   /* lifetime of a fetch lock: a dead fetcher's is gone after it */
};

/* Parse the URL (no connection yet). NULL with a one-line reason in err (no password). */
struct rtk_shared *rtk_shared_new(const struct rtk_shared_config *cfg, char *err, size_t errsz);
void rtk_shared_free(struct rtk_shared *s); /* NULL is a no-op; stops the thread first */

/* Start the subscriber thread (after daemonizing). 0 or -errno. */
int rtk_shared_start(struct rtk_shared *s);
/* Stop it and wait for it; no listener runs after this returns. NULL is a no-op. */
void rtk_shared_stop(struct rtk_shared *s);

/*
 * Who to tell when another mount invalidated the listing key (called on the subscriber
 * thread; it may fetch, within its own deadline). fn NULL removes the listener, waiting
 * until a running call of it has returned.
 */
void rtk_shared_listen(struct rtk_shared *s, void (*fn)(void *ctx, const char *key), void *ctx);

/* ---- listings ---- */

/* The value of listing key into out (at most out->max bytes: more is -EFBIG). 0, -ENOENT
 * when there is none, or -errno. */
int rtk_shared_get(struct rtk_shared *s, const char *key, struct rtk_buf *out);

/* Store the value of listing key for ttl_ms. 0 or -errno. */
int rtk_shared_put(struct rtk_shared *s, const char *key, const char *v, size_t len);

/* What became of a value read: 0 used, else ignored because of err (counted and logged). */
void rtk_shared_note_value(struct rtk_shared *s, const char *key, int err);

/* The single flight of one fetch. */
struct rtk_shared_claim {
	bool owned;	/* we hold the lock: release it */
	char token[40]; /* our lock's value */
};

enum rtk_shared_claim_result {
	RTK_SHARED_OWNED, /* we hold the lock: fetch, put, release */
	RTK_SHARED_VALUE, /* another mount's fetch ended: the value is in out */
	RTK_SHARED_ALONE, /* Redis failed, or the holder took too long: fetch without the lock */
};

/*
 * Take the fetch lock of key, or wait for whoever holds it (polling every 50 ms) until the
 * value appears, the lock goes, or half the time left before op's deadline has passed, or
 * op is interrupted. Never fails; see the results.
 */
enum rtk_shared_claim_result rtk_shared_claim(struct rtk_shared *s, const char *key,
					      const struct rtk_op *op, struct rtk_buf *out,
					      struct rtk_shared_claim *cl);

/* Release the lock if we hold it (compare-and-delete). */
void rtk_shared_release(struct rtk_shared *s, const char *key, struct rtk_shared_claim *cl);

/* A write changed listing key: drop its value and tell the other mounts. 0 or -errno. */
int rtk_shared_invalidate(struct rtk_shared *s, const char *key);

/* ---- the rate budget (struct rtk_budget_remote's callbacks; ctx is the rtk_shared) ---- */

/*
 * Take one unit of the shared window (at most limit per window_s, Redis's clock): 0 with
 * *wait_ns 0, or 0 with the time until one is free (a pause or a full window), or -errno
 * when Redis cannot say (then the caller goes by its own budget).
 */
int rtk_shared_take(void *ctx, unsigned limit, unsigned window_s, uint64_t *wait_ns);

/* A 429: every mount pauses for seconds (a longer running pause is kept). */
void rtk_shared_pause(void *ctx, unsigned seconds);

/* ---- seeing inside ---- */

struct rtk_shared_stats {
	char url[RTK_SHARED_URL_MAX]; /* without the password */
	bool connected;
	int64_t down_since;  /* wall seconds; 0 when connected */
	unsigned retry_in_s; /* when down: seconds until the next try */
	uint64_t hits, misses, stores, waits, takeovers, bad_values, errors, invalidations;
	char last_error[160];
	int64_t last_error_time; /* wall seconds, 0 for never */
};

void rtk_shared_get_stats(struct rtk_shared *s, struct rtk_shared_stats *st);

#endif
