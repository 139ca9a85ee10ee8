// SPDX-License-Identifier: MIT
/*
 * health: one mutex and one condition variable (on CLOCK_MONOTONIC, like every deadline of
 * rtkfs) shared by the probe thread and the callers that note outcomes or kick it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtkfs/api.h"
#include "rtkfs/clock.h"
#include "rtkfs/health.h"
#include "rtkfs/log.h"

#define PROBE_TIMEOUT_NS (5 * RTK_NS_PER_SEC)

struct rtk_health {
	struct rtk_api *api;
	char *probe_path, *probe_query;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC: degraded entered, kicked, or quitting */
	unsigned failures;   /* network failures in a row */
	int net_errno;       /* the last of them */
	bool degraded, kicked, quitting, running;
	uint64_t last_probe_ns; /* when the last probe was sent (0: never) */
	uint64_t probes_done;   /* probes answered or failed, for waiters */
	bool probing;           /* a probe is under way */
	uint64_t left_ns;       /* when degraded mode last ended (0: never) */
	uint64_t interval_ns;   /* the next wait between probes */
	uint64_t probes, entered;
	uint64_t rng;
	pthread_t thread;
};

struct rtk_health *rtk_health_new(const struct rtk_health_config *cfg)
{
	struct rtk_health *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->api = cfg->api;
	h->probe_path = strdup(cfg->probe_path ? cfg->probe_path : "/user/tokens/verify");
	h->probe_query = cfg->probe_query ? strdup(cfg->probe_query) : NULL;
	if (!h->probe_path || (cfg->probe_query && !h->probe_query))
		goto free_h;
	if (rtk_clock_cond_init(&h->cond))
		goto free_h;
	if (pthread_mutex_init(&h->lock, NULL)) {
		pthread_cond_destroy(&h->cond);
		goto free_h;
	}
	h->interval_ns = RTK_HEALTH_PROBE_MIN_NS;
	h->rng = rtk_clock_mono_ns() | 1;
	return h;

free_h:
	free(h->probe_path);
	free(h->probe_query);
	free(h);
	return NULL;
}

void rtk_health_note(struct rtk_health *h, int err, long status, unsigned attempts)
{
	bool entered = false, left = false;

	if (err == -EINTR || err == -EAGAIN)
		return; /* the caller gave up, or the budget said wait: nothing learnt */
	pthread_mutex_lock(&h->lock);
	if (status) {
		left = h->degraded;
		if (left)
			h->left_ns = rtk_clock_mono_ns();
		h->degraded = false;
		h->failures = 0;
		h->interval_ns = RTK_HEALTH_PROBE_MIN_NS;
	} else if (err) {
		h->net_errno = err;
		h->failures += attempts ? attempts : 1;
		if (h->failures >= RTK_HEALTH_DEGRADED_AFTER && !h->degraded) {
			h->degraded = entered = true;
			/* What was just seen is as good as a probe: the next one waits its turn. */
			h->last_probe_ns = rtk_clock_mono_ns();
			h->entered++;
			h->interval_ns = RTK_HEALTH_PROBE_MIN_NS;
			pthread_cond_broadcast(&h->cond);
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (entered)
		rtk_warn("cannot reach '%s' (%d failures in a row, last: %s): answering from "
			 "the cache until it answers again",
			 rtk_api_base_url(h->api), RTK_HEALTH_DEGRADED_AFTER, strerror(-err));
	if (left)
		rtk_info("'%s' answers again", rtk_api_base_url(h->api));
}

static void wait_until(struct rtk_health *h, uint64_t until);

/* Wait for the probe under way (or just asked for) to end, until until. Lock held. */
static void wait_probe(struct rtk_health *h, uint64_t until)
{
	uint64_t seen = h->probes_done;

	while (h->degraded && h->probes_done == seen && (h->probing || h->kicked) &&
	       !h->quitting && rtk_clock_mono_ns() < until)
		wait_until(h, until);
}

int rtk_health_blocked(struct rtk_health *h, uint64_t deadline_ns)
{
	uint64_t now, until;
	int err = 0;

	pthread_mutex_lock(&h->lock);
	if (h->degraded && h->running) {
		now = rtk_clock_mono_ns();
		/* Someone keeps trying: probe now unless one went out recently, and wait. */
		if (!h->probing && now >= h->last_probe_ns + RTK_HEALTH_KICK_NS) {
			h->kicked = true;
			pthread_cond_broadcast(&h->cond);
			until = now + RTK_HEALTH_KICK_WAIT_NS;
			wait_probe(h, until < deadline_ns ? until : deadline_ns);
		}
	}
	if (h->degraded)
		err = h->net_errno ? h->net_errno : -EHOSTUNREACH;
	pthread_mutex_unlock(&h->lock);
	return err;
}

bool rtk_health_recovering(struct rtk_health *h)
{
	bool r;

	pthread_mutex_lock(&h->lock);
	r = h->degraded ||
	    (h->left_ns && rtk_clock_mono_ns() < h->left_ns + RTK_HEALTH_RECOVERY_NS);
	pthread_mutex_unlock(&h->lock);
	return r;
}

bool rtk_health_is_degraded(struct rtk_health *h)
{
	bool d;

	pthread_mutex_lock(&h->lock);
	d = h->degraded;
	pthread_mutex_unlock(&h->lock);
	return d;
}

void rtk_health_get_stats(struct rtk_health *h, struct rtk_health_stats *st)
{
	pthread_mutex_lock(&h->lock);
	st->degraded = h->degraded;
	st->failures = h->failures;
	st->probes = h->probes;
	st->entered = h->entered;
	pthread_mutex_unlock(&h->lock);
}

static bool quitting(void *ctx)
{
	struct rtk_health *h = ctx;
	bool q;

	pthread_mutex_lock(&h->lock);
	q = h->quitting;
	pthread_mutex_unlock(&h->lock);
	return q;
}

/* Send one probe (without the lock) and note what it said. */
static void probe_once(struct rtk_health *h)
{
	struct rtk_api_resp resp;
	struct rtk_api_req req = {
		.method = "GET",
		.path = h->probe_path,
		.query = h->probe_query,
		.deadline_ns = rtk_clock_mono_ns() + PROBE_TIMEOUT_NS,
		.interrupted = quitting,
		.interrupted_ctx = h,
		.quiet = true,
		.no_wait = true, /* a probe the budget cannot afford waits for the next interval */
		.once = true,
		.reserved = true,
	};
	int err;

	rtk_api_resp_init(&resp, 1 << 16);
	err = rtk_api_call(h->api, &req, &resp);
	rtk_health_note(h, err, resp.status, resp.attempts);
	rtk_api_resp_release(&resp);
}

/* The wait before the next probe: the interval plus up to 25% jitter (at most 30 s); the
 * interval doubles. */
static uint64_t next_wait(struct rtk_health *h)
{
	uint64_t base = h->interval_ns, jitter;

	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	jitter = h->rng % (base / 4 + 1);
	h->interval_ns = base * 2 > RTK_HEALTH_PROBE_MAX_NS ? RTK_HEALTH_PROBE_MAX_NS : base * 2;
	return base + jitter < RTK_HEALTH_PROBE_MAX_NS ? base + jitter : RTK_HEALTH_PROBE_MAX_NS;
}

static void wait_until(struct rtk_health *h, uint64_t until)
{
	struct timespec ts = rtk_clock_ts(until);

	pthread_cond_timedwait(&h->cond, &h->lock, &ts);
}

static void *probe_main(void *arg)
{
	struct rtk_health *h = arg;
	uint64_t until = 0, now;

	pthread_mutex_lock(&h->lock);
	while (!h->quitting) {
		if (!h->degraded) {
			until = 0;
			pthread_cond_wait(&h->cond, &h->lock);
			continue;
		}
		now = rtk_clock_mono_ns();
		if (!until)
			until = now + next_wait(h);
		if (now < until && !h->kicked) {
			wait_until(h, until);
			continue;
		}
		h->kicked = false;
		h->probing = true;
		h->last_probe_ns = now;
		h->probes++;
		until = now + next_wait(h);
		pthread_mutex_unlock(&h->lock);
		probe_once(h);
		pthread_mutex_lock(&h->lock);
		h->probing = false;
		h->probes_done++;
		pthread_cond_broadcast(&h->cond); /* accesses waiting for its answer */
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int rtk_health_start(struct rtk_health *h)
{
	int err = pthread_create(&h->thread, NULL, probe_main, h);

	if (err)
		return -err;
	h->running = true;
	return 0;
}

void rtk_health_free(struct rtk_health *h)
{
	if (!h)
		return;
	if (h->running) {
		pthread_mutex_lock(&h->lock);
		h->quitting = true;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->probe_path);
	free(h->probe_query);
	free(h);
}
