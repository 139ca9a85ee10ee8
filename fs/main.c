// SPDX-License-Identifier: MIT
/*
 * rtkfs: mount the Cloudflare Realtime Kit API as a directory tree.
 *
 * main wires the steps and returns: parse the command line; build the objects (budget → api
 * → cache → vfs → tree); check the token before anything is mounted (a definite rejection
 * exits 1 and leaves no mount; an API that cannot be reached only warns); refuse to stack
 * on a live rtkfs mount; then mount and serve until unmounted.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "rtkfs-config.h"
#include "rtkfs/api.h"
#include "rtkfs/budget.h"
#include "rtkfs/cache.h"
#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "rtkfs/collection.h"
#include "rtkfs/envelope.h"
#include "rtkfs/json.h"
#include "rtkfs/opts.h"
#include "rtkfs/session.h"
#include "rtkfs/shared.h"
#include "rtkfs/token.h"
#include "rtkfs/tree.h"
#include "rtkfs/vfs.h"

#define CACHE_MAX_BYTES (256u << 20)
#define MOUNTINFO_LINE_MAX 8192

/* What main builds and tears down. */
struct daemon {
	struct rtk_opts o;
	struct fuse_cmdline_opts cl;
	struct rtk_budget *budget;
	struct rtk_api *api;
	struct rtk_cache *cache;
	struct rtk_vfs *vfs;
	struct rtk_tree *tree;
	struct rtk_shared *shared; /* -o shared, else NULL */
};

static void print_usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "       fusermount3 -u MOUNTPOINT\n\n"
	       "Mount the Cloudflare Realtime Kit API (accounts, apps, webhooks) as files.\n"
	       "The token comes from $CLOUDFLARE_API_TOKEN or -o token_file=PATH.\n\n",
	       prog);
}

static void print_version(void)
{
	printf("rtkfs %s\nlibfuse %s\nlibcurl %s\ncJSON %s\n", RTK_VERSION, fuse_pkgversion(),
	       rtk_api_version(), rtk_json_version());
}

/* Tell the user why we stop, in one line. */
static int fail(const char *what)
{
	fprintf(stderr, "rtkfs: %s\n", what);
	return 1;
}

/*
 * With -o shared: the connection to Redis (made lazily; an unreachable Redis never stops
 * the mount) and the budget's remote window. 0 (d->shared stays NULL without -o shared), or
 * 1 on a configuration error (said on stderr).
 */
static int start_sharing(struct daemon *d, char *err, size_t errsz)
{
	const struct rtk_opts *o = &d->o;
	struct rtk_shared_config sc = {
		.url = o->shared,
		.ttl_ms = (uint64_t)o->ttl * 1000,
		.lease_ms = (uint64_t)o->timeout * 1000,
	};
	struct rtk_budget_remote remote = {rtk_shared_take, rtk_shared_pause, NULL};
	char *pw = NULL;

	if (!o->shared)
		return o->shared_password_file ? fail("shared_password_file= needs shared=") : 0;
	if (rtk_opts_read_shared_password(o, &pw, err, errsz) != 0)
		return fail(err);
	sc.password = pw;
	rtk_api_token_hash(d->api, sc.ns_hash);
	d->shared = rtk_shared_new(&sc, err, errsz);
	explicit_bzero(sc.ns_hash, sizeof(sc.ns_hash));
	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	if (!d->shared)
		return fail(err);
	remote.ctx = d->shared;
	rtk_budget_set_remote(d->budget, &remote);
	return 0;
}

static bool never_interrupted(void *ctx)
{
	return false;
}

/* The command line: 0 to go on, else the exit status (after --help, --version or an error). */
static int parse_cmdline(struct fuse_args *args, struct daemon *d, const char *prog)
{
	if (rtk_opts_parse(args, &d->o) != 0 || fuse_parse_cmdline(args, &d->cl) != 0)
		return 1;
	if (d->cl.show_help) {
		print_usage(prog);
		rtk_opts_print_help();
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return -1;
	}
	if (d->cl.show_version) {
		print_version();
		return -1;
	}
	rtk_log_init(d->cl.debug ? RTK_LOG_DEBUG : RTK_LOG_INFO, false);
	if (!d->cl.mountpoint)
		return fail("no mount point given (see rtkfs --help)");
	/* Private unless allow_other, permissions enforced by the kernel, named in mounts. */
	if (fuse_opt_add_arg(args, "-odefault_permissions,fsname=rtkfs,subtype=rtkfs") != 0)
		return fail("out of memory");
	return 0;
}

/* The rate budget and the API client; token is wiped once the api has its own copy. */
static int build_client(struct daemon *d, char *token, char *err, size_t errsz)
{
	struct rtk_api_config ac = {
	    .base_url = d->o.base_url,
	    .token = token,
	    .cacert = d->o.cacert,
	    .max_body = d->o.max_body,
	    .error_message = rtk_envelope_error_message,
	};

	d->budget = rtk_budget_new(d->o.rate_n, d->o.rate_window, (struct rtk_clock){0});
	ac.budget = d->budget;
	d->api = d->budget ? rtk_api_new(&ac, err, errsz) : NULL;
	explicit_bzero(token, strlen(token)); /* the api keeps its own (locked) copy */
	if (!d->api)
		return fail(d->budget ? err : "out of memory");
	return 0;
}

/* The cache, the FUSE adapter and the tree over the client. */
static int build_tree(struct daemon *d)
{
	const struct rtk_opts *o = &d->o;
	struct rtk_cache_config cc = {
	    .ttl_ns = o->ttl * RTK_NS_PER_SEC,
	    .stale_ns = o->stale * RTK_NS_PER_SEC,
	    .retry_ns = (o->ttl < 2 ? o->ttl : 2) * RTK_NS_PER_SEC,
	    .err_ttl_ns = RTK_NS_PER_SEC,
	    .idle_ns = (uint64_t)(o->ttl + o->stale + 600) * RTK_NS_PER_SEC,
	    .max_bytes = CACHE_MAX_BYTES,
	    .ops = rtk_held_cache_ops,
	};
	struct rtk_vfs_config vc = {
	    .ttl_s = o->ttl,
	    .timeout_ns = o->timeout * RTK_NS_PER_SEC,
	    .ro = o->ro,
	    .push = o->push != 0,
	};
	struct rtk_tree_config tc = {
	    .api = d->api,
	    .max_body = o->max_body,
	    .prefetch = o->prefetch,
	    .timeout_ns = o->timeout * RTK_NS_PER_SEC,
	    .accounts = (const char *const *)o->accounts,
	    .naccounts = o->naccounts,
	    .uid = getuid(),
	    .gid = getgid(),
	    .ro = o->ro,
	    .shared = d->shared,
	};

	d->cache = rtk_cache_new(&cc);
	d->vfs = rtk_vfs_new(&vc);
	if (!d->cache || !d->vfs)
		return fail("out of memory");
	tc.cache = d->cache;
	tc.hooks = rtk_vfs_hooks(d->vfs);
	tc.kernel_stats = rtk_vfs_kernel_stats;
	tc.kernel_ctx = d->vfs;
	d->tree = rtk_tree_new(&tc);
	if (!d->tree)
		return fail("cannot set up the tree");
	rtk_vfs_set_tree(d->vfs, d->tree);
	return 0;
}

/* A token the API rejects stops us (1); an API we cannot reach only warns (0). */
static int check_token(struct daemon *d)
{
	struct rtk_op op = {
	    .deadline_ns = rtk_clock_mono_ns() + d->o.timeout * RTK_NS_PER_SEC,
	    .interrupted = never_interrupted,
	};
	char err[512];
	int rc;

	rc = rtk_token_verify(d->api, (const char *const *)d->o.accounts, d->o.naccounts, &op, err,
			      sizeof(err));
	if (rc == -EACCES) {
		fprintf(stderr, "rtkfs: the API rejected the token: %s\n", err);
		return 1;
	}
	if (rc)
		rtk_warn("cannot check the token (%s); mounting anyway, operations will fail "
			 "until the API can be reached",
			 err);
	return 0;
}

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo: undo it in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* One /proc/self/mountinfo line: is it an rtkfs mount at dir? */
static bool is_rtkfs_at(char *line, const char *dir)
{
	char *save = NULL, *tok, *mnt = NULL, *sep;
	int i;

	/* id parent major:minor root MOUNTPOINT options [optional...] - FSTYPE source ... */
	tok = strtok_r(line, " ", &save);
	for (i = 0; tok && i < 4; i++)
		mnt = tok = strtok_r(NULL, " ", &save);
	if (!mnt || !save)
		return false;
	sep = strstr(save, " - ");
	if (!sep || strncmp(sep + 3, "fuse.rtkfs ", 11) != 0)
		return false;
	unescape_octal(mnt);
	return strcmp(mnt, dir) == 0;
}

/* Is dir (an absolute, resolved path) already the mount point of a live rtkfs? */
static bool is_rtkfs_mount(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[MOUNTINFO_LINE_MAX];
	bool found = false;

	if (!f)
		return false; /* no /proc: nothing to check against, as before */
	while (!found && fgets(line, sizeof(line), f))
		found = is_rtkfs_at(line, dir);
	fclose(f);
	return found;
}

/* Mount, serve until unmounted, unmount. The exit status. */
static int serve(struct daemon *d, struct fuse_args *args)
{
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se;
	int rc = -1;

	se = rtk_vfs_session_new(d->vfs, args);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) != 0)
		goto destroy;
	if (fuse_session_mount(se, d->cl.mountpoint) != 0)
		goto remove_handlers;
	if (fuse_daemonize(d->cl.foreground) != 0)
		goto unmount;
	if (!d->cl.foreground)
		rtk_log_use_syslog(true);
	if (rtk_vfs_start_notifier(d->vfs, se) != 0 || rtk_tree_start(d->tree) != 0 ||
	    (d->shared && rtk_shared_start(d->shared) != 0))
		goto unmount;
	rtk_info("mounted '%s' at '%s'", d->o.base_url, d->cl.mountpoint);
	if (d->cl.singlethread) {
		rc = fuse_session_loop(se);
	} else if (d->o.spin) {
		struct rtk_session_config sc = {
		    .max_threads = d->cl.max_threads ? d->cl.max_threads : 32,
		    .spin_ns = (uint64_t)d->o.spin * 1000u,
		    .busy = rtk_vfs_notifier_busy,
		    .help = rtk_vfs_help,
		    .set_helper = rtk_vfs_set_helper,
		    .ctx = d->vfs,
		};

		rc = rtk_session_loop(se, &sc);
	} else {
		loop = fuse_loop_cfg_create();
		if (loop) {
			fuse_loop_cfg_set_clone_fd(loop, (unsigned)d->cl.clone_fd);
			fuse_loop_cfg_set_max_threads(loop,
						      d->cl.max_threads ? d->cl.max_threads : 32);
			rc = fuse_session_loop_mt(se, loop);
		}
	}
	rtk_vfs_stop_notifier(d->vfs);
unmount:
	fuse_session_unmount(se);
remove_handlers:
	fuse_remove_signal_handlers(se);
destroy:
	fuse_session_destroy(se);
	fuse_loop_cfg_destroy(loop);
	/* libfuse's loops return the number of the signal that ended them (fuse_session_loop
	 * with -s: SIGTERM gave exit status 1): an end asked for, not an error. */
	return rc < 0 ? 1 : 0;
}

static void teardown(struct daemon *d)
{
	rtk_shared_stop(d->shared); /* its listener uses the tree */
	rtk_tree_free(d->tree);
	rtk_shared_free(d->shared);
	rtk_vfs_free(d->vfs);
	rtk_cache_free(d->cache);
	rtk_api_free(d->api);
	rtk_budget_free(d->budget);
	rtk_opts_release(&d->o);
	free(d->cl.mountpoint);
}

/* Everything up to the mount: 0, or the exit status. */
static int prepare(struct daemon *d, struct fuse_args *args, const char *prog)
{
	char err[512], *token = NULL;
	int rc;

	rc = parse_cmdline(args, d, prog);
	if (rc)
		return rc < 0 ? 0 : rc;
	/* A core dump would hold the token: none unless debugging (-d). */
	if (!d->cl.debug)
		(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (is_rtkfs_mount(d->cl.mountpoint)) {
		fprintf(stderr,
			"rtkfs: '%s' is already an rtkfs mount; unmount it first (fusermount3 -u "
			"'%s')\n",
			d->cl.mountpoint, d->cl.mountpoint);
		return 1;
	}
	if (rtk_opts_finish(&d->o, err, sizeof(err)) != 0 ||
	    rtk_opts_read_token(&d->o, &token, err, sizeof(err)) != 0)
		return fail(err);
	mlock(token, strlen(token)); /* best effort: keep it out of swap */
	rc = build_client(d, token, err, sizeof(err));
	explicit_bzero(token, strlen(token));
	free(token);
	if (rc || start_sharing(d, err, sizeof(err)) || build_tree(d))
		return 1;
	return check_token(d);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct daemon d;
	int ret;

	/*
	 * Listings are built on FUSE and read-ahead threads: with glibc's default of one malloc
	 * arena per thread, a cached L tree (10,000 webhooks) peaks at 35 MB; two arenas keep it
	 * at 25 MB with no measurable cost (scripts/bench).
	 */
	mallopt(M_ARENA_MAX, 2);
	memset(&d, 0, sizeof(d));
	ret = prepare(&d, &args, argv[0]);
	if (!ret && !d.cl.show_help && !d.cl.show_version)
		ret = serve(&d, &args);
	teardown(&d);
	fuse_opt_free_args(&args);
	return ret;
}
