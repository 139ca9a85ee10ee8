// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "bodies.h"
#include "rtkfs/buf.h"
#include "rtkfs/log.h"
#include "rtkfs/value.h"

static void test_url(void)
{
	static const char *const good[] = {
	    "https://example.com",
	    "https://example.com/",
	    "HTTPS://Example.COM/a/b?c=d#e",
	    "https://user:pw@example.com:8443/x",
	    "https://[2001:db8::1]:443/hook",
	    "https://webhook.site/b23a5bbd-c7b0-4ced-a9e2-78ae7889897e",
	    "http://127.0.0.1:8080/hook",
	    "http://127.1.2.3/",
	    "http://localhost/",
	    "HTTP://LOCALHOST:1",
	    "http://[::1]:9000/x",
	    "https://a",
	};
	static const char *const bad[] = {
	    "",
	    "example.com",
	    "//example.com",
	    "https:/example.com",
	    "https://",
	    "https:///path",
	    "https://:443/",
	    "https://exa mple.com",
	    "https://example.com/a b",
	    "https://example.com/\t",
	    "https://example.com/\x7f",
	    "https://ex\xc3\xa9.com",
	    "ftp://example.com",
	    "javascript://alert(1)",
	    "http://example.com",
	    "http://127.0.0.1.evil.com/",
	    "http://127.0.0.1@evil.com/",
	    "http://localhost.evil.com",
	    "http://128.0.0.1/",
	    "http://127.0.0.256/",
	    "http://[::2]/",
	    "https://example.com:0/",
	    "https://example.com:65536/",
	    "https://example.com:8x/",
	    "https://[::1/",
	    "https://[]/",
	    "https://ex<ample.com/",
	};
	char longurl[2100];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!rtk_value_url_is_valid(good[i], strlen(good[i])))
			fprintf(stderr, "url should be good: %s\n", good[i]);
		CHECK(rtk_value_url_is_valid(good[i], strlen(good[i])));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rtk_value_url_is_valid(bad[i], strlen(bad[i])))
			fprintf(stderr, "url should be bad: %s\n", bad[i]);
		CHECK(!rtk_value_url_is_valid(bad[i], strlen(bad[i])));
	}
	CHECK(!rtk_value_url_is_valid("https://a\0b", 11));
	memcpy(longurl, "https://example.com/", 20);
	memset(longurl + 20, 'a', sizeof(longurl) - 20);
	CHECK(rtk_value_url_is_valid(longurl, 2048));
	CHECK(!rtk_value_url_is_valid(longurl, 2049));
}

static void test_events_known(void)
{
	CHECK(rtk_value_event_is_known("meeting.started", 15));
	CHECK(rtk_value_event_is_known("meeting.summary", 15));
	CHECK(rtk_value_event_is_known("livestreaming.statusUpdate", 26));
	CHECK(!rtk_value_event_is_known("meeting.Started", 15));
	CHECK(!rtk_value_event_is_known("meeting.started ", 16));
	CHECK(!rtk_value_event_is_known("meeting.start", 13));
	CHECK(!rtk_value_event_is_known("", 0));
}

/* Run a patch and compare the body (or the return code only when expect is NULL). */
static void check_patch(enum rtk_field f, const char *val, const struct rtk_obj *cur, int want,
			const char *expect)
{
	struct rtk_buf body;
	char msg[128];
	int err;

	rtk_buf_init(&body, 1 << 20);
	err = rtk_value_patch_body(f, val, strlen(val), cur, &body, msg, sizeof(msg));
	if (err != want)
		fprintf(stderr, "patch '%s': %d (%s)\n", val, err, msg);
	CHECK_EQ_INT(err, want);
	if (want == -EINVAL)
		CHECK(msg[0] != '\0');
	if (want == 0 && expect)
		CHECK_EQ_MEM(body.data, body.len, expect);
	if (want != 0)
		CHECK_EQ_INT(body.len, 0);
	rtk_buf_release(&body);
}

static void test_patch(void)
{
	struct rtk_obj *cur =
	    webhook_from("{\"id\":\"w\",\"name\":\"Hook \\u00e9\",\"url\":\"https://a.example/x\","
			 "\"enabled\":true,\"events\":[\"meeting.started\",\"meeting.ended\","
			 "\"meeting.started\"]}");
	struct rtk_obj *odd = webhook_from("{\"id\":\"w\",\"name\":5,\"enabled\":\"true\"}");
	struct rtk_buf body;
	char msg[128];

	check_patch(RTK_F_NAME, "New name\n", cur, 0, "{\"name\":\"New name\"}");
	check_patch(RTK_F_NAME, "New name", cur, 0, "{\"name\":\"New name\"}");
	check_patch(RTK_F_NAME, "New name\r\n", cur, 0, "{\"name\":\"New name\"}");
	check_patch(RTK_F_NAME, "  spaced \"q\" \\ \t\n", cur, 0,
		    "{\"name\":\"  spaced \\\"q\\\" \\\\ \\t\"}");
	check_patch(RTK_F_NAME, "Hook \xc3\xa9\n", cur, 1, NULL);
	check_patch(RTK_F_NAME, "Hook \xc3\xa9", cur, 1, NULL);
	check_patch(RTK_F_NAME, "Hook \xc3\xa9\n", NULL, 0, "{\"name\":\"Hook \xc3\xa9\"}");
	check_patch(RTK_F_NAME, "\n", cur, -EINVAL, NULL);
	check_patch(RTK_F_NAME, "", cur, -EINVAL, NULL);
	check_patch(RTK_F_NAME, "a\nb\n", cur, -EINVAL, NULL);
	check_patch(RTK_F_NAME, "a\n\n", cur, -EINVAL, NULL);
	check_patch(RTK_F_NAME, "a\rb", cur, -EINVAL, NULL);
	check_patch(RTK_F_NAME, "bad \xc3\x28", cur, -EINVAL, NULL);
	check_patch(RTK_F_NAME, "bad \xed\xa0\x80", cur, -EINVAL, NULL);
	/* A name the server holds as a number is not "unchanged" when written as text. */
	check_patch(RTK_F_NAME, "5\n", odd, 0, "{\"name\":\"5\"}");

	check_patch(RTK_F_URL, "https://b.example/y\n", cur, 0,
		    "{\"url\":\"https://b.example/y\"}");
	check_patch(RTK_F_URL, "https://a.example/x\n", cur, 1, NULL);
	check_patch(RTK_F_URL, "http://b.example/y\n", cur, -EINVAL, NULL);
	check_patch(RTK_F_URL, "https://b.example/y \n", cur, -EINVAL, NULL);
	check_patch(RTK_F_URL, "\n", cur, -EINVAL, NULL);

	check_patch(RTK_F_ENABLED, "false\n", cur, 0, "{\"enabled\":false}");
	check_patch(RTK_F_ENABLED, "0", cur, 0, "{\"enabled\":false}");
	check_patch(RTK_F_ENABLED, "true\n", cur, 1, NULL);
	check_patch(RTK_F_ENABLED, "1\r\n", cur, 1, NULL);
	check_patch(RTK_F_ENABLED, "true\n", odd, 0, "{\"enabled\":true}");
	check_patch(RTK_F_ENABLED, "True\n", cur, -EINVAL, NULL);
	check_patch(RTK_F_ENABLED, "yes", cur, -EINVAL, NULL);
	check_patch(RTK_F_ENABLED, "true\n\n", cur, -EINVAL, NULL);
	check_patch(RTK_F_ENABLED, " true", cur, -EINVAL, NULL);
	check_patch(RTK_F_ENABLED, "", cur, -EINVAL, NULL);

	check_patch(RTK_F_EVENTS, "meeting.started\nmeeting.ended\n", cur, 1, NULL);
	check_patch(RTK_F_EVENTS, "meeting.started meeting.ended meeting.started", cur, 1, NULL);
	check_patch(RTK_F_EVENTS, "meeting.ended\nmeeting.started\n", cur, 0,
		    "{\"events\":[\"meeting.ended\",\"meeting.started\"]}");
	check_patch(RTK_F_EVENTS, "meeting.started\n", cur, 0,
		    "{\"events\":[\"meeting.started\"]}");
	check_patch(RTK_F_EVENTS, " \t meeting.summary\r\n\n  recording.statusUpdate \t", cur, 0,
		    "{\"events\":[\"meeting.summary\",\"recording.statusUpdate\"]}");
	check_patch(RTK_F_EVENTS, "", cur, 0, "{\"events\":[]}");
	check_patch(RTK_F_EVENTS, "\n", cur, 0, "{\"events\":[]}");
	check_patch(RTK_F_EVENTS, "meeting.started\nmeeting.bogus\n", cur, -EINVAL, NULL);
	check_patch(RTK_F_EVENTS, "meeting.started,meeting.ended", cur, -EINVAL, NULL);

	check_patch(RTK_F_ID, "x", cur, -EINVAL, NULL);
	check_patch(RTK_F_JSON, "{}", cur, -EINVAL, NULL);
	check_patch(RTK_F_CREATED_AT, "x", cur, -EINVAL, NULL);

	/* The message names the problem, in printable text. */
	rtk_buf_init(&body, 1 << 20);
	CHECK_EQ_INT(
	    rtk_value_patch_body(RTK_F_EVENTS, "meeting.\x01x", 10, cur, &body, msg, sizeof(msg)),
	    -EINVAL);
	CHECK_EQ_STR(msg, "unknown event 'meeting.?x'");
	CHECK_EQ_INT(rtk_value_patch_body(RTK_F_URL, "ftp://x", 7, cur, &body, msg, sizeof(msg)),
		     -EINVAL);
	CHECK(strstr(msg, "https") != NULL);
	CHECK_EQ_INT(rtk_value_patch_body(RTK_F_NAME, "a\0b", 3, cur, &body, NULL, 0), -EINVAL);
	/* A body cap too small: the buffer's error. */
	rtk_buf_release(&body);
	rtk_buf_init(&body, 4);
	CHECK_EQ_INT(rtk_value_patch_body(RTK_F_ENABLED, "0", 1, cur, &body, msg, sizeof(msg)),
		     -EFBIG);
	rtk_buf_release(&body);
	rtk_obj_unref(cur);
	rtk_obj_unref(odd);
}

/* What cat prints, written back as it is, changes nothing. */
static void test_write_back_unchanged(void)
{
	struct rtk_listing *l = listing_of(RTK_K_WEBHOOK, "webhooks.json", NULL);
	static const enum rtk_field fields[] = {RTK_F_NAME, RTK_F_URL, RTK_F_ENABLED, RTK_F_EVENTS};
	struct rtk_buf body;
	size_t i, j;

	rtk_buf_init(&body, 1 << 20);
	for (i = 0; i < 2; i++) {
		const struct rtk_obj *o = rtk_listing_at(l, i);

		for (j = 0; j < sizeof(fields) / sizeof(fields[0]); j++) {
			size_t len;
			const char *v = rtk_obj_field(o, fields[j], &len);

			CHECK_EQ_INT(rtk_value_patch_body(fields[j], v, len, o, &body, NULL, 0), 1);
			CHECK_EQ_INT(body.len, 0);
		}
	}
	rtk_buf_release(&body);
	rtk_listing_unref(l);
}

static void check_put(const char *val, int want, const char *expect)
{
	struct rtk_buf body;
	char msg[128];
	int err;

	rtk_buf_init(&body, 1 << 20);
	err = rtk_value_put_body(val, strlen(val), &body, msg, sizeof(msg));
	if (err != want)
		fprintf(stderr, "put '%s': %d (%s)\n", val, err, msg);
	CHECK_EQ_INT(err, want);
	if (want == 0 && expect)
		CHECK_EQ_MEM(body.data, body.len, expect);
	if (want == -EINVAL)
		CHECK(msg[0] != '\0');
	if (want != 0)
		CHECK_EQ_INT(body.len, 0);
	rtk_buf_release(&body);
}

static void test_put(void)
{
	struct rtk_listing *l = listing_of(RTK_K_WEBHOOK, "webhooks.json", NULL);
	struct rtk_buf body;
	size_t len;
	const char *json;
	char msg[128];

	check_put(
	    "{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[\"meeting.started\"]}", 0,
	    "{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[\"meeting.started\"]}");
	check_put("{\"id\":\"w\",\"created_at\":\"x\",\"updated_at\":null,\"enabled\":false,"
		  "\"events\":[\"meeting.ended\",\"meeting.started\",\"meeting.ended\"],"
		  "\"url\":\"http://localhost:9/\",\"name\":\"\\u00e9 \\\"q\\\"\"}\n",
		  0,
		  "{\"name\":\"\xc3\xa9 \\\"q\\\"\",\"url\":\"http://localhost:9/\","
		  "\"events\":[\"meeting.ended\",\"meeting.started\"],\"enabled\":false}");
	check_put("{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[]}", 0,
		  "{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[]}");

	check_put("", -EINVAL, NULL);
	check_put("not json", -EINVAL, NULL);
	check_put("[]", -EINVAL, NULL);
	check_put("\"x\"", -EINVAL, NULL);
	check_put("{\"url\":\"https://x.example\",\"events\":[]}", -EINVAL, NULL);
	check_put("{\"name\":\"\",\"url\":\"https://x.example\",\"events\":[]}", -EINVAL, NULL);
	check_put("{\"name\":\"a\\nb\",\"url\":\"https://x.example\",\"events\":[]}", -EINVAL,
		  NULL);
	check_put("{\"name\":1,\"url\":\"https://x.example\",\"events\":[]}", -EINVAL, NULL);
	check_put("{\"name\":\"n\",\"events\":[]}", -EINVAL, NULL);
	check_put("{\"name\":\"n\",\"url\":\"http://x.example\",\"events\":[]}", -EINVAL, NULL);
	check_put("{\"name\":\"n\",\"url\":\"https://x.example\"}", -EINVAL, NULL);
	check_put("{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":\"meeting.started\"}",
		  -EINVAL, NULL);
	check_put("{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[\"nope\"]}", -EINVAL,
		  NULL);
	check_put("{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[1]}", -EINVAL, NULL);
	check_put(
	    "{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[],\"enabled\":\"true\"}",
	    -EINVAL, NULL);
	check_put("{\"name\":\"n\",\"name\":\"m\",\"url\":\"https://x.example\",\"events\":[]}",
		  -EINVAL, NULL);
	check_put("{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[],\"a\\u0000b\":1}",
		  -EINVAL, NULL);

	rtk_buf_init(&body, 1 << 20);
	CHECK_EQ_INT(
	    rtk_value_put_body("{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[],"
			       "\"extra\":1}",
			       60, &body, msg, sizeof(msg)),
	    -EINVAL);
	CHECK_EQ_STR(msg, "unknown key 'extra' in webhook.json");

	/* What the user reads from webhook.json, written back unchanged, is a valid PUT. */
	json = rtk_obj_field(rtk_listing_at(l, 0), RTK_F_JSON, &len);
	rtk_buf_reset(&body);
	CHECK_EQ_INT(rtk_value_put_body(json, len, &body, msg, sizeof(msg)), 0);
	CHECK(strstr(body.data, "\"enabled\":true") != NULL);
	/* ...but not with the server's unknown fields in it. */
	json = rtk_obj_field(rtk_listing_at(l, 1), RTK_F_JSON, &len);
	rtk_buf_reset(&body);
	CHECK_EQ_INT(rtk_value_put_body(json, len, &body, msg, sizeof(msg)), -EINVAL);
	CHECK_EQ_STR(msg, "unknown key 'extra' in webhook.json");
	rtk_buf_release(&body);
	rtk_listing_unref(l);
}

/* Issue 10 item 6: a NUL in any written string is refused with its reason, never sent and
 * never turned into U+FFFD. */
static void check_nul(int rc, const char *msg, const struct rtk_buf *body, const char *what)
{
	CHECK_EQ_INT(rc, -EINVAL);
	if (!strstr(msg, what) || !strstr(msg, "NUL"))
		fprintf(stderr, "message '%s' does not name '%s' and NUL\n", msg, what);
	CHECK(strstr(msg, what) != NULL);
	CHECK(strstr(msg, "NUL") != NULL);
	CHECK_EQ_INT(body->len, 0);
}

static void test_nul_in_writes(void)
{
	static const char *const puts_[] = {
	    "{\"name\":\"a\\u0000b\",\"url\":\"https://x.example\",\"events\":[]}",
	    "{\"name\":\"n\",\"url\":\"https://x.example/\\u0000\",\"events\":[]}",
	    "{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[\"meeting.started\\u0000\"]}",
	    "{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[],\"id\":\"\\u0000\"}",
	};
	static const char text[] =
	    "{\"name\":\"a\\\\u0000\",\"url\":\"https://x.example\",\"events\":[]}";
	struct rtk_obj *cur = webhook_from("{\"id\":\"w\",\"name\":\"a\"}");
	struct rtk_buf body;
	char msg[128];
	size_t i;

	rtk_buf_init(&body, 1 << 20);
	check_nul(rtk_value_patch_body(RTK_F_NAME, "a\0b\n", 4, cur, &body, msg, sizeof(msg)), msg,
		  &body, "name");
	check_nul(rtk_value_patch_body(RTK_F_NAME, "\0", 1, cur, &body, msg, sizeof(msg)), msg,
		  &body, "name");
	check_nul(rtk_value_patch_body(RTK_F_URL, "https://x.example/\0", 19, cur, &body, msg,
				       sizeof(msg)),
		  msg, &body, "url");
	check_nul(rtk_value_patch_body(RTK_F_EVENTS, "meeting.started\0\n", 17, cur, &body, msg,
				       sizeof(msg)),
		  msg, &body, "events");
	check_nul(rtk_value_patch_body(RTK_F_EVENTS, "meeting.started\n\0meeting.ended", 31, cur,
				       &body, msg, sizeof(msg)),
		  msg, &body, "events");
	for (i = 0; i < sizeof(puts_) / sizeof(puts_[0]); i++)
		check_nul(rtk_value_put_body(puts_[i], strlen(puts_[i]), &body, msg, sizeof(msg)),
			  msg, &body, "webhook.json");
	/* The text "\u0000" (an escaped backslash) is no NUL: a fine name. */
	CHECK_EQ_INT(rtk_value_put_body(text, strlen(text), &body, msg, sizeof(msg)), 0);
	CHECK_EQ_MEM(body.data, body.len, text);
	rtk_buf_release(&body);
	rtk_obj_unref(cur);
}

int main(void)
{
	rtk_log_init(RTK_LOG_WARN, false);
	RUN(test_url);
	RUN(test_events_known);
	RUN(test_patch);
	RUN(test_write_back_unchanged);
	RUN(test_put);
	RUN(test_nul_in_writes);
	return check_summary();
}
