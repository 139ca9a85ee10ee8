// SPDX-License-Identifier: MIT
/*
 * shared: what the mounts of one account share through Redis (shared.h, DESIGN §6a): the
 * keys, listing values, fetch locks, the rate window and the 429 pause, and invalidations.
 * The connections, their failures and the subscriber thread are redis.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "rtkfs/redis.h"
#include "rtkfs/shared.h"

#define WAIT_STEP_NS (50 * RTK_NS_PER_MS)
#define KEY_MAX 700

_Static_assert(RTK_SHARED_TIMEOUT_MS == RTK_REDIS_TIMEOUT_MS, "one command bound");
_Static_assert(RTK_SHARED_URL_MAX >= RTK_REDIS_URL_MAX, "room for the URL shown");

/* The rate window: KEYS rate, pause; ARGV limit, window ms, a unique member. */
static const char RATE_LUA[] =
    "local p = redis.call('PTTL', KEYS[2])\n"
    "if p > 0 then return p end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local win = tonumber(ARGV[2])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)\n"
    "if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then\n"
    "  redis.call('ZADD', KEYS[1], now, ARGV[3])\n"
    "  redis.call('PEXPIRE', KEYS[1], win)\n"
    "  return 0\n"
    "end\n"
    "local o = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "local w = tonumber(o[2]) + win - now\n"
    "if w < 1 then w = 1 end\n"
    "return w\n";

/* A pause: keep the longer of the running one and this. KEYS pause; ARGV ms. */
static const char PAUSE_LUA[] = "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then\n"
				"  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])\n"
				"end\n"
				"return 0\n";

/* Release a lock only if it is still ours. KEYS lock; ARGV our token. */
static const char UNLOCK_LUA[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* While waiting: the value if there is one, else whether the lock is still held. */
static const char POLL_LUA[] = "local v = redis.call('GETRANGE', KEYS[1], 0, ARGV[1])\n"
			       "if v ~= '' then return v end\n"
			       "return redis.call('EXISTS', KEYS[2])\n";

struct rtk_shared {
	struct rtk_redis *redis;
	char prefix[64]; /* "rtkfs:1:<ns>:" */
	char instance[17];
	uint64_t ttl_ms, lease_ms;

	pthread_mutex_t mu; /* the counters below */
	uint64_t counter;
	struct rtk_shared_stats st;

	pthread_mutex_t listen_mu; /* held while the listener runs */
	void (*listener)(void *ctx, const char *key);
	void *listener_ctx;
};

static void count(struct rtk_shared *s, uint64_t *counter)
{
	pthread_mutex_lock(&s->mu);
	(*counter)++;
	pthread_mutex_unlock(&s->mu);
}

/* <prefix><kind><key><suffix> into out. */
static int make_key(const struct rtk_shared *s, char *out, const char *kind, const char *key,
		    const char *suffix)
{
	int n = snprintf(out, KEY_MAX, "%s%s%s%s", s->prefix, kind, key, suffix);

	return n < 0 || n >= KEY_MAX ? -ENAMETOOLONG : 0;
}

/* ---- listings ---- */

/* A reply to GETRANGE into out: 0, -ENOENT for "", -EFBIG past out's cap, -EPROTO. */
static int take_value(const struct rtk_redis_reply *r, struct rtk_buf *out)
{
	if (r->type != RTK_REDIS_STRING)
		return -EPROTO;
	if (!r->len)
		return -ENOENT;
	rtk_buf_reset(out);
	return rtk_buf_append(out, r->str, r->len);
}

int rtk_shared_get(struct rtk_shared *s, const char *key, struct rtk_buf *out)
{
	char k[KEY_MAX], cap[24];
	const char *argv[4] = {"GETRANGE", k, "0", cap};
	struct rtk_redis_reply r;
	int err = make_key(s, k, "L:", key, "");

	if (err)
		return err;
	snprintf(cap, sizeof(cap), "%zu", out->max); /* one byte more than allowed: too big */
	if (rtk_redis_run(s->redis, 4, argv, NULL, &r))
		return -ENOTCONN;
	err = take_value(&r, out);
	rtk_redis_reply_release(&r);
	if (err == -ENOENT)
		count(s, &s->st.misses);
	return err;
}

int rtk_shared_put(struct rtk_shared *s, const char *key, const char *v, size_t len)
{
	char k[KEY_MAX], px[24];
	const char *argv[5] = {"SET", k, v, "PX", px};
	size_t lens[5];
	struct rtk_redis_reply r;
	int err = make_key(s, k, "L:", key, ""), i;

	if (err)
		return err;
	snprintf(px, sizeof(px), "%" PRIu64, s->ttl_ms);
	for (i = 0; i < 5; i++)
		lens[i] = strlen(argv[i]);
	lens[2] = len;
	if (rtk_redis_run(s->redis, 5, argv, lens, &r))
		return -ENOTCONN;
	err = r.type == RTK_REDIS_ERROR ? -EIO : 0;
	rtk_redis_reply_release(&r);
	if (!err)
		count(s, &s->st.stores);
	return err;
}

void rtk_shared_note_value(struct rtk_shared *s, const char *key, int err)
{
	count(s, err ? &s->st.bad_values : &s->st.hits);
	if (err)
		rtk_warn("ignoring the shared value of '%s': %s; fetching it", key,
			 err == -EFBIG ? "too large" : "not a listing of this mount");
}

static int try_lock(struct rtk_shared *s, const char *lock, struct rtk_shared_claim *cl)
{
	char px[24];
	const char *argv[6] = {"SET", lock, cl->token, "NX", "PX", px};
	struct rtk_redis_reply r;
	int err;

	snprintf(px, sizeof(px), "%" PRIu64, s->lease_ms);
	if (rtk_redis_run(s->redis, 6, argv, NULL, &r))
		return -ENOTCONN;
	err = r.type == RTK_REDIS_STATUS ? 0 : r.type == RTK_REDIS_NIL ? -EBUSY : -EIO;
	rtk_redis_reply_release(&r);
	return err;
}

/* One look while waiting: 0 with the value, -EBUSY while locked, -ENOENT when free. */
static int poll_once(struct rtk_shared *s, const char *k, const char *lock, struct rtk_buf *out)
{
	char cap[24];
	const char *argv[6] = {"EVAL", POLL_LUA, "2", k, lock, cap};
	struct rtk_redis_reply r;
	int err;

	snprintf(cap, sizeof(cap), "%zu", out->max);
	if (rtk_redis_run(s->redis, 6, argv, NULL, &r))
		return -ENOTCONN;
	if (r.type == RTK_REDIS_INTEGER)
		err = r.integer ? -EBUSY : -ENOENT;
	else
		err = take_value(&r, out);
	rtk_redis_reply_release(&r);
	return err;
}

static bool op_over(const struct rtk_op *op, uint64_t until)
{
	return rtk_clock_mono_ns() >= until ||
	       (op->interrupted && op->interrupted(op->interrupted_ctx));
}

/* Wait for the holder of lock; see rtk_shared_claim. */
static enum rtk_shared_claim_result wait_holder(struct rtk_shared *s, const char *k,
						const char *lock, const struct rtk_op *op,
						struct rtk_buf *out, struct rtk_shared_claim *cl)
{
	uint64_t now = rtk_clock_mono_ns();
	uint64_t until = op->deadline_ns > now ? now + (op->deadline_ns - now) / 2 : now;
	struct timespec ts;
	int err, tries;

	count(s, &s->st.waits);
	/* Bounded: by the time (50 ms steps until `until`), and by a lock that went twice. */
	for (tries = 0; tries < 2;) {
		if (op_over(op, until))
			break;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)WAIT_STEP_NS;
		nanosleep(&ts, NULL);
		err = poll_once(s, k, lock, out);
		if (!err)
			return RTK_SHARED_VALUE;
		if (err == -EBUSY)
			continue;
		if (err != -ENOENT)
			return RTK_SHARED_ALONE; /* Redis failed, or a value of the wrong type */
		/* The holder went without leaving a value (it failed): our turn. */
		tries++;
		err = try_lock(s, lock, cl);
		if (!err) {
			cl->owned = true;
			return RTK_SHARED_OWNED;
		}
		if (err != -EBUSY)
			return RTK_SHARED_ALONE;
	}
	count(s, &s->st.takeovers);
	return RTK_SHARED_ALONE;
}

enum rtk_shared_claim_result rtk_shared_claim(struct rtk_shared *s, const char *key,
					      const struct rtk_op *op, struct rtk_buf *out,
					      struct rtk_shared_claim *cl)
{
	char k[KEY_MAX], lock[KEY_MAX];
	int err;

	memset(cl, 0, sizeof(*cl));
	if (make_key(s, k, "L:", key, "") || make_key(s, lock, "L:", key, ":lock"))
		return RTK_SHARED_ALONE;
	pthread_mutex_lock(&s->mu);
	snprintf(cl->token, sizeof(cl->token), "%s-%" PRIu64, s->instance, ++s->counter);
	pthread_mutex_unlock(&s->mu);
	err = try_lock(s, lock, cl);
	if (!err) {
		cl->owned = true;
		return RTK_SHARED_OWNED;
	}
	return err == -EBUSY ? wait_holder(s, k, lock, op, out, cl) : RTK_SHARED_ALONE;
}

void rtk_shared_release(struct rtk_shared *s, const char *key, struct rtk_shared_claim *cl)
{
	char lock[KEY_MAX];
	const char *argv[5] = {"EVAL", UNLOCK_LUA, "1", lock, cl->token};

	if (!cl->owned || make_key(s, lock, "L:", key, ":lock"))
		return;
	cl->owned = false;
	rtk_redis_run(s->redis, 5, argv, NULL, NULL);
}

int rtk_shared_invalidate(struct rtk_shared *s, const char *key)
{
	char k[KEY_MAX], chan[KEY_MAX], msg[KEY_MAX + 20];
	const char *del[2] = {"DEL", k}, *pub[3] = {"PUBLISH", chan, msg};
	int err = make_key(s, k, "L:", key, "");

	if (err || (err = make_key(s, chan, "inval", "", "")))
		return err;
	snprintf(msg, sizeof(msg), "%s %s", s->instance, key);
	if (rtk_redis_run(s->redis, 2, del, NULL, NULL) ||
	    rtk_redis_run(s->redis, 3, pub, NULL, NULL))
		return -ENOTCONN;
	count(s, &s->st.invalidations);
	return 0;
}

/* ---- the rate budget ---- */

int rtk_shared_take(void *ctx, unsigned limit, unsigned window_s, uint64_t *wait_ns)
{
	struct rtk_shared *s = ctx;
	char rate[KEY_MAX], pause[KEY_MAX], lim[16], win[24], member[48];
	const char *argv[8] = {"EVAL", RATE_LUA, "2", rate, pause, lim, win, member};
	struct rtk_redis_reply r;
	int err = 0;

	*wait_ns = 0;
	if (make_key(s, rate, "rate", "", "") || make_key(s, pause, "pause", "", ""))
		return -ENAMETOOLONG;
	snprintf(lim, sizeof(lim), "%u", limit);
	snprintf(win, sizeof(win), "%" PRIu64, (uint64_t)window_s * 1000);
	pthread_mutex_lock(&s->mu);
	snprintf(member, sizeof(member), "%s-%" PRIu64, s->instance, ++s->counter);
	pthread_mutex_unlock(&s->mu);
	if (rtk_redis_run(s->redis, 8, argv, NULL, &r))
		return -ENOTCONN;
	if (r.type == RTK_REDIS_INTEGER && r.integer >= 0)
		*wait_ns = (uint64_t)r.integer * RTK_NS_PER_MS;
	else
		err = -EIO;
	rtk_redis_reply_release(&r);
	return err;
}

void rtk_shared_pause(void *ctx, unsigned seconds)
{
	struct rtk_shared *s = ctx;
	char pause[KEY_MAX], ms[24];
	const char *argv[5] = {"EVAL", PAUSE_LUA, "1", pause, ms};

	if (make_key(s, pause, "pause", "", ""))
		return;
	snprintf(ms, sizeof(ms), "%" PRIu64, (uint64_t)(seconds ? seconds : 1) * 1000);
	rtk_redis_run(s->redis, 5, argv, NULL, NULL);
}

/* ---- life cycle ---- */

void rtk_shared_get_stats(struct rtk_shared *s, struct rtk_shared_stats *st)
{
	struct rtk_redis_status rs;

	rtk_redis_get_status(s->redis, &rs);
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
	snprintf(st->url, sizeof(st->url), "%s", rtk_redis_url(s->redis));
	st->connected = rs.connected;
	st->down_since = rs.down_since;
	st->retry_in_s = rs.retry_in_s;
	st->errors = rs.errors;
	memcpy(st->last_error, rs.last_error, sizeof(st->last_error));
	st->last_error_time = rs.last_error_time;
}

static void random_hex(char *out, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char r[8] = {0};
	struct timespec ts;
	size_t i;
	FILE *f = fopen("/dev/urandom", "rb");

	if (!f || fread(r, 1, sizeof(r), f) != sizeof(r)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(r, &ts.tv_nsec, sizeof(ts.tv_nsec) < 4 ? sizeof(ts.tv_nsec) : 4);
		r[4] = (unsigned char)getpid();
		r[5] = (unsigned char)(getpid() >> 8);
	}
	if (f)
		fclose(f);
	for (i = 0; i < sizeof(r) && 2 * i + 1 < n; i++) {
		out[2 * i] = hx[r[i] >> 4];
		out[2 * i + 1] = hx[r[i] & 15];
	}
	out[2 * i] = '\0';
}

/* ---- the subscriber ---- */

/* A message on the channel: "<instance> <key>" from another mount goes to the listener. */
static void deliver(void *ctx, const char *m, size_t len)
{
	struct rtk_shared *s = ctx;
	size_t il = strlen(s->instance);
	char key[KEY_MAX];

	if (len <= il + 1 || len - il - 1 >= sizeof(key) || m[il] != ' ' ||
	    memcmp(m, s->instance, il) == 0)
		return;
	memcpy(key, m + il + 1, len - il - 1);
	key[len - il - 1] = '\0';
	if (key[0] != '/' || memchr(key, '\0', len - il - 1))
		return;
	pthread_mutex_lock(&s->listen_mu);
	if (s->listener)
		s->listener(s->listener_ctx, key);
	pthread_mutex_unlock(&s->listen_mu);
}

int rtk_shared_start(struct rtk_shared *s)
{
	char chan[KEY_MAX];

	if (make_key(s, chan, "inval", "", ""))
		return -ENAMETOOLONG;
	return rtk_redis_subscribe(s->redis, chan, deliver, s);
}

void rtk_shared_stop(struct rtk_shared *s)
{
	if (s)
		rtk_redis_unsubscribe(s->redis);
}

void rtk_shared_listen(struct rtk_shared *s, void (*fn)(void *ctx, const char *key), void *ctx)
{
	pthread_mutex_lock(&s->listen_mu);
	s->listener = fn;
	s->listener_ctx = ctx;
	pthread_mutex_unlock(&s->listen_mu);
}

/* ---- life cycle ---- */

struct rtk_shared *rtk_shared_new(const struct rtk_shared_config *cfg, char *err, size_t errsz)
{
	struct rtk_shared *s = calloc(1, sizeof(*s));
	int i, e;

	if (!s || pthread_mutex_init(&s->mu, NULL)) {
		snprintf(err, errsz, "out of memory");
		free(s);
		return NULL;
	}
	if (pthread_mutex_init(&s->listen_mu, NULL)) {
		snprintf(err, errsz, "out of memory");
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	s->redis = rtk_redis_new(cfg->url, cfg->password, &e);
	if (!s->redis) {
		/* The URL may hold a password: never echo it. */
		snprintf(err, errsz,
			 e == -ENOMEM ? "out of memory"
				      : "shared= is not redis://[:PASSWORD@]HOST[:PORT][/DB] "
					"or unix:/PATH");
		rtk_shared_free(s);
		return NULL;
	}
	i = snprintf(s->prefix, sizeof(s->prefix), "rtkfs:1:");
	for (e = 0; e < 16; e++)
		i +=
		    snprintf(s->prefix + i, sizeof(s->prefix) - (size_t)i, "%02x", cfg->ns_hash[e]);
	snprintf(s->prefix + i, sizeof(s->prefix) - (size_t)i, ":");
	random_hex(s->instance, sizeof(s->instance));
	s->ttl_ms = cfg->ttl_ms ? cfg->ttl_ms : 1000;
	s->lease_ms = cfg->lease_ms ? cfg->lease_ms : 15000;
	return s;
}

void rtk_shared_free(struct rtk_shared *s)
{
	if (!s)
		return;
	rtk_redis_free(s->redis); /* stops the subscriber first */
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->listen_mu);
	free(s);
}
