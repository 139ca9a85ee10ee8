/* SPDX-License-Identifier: MIT */
/*
 * view: what readers of a field file see, for a moment, instead of the cached value while a
 * local writer writes (SEMANTICS.md, *Readers while you write*): empty (a writer emptied it
 * and has not written yet), or the bytes just written (the kernel holds them in its page
 * cache with their size; the server's spelling may differ in length). A small table of
 * timed entries keyed by inode number; when nothing is in it, readers take no lock.
 *
 * Thread-safe (one mutex).
 */
#ifndef RTKFS_VIEW_H
#define RTKFS_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "rtkfs/clock.h"

struct rtk_views;

/* What a reader of a file sees now. */
enum rtk_view_show {
	RTK_VIEW_CACHED,  /* the cached value (nothing in the table) */
	RTK_VIEW_EMPTY,   /* an empty file */
	RTK_VIEW_WRITTEN, /* the bytes as written */
};

/* A table on clock (zeroed: the real one). NULL on ENOMEM. */
struct rtk_views *rtk_views_new(struct rtk_clock clock);
void rtk_views_free(struct rtk_views *v); /* NULL is a no-op */

/*
 * Show ino as show until until_ns (clock time): bytes (len, copied) for RTK_VIEW_WRITTEN;
 * RTK_VIEW_CACHED ends what was shown. A full table gives up the entry nearest its end;
 * ENOMEM shows the cached value at once. An EMPTY that follows a WRITTEN still running keeps
 * its bytes, for readers the kernel already gave the written size to.
 */
void rtk_views_set(struct rtk_views *v, uint64_t ino, enum rtk_view_show show,
		   const char *bytes, size_t len, uint64_t until_ns);

/*
 * What readers of ino see now; for RTK_VIEW_WRITTEN its length in *len and, when bytes is
 * not NULL, a copy in *bytes (the caller frees it).
 */
enum rtk_view_show rtk_views_shown(struct rtk_views *v, uint64_t ino, char **bytes, size_t *len);

/* The table's clock, now. */
uint64_t rtk_views_now(const struct rtk_views *v);

#endif
