/* SPDX-License-Identifier: MIT */
/*
 * health: degraded mode (DESIGN §3, SEMANTICS.md). After RTK_HEALTH_DEGRADED_AFTER attempts
 * in a row that got no HTTP answer at all (one GET and its retries is enough), listings are
 * answered from the cache at once, without a request, until a probe gets an answer again.
 *
 * The probe sends one cheap GET, one attempt, per interval: 2 s at first, backing off (with
 * jitter) to 30 s while nobody asks. An access while degraded sends a probe at once when
 * none went out for RTK_HEALTH_KICK_NS, and waits (up to 1 s) for its answer: a user who
 * keeps trying is back within about 2 s of the API's return, and an outage costs at most one
 * request per RTK_HEALTH_KICK_NS however hard it is tried. The probe, and every request for
 * RTK_HEALTH_RECOVERY_NS after degraded mode ends, may use the rate budget's reserve, so
 * recovery never waits on a window the outage used up. A probe the budget refuses waits for
 * the next interval.
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
#define RTK_HEALTH_KICK_NS (1900 * 1000000ull)
#define RTK_HEALTH_KICK_WAIT_NS (1000 * 1000000ull)
#define RTK_HEALTH_RECOVERY_NS (10 * 1000000000ull)

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
 * last attempt (0: no answer), attempts how many requests it sent. Any answer ends degraded
 * mode; a failure with no answer counts its attempts towards it; -EINTR and -EAGAIN (the
 * caller or the budget gave up) say nothing.
 */
void rtk_health_note(struct rtk_health *h, int err, long status, unsigned attempts);

/*
 * Should a fetch not even be tried? 0, or (in degraded mode) the last network error. An
 * access while degraded sends a probe if none went out for RTK_HEALTH_KICK_NS and waits for
 * its answer, up to RTK_HEALTH_KICK_WAIT_NS and never past deadline_ns: 0 if it ended
 * degraded mode.
 */
int rtk_health_blocked(struct rtk_health *h, uint64_t deadline_ns);

/* Did degraded mode end less than RTK_HEALTH_RECOVERY_NS ago (or is it on)? Requests may
 * then use the rate budget's reserve. */
bool rtk_health_recovering(struct rtk_health *h);

bool rtk_health_is_degraded(struct rtk_health *h);
void rtk_health_get_stats(struct rtk_health *h, struct rtk_health_stats *st);

#endif
