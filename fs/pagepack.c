// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rtkfs/pagepack.h"

void rtk_pagepack_init(struct rtk_pagepack *p, size_t max)
{
	rtk_buf_init(&p->pages, max);
	p->n = 0;
}

void rtk_pagepack_release(struct rtk_pagepack *p)
{
	rtk_buf_release(&p->pages);
	p->n = 0;
}

int rtk_pagepack_add(struct rtk_pagepack *p, const char *body, size_t len)
{
	size_t before = p->pages.len;
	int err = rtk_buf_printf(&p->pages, "%zu\n", len);

	if (!err)
		err = rtk_buf_append(&p->pages, body, len);
	if (err) {
		p->pages.len = before; /* all of the page or nothing */
		return err;
	}
	p->n++;
	return 0;
}

int rtk_pagepack_encode(const struct rtk_pagepack *p, const char *kind, struct rtk_buf *out)
{
	int err = rtk_buf_printf(out, "%s %d %s %u\n", RTK_PAGEPACK_MAGIC, RTK_PAGEPACK_VERSION,
				 kind, p->n);

	return err ? err : rtk_buf_append(out, p->pages.data, p->pages.len);
}

/* A decimal number ending at the byte term: no sign, no leading zero, at most 10 digits. */
static bool number(const char **s, const char *end, char term, uint64_t *out)
{
	const char *q = *s;
	uint64_t v = 0;

	if (q >= end || *q < '0' || *q > '9' || (*q == '0' && q + 1 < end && q[1] != term))
		return false;
	while (q < end && *q >= '0' && *q <= '9' && q - *s < 10)
		v = v * 10 + (uint64_t)(*q++ - '0');
	if (q >= end || *q != term)
		return false;
	*s = q + 1;
	*out = v;
	return true;
}

/* The header; *s is left on the first page. */
static bool header(const char **s, const char *end, const char *kind, uint64_t *npages)
{
	size_t ml = strlen(RTK_PAGEPACK_MAGIC), kl = strlen(kind);
	uint64_t version;

	if ((size_t)(end - *s) < ml + 1 || memcmp(*s, RTK_PAGEPACK_MAGIC " ", ml + 1) != 0)
		return false;
	*s += ml + 1;
	if (!number(s, end, ' ', &version) || version != RTK_PAGEPACK_VERSION)
		return false;
	if ((size_t)(end - *s) < kl + 1 || memcmp(*s, kind, kl) != 0 || (*s)[kl] != ' ')
		return false;
	*s += kl + 1;
	return number(s, end, '\n', npages);
}

/* Walk the pages; with page NULL only check them. */
static int walk(const char *s, const char *end, uint64_t npages,
		int (*page)(void *ctx, const char *body, size_t len), void *ctx)
{
	uint64_t i, len;
	int err;

	for (i = 0; i < npages; i++) {
		if (!number(&s, end, '\n', &len) || len > (uint64_t)(end - s))
			return -EPROTO;
		if (page && (err = page(ctx, s, (size_t)len)) != 0)
			return err;
		s += len;
	}
	return s == end ? 0 : -EPROTO;
}

int rtk_pagepack_parse(const char *v, size_t len, const char *kind, unsigned max_pages, size_t max,
		       int (*page)(void *ctx, const char *body, size_t len), void *ctx)
{
	const char *s = v, *end = v + len;
	uint64_t npages;
	int err;

	if (len > max)
		return -EFBIG;
	if (!v || !header(&s, end, kind, &npages) || npages == 0 || npages > max_pages)
		return -EPROTO;
	err = walk(s, end, npages, NULL, NULL);
	return err ? err : walk(s, end, npages, page, ctx);
}
