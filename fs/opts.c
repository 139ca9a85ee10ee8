// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <fuse_opt.h>

#include "rtkfs/api.h"
#include "rtkfs/kind.h"
#include "rtkfs/opts.h"
#include "rtkfs/path.h"

#define DEFAULT_BASE_URL "https://api.cloudflare.com/client/v4"
#define TOKEN_MAX 4096

enum { KEY_RO };

#define OPT(t, f) {t, offsetof(struct rtk_opts, f), 1}
#define IGNORE(t) FUSE_OPT_KEY(t, FUSE_OPT_KEY_DISCARD)

static const struct fuse_opt opt_table[] = {
	OPT("ttl=%u", ttl),
	OPT("stale=%u", stale),
	OPT("timeout=%u", timeout),
	OPT("rate=%s", rate),
	OPT("prefetch=%u", prefetch),
	OPT("push=%u", push),
	OPT("spin=%u", spin),
	OPT("max_body=%lu", max_body),
	OPT("base_url=%s", base_url),
	OPT("token_file=%s", token_file),
	OPT("account=%s", account),
	OPT("cacert=%s", cacert),
	OPT("shared=%s", shared),
	OPT("shared_password_file=%s", shared_password_file),
	FUSE_OPT_KEY("ro", KEY_RO),
	/*
	 * What /etc/fstab and mount(8) add for themselves, not for the filesystem: mount.fuse3
	 * drops some of them, not all (defaults, comment=, x-*), and a user may pass them by
	 * hand. libfuse would refuse them as unknown. x-* is matched in opt_proc.
	 */
	IGNORE("_netdev"),
	IGNORE("nofail"),
	IGNORE("auto"),
	IGNORE("noauto"),
	IGNORE("user"),
	IGNORE("users"),
	IGNORE("nouser"),
	IGNORE("defaults"),
	IGNORE("comment="),
	FUSE_OPT_END,
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct rtk_opts *o = data;

	switch (key) {
	case KEY_RO:
		o->ro = 1;
		return 1; /* keep it: libfuse mounts read-only too */
	case FUSE_OPT_KEY_OPT:
		/* x-systemd.automount, x-gvfs-show...: userspace-only by mount(8)'s rule */
		return strncmp(arg, "x-", 2) == 0 ? 0 : 1;
	case FUSE_OPT_KEY_NONOPT:
		/* Held back until all are seen: [SOURCE] MOUNTPOINT, as mount.fuse3 runs us. */
		if (o->nnonopts == RTK_OPTS_NONOPTS_MAX) {
			fprintf(stderr, "rtkfs: unexpected argument '%s' (usage: rtkfs [options] "
					"[SOURCE] MOUNTPOINT)\n",
				arg);
			return -1;
		}
		o->nonopts[o->nnonopts] = strdup(arg);
		if (!o->nonopts[o->nnonopts])
			return -1;
		o->nnonopts++;
		return 0;
	}
	return 1;
}

int rtk_opts_parse(struct fuse_args *args, struct rtk_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ttl = 5;
	o->stale = 300;
	o->timeout = 15;
	o->prefetch = 16; /* the L bench tree's 10 apps at once (issue 12) */
	o->push = 1; /* SEMANTICS.md, Bytes pushed before they are read */
	o->spin = 250; /* us: fs/session.c */
	o->max_body = 16ul << 20;
	o->rate = strdup("1200/300");
	if (!o->rate)
		return -1;
	if (fuse_opt_parse(args, o, opt_table, opt_proc) != 0)
		return -1;
	/*
	 * Only the last one is the mount point: with two, the first is the fstab source field,
	 * which means nothing to us. libfuse finds the mount point where it always does.
	 */
	if (o->nnonopts && fuse_opt_add_arg(args, o->nonopts[o->nnonopts - 1]) != 0)
		return -1;
	return 0;
}

static int split_accounts(struct rtk_opts *o, const char *list, char *err, size_t errsz)
{
	char *copy = strdup(list), *save = NULL, *id;

	if (!copy)
		goto err_nomem;
	for (id = strtok_r(copy, ":,", &save); id; id = strtok_r(NULL, ":,", &save)) {
		char **a;

		if (!rtk_path_id_is_safe(id, strlen(id), RTK_ACCOUNT_ID_MAX)) {
			snprintf(err, errsz, "account id '%.40s' is not a valid account id", id);
			free(copy);
			return -1;
		}
		a = realloc(o->accounts, (o->naccounts + 1) * sizeof(*a));
		if (!a)
			goto err_copy;
		o->accounts = a;
		a[o->naccounts] = strdup(id);
		if (!a[o->naccounts])
			goto err_copy;
		o->naccounts++;
	}
	free(copy);
	if (!o->naccounts) {
		snprintf(err, errsz, "account= names no account id");
		return -1;
	}
	return 0;

err_copy:
	free(copy);
err_nomem:
	snprintf(err, errsz, "out of memory");
	return -1;
}

static char *env_dup(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strdup(v) : NULL;
}

int rtk_opts_finish(struct rtk_opts *o, char *err, size_t errsz)
{
	char *acc;
	char tail;

	if (!o->base_url)
		o->base_url = env_dup("CLOUDFLARE_BASE_URL");
	if (!o->base_url)
		o->base_url = env_dup("CLOUDFLARE_API_BASE_URL");
	if (!o->base_url)
		o->base_url = strdup(DEFAULT_BASE_URL);
	if (!o->base_url) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (rtk_api_check_base_url(o->base_url, err, errsz) != 0)
		return -1;

	if (!o->rate || sscanf(o->rate, "%u/%u%c", &o->rate_n, &o->rate_window, &tail) != 2 ||
	    !o->rate_n || !o->rate_window) {
		snprintf(err, errsz, "rate=%s is not N/SECONDS (for example rate=1200/300)",
			 o->rate ? o->rate : "");
		return -1;
	}
	if (!o->ttl) {
		snprintf(err, errsz, "ttl=0 is not allowed: the kernel would ask for every "
				     "component of every path (use ttl=1 or more)");
		return -1;
	}
	if (!o->timeout) {
		snprintf(err, errsz, "timeout=0 is not allowed");
		return -1;
	}
	if (o->max_body < 4096) {
		snprintf(err, errsz, "max_body=%lu is too small (at least 4096)", o->max_body);
		return -1;
	}
	if (o->cacert && access(o->cacert, R_OK) != 0) {
		snprintf(err, errsz, "cannot read cacert '%s': %s", o->cacert, strerror(errno));
		return -1;
	}

	acc = o->account ? o->account : getenv("CLOUDFLARE_ACCOUNT_ID");
	if (acc && *acc && split_accounts(o, acc, err, errsz) != 0)
		return -1;
	return 0;
}

static int read_token_file(const char *opt, const char *path, char **token, char *err,
			   size_t errsz)
{
	char *buf = NULL;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errsz, "cannot open %s '%s': %s", opt, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s '%s' is not a regular file", opt, path);
		goto out_close;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errsz,
			 "%s '%s' can be read by others (mode %04o); run: chmod 600 '%s'", opt,
			 path, (unsigned)(st.st_mode & 07777), path);
		goto out_close;
	}
	buf = calloc(1, TOKEN_MAX + 1);
	if (!buf) {
		snprintf(err, errsz, "out of memory");
		goto out_close;
	}
	while (len < TOKEN_MAX && (n = read(fd, buf + len, TOKEN_MAX - len)) > 0)
		len += (size_t)n;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
		       buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (!len || len >= TOKEN_MAX || strpbrk(buf, "\r\n \t")) {
		snprintf(err, errsz, "%s '%s' does not hold one secret on one line", opt, path);
		goto out_free;
	}
	*token = buf;
	buf = NULL;
	ret = 0;
out_free:
	if (buf) {
		explicit_bzero(buf, TOKEN_MAX);
		free(buf);
	}
out_close:
	close(fd);
	return ret;
}

int rtk_opts_read_token(const struct rtk_opts *o, char **token, char *err, size_t errsz)
{
	char *env;
	size_t len;

	*token = NULL;
	if (o->token_file)
		return read_token_file("token_file", o->token_file, token, err, errsz);
	env = getenv("CLOUDFLARE_API_TOKEN");
	if (!env || !*env) {
		snprintf(err, errsz, "no API token: set CLOUDFLARE_API_TOKEN or use "
				     "-o token_file=PATH (a file only you can read)");
		return -1;
	}
	len = strlen(env);
	if (len >= TOKEN_MAX || strpbrk(env, "\r\n \t")) {
		snprintf(err, errsz, "CLOUDFLARE_API_TOKEN does not hold one token");
		return -1;
	}
	*token = strdup(env);
	/* Keep it out of /proc/PID/environ of the daemon. */
	explicit_bzero(env, len);
	unsetenv("CLOUDFLARE_API_TOKEN");
	if (!*token) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
}

int rtk_opts_read_shared_password(const struct rtk_opts *o, char **pw, char *err, size_t errsz)
{
	*pw = NULL;
	if (!o->shared_password_file)
		return 0;
	return read_token_file("shared_password_file", o->shared_password_file, pw, err, errsz);
}

void rtk_opts_print_help(void)
{
	printf("rtkfs options:\n"
	       "    -o ttl=SECONDS         how long a listing is fresh (default: 5)\n"
	       "    -o stale=SECONDS       serve the last good listing this long when a refresh\n"
	       "                           fails for a transient reason (default: 300)\n"
	       "    -o timeout=SECONDS     deadline of every operation (default: 15)\n"
	       "    -o rate=N/SECONDS      client-side request budget (default: 1200/300)\n"
	       "    -o prefetch=N          parallel read-ahead of sub-collections, 0 = off "
	       "(default: 16)\n"
	       "    -o push=0|1            push the bytes of files the kernel was handed into\n"
	       "                           its page cache before they are read (default: 1)\n"
	       "    -o spin=USEC           how long the reader of /dev/fuse looks for the next\n"
	       "                           request before it sleeps; 0: libfuse's loop "
	       "(default: 250)\n"
	       "    -o max_body=BYTES      largest API response accepted (default: 16777216)\n"
	       "    -o base_url=URL        API base URL (default: $CLOUDFLARE_BASE_URL, else\n"
	       "                           $CLOUDFLARE_API_BASE_URL, else %s)\n"
	       "    -o token_file=PATH     read the API token from PATH (mode 0600), instead of\n"
	       "                           $CLOUDFLARE_API_TOKEN\n"
	       "    -o account=ID[:ID...]  accounts to show (default: $CLOUDFLARE_ACCOUNT_ID, else\n"
	       "                           every account GET /accounts returns)\n"
	       "    -o cacert=PATH         extra CA bundle for TLS verification\n"
	       "    -o shared=URL          share listings, the rate budget and invalidations with\n"
	       "                           other mounts of the account through Redis:\n"
	       "                           redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:/PATH\n"
	       "    -o shared_password_file=PATH\n"
	       "                           the Redis password, from PATH (mode 0600)\n"
	       "    -o ro                  read-only mount\n"
	       "    -o _netdev, -o nofail, -o auto, -o noauto, -o user, -o users, -o nouser,\n"
	       "    -o defaults, -o comment=TEXT, -o x-*\n"
	       "                           accepted and ignored (they are for mount(8) and "
	       "/etc/fstab)\n"
	       "\n",
	       DEFAULT_BASE_URL);
}

void rtk_opts_release(struct rtk_opts *o)
{
	size_t i;

	for (i = 0; i < o->naccounts; i++)
		free(o->accounts[i]);
	free(o->accounts);
	free(o->rate);
	free(o->base_url);
	free(o->token_file);
	free(o->account);
	free(o->cacert);
	free(o->shared);
	free(o->shared_password_file);
	for (i = 0; i < o->nnonopts; i++)
		free(o->nonopts[i]);
	memset(o, 0, sizeof(*o));
}
