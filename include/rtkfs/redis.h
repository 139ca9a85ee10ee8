/* SPDX-License-Identifier: MIT */
/*
 * redis: the connections of the shared cache (shared.h) to its Redis server. hiredis stays
 * behind this header: replies are told in plain types.
 *
 * - The URL: redis://[[user]:password@]host[:port][/db] or unix:/path.
 * - A pool of at most 4 blocking connections, each command bounded by RTK_REDIS_TIMEOUT_MS
 *   (connect and answer), authenticated and with the database selected.
 * - A failed connection marks the server down: the pool is emptied and no connection is
 *   tried before the retry time (backoff 1 s doubling to 30 s); the first caller after it
 *   tries once, the others keep failing at once meanwhile.
 * - A subscriber thread keeps its own connection SUBSCRIBEd to one channel, reconnecting with
 *   the same backoff, and hands every message to a callback.
 *
 * Thread-safe: commands from any thread; one subscriber thread.
 */
#ifndef RTKFS_REDIS_H
#define RTKFS_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rtk_redis;

#define RTK_REDIS_TIMEOUT_MS 150
#define RTK_REDIS_URL_MAX 256

/*
 * Parse url (no connection yet); password, when not NULL, overrides the URL's. Both copied.
 * NULL with *err -EINVAL (not a URL of the form above) or -ENOMEM.
 */
struct rtk_redis *rtk_redis_new(const char *url, const char *password, int *err);
/* NULL is a no-op; stops the subscriber first and wipes the password. */
void rtk_redis_free(struct rtk_redis *r);

enum rtk_redis_type {
	RTK_REDIS_STRING,
	RTK_REDIS_INTEGER,
	RTK_REDIS_NIL,
	RTK_REDIS_STATUS,
	RTK_REDIS_ERROR,
	RTK_REDIS_OTHER, /* an array, or anything else */
};

struct rtk_redis_reply {
	enum rtk_redis_type type;
	long long integer; /* RTK_REDIS_INTEGER */
	const char *str;   /* STRING, STATUS, ERROR: valid until rtk_redis_reply_release */
	size_t len;
	void *priv; /* the client's own reply */
};

/*
 * Run one command (argv; lens NULL for NUL-terminated arguments) on a connection of the
 * pool: 0 with the reply in rep (released by the caller; rep NULL to drop it at once), or
 * -ENOTCONN when Redis cannot be used now (down and not yet time to retry, no answer, no
 * free connection in time). An error reply is a reply, and is noted in the status.
 */
int rtk_redis_run(struct rtk_redis *r, int argc, const char **argv, const size_t *lens,
		  struct rtk_redis_reply *rep);
void rtk_redis_reply_release(struct rtk_redis_reply *rep);

/*
 * Start the subscriber thread on channel (copied): fn gets each message's payload (not
 * NUL-terminated) on that thread. 0 or -errno.
 */
int rtk_redis_subscribe(struct rtk_redis *r, const char *channel,
			void (*fn)(void *ctx, const char *msg, size_t len), void *ctx);
/* Stop the subscriber and wait for it: fn is not running and is never called after this. */
void rtk_redis_unsubscribe(struct rtk_redis *r);

struct rtk_redis_status {
	bool connected;
	int64_t down_since;  /* wall seconds; 0 when connected */
	unsigned retry_in_s; /* when down: seconds until the next try */
	uint64_t errors;
	char last_error[160];
	int64_t last_error_time; /* wall seconds, 0 for never */
};

void rtk_redis_get_status(struct rtk_redis *r, struct rtk_redis_status *st);

/* The URL without the password ("redis://host:6379/0", "unix:/path"). */
const char *rtk_redis_url(const struct rtk_redis *r);

#endif
