// SPDX-License-Identifier: MIT
/*
 * write: values take effect at write(). The value each field file has accumulated so far (for
 * writes at consecutive offsets) is kept in a small table per lock stripe; a stripe's mutex
 * serializes the writes of the webhooks that hash to it, from reading the current object to
 * folding the server's answer into the cache. Pending files (new files in webhooks
 * directories) are kept in a list under their own mutex until sent or released.
 */
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/api.h"
#include "rtkfs/buf.h"
#include "rtkfs/clock.h"
#include "rtkfs/collection.h"
#include "rtkfs/ctl.h"
#include "rtkfs/health.h"
#include "rtkfs/jsondoc.h"
#include "rtkfs/log.h"
#include "rtkfs/envelope.h"
#include "rtkfs/listing.h"
#include "rtkfs/loop.h"
#include "rtkfs/obj.h"
#include "rtkfs/value.h"
#include "rtkfs/view.h"
#include "rtkfs/write.h"

#define BODY_MAX_DEFAULT (16u << 20)
#define PENDING_NAME_MAX 255
#define STRIPES 64
#define STATES_PER_STRIPE 8
#define PENDING_IDLE_NS (60 * RTK_NS_PER_SEC)
#define PENDING_DONE_NS (1 * RTK_NS_PER_SEC) /* a sent file, kept for trailing white space */
#define PENDING_MAX 1024
#define EMPTIED_NS (1 * RTK_NS_PER_SEC) /* an emptied file with nothing written shows empty */
#define WRITTEN_NS (100 * RTK_NS_PER_MS) /* the writer's spelling, then the server's */
/* How long write() waits at most for the other files of the webhook to be dropped. */
#define WRITE_SETTLE_NS (100 * RTK_NS_PER_MS)

/* What one field file has been written so far: writes at its end extend it. */
struct wstate {
	uint64_t ino;  /* 0: a free slot */
	uint64_t used; /* last use, for eviction */
	struct rtk_buf val;
};

/* The writes of the webhooks whose directory hashes here, one at a time. */
struct stripe {
	pthread_mutex_t lock;
	atomic_uint writing; /* writes of its webhooks under way (field files) */
	uint64_t tick;
	struct wstate st[STATES_PER_STRIPE];
};

/*
 * A file created in a webhooks directory, waiting for a complete document. The kernel sends
 * no RELEASE for it on a no-open mount (checked with -d: CREATE, WRITE, no RELEASE), so it
 * is found by number and forgotten when idle for PENDING_IDLE_NS.
 */
struct pending {
	struct pending *next;
	uint64_t ino;                /* in the pending range */
	struct rtk_ino_node *parent; /* the webhooks directory */
	struct rtk_buf buf;          /* what was written */
	uint64_t used_ns;            /* created or last written */
	bool done;                   /* sent or refused: hidden, takes only white space */
	char name[PENDING_NAME_MAX + 1];
};

struct rtk_write {
	struct rtk_write_config cfg;
	pthread_mutex_t lock;    /* the pending list and the lengths of its buffers */
	pthread_mutex_t pend_io; /* what is done with a pending file (a POST), one at a time */
	struct pending *pending;
	size_t npending;
	uint64_t next_pending;
	struct stripe stripes[STRIPES];
	struct rtk_views *views;
};

struct rtk_write *rtk_write_new(const struct rtk_write_config *cfg)
{
	struct rtk_write *w = calloc(1, sizeof(*w));
	size_t i, j;

	if (!w)
		return NULL;
	w->cfg = *cfg;
	if (pthread_mutex_init(&w->lock, NULL))
		goto free_w;
	if (pthread_mutex_init(&w->pend_io, NULL))
		goto destroy_lock;
	for (i = 0; i < STRIPES; i++) {
		if (pthread_mutex_init(&w->stripes[i].lock, NULL))
			goto destroy_stripes;
		for (j = 0; j < STATES_PER_STRIPE; j++)
			rtk_buf_init(&w->stripes[i].st[j].val, RTK_WRITE_MAX);
	}
	w->views = rtk_views_new(cfg->clock);
	if (w->views)
		return w;
destroy_stripes:
	while (i--)
		pthread_mutex_destroy(&w->stripes[i].lock);
	pthread_mutex_destroy(&w->pend_io);
destroy_lock:
	pthread_mutex_destroy(&w->lock);
free_w:
	free(w);
	return NULL;
}

void rtk_write_free(struct rtk_write *w)
{
	size_t i, j;

	if (!w)
		return;
	for (i = 0; i < STRIPES; i++) {
		for (j = 0; j < STATES_PER_STRIPE; j++)
			rtk_buf_release(&w->stripes[i].st[j].val);
		pthread_mutex_destroy(&w->stripes[i].lock);
	}
	rtk_views_free(w->views);
	while (w->pending) {
		struct pending *pd = w->pending;

		w->pending = pd->next;
		rtk_buf_release(&pd->buf);
		free(pd);
	}
	pthread_mutex_destroy(&w->pend_io);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static size_t max_body(const struct rtk_write *w)
{
	return w->cfg.max_body ? w->cfg.max_body : BODY_MAX_DEFAULT;
}

size_t rtk_write_cap(unsigned index)
{
	switch (index) {
	case RTK_F_ENABLED:
		return RTK_WRITE_CAP_ENABLED;
	case RTK_F_EVENTS:
		return RTK_WRITE_CAP_EVENTS;
	case RTK_F_NAME:
		return RTK_WRITE_CAP_NAME;
	case RTK_F_URL:
		return RTK_WRITE_CAP_URL;
	case RTK_F_JSON:
		return RTK_WRITE_MAX;
	default:
		return 0;
	}
}

/*
 * Lock a webhook's stripe. Its holder may be sending a request for seconds: a FUSE worker
 * that has to wait for it says so first (rtk_loop_waiting), so that another reads the
 * kernel's requests meanwhile.
 */
static void lock_or_wait(pthread_mutex_t *m)
{
	if (pthread_mutex_trylock(m) == 0)
		return;
	rtk_loop_waiting();
	pthread_mutex_lock(m);
}

static struct stripe *stripe_of(struct rtk_write *w, const struct rtk_ino_node *dir)
{
	return &w->stripes[(dir->ino / RTK_INO_STRIDE) % STRIPES];
}

/* The state of file ino in s (locked), or NULL; with create, a slot (the oldest evicted). */
static struct wstate *state_of(struct stripe *s, uint64_t ino, bool create)
{
	struct wstate *e, *old = &s->st[0];
	size_t i;

	for (i = 0; i < STATES_PER_STRIPE; i++) {
		e = &s->st[i];
		if (e->ino == ino) {
			e->used = ++s->tick;
			return e;
		}
		if (!e->ino || (old->ino && e->used < old->used))
			old = e;
	}
	if (!create)
		return NULL;
	old->ino = ino;
	old->used = ++s->tick;
	rtk_buf_reset(&old->val);
	return old;
}

/* ---- pending new files ---- */

int rtk_write_pending_attr(struct rtk_write *w, uint64_t ino, const struct rtk_ino_node *parent,
			   const char *name, struct rtk_attr *out)
{
	struct pending *pd;
	int err = -ENOENT;

	pthread_mutex_lock(&w->lock);
	for (pd = w->pending; pd; pd = pd->next) {
		if (pd->done ||
		    (ino ? pd->ino != ino : pd->parent != parent || strcmp(pd->name, name) != 0))
			continue;
		/* volatile: it goes away when its document is sent */
		rtk_attr_volatile_file(w->cfg.attr, pd->ino, 0644, pd->buf.len, out);
		err = 0;
		break;
	}
	pthread_mutex_unlock(&w->lock);
	return err;
}

/* The pending file ino (pend_io held: it stays while that is), or NULL. */
static struct pending *pending_find(struct rtk_write *w, uint64_t ino)
{
	struct pending *pd;

	pthread_mutex_lock(&w->lock);
	for (pd = w->pending; pd && pd->ino != ino; pd = pd->next)
		;
	pthread_mutex_unlock(&w->lock);
	return pd;
}

/* Add pd to the list unless its name is pending already (-EEXIST) or too many are. */
static int pending_add(struct rtk_write *w, struct pending *pd)
{
	struct pending *e;
	int err = 0;

	pthread_mutex_lock(&w->lock);
	for (e = w->pending; e; e = e->next)
		if (!e->done && e->parent == pd->parent && strcmp(e->name, pd->name) == 0)
			break;
	if (e) {
		err = -EEXIST;
	} else if (w->npending >= PENDING_MAX) {
		err = -ENFILE;
	} else {
		w->npending++;
		pd->ino = RTK_INO_PENDING_BASE + ++w->next_pending * RTK_INO_STRIDE + 1;
		pd->next = w->pending;
		w->pending = pd;
	}
	pthread_mutex_unlock(&w->lock);
	return err;
}

/* ---- sending ---- */

static void record_error(struct rtk_write *w, const char *method, const char *path,
			 const struct rtk_api_resp *resp, int err, const char *local)
{
	char server[200] = "", line[320];

	if (local)
		snprintf(server, sizeof(server), "%s", local);
	else if (!resp ||
		 rtk_envelope_error_message(resp->body.data, resp->body.len, server, sizeof(server)))
		snprintf(server, sizeof(server), "%s", strerror(-err));
	else
		rtk_log_redact(server, sizeof(server)); /* a server may echo the token */
	if (resp && resp->status)
		snprintf(line, sizeof(line), "%s %s: HTTP %ld: %s", method, path, resp->status,
			 server);
	else
		snprintf(line, sizeof(line), "%s %s: %s", method, path, server);
	/* A local refusal was never sent; an answer we could not use (EPROTO) was. */
	rtk_ctl_record_write(w->cfg.ctl, err, resp ? resp->sent : err == -EPROTO, line);
	rtk_warn("cannot write: %s", line);
}

/* One write request: what it is, and what its answer must be. */
struct wreq {
	const char *method, *path, *key; /* key: the listing the webhook is in */
	const struct rtk_buf *body;      /* NULL: DELETE */
	const char *id;                  /* the webhook written (NULL for POST) */
	struct rtk_obj **created;        /* POST: the new webhook (a new reference) */
};

/*
 * Fold a successful answer into the cached listing. An answer that is not one webhook, or
 * one of another id than the one written, is -EPROTO: we cannot tell what the server holds,
 * so the listing is dropped and fetched again before anything of it is shown.
 */
static int apply_answer(struct rtk_write *w, const struct wreq *rq,
			const struct rtk_api_resp *resp)
{
	struct rtk_obj *o = NULL;
	char why[160];

	if (!rq->body) {
		rtk_coll_apply(w->cfg.coll, rq->key, NULL, rq->id);
		return 0;
	}
	if (rtk_envelope_parse_object(RTK_K_WEBHOOK, resp->body.data, resp->body.len, &o) != 0) {
		snprintf(why, sizeof(why), "the answer is not a webhook");
	} else if (rq->id && strcmp(rtk_obj_id(o, NULL), rq->id) != 0) {
		snprintf(why, sizeof(why), "the answer is webhook '%.64s', not the one written",
			 rtk_obj_id(o, NULL));
		rtk_obj_unref(o);
	} else {
		rtk_coll_apply(w->cfg.coll, rq->key, o, NULL);
		if (rq->created)
			*rq->created = o;
		else
			rtk_obj_unref(o);
		return 0;
	}
	rtk_coll_forget(w->cfg.coll, rq->key);
	record_error(w, rq->method, rq->path, NULL, -EPROTO, why);
	return -EPROTO;
}

/*
 * Send one write and fold its answer into the cache. For a request that went out but whose
 * answer we do not know (deadline, interrupt, broken connection), the listing is dropped so
 * it is fetched again before anything of it is shown.
 */
static int send_write(struct rtk_write *w, const struct wreq *rq, const struct rtk_op *op)
{
	struct rtk_api_resp resp;
	struct rtk_api_req req = {
		.method = rq->method,
		.path = rq->path,
		.body = rq->body ? rq->body->data : NULL,
		.body_len = rq->body ? rq->body->len : 0,
		.deadline_ns = op->deadline_ns,
		.interrupted = op->interrupted,
		.interrupted_ctx = op->interrupted_ctx,
		.quiet = true,
		.reserved = rtk_health_recovering(w->cfg.health),
	};
	int err;

	rtk_api_resp_init(&resp, max_body(w));
	/* While degraded a write waits for the probe like a read, and fails as fast. */
	err = rtk_health_blocked(w->cfg.health, op->deadline_ns);
	if (!err)
		err = rtk_api_call(w->cfg.api, &req, &resp);
	rtk_health_note(w->cfg.health, err, resp.status, resp.attempts);
	if (err == -ENOENT && !rq->body) {
		/* Deleted meanwhile: gone either way. */
		rtk_coll_apply(w->cfg.coll, rq->key, NULL, rq->id);
		record_error(w, rq->method, rq->path, &resp, err, NULL);
	} else if (err) {
		record_error(w, rq->method, rq->path, &resp, err, NULL);
		if (err == -ENOENT)
			rtk_coll_forget(w->cfg.coll, rq->key);
		else if (resp.sent && !resp.status)
			rtk_coll_forget_object(w->cfg.coll, rq->key, rq->id);
	} else {
		err = apply_answer(w, rq, &resp);
		if (!err)
			rtk_ctl_record_write(w->cfg.ctl, 0, true, NULL);
	}
	rtk_api_resp_release(&resp);
	return err;
}

/* API paths of a webhook and of its collection (ids percent-encoded). */
static int webhook_paths(const struct rtk_ids *ids, char *path, size_t pathsz, char *key,
			 size_t keysz)
{
	char id[3 * RTK_ID_MAX + 1];
	int err = rtk_coll_key(RTK_K_WEBHOOK, ids, key, keysz);

	if (err || !ids->webhook)
		return err;
	if (rtk_path_encode(ids->webhook, strlen(ids->webhook), id, sizeof(id)) < 0 ||
	    (size_t)snprintf(path, pathsz, "%s/%s", key, id) >= pathsz)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- what readers see while a writer writes (view.h) ---- */

_Static_assert((int)RTK_WRITE_SHOW_CACHED == (int)RTK_VIEW_CACHED &&
		       (int)RTK_WRITE_SHOW_EMPTY == (int)RTK_VIEW_EMPTY &&
		       (int)RTK_WRITE_SHOW_WRITTEN == (int)RTK_VIEW_WRITTEN,
	       "write.h's show values are view.h's");

static void view_set(struct rtk_write *w, uint64_t ino, enum rtk_write_show show,
		     const char *bytes, size_t len, uint64_t until_ns)
{
	rtk_views_set(w->views, ino, (enum rtk_view_show)show, bytes, len, until_ns);
}

enum rtk_write_show rtk_write_shown(struct rtk_write *w, uint64_t ino, char **bytes,
				    size_t *len)
{
	return (enum rtk_write_show)rtk_views_shown(w->views, ino, bytes, len);
}

int rtk_write_empty(struct rtk_write *w, struct rtk_ino_node *dir, unsigned index)
{
	if (dir->kind == RTK_N_CTL_DIR || index >= RTK_F__N)
		return -EPERM;
	if (dir->kind != RTK_N_WEBHOOK || !rtk_write_cap(index))
		return -EACCES; /* read-only, as its mode says */
	view_set(w, rtk_ino_file(dir, index), RTK_WRITE_SHOW_EMPTY, NULL, 0,
		 rtk_clock_now(&w->cfg.clock) + EMPTIED_NS);
	return 0;
}

/* ---- field files ---- */

/* The value a write at off makes: a new one at 0, else the continuation of prev or cur. */
static int next_value(const struct rtk_buf *prev, const char *cur, size_t cur_len,
		      const char *buf, size_t len, uint64_t off, struct rtk_buf *out)
{
	int err = 0;

	if (off == 0)
		;
	else if (prev && off == prev->len)
		err = rtk_buf_append(out, prev->data, prev->len);
	else if (cur && off == cur_len) /* O_APPEND: after the server's bytes */
		err = rtk_buf_append(out, cur, cur_len);
	else
		return -EINVAL;
	return err ? err : rtk_buf_append(out, buf, len);
}

/*
 * The request body for value val of field f of webhook cur: 0 (body filled), 1 (nothing to
 * send: unchanged, or an incomplete webhook.json), -EINVAL with why filled.
 */
static int value_body(enum rtk_field f, const struct rtk_buf *val, const struct rtk_obj *cur,
		      struct rtk_buf *body, char *why, size_t whysz)
{
	const char *v = val->data ? val->data : "", *now;
	struct rtk_buf same;
	size_t now_len;
	int err;

	if (f != RTK_F_JSON) {
		if (memchr(v, '\0', val->len)) {
			snprintf(why, whysz, "a value cannot hold a NUL byte");
			return -EINVAL;
		}
		return rtk_value_patch_body(f, v, val->len, cur, body, why, whysz);
	}
	switch (rtk_jsondoc_state(v, val->len)) {
	case RTK_JSONDOC_INCOMPLETE:
		return 1; /* held until the write that completes it */
	case RTK_JSONDOC_INVALID:
		snprintf(why, whysz, "webhook.json is not valid JSON");
		return -EINVAL;
	default:
		break;
	}
	err = rtk_value_put_body(v, val->len, body, why, whysz);
	if (err)
		return err;
	/* Unchanged: the same body as the server's own webhook.json would make. */
	now = rtk_obj_field(cur, RTK_F_JSON, &now_len);
	rtk_buf_init(&same, RTK_WRITE_MAX * 2);
	if (now && rtk_value_put_body(now, now_len, &same, NULL, 0) == 0 &&
	    same.len == body->len && memcmp(same.data, body->data, body->len) == 0)
		err = 1;
	rtk_buf_release(&same);
	return err;
}

/* Validate and send value val of field f of webhook dir (its stripe locked). */
static int send_value(struct rtk_write *w, struct rtk_ino_node *dir, enum rtk_field f,
		      const struct rtk_buf *val, const struct rtk_obj *cur,
		      const struct rtk_op *op)
{
	char path[RTK_COLL_KEY_MAX + 3 * RTK_ID_MAX + 2], key[RTK_COLL_KEY_MAX], why[160] = "";
	struct wreq rq = {.method = f == RTK_F_JSON ? "PUT" : "PATCH", .path = path, .key = key};
	struct rtk_buf body;
	struct rtk_ids ids;
	int err;

	rtk_ino_ids(dir, &ids);
	err = webhook_paths(&ids, path, sizeof(path), key, sizeof(key));
	if (err)
		return err;
	rq.id = ids.webhook;
	rtk_buf_init(&body, RTK_WRITE_MAX * 2);
	rq.body = &body;
	err = value_body(f, val, cur, &body, why, sizeof(why));
	if (err == 1)
		err = 0; /* unchanged, or held */
	else if (err == -EINVAL)
		record_error(w, rq.method, path, NULL, err, why[0] ? why : "invalid value");
	else if (!err)
		err = send_write(w, &rq, op);
	rtk_buf_release(&body);
	return err;
}

/* After a write of val: readers see val while the kernel may hold it, if the server's differs. */
static void show_written(struct rtk_write *w, struct rtk_ino_node *dir, enum rtk_field f,
			 const struct rtk_buf *val, const struct rtk_op *op)
{
	uint64_t ino = rtk_ino_file(dir, f);
	const struct rtk_obj *o;
	const char *now = NULL;
	struct rtk_held *h;
	struct rtk_ids ids;
	size_t now_len = 0;
	unsigned i;
	bool same;

	/* The other files of the webhook changed too: they show the server's bytes now. */
	for (i = 0; i < RTK_F__N; i++)
		if (i != f)
			view_set(w, rtk_ino_file(dir, i), RTK_WRITE_SHOW_CACHED, NULL, 0, 0);
	rtk_ino_ids(dir, &ids);
	if (rtk_coll_get_object(w->cfg.coll, RTK_K_WEBHOOK, &ids, op, &h, &o) == 0)
		now = rtk_obj_field(o, f, &now_len);
	same = now && now_len == val->len && memcmp(now, val->data ? val->data : "", now_len) == 0;
	if (same)
		view_set(w, ino, RTK_WRITE_SHOW_CACHED, NULL, 0, 0);
	else
		view_set(w, ino, RTK_WRITE_SHOW_WRITTEN, val->data ? val->data : "", val->len,
			 rtk_clock_now(&w->cfg.clock) + WRITTEN_NS);
	if (now)
		rtk_held_unref(h);
}

/* The stripe of dir is locked: make the value, send it, remember it. */
static int field_write_locked(struct rtk_write *w, struct stripe *s, struct rtk_ino_node *dir,
			      enum rtk_field f, const char *buf, size_t len, uint64_t off,
			      const struct rtk_op *op)
{
	uint64_t ino = rtk_ino_file(dir, f);
	struct wstate *st = state_of(s, ino, false);
	const struct rtk_obj *cur;
	const char *bytes;
	struct rtk_held *h;
	struct rtk_buf val;
	struct rtk_ids ids;
	size_t cur_len = 0;
	int err;

	rtk_ino_ids(dir, &ids);
	err = rtk_coll_get_object(w->cfg.coll, RTK_K_WEBHOOK, &ids, op, &h, &cur);
	if (err)
		return err;
	bytes = rtk_obj_field(cur, f, &cur_len);
	rtk_buf_init(&val, rtk_write_cap(f));
	err = next_value(st ? &st->val : NULL, bytes, cur_len, buf, len, off, &val);
	if (err == -EINVAL || err == -EFBIG) {
		char why[96], path[RTK_COLL_KEY_MAX + 3 * RTK_ID_MAX + 2], key[RTK_COLL_KEY_MAX];

		if (err == -EINVAL)
			snprintf(why, sizeof(why), "a write at offset %llu: a value is written "
				 "from 0 or appended", (unsigned long long)off);
		else
			snprintf(why, sizeof(why), "the value passes %zu bytes", rtk_write_cap(f));
		if (webhook_paths(&ids, path, sizeof(path), key, sizeof(key)) == 0)
			record_error(w, f == RTK_F_JSON ? "PUT" : "PATCH", path, NULL, err, why);
	} else if (!err) {
		err = send_value(w, dir, f, &val, cur, op);
	}
	rtk_held_unref(h);
	if (!err) {
		show_written(w, dir, f, &val, op);
		st = state_of(s, ino, true);
		rtk_buf_reset(&st->val);
		err = rtk_buf_append(&st->val, val.data, val.len);
	}
	rtk_buf_release(&val);
	return err;
}

int rtk_write_field(struct rtk_write *w, struct rtk_ino_node *dir, unsigned index,
		    const char *buf, size_t len, uint64_t off, const struct rtk_op *op)
{
	struct stripe *s;
	uint64_t now, until;
	int err;

	if (dir->kind != RTK_N_WEBHOOK || !rtk_path_field_is_writable(RTK_K_WEBHOOK, index) ||
	    !rtk_write_cap(index))
		return -EACCES;
	s = stripe_of(w, dir);
	atomic_fetch_add(&s->writing, 1);
	lock_or_wait(&s->lock);
	err = field_write_locked(w, s, dir, (enum rtk_field)index, buf, len, off, op);
	if (err < 0) /* refused: readers see the server's value again, before write() returns */
		view_set(w, rtk_ino_file(dir, index), RTK_WRITE_SHOW_CACHED, NULL, 0, 0);
	pthread_mutex_unlock(&s->lock);
	/*
	 * The kernel holds the writer's bytes (write-through) and sizes made from them: drop
	 * them, so readers see the server's answer, or the old value after a failure. The other
	 * files of the webhook are dropped before write() returns (waiting WRITE_SETTLE_NS at
	 * most) — unless another write of the webhook is under way: its WRITE holds the pages
	 * of its file until it is answered, and would hold up the invalidation of them.
	 */
	now = rtk_clock_mono_ns();
	until = now + WRITE_SETTLE_NS < op->deadline_ns ? now + WRITE_SETTLE_NS : op->deadline_ns;
	rtk_ino_inval_written(&w->cfg.hooks, dir, index,
			      atomic_load(&s->writing) == 1 ? until : 0);
	atomic_fetch_sub(&s->writing, 1);
	return err < 0 ? err : (int)len;
}

/* ---- created files ---- */

static void note_created(struct rtk_write *w, struct rtk_obj *created, const char *key)
{
	rtk_ctl_record_created(w->cfg.ctl, rtk_obj_id(created, NULL));
	rtk_info("created webhook '%s' in '%s'", rtk_obj_id(created, NULL), key);
	rtk_obj_unref(created);
}

/* Record why a new file in webhooks directory parent came to nothing. */
static void record_new_error(struct rtk_write *w, const struct rtk_ino_node *parent, int err,
			     const char *why)
{
	char key[RTK_COLL_KEY_MAX];
	struct rtk_ids ids;

	rtk_ino_ids(parent, &ids);
	if (rtk_coll_key(RTK_K_WEBHOOK, &ids, key, sizeof(key)) == 0)
		record_error(w, "POST", key, NULL, err, why);
}

/* The pending file is done (sent, or never to be): gone for readers, kept a while for the
 * writer's trailing white space. pend_io held. */
static void pending_done(struct rtk_write *w, struct pending *pd)
{
	const struct rtk_ino_hooks *hk = &w->cfg.hooks;

	pthread_mutex_lock(&w->lock);
	pd->done = true;
	pthread_mutex_unlock(&w->lock);
	if (hk->inval_entry)
		hk->inval_entry(hk->ctx, pd->parent->ino, pd->name);
	rtk_ino_inval_collection(hk, pd->parent);
}

/*
 * Forget pending files idle for PENDING_IDLE_NS, and those already sent after
 * PENDING_DONE_NS (at once when the table is full), so that creating many webhooks in a row
 * never fills it (pend_io held).
 */
static void pending_sweep(struct rtk_write *w, uint64_t now)
{
	struct pending **pp, *pd, *gone = NULL;
	bool full;

	pthread_mutex_lock(&w->lock);
	full = w->npending >= PENDING_MAX;
	for (pp = &w->pending; (pd = *pp);) {
		uint64_t keep = pd->done ? (full ? 0 : PENDING_DONE_NS) : PENDING_IDLE_NS;

		if (now - pd->used_ns < keep) {
			pp = &pd->next;
			continue;
		}
		*pp = pd->next;
		w->npending--;
		pd->next = gone;
		gone = pd;
	}
	pthread_mutex_unlock(&w->lock);
	while ((pd = gone)) {
		gone = pd->next;
		if (!pd->done) {
			if (pd->buf.len)
				record_new_error(w, pd->parent, -EINVAL,
						 "the JSON document was never completed");
			pending_done(w, pd);
		}
		rtk_buf_release(&pd->buf);
		free(pd);
	}
}

int rtk_write_create(struct rtk_write *w, struct rtk_ino_node *parent, const char *name,
		     const struct rtk_op *op, struct rtk_attr *attr)
{
	const struct rtk_obj *o;
	struct pending *pd;
	struct rtk_held *h;
	struct rtk_ids ids;
	int err;

	if (parent->kind != RTK_N_WEBHOOKS)
		return -EPERM;
	if (strlen(name) > PENDING_NAME_MAX)
		return -ENAMETOOLONG;
	/* The app must exist, and the name must not be a webhook's. */
	rtk_ino_ids(parent, &ids);
	err = rtk_coll_get(w->cfg.coll, RTK_K_WEBHOOK, &ids, op, &h);
	if (err)
		return err;
	o = rtk_listing_find(h->l, name, strlen(name));
	rtk_held_unref(h);
	if (o)
		return -EEXIST;
	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return -ENOMEM;
	snprintf(pd->name, sizeof(pd->name), "%s", name);
	pd->parent = parent;
	rtk_buf_init(&pd->buf, RTK_WRITE_MAX);
	lock_or_wait(&w->pend_io);
	pd->used_ns = rtk_clock_now(&w->cfg.clock);
	pending_sweep(w, pd->used_ns);
	err = pending_add(w, pd);
	pthread_mutex_unlock(&w->pend_io);
	if (err) {
		free(pd);
		return err;
	}
	return rtk_write_pending_attr(w, pd->ino, NULL, NULL, attr);
}

/* pd holds a complete document: POST it (pend_io held). */
static int post_new(struct rtk_write *w, struct pending *pd, const struct rtk_op *op)
{
	char key[RTK_COLL_KEY_MAX], why[160] = "";
	struct rtk_obj *created = NULL;
	struct wreq rq = {.method = "POST", .path = key, .key = key, .created = &created};
	struct rtk_buf body;
	struct rtk_ids ids;
	int err;

	rtk_ino_ids(pd->parent, &ids);
	rtk_buf_init(&body, RTK_WRITE_MAX * 2);
	rq.body = &body;
	err = rtk_coll_key(RTK_K_WEBHOOK, &ids, key, sizeof(key));
	if (!err)
		err = rtk_value_put_body(pd->buf.data, pd->buf.len, &body, why, sizeof(why));
	if (err)
		record_error(w, "POST", key, NULL, err, why[0] ? why : "invalid webhook");
	else
		err = send_write(w, &rq, op);
	rtk_buf_release(&body);
	if (created)
		note_created(w, created, key);
	return err;
}

/* len bytes at off to pd (pend_io held): 0 (held or sent), 1 (not JSON: -EINVAL), -errno. */
static int put_locked(struct rtk_write *w, struct pending *pd, const char *buf, size_t len,
		      uint64_t off, const struct rtk_op *op)
{
	size_t i;
	int err;

	if (pd->done) { /* the document went out (or was refused): white space only */
		for (i = 0; i < len && strchr(" \t\r\n", buf[i]) && buf[i]; i++)
			;
		return i == len ? 0 : 1;
	}
	if (off != pd->buf.len)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	err = rtk_buf_append(&pd->buf, buf, len);
	pthread_mutex_unlock(&w->lock);
	if (err)
		return err;
	switch (rtk_jsondoc_state(pd->buf.data, pd->buf.len)) {
	case RTK_JSONDOC_INCOMPLETE:
		return 0;
	case RTK_JSONDOC_INVALID:
		pending_done(w, pd); /* nothing is left behind */
		return 1;
	default:
		break;
	}
	err = post_new(w, pd, op);
	pending_done(w, pd); /* it became a webhook, or nothing: either way, gone */
	return err;
}

int rtk_write_pending_put(struct rtk_write *w, uint64_t ino, const char *buf, size_t len,
			  uint64_t off, const struct rtk_op *op)
{
	struct pending *pd;
	int err;

	lock_or_wait(&w->pend_io);
	pd = pending_find(w, ino);
	if (!pd) {
		pthread_mutex_unlock(&w->pend_io);
		return -ENOENT;
	}
	pd->used_ns = rtk_clock_now(&w->cfg.clock);
	if (off > RTK_WRITE_MAX || len > RTK_WRITE_MAX - off) {
		err = -EFBIG;
		record_new_error(w, pd->parent, err, "the document passes 64 KiB");
		if (!pd->done)
			pending_done(w, pd);
	} else {
		err = put_locked(w, pd, buf, len, off, op);
		if (err == 1) {
			err = -EINVAL;
			record_new_error(w, pd->parent, err, "not a JSON document");
		}
	}
	pthread_mutex_unlock(&w->pend_io);
	return err < 0 ? err : (int)len;
}

/* ---- rmdir ---- */

int rtk_write_rmdir(struct rtk_write *w, struct rtk_ino_node *parent, const char *name,
		    const struct rtk_op *op)
{
	char path[RTK_COLL_KEY_MAX + 3 * RTK_ID_MAX + 2], key[RTK_COLL_KEY_MAX];
	struct wreq rq = {.method = "DELETE", .path = path, .key = key, .id = name};
	struct rtk_ino_node *dir;
	const struct rtk_obj *o;
	struct rtk_held *h;
	struct rtk_ids ids;
	int err;

	if (parent->kind != RTK_N_WEBHOOKS)
		return -EPERM;
	if (!rtk_path_id_is_safe(name, strlen(name), RTK_WEBHOOK_ID_MAX))
		return -ENOENT;
	rtk_ino_ids(parent, &ids);
	ids.webhook = name;
	err = rtk_coll_get_object(w->cfg.coll, RTK_K_WEBHOOK, &ids, op, &h, &o);
	if (err)
		return err;
	rtk_held_unref(h);
	err = webhook_paths(&ids, path, sizeof(path), key, sizeof(key));
	if (err)
		return err;
	dir = rtk_ino_find(w->cfg.ino, parent, name);
	if (dir)
		lock_or_wait(&stripe_of(w, dir)->lock);
	err = send_write(w, &rq, op);
	if (dir)
		pthread_mutex_unlock(&stripe_of(w, dir)->lock);
	rtk_ino_inval_object(&w->cfg.hooks, dir);
	rtk_ino_inval_collection(&w->cfg.hooks, parent);
	if (!err)
		rtk_info("deleted webhook '%s'", path);
	return err;
}
