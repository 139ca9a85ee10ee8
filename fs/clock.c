// SPDX-License-Identifier: MIT
/* clock: the real clocks (see clock.h). */
#include <time.h>

#include "rtkfs/clock.h"

uint64_t rtk_clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RTK_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

int rtk_clock_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t ca;
	int err = pthread_condattr_init(&ca);

	if (err)
		return err;
	err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
	return err;
}

int64_t rtk_clock_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}
