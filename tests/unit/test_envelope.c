// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "bodies.h"
#include "rtkfs/envelope.h"
#include "rtkfs/log.h"

static void test_fixtures_parse(void)
{
	struct rtk_obj *o = NULL;
	size_t len;
	char *body;

	CHECK_EQ_INT(parse_fixture(RTK_K_ACCOUNT, "accounts_page1.json"), 0);
	CHECK_EQ_INT(parse_fixture(RTK_K_ACCOUNT, "accounts_page2.json"), 0);
	CHECK_EQ_INT(parse_fixture(RTK_K_ACCOUNT, "accounts_empty.json"), 0);
	CHECK_EQ_INT(parse_fixture(RTK_K_APP, "apps_page.json"), 0);
	CHECK_EQ_INT(parse_fixture(RTK_K_APP, "apps_page2.json"), 0);
	CHECK_EQ_INT(parse_fixture(RTK_K_WEBHOOK, "webhooks.json"), 0);
	CHECK_EQ_INT(parse_fixture(RTK_K_WEBHOOK, "webhooks_empty.json"), 0);
	CHECK_EQ_INT(parse_fixture(RTK_K_WEBHOOK, "webhooks_hostile.json"), 0);
	CHECK_EQ_INT(parse_fixture(RTK_K_WEBHOOK, "webhooks_dups.json"), 0);

	body = load("webhook.json", &len);
	CHECK_EQ_INT(rtk_envelope_parse_object(RTK_K_WEBHOOK, body, len, &o), 0);
	rtk_obj_unref(o);
	free(body);
	body = load("app_create.json", &len);
	CHECK_EQ_INT(rtk_envelope_parse_object(RTK_K_APP, body, len, &o), 0);
	CHECK_EQ_STR(rtk_obj_id(o, NULL), "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
	CHECK_FIELD(o, RTK_F_NAME, "New app\n");
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 1738555506);
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_nsec, 789000000);
	rtk_obj_unref(o);
	free(body);
}

static void test_malformed(void)
{
	static const char *const fixtures[] = {
	    "truncated.json",
	    "not_json.txt",
	    "success_false.json",
	    "wrong_shape_array.json",
	    "wrong_shape_data_object.json",
	    "wrong_shape_data_string.json",
	    "error_v4.json",
	    "error_rtk.json",
	    "error_401_string.json",
	    "error_html.html",
	};
	static const char *const bodies[] = {
	    "",
	    " ",
	    "null",
	    "{}",
	    "{\"success\":true}",
	    "{\"success\":\"true\",\"data\":[]}",
	    "{\"success\":1,\"data\":[]}",
	    "{\"success\":true,\"data\":null}",
	    "{\"success\":true,\"data\":[]} garbage",
	    "{\"success\":true,\"data\":[]}{}",
	    "{\"success\":true,\"data\":[",
	};
	struct rtk_obj *o = (struct rtk_obj *)1;
	size_t i;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		int err = parse_fixture(RTK_K_WEBHOOK, fixtures[i]);

		if (err != -EPROTO)
			fprintf(stderr, "fixture %s: %d\n", fixtures[i], err);
		CHECK_EQ_INT(err, -EPROTO);
	}
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		int err = parse_str(RTK_K_APP, bodies[i], NULL);

		if (err != -EPROTO)
			fprintf(stderr, "body %zu: %d\n", i, err);
		CHECK_EQ_INT(err, -EPROTO);
	}
	/* A raw NUL byte anywhere: not JSON we can show faithfully. */
	CHECK_EQ_INT(parse_fixture_n(RTK_K_APP, "{\"data\":[{\"id\":\"a\0b\"}]}", 23), -EPROTO);
	CHECK_EQ_INT(parse_fixture_n(RTK_K_APP, "{\"data\":[]}\0", 12), -EPROTO);
	/* Accounts look in result, not data. */
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT, "{\"success\":true,\"data\":[]}", NULL), -EPROTO);
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT, "{\"success\":true,\"result\":[]}", NULL), 0);
	/* success is optional in the Realtime Kit schema. */
	CHECK_EQ_INT(parse_str(RTK_K_APP, "{\"data\":[]}\n\r\n", NULL), 0);
	/* cJSON skips a UTF-8 byte order mark; so do we. */
	CHECK_EQ_INT(parse_str(RTK_K_APP, "\xef\xbb\xbf{\"success\":true,\"data\":[]}", NULL), 0);

	CHECK_EQ_INT(
	    rtk_envelope_parse_object(RTK_K_WEBHOOK, "{\"success\":true,\"data\":[]}", 26, &o),
	    -EPROTO);
	CHECK(o == NULL);
	CHECK_EQ_INT(rtk_envelope_parse_object(
			 RTK_K_WEBHOOK, "{\"success\":false,\"data\":{\"id\":\"a\"}}", 35, &o),
		     -EPROTO);
	CHECK_EQ_INT(rtk_envelope_parse_object(
			 RTK_K_WEBHOOK, "{\"success\":true,\"data\":{\"id\":\"..\"}}", 35, &o),
		     -EPROTO);
	CHECK_EQ_INT(rtk_envelope_parse_object(RTK_K_WEBHOOK,
					       "{\"success\":true,\"data\":{\"id\":7}}", 32, &o),
		     -EPROTO);
	CHECK_EQ_INT(rtk_envelope_parse_object(
			 RTK_K_WEBHOOK, "{\"success\":true,\"data\":{\"id\":\"a\"}}", 30, &o),
		     -EPROTO); /* cut short by the length */
}

static void test_hostile_ids(void)
{
	struct rtk_page pg = {.page = 1, .per_page = 20};
	struct rtk_listing *l = listing_of(RTK_K_WEBHOOK, "webhooks_hostile.json", &pg);

	CHECK_EQ_INT(pg.items, 15);
	CHECK_EQ_INT(pg.skipped, 13);
	CHECK(!pg.more);
	CHECK_EQ_INT(rtk_listing_count(l), 2);
	CHECK_EQ_STR(rtk_obj_id(rtk_listing_at(l, 0), NULL), "ok-1");
	CHECK_EQ_STR(rtk_obj_id(rtk_listing_at(l, 1), NULL), "ok-2");
	CHECK(rtk_listing_find(l, "..", 2) == NULL);
	rtk_listing_unref(l);

	/* Account ids longer than 32 are out, app ids up to 64 are in. */
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT,
			       "{\"success\":true,\"result\":[{\"id\":"
			       "\"023e105f4ecef8ad9ca31a8372d0c3530\"}]}",
			       &pg),
		     0);
	CHECK_EQ_INT(pg.skipped, 1);
	CHECK_EQ_INT(
	    parse_str(RTK_K_APP,
		      "{\"success\":true,\"data\":[{\"id\":"
		      "\"023e105f4ecef8ad9ca31a8372d0c353023e105f4ecef8ad9ca31a8372d0c353\"}]}",
		      &pg),
	    0);
	CHECK_EQ_INT(pg.skipped, 0);
}

static void test_pages_accounts(void)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(RTK_K_ACCOUNT);
	struct rtk_page pg = {.page = 1, .per_page = 2};
	struct rtk_listing *l;
	size_t len;
	char *body;

	body = load("accounts_page1.json", &len);
	CHECK_EQ_INT(rtk_envelope_parse_page(b, body, len, &pg), 0);
	CHECK(pg.more);
	CHECK_EQ_INT(pg.items, 2);
	free(body);
	pg.page = 2;
	body = load("accounts_page2.json", &len);
	CHECK_EQ_INT(rtk_envelope_parse_page(b, body, len, &pg), 0);
	CHECK(!pg.more);
	CHECK_EQ_INT(pg.items, 1);
	free(body);
	pg.page = 3;
	body = load("accounts_empty.json", &len);
	CHECK_EQ_INT(rtk_envelope_parse_page(b, body, len, &pg), 0);
	CHECK(!pg.more); /* an empty page ends it, whatever total_pages says */
	free(body);
	l = rtk_listing_builder_finish(b);
	CHECK_EQ_INT(rtk_listing_count(l), 3);
	CHECK_EQ_STR(rtk_obj_id(rtk_listing_at(l, 2), NULL), "9a8b7c6d5e4f30211f2e3d4c5b6a7988");
	rtk_listing_unref(l);

#define ACC1 "{\"id\":\"023e105f4ecef8ad9ca31a8372d0c353\"}"
	/* total_count only: page * per_page < total_count (server's per_page wins). */
	pg.page = 1;
	pg.per_page = 100;
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT,
			       "{\"success\":true,\"result\":[" ACC1 "],"
			       "\"result_info\":{\"per_page\":1,\"total_count\":2}}",
			       &pg),
		     0);
	CHECK(pg.more);
	pg.page = 2;
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT,
			       "{\"success\":true,\"result\":[" ACC1 "],"
			       "\"result_info\":{\"per_page\":1,\"total_count\":2}}",
			       &pg),
		     0);
	CHECK(!pg.more);
	/* Nothing known: a full page means more. */
	pg.page = 1;
	pg.per_page = 1;
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT, "{\"success\":true,\"result\":[" ACC1 "]}", &pg), 0);
	CHECK(pg.more);
	pg.per_page = 2;
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT, "{\"success\":true,\"result\":[" ACC1 "]}", &pg), 0);
	CHECK(!pg.more);
	/* Lying counts: strings, negatives, NaN-ish. */
	pg.per_page = 1;
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT,
			       "{\"success\":true,\"result\":[" ACC1 "],"
			       "\"result_info\":{\"total_pages\":\"9\",\"total_count\":-1}}",
			       &pg),
		     0);
	CHECK(pg.more); /* falls back to a full page */
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT,
			       "{\"success\":true,\"result\":[],"
			       "\"result_info\":{\"total_pages\":1e308}}",
			       &pg),
		     0);
	CHECK(!pg.more);
	/* A page of only unsafe ids still counts as a page with items. */
	pg.page = 1;
	CHECK_EQ_INT(parse_str(RTK_K_ACCOUNT,
			       "{\"success\":true,\"result\":[{\"id\":\"..\"}],"
			       "\"result_info\":{\"total_pages\":3}}",
			       &pg),
		     0);
	CHECK(pg.more);
	CHECK_EQ_INT(pg.items, 1);
	CHECK_EQ_INT(pg.skipped, 1);
}

static void test_pages_apps_webhooks(void)
{
	struct rtk_page pg = {.page = 1, .per_page = 2};
	struct rtk_listing *l;

	l = listing_of(RTK_K_APP, "apps_page.json", &pg);
	CHECK(pg.more);
	rtk_listing_unref(l);
	pg.page = 2;
	l = listing_of(RTK_K_APP, "apps_page2.json", &pg);
	CHECK(!pg.more);
	rtk_listing_unref(l);

	pg.page = 1;
	pg.per_page = 1;
	CHECK_EQ_INT(parse_str(RTK_K_APP, "{\"success\":true,\"data\":[{\"id\":\"a\"}]}", &pg), 0);
	CHECK(pg.more); /* no paging: a full page */
	pg.per_page = 5;
	CHECK_EQ_INT(parse_str(RTK_K_APP, "{\"success\":true,\"data\":[{\"id\":\"a\"}]}", &pg), 0);
	CHECK(!pg.more);
	CHECK_EQ_INT(
	    parse_str(RTK_K_APP,
		      "{\"success\":true,\"data\":[],"
		      "\"paging\":{\"start_offset\":1,\"end_offset\":0,\"total_count\":99}}",
		      &pg),
	    0);
	CHECK(!pg.more);
	CHECK_EQ_INT(parse_str(RTK_K_APP,
			       "{\"success\":true,\"data\":[{\"id\":\"a\"}],"
			       "\"paging\":{\"end_offset\":1,\"total_count\":1}}",
			       &pg),
		     0);
	CHECK(!pg.more);
	CHECK_EQ_INT(
	    parse_str(RTK_K_APP,
		      "{\"success\":true,\"data\":[{\"id\":\"a\"}],"
		      "\"paging\":{\"end_offset\":1,\"total_count\":100000000000000000000}}",
		      &pg),
	    0);
	CHECK(pg.more);

	pg.per_page = 1;
	l = listing_of(RTK_K_WEBHOOK, "webhooks.json", &pg);
	CHECK(!pg.more);
	CHECK_EQ_INT(pg.items, 3);
	CHECK_EQ_INT(pg.skipped, 0);
	rtk_listing_unref(l);
}

static void check_msg(const char *fixture, int want, const char *expect)
{
	char out[256];
	size_t len;
	char *body = load(fixture, &len);

	CHECK_EQ_INT(rtk_envelope_error_message(body, len, out, sizeof(out)), want);
	CHECK_EQ_STR(out, expect);
	free(body);
}

static void test_error_message(void)
{
	char out[16];

	check_msg("error_v4.json", 0, "Authentication error (code 10000)");
	check_msg("error_429.json", 0,
		  "More than 1200 requests per 300 seconds reached. Please wait and consider "
		  "throttling your request speed (code 971)");
	check_msg("error_rtk.json", 0, "Error: resource not found");
	check_msg("error_message.json", 0, "Unauthorized");
	check_msg("error_401_string.json", 0, "{ message: \"Unauthorized\" }");
	check_msg("error_401_string_json.json", 0, "Unauthorized");
	check_msg("error_html.html", 0, "<html><head><title>502 Bad Gateway</title></head>");
	check_msg("not_json.txt", 0, "this is not json");
	check_msg("webhooks_empty.json", -ENOENT, "");

	CHECK_EQ_INT(rtk_envelope_error_message("", 0, out, sizeof(out)), -ENOENT);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(rtk_envelope_error_message(" \n\r\n ", 5, out, sizeof(out)), -ENOENT);
	CHECK_EQ_INT(rtk_envelope_error_message("{\"message\":\"\"}", 14, out, sizeof(out)),
		     -ENOENT);
	/* Truncated to the buffer, printable ASCII only. */
	CHECK_EQ_INT(rtk_envelope_error_message("0123456789abcdefghij", 20, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "0123456789abcde");
	CHECK_EQ_INT(rtk_envelope_error_message("a\x01\x1b[31mb\xc3\xa9\x7f", 11, out, sizeof(out)),
		     0);
	CHECK_EQ_STR(out, "a??[31mb???");
	CHECK_EQ_INT(rtk_envelope_error_message("{\"message\":\"two\\nlines\\u00e9\\t\"}", 32, out,
						sizeof(out)),
		     0);
	CHECK_EQ_STR(out, "two lines??");
	CHECK_EQ_INT(rtk_envelope_error_message("{\"error\":\"plain\"}", 17, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "plain");
	CHECK_EQ_INT(rtk_envelope_error_message("{\"errors\":[{\"message\":\"m\",\"code\":\"x\"}]}",
						39, out, sizeof(out)),
		     0);
	CHECK_EQ_STR(out, "m");
	CHECK_EQ_INT(rtk_envelope_error_message("x", 1, out, 1), -ENOENT);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(rtk_envelope_error_message("x", 1, NULL, 0), -ENOENT);
}

static void test_verify(void)
{
	size_t len;
	char *body;

	body = load("verify_active.json", &len);
	CHECK_EQ_INT(rtk_envelope_parse_verify(body, len), 0);
	free(body);
	body = load("verify_disabled.json", &len);
	CHECK_EQ_INT(rtk_envelope_parse_verify(body, len), -EACCES);
	free(body);
	body = load("error_v4.json", &len);
	CHECK_EQ_INT(rtk_envelope_parse_verify(body, len), -EPROTO);
	free(body);
	body = load("error_html.html", &len);
	CHECK_EQ_INT(rtk_envelope_parse_verify(body, len), -EPROTO);
	free(body);
	CHECK_EQ_INT(rtk_envelope_parse_verify("{\"success\":true,\"result\":{}}", 28), -EPROTO);
	CHECK_EQ_INT(rtk_envelope_parse_verify("{\"success\":true,\"result\":{\"status\":1}}", 38),
		     -EPROTO);
	CHECK_EQ_INT(rtk_envelope_parse_verify("{\"result\":{\"status\":\"expired\"}}", 31),
		     -EACCES);
	CHECK_EQ_INT(rtk_envelope_parse_verify("", 0), -EPROTO);
}

int main(void)
{
	rtk_log_init(RTK_LOG_WARN, false);
	RUN(test_fixtures_parse);
	RUN(test_malformed);
	RUN(test_hostile_ids);
	RUN(test_pages_accounts);
	RUN(test_pages_apps_webhooks);
	RUN(test_error_message);
	RUN(test_verify);
	return check_summary();
}
