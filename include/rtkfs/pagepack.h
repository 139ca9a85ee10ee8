/* SPDX-License-Identifier: MIT */
/*
 * pagepack: the value a listing is shared as (shared.h): the raw bodies of the API pages it
 * was built from, so that another mount parses them with the same code and gets the same
 * bytes. Format, version 1:
 *
 *     "RTKFS-LISTING 1 <kind> <npages>\n" then per page "<len>\n<len bytes>"
 *
 * <kind> is the collection's name ("accounts", "apps", "webhooks"), <npages> and <len> are
 * decimal without sign or leading zeros. Nothing may follow the last page. Pure; no I/O.
 */
#ifndef RTKFS_PAGEPACK_H
#define RTKFS_PAGEPACK_H

#include <stddef.h>

#include "rtkfs/buf.h"

#define RTK_PAGEPACK_MAGIC "RTKFS-LISTING"
#define RTK_PAGEPACK_VERSION 1

/* A value being built: pages appended while a listing is fetched. */
struct rtk_pagepack {
	struct rtk_buf pages; /* "<len>\n<bytes>" per page */
	unsigned n;
};

/* Start empty; the pages together never take more than max bytes (-EFBIG past it). */
void rtk_pagepack_init(struct rtk_pagepack *p, size_t max);
void rtk_pagepack_release(struct rtk_pagepack *p);

/* Append one page body. 0, -EFBIG past the cap, -ENOMEM. */
int rtk_pagepack_add(struct rtk_pagepack *p, const char *body, size_t len);

/* The whole value for a listing of kind into out (a buffer of its own cap). 0 or -errno. */
int rtk_pagepack_encode(const struct rtk_pagepack *p, const char *kind, struct rtk_buf *out);

/*
 * Check value v (len bytes) and hand each page body to page() in order. -EPROTO when it is
 * not a version-1 value of this kind, is truncated, has trailing bytes or more than
 * max_pages pages; -EFBIG when it is longer than max bytes; else the first nonzero return
 * of page(), or 0. Nothing is handed over before the whole value has been checked.
 */
int rtk_pagepack_parse(const char *v, size_t len, const char *kind, unsigned max_pages, size_t max,
		       int (*page)(void *ctx, const char *body, size_t len), void *ctx);

#endif
