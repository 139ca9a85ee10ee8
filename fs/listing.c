// SPDX-License-Identifier: MIT
/*
 * listing: an array of object references in the server's order, followed by the same
 * references sorted by id (binary search); the builder keeps an open-addressing set on the
 * id to fold duplicates in O(1).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtkfs/listing.h"
#include "rtkfs/path.h"

struct rtk_listing {
	atomic_size_t refs;
	enum rtk_kind kind;
	size_t n;
	size_t bytes;
	struct rtk_obj **index; /* n entries after objs[n], sorted by id */
	struct rtk_obj *objs[]; /* server order */
};

struct rtk_listing_builder {
	enum rtk_kind kind;
	struct rtk_obj **objs;
	size_t n, cap;
	struct rtk_obj **set; /* open addressing on the id, setcap a power of two */
	size_t setcap;
	uint64_t seed;
};

/* ---- listings ---- */

static int id_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

/* Compare o's id with id. */
static int obj_id_cmp(const struct rtk_obj *o, const char *id, size_t len)
{
	size_t olen;
	const char *oid = rtk_obj_id(o, &olen);

	return id_cmp(oid, olen, id, len);
}

static int obj_cmp(const void *pa, const void *pb)
{
	const struct rtk_obj *a = *(const struct rtk_obj *const *)pa;
	const struct rtk_obj *b = *(const struct rtk_obj *const *)pb;
	size_t blen;
	const char *bid = rtk_obj_id(b, &blen);

	return obj_id_cmp(a, bid, blen);
}

static struct rtk_listing *listing_alloc(enum rtk_kind k, size_t n)
{
	struct rtk_listing *l;

	if (n > (SIZE_MAX - sizeof(*l)) / (2 * sizeof(l->objs[0])))
		return NULL;
	l = malloc(sizeof(*l) + 2 * n * sizeof(l->objs[0]));
	if (!l)
		return NULL;
	atomic_init(&l->refs, 1);
	l->kind = k;
	l->n = n;
	l->index = l->objs + n;
	l->bytes = 0;
	return l;
}

static void listing_count_bytes(struct rtk_listing *l)
{
	size_t i, bytes = sizeof(*l) + 2 * l->n * sizeof(l->objs[0]);

	for (i = 0; i < l->n; i++)
		bytes += rtk_obj_bytes(l->objs[i]);
	l->bytes = bytes;
}

void rtk_listing_ref(struct rtk_listing *l)
{
	if (l)
		atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
}

void rtk_listing_unref(struct rtk_listing *l)
{
	size_t i;

	if (!l)
		return;
	/* acq_rel, not a fence: see rtk_obj_unref. */
	if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < l->n; i++)
		rtk_obj_unref(l->objs[i]);
	free(l);
}

enum rtk_kind rtk_listing_kind(const struct rtk_listing *l)
{
	return l->kind;
}

size_t rtk_listing_count(const struct rtk_listing *l)
{
	return l ? l->n : 0;
}

const struct rtk_obj *rtk_listing_at(const struct rtk_listing *l, size_t i)
{
	if (!l || i >= l->n)
		return NULL;
	return l->objs[i];
}

/* Position in the index of the first entry not below id; *found if it is id. */
static size_t index_lower(const struct rtk_listing *l, const char *id, size_t len, bool *found)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rtk_obj *o = l->index[mid];

		if (obj_id_cmp(o, id, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < l->n && obj_id_cmp(l->index[lo], id, len) == 0;
	return lo;
}

const struct rtk_obj *rtk_listing_find(const struct rtk_listing *l, const char *id, size_t len)
{
	bool found;
	size_t i;

	if (!l || !id)
		return NULL;
	i = index_lower(l, id, len, &found);
	return found ? l->index[i] : NULL;
}

size_t rtk_listing_bytes(const struct rtk_listing *l)
{
	return l ? l->bytes : 0;
}

/* doc (n bytes, a pretty JSON document ending in a newline) indented by two more spaces. */
static int put_indented(struct rtk_buf *out, const char *doc, size_t n)
{
	const char *p = doc, *end = doc + n, *nl;
	int err = 0;

	while (!err && p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		err = rtk_buf_append(out, "  ", 2);
		if (!err)
			err = rtk_buf_append(out, p, (size_t)(nl - p));
		p = nl + 1;
		if (!err && p < end)
			err = rtk_buf_append(out, "\n", 1);
	}
	return err;
}

int rtk_listing_render_array(const struct rtk_listing *l, struct rtk_buf *out)
{
	bool first = true;
	size_t i, n;
	int err = rtk_buf_append(out, "[", 1);

	for (i = 0; !err && i < l->n; i++) {
		const char *doc = rtk_obj_field(l->objs[i], RTK_F_JSON, &n);

		if (!doc || !n)
			continue;
		err = rtk_buf_append(out, first ? "\n" : ",\n", first ? 1 : 2);
		if (!err)
			err = put_indented(out, doc, n);
		first = false;
	}
	if (!err)
		err = rtk_buf_append(out, first ? "]\n" : "\n]\n", first ? 2 : 3);
	return err;
}

bool rtk_listing_equal(const struct rtk_listing *a, const struct rtk_listing *b)
{
	size_t i;

	if (a == b)
		return true;
	if (!a || !b || a->kind != b->kind || a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		if (!rtk_obj_equal(a->objs[i], b->objs[i]))
			return false;
	}
	return true;
}

struct rtk_listing *rtk_listing_replace(const struct rtk_listing *l, struct rtk_obj *o)
{
	struct rtk_listing *nl;
	const struct rtk_obj *old;
	size_t i, at, n, idlen;
	const char *id;
	bool found;

	if (!l || !o || rtk_obj_kind(o) != l->kind)
		return NULL;
	id = rtk_obj_id(o, &idlen);
	at = index_lower(l, id, idlen, &found);
	n = l->n + (found ? 0 : 1);
	nl = listing_alloc(l->kind, n);
	if (!nl)
		return NULL;
	old = found ? l->index[at] : NULL;
	for (i = 0; i < l->n; i++)
		nl->objs[i] = l->objs[i] == old ? o : l->objs[i];
	if (!found)
		nl->objs[l->n] = o;
	/* Same id, same place in the index; a new id goes where the search stopped. */
	memcpy(nl->index, l->index, at * sizeof(nl->index[0]));
	nl->index[at] = o;
	memcpy(nl->index + at + 1, l->index + at + (found ? 1 : 0),
	       (l->n - at - (found ? 1 : 0)) * sizeof(nl->index[0]));
	for (i = 0; i < n; i++)
		rtk_obj_ref(nl->objs[i]);
	listing_count_bytes(nl);
	return nl;
}

struct rtk_listing *rtk_listing_remove(const struct rtk_listing *l, const char *id, size_t len)
{
	struct rtk_listing *nl;
	const struct rtk_obj *old;
	size_t i, j, at;
	bool found;

	if (!l)
		return NULL;
	at = index_lower(l, id, len, &found);
	nl = listing_alloc(l->kind, l->n - (found ? 1 : 0));
	if (!nl)
		return NULL;
	old = found ? l->index[at] : NULL;
	for (i = 0, j = 0; i < l->n; i++) {
		if (l->objs[i] != old)
			nl->objs[j++] = l->objs[i];
	}
	for (i = 0, j = 0; i < l->n; i++) {
		if (l->index[i] != old)
			nl->index[j++] = l->index[i];
	}
	for (i = 0; i < nl->n; i++)
		rtk_obj_ref(nl->objs[i]);
	listing_count_bytes(nl);
	return nl;
}

/* ---- building listings ---- */

static uint64_t id_hash(uint64_t seed, const char *p, size_t n)
{
	uint64_t h = seed ^ 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* The slot of id in the set: where it is, or the empty slot where it would go. */
static size_t set_slot(const struct rtk_listing_builder *b, const char *id, size_t len)
{
	size_t mask = b->setcap - 1;
	size_t i = (size_t)id_hash(b->seed, id, len) & mask;

	while (b->set[i]) {
		const struct rtk_obj *o = b->set[i];

		if (obj_id_cmp(o, id, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

/* The slot of o's id. */
static size_t obj_slot(const struct rtk_listing_builder *b, const struct rtk_obj *o)
{
	size_t len;
	const char *id = rtk_obj_id(o, &len);

	return set_slot(b, id, len);
}

static int set_rebuild(struct rtk_listing_builder *b, size_t cap)
{
	struct rtk_obj **set;
	size_t i;

	set = calloc(cap, sizeof(*set));
	if (!set)
		return -ENOMEM;
	free(b->set);
	b->set = set;
	b->setcap = cap;
	for (i = 0; i < b->n; i++)
		b->set[obj_slot(b, b->objs[i])] = b->objs[i];
	return 0;
}

int rtk_listing_builder_add(struct rtk_listing_builder *b, struct rtk_obj *o)
{
	size_t slot;
	int err;

	if (b->set[obj_slot(b, o)])
		return -EEXIST;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct rtk_obj **objs = realloc(b->objs, cap * sizeof(*objs));

		if (!objs)
			return -ENOMEM;
		b->objs = objs;
		b->cap = cap;
	}
	/* Keep the load at or under one half. */
	if ((b->n + 1) * 2 > b->setcap) {
		err = set_rebuild(b, b->setcap * 2);
		if (err)
			return err;
	}
	slot = obj_slot(b, o);
	b->set[slot] = o;
	b->objs[b->n++] = o;
	return 0;
}

void rtk_listing_builder_truncate(struct rtk_listing_builder *b, size_t n)
{
	while (b->n > n)
		rtk_obj_unref(b->objs[--b->n]);
	memset(b->set, 0, b->setcap * sizeof(*b->set));
	for (size_t i = 0; i < b->n; i++)
		b->set[obj_slot(b, b->objs[i])] = b->objs[i];
}

struct rtk_listing_builder *rtk_listing_builder_new(enum rtk_kind k)
{
	struct rtk_listing_builder *b;
	struct timespec now;

	if ((unsigned)k >= RTK_K__N)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->kind = k;
	b->setcap = 32;
	b->set = calloc(b->setcap, sizeof(*b->set));
	if (!b->set) {
		free(b);
		return NULL;
	}
	/* A seed the server cannot predict keeps crafted ids from colliding on purpose. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	b->seed = id_hash((uint64_t)(uintptr_t)b, (const char *)&now, sizeof(now));
	return b;
}

enum rtk_kind rtk_listing_builder_kind(const struct rtk_listing_builder *b)
{
	return b->kind;
}

size_t rtk_listing_builder_count(const struct rtk_listing_builder *b)
{
	return b->n;
}

void rtk_listing_builder_free(struct rtk_listing_builder *b)
{
	if (!b)
		return;
	rtk_listing_builder_truncate(b, 0);
	free(b->objs);
	free(b->set);
	free(b);
}

int rtk_listing_builder_add_bare(struct rtk_listing_builder *b, const char *id, size_t len)
{
	struct rtk_obj *o;
	int err;

	if (!rtk_path_id_is_safe(id, len, rtk_path_id_max(b->kind)))
		return -EINVAL;
	o = rtk_obj_new_bare(b->kind, id, len);
	if (!o)
		return -ENOMEM;
	err = rtk_listing_builder_add(b, o);
	if (err)
		rtk_obj_unref(o);
	return err;
}

struct rtk_listing *rtk_listing_builder_finish(struct rtk_listing_builder *b)
{
	struct rtk_listing *l;

	if (!b)
		return NULL;
	l = listing_alloc(b->kind, b->n);
	if (l && b->n) {
		/* The builder's references move to the listing. */
		memcpy(l->objs, b->objs, b->n * sizeof(l->objs[0]));
		memcpy(l->index, b->objs, b->n * sizeof(l->index[0]));
		qsort(l->index, l->n, sizeof(l->index[0]), obj_cmp);
		b->n = 0;
	}
	if (l)
		listing_count_bytes(l);
	rtk_listing_builder_free(b);
	return l;
}
