/* SPDX-License-Identifier: MIT */
/*
 * metrics: the Prometheus text exposition format (version 0.0.4) of a snapshot of rtkfs's
 * counters, for .rtkfs/metrics and node_exporter's textfile collector.
 *
 * The renderer is pure: the caller fills a struct rtk_metrics_snapshot from the modules'
 * stats (api, cache, budget, tree) and renders it; nothing here takes a lock of theirs.
 * Names follow Prometheus practice: rtkfs_ prefix, base units in the name (_seconds,
 * _bytes), counters end in _total, every family has HELP and TYPE lines.
 */
#ifndef RTKFS_METRICS_H
#define RTKFS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rtkfs/api.h"
#include "rtkfs/buf.h"
#include "rtkfs/hist.h"

/* Status classes of API answers (the status_class label). */
enum rtk_metrics_class {
	RTK_METRICS_CLASS_NONE, /* no answer: connection error, timeout, interrupted */
	RTK_METRICS_CLASS_2XX,
	RTK_METRICS_CLASS_3XX,
	RTK_METRICS_CLASS_4XX,
	RTK_METRICS_CLASS_5XX,
	RTK_METRICS_CLASS__N,
};

/* Outcomes of writes (the result label of rtkfs_writes_total). */
enum rtk_metrics_write {
	RTK_METRICS_WRITE_OK,	   /* the API accepted it */
	RTK_METRICS_WRITE_INVALID, /* rejected before sending: bad value (EINVAL) */
	RTK_METRICS_WRITE_REFUSED, /* refused: read-only mount, budget, permission */
	RTK_METRICS_WRITE_FAILED,  /* sent, and the API or the network failed it */
	RTK_METRICS_WRITE__N,
};

struct rtk_metrics_snapshot {
	uint64_t requests[RTK_EP__N][RTK_METRICS_CLASS__N];    /* answers by endpoint, class */
	uint64_t cache_hits, cache_misses, cache_stale_serves; /* counters */
	uint64_t cache_listings, cache_bytes;		       /* gauges: held now */
	uint64_t budget_left, budget_limit, budget_window_s;   /* gauges */
	bool paused;   /* a 429's retry-after is running: nothing is sent */
	bool degraded; /* the API is failing: stale listings are served */
	uint64_t writes[RTK_METRICS_WRITE__N];
	int64_t last_error_time; /* wall clock, unix seconds; 0 when there was none */
	struct rtk_hist_snap latency;
};

/* The class of an HTTP status: 0 (no answer) and anything outside 200..599 is NONE. */
enum rtk_metrics_class rtk_metrics_class_of(long status);

/*
 * Append the exposition of s to out. Returns 0, or -EFBIG (out's cap) / -ENOMEM, in which
 * case out is left as it was before the call.
 */
int rtk_metrics_render(const struct rtk_metrics_snapshot *s, struct rtk_buf *out);

#endif
