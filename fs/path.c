// SPDX-License-Identifier: MIT
/*
 * path: the namespace grammar. Pure functions over caller-owned strings: no I/O, no
 * allocation, no state, so they are safe from any thread and cheap to fuzz.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "rtkfs/path.h"

#define NAME_MAX_BYTES 255

static const char *const field_names[RTK_K__N][RTK_F__N] = {
    [RTK_K_ACCOUNT] =
	{
	    [RTK_F_ID] = "id",
	    [RTK_F_NAME] = "name",
	    [RTK_F_JSON] = "account.json",
	},
    [RTK_K_APP] =
	{
	    [RTK_F_ID] = "id",
	    [RTK_F_NAME] = "name",
	    [RTK_F_CREATED_AT] = "created_at",
	    [RTK_F_JSON] = "app.json",
	},
    [RTK_K_WEBHOOK] =
	{
	    [RTK_F_ID] = "id",
	    [RTK_F_NAME] = "name",
	    [RTK_F_URL] = "url",
	    [RTK_F_ENABLED] = "enabled",
	    [RTK_F_EVENTS] = "events",
	    [RTK_F_CREATED_AT] = "created_at",
	    [RTK_F_UPDATED_AT] = "updated_at",
	    [RTK_F_JSON] = "webhook.json",
	},
};

static const char *const ctl_names[RTK_CTL__N] = {
    [RTK_CTL_STATUS] = "status",
    [RTK_CTL_STATS_JSON] = "stats.json",
    [RTK_CTL_CTL] = "ctl",
    [RTK_CTL_METRICS] = "metrics",
};

bool rtk_path_id_is_safe(const char *id, size_t len, size_t max)
{
	size_t i;

	if (!id || len == 0 || len > max)
		return false;
	if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.'))
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];

		if (c < 0x21 || c > 0x7e || c == '/')
			return false;
	}
	return true;
}

size_t rtk_path_id_max(enum rtk_kind k)
{
	switch (k) {
	case RTK_K_ACCOUNT:
		return RTK_ACCOUNT_ID_MAX;
	case RTK_K_APP:
		return RTK_APP_ID_MAX;
	case RTK_K_WEBHOOK:
		return RTK_WEBHOOK_ID_MAX;
	default:
		return 0;
	}
}

const char *rtk_path_field_name(enum rtk_kind k, enum rtk_field f)
{
	if ((unsigned)k >= RTK_K__N || (unsigned)f >= RTK_F__N)
		return NULL;
	return field_names[k][f];
}

bool rtk_path_field_is_writable(enum rtk_kind k, enum rtk_field f)
{
	if (k != RTK_K_WEBHOOK)
		return false;
	return f == RTK_F_NAME || f == RTK_F_URL || f == RTK_F_ENABLED || f == RTK_F_EVENTS ||
	       f == RTK_F_JSON;
}

const char *rtk_path_ctl_name(enum rtk_ctl_file c)
{
	if ((unsigned)c >= RTK_CTL__N)
		return NULL;
	return ctl_names[c];
}

const char *rtk_path_collection_name(enum rtk_kind k)
{
	static const char *const names[RTK_K__N] = {
	    [RTK_K_ACCOUNT] = "accounts",
	    [RTK_K_APP] = "apps",
	    [RTK_K_WEBHOOK] = "webhooks",
	};

	if ((unsigned)k >= RTK_K__N)
		return NULL;
	return names[k];
}

static bool name_is(const char *name, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

const char *rtk_path_doc_name(enum rtk_kind listed)
{
	return listed == RTK_K_APP ? "apps.json" : listed == RTK_K_WEBHOOK ? "webhooks.json" : NULL;
}

static void step_set(struct rtk_path_step *out, enum rtk_node_kind kind, enum rtk_kind obj)
{
	out->kind = kind;
	out->obj = obj;
	out->field = RTK_F__N;
	out->ctl = RTK_CTL__N;
}

static int step_field(enum rtk_kind k, const char *name, size_t len, struct rtk_path_step *out)
{
	int f;

	for (f = 0; f < RTK_F__N; f++) {
		const char *fn = field_names[k][f];

		if (fn && name_is(name, len, fn)) {
			step_set(out, RTK_N_FIELD, k);
			out->field = (enum rtk_field)f;
			return 0;
		}
	}
	return -ENOENT;
}

static int step_id(enum rtk_node_kind kind, enum rtk_kind k, const char *name, size_t len,
		   struct rtk_path_step *out)
{
	if (!rtk_path_id_is_safe(name, len, rtk_path_id_max(k)))
		return -ENOENT;
	step_set(out, kind, k);
	return 0;
}

/* rtk_path_step on a counted name (len <= NAME_MAX_BYTES, no NUL or '/' checked here). */
static int step_n(enum rtk_node_kind parent, const char *name, size_t len,
		  struct rtk_path_step *out)
{
	int c;

	switch (parent) {
	case RTK_N_ROOT:
		if (name_is(name, len, "accounts")) {
			step_set(out, RTK_N_ACCOUNTS, RTK_K_ACCOUNT);
			return 0;
		}
		if (name_is(name, len, ".rtkfs")) {
			step_set(out, RTK_N_CTL_DIR, RTK_K__N);
			return 0;
		}
		return -ENOENT;
	case RTK_N_ACCOUNTS:
		return step_id(RTK_N_ACCOUNT, RTK_K_ACCOUNT, name, len, out);
	case RTK_N_ACCOUNT:
		if (name_is(name, len, "apps")) {
			step_set(out, RTK_N_APPS, RTK_K_APP);
			return 0;
		}
		if (name_is(name, len, "apps.json")) {
			step_set(out, RTK_N_DOC, RTK_K_APP);
			return 0;
		}
		return step_field(RTK_K_ACCOUNT, name, len, out);
	case RTK_N_APPS:
		return step_id(RTK_N_APP, RTK_K_APP, name, len, out);
	case RTK_N_APP:
		if (name_is(name, len, "webhooks")) {
			step_set(out, RTK_N_WEBHOOKS, RTK_K_WEBHOOK);
			return 0;
		}
		if (name_is(name, len, "webhooks.json")) {
			step_set(out, RTK_N_DOC, RTK_K_WEBHOOK);
			return 0;
		}
		return step_field(RTK_K_APP, name, len, out);
	case RTK_N_WEBHOOKS:
		return step_id(RTK_N_WEBHOOK, RTK_K_WEBHOOK, name, len, out);
	case RTK_N_WEBHOOK:
		return step_field(RTK_K_WEBHOOK, name, len, out);
	case RTK_N_CTL_DIR:
		for (c = 0; c < RTK_CTL__N; c++) {
			if (name_is(name, len, ctl_names[c])) {
				step_set(out, RTK_N_CTL_FILE, RTK_K__N);
				out->ctl = (enum rtk_ctl_file)c;
				return 0;
			}
		}
		return -ENOENT;
	case RTK_N_FIELD:
	case RTK_N_CTL_FILE:
	case RTK_N_DOC:
		return -ENOTDIR;
	default:
		return -ENOENT;
	}
}

int rtk_path_step(enum rtk_node_kind parent, const char *name, struct rtk_path_step *out)
{
	size_t len;

	if (!name || !out)
		return -ENOENT;
	if (parent == RTK_N_FIELD || parent == RTK_N_CTL_FILE || parent == RTK_N_DOC)
		return -ENOTDIR;
	len = strnlen(name, NAME_MAX_BYTES + 1);
	if (len > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	if (memchr(name, '/', len))
		return -ENOENT;
	return step_n(parent, name, len, out);
}

int rtk_path_parse(const char *path, struct rtk_path *out)
{
	const char *p;
	int err;

	if (!path || !out)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	step_set(&out->step, RTK_N_ROOT, RTK_K__N);
	if (path[0] != '/')
		return -ENOENT;

	p = path;
	for (;;) {
		const char *name;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		name = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - name);
		if (out->step.kind == RTK_N_FIELD || out->step.kind == RTK_N_CTL_FILE ||
		    out->step.kind == RTK_N_DOC)
			return -ENOTDIR;
		if (len > NAME_MAX_BYTES)
			return -ENAMETOOLONG;
		err = step_n(out->step.kind, name, len, &out->step);
		if (err)
			return err;
		switch (out->step.kind) {
		case RTK_N_ACCOUNT:
			out->account.p = name;
			out->account.n = len;
			break;
		case RTK_N_APP:
			out->app.p = name;
			out->app.n = len;
			break;
		case RTK_N_WEBHOOK:
			out->webhook.p = name;
			out->webhook.n = len;
			break;
		default:
			break;
		}
	}
	return 0;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int rtk_path_encode(const char *id, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	if (!out || outsz == 0)
		return -ENAMETOOLONG;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		size_t need = is_unreserved(c) ? 1 : 3;

		/* Keep room for the NUL, and keep the length representable as an int. */
		if (need >= outsz - o || o + need > (size_t)0x7fffffff) {
			out[0] = '\0';
			return -ENAMETOOLONG;
		}
		if (need == 1) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return (int)o;
}
