// SPDX-License-Identifier: MIT
/*
 * api: the one HTTP client of rtkfs (see api.h for the contract).
 *
 * Shape:
 *  - One CURLSH shares the DNS cache and TLS sessions between all transfers, with one mutex
 *    per kind of shared data.
 *  - Connections are reused through a pool of (multi, easy) pairs: a transfer takes an idle
 *    pair (or makes one), and gives it back afterwards with its live connection still in the
 *    multi's connection cache, so the next request over it skips TCP and TLS set-up. The
 *    connection cache is deliberately NOT put in the share (CURL_LOCK_DATA_CONNECT): the
 *    libcurl manual (7.88 and later) says sharing connections between concurrent threads is
 *    not supported, and we are a multi-threaded FUSE daemon.
 *  - Each transfer is driven with curl_multi_perform/poll in slices of at most 50 ms, so the
 *    caller's interruption and deadline are noticed within a slice whatever the socket does
 *    (the progress callback checks both as well, for work inside one perform).
 *  - The token lives in one mlock'ed, non-dumpable page as the ready "Authorization: Bearer"
 *    header line, and is wiped at free. The header lists handed to curl are built by hand
 *    (struct curl_slist is public) so that no other copy of the token is made by us, and
 *    none per pooled handle (CURLOPT_XOAUTH2_BEARER would strdup it into every handle).
 *    libcurl copies it into its request buffer while sending; its allocator wipes what it
 *    frees (curl_global_init_mem), so at rest the process holds one copy: the locked page.
 *  - curl_global_init is not thread-safe in every libcurl build and must run once per
 *    process: rtk_api_new does it under pthread_once (a process-wide flag is the only way
 *    to honour that contract; it is never torn down, curl_global_cleanup is left to exit).
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "rtkfs-config.h"
#include "rtkfs/api.h"
#include "rtkfs/budget.h"
#include "rtkfs/sha256.h"
#include "rtkfs/buf.h"
#include "rtkfs/clock.h"
#include "rtkfs/http.h"
#include "rtkfs/log.h"
#include "rtkfs/url.h"

#define MAX_ATTEMPTS 4
#define BACKOFF_BASE_NS (100 * RTK_NS_PER_MS)
#define BACKOFF_CAP_NS (2000 * RTK_NS_PER_MS)
#define SLICE_MS 50
#define CONNECT_CAP_MS 10000
#define POOL_MAX 16
#define AUTH_PREFIX "Authorization: Bearer "

#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
#define HAVE_PROTOCOLS_STR 1
#endif
#if LIBCURL_VERSION_NUM >= 0x074200 /* 7.66.0 */
#define HAVE_MULTI_POLL 1
#endif

/* A reusable transfer: its multi handle keeps the live connection between requests. */
struct conn {
	CURLM *multi;
	CURL *easy;
};

struct rtk_api {
	char *base; /* normalized, no trailing '/' */
	bool plain_http;
	char *cacert;
	const char *capath; /* libcurl's built-in CA directory, or NULL */
	size_t max_body;
	struct rtk_budget *budget;
	int (*error_message)(const char *body, size_t len, char *out, size_t outsz);

	char *auth; /* "Authorization: Bearer <token>", in its own locked mapping */
	size_t auth_maplen;
	struct curl_slist hdr_plain[4]; /* auth, accept, user agent, no Expect */
	struct curl_slist hdr_json[5];	/* the same plus Content-Type */

	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	unsigned n_share_mu;

	pthread_mutex_t pool_mu;
	struct conn pool[POOL_MAX];
	unsigned n_pool;

	_Atomic uint64_t rng;

	pthread_mutex_t stats_mu;
	struct rtk_api_stats stats;
	struct rtk_hist latency; /* lock-free: not under stats_mu */
};

/* What one attempt saw; the callbacks' context. */
struct attempt {
	struct rtk_api *api;
	const struct rtk_api_req *req;
	struct rtk_api_resp *resp;
	size_t cap;	/* body bytes kept */
	bool too_big;	/* the body passed cap */
	bool no_memory; /* appending the body failed */
	bool no_budget; /* the rate budget had no room before the deadline */
	int abort_err;	/* -EINTR / -ETIMEDOUT when we stopped the transfer */
	long hstatus;	/* status line of the response being read */
	long remaining, reset_s, retry_after_s;
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- process-wide libcurl initialization ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/*
 * libcurl's allocations, wiped when freed: libcurl writes every request (the Authorization
 * line with it) into heap buffers it frees afterwards, and free() leaves the bytes in place.
 * Without this, a process that made a few hundred requests holds dozens of stale copies of
 * the token in freed memory (tests/unit/test_api_token.c counts them).
 */
static void wipe_free(void *p)
{
	if (p) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

static void *wipe_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (!p)
		return malloc(n);
	old = malloc_usable_size(p);
	if (n && n <= old)
		return p; /* shrinking in place: the tail stays ours, to be wiped at free */
	q = malloc(n ? n : 1);
	if (!q)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	wipe_free(p);
	return q;
}

static void global_init(void)
{
	global_rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wipe_free, wipe_realloc,
					 strdup, calloc);
}

/* ---- base URL ---- */

static int base_url(const char *url, char **norm, char *err, size_t errsz)
{
	char why[128];
	int rc;

	if (!url) {
		snprintf(err, errsz, "no base URL given");
		return -EINVAL;
	}
	rc = rtk_url_check(url, strlen(url), RTK_URL_BASE, norm, why, sizeof(why));
	if (rc)
		snprintf(err, errsz, "base URL %s", why);
	else if (errsz)
		err[0] = '\0';
	return rc;
}

int rtk_api_check_base_url(const char *url, char *err, size_t errsz)
{
	return base_url(url, NULL, err, errsz);
}

/* ---- the token's locked page ---- */

static int make_auth(struct rtk_api *api, const char *token, char *err, size_t errsz)
{
	size_t tlen, need, pg;
	const char *p;
	void *m;

	if (!token || !*token) {
		snprintf(err, errsz, "no API token given");
		return -EINVAL;
	}
	/* Header injection guard; the token itself is never echoed. */
	for (p = token; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) {
			snprintf(err, errsz, "the API token contains blanks or control characters");
			return -EINVAL;
		}
	}
	tlen = (size_t)(p - token);
	need = sizeof(AUTH_PREFIX) + tlen; /* with the NUL */
	pg = (size_t)sysconf(_SC_PAGESIZE);
	api->auth_maplen = (need + pg - 1) / pg * pg;
	m = mmap(NULL, api->auth_maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	if (m == MAP_FAILED) {
		snprintf(err, errsz, "cannot map memory for the token: out of memory");
		return -ENOMEM;
	}
	/* Best effort: keep the token out of swap and core dumps. */
	(void)mlock(m, api->auth_maplen);
	(void)madvise(m, api->auth_maplen, MADV_DONTDUMP);
	api->auth = m;
	memcpy(api->auth, AUTH_PREFIX, sizeof(AUTH_PREFIX) - 1);
	memcpy(api->auth + sizeof(AUTH_PREFIX) - 1, token, tlen + 1);
	return 0;
}

static void free_auth(struct rtk_api *api)
{
	if (!api->auth)
		return;
	rtk_log_drop_secret(api->auth + sizeof(AUTH_PREFIX) - 1);
	explicit_bzero(api->auth, api->auth_maplen);
	munlock(api->auth, api->auth_maplen);
	munmap(api->auth, api->auth_maplen);
	api->auth = NULL;
}

static void link_headers(struct rtk_api *api)
{
	/* curl only reads these (struct curl_slist wants char *). */
	char *lines[] = {
	    api->auth,
	    (char *)"Accept: application/json",
	    (char *)"User-Agent: rtkfs/" RTK_VERSION,
	    (char *)"Expect:", /* no 100-continue round trip */
	    (char *)"Content-Type: application/json",
	};
	unsigned i;

	for (i = 0; i < 4; i++) {
		api->hdr_plain[i].data = lines[i];
		api->hdr_plain[i].next = i + 1 < 4 ? &api->hdr_plain[i + 1] : NULL;
	}
	for (i = 0; i < 5; i++) {
		api->hdr_json[i].data = lines[i];
		api->hdr_json[i].next = i + 1 < 5 ? &api->hdr_json[i + 1] : NULL;
	}
}

/* ---- share locks ---- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
	struct rtk_api *api = ctx;

	if ((unsigned)data < api->n_share_mu)
		pthread_mutex_lock(&api->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	struct rtk_api *api = ctx;

	if ((unsigned)data < api->n_share_mu)
		pthread_mutex_unlock(&api->share_mu[data]);
}

static int make_share(struct rtk_api *api)
{
	unsigned i;

	for (i = 0; i < CURL_LOCK_DATA_LAST; i++) {
		if (pthread_mutex_init(&api->share_mu[i], NULL))
			return -ENOMEM;
		api->n_share_mu = i + 1;
	}
	api->share = curl_share_init();
	if (!api->share)
		return -ENOMEM;
	if (curl_share_setopt(api->share, CURLSHOPT_USERDATA, api) ||
	    curl_share_setopt(api->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(api->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(api->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(api->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION))
		return -ENOMEM;
	return 0;
}

/* ---- lifecycle ---- */

struct rtk_api *rtk_api_new(const struct rtk_api_config *cfg, char *err, size_t errsz)
{
	curl_version_info_data *vi;
	struct rtk_api *api;
	int rc;

	if (errsz)
		err[0] = '\0';
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(err, errsz, "cannot initialize libcurl: %s",
			 curl_easy_strerror(global_rc));
		return NULL;
	}
	api = calloc(1, sizeof(*api));
	if (!api) {
		snprintf(err, errsz, "cannot create the API client: out of memory");
		return NULL;
	}
	if (pthread_mutex_init(&api->pool_mu, NULL))
		goto free_api;
	if (pthread_mutex_init(&api->stats_mu, NULL))
		goto destroy_pool_mu;
	if (base_url(cfg->base_url, &api->base, err, errsz))
		goto destroy_stats_mu;
	/* Checked: plain http only to loopback. curl gives the scheme in lower case. */
	api->plain_http = strncmp(api->base, "http:", 5) == 0;
	if (make_auth(api, cfg->token, err, errsz))
		goto free_base;
	link_headers(api);
	if (cfg->cacert) {
		api->cacert = strdup(cfg->cacert);
		if (!api->cacert) {
			snprintf(err, errsz, "cannot create the API client: out of memory");
			goto free_token;
		}
	}
	vi = curl_version_info(CURLVERSION_NOW);
	if (vi && vi->age >= CURLVERSION_SEVENTH)
		api->capath = vi->capath;
	rc = make_share(api);
	if (rc) {
		snprintf(err, errsz, "cannot create the API client: curl share setup failed");
		goto free_share;
	}
	rtk_log_set_secret(api->auth + sizeof(AUTH_PREFIX) - 1);
	api->max_body = cfg->max_body;
	api->budget = cfg->budget;
	api->error_message = cfg->error_message;
	atomic_store(&api->rng, rtk_clock_mono_ns() ^ ((uint64_t)(uintptr_t)api << 16));
	return api;

free_share:
	if (api->share)
		curl_share_cleanup(api->share);
	while (api->n_share_mu)
		pthread_mutex_destroy(&api->share_mu[--api->n_share_mu]);
	free(api->cacert);
free_token:
	free_auth(api);
free_base:
	free(api->base);
destroy_stats_mu:
	pthread_mutex_destroy(&api->stats_mu);
destroy_pool_mu:
	pthread_mutex_destroy(&api->pool_mu);
free_api:
	free(api);
	if (errsz && !err[0])
		snprintf(err, errsz, "cannot create the API client: out of memory");
	return NULL;
}

static void conn_close(struct conn *c)
{
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->multi)
		curl_multi_cleanup(c->multi);
}

void rtk_api_free(struct rtk_api *api)
{
	if (!api)
		return;
	while (api->n_pool)
		conn_close(&api->pool[--api->n_pool]);
	curl_share_cleanup(api->share);
	while (api->n_share_mu)
		pthread_mutex_destroy(&api->share_mu[--api->n_share_mu]);
	free_auth(api);
	free(api->cacert);
	free(api->base);
	pthread_mutex_destroy(&api->stats_mu);
	pthread_mutex_destroy(&api->pool_mu);
	free(api);
}

const char *rtk_api_version(void)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);

	return vi && vi->version ? vi->version : "unknown";
}

const char *rtk_api_base_url(const struct rtk_api *api)
{
	return api->base;
}

void rtk_api_resp_init(struct rtk_api_resp *r, size_t max_body)
{
	r->status = 0;
	rtk_buf_init(&r->body, max_body);
	r->attempts = 0;
	r->sent = false;
}

void rtk_api_resp_release(struct rtk_api_resp *r)
{
	rtk_buf_release(&r->body);
}

/* ---- the connection pool ---- */

static int conn_take(struct rtk_api *api, struct conn *c)
{
	pthread_mutex_lock(&api->pool_mu);
	if (api->n_pool) {
		*c = api->pool[--api->n_pool];
		pthread_mutex_unlock(&api->pool_mu);
		return 0;
	}
	pthread_mutex_unlock(&api->pool_mu);
	c->multi = curl_multi_init();
	c->easy = curl_easy_init();
	if (!c->multi || !c->easy) {
		conn_close(c);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Give the pair back to the pool, whatever its transfer did (closed only when the pool is
 * full). A connection that went wrong needs nothing from us: libcurl closes a connection
 * whose transfer failed or was stopped mid-way instead of keeping it in the multi's cache,
 * so what the pair keeps is only what is fit for reuse.
 */
static void conn_give(struct rtk_api *api, struct conn *c)
{
	pthread_mutex_lock(&api->pool_mu);
	if (api->n_pool < POOL_MAX) {
		api->pool[api->n_pool++] = *c;
		c = NULL;
	}
	pthread_mutex_unlock(&api->pool_mu);
	if (c)
		conn_close(c);
}

/* ---- endpoint classes ---- */

/* The next path segment after *pp ('/'-separated); false at the end. */
static bool next_seg(const char **pp, const char **seg, size_t *n)
{
	const char *p = *pp;

	while (*p == '/')
		p++;
	if (!*p)
		return false;
	*seg = p;
	while (*p && *p != '/')
		p++;
	*n = (size_t)(p - *seg);
	*pp = p;
	return true;
}

static bool seg_is(const char *seg, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(seg, w, n) == 0;
}

enum rtk_api_endpoint rtk_api_endpoint_of(const char *method, const char *path)
{
	const char *s[8];
	size_t n[8];
	unsigned k = 0;
	const char *p = path;

	if (!path)
		return RTK_EP_OTHER;
	while (k < 8 && next_seg(&p, &s[k], &n[k]))
		k++;
	if (k == 8)
		return RTK_EP_OTHER;
	if (k == 3 && seg_is(s[0], n[0], "user") && seg_is(s[1], n[1], "tokens") &&
	    seg_is(s[2], n[2], "verify"))
		return RTK_EP_VERIFY;
	if (k == 0 || !seg_is(s[0], n[0], "accounts"))
		return RTK_EP_OTHER;
	if (k == 1)
		return RTK_EP_ACCOUNTS;
	if (k == 4 && seg_is(s[2], n[2], "tokens") && seg_is(s[3], n[3], "verify"))
		return RTK_EP_VERIFY;
	if (k < 5 || !seg_is(s[2], n[2], "realtime") || !seg_is(s[3], n[3], "kit"))
		return RTK_EP_OTHER;
	/* /accounts/{a}/realtime/kit/apps[/{app}] */
	if (seg_is(s[4], n[4], "apps") && k <= 6)
		return RTK_EP_APPS;
	/* /accounts/{a}/realtime/kit/{app}/webhooks[/{w}] */
	if (k >= 6 && seg_is(s[5], n[5], "webhooks")) {
		if (k == 6)
			return RTK_EP_WEBHOOKS;
		if (k == 7)
			return RTK_EP_WEBHOOK;
	}
	return RTK_EP_OTHER;
}

const char *rtk_api_endpoint_name(enum rtk_api_endpoint ep)
{
	static const char *const names[RTK_EP__N] = {
	    [RTK_EP_VERIFY] = "verify",	  [RTK_EP_ACCOUNTS] = "accounts",
	    [RTK_EP_APPS] = "apps",	  [RTK_EP_WEBHOOKS] = "webhooks",
	    [RTK_EP_WEBHOOK] = "webhook", [RTK_EP_OTHER] = "other",
	};

	return (unsigned)ep < RTK_EP__N ? names[ep] : "other";
}

void rtk_api_get_stats(struct rtk_api *api, struct rtk_api_stats *st)
{
	pthread_mutex_lock(&api->stats_mu);
	*st = api->stats;
	pthread_mutex_unlock(&api->stats_mu);
	rtk_hist_read(&api->latency, &st->latency);
	st->has_budget = api->budget != NULL;
	if (api->budget)
		rtk_budget_get_stats(api->budget, &st->budget);
	else
		memset(&st->budget, 0, sizeof(st->budget));
}

bool rtk_api_is_paused(struct rtk_api *api)
{
	return api->budget && rtk_budget_is_paused(api->budget);
}

void rtk_api_resume(struct rtk_api *api)
{
	if (api->budget)
		rtk_budget_resume(api->budget);
}

/* ---- callbacks ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct attempt *at = ctx;
	struct rtk_buf *b = &at->resp->body;
	size_t n = size * nmemb;
	int rc;

	if (n > at->cap || b->len > at->cap - n) {
		at->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	rc = rtk_buf_append(b, data, n);
	if (rc) {
		if (rc == -EFBIG)
			at->too_big = true;
		else
			at->no_memory = true;
		return 0;
	}
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct attempt *at = ctx;
	struct rtk_budget *budget = at->api->budget;
	size_t n = size * nmemb;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx too): start over. */
		const char *sp = memchr(data, ' ', n);

		at->hstatus = 0;
		at->remaining = at->reset_s = at->retry_after_s = -1;
		if (sp && (size_t)(sp - data) + 4 <= n && sp[1] >= '1' && sp[1] <= '9' &&
		    sp[2] >= '0' && sp[2] <= '9' && sp[3] >= '0' && sp[3] <= '9')
			at->hstatus = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		return n;
	}
	if (n <= 2 && (n == 0 || data[0] == '\r' || data[0] == '\n')) {
		/* End of a header block: tell the budget what a final response said. */
		if (budget && at->hstatus >= 200) {
			long pause = at->retry_after_s > 0 ? at->retry_after_s : at->reset_s;

			if (at->remaining >= 0)
				rtk_budget_observe(budget, at->remaining, at->reset_s);
			/* No retry-after: the reset time of the window, else the minimum. */
			if (at->hstatus == 429)
				rtk_budget_pause(budget, pause > 0 ? (unsigned)pause : 1);
		}
		return n;
	}
	rtk_http_parse_ratelimit_header(data, n, (long)rtk_clock_wall_s(), &at->remaining,
					&at->reset_s, &at->retry_after_s);
	return n;
}

/* Should the transfer stop now? Sets at->abort_err. */
static bool must_stop(struct attempt *at)
{
	const struct rtk_api_req *req = at->req;

	if (req->interrupted && req->interrupted(req->interrupted_ctx))
		at->abort_err = -EINTR;
	else if (rtk_clock_mono_ns() >= req->deadline_ns)
		at->abort_err = -ETIMEDOUT;
	return at->abort_err != 0;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	return must_stop(ctx) ? 1 : 0;
}

/* ---- one attempt ---- */

static bool method_has_body(const char *m)
{
	return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

/* The method, the body and the header list (the token's line is in both lists). */
static CURLcode setup_method(struct rtk_api *api, CURL *e, const struct rtk_api_req *req)
{
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(e, opt, val);                                        \
	} while (0)
	if (method_has_body(req->method)) {
		SET(CURLOPT_HTTPHEADER, api->hdr_json);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
		SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
		if (strcmp(req->method, "POST"))
			SET(CURLOPT_CUSTOMREQUEST, req->method);
	} else {
		SET(CURLOPT_HTTPHEADER, api->hdr_plain);
		if (strcmp(req->method, "GET"))
			SET(CURLOPT_CUSTOMREQUEST, req->method);
		else
			SET(CURLOPT_HTTPGET, 1L);
	}
#undef SET
	return rc;
}

static CURLcode setup(struct rtk_api *api, CURL *e, const struct rtk_api_req *req, const char *url,
		      struct attempt *at)
{
	uint64_t now = rtk_clock_mono_ns();
	uint64_t left_ms = req->deadline_ns > now ? (req->deadline_ns - now) / RTK_NS_PER_MS : 0;
	const char *protos = api->plain_http ? "http,https" : "https";
	CURLcode rc = CURLE_OK;

	if (left_ms < 1)
		left_ms = 1;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(e, opt, val);                                        \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, at->errbuf);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_SHARE, api->share);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_VERBOSE, 0L);
#ifdef HAVE_PROTOCOLS_STR
	SET(CURLOPT_PROTOCOLS_STR, protos);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
#else
	(void)protos;
	SET(CURLOPT_PROTOCOLS,
	    api->plain_http ? (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS) : (long)CURLPROTO_HTTPS);
	SET(CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/* Our headers (the token) go to the server only, never to a proxy (CONNECT). */
	SET(CURLOPT_HEADEROPT, CURLHEADER_SEPARATE);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	/*
	 * -o cacert: CURLOPT_CAINFO replaces libcurl's CA bundle file, so the system store stays
	 * in use only through libcurl's CA directory (CURLOPT_CAPATH, on by default where the
	 * build has one, e.g. /etc/ssl/certs on Debian), which OpenSSL consults alongside the
	 * file. We set it explicitly; a build without a CA directory trusts only the given
	 * bundle. (CURLSSLOPT_NATIVE_CA would not help: with OpenSSL it only works on Windows.)
	 */
	if (api->cacert) {
		SET(CURLOPT_CAINFO, api->cacert);
		if (api->capath)
			SET(CURLOPT_CAPATH, api->capath);
	}
	/* The plain-http loopback case never goes through a proxy (the token is in clear). */
	if (api->plain_http)
		SET(CURLOPT_PROXY, "");
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, 30L);
	SET(CURLOPT_TCP_KEEPINTVL, 15L);
	SET(CURLOPT_TIMEOUT_MS, (long)left_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(left_ms < CONNECT_CAP_MS ? left_ms : CONNECT_CAP_MS));
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)at->cap);
	SET(CURLOPT_ACCEPT_ENCODING,
	    ""); /* whatever libcurl decodes; the cap is on decoded bytes */
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, at);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, at);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, at);
	SET(CURLOPT_NOPROGRESS, 0L);
	/*
	 * libcurl re-sends a request on a new connection when a reused one dies before any
	 * answer. For a write that may already have been applied (a POST would create twice), so
	 * writes get a connection of their own: nothing to re-send, the outcome stays unknown.
	 */
	SET(CURLOPT_FRESH_CONNECT, strcmp(req->method, "GET") ? 1L : 0L);
	if (rc == CURLE_OK)
		rc = setup_method(api, e, req);
#undef SET
	return rc;
}

/* Run the transfer in slices, so that interruption and the deadline are seen in time. */
static CURLcode drive(struct conn *c, struct attempt *at)
{
	CURLcode res = CURLE_OK;
	CURLMsg *msg;
	int running = 1, left;
	CURLMcode mc;

	if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	for (;;) {
		mc = curl_multi_perform(c->multi, &running);
		if (mc != CURLM_OK) {
			res = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
			break;
		}
		if (!running)
			break;
		if (at->abort_err || must_stop(at)) {
			res = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
#ifdef HAVE_MULTI_POLL
		mc = curl_multi_poll(c->multi, NULL, 0, SLICE_MS, NULL);
#else
		mc = curl_multi_wait(c->multi, NULL, 0, SLICE_MS, NULL);
#endif
		if (mc != CURLM_OK) {
			res = CURLE_RECV_ERROR;
			break;
		}
	}
	if (!running) {
		while ((msg = curl_multi_info_read(c->multi, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy)
				res = msg->data.result;
	}
	curl_multi_remove_handle(c->multi, c->easy);
	return res;
}

/* ---- retry helpers ---- */

static uint64_t random_u64(struct rtk_api *api)
{
	/* splitmix64 over an atomic counter: thread-safe, no lock. */
	uint64_t z = atomic_fetch_add(&api->rng, 0x9e3779b97f4a7c15ull) + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Full jitter: uniform in [0, min(cap, base * 2^n)]. */
static uint64_t backoff_ns(struct rtk_api *api, unsigned n)
{
	uint64_t ceil = BACKOFF_BASE_NS << (n < 5 ? n : 5);

	if (ceil > BACKOFF_CAP_NS)
		ceil = BACKOFF_CAP_NS;
	return random_u64(api) % (ceil + 1);
}

/* Sleep until the monotonic time until, in slices, ending early (-EINTR) when interrupted. */
static int sleep_until(const struct rtk_api_req *req, uint64_t until)
{
	uint64_t now, step;
	struct timespec ts;

	for (;;) {
		if (req->interrupted && req->interrupted(req->interrupted_ctx))
			return -EINTR;
		now = rtk_clock_mono_ns();
		if (now >= until)
			return 0;
		step = until - now;
		if (step > SLICE_MS * RTK_NS_PER_MS)
			step = SLICE_MS * RTK_NS_PER_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)step;
		nanosleep(&ts, NULL);
	}
}

/* ---- outcome: log line and statistics ---- */

/* Server text made safe for one log line. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = ' ';
}

static void count_attempt(struct rtk_api *api, enum rtk_api_endpoint ep, long status, bool retry)
{
	long cls = status / 100;

	pthread_mutex_lock(&api->stats_mu);
	api->stats.requests[ep]++;
	api->stats.by_class[cls >= 1 && cls <= 5 ? cls : 0]++;
	api->stats.by_endpoint_class[ep][cls >= 1 && cls <= 5 ? cls : 0]++;
	if (status == 429)
		api->stats.status_429++;
	if (retry)
		api->stats.retries++;
	pthread_mutex_unlock(&api->stats_mu);
}

/* "HTTP 503: message", "timed out after 300 ms" ... into out: why the call failed. */
static void describe(struct rtk_api *api, const struct attempt *at, CURLcode code, int err,
		     uint64_t elapsed_ms, char *out, size_t outsz)
{
	const struct rtk_api_resp *resp = at->resp;
	char msg[1024] = "";

	if (err == -EINTR) {
		snprintf(out, outsz, "interrupted");
	} else if (at->no_budget) {
		snprintf(out, outsz, "the rate budget has no room before the deadline");
	} else if (err == -ETIMEDOUT && code != CURLE_OPERATION_TIMEDOUT) {
		if (resp->attempts)
			snprintf(out, outsz, "no answer within the deadline (%llu ms)",
				 (unsigned long long)elapsed_ms);
		else
			snprintf(out, outsz, "the deadline passed before the request was sent");
	} else if (at->too_big || code == CURLE_FILESIZE_EXCEEDED) {
		snprintf(out, outsz, "HTTP %ld: response larger than %zu bytes", resp->status,
			 at->cap);
	} else if (code != CURLE_OK) {
		snprintf(out, outsz, "%.200s",
			 at->errbuf[0] ? at->errbuf : curl_easy_strerror(code));
		sanitize(out);
	} else if (resp->status == 0) {
		snprintf(out, outsz, "%s", strerror(-err));
	} else if (resp->status >= 300 && resp->status <= 399) {
		snprintf(out, outsz, "HTTP %ld: rtkfs does not follow redirects", resp->status);
	} else {
		if (api->error_message && resp->body.len &&
		    api->error_message(resp->body.data, resp->body.len, msg, sizeof(msg)) == 0) {
			sanitize(msg);
			/* A careless or hostile server may echo the token; the message ends in
			 * last_error and so in the control files. */
			rtk_log_redact(msg, sizeof(msg));
		} else {
			msg[0] = '\0';
		}
		if (msg[0])
			snprintf(out, outsz, "HTTP %ld: %s", resp->status, msg);
		else
			snprintf(out, outsz, "HTTP %ld", resp->status);
		if (resp->status == 429 && at->retry_after_s >= 0) {
			size_t len = strlen(out);

			snprintf(out + len, outsz - len, " (retry after %ld s)", at->retry_after_s);
		}
	}
}

static void log_outcome(struct rtk_api *api, const struct rtk_api_req *req,
			const struct attempt *at, CURLcode code, int err, uint64_t elapsed_ms)
{
	const char *q = req->query ? "?" : "", *qs = req->query ? req->query : "";
	char why[224];

	pthread_mutex_lock(&api->stats_mu);
	api->stats.last_status = at->resp->status;
	api->stats.last_errno = err;
	pthread_mutex_unlock(&api->stats_mu);
	if (!err) {
		rtk_debug("%s %s%s%s: HTTP %ld in %llu ms%s", req->method, req->path, q, qs,
			  at->resp->status, (unsigned long long)elapsed_ms,
			  at->resp->attempts > 1 ? " (after retries)" : "");
		return;
	}
	describe(api, at, code, err, elapsed_ms, why, sizeof(why));
	if (err == -EINTR) {
		/* The caller gave up; nothing failed on the remote side. */
		rtk_debug("%s %s%s%s: %s", req->method, req->path, q, qs, why);
		return;
	}
	/*
	 * A 404 is an answer (the object is gone), and a quiet caller reports the failure in
	 * its own words: both only at debug level. Everything else is worth a warning.
	 */
	if (req->quiet || err == -ENOENT)
		rtk_debug("cannot %s '%s%s%s': %s", req->method, req->path, q, qs, why);
	else
		rtk_warn("cannot %s '%s%s%s': %s", req->method, req->path, q, qs, why);
	pthread_mutex_lock(&api->stats_mu);
	snprintf(api->stats.last_error, sizeof(api->stats.last_error), "%s %s%s%s: %s", req->method,
		 req->path, q, qs, why);
	api->stats.last_error_time = rtk_clock_wall_s();
	pthread_mutex_unlock(&api->stats_mu);
}

/* ---- the call ---- */

static bool valid_method(const char *m)
{
	return m && (!strcmp(m, "GET") || !strcmp(m, "DELETE") || method_has_body(m));
}

static bool valid_part(const char *s, bool is_path)
{
	if (is_path && *s != '/')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f || *s == '#' ||
		    (is_path && *s == '?'))
			return false;
	return true;
}

/* Send the request once over c; the errno of the outcome, *code the curl result. */
static int send_once(struct rtk_api *api, struct conn *c, const char *url, struct attempt *at,
		     CURLcode *code)
{
	struct rtk_api_resp *resp = at->resp;
	long status = 0, reqsize = 0;

	rtk_buf_reset(&resp->body);
	at->too_big = at->no_memory = false;
	at->abort_err = 0;
	at->hstatus = 0;
	at->remaining = at->reset_s = at->retry_after_s = -1;
	at->errbuf[0] = '\0';
	curl_easy_reset(c->easy); /* the multi keeps its live connections */
	*code = setup(api, c->easy, at->req, url, at);
	if (*code != CURLE_OK)
		return -ENOMEM;
	*code = drive(c, at);
	resp->attempts++;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &reqsize);
	resp->status = status;
	/* Bytes of the request went out: for a write, the outcome may now be unknown. */
	if (reqsize > 0 || status)
		resp->sent = true;
	if (*code == CURLE_ABORTED_BY_CALLBACK && at->abort_err)
		return at->abort_err;
	if (at->no_memory)
		return -ENOMEM;
	if (at->too_big)
		return -EPROTO;
	return rtk_http_errno(status, *code);
}

/*
 * After a failed GET attempt n (0-based): true with *wait_ns set when another attempt is
 * worth it and can start before the deadline.
 */
static bool should_retry(struct rtk_api *api, const struct attempt *at, CURLcode code, unsigned n,
			 uint64_t *wait_ns)
{
	const struct rtk_api_req *req = at->req;
	long status = at->resp->status;
	uint64_t now;

	if (n + 1 >= MAX_ATTEMPTS || req->once || (req->give_up && req->give_up(req->give_up_ctx)))
		return false;
	if (code != CURLE_OK ? !rtk_http_is_retryable(code)
			     : status != 429 && (status < 500 || status > 599))
		return false;
	/* A caller with a stale answer to give does not wait out a 429. */
	if (status == 429 && code == CURLE_OK && req->no_wait)
		return false;
	/* The server's retry-after wins over our backoff. */
	if (at->retry_after_s >= 0)
		*wait_ns = (uint64_t)at->retry_after_s * RTK_NS_PER_SEC;
	else
		*wait_ns = backoff_ns(api, n);
	now = rtk_clock_mono_ns();
	return now < req->deadline_ns && *wait_ns < req->deadline_ns - now;
}

int rtk_api_call(struct rtk_api *api, const struct rtk_api_req *req, struct rtk_api_resp *resp)
{
	uint64_t start = rtk_clock_mono_ns(), wait, sent_at;
	struct attempt at;
	struct rtk_buf url;
	CURLcode code = CURLE_OK;
	enum rtk_api_endpoint ep;
	struct conn c;
	unsigned n;
	int err;

	memset(&at, 0, sizeof(at));
	at.api = api;
	at.req = req;
	at.resp = resp;
	at.cap = api->max_body && api->max_body < resp->body.max ? api->max_body : resp->body.max;
	resp->status = 0;
	resp->attempts = 0;
	resp->sent = false;
	rtk_buf_reset(&resp->body);
	if (!valid_method(req->method) || !req->path || !valid_part(req->path, true) ||
	    (req->query && !valid_part(req->query, false)) ||
	    (!method_has_body(req->method) && req->body && req->body_len)) {
		rtk_warn("cannot send an API request: invalid method, path, query or body");
		return -EINVAL;
	}
	ep = rtk_api_endpoint_of(req->method, req->path);

	rtk_buf_init(&url, 8192);
	err = rtk_buf_printf(&url, "%s%s%s%s", api->base, req->path, req->query ? "?" : "",
			     req->query ? req->query : "");
	if (err) {
		err = err == -EFBIG ? -EINVAL : err;
		goto release_url;
	}
	err = conn_take(api, &c);
	if (err)
		goto release_url;

	for (n = 0;; n++) {
		if (req->interrupted && req->interrupted(req->interrupted_ctx)) {
			err = -EINTR;
			break;
		}
		if (rtk_clock_mono_ns() >= req->deadline_ns) {
			err = -ETIMEDOUT;
			break;
		}
		if (api->budget && rtk_budget_acquire_reserved(api->budget, req->deadline_ns,
							   req->no_wait, req->reserved)) {
			/* After a failed attempt, its error stands. */
			at.no_budget = n == 0;
			if (!n)
				err = -EAGAIN;
			break;
		}
		sent_at = rtk_clock_mono_ns();
		err = send_once(api, &c, url.data, &at, &code);
		rtk_hist_observe(&api->latency, rtk_clock_mono_ns() - sent_at);
		count_attempt(api, ep, resp->status, n > 0);
		if (!err || strcmp(req->method, "GET") || !should_retry(api, &at, code, n, &wait))
			break;
		if (code != CURLE_OK)
			rtk_debug("%s %s: %s, retrying in %llu ms", req->method, req->path,
				  curl_easy_strerror(code),
				  (unsigned long long)(wait / RTK_NS_PER_MS));
		else
			rtk_debug("%s %s: HTTP %ld, retrying in %llu ms", req->method, req->path,
				  resp->status, (unsigned long long)(wait / RTK_NS_PER_MS));
		if (sleep_until(req, rtk_clock_mono_ns() + wait)) {
			err = -EINTR;
			break;
		}
	}
	conn_give(api, &c); /* see conn_give: libcurl drops a connection that went wrong */
	log_outcome(api, req, &at, code, err, (rtk_clock_mono_ns() - start) / RTK_NS_PER_MS);
release_url:
	rtk_buf_release(&url);
	return err;
}

/* ---- the account's name for sharing (shared.h) ---- */

void rtk_api_token_hash(const struct rtk_api *api, unsigned char out[32])
{
	const char *token = api->auth + sizeof(AUTH_PREFIX) - 1;
	struct rtk_sha256 s;

	rtk_sha256_init(&s);
	rtk_sha256_update(&s, api->base, strlen(api->base));
	rtk_sha256_update(&s, "\n", 1);
	rtk_sha256_update(&s, token, strlen(token));
	rtk_sha256_final(&s, out); /* wipes s */
}
