// SPDX-License-Identifier: MIT
/* shared without a Redis server: URLs, and failing fast and alone when none answers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "rtkfs/clock.h"
#include "rtkfs/shared.h"

static struct rtk_shared *make(const char *url, const char *pw, char *err, size_t errsz)
{
	struct rtk_shared_config c = {.url = url, .password = pw, .ttl_ms = 1000, .lease_ms = 1000};

	memset(c.ns_hash, 0xab, sizeof(c.ns_hash));
	return rtk_shared_new(&c, err, errsz);
}

static void test_urls(void)
{
	static const struct {
		const char *url, *shown;
	} good[] = {
	    {"redis://localhost", "redis://localhost:6379/0"},
	    {"redis://10.0.0.5:6380/3", "redis://10.0.0.5:6380/3"},
	    {"redis://:p@ss:w0rd@host:7000", "redis://host:7000/0"},
	    {"redis://user:secret@host/2", "redis://host:6379/2"},
	    {"unix:/run/redis/redis.sock", "unix:/run/redis/redis.sock"},
	};
	static const char *bad[] = {
	    "",
	    "http://host",
	    "redis://",
	    "redis://host:0",
	    "redis://host:65536",
	    "redis://host:12x",
	    "redis://host/x",
	    "redis://host/-1",
	    "unix:relative",
	    "redis://:hunter2@",
	    "redis://user@host",
	};
	struct rtk_shared_stats st;
	struct rtk_shared *s;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		s = make(good[i].url, NULL, err, sizeof(err));
		CHECK(s != NULL);
		if (!s)
			continue;
		rtk_shared_get_stats(s, &st);
		CHECK_EQ_STR(st.url, good[i].shown);
		CHECK(!strstr(st.url, "secret") && !strstr(st.url, "w0rd"));
		CHECK(!st.connected && !st.down_since);
		rtk_shared_free(s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		s = make(bad[i], NULL, err, sizeof(err));
		if (s)
			fprintf(stderr, "accepted '%s'\n", bad[i]);
		CHECK(s == NULL);
		CHECK(strstr(err, "shared= is not") != NULL);
		CHECK(!strstr(err, "hunter2"));
		rtk_shared_free(s);
	}
}

/* Nothing listens on port 1: the first call fails within the command bound, the next ones
 * at once (no connection is tried before the backoff), and the status says so. */
static void test_fails_fast_and_alone(void)
{
	struct rtk_op op = {.deadline_ns = rtk_clock_mono_ns() + 5 * RTK_NS_PER_SEC};
	struct rtk_shared_claim cl;
	struct rtk_shared_stats st;
	struct rtk_shared *s;
	struct rtk_buf v;
	uint64_t t0, wait = 1;
	char err[256];
	int i;

	s = make("redis://127.0.0.1:1", "pw", err, sizeof(err));
	CHECK(s != NULL);
	if (!s)
		return;
	rtk_buf_init(&v, 1024);
	t0 = rtk_clock_mono_ns();
	CHECK_EQ_INT(rtk_shared_get(s, "/accounts", &v), -ENOTCONN);
	CHECK(rtk_clock_mono_ns() - t0 < (RTK_SHARED_TIMEOUT_MS + 100) * RTK_NS_PER_MS);
	t0 = rtk_clock_mono_ns();
	for (i = 0; i < 100; i++) {
		CHECK_EQ_INT(rtk_shared_get(s, "/accounts", &v), -ENOTCONN);
		CHECK_EQ_INT(rtk_shared_put(s, "/accounts", "x", 1), -ENOTCONN);
		CHECK_EQ_INT(rtk_shared_take(s, 10, 10, &wait), -ENOTCONN);
		CHECK_EQ_INT(wait, 0);
		CHECK_EQ_INT(rtk_shared_claim(s, "/accounts", &op, &v, &cl), RTK_SHARED_ALONE);
		CHECK(!cl.owned);
		rtk_shared_release(s, "/accounts", &cl);
		CHECK_EQ_INT(rtk_shared_invalidate(s, "/accounts"), -ENOTCONN);
	}
	CHECK(rtk_clock_mono_ns() - t0 < 100 * RTK_NS_PER_MS);
	rtk_shared_get_stats(s, &st);
	CHECK(!st.connected && st.down_since > 0 && st.retry_in_s >= 1);
	CHECK(strstr(st.last_error, "cannot connect") != NULL);
	CHECK_EQ_INT(st.errors, 1);
	rtk_buf_release(&v);
	rtk_shared_free(s);
}

int main(void)
{
	RUN(test_urls);
	RUN(test_fails_fast_and_alone);
	return check_summary();
}
