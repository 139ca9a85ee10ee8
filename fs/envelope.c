// SPDX-License-Identifier: MIT
/*
 * envelope: unwrapping the API's answers (pages, single objects, token verify) and finding
 * the server's message in its error bodies.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "rtkfs/envelope.h"
#include "rtkfs/json.h"
#include "rtkfs/log.h"
#include "rtkfs/path.h"

/* success: true or absent (the Realtime Kit schema has it optional); anything else is no. */
static bool envelope_ok(const cJSON *root)
{
	const cJSON *s;

	if (!cJSON_IsObject(root))
		return false;
	s = cJSON_GetObjectItemCaseSensitive(root, "success");
	return !s || cJSON_IsTrue(s);
}

/* Parse a body from the server and check its envelope: 0 and *root, or -EPROTO/-ENOMEM. */
static int parse_envelope(const char *body, size_t len, cJSON **root)
{
	int err = rtk_json_parse(body, len, RTK_JSON_NUL_REPLACE, root);

	if (err)
		return err;
	if (envelope_ok(*root))
		return 0;
	cJSON_Delete(*root);
	*root = NULL;
	return -EPROTO;
}

int rtk_envelope_parse_object(enum rtk_kind k, const char *body, size_t len, struct rtk_obj **out)
{
	const cJSON *data, *app;
	cJSON *root;
	int err;

	*out = NULL;
	if ((unsigned)k >= RTK_K__N)
		return -EPROTO;
	err = parse_envelope(body, len, &root);
	if (err)
		return err;
	err = -EPROTO;
	data = cJSON_GetObjectItemCaseSensitive(root, k == RTK_K_ACCOUNT ? "result" : "data");
	if (k == RTK_K_APP) {
		/* Create answers data.app; a get answers the app as data itself. */
		app = cJSON_GetObjectItemCaseSensitive(data, "app");
		if (cJSON_IsObject(app))
			data = app;
	}
	if (!cJSON_IsObject(data))
		goto out_root;
	err = rtk_obj_from_json(k, data, out);
	if (err == -ENOENT) {
		rtk_warn("cannot use an object of %s the server sent: missing or unsafe id",
			 rtk_path_collection_name(k));
		err = -EPROTO;
	}
out_root:
	cJSON_Delete(root);
	return err;
}

/* ---- pages ---- */

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

/* Does the page (with page->items set) say another one should be fetched? */
static bool page_has_more(enum rtk_kind k, const cJSON *root, const struct rtk_page *page)
{
	/* An empty page ends the listing whatever the counts claim. */
	if (page->items == 0)
		return false;
	if (k == RTK_K_ACCOUNT)
		return accounts_more(root, page);
	if (k == RTK_K_APP)
		return apps_more(root, page);
	return false;
}

/* Add the objects of list to b, counting the ones left out. 0 or -ENOMEM/-EPROTO. */
static int add_objects(struct rtk_listing_builder *b, const cJSON *list, size_t *unsafe,
		       size_t *dups)
{
	enum rtk_kind k = rtk_listing_builder_kind(b);
	const cJSON *it;

	cJSON_ArrayForEach(it, list)
	{
		struct rtk_obj *o;
		int err = rtk_obj_from_json(k, it, &o);

		if (!err) {
			err = rtk_listing_builder_add(b, o);
			if (err)
				rtk_obj_unref(o);
		}
		/* from_json says -ENOENT, the builder -EEXIST: each a reason to leave one out. */
		if (err == -ENOENT)
			(*unsafe)++;
		else if (err == -EEXIST)
			(*dups)++;
		else if (err)
			return err;
	}
	return 0;
}

/* The array of objects of a page, or NULL when it is missing or the listing would grow
 * past RTK_LISTING_MAX_OBJECTS; *count: its length. */
static const cJSON *page_list(const struct rtk_listing_builder *b, const cJSON *root, size_t *count)
{
	enum rtk_kind k = rtk_listing_builder_kind(b);
	size_t have = rtk_listing_builder_count(b);
	const cJSON *list, *it;

	*count = 0;
	list = cJSON_GetObjectItemCaseSensitive(root, k == RTK_K_ACCOUNT ? "result" : "data");
	if (!cJSON_IsArray(list))
		return NULL;
	cJSON_ArrayForEach(it, list)
	{
		if (++*count + have > RTK_LISTING_MAX_OBJECTS)
			return NULL;
	}
	return list;
}

int rtk_envelope_parse_page(struct rtk_listing_builder *b, const char *body, size_t len,
			    struct rtk_page *page)
{
	size_t start = rtk_listing_builder_count(b), count, unsafe = 0, dups = 0;
	enum rtk_kind k = rtk_listing_builder_kind(b);
	const cJSON *list;
	cJSON *root;
	int err;

	page->more = false;
	page->items = 0;
	page->skipped = 0;
	err = parse_envelope(body, len, &root);
	if (err)
		return err;
	err = -EPROTO;
	list = page_list(b, root, &count);
	if (!list)
		goto out_root;
	err = add_objects(b, list, &unsafe, &dups);
	if (err) {
		rtk_listing_builder_truncate(b, start);
		goto out_root;
	}
	if (unsafe)
		rtk_warn("left out %zu objects with missing or unsafe ids from a list of %s",
			 unsafe, rtk_path_collection_name(k));
	if (dups)
		rtk_warn("left out %zu objects with duplicate ids from a list of %s", dups,
			 rtk_path_collection_name(k));
	page->items = count;
	page->skipped = unsafe + dups;
	page->more = page_has_more(k, root, page);
out_root:
	cJSON_Delete(root);
	return err;
}

/* ---- error bodies ---- */

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

/* The message of a JSON error body into out; returns its length (0: none). */
static size_t json_body_message(const cJSON *root, char *out, size_t outsz)
{
	cJSON *inner = NULL;
	const char *msg = NULL;
	bool has_code = false;
	double code = 0;
	size_t o = 0;

	if (cJSON_IsString(root) && root->valuestring) {
		/* A body that is a JSON string (the SPEC's 401 example): its text, or the
		 * message inside it when that text is itself JSON. */
		const char *s = root->valuestring;

		if (rtk_json_parse(s, strlen(s), RTK_JSON_NUL_REPLACE, &inner) == 0)
			msg = json_message(inner, &code, &has_code);
		if (!msg)
			msg = s;
	} else {
		msg = json_message(root, &code, &has_code);
	}
	if (msg)
		o = rtk_json_put_line(out, outsz, 0, msg, strlen(msg));
	if (o && has_code) {
		char tmp[48];

		/* Range first: converting a double past long long is undefined. */
		if (fabs(code) < 1e15 && code == (double)(long long)code)
			snprintf(tmp, sizeof(tmp), " (code %lld)", (long long)code);
		else
			snprintf(tmp, sizeof(tmp), " (code %g)", code);
		o = rtk_json_put_line(out, outsz, o, tmp, strlen(tmp));
	}
	cJSON_Delete(inner);
	return o;
}

int rtk_envelope_error_message(const char *body, size_t len, char *out, size_t outsz)
{
	cJSON *root = NULL;
	size_t o = 0;

	if (!out || outsz == 0)
		return -ENOENT;
	out[0] = '\0';
	if (!body || len == 0)
		return -ENOENT;

	if (rtk_json_parse(body, len, RTK_JSON_NUL_REPLACE, &root) == 0) {
		o = json_body_message(root, out, outsz);
	} else {
		/* Not JSON: its first non-blank line, as it is. */
		size_t i = 0, j;

		while (i < len && rtk_json_is_space(body[i]))
			i++;
		for (j = i; j < len && body[j] != '\n' && body[j] != '\r'; j++)
			;
		o = rtk_json_put_line(out, outsz, 0, body + i, j - i);
	}
	cJSON_Delete(root);
	return o ? 0 : -ENOENT;
}

/* ---- token verify ---- */

int rtk_envelope_parse_verify(const char *body, size_t len)
{
	const cJSON *res, *st;
	cJSON *root;
	int err;

	err = parse_envelope(body, len, &root);
	if (err)
		return err;
	err = -EPROTO;
	res = cJSON_GetObjectItemCaseSensitive(root, "result");
	st = cJSON_GetObjectItemCaseSensitive(res, "status");
	if (!cJSON_IsObject(res) || !cJSON_IsString(st) || !st->valuestring)
		goto out_root;
	err = strcmp(st->valuestring, "active") == 0 ? 0 : -EACCES;
out_root:
	cJSON_Delete(root);
	return err;
}
