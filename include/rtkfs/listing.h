/* SPDX-License-Identifier: MIT */
/*
 * listing: the objects of one directory (accounts, the apps of an account, the webhooks of
 * an app), in the server's order and indexed by id. Listings are immutable and
 * reference-counted (atomically), so a listing can be shared by the cache and any number of
 * readers; a write produces a new listing that shares every unchanged object with the old.
 *
 * A builder collects the objects of a listing page by page (see rtk_envelope_parse_page),
 * leaving duplicate ids out.
 */
#ifndef RTKFS_LISTING_H
#define RTKFS_LISTING_H

#include <stdbool.h>
#include <stddef.h>

#include "rtkfs/buf.h"
#include "rtkfs/kind.h"
#include "rtkfs/obj.h"

#define RTK_LISTING_MAX_OBJECTS 200000 /* objects in one listing */

struct rtk_listing;
struct rtk_listing_builder;

/* ---- listings ---- */

void rtk_listing_ref(struct rtk_listing *l);
void rtk_listing_unref(struct rtk_listing *l); /* NULL is a no-op */

enum rtk_kind rtk_listing_kind(const struct rtk_listing *l);
size_t rtk_listing_count(const struct rtk_listing *l);

/* The i-th object in the server's order (borrowed: valid while l is). */
const struct rtk_obj *rtk_listing_at(const struct rtk_listing *l, size_t i);

/* The object with this id (borrowed), or NULL. O(log n). */
const struct rtk_obj *rtk_listing_find(const struct rtk_listing *l, const char *id, size_t len);

/* Approximate heap bytes held by the listing and its objects (for the cache's memory cap). */
size_t rtk_listing_bytes(const struct rtk_listing *l);

/*
 * The listing as one JSON array of its objects' <kind>.json documents, in the server's order,
 * pretty-printed like them (two-space indent) with a final newline: "[]\n" when empty. Bare
 * objects are left out. Appends to out: 0, -EFBIG past out's cap, -ENOMEM.
 */
int rtk_listing_render_array(const struct rtk_listing *l, struct rtk_buf *out);

/* Same objects (rtk_obj_equal) in the same order. */
bool rtk_listing_equal(const struct rtk_listing *a, const struct rtk_listing *b);

/*
 * A new listing equal to l but with o in place of the object of the same id (or appended
 * when l has none). Takes its own reference to o. NULL on ENOMEM.
 */
struct rtk_listing *rtk_listing_replace(const struct rtk_listing *l, struct rtk_obj *o);

/* A new listing equal to l without the object of this id (a copy if absent). NULL on ENOMEM. */
struct rtk_listing *rtk_listing_remove(const struct rtk_listing *l, const char *id, size_t len);

/* ---- building a listing ---- */

/* A builder for a listing of kind k; NULL on ENOMEM or an invalid kind. */
struct rtk_listing_builder *rtk_listing_builder_new(enum rtk_kind k);
void rtk_listing_builder_free(struct rtk_listing_builder *b); /* NULL is a no-op */

enum rtk_kind rtk_listing_builder_kind(const struct rtk_listing_builder *b);

/* Objects added so far. */
size_t rtk_listing_builder_count(const struct rtk_listing_builder *b);

/* Add o (of the builder's kind), taking the caller's reference on success.
 * 0, -EEXIST (an object with this id is in already; o is untouched), -ENOMEM. */
int rtk_listing_builder_add(struct rtk_listing_builder *b, struct rtk_obj *o);

/* Drop the objects added after the first n (undo a page that failed half way). */
void rtk_listing_builder_truncate(struct rtk_listing_builder *b, size_t n);

/* Add a bare object (user-named account). 0, -EINVAL for an unsafe id, -EEXIST, -ENOMEM. */
int rtk_listing_builder_add_bare(struct rtk_listing_builder *b, const char *id, size_t len);

/* The finished listing (new reference); the builder is freed either way. NULL on ENOMEM. */
struct rtk_listing *rtk_listing_builder_finish(struct rtk_listing_builder *b);

#endif
