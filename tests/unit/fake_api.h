/* SPDX-License-Identifier: MIT */
/*
 * fake_api: an in-process stand-in of the API client's interface (include/rtkfs/api.h) for
 * unit tests of the namespace: rtk_api_call answers from a table of canned answers (status,
 * body, or an errno with no answer at all) and logs every request, so tests assert what was
 * asked as well as what the tree answered. Linked instead of fs/api.c and fs/transfer.c.
 */
#ifndef RTKFS_TEST_FAKE_API_H
#define RTKFS_TEST_FAKE_API_H

#include <stddef.h>

struct rtk_api;

/* A fake client (its address is all the tree needs). */
struct rtk_api *fake_api(void);

/* Forget every answer and every logged request. */
void fake_api_reset(void);

/*
 * Answer requests whose method is method and whose path (and query, unless query is NULL)
 * match: with HTTP status and body, or (err != 0) with err and no answer at all. times: how
 * many requests it answers (0: all). Rules are tried in the order they were added.
 */
void fake_api_answer(const char *method, const char *path, const char *query, long status,
		     const char *body, int err, unsigned times);

/*
 * Answer requests no rule matches by calling fn (NULL: a 404): it fills body (bodysz bytes,
 * NUL-terminated) and returns the HTTP status.
 */
typedef long (*fake_api_fn)(const char *method, const char *path, const char *query, char *body,
			    size_t bodysz);
void fake_api_handler(fake_api_fn fn);

/* Requests seen with this method and path (query ignored); NULL path: any. */
unsigned fake_api_count(const char *method, const char *path);

/* The body of the last request with this method (NULL if none). */
const char *fake_api_last_body(const char *method);

#endif
