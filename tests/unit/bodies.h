/* SPDX-License-Identifier: MIT */
/*
 * bodies: the fixture bodies (tests/fixtures/bodies) and the small parsing helpers shared by
 * the unit tests of the JSON side (json, obj, listing, envelope, value). Include after
 * check.h. Static inline so that a test using only some of them builds without warnings.
 */
#ifndef RTKFS_TEST_BODIES_H
#define RTKFS_TEST_BODIES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/envelope.h"
#include "rtkfs/listing.h"
#include "rtkfs/obj.h"

#define HOOK1 "0d1f069d-43bb-489a-ad8c-7eb95592ba8e"
#define HOOK2 "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
#define HOOK3 "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"

#define CHECK_FIELD(o, f, expect)                                                                  \
	do {                                                                                       \
		size_t n_;                                                                         \
		const char *p_ = rtk_obj_field((o), (f), &n_);                                     \
		CHECK_EQ_MEM(p_, n_, (expect));                                                    \
	} while (0)

static inline char *load(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *p = NULL;
	long n;

	*len = 0;
	snprintf(path, sizeof(path), "fixtures/bodies/%s", name);
	f = fopen(path, "rb");
	if (!f) {
		/* A missing fixture fails the test, even one that expects an error. */
		fprintf(stderr, "cannot open fixture '%s'\n", path);
		CHECK(f != NULL);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		/* Not NUL-terminated on purpose: the parsers must go by the length. */
		p = malloc((size_t)n ? (size_t)n : 1);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	CHECK(p != NULL);
	return p;
}

/* Parse one fixture page into a new listing of kind k. */
static inline struct rtk_listing *listing_of(enum rtk_kind k, const char *fixture,
					     struct rtk_page *pg)
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
	err = rtk_envelope_parse_page(b, body, len, pg);
	CHECK_EQ_INT(err, 0);
	free(body);
	return rtk_listing_builder_finish(b);
}

static inline int parse_str(enum rtk_kind k, const char *body, struct rtk_page *pg)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(k);
	struct rtk_page dummy = {.page = 1, .per_page = 20};
	int err;

	if (!pg)
		pg = &dummy;
	err = rtk_envelope_parse_page(b, body, strlen(body), pg);
	rtk_listing_builder_free(b);
	return err;
}

static inline int parse_fixture_n(enum rtk_kind k, const char *body, size_t len)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(k);
	struct rtk_page pg = {.page = 1, .per_page = 20};
	int err = rtk_envelope_parse_page(b, body, len, &pg);

	rtk_listing_builder_free(b);
	return err;
}

static inline int parse_fixture(enum rtk_kind k, const char *fixture)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(k);
	struct rtk_page pg = {.page = 1, .per_page = 20};
	size_t len;
	char *body = load(fixture, &len);
	int err;

	err = rtk_envelope_parse_page(b, body, len, &pg);
	rtk_listing_builder_free(b);
	free(body);
	return err;
}

static inline struct rtk_obj *webhook_from(const char *data_json)
{
	char body[4096];
	struct rtk_obj *o = NULL;
	int err;

	snprintf(body, sizeof(body), "{\"success\":true,\"data\":%s}", data_json);
	err = rtk_envelope_parse_object(RTK_K_WEBHOOK, body, strlen(body), &o);
	CHECK_EQ_INT(err, 0);
	return o;
}

#endif
