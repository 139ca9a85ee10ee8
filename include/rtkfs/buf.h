/* SPDX-License-Identifier: MIT */
/*
 * buf: a growable byte buffer with a hard cap (after curl's dynbuf and git's strbuf).
 *
 * The data is always NUL-terminated once anything was appended, so it can be handed to
 * parsers that want C strings; len does not count the NUL.
 */
#ifndef RTKFS_BUF_H
#define RTKFS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct rtk_buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* appends that would pass this fail with -EFBIG */
};

/* Set up an empty buffer that will never hold more than max bytes. */
void rtk_buf_init(struct rtk_buf *b, size_t max);

/* Make room for n bytes in all (one allocation instead of doubling up to it): 0, -EFBIG past
 * the cap, or -ENOMEM. */
int rtk_buf_reserve(struct rtk_buf *b, size_t n);
/* Free the data; the buffer is empty (and reusable with the same cap) afterwards. */
void rtk_buf_release(struct rtk_buf *b);

/* Forget the contents but keep the allocation. */
void rtk_buf_reset(struct rtk_buf *b);

/* Append n bytes. Returns 0, -EFBIG past the cap (nothing appended), or -ENOMEM. */
int rtk_buf_append(struct rtk_buf *b, const void *p, size_t n);

/* Append a NUL-terminated string; same errors as rtk_buf_append. */
int rtk_buf_puts(struct rtk_buf *b, const char *s);

/* Append printf-style; same errors as rtk_buf_append. */
int rtk_buf_printf(struct rtk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rtk_buf_vprintf(struct rtk_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * Take the data out: the caller owns the returned NUL-terminated string (never NULL unless
 * allocation fails; an empty buffer gives ""), *len (may be NULL) gets its length, and the
 * buffer is left empty.
 */
char *rtk_buf_detach(struct rtk_buf *b, size_t *len);

#endif
