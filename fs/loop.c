// SPDX-License-Identifier: MIT
#include <stddef.h>

#include "rtkfs/loop.h"

static _Thread_local void (*waiting_fn)(void *arg);
static _Thread_local void *waiting_arg;

void rtk_loop_waiting(void)
{
	if (waiting_fn)
		waiting_fn(waiting_arg);
}

void rtk_loop_set_waiting(void (*fn)(void *arg), void *arg)
{
	waiting_fn = fn;
	waiting_arg = arg;
}
