/* SPDX-License-Identifier: MIT */
/*
 * opts: the command line and environment (DESIGN §4, §8). One fuse_opt table; defaults are
 * set before parsing, environment fallbacks and cross-option checks after.
 */
#ifndef RTKFS_OPTS_H
#define RTKFS_OPTS_H

#include <stdbool.h>
#include <stddef.h>

struct fuse_args;

/* [SOURCE] MOUNTPOINT: mount.fuse3 passes fstab's first field before the mount point. */
#define RTK_OPTS_NONOPTS_MAX 2

struct rtk_opts {
	unsigned ttl;      /* seconds a listing is fresh */
	unsigned stale;    /* seconds a stale listing may stand in after a failed refresh */
	unsigned timeout;  /* seconds every operation may take */
	char *rate;        /* "N/SECONDS" */
	unsigned rate_n, rate_window;
	unsigned prefetch; /* parallel read-ahead of sub-collections (0: off) */
	unsigned push;     /* push bytes into the page cache before they are read (0: off) */
	unsigned spin;     /* us the /dev/fuse reader looks before it sleeps (0: libfuse loop) */
	unsigned long max_body; /* response bytes accepted */
	char *base_url;
	char *token_file;
	char *account;     /* "ID[:ID...]" */
	char *cacert;
	char *shared;      /* redis://... or unix:/... (shared.h), or NULL */
	char *shared_password_file;
	int ro;
	char **accounts;   /* account split on ':' */
	size_t naccounts;
	char *nonopts[RTK_OPTS_NONOPTS_MAX]; /* the arguments that are not options */
	size_t nnonopts;
};

/*
 * Defaults, then our options out of args (the rest stays for libfuse). Options that fstab
 * and mount(8) add for themselves (_netdev, nofail, noauto, user, defaults, comment=, x-*)
 * are dropped; of "[SOURCE] MOUNTPOINT" only the mount point is left in args. 0 or -1
 * (message printed on stderr).
 */
int rtk_opts_parse(struct fuse_args *args, struct rtk_opts *o);

/* Environment fallbacks and checks. 0, or -1 with a one-line reason in err. */
int rtk_opts_finish(struct rtk_opts *o, char *err, size_t errsz);

/*
 * The API token: from token_file (refused unless a regular file that group and others cannot
 * read) or $CLOUDFLARE_API_TOKEN (which is then wiped from the environment). 0 and a
 * malloc'd string in *token, or -1 with a reason in err (never containing the token).
 */
int rtk_opts_read_token(const struct rtk_opts *o, char **token, char *err, size_t errsz);

/*
 * The password of the shared cache from shared_password_file (refused like a token file
 * that others can read): 0 with a malloc'd string in *pw (NULL when no file is given), or -1
 * with a reason in err.
 */
int rtk_opts_read_shared_password(const struct rtk_opts *o, char **pw, char *err, size_t errsz);

/* Print our options with their defaults (for --help). */
void rtk_opts_print_help(void);

void rtk_opts_release(struct rtk_opts *o);

#endif
