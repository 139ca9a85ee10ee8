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
 * kernel sends no release for it either. What changes is invalidated through the attributes
 * (mtime, size) and through the notifier (notifier.h), which this adapter owns.
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
#include "rtkfs/notifier.h"
#include "rtkfs/vfs.h"

/* What a SETATTR that only truncates may carry (open with O_TRUNC sets the times too). */
#define SETATTR_TRUNC                                                                         \
	(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW |                    \
	 FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_CTIME |                    \
	 FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID | FUSE_SET_ATTR_KILL_PRIV |            \
	 FUSE_SET_ATTR_FILE | FUSE_SET_ATTR_OPEN | FUSE_SET_ATTR_TIMES_SET)
struct rtk_vfs {
	struct rtk_vfs_config cfg;
	struct rtk_tree *tree;
	struct rtk_notifier *notifier; /* owned */
	atomic_uint_fast64_t ops[RTK_KOP__N]; /* requests received, by opcode */
};

static void tally(struct rtk_vfs *v, enum rtk_ctl_kop op)
{
	atomic_fetch_add_explicit(&v->ops[op], 1, memory_order_relaxed);
}

int rtk_vfs_help(void *ctx)
{
	return rtk_notifier_help(((struct rtk_vfs *)ctx)->notifier);
}

void rtk_vfs_set_helper(void *ctx, bool present)
{
	rtk_notifier_set_helper(((struct rtk_vfs *)ctx)->notifier, present);
}

bool rtk_vfs_notifier_busy(void *ctx)
{
	return rtk_notifier_busy(((struct rtk_vfs *)ctx)->notifier);
}

void rtk_vfs_kernel_stats(void *ctx, struct rtk_ctl_kernel *out)
{
	struct rtk_vfs *v = ctx;
	size_t i;

	for (i = 0; i < RTK_KOP__N; i++)
		out->ops[i] = atomic_load_explicit(&v->ops[i], memory_order_relaxed);
	rtk_notifier_stats(v->notifier, out);
	rtk_loop_handoffs(&out->handoffs, &out->watchdog);
}

int rtk_vfs_start_notifier(struct rtk_vfs *v, struct fuse_session *se)
{
	return rtk_notifier_start(v->notifier, se);
}

void rtk_vfs_stop_notifier(struct rtk_vfs *v)
{
	rtk_notifier_stop(v->notifier);
}

/* A WRITE or truncate of file ino: its pages are the kernel's; no push lands over them. */
static void note_write(struct rtk_vfs *v, uint64_t ino)
{
	if (!v->cfg.push)
		return;
	rtk_tree_note_paged(v->tree, ino);
	rtk_notifier_note_write(v->notifier, ino);
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

static void vfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	struct rtk_tree_data data;
	int err;

	tally(v, RTK_KOP_READ);
	if (v->cfg.push)
		rtk_tree_note_paged(v->tree, ino); /* its pages: no push goes there now */
	err = rtk_tree_read(v->tree, ino, (uint64_t)off, size, &op, &data);
	if (!err && v->cfg.push)
		err = rtk_notifier_read_claimed(v->notifier, ino, (uint64_t)off, size, &data);
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
	return rtk_notifier_hooks(v->notifier);
}

void rtk_vfs_set_tree(struct rtk_vfs *v, struct rtk_tree *t)
{
	v->tree = t;
}

struct rtk_vfs *rtk_vfs_new(const struct rtk_vfs_config *cfg)
{
	struct rtk_vfs *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->cfg = *cfg;
	v->notifier = rtk_notifier_new(cfg->push);
	if (!v->notifier) {
		free(v);
		return NULL;
	}
	return v;
}

void rtk_vfs_free(struct rtk_vfs *v)
{
	if (!v)
		return;
	rtk_notifier_free(v->notifier);
	free(v);
}
