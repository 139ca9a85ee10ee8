/* SPDX-License-Identifier: MIT */
/*
 * write: changing webhooks through files (DESIGN §6). A value written to a field file or to
 * webhook.json is buffered and sent when the file is flushed (one PATCH, or one PUT for
 * webhook.json); a JSON document written to a new file in a webhooks directory is POSTed
 * when flushed and the file disappears; rmdir of a webhook directory sends DELETE. The
 * server's answer is folded into the cached listing, so readers see it at once.
 *
 * Thread-safe; a struct rtk_write_file is used by one open file description at a time.
 */
#ifndef RTKFS_WRITE_H
#define RTKFS_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/attr.h"
#include "rtkfs/ino.h"
#include "rtkfs/op.h"

struct rtk_write;
struct rtk_write_file;
struct rtk_api;
struct rtk_coll;
struct rtk_ctl;
struct rtk_health;

#define RTK_WRITE_MAX (64u << 10) /* bytes one written value may have */

struct rtk_write_config {
	struct rtk_api *api;       /* all borrowed */
	struct rtk_coll *coll;
	struct rtk_ino *ino;
	struct rtk_ctl *ctl;
	struct rtk_health *health;
	struct rtk_ino_hooks hooks;
	const struct rtk_attr_ctx *attr;
	size_t max_body;     /* response bytes accepted (0: 16 MiB) */
	uint64_t timeout_ns; /* deadline of a write sent at release */
};

struct rtk_write *rtk_write_new(const struct rtk_write_config *cfg); /* NULL on ENOMEM */
void rtk_write_free(struct rtk_write *w);                            /* NULL is a no-op */

/*
 * Open field index of webhook directory dir for writing. O_TRUNC starts from an empty
 * value, otherwise from the current bytes (so O_APPEND adds to them). -EACCES for a field
 * that is not writable.
 */
int rtk_write_open(struct rtk_write *w, struct rtk_ino_node *dir, unsigned index, int flags,
		   const struct rtk_op *op, struct rtk_write_file **out);

/*
 * Create name in webhooks directory parent: a pending file whose bytes become a new webhook
 * when flushed. -EEXIST for a listed id or a pending name. Fills its attributes.
 */
int rtk_write_create(struct rtk_write *w, struct rtk_ino_node *parent, const char *name,
		     const struct rtk_op *op, struct rtk_attr *attr, struct rtk_write_file **out);

/* The attributes of a pending file, by number (ino != 0) or by (parent, name). -ENOENT. */
int rtk_write_pending_attr(struct rtk_write *w, uint64_t ino, const struct rtk_ino_node *parent,
			   const char *name, struct rtk_attr *out);

/* Bytes written at off (at most RTK_WRITE_MAX in all: -EFBIG). Returns len or -errno. */
int rtk_write_put(struct rtk_write_file *f, const char *buf, size_t len, uint64_t off);

/* Cut or extend the buffered value (ftruncate). */
int rtk_write_truncate(struct rtk_write_file *f, uint64_t size);

/*
 * Send what was written (close(2) returns this): 0 when accepted or nothing changed;
 * -EINVAL (rejected locally or by a 400), -EACCES, -ENOENT, -EIO, -ETIMEDOUT... A second
 * flush sends nothing more.
 */
int rtk_write_flush(struct rtk_write *w, struct rtk_write_file *f, const struct rtk_op *op);

/* Forget the file (after the last close), sending what was never flushed. NULL: no-op. */
void rtk_write_release(struct rtk_write *w, struct rtk_write_file *f);

/* rmdir: delete webhook name of webhooks directory parent (DELETE). */
int rtk_write_rmdir(struct rtk_write *w, struct rtk_ino_node *parent, const char *name,
		    const struct rtk_op *op);

#endif
