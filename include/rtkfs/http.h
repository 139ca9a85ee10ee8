/* SPDX-License-Identifier: MIT */
/*
 * http: parsing of HTTP response headers for the API client (rate-limit headers and HTTP
 * dates). Pure functions: no allocation, no locking, never reads past the given length.
 */
#ifndef RTKFS_HTTP_H
#define RTKFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* Values read from headers are clamped to one day. */
#define RTK_HTTP_HEADER_VALUE_MAX 86400L

/*
 * Parse rate-limit response headers (one header line, "Name: value", as curl delivers them)
 * into remaining/reset/retry-after; fields not in this line are left untouched. Understands
 * `Ratelimit: "default";r=N;t=S`, `Ratelimit-Policy`, `x-ratelimit-remaining: N`,
 * `x-ratelimit-reset: <RFC 1123 date or seconds>` (now_s: wall-clock seconds, for dates)
 * and `retry-after: <seconds or HTTP date>`. Values are clamped to [0, RTK_HTTP_HEADER_VALUE_MAX].
 * Returns true when the line was one of these.
 */
bool rtk_http_parse_ratelimit_header(const char *line, size_t len, long now_s, long *remaining,
				     long *reset_s, long *retry_after_s);

#endif
