/* SPDX-License-Identifier: MIT */
/*
 * transfer: one HTTP exchange of the API client (api.h) over libcurl, and the connections it
 * reuses. libcurl stays behind this header: connections are opaque, and a transfer's outcome
 * is told in plain types (the curl result as an int, for rtk_http_errno).
 *
 * - One transfer object per client: the DNS cache and TLS sessions it shares between
 *   threads, a pool of reusable connections, the TLS settings and the request headers.
 * - A send is bounded by the request's deadline and stops within 50 ms of the request being
 *   interrupted; it keeps at most cap bytes of body, and tells the rate budget what the
 *   final response's rate-limit headers said (and pauses it on a 429).
 *
 * Thread-safe: any number of threads may send at once, each over a connection of its own.
 */
#ifndef RTKFS_TRANSFER_H
#define RTKFS_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>

#include "rtkfs/api.h"
#include "rtkfs/budget.h"

struct rtk_transfer;
struct rtk_transfer_conn; /* a connection (kept alive between requests), used by one thread */

struct rtk_transfer_config {
	/* "Authorization: Bearer <token>": borrowed, never copied; must outlive the transfer. */
	const char *auth;
	bool plain_http;	   /* the base URL is http:// (checked to be loopback) */
	const char *cacert;	   /* extra CA bundle, or NULL; copied */
	struct rtk_budget *budget; /* told about rate-limit headers; borrowed; NULL for none */
};

#define RTK_TRANSFER_ERROR_MAX 256

/* What one send saw, beside the status and body it wrote into the response. */
struct rtk_transfer_result {
	int code;			    /* the libcurl result (a CURLcode); 0 for none */
	const char *code_text;		    /* libcurl's words for code (static), "" for none */
	char error[RTK_TRANSFER_ERROR_MAX]; /* libcurl's detail of a failure, or "" */
	bool timed_out;			    /* libcurl's own timeout ended it (not our deadline) */
	bool too_big;			    /* the body passed the cap */
	long retry_after_s;		    /* the final response's retry-after; -1 for none */
};

/*
 * Initialize libcurl once for the process (under pthread_once) and make a transfer object.
 * NULL with a one-line reason in err (libcurl init, ENOMEM).
 */
struct rtk_transfer *rtk_transfer_new(const struct rtk_transfer_config *cfg, char *err,
				      size_t errsz);
/* Closes every pooled connection. NULL is a no-op. */
void rtk_transfer_free(struct rtk_transfer *t);

/* An idle connection of the pool, or a new one: 0 or -ENOMEM. Locks the pool briefly. */
int rtk_transfer_take(struct rtk_transfer *t, struct rtk_transfer_conn **out);
/* Give c back to the pool (closed when the pool is full), whatever its sends did. */
void rtk_transfer_give(struct rtk_transfer *t, struct rtk_transfer_conn *c);

/*
 * Send req once over c to url (the full URL) and read the answer: resp->status, resp->body
 * (at most cap bytes), resp->attempts (one more) and resp->sent are set, res tells the rest.
 * Returns the errno of the outcome: 0 for a 2xx, rtk_http_errno's, -EINTR / -ETIMEDOUT when
 * the request was interrupted or its deadline passed, -EPROTO past cap, -ENOMEM.
 */
int rtk_transfer_send(struct rtk_transfer *t, struct rtk_transfer_conn *c, const char *url,
		      const struct rtk_api_req *req, size_t cap, struct rtk_api_resp *resp,
		      struct rtk_transfer_result *res);

/* libcurl's version string ("8.5.0"). Static; never NULL. */
const char *rtk_transfer_version(void);

/* Does the method carry a request body (POST, PUT, PATCH)? */
bool rtk_transfer_method_has_body(const char *method);

#endif
