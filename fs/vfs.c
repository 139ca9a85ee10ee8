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
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <fuse_lowlevel.h>

#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "rtkfs/vfs.h"
#include "rtkfs/workq.h"

#define NOTIFY_QUEUE_MAX 65536
/* What a SETATTR that only truncates may carry (open with O_TRUNC sets the times too). */
#define SETATTR_TRUNC                                                                         \
	(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW |                    \
	 FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_CTIME |                    \
	 FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID | FUSE_SET_ATTR_KILL_PRIV |            \
	 FUSE_SET_ATTR_FILE | FUSE_SET_ATTR_OPEN | FUSE_SET_ATTR_TIMES_SET)

struct notice {
	struct rtk_workq_item item; /* first: a notice is its item */
	uint64_t ino;               /* inode to invalidate, or the parent of name */
	char name[];                /* "": invalidate ino; else the entry name in ino */
};

struct rtk_vfs {
	struct rtk_vfs_config cfg;
	struct rtk_tree *tree;
	struct rtk_workq *notifier; /* one thread: the only sender of kernel notifications */
	struct fuse_session *se;
};

/* ---- the notifier ---- */

static void notify(void *ctx, struct rtk_workq_item *item)
{
	struct rtk_vfs *v = ctx;
	struct notice *n = (struct notice *)item;

	/* -ENOENT only means the kernel holds nothing for it. */
	if (n->name[0])
		fuse_lowlevel_notify_inval_entry(v->se, n->ino, n->name, strlen(n->name));
	else
		fuse_lowlevel_notify_inval_inode(v->se, n->ino, 0, 0);
	free(n);
}

static void drop_notice(void *ctx, struct rtk_workq_item *item)
{
	free(item);
}

static void enqueue(struct rtk_vfs *v, uint64_t ino, const char *name)
{
	size_t len = name ? strlen(name) : 0;
	struct notice *n = malloc(sizeof(*n) + len + 1);

	if (!n)
		return; /* the kernel will age it out by the TTL */
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

static void hook_inval_entry(void *ctx, uint64_t parent, const char *name)
{
	enqueue(ctx, parent, name);
}

int rtk_vfs_start_notifier(struct rtk_vfs *v, struct fuse_session *se)
{
	v->se = se;
	return rtk_workq_start(v->notifier);
}

void rtk_vfs_stop_notifier(struct rtk_vfs *v)
{
	rtk_workq_stop(v->notifier);
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
}

static void vfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	rtk_tree_forget(vfs_of(req)->tree, ino, nlookup);
	fuse_reply_none(req);
}

static void vfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	size_t i;

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

	err = rtk_tree_getattr(v->tree, ino, &op, &a);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &a.st, timeout_of(v, &a));
}

static void vfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
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
	/* Nothing is sent at close: ENOSYS stops the kernel asking (no-flush). */
	fuse_reply_err(req, ENOSYS);
}

static void vfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
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
	do_readdir(req, ino, size, off, true);
}

static void vfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct rtk_vfs *v = vfs_of(req);
	struct rtk_op op = op_for(req);
	struct rtk_tree_data data;
	int err;

	err = rtk_tree_read(v->tree, ino, (uint64_t)off, size, &op, &data);
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

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
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

	if (!v)
		return NULL;
	v->cfg = *cfg;
	v->notifier = rtk_workq_new(&qc);
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
	rtk_workq_free(v->notifier);
	free(v);
}
