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

int64_t rtk_clock_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}
