// SPDX-License-Identifier: MIT
/*
 * write: open write files hold a buffer; pending files (new files in webhooks directories)
 * are kept in a list under a mutex until flushed or released.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtkfs/api.h"
#include "rtkfs/buf.h"
#include "rtkfs/clock.h"
#include "rtkfs/collection.h"
#include "rtkfs/ctl.h"
#include "rtkfs/health.h"
#include "rtkfs/log.h"
#include "rtkfs/envelope.h"
#include "rtkfs/listing.h"
#include "rtkfs/obj.h"
#include "rtkfs/value.h"
#include "rtkfs/write.h"

#define BODY_MAX_DEFAULT (16u << 20)
#define PENDING_NAME_MAX 255

/* A file created in a webhooks directory, waiting for its flush to become a webhook. */
struct pending {
	struct pending *next;
	uint64_t ino; /* in the pending range */
	struct rtk_ino_node *parent;
	struct rtk_write_file *file;
	char name[PENDING_NAME_MAX + 1];
};

struct rtk_write_file {
	bool is_new;                /* a pending new file, else a field */
	struct rtk_ino_node *dir;   /* field: the webhook's directory; new: the webhooks dir */
	enum rtk_field field;       /* field */
	struct pending *pending;    /* new, until flushed or released */
	struct rtk_buf buf;         /* what was written */
	/*
	 * Something was written since the last flush that sent: the next flush sends it. A
	 * close() of a dup'd descriptor flushes too (shells do that before writing), so an
	 * O_TRUNC with nothing written yet is not sent at flush but at release (truncated).
	 */
	bool dirty;
	bool truncated;
};

struct rtk_write {
	struct rtk_write_config cfg;
	pthread_mutex_t lock; /* the pending list */
	struct pending *pending;
	uint64_t next_pending;
};

struct rtk_write *rtk_write_new(const struct rtk_write_config *cfg)
{
	struct rtk_write *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	if (pthread_mutex_init(&w->lock, NULL)) {
		free(w);
		return NULL;
	}
	w->cfg = *cfg;
	return w;
}

void rtk_write_free(struct rtk_write *w)
{
	if (!w)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static size_t max_body(const struct rtk_write *w)
{
	return w->cfg.max_body ? w->cfg.max_body : BODY_MAX_DEFAULT;
}

/* ---- pending new files ---- */

int rtk_write_pending_attr(struct rtk_write *w, uint64_t ino, const struct rtk_ino_node *parent,
			   const char *name, struct rtk_attr *out)
{
	struct pending *pd;
	int err = -ENOENT;

	pthread_mutex_lock(&w->lock);
	for (pd = w->pending; pd; pd = pd->next) {
		if (ino ? pd->ino != ino : pd->parent != parent || strcmp(pd->name, name) != 0)
			continue;
		/* volatile: it goes away at close */
		rtk_attr_volatile_file(w->cfg.attr, pd->ino, 0644, pd->file->buf.len, out);
		err = 0;
		break;
	}
	pthread_mutex_unlock(&w->lock);
	return err;
}

static void pending_remove(struct rtk_write *w, struct pending *gone)
{
	struct pending **pp;

	pthread_mutex_lock(&w->lock);
	for (pp = &w->pending; *pp; pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			break;
		}
	}
	pthread_mutex_unlock(&w->lock);
}

/* Add pd to the list unless its name is pending already (-EEXIST). */
static int pending_add(struct rtk_write *w, struct pending *pd)
{
	struct pending *e;
	int err = 0;

	pthread_mutex_lock(&w->lock);
	for (e = w->pending; e; e = e->next)
		if (e->parent == pd->parent && strcmp(e->name, pd->name) == 0)
			break;
	if (e) {
		err = -EEXIST;
	} else {
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
	else if (rtk_envelope_error_message(resp->body.data, resp->body.len, server, sizeof(server)))
		snprintf(server, sizeof(server), "%s", strerror(-err));
	else
		rtk_log_redact(server, sizeof(server)); /* a server may echo the token */
	if (resp && resp->status)
		snprintf(line, sizeof(line), "%s %s: HTTP %ld: %s", method, path, resp->status,
			 server);
	else
		snprintf(line, sizeof(line), "%s %s: %s", method, path, server);
	rtk_ctl_record_write(w->cfg.ctl, err, resp && resp->sent, line);
	rtk_warn("cannot write: %s", line);
}

/* Fold a successful answer into the cached listing key. */
static void apply_answer(struct rtk_write *w, const char *method, const char *path,
			 const char *key, const struct rtk_api_resp *resp, const char *remove_id,
			 struct rtk_obj **created)
{
	struct rtk_obj *o = NULL;

	if (remove_id) {
		rtk_coll_apply(w->cfg.coll, key, NULL, remove_id);
		return;
	}
	if (rtk_envelope_parse_object(RTK_K_WEBHOOK, resp->body.data, resp->body.len, &o) != 0) {
		/* Accepted, but we cannot tell what the server holds now: ask again. */
		rtk_warn("cannot read the answer to %s '%s': fetching the list again", method, path);
		rtk_coll_forget(w->cfg.coll, key);
		return;
	}
	rtk_coll_apply(w->cfg.coll, key, o, NULL);
	if (created)
		*created = o;
	else
		rtk_obj_unref(o);
}

/*
 * Send one write and fold its answer into the cache. body NULL: DELETE. For a request that
 * went out but whose answer we do not know (deadline, interrupt, broken connection), the
 * listing is dropped so it is fetched again before anything of it is shown.
 */
static int send_write(struct rtk_write *w, const char *method, const char *path,
		      const char *key, const struct rtk_buf *body, const char *remove_id,
		      const struct rtk_op *op, struct rtk_obj **created)
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
		.reserved = rtk_health_recovering(w->cfg.health),
	};
	int err;

	rtk_api_resp_init(&resp, max_body(w));
	/* While degraded a write waits for the probe like a read, and fails as fast. */
	err = rtk_health_blocked(w->cfg.health, op->deadline_ns);
	if (!err)
		err = rtk_api_call(w->cfg.api, &req, &resp);
	rtk_health_note(w->cfg.health, err, resp.status, resp.attempts);
	if (err == -ENOENT && remove_id) {
		/* Deleted meanwhile: gone either way. */
		rtk_coll_apply(w->cfg.coll, key, NULL, remove_id);
		record_error(w, method, path, &resp, err, NULL);
	} else if (err) {
		record_error(w, method, path, &resp, err, NULL);
		if (err == -ENOENT || (resp.sent && !resp.status))
			rtk_coll_forget(w->cfg.coll, key);
	} else {
		rtk_ctl_record_write(w->cfg.ctl, 0, true, NULL);
		apply_answer(w, method, path, key, &resp, remove_id, created);
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

/* ---- files ---- */

static struct rtk_write_file *file_new(bool is_new, struct rtk_ino_node *dir)
{
	struct rtk_write_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->is_new = is_new;
	f->dir = dir;
	rtk_buf_init(&f->buf, RTK_WRITE_MAX);
	return f;
}

static void file_free(struct rtk_write_file *f)
{
	rtk_buf_release(&f->buf);
	free(f);
}

int rtk_write_open(struct rtk_write *w, struct rtk_ino_node *dir, unsigned index, int flags,
		   const struct rtk_op *op, struct rtk_write_file **out)
{
	const struct rtk_obj *o;
	struct rtk_write_file *f;
	struct rtk_held *h;
	struct rtk_ids ids;
	const char *bytes;
	size_t len;
	int err;

	*out = NULL;
	if (dir->kind != RTK_N_WEBHOOK ||
	    !rtk_path_field_is_writable(RTK_K_WEBHOOK, (enum rtk_field)index))
		return -EACCES;
	rtk_ino_ids(dir, &ids);
	err = rtk_coll_get_object(w->cfg.coll, RTK_K_WEBHOOK, &ids, op, &h, &o);
	if (err)
		return err;
	f = file_new(false, dir);
	if (!f) {
		rtk_held_unref(h);
		return -ENOMEM;
	}
	f->field = (enum rtk_field)index;
	if (flags & O_TRUNC) {
		f->truncated = true; /* ": > file" with nothing written sets an empty value */
	} else {
		bytes = rtk_obj_field(o, f->field, &len);
		if (bytes && rtk_buf_append(&f->buf, bytes, len) != 0)
			err = -ENOMEM;
	}
	rtk_held_unref(h);
	if (err) {
		file_free(f);
		return err;
	}
	*out = f;
	return 0;
}

int rtk_write_create(struct rtk_write *w, struct rtk_ino_node *parent, const char *name,
		     const struct rtk_op *op, struct rtk_attr *attr, struct rtk_write_file **out)
{
	struct rtk_write_file *f;
	struct pending *pd;
	const struct rtk_obj *o;
	struct rtk_held *h;
	struct rtk_ids ids;
	int err;

	*out = NULL;
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

	f = file_new(true, parent);
	pd = calloc(1, sizeof(*pd));
	if (!f || !pd) {
		free(pd);
		if (f)
			file_free(f);
		return -ENOMEM;
	}
	snprintf(pd->name, sizeof(pd->name), "%s", name);
	pd->parent = parent;
	pd->file = f;
	f->pending = pd;
	err = pending_add(w, pd);
	if (err) {
		file_free(f);
		free(pd);
		return err;
	}
	rtk_write_pending_attr(w, pd->ino, NULL, NULL, attr);
	*out = f;
	return 0;
}

int rtk_write_put(struct rtk_write_file *f, const char *buf, size_t len, uint64_t off)
{
	static const char zeros[256];
	int err;

	if (off > RTK_WRITE_MAX || len > RTK_WRITE_MAX - off)
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

int rtk_write_truncate(struct rtk_write_file *f, uint64_t size)
{
	if (size > RTK_WRITE_MAX)
		return -EFBIG;
	if (size < f->buf.len) {
		f->buf.len = size;
		if (f->buf.data)
			f->buf.data[size] = '\0';
	} else if (size > f->buf.len) {
		int err = rtk_write_put(f, "", 0, size);

		if (err < 0)
			return err;
	}
	f->dirty = true;
	return 0;
}

/* ---- flushing ---- */

static int flush_field(struct rtk_write *w, struct rtk_write_file *f, const struct rtk_op *op)
{
	char path[RTK_COLL_KEY_MAX + 3 * RTK_ID_MAX + 2], key[RTK_COLL_KEY_MAX], why[160] = "";
	const char *method = f->field == RTK_F_JSON ? "PUT" : "PATCH";
	const char *val = f->buf.data ? f->buf.data : "";
	const struct rtk_obj *cur;
	struct rtk_buf body;
	struct rtk_held *h;
	struct rtk_ids ids;
	int err;

	rtk_ino_ids(f->dir, &ids);
	err = webhook_paths(&ids, path, sizeof(path), key, sizeof(key));
	if (err)
		return err;
	err = rtk_coll_get_object(w->cfg.coll, RTK_K_WEBHOOK, &ids, op, &h, &cur);
	if (err)
		return err;
	rtk_buf_init(&body, RTK_WRITE_MAX * 2);
	if (f->field == RTK_F_JSON)
		err = rtk_value_put_body(val, f->buf.len, &body, why, sizeof(why));
	else
		err = rtk_value_patch_body(f->field, val, f->buf.len, cur, &body, why,
					   sizeof(why));
	rtk_held_unref(h);
	if (err == 1) {
		err = 0; /* unchanged: nothing to send */
	} else if (err) {
		err = err == -EFBIG ? -EINVAL : err;
		record_error(w, method, path, NULL, err, why[0] ? why : "invalid value");
	} else {
		err = send_write(w, method, path, key, &body, NULL, op, NULL);
	}
	rtk_buf_release(&body);
	/* What the writer's page cache holds is not what the server holds: drop it. */
	rtk_ino_inval_object(&w->cfg.hooks, f->dir);
	return err;
}

static void note_created(struct rtk_write *w, struct rtk_obj *created, const char *key)
{
	rtk_ctl_record_created(w->cfg.ctl, rtk_obj_id(created, NULL));
	rtk_info("created webhook '%s' in '%s'", rtk_obj_id(created, NULL), key);
	rtk_obj_unref(created);
}

static int flush_new(struct rtk_write *w, struct rtk_write_file *f, const struct rtk_op *op)
{
	const struct rtk_ino_hooks *hk = &w->cfg.hooks;
	char key[RTK_COLL_KEY_MAX], why[160] = "";
	struct rtk_obj *created = NULL;
	struct rtk_buf body;
	struct rtk_ids ids;
	int err;

	rtk_ino_ids(f->dir, &ids);
	rtk_buf_init(&body, RTK_WRITE_MAX * 2);
	err = rtk_coll_key(RTK_K_WEBHOOK, &ids, key, sizeof(key));
	if (!err)
		err = rtk_value_put_body(f->buf.data ? f->buf.data : "", f->buf.len, &body, why,
					 sizeof(why));
	if (err) {
		err = err == -EFBIG ? -EINVAL : err;
		record_error(w, "POST", key, NULL, err, why[0] ? why : "invalid webhook");
	} else {
		err = send_write(w, "POST", key, key, &body, NULL, op, &created);
	}
	rtk_buf_release(&body);
	if (created)
		note_created(w, created, key);
	/* The file is gone whatever happened: it became a webhook, or nothing. */
	pending_remove(w, f->pending);
	if (hk->inval_entry)
		hk->inval_entry(hk->ctx, f->dir->ino, f->pending->name);
	rtk_ino_inval_collection(hk, f->dir);
	free(f->pending);
	f->pending = NULL;
	return err;
}

int rtk_write_flush(struct rtk_write *w, struct rtk_write_file *f, const struct rtk_op *op)
{
	if (!f->dirty)
		return 0;
	f->dirty = false;
	f->truncated = false;
	if (!f->is_new)
		return flush_field(w, f, op);
	return f->pending ? flush_new(w, f, op) : 0;
}

void rtk_write_release(struct rtk_write *w, struct rtk_write_file *f)
{
	if (!f)
		return;
	if (!f->is_new && (f->dirty || f->truncated)) {
		/* Truncated and never written (": > events"), or written and never flushed:
		 * send it now; nobody is left to hear the result but the log. */
		struct rtk_op op = {
			.deadline_ns = rtk_clock_mono_ns() +
				       (w->cfg.timeout_ns ? w->cfg.timeout_ns : 15 * RTK_NS_PER_SEC),
		};

		f->dirty = true;
		rtk_write_flush(w, f, &op);
	}
	if (f->pending) { /* never flushed: leave nothing behind */
		pending_remove(w, f->pending);
		free(f->pending);
	}
	file_free(f);
}

int rtk_write_rmdir(struct rtk_write *w, struct rtk_ino_node *parent, const char *name,
		    const struct rtk_op *op)
{
	char path[RTK_COLL_KEY_MAX + 3 * RTK_ID_MAX + 2], key[RTK_COLL_KEY_MAX];
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
	err = send_write(w, "DELETE", path, key, NULL, name, op, NULL);
	rtk_ino_inval_object(&w->cfg.hooks, rtk_ino_find(w->cfg.ino, parent, name));
	rtk_ino_inval_collection(&w->cfg.hooks, parent);
	if (!err)
		rtk_info("deleted webhook '%s'", path);
	return err;
}
