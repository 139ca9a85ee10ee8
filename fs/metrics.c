// SPDX-License-Identifier: MIT
/*
 * metrics: Prometheus text exposition of a snapshot.
 *
 * Every family is written in full every time (zero series included), so a scraper sees
 * each series from the first scrape on and rate() has no gaps. The format:
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>

#include "rtkfs/metrics.h"

static const char *const class_label[RTK_METRICS_CLASS__N] = {
    [RTK_METRICS_CLASS_NONE] = "none", [RTK_METRICS_CLASS_2XX] = "2xx",
    [RTK_METRICS_CLASS_3XX] = "3xx",   [RTK_METRICS_CLASS_4XX] = "4xx",
    [RTK_METRICS_CLASS_5XX] = "5xx",
};

static const char *const write_label[RTK_METRICS_WRITE__N] = {
    [RTK_METRICS_WRITE_OK] = "ok",
    [RTK_METRICS_WRITE_INVALID] = "invalid",
    [RTK_METRICS_WRITE_REFUSED] = "refused",
    [RTK_METRICS_WRITE_FAILED] = "failed",
};

enum rtk_metrics_class rtk_metrics_class_of(long status)
{
	if (status >= 200 && status < 300)
		return RTK_METRICS_CLASS_2XX;
	if (status >= 300 && status < 400)
		return RTK_METRICS_CLASS_3XX;
	if (status >= 400 && status < 500)
		return RTK_METRICS_CLASS_4XX;
	if (status >= 500 && status < 600)
		return RTK_METRICS_CLASS_5XX;
	return RTK_METRICS_CLASS_NONE;
}

/* The HELP and TYPE lines of a family. */
static int family(struct rtk_buf *out, const char *name, const char *type, const char *help)
{
	return rtk_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one series without labels. */
static int single(struct rtk_buf *out, const char *name, const char *type, const char *help,
		  uint64_t value)
{
	int rc = family(out, name, type, help);

	return rc ? rc : rtk_buf_printf(out, "%s %" PRIu64 "\n", name, value);
}

static int render_requests(const struct rtk_metrics_snapshot *s, struct rtk_buf *out)
{
	static const char name[] = "rtkfs_api_requests_total";
	int rc = family(out, name, "counter",
			"API requests sent, by endpoint and by status class of the answer "
			"(none: no answer).");

	for (int ep = 0; !rc && ep < RTK_EP__N; ep++)
		for (int c = 0; !rc && c < RTK_METRICS_CLASS__N; c++)
			rc = rtk_buf_printf(out,
					    "%s{endpoint=\"%s\",status_class=\"%s\"} %" PRIu64 "\n",
					    name, rtk_api_endpoint_name((enum rtk_api_endpoint)ep),
					    class_label[c], s->requests[ep][c]);
	return rc;
}

static int render_cache(const struct rtk_metrics_snapshot *s, struct rtk_buf *out)
{
	int rc = single(out, "rtkfs_cache_hits_total", "counter",
			"Reads answered from a fresh cached listing.", s->cache_hits);

	if (!rc)
		rc = single(out, "rtkfs_cache_misses_total", "counter",
			    "Reads that had to fetch a listing from the API.", s->cache_misses);
	if (!rc)
		rc = single(out, "rtkfs_cache_stale_serves_total", "counter",
			    "Reads answered from an expired listing because the API failed.",
			    s->cache_stale_serves);
	if (!rc)
		rc = single(out, "rtkfs_cache_listings", "gauge", "Listings held in the cache.",
			    s->cache_listings);
	if (!rc)
		rc = single(out, "rtkfs_cache_bytes", "gauge",
			    "Bytes of listings held in the cache.", s->cache_bytes);
	return rc;
}

static int render_state(const struct rtk_metrics_snapshot *s, struct rtk_buf *out)
{
	int rc = single(out, "rtkfs_rate_budget_remaining_requests", "gauge",
			"API requests the rate budget allows now in its window.", s->budget_left);

	if (!rc)
		rc = single(out, "rtkfs_rate_budget_limit_requests", "gauge",
			    "API requests the rate budget allows per window.", s->budget_limit);
	if (!rc)
		rc = single(out, "rtkfs_rate_budget_window_seconds", "gauge",
			    "Length of the rate budget's window.", s->budget_window_s);
	if (!rc)
		rc = single(out, "rtkfs_api_paused", "gauge",
			    "1 while the API's retry-after pause runs (nothing is sent), else 0.",
			    s->paused);
	if (!rc)
		rc = single(out, "rtkfs_degraded", "gauge",
			    "1 while the API is failing and stale listings are served, else 0.",
			    s->degraded);
	if (!rc)
		rc = family(out, "rtkfs_last_error_timestamp_seconds", "gauge",
			    "Unix time of the last failed API request, 0 when none failed.");
	if (!rc)
		rc = rtk_buf_printf(out, "rtkfs_last_error_timestamp_seconds %" PRId64 "\n",
				    s->last_error_time > 0 ? s->last_error_time : 0);
	return rc;
}

static int render_writes(const struct rtk_metrics_snapshot *s, struct rtk_buf *out)
{
	int rc = family(out, "rtkfs_writes_total", "counter",
			"Writes to the tree by result: ok, invalid (bad value, not sent), refused "
			"(not allowed, not sent), failed (the API or the network failed it).");

	for (int r = 0; !rc && r < RTK_METRICS_WRITE__N; r++)
		rc = rtk_buf_printf(out, "rtkfs_writes_total{result=\"%s\"} %" PRIu64 "\n",
				    write_label[r], s->writes[r]);
	return rc;
}

static int render_latency(const struct rtk_hist_snap *h, struct rtk_buf *out)
{
	static const char name[] = "rtkfs_api_request_duration_seconds";
	uint64_t cum = 0;
	int rc = family(out, name, "histogram",
			"Time from sending an API request to its answer, retries included.");

	for (int i = 0; !rc && i < RTK_HIST_BOUNDS; i++) {
		cum += h->slots[i];
		rc = rtk_buf_printf(out, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
				    rtk_hist_bound_label((unsigned)i),
				    cum);
	}
	cum += h->slots[RTK_HIST_BOUNDS];
	if (!rc)
		rc = rtk_buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	if (!rc)
		rc = rtk_buf_printf(out, "%s_sum %" PRIu64 ".%09" PRIu64 "\n", name,
				    h->sum_ns / 1000000000u, h->sum_ns % 1000000000u);
	if (!rc)
		rc = rtk_buf_printf(out, "%s_count %" PRIu64 "\n", name, cum);
	return rc;
}

int rtk_metrics_render(const struct rtk_metrics_snapshot *s, struct rtk_buf *out)
{
	size_t start = out->len;
	int rc = render_requests(s, out);

	if (!rc)
		rc = render_latency(&s->latency, out);
	if (!rc)
		rc = render_cache(s, out);
	if (!rc)
		rc = render_state(s, out);
	if (!rc)
		rc = render_writes(s, out);
	if (rc && out->data) {
		/* All or nothing: drop what this call appended. */
		out->len = start;
		out->data[start] = '\0';
	}
	return rc;
}
