// SPDX-License-Identifier: MIT
/*
 * workq: one mutex, one condition variable for "a job or stop", an intrusive singly-linked
 * FIFO. Workers take a job under the lock and run it without.
 */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "rtkfs/workq.h"

struct rtk_workq {
	struct rtk_workq_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct rtk_workq_item *head, *tail;
	size_t queued;
	bool running, stopping;
	unsigned active;  /* jobs being run, by workers or a helper */
	atomic_uint busy; /* of them, by workers (read without the lock) */
	atomic_bool woken; /* a worker was woken for jobs and has not waited again since */
	atomic_size_t nqueued; /* queued, read without the lock */
	bool helper;	  /* a helper is present: a push wakes a worker only past wake_past */
	size_t wake_past;
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

/* The first job, taken to be run (lock held, one queued). */
static struct rtk_workq_item *take_locked(struct rtk_workq *q)
{
	struct rtk_workq_item *job = q->head;

	q->head = job->next;
	if (!q->head)
		q->tail = NULL;
	q->queued--;
	atomic_store_explicit(&q->nqueued, q->queued, memory_order_relaxed);
	q->active++;
	job->next = NULL;
	return job;
}

/* Wake a worker for the jobs queued (lock held). */
static void wake_locked(struct rtk_workq *q)
{
	atomic_store(&q->woken, true);
	pthread_cond_signal(&q->more);
}

static void *worker(void *arg)
{
	struct rtk_workq *q = arg;
	struct rtk_workq_item *job;

	pthread_mutex_lock(&q->lock);
	while (!q->stopping) {
		/*
		 * One worker: never while a helper runs a job (the order is the queue's), and while
		 * a helper is present only when woken (a spurious wake-up takes nothing from it).
		 */
		if (!q->head || (q->cfg.threads == 1 && q->active) ||
		    (q->helper && !atomic_load(&q->woken))) {
			if (!q->head)
				atomic_store(&q->woken, false);
			pthread_cond_wait(&q->more, &q->lock);
			continue;
		}
		job = take_locked(q);
		q->busy++;
		pthread_mutex_unlock(&q->lock);
		q->cfg.run(q->cfg.ctx, job);
		pthread_mutex_lock(&q->lock);
		q->busy--;
		q->active--;
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

static int push(struct rtk_workq *q, struct rtk_workq_item *job, bool lazy)
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
		atomic_store_explicit(&q->nqueued, q->queued, memory_order_relaxed);
		if (!lazy || !q->helper || q->queued > q->wake_past)
			wake_locked(q);
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

void rtk_workq_set_helper(struct rtk_workq *q, bool present, size_t wake_past)
{
	pthread_mutex_lock(&q->lock);
	q->helper = present && q->cfg.threads == 1;
	q->wake_past = wake_past;
	if (!q->helper && q->head)
		wake_locked(q);
	pthread_mutex_unlock(&q->lock);
}

int rtk_workq_help(struct rtk_workq *q,
		   enum rtk_workq_ready (*ready)(void *ctx, const struct rtk_workq_item *job))
{
	struct rtk_workq_item *job = NULL;
	int res = 0;

	/* Looked at between requests again and again: leave the lock to the worker when it
	 * has jobs (it runs them), or when there are none. */
	if (rtk_workq_busy(q) || !atomic_load_explicit(&q->nqueued, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&q->lock);
	if (q->cfg.threads == 1 && q->running && !q->stopping && q->head && !q->active) {
		switch (ready(q->cfg.ctx, q->head)) {
		case RTK_WORKQ_RUN:
			job = take_locked(q);
			break;
		case RTK_WORKQ_LATER:
			res = -EAGAIN;
			break;
		case RTK_WORKQ_WORKER:
			wake_locked(q);
			break;
		}
	}
	pthread_mutex_unlock(&q->lock);
	if (!job)
		return res;
	q->cfg.run(q->cfg.ctx, job);
	pthread_mutex_lock(&q->lock);
	q->active--;
	/* Jobs queued past wake_past while this one ran, or the helper left meanwhile, or the
	 * worker was woken for a job meanwhile and waited for this one to end. */
	if (q->head && (!q->helper || q->queued > q->wake_past || atomic_load(&q->woken)))
		wake_locked(q);
	pthread_mutex_unlock(&q->lock);
	return 1;
}

bool rtk_workq_busy(struct rtk_workq *q)
{
	return atomic_load_explicit(&q->woken, memory_order_relaxed) ||
	       atomic_load_explicit(&q->busy, memory_order_relaxed) > 0;
}

int rtk_workq_push(struct rtk_workq *q, struct rtk_workq_item *job)
{
	return push(q, job, false);
}

int rtk_workq_push_lazy(struct rtk_workq *q, struct rtk_workq_item *job)
{
	return push(q, job, true);
}

size_t rtk_workq_pending(struct rtk_workq *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->queued;
	pthread_mutex_unlock(&q->lock);
	return n;
}

int rtk_workq_join(pthread_t t, void (*meanwhile)(void *ctx), void *ctx)
{
	struct timespec ts;

	while (meanwhile) {
		clock_gettime(CLOCK_REALTIME, &ts); /* pthread_timedjoin_np's clock */
		ts.tv_nsec += RTK_WORKQ_JOIN_STEP_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(t, NULL, &ts) != ETIMEDOUT)
			return 0;
		meanwhile(ctx);
	}
	return pthread_join(t, NULL);
}

void rtk_workq_stop(struct rtk_workq *q)
{
	rtk_workq_stop_while(q, NULL, NULL);
}

void rtk_workq_stop_while(struct rtk_workq *q, void (*meanwhile)(void *ctx), void *ctx)
{
	struct rtk_workq_item *job;

	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	q->running = false;
	pthread_cond_broadcast(&q->more);
	pthread_mutex_unlock(&q->lock);
	while (q->nthreads)
		rtk_workq_join(q->threads[--q->nthreads], meanwhile, ctx);
	while ((job = q->head)) {
		q->head = job->next;
		q->cfg.drop(q->cfg.ctx, job);
	}
	q->tail = NULL;
	q->queued = 0;
	atomic_store_explicit(&q->nqueued, 0, memory_order_relaxed);
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
