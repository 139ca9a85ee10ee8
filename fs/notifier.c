// SPDX-License-Identifier: MIT
/*
 * The notifier: the thread that tells the kernel what changed (FUSE notify_inval_inode,
 * notify_inval_entry) and pushes bytes into its page cache (notify_store), in the order they
 * were queued. libfuse deadlocks if these are sent from a request handler, so the tree's
 * hooks only queue them here. A second thread sends the invalidations of files whose WRITE
 * is being answered (they wait in the kernel for it). Markers let a write wait until what
 * it queued has landed (settle). Stores follow the rules of notifier.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "rtkfs/clock.h"
#include "rtkfs/loop.h"
#include "rtkfs/notifier.h"
#include "rtkfs/session.h"
#include "rtkfs/workq.h"

#define NOTIFY_QUEUE_MAX 65536
/* Local writes remembered for the stores queued before them (a power of 2). */
#define WRITES_KEPT 64u
/* Bytes of queued stores at most: past it a store is dropped (the kernel reads instead). */
#define STORE_PENDING_MAX (8u << 20)

struct notice {
	struct rtk_workq_item item;  /* first: a notice is its item */
	struct rtk_ino_store *store; /* a store, or NULL: an invalidation */
	uint64_t mark;		     /* not 0: a marker, settled when the notifier reaches it */
	uint64_t ino;		     /* inode to invalidate, or the parent of name */
	uint64_t due;		     /* a retried store: when it may be sent */
	uint64_t after;		     /* a lazy store: a helper sends it once requests passed this */
	bool retry;		     /* a store: a second try of files the kernel had no inode for */
	char name[]; /* "": invalidate ino; else the entry name in ino */
};

struct rtk_notifier {
	bool push;
	struct rtk_workq *notifier; /* one thread: the sender of kernel notifications */
	struct rtk_workq *own;	    /* one thread: invalidations of files being written */
	struct fuse_session *se;
	atomic_uint_fast64_t queued, sent, stale, full, missed, retried, cancelled, raced, helped;
	atomic_uint_fast64_t settled, settle_late, settle_blocked;
	atomic_size_t pending;	     /* bytes of the stores queued */
	atomic_size_t pending_files; /* files of the stores queued */
	/*
	 * The store being sent. Its write may wait in the kernel for a page that a READ holds;
	 * that READ is answered with the store's bytes, not a newer listing's, so the page
	 * never mixes two versions (the newer listing's invalidation follows the store).
	 */
	pthread_mutex_t claim_lock; /* never held across a write to the kernel */
	struct rtk_ino_store *claim;
	/*
	 * Local writes (WRITE, truncate) count in writes; the last WRITES_KEPT written inodes
	 * are kept by count. A store queued before a write of one of its files is not sent
	 * (the kernel holds the written bytes); one being sent when a write of its files came
	 * (claim_raced) is followed by an invalidation of them, so its bytes do not stay.
	 */
	uint64_t writes;
	uint64_t written[WRITES_KEPT];
	bool claim_raced;
	/* Markers: the last one queued, the last one the notifier reached (settle waits). */
	pthread_mutex_t mark_lock;
	pthread_cond_t mark_cond; /* on CLOCK_MONOTONIC */
	uint64_t marked, reached;
};

/*
 * Files the kernel had no inode for yet (the reply that hands it out may still be on its
 * way into the kernel) are tried once more, this long after.
 */
#define STORE_RETRY_NS 300000
/* Jobs queued while a helper is present before the notifier thread is woken anyway. */
#define HELP_WAKE_PAST 8

static void sleep_until(uint64_t due_ns)
{
	uint64_t now = rtk_clock_mono_ns();
	struct timespec ts;

	if (now >= due_ns || due_ns - now > STORE_RETRY_NS)
		return;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(due_ns - now);
	nanosleep(&ts, NULL);
}

/* Queue store notice n (a first try, or a retry); false when there is no room. */
static bool queue_store(struct rtk_notifier *nf, struct notice *n)
{
	size_t bytes = n->store->bytes;

	if (atomic_fetch_add(&nf->pending, bytes) + bytes > STORE_PENDING_MAX) {
		atomic_fetch_sub(&nf->pending, bytes);
		return false;
	}
	atomic_fetch_add(&nf->pending_files, n->store->n);
	if ((n->store->lazy ? rtk_workq_push_lazy : rtk_workq_push)(nf->notifier, &n->item) != 0) {
		atomic_fetch_sub(&nf->pending_files, n->store->n);
		atomic_fetch_sub(&nf->pending, bytes);
		return false;
	}
	return true;
}

static bool store_has(const struct rtk_ino_store *s, uint64_t ino)
{
	unsigned i;

	for (i = 0; i < s->n; i++)
		if (s->files[i].ino == ino)
			return true;
	return false;
}

/*
 * Claim s for sending; false (nothing claimed) when a file of it was written locally since
 * it was queued, or when too many writes came to tell.
 */
static bool claim(struct rtk_notifier *nf, struct rtk_ino_store *s)
{
	bool ok = true;
	uint64_t w;

	pthread_mutex_lock(&nf->claim_lock);
	if (nf->writes - s->seq > WRITES_KEPT)
		ok = false;
	for (w = s->seq; ok && w < nf->writes; w++)
		ok = !store_has(s, nf->written[w % WRITES_KEPT]);
	if (ok) {
		nf->claim = s;
		nf->claim_raced = false;
	}
	pthread_mutex_unlock(&nf->claim_lock);
	return ok;
}

/* Done sending the claimed store: did a write of one of its files come meanwhile? */
static bool unclaim(struct rtk_notifier *nf)
{
	bool raced;

	pthread_mutex_lock(&nf->claim_lock);
	raced = nf->claim_raced;
	nf->claim = NULL;
	nf->claim_raced = false;
	pthread_mutex_unlock(&nf->claim_lock);
	return raced;
}

/* A WRITE or truncate of file ino: no store queued before it may land after it. */
void rtk_notifier_note_write(struct rtk_notifier *nf, uint64_t ino)
{
	bool raced;

	pthread_mutex_lock(&nf->claim_lock);
	nf->written[nf->writes++ % WRITES_KEPT] = ino;
	raced = nf->claim && store_has(nf->claim, ino);
	if (raced)
		nf->claim_raced = true;
	pthread_mutex_unlock(&nf->claim_lock);
	if (raced) { /* a write waiting in settle stops waiting (store_blocked) */
		pthread_mutex_lock(&nf->mark_lock);
		pthread_cond_broadcast(&nf->mark_cond);
		pthread_mutex_unlock(&nf->mark_lock);
	}
}

/*
 * Push a store's files into the page cache, unless a newer listing replaced its bytes.
 * True when n was queued again (a retry of the files the kernel had no inode for).
 */
static bool send_store(struct rtk_notifier *nf, struct notice *n)
{
	struct rtk_ino_store *s = n->store;
	size_t bytes = s->bytes; /* pending until sent (stats.json shows when all landed) */
	unsigned files = s->n;
	bool again = false;
	unsigned i, left = 0;
	uint32_t retry = 0; /* files[i] the kernel had no inode for (RTK_INO_STORE_FILES <= 32) */
	int err;

	if (n->retry)
		sleep_until(n->due);
	/* Claim, then check: a READ answered from a newer listing after the claim is answered
	 * with these bytes; one answered before it means the check fails. */
	if (!claim(nf, s)) {
		atomic_fetch_add(&nf->cancelled, 1);
		goto out;
	}
	if (!s->current(s)) {
		unclaim(nf);
		atomic_fetch_add(&nf->stale, 1);
		goto out;
	}
	for (i = 0; i < s->n; i++) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(s->files[i].len);

		bv.buf[0].mem = (void *)(uintptr_t)s->files[i].p;
		err = fuse_lowlevel_notify_store(nf->se, s->files[i].ino, 0, &bv, 0);
		if (err == -ENOENT && !n->retry) {
			retry |= 1u << i;
			atomic_fetch_add(&nf->retried, 1);
		} else {
			atomic_fetch_add(err ? &nf->missed : &nf->sent, 1);
		}
	}
	/*
	 * A write of a file while its store was sent: the store may have waited for the page
	 * the WRITE held and landed after it. Drop what it left (after it: this thread).
	 */
	if (unclaim(nf)) {
		atomic_fetch_add(&nf->raced, 1);
		for (i = 0; i < s->n; i++)
			fuse_lowlevel_notify_inval_inode(nf->se, s->files[i].ino, 0, 0);
	}
	/* Unclaimed: no READ looks at s->files now (read_claimed), they may move. */
	for (i = 0; i < s->n; i++)
		if (retry & (1u << i))
			s->files[left++] = s->files[i];
	if (left) {
		s->n = left;
		for (s->bytes = 0, i = 0; i < left; i++)
			s->bytes += s->files[i].len;
		n->retry = true;
		n->due = rtk_clock_mono_ns() + STORE_RETRY_NS;
		again = queue_store(nf, n);
		if (!again)
			atomic_fetch_add(&nf->missed, left);
	}
out:
	atomic_fetch_sub(&nf->pending_files, files);
	atomic_fetch_sub(&nf->pending, bytes);
	if (!again)
		s->release(s);
	return again;
}

/* The notifier reached marker mark (or dropped it): wake who waits for it. */
static void reach(struct rtk_notifier *nf, uint64_t mark)
{
	pthread_mutex_lock(&nf->mark_lock);
	if (mark > nf->reached)
		nf->reached = mark;
	pthread_cond_broadcast(&nf->mark_cond);
	pthread_mutex_unlock(&nf->mark_lock);
}

static void notify(void *ctx, struct rtk_workq_item *item)
{
	struct rtk_notifier *nf = ctx;
	struct notice *n = (struct notice *)item;

	/* -ENOENT only means the kernel holds nothing for it. */
	if (n->mark) {
		reach(nf, n->mark);
	} else if (n->store) {
		if (send_store(nf, n))
			return;
	} else if (n->name[0]) {
		fuse_lowlevel_notify_inval_entry(nf->se, n->ino, n->name, strlen(n->name));
	} else {
		fuse_lowlevel_notify_inval_inode(nf->se, n->ino, 0, 0);
	}
	free(n);
}

static void drop_notice(void *ctx, struct rtk_workq_item *item)
{
	struct rtk_notifier *nf = ctx;
	struct notice *n = (struct notice *)item;

	if (n->mark)
		reach(nf, n->mark);
	if (n->store) {
		atomic_fetch_sub(&nf->pending_files, n->store->n);
		atomic_fetch_sub(&nf->pending, n->store->bytes);
		n->store->release(n->store);
	}
	free(n);
}

/* Queue an invalidation of ino (name NULL) or of entry name in ino on q. */
static void enqueue(struct rtk_workq *q, uint64_t ino, const char *name)
{
	size_t len = name ? strlen(name) : 0;
	struct notice *n = calloc(1, sizeof(*n) + len + 1);

	if (!n)
		return; /* the kernel will age it out by the TTL */
	n->ino = ino;
	memcpy(n->name, name ? name : "", len + 1);
	/* Not running yet (nothing cached), or full: the kernel ages it out by the TTL. */
	if (rtk_workq_push(q, &n->item) != 0)
		free(n);
}

static void hook_inval_inode(void *ctx, uint64_t ino)
{
	enqueue(((struct rtk_notifier *)ctx)->notifier, ino, NULL);
}

/* On the queue of its own (ino.h): it waits in the kernel for the WRITE's reply. */
static void hook_inval_written(void *ctx, uint64_t ino)
{
	enqueue(((struct rtk_notifier *)ctx)->own, ino, NULL);
}

static void hook_inval_entry(void *ctx, uint64_t parent, const char *name)
{
	enqueue(((struct rtk_notifier *)ctx)->notifier, parent, name);
}

/* Queue a marker behind what is queued and wait until the notifier reaches it or until_ns. */
/*
 * Is the notifier sending a store that a local write raced (claim_raced)? It may wait for
 * the page that write's WRITE holds until it is answered, and that WRITE may be the one
 * waiting in settle: waiting longer only runs into the bound.
 */
static bool store_blocked(struct rtk_notifier *nf)
{
	bool raced;

	pthread_mutex_lock(&nf->claim_lock);
	raced = nf->claim && nf->claim_raced;
	pthread_mutex_unlock(&nf->claim_lock);
	return raced;
}

static void hook_settle(void *ctx, uint64_t until_ns)
{
	struct rtk_notifier *nf = ctx;
	struct notice *n = calloc(1, sizeof(*n) + 1);
	struct timespec ts = rtk_clock_ts(until_ns);
	uint64_t mark;

	if (!n)
		return;
	pthread_mutex_lock(&nf->mark_lock);
	n->mark = mark = ++nf->marked;
	/* Pushed under the lock: markers are queued in the order of their numbers. */
	if (rtk_workq_push(nf->notifier, &n->item) != 0) {
		pthread_mutex_unlock(&nf->mark_lock);
		free(n); /* not running, or full: nothing to wait for that will come soon */
		return;
	}
	rtk_loop_waiting();
	while (nf->reached < mark && rtk_clock_mono_ns() < until_ns && !store_blocked(nf))
		pthread_cond_timedwait(&nf->mark_cond, &nf->mark_lock, &ts);
	atomic_fetch_add(nf->reached >= mark ? &nf->settled
			 : store_blocked(nf) ? &nf->settle_blocked
					     : &nf->settle_late,
			 1);
	pthread_mutex_unlock(&nf->mark_lock);
}

static uint64_t hook_write_seq(void *ctx)
{
	struct rtk_notifier *nf = ctx;
	uint64_t w;

	pthread_mutex_lock(&nf->claim_lock);
	w = nf->writes;
	pthread_mutex_unlock(&nf->claim_lock);
	return w;
}

/* Queue a store behind the invalidations queued so far; no room (bytes or jobs): drop it. */
static void hook_store(void *ctx, struct rtk_ino_store *s)
{
	struct rtk_notifier *nf = ctx;
	struct notice *n = calloc(1, sizeof(*n) + 1);

	if (n) {
		n->store = s;
		/*
		 * A helper (the session loop's reader) sends it once the loop has read a later
		 * request: by then the caller of the LOOKUP that handed the file out has made its
		 * inode, and if that caller reads the file next (cat), its READ has been answered
		 * (the page is there) rather than waiting for this store's page lock, which the
		 * helper would wait for with the READ unread. (Sent after a fixed 50 us instead,
		 * a store met such a READ often enough to make the watchdog step in.)
		 */
		n->after = rtk_loop_requests();
		if (queue_store(nf, n)) {
			atomic_fetch_add(&nf->queued, 1);
			return;
		}
		free(n);
	}
	atomic_fetch_add(&nf->full, 1);
	s->release(s);
}

/* If the store being sent holds file ino, answer a READ with its bytes (a copy). */
int rtk_notifier_read_claimed(struct rtk_notifier *nf, uint64_t ino, uint64_t off, size_t size,
			      struct rtk_tree_data *data)
{
	const struct rtk_ino_store_file *f = NULL;
	struct rtk_tree_data d = {0};
	unsigned i;
	int err = 0;

	pthread_mutex_lock(&nf->claim_lock);
	for (i = 0; nf->claim && i < nf->claim->n && !f; i++)
		if (nf->claim->files[i].ino == ino)
			f = &nf->claim->files[i];
	if (f && off < f->len) {
		d.n = f->len - off < size ? f->len - off : size;
		d.owned = malloc(d.n);
		if (d.owned)
			memcpy(d.owned, f->p + off, d.n);
		else
			err = -ENOMEM;
		d.p = d.owned;
	}
	pthread_mutex_unlock(&nf->claim_lock);
	if (f && !err) {
		rtk_tree_data_release(data);
		*data = d;
	}
	return err;
}

/*
 * What a helper may send: markers, and lazy stores once due. The rest stays with the notifier
 * thread: invalidations may wait in the kernel for a request to be answered (a READ's page,
 * a LOOKUP's directory), as may a directory's store (grep -r reads its files at once), and
 * the helper is the thread that reads requests.
 */
static enum rtk_workq_ready helpable(void *ctx, const struct rtk_workq_item *item)
{
	const struct notice *n = (const struct notice *)item;
	struct rtk_notifier *nf = ctx;

	if (n->mark)
		return RTK_WORKQ_RUN;
	if (!n->store || !n->store->lazy)
		return RTK_WORKQ_WORKER;
	if (n->retry ? rtk_clock_mono_ns() < n->due : rtk_loop_requests() <= n->after)
		return RTK_WORKQ_LATER;
	atomic_fetch_add(&nf->helped, n->store->n);
	return RTK_WORKQ_RUN;
}

int rtk_notifier_help(struct rtk_notifier *nf)
{
	return rtk_workq_help(nf->notifier, helpable);
}

void rtk_notifier_set_helper(struct rtk_notifier *nf, bool present)
{
	rtk_workq_set_helper(nf->notifier, present, HELP_WAKE_PAST);
}

bool rtk_notifier_busy(struct rtk_notifier *nf)
{
	return rtk_workq_busy(nf->notifier);
}

void rtk_notifier_stats(struct rtk_notifier *nf, struct rtk_ctl_kernel *out)
{
	out->queued = atomic_load(&nf->queued);
	out->sent = atomic_load(&nf->sent);
	out->stale = atomic_load(&nf->stale);
	out->full = atomic_load(&nf->full);
	out->missed = atomic_load(&nf->missed);
	out->retried = atomic_load(&nf->retried);
	out->cancelled = atomic_load(&nf->cancelled);
	out->raced = atomic_load(&nf->raced);
	out->helped = atomic_load(&nf->helped);
	out->pending_bytes = atomic_load(&nf->pending);
	out->settled = atomic_load(&nf->settled) + atomic_load(&nf->settle_late) +
		       atomic_load(&nf->settle_blocked);
	out->settle_late = atomic_load(&nf->settle_late);
	out->settle_blocked = atomic_load(&nf->settle_blocked);
}

int rtk_notifier_start(struct rtk_notifier *nf, struct fuse_session *se)
{
	int err;

	nf->se = se;
	err = rtk_workq_start(nf->notifier);
	return err ? err : rtk_workq_start(nf->own);
}

/* While a thread stops: answer a request it may wait for (after the session loop ended). */
static void drain(void *ctx)
{
	struct rtk_notifier *nf = ctx;

	if (nf->se)
		rtk_session_drain(nf->se, RTK_WORKQ_JOIN_STEP_MS);
}

void rtk_notifier_stop(struct rtk_notifier *nf)
{
	rtk_workq_stop_while(nf->notifier, drain, nf);
	rtk_workq_stop_while(nf->own, drain, nf);
}

struct rtk_ino_hooks rtk_notifier_hooks(struct rtk_notifier *nf)
{
	struct rtk_ino_hooks h = {
	    .inval_inode = hook_inval_inode,
	    .inval_entry = hook_inval_entry,
	    .store = nf->push ? hook_store : NULL,
	    .write_seq = hook_write_seq,
	    .settle = hook_settle,
	    .inval_written = hook_inval_written,
	    .ctx = nf,
	};
	return h;
}

struct rtk_notifier *rtk_notifier_new(bool push)
{
	struct rtk_notifier *nf = calloc(1, sizeof(*nf));
	struct rtk_workq_config qc = {
	    .threads = 1,
	    .max_jobs = NOTIFY_QUEUE_MAX,
	    .run = notify,
	    .drop = drop_notice,
	    .ctx = nf,
	};
	if (!nf)
		return NULL;
	nf->push = push;
	if (pthread_mutex_init(&nf->claim_lock, NULL))
		goto free_v;
	if (pthread_mutex_init(&nf->mark_lock, NULL))
		goto destroy_claim;
	if (rtk_clock_cond_init(&nf->mark_cond))
		goto destroy_mark;
	nf->notifier = rtk_workq_new(&qc);
	if (!nf->notifier)
		goto destroy_cond;
	nf->own = rtk_workq_new(&qc);
	if (!nf->own)
		goto free_notifier;
	return nf;

free_notifier:
	rtk_workq_free(nf->notifier);
destroy_cond:
	pthread_cond_destroy(&nf->mark_cond);
destroy_mark:
	pthread_mutex_destroy(&nf->mark_lock);
destroy_claim:
	pthread_mutex_destroy(&nf->claim_lock);
free_v:
	free(nf);
	return NULL;
}

void rtk_notifier_free(struct rtk_notifier *nf)
{
	if (!nf)
		return;
	rtk_workq_free(nf->own);
	rtk_workq_free(nf->notifier);
	pthread_cond_destroy(&nf->mark_cond);
	pthread_mutex_destroy(&nf->mark_lock);
	pthread_mutex_destroy(&nf->claim_lock);
	free(nf);
}
