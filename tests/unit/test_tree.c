// SPDX-License-Identifier: MIT
/*
 * The namespace without a mount: the tree and its parts against an in-process stand-in of
 * the API client (fake_api.c) that answers with canned bodies, statuses and errors. Covers
 * lookup, getattr, readdir and read on every kind of node, paging, change reports, degraded
 * mode, write validation and the control files, and asserts what was asked of the "API".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fake_api.h"
#include "rtkfs/cache.h"
#include "rtkfs/clock.h"
#include "rtkfs/collection.h"
#include "rtkfs/log.h"
#include "rtkfs/tree.h"
#include "rtkfs/write.h"

#define A1 "023e105f4ecef8ad9ca31a8372d0c353"
#define A2 "1b4f9c2de0a34c67b8e5f1a2b3c4d5e6"
#define P1 "11111111-1111-4111-8111-111111111111"
#define P2 "22222222-2222-4222-8222-222222222222"
#define P3 "33333333-3333-4333-8333-333333333333"
#define W1 "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define W2 "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
#define APPS_PATH "/accounts/" A1 "/realtime/kit/apps"
#define HOOKS_PATH "/accounts/" A1 "/realtime/kit/" P1 "/webhooks"

static const char accounts_body[] =
    "{\"success\": true, \"errors\": [], \"messages\": [], \"result\": ["
    "{\"id\": \"" A1 "\", \"name\": \"Acme\", \"created_on\": \"2021-06-01T12:00:00Z\"},"
    "{\"id\": \"" A2 "\", \"name\": \"Beta\", \"created_on\": \"2021-06-01T12:00:00Z\"}],"
    "\"result_info\": {\"page\": 1, \"per_page\": 50, \"count\": 2, \"total_count\": 2}}";

static const char apps_page1[] =
    "{\"success\": true, \"data\": ["
    "{\"id\": \"" P1 "\", \"name\": \"town-hall\", \"created_at\": \"2024-01-09T16:42:11.204Z\"},"
    "{\"id\": \"" P2 "\", \"name\": \"classes\", \"created_at\": \"2024-01-09T16:42:11.204Z\"}],"
    "\"paging\": {\"total_count\": 3, \"start_offset\": 1, \"end_offset\": 2}}";

static const char apps_page2[] =
    "{\"success\": true, \"data\": ["
    "{\"id\": \"" P3 "\", \"name\": \"support\", \"created_at\": \"2024-01-09T16:42:11.204Z\"}],"
    "\"paging\": {\"total_count\": 3, \"start_offset\": 3, \"end_offset\": 3}}";

#define HOOK(id, name, enabled)                                                                     \
	"{\"id\": \"" id "\", \"name\": \"" name "\", \"url\": \"https://hooks.example.com/" name   \
	"\", \"events\": [\"meeting.started\", \"meeting.ended\"], \"enabled\": " enabled           \
	", \"created_at\": \"2024-01-09T16:42:11.204Z\", \"updated_at\": \"2024-02-01T10:00:00.000Z\"}"

static const char hooks_body[] =
    "{\"success\": true, \"data\": [" HOOK(W1, "recorder", "true") "," HOOK(W2, "audit",
									      "false") "]}";

/* ---- a tree on a fake clock ---- */

static uint64_t fake_now;

static uint64_t fake_clock(void *ctx)
{
	return fake_now;
}

#define INVAL_MAX 256
static struct {
	uint64_t inodes[INVAL_MAX];
	char entries[INVAL_MAX][80];
	unsigned ninodes, nentries;
} seen;

static void inval_inode(void *ctx, uint64_t ino)
{
	if (seen.ninodes < INVAL_MAX)
		seen.inodes[seen.ninodes++] = ino;
}

static void inval_entry(void *ctx, uint64_t parent, const char *name)
{
	if (seen.nentries < INVAL_MAX)
		snprintf(seen.entries[seen.nentries++], sizeof(seen.entries[0]), "%s", name);
}

struct fixture {
	struct rtk_cache *cache;
	struct rtk_tree *tree;
	struct rtk_op op;
};

static void serve_demo(void)
{
	fake_api_answer("GET", "/accounts", NULL, 200, accounts_body, 0, 0);
	fake_api_answer("GET", APPS_PATH, "page_no=1&per_page=100", 200, apps_page1, 0, 0);
	fake_api_answer("GET", APPS_PATH, "page_no=2&per_page=100", 200, apps_page2, 0, 0);
	fake_api_answer("GET", HOOKS_PATH, NULL, 200, hooks_body, 0, 0);
}

/* A tree on the fake API and clock. Setup failure fails the calling test (and returns false). */
static bool setup(struct fixture *fx, bool ro)
{
	struct rtk_cache_config cc = {
		.ttl_ns = 5 * RTK_NS_PER_SEC,
		.stale_ns = 300 * RTK_NS_PER_SEC,
		.retry_ns = 2 * RTK_NS_PER_SEC,
		.err_ttl_ns = RTK_NS_PER_SEC,
		.idle_ns = 3600 * RTK_NS_PER_SEC,
		.max_bytes = 64u << 20,
		.clock = {.now_ns = fake_clock},
		.ops = rtk_held_cache_ops,
	};
	struct rtk_tree_config tc = {
		.api = fake_api(),
		.uid = 1000,
		.gid = 1000,
		.ro = ro,
		.timeout_ns = 5 * RTK_NS_PER_SEC,
		.hooks = {.inval_inode = inval_inode, .inval_entry = inval_entry},
		.clock = {.now_ns = fake_clock},
	};

	memset(fx, 0, sizeof(*fx));
	memset(&seen, 0, sizeof(seen));
	fake_now = 1000 * RTK_NS_PER_SEC;
	fake_api_reset();
	fx->cache = rtk_cache_new(&cc);
	tc.cache = fx->cache;
	fx->tree = fx->cache ? rtk_tree_new(&tc) : NULL;
	fx->op.deadline_ns = rtk_clock_mono_ns() + 10 * RTK_NS_PER_SEC;
	CHECK(fx->cache && fx->tree);
	return fx->cache && fx->tree;
}

static void teardown(struct fixture *fx)
{
	rtk_tree_free(fx->tree);
	rtk_cache_free(fx->cache);
	fake_api_reset();
}

/* Walk path (relative to the root) by lookups: 0 and its attributes, or the first error. */
static int walk(struct fixture *fx, const char *path, struct rtk_attr *a)
{
	char buf[512], *save = NULL, *part;
	uint64_t ino = RTK_INO_ROOT;
	int err = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	rtk_tree_getattr(fx->tree, ino, &fx->op, a);
	for (part = strtok_r(buf, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		err = rtk_tree_lookup(fx->tree, ino, part, &fx->op, a);
		if (err)
			return err;
		ino = a->st.st_ino;
	}
	return err;
}

/* The whole content of file path into out (NUL-terminated): its length, or -errno. */
static int cat(struct fixture *fx, const char *path, char *out, size_t outsz)
{
	struct rtk_tree_data d;
	struct rtk_attr a;
	int err = walk(fx, path, &a);

	if (err)
		return err;
	err = rtk_tree_read(fx->tree, a.st.st_ino, 0, outsz - 1, &fx->op, &d);
	if (err)
		return err;
	memcpy(out, d.p ? d.p : "", d.n);
	out[d.n] = '\0';
	err = (int)d.n;
	rtk_tree_data_release(&d);
	return err;
}

struct names {
	char s[2048];
};

static bool add_name(void *ctx, const char *name, const struct rtk_attr *attr, uint64_t next)
{
	struct names *n = ctx;
	size_t len = strlen(n->s);

	snprintf(n->s + len, sizeof(n->s) - len, "%s%s", len ? "," : "", name);
	return true;
}

/* The names readdir gives for path, comma-separated, or "" with *err set. */
static const char *ls(struct fixture *fx, const char *path, struct names *n, int *err)
{
	struct rtk_attr a;

	n->s[0] = '\0';
	*err = walk(fx, path, &a);
	if (!*err)
		*err = rtk_tree_readdir(fx->tree, a.st.st_ino, 0, false, &fx->op, add_name, n);
	return n->s;
}

/* ---- every kind of node ---- */

static void test_root_and_collections(void)
{
	struct fixture fx;
	struct names n;
	struct rtk_attr a;
	int err;

	if (!setup(&fx, false))
		return;
	serve_demo();
	CHECK_EQ_STR(ls(&fx, "", &n, &err), ".,..,accounts");
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_STR(ls(&fx, "accounts", &n, &err), ".,..," A1 "," A2);
	CHECK_EQ_STR(ls(&fx, "accounts/" A1, &n, &err), ".,..,id,name,account.json,apps.json,apps");
	CHECK_EQ_STR(ls(&fx, "accounts/" A1 "/apps", &n, &err), ".,..," P1 "," P2 "," P3);
	CHECK_EQ_INT(err, 0);
	/* Two pages, one request each; the accounts once, whatever was asked since. */
	CHECK_EQ_INT(fake_api_count("GET", APPS_PATH), 2);
	CHECK_EQ_INT(fake_api_count("GET", "/accounts"), 1);
	CHECK_EQ_STR(ls(&fx, "accounts/" A1 "/apps/" P1, &n, &err),
		     ".,..,id,name,created_at,app.json,webhooks.json,webhooks");
	CHECK_EQ_STR(ls(&fx, "accounts/" A1 "/apps/" P1 "/webhooks", &n, &err),
		     ".,..," W1 "," W2);
	CHECK_EQ_STR(ls(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1, &n, &err),
		     ".,..,id,name,url,enabled,events,created_at,updated_at,webhook.json");
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks", &a), 0);
	CHECK(S_ISDIR(a.st.st_mode) && a.st.st_nlink == 1 && (a.st.st_mode & 0777) == 0755);
	/* Nothing was asked twice within the TTL. */
	CHECK_EQ_INT(fake_api_count("GET", HOOKS_PATH), 1);
	CHECK_EQ_INT(fake_api_count("GET", APPS_PATH), 2);
	/* A file is not a directory; a directory is not a file. */
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/id/x", &a), -ENOTDIR);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1, &a), 0);
	CHECK_EQ_INT(rtk_tree_read(fx.tree, a.st.st_ino, 0, 10, &fx.op, &(struct rtk_tree_data){0}),
		     -EISDIR);
	teardown(&fx);
}

static void test_fields(void)
{
	struct fixture fx;
	struct rtk_attr a;
	char buf[4096];
	int n;

	if (!setup(&fx, false))
		return;
	serve_demo();
	n = cat(&fx, "accounts/" A1 "/name", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "Acme\n");
	CHECK_EQ_INT(n, 5);
	CHECK_EQ_INT(cat(&fx, "accounts/" A1 "/apps/" P3 "/name", buf, sizeof(buf)), 8);
	CHECK_EQ_STR(buf, "support\n");
	cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/url", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "https://hooks.example.com/recorder\n");
	cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W2 "/enabled", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "false\n");
	cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/events", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "meeting.started\nmeeting.ended\n");
	CHECK(cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/webhook.json", buf,
		  sizeof(buf)) > 0 &&
	      strstr(buf, "  \"name\": \"recorder\",\n"));
	/* Exact sizes, modes by writability, mtime = updated_at. */
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/url", &a), 0);
	CHECK_EQ_INT(a.st.st_size, strlen("https://hooks.example.com/recorder\n"));
	CHECK_EQ_INT(a.st.st_mode & 0777, 0644);
	CHECK_EQ_INT(a.st.st_mtim.tv_sec, 1706781600); /* 2024-02-01T10:00:00Z */
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/id", &a), 0);
	CHECK_EQ_INT(a.st.st_mode & 0777, 0444);
	/* Absent names: ENOENT from the fresh listing, without a request. */
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/nope", &a), -ENOENT);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/nope", &a), -ENOENT);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/..", &a), -ENOENT);
	CHECK_EQ_INT(fake_api_count("GET", HOOKS_PATH), 1);
	teardown(&fx);
}

static void test_read_only_modes(void)
{
	struct fixture fx;
	struct rtk_attr a;

	if (!setup(&fx, true))
		return;
	serve_demo();
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/url", &a), 0);
	CHECK_EQ_INT(a.st.st_mode & 0777, 0444);
	CHECK_EQ_INT(rtk_tree_write(fx.tree, a.st.st_ino, "x", 1, 0, &fx.op), -EROFS);
	CHECK_EQ_INT(fake_api_count("PATCH", NULL), 0);
	teardown(&fx);
}

/* ---- collection documents ---- */

static void test_collection_documents(void)
{
	struct fixture fx;
	struct rtk_attr a;
	static char buf[16384], one[4096];
	int n;

	if (!setup(&fx, false))
		return;
	serve_demo();
	n = cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks.json", buf, sizeof(buf));
	CHECK(n > 0);
	/* The same objects as each webhook.json, in the server's order, as one array. */
	CHECK(strncmp(buf, "[\n  {\n    \"id\": \"" W1 "\",\n", strlen("[\n  {\n    \"id\": \"" W1 "\",\n")) == 0);
	CHECK(strstr(buf, "\"id\": \"" W2 "\"") > strstr(buf, "\"id\": \"" W1 "\""));
	CHECK(n > 3 && strcmp(buf + n - 3, "\n]\n") == 0);
	cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/webhook.json", one, sizeof(one));
	CHECK(strstr(buf, "    \"name\": \"recorder\",\n") != NULL);
	CHECK(strstr(one, "  \"name\": \"recorder\",\n") != NULL);
	/* Served from the one listing: no request of its own. */
	CHECK_EQ_INT(fake_api_count("GET", HOOKS_PATH), 1);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks.json", &a), 0);
	CHECK_EQ_INT(a.st.st_size, n);
	CHECK_EQ_INT(a.st.st_mode & 0777, 0444);
	CHECK_EQ_INT(a.st.st_mtim.tv_sec, 1706781600); /* the newest updated_at */
	n = cat(&fx, "accounts/" A1 "/apps.json", buf, sizeof(buf));
	CHECK(n > 0 && strstr(buf, "\"name\": \"support\"") != NULL);
	CHECK_EQ_INT(fake_api_count("GET", APPS_PATH), 2);
	/* Not a directory, not writable, and not in a webhook's directory. */
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps.json/x", &a), -ENOTDIR);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/webhooks.json", &a),
		     -ENOENT);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps.json", &a), 0);
	CHECK_EQ_INT(rtk_tree_write(fx.tree, a.st.st_ino, "[]\n", 3, 0, &fx.op), -EACCES);
	CHECK_EQ_INT(fake_api_count("PUT", NULL) + fake_api_count("PATCH", NULL), 0);
	teardown(&fx);
}

/* ---- control files ---- */

static void test_control_files(void)
{
	struct fixture fx;
	struct names n;
	struct rtk_attr a;
	char buf[8192];
	int err;

	if (!setup(&fx, false))
		return;
	serve_demo();
	CHECK_EQ_STR(ls(&fx, ".rtkfs", &n, &err), ".,..,status,stats.json,ctl,metrics");
	CHECK_EQ_INT(err, 0);
	CHECK(cat(&fx, ".rtkfs/status", buf, sizeof(buf)) > 0);
	CHECK(strstr(buf, "base url:     http://127.0.0.1:1/fake\n") != NULL);
	CHECK(strstr(buf, "state:        ok\n") != NULL);
	CHECK(strstr(buf, "last write error: none\n") != NULL);
	/* The size the kernel is told is the size read. */
	CHECK_EQ_INT(walk(&fx, ".rtkfs/stats.json", &a), 0);
	CHECK(a.volatile_attr);
	CHECK_EQ_INT(cat(&fx, ".rtkfs/stats.json", buf, sizeof(buf)), a.st.st_size);
	CHECK(strstr(buf, "\"requests_total\": ") && strstr(buf, "\"degraded\": false"));
	/* ctl: commands, not bytes. */
	CHECK_EQ_INT(walk(&fx, ".rtkfs/ctl", &a), 0);
	CHECK_EQ_INT(a.st.st_mode & 0777, 0200);
	cat(&fx, "accounts/" A1 "/name", buf, sizeof(buf));
	CHECK_EQ_INT(rtk_tree_write(fx.tree, a.st.st_ino, "flush\n", 6, 0, &fx.op), 6);
	cat(&fx, "accounts/" A1 "/name", buf, sizeof(buf));
	CHECK_EQ_INT(fake_api_count("GET", "/accounts"), 2); /* flushed: asked again */
	CHECK_EQ_INT(rtk_tree_write(fx.tree, a.st.st_ino, "bogus\n", 6, 0, &fx.op), -EINVAL);
	CHECK_EQ_INT(walk(&fx, ".rtkfs/nope", &a), -ENOENT);
	teardown(&fx);
}

/* ---- paging ---- */

static void test_paging_without_progress(void)
{
	struct fixture fx;
	struct names n;
	int err;

	if (!setup(&fx, false))
		return;
	fake_api_answer("GET", "/accounts", NULL, 200, accounts_body, 0, 0);
	/* Every page is the same, and says a million more follow. */
	fake_api_answer("GET", APPS_PATH, NULL, 200,
			"{\"success\": true, \"data\": [{\"id\": \"" P1 "\", \"name\": \"x\"}], "
			"\"paging\": {\"total_count\": 1000000, \"start_offset\": 1, "
			"\"end_offset\": 1}}",
			0, 0);
	ls(&fx, "accounts/" A1 "/apps", &n, &err);
	CHECK_EQ_INT(err, -EPROTO);
	CHECK_EQ_INT(fake_api_count("GET", APPS_PATH), 2);
	teardown(&fx);
}

static long endless_pages(const char *method, const char *path, const char *query, char *body,
			  size_t bodysz)
{
	unsigned page = 0;

	if (strcmp(path, APPS_PATH) || sscanf(query, "page_no=%u", &page) != 1)
		return 404;
	snprintf(body, bodysz,
		 "{\"success\": true, \"data\": [{\"id\": \"app-%u\", \"name\": \"x\"}], "
		 "\"paging\": {\"total_count\": 1000000, \"start_offset\": %u, \"end_offset\": %u}}",
		 page, page, page);
	return 200;
}

static void test_paging_cap(void)
{
	struct fixture fx;
	struct names n;
	int err;

	if (!setup(&fx, false))
		return;
	fake_api_answer("GET", "/accounts", NULL, 200, accounts_body, 0, 0);
	fake_api_handler(endless_pages); /* a new app on every page, forever */
	ls(&fx, "accounts/" A1 "/apps", &n, &err);
	CHECK_EQ_INT(err, -EPROTO);
	CHECK_EQ_INT(fake_api_count("GET", APPS_PATH), RTK_COLL_PAGES_MAX);
	teardown(&fx);
}

/* ---- change reports ---- */

static bool saw_inode(uint64_t ino)
{
	unsigned i;

	for (i = 0; i < seen.ninodes; i++)
		if (seen.inodes[i] == ino)
			return true;
	return false;
}

static bool saw_entry(const char *name)
{
	unsigned i;

	for (i = 0; i < seen.nentries; i++)
		if (!strcmp(seen.entries[i], name))
			return true;
	return false;
}

static void test_change_reports(void)
{
	static const char changed[] =
	    "{\"success\": true, \"data\": [" HOOK(W1, "renamed", "true") "]}";
	struct fixture fx;
	struct rtk_attr w1, w2, w1name, dir;
	char buf[256];

	if (!setup(&fx, false))
		return;
	serve_demo();
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks", &dir), 0);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1, &w1), 0);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/name", &w1name), 0);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W2, &w2), 0);
	CHECK_EQ_INT(seen.ninodes + seen.nentries, 0); /* first fetches change nothing */

	/* On the server: W1 renamed, W2 deleted. Past the TTL the next access refreshes. */
	fake_api_reset();
	fake_api_answer("GET", HOOKS_PATH, NULL, 200, changed, 0, 0);
	serve_demo();
	fake_now += 6 * RTK_NS_PER_SEC;
	cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/name", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "renamed\n");
	CHECK_EQ_INT(fake_api_count("GET", HOOKS_PATH), 1);
	CHECK(saw_inode(w1.st.st_ino) && saw_inode(w1name.st.st_ino));
	CHECK(saw_inode(w2.st.st_ino) && saw_entry(W2));
	CHECK(saw_inode(dir.st.st_ino)); /* its listing changed */
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W2, &w2), -ENOENT);
	teardown(&fx);
}

/* ---- degraded mode ---- */

static void test_degraded_mode(void)
{
	struct fixture fx;
	char buf[256];
	unsigned before, i;

	if (!setup(&fx, false))
		return;
	serve_demo();
	CHECK_EQ_INT(cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/name", buf,
			 sizeof(buf)), 9);
	/* The API goes away: connections refused, no answer at all. */
	fake_api_reset();
	fake_api_answer("GET", "/accounts", NULL, 0, NULL, -ECONNREFUSED, 0);
	fake_api_answer("GET", APPS_PATH, NULL, 0, NULL, -ECONNREFUSED, 0);
	fake_api_answer("GET", HOOKS_PATH, NULL, 0, NULL, -ECONNREFUSED, 0);
	for (i = 0; i < 3; i++) {
		fake_now += 6 * RTK_NS_PER_SEC; /* past the TTL and the retry pause */
		/* Stale-if-error: the last good bytes, never an error. */
		CHECK_EQ_INT(cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/name", buf,
				 sizeof(buf)), 9);
		CHECK_EQ_STR(buf, "recorder\n");
	}
	CHECK(fake_api_count("GET", NULL) >= 3);
	/* Degraded: answered from the cache at once, nothing sent. */
	before = fake_api_count("GET", NULL);
	fake_now += 6 * RTK_NS_PER_SEC;
	CHECK_EQ_INT(cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1 "/name", buf,
			 sizeof(buf)), 9);
	CHECK_EQ_INT(cat(&fx, "accounts/" A1 "/apps/" P2 "/webhooks/x/name", buf, sizeof(buf)),
		     -ECONNREFUSED);
	CHECK_EQ_INT(fake_api_count("GET", NULL), before);
	CHECK(cat(&fx, ".rtkfs/status", buf, sizeof(buf)) > 0 && strstr(buf, "state:        degraded"));
	teardown(&fx);
}

/* ---- writes ---- */

#define W1_PATH HOOKS_PATH "/" W1

#define W1_DIR "accounts/" A1 "/apps/" P1 "/webhooks/" W1

/* write(2) of len bytes of val at off to path: its result. */
static int write_at(struct fixture *fx, const char *path, const char *val, size_t len,
		    uint64_t off)
{
	struct rtk_attr a;
	int err = walk(fx, path, &a);

	return err ? err : rtk_tree_write(fx->tree, a.st.st_ino, val, len, off, &fx->op);
}

/* "echo val > path": one write at offset 0; 0 or its error. */
static int write_file(struct fixture *fx, const char *path, const char *val)
{
	int n = write_at(fx, path, val, strlen(val), 0);

	return n == (int)strlen(val) ? 0 : n < 0 ? n : -EIO;
}

static void test_write_validation(void)
{
	static const char patched[] = "{\"success\": true, \"data\": " HOOK(W1, "recorder",
									    "false") "}";
	struct fixture fx;
	struct rtk_attr a;
	char buf[8192];

	if (!setup(&fx, false))
		return;
	serve_demo();
	fake_api_answer("PATCH", W1_PATH, NULL, 200, patched, 0, 0);
	/* Refused locally: nothing sent, the reason kept for the control files. */
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/enabled", "flase\n"),
		     -EINVAL);
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/url",
				"ftp://x.example/\n"),
		     -EINVAL);
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/events",
				"meeting.nope\n"),
		     -EINVAL);
	CHECK_EQ_INT(fake_api_count("PATCH", NULL), 0);
	CHECK(cat(&fx, ".rtkfs/status", buf, sizeof(buf)) > 0 &&
	      !strstr(buf, "last write error: none"));
	/* Unchanged: nothing sent. */
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/enabled", "true\n"),
		     0);
	CHECK_EQ_INT(fake_api_count("PATCH", NULL), 0);
	/* A real change: one PATCH with that field, and readers see the server's answer. */
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/enabled", "0\n"),
		     0);
	CHECK_EQ_INT(fake_api_count("PATCH", W1_PATH), 1);
	CHECK_EQ_STR(fake_api_last_body("PATCH"), "{\"enabled\":false}");
	/* For a moment readers get what the kernel holds (the writer's spelling, uncached)... */
	CHECK_EQ_INT(walk(&fx, W1_DIR "/enabled", &a), 0);
	CHECK(a.volatile_attr && a.st.st_size == 2);
	cat(&fx, W1_DIR "/enabled", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "0\n");
	/* ... then the server's. */
	fake_now += RTK_NS_PER_SEC;
	CHECK_EQ_INT(walk(&fx, W1_DIR "/enabled", &a), 0);
	CHECK(!a.volatile_attr && a.st.st_size == 6);
	cat(&fx, W1_DIR "/enabled", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "false\n");
	CHECK_EQ_INT(fake_api_count("GET", HOOKS_PATH), 1); /* no follow-up GET */
	/* Read-only fields refuse writers. */
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/id", "x\n"),
		     -EACCES);
	teardown(&fx);
}

static void test_write_refused_by_server(void)
{
	struct fixture fx;
	char buf[8192];

	if (!setup(&fx, false))
		return;
	serve_demo();
	fake_api_answer("PATCH", W1_PATH, NULL, 400,
			"{\"success\": false, \"error\": {\"code\": 400, \"message\": \"name is "
			"taken\"}}",
			0, 0);
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/name", "dup\n"),
		     -EINVAL);
	CHECK_EQ_INT(fake_api_count("PATCH", W1_PATH), 1);
	cat(&fx, W1_DIR "/name", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "recorder\n"); /* the old value */
	cat(&fx, ".rtkfs/status", buf, sizeof(buf));
	CHECK(strstr(buf, "last write error: PATCH " W1_PATH ": HTTP 400: name is taken") != NULL);
	teardown(&fx);
}

static void test_create_and_rmdir(void)
{
	static const char created[] =
	    "{\"success\": true, \"data\": " HOOK("cccccccc-cccc-4ccc-8ccc-cccccccccccc", "new",
						  "true") "}";
	static const char doc[] = "{\"name\": \"new\", \"url\": \"https://hooks.example.com/new\", "
				  "\"events\": [\"meeting.started\"]}";
	struct fixture fx;
	struct rtk_attr dir, a;
	struct names n;
	size_t half = strlen(doc) / 2;
	char buf[8192];
	uint64_t f;
	int err;

	if (!setup(&fx, false))
		return;
	serve_demo();
	fake_api_answer("POST", HOOKS_PATH, NULL, 201, created, 0, 0);
	fake_api_answer("DELETE", W1_PATH, NULL, 200, "{\"success\": true, \"data\": {}}", 0, 0);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks", &dir), 0);
	CHECK_EQ_INT(rtk_tree_create(fx.tree, dir.st.st_ino, W1, O_WRONLY, &fx.op, &a), -EEXIST);
	CHECK_EQ_INT(rtk_tree_create(fx.tree, dir.st.st_ino, "new.json", O_WRONLY, &fx.op, &a), 0);
	f = a.st.st_ino;
	CHECK(f >= RTK_INO_PENDING_BASE);
	CHECK_EQ_INT(rtk_tree_create(fx.tree, dir.st.st_ino, "new.json", O_WRONLY, &fx.op, &a),
		     -EEXIST);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/new.json", &a), 0);
	CHECK_EQ_INT(a.st.st_ino, f);
	/* Half a document is held; the write that completes it POSTs it. */
	CHECK_EQ_INT(rtk_tree_write(fx.tree, f, doc, half, 0, &fx.op), half);
	CHECK_EQ_INT(fake_api_count("POST", NULL), 0);
	CHECK_EQ_INT(rtk_tree_write(fx.tree, f, doc + half, strlen(doc) - half, half, &fx.op),
		     strlen(doc) - half);
	CHECK_EQ_INT(rtk_tree_write(fx.tree, f, "\n", 1, strlen(doc), &fx.op), 1);
	CHECK_EQ_INT(rtk_tree_write(fx.tree, f, "x", 1, strlen(doc) + 1, &fx.op), -EINVAL);
	CHECK_EQ_INT(fake_api_count("POST", HOOKS_PATH), 1);
	CHECK(strstr(fake_api_last_body("POST"), "\"name\":\"new\"") != NULL);
	/* The file is gone, the webhook is there. */
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/new.json", &a), -ENOENT);
	CHECK_EQ_STR(ls(&fx, "accounts/" A1 "/apps/" P1 "/webhooks", &n, &err),
		     ".,..," W1 "," W2 ",cccccccc-cccc-4ccc-8ccc-cccccccccccc");
	/* JSON that is wrong before its end is refused at once; never completed: nothing. */
	CHECK_EQ_INT(rtk_tree_create(fx.tree, dir.st.st_ino, "bad.json", O_WRONLY, &fx.op, &a), 0);
	f = a.st.st_ino;
	CHECK_EQ_INT(rtk_tree_write(fx.tree, f, "{\"name\": x", 11, 0, &fx.op), -EINVAL);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/bad.json", &a), -ENOENT);
	CHECK_EQ_INT(rtk_tree_write(fx.tree, f, " \n", 2, 11, &fx.op), 2);
	CHECK_EQ_INT(rtk_tree_write(fx.tree, f, "{", 1, 13, &fx.op), -EINVAL);
	CHECK_EQ_INT(rtk_tree_create(fx.tree, dir.st.st_ino, "bad.json", O_WRONLY, &fx.op, &a), 0);
	CHECK_EQ_INT(rtk_tree_write(fx.tree, a.st.st_ino, "{\"name\": \"a\\u0000b\"", 20, 0,
				    &fx.op),
		     -EINVAL);
	CHECK_EQ_INT(rtk_tree_create(fx.tree, dir.st.st_ino, "bad.json", O_WRONLY, &fx.op, &a), 0);
	f = a.st.st_ino;
	CHECK_EQ_INT(rtk_tree_write(fx.tree, f, "{\"name\": \"a", 11, 0, &fx.op), 11);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/bad.json", &a), 0);
	CHECK_EQ_INT(a.st.st_size, 11);
	/* Idle for a minute: forgotten at the next create, and recorded. */
	fake_now += 61 * RTK_NS_PER_SEC;
	CHECK_EQ_INT(rtk_tree_create(fx.tree, dir.st.st_ino, "other.json", O_WRONLY, &fx.op, &a), 0);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/bad.json", &a), -ENOENT);
	CHECK_EQ_INT(rtk_tree_write(fx.tree, f, "\"}", 2, 11, &fx.op), -ENOENT);
	cat(&fx, ".rtkfs/status", buf, sizeof(buf));
	CHECK(strstr(buf, "never completed") != NULL);
	CHECK_EQ_INT(fake_api_count("POST", HOOKS_PATH), 1);
	/* rmdir: one DELETE, gone at once. Elsewhere: EPERM. */
	CHECK_EQ_INT(rtk_tree_rmdir(fx.tree, dir.st.st_ino, W1, &fx.op), 0);
	CHECK_EQ_INT(fake_api_count("DELETE", W1_PATH), 1);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1, &a), -ENOENT);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps", &a), 0);
	CHECK_EQ_INT(rtk_tree_rmdir(fx.tree, a.st.st_ino, P1, &fx.op), -EPERM);
	CHECK_EQ_INT(fake_api_count("GET", HOOKS_PATH), 2); /* one more after the minute */
	teardown(&fx);
}

/* Offsets: 0 starts a value, the end of the last one continues it, the server's end appends. */
static void test_write_offsets_and_caps(void)
{
	static const char one[] = "{\"success\": true, \"data\": "
				  "{\"id\": \"" W1 "\", \"name\": \"recorder\", \"url\": "
				  "\"https://hooks.example.com/recorder\", \"events\": "
				  "[\"meeting.started\"], \"enabled\": true}}";
	static const char two[] = "{\"success\": true, \"data\": "
				  "{\"id\": \"" W1 "\", \"name\": \"recorder\", \"url\": "
				  "\"https://hooks.example.com/recorder\", \"events\": "
				  "[\"meeting.started\", \"meeting.ended\"], \"enabled\": true}}";
	static char big[RTK_WRITE_CAP_NAME + 2];
	struct fixture fx;
	struct rtk_attr a;
	char buf[8192];

	if (!setup(&fx, false))
		return;
	serve_demo();
	fake_api_answer("PATCH", W1_PATH, NULL, 200, one, 0, 1);
	fake_api_answer("PATCH", W1_PATH, NULL, 200, two, 0, 1);
	/* { echo meeting.started; echo meeting.ended; } > events: a PATCH per write */
	CHECK_EQ_INT(write_at(&fx, W1_DIR "/events", "meeting.started\n", 16, 0), 16);
	CHECK_EQ_STR(fake_api_last_body("PATCH"), "{\"events\":[\"meeting.started\"]}");
	CHECK_EQ_INT(write_at(&fx, W1_DIR "/events", "meeting.ended\n", 14, 16), 14);
	CHECK_EQ_STR(fake_api_last_body("PATCH"),
		     "{\"events\":[\"meeting.started\",\"meeting.ended\"]}");
	CHECK_EQ_INT(fake_api_count("PATCH", W1_PATH), 2);
	cat(&fx, W1_DIR "/events", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "meeting.started\nmeeting.ended\n");
	/* Any other offset: EINVAL, nothing sent. */
	CHECK_EQ_INT(write_at(&fx, W1_DIR "/events", "x", 1, 5), -EINVAL);
	/* Past the cap: EFBIG, nothing sent, recorded. */
	memset(big, 'L', sizeof(big));
	CHECK_EQ_INT(write_at(&fx, W1_DIR "/name", big, sizeof(big), 0), -EFBIG);
	CHECK_EQ_INT(write_at(&fx, W1_DIR "/name", "abc", 3, RTK_WRITE_CAP_NAME - 1), -EINVAL);
	CHECK_EQ_INT(write_at(&fx, W1_DIR "/enabled", "false\n\n\n\n\n\n\n\n\n\n\n\n", 17, 0),
		     -EFBIG);
	CHECK_EQ_INT(fake_api_count("PATCH", W1_PATH), 2);
	cat(&fx, ".rtkfs/status", buf, sizeof(buf));
	CHECK(strstr(buf, "passes 16 bytes") != NULL);
	/* Emptied (O_TRUNC) and not written: size 0 for readers, nothing sent; then as before. */
	CHECK_EQ_INT(walk(&fx, W1_DIR "/events", &a), 0);
	CHECK_EQ_INT(rtk_tree_truncate(fx.tree, a.st.st_ino, 0), 0);
	CHECK_EQ_INT(rtk_tree_truncate(fx.tree, a.st.st_ino, 3), -EPERM);
	CHECK_EQ_INT(walk(&fx, W1_DIR "/events", &a), 0);
	CHECK(a.volatile_attr && a.st.st_size == 0);
	fake_now += 2 * RTK_NS_PER_SEC;
	CHECK_EQ_INT(walk(&fx, W1_DIR "/events", &a), 0);
	CHECK(!a.volatile_attr && a.st.st_size == 30);
	CHECK_EQ_INT(walk(&fx, W1_DIR "/id", &a), 0);
	CHECK_EQ_INT(rtk_tree_truncate(fx.tree, a.st.st_ino, 0), -EACCES);
	CHECK_EQ_INT(fake_api_count("PATCH", W1_PATH), 2);
	/* A NUL in a value: EINVAL. */
	CHECK_EQ_INT(write_at(&fx, W1_DIR "/name", "a\0b\n", 4, 0), -EINVAL);
	CHECK_EQ_INT(fake_api_count("PATCH", W1_PATH), 2);
	teardown(&fx);
}

/* webhook.json in chunks: held until complete, one PUT; unchanged sends nothing. */
static void test_write_json_in_chunks(void)
{
	static const char doc[] = "{\"name\": \"renamed\", \"url\": "
				  "\"https://hooks.example.com/recorder\", \"events\": "
				  "[\"meeting.started\", \"meeting.ended\"], \"enabled\": true}\n";
	static const char put[] = "{\"success\": true, \"data\": " HOOK(W1, "renamed", "true") "}";
	struct fixture fx;
	size_t off, n, len = strlen(doc);
	char buf[8192];

	if (!setup(&fx, false))
		return;
	serve_demo();
	fake_api_answer("PUT", W1_PATH, NULL, 200, put, 0, 0);
	for (off = 0; off < len; off += n) {
		n = len - off < 16 ? len - off : 16;
		CHECK_EQ_INT(write_at(&fx, W1_DIR "/webhook.json", doc + off, n, off), n);
		CHECK_EQ_INT(fake_api_count("PUT", W1_PATH), off + n >= len - 1 ? 1 : 0);
	}
	cat(&fx, W1_DIR "/name", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "renamed\n");
	/* The server's own webhook.json written back: nothing to send. */
	fake_now += RTK_NS_PER_SEC;
	cat(&fx, W1_DIR "/webhook.json", buf, sizeof(buf));
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/webhook.json", buf), 0);
	CHECK_EQ_INT(fake_api_count("PUT", W1_PATH), 1);
	/* Wrong before its end: EINVAL at once. */
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/webhook.json", "{\"name\" \"x\""), -EINVAL);
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/webhook.json", "[1, 2"), -EINVAL);
	CHECK_EQ_INT(fake_api_count("PUT", W1_PATH), 1);
	teardown(&fx);
}

/* An answer about another webhook: EPROTO, and the listing is fetched again. */
static void test_write_answer_of_another_id(void)
{
	static const char other[] = "{\"success\": true, \"data\": " HOOK(W2, "x", "true") "}";
	struct fixture fx;
	char buf[8192];

	if (!setup(&fx, false))
		return;
	serve_demo();
	fake_api_answer("PATCH", W1_PATH, NULL, 200, other, 0, 0);
	CHECK_EQ_INT(write_file(&fx, W1_DIR "/name", "x\n"), -EPROTO);
	CHECK_EQ_INT(fake_api_count("GET", HOOKS_PATH), 1);
	cat(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W2 "/name", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "audit\n"); /* not the answer's "x" */
	CHECK_EQ_INT(fake_api_count("GET", HOOKS_PATH), 2);
	teardown(&fx);
}

/* ---- node lifetime (FORGET) ---- */

static void test_forget(void)
{
	struct fixture fx;
	struct rtk_attr w1, w2, w2again, dir;
	size_t nodes;

	if (!setup(&fx, false))
		return;
	serve_demo();
	fake_api_answer("DELETE", W1_PATH, NULL, 200, "{\"success\": true, \"data\": {}}", 0, 0);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks", &dir), 0);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W1, &w1), 0);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W2, &w2), 0);
	nodes = rtk_tree_nodes(fx.tree);
	/* Still listed: the kernel forgets it, the number stays. */
	rtk_tree_forget(fx.tree, w2.st.st_ino, 1);
	CHECK_EQ_INT(rtk_tree_nodes(fx.tree), nodes);
	CHECK_EQ_INT(walk(&fx, "accounts/" A1 "/apps/" P1 "/webhooks/" W2, &w2again), 0);
	CHECK_EQ_INT(w2again.st.st_ino, w2.st.st_ino);
	/* Deleted and forgotten: freed, and its number is never given out again. */
	CHECK_EQ_INT(rtk_tree_rmdir(fx.tree, dir.st.st_ino, W1, &fx.op), 0);
	CHECK_EQ_INT(rtk_tree_nodes(fx.tree), nodes);     /* the kernel still holds it */
	rtk_tree_forget(fx.tree, w1.st.st_ino, 1);
	CHECK_EQ_INT(rtk_tree_nodes(fx.tree), nodes - 1);
	CHECK_EQ_INT(rtk_tree_getattr(fx.tree, w1.st.st_ino, &fx.op, &w1), -ENOENT);
	/* A directory with child nodes stays whatever the kernel forgets of it. */
	rtk_tree_forget(fx.tree, dir.st.st_ino, 100);
	CHECK_EQ_INT(rtk_tree_nodes(fx.tree), nodes - 1);
	/* Numbers that are not nodes (files, the root) are ignored. */
	rtk_tree_forget(fx.tree, w2.st.st_ino + 2, 1);
	rtk_tree_forget(fx.tree, RTK_INO_ROOT, 1);
	CHECK_EQ_INT(rtk_tree_nodes(fx.tree), nodes - 1);
	teardown(&fx);
}

int main(void)
{
	rtk_log_init(RTK_LOG_ERR, false);
	RUN(test_root_and_collections);
	RUN(test_fields);
	RUN(test_read_only_modes);
	RUN(test_collection_documents);
	RUN(test_control_files);
	RUN(test_paging_without_progress);
	RUN(test_paging_cap);
	RUN(test_change_reports);
	RUN(test_degraded_mode);
	RUN(test_write_validation);
	RUN(test_write_refused_by_server);
	RUN(test_create_and_rmdir);
	RUN(test_forget);
	RUN(test_write_offsets_and_caps);
	RUN(test_write_json_in_chunks);
	RUN(test_write_answer_of_another_id);
	return check_summary();
}
