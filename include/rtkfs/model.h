/* SPDX-License-Identifier: MIT */
/*
 * model: API bodies (JSON, via cJSON) in, immutable objects and listings out, with the bytes
 * of every file rendered once at parse time (DESIGN §2 file contents). Also the validation of
 * values written to files (DESIGN §6) and the extraction of the server's error message.
 *
 * Objects and listings are immutable and reference-counted (atomically), so a listing can be
 * shared by the cache and any number of readers; a write produces a new listing that shares
 * every unchanged object with the old one.
 *
 * Nothing from the server is trusted: ids that are not safe path parts (rtk_path_id_is_safe)
 * or are missing, and duplicate ids, are left out and counted; JSON that is not JSON, nests
 * deeper than RTK_MODEL_MAX_DEPTH or has the wrong shape is -EPROTO.
 */
#ifndef RTKFS_MODEL_H
#define RTKFS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rtkfs/buf.h"
#include "rtkfs/kind.h"

#define RTK_MODEL_MAX_DEPTH 64 /* JSON nesting accepted from the server */
#define RTK_MODEL_MAX_OBJECTS 200000 /* objects in one listing */

struct rtk_obj;
struct rtk_listing;
struct rtk_listing_builder;

/* ---- objects ---- */

void rtk_obj_ref(struct rtk_obj *o);
void rtk_obj_unref(struct rtk_obj *o); /* NULL is a no-op */

enum rtk_kind rtk_obj_kind(const struct rtk_obj *o);

/* The id (NUL-terminated, safe as a path part); *len may be NULL. */
const char *rtk_obj_id(const struct rtk_obj *o, size_t *len);

/*
 * The rendered bytes of file f ("value\n", "true\n", events one per line, pretty JSON...).
 * NULL when the object has no such file: the kind lacks the field, or the object is bare.
 * An empty field (null or missing) is a non-NULL pointer with *len 0.
 */
const char *rtk_obj_field(const struct rtk_obj *o, enum rtk_field f, size_t *len);

/* A bare object has only an id (an account the user named instead of one from GET /accounts). */
bool rtk_obj_is_bare(const struct rtk_obj *o);

/* updated_at, else created_at (else created_on for accounts), else zero. */
struct timespec rtk_obj_mtime(const struct rtk_obj *o);

/* Same id and same bytes in every file. */
bool rtk_obj_equal(const struct rtk_obj *a, const struct rtk_obj *b);

/* A bare object of kind k with this id; NULL if the id is unsafe or on ENOMEM. */
struct rtk_obj *rtk_obj_new_bare(enum rtk_kind k, const char *id, size_t len);

/*
 * Parse the one object of a create/replace/edit/get response (Realtime Kit envelope: data is
 * the webhook, or data.app for an app). Returns 0 and a new reference in *out, or -EPROTO.
 */
int rtk_model_parse_object(enum rtk_kind k, const char *body, size_t len, struct rtk_obj **out);

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

/* Same objects (rtk_obj_equal) in the same order. */
bool rtk_listing_equal(const struct rtk_listing *a, const struct rtk_listing *b);

/*
 * A new listing equal to l but with o in place of the object of the same id (or appended
 * when l has none). Takes its own reference to o. NULL on ENOMEM.
 */
struct rtk_listing *rtk_listing_replace(const struct rtk_listing *l, struct rtk_obj *o);

/* A new listing equal to l without the object of this id (a copy if absent). NULL on ENOMEM. */
struct rtk_listing *rtk_listing_remove(const struct rtk_listing *l, const char *id, size_t len);

/* ---- building a listing from pages ---- */

/* What a page is and what it says of the pages after it. */
struct rtk_page {
	unsigned page;     /* in: the 1-based page number that was asked for */
	unsigned per_page; /* in: the page size that was asked for */
	bool more;         /* out: another page should be fetched */
	size_t items;      /* out: objects on the page, kept or not */
	size_t skipped;    /* out: objects left out (unsafe, missing or duplicate ids) */
};

/* A builder for a listing of kind k; NULL on ENOMEM. */
struct rtk_listing_builder *rtk_listing_builder_new(enum rtk_kind k);
void rtk_listing_builder_free(struct rtk_listing_builder *b); /* NULL is a no-op */

/*
 * Parse one page of a list response into the builder:
 *   RTK_K_ACCOUNT: v4 envelope, objects in result[], pages from result_info;
 *   RTK_K_APP:     Realtime Kit envelope, objects in data[], pages from paging;
 *   RTK_K_WEBHOOK: Realtime Kit envelope, objects in data[], never more pages.
 * Returns 0, -EPROTO (not JSON, too deep, wrong shape, success false, more than
 * RTK_MODEL_MAX_OBJECTS objects in all) or -ENOMEM. Skipped ids are logged.
 */
int rtk_model_parse_page(struct rtk_listing_builder *b, const char *body, size_t len,
			 struct rtk_page *page);

/* Add a bare object (user-named account). 0, -EINVAL for an unsafe id, -EEXIST, -ENOMEM. */
int rtk_listing_builder_add_bare(struct rtk_listing_builder *b, const char *id, size_t len);

/* The finished listing (new reference); the builder is freed either way. NULL on ENOMEM. */
struct rtk_listing *rtk_listing_builder_finish(struct rtk_listing_builder *b);

/* ---- other bodies ---- */

/*
 * The server's own message from an error body, into out (always NUL-terminated, printable
 * ASCII only, truncated to outsz): v4 errors[0] ("message (code N)"), Realtime Kit
 * error.message, a bare {"message"} or JSON string, else the start of a non-JSON body.
 * Returns 0 when something was found, -ENOENT otherwise (out is then "").
 */
int rtk_model_error_message(const char *body, size_t len, char *out, size_t outsz);

/* A token verify response (v4): 0 when result.status is "active", -EACCES when it is another
 * status, -EPROTO when the body is not such a response. */
int rtk_model_parse_verify(const char *body, size_t len);

/* ---- values written to files (DESIGN §6) ---- */

/* Is this a URL a webhook may point at: absolute https, or http to a loopback host? */
bool rtk_model_url_is_valid(const char *url, size_t len);

/* Is this one of the nine webhook event names? */
bool rtk_model_event_is_known(const char *name, size_t len);

/*
 * Turn what was written to field file f of webhook cur into a PATCH body ({"enabled":false},
 * {"events":[...]}, ...) in body. Input may end with one newline (and CRLF); events are one
 * per line or separated by spaces, duplicates folded, order kept; enabled is true/false/1/0.
 * Returns 0 (body filled), 1 when the value equals cur's (nothing to send; body untouched),
 * -EINVAL when the value is not valid (reason, if msg is not NULL, into msg/msgsz), -ENOMEM.
 */
int rtk_model_patch_body(enum rtk_field f, const char *val, size_t len, const struct rtk_obj *cur,
			 struct rtk_buf *body, char *msg, size_t msgsz);

/*
 * Turn a whole webhook.json written by the user into a PUT (or POST, for create) body:
 * an object with name, url and events required (validated as above), enabled optional;
 * id, created_at and updated_at are dropped; any other key is -EINVAL. Same returns as
 * rtk_model_patch_body except 1 (a PUT always sends).
 */
int rtk_model_put_body(const char *val, size_t len, struct rtk_buf *body, char *msg, size_t msgsz);

#endif
