/* SPDX-License-Identifier: MIT */
/*
 * tree: the namespace (DESIGN §2). Answers lookup, getattr, readdir, read, open, create,
 * write and rmdir on inode numbers by putting its parts together: the inode table (ino),
 * the listings (collection), degraded mode (health), read-ahead (prefetch), the control
 * files (ctl), writes (write) and attributes (attr).
 *
 * Thread-safe. Every call that may reach the API takes a struct rtk_op: the deadline and
 * the interrupt check of the request it serves. Calls return 0 or a negative errno.
 */
#ifndef RTKFS_TREE_H
#define RTKFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rtkfs/attr.h"
#include "rtkfs/clock.h"
#include "rtkfs/ino.h"
#include "rtkfs/op.h"

struct rtk_tree;
struct rtk_api;
struct rtk_cache;
struct rtk_shared;
struct rtk_ctl_kernel;

struct rtk_tree_config {
	struct rtk_api *api;         /* borrowed */
	struct rtk_cache *cache;     /* borrowed; configured with rtk_held_cache_ops */
	const char *const *accounts; /* user-named account ids, or NULL for GET /accounts */
	size_t naccounts;
	uid_t uid;
	gid_t gid;
	bool ro;                     /* nothing writable (modes lose their w bits) */
	size_t max_body;             /* response bytes accepted (0: 16 MiB) */
	unsigned prefetch;           /* read-ahead threads (0: no read-ahead) */
	uint64_t timeout_ns;         /* deadline of background fetches */
	struct rtk_ino_hooks hooks;  /* may be all NULL */
	struct rtk_shared *shared;   /* borrowed: shared with other mounts (shared.h), or NULL */
	struct rtk_clock clock;      /* how long writes show their own bytes (zeroed: real) */
	/* The kernel's side of the statistics (for .rtkfs/stats.json; may be NULL). */
	void (*kernel_stats)(void *ctx, struct rtk_ctl_kernel *out);
	void *kernel_ctx;
};

/* NULL with a reason logged on bad configuration or ENOMEM. */
struct rtk_tree *rtk_tree_new(const struct rtk_tree_config *cfg);
void rtk_tree_free(struct rtk_tree *t); /* NULL is a no-op; stops the tree's threads */

/* Start the background threads (degraded-mode probe, read-ahead workers). Call after the
 * process has daemonized (threads do not survive fork). 0 or -errno. */
int rtk_tree_start(struct rtk_tree *t);

/*
 * Resolve name in directory parent: 0 with the child's attributes, or -errno. A directory
 * found counts one lookup by the kernel (give it back with rtk_tree_forget if the reply
 * does not reach the kernel).
 */
int rtk_tree_lookup(struct rtk_tree *t, uint64_t parent, const char *name,
		    const struct rtk_op *op, struct rtk_attr *out);

int rtk_tree_getattr(struct rtk_tree *t, uint64_t ino, const struct rtk_op *op,
		     struct rtk_attr *out);

/*
 * Directory entries of ino from index off on ("." and ".." are 0 and 1): calls emit for each
 * until it returns false (no room). emit gets the entry's name, its attributes and the index
 * of the next entry. With plus (readdirplus), every directory entry emitted counts as one
 * lookup by the kernel, as a successful rtk_tree_lookup of a directory does.
 */
int rtk_tree_readdir(struct rtk_tree *t, uint64_t ino, uint64_t off, bool plus,
		     const struct rtk_op *op,
		     bool (*emit)(void *ctx, const char *name, const struct rtk_attr *attr,
				  uint64_t next_off),
		     void *ctx);

/*
 * The kernel was just given the entries of directory ino (a READDIRPLUS reply from offset 0
 * reached it): push the bytes of its files into the page cache, if its listing is cached and
 * fresh (no fetch, no wait: the hooks' store queues them).
 */
void rtk_tree_push_dir(struct rtk_tree *t, uint64_t ino);

/* The same for one file the kernel was just given (a LOOKUP reply). */
void rtk_tree_push_file(struct rtk_tree *t, uint64_t ino);

/* The kernel reads, writes or truncates file ino: it holds its pages, push nothing to it. */
void rtk_tree_note_paged(struct rtk_tree *t, uint64_t ino);

/* A slice of a file's bytes, valid until rtk_tree_data_release(). */
struct rtk_tree_data {
	const char *p;
	size_t n;
	void *hold;  /* what keeps p alive (a listing) */
	char *owned; /* copied bytes (control files), freed on release */
};

/* Bytes [off, off+size) of file ino (fewer at the end). -EISDIR for directories. */
int rtk_tree_read(struct rtk_tree *t, uint64_t ino, uint64_t off, size_t size,
		  const struct rtk_op *op, struct rtk_tree_data *out);
void rtk_tree_data_release(struct rtk_tree_data *d);

/*
 * Bytes written at off to file ino (no open file: every mount answers open with ENOSYS).
 * A field or a file being created: see write.h (len or -errno, the result of the request it
 * sent); .rtkfs/ctl: runs the command. -EACCES for a file that cannot be written, -EROFS on
 * a read-only tree.
 */
int rtk_tree_write(struct rtk_tree *t, uint64_t ino, const char *buf, size_t len, uint64_t off,
		   const struct rtk_op *op);

/*
 * A size change of file ino (truncate, ftruncate, open with O_TRUNC): .rtkfs/ctl to 0 is
 * accepted; a writable field to 0 sends nothing and shows it empty until it is written
 * (rtk_write_empty); everything else is -EPERM (-EROFS on a read-only tree).
 */
int rtk_tree_truncate(struct rtk_tree *t, uint64_t ino, uint64_t size);

/*
 * Create name in directory parent (only webhooks directories take new files: -EPERM): a
 * pending file, written through rtk_tree_write by its number (see write.h).
 */
int rtk_tree_create(struct rtk_tree *t, uint64_t parent, const char *name, int flags,
		    const struct rtk_op *op, struct rtk_attr *attr);

/* The kernel forgot nlookup lookups of ino (FORGET): directories it no longer holds, whose
 * object no cached listing holds, are freed (ino.h). */
void rtk_tree_forget(struct rtk_tree *t, uint64_t ino, uint64_t nlookup);

/* Directory nodes the tree holds now (statistics, tests). */
size_t rtk_tree_nodes(struct rtk_tree *t);

/* rmdir: delete a webhook (DELETE). -EPERM elsewhere. */
int rtk_tree_rmdir(struct rtk_tree *t, uint64_t parent, const char *name,
		   const struct rtk_op *op);

#endif
