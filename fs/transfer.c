// SPDX-License-Identifier: MIT
/*
 * transfer: one HTTP exchange over libcurl, for the API client (see transfer.h).
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
 *  - The token's header line lives in the client's locked page (api.c). The header lists
 *    handed to curl are built by hand (struct curl_slist is public) so that no other copy of
 *    the token is made by us, and none per pooled handle (CURLOPT_XOAUTH2_BEARER would strdup
 *    it into every handle). libcurl copies it into its request buffer while sending; its
 *    allocator wipes what it frees (curl_global_init_mem), so at rest the process holds one
 *    copy: the locked page.
 *  - curl_global_init is not thread-safe in every libcurl build and must run once per
 *    process: rtk_transfer_new does it under pthread_once (a process-wide flag is the only
 *    way to honour that contract; it is never torn down, curl_global_cleanup is left to exit).
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "rtkfs-config.h"
#include "rtkfs/buf.h"
#include "rtkfs/clock.h"
#include "rtkfs/http.h"
#include "rtkfs/loop.h"
#include "rtkfs/transfer.h"

#define SLICE_MS 50
#define CONNECT_CAP_MS 10000
#define POOL_MAX 16

#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
#define HAVE_PROTOCOLS_STR 1
#endif
#if LIBCURL_VERSION_NUM >= 0x074200 /* 7.66.0 */
#define HAVE_MULTI_POLL 1
#endif

_Static_assert(RTK_TRANSFER_ERROR_MAX >= CURL_ERROR_SIZE, "curl's error buffer size");

/* A reusable transfer: its multi handle keeps the live connection between requests. */
struct rtk_transfer_conn {
	CURLM *multi;
	CURL *easy;
};

struct rtk_transfer {
	bool plain_http;
	char *cacert;
	const char *capath; /* libcurl's built-in CA directory, or NULL */
	struct rtk_budget *budget;

	struct curl_slist hdr_plain[4]; /* auth, accept, user agent, no Expect */
	struct curl_slist hdr_json[5];	/* the same plus Content-Type */

	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	unsigned n_share_mu;

	pthread_mutex_t pool_mu;
	struct rtk_transfer_conn *pool[POOL_MAX];
	unsigned n_pool;
};

/* What one attempt saw; the callbacks' context. */
struct attempt {
	struct rtk_transfer *t;
	const struct rtk_api_req *req;
	struct rtk_api_resp *resp;
	struct rtk_transfer_result *res;
	size_t cap;	/* body bytes kept */
	bool no_memory; /* appending the body failed */
	int abort_err;	/* -EINTR / -ETIMEDOUT when we stopped the transfer */
	long hstatus;	/* status line of the response being read */
	long remaining, reset_s;
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

const char *rtk_transfer_version(void)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);

	return vi && vi->version ? vi->version : "unknown";
}

/* ---- headers ---- */

static void link_headers(struct rtk_transfer *t, const char *auth)
{
	/* curl only reads these (struct curl_slist wants char *). */
	char *lines[] = {
	    (char *)auth,
	    (char *)"Accept: application/json",
	    (char *)"User-Agent: rtkfs/" RTK_VERSION,
	    (char *)"Expect:", /* no 100-continue round trip */
	    (char *)"Content-Type: application/json",
	};
	unsigned i;

	for (i = 0; i < 4; i++) {
		t->hdr_plain[i].data = lines[i];
		t->hdr_plain[i].next = i + 1 < 4 ? &t->hdr_plain[i + 1] : NULL;
	}
	for (i = 0; i < 5; i++) {
		t->hdr_json[i].data = lines[i];
		t->hdr_json[i].next = i + 1 < 5 ? &t->hdr_json[i + 1] : NULL;
	}
}

/* ---- share locks ---- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
	struct rtk_transfer *t = ctx;

	if ((unsigned)data < t->n_share_mu)
		pthread_mutex_lock(&t->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	struct rtk_transfer *t = ctx;

	if ((unsigned)data < t->n_share_mu)
		pthread_mutex_unlock(&t->share_mu[data]);
}

static int make_share(struct rtk_transfer *t)
{
	unsigned i;

	for (i = 0; i < CURL_LOCK_DATA_LAST; i++) {
		if (pthread_mutex_init(&t->share_mu[i], NULL))
			return -ENOMEM;
		t->n_share_mu = i + 1;
	}
	t->share = curl_share_init();
	if (!t->share)
		return -ENOMEM;
	if (curl_share_setopt(t->share, CURLSHOPT_USERDATA, t) ||
	    curl_share_setopt(t->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(t->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION))
		return -ENOMEM;
	return 0;
}

/* ---- lifecycle ---- */

static void free_members(struct rtk_transfer *t)
{
	if (t->share)
		curl_share_cleanup(t->share);
	while (t->n_share_mu)
		pthread_mutex_destroy(&t->share_mu[--t->n_share_mu]);
	free(t->cacert);
}

struct rtk_transfer *rtk_transfer_new(const struct rtk_transfer_config *cfg, char *err,
				      size_t errsz)
{
	curl_version_info_data *vi;
	struct rtk_transfer *t;

	if (errsz)
		err[0] = '\0';
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(err, errsz, "cannot initialize libcurl: %s",
			 curl_easy_strerror(global_rc));
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto no_memory;
	if (pthread_mutex_init(&t->pool_mu, NULL))
		goto free_t;
	t->plain_http = cfg->plain_http;
	t->budget = cfg->budget;
	link_headers(t, cfg->auth);
	if (cfg->cacert && !(t->cacert = strdup(cfg->cacert)))
		goto free_members;
	vi = curl_version_info(CURLVERSION_NOW);
	if (vi && vi->age >= CURLVERSION_SEVENTH)
		t->capath = vi->capath;
	if (make_share(t)) {
		snprintf(err, errsz, "cannot create the API client: curl share setup failed");
		goto free_members;
	}
	return t;

free_members:
	free_members(t);
	pthread_mutex_destroy(&t->pool_mu);
free_t:
	free(t);
no_memory:
	if (errsz && !err[0])
		snprintf(err, errsz, "cannot create the API client: out of memory");
	return NULL;
}

static void conn_close(struct rtk_transfer_conn *c)
{
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	free(c);
}

void rtk_transfer_free(struct rtk_transfer *t)
{
	if (!t)
		return;
	while (t->n_pool)
		conn_close(t->pool[--t->n_pool]);
	free_members(t);
	pthread_mutex_destroy(&t->pool_mu);
	free(t);
}

/* ---- the connection pool ---- */

int rtk_transfer_take(struct rtk_transfer *t, struct rtk_transfer_conn **out)
{
	struct rtk_transfer_conn *c;

	pthread_mutex_lock(&t->pool_mu);
	if (t->n_pool) {
		*out = t->pool[--t->n_pool];
		pthread_mutex_unlock(&t->pool_mu);
		return 0;
	}
	pthread_mutex_unlock(&t->pool_mu);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->multi = curl_multi_init();
	c->easy = curl_easy_init();
	if (!c->multi || !c->easy) {
		conn_close(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

/*
 * Given back whatever its transfer did (closed only when the pool is full). A connection
 * that went wrong needs nothing from us: libcurl closes a connection whose transfer failed
 * or was stopped mid-way instead of keeping it in the multi's cache, so what the pair keeps
 * is only what is fit for reuse.
 */
void rtk_transfer_give(struct rtk_transfer *t, struct rtk_transfer_conn *c)
{
	pthread_mutex_lock(&t->pool_mu);
	if (t->n_pool < POOL_MAX) {
		t->pool[t->n_pool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&t->pool_mu);
	if (c)
		conn_close(c);
}

/* ---- callbacks ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct attempt *at = ctx;
	struct rtk_buf *b = &at->resp->body;
	size_t n = size * nmemb;
	int rc;

	if (n > at->cap || b->len > at->cap - n) {
		at->res->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	rc = rtk_buf_append(b, data, n);
	if (rc) {
		if (rc == -EFBIG)
			at->res->too_big = true;
		else
			at->no_memory = true;
		return 0;
	}
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct attempt *at = ctx;
	struct rtk_budget *budget = at->t->budget;
	size_t n = size * nmemb;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx too): start over. */
		const char *sp = memchr(data, ' ', n);

		at->hstatus = 0;
		at->remaining = at->reset_s = at->res->retry_after_s = -1;
		if (sp && (size_t)(sp - data) + 4 <= n && sp[1] >= '1' && sp[1] <= '9' &&
		    sp[2] >= '0' && sp[2] <= '9' && sp[3] >= '0' && sp[3] <= '9')
			at->hstatus = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		return n;
	}
	if (n <= 2 && (n == 0 || data[0] == '\r' || data[0] == '\n')) {
		/* End of a header block: tell the budget what a final response said. */
		if (budget && at->hstatus >= 200) {
			long pause =
			    at->res->retry_after_s > 0 ? at->res->retry_after_s : at->reset_s;

			if (at->remaining >= 0)
				rtk_budget_observe(budget, at->remaining, at->reset_s);
			/* No retry-after: the reset time of the window, else the minimum. */
			if (at->hstatus == 429)
				rtk_budget_pause(budget, pause > 0 ? (unsigned)pause : 1);
		}
		return n;
	}
	rtk_http_parse_ratelimit_header(data, n, (long)rtk_clock_wall_s(), &at->remaining,
					&at->reset_s, &at->res->retry_after_s);
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

bool rtk_transfer_method_has_body(const char *m)
{
	return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

/* Set an option of e unless an earlier one failed (with rc and e in scope). */
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(e, opt, val);                                        \
	} while (0)

/* The method, the body and the header list (the token's line is in both lists). */
static CURLcode setup_method(struct rtk_transfer *t, CURL *e, const struct rtk_api_req *req)
{
	CURLcode rc = CURLE_OK;

	if (rtk_transfer_method_has_body(req->method)) {
		SET(CURLOPT_HTTPHEADER, t->hdr_json);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
		SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
		if (strcmp(req->method, "POST"))
			SET(CURLOPT_CUSTOMREQUEST, req->method);
	} else {
		SET(CURLOPT_HTTPHEADER, t->hdr_plain);
		if (strcmp(req->method, "GET"))
			SET(CURLOPT_CUSTOMREQUEST, req->method);
		else
			SET(CURLOPT_HTTPGET, 1L);
	}
	return rc;
}

static CURLcode setup(struct rtk_transfer *t, CURL *e, const struct rtk_api_req *req,
		      const char *url, struct attempt *at)
{
	uint64_t now = rtk_clock_mono_ns();
	uint64_t left_ms = req->deadline_ns > now ? (req->deadline_ns - now) / RTK_NS_PER_MS : 0;
	const char *protos = t->plain_http ? "http,https" : "https";
	CURLcode rc = CURLE_OK;

	if (left_ms < 1)
		left_ms = 1;
	SET(CURLOPT_ERRORBUFFER, at->res->error);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_SHARE, t->share);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_VERBOSE, 0L);
#ifdef HAVE_PROTOCOLS_STR
	SET(CURLOPT_PROTOCOLS_STR, protos);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
#else
	(void)protos;
	SET(CURLOPT_PROTOCOLS,
	    t->plain_http ? (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS) : (long)CURLPROTO_HTTPS);
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
	if (t->cacert) {
		SET(CURLOPT_CAINFO, t->cacert);
		if (t->capath)
			SET(CURLOPT_CAPATH, t->capath);
	}
	/* The plain-http loopback case never goes through a proxy (the token is in clear). */
	if (t->plain_http)
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
	 * So does a request that must be one attempt (the degraded-mode probe): a probe over a
	 * connection the outage killed would otherwise cost two requests.
	 */
	SET(CURLOPT_FRESH_CONNECT, strcmp(req->method, "GET") || req->once ? 1L : 0L);
	if (rc == CURLE_OK)
		rc = setup_method(t, e, req);
#undef SET
	return rc;
}

/* Run the transfer in slices, so that interruption and the deadline are seen in time. */
static CURLcode drive(struct rtk_transfer_conn *c, struct attempt *at)
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

/* The curl result into res, where describing a failure needs no curl type. */
static void note_code(struct rtk_transfer_result *res, CURLcode code)
{
	res->code = (int)code;
	res->code_text = code == CURLE_OK ? "" : curl_easy_strerror(code);
	res->timed_out = code == CURLE_OPERATION_TIMEDOUT;
}

int rtk_transfer_send(struct rtk_transfer *t, struct rtk_transfer_conn *c, const char *url,
		      const struct rtk_api_req *req, size_t cap, struct rtk_api_resp *resp,
		      struct rtk_transfer_result *res)
{
	struct attempt at = {.t = t, .req = req, .resp = resp, .res = res, .cap = cap};
	long status = 0, reqsize = 0;
	CURLcode code;
	int err;

	rtk_loop_waiting(); /* the network: let another thread read /dev/fuse meanwhile */
	rtk_buf_reset(&resp->body);
	res->too_big = false;
	res->retry_after_s = at.remaining = at.reset_s = -1;
	res->error[0] = '\0';
	curl_easy_reset(c->easy); /* the multi keeps its live connections */
	code = setup(t, c->easy, req, url, &at);
	if (code != CURLE_OK) {
		note_code(res, code);
		return -ENOMEM;
	}
	code = drive(c, &at);
	note_code(res, code);
	resp->attempts++;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &reqsize);
	resp->status = status;
	/* Bytes of the request went out: for a write, the outcome may now be unknown. */
	if (reqsize > 0 || status)
		resp->sent = true;
	if (code == CURLE_ABORTED_BY_CALLBACK && at.abort_err)
		err = at.abort_err;
	else if (at.no_memory)
		err = -ENOMEM;
	else if (res->too_big)
		err = -EPROTO;
	else
		err = rtk_http_errno(status, code);
	if (code == CURLE_FILESIZE_EXCEEDED)
		res->too_big = true; /* libcurl saw the size in advance */
	return err;
}
