/* SPDX-License-Identifier: MIT */
/*
 * path: the grammar of the mount's namespace, as a pure parser (no I/O, no allocation).
 *
 *   /                                  ROOT
 *   /accounts                          ACCOUNTS
 *   /accounts/A                        ACCOUNT          (A: a safe account id)
 *   /accounts/A/{id,name,account.json} FIELD
 *   /accounts/A/apps                   APPS
 *   /accounts/A/apps/P                 APP
 *   /accounts/A/apps/P/{id,name,created_at,app.json}   FIELD
 *   /accounts/A/apps/P/webhooks        WEBHOOKS
 *   /accounts/A/apps/P/webhooks/W      WEBHOOK
 *   /accounts/A/apps/P/webhooks/W/{id,name,url,enabled,events,created_at,updated_at,
 *                                   webhook.json}     FIELD
 *   /accounts/A/apps.json, /accounts/A/apps/P/webhooks.json  DOC
 *   /.rtkfs, /.rtkfs/{status,stats.json,ctl,metrics}   CTL_DIR, CTL_FILE
 *
 * Whether an id really exists is for the tree to say (it asks the cache); path only says
 * whether a name could exist at a place.
 */
#ifndef RTKFS_PATH_H
#define RTKFS_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "rtkfs/kind.h"

enum rtk_node_kind {
	RTK_N_ROOT,
	RTK_N_ACCOUNTS,
	RTK_N_ACCOUNT,
	RTK_N_APPS,
	RTK_N_APP,
	RTK_N_WEBHOOKS,
	RTK_N_WEBHOOK,
	RTK_N_FIELD,
	RTK_N_CTL_DIR,
	RTK_N_CTL_FILE,
	RTK_N_DOC, /* apps.json, webhooks.json: a whole collection as one JSON array */
	RTK_N__N,
};

enum rtk_ctl_file {
	RTK_CTL_STATUS,
	RTK_CTL_STATS_JSON,
	RTK_CTL_CTL,
	RTK_CTL_METRICS,
	RTK_CTL__N,
};

/*
 * The file index, in its object's directory, of the collection document (apps.json in an
 * account, webhooks.json in an app): after the fields.
 */
#define RTK_PATH_DOC_INDEX RTK_F__N

/* What one name under a node of a known kind denotes. */
struct rtk_path_step {
	enum rtk_node_kind kind;
	enum rtk_kind obj;     /* FIELD: whose field; ACCOUNT/APP/WEBHOOK: that kind; DOC: the
				* kind of the objects it lists */
	enum rtk_field field;  /* FIELD only, else RTK_F__N */
	enum rtk_ctl_file ctl; /* CTL_FILE only, else RTK_CTL__N */
};

/* A parsed absolute path. Ids point into the parsed string (not NUL-terminated). */
struct rtk_path_id {
	const char *p;
	size_t n;
};

struct rtk_path {
	struct rtk_path_step step; /* what the last component denotes */
	struct rtk_path_id account, app, webhook; /* n == 0 when not on the path */
};

/*
 * Is id (len bytes, not necessarily NUL-terminated) usable as a name in the tree and an
 * API path segment? Refuses empty, ".", "..", '/', NUL, control bytes, space, bytes >= 0x7f,
 * and anything longer than max.
 */
bool rtk_path_id_is_safe(const char *id, size_t len, size_t max);

/* The longest id allowed for objects of kind k. */
size_t rtk_path_id_max(enum rtk_kind k);

/*
 * Classify name (NUL-terminated) under a node of kind parent (for FIELD/ACCOUNT/... parents
 * pass the node's kind; obj kinds are implied by the node kind). Returns 0 and fills *out,
 * -ENOENT when the name cannot exist there (including unsafe ids), -ENOTDIR when parent is
 * a file, -ENAMETOOLONG for names over 255 bytes.
 */
int rtk_path_step(enum rtk_node_kind parent, const char *name, struct rtk_path_step *out);

/*
 * Parse an absolute mount path ("/", "/accounts/A/apps", ...; repeated and trailing
 * slashes are tolerated, "." and ".." components are not). Returns 0 or an error of
 * rtk_path_step (-ENOENT for a relative or otherwise impossible path).
 */
int rtk_path_parse(const char *path, struct rtk_path *out);

/* The file name of a field of an object kind ("url", "webhook.json"), or NULL if that kind
 * has no such field. */
const char *rtk_path_field_name(enum rtk_kind k, enum rtk_field f);

/* Is field f of kind k writable (webhook name, url, enabled, events, webhook.json)? */
bool rtk_path_field_is_writable(enum rtk_kind k, enum rtk_field f);

/* The directory that holds objects of kind k ("accounts", "apps", "webhooks"), or NULL
 * for a kind that is not one. */
const char *rtk_path_collection_name(enum rtk_kind k);

/* The name of the collection document of the objects of kind listed ("apps.json",
 * "webhooks.json"), or NULL when there is none (accounts). */
const char *rtk_path_doc_name(enum rtk_kind listed);

/* The name of a control file ("status", "stats.json", "ctl", "metrics"). */
const char *rtk_path_ctl_name(enum rtk_ctl_file c);

/*
 * Percent-encode an id (len bytes) for an URL path segment into out (size outsz): every
 * byte outside RFC 3986 unreserved characters becomes %XX. Returns the length written, or
 * -ENAMETOOLONG if it does not fit (out is then "").
 */
int rtk_path_encode(const char *id, size_t len, char *out, size_t outsz);

#endif
