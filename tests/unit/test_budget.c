// SPDX-License-Identifier: MIT
/* Unit tests of the rate budget, on a fake clock: nothing here sleeps on the real one. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "rtkfs/budget.h"
#include "rtkfs/clock.h"
#include "check.h"

#define SEC RTK_NS_PER_SEC

struct fake_clock {
	_Atomic uint64_t now;
};

static uint64_t fake_now(void *ctx)
{
	struct fake_clock *fc = ctx;

	return atomic_load(&fc->now);
}

static void advance(struct fake_clock *fc, uint64_t ns)
{
	atomic_fetch_add(&fc->now, ns);
}

static struct rtk_budget *new_budget(struct fake_clock *fc, unsigned limit, unsigned window_s)
{
	struct rtk_clock c = {.now_ns = fake_now, .ctx = fc};

	atomic_store(&fc->now, 1000 * SEC);
	return rtk_budget_new(limit, window_s, c);
}

/* A deadline far enough that no test reaches it. */
static uint64_t far(void)
{
	return rtk_clock_mono_ns() + 60 * SEC;
}

static void test_new_rejects_zero(void)
{
	struct rtk_clock c = {0};

	CHECK(rtk_budget_new(0, 10, c) == NULL);
	CHECK(rtk_budget_new(10, 0, c) == NULL);
	rtk_budget_free(NULL);
}

static void test_limit_then_nowait(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 3, 10);
	struct rtk_budget_stats st;

	CHECK(b);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	rtk_budget_get_stats(b, &st);
	CHECK_EQ_INT(st.limit, 3);
	CHECK_EQ_INT(st.window_s, 10);
	CHECK_EQ_INT(st.left, 0);
	CHECK_EQ_INT(st.refused, 1);
	rtk_budget_free(b);
}

static void test_window_slides(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 2, 10);
	struct rtk_budget_stats st;

	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0); /* t = 0 */
	advance(&fc, 4 * SEC);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0); /* t = 4 */
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	advance(&fc, 6 * SEC - 1);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN); /* just before t = 10 */
	advance(&fc, 1);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0); /* the first left the window */
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	advance(&fc, 4 * SEC);
	rtk_budget_get_stats(b, &st);
	CHECK_EQ_INT(st.left, 1);
	rtk_budget_free(b);
}

/* A wait that cannot end before the deadline is refused at once, not slept through. */
static void test_refuses_past_deadline(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 1, 30);
	uint64_t t0;

	CHECK_EQ_INT(rtk_budget_acquire(b, far(), false), 0);
	t0 = rtk_clock_mono_ns();
	CHECK_EQ_INT(rtk_budget_acquire(b, t0 + 200 * RTK_NS_PER_MS, false), -EAGAIN);
	CHECK(rtk_clock_mono_ns() - t0 < 100 * RTK_NS_PER_MS);
	/* A deadline already past. */
	CHECK_EQ_INT(rtk_budget_acquire(b, 1, false), -EAGAIN);
	rtk_budget_free(b);
}

static void test_pause(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 100, 10);
	struct rtk_budget_stats st;

	CHECK(!rtk_budget_is_paused(b));
	rtk_budget_pause(b, 5);
	CHECK(rtk_budget_is_paused(b));
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	rtk_budget_get_stats(b, &st);
	CHECK_EQ_INT(st.pauses, 1);
	CHECK(st.paused_until_ns == 1005 * SEC);
	advance(&fc, 5 * SEC - 1);
	CHECK(rtk_budget_is_paused(b));
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	advance(&fc, 1);
	CHECK(!rtk_budget_is_paused(b));
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	/* At least one second, and a shorter pause does not shorten a running one. */
	rtk_budget_pause(b, 0);
	rtk_budget_pause(b, 0);
	advance(&fc, SEC / 2);
	CHECK(rtk_budget_is_paused(b));
	rtk_budget_pause(b, 10);
	rtk_budget_pause(b, 1);
	advance(&fc, 5 * SEC);
	CHECK(rtk_budget_is_paused(b));
	rtk_budget_free(b);
}

static void test_observe(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 100, 300);
	struct rtk_budget_stats st;

	/* The server says nothing is left for 10 s. */
	rtk_budget_observe(b, 0, 10);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	rtk_budget_get_stats(b, &st);
	CHECK_EQ_INT(st.left, 0);
	advance(&fc, 10 * SEC);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);

	/* Two left for 30 s: two go, the third waits for the reset. */
	rtk_budget_observe(b, 2, 30);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	advance(&fc, 30 * SEC);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);

	/* "Not given" changes nothing. */
	rtk_budget_observe(b, -1, 100);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	rtk_budget_free(b);
}

struct waiter {
	struct rtk_budget *b;
	uint64_t deadline;
	int rc;
};

static void *wait_thread(void *p)
{
	struct waiter *w = p;

	w->rc = rtk_budget_acquire(w->b, w->deadline, false);
	return NULL;
}

/* Wait (on the real clock, bounded) until the waiter is counted as waiting. */
static void until_waiting(struct rtk_budget *b, uint64_t n)
{
	struct rtk_budget_stats st;
	uint64_t give_up = rtk_clock_mono_ns() + 5 * SEC;

	do {
		sched_yield();
		rtk_budget_get_stats(b, &st);
	} while (st.waited < n && rtk_clock_mono_ns() < give_up);
}

/* A blocked acquire goes on once the fake clock passes the pause. */
static void test_waiter_wakes(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 10, 10);
	struct waiter w = {.b = b, .deadline = far(), .rc = 1};
	pthread_t th;

	rtk_budget_pause(b, 2);
	CHECK_EQ_INT(pthread_create(&th, NULL, wait_thread, &w), 0);
	until_waiting(b, 1);
	advance(&fc, 2 * SEC);
	pthread_join(th, NULL);
	CHECK_EQ_INT(w.rc, 0);

	/* The same for a full window. */
	while (rtk_budget_acquire(b, far(), true) == 0)
		;
	w.rc = 1;
	CHECK_EQ_INT(pthread_create(&th, NULL, wait_thread, &w), 0);
	until_waiting(b, 2);
	advance(&fc, 10 * SEC);
	pthread_join(th, NULL);
	CHECK_EQ_INT(w.rc, 0);
	rtk_budget_free(b);
}

/* ---- header parsing ---- */

struct parsed {
	bool known;
	long rem, reset, retry;
};

static struct parsed parse(const char *line, long now_s)
{
	struct parsed p = {.rem = -1, .reset = -1, .retry = -1};

	p.known = rtk_budget_parse_header(line, strlen(line), now_s, &p.rem, &p.reset, &p.retry);
	return p;
}

static void test_parse_ratelimit(void)
{
	struct parsed p;

	p = parse("Ratelimit: \"default\";r=50;t=30\r\n", 0);
	CHECK(p.known);
	CHECK_EQ_INT(p.rem, 50);
	CHECK_EQ_INT(p.reset, 30);
	CHECK_EQ_INT(p.retry, -1);

	p = parse("ratelimit:\"default\"; r=0; t=300", 0);
	CHECK_EQ_INT(p.rem, 0);
	CHECK_EQ_INT(p.reset, 300);

	/* Several policies: the least remaining, the latest reset. */
	p = parse("RateLimit: \"burst\";r=5;t=10, \"day\";r=900;t=3600\r\n", 0);
	CHECK_EQ_INT(p.rem, 5);
	CHECK_EQ_INT(p.reset, 3600);

	/* The older draft syntax. */
	p = parse("RateLimit: limit=100, remaining=42, reset=17\r\n", 0);
	CHECK_EQ_INT(p.rem, 42);
	CHECK_EQ_INT(p.reset, 17);

	/* A quoted string with separators inside does not confuse the parameters. */
	p = parse("Ratelimit: \"a;r=1,t=2\";r=7;t=8", 0);
	CHECK_EQ_INT(p.rem, 7);
	CHECK_EQ_INT(p.reset, 8);

	p = parse("Ratelimit-Policy: \"burst\";q=1200;w=300\r\n", 0);
	CHECK(p.known);
	CHECK_EQ_INT(p.rem, -1);
	CHECK_EQ_INT(p.reset, -1);
}

static void test_parse_legacy(void)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
	const long t = 784111777;
	struct parsed p;

	p = parse("x-ratelimit-remaining: 1199\r\n", 0);
	CHECK(p.known);
	CHECK_EQ_INT(p.rem, 1199);
	p = parse("X-RateLimit-Reset: 25\r\n", 0);
	CHECK_EQ_INT(p.reset, 25);
	p = parse("x-ratelimit-reset: Sun, 06 Nov 1994 08:49:37 GMT\r\n", t - 60);
	CHECK_EQ_INT(p.reset, 60);
	/* Python's formatdate writes -0000. */
	p = parse("x-ratelimit-reset: Sun, 06 Nov 1994 08:49:37 -0000\r\n", t - 61);
	CHECK_EQ_INT(p.reset, 61);
	p = parse("x-ratelimit-reset: Sun, 06 Nov 1994 10:49:37 +0200\r\n", t - 5);
	CHECK_EQ_INT(p.reset, 5);
	/* A Unix time. */
	p = parse("x-ratelimit-reset: 1700000100", 1700000000);
	CHECK_EQ_INT(p.reset, 100);
	/* Not ours. */
	p = parse("x-ratelimit-limit: 1200\r\n", 0);
	CHECK(!p.known);
	p = parse("Content-Type: application/json\r\n", 0);
	CHECK(!p.known);
}

static void test_parse_retry_after(void)
{
	const long t = 784111777;
	struct parsed p;

	p = parse("retry-after: 120\r\n", 0);
	CHECK(p.known);
	CHECK_EQ_INT(p.retry, 120);
	p = parse("Retry-After: 1.2\r\n", 0);
	CHECK_EQ_INT(p.retry, 2);
	p = parse("Retry-After: Sun, 06 Nov 1994 08:49:37 GMT", t - 30);
	CHECK_EQ_INT(p.retry, 30);
	p = parse("Retry-After: Sunday, 06-Nov-94 08:49:37 GMT", t - 31);
	CHECK_EQ_INT(p.retry, 31);
	p = parse("Retry-After: Sun Nov  6 08:49:37 1994", t - 32);
	CHECK_EQ_INT(p.retry, 32);
	/* In the past: now. */
	p = parse("Retry-After: Sun, 06 Nov 1994 08:49:37 GMT", t + 100);
	CHECK_EQ_INT(p.retry, 0);
}

static void test_parse_garbage(void)
{
	static const char *const bad[] = {
	    "retry-after:",
	    "retry-after: ",
	    "retry-after: -5",
	    "retry-after: soon",
	    "retry-after: 12abc",
	    "retry-after: Sun, 99 Foo 1994 08:49:37 GMT",
	    "retry-after: Sun, 06 Nov 1994 25:49:37 GMT",
	    "retry-after: Sun, 06 Nov",
	    "retry-after: Sun, 06 Nov 1994 08:49",
	    "x-ratelimit-remaining: many",
	    "x-ratelimit-remaining: 1 2",
	    "x-ratelimit-reset: \xff\xfe",
	    "Ratelimit: r=",
	    "Ratelimit: ;;;,,,==",
	    "Ratelimit: \"unterminated;r=5",
	    "Ratelimit: r=x;t=-3",
	};
	struct parsed p;
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = parse(bad[i], 1000);
		CHECK(p.known);
		if (p.rem != -1 || p.reset != -1 || p.retry != -1)
			fprintf(stderr, "garbage parsed: %s\n", bad[i]);
		CHECK_EQ_INT(p.rem, -1);
		CHECK_EQ_INT(p.reset, -1);
		CHECK_EQ_INT(p.retry, -1);
	}
	/* Huge values saturate and are clamped to a day. */
	p = parse("retry-after: 99999999999999999999999999999999999", 0);
	CHECK_EQ_INT(p.retry, 86400);
	p = parse("Ratelimit: \"d\";r=99999999999999999999999;t=99999999999999999999", 0);
	CHECK_EQ_INT(p.rem, 86400);
	CHECK_EQ_INT(p.reset, 86400);
	p = parse("x-ratelimit-reset: Fri, 31 Dec 9999 23:59:59 GMT", 0);
	CHECK_EQ_INT(p.reset, 86400);
	/* No colon, empty, embedded NUL inside len. */
	p = parse("retry-after 5", 0);
	CHECK(!p.known);
	CHECK(!rtk_budget_parse_header("", 0, 0, &p.rem, &p.reset, &p.retry));
	{
		const char line[] = "retry-after: 7\0 99";
		long r = -1, x = -1, y = -1;

		CHECK(rtk_budget_parse_header(line, sizeof(line) - 1, 0, &x, &y, &r));
		CHECK_EQ_INT(r, -1); /* "7\0 99" is not a number */
	}
	/* Only the first len bytes are looked at. */
	{
		long r = -1, x = -1, y = -1;

		CHECK(rtk_budget_parse_header("retry-after: 12345", 15, 0, &x, &y, &r));
		CHECK_EQ_INT(r, 12);
	}
}

int main(void)
{
	RUN(test_new_rejects_zero);
	RUN(test_limit_then_nowait);
	RUN(test_window_slides);
	RUN(test_refuses_past_deadline);
	RUN(test_pause);
	RUN(test_observe);
	RUN(test_waiter_wakes);
	RUN(test_parse_ratelimit);
	RUN(test_parse_legacy);
	RUN(test_parse_retry_after);
	RUN(test_parse_garbage);
	return check_summary();
}
