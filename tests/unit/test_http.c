// SPDX-License-Identifier: MIT
/* Unit tests of the HTTP header parsing (rate-limit headers, HTTP dates). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "rtkfs/http.h"
#include "check.h"

struct parsed {
	bool known;
	long rem, reset, retry;
};

static struct parsed parse(const char *line, long now_s)
{
	struct parsed p = {.rem = -1, .reset = -1, .retry = -1};

	p.known =
	    rtk_http_parse_ratelimit_header(line, strlen(line), now_s, &p.rem, &p.reset, &p.retry);
	return p;
}

static void test_parse_ratelimit(void)
{
	struct parsed p;

	p = parse("Ratelimit: \"default\";r=50;t=30\r\n", 0);
	CHECK(p.known);
	CHECK_EQ_INT(p.rem, 50);
	CHECK_EQ_INT(p.reset, 30);
	CHECK_EQ_INT(p.retry, -1);

	p = parse("ratelimit:\"default\"; r=0; t=300", 0);
	CHECK_EQ_INT(p.rem, 0);
	CHECK_EQ_INT(p.reset, 300);

	/* Several policies: the least remaining, the latest reset. */
	p = parse("RateLimit: \"burst\";r=5;t=10, \"day\";r=900;t=3600\r\n", 0);
	CHECK_EQ_INT(p.rem, 5);
	CHECK_EQ_INT(p.reset, 3600);

	/* The older draft syntax. */
	p = parse("RateLimit: limit=100, remaining=42, reset=17\r\n", 0);
	CHECK_EQ_INT(p.rem, 42);
	CHECK_EQ_INT(p.reset, 17);

	/* A quoted string with separators inside does not confuse the parameters. */
	p = parse("Ratelimit: \"a;r=1,t=2\";r=7;t=8", 0);
	CHECK_EQ_INT(p.rem, 7);
	CHECK_EQ_INT(p.reset, 8);

	p = parse("Ratelimit-Policy: \"burst\";q=1200;w=300\r\n", 0);
	CHECK(p.known);
	CHECK_EQ_INT(p.rem, -1);
	CHECK_EQ_INT(p.reset, -1);
}

static void test_parse_legacy(void)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
	const long t = 784111777;
	struct parsed p;

	p = parse("x-ratelimit-remaining: 1199\r\n", 0);
	CHECK(p.known);
	CHECK_EQ_INT(p.rem, 1199);
	p = parse("X-RateLimit-Reset: 25\r\n", 0);
	CHECK_EQ_INT(p.reset, 25);
	p = parse("x-ratelimit-reset: Sun, 06 Nov 1994 08:49:37 GMT\r\n", t - 60);
	CHECK_EQ_INT(p.reset, 60);
	/* Python's formatdate writes -0000. */
	p = parse("x-ratelimit-reset: Sun, 06 Nov 1994 08:49:37 -0000\r\n", t - 61);
	CHECK_EQ_INT(p.reset, 61);
	p = parse("x-ratelimit-reset: Sun, 06 Nov 1994 10:49:37 +0200\r\n", t - 5);
	CHECK_EQ_INT(p.reset, 5);
	/* A Unix time. */
	p = parse("x-ratelimit-reset: 1700000100", 1700000000);
	CHECK_EQ_INT(p.reset, 100);
	/* Not ours. */
	p = parse("x-ratelimit-limit: 1200\r\n", 0);
	CHECK(!p.known);
	p = parse("Content-Type: application/json\r\n", 0);
	CHECK(!p.known);
}

static void test_parse_retry_after(void)
{
	const long t = 784111777;
	struct parsed p;

	p = parse("retry-after: 120\r\n", 0);
	CHECK(p.known);
	CHECK_EQ_INT(p.retry, 120);
	p = parse("Retry-After: 1.2\r\n", 0);
	CHECK_EQ_INT(p.retry, 2);
	p = parse("Retry-After: Sun, 06 Nov 1994 08:49:37 GMT", t - 30);
	CHECK_EQ_INT(p.retry, 30);
	p = parse("Retry-After: Sunday, 06-Nov-94 08:49:37 GMT", t - 31);
	CHECK_EQ_INT(p.retry, 31);
	p = parse("Retry-After: Sun Nov  6 08:49:37 1994", t - 32);
	CHECK_EQ_INT(p.retry, 32);
	/* In the past: now. */
	p = parse("Retry-After: Sun, 06 Nov 1994 08:49:37 GMT", t + 100);
	CHECK_EQ_INT(p.retry, 0);
}

static void test_parse_garbage(void)
{
	static const char *const bad[] = {
	    "retry-after:",
	    "retry-after: ",
	    "retry-after: -5",
	    "retry-after: soon",
	    "retry-after: 12abc",
	    "retry-after: Sun, 99 Foo 1994 08:49:37 GMT",
	    "retry-after: Sun, 06 Nov 1994 25:49:37 GMT",
	    "retry-after: Sun, 06 Nov",
	    "retry-after: Sun, 06 Nov 1994 08:49",
	    "x-ratelimit-remaining: many",
	    "x-ratelimit-remaining: 1 2",
	    "x-ratelimit-reset: \xff\xfe",
	    "Ratelimit: r=",
	    "Ratelimit: ;;;,,,==",
	    "Ratelimit: \"unterminated;r=5",
	    "Ratelimit: r=x;t=-3",
	};
	struct parsed p;
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = parse(bad[i], 1000);
		CHECK(p.known);
		if (p.rem != -1 || p.reset != -1 || p.retry != -1)
			fprintf(stderr, "garbage parsed: %s\n", bad[i]);
		CHECK_EQ_INT(p.rem, -1);
		CHECK_EQ_INT(p.reset, -1);
		CHECK_EQ_INT(p.retry, -1);
	}
	/* Huge values saturate and are clamped to a day. */
	p = parse("retry-after: 99999999999999999999999999999999999", 0);
	CHECK_EQ_INT(p.retry, 86400);
	p = parse("Ratelimit: \"d\";r=99999999999999999999999;t=99999999999999999999", 0);
	CHECK_EQ_INT(p.rem, 86400);
	CHECK_EQ_INT(p.reset, 86400);
	p = parse("x-ratelimit-reset: Fri, 31 Dec 9999 23:59:59 GMT", 0);
	CHECK_EQ_INT(p.reset, 86400);
	/* No colon, empty, embedded NUL inside len. */
	p = parse("retry-after 5", 0);
	CHECK(!p.known);
	CHECK(!rtk_http_parse_ratelimit_header("", 0, 0, &p.rem, &p.reset, &p.retry));
	{
		const char line[] = "retry-after: 7\0 99";
		long r = -1, x = -1, y = -1;

		CHECK(rtk_http_parse_ratelimit_header(line, sizeof(line) - 1, 0, &x, &y, &r));
		CHECK_EQ_INT(r, -1); /* "7\0 99" is not a number */
	}
	/* Only the first len bytes are looked at. */
	{
		long r = -1, x = -1, y = -1;

		CHECK(rtk_http_parse_ratelimit_header("retry-after: 12345", 15, 0, &x, &y, &r));
		CHECK_EQ_INT(r, 12);
	}
}

static void test_errno_table(void)
{
	CHECK_EQ_INT(rtk_http_errno(200, 0), 0);
	CHECK_EQ_INT(rtk_http_errno(201, 0), 0);
	CHECK_EQ_INT(rtk_http_errno(204, 0), 0);
	CHECK_EQ_INT(rtk_http_errno(301, 0), -EPROTO);
	CHECK_EQ_INT(rtk_http_errno(302, 0), -EPROTO);
	CHECK_EQ_INT(rtk_http_errno(400, 0), -EINVAL);
	CHECK_EQ_INT(rtk_http_errno(422, 0), -EINVAL);
	CHECK_EQ_INT(rtk_http_errno(401, 0), -EACCES);
	CHECK_EQ_INT(rtk_http_errno(403, 0), -EACCES);
	CHECK_EQ_INT(rtk_http_errno(404, 0), -ENOENT);
	CHECK_EQ_INT(rtk_http_errno(409, 0), -EEXIST);
	CHECK_EQ_INT(rtk_http_errno(429, 0), -EAGAIN);
	CHECK_EQ_INT(rtk_http_errno(418, 0), -EINVAL);
	CHECK_EQ_INT(rtk_http_errno(500, 0), -EIO);
	CHECK_EQ_INT(rtk_http_errno(503, 0), -EIO);
	CHECK_EQ_INT(rtk_http_errno(0, 0), -EIO);
	CHECK_EQ_INT(rtk_http_errno(0, 28 /* OPERATION_TIMEDOUT */), -ETIMEDOUT);
	CHECK_EQ_INT(rtk_http_errno(0, 7 /* COULDNT_CONNECT */), -ECONNREFUSED);
	CHECK_EQ_INT(rtk_http_errno(0, 6 /* COULDNT_RESOLVE_HOST */), -EHOSTUNREACH);
	CHECK_EQ_INT(rtk_http_errno(0, 56 /* RECV_ERROR */), -EIO);
	CHECK_EQ_INT(rtk_http_errno(200, 18 /* PARTIAL_FILE */), -EIO);
	CHECK_EQ_INT(rtk_http_errno(200, 23 /* WRITE_ERROR */), -EPROTO);
	CHECK_EQ_INT(rtk_http_errno(200, 63 /* FILESIZE_EXCEEDED */), -EPROTO);
	CHECK_EQ_INT(rtk_http_errno(0, 60 /* PEER_FAILED_VERIFICATION */), -EPROTO);
	CHECK_EQ_INT(rtk_http_errno(0, 77 /* SSL_CACERT_BADFILE */), -EINVAL);
	CHECK_EQ_INT(rtk_http_errno(0, 42 /* ABORTED_BY_CALLBACK */), -EINTR);
}

/* Exactly the curl errors of a connection that failed or broke may be retried. */
static void test_retryable(void)
{
	CHECK(rtk_http_is_retryable(7));   /* CURLE_COULDNT_CONNECT */
	CHECK(rtk_http_is_retryable(6));   /* CURLE_COULDNT_RESOLVE_HOST */
	CHECK(rtk_http_is_retryable(56));  /* CURLE_RECV_ERROR */
	CHECK(rtk_http_is_retryable(52));  /* CURLE_GOT_NOTHING */
	CHECK(rtk_http_is_retryable(28));  /* CURLE_OPERATION_TIMEDOUT */
	CHECK(!rtk_http_is_retryable(0));  /* CURLE_OK */
	CHECK(!rtk_http_is_retryable(5));  /* CURLE_COULDNT_RESOLVE_PROXY */
	CHECK(!rtk_http_is_retryable(60)); /* CURLE_PEER_FAILED_VERIFICATION */
	CHECK(!rtk_http_is_retryable(63)); /* CURLE_FILESIZE_EXCEEDED */
	CHECK(!rtk_http_is_retryable(42)); /* CURLE_ABORTED_BY_CALLBACK */
	CHECK(!rtk_http_is_retryable(9999));
}

int main(void)
{
	RUN(test_errno_table);
	RUN(test_retryable);
	RUN(test_parse_ratelimit);
	RUN(test_parse_legacy);
	RUN(test_parse_retry_after);
	RUN(test_parse_garbage);
	return check_summary();
}
