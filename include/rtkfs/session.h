/* SPDX-License-Identifier: MIT */
/*
 * session: the FUSE session loop of the daemon (fs/session.c): worker threads taking turns
 * at reading /dev/fuse, the reader looking for spin_ns after each request before it sleeps.
 */
#ifndef RTKFS_SESSION_H
#define RTKFS_SESSION_H

#include <stdbool.h>
#include <stdint.h>

struct fuse_session;

struct rtk_session_config {
	unsigned max_threads; /* workers at most (a new one when the reader is about to wait) */
	uint64_t spin_ns;     /* how long the reader looks for the next request before sleeping */
	/* If set and true, the reader sleeps at once instead of looking (another thread of the
	 * daemon has work for the CPU). */
	bool (*busy)(void *ctx);
	/* If set: work the reader does between requests while it looks (1 did some, 0 none,
	 * -EAGAIN some soon), and whether a reader is there to do it (set_helper: false before
	 * it sleeps or hands the reading over, true again after). */
	int (*help)(void *ctx);
	void (*set_helper)(void *ctx, bool present);
	void *ctx;
};

/*
 * Serve se until it is unmounted or a signal ends it (fuse_set_signal_handlers), as
 * fuse_session_loop_mt does. 0, or -errno.
 */
int rtk_session_loop(struct fuse_session *se, const struct rtk_session_config *cfg);

/*
 * After the loop ended: answer at most one request, waiting timeout_ms at most for it. A
 * thread being stopped (a worker that was sending a push, the notifier's) may wait in the
 * kernel for a page that a READ not yet read holds; nobody else reads it now. 1: answered
 * one; 0: none came; -1: the mount is gone.
 */
int rtk_session_drain(struct fuse_session *se, int timeout_ms);

#endif
