// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "bodies.h"
#include "rtkfs/buf.h"
#include "rtkfs/listing.h"
#include "rtkfs/log.h"

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
	CHECK_EQ_INT(rtk_envelope_parse_page(b, body, len, &pg), 0);
	CHECK_EQ_INT(pg.skipped, 0);
	CHECK_EQ_INT(rtk_envelope_parse_page(b, body, len, &pg), 0);
	CHECK_EQ_INT(pg.items, 2);
	CHECK_EQ_INT(pg.skipped, 2);
	free(body);
	l = rtk_listing_builder_finish(b);
	CHECK_EQ_INT(rtk_listing_count(l), 2);
	rtk_listing_unref(l);
}

static void test_too_many_objects(void)
{
	size_t n = RTK_LISTING_MAX_OBJECTS + 1, i, o = 0;
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
	CHECK_EQ_INT(rtk_envelope_parse_object(RTK_K_WEBHOOK, body, len, &o), 0);
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
	CHECK_EQ_INT(rtk_envelope_parse_page(b, body.data, body.len, &pg), 0);
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

/* Bare objects in a builder: user-named accounts. */
static void test_builder_bare(void)
{
	struct rtk_listing_builder *b;
	struct rtk_listing *l;
	struct rtk_page pg = {.page = 1, .per_page = 20};
	size_t len;
	char *body;

	b = rtk_listing_builder_new(RTK_K_ACCOUNT);
	CHECK_EQ_INT(rtk_listing_builder_add_bare(b, "023e105f4ecef8ad9ca31a8372d0c353", 32), 0);
	CHECK_EQ_INT(rtk_listing_builder_add_bare(b, "023e105f4ecef8ad9ca31a8372d0c353", 32),
		     -EEXIST);
	CHECK_EQ_INT(rtk_listing_builder_add_bare(b, "a/b", 3), -EINVAL);
	CHECK_EQ_INT(rtk_listing_builder_add_bare(b, "", 0), -EINVAL);
	/* The server's full object for the same id is then a duplicate. */
	body = load("accounts_page1.json", &len);
	CHECK_EQ_INT(rtk_envelope_parse_page(b, body, len, &pg), 0);
	CHECK_EQ_INT(pg.skipped, 1);
	free(body);
	l = rtk_listing_builder_finish(b);
	CHECK_EQ_INT(rtk_listing_count(l), 2);
	CHECK(rtk_obj_is_bare(rtk_listing_at(l, 0)));
	CHECK(!rtk_obj_is_bare(rtk_listing_at(l, 1)));
	rtk_listing_unref(l);
}

int main(void)
{
	rtk_log_init(RTK_LOG_WARN, false);
	RUN(test_duplicates);
	RUN(test_too_many_objects);
	RUN(test_replace_remove);
	RUN(test_find_many);
	RUN(test_builder_bare);
	return check_summary();
}
