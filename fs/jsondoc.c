// SPDX-License-Identifier: MIT
/*
 * jsondoc: a pushdown scanner over JSON syntax, no allocation, bounded by the input and by
 * RTK_JSONDOC_DEPTH_MAX open brackets.
 */
#include <stdbool.h>
#include <string.h>

#include "rtkfs/jsondoc.h"

#define JSON_DEPTH_MAX RTK_JSONDOC_DEPTH_MAX

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A string from v[*i] (the opening quote); *i is left after it. */
static enum rtk_jsondoc scan_string(const char *v, size_t len, size_t *i)
{
	size_t k, j = *i + 1;

	while (j < len) {
		unsigned char c = (unsigned char)v[j];

		if (c == '"') {
			*i = j + 1;
			return RTK_JSONDOC_COMPLETE;
		}
		if (c < 0x20)
			return RTK_JSONDOC_INVALID; /* raw control bytes, NUL among them */
		if (c != '\\') {
			j++;
			continue;
		}
		if (j + 1 >= len)
			return RTK_JSONDOC_INCOMPLETE;
		if (!strchr("\"\\/bfnrtu", v[j + 1]) || !v[j + 1])
			return RTK_JSONDOC_INVALID;
		if (v[j + 1] != 'u') {
			j += 2;
			continue;
		}
		/* \u0000 is JSON: the value's check refuses it, and says it is a NUL. */
		for (k = 0; k < 4; k++) {
			if (j + 2 + k >= len)
				return RTK_JSONDOC_INCOMPLETE;
			if (hexval(v[j + 2 + k]) < 0)
				return RTK_JSONDOC_INVALID;
		}
		j += 6;
	}
	return RTK_JSONDOC_INCOMPLETE;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits from v[*j] (at least one): INVALID if none, INCOMPLETE at the end of the input. */
static enum rtk_jsondoc digits(const char *v, size_t len, size_t *j)
{
	if (*j == len)
		return RTK_JSONDOC_INCOMPLETE;
	if (!is_digit(v[*j]))
		return RTK_JSONDOC_INVALID;
	while (*j < len && is_digit(v[*j]))
		(*j)++;
	return RTK_JSONDOC_COMPLETE;
}

/* A number from v[*i] (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?); *i is left after it. */
static enum rtk_jsondoc scan_number(const char *v, size_t len, size_t *i)
{
	enum rtk_jsondoc r;
	size_t j = *i;

	if (v[j] == '-')
		j++;
	if (j < len && v[j] == '0')
		j++;
	else if ((r = digits(v, len, &j)) != RTK_JSONDOC_COMPLETE)
		return r;
	if (j < len && v[j] == '.') {
		j++;
		if ((r = digits(v, len, &j)) != RTK_JSONDOC_COMPLETE)
			return r;
	}
	if (j < len && (v[j] == 'e' || v[j] == 'E')) {
		j++;
		if (j < len && (v[j] == '+' || v[j] == '-'))
			j++;
		if ((r = digits(v, len, &j)) != RTK_JSONDOC_COMPLETE)
			return r;
	}
	*i = j;
	return j < len ? RTK_JSONDOC_COMPLETE : RTK_JSONDOC_INCOMPLETE; /* more digits may come */
}

/* A literal or a number from v[*i]; *i is left after it. */
static enum rtk_jsondoc scan_scalar(const char *v, size_t len, size_t *i)
{
	static const char *const lits[] = {"true", "false", "null"};
	size_t k, n, j = *i;

	if (v[j] == '-' || is_digit(v[j]))
		return scan_number(v, len, i);
	for (k = 0; k < 3; k++) {
		n = strlen(lits[k]);
		if (v[j] != lits[k][0])
			continue;
		if (len - j < n)
			return strncmp(v + j, lits[k], len - j) ? RTK_JSONDOC_INVALID
								: RTK_JSONDOC_INCOMPLETE;
		if (strncmp(v + j, lits[k], n))
			return RTK_JSONDOC_INVALID;
		*i = j + n;
		return RTK_JSONDOC_COMPLETE;
	}
	return RTK_JSONDOC_INVALID;
}

enum rtk_jsondoc rtk_jsondoc_state(const char *v, size_t len)
{
	enum { VALUE, KEY, COLON, AFTER } want = VALUE;
	char stack[JSON_DEPTH_MAX];
	size_t i = 0, depth = 0;
	bool started = false, first = false; /* first: just after an opening bracket */
	enum rtk_jsondoc r;

	while (i < len) {
		char c = v[i];

		if (is_ws(c)) {
			i++;
			continue;
		}
		if (started && !depth)
			return RTK_JSONDOC_INVALID; /* bytes after the document */
		if ((want == AFTER || first) && (c == '}' || c == ']')) {
			if (!depth || stack[depth - 1] != (c == '}' ? '{' : '['))
				return RTK_JSONDOC_INVALID;
			if (want != AFTER && (c == '}') != (want == KEY))
				return RTK_JSONDOC_INVALID;
			depth--, i++, first = false, want = AFTER;
			continue;
		}
		first = false;
		if (want == AFTER) {
			if (c != ',')
				return RTK_JSONDOC_INVALID;
			want = stack[depth - 1] == '{' ? KEY : VALUE;
			i++;
		} else if (want == COLON) {
			if (c != ':')
				return RTK_JSONDOC_INVALID;
			want = VALUE;
			i++;
		} else if (c == '{' || c == '[') {
			if ((!started && c != '{') || want == KEY || depth == JSON_DEPTH_MAX)
				return RTK_JSONDOC_INVALID;
			stack[depth++] = c;
			started = first = true;
			want = c == '{' ? KEY : VALUE;
			i++;
		} else if (!started) {
			return RTK_JSONDOC_INVALID; /* a webhook is an object */
		} else {
			r = c == '"'	  ? scan_string(v, len, &i)
			    : want == KEY ? RTK_JSONDOC_INVALID
					  : scan_scalar(v, len, &i);
			if (r != RTK_JSONDOC_COMPLETE)
				return r;
			want = want == KEY ? COLON : AFTER;
		}
	}
	return started && !depth ? RTK_JSONDOC_COMPLETE : RTK_JSONDOC_INCOMPLETE;
}
