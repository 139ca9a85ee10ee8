/* SPDX-License-Identifier: MIT */
/*
 * api: the one HTTP client of rtkfs (libcurl behind this header; no curl type leaks out).
 *
 * - Requests are relative to the base URL; plain http is accepted only for loopback hosts,
 *   TLS is always verified (cacert adds a CA bundle), redirects are never followed (so the
 *   token never leaves for another host).
 * - Every request takes a unit of the rate budget first, carries the caller's deadline
 *   (CLOCK_MONOTONIC) as a hard transfer timeout whatever the server does, aborts when the
 *   caller is interrupted, and keeps at most max_body bytes of response.
 * - GETs are retried on connection errors, 429 and 5xx with full-jitter exponential backoff
 *   within the deadline, honouring retry-after; other methods are never retried once sent.
 * - Connections (and TLS sessions, DNS) are shared between threads and reused.
 * - HTTP status and curl errors become an errno in exactly one place (rtk_http_errno, http.h).
 *
 * Thread-safe: any number of threads may call rtk_api_call() at once.
 */
#ifndef RTKFS_API_H
#define RTKFS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/budget.h"
#include "rtkfs/buf.h"
#include "rtkfs/hist.h"

struct rtk_api;

struct rtk_api_config {
	const char *base_url;   /* "https://api.cloudflare.com/client/v4"; no trailing '/' needed */
	/* Copied into locked memory, which is registered with the logger (rtk_log_set_secret)
	 * until rtk_api_free; never logged. */
	const char *token;
	const char *cacert;     /* extra CA bundle, or NULL */
	size_t max_body;        /* response bytes kept; more is -EPROTO */
	struct rtk_budget *budget; /* borrowed; NULL for none */
	/* Extracts the server's message from an error body (rtk_envelope_error_message), so that
	 * logs and last_error carry it; NULL to log the status only. */
	int (*error_message)(const char *body, size_t len, char *out, size_t outsz);
};

/* Endpoint classes, for statistics. */
enum rtk_api_endpoint {
	RTK_EP_VERIFY,
	RTK_EP_ACCOUNTS,
	RTK_EP_APPS,
	RTK_EP_WEBHOOKS,
	RTK_EP_WEBHOOK,
	RTK_EP_OTHER,
	RTK_EP__N,
};

struct rtk_api_req {
	const char *method;   /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *path;     /* API path, already percent-encoded, starting with '/' */
	const char *query;    /* without '?', or NULL */
	const char *body;     /* JSON request body, or NULL */
	size_t body_len;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; the call returns by then */
	/* Polled during the transfer; when it returns true the call ends with -EINTR. */
	bool (*interrupted)(void *ctx);
	void *interrupted_ctx;
	bool quiet; /* the caller reports failures itself: log them at debug level only */
	/*
	 * The caller has something to fall back on (a stale listing, DESIGN §3): when the rate
	 * budget has no room now (a 429 pause, or the window is full) or the answer is a 429,
	 * return -EAGAIN at once instead of waiting for room or for the retry-after.
	 */
	bool no_wait;
	bool once;     /* one attempt, never retried (the degraded-mode probe) */
	/* Told of each failed GET attempt that would be tried again (its errno and status):
	 * true stops the retries (the mount went degraded: the probe is the one that tries
	 * now). The last attempt is the caller's to see in the result. May be NULL. */
	bool (*give_up)(void *ctx, int err, long status);
	void *give_up_ctx;
	bool reserved; /* may use the budget's reserve (rtk_budget_acquire_reserved) */
};

struct rtk_api_resp {
	long status;          /* HTTP status of the last attempt; 0 when none was received */
	struct rtk_buf body;  /* the response body (capped) */
	unsigned attempts;    /* requests sent for this call */
	bool sent;            /* a request went out (for writes: the outcome may be unknown) */
};

/* Check a base URL: 0, or -EINVAL with a reason in err (always NUL-terminated). */
int rtk_api_check_base_url(const char *url, char *err, size_t errsz);

/* A client, or NULL with a one-line reason in err (bad base URL, ENOMEM, curl init). */
struct rtk_api *rtk_api_new(const struct rtk_api_config *cfg, char *err, size_t errsz);
void rtk_api_free(struct rtk_api *api); /* NULL is a no-op; wipes the token */

void rtk_api_resp_init(struct rtk_api_resp *r, size_t max_body);
void rtk_api_resp_release(struct rtk_api_resp *r);

/*
 * Send req and wait for the answer. Returns 0 for a 2xx, else a negative errno
 * (rtk_http_errno, -ETIMEDOUT at the deadline, -EINTR when interrupted, -EAGAIN when the rate
 * budget has no room before the deadline, -EPROTO over the body cap or on a redirect).
 * resp (initialized by the caller) holds the last status and body either way.
 */
int rtk_api_call(struct rtk_api *api, const struct rtk_api_req *req, struct rtk_api_resp *resp);

/* The endpoint class of an API path. */
enum rtk_api_endpoint rtk_api_endpoint_of(const char *method, const char *path);
const char *rtk_api_endpoint_name(enum rtk_api_endpoint ep);

/* Counters of what was sent, for the control files. */
struct rtk_api_stats {
	uint64_t requests[RTK_EP__N];
	uint64_t by_class[6];  /* responses by status class: [0] no response, [2] 2xx ... [5] 5xx */
	uint64_t by_endpoint_class[RTK_EP__N][6]; /* the same, per endpoint */
	struct rtk_hist_snap latency; /* time of each request sent (each attempt) */
	uint64_t status_429;
	uint64_t retries;
	long last_status;
	int last_errno;
	char last_error[256];  /* "GET /accounts: HTTP 503: <server message>" (no token) */
	int64_t last_error_time; /* wall clock seconds, 0 when none */
	bool has_budget;       /* the client has a rate budget; budget is all zero when not */
	struct rtk_budget_stats budget;
};
/* A snapshot of the counters (and of the rate budget's, when there is one). */
void rtk_api_get_stats(struct rtk_api *api, struct rtk_api_stats *st);

/* Is the client holding back every request because the server said 429 (a pause)? */
bool rtk_api_is_paused(struct rtk_api *api);

/*
 * End a 429 pause at once (`echo resume > .rtkfs/ctl`): the next request goes out, and
 * callers waiting for the pause to pass are woken. No-op without a budget or a pause.
 */
void rtk_api_resume(struct rtk_api *api);

/* libcurl's version string ("8.5.0"), for --version. Static; never NULL. */
const char *rtk_api_version(void);

/* The base URL, as normalized (no trailing '/'). */
const char *rtk_api_base_url(const struct rtk_api *api);

/*
 * SHA-256(base URL "\n" token): names the account in keys shared with other mounts
 * (shared.h) without the token ever leaving this module.
 */
void rtk_api_token_hash(const struct rtk_api *api, unsigned char out[32]);

#endif
