/* SPDX-License-Identifier: MIT */
/*
 * clock: monotonic time in nanoseconds, injectable so that tests of the cache and the rate
 * budget never sleep.
 */
#ifndef RTKFS_CLOCK_H
#define RTKFS_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

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

/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines (on the default
 * clock, a deadline from rtk_clock_mono_ns would not wait at all). 0 or an errno. */
int rtk_clock_cond_init(pthread_cond_t *c);

/* A deadline in ns (CLOCK_MONOTONIC) as a timespec, for pthread_cond_timedwait. */
static inline struct timespec rtk_clock_ts(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / RTK_NS_PER_SEC),
			      .tv_nsec = (long)(ns % RTK_NS_PER_SEC)};
	return ts;
}

/* Read a clock (a zeroed struct rtk_clock is the real one). */
static inline uint64_t rtk_clock_now(const struct rtk_clock *c)
{
	return c && c->now_ns ? c->now_ns(c->ctx) : rtk_clock_mono_ns();
}

#endif
