// SPDX-License-Identifier: MIT
/* The shared value format: what is built is read back; anything else is refused whole. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "rtkfs/pagepack.h"

struct seen {
	char all[256];
	size_t len;
	int calls;
};

static int collect(void *ctx, const char *body, size_t len)
{
	struct seen *s = ctx;

	if (s->len + len + 1 >= sizeof(s->all))
		return -ENOSPC;
	memcpy(s->all + s->len, body, len);
	s->len += len;
	s->all[s->len++] = '|';
	s->calls++;
	return 0;
}

static int parse(const char *v, const char *kind, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return rtk_pagepack_parse(v, strlen(v), kind, 10, 1000, collect, s);
}

static void test_round_trip(void)
{
	struct rtk_pagepack p;
	struct rtk_buf out;
	struct seen s;

	rtk_pagepack_init(&p, 100);
	CHECK_EQ_INT(rtk_pagepack_add(&p, "{\"a\":1}", 7), 0);
	CHECK_EQ_INT(rtk_pagepack_add(&p, "", 0), 0);
	CHECK_EQ_INT(rtk_pagepack_add(&p, "x\ny", 3), 0);
	rtk_buf_init(&out, 1000);
	CHECK_EQ_INT(rtk_pagepack_encode(&p, "apps", &out), 0);
	CHECK_EQ_STR(out.data, "RTKFS-LISTING 1 apps 3\n7\n{\"a\":1}0\n3\nx\ny");
	CHECK_EQ_INT(parse(out.data, "apps", &s), 0);
	CHECK_EQ_INT(s.calls, 3);
	CHECK(s.len == 13 && memcmp(s.all, "{\"a\":1}||x\ny|", 13) == 0);
	/* The same bytes are not a listing of another kind. */
	CHECK_EQ_INT(parse(out.data, "webhooks", &s), -EPROTO);
	CHECK_EQ_INT(s.calls, 0);
	rtk_buf_release(&out);
	rtk_pagepack_release(&p);
}

static void test_cap(void)
{
	struct rtk_pagepack p;
	char big[64];

	memset(big, 'x', sizeof(big));
	rtk_pagepack_init(&p, 40);
	CHECK_EQ_INT(rtk_pagepack_add(&p, big, 30), 0);
	CHECK_EQ_INT(rtk_pagepack_add(&p, big, 30), -EFBIG);
	CHECK_EQ_INT(p.n, 1);
	CHECK_EQ_INT(p.pages.len, 33);
	rtk_pagepack_release(&p);
}

static void test_refused(void)
{
	static const char *bad[] = {
	    "",
	    "RTKFS-LISTING",
	    "RTKFS-LISTING 2 apps 1\n2\n{}",			/* another version */
	    "RTKFS-LISTING 1 apps 0\n",				/* no page */
	    "RTKFS-LISTING 1 apps 1\n3\n{}",			/* truncated */
	    "RTKFS-LISTING 1 apps 1\n2\n{}x",			/* trailing bytes */
	    "RTKFS-LISTING 1 apps 2\n2\n{}",			/* a page missing */
	    "RTKFS-LISTING 1 apps 11\n",			/* more pages than allowed */
	    "RTKFS-LISTING 1 apps 1\n02\n{}",			/* leading zero */
	    "RTKFS-LISTING 1 apps 1\n-2\n{}",			/* sign */
	    "RTKFS-LISTING 1 apps 1\n99999999999999999999\n{}", /* overflow */
	    "RTKFS-LISTING 1 apps 1 2\n{}",			/* header not ended */
	    "RTKFS-LISTING 1 appsx 1\n2\n{}",			/* another kind */
	    "rtkfs-listing 1 apps 1\n2\n{}",			/* foreign */
	    "{\"success\":true}",				/* someone else's value */
	};
	struct seen s;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = parse(bad[i], "apps", &s);

		if (err != -EPROTO)
			fprintf(stderr, "accepted or wrong error %d: '%s'\n", err, bad[i]);
		CHECK_EQ_INT(err, -EPROTO);
		CHECK_EQ_INT(s.calls, 0);
	}
	/* Oversized: refused on its length before anything is read. */
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(
	    rtk_pagepack_parse("RTKFS-LISTING 1 apps 1\n2\n{}", 27, "apps", 10, 26, collect, &s),
	    -EFBIG);
	CHECK_EQ_INT(s.calls, 0);
	/* The callback's error comes back as it is. */
	CHECK_EQ_INT(parse("RTKFS-LISTING 1 apps 1\n2\n{}", "apps", &s), 0);
}

int main(void)
{
	RUN(test_round_trip);
	RUN(test_cap);
	RUN(test_refused);
	return check_summary();
}
