// SPDX-License-Identifier: MIT
/* workq: every job runs once, on the workers; a stopped or full queue refuses; leftovers drop;
 * a helper runs a one-worker queue's jobs in order, never beside the worker. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "rtkfs/workq.h"

struct job {
	struct rtk_workq_item item;
	int value;
};

struct counts {
	atomic_int ran, dropped, sum;
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	bool gate_open;
	atomic_int waiting; /* workers parked at the gate */
};

static void run(void *ctx, struct rtk_workq_item *item)
{
	struct counts *c = ctx;
	struct job *j = (struct job *)item;

	pthread_mutex_lock(&c->gate_mu);
	atomic_fetch_add(&c->waiting, 1);
	while (!c->gate_open)
		pthread_cond_wait(&c->gate_cv, &c->gate_mu);
	atomic_fetch_sub(&c->waiting, 1);
	pthread_mutex_unlock(&c->gate_mu);
	atomic_fetch_add(&c->ran, 1);
	atomic_fetch_add(&c->sum, j->value);
	free(j);
}

static void drop(void *ctx, struct rtk_workq_item *item)
{
	atomic_fetch_add(&((struct counts *)ctx)->dropped, 1);
	free(item);
}

static struct job *job(int v)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j)
		j->value = v;
	return j;
}

static void open_gate(struct counts *c)
{
	pthread_mutex_lock(&c->gate_mu);
	c->gate_open = true;
	pthread_cond_broadcast(&c->gate_cv);
	pthread_mutex_unlock(&c->gate_mu);
}

static void init_counts(struct counts *c, bool open)
{
	atomic_init(&c->ran, 0);
	atomic_init(&c->dropped, 0);
	atomic_init(&c->sum, 0);
	atomic_init(&c->waiting, 0);
	pthread_mutex_init(&c->gate_mu, NULL);
	pthread_cond_init(&c->gate_cv, NULL);
	c->gate_open = open;
}

static void test_every_job_runs_once(void)
{
	struct counts c;
	struct rtk_workq_config cfg = {.threads = 4, .max_jobs = 1000, .run = run, .drop = drop,
				       .ctx = &c};
	struct rtk_workq *q;
	struct job *j;
	int i, pushed = 0;

	init_counts(&c, true);
	q = rtk_workq_new(&cfg);
	CHECK(q != NULL);
	if (!q)
		return;
	j = job(1);
	CHECK_EQ_INT(rtk_workq_push(q, &j->item), -EAGAIN); /* not started: still the caller's */
	free(j);
	CHECK_EQ_INT(rtk_workq_start(q), 0);
	for (i = 1; i <= 500; i++) {
		j = job(i);
		if (j && rtk_workq_push(q, &j->item) == 0)
			pushed++;
	}
	CHECK_EQ_INT(pushed, 500);
	while (atomic_load(&c.ran) < 500 && atomic_load(&c.dropped) == 0)
		sched_yield();
	rtk_workq_free(q);
	CHECK_EQ_INT(atomic_load(&c.ran), 500);
	CHECK_EQ_INT(atomic_load(&c.sum), 500 * 501 / 2);
	CHECK_EQ_INT(atomic_load(&c.dropped), 0);
}

static void test_full_and_stop(void)
{
	struct counts c;
	struct rtk_workq_config cfg = {.threads = 2, .max_jobs = 3, .run = run, .drop = drop,
				       .ctx = &c};
	struct rtk_workq *q;
	struct job *j;
	int i;

	init_counts(&c, false);
	q = rtk_workq_new(&cfg);
	CHECK(q != NULL);
	if (!q)
		return;
	CHECK_EQ_INT(rtk_workq_start(q), 0);
	/* Two jobs park both workers at the gate, then three fill the queue. */
	for (i = 0; i < 2; i++)
		CHECK_EQ_INT(rtk_workq_push(q, &job(1)->item), 0);
	while (atomic_load(&c.waiting) < 2)
		sched_yield();
	for (i = 0; i < 3; i++)
		CHECK_EQ_INT(rtk_workq_push(q, &job(1)->item), 0);
	CHECK_EQ_INT(rtk_workq_pending(q), 3);
	j = job(1);
	CHECK_EQ_INT(rtk_workq_push(q, &j->item), -EAGAIN); /* full: still the caller's */
	free(j);
	open_gate(&c);
	rtk_workq_stop(q);
	/* The two in hand ran; of the queued, whatever the workers did not take was dropped. */
	CHECK_EQ_INT(atomic_load(&c.ran) + atomic_load(&c.dropped), 5);
	CHECK(atomic_load(&c.ran) >= 2);
	j = job(1);
	CHECK_EQ_INT(rtk_workq_push(q, &j->item), -EAGAIN); /* stopped */
	free(j);
	rtk_workq_free(q);
}

/* ---- helping: another thread runs a one-worker queue's jobs, in order, never with it ---- */

struct order {
	pthread_t main;
	pthread_mutex_t mu;
	int seq[64], n, by_main, by_worker;
	atomic_int later; /* ready() says LATER for a job of this value */
	atomic_bool gate; /* the worker's job 100 waits while set */
	atomic_bool in_job;
};

static void run_ordered(void *ctx, struct rtk_workq_item *item)
{
	struct order *o = ctx;
	struct job *j = (struct job *)item;

	atomic_store(&o->in_job, true);
	while (j->value == 100 && atomic_load(&o->gate))
		sched_yield();
	pthread_mutex_lock(&o->mu);
	if (o->n < 64)
		o->seq[o->n++] = j->value;
	if (pthread_equal(pthread_self(), o->main))
		o->by_main++;
	else
		o->by_worker++;
	pthread_mutex_unlock(&o->mu);
	atomic_store(&o->in_job, false);
	free(j);
}

static enum rtk_workq_ready ready(void *ctx, const struct rtk_workq_item *item)
{
	struct order *o = ctx;
	const struct job *j = (const struct job *)item;

	if (j->value >= 1000)
		return RTK_WORKQ_WORKER;
	return j->value == atomic_load(&o->later) ? RTK_WORKQ_LATER : RTK_WORKQ_RUN;
}

/* A counter of o (o->n, o->by_worker), read under its lock. */
static int counted(struct order *o, const int *counter)
{
	int n;

	pthread_mutex_lock(&o->mu);
	n = *counter;
	pthread_mutex_unlock(&o->mu);
	return n;
}

static void test_helper(void)
{
	struct order o = {.main = pthread_self(), .mu = PTHREAD_MUTEX_INITIALIZER};
	struct rtk_workq_config cfg = {.threads = 1, .max_jobs = 100, .run = run_ordered,
				       .drop = drop, .ctx = &o};
	struct rtk_workq *q = rtk_workq_new(&cfg);
	int i;

	atomic_init(&o.later, 0);
	atomic_init(&o.gate, false);
	atomic_init(&o.in_job, false);
	CHECK(q != NULL);
	if (!q)
		return;
	CHECK_EQ_INT(rtk_workq_help(q, ready), 0); /* not running */
	CHECK_EQ_INT(rtk_workq_start(q), 0);
	rtk_workq_set_helper(q, true, 8);
	/* Lazy jobs wait for the helper, which runs them here in order. */
	for (i = 1; i <= 6; i++)
		CHECK_EQ_INT(rtk_workq_push_lazy(q, &job(i)->item), 0);
	atomic_store(&o.later, 3);
	CHECK_EQ_INT(rtk_workq_help(q, ready), 1);
	CHECK_EQ_INT(rtk_workq_help(q, ready), 1);
	CHECK_EQ_INT(rtk_workq_help(q, ready), -EAGAIN); /* job 3 is not ready: 4 waits too */
	CHECK_EQ_INT(rtk_workq_pending(q), 4);
	atomic_store(&o.later, 0);
	while (rtk_workq_help(q, ready) == 1)
		;
	CHECK_EQ_INT(counted(&o, &o.n), 6);
	CHECK_EQ_INT(o.by_main, 6);
	for (i = 0; i < 6; i++)
		CHECK_EQ_INT(o.seq[i], i + 1);
	/*
	 * Past wake_past, a lazy push wakes the worker (at the 9th queued at the latest; a
	 * spurious wake-up, seen under ThreadSanitizer, may have it drain the queue earlier, and
	 * what is pushed after that waits for the helper, as it may).
	 */
	for (i = 7; i <= 16; i++)
		CHECK_EQ_INT(rtk_workq_push_lazy(q, &job(i)->item), 0);
	while (!counted(&o, &o.by_worker))
		sched_yield();
	while (counted(&o, &o.n) < 16)
		if (rtk_workq_help(q, ready) != 1)
			sched_yield();
	for (i = 6; i < 16; i++)
		CHECK_EQ_INT(o.seq[i], i + 1);
	/* A plain push wakes the worker at once; a job only the worker may run is left to it. */
	CHECK_EQ_INT(rtk_workq_push(q, &job(1000)->item), 0);
	while (counted(&o, &o.n) < 17)
		sched_yield();
	/* The helper never runs a job while the worker runs one (the order is the queue's). */
	atomic_store(&o.gate, true);
	CHECK_EQ_INT(rtk_workq_push(q, &job(100)->item), 0);
	while (!atomic_load(&o.in_job))
		sched_yield();
	CHECK(rtk_workq_busy(q));
	CHECK_EQ_INT(rtk_workq_push_lazy(q, &job(101)->item), 0);
	CHECK_EQ_INT(rtk_workq_help(q, ready), 0);
	atomic_store(&o.gate, false);
	while (counted(&o, &o.n) < 19) /* the worker runs 101 after 100 */
		sched_yield();
	CHECK_EQ_INT(o.seq[17], 100);
	CHECK_EQ_INT(o.seq[18], 101);
	/* The helper leaves: the worker takes what it left. */
	CHECK_EQ_INT(rtk_workq_push_lazy(q, &job(102)->item), 0);
	rtk_workq_set_helper(q, false, 8);
	while (counted(&o, &o.n) < 20)
		sched_yield();
	CHECK_EQ_INT(o.seq[19], 102);
	/* No helper: a lazy push wakes the worker. */
	CHECK_EQ_INT(rtk_workq_push_lazy(q, &job(103)->item), 0);
	while (counted(&o, &o.n) < 21)
		sched_yield();
	rtk_workq_free(q);
}

static void test_bad_config(void)
{
	struct rtk_workq_config cfg = {.threads = 0, .max_jobs = 1, .run = run, .drop = drop};

	CHECK(rtk_workq_new(&cfg) == NULL);
	rtk_workq_free(NULL);
}

int main(void)
{
	RUN(test_every_job_runs_once);
	RUN(test_full_and_stop);
	RUN(test_helper);
	RUN(test_bad_config);
	return check_summary();
}
