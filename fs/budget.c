// SPDX-License-Identifier: MIT
/*
 * budget: the client-side rate budget (DESIGN §4).
 *
 * Three limits, all computed on the injected clock:
 *  - our own sliding window: a ring of the send times of the last `limit` requests; a new
 *    request may go when the oldest of them has left the window;
 *  - the server's word: after it said "R left, reset in T s" at t0, at most R more requests
 *    go out before t0 + T;
 *  - a 429 pause: nothing goes out until it ends.
 * The server's word and pauses last at most RTK_BUDGET_PAUSE_MAX_S; rtk_budget_resume ends
 * them at once.
 *
 * Waiting: the time the budget needs is computed on the injected clock; the real wait is on
 * CLOCK_MONOTONIC (pthread_cond_timedwait), bounded by min(deadline, now + needed), and every
 * wakeup re-checks on the injected clock. A wait that would end after the caller's deadline
 * is refused at once with -EAGAIN rather than slept through uselessly. With an injected
 * clock the real wait is cut into short slices so that a test advancing its clock sees the
 * waiter react without any real sleeping of its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtkfs/budget.h"
#include "rtkfs/clock.h"
#include "rtkfs/loop.h"

/* What the server says is clamped to this (one day). */
#define MAX_HEADER_VALUE 86400L
/* Real-time slice of a wait when the clock is injected (tests). */
#define FAKE_CLOCK_SLICE_NS (5 * RTK_NS_PER_MS)

struct rtk_budget {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	struct rtk_clock clock;
	unsigned limit, window_s;
	uint64_t window_ns;
	uint64_t *ring; /* send times, oldest at head */
	unsigned head, count;
	/* What the server said last: server_left more requests until server_reset_ns. */
	bool server_known;
	long server_left;
	uint64_t server_reset_ns;
	uint64_t paused_until_ns; /* 0: no pause */
	uint64_t waited, refused, pauses;
	struct rtk_budget_remote remote; /* set before use, then read-only */
};

struct rtk_budget *rtk_budget_new(unsigned limit, unsigned window_s, struct rtk_clock clock)
{
	struct rtk_budget *b;

	if (!limit || !window_s)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->ring = calloc(limit, sizeof(*b->ring));
	if (!b->ring)
		goto free_b;
	if (rtk_clock_cond_init(&b->cond))
		goto free_ring;
	if (pthread_mutex_init(&b->mu, NULL))
		goto destroy_cond;
	b->clock = clock;
	b->limit = limit;
	b->window_s = window_s;
	b->window_ns = (uint64_t)window_s * RTK_NS_PER_SEC;
	return b;

destroy_cond:
	pthread_cond_destroy(&b->cond);
free_ring:
	free(b->ring);
free_b:
	free(b);
	return NULL;
}

void rtk_budget_free(struct rtk_budget *b)
{
	if (!b)
		return;
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->mu);
	free(b->ring);
	free(b);
}

/* Forget what has left the window or expired. Called with the lock held. */
static void expire(struct rtk_budget *b, uint64_t now)
{
	while (b->count && b->ring[b->head] + b->window_ns <= now) {
		b->head = (b->head + 1) % b->limit;
		b->count--;
	}
	if (b->server_known && now >= b->server_reset_ns)
		b->server_known = false;
	if (b->paused_until_ns && now >= b->paused_until_ns)
		b->paused_until_ns = 0;
}

/* The units only reserved acquires may take (see budget.h). */
static unsigned reserve_of(unsigned limit)
{
	return limit < 8 ? 0 : limit / 20 > 2 ? limit / 20 : 2;
}

/*
 * Nanoseconds (on the injected clock) until one unit is free; 0 when one is. A caller
 * without the reserve leaves the last units of our own window alone (what the server says
 * is left is the server's to give). Lock held.
 */
static uint64_t need_ns(struct rtk_budget *b, uint64_t now, bool reserved)
{
	unsigned keep = reserved ? 0 : reserve_of(b->limit);
	uint64_t need = 0, t;

	expire(b, now);
	if (b->paused_until_ns > now)
		need = b->paused_until_ns - now;
	if (b->count + keep >= b->limit) {
		/* When the unit that frees this caller's room leaves the window. */
		t = b->ring[(b->head + (b->count + keep - b->limit)) % b->limit] + b->window_ns;
		t = t > now ? t - now : 1;
		if (t > need)
			need = t;
	}
	if (b->server_known && b->server_left <= 0) {
		t = b->server_reset_ns - now;
		if (t > need)
			need = t;
	}
	return need;
}

static void take(struct rtk_budget *b, uint64_t now)
{
	b->ring[(b->head + b->count) % b->limit] = now;
	b->count++;
	if (b->server_known && b->server_left > 0)
		b->server_left--;
}


/*
 * A unit of the remote window too (see rtk_budget_set_remote), waiting as for our own;
 * a remote that cannot answer lets the request go. Bounded by the deadline: each round
 * sleeps at least 1 ms and a wait past the deadline is refused.
 */
static int remote_acquire(struct rtk_budget *b, uint64_t deadline_ns, bool nowait)
{
	uint64_t wait, now;
	struct timespec ts;
	bool waited = false;

	while (b->remote.take && b->remote.take(b->remote.ctx, b->limit, b->window_s, &wait) == 0 &&
	       wait) {
		now = rtk_clock_mono_ns();
		if (nowait || now >= deadline_ns || wait > deadline_ns - now) {
			pthread_mutex_lock(&b->mu);
			b->refused++;
			pthread_mutex_unlock(&b->mu);
			return -EAGAIN;
		}
		if (!waited) {
			waited = true;
			pthread_mutex_lock(&b->mu);
			b->waited++;
			pthread_mutex_unlock(&b->mu);
		}
		ts = rtk_clock_ts(wait);
		nanosleep(&ts, NULL);
	}
	return 0;
}

void rtk_budget_set_remote(struct rtk_budget *b, const struct rtk_budget_remote *r)
{
	pthread_mutex_lock(&b->mu);
	if (r)
		b->remote = *r;
	else
		memset(&b->remote, 0, sizeof(b->remote));
	pthread_mutex_unlock(&b->mu);
}

int rtk_budget_acquire(struct rtk_budget *b, uint64_t deadline_ns, bool nowait)
{
	return rtk_budget_acquire_reserved(b, deadline_ns, nowait, false);
}

int rtk_budget_acquire_reserved(struct rtk_budget *b, uint64_t deadline_ns, bool nowait,
				bool reserved)
{
	bool waited = false;
	uint64_t need, real_now, until;
	struct timespec ts;
	int err = 0;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		need = need_ns(b, rtk_clock_now(&b->clock), reserved);
		if (!need) {
			take(b, rtk_clock_now(&b->clock));
			break;
		}
		real_now = rtk_clock_mono_ns();
		/* Refuse at once what cannot be had before the deadline. */
		if (nowait || real_now >= deadline_ns || need > deadline_ns - real_now) {
			b->refused++;
			err = -EAGAIN;
			break;
		}
		if (!waited) {
			waited = true;
			b->waited++;
		}
		if (b->clock.now_ns && need > FAKE_CLOCK_SLICE_NS)
			need = FAKE_CLOCK_SLICE_NS;
		until = real_now + need;
		if (until > deadline_ns)
			until = deadline_ns;
		ts = rtk_clock_ts(until);
		rtk_loop_waiting();
		/* ETIMEDOUT or a spurious wakeup: either way, look again. */
		pthread_cond_timedwait(&b->cond, &b->mu, &ts);
	}
	pthread_mutex_unlock(&b->mu);
	return err ? err : remote_acquire(b, deadline_ns, nowait);
}

void rtk_budget_observe(struct rtk_budget *b, long remaining, long reset_s)
{
	uint64_t now;

	if (remaining < 0)
		return; /* a reset time alone limits nothing */
	if (remaining > MAX_HEADER_VALUE)
		remaining = MAX_HEADER_VALUE;
	if (reset_s > RTK_BUDGET_PAUSE_MAX_S)
		reset_s = RTK_BUDGET_PAUSE_MAX_S;
	pthread_mutex_lock(&b->mu);
	now = rtk_clock_now(&b->clock);
	b->server_known = true;
	b->server_left = remaining;
	/* No reset given: assume the server's window is as long as ours. */
	b->server_reset_ns =
	    now + (reset_s >= 0 ? (uint64_t)reset_s * RTK_NS_PER_SEC : b->window_ns);
	/* The server may have given more room than we thought: let waiters look again. */
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->mu);
}

void rtk_budget_pause(struct rtk_budget *b, unsigned retry_after_s)
{
	uint64_t until;

	if (retry_after_s < 1)
		retry_after_s = 1;
	if (retry_after_s > RTK_BUDGET_PAUSE_MAX_S)
		retry_after_s = RTK_BUDGET_PAUSE_MAX_S;
	pthread_mutex_lock(&b->mu);
	until = rtk_clock_now(&b->clock) + (uint64_t)retry_after_s * RTK_NS_PER_SEC;
	if (until > b->paused_until_ns)
		b->paused_until_ns = until;
	b->pauses++;
	pthread_mutex_unlock(&b->mu);
	if (b->remote.pause)
		b->remote.pause(b->remote.ctx, retry_after_s);
}

void rtk_budget_resume(struct rtk_budget *b)
{
	pthread_mutex_lock(&b->mu);
	b->paused_until_ns = 0;
	/* A server's "0 left until ..." is a pause too (Ratelimit: r=0;t=86400). */
	if (b->server_known && b->server_left <= 0)
		b->server_known = false;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->mu);
}

bool rtk_budget_is_paused(struct rtk_budget *b)
{
	bool paused;

	pthread_mutex_lock(&b->mu);
	expire(b, rtk_clock_now(&b->clock));
	paused = b->paused_until_ns != 0;
	pthread_mutex_unlock(&b->mu);
	return paused;
}

void rtk_budget_get_stats(struct rtk_budget *b, struct rtk_budget_stats *st)
{
	unsigned left;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&b->mu);
	expire(b, rtk_clock_now(&b->clock));
	left = b->limit - b->count;
	if (b->server_known && b->server_left < (long)left)
		left = b->server_left > 0 ? (unsigned)b->server_left : 0;
	st->limit = b->limit;
	st->window_s = b->window_s;
	st->left = left;
	st->waited = b->waited;
	st->refused = b->refused;
	st->pauses = b->pauses;
	st->paused_until_ns = b->paused_until_ns;
	pthread_mutex_unlock(&b->mu);
}
