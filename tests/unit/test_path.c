// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "check.h"
#include "rtkfs/path.h"

#define ACC "023e105f4ecef8ad9ca31a8372d0c353"
#define APP "14a396e7-ca44-4937-bf1f-050a69118543"
#define HOOK "0d1f069d-43bb-489a-ad8c-7eb95592ba8e"

static int id_is(struct rtk_path_id id, const char *s)
{
	return id.n == strlen(s) && memcmp(id.p, s, id.n) == 0;
}

static void test_id_is_safe(void)
{
	char all[0x80];
	int c;

	CHECK(rtk_path_id_is_safe("abc", 3, 32));
	CHECK(rtk_path_id_is_safe(ACC, 32, 32));
	CHECK(!rtk_path_id_is_safe(ACC "0", 33, 32));
	CHECK(!rtk_path_id_is_safe("", 0, 32));
	CHECK(!rtk_path_id_is_safe(".", 1, 32));
	CHECK(!rtk_path_id_is_safe("..", 2, 32));
	CHECK(rtk_path_id_is_safe("...", 3, 32));
	CHECK(rtk_path_id_is_safe(".a", 2, 32));
	CHECK(!rtk_path_id_is_safe("a/b", 3, 32));
	CHECK(!rtk_path_id_is_safe("a b", 3, 32));
	CHECK(!rtk_path_id_is_safe("a\0b", 3, 32));
	CHECK(!rtk_path_id_is_safe("a\tb", 3, 32));
	CHECK(!rtk_path_id_is_safe("caf\xc3\xa9", 5, 32));
	CHECK(!rtk_path_id_is_safe("a\x7f", 2, 32));
	/* Only the first len bytes count. */
	CHECK(rtk_path_id_is_safe("ab/", 2, 32));
	for (c = 0; c < 0x80; c++) {
		all[0] = (char)c;
		CHECK_EQ_INT(rtk_path_id_is_safe(all, 1, 32),
			     c >= 0x21 && c <= 0x7e && c != '/' && c != '.');
	}
	CHECK(rtk_path_id_is_safe("~!@#$%^&*()_+{}|:<>?`-=[]\\;',", 29, 64));
	CHECK_EQ_INT(rtk_path_id_max(RTK_K_ACCOUNT), 32);
	CHECK_EQ_INT(rtk_path_id_max(RTK_K_APP), 64);
	CHECK_EQ_INT(rtk_path_id_max(RTK_K_WEBHOOK), 64);
	CHECK_EQ_INT(rtk_path_id_max(RTK_K__N), 0);
}

static void test_parse_dirs(void)
{
	struct rtk_path p;

	CHECK_EQ_INT(rtk_path_parse("/", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_ROOT);
	CHECK_EQ_INT(p.account.n + p.app.n + p.webhook.n, 0);

	CHECK_EQ_INT(rtk_path_parse("/accounts", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_ACCOUNTS);

	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC, &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_ACCOUNT);
	CHECK_EQ_INT(p.step.obj, RTK_K_ACCOUNT);
	CHECK_EQ_INT(p.step.field, RTK_F__N);
	CHECK(id_is(p.account, ACC));
	CHECK_EQ_INT(p.app.n, 0);

	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/apps", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_APPS);
	CHECK(id_is(p.account, ACC));

	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/apps/" APP, &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_APP);
	CHECK_EQ_INT(p.step.obj, RTK_K_APP);
	CHECK(id_is(p.app, APP));

	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/apps/" APP "/webhooks", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_WEBHOOKS);

	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/apps/" APP "/webhooks/" HOOK, &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_WEBHOOK);
	CHECK_EQ_INT(p.step.obj, RTK_K_WEBHOOK);
	CHECK(id_is(p.account, ACC));
	CHECK(id_is(p.app, APP));
	CHECK(id_is(p.webhook, HOOK));

	CHECK_EQ_INT(rtk_path_parse("/.rtkfs", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_CTL_DIR);
}

static void check_field(const char *path, enum rtk_kind k, enum rtk_field f)
{
	struct rtk_path p;

	CHECK_EQ_INT(rtk_path_parse(path, &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_FIELD);
	CHECK_EQ_INT(p.step.obj, k);
	CHECK_EQ_INT(p.step.field, f);
	CHECK_EQ_INT(p.step.ctl, RTK_CTL__N);
}

static void test_parse_fields(void)
{
	const char *a = "/accounts/" ACC;
	const char *ap = "/accounts/" ACC "/apps/" APP;
	const char *w = "/accounts/" ACC "/apps/" APP "/webhooks/" HOOK;
	static const struct {
		enum rtk_kind k;
		const char *name;
		enum rtk_field f;
	} cases[] = {
	    {RTK_K_ACCOUNT, "id", RTK_F_ID},
	    {RTK_K_ACCOUNT, "name", RTK_F_NAME},
	    {RTK_K_ACCOUNT, "account.json", RTK_F_JSON},
	    {RTK_K_APP, "id", RTK_F_ID},
	    {RTK_K_APP, "name", RTK_F_NAME},
	    {RTK_K_APP, "created_at", RTK_F_CREATED_AT},
	    {RTK_K_APP, "app.json", RTK_F_JSON},
	    {RTK_K_WEBHOOK, "id", RTK_F_ID},
	    {RTK_K_WEBHOOK, "name", RTK_F_NAME},
	    {RTK_K_WEBHOOK, "url", RTK_F_URL},
	    {RTK_K_WEBHOOK, "enabled", RTK_F_ENABLED},
	    {RTK_K_WEBHOOK, "events", RTK_F_EVENTS},
	    {RTK_K_WEBHOOK, "created_at", RTK_F_CREATED_AT},
	    {RTK_K_WEBHOOK, "updated_at", RTK_F_UPDATED_AT},
	    {RTK_K_WEBHOOK, "webhook.json", RTK_F_JSON},
	};
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *base = cases[i].k == RTK_K_ACCOUNT ? a
				   : cases[i].k == RTK_K_APP   ? ap
							       : w;

		snprintf(buf, sizeof(buf), "%s/%s", base, cases[i].name);
		check_field(buf, cases[i].k, cases[i].f);
		CHECK_EQ_STR(rtk_path_field_name(cases[i].k, cases[i].f), cases[i].name);
	}
}

static void test_fields_not_of_kind(void)
{
	struct rtk_path p;

	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/url", &p), -ENOENT);
	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/created_at", &p), -ENOENT);
	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/app.json", &p), -ENOENT);
	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/apps/" APP "/url", &p), -ENOENT);
	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/apps/" APP "/updated_at", &p), -ENOENT);
	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/apps/" APP "/webhook.json", &p), -ENOENT);
	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/apps/" APP "/webhooks/" HOOK "/apps", &p),
		     -ENOENT);
	CHECK(rtk_path_field_name(RTK_K_ACCOUNT, RTK_F_URL) == NULL);
	CHECK(rtk_path_field_name(RTK_K_APP, RTK_F_EVENTS) == NULL);
	CHECK(rtk_path_field_name(RTK_K__N, RTK_F_ID) == NULL);
	CHECK(rtk_path_field_name(RTK_K_WEBHOOK, RTK_F__N) == NULL);
}

static void test_ctl(void)
{
	struct rtk_path p;

	CHECK_EQ_INT(rtk_path_parse("/.rtkfs/status", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_CTL_FILE);
	CHECK_EQ_INT(p.step.ctl, RTK_CTL_STATUS);
	CHECK_EQ_INT(rtk_path_parse("/.rtkfs/stats.json", &p), 0);
	CHECK_EQ_INT(p.step.ctl, RTK_CTL_STATS_JSON);
	CHECK_EQ_INT(rtk_path_parse("/.rtkfs/ctl", &p), 0);
	CHECK_EQ_INT(p.step.ctl, RTK_CTL_CTL);
	CHECK_EQ_INT(p.step.field, RTK_F__N);
	CHECK_EQ_INT(rtk_path_parse("/.rtkfs/other", &p), -ENOENT);
	CHECK_EQ_INT(rtk_path_parse("/.rtkfs/status/x", &p), -ENOTDIR);
	CHECK_EQ_INT(rtk_path_parse("/accounts/.rtkfs", &p), 0); /* just an account id */
	CHECK_EQ_INT(p.step.kind, RTK_N_ACCOUNT);
	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/.rtkfs", &p), -ENOENT);
	CHECK_EQ_STR(rtk_path_ctl_name(RTK_CTL_STATUS), "status");
	CHECK_EQ_STR(rtk_path_ctl_name(RTK_CTL_STATS_JSON), "stats.json");
	CHECK_EQ_STR(rtk_path_ctl_name(RTK_CTL_CTL), "ctl");
	CHECK_EQ_STR(rtk_path_ctl_name(RTK_CTL_METRICS), "metrics");
	CHECK(rtk_path_ctl_name(RTK_CTL__N) == NULL);
}

static void test_slashes(void)
{
	struct rtk_path p;

	CHECK_EQ_INT(rtk_path_parse("//", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_ROOT);
	CHECK_EQ_INT(rtk_path_parse("/accounts/", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_ACCOUNTS);
	CHECK_EQ_INT(rtk_path_parse("//accounts//" ACC "///apps/", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_APPS);
	CHECK(id_is(p.account, ACC));
}

static void test_hostile(void)
{
	static const char *const bad[] = {
	    "",
	    "accounts",
	    "./accounts",
	    "/.",
	    "/..",
	    "/./accounts",
	    "/accounts/.",
	    "/accounts/..",
	    "/accounts/../accounts",
	    "/accounts/" ACC "/..",
	    "/accounts/" ACC "/.",
	    "/accounts/" ACC "/apps/..",
	    "/accounts/" ACC "/apps/" APP "/webhooks/..",
	    "/accounts/" ACC "/apps/" APP "/webhooks/.",
	    "/Accounts",
	    "/accountsx",
	    "/apps",
	    "/accounts/" ACC "0",	       /* 33 chars */
	    "/accounts/" ACC "/apps/" APP APP, /* 72 chars */
	    "/accounts/a b",
	    "/accounts/a\tb",
	    "/accounts/\x01\x02",
	    "/accounts/\xff\xfe\x80",
	    "/accounts/caf\xc3\xa9",
	    "/accounts/\x7f",
	    "/accounts/" ACC "/nope",
	    "/accounts/" ACC "/apps/" APP "/webhooks/" HOOK "/nope",
	    "/.rtkfs/..",
	    "/ .rtkfs",
	};
	struct rtk_path p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = rtk_path_parse(bad[i], &p);

		if (err != -ENOENT)
			fprintf(stderr, "path %zu: '%s' -> %d\n", i, bad[i], err);
		CHECK_EQ_INT(err, -ENOENT);
	}
	CHECK_EQ_INT(rtk_path_parse(NULL, &p), -ENOENT);
}

static void test_notdir_and_long(void)
{
	char name[400], path[600];
	struct rtk_path p;
	struct rtk_path_step s;

	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/id/x", &p), -ENOTDIR);
	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/apps/" APP "/webhooks/" HOOK "/url/x", &p),
		     -ENOTDIR);
	CHECK_EQ_INT(rtk_path_parse("/accounts/" ACC "/id/..", &p), -ENOTDIR);

	memset(name, 'a', 256);
	name[256] = '\0';
	snprintf(path, sizeof(path), "/accounts/%s", name);
	CHECK_EQ_INT(rtk_path_parse(path, &p), -ENAMETOOLONG);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ACCOUNTS, name, &s), -ENAMETOOLONG);
	name[255] = '\0';
	CHECK_EQ_INT(rtk_path_step(RTK_N_ACCOUNTS, name, &s), -ENOENT); /* too long for an id */
	snprintf(path, sizeof(path), "/accounts/%s", name);
	CHECK_EQ_INT(rtk_path_parse(path, &p), -ENOENT);
}

static void test_step(void)
{
	struct rtk_path_step s;

	CHECK_EQ_INT(rtk_path_step(RTK_N_ROOT, "accounts", &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_ACCOUNTS);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ROOT, ".rtkfs", &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_CTL_DIR);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ROOT, "x", &s), -ENOENT);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ROOT, "", &s), -ENOENT);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ACCOUNTS, ACC, &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_ACCOUNT);
	CHECK_EQ_INT(s.obj, RTK_K_ACCOUNT);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ACCOUNTS, "a/b", &s), -ENOENT);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ACCOUNTS, "..", &s), -ENOENT);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ACCOUNT, "apps", &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_APPS);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ACCOUNT, "name", &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_FIELD);
	CHECK_EQ_INT(s.field, RTK_F_NAME);
	CHECK_EQ_INT(rtk_path_step(RTK_N_APPS, APP, &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_APP);
	CHECK_EQ_INT(rtk_path_step(RTK_N_APP, "webhooks", &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_WEBHOOKS);
	CHECK_EQ_INT(rtk_path_step(RTK_N_WEBHOOKS, HOOK, &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_WEBHOOK);
	/* A name in a collection is an id, even one that looks like a field. */
	CHECK_EQ_INT(rtk_path_step(RTK_N_WEBHOOKS, "new.json", &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_WEBHOOK);
	CHECK_EQ_INT(rtk_path_step(RTK_N_WEBHOOK, "events", &s), 0);
	CHECK_EQ_INT(s.field, RTK_F_EVENTS);
	CHECK_EQ_INT(s.obj, RTK_K_WEBHOOK);
	CHECK_EQ_INT(rtk_path_step(RTK_N_WEBHOOK, "webhooks", &s), -ENOENT);
	CHECK_EQ_INT(rtk_path_step(RTK_N_CTL_DIR, "ctl", &s), 0);
	CHECK_EQ_INT(s.ctl, RTK_CTL_CTL);
	CHECK_EQ_INT(rtk_path_step(RTK_N_FIELD, "x", &s), -ENOTDIR);
	CHECK_EQ_INT(rtk_path_step(RTK_N_CTL_FILE, "x", &s), -ENOTDIR);
	CHECK_EQ_INT(rtk_path_step(RTK_N__N, "x", &s), -ENOENT);
}

static void test_writable(void)
{
	int f;

	for (f = 0; f < RTK_F__N; f++) {
		CHECK(!rtk_path_field_is_writable(RTK_K_ACCOUNT, (enum rtk_field)f));
		CHECK(!rtk_path_field_is_writable(RTK_K_APP, (enum rtk_field)f));
	}
	CHECK(rtk_path_field_is_writable(RTK_K_WEBHOOK, RTK_F_NAME));
	CHECK(rtk_path_field_is_writable(RTK_K_WEBHOOK, RTK_F_URL));
	CHECK(rtk_path_field_is_writable(RTK_K_WEBHOOK, RTK_F_ENABLED));
	CHECK(rtk_path_field_is_writable(RTK_K_WEBHOOK, RTK_F_EVENTS));
	CHECK(rtk_path_field_is_writable(RTK_K_WEBHOOK, RTK_F_JSON));
	CHECK(!rtk_path_field_is_writable(RTK_K_WEBHOOK, RTK_F_ID));
	CHECK(!rtk_path_field_is_writable(RTK_K_WEBHOOK, RTK_F_CREATED_AT));
	CHECK(!rtk_path_field_is_writable(RTK_K_WEBHOOK, RTK_F_UPDATED_AT));
}

static void test_encode(void)
{
	char out[64];

	CHECK_EQ_INT(rtk_path_encode("abc-._~XYZ09", 12, out, sizeof(out)), 12);
	CHECK_EQ_STR(out, "abc-._~XYZ09");
	CHECK_EQ_INT(rtk_path_encode("a b/c?d#e%", 10, out, sizeof(out)), 20);
	CHECK_EQ_STR(out, "a%20b%2Fc%3Fd%23e%25");
	CHECK_EQ_INT(rtk_path_encode("\x00\xff\x7f", 3, out, sizeof(out)), 9);
	CHECK_EQ_STR(out, "%00%FF%7F");
	CHECK_EQ_INT(rtk_path_encode("", 0, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "");
	/* Exactly fits: 3 bytes and the NUL. */
	CHECK_EQ_INT(rtk_path_encode("abc", 3, out, 4), 3);
	CHECK_EQ_INT(rtk_path_encode("abcd", 4, out, 4), -ENAMETOOLONG);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(rtk_path_encode("a/", 2, out, 4), -ENAMETOOLONG);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(rtk_path_encode("a/", 2, out, 5), 4);
	CHECK_EQ_STR(out, "a%2F");
	CHECK_EQ_INT(rtk_path_encode("a", 1, out, 0), -ENAMETOOLONG);
}

static void test_docs(void)
{
	struct rtk_path p;
	struct rtk_path_step s;

	CHECK_EQ_INT(rtk_path_parse("/accounts/023e105f4ecef8ad9ca31a8372d0c353/apps.json", &p), 0);
	CHECK_EQ_INT(p.step.kind, RTK_N_DOC);
	CHECK_EQ_INT(p.step.obj, RTK_K_APP);
	CHECK_EQ_INT(rtk_path_step(RTK_N_APP, "webhooks.json", &s), 0);
	CHECK_EQ_INT(s.kind, RTK_N_DOC);
	CHECK_EQ_INT(s.obj, RTK_K_WEBHOOK);
	CHECK_EQ_INT(rtk_path_step(RTK_N_WEBHOOK, "webhooks.json", &s), -ENOENT);
	CHECK_EQ_INT(rtk_path_step(RTK_N_ACCOUNT, "webhooks.json", &s), -ENOENT);
	CHECK_EQ_INT(rtk_path_step(RTK_N_DOC, "x", &s), -ENOTDIR);
	CHECK_EQ_INT(rtk_path_parse("/accounts/023e105f4ecef8ad9ca31a8372d0c353/apps.json/x", &p),
		     -ENOTDIR);
	CHECK_EQ_STR(rtk_path_doc_name(RTK_K_APP), "apps.json");
	CHECK_EQ_STR(rtk_path_doc_name(RTK_K_WEBHOOK), "webhooks.json");
	CHECK(rtk_path_doc_name(RTK_K_ACCOUNT) == NULL);
}

int main(void)
{
	RUN(test_id_is_safe);
	RUN(test_parse_dirs);
	RUN(test_parse_fields);
	RUN(test_fields_not_of_kind);
	RUN(test_ctl);
	RUN(test_slashes);
	RUN(test_hostile);
	RUN(test_notdir_and_long);
	RUN(test_step);
	RUN(test_writable);
	RUN(test_encode);
	RUN(test_docs);
	return check_summary();
}
