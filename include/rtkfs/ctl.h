/* SPDX-License-Identifier: MIT */
/*
 * ctl: the control files under MOUNT/.rtkfs (DESIGN §7): `status` (for people), `stats.json`
 * (for scripts), `metrics` (Prometheus text format), and `ctl` (commands: `flush` drops every cached listing, `resume` ends a
 * 429 pause at once). Also keeps what they tell that no other module keeps: the last write
 * error, the last webhook created, and failures the API client did not see (a body that is
 * not what it should be).
 *
 * Reads of a control file return exactly st_size bytes of one consistent snapshot: the
 * bytes are rendered when the kernel asks for the attributes and kept until the next time.
 *
 * Thread-safe.
 */
#ifndef RTKFS_CTL_H
#define RTKFS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/attr.h"
#include "rtkfs/path.h"

struct rtk_ctl;
struct rtk_api;
struct rtk_cache;
struct rtk_health;
struct rtk_shared;

/* Requests the kernel sent, by opcode (stats.json "kernel"), and pushed pages ("push"). */
enum rtk_ctl_kop {
	RTK_KOP_LOOKUP,
	RTK_KOP_GETATTR,
	RTK_KOP_READDIRPLUS,
	RTK_KOP_READ,
	RTK_KOP_OPEN,
	RTK_KOP_FLUSH,
	RTK_KOP_RELEASE,
	RTK_KOP_WRITE,
	RTK_KOP_FORGET,
	RTK_KOP__N
};

struct rtk_ctl_kernel {
	uint64_t ops[RTK_KOP__N];
	/* Stores: queued, files sent, dropped as no longer current, dropped for want of room,
	 * files the kernel held no inode for. */
	uint64_t queued, sent, stale, full, missed, retried, cancelled, raced, helped;
	uint64_t handoffs, watchdog; /* the session loop's (loop.h) */
	size_t pending_bytes;
	/* Writes that waited for the other files of their webhook to be dropped; of them, those
	 * that stopped waiting at the bound (WRITE_SETTLE_NS) first. */
	uint64_t settled, settle_late, settle_blocked;
};

struct rtk_ctl_config {
	struct rtk_api *api;       /* all borrowed */
	struct rtk_cache *cache;
	struct rtk_health *health;
	const char *const *accounts; /* user-named account ids (for status) */
	size_t naccounts;
	struct rtk_shared *shared;   /* may be NULL */
	/* The kernel's side (may be NULL: shown as zeros). */
	void (*kernel_stats)(void *ctx, struct rtk_ctl_kernel *out);
	void *kernel_ctx;
};

/* The names of enum rtk_ctl_kop, as stats.json shows them. */
const char *rtk_ctl_kop_name(enum rtk_ctl_kop op);

struct rtk_ctl *rtk_ctl_new(const struct rtk_ctl_config *cfg); /* NULL on ENOMEM */
void rtk_ctl_free(struct rtk_ctl *c);                           /* NULL is a no-op */

/* Render control file f now into a malloc'd *out of *len bytes. 0 or -errno. */
int rtk_ctl_render(struct rtk_ctl *c, enum rtk_ctl_file f, char **out, size_t *len);

/* The attributes of control file f (inode ino), rendering and keeping a new snapshot. */
int rtk_ctl_attr(struct rtk_ctl *c, const struct rtk_attr_ctx *ac, uint64_t ino,
		 enum rtk_ctl_file f, struct rtk_attr *out);

/* A copy of bytes [off, off+size) of the last snapshot of f (rendered now if none) into a
 * malloc'd *out (*n bytes; NULL when none). 0 or -errno. */
int rtk_ctl_read(struct rtk_ctl *c, enum rtk_ctl_file f, uint64_t off, size_t size, char **out,
		 size_t *n);

/* Run a command written to `ctl` (trailing blanks and newlines ignored): 0 or -EINVAL. */
int rtk_ctl_command(struct rtk_ctl *c, const char *buf, size_t len);

/*
 * The outcome of one write (for `last write error` and the writes counters of metrics): err
 * is its result (0: accepted), sent whether a request went out, line what failed (NULL
 * when err is 0). The caller logs it.
 */
void rtk_ctl_record_write(struct rtk_ctl *c, int err, bool sent, const char *line);

/* What happened, for the control files (and the log, by the caller). */
void rtk_ctl_record_created(struct rtk_ctl *c, const char *id);
void rtk_ctl_record_error(struct rtk_ctl *c, const char *line);

#endif
