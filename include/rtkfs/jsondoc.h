/* SPDX-License-Identifier: MIT */
/*
 * jsondoc: is a JSON document being written complete yet? Writes of webhook.json and of new
 * files arrive in pieces (DESIGN §6); a document whose only fault is that it has not ended
 * is held until the write that completes it, one wrong before its end is refused at once.
 * Syntax only: what the object holds is the model's to check. Pure functions, thread-safe.
 */
#ifndef RTKFS_JSONDOC_H
#define RTKFS_JSONDOC_H

#include <stddef.h>

#define RTK_JSONDOC_DEPTH_MAX 64

enum rtk_jsondoc {
	RTK_JSONDOC_COMPLETE,	/* one JSON object, then only white space */
	RTK_JSONDOC_INCOMPLETE, /* white space, or the beginning of an object more bytes complete */
	RTK_JSONDOC_INVALID,	/* neither: not an object, bad syntax, control bytes or \u0000
				   in a string, deeper than RTK_JSONDOC_DEPTH_MAX */
};

/* The state of the len bytes at v (NUL bytes included: they are invalid). */
enum rtk_jsondoc rtk_jsondoc_state(const char *v, size_t len);

#endif
