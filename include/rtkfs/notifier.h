/* SPDX-License-Identifier: MIT */
/*
 * notifier: what rtkfs tells the kernel on its own — invalidations (inode, entry) and bytes
 * pushed into its page cache (stores) — sent in the order queued by one thread (libfuse
 * deadlocks if they are sent from a request handler), plus a second thread for the
 * invalidations of files whose WRITE is being answered. The tree's hooks queue; nothing here
 * blocks a request handler except settle, bounded by its caller's time.
 *
 * Stores (SEMANTICS.md, "Bytes pushed before they are read"): sent only while their listing
 * is the one cached (its current()); a READ that comes while one is being sent is answered
 * with its bytes (rtk_notifier_read_claimed); a local write of a file cancels the stores of
 * it queued before (rtk_notifier_note_write), and one being sent then is followed by an
 * invalidation of its files.
 */
#ifndef RTKFS_NOTIFIER_H
#define RTKFS_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/ctl.h"
#include "rtkfs/ino.h"
#include "rtkfs/tree.h"

struct rtk_notifier;
struct fuse_session;

/* A stopped notifier; push: its hooks send stores (else the store hook is NULL). NULL on
 * ENOMEM. */
struct rtk_notifier *rtk_notifier_new(bool push);
void rtk_notifier_free(struct rtk_notifier *n); /* NULL is a no-op; stops it first */

/* Start (after mount) / stop (before unmount) its threads. 0 or -errno. A thread stopping may
 * wait in the kernel for a page that a READ not yet answered holds: stop answers requests
 * meanwhile (rtk_session_drain). */
int rtk_notifier_start(struct rtk_notifier *n, struct fuse_session *se);
void rtk_notifier_stop(struct rtk_notifier *n);

/* The hooks that queue for it: inval_inode, inval_entry, inval_written, store, write_seq,
 * settle (ctx: n). */
struct rtk_ino_hooks rtk_notifier_hooks(struct rtk_notifier *n);

/* A local WRITE or truncate of file ino is under way: no store queued before lands after it. */
void rtk_notifier_note_write(struct rtk_notifier *n, uint64_t ino);

/* A READ of file ino answered with data: if the store being sent holds ino, its bytes
 * (from off, at most size) replace data. 0 or -ENOMEM. */
int rtk_notifier_read_claimed(struct rtk_notifier *n, uint64_t ino, uint64_t off, size_t size,
			      struct rtk_tree_data *data);

/*
 * Helping (workq.h): the session loop's reader sends stores between requests, so a LOOKUP
 * that queues one wakes no thread. rtk_notifier_help sends what is due: 1 sent one, 0
 * nothing for a helper, -EAGAIN not yet. While a helper is present (set_helper), the
 * notifier thread is woken only for invalidations or a backlog.
 */
int rtk_notifier_help(struct rtk_notifier *n);
void rtk_notifier_set_helper(struct rtk_notifier *n, bool present);

/* Is the notifier thread sending? */
bool rtk_notifier_busy(struct rtk_notifier *n);

/* The "push" and "settle" counters of stats.json into out. */
void rtk_notifier_stats(struct rtk_notifier *n, struct rtk_ctl_kernel *out);

#endif
