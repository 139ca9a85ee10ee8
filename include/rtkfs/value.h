/* SPDX-License-Identifier: MIT */
/*
 * value: what a user writes to a webhook's files (DESIGN §6), checked and turned into the
 * body of the request that applies it (PATCH for one field, PUT or POST for webhook.json).
 *
 * A written string (name, url, an event) never holds NUL: neither a NUL byte in a field
 * file nor a \u0000 escape in webhook.json; either is -EINVAL with its reason.
 */
#ifndef RTKFS_VALUE_H
#define RTKFS_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "rtkfs/buf.h"
#include "rtkfs/kind.h"
#include "rtkfs/obj.h"

/* Is this a URL a webhook may point at: absolute https, or http to a loopback host? */
bool rtk_value_url_is_valid(const char *url, size_t len);

/* Is this one of the nine webhook event names? */
bool rtk_value_event_is_known(const char *name, size_t len);

/*
 * Turn what was written to field file f of webhook cur into a PATCH body ({"enabled":false},
 * {"events":[...]}, ...) in body. Input may end with one newline (and CRLF); events are one
 * per line or separated by spaces, duplicates folded, order kept; enabled is true/false/1/0.
 * Returns 0 (body filled), 1 when the value equals cur's (nothing to send; body untouched),
 * -EINVAL when the value is not valid (reason, if msg is not NULL, into msg/msgsz), -ENOMEM.
 */
int rtk_value_patch_body(enum rtk_field f, const char *val, size_t len, const struct rtk_obj *cur,
			 struct rtk_buf *body, char *msg, size_t msgsz);

/*
 * Turn a whole webhook.json written by the user into a PUT (or POST, for create) body:
 * an object with name, url and events required (validated as above), enabled optional;
 * id, created_at and updated_at are dropped; any other key is -EINVAL. Same returns as
 * rtk_value_patch_body except 1 (a PUT always sends).
 */
int rtk_value_put_body(const char *val, size_t len, struct rtk_buf *body, char *msg, size_t msgsz);

#endif
