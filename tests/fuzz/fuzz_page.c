// SPDX-License-Identifier: MIT
/*
 * A list body as the server might send it: byte 0 picks the kind (and the page numbers),
 * the rest is the body. Everything that comes out is rendered, searched, replaced, removed.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "rtkfs/log.h"
#include "rtkfs/envelope.h"
#include "rtkfs/listing.h"
#include "rtkfs/obj.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	rtk_log_init(RTK_LOG_ERR, false);
	return 0;
}

static void check_listing(const struct rtk_listing *l, enum rtk_kind k)
{
	size_t i, n = rtk_listing_count(l);
	int f;

	FUZZ_ASSERT(rtk_listing_kind(l) == k);
	FUZZ_ASSERT(rtk_listing_bytes(l) > 0);
	for (i = 0; i < n; i++) {
		const struct rtk_obj *o = rtk_listing_at(l, i);
		size_t idlen, len;
		const char *id = rtk_obj_id(o, &idlen);
		struct timespec ts = rtk_obj_mtime(o);

		FUZZ_ASSERT(idlen > 0 && idlen <= 64 && strlen(id) == idlen);
		FUZZ_ASSERT(rtk_listing_find(l, id, idlen) == o);
		FUZZ_ASSERT(rtk_obj_equal(o, o));
		FUZZ_ASSERT(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
		for (f = 0; f <= RTK_F__N; f++) {
			const char *p = rtk_obj_field(o, (enum rtk_field)f, &len);

			if (!p)
				continue;
			fuzz_touch(p, len);
			/* Every non-empty file ends in a newline. */
			FUZZ_ASSERT(len == 0 || p[len - 1] == '\n');
			if (f == RTK_F_JSON)
				FUZZ_ASSERT(len >= 3 && p[0] == '{' && p[len - 2] == '}');
			if (f == RTK_F_ID)
				FUZZ_ASSERT(len == idlen + 1 && memcmp(p, id, idlen) == 0);
		}
	}
	FUZZ_ASSERT(rtk_listing_at(l, n) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtk_listing_builder *b;
	struct rtk_listing *l, *l2, *l3;
	struct rtk_page pg;
	enum rtk_kind k;
	size_t n, i;
	int err;

	if (size < 1)
		return 0;
	k = (enum rtk_kind)(data[0] % RTK_K__N);
	pg.page = 1 + (data[0] >> 2) % 4;
	pg.per_page = (data[0] >> 4) % 4 ? 20 : 1;
	data++;
	size--;

	b = rtk_listing_builder_new(k);
	if (!b)
		return 0;
	if (k == RTK_K_ACCOUNT)
		rtk_listing_builder_add_bare(b, "023e105f4ecef8ad9ca31a8372d0c353", 32);
	err = rtk_envelope_parse_page(b, (const char *)data, size, &pg);
	FUZZ_ASSERT(err == 0 || err == -EPROTO || err == -ENOMEM);
	if (err == 0) {
		FUZZ_ASSERT(pg.skipped <= pg.items);
		FUZZ_ASSERT(!pg.more || pg.items > 0);
		if (k == RTK_K_WEBHOOK)
			FUZZ_ASSERT(!pg.more);
		/* The same page again: every kept object is now a duplicate. */
		pg.page++;
		err = rtk_envelope_parse_page(b, (const char *)data, size, &pg);
		FUZZ_ASSERT(err == 0);
		FUZZ_ASSERT(pg.skipped == pg.items);
	}
	l = rtk_listing_builder_finish(b);
	if (!l)
		return 0;
	check_listing(l, k);
	n = rtk_listing_count(l);
	FUZZ_ASSERT(rtk_listing_equal(l, l));

	for (i = 0; i < n && i < 8; i++) {
		struct rtk_obj *o = (struct rtk_obj *)rtk_listing_at(l, i);
		size_t idlen;
		const char *id = rtk_obj_id(o, &idlen);

		/* Replace with the same object: equal listing. */
		l2 = rtk_listing_replace(l, o);
		if (!l2)
			break;
		FUZZ_ASSERT(rtk_listing_equal(l, l2));
		l3 = rtk_listing_remove(l2, id, idlen);
		if (l3) {
			FUZZ_ASSERT(rtk_listing_count(l3) == n - 1);
			FUZZ_ASSERT(rtk_listing_find(l3, id, idlen) == NULL);
			check_listing(l3, k);
			rtk_listing_unref(l2);
			/* Put it back: appended at the end. */
			l2 = rtk_listing_replace(l3, o);
			if (l2) {
				FUZZ_ASSERT(rtk_listing_count(l2) == n);
				FUZZ_ASSERT(rtk_listing_at(l2, n - 1) == o);
				check_listing(l2, k);
			}
			rtk_listing_unref(l3);
		}
		rtk_listing_unref(l2);
	}
	l2 = rtk_listing_remove(l, "\x01", 1);
	if (l2) {
		FUZZ_ASSERT(rtk_listing_equal(l, l2));
		rtk_listing_unref(l2);
	}
	rtk_listing_unref(l);
	return 0;
}
