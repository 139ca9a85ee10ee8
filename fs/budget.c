// SPDX-License-Identifier: MIT
/*
 * budget: the client-side rate budget (DESIGN §4).
 *
 * Three limits, all computed on the injected clock:
 *  - our own sliding window: a ring of the send times of the last `limit` requests; a new
 *    request may go when the oldest of them has left the window;
 *  - the server's word: after it said "R left, reset in T s" at t0, at most R more requests
 *    go out before t0 + T;
 *  - a 429 pause: nothing goes out until it ends.
 *
 * Waiting: the time the budget needs is computed on the injected clock; the real wait is on
 * CLOCK_MONOTONIC (pthread_cond_timedwait), bounded by min(deadline, now + needed), and every
 * wakeup re-checks on the injected clock. A wait that would end after the caller's deadline
 * is refused at once with -EAGAIN rather than slept through uselessly. With an injected
 * clock the real wait is cut into short slices so that a test advancing its clock sees the
 * waiter react without any real sleeping of its own.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rtkfs/budget.h"
#include "rtkfs/clock.h"

/* Values read from headers are clamped to this (one day). */
#define MAX_HEADER_VALUE 86400L
/* Real-time slice of a wait when the clock is injected (tests). */
#define FAKE_CLOCK_SLICE_NS (5 * RTK_NS_PER_MS)

struct rtk_budget {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	struct rtk_clock clock;
	unsigned limit, window_s;
	uint64_t window_ns;
	uint64_t *ring; /* send times, oldest at head */
	unsigned head, count;
	/* What the server said last: server_left more requests until server_reset_ns. */
	bool server_known;
	long server_left;
	uint64_t server_reset_ns;
	uint64_t paused_until_ns; /* 0: no pause */
	uint64_t waited, refused, pauses;
	struct rtk_budget_remote remote; /* set before use, then read-only */
};

uint64_t rtk_clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RTK_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

struct rtk_budget *rtk_budget_new(unsigned limit, unsigned window_s, struct rtk_clock clock)
{
	struct rtk_budget *b;
	pthread_condattr_t ca;

	if (!limit || !window_s)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->ring = calloc(limit, sizeof(*b->ring));
	if (!b->ring)
		goto free_b;
	if (pthread_condattr_init(&ca))
		goto free_ring;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&b->cond, &ca))
		goto destroy_attr;
	if (pthread_mutex_init(&b->mu, NULL))
		goto destroy_cond;
	pthread_condattr_destroy(&ca);
	b->clock = clock;
	b->limit = limit;
	b->window_s = window_s;
	b->window_ns = (uint64_t)window_s * RTK_NS_PER_SEC;
	return b;

destroy_cond:
	pthread_cond_destroy(&b->cond);
destroy_attr:
	pthread_condattr_destroy(&ca);
free_ring:
	free(b->ring);
free_b:
	free(b);
	return NULL;
}

void rtk_budget_free(struct rtk_budget *b)
{
	if (!b)
		return;
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->mu);
	free(b->ring);
	free(b);
}

/* Forget what has left the window or expired. Called with the lock held. */
static void expire(struct rtk_budget *b, uint64_t now)
{
	while (b->count && b->ring[b->head] + b->window_ns <= now) {
		b->head = (b->head + 1) % b->limit;
		b->count--;
	}
	if (b->server_known && now >= b->server_reset_ns)
		b->server_known = false;
	if (b->paused_until_ns && now >= b->paused_until_ns)
		b->paused_until_ns = 0;
}

/* Nanoseconds (on the injected clock) until one unit is free; 0 when one is. Lock held. */
static uint64_t need_ns(struct rtk_budget *b, uint64_t now)
{
	uint64_t need = 0, t;

	expire(b, now);
	if (b->paused_until_ns > now)
		need = b->paused_until_ns - now;
	if (b->count >= b->limit) {
		t = b->ring[b->head] + b->window_ns - now;
		if (t > need)
			need = t;
	}
	if (b->server_known && b->server_left <= 0) {
		t = b->server_reset_ns - now;
		if (t > need)
			need = t;
	}
	return need;
}

static void take(struct rtk_budget *b, uint64_t now)
{
	b->ring[(b->head + b->count) % b->limit] = now;
	b->count++;
	if (b->server_known && b->server_left > 0)
		b->server_left--;
}

static struct timespec to_timespec(uint64_t ns)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(ns / RTK_NS_PER_SEC),
	    .tv_nsec = (long)(ns % RTK_NS_PER_SEC),
	};

	return ts;
}

/*
 * A unit of the remote window too (see rtk_budget_set_remote), waiting as for our own;
 * a remote that cannot answer lets the request go. Bounded by the deadline: each round
 * sleeps at least 1 ms and a wait past the deadline is refused.
 */
static int remote_acquire(struct rtk_budget *b, uint64_t deadline_ns, bool nowait)
{
	uint64_t wait, now;
	struct timespec ts;
	bool waited = false;

	while (b->remote.take && b->remote.take(b->remote.ctx, b->limit, b->window_s, &wait) == 0 &&
	       wait) {
		now = rtk_clock_mono_ns();
		if (nowait || now >= deadline_ns || wait > deadline_ns - now) {
			pthread_mutex_lock(&b->mu);
			b->refused++;
			pthread_mutex_unlock(&b->mu);
			return -EAGAIN;
		}
		if (!waited) {
			waited = true;
			pthread_mutex_lock(&b->mu);
			b->waited++;
			pthread_mutex_unlock(&b->mu);
		}
		ts = to_timespec(wait);
		nanosleep(&ts, NULL);
	}
	return 0;
}

void rtk_budget_set_remote(struct rtk_budget *b, const struct rtk_budget_remote *r)
{
	pthread_mutex_lock(&b->mu);
	if (r)
		b->remote = *r;
	else
		memset(&b->remote, 0, sizeof(b->remote));
	pthread_mutex_unlock(&b->mu);
}

int rtk_budget_acquire(struct rtk_budget *b, uint64_t deadline_ns, bool nowait)
{
	bool waited = false;
	uint64_t need, real_now, until;
	struct timespec ts;
	int err = 0;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		need = need_ns(b, rtk_clock_now(&b->clock));
		if (!need) {
			take(b, rtk_clock_now(&b->clock));
			break;
		}
		real_now = rtk_clock_mono_ns();
		/* Refuse at once what cannot be had before the deadline. */
		if (nowait || real_now >= deadline_ns || need > deadline_ns - real_now) {
			b->refused++;
			err = -EAGAIN;
			break;
		}
		if (!waited) {
			waited = true;
			b->waited++;
		}
		if (b->clock.now_ns && need > FAKE_CLOCK_SLICE_NS)
			need = FAKE_CLOCK_SLICE_NS;
		until = real_now + need;
		if (until > deadline_ns)
			until = deadline_ns;
		ts = to_timespec(until);
		/* ETIMEDOUT or a spurious wakeup: either way, look again. */
		pthread_cond_timedwait(&b->cond, &b->mu, &ts);
	}
	pthread_mutex_unlock(&b->mu);
	return err ? err : remote_acquire(b, deadline_ns, nowait);
}

void rtk_budget_observe(struct rtk_budget *b, long remaining, long reset_s)
{
	uint64_t now;

	if (remaining < 0)
		return; /* a reset time alone limits nothing */
	if (remaining > MAX_HEADER_VALUE)
		remaining = MAX_HEADER_VALUE;
	if (reset_s > MAX_HEADER_VALUE)
		reset_s = MAX_HEADER_VALUE;
	pthread_mutex_lock(&b->mu);
	now = rtk_clock_now(&b->clock);
	b->server_known = true;
	b->server_left = remaining;
	/* No reset given: assume the server's window is as long as ours. */
	b->server_reset_ns =
	    now + (reset_s >= 0 ? (uint64_t)reset_s * RTK_NS_PER_SEC : b->window_ns);
	/* The server may have given more room than we thought: let waiters look again. */
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->mu);
}

void rtk_budget_pause(struct rtk_budget *b, unsigned retry_after_s)
{
	uint64_t until;

	if (retry_after_s < 1)
		retry_after_s = 1;
	if (retry_after_s > MAX_HEADER_VALUE)
		retry_after_s = MAX_HEADER_VALUE;
	pthread_mutex_lock(&b->mu);
	until = rtk_clock_now(&b->clock) + (uint64_t)retry_after_s * RTK_NS_PER_SEC;
	if (until > b->paused_until_ns)
		b->paused_until_ns = until;
	b->pauses++;
	pthread_mutex_unlock(&b->mu);
	if (b->remote.pause)
		b->remote.pause(b->remote.ctx, retry_after_s);
}

bool rtk_budget_is_paused(struct rtk_budget *b)
{
	bool paused;

	pthread_mutex_lock(&b->mu);
	expire(b, rtk_clock_now(&b->clock));
	paused = b->paused_until_ns != 0;
	pthread_mutex_unlock(&b->mu);
	return paused;
}

void rtk_budget_get_stats(struct rtk_budget *b, struct rtk_budget_stats *st)
{
	unsigned left;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&b->mu);
	expire(b, rtk_clock_now(&b->clock));
	left = b->limit - b->count;
	if (b->server_known && b->server_left < (long)left)
		left = b->server_left > 0 ? (unsigned)b->server_left : 0;
	st->limit = b->limit;
	st->window_s = b->window_s;
	st->left = left;
	st->waited = b->waited;
	st->refused = b->refused;
	st->pauses = b->pauses;
	st->paused_until_ns = b->paused_until_ns;
	pthread_mutex_unlock(&b->mu);
}

/* ---- header parsing: everything below works on (pointer, end) ranges, never past end ---- */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * A non-negative decimal integer, saturating at LONG_MAX; *pp moves past it. Returns false
 * (and leaves *pp) when there is no digit.
 */
static bool parse_ulong(const char **pp, const char *end, long *out)
{
	const char *p = *pp;
	long v = 0;

	if (p >= end || !is_digit(*p))
		return false;
	for (; p < end && is_digit(*p); p++) {
		int d = *p - '0';

		v = v > (LONG_MAX - d) / 10 ? LONG_MAX : v * 10 + d;
	}
	*pp = p;
	*out = v;
	return true;
}

/* The whole range is one number (surrounding blanks allowed). */
static bool parse_number_only(const char *p, const char *end, long *out)
{
	long v;

	p = skip_ws(p, end);
	if (!parse_ulong(&p, end, &v))
		return false;
	/* A fraction ("1.5") is rounded up: waiting a little longer is the safe side. */
	if (p < end && *p == '.') {
		bool frac = false;

		for (p++; p < end && is_digit(*p); p++)
			frac |= *p != '0';
		if (frac && v < LONG_MAX)
			v++;
	}
	if (skip_ws(p, end) != end)
		return false;
	*out = v;
	return true;
}

static long clamp(long v)
{
	return v < 0 ? 0 : v > MAX_HEADER_VALUE ? MAX_HEADER_VALUE : v;
}

static bool word_is(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(p, w, n) == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
	long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

static int month_of(const char *p, const char *end)
{
	static const char *const names[] = {"jan", "feb", "mar", "apr", "may", "jun",
					    "jul", "aug", "sep", "oct", "nov", "dec"};
	unsigned i;

	if (end - p < 3)
		return -1;
	for (i = 0; i < 12; i++)
		if (strncasecmp(p, names[i], 3) == 0)
			return (int)i + 1;
	return -1;
}

/* "HH:MM:SS" into seconds of the day. */
static bool parse_hms(const char **pp, const char *end, long *sec)
{
	const char *p = *pp;
	long h, m, s;

	if (!parse_ulong(&p, end, &h) || p >= end || *p++ != ':' || !parse_ulong(&p, end, &m) ||
	    p >= end || *p++ != ':' || !parse_ulong(&p, end, &s))
		return false;
	if (h > 23 || m > 59 || s > 60)
		return false;
	*pp = p;
	*sec = h * 3600 + m * 60 + s;
	return true;
}

/*
 * An HTTP date (RFC 9110 §5.6.7) into Unix seconds: IMF-fixdate "Sun, 06 Nov 1994 08:49:37
 * GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994".
 */
static bool parse_http_date(const char *p, const char *end, long *out)
{
	long day, year, sec;
	int month;
	bool asctime_form;

	p = skip_ws(p, end);
	/* The day name. */
	while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		p++;
	asctime_form = p < end && *p == ' ';
	if (p < end && *p == ',')
		p++;
	p = skip_ws(p, end);
	if (asctime_form) {
		month = month_of(p, end);
		if (month < 0)
			return false;
		p = skip_ws(p + 3, end);
		if (!parse_ulong(&p, end, &day))
			return false;
		p = skip_ws(p, end);
		if (!parse_hms(&p, end, &sec))
			return false;
		p = skip_ws(p, end);
		if (!parse_ulong(&p, end, &year))
			return false;
	} else {
		if (!parse_ulong(&p, end, &day) || p >= end || (*p != ' ' && *p != '-'))
			return false;
		month = month_of(++p, end);
		if (month < 0)
			return false;
		p += 3;
		if (p >= end || (*p != ' ' && *p != '-'))
			return false;
		p++;
		{
			const char *y0 = p;

			if (!parse_ulong(&p, end, &year))
				return false;
			if (p - y0 == 2) /* RFC 850: two-digit years */
				year += year < 70 ? 2000 : 1900;
		}
		p = skip_ws(p, end);
		if (!parse_hms(&p, end, &sec))
			return false;
		p = skip_ws(p, end);
		/* Not HTTP, but seen in the wild: a numeric zone ("+0200", "-0000"). */
		if (end - p >= 5 && (*p == '+' || *p == '-') && is_digit(p[1]) && is_digit(p[2]) &&
		    is_digit(p[3]) && is_digit(p[4])) {
			long off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
				   ((p[3] - '0') * 10 + (p[4] - '0')) * 60;

			sec += *p == '+' ? -off : off;
		}
	}
	if (day < 1 || day > 31 || year < 1970 || year > 9999)
		return false;
	*out = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + sec;
	return true;
}

/* Seconds from now: a plain number of seconds, or an HTTP date. */
static bool parse_delay(const char *p, const char *end, long now_s, long *out)
{
	long v;

	if (parse_number_only(p, end, &v)) {
		/* A large number is a Unix time (some servers send x-ratelimit-reset that way). */
		if (v > 1000000000L && now_s > 0)
			v -= now_s;
		*out = clamp(v);
		return true;
	}
	if (parse_http_date(p, end, &v)) {
		*out = clamp(v - now_s);
		return true;
	}
	return false;
}

/* One "key=number" parameter at p (up to the next ';' or ','), into rem/reset. */
static void ratelimit_param(const char *p, const char *end, long *rem, long *reset)
{
	const char *key = p, *keyend;
	size_t n;
	long v;

	while (p < end && *p != '=' && *p != ';' && *p != ',')
		p++;
	keyend = p;
	while (keyend > key && (keyend[-1] == ' ' || keyend[-1] == '\t'))
		keyend--;
	if (p >= end || *p != '=')
		return;
	p = skip_ws(p + 1, end);
	if (!parse_ulong(&p, end, &v))
		return;
	n = (size_t)(keyend - key);
	v = clamp(v);
	if (word_is(key, n, "r") || word_is(key, n, "remaining")) {
		if (*rem < 0 || v < *rem)
			*rem = v;
	} else if (word_is(key, n, "t") || word_is(key, n, "reset")) {
		if (v > *reset)
			*reset = v;
	}
}

/*
 * `"default";r=50;t=30` (RFC draft-ietf-httpapi-ratelimit-headers-08 and later: items with
 * parameters, several policies separated by ',') or the older `limit=100, remaining=50,
 * reset=30`. Several values: the least remaining and the latest reset win.
 */
static void parse_ratelimit(const char *p, const char *end, long *remaining, long *reset_s)
{
	long rem = -1, reset = -1;

	while (p < end) {
		p = skip_ws(p, end);
		/* A quoted string is an item's name, not a parameter. */
		if (p < end && *p != '"')
			ratelimit_param(p, end, &rem, &reset);
		/* On to the next ';' or ',' outside quotes. */
		while (p < end && *p != ';' && *p != ',') {
			if (*p == '"') {
				for (p++; p < end && *p != '"'; p++)
					if (*p == '\\' && p + 1 < end)
						p++;
			}
			if (p < end)
				p++;
		}
		if (p < end)
			p++;
	}
	if (rem >= 0)
		*remaining = rem;
	if (reset >= 0)
		*reset_s = reset;
}

bool rtk_budget_parse_header(const char *line, size_t len, long now_s, long *remaining,
			     long *reset_s, long *retry_after_s)
{
	const char *end = line + len, *colon, *name_end, *v;
	size_t n;
	long val;

	if (!line)
		return false;
	colon = memchr(line, ':', len);
	if (!colon)
		return false;
	name_end = colon;
	while (name_end > line && (name_end[-1] == ' ' || name_end[-1] == '\t'))
		name_end--;
	n = (size_t)(name_end - line);
	v = skip_ws(colon + 1, end);
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;

	if (word_is(line, n, "ratelimit")) {
		parse_ratelimit(v, end, remaining, reset_s);
		return true;
	}
	if (word_is(line, n, "ratelimit-policy"))
		return true; /* the quota is our own option (-o rate=); nothing to take from it */
	if (word_is(line, n, "x-ratelimit-remaining")) {
		if (parse_number_only(v, end, &val))
			*remaining = clamp(val);
		return true;
	}
	if (word_is(line, n, "x-ratelimit-reset")) {
		if (parse_delay(v, end, now_s, &val))
			*reset_s = val;
		return true;
	}
	if (word_is(line, n, "retry-after")) {
		if (parse_delay(v, end, now_s, &val))
			*retry_after_s = val;
		return true;
	}
	return false;
}
