// SPDX-License-Identifier: MIT
/*
 * redis: the shared cache's connections to Redis (see redis.h).
 *
 * Connections: a pool of at most POOL_MAX blocking hiredis contexts, each command bounded by
 * RTK_REDIS_TIMEOUT_MS (connect and answer). A failed connection marks the server down:
 * the pool is emptied and no connection is tried before retry_at (backoff 1 s doubling to
 * 30 s); the first caller after it tries once, the others keep failing at once meanwhile.
 *
 * The subscriber thread keeps its own connection SUBSCRIBEd to the channel, reconnecting with
 * the same backoff, and polls its socket so that stop is seen within POLL_MS.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "rtkfs/loop.h"
#include "rtkfs/redis.h"

#define POOL_MAX 4
#define BACKOFF_MIN_NS (1 * RTK_NS_PER_SEC)
#define BACKOFF_MAX_NS (30 * RTK_NS_PER_SEC)
#define POLL_MS 100
#define KEEPALIVE_NS (3 * RTK_NS_PER_SEC)
#define PING_WAIT_NS (2 * RTK_NS_PER_SEC)
#define HOST_MAX 200

struct rtk_redis {
	/* where */
	char host[HOST_MAX];
	int port;
	char *unix_path;
	unsigned db;
	char *user, *password;
	char display[RTK_REDIS_URL_MAX];

	pthread_mutex_t mu;  /* everything below */
	pthread_cond_t cond; /* CLOCK_MONOTONIC: a free connection, stop */
	redisContext *idle[POOL_MAX];
	unsigned nidle, nopen;
	bool up, ever_up;
	uint64_t retry_at_ns, backoff_ns;
	int64_t down_since;
	struct rtk_redis_status st; /* errors, last_error, last_error_time */

	/* the subscriber */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	char *channel;
	void (*on_message)(void *ctx, const char *msg, size_t len);
	void *on_message_ctx;
};

static struct timeval tv_ms(unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return tv;
}


/* ---- the URL ---- */

static int parse_hostport(struct rtk_redis *s, const char *hp, size_t n)
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
static int parse_userinfo(struct rtk_redis *s, const char *ui, size_t n)
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

static int parse_url(struct rtk_redis *s, const char *url)
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

static void set_error(struct rtk_redis *s, const char *what, const char *why)
{
	s->st.errors++;
	snprintf(s->st.last_error, sizeof(s->st.last_error), "%s: %s", what, why);
	s->st.last_error_time = (int64_t)time(NULL);
}

/* Lock held. The server failed us: empty the pool, wait before the next try. */
static void mark_down(struct rtk_redis *s, const char *what, const char *why)
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
static void mark_up(struct rtk_redis *s)
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
static redisContext *dial(struct rtk_redis *s, char *why, size_t whysz)
{
	struct timeval tv = tv_ms(RTK_REDIS_TIMEOUT_MS);
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
static int get_conn(struct rtk_redis *s, redisContext **out)
{
	uint64_t now = rtk_clock_mono_ns(), until = now + RTK_REDIS_TIMEOUT_MS * RTK_NS_PER_MS;
	struct timespec ts = rtk_clock_ts(until);
	char why[160];
	int err = 0;

	rtk_loop_waiting();
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

static void put_conn(struct rtk_redis *s, redisContext *c, bool broken)
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
static redisReply *run(struct rtk_redis *s, int argc, const char **argv, const size_t *lens)
{
	redisContext *c;
	redisReply *r;

	if (get_conn(s, &c) != 0)
		return NULL;
	rtk_loop_waiting();
	r = redisCommandArgv(c, argc, argv, lens);
	put_conn(s, c, r == NULL);
	if (r && r->type == REDIS_REPLY_ERROR) {
		pthread_mutex_lock(&s->mu);
		set_error(s, argv[0], r->str ? r->str : "error");
		pthread_mutex_unlock(&s->mu);
	}
	return r;
}

static enum rtk_redis_type type_of(const redisReply *r)
{
	switch (r->type) {
	case REDIS_REPLY_STRING:
		return RTK_REDIS_STRING;
	case REDIS_REPLY_INTEGER:
		return RTK_REDIS_INTEGER;
	case REDIS_REPLY_NIL:
		return RTK_REDIS_NIL;
	case REDIS_REPLY_STATUS:
		return RTK_REDIS_STATUS;
	case REDIS_REPLY_ERROR:
		return RTK_REDIS_ERROR;
	default:
		return RTK_REDIS_OTHER;
	}
}

int rtk_redis_run(struct rtk_redis *s, int argc, const char **argv, const size_t *lens,
		  struct rtk_redis_reply *rep)
{
	redisReply *r = run(s, argc, argv, lens);

	if (!r)
		return -ENOTCONN;
	if (!rep) {
		freeReplyObject(r);
		return 0;
	}
	rep->type = type_of(r);
	rep->integer = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	rep->str = r->str;
	rep->len = r->str ? r->len : 0;
	rep->priv = r;
	return 0;
}

void rtk_redis_reply_release(struct rtk_redis_reply *rep)
{
	freeReplyObject(rep->priv);
	rep->priv = NULL;
	rep->str = NULL;
}

/* ---- the subscriber ---- */

/* Sleep ns unless stopped first. */
static void nap(struct rtk_redis *s, uint64_t ns)
{
	struct timespec ts = rtk_clock_ts(rtk_clock_mono_ns() + ns);

	pthread_mutex_lock(&s->mu);
	if (!atomic_load(&s->stop))
		pthread_cond_timedwait(&s->cond, &s->mu, &ts);
	pthread_mutex_unlock(&s->mu);
}

static redisContext *subscribe(struct rtk_redis *s)
{
	const char *argv[2] = {"SUBSCRIBE", s->channel};
	char why[160];
	redisContext *c;

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

/* A message on the channel (["message", channel, payload]) goes to the callback. */
static void deliver(struct rtk_redis *s, const redisReply *r)
{
	const redisReply *m;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		return;
	m = r->element[2];
	if (m->type != REDIS_REPLY_STRING)
		return;
	s->on_message(s->on_message_ctx, m->str, m->len);
}

/* Read what arrived and deliver every whole message: how many came, or -1 when broken. */
static int drain(struct rtk_redis *s, redisContext *c)
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
static void probe_pool(struct rtk_redis *s)
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

	/* Overdue, unless the answer is waiting unread (a callback ran long). */
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
	struct rtk_redis *s = arg;
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

int rtk_redis_subscribe(struct rtk_redis *s, const char *channel,
			void (*fn)(void *ctx, const char *msg, size_t len), void *ctx)
{
	int err;

	if (s->started)
		return -EBUSY;
	free(s->channel);
	s->channel = strdup(channel);
	if (!s->channel)
		return -ENOMEM;
	s->on_message = fn;
	s->on_message_ctx = ctx;
	atomic_store(&s->stop, false);
	err = pthread_create(&s->thread, NULL, subscriber, s);
	if (err)
		return -err;
	s->started = true;
	return 0;
}

void rtk_redis_unsubscribe(struct rtk_redis *s)
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

/* ---- life cycle ---- */

void rtk_redis_get_status(struct rtk_redis *s, struct rtk_redis_status *st)
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
}

const char *rtk_redis_url(const struct rtk_redis *s)
{
	return s->display;
}

static int init_sync(struct rtk_redis *s)
{
	if (rtk_clock_cond_init(&s->cond))
		return -ENOMEM;
	if (pthread_mutex_init(&s->mu, NULL)) {
		pthread_cond_destroy(&s->cond);
		return -ENOMEM;
	}
	return 0;
}

static void free_password(struct rtk_redis *s)
{
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
		s->password = NULL;
	}
}

struct rtk_redis *rtk_redis_new(const char *url, const char *password, int *err)
{
	struct rtk_redis *s = calloc(1, sizeof(*s));

	if (!s || init_sync(s) != 0) {
		*err = -ENOMEM;
		free(s);
		return NULL;
	}
	*err = parse_url(s, url);
	if (!*err && password) {
		free_password(s);
		s->password = strdup(password);
		*err = s->password ? 0 : -ENOMEM;
	}
	if (*err) {
		rtk_redis_free(s);
		return NULL;
	}
	return s;
}

void rtk_redis_free(struct rtk_redis *s)
{
	if (!s)
		return;
	rtk_redis_unsubscribe(s);
	while (s->nidle)
		redisFree(s->idle[--s->nidle]);
	free_password(s);
	free(s->user);
	free(s->unix_path);
	free(s->channel);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
