/* SPDX-License-Identifier: MIT */
/*
 * op: what one request is allowed: a deadline (CLOCK_MONOTONIC) and a way to notice that its
 * caller went away (Ctrl-C). Every namespace call that may reach the API takes one.
 */
#ifndef RTKFS_OP_H
#define RTKFS_OP_H

#include <stdbool.h>
#include <stdint.h>

struct rtk_op {
	uint64_t deadline_ns;
	bool (*interrupted)(void *ctx); /* may be NULL */
	void *interrupted_ctx;
};

#endif
