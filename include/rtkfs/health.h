/* SPDX-License-Identifier: MIT */
/*
 * health: degraded mode (DESIGN §3, SEMANTICS.md). After RTK_HEALTH_DEGRADED_AFTER network
 * failures in a row (no HTTP answer at all), listings are answered from the cache at once,
 * without a request, until a background probe gets an answer from the API again.
 *
 * The probe sends one cheap GET per interval: 2 s at first, backing off (with jitter) to
 * 30 s while nobody asks; an access while degraded asks for a probe at once when none was
 * sent in the last 2 s, so a user who keeps trying is back within about 2 s of the API's
 * return. A probe the rate budget cannot afford now waits for the next interval.
 *
 * Thread-safe. The probe thread is started by rtk_health_start (after daemonizing).
 */
#ifndef RTKFS_HEALTH_H
#define RTKFS_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

struct rtk_health;
struct rtk_api;

#define RTK_HEALTH_DEGRADED_AFTER 3
#define RTK_HEALTH_PROBE_MIN_NS (2 * 1000000000ull)
#define RTK_HEALTH_PROBE_MAX_NS (30 * 1000000000ull)

struct rtk_health_config {
	struct rtk_api *api; /* borrowed */
	const char *probe_path;  /* the GET the probe sends (copied) */
	const char *probe_query; /* its query, or NULL (copied) */
};

struct rtk_health_stats {
	bool degraded;
	unsigned failures;  /* network failures in a row */
	uint64_t probes;    /* probes sent */
	uint64_t entered;   /* times degraded mode was entered */
};

/* NULL on ENOMEM or when a pthread object cannot be set up. */
struct rtk_health *rtk_health_new(const struct rtk_health_config *cfg);
void rtk_health_free(struct rtk_health *h); /* NULL is a no-op; stops the probe */

/* Start the probe thread. 0 or -errno. */
int rtk_health_start(struct rtk_health *h);

/*
 * What one API call said of the network: err is its result, status the HTTP status of its
 * last attempt (0: no answer). Any answer ends degraded mode; a failure with no answer
 * counts towards it; -EINTR and -EAGAIN (the caller or the budget gave up) say nothing.
 */
void rtk_health_note(struct rtk_health *h, int err, long status);

/*
 * Should a fetch not even be tried? 0, or (in degraded mode) the last network error, at
 * once; an access while degraded also asks for a probe if none was sent for 2 s.
 */
int rtk_health_blocked(struct rtk_health *h);

bool rtk_health_is_degraded(struct rtk_health *h);
void rtk_health_get_stats(struct rtk_health *h, struct rtk_health_stats *st);

#endif
