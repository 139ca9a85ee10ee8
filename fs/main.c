// SPDX-License-Identifier: MIT
/*
 * rtkfs: mount the Cloudflare Realtime Kit API as a directory tree.
 *
 * main builds the objects (budget → api → cache → vfs → tree), checks the token before
 * anything is mounted (a definite rejection exits 1 and leaves no mount; an API that cannot
 * be reached only warns), then mounts and serves until unmounted.
 */
#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "rtkfs-config.h"
#include "rtkfs/api.h"
#include "rtkfs/budget.h"
#include "rtkfs/cache.h"
#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "rtkfs/envelope.h"
#include "rtkfs/json.h"
#include "rtkfs/opts.h"
#include "rtkfs/shared.h"
#include "rtkfs/token.h"
#include "rtkfs/tree.h"
#include "rtkfs/collection.h"
#include "rtkfs/vfs.h"

#define CACHE_MAX_BYTES (256u << 20)

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
	       curl_version_info(CURLVERSION_NOW)->version, rtk_json_version());
}

/* Tell the user why we stop, in one line, and make sure nothing is left mounted. */
static int fail(const char *what)
{
	fprintf(stderr, "rtkfs: %s\n", what);
	return 1;
}

/*
 * With -o shared: the connection to Redis (made lazily; an unreachable Redis never stops
 * the mount) and the budget's remote window. NULL without -o shared, or on a configuration
 * error (then *failed and a reason in err).
 */
static struct rtk_shared *start_sharing(const struct rtk_opts *o, struct rtk_api *api,
					struct rtk_budget *budget, bool *failed, char *err,
					size_t errsz)
{
	struct rtk_shared_config sc = {
		.url = o->shared,
		.ttl_ms = (uint64_t)o->ttl * 1000,
		.lease_ms = (uint64_t)o->timeout * 1000,
	};
	struct rtk_budget_remote remote = {rtk_shared_take, rtk_shared_pause, NULL};
	struct rtk_shared *sh = NULL;
	char *pw = NULL;

	*failed = false;
	if (!o->shared) {
		*failed = o->shared_password_file != NULL;
		snprintf(err, errsz, "shared_password_file= needs shared=");
		return NULL;
	}
	if (rtk_opts_read_shared_password(o, &pw, err, errsz) != 0) {
		*failed = true;
		return NULL;
	}
	sc.password = pw;
	rtk_api_token_hash(api, sc.ns_hash);
	sh = rtk_shared_new(&sc, err, errsz);
	explicit_bzero(sc.ns_hash, sizeof(sc.ns_hash));
	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	if (!sh) {
		*failed = true;
		return NULL;
	}
	remote.ctx = sh;
	rtk_budget_set_remote(budget, &remote);
	return sh;
}

static bool never_interrupted(void *ctx)
{
	return false;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl;
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct rtk_budget *budget = NULL;
	struct rtk_api *api = NULL;
	struct rtk_cache *cache = NULL;
	struct rtk_vfs *vfs = NULL;
	struct rtk_tree *tree = NULL;
	struct rtk_shared *shared = NULL;
	struct rtk_opts o;
	char err[512], *token = NULL;
	bool failed;
	int ret = 1, rc;

	/*
	 * Listings are built on FUSE and read-ahead threads: with glibc's default of one malloc
	 * arena per thread, a cached L tree (10,000 webhooks) peaks at 35 MB; two arenas keep it
	 * at 25 MB with no measurable cost (scripts/bench).
	 */
	mallopt(M_ARENA_MAX, 2);
	memset(&cl, 0, sizeof(cl));
	if (rtk_opts_parse(&args, &o) != 0)
		goto out;
	if (fuse_parse_cmdline(&args, &cl) != 0)
		goto out;
	if (cl.show_help) {
		print_usage(argv[0]);
		rtk_opts_print_help();
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (cl.show_version) {
		print_version();
		ret = 0;
		goto out;
	}
	rtk_log_init(cl.debug ? RTK_LOG_DEBUG : RTK_LOG_INFO, false);
	if (!cl.mountpoint) {
		fprintf(stderr, "rtkfs: no mount point given (see rtkfs --help)\n");
		goto out;
	}
	if (rtk_opts_finish(&o, err, sizeof(err)) != 0 ||
	    rtk_opts_read_token(&o, &token, err, sizeof(err)) != 0) {
		ret = fail(err);
		goto out;
	}
	rtk_log_set_secret(token);
	mlock(token, strlen(token)); /* best effort: keep it out of swap */

	/* Private unless allow_other, permissions enforced by the kernel, named in mounts. */
	if (fuse_opt_add_arg(&args, "-odefault_permissions,fsname=rtkfs,subtype=rtkfs") != 0)
		goto out;

	budget = rtk_budget_new(o.rate_n, o.rate_window, (struct rtk_clock){0});
	{
		struct rtk_api_config ac = {
			.base_url = o.base_url,
			.token = token,
			.cacert = o.cacert,
			.max_body = o.max_body,
			.budget = budget,
			.error_message = rtk_envelope_error_message,
		};

		api = budget ? rtk_api_new(&ac, err, sizeof(err)) : NULL;
	}
	explicit_bzero(token, strlen(token)); /* the api keeps its own (locked) copy */
	if (!api) {
		ret = fail(budget ? err : "out of memory");
		goto out;
	}
	shared = start_sharing(&o, api, budget, &failed, err, sizeof(err));
	if (failed) {
		ret = fail(err);
		goto out;
	}
	{
		struct rtk_cache_config cc = {
			.ttl_ns = o.ttl * RTK_NS_PER_SEC,
			.stale_ns = o.stale * RTK_NS_PER_SEC,
			.retry_ns = (o.ttl < 2 ? o.ttl : 2) * RTK_NS_PER_SEC,
			.err_ttl_ns = RTK_NS_PER_SEC,
			.idle_ns = (uint64_t)(o.ttl + o.stale + 600) * RTK_NS_PER_SEC,
			.max_bytes = CACHE_MAX_BYTES,
			.ops = rtk_coll_cache_ops,
		};

		cache = rtk_cache_new(&cc);
	}
	{
		struct rtk_vfs_config vc = {
			.ttl_s = o.ttl,
			.timeout_ns = o.timeout * RTK_NS_PER_SEC,
			.ro = o.ro,
		};

		vfs = rtk_vfs_new(&vc);
	}
	if (!cache || !vfs) {
		ret = fail("out of memory");
		goto out;
	}
	{
		struct rtk_tree_config tc = {
			.api = api,
			.budget = budget,
			.cache = cache,
			.max_body = o.max_body,
			.prefetch = o.prefetch,
			.timeout_ns = o.timeout * RTK_NS_PER_SEC,
			.accounts = (const char *const *)o.accounts,
			.naccounts = o.naccounts,
			.uid = getuid(),
			.gid = getgid(),
			.ro = o.ro,
			.hooks = rtk_vfs_hooks(vfs),
			.shared = shared,
		};

		tree = rtk_tree_new(&tc);
	}
	if (!tree) {
		ret = fail("cannot set up the tree");
		goto out;
	}
	rtk_vfs_set_tree(vfs, tree);

	{
		struct rtk_op op = {
			.deadline_ns = rtk_clock_mono_ns() + o.timeout * RTK_NS_PER_SEC,
			.interrupted = never_interrupted,
		};

		rc = rtk_token_verify(api, (const char *const *)o.accounts, o.naccounts, &op, err,
				      sizeof(err));
		if (rc == -EACCES) {
			fprintf(stderr, "rtkfs: the API rejected the token: %s\n", err);
			goto out;
		}
		if (rc)
			rtk_warn("cannot check the token (%s); mounting anyway, operations will fail "
				 "until the API can be reached",
				 err);
	}

	se = rtk_vfs_session_new(vfs, &args);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, cl.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(cl.foreground) != 0)
		goto out_unmount;
	if (!cl.foreground)
		rtk_log_use_syslog(true);
	if (rtk_vfs_start_notifier(vfs, se) != 0 || rtk_tree_start(tree) != 0 ||
	    (shared && rtk_shared_start(shared) != 0))
		goto out_unmount;
	rtk_info("mounted '%s' at '%s'", o.base_url, cl.mountpoint);

	if (cl.singlethread) {
		rc = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop) {
			rc = -ENOMEM;
		} else {
			fuse_loop_cfg_set_clone_fd(loop, (unsigned)cl.clone_fd);
			fuse_loop_cfg_set_max_threads(loop, cl.max_threads ? cl.max_threads : 32);
			rc = fuse_session_loop_mt(se, loop);
		}
	}
	ret = rc == 0 ? 0 : 1;
	rtk_vfs_stop_notifier(vfs);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out:
	fuse_loop_cfg_destroy(loop);
	rtk_shared_stop(shared); /* its listener uses the tree */
	rtk_tree_free(tree);
	rtk_shared_free(shared);
	rtk_vfs_free(vfs);
	rtk_cache_free(cache);
	rtk_api_free(api);
	rtk_budget_free(budget);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	rtk_opts_release(&o);
	free(cl.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
