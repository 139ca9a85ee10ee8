// SPDX-License-Identifier: MIT
/*
 * The listing cache: a hash map of entries (key → value, timestamps, fetch state) with an LRU
 * list for the memory cap. One mutex guards everything; fetches run outside it, one per key,
 * and finishing one broadcasts a condition variable the waiters of every key share (there
 * are few keys and fetches; a shared cond keeps entries small and lifetimes simple).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtkfs/cache.h"
#include "rtkfs/log.h"
#include "rtkfs/loop.h"

struct entry {
	struct entry *next;              /* hash chain */
	struct entry *lru_prev, *lru_next; /* most recently used first */
	char *key;
	uint64_t hash;

	void *value;        /* NULL when nothing is stored */
	size_t size;        /* ops.size(value) at store time */
	uint64_t stored_at; /* clock time the value was stored */
	bool expired;       /* invalidated: not fresh whatever stored_at says */
	uint64_t gen;       /* bumped by put/update/invalidate/flush */

	int err;            /* last fetch error remembered, 0 if none */
	uint64_t err_until; /* ...until then */
	uint64_t retry_at;  /* no refresh before this after a failed one (stale served) */

	bool fetching;
	unsigned waiters;   /* threads inside get() holding this entry */
	uint64_t last_used;
};

struct rtk_cache {
	struct rtk_cache_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t done; /* a fetch finished */
	struct entry **buckets;
	size_t nbuckets, nentries;
	struct entry *lru_head, *lru_tail;
	size_t bytes;
	uint64_t last_sweep;
	unsigned waiting; /* callers inside wait_done */
	struct rtk_cache_stats st;
};

static uint64_t hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t now(struct rtk_cache *c)
{
	return rtk_clock_now(&c->cfg.clock);
}

static void lru_unlink(struct rtk_cache *c, struct entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct rtk_cache *c, struct entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
}

static void touch(struct rtk_cache *c, struct entry *e, uint64_t t)
{
	e->last_used = t;
	if (c->lru_head != e) {
		lru_unlink(c, e);
		lru_push_front(c, e);
	}
}

static struct entry *find(struct rtk_cache *c, const char *key, uint64_t h)
{
	struct entry *e;

	for (e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void rehash(struct rtk_cache *c)
{
	size_t n = c->nbuckets * 2, i;
	struct entry **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* keep the longer chains; still correct */
	for (i = 0; i < c->nbuckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

static struct entry *find_or_add(struct rtk_cache *c, const char *key)
{
	uint64_t h = hash_key(key);
	struct entry *e = find(c, key, h);

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = strdup(key);
	if (!e->key) {
		free(e);
		return NULL;
	}
	e->hash = h;
	e->next = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = e;
	lru_push_front(c, e);
	c->nentries++;
	if (c->nentries > 2 * c->nbuckets)
		rehash(c);
	return e;
}

static void drop_value(struct rtk_cache *c, struct entry *e)
{
	if (!e->value)
		return;
	c->cfg.ops.unref(e->value);
	c->bytes -= e->size;
	e->value = NULL;
	e->size = 0;
}

static void store_value(struct rtk_cache *c, struct entry *e, void *v, uint64_t t)
{
	drop_value(c, e);
	c->cfg.ops.ref(v);
	e->value = v;
	e->size = c->cfg.ops.size ? c->cfg.ops.size(v) : 0;
	c->bytes += e->size;
	e->stored_at = t;
	e->expired = false;
	e->err = 0;
	e->retry_at = 0;
}

static bool is_busy(const struct entry *e)
{
	return e->fetching || e->waiters;
}

static void remove_entry(struct rtk_cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	lru_unlink(c, e);
	drop_value(c, e);
	c->nentries--;
	free(e->key);
	free(e);
}

/* Drop idle entries, then the least recently used while over the memory cap. */
static void sweep(struct rtk_cache *c, uint64_t t)
{
	struct entry *e, *prev;

	if (t - c->last_sweep < RTK_NS_PER_SEC && c->bytes <= c->cfg.max_bytes)
		return;
	c->last_sweep = t;
	for (e = c->lru_tail; e; e = prev) {
		prev = e->lru_prev;
		if (is_busy(e))
			continue;
		if (t - e->last_used > c->cfg.idle_ns || c->bytes > c->cfg.max_bytes) {
			if (e->value)
				c->st.evictions++;
			remove_entry(c, e);
		}
	}
}

/* Errors that say nothing about the data: a stale value may stand in (DESIGN §3). */
static bool is_transient(int err)
{
	switch (err) {
	case -ETIMEDOUT:
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -EAGAIN:
	case -EIO:
		return true;
	default:
		return false;
	}
}

static bool is_fresh(const struct rtk_cache *c, const struct entry *e, uint64_t t)
{
	return e->value && !e->expired && t - e->stored_at < c->cfg.ttl_ns;
}

static bool may_serve_stale(const struct rtk_cache *c, const struct entry *e, uint64_t t)
{
	return e->value && t - e->stored_at < c->cfg.ttl_ns + c->cfg.stale_ns;
}

struct rtk_cache *rtk_cache_new(const struct rtk_cache_config *cfg)
{
	struct rtk_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cfg = *cfg;
	c->nbuckets = 64;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets)
		goto free_c;
	if (pthread_mutex_init(&c->lock, NULL))
		goto free_buckets;
	if (rtk_clock_cond_init(&c->done))
		goto destroy_lock;
	return c;

destroy_lock:
	pthread_mutex_destroy(&c->lock);
free_buckets:
	free(c->buckets);
free_c:
	free(c);
	return NULL;
}

void rtk_cache_free(struct rtk_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nbuckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (e->value)
				c->cfg.ops.unref(e->value);
			free(e->key);
			free(e);
		}
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->done);
	free(c);
}

#define WAIT_SLICE_NS (50 * RTK_NS_PER_MS)

/*
 * Wait for a fetch to finish: 0 when one did (or may have: spurious wakeups are fine, the
 * caller looks again), -ETIMEDOUT past the deadline, -EINTR when the caller was interrupted.
 * Waits in slices so an interrupt is seen within WAIT_SLICE_NS.
 */
static int wait_done(struct rtk_cache *c, const struct rtk_cache_wait *w)
{
	uint64_t now_ns = rtk_clock_mono_ns(), until;
	struct timespec ts;

	if (w->interrupted && w->interrupted(w->interrupted_ctx))
		return -EINTR;
	if (now_ns >= w->deadline_ns)
		return -ETIMEDOUT;
	until = now_ns + WAIT_SLICE_NS < w->deadline_ns ? now_ns + WAIT_SLICE_NS : w->deadline_ns;
	ts = rtk_clock_ts(until);
	rtk_loop_waiting();
	/* Counted while the lock is out of our hands, so a stats reader sees every waiter. */
	c->waiting++;
	pthread_cond_timedwait(&c->done, &c->lock, &ts);
	c->waiting--;
	return 0;
}

static int hand_out(struct rtk_cache *c, void *v, void **out)
{
	c->cfg.ops.ref(v);
	*out = v;
	return 0;
}

/*
 * This thread fetches key (lock held, e not being fetched; the lock is dropped around the
 * fetch). Returns the outcome for the caller: 0 with a reference in *out, or an errno; when
 * *stale comes back true the caller serves the stale value instead.
 */
static int fetch_locked(struct rtk_cache *c, struct entry *e, const char *key,
			rtk_cache_fetch_fn fetch, void *ctx, void **out, bool *stale)
{
	uint64_t t, gen;
	void *old, *nv = NULL;
	int err;

	*stale = false;
	c->st.misses++;
	c->st.fetches++;
	e->fetching = true;
	gen = e->gen;
	old = e->value;
	if (old)
		c->cfg.ops.ref(old);
	pthread_mutex_unlock(&c->lock);

	err = fetch(ctx, key, old, &nv);

	pthread_mutex_lock(&c->lock);
	if (old)
		c->cfg.ops.unref(old);
	e->fetching = false;
	pthread_cond_broadcast(&c->done);
	t = now(c);
	if (!err) {
		if (e->gen == gen) {
			store_value(c, e, nv, t);
			sweep(c, t);
		} else if (e->value) {
			/* A put or update landed meanwhile and is newer than what we fetched. */
			c->cfg.ops.unref(nv);
			return hand_out(c, e->value, out);
		}
		*out = nv; /* our reference goes to the caller */
		return 0;
	}
	if (err == -EINTR)
		return err; /* says nothing; the next caller fetches again */
	c->st.fetch_errors++;
	c->st.last_error = err;
	if (is_transient(err) && e->gen == gen && may_serve_stale(c, e, t)) {
		e->retry_at = t + c->cfg.retry_ns;
		*stale = true;
		return 0;
	}
	e->err = err;
	e->err_until = t + c->cfg.err_ttl_ns;
	return err;
}

int rtk_cache_get(struct rtk_cache *c, const char *key, rtk_cache_fetch_fn fetch, void *ctx,
		  const struct rtk_cache_wait *w, void **out, unsigned *flags)
{
	unsigned fl = 0;
	struct entry *e;
	bool stale;
	uint64_t t;
	int err;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	t = now(c);
	sweep(c, t);
	e = find_or_add(c, key);
	if (!e) {
		err = -ENOMEM;
		goto out_unlock;
	}
	e->waiters++;
	for (;;) {
		t = now(c);
		touch(c, e, t);
		if (is_fresh(c, e, t)) {
			if (!(fl & RTK_CACHE_FETCHED)) {
				fl |= RTK_CACHE_HIT;
				c->st.hits++;
			}
			err = hand_out(c, e->value, out);
			goto out_release;
		}
		if (!e->value && e->err && t < e->err_until) {
			err = e->err;
			goto out_release;
		}
		if (t < e->retry_at && may_serve_stale(c, e, t))
			goto serve_stale;
		if (!e->fetching)
			break;
		err = wait_done(c, w);
		if (err == -ETIMEDOUT && may_serve_stale(c, e, now(c)))
			goto serve_stale;
		if (err)
			goto out_release;
	}
	/* This thread fetches; others wait for it. */
	err = fetch_locked(c, e, key, fetch, ctx, out, &stale);
	fl |= RTK_CACHE_FETCHED;
	if (!stale)
		goto out_release;
serve_stale:
	fl |= RTK_CACHE_STALE;
	c->st.stale_serves++;
	err = hand_out(c, e->value, out);
out_release:
	e->waiters--;
out_unlock:
	pthread_mutex_unlock(&c->lock);
	if (flags)
		*flags = fl;
	return err;
}

int rtk_cache_peek(struct rtk_cache *c, const char *key, void **out, bool *fresh)
{
	struct entry *e;
	int err = -ENOENT;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	e = find(c, key, hash_key(key));
	if (e && e->value) {
		if (fresh)
			*fresh = is_fresh(c, e, now(c));
		err = hand_out(c, e->value, out);
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

int rtk_cache_put(struct rtk_cache *c, const char *key, void *v)
{
	struct entry *e;
	int err = 0;

	pthread_mutex_lock(&c->lock);
	e = find_or_add(c, key);
	if (!e) {
		err = -ENOMEM;
		goto out;
	}
	e->gen++;
	store_value(c, e, v, now(c));
out:
	pthread_mutex_unlock(&c->lock);
	return err;
}

int rtk_cache_update(struct rtk_cache *c, const char *key, void *(*fn)(void *ctx, void *old),
		     void *ctx)
{
	struct entry *e;
	void *nv;
	int err = 0;

	pthread_mutex_lock(&c->lock);
	e = find(c, key, hash_key(key));
	if (!e || !e->value) {
		err = -ENOENT;
		goto out;
	}
	nv = fn(ctx, e->value);
	if (!nv) {
		err = -ENOMEM;
		goto out;
	}
	/*
	 * The derived value is as fresh as the one it replaces: a write folded into a stale
	 * listing must not make the rest of that listing fresh again (it would be shown past
	 * the stale window). A fetch under way does not overwrite it (gen).
	 */
	e->gen++;
	{
		uint64_t at = e->stored_at, retry_at = e->retry_at;
		bool expired = e->expired;
		int ferr = e->err;

		store_value(c, e, nv, at);
		e->expired = expired;
		e->err = ferr;
		e->retry_at = retry_at;
	}
	c->cfg.ops.unref(nv); /* store_value took its own */
out:
	pthread_mutex_unlock(&c->lock);
	return err;
}

void rtk_cache_invalidate(struct rtk_cache *c, const char *key, bool forget)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	e = find(c, key, hash_key(key));
	if (e) {
		e->gen++;
		e->expired = true;
		e->err = 0;
		e->retry_at = 0;
		if (forget)
			drop_value(c, e);
	}
	pthread_mutex_unlock(&c->lock);
}

void rtk_cache_flush(struct rtk_cache *c)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nbuckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (is_busy(e)) {
				e->gen++;
				e->err = 0;
				e->retry_at = 0;
				drop_value(c, e);
			} else {
				remove_entry(c, e);
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
}

void rtk_cache_get_stats(struct rtk_cache *c, struct rtk_cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	st->entries = c->nentries;
	st->bytes = c->bytes;
	st->waiting = c->waiting;
	pthread_mutex_unlock(&c->lock);
}
