/* SPDX-License-Identifier: MIT */
/*
 * vfs: the FUSE low-level adapter. Turns kernel requests (inode in) into tree calls with a
 * deadline and an interrupt check, and replies (with entry and attribute timeouts equal to
 * the TTL). Owns the notifier (notifier.h), which sends what the tree's hooks queue: kernel
 * cache invalidations and pushed bytes.
 */
#ifndef RTKFS_VFS_H
#define RTKFS_VFS_H

#include <stdbool.h>
#include <stdint.h>

#include "rtkfs/ctl.h"
#include "rtkfs/tree.h"

struct rtk_vfs;
struct fuse_args;
struct fuse_session;

struct rtk_vfs_config {
	double ttl_s;         /* entry and attribute timeouts */
	uint64_t timeout_ns;  /* deadline of every request */
	bool ro;
	bool push;            /* the hooks push bytes into the page cache (store) */
};

/* NULL on ENOMEM. */
struct rtk_vfs *rtk_vfs_new(const struct rtk_vfs_config *cfg);
void rtk_vfs_free(struct rtk_vfs *v); /* NULL is a no-op; stops the notifier first */

/* Hooks that queue invalidations for the notifier thread (for struct rtk_tree_config). */
struct rtk_ino_hooks rtk_vfs_hooks(struct rtk_vfs *v);

/* Requests received by opcode and pages pushed (struct rtk_tree_config.kernel_stats; ctx
 * is the struct rtk_vfs). */
void rtk_vfs_kernel_stats(void *ctx, struct rtk_ctl_kernel *out);

/*
 * For the session loop's reader (ctx: the vfs; notifier.h): send a push that is due between
 * requests (1 sent, 0 none, -EAGAIN not yet); say whether it is there to (present); is the
 * notifier's own thread sending? (then the reader sleeps rather than take the CPU it needs).
 */
int rtk_vfs_help(void *ctx);
void rtk_vfs_set_helper(void *ctx, bool present);
bool rtk_vfs_notifier_busy(void *ctx);

/* The tree to serve (set once, before the session starts). */
void rtk_vfs_set_tree(struct rtk_vfs *v, struct rtk_tree *t);

/* A session serving the tree; NULL on failure (libfuse printed why). */
struct fuse_session *rtk_vfs_session_new(struct rtk_vfs *v, struct fuse_args *args);

/* Start / stop the invalidation thread (after mount / before unmount). 0 or -errno. */
int rtk_vfs_start_notifier(struct rtk_vfs *v, struct fuse_session *se);
void rtk_vfs_stop_notifier(struct rtk_vfs *v);

#endif
