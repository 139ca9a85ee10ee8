// SPDX-License-Identifier: MIT
/*
 * session: the FUSE session loop, with a reader that looks before it sleeps (issue 12).
 *
 * Worker threads take turns at reading /dev/fuse (made non-blocking). The reader answers the
 * request it read itself and reads again; for spin_ns after a request it keeps looking
 * (non-blocking reads) before it sleeps in poll(). The other workers park on a condition
 * variable, never in the kernel's queue, so a request that finds the reader looking wakes
 * nobody: the caller pays one wake-up (by the reply) instead of two. Where waking a thread on
 * another CPU is dear (this machine's VM: ~10 us), a LOOKUP costs a fifth less.
 *
 * While it looks, the reader also helps (cfg->help): it sends the notifier's pushes of files
 * just looked up, between requests, so that queueing one wakes no thread either (a futex wake
 * of the notifier cost a LOOKUP ~10 us). It says when it is not there to (set_helper: asleep
 * in poll(), or handing over), and the notifier's thread takes over.
 *
 * The reader hands the reading over to a parked worker (or a new one, up to max_threads)
 * when it is about to wait (rtk_loop_waiting: the network, another thread's fetch, the
 * budget, the notifier) or, found by the watchdog, when it has been on one request for
 * HANDOFF_NS: a request never waits behind a slow one for longer than that, and a wait
 * nobody announced costs latency, never a hang.
 *
 * Signals (fuse_set_signal_handlers: SIGINT, SIGTERM, SIGHUP) reach only the thread that
 * called rtk_session_loop (the others block them); it wakes the rest through an eventfd.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "rtkfs/clock.h"
#include "rtkfs/loop.h"
#include "rtkfs/session.h"
#include "rtkfs/workq.h"

/*
 * The reader on one request this long: the watchdog hands the reading over. It looks every
 * HANDOFF_NS while a request came in the last ACTIVE_NS, else sleeps until one comes; so a
 * request waits behind one that waits unannounced for 2 x HANDOFF_NS at most.
 */
#define HANDOFF_NS 2000000ull
#define ACTIVE_NS 1000000000ull

struct session;

struct worker {
	struct session *s;
	pthread_t tid;
	struct fuse_buf buf;
};

struct session {
	struct fuse_session *se;
	int fd, efd;
	uint64_t spin_ns;
	unsigned max_threads;
	bool (*busy)(void *ctx);
	int (*help)(void *ctx);
	void (*set_helper)(void *ctx, bool present);
	void *ctx;
	bool helping; /* the reader is there to help (set_helper(true) was the last said) */
	bool announce; /* workers hand the reading over before they wait (else: the watchdog) */
	pthread_mutex_t lock;
	pthread_cond_t park; /* workers without the reading */
	pthread_cond_t dog;  /* the watchdog (CLOCK_MONOTONIC) */
	pthread_t dog_tid;
	struct worker *reader; /* reads now; NULL: the next worker free takes it */
	struct worker **workers;
	unsigned nworkers, nparked;
	_Atomic uint64_t busy_since; /* when the reader took its request; 0: it is reading */
	_Atomic uint64_t last_ns;    /* when a request last came */
	atomic_bool dog_asleep;	     /* the watchdog waits without a time limit */
	bool exiting;
	int error;
};

static void *work(void *arg);

/* Start one more worker (lock held); false at max_threads, when exiting, or on failure. */
static bool spawn_locked(struct session *s)
{
	sigset_t all, old;
	struct worker *w;
	bool ok;

	if (s->exiting || s->nworkers >= s->max_threads || !(w = calloc(1, sizeof(*w))))
		return false;
	w->s = s;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* the new thread starts with all blocked */
	ok = pthread_create(&w->tid, NULL, work, w) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ok) {
		free(w);
		return false;
	}
	s->workers[s->nworkers++] = w;
	return true;
}

/* Say whether a reader is there to help (lock held). */
static void set_helper_locked(struct session *s, bool present)
{
	if (s->set_helper && s->helping != present) {
		s->helping = present;
		s->set_helper(s->ctx, present);
	}
}

/* The reader gives the reading up (lock held): a parked worker, or a new one, takes it. */
static void hand_off_locked(struct session *s, bool by_watchdog)
{
	rtk_loop_count_handoff(by_watchdog);
	set_helper_locked(s, false);
	s->reader = NULL;
	atomic_store(&s->busy_since, 0);
	if (s->nparked)
		pthread_cond_signal(&s->park);
	else
		spawn_locked(s); /* none to spawn: the first worker done with its request reads */
}

/* rtk_loop_waiting on a worker: a reader about to wait hands the reading over. */
static void waiting(void *arg)
{
	struct worker *w = arg;
	struct session *s = w->s;

	pthread_mutex_lock(&s->lock);
	if (s->reader == w)
		hand_off_locked(s, false);
	pthread_mutex_unlock(&s->lock);
}

/* The end (lock held): wake every thread. */
static void exit_locked(struct session *s)
{
	uint64_t one = 1;

	s->exiting = true;
	set_helper_locked(s, false);
	pthread_cond_broadcast(&s->park);
	pthread_cond_signal(&s->dog);
	if (write(s->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: it is readable already */
	}
}

/*
 * A request came: if the watchdog sleeps, it looks again. Whether the request was read after
 * a poll() or at once (queued while every worker waited): either way it may be one that
 * waits unannounced. The watchdog sets dog_asleep before it looks at last_ns a last time,
 * so either it sees this last_ns or this sees dog_asleep (all seq_cst).
 */
static void wake_dog(struct session *s, uint64_t now)
{
	atomic_store(&s->last_ns, now);
	if (!atomic_load(&s->dog_asleep))
		return;
	pthread_mutex_lock(&s->lock);
	pthread_cond_signal(&s->dog);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Help once (s->help) between requests: 1 did some work, 0 none, -EAGAIN some soon. The
 * watchdog hands the reading over if it takes HANDOFF_NS (it may wait in the kernel for a
 * request to be answered); then *lost.
 */
static int help(struct session *s, bool *lost)
{
	uint64_t mine = rtk_clock_mono_ns();
	int res;

	atomic_store(&s->busy_since, mine);
	wake_dog(s, mine); /* the watchdog is awake while this may wait */
	res = s->help(s->ctx);
	/* The watchdog's hand_off_locked set it to 0 (and a new reader, maybe, to its own). */
	*lost = !atomic_compare_exchange_strong(&s->busy_since, &mine, 0);
	return res;
}

/* Before the reader sleeps in poll() / after: it is not there to help meanwhile. */
static void sleeping(struct session *s, struct worker *w, bool asleep)
{
	if (!s->set_helper)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->reader == w)
		set_helper_locked(s, !asleep);
	pthread_mutex_unlock(&s->lock);
}

/*
 * The next request into w->buf: its size, 0 at the end, or -errno. Looks (helping), then
 * sleeps. *lost: the watchdog took the reading away while this helped (returns -EAGAIN).
 */
static int receive(struct session *s, struct worker *w, bool *lost)
{
	struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = s->efd, .events = POLLIN}};
	uint64_t until = rtk_clock_mono_ns() + s->spin_ns;
	int res;

	for (;;) {
		res = fuse_session_receive_buf(s->se, &w->buf);
		if (res > 0)
			return res;
		if (res == 0 || fuse_session_exited(s->se))
			return 0; /* unmounted (libfuse ended the session), or told to end */
		if (res != -EAGAIN && res != -EINTR && res != -ENOENT)
			return res;
		if (rtk_clock_mono_ns() < until) {
			if (s->help && help(s, lost) > 0) {
				if (*lost)
					return -EAGAIN;
				continue; /* look again at once */
			}
			if (*lost)
				return -EAGAIN;
			if (!(s->busy && s->busy(s->ctx))) {
				sched_yield(); /* the notifier, a fetch: let them have this CPU */
				continue;      /* look again */
			}
		}
		sleeping(s, w, true);
		res = poll(p, 2, -1) < 0 && errno != EINTR ? -errno : 0;
		sleeping(s, w, false);
		if (res)
			return res;
		if (p[1].revents)
			return 0;
		until = rtk_clock_mono_ns() + s->spin_ns;
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct session *s = w->s;
	bool lost;
	int res;

	if (s->announce)
		rtk_loop_set_waiting(waiting, w);
	pthread_mutex_lock(&s->lock);
	while (!s->exiting) {
		if (s->reader && s->reader != w) {
			s->nparked++;
			pthread_cond_wait(&s->park, &s->lock);
			s->nparked--;
			continue;
		}
		s->reader = w;
		set_helper_locked(s, true);
		pthread_mutex_unlock(&s->lock);
		lost = false;
		res = receive(s, w, &lost);
		if (lost) {
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (res <= 0) {
			pthread_mutex_lock(&s->lock);
			if (res < 0 && !s->error)
				s->error = res;
			exit_locked(s);
			break;
		}
		wake_dog(s, rtk_clock_mono_ns());
		rtk_loop_count_request();
		atomic_store(&s->busy_since, atomic_load(&s->last_ns));
		fuse_session_process_buf(s->se, &w->buf);
		pthread_mutex_lock(&s->lock);
		if (s->reader == w)
			atomic_store(&s->busy_since, 0);
	}
	pthread_mutex_unlock(&s->lock);
	rtk_loop_set_waiting(NULL, NULL);
	return NULL;
}

/* No request came for ACTIVE_NS. The clock is read after last_ns (a later one: no wrap). */
static bool idle(struct session *s)
{
	uint64_t last = atomic_load(&s->last_ns);

	return rtk_clock_mono_ns() - last > ACTIVE_NS;
}

/* Hand the reading over when the reader has been on one request for HANDOFF_NS. */
static void *watch(void *arg)
{
	struct session *s = arg;
	struct timespec ts;
	uint64_t now, busy;

	pthread_mutex_lock(&s->lock);
	while (!s->exiting) {
		busy = atomic_load(&s->busy_since);
		now = rtk_clock_mono_ns(); /* after busy_since: no wrap */
		if (s->reader && busy && now - busy >= HANDOFF_NS)
			hand_off_locked(s, true);
		if (idle(s)) {
			atomic_store(&s->dog_asleep, true);
			if (idle(s)) /* look once more, asleep: see wake_dog */
				pthread_cond_wait(&s->dog, &s->lock);
			atomic_store(&s->dog_asleep, false);
			continue;
		}
		ts = rtk_clock_ts(now + HANDOFF_NS);
		pthread_cond_timedwait(&s->dog, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int rtk_session_drain(struct fuse_session *se, int timeout_ms)
{
	struct pollfd p = {.fd = fuse_session_fd(se), .events = POLLIN};
	struct fuse_buf buf = {0};
	int res;

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
		return -1;
	/* A signal ended the loop: libfuse drops what it reads while the session is "exited". */
	fuse_session_reset(se);
	res = fuse_session_receive_buf(se, &buf);
	if (res > 0)
		fuse_session_process_buf(se, &buf);
	free(buf.mem);
	return res > 0 ? 1 : res == -EAGAIN || res == -EINTR ? 0 : -1;
}

/* While joining a worker: it may be a reader that was sending a push (help) and waits for a
 * page of a READ it would have read itself. */
static void drain_one(void *se)
{
	rtk_session_drain(se, RTK_WORKQ_JOIN_STEP_MS);
}

int rtk_session_loop(struct fuse_session *se, const struct rtk_session_config *cfg)
{
	struct session s = {
	    .se = se,
	    .fd = fuse_session_fd(se),
	    .spin_ns = cfg->spin_ns,
	    .busy = cfg->busy,
	    .help = cfg->help,
	    .set_helper = cfg->set_helper,
	    .ctx = cfg->ctx,
	    .max_threads = cfg->max_threads ? cfg->max_threads : 1,
	    .lock = PTHREAD_MUTEX_INITIALIZER,
	    .park = PTHREAD_COND_INITIALIZER,
	};
	struct pollfd p = {.fd = -1, .events = POLLIN};
	sigset_t ends, old;
	int flags, err;
	bool dog = false;
	unsigned i;

	/* RTKFS_TEST_UNANNOUNCED_WAITS=1 (tests, as git's GIT_TEST_*): no worker says it will
	 * wait, so the watchdog alone keeps the mount answering. */
	s.announce = !getenv("RTKFS_TEST_UNANNOUNCED_WAITS");
	atomic_init(&s.busy_since, 0);
	atomic_init(&s.last_ns, rtk_clock_mono_ns());
	atomic_init(&s.dog_asleep, false);
	if (rtk_clock_cond_init(&s.dog))
		return -ENOMEM;
	s.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s.workers = calloc(s.max_threads, sizeof(*s.workers));
	flags = fcntl(s.fd, F_GETFL);
	err = s.efd < 0 || !s.workers ? -ENOMEM : 0;
	if (!err && (flags < 0 || fcntl(s.fd, F_SETFL, flags | O_NONBLOCK) < 0))
		err = -errno;
	sigemptyset(&ends);
	sigaddset(&ends, SIGINT);
	sigaddset(&ends, SIGTERM);
	sigaddset(&ends, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &ends, &old); /* unblocked only inside ppoll below */
	pthread_mutex_lock(&s.lock);
	if (!err) {
		sigset_t all, mine;

		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &mine);
		dog = pthread_create(&s.dog_tid, NULL, watch, &s) == 0;
		pthread_sigmask(SIG_SETMASK, &mine, NULL);
		if (!dog || !spawn_locked(&s))
			err = -EAGAIN;
	}
	pthread_mutex_unlock(&s.lock);
	/* Wait for the end: a signal (fuse_session_exit from libfuse's handler) or a worker. */
	p.fd = s.efd;
	while (!err && !fuse_session_exited(se)) {
		if (ppoll(&p, 1, NULL, &old) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (p.revents)
			break;
	}
	pthread_mutex_lock(&s.lock);
	if (s.efd >= 0)
		exit_locked(&s);
	else
		s.exiting = true;
	if (!err)
		err = s.error;
	pthread_mutex_unlock(&s.lock);
	if (dog)
		pthread_join(s.dog_tid, NULL);
	/* No worker is spawned once exiting is set: the count is final. */
	for (i = 0; i < s.nworkers; i++) {
		rtk_workq_join(s.workers[i]->tid, drain_one, se);
		free(s.workers[i]->buf.mem);
		free(s.workers[i]);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (flags >= 0)
		fcntl(s.fd, F_SETFL, flags);
	free(s.workers);
	if (s.efd >= 0)
		close(s.efd);
	pthread_cond_destroy(&s.dog);
	pthread_cond_destroy(&s.park);
	pthread_mutex_destroy(&s.lock);
	fuse_session_reset(se);
	return err;
}
