/* SPDX-License-Identifier: MIT */
/*
 * clock: monotonic time in nanoseconds, injectable so that tests of the cache and the rate
 * budget never sleep.
 */
#ifndef RTKFS_CLOCK_H
#define RTKFS_CLOCK_H

#include <stdint.h>

#define RTK_NS_PER_SEC 1000000000ull
#define RTK_NS_PER_MS 1000000ull

struct rtk_clock {
	uint64_t (*now_ns)(void *ctx); /* monotonic; NULL means the real CLOCK_MONOTONIC */
	void *ctx;
};

/* The real CLOCK_MONOTONIC, in ns. Deadlines are always on this clock. */
uint64_t rtk_clock_mono_ns(void);

/* The wall clock (CLOCK_REALTIME), in whole seconds since the epoch: for HTTP dates and for
 * the time of events shown to users, never for deadlines. */
int64_t rtk_clock_wall_s(void);

/* Read a clock (a zeroed struct rtk_clock is the real one). */
static inline uint64_t rtk_clock_now(const struct rtk_clock *c)
{
	return c && c->now_ns ? c->now_ns(c->ctx) : rtk_clock_mono_ns();
}

#endif
