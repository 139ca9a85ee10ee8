/* SPDX-License-Identifier: MIT */
/*
 * http: what HTTP and libcurl answers mean to the API client: the one map from an HTTP
 * status or a curl error to an errno (DESIGN §5), which curl errors a GET may retry, and the
 * rate-limit headers (with HTTP dates). Pure functions: no allocation, no locking, never
 * reads past a given length. curl_code is a CURLcode passed as int (no curl type here).
 */
#ifndef RTKFS_HTTP_H
#define RTKFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The errno table of DESIGN §5. status is the HTTP status (0: no response); curl_code is a
 * CURLcode (0: none), which decides when set (a body cut, too big, timed out). 2xx is 0.
 */
int rtk_http_errno(long status, int curl_code);

/* May a GET be sent again after this curl error (a connection that failed or broke)? */
bool rtk_http_is_retryable(int curl_code);

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
