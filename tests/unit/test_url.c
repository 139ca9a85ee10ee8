// SPDX-License-Identifier: MIT
/* Unit tests of the one URL check (libcurl's URL API underneath). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/url.h"
#include "check.h"

static int check(const char *url, enum rtk_url_use use, char *why, size_t whysz)
{
	return rtk_url_check(url, strlen(url), use, NULL, why, whysz);
}

/* Acceptable for both uses. */
static void test_accepted(void)
{
	static const char *const good[] = {
	    "https://api.cloudflare.com/client/v4", "https://example.com",
	    "HTTPS://Example.COM/hook", "https://example.com:8443/hook", "https://10.0.0.1/",
	    "http://127.0.0.1:8080/x", "http://127.1/", /* curl reads 127.0.0.1 */
	    "http://127.255.255.254/",			/* all of 127/8 */
	    "http://2130706433/",			/* 127.0.0.1 as one number */
	    "http://0x7f.1/",				/* and in hex */
	    "http://[::1%25lo]/",			/* with a zone id */
	    "http://localhost/", "http://LOCALHOST:99/", "http://localhost./", "http://[::1]:8080/",
	    "http://[0::1]/", "http://[0000:0000:0000:0000:0000:0000:0000:0001]/",
	    /* Decided: the IPv4-mapped form of 127/8 is delivered on loopback by the kernel. */
	    "http://[::ffff:127.0.0.1]/", "Http://127.0.0.1/", /* the scheme is case-insensitive */
	};
	char why[128];
	unsigned i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int base = check(good[i], RTK_URL_BASE, why, sizeof(why));
		int hook = check(good[i], RTK_URL_WEBHOOK, why, sizeof(why));

		if (base || hook)
			fprintf(stderr, "refused: %s (%s)\n", good[i], why);
		CHECK_EQ_INT(base, 0);
		CHECK_EQ_INT(hook, 0);
		CHECK_EQ_STR(why, "");
	}
}

struct bad {
	const char *url;
	const char *why; /* a word of the reason */
};

/* Refused for both uses, each for its own reason. */
static void test_refused(void)
{
	static const struct bad bad[] = {
	    {"http://evil.com\\@localhost/", "backslash"},
	    {"http://localhost\\@evil.com/", "backslash"},
	    {"https://example.com/a\\b", "backslash"},
	    {"http://example.com/", "not loopback"},
	    {"http://127.0.0.1.evil.com/", "not loopback"},
	    {"http://10.0.0.1/", "not loopback"},
	    {"http://[::2]/", "not loopback"},
	    {"http://[::ffff:10.0.0.1]/", "not loopback"},
	    {"http://localhost.example.com/", "not loopback"},
	    {"http://localhost../", "not loopback"},
	    {"http://127.0.0.1./", "not loopback"}, /* a name, to the resolver */
	    {"http://127.0.0.1@evil.example.com/", "user name"},
	    {"http://u:p@localhost/", "user name"},
	    {"https://exa mple.com/", "blank"},
	    {"https://example.com/\t", "control"},
	    {"https://example.com/\x7f", "control"},
	    {"https://ex\xc3\xa4mple.com/", "non-ASCII"},
	    {"", "empty"},
	    {"example.com/hook", "valid absolute"},
	    {"/relative", "valid absolute"},
	    {"ftp://127.0.0.1/", "scheme"},
	    {"file:///etc/passwd", ""}, /* no host; not http(s) either */
	    {"gopher://127.0.0.1/", "scheme"},
	    {"nosuchscheme://127.0.0.1/", "scheme"},
	    {"https:///path", "host"},
	    {"https:example.com/", "valid absolute"},
	    {"https://", "valid absolute"},
	    {"https://:443/", ""},
	    {"https://@/", ""},
	    {"https://example.com:0/", "port"},
	    {"https://example.com:65536/", "port"},
	    {"https://example.com:99999999999/", "port"},
	    {"https://example.com:x/", "port"},
	    {"http://[::1/", "valid absolute"},
	};
	char why[128];
	unsigned i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = check(bad[i].url, RTK_URL_WEBHOOK, why, sizeof(why));
		if (rc != -EINVAL || !strstr(why, bad[i].why))
			fprintf(stderr, "%s: %d '%s' (want '%s')\n", bad[i].url, rc, why,
				bad[i].why);
		CHECK_EQ_INT(rc, -EINVAL);
		CHECK(strstr(why, bad[i].why) != NULL);
		/* The reason never repeats the URL (it may hold a password). */
		CHECK(!strstr(why, "hunter2") && !strstr(why, "example"));
		CHECK_EQ_INT(check(bad[i].url, RTK_URL_BASE, why, sizeof(why)), -EINVAL);
	}
}

/* Basic auth to an https webhook receiver is fine; never in the base URL, never over http. */
static void test_userinfo(void)
{
	static const char *const urls[] = {
	    "https://user:hunter2@example.com/",
	    "https://user@example.com/",
	    "https://:pw@example.com/",
	};
	char why[128];
	unsigned i;

	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		CHECK_EQ_INT(check(urls[i], RTK_URL_WEBHOOK, why, sizeof(why)), 0);
		CHECK_EQ_INT(check(urls[i], RTK_URL_BASE, why, sizeof(why)), -EINVAL);
		CHECK(strstr(why, "user name") && !strstr(why, "hunter2"));
	}
}

static void test_query_fragment(void)
{
	char why[128];

	CHECK_EQ_INT(check("https://example.com/h?x=1", RTK_URL_WEBHOOK, why, sizeof(why)), 0);
	CHECK_EQ_INT(check("https://example.com/h#f", RTK_URL_WEBHOOK, why, sizeof(why)), 0);
	CHECK_EQ_INT(check("https://example.com/h?x=1", RTK_URL_BASE, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "query"));
	CHECK_EQ_INT(check("https://example.com/h#f", RTK_URL_BASE, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "fragment"));
}

/* Only the len bytes count; an embedded NUL is a control character. */
static void test_length(void)
{
	char big[RTK_URL_MAX + 2], why[128];
	size_t n;

	CHECK_EQ_INT(
	    rtk_url_check("https://example.com/xyz", 19, RTK_URL_WEBHOOK, NULL, why, sizeof(why)),
	    0);
	CHECK_EQ_INT(
	    rtk_url_check("https://a.com/\0x", 16, RTK_URL_WEBHOOK, NULL, why, sizeof(why)),
	    -EINVAL);
	CHECK_EQ_INT(rtk_url_check(NULL, 0, RTK_URL_WEBHOOK, NULL, why, sizeof(why)), -EINVAL);
	strcpy(big, "https://example.com/");
	n = strlen(big);
	memset(big + n, 'a', RTK_URL_MAX - n);
	big[RTK_URL_MAX] = '\0';
	CHECK_EQ_INT(check(big, RTK_URL_WEBHOOK, why, sizeof(why)), 0);
	big[RTK_URL_MAX] = 'a';
	big[RTK_URL_MAX + 1] = '\0';
	CHECK_EQ_INT(check(big, RTK_URL_WEBHOOK, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "2048"));
	/* A tiny why buffer is still terminated; none at all is allowed. */
	CHECK_EQ_INT(check("ftp://x/", RTK_URL_WEBHOOK, why, 4), -EINVAL);
	CHECK_EQ_INT(strlen(why), 3);
	CHECK_EQ_INT(check("ftp://x/", RTK_URL_WEBHOOK, NULL, 0), -EINVAL);
}

static void test_normalized(void)
{
	char *norm = (char *)"untouched", why[128];

	CHECK_EQ_INT(rtk_url_check("HTTPS://Example.com/client/v4//", 31, RTK_URL_BASE, &norm, why,
				   sizeof(why)),
		     0);
	CHECK_EQ_STR(norm, "https://Example.com/client/v4");
	free(norm);
	CHECK_EQ_INT(
	    rtk_url_check("https://example.com", 19, RTK_URL_BASE, &norm, why, sizeof(why)), 0);
	CHECK_EQ_STR(norm, "https://example.com");
	free(norm);
	CHECK_EQ_INT(
	    rtk_url_check("http://127.1:8080/h?a=1", 23, RTK_URL_WEBHOOK, &norm, why, sizeof(why)),
	    0);
	CHECK_EQ_STR(norm, "http://127.0.0.1:8080/h?a=1");
	free(norm);
	norm = (char *)"untouched";
	CHECK_EQ_INT(rtk_url_check("ftp://x/", 8, RTK_URL_WEBHOOK, &norm, why, sizeof(why)),
		     -EINVAL);
	CHECK(norm == NULL);
}

int main(void)
{
	RUN(test_accepted);
	RUN(test_refused);
	RUN(test_userinfo);
	RUN(test_query_fragment);
	RUN(test_length);
	RUN(test_normalized);
	return check_summary();
}
