// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/api.h"
#include "rtkfs/attr.h"
#include "rtkfs/buf.h"
#include "rtkfs/clock.h"
#include "rtkfs/collection.h"
#include "rtkfs/ctl.h"
#include "rtkfs/held.h"
#include "rtkfs/health.h"
#include "rtkfs/log.h"
#include "rtkfs/envelope.h"
#include "rtkfs/listing.h"
#include "rtkfs/obj.h"
#include "rtkfs/pagepack.h"
#include "rtkfs/prefetch.h"
#include "rtkfs/shared.h"

#define ACCOUNTS_PER_PAGE 50
#define APPS_PER_PAGE 100
#define BODY_MAX_DEFAULT (16u << 20)

struct rtk_coll {
	struct rtk_coll_config cfg;
	struct rtk_held *named; /* user-named accounts: a fixed listing, never fetched */
};

/* ---- paths ---- */

int rtk_coll_key(enum rtk_kind k, const struct rtk_ids *ids, char *out, size_t outsz)
{
	char a[3 * RTK_ID_MAX + 1], p[3 * RTK_ID_MAX + 1];
	int n;

	if (k == RTK_K_ACCOUNT) {
		n = snprintf(out, outsz, "/accounts");
		return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
	}
	if (!ids->account || rtk_path_encode(ids->account, strlen(ids->account), a, sizeof(a)) < 0)
		return -ENAMETOOLONG;
	if (k == RTK_K_APP) {
		n = snprintf(out, outsz, "/accounts/%s/realtime/kit/apps", a);
	} else {
		if (!ids->app || rtk_path_encode(ids->app, strlen(ids->app), p, sizeof(p)) < 0)
			return -ENAMETOOLONG;
		n = snprintf(out, outsz, "/accounts/%s/realtime/kit/%s/webhooks", a, p);
	}
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* ---- fetching ---- */

struct fetch {
	struct rtk_coll *c;
	const struct rtk_op *op;
	enum rtk_kind kind;
	struct rtk_ids ids;
	bool have_old; /* an older listing can stand in: never wait for the budget or a 429 */
	size_t bytes;  /* body bytes of the pages so far */
	struct rtk_pagepack *pack; /* the pages' bodies, to share; NULL when not sharing */
	/* A refresh to report once the cache holds it (references; see finish_fetch). */
	struct rtk_held *old, *fresh;
};

static size_t max_body(const struct rtk_coll *c)
{
	return c->cfg.max_body ? c->cfg.max_body : BODY_MAX_DEFAULT;
}

/*
 * Whether a fetch should not even be tried: in degraded mode (the last network error, at
 * once), or while a 429 pause runs and there is an older listing to stand in (-EAGAIN: the
 * cache serves it as stale). Without an older listing a paused fetch waits in the budget.
 */
static int fetch_blocked(struct rtk_coll *c, bool have_old, uint64_t deadline_ns)
{
	int err = rtk_health_blocked(c->cfg.health, deadline_ns);

	if (!err && have_old && rtk_api_is_paused(c->cfg.api))
		err = -EAGAIN;
	return err;
}

/* A failure the API client did not see (the answer was HTTP 200): log it, and keep it as the
 * last error for the control files. */
static void fail(struct rtk_coll *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct rtk_coll *c, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rtk_warn("cannot list: %s", line);
	if (c->cfg.ctl)
		rtk_ctl_record_error(c->cfg.ctl, line);
}

/*
 * A failed attempt of a GET about to be retried: it counts towards degraded mode at once (not
 * when the call ends), and once the mount is degraded the probe does the trying.
 */
static bool give_up(void *ctx, int err, long status)
{
	rtk_health_note(ctx, err, status, 1);
	return rtk_health_is_degraded(ctx);
}

/* One page (or the whole list, for webhooks) into the builder. */
static int fetch_page(struct fetch *f, const char *path, struct rtk_listing_builder *b,
		      struct rtk_page *page)
{
	struct rtk_api_resp resp;
	struct rtk_api_req req = {
		.method = "GET",
		.path = path,
		.deadline_ns = f->op->deadline_ns,
		.interrupted = f->op->interrupted,
		.interrupted_ctx = f->op->interrupted_ctx,
		.no_wait = f->have_old,
		.reserved = rtk_health_recovering(f->c->cfg.health),
		.give_up = give_up,
		.give_up_ctx = f->c->cfg.health,
	};
	char query[64] = "";
	int err;

	if (f->kind == RTK_K_ACCOUNT)
		snprintf(query, sizeof(query), "page=%u&per_page=%u", page->page, page->per_page);
	else if (f->kind == RTK_K_APP)
		snprintf(query, sizeof(query), "page_no=%u&per_page=%u", page->page,
			 page->per_page);
	req.query = query[0] ? query : NULL;

	rtk_api_resp_init(&resp, max_body(f->c));
	err = rtk_api_call(f->c->cfg.api, &req, &resp);
	rtk_health_note(f->c->cfg.health, err, resp.status, 1); /* the last attempt */
	if (err)
		goto out;
	f->bytes += resp.body.len;
	err = rtk_envelope_parse_page(b, resp.body.data, resp.body.len, page);
	if (!err && f->pack && rtk_pagepack_add(f->pack, resp.body.data, resp.body.len) != 0)
		f->pack = NULL; /* too large to share: the listing itself is fine */
	if (err == -EPROTO)
		fail(f->c, "GET %s: the response is not a list of %s", path,
		     rtk_path_collection_name(f->kind));
out:
	rtk_api_resp_release(&resp);
	return err;
}

/* The most pages one listing may take (see collection.h). */
static unsigned pages_max(const struct rtk_coll *c)
{
	struct rtk_api_stats st;
	unsigned cap = RTK_COLL_PAGES_MAX;

	rtk_api_get_stats(c->cfg.api, &st);
	if (st.has_budget && st.budget.limit / 20 < cap)
		cap = st.budget.limit / 20 > 5 ? st.budget.limit / 20 : 5;
	return cap;
}

/* Every page of the listing key into b. 0 or -errno (-EPROTO when paging makes no sense). */
static int fetch_pages(struct fetch *f, const char *key, struct rtk_listing_builder *b)
{
	struct rtk_page page = {.page = 1};
	unsigned cap = pages_max(f->c);
	int err;

	page.per_page = f->kind == RTK_K_ACCOUNT ? ACCOUNTS_PER_PAGE : APPS_PER_PAGE;
	for (;;) {
		page.more = false;
		err = fetch_page(f, key, b, &page);
		if (err || !page.more)
			return err;
		if (page.items == page.skipped) {
			fail(f->c, "GET %s: page %u adds no new %s; stopping", key, page.page,
			     rtk_path_collection_name(f->kind));
			return -EPROTO;
		}
		if (page.page >= cap || f->bytes > max_body(f->c)) {
			fail(f->c, "GET %s: more than %u pages or %zu bytes; stopping", key, cap,
			     max_body(f->c));
			return -EPROTO;
		}
		page.page++;
	}
}

/* Same ids in the same order? (A change of membership moves the directory's mtime.) */
static bool same_members(const struct rtk_listing *a, const struct rtk_listing *b)
{
	size_t i, n = rtk_listing_count(a);

	if (n != rtk_listing_count(b))
		return false;
	for (i = 0; i < n; i++)
		if (strcmp(rtk_obj_id(rtk_listing_at(a, i), NULL),
			   rtk_obj_id(rtk_listing_at(b, i), NULL)) != 0)
			return false;
	return true;
}

/* The directory node of the collection f fetched, if the kernel ever saw it. */
static struct rtk_ino_node *collection_node(struct rtk_coll *c, const struct fetch *f)
{
	struct rtk_ino *t = c->cfg.ino;
	struct rtk_ino_node *n = rtk_ino_find(t, rtk_ino_root(t), "accounts");

	if (f->kind == RTK_K_ACCOUNT)
		return n;
	n = rtk_ino_find(t, n, f->ids.account);
	if (f->kind == RTK_K_APP)
		return rtk_ino_find(t, n, "apps");
	n = rtk_ino_find(t, rtk_ino_find(t, n, "apps"), f->ids.app);
	return rtk_ino_find(t, n, "webhooks");
}

/* ---- pushing bytes into the kernel's page cache ---- */

static int peek_key(struct rtk_coll *c, enum rtk_kind k, const char *key, struct rtk_held **out);

/* A store of one object's files: keeps its listing alive, and knows the listing's key. */
struct push {
	struct rtk_ino_store s; /* first: a push is its store */
	struct rtk_coll *c;
	struct rtk_held *h;
	char key[];
};

/*
 * Still what a READ returns: the listing is the one the cache holds for its key, and fresh.
 * Invalidations for a newer listing are queued only once the cache holds it (finish_fetch),
 * so a store that passes this lands before them.
 */
static bool push_current(const struct rtk_ino_store *s)
{
	const struct push *p = (const struct push *)s;
	bool fresh = false;
	void *v;

	if (p->h == p->c->named)
		return true;
	if (rtk_cache_peek(p->c->cfg.cache, p->key, &v, &fresh) != 0)
		return false;
	rtk_held_unref(v);
	return v == p->h && fresh;
}

static void push_release(struct rtk_ino_store *s)
{
	struct push *p = (struct push *)s;

	rtk_held_unref(p->h);
	free(p);
}

/* Queue the fields (a mask of enum rtk_field) of object o, listed in h (cached as key), for
 * the files of dir. */
static void push_object(struct rtk_coll *c, const char *key, struct rtk_held *h,
			struct rtk_ino_node *dir, const struct rtk_obj *o, uint32_t fields, bool lazy)
{
	const struct rtk_ino_hooks *hk = &c->cfg.hooks;
	size_t klen = strlen(key), len;
	struct push *p;
	uint64_t seq = hk->write_seq ? hk->write_seq(hk->ctx) : 0;
	uint32_t want = 0;
	unsigned f;

	if (!hk->store || rtk_obj_is_bare(o))
		return;
	for (f = 0; f < RTK_F__N && f < 32; f++) {
		const char *bytes;

		if (!(fields & (1u << f)) || !rtk_path_field_name(rtk_obj_kind(o), (enum rtk_field)f))
			continue;
		bytes = rtk_obj_field(o, (enum rtk_field)f, &len);
		if (bytes && len && len <= RTK_INO_STORE_FILE_MAX)
			want |= 1u << f; /* else nothing to read, or read on demand */
	}
	/*
	 * Only files the kernel holds no page of (never read, written or pushed since it took
	 * the directory): a store then fills a new page under its lock, never one a reader
	 * may be copying from.
	 */
	if (!want || !(want = rtk_ino_mark_paged(dir, want)) ||
	    !(p = calloc(1, sizeof(*p) + klen + 1)))
		return;
	for (f = 0; f < RTK_F__N && p->s.n < RTK_INO_STORE_FILES; f++) {
		const char *bytes;

		if (!(want & (1u << f)))
			continue;
		bytes = rtk_obj_field(o, (enum rtk_field)f, &len);
		p->s.files[p->s.n++] = (struct rtk_ino_store_file){
			.ino = rtk_ino_file(dir, f), .p = bytes, .len = len};
		p->s.bytes += len;
	}
	if (!p->s.n) {
		free(p);
		return;
	}
	p->s.seq = seq;
	p->s.lazy = lazy;
	p->s.current = push_current;
	p->s.release = push_release;
	p->c = c;
	rtk_held_ref(h);
	p->h = h;
	memcpy(p->key, key, klen + 1);
	hk->store(hk->ctx, &p->s);
}

void rtk_coll_push_object(struct rtk_coll *c, struct rtk_ino_node *dir, enum rtk_kind k,
			  uint32_t fields, bool lazy)
{
	char key[RTK_COLL_KEY_MAX];
	const struct rtk_obj *o;
	struct rtk_held *h;
	struct rtk_ids ids;
	const char *id;

	rtk_ino_ids(dir, &ids);
	id = k == RTK_K_ACCOUNT ? ids.account : k == RTK_K_APP ? ids.app : ids.webhook;
	if (!c->cfg.hooks.store || !id || rtk_coll_key(k, &ids, key, sizeof(key)) != 0 ||
	    peek_key(c, k, key, &h) != 0)
		return;
	o = rtk_listing_find(h->l, id, strlen(id));
	if (o)
		push_object(c, key, h, dir, o, fields, lazy);
	rtk_held_unref(h);
}

/* Tell the kernel to drop what it holds of objects that changed, went away or came. */
static void report_changes(struct rtk_coll *c, const struct fetch *f,
			   const struct rtk_held *old, struct rtk_held *fresh)
{
	const struct rtk_listing *nl = fresh->l;
	const struct rtk_ino_hooks *hk = &c->cfg.hooks;
	struct rtk_ino_node *coll, *n;
	char key[RTK_COLL_KEY_MAX];
	size_t i, count, idlen;

	if (!old || !hk->inval_inode || !(coll = collection_node(c, f)) ||
	    rtk_coll_key(f->kind, &f->ids, key, sizeof(key)) != 0)
		return;
	count = rtk_listing_count(old->l);
	for (i = 0; i < count; i++) {
		const struct rtk_obj *o = rtk_listing_at(old->l, i), *now;
		const char *id = rtk_obj_id(o, &idlen);

		now = rtk_listing_find(nl, id, idlen);
		if (now && rtk_obj_equal(o, now))
			continue;
		n = rtk_ino_find(c->cfg.ino, coll, id);
		rtk_ino_inval_object(hk, n);
		/*
		 * Changed bytes are not pushed: a reader may hold the old size (its attributes)
		 * while a store of a value of another length lands, and would read it cut or
		 * padded with NULs (a store can extend the kernel's size, never shrink it). The
		 * invalidation makes the next read fetch size and bytes together.
		 */
		if (n && !now && hk->inval_entry)
			hk->inval_entry(hk->ctx, coll->ino, id);
	}
	/* New names may sit in the kernel as negative entries. */
	count = rtk_listing_count(nl);
	for (i = 0; i < count && hk->inval_entry; i++) {
		const char *id = rtk_obj_id(rtk_listing_at(nl, i), &idlen);

		if (!rtk_listing_find(old->l, id, idlen))
			hk->inval_entry(hk->ctx, coll->ino, id);
	}
	rtk_ino_inval_collection(hk, coll);
}

/* Offer the never-fetched sub-collections of a fresh listing to the prefetcher. */
static void read_ahead(struct rtk_coll *c, const struct fetch *f, const struct rtk_listing *l)
{
	size_t i, n = rtk_listing_count(l);
	char key[RTK_COLL_KEY_MAX];

	if (!c->cfg.prefetch || f->kind == RTK_K_WEBHOOK ||
	    !rtk_prefetch_has_room(c->cfg.prefetch, n))
		return;
	for (i = 0; i < n; i++) {
		struct rtk_ids ids = f->ids;
		void *v;

		if (f->kind == RTK_K_ACCOUNT)
			ids.account = rtk_obj_id(rtk_listing_at(l, i), NULL);
		else
			ids.app = rtk_obj_id(rtk_listing_at(l, i), NULL);
		if (rtk_coll_key(f->kind + 1, &ids, key, sizeof(key)) != 0)
			continue;
		if (rtk_cache_peek(c->cfg.cache, key, &v, NULL) == 0) {
			rtk_held_unref(v);
			continue;
		}
		if (rtk_prefetch_push(c->cfg.prefetch, f->kind + 1, &ids) != 0)
			return;
	}
}

/* Every page of listing key from the API into a new listing. */
static int api_fetch(struct fetch *f, const char *key, struct rtk_listing **out)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(f->kind);
	int err;

	if (!b)
		return -ENOMEM;
	err = fetch_pages(f, key, b);
	if (err) {
		rtk_listing_builder_free(b);
		return err;
	}
	*out = rtk_listing_builder_finish(b);
	return *out ? 0 : -ENOMEM;
}

/* ---- the shared cache (shared.h) ---- */

struct shared_read {
	struct fetch *f;
	struct rtk_listing_builder *b;
	struct rtk_page page;
};

/* One page of a shared value, parsed as fetch_page parses the API's. */
static int shared_page(void *ctx, const char *body, size_t len)
{
	struct shared_read *r = ctx;
	int err;

	if (r->page.page && !r->page.more)
		return -EPROTO; /* a page after the last one */
	r->page.page++;
	r->page.more = false;
	err = rtk_envelope_parse_page(r->b, body, len, &r->page);
	if (!err && r->page.items == r->page.skipped && r->page.more)
		err = -EPROTO;
	return err;
}

/* A shared value of listing key into a new listing: 0, or -errno when it is not one. */
static int shared_parse(struct fetch *f, const struct rtk_buf *v, struct rtk_listing **out)
{
	struct shared_read r = {.f = f, .b = rtk_listing_builder_new(f->kind)};
	int err;

	if (!r.b)
		return -ENOMEM;
	r.page.per_page = f->kind == RTK_K_ACCOUNT ? ACCOUNTS_PER_PAGE : APPS_PER_PAGE;
	err = rtk_pagepack_parse(v->data, v->len, rtk_path_collection_name(f->kind),
				 pages_max(f->c), v->max, shared_page, &r);
	if (!err && r.page.more)
		err = -EPROTO; /* the value ends before the listing does */
	if (err) {
		rtk_listing_builder_free(r.b);
		return err;
	}
	*out = rtk_listing_builder_finish(r.b);
	return *out ? 0 : -ENOMEM;
}

/* Share the pages just fetched (best effort). */
static void shared_store(struct fetch *f, const char *key)
{
	struct rtk_buf v;

	rtk_buf_init(&v, max_body(f->c) + 4096);
	if (rtk_pagepack_encode(f->pack, rtk_path_collection_name(f->kind), &v) == 0)
		rtk_shared_put(f->c->cfg.shared, key, v.data, v.len);
	rtk_buf_release(&v);
}

/*
 * Listing key from the shared cache if it is there (or once another mount's fetch of it
 * ended), else from the API, one mount at a time, sharing what came. A value that is not a
 * listing of ours is ignored, counted and fetched over; Redis failing only means fetching
 * alone.
 */
static int shared_fetch(struct fetch *f, const char *key, struct rtk_listing **out)
{
	struct rtk_shared *sh = f->c->cfg.shared;
	struct rtk_shared_claim claim;
	struct rtk_pagepack pack;
	struct rtk_buf v;
	int err;

	/* Room for the pages and their length lines (at most pages_max() of them). */
	rtk_buf_init(&v, max_body(f->c) + 4096);
	memset(&claim, 0, sizeof(claim));
	err = rtk_shared_get(sh, key, &v);
	/* Not there: fetch it, or wait for the mount that does (the claim says which). */
	if (err == -ENOENT && rtk_shared_claim(sh, key, f->op, &v, &claim) == RTK_SHARED_VALUE)
		err = 0;
	if (!err)
		err = shared_parse(f, &v, out);
	if (!err || err == -EPROTO || err == -EFBIG)
		rtk_shared_note_value(sh, key, err); /* used, or ignored and fetched over */
	if (!err)
		goto out;
	rtk_pagepack_init(&pack, max_body(f->c));
	f->pack = &pack;
	err = api_fetch(f, key, out);
	if (!err && f->pack)
		shared_store(f, key);
	f->pack = NULL;
	rtk_pagepack_release(&pack);
	rtk_shared_release(sh, key, &claim);
out:
	rtk_buf_release(&v);
	return err;
}

/* Which collection an API path names: the inverse of rtk_coll_key. 0 or -EINVAL. */
static int key_ids(const char *key, enum rtk_kind *k, struct rtk_ids *ids, char *a, char *p)
{
	char again[RTK_COLL_KEY_MAX];
	int n = 0;

	memset(ids, 0, sizeof(*ids));
	if (strcmp(key, "/accounts") == 0) {
		*k = RTK_K_ACCOUNT;
		return 0;
	}
	/* Ids are path-safe (no '/'); an encoded one does not come back equal below. */
	if (sscanf(key, "/accounts/%64[^/]/realtime/kit/apps%n", a, &n) == 1 && !key[n]) {
		*k = RTK_K_APP;
	} else if (sscanf(key, "/accounts/%64[^/]/realtime/kit/%64[^/]/webhooks%n", a, p, &n) ==
			   2 &&
		   !key[n]) {
		*k = RTK_K_WEBHOOK;
		ids->app = p;
	} else {
		return -EINVAL;
	}
	ids->account = a;
	if (rtk_coll_key(*k, ids, again, sizeof(again)) != 0 || strcmp(again, key) != 0)
		return -EINVAL;
	return 0;
}

static int fetch_listing(void *ctx, const char *key, void *oldv, void **out);

/*
 * After rtk_cache_get with fetch_listing: report what a refresh changed, now that the cache
 * holds the new listing. Stores of the old listing queued before this are dropped when sent
 * (no longer current) or land before these invalidations; never after them.
 */
static void finish_fetch(struct fetch *f)
{
	if (!f->fresh)
		return;
	report_changes(f->c, f, f->old, f->fresh);
	rtk_held_unref(f->old);
	rtk_held_unref(f->fresh);
	f->old = f->fresh = NULL;
}

/*
 * Another mount changed listing key (the subscriber thread): if we hold it, fetch it again
 * now and report what changed to the kernel, so that reads here see the write at once.
 */
static void on_shared_inval(void *ctx, const char *key)
{
	struct rtk_coll *c = ctx;
	struct rtk_op op = {.deadline_ns = rtk_clock_mono_ns() + c->cfg.timeout_ns};
	char a[65], p[65];
	struct rtk_held *h;
	void *v;

	if (rtk_cache_peek(c->cfg.cache, key, &v, NULL) != 0)
		return; /* not held: the next access fetches it anyway */
	rtk_held_unref(v);
	{
		struct fetch f = {.c = c, .op = &op};
		struct rtk_cache_wait w = {.deadline_ns = op.deadline_ns};

		if (key_ids(key, &f.kind, &f.ids, a, p) != 0) {
			rtk_cache_invalidate(c->cfg.cache, key, true);
			return;
		}
		rtk_cache_invalidate(c->cfg.cache, key, false);
		if (rtk_cache_get(c->cfg.cache, key, fetch_listing, &f, &w, &v, NULL) == 0) {
			h = v;
			rtk_held_unref(h);
		}
		finish_fetch(&f);
	}
}

static int fetch_listing(void *ctx, const char *key, void *oldv, void **out)
{
	struct fetch *f = ctx;
	struct rtk_held *old = oldv, *h;
	struct rtk_listing *l;
	int err;

	err = fetch_blocked(f->c, old != NULL, f->op->deadline_ns);
	if (err)
		return err;
	f->have_old = old != NULL;
	err = f->c->cfg.shared ? shared_fetch(f, key, &l) : api_fetch(f, key, &l);
	if (err)
		return err;
	h = rtk_held_new(l, old && same_members(old->l, l) ? old->changed : rtk_attr_now());
	if (!h) {
		rtk_listing_unref(l);
		return -ENOMEM;
	}
	if (old) { /* reported once the cache holds h (finish_fetch) */
		rtk_held_ref(old);
		rtk_held_ref(h);
		f->old = old;
		f->fresh = h;
	}
	read_ahead(f->c, f, l);
	*out = h;
	return 0;
}

int rtk_coll_get(struct rtk_coll *c, enum rtk_kind k, const struct rtk_ids *ids,
		 const struct rtk_op *op, struct rtk_held **out)
{
	struct fetch f = {.c = c, .op = op, .kind = k, .ids = *ids};
	struct rtk_cache_wait w = {
		.deadline_ns = op->deadline_ns,
		.interrupted = op->interrupted,
		.interrupted_ctx = op->interrupted_ctx,
	};
	char key[RTK_COLL_KEY_MAX];
	void *v;
	int err;

	if (k == RTK_K_ACCOUNT && c->named) {
		rtk_held_ref(c->named);
		*out = c->named;
		return 0;
	}
	err = rtk_coll_key(k, ids, key, sizeof(key));
	if (err)
		return err;
	err = rtk_cache_get(c->cfg.cache, key, fetch_listing, &f, &w, &v, NULL);
	finish_fetch(&f);
	if (err)
		return err;
	*out = v;
	return 0;
}

int rtk_coll_get_object(struct rtk_coll *c, enum rtk_kind k, const struct rtk_ids *ids,
			const struct rtk_op *op, struct rtk_held **hold,
			const struct rtk_obj **obj)
{
	const char *id = k == RTK_K_ACCOUNT ? ids->account
			 : k == RTK_K_APP   ? ids->app
					    : ids->webhook;
	struct rtk_held *h;
	int err;

	if (!id)
		return -ENOENT;
	err = rtk_coll_get(c, k, ids, op, &h);
	if (err)
		return err;
	*obj = rtk_listing_find(h->l, id, strlen(id));
	if (!*obj || rtk_held_is_unknown(h, id, strlen(id))) {
		/* Unknown: a write may have changed it, and no fetch since has said (DESIGN §6). */
		err = *obj ? -EIO : -ENOENT;
		rtk_held_unref(h);
		return err;
	}
	*hold = h;
	return 0;
}

/* rtk_coll_peek with the listing's key at hand. */
static int peek_key(struct rtk_coll *c, enum rtk_kind k, const char *key, struct rtk_held **out)
{
	bool fresh = false;
	void *v;

	*out = NULL;
	if (k == RTK_K_ACCOUNT && c->named) {
		rtk_held_ref(c->named);
		*out = c->named;
		return 0;
	}
	if (rtk_cache_peek(c->cfg.cache, key, &v, &fresh) != 0)
		return -ENOENT;
	if (!fresh) {
		rtk_held_unref(v);
		return -ENOENT;
	}
	*out = v;
	return 0;
}

int rtk_coll_peek(struct rtk_coll *c, enum rtk_kind k, const struct rtk_ids *ids,
		  struct rtk_held **out)
{
	char key[RTK_COLL_KEY_MAX];

	*out = NULL;
	if (rtk_coll_key(k, ids, key, sizeof(key)) != 0)
		return -ENOENT;
	return peek_key(c, k, key, out);
}

bool rtk_coll_lists(struct rtk_coll *c, enum rtk_kind k, const struct rtk_ids *ids)
{
	const char *id = k == RTK_K_ACCOUNT ? ids->account
			 : k == RTK_K_APP   ? ids->app
					    : ids->webhook;
	char key[RTK_COLL_KEY_MAX];
	struct rtk_held *h;
	void *v;
	bool listed;

	if (!id)
		return false;
	if (k == RTK_K_ACCOUNT && c->named) {
		h = c->named;
		return rtk_listing_find(h->l, id, strlen(id)) != NULL;
	}
	if (rtk_coll_key(k, ids, key, sizeof(key)) != 0 ||
	    rtk_cache_peek(c->cfg.cache, key, &v, NULL) != 0)
		return false;
	h = v;
	listed = rtk_listing_find(h->l, id, strlen(id)) != NULL;
	rtk_held_unref(h);
	return listed;
}

/* ---- writes ---- */

struct change {
	struct rtk_obj *put;  /* replaces the object of the same id, or is added */
	const char *remove;   /* or: the id to take out */
};

static void *apply_change(void *ctx, void *oldv)
{
	const struct change *ch = ctx;
	struct rtk_held *old = oldv, *h;
	struct rtk_listing *l;
	bool members_change;
	size_t len;

	if (ch->put) {
		const char *id = rtk_obj_id(ch->put, &len);

		members_change = !rtk_listing_find(old->l, id, len);
		l = rtk_listing_replace(old->l, ch->put);
	} else {
		len = strlen(ch->remove);
		members_change = rtk_listing_find(old->l, ch->remove, len) != NULL;
		l = rtk_listing_remove(old->l, ch->remove, len);
	}
	if (!l)
		return NULL;
	h = rtk_held_new(l, members_change ? rtk_attr_now() : old->changed);
	if (!h)
		rtk_listing_unref(l);
	return h;
}

int rtk_coll_apply(struct rtk_coll *c, const char *key, struct rtk_obj *put,
		   const char *remove_id)
{
	struct change ch = {.put = put, .remove = remove_id};
	int err = rtk_cache_update(c->cfg.cache, key, apply_change, &ch);

	if (err)
		rtk_cache_invalidate(c->cfg.cache, key, true);
	if (c->cfg.shared)
		rtk_shared_invalidate(c->cfg.shared, key);
	return err;
}

static void *mark_unknown(void *ctx, void *oldv)
{
	const char *id = ctx;

	return rtk_held_new_unknown(oldv, id, strlen(id));
}

void rtk_coll_forget_object(struct rtk_coll *c, const char *key, const char *id)
{
	/* Marked in a copy (no more than RTK_HELD_UNKNOWN_MAX, else the listing goes). */
	bool marked = id && rtk_cache_update(c->cfg.cache, key, mark_unknown, (void *)id) == 0;

	rtk_cache_invalidate(c->cfg.cache, key, id && !marked);
	if (c->cfg.shared)
		rtk_shared_invalidate(c->cfg.shared, key);
}

void rtk_coll_forget(struct rtk_coll *c, const char *key)
{
	rtk_cache_invalidate(c->cfg.cache, key, true);
	if (c->cfg.shared)
		rtk_shared_invalidate(c->cfg.shared, key);
}

/* ---- life cycle ---- */

static struct rtk_held *named_accounts(const struct rtk_coll_config *cfg)
{
	struct rtk_listing_builder *b = rtk_listing_builder_new(RTK_K_ACCOUNT);
	struct rtk_listing *l;
	struct rtk_held *h;
	size_t i;

	if (!b)
		return NULL;
	for (i = 0; i < cfg->naccounts; i++) {
		const char *id = cfg->accounts[i];
		int err = rtk_listing_builder_add_bare(b, id, strlen(id));

		if (err && err != -EEXIST) {
			rtk_err("account id '%s' is not a valid id", id);
			rtk_listing_builder_free(b);
			return NULL;
		}
	}
	l = rtk_listing_builder_finish(b);
	h = l ? rtk_held_new(l, cfg->mounted) : NULL;
	if (!h)
		rtk_listing_unref(l);
	return h;
}

struct rtk_coll *rtk_coll_new(const struct rtk_coll_config *cfg)
{
	struct rtk_coll *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cfg = *cfg;
	if (cfg->naccounts && !(c->named = named_accounts(cfg))) {
		free(c);
		return NULL;
	}
	if (cfg->shared)
		rtk_shared_listen(cfg->shared, on_shared_inval, c);
	return c;
}

void rtk_coll_free(struct rtk_coll *c)
{
	if (!c)
		return;
	if (c->cfg.shared)
		rtk_shared_listen(c->cfg.shared, NULL, NULL);
	rtk_held_unref(c->named);
	free(c);
}
