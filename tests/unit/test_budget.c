// SPDX-License-Identifier: MIT
/* Unit tests of the rate budget, on a fake clock: nothing here sleeps on the real one. */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

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

/* A server cannot stop us for longer than RTK_BUDGET_PAUSE_MAX_S. */
static void test_pause_capped(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 100, 10);
	struct rtk_budget_stats st;

	REQUIRE(b);
	rtk_budget_pause(b, 86400);
	rtk_budget_get_stats(b, &st);
	CHECK_EQ_INT(st.paused_until_ns - atomic_load(&fc.now), RTK_BUDGET_PAUSE_MAX_S * SEC);
	advance(&fc, RTK_BUDGET_PAUSE_MAX_S * SEC - 1);
	CHECK(rtk_budget_is_paused(b));
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	advance(&fc, 1);
	CHECK(!rtk_budget_is_paused(b));
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	/* "0 left, reset in a day" is capped the same way. */
	rtk_budget_observe(b, 0, 86400);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	advance(&fc, RTK_BUDGET_PAUSE_MAX_S * SEC - 1);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	advance(&fc, 1);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	rtk_budget_free(b);
}

/* resume ends a pause (and a server's "0 left") at once, without the clock moving. */
static void test_resume(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 100, 10);

	REQUIRE(b);
	rtk_budget_resume(b); /* nothing to end: no-op */
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	rtk_budget_pause(b, 100);
	rtk_budget_observe(b, 0, 100);
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), -EAGAIN);
	rtk_budget_resume(b);
	CHECK(!rtk_budget_is_paused(b));
	CHECK_EQ_INT(rtk_budget_acquire(b, far(), true), 0);
	/* A later 429 pauses again. */
	rtk_budget_pause(b, 5);
	CHECK(rtk_budget_is_paused(b));
	rtk_budget_free(b);
}

/* resume wakes a waiter blocked on a pause; the fake clock never moves. */
static void test_resume_wakes_waiter(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 10, 10);
	/* Past the capped pause, so the waiter waits rather than being refused at once. */
	struct waiter w = {.b = b, .deadline = rtk_clock_mono_ns() + 400 * SEC, .rc = 1};
	struct timespec ts;
	pthread_t th;

	REQUIRE(b);
	rtk_budget_pause(b, 86400);
	REQUIRE(pthread_create(&th, NULL, wait_thread, &w) == 0);
	until_waiting(b, 1);
	rtk_budget_resume(b);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	/* Bounded: a resume that did not wake the waiter fails here instead of hanging. */
	CHECK_EQ_INT(pthread_timedjoin_np(th, NULL, &ts), 0);
	CHECK_EQ_INT(w.rc, 0);
	rtk_budget_free(b);
}

/* The last units of the window are kept for the requests recovery depends on. */
static void test_reserve(void)
{
	struct fake_clock fc;
	struct rtk_budget *b = new_budget(&fc, 40, 300);
	int i, plain = 0;

	for (i = 0; i < 40; i++)
		plain += rtk_budget_acquire(b, far(), true) == 0;
	CHECK_EQ_INT(plain, 38); /* max(2, 40 / 20) kept */
	CHECK_EQ_INT(rtk_budget_acquire_reserved(b, far(), true, true), 0);
	CHECK_EQ_INT(rtk_budget_acquire_reserved(b, far(), true, true), 0);
	CHECK_EQ_INT(rtk_budget_acquire_reserved(b, far(), true, true), -EAGAIN);
	rtk_budget_free(b);
	/* Small budgets keep nothing back. */
	b = new_budget(&fc, 5, 300);
	for (i = 0, plain = 0; i < 5; i++)
		plain += rtk_budget_acquire(b, far(), true) == 0;
	CHECK_EQ_INT(plain, 5);
	rtk_budget_free(b);
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
	RUN(test_pause_capped);
	RUN(test_resume);
	RUN(test_resume_wakes_waiter);
	RUN(test_reserve);
	return check_summary();
}
