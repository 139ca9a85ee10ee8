/* SPDX-License-Identifier: MIT */
/*
 * budget: the client-side rate budget (DESIGN §4). Every request the API client sends takes
 * one unit first; the budget allows at most `limit` requests in any sliding `window`, keeps
 * in step with what the server reports (Ratelimit / x-ratelimit-* headers), and is paused
 * entirely after a 429 until the server's retry-after has passed.
 *
 * Thread-safe. Time comes from an injectable clock, waiting is bounded by the caller's
 * deadline (CLOCK_MONOTONIC), so tests never sleep on the real clock.
 */
#ifndef RTKFS_BUDGET_H
#define RTKFS_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "rtkfs/clock.h"

struct rtk_budget;

/*
 * The longest a server can stop us: a pause (429 with retry-after, or Ratelimit r=0;t=...)
 * and a server's "reset in T s" are capped at 300 s, so a hostile or confused server saying
 * "come back tomorrow" costs at most five minutes (and `echo resume > .rtkfs/ctl` ends it at
 * once, see rtk_budget_resume).
 */
#define RTK_BUDGET_PAUSE_MAX_S 300

struct rtk_budget_stats {
	unsigned limit, window_s;
	unsigned left;        /* units left in the current window */
	uint64_t waited;      /* acquires that had to wait */
	uint64_t refused;     /* acquires that hit their deadline */
	uint64_t pauses;      /* 429s seen */
	uint64_t paused_until_ns; /* 0 when not paused (clock time) */
};

/* limit requests per window_s seconds. NULL on ENOMEM or a zero argument. */
struct rtk_budget *rtk_budget_new(unsigned limit, unsigned window_s, struct rtk_clock clock);
void rtk_budget_free(struct rtk_budget *b); /* NULL is a no-op */

/*
 * Take one unit, waiting (without the lock) while the window is full or a 429 pause runs,
 * but never past deadline_ns: then -EAGAIN. With nowait, -EAGAIN at once instead of waiting.
 */
int rtk_budget_acquire(struct rtk_budget *b, uint64_t deadline_ns, bool nowait);

/*
 * The same, for the requests that recovery depends on (the degraded-mode probe and the first
 * requests after it): with reserved, the last max(2, limit / 20) units of the window (none
 * for a limit under 8) may be taken too; plain acquires leave them alone, so that an outage
 * that used up the window never keeps the mount from noticing that the API is back.
 */
int rtk_budget_acquire_reserved(struct rtk_budget *b, uint64_t deadline_ns, bool nowait,
				bool reserved);

/*
 * What the server said in a response: remaining units and seconds until its window resets
 * (either may be negative for "not given"; reset_s is capped at RTK_BUDGET_PAUSE_MAX_S). The
 * budget never allows more than the server says is left.
 */
void rtk_budget_observe(struct rtk_budget *b, long remaining, long reset_s);

/*
 * A 429: no request goes out for retry_after_s seconds (at least 1, at most
 * RTK_BUDGET_PAUSE_MAX_S). Wakes no one early.
 */
void rtk_budget_pause(struct rtk_budget *b, unsigned retry_after_s);

/*
 * End a pause at once (a 429's, and a server's "0 left until ...") and wake every waiter;
 * the next acquire may go if our own window has room.
 */
void rtk_budget_resume(struct rtk_budget *b);

/* Is a 429 pause running now? */
bool rtk_budget_is_paused(struct rtk_budget *b);

void rtk_budget_get_stats(struct rtk_budget *b, struct rtk_budget_stats *st);

/*
 * A window kept elsewhere too (shared.h: one window and one 429 pause for every mount of an
 * account). After a unit of our own window is taken, take() is asked for one of the remote
 * window (it sets *wait_ns to the time until one is free, 0 when taken, and returns nonzero
 * when it cannot say: then our own window alone decides); pause() is told of every 429.
 * Set it before the budget is used; NULL removes it.
 */
struct rtk_budget_remote {
	int (*take)(void *ctx, unsigned limit, unsigned window_s, uint64_t *wait_ns);
	void (*pause)(void *ctx, unsigned seconds);
	void *ctx;
};

void rtk_budget_set_remote(struct rtk_budget *b, const struct rtk_budget_remote *r);

#endif
