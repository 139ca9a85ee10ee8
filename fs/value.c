// SPDX-License-Identifier: MIT
/*
 * value: checking what users write and building the request bodies that apply it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "rtkfs/json.h"
#include "rtkfs/path.h"
#include "rtkfs/url.h"
#include "rtkfs/value.h"

/* Event names: the nine of the API. */
#define EVENT_COUNT 9

static const char *const event_names[EVENT_COUNT] = {
    "meeting.started",
    "meeting.ended",
    "meeting.participantJoined",
    "meeting.participantLeft",
    "meeting.chatSynced",
    "recording.statusUpdate",
    "livestreaming.statusUpdate",
    "meeting.transcript",
    "meeting.summary",
};

static const char url_reason[] = "url must be an absolute https URL (http only to a loopback host)";

static void set_msg(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t msgsz, const char *fmt, ...)
{
	va_list ap;

	if (!msg || msgsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
}

static bool lit_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* ---- urls: one parser for every URL check (url.h) ---- */

bool rtk_value_url_is_valid(const char *url, size_t len)
{
	char why[128];

	return url && rtk_url_check(url, len, RTK_URL_WEBHOOK, NULL, why, sizeof(why)) == 0;
}

/* Check a written url: 0, or -EINVAL with the reason in msg. */
static int check_url(const char *url, size_t len, char *msg, size_t msgsz)
{
	char why[160];

	if (rtk_url_check(url, len, RTK_URL_WEBHOOK, NULL, why, sizeof(why)) == 0)
		return 0;
	set_msg(msg, msgsz, "%s (%s)", url_reason, why);
	return -EINVAL;
}

/* ---- checking written text ---- */

static bool utf8_is_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k, extra;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			extra = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			extra = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			extra = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= extra)
			return false;
		for (k = 1; k <= extra; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += extra + 1;
	}
	return true;
}

static size_t strip_eol(const char *v, size_t len)
{
	if (len >= 2 && v[len - 2] == '\r' && v[len - 1] == '\n')
		return len - 2;
	if (len >= 1 && v[len - 1] == '\n')
		return len - 1;
	return len;
}

/* Printable, short, for a message: what the user wrote, never more than 40 bytes of it. */
static void quote_user(char *dst, size_t dstsz, const char *s, size_t n)
{
	size_t o = rtk_json_put_line(dst, dstsz > 41 ? 41 : dstsz, 0, s, n);

	if (n > 40 && dstsz > o + 3)
		memcpy(dst + o, "...", 4);
}

/* Does field f of cur (typed as expected) hold exactly these bytes followed by "\n"? */
static bool cur_line_is(const struct rtk_obj *cur, enum rtk_field f, const char *v, size_t n)
{
	const char *b;
	size_t blen;

	if (!cur || rtk_obj_kind(cur) != RTK_K_WEBHOOK || !rtk_obj_field_is_typed(cur, f))
		return false;
	b = rtk_obj_field(cur, f, &blen);
	return b && blen == n + 1 && memcmp(b, v, n) == 0 && b[n] == '\n';
}

/* A NUL in a written string: cJSON, the API and every tool would cut the string there. */
static int refuse_nul(const char *what, const char *v, size_t n, char *msg, size_t msgsz)
{
	if (!memchr(v, '\0', n))
		return 0;
	set_msg(msg, msgsz, "%s must not contain a NUL character", what);
	return -EINVAL;
}

static int check_name(const char *v, size_t n, char *msg, size_t msgsz)
{
	if (n == 0) {
		set_msg(msg, msgsz, "name must not be empty");
		return -EINVAL;
	}
	if (refuse_nul("name", v, n, msg, msgsz))
		return -EINVAL;
	if (memchr(v, '\n', n) || memchr(v, '\r', n)) {
		set_msg(msg, msgsz, "name must be one line");
		return -EINVAL;
	}
	if (!utf8_is_valid((const unsigned char *)v, n)) {
		set_msg(msg, msgsz, "name must be UTF-8 text without NUL bytes");
		return -EINVAL;
	}
	return 0;
}

/* ---- events ---- */

static int event_index(const char *name, size_t len)
{
	int i;

	for (i = 0; i < EVENT_COUNT; i++) {
		if (lit_eq(name, len, event_names[i]))
			return i;
	}
	return -1;
}

bool rtk_value_event_is_known(const char *name, size_t len)
{
	return name && event_index(name, len) >= 0;
}

/*
 * Split written events into known names (whitespace separated), duplicates folded, order
 * kept: idx[0..*n) are indexes into event_names.
 */
static int parse_events(const char *v, size_t len, int idx[EVENT_COUNT], size_t *n, char *msg,
			size_t msgsz)
{
	size_t i = 0, k;

	*n = 0;
	while (i < len) {
		size_t s;
		int e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r'))
			i++;
		if (i >= len)
			break;
		s = i;
		while (i < len && v[i] != ' ' && v[i] != '\t' && v[i] != '\n' && v[i] != '\r')
			i++;
		e = event_index(v + s, i - s);
		if (e < 0) {
			char q[48];

			quote_user(q, sizeof(q), v + s, i - s);
			set_msg(msg, msgsz, "unknown event '%s'", q);
			return -EINVAL;
		}
		for (k = 0; k < *n && idx[k] != e; k++)
			;
		if (k == *n)
			idx[(*n)++] = e;
	}
	return 0;
}

/* Are cur's events, folded, exactly idx[0..n)? */
static bool cur_events_are(const struct rtk_obj *cur, const int *idx, size_t n)
{
	const char *b, *end;
	size_t blen, seen = 0, k;
	int folded[EVENT_COUNT];

	if (!cur || rtk_obj_kind(cur) != RTK_K_WEBHOOK ||
	    !rtk_obj_field_is_typed(cur, RTK_F_EVENTS))
		return false;
	b = rtk_obj_field(cur, RTK_F_EVENTS, &blen);
	if (!b)
		return false;
	end = b + blen;
	while (b < end) {
		const char *nl = memchr(b, '\n', (size_t)(end - b));
		int e;

		if (!nl)
			return false;
		e = event_index(b, (size_t)(nl - b));
		if (e < 0)
			return false;
		for (k = 0; k < seen && folded[k] != e; k++)
			;
		if (k == seen)
			folded[seen++] = e;
		b = nl + 1;
	}
	if (seen != n)
		return false;
	for (k = 0; k < n; k++) {
		if (folded[k] != idx[k])
			return false;
	}
	return true;
}

static cJSON *events_json(const int *idx, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; arr && i < n; i++) {
		cJSON *s = cJSON_CreateString(event_names[idx[i]]);

		if (!s || !cJSON_AddItemToArray(arr, s)) {
			cJSON_Delete(s);
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

/* ---- request bodies ---- */

/* Print root (which this takes) compactly into body. */
static int emit(cJSON *root, struct rtk_buf *body)
{
	char *txt;
	int err;

	if (!root)
		return -ENOMEM;
	txt = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!txt)
		return -ENOMEM;
	err = rtk_buf_puts(body, txt);
	cJSON_free(txt);
	return err;
}

/* {"key": value} with value taken; NULL on ENOMEM. */
static cJSON *one_key(const char *key, cJSON *value)
{
	cJSON *o;

	if (!value)
		return NULL;
	o = cJSON_CreateObject();
	if (!o || !cJSON_AddItemToObject(o, key, value)) {
		cJSON_Delete(o);
		cJSON_Delete(value);
		return NULL;
	}
	return o;
}

/* A cJSON string of n bytes (no NUL among them). */
static cJSON *string_n(const char *v, size_t n)
{
	char *tmp = malloc(n + 1);
	cJSON *s;

	if (!tmp)
		return NULL;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	s = cJSON_CreateString(tmp);
	free(tmp);
	return s;
}

/* ---- PATCH: one field ---- */

/* name or url: one line of text. */
static int patch_text(enum rtk_field f, const char *val, size_t len, const struct rtk_obj *cur,
		      struct rtk_buf *body, char *msg, size_t msgsz)
{
	size_t n = strip_eol(val, len);
	int err;

	if (f == RTK_F_NAME) {
		err = check_name(val, n, msg, msgsz);
		if (err)
			return err;
	} else if (refuse_nul("url", val, n, msg, msgsz)) {
		return -EINVAL;
	} else if (check_url(val, n, msg, msgsz)) {
		return -EINVAL;
	}
	if (cur_line_is(cur, f, val, n))
		return 1;
	return emit(one_key(rtk_path_field_name(RTK_K_WEBHOOK, f), string_n(val, n)), body);
}

static int patch_enabled(const char *val, size_t len, const struct rtk_obj *cur,
			 struct rtk_buf *body, char *msg, size_t msgsz)
{
	size_t n = strip_eol(val, len);
	bool on;

	if (lit_eq(val, n, "true") || lit_eq(val, n, "1")) {
		on = true;
	} else if (lit_eq(val, n, "false") || lit_eq(val, n, "0")) {
		on = false;
	} else {
		set_msg(msg, msgsz, "enabled must be true, false, 1 or 0");
		return -EINVAL;
	}
	if (cur_line_is(cur, RTK_F_ENABLED, on ? "true" : "false", on ? 4 : 5))
		return 1;
	return emit(one_key("enabled", cJSON_CreateBool(on)), body);
}

static int patch_events(const char *val, size_t len, const struct rtk_obj *cur,
			struct rtk_buf *body, char *msg, size_t msgsz)
{
	int idx[EVENT_COUNT];
	size_t nev;
	int err;

	if (refuse_nul("events", val, len, msg, msgsz))
		return -EINVAL;
	err = parse_events(val, len, idx, &nev, msg, msgsz);
	if (err)
		return err;
	if (cur_events_are(cur, idx, nev))
		return 1;
	return emit(one_key("events", events_json(idx, nev)), body);
}

int rtk_value_patch_body(enum rtk_field f, const char *val, size_t len, const struct rtk_obj *cur,
			 struct rtk_buf *body, char *msg, size_t msgsz)
{
	set_msg(msg, msgsz, "%s", "");
	if (!val && len)
		return -EINVAL;
	if (!val)
		val = "";
	switch (f) {
	case RTK_F_NAME:
	case RTK_F_URL:
		return patch_text(f, val, len, cur, body, msg, msgsz);
	case RTK_F_ENABLED:
		return patch_enabled(val, len, cur, body, msg, msgsz);
	case RTK_F_EVENTS:
		return patch_events(val, len, cur, body, msg, msgsz);
	default:
		set_msg(msg, msgsz, "this file cannot be written field by field");
		return -EINVAL;
	}
}

/* ---- PUT/POST: the whole webhook.json ---- */

/* The keys of a written webhook.json that go into the body. */
struct put_keys {
	const cJSON *name, *url, *events, *enabled;
};

/* Parse a written webhook.json into *root, which must be an object. 0 or -EINVAL. */
static int put_parse(const char *val, size_t len, cJSON **root, char *msg, size_t msgsz)
{
	int err = rtk_json_parse(val, len, RTK_JSON_NUL_REFUSE, root);

	if (err == -EILSEQ) {
		set_msg(msg, msgsz, "webhook.json must not contain a NUL character (\\u0000)");
		return -EINVAL;
	}
	if (err) {
		set_msg(msg, msgsz, "webhook.json is not valid JSON");
		return -EINVAL;
	}
	if (!cJSON_IsObject(*root)) {
		set_msg(msg, msgsz, "webhook.json must be a JSON object");
		cJSON_Delete(*root);
		*root = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Sort the keys of root into k: each known key once, read-only ones dropped. */
static int put_collect(const cJSON *root, struct put_keys *k, char *msg, size_t msgsz)
{
	const cJSON *it;
	char q[48];

	memset(k, 0, sizeof(*k));
	cJSON_ArrayForEach(it, root)
	{
		const cJSON **slot = NULL;
		const char *key = it->string ? it->string : "";

		if (!strcmp(key, "id") || !strcmp(key, "created_at") || !strcmp(key, "updated_at"))
			continue;
		if (!strcmp(key, "name"))
			slot = &k->name;
		else if (!strcmp(key, "url"))
			slot = &k->url;
		else if (!strcmp(key, "events"))
			slot = &k->events;
		else if (!strcmp(key, "enabled"))
			slot = &k->enabled;
		quote_user(q, sizeof(q), key, strlen(key));
		if (!slot) {
			set_msg(msg, msgsz, "unknown key '%s' in webhook.json", q);
			return -EINVAL;
		}
		if (*slot) {
			set_msg(msg, msgsz, "key '%s' given twice in webhook.json", q);
			return -EINVAL;
		}
		*slot = it;
	}
	return 0;
}

/* The events list of webhook.json as indexes (duplicates folded, order kept). */
static int put_events(const cJSON *events, int idx[EVENT_COUNT], size_t *nev, char *msg,
		      size_t msgsz)
{
	const cJSON *it;
	char q[48];

	*nev = 0;
	if (!cJSON_IsArray(events)) {
		set_msg(msg, msgsz, "webhook.json needs \"events\" as a list of event names");
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, events)
	{
		bool str = cJSON_IsString(it) && it->valuestring;
		int e = str ? event_index(it->valuestring, strlen(it->valuestring)) : -1;
		size_t k;

		if (e < 0 && str) {
			quote_user(q, sizeof(q), it->valuestring, strlen(it->valuestring));
			set_msg(msg, msgsz, "unknown event '%s'", q);
			return -EINVAL;
		}
		if (e < 0) {
			set_msg(msg, msgsz, "events must be strings");
			return -EINVAL;
		}
		for (k = 0; k < *nev && idx[k] != e; k++)
			;
		if (k == *nev)
			idx[(*nev)++] = e;
	}
	return 0;
}

/* Check the values of k; the events into idx[0..*nev). */
static int put_check(const struct put_keys *k, int idx[EVENT_COUNT], size_t *nev, char *msg,
		     size_t msgsz)
{
	if (!cJSON_IsString(k->name) || !k->name->valuestring) {
		set_msg(msg, msgsz, "webhook.json needs \"name\" as a string");
		return -EINVAL;
	}
	if (check_name(k->name->valuestring, strlen(k->name->valuestring), msg, msgsz))
		return -EINVAL;
	if (!cJSON_IsString(k->url) || !k->url->valuestring) {
		set_msg(msg, msgsz, "%s", url_reason);
		return -EINVAL;
	}
	if (check_url(k->url->valuestring, strlen(k->url->valuestring), msg, msgsz)) {
		return -EINVAL;
	}
	if (put_events(k->events, idx, nev, msg, msgsz))
		return -EINVAL;
	if (k->enabled && !cJSON_IsBool(k->enabled)) {
		set_msg(msg, msgsz, "enabled must be true or false");
		return -EINVAL;
	}
	return 0;
}

/* Add value (taken) to out under key; false (value freed) on ENOMEM. */
static bool add_item(cJSON *out, const char *key, cJSON *value)
{
	if (value && cJSON_AddItemToObject(out, key, value))
		return true;
	cJSON_Delete(value);
	return false;
}

/* The body of checked keys: name, url, events and (if given) enabled, compact. */
static int put_build(const struct put_keys *k, const int *idx, size_t nev, struct rtk_buf *body)
{
	cJSON *out = cJSON_CreateObject();

	if (!out)
		return -ENOMEM;
	if (!add_item(out, "name", cJSON_CreateString(k->name->valuestring)) ||
	    !add_item(out, "url", cJSON_CreateString(k->url->valuestring)) ||
	    !add_item(out, "events", events_json(idx, nev)) ||
	    (k->enabled && !add_item(out, "enabled", cJSON_CreateBool(cJSON_IsTrue(k->enabled))))) {
		cJSON_Delete(out);
		return -ENOMEM;
	}
	return emit(out, body);
}

int rtk_value_put_body(const char *val, size_t len, struct rtk_buf *body, char *msg, size_t msgsz)
{
	struct put_keys k;
	int idx[EVENT_COUNT];
	size_t nev = 0;
	cJSON *root;
	int err;

	set_msg(msg, msgsz, "%s", "");
	err = put_parse(val, len, &root, msg, msgsz);
	if (err)
		return err;
	err = put_collect(root, &k, msg, msgsz);
	if (!err)
		err = put_check(&k, idx, &nev, msg, msgsz);
	if (!err)
		err = put_build(&k, idx, nev, body);
	cJSON_Delete(root);
	return err;
}
