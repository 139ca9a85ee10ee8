// SPDX-License-Identifier: MIT
/*
 * shared: Redis behind shared.h (DESIGN §6a).
 *
 * Connections: a pool of at most POOL_MAX blocking hiredis contexts, each command bounded by
 * RTK_SHARED_TIMEOUT_MS (connect and answer). A failed connection marks the server down:
 * the pool is emptied and no connection is tried before retry_at (backoff 1 s doubling to
 * 30 s); the first caller after it tries once, the others keep failing at once meanwhile.
 *
 * The subscriber thread keeps its own connection SUBSCRIBEd to <p>inval, reconnecting with
 * the same backoff, and polls its socket so that stop is seen within POLL_MS.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "rtkfs/shared.h"

#define POOL_MAX 4
#define BACKOFF_MIN_NS (1 * RTK_NS_PER_SEC)
#define BACKOFF_MAX_NS (30 * RTK_NS_PER_SEC)
#define POLL_MS 100
#define KEEPALIVE_NS (3 * RTK_NS_PER_SEC)
#define PING_WAIT_NS (2 * RTK_NS_PER_SEC)
#define WAIT_STEP_NS (50 * RTK_NS_PER_MS)
#define KEY_MAX 700
#define HOST_MAX 200

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
	/* where */
	char host[HOST_MAX];
	int port;
	char *unix_path;
	unsigned db;
	char *user, *password;
	char display[RTK_SHARED_URL_MAX];
	char prefix[64]; /* "rtkfs:1:<ns>:" */
	char instance[17];
	uint64_t ttl_ms, lease_ms;

	pthread_mutex_t mu;  /* everything below */
	pthread_cond_t cond; /* CLOCK_MONOTONIC: a free connection, stop */
	redisContext *idle[POOL_MAX];
	unsigned nidle, nopen;
	bool up, ever_up;
	uint64_t retry_at_ns, backoff_ns;
	int64_t down_since;
	uint64_t counter;
	struct rtk_shared_stats st;

	/* the subscriber */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t listen_mu; /* held while the listener runs */
	void (*listener)(void *ctx, const char *key);
	void *listener_ctx;
};

static struct timeval tv_ms(unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return tv;
}

static struct timespec ts_of(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / RTK_NS_PER_SEC),
			      .tv_nsec = (long)(ns % RTK_NS_PER_SEC)};

	return ts;
}

/* ---- the URL ---- */

static int parse_hostport(struct rtk_shared *s, const char *hp, size_t n)
{
	const char *colon = memchr(hp, ':', n);
	size_t hl = colon ? (size_t)(colon - hp) : n;
	char *end;
	long port = 6379;

	if (!hl || hl >= sizeof(s->host))
		return -EINVAL;
	memcpy(s->host, hp, hl);
	s->host[hl] = '\0';
	if (colon) {
		char num[8];
		size_t pl = n - hl - 1;

		if (!pl || pl >= sizeof(num))
			return -EINVAL;
		memcpy(num, colon + 1, pl);
		num[pl] = '\0';
		port = strtol(num, &end, 10);
		if (*end || port <= 0 || port > 65535)
			return -EINVAL;
	}
	s->port = (int)port;
	return 0;
}

/* "[[user]:password@]" of the authority: user and password (either may stay NULL). */
static int parse_userinfo(struct rtk_shared *s, const char *ui, size_t n)
{
	const char *colon = memchr(ui, ':', n);

	if (!colon)
		return -EINVAL; /* "user@" alone: Redis has no password-less users to name */
	if (colon > ui && !(s->user = strndup(ui, (size_t)(colon - ui))))
		return -ENOMEM;
	if ((size_t)(colon - ui) + 1 < n &&
	    !(s->password = strndup(colon + 1, n - (size_t)(colon - ui) - 1)))
		return -ENOMEM;
	return 0;
}

static int parse_url(struct rtk_shared *s, const char *url)
{
	const char *auth, *at, *slash, *end;
	char *dbend;
	int err;

	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] != '/' || !(s->unix_path = strdup(url + 5)))
			return -EINVAL;
		snprintf(s->display, sizeof(s->display), "unix:%s", s->unix_path);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return -EINVAL;
	auth = url + 8;
	slash = strchr(auth, '/');
	end = slash ? slash : auth + strlen(auth);
	for (at = end; at > auth && at[-1] != '@'; at--)
		;
	at = at > auth ? at - 1 : NULL; /* the last '@': a password may hold one */
	if (at && (err = parse_userinfo(s, auth, (size_t)(at - auth))) != 0)
		return err;
	if ((err = parse_hostport(s, at ? at + 1 : auth, (size_t)(end - (at ? at + 1 : auth)))))
		return err;
	if (slash && slash[1]) {
		unsigned long db = strtoul(slash + 1, &dbend, 10);

		if (*dbend || slash[1] < '0' || slash[1] > '9' || db > 10000)
			return -EINVAL;
		s->db = (unsigned)db;
	}
	snprintf(s->display, sizeof(s->display), "redis://%s:%d/%u", s->host, s->port, s->db);
	return 0;
}

/* ---- connections ---- */

static void set_error(struct rtk_shared *s, const char *what, const char *why)
{
	s->st.errors++;
	snprintf(s->st.last_error, sizeof(s->st.last_error), "%s: %s", what, why);
	s->st.last_error_time = (int64_t)time(NULL);
}

/* Lock held. The server failed us: empty the pool, wait before the next try. */
static void mark_down(struct rtk_shared *s, const char *what, const char *why)
{
	uint64_t now = rtk_clock_mono_ns();

	set_error(s, what, why);
	if (s->up || !s->down_since) {
		s->up = false;
		s->down_since = (int64_t)time(NULL);
		s->backoff_ns = BACKOFF_MIN_NS;
		rtk_warn("cannot use the shared cache '%s' (%s: %s); going on alone, retrying",
			 s->display, what, why);
	} else if (s->backoff_ns < BACKOFF_MAX_NS) {
		s->backoff_ns =
		    s->backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : s->backoff_ns * 2;
	}
	s->retry_at_ns = now + s->backoff_ns;
	while (s->nidle) {
		redisFree(s->idle[--s->nidle]);
		s->nopen--;
	}
}

/* Lock held. */
static void mark_up(struct rtk_shared *s)
{
	if (s->up)
		return;
	if (s->ever_up || s->down_since)
		rtk_info("the shared cache '%s' is reachable again", s->display);
	s->up = s->ever_up = true;
	s->down_since = 0;
	s->backoff_ns = 0;
}

/* One command on a fresh connection during setup: true when it answered without error. */
static bool setup_command(redisContext *c, char *why, size_t whysz, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);
	bool ok = r && r->type != REDIS_REPLY_ERROR;

	if (!r)
		snprintf(why, whysz, "%s", c->errstr[0] ? c->errstr : "no answer");
	else if (!ok)
		snprintf(why, whysz, "%s refused: %.100s", argv[0], r->str ? r->str : "");
	freeReplyObject(r);
	return ok;
}

/* A connected, authenticated context with the database selected, or NULL with why. */
static redisContext *dial(struct rtk_shared *s, char *why, size_t whysz)
{
	struct timeval tv = tv_ms(RTK_SHARED_TIMEOUT_MS);
	redisContext *c = s->unix_path ? redisConnectUnixWithTimeout(s->unix_path, tv)
				       : redisConnectWithTimeout(s->host, s->port, tv);
	char db[16];

	if (!c || c->err) {
		snprintf(why, whysz, "%s", c ? c->errstr : "out of memory");
		goto fail;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		snprintf(why, whysz, "cannot set a timeout");
		goto fail;
	}
	if (s->password) {
		const char *argv[3] = {"AUTH", s->user ? s->user : s->password, s->password};

		if (!setup_command(c, why, whysz, s->user ? 3 : 2, argv))
			goto fail;
	}
	if (s->db) {
		const char *argv[2] = {"SELECT", db};

		snprintf(db, sizeof(db), "%u", s->db);
		if (!setup_command(c, why, whysz, 2, argv))
			goto fail;
	}
	return c;
fail:
	redisFree(c);
	return NULL;
}

/* A connection of the pool: 0, or -ENOTCONN (down, not yet time to retry), -EBUSY. */
static int get_conn(struct rtk_shared *s, redisContext **out)
{
	uint64_t now = rtk_clock_mono_ns(), until = now + RTK_SHARED_TIMEOUT_MS * RTK_NS_PER_MS;
	struct timespec ts = ts_of(until);
	char why[160];
	int err = 0;

	pthread_mutex_lock(&s->mu);
	while (!s->nidle && s->nopen >= POOL_MAX && rtk_clock_mono_ns() < until)
		pthread_cond_timedwait(&s->cond, &s->mu, &ts);
	if (s->nidle) {
		*out = s->idle[--s->nidle];
	} else if (s->nopen >= POOL_MAX) {
		err = -EBUSY;
	} else if (!s->up && s->down_since && now < s->retry_at_ns) {
		err = -ENOTCONN;
	} else {
		s->nopen++;
		if (!s->up && s->down_since)
			s->retry_at_ns = now + s->backoff_ns; /* this try is ours alone */
		pthread_mutex_unlock(&s->mu);
		*out = dial(s, why, sizeof(why));
		pthread_mutex_lock(&s->mu);
		if (!*out) {
			s->nopen--;
			mark_down(s, "cannot connect", why);
			err = -ENOTCONN;
		} else {
			mark_up(s);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return err;
}

static void put_conn(struct rtk_shared *s, redisContext *c, bool broken)
{
	pthread_mutex_lock(&s->mu);
	if (broken) {
		char why[128];

		snprintf(why, sizeof(why), "%s", c->errstr[0] ? c->errstr : "no answer");
		redisFree(c);
		s->nopen--;
		mark_down(s, "no answer", why);
	} else {
		s->idle[s->nidle++] = c;
	}
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Run one command: its reply (the caller frees it) or NULL when Redis cannot be used now.
 * An error reply is returned as it is, and noted.
 */
static redisReply *run(struct rtk_shared *s, int argc, const char **argv, const size_t *lens)
{
	redisContext *c;
	redisReply *r;

	if (get_conn(s, &c) != 0)
		return NULL;
	r = redisCommandArgv(c, argc, argv, lens);
	put_conn(s, c, r == NULL);
	if (r && r->type == REDIS_REPLY_ERROR) {
		pthread_mutex_lock(&s->mu);
		set_error(s, argv[0], r->str ? r->str : "error");
		pthread_mutex_unlock(&s->mu);
	}
	return r;
}

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
static int take_value(const redisReply *r, struct rtk_buf *out)
{
	if (r->type != REDIS_REPLY_STRING)
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
	redisReply *r;
	int err = make_key(s, k, "L:", key, "");

	if (err)
		return err;
	snprintf(cap, sizeof(cap), "%zu", out->max); /* one byte more than allowed: too big */
	r = run(s, 4, argv, NULL);
	if (!r)
		return -ENOTCONN;
	err = take_value(r, out);
	freeReplyObject(r);
	if (err == -ENOENT)
		count(s, &s->st.misses);
	return err;
}

int rtk_shared_put(struct rtk_shared *s, const char *key, const char *v, size_t len)
{
	char k[KEY_MAX], px[24];
	const char *argv[5] = {"SET", k, v, "PX", px};
	size_t lens[5];
	redisReply *r;
	int err = make_key(s, k, "L:", key, ""), i;

	if (err)
		return err;
	snprintf(px, sizeof(px), "%" PRIu64, s->ttl_ms);
	for (i = 0; i < 5; i++)
		lens[i] = strlen(argv[i]);
	lens[2] = len;
	r = run(s, 5, argv, lens);
	if (!r)
		return -ENOTCONN;
	err = r->type == REDIS_REPLY_ERROR ? -EIO : 0;
	freeReplyObject(r);
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
	redisReply *r;
	int err;

	snprintf(px, sizeof(px), "%" PRIu64, s->lease_ms);
	r = run(s, 6, argv, NULL);
	if (!r)
		return -ENOTCONN;
	err = r->type == REDIS_REPLY_STATUS ? 0 : r->type == REDIS_REPLY_NIL ? -EBUSY : -EIO;
	freeReplyObject(r);
	return err;
}

/* One look while waiting: 0 with the value, -EBUSY while locked, -ENOENT when free. */
static int poll_once(struct rtk_shared *s, const char *k, const char *lock, struct rtk_buf *out)
{
	char cap[24];
	const char *argv[6] = {"EVAL", POLL_LUA, "2", k, lock, cap};
	redisReply *r;
	int err;

	snprintf(cap, sizeof(cap), "%zu", out->max);
	r = run(s, 6, argv, NULL);
	if (!r)
		return -ENOTCONN;
	if (r->type == REDIS_REPLY_INTEGER)
		err = r->integer ? -EBUSY : -ENOENT;
	else
		err = take_value(r, out);
	freeReplyObject(r);
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
		ts = ts_of(WAIT_STEP_NS);
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
	freeReplyObject(run(s, 5, argv, NULL));
}

int rtk_shared_invalidate(struct rtk_shared *s, const char *key)
{
	char k[KEY_MAX], chan[KEY_MAX], msg[KEY_MAX + 20];
	const char *del[2] = {"DEL", k}, *pub[3] = {"PUBLISH", chan, msg};
	redisReply *r;
	int err = make_key(s, k, "L:", key, "");

	if (err || (err = make_key(s, chan, "inval", "", "")))
		return err;
	snprintf(msg, sizeof(msg), "%s %s", s->instance, key);
	r = run(s, 2, del, NULL);
	if (!r)
		return -ENOTCONN;
	freeReplyObject(r);
	r = run(s, 3, pub, NULL);
	if (!r)
		return -ENOTCONN;
	freeReplyObject(r);
	count(s, &s->st.invalidations);
	return 0;
}

/* ---- the rate budget ---- */

int rtk_shared_take(void *ctx, unsigned limit, unsigned window_s, uint64_t *wait_ns)
{
	struct rtk_shared *s = ctx;
	char rate[KEY_MAX], pause[KEY_MAX], lim[16], win[24], member[48];
	const char *argv[8] = {"EVAL", RATE_LUA, "2", rate, pause, lim, win, member};
	redisReply *r;
	int err = 0;

	*wait_ns = 0;
	if (make_key(s, rate, "rate", "", "") || make_key(s, pause, "pause", "", ""))
		return -ENAMETOOLONG;
	snprintf(lim, sizeof(lim), "%u", limit);
	snprintf(win, sizeof(win), "%" PRIu64, (uint64_t)window_s * 1000);
	pthread_mutex_lock(&s->mu);
	snprintf(member, sizeof(member), "%s-%" PRIu64, s->instance, ++s->counter);
	pthread_mutex_unlock(&s->mu);
	r = run(s, 8, argv, NULL);
	if (!r)
		return -ENOTCONN;
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0)
		*wait_ns = (uint64_t)r->integer * RTK_NS_PER_MS;
	else
		err = -EIO;
	freeReplyObject(r);
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
	freeReplyObject(run(s, 5, argv, NULL));
}

/* ---- the subscriber ---- */

/* Sleep ns unless stopped first. */
static void nap(struct rtk_shared *s, uint64_t ns)
{
	struct timespec ts = ts_of(rtk_clock_mono_ns() + ns);

	pthread_mutex_lock(&s->mu);
	if (!atomic_load(&s->stop))
		pthread_cond_timedwait(&s->cond, &s->mu, &ts);
	pthread_mutex_unlock(&s->mu);
}

static redisContext *subscribe(struct rtk_shared *s)
{
	char chan[KEY_MAX], why[160];
	const char *argv[2] = {"SUBSCRIBE", chan};
	redisContext *c;

	if (make_key(s, chan, "inval", "", ""))
		return NULL;
	c = dial(s, why, sizeof(why));
	if (c && !setup_command(c, why, sizeof(why), 2, argv)) {
		redisFree(c);
		c = NULL;
	}
	pthread_mutex_lock(&s->mu);
	if (c)
		mark_up(s);
	else
		mark_down(s, "cannot subscribe", why);
	pthread_mutex_unlock(&s->mu);
	return c;
}

/* A message on the channel: "<instance> <key>" from another mount goes to the listener. */
static void deliver(struct rtk_shared *s, const redisReply *r)
{
	const redisReply *m;
	size_t il = strlen(s->instance);
	char key[KEY_MAX];

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		return;
	m = r->element[2];
	if (m->type != REDIS_REPLY_STRING || m->len <= il + 1 || m->len - il - 1 >= sizeof(key) ||
	    m->str[il] != ' ' || memcmp(m->str, s->instance, il) == 0)
		return;
	memcpy(key, m->str + il + 1, m->len - il - 1);
	key[m->len - il - 1] = '\0';
	if (key[0] != '/' || memchr(key, '\0', m->len - il - 1))
		return;
	pthread_mutex_lock(&s->listen_mu);
	if (s->listener)
		s->listener(s->listener_ctx, key);
	pthread_mutex_unlock(&s->listen_mu);
}

/* Read what arrived and deliver every whole message: how many came, or -1 when broken. */
static int drain(struct rtk_shared *s, redisContext *c)
{
	void *reply;
	int n;

	if (redisBufferRead(c) != REDIS_OK)
		return -1;
	for (n = 0; n < 1000; n++) {
		if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
			return -1;
		if (!reply)
			break;
		deliver(s, reply);
		freeReplyObject(reply);
	}
	return n;
}

/*
 * While Redis is marked down and its retry is due, try the pool once (the subscriber may be
 * fine while the pool is not): so the status recovers without any traffic of ours.
 */
static void probe_pool(struct rtk_shared *s)
{
	const char *argv[1] = {"PING"};
	bool due;

	pthread_mutex_lock(&s->mu);
	due = !s->up && s->down_since && rtk_clock_mono_ns() >= s->retry_at_ns;
	pthread_mutex_unlock(&s->mu);
	if (due)
		freeReplyObject(run(s, 1, argv, NULL));
}

/*
 * Keep the subscription honest: a PING every KEEPALIVE_NS; a connection that has not
 * answered it within PING_WAIT_NS is dead (a stalled server, a silent network), even if
 * the socket says nothing. false when it is.
 */
static bool keepalive(redisContext *c, uint64_t *ping_at, uint64_t *last_ping)
{
	uint64_t now = rtk_clock_mono_ns();
	int done = 0;
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	/* Overdue, unless the answer is waiting unread (a listener ran long). */
	if (*ping_at)
		return now - *ping_at < PING_WAIT_NS || poll(&p, 1, 0) > 0;
	if (now - *last_ping < KEEPALIVE_NS)
		return true;
	if (redisAppendCommand(c, "PING") != REDIS_OK)
		return false;
	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK)
			return false;
	*ping_at = *last_ping = now;
	return true;
}

static void *subscriber(void *arg)
{
	struct rtk_shared *s = arg;
	redisContext *c = NULL;
	struct pollfd p;
	uint64_t backoff = BACKOFF_MIN_NS, ping_at = 0, last_ping = 0;
	int n = 0;

	while (!atomic_load(&s->stop)) {
		if (!c && !(c = subscribe(s))) {
			nap(s, backoff);
			backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff * 2;
			continue;
		}
		if (!ping_at && !last_ping)
			last_ping = rtk_clock_mono_ns();
		backoff = BACKOFF_MIN_NS;
		p.fd = c->fd;
		p.events = POLLIN;
		if (poll(&p, 1, POLL_MS) > 0 && (n = drain(s, c)) > 0)
			ping_at = 0; /* anything from the server shows it is alive */
		if (n < 0 || !keepalive(c, &ping_at, &last_ping)) {
			pthread_mutex_lock(&s->mu);
			mark_down(s, "lost the subscription",
				  n < 0 && c->errstr[0] ? c->errstr : "no answer");
			pthread_mutex_unlock(&s->mu);
			redisFree(c);
			c = NULL;
			n = 0;
			ping_at = last_ping = 0;
			continue;
		}
		probe_pool(s);
	}
	redisFree(c);
	return NULL;
}

int rtk_shared_start(struct rtk_shared *s)
{
	int err;

	atomic_store(&s->stop, false);
	err = pthread_create(&s->thread, NULL, subscriber, s);
	if (err)
		return -err;
	s->started = true;
	return 0;
}

void rtk_shared_stop(struct rtk_shared *s)
{
	if (!s || !s->started)
		return;
	atomic_store(&s->stop, true);
	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	s->started = false;
}

void rtk_shared_listen(struct rtk_shared *s, void (*fn)(void *ctx, const char *key), void *ctx)
{
	pthread_mutex_lock(&s->listen_mu);
	s->listener = fn;
	s->listener_ctx = ctx;
	pthread_mutex_unlock(&s->listen_mu);
}

/* ---- life cycle ---- */

void rtk_shared_get_stats(struct rtk_shared *s, struct rtk_shared_stats *st)
{
	uint64_t now = rtk_clock_mono_ns();

	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->connected = s->up;
	st->down_since = s->up ? 0 : s->down_since;
	st->retry_in_s =
	    !s->up && s->retry_at_ns > now
		? (unsigned)((s->retry_at_ns - now + RTK_NS_PER_SEC - 1) / RTK_NS_PER_SEC)
		: 0;
	pthread_mutex_unlock(&s->mu);
	snprintf(st->url, sizeof(st->url), "%s", s->display);
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

static int init_sync(struct rtk_shared *s)
{
	pthread_condattr_t ca;
	int err;

	if (pthread_condattr_init(&ca))
		return -ENOMEM;
	err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (err)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->listen_mu, NULL);
	return 0;
}

struct rtk_shared *rtk_shared_new(const struct rtk_shared_config *cfg, char *err, size_t errsz)
{
	struct rtk_shared *s = calloc(1, sizeof(*s));
	int i, e;

	if (!s || init_sync(s) != 0) {
		snprintf(err, errsz, "out of memory");
		free(s);
		return NULL;
	}
	e = parse_url(s, cfg->url);
	if (!e && cfg->password) {
		if (s->password)
			explicit_bzero(s->password, strlen(s->password));
		free(s->password);
		s->password = strdup(cfg->password);
		e = s->password ? 0 : -ENOMEM;
	}
	if (e) {
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
	rtk_shared_stop(s);
	while (s->nidle)
		redisFree(s->idle[--s->nidle]);
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->user);
	free(s->unix_path);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->listen_mu);
	free(s);
}
