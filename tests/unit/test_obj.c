// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "bodies.h"
#include "rtkfs/log.h"
#include "rtkfs/obj.h"

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

static void test_bare(void)
{
	struct rtk_obj *o;
	size_t len;

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
}

int main(void)
{
	rtk_log_init(RTK_LOG_WARN, false);
	RUN(test_render_webhooks);
	RUN(test_render_kinds);
	RUN(test_render_values);
	RUN(test_bare);
	return check_summary();
}
