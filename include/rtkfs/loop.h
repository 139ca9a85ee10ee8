/* SPDX-License-Identifier: MIT */
/*
 * loop: what a thread of the session loop (fs/session.c) is told before it waits.
 *
 * The session loop lets the thread that reads /dev/fuse answer the request it read itself and
 * go back to reading. A thread about to wait (for the network, another thread's fetch, the
 * request budget, the notifier) calls rtk_loop_waiting() first, so that another thread takes
 * over the reading meanwhile. Elsewhere (tests, the fuzzers, a thread of its own) it does
 * nothing. Forgetting to call it costs latency, never a hang: the loop's watchdog hands the
 * reading over when a request takes long.
 */
#ifndef RTKFS_LOOP_H
#define RTKFS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/* This thread is about to wait: if it is the session loop's reader, hand the reading over. */
void rtk_loop_waiting(void);

/* Set (or clear, fn NULL) what rtk_loop_waiting does on the calling thread. */
void rtk_loop_set_waiting(void (*fn)(void *arg), void *arg);

/* The session loop read a request / how many it has read (0 with libfuse's loops). */
void rtk_loop_count_request(void);
uint64_t rtk_loop_requests(void);

/* The reading was handed over: by a reader about to wait, or by the watchdog. */
void rtk_loop_count_handoff(bool by_watchdog);

/* Handoffs so far, in all and by the watchdog (stats.json "loop"). */
void rtk_loop_handoffs(uint64_t *all, uint64_t *by_watchdog);

#endif
