// SPDX-License-Identifier: MIT
/*
 * health: degraded mode after three network failures; the probe sends one request per
 * interval (never back to back, whatever the callers do), and one answer ends it.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "check.h"
#include "fake_api.h"
#include "rtkfs/clock.h"
#include "rtkfs/health.h"
#include "rtkfs/log.h"

#define PROBE "/accounts"

/* Wait (polling, with a deadline) until the fake saw n probes. */
static bool wait_probes(unsigned n, uint64_t within_ns)
{
	uint64_t until = rtk_clock_mono_ns() + within_ns;

	while (fake_api_count("GET", PROBE) < n) {
		if (rtk_clock_mono_ns() > until)
			return false;
		sched_yield();
	}
	return true;
}

static void test_degraded_and_back(void)
{
	struct rtk_health_config cfg = {.api = fake_api(), .probe_path = PROBE,
					.probe_query = "page=1&per_page=1"};
	struct rtk_health *h;
	struct rtk_health_stats st;
	uint64_t t0;
	int i;

	fake_api_reset();
	fake_api_answer("GET", PROBE, NULL, 0, NULL, -ECONNREFUSED, 0);
	h = rtk_health_new(&cfg);
	CHECK(h != NULL);
	if (!h)
		return;
	CHECK_EQ_INT(rtk_health_start(h), 0);
	CHECK_EQ_INT(rtk_health_blocked(h), 0);
	rtk_health_note(h, -ECONNREFUSED, 0);
	rtk_health_note(h, -EAGAIN, 0); /* the budget said wait: nothing learnt */
	rtk_health_note(h, -ECONNREFUSED, 0);
	CHECK(!rtk_health_is_degraded(h));
	rtk_health_note(h, -ETIMEDOUT, 0);
	CHECK(rtk_health_is_degraded(h));
	CHECK_EQ_INT(rtk_health_blocked(h), -ETIMEDOUT);

	/* Callers hammering while degraded cause at most one probe per 2 s. */
	t0 = rtk_clock_mono_ns();
	CHECK(wait_probes(1, 5 * RTK_NS_PER_SEC));
	for (i = 0; i < 100000 && rtk_clock_mono_ns() - t0 < RTK_HEALTH_PROBE_MIN_NS / 2; i++)
		rtk_health_blocked(h);
	CHECK_EQ_INT(fake_api_count("GET", PROBE), 1);

	/* The API answers again (any HTTP answer will do): the next probe ends degraded mode. */
	fake_api_reset();
	fake_api_answer("GET", PROBE, NULL, 403, "{\"success\": false}", 0, 0);
	while (rtk_health_is_degraded(h) && rtk_clock_mono_ns() - t0 < 10 * RTK_NS_PER_SEC)
		rtk_health_blocked(h); /* a user who keeps trying */
	CHECK(!rtk_health_is_degraded(h));
	CHECK(rtk_clock_mono_ns() - t0 < 5 * RTK_NS_PER_SEC);
	rtk_health_get_stats(h, &st);
	CHECK_EQ_INT(st.entered, 1);
	CHECK(st.probes >= 2 && st.probes <= 3);
	CHECK_EQ_INT(rtk_health_blocked(h), 0);
	rtk_health_free(h);
	fake_api_reset();
}

int main(void)
{
	rtk_log_init(RTK_LOG_ERR, false);
	RUN(test_degraded_and_back);
	return check_summary();
}
