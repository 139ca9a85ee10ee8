// SPDX-License-Identifier: MIT
/*
 * http: what HTTP and libcurl answers mean to the client (see http.h): the errno map and
 * the rate-limit headers. Pure functions: the header parsing works on (pointer, length)
 * ranges and never reads past the end it is given; nothing allocates or locks.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "rtkfs/http.h"

/* Values read from headers are clamped to this (one day); the budget caps pauses further. */
#define MAX_HEADER_VALUE RTK_HTTP_HEADER_VALUE_MAX

/* ---- the errno table (DESIGN §5): the one place HTTP and curl become errno ---- */

/*
 * Every CURLcode we tell apart: its errno and whether a GET may be retried after it. Both
 * rtk_http_errno and rtk_http_is_retryable read this one table; a code not listed is -EIO and
 * not retried.
 */
static const struct curl_class {
	CURLcode code;
	int err;
	bool retry;
} curl_classes[] = {
    /* The connect cap may fire well before the caller's deadline: the deadline decides. */
    {CURLE_OPERATION_TIMEDOUT, -ETIMEDOUT, true},
    {CURLE_COULDNT_CONNECT, -ECONNREFUSED, true},
    {CURLE_COULDNT_RESOLVE_HOST, -EHOSTUNREACH, true},
    {CURLE_COULDNT_RESOLVE_PROXY, -EHOSTUNREACH, false},
    /*
     * The connection broke mid-way: -EIO, like a 5xx, rather than -ECONNRESET, so that the
     * layers above treat it with the other "remote failed, data unknown" errors (the cache
     * serves stale data for EIO; DESIGN §5 has no ECONNRESET). A TLS handshake that fails
     * (often a middlebox dropping the connection) is the same kind of failure.
     */
    {CURLE_SEND_ERROR, -EIO, true},
    {CURLE_RECV_ERROR, -EIO, true},
    {CURLE_GOT_NOTHING, -EIO, true},
    {CURLE_PARTIAL_FILE, -EIO, true},
    {CURLE_HTTP2, -EIO, true},
    {CURLE_HTTP2_STREAM, -EIO, true},
    {CURLE_SSL_CONNECT_ERROR, -EIO, true},
    /* The answer is not something we accept: too big, undecodable, not HTTP. */
    {CURLE_WRITE_ERROR, -EPROTO, false},
    {CURLE_FILESIZE_EXCEEDED, -EPROTO, false},
    {CURLE_BAD_CONTENT_ENCODING, -EPROTO, false},
    {CURLE_WEIRD_SERVER_REPLY, -EPROTO, false},
    {CURLE_UNSUPPORTED_PROTOCOL, -EPROTO, false},
    {CURLE_TOO_MANY_REDIRECTS, -EPROTO, false},
    /*
     * The peer is not who it must be (certificate not trusted, wrong name, bad status): a
     * protocol-level refusal to talk, not a network error to retry or paper over, and not
     * EACCES, which means "the token was refused".
     */
    {CURLE_PEER_FAILED_VERIFICATION, -EPROTO, false},
    {CURLE_SSL_CERTPROBLEM, -EPROTO, false},
    {CURLE_SSL_CIPHER, -EPROTO, false},
    {CURLE_SSL_ISSUER_ERROR, -EPROTO, false},
    {CURLE_SSL_PINNEDPUBKEYNOTMATCH, -EPROTO, false},
    {CURLE_SSL_INVALIDCERTSTATUS, -EPROTO, false},
    {CURLE_USE_SSL_FAILED, -EPROTO, false},
    /* A local configuration problem: -o cacert names something that is not a CA bundle. */
    {CURLE_SSL_CACERT_BADFILE, -EINVAL, false},
    {CURLE_URL_MALFORMAT, -EINVAL, false},
    {CURLE_OUT_OF_MEMORY, -ENOMEM, false},
    /* rtk_api_call replaces this with -ETIMEDOUT when the deadline was the reason. */
    {CURLE_ABORTED_BY_CALLBACK, -EINTR, false},
};

/* The class of a failed transfer (code != CURLE_OK). */
static struct curl_class classify(CURLcode code)
{
	struct curl_class other = {code, -EIO, false};
	size_t i;

	for (i = 0; i < sizeof(curl_classes) / sizeof(curl_classes[0]); i++)
		if (curl_classes[i].code == code)
			return curl_classes[i];
	return other;
}

int rtk_http_errno(long status, int curl_code)
{
	/* A transfer error decides even when a status came first (body cut, too big, timeout). */
	if ((CURLcode)curl_code != CURLE_OK)
		return classify((CURLcode)curl_code).err;
	if (status >= 200 && status <= 299)
		return 0;
	if (status == 400 || status == 422)
		return -EINVAL;
	if (status == 401 || status == 403)
		return -EACCES;
	if (status == 404)
		return -ENOENT;
	if (status == 409)
		return -EEXIST;
	if (status == 429)
		return -EAGAIN;
	if (status >= 400 && status <= 499)
		return -EINVAL;
	if (status >= 500 && status <= 599)
		return -EIO;
	if (status == 0)
		return -EIO; /* no answer and no curl error: cannot happen, but never 0 */
	return -EPROTO;	     /* 1xx as final, 3xx (we never follow), nonsense */
}

bool rtk_http_is_retryable(int curl_code)
{
	return curl_code != CURLE_OK && classify((CURLcode)curl_code).retry;
}

/* ---- header parsing: everything below works on (pointer, end) ranges, never past end ---- */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * A non-negative decimal integer, saturating at LONG_MAX; *pp moves past it. Returns false
 * (and leaves *pp) when there is no digit.
 */
static bool parse_ulong(const char **pp, const char *end, long *out)
{
	const char *p = *pp;
	long v = 0;

	if (p >= end || !is_digit(*p))
		return false;
	for (; p < end && is_digit(*p); p++) {
		int d = *p - '0';

		v = v > (LONG_MAX - d) / 10 ? LONG_MAX : v * 10 + d;
	}
	*pp = p;
	*out = v;
	return true;
}

/* The whole range is one number (surrounding blanks allowed). */
static bool parse_number_only(const char *p, const char *end, long *out)
{
	long v;

	p = skip_ws(p, end);
	if (!parse_ulong(&p, end, &v))
		return false;
	/* A fraction ("1.5") is rounded up: waiting a little longer is the safe side. */
	if (p < end && *p == '.') {
		bool frac = false;

		for (p++; p < end && is_digit(*p); p++)
			frac |= *p != '0';
		if (frac && v < LONG_MAX)
			v++;
	}
	if (skip_ws(p, end) != end)
		return false;
	*out = v;
	return true;
}

static long clamp(long v)
{
	return v < 0 ? 0 : v > MAX_HEADER_VALUE ? MAX_HEADER_VALUE : v;
}

static bool word_is(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(p, w, n) == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
	long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

static int month_of(const char *p, const char *end)
{
	static const char *const names[] = {"jan", "feb", "mar", "apr", "may", "jun",
					    "jul", "aug", "sep", "oct", "nov", "dec"};
	unsigned i;

	if (end - p < 3)
		return -1;
	for (i = 0; i < 12; i++)
		if (strncasecmp(p, names[i], 3) == 0)
			return (int)i + 1;
	return -1;
}

/* "HH:MM:SS" into seconds of the day. */
static bool parse_hms(const char **pp, const char *end, long *sec)
{
	const char *p = *pp;
	long h, m, s;

	if (!parse_ulong(&p, end, &h) || p >= end || *p++ != ':' || !parse_ulong(&p, end, &m) ||
	    p >= end || *p++ != ':' || !parse_ulong(&p, end, &s))
		return false;
	if (h > 23 || m > 59 || s > 60)
		return false;
	*pp = p;
	*sec = h * 3600 + m * 60 + s;
	return true;
}

/*
 * An HTTP date (RFC 9110 §5.6.7) into Unix seconds: IMF-fixdate "Sun, 06 Nov 1994 08:49:37
 * GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994".
 */
static bool parse_http_date(const char *p, const char *end, long *out)
{
	long day, year, sec;
	int month;
	bool asctime_form;

	p = skip_ws(p, end);
	/* The day name. */
	while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		p++;
	asctime_form = p < end && *p == ' ';
	if (p < end && *p == ',')
		p++;
	p = skip_ws(p, end);
	if (asctime_form) {
		month = month_of(p, end);
		if (month < 0)
			return false;
		p = skip_ws(p + 3, end);
		if (!parse_ulong(&p, end, &day))
			return false;
		p = skip_ws(p, end);
		if (!parse_hms(&p, end, &sec))
			return false;
		p = skip_ws(p, end);
		if (!parse_ulong(&p, end, &year))
			return false;
	} else {
		if (!parse_ulong(&p, end, &day) || p >= end || (*p != ' ' && *p != '-'))
			return false;
		month = month_of(++p, end);
		if (month < 0)
			return false;
		p += 3;
		if (p >= end || (*p != ' ' && *p != '-'))
			return false;
		p++;
		{
			const char *y0 = p;

			if (!parse_ulong(&p, end, &year))
				return false;
			if (p - y0 == 2) /* RFC 850: two-digit years */
				year += year < 70 ? 2000 : 1900;
		}
		p = skip_ws(p, end);
		if (!parse_hms(&p, end, &sec))
			return false;
		p = skip_ws(p, end);
		/* Not HTTP, but seen in the wild: a numeric zone ("+0200", "-0000"). */
		if (end - p >= 5 && (*p == '+' || *p == '-') && is_digit(p[1]) && is_digit(p[2]) &&
		    is_digit(p[3]) && is_digit(p[4])) {
			long off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
				   ((p[3] - '0') * 10 + (p[4] - '0')) * 60;

			sec += *p == '+' ? -off : off;
		}
	}
	if (day < 1 || day > 31 || year < 1970 || year > 9999)
		return false;
	*out = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + sec;
	return true;
}

/* Seconds from now: a plain number of seconds, or an HTTP date. */
static bool parse_delay(const char *p, const char *end, long now_s, long *out)
{
	long v;

	if (parse_number_only(p, end, &v)) {
		/* A large number is a Unix time (some servers send x-ratelimit-reset that way). */
		if (v > 1000000000L && now_s > 0)
			v -= now_s;
		*out = clamp(v);
		return true;
	}
	if (parse_http_date(p, end, &v)) {
		*out = clamp(v - now_s);
		return true;
	}
	return false;
}

/* One "key=number" parameter at p (up to the next ';' or ','), into rem/reset. */
static void ratelimit_param(const char *p, const char *end, long *rem, long *reset)
{
	const char *key = p, *keyend;
	size_t n;
	long v;

	while (p < end && *p != '=' && *p != ';' && *p != ',')
		p++;
	keyend = p;
	while (keyend > key && (keyend[-1] == ' ' || keyend[-1] == '\t'))
		keyend--;
	if (p >= end || *p != '=')
		return;
	p = skip_ws(p + 1, end);
	if (!parse_ulong(&p, end, &v))
		return;
	n = (size_t)(keyend - key);
	v = clamp(v);
	if (word_is(key, n, "r") || word_is(key, n, "remaining")) {
		if (*rem < 0 || v < *rem)
			*rem = v;
	} else if (word_is(key, n, "t") || word_is(key, n, "reset")) {
		if (v > *reset)
			*reset = v;
	}
}

/*
 * `"default";r=50;t=30` (RFC draft-ietf-httpapi-ratelimit-headers-08 and later: items with
 * parameters, several policies separated by ',') or the older `limit=100, remaining=50,
 * reset=30`. Several values: the least remaining and the latest reset win.
 */
static void parse_ratelimit(const char *p, const char *end, long *remaining, long *reset_s)
{
	long rem = -1, reset = -1;

	while (p < end) {
		p = skip_ws(p, end);
		/* A quoted string is an item's name, not a parameter. */
		if (p < end && *p != '"')
			ratelimit_param(p, end, &rem, &reset);
		/* On to the next ';' or ',' outside quotes. */
		while (p < end && *p != ';' && *p != ',') {
			if (*p == '"') {
				for (p++; p < end && *p != '"'; p++)
					if (*p == '\\' && p + 1 < end)
						p++;
			}
			if (p < end)
				p++;
		}
		if (p < end)
			p++;
	}
	if (rem >= 0)
		*remaining = rem;
	if (reset >= 0)
		*reset_s = reset;
}

bool rtk_http_parse_ratelimit_header(const char *line, size_t len, long now_s, long *remaining,
				     long *reset_s, long *retry_after_s)
{
	const char *end = line + len, *colon, *name_end, *v;
	size_t n;
	long val;

	if (!line)
		return false;
	colon = memchr(line, ':', len);
	if (!colon)
		return false;
	name_end = colon;
	while (name_end > line && (name_end[-1] == ' ' || name_end[-1] == '\t'))
		name_end--;
	n = (size_t)(name_end - line);
	v = skip_ws(colon + 1, end);
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;

	if (word_is(line, n, "ratelimit")) {
		parse_ratelimit(v, end, remaining, reset_s);
		return true;
	}
	if (word_is(line, n, "ratelimit-policy"))
		return true; /* the quota is our own option (-o rate=); nothing to take from it */
	if (word_is(line, n, "x-ratelimit-remaining")) {
		if (parse_number_only(v, end, &val))
			*remaining = clamp(val);
		return true;
	}
	if (word_is(line, n, "x-ratelimit-reset")) {
		if (parse_delay(v, end, now_s, &val))
			*reset_s = val;
		return true;
	}
	if (word_is(line, n, "retry-after")) {
		if (parse_delay(v, end, now_s, &val))
			*retry_after_s = val;
		return true;
	}
	return false;
}
