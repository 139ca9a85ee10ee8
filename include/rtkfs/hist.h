/* SPDX-License-Identifier: MIT */
/*
 * hist: a latency histogram safe to observe from any number of threads at once (relaxed
 * atomics, no lock): the API client keeps one (a request's time), metrics renders it. The
 * buckets are Prometheus's defaults, 5 ms to 10 s, then +Inf. Zeroed memory is an empty
 * histogram.
 */
#ifndef RTKFS_HIST_H
#define RTKFS_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define RTK_HIST_BOUNDS 11
#define RTK_HIST_SLOTS (RTK_HIST_BOUNDS + 1)

struct rtk_hist {
	_Atomic uint64_t slots[RTK_HIST_SLOTS]; /* per bucket, not cumulative */
	_Atomic uint64_t sum_ns;
};

/* A plain copy of a histogram, for a snapshot. */
struct rtk_hist_snap {
	uint64_t slots[RTK_HIST_SLOTS]; /* per bucket; the last one is above 10 s */
	uint64_t sum_ns;
};

/* Empty the histogram (same as zeroed memory). Not concurrent with observe. */
void rtk_hist_init(struct rtk_hist *h);

/* Count one observation of ns nanoseconds. Thread-safe, lock-free, never fails. */
void rtk_hist_observe(struct rtk_hist *h, uint64_t ns);

/* Copy the histogram into out. Thread-safe; observations under way may or may not be in. */
void rtk_hist_read(const struct rtk_hist *h, struct rtk_hist_snap *out);

/* Bucket i's upper bound (i < RTK_HIST_BOUNDS) as a Prometheus le label ("0.005"...). */
const char *rtk_hist_bound_label(unsigned i);

#endif
