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

static uint64_t far(void)
{
	return rtk_clock_mono_ns() + 30 * RTK_NS_PER_SEC;
}

/* One GET that failed all its attempts is enough to go degraded. */
static void test_attempts_count(void)
{
	struct rtk_health_config cfg = {.api = fake_api(), .probe_path = PROBE};
	struct rtk_health *h = rtk_health_new(&cfg);

	CHECK(h != NULL);
	if (!h)
		return;
	rtk_health_note(h, -EIO, 0, 4);
	CHECK(rtk_health_is_degraded(h));
	CHECK_EQ_INT(rtk_health_blocked(h, far()), -EIO); /* no probe thread: at once */
	rtk_health_note(h, -ENOENT, 404, 1);
	CHECK(!rtk_health_is_degraded(h));
	rtk_health_free(h);
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
	CHECK_EQ_INT(rtk_health_blocked(h, far()), 0);
	rtk_health_note(h, -ECONNREFUSED, 0, 1);
	rtk_health_note(h, -EAGAIN, 0, 1); /* the budget said wait: nothing learnt */
	rtk_health_note(h, -ECONNREFUSED, 0, 1);
	CHECK(!rtk_health_is_degraded(h));
	CHECK(!rtk_health_recovering(h));
	rtk_health_note(h, -ETIMEDOUT, 0, 1);
	CHECK(rtk_health_is_degraded(h));
	CHECK(rtk_health_recovering(h));

	/* The failures just seen count as a probe: callers hammering now send nothing... */
	t0 = rtk_clock_mono_ns();
	CHECK_EQ_INT(rtk_health_blocked(h, far()), -ETIMEDOUT);
	for (i = 0; i < 100000 && rtk_clock_mono_ns() - t0 < RTK_HEALTH_KICK_NS / 2; i++)
		rtk_health_blocked(h, far());
	CHECK_EQ_INT(fake_api_count("GET", PROBE), 0);
	/* ...and one probe per RTK_HEALTH_KICK_NS after that, whose answer the access waits for. */
	while (fake_api_count("GET", PROBE) == 0 &&
	       rtk_clock_mono_ns() - t0 < RTK_HEALTH_KICK_NS + RTK_NS_PER_SEC)
		CHECK(rtk_health_blocked(h, far()) != 0);
	CHECK_EQ_INT(fake_api_count("GET", PROBE), 1);
	CHECK(rtk_clock_mono_ns() - t0 >= RTK_HEALTH_KICK_NS - 10 * RTK_NS_PER_MS);
	t0 = rtk_clock_mono_ns();

	/* The API answers again (any HTTP answer will do): the next probe ends degraded mode. */
	fake_api_reset();
	fake_api_answer("GET", PROBE, NULL, 403, "{\"success\": false}", 0, 0);
	while (rtk_health_blocked(h, far()) != 0 && rtk_clock_mono_ns() - t0 < 10 * RTK_NS_PER_SEC)
		; /* a user who keeps trying: the access that sends the probe gets its answer */
	CHECK(!rtk_health_is_degraded(h));
	CHECK(rtk_clock_mono_ns() - t0 < RTK_HEALTH_KICK_NS + RTK_NS_PER_SEC);
	CHECK(rtk_health_recovering(h)); /* for a while after, requests may use the reserve */
	rtk_health_get_stats(h, &st);
	CHECK_EQ_INT(st.entered, 1);
	CHECK(st.probes >= 2 && st.probes <= 3);
	CHECK_EQ_INT(fake_api_count("GET", PROBE), 1); /* since the reset: the one that answered */
	CHECK_EQ_INT(rtk_health_blocked(h, far()), 0);
	rtk_health_free(h);
	fake_api_reset();
}

int main(void)
{
	rtk_log_init(RTK_LOG_ERR, false);
	RUN(test_attempts_count);
	RUN(test_degraded_and_back);
	return check_summary();
}
