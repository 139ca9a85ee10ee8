// SPDX-License-Identifier: MIT
/*
 * model: the JSON side of rtkfs. Every body from the server and every value written by a
 * user passes through here; nothing else includes cJSON.
 *
 * An object is one allocation: a header with an offsets table, then one byte array holding
 * the id and the rendered bytes of every file of its kind, each followed by a NUL (so a
 * field can also be read as a C string when debugging). Objects never change after they are
 * built, so readers need no lock, only a reference.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "rtkfs/log.h"
#include "rtkfs/model.h"
#include "rtkfs/path.h"

/* The rendered bytes of one object may not pass this (pretty printing can inflate deeply
 * nested junk many times over); over it the body is -EPROTO, as any over-size body. */
#define OBJ_RENDER_MAX (16u << 20)
/* Longest url accepted in a write. */
#define URL_MAX 2048
/* Bodies built from written values. */
#define WRITE_BODY_MAX (4u << 20)
/* Event names: the nine of the API. */
#define EVENT_COUNT 9

struct rtk_obj {
	atomic_size_t refs;
	enum rtk_kind kind;
	bool bare;
	/* Bit f set: field f had the type the file format expects (a string for name, url and
	 * timestamps, a bool for enabled, an array of strings for events), so its bytes can be
	 * compared with a written value. */
	unsigned typed;
	struct timespec mtime;
	size_t size; /* bytes of data[] */
	size_t idlen;
	size_t off[RTK_F__N];
	size_t len[RTK_F__N];
	char data[]; /* id NUL, then each field's bytes NUL */
};

struct rtk_listing {
	atomic_size_t refs;
	enum rtk_kind kind;
	size_t n;
	size_t bytes;
	struct rtk_obj **index; /* n entries after objs[n], sorted by id */
	struct rtk_obj *objs[]; /* server order */
};

struct rtk_listing_builder {
	enum rtk_kind kind;
	struct rtk_obj **objs;
	size_t n, cap;
	struct rtk_obj **set; /* open addressing on the id, setcap a power of two */
	size_t setcap;
	uint64_t seed;
};

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

/* The JSON key of a field: a field's file is named after it (DESIGN §2), so path has it. */
static const char *json_key(enum rtk_field f)
{
	return f == RTK_F_JSON ? NULL : rtk_path_field_name(RTK_K_WEBHOOK, f);
}

static const char *kind_plural(enum rtk_kind k)
{
	switch (k) {
	case RTK_K_ACCOUNT:
		return "accounts";
	case RTK_K_APP:
		return "apps";
	case RTK_K_WEBHOOK:
		return "webhooks";
	default:
		return "objects";
	}
}

static bool kind_is_valid(enum rtk_kind k)
{
	return (unsigned)k < RTK_K__N;
}

static bool kind_has_field(enum rtk_kind k, enum rtk_field f)
{
	return rtk_path_field_name(k, f) != NULL;
}

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

/* ---- JSON text: depth check, parsing, printing ---- */

/*
 * Refuse text nesting deeper than RTK_MODEL_MAX_DEPTH before any recursive parser sees it,
 * and text with a raw NUL byte (not JSON). *nul_escapes tells whether a string holds a
 * \u0000 escape: cJSON would cut the string there and we would show (or address) something
 * the server does not hold, so the caller replaces them (see parse_json).
 */
static int scan_json(const char *s, size_t len, bool *nul_escapes)
{
	size_t i, depth = 0;
	bool in_str = false;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\0')
			return -EPROTO;
		if (in_str) {
			if (c == '"') {
				in_str = false;
			} else if (c == '\\') {
				if (i + 1 < len && s[i + 1] == 'u' && i + 5 < len &&
				    memcmp(s + i + 2, "0000", 4) == 0)
					*nul_escapes = true;
				i++;
			}
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > RTK_MODEL_MAX_DEPTH)
				return -EPROTO;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * A copy of body with every \u0000 escape in a string turned into \ufffd (the replacement
 * character, same length): an id holding it is then not a safe path part and is left out,
 * other strings show U+FFFD where the server had NUL. NULL on ENOMEM.
 */
static char *replace_nul_escapes(const char *body, size_t len)
{
	char *copy = malloc(len + 1);
	bool in_str = false;
	size_t i;

	if (!copy)
		return NULL;
	memcpy(copy, body, len);
	copy[len] = '\0';
	for (i = 0; i < len; i++) {
		if (!in_str) {
			in_str = copy[i] == '"';
		} else if (copy[i] == '"') {
			in_str = false;
		} else if (copy[i] == '\\') {
			if (i + 5 < len && copy[i + 1] == 'u' && memcmp(copy + i + 2, "0000", 4) == 0)
				memcpy(copy + i + 2, "fffd", 4);
			i++;
		}
	}
	return copy;
}

/* Parse exactly len bytes of JSON (trailing whitespace allowed). -EPROTO otherwise. */
static int parse_json(const char *body, size_t len, cJSON **out)
{
	const char *end = NULL;
	char *copy = NULL;
	bool nul_escapes = false;
	cJSON *root;
	size_t used;
	int err = -EPROTO;

	*out = NULL;
	if (!body || len == 0 || scan_json(body, len, &nul_escapes))
		return -EPROTO;
	if (nul_escapes) {
		copy = replace_nul_escapes(body, len);
		if (!copy)
			return -ENOMEM;
		body = copy;
	}
	root = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (!root)
		goto out;
	used = end && end >= body ? (size_t)(end - body) : len;
	for (; used < len; used++) {
		if (!is_json_space(body[used])) {
			cJSON_Delete(root);
			goto out;
		}
	}
	*out = root;
	err = 0;
out:
	free(copy);
	return err;
}

static int put_str(struct rtk_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	int err = 0;

	err = rtk_buf_append(b, "\"", 1);
	for (; !err && *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7];
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		err = rtk_buf_append(b, run, (size_t)(s - run));
		if (err)
			break;
		esc[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
			break;
		}
		err = rtk_buf_append(b, esc, n);
		run = s + 1;
	}
	if (!err)
		err = rtk_buf_append(b, run, (size_t)(s - run));
	if (!err)
		err = rtk_buf_append(b, "\"", 1);
	return err;
}

/* As cJSON prints numbers: shortest of %.15g/%.17g that reads back the same. */
static int put_number(struct rtk_buf *b, double d)
{
	char tmp[32];
	char *comma;

	if (!isfinite(d))
		return rtk_buf_puts(b, "null");
	snprintf(tmp, sizeof(tmp), "%1.15g", d);
	if (strtod(tmp, NULL) != d)
		snprintf(tmp, sizeof(tmp), "%1.17g", d);
	/* JSON's decimal point, whatever LC_NUMERIC says. */
	comma = strchr(tmp, ',');
	if (comma)
		*comma = '.';
	return rtk_buf_puts(b, tmp);
}

static int put_indent(struct rtk_buf *b, int depth)
{
	static const char spaces[] = "                                ";
	size_t n = (size_t)depth * 2;
	int err = 0;

	while (!err && n > 0) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;

		err = rtk_buf_append(b, spaces, k);
		n -= k;
	}
	return err;
}

/* Print it as JSON: pretty (two-space indent, as JSON.stringify(x, null, 2)) or compact. */
static int put_json(struct rtk_buf *b, const cJSON *it, int depth, bool pretty)
{
	const cJSON *c;
	bool obj;
	int err;

	if (depth > RTK_MODEL_MAX_DEPTH + 1)
		return -EPROTO;
	switch (it->type & 0xff) {
	case cJSON_NULL:
		return rtk_buf_puts(b, "null");
	case cJSON_False:
		return rtk_buf_puts(b, "false");
	case cJSON_True:
		return rtk_buf_puts(b, "true");
	case cJSON_Number:
		return put_number(b, it->valuedouble);
	case cJSON_String:
		return put_str(b, it->valuestring ? it->valuestring : "");
	case cJSON_Array:
	case cJSON_Object:
		break;
	default:
		return -EPROTO;
	}

	obj = (it->type & 0xff) == cJSON_Object;
	if (!it->child)
		return rtk_buf_puts(b, obj ? "{}" : "[]");
	err = rtk_buf_puts(b, obj ? "{" : "[");
	for (c = it->child; !err && c; c = c->next) {
		if (pretty) {
			err = rtk_buf_puts(b, "\n");
			if (!err)
				err = put_indent(b, depth + 1);
		}
		if (!err && obj) {
			err = put_str(b, c->string ? c->string : "");
			if (!err)
				err = rtk_buf_puts(b, pretty ? ": " : ":");
		}
		if (!err)
			err = put_json(b, c, depth + 1, pretty);
		if (!err && c->next)
			err = rtk_buf_puts(b, ",");
	}
	if (!err && pretty) {
		err = rtk_buf_puts(b, "\n");
		if (!err)
			err = put_indent(b, depth);
	}
	if (!err)
		err = rtk_buf_puts(b, obj ? "}" : "]");
	return err;
}

/* ---- timestamps ---- */

static bool take_digits(const char **p, const char *end, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (*p >= end || **p < '0' || **p > '9')
			return false;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return true;
}

/* ISO 8601 / RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac][Z|+hh:mm|-hh:mm|+hhmm]. */
static bool parse_time(const char *s, struct timespec *ts)
{
	const char *p = s, *end = s + strlen(s);
	int year, mon, day, hour, min, sec, oh = 0, om = 0;
	long nsec = 0, scale = 100000000L;
	long long off = 0;
	struct tm tm;
	time_t t;

	if (!take_digits(&p, end, 4, &year) || p >= end || *p++ != '-' ||
	    !take_digits(&p, end, 2, &mon) || p >= end || *p++ != '-' ||
	    !take_digits(&p, end, 2, &day) || p >= end || (*p != 'T' && *p != 't' && *p != ' '))
		return false;
	p++;
	if (!take_digits(&p, end, 2, &hour) || p >= end || *p++ != ':' ||
	    !take_digits(&p, end, 2, &min) || p >= end || *p++ != ':' ||
	    !take_digits(&p, end, 2, &sec))
		return false;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return false;
	if (p < end && (*p == '.' || *p == ',')) {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return false;
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			nsec += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p++ == '-' ? -1 : 1;

		if (!take_digits(&p, end, 2, &oh))
			return false;
		if (p < end && *p == ':')
			p++;
		if (p < end && !take_digits(&p, end, 2, &om))
			return false;
		if (oh > 23 || om > 59)
			return false;
		off = sign * (oh * 3600LL + om * 60LL);
	}
	if (p != end)
		return false;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31))
		return false;
	ts->tv_sec = t - (time_t)off;
	ts->tv_nsec = nsec;
	return true;
}

static struct timespec obj_json_mtime(const cJSON *o)
{
	static const char *const keys[] = {"updated_at", "created_at", "created_on"};
	struct timespec ts = {0, 0};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);

		if (cJSON_IsString(v) && v->valuestring && parse_time(v->valuestring, &ts))
			return ts;
	}
	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	return ts;
}

/* ---- objects ---- */

enum expect { EXPECT_STRING, EXPECT_BOOL, EXPECT_EVENTS };

static enum expect field_expect(enum rtk_field f)
{
	if (f == RTK_F_ENABLED)
		return EXPECT_BOOL;
	if (f == RTK_F_EVENTS)
		return EXPECT_EVENTS;
	return EXPECT_STRING;
}

/* The bytes of a field file (DESIGN §2). *typed: the value had the expected type. */
static int render_field(struct rtk_buf *b, const cJSON *v, enum expect ex, bool *typed)
{
	const cJSON *e;
	int err = 0;

	*typed = false;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (ex == EXPECT_EVENTS && cJSON_IsArray(v)) {
		*typed = true;
		cJSON_ArrayForEach(e, v)
		{
			if (cJSON_IsString(e) && e->valuestring) {
				err = rtk_buf_puts(b, e->valuestring);
			} else {
				*typed = false;
				err = put_json(b, e, 1, false);
			}
			if (!err)
				err = rtk_buf_append(b, "\n", 1);
			if (err)
				break;
		}
		return err;
	}
	if (cJSON_IsString(v) && v->valuestring) {
		*typed = ex == EXPECT_STRING;
		err = rtk_buf_puts(b, v->valuestring);
	} else if (cJSON_IsBool(v)) {
		*typed = ex == EXPECT_BOOL;
		err = rtk_buf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
	} else {
		err = put_json(b, v, 1, false);
	}
	if (!err)
		err = rtk_buf_append(b, "\n", 1);
	return err;
}

static struct rtk_obj *obj_alloc(enum rtk_kind k, const char *data, size_t size)
{
	struct rtk_obj *o;

	o = malloc(sizeof(*o) + size);
	if (!o)
		return NULL;
	memset(o, 0, sizeof(*o));
	atomic_init(&o->refs, 1);
	o->kind = k;
	o->size = size;
	memcpy(o->data, data, size);
	return o;
}

/*
 * Build the object of kind k from its JSON. -ENOENT when its id is missing or unsafe (the
 * caller skips it), -EPROTO when it renders too big, -ENOMEM.
 */
static int obj_from_json(enum rtk_kind k, const cJSON *j, struct rtk_obj **out)
{
	size_t off[RTK_F__N] = {0}, len[RTK_F__N] = {0};
	const cJSON *idj;
	struct rtk_buf b;
	struct rtk_obj *o;
	unsigned typed = 0;
	size_t idlen;
	int f, err;

	*out = NULL;
	if (!cJSON_IsObject(j))
		return -ENOENT;
	idj = cJSON_GetObjectItemCaseSensitive(j, "id");
	if (!cJSON_IsString(idj) || !idj->valuestring)
		return -ENOENT;
	idlen = strlen(idj->valuestring);
	if (!rtk_path_id_is_safe(idj->valuestring, idlen, rtk_path_id_max(k)))
		return -ENOENT;

	rtk_buf_init(&b, OBJ_RENDER_MAX);
	err = rtk_buf_append(&b, idj->valuestring, idlen + 1);
	for (f = 0; !err && f < RTK_F__N; f++) {
		bool t = false;

		if (!kind_has_field(k, (enum rtk_field)f))
			continue;
		off[f] = b.len;
		if (f == RTK_F_JSON) {
			err = put_json(&b, j, 0, true);
			if (!err)
				err = rtk_buf_append(&b, "\n", 1);
		} else {
			err = render_field(&b, cJSON_GetObjectItemCaseSensitive(j, json_key((enum rtk_field)f)),
					   field_expect((enum rtk_field)f), &t);
		}
		len[f] = b.len - off[f];
		if (t)
			typed |= 1u << f;
		if (!err)
			err = rtk_buf_append(&b, "", 1);
	}
	if (err)
		goto out_buf;

	o = obj_alloc(k, b.data, b.len);
	if (!o) {
		err = -ENOMEM;
		goto out_buf;
	}
	o->idlen = idlen;
	o->typed = typed;
	memcpy(o->off, off, sizeof(off));
	memcpy(o->len, len, sizeof(len));
	o->mtime = obj_json_mtime(j);
	*out = o;
out_buf:
	rtk_buf_release(&b);
	if (err == -EFBIG)
		err = -EPROTO;
	return err;
}

void rtk_obj_ref(struct rtk_obj *o)
{
	if (o)
		atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
}

void rtk_obj_unref(struct rtk_obj *o)
{
	if (!o)
		return;
	/*
	 * acq_rel on the decrement rather than release + an acquire fence: the same ordering,
	 * and one ThreadSanitizer understands (it does not model fences).
	 */
	if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
		free(o);
}

enum rtk_kind rtk_obj_kind(const struct rtk_obj *o)
{
	return o->kind;
}

const char *rtk_obj_id(const struct rtk_obj *o, size_t *len)
{
	if (len)
		*len = o->idlen;
	return o->data;
}

const char *rtk_obj_field(const struct rtk_obj *o, enum rtk_field f, size_t *len)
{
	if (len)
		*len = 0;
	if (!o || o->bare || (unsigned)f >= RTK_F__N || !kind_has_field(o->kind, f))
		return NULL;
	if (len)
		*len = o->len[f];
	return o->data + o->off[f];
}

bool rtk_obj_is_bare(const struct rtk_obj *o)
{
	return o->bare;
}

struct timespec rtk_obj_mtime(const struct rtk_obj *o)
{
	return o->mtime;
}

bool rtk_obj_equal(const struct rtk_obj *a, const struct rtk_obj *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	/* The layout is a function of the lengths, so equal lengths and bytes mean equal. */
	return a->kind == b->kind && a->bare == b->bare && a->idlen == b->idlen &&
	       a->size == b->size && memcmp(a->len, b->len, sizeof(a->len)) == 0 &&
	       memcmp(a->data, b->data, a->size) == 0;
}

struct rtk_obj *rtk_obj_new_bare(enum rtk_kind k, const char *id, size_t len)
{
	struct rtk_obj *o;
	char *tmp;

	if (!kind_is_valid(k) || !rtk_path_id_is_safe(id, len, rtk_path_id_max(k)))
		return NULL;
	tmp = malloc(len + 1);
	if (!tmp)
		return NULL;
	memcpy(tmp, id, len);
	tmp[len] = '\0';
	o = obj_alloc(k, tmp, len + 1);
	free(tmp);
	if (!o)
		return NULL;
	o->bare = true;
	o->idlen = len;
	return o;
}

/* success: true or absent (the Realtime Kit schema has it optional); anything else is no. */
static bool envelope_ok(const cJSON *root)
{
	const cJSON *s;

	if (!cJSON_IsObject(root))
		return false;
	s = cJSON_GetObjectItemCaseSensitive(root, "success");
	return !s || cJSON_IsTrue(s);
}

int rtk_model_parse_object(enum rtk_kind k, const char *body, size_t len, struct rtk_obj **out)
{
	const cJSON *data, *app;
	cJSON *root;
	int err;

	*out = NULL;
	if (!kind_is_valid(k))
		return -EPROTO;
	err = parse_json(body, len, &root);
	if (err)
		return err;
	err = -EPROTO;
	if (!envelope_ok(root))
		goto out_root;
	data = cJSON_GetObjectItemCaseSensitive(root, k == RTK_K_ACCOUNT ? "result" : "data");
	if (k == RTK_K_APP) {
		/* Create answers data.app; a get answers the app as data itself. */
		app = cJSON_GetObjectItemCaseSensitive(data, "app");
		if (cJSON_IsObject(app))
			data = app;
	}
	if (!cJSON_IsObject(data))
		goto out_root;
	err = obj_from_json(k, data, out);
	if (err == -ENOENT) {
		rtk_warn("cannot use an object of %s the server sent: missing or unsafe id",
			 kind_plural(k));
		err = -EPROTO;
	}
out_root:
	cJSON_Delete(root);
	return err;
}

/* ---- listings ---- */

static int id_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

static int obj_cmp(const void *pa, const void *pb)
{
	const struct rtk_obj *a = *(const struct rtk_obj *const *)pa;
	const struct rtk_obj *b = *(const struct rtk_obj *const *)pb;

	return id_cmp(a->data, a->idlen, b->data, b->idlen);
}

static struct rtk_listing *listing_alloc(enum rtk_kind k, size_t n)
{
	struct rtk_listing *l;

	if (n > (SIZE_MAX - sizeof(*l)) / (2 * sizeof(l->objs[0])))
		return NULL;
	l = malloc(sizeof(*l) + 2 * n * sizeof(l->objs[0]));
	if (!l)
		return NULL;
	atomic_init(&l->refs, 1);
	l->kind = k;
	l->n = n;
	l->index = l->objs + n;
	l->bytes = 0;
	return l;
}

static void listing_count_bytes(struct rtk_listing *l)
{
	size_t i, bytes = sizeof(*l) + 2 * l->n * sizeof(l->objs[0]);

	for (i = 0; i < l->n; i++)
		bytes += sizeof(struct rtk_obj) + l->objs[i]->size;
	l->bytes = bytes;
}

void rtk_listing_ref(struct rtk_listing *l)
{
	if (l)
		atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
}

void rtk_listing_unref(struct rtk_listing *l)
{
	size_t i;

	if (!l)
		return;
	/* acq_rel, not a fence: see rtk_obj_unref. */
	if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < l->n; i++)
		rtk_obj_unref(l->objs[i]);
	free(l);
}

enum rtk_kind rtk_listing_kind(const struct rtk_listing *l)
{
	return l->kind;
}

size_t rtk_listing_count(const struct rtk_listing *l)
{
	return l ? l->n : 0;
}

const struct rtk_obj *rtk_listing_at(const struct rtk_listing *l, size_t i)
{
	if (!l || i >= l->n)
		return NULL;
	return l->objs[i];
}

/* Position in the index of the first entry not below id; *found if it is id. */
static size_t index_lower(const struct rtk_listing *l, const char *id, size_t len, bool *found)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rtk_obj *o = l->index[mid];

		if (id_cmp(o->data, o->idlen, id, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < l->n && id_cmp(l->index[lo]->data, l->index[lo]->idlen, id, len) == 0;
	return lo;
}

const struct rtk_obj *rtk_listing_find(const struct rtk_listing *l, const char *id, size_t len)
{
	bool found;
	size_t i;

	if (!l || !id)
		return NULL;
	i = index_lower(l, id, len, &found);
	return found ? l->index[i] : NULL;
}

size_t rtk_listing_bytes(const struct rtk_listing *l)
{
	return l ? l->bytes : 0;
}

bool rtk_listing_equal(const struct rtk_listing *a, const struct rtk_listing *b)
{
	size_t i;

	if (a == b)
		return true;
	if (!a || !b || a->kind != b->kind || a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		if (!rtk_obj_equal(a->objs[i], b->objs[i]))
			return false;
	}
	return true;
}

struct rtk_listing *rtk_listing_replace(const struct rtk_listing *l, struct rtk_obj *o)
{
	struct rtk_listing *nl;
	const struct rtk_obj *old;
	size_t i, at, n;
	bool found;

	if (!l || !o || o->kind != l->kind)
		return NULL;
	at = index_lower(l, o->data, o->idlen, &found);
	n = l->n + (found ? 0 : 1);
	nl = listing_alloc(l->kind, n);
	if (!nl)
		return NULL;
	old = found ? l->index[at] : NULL;
	for (i = 0; i < l->n; i++)
		nl->objs[i] = l->objs[i] == old ? o : l->objs[i];
	if (!found)
		nl->objs[l->n] = o;
	/* Same id, same place in the index; a new id goes where the search stopped. */
	memcpy(nl->index, l->index, at * sizeof(nl->index[0]));
	nl->index[at] = o;
	memcpy(nl->index + at + 1, l->index + at + (found ? 1 : 0),
	       (l->n - at - (found ? 1 : 0)) * sizeof(nl->index[0]));
	for (i = 0; i < n; i++)
		rtk_obj_ref(nl->objs[i]);
	listing_count_bytes(nl);
	return nl;
}

struct rtk_listing *rtk_listing_remove(const struct rtk_listing *l, const char *id, size_t len)
{
	struct rtk_listing *nl;
	const struct rtk_obj *old;
	size_t i, j, at;
	bool found;

	if (!l)
		return NULL;
	at = index_lower(l, id, len, &found);
	nl = listing_alloc(l->kind, l->n - (found ? 1 : 0));
	if (!nl)
		return NULL;
	old = found ? l->index[at] : NULL;
	for (i = 0, j = 0; i < l->n; i++) {
		if (l->objs[i] != old)
			nl->objs[j++] = l->objs[i];
	}
	for (i = 0, j = 0; i < l->n; i++) {
		if (l->index[i] != old)
			nl->index[j++] = l->index[i];
	}
	for (i = 0; i < nl->n; i++)
		rtk_obj_ref(nl->objs[i]);
	listing_count_bytes(nl);
	return nl;
}

/* ---- building listings ---- */

static uint64_t id_hash(uint64_t seed, const char *p, size_t n)
{
	uint64_t h = seed ^ 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* The slot of id in the set: where it is, or the empty slot where it would go. */
static size_t set_slot(const struct rtk_listing_builder *b, const char *id, size_t len)
{
	size_t mask = b->setcap - 1;
	size_t i = (size_t)id_hash(b->seed, id, len) & mask;

	while (b->set[i]) {
		const struct rtk_obj *o = b->set[i];

		if (o->idlen == len && memcmp(o->data, id, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static int set_rebuild(struct rtk_listing_builder *b, size_t cap)
{
	struct rtk_obj **set;
	size_t i;

	set = calloc(cap, sizeof(*set));
	if (!set)
		return -ENOMEM;
	free(b->set);
	b->set = set;
	b->setcap = cap;
	for (i = 0; i < b->n; i++)
		b->set[set_slot(b, b->objs[i]->data, b->objs[i]->idlen)] = b->objs[i];
	return 0;
}

/* Add o (taking the caller's reference on success). -EEXIST, -ENOMEM. */
static int builder_add(struct rtk_listing_builder *b, struct rtk_obj *o)
{
	size_t slot;
	int err;

	if (b->set[set_slot(b, o->data, o->idlen)])
		return -EEXIST;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct rtk_obj **objs = realloc(b->objs, cap * sizeof(*objs));

		if (!objs)
			return -ENOMEM;
		b->objs = objs;
		b->cap = cap;
	}
	/* Keep the load at or under one half. */
	if ((b->n + 1) * 2 > b->setcap) {
		err = set_rebuild(b, b->setcap * 2);
		if (err)
			return err;
	}
	slot = set_slot(b, o->data, o->idlen);
	b->set[slot] = o;
	b->objs[b->n++] = o;
	return 0;
}

/* Undo a page that failed half way: drop what it added. */
static void builder_truncate(struct rtk_listing_builder *b, size_t n)
{
	while (b->n > n)
		rtk_obj_unref(b->objs[--b->n]);
	memset(b->set, 0, b->setcap * sizeof(*b->set));
	for (size_t i = 0; i < b->n; i++)
		b->set[set_slot(b, b->objs[i]->data, b->objs[i]->idlen)] = b->objs[i];
}

struct rtk_listing_builder *rtk_listing_builder_new(enum rtk_kind k)
{
	struct rtk_listing_builder *b;
	struct timespec now;

	if (!kind_is_valid(k))
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->kind = k;
	b->setcap = 32;
	b->set = calloc(b->setcap, sizeof(*b->set));
	if (!b->set) {
		free(b);
		return NULL;
	}
	/* A seed the server cannot predict keeps crafted ids from colliding on purpose. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	b->seed = id_hash((uint64_t)(uintptr_t)b, (const char *)&now, sizeof(now));
	return b;
}

void rtk_listing_builder_free(struct rtk_listing_builder *b)
{
	if (!b)
		return;
	builder_truncate(b, 0);
	free(b->objs);
	free(b->set);
	free(b);
}

int rtk_listing_builder_add_bare(struct rtk_listing_builder *b, const char *id, size_t len)
{
	struct rtk_obj *o;
	int err;

	if (!rtk_path_id_is_safe(id, len, rtk_path_id_max(b->kind)))
		return -EINVAL;
	o = rtk_obj_new_bare(b->kind, id, len);
	if (!o)
		return -ENOMEM;
	err = builder_add(b, o);
	if (err)
		rtk_obj_unref(o);
	return err;
}

struct rtk_listing *rtk_listing_builder_finish(struct rtk_listing_builder *b)
{
	struct rtk_listing *l;

	if (!b)
		return NULL;
	l = listing_alloc(b->kind, b->n);
	if (l && b->n) {
		/* The builder's references move to the listing. */
		memcpy(l->objs, b->objs, b->n * sizeof(l->objs[0]));
		memcpy(l->index, b->objs, b->n * sizeof(l->index[0]));
		qsort(l->index, l->n, sizeof(l->index[0]), obj_cmp);
		b->n = 0;
	}
	if (l)
		listing_count_bytes(l);
	rtk_listing_builder_free(b);
	return l;
}

/* A non-negative finite number at key, as a double. */
static bool get_count(const cJSON *o, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
		return false;
	*out = v->valuedouble;
	return true;
}

static bool accounts_more(const cJSON *root, const struct rtk_page *pg)
{
	const cJSON *ri = cJSON_GetObjectItemCaseSensitive(root, "result_info");
	double total_pages, total_count, pp = pg->per_page, v;

	if (cJSON_IsObject(ri) && get_count(ri, "per_page", &v) && v >= 1)
		pp = v;
	if (cJSON_IsObject(ri) && get_count(ri, "total_pages", &total_pages))
		return (double)pg->page < total_pages;
	if (cJSON_IsObject(ri) && get_count(ri, "total_count", &total_count))
		return (double)pg->page * pp < total_count;
	return pp >= 1 && (double)pg->items >= pp;
}

static bool apps_more(const cJSON *root, const struct rtk_page *pg)
{
	const cJSON *paging = cJSON_GetObjectItemCaseSensitive(root, "paging");
	double end, total;

	if (cJSON_IsObject(paging) && get_count(paging, "end_offset", &end) &&
	    get_count(paging, "total_count", &total))
		return end < total;
	return pg->per_page >= 1 && pg->items >= pg->per_page;
}

int rtk_model_parse_page(struct rtk_listing_builder *b, const char *body, size_t len,
			 struct rtk_page *page)
{
	size_t start = b->n, count = 0, unsafe = 0, dups = 0;
	const cJSON *list, *it;
	cJSON *root;
	int err;

	page->more = false;
	page->items = 0;
	page->skipped = 0;
	err = parse_json(body, len, &root);
	if (err)
		return err;
	err = -EPROTO;
	if (!envelope_ok(root))
		goto out_root;
	list = cJSON_GetObjectItemCaseSensitive(root, b->kind == RTK_K_ACCOUNT ? "result" : "data");
	if (!cJSON_IsArray(list))
		goto out_root;
	cJSON_ArrayForEach(it, list)
	{
		if (++count + b->n > RTK_MODEL_MAX_OBJECTS)
			goto out_root;
	}

	err = 0;
	cJSON_ArrayForEach(it, list)
	{
		struct rtk_obj *o;

		err = obj_from_json(b->kind, it, &o);
		if (err == -ENOENT) {
			unsafe++;
			err = 0;
			continue;
		}
		if (err)
			break;
		err = builder_add(b, o);
		if (err == -EEXIST) {
			rtk_obj_unref(o);
			dups++;
			err = 0;
			continue;
		}
		if (err) {
			rtk_obj_unref(o);
			break;
		}
	}
	if (err) {
		builder_truncate(b, start);
		goto out_root;
	}

	if (unsafe)
		rtk_warn("left out %zu objects with missing or unsafe ids from a list of %s",
			 unsafe, kind_plural(b->kind));
	if (dups)
		rtk_warn("left out %zu objects with duplicate ids from a list of %s", dups,
			 kind_plural(b->kind));
	page->items = count;
	page->skipped = unsafe + dups;
	/* An empty page ends the listing whatever the counts claim. */
	if (count == 0)
		page->more = false;
	else if (b->kind == RTK_K_ACCOUNT)
		page->more = accounts_more(root, page);
	else if (b->kind == RTK_K_APP)
		page->more = apps_more(root, page);
	else
		page->more = false;
out_root:
	cJSON_Delete(root);
	return err;
}

/* ---- error bodies ---- */

/*
 * Copy n bytes of s into out as one line of printable ASCII: whitespace runs become one
 * space, other control bytes and non-ASCII become '?', and the ends are trimmed.
 */
static size_t put_line(char *out, size_t outsz, size_t o, const char *s, size_t n)
{
	bool space = o > 0 && out[o - 1] == ' ';
	size_t i;

	for (i = 0; i < n && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (!space && o > 0)
				out[o++] = ' ';
			space = true;
			continue;
		}
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		space = false;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}

static const char *json_message(const cJSON *root, double *code, bool *has_code)
{
	const cJSON *errs, *e0, *m, *err;

	*has_code = false;
	if (!cJSON_IsObject(root))
		return NULL;
	errs = cJSON_GetObjectItemCaseSensitive(root, "errors");
	e0 = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : NULL;
	m = cJSON_GetObjectItemCaseSensitive(e0, "message");
	if (cJSON_IsObject(e0) && cJSON_IsString(m) && m->valuestring && *m->valuestring) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(e0, "code");

		if (cJSON_IsNumber(c) && isfinite(c->valuedouble)) {
			*code = c->valuedouble;
			*has_code = true;
		}
		return m->valuestring;
	}
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsString(err) && err->valuestring && *err->valuestring)
		return err->valuestring;
	m = cJSON_GetObjectItemCaseSensitive(err, "message");
	if (cJSON_IsObject(err) && cJSON_IsString(m) && m->valuestring && *m->valuestring)
		return m->valuestring;
	m = cJSON_GetObjectItemCaseSensitive(root, "message");
	if (cJSON_IsString(m) && m->valuestring && *m->valuestring)
		return m->valuestring;
	return NULL;
}

int rtk_model_error_message(const char *body, size_t len, char *out, size_t outsz)
{
	cJSON *root = NULL, *inner = NULL;
	const char *msg = NULL;
	bool has_code = false;
	double code = 0;
	size_t o = 0;

	if (!out || outsz == 0)
		return -ENOENT;
	out[0] = '\0';
	if (!body || len == 0)
		return -ENOENT;

	if (parse_json(body, len, &root) == 0) {
		if (cJSON_IsString(root) && root->valuestring) {
			/* A body that is a JSON string (the SPEC's 401 example): its text, or
			 * the message inside it when that text is itself JSON. */
			const char *s = root->valuestring;

			if (parse_json(s, strlen(s), &inner) == 0)
				msg = json_message(inner, &code, &has_code);
			if (!msg)
				msg = s;
		} else {
			msg = json_message(root, &code, &has_code);
		}
		if (msg)
			o = put_line(out, outsz, 0, msg, strlen(msg));
		if (o && has_code) {
			char tmp[48];

			/* Range first: converting a double past long long is undefined. */
			if (fabs(code) < 1e15 && code == (double)(long long)code)
				snprintf(tmp, sizeof(tmp), " (code %lld)", (long long)code);
			else
				snprintf(tmp, sizeof(tmp), " (code %g)", code);
			o = put_line(out, outsz, o, tmp, strlen(tmp));
		}
	} else {
		/* Not JSON: its first non-blank line, as it is. */
		size_t i = 0, j;

		while (i < len && is_json_space(body[i]))
			i++;
		for (j = i; j < len && body[j] != '\n' && body[j] != '\r'; j++)
			;
		o = put_line(out, outsz, 0, body + i, j - i);
	}
	cJSON_Delete(inner);
	cJSON_Delete(root);
	return o ? 0 : -ENOENT;
}

int rtk_model_parse_verify(const char *body, size_t len)
{
	const cJSON *res, *st;
	cJSON *root;
	int err;

	err = parse_json(body, len, &root);
	if (err)
		return err;
	err = -EPROTO;
	if (!envelope_ok(root))
		goto out_root;
	res = cJSON_GetObjectItemCaseSensitive(root, "result");
	st = cJSON_GetObjectItemCaseSensitive(res, "status");
	if (!cJSON_IsObject(res) || !cJSON_IsString(st) || !st->valuestring)
		goto out_root;
	err = strcmp(st->valuestring, "active") == 0 ? 0 : -EACCES;
out_root:
	cJSON_Delete(root);
	return err;
}

/* ---- written values ---- */

static bool lit_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static bool lit_eq_nocase(const char *s, size_t n, const char *lit)
{
	size_t i;

	if (strlen(lit) != n)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 127.x.x.x as four decimal octets. */
static bool host_is_loopback_v4(const char *h, size_t n)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0) {
			if (i >= n || h[i] != '.')
				return false;
			i++;
		}
		while (i < n && is_digit(h[i]) && digits < 4) {
			v = v * 10 + (unsigned)(h[i++] - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255 || (part == 0 && v != 127))
			return false;
	}
	return i == n;
}

static bool host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       strchr("-._~%!$&'()*+,;=", c) != NULL;
}

bool rtk_model_url_is_valid(const char *url, size_t len)
{
	const char *p, *end, *auth, *aend, *host, *hend, *at;
	bool https;
	size_t i;

	if (!url || len == 0 || len > URL_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	end = url + len;
	p = memchr(url, ':', len);
	if (!p || end - p < 3 || p[1] != '/' || p[2] != '/')
		return false;
	if (lit_eq_nocase(url, (size_t)(p - url), "https"))
		https = true;
	else if (lit_eq_nocase(url, (size_t)(p - url), "http"))
		https = false;
	else
		return false;

	auth = p + 3;
	for (aend = auth; aend < end && *aend != '/' && *aend != '?' && *aend != '#'; aend++)
		;
	host = auth;
	for (at = auth; at < aend; at++) {
		if (*at == '@')
			host = at + 1;
	}
	if (host < aend && *host == '[') {
		hend = memchr(host, ']', (size_t)(aend - host));
		if (!hend || hend == host + 1)
			return false;
		for (p = host + 1; p < hend; p++) {
			if (!(is_digit(*p) || (*p >= 'a' && *p <= 'f') ||
			      (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
				return false;
		}
		hend++;
	} else {
		for (hend = host; hend < aend && *hend != ':'; hend++) {
			if (!host_char_ok(*hend))
				return false;
		}
	}
	if (hend == host)
		return false;
	if (hend < aend) {
		unsigned port = 0;

		if (*hend != ':' || hend + 1 == aend || aend - hend > 6)
			return false;
		for (p = hend + 1; p < aend; p++) {
			if (!is_digit(*p))
				return false;
			port = port * 10 + (unsigned)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return false;
	}
	if (https)
		return true;
	/* Plain http only where nothing crosses a network. */
	return lit_eq_nocase(host, (size_t)(hend - host), "localhost") ||
	       lit_eq(host, (size_t)(hend - host), "[::1]") ||
	       host_is_loopback_v4(host, (size_t)(hend - host));
}

bool rtk_model_event_is_known(const char *name, size_t len)
{
	size_t i;

	if (!name)
		return false;
	for (i = 0; i < EVENT_COUNT; i++) {
		if (lit_eq(name, len, event_names[i]))
			return true;
	}
	return false;
}

static int event_index(const char *name, size_t len)
{
	int i;

	for (i = 0; i < EVENT_COUNT; i++) {
		if (lit_eq(name, len, event_names[i]))
			return i;
	}
	return -1;
}

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
	size_t o = put_line(dst, dstsz > 41 ? 41 : dstsz, 0, s, n);

	if (n > 40 && dstsz > o + 3)
		memcpy(dst + o, "...", 4);
}

/* Does field f of cur (typed as expected) hold exactly these bytes followed by "\n"? */
static bool cur_line_is(const struct rtk_obj *cur, enum rtk_field f, const char *v, size_t n)
{
	const char *b;
	size_t blen;

	if (!cur || cur->kind != RTK_K_WEBHOOK || !(cur->typed & (1u << f)))
		return false;
	b = rtk_obj_field(cur, f, &blen);
	return b && blen == n + 1 && memcmp(b, v, n) == 0 && b[n] == '\n';
}

static int check_name(const char *v, size_t n, char *msg, size_t msgsz)
{
	if (n == 0) {
		set_msg(msg, msgsz, "name must not be empty");
		return -EINVAL;
	}
	if (memchr(v, '\n', n) || memchr(v, '\r', n)) {
		set_msg(msg, msgsz, "name must be one line");
		return -EINVAL;
	}
	if (memchr(v, '\0', n) || !utf8_is_valid((const unsigned char *)v, n)) {
		set_msg(msg, msgsz, "name must be UTF-8 text without NUL bytes");
		return -EINVAL;
	}
	return 0;
}

static const char url_reason[] = "url must be an absolute https URL (http only to a loopback host)";

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

	if (!cur || cur->kind != RTK_K_WEBHOOK || !(cur->typed & (1u << RTK_F_EVENTS)))
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

int rtk_model_patch_body(enum rtk_field f, const char *val, size_t len, const struct rtk_obj *cur,
			 struct rtk_buf *body, char *msg, size_t msgsz)
{
	int idx[EVENT_COUNT];
	size_t n, nev;
	bool on;
	int err;

	set_msg(msg, msgsz, "%s", "");
	if (!val && len)
		return -EINVAL;
	if (!val)
		val = "";
	switch (f) {
	case RTK_F_NAME:
	case RTK_F_URL:
		n = strip_eol(val, len);
		if (f == RTK_F_NAME) {
			err = check_name(val, n, msg, msgsz);
			if (err)
				return err;
		} else if (!rtk_model_url_is_valid(val, n)) {
			set_msg(msg, msgsz, "%s", url_reason);
			return -EINVAL;
		}
		if (cur_line_is(cur, f, val, n))
			return 1;
		return emit(one_key(json_key(f), string_n(val, n)), body);
	case RTK_F_ENABLED:
		n = strip_eol(val, len);
		if (lit_eq(val, n, "true") || lit_eq(val, n, "1")) {
			on = true;
		} else if (lit_eq(val, n, "false") || lit_eq(val, n, "0")) {
			on = false;
		} else {
			set_msg(msg, msgsz, "enabled must be true, false, 1 or 0");
			return -EINVAL;
		}
		if (cur_line_is(cur, f, on ? "true" : "false", on ? 4 : 5))
			return 1;
		return emit(one_key("enabled", cJSON_CreateBool(on)), body);
	case RTK_F_EVENTS:
		err = parse_events(val, len, idx, &nev, msg, msgsz);
		if (err)
			return err;
		if (cur_events_are(cur, idx, nev))
			return 1;
		return emit(one_key("events", events_json(idx, nev)), body);
	default:
		set_msg(msg, msgsz, "this file cannot be written field by field");
		return -EINVAL;
	}
}

int rtk_model_put_body(const char *val, size_t len, struct rtk_buf *body, char *msg, size_t msgsz)
{
	const cJSON *name = NULL, *url = NULL, *events = NULL, *enabled = NULL, *it;
	cJSON *root, *out = NULL, *v = NULL;
	int idx[EVENT_COUNT];
	size_t nev = 0;
	char q[48];
	int err;

	set_msg(msg, msgsz, "%s", "");
	if (parse_json(val, len, &root)) {
		set_msg(msg, msgsz, "webhook.json is not valid JSON");
		return -EINVAL;
	}
	err = -EINVAL;
	if (!cJSON_IsObject(root)) {
		set_msg(msg, msgsz, "webhook.json must be a JSON object");
		goto out_root;
	}
	cJSON_ArrayForEach(it, root)
	{
		const cJSON **slot = NULL;
		const char *k = it->string ? it->string : "";

		if (!strcmp(k, "id") || !strcmp(k, "created_at") || !strcmp(k, "updated_at"))
			continue;
		if (!strcmp(k, "name"))
			slot = &name;
		else if (!strcmp(k, "url"))
			slot = &url;
		else if (!strcmp(k, "events"))
			slot = &events;
		else if (!strcmp(k, "enabled"))
			slot = &enabled;
		quote_user(q, sizeof(q), k, strlen(k));
		if (!slot) {
			set_msg(msg, msgsz, "unknown key '%s' in webhook.json", q);
			goto out_root;
		}
		if (*slot) {
			set_msg(msg, msgsz, "key '%s' given twice in webhook.json", q);
			goto out_root;
		}
		*slot = it;
	}

	if (!cJSON_IsString(name) || !name->valuestring) {
		set_msg(msg, msgsz, "webhook.json needs \"name\" as a string");
		goto out_root;
	}
	if (check_name(name->valuestring, strlen(name->valuestring), msg, msgsz))
		goto out_root;
	if (!cJSON_IsString(url) || !url->valuestring ||
	    !rtk_model_url_is_valid(url->valuestring, strlen(url->valuestring))) {
		set_msg(msg, msgsz, "%s", url_reason);
		goto out_root;
	}
	if (!cJSON_IsArray(events)) {
		set_msg(msg, msgsz, "webhook.json needs \"events\" as a list of event names");
		goto out_root;
	}
	cJSON_ArrayForEach(it, events)
	{
		int e = -1;
		size_t k;

		if (cJSON_IsString(it) && it->valuestring)
			e = event_index(it->valuestring, strlen(it->valuestring));
		if (e < 0) {
			if (cJSON_IsString(it) && it->valuestring) {
				quote_user(q, sizeof(q), it->valuestring, strlen(it->valuestring));
				set_msg(msg, msgsz, "unknown event '%s'", q);
			} else {
				set_msg(msg, msgsz, "events must be strings");
			}
			goto out_root;
		}
		for (k = 0; k < nev && idx[k] != e; k++)
			;
		if (k == nev)
			idx[nev++] = e;
	}
	if (enabled && !cJSON_IsBool(enabled)) {
		set_msg(msg, msgsz, "enabled must be true or false");
		goto out_root;
	}

	err = -ENOMEM;
	out = cJSON_CreateObject();
	if (!out)
		goto out_root;
	v = cJSON_CreateString(name->valuestring);
	if (!v || !cJSON_AddItemToObject(out, "name", v))
		goto out_v;
	v = cJSON_CreateString(url->valuestring);
	if (!v || !cJSON_AddItemToObject(out, "url", v))
		goto out_v;
	v = events_json(idx, nev);
	if (!v || !cJSON_AddItemToObject(out, "events", v))
		goto out_v;
	if (enabled) {
		v = cJSON_CreateBool(cJSON_IsTrue(enabled));
		if (!v || !cJSON_AddItemToObject(out, "enabled", v))
			goto out_v;
	}
	err = emit(out, body);
	out = NULL;
	goto out_root;
out_v:
	cJSON_Delete(v);
	cJSON_Delete(out);
out_root:
	cJSON_Delete(root);
	return err;
}
