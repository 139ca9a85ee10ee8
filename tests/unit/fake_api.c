// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_api.h"
#include "rtkfs/api.h"

#define RULES_MAX 64
#define LOG_MAX 4096

struct rule {
	char method[8], path[512], query[128];
	bool any_query;
	long status;
	char *body;
	int err;
	unsigned times, used;
};

struct logged {
	char method[8], path[512];
	char *body;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct rule rules[RULES_MAX];
static unsigned nrules;
static struct logged log_[LOG_MAX];
static unsigned nlog;
static struct rtk_api_stats stats;
static fake_api_fn handler;
static char handler_body[65536];

struct rtk_api *fake_api(void)
{
	static char token;

	return (struct rtk_api *)&token;
}

void fake_api_reset(void)
{
	unsigned i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < nrules; i++)
		free(rules[i].body);
	for (i = 0; i < nlog; i++)
		free(log_[i].body);
	nrules = nlog = 0;
	handler = NULL;
	memset(&stats, 0, sizeof(stats));
	pthread_mutex_unlock(&mu);
}

void fake_api_answer(const char *method, const char *path, const char *query, long status,
		     const char *body, int err, unsigned times)
{
	struct rule *r;

	pthread_mutex_lock(&mu);
	if (nrules < RULES_MAX) {
		r = &rules[nrules++];
		memset(r, 0, sizeof(*r));
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->path, sizeof(r->path), "%s", path);
		r->any_query = !query;
		snprintf(r->query, sizeof(r->query), "%s", query ? query : "");
		r->status = status;
		r->body = body ? strdup(body) : NULL;
		r->err = err;
		r->times = times;
	}
	pthread_mutex_unlock(&mu);
}

void fake_api_handler(fake_api_fn fn)
{
	pthread_mutex_lock(&mu);
	handler = fn;
	pthread_mutex_unlock(&mu);
}

unsigned fake_api_count(const char *method, const char *path)
{
	unsigned i, n = 0;

	pthread_mutex_lock(&mu);
	for (i = 0; i < nlog; i++)
		if (!strcmp(log_[i].method, method) && (!path || !strcmp(log_[i].path, path)))
			n++;
	pthread_mutex_unlock(&mu);
	return n;
}

const char *fake_api_last_body(const char *method)
{
	const char *b = NULL;
	unsigned i;

	pthread_mutex_lock(&mu);
	for (i = nlog; i-- > 0;)
		if (!strcmp(log_[i].method, method)) {
			b = log_[i].body;
			break;
		}
	pthread_mutex_unlock(&mu);
	return b;
}

static int errno_of(long status)
{
	if (status >= 200 && status <= 299)
		return 0;
	switch (status) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	case 429:
		return -EAGAIN;
	default:
		return status >= 500 ? -EIO : -EPROTO;
	}
}

static struct rule *match(const struct rtk_api_req *req)
{
	unsigned i;

	for (i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];

		if (strcmp(r->method, req->method) || strcmp(r->path, req->path))
			continue;
		if (!r->any_query && strcmp(r->query, req->query ? req->query : ""))
			continue;
		if (r->times && r->used >= r->times)
			continue;
		r->used++;
		return r;
	}
	return NULL;
}

int rtk_api_call(struct rtk_api *api, const struct rtk_api_req *req, struct rtk_api_resp *resp)
{
	struct rule *r;
	long status = 404;
	const char *body = "{\"success\": false, \"error\": {\"code\": 404, \"message\": \"no such "
			   "fake answer\"}}";
	int err;

	if (req->interrupted && req->interrupted(req->interrupted_ctx))
		return -EINTR;
	pthread_mutex_lock(&mu);
	if (nlog < LOG_MAX) {
		snprintf(log_[nlog].method, sizeof(log_[nlog].method), "%s", req->method);
		snprintf(log_[nlog].path, sizeof(log_[nlog].path), "%s", req->path);
		log_[nlog].body = req->body ? strndup(req->body, req->body_len) : NULL;
		nlog++;
	}
	r = match(req);
	if (r) {
		status = r->err ? 0 : r->status;
		body = r->err ? "" : r->body ? r->body : "";
	} else if (handler) {
		handler_body[0] = '\0';
		status = handler(req->method, req->path, req->query ? req->query : "", handler_body,
				 sizeof(handler_body));
		body = handler_body;
	}
	err = r && r->err ? r->err : errno_of(status);
	stats.requests[RTK_EP_OTHER]++;
	stats.by_class[status / 100 <= 5 ? status / 100 : 0]++;
	pthread_mutex_unlock(&mu);
	resp->status = status;
	resp->attempts = 1;
	resp->sent = true;
	rtk_buf_reset(&resp->body);
	if (rtk_buf_puts(&resp->body, body) != 0)
		return -EPROTO;
	return err;
}

void rtk_api_resp_init(struct rtk_api_resp *r, size_t max_body)
{
	memset(r, 0, sizeof(*r));
	rtk_buf_init(&r->body, max_body);
}

void rtk_api_resp_release(struct rtk_api_resp *r)
{
	rtk_buf_release(&r->body);
}

void rtk_api_get_stats(struct rtk_api *api, struct rtk_api_stats *st)
{
	pthread_mutex_lock(&mu);
	*st = stats;
	pthread_mutex_unlock(&mu);
}

const char *rtk_api_base_url(const struct rtk_api *api)
{
	return "http://127.0.0.1:1/fake";
}

const char *rtk_api_endpoint_name(enum rtk_api_endpoint ep)
{
	return ep == RTK_EP_OTHER ? "other" : "endpoint";
}

bool rtk_api_is_paused(struct rtk_api *api)
{
	return false;
}

void rtk_api_resume(struct rtk_api *api)
{
}
