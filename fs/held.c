// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/buf.h"
#include "rtkfs/held.h"
#include "rtkfs/listing.h"
#include "rtkfs/obj.h"

struct rtk_held *rtk_held_new(struct rtk_listing *l, struct timespec changed)
{
	struct rtk_held *h = malloc(sizeof(*h));

	if (!h)
		return NULL;
	atomic_init(&h->refs, 1);
	h->l = l;
	h->changed = changed;
	atomic_init(&h->doc, NULL);
	h->nunknown = 0;
	return h;
}

struct rtk_held *rtk_held_new_unknown(const struct rtk_held *old, const char *id, size_t len)
{
	struct rtk_held *h;
	unsigned i;

	if (old->nunknown >= RTK_HELD_UNKNOWN_MAX)
		return NULL;
	h = rtk_held_new(old->l, old->changed);
	if (!h)
		return NULL;
	rtk_listing_ref(old->l);
	for (i = 0; i < old->nunknown + 1; i++) {
		h->unknown[i] = i < old->nunknown ? strdup(old->unknown[i]) : strndup(id, len);
		if (!h->unknown[i])
			break;
		h->nunknown++;
	}
	if (h->nunknown != old->nunknown + 1) {
		rtk_held_unref(h);
		return NULL;
	}
	return h;
}

bool rtk_held_is_unknown(const struct rtk_held *h, const char *id, size_t len)
{
	unsigned i;

	for (i = 0; i < h->nunknown; i++)
		if (strlen(h->unknown[i]) == len && memcmp(h->unknown[i], id, len) == 0)
			return true;
	return false;
}

void rtk_held_ref(struct rtk_held *h)
{
	atomic_fetch_add(&h->refs, 1);
}

void rtk_held_unref(struct rtk_held *h)
{
	unsigned i;

	if (h && atomic_fetch_sub(&h->refs, 1) == 1) {
		for (i = 0; i < h->nunknown; i++)
			free(h->unknown[i]);
		free(atomic_load(&h->doc));
		rtk_listing_unref(h->l);
		free(h);
	}
}

static bool later(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static int render_doc(const struct rtk_held *h, struct rtk_held_doc **out)
{
	struct rtk_held_doc *d;
	struct rtk_buf b;
	size_t i, n = rtk_listing_count(h->l);
	int err;

	rtk_buf_init(&b, RTK_HELD_DOC_MAX);
	err = rtk_listing_render_array(h->l, &b);
	d = err ? NULL : malloc(sizeof(*d) + b.len + 1);
	if (d) {
		d->len = b.len;
		memcpy(d->bytes, b.data, b.len + 1);
		/* The newest object's time (ls -lt); an empty listing: when it last changed. */
		d->mtime = n ? (struct timespec){0} : h->changed;
		for (i = 0; i < n; i++) {
			struct timespec t = rtk_obj_mtime(rtk_listing_at(h->l, i));

			if (later(t, d->mtime))
				d->mtime = t;
		}
	}
	rtk_buf_release(&b);
	*out = d;
	return err ? err : d ? 0 : -ENOMEM;
}

int rtk_held_doc(struct rtk_held *h, const struct rtk_held_doc **out)
{
	struct rtk_held_doc *d = atomic_load(&h->doc), *none = NULL;
	int err;

	if (!d) {
		err = render_doc(h, &d);
		if (err)
			return err;
		/* Two readers may race to render: the first one stored wins. */
		if (!atomic_compare_exchange_strong(&h->doc, &none, d)) {
			free(d);
			d = none;
		}
	}
	*out = d;
	return 0;
}

static void cache_ref(void *v)
{
	rtk_held_ref(v);
}

static void cache_unref(void *v)
{
	rtk_held_unref(v);
}

/* A document rendered later is not counted: it is at most about the listing's size again. */
static size_t cache_size(const void *v)
{
	return sizeof(struct rtk_held) + rtk_listing_bytes(((const struct rtk_held *)v)->l);
}

const struct rtk_cache_ops rtk_held_cache_ops = {
	.ref = cache_ref,
	.unref = cache_unref,
	.size = cache_size,
};
