// SPDX-License-Identifier: MIT
/*
 * obj: an object is one allocation: a header with an offsets table, then one byte array
 * holding the id and the rendered bytes of every file of its kind, each followed by a NUL
 * (so a field can also be read as a C string when debugging). Objects never change after
 * they are built, so readers need no lock, only a reference.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "rtkfs/buf.h"
#include "rtkfs/json.h"
#include "rtkfs/obj.h"
#include "rtkfs/path.h"

struct rtk_obj {
	atomic_size_t refs;
	enum rtk_kind kind;
	bool bare;
	/* Bit f set: field f had the type the file format expects (rtk_obj_field_is_typed). */
	unsigned typed;
	struct timespec mtime;
	size_t size; /* bytes of data[] */
	size_t idlen;
	size_t off[RTK_F__N];
	size_t len[RTK_F__N];
	char data[]; /* id NUL, then each field's bytes NUL */
};

/* The JSON key of a field: a field's file is named after it (DESIGN §2), so path has it. */
static const char *json_key(enum rtk_field f)
{
	return f == RTK_F_JSON ? NULL : rtk_path_field_name(RTK_K_WEBHOOK, f);
}

static bool kind_has_field(enum rtk_kind k, enum rtk_field f)
{
	return rtk_path_field_name(k, f) != NULL;
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

/* ---- rendering ---- */

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
				err = rtk_json_put(b, e, 1, false);
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
		err = rtk_json_put(b, v, 1, false);
	}
	if (!err)
		err = rtk_buf_append(b, "\n", 1);
	return err;
}

/* Render every file of kind k from j into b (after the id), filling the offsets table. */
static int render_fields(enum rtk_kind k, const cJSON *j, struct rtk_buf *b, size_t *off,
			 size_t *len, unsigned *typed)
{
	int f, err = 0;

	*typed = 0;
	for (f = 0; !err && f < RTK_F__N; f++) {
		bool t = false;

		if (!kind_has_field(k, (enum rtk_field)f))
			continue;
		off[f] = b->len;
		if (f == RTK_F_JSON) {
			err = rtk_json_put(b, j, 0, true);
			if (!err)
				err = rtk_buf_append(b, "\n", 1);
		} else {
			err = render_field(
			    b, cJSON_GetObjectItemCaseSensitive(j, json_key((enum rtk_field)f)),
			    field_expect((enum rtk_field)f), &t);
		}
		len[f] = b->len - off[f];
		if (t)
			*typed |= 1u << f;
		if (!err)
			err = rtk_buf_append(b, "", 1);
	}
	return err;
}

#define OBJ_RENDER_GUESS 4000

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

int rtk_obj_from_json(enum rtk_kind k, const cJSON *j, struct rtk_obj **out)
{
	size_t off[RTK_F__N] = {0}, len[RTK_F__N] = {0};
	const cJSON *idj;
	struct rtk_buf b;
	struct rtk_obj *o;
	unsigned typed = 0;
	size_t idlen;
	int err;

	*out = NULL;
	if (!cJSON_IsObject(j))
		return -ENOENT;
	idj = cJSON_GetObjectItemCaseSensitive(j, "id");
	if (!cJSON_IsString(idj) || !idj->valuestring)
		return -ENOENT;
	idlen = strlen(idj->valuestring);
	if (!rtk_path_id_is_safe(idj->valuestring, idlen, rtk_path_id_max(k)))
		return -ENOENT;

	rtk_buf_init(&b, RTK_OBJ_RENDER_MAX);
	/* Most objects render to less than this: one allocation, not a doubling series. */
	err = rtk_buf_reserve(&b, OBJ_RENDER_GUESS);
	if (!err)
		err = rtk_buf_append(&b, idj->valuestring, idlen + 1);
	if (!err)
		err = render_fields(k, j, &b, off, len, &typed);
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

bool rtk_obj_field_is_typed(const struct rtk_obj *o, enum rtk_field f)
{
	return o && !o->bare && (unsigned)f < RTK_F__N && (o->typed & (1u << f));
}

size_t rtk_obj_bytes(const struct rtk_obj *o)
{
	return sizeof(*o) + o->size;
}

struct rtk_obj *rtk_obj_new_bare(enum rtk_kind k, const char *id, size_t len)
{
	struct rtk_obj *o;
	char *tmp;

	if ((unsigned)k >= RTK_K__N || !rtk_path_id_is_safe(id, len, rtk_path_id_max(k)))
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
