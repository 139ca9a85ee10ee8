// SPDX-License-Identifier: MIT
/* workq: every job runs once, on the workers; a stopped or full queue refuses; leftovers drop. */
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
	RUN(test_bad_config);
	return check_summary();
}
