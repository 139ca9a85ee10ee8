// SPDX-License-Identifier: MIT
/*
 * The namespace: nodes for directories, listings from the cache, file bytes from the model.
 *
 * A directory node is created the first time the kernel hears of it (lookup or readdirplus)
 * and kept for the life of the tree, so its inode number stays the same; files are not nodes
 * (their inode number is their directory's plus 1 + field). Nodes are found by inode number
 * and by (parent, name) through two hash tables under one mutex; a node's name and parent
 * never change, so pointers to them stay valid without the lock.
 *
 * The cache holds, per collection (keyed by its API path), a struct held: the listing and
 * the time its membership last changed, which is the collection directory's mtime, so the
 * kernel's cached directory listing is dropped as soon as it sees a refresh that changed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtkfs/api.h"
#include "rtkfs/budget.h"
#include "rtkfs/cache.h"
#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "rtkfs/model.h"
#include "rtkfs/tree.h"

#define MAX_PAGES 10000
#define ACCOUNTS_PER_PAGE 50
#define APPS_PER_PAGE 100
#define BODY_MAX_DEFAULT (16u << 20)

struct node {
	uint64_t ino;
	struct node *parent;
	struct node *next_by_ino;
	struct node *next_by_name;
	uint64_t name_hash;
	enum rtk_node_kind kind;
	char name[]; /* "" for the root */
};

/* A file created in a webhooks directory, waiting for its flush to become a webhook. */
struct pending {
	struct pending *next;
	uint64_t ino; /* in the pending range: PENDING_INO_BASE and up, never a directory's */
	struct node *parent;
	struct rtk_tree_file *file;
	char name[256];
};

#define PENDING_INO_BASE (1ull << 62)
#define WRITE_MAX (64u << 10)

enum file_kind { FILE_FIELD, FILE_NEW, FILE_CTL_READ, FILE_CTL_WRITE };

struct rtk_tree_file {
	enum file_kind kind;
	uint64_t ino;
	struct node *dir;     /* FIELD: the webhook's directory; NEW: the webhooks directory */
	enum rtk_field field; /* FIELD */
	struct pending *pending; /* NEW, until flushed or released */
	struct rtk_buf buf;   /* FIELD, NEW: what was written */
	/*
	 * Something was written since the last flush that sent: the next flush sends it. A
	 * close() of a dup'd descriptor flushes too (shells do that before writing), so an
	 * O_TRUNC with nothing written yet is not sent at flush but at release (truncated).
	 */
	bool dirty;
	bool truncated;
	char *snap;           /* CTL_READ: the bytes rendered at open */
	size_t snap_len;
};

/* A listing to fetch ahead: the apps of an account, or the webhooks of an app. */
struct ra_job {
	struct ra_job *next;
	enum rtk_kind kind;
	char account[RTK_ID_MAX + 1];
	char app[RTK_ID_MAX + 1];
};

#define RA_QUEUE_MAX 100000

struct held {
	atomic_uint refs;
	struct rtk_listing *l;
	struct timespec changed; /* membership last changed: the collection dir's mtime */
};

struct rtk_tree {
	struct rtk_tree_config cfg;
	struct rtk_held_accounts {
		struct held *h; /* user-named accounts: a fixed listing, never fetched */
	} named;
	struct timespec mounted;

	pthread_mutex_t lock; /* the node tables */
	struct node **by_ino, **by_name;
	size_t nbuckets, nnodes;
	uint64_t next_index;
	struct node *root;

	/*
	 * Control files: the bytes rendered when the kernel last asked for their attributes,
	 * so that reads return exactly st_size bytes of one consistent snapshot.
	 */
	pthread_mutex_t ctl_lock;
	struct {
		char *p;
		size_t n;
	} ctl_snap[RTK_CTL__N];

	/* New files in webhooks directories, until flushed (under lock). */
	struct pending *pending;
	uint64_t next_pending;

	/* What the control files tell of writes (under ctl_lock). */
	char last_created[RTK_ID_MAX + 1];
	char last_write_error[320];
	int64_t last_write_error_time;

	/* Set once, by rtk_tree_free: the background threads end (and their fetches abort). */
	atomic_bool quitting;

	/* Read-ahead: jobs for the workers (under ra_lock). */
	pthread_mutex_t ra_lock;
	pthread_cond_t ra_cond;
	struct ra_job *ra_head, *ra_tail;
	size_t ra_queued;
	pthread_t *ra_threads;
	unsigned ra_nthreads;

	/* Degraded mode (see tree.h), under health_lock. */
	pthread_mutex_t health_lock;
	pthread_cond_t health_cond;
	unsigned net_failures; /* in a row */
	int net_errno;         /* the last of them */
	bool degraded, probe_running;
	pthread_t probe;
};

/* ---- held listings (the cache's values) ---- */

static struct held *held_new(struct rtk_listing *l, struct timespec changed)
{
	struct held *h = malloc(sizeof(*h));

	if (!h)
		return NULL;
	atomic_init(&h->refs, 1);
	h->l = l;
	h->changed = changed;
	return h;
}

static void held_ref(void *v)
{
	atomic_fetch_add(&((struct held *)v)->refs, 1);
}

static void held_unref(void *v)
{
	struct held *h = v;

	if (h && atomic_fetch_sub(&h->refs, 1) == 1) {
		rtk_listing_unref(h->l);
		free(h);
	}
}

static size_t held_size(const void *v)
{
	return sizeof(struct held) + rtk_listing_bytes(((const struct held *)v)->l);
}

/* ---- nodes ---- */

static uint64_t name_hash(const struct node *parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ (uintptr_t)parent;

	while (*name) {
		h ^= (unsigned char)*name++;
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t ino_hash(uint64_t ino)
{
	return (ino / RTK_TREE_INO_STRIDE) * 0x9e3779b97f4a7c15ull;
}

static void grow_tables(struct rtk_tree *t)
{
	size_t n = t->nbuckets * 2, i;
	struct node **bi = calloc(n, sizeof(*bi)), **bn = calloc(n, sizeof(*bn));

	if (!bi || !bn) {
		free(bi);
		free(bn);
		return; /* longer chains, still correct */
	}
	for (i = 0; i < t->nbuckets; i++) {
		struct node *e, *next;

		for (e = t->by_ino[i]; e; e = next) {
			next = e->next_by_ino;
			e->next_by_ino = bi[ino_hash(e->ino) & (n - 1)];
			bi[ino_hash(e->ino) & (n - 1)] = e;
		}
		for (e = t->by_name[i]; e; e = next) {
			next = e->next_by_name;
			e->next_by_name = bn[e->name_hash & (n - 1)];
			bn[e->name_hash & (n - 1)] = e;
		}
	}
	free(t->by_ino);
	free(t->by_name);
	t->by_ino = bi;
	t->by_name = bn;
	t->nbuckets = n;
}

static struct node *find_locked(struct rtk_tree *t, struct node *parent, const char *name,
				uint64_t h)
{
	struct node *e;

	for (e = t->by_name[h & (t->nbuckets - 1)]; e; e = e->next_by_name)
		if (e->name_hash == h && e->parent == parent && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void insert_locked(struct rtk_tree *t, struct node *n)
{
	size_t bi = ino_hash(n->ino) & (t->nbuckets - 1);
	size_t bn = n->name_hash & (t->nbuckets - 1);

	n->next_by_ino = t->by_ino[bi];
	t->by_ino[bi] = n;
	n->next_by_name = t->by_name[bn];
	t->by_name[bn] = n;
	if (++t->nnodes > t->nbuckets)
		grow_tables(t);
}

/* The child directory node name of parent, created on first use. NULL on ENOMEM. */
static struct node *child_node(struct rtk_tree *t, struct node *parent, const char *name,
			       enum rtk_node_kind kind)
{
	uint64_t h = name_hash(parent, name);
	size_t len = strlen(name);
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = find_locked(t, parent, name, h);
	if (n)
		goto out;
	n = calloc(1, sizeof(*n) + len + 1);
	if (!n)
		goto out;
	n->ino = ++t->next_index * RTK_TREE_INO_STRIDE;
	n->parent = parent;
	n->kind = kind;
	n->name_hash = h;
	memcpy(n->name, name, len + 1);
	insert_locked(t, n);
out:
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* The existing child directory node, or NULL (never creates). */
static struct node *find_child(struct rtk_tree *t, struct node *parent, const char *name)
{
	struct node *n;

	if (!parent)
		return NULL;
	pthread_mutex_lock(&t->lock);
	n = find_locked(t, parent, name, name_hash(parent, name));
	pthread_mutex_unlock(&t->lock);
	return n;
}

static struct node *node_of_ino(struct rtk_tree *t, uint64_t ino)
{
	struct node *e;

	if (ino == RTK_TREE_ROOT_INO)
		return t->root;
	pthread_mutex_lock(&t->lock);
	for (e = t->by_ino[ino_hash(ino) & (t->nbuckets - 1)]; e; e = e->next_by_ino)
		if (e->ino == ino)
			break;
	pthread_mutex_unlock(&t->lock);
	return e;
}

bool rtk_tree_is_dir(uint64_t ino)
{
	return ino == RTK_TREE_ROOT_INO || ino % RTK_TREE_INO_STRIDE == 0;
}

/* Split a file inode number into its directory's and its index (field or control file). */
static struct node *file_of_ino(struct rtk_tree *t, uint64_t ino, unsigned *index)
{
	if (rtk_tree_is_dir(ino) || ino < RTK_TREE_INO_STRIDE)
		return NULL;
	*index = (unsigned)(ino % RTK_TREE_INO_STRIDE) - 1;
	return node_of_ino(t, ino - ino % RTK_TREE_INO_STRIDE);
}

static uint64_t file_ino(const struct node *dir, unsigned index)
{
	return dir->ino + 1 + index;
}

/* The ids on the way from the root to n. */
struct ids {
	const char *account, *app, *webhook;
};

static void ids_of(const struct node *n, struct ids *ids)
{
	memset(ids, 0, sizeof(*ids));
	for (; n; n = n->parent) {
		switch (n->kind) {
		case RTK_N_ACCOUNT:
			ids->account = n->name;
			break;
		case RTK_N_APP:
			ids->app = n->name;
			break;
		case RTK_N_WEBHOOK:
			ids->webhook = n->name;
			break;
		default:
			break;
		}
	}
}

/* ---- listings ---- */

static struct timespec wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* The API path of the collection of objects of kind k (ids percent-encoded). */
static int collection_path(enum rtk_kind k, const struct ids *ids, char *out, size_t outsz)
{
	char a[3 * RTK_ID_MAX + 1], p[3 * RTK_ID_MAX + 1];
	int n;

	if (k == RTK_K_ACCOUNT) {
		n = snprintf(out, outsz, "/accounts");
		return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
	}
	if (rtk_path_encode(ids->account, strlen(ids->account), a, sizeof(a)) < 0)
		return -ENAMETOOLONG;
	if (k == RTK_K_APP) {
		n = snprintf(out, outsz, "/accounts/%s/realtime/kit/apps", a);
	} else {
		if (rtk_path_encode(ids->app, strlen(ids->app), p, sizeof(p)) < 0)
			return -ENAMETOOLONG;
		n = snprintf(out, outsz, "/accounts/%s/realtime/kit/%s/webhooks", a, p);
	}
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

struct fetch {
	struct rtk_tree *t;
	const struct rtk_tree_op *op;
	enum rtk_kind kind;
	struct ids ids;
	bool quiet;    /* failures are the caller's to report */
	bool have_old; /* an older listing can stand in: never wait for the budget or a 429 */
};

static const char *kind_plural(enum rtk_kind k)
{
	static const char *const names[] = {"accounts", "apps", "webhooks"};

	return names[k];
}

/*
 * What a call says of the network: any HTTP answer means the API can be reached; a failure
 * with no answer at all (refused, unreachable, timed out, reset) counts towards degraded mode.
 */
static void note_health(struct rtk_tree *t, int err, const struct rtk_api_resp *resp)
{
	bool entered = false, left = false;

	if (err == -EINTR || err == -EAGAIN)
		return; /* the caller gave up, or the budget said wait: nothing learnt */
	pthread_mutex_lock(&t->health_lock);
	if (resp->status) {
		left = t->degraded;
		t->degraded = false;
		t->net_failures = 0;
	} else if (err) {
		t->net_errno = err;
		if (++t->net_failures >= RTK_TREE_DEGRADED_AFTER && !t->degraded) {
			t->degraded = entered = true;
			pthread_cond_signal(&t->health_cond);
		}
	}
	pthread_mutex_unlock(&t->health_lock);
	if (entered)
		rtk_warn("cannot reach '%s' (%d failures in a row, last: %s): answering from "
			 "the cache until it answers again",
			 rtk_api_base_url(t->cfg.api), RTK_TREE_DEGRADED_AFTER, strerror(-err));
	if (left)
		rtk_info("'%s' answers again", rtk_api_base_url(t->cfg.api));
}

bool rtk_tree_is_degraded(struct rtk_tree *t)
{
	bool d;

	pthread_mutex_lock(&t->health_lock);
	d = t->degraded;
	pthread_mutex_unlock(&t->health_lock);
	return d;
}

/*
 * Whether a fetch should not even be tried: in degraded mode (the last network error, at
 * once), or while a 429 pause runs and there is an older listing to stand in (-EAGAIN: the
 * cache serves it as stale). Without an older listing a paused fetch waits in the budget.
 */
static int fetch_blocked(struct rtk_tree *t, bool have_old)
{
	int err = 0;

	pthread_mutex_lock(&t->health_lock);
	if (t->degraded)
		err = t->net_errno ? t->net_errno : -EHOSTUNREACH;
	pthread_mutex_unlock(&t->health_lock);
	if (!err && have_old && t->cfg.budget && rtk_budget_is_paused(t->cfg.budget))
		err = -EAGAIN;
	return err;
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
		.quiet = f->quiet,
		.no_wait = f->have_old,
	};
	char query[64] = "";
	int err;

	if (f->kind == RTK_K_ACCOUNT)
		snprintf(query, sizeof(query), "page=%u&per_page=%u", page->page, page->per_page);
	else if (f->kind == RTK_K_APP)
		snprintf(query, sizeof(query), "page_no=%u&per_page=%u", page->page,
			 page->per_page);
	req.query = query[0] ? query : NULL;

	rtk_api_resp_init(&resp, f->t->cfg.max_body ? f->t->cfg.max_body : BODY_MAX_DEFAULT);
	err = rtk_api_call(f->t->cfg.api, &req, &resp);
	note_health(f->t, err, &resp);
	if (err)
		goto out;
	err = rtk_model_parse_page(b, resp.body.data, resp.body.len, page);
	if (err == -EPROTO && !f->quiet)
		rtk_warn("cannot list '%s': the response is not a list of %s", path,
			 kind_plural(f->kind));
out:
	rtk_api_resp_release(&resp);
	return err;
}

/* Tell the kernel to drop what it holds of objects that changed or went away. */
static void report_changes(struct rtk_tree *t, const struct fetch *f, const struct held *old,
			   const struct rtk_listing *nl)
{
	const struct rtk_tree_hooks *hk = &t->cfg.hooks;
	struct node *coll = NULL, *n;
	size_t i, count;

	if (!old || !hk->inval_inode)
		return;
	/* The collection directory, if the kernel ever saw it. */
	if (f->kind == RTK_K_ACCOUNT) {
		coll = find_child(t, t->root, "accounts");
	} else {
		n = find_child(t, find_child(t, t->root, "accounts"), f->ids.account);
		if (f->kind == RTK_K_APP) {
			coll = find_child(t, n, "apps");
		} else {
			n = find_child(t, find_child(t, n, "apps"), f->ids.app);
			coll = find_child(t, n, "webhooks");
		}
	}
	if (!coll)
		return;

	count = rtk_listing_count(old->l);
	for (i = 0; i < count; i++) {
		const struct rtk_obj *o = rtk_listing_at(old->l, i), *now;
		size_t idlen;
		const char *id = rtk_obj_id(o, &idlen);
		unsigned fld;

		now = rtk_listing_find(nl, id, idlen);
		if (now && rtk_obj_equal(o, now))
			continue;
		n = find_child(t, coll, id);
		if (!n)
			continue;
		hk->inval_inode(hk->ctx, n->ino);
		for (fld = 0; fld < RTK_F__N; fld++)
			hk->inval_inode(hk->ctx, file_ino(n, fld));
		if (!now && hk->inval_entry)
			hk->inval_entry(hk->ctx, coll->ino, id);
	}
	/* New names may sit in the kernel as negative entries. */
	count = rtk_listing_count(nl);
	for (i = 0; i < count && hk->inval_entry; i++) {
		const struct rtk_obj *o = rtk_listing_at(nl, i);
		size_t idlen;
		const char *id = rtk_obj_id(o, &idlen);

		if (!rtk_listing_find(old->l, id, idlen))
			hk->inval_entry(hk->ctx, coll->ino, id);
	}
	hk->inval_inode(hk->ctx, coll->ino);
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

/*
 * Queue the sub-collections of the objects of a listing just fetched, for the read-ahead
 * workers: only those never fetched (so a refresh of a big listing does not refetch every
 * child every TTL), and only while the rate budget has most of its room (foreground
 * requests come first).
 */
static void read_ahead(struct rtk_tree *t, const struct fetch *f, const struct rtk_listing *l)
{
	struct rtk_budget_stats bs;
	size_t i, n = rtk_listing_count(l);
	char key[256];

	if (!t->ra_nthreads || f->kind == RTK_K_WEBHOOK)
		return;
	if (t->cfg.budget) {
		rtk_budget_get_stats(t->cfg.budget, &bs);
		if (bs.paused_until_ns || bs.left < bs.limit / 4 + n)
			return;
	}
	for (i = 0; i < n; i++) {
		const char *id = rtk_obj_id(rtk_listing_at(l, i), NULL);
		struct ids ids = f->ids;
		struct ra_job *j;
		void *v;

		if (f->kind == RTK_K_ACCOUNT)
			ids.account = id;
		else
			ids.app = id;
		if (collection_path(f->kind + 1, &ids, key, sizeof(key)) != 0)
			continue;
		if (rtk_cache_peek(t->cfg.cache, key, &v, NULL) == 0) {
			held_unref(v);
			continue;
		}
		j = calloc(1, sizeof(*j));
		if (!j)
			return;
		j->kind = f->kind + 1;
		snprintf(j->account, sizeof(j->account), "%s", ids.account);
		if (ids.app)
			snprintf(j->app, sizeof(j->app), "%s", ids.app);
		pthread_mutex_lock(&t->ra_lock);
		if (atomic_load(&t->quitting) || t->ra_queued >= RA_QUEUE_MAX) {
			pthread_mutex_unlock(&t->ra_lock);
			free(j);
			return;
		}
		if (t->ra_tail)
			t->ra_tail->next = j;
		else
			t->ra_head = j;
		t->ra_tail = j;
		t->ra_queued++;
		pthread_cond_signal(&t->ra_cond);
		pthread_mutex_unlock(&t->ra_lock);
	}
}

static int fetch_listing(void *ctx, const char *key, void *oldv, void **out)
{
	struct fetch *f = ctx;
	struct held *old = oldv, *h;
	struct rtk_listing_builder *b;
	struct rtk_listing *l;
	struct rtk_page page = {.page = 1};
	int err;

	err = fetch_blocked(f->t, old != NULL);
	if (err)
		return err;
	f->have_old = old != NULL;
	b = rtk_listing_builder_new(f->kind);
	if (!b)
		return -ENOMEM;
	page.per_page = f->kind == RTK_K_ACCOUNT ? ACCOUNTS_PER_PAGE : APPS_PER_PAGE;
	for (;;) {
		page.more = false;
		err = fetch_page(f, key, b, &page);
		if (err || !page.more)
			break;
		if (page.page >= MAX_PAGES) {
			rtk_warn("cannot list '%s': more than %d pages", key, MAX_PAGES);
			err = -EPROTO;
			break;
		}
		page.page++;
	}
	if (err) {
		rtk_listing_builder_free(b);
		return err;
	}
	l = rtk_listing_builder_finish(b);
	if (!l)
		return -ENOMEM;
	h = held_new(l, old && same_members(old->l, l) ? old->changed : wall_now());
	if (!h) {
		rtk_listing_unref(l);
		return -ENOMEM;
	}
	report_changes(f->t, f, old, l);
	read_ahead(f->t, f, l);
	*out = h;
	return 0;
}

/* The listing of objects of kind k under ids: a new reference in *out. */
static int get_listing(struct rtk_tree *t, enum rtk_kind k, const struct ids *ids,
		       const struct rtk_tree_op *op, struct held **out)
{
	struct fetch f = {.t = t, .op = op, .kind = k, .ids = *ids};
	struct rtk_cache_wait w = {
		.deadline_ns = op->deadline_ns,
		.interrupted = op->interrupted,
		.interrupted_ctx = op->interrupted_ctx,
	};
	char key[256];
	void *v;
	int err;

	if (k == RTK_K_ACCOUNT && t->named.h) {
		held_ref(t->named.h);
		*out = t->named.h;
		return 0;
	}
	err = collection_path(k, ids, key, sizeof(key));
	if (err)
		return err;
	err = rtk_cache_get(t->cfg.cache, key, fetch_listing, &f, &w, &v, NULL);
	if (err)
		return err;
	*out = v;
	return 0;
}

/*
 * The object of kind k that node path ids name, with the listing holding it (a new
 * reference in *hold; the object is borrowed from it). -ENOENT when it is not listed.
 */
static int get_object(struct rtk_tree *t, enum rtk_kind k, const struct ids *ids,
		      const struct rtk_tree_op *op, struct held **hold, const struct rtk_obj **obj)
{
	const char *id = k == RTK_K_ACCOUNT ? ids->account : k == RTK_K_APP ? ids->app
									   : ids->webhook;
	struct held *h;
	int err;

	err = get_listing(t, k, ids, op, &h);
	if (err)
		return err;
	*obj = rtk_listing_find(h->l, id, strlen(id));
	if (!*obj) {
		held_unref(h);
		return -ENOENT;
	}
	*hold = h;
	return 0;
}

/* ---- attributes ---- */

static void fill_common(const struct rtk_tree *t, struct stat *st, uint64_t ino,
			struct timespec mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_uid = t->cfg.uid;
	st->st_gid = t->cfg.gid;
	st->st_blksize = 4096;
	st->st_mtim = mtime;
	st->st_ctim = mtime;
	st->st_atim = mtime;
}

static void dir_attr(const struct rtk_tree *t, uint64_t ino, struct timespec mtime,
		     struct rtk_tree_attr *out)
{
	fill_common(t, &out->st, ino, mtime);
	out->st.st_mode = S_IFDIR | 0755;
	out->volatile_attr = false;
}

static struct timespec obj_time(const struct rtk_tree *t, const struct rtk_obj *o)
{
	struct timespec ts = rtk_obj_mtime(o);

	return ts.tv_sec || ts.tv_nsec ? ts : t->mounted;
}

static void file_attr(const struct rtk_tree *t, uint64_t ino, const struct rtk_obj *o,
		      enum rtk_field f, struct rtk_tree_attr *out)
{
	size_t len = 0;

	rtk_obj_field(o, f, &len);
	fill_common(t, &out->st, ino, obj_time(t, o));
	out->st.st_mode = S_IFREG |
			  (!t->cfg.ro && rtk_path_field_is_writable(rtk_obj_kind(o), f) ? 0644 : 0444);
	out->st.st_size = (off_t)len;
	out->st.st_blocks = (blkcnt_t)((len + 511) / 512);
	out->volatile_attr = false;
}

static enum rtk_kind obj_kind_of(enum rtk_node_kind k)
{
	return k == RTK_N_ACCOUNT ? RTK_K_ACCOUNT : k == RTK_N_APP ? RTK_K_APP : RTK_K_WEBHOOK;
}

/* The owner object kind of a collection directory (APPS → account), for existence checks. */
static int collection_attr(struct rtk_tree *t, const struct node *n, enum rtk_kind listed,
			   const struct rtk_tree_op *op, struct rtk_tree_attr *out)
{
	struct ids ids;
	struct held *h;
	int err;

	ids_of(n, &ids);
	err = get_listing(t, listed, &ids, op, &h);
	if (err)
		return err;
	dir_attr(t, n->ino, h->changed, out);
	held_unref(h);
	return 0;
}

static int ctl_render(struct rtk_tree *t, enum rtk_ctl_file c, char **out, size_t *len);
static int ctl_read(struct rtk_tree *t, enum rtk_ctl_file c, uint64_t off, size_t size,
		    struct rtk_tree_data *out);

/* Attributes of a directory node, checking that what it stands for exists. */
static int node_attr(struct rtk_tree *t, struct node *n, const struct rtk_tree_op *op,
		     struct rtk_tree_attr *out)
{
	const struct rtk_obj *o;
	struct held *h;
	struct ids ids;
	int err;

	switch (n->kind) {
	case RTK_N_ROOT:
	case RTK_N_CTL_DIR:
		dir_attr(t, n->ino, t->mounted, out);
		return 0;
	case RTK_N_ACCOUNTS:
		return collection_attr(t, n, RTK_K_ACCOUNT, op, out);
	case RTK_N_APPS:
		return collection_attr(t, n, RTK_K_APP, op, out);
	case RTK_N_WEBHOOKS:
		return collection_attr(t, n, RTK_K_WEBHOOK, op, out);
	case RTK_N_ACCOUNT:
	case RTK_N_APP:
	case RTK_N_WEBHOOK:
		ids_of(n, &ids);
		err = get_object(t, obj_kind_of(n->kind), &ids, op, &h, &o);
		if (err)
			return err;
		dir_attr(t, n->ino, obj_time(t, o), out);
		held_unref(h);
		return 0;
	default:
		return -EIO;
	}
}

static int ctl_attr(struct rtk_tree *t, const struct node *dir, enum rtk_ctl_file c,
		    struct rtk_tree_attr *out)
{
	char *bytes = NULL;
	size_t len = 0;
	int err = 0;

	if (c != RTK_CTL_CTL) {
		err = ctl_render(t, c, &bytes, &len);
		if (err)
			return err;
		pthread_mutex_lock(&t->ctl_lock);
		free(t->ctl_snap[c].p);
		t->ctl_snap[c].p = bytes;
		t->ctl_snap[c].n = len;
		pthread_mutex_unlock(&t->ctl_lock);
	}
	fill_common(t, &out->st, file_ino(dir, c), wall_now());
	out->st.st_mode = S_IFREG | (c == RTK_CTL_CTL ? 0200 : 0444);
	out->st.st_size = (off_t)len;
	out->volatile_attr = true;
	return 0;
}

/* Attributes of file index of dir (a field, or a control file under .rtkfs). */
static int file_attr_of(struct rtk_tree *t, struct node *dir, unsigned index,
			const struct rtk_tree_op *op, struct rtk_tree_attr *out)
{
	const struct rtk_obj *o;
	struct held *h;
	struct ids ids;
	int err;

	if (dir->kind == RTK_N_CTL_DIR) {
		if (index >= RTK_CTL__N)
			return -ENOENT;
		return ctl_attr(t, dir, (enum rtk_ctl_file)index, out);
	}
	if (dir->kind != RTK_N_ACCOUNT && dir->kind != RTK_N_APP && dir->kind != RTK_N_WEBHOOK)
		return -ENOENT;
	if (index >= RTK_F__N || !rtk_path_field_name(obj_kind_of(dir->kind), index))
		return -ENOENT;
	ids_of(dir, &ids);
	err = get_object(t, obj_kind_of(dir->kind), &ids, op, &h, &o);
	if (err)
		return err;
	if (rtk_obj_is_bare(o))
		err = -ENOENT;
	else
		file_attr(t, file_ino(dir, index), o, (enum rtk_field)index, out);
	held_unref(h);
	return err;
}

/* ---- pending new files ---- */

/* The attributes of a pending file, by inode number or by (parent, name). -ENOENT if none. */
static int pending_attr(struct rtk_tree *t, uint64_t ino, const struct node *parent,
			const char *name, struct rtk_tree_attr *out)
{
	struct pending *pd;
	int err = -ENOENT;

	pthread_mutex_lock(&t->lock);
	for (pd = t->pending; pd; pd = pd->next) {
		if (ino ? pd->ino != ino : pd->parent != parent || strcmp(pd->name, name) != 0)
			continue;
		fill_common(t, &out->st, pd->ino, wall_now());
		out->st.st_mode = S_IFREG | 0644;
		out->st.st_size = (off_t)pd->file->buf.len;
		out->volatile_attr = true; /* it goes away at close */
		err = 0;
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

static void pending_remove(struct rtk_tree *t, struct pending *gone)
{
	struct pending **pp;

	pthread_mutex_lock(&t->lock);
	for (pp = &t->pending; *pp; pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

/*
 * The directory and index of file ino, with the errors a file operation gives for what is
 * not a file: -EISDIR for a directory, -ENOENT for an unknown or impossible index.
 */
static int file_dir(struct rtk_tree *t, uint64_t ino, struct node **dir, unsigned *index)
{
	*dir = file_of_ino(t, ino, index);
	if (!*dir)
		return rtk_tree_is_dir(ino) ? -EISDIR : -ENOENT;
	if (*index >= ((*dir)->kind == RTK_N_CTL_DIR ? (unsigned)RTK_CTL__N : (unsigned)RTK_F__N))
		return -ENOENT;
	return 0;
}

/* ---- the public operations ---- */

int rtk_tree_getattr(struct rtk_tree *t, uint64_t ino, const struct rtk_tree_op *op,
		     struct rtk_tree_attr *out)
{
	struct node *n;
	unsigned index;

	if (ino >= PENDING_INO_BASE)
		return pending_attr(t, ino, NULL, NULL, out);
	if (rtk_tree_is_dir(ino)) {
		n = node_of_ino(t, ino);
		return n ? node_attr(t, n, op, out) : -ENOENT;
	}
	n = file_of_ino(t, ino, &index);
	return n ? file_attr_of(t, n, index, op, out) : -ENOENT;
}

int rtk_tree_lookup(struct rtk_tree *t, uint64_t parent, const char *name,
		    const struct rtk_tree_op *op, struct rtk_tree_attr *out)
{
	struct rtk_path_step step;
	struct node *p = node_of_ino(t, parent), *n;
	struct ids ids;
	struct held *h;
	const struct rtk_obj *o;
	int err;

	if (!p)
		return rtk_tree_is_dir(parent) ? -ENOENT : -ENOTDIR;
	if (p->kind == RTK_N_WEBHOOKS && pending_attr(t, 0, p, name, out) == 0)
		return 0;
	err = rtk_path_step(p->kind, name, &step);
	if (err)
		return err;
	switch (step.kind) {
	case RTK_N_FIELD:
		return file_attr_of(t, p, step.field, op, out);
	case RTK_N_CTL_FILE:
		return file_attr_of(t, p, step.ctl, op, out);
	case RTK_N_ACCOUNT:
	case RTK_N_APP:
	case RTK_N_WEBHOOK:
		/* Check the name is listed before making a node for it. */
		ids_of(p, &ids);
		if (step.kind == RTK_N_ACCOUNT)
			ids.account = name;
		else if (step.kind == RTK_N_APP)
			ids.app = name;
		else
			ids.webhook = name;
		err = get_object(t, obj_kind_of(step.kind), &ids, op, &h, &o);
		if (err)
			return err;
		n = child_node(t, p, name, step.kind);
		if (n)
			dir_attr(t, n->ino, obj_time(t, o), out);
		held_unref(h);
		return n ? 0 : -ENOMEM;
	default:
		n = child_node(t, p, name, step.kind);
		return n ? node_attr(t, n, op, out) : -ENOMEM;
	}
}

struct dirent_emit {
	bool (*emit)(void *ctx, const char *name, const struct rtk_tree_attr *attr,
		     uint64_t next_off);
	void *ctx;
	uint64_t off, index; /* first index wanted, index of the next entry */
	bool full;
};

/* Offer one entry; false once the caller has no room. */
static bool offer(struct dirent_emit *e, const char *name, const struct rtk_tree_attr *attr)
{
	uint64_t i = e->index++;

	if (e->full || i < e->off)
		return !e->full;
	if (!e->emit(e->ctx, name, attr, i + 1))
		e->full = true;
	return !e->full;
}

int rtk_tree_readdir(struct rtk_tree *t, uint64_t ino, uint64_t off, const struct rtk_tree_op *op,
		     bool (*emit)(void *ctx, const char *name, const struct rtk_tree_attr *attr,
				  uint64_t next_off),
		     void *ctx)
{
	struct dirent_emit e = {.emit = emit, .ctx = ctx, .off = off};
	struct node *n = node_of_ino(t, ino), *c;
	struct rtk_tree_attr self, a;
	const struct rtk_obj *owner = NULL;
	struct held *h = NULL;
	struct ids ids;
	enum rtk_kind k;
	size_t i, count;
	int err;

	if (!n)
		return rtk_tree_is_dir(ino) ? -ENOENT : -ENOTDIR;
	err = node_attr(t, n, op, &self);
	if (err)
		return err;
	if (!offer(&e, ".", &self))
		return 0;
	dir_attr(t, n->parent ? n->parent->ino : n->ino, t->mounted, &a);
	if (!offer(&e, "..", &a))
		return 0;

	ids_of(n, &ids);
	switch (n->kind) {
	case RTK_N_ROOT:
		c = child_node(t, n, "accounts", RTK_N_ACCOUNTS);
		if (!c)
			return -ENOMEM;
		err = node_attr(t, c, op, &a);
		if (!err)
			offer(&e, "accounts", &a);
		return err;
	case RTK_N_CTL_DIR:
		for (i = 0; i < RTK_CTL__N; i++) {
			err = ctl_attr(t, n, (enum rtk_ctl_file)i, &a);
			if (err || !offer(&e, rtk_path_ctl_name((enum rtk_ctl_file)i), &a))
				return err;
		}
		return 0;
	case RTK_N_ACCOUNTS:
	case RTK_N_APPS:
	case RTK_N_WEBHOOKS:
		k = n->kind == RTK_N_ACCOUNTS ? RTK_K_ACCOUNT
		    : n->kind == RTK_N_APPS   ? RTK_K_APP
					      : RTK_K_WEBHOOK;
		err = get_listing(t, k, &ids, op, &h);
		if (err)
			return err;
		count = rtk_listing_count(h->l);
		for (i = 0; i < count; i++) {
			const struct rtk_obj *o = rtk_listing_at(h->l, i);
			const char *id = rtk_obj_id(o, NULL);

			if (e.index + 1 <= e.off) { /* skip without making nodes */
				e.index++;
				continue;
			}
			c = child_node(t, n, id,
				       k == RTK_K_ACCOUNT ? RTK_N_ACCOUNT
				       : k == RTK_K_APP   ? RTK_N_APP
							  : RTK_N_WEBHOOK);
			if (!c) {
				err = -ENOMEM;
				break;
			}
			dir_attr(t, c->ino, obj_time(t, o), &a);
			if (!offer(&e, id, &a))
				break;
		}
		held_unref(h);
		return err;
	case RTK_N_ACCOUNT:
	case RTK_N_APP:
	case RTK_N_WEBHOOK:
		k = obj_kind_of(n->kind);
		err = get_object(t, k, &ids, op, &h, &owner);
		if (err)
			return err;
		for (i = 0; i < RTK_F__N && !rtk_obj_is_bare(owner); i++) {
			const char *fname = rtk_path_field_name(k, (enum rtk_field)i);

			if (!fname)
				continue;
			file_attr(t, file_ino(n, (unsigned)i), owner, (enum rtk_field)i, &a);
			if (!offer(&e, fname, &a))
				goto out_unref;
		}
		if (n->kind != RTK_N_WEBHOOK) {
			const char *sub = n->kind == RTK_N_ACCOUNT ? "apps" : "webhooks";

			c = child_node(t, n, sub, n->kind == RTK_N_ACCOUNT ? RTK_N_APPS
									   : RTK_N_WEBHOOKS);
			if (!c) {
				err = -ENOMEM;
				goto out_unref;
			}
			/*
			 * Its mtime comes from its own listing, which ls of this directory
			 * should not fetch: offer it uncached, the kernel looks it up on use.
			 */
			dir_attr(t, c->ino, obj_time(t, owner), &a);
			a.volatile_attr = true;
			offer(&e, sub, &a);
		}
out_unref:
		held_unref(h);
		return err;
	default:
		return -ENOTDIR;
	}
}

int rtk_tree_read(struct rtk_tree *t, uint64_t ino, uint64_t off, size_t size,
		  const struct rtk_tree_op *op, struct rtk_tree_data *out)
{
	const struct rtk_obj *o;
	const char *bytes;
	struct held *h;
	struct ids ids;
	struct node *dir;
	unsigned index;
	size_t len;
	int err;

	memset(out, 0, sizeof(*out));
	err = file_dir(t, ino, &dir, &index);
	if (err)
		return err;
	if (dir->kind == RTK_N_CTL_DIR)
		return index == RTK_CTL_CTL ? 0 : ctl_read(t, (enum rtk_ctl_file)index, off, size, out);
	ids_of(dir, &ids);
	err = get_object(t, obj_kind_of(dir->kind), &ids, op, &h, &o);
	if (err)
		return err;
	bytes = rtk_obj_field(o, (enum rtk_field)index, &len);
	if (!bytes) {
		held_unref(h);
		return -ENOENT;
	}
	out->hold = h;
	if (off < len) {
		out->p = bytes + off;
		out->n = len - off < size ? len - off : size;
	}
	return 0;
}

void rtk_tree_data_release(struct rtk_tree_data *d)
{
	held_unref(d->hold);
	free(d->owned);
	memset(d, 0, sizeof(*d));
}

/* ---- control files (.rtkfs) ---- */

/* s as a JSON string (s is printable ASCII: the api keeps last_error so). */
static int put_json_str(struct rtk_buf *b, const char *s)
{
	int err = rtk_buf_puts(b, "\"");

	for (; !err && *s; s++) {
		if (*s == '"' || *s == '\\')
			err = rtk_buf_printf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			err = rtk_buf_printf(b, "\\u%04x", (unsigned char)*s);
		else
			err = rtk_buf_append(b, s, 1);
	}
	return err ? err : rtk_buf_puts(b, "\"");
}

static void format_time(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) || !strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, outsz, "never");
}

/* Copy what the control files say of writes. Not under ctl_lock: it takes it. */
static void snapshot_writes(struct rtk_tree *t, char *created, size_t csz, char *werr,
			    size_t wsz, char *when, size_t whensz)
{
	int64_t at;

	pthread_mutex_lock(&t->ctl_lock);
	snprintf(created, csz, "%s", t->last_created);
	snprintf(werr, wsz, "%s", t->last_write_error);
	at = t->last_write_error_time;
	pthread_mutex_unlock(&t->ctl_lock);
	format_time(at, when, whensz);
}

static int ctl_render(struct rtk_tree *t, enum rtk_ctl_file c, char **out, size_t *len)
{
	struct rtk_budget_stats bs = {0};
	struct rtk_cache_stats cs;
	struct rtk_api_stats as;
	struct rtk_buf b;
	uint64_t total = 0, lookups, now_ns = rtk_clock_mono_ns(), paused_for = 0;
	char when[32], created[RTK_ID_MAX + 1], werr[sizeof(t->last_write_error)], wwhen[32];
	bool degraded = rtk_tree_is_degraded(t);
	size_t i;
	int err = 0;

	rtk_cache_get_stats(t->cfg.cache, &cs);
	rtk_api_get_stats(t->cfg.api, &as);
	snapshot_writes(t, created, sizeof(created), werr, sizeof(werr), wwhen, sizeof(wwhen));
	if (t->cfg.budget) {
		rtk_budget_get_stats(t->cfg.budget, &bs);
		if (bs.paused_until_ns > now_ns)
			paused_for = (bs.paused_until_ns - now_ns + RTK_NS_PER_SEC - 1) / RTK_NS_PER_SEC;
	}
	for (i = 0; i < RTK_EP__N; i++)
		total += as.requests[i];
	lookups = cs.hits + cs.misses;
	format_time(as.last_error_time, when, sizeof(when));
	rtk_buf_init(&b, 1 << 20);
	if (c == RTK_CTL_STATS_JSON) {
		err |= rtk_buf_puts(&b, "{\n  \"base_url\": ");
		err |= put_json_str(&b, rtk_api_base_url(t->cfg.api));
		err |= rtk_buf_puts(&b, ",\n  \"requests\": {");
		for (i = 0; i < RTK_EP__N; i++)
			err |= rtk_buf_printf(&b, "%s\"%s\": %" PRIu64, i ? ", " : "",
					      rtk_api_endpoint_name((enum rtk_api_endpoint)i),
					      as.requests[i]);
		err |= rtk_buf_printf(
		    &b,
		    "},\n  \"requests_total\": %" PRIu64 ",\n"
		    "  \"responses\": {\"none\": %" PRIu64 ", \"2xx\": %" PRIu64 ", \"3xx\": %" PRIu64
		    ", \"4xx\": %" PRIu64 ", \"5xx\": %" PRIu64 "},\n"
		    "  \"status_429\": %" PRIu64 ",\n  \"retries\": %" PRIu64 ",\n"
		    "  \"cache\": {\"hits\": %" PRIu64 ", \"misses\": %" PRIu64
		    ", \"stale_serves\": %" PRIu64 ", \"fetch_errors\": %" PRIu64
		    ", \"evictions\": %" PRIu64 ", \"listings\": %zu, \"bytes\": %zu},\n"
		    "  \"rate_budget\": {\"limit\": %u, \"window_s\": %u, \"left\": %u, "
		    "\"paused_for_s\": %" PRIu64 ", \"waited\": %" PRIu64 ", \"refused\": %" PRIu64
		    "},\n  \"degraded\": %s,\n  \"last_error\": ",
		    total, as.by_class[0], as.by_class[2], as.by_class[3], as.by_class[4],
		    as.by_class[5], as.status_429, as.retries, cs.hits, cs.misses, cs.stale_serves,
		    cs.fetch_errors, cs.evictions, cs.entries, cs.bytes, bs.limit, bs.window_s,
		    bs.left, paused_for, bs.waited, bs.refused, degraded ? "true" : "false");
		if (as.last_error[0]) {
			err |= rtk_buf_puts(&b, "{\"message\": ");
			err |= put_json_str(&b, as.last_error);
			err |= rtk_buf_printf(&b, ", \"time\": \"%s\"}", when);
		} else {
			err |= rtk_buf_puts(&b, "null");
		}
		err |= rtk_buf_puts(&b, ",\n  \"last_created\": ");
		err |= created[0] ? put_json_str(&b, created) : rtk_buf_puts(&b, "null");
		err |= rtk_buf_puts(&b, ",\n  \"last_write_error\": ");
		if (werr[0]) {
			err |= rtk_buf_puts(&b, "{\"message\": ");
			err |= put_json_str(&b, werr);
			err |= rtk_buf_printf(&b, ", \"time\": \"%s\"}", wwhen);
		} else {
			err |= rtk_buf_puts(&b, "null");
		}
		err |= rtk_buf_puts(&b, "\n}\n");
	} else {
		err |= rtk_buf_printf(&b, "base url:     %s\naccounts:     ",
				      rtk_api_base_url(t->cfg.api));
		for (i = 0; i < t->cfg.naccounts; i++)
			err |= rtk_buf_printf(&b, "%s%s", i ? ", " : "", t->cfg.accounts[i]);
		err |= rtk_buf_printf(
		    &b,
		    "%s\nstate:        %s\ncache:        %zu listings, %zu bytes, hit ratio %.2f, "
		    "%" PRIu64 " stale serves\nrequests:     %" PRIu64 " (",
		    t->cfg.naccounts ? "" : "every account GET /accounts lists",
		    degraded ? "degraded: the API cannot be reached, answering from the cache"
		    : paused_for ? "paused by a 429 from the API"
				 : "ok",
		    cs.entries, cs.bytes, lookups ? (double)cs.hits / (double)lookups : 0.0,
		    cs.stale_serves, total);
		for (i = 0; i < RTK_EP__N; i++)
			err |= rtk_buf_printf(&b, "%s%s %" PRIu64, i ? ", " : "",
					      rtk_api_endpoint_name((enum rtk_api_endpoint)i),
					      as.requests[i]);
		err |= rtk_buf_printf(&b,
				      ")\nresponses:    2xx %" PRIu64 ", 4xx %" PRIu64 ", 5xx %" PRIu64
				      ", none %" PRIu64 ", 429 %" PRIu64 "\n"
				      "rate budget:  %u of %u per %u s left%s\nlast error:   %s%s%s\n",
				      as.by_class[2], as.by_class[4], as.by_class[5], as.by_class[0],
				      as.status_429, bs.left, bs.limit, bs.window_s,
				      paused_for ? " (paused)" : "",
				      as.last_error[0] ? as.last_error : "none",
				      as.last_error[0] ? " at " : "", as.last_error[0] ? when : "");
		err |= rtk_buf_printf(&b, "last created: %s\nlast write error: %s%s%s\n",
				      created[0] ? created : "none", werr[0] ? werr : "none",
				      werr[0] ? " at " : "", werr[0] ? wwhen : "");
	}
	if (err) {
		rtk_buf_release(&b);
		return -ENOMEM;
	}
	*out = rtk_buf_detach(&b, len);
	return *out ? 0 : -ENOMEM;
}

/* A slice of the control file's last snapshot (rendered now if there is none). */
static int ctl_read(struct rtk_tree *t, enum rtk_ctl_file c, uint64_t off, size_t size,
		    struct rtk_tree_data *out)
{
	char *fresh = NULL;
	size_t n = 0, fresh_len = 0;
	int err = 0;

	pthread_mutex_lock(&t->ctl_lock);
	while (!t->ctl_snap[c].p && !err) {
		/* Rendering takes ctl_lock itself: render without it, then store. */
		pthread_mutex_unlock(&t->ctl_lock);
		err = ctl_render(t, c, &fresh, &fresh_len);
		pthread_mutex_lock(&t->ctl_lock);
		if (!err && !t->ctl_snap[c].p) {
			t->ctl_snap[c].p = fresh;
			t->ctl_snap[c].n = fresh_len;
			fresh = NULL;
		}
	}
	if (!err && off < t->ctl_snap[c].n) {
		n = t->ctl_snap[c].n - off < size ? t->ctl_snap[c].n - off : size;
		out->owned = malloc(n ? n : 1);
		if (!out->owned)
			err = -ENOMEM;
		else
			memcpy(out->owned, t->ctl_snap[c].p + off, n);
	}
	pthread_mutex_unlock(&t->ctl_lock);
	free(fresh);
	if (!err) {
		out->p = out->owned;
		out->n = n;
	}
	return err;
}

int rtk_tree_ctl_write(struct rtk_tree *t, uint64_t ino, const char *buf, size_t len)
{
	struct node *dir;
	unsigned index;

	dir = file_of_ino(t, ino, &index);
	if (!dir || dir->kind != RTK_N_CTL_DIR || index != RTK_CTL_CTL)
		return -EACCES;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	if (len == 5 && memcmp(buf, "flush", 5) == 0) {
		rtk_cache_flush(t->cfg.cache);
		rtk_info("flushed every cached listing");
		return 0;
	}
	return -EINVAL;
}

/* ---- writes (DESIGN §6) ---- */

/* What a write changed in a listing, applied under the cache lock (rtk_cache_update). */
struct change {
	struct rtk_obj *put;  /* replaces the object of the same id, or is added */
	const char *remove;   /* or: the id to take out */
};

static void *apply_change(void *ctx, void *oldv)
{
	const struct change *c = ctx;
	struct held *old = oldv, *h;
	struct rtk_listing *l;
	bool members_change;

	if (c->put) {
		size_t len;
		const char *id = rtk_obj_id(c->put, &len);

		members_change = !rtk_listing_find(old->l, id, len);
		l = rtk_listing_replace(old->l, c->put);
	} else {
		members_change = rtk_listing_find(old->l, c->remove, strlen(c->remove)) != NULL;
		l = rtk_listing_remove(old->l, c->remove, strlen(c->remove));
	}
	if (!l)
		return NULL;
	h = held_new(l, members_change ? wall_now() : old->changed);
	if (!h)
		rtk_listing_unref(l);
	return h;
}

/* Tell the kernel to drop what it holds of webhook directory dir and its files. */
static void inval_object(struct rtk_tree *t, const struct node *dir)
{
	const struct rtk_tree_hooks *hk = &t->cfg.hooks;
	unsigned f;

	if (!hk->inval_inode || !dir)
		return;
	hk->inval_inode(hk->ctx, dir->ino);
	for (f = 0; f < RTK_F__N; f++)
		hk->inval_inode(hk->ctx, file_ino(dir, f));
}

static void record_write_error(struct rtk_tree *t, const char *method, const char *path,
			       const struct rtk_api_resp *resp, int err, const char *local)
{
	char server[200] = "", line[sizeof(t->last_write_error)];

	if (local)
		snprintf(server, sizeof(server), "%s", local);
	else if (rtk_model_error_message(resp->body.data, resp->body.len, server, sizeof(server)))
		snprintf(server, sizeof(server), "%s", strerror(-err));
	else
		rtk_api_redact(t->cfg.api, server, sizeof(server)); /* a server may echo the token */
	if (resp && resp->status)
		snprintf(line, sizeof(line), "%s %s: HTTP %ld: %s", method, path, resp->status,
			 server);
	else
		snprintf(line, sizeof(line), "%s %s: %s", method, path, server);
	pthread_mutex_lock(&t->ctl_lock);
	memcpy(t->last_write_error, line, sizeof(line));
	t->last_write_error_time = (int64_t)time(NULL);
	pthread_mutex_unlock(&t->ctl_lock);
	rtk_warn("cannot write: %s", line);
}

/*
 * Send one write and fold its answer into the cache. body NULL: DELETE. For a request that
 * went out but whose answer we do not know (deadline, interrupt, broken connection), the
 * listing is dropped so it is fetched again before anything of it is shown.
 */
static int send_write(struct rtk_tree *t, const char *method, const char *path, const char *key,
		      const struct rtk_buf *body, const char *remove_id,
		      const struct rtk_tree_op *op, struct rtk_obj **created)
{
	struct rtk_api_resp resp;
	struct rtk_api_req req = {
		.method = method,
		.path = path,
		.body = body ? body->data : NULL,
		.body_len = body ? body->len : 0,
		.deadline_ns = op->deadline_ns,
		.interrupted = op->interrupted,
		.interrupted_ctx = op->interrupted_ctx,
		.quiet = true,
	};
	struct change c = {.remove = remove_id};
	struct rtk_obj *o = NULL;
	int err;

	rtk_api_resp_init(&resp, t->cfg.max_body ? t->cfg.max_body : BODY_MAX_DEFAULT);
	err = rtk_api_call(t->cfg.api, &req, &resp);
	note_health(t, err, &resp);
	if (err == -ENOENT && remove_id) {
		/* Deleted meanwhile: gone either way. */
		rtk_cache_update(t->cfg.cache, key, apply_change, &c);
		record_write_error(t, method, path, &resp, err, NULL);
		goto out;
	}
	if (err) {
		record_write_error(t, method, path, &resp, err, NULL);
		if (err == -ENOENT || (resp.sent && !resp.status))
			rtk_cache_invalidate(t->cfg.cache, key, true);
		goto out;
	}
	if (remove_id) {
		rtk_cache_update(t->cfg.cache, key, apply_change, &c);
		goto out;
	}
	if (rtk_model_parse_object(RTK_K_WEBHOOK, resp.body.data, resp.body.len, &o) != 0) {
		/* Accepted, but we cannot tell what the server holds now: ask again. */
		rtk_warn("cannot read the answer to %s '%s': fetching the list again", method, path);
		rtk_cache_invalidate(t->cfg.cache, key, true);
		goto out;
	}
	c.put = o;
	if (rtk_cache_update(t->cfg.cache, key, apply_change, &c) != 0)
		rtk_cache_invalidate(t->cfg.cache, key, true);
	if (created) {
		*created = o;
		o = NULL;
	}
out:
	rtk_obj_unref(o);
	rtk_api_resp_release(&resp);
	return err;
}

/* API paths of a webhook and of its collection (ids percent-encoded). */
static int webhook_paths(const struct ids *ids, char *path, size_t pathsz, char *key, size_t keysz)
{
	char w[3 * RTK_ID_MAX + 1];
	int err = collection_path(RTK_K_WEBHOOK, ids, key, keysz);

	if (err || !ids->webhook)
		return err;
	if (rtk_path_encode(ids->webhook, strlen(ids->webhook), w, sizeof(w)) < 0 ||
	    (size_t)snprintf(path, pathsz, "%s/%s", key, w) >= pathsz)
		return -ENAMETOOLONG;
	return 0;
}

static struct rtk_tree_file *file_new(enum file_kind kind, uint64_t ino)
{
	struct rtk_tree_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->kind = kind;
	f->ino = ino;
	rtk_buf_init(&f->buf, WRITE_MAX);
	return f;
}

int rtk_tree_open(struct rtk_tree *t, uint64_t ino, int flags, const struct rtk_tree_op *op,
		  struct rtk_tree_open *out)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	const struct rtk_obj *o;
	struct rtk_tree_file *f;
	struct held *h;
	struct ids ids;
	struct node *dir;
	unsigned index;
	const char *bytes;
	size_t len;
	int err;

	memset(out, 0, sizeof(*out));
	if (ino >= PENDING_INO_BASE)
		return -EBUSY; /* being written by its creator */
	err = file_dir(t, ino, &dir, &index);
	if (err)
		return err;
	if (dir->kind == RTK_N_CTL_DIR) {
		if (index == RTK_CTL_CTL) {
			out->file = file_new(FILE_CTL_WRITE, ino);
		} else {
			if (writing)
				return -EACCES;
			out->file = f = file_new(FILE_CTL_READ, ino);
			if (f && (err = ctl_render(t, (enum rtk_ctl_file)index, &f->snap,
						   &f->snap_len))) {
				free(f);
				return err;
			}
		}
		out->direct_io = true;
		return out->file ? 0 : -ENOMEM;
	}
	if (!writing) {
		out->keep_cache = true;
		return 0;
	}
	if (t->cfg.ro)
		return -EROFS;
	if (dir->kind != RTK_N_WEBHOOK ||
	    !rtk_path_field_is_writable(RTK_K_WEBHOOK, (enum rtk_field)index))
		return -EACCES;
	ids_of(dir, &ids);
	err = get_object(t, RTK_K_WEBHOOK, &ids, op, &h, &o);
	if (err)
		return err;
	f = file_new(FILE_FIELD, ino);
	if (!f) {
		held_unref(h);
		return -ENOMEM;
	}
	f->dir = dir;
	f->field = (enum rtk_field)index;
	if (flags & O_TRUNC) {
		f->truncated = true; /* ": > file" with nothing written sets an empty value */
	} else {
		bytes = rtk_obj_field(o, f->field, &len);
		if (bytes && rtk_buf_append(&f->buf, bytes, len) != 0) {
			held_unref(h);
			rtk_tree_file_release(t, f);
			return -ENOMEM;
		}
	}
	held_unref(h);
	out->file = f;
	out->direct_io = true;
	return 0;
}

int rtk_tree_create(struct rtk_tree *t, uint64_t parent, const char *name, int flags,
		    const struct rtk_tree_op *op, struct rtk_tree_attr *attr,
		    struct rtk_tree_open *out)
{
	struct node *p = node_of_ino(t, parent);
	struct rtk_tree_file *f;
	struct pending *pd, *e;
	const struct rtk_obj *o;
	struct held *h;
	struct ids ids;
	int err;

	memset(out, 0, sizeof(*out));
	if (!p)
		return -ENOENT;
	if (t->cfg.ro)
		return -EROFS;
	if (p->kind != RTK_N_WEBHOOKS)
		return -EPERM;
	if (strlen(name) >= sizeof(pd->name))
		return -ENAMETOOLONG;
	/* The app must exist, and the name must not be a webhook's. */
	ids_of(p, &ids);
	err = get_listing(t, RTK_K_WEBHOOK, &ids, op, &h);
	if (err)
		return err;
	o = rtk_listing_find(h->l, name, strlen(name));
	held_unref(h);
	if (o)
		return -EEXIST;

	f = file_new(FILE_NEW, 0);
	pd = calloc(1, sizeof(*pd));
	if (!f || !pd) {
		free(f);
		free(pd);
		return -ENOMEM;
	}
	snprintf(pd->name, sizeof(pd->name), "%s", name);
	pd->parent = p;
	pd->file = f;
	f->dir = p;
	f->pending = pd;
	pthread_mutex_lock(&t->lock);
	for (e = t->pending; e; e = e->next)
		if (e->parent == p && strcmp(e->name, name) == 0)
			break;
	if (!e) {
		pd->ino = PENDING_INO_BASE + ++t->next_pending * RTK_TREE_INO_STRIDE + 1;
		f->ino = pd->ino;
		pd->next = t->pending;
		t->pending = pd;
	}
	pthread_mutex_unlock(&t->lock);
	if (e) {
		rtk_buf_release(&f->buf);
		free(f);
		free(pd);
		return -EEXIST;
	}
	pending_attr(t, pd->ino, NULL, NULL, attr);
	out->file = f;
	out->direct_io = true;
	return 0;
}

int rtk_tree_file_write(struct rtk_tree *t, struct rtk_tree_file *f, const char *buf, size_t len,
			uint64_t off)
{
	static const char zeros[256];
	int err;

	if (f->kind == FILE_CTL_WRITE) {
		err = rtk_tree_ctl_write(t, f->ino, buf, len);
		return err < 0 ? err : (int)len;
	}
	if (f->kind == FILE_CTL_READ)
		return -EBADF;
	if (off > WRITE_MAX || len > WRITE_MAX - off)
		return -EFBIG;
	while (f->buf.len < off) {
		size_t n = off - f->buf.len < sizeof(zeros) ? off - f->buf.len : sizeof(zeros);

		err = rtk_buf_append(&f->buf, zeros, n);
		if (err)
			return err;
	}
	if (off < f->buf.len) {
		size_t over = f->buf.len - off < len ? f->buf.len - off : len;

		memcpy(f->buf.data + off, buf, over);
		err = rtk_buf_append(&f->buf, buf + over, len - over);
	} else {
		err = rtk_buf_append(&f->buf, buf, len);
	}
	if (err)
		return err;
	f->dirty = true;
	return (int)len;
}

int rtk_tree_file_truncate(struct rtk_tree_file *f, uint64_t size)
{
	if (f->kind != FILE_FIELD && f->kind != FILE_NEW)
		return f->kind == FILE_CTL_WRITE ? 0 : -EBADF;
	if (size > WRITE_MAX)
		return -EFBIG;
	if (size < f->buf.len) {
		f->buf.len = size;
		if (f->buf.data)
			f->buf.data[size] = '\0';
	} else if (size > f->buf.len) {
		int err = rtk_tree_file_write(NULL, f, "", 0, size);

		if (err < 0)
			return err;
	}
	f->dirty = true;
	return 0;
}

int rtk_tree_file_read(struct rtk_tree_file *f, uint64_t off, size_t size,
		       struct rtk_tree_data *out)
{
	memset(out, 0, sizeof(*out));
	if (f->kind == FILE_CTL_WRITE)
		return 0;
	if (f->kind != FILE_CTL_READ)
		return -EBADF;
	/*
	 * A copy, not a pointer into the snapshot: the reply is still being written to the
	 * kernel when the reader, already answered, closes the file and its release frees the
	 * snapshot on another thread.
	 */
	if (off < f->snap_len) {
		out->n = f->snap_len - off < size ? f->snap_len - off : size;
		out->owned = malloc(out->n);
		if (!out->owned)
			return -ENOMEM;
		memcpy(out->owned, f->snap + off, out->n);
		out->p = out->owned;
	}
	return 0;
}

static int flush_field(struct rtk_tree *t, struct rtk_tree_file *f, const struct rtk_tree_op *op)
{
	char path[512], key[256], why[160] = "";
	const struct rtk_obj *cur;
	const char *method = f->field == RTK_F_JSON ? "PUT" : "PATCH";
	struct rtk_buf body;
	struct held *h;
	struct ids ids;
	int err;

	ids_of(f->dir, &ids);
	err = webhook_paths(&ids, path, sizeof(path), key, sizeof(key));
	if (err)
		return err;
	err = get_object(t, RTK_K_WEBHOOK, &ids, op, &h, &cur);
	if (err)
		return err;
	rtk_buf_init(&body, WRITE_MAX * 2);
	if (f->field == RTK_F_JSON)
		err = rtk_model_put_body(f->buf.data ? f->buf.data : "", f->buf.len, &body, why,
					 sizeof(why));
	else
		err = rtk_model_patch_body(f->field, f->buf.data ? f->buf.data : "", f->buf.len,
					   cur, &body, why, sizeof(why));
	held_unref(h);
	if (err == 1) {
		err = 0; /* unchanged: nothing to send */
		goto out;
	}
	if (err) {
		if (err == -EFBIG)
			err = -EINVAL;
		record_write_error(t, method, path, NULL, err, why[0] ? why : "invalid value");
		goto out;
	}
	err = send_write(t, method, path, key, &body, NULL, op, NULL);
out:
	rtk_buf_release(&body);
	/* What the writer's page cache holds is not what the server holds: drop it. */
	inval_object(t, f->dir);
	return err;
}

static int flush_new(struct rtk_tree *t, struct rtk_tree_file *f, const struct rtk_tree_op *op)
{
	const struct rtk_tree_hooks *hk = &t->cfg.hooks;
	char key[256], why[160] = "";
	struct rtk_obj *created = NULL;
	struct rtk_buf body;
	struct ids ids;
	int err;

	ids_of(f->dir, &ids);
	err = collection_path(RTK_K_WEBHOOK, &ids, key, sizeof(key));
	if (err)
		goto out;
	rtk_buf_init(&body, WRITE_MAX * 2);
	err = rtk_model_put_body(f->buf.data ? f->buf.data : "", f->buf.len, &body, why,
				 sizeof(why));
	if (err) {
		if (err == -EFBIG)
			err = -EINVAL;
		record_write_error(t, "POST", key, NULL, err, why[0] ? why : "invalid webhook");
	} else {
		err = send_write(t, "POST", key, key, &body, NULL, op, &created);
	}
	rtk_buf_release(&body);
	if (created) {
		pthread_mutex_lock(&t->ctl_lock);
		snprintf(t->last_created, sizeof(t->last_created), "%s",
			 rtk_obj_id(created, NULL));
		pthread_mutex_unlock(&t->ctl_lock);
		rtk_info("created webhook '%s' in '%s'", rtk_obj_id(created, NULL), key);
		rtk_obj_unref(created);
	}
out:
	/* The file is gone whatever happened: it became a webhook, or nothing. */
	pending_remove(t, f->pending);
	if (hk->inval_entry)
		hk->inval_entry(hk->ctx, f->dir->ino, f->pending->name);
	if (hk->inval_inode)
		hk->inval_inode(hk->ctx, f->dir->ino);
	free(f->pending);
	f->pending = NULL;
	return err;
}

int rtk_tree_file_flush(struct rtk_tree *t, struct rtk_tree_file *f, const struct rtk_tree_op *op)
{
	int err = 0;

	if (!f->dirty)
		return 0;
	f->dirty = false;
	f->truncated = false;
	if (f->kind == FILE_FIELD)
		err = flush_field(t, f, op);
	else if (f->kind == FILE_NEW && f->pending)
		err = flush_new(t, f, op);
	return err;
}

void rtk_tree_file_release(struct rtk_tree *t, struct rtk_tree_file *f)
{
	if (!f)
		return;
	if (f->kind == FILE_FIELD && (f->dirty || f->truncated)) {
		/* Truncated and never written (": > events"), or written and never flushed:
		 * send it now; nobody is left to hear the result but the log. */
		struct rtk_tree_op op = {
			.deadline_ns = rtk_clock_mono_ns() +
				       (t->cfg.timeout_ns ? t->cfg.timeout_ns : 15 * RTK_NS_PER_SEC),
		};

		f->dirty = true;
		rtk_tree_file_flush(t, f, &op);
	}
	if (f->pending) { /* never flushed: leave nothing behind */
		pending_remove(t, f->pending);
		free(f->pending);
	}
	rtk_buf_release(&f->buf);
	free(f->snap);
	free(f);
}

int rtk_tree_rmdir(struct rtk_tree *t, uint64_t parent, const char *name,
		   const struct rtk_tree_op *op)
{
	char path[512], key[256];
	struct node *p = node_of_ino(t, parent), *n;
	const struct rtk_obj *o;
	struct held *h;
	struct ids ids;
	int err;

	if (!p)
		return -ENOENT;
	if (t->cfg.ro)
		return -EROFS;
	if (p->kind != RTK_N_WEBHOOKS)
		return -EPERM;
	ids_of(p, &ids);
	ids.webhook = name;
	if (!rtk_path_id_is_safe(name, strlen(name), RTK_WEBHOOK_ID_MAX))
		return -ENOENT;
	err = get_object(t, RTK_K_WEBHOOK, &ids, op, &h, &o);
	if (err)
		return err;
	held_unref(h);
	err = webhook_paths(&ids, path, sizeof(path), key, sizeof(key));
	if (err)
		return err;
	err = send_write(t, "DELETE", path, key, NULL, name, op, NULL);
	n = find_child(t, p, name);
	if (n)
		inval_object(t, n);
	if (t->cfg.hooks.inval_inode)
		t->cfg.hooks.inval_inode(t->cfg.hooks.ctx, p->ino);
	if (!err)
		rtk_info("deleted webhook '%s'", path);
	return err;
}

/* ---- token check ---- */

static int verify_at(struct rtk_tree *t, const char *path, const struct rtk_tree_op *op,
		     char *msg, size_t msgsz)
{
	struct rtk_api_resp resp;
	struct rtk_api_req req = {
		.method = "GET",
		.path = path,
		.deadline_ns = op->deadline_ns,
		.interrupted = op->interrupted,
		.interrupted_ctx = op->interrupted_ctx,
		.quiet = true,
	};
	char server[200];
	int err;

	rtk_api_resp_init(&resp, 1 << 20);
	err = rtk_api_call(t->cfg.api, &req, &resp);
	if (!err)
		err = rtk_model_parse_verify(resp.body.data, resp.body.len);
	if (err) {
		if (rtk_model_error_message(resp.body.data, resp.body.len, server,
					    sizeof(server)) != 0)
			snprintf(server, sizeof(server), "%s", strerror(-err));
		else
			rtk_api_redact(t->cfg.api, server, sizeof(server));
		if (resp.status)
			snprintf(msg, msgsz, "%s%s: HTTP %ld: %s", rtk_api_base_url(t->cfg.api),
				 path, resp.status, server);
		else
			snprintf(msg, msgsz, "%s%s: %s", rtk_api_base_url(t->cfg.api), path,
				 strerror(-err));
	}
	rtk_api_resp_release(&resp);
	return err;
}

/* The first account GET /accounts lists for this token, or "" (failures stay quiet). */
static void first_listed_account(struct rtk_tree *t, const struct rtk_tree_op *op, char *out,
				 size_t outsz)
{
	struct fetch f = {.t = t, .op = op, .kind = RTK_K_ACCOUNT, .quiet = true};
	struct rtk_page page = {.page = 1, .per_page = ACCOUNTS_PER_PAGE};
	struct rtk_listing_builder *b = rtk_listing_builder_new(RTK_K_ACCOUNT);
	struct rtk_listing *l;

	out[0] = '\0';
	if (!b)
		return;
	if (fetch_page(&f, "/accounts", b, &page) != 0) {
		rtk_listing_builder_free(b);
		return;
	}
	l = rtk_listing_builder_finish(b);
	if (l && rtk_listing_count(l))
		snprintf(out, outsz, "%s", rtk_obj_id(rtk_listing_at(l, 0), NULL));
	rtk_listing_unref(l);
}

int rtk_tree_verify_token(struct rtk_tree *t, const struct rtk_tree_op *op, char *msg,
			  size_t msgsz)
{
	char path[256], enc[3 * RTK_ID_MAX + 1], first[RTK_ID_MAX + 1] = "";
	int err;

	err = verify_at(t, "/user/tokens/verify", op, msg, msgsz);
	if (err != -EACCES)
		return err;
	/* Perhaps an account-owned token: those verify under their account. */
	if (t->cfg.naccounts)
		snprintf(first, sizeof(first), "%s", t->cfg.accounts[0]);
	else
		first_listed_account(t, op, first, sizeof(first));
	if (!first[0] || rtk_path_encode(first, strlen(first), enc, sizeof(enc)) < 0)
		return -EACCES;
	snprintf(path, sizeof(path), "/accounts/%s/tokens/verify", enc);
	return verify_at(t, path, op, msg, msgsz) == 0 ? 0 : -EACCES;
}

static int start_read_ahead(struct rtk_tree *t);

/* ---- the probe that ends degraded mode ---- */

#define PROBE_INTERVAL_NS (2 * RTK_NS_PER_SEC)
#define PROBE_TIMEOUT_NS (5 * RTK_NS_PER_SEC)

/* For the background threads' fetches: abort when the tree is being freed. */
static bool quitting(void *ctx)
{
	return atomic_load(&((struct rtk_tree *)ctx)->quitting);
}

static void *probe_main(void *arg)
{
	struct rtk_tree *t = arg;
	struct rtk_api_resp resp;
	struct timespec ts;
	uint64_t until;
	int err;

	pthread_mutex_lock(&t->health_lock);
	while (!atomic_load(&t->quitting)) {
		if (!t->degraded) {
			pthread_cond_wait(&t->health_cond, &t->health_lock);
			continue;
		}
		until = rtk_clock_mono_ns() + PROBE_INTERVAL_NS;
		ts.tv_sec = (time_t)(until / RTK_NS_PER_SEC);
		ts.tv_nsec = (long)(until % RTK_NS_PER_SEC);
		pthread_cond_timedwait(&t->health_cond, &t->health_lock, &ts);
		if (atomic_load(&t->quitting) || !t->degraded)
			continue;
		pthread_mutex_unlock(&t->health_lock);
		{
			struct rtk_api_req req = {
				.method = "GET",
				.path = "/user/tokens/verify",
				.deadline_ns = rtk_clock_mono_ns() + PROBE_TIMEOUT_NS,
				.interrupted = quitting,
				.interrupted_ctx = t,
				.quiet = true,
			};

			rtk_api_resp_init(&resp, 1 << 16);
			err = rtk_api_call(t->cfg.api, &req, &resp);
			note_health(t, err, &resp);
			rtk_api_resp_release(&resp);
		}
		pthread_mutex_lock(&t->health_lock);
	}
	pthread_mutex_unlock(&t->health_lock);
	return NULL;
}

int rtk_tree_start(struct rtk_tree *t)
{
	int err = pthread_create(&t->probe, NULL, probe_main, t);

	if (err)
		return -err;
	t->probe_running = true;
	return start_read_ahead(t);
}

static void stop_probe(struct rtk_tree *t)
{
	if (!t->probe_running)
		return;
	pthread_mutex_lock(&t->health_lock);
	atomic_store(&t->quitting, true);
	pthread_cond_broadcast(&t->health_cond);
	pthread_mutex_unlock(&t->health_lock);
	pthread_join(t->probe, NULL);
	t->probe_running = false;
}

/* ---- read-ahead workers ---- */

static void *ra_main(void *arg)
{
	struct rtk_tree *t = arg;
	struct ra_job *j;

	pthread_mutex_lock(&t->ra_lock);
	for (;;) {
		while (!t->ra_head && !atomic_load(&t->quitting))
			pthread_cond_wait(&t->ra_cond, &t->ra_lock);
		if (atomic_load(&t->quitting))
			break;
		j = t->ra_head;
		t->ra_head = j->next;
		if (!t->ra_head)
			t->ra_tail = NULL;
		t->ra_queued--;
		pthread_mutex_unlock(&t->ra_lock);
		{
			struct rtk_tree_op op = {
				.deadline_ns = rtk_clock_mono_ns() +
					       (t->cfg.timeout_ns ? t->cfg.timeout_ns
								  : 15 * RTK_NS_PER_SEC),
				.interrupted = quitting,
				.interrupted_ctx = t,
			};
			struct ids ids = {.account = j->account, .app = j->app[0] ? j->app : NULL};
			struct held *h;

			if (get_listing(t, j->kind, &ids, &op, &h) == 0)
				held_unref(h);
		}
		free(j);
		pthread_mutex_lock(&t->ra_lock);
	}
	pthread_mutex_unlock(&t->ra_lock);
	return NULL;
}

static void stop_read_ahead(struct rtk_tree *t)
{
	struct ra_job *j;
	unsigned i;

	pthread_mutex_lock(&t->ra_lock);
	atomic_store(&t->quitting, true);
	pthread_cond_broadcast(&t->ra_cond);
	pthread_mutex_unlock(&t->ra_lock);
	for (i = 0; i < t->ra_nthreads; i++)
		pthread_join(t->ra_threads[i], NULL);
	free(t->ra_threads);
	t->ra_threads = NULL;
	t->ra_nthreads = 0;
	while ((j = t->ra_head)) {
		t->ra_head = j->next;
		free(j);
	}
	t->ra_tail = NULL;
}

static int start_read_ahead(struct rtk_tree *t)
{
	unsigned i, n = t->cfg.prefetch;
	int err;

	if (!n)
		return 0;
	t->ra_threads = calloc(n, sizeof(*t->ra_threads));
	if (!t->ra_threads)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		err = pthread_create(&t->ra_threads[i], NULL, ra_main, t);
		if (err)
			return -err; /* the ones started are joined by rtk_tree_free */
		t->ra_nthreads++;
	}
	return 0;
}

/* ---- life cycle ---- */

struct rtk_tree *rtk_tree_new(const struct rtk_tree_config *cfg)
{
	struct rtk_tree *t = calloc(1, sizeof(*t));
	struct rtk_listing_builder *b;
	struct rtk_listing *l;
	size_t i;

	if (!t)
		return NULL;
	t->cfg = *cfg;
	t->mounted = wall_now();
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->ctl_lock, NULL);
	pthread_mutex_init(&t->health_lock, NULL);
	pthread_cond_init(&t->health_cond, NULL);
	pthread_mutex_init(&t->ra_lock, NULL);
	pthread_cond_init(&t->ra_cond, NULL);
	t->nbuckets = 1024;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_name = calloc(t->nbuckets, sizeof(*t->by_name));
	t->root = calloc(1, sizeof(*t->root) + 1);
	if (!t->by_ino || !t->by_name || !t->root)
		goto err_free;
	t->root->ino = RTK_TREE_ROOT_INO;
	t->root->kind = RTK_N_ROOT;

	if (cfg->naccounts) {
		b = rtk_listing_builder_new(RTK_K_ACCOUNT);
		if (!b)
			goto err_free;
		for (i = 0; i < cfg->naccounts; i++) {
			const char *id = cfg->accounts[i];
			int err = rtk_listing_builder_add_bare(b, id, strlen(id));

			if (err && err != -EEXIST) {
				rtk_err("account id '%s' is not a valid id", id);
				rtk_listing_builder_free(b);
				goto err_free;
			}
		}
		l = rtk_listing_builder_finish(b);
		t->named.h = l ? held_new(l, t->mounted) : NULL;
		if (!t->named.h) {
			rtk_listing_unref(l);
			goto err_free;
		}
	}
	return t;

err_free:
	rtk_tree_free(t);
	return NULL;
}

void rtk_tree_free(struct rtk_tree *t)
{
	size_t i;

	if (!t)
		return;
	stop_probe(t);
	stop_read_ahead(t);
	if (t->by_ino) {
		for (i = 0; i < t->nbuckets; i++) {
			struct node *e = t->by_ino[i], *next;

			for (; e; e = next) {
				next = e->next_by_ino;
				free(e);
			}
		}
	}
	held_unref(t->named.h);
	for (i = 0; i < RTK_CTL__N; i++)
		free(t->ctl_snap[i].p);
	pthread_mutex_destroy(&t->ctl_lock);
	pthread_mutex_destroy(&t->health_lock);
	pthread_cond_destroy(&t->health_cond);
	pthread_mutex_destroy(&t->ra_lock);
	pthread_cond_destroy(&t->ra_cond);
	free(t->by_ino);
	free(t->by_name);
	free(t->root);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* The cache callbacks for the values the tree stores, for main to configure the cache. */
const struct rtk_cache_ops rtk_tree_cache_ops = {
	.ref = held_ref,
	.unref = held_unref,
	.size = held_size,
};
