// SPDX-License-Identifier: MIT
/* The listing cache, on a fake clock: freshness, single-flight, stale-if-error, puts. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "rtkfs/cache.h"
#include "check.h"

struct val {
	atomic_int refs;
	int n;
};

static atomic_int live; /* values not yet freed */

static struct val *val_new(int n)
{
	struct val *v = calloc(1, sizeof(*v));

	atomic_init(&v->refs, 1);
	v->n = n;
	atomic_fetch_add(&live, 1);
	return v;
}

static void val_ref(void *p)
{
	atomic_fetch_add(&((struct val *)p)->refs, 1);
}

static void val_unref(void *p)
{
	struct val *v = p;

	if (v && atomic_fetch_sub(&v->refs, 1) == 1) {
		atomic_fetch_sub(&live, 1);
		free(v);
	}
}

static size_t val_size(const void *p)
{
	return 100;
}

static uint64_t fake_now;

static uint64_t fake_clock(void *ctx)
{
	return fake_now;
}

struct source {
	atomic_int calls;
	int next;        /* value of the next successful fetch */
	int fail;        /* when non-zero, fetches return it */
	atomic_int gate; /* fetch spins while 1 (for single-flight) */
	void *seen_old;
};

static int fetch(void *ctx, const char *key, void *old, void **out)
{
	struct source *s = ctx;

	atomic_fetch_add(&s->calls, 1);
	while (atomic_load(&s->gate))
		sched_yield();
	s->seen_old = old;
	if (s->fail)
		return s->fail;
	*out = val_new(s->next);
	return 0;
}

#define SEC RTK_NS_PER_SEC

static struct rtk_cache *new_cache(size_t max_bytes)
{
	struct rtk_cache_config cfg = {
		.ttl_ns = 5 * SEC,
		.stale_ns = 300 * SEC,
		.retry_ns = 2 * SEC,
		.err_ttl_ns = 1 * SEC,
		.idle_ns = 1000 * SEC,
		.max_bytes = max_bytes,
		.clock = {.now_ns = fake_clock},
		.ops = {.ref = val_ref, .unref = val_unref, .size = val_size},
	};

	fake_now = 1000 * SEC;
	return rtk_cache_new(&cfg);
}

static const struct rtk_cache_wait *far(void)
{
	/* One per thread: the concurrency tests call this from several at once. */
	static _Thread_local struct rtk_cache_wait w;

	w.deadline_ns = rtk_clock_mono_ns() + 10 * SEC;
	return &w;
}

static int get_n(struct rtk_cache *c, struct source *s, unsigned *flags)
{
	void *v;
	int err = rtk_cache_get(c, "/k", fetch, s, far(), &v, flags);
	int n;

	if (err)
		return err;
	n = ((struct val *)v)->n;
	val_unref(v);
	return n;
}

static void test_fresh_then_refresh(void)
{
	struct rtk_cache *c = new_cache(1 << 20);
	struct source s = {.next = 1};
	unsigned fl;

	CHECK_EQ_INT(get_n(c, &s, &fl), 1);
	CHECK(fl & RTK_CACHE_FETCHED);
	fake_now += 4 * SEC;
	s.next = 2;
	CHECK_EQ_INT(get_n(c, &s, &fl), 1); /* still fresh: no request */
	CHECK(fl & RTK_CACHE_HIT);
	CHECK_EQ_INT(s.calls, 1);
	fake_now += 2 * SEC;
	CHECK_EQ_INT(get_n(c, &s, &fl), 2); /* past the TTL: one refresh */
	CHECK_EQ_INT(s.calls, 2);
	CHECK(s.seen_old != NULL);
	rtk_cache_free(c);
	CHECK_EQ_INT(live, 0);
}

static void test_stale_if_error(void)
{
	struct rtk_cache *c = new_cache(1 << 20);
	struct source s = {.next = 1};
	struct rtk_cache_stats st;
	unsigned fl;

	CHECK_EQ_INT(get_n(c, &s, NULL), 1);
	fake_now += 6 * SEC;
	s.fail = -EIO;
	CHECK_EQ_INT(get_n(c, &s, &fl), 1); /* 5xx: the last good value stands in */
	CHECK(fl & RTK_CACHE_STALE);
	CHECK_EQ_INT(s.calls, 2);
	CHECK_EQ_INT(get_n(c, &s, &fl), 1); /* and no new request until retry_ns passed */
	CHECK_EQ_INT(s.calls, 2);
	fake_now += 3 * SEC;
	CHECK_EQ_INT(get_n(c, &s, &fl), 1);
	CHECK_EQ_INT(s.calls, 3);
	/* Past ttl + stale the error shows. */
	fake_now += 400 * SEC;
	CHECK_EQ_INT(get_n(c, &s, &fl), -EIO);
	/* A 404 is never hidden. */
	s.fail = 0;
	s.next = 5;
	fake_now += 2 * SEC;
	CHECK_EQ_INT(get_n(c, &s, NULL), 5);
	fake_now += 6 * SEC;
	s.fail = -ENOENT;
	CHECK_EQ_INT(get_n(c, &s, NULL), -ENOENT);
	rtk_cache_get_stats(c, &st);
	CHECK(st.stale_serves >= 2);
	CHECK_EQ_INT(st.last_error, -ENOENT);
	rtk_cache_free(c);
	CHECK_EQ_INT(live, 0);
}

static void test_error_remembered_briefly(void)
{
	struct rtk_cache *c = new_cache(1 << 20);
	struct source s = {.fail = -EACCES};

	CHECK_EQ_INT(get_n(c, &s, NULL), -EACCES);
	CHECK_EQ_INT(get_n(c, &s, NULL), -EACCES);
	CHECK_EQ_INT(s.calls, 1);
	fake_now += 2 * SEC;
	s.fail = 0;
	s.next = 3;
	CHECK_EQ_INT(get_n(c, &s, NULL), 3);
	CHECK_EQ_INT(s.calls, 2);
	rtk_cache_free(c);
}

struct reader {
	struct rtk_cache *c;
	struct source *s;
	int got;
};

static void *reader(void *arg)
{
	struct reader *r = arg;

	r->got = get_n(r->c, r->s, NULL);
	return NULL;
}

/* Poll (no sleep) until one fetch runs and n callers wait for it; false after 10 s. */
static bool until_fetch_and_waiting(struct rtk_cache *c, struct source *s, unsigned n)
{
	uint64_t give_up = rtk_clock_mono_ns() + 10 * SEC;
	struct rtk_cache_stats st;

	do {
		rtk_cache_get_stats(c, &st);
		if (atomic_load(&s->calls) == 1 && st.waiting == n)
			return true;
		sched_yield();
	} while (rtk_clock_mono_ns() < give_up);
	return false;
}

static void test_single_flight(void)
{
	struct rtk_cache *c = new_cache(1 << 20);
	struct rtk_cache_stats st;
	struct source s = {.next = 7};
	struct reader r[20];
	pthread_t th[20];
	int i;

	REQUIRE(c);
	atomic_store(&s.gate, 1);
	for (i = 0; i < 20; i++) {
		r[i] = (struct reader){.c = c, .s = &s};
		pthread_create(&th[i], NULL, reader, &r[i]);
	}
	/* The fetch is held until all 19 other callers provably wait on it. */
	CHECK(until_fetch_and_waiting(c, &s, 19));
	atomic_store(&s.gate, 0);
	for (i = 0; i < 20; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(r[i].got, 7);
	}
	CHECK_EQ_INT(s.calls, 1);
	rtk_cache_get_stats(c, &st);
	CHECK_EQ_INT(st.fetches, 1);
	CHECK_EQ_INT(st.misses, 1);
	CHECK_EQ_INT(st.waiting, 0);
	rtk_cache_free(c);
	CHECK_EQ_INT(live, 0);
}

static void test_waiter_deadline(void)
{
	struct rtk_cache *c = new_cache(1 << 20);
	struct source s = {.next = 1};
	struct reader r = {.c = c, .s = &s};
	pthread_t th;
	void *v = NULL;
	struct rtk_cache_wait w;

	atomic_store(&s.gate, 1);
	pthread_create(&th, NULL, reader, &r);
	while (atomic_load(&s.calls) == 0)
		sched_yield();
	/* A second caller with a short deadline gives up; it never sends its own request. */
	w = (struct rtk_cache_wait){.deadline_ns = rtk_clock_mono_ns() + 20 * RTK_NS_PER_MS};

	CHECK_EQ_INT(rtk_cache_get(c, "/k", fetch, &s, &w, &v, NULL), -ETIMEDOUT);
	atomic_store(&s.gate, 0);
	pthread_join(th, NULL);
	CHECK_EQ_INT(r.got, 1);
	CHECK_EQ_INT(s.calls, 1);
	rtk_cache_free(c);
}

static bool flag_set(void *ctx)
{
	return atomic_load((atomic_int *)ctx) != 0;
}

static void test_waiter_interrupted(void)
{
	struct rtk_cache *c = new_cache(1 << 20);
	struct source s = {.next = 1};
	struct reader r = {.c = c, .s = &s};
	atomic_int ctrl_c = 1;
	struct rtk_cache_wait w = {.interrupted = flag_set, .interrupted_ctx = &ctrl_c};
	uint64_t t0;
	pthread_t th;
	void *v = NULL;

	atomic_store(&s.gate, 1);
	pthread_create(&th, NULL, reader, &r);
	while (atomic_load(&s.calls) == 0)
		sched_yield();
	/* Ctrl-C on a caller waiting for another's fetch: -EINTR at once, not at the deadline. */
	w.deadline_ns = rtk_clock_mono_ns() + 10 * SEC;
	t0 = rtk_clock_mono_ns();
	CHECK_EQ_INT(rtk_cache_get(c, "/k", fetch, &s, &w, &v, NULL), -EINTR);
	CHECK(rtk_clock_mono_ns() - t0 < 200 * RTK_NS_PER_MS);
	atomic_store(&s.gate, 0);
	pthread_join(th, NULL);
	CHECK_EQ_INT(r.got, 1);
	CHECK_EQ_INT(s.calls, 1);
	rtk_cache_free(c);
}

static void *bump(void *ctx, void *old)
{
	return val_new(((struct val *)old)->n + 100);
}

static void test_put_update_invalidate(void)
{
	struct rtk_cache *c = new_cache(1 << 20);
	struct source s = {.next = 1};
	void *v;
	bool fresh;

	CHECK_EQ_INT(rtk_cache_update(c, "/k", bump, NULL), -ENOENT);
	CHECK_EQ_INT(get_n(c, &s, NULL), 1);
	CHECK_EQ_INT(rtk_cache_update(c, "/k", bump, NULL), 0);
	CHECK_EQ_INT(get_n(c, &s, NULL), 101); /* a write's result, no request */
	CHECK_EQ_INT(s.calls, 1);
	v = val_new(42);
	CHECK_EQ_INT(rtk_cache_put(c, "/k", v), 0);
	val_unref(v);
	CHECK_EQ_INT(get_n(c, &s, NULL), 42);
	CHECK_EQ_INT(rtk_cache_peek(c, "/k", &v, &fresh), 0);
	CHECK(fresh);
	val_unref(v);
	/* Outcome unknown: forget, and refetch before showing anything again. */
	rtk_cache_invalidate(c, "/k", true);
	CHECK_EQ_INT(rtk_cache_peek(c, "/k", &v, &fresh), -ENOENT);
	s.fail = -EIO;
	CHECK_EQ_INT(get_n(c, &s, NULL), -EIO); /* nothing stale to stand in */
	rtk_cache_flush(c);
	rtk_cache_free(c);
	CHECK_EQ_INT(live, 0);
}

/* A write folded into a stale value leaves it stale: the next get refreshes. */
static void test_update_keeps_freshness(void)
{
	struct rtk_cache *c = new_cache(1 << 20);
	struct source s = {.next = 1};
	void *v;
	bool fresh;

	CHECK_EQ_INT(get_n(c, &s, NULL), 1);
	fake_now += 6 * SEC; /* past the TTL */
	CHECK_EQ_INT(rtk_cache_update(c, "/k", bump, NULL), 0);
	CHECK_EQ_INT(rtk_cache_peek(c, "/k", &v, &fresh), 0);
	CHECK(!fresh);
	val_unref(v);
	s.next = 7;
	CHECK_EQ_INT(get_n(c, &s, NULL), 7); /* refreshed, not the derived value */
	CHECK_EQ_INT(s.calls, 2);
	rtk_cache_free(c);
	CHECK_EQ_INT(live, 0);
}

static void *put_during_fetch(void *arg)
{
	struct reader *r = arg;

	r->got = get_n(r->c, r->s, NULL);
	return NULL;
}

static void test_put_beats_older_fetch(void)
{
	struct rtk_cache *c = new_cache(1 << 20);
	struct source s = {.next = 1};
	struct reader r;
	pthread_t th;
	void *v;

	CHECK_EQ_INT(get_n(c, &s, NULL), 1);
	fake_now += 6 * SEC;
	s.next = 2; /* what the slow refresh will bring back: older than the put */
	atomic_store(&s.gate, 1);
	r = (struct reader){.c = c, .s = &s};
	pthread_create(&th, NULL, put_during_fetch, &r);
	while (atomic_load(&s.calls) < 2)
		sched_yield();
	v = val_new(50);
	rtk_cache_put(c, "/k", v);
	val_unref(v);
	atomic_store(&s.gate, 0);
	pthread_join(th, NULL);
	CHECK_EQ_INT(r.got, 50);
	CHECK_EQ_INT(get_n(c, &s, NULL), 50);
	rtk_cache_free(c);
	CHECK_EQ_INT(live, 0);
}

static void test_memory_cap(void)
{
	struct rtk_cache *c = new_cache(250); /* room for two values of 100 */
	struct source s = {.next = 1};
	struct rtk_cache_stats st;
	char key[8];
	void *v;
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "/k%d", i);
		CHECK_EQ_INT(rtk_cache_get(c, key, fetch, &s, far(), &v, NULL), 0);
		val_unref(v);
	}
	rtk_cache_get_stats(c, &st);
	CHECK(st.bytes <= 250);
	CHECK(st.evictions >= 3);
	/* The most recent stays. */
	CHECK_EQ_INT(rtk_cache_peek(c, "/k4", &v, NULL), 0);
	val_unref(v);
	rtk_cache_free(c);
	CHECK_EQ_INT(live, 0);
}

int main(void)
{
	RUN(test_fresh_then_refresh);
	RUN(test_stale_if_error);
	RUN(test_error_remembered_briefly);
	RUN(test_single_flight);
	RUN(test_waiter_deadline);
	RUN(test_waiter_interrupted);
	RUN(test_put_update_invalidate);
	RUN(test_update_keeps_freshness);
	RUN(test_put_beats_older_fetch);
	RUN(test_memory_cap);
	return check_summary();
}
