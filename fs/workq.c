// SPDX-License-Identifier: MIT
/*
 * workq: one mutex, one condition variable for "a job or stop", an intrusive singly-linked
 * FIFO. Workers take a job under the lock and run it without.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "rtkfs/workq.h"

struct rtk_workq {
	struct rtk_workq_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct rtk_workq_item *head, *tail;
	size_t queued;
	bool running, stopping;
	pthread_t *threads;
	unsigned nthreads;
};

struct rtk_workq *rtk_workq_new(const struct rtk_workq_config *cfg)
{
	struct rtk_workq *q;

	if (!cfg->threads || !cfg->run || !cfg->drop)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->cfg = *cfg;
	q->threads = calloc(cfg->threads, sizeof(*q->threads));
	if (!q->threads)
		goto free_q;
	if (pthread_mutex_init(&q->lock, NULL))
		goto free_threads;
	if (pthread_cond_init(&q->more, NULL))
		goto destroy_lock;
	return q;

destroy_lock:
	pthread_mutex_destroy(&q->lock);
free_threads:
	free(q->threads);
free_q:
	free(q);
	return NULL;
}

static void *worker(void *arg)
{
	struct rtk_workq *q = arg;
	struct rtk_workq_item *job;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->more, &q->lock);
		if (q->stopping)
			break;
		job = q->head;
		q->head = job->next;
		if (!q->head)
			q->tail = NULL;
		q->queued--;
		pthread_mutex_unlock(&q->lock);
		job->next = NULL;
		q->cfg.run(q->cfg.ctx, job);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int rtk_workq_start(struct rtk_workq *q)
{
	int err = 0;

	pthread_mutex_lock(&q->lock);
	q->running = true;
	pthread_mutex_unlock(&q->lock);
	while (q->nthreads < q->cfg.threads) {
		err = pthread_create(&q->threads[q->nthreads], NULL, worker, q);
		if (err)
			return -err;
		q->nthreads++;
	}
	return 0;
}

int rtk_workq_push(struct rtk_workq *q, struct rtk_workq_item *job)
{
	int err = 0;

	pthread_mutex_lock(&q->lock);
	if (!q->running || q->stopping || q->queued >= q->cfg.max_jobs) {
		err = -EAGAIN;
	} else {
		job->next = NULL;
		if (q->tail)
			q->tail->next = job;
		else
			q->head = job;
		q->tail = job;
		q->queued++;
		pthread_cond_signal(&q->more);
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

size_t rtk_workq_pending(struct rtk_workq *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->queued;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void rtk_workq_stop(struct rtk_workq *q)
{
	struct rtk_workq_item *job;

	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	q->running = false;
	pthread_cond_broadcast(&q->more);
	pthread_mutex_unlock(&q->lock);
	while (q->nthreads)
		pthread_join(q->threads[--q->nthreads], NULL);
	while ((job = q->head)) {
		q->head = job->next;
		q->cfg.drop(q->cfg.ctx, job);
	}
	q->tail = NULL;
	q->queued = 0;
}

void rtk_workq_free(struct rtk_workq *q)
{
	if (!q)
		return;
	rtk_workq_stop(q);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->lock);
	free(q->threads);
	free(q);
}
