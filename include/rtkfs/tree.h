/* SPDX-License-Identifier: MIT */
/*
 * tree: the namespace. Maps inode numbers to places in the tree (DESIGN §2), answers lookup,
 * getattr, readdir and read from listings held by the cache (fetching them through the API,
 * all pages, when they are not fresh), and tells its owner which kernel caches to drop when a
 * refresh shows that something changed.
 *
 * Inode numbers are stable for the life of the tree: every directory gets a node (kept until
 * the tree is freed) with an inode number that is a multiple of RTK_TREE_INO_STRIDE; the files
 * of a directory are not nodes, their numbers are the directory's plus 1 + field.
 *
 * Thread-safe. Every call that may reach the API takes a struct rtk_tree_op: the deadline
 * and the interrupt check of the request it serves.
 */
#ifndef RTKFS_TREE_H
#define RTKFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "rtkfs/cache.h"
#include "rtkfs/path.h"

struct rtk_tree;
struct rtk_api;
struct rtk_budget;
struct rtk_cache;

#define RTK_TREE_ROOT_INO 1 /* FUSE_ROOT_ID */
#define RTK_TREE_INO_STRIDE 16

struct rtk_tree_hooks {
	/* Drop the kernel's caches of this inode (attributes, pages, directory listing). */
	void (*inval_inode)(void *ctx, uint64_t ino);
	/* Drop the kernel's dentry for name in directory parent. */
	void (*inval_entry)(void *ctx, uint64_t parent, const char *name);
	void *ctx;
};

struct rtk_tree_config {
	struct rtk_api *api;         /* borrowed */
	struct rtk_budget *budget;   /* borrowed; the api's rate budget (may be NULL) */
	struct rtk_cache *cache;     /* borrowed; values are struct rtk_listing (see tree.c) */
	const char *const *accounts; /* user-named account ids, or NULL for GET /accounts */
	size_t naccounts;
	uid_t uid;
	gid_t gid;
	bool ro;                     /* nothing writable (modes lose their w bits) */
	size_t max_body;             /* response bytes accepted (0: 16 MiB) */
	unsigned prefetch;           /* read-ahead threads (0: no read-ahead) */
	uint64_t timeout_ns;         /* deadline of a read-ahead fetch */
	struct rtk_tree_hooks hooks; /* may be all NULL */
};

/* What a request is allowed: a deadline (CLOCK_MONOTONIC) and a way to notice Ctrl-C. */
struct rtk_tree_op {
	uint64_t deadline_ns;
	bool (*interrupted)(void *ctx);
	void *interrupted_ctx;
};

/* The attributes of an inode and how long the kernel may keep them (and the entry). */
struct rtk_tree_attr {
	struct stat st;
	bool volatile_attr; /* the kernel must not cache this entry or its attributes */
};

/* The ref/unref/size callbacks for the cache the tree is given (its values are the tree's). */
extern const struct rtk_cache_ops rtk_tree_cache_ops;

/* NULL with a reason logged on bad configuration or ENOMEM. */
struct rtk_tree *rtk_tree_new(const struct rtk_tree_config *cfg);
void rtk_tree_free(struct rtk_tree *t); /* NULL is a no-op; stops the tree's threads */

/*
 * Start the tree's background threads: the probe that ends degraded mode, and the
 * read-ahead workers (DESIGN §3: when a collection is listed, the listings of its children's
 * sub-collections that were never fetched are fetched in the background, in parallel, while
 * the rate budget has room). Call after the process has daemonized (threads do not survive
 * fork). 0 or -errno.
 */
int rtk_tree_start(struct rtk_tree *t);

/*
 * Degraded mode: after RTK_TREE_DEGRADED_AFTER network failures in a row (no HTTP answer at
 * all), listings are answered from the cache at once, without a request, until the
 * background probe gets an answer from the API again.
 */
#define RTK_TREE_DEGRADED_AFTER 3
bool rtk_tree_is_degraded(struct rtk_tree *t);

/*
 * Check the token once (DESIGN §4): GET /user/tokens/verify, and for a token the user
 * endpoint rejects, GET /accounts/{id}/tokens/verify with the first account named or listed.
 * 0 when accepted; -EACCES when the API definitely rejected it (msg says why); any other
 * error means the API could not be asked (msg says why; the caller mounts anyway).
 */
int rtk_tree_verify_token(struct rtk_tree *t, const struct rtk_tree_op *op, char *msg,
			  size_t msgsz);

/* Resolve name in directory parent: 0 with the child's attributes, or -errno. */
int rtk_tree_lookup(struct rtk_tree *t, uint64_t parent, const char *name,
		    const struct rtk_tree_op *op, struct rtk_tree_attr *out);

int rtk_tree_getattr(struct rtk_tree *t, uint64_t ino, const struct rtk_tree_op *op,
		     struct rtk_tree_attr *out);

/*
 * Directory entries of ino from index off on ("." and ".." are 0 and 1): calls emit for each
 * until it returns false (no room). emit gets the entry's name, its attributes and the index
 * of the next entry. Returns 0 or -errno.
 */
int rtk_tree_readdir(struct rtk_tree *t, uint64_t ino, uint64_t off, const struct rtk_tree_op *op,
		     bool (*emit)(void *ctx, const char *name, const struct rtk_tree_attr *attr,
				  uint64_t next_off),
		     void *ctx);

/* A slice of a file's bytes, valid until rtk_tree_data_release(). */
struct rtk_tree_data {
	const char *p;
	size_t n;
	void *hold; /* what keeps p alive */
	char *owned; /* rendered control-file bytes, freed on release */
};

/* Bytes [off, off+size) of file ino (fewer at the end). 0 or -errno (-EISDIR for dirs). */
int rtk_tree_read(struct rtk_tree *t, uint64_t ino, uint64_t off, size_t size,
		  const struct rtk_tree_op *op, struct rtk_tree_data *out);
void rtk_tree_data_release(struct rtk_tree_data *d);

/* A write to a control file (".rtkfs/ctl": "flush"). Returns bytes taken or -errno. */
int rtk_tree_ctl_write(struct rtk_tree *t, uint64_t ino, const char *buf, size_t len);

/* ---- writes (DESIGN §6) ---- */

/*
 * An open file that needs state: a write to a field or webhook.json (the value is buffered
 * and sent when the file is flushed), a new file in a webhooks directory (POSTed when
 * flushed), or a control file (a snapshot taken at open).
 */
struct rtk_tree_file;

/* How the kernel should treat an open file. */
struct rtk_tree_open {
	struct rtk_tree_file *file; /* NULL: a plain read, nothing to keep */
	bool direct_io;             /* bypass the page cache (writes, control files) */
	bool keep_cache;            /* the page cache may be kept across opens */
};

/*
 * Open ino with open(2) flags. Reads of fields need no state; writes are allowed on writable
 * fields of webhooks (else -EACCES), never on a read-only tree (-EROFS). O_TRUNC starts from
 * an empty value, otherwise from the current bytes (so O_APPEND adds to them).
 */
int rtk_tree_open(struct rtk_tree *t, uint64_t ino, int flags, const struct rtk_tree_op *op,
		  struct rtk_tree_open *out);

/*
 * Create name in directory parent: only a webhooks directory takes new files (-EPERM
 * elsewhere, -EEXIST for a listed id). The file is pending until flushed: then its bytes
 * are POSTed as a new webhook and the file disappears. Fills the new file's attributes.
 */
int rtk_tree_create(struct rtk_tree *t, uint64_t parent, const char *name, int flags,
		    const struct rtk_tree_op *op, struct rtk_tree_attr *attr,
		    struct rtk_tree_open *out);

/*
 * Bytes written at off (the buffer grows; at most 64 KiB in all: -EFBIG). A write to
 * .rtkfs/ctl is a command, run at once. Returns len or -errno.
 */
int rtk_tree_file_write(struct rtk_tree *t, struct rtk_tree_file *f, const char *buf, size_t len,
			uint64_t off);

/* Cut or extend the buffered value (ftruncate). */
int rtk_tree_file_truncate(struct rtk_tree_file *f, uint64_t size);

/* Bytes of the control-file snapshot taken at open (or -EBADF for other files). */
int rtk_tree_file_read(struct rtk_tree_file *f, uint64_t off, size_t size,
		       struct rtk_tree_data *out);

/*
 * Send what was written (close(2) returns this): 0 when it was accepted or nothing changed;
 * -EINVAL (rejected locally or by a 400), -EACCES, -ENOENT (gone), -EIO, -ETIMEDOUT... A
 * second flush of the same file sends nothing more.
 */
int rtk_tree_file_flush(struct rtk_tree *t, struct rtk_tree_file *f, const struct rtk_tree_op *op);

/* Forget the file (after the last close). NULL is a no-op. */
void rtk_tree_file_release(struct rtk_tree *t, struct rtk_tree_file *f);

/* rmdir: delete the webhook name of webhooks directory parent (DELETE). -EPERM elsewhere. */
int rtk_tree_rmdir(struct rtk_tree *t, uint64_t parent, const char *name,
		   const struct rtk_tree_op *op);

/* Is ino a directory / a control file? (No I/O.) */
bool rtk_tree_is_dir(uint64_t ino);

#endif
