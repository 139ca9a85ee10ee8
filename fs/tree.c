// SPDX-License-Identifier: MIT
/*
 * The namespace: answers the kernel's questions about inode numbers from the parts that
 * own each concept (see tree.h). Nothing here keeps state of its own but the parts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/api.h"
#include "rtkfs/collection.h"
#include "rtkfs/ctl.h"
#include "rtkfs/health.h"
#include "rtkfs/log.h"
#include "rtkfs/listing.h"
#include "rtkfs/obj.h"
#include "rtkfs/prefetch.h"
#include "rtkfs/tree.h"
#include "rtkfs/write.h"

struct rtk_tree {
	struct rtk_tree_config cfg;
	struct rtk_attr_ctx attr;
	struct rtk_ino *ino;
	struct rtk_health *health;
	struct rtk_prefetch *prefetch;
	struct rtk_coll *coll;
	struct rtk_ctl *ctl;
	struct rtk_write *write;
	char probe_path[128];
};

static enum rtk_kind obj_kind_of(enum rtk_node_kind k)
{
	return k == RTK_N_ACCOUNT ? RTK_K_ACCOUNT : k == RTK_N_APP ? RTK_K_APP : RTK_K_WEBHOOK;
}

/* The kind of objects a collection directory lists. */
static enum rtk_kind listed_kind_of(enum rtk_node_kind k)
{
	return k == RTK_N_ACCOUNTS ? RTK_K_ACCOUNT : k == RTK_N_APPS ? RTK_K_APP : RTK_K_WEBHOOK;
}

/* Is file index of dir the collection document (apps.json, webhooks.json)? */
static bool is_doc(const struct rtk_ino_node *dir, unsigned index)
{
	return index == RTK_PATH_DOC_INDEX &&
	       (dir->kind == RTK_N_ACCOUNT || dir->kind == RTK_N_APP);
}

/* ---- attributes ---- */

/* The collection document of object dir: its listing (a new reference) and bytes. */
static int get_doc(struct rtk_tree *t, const struct rtk_ino_node *dir, const struct rtk_op *op,
		   struct rtk_held **hold, const struct rtk_held_doc **doc)
{
	struct rtk_ids ids;
	int err;

	rtk_ino_ids(dir, &ids);
	err = rtk_coll_get(t->coll, obj_kind_of(dir->kind) + 1, &ids, op, hold);
	if (err)
		return err;
	err = rtk_held_doc(*hold, doc);
	if (err)
		rtk_held_unref(*hold);
	return err;
}

static int doc_attr(struct rtk_tree *t, const struct rtk_ino_node *dir, const struct rtk_op *op,
		    struct rtk_attr *out)
{
	const struct rtk_held_doc *doc;
	struct rtk_held *h;
	int err = get_doc(t, dir, op, &h, &doc);

	if (err)
		return err;
	rtk_attr_dir(&t->attr, rtk_ino_file(dir, RTK_PATH_DOC_INDEX), doc->mtime, out);
	out->st.st_mode = S_IFREG | 0444;
	out->st.st_size = (off_t)doc->len;
	out->st.st_blocks = (blkcnt_t)((doc->len + 511) / 512);
	rtk_held_unref(h);
	return 0;
}

static int collection_attr(struct rtk_tree *t, const struct rtk_ino_node *n,
			   const struct rtk_op *op, struct rtk_attr *out)
{
	struct rtk_ids ids;
	struct rtk_held *h;
	int err;

	rtk_ino_ids(n, &ids);
	err = rtk_coll_get(t->coll, listed_kind_of(n->kind), &ids, op, &h);
	if (err)
		return err;
	rtk_attr_dir(&t->attr, n->ino, h->changed, out);
	rtk_held_unref(h);
	return 0;
}

/* Attributes of a directory node, checking that what it stands for exists. */
static int node_attr(struct rtk_tree *t, struct rtk_ino_node *n, const struct rtk_op *op,
		     struct rtk_attr *out)
{
	const struct rtk_obj *o;
	struct rtk_held *h;
	struct rtk_ids ids;
	int err;

	switch (n->kind) {
	case RTK_N_ROOT:
	case RTK_N_CTL_DIR:
		rtk_attr_dir(&t->attr, n->ino, t->attr.mounted, out);
		return 0;
	case RTK_N_ACCOUNTS:
	case RTK_N_APPS:
	case RTK_N_WEBHOOKS:
		return collection_attr(t, n, op, out);
	case RTK_N_ACCOUNT:
	case RTK_N_APP:
	case RTK_N_WEBHOOK:
		rtk_ino_ids(n, &ids);
		err = rtk_coll_get_object(t->coll, obj_kind_of(n->kind), &ids, op, &h, &o);
		if (err)
			return err;
		rtk_attr_dir(&t->attr, n->ino, rtk_attr_obj_time(&t->attr, o), out);
		rtk_held_unref(h);
		return 0;
	default:
		return -EIO;
	}
}

/* Attributes of field index of object o in dir, as a writer may have changed them. */
static void field_attr(struct rtk_tree *t, const struct rtk_ino_node *dir, unsigned index,
		       const struct rtk_obj *o, struct rtk_attr *out)
{
	uint64_t ino = rtk_ino_file(dir, index);

	enum rtk_write_show show = RTK_WRITE_SHOW_CACHED;
	size_t len = 0;

	rtk_attr_field(&t->attr, ino, o, (enum rtk_field)index, out);
	if (dir->kind == RTK_N_WEBHOOK)
		show = rtk_write_shown(t->write, ino, NULL, &len);
	if (show == RTK_WRITE_SHOW_CACHED)
		return;
	/* Sized as the kernel holds it; an mtime of its own so that the server's value,
	 * whatever its length, replaces it in the page cache. */
	out->st.st_size = show == RTK_WRITE_SHOW_EMPTY ? 0 : (off_t)len;
	out->st.st_mtim.tv_nsec = out->st.st_mtim.tv_nsec ? out->st.st_mtim.tv_nsec - 1 : 1;
	out->volatile_attr = true;
}

/* Attributes of file index of dir (a field, or a control file under .rtkfs). */
static int file_attr(struct rtk_tree *t, struct rtk_ino_node *dir, unsigned index,
		     const struct rtk_op *op, struct rtk_attr *out)
{
	const struct rtk_obj *o;
	struct rtk_held *h;
	struct rtk_ids ids;
	int err;

	if (dir->kind == RTK_N_CTL_DIR) {
		if (index >= RTK_CTL__N)
			return -ENOENT;
		return rtk_ctl_attr(t->ctl, &t->attr, rtk_ino_file(dir, index),
				    (enum rtk_ctl_file)index, out);
	}
	if (dir->kind != RTK_N_ACCOUNT && dir->kind != RTK_N_APP && dir->kind != RTK_N_WEBHOOK)
		return -ENOENT;
	if (is_doc(dir, index))
		return doc_attr(t, dir, op, out);
	if (index >= RTK_F__N || !rtk_path_field_name(obj_kind_of(dir->kind), index))
		return -ENOENT;
	rtk_ino_ids(dir, &ids);
	err = rtk_coll_get_object(t->coll, obj_kind_of(dir->kind), &ids, op, &h, &o);
	if (err)
		return err;
	if (rtk_obj_is_bare(o))
		err = -ENOENT;
	else
		field_attr(t, dir, index, o, out);
	rtk_held_unref(h);
	return err;
}

/*
 * The directory and index of file ino, with the errors a file operation gives for what is
 * not a file: -EISDIR for a directory, -ENOENT for an unknown or impossible index.
 */
static int file_dir(struct rtk_tree *t, uint64_t ino, struct rtk_ino_node **dir,
		    unsigned *index)
{
	*dir = rtk_ino_file_of(t->ino, ino, index);
	if (!*dir)
		return rtk_ino_is_dir(ino) ? -EISDIR : -ENOENT;
	if (*index >= ((*dir)->kind == RTK_N_CTL_DIR ? (unsigned)RTK_CTL__N : (unsigned)RTK_F__N) &&
	    !is_doc(*dir, *index))
		return -ENOENT;
	return 0;
}

/* ---- lookup, getattr ---- */

int rtk_tree_getattr(struct rtk_tree *t, uint64_t ino, const struct rtk_op *op,
		     struct rtk_attr *out)
{
	struct rtk_ino_node *n;
	unsigned index;

	if (ino >= RTK_INO_PENDING_BASE)
		return rtk_write_pending_attr(t->write, ino, NULL, NULL, out);
	if (rtk_ino_is_dir(ino)) {
		n = rtk_ino_node_of(t->ino, ino);
		return n ? node_attr(t, n, op, out) : -ENOENT;
	}
	n = rtk_ino_file_of(t->ino, ino, &index);
	return n ? file_attr(t, n, index, op, out) : -ENOENT;
}

/* Look up an object directory: check the name is listed before making a node for it. */
static int lookup_object(struct rtk_tree *t, struct rtk_ino_node *p, const char *name,
			 enum rtk_node_kind kind, const struct rtk_op *op, struct rtk_attr *out)
{
	const struct rtk_obj *o;
	struct rtk_ino_node *n;
	struct rtk_held *h;
	struct rtk_ids ids;
	int err;

	rtk_ino_ids(p, &ids);
	if (kind == RTK_N_ACCOUNT)
		ids.account = name;
	else if (kind == RTK_N_APP)
		ids.app = name;
	else
		ids.webhook = name;
	err = rtk_coll_get_object(t->coll, obj_kind_of(kind), &ids, op, &h, &o);
	if (err)
		return err;
	n = rtk_ino_child(t->ino, p, name, kind, true);
	if (n)
		rtk_attr_dir(&t->attr, n->ino, rtk_attr_obj_time(&t->attr, o), out);
	rtk_held_unref(h);
	return n ? 0 : -ENOMEM;
}

int rtk_tree_lookup(struct rtk_tree *t, uint64_t parent, const char *name,
		    const struct rtk_op *op, struct rtk_attr *out)
{
	struct rtk_ino_node *p = rtk_ino_node_of(t->ino, parent), *n;
	struct rtk_path_step step;
	int err;

	if (!p)
		return rtk_ino_is_dir(parent) ? -ENOENT : -ENOTDIR;
	if (p->kind == RTK_N_WEBHOOKS &&
	    rtk_write_pending_attr(t->write, 0, p, name, out) == 0)
		return 0;
	err = rtk_path_step(p->kind, name, &step);
	if (err)
		return err;
	switch (step.kind) {
	case RTK_N_FIELD:
		return file_attr(t, p, step.field, op, out);
	case RTK_N_CTL_FILE:
		return file_attr(t, p, step.ctl, op, out);
	case RTK_N_DOC:
		return file_attr(t, p, RTK_PATH_DOC_INDEX, op, out);
	case RTK_N_ACCOUNT:
	case RTK_N_APP:
	case RTK_N_WEBHOOK:
		return lookup_object(t, p, name, step.kind, op, out);
	default:
		n = rtk_ino_child(t->ino, p, name, step.kind, true);
		if (!n)
			return -ENOMEM;
		err = node_attr(t, n, op, out);
		if (err)
			rtk_ino_forget(t->ino, n->ino, 1);
		return err;
	}
}

/* ---- readdir ---- */

struct dirent_emit {
	struct rtk_tree *t;
	bool (*emit)(void *ctx, const char *name, const struct rtk_attr *attr,
		     uint64_t next_off);
	void *ctx;
	uint64_t off, index; /* first index wanted, index of the next entry */
	bool plus;           /* entries hand out lookups of the child directories */
	bool full;
};

/* Offer one entry; false once the caller has no room. */
static bool offer(struct dirent_emit *e, const char *name, const struct rtk_attr *attr)
{
	uint64_t i = e->index++;

	if (e->full || i < e->off)
		return !e->full;
	if (!e->emit(e->ctx, name, attr, i + 1))
		e->full = true;
	return !e->full;
}

/* Offer child directory node c; the lookup readdirplus hands out is taken back if not sent. */
static bool offer_dir(struct dirent_emit *e, const struct rtk_ino_node *c,
		      const struct rtk_attr *attr)
{
	bool sent = offer(e, c->name, attr);

	if (!sent && e->plus)
		rtk_ino_forget(e->t->ino, c->ino, 1);
	return sent;
}

static int readdir_root(struct rtk_tree *t, struct rtk_ino_node *n, const struct rtk_op *op,
			struct dirent_emit *e)
{
	struct rtk_ino_node *c = rtk_ino_child(t->ino, n, "accounts", RTK_N_ACCOUNTS, e->plus);
	struct rtk_attr a;
	int err;

	if (!c)
		return -ENOMEM;
	err = node_attr(t, c, op, &a);
	if (!err)
		offer_dir(e, c, &a);
	else if (e->plus)
		rtk_ino_forget(t->ino, c->ino, 1);
	return err;
}

static int readdir_ctl(struct rtk_tree *t, struct rtk_ino_node *n, struct dirent_emit *e)
{
	struct rtk_attr a;
	unsigned i;
	int err;

	for (i = 0; i < RTK_CTL__N; i++) {
		err = rtk_ctl_attr(t->ctl, &t->attr, rtk_ino_file(n, i), (enum rtk_ctl_file)i, &a);
		if (err || !offer(e, rtk_path_ctl_name((enum rtk_ctl_file)i), &a))
			return err;
	}
	return 0;
}

static int readdir_collection(struct rtk_tree *t, struct rtk_ino_node *n,
			      const struct rtk_op *op, struct dirent_emit *e)
{
	enum rtk_kind k = listed_kind_of(n->kind);
	enum rtk_node_kind child = k == RTK_K_ACCOUNT ? RTK_N_ACCOUNT
				   : k == RTK_K_APP   ? RTK_N_APP
						      : RTK_N_WEBHOOK;
	struct rtk_ino_node *c;
	struct rtk_held *h;
	struct rtk_ids ids;
	struct rtk_attr a;
	size_t i, count;
	int err;

	rtk_ino_ids(n, &ids);
	err = rtk_coll_get(t->coll, k, &ids, op, &h);
	if (err)
		return err;
	count = rtk_listing_count(h->l);
	for (i = 0; i < count; i++) {
		const struct rtk_obj *o = rtk_listing_at(h->l, i);

		if (e->index + 1 <= e->off) { /* skip without making nodes */
			e->index++;
			continue;
		}
		c = rtk_ino_child(t->ino, n, rtk_obj_id(o, NULL), child, e->plus);
		if (!c) {
			err = -ENOMEM;
			break;
		}
		rtk_attr_dir(&t->attr, c->ino, rtk_attr_obj_time(&t->attr, o), &a);
		if (!offer_dir(e, c, &a))
			break;
	}
	rtk_held_unref(h);
	return err;
}

/*
 * The collection document and the sub-collection directory of object directory n. Their
 * attributes come from the sub-collection's listing, which ls of n should not fetch: when it
 * is cached and fresh (read-ahead fetched it), they are offered with it; else uncached (the
 * document with size 0), and the kernel asks for them on use.
 */
static int readdir_sub(struct rtk_tree *t, struct rtk_ino_node *n, const struct rtk_obj *owner,
		       struct dirent_emit *e)
{
	enum rtk_kind k = obj_kind_of(n->kind);
	enum rtk_node_kind sub = n->kind == RTK_N_ACCOUNT ? RTK_N_APPS : RTK_N_WEBHOOKS;
	const struct rtk_held_doc *doc = NULL;
	struct rtk_held *h = NULL;
	struct rtk_ino_node *c;
	struct rtk_ids ids;
	struct rtk_attr a;

	rtk_ino_ids(n, &ids);
	if (rtk_coll_peek(t->coll, k + 1, &ids, &h) == 0 && rtk_held_doc(h, &doc) != 0)
		doc = NULL;
	rtk_attr_volatile_file(&t->attr, rtk_ino_file(n, RTK_PATH_DOC_INDEX), 0444, 0, &a);
	a.st.st_mtim = a.st.st_ctim = a.st.st_atim = rtk_attr_obj_time(&t->attr, owner);
	if (doc) {
		rtk_attr_dir(&t->attr, a.st.st_ino, doc->mtime, &a);
		a.st.st_mode = S_IFREG | 0444;
		a.st.st_size = (off_t)doc->len;
		a.st.st_blocks = (blkcnt_t)((doc->len + 511) / 512);
	}
	if (!offer(e, rtk_path_doc_name(k + 1), &a))
		goto out;
	c = rtk_ino_child(t->ino, n, rtk_path_collection_name(k + 1), sub, e->plus);
	if (!c) {
		rtk_held_unref(h);
		return -ENOMEM;
	}
	rtk_attr_dir(&t->attr, c->ino, h ? h->changed : rtk_attr_obj_time(&t->attr, owner), &a);
	a.volatile_attr = !h;
	offer_dir(e, c, &a);
out:
	rtk_held_unref(h);
	return 0;
}

static int readdir_object(struct rtk_tree *t, struct rtk_ino_node *n, const struct rtk_op *op,
			  struct dirent_emit *e)
{
	enum rtk_kind k = obj_kind_of(n->kind);
	const struct rtk_obj *owner;
	struct rtk_held *h;
	struct rtk_ids ids;
	struct rtk_attr a;
	unsigned i;
	int err;

	rtk_ino_ids(n, &ids);
	err = rtk_coll_get_object(t->coll, k, &ids, op, &h, &owner);
	if (err)
		return err;
	for (i = 0; i < RTK_F__N && !rtk_obj_is_bare(owner); i++) {
		const char *fname = rtk_path_field_name(k, (enum rtk_field)i);

		if (!fname)
			continue;
		field_attr(t, n, i, owner, &a);
		if (!offer(e, fname, &a))
			goto out_unref;
	}
	if (n->kind != RTK_N_WEBHOOK)
		err = readdir_sub(t, n, owner, e);
out_unref:
	rtk_held_unref(h);
	return err;
}

int rtk_tree_readdir(struct rtk_tree *t, uint64_t ino, uint64_t off, bool plus,
		     const struct rtk_op *op,
		     bool (*emit)(void *ctx, const char *name, const struct rtk_attr *attr,
				  uint64_t next_off),
		     void *ctx)
{
	struct dirent_emit e = {.t = t, .emit = emit, .ctx = ctx, .off = off, .plus = plus};
	struct rtk_ino_node *n = rtk_ino_node_of(t->ino, ino);
	struct rtk_attr self, a;
	int err;

	if (!n)
		return rtk_ino_is_dir(ino) ? -ENOENT : -ENOTDIR;
	err = node_attr(t, n, op, &self);
	if (err)
		return err;
	if (!offer(&e, ".", &self))
		return 0;
	rtk_attr_dir(&t->attr, n->parent ? n->parent->ino : n->ino, t->attr.mounted, &a);
	if (!offer(&e, "..", &a))
		return 0;
	switch (n->kind) {
	case RTK_N_ROOT:
		return readdir_root(t, n, op, &e);
	case RTK_N_CTL_DIR:
		return readdir_ctl(t, n, &e);
	case RTK_N_ACCOUNTS:
	case RTK_N_APPS:
	case RTK_N_WEBHOOKS:
		return readdir_collection(t, n, op, &e);
	case RTK_N_ACCOUNT:
	case RTK_N_APP:
	case RTK_N_WEBHOOK:
		return readdir_object(t, n, op, &e);
	default:
		return -ENOTDIR;
	}
}

static bool is_object(const struct rtk_ino_node *n)
{
	return n->kind == RTK_N_ACCOUNT || n->kind == RTK_N_APP || n->kind == RTK_N_WEBHOOK;
}

void rtk_tree_push_dir(struct rtk_tree *t, uint64_t ino)
{
	struct rtk_ino_node *n = rtk_ino_node_of(t->ino, ino);

	if (n && is_object(n))
		rtk_coll_push_object(t->coll, n, obj_kind_of(n->kind), UINT32_MAX, false);
}

void rtk_tree_push_file(struct rtk_tree *t, uint64_t ino)
{
	unsigned index;
	struct rtk_ino_node *n = ino < RTK_INO_PENDING_BASE ? rtk_ino_file_of(t->ino, ino, &index)
							    : NULL;

	if (n && is_object(n) && index < RTK_F__N)
		rtk_coll_push_object(t->coll, n, obj_kind_of(n->kind), 1u << index, true);
}

/* ---- read ---- */

static int read_doc(struct rtk_tree *t, const struct rtk_ino_node *dir, uint64_t off,
		    size_t size, const struct rtk_op *op, struct rtk_tree_data *out)
{
	const struct rtk_held_doc *doc;
	struct rtk_held *h;
	int err = get_doc(t, dir, op, &h, &doc);

	if (err)
		return err;
	out->hold = h;
	if (off < doc->len) {
		out->p = doc->bytes + off;
		out->n = doc->len - off < size ? doc->len - off : size;
	}
	return 0;
}

int rtk_tree_read(struct rtk_tree *t, uint64_t ino, uint64_t off, size_t size,
		  const struct rtk_op *op, struct rtk_tree_data *out)
{
	struct rtk_ino_node *dir;
	const struct rtk_obj *o;
	struct rtk_held *h;
	struct rtk_ids ids;
	const char *bytes;
	unsigned index;
	size_t len;
	int err;

	memset(out, 0, sizeof(*out));
	if (ino >= RTK_INO_PENDING_BASE) /* a file being created reads empty */
		return rtk_write_pending_attr(t->write, ino, NULL, NULL, &(struct rtk_attr){0});
	err = file_dir(t, ino, &dir, &index);
	if (err)
		return err;
	if (dir->kind == RTK_N_WEBHOOK &&
	    rtk_write_shown(t->write, ino, &out->owned, &len) != RTK_WRITE_SHOW_CACHED &&
	    out->owned) {
		if (off < len) { /* what the kernel holds of it */
			out->p = out->owned + off;
			out->n = len - off < size ? len - off : size;
		}
		return 0;
	}
	if (dir->kind == RTK_N_CTL_DIR) {
		err = rtk_ctl_read(t->ctl, (enum rtk_ctl_file)index, off, size, &out->owned,
				   &out->n);
		out->p = out->owned;
		return err;
	}
	if (is_doc(dir, index))
		return read_doc(t, dir, off, size, op, out);
	rtk_ino_ids(dir, &ids);
	err = rtk_coll_get_object(t->coll, obj_kind_of(dir->kind), &ids, op, &h, &o);
	if (err)
		return err;
	bytes = rtk_obj_field(o, (enum rtk_field)index, &len);
	if (!bytes) {
		rtk_held_unref(h);
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
	rtk_held_unref(d->hold);
	free(d->owned);
	memset(d, 0, sizeof(*d));
}

/* ---- writes ---- */

int rtk_tree_write(struct rtk_tree *t, uint64_t ino, const char *buf, size_t len, uint64_t off,
		   const struct rtk_op *op)
{
	struct rtk_ino_node *dir;
	unsigned index;
	int err;

	if (ino >= RTK_INO_PENDING_BASE) /* a file being created */
		return rtk_write_pending_put(t->write, ino, buf, len, off, op);
	dir = rtk_ino_file_of(t->ino, ino, &index);
	if (!dir)
		return -EACCES;
	if (dir->kind == RTK_N_CTL_DIR) {
		if (index != RTK_CTL_CTL)
			return -EACCES;
		err = rtk_ctl_command(t->ctl, buf, len);
		return err < 0 ? err : (int)len;
	}
	if (t->cfg.ro)
		return -EROFS;
	return rtk_write_field(t->write, dir, index, buf, len, off, op);
}

int rtk_tree_truncate(struct rtk_tree *t, uint64_t ino, uint64_t size)
{
	struct rtk_ino_node *dir;
	unsigned index;

	dir = rtk_ino_file_of(t->ino, ino, &index);
	if (dir && dir->kind == RTK_N_CTL_DIR && index == RTK_CTL_CTL && size == 0)
		return 0; /* "> .rtkfs/ctl" */
	if (t->cfg.ro)
		return -EROFS;
	if (!dir || size != 0)
		return -EPERM;
	return rtk_write_empty(t->write, dir, index);
}

int rtk_tree_create(struct rtk_tree *t, uint64_t parent, const char *name, int flags,
		    const struct rtk_op *op, struct rtk_attr *attr)
{
	struct rtk_ino_node *p = rtk_ino_node_of(t->ino, parent);

	if (!p)
		return -ENOENT;
	if (t->cfg.ro)
		return -EROFS;
	return rtk_write_create(t->write, p, name, op, attr);
}

void rtk_tree_note_paged(struct rtk_tree *t, uint64_t ino)
{
	rtk_ino_note_paged(t->ino, ino);
}

void rtk_tree_forget(struct rtk_tree *t, uint64_t ino, uint64_t nlookup)
{
	rtk_ino_forget(t->ino, ino, nlookup);
}

size_t rtk_tree_nodes(struct rtk_tree *t)
{
	return rtk_ino_count(t->ino);
}

int rtk_tree_rmdir(struct rtk_tree *t, uint64_t parent, const char *name,
		   const struct rtk_op *op)
{
	struct rtk_ino_node *p = rtk_ino_node_of(t->ino, parent);

	if (!p)
		return -ENOENT;
	if (t->cfg.ro)
		return -EROFS;
	return rtk_write_rmdir(t->write, p, name, op);
}

/* ---- life cycle ---- */

/* Is the object of node n still in a cached listing (its number then stays)? */
static bool node_held(void *ctx, const struct rtk_ino_node *n)
{
	struct rtk_tree *t = ctx;
	struct rtk_ids ids;

	if (!t->coll || (n->kind != RTK_N_ACCOUNT && n->kind != RTK_N_APP &&
			 n->kind != RTK_N_WEBHOOK))
		return false;
	rtk_ino_ids(n, &ids);
	return rtk_coll_lists(t->coll, obj_kind_of(n->kind), &ids);
}

static void prefetch_fetch(void *ctx, enum rtk_kind k, const struct rtk_ids *ids,
			   const struct rtk_op *op)
{
	struct rtk_tree *t = ctx;
	struct rtk_held *h;

	if (rtk_coll_get(t->coll, k, ids, op, &h) == 0)
		rtk_held_unref(h);
}

/* The cheapest GET the token can make, for the degraded-mode probe. */
static const char *probe_path(struct rtk_tree *t, const char **query)
{
	char enc[3 * RTK_ID_MAX + 1];
	const char *a = t->cfg.naccounts ? t->cfg.accounts[0] : NULL;

	*query = "page=1&per_page=1";
	if (a && rtk_path_encode(a, strlen(a), enc, sizeof(enc)) >= 0 &&
	    (size_t)snprintf(t->probe_path, sizeof(t->probe_path),
			     "/accounts/%s/realtime/kit/apps", enc) < sizeof(t->probe_path)) {
		*query = "page_no=1&per_page=1";
		return t->probe_path;
	}
	return "/accounts";
}

static int make_parts(struct rtk_tree *t)
{
	const char *query, *path = probe_path(t, &query);
	struct rtk_health_config hc = {.api = t->cfg.api, .probe_path = path, .probe_query = query};
	struct rtk_prefetch_config pc = {
		.threads = t->cfg.prefetch,
		.timeout_ns = t->cfg.timeout_ns,
		.api = t->cfg.api,
		.fetch = prefetch_fetch,
		.ctx = t,
	};

	t->ino = rtk_ino_new(node_held, t);
	t->health = rtk_health_new(&hc);
	t->prefetch = rtk_prefetch_new(&pc);
	if (!t->ino || !t->health || !t->prefetch)
		return -ENOMEM;
	{
		struct rtk_coll_config cc = {
			.api = t->cfg.api, .cache = t->cfg.cache,
			.health = t->health, .ino = t->ino, .prefetch = t->prefetch,
			.hooks = t->cfg.hooks, .accounts = t->cfg.accounts,
			.naccounts = t->cfg.naccounts, .max_body = t->cfg.max_body,
			.mounted = t->attr.mounted,
			.shared = t->cfg.shared, .timeout_ns = t->cfg.timeout_ns,
		};
		struct rtk_ctl_config xc = {
			.api = t->cfg.api, .cache = t->cfg.cache,
			.health = t->health, .accounts = t->cfg.accounts,
			.naccounts = t->cfg.naccounts, .shared = t->cfg.shared,
			.kernel_stats = t->cfg.kernel_stats, .kernel_ctx = t->cfg.kernel_ctx,
		};

		t->ctl = rtk_ctl_new(&xc);
		cc.ctl = t->ctl;
		t->coll = t->ctl ? rtk_coll_new(&cc) : NULL;
	}
	if (!t->coll || !t->ctl)
		return -ENOMEM;
	{
		struct rtk_write_config wc = {
			.api = t->cfg.api, .coll = t->coll, .ino = t->ino, .ctl = t->ctl,
			.health = t->health, .hooks = t->cfg.hooks, .attr = &t->attr,
			.max_body = t->cfg.max_body, .clock = t->cfg.clock,
		};

		t->write = rtk_write_new(&wc);
	}
	return t->write ? 0 : -ENOMEM;
}

struct rtk_tree *rtk_tree_new(const struct rtk_tree_config *cfg)
{
	struct rtk_tree *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cfg = *cfg;
	t->attr.uid = cfg->uid;
	t->attr.gid = cfg->gid;
	t->attr.ro = cfg->ro;
	t->attr.mounted = rtk_attr_now();
	if (make_parts(t) != 0) {
		rtk_tree_free(t);
		return NULL;
	}
	return t;
}

int rtk_tree_start(struct rtk_tree *t)
{
	int err = rtk_health_start(t->health);

	return err ? err : rtk_prefetch_start(t->prefetch);
}

void rtk_tree_free(struct rtk_tree *t)
{
	if (!t)
		return;
	/* Threads first (read-ahead uses the rest), then the parts in reverse order of use. */
	rtk_prefetch_free(t->prefetch);
	rtk_health_free(t->health);
	rtk_write_free(t->write);
	rtk_ctl_free(t->ctl);
	rtk_coll_free(t->coll);
	rtk_ino_free(t->ino);
	free(t);
}
