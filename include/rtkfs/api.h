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
 * - HTTP status and curl errors become an errno in exactly one place (rtk_api_errno).
 *
 * Thread-safe: any number of threads may call rtk_api_call() at once.
 */
#ifndef RTKFS_API_H
#define RTKFS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtkfs/buf.h"

struct rtk_api;
struct rtk_budget;

struct rtk_api_config {
	const char *base_url;   /* "https://api.cloudflare.com/client/v4"; no trailing '/' needed */
	const char *token;      /* copied (into locked memory); never logged */
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
 * (rtk_api_errno, -ETIMEDOUT at the deadline, -EINTR when interrupted, -EAGAIN when the rate
 * budget has no room before the deadline, -EPROTO over the body cap or on a redirect).
 * resp (initialized by the caller) holds the last status and body either way.
 */
int rtk_api_call(struct rtk_api *api, const struct rtk_api_req *req, struct rtk_api_resp *resp);

/*
 * The errno table of DESIGN §5. status is the HTTP status (0: no response); curl_code is a
 * CURLcode (0: none). 2xx is 0.
 */
int rtk_api_errno(long status, int curl_code);

/* The endpoint class of an API path. */
enum rtk_api_endpoint rtk_api_endpoint_of(const char *method, const char *path);
const char *rtk_api_endpoint_name(enum rtk_api_endpoint ep);

/* Counters of what was sent, for the control files. */
struct rtk_api_stats {
	uint64_t requests[RTK_EP__N];
	uint64_t by_class[6];  /* responses by status class: [0] no response, [2] 2xx ... [5] 5xx */
	uint64_t status_429;
	uint64_t retries;
	long last_status;
	int last_errno;
	char last_error[256];  /* "GET /accounts: HTTP 503: <server message>" (no token) */
	int64_t last_error_time; /* wall clock seconds, 0 when none */
};
void rtk_api_get_stats(struct rtk_api *api, struct rtk_api_stats *st);

/*
 * Take the token out of text that came from the server (an error message about to be logged
 * or kept for the control files): each occurrence becomes "<redacted>", and when s filled sz
 * (it may have been cut), a tail that could be the token's beginning is dropped.
 */
void rtk_api_redact(const struct rtk_api *api, char *s, size_t sz);

/* The base URL, as normalized (no trailing '/'). */
const char *rtk_api_base_url(const struct rtk_api *api);

/*
 * SHA-256(base URL "\n" token): names the account in keys shared with other mounts
 * (shared.h) without the token ever leaving this module.
 */
void rtk_api_token_hash(const struct rtk_api *api, unsigned char out[32]);

#endif
