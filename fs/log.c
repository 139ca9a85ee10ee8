// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "rtkfs/log.h"

/*
 * The logger's configuration is written once by main before threads start, then only read;
 * see log.h for why this is the one process-wide state rtkfs keeps.
 */
static enum rtk_log_level max_level = RTK_LOG_INFO;
static int to_syslog;
static char *secret; /* our own copy, locked in memory, wiped at exit */

void rtk_log_init(enum rtk_log_level level, bool use_syslog)
{
	max_level = level;
	to_syslog = use_syslog;
}

void rtk_log_use_syslog(bool on)
{
	if (on && !to_syslog)
		openlog("rtkfs", LOG_PID, LOG_DAEMON);
	to_syslog = on;
}

static void wipe_secret(void)
{
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
		secret = NULL;
	}
}

void rtk_log_set_secret(const char *s)
{
	static bool registered;

	wipe_secret();
	if (!s || !*s)
		return;
	secret = strdup(s);
	if (secret)
		mlock(secret, strlen(secret) + 1);
	if (!registered)
		registered = atexit(wipe_secret) == 0;
}

bool rtk_log_enabled(enum rtk_log_level level)
{
	return level <= max_level;
}

/* Replace every occurrence of the secret in line (in place) with "<redacted>". */
static void redact(char *line, size_t size)
{
	static const char mark[] = "<redacted>";
	size_t slen, mlen = sizeof(mark) - 1;
	char *from = line, *hit;

	if (!secret)
		return;
	slen = strlen(secret);
	if (!slen)
		return;
	while ((hit = strstr(from, secret))) {
		size_t tail = strlen(hit + slen) + 1; /* with the NUL */

		if (hit + mlen >= line + size - 1) {
			*hit = '\0';
			return;
		}
		if (hit + mlen + tail > line + size)
			tail = (size_t)(line + size - (hit + mlen)) - 1;
		memmove(hit + mlen, hit + slen, tail);
		memcpy(hit, mark, mlen);
		line[size - 1] = '\0';
		from = hit + mlen;
	}
}

void rtk_log(enum rtk_log_level level, const char *fmt, ...)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	static const char *const tag[] = {"error", "warning", "info", "debug"};
	char line[1024];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	redact(line, sizeof(line));
	if (to_syslog)
		syslog(prio[level], "%s", line);
	else
		fprintf(stderr, "rtkfs: %s: %s\n", tag[level], line);
}
