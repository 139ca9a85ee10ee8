// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "rtkfs/buf.h"
#include "rtkfs/log.h"
#include "rtkfs/model.h"

#define HOOK1 "0d1f069d-43bb-489a-ad8c-7eb95592ba8e"
#define HOOK2 "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
#define HOOK3 "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"

static char *load(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *p = NULL;
	long n;

	snprintf(path, sizeof(path), "fixtures/bodies/%s", name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open fixture '%s'\n", path);
		*len = 0;
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		/* Not NUL-terminated on purpose: the model must go by the length. */
		p = malloc((size_t)n ? (size_t)n : 1);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return p;
}

/* Parse one fixture page into a new listing of kind k. */
static struct rtk_listing *listing_of(enum rtk_kind k, const char *fixture, struct rtk_page *pg)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(k);
	struct rtk_page dummy = {.page = 1, .per_page = 20};
	size_t len;
	char *body = load(fixture, &len);
	int err;

	if (!pg)
		pg = &dummy;
	CHECK(b != NULL);
	CHECK(body != NULL);
	if (!b || !body) {
		free(body);
		rtk_listing_builder_free(b);
		return NULL;
	}
	err = rtk_model_parse_page(b, body, len, pg);
	CHECK_EQ_INT(err, 0);
	free(body);
	return rtk_listing_builder_finish(b);
}

static int parse_str(enum rtk_kind k, const char *body, struct rtk_page *pg)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(k);
	struct rtk_page dummy = {.page = 1, .per_page = 20};
	int err;

	if (!pg)
		pg = &dummy;
	err = rtk_model_parse_page(b, body, strlen(body), pg);
	rtk_listing_builder_free(b);
	return err;
}

static int parse_fixture_n(enum rtk_kind k, const char *body, size_t len)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(k);
	struct rtk_page pg = {.page = 1, .per_page = 20};
	int err = rtk_model_parse_page(b, body, len, &pg);

	rtk_listing_builder_free(b);
	return err;
}

static int parse_fixture(enum rtk_kind k, const char *fixture)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(k);
	struct rtk_page pg = {.page = 1, .per_page = 20};
	size_t len;
	char *body = load(fixture, &len);
	int err;

	err = rtk_model_parse_page(b, body, len, &pg);
	rtk_listing_builder_free(b);
	free(body);
	return err;
}

#define CHECK_FIELD(o, f, expect)                                                                  \
	do {                                                                                       \
		size_t n_;                                                                         \
		const char *p_ = rtk_obj_field((o), (f), &n_);                                     \
		CHECK_EQ_MEM(p_, n_, (expect));                                                    \
	} while (0)

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
	CHECK_EQ_INT(rtk_model_parse_object(RTK_K_WEBHOOK, body, len, &o), 0);
	rtk_obj_unref(o);
	free(body);
	body = load("app_create.json", &len);
	CHECK_EQ_INT(rtk_model_parse_object(RTK_K_APP, body, len, &o), 0);
	CHECK_EQ_STR(rtk_obj_id(o, NULL), "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
	CHECK_FIELD(o, RTK_F_NAME, "New app\n");
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 1738555506);
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_nsec, 789000000);
	rtk_obj_unref(o);
	free(body);
}

static void test_render_webhooks(void)
{
	struct rtk_listing *l = listing_of(RTK_K_WEBHOOK, "webhooks.json", NULL);
	const struct rtk_obj *w1, *w2, *w3;
	size_t len;

	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_EQ_INT(rtk_listing_count(l), 3);
	CHECK_EQ_INT(rtk_listing_kind(l), RTK_K_WEBHOOK);
	w1 = rtk_listing_at(l, 0);
	w2 = rtk_listing_at(l, 1);
	w3 = rtk_listing_at(l, 2);
	CHECK(rtk_listing_at(l, 3) == NULL);

	CHECK_EQ_STR(rtk_obj_id(w1, &len), HOOK1);
	CHECK_EQ_INT(len, 36);
	CHECK(!rtk_obj_is_bare(w1));
	CHECK_EQ_INT(rtk_obj_kind(w1), RTK_K_WEBHOOK);
	CHECK_FIELD(w1, RTK_F_ID, HOOK1 "\n");
	CHECK_FIELD(w1, RTK_F_NAME, "All events webhook\n");
	CHECK_FIELD(w1, RTK_F_URL, "https://webhook.site/b23a5bbd-c7b0-4ced-a9e2-78ae7889897e\n");
	CHECK_FIELD(w1, RTK_F_ENABLED, "true\n");
	CHECK_FIELD(w1, RTK_F_EVENTS,
		    "meeting.started\nmeeting.ended\nmeeting.participantJoined\n"
		    "meeting.participantLeft\nmeeting.chatSynced\nrecording.statusUpdate\n"
		    "livestreaming.statusUpdate\nmeeting.transcript\nmeeting.summary\n");
	CHECK_FIELD(w1, RTK_F_CREATED_AT, "2022-05-28T07:01:53.075Z\n");
	CHECK_FIELD(w1, RTK_F_UPDATED_AT, "2022-05-28T07:01:53.075Z\n");
	CHECK_EQ_INT(rtk_obj_mtime(w1).tv_sec, 1653721313);
	CHECK_EQ_INT(rtk_obj_mtime(w1).tv_nsec, 75000000);

	CHECK_FIELD(w2, RTK_F_NAME, "Caf\xc3\xa9 \xe2\x98\x95 \"quoted\"\n");
	CHECK_FIELD(w2, RTK_F_URL, "https://hooks.example.com/rtk?x=1&y=2\n");
	CHECK_FIELD(w2, RTK_F_ENABLED, "false\n");
	CHECK_FIELD(w2, RTK_F_EVENTS, "");
	CHECK(rtk_obj_field(w2, RTK_F_EVENTS, NULL) != NULL);
	CHECK_EQ_INT(rtk_obj_mtime(w2).tv_sec, 1686812400);
	CHECK_EQ_INT(rtk_obj_mtime(w2).tv_nsec, 500000000);
	CHECK_FIELD(w2, RTK_F_JSON,
		    "{\n"
		    "  \"id\": \"" HOOK2 "\",\n"
		    "  \"name\": \"Caf\xc3\xa9 \xe2\x98\x95 \\\"quoted\\\"\",\n"
		    "  \"url\": \"https://hooks.example.com/rtk?x=1&y=2\",\n"
		    "  \"events\": [],\n"
		    "  \"enabled\": false,\n"
		    "  \"created_at\": \"2023-01-01T00:00:00Z\",\n"
		    "  \"updated_at\": \"2023-06-15T12:30:00.5+05:30\",\n"
		    "  \"extra\": {\n"
		    "    \"nested\": [\n"
		    "      1,\n"
		    "      2.5,\n"
		    "      \"three\",\n"
		    "      null,\n"
		    "      true\n"
		    "    ]\n"
		    "  }\n"
		    "}\n");

	/* Unexpected types: shown as they are, never dropped. */
	CHECK_FIELD(w3, RTK_F_URL, "");
	CHECK(rtk_obj_field(w3, RTK_F_URL, NULL) != NULL);
	CHECK_FIELD(w3, RTK_F_EVENTS, "meeting.started\n42\n");
	CHECK_FIELD(w3, RTK_F_ENABLED, "yes\n");
	CHECK_FIELD(w3, RTK_F_CREATED_AT, "not a date\n");
	CHECK_FIELD(w3, RTK_F_UPDATED_AT, "");
	CHECK_EQ_INT(rtk_obj_mtime(w3).tv_sec, 0);
	CHECK_EQ_INT(rtk_obj_mtime(w3).tv_nsec, 0);
	rtk_listing_unref(l);
}

static void test_render_kinds(void)
{
	struct rtk_listing *l;
	const struct rtk_obj *o;

	l = listing_of(RTK_K_ACCOUNT, "accounts_page1.json", NULL);
	CHECK_EQ_INT(rtk_listing_count(l), 2);
	o = rtk_listing_at(l, 0);
	CHECK_FIELD(o, RTK_F_ID, "023e105f4ecef8ad9ca31a8372d0c353\n");
	CHECK_FIELD(o, RTK_F_NAME, "Demo Account\n");
	CHECK(rtk_obj_field(o, RTK_F_URL, NULL) == NULL);
	CHECK(rtk_obj_field(o, RTK_F_CREATED_AT, NULL) == NULL);
	CHECK(rtk_obj_field(o, RTK_F__N, NULL) == NULL);
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 1393676462);
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_nsec, 0);
	CHECK_FIELD(o, RTK_F_JSON,
		    "{\n"
		    "  \"id\": \"023e105f4ecef8ad9ca31a8372d0c353\",\n"
		    "  \"name\": \"Demo Account\",\n"
		    "  \"type\": \"standard\",\n"
		    "  \"created_on\": \"2014-03-01T12:21:02.0000Z\",\n"
		    "  \"settings\": {\n"
		    "    \"abuse_contact_email\": null,\n"
		    "    \"enforce_twofactor\": false\n"
		    "  },\n"
		    "  \"managed_by\": {\n"
		    "    \"parent_org_id\": \"4536bcfad5faccb111b47003c79917fa\",\n"
		    "    \"parent_org_name\": \"Demo Parent Organization\"\n"
		    "  }\n"
		    "}\n");
	rtk_listing_unref(l);

	l = listing_of(RTK_K_APP, "apps_page.json", NULL);
	CHECK_EQ_INT(rtk_listing_count(l), 2);
	o = rtk_listing_at(l, 0);
	CHECK_FIELD(o, RTK_F_NAME, "Production\n");
	CHECK_FIELD(o, RTK_F_CREATED_AT, "2023-04-12T10:15:30.123Z\n");
	CHECK(rtk_obj_field(o, RTK_F_UPDATED_AT, NULL) == NULL);
	CHECK(rtk_obj_field(o, RTK_F_EVENTS, NULL) == NULL);
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 1681294530);
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_nsec, 123000000);
	o = rtk_listing_at(l, 1);
	CHECK_FIELD(o, RTK_F_NAME, "");
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 1682920800);
	CHECK_FIELD(o, RTK_F_JSON,
		    "{\n"
		    "  \"id\": \"7c1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6\",\n"
		    "  \"name\": null,\n"
		    "  \"created_at\": \"2023-05-01T08:00:00+02:00\"\n"
		    "}\n");
	rtk_listing_unref(l);
}

static struct rtk_obj *webhook_from(const char *data_json)
{
	char body[4096];
	struct rtk_obj *o = NULL;
	int err;

	snprintf(body, sizeof(body), "{\"success\":true,\"data\":%s}", data_json);
	err = rtk_model_parse_object(RTK_K_WEBHOOK, body, strlen(body), &o);
	CHECK_EQ_INT(err, 0);
	return o;
}

static void test_render_values(void)
{
	struct rtk_obj *o;

	o = webhook_from("{\"id\":\"w\",\"name\":\"a\\nb\\t\\u0001\\\\\",\"url\":{\"x\":[1,{}]},"
			 "\"enabled\":1,\"events\":\"meeting.started\",\"created_at\":12.5,"
			 "\"updated_at\":[],\"big\":1e300,\"neg\":-0.1,\"int\":-42,"
			 "\"e\":\"\\u20ac\\ud83d\\ude00\",\"ctl\":\"\\u001f\\b\\f\\r\"}");
	if (!o)
		return;
	CHECK_FIELD(o, RTK_F_NAME, "a\nb\t\x01\\\n");
	CHECK_FIELD(o, RTK_F_URL, "{\"x\":[1,{}]}\n");
	CHECK_FIELD(o, RTK_F_ENABLED, "1\n");
	CHECK_FIELD(o, RTK_F_EVENTS, "meeting.started\n");
	CHECK_FIELD(o, RTK_F_CREATED_AT, "12.5\n");
	CHECK_FIELD(o, RTK_F_UPDATED_AT, "[]\n");
	CHECK_FIELD(o, RTK_F_JSON,
		    "{\n"
		    "  \"id\": \"w\",\n"
		    "  \"name\": \"a\\nb\\t\\u0001\\\\\",\n"
		    "  \"url\": {\n"
		    "    \"x\": [\n"
		    "      1,\n"
		    "      {}\n"
		    "    ]\n"
		    "  },\n"
		    "  \"enabled\": 1,\n"
		    "  \"events\": \"meeting.started\",\n"
		    "  \"created_at\": 12.5,\n"
		    "  \"updated_at\": [],\n"
		    "  \"big\": 1e+300,\n"
		    "  \"neg\": -0.1,\n"
		    "  \"int\": -42,\n"
		    "  \"e\": \"\xe2\x82\xac\xf0\x9f\x98\x80\",\n"
		    "  \"ctl\": \"\\u001f\\b\\f\\r\"\n"
		    "}\n");
	rtk_obj_unref(o);

	/* Missing fields: empty files; a minimal object. */
	o = webhook_from("{\"id\":\"w\"}");
	if (!o)
		return;
	CHECK_FIELD(o, RTK_F_NAME, "");
	CHECK_FIELD(o, RTK_F_EVENTS, "");
	CHECK_FIELD(o, RTK_F_ENABLED, "");
	CHECK_FIELD(o, RTK_F_JSON, "{\n  \"id\": \"w\"\n}\n");
	rtk_obj_unref(o);

	/* Timestamps: offsets, fractions of any length, none. */
	o = webhook_from("{\"id\":\"w\",\"updated_at\":\"2022-05-28T07:01:53-01:30\"}");
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 1653721313 + 5400);
	rtk_obj_unref(o);
	o = webhook_from("{\"id\":\"w\",\"updated_at\":\"2022-05-28T07:01:53.123456789123Z\"}");
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 1653721313);
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_nsec, 123456789);
	rtk_obj_unref(o);
	o = webhook_from("{\"id\":\"w\",\"updated_at\":\"2022-13-28T07:01:53Z\","
			 "\"created_at\":\"2022-05-28T07:01:53.1Z\"}");
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 1653721313);
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_nsec, 100000000);
	rtk_obj_unref(o);
	o = webhook_from("{\"id\":\"w\",\"updated_at\":\"2022-05-28T07:01:53Zjunk\"}");
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 0);
	rtk_obj_unref(o);
	o = webhook_from("{\"id\":\"w\",\"updated_at\":\"2022-05-28T07:01:53.Z\"}");
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 0);
	rtk_obj_unref(o);
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
	    rtk_model_parse_object(RTK_K_WEBHOOK, "{\"success\":true,\"data\":[]}", 26, &o),
	    -EPROTO);
	CHECK(o == NULL);
	CHECK_EQ_INT(rtk_model_parse_object(RTK_K_WEBHOOK,
					    "{\"success\":false,\"data\":{\"id\":\"a\"}}", 35, &o),
		     -EPROTO);
	CHECK_EQ_INT(rtk_model_parse_object(RTK_K_WEBHOOK,
					    "{\"success\":true,\"data\":{\"id\":\"..\"}}", 35, &o),
		     -EPROTO);
	CHECK_EQ_INT(
	    rtk_model_parse_object(RTK_K_WEBHOOK, "{\"success\":true,\"data\":{\"id\":7}}", 32, &o),
	    -EPROTO);
	CHECK_EQ_INT(rtk_model_parse_object(RTK_K_WEBHOOK,
					    "{\"success\":true,\"data\":{\"id\":\"a\"}}", 30, &o),
		     -EPROTO); /* cut short by the length */
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

		CHECK_EQ_INT(rtk_model_parse_page(b, body, n, &pg), -EPROTO);
		rtk_listing_builder_free(b);
	}
	CHECK_EQ_INT(rtk_model_parse_object(RTK_K_WEBHOOK, body, n, &o), -EPROTO);
	CHECK_EQ_INT(rtk_model_parse_verify(body, n), -EPROTO);
	CHECK_EQ_INT(rtk_model_error_message(body, n, msg, sizeof(msg)), 0);
	CHECK(strncmp(msg, "{\"success\":true,\"data\":[{\"id\":\"x\",\"deep\":[[[",
		      strlen("{\"success\":true,\"data\":[{\"id\":\"x\",\"deep\":[[[")) == 0);
	CHECK_EQ_INT(strlen(msg), sizeof(msg) - 1);
	CHECK_EQ_INT(rtk_model_put_body(body, n, NULL, msg, sizeof(msg)), -EINVAL);
	/* Generous: it is a linear scan, but sanitizers slow everything down. */
	CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);

	/* Right at the limit is fine (3 levels of envelope); brackets in strings do not count. */
	nested(small, sizeof(small), RTK_MODEL_MAX_DEPTH - 3);
	CHECK_EQ_INT(parse_str(RTK_K_WEBHOOK, small, NULL), 0);
	nested(small, sizeof(small), RTK_MODEL_MAX_DEPTH - 2);
	CHECK_EQ_INT(parse_str(RTK_K_WEBHOOK, small, NULL), -EPROTO);
	free(body);
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

static void test_duplicates(void)
{
	struct rtk_page pg = {.page = 1, .per_page = 20};
	struct rtk_listing *l = listing_of(RTK_K_WEBHOOK, "webhooks_dups.json", &pg);
	struct rtk_listing_builder *b;
	size_t len;
	char *body;

	CHECK_EQ_INT(pg.items, 3);
	CHECK_EQ_INT(pg.skipped, 1);
	CHECK_EQ_INT(rtk_listing_count(l), 2);
	CHECK_FIELD(rtk_listing_find(l, "w1", 2), RTK_F_NAME, "first\n");
	rtk_listing_unref(l);

	/* Across pages too: the same page twice adds nothing the second time. */
	b = rtk_listing_builder_new(RTK_K_APP);
	body = load("apps_page.json", &len);
	CHECK_EQ_INT(rtk_model_parse_page(b, body, len, &pg), 0);
	CHECK_EQ_INT(pg.skipped, 0);
	CHECK_EQ_INT(rtk_model_parse_page(b, body, len, &pg), 0);
	CHECK_EQ_INT(pg.items, 2);
	CHECK_EQ_INT(pg.skipped, 2);
	free(body);
	l = rtk_listing_builder_finish(b);
	CHECK_EQ_INT(rtk_listing_count(l), 2);
	rtk_listing_unref(l);
}

static void test_pages_accounts(void)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(RTK_K_ACCOUNT);
	struct rtk_page pg = {.page = 1, .per_page = 2};
	struct rtk_listing *l;
	size_t len;
	char *body;

	body = load("accounts_page1.json", &len);
	CHECK_EQ_INT(rtk_model_parse_page(b, body, len, &pg), 0);
	CHECK(pg.more);
	CHECK_EQ_INT(pg.items, 2);
	free(body);
	pg.page = 2;
	body = load("accounts_page2.json", &len);
	CHECK_EQ_INT(rtk_model_parse_page(b, body, len, &pg), 0);
	CHECK(!pg.more);
	CHECK_EQ_INT(pg.items, 1);
	free(body);
	pg.page = 3;
	body = load("accounts_empty.json", &len);
	CHECK_EQ_INT(rtk_model_parse_page(b, body, len, &pg), 0);
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

static void test_too_many_objects(void)
{
	size_t n = RTK_MODEL_MAX_OBJECTS + 1, i, o = 0;
	char *body = malloc(n * 3 + 64);

	if (!body)
		return;
	o += (size_t)sprintf(body, "{\"success\":true,\"data\":[");
	for (i = 0; i < n; i++) {
		memcpy(body + o, "{},", 3);
		o += 3;
	}
	o--; /* the last comma */
	o += (size_t)sprintf(body + o, "]}");
	CHECK_EQ_INT(parse_str(RTK_K_WEBHOOK, body, NULL), -EPROTO);
	free(body);
}

static void test_replace_remove(void)
{
	struct rtk_listing *l = listing_of(RTK_K_WEBHOOK, "webhooks.json", NULL);
	struct rtk_listing *l2, *l3, *l4, *l5;
	const struct rtk_obj *old0, *old1, *old2;
	struct rtk_obj *o = NULL, *n = NULL;
	size_t len;
	char *body;

	if (!l)
		return;
	old0 = rtk_listing_at(l, 0);
	old1 = rtk_listing_at(l, 1);
	old2 = rtk_listing_at(l, 2);
	body = load("webhook.json", &len);
	CHECK_EQ_INT(rtk_model_parse_object(RTK_K_WEBHOOK, body, len, &o), 0);
	free(body);
	CHECK(!rtk_obj_equal(o, old0));
	CHECK(rtk_obj_equal(old0, old0));

	l2 = rtk_listing_replace(l, o);
	CHECK_EQ_INT(rtk_listing_count(l2), 3);
	CHECK(rtk_listing_at(l2, 0) == o);
	CHECK(rtk_listing_at(l2, 1) == old1);
	CHECK(rtk_listing_at(l2, 2) == old2);
	CHECK(rtk_listing_find(l2, HOOK1, strlen(HOOK1)) == o);
	CHECK(rtk_listing_find(l, HOOK1, strlen(HOOK1)) == old0); /* the old one is untouched */
	CHECK(!rtk_listing_equal(l, l2));
	CHECK_FIELD(rtk_listing_find(l2, HOOK1, strlen(HOOK1)), RTK_F_EVENTS,
		    "meeting.started\nmeeting.ended\n");

	/* Dropping the first listing keeps the shared objects alive in the second. */
	rtk_listing_unref(l);
	CHECK_FIELD(rtk_listing_find(l2, HOOK3, strlen(HOOK3)), RTK_F_NAME, "odd types\n");

	/* A new id is appended, and found. */
	n = webhook_from("{\"id\":\"00000000-new\",\"name\":\"new\"}");
	l3 = rtk_listing_replace(l2, n);
	CHECK_EQ_INT(rtk_listing_count(l3), 4);
	CHECK(rtk_listing_at(l3, 3) == n);
	CHECK(rtk_listing_find(l3, "00000000-new", 12) == n);
	CHECK(rtk_listing_find(l3, HOOK2, strlen(HOOK2)) == old1);
	CHECK(rtk_listing_find(l3, HOOK3, strlen(HOOK3)) == old2);
	CHECK(rtk_listing_find(l2, "00000000-new", 12) == NULL);
	CHECK(rtk_listing_bytes(l3) > rtk_listing_bytes(l2));

	l4 = rtk_listing_remove(l3, HOOK2, strlen(HOOK2));
	CHECK_EQ_INT(rtk_listing_count(l4), 3);
	CHECK(rtk_listing_find(l4, HOOK2, strlen(HOOK2)) == NULL);
	CHECK(rtk_listing_at(l4, 0) == o);
	CHECK(rtk_listing_at(l4, 1) == old2);
	CHECK(rtk_listing_at(l4, 2) == n);
	CHECK(rtk_listing_find(l4, "00000000-new", 12) == n);
	CHECK(rtk_listing_find(l3, HOOK2, strlen(HOOK2)) == old1);

	l5 = rtk_listing_remove(l4, "absent", 6);
	CHECK(l5 != l4);
	CHECK(rtk_listing_equal(l4, l5));
	CHECK_EQ_INT(rtk_listing_bytes(l4), rtk_listing_bytes(l5));

	rtk_obj_unref(o);
	rtk_obj_unref(n);
	rtk_listing_unref(l2);
	rtk_listing_unref(l3);
	rtk_listing_unref(l4);
	/* Still alive through l5 only. */
	CHECK_FIELD(rtk_listing_find(l5, "00000000-new", 12), RTK_F_NAME, "new\n");
	rtk_listing_unref(l5);

	/* Removing the last object, then replacing into the empty listing. */
	l = listing_of(RTK_K_WEBHOOK, "webhooks_dups.json", NULL);
	l2 = rtk_listing_remove(l, "w1", 2);
	l3 = rtk_listing_remove(l2, "w2", 2);
	CHECK_EQ_INT(rtk_listing_count(l3), 0);
	CHECK(rtk_listing_find(l3, "w1", 2) == NULL);
	n = webhook_from("{\"id\":\"w9\"}");
	l4 = rtk_listing_replace(l3, n);
	CHECK(rtk_listing_find(l4, "w9", 2) == n);
	rtk_obj_unref(n);
	rtk_listing_unref(l);
	rtk_listing_unref(l2);
	rtk_listing_unref(l3);
	rtk_listing_unref(l4);
}

static void test_find_many(void)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(RTK_K_WEBHOOK);
	struct rtk_buf body;
	struct rtk_page pg = {.page = 1, .per_page = 5000};
	struct rtk_listing *l, *l2;
	char id[32];
	unsigned i;

	rtk_buf_init(&body, 1 << 24);
	rtk_buf_puts(&body, "{\"success\":true,\"data\":[");
	for (i = 0; i < 2000; i++) {
		/* Ids of different lengths and prefixes of one another. */
		rtk_buf_printf(&body, "%s{\"id\":\"%x\",\"name\":\"n%u\"}", i ? "," : "",
			       (i * 2654435761u) % 100000, i);
	}
	rtk_buf_puts(&body, "]}");
	CHECK_EQ_INT(rtk_model_parse_page(b, body.data, body.len, &pg), 0);
	l = rtk_listing_builder_finish(b);
	CHECK_EQ_INT(rtk_listing_count(l) + pg.skipped, 2000);
	for (i = 0; i < rtk_listing_count(l); i++) {
		size_t len;
		const struct rtk_obj *o = rtk_listing_at(l, i);
		const char *p = rtk_obj_id(o, &len);

		CHECK(rtk_listing_find(l, p, len) == o);
		if (len > 1)
			CHECK(rtk_listing_find(l, p, len - 1) == NULL ||
			      rtk_obj_id(rtk_listing_find(l, p, len - 1), NULL)[len - 1] == '\0');
	}
	snprintf(id, sizeof(id), "zzz");
	CHECK(rtk_listing_find(l, id, 3) == NULL);
	CHECK(rtk_listing_find(l, "", 0) == NULL);
	CHECK(rtk_listing_find(l, "!", 1) == NULL);
	l2 = rtk_listing_remove(l, "!", 1);
	CHECK(rtk_listing_equal(l, l2));
	rtk_listing_unref(l2);
	rtk_listing_unref(l);
	rtk_buf_release(&body);
}

static void test_bare(void)
{
	struct rtk_listing_builder *b;
	struct rtk_listing *l;
	struct rtk_obj *o;
	struct rtk_page pg = {.page = 1, .per_page = 20};
	size_t len;
	char *body;

	o = rtk_obj_new_bare(RTK_K_ACCOUNT, "023e105f4ecef8ad9ca31a8372d0c353", 32);
	CHECK(o != NULL);
	CHECK(rtk_obj_is_bare(o));
	CHECK_EQ_STR(rtk_obj_id(o, &len), "023e105f4ecef8ad9ca31a8372d0c353");
	CHECK_EQ_INT(len, 32);
	CHECK(rtk_obj_field(o, RTK_F_ID, NULL) == NULL);
	CHECK(rtk_obj_field(o, RTK_F_NAME, &len) == NULL);
	CHECK_EQ_INT(len, 0);
	CHECK(rtk_obj_field(o, RTK_F_JSON, NULL) == NULL);
	CHECK_EQ_INT(rtk_obj_mtime(o).tv_sec, 0);
	rtk_obj_ref(o);
	rtk_obj_unref(o);
	rtk_obj_unref(o);
	rtk_obj_unref(NULL);
	rtk_listing_unref(NULL);
	rtk_listing_builder_free(NULL);

	CHECK(rtk_obj_new_bare(RTK_K_ACCOUNT, "..", 2) == NULL);
	CHECK(rtk_obj_new_bare(RTK_K_ACCOUNT, "023e105f4ecef8ad9ca31a8372d0c3530", 33) == NULL);
	CHECK(rtk_obj_new_bare(RTK_K__N, "a", 1) == NULL);

	b = rtk_listing_builder_new(RTK_K_ACCOUNT);
	CHECK_EQ_INT(rtk_listing_builder_add_bare(b, "023e105f4ecef8ad9ca31a8372d0c353", 32), 0);
	CHECK_EQ_INT(rtk_listing_builder_add_bare(b, "023e105f4ecef8ad9ca31a8372d0c353", 32),
		     -EEXIST);
	CHECK_EQ_INT(rtk_listing_builder_add_bare(b, "a/b", 3), -EINVAL);
	CHECK_EQ_INT(rtk_listing_builder_add_bare(b, "", 0), -EINVAL);
	/* The server's full object for the same id is then a duplicate. */
	body = load("accounts_page1.json", &len);
	CHECK_EQ_INT(rtk_model_parse_page(b, body, len, &pg), 0);
	CHECK_EQ_INT(pg.skipped, 1);
	free(body);
	l = rtk_listing_builder_finish(b);
	CHECK_EQ_INT(rtk_listing_count(l), 2);
	CHECK(rtk_obj_is_bare(rtk_listing_at(l, 0)));
	CHECK(!rtk_obj_is_bare(rtk_listing_at(l, 1)));
	rtk_listing_unref(l);
}

static void check_msg(const char *fixture, int want, const char *expect)
{
	char out[256];
	size_t len;
	char *body = load(fixture, &len);

	CHECK_EQ_INT(rtk_model_error_message(body, len, out, sizeof(out)), want);
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

	CHECK_EQ_INT(rtk_model_error_message("", 0, out, sizeof(out)), -ENOENT);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(rtk_model_error_message(" \n\r\n ", 5, out, sizeof(out)), -ENOENT);
	CHECK_EQ_INT(rtk_model_error_message("{\"message\":\"\"}", 14, out, sizeof(out)), -ENOENT);
	/* Truncated to the buffer, printable ASCII only. */
	CHECK_EQ_INT(rtk_model_error_message("0123456789abcdefghij", 20, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "0123456789abcde");
	CHECK_EQ_INT(rtk_model_error_message("a\x01\x1b[31mb\xc3\xa9\x7f", 11, out, sizeof(out)),
		     0);
	CHECK_EQ_STR(out, "a??[31mb???");
	CHECK_EQ_INT(rtk_model_error_message("{\"message\":\"two\\nlines\\u00e9\\t\"}", 32, out,
					     sizeof(out)),
		     0);
	CHECK_EQ_STR(out, "two lines??");
	CHECK_EQ_INT(rtk_model_error_message("{\"error\":\"plain\"}", 17, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "plain");
	CHECK_EQ_INT(rtk_model_error_message("{\"errors\":[{\"message\":\"m\",\"code\":\"x\"}]}",
					     39, out, sizeof(out)),
		     0);
	CHECK_EQ_STR(out, "m");
	CHECK_EQ_INT(rtk_model_error_message("x", 1, out, 1), -ENOENT);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(rtk_model_error_message("x", 1, NULL, 0), -ENOENT);
}

static void test_verify(void)
{
	size_t len;
	char *body;

	body = load("verify_active.json", &len);
	CHECK_EQ_INT(rtk_model_parse_verify(body, len), 0);
	free(body);
	body = load("verify_disabled.json", &len);
	CHECK_EQ_INT(rtk_model_parse_verify(body, len), -EACCES);
	free(body);
	body = load("error_v4.json", &len);
	CHECK_EQ_INT(rtk_model_parse_verify(body, len), -EPROTO);
	free(body);
	body = load("error_html.html", &len);
	CHECK_EQ_INT(rtk_model_parse_verify(body, len), -EPROTO);
	free(body);
	CHECK_EQ_INT(rtk_model_parse_verify("{\"success\":true,\"result\":{}}", 28), -EPROTO);
	CHECK_EQ_INT(rtk_model_parse_verify("{\"success\":true,\"result\":{\"status\":1}}", 38),
		     -EPROTO);
	CHECK_EQ_INT(rtk_model_parse_verify("{\"result\":{\"status\":\"expired\"}}", 31), -EACCES);
	CHECK_EQ_INT(rtk_model_parse_verify("", 0), -EPROTO);
}

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
	    "http://127.0.0/",
	    "http://[::2]/",
	    "https://example.com:0/",
	    "https://example.com:65536/",
	    "https://example.com:/",
	    "https://example.com:8x/",
	    "https://[::1/",
	    "https://[]/",
	    "https://ex<ample.com/",
	};
	char longurl[2100];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!rtk_model_url_is_valid(good[i], strlen(good[i])))
			fprintf(stderr, "url should be good: %s\n", good[i]);
		CHECK(rtk_model_url_is_valid(good[i], strlen(good[i])));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rtk_model_url_is_valid(bad[i], strlen(bad[i])))
			fprintf(stderr, "url should be bad: %s\n", bad[i]);
		CHECK(!rtk_model_url_is_valid(bad[i], strlen(bad[i])));
	}
	CHECK(!rtk_model_url_is_valid("https://a\0b", 11));
	memcpy(longurl, "https://example.com/", 20);
	memset(longurl + 20, 'a', sizeof(longurl) - 20);
	CHECK(rtk_model_url_is_valid(longurl, 2048));
	CHECK(!rtk_model_url_is_valid(longurl, 2049));
}

static void test_events_known(void)
{
	CHECK(rtk_model_event_is_known("meeting.started", 15));
	CHECK(rtk_model_event_is_known("meeting.summary", 15));
	CHECK(rtk_model_event_is_known("livestreaming.statusUpdate", 26));
	CHECK(!rtk_model_event_is_known("meeting.Started", 15));
	CHECK(!rtk_model_event_is_known("meeting.started ", 16));
	CHECK(!rtk_model_event_is_known("meeting.start", 13));
	CHECK(!rtk_model_event_is_known("", 0));
}

/* Run a patch and compare the body (or the return code only when expect is NULL). */
static void check_patch(enum rtk_field f, const char *val, const struct rtk_obj *cur, int want,
			const char *expect)
{
	struct rtk_buf body;
	char msg[128];
	int err;

	rtk_buf_init(&body, 1 << 20);
	err = rtk_model_patch_body(f, val, strlen(val), cur, &body, msg, sizeof(msg));
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
	    rtk_model_patch_body(RTK_F_EVENTS, "meeting.\x01x", 10, cur, &body, msg, sizeof(msg)),
	    -EINVAL);
	CHECK_EQ_STR(msg, "unknown event 'meeting.?x'");
	CHECK_EQ_INT(rtk_model_patch_body(RTK_F_URL, "ftp://x", 7, cur, &body, msg, sizeof(msg)),
		     -EINVAL);
	CHECK(strstr(msg, "https") != NULL);
	CHECK_EQ_INT(rtk_model_patch_body(RTK_F_NAME, "a\0b", 3, cur, &body, NULL, 0), -EINVAL);
	/* A body cap too small: the buffer's error. */
	rtk_buf_release(&body);
	rtk_buf_init(&body, 4);
	CHECK_EQ_INT(rtk_model_patch_body(RTK_F_ENABLED, "0", 1, cur, &body, msg, sizeof(msg)),
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

			CHECK_EQ_INT(rtk_model_patch_body(fields[j], v, len, o, &body, NULL, 0), 1);
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
	err = rtk_model_put_body(val, strlen(val), &body, msg, sizeof(msg));
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
	    rtk_model_put_body("{\"name\":\"n\",\"url\":\"https://x.example\",\"events\":[],"
			       "\"extra\":1}",
			       60, &body, msg, sizeof(msg)),
	    -EINVAL);
	CHECK_EQ_STR(msg, "unknown key 'extra' in webhook.json");

	/* What the user reads from webhook.json, written back unchanged, is a valid PUT. */
	json = rtk_obj_field(rtk_listing_at(l, 0), RTK_F_JSON, &len);
	rtk_buf_reset(&body);
	CHECK_EQ_INT(rtk_model_put_body(json, len, &body, msg, sizeof(msg)), 0);
	CHECK(strstr(body.data, "\"enabled\":true") != NULL);
	/* ...but not with the server's unknown fields in it. */
	json = rtk_obj_field(rtk_listing_at(l, 1), RTK_F_JSON, &len);
	rtk_buf_reset(&body);
	CHECK_EQ_INT(rtk_model_put_body(json, len, &body, msg, sizeof(msg)), -EINVAL);
	CHECK_EQ_STR(msg, "unknown key 'extra' in webhook.json");
	rtk_buf_release(&body);
	rtk_listing_unref(l);
}

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

	CHECK_EQ_INT(rtk_model_parse_page(b, body, sizeof(body) - 1, &pg), 0);
	CHECK_EQ_INT(pg.items, 2);
	CHECK_EQ_INT(pg.skipped, 1);
	l = rtk_listing_builder_finish(b);
	CHECK(l != NULL);
	CHECK_EQ_INT(rtk_listing_count(l), 1);
	name = rtk_obj_field(rtk_listing_at(l, 0), RTK_F_NAME, &len);
	CHECK_EQ_MEM(name, len, "x\xef\xbf\xbdy\n");
	rtk_listing_unref(l);
}

int main(void)
{
	rtk_log_init(RTK_LOG_WARN, false);
	RUN(test_fixtures_parse);
	RUN(test_nul_escapes);
	RUN(test_render_webhooks);
	RUN(test_render_kinds);
	RUN(test_render_values);
	RUN(test_malformed);
	RUN(test_deep_nesting);
	RUN(test_hostile_ids);
	RUN(test_duplicates);
	RUN(test_pages_accounts);
	RUN(test_pages_apps_webhooks);
	RUN(test_too_many_objects);
	RUN(test_replace_remove);
	RUN(test_find_many);
	RUN(test_bare);
	RUN(test_error_message);
	RUN(test_verify);
	RUN(test_url);
	RUN(test_events_known);
	RUN(test_patch);
	RUN(test_write_back_unchanged);
	RUN(test_put);
	return check_summary();
}
