// SPDX-License-Identifier: MIT
/*
 * FUSE low-level callbacks. Every handler builds a struct rtk_op (deadline now +
 * timeout, interrupt check on the request), calls the tree and replies; nothing here blocks
 * without that deadline, and nothing exits.
 *
 * opendir, open and flush answer ENOSYS on every mount: the kernel then never sends them
 * again (no-opendir, no-open, no-flush), keeps directory listings and page cache across
 * opens, and sends no release for files: a read costs no round trip. Writes arrive as
 * WRITE(ino, offset, bytes) without a file handle and take effect there (write.h), so that
 * write() returns their result. A file created in webhooks/ is written by number too: the
 * kernel sends no release for it either. What changes is invalidated through the attributes (mtime, size) and
 * through the notifier thread below.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "rtkfs/loop.h"
#include "rtkfs/vfs.h"
#include "rtkfs/workq.h"

#define NOTIFY_QUEUE_MAX 65536
/* What a SETATTR that only truncates may carry (open with O_TRUNC sets the times too). */
#define SETATTR_TRUNC                                                                         \
	(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW |                    \
	 FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_CTIME |                    \
	 FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID | FUSE_SET_ATTR_KILL_PRIV |            \
	 FUSE_SET_ATTR_FILE | FUSE_SET_ATTR_OPEN | FUSE_SET_ATTR_TIMES_SET)
/* Local writes remembered for the stores queued before them (a power of 2). */
#define WRITES_KEPT 64u
/* Bytes of queued stores at most: past it a store is dropped (the kernel reads instead). */
#define STORE_PENDING_MAX (8u << 20)

struct notice {
	struct rtk_workq_item item; /* first: a notice is its item */
	struct rtk_ino_store *store; /* a store, or NULL: an invalidation */
	uint64_t mark;               /* not 0: a marker, settled when the notifier reaches it */
	uint64_t ino; /* inode to invalidate, or the parent of name; a store: its retry's due time */
	char name[];                /* "": invalidate ino; else the entry name in ino */
};

struct rtk_vfs {
	struct rtk_vfs_config cfg;
	struct rtk_tree *tree;
	struct rtk_workq *notifier; /* one thread: the sender of kernel notifications */
	struct rtk_workq *own;      /* one thread: invalidations of files being written */
	struct fuse_session *se;
	atomic_uint_fast64_t ops[RTK_KOP__N]; /* requests received, by opcode */
	atomic_uint_fast64_t queued, sent, stale, full, missed, retried, cancelled, raced;
	atomic_uint_fast64_t settled, settle_late, settle_blocked;
	atomic_size_t pending;       /* bytes of the stores queued */
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

static void tally(struct rtk_vfs *v, enum rtk_ctl_kop op)
{
	atomic_fetch_add_explicit(&v->ops[op], 1, memory_order_relaxed);
}

/* ---- the notifier ---- */

/*
 * Files the kernel had no inode for yet (the reply that hands it out may still be on its
 * way into the kernel) are tried once more, this long after.
 */
#define STORE_RETRY_NS 300000

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
static bool queue_store(struct rtk_vfs *v, struct notice *n)
{
	size_t bytes = n->store->bytes;

	if (atomic_fetch_add(&v->pending, bytes) + bytes > STORE_PENDING_MAX) {
		atomic_fetch_sub(&v->pending, bytes);
		return false;
	}
	atomic_fetch_add(&v->pending_files, n->store->n);
	if (rtk_workq_push(v->notifier, &n->item) != 0) {
		atomic_fetch_sub(&v->pending_files, n->store->n);
		atomic_fetch_sub(&v->pending, bytes);
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
static bool claim(struct rtk_vfs *v, struct rtk_ino_store *s)
{
	bool ok = true;
	uint64_t w;

	pthread_mutex_lock(&v->claim_lock);
	if (v->writes - s->seq > WRITES_KEPT)
		ok = false;
	for (w = s->seq; ok && w < v->writes; w++)
		ok = !store_has(s, v->written[w % WRITES_KEPT]);
	if (ok) {
		v->claim = s;
		v->claim_raced = false;
	}
	pthread_mutex_unlock(&v->claim_lock);
	return ok;
}

/* Done sending the claimed store: did a write of one of its files come meanwhile? */
static bool unclaim(struct rtk_vfs *v)
{
	bool raced;

	pthread_mutex_lock(&v->claim_lock);
	raced = v->claim_raced;
	v->claim = NULL;
	v->claim_raced = false;
	pthread_mutex_unlock(&v->claim_lock);
	return raced;
}

/* A WRITE or truncate of file ino: no store queued before it may land after it. */
static void note_write(struct rtk_vfs *v, uint64_t ino)
{
	bool raced;

	rtk_tree_note_paged(v->tree, ino);
	if (!v->cfg.push)
		return;
	pthread_mutex_lock(&v->claim_lock);
	v->written[v->writes++ % WRITES_KEPT] = ino;
	raced = v->claim && store_has(v->claim, ino);
	if (raced)
		v->claim_raced = true;
	pthread_mutex_unlock(&v->claim_lock);
	if (raced) { /* a write waiting in settle stops waiting (store_blocked) */
		pthread_mutex_lock(&v->mark_lock);
		pthread_cond_broadcast(&v->mark_cond);
		pthread_mutex_unlock(&v->mark_lock);
	}
}

/*
 * Push a store's files into the page cache, unless a newer listing replaced its bytes.
 * True when n was queued again (a retry of the files the kernel had no inode for).
 */
static bool send_store(struct rtk_vfs *v, struct notice *n)
{
	struct rtk_ino_store *s = n->store;
	size_t bytes = s->bytes; /* pending until sent (stats.json shows when all landed) */
	unsigned files = s->n;
	bool again = false;
	unsigned i, left = 0;
	uint32_t retry = 0; /* files[i] the kernel had no inode for (RTK_INO_STORE_FILES <= 32) */
	int err;

	if (n->ino) /* a retry: ino is when it is due */
		sleep_until(n->ino);
	/* Claim, then check: a READ answered from a newer listing after the claim is answered
	 * with these bytes; one answered before it means the check fails. */
	if (!claim(v, s)) {
		atomic_fetch_add(&v->cancelled, 1);
		goto out;
	}
	if (!s->current(s)) {
		unclaim(v);
		atomic_fetch_add(&v->stale, 1);
		goto out;
	}
	for (i = 0; i < s->n; i++) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(s->files[i].len);

		bv.buf[0].mem = (void *)(uintptr_t)s->files[i].p;
		err = fuse_lowlevel_notify_store(v->se, s->files[i].ino, 0, &bv, 0);
		if (err == -ENOENT && !n->ino) {
			retry |= 1u << i;
			atomic_fetch_add(&v->retried, 1);
		} else {
			atomic_fetch_add(err ? &v->missed : &v->sent, 1);
		}
	}
	/*
	 * A write of a file while its store was sent: the store may have waited for the page
	 * the WRITE held and landed after it. Drop what it left (after it: this thread).
	 */
	if (unclaim(v)) {
		atomic_fetch_add(&v->raced, 1);
		for (i = 0; i < s->n; i++)
			fuse_lowlevel_notify_inval_inode(v->se, s->files[i].ino, 0, 0);
	}
	/* Unclaimed: no READ looks at s->files now (read_claimed), they may move. */
	for (i = 0; i < s->n; i++)
		if (retry & (1u << i))
			s->files[left++] = s->files[i];
	if (left) {
		s->n = left;
		for (s->bytes = 0, i = 0; i < left; i++)
			s->bytes += s->files[i].len;
		n->ino = rtk_clock_mono_ns() + STORE_RETRY_NS;
		again = queue_store(v, n);
		if (!again)
			atomic_fetch_add(&v->missed, left);
	}
out:
	atomic_fetch_sub(&v->pending_files, files);
	atomic_fetch_sub(&v->pending, bytes);
	if (!again)
		s->release(s);
	return again;
}

/* The notifier reached marker mark (or dropped it): wake who waits for it. */
static void reach(struct rtk_vfs *v, uint64_t mark)
{
	pthread_mutex_lock(&v->mark_lock);
	if (mark > v->reached)
		v->reached = mark;
	pthread_cond_broadcast(&v->mark_cond);
	pthread_mutex_unlock(&v->mark_lock);
}

static void notify(void *ctx, struct rtk_workq_item *item)
{
	struct rtk_vfs *v = ctx;
	struct notice *n = (struct notice *)item;

	/* -ENOENT only means the kernel holds nothing for it. */
	if (n->mark) {
		reach(v, n->mark);
	} else if (n->store) {
		if (send_store(v, n))
			return;
	} else if (n->name[0]) {
		fuse_lowlevel_notify_inval_entry(v->se, n->ino, n->name, strlen(n->name));
	} else {
		fuse_lowlevel_notify_inval_inode(v->se, n->ino, 0, 0);
	}
	free(n);
}

static void drop_notice(void *ctx, struct rtk_workq_item *item)
{
	struct rtk_vfs *v = ctx;
	struct notice *n = (struct notice *)item;

	if (n->mark)
		reach(v, n->mark);
	if (n->store) {
		atomic_fetch_sub(&v->pending_files, n->store->n);
		atomic_fetch_sub(&v->pending, n->store->bytes);
		n->store->release(n->store);
	}
	free(n);
}

static void enqueue(struct rtk_vfs *v, uint64_t ino, const char *name)
{
	size_t len = name ? strlen(name) : 0;
	struct notice *n = malloc(sizeof(*n) + len + 1);

	if (!n)
		return; /* the kernel will age it out by the TTL */
	n->store = NULL;
	n->mark = 0;
	n->ino = ino;
	memcpy(n->name, name ? name : "", len + 1);
	/* Not running yet (nothing cached), or full: the kernel ages it out by the TTL. */
	if (rtk_workq_push(v->notifier, &n->item) != 0)
		free(n);
}

static void hook_inval_inode(void *ctx, uint64_t ino)
{
	enqueue(ctx, ino, NULL);
}

/* On the queue of its own (ino.h): it waits in the kernel for the WRITE's reply. */
static void hook_inval_written(void *ctx, uint64_t ino)
{
	struct rtk_vfs *v = ctx;
	struct notice *n = malloc(sizeof(*n) + 1);

	if (!n)
		return;
	n->store = NULL;
	n->mark = 0;
	n->ino = ino;
	n->name[0] = 0;
	if (rtk_workq_push(v->own, &n->item) != 0)
		free(n);
}

static void hook_inval_entry(void *ctx, uint64_t parent, const char *name)
{
	enqueue(ctx, parent, name);
}

/* Queue a marker behind what is queued and wait until the notifier reaches it or until_ns. */
/*
 * Is the notifier sending a store that a local write raced (claim_raced)? It may wait for
 * the page that write's WRITE holds until it is answered, and that WRITE may be the one
 * waiting in settle: waiting longer only runs into the bound.
 */
static bool store_blocked(struct rtk_vfs *v)
{
	bool raced;

	pthread_mutex_lock(&v->claim_lock);
	raced = v->claim && v->claim_raced;
	pthread_mutex_unlock(&v->claim_lock);
	return raced;
}

static void hook_settle(void *ctx, uint64_t until_ns)
{
	struct rtk_vfs *v = ctx;
	struct notice *n = calloc(1, sizeof(*n) + 1);
	struct timespec ts = {
		.tv_sec = (time_t)(until_ns / RTK_NS_PER_SEC),
		.tv_nsec = (long)(until_ns % RTK_NS_PER_SEC),
	};
	uint64_t mark;

	if (!n)
		return;
	pthread_mutex_lock(&v->mark_lock);
	n->mark = mark = ++v->marked;
	/* Pushed under the lock: markers are queued in the order of their numbers. */
	if (rtk_workq_push(v->notifier, &n->item) != 0) {
		pthread_mutex_unlock(&v->mark_lock);
		free(n); /* not running, or full: nothing to wait for that will come soon */
		return;
	}
	rtk_loop_waiting();
	while (v->reached < mark && rtk_clock_mono_ns() < until_ns && !store_blocked(v))
		pthread_cond_timedwait(&v->mark_cond, &v->mark_lock, &ts);
	atomic_fetch_add(v->reached >= mark ? &v->settled
			 : store_blocked(v) ? &v->settle_blocked : &v->settle_late, 1);
	pthread_mutex_unlock(&v->mark_lock);
}

static uint64_t hook_write_seq(void *ctx)
{
	struct rtk_vfs *v = ctx;
	uint64_t w;

	pthread_mutex_lock(&v->claim_lock);
	w = v->writes;
	pthread_mutex_unlock(&v->claim_lock);
	return w;
}

/* Queue a store behind the invalidations queued so far; no room (bytes or jobs): drop it. */
static void hook_store(void *ctx, struct rtk_ino_store *s)
{
	struct rtk_vfs *v = ctx;
	struct notice *n = malloc(sizeof(*n) + 1);

	if (n) {
		n->store = s;
		n->mark = 0;
		n->ino = 0; /* a first try */
		n->name[0] = 0;
		if (queue_store(v, n)) {
			atomic_fetch_add(&v->queued, 1);
			return;
		}
		free(n);
	}
	atomic_fetch_add(&v->full, 1);
	s->release(s);
}

bool rtk_vfs_storing(void *ctx)
{
	struct rtk_vfs *v = ctx;

	return atomic_load_explicit(&v->pending_files, memory_order_relaxed) > 1;
}

void rtk_vfs_kernel_stats(void *ctx, struct rtk_ctl_kernel *out)
{
	struct rtk_vfs *v = ctx;
	size_t i;

	for (i = 0; i < RTK_KOP__N; i++)
		out->ops[i] = atomic_load_explicit(&v->ops[i], memory_order_relaxed);
	out->queued = atomic_load(&v->queued);
	out->sent = atomic_load(&v->sent);
	out->stale = atomic_load(&v->stale);
	out->full = atomic_load(&v->full);
	out->missed = atomic_load(&v->missed);
	out->retried = atomic_load(&v->retried);
	out->cancelled = atomic_load(&v->cancelled);
	out->raced = atomic_load(&v->raced);
	rtk_loop_handoffs(&out->handoffs, &out->watchdog);
	out->pending_bytes = atomic_load(&v->pending);
	out->settled = atomic_load(&v->settled) + atomic_load(&v->settle_late) +
		       atomic_load(&v->settle_blocked);
	out->settle_late = atomic_load(&v->settle_late);
	out->settle_blocked = atomic_load(&v->settle_blocked);
}

int rtk_vfs_start_notifier(struct rtk_vfs *v, struct fuse_session *se)
{
	int err;

	v->se = se;
	err = rtk_workq_start(v->notifier);
	return err ? err : rtk_workq_start(v->own);
}

void rtk_vfs_stop_notifier(struct rtk_vfs *v)
{
	rtk_workq_stop(v->notifier);
	rtk_workq_stop(v->own);
}

/* ---- requests ---- */

static bool req_interrupted(void *ctx)
{
	return fuse_req_interrupted(ctx);
}

static struct rtk_vfs *vfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct rtk_op op_for(fuse_req_t req)
{
	struct rtk_op op = {
		.deadline_ns = rtk_clock_mono_ns() + vfs_of(req)->cfg.timeout_ns,
		.interrupted = req_interrupted,
		.interrupted_ctx = req,
	};
	return op;
}

static double timeout_of(const struct rtk_vfs *v, const struct rtk_attr *a)
{
	return a->volatile_attr ? 0.0 : v->cfg.ttl_s;
}

static void vfs_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Always plus: one readdir fills every child's attributes (cold lookups 90k → 8k). */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/*
	 * No atomic_o_trunc: with no-open it would empty the kernel's view without telling us,
	 * and readers could then get the old size from us around the writer's new bytes. Without
	 * it, O_TRUNC arrives as SETATTR(size 0) and the file reads empty until written.
	 */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
}

static void vfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	struct rtk_attr a;
	struct fuse_entry_param e;
	int err;

	tally(v, RTK_KOP_LOOKUP);
	memset(&e, 0, sizeof(e));
	err = rtk_tree_lookup(v->tree, parent, name, &op, &a);
	if (err == -ENOENT) {
		/* A negative entry: the name is not in a fresh listing, for the TTL. */
		e.ino = 0;
		e.entry_timeout = v->cfg.ttl_s;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	e.ino = a.st.st_ino;
	e.attr = a.st;
	e.attr_timeout = timeout_of(v, &a);
	e.entry_timeout = timeout_of(v, &a);
	if (fuse_reply_entry(req, &e) != 0) /* the kernel never got it: nothing to count */
		rtk_tree_forget(v->tree, e.ino, 1);
	else if (!S_ISDIR(a.st.st_mode) && !a.volatile_attr)
		rtk_tree_push_file(v->tree, e.ino); /* a read may follow: its bytes first */
}

static void vfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	tally(vfs_of(req), RTK_KOP_FORGET);
	rtk_tree_forget(vfs_of(req)->tree, ino, nlookup);
	fuse_reply_none(req);
}

static void vfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	size_t i;

	tally(vfs_of(req), RTK_KOP_FORGET);
	for (i = 0; i < count; i++)
		rtk_tree_forget(vfs_of(req)->tree, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void vfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	struct rtk_attr a;
	int err;

	tally(v, RTK_KOP_GETATTR);
	err = rtk_tree_getattr(v->tree, ino, &op, &a);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &a.st, timeout_of(v, &a));
}

static void vfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tally(vfs_of(req), RTK_KOP_OPEN);
	/*
	 * No file needs an open: ENOSYS makes the kernel stop sending it (and release), keep
	 * page cache across opens, and send writes without a handle. O_TRUNC arrives as a
	 * SETATTR of the size (see vfs_init).
	 */
	fuse_reply_err(req, ENOSYS);
}

static void vfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	struct rtk_attr a;
	struct fuse_entry_param e;
	int err;

	err = rtk_tree_create(v->tree, parent, name, fi->flags, &op, &a);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = a.st.st_ino;
	e.attr = a.st;
	/*
	 * No handle: its writes come by number like the others' (the kernel sends no release
	 * for it on a no-open mount). Its bytes are a document in the making: no page cache.
	 */
	fi->fh = 0;
	fi->direct_io = 1;
	fuse_reply_create(req, &e, fi);
}

static void vfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tally(vfs_of(req), RTK_KOP_FLUSH);
	/* Nothing is sent at close: ENOSYS stops the kernel asking (no-flush). */
	fuse_reply_err(req, ENOSYS);
}

static void vfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tally(vfs_of(req), RTK_KOP_RELEASE);
	fuse_reply_err(req, 0); /* nothing is kept per open file */
}

static void vfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, ENOSYS); /* no-opendir: the kernel caches listings */
}

struct dirbuf {
	fuse_req_t req;
	struct rtk_vfs *v;
	bool plus;
	char *buf;
	size_t size, used;
};

static bool emit_entry(void *ctx, const char *name, const struct rtk_attr *attr,
		       uint64_t next_off)
{
	struct dirbuf *d = ctx;
	size_t need;

	if (d->plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.ino = attr->st.st_ino;
		e.attr = attr->st;
		e.attr_timeout = timeout_of(d->v, attr);
		e.entry_timeout = timeout_of(d->v, attr);
		need = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name,
					      &e, (off_t)next_off);
	} else {
		need = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name,
					 &attr->st, (off_t)next_off);
	}
	if (need > d->size - d->used)
		return false;
	d->used += need;
	return true;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	struct dirbuf d = {.req = req, .v = v, .plus = plus, .size = size};
	int err;

	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = rtk_tree_readdir(v->tree, ino, (uint64_t)off, plus, &op, emit_entry, &d);
	/*
	 * A read past the end comes after the kernel linked the entries of the reads before
	 * (the same getdents loop): it holds the files' inodes now, so their bytes may follow
	 * (queued for the notifier before the reply, to land before the reader's first READ).
	 */
	if (plus && off > 0 && !err && !d.used)
		rtk_tree_push_dir(v->tree, ino);
	if (err && !d.used)
		fuse_reply_err(req, -err);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void vfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false);
}

static void vfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	tally(vfs_of(req), RTK_KOP_READDIRPLUS);
	do_readdir(req, ino, size, off, true);
}

/* If the store being sent holds file ino, answer a READ with its bytes (a copy). */
static int read_claimed(struct rtk_vfs *v, uint64_t ino, uint64_t off, size_t size,
			struct rtk_tree_data *data)
{
	const struct rtk_ino_store_file *f = NULL;
	struct rtk_tree_data d = {0};
	unsigned i;
	int err = 0;

	pthread_mutex_lock(&v->claim_lock);
	for (i = 0; v->claim && i < v->claim->n && !f; i++)
		if (v->claim->files[i].ino == ino)
			f = &v->claim->files[i];
	if (f && off < f->len) {
		d.n = f->len - off < size ? f->len - off : size;
		d.owned = malloc(d.n);
		if (d.owned)
			memcpy(d.owned, f->p + off, d.n);
		else
			err = -ENOMEM;
		d.p = d.owned;
	}
	pthread_mutex_unlock(&v->claim_lock);
	if (f && !err) {
		rtk_tree_data_release(data);
		*data = d;
	}
	return err;
}

static void vfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	struct rtk_tree_data data;
	int err;

	tally(v, RTK_KOP_READ);
	rtk_tree_note_paged(v->tree, ino); /* its pages: no push goes there now */
	err = rtk_tree_read(v->tree, ino, (uint64_t)off, size, &op, &data);
	if (!err && v->cfg.push)
		err = read_claimed(v, ino, (uint64_t)off, size, &data);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	fuse_reply_buf(req, data.p, data.n);
	rtk_tree_data_release(&data);
}

static void vfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	int err;

	tally(v, RTK_KOP_WRITE);
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	note_write(v, ino);
	err = rtk_tree_write(v->tree, ino, buf, size, (uint64_t)off, &op);
	if (err == -EACCES && v->cfg.ro)
		err = -EROFS;
	if (err < 0)
		fuse_reply_err(req, -err);
	else
		fuse_reply_write(req, size);
}

static void vfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	struct rtk_attr a;
	int err;

	/* Only the size changes (open with O_TRUNC also sets the times: ignored). */
	if (!(to_set & FUSE_SET_ATTR_SIZE) || (to_set & ~SETATTR_TRUNC) || attr->st_size < 0) {
		fuse_reply_err(req, v->cfg.ro ? EROFS : EPERM);
		return;
	}
	note_write(v, ino);
	err = rtk_tree_getattr(v->tree, ino, &op, &a);
	if (!err)
		err = rtk_tree_truncate(v->tree, ino, (uint64_t)attr->st_size);
	if (!err) /* the attributes as readers now see them */
		err = rtk_tree_getattr(v->tree, ino, &op, &a);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	fuse_reply_attr(req, &a.st, 0);
}

static void reply_eperm(fuse_req_t req)
{
	fuse_reply_err(req, vfs_of(req)->cfg.ro ? EROFS : EPERM);
}

static void vfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	reply_eperm(req); /* ids are the server's to choose: create by writing JSON instead */
}

static void vfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev)
{
	reply_eperm(req);
}

static void vfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_eperm(req); /* fields cannot be removed; rmdir removes a webhook */
}

static void vfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	int err = rtk_tree_rmdir(v->tree, parent, name, &op);

	fuse_reply_err(req, -err);
}

static void vfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	reply_eperm(req);
}

static void vfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	reply_eperm(req);
}

static void vfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	reply_eperm(req);
}

static void vfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs s;

	memset(&s, 0, sizeof(s));
	s.f_bsize = 4096;
	s.f_frsize = 4096;
	s.f_namemax = 255;
	fuse_reply_statfs(req, &s);
}

static const struct fuse_lowlevel_ops vfs_ops = {
	.init = vfs_init,
	.lookup = vfs_lookup,
	.forget = vfs_forget,
	.forget_multi = vfs_forget_multi,
	.getattr = vfs_getattr,
	.setattr = vfs_setattr,
	.open = vfs_open,
	.create = vfs_create,
	.flush = vfs_flush,
	.release = vfs_release,
	.opendir = vfs_opendir,
	.read = vfs_read,
	.write = vfs_write,
	.readdir = vfs_readdir,
	.readdirplus = vfs_readdirplus,
	.mkdir = vfs_mkdir,
	.mknod = vfs_mknod,
	.unlink = vfs_unlink,
	.rmdir = vfs_rmdir,
	.rename = vfs_rename,
	.link = vfs_link,
	.symlink = vfs_symlink,
	.statfs = vfs_statfs,
};

struct fuse_session *rtk_vfs_session_new(struct rtk_vfs *v, struct fuse_args *args)
{
	return fuse_session_new(args, &vfs_ops, sizeof(vfs_ops), v);
}

struct rtk_ino_hooks rtk_vfs_hooks(struct rtk_vfs *v)
{
	struct rtk_ino_hooks h = {
		.inval_inode = hook_inval_inode,
		.inval_entry = hook_inval_entry,
		.store = v->cfg.push ? hook_store : NULL,
		.write_seq = hook_write_seq,
		.settle = hook_settle,
		.inval_written = hook_inval_written,
		.ctx = v,
	};
	return h;
}

void rtk_vfs_set_tree(struct rtk_vfs *v, struct rtk_tree *t)
{
	v->tree = t;
}

struct rtk_vfs *rtk_vfs_new(const struct rtk_vfs_config *cfg)
{
	struct rtk_vfs *v = calloc(1, sizeof(*v));
	struct rtk_workq_config qc = {
		.threads = 1,
		.max_jobs = NOTIFY_QUEUE_MAX,
		.run = notify,
		.drop = drop_notice,
		.ctx = v,
	};
	pthread_condattr_t ca;
	int err;

	if (!v)
		return NULL;
	v->cfg = *cfg;
	if (pthread_mutex_init(&v->claim_lock, NULL))
		goto free_v;
	if (pthread_mutex_init(&v->mark_lock, NULL))
		goto destroy_claim;
	if (pthread_condattr_init(&ca))
		goto destroy_mark;
	err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	      pthread_cond_init(&v->mark_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (err)
		goto destroy_mark;
	v->notifier = rtk_workq_new(&qc);
	if (!v->notifier)
		goto destroy_cond;
	v->own = rtk_workq_new(&qc);
	if (!v->own)
		goto free_notifier;
	return v;

free_notifier:
	rtk_workq_free(v->notifier);
destroy_cond:
	pthread_cond_destroy(&v->mark_cond);
destroy_mark:
	pthread_mutex_destroy(&v->mark_lock);
destroy_claim:
	pthread_mutex_destroy(&v->claim_lock);
free_v:
	free(v);
	return NULL;
}

void rtk_vfs_free(struct rtk_vfs *v)
{
	if (!v)
		return;
	rtk_workq_free(v->own);
	rtk_workq_free(v->notifier);
	pthread_cond_destroy(&v->mark_cond);
	pthread_mutex_destroy(&v->mark_lock);
	pthread_mutex_destroy(&v->claim_lock);
	free(v);
}
