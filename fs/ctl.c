// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtkfs/api.h"
#include "rtkfs/shared.h"
#include "rtkfs/buf.h"
#include "rtkfs/cache.h"
#include "rtkfs/clock.h"
#include "rtkfs/ctl.h"
#include "rtkfs/health.h"
#include "rtkfs/json.h"
#include "rtkfs/kind.h"
#include "rtkfs/log.h"
#include "rtkfs/metrics.h"

#define RENDER_MAX (1u << 20)
#define LINE_MAX_ 320

struct record {
	char line[LINE_MAX_];
	int64_t time; /* wall clock seconds, 0: never */
};

struct rtk_ctl {
	struct rtk_ctl_config cfg;
	pthread_mutex_t lock;
	struct {
		char *p;
		size_t n;
	} snap[RTK_CTL__N];
	char last_created[RTK_ID_MAX + 1];
	struct record write_error, error;
	uint64_t writes[RTK_METRICS_WRITE__N];
};

struct rtk_ctl *rtk_ctl_new(const struct rtk_ctl_config *cfg)
{
	struct rtk_ctl *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL)) {
		free(c);
		return NULL;
	}
	c->cfg = *cfg;
	return c;
}

void rtk_ctl_free(struct rtk_ctl *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < RTK_CTL__N; i++)
		free(c->snap[i].p);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- records ---- */

static void record(struct rtk_ctl *c, struct record *r, const char *line)
{
	pthread_mutex_lock(&c->lock);
	snprintf(r->line, sizeof(r->line), "%s", line);
	r->time = (int64_t)time(NULL);
	pthread_mutex_unlock(&c->lock);
}

static enum rtk_metrics_write write_result(int err, bool sent)
{
	if (!err)
		return RTK_METRICS_WRITE_OK;
	if (!sent && (err == -EINVAL || err == -EFBIG))
		return RTK_METRICS_WRITE_INVALID;
	if (err == -EACCES || err == -EPERM || err == -EROFS || (!sent && err == -EAGAIN))
		return RTK_METRICS_WRITE_REFUSED;
	return RTK_METRICS_WRITE_FAILED;
}

void rtk_ctl_record_write(struct rtk_ctl *c, int err, bool sent, const char *line)
{
	pthread_mutex_lock(&c->lock);
	c->writes[write_result(err, sent)]++;
	pthread_mutex_unlock(&c->lock);
	if (err)
		record(c, &c->write_error, line ? line : strerror(-err));
}

void rtk_ctl_record_error(struct rtk_ctl *c, const char *line)
{
	record(c, &c->error, line);
}

void rtk_ctl_record_created(struct rtk_ctl *c, const char *id)
{
	pthread_mutex_lock(&c->lock);
	snprintf(c->last_created, sizeof(c->last_created), "%s", id);
	pthread_mutex_unlock(&c->lock);
}

/* ---- rendering ---- */

/* Everything the control files show, copied at one moment. */
struct snapshot {
	struct rtk_budget_stats bs;
	struct rtk_cache_stats cs;
	struct rtk_api_stats as;
	uint64_t total, lookups, paused_for;
	bool degraded;
	char created[RTK_ID_MAX + 1];
	struct record werr, err; /* err: the latest of the api's and our own */
	char werr_when[32], err_when[32];
	uint64_t writes[RTK_METRICS_WRITE__N];
	bool has_shared;
	struct rtk_shared_stats sh;
	char sh_since[32], sh_err_when[32];
	struct rtk_ctl_kernel k;
};

static const char *const kop_names[RTK_KOP__N] = {
	"lookup", "getattr", "readdirplus", "read", "open", "flush", "release", "write", "forget",
};

const char *rtk_ctl_kop_name(enum rtk_ctl_kop op)
{
	return op < RTK_KOP__N ? kop_names[op] : "?";
}

static void format_time(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) || !strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, outsz, "never");
}

static void take_snapshot(struct rtk_ctl *c, struct snapshot *s)
{
	uint64_t now_ns = rtk_clock_mono_ns();
	size_t i;

	memset(s, 0, sizeof(*s));
	rtk_cache_get_stats(c->cfg.cache, &s->cs);
	rtk_api_get_stats(c->cfg.api, &s->as);
	s->degraded = rtk_health_is_degraded(c->cfg.health);
	if (s->as.has_budget) {
		s->bs = s->as.budget;
		if (s->bs.paused_until_ns > now_ns)
			s->paused_for = (s->bs.paused_until_ns - now_ns + RTK_NS_PER_SEC - 1) /
					RTK_NS_PER_SEC;
	}
	for (i = 0; i < RTK_EP__N; i++)
		s->total += s->as.requests[i];
	s->lookups = s->cs.hits + s->cs.misses;
	pthread_mutex_lock(&c->lock);
	memcpy(s->created, c->last_created, sizeof(s->created));
	s->werr = c->write_error;
	s->err = c->error;
	memcpy(s->writes, c->writes, sizeof(s->writes));
	pthread_mutex_unlock(&c->lock);
	if (s->as.last_error[0] && s->as.last_error_time >= s->err.time) {
		snprintf(s->err.line, sizeof(s->err.line), "%s", s->as.last_error);
		s->err.time = s->as.last_error_time;
	}
	format_time(s->werr.time, s->werr_when, sizeof(s->werr_when));
	format_time(s->err.time, s->err_when, sizeof(s->err_when));
	if (c->cfg.kernel_stats)
		c->cfg.kernel_stats(c->cfg.kernel_ctx, &s->k);
	if (c->cfg.shared) {
		s->has_shared = true;
		rtk_shared_get_stats(c->cfg.shared, &s->sh);
		format_time(s->sh.down_since, s->sh_since, sizeof(s->sh_since));
		format_time(s->sh.last_error_time, s->sh_err_when, sizeof(s->sh_err_when));
	}
}

/* Append to b unless an earlier append failed; *err keeps the first error. */
static void put(struct rtk_buf *b, int *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void put(struct rtk_buf *b, int *err, const char *fmt, ...)
{
	va_list ap;

	if (*err)
		return;
	va_start(ap, fmt);
	*err = rtk_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

static void put_str(struct rtk_buf *b, int *err, const char *s)
{
	if (!*err)
		*err = rtk_json_put_string(b, s, strlen(s));
}

/* {"message": ..., "time": ...} or null. */
static void put_record(struct rtk_buf *b, int *err, const struct record *r, const char *when)
{
	if (!r->line[0]) {
		put(b, err, "null");
		return;
	}
	put(b, err, "{\"message\": ");
	put_str(b, err, r->line);
	put(b, err, ", \"time\": \"%s\"}", when);
}

/* ,"shared": {...} (DESIGN §6a), or nothing without -o shared. */
static void put_shared_json(struct rtk_buf *b, int *err, const struct snapshot *s)
{
	const struct rtk_shared_stats *h = &s->sh;

	if (!s->has_shared)
		return;
	put(b, err, ",\n  \"shared\": {\"url\": ");
	put_str(b, err, h->url);
	put(b, err,
	    ", \"connected\": %s, \"down_since\": \"%s\", \"hits\": %" PRIu64
	    ", \"misses\": %" PRIu64 ", \"stores\": %" PRIu64 ", \"waits\": %" PRIu64
	    ", \"takeovers\": %" PRIu64 ", \"bad_values\": %" PRIu64 ", \"invalidations\": %" PRIu64
	    ", \"errors\": %" PRIu64 ", \"last_error\": ",
	    h->connected ? "true" : "false", h->connected ? "never" : s->sh_since, h->hits,
	    h->misses, h->stores, h->waits, h->takeovers, h->bad_values, h->invalidations,
	    h->errors);
	if (h->last_error[0])
		put_str(b, err, h->last_error);
	else
		put(b, err, "null");
	put(b, err, "}");
}

/* ,"kernel": {...}, "push": {...} */
static void put_kernel_json(struct rtk_buf *b, int *err, const struct rtk_ctl_kernel *k)
{
	size_t i;

	put(b, err, ",\n  \"kernel\": {");
	for (i = 0; i < RTK_KOP__N; i++)
		put(b, err, "%s\"%s\": %" PRIu64, i ? ", " : "", kop_names[i], k->ops[i]);
	put(b, err,
	    "},\n  \"push\": {\"queued\": %" PRIu64 ", \"sent\": %" PRIu64 ", \"stale\": %" PRIu64
	    ", \"full\": %" PRIu64 ", \"missed\": %" PRIu64 ", \"retried\": %" PRIu64
	    ", \"cancelled\": %" PRIu64 ", \"raced\": %" PRIu64 ", \"helped\": %" PRIu64
	    ", \"pending_bytes\": %zu}",
	    k->queued, k->sent, k->stale, k->full, k->missed, k->retried, k->cancelled, k->raced,
	    k->helped, k->pending_bytes);
	put(b, err,
	    ",\n  \"settle\": {\"writes\": %" PRIu64 ", \"late\": %" PRIu64
	    ", \"blocked\": %" PRIu64 "}",
	    k->settled, k->settle_late, k->settle_blocked);
	put(b, err, ",\n  \"loop\": {\"handoffs\": %" PRIu64 ", \"watchdog\": %" PRIu64 "}",
	    k->handoffs, k->watchdog);
}

static int render_json(struct rtk_ctl *c, const struct snapshot *s, struct rtk_buf *b)
{
	int err = 0;
	size_t i;

	put(b, &err, "{\n  \"base_url\": ");
	put_str(b, &err, rtk_api_base_url(c->cfg.api));
	put(b, &err, ",\n  \"requests\": {");
	for (i = 0; i < RTK_EP__N; i++)
		put(b, &err, "%s\"%s\": %" PRIu64, i ? ", " : "",
		    rtk_api_endpoint_name((enum rtk_api_endpoint)i), s->as.requests[i]);
	put(b, &err,
	    "},\n  \"requests_total\": %" PRIu64 ",\n"
	    "  \"responses\": {\"none\": %" PRIu64 ", \"2xx\": %" PRIu64 ", \"3xx\": %" PRIu64
	    ", \"4xx\": %" PRIu64 ", \"5xx\": %" PRIu64 "},\n"
	    "  \"status_429\": %" PRIu64 ",\n  \"retries\": %" PRIu64 ",\n",
	    s->total, s->as.by_class[0], s->as.by_class[2], s->as.by_class[3], s->as.by_class[4],
	    s->as.by_class[5], s->as.status_429, s->as.retries);
	put(b, &err,
	    "  \"cache\": {\"hits\": %" PRIu64 ", \"misses\": %" PRIu64 ", \"stale_serves\": %" PRIu64
	    ", \"fetch_errors\": %" PRIu64 ", \"evictions\": %" PRIu64
	    ", \"listings\": %zu, \"bytes\": %zu},\n",
	    s->cs.hits, s->cs.misses, s->cs.stale_serves, s->cs.fetch_errors, s->cs.evictions,
	    s->cs.entries, s->cs.bytes);
	put(b, &err,
	    "  \"rate_budget\": {\"limit\": %u, \"window_s\": %u, \"left\": %u, "
	    "\"paused_for_s\": %" PRIu64 ", \"waited\": %" PRIu64 ", \"refused\": %" PRIu64
	    "},\n  \"degraded\": %s,\n  \"last_error\": ",
	    s->bs.limit, s->bs.window_s, s->bs.left, s->paused_for, s->bs.waited, s->bs.refused,
	    s->degraded ? "true" : "false");
	put_record(b, &err, &s->err, s->err_when);
	put(b, &err, ",\n  \"last_created\": ");
	if (s->created[0])
		put_str(b, &err, s->created);
	else
		put(b, &err, "null");
	put(b, &err, ",\n  \"last_write_error\": ");
	put_record(b, &err, &s->werr, s->werr_when);
	put_kernel_json(b, &err, &s->k);
	put_shared_json(b, &err, s);
	put(b, &err, "\n}\n");
	return err;
}

static const char *state_of(const struct snapshot *s)
{
	if (s->degraded)
		return "degraded: the API cannot be reached, answering from the cache";
	return s->paused_for ? "paused by a 429 from the API" : "ok";
}

/* "shared: URL (connected | unreachable since T, retrying)" and its counters. */
static void put_shared_status(struct rtk_buf *b, int *err, const struct snapshot *s)
{
	const struct rtk_shared_stats *h = &s->sh;

	if (!s->has_shared)
		return;
	if (h->connected)
		put(b, err, "shared:       %s (connected)\n", h->url);
	else if (!h->down_since)
		put(b, err, "shared:       %s (not used yet)\n", h->url);
	else
		put(b, err, "shared:       %s (unreachable since %s, retrying in %u s)\n", h->url,
		    s->sh_since, h->retry_in_s);
	put(b, err,
	    "shared use:   %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " stores, %" PRIu64
	    " waits, %" PRIu64 " takeovers, %" PRIu64 " bad values ignored, %" PRIu64
	    " invalidations, %" PRIu64 " errors\n",
	    h->hits, h->misses, h->stores, h->waits, h->takeovers, h->bad_values,
	    h->invalidations, h->errors);
	if (h->last_error[0])
		put(b, err, "shared error: %s at %s\n", h->last_error, s->sh_err_when);
}

static int render_status(struct rtk_ctl *c, const struct snapshot *s, struct rtk_buf *b)
{
	int err = 0;
	size_t i;

	put(b, &err, "base url:     %s\naccounts:     ", rtk_api_base_url(c->cfg.api));
	for (i = 0; i < c->cfg.naccounts; i++)
		put(b, &err, "%s%s", i ? ", " : "", c->cfg.accounts[i]);
	put(b, &err,
	    "%s\nstate:        %s\ncache:        %zu listings, %zu bytes, hit ratio %.2f, "
	    "%" PRIu64 " stale serves\nrequests:     %" PRIu64 " (",
	    c->cfg.naccounts ? "" : "every account GET /accounts lists", state_of(s),
	    s->cs.entries, s->cs.bytes,
	    s->lookups ? (double)s->cs.hits / (double)s->lookups : 0.0, s->cs.stale_serves,
	    s->total);
	for (i = 0; i < RTK_EP__N; i++)
		put(b, &err, "%s%s %" PRIu64, i ? ", " : "",
		    rtk_api_endpoint_name((enum rtk_api_endpoint)i), s->as.requests[i]);
	put(b, &err,
	    ")\nresponses:    2xx %" PRIu64 ", 4xx %" PRIu64 ", 5xx %" PRIu64 ", none %" PRIu64
	    ", 429 %" PRIu64 "\nrate budget:  %u of %u per %u s left%s\n",
	    s->as.by_class[2], s->as.by_class[4], s->as.by_class[5], s->as.by_class[0],
	    s->as.status_429, s->bs.left, s->bs.limit, s->bs.window_s,
	    s->paused_for ? " (paused)" : "");
	put(b, &err, "last error:   %s%s%s\n", s->err.line[0] ? s->err.line : "none",
	    s->err.line[0] ? " at " : "", s->err.line[0] ? s->err_when : "");
	put_shared_status(b, &err, s);
	put(b, &err, "last created: %s\nlast write error: %s%s%s\n",
	    s->created[0] ? s->created : "none", s->werr.line[0] ? s->werr.line : "none",
	    s->werr.line[0] ? " at " : "", s->werr.line[0] ? s->werr_when : "");
	return err;
}

static int render_metrics(const struct snapshot *s, struct rtk_buf *b)
{
	struct rtk_metrics_snapshot m;
	unsigned ep, cls;

	memset(&m, 0, sizeof(m));
	for (ep = 0; ep < RTK_EP__N; ep++)
		for (cls = 0; cls < 6; cls++)
			m.requests[ep][cls >= 2 ? cls - 1 : RTK_METRICS_CLASS_NONE] +=
			    s->as.by_endpoint_class[ep][cls];
	m.cache_hits = s->cs.hits;
	m.cache_misses = s->cs.misses;
	m.cache_stale_serves = s->cs.stale_serves;
	m.cache_listings = s->cs.entries;
	m.cache_bytes = s->cs.bytes;
	m.budget_left = s->bs.left;
	m.budget_limit = s->bs.limit;
	m.budget_window_s = s->bs.window_s;
	m.paused = s->paused_for > 0;
	m.degraded = s->degraded;
	memcpy(m.writes, s->writes, sizeof(m.writes));
	m.last_error_time = s->err.time > s->werr.time ? s->err.time : s->werr.time;
	m.latency = s->as.latency;
	return rtk_metrics_render(&m, b);
}

int rtk_ctl_render(struct rtk_ctl *c, enum rtk_ctl_file f, char **out, size_t *len)
{
	struct snapshot s;
	struct rtk_buf b;
	int err;

	*out = NULL;
	*len = 0;
	if (f == RTK_CTL_CTL)
		return 0;
	take_snapshot(c, &s);
	rtk_buf_init(&b, RENDER_MAX);
	if (f == RTK_CTL_STATS_JSON)
		err = render_json(c, &s, &b);
	else if (f == RTK_CTL_METRICS)
		err = render_metrics(&s, &b);
	else
		err = render_status(c, &s, &b);
	if (err) {
		rtk_buf_release(&b);
		return err;
	}
	*out = rtk_buf_detach(&b, len);
	return *out ? 0 : -ENOMEM;
}

/* ---- the files ---- */

int rtk_ctl_attr(struct rtk_ctl *c, const struct rtk_attr_ctx *ac, uint64_t ino,
		 enum rtk_ctl_file f, struct rtk_attr *out)
{
	char *bytes = NULL;
	size_t len = 0;
	int err;

	if (f != RTK_CTL_CTL) {
		err = rtk_ctl_render(c, f, &bytes, &len);
		if (err)
			return err;
		pthread_mutex_lock(&c->lock);
		free(c->snap[f].p);
		c->snap[f].p = bytes;
		c->snap[f].n = len;
		pthread_mutex_unlock(&c->lock);
	}
	rtk_attr_volatile_file(ac, ino, f == RTK_CTL_CTL ? 0200 : 0444, len, out);
	return 0;
}

int rtk_ctl_read(struct rtk_ctl *c, enum rtk_ctl_file f, uint64_t off, size_t size, char **out,
		 size_t *n)
{
	char *fresh = NULL;
	size_t fresh_len = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (f == RTK_CTL_CTL)
		return 0;
	pthread_mutex_lock(&c->lock);
	while (!c->snap[f].p && !err) {
		/* Rendering takes the lock itself: render without it, then store. */
		pthread_mutex_unlock(&c->lock);
		err = rtk_ctl_render(c, f, &fresh, &fresh_len);
		pthread_mutex_lock(&c->lock);
		if (!err && !c->snap[f].p) {
			c->snap[f].p = fresh;
			c->snap[f].n = fresh_len;
			fresh = NULL;
		}
	}
	if (!err && off < c->snap[f].n) {
		*n = c->snap[f].n - off < size ? c->snap[f].n - off : size;
		*out = malloc(*n);
		if (!*out)
			err = -ENOMEM;
		else
			memcpy(*out, c->snap[f].p + off, *n);
	}
	pthread_mutex_unlock(&c->lock);
	free(fresh);
	return err;
}

int rtk_ctl_command(struct rtk_ctl *c, const char *buf, size_t len)
{
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	if (len == 5 && memcmp(buf, "flush", 5) == 0) {
		rtk_cache_flush(c->cfg.cache);
		rtk_info("flushed every cached listing");
		return 0;
	}
	if (len == 6 && memcmp(buf, "resume", 6) == 0) {
		rtk_api_resume(c->cfg.api);
		rtk_info("resumed: the server's pause is over for rtkfs");
		return 0;
	}
	return -EINVAL;
}
