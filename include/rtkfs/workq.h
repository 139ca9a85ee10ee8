/* SPDX-License-Identifier: MIT */
/*
 * workq: a bounded FIFO of jobs served by a fixed number of worker threads. The one
 * queue-with-workers of rtkfs: the read-ahead of listings and the kernel notifier use it.
 *
 * Jobs are the caller's structs with a struct rtk_workq_item embedded (no allocation here).
 * A job pushed is owned by the queue until run (run() owns it then) or, when the queue is
 * stopped with jobs left, handed to drop(). Thread-safe.
 */
#ifndef RTKFS_WORKQ_H
#define RTKFS_WORKQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct rtk_workq;

struct rtk_workq_item {
	struct rtk_workq_item *next;
};

struct rtk_workq_config {
	unsigned threads; /* workers (at least 1) */
	size_t max_jobs;  /* queued jobs at most; a push past it is refused */
	/* Run one job (on a worker, without any lock of the queue). Owns it. */
	void (*run)(void *ctx, struct rtk_workq_item *job);
	/* Free a job that was never run (at stop). */
	void (*drop)(void *ctx, struct rtk_workq_item *job);
	void *ctx;
};

/* A stopped queue (no threads yet); NULL on ENOMEM or a bad configuration. */
struct rtk_workq *rtk_workq_new(const struct rtk_workq_config *cfg);

/* Start the workers (after fork/daemonize: threads do not survive it). 0 or -errno; on an
 * error the workers already started keep running until rtk_workq_free. */
int rtk_workq_start(struct rtk_workq *q);

/* Queue a job: 0, or -EAGAIN when the queue is full or not running (the job stays the
 * caller's). Never blocks on a worker. */
int rtk_workq_push(struct rtk_workq *q, struct rtk_workq_item *job);

/* The same for a job that may wait for a helper (see below): while one is present, it wakes
 * the worker only when more than wake_past jobs are queued. */
int rtk_workq_push_lazy(struct rtk_workq *q, struct rtk_workq_item *job);

/* Jobs queued and not yet taken by a worker. */
size_t rtk_workq_pending(struct rtk_workq *q);

/*
 * Helping (a queue of one worker only). Another thread may run the queue's jobs in the
 * worker's place, one at a time and in order, never while the worker runs one: the session
 * loop's reader does, between requests, so that a job costs no thread wake-up.
 *
 * A helper present takes the lazy pushes (rtk_workq_push_lazy); its leaving wakes the worker
 * for the jobs left.
 */
enum rtk_workq_ready {
	RTK_WORKQ_RUN,	  /* the helper may run the job now */
	RTK_WORKQ_LATER,  /* not yet: ask again */
	RTK_WORKQ_WORKER, /* only the worker runs it: wake it */
};

void rtk_workq_set_helper(struct rtk_workq *q, bool present, size_t wake_past);

/*
 * Run the first job queued on the calling thread, if the worker is not running one and
 * ready(ctx, job) says RTK_WORKQ_RUN. 1: ran one; 0: nothing to run here (none queued, the
 * worker runs one, or only the worker may run the first); -EAGAIN: the first is not ready.
 */
int rtk_workq_help(struct rtk_workq *q,
		   enum rtk_workq_ready (*ready)(void *ctx, const struct rtk_workq_item *job));

/* Has the worker jobs to run: woken for them, or running one? */
bool rtk_workq_busy(struct rtk_workq *q);

/* Stop: the workers finish the job in hand, then exit; queued jobs are dropped. Idempotent. */
void rtk_workq_stop(struct rtk_workq *q);

/*
 * The same, calling meanwhile(ctx) each time a worker has not ended for
 * RTK_WORKQ_JOIN_STEP_MS: a worker may be waiting for something only the caller can bring
 * about (the notifier's, for a READ only the caller would answer: rtk_session_drain).
 */
void rtk_workq_stop_while(struct rtk_workq *q, void (*meanwhile)(void *ctx), void *ctx);

/* pthread_join(t), calling meanwhile(ctx) (if not NULL) every RTK_WORKQ_JOIN_STEP_MS until t
 * has ended. 0 or an errno. */
#define RTK_WORKQ_JOIN_STEP_MS 5
int rtk_workq_join(pthread_t t, void (*meanwhile)(void *ctx), void *ctx);

/* Stop and free. NULL is a no-op. */
void rtk_workq_free(struct rtk_workq *q);

#endif
