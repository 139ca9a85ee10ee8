// SPDX-License-Identifier: MIT
#include <stdatomic.h>
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

static atomic_uint_fast64_t handoffs, by_dog, requests;

void rtk_loop_count_request(void)
{
	atomic_fetch_add_explicit(&requests, 1, memory_order_relaxed);
}

uint64_t rtk_loop_requests(void)
{
	return atomic_load_explicit(&requests, memory_order_relaxed);
}

void rtk_loop_count_handoff(bool by_watchdog)
{
	atomic_fetch_add_explicit(&handoffs, 1, memory_order_relaxed);
	if (by_watchdog)
		atomic_fetch_add_explicit(&by_dog, 1, memory_order_relaxed);
}

void rtk_loop_handoffs(uint64_t *all, uint64_t *by_watchdog)
{
	*all = atomic_load_explicit(&handoffs, memory_order_relaxed);
	*by_watchdog = atomic_load_explicit(&by_dog, memory_order_relaxed);
}
