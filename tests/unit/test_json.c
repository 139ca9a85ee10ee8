// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "bodies.h"
#include "rtkfs/buf.h"
#include "rtkfs/json.h"
#include "rtkfs/log.h"
#include "rtkfs/value.h"

/* A \u0000 escape leaves that object out (id) or shows U+FFFD (other strings), never -EPROTO. */
static void test_nul_escapes(void)
{
	static const char body[] =
	    "{\"success\":true,\"data\":[{\"id\":\"nul\\u0000id\",\"name\":\"a\"},"
	    "{\"id\":\"ok\",\"name\":\"x\\u0000y\",\"created_at\":\"2024-01-01T00:00:00Z\"}]}";
	struct rtk_listing_builder *b = rtk_listing_builder_new(RTK_K_APP);
	struct rtk_page pg = {.page = 1, .per_page = 20};
	struct rtk_listing *l;
	const char *name;
	size_t len;

	CHECK_EQ_INT(rtk_envelope_parse_page(b, body, sizeof(body) - 1, &pg), 0);
	CHECK_EQ_INT(pg.items, 2);
	CHECK_EQ_INT(pg.skipped, 1);
	l = rtk_listing_builder_finish(b);
	CHECK(l != NULL);
	CHECK_EQ_INT(rtk_listing_count(l), 1);
	name = rtk_obj_field(rtk_listing_at(l, 0), RTK_F_NAME, &len);
	CHECK_EQ_MEM(name, len, "x\xef\xbf\xbdy\n");
	rtk_listing_unref(l);
}

/* A webhook list whose one object holds d nested arrays (and brackets in a string). */
static void nested(char *body, size_t size, size_t d)
{
	size_t n, i;

	n = (size_t)snprintf(
	    body, size, "%s",
	    "{\"success\":true,\"data\":[{\"id\":\"x\",\"s\":\"[[[{{{\\\"[[\",\"d\":");
	for (i = 0; i < d && n + 8 < size; i++)
		body[n++] = '[';
	for (i = 0; i < d && n + 8 < size; i++)
		body[n++] = ']';
	snprintf(body + n, size - n, "}]}");
}

static void test_deep_nesting(void)
{
	size_t depth = 100000, i, n = 0;
	char *body = malloc(2 * depth + 64);
	clock_t t0;
	struct rtk_obj *o = NULL;
	char msg[64], small[512];

	if (!body)
		return;
	n += (size_t)sprintf(body, "{\"success\":true,\"data\":[{\"id\":\"x\",\"deep\":");
	for (i = 0; i < depth; i++)
		body[n++] = '[';
	for (i = 0; i < depth; i++)
		body[n++] = ']';
	n += (size_t)sprintf(body + n, "}]}");
	t0 = clock();
	{
		struct rtk_listing_builder *b = rtk_listing_builder_new(RTK_K_WEBHOOK);
		struct rtk_page pg = {.page = 1, .per_page = 20};

		CHECK_EQ_INT(rtk_envelope_parse_page(b, body, n, &pg), -EPROTO);
		rtk_listing_builder_free(b);
	}
	CHECK_EQ_INT(rtk_envelope_parse_object(RTK_K_WEBHOOK, body, n, &o), -EPROTO);
	CHECK_EQ_INT(rtk_envelope_parse_verify(body, n), -EPROTO);
	CHECK_EQ_INT(rtk_envelope_error_message(body, n, msg, sizeof(msg)), 0);
	CHECK(strncmp(msg, "{\"success\":true,\"data\":[{\"id\":\"x\",\"deep\":[[[",
		      strlen("{\"success\":true,\"data\":[{\"id\":\"x\",\"deep\":[[[")) == 0);
	CHECK_EQ_INT(strlen(msg), sizeof(msg) - 1);
	CHECK_EQ_INT(rtk_value_put_body(body, n, NULL, msg, sizeof(msg)), -EINVAL);
	/* Generous: it is a linear scan, but sanitizers slow everything down. */
	CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);

	/* Right at the limit is fine (3 levels of envelope); brackets in strings do not count. */
	nested(small, sizeof(small), RTK_JSON_MAX_DEPTH - 3);
	CHECK_EQ_INT(parse_str(RTK_K_WEBHOOK, small, NULL), 0);
	nested(small, sizeof(small), RTK_JSON_MAX_DEPTH - 2);
	CHECK_EQ_INT(parse_str(RTK_K_WEBHOOK, small, NULL), -EPROTO);
	free(body);
}

static void check_string(const char *s, size_t len, const char *expect)
{
	struct rtk_buf b;

	rtk_buf_init(&b, 1 << 10);
	CHECK_EQ_INT(rtk_json_put_string(&b, s, len), 0);
	CHECK_EQ_MEM(b.data, b.len, expect);
	rtk_buf_release(&b);
}

/* The one JSON string escaper: what must be escaped is, nothing else is, NUL included. */
static void test_put_string(void)
{
	struct rtk_buf b;

	check_string("", 0, "\"\"");
	check_string("plain text", 10, "\"plain text\"");
	check_string("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"");
	check_string("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
	check_string("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
	check_string("a\0b", 3, "\"a\\u0000b\"");
	check_string("caf\xc3\xa9 \xe2\x98\x95", 9, "\"caf\xc3\xa9 \xe2\x98\x95\"");
	check_string("cut here", 3, "\"cut\"");
	/* The buffer's cap is the caller's error, nothing half-written is claimed. */
	rtk_buf_init(&b, 4);
	CHECK_EQ_INT(rtk_json_put_string(&b, "abcdef", 6), -EFBIG);
	rtk_buf_release(&b);
}

static void test_put_line(void)
{
	char out[16];
	size_t n;

	n = rtk_json_put_line(out, sizeof(out), 0, "  a \t\r\n b  ", 11);
	CHECK_EQ_STR(out, "a b");
	CHECK_EQ_INT(n, 3);
	n = rtk_json_put_line(out, sizeof(out), n, " (code 7)", 9);
	CHECK_EQ_STR(out, "a b (code 7)");
	CHECK_EQ_INT(n, 12);
	n = rtk_json_put_line(out, sizeof(out), 0, "x\x01y\xc3\xa9\x7f", 6);
	CHECK_EQ_STR(out, "x?y???");
	n = rtk_json_put_line(out, sizeof(out), 0, "0123456789abcdefghij", 20);
	CHECK_EQ_STR(out, "0123456789abcde");
	CHECK_EQ_INT(n, 15);
	n = rtk_json_put_line(out, sizeof(out), 0, " \n ", 3);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(n, 0);
}

static void test_parse(void)
{
	static const char nul[] = "{\"a\":\"x\\u0000y\"}";
	cJSON *root = NULL;
	struct rtk_buf b;

	CHECK_EQ_INT(rtk_json_parse("{\"a\":[1,2]} \n", 13, RTK_JSON_NUL_REFUSE, &root), 0);
	CHECK(root != NULL);
	rtk_buf_init(&b, 1 << 10);
	CHECK_EQ_INT(rtk_json_put(&b, root, 0, false), 0);
	CHECK_EQ_MEM(b.data, b.len, "{\"a\":[1,2]}");
	rtk_buf_reset(&b);
	CHECK_EQ_INT(rtk_json_put(&b, root, 0, true), 0);
	CHECK_EQ_MEM(b.data, b.len, "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
	cJSON_Delete(root);

	/* \u0000: U+FFFD for what the server sent, refused in what a user wrote. */
	CHECK_EQ_INT(rtk_json_parse(nul, sizeof(nul) - 1, RTK_JSON_NUL_REFUSE, &root), -EILSEQ);
	CHECK(root == NULL);
	CHECK_EQ_INT(rtk_json_parse(nul, sizeof(nul) - 1, RTK_JSON_NUL_REPLACE, &root), 0);
	rtk_buf_reset(&b);
	CHECK_EQ_INT(rtk_json_put(&b, root, 0, false), 0);
	CHECK_EQ_MEM(b.data, b.len, "{\"a\":\"x\xef\xbf\xbdy\"}");
	cJSON_Delete(root);
	rtk_buf_release(&b);

	/* A "\\u0000" that is an escaped backslash and text is no NUL. */
	CHECK_EQ_INT(rtk_json_parse("\"\\\\u0000\"", 9, RTK_JSON_NUL_REFUSE, &root), 0);
	CHECK_EQ_STR(cJSON_GetStringValue(root), "\\u0000");
	cJSON_Delete(root);

	CHECK_EQ_INT(rtk_json_parse("{}", 0, RTK_JSON_NUL_REPLACE, &root), -EPROTO);
	CHECK_EQ_INT(rtk_json_parse("{}\0", 3, RTK_JSON_NUL_REPLACE, &root), -EPROTO);
	CHECK_EQ_INT(rtk_json_parse("{} x", 4, RTK_JSON_NUL_REPLACE, &root), -EPROTO);
	CHECK_EQ_INT(rtk_json_parse(NULL, 3, RTK_JSON_NUL_REPLACE, &root), -EPROTO);
	CHECK(root == NULL);
}

static void test_version(void)
{
	const char *v = rtk_json_version();

	CHECK(v != NULL && strchr(v, '.') != NULL);
}

int main(void)
{
	rtk_log_init(RTK_LOG_WARN, false);
	RUN(test_nul_escapes);
	RUN(test_deep_nesting);
	RUN(test_put_string);
	RUN(test_put_line);
	RUN(test_parse);
	RUN(test_version);
	return check_summary();
}
