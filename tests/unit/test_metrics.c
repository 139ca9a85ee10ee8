// SPDX-License-Identifier: MIT
/* metrics: the exposition of a snapshot line by line, the histogram, caps, and promtool. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "rtkfs/metrics.h"

#define PROMTOOL "/usr/bin/promtool"

/* Does text hold line as a whole line? */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

static void fill(struct rtk_metrics_snapshot *s)
{
	struct rtk_hist h;

	memset(s, 0, sizeof(*s));
	s->requests[RTK_EP_WEBHOOKS][RTK_METRICS_CLASS_2XX] = 12;
	s->requests[RTK_EP_WEBHOOKS][RTK_METRICS_CLASS_5XX] = 3;
	s->requests[RTK_EP_VERIFY][RTK_METRICS_CLASS_NONE] = 1;
	s->cache_hits = 40;
	s->cache_misses = 5;
	s->cache_stale_serves = 2;
	s->cache_listings = 4;
	s->cache_bytes = 8192;
	s->budget_left = 1180;
	s->budget_limit = 1200;
	s->budget_window_s = 300;
	s->paused = false;
	s->degraded = true;
	s->writes[RTK_METRICS_WRITE_OK] = 6;
	s->writes[RTK_METRICS_WRITE_INVALID] = 2;
	s->writes[RTK_METRICS_WRITE_FAILED] = 1;
	s->last_error_time = 1767225600;
	rtk_hist_init(&h);
	rtk_hist_observe(&h, 3000000);	   /* 3 ms */
	rtk_hist_observe(&h, 40000000);	   /* 40 ms */
	rtk_hist_observe(&h, 1200000000);  /* 1.2 s */
	rtk_hist_observe(&h, 30000000000); /* 30 s: only +Inf */
	rtk_hist_read(&h, &s->latency);
}

static char *render(const struct rtk_metrics_snapshot *s)
{
	struct rtk_buf b;

	rtk_buf_init(&b, 1 << 20);
	CHECK_EQ_INT(rtk_metrics_render(s, &b), 0);
	return rtk_buf_detach(&b, NULL);
}

static void test_lines(void)
{
	struct rtk_metrics_snapshot s;
	char *t;

	fill(&s);
	t = render(&s);
	CHECK(has_line(t, "# TYPE rtkfs_api_requests_total counter"));
	CHECK(
	    has_line(t, "rtkfs_api_requests_total{endpoint=\"webhooks\",status_class=\"2xx\"} 12"));
	CHECK(
	    has_line(t, "rtkfs_api_requests_total{endpoint=\"webhooks\",status_class=\"5xx\"} 3"));
	CHECK(has_line(t, "rtkfs_api_requests_total{endpoint=\"verify\",status_class=\"none\"} 1"));
	CHECK(has_line(t, "rtkfs_api_requests_total{endpoint=\"other\",status_class=\"3xx\"} 0"));
	CHECK(has_line(t, "rtkfs_cache_hits_total 40"));
	CHECK(has_line(t, "rtkfs_cache_misses_total 5"));
	CHECK(has_line(t, "rtkfs_cache_stale_serves_total 2"));
	CHECK(has_line(t, "# TYPE rtkfs_cache_listings gauge"));
	CHECK(has_line(t, "rtkfs_cache_listings 4"));
	CHECK(has_line(t, "rtkfs_cache_bytes 8192"));
	CHECK(has_line(t, "rtkfs_rate_budget_remaining_requests 1180"));
	CHECK(has_line(t, "rtkfs_rate_budget_limit_requests 1200"));
	CHECK(has_line(t, "rtkfs_rate_budget_window_seconds 300"));
	CHECK(has_line(t, "rtkfs_api_paused 0"));
	CHECK(has_line(t, "rtkfs_degraded 1"));
	CHECK(has_line(t, "# TYPE rtkfs_writes_total counter"));
	CHECK(has_line(t, "rtkfs_writes_total{result=\"ok\"} 6"));
	CHECK(has_line(t, "rtkfs_writes_total{result=\"invalid\"} 2"));
	CHECK(has_line(t, "rtkfs_writes_total{result=\"refused\"} 0"));
	CHECK(has_line(t, "rtkfs_writes_total{result=\"failed\"} 1"));
	CHECK(has_line(t, "rtkfs_last_error_timestamp_seconds 1767225600"));
	CHECK(has_line(t, "# TYPE rtkfs_api_request_duration_seconds histogram"));
	CHECK(has_line(t, "rtkfs_api_request_duration_seconds_bucket{le=\"0.005\"} 1"));
	CHECK(has_line(t, "rtkfs_api_request_duration_seconds_bucket{le=\"0.025\"} 1"));
	CHECK(has_line(t, "rtkfs_api_request_duration_seconds_bucket{le=\"0.05\"} 2"));
	CHECK(has_line(t, "rtkfs_api_request_duration_seconds_bucket{le=\"1\"} 2"));
	CHECK(has_line(t, "rtkfs_api_request_duration_seconds_bucket{le=\"2.5\"} 3"));
	CHECK(has_line(t, "rtkfs_api_request_duration_seconds_bucket{le=\"10\"} 3"));
	CHECK(has_line(t, "rtkfs_api_request_duration_seconds_bucket{le=\"+Inf\"} 4"));
	CHECK(has_line(t, "rtkfs_api_request_duration_seconds_sum 31.243000000"));
	CHECK(has_line(t, "rtkfs_api_request_duration_seconds_count 4"));
	free(t);
}

/* The name of a sample line: up to '{' or ' '. */
static size_t name_len(const char *line)
{
	return strcspn(line, "{ \n");
}

/* Every sample belongs to the family whose HELP and TYPE lines come right before it. */
static void test_every_sample_has_help_and_type(void)
{
	struct rtk_metrics_snapshot s;
	char fam[128] = "", *t, *save = NULL;
	int families = 0, samples = 0, help = 0;

	fill(&s);
	t = render(&s);
	CHECK(t[strlen(t) - 1] == '\n');
	for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "# HELP ", 7) == 0) {
			help = 1;
			continue;
		}
		if (strncmp(l, "# TYPE ", 7) == 0) {
			size_t n = name_len(l + 7);

			CHECK(help);
			CHECK(n < sizeof(fam));
			snprintf(fam, sizeof(fam), "%.*s", (int)n, l + 7);
			CHECK(strncmp(fam, "rtkfs_", 6) == 0);
			if (strstr(l, " counter"))
				CHECK(n > 6 && strcmp(fam + n - 6, "_total") == 0);
			families++;
			help = 0;
			continue;
		}
		CHECK(l[0] != '#');
		CHECK(fam[0] && strncmp(l, fam, strlen(fam)) == 0);
		samples++;
	}
	CHECK_EQ_INT(families, 14);
	CHECK_EQ_INT(samples, RTK_EP__N * RTK_METRICS_CLASS__N + 14 + 11 + 4);
	free(t);
}

static void test_histogram_bounds(void)
{
	struct rtk_hist h;
	struct rtk_hist_snap r;

	memset(&h, 0xff, sizeof(h));
	rtk_hist_init(&h);
	rtk_hist_read(&h, &r);
	for (int i = 0; i < RTK_HIST_SLOTS; i++)
		CHECK_EQ_INT(r.slots[i], 0);
	rtk_hist_observe(&h, 0);
	rtk_hist_observe(&h, 5000000);	      /* exactly 5 ms: le="0.005" */
	rtk_hist_observe(&h, 5000001);	      /* just over: le="0.01" */
	rtk_hist_observe(&h, 10000000000ull); /* exactly 10 s: le="10" */
	rtk_hist_observe(&h, 10000000001ull); /* over: +Inf only */
	rtk_hist_read(&h, &r);
	CHECK_EQ_INT(r.slots[0], 2);
	CHECK_EQ_INT(r.slots[1], 1);
	CHECK_EQ_INT(r.slots[RTK_HIST_BOUNDS - 1], 1);
	CHECK_EQ_INT(r.slots[RTK_HIST_BOUNDS], 1);
	CHECK(r.sum_ns == 5000000ull + 5000001ull + 10000000000ull + 10000000001ull);
}

#define THREADS 4
#define OBSERVATIONS 20000

static void *observer(void *arg)
{
	for (int i = 0; i < OBSERVATIONS; i++)
		rtk_hist_observe(arg, (uint64_t)(i % 7) * 2000000000ull);
	return NULL;
}

static void test_histogram_threads(void)
{
	static struct rtk_hist h;
	struct rtk_hist_snap r;
	pthread_t t[THREADS];
	uint64_t total = 0;
	int started = 0;

	rtk_hist_init(&h);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, observer, &h) == 0)
			started++;
	CHECK_EQ_INT(started, THREADS);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	rtk_hist_read(&h, &r);
	for (int i = 0; i < RTK_HIST_SLOTS; i++)
		total += r.slots[i];
	CHECK_EQ_INT(total, (uint64_t)THREADS * OBSERVATIONS);
	/* i % 7 over 0..19999: each residue 2857 times, and 0 once more; units of 2 s. */
	CHECK(r.sum_ns ==
	      (uint64_t)started * 2000000000ull * 2857ull * (0 + 1 + 2 + 3 + 4 + 5 + 6));
}

static void test_class_of(void)
{
	CHECK_EQ_INT(rtk_metrics_class_of(0), RTK_METRICS_CLASS_NONE);
	CHECK_EQ_INT(rtk_metrics_class_of(101), RTK_METRICS_CLASS_NONE);
	CHECK_EQ_INT(rtk_metrics_class_of(200), RTK_METRICS_CLASS_2XX);
	CHECK_EQ_INT(rtk_metrics_class_of(304), RTK_METRICS_CLASS_3XX);
	CHECK_EQ_INT(rtk_metrics_class_of(429), RTK_METRICS_CLASS_4XX);
	CHECK_EQ_INT(rtk_metrics_class_of(599), RTK_METRICS_CLASS_5XX);
	CHECK_EQ_INT(rtk_metrics_class_of(600), RTK_METRICS_CLASS_NONE);
	CHECK_EQ_INT(rtk_metrics_class_of(-1), RTK_METRICS_CLASS_NONE);
}

/* Past the buffer's cap: -EFBIG, and what was in the buffer is untouched. */
static void test_cap_leaves_buffer_as_it_was(void)
{
	struct rtk_metrics_snapshot s;
	struct rtk_buf b;

	fill(&s);
	rtk_buf_init(&b, 2048);
	CHECK_EQ_INT(rtk_buf_puts(&b, "before\n"), 0);
	CHECK_EQ_INT(rtk_metrics_render(&s, &b), -EFBIG);
	CHECK_EQ_MEM(b.data, b.len, "before\n");
	rtk_buf_release(&b);
	rtk_buf_init(&b, 1 << 20);
	CHECK_EQ_INT(rtk_buf_puts(&b, "before\n"), 0);
	CHECK_EQ_INT(rtk_metrics_render(&s, &b), 0);
	CHECK(strncmp(b.data, "before\n# HELP rtkfs_", 20) == 0);
	rtk_buf_release(&b);
}

/* Write text to a new temporary file; its name goes to path. 0 or -1. */
static int write_temp(char *path, const char *text)
{
	int fd = mkstemp(path);
	size_t n = strlen(text), done = 0;

	if (fd < 0)
		return -1;
	while (done < n) {
		ssize_t w = write(fd, text + done, n - done);

		if (w <= 0)
			break;
		done += (size_t)w;
	}
	return close(fd) == 0 && done == n ? 0 : -1;
}

/* promtool check metrics: exit 0 and nothing to say (no lint problems). */
static void test_promtool_check_metrics(void)
{
	struct rtk_metrics_snapshot s;
	char in[] = "/tmp/rtkfs-metrics-XXXXXX", out[] = "/tmp/rtkfs-promtool-XXXXXX";
	char cmd[256], said[4096] = "";
	char *t;
	FILE *f;
	int status;

	fill(&s);
	t = render(&s);
	CHECK_EQ_INT(write_temp(in, t), 0);
	CHECK_EQ_INT(write_temp(out, ""), 0);
	snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics <%s >%s 2>&1", in, out);
	status = system(cmd);
	f = fopen(out, "r");
	CHECK(f != NULL);
	if (f) {
		size_t n = fread(said, 1, sizeof(said) - 1, f);

		said[n] = '\0';
		fclose(f);
	}
	if (status != 0 || said[0])
		fprintf(stderr, "promtool check metrics (status %d) said:\n%s\n", status, said);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ_STR(said, "");
	unlink(in);
	unlink(out);
	free(t);
}

int main(void)
{
	RUN(test_lines);
	RUN(test_every_sample_has_help_and_type);
	RUN(test_histogram_bounds);
	RUN(test_histogram_threads);
	RUN(test_class_of);
	RUN(test_cap_leaves_buffer_as_it_was);
	if (access(PROMTOOL, X_OK) == 0)
		RUN(test_promtool_check_metrics);
	else
		fprintf(stderr, "SKIPPED LOUDLY: test_promtool_check_metrics: no " PROMTOOL
				" (apt-get install prometheus)\n");
	return check_summary();
}
