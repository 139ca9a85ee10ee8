// SPDX-License-Identifier: MIT
/*
 * view: a fixed table of timed entries. Why it exists (write.c shows a writer's bytes for a
 * moment): the kernel empties its view of a file opened with O_TRUNC, then writes into its
 * page cache and sets the size to what was written. Were readers meanwhile to get another
 * size from us, the kernel would show the writer's bytes within it (a mix, a stale tail,
 * NULs). So from the truncation to the write the file has size 0 for every reader; after a
 * write, for a moment, it is what was written (its size, and its bytes to a READ); then the
 * server's spelling, which the kernel fetches as these attributes are never cached.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/view.h"

#define VIEWS_MAX 64

struct view {
	uint64_t ino; /* 0: free */
	uint64_t until_ns;
	enum rtk_view_show show;
	char *bytes; /* RTK_VIEW_WRITTEN */
	size_t len;
};

struct rtk_views {
	struct rtk_clock clock;
	pthread_mutex_t lock;
	atomic_uint used; /* entries in use: 0 lets readers skip the lock */
	struct view v[VIEWS_MAX];
};

struct rtk_views *rtk_views_new(struct rtk_clock clock)
{
	struct rtk_views *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (pthread_mutex_init(&t->lock, NULL)) {
		free(t);
		return NULL;
	}
	t->clock = clock;
	atomic_init(&t->used, 0);
	return t;
}

void rtk_views_free(struct rtk_views *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < VIEWS_MAX; i++)
		free(t->v[i].bytes);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

uint64_t rtk_views_now(const struct rtk_views *t)
{
	return rtk_clock_now(&t->clock);
}

/* The entry to use for ino: its own, a free one, or (full) the one nearest its end. */
static struct view *slot_for(struct rtk_views *t, uint64_t ino, enum rtk_view_show show)
{
	struct view *oldest = &t->v[0];
	size_t i;

	for (i = 0; i < VIEWS_MAX; i++)
		if (t->v[i].ino == ino)
			return &t->v[i];
	if (show == RTK_VIEW_CACHED)
		return NULL;
	for (i = 0; i < VIEWS_MAX; i++)
		if (!t->v[i].ino)
			return &t->v[i];
	for (i = 0; i < VIEWS_MAX; i++)
		if (t->v[i].until_ns < oldest->until_ns)
			oldest = &t->v[i];
	return oldest;
}

void rtk_views_set(struct rtk_views *t, uint64_t ino, enum rtk_view_show show,
		   const char *bytes, size_t len, uint64_t until_ns)
{
	struct view *slot;
	char *copy = NULL;

	if (show == RTK_VIEW_WRITTEN && !(copy = malloc(len ? len : 1)))
		show = RTK_VIEW_CACHED; /* ENOMEM: the server's value at once */
	else if (copy)
		memcpy(copy, bytes, len);
	pthread_mutex_lock(&t->lock);
	slot = slot_for(t, ino, show);
	if (slot && show == RTK_VIEW_EMPTY && slot->ino == ino && slot->bytes &&
	    rtk_clock_now(&t->clock) < slot->until_ns) {
		/* Readers the kernel still gave the written size to may READ: keep its bytes. */
		copy = slot->bytes;
		len = slot->len;
		slot->bytes = NULL;
	}
	if (slot) {
		if (!slot->ino && show != RTK_VIEW_CACHED)
			atomic_fetch_add(&t->used, 1);
		else if (slot->ino && show == RTK_VIEW_CACHED)
			atomic_fetch_sub(&t->used, 1);
		free(slot->bytes);
		slot->ino = show == RTK_VIEW_CACHED ? 0 : ino;
		slot->show = show;
		slot->bytes = copy;
		slot->len = len;
		slot->until_ns = until_ns;
		copy = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	free(copy);
}

enum rtk_view_show rtk_views_shown(struct rtk_views *t, uint64_t ino, char **bytes, size_t *len)
{
	enum rtk_view_show show = RTK_VIEW_CACHED;
	struct view *v = NULL;
	size_t i;

	if (!atomic_load(&t->used))
		return show;
	pthread_mutex_lock(&t->lock);
	for (i = 0; i < VIEWS_MAX && !v; i++)
		if (t->v[i].ino == ino)
			v = &t->v[i];
	if (v && rtk_clock_now(&t->clock) >= v->until_ns) {
		free(v->bytes);
		v->bytes = NULL;
		v->ino = 0;
		atomic_fetch_sub(&t->used, 1);
	} else if (v) {
		show = v->show;
		*len = v->bytes ? v->len : 0;
		if (bytes && v->bytes) {
			*bytes = malloc(v->len ? v->len : 1);
			if (*bytes)
				memcpy(*bytes, v->bytes, v->len);
			else
				show = RTK_VIEW_CACHED;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return show;
}
