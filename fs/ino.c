// SPDX-License-Identifier: MIT
/*
 * ino: two hash tables (by number, by parent and name) of directory nodes under one mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/ino.h"

#define BUCKETS_INITIAL 1024

struct rtk_ino {
	bool (*held)(void *ctx, const struct rtk_ino_node *n);
	void *held_ctx;
	pthread_mutex_t lock;
	struct rtk_ino_node **by_ino, **by_name;
	size_t nbuckets, nnodes;
	uint64_t next_index;
	struct rtk_ino_node *root;
};

static uint64_t name_hash(const struct rtk_ino_node *parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ (uintptr_t)parent; /* FNV-1a */

	while (*name) {
		h ^= (unsigned char)*name++;
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t ino_hash(uint64_t ino)
{
	return (ino / RTK_INO_STRIDE) * 0x9e3779b97f4a7c15ull;
}

struct rtk_ino *rtk_ino_new(bool (*held)(void *ctx, const struct rtk_ino_node *n), void *ctx)
{
	struct rtk_ino *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->held = held;
	t->held_ctx = ctx;
	if (pthread_mutex_init(&t->lock, NULL)) {
		free(t);
		return NULL;
	}
	t->nbuckets = BUCKETS_INITIAL;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_name = calloc(t->nbuckets, sizeof(*t->by_name));
	t->root = calloc(1, sizeof(*t->root) + 1);
	if (!t->by_ino || !t->by_name || !t->root) {
		rtk_ino_free(t);
		return NULL;
	}
	t->root->ino = RTK_INO_ROOT;
	t->root->kind = RTK_N_ROOT;
	return t;
}

void rtk_ino_free(struct rtk_ino *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; t->by_ino && i < t->nbuckets; i++) {
		struct rtk_ino_node *e = t->by_ino[i], *next;

		for (; e; e = next) {
			next = e->next_by_ino;
			free(e);
		}
	}
	free(t->by_ino);
	free(t->by_name);
	free(t->root);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct rtk_ino_node *rtk_ino_root(struct rtk_ino *t)
{
	return t->root;
}

static void grow_tables(struct rtk_ino *t)
{
	size_t n = t->nbuckets * 2, i;
	struct rtk_ino_node **bi = calloc(n, sizeof(*bi)), **bn = calloc(n, sizeof(*bn));

	if (!bi || !bn) {
		free(bi);
		free(bn);
		return; /* longer chains, still correct */
	}
	for (i = 0; i < t->nbuckets; i++) {
		struct rtk_ino_node *e, *next;

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

static struct rtk_ino_node *find_locked(struct rtk_ino *t, const struct rtk_ino_node *parent,
					const char *name, uint64_t h)
{
	struct rtk_ino_node *e;

	for (e = t->by_name[h & (t->nbuckets - 1)]; e; e = e->next_by_name)
		if (e->name_hash == h && e->parent == parent && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void insert_locked(struct rtk_ino *t, struct rtk_ino_node *n)
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

struct rtk_ino_node *rtk_ino_child(struct rtk_ino *t, struct rtk_ino_node *parent,
				   const char *name, enum rtk_node_kind kind, bool ref)
{
	uint64_t h = name_hash(parent, name);
	size_t len = strlen(name);
	struct rtk_ino_node *n;

	pthread_mutex_lock(&t->lock);
	n = find_locked(t, parent, name, h);
	if (n)
		goto out;
	n = calloc(1, sizeof(*n) + len + 1);
	if (!n)
		goto out;
	n->ino = ++t->next_index * RTK_INO_STRIDE;
	n->parent = parent;
	n->kind = kind;
	n->name_hash = h;
	memcpy(n->name, name, len + 1);
	insert_locked(t, n);
	if (parent)
		parent->nchildren++;
out:
	if (n && ref)
		n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

static void unlink_locked(struct rtk_ino *t, struct rtk_ino_node *n)
{
	struct rtk_ino_node **pp;

	for (pp = &t->by_ino[ino_hash(n->ino) & (t->nbuckets - 1)]; *pp; pp = &(*pp)->next_by_ino)
		if (*pp == n) {
			*pp = n->next_by_ino;
			break;
		}
	for (pp = &t->by_name[n->name_hash & (t->nbuckets - 1)]; *pp; pp = &(*pp)->next_by_name)
		if (*pp == n) {
			*pp = n->next_by_name;
			break;
		}
	t->nnodes--;
}

/* Free n, then each parent that this leaves unused. Lock held. */
static void free_unused_locked(struct rtk_ino *t, struct rtk_ino_node *n)
{
	struct rtk_ino_node *parent;

	while (n && n != t->root && !n->nlookup && !n->nchildren &&
	       !(t->held && t->held(t->held_ctx, n))) {
		parent = n->parent;
		unlink_locked(t, n);
		free(n);
		if (parent)
			parent->nchildren--;
		n = parent;
	}
}

void rtk_ino_forget(struct rtk_ino *t, uint64_t ino, uint64_t count)
{
	struct rtk_ino_node *n;

	if (ino == RTK_INO_ROOT || !rtk_ino_is_dir(ino))
		return;
	pthread_mutex_lock(&t->lock);
	for (n = t->by_ino[ino_hash(ino) & (t->nbuckets - 1)]; n; n = n->next_by_ino)
		if (n->ino == ino)
			break;
	if (n) {
		n->nlookup = count < n->nlookup ? n->nlookup - count : 0;
		/* The kernel let go of the directory, so of every file in it (they hold it). */
		if (!n->nlookup)
			atomic_store(&n->paged, 0);
		free_unused_locked(t, n);
	}
	pthread_mutex_unlock(&t->lock);
}

struct rtk_ino_node *rtk_ino_find(struct rtk_ino *t, struct rtk_ino_node *parent,
				  const char *name)
{
	struct rtk_ino_node *n;

	if (!parent)
		return NULL;
	pthread_mutex_lock(&t->lock);
	n = find_locked(t, parent, name, name_hash(parent, name));
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct rtk_ino_node *rtk_ino_node_of(struct rtk_ino *t, uint64_t ino)
{
	struct rtk_ino_node *e;

	if (ino == RTK_INO_ROOT)
		return t->root;
	if (!rtk_ino_is_dir(ino))
		return NULL;
	pthread_mutex_lock(&t->lock);
	for (e = t->by_ino[ino_hash(ino) & (t->nbuckets - 1)]; e; e = e->next_by_ino)
		if (e->ino == ino)
			break;
	pthread_mutex_unlock(&t->lock);
	return e;
}

bool rtk_ino_is_dir(uint64_t ino)
{
	return ino == RTK_INO_ROOT || (ino < RTK_INO_PENDING_BASE && ino % RTK_INO_STRIDE == 0);
}

struct rtk_ino_node *rtk_ino_file_of(struct rtk_ino *t, uint64_t ino, unsigned *index)
{
	if (rtk_ino_is_dir(ino) || ino < RTK_INO_STRIDE || ino >= RTK_INO_PENDING_BASE)
		return NULL;
	*index = (unsigned)(ino % RTK_INO_STRIDE) - 1;
	return rtk_ino_node_of(t, ino - ino % RTK_INO_STRIDE);
}

uint32_t rtk_ino_mark_paged(struct rtk_ino_node *dir, uint32_t mask)
{
	return mask & ~(uint32_t)atomic_fetch_or(&dir->paged, mask);
}

void rtk_ino_note_paged(struct rtk_ino *t, uint64_t ino)
{
	struct rtk_ino_node *dir;
	unsigned index;

	dir = rtk_ino_file_of(t, ino, &index);
	if (dir && index < 32 && !(atomic_load(&dir->paged) & (1u << index)))
		atomic_fetch_or(&dir->paged, 1u << index);
}

uint64_t rtk_ino_file(const struct rtk_ino_node *dir, unsigned index)
{
	return dir->ino + 1 + index;
}

void rtk_ino_ids(const struct rtk_ino_node *n, struct rtk_ids *ids)
{
	memset(ids, 0, sizeof(*ids));
	for (; n; n = n->parent) {
		if (n->kind == RTK_N_ACCOUNT)
			ids->account = n->name;
		else if (n->kind == RTK_N_APP)
			ids->app = n->name;
		else if (n->kind == RTK_N_WEBHOOK)
			ids->webhook = n->name;
	}
}

bool rtk_ino_held(struct rtk_ino *t, const struct rtk_ino_node *n)
{
	bool held;

	pthread_mutex_lock(&t->lock);
	held = n->nlookup > 0;
	pthread_mutex_unlock(&t->lock);
	return held;
}

size_t rtk_ino_count(struct rtk_ino *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->nnodes;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/*
 * A file of dir that a WRITE may hold (a writable field of a webhook): after a write to
 * another of its files, its invalidation goes where nothing waits for it (inval_written), as
 * its writer may be waiting in settle with its pages locked: a settle queued behind it would
 * wait for itself (the bound, every time) and hold up every other writer's too.
 */
static bool may_be_written(const struct rtk_ino_hooks *hk, const struct rtk_ino_node *dir,
			   unsigned f)
{
	return hk->inval_written && dir->kind == RTK_N_WEBHOOK && f < RTK_F__N &&
	       rtk_path_field_is_writable(RTK_K_WEBHOOK, (enum rtk_field)f);
}

/* Drop the kernel's caches of object dir, its files but file skip (RTK_PATH_DOC_INDEX + 1:
 * none) and its collection document; written: a write to skip is being answered. */
static void inval_object_but(const struct rtk_ino_hooks *hk, const struct rtk_ino_node *dir,
			     unsigned skip, bool written)
{
	const struct rtk_ino_node *owner;
	unsigned f;

	if (!hk->inval_inode || !dir)
		return;
	hk->inval_inode(hk->ctx, dir->ino);
	for (f = 0; f <= RTK_PATH_DOC_INDEX; f++) {
		if (f == skip)
			continue;
		if (written && may_be_written(hk, dir, f))
			hk->inval_written(hk->ctx, rtk_ino_file(dir, f));
		else
			hk->inval_inode(hk->ctx, rtk_ino_file(dir, f));
	}
	/* The collection document that holds this object (apps.json, webhooks.json). */
	owner = dir->parent ? dir->parent->parent : NULL;
	if (owner && (owner->kind == RTK_N_ACCOUNT || owner->kind == RTK_N_APP))
		hk->inval_inode(hk->ctx, rtk_ino_file(owner, RTK_PATH_DOC_INDEX));
}

void rtk_ino_inval_object(const struct rtk_ino_hooks *hk, const struct rtk_ino_node *dir)
{
	inval_object_but(hk, dir, RTK_PATH_DOC_INDEX + 1, false);
}

void rtk_ino_inval_written(const struct rtk_ino_hooks *hk, const struct rtk_ino_node *dir,
			   unsigned index, uint64_t until_ns)
{
	uint64_t written = rtk_ino_file(dir, index);

	if (!hk->inval_inode)
		return;
	/*
	 * No other write of the object under way (until_ns): no WRITE holds a page of its other
	 * files (webhook.json and the fields are all writable), so their invalidations go on the
	 * queue settle waits for. Sent on inval_written's own queue, they may land after write()
	 * returns: 1 read in ~200 right after write() showed webhook.json's old bytes.
	 */
	inval_object_but(hk, dir, index, !(hk->settle && until_ns));
	if (hk->settle && until_ns)
		hk->settle(hk->ctx, until_ns);
	(hk->inval_written ? hk->inval_written : hk->inval_inode)(hk->ctx, written);
}

void rtk_ino_inval_collection(const struct rtk_ino_hooks *hk, const struct rtk_ino_node *coll)
{
	const struct rtk_ino_node *owner = coll ? coll->parent : NULL;

	if (!hk->inval_inode || !coll)
		return;
	hk->inval_inode(hk->ctx, coll->ino);
	if (owner && (owner->kind == RTK_N_ACCOUNT || owner->kind == RTK_N_APP))
		hk->inval_inode(hk->ctx, rtk_ino_file(owner, RTK_PATH_DOC_INDEX));
}
