// SPDX-License-Identifier: MIT
/*
 * url: the one URL check (see url.h). The bytes are screened first (blanks, controls,
 * non-ASCII, backslashes: things URL parsers disagree on), then curl_url parses, and every
 * decision is taken on the parts curl will use to connect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "rtkfs/url.h"

/* Bytes no URL of ours may hold: what parsers (browsers, curl, servers) read differently. */
static const char *screen(const char *url, size_t len)
{
	const char *p;
	size_t i;

	if (!len)
		return "is empty";
	if (len > RTK_URL_MAX)
		return "is longer than 2048 bytes";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f)
			return "contains a blank, a control character or a non-ASCII byte";
		if (c == '\\')
			return "contains a backslash";
	}
	/*
	 * "scheme://host": curl (like browsers) reads "https:///h" as host "h" and "https:h" as
	 * a host too; neither is what anyone means, so the authority must be spelled out.
	 */
	p = memchr(url, ':', len);
	if (!p || (size_t)(p - url) + 3 >= len || memcmp(p, "://", 3) != 0)
		return "is not a valid absolute URL";
	if (p[3] == '/')
		return "has no host";
	return NULL;
}

/* host as curl gives it: a name, a dotted IPv4 (curl normalizes "127.1"), or "[v6]". */
static bool host_is_loopback(const char *host)
{
	static const unsigned char loop6[16] = {[15] = 1};
	static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
	unsigned char a4[4], a6[16];
	char tmp[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
		return true;
	if (inet_pton(AF_INET, host, a4) == 1)
		return a4[0] == 127;
	if (n < 2 || n >= sizeof(tmp) || host[0] != '[' || host[n - 1] != ']')
		return false;
	memcpy(tmp, host + 1, n - 2);
	tmp[n - 2] = '\0';
	if (inet_pton(AF_INET6, tmp, a6) != 1)
		return false;
	if (memcmp(a6, loop6, sizeof(a6)) == 0)
		return true;
	/* ::ffff:127.x.y.z is 127.x.y.z to the kernel: loopback. */
	return memcmp(a6, mapped, sizeof(mapped)) == 0 && a6[12] == 127;
}

static bool has_part(CURLU *u, CURLUPart what)
{
	char *part = NULL;
	bool has = curl_url_get(u, what, &part, 0) == CURLUE_OK;

	curl_free(part);
	return has;
}

static bool has_https_scheme(CURLU *u)
{
	char *scheme = NULL;
	bool https = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		     strcasecmp(scheme, "https") == 0;

	curl_free(scheme);
	return https;
}

/* The checks on the parsed URL: NULL when acceptable, else the reason. */
static const char *judge(CURLU *u, enum rtk_url_use use)
{
	char *scheme = NULL, *host = NULL, *port = NULL;
	const char *why = NULL;

	bool userinfo = has_part(u, CURLUPART_USER) || has_part(u, CURLUPART_PASSWORD) ||
			has_part(u, CURLUPART_OPTIONS);

	/*
	 * A webhook receiver may want basic auth over https; the base URL (the token goes there)
	 * and plain http (where "who is the host" must be beyond doubt) take none.
	 */
	if (userinfo && (use == RTK_URL_BASE || !has_https_scheme(u)))
		return "must not contain a user name or password";
	if (use == RTK_URL_BASE && has_part(u, CURLUPART_QUERY))
		return "must not have a query ('?...')";
	if (use == RTK_URL_BASE && has_part(u, CURLUPART_FRAGMENT))
		return "must not have a fragment ('#...')";
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
		why = "has no scheme or no host";
	else if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && atol(port) < 1)
		why = "has a bad port";
	else if (strcasecmp(scheme, "http") == 0 && !host_is_loopback(host))
		why = "is plain http to a host that is not loopback; use https";
	else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		why = "has a scheme other than https; use https";
	curl_free(port);
	curl_free(host);
	curl_free(scheme);
	return why;
}

/* *norm = a malloc'd copy of curl's URL (BASE: no trailing '/'). 0 or -ENOMEM. */
static int normalized(CURLU *u, enum rtk_url_use use, char **norm)
{
	char *full = NULL;
	size_t n;

	if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
		return -ENOMEM;
	n = strlen(full);
	while (use == RTK_URL_BASE && n && full[n - 1] == '/')
		n--;
	*norm = strndup(full, n);
	curl_free(full);
	return *norm ? 0 : -ENOMEM;
}

int rtk_url_check(const char *url, size_t len, enum rtk_url_use use, char **norm, char *why,
		  size_t whysz)
{
	const char *reason;
	CURLUcode uc;
	char *s = NULL;
	CURLU *u = NULL;
	int err = -EINVAL;

	if (norm)
		*norm = NULL;
	if (whysz)
		why[0] = '\0';
	reason = url ? screen(url, len) : "is missing";
	if (reason)
		goto out;
	reason = "out of memory";
	err = -ENOMEM;
	s = strndup(url, len);
	u = curl_url();
	if (!s || !u)
		goto out;
	uc = curl_url_set(u, CURLUPART_URL, s, 0);
	if (uc == CURLUE_OUT_OF_MEMORY)
		goto out;
	err = -EINVAL;
	if (uc == CURLUE_BAD_PORT_NUMBER)
		reason = "has a bad port";
	else if (uc == CURLUE_NO_HOST)
		reason = "has no host";
	else if (uc == CURLUE_UNSUPPORTED_SCHEME)
		reason = "has a scheme other than https; use https";
	else if (uc != CURLUE_OK)
		reason = "is not a valid absolute URL";
	else
		reason = judge(u, use);
	if (reason)
		goto out;
	err = norm ? normalized(u, use, norm) : 0;
	reason = err ? "out of memory" : NULL;
out:
	if (reason && whysz)
		snprintf(why, whysz, "%s", reason);
	curl_url_cleanup(u);
	free(s);
	return err;
}
