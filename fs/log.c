// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "rtkfs/log.h"

/*
 * The logger's configuration is written once by main before threads start, then only read;
 * see log.h for why this is the one process-wide state rtkfs keeps.
 */
static enum rtk_log_level max_level = RTK_LOG_INFO;
static int to_syslog;
/* Borrowed (the API client's locked copy), see rtk_log_set_secret. */
static const char *_Atomic secret;

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

void rtk_log_set_secret(const char *s)
{
	atomic_store(&secret, s && *s ? s : NULL);
}

void rtk_log_drop_secret(const char *s)
{
	const char *expected = s;

	atomic_compare_exchange_strong(&secret, &expected, NULL);
}

bool rtk_log_enabled(enum rtk_log_level level)
{
	return level <= max_level;
}

void rtk_log_redact(char *s, size_t sz)
{
	static const char mark[] = "<redacted>";
	const size_t mlen = sizeof(mark) - 1;
	const char *tok = atomic_load(&secret);
	size_t tlen, len, k;
	char *hit, *from = s;

	if (!tok || !sz)
		return;
	s[sz - 1] = '\0';
	tlen = strlen(tok);
	/* The mark is never longer than what it replaces, so s never grows. */
	while ((hit = strstr(from, tok))) {
		if (tlen >= mlen) {
			memcpy(hit, mark, mlen);
			memmove(hit + mlen, hit + tlen, strlen(hit + tlen) + 1);
			from = hit + mlen;
		} else {
			memset(hit, '*', tlen); /* too short for the mark: mask in place */
			from = hit + tlen;
		}
	}
	len = strlen(s);
	if (len + 1 < sz)
		return; /* not cut: no partial token at the end */
	/* s filled sz and may have been cut inside the token: drop a tail that begins it. */
	for (k = tlen - 1 < len ? tlen - 1 : len; k > 0; k--) {
		if (memcmp(s + len - k, tok, k) == 0) {
			s[len - k] = '\0';
			break;
		}
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
	rtk_log_redact(line, sizeof(line));
	if (to_syslog)
		syslog(prio[level], "%s", line);
	else
		fprintf(stderr, "rtkfs: %s: %s\n", tag[level], line);
}
