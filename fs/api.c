// SPDX-License-Identifier: MIT
/*
 * api: the one HTTP client of rtkfs (see api.h for the contract).
 *
 * Shape:
 *  - The exchange itself (libcurl, the pool of reused connections, the deadline and
 *    interruption within a 50 ms slice) is transfer.c's; here are what comes around it: the
 *    base URL, the token, the rate budget, retries, the log line and the counters.
 *  - The token lives in one mlock'ed, non-dumpable page as the ready "Authorization: Bearer"
 *    header line, and is wiped at free. The transfer hands that very line to libcurl, which
 *    wipes its own copies when it frees them (see transfer.c): at rest the process holds one
 *    copy, the locked page.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rtkfs/api.h"
#include "rtkfs/budget.h"
#include "rtkfs/sha256.h"
#include "rtkfs/buf.h"
#include "rtkfs/clock.h"
#include "rtkfs/http.h"
#include "rtkfs/log.h"
#include "rtkfs/transfer.h"
#include "rtkfs/url.h"

#define MAX_ATTEMPTS 4
#define BACKOFF_BASE_NS (100 * RTK_NS_PER_MS)
#define BACKOFF_CAP_NS (2000 * RTK_NS_PER_MS)
#define SLICE_MS 50
#define AUTH_PREFIX "Authorization: Bearer "

struct rtk_api {
	char *base; /* normalized, no trailing '/' */
	size_t max_body;
	struct rtk_budget *budget;
	int (*error_message)(const char *body, size_t len, char *out, size_t outsz);

	char *auth; /* "Authorization: Bearer <token>", in its own locked mapping */
	size_t auth_maplen;

	struct rtk_transfer *transfer;

	_Atomic uint64_t rng;

	pthread_mutex_t stats_mu;
	struct rtk_api_stats stats;
	struct rtk_hist latency; /* lock-free: not under stats_mu */
};

/* What a call saw, for its log line. */
struct outcome {
	const struct rtk_api_resp *resp;
	struct rtk_transfer_result tr; /* of the last attempt */
	size_t cap;		       /* body bytes kept */
	bool no_budget;		       /* the rate budget had no room before the deadline */
};

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

/* ---- lifecycle ---- */

struct rtk_api *rtk_api_new(const struct rtk_api_config *cfg, char *err, size_t errsz)
{
	struct rtk_transfer_config tc = {.cacert = cfg->cacert, .budget = cfg->budget};
	struct rtk_api *api;

	if (errsz)
		err[0] = '\0';
	api = calloc(1, sizeof(*api));
	if (!api) {
		snprintf(err, errsz, "cannot create the API client: out of memory");
		return NULL;
	}
	if (pthread_mutex_init(&api->stats_mu, NULL))
		goto free_api;
	if (base_url(cfg->base_url, &api->base, err, errsz))
		goto destroy_stats_mu;
	if (make_auth(api, cfg->token, err, errsz))
		goto free_base;
	/* Checked: plain http only to loopback. curl gives the scheme in lower case. */
	tc.plain_http = strncmp(api->base, "http:", 5) == 0;
	tc.auth = api->auth;
	api->transfer = rtk_transfer_new(&tc, err, errsz);
	if (!api->transfer)
		goto free_token;
	rtk_log_set_secret(api->auth + sizeof(AUTH_PREFIX) - 1);
	api->max_body = cfg->max_body;
	api->budget = cfg->budget;
	api->error_message = cfg->error_message;
	atomic_store(&api->rng, rtk_clock_mono_ns() ^ ((uint64_t)(uintptr_t)api << 16));
	return api;

free_token:
	free_auth(api);
free_base:
	free(api->base);
destroy_stats_mu:
	pthread_mutex_destroy(&api->stats_mu);
free_api:
	free(api);
	if (errsz && !err[0])
		snprintf(err, errsz, "cannot create the API client: out of memory");
	return NULL;
}

void rtk_api_free(struct rtk_api *api)
{
	if (!api)
		return;
	rtk_transfer_free(api->transfer);
	free_auth(api);
	free(api->base);
	pthread_mutex_destroy(&api->stats_mu);
	free(api);
}

const char *rtk_api_version(void)
{
	return rtk_transfer_version();
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
static void describe(struct rtk_api *api, const struct outcome *at, int err, uint64_t elapsed_ms,
		     char *out, size_t outsz)
{
	const struct rtk_api_resp *resp = at->resp;
	char msg[1024] = "";

	if (err == -EINTR) {
		snprintf(out, outsz, "interrupted");
	} else if (at->no_budget) {
		snprintf(out, outsz, "the rate budget has no room before the deadline");
	} else if (err == -ETIMEDOUT && !at->tr.timed_out) {
		if (resp->attempts)
			snprintf(out, outsz, "no answer within the deadline (%llu ms)",
				 (unsigned long long)elapsed_ms);
		else
			snprintf(out, outsz, "the deadline passed before the request was sent");
	} else if (at->tr.too_big) {
		snprintf(out, outsz, "HTTP %ld: response larger than %zu bytes", resp->status,
			 at->cap);
	} else if (at->tr.code) {
		snprintf(out, outsz, "%.200s", at->tr.error[0] ? at->tr.error : at->tr.code_text);
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
		if (resp->status == 429 && at->tr.retry_after_s >= 0) {
			size_t len = strlen(out);

			snprintf(out + len, outsz - len, " (retry after %ld s)",
				 at->tr.retry_after_s);
		}
	}
}

static void log_outcome(struct rtk_api *api, const struct rtk_api_req *req,
			const struct outcome *at, int err, uint64_t elapsed_ms)
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
	describe(api, at, err, elapsed_ms, why, sizeof(why));
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
	return m && (!strcmp(m, "GET") || !strcmp(m, "DELETE") || rtk_transfer_method_has_body(m));
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

/*
 * After a failed GET attempt n (0-based): true with *wait_ns set when another attempt is
 * worth it and can start before the deadline.
 */
static bool should_retry(struct rtk_api *api, const struct rtk_api_req *req,
			 const struct outcome *at, unsigned n, uint64_t *wait_ns)
{
	long status = at->resp->status;
	int code = at->tr.code;
	uint64_t now;

	if (n + 1 >= MAX_ATTEMPTS || req->once)
		return false;
	if (code ? !rtk_http_is_retryable(code) : status != 429 && (status < 500 || status > 599))
		return false;
	/* A caller with a stale answer to give does not wait out a 429. */
	if (status == 429 && !code && req->no_wait)
		return false;
	/* The server's retry-after wins over our backoff. */
	if (at->tr.retry_after_s >= 0)
		*wait_ns = (uint64_t)at->tr.retry_after_s * RTK_NS_PER_SEC;
	else
		*wait_ns = backoff_ns(api, n);
	now = rtk_clock_mono_ns();
	return now < req->deadline_ns && *wait_ns < req->deadline_ns - now;
}

/*
 * Send req to url over c until an attempt succeeds, fails for good or may not be repeated,
 * or the deadline, the budget or an interruption ends it: the errno of the outcome.
 */
static int send_retrying(struct rtk_api *api, const struct rtk_api_req *req,
			 struct rtk_transfer_conn *c, const char *url, struct rtk_api_resp *resp,
			 struct outcome *at)
{
	enum rtk_api_endpoint ep = rtk_api_endpoint_of(req->method, req->path);
	uint64_t wait, sent_at;
	unsigned n;
	int err = 0;

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
			at->no_budget = n == 0;
			if (!n)
				err = -EAGAIN;
			break;
		}
		sent_at = rtk_clock_mono_ns();
		err = rtk_transfer_send(api->transfer, c, url, req, at->cap, resp, &at->tr);
		rtk_hist_observe(&api->latency, rtk_clock_mono_ns() - sent_at);
		count_attempt(api, ep, resp->status, n > 0);
		if (!err || strcmp(req->method, "GET") || !should_retry(api, req, at, n, &wait))
			break;
		/* The caller hears of each failed attempt about to be retried, and may stop. */
		if (req->give_up && req->give_up(req->give_up_ctx, err, resp->status))
			break;
		if (at->tr.code)
			rtk_debug("%s %s: %s, retrying in %llu ms", req->method, req->path,
				  at->tr.code_text, (unsigned long long)(wait / RTK_NS_PER_MS));
		else
			rtk_debug("%s %s: HTTP %ld, retrying in %llu ms", req->method, req->path,
				  resp->status, (unsigned long long)(wait / RTK_NS_PER_MS));
		if (sleep_until(req, rtk_clock_mono_ns() + wait)) {
			err = -EINTR;
			break;
		}
	}
	return err;
}

int rtk_api_call(struct rtk_api *api, const struct rtk_api_req *req, struct rtk_api_resp *resp)
{
	uint64_t start = rtk_clock_mono_ns();
	struct rtk_transfer_conn *c;
	struct outcome at;
	struct rtk_buf url;
	int err;

	memset(&at, 0, sizeof(at));
	at.resp = resp;
	at.tr.code_text = "";
	at.tr.retry_after_s = -1;
	at.cap = api->max_body && api->max_body < resp->body.max ? api->max_body : resp->body.max;
	resp->status = 0;
	resp->attempts = 0;
	resp->sent = false;
	rtk_buf_reset(&resp->body);
	if (!valid_method(req->method) || !req->path || !valid_part(req->path, true) ||
	    (req->query && !valid_part(req->query, false)) ||
	    (!rtk_transfer_method_has_body(req->method) && req->body && req->body_len)) {
		rtk_warn("cannot send an API request: invalid method, path, query or body");
		return -EINVAL;
	}
	rtk_buf_init(&url, 8192);
	err = rtk_buf_printf(&url, "%s%s%s%s", api->base, req->path, req->query ? "?" : "",
			     req->query ? req->query : "");
	if (err) {
		err = err == -EFBIG ? -EINVAL : err;
		goto release_url;
	}
	err = rtk_transfer_take(api->transfer, &c);
	if (err)
		goto release_url;
	err = send_retrying(api, req, c, url.data, resp, &at);
	/* see rtk_transfer_give: libcurl drops a connection that went wrong */
	rtk_transfer_give(api->transfer, c);
	log_outcome(api, req, &at, err, (rtk_clock_mono_ns() - start) / RTK_NS_PER_MS);
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
