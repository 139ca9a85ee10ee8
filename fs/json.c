// SPDX-License-Identifier: MIT
/*
 * json: the guard in front of cJSON (depth, raw NUL, \u0000 escapes, trailing bytes) and
 * the printer every JSON file and body of rtkfs goes through.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "rtkfs/json.h"

/* ---- the guard ---- */

/*
 * Refuse text nesting deeper than RTK_JSON_MAX_DEPTH before any recursive parser sees it,
 * and text with a raw NUL byte (not JSON). *nul_escapes tells whether a string holds a
 * \u0000 escape: cJSON would cut the string there and we would show (or address) something
 * the server does not hold, so the caller replaces or refuses them (see rtk_json_parse).
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
			if (++depth > RTK_JSON_MAX_DEPTH)
				return -EPROTO;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

bool rtk_json_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * A copy of text with every \u0000 escape in a string turned into \ufffd (the replacement
 * character, same length): an id holding it is then not a safe path part and is left out,
 * other strings show U+FFFD where the server had NUL. NULL on ENOMEM.
 */
static char *replace_nul_escapes(const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	bool in_str = false;
	size_t i;

	if (!copy)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (i = 0; i < len; i++) {
		if (!in_str) {
			in_str = copy[i] == '"';
		} else if (copy[i] == '"') {
			in_str = false;
		} else if (copy[i] == '\\') {
			if (i + 5 < len && copy[i + 1] == 'u' &&
			    memcmp(copy + i + 2, "0000", 4) == 0)
				memcpy(copy + i + 2, "fffd", 4);
			i++;
		}
	}
	return copy;
}

int rtk_json_parse(const char *text, size_t len, enum rtk_json_nul nul, struct cJSON **out)
{
	const char *end = NULL;
	char *copy = NULL;
	bool nul_escapes = false;
	cJSON *root;
	size_t used;
	int err = -EPROTO;

	*out = NULL;
	if (!text || len == 0 || scan_json(text, len, &nul_escapes))
		return -EPROTO;
	if (nul_escapes && nul == RTK_JSON_NUL_REFUSE)
		return -EILSEQ;
	if (nul_escapes) {
		copy = replace_nul_escapes(text, len);
		if (!copy)
			return -ENOMEM;
		text = copy;
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!root)
		goto out;
	used = end && end >= text ? (size_t)(end - text) : len;
	for (; used < len; used++) {
		if (!rtk_json_is_space(text[used])) {
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

/* ---- the printer ---- */

/* The escape of byte c (one that may not stand for itself in a JSON string) into esc. */
static size_t escape_byte(unsigned char c, char esc[7])
{
	static const char hex[] = "0123456789abcdef";

	esc[0] = '\\';
	switch (c) {
	case '"':
	case '\\':
		esc[1] = (char)c;
		return 2;
	case '\b':
		esc[1] = 'b';
		return 2;
	case '\f':
		esc[1] = 'f';
		return 2;
	case '\n':
		esc[1] = 'n';
		return 2;
	case '\r':
		esc[1] = 'r';
		return 2;
	case '\t':
		esc[1] = 't';
		return 2;
	default:
		memcpy(esc + 1, "u00", 3);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		return 6;
	}
}

int rtk_json_put_string(struct rtk_buf *b, const char *s, size_t len)
{
	size_t i, run = 0;
	int err;

	err = rtk_buf_append(b, "\"", 1);
	for (i = 0; !err && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t n;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		err = rtk_buf_append(b, s + run, i - run);
		if (err)
			break;
		n = escape_byte(c, esc);
		err = rtk_buf_append(b, esc, n);
		run = i + 1;
	}
	if (!err)
		err = rtk_buf_append(b, s + run, len - run);
	if (!err)
		err = rtk_buf_append(b, "\"", 1);
	return err;
}

/* A cJSON string (never NULL in practice; "" if it were). */
static int put_cstring(struct rtk_buf *b, const char *s)
{
	return s ? rtk_json_put_string(b, s, strlen(s)) : rtk_json_put_string(b, "", 0);
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

/* Pretty printing puts each member on its own line, indented one level below depth. */
static int put_newline(struct rtk_buf *b, int depth, bool pretty)
{
	int err;

	if (!pretty)
		return 0;
	err = rtk_buf_puts(b, "\n");
	return err ? err : put_indent(b, depth);
}

/* An array or object with at least one member. */
static int put_container(struct rtk_buf *b, const cJSON *it, int depth, bool pretty)
{
	bool obj = (it->type & 0xff) == cJSON_Object;
	const cJSON *c;
	int err;

	err = rtk_buf_puts(b, obj ? "{" : "[");
	for (c = it->child; !err && c; c = c->next) {
		err = put_newline(b, depth + 1, pretty);
		if (!err && obj) {
			err = put_cstring(b, c->string);
			if (!err)
				err = rtk_buf_puts(b, pretty ? ": " : ":");
		}
		if (!err)
			err = rtk_json_put(b, c, depth + 1, pretty);
		if (!err && c->next)
			err = rtk_buf_puts(b, ",");
	}
	if (!err)
		err = put_newline(b, depth, pretty);
	if (!err)
		err = rtk_buf_puts(b, obj ? "}" : "]");
	return err;
}

int rtk_json_put(struct rtk_buf *b, const cJSON *it, int depth, bool pretty)
{
	if (depth > RTK_JSON_MAX_DEPTH + 1)
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
		return put_cstring(b, it->valuestring);
	case cJSON_Array:
	case cJSON_Object:
		if (!it->child)
			return rtk_buf_puts(b, (it->type & 0xff) == cJSON_Object ? "{}" : "[]");
		return put_container(b, it, depth, pretty);
	default:
		return -EPROTO;
	}
}

size_t rtk_json_put_line(char *out, size_t outsz, size_t at, const char *s, size_t n)
{
	bool space = at > 0 && out[at - 1] == ' ';
	size_t i, o = at;

	for (i = 0; i < n && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		if (rtk_json_is_space((char)c)) {
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

const char *rtk_json_version(void)
{
	return cJSON_Version();
}
