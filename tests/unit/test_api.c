// SPDX-License-Identifier: MIT
/*
 * Unit tests of the HTTP client: the pure parts (base URL, errno table, endpoint classes)
 * and rtk_api_call against a tiny scripted HTTP/1.1 server on 127.0.0.1 in a thread, which
 * records what it was sent so the tests can assert what the server saw.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtkfs/api.h"
#include "rtkfs/budget.h"
#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "check.h"

#define MS RTK_NS_PER_MS
#define TOKEN "sekrit-token-123"

/* ---- the scripted server ---- */

enum action { SEND, HANG, CLOSE };

struct reply {
	enum action action;
	const char *raw;   /* sent as is */
	size_t then_bytes; /* then this many 'x' bytes, and the connection is closed */
};

#define MAX_SEEN 8

struct srv {
	int lfd, port;
	pthread_t th;
	const struct reply *script; /* by request number; the last one repeats */
	unsigned nscript;
	atomic_int accepts, requests, active;
	atomic_bool stop;
	char seen[MAX_SEEN][4096]; /* the first requests, head and body */
};

/* Wait for fd to be readable, giving up when the test says stop. */
static bool wait_readable(struct srv *s, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (!atomic_load(&s->stop)) {
		if (poll(&p, 1, 10) > 0)
			return true;
	}
	return false;
}

/* Read one request into buf; false when the peer closed or the server stops. */
static bool read_request(struct srv *s, int fd, char *buf, size_t size)
{
	size_t len = 0, want = 0;
	char *eoh;
	ssize_t n;

	for (;;) {
		if (!wait_readable(s, fd))
			return false;
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		eoh = strstr(buf, "\r\n\r\n");
		if (eoh) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");

			want = (size_t)(eoh + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
			if (len >= want || len == size - 1)
				return true;
		}
		if (len == size - 1)
			return true;
	}
}

static void send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void serve_conn(struct srv *s, int fd)
{
	char buf[4096];
	const struct reply *r;
	unsigned i;

	while (read_request(s, fd, buf, sizeof(buf))) {
		i = (unsigned)atomic_fetch_add(&s->requests, 1);
		if (i < MAX_SEEN)
			memcpy(s->seen[i], buf, sizeof(buf));
		r = &s->script[i < s->nscript ? i : s->nscript - 1];
		if (r->action == CLOSE)
			return;
		if (r->action == HANG) {
			/* Until the client gives up (closes) or the test ends. */
			while (wait_readable(s, fd) && recv(fd, buf, sizeof(buf), 0) > 0)
				;
			return;
		}
		send_all(fd, r->raw, strlen(r->raw));
		if (r->then_bytes) {
			char x[4096];
			size_t left = r->then_bytes;

			memset(x, 'x', sizeof(x));
			while (left) {
				size_t k = left < sizeof(x) ? left : sizeof(x);

				send_all(fd, x, k);
				left -= k;
			}
			return;
		}
	}
}

struct conn_arg {
	struct srv *s;
	int fd;
};

static void *conn_main(void *p)
{
	struct conn_arg *a = p;

	serve_conn(a->s, a->fd);
	close(a->fd);
	atomic_fetch_sub(&a->s->active, 1);
	free(a);
	return NULL;
}

/* One thread per connection, so that kept-alive connections do not block others. */
static void *srv_main(void *p)
{
	struct srv *s = p;
	struct conn_arg *a;
	pthread_t th;
	int fd;

	while (wait_readable(s, s->lfd)) {
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		atomic_fetch_add(&s->accepts, 1);
		a = malloc(sizeof(*a));
		if (!a) {
			close(fd);
			continue;
		}
		a->s = s;
		a->fd = fd;
		atomic_fetch_add(&s->active, 1);
		if (pthread_create(&th, NULL, conn_main, a)) {
			atomic_fetch_sub(&s->active, 1);
			close(fd);
			free(a);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

static int listen_any(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static struct srv *srv_start(const struct reply *script, unsigned n)
{
	struct srv *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->script = script;
	s->nscript = n;
	s->lfd = listen_any(&s->port);
	if (s->lfd < 0 || pthread_create(&s->th, NULL, srv_main, s)) {
		free(s);
		return NULL;
	}
	return s;
}

static void srv_stop(struct srv *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	/* Connection threads notice stop within one 10 ms poll. */
	while (atomic_load(&s->active))
		sched_yield();
	close(s->lfd);
	free(s);
}

/* ---- client helpers ---- */

static int fake_error_message(const char *body, size_t len, char *out, size_t outsz)
{
	const char *m = strstr(body, "\"message\":\"");
	size_t n = 0;

	out[0] = '\0';
	if (!m)
		return -ENOENT;
	for (m += 11; *m && *m != '"' && n + 1 < outsz; m++)
		out[n++] = *m;
	out[n] = '\0';
	return 0;
}

static struct rtk_api *client(struct srv *s, struct rtk_budget *budget, size_t max_body)
{
	struct rtk_api_config cfg = {
	    .token = TOKEN,
	    .max_body = max_body,
	    .budget = budget,
	    .error_message = fake_error_message,
	};
	char url[64], err[256];
	struct rtk_api *api;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/client/v4/", s ? s->port : 9);
	cfg.base_url = url;
	api = rtk_api_new(&cfg, err, sizeof(err));
	if (!api)
		fprintf(stderr, "rtk_api_new: %s\n", err);
	return api;
}

static struct rtk_api_req get(const char *path, uint64_t timeout_ms)
{
	struct rtk_api_req r = {
	    .method = "GET",
	    .path = path,
	    .deadline_ns = rtk_clock_mono_ns() + timeout_ms * MS,
	};

	return r;
}

static const char ok_body[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
			      "Ratelimit: \"default\";r=5;t=30\r\n\r\n{\"ok\":true}";
static const char err503[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 30\r\n\r\n"
			     "{\"error\":{\"message\":\"boom\"}}  ";

/* ---- pure functions ---- */

static void test_base_url(void)
{
	static const char *const good[] = {
	    "https://api.cloudflare.com/client/v4",
	    "https://api.cloudflare.com/client/v4/",
	    "http://127.0.0.1:8080",
	    "http://127.9.9.9/x",
	    "http://localhost:1234/api",
	    "http://[::1]:8080/",
	};
	static const char *const bad[] = {
	    "",
	    "api.cloudflare.com/client/v4",
	    "ftp://127.0.0.1/",
	    "http://example.com/client/v4",
	    "http://127.0.0.1.evil.com/",
	    "http://10.0.0.1/",
	    "https://user:pw@api.cloudflare.com/",
	    "https://api.cloudflare.com/client/v4?x=1",
	    "https://api.cloudflare.com/client/v4#frag",
	    "not a url at all",
	};
	char err[256];
	unsigned i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_EQ_INT(rtk_api_check_base_url(good[i], err, sizeof(err)), 0);
		CHECK_EQ_STR(err, "");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(rtk_api_check_base_url(bad[i], err, sizeof(err)), -EINVAL);
		CHECK(err[0] != '\0');
	}
	CHECK_EQ_INT(rtk_api_check_base_url(NULL, err, sizeof(err)), -EINVAL);
	rtk_api_check_base_url("http://example.com", err, sizeof(err));
	CHECK_EQ_STR(err, "base URL is plain http to a host that is not loopback; use https");
	/* The password is never repeated. */
	rtk_api_check_base_url("https://user:hunter2@example.com/", err, sizeof(err));
	CHECK(!strstr(err, "hunter2"));
}

static void test_new_and_base(void)
{
	struct rtk_api_config cfg = {
	    .base_url = "https://api.example.com/client/v4//", .token = TOKEN, .max_body = 1000};
	struct rtk_api *api;
	char err[256];

	api = rtk_api_new(&cfg, err, sizeof(err));
	CHECK(api);
	if (api)
		CHECK_EQ_STR(rtk_api_base_url(api), "https://api.example.com/client/v4");
	rtk_api_free(api);
	rtk_api_free(NULL);

	cfg.token = "";
	CHECK(!rtk_api_new(&cfg, err, sizeof(err)));
	CHECK(err[0]);
	cfg.token = TOKEN "\r\nX-Evil: 1";
	CHECK(!rtk_api_new(&cfg, err, sizeof(err)));
	CHECK(!strstr(err, TOKEN));
	cfg.token = TOKEN;
	cfg.base_url = "http://example.com/";
	CHECK(!rtk_api_new(&cfg, err, sizeof(err)));
	CHECK(strstr(err, "use https"));
}

static void test_endpoints(void)
{
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/user/tokens/verify"), RTK_EP_VERIFY);
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/accounts/abc/tokens/verify"), RTK_EP_VERIFY);
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/accounts"), RTK_EP_ACCOUNTS);
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/accounts/"), RTK_EP_ACCOUNTS);
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/accounts/a/realtime/kit/apps"), RTK_EP_APPS);
	CHECK_EQ_INT(rtk_api_endpoint_of("POST", "/accounts/a/realtime/kit/apps"), RTK_EP_APPS);
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/accounts/a/realtime/kit/x/webhooks"),
		     RTK_EP_WEBHOOKS);
	CHECK_EQ_INT(rtk_api_endpoint_of("POST", "/accounts/a/realtime/kit/x/webhooks"),
		     RTK_EP_WEBHOOKS);
	CHECK_EQ_INT(rtk_api_endpoint_of("PATCH", "/accounts/a/realtime/kit/x/webhooks/w"),
		     RTK_EP_WEBHOOK);
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/accounts/a"), RTK_EP_OTHER);
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/zones"), RTK_EP_OTHER);
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/accounts/a/realtime/kit/x/webhooks/w/z"),
		     RTK_EP_OTHER);
	CHECK_EQ_INT(rtk_api_endpoint_of("GET", "/"), RTK_EP_OTHER);
	CHECK_EQ_STR(rtk_api_endpoint_name(RTK_EP_APPS), "apps");
	CHECK_EQ_STR(rtk_api_endpoint_name(RTK_EP__N), "other");
}

/* ---- calls against the scripted server ---- */

static void test_get_sends_headers_and_reuses(void)
{
	static const struct reply script[] = {{SEND, ok_body, 0}};
	struct srv *s = srv_start(script, 1);
	struct rtk_clock real = {0};
	struct rtk_budget *b = rtk_budget_new(100, 300, real);
	struct rtk_api *api = client(s, b, 1 << 20);
	struct rtk_api_req req = get("/accounts", 2000);
	struct rtk_api_resp resp;
	struct rtk_budget_stats bst;
	struct rtk_api_stats st;

	REQUIRE(s && b && api);
	req.query = "page=1&per_page=50";
	rtk_api_resp_init(&resp, 1 << 20);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), 0);
	CHECK_EQ_INT(resp.status, 200);
	CHECK_EQ_INT(resp.attempts, 1);
	CHECK(resp.sent);
	CHECK_EQ_MEM(resp.body.data, resp.body.len, "{\"ok\":true}");
	CHECK(strstr(s->seen[0], "GET /client/v4/accounts?page=1&per_page=50 HTTP/1.1\r\n") ==
	      s->seen[0]);
	CHECK(strstr(s->seen[0], "\r\nAuthorization: Bearer " TOKEN "\r\n"));
	CHECK(strstr(s->seen[0], "\r\nAccept: application/json\r\n"));
	CHECK(strstr(s->seen[0], "\r\nUser-Agent: rtkfs/"));
	CHECK(!strstr(s->seen[0], "Content-Type"));
	/* The server said 5 left. */
	rtk_budget_get_stats(b, &bst);
	CHECK_EQ_INT(bst.left, 5);

	/* The second request rides the same connection. */
	req.deadline_ns = rtk_clock_mono_ns() + 2000 * MS;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), 0);
	CHECK_EQ_INT(atomic_load(&s->requests), 2);
	CHECK_EQ_INT(atomic_load(&s->accepts), 1);

	rtk_api_get_stats(api, &st);
	CHECK_EQ_INT(st.requests[RTK_EP_ACCOUNTS], 2);
	CHECK_EQ_INT(st.by_class[2], 2);
	CHECK_EQ_INT(st.last_status, 200);
	CHECK_EQ_INT(st.last_errno, 0);
	CHECK_EQ_INT(st.last_error_time, 0);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	rtk_budget_free(b);
	srv_stop(s);
}

static void test_post_body(void)
{
	static const struct reply script[] = {
	    {SEND, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", 0}};
	struct srv *s = srv_start(script, 1);
	struct rtk_api *api = client(s, NULL, 1000);
	struct rtk_api_req req = get("/accounts/a/realtime/kit/x/webhooks", 2000);
	struct rtk_api_resp resp;
	static const char body[] = "{\"name\":\"hook\"}";

	REQUIRE(s && api);
	req.method = "POST";
	req.body = body;
	req.body_len = strlen(body);
	rtk_api_resp_init(&resp, 1000);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), 0);
	CHECK_EQ_INT(resp.status, 201);
	CHECK(strstr(s->seen[0], "POST /client/v4/accounts/a/realtime/kit/x/webhooks HTTP/1.1"));
	CHECK(strstr(s->seen[0], "\r\nContent-Type: application/json\r\n"));
	CHECK(strstr(s->seen[0], "\r\nContent-Length: 15\r\n"));
	CHECK(!strstr(s->seen[0], "Expect:"));
	CHECK(strstr(s->seen[0], "\r\n\r\n{\"name\":\"hook\"}"));

	/* PATCH and DELETE. */
	req.method = "PATCH";
	req.path = "/accounts/a/realtime/kit/x/webhooks/w";
	req.deadline_ns = rtk_clock_mono_ns() + 2000 * MS;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), 0);
	CHECK(strstr(s->seen[1], "PATCH /client/v4/accounts/a/realtime/kit/x/webhooks/w HTTP"));
	req.method = "DELETE";
	req.body = NULL;
	req.body_len = 0;
	req.deadline_ns = rtk_clock_mono_ns() + 2000 * MS;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), 0);
	CHECK(strstr(s->seen[2], "DELETE /client/v4/accounts/a/realtime/kit/x/webhooks/w HTTP"));
	CHECK(!strstr(s->seen[2], "Content-Type"));
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);
}

static void test_bad_requests(void)
{
	struct rtk_api *api = client(NULL, NULL, 1000);
	struct rtk_api_req req = get("accounts", 1000);
	struct rtk_api_resp resp;

	rtk_api_resp_init(&resp, 1000);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EINVAL);
	req.path = "/accounts x";
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EINVAL);
	req.path = "/accounts?x=1";
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EINVAL);
	req.path = "/accounts";
	req.method = "BREW";
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EINVAL);
	req.method = "GET";
	req.body = "{}";
	req.body_len = 2;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EINVAL);
	CHECK_EQ_INT(resp.attempts, 0);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
}

static void test_body_cap(void)
{
	static const struct reply script[] = {
	    /* Announced too big: refused before reading. */
	    {SEND, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", 100000},
	    /* Not announced: cut while reading. */
	    {SEND, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 100000},
	};
	struct srv *s = srv_start(script, 2);
	struct rtk_api *api = client(s, NULL, 1000);
	struct rtk_api_req req = get("/accounts", 2000);
	struct rtk_api_resp resp;

	REQUIRE(s && api);
	rtk_api_resp_init(&resp, 1 << 20);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EPROTO);
	CHECK_EQ_INT(resp.attempts, 1);
	CHECK(resp.body.len <= 1000);
	req.deadline_ns = rtk_clock_mono_ns() + 2000 * MS;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EPROTO);
	CHECK_EQ_INT(resp.attempts, 1);
	CHECK(resp.body.len <= 1000);
	CHECK_EQ_INT(atomic_load(&s->requests), 2);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);
}

static void test_deadline(void)
{
	static const struct reply script[] = {{HANG, NULL, 0}};
	struct srv *s = srv_start(script, 1);
	struct rtk_api *api = client(s, NULL, 1000);
	struct rtk_api_req req = get("/accounts", 300);
	struct rtk_api_resp resp;
	uint64_t t0 = rtk_clock_mono_ns(), dt;

	REQUIRE(s && api);
	rtk_api_resp_init(&resp, 1000);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -ETIMEDOUT);
	dt = rtk_clock_mono_ns() - t0;
	CHECK(dt >= 250 * MS);
	CHECK(dt < 450 * MS);
	CHECK_EQ_INT(resp.status, 0);
	CHECK(resp.sent);
	/* A deadline already past sends nothing. */
	req.deadline_ns = rtk_clock_mono_ns() - 1;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -ETIMEDOUT);
	CHECK_EQ_INT(resp.attempts, 0);
	CHECK(!resp.sent);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);
}

static void test_redirect_not_followed(void)
{
	static const struct reply script[] = {
	    {SEND,
	     "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/steal\r\n"
	     "Content-Length: 0\r\n\r\n",
	     0}};
	struct srv *s = srv_start(script, 1);
	struct rtk_api *api = client(s, NULL, 1000);
	struct rtk_api_req req = get("/accounts", 2000);
	struct rtk_api_resp resp;
	struct rtk_api_stats st;

	REQUIRE(s && api);
	rtk_api_resp_init(&resp, 1000);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EPROTO);
	CHECK_EQ_INT(resp.status, 302);
	CHECK_EQ_INT(resp.attempts, 1);
	CHECK_EQ_INT(atomic_load(&s->requests), 1);
	rtk_api_get_stats(api, &st);
	CHECK(strstr(st.last_error, "does not follow redirects"));
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);
}

static void test_get_retried_post_not(void)
{
	static const struct reply script[] = {{SEND, err503, 0}, {SEND, ok_body, 0}};
	struct srv *s = srv_start(script, 2);
	struct rtk_api *api = client(s, NULL, 1000);
	struct rtk_api_req req = get("/accounts/a/realtime/kit/apps", 3000);
	struct rtk_api_resp resp;
	struct rtk_api_stats st;

	REQUIRE(s && api);
	rtk_api_resp_init(&resp, 1000);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), 0);
	CHECK_EQ_INT(resp.attempts, 2);
	CHECK_EQ_INT(resp.status, 200);
	CHECK_EQ_INT(atomic_load(&s->requests), 2);
	rtk_api_get_stats(api, &st);
	CHECK_EQ_INT(st.requests[RTK_EP_APPS], 2);
	CHECK_EQ_INT(st.retries, 1);
	CHECK_EQ_INT(st.by_class[5], 1);
	CHECK_EQ_INT(st.by_class[2], 1);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);

	/* The same answers to a POST: one request, its error stands. */
	s = srv_start(script, 2);
	api = client(s, NULL, 1000);
	REQUIRE(s && api);
	req = get("/accounts/a/realtime/kit/apps", 3000);
	req.method = "POST";
	req.body = "{}";
	req.body_len = 2;
	rtk_api_resp_init(&resp, 1000);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EIO);
	CHECK_EQ_INT(resp.attempts, 1);
	CHECK(resp.sent);
	CHECK_EQ_INT(resp.status, 503);
	CHECK_EQ_INT(atomic_load(&s->requests), 1);
	rtk_api_get_stats(api, &st);
	CHECK_EQ_INT(st.retries, 0);
	CHECK_EQ_STR(st.last_error, "POST /accounts/a/realtime/kit/apps: HTTP 503: boom");
	CHECK(st.last_error_time > 0);
	CHECK_EQ_INT(st.last_errno, -EIO);
	CHECK(!strstr(st.last_error, TOKEN));
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);
}

/* A server that echoes the token in its error message: last_error (shown in the control
 * files) must not carry it, whole or cut. */
static void test_token_echo_redacted(void)
{
	static const struct reply whole[] = {
	    {SEND,
	     "HTTP/1.1 400 Bad Request\r\nContent-Length: 66\r\n\r\n"
	     "{\"error\":{\"message\":\"bad " TOKEN " and " TOKEN "!\"}}",
	     0}};
	struct rtk_api_resp resp;
	struct rtk_api_stats st;
	struct rtk_api_req req;
	struct rtk_api *api;
	struct srv *s;
	static char cut_raw[2048];
	static struct reply cut[1];
	char body[1200];
	int n;

	s = srv_start(whole, 1);
	api = client(s, NULL, 4096);
	REQUIRE(s && api);
	req = get("/accounts/a/realtime/kit/apps", 3000);
	rtk_api_resp_init(&resp, 4096);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EINVAL);
	rtk_api_get_stats(api, &st);
	CHECK(!strstr(st.last_error, TOKEN));
	CHECK(strstr(st.last_error, "bad <redacted> and <redacted>!"));
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);

	/* A message so long that the kept part ends inside the token: no prefix of it stays. */
	memset(body, 0, sizeof(body));
	n = snprintf(body, sizeof(body), "{\"error\":{\"message\":\"%01020d%s\"}}", 0, TOKEN);
	snprintf(cut_raw, sizeof(cut_raw),
		 "HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s", n, body);
	cut[0] = (struct reply){SEND, cut_raw, 0};
	s = srv_start(cut, 1);
	api = client(s, NULL, 4096);
	REQUIRE(s && api);
	req = get("/accounts/a/realtime/kit/apps", 3000);
	rtk_api_resp_init(&resp, 4096);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EINVAL);
	rtk_api_get_stats(api, &st);
	CHECK(!strstr(st.last_error, "sekrit"));
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);
}

static void test_get_gives_up(void)
{
	static const struct reply script[] = {{SEND, err503, 0}};
	struct srv *s = srv_start(script, 1);
	struct rtk_api *api = client(s, NULL, 1000);
	struct rtk_api_req req = get("/accounts", 5000);
	struct rtk_api_resp resp;

	REQUIRE(s && api);
	rtk_api_resp_init(&resp, 1000);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EIO);
	CHECK_EQ_INT(resp.attempts, 4);
	CHECK_EQ_INT(atomic_load(&s->requests), 4);
	CHECK(strstr(resp.body.data, "boom"));
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);
}

static void test_429_pauses(void)
{
	static const struct reply script[] = {
	    {SEND,
	     "HTTP/1.1 429 Too Many Requests\r\nretry-after: 30\r\n"
	     "Ratelimit: \"default\";r=0;t=30\r\nContent-Length: 0\r\n\r\n",
	     0},
	    {SEND, ok_body, 0}};
	struct srv *s = srv_start(script, 2);
	struct rtk_clock real = {0};
	struct rtk_budget *b = rtk_budget_new(100, 300, real);
	struct rtk_api *api = client(s, b, 1000);
	struct rtk_api_req req = get("/accounts", 1000);
	struct rtk_api_resp resp;
	struct rtk_api_stats st;
	uint64_t t0 = rtk_clock_mono_ns();

	REQUIRE(s && b && api);
	rtk_api_resp_init(&resp, 1000);
	/* retry-after ends past the deadline: no retry, EAGAIN at once. */
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EAGAIN);
	CHECK(rtk_clock_mono_ns() - t0 < 500 * MS);
	CHECK_EQ_INT(resp.attempts, 1);
	CHECK(rtk_budget_is_paused(b));
	rtk_api_get_stats(api, &st);
	CHECK_EQ_INT(st.status_429, 1);
	/* While paused, nothing goes out. */
	req.deadline_ns = rtk_clock_mono_ns() + 200 * MS;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EAGAIN);
	CHECK_EQ_INT(resp.attempts, 0);
	CHECK_EQ_INT(atomic_load(&s->requests), 1);
	/* The api reports the pause and the budget, and resume ends the pause at once. */
	CHECK(rtk_api_is_paused(api));
	rtk_api_get_stats(api, &st);
	CHECK(st.has_budget);
	CHECK_EQ_INT(st.budget.pauses, 1);
	CHECK(st.budget.paused_until_ns != 0);
	rtk_api_resume(api);
	CHECK(!rtk_api_is_paused(api));
	rtk_api_get_stats(api, &st);
	CHECK_EQ_INT(st.budget.paused_until_ns, 0);
	req.deadline_ns = rtk_clock_mono_ns() + 2000 * MS;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), 0);
	CHECK_EQ_INT(atomic_load(&s->requests), 2);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	rtk_budget_free(b);
	srv_stop(s);
}

/* no_wait: a 429 whose retry-after fits in the deadline is still not waited out, and a
 * paused budget refuses at once, while a caller without a fallback waits and retries. */
static void test_429_no_wait(void)
{
	static const struct reply script[] = {
	    {SEND,
	     "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\nContent-Length: 0\r\n\r\n",
	     0},
	    {SEND, ok_body, 0}};
	struct srv *s = srv_start(script, 2);
	struct rtk_clock real = {0};
	struct rtk_budget *b = rtk_budget_new(100, 300, real);
	struct rtk_api *api = client(s, b, 1000);
	struct rtk_api_req req = get("/accounts", 5000);
	struct rtk_api_resp resp;
	uint64_t t0 = rtk_clock_mono_ns();

	REQUIRE(s && b && api);
	rtk_api_resp_init(&resp, 1000);
	req.no_wait = true;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EAGAIN);
	CHECK(rtk_clock_mono_ns() - t0 < 500 * MS);
	CHECK_EQ_INT(resp.attempts, 1);
	CHECK(rtk_budget_is_paused(b));
	/* Paused: refused at once, nothing sent. */
	t0 = rtk_clock_mono_ns();
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EAGAIN);
	CHECK(rtk_clock_mono_ns() - t0 < 100 * MS);
	CHECK_EQ_INT(resp.attempts, 0);
	CHECK_EQ_INT(atomic_load(&s->requests), 1);
	/* Without no_wait the same call waits for the pause, then is answered. */
	req.no_wait = false;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), 0);
	CHECK(rtk_clock_mono_ns() - t0 >= 500 * MS);
	CHECK_EQ_INT(atomic_load(&s->requests), 2);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	rtk_budget_free(b);
	srv_stop(s);
}

static bool after_100ms(void *ctx)
{
	return rtk_clock_mono_ns() >= *(uint64_t *)ctx + 100 * MS;
}

static bool always(void *ctx)
{
	return true;
}

static void test_interrupted(void)
{
	static const struct reply script[] = {{HANG, NULL, 0}};
	struct srv *s = srv_start(script, 1);
	struct rtk_api *api = client(s, NULL, 1000);
	struct rtk_api_req req = get("/accounts", 5000);
	struct rtk_api_resp resp;
	uint64_t t0 = rtk_clock_mono_ns();

	REQUIRE(s && api);
	req.interrupted = after_100ms;
	req.interrupted_ctx = &t0;
	rtk_api_resp_init(&resp, 1000);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EINTR);
	CHECK(rtk_clock_mono_ns() - t0 < 400 * MS);
	CHECK_EQ_INT(resp.attempts, 1);
	/* Interrupted before anything went out. */
	req.interrupted = always;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EINTR);
	CHECK_EQ_INT(resp.attempts, 0);
	CHECK_EQ_INT(atomic_load(&s->requests), 1);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	srv_stop(s);
}

static void test_refused_and_reset(void)
{
	static const struct reply script[] = {{CLOSE, NULL, 0}};
	struct srv *s = srv_start(script, 1);
	struct rtk_api *api = client(s, NULL, 1000);
	struct rtk_api_req req = get("/accounts", 3000);
	struct rtk_api_resp resp;
	struct rtk_api_config cfg = {.token = TOKEN, .max_body = 1000};
	char url[64], err[128];
	int port, fd;

	REQUIRE(s && api);
	rtk_api_resp_init(&resp, 1000);
	/* Closed without an answer, every time: retried, then EIO. */
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EIO);
	CHECK_EQ_INT(resp.attempts, 4);
	CHECK_EQ_INT(atomic_load(&s->requests), 4);
	rtk_api_free(api);
	srv_stop(s);

	/* Nobody listening: a POST (not retried) says ECONNREFUSED and was not sent. */
	fd = listen_any(&port);
	CHECK(fd >= 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	cfg.base_url = url;
	api = rtk_api_new(&cfg, err, sizeof(err));
	REQUIRE(api);
	req = get("/accounts", 2000);
	req.method = "POST";
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -ECONNREFUSED);
	CHECK(!resp.sent);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
}

static void test_budget_refuses(void)
{
	static const struct reply script[] = {{SEND, ok_body, 0}};
	struct srv *s = srv_start(script, 1);
	struct rtk_clock real = {0};
	struct rtk_budget *b = rtk_budget_new(1, 300, real);
	struct rtk_api *api = client(s, b, 1000);
	struct rtk_api_req req = get("/accounts", 2000);
	struct rtk_api_resp resp;

	REQUIRE(s && b && api);
	rtk_api_resp_init(&resp, 1000);
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), 0);
	req.deadline_ns = rtk_clock_mono_ns() + 200 * MS;
	CHECK_EQ_INT(rtk_api_call(api, &req, &resp), -EAGAIN);
	CHECK_EQ_INT(resp.attempts, 0);
	CHECK_EQ_INT(atomic_load(&s->requests), 1);
	rtk_api_resp_release(&resp);
	rtk_api_free(api);
	rtk_budget_free(b);
	srv_stop(s);
}

struct par {
	struct rtk_api *api;
	int ok;
};

static void *par_thread(void *p)
{
	struct par *pa = p;
	struct rtk_api_resp resp;
	int i;

	rtk_api_resp_init(&resp, 1000);
	for (i = 0; i < 5; i++) {
		struct rtk_api_req req = get("/accounts", 3000);

		if (rtk_api_call(pa->api, &req, &resp) == 0)
			pa->ok++;
	}
	rtk_api_resp_release(&resp);
	return NULL;
}

/* Threads at once (under the sanitizers this is the race check). */
static void test_threads(void)
{
	static const struct reply script[] = {{SEND, ok_body, 0}};
	struct srv *s = srv_start(script, 1);
	struct rtk_api *api = client(s, NULL, 1000);
	struct par pa[4];
	pthread_t th[4];
	int i, ok = 0;

	REQUIRE(s && api);
	for (i = 0; i < 4; i++) {
		pa[i].api = api;
		pa[i].ok = 0;
		pthread_create(&th[i], NULL, par_thread, &pa[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok += pa[i].ok;
	}
	/* The server takes one connection at a time: some may wait, none may fail. */
	CHECK_EQ_INT(ok, 20);
	rtk_api_free(api);
	srv_stop(s);
}

int main(void)
{
	rtk_log_init(RTK_LOG_DEBUG, false);
	rtk_log_set_secret(TOKEN);
	RUN(test_base_url);
	RUN(test_new_and_base);
	RUN(test_endpoints);
	RUN(test_get_sends_headers_and_reuses);
	RUN(test_post_body);
	RUN(test_bad_requests);
	RUN(test_body_cap);
	RUN(test_deadline);
	RUN(test_redirect_not_followed);
	RUN(test_get_retried_post_not);
	RUN(test_token_echo_redacted);
	RUN(test_get_gives_up);
	RUN(test_429_pauses);
	RUN(test_429_no_wait);
	RUN(test_interrupted);
	RUN(test_refused_and_reset);
	RUN(test_budget_refuses);
	RUN(test_threads);
	return check_summary();
}
