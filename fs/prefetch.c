// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/api.h"
#include "rtkfs/clock.h"
#include "rtkfs/prefetch.h"
#include "rtkfs/workq.h"

#define QUEUE_MAX 100000

struct job {
	struct rtk_workq_item item; /* first: a job is its item */
	enum rtk_kind kind;
	char account[RTK_ID_MAX + 1];
	char app[RTK_ID_MAX + 1];
};

struct rtk_prefetch {
	struct rtk_prefetch_config cfg;
	struct rtk_workq *q; /* NULL without threads */
	atomic_bool quitting;
};

static bool quitting(void *ctx)
{
	return atomic_load(&((struct rtk_prefetch *)ctx)->quitting);
}

static void run(void *ctx, struct rtk_workq_item *item)
{
	struct rtk_prefetch *p = ctx;
	struct job *j = (struct job *)item;
	struct rtk_ids ids = {.account = j->account, .app = j->app[0] ? j->app : NULL};
	struct rtk_op op = {
		.deadline_ns = rtk_clock_mono_ns() + p->cfg.timeout_ns,
		.interrupted = quitting,
		.interrupted_ctx = p,
	};

	if (!quitting(p))
		p->cfg.fetch(p->cfg.ctx, j->kind, &ids, &op);
	free(j);
}

static void drop(void *ctx, struct rtk_workq_item *item)
{
	free(item);
}

struct rtk_prefetch *rtk_prefetch_new(const struct rtk_prefetch_config *cfg)
{
	struct rtk_prefetch *p = calloc(1, sizeof(*p));
	struct rtk_workq_config qc = {
		.threads = cfg->threads,
		.max_jobs = QUEUE_MAX,
		.run = run,
		.drop = drop,
		.ctx = p,
	};

	if (!p)
		return NULL;
	p->cfg = *cfg;
	if (!p->cfg.timeout_ns)
		p->cfg.timeout_ns = 15 * RTK_NS_PER_SEC;
	atomic_init(&p->quitting, false);
	if (cfg->threads && !(p->q = rtk_workq_new(&qc))) {
		free(p);
		return NULL;
	}
	return p;
}

int rtk_prefetch_start(struct rtk_prefetch *p)
{
	return p->q ? rtk_workq_start(p->q) : 0;
}

void rtk_prefetch_free(struct rtk_prefetch *p)
{
	if (!p)
		return;
	atomic_store(&p->quitting, true); /* fetches in hand end early */
	rtk_workq_free(p->q);
	free(p);
}

bool rtk_prefetch_has_room(struct rtk_prefetch *p, size_t n)
{
	struct rtk_api_stats st;

	if (!p->q || atomic_load(&p->quitting))
		return false;
	if (!p->cfg.api)
		return true;
	rtk_api_get_stats(p->cfg.api, &st);
	if (!st.has_budget)
		return true;
	return !st.budget.paused_until_ns && st.budget.left >= st.budget.limit / 4 + n;
}

int rtk_prefetch_push(struct rtk_prefetch *p, enum rtk_kind k, const struct rtk_ids *ids)
{
	struct job *j;
	int err;

	if (!p->q)
		return -EAGAIN;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->kind = k;
	snprintf(j->account, sizeof(j->account), "%s", ids->account ? ids->account : "");
	snprintf(j->app, sizeof(j->app), "%s", ids->app ? ids->app : "");
	err = rtk_workq_push(p->q, &j->item);
	if (err)
		free(j);
	return err;
}
