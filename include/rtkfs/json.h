/* SPDX-License-Identifier: MIT */
/*
 * json: the guard in front of cJSON and the one JSON printer of rtkfs.
 *
 * The guard refuses text that is not exactly one JSON value, holds a raw NUL byte or nests
 * deeper than RTK_JSON_MAX_DEPTH, before any recursive parser sees it. The printer writes
 * JSON the way the files show it (pretty: two-space indent, as JSON.stringify(x, null, 2)).
 *
 * Functions taking struct cJSON are for the JSON side only (json, obj, listing, envelope,
 * value); nothing else includes cJSON, and this header does not either.
 */
#ifndef RTKFS_JSON_H
#define RTKFS_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "rtkfs/buf.h"

#define RTK_JSON_MAX_DEPTH 64 /* JSON nesting accepted from the server or a user */

struct cJSON;

/* What the parser does with a \u0000 escape in a string (cJSON would cut the string there). */
enum rtk_json_nul {
	RTK_JSON_NUL_REPLACE, /* read it as U+FFFD: server bodies (an id holding it is unsafe) */
	RTK_JSON_NUL_REFUSE,  /* fail with -EILSEQ: values a user wrote */
};

/*
 * Parse exactly len bytes of JSON (trailing whitespace allowed) into *out, which the caller
 * frees with cJSON_Delete. Returns 0, -EPROTO (not JSON, raw NUL, too deep), -EILSEQ (a
 * \u0000 escape under RTK_JSON_NUL_REFUSE) or -ENOMEM; *out is NULL on error.
 */
int rtk_json_parse(const char *text, size_t len, enum rtk_json_nul nul, struct cJSON **out);

/*
 * Append s (len bytes; NUL bytes allowed) to b as a quoted JSON string: '"' and '\\'
 * escaped, control bytes as \b \f \n \r \t or \u00XX, other bytes as they are.
 * Returns 0 or an error of rtk_buf_append.
 */
int rtk_json_put_string(struct rtk_buf *b, const char *s, size_t len);

/*
 * Append the value it to b, pretty or compact; depth is its nesting level (indent, and
 * -EPROTO past RTK_JSON_MAX_DEPTH + 1). Numbers print as cJSON prints them. Returns 0,
 * -EPROTO or an error of rtk_buf_append.
 */
int rtk_json_put(struct rtk_buf *b, const struct cJSON *it, int depth, bool pretty);

/* Is c JSON whitespace (space, tab, LF, CR)? */
bool rtk_json_is_space(char c);

/*
 * The plain-text sibling of the escaper, for messages: copy n bytes of s into out at offset
 * at as one line of printable ASCII (whitespace runs become one space, other control bytes
 * and non-ASCII become '?', trailing spaces trimmed, out always NUL-terminated within
 * outsz). Returns the new length of out.
 */
size_t rtk_json_put_line(char *out, size_t outsz, size_t at, const char *s, size_t n);

/* The version of the JSON library (for --version). */
const char *rtk_json_version(void);

#endif
