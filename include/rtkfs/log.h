/* SPDX-License-Identifier: MIT */
/*
 * log: one line per event, to stderr (foreground) or syslog (daemon).
 *
 * The level and the sink are set once by main before any thread starts and only read
 * afterwards; that is the one piece of process-wide state rtkfs keeps, as syslog itself does.
 * Lines follow STYLE.md: lowercase, what failed first, the subject in quotes. Callers never
 * pass the API token; as a second line of defence, rtk_log_set_secret() makes the logger
 * replace any occurrence of it with "<redacted>" (rtk_log_redact, the one redactor of rtkfs,
 * also used on server text kept for the control files).
 */
#ifndef RTKFS_LOG_H
#define RTKFS_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum rtk_log_level {
	RTK_LOG_ERR,
	RTK_LOG_WARN,
	RTK_LOG_INFO,
	RTK_LOG_DEBUG,
};

/* Configure the logger. Call before starting threads. */
void rtk_log_init(enum rtk_log_level level, bool use_syslog);

/* Switch to syslog (after daemonizing). */
void rtk_log_use_syslog(bool on);

/*
 * Register the string that must never be printed (the token). Borrowed, not copied: the
 * owner (the API client's locked copy) keeps it alive and unchanged until it calls
 * rtk_log_drop_secret, after the threads that log have stopped. NULL or "" registers none.
 */
void rtk_log_set_secret(const char *secret);

/* Forget the registered secret if it is this pointer (an owner about to wipe it). */
void rtk_log_drop_secret(const char *secret);

/*
 * Take the registered secret out of s (NUL-terminated within sz bytes) in place: each whole
 * occurrence becomes "<redacted>" (a secret shorter than that is masked with '*'), so s never
 * grows; and when s fills sz (it may have been cut), a tail that could be the secret's
 * beginning is dropped. No-op without a secret.
 */
void rtk_log_redact(char *s, size_t sz);

bool rtk_log_enabled(enum rtk_log_level level);

void rtk_log(enum rtk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rtk_err(...) rtk_log(RTK_LOG_ERR, __VA_ARGS__)
#define rtk_warn(...) rtk_log(RTK_LOG_WARN, __VA_ARGS__)
#define rtk_info(...) rtk_log(RTK_LOG_INFO, __VA_ARGS__)
#define rtk_debug(...)                                                                              \
	do {                                                                                       \
		if (rtk_log_enabled(RTK_LOG_DEBUG))                                                \
			rtk_log(RTK_LOG_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
