/* SPDX-License-Identifier: MIT */
/*
 * write: changing webhooks through files (DESIGN §6). Each write() takes effect when it is
 * made, the way a sysfs attribute does, and returns the result:
 *
 * - a field file (name, url, enabled, events) or webhook.json: a write at offset 0 starts a
 *   new value; a write at the length of this file's value so far (the value of its last
 *   write, or the server's bytes for O_APPEND) extends it; any other offset is -EINVAL. The
 *   whole value is then validated and, when valid and different from the server's, sent as
 *   one PATCH (one PUT for webhook.json). A webhook.json that is an incomplete JSON document
 *   (it could still become valid) is held and sent by the write that completes it.
 * - a JSON document written to a new file in a webhooks directory is POSTed by the write that
 *   completes it; the file then disappears.
 * - rmdir of a webhook directory sends DELETE.
 *
 * Per-field size caps (RTK_WRITE_CAP_*): a write that takes a value past its cap is -EFBIG
 * and sends nothing. Every failure is recorded as the last write error of the control files.
 * The server's answer is checked (same id: else -EPROTO and the listing is refetched) and
 * folded into the cached listing; the kernel is told to drop what it holds of the webhook.
 *
 * Thread-safe. Writes of one webhook are serialized (a striped lock table keyed by the
 * webhook directory), so answers are applied in the order the server made them.
 */
#ifndef RTKFS_WRITE_H
#define RTKFS_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/attr.h"
#include "rtkfs/clock.h"
#include "rtkfs/ino.h"
#include "rtkfs/op.h"

struct rtk_write;
struct rtk_api;
struct rtk_coll;
struct rtk_ctl;
struct rtk_health;

/* Bytes a written value may have, by file (write policy, SEMANTICS.md). */
#define RTK_WRITE_CAP_ENABLED 16u
#define RTK_WRITE_CAP_EVENTS 1024u
#define RTK_WRITE_CAP_NAME 1024u
#define RTK_WRITE_CAP_URL 2048u
#define RTK_WRITE_MAX (64u << 10) /* webhook.json and new files */

struct rtk_write_config {
	struct rtk_api *api;       /* all borrowed */
	struct rtk_coll *coll;
	struct rtk_ino *ino;
	struct rtk_ctl *ctl;
	struct rtk_health *health;
	struct rtk_ino_hooks hooks;
	const struct rtk_attr_ctx *attr;
	size_t max_body;     /* response bytes accepted (0: 16 MiB) */
	struct rtk_clock clock; /* for the views of rtk_write_shown (zeroed: the real one) */
};

struct rtk_write *rtk_write_new(const struct rtk_write_config *cfg); /* NULL on ENOMEM */
void rtk_write_free(struct rtk_write *w);                            /* NULL is a no-op */

/* The cap of field index (RTK_WRITE_CAP_*), 0 for a file that cannot be written. */
size_t rtk_write_cap(unsigned index);

/*
 * Bytes written at off to field index of webhook directory dir (see above). Returns len, or
 * -EACCES (not writable), -EFBIG (past the cap), -EINVAL (bad offset, refused locally or
 * by a 400), -EACCES, -ENOENT, -EIO, -ETIMEDOUT, -EAGAIN, -EPROTO (the errno table).
 */
int rtk_write_field(struct rtk_write *w, struct rtk_ino_node *dir, unsigned index,
		    const char *buf, size_t len, uint64_t off, const struct rtk_op *op);

/*
 * A writer emptied field index of dir (open with O_TRUNC, truncate to 0): nothing is sent,
 * but until the next write to it (or for at most a second) readers see it empty, as the
 * kernel shows it to the writer (rtk_write_shown). -EACCES for a field that cannot be
 * written, -EPERM for other files.
 */
int rtk_write_empty(struct rtk_write *w, struct rtk_ino_node *dir, unsigned index);

/*
 * What readers of field file ino see for now: the cached value (SHOW_CACHED), an empty file
 * (SHOW_EMPTY: emptied by a writer that has not written yet), or the bytes just written
 * (SHOW_WRITTEN, for a moment after a write whose server spelling differs: the kernel holds
 * them and their size). *len is the length of the bytes a READ gets (the written ones, also
 * while SHOW_EMPTY follows a write the kernel may still show) and, if bytes is not NULL,
 * *bytes a copy the caller frees (NULL: read the cached value). The size readers see is 0
 * for SHOW_EMPTY, *len for SHOW_WRITTEN. Not cacheable by the kernel while not SHOW_CACHED.
 */
/* The same values as enum rtk_view_show (view.h), which keeps these views. */
enum rtk_write_show { RTK_WRITE_SHOW_CACHED, RTK_WRITE_SHOW_EMPTY, RTK_WRITE_SHOW_WRITTEN };
enum rtk_write_show rtk_write_shown(struct rtk_write *w, uint64_t ino, char **bytes,
				    size_t *len);

/*
 * Create name in webhooks directory parent: a pending file (found by its number, in the
 * pending range) whose bytes become a new webhook when they form a complete JSON document.
 * -EEXIST for a listed id or a pending name, -ENFILE past 1024 pending files. Fills its
 * attributes. The kernel sends no release for it: one idle for a minute is forgotten (an
 * incomplete document is then recorded as the last write error).
 */
int rtk_write_create(struct rtk_write *w, struct rtk_ino_node *parent, const char *name,
		     const struct rtk_op *op, struct rtk_attr *attr);

/* The attributes of a pending file, by number (ino != 0) or by (parent, name). -ENOENT. */
int rtk_write_pending_attr(struct rtk_write *w, uint64_t ino, const struct rtk_ino_node *parent,
			   const char *name, struct rtk_attr *out);

/*
 * Bytes written at off to pending file ino: held while the document is incomplete, POSTed
 * by the write that completes it, after which the file is gone (it became a webhook, or the
 * write failed and nothing is left). Returns len or -errno as rtk_write_field (-EFBIG past
 * RTK_WRITE_MAX; -EINVAL for JSON wrong before its end, and for anything but white space
 * after the document was sent); -ENOENT for an unknown file.
 */
int rtk_write_pending_put(struct rtk_write *w, uint64_t ino, const char *buf, size_t len,
			  uint64_t off, const struct rtk_op *op);

/* rmdir: delete webhook name of webhooks directory parent (DELETE). */
int rtk_write_rmdir(struct rtk_write *w, struct rtk_ino_node *parent, const char *name,
		    const struct rtk_op *op);

#endif
