// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtkfs/buf.h"

void rtk_buf_init(struct rtk_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void rtk_buf_release(struct rtk_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void rtk_buf_reset(struct rtk_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int grow(struct rtk_buf *b, size_t need)
{
	size_t cap;
	char *p;

	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int rtk_buf_reserve(struct rtk_buf *b, size_t n)
{
	if (n > b->max)
		return -EFBIG;
	return grow(b, n + 1);
}

int rtk_buf_append(struct rtk_buf *b, const void *p, size_t n)
{
	int err;

	if (n > b->max || b->len > b->max - n)
		return -EFBIG;
	err = grow(b, b->len + n + 1);
	if (err)
		return err;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int rtk_buf_puts(struct rtk_buf *b, const char *s)
{
	return rtk_buf_append(b, s, strlen(s));
}

int rtk_buf_vprintf(struct rtk_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n, err;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > b->max || b->len > b->max - (size_t)n)
		return -EFBIG;
	err = grow(b, b->len + (size_t)n + 1);
	if (err)
		return err;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int rtk_buf_printf(struct rtk_buf *b, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = rtk_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

char *rtk_buf_detach(struct rtk_buf *b, size_t *len)
{
	char *p = b->data;

	if (!p)
		p = strdup("");
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
