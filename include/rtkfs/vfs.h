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
 * Has the notifier more than one file to push (ctx: the vfs)? The session loop's reader does
 * not keep looking for requests then: the CPU it would take is the one the notifier needs to
 * land a directory's files before a reader (grep -r) asks for them. (One file, a LOOKUP's,
 * may wait: read at once it costs one READ, as without pushes.)
 */
bool rtk_vfs_storing(void *ctx);

/* The tree to serve (set once, before the session starts). */
void rtk_vfs_set_tree(struct rtk_vfs *v, struct rtk_tree *t);

/* A session serving the tree; NULL on failure (libfuse printed why). */
struct fuse_session *rtk_vfs_session_new(struct rtk_vfs *v, struct fuse_args *args);

/* Start / stop the invalidation thread (after mount / before unmount). 0 or -errno. */
int rtk_vfs_start_notifier(struct rtk_vfs *v, struct fuse_session *se);
void rtk_vfs_stop_notifier(struct rtk_vfs *v);

#endif
