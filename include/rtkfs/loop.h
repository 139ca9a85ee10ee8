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

/* This thread is about to wait: if it is the session loop's reader, hand the reading over. */
void rtk_loop_waiting(void);

/* Set (or clear, fn NULL) what rtk_loop_waiting does on the calling thread. */
void rtk_loop_set_waiting(void (*fn)(void *arg), void *arg);

#endif
