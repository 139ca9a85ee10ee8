/* SPDX-License-Identifier: MIT */
/*
 * envelope: the bodies the API answers, unwrapped. The v4 envelope (accounts, token verify:
 * {"success", "errors", "result", "result_info"}) and the Realtime Kit one (apps, webhooks:
 * {"success", "data", "paging"}) in, objects and listing pages out; and the server's own
 * message from an error body.
 *
 * JSON that is not JSON, nests deeper than RTK_JSON_MAX_DEPTH or has the wrong shape is
 * -EPROTO; objects with missing, unsafe or duplicate ids are left out and counted.
 */
#ifndef RTKFS_ENVELOPE_H
#define RTKFS_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "rtkfs/kind.h"
#include "rtkfs/listing.h"
#include "rtkfs/obj.h"

/* What a page is and what it says of the pages after it. */
struct rtk_page {
	unsigned page;	   /* in: the 1-based page number that was asked for */
	unsigned per_page; /* in: the page size that was asked for */
	bool more;	   /* out: another page should be fetched */
	size_t items;	   /* out: objects on the page, kept or not */
	size_t skipped;	   /* out: objects left out (unsafe, missing or duplicate ids) */
};

/*
 * Parse one page of a list response into the builder:
 *   RTK_K_ACCOUNT: v4 envelope, objects in result[], pages from result_info;
 *   RTK_K_APP:     Realtime Kit envelope, objects in data[], pages from paging;
 *   RTK_K_WEBHOOK: Realtime Kit envelope, objects in data[], never more pages.
 * Returns 0, -EPROTO (not JSON, too deep, wrong shape, success false, more than
 * RTK_LISTING_MAX_OBJECTS objects in all) or -ENOMEM; on error the builder holds what it
 * held before. Skipped ids are logged.
 */
int rtk_envelope_parse_page(struct rtk_listing_builder *b, const char *body, size_t len,
			    struct rtk_page *page);

/*
 * Parse the one object of a create/replace/edit/get response (Realtime Kit envelope: data is
 * the webhook, or data.app for an app). Returns 0 and a new reference in *out, or -EPROTO.
 */
int rtk_envelope_parse_object(enum rtk_kind k, const char *body, size_t len, struct rtk_obj **out);

/*
 * The server's own message from an error body, into out (always NUL-terminated, printable
 * ASCII only, truncated to outsz): v4 errors[0] ("message (code N)"), Realtime Kit
 * error.message, a bare {"message"} or JSON string, else the start of a non-JSON body.
 * Returns 0 when something was found, -ENOENT otherwise (out is then "").
 */
int rtk_envelope_error_message(const char *body, size_t len, char *out, size_t outsz);

/* A token verify response (v4): 0 when result.status is "active", -EACCES when it is another
 * status, -EPROTO when the body is not such a response. */
int rtk_envelope_parse_verify(const char *body, size_t len);

#endif
