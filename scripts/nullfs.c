// SPDX-License-Identifier: MIT
/*
 * nullfs: the least a low-level libfuse filesystem can do for a LOOKUP (scripts/lookup-floor).
 * Every name looks up at once to a new inode: a directory when it starts with 'd', else a
 * file; nothing else is implemented. Its LOOKUP time is the kernel's and libfuse's, no more.
 *
 *     cc -O2 -o nullfs scripts/nullfs.c $(pkg-config --cflags --libs fuse3)
 *     ./nullfs -f [-s] MOUNTPOINT
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong next_ino = 2;

static void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	(void)parent;
	memset(&e, 0, sizeof(e));
	e.ino = atomic_fetch_add(&next_ino, 1);
	e.attr.st_ino = e.ino;
	e.attr.st_mode = name[0] == 'd' ? S_IFDIR | 0755 : S_IFREG | 0444;
	e.attr.st_nlink = 1;
	e.attr.st_size = 10;
	e.attr_timeout = e.entry_timeout = 3600;
	fuse_reply_entry(req, &e);
}

static void null_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = S_IFDIR | 0755;
	st.st_nlink = 2;
	fuse_reply_attr(req, &st, 3600);
}

static const struct fuse_lowlevel_ops ops = {.lookup = null_lookup, .getattr = null_getattr};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_loop_config *cfg;
	struct fuse_session *se;
	int ret = 1;

	if (fuse_parse_cmdline(&args, &opts) != 0 || !opts.mountpoint)
		return 1;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) == 0 && fuse_session_mount(se, opts.mountpoint) == 0) {
		if (opts.singlethread) {
			ret = fuse_session_loop(se);
		} else {
			cfg = fuse_loop_cfg_create();
			ret = fuse_session_loop_mt(se, cfg);
			fuse_loop_cfg_destroy(cfg);
		}
		fuse_session_unmount(se);
	}
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	free(opts.mountpoint);
	return ret ? 1 : 0;
}
