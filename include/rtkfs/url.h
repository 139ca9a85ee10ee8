/* SPDX-License-Identifier: MIT */
/*
 * url: the one URL check of rtkfs, for the API base URL and for `url` values written to
 * webhooks. It parses with libcurl's URL API (curl_url), so what is checked is what curl
 * will connect to; no curl type leaks out of url.c.
 */
#ifndef RTKFS_URL_H
#define RTKFS_URL_H

#include <stddef.h>

/* Longest URL accepted (bytes), for both uses. */
#define RTK_URL_MAX 2048

enum rtk_url_use {
	RTK_URL_BASE,	 /* the API base URL (-o base_url): no query, no fragment */
	RTK_URL_WEBHOOK, /* a webhook's `url`: query and fragment allowed */
};

/*
 * Check the len bytes at url (need not be NUL-terminated). Acceptable: an absolute https URL,
 * or plain http to a loopback host only — 127.0.0.0/8 in any spelling curl accepts ("127.1",
 * "2130706433"), ::1 in any spelling ("[0::1]"), the IPv4-mapped ::ffff:127.x.y.z (the kernel
 * delivers it on the loopback interface), "localhost" and "localhost.", any case. Refused, for
 * both uses: more than RTK_URL_MAX bytes, blanks, control characters, non-ASCII bytes, any
 * backslash (browsers read "http://evil.com\@localhost/" as host evil.com), a user name or
 * password (except in an https webhook URL: receivers may use basic auth), an empty host,
 * a bad port (not 1-65535), any other scheme. RTK_URL_BASE also
 * refuses a query and a fragment.
 *
 * Returns 0, -EINVAL with a one-line reason in why (without the URL, which may hold a
 * password: callers add their own subject), or -ENOMEM. norm (may be NULL) gets on success
 * curl's normalized URL (malloc'd, the caller frees; for RTK_URL_BASE without trailing '/'),
 * and NULL on failure. why (always NUL-terminated when whysz > 0) is "" on success.
 */
int rtk_url_check(const char *url, size_t len, enum rtk_url_use use, char **norm, char *why,
		  size_t whysz);

#endif
