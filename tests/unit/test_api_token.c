// SPDX-License-Identifier: MIT
/*
 * How many copies of the API token does the process hold? After real requests over several
 * pooled connections (threads at once), the whole address space is read through
 * /proc/self/mem (no core dump needed) and every occurrence of the token is counted. The
 * server runs in a forked child, so what it received is not in our memory; the token is made
 * at run time, so it is in no binary or literal.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtkfs/api.h"
#include "rtkfs/clock.h"
#include "rtkfs/log.h"
#include "check.h"

#define THREADS 6
#define CALLS 10
#define CHUNK (1u << 20)
#define HUGE_MAPPING (1ul << 34)

static char token[48]; /* the test's own copy: the needle, excluded from the count */

static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";

/* One connection: answer every request head with reply until the client closes. */
static void serve_conn(int fd)
{
	char buf[8192];
	size_t have = 0;
	ssize_t n;
	char *end;

	for (;;) {
		while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
			if (have == sizeof(buf))
				return;
			n = recv(fd, buf + have, sizeof(buf) - have, 0);
			if (n <= 0)
				return;
			have += (size_t)n;
		}
		if (send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL) < 0)
			return;
		have -= (size_t)(end + 4 - buf);
		memmove(buf, end + 4, have);
	}
}

/* The server child: a process per connection, so connections run at once. */
static void serve(int lfd)
{
	int fd;

	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (fork() == 0) {
			serve_conn(fd);
			_exit(0);
		}
		close(fd);
	}
}

static pid_t start_server(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 64) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen))
		return -1;
	*port = ntohs(a.sin_port);
	pid = fork();
	if (pid == 0) {
		serve(lfd);
		_exit(0);
	}
	close(lfd);
	return pid;
}

static void *caller(void *arg)
{
	struct rtk_api *api = arg;
	struct rtk_api_resp resp;
	struct rtk_api_req req = {.method = "GET", .path = "/accounts"};
	int i;

	rtk_api_resp_init(&resp, 1000);
	for (i = 0; i < CALLS; i++) {
		req.deadline_ns = rtk_clock_mono_ns() + 5 * RTK_NS_PER_SEC;
		if (rtk_api_call(api, &req, &resp))
			break;
	}
	rtk_api_resp_release(&resp);
	return (void *)(intptr_t)i;
}

/* Occurrences of token in every readable mapping, except the test's own copy. */
static int count_copies(void)
{
	/* Read into itself when its own range is scanned: it holds zeros then (wiped). */
	static char buf[CHUNK];
	size_t tlen = strlen(token);
	unsigned long lo, hi, at;
	char line[512], perms[8];
	FILE *maps = fopen("/proc/self/maps", "r");
	int mem = open("/proc/self/mem", O_RDONLY), found = 0;
	ssize_t n;
	char *p;

	if (!maps || mem < 0)
		return -1;
	while (fgets(line, sizeof(line), maps)) {
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3 || perms[0] != 'r')
			continue;
		/* Sanitizer shadow memory: terabytes reserved, never the heap of this test. */
		if (hi - lo > HUGE_MAPPING)
			continue;
		/* Chunks overlap by tlen - 1 so that no copy is cut in two. */
		for (at = lo; at < hi; at += CHUNK - tlen + 1) {
			n = pread(mem, buf, hi - at < CHUNK ? hi - at : CHUNK, (off_t)at);
			for (p = buf;
			     n > 0 && (p = memmem(p, (size_t)n - (size_t)(p - buf), token, tlen));
			     p++)
				if (at + (unsigned long)(p - buf) != (unsigned long)token)
					found++;
			explicit_bzero(buf, CHUNK); /* no copy left here for a later read */
			if (n <= 0 || hi - at <= CHUNK)
				break;
		}
	}
	fclose(maps);
	close(mem);
	return found;
}

static void test_token_copies(void)
{
	char url[64], err[256];
	struct rtk_api_config cfg = {.max_body = 1000};
	pthread_t th[THREADS];
	struct rtk_api *api;
	int port, i, done = 0, copies;
	pid_t pid;

	pid = start_server(&port);
	REQUIRE(pid > 0);
	snprintf(token, sizeof(token), "tk%08lx%08lx%08lx", (unsigned long)random(),
		 (unsigned long)getpid(), (unsigned long)rtk_clock_mono_ns());
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/client/v4", port);
	cfg.base_url = url;
	cfg.token = token;
	api = rtk_api_new(&cfg, err, sizeof(err));
	CHECK(api != NULL);
	if (api) {
		for (i = 0; i < THREADS; i++)
			pthread_create(&th[i], NULL, caller, api);
		for (i = 0; i < THREADS; i++) {
			void *r;

			pthread_join(th[i], &r);
			done += (int)(intptr_t)r;
		}
		CHECK_EQ_INT(done, THREADS * CALLS);
		copies = count_copies();
		printf("token copies in memory after %d calls: %d\n", done, copies);
		/* One: the api's locked page. */
		CHECK_EQ_INT(copies, 1);
		rtk_api_free(api);
		/* After free: none. */
		CHECK_EQ_INT(count_copies(), 0);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	rtk_log_init(RTK_LOG_WARN, false);
	RUN(test_token_copies);
	return check_summary();
}
