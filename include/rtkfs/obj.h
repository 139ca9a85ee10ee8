/* SPDX-License-Identifier: MIT */
/*
 * obj: one API object (account, app or webhook), immutable and reference-counted
 * (atomically), with the bytes of every file of its kind rendered once when it is built
 * (DESIGN §2 file contents): "value\n", "true\n", events one per line, pretty JSON...
 *
 * Nothing from the server is trusted: an object whose id is missing or not a safe path part
 * (rtk_path_id_is_safe) is not built.
 */
#ifndef RTKFS_OBJ_H
#define RTKFS_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "rtkfs/kind.h"

struct rtk_obj;
struct cJSON;

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

/* Did field f have the type its file format expects (a string for name, url and timestamps,
 * a bool for enabled, an array of strings for events), so that its bytes can be compared
 * with a written value? False for a bare object or a field the kind lacks. */
bool rtk_obj_field_is_typed(const struct rtk_obj *o, enum rtk_field f);

/* A bare object has only an id (an account the user named instead of one from GET /accounts). */
bool rtk_obj_is_bare(const struct rtk_obj *o);

/* updated_at, else created_at (else created_on for accounts), else zero. */
struct timespec rtk_obj_mtime(const struct rtk_obj *o);

/* Same id and same bytes in every file. */
bool rtk_obj_equal(const struct rtk_obj *a, const struct rtk_obj *b);

/* Approximate heap bytes held by the object (for the cache's memory cap). */
size_t rtk_obj_bytes(const struct rtk_obj *o);

/* A bare object of kind k with this id; NULL if the id is unsafe or on ENOMEM. */
struct rtk_obj *rtk_obj_new_bare(enum rtk_kind k, const char *id, size_t len);

/*
 * Build the object of kind k from its JSON (the JSON side only). Returns 0 and a new
 * reference in *out; -ENOENT when j is not an object or its id is missing or unsafe (the
 * caller skips it), -EPROTO when it renders bigger than RTK_OBJ_RENDER_MAX, -ENOMEM.
 */
int rtk_obj_from_json(enum rtk_kind k, const struct cJSON *j, struct rtk_obj **out);

/* The rendered bytes of one object may not pass this (pretty printing can inflate deeply
 * nested junk many times over); over it the body is -EPROTO, as any over-size body. */
#define RTK_OBJ_RENDER_MAX (16u << 20)

#endif
